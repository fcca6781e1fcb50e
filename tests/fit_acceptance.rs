//! Statistical acceptance of whole fits (SPEC sections 4 and 5): closed-form evidence,
//! reference posteriors, and the VAE's test ELBO, at sizes that keep the suite fast.
//! Thresholds are statistical, never exact floats.

use std::path::{Path, PathBuf};

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use rand_distr::{Distribution, StandardNormal};
use vic::check::ObjectiveSpec;
use vic::infer::data::{self, Dataset};
use vic::infer::evaluate;
use vic::infer::fit::{FitReport, FitRequest, column_specs, fit};
use vic::infer::session::NamedParam;
use vic::infer::train::{self, FitOptions, Optimizer, Outcome, Progress};
use vic::objective::{self, KlMode};
use vic::source::{self, Loaded};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A model and its data, loaded as `vic fit` would.
struct Problem {
    loaded: Loaded,
    train: Dataset,
    test: Option<Dataset>,
}

impl Problem {
    fn from_files(model: &Path, train: &Path, test: Option<&Path>) -> Problem {
        let loaded = source::load(model).unwrap();
        let specs = column_specs(&loaded);
        let train = data::load(train, &specs).unwrap();
        let test = test.map(|t| data::load(t, &specs).unwrap());
        Problem {
            loaded,
            train,
            test,
        }
    }

    /// An inline model with data written to a fresh CSV file in the temp directory.
    fn inline(model: &str, name: &str, csv: &str) -> Problem {
        let dir = std::env::temp_dir().join(format!("vic-fit-acceptance-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let model_path = dir.join(format!("{name}.vi"));
        let data_path = dir.join(format!("{name}.csv"));
        std::fs::write(&model_path, model).unwrap();
        std::fs::write(&data_path, csv).unwrap();
        Problem::from_files(&model_path, &data_path, None)
    }

    fn example(model: &str, train: &str, test: Option<&str>) -> Problem {
        let dir = root().join("examples");
        let test = test.map(|t| dir.join("data").join(t));
        Problem::from_files(
            &dir.join(model),
            &dir.join("data").join(train),
            test.as_deref(),
        )
    }

    /// Fits with the model's own guide and sampled KL.
    fn fit(&self, options: FitOptions) -> FitReport {
        let request = FitRequest {
            loaded: &self.loaded,
            train: &self.train,
            test: self.test.as_ref(),
            options,
            guide: self.loaded.info.guide.clone(),
            kl: KlMode::Sampled,
        };
        fit(&request, &mut |_: &Progress| {}).unwrap()
    }
}

fn param<'a>(params: &'a [NamedParam], name: &str) -> &'a [f32] {
    &params.iter().find(|p| p.name == name).unwrap().values
}

fn softplus(x: f64) -> f64 {
    x.max(0.0) + (-x.abs()).exp().ln_1p()
}

/// ∫ f(t) N(t; 0, 1) dt by Simpson's rule on [−10, 10]: exact to ~1e-10 for the smooth
/// integrands here.
fn gaussian_expectation(f: impl Fn(f64) -> f64) -> f64 {
    const N: usize = 400;
    let h = 20.0 / N as f64;
    let mut total = 0.0;
    for i in 0..=N {
        let t = -10.0 + i as f64 * h;
        let w = if i == 0 || i == N {
            1.0
        } else if i % 2 == 1 {
            4.0
        } else {
            2.0
        };
        total += w * f(t) * (-0.5 * t * t).exp();
    }
    total * h / 3.0 / (2.0 * std::f64::consts::PI).sqrt()
}

/// The exact ELBO of a mean-field Gaussian guide for the logistic regression, by
/// quadrature: each row's logit is Gaussian under q, and the KL to N(0, 1) is closed
/// form. Deterministic, so it judges 0.1 nats where a sampled estimate cannot.
fn logistic_elbo(problem: &Problem, params: &[NamedParam]) -> f64 {
    let loc = param(params, "guide.globals.loc");
    let raw = param(params, "guide.globals.scale");
    let m: Vec<f64> = loc.iter().map(|&v| f64::from(v)).collect();
    let s: Vec<f64> = raw.iter().map(|&v| softplus(f64::from(v))).collect();
    let (x, y) = (&problem.train.columns[0], &problem.train.columns[1]);
    let mut total = 0.0;
    for row in 0..problem.train.rows {
        let xs = x.row(row);
        let mut mean = m[30];
        let mut var = s[30] * s[30];
        for j in 0..30 {
            let xj = f64::from(xs[j]);
            mean += m[j] * xj;
            var += (s[j] * xj).powi(2);
        }
        let sign = if y.row(row)[0] > 0.5 { 1.0 } else { -1.0 };
        let sd = var.sqrt();
        total += gaussian_expectation(|t| -softplus(-sign * (mean + sd * t)));
    }
    let kl: f64 = m
        .iter()
        .zip(&s)
        .map(|(m, s)| 0.5 * (s * s + m * m - 1.0) - s.ln())
        .sum();
    total - kl
}

