//! Lowering: a checked model becomes the graph of its per-row log joint
//! log p(x_i, z_i | w, θ).
//!
//! Like stanc3 lowers `y ~ D(θ)` to `target += D_lpdf(y | θ)`, every `~` (on data, a
//! latent or a global) becomes one [`Term`]: the fused log density of its value, summed
//! over the value's elements, one number per row. The values of data, latents and
//! globals are not created here but *bound* by the caller ([`Bindings`]): a log-joint
//! graph binds them to inputs, the ELBO graph binds latents to guide samples. `param`s
//! and `net` weights are created here as graph parameters.
//!
//! It reads only the checker's HIR ([`hir::Model`]) and symbol table: names are already
//! [`SymbolId`]s and arguments already in canonical order, so nothing here looks a name
//! up by its text or knows the syntax tree. A statement is lowered by
//! [`Lowerer::stmt`], which reads data, latent and global values from the bindings it is
//! given at that call: lowering a statement again with other bindings (one value of an
//! enumerated discrete latent, say) gives another term over the same params and nets.
//!
//! Lowering never fails on a checked model: every shape it builds was verified by the
//! checker, so a mismatch is an internal bug and panics with an `internal:` message.
//! It recurses only along an expression's real nesting, which the parser bounds; a flat
//! chain `a + b + ...` is folded in a loop.

use crate::check::hir::{self, BinOp, Expr, ExprKind, Resolved, StmtKind};
use crate::check::{
    Activation, Builtin, ModelInfo, ParamInit, Shape as SymShape, SymbolId, SymbolKind,
};
use crate::dist::transform::Transform;
use crate::dist::{Elem, Family};
use crate::ir::{Affine, Graph, Init, InputId, Leaf, NodeId, Rows, Shape, Unary};

/// The nodes the caller supplies for data, latents and globals, by symbol.
#[derive(Debug, Clone)]
pub struct Bindings {
    nodes: Vec<Option<NodeId>>,
}

impl Bindings {
    pub fn new(info: &ModelInfo) -> Bindings {
        Bindings {
            nodes: vec![None; info.symbols.len()],
        }
    }

    pub fn bind(&mut self, symbol: SymbolId, node: NodeId) {
        self.nodes[symbol.0] = Some(node);
    }

    pub fn get(&self, symbol: SymbolId) -> Option<NodeId> {
        self.nodes[symbol.0]
    }
}

/// What a `~` statement is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The prior of a local latent.
    Local,
    /// The prior of a global latent.
    Global,
    /// A likelihood term over data.
    Likelihood,
}

/// One `~` statement, lowered.
#[derive(Debug, Clone)]
pub struct Term {
    pub symbol: SymbolId,
    pub role: Role,
    pub family: Family,
    /// The value whose density this is (the bound node).
    pub value: NodeId,
    /// The distribution's arguments, in canonical order.
    pub args: Vec<NodeId>,
    /// `[R, 1]` (or `[1, 1]` when nothing in it varies by row): the log density summed
    /// over the value's elements.
    pub log_density: NodeId,
}

/// A lowered model.
#[derive(Debug, Clone)]
pub struct LogJoint {
    /// Every `~` statement in source order.
    pub terms: Vec<Term>,
    /// Every symbol's node where it has one (nets have none).
    pub nodes: Vec<Option<NodeId>>,
}

impl LogJoint {
    /// The sum of the log densities of the terms with the given roles, or `None` if
    /// there are none.
    pub fn sum(&self, graph: &mut Graph, roles: &[Role]) -> Option<NodeId> {
        let parts: Vec<NodeId> = self
            .terms
            .iter()
            .filter(|t| roles.contains(&t.role))
            .map(|t| t.log_density)
            .collect();
        sum_nodes(graph, &parts)
    }

    pub fn term(&self, symbol: SymbolId) -> Option<&Term> {
        self.terms.iter().find(|t| t.symbol == symbol)
    }
}

/// The elementwise sum of nodes, `None` for none.
pub fn sum_nodes(graph: &mut Graph, parts: &[NodeId]) -> Option<NodeId> {
    let (&first, rest) = parts.split_first()?;
    Some(rest.iter().fold(first, |acc, &p| graph.add(acc, p)))
}

