//! The planar flow step (Rezende & Mohamed 2015, section 4.1 and appendix A.1).

use crate::ir::{Graph, Init, NodeId, Unary};

use super::{Flow, Step, StepInputs, StepParam, row_dot};

/// f(z) = z + û h(wᵀz + b), h = tanh, with log |det| = log |1 + h'(wᵀz + b) wᵀû|. The
/// raw `u` is replaced by û = u + (m(wᵀu) − wᵀu) w / ‖w‖², m(x) = −1 + softplus(x),
/// which keeps wᵀû ≥ −1 and so the step invertible. Every product is a row-wise dot,
/// so the same step serves shared `[1, d]` and amortized `[R, d]` parameters.
pub struct Planar;

impl Flow for Planar {
    fn params(&self, d: usize) -> Vec<StepParam> {
        vec![
            StepParam {
                rows: 1,
                suffix: "u",
                cols: d,
                init: Init::Normal { std: 0.1 },
            },
            StepParam {
                rows: 1,
                suffix: "w",
                cols: d,
                init: Init::Normal { std: 0.1 },
            },
            StepParam {
                rows: 1,
                suffix: "b",
                cols: 1,
                init: Init::Const(0.0),
            },
        ]
    }

    fn step(&self, graph: &mut Graph, z: NodeId, inputs: StepInputs<'_>) -> Step {
        let &[u, w, b] = inputs.params else {
            panic!("internal: a planar step has three parameters")
        };
        let wu = row_dot(graph, u, w);
        let sp = graph.unary(Unary::Softplus, wu);
        let one = graph.scalar(1.0);
        let m = graph.sub(sp, one);
        let shift = graph.sub(m, wu);
        let w_sq = row_dot(graph, w, w);
        let tiny = graph.scalar(1e-8);
        let w_norm = graph.add(w_sq, tiny);
        let coef = graph.div(shift, w_norm);
        let correction = graph.mul(coef, w);
        let u_hat = graph.add(u, correction);

        let wz = row_dot(graph, z, w);
        let a = graph.add(wz, b);
        let h = graph.unary(Unary::Tanh, a);
        let step = graph.mul(h, u_hat);
        let z_next = graph.add(z, step);

        let h_sq = graph.unary(Unary::Square, h);
        let dh = graph.sub(one, h_sq);
        let w_uhat = row_dot(graph, u_hat, w);
        let slope = graph.mul(dh, w_uhat);
        let det = graph.add(one, slope);
        let abs_det = graph.unary(Unary::Abs, det);
        let log_det = graph.unary(Unary::Log, abs_det);
        Step { z: z_next, log_det }
    }
}
