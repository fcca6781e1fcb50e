//! Every operation's vector-Jacobian product against central finite differences in
//! `f64`, over random small shapes, broadcast patterns and values in each op's domain.
//! Each graph computes `sum(op(..) * w)` with random non-differentiable weights `w`, so
//! a VJP that is right only for an all-ones output gradient still fails.

use proptest::prelude::*;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use vic::autodiff::{Executor, Tolerance, check_gradients};
use vic::dist::{Domain, Family};
use vic::ir::{Binary, Graph, InputId, NodeId, Op, Rows, Shape, Unary};

/// Where a leaf's values are drawn from.
#[derive(Debug, Clone, Copy)]
enum Dom {
    /// Uniform in the interval.
    Range(f64, f64),
    /// Magnitude in the interval, random sign: away from kinks at 0.
    Away(f64, f64),
    /// A whole number in `0..n`.
    Whole(u32),
    /// A whole number in `lo..hi`.
    WholeIn(u32, u32),
}

const REAL: Dom = Dom::Range(-2.0, 2.0);
const POS: Dom = Dom::Range(0.3, 3.0);
const UNIT: Dom = Dom::Range(0.05, 0.95);

impl Dom {
    fn draw(self, rng: &mut StdRng) -> f64 {
        match self {
            Dom::Range(lo, hi) => rng.random_range(lo..hi),
            Dom::Away(lo, hi) => {
                let m = rng.random_range(lo..hi);
                if rng.random::<bool>() { m } else { -m }
            }
            Dom::Whole(n) => f64::from(rng.random_range(0..n)),
            Dom::WholeIn(lo, hi) => f64::from(rng.random_range(lo..hi)),
        }
    }
}

/// A graph under test: the op's node and the leaves to fill.
struct Case {
    graph: Graph,
    leaves: Vec<(NodeId, Dom)>,
}

impl Case {
    fn new() -> Case {
        Case {
            graph: Graph::new(),
            leaves: Vec::new(),
        }
    }

    /// A leaf of the given shape: a parameter (fixed rows) or differentiable input
    /// (batch rows) when `diff`, otherwise a plain input.
    fn leaf(&mut self, shape: Shape, diff: bool, dom: Dom) -> NodeId {
        let name = format!("x{}", self.leaves.len());
        let id = match (diff, shape.rows) {
            (true, Rows::Fixed(r)) => {
                self.graph
                    .param(name, r, shape.cols, vic::ir::Init::Const(0.0))
            }
            _ => self.graph.input(name, shape, diff),
        };
        self.leaves.push((id, dom));
        id
    }

    /// An operand that broadcasts: full or 1 along each axis.
    fn operand(
        &mut self,
        p: Pattern,
        full_rows: bool,
        full_cols: bool,
        diff: bool,
        dom: Dom,
    ) -> NodeId {
        let rows = match (full_rows, p.batch) {
            (false, _) => Rows::Fixed(1),
            (true, true) => Rows::Batch,
            (true, false) => Rows::Fixed(p.rows),
        };
        let cols = if full_cols { p.cols } else { 1 };
        self.leaf(Shape { rows, cols }, diff, dom)
    }

    /// Weights the op's output by random constants and checks every gradient.
    fn check(mut self, op: NodeId, rows: usize, seed: u64) -> Result<(), TestCaseError> {
        let shape = self.graph.shape(op);
        let w = self.graph.input("w", shape, false);
        self.leaves.push((w, REAL));
        let out = self.graph.mul(op, w);
        let mut exec = Executor::<f64>::new(self.graph, rows);
        let mut rng = StdRng::seed_from_u64(seed);
        for &(node, dom) in &self.leaves {
            let slot = match exec.graph().node(node).op {
                Op::Param(p) => {
                    let range = exec.param_range(p);
                    &mut exec.params_mut()[range]
                }
                Op::Input(i) => exec.input_mut(i),
                other => unreachable!("leaf {other:?}"),
            };
            for v in slot {
                *v = dom.draw(&mut rng);
            }
        }
        let tol = Tolerance {
            abs: 1e-7,
            ..Tolerance::default()
        };
        check_gradients(&mut exec, out, tol).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert!(exec.first_non_finite().is_none());
        Ok(())
    }
}

