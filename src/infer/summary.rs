//! Posterior summaries and draws of every quantity that does not vary by row: the
//! globals, the `param`s on their constrained scale, and the `let`s that depend only on
//! globals and params (`vic summary`, the fit summary, `vic draws`).
//!
//! Draws come from the fitted guide through the model's log-joint graph (every symbol
//! bound to an input, as in ancestral sampling): the globals' draws are fed in and the
//! graph computes the params' and lets' values. A `let` that reads data or a local
//! latent (eight schools' `theta = mu + tau * eta`) differs per row and has no single
//! posterior, so it is not summarized; `vic sample --data` draws it per row instead.
//! Nothing here prints.

use crate::autodiff::Executor;
use crate::check::hir::Model;
use crate::check::{ModelInfo, Shape, SymbolKind};
use crate::ir::{Graph, NodeId, Op, Rows};
use crate::lower;
use crate::objective::ElboGraph;

use super::limits;
use super::sample::{CHUNK_ROWS, SampleError, element_name};
use super::session::{NamedParam, Session, load_named_params};
use super::train::stream;

const DRAWS_STREAM: u64 = 41;

/// The guide draws behind `vic summary` and the fit summary.
pub const SUMMARY_DRAWS: usize = 4000;

/// What a summarized quantity is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Global,
    Param,
    Let,
}

/// One summarized declaration.
#[derive(Debug, Clone, PartialEq)]
pub struct Quantity {
    pub name: String,
    pub kind: Kind,
    pub shape: Shape,
}

/// `n` draws of every quantity, row-major, one column per element.
#[derive(Debug, Clone, PartialEq)]
pub struct Draws {
    pub quantities: Vec<Quantity>,
    /// Element names, `w[0]` style.
    pub columns: Vec<String>,
    pub n: usize,
    pub values: Vec<f64>,
}

impl Draws {
    /// The kind of each column's quantity, column by column.
    pub fn column_kinds(&self) -> impl Iterator<Item = Kind> + '_ {
        self.quantities
            .iter()
            .flat_map(|q| std::iter::repeat_n(q.kind, q.shape.width()))
    }

    /// The draws of column `j`.
    pub fn column(&self, j: usize) -> impl Iterator<Item = f64> + '_ {
        let w = self.columns.len();
        (0..self.n).map(move |r| self.values[r * w + j])
    }
}

/// `n` draws of the globals, params and global lets of a fitted model.
pub fn draw(
    model: &Model,
    info: &ModelInfo,
    elbo: &ElboGraph,
    params: &[NamedParam],
    n: usize,
    seed: u64,
) -> Result<Draws, SampleError> {
    let mut graph = Graph::new();
    let (bindings, leaves) = lower::bind_inputs(info, &mut graph);
    let joint = lower::lower(model, info, &mut graph, &bindings);
    // Which nodes vary by row: those reading data or a local latent.
    let per_row_inputs: Vec<bool> = info
        .symbols
        .iter()
        .map(|s| matches!(s.kind, SymbolKind::Data | SymbolKind::Latent { .. }))
        .collect();
    let mut varies = vec![false; graph.len()];
    for (i, node) in graph.nodes().iter().enumerate() {
        varies[i] = match node.op {
            Op::Input(id) => leaves
                .iter()
                .enumerate()
                .any(|(s, l)| l.is_some_and(|l| l.id == id) && per_row_inputs[s]),
            _ => node.inputs.iter().any(|x| varies[x.index()]),
        };
    }
    let mut quantities = Vec::new();
    let mut nodes: Vec<NodeId> = Vec::new();
    for (i, s) in info.symbols.iter().enumerate() {
        let kind = match s.kind {
            SymbolKind::Global { .. } => Kind::Global,
            SymbolKind::Param { .. } => Kind::Param,
            SymbolKind::Let => Kind::Let,
            _ => continue,
        };
        let Some(node) = joint.nodes[i] else { continue };
        if varies[node.index()] {
            continue;
        }
        quantities.push(Quantity {
            name: s.name.clone(),
            kind,
            shape: s.shape,
        });
        nodes.push(node);
    }
    let columns: Vec<String> = quantities
        .iter()
        .flat_map(|q| (0..q.shape.width()).map(|j| element_name(&q.name, q.shape, j)))
        .collect();
    let chunk = n.clamp(1, CHUNK_ROWS);
    limits::check_rows(&graph, chunk, || format!("drawing {chunk} rows at a time"))?;
    limits::check_rows(&elbo.graph, chunk, || {
        format!("drawing the globals of {chunk} rows at a time")
    })?;
    let mut exec: Executor<f32> = Executor::new(graph, chunk);
    load_named_params(&mut exec, params).map_err(SampleError::Params)?;
    let mut session = Session::new(elbo, chunk);
    session.load_params(params).map_err(SampleError::Params)?;
    let mut rng = stream(seed, DRAWS_STREAM);
    let mut values = Vec::with_capacity(n * columns.len());
    let mut left = n;
    while left > 0 {
        let k = left.min(chunk);
        session.exec_mut().set_rows(k);
        session.draw_noise(&mut rng, None);
        session.exec_mut().forward();
        exec.set_rows(k);
        for &(symbol, node) in &elbo.globals {
            let input = leaves[symbol.0].expect("internal: globals are inputs").id;
            exec.input_mut(input)
                .copy_from_slice(session.exec().value(node));
        }
        exec.forward();
        for r in 0..k {
            for &node in &nodes {
                let shape = exec.graph().shape(node);
                let rr = match shape.rows {
                    Rows::Batch => r,
                    Rows::Fixed(_) => 0,
                };
                let w = shape.cols;
                values.extend(
                    exec.value(node)[rr * w..(rr + 1) * w]
                        .iter()
                        .map(|&v| f64::from(v)),
                );
            }
        }
        left -= k;
    }
    Ok(Draws {
        quantities,
        columns,
        n,
        values,
    })
}

