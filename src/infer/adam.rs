//! Adam (Kingma & Ba 2015) over one flat parameter vector, ascending the objective.
//!
//! The optimizer's state is two vectors the size of the parameters, allocated once; a
//! step touches each element once and allocates nothing.

/// Adam's state and hyper-parameters.
#[derive(Debug, Clone)]
pub struct Adam {
    beta1: f32,
    beta2: f32,
    eps: f32,
    m: Vec<f32>,
    v: Vec<f32>,
    steps: u64,
}

impl Adam {
    /// Adam with the usual β1 = 0.9, β2 = 0.999, ε = 1e-8 for `len` parameters.
    pub fn new(len: usize) -> Adam {
        Adam {
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            m: vec![0.0; len],
            v: vec![0.0; len],
            steps: 0,
        }
    }

    pub fn steps(&self) -> u64 {
        self.steps
    }

    /// Moves `params` up the gradient `grads` with step size `lr`.
    pub fn ascend(&mut self, params: &mut [f32], grads: &[f32], lr: f32) {
        debug_assert_eq!(params.len(), self.m.len());
        debug_assert_eq!(grads.len(), self.m.len());
        self.steps += 1;
        let t = self.steps.min(i32::MAX as u64) as i32;
        let c1 = 1.0 - self.beta1.powi(t);
        let c2 = 1.0 - self.beta2.powi(t);
        // Fold both bias corrections into the step size (the form of Kingma & Ba's
        // Algorithm 1, end of section 2).
        let step = lr * c2.sqrt() / c1;
        let eps = self.eps * c2.sqrt();
        let c = Coefficients {
            b1: self.beta1,
            b2: self.beta2,
            step,
            eps,
        };
        crate::autodiff::isa::adam(params, grads, &mut self.m, &mut self.v, c);
    }
}

/// One step's scalars: the decay rates and the bias-corrected step size and ε.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Coefficients {
    b1: f32,
    b2: f32,
    step: f32,
    eps: f32,
}

/// The element loop of [`Adam::ascend`], inlined into each instruction-set path of
/// [`crate::autodiff::isa`].
#[inline(always)]
pub(crate) fn update(
    params: &mut [f32],
    grads: &[f32],
    m: &mut [f32],
    v: &mut [f32],
    c: Coefficients,
) {
    let Coefficients { b1, b2, step, eps } = c;
    for (((p, &g), m), v) in params
        .iter_mut()
        .zip(grads)
        .zip(m.iter_mut())
        .zip(v.iter_mut())
    {
        *m = b1 * *m + (1.0 - b1) * g;
        *v = b2 * *v + (1.0 - b2) * g * g;
        *p += step * *m / (v.sqrt() + eps);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_step_moves_each_parameter_by_the_learning_rate() {
        let mut adam = Adam::new(2);
        let mut p = [0.0f32, 1.0];
        adam.ascend(&mut p, &[3.0, -0.5], 0.1);
        assert!(
            (p[0] - 0.1).abs() < 1e-6 && (p[1] - 0.9).abs() < 1e-6,
            "{p:?}"
        );
    }

    #[test]
    fn climbs_a_concave_quadratic_to_its_top() {
        let mut adam = Adam::new(1);
        let mut p = [5.0f32];
        for _ in 0..2000 {
            let g = [-2.0 * (p[0] - 1.5)];
            adam.ascend(&mut p, &g, 0.05);
        }
        assert!((p[0] - 1.5).abs() < 1e-2, "{p:?}");
    }
}
