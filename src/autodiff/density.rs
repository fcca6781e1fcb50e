//! Log densities of every [`Family`] and their partial derivatives, side by side so that
//! the forward kernel and the VJP can never disagree about a formula.
//!
//! Elementwise families take `v = [value, p0, p1, p2]` (parameters in canonical order,
//! unused slots ignored). Every density is normalized (constants included) and written
//! to stay finite wherever the true value is finite: Bernoulli with logits uses
//! softplus, never `log(sigmoid)`; Bernoulli with probabilities never forms `0 · ln 0`.
//! Discrete families have no partial in the value (slot 0 stays zero). Pure functions.

use super::real::Real;
use super::special::{digamma, ln_gamma};
use crate::dist::Family;

/// ½ ln(2π).
const HALF_LN_2PI: f64 = 0.918_938_533_204_672_8;
/// ln π.
const LN_PI: f64 = 1.144_729_885_849_400_2;
/// ln 2.
const LN_2: f64 = std::f64::consts::LN_2;

fn c<T: Real>(x: f64) -> T {
    T::from_f64(x)
}

fn lgamma<T: Real>(x: T) -> T {
    T::from_f64(ln_gamma(x.to_f64()))
}

fn psi<T: Real>(x: T) -> T {
    T::from_f64(digamma(x.to_f64()))
}

/// The sign of `x` (0 at 0), the derivative of `|x|` away from its kink.
fn sign<T: Real>(x: T) -> T {
    if x > T::ZERO {
        T::ONE
    } else if x < T::ZERO {
        -T::ONE
    } else {
        T::ZERO
    }
}

/// Whether a Bernoulli observation stored as a float is a 1.
fn is_one<T: Real>(x: T) -> bool {
    x > T::HALF
}

/// Runs `$body` with `$f` bound to `$family` as a constant, one arm per elementwise
/// family, so that after inlining [`log_density`] and [`log_density_grad`] the family
/// `match` folds away and each family gets its own element loop.
macro_rules! for_family {
    ($family:expr, $f:ident => $body:expr) => {
        $crate::autodiff::density::for_family!(@arms $family, $f, $body, [
            Normal, BernoulliProbs, BernoulliLogits, HalfNormal, HalfCauchy, LogNormal,
            Exponential, Gamma, Beta, StudentT, Laplace, PoissonRate, PoissonLogRate
        ])
    };
    (@arms $family:expr, $f:ident, $body:expr, [$($variant:ident),*]) => {
        match $family {
            $($crate::dist::Family::$variant => {
                const $f: $crate::dist::Family = $crate::dist::Family::$variant;
                $body
            })*
            $crate::dist::Family::Categorical => {
                unreachable!("internal: categorical is not elementwise")
            }
        }
    };
}
pub(super) use for_family;

/// The log density of an elementwise family at `v = [value, params...]`.
#[inline(always)]
pub fn log_density<T: Real>(family: Family, v: [T; 4]) -> T {
    let [x, p0, p1, p2] = v;
    match family {
        Family::Normal => {
            let z = (x - p0) / p1;
            -T::HALF * z * z - p1.ln() - c(HALF_LN_2PI)
        }
        Family::BernoulliProbs => {
            if is_one(x) {
                p0.ln()
            } else {
                (-p0).ln_1p()
            }
        }
        Family::BernoulliLogits => x * p0 - p0.softplus(),
        Family::HalfNormal => {
            c::<T>(0.5 * (2.0 / std::f64::consts::PI).ln())
                - p0.ln()
                - x * x / (c::<T>(2.0) * p0 * p0)
        }
        Family::HalfCauchy => {
            c::<T>((2.0 / std::f64::consts::PI).ln()) + p0.ln() - (p0 * p0 + x * x).ln()
        }
        Family::LogNormal => {
            let lx = x.ln();
            let z = (lx - p0) / p1;
            -lx - p1.ln() - c(HALF_LN_2PI) - T::HALF * z * z
        }
        Family::Exponential => p0.ln() - p0 * x,
        Family::Gamma => p0 * p1.ln() + (p0 - T::ONE) * x.ln() - p1 * x - lgamma(p0),
        Family::Beta => {
            let ln_beta = lgamma(p0) + lgamma(p1) - lgamma(p0 + p1);
            (p0 - T::ONE) * x.ln() + (p1 - T::ONE) * (-x).ln_1p() - ln_beta
        }
        Family::StudentT => {
            let (nu, m, s) = (p0, p1, p2);
            let z = (x - m) / s;
            let half_nu1 = T::HALF * (nu + T::ONE);
            lgamma(half_nu1)
                - lgamma(T::HALF * nu)
                - T::HALF * (nu.ln() + c(LN_PI))
                - s.ln()
                - half_nu1 * (z * z / nu).ln_1p()
        }
        Family::Laplace => -(c::<T>(LN_2) + p1.ln()) - (x - p0).abs() / p1,
        Family::PoissonRate => x * p0.ln() - p0 - lgamma(x + T::ONE),
        Family::PoissonLogRate => x * p0 - p0.exp() - lgamma(x + T::ONE),
        Family::Categorical => unreachable!("internal: categorical is not elementwise"),
    }
}

