//! The `vic` command line: clap commands that call the library. This is the only module
//! that prints or decides the exit status.
//!
//! Subcommands are variants of [`Command`]; each has one `run_*` function.

use std::io::{self, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::check::{Activation, GuideSpec, ModelInfo, summary};
use crate::diag::{Diagnostic, render};
use crate::error::Error;
use crate::infer::data::{self, Dataset};
use crate::infer::evaluate;
use crate::infer::fit::{self, FitRequest, column_specs};
use crate::infer::fitfile::{FitFile, write_atomically};
use crate::infer::sample;
use crate::infer::train::{FitOptions, NonFinite, Progress};
use crate::ir::{render_dot, render_text};
use crate::lower::log_joint_graph;
use crate::objective::{self, ElboOptions, KlMode, Objective};
use crate::source::{Loaded, load};

#[derive(Debug, Parser)]
#[command(
    name = "vic",
    version,
    about = "A probabilistic-programming language with automatic amortized variational inference"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Parse and check a model, and print a summary of it and of its guide.
    Check {
        /// The `.vi` model file.
        model: PathBuf,
    },
    /// Print the computation graph the model lowers to (SPEC section 7).
    Graph {
        /// The `.vi` model file.
        model: PathBuf,
        /// Include the automatic guide and the ELBO.
        #[arg(long)]
        guide: bool,
        /// Print Graphviz `dot` instead of text.
        #[arg(long)]
        dot: bool,
        #[command(flatten)]
        guide_options: GuideArgs,
    },
    /// Fit a model to data by maximizing the ELBO.
    Fit {
        /// The `.vi` model file.
        model: PathBuf,
        /// The training data (CSV).
        #[arg(long)]
        data: PathBuf,
        /// Held-out data (CSV) to report the test ELBO on.
        #[arg(long)]
        test: Option<PathBuf>,
        /// Write the fitted model and guide to this JSON file.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Exactly this many passes over the data (default: until the ELBO converges).
        #[arg(long)]
        epochs: Option<usize>,
        /// Rows per minibatch (default 100, or all rows if fewer).
        #[arg(long)]
        batch: Option<usize>,
        /// Adam's step size.
        #[arg(long, default_value_t = 1e-3)]
        lr: f32,
        /// Monte Carlo samples per row.
        #[arg(long, default_value_t = 1)]
        samples: usize,
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// The step cap when training until convergence.
        #[arg(long, default_value_t = 200_000)]
        max_steps: u64,
        /// `analytic` uses the closed-form Gaussian KL where prior and guide allow it.
        #[arg(long, default_value = "sampled", value_parser = ["sampled", "analytic"])]
        kl: String,
        #[command(flatten)]
        guide_options: GuideArgs,
        /// End stdout with one JSON object of the results.
        #[arg(long)]
        json: bool,
    },
    /// Evaluate a fitted model on data: ELBO and importance-weighted log p(x) per row.
    Eval {
        /// A fit file written by `vic fit --out`.
        fit: PathBuf,
        /// The data (CSV).
        #[arg(long)]
        data: PathBuf,
        /// Importance samples for the log p(x) estimate; 0 skips it.
        #[arg(long, default_value_t = 100)]
        iwae: usize,
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// End stdout with one JSON object of the results.
        #[arg(long)]
        json: bool,
    },
    /// Draw from the fitted generative model.
    Sample {
        /// A fit file written by `vic fit --out`.
        fit: PathBuf,
        /// The number of draws.
        #[arg(short = 'n', default_value_t = 16)]
        n: usize,
        /// Write the draws to this CSV file instead of stdout.
        #[arg(long)]
        out: Option<PathBuf>,
        #[arg(long, default_value_t = 0)]
        seed: u64,
    },
}

/// Guide settings that override the model's `guide { ... }` block (SPEC section 3).
#[derive(Debug, Clone, clap::Args)]
struct GuideArgs {
    /// The flow after the amortized locals' sample: `none`, `planar:K`, `radial:K`.
    #[arg(long)]
    flow: Option<String>,
    /// The flow after the globals' sample.
    #[arg(long)]
    global_flow: Option<String>,
    /// The globals' guide: `meanfield` or `full`.
    #[arg(long)]
    globals: Option<String>,
    /// The encoder's hidden widths, comma-separated (e.g. `256,128`).
    #[arg(long, value_delimiter = ',')]
    encoder_hidden: Option<Vec<usize>>,
    /// The encoder's hidden activation: tanh, relu, softplus, sigmoid, elu.
    #[arg(long)]
    encoder_activation: Option<String>,
}

