//! The automatic guide: the variational family q of a checked model (SPEC section 3).
//!
//! From a checked model and its data inputs this builds, in the caller's graph, one
//! reparameterized draw of every latent and its log q:
//! - **amortized locals** (`encoder.rs`): an MLP reads each row's data (declarations
//!   concatenated in order) and outputs a location and a softplus scale for every
//!   local latent, q(z|x) = N(μ(x), diag σ(x)²) (Rezende et al. 2014; Kingma & Welling
//!   2013), optionally followed by a normalizing flow ([`flow`]);
//! - **free locals** (`free.rs`, `eta: free`): a location and a scale per training row,
//!   gathered by row index;
//! - **globals** (`globals.rs`): a mean-field or full-rank Gaussian (ADVI, Kucukelbir et
//!   al. 2017), one independent draw per batch row, optionally followed by a flow.
//!
//! Guide samples live in unconstrained space and are mapped to each latent's support
//! (`support.rs`) with the log-Jacobian folded into log q. Every node a latent's draw
//! adds carries that latent's declaration as its origin (shared nodes the first
//! latent's of their group), so a value that turns non-finite names a `.vi` line.
//!
//! This module never lowers the model and never combines log q with log p: the
//! [`crate::objective`] does both. Building never fails on a checked model, except for
//! settings this version cannot combine, which [`GuideError`] names.

mod draw;
mod encoder;
pub mod flow;
mod free;
mod globals;
mod support;

use thiserror::Error;

use crate::check::{GuideSpec, ModelInfo, SymbolId, SymbolKind};
use crate::ir::{Graph, InputId, Leaf, NodeId, NoiseId};

#[derive(Debug, Clone, Error, PartialEq, Eq)]
pub enum GuideError {
    #[error(
        "the `{gradient}` gradient needs the guide's density at a fixed sample, which a flow or full-rank globals do not give; use `--gradient naive`"
    )]
    NoPathDensity { gradient: &'static str },
    #[error(
        "the `{gradient}` gradient is not an estimator of the {objective}: `stl` is for the ELBO, `dreg` for `iwae:K`"
    )]
    GradientFor {
        gradient: &'static str,
        objective: String,
    },
    #[error(
        "`--kl analytic` takes the KL in closed form, which {what} does not use; leave `--kl` out"
    )]
    AnalyticKl { what: String },
    #[error(
        "the flow `{flow}` takes its parameters per row from the encoder, which global latents do not have; drop `amortized` for the globals' flow"
    )]
    AmortizedGlobalFlow { flow: crate::check::FlowSpec },
}

/// One latent's draw from the guide.
#[derive(Debug, Clone, Copy)]
pub struct Draw {
    pub symbol: SymbolId,
    /// On the latent's support.
    pub value: NodeId,
    /// `[R, 1]` log q of this latent alone, on the constrained scale; `None` when the
    /// latent's density is only known jointly with others (after a flow or full-rank).
    pub log_q: Option<NodeId>,
    /// The diagonal Gaussian `(loc, scale)` it was drawn from, when the latent is real
    /// and nothing but the identity follows, so a closed-form KL applies.
    pub gaussian: Option<(NodeId, NodeId)>,
}

/// Latents drawn together: side by side from one Gaussian, then a shared flow.
#[derive(Debug, Clone)]
pub struct Group {
    pub draws: Vec<Draw>,
    /// `[R, 1]`: the group's joint log q when a flow or a full-rank Gaussian makes the
    /// latents' densities inseparable (their draws then have no `log_q` of their own).
    pub joint_log_q: Option<NodeId>,
    /// The diagonal Gaussian the whole group was drawn from, when nothing but each
    /// latent's support transform follows it.
    pub gaussian: Option<GroupGaussian>,
}

/// A group drawn as `sample = loc + scale · ε` and then mapped to the supports.
#[derive(Debug, Clone)]
pub struct GroupGaussian {
    /// `[R, Σ widths]`, unconstrained.
    pub sample: NodeId,
    pub loc: NodeId,
    pub scale: NodeId,
    /// `[R, 1]` log |dz/du| of each latent whose support transform is not the identity.
    pub log_jacobians: Vec<NodeId>,
}