/// The exact mean-field optimum of the logistic regression (Gauss-Hermite + L-BFGS):
/// (name, mean, sd) per element, `w0..w29` then `b`.
fn mean_field_reference() -> Vec<(String, f64, f64)> {
    let text = std::fs::read_to_string(root().join("tests/data/breast_cancer_mf_opt.csv")).unwrap();
    text.lines()
        .skip(1)
        .map(|line| {
            let f: Vec<&str> = line.split(',').collect();
            (
                f[0].to_string(),
                f[1].parse().unwrap(),
                f[2].parse().unwrap(),
            )
        })
        .collect()
}

/// Its total ELBO (baselines.md).
const MF_OPT_ELBO: f64 = -67.463;

/// With default options (train until converged), ADVI on the breast cancer data lands
/// on the exact mean-field optimum: every mean within 0.1 of its sd, every sd within
/// 10%, the total ELBO (by quadrature) within 0.1 nats. With windows of 100 steps in the
/// convergence rule this stopped 20 nats short (see `MIN_WINDOW` in `train.rs`).
#[test]
fn logistic_regression_reaches_the_mean_field_optimum() {
    let problem = Problem::example("logistic.vi", "breast_cancer.csv", None);
    let report = problem.fit(FitOptions::default());
    let figures = &report.file.figures;
    let total = logistic_elbo(&problem, &report.file.params);
    eprintln!(
        "logistic: total ELBO {total:.4} (optimum {MF_OPT_ELBO}), {} steps, {} epochs, {:.1} s, {}",
        figures.steps, figures.epochs, figures.seconds, figures.stopped
    );
    let fitted: Vec<(f64, f64)> = figures
        .globals
        .iter()
        .flat_map(|g| g.mean.iter().copied().zip(g.sd.iter().copied()))
        .collect();
    let reference = mean_field_reference();
    assert_eq!(fitted.len(), reference.len());
    let mut worst_mean: f64 = 0.0;
    let mut worst_sd: f64 = 0.0;
    for ((mean, sd), (name, ref_mean, ref_sd)) in fitted.iter().zip(&reference) {
        let z = (mean - ref_mean).abs() / ref_sd;
        let r = (sd / ref_sd - 1.0).abs();
        eprintln!(
            "  {name}: mean {mean:.4} vs {ref_mean:.4} ({z:.3} sd), sd {sd:.4} vs {ref_sd:.4}"
        );
        worst_mean = worst_mean.max(z);
        worst_sd = worst_sd.max(r);
    }
    eprintln!("logistic: worst mean error {worst_mean:.3} sd, worst sd ratio error {worst_sd:.3}");
    assert!(
        worst_mean < 0.1,
        "a posterior mean is {worst_mean:.3} sds from the optimum"
    );
    assert!(
        worst_sd < 0.1,
        "a posterior sd is off by {worst_sd:.3} of itself"
    );
    assert!(
        (total - MF_OPT_ELBO).abs() < 0.1,
        "total ELBO {total:.4}, optimum {MF_OPT_ELBO}"
    );
    // The reported ELBO is honest in total nats: its stated Monte Carlo error (present
    // only when above the 0.01 target) is under 0.05, and it is within 3 of them (at
    // least 0.05) of the exact ELBO at the fitted parameters.
    let reported = figures.train_elbo * report.file.train_rows as f64;
    let error = figures.train_elbo_total_error.unwrap_or(0.01);
    eprintln!("logistic: reported total ELBO {reported:.4} ± {error:.4}, exact {total:.4}");
    assert!(error < 0.05, "stated error {error}");
    assert!(
        (reported - total).abs() < (3.0 * error).max(0.05),
        "reported {reported:.4} ± {error:.4}, exact at the fit {total:.4}"
    );
}

