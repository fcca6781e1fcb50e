//! Vector-Jacobian products: one arm per [`Op`], each the textbook chain rule that
//! ACCUMULATES (`+=`, because of fan-out) `dout · ∂node/∂operand` into the gradient of
//! every operand that needs one.
//!
//! An operand receives nothing when no parameter or differentiable input lies below it
//! (`Graph::needs_grad`) or when the operation passes it no gradient
//! (`Graph::passes_grad`: gather indices, discrete observations). That is what saves
//! the product d(data) = dC · Wᵀ of a data-by-weight product. Splitting the gradient
//! arena at the node's offset gives shared access to `dout` and exclusive access to the
//! operands' gradients, which all live below it. Never allocates except matrixmultiply's
//! packing buffer.

use super::Plan;
use super::density;
use super::forward::{group_rows, layout, padded, row, row_of};
use super::real::{Layout, Real};
use crate::dist::{Elementwise, Family, categorical, for_elementwise};
use crate::ir::{Binary, NodeId, Op, Unary};

/// Zeroes every gradient that is needed, seeds `output`'s with 1 and runs every node's
/// VJP from `output` down. Inlined, with everything below it, into each of
/// [`super::isa`]'s paths.
#[inline(always)]
pub(super) fn backward_all<T: Real>(
    plan: &Plan<'_>,
    output: NodeId,
    values: &[T],
    grads: &mut [T],
) {
    for id in 0..plan.graph.len() {
        if plan.needs[id] {
            grads[plan.range(id)].fill(T::ZERO);
        }
    }
    if !plan.needs[output.index()] {
        return;
    }
    grads[plan.range(output.index())].fill(T::ONE);
    for id in (0..=output.index()).rev() {
        if plan.needs[id] {
            backward_node(plan, id, values, grads);
        }
    }
}

