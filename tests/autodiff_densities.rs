//! Log densities, KL, lnΓ, ψ and the fast `f32` tanh against independent closed-form
//! numbers written here, including extreme arguments that must stay finite and exact.

use std::f64::consts::{LN_2, PI};

use vic::autodiff::special::{digamma, ln_gamma};
use vic::autodiff::{Executor, Real, exp_f32, ln_f32, tanh_f32};
use vic::dist::Family;
use vic::ir::{Graph, InputId, Shape};

const HALF_LN_2PI: f64 = 0.918_938_533_204_672_8;
const EULER: f64 = 0.577_215_664_901_532_9;

/// Evaluates `family`'s log density at scalar arguments, in executor type `T`.
fn logp_in<T: Real>(family: Family, x: f64, params: &[f64]) -> T {
    let mut g = Graph::new();
    let value = g.input("x", Shape::SCALAR, false);
    let ps: Vec<_> = (0..params.len())
        .map(|i| g.input(format!("p{i}"), Shape::SCALAR, false))
        .collect();
    let y = g.log_density(family, value, &ps);
    let mut exec = Executor::<T>::new(g, 1);
    for (i, &v) in std::iter::once(&x).chain(params).enumerate() {
        exec.input_mut(InputId(i as u32))[0] = T::from_f64(v);
    }
    exec.forward();
    exec.value(y)[0]
}

fn logp(family: Family, x: f64, params: &[f64]) -> f64 {
    logp_in::<f64>(family, x, params)
}

#[track_caller]
fn close(got: f64, want: f64) {
    assert!(
        (got - want).abs() <= 1e-12 * want.abs().max(1.0),
        "got {got}, want {want}"
    );
}

#[test]
fn continuous_densities_match_closed_forms() {
    close(logp(Family::Normal, 0.0, &[0.0, 1.0]), -HALF_LN_2PI);
    close(
        logp(Family::Normal, 3.0, &[1.0, 2.0]),
        -0.5 - LN_2 - HALF_LN_2PI,
    );
    close(
        logp(Family::HalfNormal, 1.0, &[1.0]),
        LN_2 - 0.5 - HALF_LN_2PI,
    );
    close(
        logp(Family::HalfCauchy, 1.0, &[2.0]),
        (2.0 / PI).ln() + LN_2 - 5f64.ln(),
    );
    close(
        logp(Family::LogNormal, 1f64.exp(), &[0.0, 1.0]),
        -1.0 - 0.5 - HALF_LN_2PI,
    );
    close(logp(Family::Exponential, 1.0, &[2.0]), LN_2 - 2.0);
    close(
        logp(Family::Gamma, 0.5, &[2.0, 3.0]),
        2.0 * 3f64.ln() - LN_2 - 1.5,
    );
    // Beta(2, 3): x (1 − x)² / B(2, 3) with B(2, 3) = 1/12.
    close(
        logp(Family::Beta, 0.4, &[2.0, 3.0]),
        (12.0f64 * 0.4 * 0.36).ln(),
    );
    // StudentT with one degree of freedom is the Cauchy distribution.
    close(
        logp(Family::StudentT, 2.0, &[1.0, 0.0, 1.0]),
        -(5.0 * PI).ln(),
    );
    close(
        logp(Family::StudentT, 3.0, &[1.0, 1.0, 2.0]),
        -(4.0 * PI).ln(),
    );
    close(logp(Family::Laplace, 0.0, &[1.0, 2.0]), -(4f64.ln()) - 0.5);
}

#[test]
fn discrete_densities_match_closed_forms() {
    let poisson = 2.0 * 3f64.ln() - 3.0 - LN_2;
    close(logp(Family::PoissonRate, 2.0, &[3.0]), poisson);
    close(logp(Family::PoissonLogRate, 2.0, &[3f64.ln()]), poisson);
    close(logp(Family::BernoulliProbs, 1.0, &[0.3]), 0.3f64.ln());
    close(logp(Family::BernoulliProbs, 0.0, &[0.3]), 0.7f64.ln());
    close(logp(Family::BernoulliLogits, 1.0, &[0.0]), -LN_2);
}

