//! The intermediate representation: a computation graph over batched `f32` matrices.
//!
//! A [`Graph`] is an append-only list of [`Node`]s in topological order: a node's inputs
//! always have smaller ids, so evaluation is `for id in 0..n` and the backward pass
//! `for id in (0..n).rev()`. Every node's [`Shape`] is known when it is added. A shape
//! has a fixed number of columns and either a fixed number of rows or [`Rows::Batch`]
//! rows: one row per data row of the minibatch (times the number of Monte Carlo
//! samples). The batch size is the only thing not known when the graph is built.
//!
//! The leaves say where numbers come from:
//! - a **parameter** ([`Op::Param`]) is learned: a net's weights and biases, a `param`,
//!   the guide's locations and scales. It has fixed rows and an [`Init`] rule. All
//!   parameters together form one flat vector, in the order they were declared;
//! - an **input** ([`Op::Input`]) is supplied per batch from outside: a data column
//!   group, a row index, or (in a log-joint graph without guide) a latent's value. An
//!   input may be marked differentiable, so gradients flow to it;
//! - **noise** ([`Op::Noise`]) holds standard-normal draws supplied from outside, so that
//!   evaluating a graph is a pure function of parameters, inputs and noise;
//! - a **constant** ([`Op::Const`]) is a fixed matrix, usually a 1x1 scalar.
//!
//! Every other node applies one operation to earlier nodes. Elementwise operations
//! broadcast: along each axis the operands' sizes must be equal, or one of them must
//! be 1 (a scalar, a row vector `[1, c]` shared by all rows, or a per-row column
//! `[R, 1]`). Log densities are normalized (constants included) and elementwise.
//!
//! The graph knows nothing about `.vi` syntax beyond the [`Span`] each node came from,
//! which lets the printer name a source line and training name the line whose node
//! first turned non-finite. Building a graph with mismatched shapes is a bug in the
//! caller (the checker has already rejected every user mistake), so the builder panics
//! with an `internal:` message instead of returning errors.

mod nn;
mod print;

pub use nn::Affine;
pub use print::{render_dot, render_text};

use crate::diag::Span;
use crate::dist::Family;

/// Index of a node in its graph.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId(pub u32);

/// Index of a parameter (in declaration order).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ParamId(pub u32);

/// Index of an input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct InputId(pub u32);

/// Index of a noise leaf.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct NoiseId(pub u32);

/// Index of a parameter's table of initial values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ValuesId(pub u32);

/// Index of a constant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ConstId(pub u32);

impl NodeId {
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// A leaf's node together with its typed index, as the builder returns it: whoever
/// feeds the leaf (an input's buffer, a noise leaf's draws) holds the index and reads
/// the node, with no lookup by name or by matching the node's operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Leaf<Id> {
    pub id: Id,
    pub node: NodeId,
}

/// The row count of a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Rows {
    /// One row per row of the current batch; the count is set when the graph runs.
    Batch,
    /// A fixed number of rows.
    Fixed(usize),
}

/// The shape of a node's value: a row-major matrix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Shape {
    pub rows: Rows,
    pub cols: usize,
}

impl Shape {
    pub const SCALAR: Shape = Shape::fixed(1, 1);

    pub const fn fixed(rows: usize, cols: usize) -> Shape {
        Shape {
            rows: Rows::Fixed(rows),
            cols,
        }
    }

    pub const fn batch(cols: usize) -> Shape {
        Shape {
            rows: Rows::Batch,
            cols,
        }
    }

    /// The number of rows when the batch has `batch` rows.
    pub fn rows_at(self, batch: usize) -> usize {
        match self.rows {
            Rows::Batch => batch,
            Rows::Fixed(n) => n,
        }
    }

    /// The number of elements when the batch has `batch` rows.
    pub fn len_at(self, batch: usize) -> usize {
        self.rows_at(batch) * self.cols
    }

