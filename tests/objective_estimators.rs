//! The training objectives' estimators against each other on the same noise: the
//! importance-weighted bound's value is the log-mean-exp of the ELBO's per-row weights,
//! DReG keeps the bound's value and the model's gradient exactly and changes only the
//! guide's, and DReG's and sticking-the-landing's guide gradients agree with the naive
//! ones in expectation. Sticking the landing has zero gradient variance at the exact
//! posterior, where the naive estimator's is not.

use std::path::Path;

use rand::SeedableRng;
use rand::rngs::StdRng;
use vic::check::ObjectiveSpec;
use vic::infer::data::{self, Dataset};
use vic::infer::fit::column_specs;
use vic::infer::session::Session;
use vic::objective::{self, ElboGraph, ElboOptions, Gradient, Objective};
use vic::source::{self, Loaded};

fn example(name: &str) -> Loaded {
    source::load(
        &Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("examples")
            .join(name),
    )
    .unwrap()
}

fn digits(loaded: &Loaded) -> Dataset {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/data/digits_test.csv");
    data::load(&path, &column_specs(loaded)).unwrap()
}

fn graph(loaded: &Loaded, objective: Objective, gradient: Gradient) -> ElboGraph {
    let options = ElboOptions {
        objective,
        gradient: Some(gradient),
        ..objective::options_for(&loaded.info, 8)
    };
    objective::build(&loaded.model, &loaded.info, &options).unwrap()
}

/// A session on `rows` rows of `data`, each `samples` times, parameters from `seed`.
fn session(elbo: &ElboGraph, data: &Dataset, rows: &[usize], samples: usize) -> Session {
    let mut s = Session::new(elbo, rows.len() * samples);
    s.exec_mut().init_params(&mut StdRng::seed_from_u64(3));
    s.load_batch(data, rows, samples, data.rows);
    s
}

/// The objective and the parameter gradient on one draw of noise.
fn step(s: &mut Session, noise_seed: u64) -> (f32, Vec<f32>) {
    s.draw_noise(&mut StdRng::seed_from_u64(noise_seed), None);
    let value = s.forward();
    let node = s.objective;
    s.exec_mut().backward(node);
    (value, s.exec().param_grads().to_vec())
}

/// The parameter ranges of the guide (`guide.`) and of the model, in the flat vector.
fn split(s: &Session) -> (Vec<std::ops::Range<usize>>, Vec<std::ops::Range<usize>>) {
    let g = s.graph();
    let ranges = (0..g.params().len()).map(|i| {
        let id = vic::ir::ParamId(i as u32);
        (
            g.param_info(id).name.starts_with("guide."),
            s.exec().param_range(id),
        )
    });
    let (guide, model): (Vec<_>, Vec<_>) = ranges.partition(|(is_guide, _)| *is_guide);
    (
        guide.into_iter().map(|(_, r)| r).collect(),
        model.into_iter().map(|(_, r)| r).collect(),
    )
}

fn pick(v: &[f32], ranges: &[std::ops::Range<usize>]) -> Vec<f64> {
    ranges
        .iter()
        .flat_map(|r| v[r.clone()].iter().map(|&x| f64::from(x)))
        .collect()
}

#[test]
fn the_iwae_objective_is_the_log_mean_exp_of_the_elbo_weights() {
    let loaded = example("vae.vi");
    let data = digits(&loaded);
    let rows: Vec<usize> = (0..6).collect();
    let k = 4;
    let mut iwae = session(
        &graph(&loaded, Objective::Iwae { k }, Gradient::Naive),
        &data,
        &rows,
        k,
    );
    let mut elbo = session(
        &graph(&loaded, Objective::Elbo, Gradient::Naive),
        &data,
        &rows,
        k,
    );
    iwae.draw_noise(&mut StdRng::seed_from_u64(9), None);
    elbo.draw_noise(&mut StdRng::seed_from_u64(9), None);
    let value = f64::from(iwae.forward());
    elbo.forward();
    let local = elbo.exec().value(elbo.local);
    let mut want = 0.0;
    for i in 0..rows.len() {
        let w: Vec<f64> = (0..k)
            .map(|s| f64::from(local[s * rows.len() + i]))
            .collect();
        let m = w.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        want += m + (w.iter().map(|v| (v - m).exp()).sum::<f64>() / k as f64).ln();
    }
    // The objective estimates the bound of all rows: N/B times the batch's sum.
    want *= data.rows as f64 / rows.len() as f64;
    assert!(
        (value - want).abs() < 1e-3 * want.abs(),
        "{value} vs {want}"
    );
}

