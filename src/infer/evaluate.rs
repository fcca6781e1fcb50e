//! Evaluating a fitted guide: the ELBO per row with a stated Monte Carlo error, the
//! importance-weighted estimate of log p(x) (Burda et al. 2016), and posterior
//! summaries of the globals from guide draws (SPEC section 5).
//!
//! Each function compiles its own session for the row count it needs, once, and then
//! only feeds it. Results depend only on the parameters, the data and the seed.

use rand::rngs::StdRng;
use rand_distr::{Distribution, StandardNormal};

use crate::objective::ElboGraph;

use super::control_variates::{self, Regression};
use super::data::Dataset;
use super::session::{NamedParam, Session, load_named_params};
use super::train::stream;

const EVAL_STREAM: u64 = 11;
const IWAE_STREAM: u64 = 12;
const SUMMARY_STREAM: u64 = 13;
const PSIS_STREAM: u64 = 14;

/// Rows evaluated in one pass of the graph.
pub const CHUNK_ROWS: usize = 1000;

/// The noise a pass's control variates may regress on, at most: a block's rows' own
/// noise joins the globals' draw only while it is this narrow.
const MAX_REGRESSION_WIDTH: usize = 24;

/// An ELBO estimate per row.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ElboEstimate {
    pub per_row: f64,
    /// The standard error of `per_row` over the Monte Carlo passes (after control
    /// variates, where they apply and help).
    pub mc_error: f64,
    pub passes: usize,
}

/// Why an evaluation could not run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EvalError {
    #[error("{0}")]
    Params(String),
    #[error(
        "the guide gives some latents free per-row parameters, which exist only for the {train} training rows, but this data has {rows} rows"
    )]
    FreeLocals { train: usize, rows: usize },
}

fn session_for(
    elbo: &ElboGraph,
    params: &[NamedParam],
    max_rows: usize,
    rows: usize,
    train_rows: usize,
) -> Result<Session, EvalError> {
    let mut session = Session::new(elbo, max_rows);
    session.load_params(params).map_err(EvalError::Params)?;
    if session.has_free_locals() && rows != train_rows {
        return Err(EvalError::FreeLocals {
            train: train_rows,
            rows,
        });
    }
    Ok(session)
}

/// What an evaluation runs the graph over: `rows` of `data`, each drawn `k` times
/// (sample-major), with minibatch scales for `total_rows`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RowDraws<'a> {
    pub data: &'a Dataset,
    pub rows: &'a [usize],
    pub k: usize,
    pub total_rows: usize,
}

/// Where a run's noise comes from.
pub(crate) enum Noise<'a> {
    /// Fresh draws from the stream; with shared globals, the globals' draw every row
    /// takes.
    Draw(&'a mut StdRng, Option<&'a [f32]>),
    /// The last run's noise, negated: the antithetic twin of an evaluation that fits in
    /// one run.
    Mirror,
}

/// Runs the graph over `over` in runs of at most [`CHUNK_ROWS`] batch rows; hands each
/// run's rows and its local and global terms to `visit`. The one loop behind every
/// estimate here and the held-out ELBO of early stopping.
pub(crate) fn for_each_run(
    session: &mut Session,
    over: RowDraws<'_>,
    mut noise: Noise<'_>,
    mut visit: impl FnMut(&[usize], &[f32], &[f32]),
) {
    let RowDraws {
        data,
        rows,
        k,
        total_rows,
    } = over;
    let per_run = (CHUNK_ROWS / k.max(1)).max(1);
    debug_assert!(!matches!(noise, Noise::Mirror) || rows.len() <= per_run);
    for run in rows.chunks(per_run) {
        session.load_batch(data, run, k, total_rows);
        match &mut noise {
            Noise::Draw(rng, shared) => session.draw_noise(*rng, *shared),
            Noise::Mirror => session.negate_noise(),
        }
        session.exec_mut().forward();
        let exec = session.exec();
        visit(run, exec.value(session.local), exec.value(session.global));
    }
}

/// One pass's terms: the sum of the rows' local terms and the global term
/// log p(w) − log q(w), counted once.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct PassTerms {
    pub local: f64,
    pub global: f64,
}

