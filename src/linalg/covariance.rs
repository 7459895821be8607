//! Column means and the sample covariance matrix `(X − 1μᵀ)ᵀ(X − 1μᵀ) / (n − 1)`.
//!
//! The Gram product is the dominant cost of covariance PCA (`n d²` flops), so
//! it runs on faer's parallel matrix product, and only its lower triangle is
//! formed (the eigensolver reads nothing else), which halves the work.
//!
//! The data are centred chunk by chunk into a small buffer instead of making
//! a centred copy of `X`: the copy (a page-faulting `n x d` allocation) costs
//! about half as much time as the product itself for no numerical gain,
//! while the alternative that avoids it, `XᵀX − n μμᵀ`, cancels catastrophically
//! when the means are large compared with the spread.
//!
//! Sparse data (image pixels, counts, one-hot features) take a second route.
//! Centring destroys zeros, so it forms the uncentred Gram `XᵀX` instead,
//! chunk by chunk over only the columns that have a nonzero in the chunk,
//! and subtracts `n μμᵀ` at the end. On mnist10k (81% zeros, rows grouped
//! by digit) that halves the product's flops. The subtraction loses about
//! `log2(1 + μ²/σ²)` bits per entry, so the route is taken only when no
//! column's mean exceeds [`MAX_MEAN_OVER_SPREAD`] standard deviations
//! (for a sparse column `μ²/σ² ≈ p / (1 − p)` with `p` its fraction of
//! nonzeros, so sparse data pass easily), and only when it saves enough work.
//!
//! Determinism: faer's `f64` product kernel (private-gemm) hands whole output
//! tiles to threads and blocks the inner dimension at a fixed 512, so every
//! entry is the same sequence of operations whatever the thread count;
//! chunks have a fixed size and are accumulated in order; the column sums
//! are sequential. Tiny products, which faer routes to vector kernels
//! that may split a dot product, run sequentially. Tests check bit-equality
//! across thread pools of different sizes.

use super::tridiagonalization::{DOT_LANES, sum_lanes};
use crate::real::Real;
use faer::linalg::matmul::triangular::{BlockStructure, matmul};
use faer::reborrow::ReborrowMut;
use faer::{Accum, Mat, Par};
use nalgebra::DMatrix;
use rayon::prelude::*;

/// Rows centred and multiplied per step: 1024 x d doubles stay in the
/// last-level cache for the d of image data (784 -> 6.4 MB), and the product
/// has a long enough inner dimension to run near full speed: much shorter
/// chunks make the product call overhead-bound, much longer ones leave the
/// cache (`benches/pca.rs` measures the fit).
const CHUNK_ROWS: usize = 1024;

/// Rows per chunk of the sparse route: smaller chunks touch fewer columns
/// (measured on mnist10k: 256 rows need 1128 M multiply-adds, 64 need 865 M,
/// against 2265 M dense) but make smaller, less efficient products.
const SPARSE_CHUNK_ROWS: usize = 256;

/// Independent accumulators of the sparse route (see `sparse_gram_lower`).
const SPARSE_LANES: usize = 2;

/// The sparse route is taken only if it needs at most this fraction of the
/// dense route's multiply-adds (it also pays a scatter of each chunk's
/// product into the full matrix).
const SPARSE_MAX_WORK: f64 = 0.75;

/// Largest column mean, in standard deviations, for which `XᵀX − n μμᵀ`
/// is formed (at most 6 bits lost per entry; see module docs).
const MAX_MEAN_OVER_SPREAD: f64 = 8.0;

/// Below this many columns the product runs sequentially (see module docs).
const PARALLEL_MIN_DIM: usize = 32;

/// Columns centred per parallel task when filling a chunk.
const CENTER_COLS: usize = 16;

/// Column means, and which columns vary at all.
pub(crate) struct ColumnStats {
    /// Mean of every column (exactly the common value for a constant column,
    /// so it centres to exact zeros).
    pub mean: Vec<f64>,
    /// Indices of the columns whose entries are not all equal, ascending.
    pub varying: Vec<usize>,
    /// Sum of squares of every column (uncentred), for the sparse route's
    /// cancellation guard.
    sum_squares: Vec<f64>,
    /// `nonzero[j][c]`: column `j` has a nonzero entry in rows chunk `c`
    /// (chunks of [`SPARSE_CHUNK_ROWS`] rows).
    nonzero: Vec<Vec<bool>>,
}

