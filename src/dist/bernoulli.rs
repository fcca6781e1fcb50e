//! `Bernoulli(probs)` and `Bernoulli(logits = ..)` over `bool`. With logits the density
//! uses softplus, never `log(sigmoid)`; with probabilities it never forms `0 · ln 0`.

use rand::rngs::StdRng;

use super::math::is_one;
use super::{Base, Definition, Domain, Elem, Elementwise, Param, Spec};
use crate::autodiff::Real;

pub struct BernoulliProbs;

impl Definition for BernoulliProbs {
    const SPEC: Spec = Spec {
        name: "Bernoulli",
        params: &[Param::new("probs", Domain::Probability)],
        support: Elem::Bool,
        prior: false,
        likelihood: true,
        data_range: None,
    };
}

impl Elementwise for BernoulliProbs {
    #[inline(always)]
    fn log_density<T: Real>([x, p, _, _]: [T; 4]) -> T {
        if is_one(x) { p.ln() } else { (-p).ln_1p() }
    }

    #[inline(always)]
    fn log_density_grad<T: Real>([x, p, _, _]: [T; 4]) -> [T; 4] {
        let dp = if is_one(x) {
            T::ONE / p
        } else {
            -T::ONE / (T::ONE - p)
        };
        [T::ZERO, dp, T::ZERO, T::ZERO]
    }

    fn draw([p, _, _]: [f64; 3], base: Base, _: &mut StdRng) -> f64 {
        f64::from(u8::from(base.uniform < p))
    }
}

pub struct BernoulliLogits;

impl Definition for BernoulliLogits {
    const SPEC: Spec = Spec {
        name: "Bernoulli",
        params: &[Param::new("logits", Domain::Real)],
        support: Elem::Bool,
        prior: false,
        likelihood: true,
        data_range: None,
    };
}

impl Elementwise for BernoulliLogits {
    #[inline(always)]
    fn log_density<T: Real>([x, l, _, _]: [T; 4]) -> T {
        x * l - l.softplus()
    }

    #[inline(always)]
    fn log_density_grad<T: Real>([x, l, _, _]: [T; 4]) -> [T; 4] {
        [T::ZERO, x - l.sigmoid(), T::ZERO, T::ZERO]
    }

    fn draw([l, _, _]: [f64; 3], base: Base, _: &mut StdRng) -> f64 {
        f64::from(u8::from(base.uniform < 1.0 / (1.0 + (-l).exp())))
    }
}
