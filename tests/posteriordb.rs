//! Default fits of the posteriordb regressions with Gaussian likelihoods
//! (`examples/posteriordb/`) against their exact mean-field optimum: under a Gaussian
//! guide (log-normal on the noise scale) the ELBO of `y ~ Normal(Xb, sigma)` with
//! Normal(0, 100) coefficients and a HalfNormal(100) scale is closed form, and an f64
//! L-BFGS on it is the reference. Every mean must be within 0.1 mean-field sd.

use std::path::PathBuf;

use vic::infer::data::{self, Dataset};
use vic::infer::fit::{FitReport, FitRequest, column_specs, fit};
use vic::infer::optim::{self, Minimum, Tolerances};
use vic::infer::train::{FitOptions, Progress};
use vic::objective::KlMode;
use vic::source::{self, Loaded};

const PRIOR: f64 = 100.0;

/// The closed-form mean-field ELBO; `v` = [means of b..., mean of log sigma, then the
/// log sds in the same order]. Columns: `x[i]` the predictors of row i (with a 1 for an
/// intercept), `y[i]` the response.
fn elbo(x: &[Vec<f64>], y: &[f64], v: &[f64]) -> f64 {
    let d = x[0].len();
    let (mu, ls) = v.split_at(d + 1);
    let var: Vec<f64> = ls.iter().map(|l| (2.0 * l).exp()).collect();
    let (m, s2) = (mu[d], var[d]);
    let inv_sigma2 = (-2.0 * m + 2.0 * s2).exp();
    let ln2pi = (2.0 * std::f64::consts::PI).ln();
    let mut total = 0.0;
    for (row, &yi) in x.iter().zip(y) {
        let pred: f64 = row.iter().zip(mu).map(|(a, b)| a * b).sum();
        let spread: f64 = row.iter().zip(&var).map(|(a, v)| a * a * v).sum();
        total += -0.5 * ln2pi - m - 0.5 * inv_sigma2 * ((yi - pred).powi(2) + spread);
    }
    let prior_norm = -0.5 * (ln2pi + 2.0 * PRIOR.ln());
    for j in 0..d {
        total += prior_norm - (mu[j] * mu[j] + var[j]) / (2.0 * PRIOR * PRIOR);
    }
    // HalfNormal(100) on sigma = exp(u), with the log-Jacobian u.
    total += 2f64.ln() + prior_norm - (2.0 * m + 2.0 * s2).exp() / (2.0 * PRIOR * PRIOR) + m;
    total + ls.iter().map(|l| l + 0.5 * (ln2pi + 1.0)).sum::<f64>()
}

fn column(data: &Dataset, name: &str) -> Vec<f64> {
    let c = data.columns.iter().find(|c| c.spec.name == name).unwrap();
    (0..data.rows).map(|i| f64::from(c.row(i)[0])).collect()
}

/// `examples/posteriordb/<name>.vi` and its data, loaded as `vic fit` would.
fn load(name: &str) -> (Loaded, Dataset) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples/posteriordb");
    let loaded = source::load(&dir.join(format!("{name}.vi"))).unwrap();
    let train = data::load(&dir.join(format!("{name}.csv")), &column_specs(&loaded)).unwrap();
    (loaded, train)
}

/// The maximum of a deterministic ELBO by an f64 L-BFGS with central-difference
/// gradients: the reference a default fit is judged against.
fn reference_optimum(elbo: impl Fn(&[f64]) -> f64, start: Vec<f64>, gradient: f64) -> Minimum {
    optim::minimize(
        |v, g| {
            for j in 0..v.len() {
                let h = 1e-6 * v[j].abs().max(1.0);
                let mut a = v.to_vec();
                a[j] += h;
                let fp = -elbo(&a);
                a[j] -= 2.0 * h;
                let fm = -elbo(&a);
                g[j] = (fp - fm) / (2.0 * h);
            }
            -elbo(v)
        },
        start,
        Tolerances {
            gradient,
            ..Tolerances::default()
        },
    )
}

/// The fit `vic fit` makes with default options.
fn default_fit(loaded: &Loaded, train: &Dataset) -> FitReport {
    let request = FitRequest {
        loaded,
        train,
        test: None,
        options: FitOptions::default(),
        guide: loaded.info.guide.clone(),
        kl: KlMode::Sampled,
    };
    fit(&request, &mut |_: &Progress| {}).unwrap()
}

