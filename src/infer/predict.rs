//! `vic predict` and the scores of `vic eval`: the posterior predictive mean of every
//! output per data row, and class probabilities for `Bernoulli` and `Categorical`
//! targets, as Monte Carlo averages over draws from a [`Sampler`] conditioned on the
//! row's covariates (the outputs themselves are never read, so a file that holds them
//! can be scored against them).
//!
//! Nothing here prints; the draws are streamed chunk by chunk and only per-row sums
//! are kept.

use crate::check::hir::{Model, StmtKind};
use crate::check::{ModelInfo, SymbolId};
use crate::dist::Family;
use crate::objective::ElboGraph;

use super::sample::{Conditions, SampleError, Sampler, element_name};
use super::session::NamedParam;

/// The kind of figures an output gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A mean (its RMSE is the score).
    Mean,
    /// A `Bernoulli` target: its mean is P(y = 1) (scored by accuracy).
    Binary,
    /// A `Categorical` target over this many classes (scored by accuracy).
    Classes(usize),
}

/// One output's columns in a [`Prediction`].
#[derive(Debug, Clone)]
pub struct Output {
    pub symbol: SymbolId,
    pub name: String,
    pub kind: Kind,
    pub width: usize,
    /// Its first column (after `row`).
    pub offset: usize,
}

/// Predictions for every row: `header` (`row` first) and `rows × (header.len() − 1)`
/// values, row-major.
#[derive(Debug, Clone)]
pub struct Prediction {
    pub header: Vec<String>,
    pub outputs: Vec<Output>,
    pub values: Vec<f64>,
    pub rows: usize,
    pub draws: u64,
}

/// How well the predictions match the data's own values of an output.
#[derive(Debug, Clone, PartialEq)]
pub struct Score {
    pub name: String,
    /// `accuracy` or `rmse`.
    pub metric: &'static str,
    pub value: f64,
}

fn kind_of(model: &Model, symbol: SymbolId) -> Kind {
    model
        .stmts
        .iter()
        .find_map(|s| match &s.kind {
            StmtKind::Likelihood { symbol: t, dist } if *t == symbol => Some(match dist.family {
                Family::BernoulliLogits | Family::BernoulliProbs => Kind::Binary,
                Family::Categorical => Kind::Classes(dist.args[0].shape.width()),
                _ => Kind::Mean,
            }),
            _ => None,
        })
        .unwrap_or(Kind::Mean)
}

/// Predicts every output of `conditions` from `draws` draws per row.
pub fn predict(
    model: &Model,
    info: &ModelInfo,
    elbo: &ElboGraph,
    params: &[NamedParam],
    conditions: &Conditions,
    draws: u64,
    seed: u64,
) -> Result<Prediction, SampleError> {
    let mut hidden = conditions.clone();
    // The outputs are predicted, never read: q(z|x) would see them.
    hidden.complete = false;
    let draws = draws.max(1);
    let mut sampler = Sampler::new(
        model,
        info,
        elbo,
        params,
        super::sample::CHUNK_ROWS,
        seed,
        Some((&hidden, draws)),
    )?;
    let mut header = vec!["row".to_string()];
    let mut outputs = Vec::new();
    let mut sources = Vec::new();
    for g in sampler.groups() {
        if !conditions.outputs.contains(&g.symbol) {
            continue;
        }
        let s = info.symbol(g.symbol);
        let kind = kind_of(model, g.symbol);
        let offset = header.len() - 1;
        for j in 0..g.width {
            header.push(element_name(&s.name, s.shape, j));
        }
        if let Kind::Classes(k) = kind {
            header.extend((0..k).map(|c| format!("P({}={c})", s.name)));
        }
        outputs.push(Output {
            symbol: g.symbol,
            name: s.name.clone(),
            kind,
            width: g.width,
            offset,
        });
        sources.push(g.offset);
    }
    let width = header.len() - 1;
    let rows = conditions.data.rows;
    let mut values = vec![0.0f64; rows * width];
    let drawn = sampler.width();
    let total = sampler.total().unwrap_or(0);
    let mut made = 0;
    while made < total {
        let k = (total - made).min(sampler.chunk() as u64) as usize;
        let chunk = sampler.draw(k)?.to_vec();
        for (i, &row) in sampler.rows_of_chunk().iter().enumerate() {
            let draw = &chunk[i * drawn..(i + 1) * drawn];
            let out = &mut values[row * width..(row + 1) * width];
            for (o, &src) in outputs.iter().zip(&sources) {
                for j in 0..o.width {
                    out[o.offset + j] += f64::from(draw[src + j]);
                }
                if let Kind::Classes(_) = o.kind {
                    let class = draw[src] as usize;
                    out[o.offset + o.width + class] += 1.0;
                }
            }
        }
        made += k as u64;
    }
    for v in &mut values {
        *v /= draws as f64;
    }
    Ok(Prediction {
        header,
        outputs,
        values,
        rows,
        draws,
    })
}

/// Scores the predictions against the values `conditions` holds for each output:
/// accuracy (the most probable class) for `Bernoulli`/`Categorical`, RMSE otherwise.
pub fn score(prediction: &Prediction, conditions: &Conditions) -> Vec<Score> {
    let width = prediction.header.len() - 1;
    prediction
        .outputs
        .iter()
        .map(|o| {
            let column = conditions
                .data
                .columns
                .iter()
                .find(|c| c.spec.name == o.name)
                .expect("internal: an output is a data declaration");
            let mut sum = 0.0;
            let mut count = 0usize;
            for r in 0..prediction.rows {
                let p = &prediction.values[r * width..(r + 1) * width];
                let actual = column.row(r);
                for (j, &a) in actual.iter().enumerate().take(o.width) {
                    let a = f64::from(a);
                    sum += match o.kind {
                        Kind::Mean => (p[o.offset + j] - a).powi(2),
                        Kind::Binary => f64::from(u8::from((p[o.offset + j] >= 0.5) == (a == 1.0))),
                        Kind::Classes(k) => {
                            let probs = &p[o.offset + o.width..o.offset + o.width + k];
                            let best = probs
                                .iter()
                                .enumerate()
                                .max_by(|x, y| x.1.total_cmp(y.1))
                                .map_or(0, |(c, _)| c);
                            f64::from(u8::from(best as f64 == a))
                        }
                    };
                    count += 1;
                }
            }
            let mean = sum / count.max(1) as f64;
            match o.kind {
                Kind::Mean => Score {
                    name: o.name.clone(),
                    metric: "rmse",
                    value: mean.sqrt(),
                },
                _ => Score {
                    name: o.name.clone(),
                    metric: "accuracy",
                    value: mean,
                },
            }
        })
        .collect()
}
