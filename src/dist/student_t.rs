//! `StudentT(df, loc, scale)` over `real`, as a likelihood or as the heavy-tailed prior
//! of a latent or global.

use rand::rngs::StdRng;
use rand_distr::{Distribution, StudentT as StudentTDist};

use super::math::{LN_PI, c, lgamma, psi};
use super::{Base, Definition, Domain, Elem, Elementwise, Param, Spec};
use crate::autodiff::Real;

pub struct StudentT;

impl Definition for StudentT {
    const SPEC: Spec = Spec {
        name: "StudentT",
        params: &[
            Param::new("df", Domain::Positive),
            Param::new("loc", Domain::Real),
            Param::new("scale", Domain::Positive),
        ],
        support: Elem::Real,
        prior: true,
        likelihood: true,
        data_range: None,
    };
}

impl Elementwise for StudentT {
    #[inline(always)]
    fn log_density<T: Real>([x, nu, m, s]: [T; 4]) -> T {
        let z = (x - m) / s;
        let half_nu1 = T::HALF * (nu + T::ONE);
        lgamma(half_nu1)
            - lgamma(T::HALF * nu)
            - T::HALF * (nu.ln() + c(LN_PI))
            - s.ln()
            - half_nu1 * (z * z / nu).ln_1p()
    }

    #[inline(always)]
    fn log_density_grad<T: Real>([x, nu, m, s]: [T; 4]) -> [T; 4] {
        let z = (x - m) / s;
        let u = T::ONE + z * z / nu;
        // d/dz of −(ν+1)/2 · ln u.
        let dz = -(nu + T::ONE) * z / (nu * u);
        let dnu = T::HALF * (psi(T::HALF * (nu + T::ONE)) - psi(T::HALF * nu))
            - T::HALF / nu
            - T::HALF * u.ln()
            + T::HALF * (nu + T::ONE) * z * z / (nu * nu * u);
        [dz / s, dnu, -dz / s, -T::ONE / s - dz * z / s]
    }

    fn draw([nu, m, s]: [f64; 3], _: Base, rng: &mut StdRng) -> f64 {
        StudentTDist::new(nu).map_or(f64::NAN, |d| m + s * d.sample(rng))
    }
}
