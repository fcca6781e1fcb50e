//! Distribution calls: the family a surface name and its argument names denote, the
//! arguments in canonical order, their sizes against the variable's, literal arguments
//! against their domains, and supports against declared types.

use super::hir::{self, Resolved};
use super::{Checker, Shape, SymbolKind};
use crate::diag::{Diagnostic, suggest};
use crate::dist::{Domain, Elem, Family, Use};
use crate::syntax::ast::{DistCall, Ident, Type};

/// The variable a distribution is about.
struct Target<'a> {
    name: &'a str,
    shape: Shape,
}

impl Checker {
    /// The prior of a `latent` or `global`: a continuous family whose support is exactly
    /// the declared type.
    pub(super) fn prior(
        &mut self,
        name: &Ident,
        ty: &Type,
        shape: Shape,
        call: &DistCall,
        global: bool,
    ) -> Result<Resolved, Elem> {
        let target = Target {
            name: &name.name,
            shape,
        };
        let resolved = self.distribution(call, &target).ok_or(ty.elem)?;
        let family = resolved.family;
        if !family.allows(Use::Prior) && global {
            self.error(
                Diagnostic::error(
                    call.name.span,
                    format!(
                        "global `{}` has the discrete prior `{family}`: discrete globals are not supported",
                        name.name
                    ),
                )
                .with_label(format!("support `{}`", family.support()))
                .with_hint(
                    "a global is one value shared by every row and is fitted by a continuous guide; \
                     give it a continuous prior, such as `Normal` or `Gamma`",
                ),
            );
            return Err(family.support());
        }
        if !family.allows(Use::Prior) {
            self.error(
                Diagnostic::error(
                    call.name.span,
                    format!("`{family}` is discrete and cannot be the prior of a latent"),
                )
                .with_label(format!("support `{}`", family.support()))
                .with_hint(
                    "latents need a continuous distribution, such as `Normal`, `Gamma` or `Beta`",
                ),
            );
            return Err(family.support());
        }
        if family.support() != ty.elem {
            self.error(
                Diagnostic::error(
                    ty.span,
                    format!(
                        "`{}` is declared `{}`, but `{family}` has support `{}`",
                        name.name,
                        ty.elem,
                        family.support()
                    ),
                )
                .with_label(format!("must be `{}`", family.support()))
                .with_hint(format!(
                    "declare `{}: {}`",
                    name.name,
                    shape.written(family.support())
                )),
            );
            return Err(family.support());
        }
        Ok(resolved)
    }

    /// The likelihood of a `~` statement: the data's type must lie in the support.
    pub(super) fn likelihood(
        &mut self,
        name: &Ident,
        elem: Elem,
        shape: Shape,
        call: &DistCall,
    ) -> Option<Resolved> {
        let target = Target {
            name: &name.name,
            shape,
        };
        let resolved = self.distribution(call, &target)?;
        let support = resolved.family.support();
        if !elem.is_subset_of(support) {
            let family = resolved.family;
            self.error(
                Diagnostic::error(
                    call.name.span,
                    format!(
                        "`{family}` is a distribution over `{support}`, but `{}` is `{elem}` data",
                        name.name
                    ),
                )
                .with_label(format!("support `{support}`"))
                .with_hint(format!(
                    "declare `data {}: {}`, or use a distribution over `{elem}`",
                    name.name,
                    shape.written(support)
                )),
            );
            return None;
        }
        Some(resolved)
    }

    /// Checks the argument expressions of a call whose target is unusable.
    pub(super) fn dist_args_only(&mut self, call: &DistCall) {
        for arg in &call.args {
            let _ = self.expr(&arg.value);
        }
    }

