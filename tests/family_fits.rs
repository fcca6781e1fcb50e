//! The families added through `src/dist/` fit end to end: each model is simulated here
//! from a seeded generator with known parameters, fitted with default options, and the
//! fitted posterior is compared with the truth (within several posterior sds) or with
//! the exact posterior (by conjugacy or quadrature). StudentT is exercised as a global
//! and as a local prior, and drawn from with `sample`.

use std::path::Path;

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use rand_distr::{Binomial, Distribution, Gamma, Poisson, StandardNormal, StudentT};
use vic::dist::Elem;
use vic::dist::transform::Transform;
use vic::infer::data::{self, Dataset};
use vic::infer::evaluate::{self, GlobalSummary};
use vic::infer::fit::{FitReport, FitRequest, column_specs, fit};
use vic::infer::sample::Sampler;
use vic::infer::train::{FitOptions, Progress};
use vic::objective::KlMode;
use vic::source::{self, Loaded};

/// A model and its simulated data, loaded as `vic fit` would.
struct Problem {
    loaded: Loaded,
    train: Dataset,
}

impl Problem {
    fn new(model: &str, csv: &str) -> Problem {
        let loaded = source::analyze("model.vi", model.to_string()).unwrap();
        let specs = column_specs(&loaded);
        let train = data::parse(Path::new("data.csv"), csv.as_bytes(), &specs).unwrap();
        Problem { loaded, train }
    }

    /// Fits with default options, to convergence.
    fn fit(&self) -> FitReport {
        let request = FitRequest {
            loaded: &self.loaded,
            train: &self.train,
            test: None,
            options: FitOptions::default(),
            guide: self.loaded.info.guide.clone(),
            kl: KlMode::Sampled,
        };
        let report = fit(&request, &mut |_: &Progress| {}).unwrap();
        let f = &report.file.figures;
        eprintln!(
            "{} steps, {:.2} s, {}, ELBO {:.4}/row",
            f.steps, f.seconds, f.stopped, f.train_elbo
        );
        assert!(report.non_finite.is_none());
        report
    }
}

fn global<'a>(report: &'a FitReport, name: &str) -> &'a GlobalSummary {
    report
        .file
        .figures
        .globals
        .iter()
        .find(|g| g.name == name)
        .unwrap()
}

/// Asserts that the fitted posterior of scalar global `name` covers `truth` within `k`
/// posterior sds.
#[track_caller]
fn recovers(report: &FitReport, name: &str, truth: f64, k: f64) {
    let g = global(report, name);
    let (mean, sd) = (g.mean[0], g.sd[0]);
    let z = (mean - truth) / sd;
    eprintln!("{name}: {mean:.4} ± {sd:.4}, truth {truth} ({z:+.2} sd)");
    assert!(
        z.abs() < k,
        "{name}: {mean} ± {sd} is {z:.2} sds from {truth}"
    );
}

/// Draws from a fitted model, collected by column name.
struct Draws {
    header: Vec<String>,
    rows: Vec<Vec<f32>>,
}

fn sample(
    model: &vic::check::hir::Model,
    info: &vic::check::ModelInfo,
    elbo: &vic::objective::ElboGraph,
    params: &[vic::infer::session::NamedParam],
    n: usize,
    seed: u64,
) -> Result<Draws, vic::infer::sample::SampleError> {
    let mut sampler = Sampler::new(model, info, elbo, params, n, seed, None)?;
    let header = sampler.header().to_vec();
    let width = sampler.width();
    let mut rows = Vec::with_capacity(n);
    while rows.len() < n {
        let chunk = (n - rows.len()).min(sampler.chunk());
        rows.extend(sampler.draw(chunk)?.chunks(width).map(<[f32]>::to_vec));
    }
    Ok(Draws { header, rows })
}

fn std_normal(rng: &mut StdRng) -> f64 {
    StandardNormal.sample(rng)
}

fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

