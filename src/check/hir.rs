//! The HIR: a checked model with every name resolved to a [`SymbolId`], every
//! distribution call resolved to one family with its arguments in the family's canonical
//! order, and an element type and a shape on every expression (stanc3's typed AST).
//!
//! It is what `check` hands on and all that `lower` reads (with the symbol table in
//! [`ModelInfo`]): nothing after the checker sees the syntax tree or looks a name up by
//! its text. A HIR exists only for a model without errors, so its invariants hold
//! without checks: symbols are declared before use, nets are only called, shapes agree.
//! It lives in `check` because only the checker builds it and its vocabulary (symbols,
//! shapes, builtins) is the checker's.

use std::fmt;

use super::{Builtin, ModelInfo, NetInfo, ParamInit, Shape, SymbolId};
use crate::diag::Span;
use crate::dist::{Elem, Family};
pub use crate::syntax::ast::BinOp;

/// A checked model: its statements in source order, without the guide block (whose
/// meaning is in [`ModelInfo::guide`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Model {
    pub stmts: Vec<Stmt>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Stmt {
    pub kind: StmtKind,
    /// The whole statement, which is the origin of every graph node lowered from it.
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum StmtKind {
    /// `data NAME: TYPE`: a value the caller binds.
    Data { symbol: SymbolId },
    /// `latent` or `global NAME: TYPE ~ DIST`: a value the caller binds, and its prior
    /// term. Whether it is local or global is the symbol's kind.
    Prior { symbol: SymbolId, dist: Resolved },
    /// `NAME ~ DIST` over data: a likelihood term.
    Likelihood { symbol: SymbolId, dist: Resolved },
    /// `param NAME: TYPE = VALUE`, on its constrained scale.
    Param { symbol: SymbolId, init: ParamInit },
    /// `net NAME = mlp(...)`.
    Net { symbol: SymbolId, net: NetInfo },
    /// `let NAME = EXPR`.
    Let { symbol: SymbolId, expr: Expr },
}

/// A distribution call resolved to one family, its arguments in the family's canonical
/// parameter order ([`Family::params`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Resolved {
    pub family: Family,
    pub args: Vec<Expr>,
}

/// A typed expression.
#[derive(Debug, Clone, PartialEq)]
pub struct Expr {
    pub kind: ExprKind,
    /// What every element of the value certainly is: `positive` for `exp(x)`, `unit` for
    /// `sigmoid(x)`, `real` when nothing more is known. Sound, not complete: a `real`
    /// expression may still be positive at run time.
    pub elem: Elem,
    pub shape: Shape,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ExprKind {
    Number(f64),
    Vector(Vec<Expr>),
    /// A data, latent, global, param or let value.
    Symbol(SymbolId),
    Neg(Box<Expr>),
    /// A left-associative chain of one precedence level, `first op1 e1 op2 e2 ...`,
    /// evaluated left to right; a flat sum of many terms is one node.
    Binary {
        first: Box<Expr>,
        rest: Vec<(BinOp, Expr)>,
    },
    Builtin(Builtin, Vec<Expr>),
    /// A call of the net declared by the symbol; its arguments are concatenated.
    NetCall(SymbolId, Vec<Expr>),
    /// Element `index` of a vector, or row `index` of a matrix.
    Index {
        base: Box<Expr>,
        index: usize,
    },
    /// The element of a vector, or the row of a matrix, that the class `index` (a
    /// scalar `int` or `bool` name) selects on each row.
    Select {
        base: Box<Expr>,
        index: Box<Expr>,
    },
    /// Elements `start` to `end - 1`.
    Slice {
        base: Box<Expr>,
        start: usize,
        end: usize,
    },
}

impl Expr {
    /// The expression written back as source text, with the parentheses its tree needs
    /// and names from `info` (for `vic check`'s summary).
    pub fn display<'a>(&'a self, info: &'a ModelInfo) -> impl fmt::Display + 'a {
        Shown { expr: self, info }
    }

    fn precedence(&self) -> u8 {
        match &self.kind {
            ExprKind::Binary { rest, .. } => rest.first().map_or(4, |(op, _)| op.level()),
            ExprKind::Neg(_) => 3,
            _ => 4,
        }
    }
}

struct Shown<'a> {
    expr: &'a Expr,
    info: &'a ModelInfo,
}

impl<'a> Shown<'a> {
    fn child(&self, expr: &'a Expr) -> Shown<'a> {
        Shown {
            expr,
            info: self.info,
        }
    }

    fn list(&self, f: &mut fmt::Formatter<'_>, items: &'a [Expr]) -> fmt::Result {
        for (i, item) in items.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{}", self.child(item))?;
        }
        Ok(())
    }