/// `k` independent passes over `rows` in as few runs of the graph as fit: each pass's
/// [`PassTerms`]. A run holds one global term per batch row (or a single zero without
/// globals); a pass's global term is their mean over its rows.
pub(crate) fn passes(
    session: &mut Session,
    over: RowDraws<'_>,
    noise: Noise<'_>,
) -> Vec<PassTerms> {
    let (k, all) = (over.k, over.rows.len());
    let mut terms = vec![PassTerms::default(); k];
    let sum = |v: &[f32]| v.iter().map(|&x| f64::from(x)).sum::<f64>();
    for_each_run(session, over, noise, |run, local, global| {
        let c = run.len();
        for (s, t) in terms.iter_mut().enumerate() {
            t.local += sum(&local[s * c..(s + 1) * c]);
            let g = if global.len() == c * k {
                sum(&global[s * c..(s + 1) * c]) / c as f64
            } else {
                sum(global) / global.len() as f64
            };
            // Weighted by the run's share of the rows, so the pass sums to a mean.
            t.global += g * c as f64 / all as f64;
        }
    });
    terms
}

/// One draw of the whole data's log p(x, z) − log q(z) over `over` (one sample per
/// row): the globals' noise drawn once into `draw` and shared by every row (none when
/// `draw` is empty, a model without globals).
fn joint_log_weight(
    session: &mut Session,
    over: RowDraws<'_>,
    rng: &mut StdRng,
    draw: &mut [f32],
) -> f64 {
    for x in draw.iter_mut() {
        *x = StandardNormal.sample(rng);
    }
    log_weight_at(session, over, rng, draw)
}

/// [`joint_log_weight`] at the globals' noise `draw` as it is (the rows' own noise
/// drawn afresh).
fn log_weight_at(session: &mut Session, over: RowDraws<'_>, rng: &mut StdRng, draw: &[f32]) -> f64 {
    let shared = (!draw.is_empty()).then_some(draw);
    let t = passes(session, over, Noise::Draw(rng, shared))[0];
    t.local + t.global
}

/// How a final estimate is going, for a progress display.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EvalProgress {
    pub passes: usize,
    /// The standard error so far, per row, and the target it must fall below.
    pub mc_error: f64,
    pub tolerance: f64,
}

/// Hears an estimate's progress after every batch of passes and answers whether to go
/// on; `false` (e.g. Ctrl-C) ends the estimate with the passes done so far.
pub type EvalControl<'a> = &'a mut dyn FnMut(&EvalProgress) -> bool;

/// How precise an ELBO estimate must be: passes of fresh noise are averaged until
/// their standard error is below the target (at least 4 passes, at most `max_passes`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Precision {
    pub target: ErrorTarget,
    pub max_passes: usize,
}

/// What an estimate's Monte Carlo error is stated for.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ErrorTarget {
    /// Every row draws its own globals; the error of the ELBO per row, in nats.
    PerRow(f64),
    /// Every pass draws the globals once for all rows, so that a pass is one draw of
    /// the whole data's log p(x, z) − log q(z): the error of that total, in nats. It
    /// vanishes when the guide is the posterior. Passes come in antithetic pairs and
    /// are regressed on their noise ([`control_variates`]), with the log weight's
    /// curvature in the noise where the noise is wide.
    Total(f64),
}