/// The graph operation of an activation.
pub fn activation_op(activation: Activation) -> Unary {
    match activation {
        Activation::Tanh => Unary::Tanh,
        Activation::Relu => Unary::Relu,
        Activation::Softplus => Unary::Softplus,
        Activation::Sigmoid => Unary::Sigmoid,
        Activation::Elu => Unary::Elu,
    }
}

/// The name of the graph parameter holding a `param` of this element type, which is
/// stored unconstrained (ADVI's transforms).
pub fn param_storage_name(name: &str, elem: Elem) -> String {
    Transform::of(elem).storage_name(name)
}

/// Lowers `model` into `graph`, reading data, latents and globals from `bindings`.
pub fn lower(
    model: &hir::Model,
    info: &ModelInfo,
    graph: &mut Graph,
    bindings: &Bindings,
) -> LogJoint {
    lower_each(model, info, graph, &[bindings])
        .pop()
        .expect("internal: one lowering per binding")
}

/// Lowers `model` once per entry of `bindings` into one graph: the same model at other
/// values of its latents (an estimator that needs log p both at a sample and at the
/// sample with its gradient stopped). Params and nets are declared by the first
/// lowering and shared by the others.
pub fn lower_each(
    model: &hir::Model,
    info: &ModelInfo,
    graph: &mut Graph,
    bindings: &[&Bindings],
) -> Vec<LogJoint> {
    let mut lowerer = Lowerer::new(info, graph);
    let mut joints = Vec::with_capacity(bindings.len());
    for (pass, b) in bindings.iter().enumerate() {
        let terms = model
            .stmts
            .iter()
            .filter(|stmt| {
                pass == 0 || !matches!(stmt.kind, StmtKind::Param { .. } | StmtKind::Net { .. })
            })
            .filter_map(|stmt| lowerer.stmt(stmt, b))
            .collect();
        joints.push(LogJoint {
            terms,
            nodes: lowerer.nodes.clone(),
        });
    }
    joints
}

/// Lowers HIR statements one at a time into a graph, keeping the nodes of params, lets
/// and nets for the statements after them.
pub struct Lowerer<'a> {
    info: &'a ModelInfo,
    graph: &'a mut Graph,
    /// Every symbol's node so far: bound values, params and lets.
    nodes: Vec<Option<NodeId>>,
    nets: Vec<Option<(Vec<Affine>, Unary)>>,
}

