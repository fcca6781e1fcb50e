//! Forward kernels: one arm per [`Op`], each writing a node's value from its operands'.
//!
//! A node's operands have smaller ids and therefore smaller arena offsets (parameters
//! sit at the front), so splitting the values arena at the node's offset gives shared
//! access to every operand and exclusive access to the output: no copies, no unsafe.
//! Leaves are never written here. Nothing here allocates except matrixmultiply's packing
//! buffer inside each product.

use super::Plan;
use super::broadcast::Arg;
use super::density;
use super::real::{Layout, Real};
use crate::dist::{Elementwise, Family, categorical, for_elementwise};
use crate::ir::{Binary, Op, Unary};

/// Computes every node's value in topological order. Inlined, with everything below
/// it, into each of [`super::isa`]'s paths.
#[inline(always)]
pub(super) fn forward_all<T: Real>(plan: &Plan<'_>, values: &mut [T]) {
    for id in 0..plan.graph.len() {
        forward_node(plan, id, values);
    }
}

/// Computes node `id`'s value.
#[inline(always)]
fn forward_node<T: Real>(plan: &Plan<'_>, id: usize, values: &mut [T]) {
    let node = &plan.graph.nodes()[id];
    if plan.is_leaf(id) {
        return;
    }
    let (before, rest) = values.split_at_mut(plan.offsets[id]);
    let grid = plan.grid(id);
    let out = &mut rest[..grid.len()];
    let arg = |k: usize| plan.arg(before, node.inputs[k].index());
    match node.op {
        Op::Param(_) | Op::Input(_) | Op::Noise(_) | Op::Const(_) => {}
        Op::MatMul { ta, tb } => {
            let (a, b) = (arg(0), arg(1));
            T::gemm(
                T::ONE,
                a.data,
                layout(&a).t_if(ta),
                b.data,
                layout(&b).t_if(tb),
                T::ZERO,
                out,
                Layout::row_major(grid.rows, grid.cols),
            );
        }
        Op::Unary(u) => unary(u, arg(0).data, out),
        Op::Binary(op) => {
            let args = [arg(0), arg(1)];
            match op {
                Binary::Add => grid.map(out, args, |[a, b]| a + b),
                Binary::Sub => grid.map(out, args, |[a, b]| a - b),
                Binary::Mul => grid.map(out, args, |[a, b]| a * b),
                Binary::Div => grid.map(out, args, |[a, b]| a / b),
            }
        }
        Op::SumCols => {
            let x = arg(0);
            for (o, row) in out.iter_mut().zip(x.data.chunks_exact(x.cols)) {
                *o = row.iter().copied().sum();
            }
        }
        Op::SumRows => {
            let x = arg(0);
            out.fill(T::ZERO);
            for row in x.data.chunks_exact(x.cols) {
                for (o, &v) in out.iter_mut().zip(row) {
                    *o += v;
                }
            }
        }
        Op::SliceCols { start, end } => {
            let x = arg(0);
            for (o, row) in out
                .chunks_exact_mut(grid.cols)
                .zip(x.data.chunks_exact(x.cols))
            {
                o.copy_from_slice(&row[start..end]);
            }
        }
        Op::ConcatCols => {
            let mut start = 0;
            for k in 0..node.inputs.len() {
                let part = arg(k);
                for (o, row) in out
                    .chunks_exact_mut(grid.cols)
                    .zip(part.data.chunks_exact(part.cols))
                {
                    o[start..start + part.cols].copy_from_slice(row);
                }
                start += part.cols;
            }
        }
        Op::GatherRows => {
            let (table, index) = (arg(0), arg(1));
            for (o, &i) in out.chunks_exact_mut(grid.cols).zip(index.data) {
                let r = density::class_index(i, table.rows);
                o.copy_from_slice(&table.data[r * table.cols..(r + 1) * table.cols]);
            }
        }
        Op::SelectBlock { width } => {
            let (x, index) = (arg(0), arg(1));
            let blocks = x.cols / width;
            for (i, o) in out.chunks_exact_mut(width).enumerate() {
                let k = density::class_index(index.data[row_of(&index, i)], blocks);
                o.copy_from_slice(&row(&x, i)[k * width..(k + 1) * width]);
            }
        }
        Op::MatVec { rows, cols } => {
            let (w, v) = (arg(0), arg(1));
            for (i, o) in out.chunks_exact_mut(rows).enumerate() {
                let (w, v) = (row(&w, i), row(&v, i));
                for (o, w) in o.iter_mut().zip(w.chunks_exact(cols)) {
                    *o = w.iter().zip(v).map(|(&a, &b)| a * b).sum();
                }
            }
        }
        Op::OneHot { classes } => {
            out.fill(T::ZERO);
            for (o, &i) in out.chunks_exact_mut(classes).zip(arg(0).data) {
                o[density::class_index(i, classes)] = T::ONE;
            }
        }
        Op::LogSumExp => {
            let x = arg(0);
            for (o, row) in out.iter_mut().zip(x.data.chunks_exact(x.cols)) {
                *o = categorical::log_sum_exp(row);
            }
        }
        Op::Softmax => {
            let x = arg(0);
            for (o, row) in out
                .chunks_exact_mut(grid.cols)
                .zip(x.data.chunks_exact(x.cols))
            {
                let lse = categorical::log_sum_exp(row);
                for (o, &v) in o.iter_mut().zip(row) {
                    *o = (v - lse).exp();
                }
            }
        }
        Op::LogDensity(Family::Categorical) => {
            let (value, logits) = (arg(0), arg(1));
            for (i, o) in out.iter_mut().enumerate() {
                let class = density::class_index(value.data[row_of(&value, i)], logits.cols);
                *o = categorical::log_prob(row(&logits, i), class);
            }
        }
        Op::LogDensity(family) => {
            let pad = [T::ONE];
            let args = padded(plan, before, &node.inputs, &pad);
            for_elementwise!(family, F => grid.map(out, args, F::log_density));
        }
        Op::KlNormal => grid.map(out, [arg(0), arg(1), arg(2), arg(3)], density::kl_normal),
        Op::StopGradient => out.copy_from_slice(arg(0).data),
        Op::GroupLogMeanExp { groups } => group_log_mean_exp(arg(0).data, groups, out),
        Op::BlockSum { blocks } => block_sum(arg(0).data, blocks, out),
    }
}

