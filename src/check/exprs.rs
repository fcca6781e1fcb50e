//! Expressions: names resolved to symbols, builtin and net calls, and the shape (scalar
//! or vector size) and element type of every value, with scalars broadcasting to
//! vectors. Each checked expression becomes a typed [`hir::Expr`].
//!
//! A `None` result means an error was already reported below, so nothing above it
//! reports the same problem again. Recursion follows the tree's real nesting, which the
//! parser bounds; a flat chain `a + b + ...` is walked in a loop.

use super::hir::{self, binary_elem, builtin_elem, join, literal_elem};
use super::{Checker, MAX_SIZE, Shape, SymbolId, SymbolKind, output_shape};
use crate::diag::{Diagnostic, Span, suggest};
use crate::dist::{Elem, Family};
use crate::syntax::ast::{BinOp, Expr, ExprKind, Ident, Size};

use super::info::Builtin;

impl Checker {
    pub(super) fn expr(&mut self, expr: &Expr) -> Option<hir::Expr> {
        let typed = |kind, elem, shape| hir::Expr {
            kind,
            elem,
            shape,
            span: expr.span,
        };
        match &expr.kind {
            ExprKind::Number(v) => Some(typed(
                hir::ExprKind::Number(*v),
                literal_elem(*v),
                Shape::Scalar,
            )),
            ExprKind::Vector(items) => self.vector(items, expr.span),
            ExprKind::Name(name) => self.name(name, expr.span, false),
            ExprKind::Neg(inner) => {
                let inner = self.expr(inner)?;
                let shape = inner.shape;
                Some(typed(
                    hir::ExprKind::Neg(Box::new(inner)),
                    Elem::Real,
                    shape,
                ))
            }
            ExprKind::Binary { first, rest } => self.chain(first, rest),
            ExprKind::Call { func, args } => self.call(func, args, expr.span),
            ExprKind::Index { base, index } => {
                let base = self.operand_or_matrix(base)?;
                let n = self.indexable(&base)?;
                if index.value >= n {
                    let what = match base.shape {
                        Shape::Matrix(..) => "rows run",
                        _ => "indices run",
                    };
                    self.error(
                        Diagnostic::error(
                            index.span,
                            format!("index {} is out of range for {}", index.value, base.shape),
                        )
                        .with_label("out of range")
                        .with_hint(format!("{what} from 0 to {}", n - 1)),
                    );
                    return None;
                }
                let (elem, shape) = (base.elem, element_shape(base.shape));
                let kind = hir::ExprKind::Index {
                    base: Box::new(base),
                    index: index.value,
                };
                Some(typed(kind, elem, shape))
            }
            ExprKind::Select { base, index } => {
                let base = self.operand_or_matrix(base);
                let value = self.name(index, index.span, false);
                let base = base?;
                let n = self.indexable(&base)?;
                let site = match base.shape {
                    Shape::Matrix(..) => ClassSite::Rows,
                    _ => ClassSite::Elements,
                };
                let value = self.class(&value?, site, n, base.span)?;
                let (elem, shape) = (base.elem, element_shape(base.shape));
                let kind = hir::ExprKind::Select {
                    base: Box::new(base),
                    index: Box::new(value),
                };
                Some(typed(kind, elem, shape))
            }
            ExprKind::Slice { base, start, end } => {
                let base = self.expr(base)?;
                let n = self.indexable(&base)?;
                let shape = self.slice(n, start, end)?;
                let elem = base.elem;
                let kind = hir::ExprKind::Slice {
                    base: Box::new(base),
                    start: start.value,
                    end: end.value,
                };
                Some(typed(kind, elem, shape))
            }
        }
    }

    /// `first op1 e1 op2 e2 ...`, folded left to right: each operator's sizes are checked
    /// against the value so far. After a mismatch the remaining operands are still
    /// checked for their own errors, but no mismatch is reported twice.
    fn chain(&mut self, first: &Expr, rest: &[(BinOp, Expr)]) -> Option<hir::Expr> {
        let head = self.expr(first);
        let mut acc = head.as_ref().map(|h| (h.elem, h.shape));
        let mut span = first.span;
        let mut links = Vec::with_capacity(rest.len());
        for (op, operand) in rest {
            span = span.to(operand.span);
            let rhs = self.expr(operand);
            if let (Some((elem, shape)), Some(r)) = (acc, &rhs) {
                let shape = self.combine(*op, shape, r.shape, span);
                // Only the first link's left operand can be the literal of `1 - p`.
                let one = links.is_empty() && first.kind == ExprKind::Number(1.0);
                acc = shape.map(|shape| (binary_elem(*op, elem, one, r.elem), shape));
            } else {
                acc = None;
            }
            links.push(rhs.map(|r| (*op, r)));
        }
        let (elem, shape) = acc?;
        let rest = links.into_iter().collect::<Option<Vec<_>>>()?;
        Some(hir::Expr {
            kind: hir::ExprKind::Binary {
                first: Box::new(head?),
                rest,
            },
            elem,
            shape,
            span,
        })
    }