impl<'a> Lowerer<'a> {
    pub fn new(info: &'a ModelInfo, graph: &'a mut Graph) -> Lowerer<'a> {
        Lowerer {
            info,
            graph,
            nodes: vec![None; info.symbols.len()],
            nets: vec![None; info.symbols.len()],
        }
    }

    /// The graph being built, for the caller's own nodes between statements (the
    /// values of the next bindings).
    pub fn graph(&mut self) -> &mut Graph {
        self.graph
    }

    /// Lowers one statement, its nodes originating at the statement's span; the term of
    /// a `~` (a prior or a likelihood), `None` for a declaration. A statement declaring
    /// a param or a net creates graph parameters and is lowered once.
    pub fn stmt(&mut self, stmt: &hir::Stmt, bindings: &Bindings) -> Option<Term> {
        self.graph.set_origin(Some(stmt.span));
        let term = match &stmt.kind {
            StmtKind::Data { symbol } => {
                self.nodes[symbol.0] = Some(self.bound(bindings, *symbol));
                None
            }
            StmtKind::Prior { symbol, dist } => {
                let value = self.bound(bindings, *symbol);
                self.nodes[symbol.0] = Some(value);
                let role = match self.info.symbol(*symbol).kind {
                    SymbolKind::Latent { .. } => Role::Local,
                    _ => Role::Global,
                };
                Some(self.term(*symbol, role, dist, value, bindings))
            }
            StmtKind::Likelihood { symbol, dist } => {
                let value = self.bound(bindings, *symbol);
                Some(self.term(*symbol, Role::Likelihood, dist, value, bindings))
            }
            StmtKind::Param { symbol, init } => {
                let s = self.info.symbol(*symbol);
                let node = self.param(&s.name, s.elem, s.shape.width(), init);
                self.nodes[symbol.0] = Some(node);
                None
            }
            StmtKind::Net { symbol, net } => {
                let name = &self.info.symbol(*symbol).name;
                let layers = self.graph.mlp_params(name, &net.widths);
                self.nets[symbol.0] = Some((layers, activation_op(net.activation)));
                None
            }
            StmtKind::Let { symbol, expr } => {
                let node = self.expr(expr, bindings);
                let name = self.info.symbol(*symbol).name.clone();
                self.graph.label(node, name);
                self.nodes[symbol.0] = Some(node);
                None
            }
        };
        self.graph.set_origin(None);
        term
    }

    /// The node of a data, latent or global value: the caller's binding.
    fn bound(&self, bindings: &Bindings, id: SymbolId) -> NodeId {
        bindings.get(id).unwrap_or_else(|| {
            let name = &self.info.symbol(id).name;
            panic!("internal: `{name}` was not bound before lowering")
        })
    }

    /// A `param`, stored unconstrained: `exp` of a log for `positive`, `sigmoid` of a
    /// logit for `unit`.
    fn param(&mut self, name: &str, elem: Elem, width: usize, init: &ParamInit) -> NodeId {
        let transform = Transform::of(elem);
        let stored = transform.storage_name(name);
        let raw_init = |v: f64| transform.inverse(v) as f32;
        let raw = match init {
            ParamInit::All(v) => self
                .graph
                .param(stored, 1, width, Init::Const(raw_init(*v))),
            ParamInit::Each(values) => {
                let raw = values.iter().map(|&v| raw_init(v)).collect();
                self.graph.param_with_values(stored, 1, width, raw)
            }
        };
        match transform {
            Transform::Identity => raw,
            _ => {
                let node = transform.forward_graph(self.graph, raw);
                self.graph.label(node, name.to_string())
            }
        }
    }

    fn term(
        &mut self,
        symbol: SymbolId,
        role: Role,
        dist: &Resolved,
        value: NodeId,
        bindings: &Bindings,
    ) -> Term {
        let args: Vec<NodeId> = dist.args.iter().map(|a| self.expr(a, bindings)).collect();
        let density = self.graph.log_density(dist.family, value, &args);
        let summed = self.graph.sum_cols(density);
        let name = &self.info.symbol(symbol).name;
        self.graph.label(summed, format!("log p({name})"));
        Term {
            symbol,
            role,
            family: dist.family,
            value,
            args,
            log_density: summed,
        }
    }

    /// Lowers an expression. A data, latent or global symbol reads the current
    /// bindings; a param or let reads the node its statement made.
    pub fn expr(&mut self, expr: &Expr, bindings: &Bindings) -> NodeId {
        match &expr.kind {
            ExprKind::Number(v) => self.graph.scalar(*v as f32),
            ExprKind::Vector(items) => {
                let numbers: Option<Vec<f32>> = items
                    .iter()
                    .map(|e| match e.kind {
                        ExprKind::Number(v) => Some(v as f32),
                        _ => None,
                    })
                    .collect();
                match numbers {
                    Some(values) => self.graph.constant(1, values.len(), values),
                    None => {
                        let parts: Vec<NodeId> =
                            items.iter().map(|e| self.expr(e, bindings)).collect();
                        self.concat(&parts)
                    }
                }
            }
            ExprKind::Symbol(id) => bindings
                .get(*id)
                .or(self.nodes[id.0])
                .expect("internal: names are declared before use"),
            ExprKind::Neg(inner) => {
                let x = self.expr(inner, bindings);
                self.graph.unary(Unary::Neg, x)
            }
            ExprKind::Binary { first, rest } => {
                let mut acc = self.expr(first, bindings);
                for (op, operand) in rest {
                    let b = self.expr(operand, bindings);
                    acc = match op {
                        BinOp::Add => self.graph.add(acc, b),
                        BinOp::Sub => self.graph.sub(acc, b),
                        BinOp::Mul => self.graph.mul(acc, b),
                        BinOp::Div => self.graph.div(acc, b),
                    };
                }
                acc
            }
            ExprKind::Builtin(Builtin::OneHot, args) => {
                let index = self.expr(&args[0], bindings);
                let ExprKind::Number(classes) = args[1].kind else {
                    panic!("internal: one_hot's class count is a checked literal")
                };
                self.graph.one_hot(index, classes as usize)
            }
            ExprKind::Builtin(builtin, args) => {
                let args: Vec<NodeId> = args.iter().map(|a| self.expr(a, bindings)).collect();
                self.builtin(*builtin, &args)
            }
            ExprKind::NetCall(net, args) => {
                let args: Vec<NodeId> = args.iter().map(|a| self.expr(a, bindings)).collect();
                let (layers, activation) = self.nets[net.0]
                    .clone()
                    .expect("internal: a called name is a net declared above");
                let input = self.concat(&args);
                let out = self.graph.apply_mlp(input, &layers, activation);
                let name = &self.info.symbol(*net).name;
                self.graph.label(out, format!("{name}(..)"))
            }
            ExprKind::Index { base, index } => {
                let x = self.expr(base, bindings);
                let w = element_width(base.shape);
                self.graph.slice_cols(x, index * w, (index + 1) * w)
            }
            ExprKind::Select { base, index } => {
                let x = self.expr(base, bindings);
                let i = self.expr(index, bindings);
                self.graph.select_block(x, i, element_width(base.shape))
            }
            ExprKind::Slice { base, start, end } => {
                let x = self.expr(base, bindings);
                self.graph.slice_cols(x, *start, *end)
            }
        }
    }

    fn builtin(&mut self, builtin: Builtin, args: &[NodeId]) -> NodeId {
        let op = match builtin {
            Builtin::Exp => Unary::Exp,
            Builtin::Log => Unary::Log,
            Builtin::Sqrt => Unary::Sqrt,
            Builtin::Abs => Unary::Abs,
            Builtin::Tanh => Unary::Tanh,
            Builtin::Sigmoid => Unary::Sigmoid,
            Builtin::Softplus => Unary::Softplus,
            Builtin::Relu => Unary::Relu,
            Builtin::Sum => return self.graph.sum_cols(args[0]),
            Builtin::Mean => {
                let n = self.graph.shape(args[0]).cols;
                let s = self.graph.sum_cols(args[0]);
                return self.graph.scale(s, 1.0 / n as f32);
            }
            Builtin::Dot => {
                let product = self.graph.mul(args[0], args[1]);
                return self.graph.sum_cols(product);
            }
            Builtin::Concat => return self.concat(args),
            Builtin::LogSumExp => return self.graph.logsumexp(args[0]),
            Builtin::Softmax => return self.graph.softmax(args[0]),
            Builtin::MatVec => {
                // The matrix is one row of `rows · cols`, the vector `cols` wide.
                let cols = self.graph.shape(args[1]).cols;
                let rows = self.graph.shape(args[0]).cols / cols;
                return self.graph.matvec(args[0], args[1], rows, cols);
            }
            Builtin::OneHot => unreachable!("internal: one_hot is lowered with its literal"),
        };
        self.graph.unary(op, args[0])
    }

    /// Concatenates columns; parts shared by all rows (`[1, c]`) are first broadcast
    /// to the batch when another part varies by row.
    fn concat(&mut self, parts: &[NodeId]) -> NodeId {
        let batch_part = parts
            .iter()
            .copied()
            .find(|&p| self.graph.shape(p).rows == Rows::Batch);
        let parts: Vec<NodeId> = match batch_part {
            None => parts.to_vec(),
            Some(like) => parts
                .iter()
                .map(|&p| self.broadcast_rows(p, like))
                .collect(),
        };
        self.graph.concat_cols(&parts)
    }

    /// `x` (`[1, c]`) repeated on every row of `like` (`[R, _]`).
    fn broadcast_rows(&mut self, x: NodeId, like: NodeId) -> NodeId {
        if self.graph.shape(x).rows == Rows::Batch {
            return x;
        }
        let column = self.graph.slice_cols(like, 0, 1);
        let zero = self.graph.scale(column, 0.0);
        self.graph.add(x, zero)
    }
}

