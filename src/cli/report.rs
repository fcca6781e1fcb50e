//! What the commands show: the progress bar, the fit summary and its JSON line, and the
//! non-finite-ELBO message. Everything here returns text or draws the bar; the
//! commands decide where it goes.

use std::io::{self, IsTerminal};
use std::path::Path;

use crate::check::{FlowSpec, GlobalsMode};
use crate::diag::{Diagnostic, render};
use crate::infer::evaluate::ElboEstimate;
use crate::infer::predict::Score;
use crate::infer::summary::Summary;

use super::config::DEFAULT_PREDICT_DRAWS;
use crate::infer::fitfile::FitFile;
use crate::infer::train::NonFinite;
use crate::objective::{Gradient, Objective};
use crate::source::Loaded;

/// A progress bar on stderr, or none when stdout is not a terminal.
pub fn progress_bar(epochs: Option<usize>) -> Option<indicatif::ProgressBar> {
    if !io::stdout().is_terminal() {
        return None;
    }
    let bar = indicatif::ProgressBar::new(epochs.unwrap_or(1) as u64);
    let template = if epochs.is_some() {
        "epoch {pos}/{len} [{bar:30}] {msg} (eta {eta})"
    } else {
        "epoch {pos} {msg} (until converged)"
    };
    if let Ok(style) = indicatif::ProgressStyle::with_template(template) {
        bar.set_style(style.progress_chars("=> "));
    }
    Some(bar)
}

pub fn non_finite_message(loaded: &Loaded, nf: &NonFinite, out: Option<&Path>) -> String {
    let what = nf
        .label
        .as_ref()
        .map(|l| format!(" (first at the value `{l}`)"))
        .unwrap_or_default();
    let kept = match out {
        Some(p) => format!(
            "; the last finite parameters were written to `{}`",
            p.display()
        ),
        None => "; the last finite parameters were kept".to_string(),
    };
    let message = format!("the ELBO became non-finite at step {}{what}{kept}", nf.step);
    let hint = "try a lower `--lr` (e.g. 1e-4), or check the scales of the data";
    match nf.origin {
        Some(span) => render(
            &loaded.file,
            &loaded.source,
            &Diagnostic::error(span, message)
                .with_label("this computation was the first to turn non-finite")
                .with_hint(hint),
        ),
        None => format!("error: {message}\n  = hint: {hint}"),
    }
}

/// What stderr says after Ctrl-C stopped a fit.
pub fn interrupted_message(file: &FitFile, out: Option<&Path>) -> String {
    let kept = match out {
        Some(p) => format!(
            "the parameters so far were written to `{}`, marked as interrupted",
            p.display()
        ),
        None => "give `--out FIT.json` to keep the parameters of an interrupted fit".to_string(),
    };
    format!(
        "interrupted: training stopped at step {} of epoch {}; {kept}",
        file.figures.steps,
        file.trace.last().map_or(1, |t| t.epoch)
    )
}

/// The bound a fit trained on and its estimator, as its file records them, when they
/// are not the plain ELBO's (files of ELBO fits read as before).
fn trained_bound(file: &FitFile) -> Option<(String, String)> {
    let g = &file.guide;
    let objective = g.objective.parse().map(Objective::from_spec).ok()?;
    let gradient = g
        .gradient
        .as_deref()
        .and_then(|t| t.parse().ok())
        .unwrap_or_else(|| {
            let path_density = g.flow == FlowSpec::None.to_string()
                && g.global_flow == FlowSpec::None.to_string()
                && g.globals == GlobalsMode::MeanField.name();
            objective.default_gradient(path_density)
        });
    (objective != Objective::Elbo || gradient != Gradient::Naive)
        .then(|| (objective.describe(), gradient.name().to_string()))
}

