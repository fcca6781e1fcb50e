//! Normalizing flows (Rezende & Mohamed 2015) as graph operations.
//!
//! A flow maps a guide sample `z` (a batch of `d`-vectors) through K invertible steps;
//! each step also yields its per-row log |det ∂f/∂z|, which the guide subtracts from
//! log q. Every flow implements [`Flow`] in its own file and is registered once in
//! [`FlowKind`]; [`apply`] chains the steps and sums their log-determinants. Steps are
//! parameterized so that each stays invertible whatever the optimizer does.
//!
//! This module builds graph nodes only: it never decides which latents a flow follows
//! (the guide's groups do) and never touches log q itself.

mod iaf;
mod planar;
mod radial;

use crate::check::FlowSpec;
use crate::ir::{Graph, Init, NodeId, Rows};

pub use iaf::{hidden_width as iaf_hidden_width, masks as iaf_masks};

/// One parameter of a flow step, which [`apply`] declares as `{name}.{k}.{suffix}`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StepParam {
    pub suffix: &'static str,
    pub rows: usize,
    pub cols: usize,
    pub init: Init,
}

/// What one step reads besides the sample.
#[derive(Debug, Clone, Copy)]
pub struct StepInputs<'a> {
    /// The step's parameters, in the order [`Flow::params`] declares them: `[1, cols]`
    /// nodes shared by every row, or an amortized flow's `[R, cols]` slices of the
    /// encoder's output.
    pub params: &'a [NodeId],
    /// A per-row `[R, c]` context vector (the encoder's, for flows conditioned on the
    /// data point such as IAF); the shared flows do not read it. When present, the
    /// parameters of [`Flow::context_params`] follow `params`.
    pub context: Option<NodeId>,
    /// The step's index in the flow, from 0 (IAF reverses its variable order on odd
    /// steps).
    pub index: usize,
}

/// One step's output.
#[derive(Debug, Clone, Copy)]
pub struct Step {
    /// `[R, d]`: the transformed sample.
    pub z: NodeId,
    /// `[R, 1]`: log |det ∂z'/∂z| per row.
    pub log_det: NodeId,
}

/// A kind of invertible step with a tractable log-determinant.
pub trait Flow {
    /// The parameters of one step on `d`-dimensional samples.
    fn params(&self, d: usize) -> Vec<StepParam>;

    /// The width of the per-row context the flow reads on `d`-dimensional amortized
    /// samples (which the encoder then emits), 0 for a flow that reads none.
    fn context_width(&self, _d: usize) -> usize {
        0
    }

    /// The extra parameters of one step that reads a `c`-wide context.
    fn context_params(&self, _d: usize, _c: usize) -> Vec<StepParam> {
        Vec::new()
    }

    /// One step applied to `z` (`[R, d]`).
    fn step(&self, graph: &mut Graph, z: NodeId, inputs: StepInputs<'_>) -> Step;
}

/// The registered flows: the one place a new flow is added besides its own file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlowKind {
    Planar,
    Radial,
    Iaf,
}

impl FlowKind {
    /// Every registered flow, for tests that check each one through the trait.
    pub const ALL: [FlowKind; 3] = [FlowKind::Planar, FlowKind::Radial, FlowKind::Iaf];
}

/// A flow as the guide builds it: the kind of step, how many, and its options.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlowPlan {
    pub kind: FlowKind,
    pub steps: usize,
    /// Every step's parameters come per row from the encoder's output (Rezende &
    /// Mohamed's amortized flows) instead of being shared by all rows. Only flows whose
    /// parameters are all row vectors can be amortized; [`FlowSpec`] allows it for
    /// planar and radial.
    pub amortized: bool,
    /// The MADE's hidden width for IAF; `None` for [`iaf::hidden_width`].
    pub hidden: Option<usize>,
}

impl FlowPlan {
    /// `steps` shared steps of `kind` with default options.
    pub fn new(kind: FlowKind, steps: usize) -> FlowPlan {
        FlowPlan {
            kind,
            steps,
            amortized: false,
            hidden: None,
        }
    }

    /// The flow a guide setting asks for, `None` for no flow.
    pub fn from_spec(spec: FlowSpec) -> Option<FlowPlan> {
        let (kind, steps, amortized, hidden) = match spec {
            FlowSpec::None => return None,
            FlowSpec::Planar { steps, amortized } => (FlowKind::Planar, steps, amortized, None),
            FlowSpec::Radial { steps, amortized } => (FlowKind::Radial, steps, amortized, None),
            FlowSpec::Iaf { steps, hidden } => (FlowKind::Iaf, steps, false, hidden),
        };
        Some(FlowPlan {
            kind,
            steps,
            amortized,
            hidden,
        })
    }