    /// The shape of `a op b`, or `None` after reporting vectors of unequal sizes.
    fn combine(&mut self, op: BinOp, a: Shape, b: Shape, span: Span) -> Option<Shape> {
        match (a, b) {
            (Shape::Vector(a), Shape::Vector(b)) if a != b => {
                self.error(
                    Diagnostic::error(
                        span,
                        format!("`{}` of vectors of unequal sizes {a} and {b}", op.symbol()),
                    )
                    .with_label(format!("size {a} {} size {b}", op.symbol()))
                    .with_hint("elementwise operations need equal sizes, or a scalar on one side"),
                );
                None
            }
            (Shape::Scalar, other) | (other, Shape::Scalar) => Some(other),
            (same, _) => Some(same),
        }
    }

    fn vector(&mut self, items: &[Expr], span: Span) -> Option<hir::Expr> {
        if items.is_empty() {
            self.error(
                Diagnostic::error(span, "a vector literal needs at least one element")
                    .with_label("empty"),
            );
            return None;
        }
        let mut ok = true;
        let mut checked = Vec::with_capacity(items.len());
        for item in items {
            match self.expr(item) {
                Some(e) if e.shape == Shape::Scalar => checked.push(e),
                Some(e) => {
                    self.error(
                        Diagnostic::error(
                            item.span,
                            "the elements of a vector literal must be scalars",
                        )
                        .with_label(format!("{}", e.shape))
                        .with_hint("join vectors with `concat(a, b)`"),
                    );
                    ok = false;
                }
                None => ok = false,
            }
        }
        if !ok {
            return None;
        }
        let elem = checked.iter().map(|e| e.elem).reduce(join)?;
        Some(hir::Expr {
            kind: hir::ExprKind::Vector(checked),
            elem,
            shape: Shape::Vector(items.len()),
            span,
        })
    }

    /// An expression that may also be a matrix name: the base of an index and the
    /// first argument of `matvec`, the only places a matrix can be used.
    fn operand_or_matrix(&mut self, expr: &Expr) -> Option<hir::Expr> {
        match &expr.kind {
            ExprKind::Name(name) => self.name(name, expr.span, true),
            _ => self.expr(expr),
        }
    }

    fn name(&mut self, name: &Ident, span: Span, matrix: bool) -> Option<hir::Expr> {
        let id = self.resolve(name)?;
        let symbol = &self.symbols[id.0];
        if let (Shape::Matrix(..), false) = (symbol.shape, matrix) {
            self.error(
                Diagnostic::error(
                    name.span,
                    format!("`{}` is a matrix, which can only be indexed or multiplied", name.name),
                )
                .with_label(symbol.shape.to_string())
                .with_hint(format!(
                    "take a row with `{0}[0]` or `{0}[c]` for a class `c`, or multiply a vector with `matvec({0}, v)`",
                    name.name
                )),
            );
            return None;
        }
        if let SymbolKind::Net(_) = symbol.kind {
            self.error(
                Diagnostic::error(
                    name.span,
                    format!("`{}` is a net and can only be called", name.name),
                )
                .with_label("a net used as a value")
                .with_hint(format!("call it: `{}(...)`", name.name)),
            );
            return None;
        }
        Some(hir::Expr {
            kind: hir::ExprKind::Symbol(id),
            elem: symbol.elem,
            shape: symbol.shape,
            span,
        })
    }

    /// The size of a vector being indexed or sliced, or the rows of a matrix.
    fn indexable(&mut self, base: &hir::Expr) -> Option<usize> {
        match base.shape {
            Shape::Vector(n) | Shape::Matrix(n, _) => Some(n),
            Shape::Scalar => {
                self.error(
                    Diagnostic::error(base.span, "cannot index a scalar").with_label("a scalar"),
                );
                None
            }
        }
    }

