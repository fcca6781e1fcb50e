//! `Exponential(rate)` over `positive`.

use rand::rngs::StdRng;

use super::{Base, Definition, Domain, Elem, Elementwise, Param, Spec};
use crate::autodiff::Real;

pub struct Exponential;

impl Definition for Exponential {
    const SPEC: Spec = Spec {
        name: "Exponential",
        params: &[Param::new("rate", Domain::Positive)],
        support: Elem::Positive,
        prior: true,
        likelihood: true,
        data_range: None,
    };
}

impl Elementwise for Exponential {
    #[inline(always)]
    fn log_density<T: Real>([x, rate, _, _]: [T; 4]) -> T {
        rate.ln() - rate * x
    }

    #[inline(always)]
    fn log_density_grad<T: Real>([x, rate, _, _]: [T; 4]) -> [T; 4] {
        [-rate, T::ONE / rate - x, T::ZERO, T::ZERO]
    }

    fn draw([rate, _, _]: [f64; 3], base: Base, _: &mut StdRng) -> f64 {
        -(1.0 - base.uniform).ln() / rate
    }
}