/// Binomial logistic regression, k ~ Binomial(n, logits = b0 + b1 x), with the totals
/// as an `int` data column: both coefficients within 4 posterior sds.
#[test]
fn binomial_logistic_regression_recovers_its_coefficients() {
    const MODEL: &str = "
data x: real
data n: int
data k: int
global b0: real ~ Normal(0, 5)
global b1: real ~ Normal(0, 5)
k ~ Binomial(n, logits = b0 + b1 * x)
";
    let (b0, b1) = (-0.5, 1.2);
    let mut rng = StdRng::seed_from_u64(7);
    let mut csv = String::from("x,n,k\n");
    for _ in 0..400 {
        let x: f64 = StandardNormal.sample(&mut rng);
        let n: u64 = rng.random_range(1..=20);
        let k = Binomial::new(n, sigmoid(b0 + b1 * x))
            .unwrap()
            .sample(&mut rng);
        csv.push_str(&format!("{x},{n},{k}\n"));
    }
    let report = Problem::new(MODEL, &csv).fit();
    recovers(&report, "b0", b0, 4.0);
    recovers(&report, "b1", b1, 4.0);
    // 400 rows of up to 20 trials pin both coefficients down to a few hundredths.
    assert!(global(&report, "b1").sd[0] < 0.1);
}

/// Binomial(10, p) with a Beta(2, 2) prior is conjugate: the posterior is
/// Beta(2 + Σk, 2 + Σ(10 − k)). The fitted mean lies within 0.2 exact sds of the exact
/// mean and the fitted sd within 15% of the exact sd; the truth is within 4 sds.
#[test]
fn binomial_probability_matches_the_conjugate_posterior() {
    const MODEL: &str = "
data k: int
global p: unit ~ Beta(2, 2)
k ~ Binomial(10, p)
";
    let truth = 0.3;
    let mut rng = StdRng::seed_from_u64(11);
    let draws: Vec<u64> = (0..60)
        .map(|_| Binomial::new(10, truth).unwrap().sample(&mut rng))
        .collect();
    let csv: String = std::iter::once("k".to_string())
        .chain(draws.iter().map(u64::to_string))
        .collect::<Vec<_>>()
        .join("\n");
    let report = Problem::new(MODEL, &csv).fit();
    let successes: u64 = draws.iter().sum();
    let (a, b) = (2.0 + successes as f64, 2.0 + (600 - successes) as f64);
    let mean = a / (a + b);
    let sd = (a * b / ((a + b).powi(2) * (a + b + 1.0))).sqrt();
    let g = global(&report, "p");
    eprintln!(
        "p: {:.4} ± {:.4}, exact {mean:.4} ± {sd:.4}",
        g.mean[0], g.sd[0]
    );
    assert!((g.mean[0] - mean).abs() < 0.2 * sd, "mean {}", g.mean[0]);
    assert!((g.sd[0] / sd - 1.0).abs() < 0.15, "sd {}", g.sd[0]);
    recovers(&report, "p", truth, 4.0);
}

/// Negative-binomial regression with a fitted `param` concentration: y ~
/// NegativeBinomial(exp(a + b x), phi), data simulated as the Gamma–Poisson mixture.
/// a and b within 4 posterior sds, phi within 25% of the truth.
#[test]
fn negative_binomial_regression_recovers_mean_and_dispersion() {
    const MODEL: &str = "
data x: real
data y: int
global a: real ~ Normal(0, 5)
global b: real ~ Normal(0, 5)
param phi: positive = 1.0
y ~ NegativeBinomial(exp(a + b * x), phi)
";
    let (a, b, phi) = (1.0, 0.5, 2.0);
    let mut rng = StdRng::seed_from_u64(5);
    let mut csv = String::from("x,y\n");
    for _ in 0..1000 {
        let x: f64 = StandardNormal.sample(&mut rng);
        let mean = (a + b * x).exp();
        let rate = Gamma::new(phi, mean / phi).unwrap().sample(&mut rng);
        let y = if rate > 0.0 {
            Poisson::new(rate).unwrap().sample(&mut rng)
        } else {
            0.0
        };
        csv.push_str(&format!("{x},{y}\n"));
    }
    let report = Problem::new(MODEL, &csv).fit();
    recovers(&report, "a", a, 4.0);
    recovers(&report, "b", b, 4.0);
    let positive = Transform::of(Elem::Positive);
    let stored = report
        .file
        .params
        .iter()
        .find(|p| p.name == positive.storage_name("phi"))
        .unwrap();
    let fitted: f64 = positive.forward(f64::from(stored.values[0]));
    eprintln!("phi: {fitted:.4}, truth {phi}");
    assert!((fitted / phi - 1.0).abs() < 0.25, "phi {fitted}");
}

