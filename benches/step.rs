//! The lowered digits VAE (`examples/vae.vi`, built by the guide exactly as `vic fit`
//! builds it) at batch 100, in `f32`: `forward`, `forward + backward`, and one whole
//! training step (load a batch, draw noise, forward, backward, Adam); and the model's
//! log joint alone (`vic graph`'s graph: latents as inputs), forward + backward.

use std::hint::black_box;
use std::path::Path;

use criterion::{Criterion, criterion_group, criterion_main};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use rand_distr::{Distribution, StandardNormal};
use vic::autodiff::Executor;
use vic::infer::adam::Adam;
use vic::infer::session::Session;

const BATCH: usize = 100;

fn elbo() -> vic::objective::ElboGraph {
    let loaded = vic::source::load(Path::new("examples/vae.vi")).expect("examples/vae.vi loads");
    let options = vic::objective::options_for(&loaded.info, 1500);
    vic::objective::build(&loaded.model, &loaded.info, &options).expect("the vae's guide builds")
}

fn lowered_vae(c: &mut Criterion) {
    let elbo = elbo();
    let objective = elbo.objective;
    let data: Vec<_> = elbo
        .inputs
        .data
        .iter()
        .map(|&(_, leaf)| leaf.node)
        .collect();
    let mut exec = Executor::<f32>::new(elbo.graph, BATCH);
    let mut rng = StdRng::seed_from_u64(0);
    exec.init_params(&mut rng);
    let graph = exec.graph().clone();
    for (i, input) in graph.inputs().iter().enumerate() {
        let id = vic::ir::InputId(i as u32);
        let buf = exec.input_mut(id);
        if data.contains(&input.node) {
            for v in buf {
                *v = if rng.random::<bool>() { 1.0 } else { 0.0 };
            }
        } else {
            // The local and global scale factors (N / R, 1 / R) and any row index.
            buf.fill(1.0 / BATCH as f32);
        }
    }
    for i in 0..graph.noises().len() {
        for v in exec.noise_mut(vic::ir::NoiseId(i as u32)) {
            *v = StandardNormal.sample(&mut rng);
        }
    }
    c.bench_function("lowered_vae_forward_b100", |b| {
        b.iter(|| {
            exec.forward();
            black_box(exec.value(objective)[0])
        })
    });
    c.bench_function("lowered_vae_forward_backward_b100", |b| {
        b.iter(|| {
            exec.forward();
            exec.backward(objective);
            black_box(exec.param_grads()[0])
        })
    });
}

fn training_step(c: &mut Criterion) {
    let loaded = vic::source::load(Path::new("examples/vae.vi")).expect("examples/vae.vi loads");
    let specs = vic::infer::fit::column_specs(&loaded);
    let train = vic::infer::data::load(Path::new("examples/data/digits_train.csv"), &specs)
        .expect("the digits load");
    let options = vic::objective::options_for(&loaded.info, train.rows);
    let elbo = vic::objective::build(&loaded.model, &loaded.info, &options).expect("guide builds");
    let mut session = Session::new(&elbo, BATCH);
    let mut rng = StdRng::seed_from_u64(0);
    session.exec_mut().init_params(&mut rng);
    let mut adam = Adam::new(session.exec().params().len());
    let n = train.rows;
    let mut start = 0;
    let mut rows = vec![0; BATCH];
    c.bench_function("lowered_vae_train_step_b100", |b| {
        b.iter(|| {
            for (k, r) in rows.iter_mut().enumerate() {
                *r = (start + k) % n;
            }
            start = (start + BATCH) % n;
            session.load_batch(&train, &rows, 1, n);
            session.draw_noise(&mut rng, None);
            let objective = session.forward();
            let node = session.objective;
            let exec = session.exec_mut();
            exec.backward(node);
            let (params, grads) = exec.params_and_grads_mut();
            adam.ascend(params, grads, 1e-3);
            black_box(objective)
        })
    });
}

/// The log joint log p(x, z) of `examples/vae.vi` (decoder only, `z` a differentiable
/// input), forward + backward with respect to the decoder and `z`.
fn log_joint(c: &mut Criterion) {
    let loaded = vic::source::load(Path::new("examples/vae.vi")).expect("examples/vae.vi loads");
    let (graph, _, total) = vic::lower::log_joint_graph(&loaded.model, &loaded.info);
    let mut exec = Executor::<f32>::new(graph, BATCH);
    let mut rng = StdRng::seed_from_u64(0);
    exec.init_params(&mut rng);
    let graph = exec.graph().clone();
    for (i, input) in graph.inputs().iter().enumerate() {
        let buf = exec.input_mut(vic::ir::InputId(i as u32));
        for v in buf {
            *v = if input.differentiable {
                StandardNormal.sample(&mut rng)
            } else if rng.random::<bool>() {
                1.0
            } else {
                0.0
            };
        }
    }
    c.bench_function("vae_log_joint_forward_backward_b100", |b| {
        b.iter(|| {
            exec.forward();
            exec.backward(total);
            black_box(exec.param_grads()[0])
        })
    });
}

criterion_group!(benches, lowered_vae, log_joint, training_step);
criterion_main!(benches);
