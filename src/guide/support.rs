//! The ADVI support step: an unconstrained guide sample mapped to its latent's support
//! (`exp` for positive, `sigmoid` for unit, from [`Transform`]), with log q moved to the constrained scale.
//!
//! Only the guide's draws go through here; `param`s are transformed where they are
//! lowered. This module adds nodes and never decides where a sample comes from.

use crate::check::{ModelInfo, SymbolId};
use crate::dist::transform::Transform;
use crate::ir::{Graph, NodeId};

/// A sample mapped to its latent's support.
pub(super) struct Supported {
    pub value: NodeId,
    /// log q on the constrained scale: log q(z) = log q(u) − log |dz/du|.
    pub log_q: NodeId,
    /// `[R, 1]` log |dz/du|, `None` for the identity.
    pub log_jacobian: Option<NodeId>,
}

/// Maps an unconstrained sample `u` to the latent's support and moves `log_q_u` to the
/// constrained scale.
pub(super) fn to_support(
    graph: &mut Graph,
    info: &ModelInfo,
    id: SymbolId,
    u: NodeId,
    log_q_u: NodeId,
) -> Supported {
    let symbol = info.symbol(id);
    let transform = Transform::of(symbol.elem);
    let value = transform.forward_graph(graph, u);
    let log_jacobian = transform.log_jacobian_graph(graph, u);
    graph.label(value, symbol.name.clone());
    let log_q = match log_jacobian {
        Some(lj) => graph.sub(log_q_u, lj),
        None => log_q_u,
    };
    Supported {
        value,
        log_q,
        log_jacobian,
    }
}
