//! Drawing a group of latents side by side: the reparameterized Gaussian sample, the
//! optional flow after it, and the split into latents, each mapped to its support.
//!
//! Shared by the encoder, the free locals and the mean-field globals, so that every
//! Gaussian draw in the guide is built by one function. Nodes of one latent carry its
//! declaration as origin; nodes shared by the group carry the first latent's.

use crate::check::{FlowSpec, ModelInfo, SymbolId};
use crate::dist::{Elem, Family};
use crate::ir::{Graph, NodeId};

use super::flow::{self, FlowPlan};
use super::{Draw, Group, GroupGaussian, support};

/// Sets the origin of the nodes added next to `symbol`'s declaration.
pub(super) fn blame(graph: &mut Graph, info: &ModelInfo, symbol: SymbolId) {
    graph.set_origin(Some(info.symbol(symbol).span));
}

/// Draws `symbols` (side by side) as `loc + scale · eps`, then the flow, then each
/// latent's transform to its support. Without a flow each latent has its own log q
/// and the group keeps its Gaussian (for [`Group::path_log_q`]); with one the group
/// has a joint log q. `encoded` is the encoder's output for the flow
/// ([`FlowPlan::encoder_columns`]), for amortized locals.
#[allow(clippy::too_many_arguments)]
pub(super) fn gaussian_group(
    graph: &mut Graph,
    info: &ModelInfo,
    symbols: &[SymbolId],
    loc: NodeId,
    scale: NodeId,
    eps: NodeId,
    flow_spec: FlowSpec,
    flow_name: &str,
    encoded: Option<NodeId>,
) -> Group {
    blame(graph, info, symbols[0]);
    let spread = graph.mul(scale, eps);
    let u0 = graph.add(loc, spread);
    match FlowPlan::from_spec(flow_spec) {
        None => {
            let mut draws = Vec::new();
            let mut start = 0;
            let mut log_jacobians = Vec::new();
            for &id in symbols {
                blame(graph, info, id);
                let w = info.symbol(id).shape.width();
                let u = graph.slice_cols(u0, start, start + w);
                let l = graph.slice_cols(loc, start, start + w);
                let s = graph.slice_cols(scale, start, start + w);
                start += w;
                let density = graph.log_density(Family::Normal, u, &[l, s]);
                let log_q_u = graph.sum_cols(density);
                let supported = support::to_support(graph, info, id, u, log_q_u);
                log_jacobians.extend(supported.log_jacobian);
                draws.push(Draw {
                    symbol: id,
                    value: supported.value,
                    log_q: Some(supported.log_q),
                    gaussian: (info.symbol(id).elem == Elem::Real).then_some((l, s)),
                });
            }
            Group {
                draws,
                joint_log_q: None,
                gaussian: Some(GroupGaussian {
                    sample: u0,
                    loc,
                    scale,
                    log_jacobians,
                }),
            }
        }
        Some(plan) => {
            let density = graph.log_density(Family::Normal, u0, &[loc, scale]);
            let log_q0 = graph.sum_cols(density);
            let flowed = flow::apply(graph, plan, u0, flow_name, encoded);
            let log_q = match flowed.log_det {
                Some(ld) => graph.sub(log_q0, ld),
                None => log_q0,
            };
            split_joint(graph, info, symbols, flowed.z, log_q)
        }
    }
}

/// Splits a jointly drawn `[R, Σ widths]` sample into the latents and maps each to its
/// support, folding every log-Jacobian into the joint log q.
pub(super) fn split_joint(
    graph: &mut Graph,
    info: &ModelInfo,
    symbols: &[SymbolId],
    z: NodeId,
    log_q: NodeId,
) -> Group {
    let mut log_q = log_q;
    let mut draws = Vec::new();
    let mut start = 0;
    for &id in symbols {
        blame(graph, info, id);
        let w = info.symbol(id).shape.width();
        let u = graph.slice_cols(z, start, start + w);
        start += w;
        let supported = support::to_support(graph, info, id, u, log_q);
        log_q = supported.log_q;
        draws.push(Draw {
            symbol: id,
            value: supported.value,
            log_q: None,
            gaussian: None,
        });
    }
    Group {
        draws,
        joint_log_q: Some(log_q),
        gaussian: None,
    }
}
