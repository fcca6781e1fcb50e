//! `Categorical(logits)` over `int`: one class index in 0..K-1 from a row of K logits.
//! The one family that is not elementwise, so its kernels take the whole row; the
//! executor calls them directly.

use rand::RngExt;
use rand::rngs::StdRng;

use super::{DataRange, Definition, Domain, Elem, Param, Spec};
use crate::autodiff::Real;

pub struct Categorical;

impl Definition for Categorical {
    const SPEC: Spec = Spec {
        name: "Categorical",
        params: &[Param::new("logits", Domain::Real)],
        support: Elem::Int,
        prior: false,
        likelihood: true,
        data_range: Some(DataRange::ClassBelowWidthOf { param: 0 }),
    };
}

/// `ln softmax(logits)[class] = logits[class] − logsumexp(logits)`, stable.
pub fn log_prob<T: Real>(logits: &[T], class: usize) -> T {
    logits[class] - log_sum_exp(logits)
}

/// `grad[k] += scale · (1[k = class] − softmax(logits)[k])`.
pub fn log_prob_grad<T: Real>(logits: &[T], class: usize, scale: T, grad: &mut [T]) {
    let lse = log_sum_exp(logits);
    for (g, &l) in grad.iter_mut().zip(logits) {
        *g -= scale * (l - lse).exp();
    }
    grad[class] += scale;
}

/// log Σ exp(x_k), shifted by the maximum so that no term overflows (also the
/// executor's `logsumexp` and `softmax` kernels).
pub fn log_sum_exp<T: Real>(xs: &[T]) -> T {
    let m = xs.iter().copied().fold(xs[0], T::max);
    m + xs.iter().map(|&x| (x - m).exp()).sum::<T>().ln()
}

/// A class index drawn from softmax(logits), by the Gumbel-max trick.
pub fn draw(logits: &[f32], rng: &mut StdRng) -> f32 {
    let mut best = (f64::NEG_INFINITY, 0usize);
    for (k, &l) in logits.iter().enumerate() {
        let u: f64 = rng.random();
        let g = f64::from(l) - (-(u.max(1e-300)).ln()).ln();
        if g > best.0 {
            best = (g, k);
        }
    }
    best.1 as f32
}
