//! Reverse-mode automatic differentiation over an [`ir::Graph`](crate::ir::Graph).
//!
//! An [`Executor`] owns a graph and two arenas, one of values and one of gradients, each
//! node at a fixed offset sized for `max_rows` batch rows; a batch of fewer rows uses a
//! prefix of each node's region. Parameters come FIRST and contiguously, in declaration
//! order, so [`Executor::params`] and [`Executor::param_grads`] are arena prefixes the
//! optimizer updates in place; every other node follows in topological order, so each
//! node's operands live below it and `split_at_mut` gives safe simultaneous access.
//! Constants are written once at construction.
//!
//! Invariants: autodiff never allocates after construction (forward and backward
//! allocate only matrixmultiply's packing buffer inside each product); it never
//! reorders or rewrites the graph; it never reads a node's value before the node's
//! operands have been computed. The kernels are generic over [`Real`]: `f32` for
//! training, `f64` for finite-difference checks.

mod backward;
mod broadcast;
pub mod check;
mod density;
mod forward;
pub mod isa;
mod real;
pub mod special;

pub use check::{GradientMismatch, Tolerance, check_gradients};
pub use real::{Layout, Real, exp_f32, ln_f32, tanh_f32};

use std::ops::Range;

use rand::RngExt;

use crate::ir::{Graph, Init, InputId, NodeId, NoiseId, Op, ParamId};
use broadcast::{Arg, Grid};

/// Where each node lives in the arenas, and the batch size the next pass runs at.
#[derive(Debug)]
struct Plan<'g> {
    graph: &'g Graph,
    offsets: &'g [usize],
    needs: &'g [bool],
    rows: usize,
}

impl Plan<'_> {
    fn is_leaf(&self, id: usize) -> bool {
        is_leaf(self.graph.nodes()[id].op)
    }

    /// Node `id`'s dimensions at the current batch size.
    fn grid(&self, id: usize) -> Grid {
        let shape = self.graph.nodes()[id].shape;
        Grid {
            rows: shape.rows_at(self.rows),
            cols: shape.cols,
        }
    }

    fn range(&self, id: usize) -> Range<usize> {
        self.offsets[id]..self.offsets[id] + self.grid(id).len()
    }

    /// Node `id`'s current value (or gradient) in `arena`.
    fn arg<'a, T>(&self, arena: &'a [T], id: usize) -> Arg<'a, T> {
        let grid = self.grid(id);
        Arg {
            data: &arena[self.range(id)],
            rows: grid.rows,
            cols: grid.cols,
        }
    }

    /// The gradient of operand `k` of node `id` within `below` (the arena below the
    /// node), if the operand takes one.
    fn operand_grad<'a, T>(&self, id: usize, k: usize, below: &'a mut [T]) -> Option<&'a mut [T]> {
        let operand = self.graph.nodes()[id].inputs[k].index();
        if !self.needs[operand] || !self.graph.passes_grad(NodeId(id as u32), k) {
            return None;
        }
        Some(&mut below[self.range(operand)])
    }
}

fn is_leaf(op: Op) -> bool {
    matches!(
        op,
        Op::Param(_) | Op::Input(_) | Op::Noise(_) | Op::Const(_)
    )
}

/// Runs a graph forward and backward on preallocated arenas; see the module docs.
#[derive(Debug, Clone)]
pub struct Executor<T: Real = f32> {
    graph: Graph,
    offsets: Vec<usize>,
    needs: Vec<bool>,
    values: Vec<T>,
    grads: Vec<T>,
    param_len: usize,
    max_rows: usize,
    rows: usize,
}

impl<T: Real> Executor<T> {
    /// Lays out and allocates every buffer once, for batches of up to `max_rows` rows.
    pub fn new(graph: Graph, max_rows: usize) -> Self {
        assert!(
            max_rows >= 1,
            "internal: an executor needs at least one row"
        );
        let param_len = graph.param_count();
        let mut offsets = vec![0; graph.len()];
        let mut cursor = 0;
        for p in graph.params() {
            offsets[p.node.index()] = cursor;
            cursor += p.len();
        }
        for (id, node) in graph.nodes().iter().enumerate() {
            if !matches!(node.op, Op::Param(_)) {
                offsets[id] = cursor;
                cursor += node.shape.len_at(max_rows);
            }
        }
        let mut values = vec![T::ZERO; cursor];
        for (id, node) in graph.nodes().iter().enumerate() {
            if let Op::Const(c) = node.op {
                let consts = &graph.const_info(c).values;
                let dst = &mut values[offsets[id]..offsets[id] + consts.len()];
                for (d, &v) in dst.iter_mut().zip(consts) {
                    *d = T::from_f32(v);
                }
            }
        }
        let needs = graph.needs_grad();
        Executor {
            graph,
            offsets,
            needs,
            grads: vec![T::ZERO; cursor],
            values,
            param_len,
            max_rows,
            rows: max_rows,
        }
    }

    pub fn graph(&self) -> &Graph {
        &self.graph
    }

    pub fn max_rows(&self) -> usize {
        self.max_rows
    }

