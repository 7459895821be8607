//! Dense kernels on strided views, so transposes and row-major parameter
//! slices are read and written in place instead of being copied.
//!
//! Products run on the calling thread, so the bits never depend on a thread
//! pool: on x86-64 with AVX2/FMA or AVX-512 through faer's gemm kernels
//! (private-gemm-x86), elsewhere through matrixmultiply. Both take arbitrary
//! strides. Vector helpers run in a fixed order for the same reason.

use crate::real::Real;

/// Defines `fn name<T: Real>(args) -> R` three times: for the baseline
/// target, with AVX2 and with AVX-512 enabled, choosing the widest the CPU
/// has at run time. Bodies must not use fused multiply-adds (Rust never
/// contracts `a * b + c` on its own), so every version gives the same bits.
macro_rules! multiversion {
    ($(#[$m:meta])* $vis:vis fn $name:ident<T: Real>($($arg:ident : $ty:ty),* $(,)?) $(-> $ret:ty)? $body:block) => {
        $(#[$m])*
        $vis fn $name<T: Real>($($arg: $ty),*) $(-> $ret)? {
            #[inline(always)]
            fn body<T: Real>($($arg: $ty),*) $(-> $ret)? $body
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx512f")]
                unsafe fn avx512<T: Real>($($arg: $ty),*) $(-> $ret)? {
                    body($($arg),*)
                }
                if std::is_x86_feature_detected!("avx512f") {
                    // SAFETY: the CPU has the feature `avx512` was compiled for.
                    return unsafe { avx512($($arg),*) };
                }
                #[target_feature(enable = "avx2")]
                unsafe fn avx2<T: Real>($($arg: $ty),*) $(-> $ret)? {
                    body($($arg),*)
                }
                if std::is_x86_feature_detected!("avx2") {
                    // SAFETY: the CPU has the feature `avx2` was compiled for.
                    return unsafe { avx2($($arg),*) };
                }
            }
            body($($arg),*)
        }
    };
}
use nalgebra::DMatrix;
use rayon::prelude::*;
use std::any::TypeId;

/// A read-only `rows x cols` matrix inside a slice: element `(i, j)` is
/// `data[i * rs + j * cs]`.
#[derive(Clone, Copy)]
pub(crate) struct Strided<'a, T> {
    pub data: &'a [T],
    pub rows: usize,
    pub cols: usize,
    pub rs: usize,
    pub cs: usize,
}

/// A writable `rows x cols` matrix inside a slice (see [`Strided`]).
pub(crate) struct StridedMut<'a, T> {
    pub data: &'a mut [T],
    pub rows: usize,
    pub cols: usize,
    pub rs: usize,
    pub cs: usize,
}

impl<'a, T: Real> Strided<'a, T> {
    /// Views a column-major nalgebra matrix.
    pub fn of(m: &'a DMatrix<T>) -> Self {
        Strided {
            data: m.as_slice(),
            rows: m.nrows(),
            cols: m.ncols(),
            rs: 1,
            cs: m.nrows().max(1),
        }
    }

    /// Views the front `rows * cols` entries of `data` as a row-major
    /// `rows x cols` matrix.
    pub fn row_major(data: &'a [T], rows: usize, cols: usize) -> Self {
        Strided {
            data: &data[..rows * cols],
            rows,
            cols,
            rs: cols.max(1),
            cs: 1,
        }
    }

    /// The transpose, sharing the same memory.
    pub fn t(self) -> Self {
        Strided {
            data: self.data,
            rows: self.cols,
            cols: self.rows,
            rs: self.cs,
            cs: self.rs,
        }
    }

    #[inline]
    pub fn at(&self, i: usize, j: usize) -> T {
        self.data[i * self.rs + j * self.cs]
    }
}

impl<'a, T: Real> StridedMut<'a, T> {
    /// Views a column-major nalgebra matrix for writing.
    pub fn of(m: &'a mut DMatrix<T>) -> Self {
        let (rows, cols) = m.shape();
        StridedMut {
            data: m.as_mut_slice(),
            rows,
            cols,
            rs: 1,
            cs: rows.max(1),
        }
    }

    /// Views a row-major `rows x cols` slice for writing.
    pub fn row_major(data: &'a mut [T], rows: usize, cols: usize) -> Self {
        StridedMut {
            data,
            rows,
            cols,
            rs: cols.max(1),
            cs: 1,
        }
    }

