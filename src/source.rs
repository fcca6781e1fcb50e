//! Reading a model file and taking it through parse and check: the one entry point every
//! subcommand uses to get a checked model.
//!
//! It reads files but never prints; warnings are returned for the caller to show.

use std::path::{Path, PathBuf};

use crate::check::{ModelInfo, Program, check, hir};
use crate::diag::{Diagnostic, render_all};
use crate::syntax::parse;

/// A model file that cannot be read, or a model with errors. Rendering a model error
/// needs its source, so the error carries it.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
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
}

fn render_model(file: &str, source: &str, diagnostics: &[Diagnostic]) -> String {
    let errors = diagnostics.iter().filter(|d| d.is_error()).count();
    let plural = if errors == 1 { "error" } else { "errors" };
    format!(
        "{}\nerror: `{file}` has {errors} {plural}",
        render_all(file, source, diagnostics)
    )
}

/// A parsed and checked model with its source and warnings.
#[derive(Debug)]
pub struct Loaded {
    /// The name used in diagnostics (the path as given).
    pub file: String,
    /// The text, without a byte-order mark; spans index into it.
    pub source: String,
    /// The checked model, which is all later stages read (with `info`).
    pub model: hir::Model,
    pub info: ModelInfo,
    pub warnings: Vec<Diagnostic>,
}

impl Loaded {
    /// The warnings rendered like errors, empty if there are none.
    pub fn render_warnings(&self) -> String {
        render_all(&self.file, &self.source, &self.warnings)
    }
}

/// Reads, parses and checks the model at `path`.
pub fn load(path: &Path) -> Result<Loaded, SourceError> {
    let bytes = std::fs::read(path).map_err(|source| SourceError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let source = String::from_utf8(bytes).map_err(|e| SourceError::NotUtf8 {
        path: path.to_path_buf(),
        offset: e.utf8_error().valid_up_to(),
    })?;
    analyze(&path.display().to_string(), source)
}

/// Parses and checks a model's text; `file` names it in diagnostics. A UTF-8 byte-order
/// mark at the start (which some Windows editors write) is dropped first, so that spans
/// and columns count from the first visible character.
pub fn analyze(file: &str, source: String) -> Result<Loaded, SourceError> {
    let source = match source.strip_prefix('\u{feff}') {
        Some(rest) => rest.to_string(),
        None => source,
    };
    let fail = |diagnostics| SourceError::Model {
        file: file.to_string(),
        text: source.clone(),
        diagnostics,
    };
    let model = parse(&source).map_err(fail)?;
    let (Program { model, info }, warnings) = check(&model).map_err(fail)?;
    Ok(Loaded {
        file: file.to_string(),
        source,
        model,
        info,
        warnings,
    })
}
