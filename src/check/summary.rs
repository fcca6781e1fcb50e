//! The one-screen summary `vic check` prints: data, latents, params, nets, lets,
//! likelihood terms and the guide that will be built. Returns text; never prints.

use std::fmt::Write as _;

use super::hir::{self, Resolved, StmtKind};
use super::{FlowSpec, ModelInfo, ObjectiveSpec, Symbol, SymbolKind};

/// The summary of a checked model.
/// `flow_columns` is what the encoder emits for the guide's flow besides each latent's
/// location and scale (the guide's `flow::encoder_columns`, which knows every flow's
/// parameters; the checker does not).
pub fn summary(model: &hir::Model, info: &ModelInfo, flow_columns: usize) -> String {
    // Priors come in source order, which is the symbols' declaration order.
    let priors = |global: bool| -> Vec<(String, String)> {
        model
            .stmts
            .iter()
            .filter_map(|s| match &s.kind {
                StmtKind::Prior { symbol, dist } => Some((info.symbol(*symbol), dist)),
                _ => None,
            })
            .filter(|(symbol, _)| matches!(symbol.kind, SymbolKind::Global {}) == global)
            .map(|(symbol, dist)| {
                let text = format!("{} ~ {}", ty(symbol), show(info, dist));
                (symbol.name.clone(), text)
            })
            .collect()
    };
    let mut out = String::new();
    let mut section = |title: &str, rows: Vec<(String, String)>| {
        if rows.is_empty() {
            return;
        }
        let width = rows.iter().map(|(a, _)| a.len()).max().unwrap_or(0);
        let _ = writeln!(out, "{title}");
        for (name, text) in rows {
            let _ = writeln!(out, "  {name:width$}  {text}");
        }
    };
    let rows =
        |pred: fn(&SymbolKind) -> bool, text: fn(&Symbol) -> String| -> Vec<(String, String)> {
            info.symbols
                .iter()
                .filter(|s| pred(&s.kind))
                .map(|s| (s.name.clone(), text(s)))
                .collect()
        };
    section("data", rows(|k| matches!(k, SymbolKind::Data), ty));
    section("local latents", priors(false));
    section("global latents", priors(true));
    section(
        "params",
        rows(
            |k| matches!(k, SymbolKind::Param { .. }),
            |s| match &s.kind {
                SymbolKind::Param { init } => format!("{} = {}", ty(s), init.written(s.shape)),
                _ => String::new(),
            },
        ),
    );
    section(
        "nets",
        rows(
            |k| matches!(k, SymbolKind::Net(_)),
            |s| match &s.kind {
                // With no hidden layer the activation is never applied: the net is
                // one affine map, and saying so keeps a reader from looking for it.
                SymbolKind::Net(net) if net.widths.len() == 2 => format!(
                    "affine {}, {} parameters",
                    join_widths(&net.widths),
                    net.param_count()
                ),
                SymbolKind::Net(net) => format!(
                    "{} ({}), {} parameters",
                    join_widths(&net.widths),
                    net.activation.name(),
                    net.param_count()
                ),
                _ => String::new(),
            },
        ),
    );
    let lets = model
        .stmts
        .iter()
        .filter_map(|s| match &s.kind {
            StmtKind::Let { symbol, expr } => {
                let symbol = info.symbol(*symbol);
                Some((
                    symbol.name.clone(),
                    format!("{} = {}", ty(symbol), expr.display(info)),
                ))
            }
            _ => None,
        })
        .collect();
    section("lets", lets);
    let likelihood = model
        .stmts
        .iter()
        .filter_map(|s| match &s.kind {
            StmtKind::Likelihood { symbol, dist } => Some((
                info.symbol(*symbol).name.clone(),
                format!("~ {}", show(info, dist)),
            )),
            _ => None,
        })
        .collect();
    section("likelihood", likelihood);

    let guide = &info.guide;
    let amortized = info.amortized_width();
    let encoder = if amortized == 0 {
        "none (no amortized local latents)".to_string()
    } else {
        let mut widths = vec![info.data_width().to_string()];
        widths.extend(guide.encoder_hidden.iter().map(usize::to_string));
        widths.push(match flow_columns {
            0 => format!("2x{amortized}"),
            c => format!("2x{amortized} + {c} for the flow"),
        });
        format!(
            "{} ({})",
            widths.join(" -> "),
            guide.encoder_activation.name()
        )
    };
    let free = if guide.free.is_empty() {
        "none".to_string()
    } else {
        guide
            .free
            .iter()
            .map(|id| info.symbol(*id).name.clone())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let has_globals = info
        .symbols
        .iter()
        .any(|s| matches!(s.kind, SymbolKind::Global {}));
    let mut rows = vec![
        ("encoder".to_string(), encoder),
        ("free".to_string(), free),
        ("flow".to_string(), guide.flow.to_string()),
    ];
    if has_globals {
        if guide.global_flow != FlowSpec::None {
            rows.push(("global_flow".to_string(), guide.global_flow.to_string()));
        }
        rows.push(("globals".to_string(), guide.globals.name().to_string()));
    }
    // Shown when the block asks for more than the ELBO's plain gradient, so summaries of
    // models that do not are as before.
    if guide.objective != ObjectiveSpec::Elbo || guide.gradient.is_some() {
        rows.push(("objective".to_string(), guide.objective.to_string()));
        let gradient = match guide.gradient {
            Some(g) => g.name().to_string(),
            None => format!("{} (default)", guide.default_gradient().name()),
        };
        rows.push(("gradient".to_string(), gradient));
    }
    section("guide", rows);
    out
}

fn ty(symbol: &Symbol) -> String {
    symbol.shape.written(symbol.elem)
}

/// A resolved distribution with its arguments named, in canonical order.
fn show(info: &ModelInfo, resolved: &Resolved) -> String {
    let args: Vec<String> = resolved
        .family
        .params()
        .iter()
        .zip(&resolved.args)
        .map(|(p, a)| format!("{} = {}", p.name, a.display(info)))
        .collect();
    format!("{}({})", resolved.family, args.join(", "))
}

fn join_widths(widths: &[usize]) -> String {
    widths
        .iter()
        .map(usize::to_string)
        .collect::<Vec<_>>()
        .join(" -> ")
}