    fn slice(&mut self, n: usize, start: &Size, end: &Size) -> Option<Shape> {
        let span = start.span.to(end.span);
        if end.value > n {
            self.error(
                Diagnostic::error(
                    span,
                    format!(
                        "slice `{}:{}` is out of range for a vector of size {n}",
                        start.value, end.value
                    ),
                )
                .with_label("out of range")
                .with_hint(format!("a slice `a:b` needs b <= {n}")),
            );
            return None;
        }
        if start.value >= end.value {
            self.error(
                Diagnostic::error(
                    span,
                    format!("slice `{}:{}` is empty", start.value, end.value),
                )
                .with_label("empty slice")
                .with_hint("a slice `a:b` holds elements a to b - 1, so it needs a < b"),
            );
            return None;
        }
        Some(Shape::Vector(end.value - start.value))
    }

    fn call(&mut self, func: &Ident, args: &[Expr], span: Span) -> Option<hir::Expr> {
        let matvec = !self.by_name.contains_key(&func.name)
            && Builtin::from_name(&func.name) == Some(Builtin::MatVec);
        let checked: Vec<Option<hir::Expr>> = args
            .iter()
            .enumerate()
            .map(|(i, a)| {
                if matvec && i == 0 {
                    self.operand_or_matrix(a)
                } else {
                    self.expr(a)
                }
            })
            .collect();
        if let Some(&id) = self.by_name.get(&func.name) {
            self.used[id.0] = true;
            if self.broken[id.0] {
                return None;
            }
            let symbol = &self.symbols[id.0];
            let SymbolKind::Net(net) = &symbol.kind else {
                let kind = symbol.kind.keyword();
                self.error(
                    Diagnostic::error(
                        func.span,
                        format!("`{}` is not a function or a net", func.name),
                    )
                    .with_label(format!("declared with `{kind}`")),
                );
                return None;
            };
            let (input, output) = (net.widths[0], net.widths[net.widths.len() - 1]);
            let checked: Vec<hir::Expr> = checked.into_iter().collect::<Option<_>>()?;
            let given: usize = checked.iter().map(|e| e.shape.width()).sum();
            if args.is_empty() || given != input {
                self.error(
                    Diagnostic::error(
                        span,
                        format!(
                            "net `{}` takes an input of width {input}, but is given width {given}",
                            func.name
                        ),
                    )
                    .with_label(format!("width {given}"))
                    .with_hint(format!(
                        "the first width of `{}`'s mlp must equal the total width of its arguments",
                        func.name
                    )),
                );
                return None;
            }
            return Some(hir::Expr {
                kind: hir::ExprKind::NetCall(id, checked),
                elem: Elem::Real,
                shape: output_shape(output),
                span,
            });
        }
        let Some(builtin) = Builtin::from_name(&func.name) else {
            if self.declared.contains_key(&func.name) {
                // Declared later: `resolve` reports it.
                self.resolve(func);
                return None;
            }
            let nets: Vec<&str> = self
                .symbols
                .iter()
                .filter(|s| matches!(s.kind, SymbolKind::Net(_)))
                .map(|s| s.name.as_str())
                .collect();
            let candidates = Builtin::ALL.map(Builtin::name).into_iter().chain(nets);
            let mut d = Diagnostic::error(func.span, format!("unknown function `{}`", func.name))
                .with_label("not a function or a net");
            if let Some(s) = suggest(&func.name, candidates) {
                d = d.with_hint(format!("did you mean `{s}`?"));
            }
            self.error(d);
            return None;
        };
        let checked: Vec<hir::Expr> = checked.into_iter().collect::<Option<_>>()?;
        let shape = self.builtin(builtin, func, &checked, span)?;
        Some(hir::Expr {
            elem: builtin_elem(builtin, &checked),
            kind: hir::ExprKind::Builtin(builtin, checked),
            shape,
            span,
        })
    }

