//! The `FIT.json` file (SPEC section 5): everything `eval` and `sample` need, self-
//! contained — the model source, the options, the guide that was built, every learned
//! parameter by name, the ELBO trace and the final figures.
//!
//! The types here are the file's format, versioned by `format_version`, and kept apart
//! from the library's options so that either can change without silently changing the
//! other. Reading checks everything that does not need the model: the version, every
//! enum value, each parameter's length, finiteness and uniqueness; `fit::rebuild`
//! checks the parameters against the graph the model builds. Nothing here prints.
//!
//! Files are written atomically: to a randomly named temporary file beside the target,
//! then renamed, so a crash never leaves a half-written fit behind. Only regular files
//! are ever replaced: never a symlink, FIFO, device or directory.

use std::collections::HashSet;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::check::{
    Activation, FlowSpec, GlobalsMode, GuideSpec, ModelInfo, ObjectiveSpec, SymbolId, SymbolKind,
};
use crate::objective::KlMode;

use super::dadvi::DadviFigures;
use super::evaluate::GlobalSummary;
use super::session::NamedParam;
use super::train::{FitOptions, HoldoutFigures, TracePoint};

/// The format version written into every file. Version 1 (files of vic 0.1.0 before
/// Ctrl-C handling, whose field was named `format`) had no `interrupted` field.
pub const FORMAT_VERSION: u32 = 2;
/// The oldest version this build reads.
const OLDEST_READABLE: u32 = 1;

/// The fit's options as the file records them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OptionsRecord {
    pub epochs: Option<usize>,
    pub batch: Option<usize>,
    pub lr: f32,
    pub samples: usize,
    pub seed: u64,
    pub max_steps: u64,
}

impl From<&FitOptions> for OptionsRecord {
    fn from(o: &FitOptions) -> OptionsRecord {
        OptionsRecord {
            epochs: o.epochs,
            batch: o.batch,
            lr: o.lr,
            samples: o.samples,
            seed: o.seed,
            max_steps: o.max_steps,
        }
    }
}

/// The most trace points a fit file keeps: a file is a fitted model, not a log, and
/// one point per epoch made a small regression's file megabytes long.
pub const MAX_TRACE: usize = 1000;

/// The trace as the file keeps it: every point when there are at most [`MAX_TRACE`],
/// else every k-th (k the smallest stride that fits) and always the last.
pub fn thin_trace<P>(trace: &[P]) -> Vec<TraceRecord>
where
    for<'a> &'a P: Into<TraceRecord>,
{
    if trace.len() <= MAX_TRACE {
        return trace.iter().map(Into::into).collect();
    }
    let stride = trace.len().div_ceil(MAX_TRACE - 1);
    let mut kept: Vec<TraceRecord> = trace.iter().step_by(stride).map(Into::into).collect();
    if let Some(last) = trace.last().map(Into::<TraceRecord>::into)
        && kept.last().map(|k| k.step) != Some(last.step)
    {
        kept.push(last);
    }
    kept
}

/// The trace of a fit resumed from a file whose trace is `before`: its points, then
/// `after`'s with epochs and steps counted on from `before`'s last, thinned.
pub fn continue_trace(before: &[TraceRecord], after: &[TraceRecord]) -> Vec<TraceRecord> {
    let (epoch, step) = before.last().map_or((0, 0), |p| (p.epoch, p.step));
    let joined: Vec<TraceRecord> = before
        .iter()
        .copied()
        .chain(after.iter().map(|p| TraceRecord {
            epoch: p.epoch + epoch,
            step: p.step + step,
            ..*p
        }))
        .collect();
    thin_trace(&joined)
}

/// One point of the ELBO trace as the file records it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TraceRecord {
    pub epoch: usize,
    pub step: u64,
    /// The epoch's mean training ELBO estimate, per row.
    pub elbo: f64,
    /// The held-out ELBO per row after the epoch (early stopping only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_elbo: Option<f64>,
    /// The step size at the epoch's end: absent for deterministic ADVI and in files of
    /// earlier versions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lr: Option<f64>,
}

