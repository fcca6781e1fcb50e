//! Drawing from a fitted generative model (`vic sample`, and the draws behind
//! `vic predict`).
//!
//! Globals are drawn from the fitted guide (their approximate posterior); then every
//! local latent and every drawn data declaration is drawn in statement order from its
//! distribution, whose arguments the model's log-joint graph computes from the values
//! drawn so far, with the learned nets and params. This is ancestral sampling by
//! repeated evaluation: one forward pass per `~` statement.
//!
//! **Conditioned on data** ([`Conditions`]), each data row gives its covariates (every
//! data declaration that is not an output) and is drawn `per_row` times: amortized
//! locals come from the guide q(z|x) when the row holds every data declaration the
//! encoder reads (a reconstruction), free locals from their per-row table when the file
//! has as many rows as the fit was trained on (row i is training row i), and otherwise
//! both from their prior. Without data, a model with covariates (data that no `~`
//! draws) is refused: its draws would silently use zeros.
//!
//! A [`Sampler`] draws in chunks of at most [`CHUNK_ROWS`] rows, so any number of
//! draws streams through bounded memory; it never holds more than one chunk, and
//! never writes anything itself.

use std::path::Path;

use crate::autodiff::Executor;
use rand::rngs::StdRng;

use crate::check::hir::{Model, StmtKind};
use crate::check::{ModelInfo, Shape, SymbolId, SymbolKind};
use crate::dist::{self, Family, categorical};
use crate::ir::{Graph, InputId, NodeId, Rows};
use crate::lower::{self, LogJoint, Role};
use crate::objective::ElboGraph;

use super::data::{self, Column, ColumnSpec, DataError, Dataset};
use super::limits::{self, TooLarge};
use super::session::{NamedParam, Session, load_named_params};
use super::train::stream;

const SAMPLE_STREAM: u64 = 21;

/// The most rows drawn in one pass of the graph.
pub const CHUNK_ROWS: usize = 1024;

/// Why sampling could not start.
#[derive(Debug, thiserror::Error)]
pub enum SampleError {
    #[error("{0}")]
    Params(String),
    #[error("{0}")]
    TooLarge(#[from] TooLarge),
    #[error(transparent)]
    Data(#[from] DataError),
    #[error(
        "the model reads covariates that no `~` draws ({}), so its draws need them from data; give `--data ROWS.csv` with those columns",
        names.join(", ")
    )]
    NeedsCovariates { names: Vec<String> },
    #[error("`--outputs {name}`: {problem}")]
    BadOutput { name: String, problem: String },
}

/// The name of element `j` of a `width`-wide value `name`: `x[3]` for a vector, `x`
/// for a scalar. One scheme for every column vic writes (CSV, JSON, summaries), so
/// `z1[10]` and `z11[0]` never collide.
pub fn element_name(name: &str, shape: Shape, j: usize) -> String {
    match shape {
        Shape::Scalar => name.to_string(),
        Shape::Vector(_) => format!("{name}[{j}]"),
        Shape::Matrix(_, cols) => format!("{name}[{}][{}]", j / cols, j % cols),
    }
}

/// The data declarations some `~` draws (the likelihood targets), in declaration order.
pub fn likelihood_targets(model: &Model, info: &ModelInfo) -> Vec<SymbolId> {
    info.of_kind(|k| matches!(k, SymbolKind::Data))
        .map(|(id, _)| id)
        .filter(|&id| {
            model
                .stmts
                .iter()
                .any(|s| matches!(&s.kind, StmtKind::Likelihood { symbol, .. } if *symbol == id))
        })
        .collect()
}

/// Data rows to condition draws on, and which data declarations are drawn.
#[derive(Debug, Clone)]
pub struct Conditions {
    /// Every data declaration in declaration order; an output the file does not hold is
    /// all zeros (and never read: it is drawn before use, and the encoder is not used).
    pub data: Dataset,
    /// The drawn data declarations; every other one is a covariate read from the file.
    pub outputs: Vec<SymbolId>,
    /// Whether the file holds every data declaration (so q(z|x) applies).
    pub complete: bool,
    /// The fit's training rows: free locals come from their table only when the file
    /// has exactly this many rows.
    pub train_rows: usize,
}

