//! The ADVI support step: an unconstrained guide sample mapped to its latent's support
//! (`exp` for positive, `sigmoid` for unit), with log q moved to the constrained scale.
//!
//! Only the guide's draws go through here; `param`s are transformed where they are
//! lowered. This module adds nodes and never decides where a sample comes from.

use crate::check::{ModelInfo, SymbolId};
use crate::dist::Elem;
use crate::ir::{Graph, NodeId, Unary};

/// Maps an unconstrained sample `u` to the latent's support and returns the value and
/// log q on the constrained scale: log q(z) = log q(u) − log |dz/du|.
pub(super) fn to_support(
    graph: &mut Graph,
    info: &ModelInfo,
    id: SymbolId,
    u: NodeId,
    log_q_u: NodeId,
) -> (NodeId, NodeId) {
    let symbol = info.symbol(id);
    let (value, log_jacobian) = match symbol.elem {
        Elem::Positive => {
            let z = graph.unary(Unary::Exp, u);
            (z, Some(graph.sum_cols(u)))
        }
        Elem::Unit => {
            // log σ(u) + log(1 − σ(u)) = −softplus(−u) − softplus(u).
            let z = graph.unary(Unary::Sigmoid, u);
            let neg_u = graph.unary(Unary::Neg, u);
            let a = graph.unary(Unary::Softplus, neg_u);
            let b = graph.unary(Unary::Softplus, u);
            let sum = graph.add(a, b);
            let per_row = graph.sum_cols(sum);
            (z, Some(graph.unary(Unary::Neg, per_row)))
        }
        _ => (u, None),
    };
    graph.label(value, symbol.name.clone());
    match log_jacobian {
        Some(lj) => (value, graph.sub(log_q_u, lj)),
        None => (value, log_q_u),
    }
}
