//! The one memory limit of vic's working buffers, and the arithmetic that compares a
//! request with it before anything is allocated.
//!
//! An executor holds a value and a gradient for every element of every node, so the
//! memory a graph needs at a row count is known from its shapes alone. Requests above
//! [`MAX_WORKING_BYTES`] are refused with their size instead of aborting in the
//! allocator. This module only computes; it never allocates buffers or prints.

use crate::check::{MAX_PARAMS, MAX_SIZE, param_count};
use crate::ir::Graph;

/// The most memory the buffers of one compiled graph may take (4 GiB): far above what
/// any example needs (the digits VAE at batch 100 takes under 10 MiB), far below a
/// request that would abort the process.
pub const MAX_WORKING_BYTES: u128 = 4 << 30;

/// A request that would need more memory than [`MAX_WORKING_BYTES`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{what} would need about {} of working memory, more than the limit of {}",
    human(*.bytes),
    human(MAX_WORKING_BYTES)
)]
pub struct TooLarge {
    /// What was asked for, in the user's words (e.g. "`--samples 100000` with batches of 100 rows").
    pub what: String,
    pub bytes: u128,
}

/// The bytes an executor of `graph` for `rows` rows allocates: a value and a gradient
/// per element of every node, in f32.
pub fn executor_bytes(graph: &Graph, rows: usize) -> u128 {
    let elements: u128 = graph
        .nodes()
        .iter()
        .map(|node| node.shape.rows_at(rows) as u128 * node.shape.cols as u128)
        .sum();
    elements * 2 * 4
}

/// Refuses `rows` rows of `graph` when its buffers would exceed the limit.
pub fn check_rows(
    graph: &Graph,
    rows: usize,
    what: impl FnOnce() -> String,
) -> Result<(), TooLarge> {
    let bytes = executor_bytes(graph, rows);
    if bytes > MAX_WORKING_BYTES {
        return Err(TooLarge {
            what: what(),
            bytes,
        });
    }
    Ok(())
}

/// Refuses encoder hidden widths (from `--encoder-hidden` or a fit file) outside
/// 1..=[`MAX_SIZE`], or whose layers between them alone exceed the model's parameter
/// budget ([`MAX_PARAMS`]), before any file is read. Once the model is known,
/// [`crate::check::ModelInfo::check_param_budget`] counts the whole encoder with the nets.
pub fn check_encoder_hidden(widths: &[usize]) -> Result<(), String> {
    let list = || {
        widths
            .iter()
            .map(usize::to_string)
            .collect::<Vec<_>>()
            .join(",")
    };
    if widths.iter().any(|&w| w == 0 || w > MAX_SIZE) {
        return Err(format!(
            "encoder widths `{}` must each be between 1 and {MAX_SIZE}",
            list()
        ));
    }
    let count = param_count(widths);
    if count > MAX_PARAMS {
        return Err(format!(
            "encoder widths `{}` ask for {count} parameters between hidden layers, more than the limit of {MAX_PARAMS} (2^28, 1 GiB of values)",
            list()
        ));
    }
    Ok(())
}

/// A byte count in the largest binary unit that keeps it above 1.
pub fn human(bytes: u128) -> String {
    const UNITS: [&str; 7] = ["bytes", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} bytes")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_in_binary_units() {
        assert_eq!(human(512), "512 bytes");
        assert_eq!(human(4 << 30), "4.0 GiB");
        assert_eq!(human(3 << 19), "1.5 MiB");
    }
}
