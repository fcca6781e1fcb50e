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
use vic::guide::flow::{self, FlowKind};
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
    for flow in [FlowSpec::Planar(2), FlowSpec::Radial(2)] {
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
    options.spec.flow = FlowSpec::Planar(2);
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
    options.spec.flow = FlowSpec::Radial(2);
    options.spec.global_flow = FlowSpec::Planar(1);
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

/// A flow's `log_det` node equals log |det ∂z'/∂z| from central differences, row by
/// row, for random parameters and inputs, with one step and with several.
#[test]
fn flow_log_dets_match_the_numerical_jacobian() {
    const D: usize = 3;
    const R: usize = 6;
    let mut rng = StdRng::seed_from_u64(3);
    for kind in FlowKind::ALL {
        for steps in [1, 3] {
            let mut graph = Graph::new();
            let z = graph.input_leaf("z", Shape::batch(D), false);
            let out = flow::apply(&mut graph, kind, steps, z.node, "flow", None);
            let log_det = out.log_det.unwrap();
            let z_id = z.id;
            let mut exec = Executor::<f64>::new(graph, R);
            exec.init_params(&mut rng);
            for p in exec.params_mut() {
                *p = rng.random_range(-1.0..1.0);
            }
            for x in exec.input_mut(z_id) {
                *x = rng.random_range(-2.0..2.0);
            }
            exec.forward();
            let claimed = exec.value(log_det).to_vec();
            // jac[r][i * D + j] = ∂z'_i / ∂z_j in row r; rows are independent, so one
            // column j is perturbed in every row at once.
            let h = 1e-5;
            let mut jac = vec![vec![0.0; D * D]; R];
            for j in 0..D {
                let mut eval = |delta: f64| {
                    let base: Vec<f64> = exec.input_mut(z_id).to_vec();
                    for r in 0..R {
                        exec.input_mut(z_id)[r * D + j] = base[r * D + j] + delta;
                    }
                    exec.forward();
                    let v = exec.value(out.z).to_vec();
                    exec.input_mut(z_id).copy_from_slice(&base);
                    v
                };
                let up = eval(h);
                let down = eval(-h);
                for (r, m) in jac.iter_mut().enumerate() {
                    for i in 0..D {
                        m[i * D + j] = (up[r * D + i] - down[r * D + i]) / (2.0 * h);
                    }
                }
            }
            for (r, m) in jac.into_iter().enumerate() {
                let numeric = log_abs_det(m, D);
                assert!(
                    (numeric - claimed[r]).abs() < 1e-6,
                    "{kind:?} x{steps}, row {r}: log_det node {} but numerical Jacobian {numeric}",
                    claimed[r]
                );
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
