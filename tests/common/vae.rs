//! The digits VAE's single-sample ELBO graph (64 → 128 tanh → 8 loc, 8 softplus scale;
//! 8 → 128 tanh → 64 Bernoulli logits), shared by the allocation test and the benchmark.

use vic::dist::Family;
use vic::ir::{Graph, NodeId, Unary};

#[allow(dead_code)] // each includer uses a different subset
pub struct Vae {
    pub graph: Graph,
    pub elbo: NodeId,
    /// Matrix products in one forward + backward pass (x is data: no d(x) product).
    pub products: usize,
}

fn dense(g: &mut Graph, name: &str, x: NodeId, fan_in: usize, fan_out: usize) -> NodeId {
    let layer = g.affine_params(name, fan_in, fan_out);
    g.affine(x, layer)
}

pub fn vae(data: usize, hidden: usize, latent: usize) -> Vae {
    let mut g = Graph::new();
    let x = g.input("x", vic::ir::Shape::batch(data), false);
    let eps = g.noise("eps", vic::ir::Shape::batch(latent));
    let h = dense(&mut g, "enc.h", x, data, hidden);
    let h = g.unary(Unary::Tanh, h);
    let loc = dense(&mut g, "enc.loc", h, hidden, latent);
    let scale = dense(&mut g, "enc.scale", h, hidden, latent);
    let scale = g.unary(Unary::Softplus, scale);
    let noise = g.mul(scale, eps);
    let z = g.add(loc, noise);
    let h2 = dense(&mut g, "dec.h", z, latent, hidden);
    let h2 = g.unary(Unary::Tanh, h2);
    let logits = dense(&mut g, "dec.logits", h2, hidden, data);
    let ll = g.log_density(Family::BernoulliLogits, x, &[logits]);
    let ll = g.sum_cols(ll);
    let zero = g.scalar(0.0);
    let one = g.scalar(1.0);
    let prior = g.log_density(Family::Normal, z, &[zero, one]);
    let prior = g.sum_cols(prior);
    let q = g.log_density(Family::Normal, z, &[loc, scale]);
    let q = g.sum_cols(q);
    let joint = g.add(ll, prior);
    let rows = g.sub(joint, q);
    let elbo = g.sum_rows(rows);
    // Forward: 5 products. Backward: d(weight) for all 5, d(input) for the 4 whose
    // input is not data.
    Vae {
        graph: g,
        elbo,
        products: 5 + 5 + 4,
    }
}
