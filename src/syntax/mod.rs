//! Syntax: the `.vi` grammar and the typed tree it parses to.
//!
//! `parse` turns source text into an [`ast::Model`] or syntax diagnostics. Nothing here
//! checks names, types or sizes; that is `check`'s job.

pub mod ast;
mod parser;

pub use parser::parse;

/// The reserved words of the language, which cannot name anything.
pub const KEYWORDS: [&str; 12] = [
    "data", "latent", "global", "param", "net", "let", "guide", "real", "bool", "int", "positive",
    "unit",
];
