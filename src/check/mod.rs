//! The checker: names, kinds, element types, sizes, supports, distribution calls and the
//! guide block of a parsed model (SPEC sections 1 and 6).
//!
//! It reports every problem it finds, never stops at the first, and never modifies the
//! AST. What it learns becomes a [`Program`]: the resolved, typed [`hir::Model`] and its
//! symbol table [`ModelInfo`]; later stages never see the AST. It never prints.

mod dists;
mod exprs;
mod guide;
pub mod hir;
mod info;
mod summary;

use std::collections::HashMap;

pub use hir::Resolved;
pub use info::*;
pub use summary::summary;

use crate::diag::{Diagnostic, Span, suggest};
use crate::dist::{Elem, transform};
use crate::syntax::ast::{self, Ident, Model, StmtKind, Type};

/// The largest size, index bound or mlp width accepted.
pub const MAX_SIZE: usize = 1_000_000;

/// A checked model: the HIR and the symbol table its [`SymbolId`]s index.
#[derive(Debug, Clone)]
pub struct Program {
    pub model: hir::Model,
    pub info: ModelInfo,
}

/// A checked model and its warnings, or every diagnostic (errors and warnings, in
/// source order) when there is at least one error.
pub type Checked = Result<(Program, Vec<Diagnostic>), Vec<Diagnostic>>;

/// Checks a parsed model.
pub fn check(model: &Model) -> Checked {
    let mut checker = Checker::new(model);
    for (index, stmt) in model.stmts.iter().enumerate() {
        checker.current = index;
        if let Some(kind) = checker.stmt(stmt) {
            checker.stmts.push(hir::Stmt {
                kind,
                span: stmt.span,
            });
        }
    }
    checker.finish(model)
}

/// A name declared somewhere in the model, known before the walk reaches it so that a
/// use before the declaration gets its own message.
struct Declared {
    stmt: usize,
    kind: &'static str,
}

struct Checker {
    symbols: Vec<Symbol>,
    by_name: HashMap<String, SymbolId>,
    used: Vec<bool>,
    /// Symbols whose declaration had an error: their uses are not reported again.
    broken: Vec<bool>,
    declared: HashMap<String, Declared>,
    /// The HIR of the statements checked so far.
    stmts: Vec<hir::Stmt>,
    /// The first `~` over each data symbol, to report a second.
    observed: HashMap<SymbolId, Span>,
    guide: Option<(usize, Span)>,
    /// The uses of class values, checked against their names' classes at the end.
    class_uses: Vec<exprs::ClassUse>,
    diagnostics: Vec<Diagnostic>,
    /// The statement being checked.
    current: usize,
}

impl Checker {
    fn new(model: &Model) -> Checker {
        let mut declared = HashMap::new();
        for (stmt, s) in model.stmts.iter().enumerate() {
            let (name, kind) = match &s.kind {
                StmtKind::Data { name, .. } => (name, "data"),
                StmtKind::Latent { name, .. } => (name, "latent"),
                StmtKind::Global { name, .. } => (name, "global"),
                StmtKind::Param { name, .. } => (name, "param"),
                StmtKind::Net { name, .. } => (name, "net"),
                StmtKind::Let { name, .. } => (name, "let"),
                StmtKind::Observe { .. } | StmtKind::Guide(_) => continue,
            };
            declared
                .entry(name.name.clone())
                .or_insert(Declared { stmt, kind });
        }
        Checker {
            symbols: Vec::new(),
            by_name: HashMap::new(),
            used: Vec::new(),
            broken: Vec::new(),
            declared,
            stmts: Vec::new(),
            observed: HashMap::new(),
            guide: None,
            class_uses: Vec::new(),
            diagnostics: Vec::new(),
            current: 0,
        }
    }

    fn error(&mut self, diagnostic: Diagnostic) {
        self.diagnostics.push(diagnostic);
    }

