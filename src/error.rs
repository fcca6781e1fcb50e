//! The library's top-level error: a file that cannot be read, or a model with errors.
//! Rendering a model error needs its source, so the error carries it.

use std::path::PathBuf;

use crate::diag::{Diagnostic, render_all};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot read `{}`: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("`{}` is not a text file: invalid UTF-8 at byte {offset}", path.display())]
    NotUtf8 { path: PathBuf, offset: usize },
    /// The model has errors; `diagnostics` holds them with any warnings, in source order.
    #[error("{}", render_model(file, text, diagnostics))]
    Model {
        file: String,
        /// The model's text, to show the offending lines.
        text: String,
        diagnostics: Vec<Diagnostic>,
    },
    #[error(transparent)]
    Data(#[from] crate::infer::data::DataError),
    #[error(transparent)]
    Fit(#[from] crate::infer::fit::FitError),
    #[error(transparent)]
    Eval(#[from] crate::infer::evaluate::EvalError),
    #[error(transparent)]
    FitFileIo(#[from] crate::infer::fitfile::FitFileError),
    /// A fit file whose contents do not describe a model this version can rebuild.
    #[error("the fit file does not describe a usable model: {0}")]
    FitFile(String),
    /// Options that cannot be honoured together, or a bad option value.
    #[error("{0}")]
    Usage(String),
    /// Training met a non-finite ELBO (the last finite parameters were kept).
    #[error("{0}")]
    NonFinite(String),
}

fn render_model(file: &str, source: &str, diagnostics: &[Diagnostic]) -> String {
    let errors = diagnostics.iter().filter(|d| d.is_error()).count();
    let plural = if errors == 1 { "error" } else { "errors" };
    format!(
        "{}\nerror: `{file}` has {errors} {plural}",
        render_all(file, source, diagnostics)
    )
}
