//! Deterministic ADVI against closed forms: Bayesian linear regression with known
//! noise has a Gaussian posterior, so its mean-field optimum (the posterior mean, sds
//! 1/sqrt(diag Λ)), its log evidence (the full-rank optimum's ELBO) and its exact
//! covariance (what linear response must return) are all known exactly.

use std::path::Path;

use vic::infer::data;
use vic::infer::fit::{FitReport, FitRequest, column_specs, fit};
use vic::infer::session::NamedParam;
use vic::infer::train::{FitOptions, Progress};
use vic::objective::KlMode;
use vic::source;

/// Writes `model` and `rows` (x, y) beside the test binary and fits with defaults.
fn fit_rows(
    name: &str,
    model: &str,
    rows: &[(f64, f64)],
    options: FitOptions,
    kl: KlMode,
) -> FitReport {
    let dir = std::env::temp_dir().join(format!("vic-dadvi-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let model_path = dir.join(format!("{name}.vi"));
    let data_path = dir.join(format!("{name}.csv"));
    std::fs::write(&model_path, model).unwrap();
    let mut csv = String::from("x,y\n");
    for (x, y) in rows {
        csv.push_str(&format!("{x},{y}\n"));
    }
    std::fs::write(&data_path, csv).unwrap();
    let loaded = source::load(&model_path).unwrap();
    let train = data::load(Path::new(&data_path), &column_specs(&loaded)).unwrap();
    let request = FitRequest {
        loaded: &loaded,
        train: &train,
        test: None,
        options,
        guide: loaded.info.guide.clone(),
        kl,
    };
    fit(&request, &mut |_: &Progress| {}).unwrap()
}

fn param<'a>(params: &'a [NamedParam], name: &str) -> &'a [f32] {
    &params.iter().find(|p| p.name == name).unwrap().values
}

fn softplus(x: f64) -> f64 {
    x.exp().ln_1p()
}

const PRIOR_SD: f64 = 10.0;
const NOISE_SD: f64 = 2.0;

fn model(guide: &str) -> String {
    format!(
        "data x: real\ndata y: real\nglobal a: real ~ Normal(0, {PRIOR_SD})\nglobal b: real ~ Normal(0, {PRIOR_SD})\ny ~ Normal(a + b * x, {NOISE_SD})\n{guide}"
    )
}

/// Rows of y = 3 − 0.5 x + noise with x around `center`.
fn rows(n: usize, center: f64) -> Vec<(f64, f64)> {
    (0..n)
        .map(|i| {
            let t = i as f64;
            let x = center + 5.0 * (0.37 * t).sin() + 0.1 * t % 3.0;
            let noise = NOISE_SD * (1.3 * t).sin();
            (x, 3.0 - 0.5 * x + noise)
        })
        .collect()
}

/// The exact posterior: mean, covariance (2x2, row-major) and log evidence, with x
/// and y rounded to the f32 the data reader stores.
fn posterior(rows: &[(f64, f64)]) -> ([f64; 2], [f64; 4], f64) {
    let (s2, t2) = (NOISE_SD * NOISE_SD, PRIOR_SD * PRIOR_SD);
    let rows: Vec<(f64, f64)> = rows
        .iter()
        .map(|&(x, y)| (f64::from(x as f32), f64::from(y as f32)))
        .collect();
    let n = rows.len() as f64;
    let sx: f64 = rows.iter().map(|r| r.0).sum();
    let sxx: f64 = rows.iter().map(|r| r.0 * r.0).sum();
    let sy: f64 = rows.iter().map(|r| r.1).sum();
    let sxy: f64 = rows.iter().map(|r| r.0 * r.1).sum();
    let syy: f64 = rows.iter().map(|r| r.1 * r.1).sum();
    let p = [n / s2 + 1.0 / t2, sx / s2, sx / s2, sxx / s2 + 1.0 / t2];
    let det = p[0] * p[3] - p[1] * p[2];
    let cov = [p[3] / det, -p[1] / det, -p[2] / det, p[0] / det];
    let h = [sy / s2, sxy / s2];
    let mean = [cov[0] * h[0] + cov[1] * h[1], cov[2] * h[0] + cov[3] * h[1]];
    // log p(y) = −n/2 ln(2π s²) − yᵀy/(2s²) + ½ hᵀ Σ h + ½ ln det Σ − ln t².
    let log_evidence = -0.5 * n * (2.0 * std::f64::consts::PI * s2).ln() - syy / (2.0 * s2)
        + 0.5 * (h[0] * mean[0] + h[1] * mean[1])
        + 0.5 * (1.0 / det).ln()
        - t2.ln();
    (mean, cov, log_evidence)
}

