//! A [`Session`]: an ELBO graph compiled once into an executor, with the means to feed
//! it a batch of rows and fresh noise, and to read its per-row parts.
//!
//! Feeding copies into buffers the executor allocated at construction; nothing here
//! allocates per batch.
//!
//! A training session may run each step on two threads (data parallelism): a second
//! executor with the same graph, owned by one persistent worker thread, takes the back
//! half of the batch's rows. The two halves see exactly the noise one executor would
//! (each leaf's rows are drawn front half first, from the same stream), both use the
//! whole batch's scale factors, so the objective and gradient are the sums of the
//! halves', added in a fixed order (front + back): a seed gives identical output for a
//! given thread count. The executor travels to the worker and back through two
//! one-slot channels, so a step allocates nothing and needs no `unsafe`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::JoinHandle;

use rand::Rng;
use rand_distr::{Distribution, StandardNormal};

use crate::autodiff::{Executor, Real};
use crate::check::SymbolId;
use crate::ir::{Graph, InputId, NodeId, NoiseId, Op, ParamId, Rows};
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

/// How many threads a training step runs on (`--threads`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Threads {
    /// Two where the step is big enough to gain from them ([`Threads::for_step`]) and
    /// the machine has two cores to give, else one.
    Auto,
    /// Exactly this many (at least 1; more than 2 is treated as 2).
    Exactly(usize),
}

/// The process-wide choice, `0` for [`Threads::Auto`]: a property of the run on this
/// machine (like the instruction set), not of the fit, so it is not in the fit options.
static THREADS: AtomicUsize = AtomicUsize::new(0);

/// Below this many floating-point operations per step ([`step_flops`]), a second
/// thread's hand-off costs more than it saves. Measured on the project's 2-core
/// machine (see `scripts/bench.sh`): a step of the digits VAE at batch 100 (about 12
/// MFLOP) gains from two threads; the breast-cancer regression at batch 100 (about 0.3
/// MFLOP) loses; a deterministic ADVI evaluation of a regression over a thousand rows
/// with four draws each (about 5 MFLOP) gains.
const MIN_PARALLEL_FLOPS: f64 = 2.0e6;

/// Each half must have at least this many rows to keep its products efficient.
const MIN_HALF_ROWS: usize = 16;

impl Threads {
    /// Sets the thread count of every training session created after the call.
    pub fn set(self) {
        let n = match self {
            Threads::Auto => 0,
            Threads::Exactly(n) => n.max(1),
        };
        THREADS.store(n, Ordering::Relaxed);
    }

    /// The current process-wide choice.
    pub fn get() -> Threads {
        match THREADS.load(Ordering::Relaxed) {
            0 => Threads::Auto,
            n => Threads::Exactly(n),
        }
    }

    /// The threads a training step of `graph` at `rows` rows runs on under this choice.
    pub fn for_step(self, graph: &Graph, rows: usize) -> usize {
        match self {
            Threads::Exactly(n) => n.clamp(1, 2),
            Threads::Auto => {
                let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
                let big = step_flops(graph, rows) >= MIN_PARALLEL_FLOPS;
                if cores >= 2 && big && rows >= 2 * MIN_HALF_ROWS {
                    2
                } else {
                    1
                }
            }
        }
    }
}

/// The floating-point operations of a step at `rows` rows: each matrix product
/// `m x k · k x n` costs `2mkn` forward and twice that backward; every other node's
/// element about [`ELEMENT_FLOPS`] forward and backward together.
fn step_flops(graph: &Graph, rows: usize) -> f64 {
    let nodes = graph.nodes();
    nodes
        .iter()
        .map(|node| match node.op {
            Op::MatMul { ta, .. } => {
                let a = nodes[node.inputs[0].index()].shape;
                let k = if ta { a.rows_at(rows) } else { a.cols };
                let m = node.shape.rows_at(rows);
                6.0 * (m * k * node.shape.cols) as f64
            }
            _ => ELEMENT_FLOPS * node.shape.len_at(rows) as f64,
        })
        .sum()
}

/// The cost of one element of an elementwise node, forward and backward, in flops
/// (a few arithmetic operations, some a logarithm or exponential, and the memory).
const ELEMENT_FLOPS: f64 = 8.0;

/// The second thread of a two-thread session: its executor, in `exec` between steps
/// and on the worker during one.
struct Helper<T: Real> {
    exec: Option<Box<Executor<T>>>,
    jobs: Option<SyncSender<Box<Executor<T>>>>,
    done: Receiver<Box<Executor<T>>>,
    worker: Option<JoinHandle<()>>,
}

