//! The seams between the guide, the objective and the session, on every example and
//! guide variant: every noise leaf and every input of an objective graph is reached
//! through a typed handle (so a session never looks a leaf up by name, and the order
//! noise is drawn in is the graph's); every node that can turn non-finite is blamed on
//! a `.vi` line; the objective is the minibatch-scaled sum of its per-row parts; and
//! each flow declares exactly the parameters its steps read.

use std::path::Path;

use rand::SeedableRng;
use rand::rngs::StdRng;
use vic::check::{FlowSpec, GlobalsMode};
use vic::guide::flow::{self, FlowKind, FlowPlan};
use vic::infer::data;
use vic::infer::fit::column_specs;
use vic::infer::session::Session;
use vic::ir::{Graph, Op, Shape};
use vic::objective::{self, ElboGraph, KlMode, MinibatchScale};
use vic::source::{self, Loaded};

fn example(name: &str) -> Loaded {
    source::load(
        &Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("examples")
            .join(name),
    )
    .unwrap()
}

/// Every example with its own guide, and the VAE and the logistic regression with the
/// other guide settings (flows, full-rank globals, analytic KL).
fn variants() -> Vec<(String, Loaded, ElboGraph)> {
    let mut out = Vec::new();
    let mut add = |name: &str, edit: &dyn Fn(&mut objective::ElboOptions)| {
        let loaded = example(name);
        let mut options = objective::options_for(&loaded.info, 7);
        edit(&mut options);
        let elbo = objective::build(&loaded.model, &loaded.info, &options).unwrap();
        out.push((format!("{name} {options:?}"), loaded, elbo));
    };
    for name in ["vae.vi", "logistic.vi", "eight_schools.vi", "dlgm.vi"] {
        add(name, &|_| {});
    }
    add("vae.vi", &|o| {
        o.spec.flow = FlowSpec::Planar {
            steps: 2,
            amortized: false,
        }
    });
    add("vae.vi", &|o| o.kl = KlMode::Analytic);
    add("logistic.vi", &|o| o.spec.globals = GlobalsMode::Full);
    add("logistic.vi", &|o| {
        o.spec.globals = GlobalsMode::Full;
        o.spec.flow = FlowSpec::Radial {
            steps: 2,
            amortized: false,
        };
    });
    add("eight_schools.vi", &|o| {
        o.spec.global_flow = FlowSpec::Planar {
            steps: 1,
            amortized: false,
        }
    });
    out
}

#[test]
fn every_noise_leaf_has_a_typed_handle_in_graph_order() {
    for (what, _, elbo) in variants() {
        let handles = elbo.noise.in_graph_order();
        let graph = &elbo.graph;
        assert_eq!(handles.len(), graph.noises().len(), "{what}");
        for (i, leaf) in handles.iter().enumerate() {
            assert_eq!(
                leaf.id.0 as usize, i,
                "{what}: noise drawn out of graph order"
            );
            assert_eq!(graph.noise_info(leaf.id).node, leaf.node, "{what}");
        }
        assert_eq!(
            elbo.noise.globals.is_some(),
            !elbo.globals.is_empty(),
            "{what}: the globals' noise handle"
        );
    }
}

#[test]
fn every_input_has_a_typed_handle() {
    for (what, loaded, elbo) in variants() {
        let inputs = &elbo.inputs;
        let mut fed: Vec<_> = inputs.data.iter().map(|&(_, l)| l).collect();
        fed.extend(inputs.row_index);
        fed.extend([inputs.scale.local, inputs.scale.global]);
        let graph = &elbo.graph;
        assert_eq!(fed.len(), graph.inputs().len(), "{what}");
        for leaf in &fed {
            assert_eq!(graph.input_info(leaf.id).node, leaf.node, "{what}");
        }
        for (symbol, leaf) in &inputs.data {
            let name = &loaded.info.symbol(*symbol).name;
            assert_eq!(&graph.input_info(leaf.id).name, name, "{what}");
        }
        assert_eq!(
            inputs.row_index.is_some(),
            !loaded.info.guide.free.is_empty(),
            "{what}: a row index exactly when a local is free"
        );
    }
}

/// A node can turn non-finite only if it depends on a parameter, the data or noise:
/// the minibatch factors and constants (and what only combines them) cannot.
#[test]
fn every_node_that_can_turn_non_finite_names_a_line() {
    for (what, loaded, elbo) in variants() {
        let graph = &elbo.graph;
        let scale = [elbo.inputs.scale.local.node, elbo.inputs.scale.global.node];
        let mut varies = vec![false; graph.len()];
        for (i, node) in graph.nodes().iter().enumerate() {
            let id = vic::ir::NodeId(i as u32);
            varies[i] = match node.op {
                Op::Const(_) => false,
                Op::Input(_) => !scale.contains(&id),
                Op::Param(_) | Op::Noise(_) => true,
                _ => node.inputs.iter().any(|x| varies[x.index()]),
            };
            if !varies[i] {
                continue;
            }
            let span = graph.blame(id).unwrap_or_else(|| {
                panic!(
                    "{what}: node %{i} ({:?}, {:?}) has no line",
                    node.op, node.label
                )
            });
            assert!(span.end <= loaded.source.len(), "{what}: %{i}");
        }
    }
}