    /// Sets the current batch size; buffers are not reallocated (prefixes are used).
    pub fn set_rows(&mut self, rows: usize) {
        assert!(
            (1..=self.max_rows).contains(&rows),
            "internal: batch of {rows} rows for an executor of at most {}",
            self.max_rows
        );
        self.rows = rows;
    }

    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Every parameter as one flat vector, in declaration order, each row-major.
    pub fn params(&self) -> &[T] {
        &self.values[..self.param_len]
    }

    pub fn params_mut(&mut self) -> &mut [T] {
        &mut self.values[..self.param_len]
    }

    /// The parameters to update and their gradients, borrowed together for an
    /// optimizer step.
    pub fn params_and_grads_mut(&mut self) -> (&mut [T], &[T]) {
        (
            &mut self.values[..self.param_len],
            &self.grads[..self.param_len],
        )
    }

    /// Adds another executor's parameter gradients (of the same graph) to this one's:
    /// how a data-parallel step sums its halves, in the caller's fixed order.
    pub fn add_param_grads(&mut self, other: &[T]) {
        assert_eq!(
            other.len(),
            self.param_len,
            "internal: gradients of another graph"
        );
        for (g, &o) in self.grads[..self.param_len].iter_mut().zip(other) {
            *g += o;
        }
    }

    /// Where parameter `id` lives in [`Executor::params`] and [`Executor::param_grads`].
    pub fn param_range(&self, id: ParamId) -> Range<usize> {
        let info = self.graph.param_info(id);
        let start = self.offsets[info.node.index()];
        start..start + info.len()
    }

    /// d output / d params of the last [`Executor::backward`], laid out like `params`.
    pub fn param_grads(&self) -> &[T] {
        &self.grads[..self.param_len]
    }

    /// Draws every parameter from its [`Init`] rule.
    pub fn init_params(&mut self, rng: &mut impl rand::Rng) {
        for (i, info) in self.graph.params().iter().enumerate() {
            let range = self.param_range(ParamId(i as u32));
            let dst = &mut self.values[range];
            match info.init {
                Init::Const(v) => dst.fill(T::from_f32(v)),
                Init::Values(id) => {
                    for (d, &v) in dst.iter_mut().zip(self.graph.init_values(id)) {
                        *d = T::from_f32(v);
                    }
                }
                Init::Uniform { bound } => {
                    let a = f64::from(bound);
                    for d in dst {
                        *d = T::from_f64(rng.random_range(-a..a));
                    }
                }
                Init::Normal { std } => {
                    let normal = rand_distr::Normal::new(0.0, f64::from(std))
                        .expect("internal: a normal init has a finite, non-negative std");
                    for d in dst {
                        *d = T::from_f64(rand_distr::Distribution::sample(&normal, rng));
                    }
                }
            }
        }
    }

    fn plan(&self) -> Plan<'_> {
        Plan {
            graph: &self.graph,
            offsets: &self.offsets,
            needs: &self.needs,
            rows: self.rows,
        }
    }

    fn leaf_mut(&mut self, node: NodeId) -> &mut [T] {
        let range = self.plan().range(node.index());
        &mut self.values[range]
    }

    /// The current batch's values of an input, `shape.len_at(rows)` long.
    pub fn input_mut(&mut self, id: InputId) -> &mut [T] {
        let node = self.graph.input_info(id).node;
        self.leaf_mut(node)
    }

    /// The current batch's standard-normal draws of a noise leaf.
    pub fn noise_mut(&mut self, id: NoiseId) -> &mut [T] {
        let node = self.graph.noise_info(id).node;
        self.leaf_mut(node)
    }

    /// Computes every node's value, in topological order.
    pub fn forward(&mut self) {
        let plan = Plan {
            graph: &self.graph,
            offsets: &self.offsets,
            needs: &self.needs,
            rows: self.rows,
        };
        isa::forward(&plan, &mut self.values);
    }

    /// A node's current value, `shape.len_at(rows)` long.
    pub fn value(&self, node: NodeId) -> &[T] {
        &self.values[self.plan().range(node.index())]
    }

    /// Gradients of the sum of `output`'s elements (d output = 1 everywhere) with
    /// respect to every node that needs one. Call after [`Executor::forward`].
    pub fn backward(&mut self, output: NodeId) {
        let plan = Plan {
            graph: &self.graph,
            offsets: &self.offsets,
            needs: &self.needs,
            rows: self.rows,
        };
        isa::backward(&plan, output, &self.values, &mut self.grads);
    }

    /// From now on the backward pass also differentiates with respect to the noise
    /// leaves ([`Executor::grad`] of a noise node).
    pub fn differentiate_noise(&mut self) {
        self.needs = self.graph.needs_grad_from(true);
    }

    /// The gradient of the last backward's output with respect to a node (zero for
    /// nodes without `needs_grad`).
    pub fn grad(&self, node: NodeId) -> &[T] {
        &self.grads[self.plan().range(node.index())]
    }

    /// The first node, in topological order, whose current value has a NaN or an
    /// infinity: where a diverging run went wrong.
    pub fn first_non_finite(&self) -> Option<NodeId> {
        (0..self.graph.len())
            .map(|id| NodeId(id as u32))
            .find(|&id| self.value(id).iter().any(|v| !v.is_finite()))
    }
}
