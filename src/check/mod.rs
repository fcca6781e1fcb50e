//! The checker: names, kinds, element types, sizes, supports, distribution calls and the
//! guide block of a parsed model (SPEC sections 1 and 6).
//!
//! It reports every problem it finds, never stops at the first, and never modifies the
//! AST: what it learns goes into a [`ModelInfo`] side table. It never prints.

mod dists;
mod exprs;
mod guide;
mod info;
mod summary;

use std::collections::HashMap;

pub use info::*;
pub use summary::summary;

use crate::diag::{Diagnostic, Span, suggest};
use crate::dist::{Elem, transform};
use crate::syntax::ast::{self, Ident, Model, StmtKind, Type};

/// The largest size, index bound or mlp width accepted.
pub const MAX_SIZE: usize = 1_000_000;

/// A checked model and its warnings, or every diagnostic (errors and warnings, in
/// source order) when there is at least one error.
pub type Checked = Result<(ModelInfo, Vec<Diagnostic>), Vec<Diagnostic>>;

/// Checks a parsed model.
pub fn check(model: &Model) -> Checked {
    let mut checker = Checker::new(model);
    for (index, stmt) in model.stmts.iter().enumerate() {
        checker.stmt(index, stmt);
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
    likelihoods: Vec<Likelihood>,
    /// The first `~` over each data symbol, to report a second.
    observed: HashMap<SymbolId, Span>,
    guide: Option<(usize, Span)>,
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
            likelihoods: Vec::new(),
            observed: HashMap::new(),
            guide: None,
            diagnostics: Vec::new(),
            current: 0,
        }
    }

    fn error(&mut self, diagnostic: Diagnostic) {
        self.diagnostics.push(diagnostic);
    }

    fn stmt(&mut self, index: usize, stmt: &ast::Stmt) {
        self.current = index;
        match &stmt.kind {
            StmtKind::Data { name, ty } => {
                let shape = self.ty(ty);
                self.declare(name, SymbolKind::Data, ty.elem, shape);
            }
            StmtKind::Latent { name, ty, dist } | StmtKind::Global { name, ty, dist } => {
                let shape = self.ty(ty);
                let prior = self.prior(name, ty, shape, dist);
                let kind = match (&stmt.kind, prior) {
                    (_, None) => None,
                    (StmtKind::Latent { .. }, Some(prior)) => {
                        Some(SymbolKind::Latent { prior, free: false })
                    }
                    (_, Some(prior)) => Some(SymbolKind::Global { prior }),
                };
                // A bad prior still declares the name, so later uses are not reported too.
                let kind = kind.unwrap_or(SymbolKind::Let);
                self.declare(name, kind, ty.elem, shape);
            }
            StmtKind::Param { name, ty, init } => {
                let shape = self.ty(ty);
                let init = self.param(name, ty, init);
                self.declare(name, SymbolKind::Param { init }, ty.elem, shape);
            }
            StmtKind::Net { name, mlp } => {
                let net = self.net(mlp);
                let shape = net.as_ref().map_or(Shape::Scalar, |n| {
                    output_shape(n.widths.last().copied().unwrap_or(1))
                });
                self.declare_or_break(name, net.map(SymbolKind::Net), Elem::Real, shape);
            }
            StmtKind::Let { name, value } => {
                let shape = self.expr(value);
                let kind = shape.map(|_| SymbolKind::Let);
                self.declare_or_break(name, kind, Elem::Real, shape.unwrap_or(Shape::Scalar));
            }
            StmtKind::Observe { name, dist } => self.observe(name, dist, stmt.span),
            StmtKind::Guide(block) => match self.guide {
                Some((_, first)) => self.error(
                    Diagnostic::error(block.span, "the model has two `guide` blocks")
                        .with_label("second guide block")
                        .with_note(first, "first guide block")
                        .with_hint("merge the settings into one block"),
                ),
                None => self.guide = Some((index, block.span)),
            },
        }
    }

    /// The shape of a declared type, checking its size.
    fn ty(&mut self, ty: &Type) -> Shape {
        match &ty.size {
            None => Shape::Scalar,
            Some(size) => Shape::Vector(self.size(size.value, size.span, "a size")),
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
    ) {
        let broken = kind.is_none();
        if self.declare(name, kind.unwrap_or(SymbolKind::Let), elem, shape)
            && broken
            && let Some(last) = self.broken.last_mut()
        {
            *last = true;
        }
    }

    /// Declares a symbol; false (after reporting it) if the name is taken.
    fn declare(&mut self, name: &Ident, kind: SymbolKind, elem: Elem, shape: Shape) -> bool {
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
            return false;
        }
        let id = SymbolId(self.symbols.len());
        self.by_name.insert(name.name.clone(), id);
        self.symbols.push(Symbol {
            name: name.name.clone(),
            span: name.span,
            stmt: self.current,
            kind,
            elem,
            shape,
        });
        self.used.push(false);
        self.broken.push(false);
        true
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

    fn param(&mut self, name: &Ident, ty: &Type, init: &ast::Expr) -> f64 {
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
        let ast::ExprKind::Number(value) = init.kind else {
            self.error(
                Diagnostic::error(init.span, "the initial value of a param must be a number")
                    .with_label("not a number")
                    .with_hint(format!("write `param {}: {} = 0.5`", name.name, ty.elem)),
            );
            return 0.0;
        };
        let inside = transform::contains(ty.elem, value);
        if !inside {
            self.error(
                Diagnostic::error(
                    init.span,
                    format!("the initial value {value} is not `{}`", ty.elem),
                )
                .with_label(format!("outside `{}`", ty.elem)),
            );
        }
        value
    }

    fn net(&mut self, mlp: &ast::Mlp) -> Option<NetInfo> {
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
        (widths.len() == mlp.widths.len()).then_some(NetInfo { widths, activation })
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

    fn observe(&mut self, name: &Ident, dist: &ast::DistCall, span: Span) {
        let Some(id) = self.resolve(name) else {
            // Still check the distribution's own arguments.
            self.dist_args_only(dist);
            return;
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
            return;
        }
        if let Some(&first) = self.observed.get(&id) {
            self.error(
                Diagnostic::error(span, format!("`{}` is observed twice", name.name))
                    .with_label("second likelihood term")
                    .with_note(first, "first observed here")
                    .with_hint("a data value has one likelihood; remove one of the lines"),
            );
            return;
        }
        self.observed.insert(id, span);
        let (elem, shape) = (symbol.elem, symbol.shape);
        if let Some(dist) = self.likelihood(name, elem, shape, dist) {
            self.likelihoods.push(Likelihood {
                data: id,
                dist,
                span,
            });
        }
    }

    fn finish(mut self, model: &Model) -> Checked {
        if self.likelihoods.is_empty() && !self.observed_any() {
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
        self.diagnostics.sort_by_key(|d| (d.span.start, d.span.end));
        if self.diagnostics.iter().any(Diagnostic::is_error) {
            return Err(self.diagnostics);
        }
        let info = ModelInfo {
            symbols: self.symbols,
            likelihoods: self.likelihoods,
            guide,
            by_name: self.by_name,
        };
        Ok((info, self.diagnostics))
    }

    /// Whether some `~` statement named a data symbol, even one whose distribution failed.
    fn observed_any(&self) -> bool {
        !self.observed.is_empty()
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

    fn info(source: &str) -> ModelInfo {
        let model = parse(source).expect("parses");
        check(&model).expect("checks").0
    }

    #[test]
    fn arguments_come_out_in_canonical_order() {
        let info = info("data y: real\ny ~ Normal(scale = 2, loc = 1)\n");
        let term = &info.likelihoods[0];
        assert_eq!(term.dist.family, Family::Normal);
        let args: Vec<String> = term.dist.args.iter().map(|a| a.to_string()).collect();
        assert_eq!(args, ["1", "2"]);
        assert_eq!(info.symbol(term.data).name, "y");
    }

    #[test]
    fn argument_names_pick_the_parameterization() {
        let info = info(
            "data x: real\ndata b: bool\ndata n: int\nb ~ Bernoulli(logits = x)\nn ~ Poisson(log_rate = x)\n",
        );
        assert_eq!(info.likelihoods[0].dist.family, Family::BernoulliLogits);
        assert_eq!(info.likelihoods[1].dist.family, Family::PoissonLogRate);
        let info2 = self::info("data b: bool\nb ~ Bernoulli(0.3)\n");
        assert_eq!(info2.likelihoods[0].dist.family, Family::BernoulliProbs);
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
        assert!(matches!(s.kind, SymbolKind::Param { init } if init == 0.5));
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
        assert_eq!(info.guide.flow, FlowSpec::Planar(3));
        assert_eq!(info.guide.globals, GlobalsMode::Full);
    }
}
