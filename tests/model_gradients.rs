//! Whole-model gradient checks in `f64`: every example's log joint and ELBO graph, the
//! guide variants (flows, full-rank globals, analytic KL, constrained latents) against
//! central finite differences, and the flows' log-determinants against a numerically
//! computed Jacobian.

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use rand_distr::{Distribution, StandardNormal};
use vic::autodiff::{Executor, Tolerance, check_gradients};
use vic::check::{FlowSpec, GlobalsMode, SymbolKind};
use vic::dist::Elem;
use vic::guide::flow::{self, FlowKind, FlowPlan};
use vic::ir::{Graph, NodeId, Shape};
use vic::lower;
use vic::objective::{self, ElboOptions, KlMode};
use vic::source::{self, Loaded};

/// Rows in every checked batch: more than one, so per-row broadcasting is exercised.
const ROWS: usize = 3;
/// Training rows the free locals' tables are sized for.
const TRAIN_ROWS: usize = 5;

/// Central differences in f64 on whole models: the objective sums a few hundred terms,
/// so the rounding error of a difference quotient is about 1e-10 of its magnitude.
const TOL: Tolerance = Tolerance {
    step: 1e-6,
    rel: 1e-5,
    abs: 1e-6,
};

fn example(name: &str) -> Loaded {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples")
        .join(name);
    source::load(&path).unwrap()
}

fn inline(text: &str) -> Loaded {
    source::analyze("inline.vi", text.to_string()).unwrap()
}

const EXAMPLES: [&str; 4] = ["vae.vi", "logistic.vi", "eight_schools.vi", "dlgm.vi"];

/// A model with a `positive` and a `unit` latent (local and global), a `param`, and
/// likelihoods over several families, so every support transform and its
/// log-Jacobian is on the path of the gradient.
const CONSTRAINED: &str = "
data   y: real
data   k: int
data   v: positive
global s: positive ~ HalfNormal(1)
global g: unit ~ Beta(2, 3)
latent p: unit ~ Beta(2, 2)
latent r: positive ~ Gamma(2, 1)
latent u: real ~ Normal(0, 1)
param  nu: positive = 4
y ~ StudentT(nu, p + u * g, s)
k ~ Poisson(r)
v ~ LogNormal(u, s)
";

/// A value in the support of `elem`.
fn draw(elem: Elem, rng: &mut StdRng) -> f64 {
    match elem {
        Elem::Real => rng.random_range(-1.5..1.5),
        Elem::Bool => f64::from(rng.random_range(0..2u8)),
        Elem::Int => f64::from(rng.random_range(0..5u8)),
        Elem::Positive => rng.random_range(0.3..2.5),
        Elem::Unit => rng.random_range(0.1..0.9),
    }
}

/// Fills every input named after a symbol with values in that symbol's support.
fn fill_symbols(exec: &mut Executor<f64>, loaded: &Loaded, rng: &mut StdRng) {
    for symbol in &loaded.info.symbols {
        if let Some(id) = exec.graph().input_by_name(&symbol.name) {
            for x in exec.input_mut(id) {
                *x = draw(symbol.elem, rng);
            }
        }
    }
}

/// Checks `output`'s gradient and says how many elements were compared.
fn check(mut exec: Executor<f64>, output: NodeId, what: &str) -> usize {
    exec.forward();
    let value: f64 = exec.value(output).iter().sum();
    assert!(value.is_finite(), "{what}: the output is {value}");
    match check_gradients(&mut exec, output, TOL) {
        Ok(n) => n,
        Err(e) => panic!("{what}: {e}"),
    }
}

/// The log joint with every latent and global a differentiable input.
fn check_log_joint(loaded: &Loaded, what: &str) -> usize {
    let (graph, _, total) = lower::log_joint_graph(&loaded.model, &loaded.info);
    let mut rng = StdRng::seed_from_u64(7);
    let mut exec = Executor::<f64>::new(graph, ROWS);
    exec.init_params(&mut rng);
    fill_symbols(&mut exec, loaded, &mut rng);
    check(exec, total, what)
}

