//! `HalfCauchy(scale)` over `positive`.

use rand::rngs::StdRng;
use rand_distr::{Cauchy, Distribution};

use super::math::c;
use super::{Base, Definition, Domain, Elem, Elementwise, Param, Spec};
use crate::autodiff::Real;

pub struct HalfCauchy;

impl Definition for HalfCauchy {
    const SPEC: Spec = Spec {
        name: "HalfCauchy",
        params: &[Param::new("scale", Domain::Positive)],
        support: Elem::Positive,
        prior: true,
        likelihood: true,
        data_range: None,
    };
}

impl Elementwise for HalfCauchy {
    #[inline(always)]
    fn log_density<T: Real>([x, s, _, _]: [T; 4]) -> T {
        c::<T>((2.0 / std::f64::consts::PI).ln()) + s.ln() - (s * s + x * x).ln()
    }

    #[inline(always)]
    fn log_density_grad<T: Real>([x, s, _, _]: [T; 4]) -> [T; 4] {
        let d = s * s + x * x;
        let two = c::<T>(2.0);
        [-two * x / d, T::ONE / s - two * s / d, T::ZERO, T::ZERO]
    }

    fn draw([s, _, _]: [f64; 3], _: Base, rng: &mut StdRng) -> f64 {
        Cauchy::new(0.0, s).map_or(f64::NAN, |d| d.sample(rng).abs())
    }
}