/// Accumulates node `id`'s gradient into its operands' gradients.
#[inline(always)]
fn backward_node<T: Real>(plan: &Plan<'_>, id: usize, values: &[T], grads: &mut [T]) {
    let node = &plan.graph.nodes()[id];
    if plan.is_leaf(id) {
        return;
    }
    let (below, rest) = grads.split_at_mut(plan.offsets[id]);
    let grid = plan.grid(id);
    let dout = &rest[..grid.len()];
    let y = &values[plan.offsets[id]..plan.offsets[id] + grid.len()];
    let arg = |k: usize| plan.arg(values, node.inputs[k].index());
    let mut grads = Grads { plan, id, below };
    match node.op {
        Op::Param(_) | Op::Input(_) | Op::Noise(_) | Op::Const(_) => {}
        Op::MatMul { ta, tb } => {
            // C = op(A)·op(B): d op(A) += dC·op(B)ᵀ, d op(B) += op(A)ᵀ·dC, written
            // through views of dA and dB oriented like op(A) and op(B).
            let (a, b) = (arg(0), arg(1));
            let (la, lb) = (layout(&a).t_if(ta), layout(&b).t_if(tb));
            let lc = Layout::row_major(grid.rows, grid.cols);
            if let Some(da) = grads.of(0) {
                T::gemm(T::ONE, dout, lc, b.data, lb.t(), T::ONE, da, la);
            }
            if let Some(db) = grads.of(1) {
                T::gemm(T::ONE, a.data, la.t(), dout, lc, T::ONE, db, lb);
            }
        }
        Op::Unary(u) => {
            if let Some(dx) = grads.of(0) {
                unary(u, arg(0).data, y, dout, dx);
            }
        }
        Op::Binary(op) => {
            let args = [arg(0), arg(1)];
            if let Some(da) = grads.of(0) {
                match op {
                    Binary::Add | Binary::Sub => grid.accumulate(da, 0, dout, args, |_| T::ONE),
                    Binary::Mul => grid.accumulate(da, 0, dout, args, |[_, b]| b),
                    Binary::Div => grid.accumulate(da, 0, dout, args, |[_, b]| T::ONE / b),
                }
            }
            if let Some(db) = grads.of(1) {
                match op {
                    Binary::Add => grid.accumulate(db, 1, dout, args, |_| T::ONE),
                    Binary::Sub => grid.accumulate(db, 1, dout, args, |_| -T::ONE),
                    Binary::Mul => grid.accumulate(db, 1, dout, args, |[a, _]| a),
                    Binary::Div => grid.accumulate(db, 1, dout, args, |[a, b]| -a / (b * b)),
                }
            }
        }
        Op::SumCols => {
            if let Some(dx) = grads.of(0) {
                let cols = arg(0).cols;
                for (g, &d) in dx.chunks_exact_mut(cols).zip(dout) {
                    g.iter_mut().for_each(|g| *g += d);
                }
            }
        }
        Op::SumRows => {
            if let Some(dx) = grads.of(0) {
                for g in dx.chunks_exact_mut(grid.cols) {
                    g.iter_mut().zip(dout).for_each(|(g, &d)| *g += d);
                }
            }
        }
        Op::SliceCols { start, end } => {
            if let Some(dx) = grads.of(0) {
                let cols = arg(0).cols;
                for (g, d) in dx.chunks_exact_mut(cols).zip(dout.chunks_exact(grid.cols)) {
                    add_into(&mut g[start..end], d);
                }
            }
        }
        Op::ConcatCols => {
            let mut start = 0;
            for k in 0..node.inputs.len() {
                let cols = arg(k).cols;
                if let Some(dx) = grads.of(k) {
                    for (g, d) in dx.chunks_exact_mut(cols).zip(dout.chunks_exact(grid.cols)) {
                        add_into(g, &d[start..start + cols]);
                    }
                }
                start += cols;
            }
        }
        Op::GatherRows => {
            if let Some(dt) = grads.of(0) {
                let (table, index) = (arg(0), arg(1));
                for (d, &i) in dout.chunks_exact(grid.cols).zip(index.data) {
                    let r = density::class_index(i, table.rows);
                    add_into(&mut dt[r * table.cols..(r + 1) * table.cols], d);
                }
            }
        }
        Op::SelectBlock { width } => {
            if let Some(dx) = grads.of(0) {
                let (x, index) = (arg(0), arg(1));
                let blocks = x.cols / width;
                for (i, d) in dout.chunks_exact(width).enumerate() {
                    let k = density::class_index(index.data[row_of(&index, i)], blocks);
                    let start = row_of(&x, i) * x.cols + k * width;
                    add_into(&mut dx[start..start + width], d);
                }
            }
        }
        Op::MatVec { rows, cols } => {
            // y_a = Σ_b W_ab v_b: dW_ab += d_a v_b, dv_b += Σ_a d_a W_ab.
            let (w, v) = (arg(0), arg(1));
            if let Some(dw) = grads.of(0) {
                for (i, d) in dout.chunks_exact(rows).enumerate() {
                    let r = row_of(&w, i);
                    let g = &mut dw[r * w.cols..(r + 1) * w.cols];
                    let v = row(&v, i);
                    for (g, &d) in g.chunks_exact_mut(cols).zip(d) {
                        g.iter_mut().zip(v).for_each(|(g, &b)| *g += d * b);
                    }
                }
            }
            if let Some(dv) = grads.of(1) {
                for (i, d) in dout.chunks_exact(rows).enumerate() {
                    let r = row_of(&v, i);
                    let g = &mut dv[r * cols..(r + 1) * cols];
                    for (w, &d) in row(&w, i).chunks_exact(cols).zip(d) {
                        g.iter_mut().zip(w).for_each(|(g, &a)| *g += d * a);
                    }
                }
            }
        }
        Op::OneHot { .. } => {}
        Op::LogSumExp => {
            // ∂y/∂x_j = softmax_j = exp(x_j − y).
            if let Some(dx) = grads.of(0) {
                let x = arg(0);
                for ((g, row), (&d, &y)) in dx
                    .chunks_exact_mut(x.cols)
                    .zip(x.data.chunks_exact(x.cols))
                    .zip(dout.iter().zip(y))
                {
                    for (g, &v) in g.iter_mut().zip(row) {
                        *g += d * (v - y).exp();
                    }
                }
            }
        }
        Op::Softmax => {
            // dx_j = y_j (d_j − Σ_k d_k y_k).
            if let Some(dx) = grads.of(0) {
                for ((g, y), d) in dx
                    .chunks_exact_mut(grid.cols)
                    .zip(y.chunks_exact(grid.cols))
                    .zip(dout.chunks_exact(grid.cols))
                {
                    let dot: T = y.iter().zip(d).map(|(&y, &d)| y * d).sum();
                    for ((g, &y), &d) in g.iter_mut().zip(y).zip(d) {
                        *g += y * (d - dot);
                    }
                }
            }
        }
        Op::LogDensity(Family::Categorical) => {
            if let Some(dl) = grads.of(1) {
                let (value, logits) = (arg(0), arg(1));
                for (i, &d) in dout.iter().enumerate() {
                    let class = density::class_index(value.data[row_of(&value, i)], logits.cols);
                    let r = row_of(&logits, i);
                    let g = &mut dl[r * logits.cols..(r + 1) * logits.cols];
                    categorical::log_prob_grad(row(&logits, i), class, d, g);
                }
            }
        }
        Op::LogDensity(family) => {
            let pad = [T::ONE];
            let args = padded(plan, values, &node.inputs, &pad);
            for k in 0..node.inputs.len() {
                if let Some(g) = grads.of(k) {
                    for_elementwise!(family, F => {
                        grid.accumulate_nth(g, k, dout, args, F::log_density_grad)
                    });
                }
            }
        }
        Op::KlNormal => {
            let args = [arg(0), arg(1), arg(2), arg(3)];
            for k in 0..4 {
                if let Some(g) = grads.of(k) {
                    grid.accumulate_nth(g, k, dout, args, density::kl_normal_grad);
                }
            }
        }
        // Never visited: its output needs no gradient (`Graph::needs_grad`).
        Op::StopGradient => {}
        Op::GroupLogMeanExp { groups } => {
            if let Some(dx) = grads.of(0) {
                // y_i = log (1/K) Σ_s exp(x_si), written to all K samples of row i:
                // dx_si += (Σ_s' dy_s'i) · exp(x_si − y_i) / K, the normalized weight.
                let x = arg(0).data;
                let rows = group_rows(x.len(), groups);
                let k = T::from_f64(groups as f64);
                for i in 0..rows {
                    let total = (0..groups).fold(T::ZERO, |acc, s| acc + dout[s * rows + i]);
                    for s in 0..groups {
                        let at = s * rows + i;
                        dx[at] += total * (x[at] - y[at]).exp() / k;
                    }
                }
            }
        }
        Op::BlockSum { blocks } => {
            if let Some(dx) = grads.of(0) {
                // Every row of a block receives the sum of the block's output gradients.
                let rows = group_rows(dx.len(), blocks);
                for (dx, dy) in dx.chunks_exact_mut(rows).zip(dout.chunks_exact(rows)) {
                    let total = dy.iter().fold(T::ZERO, |acc, &v| acc + v);
                    for d in dx {
                        *d += total;
                    }
                }
            }
        }
    }
}

