//! The one broadcasting iteration every elementwise kernel and its VJP share.
//!
//! An operand of `r x c` broadcasts to an output of `R x C` when each of its sizes equals
//! the output's or is 1. The iteration hands the element function whole runs of
//! contiguous elements: per output row (or, when every operand is either full-sized or a
//! single scalar, the whole output as one row), in chunks of at most [`CHUNK`] columns.
//! Within a chunk an operand is either a contiguous slice of its data (full-sized or
//! broadcast along rows, like a bias) or one value repeated along the columns (broadcast
//! along columns, or a scalar), which is splatted once into a stack buffer. So the inner
//! loop is always a flat zip over equal-length slices, monomorphized per element
//! function, with no per-element index arithmetic or call: the compiler vectorizes it.
//!
//! Forward kernels map operand values to the output; VJPs accumulate `dout · ∂f/∂x_k`
//! into operand `k`'s gradient at the same place, which sums the gradient back over
//! broadcast axes (a slice `+=` per row for a row-broadcast operand, a reduction to one
//! value for a column-broadcast one). Never allocates.

use super::real::Real;

/// The most columns one inner loop handles; bounds the splat buffers on the stack.
const CHUNK: usize = 256;

/// A node's value at the current batch size: a row-major `rows x cols` slice.
#[derive(Debug, Clone, Copy)]
pub struct Arg<'a, T> {
    pub data: &'a [T],
    pub rows: usize,
    pub cols: usize,
}