impl<T: Real + Send + 'static> Helper<T> {
    fn spawn(exec: Executor<T>, objective: NodeId) -> Helper<T> {
        let (jobs, inbox) = sync_channel::<Box<Executor<T>>>(1);
        let (outbox, done) = sync_channel(1);
        let worker = std::thread::spawn(move || {
            while let Ok(mut exec) = inbox.recv() {
                exec.forward();
                exec.backward(objective);
                if outbox.send(exec).is_err() {
                    return;
                }
            }
        });
        Helper {
            exec: Some(Box::new(exec)),
            jobs: Some(jobs),
            done,
            worker: Some(worker),
        }
    }
}

impl<T: Real> Helper<T> {
    fn exec(&self) -> &Executor<T> {
        self.exec
            .as_ref()
            .expect("internal: the helper's executor is home between steps")
    }

    fn exec_mut(&mut self) -> &mut Executor<T> {
        self.exec
            .as_mut()
            .expect("internal: the helper's executor is home between steps")
    }
}

impl<T: Real> Drop for Helper<T> {
    fn drop(&mut self) {
        // Closing the job channel ends the worker's loop.
        self.jobs = None;
        if let Some(worker) = self.worker.take() {
            // A worker that panicked has already reported it; nothing is left to do.
            let _ = worker.join();
        }
    }
}

/// A compiled ELBO graph; `f32` for training and evaluation (on one or two threads),
/// `f64` where a deterministic optimizer needs accurate gradients (`dadvi`).
pub struct Session<T: Real = f32> {
    exec: Executor<T>,
    /// The back half's executor, in a two-thread training session.
    helper: Option<Helper<T>>,
    /// Rows of the current batch in the helper's executor (0: all in `exec`).
    back_rows: usize,
    /// The sample blocks of the current batch (the `samples` of `load_batch`).
    samples: usize,
    data: Vec<InputId>,
    row_index: Option<InputId>,
    local_scale: InputId,
    global_scale: InputId,
    /// Every noise leaf, in the graph's order (the order draws are taken from a seed).
    noises: Vec<NoiseId>,
    global_noise: Option<NoiseId>,
    /// The objective's sample blocks each share one draw of the globals
    /// ([`ElboGraph::joint_blocks`]).
    joint_blocks: bool,
    pub local: NodeId,
    pub global: NodeId,
    pub objective: NodeId,
}

/// Sets every parameter of `exec`'s graph from `params` by name (the file may hold
/// more, e.g. the guide's, when the graph is only the model); says which one is missing
/// or of the wrong size.
pub fn load_named_params<T: Real>(
    exec: &mut Executor<T>,
    params: &[NamedParam],
) -> Result<(), String> {
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
        for (to, &from) in exec.params_mut()[range].iter_mut().zip(&found.values) {
            *to = T::from_f32(from);
        }
    }
    Ok(())
}

impl Session {
    /// Compiles `elbo` for batches of at most `max_rows` rows, in `f32`.
    pub fn new(elbo: &ElboGraph, max_rows: usize) -> Session {
        Session::with_precision(elbo, max_rows)
    }

    /// A session for training steps of at most `rows` data rows with `samples` each,
    /// on the threads [`Threads::get`] chooses for this graph: with two, each executor
    /// holds half of the data rows.
    pub fn for_training(elbo: &ElboGraph, rows: usize, samples: usize) -> Session {
        let threads = Threads::get().for_step(&elbo.graph, rows * samples);
        Session::with_threads(elbo, rows, samples, threads)
    }