/// The quadrature ELBO itself reproduces the reference optimum's total.
#[test]
fn quadrature_elbo_reproduces_the_reference_optimum() {
    let problem = Problem::example("logistic.vi", "breast_cancer.csv", None);
    let reference = mean_field_reference();
    let inverse_softplus = |s: f64| s.exp_m1().ln() as f32;
    let params = vec![
        NamedParam {
            name: "guide.globals.loc".into(),
            rows: 1,
            cols: 31,
            values: reference.iter().map(|r| r.1 as f32).collect(),
        },
        NamedParam {
            name: "guide.globals.scale".into(),
            rows: 1,
            cols: 31,
            values: reference.iter().map(|r| inverse_softplus(r.2)).collect(),
        },
    ];
    let total = logistic_elbo(&problem, &params);
    assert!((total - MF_OPT_ELBO).abs() < 0.005, "{total}");
}

/// x ~ N(A z + b, s² I) with z ~ N(0, 1): the evidence is N(x; b, A Aᵀ + s² I).
const LINEAR_GAUSSIAN: &str = "
data   x: real[2]
latent z: real ~ Normal(0, 1)
x ~ Normal([1.5, -0.7] * z + [0.3, 0.1], 0.5)
";
const A: [f64; 2] = [1.5, -0.7];
const B: [f64; 2] = [0.3, 0.1];
const S: f64 = 0.5;

fn linear_gaussian_log_evidence(x: &[f32]) -> f64 {
    let c = [A[0] * A[0] + S * S, A[0] * A[1], A[1] * A[1] + S * S];
    let det = c[0] * c[2] - c[1] * c[1];
    let d = [f64::from(x[0]) - B[0], f64::from(x[1]) - B[1]];
    let quad = (c[2] * d[0] * d[0] - 2.0 * c[1] * d[0] * d[1] + c[0] * d[1] * d[1]) / det;
    -(2.0 * std::f64::consts::PI).ln() - 0.5 * det.ln() - 0.5 * quad
}

/// The amortized Gaussian guide can represent this model's exact posterior (Gaussian,
/// mean linear in x, constant variance), so with default options the ELBO closes the
/// gap to the exact log evidence from below, and IWAE agrees with it.
#[test]
fn linear_gaussian_elbo_reaches_the_exact_evidence() {
    let mut rng = StdRng::seed_from_u64(2024);
    let mut csv = String::from("x0,x1\n");
    for _ in 0..500 {
        let z: f64 = StandardNormal.sample(&mut rng);
        let e: [f64; 2] = [
            StandardNormal.sample(&mut rng),
            StandardNormal.sample(&mut rng),
        ];
        let x0 = A[0] * z + B[0] + S * e[0];
        let x1 = A[1] * z + B[1] + S * e[1];
        csv.push_str(&format!("{x0},{x1}\n"));
    }
    let problem = Problem::inline(LINEAR_GAUSSIAN, "linear_gaussian", &csv);
    let report = problem.fit(FitOptions::default());
    let x = &problem.train.columns[0];
    let n = problem.train.rows;
    let exact = (0..n)
        .map(|r| linear_gaussian_log_evidence(x.row(r)))
        .sum::<f64>()
        / n as f64;
    let params = &report.file.params;
    let estimate = evaluate::elbo(
        &report.elbo,
        params,
        &problem.train,
        n,
        1,
        evaluate::Precision {
            target: evaluate::ErrorTarget::PerRow(0.002),
            max_passes: 4000,
        },
        &mut |_| true,
    )
    .unwrap();
    let iwae = evaluate::iwae(&report.elbo, params, &problem.train, n, 1000, 1).unwrap();
    let f = &report.file.figures;
    eprintln!(
        "linear-Gaussian: exact {exact:.4}, ELBO {:.4} ± {:.4}, IWAE-1000 {iwae:.4}; {} steps, {:.1} s, {}",
        estimate.per_row, estimate.mc_error, f.steps, f.seconds, f.stopped
    );
    assert!(
        estimate.per_row <= exact + 3.0 * estimate.mc_error,
        "the ELBO exceeds log p(x)"
    );
    assert!(
        estimate.per_row >= exact - 0.05,
        "the ELBO stops {} short",
        exact - estimate.per_row
    );
    assert!((iwae - exact).abs() < 0.02, "IWAE {iwae} vs exact {exact}");
    // The guide family holds every row's posterior: PSIS's per-row k-hats are good.
    let rows = f
        .row_psis
        .expect("an amortized guide gets the per-row diagnostic");
    eprintln!("linear-Gaussian per-row PSIS: {rows:?}");
    assert!(rows.q90_khat < 0.5 && rows.unreliable == 0, "{rows:?}");
    // The diagnosed rows are evenly spaced: every fifth of the 500.
    let on_rows = (0..rows.rows)
        .map(|i| linear_gaussian_log_evidence(x.row(i * n / rows.rows)))
        .sum::<f64>()
        / rows.rows as f64;
    assert!(
        (rows.log_evidence_per_row - on_rows).abs() < 0.02,
        "PSIS {} against {on_rows}",
        rows.log_evidence_per_row
    );
}

