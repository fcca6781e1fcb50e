//! The picture of a fit (`vic plot`): its ELBO trace — training and held-out, with the
//! step-size halvings marked — and, for a model with globals, each global element's
//! posterior density from guide draws.

use super::canvas::Rgb;
use super::chart::{Figure, Marks, Panel, Series};
use crate::infer::fitfile::TraceRecord;

const TRAINING: Rgb = Rgb(31, 119, 180);
const HELD_OUT: Rgb = Rgb(230, 120, 20);
const HALVING: Rgb = Rgb(150, 150, 150);
const DENSITY: Rgb = Rgb(44, 140, 60);
/// Grid points of a density curve.
const DENSITY_POINTS: usize = 160;

/// Draws of one global element, on its support, named as in the summary (`beta[2]`).
pub struct Draws {
    pub name: String,
    pub values: Vec<f64>,
}

/// The ELBO panel of `trace`, then a density panel per element of `globals`, two to a row.
pub fn figure(trace: &[TraceRecord], globals: &[Draws]) -> Figure {
    let mut panels = vec![elbo_panel(trace)];
    panels.extend(globals.iter().map(density_panel));
    let columns = if panels.len() == 1 { 1 } else { 2 };
    Figure { panels, columns }
}

fn elbo_panel(trace: &[TraceRecord]) -> Panel {
    let training: Vec<(f64, f64)> = trace.iter().map(|p| (p.step as f64, p.elbo)).collect();
    let held_out: Vec<(f64, f64)> = trace
        .iter()
        .filter_map(|p| Some((p.step as f64, p.valid_elbo?)))
        .collect();
    let halvings = halvings(trace).into_iter().map(|s| s as f64).collect();
    let mut series = vec![Series {
        label: "training".into(),
        color: TRAINING,
        points: training,
        dots: trace.len() == 1,
    }];
    if !held_out.is_empty() {
        series.push(Series {
            label: "held-out".into(),
            color: HELD_OUT,
            dots: held_out.len() == 1,
            points: held_out,
        });
    }
    Panel {
        title: "ELBO per row".into(),
        x_label: "step".into(),
        y_label: String::new(),
        y_range: elbo_range(trace),
        series,
        marks: Some(Marks {
            label: "step size halved".into(),
            color: HALVING,
            at: halvings,
        }),
    }
}

/// The steps of the trace records where the step size had fallen since the record
/// before (a thinned trace places a halving at the first record after it).
pub fn halvings(trace: &[TraceRecord]) -> Vec<u64> {
    trace
        .windows(2)
        .filter(|w| matches!((w[0].lr, w[1].lr), (Some(a), Some(b)) if b < a))
        .map(|w| w[1].step)
        .collect()
}

/// The ELBO axis leaves out the first tenth of the steps, where the ELBO climbs from
/// far below and would flatten the rest of the curve.
fn elbo_range(trace: &[TraceRecord]) -> Option<(f64, f64)> {
    let last = trace.last()?.step as f64;
    let values = |after: f64| {
        trace
            .iter()
            .filter(move |p| p.step as f64 >= after)
            .flat_map(|p| [Some(p.elbo), p.valid_elbo])
            .flatten()
            .filter(|v| v.is_finite())
    };
    let lo = values(0.1 * last).fold(f64::INFINITY, f64::min);
    let hi = values(0.0).fold(f64::NEG_INFINITY, f64::max);
    let pad = 0.05 * (hi - lo).max(1e-9);
    (lo.is_finite() && hi.is_finite()).then_some((lo - pad, hi + pad))
}

fn density_panel(draws: &Draws) -> Panel {
    let curve = density(&draws.values);
    Panel {
        title: format!("posterior of {}", draws.name),
        x_label: draws.name.clone(),
        y_label: "density".into(),
        marks: None,
        // Densities from zero.
        y_range: Some((0.0, 1.05 * curve.iter().map(|p| p.1).fold(0.0, f64::max))),
        series: vec![Series {
            label: "guide".into(),
            color: DENSITY,
            points: curve,
            dots: false,
        }],
    }
}

/// A Gaussian kernel density estimate of `values` (Silverman's bandwidth) on a grid
/// from their 0.2% to their 99.8% quantile, so a curve stays inside a bounded support.
pub fn density(values: &[f64]) -> Vec<(f64, f64)> {
    let mut sorted: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
    if sorted.len() < 2 {
        return Vec::new();
    }
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len() as f64;
    let mean = sorted.iter().sum::<f64>() / n;
    let sd = (sorted.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt();
    let quantile = |p: f64| sorted[((n - 1.0) * p).round() as usize];
    let iqr = quantile(0.75) - quantile(0.25);
    let spread = if iqr > 0.0 { sd.min(iqr / 1.34) } else { sd };
    let h = 0.9 * spread * n.powf(-0.2);
    let (lo, hi) = (quantile(0.002), quantile(0.998));
    if !(h > 0.0 && hi > lo) {
        return vec![(lo, 0.0)];
    }
    let norm = 1.0 / (n * h * (2.0 * std::f64::consts::PI).sqrt());
    (0..DENSITY_POINTS)
        .map(|i| {
            let x = lo + (hi - lo) * i as f64 / (DENSITY_POINTS - 1) as f64;
            let d: f64 = sorted
                .iter()
                .map(|v| (-0.5 * ((x - v) / h).powi(2)).exp())
                .sum();
            (x, d * norm)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_density_of_normal_draws_peaks_near_the_normal_density() {
        use rand::SeedableRng;
        use rand_distr::{Distribution, StandardNormal};
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        let draws: Vec<f64> = (0..4000).map(|_| StandardNormal.sample(&mut rng)).collect();
        let curve = density(&draws);
        assert_eq!(curve.len(), DENSITY_POINTS);
        let peak = curve
            .iter()
            .copied()
            .fold((0.0, 0.0), |a, b| if b.1 > a.1 { b } else { a });
        assert!(peak.0.abs() < 0.2, "peak at {}", peak.0);
        let exact = 1.0 / (2.0 * std::f64::consts::PI).sqrt();
        assert!(
            (peak.1 - exact).abs() < 0.03,
            "peak {} against {exact}",
            peak.1
        );
        // It integrates to about the 99.6% of the mass inside the grid.
        let dx = curve[1].0 - curve[0].0;
        let mass: f64 = curve.iter().map(|p| p.1 * dx).sum();
        assert!((mass - 0.996).abs() < 0.02, "mass {mass}");
    }

    #[test]
    fn halvings_are_marked_where_the_step_size_falls() {
        let point = |step, lr| TraceRecord {
            epoch: step as usize,
            step,
            elbo: -1.0,
            valid_elbo: None,
            lr,
        };
        let trace = [
            point(10, Some(1e-3)),
            point(20, Some(1e-3)),
            point(30, Some(5e-4)),
        ];
        let f = figure(&trace, &[]);
        assert_eq!(f.panels[0].marks.as_ref().unwrap().at, [30.0]);
    }
}
