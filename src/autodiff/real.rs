//! The scalar types the executor runs in: `f32` for training, `f64` for gradient checks.
//!
//! [`Real`] names exactly the arithmetic the kernels use, so that every kernel is written
//! once and instantiated twice. Matrix products go through nalgebra's `gemm` on zero-copy
//! strided views, which dispatches to matrixmultiply; transposes are swapped strides,
//! never copies and never nalgebra's slow `tr_mul`/`gemm_tr`. Nothing here allocates
//! except matrixmultiply's packing buffer inside a product.

use std::fmt::{Debug, Display};
use std::iter::Sum;
use std::ops::{Add, AddAssign, Div, Mul, MulAssign, Neg, Sub, SubAssign};

use nalgebra::{DMatrixView, DMatrixViewMut, Dyn};

/// A strided matrix view: element `(i, j)` lives at `i * rs + j * cs` of a slice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    pub rows: usize,
    pub cols: usize,
    pub rs: usize,
    pub cs: usize,
}

impl Layout {
    /// A row-major `rows x cols` matrix.
    pub fn row_major(rows: usize, cols: usize) -> Layout {
        Layout {
            rows,
            cols,
            rs: cols,
            cs: 1,
        }
    }

    /// The same storage seen transposed.
    pub fn t(self) -> Layout {
        Layout {
            rows: self.cols,
            cols: self.rows,
            rs: self.cs,
            cs: self.rs,
        }
    }

    /// The same storage, transposed if `flag` is set.
    pub fn t_if(self, flag: bool) -> Layout {
        if flag { self.t() } else { self }
    }
}

/// A floating-point scalar the executor can run in.
pub trait Real:
    Copy
    + Default
    + PartialEq
    + PartialOrd
    + Debug
    + Display
    + Send
    + Sync
    + 'static
    + Add<Output = Self>
    + Sub<Output = Self>
    + Mul<Output = Self>
    + Div<Output = Self>
    + Neg<Output = Self>
    + AddAssign
    + SubAssign
    + MulAssign
    + Sum
{
    const ZERO: Self;
    const ONE: Self;
    const HALF: Self;

    fn from_f64(x: f64) -> Self;
    fn from_f32(x: f32) -> Self;
    fn to_f64(self) -> f64;
    /// `exp`; the vectorizable [`exp_f32`] for `f32`, std for `f64`.
    fn exp(self) -> Self;
    fn ln(self) -> Self;
    fn ln_1p(self) -> Self;
    fn sqrt(self) -> Self;
    fn abs(self) -> Self;
    /// `tanh`; a vectorizable rational approximation for `f32`, std for `f64`.
    fn tanh(self) -> Self;
    fn max(self, other: Self) -> Self;
    fn min(self, other: Self) -> Self;
    fn is_finite(self) -> bool;

    /// `c = alpha * a · b + beta * c` on strided views of row-major arenas.
    #[allow(clippy::too_many_arguments)]
    fn gemm(
        alpha: Self,
        a: &[Self],
        la: Layout,
        b: &[Self],
        lb: Layout,
        beta: Self,
        c: &mut [Self],
        lc: Layout,
    );

    /// The logistic function, stable for large `|x|`.
    #[inline(always)]
    fn sigmoid(self) -> Self {
        let e = (-self.abs()).exp();
        let r = Self::ONE / (Self::ONE + e);
        if self >= Self::ZERO { r } else { e * r }
    }

    /// `ln(1 + exp(x))` as `max(x, 0) + ln_1p(exp(-|x|))`: never overflows. For `f32`
    /// the logarithm is the fast [`ln_f32`] of `1 + exp(-|x|)` in `[1, 2]`: its absolute
    /// error stays below 1e-7, so the sum keeps its precision.
    fn softplus(self) -> Self;
}

