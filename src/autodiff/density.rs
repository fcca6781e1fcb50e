//! The executor's density helpers that are not a family: the analytic Gaussian KL and
//! its partials side by side, and reading a class index stored as a float. Family log
//! densities live with their definitions in [`crate::dist`]. Pure functions.

use super::real::Real;

fn c<T: Real>(x: f64) -> T {
    T::from_f64(x)
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