/// The output shape of a broadcasting op: batch or fixed rows, and sizes.
#[derive(Debug, Clone, Copy)]
struct Pattern {
    batch: bool,
    rows: usize,
    cols: usize,
}

fn pattern() -> impl Strategy<Value = Pattern> {
    (any::<bool>(), 1..4usize, 1..4usize).prop_map(|(batch, rows, cols)| Pattern {
        batch,
        rows,
        cols,
    })
}

/// A pattern wider than the elementwise kernels' 256-column runs, so that rows split
/// into several runs and broadcast values are splatted more than once.
fn wide_pattern() -> impl Strategy<Value = Pattern> {
    (any::<bool>(), 1..3usize, 250..262usize).prop_map(|(batch, rows, cols)| Pattern {
        batch,
        rows,
        cols,
    })
}

const UNARIES: [Unary; 12] = [
    Unary::Neg,
    Unary::Exp,
    Unary::Log,
    Unary::Log1p,
    Unary::Sqrt,
    Unary::Abs,
    Unary::Square,
    Unary::Tanh,
    Unary::Sigmoid,
    Unary::Softplus,
    Unary::Relu,
    Unary::Elu,
];

fn unary_domain(op: Unary) -> Dom {
    match op {
        Unary::Log | Unary::Sqrt => POS,
        Unary::Log1p => Dom::Range(-0.5, 3.0),
        Unary::Abs | Unary::Relu | Unary::Elu => Dom::Away(1e-2, 2.0),
        Unary::Softplus | Unary::Sigmoid | Unary::Tanh => Dom::Range(-4.0, 4.0),
        _ => REAL,
    }
}

/// The domains of a family's value and parameters, in canonical order.
fn family_domains(family: Family) -> Vec<Dom> {
    let bool_ = Dom::Whole(2);
    let count = Dom::Whole(8);
    match family {
        Family::Normal => vec![REAL, REAL, POS],
        Family::BernoulliProbs => vec![bool_, UNIT],
        Family::BernoulliLogits => vec![bool_, REAL],
        Family::HalfNormal | Family::HalfCauchy | Family::Exponential => vec![POS, POS],
        Family::LogNormal => vec![POS, REAL, POS],
        Family::Gamma => vec![POS, Dom::Range(0.5, 3.0), POS],
        Family::Beta => vec![UNIT, POS, POS],
        Family::StudentT => vec![REAL, Dom::Range(0.5, 5.0), REAL, POS],
        Family::Laplace => vec![REAL, REAL, POS],
        Family::PoissonRate => vec![count, POS],
        Family::PoissonLogRate => vec![count, REAL],
        // Counts below 8 out of totals from 8 up, so that k <= n always.
        Family::BinomialProbs => vec![count, Dom::WholeIn(8, 20), UNIT],
        Family::BinomialLogits => vec![count, Dom::WholeIn(8, 20), REAL],
        Family::NegativeBinomial => vec![count, POS, POS],
        Family::Categorical => unreachable!("categorical has its own test"),
    }
}

/// One binary op on two operands, each broadcast along the axes `shape` marks as full.
fn check_binary(op: usize, p: Pattern, shape: [bool; 4], seed: u64) -> Result<(), TestCaseError> {
    let op = [Binary::Add, Binary::Sub, Binary::Mul, Binary::Div][op];
    let mut c = Case::new();
    let a = c.operand(p, shape[0], shape[1], true, REAL);
    let b_dom = if op == Binary::Div {
        Dom::Away(0.5, 2.0)
    } else {
        REAL
    };
    let b = c.operand(p, shape[2], shape[3], true, b_dom);
    let y = c.graph.binary(op, a, b);
    c.check(y, p.rows, seed)
}

