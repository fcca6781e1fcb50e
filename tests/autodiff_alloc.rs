//! Steady-state forward + backward passes allocate nothing but matrixmultiply's packing
//! buffer (at most one per matrix product), and a batch smaller than `max_rows` computes
//! exactly what an executor built for that many rows computes.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use common::vae::vae;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use vic::autodiff::Executor;

/// Counts allocations per thread, so tests running in parallel do not disturb each
/// other's counts.
struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

fn allocations() -> usize {
    ALLOCATIONS.with(Cell::get)
}

fn count() {
    ALLOCATIONS.with(|n| n.set(n.get() + 1));
}

// SAFETY: forwards every call unchanged to the system allocator.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// A VAE executor with random parameters, data and noise.
fn filled(rows: usize, max_rows: usize, seed: u64) -> (Executor<f32>, vic::ir::NodeId) {
    let v = vae(64, 128, 8);
    let mut exec = Executor::<f32>::new(v.graph, max_rows);
    exec.set_rows(rows);
    let mut rng = StdRng::seed_from_u64(seed);
    exec.init_params(&mut rng);
    let x = exec.graph().input_by_name("x").expect("the vae has x");
    for v in exec.input_mut(x) {
        *v = if rng.random::<bool>() { 1.0 } else { 0.0 };
    }
    let eps = exec.graph().noise_by_name("eps").expect("the vae has eps");
    for v in exec.noise_mut(eps) {
        *v = rng.random_range(-2.0..2.0);
    }
    (exec, v.elbo)
}

#[test]
fn steady_state_passes_allocate_only_packing_buffers() {
    let products = vae(64, 128, 8).products;
    let (mut exec, elbo) = filled(100, 100, 1);
    exec.forward();
    exec.backward(elbo);
    let before = allocations();
    exec.forward();
    exec.backward(elbo);
    let allocations = allocations() - before;
    assert!(
        allocations <= products,
        "{allocations} allocations for {products} products"
    );
    assert!(exec.first_non_finite().is_none());
}

#[test]
fn fewer_rows_than_max_match_an_exact_executor() {
    let (mut small, elbo) = filled(37, 37, 7);
    let (mut big, _) = filled(37, 100, 7);
    for exec in [&mut small, &mut big] {
        exec.forward();
        exec.backward(elbo);
    }
    assert_eq!(small.rows(), big.rows());
    for id in 0..small.graph().len() {
        let id = vic::ir::NodeId(id as u32);
        assert_eq!(small.value(id), big.value(id), "value of node {id:?}");
        assert_eq!(small.grad(id), big.grad(id), "gradient of node {id:?}");
    }
    assert_eq!(small.param_grads(), big.param_grads());
}