    /// A session whose steps of at most `rows` data rows with `samples` each run on
    /// `threads` threads (1 or 2; more are 2).
    /// An objective that couples a batch's rows ([`ElboGraph::joint_blocks`]) runs on one.
    pub fn with_threads(elbo: &ElboGraph, rows: usize, samples: usize, threads: usize) -> Session {
        Session::with_threads_in(elbo, rows, samples, threads)
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

    /// Appends the noise of sample block `block` (blocks of `rows` batch rows) of the
    /// last run to `out`: the globals' draw (the block's rows share it), then, with
    /// `per_row`, every other leaf's rows. For a one-thread session whose globals are
    /// shared per block ([`Session::share_globals_per_block`]): the noise a control
    /// variate for that block's pass reads.
    pub fn block_noise(&self, block: usize, rows: usize, per_row: bool, out: &mut Vec<f32>) {
        debug_assert!(self.helper.is_none() && self.joint_blocks);
        for &id in &self.noises {
            let info = self.exec.graph().noise_info(id);
            let first = block * rows * info.shape.cols;
            let len = self.block_leaf_len(id, rows, per_row);
            out.extend_from_slice(&self.exec.value(info.node)[first..first + len]);
        }
    }

    /// The noise [`Session::block_noise`] appends for one block of `rows` rows.
    pub fn block_noise_width(&self, rows: usize, per_row: bool) -> usize {
        self.noises
            .iter()
            .map(|&id| self.block_leaf_len(id, rows, per_row))
            .sum()
    }
}

impl<T: Real + Send + 'static> Session<T> {
    /// [`Session::with_threads`] in `T`.
    pub fn with_threads_in(
        elbo: &ElboGraph,
        rows: usize,
        samples: usize,
        threads: usize,
    ) -> Session<T> {
        if threads < 2 || rows < 2 || elbo.joint_blocks {
            return Session::with_precision(elbo, rows * samples);
        }
        let mut session = Session::with_precision(elbo, rows.div_ceil(2) * samples);
        let back = Executor::new(elbo.graph.clone(), rows / 2 * samples);
        session.helper = Some(Helper::spawn(back, elbo.objective));
        session
    }
}

impl<T: Real> Session<T> {
    /// Compiles `elbo` for batches of at most `max_rows` rows, in `T`, on one thread.
    pub fn with_precision(elbo: &ElboGraph, max_rows: usize) -> Session<T> {
        let inputs = &elbo.inputs;
        Session {
            data: inputs.data.iter().map(|&(_, leaf)| leaf.id).collect(),
            row_index: inputs.row_index.map(|leaf| leaf.id),
            local_scale: inputs.scale.local.id,
            global_scale: inputs.scale.global.id,
            noises: elbo.noise.in_graph_order().iter().map(|l| l.id).collect(),
            global_noise: elbo.noise.globals.map(|leaf| leaf.id),
            joint_blocks: elbo.joint_blocks,
            local: elbo.local,
            global: elbo.global,
            objective: elbo.objective,
            exec: Executor::new(elbo.graph.clone(), max_rows),
            helper: None,
            back_rows: 0,
            samples: 1,
        }
    }