/// Means and varying columns of `x` in one pass, parallel over columns.
///
/// Why the constant columns: a column with every entry equal has an all-zero
/// row and column in the covariance matrix, so its unit vector is an exact
/// eigenvector with eigenvalue 0 and the rest of the problem decouples from
/// it. Image data have many (MNIST's always-blank border pixels: 67 of 784),
/// and dropping them before the `O(n d²)` product and the `O(d³)`
/// eigensolver saves a quarter of the work at no cost in accuracy.
pub(crate) fn column_stats(x: &DMatrix<f64>) -> ColumnStats {
    let n = x.nrows();
    if n == 0 {
        return ColumnStats {
            mean: vec![0.0; x.ncols()],
            varying: Vec::new(),
            sum_squares: vec![0.0; x.ncols()],
            nonzero: vec![Vec::new(); x.ncols()],
        };
    }
    // One pass per column gathers everything both covariance routes need.
    let per_column: Vec<(f64, bool, f64, Vec<bool>)> = x
        .as_slice()
        .par_chunks(n)
        .map(|col| {
            let first = col[0];
            let mut sum = [0.0; STAT_LANES];
            let mut squares = [0.0; STAT_LANES];
            let mut varies = false;
            let mut nonzero = Vec::with_capacity(n.div_ceil(SPARSE_CHUNK_ROWS));
            for chunk in col.chunks(SPARSE_CHUNK_ROWS) {
                let (differs, any) = summarise(chunk, first, &mut sum, &mut squares);
                varies |= differs;
                nonzero.push(any);
            }
            let (sum, squares) = (sum_lanes(&sum), sum_lanes(&squares));
            let mean = if varies { sum / n as f64 } else { first };
            (mean, varies, squares, nonzero)
        })
        .collect();
    let mut stats = ColumnStats {
        mean: Vec::with_capacity(x.ncols()),
        varying: Vec::new(),
        sum_squares: Vec::with_capacity(x.ncols()),
        nonzero: Vec::with_capacity(x.ncols()),
    };
    for (j, (mean, varies, squares, nonzero)) in per_column.into_iter().enumerate() {
        stats.mean.push(mean);
        if varies {
            stats.varying.push(j);
        }
        stats.sum_squares.push(squares);
        stats.nonzero.push(nonzero);
    }
    stats
}

/// Independent partial sums per column in [`column_stats`]: one running sum
/// would wait on the adder's latency for every entry (the pass would be
/// latency-bound); eight let it vectorise and run at
/// memory speed. Entry `i` of a column always goes to partial sum `i % 8`
/// (chunks are multiples of 8 rows), and the partial sums are added in
/// the reduction's fixed tree, so the bits do not depend on threads.
const STAT_LANES: usize = DOT_LANES;

/// Adds `chunk`'s entries (at least one) and their squares into the partial
/// sums, and says whether any entry differs from `first` and whether any is
/// nonzero.
///
/// Those two come from each lane's least and greatest entry rather than
/// from flags, which keeps the loop vectorised. A NaN never wins a
/// comparison, but it makes the column sum NaN, which the caller rejects.
#[inline]
fn summarise(
    chunk: &[f64],
    first: f64,
    sum: &mut [f64; STAT_LANES],
    squares: &mut [f64; STAT_LANES],
) -> (bool, bool) {
    // Seeded from this chunk, so that the nonzero test sees only its entries.
    let mut low = [chunk[0]; STAT_LANES];
    let mut high = [chunk[0]; STAT_LANES];
    let mut add = |l: usize, v: f64| {
        sum[l] += v;
        squares[l] += v * v;
        // Written as selects, not `f64::min`, so they compile to single
        // vector min/max instructions.
        low[l] = if v < low[l] { v } else { low[l] };
        high[l] = if v > high[l] { v } else { high[l] };
    };
    let mut groups = chunk.chunks_exact(STAT_LANES);
    for group in &mut groups {
        for (l, &v) in group.iter().enumerate() {
            add(l, v);
        }
    }
    for (l, &v) in groups.remainder().iter().enumerate() {
        add(l, v);
    }
    let low = low.into_iter().fold(chunk[0], f64::min);
    let high = high.into_iter().fold(chunk[0], f64::max);
    (low != first || high != first, low != 0.0 || high != 0.0)
}