    /// An operand, in parentheses if it binds looser than `min`.
    fn operand(&self, f: &mut fmt::Formatter<'_>, expr: &'a Expr, min: u8) -> fmt::Result {
        if expr.precedence() < min {
            write!(f, "({})", self.child(expr))
        } else {
            write!(f, "{}", self.child(expr))
        }
    }
}

impl fmt::Display for Shown<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.expr.kind {
            ExprKind::Number(v) => write!(f, "{v}"),
            ExprKind::Vector(items) => {
                f.write_str("[")?;
                self.list(f, items)?;
                f.write_str("]")
            }
            ExprKind::Symbol(id) => f.write_str(&self.info.symbol(*id).name),
            ExprKind::Neg(inner) => {
                f.write_str("-")?;
                self.operand(f, inner, 3)
            }
            ExprKind::Binary { first, rest } => {
                let p = self.expr.precedence();
                self.operand(f, first, p)?;
                for (op, e) in rest {
                    write!(f, " {} ", op.symbol())?;
                    self.operand(f, e, p + 1)?;
                }
                Ok(())
            }
            ExprKind::Builtin(builtin, args) => {
                write!(f, "{}(", builtin.name())?;
                self.list(f, args)?;
                f.write_str(")")
            }
            ExprKind::NetCall(net, args) => {
                write!(f, "{}(", self.info.symbol(*net).name)?;
                self.list(f, args)?;
                f.write_str(")")
            }
            ExprKind::Index { base, index } => {
                self.operand(f, base, 4)?;
                write!(f, "[{index}]")
            }
            ExprKind::Select { base, index } => {
                self.operand(f, base, 4)?;
                write!(f, "[{}]", self.child(index))
            }
            ExprKind::Slice { base, start, end } => {
                self.operand(f, base, 4)?;
                write!(f, "[{start}:{end}]")
            }
        }
    }
}

/// The element type of a literal: the narrowest of `unit`, `positive` and `real` that
/// holds it.
pub(super) fn literal_elem(value: f64) -> Elem {
    if value > 0.0 && value < 1.0 {
        Elem::Unit
    } else if value > 0.0 {
        Elem::Positive
    } else {
        Elem::Real
    }
}

/// The narrowest element type holding values of both (`unit` and `positive` give
/// `positive`; `bool` and `int` give `int`; anything else `real`).
pub(super) fn join(a: Elem, b: Elem) -> Elem {
    if a.is_subset_of(b) {
        b
    } else if b.is_subset_of(a) {
        a
    } else {
        Elem::Real
    }
}

/// Whether every value of the type is greater than zero.
fn positive(e: Elem) -> bool {
    e.is_subset_of(Elem::Positive)
}

/// The element type of `a op b`, elementwise; `a_is_one` when `a` is the literal 1, as
/// `1 - p` of a `unit` stays `unit` (the complement of a probability). `-` otherwise
/// gives `real`.
pub(super) fn binary_elem(op: BinOp, a: Elem, a_is_one: bool, b: Elem) -> Elem {
    use Elem::*;
    match op {
        BinOp::Add if positive(a) && positive(b) => Positive,
        BinOp::Add if positive(a) || positive(b) => {
            let other = if positive(a) { b } else { a };
            // A count or a flag is never negative, so adding it keeps a value positive.
            if other.is_subset_of(Int) {
                Positive
            } else {
                Real
            }
        }
        BinOp::Add if a.is_subset_of(Int) && b.is_subset_of(Int) => Int,
        BinOp::Sub if a_is_one && b == Unit => Unit,
        BinOp::Mul if a == Unit && b == Unit => Unit,
        BinOp::Mul | BinOp::Div if positive(a) && positive(b) => Positive,
        BinOp::Mul if a.is_subset_of(Int) && b.is_subset_of(Int) => Int,
        _ => Real,
    }
}