/// The ELBO per row of `data` to `precision`, reporting progress to (and stoppable by)
/// `control`.
pub fn elbo(
    elbo: &ElboGraph,
    params: &[NamedParam],
    data: &Dataset,
    train_rows: usize,
    seed: u64,
    precision: Precision,
    control: EvalControl<'_>,
) -> Result<ElboEstimate, EvalError> {
    let (tolerance, shared) = match precision.target {
        ErrorTarget::PerRow(t) => (t, false),
        ErrorTarget::Total(t) => (t / data.rows.max(1) as f64, true),
    };
    // Small data runs several passes per run of the graph, so that each run is a large
    // batch; with shared globals each pass (sample block) gets its own draw of them,
    // which needs the whole data in one run; larger data runs a pass at a time with one
    // draw shared across its runs.
    let n = data.rows;
    let per_run = (CHUNK_ROWS / n.max(1)).clamp(1, 64);
    let blocks = !shared || n <= CHUNK_ROWS;
    let mut session = session_for(elbo, params, (n * per_run).min(CHUNK_ROWS), n, train_rows)?;
    if shared && blocks {
        session.share_globals_per_block();
    }
    let mut rng = stream(seed, EVAL_STREAM);
    let mut draw = vec![
        0.0f32;
        session
            .global_noise_width()
            .filter(|_| !blocks)
            .unwrap_or(0)
    ];
    let all: Vec<usize> = (0..n).collect();
    let over = RowDraws {
        data,
        rows: &all,
        k: if blocks { per_run } else { 1 },
        total_rows: n,
    };
    // With shared globals a pass is one draw of the whole data's log weight, a
    // function of the pass's noise: the regression on that noise (control variates)
    // removes most of its variance. A block's noise is the globals' draw and, when
    // the rows' own noise is small enough to regress on, every row's.
    let per_row_noise = blocks && session.block_noise_width(n, true) <= MAX_REGRESSION_WIDTH;
    let mut regression = shared
        .then(|| {
            if blocks {
                session.block_noise_width(n, per_row_noise)
            } else {
                draw.len()
            }
        })
        .filter(|&w| w > 0)
        .map(|width| {
            let curvature = control_variates::curvature_pays(width)
                .then(|| noise_curvature(elbo, params, data, per_row_noise, width))
                .flatten();
            Regression::with_curvature(width, curvature)
        });
    let mut noise = Vec::new();
    let mut values = Vec::new();
    let mut refresh_at = 0;
    let mut regressed: Option<control_variates::Estimate> = None;
    // Passes run: twice the values where each is a pair's mean.
    let mut evaluated = 0;
    loop {
        if blocks {
            let terms = passes(&mut session, over, Noise::Draw(&mut rng, None));
            // With shared globals each pass is paired with its antithetic twin (every
            // noise value negated), whose mean has no odd terms in the noise: the
            // leading non-quadratic part of the log weight cancels.
            let twins = shared.then(|| {
                let noises: Vec<Vec<f32>> = (0..terms.len())
                    .map(|s| {
                        let mut noise = Vec::new();
                        if regression.is_some() {
                            session.block_noise(s, n, per_row_noise, &mut noise);
                        }
                        noise
                    })
                    .collect();
                (passes(&mut session, over, Noise::Mirror), noises)
            });
            evaluated += terms.len() * if twins.is_some() { 2 } else { 1 };
            for (s, t) in terms.iter().enumerate() {
                let mut total = t.local + t.global;
                if let Some((twin, noises)) = &twins {
                    total = 0.5 * (total + twin[s].local + twin[s].global);
                    noise.clone_from(&noises[s]);
                } else if regression.is_some() {
                    noise.clear();
                    session.block_noise(s, n, per_row_noise, &mut noise);
                }
                values.push(total / n as f64);
                if let Some(r) = regression.as_mut() {
                    r.add(&noise, total / n as f64);
                }
            }
        } else {
            // A pass and its twin at the negated globals' noise (the rows' own noise,
            // spread over several runs, is drawn afresh).
            let first = joint_log_weight(&mut session, over, &mut rng, &mut draw);
            let noise_first = draw.clone();
            draw.iter_mut().for_each(|v| *v = -*v);
            let total = 0.5 * (first + log_weight_at(&mut session, over, &mut rng, &draw));
            evaluated += 2;
            values.push(total / n as f64);
            if let Some(r) = regression.as_mut() {
                r.add(&noise_first, total / n as f64);
            }
        }
        // The regression is re-solved as the passes grow by a tenth.
        if let Some(r) = regression.as_ref().filter(|_| values.len() >= refresh_at) {
            regressed = r.estimate();
            refresh_at = values.len() + values.len().div_ceil(10);
        }
        let plain = mean_and_error(&values);
        let (_, se) = better(plain, regressed);
        let go_on = control(&EvalProgress {
            passes: evaluated,
            mc_error: se,
            tolerance,
        });
        let done = values.len() >= 4 && se < tolerance;
        if done || evaluated >= precision.max_passes || !plain.0.is_finite() || !go_on {
            // The regression re-solved on every pass for the figure reported.
            let (mean, se) = better(plain, regression.as_ref().and_then(Regression::estimate));
            return Ok(ElboEstimate {
                per_row: mean,
                mc_error: se,
                passes: evaluated,
            });
        }
    }
}

