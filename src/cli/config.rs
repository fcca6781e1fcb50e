//! Validated configuration: one `TryFrom` per command from the raw [`super::args`] into
//! the library's options, refusing every value that makes no sense (a zero where zero
//! means nothing, a non-finite step size, a request too large to allocate) with a usage
//! error *before* any model or data file is read.
//!
//! The fit options' defaults live in `FitOptions::default()`; the few defaults that
//! have no library type live here. Nothing here reads files or prints.

use std::path::PathBuf;

use crate::check::{Activation, FlowSpec, GlobalsMode, Gradient, GuideSpec, ObjectiveSpec};
use crate::infer::session::Threads;
use crate::infer::train::FitOptions;
use crate::infer::{limits, plot};
use crate::objective::KlMode;

use super::args::{
    DrawsArgs, EncodeArgs, EvalArgs, FitArgs, GraphArgs, GuideArgs, PlotArgs, PredictArgs,
    SampleArgs, SummaryArgs,
};
use super::error::Error;

/// `vic eval --iwae`'s default.
pub const DEFAULT_IWAE: usize = 100;
/// `vic sample -n`'s default.
pub const DEFAULT_DRAWS: u64 = 16;
/// `vic draws -n`'s default: CmdStan's `output_samples`.
pub const DEFAULT_CMDSTAN_DRAWS: usize = 1000;
/// `vic plot --draws`'s default.
pub const DEFAULT_PLOT_DRAWS: usize = 4000;
/// The most draws behind `vic plot`'s densities (each density sums over all of them at
/// every grid point).
pub const MAX_PLOT_DRAWS: usize = 100_000;
/// The most draws `vic draws` keeps in memory (8 bytes per value).
pub const MAX_CMDSTAN_DRAWS: usize = 1_000_000;
/// `vic encode --draws`'s default: the Monte Carlo error of a mean is sd/32.
pub const DEFAULT_ENCODE_DRAWS: usize = 1000;
/// `vic predict --draws`'s default (and the draws behind `vic eval`'s scores).
pub const DEFAULT_PREDICT_DRAWS: u64 = 1000;

/// The most rows one pass of a graph may be asked for (`--samples` times the batch,
/// `--iwae`), checked before any file is read. At 10 million rows a graph of only 54
/// values per row already reaches the 4 GiB working-memory limit, which is checked
/// exactly once the graph is built (`infer::limits`).
pub const MAX_PASS_ROWS: usize = 10_000_000;

fn usage(message: impl Into<String>) -> Error {
    Error::Usage(message.into())
}

/// Guide overrides, validated.
#[derive(Debug, Clone)]
pub struct GuideOverrides {
    flow: Option<FlowSpec>,
    global_flow: Option<FlowSpec>,
    globals: Option<GlobalsMode>,
    encoder_hidden: Option<Vec<usize>>,
    encoder_activation: Option<Activation>,
    objective: Option<ObjectiveSpec>,
    gradient: Option<Gradient>,
}

impl GuideOverrides {
    /// The model's guide with these overrides applied.
    pub fn apply(&self, model_guide: &GuideSpec) -> GuideSpec {
        let mut spec = model_guide.clone();
        if let Some(flow) = self.flow {
            spec.flow = flow;
        }
        if let Some(flow) = self.global_flow {
            spec.global_flow = flow;
        }
        if let Some(globals) = self.globals {
            spec.globals = globals;
        }
        if let Some(hidden) = &self.encoder_hidden {
            spec.encoder_hidden = hidden.clone();
        }
        if let Some(activation) = self.encoder_activation {
            spec.encoder_activation = activation;
        }
        if let Some(objective) = self.objective {
            spec.objective = objective;
        }
        if let Some(gradient) = self.gradient {
            spec.gradient = Some(gradient);
        }
        spec
    }
}

impl TryFrom<GuideArgs> for GuideOverrides {
    type Error = Error;

    fn try_from(args: GuideArgs) -> Result<GuideOverrides, Error> {
        if let Some(hidden) = &args.encoder_hidden {
            limits::check_encoder_hidden(hidden)
                .map_err(|e| usage(format!("`--encoder-hidden`: {e}")))?;
        }
        Ok(GuideOverrides {
            flow: args.flow,
            global_flow: args.global_flow,
            globals: args.globals.map(Into::into),
            encoder_hidden: args.encoder_hidden,
            encoder_activation: args.encoder_activation.map(Into::into),
            objective: args.objective,
            gradient: args.gradient.map(Into::into),
        })
    }
}

