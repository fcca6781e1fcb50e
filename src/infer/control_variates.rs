//! Control variates for a Monte Carlo mean whose draws are functions of standard-normal
//! noise: the regression estimator. Each draw's value is regressed on features of its
//! noise ε whose means are exactly zero (ε_i, ε_i² − 1, ε_i ε_j for i < j); the
//! intercept estimates the mean, with the residual variance in place of the raw one.
//!
//! Why it pays: under a guide close to the posterior the joint log weight
//! log p(x, z) − log q(z) of one draw is close to a quadratic in the noise (exactly so
//! for a Gaussian posterior and a Gaussian guide), and its fluctuation over draws is
//! what makes a total ELBO over hundreds of rows need thousands of passes. The quadratic
//! regression removes nearly all of it, so the final estimate of a DADVI fit meets a
//! tight total-error target in a few hundred passes.
//!
//! Where the noise is too wide for every cross product, the caller may give the
//! value's curvature in the noise at its centre (a Hessian A, by differences of the
//! gradient): the one feature ½(εᵀAε − tr A), of mean zero, carries the whole quadratic
//! part for the cost of one coefficient, and comes first.
//!
//! The features are nested, (curvature,) linear, squares, cross products, so a smaller
//! feature set's normal equations are a leading block of the largest one's: one
//! accumulator serves every set, and [`Regression::estimate`] picks the richest set
//! that the number of draws supports.

use nalgebra::{DMatrix, DVector};

/// The most features accumulated (the normal equations are (p+1)², updated per draw).
const MAX_FEATURES: usize = 120;
/// Draws per feature (and at least [`MIN_DRAWS`] in all) before a feature set is used:
/// fewer make the fitted coefficients' noise, and the residual variance's bias, matter.
const DRAWS_PER_FEATURE: usize = 4;
const MIN_DRAWS: usize = 50;

/// The widest noise whose curvature is worth forming (by 2·width passes over the data).
const MAX_CURVATURE_WIDTH: usize = 200;

/// Whether a noise of `width` values gains from a given curvature: the cross products
/// do not all fit among the features, and the Hessian is affordable.
pub fn curvature_pays(width: usize) -> bool {
    2 * width + width * width.saturating_sub(1) / 2 > MAX_FEATURES && width <= MAX_CURVATURE_WIDTH
}

/// The running normal equations of draws' values on their noise features.
#[derive(Debug, Clone)]
pub struct Regression {
    /// The noise width d.
    width: usize,
    /// The value's Hessian in the noise at its centre, d², row-major, when given.
    curvature: Option<Vec<f64>>,
    /// Features accumulated (a nested prefix of curvature, linear, squares, cross
    /// products).
    features: usize,
    /// XᵀX of the intercept and the features, (p+1)², row-major; Xᵀw; wᵀw.
    xtx: Vec<f64>,
    xtw: Vec<f64>,
    wtw: f64,
    /// Values are taken relative to the first, so that the sums keep their precision.
    origin: Option<f64>,
    draws: usize,
    row: Vec<f64>,
}

/// The regression estimate of a mean and its standard error.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Estimate {
    pub mean: f64,
    pub error: f64,
    /// The features used (0: none could be).
    pub features: usize,
}

impl Regression {
    /// A regression on noise vectors of `width` values.
    pub fn new(width: usize) -> Regression {
        Regression::with_curvature(width, None)
    }

    /// A regression on noise vectors of `width` values whose value has the Hessian
    /// `curvature` (`width`², row-major) in the noise at zero, where known.
    pub fn with_curvature(width: usize, curvature: Option<Vec<f64>>) -> Regression {
        debug_assert!(curvature.as_ref().is_none_or(|a| a.len() == width * width));
        let lead = usize::from(curvature.is_some());
        let full = lead + 2 * width + width * width.saturating_sub(1) / 2;
        let features = if full <= MAX_FEATURES {
            full
        } else {
            (lead + 2 * width).min(MAX_FEATURES)
        };
        let p = features + 1;
        Regression {
            width,
            curvature,
            features,
            xtx: vec![0.0; p * p],
            xtw: vec![0.0; p],
            wtw: 0.0,
            origin: None,
            draws: 0,
            row: Vec::with_capacity(p),
        }
    }