/// `draws` joint log importance weights log p(x, z) − log q(z) of the whole data, one
/// per draw of the globals (shared by every row) and of every row's locals: PSIS's
/// input for a guide without amortized locals. `None` without globals.
pub fn joint_log_weights(
    elbo: &ElboGraph,
    params: &[NamedParam],
    data: &Dataset,
    train_rows: usize,
    draws: usize,
    seed: u64,
) -> Result<Option<Vec<f64>>, EvalError> {
    let n = data.rows;
    let mut session = session_for(elbo, params, n.min(CHUNK_ROWS), n, train_rows)?;
    let Some(width) = session.global_noise_width() else {
        return Ok(None);
    };
    let mut rng = stream(seed, PSIS_STREAM);
    let mut draw = vec![0.0f32; width];
    let all: Vec<usize> = (0..n).collect();
    let over = RowDraws {
        data,
        rows: &all,
        k: 1,
        total_rows: n,
    };
    let weights = (0..draws)
        .map(|_| joint_log_weight(&mut session, over, &mut rng, &mut draw))
        .collect();
    Ok(Some(weights))
}

/// `draws` log importance weights log p(x_i, z | w) − log q(z | x_i) of each of `rows`
/// (with globals, the local part at each draw of them): PSIS's input, row by row, for
/// a guide with amortized locals.
pub fn row_log_weights(
    elbo: &ElboGraph,
    params: &[NamedParam],
    data: &Dataset,
    train_rows: usize,
    rows: &[usize],
    draws: usize,
    seed: u64,
) -> Result<Vec<Vec<f64>>, EvalError> {
    let draws = draws.max(1);
    let per_run = (CHUNK_ROWS / draws).max(1);
    let mut session = session_for(elbo, params, per_run * draws, data.rows, train_rows)?;
    let mut rng = stream(seed, PSIS_STREAM);
    let over = RowDraws {
        data,
        rows,
        k: draws,
        total_rows: data.rows,
    };
    let mut weights = Vec::with_capacity(rows.len());
    let noise = Noise::Draw(&mut rng, None);
    for_each_run(&mut session, over, noise, |run, local, _| {
        for i in 0..run.len() {
            weights.push(
                (0..draws)
                    .map(|s| f64::from(local[s * run.len() + i]))
                    .collect(),
            );
        }
    });
    Ok(weights)
}

/// The Hessian (`width`², row-major) of the whole data's log weight in one pass's
/// regressed noise ([`Session::block_noise`]'s layout, the rows' own noise with
/// `per_row`) at zero, the guide's centre: the matrix of the curvature control variate.
/// Central differences of the `f64` gradient in the noise, a pass over the data per
/// difference; `None` where it is not finite.
fn noise_curvature(
    elbo: &ElboGraph,
    params: &[NamedParam],
    data: &Dataset,
    per_row: bool,
    width: usize,
) -> Option<Vec<f64>> {
    let n = data.rows;
    let mut session = Session::<f64>::with_threads_in(elbo, n.clamp(1, CHUNK_ROWS), 1, 1);
    load_named_params(session.exec_mut(), params).ok()?;
    session.differentiate_noise();
    let all: Vec<usize> = (0..n).collect();
    // The rows' own noise is regressed on only when one run holds every row.
    let per_row = per_row && n <= CHUNK_ROWS;
    let mut gradient = |at: &[f64]| {
        let mut total = vec![0.0; width];
        for run in all.chunks(CHUNK_ROWS) {
            session.load_batch(data, run, 1, n);
            session.set_block_noise(run.len(), per_row, at);
            session.forward_backward();
            // A run's objective counts its rows n/run times; its share is run/n.
            let share = run.len() as f64 / n as f64;
            for (t, g) in total
                .iter_mut()
                .zip(session.block_noise_grad(run.len(), per_row))
            {
                *t += share * g;
            }
        }
        total
    };
    const STEP: f64 = 1e-3;
    let mut a = vec![0.0; width * width];
    let mut at = vec![0.0; width];
    for j in 0..width {
        at[j] = STEP;
        let plus = gradient(&at);
        at[j] = -STEP;
        let minus = gradient(&at);
        at[j] = 0.0;
        for i in 0..width {
            a[i * width + j] = (plus[i] - minus[i]) / (2.0 * STEP);
        }
    }
    for i in 0..width {
        for j in 0..i {
            let v = 0.5 * (a[i * width + j] + a[j * width + i]);
            a[i * width + j] = v;
            a[j * width + i] = v;
        }
    }
    a.iter().all(|v| v.is_finite()).then_some(a)
}