    fn builtin(
        &mut self,
        builtin: Builtin,
        func: &Ident,
        args: &[hir::Expr],
        span: Span,
    ) -> Option<Shape> {
        let name = builtin.name();
        let shapes: Vec<Shape> = args.iter().map(|e| e.shape).collect();
        let arity = match builtin {
            Builtin::Dot | Builtin::OneHot | Builtin::MatVec => Some(2),
            Builtin::Concat => None,
            _ => Some(1),
        };
        if let Some(arity) = arity
            && shapes.len() != arity
        {
            let plural = if arity == 1 { "argument" } else { "arguments" };
            self.error(
                Diagnostic::error(
                    span,
                    format!(
                        "`{name}` takes {arity} {plural}, but {} were given",
                        shapes.len()
                    ),
                )
                .with_label(format!("{} arguments", shapes.len())),
            );
            return None;
        }
        match builtin {
            Builtin::Sum | Builtin::Mean | Builtin::LogSumExp => Some(Shape::Scalar),
            Builtin::OneHot => self.one_hot(&args[0], &args[1]),
            Builtin::MatVec => self.matvec(&args[0], &args[1], span),
            Builtin::Dot => {
                let (a, b) = (shapes[0].width(), shapes[1].width());
                if shapes[0] != shapes[1] {
                    self.error(
                        Diagnostic::error(
                            span,
                            format!("`dot` of vectors of unequal sizes {a} and {b}"),
                        )
                        .with_label(format!("sizes {a} and {b}"))
                        .with_hint("both arguments of `dot` need the same size"),
                    );
                    return None;
                }
                Some(Shape::Scalar)
            }
            Builtin::Concat => {
                if shapes.is_empty() {
                    self.error(
                        Diagnostic::error(func.span, "`concat` needs at least one argument")
                            .with_label("no arguments"),
                    );
                    return None;
                }
                let width: usize = shapes.iter().map(|s| s.width()).sum();
                if width > MAX_SIZE {
                    self.error(Diagnostic::error(
                        span,
                        format!("`concat` makes a vector of size {width}, which is too large"),
                    ));
                    return None;
                }
                Some(Shape::Vector(width))
            }
            _ => Some(shapes[0]),
        }
    }

    /// `one_hot(value, K)`: `K` a literal of at least 2 classes, `value` a class
    /// ([`Checker::class`]).
    fn one_hot(&mut self, value: &hir::Expr, classes: &hir::Expr) -> Option<Shape> {
        let k = match classes.kind {
            hir::ExprKind::Number(k) if k >= 2.0 && k == k.floor() && k <= MAX_SIZE as f64 => {
                Some(k as usize)
            }
            _ => {
                self.error(
                    Diagnostic::error(
                        classes.span,
                        "`one_hot` needs the number of classes as a whole number of at least 2",
                    )
                    .with_label("not a number of classes")
                    .with_hint("write the count as a literal: `one_hot(y, 10)`"),
                );
                None
            }
        };
        let symbol = self.class(value, ClassSite::OneHot, k.unwrap_or(2), classes.span);
        symbol?;
        Some(Shape::Vector(k?))
    }

    /// `matvec(W, v)`: a `rows x cols` matrix by a vector of `cols` (a scalar when
    /// `cols` is 1) gives a vector of `rows`.
    fn matvec(&mut self, w: &hir::Expr, v: &hir::Expr, span: Span) -> Option<Shape> {
        let Shape::Matrix(rows, cols) = w.shape else {
            self.error(
                Diagnostic::error(w.span, "`matvec` multiplies a matrix by a vector")
                    .with_label(format!("{}, not a matrix", w.shape))
                    .with_hint("declare the matrix as `param W: real[rows, cols]` or `global W: real[rows, cols] ~ ...`"),
            );
            return None;
        };
        if v.shape.width() != cols || matches!(v.shape, Shape::Matrix(..)) {
            self.error(
                Diagnostic::error(
                    span,
                    format!(
                        "`matvec` of {} needs a vector of size {cols}, but is given {}",
                        w.shape, v.shape
                    ),
                )
                .with_label(format!("{} columns by {}", cols, v.shape))
                .with_hint("the vector's size must equal the matrix's number of columns"),
            );
            return None;
        }
        Some(output_shape(rows))
    }

    /// A class value used to pick one of `classes` things (`site`): the name of a
    /// scalar `int` or `bool` data or latent. The number of classes it can take is
    /// checked once every statement is seen ([`Checker::class_widths`]), because a
    /// data name's `~` may come after its use.
    fn class(
        &mut self,
        value: &hir::Expr,
        site: ClassSite,
        classes: usize,
        span: Span,
    ) -> Option<hir::Expr> {
        match value.kind {
            hir::ExprKind::Symbol(id)
                if value.shape == Shape::Scalar
                    && matches!(value.elem, Elem::Int | Elem::Bool)
                    && matches!(
                        self.symbols[id.0].kind,
                        SymbolKind::Data | SymbolKind::Latent { .. }
                    ) =>
            {
                self.class_uses.push(ClassUse {
                    symbol: id,
                    classes,
                    site,
                    span,
                });
                Some(value.clone())
            }
            _ => {
                let what = match value.kind {
                    hir::ExprKind::Symbol(id) => {
                        let s = &self.symbols[id.0];
                        format!("{} of type `{}`, {}", s.kind.keyword(), s.elem, value.shape)
                    }
                    _ => "an expression".to_string(),
                };
                self.error(
                    Diagnostic::error(
                        value.span,
                        format!(
                            "{} takes a class: the name of a scalar `int` or `bool` data or latent",
                            site.what()
                        ),
                    )
                    .with_label(what)
                    .with_hint("declare the class as `data y: int` and observe it with `y ~ Categorical(logits = ...)`"),
                );
                None
            }
        }
    }

