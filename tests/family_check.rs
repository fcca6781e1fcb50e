//! The checker on the families added through `src/dist/`: Binomial's `total_count` must
//! be a whole number (a literal or `int` data), Binomial and NegativeBinomial are
//! likelihoods only, StudentT is accepted as a prior, and `vic check`'s summary names
//! the parameters in canonical order.

use vic::check::check;
use vic::diag::render_all;
use vic::dist::{Family, Use};
use vic::syntax::parse;

/// The rendered errors of `source`, or the empty string if it checks.
fn errors(source: &str) -> String {
    let model = parse(source).unwrap();
    match check(&model) {
        Ok(_) => String::new(),
        Err(diagnostics) => render_all("m.vi", source, &diagnostics),
    }
}

#[test]
fn binomial_takes_a_literal_or_int_data_total() {
    for ok in [
        "data n: int\ndata k: int\nglobal b: real ~ Normal(0, 1)\nk ~ Binomial(n, logits = b)\n",
        "data k: int\nglobal p: unit ~ Beta(1, 1)\nk ~ Binomial(12, p)\n",
        "data k: int\nglobal p: unit ~ Beta(1, 1)\nk ~ Binomial(total_count = 3, probs = p)\n",
    ] {
        assert_eq!(errors(ok), "", "{ok}");
    }
    let real_total = errors(
        "data n: real\ndata k: int\nglobal b: real ~ Normal(0, 1)\nk ~ Binomial(n, logits = b)\n",
    );
    assert!(
        real_total.contains("the `total_count` of `Binomial` must be a whole number greater than 0: a number or `int` data, but is `n`")
            && real_total.contains("4:14"),
        "{real_total}"
    );
    let fitted_total =
        errors("data k: int\nglobal t: positive ~ Gamma(2, 1)\nk ~ Binomial(t, 0.5)\n");
    assert!(fitted_total.contains("but is `t`"), "{fitted_total}");
    let fraction = errors("data k: int\nk ~ Binomial(2.5, 0.5)\n");
    assert!(
        fraction.contains(
            "the `total_count` of `Binomial` must be a whole number greater than 0, but is 2.5"
        ),
        "{fraction}"
    );
    let probability = errors("data k: int\nk ~ Binomial(4, 1.5)\n");
    assert!(
        probability.contains("must be between 0 and 1"),
        "{probability}"
    );
}

#[test]
fn count_families_are_likelihoods_over_int_data() {
    let on_real = errors("data y: real\ny ~ NegativeBinomial(2, 1)\n");
    assert!(
        on_real.contains("`NegativeBinomial` is a distribution over `int`, but `y` is `real` data"),
        "{on_real}"
    );
    let prior = errors("data y: int\nglobal k: int ~ Binomial(5, 0.5)\ny ~ Poisson(3)\n");
    assert!(
        prior.contains("discrete globals are not supported"),
        "{prior}"
    );
    let negative = errors("data y: int\ny ~ NegativeBinomial(2, -1)\n");
    assert!(
        negative.contains("the `concentration` of `NegativeBinomial` must be greater than 0"),
        "{negative}"
    );
    for family in [
        Family::BinomialProbs,
        Family::BinomialLogits,
        Family::NegativeBinomial,
    ] {
        assert!(family.allows(Use::Likelihood) && !family.allows(Use::Prior));
    }
}

#[test]
fn student_t_is_a_prior_of_globals_and_latents() {
    let model = "data y: real\nglobal m: real ~ StudentT(3, 0, 1)\nlatent z: real ~ StudentT(4, m, 2)\ny ~ Normal(z, 1)\n";
    assert_eq!(errors(model), "");
    let positive =
        errors("data y: real\nglobal s: positive ~ StudentT(3, 0, 1)\ny ~ Normal(0, s)\n");
    assert!(
        positive.contains("`StudentT` has support `real`"),
        "{positive}"
    );
}

#[test]
fn unknown_distributions_list_the_new_families() {
    let listed = errors("data y: int\ny ~ Qwertyuiop(2)\n");
    for name in ["Binomial", "NegativeBinomial", "StudentT"] {
        assert!(listed.contains(&format!("`{name}`")), "{listed}");
    }
    let near = errors("data y: int\ny ~ NegativeBinomal(2, 1)\n");
    assert!(near.contains("did you mean `NegativeBinomial`?"), "{near}");
}
