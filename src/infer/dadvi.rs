//! Deterministic ADVI (DADVI; Giordano, Ingram & Broderick, JMLR 2024; "SAA for VI",
//! Burroni, Domke & Sheldon 2024) for guides without amortized locals: every noise
//! leaf is filled once with M standard-normal draws per row and kept, which makes the
//! ELBO estimate a deterministic smooth function of the parameters; L-BFGS
//! ([`super::optim`]) maximizes it in `f64` to a gradient-norm criterion. It is
//! evaluated over tiles of whole rows (each with all its draws), summed in tile order:
//! one compiled session the size of a tile, whatever rows × draws come to.
//!
//! The draws are antithetic pairs whose second moments are matched to the identity
//! per row (when M/2 is at least the leaf's width), so the sample average is exact for
//! every term that is quadratic in the noise (a Gaussian likelihood of a linear
//! predictor, Gaussian priors, the Gaussian entropy): the remaining Monte Carlo error
//! comes only from curvature beyond second order.
//!
//! After a solve, the Monte Carlo error of the globals' means that the fixed draws
//! cause is estimated by the sandwich formula H⁻¹ V H⁻¹ / K over the K antithetic
//! pairs (V the sum over rows of each row's gradient covariance over its own pairs, H
//! the Hessian by finite differences of the f64 gradient); while it exceeds
//! [`MAX_RELATIVE_ERROR`] of a posterior sd, M grows (at least twofold, to the M the
//! estimate asks for) and the objective is re-solved from the last solution with the
//! last Hessian as L-BFGS's initial inverse Hessian. The sensitivity always runs on
//! the first solve's draws (scaled by sqrt(M₀/M)), so a grown M costs only its solve.
//! The same Hessian gives the linear-response covariance of the globals (Giordano et
//! al. 2018).
//!
//! This module never prints; progress goes to the [`Observer`] once per solve.

use std::time::Instant;

use rand::Rng;
use rand_distr::{Distribution, StandardNormal};

use crate::check::ModelInfo;
use crate::dist::transform::Transform;
use crate::ir::ParamId;
use crate::objective::ElboGraph;

use super::data::Dataset;
use super::limits::{self, TooLarge};
use super::optim::{self, Stop, Tolerances};
use super::schedule::StopReason;
use super::session::{Session, Threads};
use super::train::{
    FitOptions, INIT_STREAM, NonFinite, Observer, Outcome, Progress, TracePoint, Training, stream,
};

const DRAW_STREAM: u64 = 21;
/// Draws per row at the first solve: DADVI's 30 for small data, fewer for many rows
/// (each row has its own draws, so the Monte Carlo error falls with rows × draws),
/// at least [`MIN_DRAWS`] and, for fewer than 250 rows, at least twice the widest
/// noise leaf; M then grows while the estimated error says so.
const FIRST_DRAWS: usize = 30;
/// Two antithetic pairs per row: the fewest from which each row's own Monte Carlo
/// variance (behind the error estimate) can be estimated.
const MIN_DRAWS: usize = 4;
/// Rows × draws aimed at by the first solve.
const FIRST_ROW_DRAWS: usize = 1000;
/// The largest M tried.
const MAX_DRAWS: usize = 1024;
/// The Monte Carlo error of a global's mean the fixed draws may cause, in its sds.
pub const MAX_RELATIVE_ERROR: f64 = 0.1;
/// The most parameters for which the Hessian is formed (by 2P gradients).
const MAX_HESSIAN_PARAMS: usize = 400;

/// Whether DADVI applies: the guide has no amortized locals (an encoder's noise would
/// tie the draws to a network whose stochastic fit this does not replace).
pub fn applies(elbo: &ElboGraph) -> bool {
    elbo.noise.amortized.is_none()
}

