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
use crate::ir::{Graph, Init, NodeId};

use super::GuideError;

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
    /// nodes shared by every row (an amortized flow's would be `[R, cols]` slices of
    /// the encoder's output).
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

    /// The implementation of this kind.
    pub fn flow(self) -> &'static dyn Flow {
        match self {
            FlowKind::Planar => &planar::Planar,
            FlowKind::Radial => &radial::Radial,
            FlowKind::Iaf => &iaf::Iaf,
        }
    }

    /// The flow and its number of steps that a guide setting asks for, `None` for no
    /// flow, or the error for a flow this version cannot build.
    pub fn from_spec(spec: FlowSpec) -> Result<Option<(FlowKind, usize)>, GuideError> {
        match spec {
            FlowSpec::None => Ok(None),
            FlowSpec::Planar(k) => Ok(Some((FlowKind::Planar, k))),
            FlowSpec::Radial(k) => Ok(Some((FlowKind::Radial, k))),
            FlowSpec::Iaf(k) => Ok(Some((FlowKind::Iaf, k))),
        }
    }
}

/// The output of a flow: the transformed sample and the summed log-determinant.
#[derive(Debug, Clone, Copy)]
pub struct FlowOutput {
    pub z: NodeId,
    /// `[R, 1]`: Σ_k log |det J_k| per row; `None` when the flow has no steps.
    pub log_det: Option<NodeId>,
}

/// Applies `steps` steps of `kind` to `z` (`[R, d]`), with parameters named
/// `{name}.{k}.*` and the optional per-row `context`.
pub fn apply(
    graph: &mut Graph,
    kind: FlowKind,
    steps: usize,
    z: NodeId,
    name: &str,
    context: Option<NodeId>,
) -> FlowOutput {
    let flow = kind.flow();
    let d = graph.shape(z).cols;
    let mut z = z;
    let mut log_det: Option<NodeId> = None;
    for k in 0..steps {
        let step_name = format!("{name}.{k}");
        let mut declared = flow.params(d);
        if let Some(c) = context {
            declared.extend(flow.context_params(d, graph.shape(c).cols));
        }
        let params: Vec<NodeId> = declared
            .iter()
            .map(|p| {
                let name = format!("{step_name}.{}", p.suffix);
                graph.param(name, p.rows, p.cols, p.init)
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

/// `v · wᵀ` for two row vectors `[1, d]`, as a `[1, 1]` node.
fn row_dot(graph: &mut Graph, v: NodeId, w: NodeId) -> NodeId {
    graph.matmul_t(v, w, false, true)
}
