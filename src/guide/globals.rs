//! The globals' guide: a mean-field or full-rank Gaussian over all globals side by
//! side (ADVI, Kucukelbir et al. 2017), one independent draw per batch row, optionally
//! followed by a flow.
//!
//! Its shared nodes are blamed on the first global's declaration. The noise leaf is
//! returned to the caller because evaluation shares one draw of it across rows.

use crate::check::{FlowSpec, GlobalsMode, ModelInfo, SymbolId};
use crate::dist::Family;
use crate::ir::{Graph, Init, Leaf, NodeId, NoiseId, Shape, Unary};

use super::INIT_RAW_SCALE;
use super::draw::{blame, gaussian_group, split_joint};
use super::flow::{self, FlowPlan};
use super::{Group, GuideError};

/// Builds the guide of `globals` (in declaration order) and returns the drawn group
/// with its noise leaf.
pub(super) fn build(
    graph: &mut Graph,
    info: &ModelInfo,
    mode: GlobalsMode,
    flow_spec: FlowSpec,
    globals: &[SymbolId],
) -> Result<(Group, Leaf<NoiseId>), GuideError> {
    if flow_spec.amortized() {
        return Err(GuideError::AmortizedGlobalFlow { flow: flow_spec });
    }
    blame(graph, info, globals[0]);
    let width: usize = globals
        .iter()
        .map(|&id| info.symbol(id).shape.width())
        .sum();
    let loc = graph.param("guide.globals.loc", 1, width, Init::Const(0.0));
    let eps = graph.noise_leaf("guide.globals.eps", Shape::batch(width));
    let group = match mode {
        GlobalsMode::MeanField => {
            let raw = graph.param("guide.globals.scale", 1, width, Init::Const(INIT_RAW_SCALE));
            let scale = graph.unary(Unary::Softplus, raw);
            gaussian_group(
                graph,
                info,
                globals,
                loc,
                scale,
                eps.node,
                flow_spec,
                "guide.global_flow",
                None,
            )
        }
        GlobalsMode::Full => full_rank(graph, info, globals, loc, eps.node, width, flow_spec),
    };
    Ok((group, eps))
}

/// Globals drawn jointly from N(loc, L Lᵀ), L lower-triangular with a softplus
/// diagonal: u = loc + eps · Lᵀ, log q(u) = Σ log N(eps) − Σ log L_ii.
fn full_rank(
    graph: &mut Graph,
    info: &ModelInfo,
    symbols: &[SymbolId],
    loc: NodeId,
    eps: NodeId,
    d: usize,
    flow_spec: FlowSpec,
) -> Group {
    let raw = graph.param("guide.globals.chol", d, d, Init::Const(0.0));
    let mut strict = vec![0.0f32; d * d];
    let mut identity = vec![0.0f32; d * d];
    for i in 0..d {
        identity[i * d + i] = 1.0;
        for j in 0..i {
            strict[i * d + j] = 1.0;
        }
    }
    let strict = graph.constant(d, d, strict);
    let identity = graph.constant(d, d, identity);
    let offset = graph.scalar(INIT_RAW_SCALE);
    let shifted = graph.add(raw, offset);
    let diag_all = graph.unary(Unary::Softplus, shifted);
    let diag = graph.mul(diag_all, identity);
    let lower_part = graph.mul(raw, strict);
    let chol = graph.add(lower_part, diag);
    graph.label(chol, "guide.globals.L");
    let log_diag_all = graph.unary(Unary::Log, diag_all);
    let log_diag = graph.mul(log_diag_all, identity);
    let log_diag_rows = graph.sum_rows(log_diag);
    let log_det_l = graph.sum_cols(log_diag_rows);

    let spread = graph.matmul_t(eps, chol, false, true);
    let u0 = graph.add(loc, spread);
    let zero = graph.scalar(0.0);
    let one = graph.scalar(1.0);
    let eps_density = graph.log_density(Family::Normal, eps, &[zero, one]);
    let eps_log = graph.sum_cols(eps_density);
    let mut log_q = graph.sub(eps_log, log_det_l);
    let mut u = u0;
    if let Some(plan) = FlowPlan::from_spec(flow_spec) {
        let flowed = flow::apply(graph, plan, u0, "guide.global_flow", None);
        u = flowed.z;
        if let Some(ld) = flowed.log_det {
            log_q = graph.sub(log_q, ld);
        }
    }
    split_joint(graph, info, symbols, u, log_q)
}
