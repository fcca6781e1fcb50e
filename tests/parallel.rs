//! The two performance paths must not change the numbers: the AVX2 + FMA kernels give
//! bit-identical values and gradients to the SSE2 ones (`autodiff::isa`), and a
//! two-thread training step gives the one-thread objective and gradient up to rounding,
//! deterministically for a seed (`infer::session`).

use std::path::Path;

use rand::SeedableRng;
use rand::rngs::StdRng;
use vic::autodiff::isa::{self, Isa};
use vic::check::Gradient;
use vic::infer::adam::Adam;
use vic::infer::data::{self, Dataset};
use vic::infer::fit::column_specs;
use vic::infer::session::{Session, Threads};
use vic::infer::train::{self, FitOptions, Observer, Progress};
use vic::objective::{self, ElboGraph, Objective};

fn example(name: &str, csv: &str) -> (ElboGraph, Dataset) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let loaded = vic::source::load(&root.join(name)).unwrap();
    let dataset = data::load(&root.join("data").join(csv), &column_specs(&loaded)).unwrap();
    let options = objective::options_for(&loaded.info, dataset.rows);
    let elbo = objective::build(&loaded.model, &loaded.info, &options).unwrap();
    (elbo, dataset)
}

const EXAMPLES: [(&str, &str, usize); 3] = [
    ("vae.vi", "digits_train.csv", 37),
    ("eight_schools.vi", "eight_schools.csv", 7),
    ("logistic.vi", "breast_cancer.csv", 41),
];

/// One step's objective and parameter gradient on `threads` threads.
fn step(
    elbo: &ElboGraph,
    data: &Dataset,
    rows: usize,
    samples: usize,
    threads: usize,
) -> (f32, Vec<f32>) {
    let mut session = Session::with_threads(elbo, rows, samples, threads);
    assert_eq!(session.threads(), threads);
    session
        .exec_mut()
        .init_params(&mut StdRng::seed_from_u64(5));
    let batch: Vec<usize> = (0..rows).map(|i| (i * 7) % data.rows).collect();
    session.load_batch(data, &batch, samples, data.rows);
    session.draw_noise(&mut StdRng::seed_from_u64(6), None);
    let objective = session.forward_backward();
    (objective, session.exec().param_grads().to_vec())
}

/// One thread's and two threads' objective and gradient agree up to rounding.
fn assert_agree(what: &str, (one, g1): (f32, &[f32]), (two, g2): (f32, &[f32])) {
    assert!(
        (one - two).abs() <= 1e-4 * one.abs().max(1.0),
        "{what}: objective {one} on one thread, {two} on two"
    );
    let scale = g1.iter().fold(1.0f32, |m, g| m.max(g.abs()));
    for (i, (a, b)) in g1.iter().zip(g2).enumerate() {
        assert!(
            (a - b).abs() <= 1e-4 * scale,
            "{what}: gradient {i} is {a} on one thread, {b} on two"
        );
    }
}

#[test]
fn two_threads_give_the_one_thread_objective_and_gradient() {
    for (name, csv, rows) in EXAMPLES {
        let (elbo, data) = example(name, csv);
        for samples in [1, 2] {
            let (one, g1) = step(&elbo, &data, rows, samples, 1);
            let (two, g2) = step(&elbo, &data, rows, samples, 2);
            assert_agree(name, (one, &g1), (two, &g2));
            // The same thread count gives the same bits.
            assert_eq!(step(&elbo, &data, rows, samples, 2), (two, g2), "{name}");
        }
    }
}

/// The importance-weighted bound reduces each data row's K samples: a two-thread step
/// must give each thread whole sample blocks of its rows (splitting the sample-major
/// batch in the middle would pair samples of different rows), and then agrees with one
/// thread, for both estimators.
#[test]
fn two_threads_keep_each_rows_iwae_samples_together() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let loaded = vic::source::load(&root.join("vae.vi")).unwrap();
    let csv = root.join("data/digits_train.csv");
    let data = data::load(&csv, &column_specs(&loaded)).unwrap();
    for (k, gradient) in [(2, Gradient::Naive), (3, Gradient::Dreg)] {
        let mut options = objective::options_for(&loaded.info, data.rows);
        options.objective = Objective::Iwae { k };
        options.gradient = Some(gradient);
        let elbo = objective::build(&loaded.model, &loaded.info, &options).unwrap();
        let (one, g1) = step(&elbo, &data, 37, k, 1);
        let (two, g2) = step(&elbo, &data, 37, k, 2);
        assert_agree(&format!("iwae:{k}"), (one, &g1), (two, &g2));
    }
}

struct Quiet;
impl Observer for Quiet {
    fn epoch(&mut self, _: &Progress) {}
}

/// Whole fits: two threads are deterministic for a seed and land where one does.
#[test]
fn a_two_thread_fit_is_reproducible_and_agrees_with_one_thread() {
    let (elbo, data) = example("vae.vi", "digits_train.csv");
    let options = FitOptions {
        epochs: Some(3),
        seed: 9,
        ..FitOptions::default()
    };
    let fit = |threads| {
        Threads::Exactly(threads).set();
        train::train(&elbo, &data, &options, &mut Quiet)
    };
    let (a, b, one) = (fit(2), fit(2), fit(1));
    Threads::Auto.set();
    assert_eq!(a.params, b.params);
    let last = |t: &train::Training| t.trace.last().unwrap().elbo;
    assert!(
        (last(&a) - last(&one)).abs() < 0.05,
        "two threads {} against one {}",
        last(&a),
        last(&one)
    );
}

/// The automatic choice: two threads for the digits VAE's step, one for a regression.
#[test]
fn auto_threads_split_only_big_steps() {
    let (vae, _) = example("vae.vi", "digits_train.csv");
    let (logistic, _) = example("logistic.vi", "breast_cancer.csv");
    let two_cores = std::thread::available_parallelism().is_ok_and(|n| n.get() >= 2);
    assert_eq!(
        Threads::Auto.for_step(&vae.graph, 100),
        if two_cores { 2 } else { 1 }
    );
    assert_eq!(Threads::Auto.for_step(&logistic.graph, 569), 1);
    assert_eq!(Threads::Exactly(5).for_step(&logistic.graph, 569), 2);
}

/// Every dispatch path computes the same bits: forward, backward and Adam.
#[test]
fn every_instruction_set_gives_the_same_numbers() {
    let (elbo, data) = example("vae.vi", "digits_train.csv");
    let run = |isa: Isa| {
        let chosen = isa::select(isa);
        let (objective, grads) = step(&elbo, &data, 50, 1, 1);
        let mut params: Vec<f32> = (0..grads.len()).map(|i| (i as f32).sin()).collect();
        let mut adam = Adam::new(grads.len());
        for _ in 0..3 {
            adam.ascend(&mut params, &grads, 1e-2);
        }
        (chosen, objective, grads, params)
    };
    let sse2 = run(Isa::Sse2);
    let fast = run(Isa::Avx2Fma);
    assert_eq!(sse2.0, Isa::Sse2);
    assert_eq!(fast.0 == Isa::Avx2Fma, isa::avx2_fma_available());
    assert_eq!(sse2.1.to_bits(), fast.1.to_bits());
    assert_eq!(sse2.2, fast.2);
    assert_eq!(sse2.3, fast.3);
}
