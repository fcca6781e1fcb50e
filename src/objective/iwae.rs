//! The importance-weighted bound (Burda et al. 2016) as a training objective: per data
//! row, log (1/K) Σ_k exp(log w_k) with log w_k = log p(x, z_k) − log q(z_k | x) over K
//! samples, log-sum-exp in the graph.
//!
//! Layout: the graph's R rows are K sample-major copies of a batch of B rows (row
//! `s·B + i` is sample `s` of data row `i`, as [`crate::infer::session::Session::load_batch`]
//! fills them), so every node of the guide and the model is the ELBO's, run on K·B
//! rows; one [`crate::ir::Op::GroupLogMeanExp`] reduces the K weights of each row and
//! writes the bound back to all K copies. The minibatch scale N/R then counts each
//! row's bound K times over K·B rows: N/B per row, as for the ELBO. This is faster
//! than a K-wide layout because the encoder's and decoder's products stay one GEMM of
//! K·B rows with the weights, and it needs no new shape.
//!
//! Gradients: the naive estimator differentiates the bound as written. DReG (Tucker et
//! al. 2019) builds a surrogate with the same value: with v_r = exp(log w_r − bound_i)
//! (= K·w̃_r, stopped),
//!   S_r = (v_r − v_r²/K)·log p(x, stop(z_r)) + (v_r²/K)·(log p(x, z_r) − log q_stop(z_r)),
//! where q_stop holds the guide's parameters fixed. The model's parameters get
//! Σ_k w̃_k ∇ log p (the IWAE gradient), the guide's only the path term weighted by
//! w̃_k²; this costs a second lowering of the model at the stopped sample. The value
//! the optimizer sees is the bound itself: bound + (S − stop(S)).
//!
//! This module never draws; it refuses global latents (whose joint bound would share
//! one draw of the globals per sample block).

use crate::check::ModelInfo;
use crate::guide::{Guide, GuideError};
use crate::ir::{Graph, Unary};
use crate::lower::{LogJoint, Role};

use super::PathLogQ;
use super::elbo::{self, Parts};
use super::kl::KlMode;

/// The per-row parts of the K-sample bound; `dreg` carries the groups' path log q and
/// the model lowered at the stopped sample when the DReG gradient is asked for.
pub fn assemble(
    graph: &mut Graph,
    info: &ModelInfo,
    guide: &Guide,
    joint: &LogJoint,
    k: usize,
    dreg: Option<(&PathLogQ, &LogJoint)>,
) -> Result<Parts, GuideError> {
    if guide.globals.is_some() {
        return Err(GuideError::IwaeGlobals);
    }
    let log_w = elbo::assemble(
        graph,
        info,
        guide,
        joint,
        KlMode::Sampled,
        dreg.map(|(path, _)| path),
    );
    let local = match dreg {
        None => graph.group_log_mean_exp(log_w.local, k),
        Some((_, at_fixed)) => {
            let stopped = graph.stop_gradient(log_w.local);
            let bound = graph.group_log_mean_exp(stopped, k);
            let log_p_fixed = at_fixed
                .sum(graph, &[Role::Likelihood, Role::Local])
                .expect("internal: a model has a likelihood");
            // v = K·w̃, the row's normalized weight times K; both coefficients stopped.
            let centred = graph.sub(stopped, bound);
            let v = graph.unary(Unary::Exp, centred);
            let v_sq = graph.unary(Unary::Square, v);
            let guide_coef = graph.scale(v_sq, 1.0 / k as f32);
            let model_coef = graph.sub(v, guide_coef);
            let model_part = graph.mul(model_coef, log_p_fixed);
            let guide_part = graph.mul(guide_coef, log_w.local);
            let surrogate = graph.add(model_part, guide_part);
            let surrogate_value = graph.stop_gradient(surrogate);
            let zero_valued = graph.sub(surrogate, surrogate_value);
            graph.add(bound, zero_valued)
        }
    };
    graph.label(local, format!("iwae{k}.local"));
    Ok(Parts {
        local,
        global: log_w.global,
    })
}
