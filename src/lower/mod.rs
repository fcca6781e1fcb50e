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
//! Lowering never fails on a checked model: every shape it builds was verified by the
//! checker, so a mismatch is an internal bug and panics with an `internal:` message.

use crate::check::{Activation, Builtin, ModelInfo, Shape as SymShape, SymbolId, SymbolKind};
use crate::dist::transform::Transform;
use crate::dist::{Elem, Family};
use crate::ir::{Affine, Graph, Init, NodeId, Rows, Shape, Unary};
use crate::syntax::ast::{BinOp, Expr, ExprKind, Model, StmtKind};

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
pub fn lower(model: &Model, info: &ModelInfo, graph: &mut Graph, bindings: &Bindings) -> LogJoint {
    let mut lowerer = Lowerer {
        info,
        graph,
        nodes: vec![None; info.symbols.len()],
        nets: vec![None; info.symbols.len()],
        terms: Vec::new(),
    };
    for (index, stmt) in model.stmts.iter().enumerate() {
        lowerer.graph.set_origin(Some(stmt.span));
        lowerer.stmt(index, &stmt.kind, bindings);
    }
    lowerer.graph.set_origin(None);
    LogJoint {
        terms: lowerer.terms,
        nodes: lowerer.nodes,
    }
}

struct Lowerer<'a> {
    info: &'a ModelInfo,
    graph: &'a mut Graph,
    nodes: Vec<Option<NodeId>>,
    nets: Vec<Option<(Vec<Affine>, Unary)>>,
    terms: Vec<Term>,
}