/// Stan's summary columns of one element.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Row {
    pub name: String,
    pub mean: f64,
    pub sd: f64,
    pub q05: f64,
    pub q50: f64,
    pub q95: f64,
    /// The Monte Carlo standard error of `mean`: sd/√n, the draws being independent.
    pub mcse: f64,
}

/// The summary of every element of every quantity, from `draws` draws.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    pub draws: usize,
    pub rows: Vec<(Kind, Row)>,
}

/// The summary of every column of `draws`.
pub fn summarize(draws: &Draws) -> Summary {
    let kinds: Vec<Kind> = draws.column_kinds().collect();
    let rows = (0..draws.columns.len())
        .map(|j| {
            let mut xs: Vec<f64> = draws.column(j).collect();
            let n = xs.len().max(1) as f64;
            let mean = xs.iter().sum::<f64>() / n;
            let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0).max(1.0);
            xs.sort_by(f64::total_cmp);
            let sd = var.sqrt();
            let row = Row {
                name: draws.columns[j].clone(),
                mean,
                sd,
                q05: quantile(&xs, 0.05),
                q50: quantile(&xs, 0.5),
                q95: quantile(&xs, 0.95),
                mcse: sd / n.sqrt(),
            };
            (kinds[j], row)
        })
        .collect();
    Summary {
        draws: draws.n,
        rows,
    }
}

impl Kind {
    pub fn keyword(self) -> &'static str {
        match self {
            Kind::Global => "global",
            Kind::Param => "param",
            Kind::Let => "let",
        }
    }
}

/// The `p` quantile of sorted values, interpolating linearly (Stan's and R's type 7).
fn quantile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let pos = p * (sorted.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = pos.ceil() as usize;
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

/// Writes `draws` as a CmdStan `variational` output CSV (see `docs/language.md`,
/// `vic draws`): comment lines, the header `lp__,log_p__,log_g__,` then the quantities
/// with Stan's `name.1` (1-based) element names, the adaptation comment, a first row
/// with the draws' mean, then one row per draw. `lp__` is 0 as in CmdStan; `log_p__`
/// and `log_g__` are written as 0 because a fit file holds no data to evaluate log p on.
pub fn write_cmdstan_csv(
    draws: &Draws,
    comments: &[String],
    out: &mut dyn std::io::Write,
) -> std::io::Result<()> {
    for c in comments {
        writeln!(out, "# {c}")?;
    }
    let mut header = vec!["lp__".to_string(), "log_p__".into(), "log_g__".into()];
    for q in &draws.quantities {
        match q.shape {
            Shape::Scalar => header.push(q.name.clone()),
            Shape::Vector(w) => header.extend((1..=w).map(|j| format!("{}.{j}", q.name))),
            // Stan's `name.row.col`, 1-based; the columns follow vic's row-major order.
            Shape::Matrix(rows, cols) => header.extend(
                (0..rows * cols).map(|j| format!("{}.{}.{}", q.name, j / cols + 1, j % cols + 1)),
            ),
        }
    }
    writeln!(out, "{}", header.join(","))?;
    writeln!(out, "# Stepsize adaptation complete.")?;
    writeln!(out, "# eta = 1")?;
    let w = draws.columns.len();
    let mean: Vec<f64> = (0..w)
        .map(|j| draws.column(j).sum::<f64>() / draws.n.max(1) as f64)
        .collect();
    let line = |values: &[f64]| {
        let mut s = String::from("0,0,0");
        for v in values {
            s.push(',');
            s.push_str(&format!("{v}"));
        }
        s
    };
    writeln!(out, "{}", line(&mean))?;
    for r in 0..draws.n {
        writeln!(out, "{}", line(&draws.values[r * w..(r + 1) * w]))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_interpolate() {
        let v: Vec<f64> = (0..=100).map(f64::from).collect();
        assert_eq!(quantile(&v, 0.05), 5.0);
        assert_eq!(quantile(&v, 0.5), 50.0);
    }
}