impl GuideArgs {
    /// The model's guide with these overrides applied.
    fn apply(&self, info: &ModelInfo) -> Result<GuideSpec, Error> {
        let usage = |e: crate::check::SettingError| Error::Usage(e.to_string());
        let mut spec = info.guide.clone();
        if let Some(flow) = &self.flow {
            spec.flow = flow.parse().map_err(usage)?;
        }
        if let Some(flow) = &self.global_flow {
            spec.global_flow = flow.parse().map_err(usage)?;
        }
        if let Some(globals) = &self.globals {
            spec.globals = globals.parse().map_err(usage)?;
        }
        if let Some(hidden) = &self.encoder_hidden {
            if hidden.iter().any(|&w| w == 0 || w > crate::check::MAX_SIZE) {
                return Err(Error::Usage(format!(
                    "encoder widths must be between 1 and {}",
                    crate::check::MAX_SIZE
                )));
            }
            spec.encoder_hidden = hidden.clone();
        }
        if let Some(name) = &self.encoder_activation {
            spec.encoder_activation = Activation::from_name(name).ok_or_else(|| {
                Error::Usage(format!(
                    "unknown activation `{name}`: expected tanh, relu, softplus, sigmoid or elu"
                ))
            })?;
        }
        Ok(spec)
    }
}

/// Why a command stopped: an error to report, or a closed stdout (quietly fine).
enum Failure {
    Error(Error),
    Output(io::Error),
}

impl From<Error> for Failure {
    fn from(error: Error) -> Failure {
        Failure::Error(error)
    }
}

/// Errors of the later stages convert through [`Error`].
macro_rules! failure_from {
    ($($t:ty),*) => {$(
        impl From<$t> for Failure {
            fn from(error: $t) -> Failure {
                Failure::Error(error.into())
            }
        }
    )*};
}

failure_from!(
    crate::infer::data::DataError,
    crate::infer::fit::FitError,
    crate::infer::evaluate::EvalError,
    crate::infer::fitfile::FitFileError
);

impl From<io::Error> for Failure {
    fn from(error: io::Error) -> Failure {
        Failure::Output(error)
    }
}

/// Runs `vic` with the process's arguments and returns its exit status.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => {
            let _ = error.print();
            return if error.use_stderr() {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    let result = match cli.command {
        Command::Check { model } => run_check(&model),
        Command::Graph {
            model,
            guide,
            dot,
            guide_options,
        } => run_graph(&model, guide, dot, &guide_options),
        Command::Fit {
            model,
            data,
            test,
            out,
            epochs,
            batch,
            lr,
            samples,
            seed,
            max_steps,
            kl,
            guide_options,
            json,
        } => {
            let options = FitOptions {
                epochs,
                batch,
                lr,
                samples,
                seed,
                max_steps,
            };
            let kl = if kl == "analytic" {
                KlMode::Analytic
            } else {
                KlMode::Sampled
            };
            let paths = FitPaths {
                model: &model,
                data: &data,
                test: test.as_deref(),
                out: out.as_deref(),
            };
            run_fit(&paths, options, kl, &guide_options, json)
        }
        Command::Eval {
            fit,
            data,
            iwae,
            seed,
            json,
        } => run_eval(&fit, &data, iwae, seed, json),
        Command::Sample { fit, n, out, seed } => run_sample(&fit, n, out.as_deref(), seed),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Output(error)) if error.kind() == io::ErrorKind::BrokenPipe => {
            ExitCode::SUCCESS
        }
        Err(Failure::Output(error)) => {
            let _ = writeln!(io::stderr(), "error: cannot write the output: {error}");
            ExitCode::FAILURE
        }
        Err(Failure::Error(error)) => {
            let text = error.to_string();
            let text = if text.starts_with("error") {
                text
            } else {
                format!("error: {text}")
            };
            let _ = writeln!(io::stderr(), "{}", text.trim_end());
            ExitCode::FAILURE
        }
    }
}

fn run_check(path: &Path) -> Result<(), Failure> {
    let loaded = load(path)?;
    warn(&loaded);
    let mut out = io::stdout().lock();
    write!(out, "{}", summary(&loaded.model, &loaded.info))?;
    out.flush()?;
    Ok(())
}

