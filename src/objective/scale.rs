//! Minibatch scaling: the per-row parts of a bound become one scalar,
//! Σ_r (local_r · N/R + global_r / R), an unbiased estimate of the bound of all N rows
//! from a batch of R rows (each global draw's term counted once on average).
//!
//! The two factors are `[1, 1]` inputs, so one graph serves every batch size; this
//! module owns both the nodes and the values a session writes into them.

use crate::ir::{Graph, InputId, Leaf, NodeId, Shape};

/// The two scale inputs of an objective graph.
#[derive(Debug, Clone, Copy)]
pub struct MinibatchScale {
    /// N / R, multiplying the per-row local part.
    pub local: Leaf<InputId>,
    /// 1 / R, multiplying the per-row global part.
    pub global: Leaf<InputId>,
}

impl MinibatchScale {
    /// Declares the scale inputs.
    pub fn declare(graph: &mut Graph) -> MinibatchScale {
        MinibatchScale {
            local: graph.input_leaf("scale.local", Shape::SCALAR, false),
            global: graph.input_leaf("scale.global", Shape::SCALAR, false),
        }
    }

    /// The scalar objective Σ_r (local_r · `scale.local` + global_r · `scale.global`).
    pub fn apply(self, graph: &mut Graph, local: NodeId, global: NodeId) -> NodeId {
        let scaled_local = graph.mul(local, self.local.node);
        let scaled_global = graph.mul(global, self.global.node);
        let per_row = graph.add(scaled_local, scaled_global);
        let objective = graph.sum_rows(per_row);
        graph.label(objective, "elbo");
        objective
    }

    /// The values of (`scale.local`, `scale.global`) for a batch of `batch_rows` graph
    /// rows standing for `total_rows` rows of data.
    pub fn factors(batch_rows: usize, total_rows: usize) -> (f32, f32) {
        (
            total_rows as f32 / batch_rows as f32,
            1.0 / batch_rows as f32,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn factors_make_a_batch_stand_for_the_data() {
        // 25 rows standing for 100: each local term counts 4 times, the globals'
        // mean once.
        assert_eq!(MinibatchScale::factors(25, 100), (4.0, 0.04));
        assert_eq!(MinibatchScale::factors(100, 100), (1.0, 0.01));
    }
}
