//! A whole fit, as `vic fit` runs it: build the ELBO graph for the model and guide,
//! train, then estimate the final figures with fresh samples and assemble the
//! [`FitFile`]. Also rebuilding the graph a fit file describes, for `eval` and `sample`,
//! after checking the file's parameters against it.
//!
//! Every graph's memory is checked against [`limits::MAX_WORKING_BYTES`] before an
//! executor is allocated for it. Nothing here prints.

use std::collections::HashMap;

use crate::check::hir::{ExprKind, StmtKind};
use crate::check::{GuideSpec, ModelInfo, Resolved, Shape, SymbolKind};
use crate::dist::DataRange;
use crate::guide::GuideError;
use crate::ir::Graph;
use crate::objective::{self, ElboGraph, ElboOptions, Gradient, KlMode, Objective};
use crate::source::{Loaded, SourceError, analyze};

use super::dadvi;
use super::data::{Bound, ColumnSpec, Dataset};
use super::evaluate::{self, EvalError};
use super::fitfile::{self, FORMAT_VERSION, Figures, FitFile, GuideSettings};
use super::limits::{self, TooLarge};
use super::psis;
use super::session::NamedParam;
use super::train::{self, FitOptions, NonFinite, Observer, Optimizer, Outcome};

/// The Monte Carlo standard error the final ELBO figures are estimated to (SPEC 5).
pub const ELBO_TOLERANCE: f64 = 0.01;
/// The Monte Carlo standard error of a DADVI fit's final total ELBO, in nats.
pub const TOTAL_ELBO_TOLERANCE: f64 = 0.01;
/// The passes over the data the final estimate may take: this many, or on small data
/// as many as make [`MAX_EVAL_ROWS`] rows (about 0.1 s of a small model), since a
/// mean-field fit with heavy-tailed weights needs thousands of passes of a few dozen
/// rows to reach the total error target.
const MAX_PASSES: usize = 2000;
const MAX_EVAL_ROWS: usize = 2_000_000;
/// Joint importance weights behind the PSIS diagnostic.
const PSIS_DRAWS: usize = 400;
/// Rows (evenly spaced) and guide draws per row behind the per-row PSIS diagnostic of
/// an amortized guide: 200 draws give PSIS a tail of 40 weights, and 100 rows cost a
/// few tenths of a second on MNIST.
const ROW_PSIS_ROWS: usize = 100;
const ROW_PSIS_DRAWS: usize = 200;
/// Guide draws behind the posterior summary of the globals.
const SUMMARY_DRAWS: usize = 4000;

/// What the model expects of the data file, in declaration order, with the range the
/// likelihood over each column imposes beyond its type.
pub fn column_specs(loaded: &Loaded) -> Vec<ColumnSpec> {
    let info = &loaded.info;
    info.of_kind(|k| matches!(k, SymbolKind::Data))
        .map(|(id, s)| ColumnSpec {
            name: s.name.clone(),
            elem: s.elem,
            size: match s.shape {
                Shape::Scalar => None,
                // Data is never a matrix (the checker refuses one).
                shape => Some(shape.width()),
            },
            bound: loaded.model.stmts.iter().find_map(|stmt| match &stmt.kind {
                StmtKind::Likelihood { symbol, dist } if *symbol == id => data_bound(info, dist),
                _ => None,
            }),
        })
        .collect()
}

/// The range a family's data must keep beyond its element type (its
/// [`DataRange`]), as the reader's [`Bound`] on the observed column.
fn data_bound(info: &ModelInfo, dist: &Resolved) -> Option<Bound> {
    match dist.family.data_range()? {
        DataRange::ClassBelowWidthOf { param } => {
            Some(Bound::Below(dist.args[param].shape.width()))
        }
        // The checker allows only a literal or `int` data as a total.
        DataRange::AtMost { param } => match dist.args[param].kind {
            ExprKind::Number(total) => Some(Bound::AtMost(total as u64)),
            ExprKind::Vector(ref items) => Some(Bound::AtMostEach(
                items
                    .iter()
                    .map(|item| match item.kind {
                        ExprKind::Number(total) => total as u64,
                        _ => u64::MAX,
                    })
                    .collect(),
            )),
            ExprKind::Symbol(id) => Some(Bound::AtMostColumn(info.symbol(id).name.clone())),
            _ => None,
        },
    }
}