fn warn(loaded: &Loaded) {
    if !loaded.warnings.is_empty() {
        let _ = write!(io::stderr(), "{}", loaded.render_warnings());
    }
}

fn run_graph(
    path: &Path,
    with_guide: bool,
    dot: bool,
    guide_args: &GuideArgs,
) -> Result<(), Failure> {
    let loaded = load(path)?;
    warn(&loaded);
    let graph = if with_guide {
        let options = ElboOptions {
            spec: guide_args.apply(&loaded.info)?,
            kl: KlMode::Sampled,
            train_rows: 1,
            objective: Objective::Elbo,
        };
        objective::build(&loaded.model, &loaded.info, &options)
            .map_err(|e| Error::Usage(e.to_string()))?
            .graph
    } else {
        log_joint_graph(&loaded.model, &loaded.info).0
    };
    let text = if dot {
        render_dot(&graph)
    } else {
        render_text(&graph, Some(&loaded.source))
    };
    let mut out = io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.flush()?;
    Ok(())
}

fn load_data(path: &Path, loaded: &Loaded) -> Result<Dataset, Failure> {
    let data = data::load(path, &column_specs(loaded))?;
    if !data.ignored.is_empty() {
        let _ = writeln!(
            io::stderr(),
            "note: `{}` has columns the model does not read: {}",
            path.display(),
            data.ignored.join(", ")
        );
    }
    Ok(data)
}

struct FitPaths<'a> {
    model: &'a Path,
    data: &'a Path,
    test: Option<&'a Path>,
    out: Option<&'a Path>,
}

fn run_fit(
    paths: &FitPaths<'_>,
    options: FitOptions,
    kl: KlMode,
    guide_args: &GuideArgs,
    json: bool,
) -> Result<(), Failure> {
    let loaded = load(paths.model)?;
    warn(&loaded);
    let guide = guide_args.apply(&loaded.info)?;
    let train = load_data(paths.data, &loaded)?;
    let test = paths.test.map(|p| load_data(p, &loaded)).transpose()?;
    if options.samples == 0 {
        return Err(Error::Usage("`--samples` must be at least 1".into()).into());
    }
    if !(options.lr.is_finite() && options.lr > 0.0) {
        return Err(Error::Usage("`--lr` must be a positive number".into()).into());
    }
    let request = FitRequest {
        loaded: &loaded,
        train: &train,
        test: test.as_ref(),
        options,
        guide,
        kl,
    };
    let bar = progress_bar(request.options.epochs);
    let mut observe = |p: &Progress| {
        if let Some(bar) = &bar {
            if p.epochs.is_none() {
                bar.set_length(p.epoch as u64 + 1);
            }
            bar.set_position(p.epoch as u64);
            bar.set_message(format!(
                "ELBO/row {:.3}  {:.0} rows/s  lr {:.1e}",
                p.elbo, p.rows_per_second, p.lr
            ));
        }
    };
    let report = fit::fit(&request, &mut observe)?;
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    if let Some(out) = paths.out {
        report.file.write(out)?;
    }
    let mut stdout = io::stdout().lock();
    write!(stdout, "{}", fit_summary(&report.file))?;
    if json {
        writeln!(stdout, "{}", fit_json(&report.file))?;
    }
    stdout.flush()?;
    if let Some(nf) = &report.non_finite {
        return Err(Error::NonFinite(non_finite_message(&loaded, nf, paths.out)).into());
    }
    Ok(())
}

/// A progress bar on stderr, or none when stdout is not a terminal.
fn progress_bar(epochs: Option<usize>) -> Option<indicatif::ProgressBar> {
    if !io::stdout().is_terminal() {
        return None;
    }
    let bar = indicatif::ProgressBar::new(epochs.unwrap_or(1) as u64);
    let template = if epochs.is_some() {
        "epoch {pos}/{len} [{bar:30}] {msg} (eta {eta})"
    } else {
        "epoch {pos} {msg} (until converged)"
    };
    if let Ok(style) = indicatif::ProgressStyle::with_template(template) {
        bar.set_style(style.progress_chars("=> "));
    }
    Some(bar)
}