/// What DADVI adds to a [`Training`].
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct DadviFigures {
    /// Draws per row of the last solve.
    pub draws: usize,
    /// The largest Monte Carlo standard error of a global's mean caused by the fixed
    /// draws, in that global's posterior sds (unconstrained scale); `None` when the
    /// Hessian was too large to form.
    pub mean_error: Option<f64>,
    /// Per global coordinate (declaration order), the linear-response sd on the
    /// unconstrained scale, when asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lr_sd: Option<Vec<f64>>,
    /// The linear-response covariance of the globals' unconstrained values, row-major.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lr_cov: Option<Vec<f64>>,
}

/// Batch rows (data rows × their draws) evaluated at a time: every node's values and
/// gradients for a tile stay in the cache (a few MiB in `f64`), where one pass over
/// all rows × draws at once would stream each node through memory.
const TILE_BATCH_ROWS: usize = 1024;

/// The sample-average ELBO of one fixed set of draws, in `f64`, evaluated over tiles
/// of whole data rows (each with all its draws) and summed in tile order.
struct Saa<'a> {
    session: Session<f64>,
    data: &'a Dataset,
    rows: usize,
    draws: usize,
    /// The data rows of each tile.
    tiles: Vec<Vec<usize>>,
    /// Per tile, per noise leaf (the session's order), its draws laid out as the tile's
    /// batch: `[draw · tile rows + row, width]`.
    noise: Vec<Vec<Vec<f64>>>,
}

