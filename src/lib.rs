//! vic: a probabilistic-programming language with automatic amortized variational inference.
//!
//! The pipeline: [`syntax`] parses a `.vi` file, [`check`] validates it into a
//! [`check::ModelInfo`], [`lower`] turns it into an [`ir::Graph`] of the log joint,
//! [`guide`] builds the automatic guide, [`objective`] combines both into the ELBO
//! graph, [`autodiff`] evaluates and
//! differentiates graphs, [`infer`] fits them; [`diag`] renders what is wrong,
//! [`source`] ties files to the front end and [`cli`] is the command line.
// `deny`, not `forbid`: `autodiff::isa` alone allows the `unsafe` calls into its
// AVX2 + FMA kernels, each after detecting the features.
#![deny(unsafe_code)]
// Only the command line prints (it writes through `io::stdout()`, never `println!`).
#![deny(clippy::print_stdout, clippy::print_stderr)]

pub mod autodiff;
pub mod check;
#[allow(clippy::print_stdout, clippy::print_stderr)]
pub mod cli;
pub mod diag;
pub mod dist;
pub mod guide;
pub mod infer;
pub mod ir;
pub mod lower;
pub mod objective;
pub mod source;
pub mod syntax;
