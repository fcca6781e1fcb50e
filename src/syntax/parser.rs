//! Pest pairs → [`ast`] nodes, one small conversion function per rule, and syntax errors
//! → [`Diagnostic`]s that say what was expected in words, not in rule names.
//!
//! This is the only module that knows pest. It checks nothing beyond the grammar, except
//! what the tree cannot hold: numbers too large for a size, keywords used as names,
//! unknown type names, and nesting too deep to process safely.

use std::cell::RefCell;
use std::sync::{LazyLock, Once};

use pest::Parser as _;
use pest::error::{ErrorVariant, InputLocation};
use pest::iterators::{Pair, Pairs};
use pest::pratt_parser::{Assoc, Op, PrattParser};

use super::KEYWORDS;
use super::ast::*;
use crate::diag::{Diagnostic, Span, suggest};
use crate::dist::Elem;

#[derive(pest_derive::Parser)]
#[grammar = "grammar/vi.pest"]
struct ViParser;

/// Deeper expressions are refused: the checker and the lowering walk trees recursively.
/// Only real nesting counts (brackets, calls, unary minus, an operator of another
/// precedence level): a flat chain like `a + b + ... + z` is one level however long.
const MAX_DEPTH: usize = 64;

static PRATT: LazyLock<PrattParser<Rule>> = LazyLock::new(|| {
    PrattParser::new()
        .op(Op::infix(Rule::add, Assoc::Left) | Op::infix(Rule::sub, Assoc::Left))
        .op(Op::infix(Rule::mul, Assoc::Left) | Op::infix(Rule::div, Assoc::Left))
        .op(Op::prefix(Rule::neg))
        .op(Op::postfix(Rule::index) | Op::postfix(Rule::slice))
});

/// Parses a whole `.vi` source. On failure, every diagnostic is an error.
pub fn parse(source: &str) -> Result<Model, Vec<Diagnostic>> {
    if let Some(d) = too_deep(source) {
        return Err(vec![d]);
    }
    static DETAIL: Once = Once::new();
    DETAIL.call_once(|| pest::set_error_detail(true));
    let pairs = ViParser::parse(Rule::model, source).map_err(|e| vec![syntax_error(source, &e)])?;
    let builder = Builder::default();
    let model = builder.model(pairs);
    let errors = builder.errors.into_inner();
    if errors.is_empty() {
        Ok(model)
    } else {
        Err(errors)
    }
}

/// Refuses nesting (brackets or chains of unary minus) beyond [`MAX_DEPTH`] before pest
/// recurses into it.
fn too_deep(source: &str) -> Option<Diagnostic> {
    let (mut depth, mut minus_run, mut in_comment) = (0usize, 0usize, false);
    for (i, c) in source.char_indices() {
        match c {
            '\n' => in_comment = false,
            _ if in_comment => {}
            '#' => in_comment = true,
            '(' | '[' | '{' => depth += 1,
            ')' | ']' | '}' => depth = depth.saturating_sub(1),
            '-' => minus_run += 1,
            _ if c.is_whitespace() => {}
            _ => minus_run = 0,
        }
        if !matches!(c, '-') && !c.is_whitespace() {
            minus_run = 0;
        }
        if depth > MAX_DEPTH || minus_run > MAX_DEPTH {
            return Some(
                Diagnostic::error(Span::new(i, i + c.len_utf8()), "this is nested too deeply")
                    .with_label(format!("more than {MAX_DEPTH} levels"))
                    .with_hint("split the expression with `let` statements"),
            );
        }
    }
    None
}

/// An expression under construction with the depth of its tree and whether an error
/// about its depth was already reported inside it.
struct Built {
    expr: Expr,
    depth: usize,
    reported: bool,
}

fn span(pair: &Pair<'_, Rule>) -> Span {
    let s = pair.as_span();
    Span::new(s.start(), s.end())
}

/// Converts pairs to nodes, collecting the errors the grammar cannot express.
#[derive(Default)]
struct Builder {
    errors: RefCell<Vec<Diagnostic>>,
}

impl Builder {
    fn error(&self, diagnostic: Diagnostic) {
        self.errors.borrow_mut().push(diagnostic);
    }

    fn model(&self, mut pairs: Pairs<'_, Rule>) -> Model {
        let stmts = pairs
            .next()
            .map(|model| {
                model
                    .into_inner()
                    .filter(|p| p.as_rule() != Rule::EOI)
                    .map(|p| self.stmt(p))
                    .collect()
            })
            .unwrap_or_default();
        Model { stmts }
    }

