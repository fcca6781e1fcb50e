//! vic: a probabilistic-programming language with automatic amortized variational inference.
#![forbid(unsafe_code)]

pub mod autodiff;
pub mod diag;
pub mod dist;
pub mod ir;
