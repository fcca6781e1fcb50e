//! The KL part of the ELBO for one latent: sampled (log p(z) − log q(z) at the draw) or,
//! where prior and guide are both diagonal Gaussians on the real line and no flow
//! follows, the closed form −KL(q ‖ p).
//!
//! This decides only which estimator applies; it never changes the draws.

use crate::dist::Family;
use crate::guide::Draw;
use crate::ir::{Graph, NodeId, Unary};
use crate::lower::Term;

/// How the KL part of the ELBO is estimated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum KlMode {
    /// log p(z) − log q(z) at the reparameterized sample.
    #[default]
    Sampled,
    /// The closed-form Gaussian KL where prior and guide are both diagonal Gaussians on
    /// the real line and no flow follows; sampled elsewhere.
    Analytic,
}

/// `[R, 1]`: −KL(q ‖ p) in closed form for `draw` under its prior `term`, or `None`
/// where `mode` or the distributions leave the KL to be sampled.
pub fn analytic(graph: &mut Graph, mode: KlMode, term: &Term, draw: &Draw) -> Option<NodeId> {
    if mode != KlMode::Analytic || term.family != Family::Normal {
        return None;
    }
    let (q_loc, q_scale) = draw.gaussian?;
    draw.log_q?;
    let kl = graph.kl_normal(q_loc, q_scale, term.args[0], term.args[1]);
    let kl = graph.sum_cols(kl);
    Some(graph.unary(Unary::Neg, kl))
}
