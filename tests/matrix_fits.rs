//! Matrix params and globals fit end to end on data simulated here from a seeded
//! generator: a multinomial regression `Categorical(logits = matvec(W, x) + b)` with a
//! `global` matrix recovers its coefficients, and a `param` matrix whose rows are picked
//! by an observed class (`loc[c]`) recovers each class's mean.

use std::path::Path;

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use rand_distr::{Distribution, StandardNormal};
use vic::infer::data;
use vic::infer::fit::{FitReport, FitRequest, column_specs, fit};
use vic::infer::train::{FitOptions, Progress};
use vic::objective::KlMode;
use vic::source;

fn fit_model(model: &str, csv: &str) -> FitReport {
    let loaded = source::analyze("model.vi", model.to_string()).unwrap();
    let train = data::parse(
        Path::new("data.csv"),
        csv.as_bytes(),
        &column_specs(&loaded),
    )
    .unwrap();
    let request = FitRequest {
        loaded: &loaded,
        train: &train,
        test: None,
        options: FitOptions::default(),
        guide: loaded.info.guide.clone(),
        kl: KlMode::Sampled,
    };
    let report = fit(&request, &mut |_: &Progress| {}).unwrap();
    let f = &report.file.figures;
    eprintln!(
        "{} steps, {:.2} s, ELBO {:.4}/row",
        f.steps, f.seconds, f.train_elbo
    );
    assert!(report.non_finite.is_none());
    report
}

fn normal(rng: &mut StdRng) -> f64 {
    StandardNormal.sample(rng)
}

/// A class drawn from softmax(logits).
fn draw_class(logits: &[f64], rng: &mut StdRng) -> usize {
    let max = logits.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let weights: Vec<f64> = logits.iter().map(|l| (l - max).exp()).collect();
    let mut u = rng.random::<f64>() * weights.iter().sum::<f64>();
    for (k, w) in weights.iter().enumerate() {
        if u < *w {
            return k;
        }
        u -= w;
    }
    logits.len() - 1
}

/// Softmax logits are identified only up to a shift shared by the classes, so the
/// test compares each row's difference from the last row with the truth's. With 600
/// rows each contrast's posterior sd is about 0.2, and a tolerance of 0.6 is three sds.
#[test]
fn multinomial_regression_recovers_its_coefficient_contrasts() {
    let truth = [[2.0, -1.0], [-1.0, 2.0], [0.0, 0.0]];
    let bias = [0.5, 0.0, -0.5];
    let mut rng = StdRng::seed_from_u64(9);
    let mut csv = String::from("x0,x1,y\n");
    for _ in 0..600 {
        let x = [normal(&mut rng), normal(&mut rng)];
        let logits: Vec<f64> = (0..3)
            .map(|k| truth[k][0] * x[0] + truth[k][1] * x[1] + bias[k])
            .collect();
        let y = draw_class(&logits, &mut rng);
        csv.push_str(&format!("{},{},{y}\n", x[0], x[1]));
    }
    let report = fit_model(
        "data x: real[2]\ndata y: int\nglobal W: real[3, 2] ~ Normal(0, 3)\n\
         param b: real[3] = 0\ny ~ Categorical(logits = matvec(W, x) + b)\n",
        &csv,
    );
    let w = report
        .file
        .figures
        .globals
        .iter()
        .find(|g| g.name == "W")
        .unwrap();
    assert_eq!(w.mean.len(), 6);
    for (k, row) in truth.iter().take(2).enumerate() {
        for (j, &t) in row.iter().enumerate() {
            let fitted = w.mean[2 * k + j] - w.mean[4 + j];
            let want = t - truth[2][j];
            eprintln!("W[{k}, {j}] - W[2, {j}]: {fitted:.3}, truth {want}");
            assert!((fitted - want).abs() < 0.6, "{fitted} vs {want}");
        }
    }
}

/// Each row of `loc` is the mean of the rows of its class: the maximum-likelihood
/// point estimate is the class's sample mean, whose sd is 1/sqrt(200) ≈ 0.07.
#[test]
fn rows_picked_by_an_observed_class_recover_the_class_means() {
    let means = [[-2.0, 0.0], [2.0, 0.5], [0.0, 3.0]];
    let mut rng = StdRng::seed_from_u64(4);
    let mut csv = String::from("c,y0,y1\n");
    let mut sums = [[0.0; 2]; 3];
    let mut counts = [0.0; 3];
    for i in 0..600 {
        let c = i % 3;
        let y = [
            means[c][0] + normal(&mut rng),
            means[c][1] + normal(&mut rng),
        ];
        sums[c][0] += y[0];
        sums[c][1] += y[1];
        counts[c] += 1.0;
        csv.push_str(&format!("{c},{},{}\n", y[0], y[1]));
    }
    let report = fit_model(
        "data c: int\ndata y: real[2]\nparam loc: real[3, 2] = [[-1, 0], [1, 0], [0, 1]]\n\
         c ~ Categorical(logits = [0, 0, 0])\ny ~ Normal(loc[c], 1)\n",
        &csv,
    );
    let loc = report.file.params.iter().find(|p| p.name == "loc").unwrap();
    for (c, (sum, count)) in sums.iter().zip(counts).enumerate() {
        for (j, &s) in sum.iter().enumerate() {
            let (fitted, mle) = (f64::from(loc.values[2 * c + j]), s / count);
            eprintln!("loc[{c}, {j}]: {fitted:.4}, sample mean {mle:.4}");
            assert!((fitted - mle).abs() < 0.02, "{fitted} vs {mle}");
        }
    }
}
