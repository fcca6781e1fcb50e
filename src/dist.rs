//! The mathematical vocabulary shared by every stage: element types (supports) and the
//! distribution families of the language, with their parameters in canonical order.
//!
//! This module knows nothing about syntax or graphs. `check` uses it to validate
//! distribution calls, `lower` and `ir` use [`Family`] to name the fused log-density
//! operation a `~` statement becomes.

use std::fmt;

/// The element type of a value, which is also the support of a distribution.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Elem {
    /// Any float.
    Real,
    /// 0 or 1.
    Bool,
    /// A non-negative whole number (a count, or a class index).
    Int,
    /// Strictly greater than zero.
    Positive,
    /// Strictly between zero and one.
    Unit,
}

impl Elem {
    pub const ALL: [Elem; 5] = [
        Elem::Real,
        Elem::Bool,
        Elem::Int,
        Elem::Positive,
        Elem::Unit,
    ];

    /// The keyword that names this type in a `.vi` file.
    pub fn keyword(self) -> &'static str {
        match self {
            Elem::Real => "real",
            Elem::Bool => "bool",
            Elem::Int => "int",
            Elem::Positive => "positive",
            Elem::Unit => "unit",
        }
    }

    pub fn from_keyword(word: &str) -> Option<Elem> {
        Elem::ALL.into_iter().find(|e| e.keyword() == word)
    }

    /// Whether every value of `self` is also a value of `other`
    /// (`bool` ⊂ `int` ⊂ `real`, `unit` ⊂ `positive` ⊂ `real`).
    pub fn is_subset_of(self, other: Elem) -> bool {
        use Elem::*;
        self == other || matches!((self, other), (_, Real) | (Bool, Int) | (Unit, Positive))
    }

    /// Whether a value of this type is stored as a float that a latent can take in a
    /// continuous space (every type but `bool` and `int`).
    pub fn is_continuous(self) -> bool {
        matches!(self, Elem::Real | Elem::Positive | Elem::Unit)
    }
}

impl fmt::Display for Elem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.keyword())
    }
}

/// The set of values a distribution parameter may take, used to reject a literal
/// argument outside its domain (a negative scale) before any fitting starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Domain {
    Real,
    Positive,
    /// A probability: 0 <= p <= 1.
    Probability,
}

impl Domain {
    pub fn contains(self, value: f64) -> bool {
        match self {
            Domain::Real => value.is_finite(),
            Domain::Positive => value.is_finite() && value > 0.0,
            Domain::Probability => (0.0..=1.0).contains(&value),
        }
    }

    pub fn describe(self) -> &'static str {
        match self {
            Domain::Real => "a finite number",
            Domain::Positive => "greater than 0",
            Domain::Probability => "between 0 and 1",
        }
    }
}

/// Where a distribution may appear.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Use {
    /// On a `latent` or `global` (needs a reparameterizable, continuous support).
    Prior,
    /// On a `~` statement over data.
    Likelihood,
}

/// A distribution family with one fixed parameterization. A surface name can map to
/// more than one family (`Bernoulli(probs)` and `Bernoulli(logits = ..)`); the checker
/// picks one from the argument names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Family {
    Normal,
    BernoulliProbs,
    BernoulliLogits,
    HalfNormal,
    HalfCauchy,
    LogNormal,
    Exponential,
    Gamma,
    Beta,
    StudentT,
    Laplace,
    PoissonRate,
    PoissonLogRate,
    Categorical,
}

impl Family {
    pub const ALL: [Family; 14] = [
        Family::Normal,
        Family::BernoulliProbs,
        Family::BernoulliLogits,
        Family::HalfNormal,
        Family::HalfCauchy,
        Family::LogNormal,
        Family::Exponential,
        Family::Gamma,
        Family::Beta,
        Family::StudentT,
        Family::Laplace,
        Family::PoissonRate,
        Family::PoissonLogRate,
        Family::Categorical,
    ];