    fn stmt(&self, pair: Pair<'_, Rule>) -> Stmt {
        let span = span(&pair);
        let rule = pair.as_rule();
        // Skip the keyword token that starts most statements.
        let mut inner = pair.into_inner().filter(|p| !is_keyword_token(p.as_rule()));
        let mut next = || inner.next().expect("internal: grammar guarantees the pair");
        let kind = match rule {
            Rule::data_stmt => StmtKind::Data {
                name: self.name(next()),
                ty: self.ty(next()),
            },
            Rule::latent_stmt => StmtKind::Latent {
                name: self.name(next()),
                ty: self.ty(next()),
                dist: self.dist_call(next()),
            },
            Rule::global_stmt => StmtKind::Global {
                name: self.name(next()),
                ty: self.ty(next()),
                dist: self.dist_call(next()),
            },
            Rule::param_stmt => StmtKind::Param {
                name: self.name(next()),
                ty: self.ty(next()),
                init: self.expr(next()),
            },
            Rule::net_stmt => StmtKind::Net {
                name: self.name(next()),
                mlp: self.mlp(next()),
            },
            Rule::let_stmt => StmtKind::Let {
                name: self.name(next()),
                value: self.expr(next()),
            },
            Rule::observe_stmt => StmtKind::Observe {
                name: self.name(next()),
                dist: self.dist_call(next()),
            },
            Rule::guide_stmt => StmtKind::Guide(GuideBlock {
                entries: inner.map(|p| self.guide_entry(p)).collect(),
                span,
            }),
            _ => unreachable!("internal: not a statement rule: {rule:?}"),
        };
        Stmt { kind, span }
    }

    /// A name, declared or used: any word but a keyword.
    fn name(&self, pair: Pair<'_, Rule>) -> Ident {
        let id = ident(pair);
        if KEYWORDS.contains(&id.name.as_str()) {
            self.error(
                Diagnostic::error(
                    id.span,
                    format!("`{}` is a keyword and cannot be used as a name", id.name),
                )
                .with_label("a keyword")
                .with_hint(format!("choose another name, such as `{}_`", id.name)),
            );
        }
        id
    }

    fn ty(&self, pair: Pair<'_, Rule>) -> Type {
        let span = span(&pair);
        let mut inner = pair.into_inner();
        let word = ident(inner.next().expect("internal: a type has a name"));
        let elem = Elem::from_keyword(&word.name).unwrap_or_else(|| {
            let mut d = Diagnostic::error(word.span, format!("unknown type `{}`", word.name))
                .with_label("expected `real`, `bool`, `int`, `positive` or `unit`");
            if let Some(s) = suggest(&word.name, Elem::ALL.map(Elem::keyword)) {
                d = d.with_hint(format!("did you mean `{s}`?"));
            }
            self.error(d);
            Elem::Real
        });
        let size = inner.next().map(|p| self.size(p));
        let cols = inner.next().map(|p| self.size(p));
        Type {
            elem,
            size,
            cols,
            span,
        }
    }

    fn size(&self, pair: Pair<'_, Rule>) -> Size {
        let span = span(&pair);
        let value = pair.as_str().parse::<usize>().unwrap_or_else(|_| {
            self.error(
                Diagnostic::error(span, format!("`{}` is too large", pair.as_str()))
                    .with_label("too large for a size or an index"),
            );
            0
        });
        Size { value, span }
    }

    fn mlp(&self, pair: Pair<'_, Rule>) -> Mlp {
        let span = span(&pair);
        let mut widths = Vec::new();
        let mut activation = None;
        for p in pair.into_inner() {
            match p.as_rule() {
                Rule::width => widths.push(self.width(p)),
                Rule::word => activation = Some(ident(p)),
                _ => {}
            }
        }
        Mlp {
            widths,
            activation,
            span,
        }
    }

    fn width(&self, pair: Pair<'_, Rule>) -> Width {
        let span = span(&pair);
        let inner = pair
            .into_inner()
            .next()
            .expect("internal: a width has a token");
        let value = match inner.as_rule() {
            Rule::size => Some(self.size(inner).value),
            _ => None,
        };
        Width { value, span }
    }

    fn dist_call(&self, pair: Pair<'_, Rule>) -> DistCall {
        let span = span(&pair);
        let mut inner = pair.into_inner();
        let name = ident(inner.next().expect("internal: a call has a name"));
        let args = inner.map(|p| self.arg(p)).collect();
        DistCall { name, args, span }
    }

