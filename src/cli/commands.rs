//! One function per subcommand, each from a validated configuration to its output.

use std::fmt::Write as _;
use std::io::{self, IsTerminal, Read, Write};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::check::summary as check_summary;
use crate::check::{FlowSpec, SymbolKind};
use crate::dist::Elem;
use crate::infer::data::{self, Dataset};
use crate::infer::fit::{self, FitRequest, column_specs};
use crate::infer::fitfile::{self, FitFile, check_target, write_atomically_with};
use crate::infer::limits;
use crate::infer::sample::{Conditions, Sampler, likelihood_targets};
use crate::infer::train::{Observer, Progress};
use crate::infer::{encode, evaluate, plot, predict, summary};
use crate::ir::{render_dot, render_text};
use crate::lower::log_joint_graph;
use crate::objective::{self, ElboOptions, KlMode, Objective};
use crate::source::{Loaded, SourceError, analyze, load};

use super::Failure;
use super::config::{
    DEFAULT_PREDICT_DRAWS, DrawsConfig, EvalConfig, FitConfig, GraphConfig, PlotConfig, RowsConfig,
    SampleConfig, SummaryConfig,
};
use super::error::Error;
use super::report::{
    eval_report, fit_json, fit_summary, interrupted_message, non_finite_message, progress_bar,
};

/// Loads a model file, or the model text on stdin for `-`.
fn load_model(path: &Path) -> Result<Loaded, Failure> {
    if path != Path::new("-") {
        return Ok(load(path)?);
    }
    let bytes = read_rows(path)?;
    let text = String::from_utf8(bytes).map_err(|e| SourceError::NotUtf8 {
        path: path.to_owned(),
        offset: e.utf8_error().valid_up_to(),
    })?;
    Ok(analyze("<stdin>", text)?)
}

pub fn check(path: &Path) -> Result<(), Failure> {
    let loaded = load_model(path)?;
    warn(&loaded);
    let mut out = io::stdout().lock();
    let info = &loaded.info;
    let flow_columns = crate::guide::flow::encoder_columns(info.guide.flow, info.amortized_width());
    write!(out, "{}", check_summary(&loaded.model, info, flow_columns)).map_err(Failure::output)?;
    out.flush().map_err(Failure::output)?;
    Ok(())
}

fn warn(loaded: &Loaded) {
    if !loaded.warnings.is_empty() {
        let _ = write!(io::stderr(), "{}", loaded.render_warnings());
    }
}