impl From<&TraceRecord> for TraceRecord {
    fn from(p: &TraceRecord) -> TraceRecord {
        *p
    }
}

impl From<&TracePoint> for TraceRecord {
    fn from(p: &TracePoint) -> TraceRecord {
        TraceRecord {
            epoch: p.epoch,
            step: p.step,
            elbo: p.elbo,
            valid_elbo: p.valid_elbo,
            lr: p.lr,
        }
    }
}

/// The KL estimator as the file spells it; any other string is refused when reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KlRecord {
    Sampled,
    Analytic,
}

impl From<KlMode> for KlRecord {
    fn from(kl: KlMode) -> KlRecord {
        match kl {
            KlMode::Sampled => KlRecord::Sampled,
            KlMode::Analytic => KlRecord::Analytic,
        }
    }
}

impl From<KlRecord> for KlMode {
    fn from(kl: KlRecord) -> KlMode {
        match kl {
            KlRecord::Sampled => KlMode::Sampled,
            KlRecord::Analytic => KlMode::Analytic,
        }
    }
}

/// The guide as built, in a portable form.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GuideSettings {
    pub encoder_hidden: Vec<usize>,
    pub encoder_activation: String,
    pub flow: String,
    pub global_flow: String,
    pub globals: String,
    pub free: Vec<String>,
    pub kl: KlRecord,
    /// The bound training maximized (`elbo`, `iwae(K)`); files before it trained the
    /// ELBO.
    #[serde(default = "elbo_objective", skip_serializing_if = "is_elbo")]
    pub objective: String,
    /// The gradient estimator asked for (`naive`, `stl`, `dreg`), absent for the
    /// objective's default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gradient: Option<String>,
}

fn elbo_objective() -> String {
    ObjectiveSpec::Elbo.to_string()
}

/// Files of fits on the ELBO are written as before the objective was recorded.
fn is_elbo(objective: &str) -> bool {
    objective == elbo_objective()
}

impl GuideSettings {
    pub fn new(spec: &GuideSpec, kl: KlMode, info: &ModelInfo) -> GuideSettings {
        GuideSettings {
            encoder_hidden: spec.encoder_hidden.clone(),
            encoder_activation: spec.encoder_activation.name().to_string(),
            flow: spec.flow.to_string(),
            global_flow: spec.global_flow.to_string(),
            globals: spec.globals.name().to_string(),
            free: spec
                .free
                .iter()
                .map(|&id| info.symbol(id).name.clone())
                .collect(),
            kl: kl.into(),
            objective: spec.objective.to_string(),
            gradient: spec.gradient.map(|g| g.name().to_string()),
        }
    }

    /// The guide spec and KL mode, resolved against the model the file carries.
    pub fn resolve(&self, info: &ModelInfo) -> Result<(GuideSpec, KlMode), String> {
        super::limits::check_encoder_hidden(&self.encoder_hidden)?;
        info.check_param_budget(&self.encoder_hidden)
            .map_err(|e| e.to_string())?;
        let activation = Activation::from_name(&self.encoder_activation).ok_or_else(|| {
            format!(
                "unknown encoder activation `{}`: expected tanh, relu, softplus, sigmoid or elu",
                self.encoder_activation
            )
        })?;
        let setting = |what: &str, e: crate::check::SettingError| format!("`{what}`: {e}");
        let flow: FlowSpec = self.flow.parse().map_err(|e| setting("flow", e))?;
        let global_flow: FlowSpec = self
            .global_flow
            .parse()
            .map_err(|e| setting("global_flow", e))?;
        let globals: GlobalsMode = self.globals.parse().map_err(|e| setting("globals", e))?;
        let objective: ObjectiveSpec = self
            .objective
            .parse()
            .map_err(|e| setting("objective", e))?;
        let gradient = self
            .gradient
            .as_deref()
            .map(str::parse)
            .transpose()
            .map_err(|e| setting("gradient", e))?;
        let free = self
            .free
            .iter()
            .enumerate()
            .map(|(i, name)| {
                let id = info
                    .lookup(name)
                    .ok_or_else(|| format!("unknown latent `{name}` in the guide's `free` list"))?;
                if !matches!(info.symbol(id).kind, SymbolKind::Latent { .. }) {
                    return Err(format!(
                        "`{name}` in the guide's `free` list is a {}, not a local latent",
                        info.symbol(id).kind.keyword()
                    ));
                }
                if self.free[..i].contains(name) {
                    return Err(format!(
                        "`{name}` is listed twice in the guide's `free` list"
                    ));
                }
                Ok(id)
            })
            .collect::<Result<Vec<SymbolId>, String>>()?;
        Ok((
            GuideSpec {
                encoder_hidden: self.encoder_hidden.clone(),
                encoder_activation: activation,
                flow,
                global_flow,
                globals,
                free,
                objective,
                gradient,
            },
            self.kl.into(),
        ))
    }
}

