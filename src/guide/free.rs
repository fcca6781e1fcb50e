//! Free per-row locals (`eta: free`): a table of locations and raw scales with one row
//! per training row, gathered by the batch's row indices, each latent its own group.
//!
//! The tables exist only for the training rows, so a graph with free locals evaluates
//! only the data it was trained on; the session refuses other data.

use crate::check::{FlowSpec, ModelInfo, SymbolId};
use crate::ir::{Graph, Init, InputId, Leaf, NoiseId, Shape, Unary};

use super::draw::{blame, gaussian_group};
use super::{Group, INIT_RAW_SCALE};

/// The free locals' draws and the leaves a session feeds.
pub(super) struct Tables {
    /// `[R, 1]`: each batch row's index into the tables.
    pub row_index: Leaf<InputId>,
    pub groups: Vec<Group>,
    pub noise: Vec<(SymbolId, Leaf<NoiseId>)>,
}

/// Builds the tables of `free` (in declaration order) for `train_rows` rows.
pub(super) fn build(
    graph: &mut Graph,
    info: &ModelInfo,
    free: &[SymbolId],
    train_rows: usize,
) -> Tables {
    blame(graph, info, free[0]);
    let row_index = graph.input_leaf("row", Shape::batch(1), false);
    let mut groups = Vec::new();
    let mut noise = Vec::new();
    for &id in free {
        blame(graph, info, id);
        let symbol = info.symbol(id);
        let w = symbol.shape.width();
        let name = format!("guide.{}", symbol.name);
        let loc_table = graph.param(format!("{name}.loc"), train_rows, w, Init::Const(0.0));
        let scale_table = graph.param(
            format!("{name}.scale"),
            train_rows,
            w,
            Init::Const(INIT_RAW_SCALE),
        );
        let loc = graph.gather_rows(loc_table, row_index.node);
        let raw = graph.gather_rows(scale_table, row_index.node);
        let scale = graph.unary(Unary::Softplus, raw);
        let eps = graph.noise_leaf(format!("{name}.eps"), Shape::batch(w));
        let group = gaussian_group(
            graph,
            info,
            &[id],
            loc,
            scale,
            eps.node,
            FlowSpec::None,
            "",
            None,
        );
        groups.push(group);
        noise.push((id, eps));
    }
    Tables {
        row_index,
        groups,
        noise,
    }
}