/// Rational tanh for `f32` (the minimax form Eigen uses): |relative error| below 1e-6,
/// about 0.5 ns per element against 16-27 ns for glibc's `tanhf`, and it vectorizes. Plain
/// multiply-adds, not `mul_add`, which is a libm call without a target FMA feature.
#[inline(always)]
pub fn tanh_f32(x: f32) -> f32 {
    const CLAMP: f32 = 7.905_311;
    const A1: f32 = 4.893_524_6e-3;
    const A3: f32 = 6.372_619_3e-4;
    const A5: f32 = 1.485_722_4e-5;
    const A7: f32 = 5.122_297e-8;
    const A9: f32 = -8.604_672e-11;
    const A11: f32 = 2.000_188e-13;
    const A13: f32 = -2.760_768_5e-16;
    const B0: f32 = 4.893_525e-3;
    const B2: f32 = 2.268_434_6e-3;
    const B4: f32 = 1.185_347_1e-4;
    const B6: f32 = 1.198_258_4e-6;
    let x = x.clamp(-CLAMP, CLAMP);
    let x2 = x * x;
    let mut p = x2 * A13 + A11;
    p = x2 * p + A9;
    p = x2 * p + A7;
    p = x2 * p + A5;
    p = x2 * p + A3;
    p = x2 * p + A1;
    p *= x;
    let mut q = x2 * B6 + B4;
    q = x2 * q + B2;
    q = x2 * q + B0;
    p / q
}

/// Whether nalgebra hands a product of these shapes to matrixmultiply (its own rule:
/// every dimension above 5). Below that nalgebra falls back to column-by-column `gemv`,
/// which mis-writes through our strided views (observed: a `[2, 2]·[2, 1]` product
/// overwrote the element after its output), so small products use [`small_gemm`].
fn uses_matrixmultiply(la: Layout, lc: Layout) -> bool {
    const SMALL_DIM: usize = 5;
    la.rows > SMALL_DIM && la.cols > SMALL_DIM && lc.cols > SMALL_DIM
}

/// `c = alpha * a · b + beta * c` by the definition, for products too small to pack.
/// `c` is not read when `beta` is zero.
#[allow(clippy::too_many_arguments)]
fn small_gemm<T: Real>(
    alpha: T,
    a: &[T],
    la: Layout,
    b: &[T],
    lb: Layout,
    beta: T,
    c: &mut [T],
    lc: Layout,
) {
    for i in 0..lc.rows {
        for j in 0..lc.cols {
            let mut acc = T::ZERO;
            for p in 0..la.cols {
                acc += a[i * la.rs + p * la.cs] * b[p * lb.rs + j * lb.cs];
            }
            let dst = &mut c[i * lc.rs + j * lc.cs];
            *dst = if beta == T::ZERO {
                alpha * acc
            } else {
                alpha * acc + beta * *dst
            };
        }
    }
}

/// `exp` for `f32` by Cody-Waite range reduction and a degree-6 polynomial (Cephes
/// `expf`): about 1e-7 relative error, branch-free so it vectorizes, unlike the libm
/// call. Underflows to 0 below -87 and saturates at `f32::MAX` region above 88.
#[inline(always)]
pub fn exp_f32(x: f32) -> f32 {
    let x = x.clamp(-87.336_54, 88.376_26);
    let t = x * std::f32::consts::LOG2_E + 0.5;
    // floor(t) without a libm call: truncate, then step down for negative fractions.
    let trunc = t as i32;
    let n = trunc - i32::from((trunc as f32) > t);
    let nf = n as f32;
    let r = x - nf * 0.693_359_4 - nf * -2.121_944_4e-4;
    let z = r * r;
    let mut y = 1.987_569_1e-4 * r + 1.398_199_9e-3;
    y = y * r + 8.333_452e-3;
    y = y * r + 4.166_579_6e-2;
    y = y * r + 1.666_666_5e-1;
    y = y * r + 5e-1;
    y = y * z + r + 1.0;
    y * f32::from_bits(((n + 127).max(0) as u32) << 23)
}