/// The whole ELBO objective of `loaded` with the given guide.
fn check_elbo(loaded: &Loaded, options: &ElboOptions, what: &str) -> usize {
    let elbo = objective::build(&loaded.model, &loaded.info, options).unwrap();
    let mut rng = StdRng::seed_from_u64(11);
    let graph = elbo.graph.clone();
    let mut exec = Executor::<f64>::new(graph.clone(), ROWS);
    exec.init_params(&mut rng);
    // Move every parameter off its initial constant, so softplus scales, flow steps
    // and Cholesky factors are checked away from their special starting points.
    for p in exec.params_mut() {
        *p += rng.random_range(-0.2..0.2);
    }
    fill_symbols(&mut exec, loaded, &mut rng);
    let inputs = &elbo.inputs;
    if let Some(row) = inputs.row_index {
        for (i, x) in exec.input_mut(row.id).iter_mut().enumerate() {
            *x = ((i * 2) % TRAIN_ROWS) as f64;
        }
    }
    exec.input_mut(inputs.scale.local.id)[0] = TRAIN_ROWS as f64 / ROWS as f64;
    exec.input_mut(inputs.scale.global.id)[0] = 1.0 / ROWS as f64;
    for n in 0..graph.noises().len() {
        for x in exec.noise_mut(vic::ir::NoiseId(n as u32)) {
            *x = StandardNormal.sample(&mut rng);
        }
    }
    check(exec, elbo.objective, what)
}

fn default_options(loaded: &Loaded) -> ElboOptions {
    objective::options_for(&loaded.info, TRAIN_ROWS)
}

/// Every example's log joint: gradients wrt net weights, params, latents and globals.
#[test]
fn log_joint_of_every_example() {
    for name in EXAMPLES {
        let loaded = example(name);
        let n = check_log_joint(&loaded, name);
        assert!(n > 0, "{name}: nothing was checked");
    }
    check_log_joint(&inline(CONSTRAINED), "constrained model");
}

/// Every example's ELBO with the guide its file asks for (amortized encoder, free
/// locals, mean-field globals).
#[test]
fn elbo_of_every_example() {
    for name in EXAMPLES {
        let loaded = example(name);
        check_elbo(&loaded, &default_options(&loaded), name);
    }
}

/// The VAE's ELBO through planar and radial flows on the amortized sample.
#[test]
fn elbo_through_flows() {
    let loaded = example("vae.vi");
    for flow in [
        FlowSpec::Planar {
            steps: 2,
            amortized: false,
        },
        FlowSpec::Radial {
            steps: 2,
            amortized: false,
        },
    ] {
        let mut options = default_options(&loaded);
        options.spec.flow = flow;
        check_elbo(&loaded, &options, &format!("vae with {flow:?}"));
    }
}

/// Full-rank globals (a Cholesky factor) on the logistic regression, alone and with a
/// flow after them.
#[test]
fn elbo_with_full_rank_globals() {
    let loaded = example("logistic.vi");
    let mut options = default_options(&loaded);
    options.spec.globals = GlobalsMode::Full;
    check_elbo(&loaded, &options, "logistic, full rank");
    options.spec.flow = FlowSpec::Planar {
        steps: 2,
        amortized: false,
    };
    check_elbo(&loaded, &options, "logistic, full rank + planar");
}

/// The closed-form Gaussian KL in place of the sampled one, on locals and globals.
#[test]
fn elbo_with_analytic_kl() {
    for name in ["vae.vi", "logistic.vi", "eight_schools.vi"] {
        let loaded = example(name);
        let mut options = default_options(&loaded);
        options.kl = KlMode::Analytic;
        check_elbo(&loaded, &options, &format!("{name}, analytic KL"));
    }
}

/// Positive and unit latents, local and global: the exp and sigmoid transforms and
/// their log-Jacobians, plain and after a flow.
#[test]
fn elbo_with_constrained_latents() {
    let loaded = inline(CONSTRAINED);
    check_elbo(&loaded, &default_options(&loaded), "constrained model");
    let mut options = default_options(&loaded);
    options.spec.flow = FlowSpec::Radial {
        steps: 2,
        amortized: false,
    };
    options.spec.global_flow = FlowSpec::Planar {
        steps: 1,
        amortized: false,
    };
    check_elbo(&loaded, &options, "constrained model with flows");
    let mut options = default_options(&loaded);
    options.spec.globals = GlobalsMode::Full;
    check_elbo(&loaded, &options, "constrained model, full-rank globals");
}

/// The log |det| of a d x d matrix (row-major) by LU with partial pivoting.
fn log_abs_det(mut a: Vec<f64>, d: usize) -> f64 {
    let mut log_det = 0.0;
    for c in 0..d {
        let pivot = (c..d)
            .max_by(|&i, &j| a[i * d + c].abs().total_cmp(&a[j * d + c].abs()))
            .unwrap();
        for k in 0..d {
            a.swap(c * d + k, pivot * d + k);
        }
        let p = a[c * d + c];
        log_det += p.abs().ln();
        for i in c + 1..d {
            let f = a[i * d + c] / p;
            for k in c..d {
                a[i * d + k] -= f * a[c * d + k];
            }
        }
    }
    log_det
}