    /// Views a column-major `rows x cols` slice for writing.
    pub fn col_major(data: &'a mut [T], rows: usize, cols: usize) -> Self {
        StridedMut {
            data,
            rows,
            cols,
            rs: 1,
            cs: rows.max(1),
        }
    }

    /// A shorter-lived handle on the same memory.
    pub fn reborrow(&mut self) -> StridedMut<'_, T> {
        StridedMut {
            data: &mut *self.data,
            rows: self.rows,
            cols: self.cols,
            rs: self.rs,
            cs: self.cs,
        }
    }

    #[inline]
    pub fn at_mut(&mut self, i: usize, j: usize) -> &mut T {
        &mut self.data[i * self.rs + j * self.cs]
    }
}

/// `c = alpha * a * b + beta * c`; with `beta == 0` the old `c` is never read.
///
/// On x86-64 the product goes to private-gemm-x86, the kernels behind faer's
/// `matmul`, called directly with one thread. With the training shapes
/// (128 x 784 by 784 x 64 and their transposes) it outruns matrixmultiply,
/// mostly because it reads operands in place instead of repacking them on
/// every call (`benches/train.rs` reports the rate training reaches). faer's
/// own `matmul` is not used: it sends single-row or single-column outputs and
/// tiny products to other kernels that sum in another order, so a row
/// encoded alone would not give the bits it gets inside a batch. The direct
/// call computes every output entry with the same microkernel sequence
/// whatever the number of rows (checked by the conv tests' row-by-row
/// comparison).
///
/// Elsewhere, matrixmultiply, called directly rather than through nalgebra's
/// `gemm`: nalgebra's small-matrix fallback walks strided vectors by the
/// length of their backing slice, which overruns views whose row stride is
/// not 1.
pub(crate) fn gemm<T: Real>(
    alpha: T,
    a: Strided<'_, T>,
    b: Strided<'_, T>,
    beta: T,
    c: StridedMut<'_, T>,
) {
    assert_eq!(a.cols, b.rows, "gemm: inner dimensions differ");
    assert_eq!((c.rows, c.cols), (a.rows, b.cols), "gemm: output shape");
    check_span(a.data.len(), a.rows, a.cols, a.rs, a.cs);
    check_span(b.data.len(), b.rows, b.cols, b.rs, b.cs);
    check_span(c.data.len(), c.rows, c.cols, c.rs, c.cs);
    let (m, k, n) = (a.rows, a.cols, b.cols);
    if m == 0 || n == 0 {
        return;
    }
    let s = |x: usize| x as isize;
    #[cfg(target_arch = "x86_64")]
    if let Some(instr) = x86_gemm_instructions()
        && let Some(dtype) = x86_gemm_dtype::<T>()
    {
        let mut c = c;
        let accum = if beta == T::zero() {
            private_gemm_x86::Accum::Replace
        } else {
            if beta != T::one() {
                for i in 0..m {
                    for j in 0..n {
                        *c.at_mut(i, j) *= beta;
                    }
                }
            }
            private_gemm_x86::Accum::Add
        };
        if k == 0 {
            // The kernel loops over the depth, so it would leave `c` as is.
            if accum == private_gemm_x86::Accum::Replace {
                for i in 0..m {
                    for j in 0..n {
                        *c.at_mut(i, j) = T::zero();
                    }
                }
            }
            return;
        }
        // SAFETY: the spans of all three operands were checked above to lie
        // inside their slices and `c` is borrowed mutably, so it cannot alias
        // `a` or `b`; `dtype` names `T` exactly, and `alpha` is a `T`; one
        // thread, so no pool is involved.
        unsafe {
            private_gemm_x86::gemm(
                dtype,
                private_gemm_x86::IType::U64,
                instr,
                m,
                n,
                k,
                c.data.as_mut_ptr() as *mut (),
                s(c.rs),
                s(c.cs),
                std::ptr::null(),
                std::ptr::null(),
                private_gemm_x86::DstKind::Full,
                accum,
                a.data.as_ptr() as *const (),
                s(a.rs),
                s(a.cs),
                false,
                std::ptr::null(),
                0,
                b.data.as_ptr() as *const (),
                s(b.rs),
                s(b.cs),
                false,
                &raw const alpha as *const (),
                1,
            );
        }
        return;
    }
    // SAFETY: the spans of all three operands were checked above to lie
    // inside their slices; `c` is borrowed mutably, so it cannot alias `a`
    // or `b`; the casts only run when `T` is exactly the target type.
    unsafe {
        if TypeId::of::<T>() == TypeId::of::<f64>() {
            matrixmultiply::dgemm(
                m,
                k,
                n,
                *(&alpha as *const T as *const f64),
                a.data.as_ptr() as *const f64,
                s(a.rs),
                s(a.cs),
                b.data.as_ptr() as *const f64,
                s(b.rs),
                s(b.cs),
                *(&beta as *const T as *const f64),
                c.data.as_mut_ptr() as *mut f64,
                s(c.rs),
                s(c.cs),
            );
            return;
        }
        if TypeId::of::<T>() == TypeId::of::<f32>() {
            matrixmultiply::sgemm(
                m,
                k,
                n,
                *(&alpha as *const T as *const f32),
                a.data.as_ptr() as *const f32,
                s(a.rs),
                s(a.cs),
                b.data.as_ptr() as *const f32,
                s(b.rs),
                s(b.cs),
                *(&beta as *const T as *const f32),
                c.data.as_mut_ptr() as *mut f32,
                s(c.rs),
                s(c.cs),
            );
            return;
        }
    }
    // Any other scalar: the plain triple loop.
    let mut c = c;
    for i in 0..m {
        for j in 0..n {
            let mut acc = T::zero();
            for p in 0..k {
                acc += a.at(i, p) * b.at(p, j);
            }
            let e = c.at_mut(i, j);
            *e = if beta == T::zero() {
                alpha * acc
            } else {
                alpha * acc + beta * *e
            };
        }
    }
}

