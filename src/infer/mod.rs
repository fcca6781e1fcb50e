//! Inference: data loading, the ELBO objective, Adam and the training loop.
//!
//! `infer` never prints: progress is reported through an observer the caller supplies.

pub mod adam;
pub mod data;
pub mod schedule;
