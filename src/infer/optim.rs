//! A deterministic quasi-Newton minimizer: L-BFGS (Nocedal & Wright 2006, Alg. 7.4)
//! with a line search that enforces the strong Wolfe conditions (Alg. 3.5/3.6, cubic
//! interpolation in the zoom), in `f64`, for smooth functions given as a closure that
//! returns the value and fills the gradient.
//!
//! It is written here rather than taken from `argmin` because DADVI's objective is a
//! closure over an executor it borrows mutably and the whole optimizer is ~200 lines;
//! argmin's `CostFunction`/`Gradient` traits take `&self`, which would force interior
//! mutability around the executor for no gain. It must not know about graphs or
//! sessions: it sees a vector and a function.

/// Why the minimizer stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// The gradient's largest component fell below the tolerance.
    Gradient,
    /// The objective changed by less than its relative tolerance over several steps.
    Objective,
    /// The iteration cap was reached.
    Iterations,
    /// The line search found no point with sufficient decrease (at the limit of
    /// floating-point precision, usually at the optimum).
    LineSearch,
    /// The function returned a non-finite value at the starting point.
    NonFinite,
}

/// Stopping tolerances.
#[derive(Debug, Clone, Copy)]
pub struct Tolerances {
    /// Stop when `max |g_i| <= gradient * max(1, |f|)`.
    pub gradient: f64,
    /// Stop when `|f_k - f_{k-1}| <= objective * max(1, |f_k|)` for three steps in a row.
    pub objective: f64,
    pub max_iterations: usize,
}

impl Default for Tolerances {
    fn default() -> Tolerances {
        Tolerances {
            gradient: 1e-7,
            objective: 1e-14,
            max_iterations: 20_000,
        }
    }
}

/// The result of a minimization.
#[derive(Debug, Clone)]
pub struct Minimum {
    pub x: Vec<f64>,
    pub value: f64,
    pub iterations: usize,
    /// Function (and gradient) evaluations.
    pub evaluations: usize,
    pub stop: Stop,
}

/// Pairs kept in the L-BFGS memory.
const MEMORY: usize = 20;
/// Wolfe constants: sufficient decrease and curvature.
const C1: f64 = 1e-4;
const C2: f64 = 0.9;

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn max_abs(a: &[f64]) -> f64 {
    a.iter().fold(0.0, |m, v| m.max(v.abs()))
}

/// Minimizes `f` from `x0`. `f(x, grad)` returns f(x) and writes ∇f(x) into `grad`;
/// a non-finite value is treated as +∞ by the line search (it backtracks).
pub fn minimize(
    f: impl FnMut(&[f64], &mut [f64]) -> f64,
    x0: Vec<f64>,
    tol: Tolerances,
) -> Minimum {
    minimize_preconditioned(f, x0, tol, None)
}

/// An inverse-Hessian estimate applied in place, v ← H₀⁻¹ v: L-BFGS's initial matrix.
pub type Preconditioner<'a> = &'a dyn Fn(&mut [f64]);