fn config() -> ProptestConfig {
    ProptestConfig::with_cases(32)
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn unary_ops(op in 0..UNARIES.len(), p in pattern(), seed in any::<u64>()) {
        let op = UNARIES[op];
        let mut c = Case::new();
        let x = c.operand(p, true, true, true, unary_domain(op));
        let y = c.graph.unary(op, x);
        c.check(y, p.rows, seed)?;
    }

    #[test]
    fn binary_ops_broadcast(
        op in 0..4usize,
        p in pattern(),
        shape in any::<[bool; 4]>(),
        seed in any::<u64>(),
    ) {
        check_binary(op, p, shape, seed)?;
    }

    #[test]
    fn binary_ops_broadcast_across_runs(
        op in 0..4usize,
        p in wide_pattern(),
        shape in any::<[bool; 4]>(),
        seed in any::<u64>(),
    ) {
        check_binary(op, p, shape, seed)?;
    }

    #[test]
    fn binary_op_with_itself(op in 0..4usize, p in pattern(), seed in any::<u64>()) {
        let op = [Binary::Add, Binary::Sub, Binary::Mul, Binary::Div][op];
        let mut c = Case::new();
        let a = c.operand(p, true, true, true, Dom::Away(0.5, 2.0));
        let y = c.graph.binary(op, a, a);
        c.check(y, p.rows, seed)?;
    }

    #[test]
    fn matmul_all_transposes(
        ta in any::<bool>(),
        tb in any::<bool>(),
        batch_a in any::<bool>(),
        a_diff in any::<bool>(),
        (m, k, n) in (1..12usize, 1..12usize, 1..12usize),
        seed in any::<u64>(),
    ) {
        let mut c = Case::new();
        // Only a fixed-row operand can be transposed.
        let batch_a = batch_a && !ta;
        let a_shape = match (batch_a, ta) {
            (true, _) => Shape::batch(k),
            (false, false) => Shape::fixed(m, k),
            (false, true) => Shape::fixed(k, m),
        };
        let b_shape = if tb { Shape::fixed(n, k) } else { Shape::fixed(k, n) };
        let a = c.leaf(a_shape, a_diff, REAL);
        let b = c.leaf(b_shape, true, REAL);
        let y = c.graph.matmul_t(a, b, ta, tb);
        c.check(y, m, seed)?;
    }

    #[test]
    fn reductions_slices_and_concats(
        op in 0..4usize,
        p in pattern(),
        (start, len) in (0..3usize, 1..3usize),
        seed in any::<u64>(),
    ) {
        let mut c = Case::new();
        let x = c.operand(p, true, true, true, REAL);
        let y = match op {
            0 => c.graph.sum_cols(x),
            1 => c.graph.sum_rows(x),
            2 => {
                let start = start.min(p.cols - 1);
                let end = (start + len).min(p.cols);
                // A full-width slice is the operand itself; widen it so an op exists.
                let x = c.graph.concat_cols(&[x, x]);
                c.graph.slice_cols(x, start, end + p.cols.min(1))
            }
            _ => {
                let z = c.operand(p, true, false, true, REAL);
                c.graph.concat_cols(&[x, z, x])
            }
        };
        c.check(y, p.rows, seed)?;
    }

    #[test]
    fn gather_rows_scatters_into_the_table(
        table_rows in 1..5usize,
        cols in 1..4usize,
        rows in 1..6usize,
        seed in any::<u64>(),
    ) {
        let mut c = Case::new();
        let table = c.leaf(Shape::fixed(table_rows, cols), true, REAL);
        let index = c.leaf(Shape::batch(1), false, Dom::Whole(table_rows as u32));
        let y = c.graph.gather_rows(table, index);
        c.check(y, rows, seed)?;
    }

    /// Row-wise logsumexp and softmax, with logits large enough that an unshifted
    /// exponential would overflow `f64` only if the shift were missing in the VJP too.
    #[test]
    fn logsumexp_and_softmax_of_each_row(
        softmax in any::<bool>(),
        p in pattern(),
        seed in any::<u64>(),
    ) {
        let mut c = Case::new();
        let x = c.operand(p, true, true, true, Dom::Range(-4.0, 4.0));
        let y = if softmax { c.graph.softmax(x) } else { c.graph.logsumexp(x) };
        c.check(y, p.rows, seed)?;
    }

    /// A softmax feeding a one-hot selection: the gradient reaches the logits through
    /// the product, never the class index.
    #[test]
    fn one_hot_selects_without_a_gradient_to_the_index(
        classes in 1..5usize,
        rows in 1..5usize,
        seed in any::<u64>(),
    ) {
        let mut c = Case::new();
        let index = c.leaf(Shape::batch(1), false, Dom::Whole(classes as u32));
        let logits = c.leaf(Shape::batch(classes), true, REAL);
        let hot = c.graph.one_hot(index, classes);
        let probs = c.graph.softmax(logits);
        let picked = c.graph.mul(hot, probs);
        let y = c.graph.sum_cols(picked);
        c.check(y, rows, seed)?;
    }

    /// A block selected per row, from a shared row or one row per batch row, by a
    /// shared or per-row index.
    #[test]
    fn select_block_scatters_into_its_block(
        blocks in 1..4usize,
        width in 1..4usize,
        shared in any::<[bool; 2]>(),
        rows in 1..5usize,
        seed in any::<u64>(),
    ) {
        let mut c = Case::new();
        let shape = |shared: bool, cols| if shared { Shape::fixed(1, cols) } else { Shape::batch(cols) };
        let x = c.leaf(shape(shared[0], blocks * width), true, REAL);
        let index = c.leaf(shape(shared[1], 1), false, Dom::Whole(blocks as u32));
        let y = c.graph.select_block(x, index, width);
        c.check(y, rows, seed)?;
    }

    /// `W v` with the matrix and the vector each shared or per row.
    #[test]
    fn matvec_into_both_operands(
        m in 1..4usize,
        n in 1..4usize,
        shared in any::<[bool; 2]>(),
        rows in 1..5usize,
        seed in any::<u64>(),
    ) {
        let mut c = Case::new();
        let shape = |shared: bool, cols| if shared { Shape::fixed(1, cols) } else { Shape::batch(cols) };
        let w = c.leaf(shape(shared[0], m * n), true, REAL);
        let v = c.leaf(shape(shared[1], n), true, REAL);
        let y = c.graph.matvec(w, v, m, n);
        c.check(y, rows, seed)?;
    }

    #[test]
    fn kl_normal_in_all_four(p in pattern(), shape in any::<[bool; 8]>(), seed in any::<u64>()) {
        let mut c = Case::new();
        let doms = [REAL, POS, REAL, POS];
        let ops: Vec<NodeId> = (0..4)
            .map(|k| c.operand(p, shape[2 * k], shape[2 * k + 1], true, doms[k]))
            .collect();
        let y = c.graph.kl_normal(ops[0], ops[1], ops[2], ops[3]);
        c.check(y, p.rows, seed)?;
    }

    #[test]
    fn log_density_of_every_family(
        family in 0..Family::ALL.len() - 1,
        p in pattern(),
        shape in any::<[bool; 8]>(),
        seed in any::<u64>(),
    ) {
        let family = Family::ALL[family];
        prop_assume!(family != Family::Categorical);
        let doms = family_domains(family);
        let continuous = family.support().is_continuous();
        let mut c = Case::new();
        let ops: Vec<NodeId> = doms
            .iter()
            .enumerate()
            .map(|(k, &dom)| {
                // A `Count` parameter is data, like a discrete value.
                let diff = if k == 0 {
                    continuous
                } else {
                    family.param_domain(k - 1) != Domain::Count
                };
                c.operand(p, shape[2 * k], shape[2 * k + 1], diff, dom)
            })
            .collect();
        let y = c.graph.log_density(family, ops[0], &ops[1..]);
        c.check(y, p.rows, seed)?;
    }

    #[test]
    fn categorical_log_density(
        p in pattern(),
        classes in 1..5usize,
        full in any::<[bool; 2]>(),
        seed in any::<u64>(),
    ) {
        let mut c = Case::new();
        let value = c.operand(p, full[0], false, false, Dom::Whole(classes as u32));
        let logits = c.operand(Pattern { cols: classes, ..p }, full[1], true, true, REAL);
        let y = c.graph.log_density(Family::Categorical, value, &[logits]);
        c.check(y, p.rows, seed)?;
    }

    /// Weights far apart (±40) check that the maximum is subtracted before `exp`.
    #[test]
    fn group_log_mean_exp_over_samples(
        groups in 1..6usize,
        rows in 1..4usize,
        wide in any::<bool>(),
        seed in any::<u64>(),
    ) {
        let mut c = Case::new();
        let dom = if wide { Dom::Range(-40.0, 40.0) } else { REAL };
        let x = c.leaf(Shape::batch(1), true, dom);
        let y = c.graph.group_log_mean_exp(x, groups);
        c.check(y, rows * groups, seed)?;
    }

    #[test]
    fn block_sum_over_sample_blocks(
        blocks in 1..6usize,
        rows in 1..4usize,
        seed in any::<u64>(),
    ) {
        let mut c = Case::new();
        let x = c.leaf(Shape::batch(1), true, REAL);
        let y = c.graph.block_sum(x, blocks);
        c.check(y, rows * blocks, seed)?;
    }
}