/// `ln` for positive normal `f32` by exponent extraction and a degree-9 polynomial
/// (Cephes `logf`): about 1e-7 relative error away from 1, branch-free.
#[inline(always)]
pub fn ln_f32(x: f32) -> f32 {
    const SQRT_HALF: f32 = std::f32::consts::FRAC_1_SQRT_2;
    let bits = x.to_bits();
    let mut k = ((bits >> 23) & 0xff) as i32 - 126;
    let m = f32::from_bits((bits & 0x007f_ffff) | 0x3f00_0000);
    let small = m < SQRT_HALF;
    k -= i32::from(small);
    let r = if small { m + m - 1.0 } else { m - 1.0 };
    let z = r * r;
    let mut y = 7.037_683_6e-2 * r - 1.151_461e-1;
    y = y * r + 1.167_699_9e-1;
    y = y * r - 1.242_014_1e-1;
    y = y * r + 1.424_932_3e-1;
    y = y * r - 1.666_805_8e-1;
    y = y * r + 2.000_071_4e-1;
    y = y * r - 2.499_999_4e-1;
    y = y * r + 3.333_333e-1;
    let kf = k as f32;
    let y = y * r * z - 2.121_944_4e-4 * kf - 0.5 * z;
    r + y + 0.693_359_4 * kf
}

macro_rules! impl_real {
    ($t:ty, $tanh:expr, $exp:expr, $ln1p_small:expr) => {
        impl Real for $t {
            const ZERO: Self = 0.0;
            const ONE: Self = 1.0;
            const HALF: Self = 0.5;

            #[inline(always)]
            fn from_f64(x: f64) -> Self {
                x as $t
            }
            #[inline(always)]
            fn from_f32(x: f32) -> Self {
                x as $t
            }
            #[inline(always)]
            fn to_f64(self) -> f64 {
                self as f64
            }
            #[inline(always)]
            fn exp(self) -> Self {
                $exp(self)
            }
            #[inline(always)]
            fn ln(self) -> Self {
                <$t>::ln(self)
            }
            #[inline(always)]
            fn ln_1p(self) -> Self {
                <$t>::ln_1p(self)
            }
            #[inline(always)]
            fn sqrt(self) -> Self {
                <$t>::sqrt(self)
            }
            #[inline(always)]
            fn abs(self) -> Self {
                <$t>::abs(self)
            }
            #[inline(always)]
            fn tanh(self) -> Self {
                $tanh(self)
            }
            #[inline(always)]
            fn max(self, other: Self) -> Self {
                <$t>::max(self, other)
            }
            #[inline(always)]
            fn min(self, other: Self) -> Self {
                <$t>::min(self, other)
            }
            #[inline(always)]
            fn is_finite(self) -> bool {
                <$t>::is_finite(self)
            }
            #[inline(always)]
            fn softplus(self) -> Self {
                self.max(0.0) + $ln1p_small($exp(-self.abs()))
            }

            fn gemm(
                alpha: Self,
                a: &[Self],
                la: Layout,
                b: &[Self],
                lb: Layout,
                beta: Self,
                c: &mut [Self],
                lc: Layout,
            ) {
                if !uses_matrixmultiply(la, lc) {
                    return small_gemm(alpha, a, la, b, lb, beta, c, lc);
                }
                let a: DMatrixView<'_, $t, Dyn, Dyn> =
                    DMatrixView::from_slice_with_strides(a, la.rows, la.cols, la.rs, la.cs);
                let b: DMatrixView<'_, $t, Dyn, Dyn> =
                    DMatrixView::from_slice_with_strides(b, lb.rows, lb.cols, lb.rs, lb.cs);
                let mut c: DMatrixViewMut<'_, $t, Dyn, Dyn> =
                    DMatrixViewMut::from_slice_with_strides_mut(c, lc.rows, lc.cols, lc.rs, lc.cs);
                c.gemm(alpha, &a, &b, beta);
            }
        }
    };
}

impl_real!(f32, tanh_f32, exp_f32, |e: f32| ln_f32(1.0 + e));
impl_real!(f64, f64::tanh, f64::exp, f64::ln_1p);