/// Each row's log-mean-exp over its `groups` sample-major samples, written to every
/// sample; the maximum is subtracted first so that no weight overflows.
fn group_log_mean_exp<T: Real>(x: &[T], groups: usize, out: &mut [T]) {
    let rows = group_rows(x.len(), groups);
    let log_k = T::from_f64((groups as f64).ln());
    for i in 0..rows {
        let samples = (0..groups).map(|s| x[s * rows + i]);
        let max = samples.clone().fold(T::from_f64(f64::NEG_INFINITY), T::max);
        let value = if max.is_finite() {
            let sum = samples.fold(T::ZERO, |acc, v| acc + (v - max).exp());
            max + sum.ln() - log_k
        } else {
            max
        };
        for s in 0..groups {
            out[s * rows + i] = value;
        }
    }
}

fn block_sum<T: Real>(x: &[T], blocks: usize, out: &mut [T]) {
    let rows = group_rows(x.len(), blocks);
    for (block, sums) in x.chunks_exact(rows).zip(out.chunks_exact_mut(rows)) {
        let total = block.iter().fold(T::ZERO, |acc, &v| acc + v);
        sums.fill(total);
    }
}

/// The rows per sample block of a `len`-row column split into `groups` blocks.
pub(super) fn group_rows(len: usize, groups: usize) -> usize {
    assert!(
        len.is_multiple_of(groups),
        "internal: {len} rows are not {groups} equal sample blocks"
    );
    len / groups
}

/// `out = f(x)` elementwise: a flat loop the compiler vectorizes where `f` allows.
#[inline(always)]
fn unary<T: Real>(op: Unary, x: &[T], out: &mut [T]) {
    match op {
        Unary::Neg => map1(out, x, |x| -x),
        Unary::Exp => map1(out, x, T::exp),
        Unary::Log => map1(out, x, T::ln),
        Unary::Log1p => map1(out, x, T::ln_1p),
        Unary::Sqrt => map1(out, x, T::sqrt),
        Unary::Abs => map1(out, x, T::abs),
        Unary::Square => map1(out, x, |x| x * x),
        Unary::Tanh => map1(out, x, T::tanh),
        Unary::Sigmoid => map1(out, x, T::sigmoid),
        Unary::Softplus => map1(out, x, T::softplus),
        Unary::Relu => map1(out, x, |x| x.max(T::ZERO)),
        Unary::Elu => map1(out, x, |x| if x > T::ZERO { x } else { x.exp() - T::ONE }),
    }
}

#[inline(always)]
fn map1<T: Real>(out: &mut [T], x: &[T], f: impl Fn(T) -> T) {
    for (o, &v) in out.iter_mut().zip(x) {
        *o = f(v);
    }
}

/// The row-major layout of a value.
pub(super) fn layout<T>(a: &Arg<'_, T>) -> Layout {
    Layout::row_major(a.rows, a.cols)
}

/// Which row of `a` output row `i` reads (row 0 when `a` is broadcast along rows).
pub(super) fn row_of<T>(a: &Arg<'_, T>, i: usize) -> usize {
    if a.rows == 1 { 0 } else { i }
}

/// The row of `a` that output row `i` reads.
pub(super) fn row<'a, T>(a: &Arg<'a, T>, i: usize) -> &'a [T] {
    let r = row_of(a, i);
    &a.data[r * a.cols..(r + 1) * a.cols]
}

/// A log density's operands `[value, p0, p1, p2]`, absent parameters as a broadcast
/// scalar that no formula reads.
pub(super) fn padded<'a, T: Real>(
    plan: &Plan<'_>,
    arena: &'a [T],
    inputs: &[crate::ir::NodeId],
    pad: &'a [T; 1],
) -> [Arg<'a, T>; 4] {
    std::array::from_fn(|k| match inputs.get(k) {
        Some(id) => plan.arg(arena, id.index()),
        None => Arg {
            data: pad,
            rows: 1,
            cols: 1,
        },
    })
}
