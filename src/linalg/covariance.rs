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
//! Determinism: faer's `f64` product kernel (private-gemm) hands whole output
//! tiles to threads and blocks the inner dimension at a fixed 512, so every
//! entry is the same sequence of operations whatever the thread count;
//! chunks have a fixed size and are accumulated in order; the column means
//! are sequential sums. Tiny products, which faer routes to vector kernels
//! that may split a dot product, run sequentially. Tests check bit-equality
//! across thread pools of different sizes.

use crate::real::Real;
use faer::linalg::matmul::triangular::{BlockStructure, matmul};
use faer::{Accum, Mat, Par};
use nalgebra::DMatrix;
use rayon::prelude::*;

/// Rows centred and multiplied per step: 1024 x d doubles stay in the
/// last-level cache for the d of image data (784 -> 6.4 MB), and the product
/// has a long enough inner dimension to run near full speed (measured on
/// mnist10k: 512 to 2048 rows are within a few percent; 256 is slower).
const CHUNK_ROWS: usize = 1024;

/// Below this many columns the product runs sequentially (see module docs).
const PARALLEL_MIN_DIM: usize = 32;

/// Columns centred per parallel task when filling a chunk.
const CENTER_COLS: usize = 16;

/// Column means, and which columns vary at all.
pub(crate) struct ColumnStats {
    /// Mean of every column (a sequential sum in row order; exactly the
    /// common value for a constant column, so it centres to exact zeros).
    pub mean: Vec<f64>,
    /// Indices of the columns whose entries are not all equal, ascending.
    pub varying: Vec<usize>,
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
        };
    }
    let per_column: Vec<(f64, bool)> = x
        .as_slice()
        .par_chunks(n)
        .map(|col| {
            let first = col[0];
            let mut sum = 0.0;
            let mut varies = false;
            for &v in col {
                sum += v;
                varies |= v != first;
            }
            if varies {
                (sum / n as f64, true)
            } else {
                (first, false)
            }
        })
        .collect();
    ColumnStats {
        mean: per_column.iter().map(|&(m, _)| m).collect(),
        varying: per_column
            .iter()
            .enumerate()
            .filter(|(_, (_, v))| *v)
            .map(|(j, _)| j)
            .collect(),
    }
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
/// matrix. Entries above the diagonal are zero.
///
/// Needs `x.nrows() >= 2` (callers check it).
pub(crate) fn covariance_lower(x: &DMatrix<f64>, mean: &[f64], cols: &[usize]) -> Mat<f64> {
    let n = x.nrows();
    let d = cols.len();
    debug_assert!(n >= 2 && mean.len() == x.ncols());
    let mut cov = Mat::<f64>::zeros(d, d);
    let par = if d >= PARALLEL_MIN_DIM {
        Par::rayon(0)
    } else {
        Par::Seq
    };
    let rows = CHUNK_ROWS.min(n);
    let mut chunk = Mat::<f64>::zeros(rows, d);
    let mut start = 0;
    while start < n {
        let len = rows.min(n - start);
        fill_centered_rows(&mut chunk, x, mean, cols, start, len);
        let block = chunk.as_ref().subrows(0, len);
        matmul(
            cov.as_mut(),
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
    let scale = 1.0 / (n as f64 - 1.0);
    for j in 0..d {
        for i in j..d {
            cov[(i, j)] *= scale;
        }
    }
    cov
}

/// Writes rows `start..start + len` of the columns `cols` of `x`, widened to
/// `f64` and centred by `mean` (indexed like `x`'s columns), into the first
/// `len` rows of `chunk` (whose column `c` receives column `cols[c]`).
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
        .par_col_chunks_mut(CENTER_COLS)
        .enumerate()
        .for_each(|(block, mut out)| {
            for jj in 0..out.ncols() {
                let j = cols[block * CENTER_COLS + jj];
                let src = &xs[j * n + start..j * n + start + len];
                let m = mean[j];
                for (i, &v) in src.iter().enumerate() {
                    out[(i, jj)] = v.f64() - m;
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
        let c = covariance_lower(&x, &stats.mean, &[0, 2]);
        assert_eq!((c[(0, 0)], c[(1, 0)], c[(1, 1)]), (0.0, 0.0, 0.0));
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
        let mean = stats.mean;
        let c = covariance_lower(&x, &mean, &stats.varying);
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
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            pool.install(|| covariance_lower(&x, &stats.mean, &stats.varying))
        };
        let one = run(1);
        for threads in [2, 3, 4] {
            assert!(one == run(threads), "1 vs {threads} threads");
        }
    }
}