/// [`minimize`] with `h0` as the initial inverse Hessian of the two-loop recursion in
/// place of the scaled identity. With the inverse Hessian of a nearby problem (the
/// same objective on other draws) the first steps are Newton steps, so a re-solve
/// from a nearby optimum takes a few iterations instead of rebuilding the curvature.
pub fn minimize_preconditioned(
    mut f: impl FnMut(&[f64], &mut [f64]) -> f64,
    x0: Vec<f64>,
    tol: Tolerances,
    h0: Option<Preconditioner<'_>>,
) -> Minimum {
    let n = x0.len();
    let mut x = x0;
    let mut g = vec![0.0; n];
    let mut fx = f(&x, &mut g);
    let mut evaluations = 1;
    if !fx.is_finite() {
        return Minimum {
            x,
            value: fx,
            iterations: 0,
            evaluations,
            stop: Stop::NonFinite,
        };
    }
    let mut s_hist: Vec<Vec<f64>> = Vec::new();
    let mut y_hist: Vec<Vec<f64>> = Vec::new();
    let mut rho_hist: Vec<f64> = Vec::new();
    let mut dir = vec![0.0; n];
    let mut alpha_buf = [0.0; MEMORY];
    let mut small_changes = 0;
    let mut iterations = 0;
    let stop = loop {
        if max_abs(&g) <= tol.gradient * fx.abs().max(1.0) {
            break Stop::Gradient;
        }
        if iterations >= tol.max_iterations {
            break Stop::Iterations;
        }
        // Two-loop recursion: dir = -H g.
        for (d, gi) in dir.iter_mut().zip(&g) {
            *d = -gi;
        }
        let k = s_hist.len();
        for i in (0..k).rev() {
            let a = rho_hist[i] * dot(&s_hist[i], &dir);
            alpha_buf[i] = a;
            for (d, y) in dir.iter_mut().zip(&y_hist[i]) {
                *d -= a * y;
            }
        }
        if let Some(h0) = h0 {
            h0(&mut dir);
        } else {
            let gamma = if k > 0 {
                dot(&s_hist[k - 1], &y_hist[k - 1]) / dot(&y_hist[k - 1], &y_hist[k - 1])
            } else {
                // The first step: a unit-length move along -g.
                1.0 / max_abs(&g).max(1e-300)
            };
            for d in dir.iter_mut() {
                *d *= gamma;
            }
        }
        for i in 0..k {
            let b = rho_hist[i] * dot(&y_hist[i], &dir);
            for (d, s) in dir.iter_mut().zip(&s_hist[i]) {
                *d += (alpha_buf[i] - b) * s;
            }
        }
        let mut slope = dot(&g, &dir);
        if slope >= 0.0 {
            // Not a descent direction (lost curvature): restart from steepest descent.
            s_hist.clear();
            y_hist.clear();
            rho_hist.clear();
            let scale = 1.0 / max_abs(&g).max(1e-300);
            for (d, gi) in dir.iter_mut().zip(&g) {
                *d = -gi * scale;
            }
            slope = dot(&g, &dir);
        }
        let search = line_search(&mut f, &x, fx, &dir, slope);
        evaluations += search.evaluations;
        let Some((step, f_new, g_new)) = search.found else {
            break Stop::LineSearch;
        };
        iterations += 1;
        let s: Vec<f64> = dir.iter().map(|d| d * step).collect();
        let y: Vec<f64> = g_new.iter().zip(&g).map(|(a, b)| a - b).collect();
        for (xi, si) in x.iter_mut().zip(&s) {
            *xi += si;
        }
        let change = (fx - f_new).abs();
        fx = f_new;
        g = g_new;
        let sy = dot(&s, &y);
        if sy > 1e-300 {
            if s_hist.len() == MEMORY {
                s_hist.remove(0);
                y_hist.remove(0);
                rho_hist.remove(0);
            }
            s_hist.push(s);
            y_hist.push(y);
            rho_hist.push(1.0 / sy);
        }
        if change <= tol.objective * fx.abs().max(1.0) {
            small_changes += 1;
            if small_changes >= 3 {
                break Stop::Objective;
            }
        } else {
            small_changes = 0;
        }
    };
    Minimum {
        x,
        value: fx,
        iterations,
        evaluations,
        stop,
    }
}

struct Search {
    found: Option<(f64, f64, Vec<f64>)>,
    evaluations: usize,
}

/// The minimizer of the cubic through (a, fa, da) and (b, fb, db), kept inside the
/// interval's middle 80% (bisection when the cubic has no minimizer there).
fn cubic_min(a: f64, fa: f64, da: f64, b: f64, fb: f64, db: f64) -> f64 {
    let d1 = da + db - 3.0 * (fa - fb) / (a - b);
    let disc = d1 * d1 - da * db;
    let (lo, hi) = if a < b { (a, b) } else { (b, a) };
    let margin = 0.1 * (hi - lo);
    let mid = 0.5 * (a + b);
    if disc < 0.0 || !disc.is_finite() {
        return mid;
    }
    let d2 = (b - a).signum() * disc.sqrt();
    let t = b - (b - a) * (db + d2 - d1) / (db - da + 2.0 * d2);
    if t.is_finite() && t > lo + margin && t < hi - margin {
        t
    } else {
        mid
    }
}