    /// Checks one statement and declares its name; its HIR if it is well formed (the
    /// HIR is only used when the whole model is).
    fn stmt(&mut self, stmt: &ast::Stmt) -> Option<hir::StmtKind> {
        match &stmt.kind {
            StmtKind::Data { name, ty } => {
                let shape = self.ty(ty);
                self.no_matrix(ty, shape, "data");
                self.declare(name, SymbolKind::Data, ty.elem, shape)
                    .map(|symbol| hir::StmtKind::Data { symbol })
            }
            StmtKind::Latent { name, ty, dist } | StmtKind::Global { name, ty, dist } => {
                let shape = self.ty(ty);
                if let StmtKind::Latent { .. } = &stmt.kind {
                    self.no_matrix(ty, shape, "a latent");
                }
                let global = matches!(&stmt.kind, StmtKind::Global { .. });
                let prior = self.prior(name, ty, shape, dist, global);
                let kind = match &stmt.kind {
                    StmtKind::Latent { .. } => SymbolKind::Latent { free: false },
                    _ => SymbolKind::Global {},
                };
                // A bad prior still declares the name, so later uses are not reported too.
                let (kind, elem) = match &prior {
                    Ok(_) => (kind, ty.elem),
                    Err(elem) => (SymbolKind::Let, *elem),
                };
                let symbol = self.declare(name, kind, elem, shape)?;
                Some(hir::StmtKind::Prior {
                    symbol,
                    dist: prior.ok()?,
                })
            }
            StmtKind::Param { name, ty, init } => {
                let shape = self.ty(ty);
                let init = self.param(name, ty, shape, init);
                let kind = SymbolKind::Param { init: init.clone() };
                let symbol = self.declare(name, kind, ty.elem, shape)?;
                Some(hir::StmtKind::Param { symbol, init })
            }
            StmtKind::Net { name, mlp } => {
                let net = self.net(name, mlp);
                let shape = net.as_ref().map_or(Shape::Scalar, |n| {
                    output_shape(n.widths.last().copied().unwrap_or(1))
                });
                let symbol = self.declare_or_break(
                    name,
                    net.clone().map(SymbolKind::Net),
                    Elem::Real,
                    shape,
                )?;
                Some(hir::StmtKind::Net { symbol, net: net? })
            }
            StmtKind::Let { name, value } => {
                let expr = self.expr(value);
                let (elem, shape) = expr
                    .as_ref()
                    .map_or((Elem::Real, Shape::Scalar), |e| (e.elem, e.shape));
                let kind = expr.as_ref().map(|_| SymbolKind::Let);
                let symbol = self.declare_or_break(name, kind, elem, shape)?;
                Some(hir::StmtKind::Let {
                    symbol,
                    expr: expr?,
                })
            }
            StmtKind::Observe { name, dist } => self.observe(name, dist, stmt.span),
            StmtKind::Guide(block) => {
                match self.guide {
                    Some((_, first)) => self.error(
                        Diagnostic::error(block.span, "the model has two `guide` blocks")
                            .with_label("second guide block")
                            .with_note(first, "first guide block")
                            .with_hint("merge the settings into one block"),
                    ),
                    None => self.guide = Some((self.current, block.span)),
                }
                None
            }
        }
    }

    /// The shape of a declared type, checking its size (a matrix's rows, columns and
    /// number of elements).
    fn ty(&mut self, ty: &Type) -> Shape {
        match (&ty.size, &ty.cols) {
            (None, _) => Shape::Scalar,
            (Some(size), None) => Shape::Vector(self.size(size.value, size.span, "a size")),
            (Some(rows), Some(cols)) => {
                let r = self.size(rows.value, rows.span, "a number of rows");
                let c = self.size(cols.value, cols.span, "a number of columns");
                if r.saturating_mul(c) > MAX_SIZE {
                    self.error(
                        Diagnostic::error(
                            ty.span,
                            format!("a matrix of {r} x {c} elements is too large"),
                        )
                        .with_label(format!("more than {MAX_SIZE} elements")),
                    );
                    return Shape::Scalar;
                }
                Shape::Matrix(r, c)
            }
        }
    }

    /// Only a `param` or a `global` may be a matrix: a per-row matrix has no column
    /// layout in a data file and no guide.
    fn no_matrix(&mut self, ty: &Type, shape: Shape, what: &str) {
        if let Shape::Matrix(..) = shape {
            self.error(
                Diagnostic::error(ty.span, format!("{what} cannot be a matrix"))
                    .with_label(shape.to_string())
                    .with_hint(
                        "only a `param` or a `global` can be a matrix; declare a vector `real[n]` instead",
                    ),
            );
        }
    }