/// The widest instruction set private-gemm-x86 has kernels for on this CPU
/// (its FMA kernels need AVX2 and FMA), detected once.
#[cfg(target_arch = "x86_64")]
fn x86_gemm_instructions() -> Option<private_gemm_x86::InstrSet> {
    static INSTR: std::sync::OnceLock<Option<private_gemm_x86::InstrSet>> =
        std::sync::OnceLock::new();
    *INSTR.get_or_init(|| {
        if std::is_x86_feature_detected!("avx512f") {
            Some(private_gemm_x86::InstrSet::Avx512)
        } else if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
            Some(private_gemm_x86::InstrSet::Avx256)
        } else {
            None
        }
    })
}

/// private-gemm-x86's name for `T`, if it has kernels for it.
#[cfg(target_arch = "x86_64")]
fn x86_gemm_dtype<T: Real>() -> Option<private_gemm_x86::DType> {
    if TypeId::of::<T>() == TypeId::of::<f64>() {
        Some(private_gemm_x86::DType::F64)
    } else if TypeId::of::<T>() == TypeId::of::<f32>() {
        Some(private_gemm_x86::DType::F32)
    } else {
        None
    }
}

/// Panics unless every element of a `rows x cols` view with strides
/// `(rs, cs)` lies inside a slice of `len` elements.
fn check_span(len: usize, rows: usize, cols: usize, rs: usize, cs: usize) {
    if rows == 0 || cols == 0 {
        return;
    }
    let last = (rows - 1) * rs + (cols - 1) * cs;
    assert!(last < len, "strided view overruns its slice");
}

multiversion! {
    /// `out[j] = sum_i m[i, j]` for the column-major `rows x out.len()`
    /// matrix `m`, each column over [`LANES`] fixed interleaved partial sums
    /// (vectorised, and the same order on every call).
    pub(crate) fn column_sums<T: Real>(m: &[T], rows: usize, out: &mut [T]) {
        for (col, o) in m.chunks_exact(rows.max(1)).zip(out.iter_mut()) {
            let mut acc = [T::zero(); LANES];
            let chunks = col.chunks_exact(LANES);
            let rest = chunks.remainder();
            for c in chunks {
                for k in 0..LANES {
                    acc[k] += c[k];
                }
            }
            for (a, &v) in acc.iter_mut().zip(rest) {
                *a += v;
            }
            let mut s = T::zero();
            for a in acc {
                s += a;
            }
            *o = s;
        }
        if rows == 0 {
            out.fill(T::zero());
        }
    }
}

multiversion! {
    /// `dst += src` element-wise.
    pub(crate) fn add_slice<T: Real>(dst: &mut [T], src: &[T]) {
        for (x, &y) in dst.iter_mut().zip(src) {
            *x += y;
        }
    }
}

multiversion! {
    /// `dst = a + b` element-wise.
    pub(crate) fn sum_slices<T: Real>(dst: &mut [T], a: &[T], b: &[T]) {
        for (x, (&a, &b)) in dst.iter_mut().zip(a.iter().zip(b)) {
            *x = a + b;
        }
    }
}

