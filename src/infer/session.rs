//! A [`Session`]: an ELBO graph compiled once into an executor, with the means to feed
//! it a batch of rows and fresh noise, and to read its per-row parts.
//!
//! Feeding copies into buffers the executor allocated at construction; nothing here
//! allocates per batch.

use rand::Rng;
use rand_distr::{Distribution, StandardNormal};

use crate::autodiff::{Executor, Real};
use crate::check::SymbolId;
use crate::ir::{Graph, InputId, NodeId, NoiseId, ParamId};
use crate::objective::{ElboGraph, MinibatchScale};

use super::data::Dataset;

/// Named parameter values, the portable form of a fitted guide and model.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct NamedParam {
    pub name: String,
    pub rows: usize,
    pub cols: usize,
    pub values: Vec<f32>,
}

/// A compiled ELBO graph; `f32` for training and evaluation, `f64` where a
/// deterministic optimizer needs accurate gradients (`dadvi`).
pub struct Session<T: Real = f32> {
    exec: Executor<T>,
    data: Vec<InputId>,
    row_index: Option<InputId>,
    local_scale: InputId,
    global_scale: InputId,
    /// Every noise leaf, in the graph's order (the order draws are taken from a seed).
    noises: Vec<NoiseId>,
    global_noise: Option<NoiseId>,
    pub local: NodeId,
    pub global: NodeId,
    pub objective: NodeId,
}

/// Sets every parameter of `exec`'s graph from `params` by name (the file may hold
/// more, e.g. the guide's, when the graph is only the model); says which one is missing
/// or of the wrong size.
pub fn load_named_params(exec: &mut Executor<f32>, params: &[NamedParam]) -> Result<(), String> {
    for i in 0..exec.graph().params().len() {
        let id = ParamId(i as u32);
        let info = exec.graph().param_info(id);
        let Some(found) = params.iter().find(|p| p.name == info.name) else {
            return Err(format!("the fit file has no parameter `{}`", info.name));
        };
        if found.rows != info.rows || found.cols != info.cols || found.values.len() != info.len() {
            return Err(format!(
                "the fit file's parameter `{}` is {}x{}, but the model needs {}x{}",
                info.name, found.rows, found.cols, info.rows, info.cols
            ));
        }
        let range = exec.param_range(id);
        exec.params_mut()[range].copy_from_slice(&found.values);
    }
    Ok(())
}

impl Session {
    /// Compiles `elbo` for batches of at most `max_rows` rows, in `f32`.
    pub fn new(elbo: &ElboGraph, max_rows: usize) -> Session {
        Session::with_precision(elbo, max_rows)
    }

    /// Sets every parameter from `params` by name; see [`load_named_params`].
    pub fn load_params(&mut self, params: &[NamedParam]) -> Result<(), String> {
        load_named_params(&mut self.exec, params)
    }

    /// `n` draws of every global from the guide, constrained, `[n, width]` each, in
    /// declaration order. The rest of the graph runs on whatever data is loaded; only
    /// the globals' values are read.
    pub fn draw_globals(
        elbo: &ElboGraph,
        params: &[NamedParam],
        n: usize,
        rng: &mut impl Rng,
    ) -> Result<Vec<(SymbolId, Vec<f32>)>, String> {
        let mut session = Session::new(elbo, n);
        session.load_params(params)?;
        session.exec.set_rows(n);
        session.draw_noise(rng, None);
        session.exec.forward();
        Ok(elbo
            .globals
            .iter()
            .map(|&(symbol, node)| (symbol, session.exec.value(node).to_vec()))
            .collect())
    }
}

impl<T: Real> Session<T> {
    /// Compiles `elbo` for batches of at most `max_rows` rows, in `T`.
    pub fn with_precision(elbo: &ElboGraph, max_rows: usize) -> Session<T> {
        let inputs = &elbo.inputs;
        Session {
            data: inputs.data.iter().map(|&(_, leaf)| leaf.id).collect(),
            row_index: inputs.row_index.map(|leaf| leaf.id),
            local_scale: inputs.scale.local.id,
            global_scale: inputs.scale.global.id,
            noises: elbo.noise.in_graph_order().iter().map(|l| l.id).collect(),
            global_noise: elbo.noise.globals.map(|leaf| leaf.id),
            local: elbo.local,
            global: elbo.global,
            objective: elbo.objective,
            exec: Executor::new(elbo.graph.clone(), max_rows),
        }
    }

