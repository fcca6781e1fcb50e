//! vic: a probabilistic-programming language with automatic amortized variational inference.
//!
//! The front end: [`syntax`] parses a `.vi` file, [`check`] validates it into a
//! [`check::ModelInfo`], [`diag`] renders what is wrong, [`source`] ties them to a file
//! and [`cli`] is the command line.
#![forbid(unsafe_code)]

pub mod check;
pub mod cli;
pub mod diag;
pub mod dist;
pub mod error;
pub mod source;
pub mod syntax;
