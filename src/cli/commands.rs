//! One function per subcommand, each from a validated configuration to its output.

use std::fmt::Write as _;
use std::io::{self, Write};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::check::summary;
use crate::infer::data::{self, Dataset};
use crate::infer::evaluate;
use crate::infer::fit::{self, FitRequest, column_specs};
use crate::infer::fitfile::{FitFile, write_atomically_with};
use crate::infer::limits;
use crate::infer::sample::Sampler;
use crate::infer::train::{Observer, Progress};
use crate::ir::{render_dot, render_text};
use crate::lower::log_joint_graph;
use crate::objective::{self, ElboOptions, KlMode, Objective};
use crate::source::{Loaded, load};

use super::Failure;
use super::config::{EvalConfig, FitConfig, GraphConfig, SampleConfig};
use super::error::Error;
use super::report::{
    eval_report, fit_json, fit_summary, interrupted_message, non_finite_message, progress_bar,
};

pub fn check(path: &Path) -> Result<(), Failure> {
    let loaded = load(path)?;
    warn(&loaded);
    let mut out = io::stdout().lock();
    write!(out, "{}", summary(&loaded.model, &loaded.info)).map_err(Failure::output)?;
    out.flush().map_err(Failure::output)?;
    Ok(())
}

fn warn(loaded: &Loaded) {
    if !loaded.warnings.is_empty() {
        let _ = write!(io::stderr(), "{}", loaded.render_warnings());
    }
}