/// Naive and DReG sessions of the K-sample bound on the same rows.
fn naive_and_dreg(loaded: &Loaded, data: &Dataset, rows: &[usize], k: usize) -> [Session; 2] {
    [Gradient::Naive, Gradient::Dreg]
        .map(|g| session(&graph(loaded, Objective::Iwae { k }, g), data, rows, k))
}

/// On one draw of noise, DReG has the naive estimator's value and model gradient and a
/// different guide gradient; returns the guide's parameter ranges.
fn assert_dreg_keeps_value_and_model_gradient(
    naive: &mut Session,
    dreg: &mut Session,
    noise_seed: u64,
) -> Vec<std::ops::Range<usize>> {
    let (guide, model) = split(naive);
    let (v_naive, g_naive) = step(naive, noise_seed);
    let (v_dreg, g_dreg) = step(dreg, noise_seed);
    assert!(
        (v_naive - v_dreg).abs() <= 1e-5 * v_naive.abs(),
        "{v_naive} vs {v_dreg}"
    );
    let (m_naive, m_dreg) = (pick(&g_naive, &model), pick(&g_dreg, &model));
    let scale = m_naive.iter().map(|x| x.abs()).fold(1.0, f64::max);
    for (a, b) in m_naive.iter().zip(&m_dreg) {
        assert!((a - b).abs() <= 1e-4 * scale, "model gradient {a} vs {b}");
    }
    let (q_naive, q_dreg) = (pick(&g_naive, &guide), pick(&g_dreg, &guide));
    let diff = q_naive
        .iter()
        .zip(&q_dreg)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f64::max);
    assert!(diff > 1e-3, "the guide's gradient did not change: {diff}");
    guide
}

#[test]
fn dreg_keeps_the_value_and_the_model_gradient_and_changes_the_guides() {
    let loaded = example("vae.vi");
    let data = digits(&loaded);
    let rows: Vec<usize> = (0..8).collect();
    let [mut naive, mut dreg] = naive_and_dreg(&loaded, &data, &rows, 5);
    assert_dreg_keeps_value_and_model_gradient(&mut naive, &mut dreg, 1);
}

/// Mean and standard error of each coordinate over draws.
fn mean_and_error(draws: &[Vec<f64>]) -> Vec<(f64, f64)> {
    let n = draws.len() as f64;
    (0..draws[0].len())
        .map(|j| {
            let mean = draws.iter().map(|d| d[j]).sum::<f64>() / n;
            let var = draws.iter().map(|d| (d[j] - mean).powi(2)).sum::<f64>() / (n - 1.0);
            (mean, (var / n).sqrt())
        })
        .collect()
}