    fn distribution(&mut self, call: &DistCall, target: &Target<'_>) -> Option<Resolved> {
        let mut checked: Vec<Option<hir::Expr>> =
            call.args.iter().map(|a| self.expr(&a.value)).collect();
        let family = self.family(call)?;
        let params = family.param_names();
        let mut slots: Vec<Option<usize>> = vec![None; params.len()];
        let mut ok = true;
        let mut seen_named = false;
        let mut positional = 0;
        for (i, arg) in call.args.iter().enumerate() {
            let slot = match &arg.name {
                Some(name) => {
                    seen_named = true;
                    params.iter().position(|p| *p == name.name)
                }
                None if seen_named => {
                    self.error(
                        Diagnostic::error(
                            arg.span,
                            "a positional argument cannot follow a named one",
                        )
                        .with_label("positional"),
                    );
                    ok = false;
                    continue;
                }
                None => {
                    positional += 1;
                    Some(positional - 1).filter(|&p| p < params.len())
                }
            };
            let Some(slot) = slot else {
                if arg.name.is_none() {
                    self.error(
                        Diagnostic::error(
                            call.span,
                            format!(
                                "`{family}` takes {} {}, but {} were given",
                                params.len(),
                                plural(params.len()),
                                call.args.len()
                            ),
                        )
                        .with_label(format!(
                            "expected `{}({})`",
                            family,
                            params.join(", ")
                        )),
                    );
                    return None;
                }
                // Unknown names were reported by `family`.
                ok = false;
                continue;
            };
            if slots[slot].is_some() {
                self.error(
                    Diagnostic::error(
                        arg.span,
                        format!(
                            "the parameter `{}` of `{family}` is given twice",
                            params[slot]
                        ),
                    )
                    .with_label("given again"),
                );
                ok = false;
                continue;
            }
            slots[slot] = Some(i);
        }
        let missing: Vec<&str> = params
            .iter()
            .zip(&slots)
            .filter(|(_, s)| s.is_none())
            .map(|(p, _)| *p)
            .collect();
        if ok && !missing.is_empty() {
            let list = missing
                .iter()
                .map(|m| format!("`{m}`"))
                .collect::<Vec<_>>()
                .join(", ");
            self.error(
                Diagnostic::error(
                    call.span,
                    format!(
                        "`{family}` takes {} {}, but {} were given",
                        params.len(),
                        plural(params.len()),
                        call.args.len()
                    ),
                )
                .with_label(format!("missing {list}"))
                .with_hint(format!("write `{}({})`", family, params.join(", "))),
            );
            return None;
        }
        if !ok {
            return None;
        }
        let mut args = Vec::with_capacity(params.len());
        for (index, slot) in slots.iter().enumerate() {
            let value = checked[slot.expect("internal: every slot is filled")].take();
            ok &= self.argument(family, index, value.as_ref(), target);
            args.extend(value);
        }
        ok.then_some(Resolved { family, args })
    }

