//! The one broadcasting iteration every elementwise kernel and its VJP share.
//!
//! An operand of `r x c` broadcasts to an output of `R x C` when each of its sizes equals
//! the output's or is 1; element `(i, j)` of the output reads operand element
//! `i * row + j * col` where a size-1 axis has stride 0. Forward kernels map operand
//! values to the output; VJPs accumulate `dout · ∂f/∂x_k` into operand `k`'s gradient at
//! that same index, which sums the gradient back over broadcast axes. When no operand
//! broadcasts (the common case) the iteration is one flat loop. Never allocates.

use super::real::Real;

/// A node's value at the current batch size: a row-major `rows x cols` slice.
#[derive(Debug, Clone, Copy)]
pub struct Arg<'a, T> {
    pub data: &'a [T],
    pub rows: usize,
    pub cols: usize,
}

/// Where an operand's element for output element `(i, j)` lives: `i * row + j * col`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Strides {
    row: usize,
    col: usize,
}

impl Strides {
    /// The strides of a `rows x cols` operand read by an output of `out_rows x out_cols`.
    pub fn of(rows: usize, cols: usize, out_rows: usize, out_cols: usize) -> Strides {
        Strides {
            row: if rows == 1 || out_rows == 1 { 0 } else { cols },
            col: if cols == 1 || out_cols == 1 { 0 } else { 1 },
        }
    }
}

/// The output grid of an elementwise operation.
#[derive(Debug, Clone, Copy)]
pub struct Grid {
    pub rows: usize,
    pub cols: usize,
}

impl Grid {
    pub fn len(self) -> usize {
        self.rows * self.cols
    }

    pub fn strides<T>(self, arg: &Arg<'_, T>) -> Strides {
        Strides::of(arg.rows, arg.cols, self.rows, self.cols)
    }

    /// Calls `f(output index, operand indices)` for every output element, in order.
    #[inline(always)]
    pub fn for_each<const N: usize>(
        self,
        strides: [Strides; N],
        mut f: impl FnMut(usize, [usize; N]),
    ) {
        let flat = Strides::of(self.rows, self.cols, self.rows, self.cols);
        if strides.iter().all(|&s| s == flat) {
            for e in 0..self.len() {
                f(e, [e; N]);
            }
            return;
        }
        for i in 0..self.rows {
            let base = strides.map(|s| i * s.row);
            for j in 0..self.cols {
                let mut idx = base;
                for (x, s) in idx.iter_mut().zip(&strides) {
                    *x += j * s.col;
                }
                f(i * self.cols + j, idx);
            }
        }
    }

    /// `out = f(args)` elementwise with broadcasting.
    #[inline(always)]
    pub fn map<T: Real, const N: usize>(
        self,
        out: &mut [T],
        args: [Arg<'_, T>; N],
        f: impl Fn([T; N]) -> T,
    ) {
        let strides = args.map(|a| self.strides(&a));
        self.for_each(strides, |e, idx| {
            out[e] = f(std::array::from_fn(|k| args[k].data[idx[k]]));
        });
    }

    /// `grad_k += dout · ∂f/∂x_k` with broadcasting: sums over the axes operand `k`
    /// was broadcast along. `partial` gets the operand values at each element.
    #[inline(always)]
    pub fn accumulate<T: Real, const N: usize>(
        self,
        grad: &mut [T],
        k: usize,
        dout: &[T],
        args: [Arg<'_, T>; N],
        partial: impl Fn([T; N]) -> T,
    ) {
        let strides = args.map(|a| self.strides(&a));
        self.for_each(strides, |e, idx| {
            grad[idx[k]] += dout[e] * partial(std::array::from_fn(|m| args[m].data[idx[m]]));
        });
    }
}