    /// Checks a size or width is between 1 and [`MAX_SIZE`]; returns it, or 1 if not.
    fn size(&mut self, value: usize, span: Span, what: &str) -> usize {
        if value == 0 {
            self.error(
                Diagnostic::error(span, format!("{what} must be at least 1")).with_label("zero"),
            );
            1
        } else if value > MAX_SIZE {
            self.error(
                Diagnostic::error(span, format!("{what} of {value} is too large"))
                    .with_label(format!("more than {MAX_SIZE}")),
            );
            1
        } else {
            value
        }
    }

    /// Declares a symbol whose declaration may have failed (`kind` is `None`): the name
    /// still exists, so that its uses are not reported as unknown.
    fn declare_or_break(
        &mut self,
        name: &Ident,
        kind: Option<SymbolKind>,
        elem: Elem,
        shape: Shape,
    ) -> Option<SymbolId> {
        let broken = kind.is_none();
        let symbol = self.declare(name, kind.unwrap_or(SymbolKind::Let), elem, shape)?;
        self.broken[symbol.0] = broken;
        Some(symbol)
    }

    /// Declares a symbol; `None` (after reporting it) if the name is taken.
    fn declare(
        &mut self,
        name: &Ident,
        kind: SymbolKind,
        elem: Elem,
        shape: Shape,
    ) -> Option<SymbolId> {
        if let Some(&first) = self.by_name.get(&name.name) {
            let first = &self.symbols[first.0];
            let message = format!("`{}` is declared twice", name.name);
            let note = format!("first declared here, with `{}`", first.kind.keyword());
            let first_span = first.span;
            self.error(
                Diagnostic::error(name.span, message)
                    .with_label("declared again here")
                    .with_note(first_span, note)
                    .with_hint("rename one of them"),
            );
            return None;
        }
        let id = SymbolId(self.symbols.len());
        self.by_name.insert(name.name.clone(), id);
        self.symbols.push(Symbol {
            name: name.name.clone(),
            span: name.span,
            kind,
            elem,
            shape,
        });
        self.used.push(false);
        self.broken.push(false);
        Some(id)
    }

    /// Resolves a name used in an expression or a `~`, reporting unknown names and
    /// names used before their declaration.
    fn resolve(&mut self, name: &Ident) -> Option<SymbolId> {
        if let Some(&id) = self.by_name.get(&name.name) {
            self.used[id.0] = true;
            return (!self.broken[id.0]).then_some(id);
        }
        let diagnostic = match self.declared.get(&name.name) {
            Some(later) if later.stmt >= self.current => {
                let form = match later.kind {
                    "net" | "let" => format!("{} {} = ...", later.kind, name.name),
                    kind => format!("{kind} {}: ...", name.name),
                };
                Diagnostic::error(
                    name.span,
                    format!("`{}` is used before it is declared", name.name),
                )
                .with_label(format!("declare `{form}` above this line"))
            }
            // Declared earlier, but its declaration failed (a redeclaration is reported there).
            Some(_) => return None,
            None => {
                let mut d = Diagnostic::error(name.span, format!("unknown name `{}`", name.name))
                    .with_label("not declared");
                let known = self.symbols.iter().map(|s| s.name.as_str());
                if let Some(s) = suggest(&name.name, known) {
                    d = d.with_hint(format!("did you mean `{s}`?"));
                }
                d
            }
        };
        self.error(diagnostic);
        None
    }