/// `x` minus its column means, as a new matrix.
pub(crate) fn centered(x: &DMatrix<f64>, mean: &[f64]) -> DMatrix<f64> {
    let n = x.nrows();
    let mut out = DMatrix::<f64>::zeros(n, x.ncols());
    if n == 0 {
        return out;
    }
    out.as_mut_slice()
        .par_chunks_mut(n)
        .zip(x.as_slice().par_chunks(n))
        .zip(mean.par_iter())
        .for_each(|((dst, src), &m)| {
            for (o, &v) in dst.iter_mut().zip(src) {
                *o = v - m;
            }
        });
    out
}

/// The lower triangle (diagonal included) of the sample covariance (ddof = 1)
/// of the columns `cols` of `x` around their means, a `cols.len()` square
/// matrix. Entries above the diagonal are zero. Sparse data take the sparse
/// route when it is both safe and cheaper (see module docs).
///
/// Needs `x.nrows() >= 2` (callers check it).
pub(crate) fn covariance_lower(x: &DMatrix<f64>, stats: &ColumnStats, cols: &[usize]) -> Mat<f64> {
    debug_assert!(x.nrows() >= 2 && stats.mean.len() == x.ncols());
    let scale = 1.0 / (x.nrows() as f64 - 1.0);
    match sparse_plan(x.nrows(), stats, cols) {
        Some(active) => sparse_covariance_lower(x, stats, cols, &active, scale),
        None => {
            let mut cov = centered_gram_lower(x, &stats.mean, cols);
            for j in 0..cols.len() {
                cov.col_as_slice_mut(j)[j..]
                    .iter_mut()
                    .for_each(|v| *v *= scale);
            }
            cov
        }
    }
}

fn parallelism(d: usize) -> Par {
    if d >= PARALLEL_MIN_DIM {
        Par::rayon(0)
    } else {
        Par::Seq
    }
}

/// Lower triangle of `(X − 1μᵀ)ᵀ(X − 1μᵀ)` over `cols`, centred chunk by chunk.
fn centered_gram_lower(x: &DMatrix<f64>, mean: &[f64], cols: &[usize]) -> Mat<f64> {
    let n = x.nrows();
    let d = cols.len();
    let mut gram = Mat::<f64>::zeros(d, d);
    let par = parallelism(d);
    let rows = CHUNK_ROWS.min(n);
    let mut chunk = Mat::<f64>::zeros(rows, d);
    let mut start = 0;
    while start < n {
        let len = rows.min(n - start);
        fill_centered_rows(&mut chunk, x, mean, cols, start, len);
        let block = chunk.as_ref().subrows(0, len);
        matmul(
            gram.as_mut(),
            BlockStructure::TriangularLower,
            if start == 0 {
                Accum::Replace
            } else {
                Accum::Add
            },
            block.transpose(),
            BlockStructure::Rectangular,
            block,
            BlockStructure::Rectangular,
            1.0,
            par,
        );
        start += len;
    }
    gram
}

/// For the sparse route, the positions in `cols` with a nonzero entry in
/// each chunk of [`SPARSE_CHUNK_ROWS`] rows; `None` when the route would not
/// save enough work or the subtraction of `n μμᵀ` could cancel (see module
/// docs).
fn sparse_plan(n: usize, stats: &ColumnStats, cols: &[usize]) -> Option<Vec<Vec<usize>>> {
    let safe = cols.iter().all(|&j| {
        let m = stats.mean[j];
        let spread = stats.sum_squares[j] / n as f64 - m * m;
        spread > 0.0 && m * m <= MAX_MEAN_OVER_SPREAD * MAX_MEAN_OVER_SPREAD * spread
    });
    if !safe {
        return None;
    }
    let chunks = n.div_ceil(SPARSE_CHUNK_ROWS);
    let active: Vec<Vec<usize>> = (0..chunks)
        .map(|c| {
            (0..cols.len())
                .filter(|&p| stats.nonzero[cols[p]][c])
                .collect()
        })
        .collect();
    let work: f64 = active
        .iter()
        .enumerate()
        .map(|(c, a)| {
            let rows = SPARSE_CHUNK_ROWS.min(n - c * SPARSE_CHUNK_ROWS);
            rows as f64 * (a.len() as f64).powi(2)
        })
        .sum();
    let dense = n as f64 * (cols.len() as f64).powi(2);
    (work <= SPARSE_MAX_WORK * dense).then_some(active)
}