/// The fit's figures and the posterior table of every global, param and global let.
pub fn fit_summary(file: &FitFile, posterior: &Summary) -> String {
    use std::fmt::Write as _;
    let f = &file.figures;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "fit: {} epochs, {} steps in {:.2} s ({})",
        f.epochs, f.steps, f.seconds, f.stopped
    );
    if let Some((bound, gradient)) = trained_bound(file) {
        let _ = writeln!(out, "trained on the {bound} with the {gradient} gradient");
    }
    if let Some(h) = &f.holdout {
        let _ = writeln!(
            out,
            "early stopping: {} of the {} training rows held out (chosen by the seed, not trained on); best held-out ELBO per row {:.4} at epoch {}, whose parameters are kept",
            h.rows, file.train_rows, h.best_elbo, h.best_epoch
        );
    }
    let _ = writeln!(out, "train ELBO per row: {:.4}", f.train_elbo);
    if let Some(e) = f.train_elbo_total_error {
        let _ = writeln!(
            out,
            "  (Monte Carlo error {e:.3} nats in total, above the {} target: the estimate's pass budget ran out)",
            crate::infer::fit::TOTAL_ELBO_TOLERANCE
        );
    }
    if let Some(test) = f.test_elbo {
        let _ = writeln!(out, "test ELBO per row:  {test:.4}");
    }
    if let Some(v) = f.train_iwae {
        let _ = writeln!(out, "train IWAE bound per row: {v:.4}");
    }
    if let Some(v) = f.test_iwae {
        let _ = writeln!(out, "test IWAE bound per row:  {v:.4}");
    }
    if let Some(khat) = f.khat {
        let _ = writeln!(
            out,
            "PSIS k-hat: {khat:.2} ({})",
            crate::infer::psis::verdict(khat)
        );
    }
    if let Some(evidence) = f.psis_log_evidence {
        let _ = writeln!(out, "PSIS log p(x): {evidence:.4} (total)");
    }
    if let Some(r) = &f.row_psis {
        let _ = writeln!(
            out,
            "PSIS k-hat per row ({} training rows, {} guide draws each): median {:.2}, 90% {:.2}, max {:.2}; {} rows above 0.7 ({})",
            r.rows,
            r.draws,
            r.median_khat,
            r.q90_khat,
            r.max_khat,
            r.unreliable,
            crate::infer::psis::verdict_rows(r)
        );
        let _ = writeln!(
            out,
            "PSIS log p(x) per row on those rows: {:.4}",
            r.log_evidence_per_row
        );
    }
    if let Some(d) = &f.dadvi {
        let error = d
            .mean_error
            .map_or("not estimated".to_string(), |e| format!("{e:.3} sd"));
        let _ = writeln!(
            out,
            "deterministic ADVI: {} draws per row, Monte Carlo error of the means {error}",
            d.draws
        );
    }
    if !posterior.rows.is_empty() {
        let _ = writeln!(
            out,
            "\nposterior (constrained scale, {} guide draws; mcse: Monte Carlo error of the mean):",
            posterior.draws
        );
        let _ = writeln!(
            out,
            "  {:<12} {:<6} {:>10} {:>10} {:>10} {:>10} {:>10} {:>10}",
            "name", "kind", "mean", "sd", "5%", "50%", "95%", "mcse"
        );
        for (kind, r) in &posterior.rows {
            let _ = writeln!(
                out,
                "  {:<12} {:<6} {:>10.4} {:>10.4} {:>10.4} {:>10.4} {:>10.4} {:>10.4}",
                r.name,
                kind.keyword(),
                r.mean,
                r.sd,
                r.q05,
                r.q50,
                r.q95,
                r.mcse
            );
        }
        // The linear-response sds (`--covariance lr`) beside the guide's own.
        let lr: Vec<String> = f
            .globals
            .iter()
            .filter_map(|g| g.lr_sd.as_ref().map(|lr| (g, lr)))
            .flat_map(|(g, lr)| {
                lr.iter().enumerate().map(move |(j, sd)| {
                    let name = if g.mean.len() == 1 {
                        g.name.clone()
                    } else {
                        format!("{}[{j}]", g.name)
                    };
                    format!("  {name:<12} {sd:>10.4}")
                })
            })
            .collect();
        if !lr.is_empty() {
            let _ = writeln!(out, "\nlinear-response sds (deterministic ADVI):");
            for line in lr {
                let _ = writeln!(out, "{line}");
            }
        }
    }
    out
}