/// ∫ f(x) dx by Simpson's rule on [lo, hi] with `n` (even) intervals.
fn simpson(f: impl Fn(f64) -> f64, lo: f64, hi: f64, n: usize) -> f64 {
    let h = (hi - lo) / n as f64;
    let total: f64 = (0..=n)
        .map(|i| {
            let w = if i == 0 || i == n {
                1.0
            } else if i % 2 == 1 {
                4.0
            } else {
                2.0
            };
            w * f(lo + i as f64 * h)
        })
        .sum();
    total * h / 3.0
}

/// ln t_ν(x; 0, 1), written out.
fn ln_student_t(x: f64, nu: f64) -> f64 {
    use vic::autodiff::special::ln_gamma;
    ln_gamma(0.5 * (nu + 1.0))
        - ln_gamma(0.5 * nu)
        - 0.5 * (nu * std::f64::consts::PI).ln()
        - 0.5 * (nu + 1.0) * (x * x / nu).ln_1p()
}

fn ln_normal(x: f64, loc: f64, scale: f64) -> f64 {
    let z = (x - loc) / scale;
    -0.5 * z * z - scale.ln() - 0.5 * (2.0 * std::f64::consts::PI).ln()
}

/// A heavy-tailed StudentT(3, 0, 1) prior on a global mean with four observations far
/// out in its tail, where the prior visibly shrinks the posterior: the fitted mean and
/// sd match the exact posterior (by quadrature) within 0.2 sd and 20%, and `sample`
/// draws the global from the fitted guide.
#[test]
fn student_t_global_prior_matches_the_exact_posterior_and_samples() {
    const MODEL: &str = "
data y: real
global mu: real ~ StudentT(3, 0, 1)
y ~ Normal(mu, 1)
";
    let truth = 2.5;
    let mut rng = StdRng::seed_from_u64(3);
    let ys: Vec<f64> = (0..4).map(|_| truth + std_normal(&mut rng)).collect();
    let csv = std::iter::once("y".to_string())
        .chain(ys.iter().map(f64::to_string))
        .collect::<Vec<_>>()
        .join("\n");
    let problem = Problem::new(MODEL, &csv);
    let report = problem.fit();

    let log_post =
        |m: f64| ln_student_t(m, 3.0) + ys.iter().map(|&y| ln_normal(y, m, 1.0)).sum::<f64>();
    let z = simpson(|m| log_post(m).exp(), -20.0, 20.0, 8000);
    let mean = simpson(|m| m * log_post(m).exp(), -20.0, 20.0, 8000) / z;
    let second = simpson(|m| m * m * log_post(m).exp(), -20.0, 20.0, 8000) / z;
    let sd = (second - mean * mean).sqrt();
    let g = global(&report, "mu");
    eprintln!(
        "mu: {:.4} ± {:.4}, exact {mean:.4} ± {sd:.4}, data mean {:.4}",
        g.mean[0],
        g.sd[0],
        ys.iter().sum::<f64>() / 4.0
    );
    assert!((g.mean[0] - mean).abs() < 0.2 * sd, "mean {}", g.mean[0]);
    assert!((g.sd[0] / sd - 1.0).abs() < 0.2, "sd {}", g.sd[0]);
    recovers(&report, "mu", truth, 4.0);

    let n = 4000;
    let draws = sample(
        &problem.loaded.model,
        &problem.loaded.info,
        &report.elbo,
        &report.file.params,
        n,
        1,
    )
    .unwrap();
    let column = |name: &str| {
        let j = draws.header.iter().position(|h| h == name).unwrap();
        draws.rows.iter().map(move |r| f64::from(r[j]))
    };
    let drawn_mean = column("mu").sum::<f64>() / n as f64;
    assert!(
        (drawn_mean - g.mean[0]).abs() < 4.0 * g.sd[0] / (n as f64).sqrt(),
        "sampled mu mean {drawn_mean}"
    );
    // y = mu + N(0, 1): its draws spread wider than mu's.
    let y_mean = column("y").sum::<f64>() / n as f64;
    let y_var = column("y").map(|y| (y - y_mean).powi(2)).sum::<f64>() / n as f64;
    assert!(
        y_var > 1.0 && y_var < 1.0 + 4.0 * g.sd[0].powi(2),
        "var {y_var}"
    );
}

