//! `Laplace(loc, scale)` over `real`.

use rand::rngs::StdRng;

use super::math::{LN_2, c, sign};
use super::{Base, Definition, Domain, Elem, Elementwise, Param, Spec};
use crate::autodiff::Real;

pub struct Laplace;

impl Definition for Laplace {
    const SPEC: Spec = Spec {
        name: "Laplace",
        params: &[
            Param::new("loc", Domain::Real),
            Param::new("scale", Domain::Positive),
        ],
        support: Elem::Real,
        prior: true,
        likelihood: true,
        data_range: None,
    };
}

impl Elementwise for Laplace {
    #[inline(always)]
    fn log_density<T: Real>([x, loc, scale, _]: [T; 4]) -> T {
        -(c::<T>(LN_2) + scale.ln()) - (x - loc).abs() / scale
    }

    #[inline(always)]
    fn log_density_grad<T: Real>([x, loc, scale, _]: [T; 4]) -> [T; 4] {
        let d = x - loc;
        let sg = sign(d) / scale;
        [
            -sg,
            sg,
            -T::ONE / scale + d.abs() / (scale * scale),
            T::ZERO,
        ]
    }

    fn draw([loc, scale, _]: [f64; 3], base: Base, _: &mut StdRng) -> f64 {
        let u = base.uniform - 0.5;
        loc - scale * u.signum() * (1.0 - 2.0 * u.abs()).ln()
    }
}