    fn arg(&self, pair: Pair<'_, Rule>) -> Arg {
        let span = span(&pair);
        let mut name = None;
        let mut value = None;
        for p in pair.into_inner() {
            match p.as_rule() {
                Rule::word => name = Some(ident(p)),
                _ => value = Some(self.expr(p)),
            }
        }
        let value = value.expect("internal: an argument has a value");
        Arg { name, value, span }
    }

    /// An expression as the tree holds it.
    fn expr(&self, pair: Pair<'_, Rule>) -> Expr {
        self.built(pair).expr
    }

    /// An expression with its nesting depth, built bottom-up by the Pratt parser (which
    /// folds a left-associative chain in a loop, so a flat sum never recurses per term).
    fn built(&self, pair: Pair<'_, Rule>) -> Built {
        PRATT
            .map_primary(|p| self.primary(p))
            .map_prefix(|op, rhs| {
                let span = span(&op).to(rhs.expr.span);
                match rhs.expr.kind {
                    // `-2.5` is one literal.
                    ExprKind::Number(v) => Built {
                        expr: Expr {
                            kind: ExprKind::Number(-v),
                            span,
                        },
                        ..rhs
                    },
                    _ => self.limit(Built {
                        depth: rhs.depth + 1,
                        reported: rhs.reported,
                        expr: Expr {
                            kind: ExprKind::Neg(Box::new(rhs.expr)),
                            span,
                        },
                    }),
                }
            })
            .map_postfix(|base, op| {
                let span = base.expr.span.to(span(&op));
                let inner = Box::new(base.expr);
                let mut parts = op.into_inner().peekable();
                if parts.peek().map(Pair::as_rule) == Some(Rule::word) {
                    let index = ident(parts.next().expect("internal: peeked"));
                    return self.limit(Built {
                        expr: Expr {
                            kind: ExprKind::Select { base: inner, index },
                            span,
                        },
                        depth: base.depth + 1,
                        reported: base.reported,
                    });
                }
                let mut sizes = parts.map(|p| self.size(p));
                let first = sizes.next().expect("internal: an index has a size");
                let kind = match sizes.next() {
                    Some(end) => ExprKind::Slice {
                        base: inner,
                        start: first,
                        end,
                    },
                    None => ExprKind::Index {
                        base: inner,
                        index: first,
                    },
                };
                self.limit(Built {
                    expr: Expr { kind, span },
                    depth: base.depth + 1,
                    reported: base.reported,
                })
            })
            .map_infix(|lhs, op, rhs| {
                let op = match op.as_rule() {
                    Rule::add => BinOp::Add,
                    Rule::sub => BinOp::Sub,
                    Rule::mul => BinOp::Mul,
                    _ => BinOp::Div,
                };
                let span = lhs.expr.span.to(rhs.expr.span);
                let reported = lhs.reported || rhs.reported;
                // `a + b` followed by `- c` extends the chain: same level, same left fold.
                let (kind, depth) = match lhs.expr.kind {
                    ExprKind::Binary { first, mut rest }
                        if rest.first().is_some_and(|(o, _)| o.level() == op.level()) =>
                    {
                        rest.push((op, rhs.expr));
                        let depth = lhs.depth.max(rhs.depth + 1);
                        (ExprKind::Binary { first, rest }, depth)
                    }
                    kind => {
                        let first = Box::new(Expr {
                            kind,
                            span: lhs.expr.span,
                        });
                        let depth = 1 + lhs.depth.max(rhs.depth);
                        let rest = vec![(op, rhs.expr)];
                        (ExprKind::Binary { first, rest }, depth)
                    }
                };
                self.limit(Built {
                    expr: Expr { kind, span },
                    depth,
                    reported,
                })
            })
            .parse(pair.into_inner())
    }

    /// Replaces an expression deeper than [`MAX_DEPTH`] by a literal, so that no later
    /// pass recurses without bound. Only the innermost expression that crosses the limit
    /// is reported; everything around it is cut away silently, so one deep expression
    /// gives one error.
    fn limit(&self, built: Built) -> Built {
        if !built.reported && built.depth <= MAX_DEPTH {
            return built;
        }
        let span = built.expr.span;
        if !built.reported {
            self.error(
                Diagnostic::error(span, "this expression is nested too deeply")
                    .with_label(format!("more than {MAX_DEPTH} levels"))
                    .with_hint("split the expression with `let` statements"),
            );
        }
        Built {
            expr: Expr {
                kind: ExprKind::Number(0.0),
                span,
            },
            depth: 1,
            reported: true,
        }
    }