#[test]
fn blame_falls_back_to_the_nearest_operand_with_a_line() {
    let mut graph = Graph::new();
    let x = graph.input("x", Shape::batch(1), false);
    let span = vic::diag::Span { start: 3, end: 5 };
    graph.set_origin(Some(span));
    let y = graph.unary(vic::ir::Unary::Exp, x);
    graph.set_origin(None);
    let z = graph.add(y, x);
    let w = graph.sum_rows(z);
    assert_eq!(graph.blame(x), None);
    assert_eq!(graph.blame(y), Some(span));
    assert_eq!(graph.blame(w), Some(span));
}

/// The objective a session computes is Σ_r (local_r · N/R + global_r / R) of the
/// graph's own per-row parts, with the factors the objective module defines.
#[test]
fn the_objective_is_the_minibatch_scaled_sum_of_its_parts() {
    for (name, csv, rows) in [
        ("vae.vi", "digits_train.csv", 25),
        ("eight_schools.vi", "eight_schools.csv", 3),
        ("logistic.vi", "breast_cancer.csv", 40),
    ] {
        let loaded = example(name);
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("examples/data")
            .join(csv);
        let dataset = data::load(&path, &column_specs(&loaded)).unwrap();
        let options = objective::options_for(&loaded.info, dataset.rows);
        let elbo = objective::build(&loaded.model, &loaded.info, &options).unwrap();
        let mut session = Session::new(&elbo, rows);
        session
            .exec_mut()
            .init_params(&mut StdRng::seed_from_u64(5));
        let batch: Vec<usize> = (0..rows).collect();
        session.load_batch(&dataset, &batch, 1, dataset.rows);
        session.draw_noise(&mut StdRng::seed_from_u64(6), None);
        let claimed = f64::from(session.forward());
        let (local_factor, global_factor) = MinibatchScale::factors(rows, dataset.rows);
        let exec = session.exec();
        let local: f64 = exec.value(elbo.local).iter().map(|&v| f64::from(v)).sum();
        let global_values = exec.value(elbo.global);
        // Without globals the global part is one zero shared by every row.
        let global: f64 = global_values.iter().map(|&v| f64::from(v)).sum::<f64>()
            * (rows / global_values.len()) as f64;
        let expected = local * f64::from(local_factor) + global * f64::from(global_factor);
        assert!(
            (claimed - expected).abs() <= 1e-4 * expected.abs().max(1.0),
            "{name}: objective {claimed}, scaled parts {expected}"
        );
    }
}

#[test]
fn each_flow_declares_the_parameters_its_steps_read() {
    const D: usize = 3;
    for kind in FlowKind::ALL {
        let mut graph = Graph::new();
        let z = graph.input("z", Shape::batch(D), false);
        let plan = FlowPlan::new(kind, 2);
        let out = flow::apply(&mut graph, plan, z, "f", None);
        let declared = plan.flow().params(D);
        let mut expected = Vec::new();
        for k in 0..2 {
            for p in &declared {
                expected.push((format!("f.{k}.{}", p.suffix), p.rows, p.cols));
            }
        }
        let params: Vec<_> = graph
            .params()
            .iter()
            .map(|p| (p.name.clone(), p.rows, p.cols))
            .collect();
        assert_eq!(params, expected, "{kind:?}");
        assert_eq!(graph.shape(out.z), Shape::batch(D), "{kind:?}");
        assert_eq!(
            graph.shape(out.log_det.unwrap()),
            Shape::batch(1),
            "{kind:?}"
        );
        assert_eq!(graph.node(out.z).label.as_deref(), Some("f.1"), "{kind:?}");
    }
}

/// An amortized flow declares no parameters: every step reads its own slice of the
/// encoder's per-row output, which is as wide as the steps' parameters together.
#[test]
fn an_amortized_flow_reads_its_parameters_from_the_encoder() {
    const D: usize = 3;
    for kind in [FlowKind::Planar, FlowKind::Radial] {
        let plan = FlowPlan {
            amortized: true,
            ..FlowPlan::new(kind, 2)
        };
        let per_step: usize = plan.flow().params(D).iter().map(|p| p.cols).sum();
        assert_eq!(plan.encoder_columns(D), 2 * per_step, "{kind:?}");
        let mut graph = Graph::new();
        let z = graph.input("z", Shape::batch(D), false);
        let encoded = graph.input("e", Shape::batch(plan.encoder_columns(D)), false);
        let out = flow::apply(&mut graph, plan, z, "f", Some(encoded));
        assert!(graph.params().is_empty(), "{kind:?}");
        assert_eq!(graph.shape(out.z), Shape::batch(D), "{kind:?}");
    }
    // IAF's encoder columns are its context, as wide as the MADE's hidden layer.
    let iaf = FlowPlan {
        hidden: Some(40),
        ..FlowPlan::new(FlowKind::Iaf, 2)
    };
    assert_eq!(iaf.encoder_columns(D), 40);
    assert_eq!(
        FlowPlan::new(FlowKind::Iaf, 2).encoder_columns(D),
        flow::iaf_hidden_width(D)
    );
}