pub fn fit_json(file: &FitFile, posterior: &Summary) -> String {
    let f = &file.figures;
    let globals: serde_json::Map<String, serde_json::Value> = f
        .globals
        .iter()
        .map(|g| {
            (
                g.name.clone(),
                match &g.lr_sd {
                    Some(lr) => serde_json::json!({ "mean": g.mean, "sd": g.sd, "lr_sd": lr }),
                    None => serde_json::json!({ "mean": g.mean, "sd": g.sd }),
                },
            )
        })
        .collect();
    let mut json = serde_json::json!({
        "train_elbo": f.train_elbo,
        "test_elbo": f.test_elbo,
        "epochs": f.epochs,
        "steps": f.steps,
        "seconds": f.seconds,
        "globals": globals,
        "summary": posterior
            .rows
            .iter()
            .map(|(kind, r)| {
                let mut v = serde_json::json!(r);
                v["kind"] = serde_json::json!(kind.keyword());
                v
            })
            .collect::<Vec<_>>(),
    });
    if let (Some(e), Some(map)) = (f.train_elbo_total_error, json.as_object_mut()) {
        map.insert("train_elbo_total_error".into(), e.into());
    }
    if let (Some(h), Some(map)) = (&f.holdout, json.as_object_mut()) {
        map.insert("holdout".into(), serde_json::json!(h));
    }
    // Present only where PSIS ran (guides without amortized locals).
    if let (Some(khat), Some(map)) = (f.khat, json.as_object_mut()) {
        map.insert("khat".into(), khat.into());
        map.insert("psis_log_evidence".into(), f.psis_log_evidence.into());
    }
    if let (Some(r), Some(map)) = (&f.row_psis, json.as_object_mut()) {
        map.insert("row_khat".into(), serde_json::json!(r));
    }
    if let (Some((bound, gradient)), Some(map)) = (trained_bound(file), json.as_object_mut()) {
        map.insert("objective".into(), file.guide.objective.clone().into());
        map.insert("bound".into(), bound.into());
        map.insert("gradient".into(), gradient.into());
        map.insert("train_iwae".into(), f.train_iwae.into());
        map.insert("test_iwae".into(), f.test_iwae.into());
    }
    json.to_string()
}

/// `vic eval`'s output; `iwae` is K and the estimate, when one was asked for.
pub fn eval_report(
    rows: usize,
    estimate: &ElboEstimate,
    iwae: Option<(usize, f64)>,
    scores: &[Score],
    json: bool,
) -> String {
    use std::fmt::Write as _;
    let mut text = String::new();
    let _ = writeln!(text, "rows: {rows}");
    let _ = writeln!(
        text,
        "ELBO per row: {:.4} (Monte Carlo error {:.4})",
        estimate.per_row, estimate.mc_error
    );
    if let Some((k, v)) = iwae {
        let _ = writeln!(
            text,
            "log p(x) per row (importance-weighted, K = {k}): {v:.4}"
        );
    }
    for s in scores {
        let metric = if s.metric == "rmse" { "RMSE" } else { s.metric };
        let _ = writeln!(
            text,
            "{metric} of `{}` (posterior predictive mean, {DEFAULT_PREDICT_DRAWS} draws per row): {:.4}",
            s.name, s.value
        );
    }
    if json {
        let iwae = iwae.map(|(_, v)| v);
        let mut value = serde_json::json!({ "rows": rows, "elbo": estimate.per_row, "iwae": iwae });
        if !scores.is_empty() {
            let scores: serde_json::Map<String, serde_json::Value> = scores
                .iter()
                .map(|s| (s.name.clone(), serde_json::json!({ s.metric: s.value })))
                .collect();
            value["scores"] = serde_json::Value::Object(scores);
        }
        let _ = writeln!(text, "{value}");
    }
    text
}