/// The final figures of a fit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Figures {
    /// Non-finite after a diverged fit: JSON writes it as `null`, read back as NaN.
    #[serde(deserialize_with = "nan_if_null")]
    pub train_elbo: f64,
    /// The train ELBO's Monte Carlo error in total nats, where a guide without
    /// amortized locals left it above [`crate::infer::fit::TOTAL_ELBO_TOLERANCE`] (the
    /// estimate's pass budget ran out first).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub train_elbo_total_error: Option<f64>,
    pub test_elbo: Option<f64>,
    /// The trained importance-weighted bound's estimate per row (with its K samples),
    /// present when the fit trained on it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub train_iwae: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_iwae: Option<f64>,
    pub epochs: usize,
    pub steps: u64,
    pub seconds: f64,
    /// Why training stopped, in words.
    pub stopped: String,
    pub globals: Vec<GlobalSummary>,
    /// What deterministic ADVI reports (draws, the Monte Carlo error of the means, the
    /// linear-response covariance), when it ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dadvi: Option<DadviFigures>,
    /// PSIS's Pareto k-hat of the guide's joint importance weights (guides without
    /// amortized locals, models with globals): above 0.7 the guide is unreliable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub khat: Option<f64>,
    /// The PSIS-smoothed importance-sampling estimate of log p(x), total nats.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub psis_log_evidence: Option<f64>,
    /// PSIS row by row on the training rows' own weights (guides with amortized locals).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub row_psis: Option<crate::infer::psis::RowPsis>,
    /// Early stopping's held-out split and best held-out ELBO, when it ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub holdout: Option<HoldoutFigures>,
}

/// Reads `null` as NaN: serde_json writes every non-finite number as `null`.
fn nan_if_null<'de, D: serde::Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::NAN))
}

