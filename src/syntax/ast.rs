//! The typed syntax tree of a `.vi` model. Every node carries its [`Span`].
//!
//! The tree is plain data: it knows nothing about pest (that is `parser`'s business)
//! and holds no analysis results (those live in `check::ModelInfo`, beside it).

use crate::diag::Span;
use crate::dist::Elem;

/// A whole `.vi` file: its statements in source order.
#[derive(Debug, Clone, PartialEq)]
pub struct Model {
    pub stmts: Vec<Stmt>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Stmt {
    pub kind: StmtKind,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum StmtKind {
    /// `data NAME: TYPE`
    Data { name: Ident, ty: Type },
    /// `latent NAME: TYPE ~ DIST`
    Latent {
        name: Ident,
        ty: Type,
        dist: DistCall,
    },
    /// `global NAME: TYPE ~ DIST`
    Global {
        name: Ident,
        ty: Type,
        dist: DistCall,
    },
    /// `param NAME: TYPE = NUMBER`
    Param { name: Ident, ty: Type, init: Expr },
    /// `net NAME = mlp(...)`
    Net { name: Ident, mlp: Mlp },
    /// `let NAME = EXPR`
    Let { name: Ident, value: Expr },
    /// `NAME ~ DIST`
    Observe { name: Ident, dist: DistCall },
    /// `guide { ... }`
    Guide(GuideBlock),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ident {
    pub name: String,
    pub span: Span,
}

/// An element type with an optional vector size or matrix rows and columns: `real`,
/// `bool[64]`, `real[3, 2]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Type {
    pub elem: Elem,
    /// The size of a vector, or the rows of a matrix.
    pub size: Option<Size>,
    /// The columns of a matrix.
    pub cols: Option<Size>,
    pub span: Span,
}

/// A non-negative integer literal used as a size, an index or a slice bound.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Size {
    pub value: usize,
    pub span: Span,
}

/// `mlp(N0 -> ... -> Nk, ACT)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mlp {
    pub widths: Vec<Width>,
    pub activation: Option<Ident>,
    pub span: Span,
}

/// One width of an [`Mlp`]; `None` is `_`, a width the guide infers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Width {
    pub value: Option<usize>,
    pub span: Span,
}

/// `Normal(0, scale = 1)`.
#[derive(Debug, Clone, PartialEq)]
pub struct DistCall {
    pub name: Ident,
    pub args: Vec<Arg>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Arg {
    pub name: Option<Ident>,
    pub value: Expr,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Expr {
    pub kind: ExprKind,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ExprKind {
    Number(f64),
    Vector(Vec<Expr>),
    Name(Ident),
    Neg(Box<Expr>),
    /// A left-associative chain of operators of one precedence level,
    /// `first op1 e1 op2 e2 ...`, evaluated left to right: `a - b + c` is one node with
    /// two links. A flat sum of 100,000 terms is one node, so no pass recurses per term;
    /// only real nesting (parentheses, calls, unary minus, mixed precedence) deepens the
    /// tree.
    Binary {
        first: Box<Expr>,
        rest: Vec<(BinOp, Expr)>,
    },
    /// A builtin function or a net: `exp(x)`, `decoder(z)`.
    Call {
        func: Ident,
        args: Vec<Expr>,
    },
    /// `v[i]`
    Index {
        base: Box<Expr>,
        index: Size,
    },
    /// `v[c]`: the element (or a matrix's row) a class-valued name selects, per row.
    Select {
        base: Box<Expr>,
        index: Ident,
    },
    /// `v[a:b]`: elements `a` to `b - 1`.
    Slice {
        base: Box<Expr>,
        start: Size,
        end: Size,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinOp {
    Add,
    Sub,
    Mul,
    Div,
}

impl BinOp {
    /// The precedence level: `+` and `-` bind looser than `*` and `/`.
    pub fn level(self) -> u8 {
        match self {
            BinOp::Add | BinOp::Sub => 1,
            BinOp::Mul | BinOp::Div => 2,
        }
    }

    pub fn symbol(self) -> &'static str {
        match self {
            BinOp::Add => "+",
            BinOp::Sub => "-",
            BinOp::Mul => "*",
            BinOp::Div => "/",
        }
    }
}

/// `guide { ... }`
#[derive(Debug, Clone, PartialEq)]
pub struct GuideBlock {
    pub entries: Vec<GuideEntry>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum GuideEntry {
    /// `key = value`
    Setting {
        key: Ident,
        value: GuideValue,
        span: Span,
    },
    /// `name: mode`, as in `eta: free`.
    Local {
        name: Ident,
        mode: Ident,
        span: Span,
    },
}

/// The right-hand side of a guide setting, parsed generically; the checker gives it meaning.
#[derive(Debug, Clone, PartialEq)]
pub enum GuideValue {
    /// `mlp(_ -> 256 -> _, relu)`
    Mlp(Mlp),
    /// `planar(8)`, `planar(8, amortized)`, `iaf(2, hidden = 64)`
    Call {
        name: Ident,
        arg: Size,
        options: Vec<CallOption>,
        span: Span,
    },
    /// `none`, `meanfield`, `full`
    Name(Ident),
}

/// An option after a guide call's count: `amortized` or `hidden = 64`.
#[derive(Debug, Clone, PartialEq)]
pub struct CallOption {
    pub name: Ident,
    pub value: Option<Size>,
    pub span: Span,
}

impl GuideValue {
    pub fn span(&self) -> Span {
        match self {
            GuideValue::Mlp(mlp) => mlp.span,
            GuideValue::Call { span, .. } => *span,
            GuideValue::Name(ident) => ident.span,
        }
    }
}