/// Everything a fit needs.
pub struct FitRequest<'a> {
    pub loaded: &'a Loaded,
    pub train: &'a Dataset,
    pub test: Option<&'a Dataset>,
    pub options: FitOptions,
    pub guide: GuideSpec,
    pub kl: KlMode,
}

/// A finished fit: the file to write, whether training met a non-finite ELBO, and
/// whether it was interrupted.
pub struct FitReport {
    pub file: FitFile,
    pub non_finite: Option<NonFinite>,
    pub elbo: ElboGraph,
}

#[derive(Debug, thiserror::Error)]
pub enum FitError {
    #[error(transparent)]
    Guide(#[from] GuideError),
    #[error(transparent)]
    Eval(#[from] EvalError),
    #[error("{0}; use a smaller `--batch` or `--samples`, or a smaller model")]
    TooLarge(#[from] TooLarge),
    #[error(
        "`--optimizer dadvi` needs a guide without amortized locals (declare the locals `free` in the guide block, or use `--optimizer adam`)"
    )]
    DadviAmortized,
    #[error(
        "the fit file given to `--resume` does not match this model and guide: {0}; resume with the model and guide options that made it"
    )]
    Resume(String),
    #[error(
        "`--optimizer dadvi` maximizes the plain ELBO: use it without `--objective iwae:K` and `--gradient stl`, or use `--optimizer adam`"
    )]
    DadviObjective,
}