/// The block sum's value: each row holds its sample block's total.
#[test]
fn block_sum_values() {
    let mut g = Graph::new();
    let x = g.input("x", Shape::batch(1), false);
    let y = g.block_sum(x, 3);
    let mut exec = Executor::<f32>::new(g, 6);
    exec.set_rows(6);
    exec.input_mut(vic::ir::InputId(0))
        .copy_from_slice(&[1.0, 2.0, -4.0, 0.5, 10.0, 20.0]);
    exec.forward();
    assert_eq!(exec.value(y), &[3.0, 3.0, -3.5, -3.5, 30.0, 30.0]);
}

/// The group log-mean-exp's value against a direct f64 computation, at weights where a
/// naive `exp` overflows.
#[test]
fn group_log_mean_exp_values() {
    let mut g = Graph::new();
    let x = g.input("x", Shape::batch(1), false);
    let y = g.group_log_mean_exp(x, 3);
    let mut exec = Executor::<f32>::new(g, 6);
    exec.set_rows(6);
    let xs = [1000.0f32, -1.0, 1000.0, 2.0, 5.0, 0.0];
    exec.input_mut(vic::ir::InputId(0)).copy_from_slice(&xs);
    exec.forward();
    for (i, row) in [[1000.0f64, 1000.0, 5.0], [-1.0, 2.0, 0.0]]
        .iter()
        .enumerate()
    {
        let m = row.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let want = m + (row.iter().map(|v| (v - m).exp()).sum::<f64>() / 3.0).ln();
        for s in 0..3 {
            let got = f64::from(exec.value(y)[s * 2 + i]);
            assert!(
                (got - want).abs() < 1e-3,
                "row {i} sample {s}: {got} vs {want}"
            );
        }
    }
}