pub fn graph(config: &GraphConfig) -> Result<(), Failure> {
    let loaded = load_model(&config.model)?;
    warn(&loaded);
    let graph = if config.guide {
        let spec = config.overrides.apply(&loaded.info.guide);
        loaded
            .info
            .check_param_budget(&spec.encoder_hidden)
            .map_err(|e| Error::Usage(e.to_string()))?;
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

/// Reads a data file (`-`: stdin) for `loaded`'s model.
fn load_data(path: &Path, loaded: &Loaded) -> Result<Dataset, Failure> {
    let specs = column_specs(loaded);
    let data = if path == Path::new("-") {
        data::parse(path, &read_rows(path)?, &specs)?
    } else {
        data::load(path, &specs)?
    };
    note_ignored(path, &data);
    Ok(data)
}

/// Says which columns the model does not read; when they are most of the file, warns
/// that it is likely not data for this model (MNIST columns for a digits model).
fn note_ignored(path: &Path, data: &Dataset) {
    let read: usize = data.columns.iter().map(|c| c.spec.width()).sum();
    if data.ignored.len() > read {
        let _ = writeln!(
            io::stderr(),
            "warning: the model reads only {read} of the {} columns of `{}`; the other {} were ignored (is this data for this model?)",
            read + data.ignored.len(),
            path.display(),
            data.ignored.len()
        );
    } else if !data.ignored.is_empty() {
        let _ = writeln!(
            io::stderr(),
            "note: `{}` has columns the model does not read: {}",
            path.display(),
            data.ignored.join(", ")
        );
    }
}

/// How often a fit whose stderr is not a terminal logs a progress line: a short fit
/// leaves no log, a long one a line per interval.
const LOG_EVERY: std::time::Duration = std::time::Duration::from_secs(5);

/// The fit's observer: draws the progress bar (or, when stderr is not a terminal, logs
/// a plain line every [`LOG_EVERY`]) and relays Ctrl-C to the training loop.
struct FitObserver {
    bar: Option<indicatif::ProgressBar>,
    /// When the last plain progress line was written, if they are written at all.
    log: Option<std::time::Instant>,
    /// The bound being optimized, e.g. `ELBO` or `IWAE-5 bound`.
    bound: String,
    interrupted: Arc<AtomicBool>,
}

impl Observer for FitObserver {
    fn epoch(&mut self, p: &Progress) {
        if let Some(last) = &mut self.log
            && last.elapsed() >= LOG_EVERY
        {
            *last = std::time::Instant::now();
            let of = p.epochs.map(|n| format!("/{n}")).unwrap_or_default();
            let valid = p
                .valid_elbo
                .map(|v| format!(", best held-out ELBO/row {v:.4}"))
                .unwrap_or_default();
            let _ = writeln!(
                io::stderr(),
                "epoch {}{of} step {}: ELBO/row {:.4}{valid}, {:.0} rows/s, lr {:.1e}",
                p.epoch,
                p.step,
                p.elbo,
                p.rows_per_second,
                p.lr
            );
        }
        if let Some(bar) = &self.bar {
            if p.epochs.is_none() {
                bar.set_length(p.epoch as u64 + 1);
            }
            bar.set_position(p.epoch as u64);
            let valid = p
                .valid_elbo
                .map(|v| format!("  held-out {v:.3}"))
                .unwrap_or_default();
            bar.set_message(format!(
                "{}/row {:.3}{valid}  {:.0} rows/s  lr {:.1e}",
                self.bound, p.elbo, p.rows_per_second, p.lr
            ));
        }
    }

    fn final_estimate(&mut self, what: &str, p: &crate::infer::evaluate::EvalProgress) {
        let line = format!(
            "final {what} ELBO estimate: {} passes, Monte Carlo error {:.2e} per row (target {:.1e})",
            p.passes, p.mc_error, p.tolerance
        );
        if let Some(bar) = &self.bar {
            bar.set_message(line);
        } else if let Some(last) = &mut self.log
            && last.elapsed() >= LOG_EVERY
        {
            *last = std::time::Instant::now();
            let _ = writeln!(io::stderr(), "{line}");
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
    config.threads.set();
    let interrupted = Arc::new(AtomicBool::new(false));
    catch_interrupts(&interrupted)?;
    let stdin = Path::new("-");
    if config.model == stdin && (config.data == stdin || config.test.as_deref() == Some(stdin)) {
        return Err(Error::Usage(
            "only one of the model and the data can be read from stdin (`-`)".to_string(),
        )
        .into());
    }
    let loaded = load_model(&config.model)?;
    warn(&loaded);
    let guide = config.overrides.apply(&loaded.info.guide);
    loaded
        .info
        .check_param_budget(&guide.encoder_hidden)
        .map_err(|e| Error::Usage(e.to_string()))?;
    let flows = [("--flow", guide.flow), ("--global-flow", guide.global_flow)];
    if config.kl == KlMode::Analytic {
        for (what, flow) in flows.iter().filter(|(_, f)| *f != FlowSpec::None) {
            let _ = writeln!(
                io::stderr(),
                "note: `--kl analytic` with the flow `{flow}` ({what}): a flow makes q non-Gaussian, so the KL of the latents it follows is sampled"
            );
        }
    }
    if let Some(out) = &config.out {
        // Refused now, not after a long training run whose result would then be lost.
        check_target(out).map_err(|source| Error::Write {
            path: out.clone(),
            source,
        })?;
    }
    let resumed = config.resume.as_deref().map(FitFile::read).transpose()?;
    let mut options = config.options.clone();
    if let (Some(file), Some(path)) = (&resumed, &config.resume) {
        note_interrupted(file, path);
        options.start = Some(file.params.clone());
    }
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
        options,
        guide,
        kl: config.kl,
    };
    let bar = progress_bar(request.options.epochs);
    let log = (bar.is_none() && !io::stderr().is_terminal()).then(std::time::Instant::now);
    let mut observer = FitObserver {
        bar,
        log,
        bound: Objective::from_spec(request.guide.objective).describe(),
        interrupted,
    };
    let mut report = fit::fit(&request, &mut observer)?;
    if let (Some(file), Some(path)) = (&resumed, &config.resume) {
        let steps = file.trace.last().map_or(0, |p| p.step);
        let _ = writeln!(
            io::stderr(),
            "note: resumed from the parameters of `{}` after its {steps} steps, with a fresh optimizer state",
            path.display()
        );
        report.file.trace = fitfile::continue_trace(&file.trace, &report.file.trace);
    }
    if let Some(bar) = observer.bar {
        bar.finish_and_clear();
    }
    let out = config.out.as_deref();
    if let Some(out) = out {
        report.file.write(out)?;
    }
    let posterior = posterior(&loaded, &report.elbo, &report.file)?;
    let mut stdout = io::stdout().lock();
    write!(stdout, "{}", fit_summary(&report.file, &posterior)).map_err(Failure::output)?;
    if config.json {
        writeln!(stdout, "{}", fit_json(&report.file, &posterior)).map_err(Failure::output)?;
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
    note_interrupted(&file, &config.fit);
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
        evaluate::Precision {
            target: evaluate::ErrorTarget::PerRow(fit::ELBO_TOLERANCE),
            max_passes: 2000,
        },
        &mut |_| true,
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
    let scores = predictive_scores(&refit, &file, &data, config.seed)?;
    let text = eval_report(
        data.rows,
        &estimate,
        iwae.map(|v| (k, v)),
        &scores,
        config.json,
    );
    let mut out = io::stdout().lock();
    out.write_all(text.as_bytes()).map_err(Failure::output)?;
    out.flush().map_err(Failure::output)?;
    Ok(())
}

/// How well the posterior predictive mean of each likelihood target matches `data`,
/// for a model with covariates (a model without them has nothing to predict from).
fn predictive_scores(
    refit: &fit::Refit,
    file: &FitFile,
    data: &Dataset,
    seed: u64,
) -> Result<Vec<predict::Score>, Failure> {
    let (model, info) = (&refit.loaded.model, &refit.loaded.info);
    let outputs = likelihood_targets(model, info);
    if outputs.len() == data.columns.len() {
        return Ok(Vec::new());
    }
    let conditions = Conditions {
        data: data.clone(),
        outputs,
        complete: false,
        train_rows: file.train_rows,
    };
    let prediction = predict::predict(
        model,
        info,
        &refit.elbo,
        &file.params,
        &conditions,
        DEFAULT_PREDICT_DRAWS,
        seed,
    )?;
    Ok(predict::score(&prediction, &conditions))
}

/// The bytes of a data file, or of stdin for `-`.
fn read_rows(path: &Path) -> Result<Vec<u8>, Failure> {
    let read = if path == Path::new("-") {
        let mut bytes = Vec::new();
        io::stdin().lock().read_to_end(&mut bytes).map(|_| bytes)
    } else {
        std::fs::read(path)
    };
    read.map_err(|source| {
        Failure::from(data::DataError::Io {
            path: path.to_owned(),
            source,
        })
    })
}

/// The rows `--data` names, conditioned on as `--outputs` says.
fn conditions(
    refit: &fit::Refit,
    train_rows: usize,
    path: &Path,
    outputs: Option<&[String]>,
) -> Result<Conditions, Failure> {
    let bytes = read_rows(path)?;
    let loaded = &refit.loaded;
    let c = Conditions::read(
        path,
        &bytes,
        &loaded.model,
        &loaded.info,
        &column_specs(loaded),
        outputs,
        train_rows,
    )?;
    note_ignored(path, &c.data);
    Ok(c)
}

pub fn sample(config: &SampleConfig) -> Result<(), Failure> {
    let interrupted = Arc::new(AtomicBool::new(false));
    catch_interrupts(&interrupted)?;
    for out in config.out.iter().chain(&config.png) {
        // Refused before any file is read, as `fit` does.
        check_target(out).map_err(|source| Error::Write {
            path: out.clone(),
            source,
        })?;
    }
    let file = FitFile::read(&config.fit)?;
    note_interrupted(&file, &config.fit);
    let refit = fit::rebuild(&file)?;
    let conditions = config
        .data
        .as_deref()
        .map(|p| conditions(&refit, file.train_rows, p, config.outputs.as_deref()))
        .transpose()?;
    let chunk = usize::try_from(config.n).unwrap_or(usize::MAX);
    let mut sampler = Sampler::new(
        &refit.loaded.model,
        &refit.loaded.info,
        &refit.elbo,
        &file.params,
        chunk,
        config.seed,
        conditions.as_ref().map(|c| (c, config.n)),
    )?;
    let n = sampler.total().unwrap_or(config.n);
    if let Some(png) = &config.png {
        let info = &refit.loaded.info;
        return picture(&mut sampler, info, conditions.as_ref(), n, png);
    }
    match &config.out {
        Some(path) => {
            // A draw's own failure is kept here, to be reported as itself.
            let mut draw_failure = None;
            let written = write_atomically_with(path, |w| {
                match write_draws(&mut sampler, n, &interrupted, w) {
                    Ok(()) => Ok(()),
                    Err(Failure::Output(e)) => Err(e),
                    Err(other) => {
                        draw_failure = Some(other);
                        Err(io::Error::other("the draws failed"))
                    }
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
        None => write_draws(&mut sampler, n, &interrupted, &mut io::stdout().lock())?,
    }
    Ok(())
}

/// Says on stderr that a fit file holds an interrupted fit, whose parameters are those
/// reached when it stopped.
fn note_interrupted(file: &FitFile, path: &Path) {
    if file.interrupted {
        let _ = writeln!(
            io::stderr(),
            "note: `{}` holds a fit that was interrupted; its parameters are those reached when it stopped",
            path.display()
        );
    }
}

/// The most cells `vic sample --png` draws.
const MAX_PICTURE_CELLS: u64 = 4096;

/// Draws `n` images of the first drawn square `bool`/`unit` vector into a PNG grid:
/// about square without data, one line per data row (the original, then its draws)
/// with it.
fn picture(
    sampler: &mut Sampler<'_>,
    info: &crate::check::ModelInfo,
    conditions: Option<&Conditions>,
    n: u64,
    path: &Path,
) -> Result<(), Failure> {
    // With data rows, the picture sets each original beside its draws, so the image
    // must be a data declaration the rows hold.
    let image = sampler.groups().iter().find_map(|g| {
        let s = info.symbol(g.symbol);
        let shown = matches!(s.elem, Elem::Bool | Elem::Unit)
            && (conditions.is_none() || matches!(s.kind, SymbolKind::Data));
        let side = plot::square_side(g.width).filter(|_| shown)?;
        Some((g.clone(), side))
    });
    let Some((image, side)) = image else {
        return Err(Error::Usage(
            "`--png` draws a square `bool` or `unit` vector (e.g. `data x: bool[64]`), and this model draws none".to_string(),
        )
        .into());
    };
    if n > MAX_PICTURE_CELLS {
        return Err(Error::Usage(format!(
            "`--png` draws at most {MAX_PICTURE_CELLS} images, not {n}"
        ))
        .into());
    }
    let width = sampler.width();
    let mut draws: Vec<Vec<f32>> = Vec::new();
    let mut rows_of: Vec<usize> = Vec::new();
    while (draws.len() as u64) < n {
        let k = (n - draws.len() as u64).min(sampler.chunk() as u64) as usize;
        let chunk = sampler.draw(k)?.to_vec();
        rows_of.extend_from_slice(sampler.rows_of_chunk());
        draws.extend(
            chunk
                .chunks(width)
                .map(|d| d[image.offset..image.offset + image.width].to_vec()),
        );
    }
    let mut cells: Vec<&[f32]> = Vec::new();
    let columns = match conditions {
        Some(c) => {
            let name = &info.symbol(image.symbol).name;
            let Some(column) = c.data.columns.iter().find(|col| &col.spec.name == name) else {
                return Err(Error::Usage(format!(
                    "`--png` with `--data` sets each row's `{name}` beside its draws, and the data has no `{name}`"
                ))
                .into());
            };
            let per_row = (n as usize) / c.data.rows.max(1);
            for (i, d) in draws.iter().enumerate() {
                if i % per_row.max(1) == 0 {
                    cells.push(column.row(rows_of[i]));
                }
                cells.push(d);
            }
            per_row + 1
        }
        None => {
            cells.extend(draws.iter().map(Vec::as_slice));
            (n as f64).sqrt().ceil() as usize
        }
    };
    let grid = plot::grid(&cells, side, columns);
    write_atomically_with(path, |w| grid.write_png(w)).map_err(|source| Error::Write {
        path: path.to_owned(),
        source,
    })?;
    Ok(())
}

/// Streams `n` draws as CSV, one chunk at a time; Ctrl-C stops between chunks (an
/// `--out` file is then not written, and its temporary file is removed).
fn write_draws(
    sampler: &mut Sampler<'_>,
    n: u64,
    interrupted: &AtomicBool,
    out: &mut dyn Write,
) -> Result<(), Failure> {
    let mut csv = csv::Writer::from_writer(out);
    csv.write_record(sampler.header())
        .map_err(Failure::output)?;
    let width = sampler.width().max(1);
    let mut cell = String::new();
    let mut left = n;
    while left > 0 {
        if interrupted.load(Ordering::Relaxed) {
            return Err(Failure::Interrupted(format!(
                "interrupted: {} of {n} draws were made",
                n - left
            )));
        }
        let k = left.min(sampler.chunk() as u64) as usize;
        let rows = sampler.draw(k)?.to_vec();
        let data_rows = sampler.rows_of_chunk();
        for (i, row) in rows.chunks(width).enumerate() {
            if let Some(r) = data_rows.get(i) {
                csv.write_field((r + 1).to_string())
                    .map_err(Failure::output)?;
            }
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

/// Writes a per-row table (`row` first, 1-based) as CSV to `out` or stdout.
fn write_table(header: &[String], values: &[f64], out: Option<&Path>) -> Result<(), Failure> {
    let width = header.len().saturating_sub(1).max(1);
    let write = |w: &mut dyn Write| -> Result<(), csv::Error> {
        let mut csv = csv::Writer::from_writer(w);
        csv.write_record(header)?;
        for (r, row) in values.chunks(width).enumerate() {
            csv.write_field((r + 1).to_string())?;
            for v in row {
                csv.write_field(format!("{v}"))?;
            }
            csv.write_record(None::<&[u8]>)?;
        }
        csv.flush()?;
        Ok(())
    };
    match out {
        Some(path) => {
            write_atomically_with(path, |w| write(w).map_err(io::Error::from)).map_err(|source| {
                Failure::from(Error::Write {
                    path: path.to_owned(),
                    source,
                })
            })
        }
        None => write(&mut io::stdout().lock()).map_err(Failure::output),
    }
}

pub fn encode(config: &RowsConfig) -> Result<(), Failure> {
    let file = FitFile::read(&config.fit)?;
    let refit = fit::rebuild(&file)?;
    let bytes = read_rows(&config.data)?;
    let data = data::parse(&config.data, &bytes, &column_specs(&refit.loaded))?;
    note_ignored(&config.data, &data);
    let encoding = encode::encode(
        &refit.elbo,
        &refit.loaded.info,
        &file.params,
        &data,
        file.train_rows,
        config.draws as usize,
        config.seed,
    )?;
    if !encoding.omitted.is_empty() {
        let _ = writeln!(
            io::stderr(),
            "note: the free locals {} exist only for the {} training rows; this file has {} rows, so they are left out",
            encoding.omitted.join(", "),
            file.train_rows,
            data.rows
        );
    }
    if encoding.header.len() == 1 {
        return Err(Error::Usage("the model has no local latents to encode".to_string()).into());
    }
    write_table(&encoding.header, &encoding.values, config.out.as_deref())
}

pub fn predict(config: &RowsConfig) -> Result<(), Failure> {
    let file = FitFile::read(&config.fit)?;
    let refit = fit::rebuild(&file)?;
    let c = conditions(
        &refit,
        file.train_rows,
        &config.data,
        config.outputs.as_deref(),
    )?;
    let prediction = predict::predict(
        &refit.loaded.model,
        &refit.loaded.info,
        &refit.elbo,
        &file.params,
        &c,
        config.draws,
        config.seed,
    )?;
    write_table(
        &prediction.header,
        &prediction.values,
        config.out.as_deref(),
    )
}

/// The posterior summary of a fit: [`summary::SUMMARY_DRAWS`] guide draws with the
/// fit's own seed, so `vic summary` prints exactly what `vic fit` printed.
fn posterior(
    loaded: &Loaded,
    elbo: &objective::ElboGraph,
    file: &FitFile,
) -> Result<summary::Summary, Failure> {
    let draws = summary::draw(
        &loaded.model,
        &loaded.info,
        elbo,
        &file.params,
        summary::SUMMARY_DRAWS,
        file.options.seed,
    )?;
    Ok(summary::summarize(&draws))
}

pub fn summary(config: &SummaryConfig) -> Result<(), Failure> {
    let file = FitFile::read(&config.fit)?;
    let refit = fit::rebuild(&file)?;
    let posterior = posterior(&refit.loaded, &refit.elbo, &file)?;
    let mut stdout = io::stdout().lock();
    write!(stdout, "{}", fit_summary(&file, &posterior)).map_err(Failure::output)?;
    if config.json {
        writeln!(stdout, "{}", fit_json(&file, &posterior)).map_err(Failure::output)?;
    }
    stdout.flush().map_err(Failure::output)?;
    Ok(())
}

/// A fit file and `n` guide draws of its globals, params and global lets.
fn guide_draws(path: &Path, n: usize, seed: u64) -> Result<(FitFile, summary::Draws), Failure> {
    let file = FitFile::read(path)?;
    note_interrupted(&file, path);
    let refit = fit::rebuild(&file)?;
    let draws = summary::draw(
        &refit.loaded.model,
        &refit.loaded.info,
        &refit.elbo,
        &file.params,
        n,
        seed,
    )?;
    Ok((file, draws))
}

pub fn draws(config: &DrawsConfig) -> Result<(), Failure> {
    let (file, draws) = guide_draws(&config.fit, config.n, config.seed)?;
    let comments = [
        format!("vic {} draws from the guide of `{}`", env!("CARGO_PKG_VERSION"), config.fit.display()),
        "model = ".to_string() + &file.model_file,
        "method = variational".to_string(),
        "  variational".to_string(),
        format!(
            "    algorithm = {}",
            if file.guide.globals == "full" { "fullrank" } else { "meanfield" }
        ),
        format!("    output_samples = {}", config.n),
        format!("seed = {}", config.seed),
        "lp__ is 0 as in CmdStan; log_p__ and log_g__ are 0: a fit file holds no data".to_string(),
        "the first row is the mean of the draws, as CmdStan's first row is the approximation's mean".to_string(),
    ];
    let write = |w: &mut dyn Write| summary::write_cmdstan_csv(&draws, &comments, w);
    match &config.out {
        Some(path) => write_atomically_with(path, |w| write(w)).map_err(|source| Error::Write {
            path: path.clone(),
            source,
        })?,
        None => write(&mut io::stdout().lock()).map_err(Failure::output)?,
    }
    Ok(())
}

/// The most global elements `vic plot` draws a density of.
const MAX_DENSITIES: usize = 12;

pub fn plot(config: &PlotConfig) -> Result<(), Failure> {
    check_target(&config.out).map_err(|source| Error::Write {
        path: config.out.clone(),
        source,
    })?;
    let (file, draws) = guide_draws(&config.fit, config.draws, config.seed)?;
    let globals: Vec<usize> = draws
        .column_kinds()
        .enumerate()
        .filter(|&(_, kind)| kind == summary::Kind::Global)
        .map(|(j, _)| j)
        .collect();
    let shown: Vec<plot::Draws> = globals
        .iter()
        .take(MAX_DENSITIES)
        .map(|&j| plot::Draws {
            name: draws.columns[j].clone(),
            values: draws.column(j).collect(),
        })
        .collect();
    let figure = plot::figure(&file.trace, &shown);
    write_atomically_with(&config.out, |w| {
        plot::write_figure(&figure, config.format, w)
    })
    .map_err(|source| Error::Write {
        path: config.out.clone(),
        source,
    })?;
    let (width, height) = figure.size();
    let halvings = plot::halvings(&file.trace).len();
    let mut out = io::stdout().lock();
    let mut line = format!(
        "wrote {} ({width}x{height}): the ELBO trace ({} points, {halvings} step-size halvings",
        config.out.display(),
        file.trace.len()
    );
    if file.trace.iter().any(|p| p.valid_elbo.is_some()) {
        line.push_str(", held-out ELBO");
    }
    line.push(')');
    if !shown.is_empty() {
        let _ = write!(
            line,
            " and the posterior densities of {} global elements",
            shown.len()
        );
        if globals.len() > shown.len() {
            let _ = write!(line, " (the first {} of {})", shown.len(), globals.len());
        }
    }
    writeln!(out, "{line}").map_err(Failure::output)
}
