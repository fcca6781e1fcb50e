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

/// PSIS on each row's own importance weights (amortized guides, whose rows are
/// independent given the globals), summarized over the rows.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RowPsis {
    /// The rows diagnosed and the guide draws of each.
    pub rows: usize,
    pub draws: usize,
    pub median_khat: f64,
    pub q90_khat: f64,
    pub max_khat: f64,
    /// Rows whose k-hat is above [`UNRELIABLE`].
    pub unreliable: usize,
    /// The mean over the rows of the PSIS estimate of log p(x_i).
    pub log_evidence_per_row: f64,
}

/// PSIS on every row's log weights (`per_row[i]` the draws of row i); `None` when any
/// row has fewer than 10 finite weights.
pub fn per_row(per_row: &[Vec<f64>]) -> Option<RowPsis> {
    let fits: Vec<Psis> = per_row.iter().map(|w| psis(w)).collect::<Option<_>>()?;
    let mut khats: Vec<f64> = fits.iter().map(|p| p.khat).collect();
    khats.sort_by(f64::total_cmp);
    let at = |q: f64| khats[((q * (khats.len() - 1) as f64).round()) as usize];
    let rows = fits.len();
    (rows > 0).then(|| RowPsis {
        rows,
        draws: per_row[0].len(),
        median_khat: at(0.5),
        q90_khat: at(0.9),
        max_khat: khats[rows - 1],
        unreliable: khats.iter().filter(|&&k| k > UNRELIABLE).count(),
        log_evidence_per_row: fits.iter().map(|p| p.log_mean_weight).sum::<f64>() / rows as f64,
    })
}

/// The reading of per-row k-hats: reliable when at most a tenth of the rows are above
/// [`UNRELIABLE`], with what to try otherwise.
pub fn verdict_rows(summary: &RowPsis) -> &'static str {
    if summary.unreliable * 10 > summary.rows {
        "unreliable for many rows: the encoder's Gaussian misses their posteriors' shape; try a flow (`--flow iaf:2`) or a wider encoder"
    } else if summary.q90_khat <= GOOD {
        "good"
    } else {
        "ok"
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

    #[test]
    fn per_row_summary_counts_the_unreliable_rows() {
        // Nine light-tailed rows and one with Pareto(1) weights (k = 1).
        let mut rng = StdRng::seed_from_u64(3);
        let light = Normal::new(0.0, 0.3).unwrap();
        let heavy = Pareto::new(1.0, 1.0).unwrap();
        let mut rows: Vec<Vec<f64>> = (0..9)
            .map(|_| (0..2000).map(|_| light.sample(&mut rng)).collect())
            .collect();
        rows.push(
            (0..2000)
                .map(|_| Distribution::<f64>::sample(&heavy, &mut rng).ln())
                .collect(),
        );
        let s = per_row(&rows).unwrap();
        assert_eq!((s.rows, s.draws, s.unreliable), (10, 2000, 1));
        assert!(s.median_khat < GOOD && s.max_khat > UNRELIABLE, "{s:?}");
        // One row in ten is tolerated; two in eleven are not.
        assert_eq!(verdict_rows(&s), "good");
        let again = rows[9].iter().map(|v| v * 1.01).collect();
        rows.push(again);
        let s = per_row(&rows).unwrap();
        assert!(verdict_rows(&s).starts_with("unreliable"), "{s:?}");
        rows[0][3] = f64::NAN;
        assert_eq!(per_row(&rows), None);
    }
}
