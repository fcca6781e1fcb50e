//! Inference: data loading, running the ELBO graph, Adam, the schedule, the training
//! loop and the evaluation of a fitted guide.
//!
//! `infer` never prints: progress is reported through an observer the caller supplies.

pub mod adam;
pub mod control_variates;
pub mod dadvi;
pub mod data;
pub mod encode;
pub mod evaluate;
pub mod fit;
pub mod fitfile;
pub mod limits;
pub mod optim;
pub mod plot;
pub mod predict;
pub mod psis;
pub mod sample;
pub mod schedule;
pub mod session;
pub mod summary;
#[cfg(test)]
mod test_support;
pub mod train;
