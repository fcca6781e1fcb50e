//! Pareto-smoothed importance sampling (Vehtari, Simpson, Gelman, Yao & Gabry 2024;
//! Yao et al. 2018 for its use as a VI diagnostic): fit a generalized Pareto
//! distribution to the largest importance ratios (Zhang & Stephens 2009, with the
//! weakly informative prior of the `loo` package), report its shape k-hat, and smooth
//! the tail to estimate log p(x).
//!
//! It sees only a vector of log weights; it must not know where they came from.

/// rstan's thresholds: below `GOOD` the importance weights are reliable, above
/// `UNRELIABLE` the approximation is not.
pub const GOOD: f64 = 0.5;
pub const UNRELIABLE: f64 = 0.7;

/// The Pareto shape of the weights' tail and the PSIS estimate of log E[w].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Psis {
    pub khat: f64,
    pub log_mean_weight: f64,
}

/// Zhang & Stephens' posterior-mean estimate of (k, sigma) for exceedances sorted
/// ascending, all ≥ 0, the largest > 0.
fn gpd_fit(x: &[f64]) -> (f64, f64) {
    let n = x.len();
    let nf = n as f64;
    let m = 30 + (nf.sqrt() as usize);
    let quartile = x[((nf / 4.0 + 0.5) as usize).saturating_sub(1).min(n - 1)];
    let largest = x[n - 1];
    let bs: Vec<f64> = (1..=m)
        .map(|j| {
            let b = 1.0 - (m as f64 / (j as f64 - 0.5)).sqrt();
            b / (3.0 * quartile.max(1e-300)) + 1.0 / largest
        })
        .collect();
    let ks: Vec<f64> = bs
        .iter()
        .map(|&b| x.iter().map(|&v| (-b * v).ln_1p()).sum::<f64>() / nf)
        .collect();
    let profile: Vec<f64> = bs
        .iter()
        .zip(&ks)
        .map(|(&b, &k)| nf * ((-b / k).ln() - k - 1.0))
        .collect();
    let weights: Vec<f64> = profile
        .iter()
        .map(|&l| {
            let s: f64 = profile.iter().map(|&lj| (lj - l).exp()).sum();
            let w = 1.0 / s;
            if w.is_finite() { w } else { 0.0 }
        })
        .collect();
    let total: f64 = weights.iter().sum();
    let b: f64 = bs.iter().zip(&weights).map(|(b, w)| b * w).sum::<f64>() / total;
    let k = x.iter().map(|&v| (-b * v).ln_1p()).sum::<f64>() / nf;
    let sigma = -k / b;
    // The prior pulls k towards 0.5 with the weight of 10 observations.
    ((nf * k + 10.0 * 0.5) / (nf + 10.0), sigma)
}

/// PSIS on `log_weights` (at least 10 finite values); `None` otherwise.
pub fn psis(log_weights: &[f64]) -> Option<Psis> {
    let mut lw: Vec<f64> = log_weights.to_vec();
    let s = lw.len();
    if s < 10 || lw.iter().any(|v| !v.is_finite()) {
        return None;
    }
    let max = lw.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    for v in lw.iter_mut() {
        *v -= max;
    }
    lw.sort_by(f64::total_cmp);
    let tail = ((0.2 * s as f64).min(3.0 * (s as f64).sqrt()).ceil() as usize).max(5);
    let tail = tail.min(s - 1);
    let cutoff = lw[s - tail - 1].exp();
    let exceed: Vec<f64> = lw[s - tail..].iter().map(|v| v.exp() - cutoff).collect();
    if exceed[tail - 1] <= 0.0 {
        // All the largest weights are equal: no tail at all.
        return Some(Psis {
            khat: f64::NEG_INFINITY,
            log_mean_weight: max + log_mean_exp(&lw),
        });
    }
    let (khat, sigma) = gpd_fit(&exceed);
    if khat.is_finite() && sigma.is_finite() && sigma > 0.0 {
        for (i, v) in lw[s - tail..].iter_mut().enumerate() {
            let p = (i as f64 + 0.5) / tail as f64;
            let q = if khat.abs() < 1e-12 {
                -sigma * (-p).ln_1p()
            } else {
                sigma * ((1.0 - p).powf(-khat) - 1.0) / khat
            };
            *v = (q + cutoff).ln().min(0.0);
        }
    }
    Some(Psis {
        khat,
        log_mean_weight: max + log_mean_exp(&lw),
    })
}

fn log_mean_exp(values: &[f64]) -> f64 {
    let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let sum: f64 = values.iter().map(|v| (v - max).exp()).sum();
    max + (sum / values.len() as f64).ln()
}

/// rstan's reading of a k-hat, with what to try.
pub fn verdict(khat: f64) -> &'static str {
    if khat <= GOOD {
        "good"
    } else if khat <= UNRELIABLE {
        "ok"
    } else {
        "unreliable: the guide misses the posterior's shape; try `globals = full` or a global flow"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;
    use rand_distr::{Distribution, Normal, Pareto};

    #[test]
    fn light_tailed_weights_have_a_small_khat() {
        // log w ~ N(0, 0.3²): lognormal weights, all moments finite.
        let mut rng = StdRng::seed_from_u64(1);
        let d = Normal::new(0.0, 0.3).unwrap();
        let lw: Vec<f64> = (0..4000).map(|_| d.sample(&mut rng)).collect();
        let p = psis(&lw).unwrap();
        assert!(p.khat < 0.5, "{}", p.khat);
        // E[w] = exp(σ²/2).
        assert!(
            (p.log_mean_weight - 0.045).abs() < 0.02,
            "{}",
            p.log_mean_weight
        );
    }

    #[test]
    fn pareto_weights_recover_their_shape() {
        // Pareto(α) weights have tail shape k = 1/α.
        let mut rng = StdRng::seed_from_u64(2);
        for (alpha, k) in [(1.0, 1.0), (1.25, 0.8), (4.0, 0.25)] {
            let d = Pareto::new(1.0, alpha).unwrap();
            let lw: Vec<f64> = (0..10_000)
                .map(|_| Distribution::<f64>::sample(&d, &mut rng).ln())
                .collect();
            let p = psis(&lw).unwrap();
            assert!((p.khat - k).abs() < 0.15, "alpha {alpha}: {}", p.khat);
        }
    }
}
