//! The mathematical vocabulary shared by every stage: element types (supports), their
//! constrained-value transforms ([`transform`]), and the distribution families of the
//! language, each defined once in its own file and listed once in [`registry!`].
//!
//! A family's definition is a unit type implementing [`Definition`] (its [`Spec`]:
//! surface name, parameters with explicit domains, support, where it may be used, the
//! range of its data) and, for the elementwise families, [`Elementwise`] (log density
//! with its partials, generic over [`Real`], and its sampler). Everything else reads
//! these: `check` the spec, `ir` names a family by its small `Copy` id [`Family`], the
//! executor dispatches on that id once per node with [`for_elementwise!`] (a static
//! `match`, never `dyn`), `sample` draws through [`draw`].
//!
//! This module knows nothing about syntax; of graphs it knows only how to build the
//! transforms (in [`transform`]).

use std::fmt;

use rand::RngExt;
use rand::rngs::StdRng;
use rand_distr::{Distribution, StandardNormal};

use crate::autodiff::Real;

mod math;

pub(crate) mod bernoulli;
pub(crate) mod beta;
pub(crate) mod binomial;
pub mod categorical;
pub(crate) mod exponential;
pub(crate) mod gamma;
pub(crate) mod half_cauchy;
pub(crate) mod half_normal;
pub(crate) mod laplace;
pub(crate) mod log_normal;
pub(crate) mod negative_binomial;
pub(crate) mod normal;
pub(crate) mod poisson;
pub(crate) mod student_t;
pub mod transform;

/// Every family: its id (a variant of [`Family`]) and the type that defines it, the
/// elementwise ones first, then those over a row of parameters. Adding a family is one
/// file and one line here.
///
/// A callback registry: `registry!([path::to::macro] { args })` expands to
/// `path::to::macro! { { args } elementwise { .. } classes { .. } }`, so the enum, the
/// spec lookup and the executor's dispatch are all generated from this one list.
macro_rules! registry {
    ([$($callback:tt)*] { $($args:tt)* }) => {
        $($callback)*! { { $($args)* }
            elementwise {
                Normal => $crate::dist::normal::Normal,
                BernoulliProbs => $crate::dist::bernoulli::BernoulliProbs,
                BernoulliLogits => $crate::dist::bernoulli::BernoulliLogits,
                HalfNormal => $crate::dist::half_normal::HalfNormal,
                HalfCauchy => $crate::dist::half_cauchy::HalfCauchy,
                LogNormal => $crate::dist::log_normal::LogNormal,
                Exponential => $crate::dist::exponential::Exponential,
                Gamma => $crate::dist::gamma::Gamma,
                Beta => $crate::dist::beta::Beta,
                StudentT => $crate::dist::student_t::StudentT,
                Laplace => $crate::dist::laplace::Laplace,
                PoissonRate => $crate::dist::poisson::PoissonRate,
                PoissonLogRate => $crate::dist::poisson::PoissonLogRate,
                BinomialProbs => $crate::dist::binomial::BinomialProbs,
                BinomialLogits => $crate::dist::binomial::BinomialLogits,
                NegativeBinomial => $crate::dist::negative_binomial::NegativeBinomial,
            }
            classes {
                Categorical => $crate::dist::categorical::Categorical,
            }
        }
    };
}
pub(crate) use registry;

/// Defines [`Family`] from the registry.
macro_rules! define_families {
    ({} elementwise { $($e:ident => $edef:ty,)* } classes { $($c:ident => $cdef:ty,)* }) => {
        /// A distribution family with one fixed parameterization, named by a small `Copy`
        /// id so that graph operations can hold it. A surface name can map to more than
        /// one family (`Bernoulli(probs)` and `Bernoulli(logits = ..)`); the checker picks
        /// one from the argument names.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Family {
            $($e,)*
            $($c,)*
        }

        impl Family {
            /// Every family, in registry order (the elementwise ones first).
            pub const ALL: &'static [Family] = &[$(Family::$e,)* $(Family::$c,)*];

            /// The family's definition.
            pub fn spec(self) -> &'static Spec {
                match self {
                    $(Family::$e => &<$edef as Definition>::SPEC,)*
                    $(Family::$c => &<$cdef as Definition>::SPEC,)*
                }
            }

            /// Whether the family is elementwise: its parameters broadcast to the
            /// variable's size and it implements [`Elementwise`]. `Categorical` is not: its
            /// variable is a scalar class and its parameter a row of K logits.
            pub fn is_elementwise(self) -> bool {
                matches!(self, $(Family::$e)|*)
            }
        }
    };
}
registry!([define_families] {});