/// The default fit's means and sds are the exact mean-field optimum (the posterior
/// mean, sds 1/sqrt of the precision's diagonal) to 1e-3 sd, and linear response
/// returns the exact posterior covariance.
fn check_mean_field(name: &str, center: f64, kl: KlMode) {
    let data = rows(200, center);
    let (mean, cov, _) = posterior(&data);
    let options = FitOptions {
        lr_covariance: true,
        ..FitOptions::default()
    };
    let report = fit_rows(name, &model(""), &data, options, kl);
    let params = &report.file.params;
    let loc = param(params, "guide.globals.loc");
    let scale = param(params, "guide.globals.scale");
    let det = cov[0] * cov[3] - cov[1] * cov[2];
    let mf_sd = [1.0 / (cov[3] / det).sqrt(), 1.0 / (cov[0] / det).sqrt()];
    for j in 0..2 {
        let err = (f64::from(loc[j]) - mean[j]).abs() / mf_sd[j];
        assert!(
            err < 1e-3,
            "{name}: mean {j} off by {err} sd ({} vs {})",
            loc[j],
            mean[j]
        );
        let sd = softplus(f64::from(scale[j]));
        let err = (sd - mf_sd[j]).abs() / mf_sd[j];
        assert!(
            err < 1e-3,
            "{name}: sd {j} off by {err} sd ({sd} vs {})",
            mf_sd[j]
        );
    }
    let lr = report
        .file
        .figures
        .dadvi
        .as_ref()
        .unwrap()
        .lr_cov
        .clone()
        .unwrap();
    for k in 0..4 {
        let scale = (cov[k / 2 * 3] * cov[k % 2 * 3]).sqrt();
        assert!(
            (lr[k] - cov[k]).abs() < 1e-3 * scale,
            "{name}: LR cov {k}: {} vs {}",
            lr[k],
            cov[k]
        );
    }
}

#[test]
fn default_fit_reaches_the_exact_mean_field_optimum() {
    check_mean_field("centered", 0.0, KlMode::Sampled);
}

#[test]
fn a_closed_form_kl_reaches_the_same_optimum() {
    // `--kl analytic`: the prior and entropy terms are one value for the whole data.
    check_mean_field("analytic_kl", 0.0, KlMode::Analytic);
}

#[test]
fn psis_khat_flags_a_mean_field_guide_on_a_strongly_correlated_posterior() {
    // x around 100: the intercept and slope correlate at about −0.999, which a
    // mean-field guide cannot follow; its importance weights are heavy-tailed.
    let data = rows(200, 100.0);
    let report = fit_rows(
        "khat_bad",
        &model(""),
        &data,
        FitOptions::default(),
        KlMode::Sampled,
    );
    let khat = report.file.figures.khat.unwrap();
    assert!(khat > 0.7, "k-hat {khat}");
}

#[test]
fn an_ill_conditioned_regression_reaches_its_exact_optimum() {
    // An unscaled covariate around 100 beside an intercept: posterior correlation
    // near −1, the case where Adam's stopping rule stopped 20 sds short.
    check_mean_field("unscaled", 100.0, KlMode::Sampled);
}

#[test]
fn a_full_rank_fit_reaches_the_log_evidence() {
    let data = rows(200, 1.0);
    let (_, _, log_evidence) = posterior(&data);
    let report = fit_rows(
        "full",
        &model("guide { globals = full }\n"),
        &data,
        FitOptions::default(),
        KlMode::Sampled,
    );
    let total = report.file.figures.train_elbo * data.len() as f64;
    assert!(
        (total - log_evidence).abs() < 0.01,
        "ELBO {total} vs log evidence {log_evidence}"
    );
    // The guide family contains the posterior: the importance weights are light.
    let khat = report.file.figures.khat.unwrap();
    assert!(khat < 0.5, "k-hat {khat}");
    let psis = report.file.figures.psis_log_evidence.unwrap();
    assert!(
        (psis - log_evidence).abs() < 0.01,
        "PSIS {psis} vs {log_evidence}"
    );
}