/// `dx += dy · f'(x)`, with `f'` written in terms of the input `x` and output `y`.
#[inline(always)]
fn unary<T: Real>(op: Unary, x: &[T], y: &[T], dy: &[T], dx: &mut [T]) {
    match op {
        Unary::Neg => chain(dx, x, y, dy, |_, _| -T::ONE),
        Unary::Exp => chain(dx, x, y, dy, |_, y| y),
        Unary::Log => chain(dx, x, y, dy, |x, _| T::ONE / x),
        Unary::Log1p => chain(dx, x, y, dy, |x, _| T::ONE / (T::ONE + x)),
        Unary::Sqrt => chain(dx, x, y, dy, |_, y| T::HALF / y),
        Unary::Abs => chain(
            dx,
            x,
            y,
            dy,
            |x, _| if x < T::ZERO { -T::ONE } else { T::ONE },
        ),
        Unary::Square => chain(dx, x, y, dy, |x, _| x + x),
        Unary::Tanh => chain(dx, x, y, dy, |_, y| T::ONE - y * y),
        Unary::Sigmoid => chain(dx, x, y, dy, |_, y| y * (T::ONE - y)),
        Unary::Softplus => chain(dx, x, y, dy, |x, _| x.sigmoid()),
        Unary::Relu => chain(
            dx,
            x,
            y,
            dy,
            |x, _| if x > T::ZERO { T::ONE } else { T::ZERO },
        ),
        Unary::Elu => chain(
            dx,
            x,
            y,
            dy,
            |x, y| if x > T::ZERO { T::ONE } else { y + T::ONE },
        ),
    }
}

#[inline(always)]
fn chain<T: Real>(dx: &mut [T], x: &[T], y: &[T], dy: &[T], df: impl Fn(T, T) -> T) {
    for (((g, &x), &y), &d) in dx.iter_mut().zip(x).zip(y).zip(dy) {
        *g += d * df(x, y);
    }
}

#[inline(always)]
fn add_into<T: Real>(dst: &mut [T], src: &[T]) {
    dst.iter_mut().zip(src).for_each(|(g, &d)| *g += d);
}

/// The gradients below a node, handed out one operand at a time.
struct Grads<'p, 'g, T> {
    plan: &'p Plan<'p>,
    id: usize,
    below: &'g mut [T],
}

impl<T: Real> Grads<'_, '_, T> {
    /// The gradient slice of operand `k`, if it takes one.
    fn of(&mut self, k: usize) -> Option<&mut [T]> {
        self.plan.operand_grad(self.id, k, self.below)
    }
}
