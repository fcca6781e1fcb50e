//! The training objective: the guide's family and the lowered model combined into one
//! graph whose scalar output the optimizer ascends (SPEC section 4).
//!
//! [`build`] declares the data inputs, builds the guide ([`crate::guide`]), binds every
//! latent to its draw, lowers the model once with those bindings, and hands the guide's
//! log q and the model's terms to the chosen [`Objective`]:
//! - [`Objective::Elbo`] ([`elbo`]): per row, `local` = log p(x_i, z_i | w) −
//!   log q(z_i | x_i) and `global` = log p(w) − log q(w), with the KL part in closed
//!   form where [`KlMode::Analytic`] allows it ([`kl`]).
//!
//! Every objective ends in [`scale`]: Σ_r (local_r · N/R + global_r / R), an unbiased
//! estimate of the whole data set's bound, whose factors are inputs set per batch.
//! Objectives that replace the single-sample ELBO (importance-weighted, score-function,
//! enumerated) are siblings of `elbo.rs` here. This module never draws from the guide
//! itself and never lowers a statement.

pub mod elbo;
pub mod kl;
pub mod scale;

use crate::check::hir::Model;
use crate::check::{GuideSpec, ModelInfo, SymbolId, SymbolKind};
use crate::guide::{self, GuideError, GuideNoise};
use crate::ir::{Graph, InputId, Leaf, NodeId};
use crate::lower::{self, Bindings, LogJoint, value_shape};

pub use kl::KlMode;
pub use scale::MinibatchScale;

/// The bound an objective graph estimates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Objective {
    /// The evidence lower bound with one reparameterized sample per row.
    #[default]
    Elbo,
}

/// What to build: the guide, the objective and its estimator of the KL part.
#[derive(Debug, Clone)]
pub struct ElboOptions {
    pub spec: GuideSpec,
    pub kl: KlMode,
    /// The number of training rows: the size of the free locals' tables.
    pub train_rows: usize,
    pub objective: Objective,
}

/// The options a model asks for, with `train_rows` training rows.
pub fn options_for(info: &ModelInfo, train_rows: usize) -> ElboOptions {
    ElboOptions {
        spec: info.guide.clone(),
        kl: KlMode::Sampled,
        train_rows,
        objective: Objective::Elbo,
    }
}

/// The inputs a session fills per batch, by role.
#[derive(Debug, Clone)]
pub struct Inputs {
    /// Every data declaration's input, in declaration order.
    pub data: Vec<(SymbolId, Leaf<InputId>)>,
    /// `[R, 1]` training-row indices, present when a local is `free`.
    pub row_index: Option<Leaf<InputId>>,
    pub scale: MinibatchScale,
}

/// The objective graph and the leaves and nodes the training loop feeds and reads.
#[derive(Debug, Clone)]
pub struct ElboGraph {
    pub graph: Graph,
    pub joint: LogJoint,
    pub inputs: Inputs,
    pub noise: GuideNoise,
    /// `[R, 1]`: log p(x_i, z_i | w) − log q(z_i | x_i).
    pub local: NodeId,
    /// `[R, 1]` (or `[1, 1]` zero without globals): log p(w) − log q(w).
    pub global: NodeId,
    /// `[1, 1]`: the estimate the optimizer ascends.
    pub objective: NodeId,
    /// Constrained values of the globals, `[R, width]`, in declaration order.
    pub globals: Vec<(SymbolId, NodeId)>,
    /// Constrained values of the local latents, `[R, width]`.
    pub locals: Vec<(SymbolId, NodeId)>,
    /// Per local latent, the guide's diagonal Gaussian `(loc, scale)` when that is its
    /// exact distribution (`real`, no flow), for `vic encode`.
    pub local_gaussians: Vec<(SymbolId, Option<(NodeId, NodeId)>)>,
}

/// Builds the objective graph of a checked model.
pub fn build(
    model: &Model,
    info: &ModelInfo,
    options: &ElboOptions,
) -> Result<ElboGraph, GuideError> {
    let mut graph = Graph::new();
    let mut bindings = Bindings::new(info);
    let data: Vec<(SymbolId, Leaf<InputId>)> = info
        .of_kind(|k| matches!(k, SymbolKind::Data))
        .map(|(id, s)| {
            graph.set_origin(Some(s.span));
            (
                id,
                graph.input_leaf(s.name.clone(), value_shape(s.shape), false),
            )
        })
        .collect();
    graph.set_origin(None);
    for &(id, leaf) in &data {
        bindings.bind(id, leaf.node);
    }
    let data_nodes: Vec<NodeId> = data.iter().map(|&(_, leaf)| leaf.node).collect();
    let guide = guide::build(
        &mut graph,
        info,
        &options.spec,
        options.train_rows,
        &data_nodes,
    )?;
    for draw in guide.local_draws().chain(guide.global_draws()) {
        bindings.bind(draw.symbol, draw.value);
    }
    let joint = lower::lower(model, info, &mut graph, &bindings);
    let parts = match options.objective {
        Objective::Elbo => elbo::assemble(&mut graph, info, &guide, &joint, options.kl),
    };
    let (scale, objective) = MinibatchScale::apply(&mut graph, parts.local, parts.global);

    let values = |draws: &mut dyn Iterator<Item = &guide::Draw>| {
        draws.map(|d| (d.symbol, d.value)).collect::<Vec<_>>()
    };
    let locals = values(&mut guide.local_draws());
    let local_gaussians = guide
        .local_draws()
        .map(|d| (d.symbol, d.gaussian))
        .collect();
    let globals = values(&mut guide.global_draws());
    Ok(ElboGraph {
        locals,
        local_gaussians,
        globals,
        graph,
        joint,
        inputs: Inputs {
            data,
            row_index: guide.row_index,
            scale,
        },
        noise: guide.noise,
        local: parts.local,
        global: parts.global,
        objective,
    })
}
