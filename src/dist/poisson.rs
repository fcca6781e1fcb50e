//! `Poisson(rate)` and `Poisson(log_rate = ..)` over `int`.

use rand::rngs::StdRng;
use rand_distr::{Distribution, Poisson};

use super::math::lgamma;
use super::{Base, Definition, Domain, Elem, Elementwise, Param, Spec};
use crate::autodiff::Real;

pub struct PoissonRate;

impl Definition for PoissonRate {
    const SPEC: Spec = Spec {
        name: "Poisson",
        params: &[Param::new("rate", Domain::Positive)],
        support: Elem::Int,
        prior: false,
        likelihood: true,
        data_range: None,
    };
}

impl Elementwise for PoissonRate {
    #[inline(always)]
    fn log_density<T: Real>([x, rate, _, _]: [T; 4]) -> T {
        x * rate.ln() - rate - lgamma(x + T::ONE)
    }

    #[inline(always)]
    fn log_density_grad<T: Real>([x, rate, _, _]: [T; 4]) -> [T; 4] {
        [T::ZERO, x / rate - T::ONE, T::ZERO, T::ZERO]
    }

    fn draw([rate, _, _]: [f64; 3], _: Base, rng: &mut StdRng) -> f64 {
        draw_poisson(rate, rng)
    }
}

pub struct PoissonLogRate;

impl Definition for PoissonLogRate {
    const SPEC: Spec = Spec {
        name: "Poisson",
        params: &[Param::new("log_rate", Domain::Real)],
        support: Elem::Int,
        prior: false,
        likelihood: true,
        data_range: None,
    };
}

impl Elementwise for PoissonLogRate {
    #[inline(always)]
    fn log_density<T: Real>([x, l, _, _]: [T; 4]) -> T {
        x * l - l.exp() - lgamma(x + T::ONE)
    }

    #[inline(always)]
    fn log_density_grad<T: Real>([x, l, _, _]: [T; 4]) -> [T; 4] {
        [T::ZERO, x - l.exp(), T::ZERO, T::ZERO]
    }

    fn draw([l, _, _]: [f64; 3], _: Base, rng: &mut StdRng) -> f64 {
        draw_poisson(l.exp(), rng)
    }
}

/// One Poisson draw, NaN for a rate that is not a positive finite number.
pub(super) fn draw_poisson(rate: f64, rng: &mut StdRng) -> f64 {
    Poisson::new(rate).map_or(f64::NAN, |d| d.sample(rng))
}