/// Eight schools (non-centred, free per-school locals) fits with default settings to a
/// finite ELBO and a sensible posterior (NUTS: mu 4.4 ± 3.3, tau 3.6 ± 3.2).
#[test]
fn eight_schools_fits_with_defaults() {
    let problem = Problem::example("eight_schools.vi", "eight_schools.csv", None);
    let report = problem.fit(FitOptions::default());
    let f = &report.file.figures;
    let global = |name: &str| f.globals.iter().find(|g| g.name == name).unwrap();
    let (mu, tau) = (global("mu"), global("tau"));
    eprintln!(
        "eight schools: ELBO {:.4}/row, mu {:.3} ± {:.3}, tau {:.3} ± {:.3}; {} steps, {:.1} s, {}",
        f.train_elbo, mu.mean[0], mu.sd[0], tau.mean[0], tau.sd[0], f.steps, f.seconds, f.stopped
    );
    assert!(f.train_elbo.is_finite());
    assert!(
        mu.mean[0] > 0.0 && mu.mean[0] < 9.0,
        "mu mean {}",
        mu.mean[0]
    );
    assert!(mu.sd[0] > 1.0 && mu.sd[0] < 6.0, "mu sd {}", mu.sd[0]);
    assert!(
        tau.mean[0] > 0.5 && tau.mean[0] < 10.0,
        "tau mean {}",
        tau.mean[0]
    );
}

/// The digits VAE, 20 epochs: a test ELBO well past what an untrained decoder gets
/// (about −44 nats for 64 fair coins) and an IWAE bound at least as high.
#[test]
fn digits_vae_learns_in_twenty_epochs() {
    let (elbo, iwae, seconds) = digits_vae(
        FitOptions {
            epochs: Some(20),
            ..FitOptions::default()
        },
        100,
    );
    eprintln!("vae, 20 epochs: test ELBO {elbo:.4}, IWAE-100 {iwae:.4}, {seconds:.1} s");
    assert!(elbo > VAE_20_EPOCH_FLOOR, "test ELBO {elbo}");
    assert!(iwae >= elbo - 0.02, "IWAE {iwae} below the ELBO {elbo}");
}

/// Fits the digits VAE example and returns its test ELBO per row, its IWAE-`k`
/// estimate and the training time.
fn digits_vae(options: FitOptions, k: usize) -> (f64, f64, f64) {
    let problem = Problem::example("vae.vi", "digits_train.csv", Some("digits_test.csv"));
    let report = problem.fit(options);
    let f = &report.file.figures;
    let test = problem.test.as_ref().unwrap();
    let iwae = evaluate::iwae(
        &report.elbo,
        &report.file.params,
        test,
        problem.train.rows,
        k,
        0,
    )
    .unwrap();
    (f.test_elbo.unwrap(), iwae, f.seconds)
}

/// Measured: −22.66 with seed 0 (IWAE-100 −22.03).
const VAE_20_EPOCH_FLOOR: f64 = -24.0;