    fn primary(&self, pair: Pair<'_, Rule>) -> Built {
        let span = span(&pair);
        let nested = |items: Vec<Built>| {
            let depth = 1 + items.iter().map(|b| b.depth).max().unwrap_or(0);
            let reported = items.iter().any(|b| b.reported);
            let exprs = items.into_iter().map(|b| b.expr).collect();
            (exprs, depth, reported)
        };
        let (kind, depth, reported) = match pair.as_rule() {
            Rule::number => {
                let value = pair.as_str().parse::<f64>().ok().filter(|v| v.is_finite());
                let value = value.unwrap_or_else(|| {
                    self.error(
                        Diagnostic::error(span, format!("`{}` is too large", pair.as_str()))
                            .with_label("not a finite number"),
                    );
                    0.0
                });
                (ExprKind::Number(value), 1, false)
            }
            Rule::vector => {
                let (items, depth, reported) =
                    nested(pair.into_inner().map(|p| self.built(p)).collect());
                (ExprKind::Vector(items), depth, reported)
            }
            Rule::call => {
                let mut inner = pair.into_inner();
                let func = self.name(inner.next().expect("internal: a call has a name"));
                let (args, depth, reported) = nested(inner.map(|p| self.built(p)).collect());
                (ExprKind::Call { func, args }, depth, reported)
            }
            Rule::word => (ExprKind::Name(self.name(pair)), 1, false),
            Rule::expr => return self.built(pair),
            rule => unreachable!("internal: not a primary rule: {rule:?}"),
        };
        self.limit(Built {
            expr: Expr { kind, span },
            depth,
            reported,
        })
    }

    fn guide_entry(&self, pair: Pair<'_, Rule>) -> GuideEntry {
        let span = span(&pair);
        let rule = pair.as_rule();
        let mut inner = pair.into_inner();
        let key = ident(inner.next().expect("internal: an entry has a key"));
        let value = inner.next().expect("internal: an entry has a value");
        if rule == Rule::guide_local {
            return GuideEntry::Local {
                name: key,
                mode: ident(value),
                span,
            };
        }
        let value = match value.as_rule() {
            Rule::mlp => GuideValue::Mlp(self.mlp(value)),
            Rule::guide_call => {
                let span = crate::syntax::parser::span(&value);
                let mut inner = value.into_inner();
                let name = ident(inner.next().expect("internal: a call has a name"));
                let arg = self.size(inner.next().expect("internal: a call has an argument"));
                let options = inner
                    .map(|option| {
                        let span = crate::syntax::parser::span(&option);
                        let mut parts = option.into_inner();
                        let name = ident(parts.next().expect("internal: an option has a name"));
                        let value = parts.next().map(|v| self.size(v));
                        CallOption { name, value, span }
                    })
                    .collect();
                GuideValue::Call {
                    name,
                    arg,
                    options,
                    span,
                }
            }
            _ => GuideValue::Name(ident(value)),
        };
        GuideEntry::Setting { key, value, span }
    }
}

fn ident(pair: Pair<'_, Rule>) -> Ident {
    Ident {
        name: pair.as_str().to_string(),
        span: span(&pair),
    }
}

fn is_keyword_token(rule: Rule) -> bool {
    matches!(
        rule,
        Rule::kw_data
            | Rule::kw_latent
            | Rule::kw_global
            | Rule::kw_param
            | Rule::kw_net
            | Rule::kw_let
            | Rule::kw_guide
    )
}

/// What a rule stands for, in words, when it was expected and not found.
fn describe(rule: Rule) -> Option<&'static str> {
    Some(match rule {
        Rule::data_stmt
        | Rule::latent_stmt
        | Rule::global_stmt
        | Rule::param_stmt
        | Rule::net_stmt
        | Rule::let_stmt
        | Rule::observe_stmt
        | Rule::guide_stmt
        | Rule::kw_data
        | Rule::kw_latent
        | Rule::kw_global
        | Rule::kw_param
        | Rule::kw_net
        | Rule::kw_let
        | Rule::kw_guide => "a statement",
        Rule::expr | Rule::vector | Rule::call | Rule::neg => "an expression",
        Rule::add | Rule::sub | Rule::mul | Rule::div => "an operator",
        Rule::word => "a name",
        Rule::ty => "a type",
        Rule::size => "a whole number",
        Rule::width | Rule::hole => "a width (a whole number or `_`)",
        Rule::mlp | Rule::kw_mlp => "`mlp(...)`",
        Rule::dist_call => "a distribution, such as `Normal(0, 1)`",
        Rule::arg => "an argument",
        Rule::guide_local | Rule::guide_setting => "a guide setting",
        Rule::guide_call => "a guide value",
        Rule::call_option => "an option such as `amortized`",
        Rule::EOI => "the end of the file",
        _ => return None,
    })
}