    fn param(&mut self, name: &Ident, ty: &Type, shape: Shape, init: &ast::Expr) -> ParamInit {
        if !ty.elem.is_continuous() {
            self.error(
                Diagnostic::error(
                    ty.span,
                    format!(
                        "param `{}` must be continuous, not `{}`",
                        name.name, ty.elem
                    ),
                )
                .with_label("a discrete type")
                .with_hint("declare it `real`, `positive` or `unit`"),
            );
        }
        let numbers = match literal(init) {
            Some(Literal::Number(v)) => return self.param_value(ty, v, init.span),
            Some(Literal::Row(row)) => match shape {
                Shape::Vector(n) if row.len() == n => Some(row),
                _ => None,
            },
            Some(Literal::Rows(rows)) => match shape {
                Shape::Matrix(r, c) if rows.len() == r && rows.iter().all(|x| x.len() == c) => {
                    Some(rows.into_iter().flatten().collect())
                }
                _ => None,
            },
            None => {
                self.error(
                    Diagnostic::error(init.span, "the initial value of a param must be a number")
                        .with_label("not a number")
                        .with_hint(format!("write `param {}: {} = 0.5`", name.name, ty.elem)),
                );
                return ParamInit::All(0.0);
            }
        };
        let Some(numbers) = numbers else {
            self.error(
                Diagnostic::error(
                    init.span,
                    format!(
                        "the initial value of `{}` does not have its shape, {shape}",
                        name.name
                    ),
                )
                .with_label("another shape")
                .with_hint(
                    "give one number for every element, `[1, 2]` for a vector or `[[1, 2], [3, 4]]` for a matrix by rows, or a single number for all",
                ),
            );
            return ParamInit::All(0.0);
        };
        let values = numbers
            .into_iter()
            .map(|(v, span)| match self.param_value(ty, v, span) {
                ParamInit::All(v) => v,
                ParamInit::Each(_) => unreachable!("internal: one number"),
            })
            .collect();
        ParamInit::Each(values)
    }

    /// One initial number, checked against the param's type.
    fn param_value(&mut self, ty: &Type, value: f64, span: Span) -> ParamInit {
        if !transform::contains(ty.elem, value) {
            self.error(
                Diagnostic::error(
                    span,
                    format!("the initial value {value} is not `{}`", ty.elem),
                )
                .with_label(format!("outside `{}`", ty.elem)),
            );
        }
        ParamInit::All(value)
    }

    fn net(&mut self, name: &Ident, mlp: &ast::Mlp) -> Option<NetInfo> {
        let mut widths = Vec::new();
        for width in &mlp.widths {
            match width.value {
                Some(value) => widths.push(self.size(value, width.span, "a width")),
                None => self.error(
                    Diagnostic::error(
                        width.span,
                        "`_` widths are only allowed in the guide's encoder",
                    )
                    .with_label("width not given")
                    .with_hint("write the width as a number"),
                ),
            }
        }
        if mlp.widths.len() < 2 {
            self.error(
                Diagnostic::error(
                    mlp.span,
                    "an mlp needs at least an input and an output width",
                )
                .with_label("one width")
                .with_hint("write it like `mlp(8 -> 64)` or `mlp(8 -> 128 -> 64, tanh)`"),
            );
            return None;
        }
        let activation = self.activation(mlp)?;
        if widths.len() != mlp.widths.len() {
            return None;
        }
        let net = NetInfo { widths, activation };
        let count = net.param_count();
        if count > MAX_PARAMS {
            self.error(
                Diagnostic::error(
                    mlp.span,
                    format!(
                        "net `{}` has {count} parameters, more than the limit of {MAX_PARAMS} (2^28, 1 GiB of values)",
                        name.name
                    ),
                )
                .with_label("too many parameters")
                .with_hint("use narrower layers"),
            );
            return None;
        }
        Some(net)
    }

    /// The activation of an mlp: required when it has hidden layers; `tanh` otherwise,
    /// where it is never applied.
    fn activation(&mut self, mlp: &ast::Mlp) -> Option<Activation> {
        let Some(name) = &mlp.activation else {
            if mlp.widths.len() > 2 {
                self.error(
                    Diagnostic::error(mlp.span, "an mlp with hidden layers needs an activation")
                        .with_label("no activation")
                        .with_hint("add one after the widths, e.g. `, tanh`"),
                );
                return None;
            }
            return Some(Activation::Tanh);
        };
        let activation = Activation::from_name(&name.name);
        if activation.is_none() {
            let mut d = Diagnostic::error(name.span, format!("unknown activation `{}`", name.name))
                .with_label("not an activation");
            d = match suggest(&name.name, Activation::ALL.map(Activation::name)) {
                Some(s) => d.with_hint(format!("did you mean `{s}`?")),
                None => d.with_hint(
                    "the activations are `tanh`, `relu`, `softplus`, `sigmoid` and `elu`",
                ),
            };
            self.error(d);
        }
        activation
    }

