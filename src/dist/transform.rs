//! Constrained values, in one place: which numbers each element type holds, and the
//! bijection from the unconstrained line onto each continuous type (ADVI's transforms:
//! identity for `real`, exp for `positive`, sigmoid for `unit`) with its inverse and
//! log|Jacobian|, both as scalar functions and as graph builders.
//!
//! `lower` stores `param`s unconstrained through [`Transform::storage_name`] and
//! [`Transform::inverse`], the guide maps its samples with [`Transform::forward_graph`]
//! and [`Transform::log_jacobian_graph`], and the checker and the data reader decide
//! membership with [`contains`]. Nothing here reads syntax or data files.

use super::Elem;
use crate::autodiff::Real;
use crate::ir::{Graph, NodeId, Unary};

/// The largest whole number below which every `int` is exact in an `f32`: 2²⁴.
const F32_EXACT_INTS: f64 = 16_777_216.0;

/// Whether `value` is a value of `elem`: finite, and `bool` 0 or 1, `int` a whole
/// number >= 0 that an `f32` holds exactly, `positive` > 0, `unit` strictly inside
/// (0, 1).
pub fn contains(elem: Elem, value: f64) -> bool {
    value.is_finite()
        && match elem {
            Elem::Real => true,
            Elem::Bool => value == 0.0 || value == 1.0,
            Elem::Int => value >= 0.0 && value.fract() == 0.0 && value < F32_EXACT_INTS,
            Elem::Positive => value > 0.0,
            Elem::Unit => value > 0.0 && value < 1.0,
        }
}

/// The bijection z = f(u) from an unconstrained u onto an element type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transform {
    /// `real`: z = u. Discrete types, which are never unconstrained, map here too.
    Identity,
    /// `positive`: z = exp(u), u = ln z.
    Exp,
    /// `unit`: z = σ(u), u = logit z.
    Sigmoid,
}

impl Transform {
    /// The transform onto `elem`.
    pub fn of(elem: Elem) -> Transform {
        match elem {
            Elem::Positive => Transform::Exp,
            Elem::Unit => Transform::Sigmoid,
            Elem::Real | Elem::Bool | Elem::Int => Transform::Identity,
        }
    }

    /// The name of the graph parameter holding `name` unconstrained: the suffix says
    /// which coordinate is stored (`scale.log`, `p.logit`), so fit files are explicit.
    pub fn storage_name(self, name: &str) -> String {
        match self {
            Transform::Identity => name.to_string(),
            Transform::Exp => format!("{name}.log"),
            Transform::Sigmoid => format!("{name}.logit"),
        }
    }

    /// z = f(u).
    pub fn forward<T: Real>(self, u: T) -> T {
        match self {
            Transform::Identity => u,
            Transform::Exp => u.exp(),
            Transform::Sigmoid => u.sigmoid(),
        }
    }

    /// u = f⁻¹(z), for z inside the type ([`contains`]).
    pub fn inverse<T: Real>(self, z: T) -> T {
        match self {
            Transform::Identity => z,
            Transform::Exp => z.ln(),
            Transform::Sigmoid => (z / (T::ONE - z)).ln(),
        }
    }

    /// ln |dz/du| at u.
    pub fn log_jacobian<T: Real>(self, u: T) -> T {
        match self {
            Transform::Identity => T::ZERO,
            Transform::Exp => u,
            // ln σ(u) + ln(1 − σ(u)) = −softplus(−u) − softplus(u).
            Transform::Sigmoid => -((-u).softplus() + u.softplus()),
        }
    }

    /// The graph of z = f(u) (`u` itself for the identity).
    pub fn forward_graph(self, graph: &mut Graph, u: NodeId) -> NodeId {
        match self {
            Transform::Identity => u,
            Transform::Exp => graph.unary(Unary::Exp, u),
            Transform::Sigmoid => graph.unary(Unary::Sigmoid, u),
        }
    }