fn non_finite_message(loaded: &Loaded, nf: &NonFinite, out: Option<&Path>) -> String {
    let what = nf
        .label
        .as_ref()
        .map(|l| format!(" (first at the value `{l}`)"))
        .unwrap_or_default();
    let kept = match out {
        Some(p) => format!(
            "; the last finite parameters were written to `{}`",
            p.display()
        ),
        None => "; the last finite parameters were kept".to_string(),
    };
    let message = format!("the ELBO became non-finite at step {}{what}{kept}", nf.step);
    let hint = "try a lower `--lr` (e.g. 1e-4), or check the scales of the data";
    match nf.origin {
        Some(span) => render(
            &loaded.file,
            &loaded.source,
            &Diagnostic::error(span, message)
                .with_label("this computation was the first to turn non-finite")
                .with_hint(hint),
        ),
        None => format!("error: {message}\n  = hint: {hint}"),
    }
}

fn fit_summary(file: &FitFile) -> String {
    use std::fmt::Write as _;
    let f = &file.figures;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "fit: {} epochs, {} steps in {:.2} s ({})",
        f.epochs, f.steps, f.seconds, f.stopped
    );
    let _ = writeln!(out, "train ELBO per row: {:.4}", f.train_elbo);
    if let Some(test) = f.test_elbo {
        let _ = writeln!(out, "test ELBO per row:  {test:.4}");
    }
    if !f.globals.is_empty() {
        let _ = writeln!(
            out,
            "\nglobals (posterior, constrained scale, from guide draws):"
        );
        let _ = writeln!(
            out,
            "  {:<12} {:>10} {:>10} {:>10} {:>10}",
            "name", "mean", "sd", "5%", "95%"
        );
        for g in &f.globals {
            for j in 0..g.mean.len() {
                let name = if g.mean.len() == 1 {
                    g.name.clone()
                } else {
                    format!("{}[{j}]", g.name)
                };
                let _ = writeln!(
                    out,
                    "  {name:<12} {:>10.4} {:>10.4} {:>10.4} {:>10.4}",
                    g.mean[j], g.sd[j], g.q05[j], g.q95[j]
                );
            }
        }
    }
    out
}

fn fit_json(file: &FitFile) -> String {
    let f = &file.figures;
    let globals: serde_json::Map<String, serde_json::Value> = f
        .globals
        .iter()
        .map(|g| {
            (
                g.name.clone(),
                serde_json::json!({ "mean": g.mean, "sd": g.sd }),
            )
        })
        .collect();
    serde_json::json!({
        "train_elbo": f.train_elbo,
        "test_elbo": f.test_elbo,
        "epochs": f.epochs,
        "steps": f.steps,
        "seconds": f.seconds,
        "globals": globals,
    })
    .to_string()
}

fn run_eval(
    fit_path: &Path,
    data_path: &Path,
    k: usize,
    seed: u64,
    json: bool,
) -> Result<(), Failure> {
    let file = FitFile::read(fit_path)?;
    let refit = fit::rebuild(&file)?;
    let data = load_data(data_path, &refit.loaded)?;
    let estimate = evaluate::elbo(
        &refit.elbo,
        &file.params,
        &data,
        file.train_rows,
        seed,
        fit::ELBO_TOLERANCE,
        2000,
    )?;
    let iwae = (k > 0)
        .then(|| evaluate::iwae(&refit.elbo, &file.params, &data, file.train_rows, k, seed))
        .transpose()?;
    let mut out = io::stdout().lock();
    writeln!(out, "rows: {}", data.rows)?;
    writeln!(
        out,
        "ELBO per row: {:.4} (Monte Carlo error {:.4})",
        estimate.per_row, estimate.mc_error
    )?;
    if let Some(v) = iwae {
        writeln!(
            out,
            "log p(x) per row (importance-weighted, K = {k}): {v:.4}"
        )?;
    }
    if json {
        let value =
            serde_json::json!({ "rows": data.rows, "elbo": estimate.per_row, "iwae": iwae });
        writeln!(out, "{value}")?;
    }
    out.flush()?;
    Ok(())
}

fn run_sample(fit_path: &Path, n: usize, out: Option<&Path>, seed: u64) -> Result<(), Failure> {
    let file = FitFile::read(fit_path)?;
    let refit = fit::rebuild(&file)?;
    let draws = sample::sample(
        &refit.loaded.model,
        &refit.loaded.info,
        &refit.elbo,
        &file.params,
        n,
        seed,
    )?;
    let text = draws.to_csv();
    match out {
        Some(path) => write_atomically(path, text.as_bytes()).map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })?,
        None => {
            let mut stdout = io::stdout().lock();
            stdout.write_all(text.as_bytes())?;
            stdout.flush()?;
        }
    }
    Ok(())
}