/// `vic graph`.
#[derive(Debug)]
pub struct GraphConfig {
    pub model: PathBuf,
    pub guide: bool,
    pub dot: bool,
    pub overrides: GuideOverrides,
}

impl TryFrom<GraphArgs> for GraphConfig {
    type Error = Error;

    fn try_from(args: GraphArgs) -> Result<GraphConfig, Error> {
        Ok(GraphConfig {
            model: args.model,
            guide: args.guide,
            dot: args.dot,
            overrides: args.guide_options.try_into()?,
        })
    }
}

/// `vic fit`.
#[derive(Debug)]
pub struct FitConfig {
    pub model: PathBuf,
    pub data: PathBuf,
    pub test: Option<PathBuf>,
    pub out: Option<PathBuf>,
    pub options: FitOptions,
    pub kl: KlMode,
    pub overrides: GuideOverrides,
    pub json: bool,
    pub threads: Threads,
    pub resume: Option<PathBuf>,
}

/// Refuses a zero for a count where zero means nothing.
fn at_least_one(flag: &str, value: u64, hint: &str) -> Result<(), Error> {
    if value == 0 {
        return Err(usage(format!("`{flag}` must be at least 1{hint}")));
    }
    Ok(())
}

impl TryFrom<FitArgs> for FitConfig {
    type Error = Error;

    fn try_from(args: FitArgs) -> Result<FitConfig, Error> {
        if let Some(epochs) = args.epochs {
            at_least_one(
                "--epochs",
                epochs as u64,
                " (leave it out to train until the ELBO converges)",
            )?;
        }
        if let Some(batch) = args.batch {
            at_least_one("--batch", batch as u64, "")?;
        }
        at_least_one("--samples", args.samples as u64, "")?;
        at_least_one("--max-steps", args.max_steps, "")?;
        let threads = fit_threads(args.threads)?;
        if !(args.lr.is_finite() && args.lr > 0.0) {
            return Err(usage(format!(
                "`--lr` must be a positive number, not {}",
                args.lr
            )));
        }
        let pass_rows = args.samples.saturating_mul(args.batch.unwrap_or(1));
        if pass_rows > MAX_PASS_ROWS {
            let batch = args
                .batch
                .map(|b| format!(" with `--batch {b}`"))
                .unwrap_or_default();
            return Err(usage(format!(
                "`--samples {}`{batch} asks for {pass_rows} rows per step, more than the limit of {MAX_PASS_ROWS}",
                args.samples
            )));
        }
        Ok(FitConfig {
            options: FitOptions {
                epochs: args.epochs,
                batch: args.batch,
                lr: args.lr,
                samples: args.samples,
                seed: args.seed,
                max_steps: args.max_steps,
                optimizer: args.optimizer.into(),
                lr_covariance: args.covariance == super::args::CovarianceArg::Lr,
                start: None,
            },
            kl: args.kl.into(),
            overrides: args.guide_options.try_into()?,
            model: args.model,
            data: args.data,
            test: args.test,
            out: args.out,
            json: args.json,
            threads,
            resume: args.resume,
        })
    }
}

/// `--threads`: 1 or 2 (a training step has two halves at most).
fn fit_threads(threads: Option<usize>) -> Result<Threads, Error> {
    match threads {
        None => Ok(Threads::Auto),
        Some(n @ 1..=2) => Ok(Threads::Exactly(n)),
        Some(n) => Err(usage(format!(
            "`--threads` must be 1 or 2, not {n} (leave it out to choose by the model's size)"
        ))),
    }
}

/// `vic eval`.
#[derive(Debug)]
pub struct EvalConfig {
    pub fit: PathBuf,
    pub data: PathBuf,
    /// Importance samples; 0 skips the estimate.
    pub iwae: usize,
    pub seed: u64,
    pub json: bool,
}

impl TryFrom<EvalArgs> for EvalConfig {
    type Error = Error;

    fn try_from(args: EvalArgs) -> Result<EvalConfig, Error> {
        if args.iwae > MAX_PASS_ROWS {
            return Err(usage(format!(
                "`--iwae {}` is more importance samples than the limit of {MAX_PASS_ROWS}",
                args.iwae
            )));
        }
        Ok(EvalConfig {
            fit: args.fit,
            data: args.data,
            iwae: args.iwae,
            seed: args.seed,
            json: args.json,
        })
    }
}

