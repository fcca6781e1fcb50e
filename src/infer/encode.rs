//! `vic encode`: per data row, the guide's mean and standard deviation of every local
//! latent on its support.
//!
//! Where a latent's guide is exactly a diagonal Gaussian (`real`, no flow) the mean and
//! sd are its location and scale; elsewhere (a `positive`/`unit` transform, a flow) they
//! are Monte Carlo estimates from `draws` guide draws per row. Amortized locals need every
//! data declaration (the encoder reads them all); `free` locals are given only for a file
//! with exactly the training row count (row i is training row i). Nothing here prints.

use crate::check::{ModelInfo, SymbolKind};
use crate::objective::ElboGraph;

use super::data::Dataset;
use super::limits;
use super::sample::{SampleError, element_name};
use super::session::{NamedParam, Session};
use super::train::stream;

const ENCODE_STREAM: u64 = 31;
/// The most graph rows (data rows × draws) in one pass.
const PASS_ROWS: usize = 8192;

/// The encoding of every row: `header` (`row` first) and `rows × (header.len() − 1)`
/// values, row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct Encoding {
    pub header: Vec<String>,
    pub values: Vec<f64>,
    /// The latents left out: free locals of a file that is not the training data.
    pub omitted: Vec<String>,
    /// Whether some latent's figures are Monte Carlo estimates.
    pub sampled: bool,
}

/// Encodes every row of `data` (all data declarations) with `draws` draws per row
/// where a latent's figures must be estimated.
pub fn encode(
    elbo: &ElboGraph,
    info: &ModelInfo,
    params: &[NamedParam],
    data: &Dataset,
    train_rows: usize,
    draws: usize,
    seed: u64,
) -> Result<Encoding, SampleError> {
    let free_ok = data.rows == train_rows;
    let mut omitted = Vec::new();
    let mut kept = Vec::new();
    for (i, &(symbol, value)) in elbo.locals.iter().enumerate() {
        let s = info.symbol(symbol);
        if matches!(s.kind, SymbolKind::Latent { free: true, .. }) && !free_ok {
            omitted.push(s.name.clone());
            continue;
        }
        kept.push((symbol, value, elbo.local_gaussians[i].1));
    }
    let sampled = kept.iter().any(|k| k.2.is_none());
    let draws = if sampled { draws.max(2) } else { 1 };
    let mut header = vec!["row".to_string()];
    for &(symbol, _, _) in &kept {
        let s = info.symbol(symbol);
        for j in 0..s.shape.width() {
            let name = element_name(&s.name, s.shape, j);
            header.push(format!("mean({name})"));
            header.push(format!("sd({name})"));
        }
    }
    let width = header.len() - 1;
    let per_pass = (PASS_ROWS / draws).max(1).min(data.rows.max(1));
    limits::check_rows(&elbo.graph, per_pass * draws, || {
        format!("encoding {per_pass} rows with {draws} draws each")
    })?;
    let mut session = Session::new(elbo, per_pass * draws);
    session.load_params(params).map_err(SampleError::Params)?;
    let mut rng = stream(seed, ENCODE_STREAM);
    let mut values = Vec::with_capacity(data.rows * width);
    let all: Vec<usize> = (0..data.rows).collect();
    for rows in all.chunks(per_pass) {
        session.load_batch(data, rows, draws, train_rows.max(1));
        if let (Some(index), false) = (elbo.inputs.row_index, free_ok) {
            session.exec_mut().input_mut(index.id).fill(0.0);
        }
        session.draw_noise(&mut rng, None);
        session.exec_mut().forward();
        let exec = session.exec();
        let m = rows.len();
        for i in 0..m {
            for &(symbol, value, gaussian) in &kept {
                let w = info.symbol(symbol).shape.width();
                for j in 0..w {
                    let (mean, sd) = match gaussian {
                        Some((loc, scale)) => (
                            f64::from(exec.value(loc)[i * w + j]),
                            f64::from(exec.value(scale)[i * w + j]),
                        ),
                        None => {
                            let v = exec.value(value);
                            let xs = (0..draws).map(|s| f64::from(v[(s * m + i) * w + j]));
                            mean_sd(xs, draws)
                        }
                    };
                    values.push(mean);
                    values.push(sd);
                }
            }
        }
    }
    Ok(Encoding {
        header,
        values,
        omitted,
        sampled,
    })
}

/// The mean and (n − 1) standard deviation of `n` values.
fn mean_sd(xs: impl Iterator<Item = f64> + Clone, n: usize) -> (f64, f64) {
    let mean = xs.clone().sum::<f64>() / n as f64;
    let var = xs.map(|x| (x - mean).powi(2)).sum::<f64>() / (n.max(2) - 1) as f64;
    (mean, var.sqrt())
}