multiversion! {
    /// One more gradient's tied parts `e`, `d` into a sum: `w += e + d`
    /// (the weight's gradient, its parts summed first), `enc += e` and
    /// `dec += d`.
    pub(crate) fn add_tied_parts<T: Real>(w: &mut [T], enc: &mut [T], dec: &mut [T], e: &[T], d: &[T]) {
        for ((w, (a, b)), (&e, &d)) in w.iter_mut().zip(enc.iter_mut().zip(dec.iter_mut())).zip(e.iter().zip(d)) {
            *w += e + d;
            *a += e;
            *b += d;
        }
    }
}

multiversion! {
    /// `m[i, j] += alpha * v[j]` for every row `i` of the column-major
    /// `rows x v.len()` matrix `m`.
    pub(crate) fn add_row<T: Real>(m: &mut [T], rows: usize, alpha: T, v: &[T]) {
        for (col, &b) in m.chunks_exact_mut(rows.max(1)).zip(v) {
            let b = alpha * b;
            for e in col {
                *e += b;
            }
        }
    }
}

/// `out = a * x` (`out[i] = sum_j a[i, j] x[j]`).
///
/// Each `out[i]` adds its terms in the order `j = 0, 1, …`; the loops run
/// in memory order (rows outermost when a row is contiguous, columns
/// outermost when a column is, e.g. a transposed view), which keeps that
/// order, so both give the same bits. With contiguous rows, [`MATVEC_ROWS`]
/// rows are summed side by side: each is still one chain in `j` order, and
/// the chains overlap instead of each waiting on its previous addition.
pub(crate) fn matvec<T: Real>(a: Strided<'_, T>, x: &[T], out: &mut [T]) {
    if a.rs == 1 && a.cs != 1 {
        matvec_columns(a.data, a.cs, x, out);
        return;
    }
    if a.cs == 1 {
        matvec_rows(a.data, a.rs, x, out);
        return;
    }
    for (i, o) in out.iter_mut().enumerate() {
        let mut s = T::zero();
        for (j, &xj) in x.iter().enumerate() {
            s += a.at(i, j) * xj;
        }
        *o = s;
    }
}

multiversion! {
    /// [`matvec`] of a matrix whose column `j` starts at `data[j cs]`:
    /// `out += a_j x_j` column after column, each `out[i]` one sum in
    /// ascending `j`.
    fn matvec_columns<T: Real>(data: &[T], cs: usize, x: &[T], out: &mut [T]) {
        out.fill(T::zero());
        for (j, &xj) in x.iter().enumerate() {
            let col = &data[j * cs..j * cs + out.len()];
            for (o, &aij) in out.iter_mut().zip(col) {
                *o += aij * xj;
            }
        }
    }
}

/// Rows [`matvec`] sums side by side when a row is contiguous.
const MATVEC_ROWS: usize = 8;

/// [`matvec`] of a matrix whose row `i` is `data[i rs..i rs + x.len()]`:
/// [`MATVEC_ROWS`] independent sums at a time, each adding its row's
/// terms in ascending `j`, as the one-row loop does.
fn matvec_rows<T: Real>(data: &[T], rs: usize, x: &[T], out: &mut [T]) {
    let n = x.len();
    let row = |i: usize| &data[i * rs..i * rs + n];
    let mut blocks = out.chunks_exact_mut(MATVEC_ROWS);
    let mut i0 = 0;
    for o in &mut blocks {
        let rows: [&[T]; MATVEC_ROWS] = std::array::from_fn(|t| row(i0 + t));
        let mut s = [T::zero(); MATVEC_ROWS];
        for (j, &xj) in x.iter().enumerate() {
            for t in 0..MATVEC_ROWS {
                s[t] += rows[t][j] * xj;
            }
        }
        o.copy_from_slice(&s);
        i0 += MATVEC_ROWS;
    }
    for (t, o) in blocks.into_remainder().iter_mut().enumerate() {
        let mut s = T::zero();
        for (&aij, &xj) in row(i0 + t).iter().zip(x) {
            s += aij * xj;
        }
        *o = s;
    }
}