/// `stop_gradient` keeps the value and passes no gradient: d/dx Σ w·stop(x)·x = w·x,
/// not 2·w·x.
#[test]
fn stop_gradient_passes_no_gradient() {
    let mut g = Graph::new();
    let x = g.input("x", Shape::batch(2), true);
    let w = g.input("w", Shape::batch(2), false);
    let stopped = g.stop_gradient(x);
    let prod = g.mul(stopped, x);
    let weighted = g.mul(prod, w);
    let cols = g.sum_cols(weighted);
    let out = g.sum_rows(cols);
    let mut exec = Executor::<f64>::new(g, 3);
    exec.set_rows(3);
    let xs = [0.5, -1.5, 2.0, 0.25, -0.75, 1.0];
    let ws = [1.0, 2.0, -1.0, 0.5, 3.0, -2.0];
    exec.input_mut(vic::ir::InputId(0)).copy_from_slice(&xs);
    exec.input_mut(vic::ir::InputId(1)).copy_from_slice(&ws);
    exec.forward();
    let value: f64 = xs.iter().zip(&ws).map(|(x, w)| w * x * x).sum();
    assert!((exec.value(out)[0] - value).abs() < 1e-12);
    exec.backward(out);
    for (k, (&gx, (x, w))) in exec.grad(x).iter().zip(xs.iter().zip(&ws)).enumerate() {
        assert!((gx - w * x).abs() < 1e-12, "element {k}: {gx} vs {}", w * x);
    }
}

