//! Drawing from a fitted generative model (`vic sample`).
//!
//! Globals are drawn from the fitted guide (their approximate posterior); then every
//! local latent and every data declaration is drawn in statement order from its
//! distribution, whose arguments the model's log-joint graph computes from the values
//! drawn so far, with the learned nets and params. This is ancestral sampling by
//! repeated evaluation: one forward pass per `~` statement.

use crate::autodiff::Executor;
use crate::check::hir::Model;
use crate::check::{ModelInfo, SymbolKind};
use crate::dist::{self, Family, categorical};
use crate::ir::{NodeId, Op, Rows};
use crate::lower::{self, Role};
use crate::objective::ElboGraph;

use super::evaluate::EvalError;
use super::session::{NamedParam, Session, load_named_params};
use super::train::stream;

const SAMPLE_STREAM: u64 = 21;

/// Drawn values: one column group per data, latent and global declaration.
#[derive(Debug, Clone, PartialEq)]
pub struct Samples {
    /// Column names, `x0 .. x63` for a vector `x`.
    pub header: Vec<String>,
    /// One row per draw.
    pub rows: Vec<Vec<f32>>,
}

/// `n` draws from the fitted model.
pub fn sample(
    model: &Model,
    info: &ModelInfo,
    elbo: &ElboGraph,
    params: &[NamedParam],
    n: usize,
    seed: u64,
) -> Result<Samples, EvalError> {
    let n = n.max(1);
    let mut rng = stream(seed, SAMPLE_STREAM);

    // The globals, from the guide.
    let global_values = if elbo.globals.is_empty() {
        Vec::new()
    } else {
        Session::draw_globals(elbo, params, n, &mut rng).map_err(EvalError::Params)?
    };

    let (graph, joint, _) = lower::log_joint_graph(model, info);
    let mut exec: Executor<f32> = Executor::new(graph, n);
    exec.set_rows(n);
    load_named_params(&mut exec, params).map_err(EvalError::Params)?;
    for (symbol, values) in &global_values {
        let node = joint.nodes[symbol.0].expect("internal: globals are bound");
        input_of(&mut exec, node).copy_from_slice(values);
    }

    for term in joint.terms.iter().filter(|t| t.role != Role::Global) {
        exec.forward();
        let width = info.symbol(term.symbol).shape.width();
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
                    categorical::draw(&values[rr * cols..(rr + 1) * cols], &mut rng)
                } else {
                    let mut p = [0.0; 3];
                    for (k, slot) in p.iter_mut().enumerate().take(args.len()) {
                        *slot = arg(k);
                    }
                    dist::draw(term.family, p, &mut rng) as f32
                };
            }
        }
        input_of(&mut exec, term.value).copy_from_slice(&drawn);
    }

    let mut header = Vec::new();
    let mut groups: Vec<(usize, NodeId)> = Vec::new();
    for (i, symbol) in info.symbols.iter().enumerate() {
        if !matches!(
            symbol.kind,
            SymbolKind::Data | SymbolKind::Latent { .. } | SymbolKind::Global { .. }
        ) {
            continue;
        }
        let width = symbol.shape.width();
        match symbol.shape {
            crate::check::Shape::Scalar => header.push(symbol.name.clone()),
            crate::check::Shape::Vector(w) => {
                header.extend((0..w).map(|j| format!("{}{j}", symbol.name)))
            }
        }
        groups.push((width, joint.nodes[i].expect("internal: values are bound")));
    }
    let rows = (0..n)
        .map(|r| {
            groups
                .iter()
                .flat_map(|&(w, node)| exec.value(node)[r * w..(r + 1) * w].to_vec())
                .collect()
        })
        .collect();
    Ok(Samples { header, rows })
}

fn input_of(exec: &mut Executor<f32>, node: NodeId) -> &mut [f32] {
    match exec.graph().node(node).op {
        Op::Input(id) => exec.input_mut(id),
        _ => unreachable!("internal: values in a log-joint graph are inputs"),
    }
}

impl Samples {
    /// The draws as CSV text with a header line.
    pub fn to_csv(&self) -> String {
        let mut out = self.header.join(",");
        out.push('\n');
        for row in &self.rows {
            let cells: Vec<String> = row.iter().map(|v| format!("{v}")).collect();
            out.push_str(&cells.join(","));
            out.push('\n');
        }
        out
    }
}
