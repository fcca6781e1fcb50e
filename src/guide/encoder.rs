//! The amortized encoder: one MLP from a row's data to the location and softplus scale
//! of every amortized local latent, q(z|x) = N(μ(x), diag σ(x)²), drawn as one group
//! (optionally through the guide's flow, whose per-row inputs it also emits: an amortized
//! flow's step parameters, or IAF's context vector).
//!
//! Its nodes are blamed on the first amortized latent's declaration; the encoder never
//! reads latents or parameters of the model.

use crate::check::{GuideSpec, ModelInfo, SymbolId};
use crate::ir::{Graph, Leaf, NodeId, NoiseId, Shape, Unary};
use crate::lower;

use super::Group;
use super::draw::{blame, gaussian_group};
use super::flow;

/// Builds the encoder for `amortized` (in declaration order) reading `data`, and
/// returns the drawn group with its noise leaf.
pub(super) fn build(
    graph: &mut Graph,
    info: &ModelInfo,
    spec: &GuideSpec,
    amortized: &[SymbolId],
    data: &[NodeId],
) -> (Group, Leaf<NoiseId>) {
    blame(graph, info, amortized[0]);
    let x = graph.concat_cols(data);
    let width: usize = amortized
        .iter()
        .map(|&id| info.symbol(id).shape.width())
        .sum();
    // After the locations and scales the encoder emits what the flow reads per row:
    // an amortized flow's step parameters, or IAF's context.
    let flow_columns = flow::encoder_columns(spec.flow, width);
    let mut widths = vec![info.data_width()];
    widths.extend(&spec.encoder_hidden);
    widths.push(2 * width + flow_columns);
    let layers = graph.mlp_params("guide.encoder", &widths);
    let activation = lower::activation_op(spec.encoder_activation);
    let out = graph.apply_mlp(x, &layers, activation);
    let loc = graph.slice_cols(out, 0, width);
    let raw_scale = graph.slice_cols(out, width, 2 * width);
    let scale = graph.unary(Unary::Softplus, raw_scale);
    let encoded = (flow_columns > 0).then(|| {
        let c = graph.slice_cols(out, 2 * width, 2 * width + flow_columns);
        let role = if spec.flow.amortized() {
            "guide.flow_params"
        } else {
            "guide.context"
        };
        graph.label(c, role)
    });
    graph.label(loc, "guide.loc");
    graph.label(scale, "guide.scale");
    let eps = graph.noise_leaf("guide.eps", Shape::batch(width));
    let group = gaussian_group(
        graph,
        info,
        amortized,
        loc,
        scale,
        eps.node,
        spec.flow,
        "guide.flow",
        encoded,
    );
    (group, eps)
}
