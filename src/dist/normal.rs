//! `Normal(loc, scale)` over `real`.

use rand::rngs::StdRng;

use super::math::{HALF_LN_2PI, c};
use super::{Base, Definition, Domain, Elem, Elementwise, Param, Spec};
use crate::autodiff::Real;

pub struct Normal;

impl Definition for Normal {
    const SPEC: Spec = Spec {
        name: "Normal",
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

impl Elementwise for Normal {
    #[inline(always)]
    fn log_density<T: Real>([x, loc, scale, _]: [T; 4]) -> T {
        let z = (x - loc) / scale;
        -T::HALF * z * z - scale.ln() - c(HALF_LN_2PI)
    }

    #[inline(always)]
    fn log_density_grad<T: Real>([x, loc, scale, _]: [T; 4]) -> [T; 4] {
        let z = (x - loc) / scale;
        [-z / scale, z / scale, (z * z - T::ONE) / scale, T::ZERO]
    }

    fn draw([loc, scale, _]: [f64; 3], base: Base, _: &mut StdRng) -> f64 {
        loc + scale * base.normal
    }
}