/// Lower triangle of `(XᵀX − n μμᵀ) · scale` over `cols`, each chunk's
/// product taken over its `active` columns only and added into place.
fn sparse_covariance_lower(
    x: &DMatrix<f64>,
    stats: &ColumnStats,
    cols: &[usize],
    active: &[Vec<usize>],
    scale: f64,
) -> Mat<f64> {
    let n = x.nrows();
    let d = cols.len();
    let widest = active.iter().map(Vec::len).max().unwrap_or(0);
    // Subtracting zero leaves the raw values: the chunk filler is shared.
    let no_shift = vec![0.0; x.ncols()];
    // Chunks go round-robin to a fixed number of lanes, each summing its
    // chunks in order with one-thread products into its own matrix; the
    // lanes are added in lane order. Whole products per core run closer
    // to peak than one product split across cores, and the order of every
    // addition is fixed by the lane count, not the thread count.
    let mut lanes: Vec<Mat<f64>> = (0..SPARSE_LANES)
        .into_par_iter()
        .map(|lane| {
            let mut gram = Mat::<f64>::zeros(d, d);
            let mut chunk = Mat::<f64>::zeros(SPARSE_CHUNK_ROWS.min(n), widest);
            let mut product = Mat::<f64>::zeros(widest, widest);
            let mut run_end = Vec::with_capacity(widest);
            for c in (lane..active.len()).step_by(SPARSE_LANES) {
                let act = &active[c];
                let a = act.len();
                if a == 0 {
                    continue;
                }
                let start = c * SPARSE_CHUNK_ROWS;
                let len = SPARSE_CHUNK_ROWS.min(n - start);
                let act_cols: Vec<usize> = act.iter().map(|&p| cols[p]).collect();
                fill_centered_rows(&mut chunk, x, &no_shift, &act_cols, start, len);
                let block = chunk.as_ref().submatrix(0, 0, len, a);
                matmul(
                    product.as_mut().submatrix_mut(0, 0, a, a),
                    BlockStructure::TriangularLower,
                    Accum::Replace,
                    block.transpose(),
                    BlockStructure::Rectangular,
                    block,
                    BlockStructure::Rectangular,
                    1.0,
                    Par::Seq,
                );
                // Active columns come in runs of consecutive positions
                // (image rows, for pixels): each run is one slice addition.
                run_ends(act, &mut run_end);
                for (q, &p) in act.iter().enumerate() {
                    let (col, values) = (gram.col_as_slice_mut(p), product.col_as_slice(q));
                    let mut i = q;
                    while i < a {
                        let end = run_end[i];
                        let to = &mut col[act[i]..act[i] + (end - i)];
                        for (t, &v) in to.iter_mut().zip(&values[i..end]) {
                            *t += v;
                        }
                        i = end;
                    }
                }
            }
            gram
        })
        .collect();
    // Lane sum, the mean correction and the scaling in one pass over the
    // lower triangle; every entry on its own, so column blocks can run in
    // parallel without changing a bit.
    let (first, rest) = lanes.split_first_mut().expect("at least one lane");
    let nf = n as f64;
    first
        .as_mut()
        .par_col_chunks_mut(CENTER_COLS)
        .enumerate()
        .for_each(|(block, mut out)| {
            for jj in 0..out.ncols() {
                let q = block * CENTER_COLS + jj;
                let col = out.rb_mut().col_mut(jj).try_as_col_major_mut();
                let col = &mut col.expect("faer columns are contiguous").as_slice_mut()[q..];
                for lane in rest.iter() {
                    for (g, &v) in col.iter_mut().zip(&lane.col_as_slice(q)[q..]) {
                        *g += v;
                    }
                }
                let shift = nf * stats.mean[cols[q]];
                for (g, &i) in col.iter_mut().zip(&cols[q..]) {
                    *g = (*g - shift * stats.mean[i]) * scale;
                }
            }
        });
    lanes.swap_remove(0)
}

/// `run_end[i]`: one past the last index of the run of consecutive values
/// in `positions` (ascending) that contains index `i`.
fn run_ends(positions: &[usize], run_end: &mut Vec<usize>) {
    run_end.clear();
    run_end.resize(positions.len(), positions.len());
    for i in (0..positions.len().saturating_sub(1)).rev() {
        if positions[i + 1] != positions[i] + 1 {
            run_end[i] = i + 1;
        } else {
            run_end[i] = run_end[i + 1];
        }
    }
}