    /// Checks every class use (`one_hot(y, K)`, `v[y]`, `W[y]`) against the classes `y`
    /// can take: 2 for a `bool`, the width of the logits of `y`'s `Categorical` for an
    /// `int`. An `int` with any other distribution, or none, has no known bound, so it
    /// could be out of range on some row; that is an error too.
    pub(super) fn class_widths(&mut self) {
        for use_ in std::mem::take(&mut self.class_uses) {
            let symbol = &self.symbols[use_.symbol.0];
            let name = symbol.name.clone();
            let dist = self.stmts.iter().find_map(|stmt| match &stmt.kind {
                hir::StmtKind::Likelihood { symbol, dist }
                | hir::StmtKind::Prior { symbol, dist }
                    if *symbol == use_.symbol =>
                {
                    Some((dist, stmt.span))
                }
                _ => None,
            });
            let classes = if symbol.elem == Elem::Bool {
                Some(2)
            } else {
                match dist {
                    Some((dist, _)) if dist.family == Family::Categorical => {
                        Some(dist.args[0].shape.width())
                    }
                    // Its `~` had an error of its own, reported there.
                    None if self.observed.contains_key(&use_.symbol) => continue,
                    _ => None,
                }
            };
            let k = use_.classes;
            let d = match classes {
                Some(n) if n == k => continue,
                Some(n) => {
                    let (message, hint) = use_.site.mismatch(&name, k, n);
                    let mut d = Diagnostic::error(use_.span, message)
                        .with_label(format!("{k} {}", use_.site.things()))
                        .with_hint(hint);
                    if let Some((_, span)) = dist {
                        d = d.with_note(span, format!("{n} logits here"));
                    }
                    d
                }
                None => Diagnostic::error(
                    use_.span,
                    format!(
                        "{} `{name}` needs to know how many classes `{name}` has",
                        use_.site.of()
                    ),
                )
                .with_label(format!("{k} {}", use_.site.things()))
                .with_hint(format!(
                    "observe it with `{name} ~ Categorical(logits = ...)` and {k} logits, which bounds every row's class"
                )),
            };
            self.error(d);
        }
    }
}

/// A class picking one of `classes` things, kept until every statement is checked.
pub(super) struct ClassUse {
    symbol: SymbolId,
    classes: usize,
    site: ClassSite,
    /// What says how many things there are: `one_hot`'s count, the indexed value.
    span: Span,
}

/// Where a class is used.
#[derive(Debug, Clone, Copy)]
pub(super) enum ClassSite {
    OneHot,
    /// `v[c]`: an element of a vector.
    Elements,
    /// `W[c]`: a row of a matrix.
    Rows,
}

impl ClassSite {
    fn what(self) -> &'static str {
        match self {
            ClassSite::OneHot => "`one_hot`",
            ClassSite::Elements | ClassSite::Rows => "indexing by a name",
        }
    }

    /// How the use of a class `name` is named at the start of a message.
    fn of(self) -> &'static str {
        match self {
            ClassSite::OneHot => "`one_hot` of",
            ClassSite::Elements | ClassSite::Rows => "indexing by",
        }
    }

    /// The message and hint when `k` things are picked by a class of `n` values.
    fn mismatch(self, name: &str, k: usize, n: usize) -> (String, String) {
        match self {
            ClassSite::OneHot => (
                format!("`one_hot` makes {k} classes, but `{name}` has {n}"),
                format!("write `one_hot({name}, {n})`"),
            ),
            ClassSite::Elements | ClassSite::Rows => {
                let (whole, things) = match self {
                    ClassSite::Rows => ("matrix", "rows"),
                    _ => ("vector", "elements"),
                };
                (
                    format!(
                        "the {whole} indexed by `{name}` has {k} {things}, but `{name}` has {n} classes"
                    ),
                    format!("give the {whole} {n} {things}, one for each class"),
                )
            }
        }
    }

    fn things(self) -> &'static str {
        match self {
            ClassSite::OneHot => "classes",
            ClassSite::Elements => "elements",
            ClassSite::Rows => "rows",
        }
    }
}

/// The shape of one element of a vector (a scalar) or one row of a matrix.
fn element_shape(shape: Shape) -> Shape {
    match shape {
        Shape::Matrix(_, c) => output_shape(c),
        _ => Shape::Scalar,
    }
}