    fn observe(&mut self, name: &Ident, dist: &ast::DistCall, span: Span) -> Option<hir::StmtKind> {
        let Some(id) = self.resolve(name) else {
            // Still check the distribution's own arguments.
            self.dist_args_only(dist);
            return None;
        };
        let symbol = &self.symbols[id.0];
        if !matches!(symbol.kind, SymbolKind::Data) {
            let kind = symbol.kind.keyword();
            self.error(
                Diagnostic::error(name.span, format!("`{}` is a {kind}, and only data can be observed with `~`", name.name))
                    .with_label("not data")
                    .with_note(symbol.span, format!("declared here as a {kind}"))
                    .with_hint("a latent's distribution is given in its declaration: `latent z: real ~ Normal(0, 1)`"),
            );
            self.dist_args_only(dist);
            return None;
        }
        if let Some(&first) = self.observed.get(&id) {
            self.error(
                Diagnostic::error(span, format!("`{}` is observed twice", name.name))
                    .with_label("second likelihood term")
                    .with_note(first, "first observed here")
                    .with_hint("a data value has one likelihood; remove one of the lines"),
            );
            return None;
        }
        self.observed.insert(id, span);
        let (elem, shape) = (symbol.elem, symbol.shape);
        let dist = self.likelihood(name, elem, shape, dist)?;
        Some(hir::StmtKind::Likelihood { symbol: id, dist })
    }

    fn finish(mut self, model: &Model) -> Checked {
        self.class_widths();
        if !self.observed_any() {
            let span = model.stmts.first().map_or(Span::new(0, 0), |s| s.span);
            self.error(
                Diagnostic::error(span, "the model has no likelihood term")
                    .with_label("nothing is observed")
                    .with_hint(
                        "observe data with `~`, e.g. `data y: real` then `y ~ Normal(0, 1)`",
                    ),
            );
        }
        let block = self
            .guide
            .and_then(|(index, _)| match &model.stmts[index].kind {
                StmtKind::Guide(block) => Some(block),
                _ => None,
            });
        let guide = self.guide_spec(block);
        for ((symbol, used), broken) in self.symbols.iter().zip(&self.used).zip(&self.broken) {
            if *used || *broken {
                continue;
            }
            let hint = match symbol.kind {
                SymbolKind::Data => format!(
                    "observe it with `{} ~ ...` or use it in an expression",
                    symbol.name
                ),
                _ => "use it in the model, or remove it".to_string(),
            };
            let warning = Diagnostic::warning(
                symbol.span,
                format!("{} `{}` is never used", symbol.kind.keyword(), symbol.name),
            )
            .with_label("never used")
            .with_hint(hint);
            self.diagnostics.push(warning);
        }
        let info = ModelInfo {
            symbols: std::mem::take(&mut self.symbols),
            guide,
            by_name: std::mem::take(&mut self.by_name),
        };
        // Each net was held to the limit on its own; this is their sum with the encoder.
        if !self.diagnostics.iter().any(Diagnostic::is_error)
            && let Err(e) = info.check_param_budget(&info.guide.encoder_hidden)
        {
            let span = match self.guide {
                Some((_, span)) => span,
                None => info
                    .symbols
                    .iter()
                    .filter_map(|s| match &s.kind {
                        SymbolKind::Net(net) => Some((net.param_count(), s.span)),
                        _ => None,
                    })
                    .max_by_key(|(count, _)| *count)
                    .map_or(Span::new(0, 0), |(_, span)| span),
            };
            self.error(
                Diagnostic::error(span, e.to_string())
                    .with_label("too many parameters")
                    .with_hint("use narrower layers"),
            );
        }
        self.diagnostics.sort_by_key(|d| (d.span.start, d.span.end));
        if self.diagnostics.iter().any(Diagnostic::is_error) {
            return Err(self.diagnostics);
        }
        let model = hir::Model { stmts: self.stmts };
        Ok((Program { model, info }, self.diagnostics))
    }

