//! `Gamma(concentration, rate)` over `positive`.

use rand::rngs::StdRng;
use rand_distr::{Distribution, Gamma as GammaDist};

use super::math::{lgamma, psi};
use super::{Base, Definition, Domain, Elem, Elementwise, Param, Spec};
use crate::autodiff::Real;

pub struct Gamma;

impl Definition for Gamma {
    const SPEC: Spec = Spec {
        name: "Gamma",
        params: &[
            Param::new("concentration", Domain::Positive),
            Param::new("rate", Domain::Positive),
        ],
        support: Elem::Positive,
        prior: true,
        likelihood: true,
        data_range: None,
    };
}

impl Elementwise for Gamma {
    #[inline(always)]
    fn log_density<T: Real>([x, a, b, _]: [T; 4]) -> T {
        a * b.ln() + (a - T::ONE) * x.ln() - b * x - lgamma(a)
    }

    #[inline(always)]
    fn log_density_grad<T: Real>([x, a, b, _]: [T; 4]) -> [T; 4] {
        [
            (a - T::ONE) / x - b,
            b.ln() + x.ln() - psi(a),
            a / b - x,
            T::ZERO,
        ]
    }

    fn draw([a, b, _]: [f64; 3], _: Base, rng: &mut StdRng) -> f64 {
        GammaDist::new(a, 1.0 / b).map_or(f64::NAN, |d| d.sample(rng))
    }
}
