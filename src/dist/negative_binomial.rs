//! `NegativeBinomial(mean, concentration)` over `int`, the NB2 form used in count
//! regression: variance = mean + mean² / concentration, a Gamma–Poisson mixture with
//! rate ~ Gamma(concentration, concentration / mean). As concentration → ∞ it becomes
//! `Poisson(mean)`.

use rand::rngs::StdRng;
use rand_distr::{Distribution, Gamma};

use super::math::{digamma_difference, ln_gamma_ratio};
use super::poisson::draw_poisson;
use super::{Base, Definition, Domain, Elem, Elementwise, Param, Spec};
use crate::autodiff::Real;
use crate::autodiff::special::ln_gamma;

pub struct NegativeBinomial;

impl Definition for NegativeBinomial {
    const SPEC: Spec = Spec {
        name: "NegativeBinomial",
        params: &[
            Param::new("mean", Domain::Positive),
            Param::new("concentration", Domain::Positive),
        ],
        support: Elem::Int,
        prior: false,
        likelihood: true,
        data_range: None,
    };
}

impl Elementwise for NegativeBinomial {
    /// lnΓ(k + φ) − lnΓ(φ) − lnΓ(k + 1) + φ ln(φ / (φ + μ)) + k ln(μ / (φ + μ)), with
    /// both logarithms written as `−ln_1p` of a ratio and the lnΓ difference taken in
    /// f64 by [`ln_gamma_ratio`], so that a large φ (near-Poisson data) does not cancel
    /// catastrophically, in f32 least of all.
    #[inline(always)]
    fn log_density<T: Real>([k, mu, phi, _]: [T; 4]) -> T {
        let tail = if k == T::ZERO {
            T::ZERO
        } else {
            k * (phi / mu).ln_1p()
        };
        let normalizer = ln_gamma_ratio(phi.to_f64(), k.to_f64()) - ln_gamma(k.to_f64() + 1.0);
        T::from_f64(normalizer) - phi * (mu / phi).ln_1p() - tail
    }

    #[inline(always)]
    fn log_density_grad<T: Real>([k, mu, phi, _]: [T; 4]) -> [T; 4] {
        let sum = phi + mu;
        let dmu = phi * (k - mu) / (mu * sum);
        let dphi = T::from_f64(digamma_difference(phi.to_f64(), k.to_f64())) - (mu / phi).ln_1p()
            + (mu - k) / sum;
        [T::ZERO, dmu, dphi, T::ZERO]
    }

    fn draw([mu, phi, _]: [f64; 3], _: Base, rng: &mut StdRng) -> f64 {
        let Ok(gamma) = Gamma::new(phi, mu / phi) else {
            return f64::NAN;
        };
        let rate = gamma.sample(rng);
        // A rate that underflowed to zero draws no events.
        if rate == 0.0 {
            0.0
        } else {
            draw_poisson(rate, rng)
        }
    }
}