/// `c += alpha * x yᵀ`.
///
/// Every entry gets one addition, so the loop order (memory order: columns
/// outermost when a column is contiguous, rows when a row is) does not
/// change the result.
pub(crate) fn rank_one<T: Real>(c: &mut StridedMut<'_, T>, alpha: T, x: &[T], y: &[T]) {
    if c.rs == 1 && c.cs != 1 {
        for (j, &yj) in y.iter().enumerate() {
            let col = &mut c.data[j * c.cs..j * c.cs + x.len()];
            for (cij, &xi) in col.iter_mut().zip(x) {
                *cij += alpha * xi * yj;
            }
        }
        return;
    }
    if c.cs == 1 {
        for (i, &xi) in x.iter().enumerate() {
            let ax = alpha * xi;
            let row = &mut c.data[i * c.rs..i * c.rs + y.len()];
            for (cij, &yj) in row.iter_mut().zip(y) {
                *cij += ax * yj;
            }
        }
        return;
    }
    for (i, &xi) in x.iter().enumerate() {
        let ax = alpha * xi;
        for (j, &yj) in y.iter().enumerate() {
            *c.at_mut(i, j) += ax * yj;
        }
    }
}

/// `dst += alpha * src`, element by element.
pub(crate) fn axpy<T: Real>(dst: &mut [T], alpha: T, src: &[T]) {
    for (d, &s) in dst.iter_mut().zip(src) {
        *d += alpha * s;
    }
}

/// Resizes `m` to `rows x cols` if needed, reusing its buffer when the shape
/// already fits. Contents are unspecified afterwards.
pub(crate) fn ensure_shape<T: Real>(m: &mut DMatrix<T>, rows: usize, cols: usize) {
    if m.shape() != (rows, cols) {
        *m = DMatrix::zeros(rows, cols);
    }
}

/// Number of independent accumulators in reductions: enough for the
/// compiler to vectorise, and fixed, so the summation order (and hence the
/// bits) never changes.
const LANES: usize = 8;

/// Independent accumulators of [`all_finite`]: four AVX2 vectors of f32, so
/// the scan is bound by load throughput rather than by the latency of one
/// chain of additions. Its result is a boolean, so the order is free.
const FINITE_LANES: usize = 32;

multiversion! {
    /// Whether every entry is finite, without a data-dependent early exit so
    /// the scan vectorises (`x − x` is 0 for finite `x` and NaN otherwise).
    #[allow(clippy::eq_op)]
    pub(crate) fn all_finite<T: Real>(v: &[T]) -> bool {
        let mut acc = [T::zero(); FINITE_LANES];
        let chunks = v.chunks_exact(FINITE_LANES);
        let rest = chunks.remainder();
        for c in chunks {
            for k in 0..FINITE_LANES {
                acc[k] += c[k] - c[k];
            }
        }
        for &x in rest {
            acc[0] += x - x;
        }
        acc.iter().all(|a| *a == T::zero())
    }
}

/// Entries per parallel task of [`first_non_finite`].
const FINITE_TASK: usize = 16384;

/// The index of the first non-finite entry of `v`, if any. The common case,
/// all finite, is one vectorised scan ([`all_finite`]) over fixed chunks in
/// parallel; only a failing scan looks for the position (for the message).
/// Used on whole parameter vectors and training data, checked on every
/// parameter load and every fit.
pub(crate) fn first_non_finite<T: Real>(v: &[T]) -> Option<usize> {
    if v.par_chunks(FINITE_TASK).all(all_finite) {
        None
    } else {
        v.iter().position(|x| !x.is_finite())
    }
}

multiversion! {
    /// `Σ v_i²` in f64 over fixed lanes: deterministic and vectorised (a
    /// single running sum would wait on each addition's latency).
    pub(crate) fn sum_squares<T: Real>(v: &[T]) -> f64 {
        lane_sum(v, v, |a, _| a.f64() * a.f64())
    }
}

/// `Σ f(a_i, b_i)` accumulated in f64 over fixed lanes (deterministic,
/// vectorisable). Inline so it is compiled inside each multiversioned caller.
#[inline(always)]
pub(crate) fn lane_sum<T: Real>(a: &[T], b: &[T], f: impl Fn(T, T) -> f64) -> f64 {
    debug_assert_eq!(a.len(), b.len());
    let mut acc = [0.0f64; LANES];
    let ca = a.chunks_exact(LANES);
    let cb = b.chunks_exact(LANES);
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for k in 0..LANES {
            acc[k] += f(x[k], y[k]);
        }
    }
    for (&x, &y) in ra.iter().zip(rb) {
        acc[0] += f(x, y);
    }
    acc.iter().sum()
}

