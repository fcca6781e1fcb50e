//! The single-sample ELBO's two per-row parts: `local` = log p(x_i | z_i, w) +
//! log p(z_i) − log q(z_i | x_i) and `global` = log p(w) − log q(w).
//!
//! Terms are added in a fixed order (likelihoods, then each local and each global
//! latent's KL part, then the groups' joint log q), which fixes the graph and so the
//! numbers of a seed. The parts are per row; [`super::scale`] turns them into the scalar.
//! With the groups' path log q (sticking the landing) every log q is the group's at its
//! sample with the guide's parameters stopped, and no KL is taken in closed form.

use crate::check::ModelInfo;
use crate::guide::{Draw, Guide};
use crate::ir::{Graph, NodeId, Unary};
use crate::lower::{self, LogJoint, Role};

use super::PathLogQ;
use super::kl::{self, KlMode};
use super::scale::MinibatchScale;

/// The per-row parts of a bound, before minibatch scaling.
#[derive(Debug, Clone, Copy)]
pub struct Parts {
    /// `[R, 1]`.
    pub local: NodeId,
    /// `[R, 1]`, or a `[1, 1]` zero without globals.
    pub global: NodeId,
    /// The minibatch scale inputs when the parts were built with them (the joint
    /// importance-weighted bound scales rows inside its log-mean-exp); otherwise
    /// [`super::build`] declares them after the parts.
    pub scale: Option<MinibatchScale>,
}

/// Combines the guide's log q (or, given `path`, each group's path log q) with the
/// model's terms into the ELBO's parts.
pub fn assemble(
    graph: &mut Graph,
    info: &ModelInfo,
    guide: &Guide,
    joint: &LogJoint,
    kl_mode: KlMode,
    path: Option<&PathLogQ>,
) -> Parts {
    let kl_mode = if path.is_some() {
        KlMode::Sampled
    } else {
        kl_mode
    };
    let mut local_parts: Vec<NodeId> = joint
        .terms
        .iter()
        .filter(|t| t.role == Role::Likelihood)
        .map(|t| t.log_density)
        .collect();
    let mut global_parts = Vec::new();
    let local_draws: Vec<&Draw> = guide.local_draws().collect();
    let global_draws: Vec<&Draw> = guide.global_draws().collect();
    for (draws, parts, role) in [
        (local_draws, &mut local_parts, Role::Local),
        (global_draws, &mut global_parts, Role::Global),
    ] {
        for draw in draws {
            graph.set_origin(Some(info.symbol(draw.symbol).span));
            let term = joint
                .term(draw.symbol)
                .expect("internal: every latent has a prior term");
            debug_assert_eq!(term.role, role);
            match kl::analytic(graph, kl_mode, term, draw) {
                Some(neg_kl) => parts.push(neg_kl),
                None => {
                    parts.push(term.log_density);
                    if let Some(log_q) = draw.log_q.filter(|_| path.is_none()) {
                        let neg = graph.unary(Unary::Neg, log_q);
                        parts.push(neg);
                    }
                }
            }
        }
    }
    let (local_paths, global_paths) = match path {
        Some(p) => (p.locals.as_slice(), p.globals.as_slice()),
        None => (&[][..], &[][..]),
    };
    for (groups, paths, parts) in [
        (guide.locals.as_slice(), local_paths, &mut local_parts),
        (guide.globals.as_slice(), global_paths, &mut global_parts),
    ] {
        for (i, group) in groups.iter().enumerate() {
            let q = match path {
                Some(_) => Some(paths[i]),
                None => group.joint_log_q,
            };
            if let Some(q) = q {
                graph.set_origin(Some(info.symbol(group.draws[0].symbol).span));
                let neg = graph.unary(Unary::Neg, q);
                parts.push(neg);
            }
        }
    }
    graph.set_origin(None);
    let local = lower::sum_nodes(graph, &local_parts).expect("internal: a model has a likelihood");
    graph.label(local, "elbo.local");
    let global = match lower::sum_nodes(graph, &global_parts) {
        Some(node) => node,
        None => graph.scalar(0.0),
    };
    graph.label(global, "elbo.global");
    Parts {
        local,
        global,
        scale: None,
    }
}