/// Fits the model and estimates the final figures.
pub fn fit(request: &FitRequest<'_>, observer: &mut dyn Observer) -> Result<FitReport, FitError> {
    let loaded = request.loaded;
    let train_rows = request.train.rows;
    let options = ElboOptions::training(&request.guide, request.kl, train_rows);
    let training_graph = objective::build(&loaded.model, &loaded.info, &options)?;
    if let Some(start) = &request.options.start {
        check_params(&training_graph.graph, start).map_err(FitError::Resume)?;
    }
    let batch = request.options.batch_size(train_rows);
    // An importance-weighted bound's K samples are K copies of each row in the batch.
    let mut train_options = request.options.clone();
    train_options.samples *= options.objective.samples_per_row();
    let samples = train_options.samples;
    limits::check_rows(&training_graph.graph, batch.saturating_mul(samples), || {
        format!("training batches of {batch} rows with {samples} samples each")
    })?;
    // Deterministic ADVI maximizes the plain ELBO's sample average; an importance-weighted
    // bound or a path-derivative gradient is Adam's.
    let plain = options.objective == Objective::Elbo && options.gradient() == Gradient::Naive;
    let deterministic = match request.options.optimizer {
        Optimizer::Adam => false,
        Optimizer::Auto => {
            request.options.epochs.is_none() && plain && dadvi::applies(&training_graph)
        }
        Optimizer::Dadvi if !plain => return Err(FitError::DadviObjective),
        Optimizer::Dadvi if dadvi::applies(&training_graph) => true,
        Optimizer::Dadvi => return Err(FitError::DadviAmortized),
    };
    let (training, dadvi_figures) = if deterministic {
        let fitted = dadvi::fit(
            &training_graph,
            request.train,
            &request.options,
            request.options.lr_covariance,
            observer,
        )?;
        (fitted.training, Some(fitted.figures))
    } else {
        let training = train::train(&training_graph, request.train, &train_options, observer);
        (training, None)
    };
    // The final figures are the ELBO's (and the trained bound's): evaluated on the
    // single-sample graph, which shares every parameter name with the training graph.
    let elbo = if plain {
        training_graph
    } else {
        objective::build(&loaded.model, &loaded.info, &options.evaluation())?
    };
    let seed = request.options.seed;
    // Without amortized locals (a DADVI fit, or Adam's on the same guide) each pass
    // draws the globals once for all rows, so the error is stated for the total ELBO
    // (a per-row error would add up over the rows).
    let joint = dadvi::applies(&elbo);
    let mut estimate = |data: &Dataset, what: &str| {
        let target = if joint {
            evaluate::ErrorTarget::Total(TOTAL_ELBO_TOLERANCE)
        } else {
            evaluate::ErrorTarget::PerRow(ELBO_TOLERANCE)
        };
        // Ctrl-C ends the estimate with the passes done so far.
        let mut control = |p: &evaluate::EvalProgress| {
            observer.final_estimate(what, p);
            !observer.stop_requested()
        };
        let precision = evaluate::Precision {
            target,
            max_passes: MAX_PASSES.max(MAX_EVAL_ROWS / data.rows.max(1)),
        };
        evaluate::elbo(
            &elbo,
            &training.params,
            data,
            train_rows,
            seed,
            precision,
            &mut control,
        )
    };
    let train_estimate = estimate(request.train, "train")?;
    let train_elbo = train_estimate.per_row;
    let total_error = train_estimate.mc_error * request.train.rows as f64;
    let train_elbo_total_error =
        (joint && total_error >= TOTAL_ELBO_TOLERANCE).then_some(total_error);
    let test_elbo = request
        .test
        .map(|d| estimate(d, "test"))
        .transpose()?
        .map(|e| e.per_row);
    let bound = |data: &Dataset| match options.objective {
        Objective::Iwae { k } => {
            evaluate::iwae(&elbo, &training.params, data, train_rows, k, seed).map(Some)
        }
        Objective::Elbo => Ok(None),
    };
    let train_iwae = bound(request.train)?;
    let test_iwae = request.test.map(bound).transpose()?.flatten();
    let mut globals =
        evaluate::summarize_globals(&elbo, &training.params, &loaded.info, SUMMARY_DRAWS, seed)?;
    if let Some(lr_sd) = dadvi_figures.as_ref().and_then(|d| d.lr_sd.as_ref()) {
        let sds = dadvi::constrained_lr_sds(&loaded.info, &elbo, &training.params, lr_sd);
        for (g, sd) in globals.iter_mut().zip(sds) {
            g.lr_sd = Some(sd);
        }
    }
    let diagnostics = if joint {
        evaluate::joint_log_weights(
            &elbo,
            &training.params,
            request.train,
            train_rows,
            PSIS_DRAWS,
            seed,
        )?
        .and_then(|lw| psis::psis(&lw))
    } else {
        None
    };
    let row_diagnostics = if dadvi::applies(&elbo) || elbo.locals.is_empty() {
        None
    } else {
        let n = request.train.rows;
        let m = n.min(ROW_PSIS_ROWS);
        let rows: Vec<usize> = (0..m).map(|i| i * n / m).collect();
        let weights = evaluate::row_log_weights(
            &elbo,
            &training.params,
            request.train,
            train_rows,
            &rows,
            ROW_PSIS_DRAWS,
            seed,
        )?;
        psis::per_row(&weights)
    };
    // A Ctrl-C during the final estimate ends it early; the fit itself is whole.
    let estimate_interrupted = observer.stop_requested();
    let training_interrupted = matches!(training.outcome, Outcome::Interrupted { .. });
    let interrupted = training_interrupted || estimate_interrupted;
    let (stopped, non_finite) = match training.outcome {
        Outcome::Finished(reason) => (reason.describe().to_string(), None),
        Outcome::NonFinite(nf) => (
            format!("the ELBO was not finite at step {}", nf.step),
            Some(nf),
        ),
        Outcome::Interrupted { step } => (format!("interrupted at step {step}"), None),
    };
    let stopped = if estimate_interrupted && !training_interrupted {
        format!("{stopped}; the final estimate was interrupted")
    } else {
        stopped
    };
    let file = FitFile {
        format_version: FORMAT_VERSION,
        vic_version: env!("CARGO_PKG_VERSION").to_string(),
        model_file: loaded.file.clone(),
        model_source: loaded.source.clone(),
        data_file: request.train.path.display().to_string(),
        train_rows,
        options: (&request.options).into(),
        guide: GuideSettings::new(&request.guide, request.kl, &loaded.info),
        params: training.params,
        trace: fitfile::thin_trace(&training.trace),
        figures: Figures {
            train_elbo,
            train_elbo_total_error,
            test_elbo,
            train_iwae,
            test_iwae,
            epochs: training.epochs,
            steps: training.steps,
            seconds: training.seconds,
            stopped,
            globals,
            dadvi: dadvi_figures,
            khat: diagnostics.map(|p| p.khat),
            psis_log_evidence: diagnostics.map(|p| p.log_mean_weight),
            row_psis: row_diagnostics,
            holdout: training.holdout,
        },
        interrupted,
    };
    Ok(FitReport {
        file,
        non_finite,
        elbo,
    })
}