/// The whole fit file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FitFile {
    /// Version 1 files call it `format`.
    #[serde(alias = "format")]
    pub format_version: u32,
    pub vic_version: String,
    /// The model file as given on the command line, for messages.
    pub model_file: String,
    pub model_source: String,
    pub data_file: String,
    pub train_rows: usize,
    pub options: OptionsRecord,
    pub guide: GuideSettings,
    pub params: Vec<NamedParam>,
    pub trace: Vec<TraceRecord>,
    pub figures: Figures,
    /// Training was stopped by Ctrl-C: the parameters are those so far.
    #[serde(default)]
    pub interrupted: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum FitFileError {
    #[error("cannot read `{path}`: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("`{path}` is not a usable vic fit file: {message}")]
    Format { path: PathBuf, message: String },
    #[error("cannot write `{path}`: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl FitFile {
    /// Reads and checks a fit file; see [`FitFile::validate`].
    pub fn read(path: &Path) -> Result<FitFile, FitFileError> {
        let bytes = std::fs::read(path).map_err(|source| FitFileError::Read {
            path: path.to_owned(),
            source,
        })?;
        let format = |message: String| FitFileError::Format {
            path: path.to_owned(),
            message,
        };
        let file: FitFile = serde_json::from_slice(&bytes).map_err(|e| format(e.to_string()))?;
        file.validate().map_err(format)?;
        Ok(file)
    }

    /// Everything about the file that does not need its model: a readable version, at
    /// least one training row, and parameters that are unique by name, as long as
    /// their shape says, and finite.
    pub fn validate(&self) -> Result<(), String> {
        if !(OLDEST_READABLE..=FORMAT_VERSION).contains(&self.format_version) {
            return Err(format!(
                "format version {} is not one this vic reads ({OLDEST_READABLE} to {FORMAT_VERSION})",
                self.format_version
            ));
        }
        if self.train_rows == 0 {
            return Err("`train_rows` is 0; a fit has at least one training row".into());
        }
        let mut seen = HashSet::new();
        for p in &self.params {
            if !seen.insert(p.name.as_str()) {
                return Err(format!("the parameter `{}` appears twice", p.name));
            }
            let expected = p.rows.checked_mul(p.cols);
            if expected != Some(p.values.len()) {
                return Err(format!(
                    "the parameter `{}` has {} values, but its shape {}x{} needs {}",
                    p.name,
                    p.values.len(),
                    p.rows,
                    p.cols,
                    expected
                        .map_or_else(|| "more than can be counted".to_string(), |n| n.to_string())
                ));
            }
            if let Some(i) = p.values.iter().position(|v| !v.is_finite()) {
                return Err(format!(
                    "the parameter `{}` has the non-finite value {} at index {i}",
                    p.name, p.values[i]
                ));
            }
        }
        Ok(())
    }

    /// Writes the file atomically.
    pub fn write(&self, path: &Path) -> Result<(), FitFileError> {
        let text = serde_json::to_string(self).map_err(|e| FitFileError::Write {
            path: path.to_owned(),
            source: std::io::Error::other(e),
        })?;
        write_atomically(path, text.as_bytes()).map_err(|source| FitFileError::Write {
            path: path.to_owned(),
            source,
        })
    }
}

/// Writes `bytes` to `path` through a temporary file beside it, then renames it over
/// `path`, so a crash never leaves a half-written file and readers see the old or the
/// new contents, never a mix.
///
/// Only a regular file is ever replaced ([`check_target`]): an `--out` that names a
/// symlink, a FIFO, a device or a directory is refused before anything is written. The
/// temporary file gets a random name and is opened with create-new semantics, so a file
/// or symlink planted at a guessable name can neither be followed nor overwritten; it
/// is removed on every error path (dropping the `NamedTempFile` deletes it).
pub fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    write_atomically_with(path, |file| file.write_all(bytes))
}

/// Like [`write_atomically`], with the contents streamed by `write` (e.g. `sample`'s
/// rows as they are drawn) instead of held in memory.
pub fn write_atomically_with(
    path: &Path,
    write: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) -> std::io::Result<()> {
    check_target(path)?;
    replace(path, write)
}

/// Writes a randomly named temporary file beside `path` and renames it over `path`.
fn replace(
    path: &Path,
    write: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
        _ => PathBuf::from("."),
    };
    let name = path
        .file_name()
        .ok_or_else(|| std::io::Error::other("the path names no file"))?;
    let prefix = format!(".{}.", name.to_string_lossy());
    let mut builder = tempfile::Builder::new();
    builder.prefix(&prefix).suffix(".tmp");
    // The mode a plain `File::create` gives (0o666 less the umask), not tempfile's
    // owner-only default: a fit file is as readable as any other output.
    #[cfg(unix)]
    builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o666));
    let mut tmp = builder.tempfile_in(&dir)?;
    {
        let mut buffered = std::io::BufWriter::new(tmp.as_file_mut());
        write(&mut buffered)?;
        buffered.flush()?;
    }
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// Refuses an output path that exists and is not a regular file. Looks at the path
/// itself, not what a symlink points to, since renaming over a symlink would replace
/// the link while the user may have meant its target (and a planted link is an attack).
pub fn check_target(path: &Path) -> std::io::Result<()> {
    let meta = match std::fs::symlink_metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    let kind = meta.file_type();
    if kind.is_file() {
        return Ok(());
    }
    let what = if kind.is_symlink() {
        "a symbolic link"
    } else if kind.is_dir() {
        "a directory"
    } else {
        special_kind(&kind)
    };
    Err(std::io::Error::new(
        std::io::ErrorKind::AlreadyExists,
        format!(
            "it is {what}, and vic replaces only regular files (give the path of a new or a regular file)"
        ),
    ))
}