/// Where an operand's run for output row `i`, columns `j..`, lives: it starts at
/// `i * row + j * col` and advances by `col` (0 or 1) per column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Strides {
    row: usize,
    col: usize,
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

    /// Calls `body(out_start, len, runs, starts)` for every run of `len` consecutive
    /// output elements from `out_start`, in order; `runs[k]` is operand `k`'s `len`
    /// values there, and `starts[k]` where they start in its data, or `None` when the
    /// operand repeats the one value at `data[start]` (`Some` is a contiguous run).
    #[inline(always)]
    fn runs<T: Real, const N: usize>(
        self,
        args: [Arg<'_, T>; N],
        mut body: impl FnMut(usize, usize, [&[T]; N], [Run; N]),
    ) {
        let flat = args
            .iter()
            .all(|a| (a.rows == self.rows && a.cols == self.cols) || (a.rows == 1 && a.cols == 1));
        // The shape iterated: the whole output as one row when nothing broadcasts
        // along only one axis.
        let (rows, cols) = if flat {
            (1, self.len())
        } else {
            (self.rows, self.cols)
        };
        let strides: [Strides; N] = args.map(|a| {
            if flat {
                let full = a.rows * a.cols == self.len() && self.len() > 1;
                Strides {
                    row: 0,
                    col: usize::from(full),
                }
            } else {
                Strides {
                    row: if a.rows == 1 { 0 } else { a.cols },
                    col: usize::from(a.cols != 1),
                }
            }
        });
        let mut splat = [[T::ZERO; CHUNK]; N];
        // Which value (index, length) each splat buffer currently holds.
        let mut held: [Option<(usize, usize)>; N] = [None; N];
        for i in 0..rows {
            let mut j = 0;
            while j < cols {
                let len = CHUNK.min(cols - j);
                let runs: [Run; N] = std::array::from_fn(|k| {
                    let s = strides[k];
                    let start = i * s.row + j * s.col;
                    if s.col == 1 {
                        Run::Slice(start)
                    } else {
                        Run::Repeat(start)
                    }
                });
                for k in 0..N {
                    if let Run::Repeat(start) = runs[k]
                        && held[k] != Some((start, len))
                    {
                        splat[k][..len].fill(args[k].data[start]);
                        held[k] = Some((start, len));
                    }
                }
                let values: [&[T]; N] = std::array::from_fn(|k| match runs[k] {
                    Run::Slice(start) => &args[k].data[start..start + len],
                    Run::Repeat(_) => &splat[k][..len],
                });
                body(i * cols + j, len, values, runs);
                j += len;
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
        // `inline(always)` on the closures too: they are separate functions, and only
        // what is inlined into `autodiff::isa`'s AVX2 entry points is compiled for AVX2.
        self.runs(
            args,
            #[inline(always)]
            |start, len, values, _| {
                map_run(&mut out[start..start + len], values, &f);
            },
        );
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
        self.runs(
            args,
            #[inline(always)]
            |start, len, values, runs| {
                let d = &dout[start..start + len];
                match runs[k] {
                    Run::Slice(at) => accumulate_run(&mut grad[at..at + len], d, values, &partial),
                    Run::Repeat(at) => grad[at] += reduce_run(d, values, &partial),
                }
            },
        );
    }

    /// [`Grid::accumulate`] for operand `k` of a four-operand function whose partials
    /// come together as an array: `k` becomes a constant in each arm, so that only that
    /// partial is computed and the element loop vectorizes (indexing the partials by a
    /// runtime `k` spills them to the stack per element).
    #[inline(always)]
    pub fn accumulate_nth<T: Real>(
        self,
        grad: &mut [T],
        k: usize,
        dout: &[T],
        args: [Arg<'_, T>; 4],
        partials: impl Fn([T; 4]) -> [T; 4],
    ) {
        match k {
            0 => self.accumulate(
                grad,
                0,
                dout,
                args,
                #[inline(always)]
                |v| partials(v)[0],
            ),
            1 => self.accumulate(
                grad,
                1,
                dout,
                args,
                #[inline(always)]
                |v| partials(v)[1],
            ),
            2 => self.accumulate(
                grad,
                2,
                dout,
                args,
                #[inline(always)]
                |v| partials(v)[2],
            ),
            _ => self.accumulate(
                grad,
                3,
                dout,
                args,
                #[inline(always)]
                |v| partials(v)[3],
            ),
        }
    }
}

/// Where one operand's values for a run come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Run {
    /// `len` consecutive elements of its data from this index.
    Slice(usize),
    /// The element at this index, repeated.
    Repeat(usize),
}

/// The operands' values at element `j` of a run. A plain loop rather than
/// `array::from_fn`, whose drop guard survives in the element loop and blocks
/// vectorization.
#[inline(always)]
fn at<T: Real, const N: usize>(values: &[&[T]; N], j: usize) -> [T; N] {
    let mut v = [T::ZERO; N];
    for (x, run) in v.iter_mut().zip(values) {
        *x = run[j];
    }
    v
}

/// Equal-length views, so that the loops below index without bounds checks.
#[inline(always)]
fn trimmed<T, const N: usize>(values: [&[T]; N], len: usize) -> [&[T]; N] {
    values.map(|v| &v[..len])
}

#[inline(always)]
fn map_run<T: Real, const N: usize>(out: &mut [T], values: [&[T]; N], f: &impl Fn([T; N]) -> T) {
    let values = trimmed(values, out.len());
    for (j, o) in out.iter_mut().enumerate() {
        *o = f(at(&values, j));
    }
}

#[inline(always)]
fn accumulate_run<T: Real, const N: usize>(
    grad: &mut [T],
    dout: &[T],
    values: [&[T]; N],
    partial: &impl Fn([T; N]) -> T,
) {
    let values = trimmed(values, grad.len());
    let dout = &dout[..grad.len()];
    for (j, g) in grad.iter_mut().enumerate() {
        *g += dout[j] * partial(at(&values, j));
    }
}

/// `Σ_j dout[j] · partial(values[j])`, in eight interleaved partial sums.
#[inline(always)]
fn reduce_run<T: Real, const N: usize>(
    dout: &[T],
    values: [&[T]; N],
    partial: &impl Fn([T; N]) -> T,
) -> T {
    const LANES: usize = 8;
    let len = dout.len();
    let values = trimmed(values, len);
    let mut acc = [T::ZERO; LANES];
    let body = len - len % LANES;
    for base in (0..body).step_by(LANES) {
        for (l, a) in acc.iter_mut().enumerate() {
            let j = base + l;
            *a += dout[j] * partial(at(&values, j));
        }
    }
    let mut total: T = acc.iter().copied().sum();
    for (j, &d) in dout.iter().enumerate().skip(body) {
        total += d * partial(at(&values, j));
    }
    total
}
