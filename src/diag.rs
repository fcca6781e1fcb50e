//! Placeholder for the diagnostics module (the front-end branch provides the full one).

/// A byte range in a `.vi` source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Span {
    pub start: usize,
    pub end: usize,
}