/// The regression estimate (mean, error) where its error is below the plain one's.
fn better(plain: (f64, f64), regressed: Option<control_variates::Estimate>) -> (f64, f64) {
    match regressed {
        Some(r) if r.error < plain.1 => (r.mean, r.error),
        _ => plain,
    }
}

fn mean_and_error(values: &[f64]) -> (f64, f64) {
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    if values.len() < 2 {
        return (mean, f64::INFINITY);
    }
    let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0);
    (mean, (var / n).sqrt())
}

fn log_mean_exp(values: &[f64]) -> f64 {
    let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if !max.is_finite() {
        return max;
    }
    let sum: f64 = values.iter().map(|v| (v - max).exp()).sum();
    max + (sum / values.len() as f64).ln()
}

/// The importance-weighted estimate of log p(x) per row with `k` samples from the guide.
/// Without globals, rows are independent: each row's K weights are averaged on their
/// own. With globals, each sample draws the globals once and every row's locals, and
/// the estimate is of log p(all rows), divided by the number of rows.
pub fn iwae(
    elbo: &ElboGraph,
    params: &[NamedParam],
    data: &Dataset,
    train_rows: usize,
    k: usize,
    seed: u64,
) -> Result<f64, EvalError> {
    let k = k.max(1);
    let n = data.rows;
    let mut rng = stream(seed, IWAE_STREAM);
    let probe = session_for(elbo, params, 1, n, train_rows)?;
    if let Some(width) = probe.global_noise_width() {
        let mut session = session_for(elbo, params, n.min(CHUNK_ROWS), n, train_rows)?;
        let mut draw = vec![0.0f32; width];
        let all: Vec<usize> = (0..n).collect();
        let over = RowDraws {
            data,
            rows: &all,
            k: 1,
            total_rows: n,
        };
        let totals: Vec<f64> = (0..k)
            .map(|_| joint_log_weight(&mut session, over, &mut rng, &mut draw))
            .collect();
        return Ok(log_mean_exp(&totals) / n as f64);
    }
    // Rows are independent: evaluate each row's K samples side by side.
    let rows_per_pass = (CHUNK_ROWS / k).max(1);
    let mut session = session_for(elbo, params, rows_per_pass * k, n, train_rows)?;
    let mut total = 0.0;
    let all: Vec<usize> = (0..n).collect();
    let mut weights = vec![0.0f64; k];
    let over = RowDraws {
        data,
        rows: &all,
        k,
        total_rows: n,
    };
    let noise = Noise::Draw(&mut rng, None);
    for_each_run(&mut session, over, noise, |run, local, _| {
        for i in 0..run.len() {
            for (s, w) in weights.iter_mut().enumerate() {
                *w = f64::from(local[s * run.len() + i]);
            }
            total += log_mean_exp(&weights);
        }
    });
    Ok(total / n as f64)
}

/// The posterior summary of one global latent, per element, on its support.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct GlobalSummary {
    pub name: String,
    pub mean: Vec<f64>,
    pub sd: Vec<f64>,
    pub q05: Vec<f64>,
    pub q95: Vec<f64>,
    /// The linear-response sd (`--covariance lr`), which corrects mean-field's too
    /// small sds on correlated posteriors.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lr_sd: Option<Vec<f64>>,
}