/// A fitted parameter's values, in f64.
fn fitted(report: &FitReport, name: &str) -> Vec<f64> {
    let p = report.file.params.iter().find(|p| p.name == name).unwrap();
    p.values.iter().map(|&v| f64::from(v)).collect()
}

/// A mean-field guide's log sds from its raw (softplus) scale parameter.
fn log_sds(report: &FitReport, name: &str) -> Vec<f64> {
    fitted(report, name)
        .iter()
        .map(|&raw| softplus(raw).ln())
        .collect()
}

/// Fits `examples/posteriordb/<name>.vi` with defaults and compares with the reference.
fn check(name: &str, y: &str, xs: &[&str], intercept: bool) {
    let (loaded, train) = load(name);
    let cols: Vec<Vec<f64>> = xs.iter().map(|x| column(&train, x)).collect();
    let rows: Vec<Vec<f64>> = (0..train.rows)
        .map(|i| {
            let mut r: Vec<f64> = intercept.then_some(1.0).into_iter().collect();
            r.extend(cols.iter().map(|c| c[i]));
            r
        })
        .collect();
    let yv = column(&train, y);
    let p = 2 * (rows[0].len() + 1);
    let start: Vec<f64> = (0..p).map(|i| if i < p / 2 { 0.0 } else { -1.0 }).collect();
    let reference = reference_optimum(|v| elbo(&rows, &yv, v), start, 1e-7);
    let report = default_fit(&loaded, &train);
    let loc = fitted(&report, "guide.globals.loc");
    let d = p / 2;
    let mut worst = 0.0f64;
    for (j, &got) in loc.iter().enumerate().take(d) {
        let sd = reference.x[d + j].exp();
        let err = (got - reference.x[j]).abs() / sd;
        worst = worst.max(err);
        assert!(
            err < 0.1,
            "{name}: mean {j} is {got} against {} (sd {sd}): {err} sd",
            reference.x[j]
        );
    }
    let total = report.file.figures.train_elbo * train.rows as f64;
    let best = -reference.value;
    let at_fit = [loc, log_sds(&report, "guide.globals.scale")].concat();
    let exact = elbo(&rows, &yv, &at_fit);
    eprintln!(
        "{name}: worst mean error {worst:.4} sd, exact ELBO at the fit {:.4} nats from the optimum, reported ELBO error {:.4} nats, k-hat {:?}, {:.3} s",
        exact - best,
        total - best,
        report.file.figures.khat,
        report.file.figures.seconds
    );
    assert!(
        (exact - best).abs() < 0.05,
        "{name}: the exact ELBO at the fit is {exact} against the optimum {best}"
    );
    assert!(
        (total - best).abs() < 0.05,
        "{name}: the reported ELBO {total} against the optimum {best}"
    );
}

#[test]
fn kidiq_with_unscaled_mom_iq_reaches_its_mean_field_optimum() {
    check("kidiq", "kid_score", &["mom_hs", "mom_iq"], true);
}

#[test]
fn kidiq_interaction_reaches_its_mean_field_optimum() {
    check(
        "kidiq_interaction",
        "kid_score",
        &["z_mom_hs", "z_mom_iq", "inter"],
        true,
    );
}

#[test]
fn earnings_reaches_its_mean_field_optimum() {
    check("earnings", "log_earn", &["z_height", "male", "inter"], true);
}

#[test]
fn mesquite_reaches_its_mean_field_optimum() {
    let xs = [
        "log_canopy_volume",
        "log_canopy_area",
        "log_canopy_shape",
        "log_total_height",
        "log_density",
        "group",
    ];
    check("mesquite", "log_weight", &xs, true);
}

#[test]
fn sblr_regressions_reach_their_mean_field_optimum() {
    let xs = ["x1", "x2", "x3", "x4", "x5"];
    check("sblrc", "y", &xs, false);
    check("sblri", "y", &xs, false);
}

#[test]
fn nes_reaches_its_mean_field_optimum() {
    let xs = [
        "real_ideo",
        "race_adj",
        "age30_44",
        "age45_64",
        "age65up",
        "educ1",
        "gender",
        "income",
    ];
    check("nes", "partyid7", &xs, true);
}

fn softplus(x: f64) -> f64 {
    x.max(0.0) + (-x.abs()).exp().ln_1p()
}