impl Conditions {
    /// Reads `bytes` (from `path`, named in errors) as rows for `model`: the outputs are
    /// `outputs` by name, or the likelihood targets when `None`; the covariates must be
    /// in the file, the outputs may be.
    pub fn read(
        path: &Path,
        bytes: &[u8],
        model: &Model,
        info: &ModelInfo,
        specs: &[ColumnSpec],
        outputs: Option<&[String]>,
        train_rows: usize,
    ) -> Result<Conditions, SampleError> {
        let outputs = match outputs {
            None => likelihood_targets(model, info),
            Some(names) => names
                .iter()
                .map(|name| output_symbol(info, name))
                .collect::<Result<Vec<_>, _>>()?,
        };
        let is_output =
            |spec: &ColumnSpec| outputs.iter().any(|&id| info.symbol(id).name == spec.name);
        match data::parse(path, bytes, specs) {
            Ok(data) => Ok(Conditions {
                data,
                outputs,
                complete: true,
                train_rows,
            }),
            Err(DataError::MissingColumn { name, .. })
                if specs.iter().any(|s| s.name == name && is_output(s)) =>
            {
                let covariates: Vec<ColumnSpec> =
                    specs.iter().filter(|s| !is_output(s)).cloned().collect();
                let partial = data::parse(path, bytes, &covariates)?;
                let rows = partial.rows;
                let mut found = partial.columns.into_iter();
                let columns = specs
                    .iter()
                    .map(|spec| {
                        if is_output(spec) {
                            Column {
                                spec: spec.clone(),
                                values: vec![0.0; rows * spec.width()],
                            }
                        } else {
                            found.next().expect("internal: one column per covariate")
                        }
                    })
                    .collect();
                Ok(Conditions {
                    data: Dataset {
                        path: partial.path,
                        rows,
                        columns,
                        ignored: partial.ignored,
                    },
                    outputs,
                    complete: false,
                    train_rows,
                })
            }
            Err(e) => Err(e.into()),
        }
    }
}

fn output_symbol(info: &ModelInfo, name: &str) -> Result<SymbolId, SampleError> {
    let data: Vec<&str> = info
        .of_kind(|k| matches!(k, SymbolKind::Data))
        .map(|(_, s)| s.name.as_str())
        .collect();
    info.of_kind(|k| matches!(k, SymbolKind::Data))
        .find(|(_, s)| s.name == name)
        .map(|(id, _)| id)
        .ok_or_else(|| SampleError::BadOutput {
            name: name.to_string(),
            problem: format!(
                "is not a data declaration of the model (it has: {})",
                data.join(", ")
            ),
        })
}

/// Where a drawn column came from, for whoever aggregates the draws.
#[derive(Debug, Clone)]
pub struct Group {
    pub symbol: SymbolId,
    /// The first of its columns in a drawn row.
    pub offset: usize,
    pub width: usize,
    node: NodeId,
}

/// Draws from a fitted model, chunk by chunk.
pub struct Sampler<'a> {
    info: &'a ModelInfo,
    elbo: &'a ElboGraph,
    joint: LogJoint,
    /// Each data, latent and global symbol's input, by symbol.
    inputs: Vec<Option<InputId>>,
    exec: Executor<f32>,
    /// The guide, run for the globals (and the locals of a reconstruction).
    guide: Option<Session>,
    rng: StdRng,
    /// Column names, `x[0] .. x[63]` for a vector `x`.
    header: Vec<String>,
    /// Per written declaration: its columns and value node.
    groups: Vec<Group>,
    conditions: Option<&'a Conditions>,
    /// Draws per data row, with conditions.
    per_row: u64,
    /// Draws made so far.
    made: u64,
    /// Which symbols the guide gives (the rest of the latents are drawn from the prior).
    from_guide: Vec<bool>,
    /// The data row of each draw of the last chunk, with conditions.
    rows_of_chunk: Vec<usize>,
    /// The last chunk, row-major.
    rows: Vec<f32>,
}

impl<'a> Sampler<'a> {
    /// A sampler for chunks of at most `chunk` rows (clamped to 1..=[`CHUNK_ROWS`]);
    /// with `conditions`, `per_row` draws of each of its rows.
    pub fn new(
        model: &Model,
        info: &'a ModelInfo,
        elbo: &'a ElboGraph,
        params: &'a [NamedParam],
        chunk: usize,
        seed: u64,
        conditions: Option<(&'a Conditions, u64)>,
    ) -> Result<Sampler<'a>, SampleError> {
        let targets = likelihood_targets(model, info);
        if conditions.is_none() {
            let names: Vec<String> = info
                .of_kind(|k| matches!(k, SymbolKind::Data))
                .filter(|(id, _)| !targets.contains(id))
                .map(|(_, s)| s.name.clone())
                .collect();
            if !names.is_empty() {
                return Err(SampleError::NeedsCovariates { names });
            }
        }
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
        let guide = if conditions.is_some() || !elbo.globals.is_empty() {
            let mut session = Session::new(elbo, chunk);
            session.load_params(params).map_err(SampleError::Params)?;
            Some(session)
        } else {
            None
        };

        let mut from_guide = vec![false; info.symbols.len()];
        for &(symbol, _) in &elbo.globals {
            from_guide[symbol.0] = true;
        }
        if let Some((c, _)) = conditions {
            let free_rows_match = c.data.rows == c.train_rows;
            for (id, s) in info.of_kind(|k| matches!(k, SymbolKind::Latent { .. })) {
                from_guide[id.0] = match s.kind {
                    SymbolKind::Latent { free: true, .. } => free_rows_match,
                    _ => c.complete,
                };
            }
        }

        let mut header = Vec::new();
        let mut groups = Vec::new();
        if conditions.is_some() {
            header.push("row".to_string());
        }
        for (i, symbol) in info.symbols.iter().enumerate() {
            let written = match symbol.kind {
                SymbolKind::Data => match conditions {
                    Some((c, _)) => c.outputs.contains(&SymbolId(i)),
                    None => true,
                },
                SymbolKind::Latent { .. } | SymbolKind::Global { .. } => true,
                _ => false,
            };
            if !written {
                continue;
            }
            let width = symbol.shape.width();
            groups.push(Group {
                symbol: SymbolId(i),
                offset: header.len() - usize::from(conditions.is_some()),
                width,
                node: joint.nodes[i].expect("internal: values are bound"),
            });
            header.extend((0..width).map(|j| element_name(&symbol.name, symbol.shape, j)));
        }
        Ok(Sampler {
            info,
            elbo,
            joint,
            inputs,
            exec,
            guide,
            rng: stream(seed, SAMPLE_STREAM),
            header,
            groups,
            conditions: conditions.map(|(c, _)| c),
            per_row: conditions.map_or(0, |(_, n)| n),
            made: 0,
            from_guide,
            rows_of_chunk: Vec::new(),
            rows: Vec::new(),
        })
    }