/// The partials of [`log_density`] in `[value, p0, p1, p2]`.
#[inline(always)]
pub fn log_density_grad<T: Real>(family: Family, v: [T; 4]) -> [T; 4] {
    let [x, p0, p1, p2] = v;
    let zero = T::ZERO;
    match family {
        Family::Normal => {
            let z = (x - p0) / p1;
            [-z / p1, z / p1, (z * z - T::ONE) / p1, zero]
        }
        Family::BernoulliProbs => {
            let dp = if is_one(x) {
                T::ONE / p0
            } else {
                -T::ONE / (T::ONE - p0)
            };
            [zero, dp, zero, zero]
        }
        Family::BernoulliLogits => [zero, x - p0.sigmoid(), zero, zero],
        Family::HalfNormal => {
            let s2 = p0 * p0;
            [-x / s2, -T::ONE / p0 + x * x / (s2 * p0), zero, zero]
        }
        Family::HalfCauchy => {
            let d = p0 * p0 + x * x;
            let two = c::<T>(2.0);
            [-two * x / d, T::ONE / p0 - two * p0 / d, zero, zero]
        }
        Family::LogNormal => {
            let z = (x.ln() - p0) / p1;
            [-(T::ONE + z / p1) / x, z / p1, (z * z - T::ONE) / p1, zero]
        }
        Family::Exponential => [-p0, T::ONE / p0 - x, zero, zero],
        Family::Gamma => [
            (p0 - T::ONE) / x - p1,
            p1.ln() + x.ln() - psi(p0),
            p0 / p1 - x,
            zero,
        ],
        Family::Beta => {
            let ab = psi(p0 + p1);
            [
                (p0 - T::ONE) / x - (p1 - T::ONE) / (T::ONE - x),
                x.ln() - psi(p0) + ab,
                (-x).ln_1p() - psi(p1) + ab,
                zero,
            ]
        }
        Family::StudentT => {
            let (nu, m, s) = (p0, p1, p2);
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
        Family::Laplace => {
            let d = x - p0;
            let sg = sign(d) / p1;
            [-sg, sg, -T::ONE / p1 + d.abs() / (p1 * p1), zero]
        }
        Family::PoissonRate => [zero, x / p0 - T::ONE, zero, zero],
        Family::PoissonLogRate => [zero, x - p0.exp(), zero, zero],
        Family::Categorical => unreachable!("internal: categorical is not elementwise"),
    }
}

/// The class a Categorical observation stored as a float names.
pub fn class_index<T: Real>(x: T, classes: usize) -> usize {
    let k = x.to_f64();
    assert!(
        k >= 0.0 && (k as usize) < classes && k == k.floor(),
        "internal: class index {k} outside 0..{classes}"
    );
    k as usize
}

/// `ln softmax(logits)[class] = logits[class] − logsumexp(logits)`, stable.
pub fn categorical<T: Real>(logits: &[T], class: usize) -> T {
    logits[class] - log_sum_exp(logits)
}

/// `grad[k] += scale · (1[k = class] − softmax(logits)[k])`.
pub fn categorical_grad<T: Real>(logits: &[T], class: usize, scale: T, grad: &mut [T]) {
    let lse = log_sum_exp(logits);
    for (g, &l) in grad.iter_mut().zip(logits) {
        *g -= scale * (l - lse).exp();
    }
    grad[class] += scale;
}

fn log_sum_exp<T: Real>(xs: &[T]) -> T {
    let m = xs.iter().copied().fold(xs[0], T::max);
    m + xs.iter().map(|&x| (x - m).exp()).sum::<T>().ln()
}

/// KL(N(qm, qs²) ‖ N(pm, ps²)) at `v = [qm, qs, pm, ps]`.
#[inline(always)]
pub fn kl_normal<T: Real>(v: [T; 4]) -> T {
    let [qm, qs, pm, ps] = v;
    let d = qm - pm;
    (ps / qs).ln() + (qs * qs + d * d) / (c::<T>(2.0) * ps * ps) - T::HALF
}

/// The partials of [`kl_normal`] in `[qm, qs, pm, ps]`.
#[inline(always)]
pub fn kl_normal_grad<T: Real>(v: [T; 4]) -> [T; 4] {
    let [qm, qs, pm, ps] = v;
    let d = qm - pm;
    let ps2 = ps * ps;
    [
        d / ps2,
        -T::ONE / qs + qs / ps2,
        -d / ps2,
        T::ONE / ps - (qs * qs + d * d) / (ps2 * ps),
    ]
}
