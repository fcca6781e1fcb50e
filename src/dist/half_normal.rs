//! `HalfNormal(scale)` over `positive`.

use rand::rngs::StdRng;

use super::math::c;
use super::{Base, Definition, Domain, Elem, Elementwise, Param, Spec};
use crate::autodiff::Real;

pub struct HalfNormal;

impl Definition for HalfNormal {
    const SPEC: Spec = Spec {
        name: "HalfNormal",
        params: &[Param::new("scale", Domain::Positive)],
        support: Elem::Positive,
        prior: true,
        likelihood: true,
        data_range: None,
    };
}

impl Elementwise for HalfNormal {
    #[inline(always)]
    fn log_density<T: Real>([x, s, _, _]: [T; 4]) -> T {
        c::<T>(0.5 * (2.0 / std::f64::consts::PI).ln()) - s.ln() - x * x / (c::<T>(2.0) * s * s)
    }

    #[inline(always)]
    fn log_density_grad<T: Real>([x, s, _, _]: [T; 4]) -> [T; 4] {
        let s2 = s * s;
        [-x / s2, -T::ONE / s + x * x / (s2 * s), T::ZERO, T::ZERO]
    }

    fn draw([s, _, _]: [f64; 3], base: Base, _: &mut StdRng) -> f64 {
        (s * base.normal).abs()
    }
}