/// A fit file's model, re-checked, and its ELBO graph rebuilt as it was trained.
pub struct Refit {
    pub loaded: Loaded,
    pub elbo: ElboGraph,
}

/// Why a fit file's graph could not be rebuilt.
#[derive(Debug, thiserror::Error)]
pub enum RebuildError {
    /// The model source in the file no longer checks (it was edited, or this version
    /// checks more).
    #[error(transparent)]
    Model(#[from] SourceError),
    #[error("the fit file does not describe a usable model: {0}")]
    Invalid(String),
    #[error("the fit file's model is too large: {0}")]
    TooLarge(#[from] TooLarge),
}

/// Rebuilds what a fit file describes, and checks that the file holds every parameter
/// the graph needs, with its shape, before anything is allocated for the graph.
pub fn rebuild(file: &FitFile) -> Result<Refit, RebuildError> {
    let loaded = analyze(&file.model_file, file.model_source.clone())?;
    let (spec, kl) = file
        .guide
        .resolve(&loaded.info)
        .map_err(RebuildError::Invalid)?;
    // Whatever bound it was trained on, a fit is evaluated on its single-sample ELBO
    // graph, whose parameters are the same.
    let options = ElboOptions::training(&spec, kl, file.train_rows).evaluation();
    let elbo = objective::build(&loaded.model, &loaded.info, &options)
        .map_err(|e| RebuildError::Invalid(e.to_string()))?;
    check_params(&elbo.graph, &file.params).map_err(RebuildError::Invalid)?;
    limits::check_rows(&elbo.graph, 1, || {
        "the graph the fit file describes".to_string()
    })?;
    Ok(Refit { loaded, elbo })
}

/// Every parameter of `graph` is in `params` with its shape (the file's own checks
/// already made each entry unique, finite and as long as its shape).
fn check_params(graph: &Graph, params: &[NamedParam]) -> Result<(), String> {
    let by_name: HashMap<&str, &NamedParam> = params.iter().map(|p| (p.name.as_str(), p)).collect();
    for info in graph.params() {
        let Some(found) = by_name.get(info.name.as_str()) else {
            return Err(format!(
                "the parameter `{}` ({}x{}) is missing",
                info.name, info.rows, info.cols
            ));
        };
        if (found.rows, found.cols) != (info.rows, info.cols) {
            return Err(format!(
                "the parameter `{}` is {}x{} in the file, but the model needs {}x{}",
                info.name, found.rows, found.cols, info.rows, info.cols
            ));
        }
    }
    Ok(())
}