    /// The name a user writes.
    pub fn surface_name(self) -> &'static str {
        match self {
            Family::Normal => "Normal",
            Family::BernoulliProbs | Family::BernoulliLogits => "Bernoulli",
            Family::HalfNormal => "HalfNormal",
            Family::HalfCauchy => "HalfCauchy",
            Family::LogNormal => "LogNormal",
            Family::Exponential => "Exponential",
            Family::Gamma => "Gamma",
            Family::Beta => "Beta",
            Family::StudentT => "StudentT",
            Family::Laplace => "Laplace",
            Family::PoissonRate | Family::PoissonLogRate => "Poisson",
            Family::Categorical => "Categorical",
        }
    }

    /// The families a surface name may denote, the positional (default) one first.
    pub fn by_surface_name(name: &str) -> Vec<Family> {
        Family::ALL
            .into_iter()
            .filter(|f| f.surface_name() == name)
            .collect()
    }

    /// Parameter names in canonical (positional) order.
    pub fn params(self) -> &'static [&'static str] {
        match self {
            Family::Normal | Family::LogNormal | Family::Laplace => &["loc", "scale"],
            Family::BernoulliProbs => &["probs"],
            Family::BernoulliLogits | Family::Categorical => &["logits"],
            Family::HalfNormal | Family::HalfCauchy => &["scale"],
            Family::Exponential | Family::PoissonRate => &["rate"],
            Family::PoissonLogRate => &["log_rate"],
            Family::Gamma => &["concentration", "rate"],
            Family::Beta => &["a", "b"],
            Family::StudentT => &["df", "loc", "scale"],
        }
    }

    /// The domain of the parameter at canonical position `index`.
    pub fn param_domain(self, index: usize) -> Domain {
        match (self, self.params()[index]) {
            (Family::BernoulliProbs, _) => Domain::Probability,
            (_, "loc" | "logits" | "log_rate") => Domain::Real,
            _ => Domain::Positive,
        }
    }

    /// The support, which is the element type a variable following it must have.
    pub fn support(self) -> Elem {
        match self {
            Family::Normal | Family::StudentT | Family::Laplace => Elem::Real,
            Family::BernoulliProbs | Family::BernoulliLogits => Elem::Bool,
            Family::HalfNormal
            | Family::HalfCauchy
            | Family::LogNormal
            | Family::Exponential
            | Family::Gamma => Elem::Positive,
            Family::Beta => Elem::Unit,
            Family::PoissonRate | Family::PoissonLogRate | Family::Categorical => Elem::Int,
        }
    }

    /// Whether the family may be used as `use`. Discrete families cannot be priors of
    /// latents: the reparameterized ELBO needs a continuous sample.
    pub fn allows(self, use_: Use) -> bool {
        match use_ {
            Use::Likelihood => true,
            Use::Prior => self.support().is_continuous(),
        }
    }

    /// `Categorical` draws one class index from a vector of logits: its variable is a
    /// scalar while its parameter is a vector of K logits. Every other family is
    /// elementwise, its parameters broadcasting to the variable's size.
    pub fn is_elementwise(self) -> bool {
        self != Family::Categorical
    }
}

impl fmt::Display for Family {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.surface_name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_family_has_its_domains_and_a_surface_name() {
        for family in Family::ALL {
            assert!(Family::by_surface_name(family.surface_name()).contains(&family));
            for i in 0..family.params().len() {
                let _ = family.param_domain(i);
            }
        }
        assert_eq!(
            Family::by_surface_name("Bernoulli"),
            vec![Family::BernoulliProbs, Family::BernoulliLogits]
        );
        assert_eq!(Family::Normal.param_domain(1), Domain::Positive);
        assert_eq!(Family::BernoulliLogits.param_domain(0), Domain::Real);
    }

    #[test]
    fn subset_order_of_element_types() {
        assert!(Elem::Bool.is_subset_of(Elem::Int));
        assert!(Elem::Unit.is_subset_of(Elem::Real));
        assert!(!Elem::Real.is_subset_of(Elem::Positive));
        assert!(!Elem::Int.is_subset_of(Elem::Bool));
        assert!(!Family::PoissonRate.allows(Use::Prior));
        assert!(Family::Gamma.allows(Use::Prior));
    }
}