/// Each flow's log-determinant is the log |det| of its numerical Jacobian in every
/// row, in dimensions 1 to 8, with one step and with several, for moderate and (one
/// step, where the numerical Jacobian stays accurate) extreme raw parameters
/// (magnitudes up to 6, where the invertibility reparameterizations and IAF's gates
/// saturate); for IAF also with a per-row context, and for planar and radial also
/// amortized, with every step's parameters read per row from an input.
#[test]
fn flow_log_dets_match_the_numerical_jacobian() {
    const R: usize = 5;
    let mut rng = StdRng::seed_from_u64(3);
    for kind in FlowKind::ALL {
        for d in 1..=8 {
            for (steps, spread, with_context) in [
                (1, 1.0, false),
                (3, 1.0, false),
                (1, 6.0, false),
                (2, 1.0, true),
            ] {
                if with_context && kind != FlowKind::Iaf {
                    continue;
                }
                let conditioning = if with_context {
                    Conditioning::Context
                } else {
                    Conditioning::Shared
                };
                let what = format!("{kind:?} d={d} x{steps} spread {spread} {conditioning:?}");
                let plan = FlowPlan::new(kind, steps);
                check_log_det(plan, d, spread, conditioning, R, &mut rng, &what);
            }
        }
    }
    let mut rng = StdRng::seed_from_u64(4);
    for kind in [FlowKind::Planar, FlowKind::Radial] {
        for d in 1..=8 {
            for (steps, spread) in [(1, 1.0), (3, 1.0), (1, 6.0)] {
                let what = format!("amortized {kind:?} d={d} x{steps} spread {spread}");
                let plan = FlowPlan {
                    amortized: true,
                    ..FlowPlan::new(kind, steps)
                };
                let conditioning = Conditioning::Amortized;
                check_log_det(plan, d, spread, conditioning, R, &mut rng, &what);
            }
        }
    }
}

/// Where a flow step's inputs beside `z` come from in [`check_log_det`].
#[derive(Clone, Copy, Debug, PartialEq)]
enum Conditioning {
    /// Parameters shared by all rows, no context.
    Shared,
    /// IAF's per-row context vector (3 wide).
    Context,
    /// Every step's parameters per row, from an input as wide as the plan asks.
    Amortized,
}

fn check_log_det(
    plan: FlowPlan,
    d: usize,
    spread: f64,
    conditioning: Conditioning,
    rows: usize,
    rng: &mut StdRng,
    what: &str,
) {
    let (kind, steps) = (plan.kind, plan.steps);
    let mut graph = Graph::new();
    let z = graph.input_leaf("z", Shape::batch(d), false);
    let extra_width = match conditioning {
        Conditioning::Shared => None,
        Conditioning::Context => Some(3),
        Conditioning::Amortized => Some(plan.encoder_columns(d)),
    };
    let extra = extra_width.map(|w| graph.input_leaf("c", Shape::batch(w), false));
    let out = flow::apply(&mut graph, plan, z.node, "flow", extra.map(|c| c.node));
    let log_det = out.log_det.unwrap();
    let z_id = z.id;
    let mut exec = Executor::<f64>::new(graph, rows);
    exec.init_params(rng);
    for p in exec.params_mut() {
        *p = rng.random_range(-spread..spread);
    }
    for x in exec.input_mut(z_id) {
        *x = rng.random_range(-2.0..2.0);
    }
    if let Some(c) = extra {
        let range = if conditioning == Conditioning::Amortized {
            spread
        } else {
            1.0
        };
        for x in exec.input_mut(c.id) {
            *x = rng.random_range(-range..range);
        }
    }
    exec.forward();
    let claimed = exec.value(log_det).to_vec();
    // jac[r][i * d + j] = ∂z'_i / ∂z_j in row r; rows are independent, so one column j
    // is perturbed in every row at once.
    // A wider step for one IAF step at extreme parameters: its Jacobian is triangular
    // with a diagonal linear in the perturbed input (z'_i = m_i + s_i (z_i − m_i)), and
    // gates of e^-20 need the resolution.
    let h = if spread > 1.0 && kind == FlowKind::Iaf {
        1e-2
    } else {
        1e-4
    };
    let mut jac = vec![vec![0.0; d * d]; rows];
    for j in 0..d {
        let mut eval = |delta: f64| {
            let base: Vec<f64> = exec.input_mut(z_id).to_vec();
            for r in 0..rows {
                exec.input_mut(z_id)[r * d + j] = base[r * d + j] + delta;
            }
            exec.forward();
            let v = exec.value(out.z).to_vec();
            exec.input_mut(z_id).copy_from_slice(&base);
            v
        };
        let up = eval(h);
        let down = eval(-h);
        for (r, m) in jac.iter_mut().enumerate() {
            for i in 0..d {
                m[i * d + j] = (up[r * d + i] - down[r * d + i]) / (2.0 * h);
            }
        }
    }
    // At extreme parameters a Jacobian entry can be e^-12 beside outputs of 100, which
    // central differences resolve only to about 1e-3 relative.
    let tolerance = if spread > 1.0 { 1e-3 } else { 1e-4 };
    // A one-step IAF Jacobian is lower-triangular: checked, and then its determinant is
    // the diagonal's product, which elimination beside entries 10^9 times larger would
    // lose at extreme parameters.
    let triangular = kind == FlowKind::Iaf && steps == 1;
    for (r, m) in jac.into_iter().enumerate() {
        let numeric = if triangular {
            for i in 0..d {
                for j in i + 1..d {
                    assert!(
                        m[i * d + j] == 0.0,
                        "{what}: output {i} moves with input {j}"
                    );
                }
            }
            (0..d).map(|i| m[i * d + i].abs().ln()).sum()
        } else {
            log_abs_det(m, d)
        };
        assert!(
            claimed[r].is_finite()
                && (numeric - claimed[r]).abs() < tolerance * numeric.abs().max(1.0),
            "{what}, row {r}: log_det node {} but numerical Jacobian {numeric}",
            claimed[r]
        );
    }
}

