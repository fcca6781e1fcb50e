//! `Beta(a, b)` over `unit`.

use rand::rngs::StdRng;
use rand_distr::{Beta as BetaDist, Distribution};

use super::math::{lgamma, psi};
use super::{Base, Definition, Domain, Elem, Elementwise, Param, Spec};
use crate::autodiff::Real;

pub struct Beta;

impl Definition for Beta {
    const SPEC: Spec = Spec {
        name: "Beta",
        params: &[
            Param::new("a", Domain::Positive),
            Param::new("b", Domain::Positive),
        ],
        support: Elem::Unit,
        prior: true,
        likelihood: true,
        data_range: None,
    };
}

impl Elementwise for Beta {
    #[inline(always)]
    fn log_density<T: Real>([x, a, b, _]: [T; 4]) -> T {
        let ln_beta = lgamma(a) + lgamma(b) - lgamma(a + b);
        (a - T::ONE) * x.ln() + (b - T::ONE) * (-x).ln_1p() - ln_beta
    }

    #[inline(always)]
    fn log_density_grad<T: Real>([x, a, b, _]: [T; 4]) -> [T; 4] {
        let ab = psi(a + b);
        [
            (a - T::ONE) / x - (b - T::ONE) / (T::ONE - x),
            x.ln() - psi(a) + ab,
            (-x).ln_1p() - psi(b) + ab,
            T::ZERO,
        ]
    }

    fn draw([a, b, _]: [f64; 3], _: Base, rng: &mut StdRng) -> f64 {
        BetaDist::new(a, b).map_or(f64::NAN, |d| d.sample(rng))
    }
}