    /// Adds one draw: its noise (`width` values) and its value.
    pub fn add(&mut self, noise: &[f32], value: f64) {
        debug_assert_eq!(noise.len(), self.width);
        let origin = *self.origin.get_or_insert(value);
        let w = value - origin;
        let d = self.width;
        let row = &mut self.row;
        row.clear();
        row.push(1.0);
        if let Some(a) = &self.curvature {
            let mut q = 0.0;
            for i in 0..d {
                let ei = f64::from(noise[i]);
                let line: f64 = (0..d).map(|j| a[i * d + j] * f64::from(noise[j])).sum();
                q += ei * line - a[i * d + i];
            }
            row.push(0.5 * q);
        }
        row.extend(noise.iter().map(|&e| f64::from(e)));
        row.extend(noise.iter().map(|&e| f64::from(e).powi(2) - 1.0));
        'cross: for i in 0..d {
            for j in i + 1..d {
                if row.len() > self.features {
                    break 'cross;
                }
                row.push(f64::from(noise[i]) * f64::from(noise[j]));
            }
        }
        row.truncate(self.features + 1);
        let p = row.len();
        for a in 0..p {
            let ra = row[a];
            self.xtw[a] += ra * w;
            let line = &mut self.xtx[a * p..a * p + a + 1];
            for (cell, &rb) in line.iter_mut().zip(row.iter()) {
                *cell += ra * rb;
            }
        }
        self.wtw += w * w;
        self.draws += 1;
    }

    /// The feature sets the accumulator holds, smallest first: the curvature alone
    /// (when given), with the linear, then the squares, then the full quadratic.
    fn feature_sets(&self) -> impl Iterator<Item = usize> + '_ {
        let lead = usize::from(self.curvature.is_some());
        [
            lead,
            lead + self.width,
            lead + 2 * self.width,
            self.features,
        ]
        .into_iter()
        .filter(|&p| p > 0 && p <= self.features)
    }

    /// The intercept of the richest feature set the draws support, and its standard
    /// error; `None` while too few draws support any set or the equations are singular.
    pub fn estimate(&self) -> Option<Estimate> {
        let s = self.draws;
        let p = self
            .feature_sets()
            .filter(|&p| s >= MIN_DRAWS.max(DRAWS_PER_FEATURE * (p + 1)))
            .last()?;
        let q = p + 1;
        let full = self.features + 1;
        let xtx = DMatrix::from_fn(q, q, |a, b| {
            let (a, b) = if a >= b { (a, b) } else { (b, a) };
            self.xtx[a * full + b]
        });
        let xtw = DVector::from_fn(q, |a, _| self.xtw[a]);
        let chol = xtx.cholesky()?;
        let beta = chol.solve(&xtw);
        let rss = (self.wtw - beta.dot(&xtw)).max(0.0);
        let sigma2 = rss / (s - q) as f64;
        let mut e0 = DVector::zeros(q);
        e0[0] = 1.0;
        let inv00 = chol.solve(&e0)[0];
        let error = (sigma2 * inv00).sqrt();
        let mean = beta[0] + self.origin?;
        (mean.is_finite() && error.is_finite()).then_some(Estimate {
            mean,
            error,
            features: p,
        })
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand::rngs::StdRng;
    use rand_distr::{Distribution, StandardNormal};

    use super::*;

    fn noise(rng: &mut StdRng, d: usize) -> Vec<f32> {
        (0..d).map(|_| StandardNormal.sample(rng)).collect()
    }

    /// A value exactly quadratic in the noise: the full quadratic regression leaves no
    /// residual, so its mean is exact (the constant) with an error near zero, where the
    /// plain average of the same draws is off by its own Monte Carlo error.
    #[test]
    fn a_quadratic_in_the_noise_is_estimated_exactly() {
        let mut rng = StdRng::seed_from_u64(3);
        let d = 4;
        let mut reg = Regression::new(d);
        let mut plain = 0.0;
        let draws = 200;
        for _ in 0..draws {
            let e = noise(&mut rng, d);
            let x: Vec<f64> = e.iter().map(|&v| f64::from(v)).collect();
            let value = -1234.5 + 3.0 * x[0] - 2.0 * x[1] * x[1] + 0.7 * x[2] * x[3] + x[3];
            plain += value / draws as f64;
            reg.add(&e, value);
        }
        let est = reg.estimate().unwrap();
        assert_eq!(est.features, 14);
        // E[value] = −1234.5 − 2.
        assert!((est.mean - -1236.5).abs() < 1e-6, "{est:?}");
        assert!(est.error < 1e-6, "{est:?}");
        assert!((plain - -1236.5).abs() > 1e-3, "{plain}");
    }

    /// A noise too wide for every cross product: the regression without the curvature
    /// keeps the cross terms' variance, the one curvature feature removes it.
    #[test]
    fn a_known_curvature_carries_the_cross_products_of_a_wide_noise() {
        let mut rng = StdRng::seed_from_u64(11);
        let d = 20;
        // value = 5 + ½ εᵀAε with A = I + 0.3·(ones − I): E[value] = 5 + ½ tr A = 15.
        let a: Vec<f64> = (0..d * d)
            .map(|k| if k / d == k % d { 1.0 } else { 0.3 })
            .collect();
        let mut with = Regression::with_curvature(d, Some(a.clone()));
        let mut without = Regression::new(d);
        for _ in 0..400 {
            let e = noise(&mut rng, d);
            let x: Vec<f64> = e.iter().map(|&v| f64::from(v)).collect();
            let q: f64 = (0..d * d).map(|k| x[k / d] * a[k] * x[k % d]).sum();
            with.add(&e, 5.0 + 0.5 * q);
            without.add(&e, 5.0 + 0.5 * q);
        }
        assert_eq!(without.features, 2 * d);
        let w = with.estimate().unwrap();
        assert!((w.mean - 15.0).abs() < 1e-6 && w.error < 1e-6, "{w:?}");
        let wo = without.estimate().unwrap();
        assert!(wo.error > 0.1, "{wo:?}");
    }

    /// With a non-quadratic value the estimate stays unbiased and its stated error is
    /// honest: over many independent repetitions the estimates' spread matches the
    /// mean stated error (within 20%) and their mean is within 3 standard errors of the
    /// exact mean, E[exp(ε₀/2) + ε₁³] = exp(1/8).
    #[test]
    fn the_stated_error_matches_the_spread_of_repeated_estimates() {
        let mut rng = StdRng::seed_from_u64(5);
        let exact = (0.125f64).exp();
        let reps = 400;
        let (mut means, mut errors) = (Vec::new(), Vec::new());
        for _ in 0..reps {
            let mut reg = Regression::new(2);
            for _ in 0..200 {
                let e = noise(&mut rng, 2);
                let value = (0.5 * f64::from(e[0])).exp() + f64::from(e[1]).powi(3);
                reg.add(&e, value);
            }
            let est = reg.estimate().unwrap();
            means.push(est.mean);
            errors.push(est.error);
        }
        let m = means.iter().sum::<f64>() / reps as f64;
        let spread =
            (means.iter().map(|v| (v - m).powi(2)).sum::<f64>() / (reps - 1) as f64).sqrt();
        let stated = errors.iter().sum::<f64>() / reps as f64;
        assert!((spread / stated - 1.0).abs() < 0.2, "{spread} {stated}");
        assert!(
            (m - exact).abs() < 3.0 * spread / (reps as f64).sqrt(),
            "{m}"
        );
    }

    /// Too few draws for any feature set give no estimate; a wide noise keeps the
    /// squares but not the cross products.
    #[test]
    fn feature_sets_follow_the_draws_and_the_width() {
        let mut rng = StdRng::seed_from_u64(7);
        let mut reg = Regression::new(3);
        for _ in 0..10 {
            reg.add(&noise(&mut rng, 3), 1.0);
        }
        assert!(reg.estimate().is_none());
        assert_eq!(Regression::new(40).features, 80);
        assert_eq!(Regression::new(100).features, MAX_FEATURES);
    }
}