/// E[log sigmoid(mean + sd·t)], t ~ N(0, 1), by Simpson's rule on [−8, 8] with 81
/// points (errors far below the 0.05 nats judged here for these smooth integrands).
fn expected_log_sigmoid(mean: f64, sd: f64) -> f64 {
    const N: usize = 80;
    let h = 16.0 / N as f64;
    let mut total = 0.0;
    for i in 0..=N {
        let t = -8.0 + i as f64 * h;
        let w = match i {
            0 | N => 1.0,
            _ if i % 2 == 1 => 4.0,
            _ => 2.0,
        };
        total += w * -softplus(-(mean + sd * t)) * (-0.5 * t * t).exp();
    }
    total * h / 3.0 / (2.0 * std::f64::consts::PI).sqrt()
}

/// The mean-field ELBO of a logistic regression with Normal(0, 100) coefficients by
/// quadrature: each row's logit is Gaussian under q. `v` = [means, then log sds].
fn logistic_elbo(x: &[Vec<f64>], y: &[bool], v: &[f64]) -> f64 {
    let d = x[0].len();
    let (mu, ls) = v.split_at(d);
    let var: Vec<f64> = ls.iter().map(|l| (2.0 * l).exp()).collect();
    let mut total = 0.0;
    for (row, &yi) in x.iter().zip(y) {
        let mean: f64 = row.iter().zip(mu).map(|(a, b)| a * b).sum();
        let sd = row
            .iter()
            .zip(&var)
            .map(|(a, v)| a * a * v)
            .sum::<f64>()
            .sqrt();
        let sign = if yi { 1.0 } else { -1.0 };
        total += expected_log_sigmoid(sign * mean, sd);
    }
    let kl: f64 = (0..d)
        .map(|j| PRIOR.ln() - ls[j] + (var[j] + mu[j] * mu[j]) / (2.0 * PRIOR * PRIOR) - 0.5)
        .sum();
    total - kl
}

/// The wells logistic regression (switched on dist100 and the unscaled arsenic): the
/// default fit's means are within 0.1 sd of the exact mean-field optimum (quadrature and
/// L-BFGS) and its ELBO, by the same quadrature at the fitted parameters, within 0.05
/// nats of the optimum's.
#[test]
fn wells_reaches_its_mean_field_optimum() {
    let (loaded, train) = load("wells");
    let (dist, arsenic) = (column(&train, "dist100"), column(&train, "arsenic"));
    let rows: Vec<Vec<f64>> = (0..train.rows)
        .map(|i| vec![1.0, dist[i], arsenic[i]])
        .collect();
    let y: Vec<bool> = column(&train, "switched")
        .iter()
        .map(|&v| v > 0.5)
        .collect();
    let reference = reference_optimum(
        |v| logistic_elbo(&rows, &y, v),
        vec![0.0, 0.0, 0.0, -2.0, -2.0, -2.0],
        1e-7,
    );
    let report = default_fit(&loaded, &train);
    let loc = fitted(&report, "guide.globals.loc");
    let log_sd = log_sds(&report, "guide.globals.scale");
    let worst = loc
        .iter()
        .enumerate()
        .map(|(j, m)| (m - reference.x[j]).abs() / reference.x[3 + j].exp())
        .fold(0.0f64, f64::max);
    let at_fit = logistic_elbo(&rows, &y, &[loc, log_sd].concat());
    let best = -reference.value;
    eprintln!(
        "wells: worst mean error {worst:.4} sd, ELBO {at_fit:.4} against the optimum {best:.4}, reported {:.4}, k-hat {:?}",
        report.file.figures.train_elbo * train.rows as f64,
        report.file.figures.khat
    );
    assert!(worst < 0.1, "a mean is {worst} sd from the optimum");
    assert!((at_fit - best).abs() < 0.05, "ELBO {at_fit} against {best}");
    let reported = report.file.figures.train_elbo * train.rows as f64;
    assert!(
        (reported - best).abs() < 0.05,
        "reported ELBO {reported} against {best}"
    );
}