    /// The family a call denotes: its surface name, then its argument names (`Bernoulli`
    /// with `logits` is [`Family::BernoulliLogits`]).
    fn family(&mut self, call: &DistCall) -> Option<Family> {
        let name = &call.name.name;
        let families = Family::by_surface_name(name);
        if families.is_empty() {
            let mut names: Vec<&str> = Family::ALL.iter().map(|f| f.surface_name()).collect();
            names.dedup();
            let mut d = Diagnostic::error(call.name.span, format!("unknown distribution `{name}`"))
                .with_label("not a distribution");
            d = match suggest(name, names.iter().copied()) {
                Some(s) => d.with_hint(format!("did you mean `{s}`?")),
                None => d.with_hint(format!(
                    "the distributions are {}",
                    names
                        .iter()
                        .map(|n| format!("`{n}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                )),
            };
            self.error(d);
            return None;
        }
        let named: Vec<&Ident> = call.args.iter().filter_map(|a| a.name.as_ref()).collect();
        if let Some(&family) = families.iter().find(|f| {
            named
                .iter()
                .all(|n| f.param_names().contains(&n.name.as_str()))
        }) {
            return Some(family);
        }
        let all: Vec<&str> = families.iter().flat_map(|f| f.param_names()).collect();
        let mut reported = false;
        for arg in named {
            if all.contains(&arg.name.as_str()) {
                continue;
            }
            let mut d = Diagnostic::error(
                arg.span,
                format!("`{name}` has no parameter `{}`", arg.name),
            )
            .with_label("unknown parameter");
            d = match suggest(&arg.name, all.iter().copied()) {
                Some(s) => d.with_hint(format!("did you mean `{s}`?")),
                None => d.with_hint(format!(
                    "its parameters are {}",
                    all.iter()
                        .map(|p| format!("`{p}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                )),
            };
            self.error(d);
            reported = true;
        }
        if !reported {
            self.error(
                Diagnostic::error(
                    call.span,
                    format!("these parameters of `{name}` cannot be given together"),
                )
                .with_hint(format!(
                    "give one of {}",
                    families
                        .iter()
                        .map(|f| format!("`{}`", f.param_names().join(", ")))
                        .collect::<Vec<_>>()
                        .join(" or ")
                )),
            );
        }
        None
    }

    /// Checks one argument's size against the variable, a literal against its domain,
    /// and any other expression's element type against the domain: a scale must be
    /// certainly positive, a probability certainly in [0, 1].
    fn argument(
        &mut self,
        family: Family,
        index: usize,
        value: Option<&hir::Expr>,
        target: &Target<'_>,
    ) -> bool {
        let param = family.params()[index].name;
        let Some(value) = value else { return false };
        let shape = value.shape;
        let size_ok = if family.is_elementwise() {
            shape == Shape::Scalar || shape == target.shape
        } else {
            // Categorical: a scalar class from a vector of at least two logits.
            matches!(shape, Shape::Vector(k) if k >= 2) && target.shape == Shape::Scalar
        };
        if !size_ok {
            let d = if family.is_elementwise() {
                Diagnostic::error(value.span, format!("the argument `{param}` of `{family}` is {shape}, but `{}` is {}", target.name, target.shape))
                    .with_label(format!("expected a scalar or {}, like `{}`", target.shape, target.name))
                    .with_hint("scalar arguments broadcast to the variable's size; vector arguments must match it")
            } else {
                Diagnostic::error(value.span, format!("`{family}` draws one class of a scalar `{}` from a vector of at least two `{param}`", target.name))
                    .with_label(format!("{shape}"))
                    .with_hint(format!("declare `{}` as a scalar `int`, and give a vector of logits, one per class", target.name))
            };
            self.error(d);
            return false;
        }
        let domain = family.param_domain(index);
        let parts: Vec<&hir::Expr> = match &value.kind {
            hir::ExprKind::Vector(items) => items.iter().collect(),
            _ => vec![value],
        };
        let mut ok = true;
        for part in parts {
            let d = match part.kind {
                hir::ExprKind::Number(v) if !domain.contains(v) => Diagnostic::error(
                    part.span,
                    format!(
                        "the `{param}` of `{family}` must be {}, but is {v}",
                        domain.describe()
                    ),
                )
                .with_label(format!("must be {}", domain.describe())),
                hir::ExprKind::Number(_) => continue,
                _ => match self.outside(family, index, part) {
                    Some(d) => d,
                    None => continue,
                },
            };
            self.error(d);
            ok = false;
        }
        if domain == Domain::Count && !self.is_count_data(value) {
            let shown = match value.kind {
                hir::ExprKind::Symbol(id) => format!("`{}`", self.symbols[id.0].name),
                _ => "an expression".to_string(),
            };
            self.error(
                Diagnostic::error(
                    value.span,
                    format!(
                        "the `{param}` of `{family}` must be {}: a number or `int` data, but is {shown}",
                        domain.describe()
                    ),
                )
                .with_label("not a whole number")
                .with_hint(format!(
                    "declare the counts as data, `data n: int`, and write `{family}(n, ...)`"
                )),
            );
            ok = false;
        }
        ok
    }

    /// An error when an expression's element type does not keep it inside `domain`
    /// (`Normal(0, a)` with `a: real` would fail only during fitting).
    fn outside(&self, family: Family, index: usize, part: &hir::Expr) -> Option<Diagnostic> {
        let (param, domain) = (family.params()[index].name, family.param_domain(index));
        let (needed, fixes, risk) = match domain {
            // Counts are data, checked by `is_count_data`.
            Domain::Real | Domain::Count => return None,
            Domain::Positive if part.elem.is_subset_of(Elem::Positive) => return None,
            Domain::Probability if matches!(part.elem, Elem::Unit | Elem::Bool) => return None,
            Domain::Positive => (
                Elem::Positive,
                "`exp(...)` or `softplus(...)`",
                "may be zero or negative",
            ),
            Domain::Probability => (Elem::Unit, "`sigmoid(...)`", "may be outside 0 to 1"),
        };
        let symbol = match part.kind {
            hir::ExprKind::Symbol(id) => Some(&self.symbols[id.0]),
            _ => None,
        };
        let what = match symbol {
            Some(s) => format!("`{}` is `{}`", s.name, part.elem),
            None => format!("this expression is `{}`", part.elem),
        };
        let hint = match symbol {
            Some(s) if !matches!(s.kind, SymbolKind::Let) => {
                format!("declare `{}` as `{needed}`, or wrap it in {fixes}", s.name)
            }
            _ => format!("wrap it in {fixes}, which is always `{needed}`"),
        };
        // A value on the real line is a logit: `Bernoulli(logits = x)` needs no squashing.
        let has_logits = Family::by_surface_name(family.surface_name())
            .iter()
            .any(|f| f.param_names().contains(&"logits"));
        let hint = match domain {
            Domain::Probability if has_logits => {
                format!("{hint}, or pass it as `logits = ...`")
            }
            _ => hint,
        };
        Some(
            Diagnostic::error(
                part.span,
                format!(
                    "the `{param}` of `{family}` must be {}, but {what}",
                    domain.describe()
                ),
            )
            .with_label(format!("`{}`: {risk}", part.elem))
            .with_hint(hint),
        )
    }

    /// Whether `value` is data a [`Domain::Count`] parameter may be: a number (checked
    /// against the domain above) or a name of `int` (or `bool`) data.
    fn is_count_data(&self, value: &hir::Expr) -> bool {
        match &value.kind {
            hir::ExprKind::Number(_) => true,
            hir::ExprKind::Vector(items) => items
                .iter()
                .all(|i| matches!(i.kind, hir::ExprKind::Number(_))),
            hir::ExprKind::Symbol(id) => {
                let symbol = &self.symbols[id.0];
                matches!(symbol.kind, SymbolKind::Data) && symbol.elem.is_subset_of(Elem::Int)
            }
            _ => false,
        }
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "argument" } else { "arguments" }
}
