//! Neural-network building blocks expressed as graph operations: affine layers and
//! multi-layer perceptrons. Both the model's `net`s and the guide's encoder are built
//! here, so they share one definition of a layer.

use super::{Graph, Init, NodeId, Unary};

/// The parameters of one affine layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Affine {
    pub weight: NodeId,
    pub bias: NodeId,
}

impl Graph {
    /// Declares an affine layer `x · W + b` from `fan_in` to `fan_out` columns, with
    /// parameters `{name}.w` and `{name}.b` both uniform in ±1/sqrt(fan_in), PyTorch's
    /// default for linear layers (LeCun's rule for the weights), which trained the
    /// reference VAE better than Glorot's weights and zero biases here.
    pub fn affine_params(&mut self, name: &str, fan_in: usize, fan_out: usize) -> Affine {
        let bound = 1.0 / (fan_in.max(1) as f32).sqrt();
        let weight = self.param(
            format!("{name}.w"),
            fan_in,
            fan_out,
            Init::Uniform { bound },
        );
        let bias = self.param(format!("{name}.b"), 1, fan_out, Init::Uniform { bound });
        Affine { weight, bias }
    }

    /// `x · W + b`.
    pub fn affine(&mut self, x: NodeId, layer: Affine) -> NodeId {
        let xw = self.matmul(x, layer.weight);
        self.add(xw, layer.bias)
    }

    /// Declares the layers of an MLP with the given widths (input first), named
    /// `{name}.0`, `{name}.1`, ...
    pub fn mlp_params(&mut self, name: &str, widths: &[usize]) -> Vec<Affine> {
        widths
            .windows(2)
            .enumerate()
            .map(|(i, w)| self.affine_params(&format!("{name}.{i}"), w[0], w[1]))
            .collect()
    }

    /// Applies MLP layers to `x`: `activation` after every layer but the last, which
    /// is affine.
    pub fn apply_mlp(&mut self, x: NodeId, layers: &[Affine], activation: Unary) -> NodeId {
        let mut h = x;
        for (i, &layer) in layers.iter().enumerate() {
            h = self.affine(h, layer);
            if i + 1 < layers.len() {
                h = self.unary(activation, h);
            }
        }
        h
    }
}

#[cfg(test)]
mod tests {
    use crate::ir::{Graph, Shape, Unary};

    #[test]
    fn an_mlp_has_one_affine_layer_per_pair_of_widths() {
        let mut g = Graph::new();
        let x = g.input("x", Shape::batch(4), false);
        let layers = g.mlp_params("net", &[4, 16, 2]);
        let y = g.apply_mlp(x, &layers, Unary::Tanh);
        assert_eq!(layers.len(), 2);
        assert_eq!(g.shape(y), Shape::batch(2));
        assert_eq!(g.param_count(), 4 * 16 + 16 + 16 * 2 + 2);
        assert_eq!(g.params()[0].name, "net.0.w");
    }
}