/// The guide's gradient averaged over noise agrees between `a` and `b` (both unbiased
/// for the same gradient): on the encoder's output bias, coordinates within 4.5
/// combined standard errors; with `less_variance`, `b` has the smaller variance summed
/// over them.
fn agree_in_expectation(
    loaded: &Loaded,
    a: (Objective, Gradient),
    b: (Objective, Gradient),
    less_variance: bool,
) {
    let data = digits(loaded);
    let rows: Vec<usize> = (0..4).collect();
    let k = a.0.samples_per_row();
    let mut sa = session(&graph(loaded, a.0, a.1), &data, &rows, k);
    let mut sb = session(&graph(loaded, b.0, b.1), &data, &rows, k);
    let id = sa.graph().param_by_name("guide.encoder.1.b").unwrap();
    let range = sa.exec().param_range(id);
    let draws = 3000;
    let mut ga = Vec::new();
    let mut gb = Vec::new();
    for seed in 0..draws {
        ga.push(pick(&step(&mut sa, seed).1, std::slice::from_ref(&range)));
        gb.push(pick(&step(&mut sb, seed).1, std::slice::from_ref(&range)));
    }
    let (ma, mb) = (mean_and_error(&ga), mean_and_error(&gb));
    for (j, ((x, ex), (y, ey))) in ma.iter().zip(&mb).enumerate() {
        let se = (ex * ex + ey * ey).sqrt();
        assert!(
            (x - y).abs() < 4.5 * se,
            "coordinate {j}: {x} ± {ex} vs {y} ± {ey}"
        );
    }
    let var = |m: &[(f64, f64)]| m.iter().map(|(_, e)| e * e).sum::<f64>();
    if less_variance {
        assert!(var(&mb) < var(&ma), "variance {} vs {}", var(&mb), var(&ma));
    }
}

#[test]
fn dreg_agrees_with_the_naive_iwae_gradient_in_expectation_with_less_variance() {
    let iwae = Objective::from_spec(ObjectiveSpec::iwae(8).unwrap());
    agree_in_expectation(
        &example("vae.vi"),
        (iwae, Gradient::Naive),
        (iwae, Gradient::Dreg),
        true,
    );
}

#[test]
fn stl_agrees_with_the_naive_elbo_gradient_in_expectation() {
    agree_in_expectation(
        &example("vae.vi"),
        (Objective::Elbo, Gradient::Naive),
        (Objective::Elbo, Gradient::Stl),
        false,
    );
}

/// With one row x of `x ~ Normal(mu, 1)`, `mu ~ Normal(0, 1)`, the posterior is
/// N(x/2, 1/2); a guide set to it makes log p(x, mu) − log q(mu) = log p(x) for every
/// draw, so sticking the landing's gradient is zero on every draw while the naive
/// estimator's score term is not.
#[test]
fn stl_has_zero_gradient_at_the_exact_posterior() {
    let text = "data x: real\nglobal mu: real ~ Normal(0, 1)\nx ~ Normal(mu, 1)\n";
    let loaded = source::analyze("conjugate.vi", text.to_string()).unwrap();
    let data = data::parse(Path::new("one.csv"), b"x\n1.3\n", &column_specs(&loaded)).unwrap();
    let max_grad = |gradient: Gradient| {
        let mut s = session(&graph(&loaded, Objective::Elbo, gradient), &data, &[0], 1);
        for (name, value) in [
            ("guide.globals.loc", 0.65f64),
            // softplus⁻¹(√½)
            ("guide.globals.scale", (0.5f64.sqrt().exp() - 1.0).ln()),
        ] {
            let id = s.graph().param_by_name(name).unwrap();
            let range = s.exec().param_range(id);
            s.exec_mut().params_mut()[range].fill(value as f32);
        }
        (0..50)
            .flat_map(|seed| step(&mut s, seed).1)
            .fold(0.0f32, |m, g| m.max(g.abs()))
    };
    let stl = max_grad(Gradient::Stl);
    let naive = max_grad(Gradient::Naive);
    assert!(stl < 1e-5, "sticking the landing: {stl}");
    assert!(naive > 0.1, "naive: {naive}");
}

/// A regression with a global and a model parameter: its importance-weighted bound is
/// the joint one of SPEC section 5 (each sample draws the globals once for all rows).
const GLOBAL_REGRESSION: &str = "\
data x: real
data y: real
param log_s: real = 0.2
global w: real[2] ~ Normal(0, 1)
y ~ Normal(w[0] + w[1] * x, exp(log_s))
";

