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

#[cfg(test)]
mod tests {
    use rand::SeedableRng;

    use super::*;

    /// The Gamma–Poisson draws have the NB2 moments: mean μ, variance μ + μ²/φ.
    #[test]
    fn draws_have_the_nb2_mean_and_variance() {
        let (mu, phi) = (4.0, 1.5);
        let mut rng = StdRng::seed_from_u64(1);
        let base = Base {
            normal: 0.0,
            uniform: 0.5,
        };
        let n = 100_000;
        let draws: Vec<f64> = (0..n)
            .map(|_| NegativeBinomial::draw([mu, phi, 0.0], base, &mut rng))
            .collect();
        let mean = draws.iter().sum::<f64>() / n as f64;
        let var = draws.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n as f64;
        let want = mu + mu * mu / phi;
        assert!(
            (mean - mu).abs() < 4.0 * (want / n as f64).sqrt(),
            "mean {mean}"
        );
        assert!((var / want - 1.0).abs() < 0.05, "variance {var} vs {want}");
    }
}
