//! The step-size schedule and the stopping rule (SPEC section 4).
//!
//! With a fixed number of epochs the step size stays at `--lr`. Without one, training
//! watches the mean training ELBO over windows of steps: when a window fails to beat
//! the best window so far by more than its own Monte Carlo noise for `patience`
//! windows in a row, the step size halves; after `max_decays` halvings a further
//! plateau means the ELBO has converged. This is Stan's relative-tolerance rule made
//! robust to noise: a noisy plateau is never mistaken for progress, and the final small
//! steps let a stochastic optimizer settle on the optimum instead of circling it.

/// Why training stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    /// The requested number of epochs ran.
    Epochs,
    /// The ELBO stopped improving at the smallest step size.
    Converged,
    /// The step cap was reached before convergence.
    StepCap,
    /// A deterministic optimizer (DADVI) met its gradient or objective criterion.
    Optimum,
    /// The held-out ELBO stopped improving (early stopping).
    HeldOut,
}

impl StopReason {
    pub fn describe(self) -> &'static str {
        match self {
            StopReason::Epochs => "ran the requested epochs",
            StopReason::Converged => "the ELBO converged",
            StopReason::StepCap => "reached the step cap before the ELBO converged",
            StopReason::Optimum => "deterministic ADVI reached the optimum",
            StopReason::HeldOut => "the held-out ELBO stopped improving",
        }
    }
}

/// How long to train.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Budget {
    /// Exactly this many steps, at a constant step size.
    Steps(u64),
    /// Until convergence, or at most this many steps.
    UntilConverged { max_steps: u64, window: u64 },
}

#[derive(Debug, Clone)]
pub struct Schedule {
    budget: Budget,
    lr: f32,
    steps: u64,
    window_sum: f64,
    window_sq: f64,
    window_len: u64,
    best: f64,
    stale: u32,
    decays: u32,
}

/// Windows without progress before the step size halves.
const PATIENCE: u32 = 3;
/// Halvings before a plateau counts as convergence (the last step size is 1/64 of the first).
const MAX_DECAYS: u32 = 6;
/// Relative change of the windowed ELBO that counts as progress, as Stan's `tol_rel_obj`.
const REL_TOL: f64 = 1e-4;

impl Schedule {
    pub fn new(budget: Budget, lr: f32) -> Schedule {
        Schedule {
            budget,
            lr,
            steps: 0,
            window_sum: 0.0,
            window_sq: 0.0,
            window_len: 0,
            best: f64::NEG_INFINITY,
            stale: 0,
            decays: 0,
        }
    }

    /// The step size for the next step.
    pub fn lr(&self) -> f32 {
        self.lr
    }

    /// Halves the step size on a plateau that another rule detected (held-out rows).
    pub fn halve(&mut self) {
        self.decays += 1;
        self.lr *= 0.5;
    }

    pub fn decays(&self) -> u32 {
        self.decays
    }

    /// Records one step's ELBO estimate; says whether to stop.
    pub fn observe(&mut self, elbo: f64) -> Option<StopReason> {
        self.steps += 1;
        match self.budget {
            Budget::Steps(n) => (self.steps >= n).then_some(StopReason::Epochs),
            Budget::UntilConverged { max_steps, window } => {
                self.window_sum += elbo;
                self.window_sq += elbo * elbo;
                self.window_len += 1;
                if self.window_len >= window
                    && let Some(stop) = self.end_window()
                {
                    return Some(stop);
                }
                (self.steps >= max_steps).then_some(StopReason::StepCap)
            }
        }
    }

    fn end_window(&mut self) -> Option<StopReason> {
        let n = self.window_len as f64;
        let mean = self.window_sum / n;
        let var = (self.window_sq / n - mean * mean).max(0.0);
        // Two standard errors of the difference of two window means.
        let noise = 2.0 * (2.0 * var / n).sqrt();
        let margin = noise.max(REL_TOL * mean.abs());
        self.window_sum = 0.0;
        self.window_sq = 0.0;
        self.window_len = 0;
        if mean > self.best + margin || !self.best.is_finite() {
            self.best = mean;
            self.stale = 0;
            return None;
        }
        self.best = self.best.max(mean);
        self.stale += 1;
        if self.stale < PATIENCE {
            return None;
        }
        if self.decays >= MAX_DECAYS {
            return Some(StopReason::Converged);
        }
        self.decays += 1;
        self.stale = 0;
        self.lr *= 0.5;
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_budget_keeps_the_step_size() {
        let mut s = Schedule::new(Budget::Steps(3), 0.01);
        assert_eq!(s.observe(1.0), None);
        assert_eq!(s.observe(1.0), None);
        assert_eq!(s.observe(1.0), Some(StopReason::Epochs));
        assert_eq!(s.lr(), 0.01);
    }

    #[test]
    fn a_noisy_plateau_decays_then_converges() {
        let budget = Budget::UntilConverged {
            max_steps: 1_000_000,
            window: 10,
        };
        let mut s = Schedule::new(budget, 1.0);
        let mut stop = None;
        let mut step = 0u64;
        while stop.is_none() {
            // Rising for a while, then flat with alternating noise.
            let trend = (step as f64).min(200.0);
            let noise = if step.is_multiple_of(2) { 0.5 } else { -0.5 };
            stop = s.observe(trend + noise);
            step += 1;
        }
        assert_eq!(stop, Some(StopReason::Converged));
        assert_eq!(s.decays(), MAX_DECAYS);
        assert!((s.lr() - 1.0 / 64.0).abs() < 1e-9);
        assert!(step > 200 && step < 2000, "{step}");
    }

    #[test]
    fn the_step_cap_stops_a_run_that_keeps_improving() {
        let budget = Budget::UntilConverged {
            max_steps: 50,
            window: 10,
        };
        let mut s = Schedule::new(budget, 1.0);
        let stops: Vec<_> = (0..50).map(|i| s.observe(i as f64)).collect();
        assert_eq!(stops[49], Some(StopReason::StepCap));
        assert!(stops[..49].iter().all(Option::is_none));
    }
}
