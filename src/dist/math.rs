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

/// ln C(n, k) = lnΓ(n + 1) − lnΓ(k + 1) − lnΓ(n − k + 1).
pub fn ln_choose<T: Real>(n: T, k: T) -> T {
    lgamma(n + T::ONE) - lgamma(k + T::ONE) - lgamma(n - k + T::ONE)
}