    /// The shape two operands broadcast to, or `None` if they do not broadcast.
    pub fn broadcast(self, other: Shape) -> Option<Shape> {
        let rows = match (self.rows, other.rows) {
            (a, b) if a == b => a,
            (Rows::Fixed(1), b) => b,
            (a, Rows::Fixed(1)) => a,
            _ => return None,
        };
        let cols = match (self.cols, other.cols) {
            (a, b) if a == b => a,
            (1, b) => b,
            (a, 1) => a,
            _ => return None,
        };
        Some(Shape { rows, cols })
    }
}

/// Elementwise functions of one argument.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Unary {
    Neg,
    Exp,
    Log,
    Log1p,
    Sqrt,
    Abs,
    Square,
    Tanh,
    Sigmoid,
    Softplus,
    Relu,
    /// `x` for `x > 0`, `exp(x) - 1` otherwise.
    Elu,
}

impl Unary {
    pub fn name(self) -> &'static str {
        match self {
            Unary::Neg => "neg",
            Unary::Exp => "exp",
            Unary::Log => "log",
            Unary::Log1p => "log1p",
            Unary::Sqrt => "sqrt",
            Unary::Abs => "abs",
            Unary::Square => "square",
            Unary::Tanh => "tanh",
            Unary::Sigmoid => "sigmoid",
            Unary::Softplus => "softplus",
            Unary::Relu => "relu",
            Unary::Elu => "elu",
        }
    }
}

/// Elementwise functions of two broadcasting arguments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Binary {
    Add,
    Sub,
    Mul,
    Div,
}

impl Binary {
    pub fn name(self) -> &'static str {
        match self {
            Binary::Add => "add",
            Binary::Sub => "sub",
            Binary::Mul => "mul",
            Binary::Div => "div",
        }
    }
}

/// An operation. Operands are the node's `inputs`, in the order documented per variant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Op {
    /// Leaf: a learned parameter.
    Param(ParamId),
    /// Leaf: a value supplied per batch.
    Input(InputId),
    /// Leaf: standard-normal draws supplied per batch.
    Noise(NoiseId),
    /// Leaf: a fixed matrix.
    Const(ConstId),
    /// `[a, b]`: `op(a) · op(b)` where `op` transposes when the flag is set. Only a
    /// fixed-row operand can be transposed.
    MatMul { ta: bool, tb: bool },
    /// `[x]`: elementwise.
    Unary(Unary),
    /// `[a, b]`: elementwise with broadcasting.
    Binary(Binary),
    /// `[x]`: the sum of each row's columns, shape `[rows, 1]`.
    SumCols,
    /// `[x]`: the sum over rows of each column, shape `[1, cols]`.
    SumRows,
    /// `[x]`: columns `start..end`.
    SliceCols { start: usize, end: usize },
    /// `[x0, x1, ...]`: columns side by side; operands have equal rows.
    ConcatCols,
    /// `[table, index]`: row `index[r]` of `table` for every row `r`; `index` is a
    /// batch column of whole numbers stored as `f32`. Gradients scatter-add into
    /// `table`, never into `index`.
    GatherRows,
    /// `[index]`: each row's class index (a `[R, 1]` column of whole numbers stored as
    /// `f32`, each below `classes`) as a one-hot row of `classes` columns. Passes no
    /// gradient: a class index is discrete.
    OneHot { classes: usize },
    /// `[x, index]`: block `index[r]` of `width` columns of `x`'s row `r` (columns
    /// `index[r]·width ..`), e.g. row `c` of a matrix stored row-major in one row, for
    /// every row `r`; `x` or `index` may be one row shared by all. `index` holds whole
    /// numbers stored as `f32`, each below `x.cols / width`. Gradients scatter-add into
    /// `x`, never into `index`.
    SelectBlock { width: usize },
    /// `[w, v]`: the matrix-vector product `W v` of each row, where `w`'s row holds a
    /// `rows x cols` matrix row-major and `v`'s row a vector of `cols`; either may be one
    /// row shared by all. Shape `[rows of the batch, rows]`.
    MatVec { rows: usize, cols: usize },
    /// `[x]`: log Σ_j exp(x_rj) of each row, shape `[rows, 1]`, computed stably around
    /// the row's maximum.
    LogSumExp,
    /// `[x]`: each row's softmax exp(x_rj − logsumexp(x_r)), same shape as `x`.
    Softmax,
    /// `[value, p0, p1, ...]`: the elementwise log density of `value` under the family,
    /// parameters in the family's canonical order, all broadcasting to one shape. For
    /// `Categorical`, `value` is a `[R, 1]` column of class indices and `p0` the `[R, K]`
    /// logits, and the result is `[R, 1]`. Discrete families pass no gradient to
    /// `value`.
    LogDensity(Family),
    /// `[q_loc, q_scale, p_loc, p_scale]`: elementwise KL(N(q_loc, q_scale²) ‖
    /// N(p_loc, p_scale²)), broadcasting.
    KlNormal,
    /// `[x]`: `x` itself, through which no gradient passes (backward zero). Estimators
    /// that keep a term's value but drop part of its gradient (DReG, sticking the
    /// landing) are built from it.
    StopGradient,
    /// `[x]`, `x` a `[R, 1]` batch column whose R rows are `groups` sample-major blocks
    /// of R / `groups` rows (row `s·B + i` is sample `s` of row `i`): every row gets the
    /// log-mean-exp over its row's samples, log (1/K) Σ_s exp(x[s·B + i]). The result
    /// stays `[R, 1]` (each sample holds its row's value) so that one batch shape serves
    /// every objective; summing it counts each row K times.
    GroupLogMeanExp { groups: usize },
    /// `[x]`, `x` a `[R, 1]` batch column of `blocks` sample-major blocks as for
    /// [`Op::GroupLogMeanExp`]: every row gets the sum over its block, Σ_i x[s·B + i].
    /// The joint importance weight of a sample block (all its rows' terms under one
    /// draw of the globals) is built from it; the result stays `[R, 1]`.
    BlockSum { blocks: usize },
}

