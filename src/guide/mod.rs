//! The automatic guide and the ELBO graph (SPEC sections 3 and 4).
//!
//! From a checked model this builds, in one graph, the guide's samples and the
//! reparameterized ELBO, so that one backward pass yields every gradient:
//! - **amortized locals**: an encoder MLP reads each row's data (declarations
//!   concatenated in order) and outputs a location and a softplus scale for every
//!   local latent, q(z|x) = N(μ(x), diag σ(x)²) (Rezende et al. 2014; Kingma & Welling
//!   2013), optionally followed by a normalizing flow ([`flow`]);
//! - **free locals** (`eta: free`): a location and a scale per training row, gathered by
//!   row index;
//! - **globals**: a mean-field or full-rank Gaussian (ADVI, Kucukelbir et al. 2017),
//!   one independent draw per batch row, optionally followed by a flow.
//!
//! Guide samples live in unconstrained space and are mapped to each latent's support
//! (`exp` for positive, `sigmoid` for unit) with the log-Jacobian folded into log q.
//! The model's log joint is then lowered with the latents bound to these samples.
//!
//! The graph's outputs are per row: `local` = log p(x_i, z_i | w) − log q(z_i | x_i)
//! (`[R, 1]`) and `global` = log p(w) − log q(w) for that row's draw of the globals, and
//! the scalar objective Σ_r (local_r · N/R + global_r / R), an unbiased estimate of
//! the ELBO of the whole data set whose scale factors are inputs set per batch.
//!
//! Building never fails on a checked model, except for guide settings this version
//! cannot build, which [`GuideError`] names.

pub mod flow;

use thiserror::Error;

use crate::check::{FlowSpec, GlobalsMode, GuideSpec, ModelInfo, SymbolId, SymbolKind};
use crate::dist::transform::Transform;
use crate::dist::{Elem, Family};
use crate::ir::{Graph, Init, NodeId, Shape, Unary};
use crate::lower::{self, Bindings, LogJoint, Role, value_shape};
use crate::syntax::ast::Model;

use flow::FlowKind;

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

/// What to build.
#[derive(Debug, Clone)]
pub struct GuideOptions {
    pub spec: GuideSpec,
    pub kl: KlMode,
    /// The number of training rows: the size of the free locals' tables.
    pub train_rows: usize,
}

#[derive(Debug, Clone, Error, PartialEq, Eq)]
pub enum GuideError {
    #[error("the `iaf` flow is not available in this version; use `planar` or `radial`")]
    IafUnavailable,
}

/// The ELBO graph and the nodes the training loop feeds and reads.
#[derive(Debug, Clone)]
pub struct ElboGraph {
    pub graph: Graph,
    pub joint: LogJoint,
    /// The input node of every data declaration, in declaration order.
    pub data: Vec<(SymbolId, NodeId)>,
    /// `[R, 1]` training-row indices, present when a local is `free`.
    pub row_index: Option<NodeId>,
    /// `[1, 1]` inputs: N / R and 1 / R.
    pub local_scale: NodeId,
    pub global_scale: NodeId,
    /// `[R, 1]`: log p(x_i, z_i | w) − log q(z_i | x_i).
    pub local: NodeId,
    /// `[R, 1]` (or `[1, 1]` zero without globals): log p(w) − log q(w).
    pub global: NodeId,
    /// `[1, 1]`: the ELBO estimate the optimizer ascends.
    pub objective: NodeId,
    /// Constrained values of the globals, `[R, width]`, in declaration order.
    pub globals: Vec<(SymbolId, NodeId)>,
    /// Constrained values of the local latents, `[R, width]`.
    pub locals: Vec<(SymbolId, NodeId)>,
}

/// One latent's draw from the guide.
struct Draw {
    symbol: SymbolId,
    /// On the latent's support.
    value: NodeId,
    /// `[R, 1]` log q of this latent alone, on the constrained scale; `None` when the
    /// latent's density is only known jointly with others (after a flow or full-rank).
    log_q: Option<NodeId>,
    /// The diagonal Gaussian it was drawn from, when nothing but the identity follows.
    gaussian: Option<(NodeId, NodeId)>,
}

