//! The `FIT.json` file (SPEC section 5): everything `eval` and `sample` need, self-
//! contained — the model source, the options, the guide that was built, every learned
//! parameter by name, the ELBO trace and the final figures.
//!
//! Files are written atomically: to a temporary file beside the target, then renamed,
//! so a crash never leaves a half-written fit behind.

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

/// Writes `bytes` to a temporary file beside `path`, then renames it over `path`.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
        _ => PathBuf::from("."),
    };
    let name = path
        .file_name()
        .ok_or_else(|| std::io::Error::other("the path names no file"))?;
    let tmp = dir.join(format!(
        ".{}.tmp{}",
        name.to_string_lossy(),
        std::process::id()
    ));
    let result = (|| {
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}