    /// The graph of Σ_columns ln |dz/du| per row of `u` (`[R, 1]`), `None` for the
    /// identity, whose log-Jacobian is zero.
    pub fn log_jacobian_graph(self, graph: &mut Graph, u: NodeId) -> Option<NodeId> {
        match self {
            Transform::Identity => None,
            Transform::Exp => Some(graph.sum_cols(u)),
            Transform::Sigmoid => {
                let neg_u = graph.unary(Unary::Neg, u);
                let a = graph.unary(Unary::Softplus, neg_u);
                let b = graph.unary(Unary::Softplus, u);
                let sum = graph.add(a, b);
                let per_row = graph.sum_cols(sum);
                Some(graph.unary(Unary::Neg, per_row))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::autodiff::Executor;
    use crate::ir::{InputId, Shape};

    const CONTINUOUS: [Elem; 3] = [Elem::Real, Elem::Positive, Elem::Unit];

    #[test]
    fn inverse_undoes_forward_and_lands_inside() {
        for elem in CONTINUOUS {
            let t = Transform::of(elem);
            for u in [-7.5, -1.0, 0.0, 0.3, 4.0] {
                let z: f64 = t.forward(u);
                assert!(contains(elem, z), "{elem}: {z}");
                assert!((t.inverse(z) - u).abs() < 1e-9, "{elem} at {u}");
            }
        }
    }

    /// The log-Jacobian against a central difference of the forward map, f64 and f32.
    #[test]
    fn log_jacobian_is_the_log_derivative() {
        for elem in CONTINUOUS {
            let t = Transform::of(elem);
            for u in [-3.0, -0.2, 0.0, 1.7] {
                let h = 1e-6;
                let d = (t.forward(u + h) - t.forward(u - h)) / (2.0 * h);
                assert!(
                    (t.log_jacobian(u) - f64::ln(d)).abs() < 1e-7,
                    "{elem} at {u}"
                );
                let single: f32 = t.log_jacobian(u as f32);
                assert!((f64::from(single) - t.log_jacobian(u)).abs() < 1e-5);
            }
        }
    }

    /// The graph builders compute what the scalar functions do.
    #[test]
    fn graphs_agree_with_the_scalars() {
        let us = [-2.0, 0.5, 3.0];
        for elem in CONTINUOUS {
            let t = Transform::of(elem);
            let mut g = Graph::new();
            let u = g.input("u", Shape::fixed(1, us.len()), false);
            let z = t.forward_graph(&mut g, u);
            let lj = t.log_jacobian_graph(&mut g, u);
            let mut exec = Executor::<f64>::new(g, 1);
            exec.input_mut(InputId(0)).copy_from_slice(&us);
            exec.forward();
            for (i, &ui) in us.iter().enumerate() {
                assert!((exec.value(z)[i] - t.forward(ui)).abs() < 1e-12);
            }
            let total: f64 = us.iter().map(|&ui| t.log_jacobian(ui)).sum();
            match lj {
                Some(node) => assert!((exec.value(node)[0] - total).abs() < 1e-12),
                None => assert_eq!(total, 0.0),
            }
        }
    }

    #[test]
    fn membership_of_every_type() {
        assert!(contains(Elem::Real, -3.5) && !contains(Elem::Real, f64::NAN));
        assert!(contains(Elem::Bool, 1.0) && !contains(Elem::Bool, 0.5));
        assert!(contains(Elem::Int, 7.0) && !contains(Elem::Int, -1.0));
        assert!(!contains(Elem::Int, 2.5) && !contains(Elem::Int, F32_EXACT_INTS));
        assert!(contains(Elem::Positive, 1e-30) && !contains(Elem::Positive, 0.0));
        assert!(contains(Elem::Unit, 0.5) && !contains(Elem::Unit, 1.0));
        assert!(!contains(Elem::Positive, f64::INFINITY));
    }
}