/// The punctuation worth naming in an "expected ..." message.
const PUNCTUATION: [&str; 11] = [":", "~", "=", "(", ")", "[", "]", ",", "->", "{", "}"];

/// Tokens that close or separate, which make a better "expected" than the rules around.
const CLOSING: [&str; 8] = [":", "~", "=", ")", "]", ",", "->", "}"];

fn syntax_error(source: &str, error: &pest::error::Error<Rule>) -> Diagnostic {
    let mut pos = match error.location {
        InputLocation::Pos(p) => p,
        InputLocation::Span((s, _)) => s,
    };
    let mut rules: Vec<Rule> = match &error.variant {
        ErrorVariant::ParsingError { positives, .. } => positives.clone(),
        ErrorVariant::CustomError { .. } => Vec::new(),
    };
    let mut tokens = Vec::new();
    if let Some(attempts) = error.parse_attempts() {
        // Tokens (not rules) may have been tried further on than pest's own position.
        if attempts.max_position >= pos {
            pos = attempts.max_position;
            rules.clear();
            for stack in &attempts.call_stacks {
                // A failed token is named by its rule only where that says more than the
                // token: `data x real` lacks a `:`, not a statement.
                let parent = stack
                    .parent
                    .filter(|r| matches!(r, Rule::expr | Rule::dist_call));
                let deepest = stack.deepest.get_rule().copied();
                rules.extend(deepest.filter(|r| describe(*r).is_some()).or(parent));
            }
            tokens = attempts
                .expected_tokens()
                .iter()
                .map(|t| t.to_string())
                .collect();
        }
    }
    let mut expected: Vec<String> = Vec::new();
    for what in rules.iter().filter_map(|r| describe(*r)) {
        if !expected.iter().any(|e| e == what) {
            expected.push(what.to_string());
        }
    }
    // Where a closing or separating token fits, the wrappers around it (a statement, an
    // expression that could go on) say less than the token itself.
    let closing = tokens.iter().any(|t| CLOSING.contains(&t.as_str()));
    if closing {
        expected.retain(|e| {
            matches!(
                e.as_str(),
                "a name" | "a whole number" | "a width (a whole number or `_`)"
            )
        });
    }
    let is_expression = expected.iter().any(|e| e == "an expression");
    for token in tokens {
        let shown = format!("`{token}`");
        let implied = (is_expression || closing) && (token == "(" || token == "[" || token == "-");
        if PUNCTUATION.contains(&token.as_str()) && !implied && !expected.contains(&shown) {
            expected.push(shown);
        }
    }
    // A statement may also end the file; saying so adds nothing.
    if expected.len() > 1 {
        expected.retain(|w| w != "the end of the file");
    }
    let (pos, found, len) = found_at(source, pos);
    let message = if expected.is_empty() {
        format!("unexpected {found}")
    } else {
        format!("expected {}, found {found}", join_or(&expected))
    };
    let label = if expected.is_empty() {
        "not expected here".to_string()
    } else {
        format!("expected {}", join_or(&expected))
    };
    Diagnostic::error(Span::new(pos, pos + len), message).with_label(label)
}

/// Where to point, a short description of the text found there and its length in
/// bytes. Something missing at the end of a line is reported at the end of that line,
/// not at the start of the next one.
fn found_at(source: &str, pos: usize) -> (usize, String, usize) {
    let pos = pos.min(source.len());
    let before = source.get(..pos).unwrap_or("");
    let trimmed = before.trim_end();
    if before[trimmed.len()..].contains('\n') && !trimmed.is_empty() {
        return (trimmed.len(), "the end of the line".to_string(), 0);
    }
    let rest = source.get(pos..).unwrap_or("");
    let Some(first) = rest.chars().next() else {
        return (pos, "the end of the file".to_string(), 0);
    };
    if first.is_ascii_alphanumeric() || first == '_' {
        let word: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '.')
            .collect();
        return (pos, format!("`{word}`"), word.len());
    }
    let shown = if first.is_control() {
        first.escape_default().to_string()
    } else {
        first.to_string()
    };
    (pos, format!("`{shown}`"), first.len_utf8())
}

fn join_or(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [rest @ .., last] => format!("{} or {last}", rest.join(", ")),
    }
}
