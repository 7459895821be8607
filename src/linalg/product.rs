//! Matrix products on faer's parallel kernel, with the same bits for every
//! thread count.
//!
//! faer's `f64` general product (private-gemm) assigns whole output tiles to
//! threads and blocks the inner dimension at a fixed size, so each entry is
//! computed by the same operation sequence however many threads share the
//! work. Its matrix–vector paths, taken when the output has a single row or
//! column, instead split the inner dimension across threads (measured: the
//! bits change). Products with a narrow output therefore run sequentially;
//! they are cheap anyway.

use faer::linalg::matmul::matmul;
use faer::{Accum, Mat, MatMut, MatRef, Par};

/// Outputs with fewer rows or columns than this are computed sequentially.
const NARROW: usize = 16;

/// `dst = lhs * rhs`.
pub(crate) fn multiply_into(dst: MatMut<'_, f64>, lhs: MatRef<'_, f64>, rhs: MatRef<'_, f64>) {
    let par = if dst.nrows().min(dst.ncols()) >= NARROW {
        Par::rayon(0)
    } else {
        Par::Seq
    };
    matmul(dst, Accum::Replace, lhs, rhs, 1.0, par);
}

/// `lhs * rhs` as a new matrix.
pub(crate) fn multiply(lhs: MatRef<'_, f64>, rhs: MatRef<'_, f64>) -> Mat<f64> {
    let mut out = Mat::<f64>::zeros(lhs.nrows(), rhs.ncols());
    multiply_into(out.as_mut(), lhs, rhs);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Bit-equality across pools for wide, narrow and single-column outputs.
    #[test]
    fn products_do_not_depend_on_thread_count() {
        use rand::RngExt;
        let mut rng = crate::rng::seeded(17);
        let a = Mat::<f64>::from_fn(3000, 200, |_, _| rng.random_range(-1.0..1.0));
        for cols in [1, 3, 40] {
            let b = Mat::<f64>::from_fn(200, cols, |i, j| ((i * 7 + j) % 13) as f64 - 6.0);
            let run = |threads: usize| {
                crate::linalg::on_threads(threads, || {
                    (
                        multiply(a.as_ref(), b.as_ref()),
                        multiply(a.transpose(), a.as_ref().subcols(0, cols)),
                    )
                })
            };
            let one = run(1);
            for threads in [2, 3, 4] {
                assert!(
                    one == run(threads),
                    "{cols} columns: 1 vs {threads} threads"
                );
            }
        }
    }
}