pub fn graph(config: &GraphConfig) -> Result<(), Failure> {
    let loaded = load(&config.model)?;
    warn(&loaded);
    let graph = if config.guide {
        let spec = config.overrides.apply(&loaded.info.guide);
        let options = ElboOptions::training(&spec, KlMode::Sampled, 1);
        objective::build(&loaded.model, &loaded.info, &options)
            .map_err(|e| Error::Usage(e.to_string()))?
            .graph
    } else {
        log_joint_graph(&loaded.model, &loaded.info).0
    };
    let text = if config.dot {
        render_dot(&graph)
    } else {
        render_text(&graph, Some(&loaded.source))
    };
    let mut out = io::stdout().lock();
    out.write_all(text.as_bytes()).map_err(Failure::output)?;
    out.flush().map_err(Failure::output)?;
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

/// The fit's observer: draws the progress bar and relays Ctrl-C to the training loop.
struct FitObserver {
    bar: Option<indicatif::ProgressBar>,
    /// The bound being optimized, e.g. `ELBO` or `IWAE-5 bound`.
    bound: String,
    interrupted: Arc<AtomicBool>,
}

impl Observer for FitObserver {
    fn epoch(&mut self, p: &Progress) {
        if let Some(bar) = &self.bar {
            if p.epochs.is_none() {
                bar.set_length(p.epoch as u64 + 1);
            }
            bar.set_position(p.epoch as u64);
            bar.set_message(format!(
                "{}/row {:.3}  {:.0} rows/s  lr {:.1e}",
                self.bound, p.elbo, p.rows_per_second, p.lr
            ));
        }
    }

    fn stop_requested(&self) -> bool {
        self.interrupted.load(Ordering::Relaxed)
    }
}

/// Makes Ctrl-C set `flag` for the training loop to stop at the end of its step; a
/// second Ctrl-C, once the flag is set, ends the process at once (exit 130).
fn catch_interrupts(flag: &Arc<AtomicBool>) -> Result<(), Error> {
    use signal_hook::consts::SIGINT;
    let install = |e: io::Error| Error::Usage(format!("cannot install the Ctrl-C handler: {e}"));
    // Registered first, so it sees the flag as it was before this signal.
    signal_hook::flag::register_conditional_shutdown(
        SIGINT,
        i32::from(super::EXIT_INTERRUPTED),
        Arc::clone(flag),
    )
    .map_err(install)?;
    signal_hook::flag::register(SIGINT, Arc::clone(flag)).map_err(install)?;
    Ok(())
}

pub fn fit(config: &FitConfig) -> Result<(), Failure> {
    let interrupted = Arc::new(AtomicBool::new(false));
    catch_interrupts(&interrupted)?;
    let loaded = load(&config.model)?;
    warn(&loaded);
    let guide = config.overrides.apply(&loaded.info.guide);
    let train = load_data(&config.data, &loaded)?;
    let test = config
        .test
        .as_deref()
        .map(|p| load_data(p, &loaded))
        .transpose()?;
    let request = FitRequest {
        loaded: &loaded,
        train: &train,
        test: test.as_ref(),
        options: config.options.clone(),
        guide,
        kl: config.kl,
    };
    let mut observer = FitObserver {
        bar: progress_bar(request.options.epochs),
        bound: Objective::from_spec(request.guide.objective).describe(),
        interrupted,
    };
    let report = fit::fit(&request, &mut observer)?;
    if let Some(bar) = observer.bar {
        bar.finish_and_clear();
    }
    let out = config.out.as_deref();
    if let Some(out) = out {
        report.file.write(out)?;
    }
    let mut stdout = io::stdout().lock();
    write!(stdout, "{}", fit_summary(&report.file)).map_err(Failure::output)?;
    if config.json {
        writeln!(stdout, "{}", fit_json(&report.file)).map_err(Failure::output)?;
    }
    stdout.flush().map_err(Failure::output)?;
    if let Some(nf) = &report.non_finite {
        return Err(Error::NonFinite(non_finite_message(&loaded, nf, out)).into());
    }
    if report.file.interrupted {
        return Err(Failure::Interrupted(interrupted_message(&report.file, out)));
    }
    Ok(())
}

pub fn eval(config: &EvalConfig) -> Result<(), Failure> {
    let file = FitFile::read(&config.fit)?;
    let refit = fit::rebuild(&file)?;
    let k = config.iwae;
    // The ELBO runs chunks of `CHUNK_ROWS` rows; the importance-weighted bound at most
    // max(CHUNK_ROWS, K) rows.
    limits::check_rows(&refit.elbo.graph, evaluate::CHUNK_ROWS.max(k), || {
        format!("`--iwae {k}` on this model")
    })?;
    let data = load_data(&config.data, &refit.loaded)?;
    let estimate = evaluate::elbo(
        &refit.elbo,
        &file.params,
        &data,
        file.train_rows,
        config.seed,
        fit::ELBO_TOLERANCE,
        2000,
    )?;
    let iwae = (k > 0)
        .then(|| {
            evaluate::iwae(
                &refit.elbo,
                &file.params,
                &data,
                file.train_rows,
                k,
                config.seed,
            )
        })
        .transpose()?;
    let text = eval_report(data.rows, &estimate, iwae.map(|v| (k, v)), config.json);
    let mut out = io::stdout().lock();
    out.write_all(text.as_bytes()).map_err(Failure::output)?;
    out.flush().map_err(Failure::output)?;
    Ok(())
}

pub fn sample(config: &SampleConfig) -> Result<(), Failure> {
    let file = FitFile::read(&config.fit)?;
    let refit = fit::rebuild(&file)?;
    let chunk = usize::try_from(config.n).unwrap_or(usize::MAX);
    let mut sampler = Sampler::new(
        &refit.loaded.model,
        &refit.loaded.info,
        &refit.elbo,
        &file.params,
        chunk,
        config.seed,
    )?;
    match &config.out {
        Some(path) => {
            // A draw's own failure is kept here, to be reported as itself.
            let mut draw_failure = None;
            let written =
                write_atomically_with(path, |w| match write_draws(&mut sampler, config.n, w) {
                    Ok(()) => Ok(()),
                    Err(Failure::Output(e)) => Err(e),
                    Err(other) => {
                        draw_failure = Some(other);
                        Err(io::Error::other("the draws failed"))
                    }
                });
            if let Some(failure) = draw_failure {
                return Err(failure);
            }
            written.map_err(|source| Error::Write {
                path: path.clone(),
                source,
            })?;
        }
        None => write_draws(&mut sampler, config.n, &mut io::stdout().lock())?,
    }
    Ok(())
}

/// Streams `n` draws as CSV, one chunk at a time.
fn write_draws(sampler: &mut Sampler<'_>, n: u64, out: &mut dyn Write) -> Result<(), Failure> {
    let mut csv = csv::Writer::from_writer(out);
    csv.write_record(sampler.header())
        .map_err(Failure::output)?;
    let width = sampler.width().max(1);
    let mut cell = String::new();
    let mut left = n;
    while left > 0 {
        let k = left.min(sampler.chunk() as u64) as usize;
        let rows = sampler.draw(k)?;
        for row in rows.chunks(width) {
            for v in row {
                cell.clear();
                let _ = write!(cell, "{v}");
                csv.write_field(&cell).map_err(Failure::output)?;
            }
            csv.write_record(None::<&[u8]>).map_err(Failure::output)?;
        }
        left -= k as u64;
    }
    csv.flush().map_err(Failure::output)?;
    Ok(())
}