/// [`lane_sum`] that also writes `d_i = g(a_i, b_i)` in the same pass, for
/// a loss whose value and gradient read the same two inputs: the sum has
/// exactly [`lane_sum`]'s bits, and each input is read once instead of twice.
#[inline(always)]
pub(crate) fn lane_sum_write<T: Real>(
    d: &mut [T],
    a: &[T],
    b: &[T],
    f: impl Fn(T, T) -> f64,
    g: impl Fn(T, T) -> T,
) -> f64 {
    debug_assert!(a.len() == b.len() && d.len() == a.len());
    let mut acc = [0.0f64; LANES];
    let cd = d.chunks_exact_mut(LANES);
    let ca = a.chunks_exact(LANES);
    let cb = b.chunks_exact(LANES);
    let (ra, rb) = (ca.remainder(), cb.remainder());
    let done = a.len() - ra.len();
    for ((o, x), y) in cd.zip(ca).zip(cb) {
        for k in 0..LANES {
            acc[k] += f(x[k], y[k]);
            o[k] = g(x[k], y[k]);
        }
    }
    for ((o, &x), &y) in d[done..].iter_mut().zip(ra).zip(rb) {
        acc[0] += f(x, y);
        *o = g(x, y);
    }
    acc.iter().sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `matvec` of one matrix through each layout (column-major, row-major,
    /// and both as transposed views of the other shape) gives the bits of
    /// one plain sum per output in ascending `j`, for row counts below, at
    /// and above the side-by-side block; `rank_one` gives the bits of
    /// `c + (alpha x_i) y_j` in every layout.
    #[test]
    fn matvec_and_rank_one_keep_each_entrys_order_in_every_layout() {
        for (m, n) in [(1, 1), (5, 3), (8, 13), (19, 7), (33, 40)] {
            let a: Vec<f32> = (0..m * n)
                .map(|k| ((k * 37 % 101) as f32 - 50.0) / 7.0)
                .collect();
            let x: Vec<f32> = (0..n).map(|j| (j as f32 - 1.5) / 3.0).collect();
            let entry = |i: usize, j: usize| a[i * n + j];
            let want: Vec<f32> = (0..m)
                .map(|i| (0..n).fold(0.0f32, |s, j| s + entry(i, j) * x[j]))
                .collect();
            let col_major: Vec<f32> = (0..m * n).map(|k| entry(k % m, k / m)).collect();
            let views = [
                Strided::row_major(&a, m, n),
                Strided {
                    data: &col_major,
                    rows: m,
                    cols: n,
                    rs: 1,
                    cs: m,
                },
                Strided::row_major(&col_major, n, m).t(),
                Strided {
                    data: &a,
                    rows: n,
                    cols: m,
                    rs: 1,
                    cs: n,
                }
                .t(),
            ];
            for (v, view) in views.into_iter().enumerate() {
                let mut out = vec![f32::NAN; m];
                matvec(view, &x, &mut out);
                assert_eq!(out, want, "{m}x{n}, view {v}");
            }
            let y: Vec<f32> = (0..n).map(|j| j as f32 * 0.25 - 1.0).collect();
            let xs: Vec<f32> = (0..m).map(|i| 0.5 - i as f32 / 9.0).collect();
            let alpha = -0.75f32;
            let mut row = a.clone();
            let mut col = col_major.clone();
            rank_one(&mut StridedMut::row_major(&mut row, m, n), alpha, &xs, &y);
            rank_one(&mut StridedMut::col_major(&mut col, m, n), alpha, &xs, &y);
            for i in 0..m {
                for j in 0..n {
                    let want = entry(i, j) + alpha * xs[i] * y[j];
                    assert_eq!(row[i * n + j], want, "row-major ({i}, {j})");
                    assert_eq!(col[i + j * m], want, "column-major ({i}, {j})");
                }
            }
        }
    }

    /// The first non-finite entry is found in any of several parallel
    /// chunks, including the ragged last one; none in finite data.
    #[test]
    fn first_non_finite_names_the_first_bad_entry() {
        let n = 3 * FINITE_TASK + 77;
        let mut v = vec![0.5f32; n];
        assert_eq!(first_non_finite(&v), None);
        for at in [0, FINITE_TASK - 1, 2 * FINITE_TASK + 5, n - 1] {
            let mut w = v.clone();
            w[at] = f32::NAN;
            w[n - 1] = f32::INFINITY;
            assert_eq!(first_non_finite(&w), Some(at));
        }
        v[FINITE_TASK + 3] = f32::NEG_INFINITY;
        assert_eq!(first_non_finite(&v), Some(FINITE_TASK + 3));
    }
}