/// How a parameter's initial value is drawn.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Init {
    /// Every element equals the number.
    Const(f32),
    /// One number per element, row-major, from the graph's table
    /// ([`Graph::init_values`]): a `param`'s literal initial values.
    Values(ValuesId),
    /// Uniform in ±bound.
    Uniform { bound: f32 },
    /// Normal with mean 0 and this standard deviation.
    Normal { std: f32 },
}

#[derive(Debug, Clone, PartialEq)]
pub struct ParamInfo {
    pub name: String,
    pub rows: usize,
    pub cols: usize,
    pub init: Init,
    pub node: NodeId,
}

impl ParamInfo {
    pub fn len(&self) -> usize {
        self.rows * self.cols
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputInfo {
    pub name: String,
    pub shape: Shape,
    /// Whether gradients flow to this input (latent values in a log-joint graph).
    pub differentiable: bool,
    pub node: NodeId,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoiseInfo {
    pub name: String,
    pub shape: Shape,
    pub node: NodeId,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ConstInfo {
    pub shape: Shape,
    pub values: Vec<f32>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub op: Op,
    pub inputs: Vec<NodeId>,
    pub shape: Shape,
    /// The source text this node was lowered from, if any.
    pub origin: Option<Span>,
    /// A human-readable label (`z`, `decoder.h1`), shown by the printer.
    pub label: Option<String>,
}

/// A computation graph; see the module documentation.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Graph {
    nodes: Vec<Node>,
    params: Vec<ParamInfo>,
    inputs: Vec<InputInfo>,
    noises: Vec<NoiseInfo>,
    consts: Vec<ConstInfo>,
    /// The initial values of parameters initialized element by element.
    init_values: Vec<Vec<f32>>,
    origin: Option<Span>,
}

impl Graph {
    pub fn new() -> Graph {
        Graph::default()
    }

    pub fn nodes(&self) -> &[Node] {
        &self.nodes
    }

    pub fn node(&self, id: NodeId) -> &Node {
        &self.nodes[id.index()]
    }

    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    pub fn params(&self) -> &[ParamInfo] {
        &self.params
    }

    pub fn param_info(&self, id: ParamId) -> &ParamInfo {
        &self.params[id.0 as usize]
    }

    pub fn inputs(&self) -> &[InputInfo] {
        &self.inputs
    }

    pub fn input_info(&self, id: InputId) -> &InputInfo {
        &self.inputs[id.0 as usize]
    }

    pub fn noises(&self) -> &[NoiseInfo] {
        &self.noises
    }

    pub fn noise_info(&self, id: NoiseId) -> &NoiseInfo {
        &self.noises[id.0 as usize]
    }

    /// The table of initial values an [`Init::Values`] names.
    pub fn init_values(&self, id: ValuesId) -> &[f32] {
        &self.init_values[id.0 as usize]
    }

    pub fn const_info(&self, id: ConstId) -> &ConstInfo {
        &self.consts[id.0 as usize]
    }

    pub fn shape(&self, id: NodeId) -> Shape {
        self.nodes[id.index()].shape
    }

    /// The total number of scalar parameters.
    pub fn param_count(&self) -> usize {
        self.params.iter().map(ParamInfo::len).sum()
    }

    /// Finds a parameter by name.
    pub fn param_by_name(&self, name: &str) -> Option<ParamId> {
        self.params
            .iter()
            .position(|p| p.name == name)
            .map(|i| ParamId(i as u32))
    }

    /// Finds an input by name.
    pub fn input_by_name(&self, name: &str) -> Option<InputId> {
        self.inputs
            .iter()
            .position(|p| p.name == name)
            .map(|i| InputId(i as u32))
    }

    /// Finds a noise leaf by name.
    pub fn noise_by_name(&self, name: &str) -> Option<NoiseId> {
        self.noises
            .iter()
            .position(|p| p.name == name)
            .map(|i| NoiseId(i as u32))
    }

    /// The `.vi` source a node is blamed on: its own origin, or else the origin of the
    /// latest operand (searched depth first) that has one. Nodes that only combine
    /// others (the ELBO's sums and scalings) have no line of their own, but a
    /// non-finite value there came from one of the terms they add.
    pub fn blame(&self, id: NodeId) -> Option<Span> {
        let mut stack = vec![id];
        let mut seen = vec![false; self.nodes.len()];
        while let Some(id) = stack.pop() {
            if std::mem::replace(&mut seen[id.index()], true) {
                continue;
            }
            let node = &self.nodes[id.index()];
            if node.origin.is_some() {
                return node.origin;
            }
            stack.extend(node.inputs.iter().copied());
        }
        None
    }

    /// Sets the source span recorded on every node added from now on.
    pub fn set_origin(&mut self, origin: Option<Span>) {
        self.origin = origin;
    }

    /// Attaches a readable label to a node (kept if it already has one).
    pub fn label(&mut self, id: NodeId, label: impl Into<String>) -> NodeId {
        let node = &mut self.nodes[id.index()];
        if node.label.is_none() {
            node.label = Some(label.into());
        }
        id
    }

    fn push(&mut self, op: Op, inputs: Vec<NodeId>, shape: Shape) -> NodeId {
        for input in &inputs {
            assert!(
                input.index() < self.nodes.len(),
                "internal: operand {input:?} does not exist yet"
            );
        }
        let id = NodeId(u32::try_from(self.nodes.len()).expect("internal: graph too large"));
        self.nodes.push(Node {
            op,
            inputs,
            shape,
            origin: self.origin,
            label: None,
        });
        id
    }

    // ----- leaves -----------------------------------------------------------------

    /// Declares a learned parameter of `rows x cols`.
    pub fn param(
        &mut self,
        name: impl Into<String>,
        rows: usize,
        cols: usize,
        init: Init,
    ) -> NodeId {
        let id = ParamId(self.params.len() as u32);
        let name = name.into();
        let node = self.push(Op::Param(id), vec![], Shape::fixed(rows, cols));
        self.nodes[node.index()].label = Some(name.clone());
        self.params.push(ParamInfo {
            name,
            rows,
            cols,
            init,
            node,
        });
        node
    }

    /// Declares a parameter of `rows x cols` starting at `values` (row-major).
    pub fn param_with_values(
        &mut self,
        name: impl Into<String>,
        rows: usize,
        cols: usize,
        values: Vec<f32>,
    ) -> NodeId {
        assert_eq!(
            values.len(),
            rows * cols,
            "internal: initial values of wrong length"
        );
        let id = ValuesId(self.init_values.len() as u32);
        self.init_values.push(values);
        self.param(name, rows, cols, Init::Values(id))
    }

    /// Declares an input of the given shape.
    pub fn input(&mut self, name: impl Into<String>, shape: Shape, differentiable: bool) -> NodeId {
        self.input_leaf(name, shape, differentiable).node
    }

    /// Declares an input and returns it with its index, for the caller that feeds it.
    pub fn input_leaf(
        &mut self,
        name: impl Into<String>,
        shape: Shape,
        differentiable: bool,
    ) -> Leaf<InputId> {
        let id = InputId(self.inputs.len() as u32);
        let name = name.into();
        let node = self.push(Op::Input(id), vec![], shape);
        self.nodes[node.index()].label = Some(name.clone());
        self.inputs.push(InputInfo {
            name,
            shape,
            differentiable,
            node,
        });
        Leaf { id, node }
    }

    /// Declares a leaf of standard-normal draws.
    pub fn noise(&mut self, name: impl Into<String>, shape: Shape) -> NodeId {
        self.noise_leaf(name, shape).node
    }

    /// Declares a noise leaf and returns it with its index, for the caller that fills it.
    pub fn noise_leaf(&mut self, name: impl Into<String>, shape: Shape) -> Leaf<NoiseId> {
        let id = NoiseId(self.noises.len() as u32);
        let name = name.into();
        let node = self.push(Op::Noise(id), vec![], shape);
        self.nodes[node.index()].label = Some(name.clone());
        self.noises.push(NoiseInfo { name, shape, node });
        Leaf { id, node }
    }

    /// A fixed `rows x cols` matrix, row-major.
    pub fn constant(&mut self, rows: usize, cols: usize, values: Vec<f32>) -> NodeId {
        assert_eq!(
            values.len(),
            rows * cols,
            "internal: constant of wrong length"
        );
        let id = ConstId(self.consts.len() as u32);
        let shape = Shape::fixed(rows, cols);
        self.consts.push(ConstInfo { shape, values });
        self.push(Op::Const(id), vec![], shape)
    }

    /// A 1x1 constant.
    pub fn scalar(&mut self, value: f32) -> NodeId {
        self.constant(1, 1, vec![value])
    }

    // ----- operations ---------------------------------------------------------------

    /// `a · b`.
    pub fn matmul(&mut self, a: NodeId, b: NodeId) -> NodeId {
        self.matmul_t(a, b, false, false)
    }

    /// `op(a) · op(b)`, transposing the operands whose flag is set.
    pub fn matmul_t(&mut self, a: NodeId, b: NodeId, ta: bool, tb: bool) -> NodeId {
        let (ar, ac) = oriented(self.shape(a), ta);
        let (br, bc) = oriented(self.shape(b), tb);
        assert!(
            br == Rows::Fixed(ac),
            "internal: matmul of {:?} by {:?}",
            self.shape(a),
            self.shape(b)
        );
        self.push(
            Op::MatMul { ta, tb },
            vec![a, b],
            Shape { rows: ar, cols: bc },
        )
    }

    pub fn unary(&mut self, op: Unary, x: NodeId) -> NodeId {
        let shape = self.shape(x);
        self.push(Op::Unary(op), vec![x], shape)
    }

    pub fn binary(&mut self, op: Binary, a: NodeId, b: NodeId) -> NodeId {
        let shape = self.broadcast(&[a, b]);
        self.push(Op::Binary(op), vec![a, b], shape)
    }

    pub fn add(&mut self, a: NodeId, b: NodeId) -> NodeId {
        self.binary(Binary::Add, a, b)
    }

    pub fn sub(&mut self, a: NodeId, b: NodeId) -> NodeId {
        self.binary(Binary::Sub, a, b)
    }

    pub fn mul(&mut self, a: NodeId, b: NodeId) -> NodeId {
        self.binary(Binary::Mul, a, b)
    }

    pub fn div(&mut self, a: NodeId, b: NodeId) -> NodeId {
        self.binary(Binary::Div, a, b)
    }

    /// `x * factor` for a constant factor.
    pub fn scale(&mut self, x: NodeId, factor: f32) -> NodeId {
        let c = self.scalar(factor);
        self.mul(x, c)
    }

    pub fn sum_cols(&mut self, x: NodeId) -> NodeId {
        let rows = self.shape(x).rows;
        self.push(Op::SumCols, vec![x], Shape { rows, cols: 1 })
    }

    pub fn sum_rows(&mut self, x: NodeId) -> NodeId {
        let cols = self.shape(x).cols;
        self.push(Op::SumRows, vec![x], Shape::fixed(1, cols))
    }

    pub fn slice_cols(&mut self, x: NodeId, start: usize, end: usize) -> NodeId {
        let shape = self.shape(x);
        assert!(
            start < end && end <= shape.cols,
            "internal: slice {start}..{end} of {} columns",
            shape.cols
        );
        if start == 0 && end == shape.cols {
            return x;
        }
        self.push(
            Op::SliceCols { start, end },
            vec![x],
            Shape {
                rows: shape.rows,
                cols: end - start,
            },
        )
    }

    pub fn concat_cols(&mut self, parts: &[NodeId]) -> NodeId {
        assert!(!parts.is_empty(), "internal: concat of nothing");
        if parts.len() == 1 {
            return parts[0];
        }
        let rows = self.shape(parts[0]).rows;
        let mut cols = 0;
        for &p in parts {
            assert!(
                self.shape(p).rows == rows,
                "internal: concat of unequal rows"
            );
            cols += self.shape(p).cols;
        }
        self.push(Op::ConcatCols, parts.to_vec(), Shape { rows, cols })
    }

    pub fn gather_rows(&mut self, table: NodeId, index: NodeId) -> NodeId {
        let t = self.shape(table);
        let i = self.shape(index);
        assert!(
            matches!(t.rows, Rows::Fixed(_)) && i.cols == 1,
            "internal: gather of {t:?} by {i:?}"
        );
        self.push(
            Op::GatherRows,
            vec![table, index],
            Shape {
                rows: i.rows,
                cols: t.cols,
            },
        )
    }

    /// Each row's class index in `index` (`[R, 1]`) as a one-hot row of `classes`.
    pub fn one_hot(&mut self, index: NodeId, classes: usize) -> NodeId {
        let i = self.shape(index);
        assert!(
            i.cols == 1 && classes > 0,
            "internal: one_hot of {i:?} into {classes} classes"
        );
        self.push(
            Op::OneHot { classes },
            vec![index],
            Shape {
                rows: i.rows,
                cols: classes,
            },
        )
    }

    /// Block `index[r]` of `width` columns of each row of `x`.
    pub fn select_block(&mut self, x: NodeId, index: NodeId, width: usize) -> NodeId {
        let (xs, i) = (self.shape(x), self.shape(index));
        assert!(
            i.cols == 1 && width > 0 && xs.cols % width == 0,
            "internal: select of width {width} from {xs:?} by {i:?}"
        );
        let rows = xs
            .broadcast(Shape {
                rows: i.rows,
                cols: xs.cols,
            })
            .expect("internal: select rows do not broadcast")
            .rows;
        self.push(
            Op::SelectBlock { width },
            vec![x, index],
            Shape { rows, cols: width },
        )
    }

    /// `W v` per row, `w` holding a `rows x cols` matrix row-major in each row.
    pub fn matvec(&mut self, w: NodeId, v: NodeId, rows: usize, cols: usize) -> NodeId {
        let (ws, vs) = (self.shape(w), self.shape(v));
        assert!(
            ws.cols == rows * cols && vs.cols == cols,
            "internal: matvec of {ws:?} as {rows}x{cols} by {vs:?}"
        );
        let out = Shape {
            rows: ws.rows,
            cols: 1,
        }
        .broadcast(Shape {
            rows: vs.rows,
            cols: 1,
        })
        .expect("internal: matvec rows do not broadcast");
        self.push(
            Op::MatVec { rows, cols },
            vec![w, v],
            Shape {
                rows: out.rows,
                cols: rows,
            },
        )
    }

    /// The log-sum-exp of each row, `[rows, 1]`.
    pub fn logsumexp(&mut self, x: NodeId) -> NodeId {
        let rows = self.shape(x).rows;
        self.push(Op::LogSumExp, vec![x], Shape { rows, cols: 1 })
    }

    /// The softmax of each row.
    pub fn softmax(&mut self, x: NodeId) -> NodeId {
        let shape = self.shape(x);
        self.push(Op::Softmax, vec![x], shape)
    }

    /// The elementwise log density of `value` under `family` with `params` in canonical
    /// order.
    pub fn log_density(&mut self, family: Family, value: NodeId, params: &[NodeId]) -> NodeId {
        assert_eq!(
            params.len(),
            family.params().len(),
            "internal: {family:?} takes {} parameters",
            family.params().len()
        );
        let mut inputs = vec![value];
        inputs.extend_from_slice(params);
        let shape = if family.is_elementwise() {
            self.broadcast(&inputs)
        } else {
            let v = self.shape(value);
            let logits = self.shape(params[0]);
            assert!(
                v.cols == 1,
                "internal: categorical value must be one column"
            );
            Shape {
                rows: v.rows,
                cols: 1,
            }
            .broadcast(Shape {
                rows: logits.rows,
                cols: 1,
            })
            .expect("internal: categorical rows do not broadcast")
        };
        self.push(Op::LogDensity(family), inputs, shape)
    }

    /// Elementwise KL(N(q_loc, q_scale²) ‖ N(p_loc, p_scale²)).
    pub fn kl_normal(
        &mut self,
        q_loc: NodeId,
        q_scale: NodeId,
        p_loc: NodeId,
        p_scale: NodeId,
    ) -> NodeId {
        let inputs = vec![q_loc, q_scale, p_loc, p_scale];
        let shape = self.broadcast(&inputs);
        self.push(Op::KlNormal, inputs, shape)
    }

    /// `x` without its gradient; see [`Op::StopGradient`].
    pub fn stop_gradient(&mut self, x: NodeId) -> NodeId {
        let shape = self.shape(x);
        self.push(Op::StopGradient, vec![x], shape)
    }

    /// The per-row log-mean-exp over `groups` sample-major blocks of a batch column;
    /// see [`Op::GroupLogMeanExp`].
    pub fn group_log_mean_exp(&mut self, x: NodeId, groups: usize) -> NodeId {
        let shape = self.shape(x);
        assert!(
            shape == Shape::batch(1) && groups >= 1,
            "internal: group log-mean-exp of {shape:?} over {groups} groups"
        );
        self.push(Op::GroupLogMeanExp { groups }, vec![x], shape)
    }

    /// Each row's sum over its sample block; see [`Op::BlockSum`].
    pub fn block_sum(&mut self, x: NodeId, blocks: usize) -> NodeId {
        let shape = self.shape(x);
        assert!(
            shape == Shape::batch(1) && blocks >= 1,
            "internal: block sum of {shape:?} over {blocks} blocks"
        );
        self.push(Op::BlockSum { blocks }, vec![x], shape)
    }

    fn broadcast(&self, operands: &[NodeId]) -> Shape {
        operands
            .iter()
            .map(|&id| self.shape(id))
            .try_fold(Shape::SCALAR, Shape::broadcast)
            .unwrap_or_else(|| {
                let shapes: Vec<Shape> = operands.iter().map(|&id| self.shape(id)).collect();
                panic!("internal: shapes {shapes:?} do not broadcast")
            })
    }

    /// For every node, whether a gradient can reach it from a parameter or a
    /// differentiable input, i.e. whether the backward pass needs to visit it.
    pub fn needs_grad(&self) -> Vec<bool> {
        self.needs_grad_from(false)
    }

    /// [`Graph::needs_grad`], with `noise` the noise leaves as sources too: for a
    /// derivative in the noise (the curvature behind a control variate).
    pub fn needs_grad_from(&self, noise: bool) -> Vec<bool> {
        let mut needs = vec![false; self.nodes.len()];
        for (i, node) in self.nodes.iter().enumerate() {
            needs[i] = match node.op {
                Op::Param(_) => true,
                Op::Input(id) => self.input_info(id).differentiable,
                Op::Noise(_) => noise,
                Op::Const(_) | Op::OneHot { .. } | Op::StopGradient => false,
                _ => node.inputs.iter().any(|x| needs[x.index()]),
            };
        }
        needs
    }

    /// Whether operand `k` of `node` receives a gradient from it at all (an index or a
    /// discrete observation never does).
    pub fn passes_grad(&self, node: NodeId, k: usize) -> bool {
        match self.node(node).op {
            Op::GatherRows | Op::SelectBlock { .. } => k == 0,
            Op::OneHot { .. } => false,
            Op::LogDensity(family) => k > 0 || family.support().is_continuous(),
            _ => true,
        }
    }
}

/// The (rows, cols) of an operand as seen by a matrix product.
fn oriented(shape: Shape, transpose: bool) -> (Rows, usize) {
    if !transpose {
        return (shape.rows, shape.cols);
    }
    match shape.rows {
        Rows::Fixed(r) => (Rows::Fixed(shape.cols), r),
        Rows::Batch => panic!("internal: a batch operand cannot be transposed"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_broadcast_along_each_axis() {
        let b = Shape::batch(8);
        assert_eq!(b.broadcast(Shape::SCALAR), Some(b));
        assert_eq!(b.broadcast(Shape::fixed(1, 8)), Some(b));
        assert_eq!(b.broadcast(Shape::batch(1)), Some(b));
        assert_eq!(b.broadcast(Shape::batch(7)), None);
        assert_eq!(b.broadcast(Shape::fixed(2, 8)), None);
        assert_eq!(
            Shape::fixed(1, 3).broadcast(Shape::fixed(4, 1)),
            Some(Shape::fixed(4, 3))
        );
    }

    #[test]
    fn builder_infers_shapes() {
        let mut g = Graph::new();
        let x = g.input("x", Shape::batch(4), false);
        let w = g.param("w", 4, 3, Init::Const(0.0));
        let h = g.matmul(x, w);
        assert_eq!(g.shape(h), Shape::batch(3));
        let v = g.param("v", 1, 3, Init::Const(0.0));
        let d = g.matmul_t(h, v, false, true);
        assert_eq!(g.shape(d), Shape::batch(1));
        let s = g.sum_rows(d);
        assert_eq!(g.shape(s), Shape::SCALAR);
        let c = g.concat_cols(&[h, d]);
        assert_eq!(g.shape(c), Shape::batch(4));
        assert_eq!(g.param_count(), 15);
        let needs = g.needs_grad();
        assert!(!needs[x.index()] && needs[h.index()]);
    }
}