    /// Whether some `~` statement named a data symbol, even one whose distribution failed.
    fn observed_any(&self) -> bool {
        !self.observed.is_empty()
    }
}

/// A literal initial value: a number, a vector of numbers, or a vector of such
/// vectors (a matrix by rows), each number with its span.
enum Literal {
    Number(f64),
    Row(Vec<(f64, Span)>),
    Rows(Vec<Vec<(f64, Span)>>),
}

fn literal(expr: &ast::Expr) -> Option<Literal> {
    let number = |e: &ast::Expr| match e.kind {
        ast::ExprKind::Number(v) => Some((v, e.span)),
        _ => None,
    };
    let row = |e: &ast::Expr| match &e.kind {
        ast::ExprKind::Vector(items) => items.iter().map(number).collect::<Option<Vec<_>>>(),
        _ => None,
    };
    match &expr.kind {
        ast::ExprKind::Number(v) => Some(Literal::Number(*v)),
        ast::ExprKind::Vector(items) => match items.first().map(|e| &e.kind) {
            Some(ast::ExprKind::Vector(_)) => items
                .iter()
                .map(row)
                .collect::<Option<_>>()
                .map(Literal::Rows),
            _ => row(expr).map(Literal::Row),
        },
        _ => None,
    }
}

/// A net whose output has width 1 yields a scalar.
fn output_shape(width: usize) -> Shape {
    if width == 1 {
        Shape::Scalar
    } else {
        Shape::Vector(width)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dist::Family;
    use crate::syntax::parse;

    fn program(source: &str) -> Program {
        let model = parse(source).expect("parses");
        check(&model).expect("checks").0
    }

    fn info(source: &str) -> ModelInfo {
        program(source).info
    }

    /// The families of the likelihood terms, in order.
    fn likelihoods(source: &str) -> Vec<Family> {
        let program = program(source);
        program
            .model
            .stmts
            .iter()
            .filter_map(|s| match &s.kind {
                hir::StmtKind::Likelihood { dist, .. } => Some(dist.family),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn arguments_come_out_in_canonical_order() {
        let p = program("data y: real\ny ~ Normal(scale = 2, loc = 1)\n");
        let hir::StmtKind::Likelihood { symbol, dist } = &p.model.stmts[1].kind else {
            panic!("a likelihood: {:?}", p.model.stmts)
        };
        assert_eq!(dist.family, Family::Normal);
        let args: Vec<String> = dist
            .args
            .iter()
            .map(|a| a.display(&p.info).to_string())
            .collect();
        assert_eq!(args, ["1", "2"]);
        assert_eq!(p.info.symbol(*symbol).name, "y");
    }

    #[test]
    fn argument_names_pick_the_parameterization() {
        let families = likelihoods(
            "data x: real\ndata b: bool\ndata n: int\nb ~ Bernoulli(logits = x)\nn ~ Poisson(log_rate = x)\n",
        );
        assert_eq!(families, [Family::BernoulliLogits, Family::PoissonLogRate]);
        let families = likelihoods("data b: bool\nb ~ Bernoulli(0.3)\n");
        assert_eq!(families, [Family::BernoulliProbs]);
    }

    #[test]
    fn symbols_know_their_kind_shape_and_guide() {
        let info = info(include_str!("../../examples/eight_schools.vi"));
        let eta = info.lookup("eta").expect("eta is declared");
        assert!(matches!(
            info.symbol(eta).kind,
            SymbolKind::Latent { free: true, .. }
        ));
        assert_eq!(info.guide.free, vec![eta]);
        assert_eq!(info.data_width(), 2);
        assert_eq!(info.amortized_width(), 0);
        let names: Vec<&str> = info.symbols.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["y", "sigma", "mu", "tau", "eta", "theta"]);
        let vae = self::info(include_str!("../../examples/vae.vi"));
        let z = vae.symbol(vae.lookup("z").expect("z"));
        assert_eq!((z.shape, z.shape.width()), (Shape::Vector(8), 8));
        assert_eq!(vae.guide.encoder_hidden, vec![128]);
        assert_eq!(vae.guide.encoder_activation, Activation::Tanh);
    }

    #[test]
    fn a_net_of_width_one_yields_a_scalar_and_params_keep_their_value() {
        let info = info(
            "data x: real[3]\ndata y: real\nparam s: positive = 0.5\nnet f = mlp(3 -> 8 -> 1, relu)\ny ~ Normal(f(x) + 1, s)\n",
        );
        let s = info.symbol(info.lookup("s").expect("s"));
        assert!(matches!(s.kind, SymbolKind::Param { init: ParamInit::All(v) } if v == 0.5));
        let f = info.symbol(info.lookup("f").expect("f"));
        assert_eq!(f.shape, Shape::Scalar);
        assert!(matches!(&f.kind, SymbolKind::Net(n) if n.activation == Activation::Relu));
    }

    #[test]
    fn the_encoder_setting_is_resolved() {
        let info = info(
            "data x: bool[4]\nlatent z: real[2] ~ Normal(0, 1)\nnet d = mlp(2 -> 4)\nx ~ Bernoulli(logits = d(z))\nguide {\n  encoder = mlp(4 -> 32 -> 16 -> _, relu)\n  flow = planar(3)\n  globals = full\n}\n",
        );
        assert_eq!(info.guide.encoder_hidden, vec![32, 16]);
        assert_eq!(info.guide.encoder_activation, Activation::Relu);
        assert_eq!(
            info.guide.flow,
            FlowSpec::Planar {
                steps: 3,
                amortized: false
            }
        );
        assert_eq!(info.guide.globals, GlobalsMode::Full);
    }

    /// Expressions that are certainly positive (or certainly probabilities) pass where a
    /// distribution needs them; only `real` ones are refused.
    #[test]
    fn certainly_positive_arguments_pass() {
        let ok = "data x: real[3]\ndata y: real\ndata b: bool\ndata sd: positive\ndata n: int\n\
                  global tau: positive ~ HalfNormal(1)\nparam s: positive = 0.5\n\
                  param q: unit = 0.5\nlatent z: real[2] ~ Normal(0, 1)\nnet f = mlp(2 -> 1)\n\
                  let w = tau * 2\n\
                  y ~ Normal(0, w + exp(x[0]) * s / sd + softplus(f(z)) + 0.01 + n + sqrt(tau))\n\
                  b ~ Bernoulli(probs = q * sigmoid(x[1]) * (1 - q))\n";
        let p = program(ok);
        assert_eq!(
            p.info.symbol(p.info.lookup("w").expect("w")).elem,
            Elem::Positive
        );
        for bad in [
            "data y: real\ndata a: real\ny ~ Normal(0, a)\n",
            "data y: real\ndata a: positive\ny ~ Normal(0, a - 1)\n",
            "data y: real\ndata a: real\ny ~ Normal(0, abs(a))\n",
            "data y: real\ndata n: int\ny ~ Normal(0, n)\n",
            "data y: bool\ndata a: positive\ny ~ Bernoulli(probs = a)\n",
            "data y: real[2]\ndata a: real\ny ~ Normal(0, [1, a])\n",
        ] {
            let errors = check(&parse(bad).expect("parses")).expect_err(bad);
            assert!(
                errors.iter().any(|d| d.message.contains("must be")),
                "{bad}: {errors:?}"
            );
        }
    }

    #[test]
    fn the_parameter_budget_covers_nets_and_the_encoder() {
        let info = info(
            "data x: real[4]\nlatent z: real[2] ~ Normal(0, 1)\nnet d = mlp(2 -> 4)\nx ~ Normal(d(z), 1)\n",
        );
        assert_eq!(info.encoder_widths(&[8]), Some(vec![4, 8, 4]));
        assert_eq!(info.check_param_budget(&[8]), Ok(()));
        let err = info
            .check_param_budget(&[100_000, 100_000])
            .expect_err("too many");
        assert_eq!(
            err.count,
            2 * 4 + 4 + 4 * 100_000 + 100_000 + 100_000 * 100_000 + 100_000 + 100_000 * 4 + 4
        );
        assert!(err.to_string().contains("more than the limit of 268435456"));
    }
}