/// Builds the ELBO graph of a checked model.
pub fn build(
    model: &Model,
    info: &ModelInfo,
    options: &GuideOptions,
) -> Result<ElboGraph, GuideError> {
    let spec = &options.spec;
    let mut graph = Graph::new();
    let mut bindings = Bindings::new(info);

    let data: Vec<(SymbolId, NodeId)> = info
        .of_kind(|k| matches!(k, SymbolKind::Data))
        .map(|(id, s)| {
            graph.set_origin(Some(s.span));
            let node = graph.input(s.name.clone(), value_shape(s.shape), false);
            (id, node)
        })
        .collect();
    graph.set_origin(None);
    for &(id, node) in &data {
        bindings.bind(id, node);
    }

    let amortized: Vec<SymbolId> = info
        .of_kind(|k| matches!(k, SymbolKind::Latent { free: false, .. }))
        .map(|(id, _)| id)
        .collect();
    let free: Vec<SymbolId> = info
        .of_kind(|k| matches!(k, SymbolKind::Latent { free: true, .. }))
        .map(|(id, _)| id)
        .collect();
    let globals: Vec<SymbolId> = info
        .of_kind(|k| matches!(k, SymbolKind::Global { .. }))
        .map(|(id, _)| id)
        .collect();

    let local_flow = spec.flow;
    let global_flow = match (spec.global_flow, amortized.is_empty()) {
        (FlowSpec::None, true) => spec.flow,
        (explicit, _) => explicit,
    };

    let mut joint_log_q: Vec<NodeId> = Vec::new();
    let mut global_joint_log_q: Vec<NodeId> = Vec::new();
    let mut draws: Vec<Draw> = Vec::new();
    let mut global_draws: Vec<Draw> = Vec::new();

    if !amortized.is_empty() {
        let inputs: Vec<NodeId> = data.iter().map(|&(_, n)| n).collect();
        let x = graph.concat_cols(&inputs);
        let width: usize = amortized
            .iter()
            .map(|&id| info.symbol(id).shape.width())
            .sum();
        let mut widths = vec![info.data_width()];
        widths.extend(&spec.encoder_hidden);
        widths.push(2 * width);
        let layers = graph.mlp_params("guide.encoder", &widths);
        let activation = lower::activation_op(spec.encoder_activation);
        let out = graph.apply_mlp(x, &layers, activation);
        let loc = graph.slice_cols(out, 0, width);
        let raw_scale = graph.slice_cols(out, width, 2 * width);
        let scale = graph.unary(Unary::Softplus, raw_scale);
        graph.label(loc, "guide.loc");
        graph.label(scale, "guide.scale");
        let eps = graph.noise("guide.eps", Shape::batch(width));
        let group = gaussian_group(
            &mut graph,
            info,
            &amortized,
            loc,
            scale,
            eps,
            local_flow,
            "guide.flow",
        )?;
        joint_log_q.extend(group.1);
        draws.extend(group.0);
    }

    let row_index = (!free.is_empty()).then(|| graph.input("row", Shape::batch(1), false));
    for &id in &free {
        let symbol = info.symbol(id);
        let w = symbol.shape.width();
        let name = format!("guide.{}", symbol.name);
        let index = row_index.expect("internal: free locals have a row index");
        let loc_table = graph.param(
            format!("{name}.loc"),
            options.train_rows,
            w,
            Init::Const(0.0),
        );
        let scale_table = graph.param(
            format!("{name}.scale"),
            options.train_rows,
            w,
            Init::Const(INIT_RAW_SCALE),
        );
        let loc = graph.gather_rows(loc_table, index);
        let raw = graph.gather_rows(scale_table, index);
        let scale = graph.unary(Unary::Softplus, raw);
        let eps = graph.noise(format!("{name}.eps"), Shape::batch(w));
        let (group, _) =
            gaussian_group(&mut graph, info, &[id], loc, scale, eps, FlowSpec::None, "")?;
        draws.extend(group);
    }

    if !globals.is_empty() {
        let width: usize = globals
            .iter()
            .map(|&id| info.symbol(id).shape.width())
            .sum();
        let loc = graph.param("guide.globals.loc", 1, width, Init::Const(0.0));
        let eps = graph.noise(GLOBAL_NOISE, Shape::batch(width));
        let group = match spec.globals {
            GlobalsMode::MeanField => {
                let raw = graph.param("guide.globals.scale", 1, width, Init::Const(INIT_RAW_SCALE));
                let scale = graph.unary(Unary::Softplus, raw);
                gaussian_group(
                    &mut graph,
                    info,
                    &globals,
                    loc,
                    scale,
                    eps,
                    global_flow,
                    "guide.global_flow",
                )?
            }
            GlobalsMode::Full => {
                full_rank_group(&mut graph, info, &globals, loc, eps, width, global_flow)?
            }
        };
        global_joint_log_q.extend(group.1);
        global_draws.extend(group.0);
    }

    for draw in draws.iter().chain(&global_draws) {
        bindings.bind(draw.symbol, draw.value);
    }
    let joint = lower::lower(model, info, &mut graph, &bindings);

    // Assemble the two per-row parts of the ELBO.
    let mut local_parts = Vec::new();
    let mut global_parts = Vec::new();
    for term in &joint.terms {
        if term.role == Role::Likelihood {
            local_parts.push(term.log_density);
        }
    }
    for (draws, parts, role) in [
        (&draws, &mut local_parts, Role::Local),
        (&global_draws, &mut global_parts, Role::Global),
    ] {
        for draw in draws.iter() {
            let term = joint
                .term(draw.symbol)
                .expect("internal: every latent has a prior term");
            debug_assert_eq!(term.role, role);
            let analytic = options.kl == KlMode::Analytic && term.family == Family::Normal;
            match (analytic, draw.gaussian, draw.log_q) {
                (true, Some((q_loc, q_scale)), Some(_)) => {
                    let kl = graph.kl_normal(q_loc, q_scale, term.args[0], term.args[1]);
                    let kl = graph.sum_cols(kl);
                    let neg = graph.unary(Unary::Neg, kl);
                    parts.push(neg);
                }
                (_, _, log_q) => {
                    parts.push(term.log_density);
                    if let Some(log_q) = log_q {
                        let neg = graph.unary(Unary::Neg, log_q);
                        parts.push(neg);
                    }
                }
            }
        }
    }
    for &q in &joint_log_q {
        let neg = graph.unary(Unary::Neg, q);
        local_parts.push(neg);
    }
    for &q in &global_joint_log_q {
        let neg = graph.unary(Unary::Neg, q);
        global_parts.push(neg);
    }
    let local =
        lower::sum_nodes(&mut graph, &local_parts).expect("internal: a model has a likelihood");
    graph.label(local, "elbo.local");
    let global = match lower::sum_nodes(&mut graph, &global_parts) {
        Some(node) => node,
        None => graph.scalar(0.0),
    };
    graph.label(global, "elbo.global");
    let local_scale = graph.input("scale.local", Shape::SCALAR, false);
    let global_scale = graph.input("scale.global", Shape::SCALAR, false);
    let scaled_local = graph.mul(local, local_scale);
    let scaled_global = graph.mul(global, global_scale);
    let per_row = graph.add(scaled_local, scaled_global);
    let objective = graph.sum_rows(per_row);
    graph.label(objective, "elbo");

    let value_of = |draws: &[Draw]| {
        draws
            .iter()
            .map(|d| (d.symbol, d.value))
            .collect::<Vec<_>>()
    };
    Ok(ElboGraph {
        locals: value_of(&draws),
        globals: value_of(&global_draws),
        graph,
        joint,
        data,
        row_index,
        local_scale,
        global_scale,
        local,
        global,
        objective,
    })
}