/// Writes rows `start..start + len` of the columns `cols` of `x`, widened to
/// `f64` and centred by `mean` (indexed like `x`'s columns), into the first
/// `len` rows of `chunk` (whose column `c` receives column `cols[c]`; any
/// further columns are left alone).
///
/// Shared by every pass over the data in row chunks: a cache-sized centred
/// block replaces an `n x d` centred copy.
pub(crate) fn fill_centered_rows<T: Real>(
    chunk: &mut Mat<f64>,
    x: &DMatrix<T>,
    mean: &[f64],
    cols: &[usize],
    start: usize,
    len: usize,
) {
    let n = x.nrows();
    let xs = x.as_slice();
    chunk
        .as_mut()
        .subcols_mut(0, cols.len())
        .par_col_chunks_mut(CENTER_COLS)
        .enumerate()
        .for_each(|(block, mut out)| {
            for jj in 0..out.ncols() {
                let j = cols[block * CENTER_COLS + jj];
                let src = &xs[j * n + start..j * n + start + len];
                let m = mean[j];
                let dst = out.rb_mut().col_mut(jj).try_as_col_major_mut();
                let dst = dst.expect("faer columns are contiguous").as_slice_mut();
                for (o, &v) in dst[..len].iter_mut().zip(src) {
                    *o = v.f64() - m;
                }
            }
        });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constant_columns_are_detected_and_centre_exactly() {
        let x = DMatrix::from_row_slice(
            3,
            4,
            &[
                0.1, 1.0, 5.0, 0.0, 0.1, 2.0, 5.0, 0.0, 0.1, 4.0, 5.0, -1e-300,
            ],
        );
        let stats = column_stats(&x);
        assert_eq!(stats.varying, vec![1, 3]);
        assert_eq!(stats.mean[0], 0.1);
        assert_eq!(stats.mean[2], 5.0);
        assert!((stats.mean[1] - 7.0 / 3.0).abs() < 1e-15);
        let c = covariance_lower(&x, &stats, &[0, 2]);
        assert_eq!((c[(0, 0)], c[(1, 0)], c[(1, 1)]), (0.0, 0.0, 0.0));
    }

    /// The vectorised pass finds a single differing or nonzero entry in any
    /// lane, in the tail of a chunk and in the last, short chunk, and its
    /// sums agree with a plain sum.
    #[test]
    fn column_pass_finds_every_differing_and_nonzero_entry() {
        let n = 3 * SPARSE_CHUNK_ROWS + 13;
        for at in [0, 1, 7, 8, 255, 256, 300, n - 13, n - 1] {
            let mut x = DMatrix::<f64>::zeros(n, 3);
            x.column_mut(1).fill(2.5);
            x[(at, 0)] = -0.75;
            x[(at, 1)] = 2.5 + 1e-12;
            x[(at, 2)] = 0.0;
            let stats = column_stats(&x);
            assert_eq!(stats.varying, vec![0, 1], "entry {at}");
            let flags: Vec<bool> = (0..n.div_ceil(SPARSE_CHUNK_ROWS))
                .map(|c| c == at / SPARSE_CHUNK_ROWS)
                .collect();
            assert_eq!(stats.nonzero[0], flags, "entry {at}");
            assert!(stats.nonzero[1].iter().all(|&b| b) && stats.nonzero[2].iter().all(|&b| !b));
            assert_eq!(stats.mean[0], -0.75 / n as f64);
            assert_eq!(stats.sum_squares[0], 0.5625);
            assert_eq!(stats.mean[2], 0.0);
        }
        let x = DMatrix::from_fn(n, 2, |i, j| ((i * 37 + j * 11) % 101) as f64 * 0.013 - 0.4);
        let stats = column_stats(&x);
        for j in 0..2 {
            let sum: f64 = x.column(j).iter().sum();
            let squares: f64 = x.column(j).iter().map(|v| v * v).sum();
            assert!((stats.mean[j] - sum / n as f64).abs() < 1e-15);
            assert!((stats.sum_squares[j] - squares).abs() < 1e-12 * squares);
        }
        let mut bad = x.clone();
        bad[(5, 1)] = f64::NAN;
        assert!(column_stats(&bad).mean[1].is_nan());
    }

    #[test]
    fn runs_of_consecutive_positions() {
        let mut ends = Vec::new();
        run_ends(&[2, 3, 4, 7, 9, 10], &mut ends);
        assert_eq!(ends, vec![3, 3, 3, 4, 6, 6]);
        run_ends(&[5], &mut ends);
        assert_eq!(ends, vec![1]);
        run_ends(&[], &mut ends);
        assert!(ends.is_empty());
    }

    /// Sparse test data (also used by the thread tests): rows in blocks of 256 leave a third of the columns
    /// all zero, the rest about one in five nonzero, on a large value.
    pub(super) fn sparse_matrix(n: usize, d: usize) -> DMatrix<f64> {
        DMatrix::from_fn(n, d, |i, j| {
            if (i / 256 + j) % 3 != 0 && (i * 7 + j * 13) % 5 == 0 {
                1e3 + ((i + j) % 11) as f64 * 0.25
            } else {
                0.0
            }
        })
    }

    /// Sparse data take the uncentred route and agree with the two-pass
    /// formula; dense data, and a column whose mean is many standard
    /// deviations, take the centred route.
    #[test]
    fn sparse_route_matches_two_pass_formula_and_is_guarded() {
        let (n, d) = (1300, 30);
        let x = sparse_matrix(n, d);
        let stats = column_stats(&x);
        assert!(sparse_plan(n, &stats, &stats.varying).is_some());
        let c = covariance_lower(&x, &stats, &stats.varying);
        let xc = centered(&x, &stats.mean);
        for j in 0..d {
            for i in j..d {
                let want: f64 =
                    (0..n).map(|r| xc[(r, i)] * xc[(r, j)]).sum::<f64>() / (n - 1) as f64;
                assert!(
                    (c[(i, j)] - want).abs() <= 1e-12 * 1e6,
                    "({i},{j}) {} vs {want}",
                    c[(i, j)]
                );
            }
        }
        // One column nonzero (and large) in all rows but one: its mean is
        // about sqrt(n) standard deviations.
        let mut offset = x.clone();
        for r in 1..n {
            offset[(r, 0)] = 1e3;
        }
        let stats = column_stats(&offset);
        assert!(sparse_plan(n, &stats, &stats.varying).is_none());
        // Dense data.
        let dense = DMatrix::from_fn(n, d, |i, j| ((i * 31 + j * 17) % 23) as f64 + 1.0);
        let stats = column_stats(&dense);
        assert!(sparse_plan(n, &stats, &stats.varying).is_none());
    }

    /// The chunked, triangular product against a direct two-pass formula.
    #[test]
    fn covariance_matches_two_pass_formula() {
        // More rows than one chunk so accumulation across chunks is exercised,
        // and a large offset so a cancelling formula would visibly fail.
        let (n, d) = (1300, 7);
        let x = DMatrix::from_fn(n, d, |i, j| {
            1e6 + ((i * 31 + j * 17) % 23) as f64 * 0.5 + (j as f64) * (i as f64).sin()
        });
        let stats = column_stats(&x);
        assert_eq!(stats.varying, (0..d).collect::<Vec<_>>());
        let mean = stats.mean.clone();
        let c = covariance_lower(&x, &stats, &stats.varying);
        let xc = centered(&x, &mean);
        for j in 0..d {
            for i in 0..d {
                let want: f64 =
                    (0..n).map(|r| xc[(r, i)] * xc[(r, j)]).sum::<f64>() / (n - 1) as f64;
                if i >= j {
                    assert!(
                        (c[(i, j)] - want).abs() <= 1e-9 * want.abs().max(1.0),
                        "({i},{j}) {} vs {want}",
                        c[(i, j)]
                    );
                } else {
                    assert_eq!(c[(i, j)], 0.0);
                }
            }
        }
    }
}