#[test]
fn bernoulli_stays_finite_and_exact_at_the_edges() {
    close(logp(Family::BernoulliProbs, 0.0, &[0.0]), 0.0);
    close(logp(Family::BernoulliProbs, 1.0, &[1.0]), 0.0);
    for logit in [100.0, -100.0] {
        close(
            logp(Family::BernoulliLogits, 1.0, &[logit]),
            -(-logit).max(0.0),
        );
        close(
            logp(Family::BernoulliLogits, 0.0, &[logit]),
            -logit.max(0.0),
        );
        for x in [0.0, 1.0] {
            let f32_value = logp_in::<f32>(Family::BernoulliLogits, x, &[logit]);
            assert!(f32_value.is_finite());
            assert!(
                (f64::from(f32_value) - logp(Family::BernoulliLogits, x, &[logit])).abs() < 1e-4
            );
        }
    }
}

/// scipy.stats.binom.logpmf(k, n, p) = ln C(n, k) + k ln p + (n − k) ln(1 − p).
#[test]
fn binomial_matches_its_closed_form_in_both_parameterizations() {
    // C(10, 3) = 120.
    let want = 120f64.ln() + 3.0 * 0.3f64.ln() + 7.0 * 0.7f64.ln();
    close(logp(Family::BinomialProbs, 3.0, &[10.0, 0.3]), want);
    close(
        logp(Family::BinomialLogits, 3.0, &[10.0, (0.3f64 / 0.7).ln()]),
        want,
    );
    // C(4, 4) p⁴ and C(4, 0) (1 − p)⁴.
    close(logp(Family::BinomialProbs, 4.0, &[4.0, 0.5]), -4.0 * LN_2);
    close(
        logp(Family::BinomialLogits, 0.0, &[4.0, 2.0]),
        -4.0 * (1.0 + 2f64.exp()).ln(),
    );
}

/// At p = 0 and p = 1 the sure outcomes have probability one, without `0 · ln 0`
/// NaNs, and extreme logits stay finite in f32 too.
#[test]
fn binomial_stays_finite_and_exact_at_the_edges() {
    close(logp(Family::BinomialProbs, 0.0, &[6.0, 0.0]), 0.0);
    close(logp(Family::BinomialProbs, 6.0, &[6.0, 1.0]), 0.0);
    assert_eq!(
        logp(Family::BinomialProbs, 1.0, &[6.0, 0.0]),
        f64::NEG_INFINITY
    );
    for logit in [80.0, -80.0] {
        let sure = if logit > 0.0 { 6.0 } else { 0.0 };
        let single = logp_in::<f32>(Family::BinomialLogits, sure, &[6.0, logit]);
        assert!(single.is_finite() && single.abs() < 1e-4, "{single}");
        let other = logp_in::<f32>(Family::BinomialLogits, 6.0 - sure, &[6.0, logit]);
        assert!(other.is_finite(), "{other}");
        close(
            logp(Family::BinomialLogits, 6.0 - sure, &[6.0, logit]),
            -6.0 * logit.abs() - 6.0 * (-logit.abs()).exp().ln_1p(),
        );
    }
}

/// scipy.stats.nbinom.logpmf(k, n = φ, p = φ / (φ + μ)): the NB2 form.
#[test]
fn negative_binomial_matches_its_closed_form() {
    // Γ(7) / (Γ(3) Γ(5)) = 15; (3/5)³ (2/5)⁴.
    close(
        logp(Family::NegativeBinomial, 4.0, &[2.0, 3.0]),
        (15.0f64 * 0.216 * 0.0256).ln(),
    );
    // Concentration 1 is the geometric distribution: (1/(1+μ)) (μ/(1+μ))^k.
    close(
        logp(Family::NegativeBinomial, 3.0, &[2.0, 1.0]),
        (8.0f64 / 81.0).ln(),
    );
    close(
        logp(Family::NegativeBinomial, 0.0, &[2.0, 1.0]),
        -(3f64.ln()),
    );
    // A huge concentration is Poisson(mean), with no catastrophic cancellation.
    let poisson = 2.0 * 3f64.ln() - 3.0 - LN_2;
    let near = logp(Family::NegativeBinomial, 2.0, &[3.0, 1e9]);
    assert!((near - poisson).abs() < 1e-8, "{near} vs {poisson}");
    let single = logp_in::<f32>(Family::NegativeBinomial, 2.0, &[3.0, 1e9]);
    assert!((f64::from(single) - poisson).abs() < 1e-4, "{single}");
}

/// Categorical log probabilities of class `class` under `logits`.
fn categorical(logits: &[f64], class: f64) -> f64 {
    let mut g = Graph::new();
    let value = g.input("c", Shape::SCALAR, false);
    let l = g.input("l", Shape::fixed(1, logits.len()), false);
    let y = g.log_density(Family::Categorical, value, &[l]);
    let mut exec = Executor::<f64>::new(g, 1);
    exec.input_mut(InputId(0))[0] = class;
    exec.input_mut(InputId(1)).copy_from_slice(logits);
    exec.forward();
    exec.value(y)[0]
}