/// The `match` behind [`for_elementwise!`].
macro_rules! dispatch_elementwise {
    ({ $family:expr, $F:ident => $body:expr }
     elementwise { $($e:ident => $edef:ty,)* } classes { $($c:ident => $cdef:ty,)* }) => {
        match $family {
            $($crate::dist::Family::$e => {
                type $F = $edef;
                $body
            })*
            $($crate::dist::Family::$c => {
                unreachable!("internal: {} is not elementwise", stringify!($c))
            })*
        }
    };
}
pub(crate) use dispatch_elementwise;

/// Runs `$body` with the type `$F` bound to the definition of the elementwise family
/// `$family`: one arm per family, so that the executor's element loop inside `$body` is
/// monomorphized per family and the `match` runs once per node, not per element. The
/// body calls the [`Elementwise`] functions as `F::log_density(v)` (the trait must be in
/// scope).
macro_rules! for_elementwise {
    ($family:expr, $F:ident => $body:expr) => {
        $crate::dist::registry!([$crate::dist::dispatch_elementwise] { $family, $F => $body })
    };
}
pub(crate) use for_elementwise;

/// The definition of a family: what the checker and the CLI need to know.
pub trait Definition {
    const SPEC: Spec;
}

/// The numbers of an elementwise family. Every density is normalized (constants
/// included) and written to stay finite wherever the true value is finite.
///
/// Operands are `v = [value, p0, p1, p2]`: parameters in canonical order, unused slots
/// ignored (they hold a broadcast 1). Discrete families have no partial in the value
/// (slot 0 stays zero), and neither do parameters that [`Domain::Count`] makes data.
pub trait Elementwise: Definition {
    /// The log density.
    fn log_density<T: Real>(v: [T; 4]) -> T;
    /// The partials of [`Elementwise::log_density`] in `[value, p0, p1, p2]`.
    fn log_density_grad<T: Real>(v: [T; 4]) -> [T; 4];
    /// One draw at parameters `p` (unused slots zero). Parameters outside their domain,
    /// which a fitted model can produce, give NaN.
    fn draw(p: [f64; 3], base: Base, rng: &mut StdRng) -> f64;
}

/// The two draws every elementwise sample starts from, taken for every element before
/// the family's own draws (the order is part of what a seed reproduces).
#[derive(Debug, Clone, Copy)]
pub struct Base {
    /// A standard normal draw.
    pub normal: f64,
    /// A uniform draw in [0, 1).
    pub uniform: f64,
}

/// What a family is, as the checker sees it.
#[derive(Debug)]
pub struct Spec {
    /// The name a user writes.
    pub name: &'static str,
    /// The parameters in canonical (positional) order.
    pub params: &'static [Param],
    /// The element type a variable following the family must have.
    pub support: Elem,
    /// Whether it may be the prior of a `latent` or `global`: the reparameterized ELBO
    /// needs a continuous support.
    pub prior: bool,
    /// Whether it may be the likelihood of data.
    pub likelihood: bool,
    /// A bound on the data beyond the support, for the data reader.
    pub data_range: Option<DataRange>,
}

/// One parameter: its name and the set of values it may take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Param {
    pub name: &'static str,
    pub domain: Domain,
}

impl Param {
    pub const fn new(name: &'static str, domain: Domain) -> Param {
        Param { name, domain }
    }
}

/// A per-row bound on observed values that the support alone does not state, which the
/// data reader checks so that a bad value is a data error, not a panic or a NaN.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataRange {
    /// A class index: the value is below the number of columns of parameter `param`
    /// (`Categorical`: class < K, the number of logits).
    ClassBelowWidthOf { param: usize },
    /// A count out of a total: the value is at most parameter `param`
    /// (`Binomial`: count <= total_count).
    AtMost { param: usize },
}

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
    /// A positive whole number that is data, not fitted: a literal or `int` data
    /// (`Binomial`'s `total_count`). It has no partial.
    Count,
}

