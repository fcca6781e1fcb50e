//! Scalar helpers the family definitions share: constants, lnΓ and ψ in any [`Real`]
//! (evaluated in f64), and the pieces that keep densities finite at their edges.

use crate::autodiff::Real;
use crate::autodiff::special::{digamma, ln_gamma};

/// ½ ln(2π).
pub const HALF_LN_2PI: f64 = 0.918_938_533_204_672_8;
/// ln π.
pub const LN_PI: f64 = 1.144_729_885_849_400_2;
/// ln 2.
pub const LN_2: f64 = std::f64::consts::LN_2;

pub fn c<T: Real>(x: f64) -> T {
    T::from_f64(x)
}

pub fn lgamma<T: Real>(x: T) -> T {
    T::from_f64(ln_gamma(x.to_f64()))
}

pub fn psi<T: Real>(x: T) -> T {
    T::from_f64(digamma(x.to_f64()))
}

/// The sign of `x` (0 at 0), the derivative of `|x|` away from its kink.
pub fn sign<T: Real>(x: T) -> T {
    if x > T::ZERO {
        T::ONE
    } else if x < T::ZERO {
        -T::ONE
    } else {
        T::ZERO
    }
}

/// Whether a Bernoulli observation stored as a float is a 1.
pub fn is_one<T: Real>(x: T) -> bool {
    x > T::HALF
}

/// `a · ln b`, zero when `a` is zero (so `0 · ln 0` never forms a NaN).
pub fn xlogy<T: Real>(a: T, b: T) -> T {
    if a == T::ZERO { T::ZERO } else { a * b.ln() }
}

/// `a / b`, zero when `a` is zero: the partial of [`xlogy`] in `b`.
pub fn x_over_y<T: Real>(a: T, b: T) -> T {
    if a == T::ZERO { T::ZERO } else { a / b }
}

/// ln C(n, k) = lnΓ(n + 1) − lnΓ(k + 1) − lnΓ(n − k + 1), summed in f64 before the
/// one rounding to `T`: in f32 the three terms would each lose more than the result.
pub fn ln_choose<T: Real>(n: T, k: T) -> T {
    let (n, k) = (n.to_f64(), k.to_f64());
    T::from_f64(ln_gamma(n + 1.0) - ln_gamma(k + 1.0) - ln_gamma(n - k + 1.0))
}

/// Where [`ln_gamma_ratio`] and [`digamma_difference`] switch to their asymptotic forms;
/// from here the truncated series are exact to f64 rounding (next terms below 1e-21).
const ASYMPTOTIC_FROM: f64 = 100.0;

/// lnΓ(x + k) − lnΓ(x) for x > 0, k >= 0, in f64. For large x the two lnΓ are huge and
/// nearly equal (a negative binomial with a large concentration), so the difference is
/// taken analytically from Stirling's series instead: (x − ½) ln(1 + k/x) + k ln(x + k)
/// − k plus the difference of the series tails.
pub fn ln_gamma_ratio(x: f64, k: f64) -> f64 {
    if k == 0.0 {
        return 0.0;
    }
    if x < ASYMPTOTIC_FROM {
        return ln_gamma(x + k) - ln_gamma(x);
    }
    let y = x + k;
    // lnΓ(x) − [(x − ½) ln x − x + ½ ln 2π].
    let tail = |x: f64| {
        let r = 1.0 / (x * x);
        (1.0 / 12.0 - r * (1.0 / 360.0 - r * (1.0 / 1260.0 - r / 1680.0))) / x
    };
    (x - 0.5) * (k / x).ln_1p() + k * y.ln() - k + (tail(y) - tail(x))
}

/// ψ(x + k) − ψ(x) for x > 0, k >= 0, in f64: the partial of [`ln_gamma_ratio`] in x,
/// by the same asymptotic route for large x.
pub fn digamma_difference(x: f64, k: f64) -> f64 {
    if k == 0.0 {
        return 0.0;
    }
    if x < ASYMPTOTIC_FROM {
        return digamma(x + k) - digamma(x);
    }
    let y = x + k;
    // ψ(x) − [ln x − 1/(2x)].
    let tail = |x: f64| {
        let r = 1.0 / (x * x);
        -r * (1.0 / 12.0 - r * (1.0 / 120.0 - r * (1.0 / 252.0 - r / 240.0)))
    };
    (k / x).ln_1p() + k / (2.0 * x * y) + (tail(y) - tail(x))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Both branches against sums that need no lnΓ: Γ(x + k)/Γ(x) = Π (x + j) for a
    /// whole k, and ψ(x + k) − ψ(x) = Σ 1/(x + j).
    #[test]
    fn ratios_match_products_on_both_sides_of_the_switch() {
        for x in [0.7, 3.0, 99.5, 100.5, 2e3, 1e9] {
            for k in [1.0, 4.0, 30.0] {
                let exact: f64 = (0..k as u32).map(|j| (x + f64::from(j)).ln()).sum();
                let got = ln_gamma_ratio(x, k);
                assert!(
                    (got - exact).abs() <= 1e-12 * exact.abs().max(1.0),
                    "{x} {k}: {got} vs {exact}"
                );
                let exact: f64 = (0..k as u32).map(|j| 1.0 / (x + f64::from(j))).sum();
                let got = digamma_difference(x, k);
                assert!(
                    (got - exact).abs() <= 1e-12 * exact.abs(),
                    "{x} {k}: {got} vs {exact}"
                );
            }
        }
        assert_eq!(ln_gamma_ratio(5.0, 0.0), 0.0);
        assert_eq!(digamma_difference(5.0, 0.0), 0.0);
    }
}