    /// The step's implementation.
    pub fn flow(&self) -> Box<dyn Flow> {
        match self.kind {
            FlowKind::Planar => Box::new(planar::Planar),
            FlowKind::Radial => Box::new(radial::Radial),
            FlowKind::Iaf => Box::new(iaf::Iaf {
                hidden: self.hidden,
            }),
        }
    }

    /// The columns the encoder emits for this flow on `d`-dimensional samples: every
    /// step's parameters when amortized, else the context the flow reads (IAF's), else
    /// none.
    pub fn encoder_columns(&self, d: usize) -> usize {
        let flow = self.flow();
        if self.amortized {
            let per_step: usize = flow.params(d).iter().map(|p| p.cols).sum();
            per_step * self.steps
        } else {
            flow.context_width(d)
        }
    }
}

/// The encoder columns a flow setting needs on `d`-dimensional amortized samples (what
/// `vic check` shows beside the encoder's location and scale).
pub fn encoder_columns(spec: FlowSpec, d: usize) -> usize {
    FlowPlan::from_spec(spec).map_or(0, |plan| plan.encoder_columns(d))
}

/// The output of a flow: the transformed sample and the summed log-determinant.
#[derive(Debug, Clone, Copy)]
pub struct FlowOutput {
    pub z: NodeId,
    /// `[R, 1]`: Σ_k log |det J_k| per row; `None` when the flow has no steps.
    pub log_det: Option<NodeId>,
}

/// Applies `plan` to `z` (`[R, d]`), with shared parameters named `{name}.{k}.*`.
/// `encoded` is the encoder's `[R, plan.encoder_columns(d)]` output for the flow (a
/// test may pass any per-row context to a flow that reads one): an amortized flow's
/// step parameters, sliced in step order, or the context.
pub fn apply(
    graph: &mut Graph,
    plan: FlowPlan,
    z: NodeId,
    name: &str,
    encoded: Option<NodeId>,
) -> FlowOutput {
    let flow = plan.flow();
    let d = graph.shape(z).cols;
    let (per_row, context) = match (plan.amortized, encoded) {
        (true, Some(e)) => (Some(e), None),
        (true, None) => panic!("internal: an amortized flow needs the encoder's output"),
        (false, context) => (None, context),
    };
    let mut z = z;
    let mut log_det: Option<NodeId> = None;
    let mut column = 0;
    for k in 0..plan.steps {
        let step_name = format!("{name}.{k}");
        let mut declared = flow.params(d);
        if let Some(c) = context {
            declared.extend(flow.context_params(d, graph.shape(c).cols));
        }
        let params: Vec<NodeId> = declared
            .iter()
            .map(|p| match per_row {
                Some(encoded) => {
                    let raw = graph.slice_cols(encoded, column, column + p.cols);
                    column += p.cols;
                    // The encoder's outputs start near zero: a constant initial value
                    // (radial's α̂) is its offset.
                    match p.init {
                        Init::Const(c) if c != 0.0 => {
                            let offset = graph.scalar(c);
                            graph.add(raw, offset)
                        }
                        _ => raw,
                    }
                }
                None => graph.param(format!("{step_name}.{}", p.suffix), p.rows, p.cols, p.init),
            })
            .collect();
        let step = flow.step(
            graph,
            z,
            StepInputs {
                params: &params,
                context,
                index: k,
            },
        );
        graph.label(step.z, step_name);
        z = step.z;
        log_det = Some(match log_det {
            None => step.log_det,
            Some(total) => graph.add(total, step.log_det),
        });
    }
    FlowOutput { z, log_det }
}

/// `Σ_j v_j w_j` per row, as an `[R, 1]` node: `v` and `w` are `[R, d]` or `[1, d]`
/// (shared parameters broadcast over the rows of a sample or of per-row parameters).
/// A shared `w` is one matrix product `v·wᵀ`; per-row parameters need the elementwise
/// product summed along the row.
fn row_dot(graph: &mut Graph, v: NodeId, w: NodeId) -> NodeId {
    if graph.shape(w).rows == Rows::Fixed(1) {
        return graph.matmul_t(v, w, false, true);
    }
    let product = graph.mul(v, w);
    graph.sum_cols(product)
}
