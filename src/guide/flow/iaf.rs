//! The inverse autoregressive flow step (Kingma et al. 2016): a MADE (Germain et al.
//! 2015) with one hidden layer computes a shift `m` and a gate `s` for every variable
//! from the variables before it (and the row's context), and the step is the
//! numerically stable gated update z' = s·z + (1 − s)·m, s = sigmoid(ŝ), whose
//! Jacobian is triangular with log |det| = Σ log s.
//!
//! Masks: input j has degree j + 1 (reversed on odd steps, so the order alternates
//! between steps), hidden unit k degree (k mod (d − 1)) + 1, and output i the degree of
//! input i; a hidden unit sees inputs of degree at most its own, an output hidden units
//! of degree strictly below its own, so output i never depends on inputs of degree ≥
//! its own. The masks multiply dense weights elementwise (a `[d, H]` and an `[H, d]`
//! product per step, against the `[R, d]·[d, H]` GEMMs the step runs anyway), so no
//! masked-product op is needed. This file builds nodes only.

use crate::ir::{Graph, Init, NodeId, Unary};

use super::{Flow, Step, StepInputs, StepParam};

/// The MADE's hidden width on `d` variables: 4 units per variable (so that after
/// masking the later outputs still see several units per input), at least 16.
pub fn hidden_width(d: usize) -> usize {
    (4 * d).max(16)
}

/// The gate's initial bias: sigmoid(2) ≈ 0.88, so each step starts close to the
/// identity, as Kingma et al. recommend.
const GATE_BIAS: f32 = 2.0;

/// An IAF step with `hidden` MADE units (`None`: [`hidden_width`]).
pub struct Iaf {
    pub hidden: Option<usize>,
}

impl Iaf {
    fn hidden(&self, d: usize) -> usize {
        self.hidden.unwrap_or_else(|| hidden_width(d))
    }
}

impl Flow for Iaf {
    fn params(&self, d: usize) -> Vec<StepParam> {
        let h = self.hidden(d);
        let param = |suffix, rows, cols, init| StepParam {
            suffix,
            rows,
            cols,
            init,
        };
        vec![
            param(
                "w1",
                d,
                h,
                Init::Normal {
                    std: 1.0 / (d as f32).sqrt(),
                },
            ),
            param("b1", 1, h, Init::Const(0.0)),
            param("wm", h, d, Init::Normal { std: 0.01 }),
            param("bm", 1, d, Init::Const(0.0)),
            param("ws", h, d, Init::Normal { std: 0.01 }),
            param("bs", 1, d, Init::Const(GATE_BIAS)),
        ]
    }

    /// The encoder's context for IAF is as wide as the MADE's hidden layer.
    fn context_width(&self, d: usize) -> usize {
        self.hidden(d)
    }

    fn context_params(&self, d: usize, c: usize) -> Vec<StepParam> {
        vec![StepParam {
            suffix: "wc",
            rows: c,
            cols: self.hidden(d),
            init: Init::Normal {
                std: 1.0 / (c as f32).sqrt(),
            },
        }]
    }

    fn step(&self, graph: &mut Graph, z: NodeId, inputs: StepInputs<'_>) -> Step {
        let (&[w1, b1, wm, bm, ws, bs], context) = match (inputs.params, inputs.context) {
            ([w1, b1, wm, bm, ws, bs], None) => (&[*w1, *b1, *wm, *bm, *ws, *bs], None),
            ([w1, b1, wm, bm, ws, bs, wc], Some(c)) => {
                (&[*w1, *b1, *wm, *bm, *ws, *bs], Some((c, *wc)))
            }
            _ => panic!("internal: an IAF step has six parameters, and a seventh with context"),
        };
        let d = graph.shape(z).cols;
        let h = self.hidden(d);
        let (in_mask, out_mask) = masks(d, h, inputs.index % 2 == 1);
        let in_mask = graph.constant(d, h, in_mask);
        let out_mask = graph.constant(h, d, out_mask);

        let w1 = graph.mul(w1, in_mask);
        let pre = graph.matmul(z, w1);
        let mut pre = graph.add(pre, b1);
        if let Some((c, wc)) = context {
            let from_context = graph.matmul(c, wc);
            pre = graph.add(pre, from_context);
        }
        let hidden = graph.unary(Unary::Tanh, pre);
        let wm = graph.mul(wm, out_mask);
        let m = graph.matmul(hidden, wm);
        let m = graph.add(m, bm);
        let ws = graph.mul(ws, out_mask);
        let gate = graph.matmul(hidden, ws);
        let gate = graph.add(gate, bs);

        // z' = m + s·(z − m); log s = −softplus(−ŝ) without forming log(sigmoid).
        let s = graph.unary(Unary::Sigmoid, gate);
        let diff = graph.sub(z, m);
        let gated = graph.mul(s, diff);
        let z_next = graph.add(m, gated);
        let neg_gate = graph.unary(Unary::Neg, gate);
        let sp = graph.unary(Unary::Softplus, neg_gate);
        let sum_sp = graph.sum_cols(sp);
        let log_det = graph.unary(Unary::Neg, sum_sp);
        Step { z: z_next, log_det }
    }
}

/// The MADE's masks on `d` variables and `h` hidden units, row-major `[d, h]` and
/// `[h, d]`; `reversed` gives variable j the degree d − j instead of j + 1.
pub fn masks(d: usize, h: usize, reversed: bool) -> (Vec<f32>, Vec<f32>) {
    let degree = |j: usize| if reversed { d - j } else { j + 1 };
    let hidden = |k: usize| k % d.saturating_sub(1).max(1) + 1;
    let mut input = vec![0.0f32; d * h];
    let mut output = vec![0.0f32; h * d];
    for k in 0..h {
        for j in 0..d {
            if hidden(k) >= degree(j) {
                input[j * h + k] = 1.0;
            }
            if degree(j) > hidden(k) {
                output[k * d + j] = 1.0;
            }
        }
    }
    (input, output)
}