/// The name of the noise leaf behind the globals' draws, which evaluation shares
/// across rows for the joint importance-weighted bound.
pub const GLOBAL_NOISE: &str = "guide.globals.eps";

/// softplus(−2.25) ≈ 0.1: the initial scale of free locals and globals, small enough
/// that early samples stay near the location, as Pyro's `AutoNormal` does.
const INIT_RAW_SCALE: f32 = -2.25;

/// Draws `symbols` (side by side) as `loc + scale · eps`, then the flow, then each
/// latent's transform to its support. Returns the draws and, when the flow makes the
/// density joint, the group's joint log q.
#[allow(clippy::too_many_arguments)]
fn gaussian_group(
    graph: &mut Graph,
    info: &ModelInfo,
    symbols: &[SymbolId],
    loc: NodeId,
    scale: NodeId,
    eps: NodeId,
    flow_spec: FlowSpec,
    flow_name: &str,
) -> Result<(Vec<Draw>, Option<NodeId>), GuideError> {
    let spread = graph.mul(scale, eps);
    let u0 = graph.add(loc, spread);
    match flow_kind(flow_spec)? {
        None => {
            let mut draws = Vec::new();
            let mut start = 0;
            for &id in symbols {
                let w = info.symbol(id).shape.width();
                let u = graph.slice_cols(u0, start, start + w);
                let l = graph.slice_cols(loc, start, start + w);
                let s = graph.slice_cols(scale, start, start + w);
                start += w;
                let density = graph.log_density(Family::Normal, u, &[l, s]);
                let log_q_u = graph.sum_cols(density);
                let (value, log_q) = to_support(graph, info, id, u, log_q_u);
                draws.push(Draw {
                    symbol: id,
                    value,
                    log_q: Some(log_q),
                    gaussian: (info.symbol(id).elem == Elem::Real).then_some((l, s)),
                });
            }
            Ok((draws, None))
        }
        Some((kind, steps)) => {
            let density = graph.log_density(Family::Normal, u0, &[loc, scale]);
            let log_q0 = graph.sum_cols(density);
            let flowed = flow::apply(graph, kind, steps, u0, flow_name);
            let log_q = match flowed.log_det {
                Some(ld) => graph.sub(log_q0, ld),
                None => log_q0,
            };
            let (draws, log_q) = split_joint(graph, info, symbols, flowed.z, log_q);
            Ok((draws, Some(log_q)))
        }
    }
}

