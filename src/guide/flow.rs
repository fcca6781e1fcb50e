//! Normalizing flows (Rezende & Mohamed 2015) as graph operations.
//!
//! A flow maps a guide sample `z` (a batch of `d`-vectors) through K invertible steps;
//! each step also yields its per-row log |det ∂f/∂z|, computed in O(d) from the closed
//! forms in the paper, which the ELBO subtracts from log q. Steps are parameterized so
//! that every one stays invertible whatever the optimizer does.

use crate::ir::{Graph, Init, NodeId, Unary};

/// The kind of flow a guide applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlowKind {
    Planar,
    Radial,
}

/// The output of a flow: the transformed sample and the summed log-determinant.
#[derive(Debug, Clone, Copy)]
pub struct FlowOutput {
    pub z: NodeId,
    /// `[R, 1]`: Σ_k log |det J_k| per row; `None` when the flow has no steps.
    pub log_det: Option<NodeId>,
}

/// Applies `steps` steps of `kind` to `z` (`[R, d]`), with parameters named
/// `{name}.{k}.*`.
pub fn apply(graph: &mut Graph, kind: FlowKind, steps: usize, z: NodeId, name: &str) -> FlowOutput {
    let mut z = z;
    let mut log_det: Option<NodeId> = None;
    for k in 0..steps {
        let step_name = format!("{name}.{k}");
        let (next, ld) = match kind {
            FlowKind::Planar => planar(graph, z, &step_name),
            FlowKind::Radial => radial(graph, z, &step_name),
        };
        z = next;
        log_det = Some(match log_det {
            None => ld,
            Some(total) => graph.add(total, ld),
        });
    }
    FlowOutput { z, log_det }
}

/// `w · vᵀ` for two row vectors `[1, d]`, as a `[1, 1]` node.
fn row_dot(graph: &mut Graph, v: NodeId, w: NodeId) -> NodeId {
    graph.matmul_t(v, w, false, true)
}

/// One planar step f(z) = z + û h(wᵀz + b), h = tanh, with
/// log |det| = log |1 + h'(wᵀz + b) wᵀû|. The raw `u` is replaced by
/// û = u + (m(wᵀu) − wᵀu) w / ‖w‖², m(x) = −1 + softplus(x), which keeps wᵀû ≥ −1 and
/// so the step invertible (Rezende & Mohamed 2015, appendix A.1).
fn planar(graph: &mut Graph, z: NodeId, name: &str) -> (NodeId, NodeId) {
    let d = graph.shape(z).cols;
    let u = graph.param(format!("{name}.u"), 1, d, Init::Normal { std: 0.1 });
    let w = graph.param(format!("{name}.w"), 1, d, Init::Normal { std: 0.1 });
    let b = graph.param(format!("{name}.b"), 1, 1, Init::Const(0.0));

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

    let wz = graph.matmul_t(z, w, false, true);
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
    graph.label(z_next, name.to_string());
    (z_next, log_det)
}

/// One radial step f(z) = z + β h(α, r)(z − z0), r = ‖z − z0‖, h = 1/(α + r), with
/// log |det| = (d − 1) log(1 + βh) + log(1 + βh − βrh²). α = softplus(α̂) > 0 and
/// β = −α + softplus(β̂) ≥ −α keep the step invertible (Rezende & Mohamed 2015, A.2).
fn radial(graph: &mut Graph, z: NodeId, name: &str) -> (NodeId, NodeId) {
    let d = graph.shape(z).cols;
    let z0 = graph.param(format!("{name}.z0"), 1, d, Init::Normal { std: 0.1 });
    let alpha_raw = graph.param(format!("{name}.alpha"), 1, 1, Init::Const(0.5));
    let beta_raw = graph.param(format!("{name}.beta"), 1, 1, Init::Const(0.0));

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
    graph.label(z_next, name.to_string());
    (z_next, log_det)
}