    pub fn exec(&self) -> &Executor<T> {
        &self.exec
    }

    pub fn exec_mut(&mut self) -> &mut Executor<T> {
        &mut self.exec
    }

    pub fn graph(&self) -> &Graph {
        self.exec.graph()
    }

    /// The parameters with their names.
    pub fn named_params(&self) -> Vec<NamedParam> {
        let graph = self.exec.graph();
        graph
            .params()
            .iter()
            .enumerate()
            .map(|(i, p)| NamedParam {
                name: p.name.clone(),
                rows: p.rows,
                cols: p.cols,
                values: self.exec.params()[self.exec.param_range(ParamId(i as u32))]
                    .iter()
                    .map(|&v| v.to_f64() as f32)
                    .collect(),
            })
            .collect()
    }

    /// Loads `rows` of `data` (each repeated `samples` times, sample-major) and sets the
    /// scale factors so that the objective estimates the ELBO of `total_rows` rows.
    pub fn load_batch(
        &mut self,
        data: &Dataset,
        rows: &[usize],
        samples: usize,
        total_rows: usize,
    ) {
        let r = rows.len() * samples;
        self.exec.set_rows(r);
        for (column, &input) in data.columns.iter().zip(&self.data) {
            let w = column.spec.width();
            let buf = self.exec.input_mut(input);
            for s in 0..samples {
                for (i, &row) in rows.iter().enumerate() {
                    let at = (s * rows.len() + i) * w;
                    for (dst, &v) in buf[at..at + w].iter_mut().zip(column.row(row)) {
                        *dst = T::from_f32(v);
                    }
                }
            }
        }
        if let Some(input) = self.row_index {
            let buf = self.exec.input_mut(input);
            for s in 0..samples {
                for (i, &row) in rows.iter().enumerate() {
                    buf[s * rows.len() + i] = T::from_f64(row as f64);
                }
            }
        }
        let (local, global) = MinibatchScale::factors(r, total_rows);
        self.exec.input_mut(self.local_scale)[0] = T::from_f32(local);
        self.exec.input_mut(self.global_scale)[0] = T::from_f32(global);
    }

    /// Fills every noise leaf with fresh standard-normal draws. With `shared_globals`
    /// every row gets the same draw of the globals (for an importance-weighted bound
    /// over all rows jointly), drawn from `global_draw` when given.
    pub fn draw_noise(&mut self, rng: &mut impl Rng, shared_globals: Option<&[f32]>) {
        for &id in &self.noises {
            let buf = self.exec.noise_mut(id);
            match shared_globals {
                Some(draw) if Some(id) == self.global_noise => {
                    for row in buf.chunks_exact_mut(draw.len()) {
                        for (dst, &v) in row.iter_mut().zip(draw) {
                            *dst = T::from_f32(v);
                        }
                    }
                }
                _ => {
                    for x in buf.iter_mut() {
                        *x = T::from_f64(StandardNormal.sample(rng));
                    }
                }
            }
        }
    }

    /// The width of the globals' noise, if the model has globals.
    pub fn global_noise_width(&self) -> Option<usize> {
        self.global_noise
            .map(|id| self.exec.graph().noise_info(id).shape.cols)
    }

    /// Whether the guide gives some local free per-row parameters.
    pub fn has_free_locals(&self) -> bool {
        self.row_index.is_some()
    }

    /// Every noise leaf, in graph order, for a caller that fills them itself.
    pub fn noises(&self) -> &[NoiseId] {
        &self.noises
    }

    /// Runs the graph and returns the objective.
    pub fn forward(&mut self) -> T {
        self.exec.forward();
        self.exec.value(self.objective)[0]
    }
}
