//! The digits VAE's single-sample ELBO at batch 100: `forward` alone and
//! `forward + backward`, in `f32`.

#[path = "../tests/common/vae.rs"]
mod vae;

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use vic::autodiff::Executor;

fn vae_elbo(c: &mut Criterion) {
    let v = vae::vae(64, 128, 8);
    let mut exec = Executor::<f32>::new(v.graph, 100);
    let mut rng = StdRng::seed_from_u64(0);
    exec.init_params(&mut rng);
    let x = exec.graph().input_by_name("x").expect("the vae has x");
    for v in exec.input_mut(x) {
        *v = if rng.random::<bool>() { 1.0 } else { 0.0 };
    }
    let eps = exec.graph().noise_by_name("eps").expect("the vae has eps");
    for v in exec.noise_mut(eps) {
        *v = rng.random_range(-2.0..2.0);
    }
    c.bench_function("vae_forward_b100", |b| {
        b.iter(|| {
            exec.forward();
            black_box(exec.value(v.elbo)[0])
        })
    });
    c.bench_function("vae_forward_backward_b100", |b| {
        b.iter(|| {
            exec.forward();
            exec.backward(v.elbo);
            black_box(exec.param_grads()[0])
        })
    });
}

criterion_group!(benches, vae_elbo);
criterion_main!(benches);