impl Lowerer<'_> {
    fn symbol_of(&self, name: &str) -> SymbolId {
        self.info
            .lookup(name)
            .expect("internal: the checker resolved every name")
    }

    fn stmt(&mut self, index: usize, kind: &StmtKind, bindings: &Bindings) {
        let declared = |name: &str| {
            let id = self.symbol_of(name);
            debug_assert_eq!(self.info.symbol(id).stmt, index);
            id
        };
        match kind {
            StmtKind::Data { name, .. } => {
                let id = declared(&name.name);
                self.nodes[id.0] = Some(bound(bindings, id, &name.name));
            }
            StmtKind::Latent { name, .. } | StmtKind::Global { name, .. } => {
                let id = declared(&name.name);
                let value = bound(bindings, id, &name.name);
                self.nodes[id.0] = Some(value);
                let (prior, role) = match &self.info.symbol(id).kind {
                    SymbolKind::Latent { prior, .. } => (prior, Role::Local),
                    SymbolKind::Global { prior } => (prior, Role::Global),
                    _ => unreachable!("internal: a latent statement declares a latent"),
                };
                self.term(id, role, prior.family, &prior.args, value);
            }
            StmtKind::Param { name, ty, .. } => {
                let id = declared(&name.name);
                let SymbolKind::Param { init } = self.info.symbol(id).kind else {
                    unreachable!("internal: a param statement declares a param")
                };
                let width = self.info.symbol(id).shape.width();
                let node = self.param(&name.name, ty.elem, width, init);
                self.nodes[id.0] = Some(node);
            }
            StmtKind::Net { name, .. } => {
                let id = declared(&name.name);
                let SymbolKind::Net(net) = &self.info.symbol(id).kind else {
                    unreachable!("internal: a net statement declares a net")
                };
                let layers = self.graph.mlp_params(&name.name, &net.widths);
                self.nets[id.0] = Some((layers, activation_op(net.activation)));
            }
            StmtKind::Let { name, value } => {
                let id = declared(&name.name);
                let node = self.expr(value);
                self.graph.label(node, name.name.clone());
                self.nodes[id.0] = Some(node);
            }
            StmtKind::Observe { name, .. } => {
                let id = self.symbol_of(&name.name);
                let likelihood = self
                    .info
                    .likelihoods
                    .iter()
                    .find(|l| l.data == id)
                    .expect("internal: every observation has a likelihood");
                let value = self.nodes[id.0].expect("internal: data is bound before use");
                self.term(
                    id,
                    Role::Likelihood,
                    likelihood.dist.family,
                    &likelihood.dist.args,
                    value,
                );
            }
            StmtKind::Guide(_) => {}
        }
    }

    /// A `param`, stored unconstrained: `exp` of a log for `positive`, `sigmoid` of a
    /// logit for `unit`.
    fn param(&mut self, name: &str, elem: Elem, width: usize, init: f64) -> NodeId {
        let transform = Transform::of(elem);
        let stored = transform.storage_name(name);
        let raw_init: f64 = transform.inverse(init);
        let raw = self
            .graph
            .param(stored, 1, width, Init::Const(raw_init as f32));
        match transform {
            Transform::Identity => raw,
            _ => {
                let node = transform.forward_graph(self.graph, raw);
                self.graph.label(node, name.to_string())
            }
        }
    }

    fn term(&mut self, symbol: SymbolId, role: Role, family: Family, args: &[Expr], value: NodeId) {
        let args: Vec<NodeId> = args.iter().map(|a| self.expr(a)).collect();
        let density = self.graph.log_density(family, value, &args);
        let summed = self.graph.sum_cols(density);
        let name = &self.info.symbol(symbol).name;
        self.graph.label(summed, format!("log p({name})"));
        self.terms.push(Term {
            symbol,
            role,
            family,
            value,
            args,
            log_density: summed,
        });
    }

    fn expr(&mut self, expr: &Expr) -> NodeId {
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
                        let parts: Vec<NodeId> = items.iter().map(|e| self.expr(e)).collect();
                        self.concat(&parts)
                    }
                }
            }
            ExprKind::Name(ident) => {
                let id = self.symbol_of(&ident.name);
                self.nodes[id.0].expect("internal: names are declared before use")
            }
            ExprKind::Neg(inner) => {
                let x = self.expr(inner);
                self.graph.unary(Unary::Neg, x)
            }
            ExprKind::Binary { op, lhs, rhs } => {
                let a = self.expr(lhs);
                let b = self.expr(rhs);
                match op {
                    BinOp::Add => self.graph.add(a, b),
                    BinOp::Sub => self.graph.sub(a, b),
                    BinOp::Mul => self.graph.mul(a, b),
                    BinOp::Div => self.graph.div(a, b),
                }
            }
            ExprKind::Call { func, args } => {
                let args: Vec<NodeId> = args.iter().map(|a| self.expr(a)).collect();
                if let Some(builtin) = Builtin::from_name(&func.name) {
                    return self.builtin(builtin, &args);
                }
                let id = self.symbol_of(&func.name);
                let (layers, activation) = self.nets[id.0]
                    .clone()
                    .expect("internal: a called name is a net declared above");
                let input = self.concat(&args);
                let out = self.graph.apply_mlp(input, &layers, activation);
                self.graph.label(out, format!("{}(..)", func.name))
            }
            ExprKind::Index { base, index } => {
                let x = self.expr(base);
                self.graph.slice_cols(x, index.value, index.value + 1)
            }
            ExprKind::Slice { base, start, end } => {
                let x = self.expr(base);
                self.graph.slice_cols(x, start.value, end.value)
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

fn bound(bindings: &Bindings, id: SymbolId, name: &str) -> NodeId {
    bindings
        .get(id)
        .unwrap_or_else(|| panic!("internal: `{name}` was not bound before lowering"))
}

/// The shape a symbol's value has in a graph: one row per batch row.
pub fn value_shape(shape: SymShape) -> Shape {
    Shape::batch(shape.width())
}

/// Builds the standalone log-joint graph of a model: data, local latents and globals
/// are batch inputs (latents and globals differentiable, on their constrained scale),
/// and the output is the per-row log joint, `[R, 1]`.
pub fn log_joint_graph(model: &Model, info: &ModelInfo) -> (Graph, LogJoint, NodeId) {
    let mut graph = Graph::new();
    let mut bindings = Bindings::new(info);
    for (i, symbol) in info.symbols.iter().enumerate() {
        let differentiable = match symbol.kind {
            SymbolKind::Data => false,
            SymbolKind::Latent { .. } | SymbolKind::Global { .. } => true,
            _ => continue,
        };
        graph.set_origin(Some(symbol.span));
        let node = graph.input(
            symbol.name.clone(),
            value_shape(symbol.shape),
            differentiable,
        );
        bindings.bind(SymbolId(i), node);
    }
    let joint = lower(model, info, &mut graph, &bindings);
    let total = joint
        .sum(&mut graph, &[Role::Likelihood, Role::Local, Role::Global])
        .expect("internal: a checked model has a likelihood");
    graph.label(total, "log joint");
    (graph, joint, total)
}