    /// The column names: with conditions `row` first (the 1-based data row), then the
    /// drawn values.
    pub fn header(&self) -> &[String] {
        &self.header
    }

    /// Drawn values per row (without the `row` column).
    pub fn width(&self) -> usize {
        self.groups.iter().map(|g| g.width).sum()
    }

    /// The drawn declarations and where their columns are.
    pub fn groups(&self) -> &[Group] {
        &self.groups
    }

    /// The most rows one [`Sampler::draw`] gives.
    pub fn chunk(&self) -> usize {
        self.exec.max_rows()
    }

    /// The number of draws there are to make with conditions (rows × per row); `None`
    /// without conditions, where any number can be drawn.
    pub fn total(&self) -> Option<u64> {
        self.conditions
            .map(|c| (c.data.rows as u64).saturating_mul(self.per_row))
    }

    /// The 0-based data row of each draw of the last chunk (empty without conditions).
    pub fn rows_of_chunk(&self) -> &[usize] {
        &self.rows_of_chunk
    }

    /// `n` fresh draws (1 to [`Sampler::chunk`], and with conditions at most what is
    /// left of [`Sampler::total`]), row-major, [`Sampler::width`] values per row.
    pub fn draw(&mut self, n: usize) -> Result<&[f32], SampleError> {
        let mut n = n.clamp(1, self.chunk());
        self.rows_of_chunk.clear();
        if let Some(total) = self.total() {
            n = n.min(total.saturating_sub(self.made) as usize);
            let per_row = self.per_row;
            self.rows_of_chunk
                .extend((self.made..self.made + n as u64).map(|d| (d / per_row) as usize));
        }
        self.made += n as u64;
        self.exec.set_rows(n);
        if n == 0 {
            self.rows.clear();
            return Ok(&self.rows);
        }
        self.run_guide(n);
        if let Some(c) = self.conditions {
            for (column, &(symbol, _)) in c.data.columns.iter().zip(&self.elbo.inputs.data) {
                if c.outputs.contains(&symbol) {
                    continue;
                }
                let w = column.spec.width();
                let input = self.inputs[symbol.0].expect("internal: data are inputs");
                let buf = self.exec.input_mut(input);
                for (i, &row) in self.rows_of_chunk.iter().enumerate() {
                    buf[i * w..(i + 1) * w].copy_from_slice(column.row(row));
                }
            }
        }
        let exec = &mut self.exec;
        let rng = &mut self.rng;
        for term in &self.joint.terms {
            let drawn_here = match term.role {
                Role::Global => false,
                Role::Local => !self.from_guide[term.symbol.0],
                Role::Likelihood => self
                    .conditions
                    .is_none_or(|c| c.outputs.contains(&term.symbol)),
            };
            if !drawn_here {
                continue;
            }
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
            for g in &self.groups {
                let w = g.width;
                self.rows
                    .extend_from_slice(&self.exec.value(g.node)[r * w..(r + 1) * w]);
            }
        }
        Ok(&self.rows)
    }

    /// Runs the guide for `n` draws and copies what it gives (the globals, and the
    /// locals of a reconstruction) into the sampling graph.
    fn run_guide(&mut self, n: usize) {
        let Some(session) = &mut self.guide else {
            return;
        };
        match self.conditions {
            Some(c) => {
                let train_rows = c.train_rows;
                session.load_batch(&c.data, &self.rows_of_chunk, 1, train_rows);
                if let Some(index) = self.elbo.inputs.row_index {
                    // A file of another length than the training data does not name
                    // training rows: its free locals come from the prior, and the
                    // table's first row only keeps the gather in bounds.
                    if c.data.rows != train_rows {
                        session.exec_mut().input_mut(index.id).fill(0.0);
                    }
                }
            }
            None => session.exec_mut().set_rows(n),
        }
        session.draw_noise(&mut self.rng, None);
        session.exec_mut().forward();
        for &(symbol, node) in self.elbo.globals.iter().chain(&self.elbo.locals) {
            if !self.from_guide[symbol.0] {
                continue;
            }
            let input = self.inputs[symbol.0].expect("internal: latents are inputs");
            self.exec
                .input_mut(input)
                .copy_from_slice(session.exec().value(node));
        }
    }
}
