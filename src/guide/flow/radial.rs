//! The radial flow step (Rezende & Mohamed 2015, section 4.1 and appendix A.2).

use crate::ir::{Graph, Init, NodeId, Unary};

use super::{Flow, Step, StepInputs, StepParam};

/// f(z) = z + β h(α, r)(z − z0), r = ‖z − z0‖, h = 1/(α + r), with
/// log |det| = (d − 1) log(1 + βh) + log(1 + βh − βrh²). α = softplus(α̂) > 0 and
/// β = −α + softplus(β̂) ≥ −α keep the step invertible.
pub struct Radial;

impl Flow for Radial {
    fn params(&self, d: usize) -> Vec<StepParam> {
        vec![
            StepParam {
                rows: 1,
                suffix: "z0",
                cols: d,
                init: Init::Normal { std: 0.1 },
            },
            StepParam {
                rows: 1,
                suffix: "alpha",
                cols: 1,
                init: Init::Const(0.5),
            },
            StepParam {
                rows: 1,
                suffix: "beta",
                cols: 1,
                init: Init::Const(0.0),
            },
        ]
    }

    fn step(&self, graph: &mut Graph, z: NodeId, inputs: StepInputs<'_>) -> Step {
        let &[z0, alpha_raw, beta_raw] = inputs.params else {
            panic!("internal: a radial step has three parameters")
        };
        let d = graph.shape(z).cols;
        let alpha = graph.unary(Unary::Softplus, alpha_raw);
        let beta_sp = graph.unary(Unary::Softplus, beta_raw);
        let beta = graph.sub(beta_sp, alpha);

        let diff = graph.sub(z, z0);
        let diff_sq = graph.unary(Unary::Square, diff);
        let r_sq = graph.sum_cols(diff_sq);
        let tiny = graph.scalar(1e-12);
        let r_sq = graph.add(r_sq, tiny);
        let r = graph.unary(Unary::Sqrt, r_sq);
        let one = graph.scalar(1.0);
        let alpha_r = graph.add(alpha, r);
        let h = graph.div(one, alpha_r);
        let beta_h = graph.mul(beta, h);
        let step = graph.mul(beta_h, diff);
        let z_next = graph.add(z, step);

        let a = graph.add(one, beta_h);
        let log_a = graph.unary(Unary::Log, a);
        let log_a_scaled = graph.scale(log_a, (d - 1) as f32);
        let h_sq = graph.unary(Unary::Square, h);
        let rh_sq = graph.mul(r, h_sq);
        let beta_rh_sq = graph.mul(beta, rh_sq);
        let b = graph.sub(a, beta_rh_sq);
        let log_b = graph.unary(Unary::Log, b);
        let log_det = graph.add(log_a_scaled, log_b);
        Step { z: z_next, log_det }
    }
}