impl Domain {
    pub fn contains(self, value: f64) -> bool {
        match self {
            Domain::Real => transform::contains(Elem::Real, value),
            Domain::Positive => transform::contains(Elem::Positive, value),
            Domain::Probability => (0.0..=1.0).contains(&value),
            Domain::Count => transform::contains(Elem::Int, value) && value > 0.0,
        }
    }

    pub fn describe(self) -> &'static str {
        match self {
            Domain::Real => "a finite number",
            Domain::Positive => "greater than 0",
            Domain::Probability => "between 0 and 1",
            Domain::Count => "a whole number greater than 0",
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

impl Family {
    /// The name a user writes.
    pub fn surface_name(self) -> &'static str {
        self.spec().name
    }

    /// The families a surface name may denote, the positional (default) one first.
    pub fn by_surface_name(name: &str) -> Vec<Family> {
        Family::ALL
            .iter()
            .copied()
            .filter(|f| f.surface_name() == name)
            .collect()
    }

    /// The parameters in canonical (positional) order.
    pub fn params(self) -> &'static [Param] {
        self.spec().params
    }

    /// The parameter names in canonical order.
    pub fn param_names(self) -> Vec<&'static str> {
        self.params().iter().map(|p| p.name).collect()
    }

    /// The domain of the parameter at canonical position `index`.
    pub fn param_domain(self, index: usize) -> Domain {
        self.params()[index].domain
    }

    /// The support, which is the element type a variable following it must have.
    pub fn support(self) -> Elem {
        self.spec().support
    }

    /// Whether the family may be used as `use`.
    pub fn allows(self, use_: Use) -> bool {
        match use_ {
            Use::Likelihood => self.spec().likelihood,
            Use::Prior => self.spec().prior,
        }
    }

    /// A bound on observed values beyond the support, for the data reader.
    pub fn data_range(self) -> Option<DataRange> {
        self.spec().data_range
    }
}

impl fmt::Display for Family {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.surface_name())
    }
}

