//! The training objective: the guide's family and the lowered model combined into one
//! graph whose scalar output the optimizer ascends (SPEC section 4).
//!
//! [`build`] declares the data inputs, builds the guide ([`crate::guide`]), binds every
//! latent to its draw, lowers the model once with those bindings, and hands the guide's
//! log q and the model's terms to the chosen [`Objective`]:
//! - [`Objective::Elbo`] ([`elbo`]): per row, `local` = log p(x_i, z_i | w) −
//!   log q(z_i | x_i) and `global` = log p(w) − log q(w), with the KL part in closed
//!   form where [`KlMode::Analytic`] allows it ([`kl`]); with [`Gradient::Stl`] log q
//!   is evaluated with the guide's parameters stopped (sticking the landing);
//! - [`Objective::Iwae`] ([`iwae`]): the importance-weighted bound over K sample-major
//!   copies of each row (with globals, of each sample block jointly), with the naive or
//!   the doubly-reparameterized gradient.
//!
//! Every objective ends in [`scale`]: Σ_r (local_r · N/R + global_r / R), an unbiased
//! estimate of the whole data set's bound, whose factors are inputs set per batch.
//! Objectives that replace the single-sample ELBO (importance-weighted, score-function,
//! enumerated) are siblings of `elbo.rs` here. This module never draws from the guide
//! itself and never lowers a statement.

pub mod elbo;
pub mod iwae;
pub mod kl;
pub mod scale;

pub use crate::check::Gradient;
use crate::check::hir::Model;
use crate::check::{GuideSpec, ModelInfo, ObjectiveSpec, SymbolId, SymbolKind};
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
    /// The importance-weighted bound with `k` samples per row: the graph's rows are
    /// `k` sample-major copies of the batch.
    Iwae { k: usize },
}

impl Objective {
    pub fn from_spec(spec: ObjectiveSpec) -> Objective {
        match spec {
            ObjectiveSpec::Elbo => Objective::Elbo,
            ObjectiveSpec::Iwae(k) => Objective::Iwae { k },
        }
    }

    /// The graph rows each data row takes.
    pub fn samples_per_row(self) -> usize {
        match self {
            Objective::Elbo => 1,
            Objective::Iwae { k } => k,
        }
    }

    /// How progress and reports name the bound, e.g. `ELBO` or `IWAE-5 bound`.
    pub fn describe(self) -> String {
        match self {
            Objective::Elbo => "ELBO".to_string(),
            Objective::Iwae { k } => format!("IWAE-{k} bound"),
        }
    }

    /// The guide-setting form of this objective.
    pub fn spec(self) -> ObjectiveSpec {
        match self {
            Objective::Elbo => ObjectiveSpec::Elbo,
            Objective::Iwae { k } => ObjectiveSpec::Iwae(k),
        }
    }

    /// The estimator used when none is asked for ([`ObjectiveSpec::default_gradient`]).
    pub fn default_gradient(self, has_path_density: bool) -> Gradient {
        self.spec().default_gradient(has_path_density)
    }
}

/// What to build: the guide, the objective and its estimator of the KL part.
#[derive(Debug, Clone)]
pub struct ElboOptions {
    pub spec: GuideSpec,
    pub kl: KlMode,
    /// The number of training rows: the size of the free locals' tables.
    pub train_rows: usize,
    pub objective: Objective,
    /// The estimator; [`ElboOptions::gradient`] resolves the default.
    pub gradient: Option<Gradient>,
}

impl ElboOptions {
    /// The options that train `spec` as it asks: its objective and estimator.
    pub fn training(spec: &GuideSpec, kl: KlMode, train_rows: usize) -> ElboOptions {
        ElboOptions {
            spec: spec.clone(),
            kl,
            train_rows,
            objective: Objective::from_spec(spec.objective),
            gradient: spec.gradient,
        }
    }

    /// The same guide and model with the single-sample ELBO, for evaluation: its
    /// parameters are the training graph's, by name.
    pub fn evaluation(&self) -> ElboOptions {
        ElboOptions {
            objective: Objective::Elbo,
            gradient: None,
            ..self.clone()
        }
    }

