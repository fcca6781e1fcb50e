//! The command line's aggregate error: every layer's error type, converted for
//! reporting. It lives here, above the library, so that no library module depends on
//! it (the library's modules each have their own error types and no import cycle).

use std::path::PathBuf;

use crate::infer::data::DataError;
use crate::infer::evaluate::EvalError;
use crate::infer::fit::{FitError, RebuildError};
use crate::infer::fitfile::FitFileError;
use crate::infer::limits::TooLarge;
use crate::infer::sample::SampleError;
use crate::source::SourceError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Source(#[from] SourceError),
    #[error(transparent)]
    Data(#[from] DataError),
    #[error(transparent)]
    Fit(#[from] FitError),
    #[error(transparent)]
    Eval(#[from] EvalError),
    #[error(transparent)]
    Sample(#[from] SampleError),
    #[error(transparent)]
    FitFile(#[from] FitFileError),
    #[error(transparent)]
    Rebuild(#[from] RebuildError),
    #[error("{0}")]
    TooLarge(#[from] TooLarge),
    /// An output file that cannot be written.
    #[error("cannot write `{}`: {source}", path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    /// Options that cannot be honoured together, or a bad option value.
    #[error("{0}")]
    Usage(String),
    /// Training met a non-finite ELBO (the last finite parameters were kept).
    #[error("{0}")]
    NonFinite(String),
}

impl Error {
    /// Whether the message is already rendered with its own `error:`/`warning:` headers
    /// (a model's diagnostics, a non-finite ELBO traced to its line).
    pub fn is_rendered(&self) -> bool {
        matches!(
            self,
            Error::Source(SourceError::Model { .. }) | Error::NonFinite(_)
        )
    }
}
