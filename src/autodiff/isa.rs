//! The instruction set the elementwise kernels, reductions and Adam run in, chosen once
//! at run time: AVX2 + FMA where the processor has them, the SSE2 baseline of every
//! x86-64 (and the only path elsewhere) otherwise, or when `VIC_SIMD=sse2` forces it.
//!
//! The binary stays portable: each entry point below is compiled twice, once plainly and
//! once inside a `#[target_feature(enable = "avx2,fma")]` function into which the whole
//! kernel loop is inlined (`#[inline(always)]` all the way down), so the compiler
//! vectorizes the same source eight lanes wide. Both paths execute the same IEEE
//! operations in the same order (no `mul_add`, no reassociation), so they give
//! bit-identical numbers; the test below checks it. Matrix products are not dispatched
//! here: matrixmultiply detects AVX2/FMA itself.
//!
//! This is the crate's one module with `unsafe`: calling a `#[target_feature]`
//! function from code without the feature is `unsafe`, and is sound only after the
//! feature was detected. Nothing else may live here.
#![allow(unsafe_code)]

use std::sync::atomic::{AtomicU8, Ordering};

use super::Plan;
use super::real::Real;
use crate::ir::NodeId;

/// A kernel path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Isa {
    /// The x86-64 baseline (or the target's default elsewhere).
    Sse2,
    /// 256-bit AVX2 with FMA, used only where detected.
    Avx2Fma,
}

impl Isa {
    pub fn name(self) -> &'static str {
        match self {
            Isa::Sse2 => "sse2",
            Isa::Avx2Fma => "avx2+fma",
        }
    }
}

const UNSET: u8 = 0;
const SSE2: u8 = 1;
const AVX2_FMA: u8 = 2;

/// The chosen path; `UNSET` until the first call of [`current`].
static CHOSEN: AtomicU8 = AtomicU8::new(UNSET);

/// Whether this processor runs the AVX2 + FMA path.
pub fn avx2_fma_available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// The path kernels run in: the fastest detected one unless the environment variable
/// `VIC_SIMD` is `sse2` (so that tests and benchmarks can run both on one machine).
pub fn current() -> Isa {
    match CHOSEN.load(Ordering::Relaxed) {
        SSE2 => Isa::Sse2,
        AVX2_FMA => Isa::Avx2Fma,
        _ => {
            let forced = std::env::var("VIC_SIMD").is_ok_and(|v| v.eq_ignore_ascii_case("sse2"));
            let isa = if !forced && avx2_fma_available() {
                Isa::Avx2Fma
            } else {
                Isa::Sse2
            };
            select(isa);
            isa
        }
    }
}

/// Chooses the path for the whole process; AVX2 + FMA is refused (keeping SSE2) where
/// the processor lacks it, so a selection can never make a later call unsound.
pub fn select(isa: Isa) -> Isa {
    let isa = if isa == Isa::Avx2Fma && !avx2_fma_available() {
        Isa::Sse2
    } else {
        isa
    };
    let code = match isa {
        Isa::Sse2 => SSE2,
        Isa::Avx2Fma => AVX2_FMA,
    };
    CHOSEN.store(code, Ordering::Relaxed);
    isa
}

/// Generates a dispatching function and its AVX2 + FMA twin from one `#[inline(always)]`
/// kernel, so that each entry point is written once.
macro_rules! dispatch {
    ($(#[$doc:meta])* $vis:vis fn $name:ident $(<$g:ident: $b:path>)? ($($arg:ident: $ty:ty),*) => $kernel:path, $fast:ident) => {
        $(#[$doc])*
        $vis fn $name $(<$g: $b>)? ($($arg: $ty),*) {
            #[cfg(target_arch = "x86_64")]
            if current() == Isa::Avx2Fma {
                // SAFETY: feature detected — `current` returns `Avx2Fma` only after
                // `avx2_fma_available` confirmed both features on this processor.
                return unsafe { $fast($($arg),*) };
            }
            $kernel($($arg),*)
        }

        #[cfg(target_arch = "x86_64")]
        #[target_feature(enable = "avx2,fma")]
        fn $fast $(<$g: $b>)? ($($arg: $ty),*) {
            $kernel($($arg),*)
        }
    };
}

dispatch! {
    /// Every node's value, in topological order.
    pub(super) fn forward<T: Real>(plan: &Plan<'_>, values: &mut [T]) => super::forward::forward_all, forward_avx2
}

dispatch! {
    /// The gradients of `output` with respect to every node that needs one.
    pub(super) fn backward<T: Real>(plan: &Plan<'_>, output: NodeId, values: &[T], grads: &mut [T]) => super::backward::backward_all, backward_avx2
}

dispatch! {
    /// One Adam update of `params` (see [`crate::infer::adam`]).
    pub(crate) fn adam(params: &mut [f32], grads: &[f32], m: &mut [f32], v: &mut [f32], c: crate::infer::adam::Coefficients) => crate::infer::adam::update, adam_avx2
}