    /// Refuses an estimator or KL mode the objective does not have.
    fn validate(&self) -> Result<(), GuideError> {
        let gradient = self.gradient();
        let fits = match self.objective {
            Objective::Elbo => gradient != Gradient::Dreg,
            Objective::Iwae { .. } => gradient != Gradient::Stl,
        };
        if !fits {
            return Err(GuideError::GradientFor {
                gradient: gradient.name(),
                objective: self.objective.describe(),
            });
        }
        if self.kl == KlMode::Analytic
            && (gradient != Gradient::Naive || self.objective != Objective::Elbo)
        {
            return Err(GuideError::AnalyticKl {
                what: format!(
                    "the {} with the `{}` gradient",
                    self.objective.describe(),
                    gradient.name()
                ),
            });
        }
        Ok(())
    }

    /// The estimator asked for, or the objective's default.
    pub fn gradient(&self) -> Gradient {
        self.gradient.unwrap_or_else(|| {
            self.objective
                .default_gradient(self.spec.has_path_density())
        })
    }
}

/// The options a model asks for, with `train_rows` training rows.
pub fn options_for(info: &ModelInfo, train_rows: usize) -> ElboOptions {
    ElboOptions {
        spec: info.guide.clone(),
        kl: KlMode::Sampled,
        train_rows,
        objective: Objective::Elbo,
        gradient: None,
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
    /// Whether the objective couples a batch's rows: the importance-weighted bound with
    /// globals, whose sample blocks each share one draw of the globals. A session then
    /// fills the globals' noise once per block and runs each step on one thread.
    pub joint_blocks: bool,
    /// Constrained values of the globals, `[R, width]`, in declaration order.
    pub globals: Vec<(SymbolId, NodeId)>,
    /// Constrained values of the local latents, `[R, width]`.
    pub locals: Vec<(SymbolId, NodeId)>,
    /// Per local latent, the guide's diagonal Gaussian `(loc, scale)` when that is its
    /// exact distribution (`real`, no flow), for `vic encode`.
    pub local_gaussians: Vec<(SymbolId, Option<(NodeId, NodeId)>)>,
}

/// Every group's log q at its sample with the guide's parameters held fixed (one per
/// group, locals then globals), or the error naming why `gradient` cannot be built.
fn path_log_q(
    graph: &mut Graph,
    guide: &guide::Guide,
    gradient: Gradient,
) -> Result<PathLogQ, GuideError> {
    let mut of_groups = |groups: &[guide::Group]| {
        groups
            .iter()
            .map(|g| g.path_log_q(graph))
            .collect::<Option<Vec<NodeId>>>()
            .ok_or(GuideError::NoPathDensity {
                gradient: gradient.name(),
            })
    };
    let locals = of_groups(&guide.locals)?;
    let globals = of_groups(guide.globals.as_slice())?;
    Ok(PathLogQ { locals, globals })
}

/// The groups' path log q (see [`guide::Group::path_log_q`]).
#[derive(Debug, Clone)]
pub struct PathLogQ {
    pub locals: Vec<NodeId>,
    pub globals: Vec<NodeId>,
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
    let gradient = options.gradient();
    options.validate()?;
    let needs_fixed_sample = gradient == Gradient::Dreg;
    let mut fixed = bindings.clone();
    if needs_fixed_sample {
        for draw in guide.local_draws().chain(guide.global_draws()) {
            let stopped = graph.stop_gradient(draw.value);
            fixed.bind(draw.symbol, stopped);
        }
    }
    let lowerings: Vec<&Bindings> = if needs_fixed_sample {
        vec![&bindings, &fixed]
    } else {
        vec![&bindings]
    };
    let mut joints = lower::lower_each(model, info, &mut graph, &lowerings);
    let at_fixed = (joints.len() > 1).then(|| joints.remove(1));
    let joint = joints.remove(0);
    let estimator = match gradient {
        Gradient::Naive => None,
        Gradient::Stl | Gradient::Dreg => Some(path_log_q(&mut graph, &guide, gradient)?),
    };
    let parts = match options.objective {
        Objective::Elbo => elbo::assemble(
            &mut graph,
            info,
            &guide,
            &joint,
            options.kl,
            estimator.as_ref(),
        ),
        Objective::Iwae { k } => iwae::assemble(
            &mut graph,
            info,
            &guide,
            &joint,
            k,
            estimator.as_ref().zip(at_fixed.as_ref()),
        ),
    };
    let scale = parts
        .scale
        .unwrap_or_else(|| MinibatchScale::declare(&mut graph));
    let objective = scale.apply(&mut graph, parts.local, parts.global);

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
        joint_blocks: parts.scale.is_some(),
        local: parts.local,
        global: parts.global,
        objective,
    })
}