/// The columns of one element of a vector, or one row of a matrix (stored row-major).
fn element_width(shape: SymShape) -> usize {
    match shape {
        SymShape::Matrix(_, c) => c,
        _ => 1,
    }
}

/// The shape a symbol's value has in a graph: one row per batch row.
pub fn value_shape(shape: SymShape) -> Shape {
    Shape::batch(shape.width())
}

/// Builds the standalone log-joint graph of a model: data, local latents and globals
/// are batch inputs (latents and globals differentiable, on their constrained scale),
/// and the output is the per-row log joint, `[R, 1]`.
pub fn log_joint_graph(model: &hir::Model, info: &ModelInfo) -> (Graph, LogJoint, NodeId) {
    let mut graph = Graph::new();
    let (bindings, _) = bind_inputs(info, &mut graph);
    let joint = lower(model, info, &mut graph, &bindings);
    let total = joint
        .sum(&mut graph, &[Role::Likelihood, Role::Local, Role::Global])
        .expect("internal: a checked model has a likelihood");
    graph.label(total, "log joint");
    (graph, joint, total)
}

/// Declares one input per data, latent and global symbol (latents and globals
/// differentiable) and binds it, for a graph of the log joint. Returns the bindings and
/// each symbol's input leaf, so that whoever feeds the graph (ancestral sampling) writes
/// a symbol's values through its typed handle.
pub fn bind_inputs(info: &ModelInfo, graph: &mut Graph) -> (Bindings, Vec<Option<Leaf<InputId>>>) {
    let mut bindings = Bindings::new(info);
    let mut leaves = vec![None; info.symbols.len()];
    for (i, symbol) in info.symbols.iter().enumerate() {
        let differentiable = match symbol.kind {
            SymbolKind::Data => false,
            SymbolKind::Latent { .. } | SymbolKind::Global {} => true,
            _ => continue,
        };
        graph.set_origin(Some(symbol.span));
        let leaf = graph.input_leaf(
            symbol.name.clone(),
            value_shape(symbol.shape),
            differentiable,
        );
        bindings.bind(SymbolId(i), leaf.node);
        leaves[i] = Some(leaf);
    }
    graph.set_origin(None);
    (bindings, leaves)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::check;
    use crate::syntax::parse;

    /// The enumeration pattern: the likelihood lowered a second time with the global
    /// bound to another node reads that node, and reuses the param made once.
    #[test]
    fn a_statement_lowers_again_with_other_bindings() {
        let source = "data y: real\nglobal m: real ~ Normal(0, 1)\nparam s: positive = 1\ny ~ Normal(m + 1, s)\n";
        let program = check(&parse(source).expect("parses")).expect("checks").0;
        let (model, info) = (&program.model, &program.info);
        let (y, m) = (info.lookup("y").expect("y"), info.lookup("m").expect("m"));
        let mut graph = Graph::new();
        let mut bindings = Bindings::new(info);
        bindings.bind(y, graph.input("y", Shape::batch(1), false));
        bindings.bind(m, graph.input("m", Shape::batch(1), true));
        let mut lowerer = Lowerer::new(info, &mut graph);
        let terms: Vec<Term> = model
            .stmts
            .iter()
            .filter_map(|s| lowerer.stmt(s, &bindings))
            .collect();
        assert_eq!(
            terms.iter().map(|t| t.role).collect::<Vec<_>>(),
            [Role::Global, Role::Likelihood]
        );
        let likelihood = model.stmts.last().expect("the likelihood");
        let three = lowerer.graph().scalar(3.0);
        bindings.bind(m, three);
        let again = lowerer.stmt(likelihood, &bindings).expect("a term");
        let first = &terms[1];
        assert_eq!((again.symbol, again.value), (first.symbol, first.value));
        assert_eq!(again.args[1], first.args[1], "the param is made once");
        assert_ne!(again.args[0], first.args[0]);
        let params = lowerer.graph().param_count();
        assert_eq!(params, 1);
        // `m + 1` was lowered again over the new binding.
        assert_eq!(graph.node(again.args[0]).inputs[0], three);
    }
}