/// Summaries of every global from `draws` guide draws.
pub fn summarize_globals(
    elbo: &ElboGraph,
    params: &[NamedParam],
    info: &crate::check::ModelInfo,
    draws: usize,
    seed: u64,
) -> Result<Vec<GlobalSummary>, EvalError> {
    if elbo.globals.is_empty() {
        return Ok(Vec::new());
    }
    let mut rng = stream(seed, SUMMARY_STREAM);
    let globals =
        Session::draw_globals(elbo, params, draws, &mut rng).map_err(EvalError::Params)?;
    Ok(globals
        .iter()
        .map(|(symbol, values)| {
            let symbol = *symbol;
            let width = info.symbol(symbol).shape.width();
            let mut summary = GlobalSummary {
                name: info.symbol(symbol).name.clone(),
                mean: Vec::with_capacity(width),
                sd: Vec::with_capacity(width),
                q05: Vec::with_capacity(width),
                q95: Vec::with_capacity(width),
                lr_sd: None,
            };
            for j in 0..width {
                let mut column: Vec<f64> = (0..draws)
                    .map(|r| f64::from(values[r * width + j]))
                    .collect();
                let (mean, _) = mean_and_error(&column);
                let var = column.iter().map(|v| (v - mean).powi(2)).sum::<f64>()
                    / (draws.max(2) - 1) as f64;
                column.sort_by(f64::total_cmp);
                summary.mean.push(mean);
                summary.sd.push(var.sqrt());
                summary.q05.push(quantile(&column, 0.05));
                summary.q95.push(quantile(&column, 0.95));
            }
            summary
        })
        .collect())
}