#[test]
fn categorical_is_a_stable_log_softmax() {
    let lse = (1f64.exp() + 2f64.exp() + 3f64.exp()).ln();
    close(categorical(&[1.0, 2.0, 3.0], 2.0), 3.0 - lse);
    close(categorical(&[1.0, 2.0, 3.0], 0.0), 1.0 - lse);
    close(categorical(&[1000.0, 0.0], 1.0), -1000.0);
    close(categorical(&[1000.0, 0.0], 0.0), 0.0);
}

#[test]
fn kl_of_normals() {
    let kl = |v: [f64; 4]| {
        let mut g = Graph::new();
        let ins: Vec<_> = (0..4)
            .map(|i| g.input(format!("a{i}"), Shape::SCALAR, false))
            .collect();
        let y = g.kl_normal(ins[0], ins[1], ins[2], ins[3]);
        let mut exec = Executor::<f64>::new(g, 1);
        for (i, x) in v.iter().enumerate() {
            exec.input_mut(InputId(i as u32))[0] = *x;
        }
        exec.forward();
        exec.value(y)[0]
    };
    close(kl([0.0, 1.0, 0.0, 1.0]), 0.0);
    close(kl([1.0, 2.0, 0.0, 1.0]), 2.0 - LN_2);
}

#[test]
fn log_gamma_at_known_points() {
    close(ln_gamma(1.0), 0.0);
    close(ln_gamma(2.0), 0.0);
    close(ln_gamma(0.5), 0.5 * PI.ln());
    close(ln_gamma(10.0), 362_880f64.ln());
    close(ln_gamma(0.1), 2.252_712_651_734_206);
    close(ln_gamma(100.0), 359.134_205_369_575_4);
}

#[test]
fn digamma_at_known_points() {
    close(digamma(1.0), -EULER);
    close(digamma(2.0), 1.0 - EULER);
    close(digamma(0.5), -EULER - 2.0 * LN_2);
    close(digamma(10.0), 2.251_752_589_066_721);
    close(digamma(0.1), -10.423_754_940_411_076);
    // ψ is the derivative of lnΓ.
    for x in [0.3, 1.7, 4.2, 25.0] {
        let h = 1e-5;
        let numeric = (ln_gamma(x + h) - ln_gamma(x - h)) / (2.0 * h);
        assert!((numeric - digamma(x)).abs() < 1e-8, "ψ({x})");
    }
}

#[test]
fn fast_tanh_is_accurate_in_f32() {
    let mut worst: f64 = 0.0;
    for i in -200_000..=200_000 {
        let x = i as f32 * 1e-4;
        let want = f64::from(x).tanh();
        let got = f64::from(tanh_f32(x));
        let err = if want == 0.0 {
            got.abs()
        } else {
            ((got - want) / want).abs()
        };
        worst = worst.max(err);
    }
    assert!(worst < 1e-6, "worst relative error {worst}");
    assert_eq!(tanh_f32(50.0), 1.0);
    assert_eq!(tanh_f32(-50.0), -1.0);
    assert!(tanh_f32(1e-30) > 0.0);
}

#[test]
fn fast_exp_and_softplus_are_accurate_in_f32() {
    let mut worst_exp: f64 = 0.0;
    let mut worst_softplus: f64 = 0.0;
    for i in -80_000..=80_000 {
        let x = i as f32 * 1e-3;
        let want = f64::from(x).exp();
        worst_exp = worst_exp.max(((f64::from(exp_f32(x)) - want) / want).abs());
        let want = f64::from(x).max(0.0) + (-f64::from(x).abs()).exp().ln_1p();
        let got = f64::from(x.softplus());
        worst_softplus = worst_softplus.max((got - want).abs() / want.max(1.0));
    }
    assert!(worst_exp < 1e-6, "exp: worst relative error {worst_exp}");
    assert!(
        worst_softplus < 1e-6,
        "softplus: worst error {worst_softplus}"
    );
    assert_eq!(exp_f32(-200.0), 0.0_f32.max(exp_f32(-200.0)));
    assert!(exp_f32(-200.0) < 1e-37);
    for x in [1e-30_f32, 0.5, 1.0, 2.0, 1e30] {
        let want = f64::from(x).ln();
        assert!(
            (f64::from(ln_f32(x)) - want).abs() <= 1e-6 * want.abs().max(1.0),
            "ln({x})"
        );
    }
}