    /// The threads each step runs on.
    pub fn threads(&self) -> usize {
        1 + usize::from(self.helper.is_some())
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
    /// scale factors so that the objective estimates the ELBO of `total_rows` rows. In
    /// a two-thread session the front half of the data rows, with all their samples,
    /// goes to this thread's executor and the back half to the helper's: each executor
    /// holds whole sample blocks of its rows, which the IWAE bound's group reduction
    /// over a row's K samples needs.
    pub fn load_batch(
        &mut self,
        data: &Dataset,
        rows: &[usize],
        samples: usize,
        total_rows: usize,
    ) {
        let back_data = if self.helper.is_some() {
            rows.len() / 2
        } else {
            0
        };
        let (front, back) = rows.split_at(rows.len() - back_data);
        self.back_rows = back.len() * samples;
        self.samples = samples;
        let (local, global) = MinibatchScale::factors(rows.len() * samples, total_rows);
        self.fill(false, data, front, samples, (local, global));
        if self.back_rows > 0 {
            self.fill(true, data, back, samples, (local, global));
        }
    }

    /// Fills `rows` repeated `samples` times (sample-major) with the scale factors
    /// into this thread's executor or, with `back`, the helper's.
    fn fill(
        &mut self,
        back: bool,
        data: &Dataset,
        rows: &[usize],
        samples: usize,
        (local, global): (f32, f32),
    ) {
        let exec = match self.helper.as_mut() {
            Some(helper) if back => helper.exec_mut(),
            _ => &mut self.exec,
        };
        // Batch row v (sample-major) is data row rows[v % n].
        let n = rows.len();
        let range = 0..n * samples;
        exec.set_rows(range.len());
        for (column, &input) in data.columns.iter().zip(&self.data) {
            let w = column.spec.width();
            let buf = exec.input_mut(input);
            for (dst, v) in buf.chunks_exact_mut(w).zip(range.clone()) {
                for (d, &x) in dst.iter_mut().zip(column.row(rows[v % n])) {
                    *d = T::from_f32(x);
                }
            }
        }
        if let Some(input) = self.row_index {
            let buf = exec.input_mut(input);
            for (dst, v) in buf.iter_mut().zip(range) {
                *dst = T::from_f64(rows[v % n] as f64);
            }
        }
        exec.input_mut(self.local_scale)[0] = T::from_f32(local);
        exec.input_mut(self.global_scale)[0] = T::from_f32(global);
    }

    /// Fills every noise leaf with fresh standard-normal draws. With `shared_globals`
    /// every row gets that draw of the globals (for an importance-weighted bound over
    /// all rows jointly); for an objective with joint blocks each sample block's rows
    /// share one fresh draw. Per-row leaves are
    /// drawn sample block by sample block, each block's front rows then its back rows,
    /// so the stream is the one-thread stream; a leaf of fixed rows is drawn once and
    /// copied to the helper.
    pub fn draw_noise(&mut self, rng: &mut impl Rng, shared_globals: Option<&[f32]>) {
        let samples = self.samples;
        for &id in &self.noises {
            let is_global = Some(id) == self.global_noise;
            let shared = shared_globals.filter(|_| is_global);
            let width = self.exec.graph().noise_info(id).shape.cols;
            let front = self.exec.noise_mut(id);
            if is_global && self.joint_blocks && shared.is_none() {
                // One draw of the globals per sample block, the same for its rows.
                for block in front.chunks_exact_mut(front.len() / samples) {
                    let (first, rest) = block.split_at_mut(width);
                    fill_noise(first, rng, None);
                    for row in rest.chunks_exact_mut(first.len()) {
                        row.copy_from_slice(first);
                    }
                }
                continue;
            }
            let Some(helper) = self.helper.as_mut().filter(|_| self.back_rows > 0) else {
                fill_noise(front, rng, shared);
                continue;
            };
            let per_row = helper.exec().graph().noise_info(id).shape.rows == Rows::Batch;
            let back = helper.exec_mut().noise_mut(id);
            if per_row {
                let blocks = front
                    .chunks_exact_mut(front.len() / samples)
                    .zip(back.chunks_exact_mut(back.len() / samples));
                for (front_block, back_block) in blocks {
                    fill_noise(front_block, rng, shared);
                    fill_noise(back_block, rng, shared);
                }
            } else {
                fill_noise(front, rng, shared);
                back.copy_from_slice(front);
            }
        }
    }

    /// Negates every noise value of the loaded batch: the last draw's antithetic twin.
    pub fn negate_noise(&mut self) {
        let back_rows = self.back_rows;
        for &id in &self.noises {
            for v in self.exec.noise_mut(id) {
                *v = -*v;
            }
            if let Some(helper) = self.helper.as_mut().filter(|_| back_rows > 0) {
                for v in helper.exec_mut().noise_mut(id) {
                    *v = -*v;
                }
            }
        }
    }

    /// From now on each sample block's rows share one draw of the globals, as for an
    /// objective with joint blocks: several joint passes over the data fit in one run.
    pub fn share_globals_per_block(&mut self) {
        self.joint_blocks = true;
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

    /// One leaf's share of a block's noise ([`Session::block_noise`]): the globals' one
    /// row (the block's rows share it), a per-row leaf's `rows` rows when asked for,
    /// else nothing.
    fn block_leaf_len(&self, id: NoiseId, rows: usize, per_row: bool) -> usize {
        let width = self.exec.graph().noise_info(id).shape.cols;
        if Some(id) == self.global_noise {
            width
        } else if per_row {
            rows * width
        } else {
            0
        }
    }

    /// From now on [`Session::forward_backward`] also differentiates with respect to
    /// the noise ([`Session::block_noise_grad`]), on one thread.
    pub fn differentiate_noise(&mut self) {
        debug_assert!(self.helper.is_none());
        self.exec.differentiate_noise();
    }

    /// Sets the noise of a loaded one-sample batch of `rows` rows on one thread from a
    /// block's layout ([`Session::block_noise`]): every row takes the globals' part;
    /// with `per_row` every other leaf takes its rows' part, else zeros (the guide's
    /// centre).
    pub fn set_block_noise(&mut self, rows: usize, per_row: bool, block: &[T]) {
        debug_assert!(self.helper.is_none() && self.samples <= 1 && !self.joint_blocks);
        let mut at = 0;
        for i in 0..self.noises.len() {
            let id = self.noises[i];
            let width = self.exec.graph().noise_info(id).shape.cols;
            let len = self.block_leaf_len(id, rows, per_row);
            let part = &block[at..at + len];
            let leaf = &mut self.exec.noise_mut(id)[..rows * width];
            if len == width && Some(id) == self.global_noise {
                for row in leaf.chunks_exact_mut(width) {
                    row.copy_from_slice(part);
                }
            } else if len > 0 {
                leaf.copy_from_slice(part);
            } else {
                leaf.fill(T::ZERO);
            }
            at += len;
        }
    }

    /// The objective's gradient in the noise of [`Session::set_block_noise`]'s layout,
    /// after [`Session::forward_backward`]: the globals' part summed over the rows that
    /// share it.
    pub fn block_noise_grad(&self, rows: usize, per_row: bool) -> Vec<T> {
        let mut out = Vec::new();
        for &id in &self.noises {
            let info = self.exec.graph().noise_info(id);
            let width = info.shape.cols;
            let grad = &self.exec.grad(info.node)[..rows * width];
            match self.block_leaf_len(id, rows, per_row) {
                0 => {}
                len if len == width && Some(id) == self.global_noise => {
                    let mut sum = vec![T::ZERO; width];
                    for row in grad.chunks_exact(width) {
                        for (s, &g) in sum.iter_mut().zip(row) {
                            *s += g;
                        }
                    }
                    out.extend(sum);
                }
                _ => out.extend_from_slice(grad),
            }
        }
        out
    }

    /// Sets a per-row noise leaf of the loaded batch from `values`, laid out as on one
    /// thread (`[sample · rows + row, width]`): in a two-thread session each sample
    /// block's front rows go to this thread's executor and its back rows to the
    /// helper's, as [`Session::load_batch`] splits them.
    pub fn set_noise(&mut self, id: NoiseId, values: &[T]) {
        let width = self.exec.graph().noise_info(id).shape.cols;
        let samples = self.samples.max(1);
        let block = values.len() / samples;
        let back = self.back_rows / samples * width;
        let front_len = block - back;
        for (s, chunk) in values.chunks_exact(block).enumerate() {
            self.exec.noise_mut(id)[s * front_len..(s + 1) * front_len]
                .copy_from_slice(&chunk[..front_len]);
            if let Some(helper) = self.helper.as_mut().filter(|_| back > 0) {
                helper.exec_mut().noise_mut(id)[s * back..(s + 1) * back]
                    .copy_from_slice(&chunk[front_len..]);
            }
        }
    }

    /// A node's values over the loaded batch, laid out as on one thread (each sample
    /// block's front rows, then its back rows), after [`Session::forward_backward`].
    pub fn batch_values(&self, node: NodeId) -> Vec<T> {
        let front = self.exec.value(node);
        let Some(helper) = self.helper.as_ref().filter(|_| self.back_rows > 0) else {
            return front.to_vec();
        };
        let back = helper.exec().value(node);
        let samples = self.samples.max(1);
        let (f, b) = (front.len() / samples, back.len() / samples);
        let mut all = Vec::with_capacity(front.len() + back.len());
        for s in 0..samples {
            all.extend_from_slice(&front[s * f..(s + 1) * f]);
            all.extend_from_slice(&back[s * b..(s + 1) * b]);
        }
        all
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

    /// Runs the graph forward and backward on every thread and returns the objective;
    /// [`Executor::param_grads`] of [`Session::exec`] then holds the whole batch's
    /// gradient (front half's + back half's).
    pub fn forward_backward(&mut self) -> T {
        let objective = self.objective;
        let Some(helper) = self.helper.as_mut().filter(|_| self.back_rows > 0) else {
            self.exec.forward();
            self.exec.backward(objective);
            return self.exec.value(objective)[0];
        };
        let mut back = helper.exec.take().expect("internal: the helper is home");
        back.params_mut().copy_from_slice(self.exec.params());
        helper
            .jobs
            .as_ref()
            .expect("internal: the helper's job channel is open")
            .send(back)
            .expect("internal: the helper thread ended");
        self.exec.forward();
        self.exec.backward(objective);
        let back = helper
            .done
            .recv()
            .expect("internal: the helper thread ended");
        self.exec.add_param_grads(back.param_grads());
        let total = self.exec.value(objective)[0] + back.value(objective)[0];
        helper.exec = Some(back);
        total
    }

    /// The first node, in topological order, with a non-finite value in either half.
    pub fn first_non_finite(&self) -> Option<NodeId> {
        let back = self.helper.as_ref().filter(|_| self.back_rows > 0);
        self.exec
            .first_non_finite()
            .or_else(|| back.and_then(|h| h.exec().first_non_finite()))
    }
}

/// Standard-normal draws into `buf`, or `shared` repeated on every row.
fn fill_noise<T: Real>(buf: &mut [T], rng: &mut impl Rng, shared: Option<&[f32]>) {
    match shared {
        Some(draw) => {
            for row in buf.chunks_exact_mut(draw.len()) {
                for (dst, &v) in row.iter_mut().zip(draw) {
                    *dst = T::from_f32(v);
                }
            }
        }
        None => {
            for x in buf.iter_mut() {
                *x = T::from_f64(StandardNormal.sample(rng));
            }
        }
    }
}