/// The `p` quantile of sorted values, interpolating linearly.
fn quantile(sorted: &[f64], p: f64) -> f64 {
    let pos = p * (sorted.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = pos.ceil() as usize;
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::infer::test_support::elbo_and_data;
    use rand::SeedableRng;

    /// Mean and standard error of one component of many passes' terms.
    fn component(terms: &[PassTerms], f: impl Fn(&PassTerms) -> f64) -> (f64, f64) {
        mean_and_error(&terms.iter().map(f).collect::<Vec<_>>())
    }

    /// Many passes in one run of the graph (sample-major rows) estimate the same local
    /// and global terms as passes run one at a time; a global term divided by the row
    /// count once too often (24 times too small here) is caught.
    #[test]
    fn batched_passes_agree_with_single_passes() {
        let model = "data y: real\nglobal m: real ~ Normal(0, 1)\nlatent z: real ~ Normal(m, 1)\ny ~ Normal(z, 1)\n";
        let csv: String = std::iter::once("y".to_string())
            .chain((0..24).map(|i| format!("{}", i % 5)))
            .collect::<Vec<_>>()
            .join("\n");
        let (elbo, data) = elbo_and_data("batched", model, &csv);
        let n = data.rows;
        let k = 40;
        let mut session = Session::new(&elbo, n * k);
        // Parameters away from the prior, so that the global term is far from 0.
        for (i, p) in session.exec_mut().params_mut().iter_mut().enumerate() {
            *p = (i as f32 * 0.7 + 1.0).sin();
        }
        let rows: Vec<usize> = (0..n).collect();
        let mut rng = StdRng::seed_from_u64(4);
        let mut batched = Vec::new();
        let mut single = Vec::new();
        for _ in 0..50 {
            let over = RowDraws {
                data: &data,
                rows: &rows,
                k,
                total_rows: n,
            };
            batched.extend(passes(&mut session, over, Noise::Draw(&mut rng, None)));
        }
        for _ in 0..k * 50 {
            let over = RowDraws {
                data: &data,
                rows: &rows,
                k: 1,
                total_rows: n,
            };
            single.extend(passes(&mut session, over, Noise::Draw(&mut rng, None)));
        }
        for (what, f) in [
            ("local", (|t: &PassTerms| t.local) as fn(&PassTerms) -> f64),
            ("global", |t: &PassTerms| t.global),
        ] {
            let (a, ea) = component(&batched, f);
            let (b, eb) = component(&single, f);
            assert!(
                (a - b).abs() < 4.0 * ea.hypot(eb),
                "{what}: batched {a} ± {ea}, single {b} ± {eb}"
            );
            assert!(
                b.abs() > 10.0 * eb,
                "{what} is distinguishable from 0: {b} ± {eb}"
            );
        }
    }

    /// The curvature control variate's matrix (central differences of the noise
    /// gradient, which `differentiate_noise` turns on) against second differences of
    /// the objective's value alone, on a logistic regression with a free per-row local
    /// (its rows' noise joins the globals' in the regressed layout).
    #[test]
    fn the_noise_curvature_matches_second_differences_of_the_value() {
        let model = "data x: real[2]\ndata y: bool\nglobal w: real[2] ~ Normal(0, 1)\nlatent u: real ~ Normal(0, 1)\ny ~ Bernoulli(logits = dot(w, x) + u)\nguide { u: free }\n";
        let csv: String = std::iter::once("x0,x1,y".to_string())
            .chain((0..5).map(|i| {
                format!(
                    "{},{},{}",
                    (i as f32 * 0.9).sin(),
                    0.3 * i as f32 - 0.5,
                    i % 2
                )
            }))
            .collect::<Vec<_>>()
            .join("\n");
        let (elbo, data) = elbo_and_data("curvature", model, &csv);
        let n = data.rows;
        let mut session = Session::new(&elbo, n);
        for (i, p) in session.exec_mut().params_mut().iter_mut().enumerate() {
            *p = (i as f32 * 0.7 + 1.0).sin();
        }
        let params = session.named_params();
        let width = session.block_noise_width(n, true);
        assert_eq!(width, 2 + n);
        let a = noise_curvature(&elbo, &params, &data, true, width).unwrap();
        let mut f64_session = Session::<f64>::with_threads_in(&elbo, n, 1, 1);
        load_named_params(f64_session.exec_mut(), &params).unwrap();
        let all: Vec<usize> = (0..n).collect();
        f64_session.load_batch(&data, &all, 1, n);
        let mut value = |at: &[f64]| {
            f64_session.set_block_noise(n, true, at);
            f64_session.forward()
        };
        let h = 1e-3;
        for i in 0..width {
            for j in 0..width {
                let mut at = vec![0.0; width];
                let mut corner = |si: f64, sj: f64| {
                    at.iter_mut().for_each(|v| *v = 0.0);
                    at[i] += si * h;
                    at[j] += sj * h;
                    value(&at)
                };
                let fd = (corner(1.0, 1.0) - corner(1.0, -1.0) - corner(-1.0, 1.0)
                    + corner(-1.0, -1.0))
                    / (4.0 * h * h);
                let got = a[i * width + j];
                assert!(
                    (got - fd).abs() < 1e-4 * (1.0 + fd.abs()),
                    "A[{i},{j}] {got} vs {fd}"
                );
            }
        }
        // Some cross curvature between two noise values (a row's own and the globals').
        let cross = (0..width * width).any(|k| k / width != k % width && a[k].abs() > 1e-3);
        assert!(cross, "{a:?}");
    }

    /// A mirrored run holds exactly the negated noise of the run before it.
    #[test]
    fn a_mirrored_run_negates_the_last_noise() {
        let model = "data y: real\nglobal m: real ~ Normal(0, 1)\nlatent z: real ~ Normal(m, 1)\ny ~ Normal(z, 1)\nguide { z: free }\n";
        let (elbo, data) = elbo_and_data("mirror", model, "y\n1\n2\n3");
        let n = data.rows;
        let mut session = Session::new(&elbo, n * 2);
        session.share_globals_per_block();
        let rows: Vec<usize> = (0..n).collect();
        let over = RowDraws {
            data: &data,
            rows: &rows,
            k: 2,
            total_rows: n,
        };
        let mut rng = StdRng::seed_from_u64(9);
        let first = passes(&mut session, over, Noise::Draw(&mut rng, None));
        let mut before = Vec::new();
        session.block_noise(1, n, true, &mut before);
        let twin = passes(&mut session, over, Noise::Mirror);
        let mut after = Vec::new();
        session.block_noise(1, n, true, &mut after);
        assert!(before.iter().zip(&after).all(|(b, a)| *a == -*b));
        assert_eq!(first.len(), twin.len());
        assert_ne!(first[1], twin[1]);
    }

    #[test]
    fn log_mean_exp_is_stable() {
        assert!((log_mean_exp(&[-1000.0, -1000.0]) + 1000.0).abs() < 1e-12);
        assert!((log_mean_exp(&[0.0, (3.0f64).ln()]) - 2.0f64.ln()).abs() < 1e-12);
    }

    #[test]
    fn quantiles_interpolate() {
        let v: Vec<f64> = (0..=100).map(f64::from).collect();
        assert_eq!(quantile(&v, 0.05), 5.0);
        assert_eq!(quantile(&v, 0.95), 95.0);
    }
}