/// The MADE inside an IAF step is autoregressive: in a one-step flow, output i moves
/// only with inputs j < i (and on the second, reversed step, only with inputs j > i),
/// checked on the Jacobian of random steps in dimensions 1 to 8.
#[test]
fn iaf_steps_are_autoregressive_in_alternating_orders() {
    let mut rng = StdRng::seed_from_u64(8);
    for d in 1..=8 {
        let mut graph = Graph::new();
        let z = graph.input_leaf("z", Shape::batch(d), false);
        let first = flow::apply(
            &mut graph,
            FlowPlan::new(FlowKind::Iaf, 1),
            z.node,
            "a",
            None,
        );
        // A lone second step (index 1) on the same input: the reversed order.
        let mut second_graph = Graph::new();
        let z2 = second_graph.input_leaf("z", Shape::batch(d), false);
        let two = flow::apply(
            &mut second_graph,
            FlowPlan::new(FlowKind::Iaf, 2),
            z2.node,
            "b",
            None,
        );
        for (graph, z_id, out, reversed) in [
            (graph, z.id, first.z, false),
            (second_graph, z2.id, two.z, true),
        ] {
            let mut exec = Executor::<f64>::new(graph, 1);
            exec.set_rows(1);
            for p in exec.params_mut() {
                *p = rng.random_range(-2.0..2.0);
            }
            for x in exec.input_mut(z_id) {
                *x = rng.random_range(-2.0..2.0);
            }
            exec.forward();
            let base = exec.value(out).to_vec();
            for j in 0..d {
                exec.input_mut(z_id)[j] += 0.5;
                exec.forward();
                let moved = exec.value(out).to_vec();
                exec.input_mut(z_id)[j] -= 0.5;
                for i in 0..d {
                    let changed = (moved[i] - base[i]).abs() > 1e-12;
                    if reversed {
                        continue;
                    }
                    // z'_i = m_i + s_i (z_i − m_i): it moves with z_i itself and with
                    // earlier inputs only.
                    if j > i {
                        assert!(!changed, "d={d}: output {i} moved with input {j}");
                    }
                    if j == i {
                        assert!(changed, "d={d}: output {i} ignores its own input");
                    }
                }
            }
            // The two-step flow's Jacobian is full (for d > 1), which a non-reversing
            // second step would leave triangular.
            if reversed && d > 1 {
                exec.input_mut(z_id)[d - 1] += 0.5;
                exec.forward();
                let moved = exec.value(out).to_vec();
                assert!((moved[0] - base[0]).abs() > 1e-9, "d={d}: no reversal");
            }
        }
    }
}

/// The MADE's masks themselves: the hidden units output i reads see only inputs
/// earlier in the order, in both orders and in every dimension.
#[test]
fn made_masks_connect_each_output_only_to_earlier_inputs() {
    for d in 1..=8 {
        let h = flow::iaf_hidden_width(d);
        for reversed in [false, true] {
            let (input, output) = flow::iaf_masks(d, h, reversed);
            let order = |j: usize| if reversed { d - 1 - j } else { j };
            for i in 0..d {
                for j in 0..d {
                    let path = (0..h).any(|k| input[j * h + k] > 0.0 && output[k * d + i] > 0.0);
                    if order(j) >= order(i) {
                        assert!(
                            !path,
                            "d={d} reversed={reversed}: output {i} reads input {j}"
                        );
                    } else {
                        assert!(
                            path,
                            "d={d} reversed={reversed}: output {i} cannot read input {j}"
                        );
                    }
                }
            }
        }
    }
}