/// A StudentT(4, 0, 1) prior on a per-row latent with an amortized guide: the ELBO is a
/// lower bound on the exact log evidence (∫ t₄(z) N(y; z, 0.5²) dz by quadrature) and
/// comes within 0.05 nats of it; `sample` draws the latent from its heavy-tailed prior.
#[test]
fn student_t_local_prior_fits_to_the_exact_evidence_and_samples() {
    const MODEL: &str = "
data y: real
latent z: real ~ StudentT(4, 0, 1)
y ~ Normal(z, 0.5)
";
    let mut rng = StdRng::seed_from_u64(8);
    let t4 = StudentT::new(4.0).unwrap();
    let ys: Vec<f64> = (0..500)
        .map(|_| t4.sample(&mut rng) + 0.5 * std_normal(&mut rng))
        .collect();
    let csv = std::iter::once("y".to_string())
        .chain(ys.iter().map(f64::to_string))
        .collect::<Vec<_>>()
        .join("\n");
    let problem = Problem::new(MODEL, &csv);
    let report = problem.fit();
    let exact = ys
        .iter()
        .map(|&y| {
            let f = |z: f64| (ln_student_t(z, 4.0) + ln_normal(y, z, 0.5)).exp();
            simpson(f, y - 10.0, y + 10.0, 4000).ln()
        })
        .sum::<f64>()
        / ys.len() as f64;
    let rows = problem.train.rows;
    let estimate = evaluate::elbo(
        &report.elbo,
        &report.file.params,
        &problem.train,
        rows,
        1,
        evaluate::Precision {
            target: evaluate::ErrorTarget::PerRow(0.002),
            max_passes: 4000,
        },
        &mut |_| true,
    )
    .unwrap();
    eprintln!(
        "exact {exact:.4}, ELBO {:.4} ± {:.4}",
        estimate.per_row, estimate.mc_error
    );
    assert!(estimate.per_row <= exact + 3.0 * estimate.mc_error);
    assert!(
        estimate.per_row >= exact - 0.05,
        "{}",
        exact - estimate.per_row
    );

    let n = 4000;
    let draws = sample(
        &problem.loaded.model,
        &problem.loaded.info,
        &report.elbo,
        &report.file.params,
        n,
        2,
    )
    .unwrap();
    let j = draws.header.iter().position(|h| h == "z").unwrap();
    let z: Vec<f64> = draws.rows.iter().map(|r| f64::from(r[j])).collect();
    assert!(z.iter().all(|v| v.is_finite()));
    // P(|z| > 4) is 1.6% under t₄ (64 of 4000 expected) but 0.5% under a normal of the
    // same variance 2 (19 expected).
    let beyond = z.iter().filter(|v| v.abs() > 4.0).count();
    assert!(beyond > 40 && beyond < 100, "{beyond} draws beyond ±4");
}