#[cfg(test)]
mod thread_tests {
    use super::*;

    /// Bit-equality of the covariance across thread pools of different sizes.
    #[test]
    fn covariance_does_not_depend_on_thread_count() {
        use rand::RngExt;
        let mut rng = crate::rng::seeded(9);
        let (n, d) = (2500, 300);
        let x = DMatrix::from_fn(n, d, |_, _| rng.random_range(-1.0..1.0));
        let stats = column_stats(&x);
        let run = |threads: usize| {
            crate::linalg::on_threads(threads, || covariance_lower(&x, &stats, &stats.varying))
        };
        let one = run(1);
        for threads in [2, 3, 4] {
            assert!(one == run(threads), "1 vs {threads} threads");
        }
    }

    /// The same for the sparse route.
    #[test]
    fn sparse_covariance_does_not_depend_on_thread_count() {
        let x = super::tests::sparse_matrix(2500, 300);
        let stats = column_stats(&x);
        assert!(sparse_plan(x.nrows(), &stats, &stats.varying).is_some());
        let run = |threads: usize| {
            crate::linalg::on_threads(threads, || covariance_lower(&x, &stats, &stats.varying))
        };
        let one = run(1);
        for threads in [2, 3, 4] {
            assert!(one == run(threads), "1 vs {threads} threads");
        }
    }
}