/// Eight schools (non-centred): y_j ~ Normal(mu + tau·eta_j, sigma_j), mu ~ Normal(0, 5),
/// tau ~ HalfCauchy(5), eta_j ~ Normal(0, 1), with mean-field q over mu, log tau and the
/// free eta_j. Every expectation is closed form under q (log tau Gaussian makes tau
/// log-normal) except the half-Cauchy's, a 1-D quadrature. `v` = [a, m, e_1..e_J, then
/// the log sds in the same order].
fn eight_schools_elbo(y: &[f64], sigma: &[f64], v: &[f64]) -> f64 {
    let j = y.len();
    let (mean, log_sd) = v.split_at(j + 2);
    let var: Vec<f64> = log_sd.iter().map(|l| (2.0 * l).exp()).collect();
    let (a, m) = (mean[0], mean[1]);
    let (va, vm) = (var[0], var[1]);
    let ln2pi = (2.0 * std::f64::consts::PI).ln();
    // E[tau] and E[tau²] under the log-normal.
    let (t1, t2) = ((m + vm / 2.0).exp(), (2.0 * m + 2.0 * vm).exp());
    let mut total = 0.0;
    for i in 0..j {
        let (e, ve) = (mean[2 + i], var[2 + i]);
        let sq = (y[i] - a - t1 * e).powi(2) + va + t2 * (e * e + ve) - t1 * t1 * e * e;
        total += -0.5 * ln2pi - sigma[i].ln() - sq / (2.0 * sigma[i] * sigma[i]);
        total += -0.5 * ln2pi - 0.5 * (e * e + ve);
    }
    total += -0.5 * ln2pi - 5f64.ln() - (a * a + va) / 50.0;
    // log HalfCauchy(tau; 5) plus the log-Jacobian u of tau = exp(u), u ~ N(m, vm).
    let sd = vm.sqrt();
    let n = 200;
    let h = 20.0 / n as f64;
    let mut cauchy = 0.0;
    for k in 0..=n {
        let t = -10.0 + k as f64 * h;
        let w = match k {
            0 => 1.0,
            _ if k == n => 1.0,
            _ if k % 2 == 1 => 4.0,
            _ => 2.0,
        };
        let u = m + sd * t;
        cauchy += w * -(2.0 * u - 2.0 * 5f64.ln()).exp().ln_1p() * (-0.5 * t * t).exp();
    }
    total += (2.0 / (std::f64::consts::PI * 5.0)).ln() + cauchy * h / 3.0 / ln2pi.exp().sqrt() + m;
    total + log_sd.iter().map(|l| l + 0.5 * (ln2pi + 1.0)).sum::<f64>()
}

/// The default fit of eight schools (deterministic ADVI over the globals and the free
/// per-school locals) reaches the exact mean-field optimum: every mean within 0.1 sd,
/// and the exact ELBO at the fitted parameters within 0.05 nats of the optimum's.
#[test]
fn eight_schools_reaches_its_mean_field_optimum() {
    let (loaded, train) = load("eight_schools");
    let (y, sigma) = (column(&train, "y"), column(&train, "sigma"));
    let j = y.len();
    let start: Vec<f64> = (0..2 * (j + 2))
        .map(|i| if i < j + 2 { 0.0 } else { -1.0 })
        .collect();
    let reference = reference_optimum(|v| eight_schools_elbo(&y, &sigma, v), start, 1e-8);
    let report = default_fit(&loaded, &train);
    let mean = [
        fitted(&report, "guide.globals.loc"),
        fitted(&report, "guide.theta_trans.loc"),
    ]
    .concat();
    let log_sd = [
        log_sds(&report, "guide.globals.scale"),
        log_sds(&report, "guide.theta_trans.scale"),
    ]
    .concat();
    let worst = mean
        .iter()
        .enumerate()
        .map(|(k, m)| (m - reference.x[k]).abs() / reference.x[j + 2 + k].exp())
        .fold(0.0f64, f64::max);
    let at_fit = eight_schools_elbo(&y, &sigma, &[mean, log_sd].concat());
    let best = -reference.value;
    eprintln!(
        "eight schools: worst mean error {worst:.4} sd, ELBO {at_fit:.4} against the optimum {best:.4}, reported {:.4}, k-hat {:?}",
        report.file.figures.train_elbo * j as f64,
        report.file.figures.khat
    );
    assert!(worst < 0.1, "a mean is {worst} sd from the optimum");
    assert!((at_fit - best).abs() < 0.05, "ELBO {at_fit} against {best}");
    let reported = report.file.figures.train_elbo * j as f64;
    assert!(
        (reported - best).abs() < 0.05,
        "reported ELBO {reported} against {best}"
    );
}