/// The full acceptance run of baselines.md (200 epochs, batch 100, lr 1e-3, seed 0):
/// test ELBO ≥ −18.7 and IWAE-1000 ≥ −18.0 per row, the reference implementations'
/// range. It trains in about 2.5 s, so it runs with the suite.
#[test]
fn digits_vae_full_acceptance() {
    let (elbo, iwae, seconds) = digits_vae(
        FitOptions {
            epochs: Some(200),
            batch: Some(100),
            lr: 1e-3,
            seed: 0,
            ..FitOptions::default()
        },
        1000,
    );
    eprintln!("vae, 200 epochs: test ELBO {elbo:.4}, IWAE-1000 {iwae:.4}, training {seconds:.1} s");
    assert!(elbo >= -18.7, "test ELBO {elbo}");
    assert!(iwae >= -18.0, "IWAE-1000 {iwae}");
}

/// The same fit twice with the same seed gives bit-identical parameters and figures.
#[test]
fn fits_are_deterministic() {
    let problem = Problem::example("logistic.vi", "breast_cancer.csv", None);
    let options = FitOptions {
        epochs: Some(30),
        seed: 5,
        ..FitOptions::default()
    };
    let a = problem.fit(options.clone()).file;
    let b = problem.fit(options).file;
    assert_eq!(a.params, b.params);
    assert_eq!(a.trace, b.trace);
    assert_eq!(
        a.figures.train_elbo.to_bits(),
        b.figures.train_elbo.to_bits()
    );
    assert_eq!(a.figures.globals, b.figures.globals);
}

/// A diverging fit (an exp link and a huge step size) stops with `NonFinite` at a
/// stated step and hands back the last finite parameters.
#[test]
fn a_non_finite_elbo_stops_cleanly() {
    let mut rng = StdRng::seed_from_u64(9);
    let mut csv = String::from("k\n");
    for _ in 0..50 {
        csv.push_str(&format!("{}\n", rng.random_range(0..6u32)));
    }
    let model = "
data   k: int
global r: real ~ Normal(0, 1)
k ~ Poisson(exp(3 * r))
";
    let problem = Problem::inline(model, "diverging", &csv);
    let options = objective::options_for(&problem.loaded.info, problem.train.rows);
    let elbo = objective::build(&problem.loaded.model, &problem.loaded.info, &options).unwrap();
    let fit_options = FitOptions {
        epochs: Some(1000),
        lr: 1e4,
        ..FitOptions::default()
    };
    let training = train::train(&elbo, &problem.train, &fit_options, &mut |_: &Progress| {});
    let Outcome::NonFinite(stop) = &training.outcome else {
        panic!("training ended with {:?}", training.outcome);
    };
    eprintln!(
        "diverging fit: non-finite at step {} ({:?})",
        stop.step, stop.label
    );
    assert!(stop.step >= 1 && stop.step <= training.steps + 1);
    assert!(
        training
            .params
            .iter()
            .all(|p| p.values.iter().all(|v| v.is_finite()))
    );
}

/// Bayesian linear regression y ~ Normal(w·x, 1), w ~ Normal(0, I) with two strongly
/// correlated predictors: the posterior of w is a correlated Gaussian, so a mean-field
/// guide is too narrow and its ELBO is about ½ log(1/(1 − ρ²)) below log p(y).
const CORRELATED_REGRESSION: &str = "\
data x: real[2]
data y: real
global w: real[2] ~ Normal(0, 1)
y ~ Normal(dot(w, x), 1)
";

/// Rows of x with corr(x0, x1) about 0.95 and y drawn from the model at w = (1, −0.5).
fn correlated_regression_rows(n: usize) -> (Vec<[f64; 2]>, Vec<f64>, String) {
    let mut rng = StdRng::seed_from_u64(77);
    let mut csv = String::from("x0,x1,y\n");
    let (mut xs, mut ys) = (Vec::new(), Vec::new());
    for _ in 0..n {
        let a: f64 = StandardNormal.sample(&mut rng);
        let b: f64 = StandardNormal.sample(&mut rng);
        let e: f64 = StandardNormal.sample(&mut rng);
        let x = [a, 0.95 * a + (1.0f64 - 0.95 * 0.95).sqrt() * b];
        let y = x[0] - 0.5 * x[1] + e;
        csv.push_str(&format!("{},{},{}\n", x[0], x[1], y));
        xs.push(x);
        ys.push(y);
    }
    (xs, ys, csv)
}