/// Globals drawn jointly from N(loc, L Lᵀ), L lower-triangular with a softplus
/// diagonal: u = loc + eps · Lᵀ, log q(u) = Σ log N(eps) − Σ log L_ii.
fn full_rank_group(
    graph: &mut Graph,
    info: &ModelInfo,
    symbols: &[SymbolId],
    loc: NodeId,
    eps: NodeId,
    d: usize,
    flow_spec: FlowSpec,
) -> Result<(Vec<Draw>, Option<NodeId>), GuideError> {
    let raw = graph.param("guide.globals.chol", d, d, Init::Const(0.0));
    let mut strict = vec![0.0f32; d * d];
    let mut identity = vec![0.0f32; d * d];
    for i in 0..d {
        identity[i * d + i] = 1.0;
        for j in 0..i {
            strict[i * d + j] = 1.0;
        }
    }
    let strict = graph.constant(d, d, strict);
    let identity = graph.constant(d, d, identity);
    let offset = graph.scalar(INIT_RAW_SCALE);
    let shifted = graph.add(raw, offset);
    let diag_all = graph.unary(Unary::Softplus, shifted);
    let diag = graph.mul(diag_all, identity);
    let lower_part = graph.mul(raw, strict);
    let chol = graph.add(lower_part, diag);
    graph.label(chol, "guide.globals.L");
    let log_diag_all = graph.unary(Unary::Log, diag_all);
    let log_diag = graph.mul(log_diag_all, identity);
    let log_diag_rows = graph.sum_rows(log_diag);
    let log_det_l = graph.sum_cols(log_diag_rows);

    let spread = graph.matmul_t(eps, chol, false, true);
    let u0 = graph.add(loc, spread);
    let zero = graph.scalar(0.0);
    let one = graph.scalar(1.0);
    let eps_density = graph.log_density(Family::Normal, eps, &[zero, one]);
    let eps_log = graph.sum_cols(eps_density);
    let mut log_q = graph.sub(eps_log, log_det_l);
    let mut u = u0;
    if let Some((kind, steps)) = flow_kind(flow_spec)? {
        let flowed = flow::apply(graph, kind, steps, u0, "guide.global_flow");
        u = flowed.z;
        if let Some(ld) = flowed.log_det {
            log_q = graph.sub(log_q, ld);
        }
    }
    let (draws, log_q) = split_joint(graph, info, symbols, u, log_q);
    Ok((draws, Some(log_q)))
}

/// Splits a jointly drawn `[R, Σ widths]` sample into the latents and maps each to its
/// support, folding every log-Jacobian into the joint log q.
fn split_joint(
    graph: &mut Graph,
    info: &ModelInfo,
    symbols: &[SymbolId],
    z: NodeId,
    log_q: NodeId,
) -> (Vec<Draw>, NodeId) {
    let mut log_q = log_q;
    let mut draws = Vec::new();
    let mut start = 0;
    for &id in symbols {
        let w = info.symbol(id).shape.width();
        let u = graph.slice_cols(z, start, start + w);
        start += w;
        let (value, adjusted) = to_support(graph, info, id, u, log_q);
        log_q = adjusted;
        draws.push(Draw {
            symbol: id,
            value,
            log_q: None,
            gaussian: None,
        });
    }
    (draws, log_q)
}

/// Maps an unconstrained sample `u` to the latent's support and returns the value and
/// log q on the constrained scale: log q(z) = log q(u) − log |dz/du|.
fn to_support(
    graph: &mut Graph,
    info: &ModelInfo,
    id: SymbolId,
    u: NodeId,
    log_q_u: NodeId,
) -> (NodeId, NodeId) {
    let symbol = info.symbol(id);
    let transform = Transform::of(symbol.elem);
    let value = transform.forward_graph(graph, u);
    let log_jacobian = transform.log_jacobian_graph(graph, u);
    graph.label(value, symbol.name.clone());
    match log_jacobian {
        Some(lj) => (value, graph.sub(log_q_u, lj)),
        None => (value, log_q_u),
    }
}

fn flow_kind(spec: FlowSpec) -> Result<Option<(FlowKind, usize)>, GuideError> {
    match spec {
        FlowSpec::None => Ok(None),
        FlowSpec::Planar(k) => Ok(Some((FlowKind::Planar, k))),
        FlowSpec::Radial(k) => Ok(Some((FlowKind::Radial, k))),
        FlowSpec::Iaf(_) => Err(GuideError::IafUnavailable),
    }
}

/// The guide options a model asks for, with `train_rows` training rows.
pub fn options_for(info: &ModelInfo, train_rows: usize) -> GuideOptions {
    GuideOptions {
        spec: info.guide.clone(),
        kl: KlMode::Sampled,
        train_rows,
    }
}
