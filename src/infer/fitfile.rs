//! The `FIT.json` file (SPEC section 5): everything `eval` and `sample` need, self-
//! contained — the model source, the options, the guide that was built, every learned
//! parameter by name, the ELBO trace and the final figures.
//!
//! Files are written atomically: to a randomly named temporary file beside the target,
//! then renamed, so a crash never leaves a half-written fit behind. Only regular files
//! are ever replaced: never a symlink, FIFO, device or directory.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::check::{Activation, FlowSpec, GlobalsMode, GuideSpec, ModelInfo, SymbolId};
use crate::objective::KlMode;

use super::evaluate::GlobalSummary;
use super::session::NamedParam;
use super::train::{FitOptions, TracePoint};

/// The format version written into every file.
pub const FORMAT: u32 = 1;

/// The guide as built, in a portable form.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GuideSettings {
    pub encoder_hidden: Vec<usize>,
    pub encoder_activation: String,
    pub flow: String,
    pub global_flow: String,
    pub globals: String,
    pub free: Vec<String>,
    pub kl: String,
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
            kl: match kl {
                KlMode::Sampled => "sampled",
                KlMode::Analytic => "analytic",
            }
            .to_string(),
        }
    }

    /// The guide spec and KL mode, resolved against the model the file carries.
    pub fn resolve(&self, info: &ModelInfo) -> Result<(GuideSpec, KlMode), String> {
        let activation = Activation::from_name(&self.encoder_activation)
            .ok_or_else(|| format!("unknown activation `{}`", self.encoder_activation))?;
        let flow: FlowSpec = self.flow.parse().map_err(|e| format!("{e}"))?;
        let global_flow: FlowSpec = self.global_flow.parse().map_err(|e| format!("{e}"))?;
        let globals: GlobalsMode = self.globals.parse().map_err(|e| format!("{e}"))?;
        let free = self
            .free
            .iter()
            .map(|name| {
                info.lookup(name)
                    .ok_or_else(|| format!("unknown latent `{name}`"))
            })
            .collect::<Result<Vec<SymbolId>, String>>()?;
        let kl = match self.kl.as_str() {
            "analytic" => KlMode::Analytic,
            _ => KlMode::Sampled,
        };
        Ok((
            GuideSpec {
                encoder_hidden: self.encoder_hidden.clone(),
                encoder_activation: activation,
                flow,
                global_flow,
                globals,
                free,
            },
            kl,
        ))
    }
}

/// The final figures of a fit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Figures {
    pub train_elbo: f64,
    pub test_elbo: Option<f64>,
    pub epochs: usize,
    pub steps: u64,
    pub seconds: f64,
    /// Why training stopped, in words.
    pub stopped: String,
    pub globals: Vec<GlobalSummary>,
}

/// The whole fit file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FitFile {
    pub format: u32,
    pub vic_version: String,
    /// The model file as given on the command line, for messages.
    pub model_file: String,
    pub model_source: String,
    pub data_file: String,
    pub train_rows: usize,
    pub options: FitOptions,
    pub guide: GuideSettings,
    pub params: Vec<NamedParam>,
    pub trace: Vec<TracePoint>,
    pub figures: Figures,
}

#[derive(Debug, thiserror::Error)]
pub enum FitFileError {
    #[error("cannot read `{path}`: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("`{path}` is not a vic fit file: {message}")]
    Format { path: PathBuf, message: String },
    #[error("cannot write `{path}`: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl FitFile {
    pub fn read(path: &Path) -> Result<FitFile, FitFileError> {
        let bytes = std::fs::read(path).map_err(|source| FitFileError::Read {
            path: path.to_owned(),
            source,
        })?;
        let file: FitFile = serde_json::from_slice(&bytes).map_err(|e| FitFileError::Format {
            path: path.to_owned(),
            message: e.to_string(),
        })?;
        if file.format != FORMAT {
            return Err(FitFileError::Format {
                path: path.to_owned(),
                message: format!(
                    "format {} is not the supported format {FORMAT}",
                    file.format
                ),
            });
        }
        Ok(file)
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
    check_target(path)?;
    replace(path, bytes)
}

/// Writes a randomly named temporary file beside `path` and renames it over `path`.
fn replace(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
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
    tmp.write_all(bytes)?;
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
        assert!(replace(&target, b"{}").is_err());
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
