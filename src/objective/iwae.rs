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
//! With global latents the rows are not independent (SPEC section 5's joint estimate):
//! sample block `s` shares one draw w_s of the globals (the session fills the globals'
//! noise once per block, [`super::ElboGraph::joint_blocks`]), its joint log weight is
//! log w_s = (N/B)·Σ_i local_{s,i} + log p(w_s) − log q(w_s) ([`crate::ir::Op::BlockSum`]),
//! and the bound is log (1/K) Σ_s w_s, written to every row and counted through the
//! global part (Σ_r bound / R). On a full batch this is the importance-weighted bound
//! of log p(all rows); on a minibatch it is the same estimate with the batch standing
//! for the data, whose bias grows as the batch shrinks. DReG applies unchanged to the
//! block weights, with every latent (globals included) stopped in the fixed lowering.
//! A step of the joint bound is not split between threads: its log-mean-exp needs
//! every row of each block.
//!
//! This module never draws.

use crate::check::ModelInfo;
use crate::guide::Guide;
use crate::ir::{Graph, NodeId, Unary};
use crate::lower::{LogJoint, Role};

use super::PathLogQ;
use super::elbo::{self, Parts};
use super::kl::KlMode;
use super::scale::MinibatchScale;

/// The parts of the K-sample bound; `dreg` carries the groups' path log q and the
/// model lowered at the stopped sample when the DReG gradient is asked for. With
/// globals, the parts hold the joint bound and the minibatch scale it was built with.
pub fn assemble(
    graph: &mut Graph,
    info: &ModelInfo,
    guide: &Guide,
    joint: &LogJoint,
    k: usize,
    dreg: Option<(&PathLogQ, &LogJoint)>,
) -> Parts {
    let log_w = elbo::assemble(
        graph,
        info,
        guide,
        joint,
        KlMode::Sampled,
        dreg.map(|(path, _)| path),
    );
    let blocks = guide
        .globals
        .is_some()
        .then(|| MinibatchScale::declare(graph));
    // Each graph row's log importance weight: its own, or its block's joint one.
    let weight = |graph: &mut Graph, local: NodeId, global: NodeId| match &blocks {
        None => local,
        Some(scale) => {
            let per_row = graph.mul(local, scale.local.node);
            // N/R·K = N/B: the batch's rows stand for the data within each block.
            let per_row = graph.scale(per_row, k as f32);
            let block = graph.block_sum(per_row, k);
            graph.add(block, global)
        }
    };
    let log_w_node = weight(graph, log_w.local, log_w.global);
    let bound = match dreg {
        None => graph.group_log_mean_exp(log_w_node, k),
        Some((_, at_fixed)) => {
            let stopped = graph.stop_gradient(log_w_node);
            let bound = graph.group_log_mean_exp(stopped, k);
            let fixed_local = at_fixed
                .sum(graph, &[Role::Likelihood, Role::Local])
                .expect("internal: a model has a likelihood");
            let fixed_global = match at_fixed.sum(graph, &[Role::Global]) {
                Some(node) => node,
                None => graph.scalar(0.0),
            };
            let log_p_fixed = weight(graph, fixed_local, fixed_global);
            // v = K·w̃, the row's normalized weight times K; both coefficients stopped.
            let centred = graph.sub(stopped, bound);
            let v = graph.unary(Unary::Exp, centred);
            let v_sq = graph.unary(Unary::Square, v);
            let guide_coef = graph.scale(v_sq, 1.0 / k as f32);
            let model_coef = graph.sub(v, guide_coef);
            let model_part = graph.mul(model_coef, log_p_fixed);
            let guide_part = graph.mul(guide_coef, log_w_node);
            let surrogate = graph.add(model_part, guide_part);
            let surrogate_value = graph.stop_gradient(surrogate);
            let zero_valued = graph.sub(surrogate, surrogate_value);
            graph.add(bound, zero_valued)
        }
    };
    let part = if blocks.is_some() { "joint" } else { "local" };
    graph.label(bound, format!("iwae{k}.{part}"));
    match blocks {
        None => Parts {
            local: bound,
            global: log_w.global,
            scale: None,
        },
        Some(scale) => Parts {
            local: graph.scalar(0.0),
            global: bound,
            scale: Some(scale),
        },
    }
}