impl<'a> Saa<'a> {
    fn new(elbo: &ElboGraph, data: &'a Dataset, draws: usize, rng: &mut impl Rng) -> Saa<'a> {
        let n = data.rows;
        let per_tile = (TILE_BATCH_ROWS / draws).clamp(1, n.max(1));
        let all_rows: Vec<usize> = (0..n).collect();
        let tiles: Vec<Vec<usize>> = all_rows.chunks(per_tile).map(<[usize]>::to_vec).collect();
        // Two threads pay where they do for a training step of the whole evaluation's
        // rows: each tile's hand-off is small beside an evaluation's work (measured: nes,
        // 4 tiles of 1024 batch rows, 0.41 s on one thread, 0.24 s on two).
        let threads = Threads::get().for_step(&elbo.graph, n * draws);
        let session = Session::with_threads_in(elbo, per_tile, draws, threads);
        let mut noise = vec![Vec::new(); tiles.len()];
        for &id in session.noises() {
            let width = session.graph().noise_info(id).shape.cols;
            let mut all = vec![0.0; n * draws * width];
            fill_matched(&mut all, n, draws, width, rng);
            for (tile, leaves) in tiles.iter().zip(noise.iter_mut()) {
                let t = tile.len();
                let mut buf = vec![0.0; t * draws * width];
                for s in 0..draws {
                    let from = (s * n + tile[0]) * width;
                    buf[s * t * width..(s + 1) * t * width]
                        .copy_from_slice(&all[from..from + t * width]);
                }
                leaves.push(buf);
            }
        }
        Saa {
            session,
            data,
            rows: n,
            draws,
            tiles,
            noise,
        }
    }

    fn set(&mut self, x: &[f64]) {
        self.session.exec_mut().params_mut().copy_from_slice(x);
    }

    /// Loads tile `t`'s rows and draws.
    fn load(&mut self, t: usize) {
        self.session
            .load_batch(self.data, &self.tiles[t], self.draws, self.rows);
        for l in 0..self.noise[t].len() {
            let id = self.session.noises()[l];
            self.session.set_noise(id, &self.noise[t][l]);
        }
    }

    /// −ELBO at `x` and its gradient: each tile's objective counts its rows n/rows
    /// times, so its share is rows/n.
    fn negative(&mut self, x: &[f64], grad: &mut [f64]) -> f64 {
        self.set(x);
        grad.fill(0.0);
        let mut value = 0.0;
        for t in 0..self.tiles.len() {
            self.load(t);
            let share = self.tiles[t].len() as f64 / self.rows as f64;
            value += share * self.session.forward_backward();
            for (g, &d) in grad.iter_mut().zip(self.session.exec().param_grads()) {
                *g -= share * d;
            }
        }
        if !value.is_finite() {
            return f64::NAN;
        }
        -value
    }

    /// The first node, tile by tile, whose value at `x` is not finite.
    fn first_non_finite(&mut self, x: &[f64]) -> Option<crate::ir::NodeId> {
        self.set(x);
        (0..self.tiles.len()).find_map(|t| {
            self.load(t);
            self.session.forward_backward();
            self.session.exec().first_non_finite()
        })
    }

    /// Each row's ELBO term at `x` for each antithetic pair of its draws,
    /// `[pair · rows + row]`: the objective is the sum over rows of each row's mean over
    /// its pairs, and rows' draws are independent, so the objective's Monte Carlo
    /// variance is the sum of the rows' own.
    fn per_row_pair(&mut self, x: &[f64]) -> Vec<f64> {
        self.set(x);
        let n = self.rows;
        let half = self.draws / 2;
        let mut out = vec![0.0; half * n];
        for t in 0..self.tiles.len() {
            // Both threads' halves (a helper runs forward and backward together).
            self.load(t);
            self.session.forward_backward();
            let local = self.session.batch_values(self.session.local);
            let global = self.session.batch_values(self.session.global);
            let rows = &self.tiles[t];
            let c = rows.len();
            // A closed-form KL (`--kl analytic`) makes the global term one value for
            // the whole data, the same under every draw: it adds nothing to the variance.
            let per_draw = global.len() == local.len();
            let term = |v: usize| local[v] + if per_draw { global[v] / n as f64 } else { 0.0 };
            for p in 0..half {
                for (j, &i) in rows.iter().enumerate() {
                    out[p * n + i] = 0.5 * (term(p * c + j) + term((p + half) * c + j));
                }
            }
        }
        out
    }
}

/// Fills a `[draws · rows, width]` noise buffer (row `s · rows + i` is draw `s` of row
/// `i`) with antithetic pairs: for each row, K = draws/2 standard-normal vectors, made
/// to have second-moment matrix exactly I (Cholesky whitening) when K ≥ width, or
/// unit second moment per coordinate otherwise, then the K negated.
fn fill_matched(buf: &mut [f64], rows: usize, draws: usize, width: usize, rng: &mut impl Rng) {
    let half = draws / 2;
    let mut z = vec![0.0f64; half * width];
    let mut s = vec![0.0f64; width * width];
    for i in 0..rows {
        for v in z.iter_mut() {
            *v = StandardNormal.sample(rng);
        }
        if half >= width {
            for a in 0..width {
                for b in 0..=a {
                    s[a * width + b] = (0..half)
                        .map(|k| z[k * width + a] * z[k * width + b])
                        .sum::<f64>()
                        / half as f64;
                }
            }
            if cholesky(&mut s, width) {
                for k in 0..half {
                    forward_substitute(&s, width, &mut z[k * width..(k + 1) * width]);
                }
            }
        } else {
            for a in 0..width {
                let ms = (0..half).map(|k| z[k * width + a].powi(2)).sum::<f64>() / half as f64;
                let scale = 1.0 / ms.sqrt().max(1e-300);
                for k in 0..half {
                    z[k * width + a] *= scale;
                }
            }
        }
        for k in 0..half {
            let src = &z[k * width..(k + 1) * width];
            let pos = (k * rows + i) * width;
            let neg = ((k + half) * rows + i) * width;
            buf[pos..pos + width].copy_from_slice(src);
            for (d, v) in buf[neg..neg + width].iter_mut().zip(src) {
                *d = -v;
            }
        }
    }
}

/// In-place lower Cholesky factor of the symmetric `a` (lower triangle read); false if
/// it is not positive definite.
fn cholesky(a: &mut [f64], n: usize) -> bool {
    for j in 0..n {
        let mut d = a[j * n + j];
        for k in 0..j {
            d -= a[j * n + k] * a[j * n + k];
        }
        if d <= 0.0 || !d.is_finite() {
            return false;
        }
        let d = d.sqrt();
        a[j * n + j] = d;
        for i in j + 1..n {
            let mut v = a[i * n + j];
            for k in 0..j {
                v -= a[i * n + k] * a[j * n + k];
            }
            a[i * n + j] = v / d;
        }
    }
    true
}

/// Solves L y = b in place (L lower-triangular, row-major).
fn forward_substitute(l: &[f64], n: usize, b: &mut [f64]) {
    for i in 0..n {
        let mut v = b[i];
        for k in 0..i {
            v -= l[i * n + k] * b[k];
        }
        b[i] = v / l[i * n + i];
    }
}

/// Solves Lᵀ y = b in place.
fn back_substitute(l: &[f64], n: usize, b: &mut [f64]) {
    for i in (0..n).rev() {
        let mut v = b[i];
        for k in i + 1..n {
            v -= l[k * n + i] * b[k];
        }
        b[i] = v / l[i * n + i];
    }
}

/// Where the globals' guide parameters sit in the flat vector, and the posterior sd of
/// each unconstrained global coordinate under the guide.
struct GlobalLayout {
    loc: std::ops::Range<usize>,
    sd: Vec<f64>,
}

fn global_layout(saa: &Saa, x: &[f64]) -> Option<GlobalLayout> {
    let exec = saa.session.exec();
    let range_of = |name: &str| {
        let i = exec.graph().params().iter().position(|p| p.name == name)?;
        Some(exec.param_range(ParamId(i as u32)))
    };
    let loc = range_of("guide.globals.loc")?;
    let d = loc.len();
    let softplus = |v: f64| if v > 30.0 { v } else { v.exp().ln_1p() };
    let sd = if let Some(scale) = range_of("guide.globals.scale") {
        x[scale].iter().map(|&v| softplus(v)).collect()
    } else {
        let chol = range_of("guide.globals.chol")?;
        let raw = &x[chol];
        (0..d)
            .map(|i| {
                let diag = softplus(raw[i * d + i] + f64::from(crate::guide::INIT_RAW_SCALE));
                let off: f64 = (0..i).map(|j| raw[i * d + j].powi(2)).sum();
                (diag * diag + off).sqrt()
            })
            .collect()
    };
    Some(GlobalLayout { loc, sd })
}

/// The Hessian of −ELBO at `x` by forward differences of the f64 gradient (P
/// gradients beside the one at `x`; exact for the quadratic parts, O(h) elsewhere with
/// h = 1e-6 relative), symmetrized.
fn hessian(saa: &mut Saa, x: &[f64]) -> Vec<f64> {
    let p = x.len();
    let mut h = vec![0.0; p * p];
    let mut xp = x.to_vec();
    let mut g0 = vec![0.0; p];
    let mut gp = vec![0.0; p];
    saa.negative(x, &mut g0);
    for j in 0..p {
        let step = 1e-6 * x[j].abs().max(1.0);
        xp[j] = x[j] + step;
        saa.negative(&xp, &mut gp);
        xp[j] = x[j];
        for i in 0..p {
            h[i * p + j] = (gp[i] - g0[i]) / step;
        }
    }
    for i in 0..p {
        for j in 0..i {
            let v = 0.5 * (h[i * p + j] + h[j * p + i]);
            h[i * p + j] = v;
            h[j * p + i] = v;
        }
    }
    h
}

/// The Monte Carlo error of the global means (relative to their sds, the largest) and
/// their linear-response covariance, from the Hessian at the optimum `x`.
struct Sensitivity {
    relative_error: f64,
    lr_cov: Vec<f64>,
    /// The Hessian's Cholesky factor (row-major lower), which preconditions the next
    /// solve.
    hessian_factor: Vec<f64>,
}

fn sensitivity(saa: &mut Saa, x: &[f64], layout: &GlobalLayout) -> Option<Sensitivity> {
    let p = x.len();
    if p > MAX_HESSIAN_PARAMS || saa.draws < 4 {
        return None;
    }
    let mut l = hessian(saa, x);
    if !cholesky(&mut l, p) {
        return None;
    }
    let d = layout.loc.len();
    // Columns of H⁻¹ for the global means.
    let columns: Vec<Vec<f64>> = layout
        .loc
        .clone()
        .map(|j| {
            let mut e = vec![0.0; p];
            e[j] = 1.0;
            forward_substitute(&l, p, &mut e);
            back_substitute(&l, p, &mut e);
            e
        })
        .collect();
    let mut lr_cov = vec![0.0; d * d];
    for a in 0..d {
        for b in 0..d {
            lr_cov[a * d + b] = columns[a][layout.loc.start + b];
        }
    }
    let mut worst = 0.0f64;
    let mut xs = x.to_vec();
    for (a, u) in columns.iter().enumerate() {
        let norm = u.iter().map(|v| v * v).sum::<f64>().sqrt();
        if norm == 0.0 || !norm.is_finite() {
            return None;
        }
        // A step of 1e-5 along the unit direction u/|u|.
        let step = 1e-5;
        for ((t, xi), ui) in xs.iter_mut().zip(x).zip(u) {
            *t = xi + step * ui / norm;
        }
        let plus = saa.per_row_pair(&xs);
        for ((t, xi), ui) in xs.iter_mut().zip(x).zip(u) {
            *t = xi - step * ui / norm;
        }
        let minus = saa.per_row_pair(&xs);
        // uᵀ∇f_ki per row i and pair k; the error of the objective's slope is the sum
        // over rows of each row's slope variance over its K pairs, divided by K.
        let (n, k) = (saa.rows, saa.draws / 2);
        let slope = |v: usize| (plus[v] - minus[v]) / (2.0 * step) * norm;
        let var: f64 = (0..n)
            .map(|i| {
                let mean = (0..k).map(|p| slope(p * n + i)).sum::<f64>() / k as f64;
                let ss: f64 = (0..k).map(|p| (slope(p * n + i) - mean).powi(2)).sum();
                ss / (k - 1) as f64 / k as f64
            })
            .sum();
        worst = worst.max(var.sqrt() / layout.sd[a]);
    }
    Some(Sensitivity {
        relative_error: worst,
        lr_cov,
        hessian_factor: l,
    })
}

/// The result of a DADVI fit.
pub struct Dadvi {
    pub training: Training,
    pub figures: DadviFigures,
}

/// Fits the ELBO graph to `data` by DADVI. `lr` asks for the linear-response
/// covariance of the globals.
pub fn fit(
    elbo: &ElboGraph,
    data: &Dataset,
    options: &FitOptions,
    lr: bool,
    observer: &mut dyn Observer,
) -> Result<Dadvi, TooLarge> {
    let start = Instant::now();
    let n = data.rows.max(1);
    // Twice the widest noise leaf lets each row's draws' second moments be matched
    // exactly; with many rows the per-row errors of per-coordinate matching average
    // out over the rows (and the error estimate doubles M if they do not), so the
    // floor applies only while rows × MIN_DRAWS is below FIRST_ROW_DRAWS.
    let widest = elbo
        .noise
        .in_graph_order()
        .iter()
        .map(|leaf| elbo.graph.noise_info(leaf.id).shape.cols)
        .max()
        .unwrap_or(1);
    let mut draws = FIRST_ROW_DRAWS
        .div_ceil(n)
        .clamp(MIN_DRAWS, FIRST_DRAWS)
        .max(if n * MIN_DRAWS >= FIRST_ROW_DRAWS {
            0
        } else {
            2 * widest
        });
    draws += draws % 2;
    limits::check_rows(&elbo.graph, n * draws, || {
        format!("deterministic ADVI over {n} rows with {draws} draws each")
    })?;
    let mut rng = stream(options.seed, DRAW_STREAM);
    let mut x: Vec<f64> = {
        let mut exec = crate::autodiff::Executor::<f64>::new(elbo.graph.clone(), 1);
        exec.init_params(&mut stream(options.seed, INIT_STREAM));
        if let Some(start) = &options.start {
            super::session::load_named_params(&mut exec, start)
                .expect("internal: fit checks resumed parameters against the graph");
        }
        exec.params().to_vec()
    };
    let mut trace = Vec::new();
    let mut iterations = 0u64;
    let mut solves = 0usize;
    let mut factor: Option<Vec<f64>> = None;
    let mut probe: Option<Saa> = None;
    let (outcome, saa, figures) = loop {
        let mut saa = Saa::new(elbo, data, draws, &mut rng);
        let solve_start = Instant::now();
        // A re-solve starts from the last solution with the last Hessian as L-BFGS's
        // initial inverse Hessian: its first steps are Newton steps.
        let h0 = |v: &mut [f64]| {
            if let Some(l) = &factor {
                forward_substitute(l, v.len(), v);
                back_substitute(l, v.len(), v);
            }
        };
        let precondition = factor.is_some().then_some(&h0 as optim::Preconditioner<'_>);
        let min = optim::minimize_preconditioned(
            |x, g| saa.negative(x, g),
            x.clone(),
            Tolerances::default(),
            precondition,
        );
        solves += 1;
        iterations += min.iterations as u64;
        if min.stop == Stop::NonFinite {
            let node = saa.first_non_finite(&x);
            let exec = saa.session.exec();
            let outcome = Outcome::NonFinite(NonFinite {
                step: iterations + 1,
                node,
                label: node.and_then(|id| exec.graph().node(id).label.clone()),
                origin: node.and_then(|id| exec.graph().blame(id)),
            });
            let figures = DadviFigures {
                draws,
                mean_error: None,
                lr_sd: None,
                lr_cov: None,
            };
            break (outcome, saa, figures);
        }
        x = min.x;
        let elbo_per_row = -min.value / n as f64;
        trace.push(TracePoint {
            epoch: solves,
            step: iterations,
            elbo: elbo_per_row,
            valid_elbo: None,
            lr: None,
        });
        let seconds = solve_start.elapsed().as_secs_f64().max(1e-9);
        observer.epoch(&Progress {
            epoch: solves,
            epochs: None,
            step: iterations,
            elbo: elbo_per_row,
            rows_per_second: (n * draws) as f64 * min.evaluations as f64 / seconds,
            lr: 0.0,
            valid_elbo: None,
        });
        let layout = global_layout(&saa, &x);
        // The sensitivity (P + 1 gradients and 2 forward passes per global) runs on the
        // first solve's draws, at the current solution: the Hessian needs no more
        // draws than those, and each row's Monte Carlo variance per antithetic pair is
        // a property of the row, so the error at M draws is the first draws' error
        // times sqrt(M₀ / M). A grown M thus costs its solve, not a sensitivity at M.
        let sens = match (layout.as_ref(), probe.as_mut()) {
            (Some(l), Some(first)) => sensitivity(first, &x, l).map(|mut s| {
                s.relative_error *= (first.draws as f64 / draws as f64).sqrt();
                s
            }),
            (Some(l), None) => sensitivity(&mut saa, &x, l),
            (None, _) => None,
        };
        let error = sens.as_ref().map(|s| s.relative_error);
        // The error falls as 1/sqrt(M): M grows at least twofold, straight to the M that
        // the estimate says meets the target (with half again to spare), at most MAX_DRAWS.
        let next = error.map_or(0, |e| {
            let needed = draws as f64 * (e / MAX_RELATIVE_ERROR).powi(2) * 1.5;
            let next = (needed.ceil() as usize).max(2 * draws).min(MAX_DRAWS);
            next + next % 2
        });
        let grow = error.is_some_and(|e| e > MAX_RELATIVE_ERROR)
            && next > draws
            && limits::check_rows(&elbo.graph, n * next, String::new).is_ok()
            && !observer.stop_requested();
        if grow {
            draws = next;
            factor = sens.map(|s| s.hessian_factor);
            probe.get_or_insert(saa);
            continue;
        }
        let (lr_sd, lr_cov) = match (lr, sens, &layout) {
            (true, Some(s), Some(layout)) => {
                let d = layout.loc.len();
                let sd = (0..d)
                    .map(|j| s.lr_cov[j * d + j].max(0.0).sqrt())
                    .collect();
                (Some(sd), Some(s.lr_cov))
            }
            _ => (None, None),
        };
        let reason = match min.stop {
            Stop::Iterations => StopReason::StepCap,
            _ => StopReason::Optimum,
        };
        let figures = DadviFigures {
            draws,
            mean_error: error,
            lr_sd,
            lr_cov,
        };
        break (Outcome::Finished(reason), saa, figures);
    };
    let mut saa = saa;
    saa.set(&x);
    Ok(Dadvi {
        training: Training {
            params: saa.session.named_params(),
            trace,
            steps: iterations,
            epochs: 0,
            outcome,
            seconds: start.elapsed().as_secs_f64(),
            holdout: None,
        },
        figures,
    })
}

/// The linear-response sd of each global element on its constrained scale (the delta
/// method through the support's transform at the guide's mean), in declaration order.
pub fn constrained_lr_sds(
    info: &ModelInfo,
    elbo: &ElboGraph,
    params: &[super::session::NamedParam],
    lr_sd: &[f64],
) -> Vec<Vec<f64>> {
    let loc = params
        .iter()
        .find(|p| p.name == "guide.globals.loc")
        .map(|p| p.values.as_slice())
        .unwrap_or(&[]);
    let mut at = 0;
    elbo.globals
        .iter()
        .map(|&(symbol, _)| {
            let s = info.symbol(symbol);
            let t = Transform::of(s.elem);
            (0..s.shape.width())
                .map(|_| {
                    let u = loc.get(at).map_or(0.0, |&v| f64::from(v));
                    let sd = lr_sd.get(at).copied().unwrap_or(f64::NAN);
                    at += 1;
                    sd * t.log_jacobian(u).exp()
                })
                .collect()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    use crate::infer::test_support::elbo_and_data;

    const POISSON: &str = "data x: real\ndata k: int\nglobal b: real ~ Normal(0, 1)\nglobal s: positive ~ HalfNormal(1)\nk ~ Poisson(exp(b * x) * s)\n";

    /// A Poisson regression with a positive global on four rows.
    fn problem() -> (ElboGraph, Dataset) {
        elbo_and_data("dadvi", POISSON, "x,k\n0.5,1\n-1,0\n2,7\n0.1,2\n")
    }

    /// Its SAA objective at 6 draws a row, and a point away from the start.
    fn saa<'a>(elbo: &ElboGraph, data: &'a Dataset) -> (Saa<'a>, Vec<f64>) {
        let saa = Saa::new(elbo, data, 6, &mut StdRng::seed_from_u64(3));
        let p = saa.session.exec().params().len();
        let x: Vec<f64> = (0..p).map(|i| 0.3 - 0.2 * i as f64).collect();
        (saa, x)
    }

    /// Over several tiles the objective and gradient are those of one run over every
    /// row and draw at once (the tiles' draws put back in place).
    #[test]
    fn tiles_sum_to_the_whole_batch() {
        let csv: String = std::iter::once("x,k".to_string())
            .chain((0..600).map(|i| format!("{},{}", (i as f32 * 0.37).sin(), i % 4)))
            .collect::<Vec<_>>()
            .join("\n");
        let (elbo, data) = elbo_and_data("dadvi_tiles", POISSON, &csv);
        let (n, draws) = (data.rows, 6);
        let mut saa = Saa::new(&elbo, &data, draws, &mut StdRng::seed_from_u64(5));
        assert!(saa.tiles.len() > 2, "{} tiles", saa.tiles.len());
        let p = saa.session.exec().params().len();
        let x: Vec<f64> = (0..p).map(|i| 0.2 + 0.1 * i as f64).collect();
        let mut g = vec![0.0; p];
        let value = saa.negative(&x, &mut g);
        let mut whole = Session::<f64>::with_threads_in(&elbo, n, draws, 1);
        let all: Vec<usize> = (0..n).collect();
        whole.load_batch(&data, &all, draws, n);
        for (l, &id) in saa.session.noises().iter().enumerate() {
            let width = whole.graph().noise_info(id).shape.cols;
            let mut buf = vec![0.0; n * draws * width];
            for (tile, leaves) in saa.tiles.iter().zip(&saa.noise) {
                let t = tile.len();
                for s in 0..draws {
                    let to = (s * n + tile[0]) * width;
                    buf[to..to + t * width]
                        .copy_from_slice(&leaves[l][s * t * width..(s + 1) * t * width]);
                }
            }
            whole.set_noise(id, &buf);
        }
        whole.exec_mut().params_mut().copy_from_slice(&x);
        let expected = -whole.forward_backward();
        // The minibatch scale factors are `f32` inputs (n / rows differs per tile), so
        // agreement is to their rounding, about 1e-7 relative.
        assert!(
            (value - expected).abs() < 1e-6 * expected.abs(),
            "{value} vs {expected}"
        );
        for (a, b) in g.iter().zip(whole.exec().param_grads()) {
            assert!((a + b).abs() < 1e-6 * b.abs().max(1.0), "{a} vs {}", -b);
        }
    }

    #[test]
    fn the_saa_gradient_matches_finite_differences() {
        let (elbo, data) = problem();
        let (mut saa, x) = saa(&elbo, &data);
        let p = x.len();
        let mut g = vec![0.0; p];
        let mut scratch = vec![0.0; p];
        saa.negative(&x, &mut g);
        for j in 0..p {
            let h = 1e-6;
            let mut xp = x.clone();
            xp[j] += h;
            let fp = saa.negative(&xp, &mut scratch);
            xp[j] -= 2.0 * h;
            let fm = saa.negative(&xp, &mut scratch);
            let fd = (fp - fm) / (2.0 * h);
            assert!(
                (fd - g[j]).abs() < 1e-6 * g[j].abs().max(1.0),
                "{j}: {fd} vs {}",
                g[j]
            );
        }
    }

    #[test]
    fn hessian_vector_products_match_finite_differences() {
        let (elbo, data) = problem();
        let (mut saa, x) = saa(&elbo, &data);
        let p = x.len();
        let h = hessian(&mut saa, &x);
        let v: Vec<f64> = (0..p).map(|i| 1.0 - 0.4 * i as f64).collect();
        let t = 1e-5;
        let (mut gp, mut gm) = (vec![0.0; p], vec![0.0; p]);
        let xp: Vec<f64> = x.iter().zip(&v).map(|(a, b)| a + t * b).collect();
        let xm: Vec<f64> = x.iter().zip(&v).map(|(a, b)| a - t * b).collect();
        saa.negative(&xp, &mut gp);
        saa.negative(&xm, &mut gm);
        for i in 0..p {
            let hv: f64 = (0..p).map(|j| h[i * p + j] * v[j]).sum();
            let fd = (gp[i] - gm[i]) / (2.0 * t);
            assert!(
                (hv - fd).abs() < 1e-5 * fd.abs().max(1.0),
                "{i}: {hv} vs {fd}"
            );
            for j in 0..p {
                assert_eq!(h[i * p + j], h[j * p + i]);
            }
        }
    }

    #[test]
    fn matched_draws_have_zero_mean_and_identity_second_moments() {
        let (rows, draws, width) = (3, 12, 4);
        let mut buf = vec![0.0; rows * draws * width];
        fill_matched(&mut buf, rows, draws, width, &mut StdRng::seed_from_u64(1));
        for i in 0..rows {
            for a in 0..width {
                let at = |s: usize, c: usize| buf[(s * rows + i) * width + c];
                let mean: f64 = (0..draws).map(|s| at(s, a)).sum::<f64>() / draws as f64;
                assert!(mean.abs() < 1e-12);
                for b in 0..width {
                    let m: f64 =
                        (0..draws).map(|s| at(s, a) * at(s, b)).sum::<f64>() / draws as f64;
                    let want = if a == b { 1.0 } else { 0.0 };
                    assert!((m - want).abs() < 1e-12, "({a},{b}) {m}");
                }
            }
        }
    }
}
