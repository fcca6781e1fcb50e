//! The guide's log q against closed forms, draw by draw: the support transforms with
//! their log-Jacobians (`positive` through exp, `unit` through sigmoid) and the
//! full-rank Gaussian. Gradient checks cannot see a wrong density that is differentiated
//! consistently; these can. Each test reads the graph's per-row `log p(w) − log q(w)`
//! and recomputes it in f64 from the drawn values and the guide's parameters.

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use rand_distr::{Distribution, StandardNormal};
use vic::autodiff::Executor;
use vic::check::GlobalsMode;
use vic::ir::{NoiseId, Op};
use vic::objective::{self, ElboGraph};
use vic::source;

const ROWS: usize = 64;
const LN_2PI: f64 = 1.837_877_066_409_345_5;

fn softplus(x: f64) -> f64 {
    x.max(0.0) + (-x.abs()).exp().ln_1p()
}

fn log_normal_pdf(x: f64, m: f64, s: f64) -> f64 {
    let e = (x - m) / s;
    -0.5 * (e * e + LN_2PI) - s.ln()
}

/// Builds the ELBO graph of `text`, sets the named parameters, fills data and noise,
/// and runs it forward in f64.
fn run(
    text: &str,
    globals: GlobalsMode,
    params: &[(&str, Vec<f64>)],
) -> (ElboGraph, Executor<f64>) {
    let loaded = source::analyze("inline.vi", text.to_string()).unwrap();
    let mut options = objective::options_for(&loaded.info, ROWS);
    options.spec.globals = globals;
    let elbo = objective::build(&loaded.model, &loaded.info, &options).unwrap();
    let graph = elbo.graph.clone();
    let mut exec = Executor::<f64>::new(graph.clone(), ROWS);
    let mut rng = StdRng::seed_from_u64(17);
    exec.init_params(&mut rng);
    for (name, values) in params {
        let id = graph.param_by_name(name).unwrap();
        let range = exec.param_range(id);
        assert_eq!(range.len(), values.len(), "{name}");
        exec.params_mut()[range].copy_from_slice(values);
    }
    for info in graph.inputs().to_vec() {
        let Op::Input(id) = graph.node(info.node).op else {
            unreachable!()
        };
        for x in exec.input_mut(id) {
            *x = rng.random_range(0.5..1.5);
        }
    }
    for n in 0..graph.noises().len() {
        for x in exec.noise_mut(NoiseId(n as u32)) {
            *x = StandardNormal.sample(&mut rng);
        }
    }
    exec.forward();
    (elbo, exec)
}

/// The drawn values of the global at `index` in declaration order, one per row.
fn global_values(elbo: &ElboGraph, exec: &Executor<f64>, index: usize) -> Vec<f64> {
    exec.value(elbo.globals[index].1).to_vec()
}

/// A positive global with a Gamma prior and a unit global with a Beta prior, mean-field:
/// log q(s) = log N(log s; m, σ) − log s and log q(p) = log N(logit p; m, σ) − log p −
/// log(1 − p).
#[test]
fn constrained_globals_have_the_transformed_density() {
    let model = "
data   y: real
global s: positive ~ Gamma(2, 1.5)
global p: unit ~ Beta(2, 3)
y ~ Normal(p, s)
";
    let (loc, raw) = (vec![0.2, -0.4], vec![-0.3, 0.1]);
    let (elbo, exec) = run(
        model,
        GlobalsMode::MeanField,
        &[
            ("guide.globals.loc", loc.clone()),
            ("guide.globals.scale", raw.clone()),
        ],
    );
    let sd: Vec<f64> = raw.iter().map(|&r| softplus(r)).collect();
    let s = global_values(&elbo, &exec, 0);
    let p = global_values(&elbo, &exec, 1);
    let claimed = exec.value(elbo.global);
    for r in 0..ROWS {
        // Gamma(2, 1.5): 1.5² s e^{−1.5 s} / Γ(2); Beta(2, 3): 12 p (1 − p)².
        let log_prior = 2.25f64.ln() + s[r].ln() - 1.5 * s[r]
            + 12f64.ln()
            + p[r].ln()
            + 2.0 * (1.0 - p[r]).ln();
        let log_q_s = log_normal_pdf(s[r].ln(), loc[0], sd[0]) - s[r].ln();
        let logit = (p[r] / (1.0 - p[r])).ln();
        let log_q_p = log_normal_pdf(logit, loc[1], sd[1]) - p[r].ln() - (1.0 - p[r]).ln();
        let expected = log_prior - log_q_s - log_q_p;
        assert!(
            (claimed[r] - expected).abs() < 1e-9,
            "row {r}: graph {} but closed form {expected}",
            claimed[r]
        );
    }
}

/// Full-rank globals: log q(w) = log N(w; loc, L Lᵀ) with L's diagonal
/// softplus(raw − 2.25) and its strict lower triangle raw.
#[test]
fn full_rank_globals_have_the_gaussian_density() {
    let model = "
data   y: real
global w: real[3] ~ Normal(0, 1)
y ~ Normal(sum(w), 1)
";
    const D: usize = 3;
    let loc = vec![0.3, -0.2, 0.5];
    let raw = vec![0.4, 9.0, 9.0, -0.7, 1.1, 9.0, 0.25, 0.6, 1.6];
    let (elbo, exec) = run(
        model,
        GlobalsMode::Full,
        &[
            ("guide.globals.loc", loc.clone()),
            ("guide.globals.chol", raw.clone()),
        ],
    );
    // The upper triangle (9.0 above) must be ignored.
    let mut l = [[0.0; D]; D];
    for i in 0..D {
        for j in 0..i {
            l[i][j] = raw[i * D + j];
        }
        l[i][i] = softplus(raw[i * D + i] - 2.25);
    }
    let w = global_values(&elbo, &exec, 0);
    let claimed = exec.value(elbo.global);
    for r in 0..ROWS {
        let x: Vec<f64> = (0..D).map(|i| w[r * D + i] - loc[i]).collect();
        // Solve L e = x by forward substitution: log N(w) = Σ log N(e_i; 0, 1) − Σ log L_ii.
        let mut e = [0.0; D];
        for i in 0..D {
            let partial: f64 = (0..i).map(|j| l[i][j] * e[j]).sum();
            e[i] = (x[i] - partial) / l[i][i];
        }
        let log_q: f64 = (0..D)
            .map(|i| log_normal_pdf(e[i], 0.0, 1.0) - l[i][i].ln())
            .sum();
        let log_prior: f64 = (0..D).map(|i| log_normal_pdf(w[r * D + i], 0.0, 1.0)).sum();
        let expected = log_prior - log_q;
        assert!(
            (claimed[r] - expected).abs() < 1e-9,
            "row {r}: graph {} but closed form {expected}",
            claimed[r]
        );
    }
}