/// One draw from the elementwise `family` at parameters `p` in canonical order (unused
/// slots zero).
pub fn draw(family: Family, p: [f64; 3], rng: &mut StdRng) -> f64 {
    let normal: f64 = StandardNormal.sample(rng);
    let uniform: f64 = rng.random();
    let base = Base { normal, uniform };
    for_elementwise!(family, F => F::draw(p, base, rng))
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;

    use super::*;

    fn log_density(family: Family, v: [f64; 4]) -> f64 {
        for_elementwise!(family, F => F::log_density(v))
    }

    fn log_density_grad(family: Family, v: [f64; 4]) -> [f64; 4] {
        for_elementwise!(family, F => F::log_density_grad(v))
    }

    /// A value inside `domain`, away from its edges.
    fn inside(domain: Domain) -> f64 {
        match domain {
            Domain::Real => 0.7,
            Domain::Positive => 1.3,
            Domain::Probability => 0.3,
            Domain::Count => 6.0,
        }
    }

    /// A value inside `support`, away from its edges.
    fn value_in(support: Elem) -> f64 {
        match support {
            Elem::Real => -0.4,
            Elem::Bool => 1.0,
            Elem::Int => 2.0,
            Elem::Positive => 0.8,
            Elem::Unit => 0.35,
        }
    }

    /// `[value, p0, p1, p2]` inside every domain, unused slots 1 as in the executor.
    fn test_point(family: Family) -> [f64; 4] {
        let mut v = [value_in(family.support()), 1.0, 1.0, 1.0];
        for (slot, param) in v[1..].iter_mut().zip(family.params()) {
            *slot = inside(param.domain);
        }
        v
    }

    #[test]
    fn every_definition_is_complete_and_consistent() {
        let mut signatures = Vec::new();
        for &family in Family::ALL {
            let spec = family.spec();
            assert!(Family::by_surface_name(spec.name).contains(&family));
            // A parameterization is its surface name and its parameter names: two
            // families with the same ones could not be told apart by the checker.
            let signature = (spec.name, family.param_names());
            assert!(!signatures.contains(&signature), "{signature:?} twice");
            signatures.push(signature);
            let mut names = family.param_names();
            names.sort_unstable();
            names.dedup();
            assert_eq!(names.len(), spec.params.len(), "{family:?} repeats a name");
            assert!(!spec.params.is_empty());
            assert!(spec.prior || spec.likelihood, "{family:?} cannot be used");
            // The reparameterized ELBO needs a continuous sample.
            assert!(!spec.prior || spec.support.is_continuous(), "{family:?}");
            for param in spec.params {
                assert!(param.domain.contains(inside(param.domain)));
            }
            match spec.data_range {
                Some(DataRange::ClassBelowWidthOf { param } | DataRange::AtMost { param }) => {
                    assert!(param < spec.params.len());
                    assert_eq!(spec.support, Elem::Int);
                }
                None => {}
            }
            if !family.is_elementwise() {
                continue;
            }
            assert!(spec.params.len() <= 3, "{family:?}: more than 3 parameters");
            let v = test_point(family);
            let logp = log_density(family, v);
            let grad = log_density_grad(family, v);
            assert!(logp.is_finite(), "{family:?} at {v:?}: {logp}");
            // Every partial against a central difference, where one exists.
            for k in 0..=spec.params.len() {
                let differentiable = if k == 0 {
                    spec.support.is_continuous()
                } else {
                    spec.params[k - 1].domain != Domain::Count
                };
                if !differentiable {
                    assert_eq!(grad[k], 0.0, "{family:?} slot {k}");
                    continue;
                }
                let h = 1e-6;
                let (mut up, mut down) = (v, v);
                up[k] += h;
                down[k] -= h;
                let fd = (log_density(family, up) - log_density(family, down)) / (2.0 * h);
                assert!(
                    (fd - grad[k]).abs() < 1e-6 * fd.abs().max(1.0),
                    "{family:?} slot {k}: {} vs {fd}",
                    grad[k]
                );
            }
            // Draws lie in the support.
            let mut rng = StdRng::seed_from_u64(3);
            let p = [v[1], v[2], v[3]];
            for _ in 0..200 {
                let x = draw(family, p, &mut rng);
                assert!(transform::contains(spec.support, x), "{family:?} drew {x}");
            }
        }
        assert_eq!(
            Family::by_surface_name("Bernoulli"),
            vec![Family::BernoulliProbs, Family::BernoulliLogits]
        );
        assert_eq!(Family::Normal.param_domain(1), Domain::Positive);
        assert_eq!(Family::BernoulliLogits.param_domain(0), Domain::Real);
        assert_eq!(Family::BinomialLogits.param_domain(0), Domain::Count);
    }

    /// Every discrete family's probabilities sum to one at its test point.
    #[test]
    fn discrete_families_are_normalized() {
        for &family in Family::ALL {
            if !family.is_elementwise() || family.support().is_continuous() {
                continue;
            }
            let v = test_point(family);
            let last = match (family.support(), family.data_range()) {
                (Elem::Bool, _) => 1,
                (_, Some(DataRange::AtMost { param })) => v[param + 1] as u32,
                _ => 400,
            };
            let total: f64 = (0..=last)
                .map(|k| log_density(family, [f64::from(k), v[1], v[2], v[3]]).exp())
                .sum();
            assert!((total - 1.0).abs() < 1e-10, "{family:?}: {total}");
        }
    }

    #[test]
    fn subset_order_of_element_types() {
        assert!(Elem::Bool.is_subset_of(Elem::Int));
        assert!(Elem::Unit.is_subset_of(Elem::Real));
        assert!(!Elem::Real.is_subset_of(Elem::Positive));
        assert!(!Elem::Int.is_subset_of(Elem::Bool));
        assert!(!Family::PoissonRate.allows(Use::Prior));
        assert!(Family::Gamma.allows(Use::Prior));
        assert!(Family::StudentT.allows(Use::Prior));
    }
}