impl Group {
    /// `[R, 1]`: the group's whole log q at its sample with the guide's parameters held
    /// fixed (stop-gradient), so that its gradient is only the path through the sample,
    /// as sticking the landing (Roeder et al. 2017) and DReG (Tucker et al. 2019) need.
    /// `None` where the density cannot be evaluated at a fixed sample without inverting
    /// a flow or a Cholesky factor. Built on demand, so graphs that do not use it do not
    /// change.
    pub fn path_log_q(&self, graph: &mut Graph) -> Option<NodeId> {
        let g = self.gaussian.as_ref()?;
        let loc = graph.stop_gradient(g.loc);
        let scale = graph.stop_gradient(g.scale);
        let density = graph.log_density(crate::dist::Family::Normal, g.sample, &[loc, scale]);
        let mut log_q = graph.sum_cols(density);
        for &lj in &g.log_jacobians {
            log_q = graph.sub(log_q, lj);
        }
        Some(log_q)
    }
}

/// The guide's noise leaves by role, each filled with standard-normal draws per batch.
#[derive(Debug, Clone, Default)]
pub struct GuideNoise {
    /// The amortized locals' `ε`, `[R, Σ widths]`.
    pub amortized: Option<Leaf<NoiseId>>,
    /// Each free local's `ε`, in declaration order.
    pub free: Vec<(SymbolId, Leaf<NoiseId>)>,
    /// The globals' `ε`, which a joint importance-weighted bound shares across rows.
    pub globals: Option<Leaf<NoiseId>>,
}

impl GuideNoise {
    /// Every noise leaf in the order the graph declares them, which is the order a
    /// session draws them in (and so fixes the noise stream of a seed).
    pub fn in_graph_order(&self) -> Vec<Leaf<NoiseId>> {
        let mut all: Vec<Leaf<NoiseId>> = self.amortized.into_iter().collect();
        all.extend(self.free.iter().map(|&(_, leaf)| leaf));
        all.extend(self.globals);
        all
    }
}

/// The built guide, the variational family of a model: one draw of every latent and
/// its log q.
#[derive(Debug, Clone)]
pub struct Guide {
    /// The amortized locals' group, then one group per free local.
    pub locals: Vec<Group>,
    /// The globals' group, if the model has globals.
    pub globals: Option<Group>,
    /// `[R, 1]` training-row indices, present when a local is `free`.
    pub row_index: Option<Leaf<InputId>>,
    pub noise: GuideNoise,
}

impl Guide {
    /// The local latents' draws, in the order of their groups.
    pub fn local_draws(&self) -> impl Iterator<Item = &Draw> {
        self.locals.iter().flat_map(|g| &g.draws)
    }

    /// The globals' draws, in declaration order.
    pub fn global_draws(&self) -> impl Iterator<Item = &Draw> {
        self.globals.iter().flat_map(|g| &g.draws)
    }
}

/// softplus(−2.25) ≈ 0.1: the initial scale of free locals and globals, small enough
/// that early samples stay near the location, as Pyro's `AutoNormal` does.
pub(crate) const INIT_RAW_SCALE: f32 = -2.25;

/// Builds the guide of a checked model into `graph`: the encoder reads `data` (the data
/// declarations' nodes, in declaration order); free locals get tables of `train_rows`
/// rows.
pub fn build(
    graph: &mut Graph,
    info: &ModelInfo,
    spec: &GuideSpec,
    train_rows: usize,
    data: &[NodeId],
) -> Result<Guide, GuideError> {
    let symbols = |pred: fn(&SymbolKind) -> bool| -> Vec<SymbolId> {
        info.of_kind(pred).map(|(id, _)| id).collect()
    };
    let amortized = symbols(|k| matches!(k, SymbolKind::Latent { free: false, .. }));
    let free = symbols(|k| matches!(k, SymbolKind::Latent { free: true, .. }));
    let global = symbols(|k| matches!(k, SymbolKind::Global { .. }));

    let global_flow = match (spec.global_flow, amortized.is_empty()) {
        (crate::check::FlowSpec::None, true) => spec.flow,
        (explicit, _) => explicit,
    };

    let mut noise = GuideNoise::default();
    let mut locals = Vec::new();
    if !amortized.is_empty() {
        let (group, eps) = encoder::build(graph, info, spec, &amortized, data);
        locals.push(group);
        noise.amortized = Some(eps);
    }
    let mut row_index = None;
    if !free.is_empty() {
        let tables = free::build(graph, info, &free, train_rows);
        row_index = Some(tables.row_index);
        locals.extend(tables.groups);
        noise.free = tables.noise;
    }
    let mut globals = None;
    if !global.is_empty() {
        let (group, eps) = globals::build(graph, info, spec.globals, global_flow, &global)?;
        globals = Some(group);
        noise.globals = Some(eps);
    }
    graph.set_origin(None);
    Ok(Guide {
        locals,
        globals,
        row_index,
        noise,
    })
}