fn global_regression() -> (Loaded, Dataset) {
    let loaded = source::analyze("regression.vi", GLOBAL_REGRESSION.to_string()).unwrap();
    let mut csv = String::from("x,y\n");
    for i in 0..10 {
        let x = f64::from(i) / 3.0 - 1.5;
        csv.push_str(&format!(
            "{x},{}\n",
            0.4 + 0.8 * x + 0.3 * (f64::from(i) * 1.7).sin()
        ));
    }
    let data = data::parse(
        Path::new("rows.csv"),
        csv.as_bytes(),
        &column_specs(&loaded),
    )
    .unwrap();
    (loaded, data)
}

/// On a batch of B of N rows, the joint bound is log (1/K) Σ_s exp((N/B)·Σ_i local_si +
/// global_s): the ELBO graph's per-row terms on the same noise, whose globals' draw is
/// one per sample block.
#[test]
fn the_joint_iwae_objective_draws_the_globals_once_per_sample() {
    let (loaded, data) = global_regression();
    let rows: Vec<usize> = (0..4).collect();
    let k = 5;
    let iwae_graph = graph(&loaded, Objective::Iwae { k }, Gradient::Naive);
    assert!(iwae_graph.joint_blocks);
    // Its log-mean-exp needs every row of a block: a step is never split.
    assert_eq!(Session::with_threads(&iwae_graph, 4, k, 2).threads(), 1);
    let mut iwae = session(&iwae_graph, &data, &rows, k);
    let mut elbo = session(
        &graph(&loaded, Objective::Elbo, Gradient::Naive),
        &data,
        &rows,
        k,
    );
    iwae.draw_noise(&mut StdRng::seed_from_u64(4), None);
    let noises = iwae.noises().to_vec();
    for &id in &noises {
        let values = iwae.exec_mut().noise_mut(id).to_vec();
        elbo.exec_mut().noise_mut(id).copy_from_slice(&values);
    }
    let global_noise = iwae.graph().noise_by_name("guide.globals.eps").unwrap();
    let eps = iwae.exec_mut().noise_mut(global_noise).to_vec();
    let b = rows.len();
    for s in 0..k {
        let block = &eps[s * b * 2..(s + 1) * b * 2];
        assert!(block.chunks(2).all(|row| row == &block[..2]), "block {s}");
    }
    assert_ne!(eps[..2], eps[b * 2..b * 2 + 2], "samples share a draw");
    let value = f64::from(iwae.forward());
    elbo.forward();
    let local = elbo.exec().value(elbo.local);
    let global = elbo.exec().value(elbo.global);
    let scale = data.rows as f64 / b as f64;
    let w: Vec<f64> = (0..k)
        .map(|s| {
            let sum: f64 = (0..b).map(|i| f64::from(local[s * b + i])).sum();
            scale * sum + f64::from(global[s * b])
        })
        .collect();
    let m = w.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let want = m + (w.iter().map(|v| (v - m).exp()).sum::<f64>() / k as f64).ln();
    assert!(
        (value - want).abs() < 1e-4 * want.abs(),
        "{value} vs {want}"
    );
}

/// DReG on the joint bound keeps its value and the model parameter's gradient and
/// changes the globals' guide gradient; averaged over noise, that gradient agrees with
/// the naive one.
#[test]
fn dreg_on_the_joint_bound_keeps_the_value_and_the_model_gradient() {
    let (loaded, data) = global_regression();
    let rows: Vec<usize> = (0..10).collect();
    let [mut naive, mut dreg] = naive_and_dreg(&loaded, &data, &rows, 6);
    let guide = assert_dreg_keeps_value_and_model_gradient(&mut naive, &mut dreg, 2);
    let (mut ga, mut gb) = (Vec::new(), Vec::new());
    for seed in 0..3000 {
        ga.push(pick(&step(&mut naive, seed).1, &guide));
        gb.push(pick(&step(&mut dreg, seed).1, &guide));
    }
    for (j, ((x, ex), (y, ey))) in mean_and_error(&ga)
        .iter()
        .zip(&mean_and_error(&gb))
        .enumerate()
    {
        let se = (ex * ex + ey * ey).sqrt();
        assert!(
            (x - y).abs() < 4.5 * se,
            "coordinate {j}: {x} ± {ex} vs {y} ± {ey}"
        );
    }
}
