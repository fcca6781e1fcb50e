//! A finite-difference gradient checker, for single operations and whole models alike.
//!
//! It compares [`Executor::backward`] against central differences in `f64`, element by
//! element, for every parameter and every differentiable input. The scalar checked is
//! the sum of the output node's elements, which is what `backward` differentiates.
//! It allocates freely: it is a test instrument, not part of training.

use thiserror::Error;

use super::Executor;
use crate::ir::{InputId, NodeId};

/// Step and acceptance thresholds: `|analytic − numeric| <= abs + rel · max(|analytic|,
/// |numeric|)`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Tolerance {
    pub step: f64,
    pub rel: f64,
    pub abs: f64,
}

impl Default for Tolerance {
    fn default() -> Self {
        Tolerance {
            step: 1e-6,
            rel: 1e-6,
            abs: 1e-8,
        }
    }
}

/// The first element whose gradient disagrees with central differences.
#[derive(Debug, Clone, PartialEq, Error)]
#[error("gradient wrt `{wrt}`[{index}]: backward gives {analytic}, central differences {numeric}")]
pub struct GradientMismatch {
    /// The parameter or input name.
    pub wrt: String,
    /// The element's index within it (row-major).
    pub index: usize,
    pub analytic: f64,
    pub numeric: f64,
}

/// Checks every gradient of `sum(output)` at the executor's current parameters, inputs
/// and noise, and returns how many elements were compared. The executor is left with
/// its original values, forwarded once more.
pub fn check_gradients(
    exec: &mut Executor<f64>,
    output: NodeId,
    tol: Tolerance,
) -> Result<usize, GradientMismatch> {
    let objective = |exec: &mut Executor<f64>| {
        exec.forward();
        exec.value(output).iter().sum::<f64>()
    };
    exec.forward();
    exec.backward(output);
    let graph = exec.graph().clone();
    let mut checked = 0;
    let compare = |wrt: &str, index: usize, analytic: f64, numeric: f64| {
        let bound = tol.abs + tol.rel * analytic.abs().max(numeric.abs());
        if (analytic - numeric).abs() <= bound {
            Ok(())
        } else {
            Err(GradientMismatch {
                wrt: wrt.to_string(),
                index,
                analytic,
                numeric,
            })
        }
    };
    let param_grads = exec.param_grads().to_vec();
    for (p, info) in graph.params().iter().enumerate() {
        let range = exec.param_range(crate::ir::ParamId(p as u32));
        for (index, i) in range.enumerate() {
            let numeric = central(exec, tol.step, |e| &mut e.params_mut()[i], objective);
            compare(&info.name, index, param_grads[i], numeric)?;
            checked += 1;
        }
    }
    for (n, info) in graph.inputs().iter().enumerate() {
        if !info.differentiable {
            continue;
        }
        let id = InputId(n as u32);
        let grads = exec.grad(info.node).to_vec();
        for (index, &analytic) in grads.iter().enumerate() {
            let numeric = central(exec, tol.step, |e| &mut e.input_mut(id)[index], objective);
            compare(&info.name, index, analytic, numeric)?;
            checked += 1;
        }
    }
    exec.forward();
    Ok(checked)
}

/// `(f(x + h) − f(x − h)) / 2h` for the element `slot` selects, restored afterwards.
fn central(
    exec: &mut Executor<f64>,
    h: f64,
    slot: impl Fn(&mut Executor<f64>) -> &mut f64,
    f: impl Fn(&mut Executor<f64>) -> f64,
) -> f64 {
    let x = *slot(exec);
    *slot(exec) = x + h;
    let up = f(exec);
    *slot(exec) = x - h;
    let down = f(exec);
    *slot(exec) = x;
    (up - down) / (2.0 * h)
}