/// The LU determinant itself, on a matrix with a known determinant.
#[test]
fn log_abs_det_is_right() {
    // det [[0, 2, 1], [1, 0, 0], [3, 1, 4]] = -(1 * (2*4 - 1*1)) = -7.
    let a = vec![0.0, 2.0, 1.0, 1.0, 0.0, 0.0, 3.0, 1.0, 4.0];
    assert!((log_abs_det(a, 3) - 7f64.ln()).abs() < 1e-12);
}

/// Sanity of the instruments: the checked symbols cover every latent and global.
#[test]
fn log_joint_inputs_are_every_latent_and_global() {
    for name in EXAMPLES {
        let loaded = example(name);
        let (graph, _, _) = lower::log_joint_graph(&loaded.model, &loaded.info);
        for symbol in &loaded.info.symbols {
            let expect = match symbol.kind {
                SymbolKind::Latent { .. } | SymbolKind::Global { .. } => Some(true),
                SymbolKind::Data => Some(false),
                _ => None,
            };
            if let Some(diff) = expect {
                let id = graph.input_by_name(&symbol.name).unwrap();
                assert_eq!(
                    graph.input_info(id).differentiable,
                    diff,
                    "{name}: {}",
                    symbol.name
                );
            }
        }
    }
}

/// `one_hot`, `softmax` and `logsumexp` inside a whole model: the gradient flows to the
/// net and the latent through the softmax and the logsumexp, never to the class.
#[test]
fn log_joint_through_one_hot_softmax_and_logsumexp() {
    let loaded = inline(
        "data x: real[2]\ndata y: int\ndata t: real\nlatent u: real ~ Normal(0, 1)\n\
         net f = mlp(2 -> 3)\nlet p = softmax(f(x))\n\
         t ~ Normal(dot(one_hot(y, 3), p) + logsumexp(f(x) * u), 1)\n\
         y ~ Categorical(logits = f(x) + u)\n",
    );
    let (graph, _, total) = lower::log_joint_graph(&loaded.model, &loaded.info);
    let mut rng = StdRng::seed_from_u64(3);
    let mut exec = Executor::<f64>::new(graph, ROWS);
    exec.init_params(&mut rng);
    fill_symbols(&mut exec, &loaded, &mut rng);
    let y = exec.graph().input_by_name("y").expect("y is an input");
    exec.input_mut(y).copy_from_slice(&[2.0, 0.0, 1.0]);
    let compared = check(exec, total, "one_hot/softmax/logsumexp");
    assert!(compared > 10, "{compared}");
}

/// Matrix params and globals: a row selected by an observed class, a literal row, and
/// a matrix-vector product (multinomial regression), with gradients into the matrices,
/// the vector and the latent through every one of them.
#[test]
fn log_joint_through_matrix_rows_and_products() {
    let loaded = inline(
        "data x: real[2]\ndata c: int\ndata y: real[2]\n\
         param loc: real[3, 2] = [[-1, 0], [1, 0], [0, 1]]\nparam b: real[3] = [0.5, 0, -0.5]\n\
         global W: real[3, 2] ~ Normal(0, 1)\nlatent u: real[2] ~ Normal(0, 1)\n\
         c ~ Categorical(logits = matvec(W, x + u) + b)\n\
         y ~ Normal(loc[c] + loc[2] * u, 1)\n",
    );
    let (graph, _, total) = lower::log_joint_graph(&loaded.model, &loaded.info);
    let mut rng = StdRng::seed_from_u64(5);
    let mut exec = Executor::<f64>::new(graph, ROWS);
    exec.init_params(&mut rng);
    let loc = exec.graph().param_by_name("loc").expect("loc");
    let range = exec.param_range(loc);
    assert_eq!(exec.params()[range], [-1.0, 0.0, 1.0, 0.0, 0.0, 1.0]);
    fill_symbols(&mut exec, &loaded, &mut rng);
    let c = exec.graph().input_by_name("c").expect("c is an input");
    exec.input_mut(c).copy_from_slice(&[2.0, 0.0, 1.0]);
    let compared = check(exec, total, "matrix rows and products");
    assert!(compared > 20, "{compared}");
}