/// A step along `dir` meeting the strong Wolfe conditions.
fn line_search(
    f: &mut impl FnMut(&[f64], &mut [f64]) -> f64,
    x: &[f64],
    f0: f64,
    dir: &[f64],
    slope0: f64,
) -> Search {
    let n = x.len();
    let mut trial = vec![0.0; n];
    let mut grad = vec![0.0; n];
    let mut evaluations = 0;
    let mut eval = |step: f64, grad: &mut [f64], evaluations: &mut usize| {
        for ((t, xi), d) in trial.iter_mut().zip(x).zip(dir) {
            *t = xi + step * d;
        }
        *evaluations += 1;
        let v = f(&trial, grad);
        let v = if v.is_finite() { v } else { f64::INFINITY };
        (v, dot(grad, dir))
    };
    let (mut prev, mut f_prev, mut d_prev) = (0.0, f0, slope0);
    let mut step = 1.0;
    for i in 0..40 {
        let (fs, ds) = eval(step, &mut grad, &mut evaluations);
        let bracket = if fs > f0 + C1 * step * slope0 || (i > 0 && fs >= f_prev) || !ds.is_finite()
        {
            Some((prev, f_prev, d_prev, step, fs, ds))
        } else if ds.abs() <= -C2 * slope0 {
            return Search {
                found: Some((step, fs, grad)),
                evaluations,
            };
        } else if ds >= 0.0 {
            Some((step, fs, ds, prev, f_prev, d_prev))
        } else {
            None
        };
        if let Some((mut lo, mut f_lo, mut d_lo, mut hi, mut f_hi, mut d_hi)) = bracket {
            for _ in 0..40 {
                let t = if f_hi.is_finite() && d_hi.is_finite() {
                    cubic_min(lo, f_lo, d_lo, hi, f_hi, d_hi)
                } else {
                    0.5 * (lo + hi)
                };
                let (ft, dt) = eval(t, &mut grad, &mut evaluations);
                if ft > f0 + C1 * t * slope0 || ft >= f_lo || !dt.is_finite() {
                    (hi, f_hi, d_hi) = (t, ft, dt);
                } else {
                    if dt.abs() <= -C2 * slope0 {
                        return Search {
                            found: Some((t, ft, grad)),
                            evaluations,
                        };
                    }
                    if dt * (hi - lo) >= 0.0 {
                        (hi, f_hi, d_hi) = (lo, f_lo, d_lo);
                    }
                    (lo, f_lo, d_lo) = (t, ft, dt);
                }
                if (hi - lo).abs() <= 1e-16 * lo.abs().max(1e-300) {
                    break;
                }
            }
            // The interval collapsed: accept its best end if it decreased f at all.
            if lo > 0.0 && f_lo < f0 {
                let (fl, _) = eval(lo, &mut grad, &mut evaluations);
                return Search {
                    found: Some((lo, fl, grad)),
                    evaluations,
                };
            }
            return Search {
                found: None,
                evaluations,
            };
        }
        (prev, f_prev, d_prev) = (step, fs, ds);
        step *= 2.0;
    }
    Search {
        found: None,
        evaluations,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minimizes_an_ill_conditioned_quadratic() {
        // f = ½ Σ a_i (x_i − i)², condition number 1e6.
        let a: Vec<f64> = (0..10).map(|i| 10f64.powf(0.6 * f64::from(i))).collect();
        let m = minimize(
            |x, g| {
                let mut v = 0.0;
                for i in 0..x.len() {
                    let d = x[i] - i as f64;
                    v += 0.5 * a[i] * d * d;
                    g[i] = a[i] * d;
                }
                v
            },
            vec![0.0; 10],
            Tolerances::default(),
        );
        for (i, xi) in m.x.iter().enumerate() {
            assert!((xi - i as f64).abs() < 1e-6, "x[{i}] = {xi} ({:?})", m.stop);
        }
        assert!(m.iterations < 200, "{} iterations", m.iterations);
    }

    /// With the exact inverse Hessian of a nearby quadratic as the preconditioner, the
    /// ill-conditioned quadratic is solved in a handful of iterations (Newton steps),
    /// where the plain L-BFGS needs dozens.
    #[test]
    fn a_nearby_inverse_hessian_makes_the_steps_newton_steps() {
        let a: Vec<f64> = (0..10).map(|i| 10f64.powf(0.6 * f64::from(i))).collect();
        let f = |x: &[f64], g: &mut [f64]| {
            let mut v = 0.0;
            for i in 0..x.len() {
                let d = x[i] - i as f64;
                v += 0.5 * a[i] * d * d;
                g[i] = a[i] * d;
            }
            v
        };
        // The Hessian of a problem 5% off.
        let h0 = |v: &mut [f64]| {
            for (vi, ai) in v.iter_mut().zip(&a) {
                *vi /= 1.05 * ai;
            }
        };
        let plain = minimize(f, vec![0.0; 10], Tolerances::default());
        let m = minimize_preconditioned(f, vec![0.0; 10], Tolerances::default(), Some(&h0));
        for (i, xi) in m.x.iter().enumerate() {
            assert!((xi - i as f64).abs() < 1e-6, "x[{i}] = {xi} ({:?})", m.stop);
        }
        assert!(m.iterations <= 6, "{} iterations", m.iterations);
        assert!(
            plain.iterations > 3 * m.iterations,
            "{} iterations",
            plain.iterations
        );
    }

    #[test]
    fn minimizes_rosenbrock() {
        let m = minimize(
            |x, g| {
                let (a, b) = (x[0], x[1]);
                g[0] = -2.0 * (1.0 - a) - 400.0 * a * (b - a * a);
                g[1] = 200.0 * (b - a * a);
                (1.0 - a).powi(2) + 100.0 * (b - a * a).powi(2)
            },
            vec![-1.2, 1.0],
            Tolerances::default(),
        );
        assert!(
            (m.x[0] - 1.0).abs() < 1e-6 && (m.x[1] - 1.0).abs() < 1e-6,
            "{m:?}"
        );
        assert!(m.iterations < 100, "{} iterations", m.iterations);
    }

    #[test]
    fn backtracks_from_non_finite_values() {
        // -ln x + x has its minimum at 1 and is undefined below 0.
        let m = minimize(
            |x, g| {
                g[0] = 1.0 - 1.0 / x[0];
                if x[0] <= 0.0 {
                    f64::NAN
                } else {
                    x[0] - x[0].ln()
                }
            },
            vec![5.0],
            Tolerances::default(),
        );
        assert!((m.x[0] - 1.0).abs() < 1e-6, "{m:?}");
    }
}
