//! Drawing from a fitted generative model (`vic sample`).
//!
//! Globals are drawn from the fitted guide (their approximate posterior); then every
//! local latent and every data declaration is drawn in statement order from its
//! distribution, whose arguments the model's log-joint graph computes from the values
//! drawn so far, with the learned nets and params. This is ancestral sampling by
//! repeated evaluation: one forward pass per `~` statement.
//!
//! A [`Sampler`] draws in chunks of at most [`CHUNK_ROWS`] rows, so any number of
//! draws streams through bounded memory; it never holds more than one chunk, and
//! never writes anything itself.

use crate::autodiff::Executor;
use rand::rngs::StdRng;

use crate::check::hir::Model;
use crate::check::{ModelInfo, Shape, SymbolKind};
use crate::dist::{self, Family, categorical};
use crate::ir::{Graph, InputId, NodeId, Rows};
use crate::lower::{self, LogJoint, Role};
use crate::objective::ElboGraph;

use super::limits::{self, TooLarge};
use super::session::{NamedParam, Session, load_named_params};
use super::train::stream;

const SAMPLE_STREAM: u64 = 21;

/// The most rows drawn in one pass of the graph.
pub const CHUNK_ROWS: usize = 1024;

/// Why sampling could not start.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SampleError {
    #[error("{0}")]
    Params(String),
    #[error("{0}")]
    TooLarge(#[from] TooLarge),
}

/// Draws from a fitted model, chunk by chunk.
pub struct Sampler<'a> {
    info: &'a ModelInfo,
    elbo: &'a ElboGraph,
    params: &'a [NamedParam],
    joint: LogJoint,
    /// Each data, latent and global symbol's input, by symbol.
    inputs: Vec<Option<InputId>>,
    exec: Executor<f32>,
    rng: StdRng,
    /// Column names, `x0 .. x63` for a vector `x`.
    header: Vec<String>,
    /// Per data, latent and global declaration: its width and value node.
    groups: Vec<(usize, NodeId)>,
    /// The last chunk, row-major.
    rows: Vec<f32>,
}

impl<'a> Sampler<'a> {
    /// A sampler for chunks of at most `chunk` rows (clamped to 1..=[`CHUNK_ROWS`]).
    pub fn new(
        model: &Model,
        info: &'a ModelInfo,
        elbo: &'a ElboGraph,
        params: &'a [NamedParam],
        chunk: usize,
        seed: u64,
    ) -> Result<Sampler<'a>, SampleError> {
        let chunk = chunk.clamp(1, CHUNK_ROWS);
        let mut graph = Graph::new();
        let (bindings, leaves) = lower::bind_inputs(info, &mut graph);
        let joint = lower::lower(model, info, &mut graph, &bindings);
        let inputs = leaves.iter().map(|l| l.map(|l| l.id)).collect();
        limits::check_rows(&graph, chunk, || format!("sampling {chunk} rows at a time"))?;
        limits::check_rows(&elbo.graph, chunk, || {
            format!("drawing the globals of {chunk} rows at a time")
        })?;
        let mut exec: Executor<f32> = Executor::new(graph, chunk);
        load_named_params(&mut exec, params).map_err(SampleError::Params)?;
        let mut header = Vec::new();
        let mut groups = Vec::new();
        for (i, symbol) in info.symbols.iter().enumerate() {
            if !matches!(
                symbol.kind,
                SymbolKind::Data | SymbolKind::Latent { .. } | SymbolKind::Global { .. }
            ) {
                continue;
            }
            match symbol.shape {
                Shape::Scalar => header.push(symbol.name.clone()),
                shape => header.extend((0..shape.width()).map(|j| format!("{}{j}", symbol.name))),
            }
            groups.push((
                symbol.shape.width(),
                joint.nodes[i].expect("internal: values are bound"),
            ));
        }
        Ok(Sampler {
            info,
            elbo,
            params,
            joint,
            inputs,
            exec,
            rng: stream(seed, SAMPLE_STREAM),
            header,
            groups,
            rows: Vec::new(),
        })
    }

    /// The column names.
    pub fn header(&self) -> &[String] {
        &self.header
    }

    /// Values per row.
    pub fn width(&self) -> usize {
        self.header.len()
    }

    /// The most rows one [`Sampler::draw`] gives.
    pub fn chunk(&self) -> usize {
        self.exec.max_rows()
    }

    /// `n` fresh draws (1 to [`Sampler::chunk`]), row-major, [`Sampler::width`] values
    /// per row.
    pub fn draw(&mut self, n: usize) -> Result<&[f32], SampleError> {
        let n = n.clamp(1, self.chunk());
        let exec = &mut self.exec;
        let rng = &mut self.rng;
        exec.set_rows(n);
        if !self.elbo.globals.is_empty() {
            let globals = Session::draw_globals(self.elbo, self.params, n, rng)
                .map_err(SampleError::Params)?;
            for (symbol, values) in &globals {
                let input = self.inputs[symbol.0].expect("internal: globals are inputs");
                exec.input_mut(input).copy_from_slice(values);
            }
        }
        for term in self.joint.terms.iter().filter(|t| t.role != Role::Global) {
            exec.forward();
            let width = self.info.symbol(term.symbol).shape.width();
            let args: Vec<(Vec<f32>, usize, usize)> = term
                .args
                .iter()
                .map(|&a| {
                    let shape = exec.graph().shape(a);
                    let rows = match shape.rows {
                        Rows::Batch => n,
                        Rows::Fixed(r) => r,
                    };
                    (exec.value(a).to_vec(), rows, shape.cols)
                })
                .collect();
            let mut drawn = vec![0.0f32; n * width];
            for r in 0..n {
                for j in 0..width {
                    let arg = |k: usize| {
                        let (values, rows, cols) = &args[k];
                        let rr = if *rows == 1 { 0 } else { r };
                        let jj = if *cols == 1 { 0 } else { j };
                        f64::from(values[rr * cols + jj])
                    };
                    drawn[r * width + j] = if term.family == Family::Categorical {
                        let (values, rows, cols) = &args[0];
                        let rr = if *rows == 1 { 0 } else { r };
                        categorical::draw(&values[rr * cols..(rr + 1) * cols], rng)
                    } else {
                        let mut p = [0.0; 3];
                        for (k, slot) in p.iter_mut().enumerate().take(args.len()) {
                            *slot = arg(k);
                        }
                        dist::draw(term.family, p, rng) as f32
                    };
                }
            }
            let input = self.inputs[term.symbol.0].expect("internal: drawn values are inputs");
            exec.input_mut(input).copy_from_slice(&drawn);
        }
        self.rows.clear();
        for r in 0..n {
            for &(w, node) in &self.groups {
                self.rows
                    .extend_from_slice(&self.exec.value(node)[r * w..(r + 1) * w]);
            }
        }
        Ok(&self.rows)
    }
}
