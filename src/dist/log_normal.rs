//! `LogNormal(loc, scale)` over `positive`: ln x is `Normal(loc, scale)`.

use rand::rngs::StdRng;
use rand_distr::{Distribution, LogNormal as LogNormalDist};

use super::math::{HALF_LN_2PI, c};
use super::{Base, Definition, Domain, Elem, Elementwise, Param, Spec};
use crate::autodiff::Real;

pub struct LogNormal;

impl Definition for LogNormal {
    const SPEC: Spec = Spec {
        name: "LogNormal",
        params: &[
            Param::new("loc", Domain::Real),
            Param::new("scale", Domain::Positive),
        ],
        support: Elem::Positive,
        prior: true,
        likelihood: true,
        data_range: None,
    };
}

impl Elementwise for LogNormal {
    #[inline(always)]
    fn log_density<T: Real>([x, loc, scale, _]: [T; 4]) -> T {
        let lx = x.ln();
        let z = (lx - loc) / scale;
        -lx - scale.ln() - c(HALF_LN_2PI) - T::HALF * z * z
    }

    #[inline(always)]
    fn log_density_grad<T: Real>([x, loc, scale, _]: [T; 4]) -> [T; 4] {
        let z = (x.ln() - loc) / scale;
        [
            -(T::ONE + z / scale) / x,
            z / scale,
            (z * z - T::ONE) / scale,
            T::ZERO,
        ]
    }

    fn draw([loc, scale, _]: [f64; 3], _: Base, rng: &mut StdRng) -> f64 {
        LogNormalDist::new(loc, scale).map_or(f64::NAN, |d| d.sample(rng))
    }
}