/// `vic sample`: any `-n` is fine, since draws stream in chunks.
#[derive(Debug)]
pub struct SampleConfig {
    pub fit: PathBuf,
    pub n: u64,
    pub out: Option<PathBuf>,
    pub seed: u64,
    /// `--data`, `-` for stdin.
    pub data: Option<PathBuf>,
    pub outputs: Option<Vec<String>>,
    pub png: Option<PathBuf>,
}

impl From<SampleArgs> for SampleConfig {
    fn from(args: SampleArgs) -> SampleConfig {
        SampleConfig {
            fit: args.fit,
            n: args.n,
            out: args.out,
            seed: args.seed,
            data: args.rows.data,
            outputs: args.rows.outputs,
            png: args.png,
        }
    }
}

/// `vic encode` and `vic predict`: `--draws` between 1 and [`MAX_PASS_ROWS`].
#[derive(Debug)]
pub struct RowsConfig {
    pub fit: PathBuf,
    pub data: PathBuf,
    pub outputs: Option<Vec<String>>,
    pub draws: u64,
    pub out: Option<PathBuf>,
    pub seed: u64,
}

fn check_draws(draws: u64) -> Result<(), Error> {
    at_least_one("--draws", draws, "")?;
    if draws > MAX_PASS_ROWS as u64 {
        return Err(usage(format!(
            "`--draws {draws}` is more than the limit of {MAX_PASS_ROWS}"
        )));
    }
    Ok(())
}

impl TryFrom<EncodeArgs> for RowsConfig {
    type Error = Error;

    fn try_from(args: EncodeArgs) -> Result<RowsConfig, Error> {
        check_draws(args.draws as u64)?;
        Ok(RowsConfig {
            fit: args.fit,
            data: args.data,
            outputs: None,
            draws: args.draws as u64,
            out: args.out,
            seed: args.seed,
        })
    }
}

impl TryFrom<PredictArgs> for RowsConfig {
    type Error = Error;

    fn try_from(args: PredictArgs) -> Result<RowsConfig, Error> {
        check_draws(args.draws)?;
        Ok(RowsConfig {
            fit: args.fit,
            data: args.data,
            outputs: args.outputs,
            draws: args.draws,
            out: args.out,
            seed: args.seed,
        })
    }
}

/// `vic summary`.
#[derive(Debug)]
pub struct SummaryConfig {
    pub fit: PathBuf,
    pub json: bool,
}

impl From<SummaryArgs> for SummaryConfig {
    fn from(args: SummaryArgs) -> SummaryConfig {
        SummaryConfig {
            fit: args.fit,
            json: args.json,
        }
    }
}

/// Refuses a draw count of 0 or above `limit`.
fn draws_within(flag: &str, n: usize, limit: usize) -> Result<(), Error> {
    at_least_one(flag, n as u64, "")?;
    if n > limit {
        return Err(usage(format!(
            "`{flag} {n}` is more draws than the limit of {limit}"
        )));
    }
    Ok(())
}

/// `vic draws`: 1 to [`MAX_CMDSTAN_DRAWS`] draws.
#[derive(Debug)]
pub struct DrawsConfig {
    pub fit: PathBuf,
    pub n: usize,
    pub out: Option<PathBuf>,
    pub seed: u64,
}

impl TryFrom<DrawsArgs> for DrawsConfig {
    type Error = Error;

    fn try_from(args: DrawsArgs) -> Result<DrawsConfig, Error> {
        draws_within("-n", args.n, MAX_CMDSTAN_DRAWS)?;
        Ok(DrawsConfig {
            fit: args.fit,
            n: args.n,
            out: args.out,
            seed: args.seed,
        })
    }
}

/// `vic plot`: a `.png` or `.svg` picture from 1 to [`MAX_PLOT_DRAWS`] draws.
#[derive(Debug)]
pub struct PlotConfig {
    pub fit: PathBuf,
    pub out: PathBuf,
    pub format: plot::Format,
    pub draws: usize,
    pub seed: u64,
}

impl TryFrom<PlotArgs> for PlotConfig {
    type Error = Error;

    fn try_from(args: PlotArgs) -> Result<PlotConfig, Error> {
        let format = plot::Format::from_path(&args.out).ok_or_else(|| {
            usage(format!(
                "`--out {}` must end in `.png` or `.svg`, which choose the picture's format",
                args.out.display()
            ))
        })?;
        draws_within("--draws", args.draws, MAX_PLOT_DRAWS)?;
        Ok(PlotConfig {
            fit: args.fit,
            out: args.out,
            format,
            draws: args.draws,
            seed: args.seed,
        })
    }
}