/// The element type of a builtin's result from its arguments'.
pub(super) fn builtin_elem(builtin: Builtin, args: &[Expr]) -> Elem {
    use Elem::*;
    let first = args.first().map_or(Real, |a| a.elem);
    match builtin {
        Builtin::Exp | Builtin::Softplus => Positive,
        Builtin::Sigmoid | Builtin::Softmax => Unit,
        Builtin::OneHot => Bool,
        Builtin::Log => Real,
        // Each keeps `positive` and `unit` (tanh maps positives into (0, 1)); of
        // anything else the result may be zero or negative.
        Builtin::Sqrt | Builtin::Abs | Builtin::Relu if positive(first) => first,
        Builtin::Tanh if positive(first) => Unit,
        Builtin::Sum if positive(first) => Positive,
        Builtin::Sum if first.is_subset_of(Int) => Int,
        Builtin::Mean if positive(first) => first,
        Builtin::Dot if args.iter().all(|a| positive(a.elem)) => Positive,
        Builtin::Concat => args.iter().map(|a| a.elem).reduce(join).unwrap_or(Real),
        _ => Real,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::check;
    use crate::syntax::parse;

    fn program(source: &str) -> crate::check::Program {
        check(&parse(source).expect("parses")).expect("checks").0
    }

    /// The expression of the `let` declaring `name`.
    fn let_expr<'a>(p: &'a crate::check::Program, name: &str) -> &'a Expr {
        let id = p.info.lookup(name).expect("declared");
        p.model
            .stmts
            .iter()
            .find_map(|s| match &s.kind {
                StmtKind::Let { symbol, expr } if *symbol == id => Some(expr),
                _ => None,
            })
            .expect("a let")
    }

    #[test]
    fn distribution_arguments_come_in_canonical_order_with_symbols_resolved() {
        let p = program(
            "data y: real\nglobal s: positive ~ HalfNormal(1)\ny ~ Normal(scale = s, loc = 1)\n",
        );
        let s = p.info.lookup("s").expect("s");
        let y = p.info.lookup("y").expect("y");
        let kinds: Vec<&StmtKind> = p.model.stmts.iter().map(|s| &s.kind).collect();
        assert!(matches!(kinds[0], StmtKind::Data { symbol } if *symbol == y));
        let StmtKind::Likelihood { symbol, dist } = kinds[2] else {
            panic!("the third statement is the likelihood: {kinds:?}")
        };
        assert_eq!((*symbol, dist.family), (y, Family::Normal));
        assert_eq!(dist.args[0].kind, ExprKind::Number(1.0));
        assert_eq!(dist.args[1].kind, ExprKind::Symbol(s));
        assert_eq!(dist.args[1].elem, Elem::Positive);
    }

    #[test]
    fn expressions_carry_element_types_and_shapes() {
        let p = program(
            "data x: real[3]\ndata y: real[3]\nparam t: positive = 1\nnet f = mlp(3 -> 2)\n\
             let a = exp(x) * t + 0.5\nlet b = x[1:3]\nlet c = 1 - sigmoid(x[0])\nlet d = f(x)\n\
             let e = -t\nlet g = sum(softplus(d)) + 0.01\n\
             y ~ Normal(a + b[0] + c + d[0] + e + g, 1)\n",
        );
        let elem_shape = |n: &str| {
            let e = let_expr(&p, n);
            (e.elem, e.shape)
        };
        assert_eq!(elem_shape("a"), (Elem::Positive, Shape::Vector(3)));
        assert_eq!(elem_shape("b"), (Elem::Real, Shape::Vector(2)));
        assert_eq!(elem_shape("c"), (Elem::Unit, Shape::Scalar));
        assert_eq!(elem_shape("d"), (Elem::Real, Shape::Vector(2)));
        assert_eq!(elem_shape("e"), (Elem::Real, Shape::Scalar));
        assert_eq!(elem_shape("g"), (Elem::Positive, Shape::Scalar));
        let f = p.info.lookup("f").expect("f");
        assert!(
            matches!(&let_expr(&p, "d").kind, ExprKind::NetCall(net, args) if *net == f && args.len() == 1)
        );
        // A let's symbol takes its expression's element type.
        let a = p.info.lookup("a").expect("a");
        assert_eq!(p.info.symbol(a).elem, Elem::Positive);
    }

    #[test]
    fn a_flat_chain_is_one_node_and_prints_back() {
        let p = program("data y: real\nlet s = y - y + y * y / 2 - (y - y)\ny ~ Normal(s, 1)\n");
        let e = let_expr(&p, "s");
        let ExprKind::Binary { rest, .. } = &e.kind else {
            panic!("a chain: {e:?}")
        };
        assert_eq!(rest.len(), 3);
        assert_eq!(
            e.display(&p.info).to_string(),
            "y - y + y * y / 2 - (y - y)"
        );
    }

    #[test]
    fn element_type_rules() {
        assert_eq!(literal_elem(0.5), Elem::Unit);
        assert_eq!(literal_elem(2.0), Elem::Positive);
        assert_eq!(literal_elem(0.0), Elem::Real);
        assert_eq!(join(Elem::Unit, Elem::Positive), Elem::Positive);
        assert_eq!(join(Elem::Bool, Elem::Int), Elem::Int);
        assert_eq!(join(Elem::Int, Elem::Positive), Elem::Real);
    }
}