/// The forward values against their definitions, including logits whose exponentials
/// overflow `f32`.
#[test]
fn one_hot_logsumexp_and_softmax_values() {
    let mut g = Graph::new();
    let index = g.input("i", Shape::batch(1), false);
    let x = g.input("x", Shape::batch(3), false);
    let hot = g.one_hot(index, 3);
    let lse = g.logsumexp(x);
    let soft = g.softmax(x);
    let mut exec = Executor::<f32>::new(g, 2);
    let (i, xi) = (InputId(0), InputId(1));
    exec.input_mut(i).copy_from_slice(&[2.0, 0.0]);
    exec.input_mut(xi)
        .copy_from_slice(&[0.0, 1.0, 2.0, 1000.0, 1000.0, -1000.0]);
    exec.forward();
    assert_eq!(exec.value(hot), [0.0, 0.0, 1.0, 1.0, 0.0, 0.0]);
    let expect = (1.0f64 + 1f64.exp() + 2f64.exp()).ln();
    let got = exec.value(lse);
    assert!((f64::from(got[0]) - expect).abs() < 1e-6, "{got:?}");
    assert!(
        (f64::from(got[1]) - (1000.0 + 2f64.ln())).abs() < 1e-3,
        "{got:?}"
    );
    let s = exec.value(soft);
    let e: Vec<f64> = (0..3).map(|k| (k as f64 - expect).exp()).collect();
    for k in 0..3 {
        assert!((f64::from(s[k]) - e[k]).abs() < 1e-6, "{s:?}");
    }
    // f32 uses the executor's fast `exp`, good to a few parts in 1e5.
    for (got, want) in s[3..].iter().zip([0.5, 0.5, 0.0]) {
        assert!((got - want).abs() < 1e-4, "{s:?}");
    }
}

/// `W v` and a selected row against the arithmetic done by hand.
#[test]
fn matvec_and_select_block_values() {
    let mut g = Graph::new();
    let w = g.input("w", Shape::fixed(1, 6), false);
    let v = g.input("v", Shape::batch(2), false);
    let i = g.input("i", Shape::batch(1), false);
    let wv = g.matvec(w, v, 3, 2);
    let row = g.select_block(w, i, 2);
    let mut exec = Executor::<f64>::new(g, 2);
    exec.input_mut(InputId(0))
        .copy_from_slice(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
    exec.input_mut(InputId(1))
        .copy_from_slice(&[1.0, -1.0, 0.5, 2.0]);
    exec.input_mut(InputId(2)).copy_from_slice(&[2.0, 0.0]);
    exec.forward();
    assert_eq!(exec.value(wv), [-1.0, -1.0, -1.0, 4.5, 9.5, 14.5]);
    assert_eq!(exec.value(row), [5.0, 6.0, 1.0, 2.0]);
}

#[test]
fn family_list_ends_with_categorical() {
    assert_eq!(Family::ALL[Family::ALL.len() - 1], Family::Categorical);
}
