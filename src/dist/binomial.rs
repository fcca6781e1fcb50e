//! `Binomial(total_count, probs)` and `Binomial(total_count, logits = ..)` over `int`:
//! k successes out of n trials. `total_count` is data (a literal or `int` data), so it
//! has no partial; the data reader checks k <= n.

use rand::rngs::StdRng;
use rand_distr::{Binomial, Distribution};

use super::math::{ln_choose, x_over_y, xlogy};
use super::{Base, DataRange, Definition, Domain, Elem, Elementwise, Param, Spec};
use crate::autodiff::Real;

pub struct BinomialProbs;

impl Definition for BinomialProbs {
    const SPEC: Spec = Spec {
        name: "Binomial",
        params: &[
            Param::new("total_count", Domain::Count),
            Param::new("probs", Domain::Probability),
        ],
        support: Elem::Int,
        prior: false,
        likelihood: true,
        data_range: Some(DataRange::AtMost { param: 0 }),
    };
}

impl Elementwise for BinomialProbs {
    /// ln C(n, k) + k ln p + (n − k) ln(1 − p), with `0 · ln 0 = 0` at p = 0 and p = 1.
    #[inline(always)]
    fn log_density<T: Real>([k, n, p, _]: [T; 4]) -> T {
        ln_choose(n, k) + xlogy(k, p) + xlogy(n - k, T::ONE - p)
    }

    #[inline(always)]
    fn log_density_grad<T: Real>([k, n, p, _]: [T; 4]) -> [T; 4] {
        let dp = x_over_y(k, p) - x_over_y(n - k, T::ONE - p);
        [T::ZERO, T::ZERO, dp, T::ZERO]
    }

    fn draw([n, p, _]: [f64; 3], _: Base, rng: &mut StdRng) -> f64 {
        draw_binomial(n, p, rng)
    }
}

pub struct BinomialLogits;

impl Definition for BinomialLogits {
    const SPEC: Spec = Spec {
        name: "Binomial",
        params: &[
            Param::new("total_count", Domain::Count),
            Param::new("logits", Domain::Real),
        ],
        support: Elem::Int,
        prior: false,
        likelihood: true,
        data_range: Some(DataRange::AtMost { param: 0 }),
    };
}

impl Elementwise for BinomialLogits {
    /// ln C(n, k) + k l − n softplus(l): k ln σ(l) + (n − k) ln σ(−l) without forming
    /// either logarithm, finite for every finite logit.
    #[inline(always)]
    fn log_density<T: Real>([k, n, l, _]: [T; 4]) -> T {
        ln_choose(n, k) + k * l - n * l.softplus()
    }

    #[inline(always)]
    fn log_density_grad<T: Real>([k, n, l, _]: [T; 4]) -> [T; 4] {
        [T::ZERO, T::ZERO, k - n * l.sigmoid(), T::ZERO]
    }

    fn draw([n, l, _]: [f64; 3], _: Base, rng: &mut StdRng) -> f64 {
        draw_binomial(n, 1.0 / (1.0 + (-l).exp()), rng)
    }
}

/// One binomial draw, NaN unless `n` is a whole number >= 0 and `p` a probability.
fn draw_binomial(n: f64, p: f64, rng: &mut StdRng) -> f64 {
    if !(n >= 0.0 && n.fract() == 0.0 && n < 2f64.powi(53)) {
        return f64::NAN;
    }
    Binomial::new(n as u64, p).map_or(f64::NAN, |d| d.sample(rng) as f64)
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;

    use super::*;

    /// Both parameterizations draw counts in 0..=n with mean n p, and a total that is
    /// not a whole number draws NaN rather than panicking.
    #[test]
    fn draws_have_mean_n_p_and_stay_within_the_total() {
        let (n, p) = (12.0, 0.3);
        let base = Base {
            normal: 0.0,
            uniform: 0.5,
        };
        let mut rng = StdRng::seed_from_u64(2);
        let draws = 50_000;
        for logits in [false, true] {
            let total: f64 = (0..draws)
                .map(|_| {
                    let k = if logits {
                        BinomialLogits::draw([n, (p / (1.0 - p)).ln(), 0.0], base, &mut rng)
                    } else {
                        BinomialProbs::draw([n, p, 0.0], base, &mut rng)
                    };
                    assert!((0.0..=n).contains(&k) && k.fract() == 0.0, "{k}");
                    k
                })
                .sum();
            let mean = total / f64::from(draws);
            let sd = (n * p * (1.0 - p) / f64::from(draws)).sqrt();
            assert!((mean - n * p).abs() < 4.0 * sd, "mean {mean}");
        }
        assert!(BinomialProbs::draw([2.5, p, 0.0], base, &mut rng).is_nan());
        assert!(BinomialProbs::draw([-1.0, p, 0.0], base, &mut rng).is_nan());
    }
}