/// Names a file type that is neither a regular file, a directory nor a symlink.
#[cfg(unix)]
fn special_kind(kind: &std::fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if kind.is_fifo() {
        "a named pipe (FIFO)"
    } else if kind.is_char_device() || kind.is_block_device() {
        "a device"
    } else if kind.is_socket() {
        "a socket"
    } else {
        "a special file"
    }
}

#[cfg(not(unix))]
fn special_kind(_: &std::fs::FileType) -> &'static str {
    "a special file"
}

#[cfg(test)]
mod write_tests {
    use super::*;

    fn listing(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn a_failed_rename_removes_the_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("out.json");
        std::fs::create_dir(&target).unwrap();
        // Past the target check, the rename over a directory fails after the
        // temporary file was written.
        assert!(replace(&target, |w| w.write_all(b"{}")).is_err());
        assert_eq!(listing(dir.path()), vec!["out.json"]);
        let err = write_atomically(&target, b"{}").unwrap_err();
        assert!(err.to_string().starts_with("it is a directory"), "{err}");
    }

    #[cfg(unix)]
    #[test]
    fn a_new_file_gets_the_mode_a_plain_create_gives() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let plain = dir.path().join("plain");
        std::fs::File::create(&plain).unwrap();
        let out = dir.path().join("out.json");
        write_atomically(&out, b"{}").unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode();
        assert_eq!(mode(&out), mode(&plain));
        assert_eq!(std::fs::read(&out).unwrap(), b"{}");
        assert_eq!(listing(dir.path()), vec!["out.json", "plain"]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_trace_is_thinned_to_a_bounded_length_keeping_the_ends() {
        let trace: Vec<TracePoint> = (1..=54_321)
            .map(|e| TracePoint {
                epoch: e,
                step: e as u64 * 3,
                elbo: -1.0 / e as f64,
                valid_elbo: None,
                lr: None,
            })
            .collect();
        let kept = thin_trace(&trace);
        assert!(kept.len() <= MAX_TRACE, "{}", kept.len());
        assert_eq!(kept[0].epoch, 1);
        assert_eq!(kept.last().unwrap().epoch, 54_321);
        assert!(kept.windows(2).all(|w| w[0].step < w[1].step));
        assert_eq!(thin_trace(&trace[..10]).len(), 10);
    }

    #[test]
    fn a_resumed_trace_counts_on_from_the_first() {
        let point = |epoch, step| TraceRecord {
            epoch,
            step,
            elbo: -1.0,
            valid_elbo: None,
            lr: Some(1e-3),
        };
        let joined = continue_trace(&[point(1, 5), point(2, 10)], &[point(1, 5), point(2, 10)]);
        let at: Vec<(usize, u64)> = joined.iter().map(|p| (p.epoch, p.step)).collect();
        assert_eq!(at, [(1, 5), (2, 10), (3, 15), (4, 20)]);
        let long: Vec<TraceRecord> = (1..=MAX_TRACE as u64)
            .map(|s| point(s as usize, s))
            .collect();
        let joined = continue_trace(&long, &long);
        assert!(joined.len() <= MAX_TRACE);
        assert_eq!(joined.last().map(|p| p.step), Some(2 * MAX_TRACE as u64));
    }
}