/// log p(y) = log N(y; 0, I + X Xᵀ), by the determinant lemma and Woodbury with
/// Λ = I + XᵀX: log det(I + X Xᵀ) = log det Λ, yᵀ(I + X Xᵀ)⁻¹y = yᵀy − bᵀΛ⁻¹b, b = Xᵀy.
fn correlated_regression_log_evidence(xs: &[[f64; 2]], ys: &[f64]) -> f64 {
    let mut lambda = [[1.0, 0.0], [0.0, 1.0]];
    let mut b = [0.0; 2];
    for (x, &y) in xs.iter().zip(ys) {
        for i in 0..2 {
            b[i] += x[i] * y;
            for j in 0..2 {
                lambda[i][j] += x[i] * x[j];
            }
        }
    }
    let det = lambda[0][0] * lambda[1][1] - lambda[0][1] * lambda[1][0];
    let quad_b = (lambda[1][1] * b[0] * b[0] - 2.0 * lambda[0][1] * b[0] * b[1]
        + lambda[0][0] * b[1] * b[1])
        / det;
    let yy: f64 = ys.iter().map(|y| y * y).sum();
    let n = ys.len() as f64;
    -0.5 * n * (2.0 * std::f64::consts::PI).ln() - 0.5 * det.ln() - 0.5 * (yy - quad_b)
}

/// Training on the importance-weighted bound with global latents (the joint bound of
/// all rows, one draw of the globals per sample) improves that bound over the
/// ELBO-trained guide on a posterior mean-field cannot represent, gives up some ELBO
/// for it, and neither bound exceeds the exact log evidence.
#[test]
fn iwae_training_with_globals_tightens_the_joint_bound() {
    let n = 20;
    let k = 8;
    let (xs, ys, csv) = correlated_regression_rows(n);
    let exact = correlated_regression_log_evidence(&xs, &ys);
    let problem = Problem::inline(CORRELATED_REGRESSION, "correlated_regression", &csv);
    let fit_with = |objective: ObjectiveSpec| {
        let mut guide = problem.loaded.info.guide.clone();
        guide.objective = objective;
        let request = FitRequest {
            loaded: &problem.loaded,
            train: &problem.train,
            test: None,
            options: FitOptions {
                epochs: Some(4000),
                lr: 1e-2,
                optimizer: Optimizer::Adam,
                ..FitOptions::default()
            },
            guide,
            kl: KlMode::Sampled,
        };
        fit(&request, &mut |_: &Progress| {}).unwrap()
    };
    // The mean of the K-sample joint bound over independent estimates, in total nats,
    // with its standard error.
    let mean_bound = |report: &FitReport| {
        let draws: Vec<f64> = (0..400)
            .map(|seed| {
                let per_row = evaluate::iwae(
                    &report.elbo,
                    &report.file.params,
                    &problem.train,
                    n,
                    k,
                    seed,
                )
                .unwrap();
                per_row * n as f64
            })
            .collect();
        let mean = draws.iter().sum::<f64>() / draws.len() as f64;
        let var = draws.iter().map(|d| (d - mean).powi(2)).sum::<f64>() / (draws.len() - 1) as f64;
        (mean, (var / draws.len() as f64).sqrt())
    };
    let elbo_fit = fit_with(ObjectiveSpec::Elbo);
    let iwae_fit = fit_with(ObjectiveSpec::iwae(k).unwrap());
    let (elbo_bound, elbo_se) = mean_bound(&elbo_fit);
    let (iwae_bound, iwae_se) = mean_bound(&iwae_fit);
    let elbo_of = |r: &FitReport| r.file.figures.train_elbo * n as f64;
    eprintln!(
        "correlated regression: log p(y) {exact:.3}; ELBO-trained: ELBO {:.3}, IWAE-{k} {elbo_bound:.3} ± {elbo_se:.3}; \
         IWAE-trained: ELBO {:.3}, IWAE-{k} {iwae_bound:.3} ± {iwae_se:.3}",
        elbo_of(&elbo_fit),
        elbo_of(&iwae_fit)
    );
    assert!(
        elbo_bound <= exact + 3.0 * elbo_se,
        "the bound exceeds log p(y)"
    );
    assert!(
        iwae_bound <= exact + 3.0 * iwae_se,
        "the bound exceeds log p(y)"
    );
    assert!(
        iwae_bound > elbo_bound + 0.1,
        "IWAE training gained only {} nats of the IWAE-{k} bound",
        iwae_bound - elbo_bound
    );
    assert!(
        elbo_of(&iwae_fit) < elbo_of(&elbo_fit),
        "the IWAE-trained guide should give up ELBO"
    );
}
