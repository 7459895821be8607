//! Symmetric eigendecomposition of a covariance matrix: all eigenvalues, and
//! the eigenvectors of the largest ones only.
//!
//! The steps are LAPACK's `dsyevx` route: Householder tridiagonalisation
//! `C = Q T Qᵀ` (see [`super::tridiagonalization`]), the eigenvalues of `T`
//! (root-free QR, `O(d²)`, see [`super::root_free_qr`]), eigenvectors of `T` for
//! the wanted eigenvalues, and the back-transformation `v = Q y` of just
//! those vectors (faer's blocked Householder application). Few wanted vectors
//! are computed by inverse iteration (see [`super::inverse_iteration`]) and
//! verified; many, or any that fail verification, come from faer's divide and
//! conquer.
//!
//! All eigenvalues are always computed because PCA's error curve for every
//! number of components is a sum over the discarded ones.
//!
//! Determinism: the reduction splits its work in a way fixed by the problem
//! size (see [`super::tridiagonalization`]); faer's parallel Householder application
//! splits by thread count (its bits change), so the back-transformation gets
//! its parallelism from independent column panels instead. Divide and
//! conquer recurses on halves fixed by the problem size
//! and merges with large matrix products, whose `f64` kernel gives every
//! entry the same operation sequence whatever the thread count (see
//! [`super::covariance`]), so it uses the pool. Tests check bit-equality
//! across pools of 1 to 4 threads.

use super::inverse_iteration;
use super::root_free_qr;
use super::tridiagonalization::Reduction;
use crate::error::{Error, Result};
use faer::dyn_stack::{MemBuffer, MemStack};
use faer::linalg::evd::{self, ComputeEigenvectors};
use faer::linalg::householder::{
    apply_block_householder_sequence_on_the_left_in_place_scratch,
    apply_block_householder_sequence_on_the_left_in_place_with_conj, upgrade_householder_factor,
};
use faer::linalg::qr::no_pivoting::factor::recommended_block_size;
use faer::reborrow::ReborrowMut;
use faer::{Col, Conj, Mat, MatRef, Par};
use rayon::prelude::*;

/// Inverse iteration is used when at most `1 / this` of the eigenvectors are
/// wanted; for more, divide and conquer is about as cheap and more robust.
const INVERSE_ITERATION_MAX_FRACTION: usize = 4;

/// Columns per parallel task of the back-transformation.
const BACK_TRANSFORM_PANEL: usize = 64;

/// Residual and orthogonality bounds (relative to ‖T‖ and 1) that inverse
/// iteration must meet; a backward-stable solver achieves ~1e-15.
const VERIFY_TOLERANCE: f64 = 1e-11;

/// The tridiagonal form `C = Q T Qᵀ` of a symmetric matrix.
pub(crate) struct Tridiagonal {
    /// Householder vectors below the subdiagonal, column-major `d x d`
    /// (faer's compact form, read through [`Tridiagonal::reflectors`]).
    reflectors: Vec<f64>,
    /// Block Householder factors matching `reflectors`.
    factors: Mat<f64>,
    diag: Vec<f64>,
    offdiag: Vec<f64>,
}

/// Eigenvalues (descending) with the eigenvectors of the largest ones.
pub(crate) struct TopEigen {
    /// Every eigenvalue, largest first.
    pub values: Vec<f64>,
    /// `d x m` unit eigenvectors as columns, for `values[..m]`.
    pub vectors: Mat<f64>,
}

impl Tridiagonal {
    /// Tridiagonalises the symmetric matrix whose lower triangle is in
    /// `lower` (the upper triangle is ignored).
    pub(crate) fn new(lower: Mat<f64>) -> Self {
        let d = lower.nrows();
        let mut a = vec![0.0; d * d];
        for (j, col) in a.chunks_exact_mut(d.max(1)).enumerate().take(d) {
            col[j..].copy_from_slice(&lower.col_as_slice(j)[j..]);
        }
        let Reduction {
            reflectors,
            taus,
            diag,
            offdiag,
        } = Reduction::new(a, d);
        // faer applies `I − v vᵀ / t` with `t = 1 / τ` (infinite for "no
        // reflection"), grouped into blocks with triangular factors that
        // turn each block into two matrix products.
        let bs = recommended_block_size::<f64>(d, d);
        let mut factors = Mat::<f64>::zeros(bs, d.saturating_sub(1));
        if d > 1 {
            let n = d - 1;
            let essentials =
                MatRef::from_column_major_slice(&reflectors, d, d).submatrix(1, 0, n, n);
            let mut j = 0;
            while j < n {
                let b = bs.min(n - j);
                let mut block = factors.as_mut().submatrix_mut(0, j, b, b);
                for k in 0..b {
                    block[(k, k)] = 1.0 / taus[j + k];
                }
                upgrade_householder_factor(
                    block,
                    essentials.submatrix(j, j, n - j, b),
                    b,
                    1,
                    Par::Seq,
                );
                j += b;
            }
        }
        Tridiagonal {
            reflectors,
            factors,
            diag,
            offdiag,
        }
    }

    fn reflectors(&self) -> MatRef<'_, f64> {
        MatRef::from_column_major_slice(&self.reflectors, self.dim(), self.dim())
    }

    pub(crate) fn dim(&self) -> usize {
        self.diag.len()
    }

    /// All eigenvalues, largest first: root-free QL/QR (see
    /// [`super::root_free_qr`]), or faer's implicit QR if that does not converge.
    pub(crate) fn eigenvalues(&self) -> Result<Vec<f64>> {
        if let Some(values) = root_free_qr::eigenvalues(&self.diag, &self.offdiag) {
            return Ok(values);
        }
        let (values, _) = self.tridiagonal_evd(false)?;
        Ok(values)
    }

    /// All eigenvalues and the eigenvectors of the largest `m`, where `m` is
    /// `choose(eigenvalues)` (descending order), capped at the dimension.
    ///
    /// `expected` is `m` when it is known before the eigenvalues are: if it is
    /// large, the eigenvalues and vectors then come from one divide-and-
    /// conquer run instead of an eigenvalue pass followed by it.
    pub(crate) fn top_eigen(
        &self,
        expected: Option<usize>,
        choose: impl FnOnce(&[f64]) -> usize,
    ) -> Result<TopEigen> {
        let d = self.dim();
        let few = |m: usize| m * INVERSE_ITERATION_MAX_FRACTION <= d;
        if let Some(m) = expected
            && !few(m)
        {
            return self.by_divide_and_conquer(choose);
        }
        let values = self.eigenvalues()?;
        let m = choose(&values).min(d);
        if few(m) {
            let wanted = &values[..m];
            let y = inverse_iteration::eigenvectors(&self.diag, &self.offdiag, wanted);
            if self.verified(wanted, &y) {
                let y = Mat::from_fn(d, m, |i, j| y[j * d + i]);
                return Ok(TopEigen {
                    vectors: self.back_transform(y),
                    values,
                });
            }
        }
        self.by_divide_and_conquer(|_| m)
    }

    /// Eigenvalues and vectors from one divide-and-conquer run; its own
    /// eigenvalues are reported so that every eigenpair is consistent.
    fn by_divide_and_conquer(&self, choose: impl FnOnce(&[f64]) -> usize) -> Result<TopEigen> {
        let (values, y) = self.tridiagonal_evd(true)?;
        let y = y.expect("divide and conquer was asked for eigenvectors");
        let m = choose(&values).min(self.dim());
        Ok(TopEigen {
            vectors: self.back_transform(y.subcols(0, m).to_owned()),
            values,
        })
    }

    /// Residual and orthogonality of inverse-iteration vectors at rounding level.
    fn verified(&self, values: &[f64], y: &[f64]) -> bool {
        let norm = inverse_iteration::one_norm(&self.diag, &self.offdiag).max(f64::MIN_POSITIVE);
        let residual = inverse_iteration::max_residual(&self.diag, &self.offdiag, values, y);
        let cross = inverse_iteration::max_cross_product(self.dim(), y);
        residual <= VERIFY_TOLERANCE * norm && cross <= VERIFY_TOLERANCE
    }

    /// Eigenvalues of `T` (descending) and, if asked, all its eigenvectors as
    /// columns in the same order.
    fn tridiagonal_evd(&self, vectors: bool) -> Result<(Vec<f64>, Option<Mat<f64>>)> {
        let d = self.dim();
        // Divide and conquer splits by problem size (halves) and merges with
        // large matrix products, so it may use the pool (see module docs).
        let par = Par::rayon(0);
        let want = if vectors {
            ComputeEigenvectors::Yes
        } else {
            ComputeEigenvectors::No
        };
        let diag = Col::<f64>::from_fn(d, |i| self.diag[i]);
        let sub = Col::<f64>::from_fn(d, |i| self.offdiag.get(i).copied().unwrap_or(0.0));
        let mut s = Col::<f64>::zeros(d);
        let mut u = vectors.then(|| Mat::<f64>::zeros(d, d));
        let mut mem = MemBuffer::new(evd::self_adjoint_evd_scratch::<f64>(
            d,
            want,
            par,
            Default::default(),
        ));
        evd::tridiagonal_self_adjoint_evd(
            diag.as_diagonal(),
            sub.as_diagonal(),
            s.as_diagonal_mut(),
            u.as_mut().map(|u| u.as_mut()),
            par,
            MemStack::new(&mut mem),
            Default::default(),
        )
        .map_err(|e| Error::Numerical(format!("symmetric eigensolver did not converge: {e:?}")))?;
        // faer sorts ascending; PCA wants the largest first.
        let values = (0..d).rev().map(|i| s[i]).collect();
        let u = u.map(|u| Mat::from_fn(d, d, |i, j| u[(i, d - 1 - j)]));
        Ok((values, u))
    }

    /// `Q y`: eigenvectors of `T` to eigenvectors of the original matrix.
    ///
    /// `Q` acts on each column independently, so fixed-width panels of `y`
    /// are transformed in parallel, each by sequential code: the bits cannot
    /// depend on the thread count. (faer's own parallel application splits
    /// differently per thread count and its results differ in the last bits.)
    fn back_transform(&self, mut y: Mat<f64>) -> Mat<f64> {
        let d = self.dim();
        if d < 2 {
            return y;
        }
        let bs = self.factors.nrows();
        let reflectors = self.reflectors().submatrix(1, 0, d - 1, d - 1);
        let factors = self.factors.as_ref();
        y.as_mut()
            .subrows_mut(1, d - 1)
            .par_col_chunks_mut(BACK_TRANSFORM_PANEL)
            .for_each(|mut panel| {
                let mut mem = MemBuffer::new(
                    apply_block_householder_sequence_on_the_left_in_place_scratch::<f64>(
                        d - 1,
                        bs,
                        panel.ncols(),
                    ),
                );
                apply_block_householder_sequence_on_the_left_in_place_with_conj(
                    reflectors,
                    factors,
                    Conj::No,
                    panel.rb_mut(),
                    Par::Seq,
                    MemStack::new(&mut mem),
                );
            });
        y
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn random_symmetric(d: usize, seed: u64) -> Mat<f64> {
        use rand::RngExt;
        let mut rng = crate::rng::seeded(seed);
        let b = Mat::<f64>::from_fn(d, d, |_, _| rng.random_range(-1.0..1.0));
        &b * b.transpose()
    }

    /// Both vector paths (inverse iteration for few, divide and conquer for
    /// many) give eigenpairs of the original matrix with rounding-level
    /// residuals, and eigenvalues that sum to its trace.
    #[test]
    fn eigenpairs_have_small_residuals() {
        let d = 60;
        let c = random_symmetric(d, 3);
        let trace: f64 = (0..d).map(|i| c[(i, i)]).sum();
        let tri = Tridiagonal::new(c.clone());
        let values = tri.eigenvalues().unwrap();
        assert!((values.iter().sum::<f64>() - trace).abs() < 1e-10 * trace);
        assert!(values.windows(2).all(|w| w[0] >= w[1]));
        // Inverse iteration itself must pass verification here (no silent fallback).
        for m in [1, 5, 15] {
            let y = inverse_iteration::eigenvectors(&tri.diag, &tri.offdiag, &values[..m]);
            assert!(
                tri.verified(&values[..m], &y),
                "inverse iteration failed verification for m = {m}"
            );
        }
        for m in [1, 5, 15, 40, 60] {
            for expected in [None, Some(m)] {
                let top = tri.top_eigen(expected, |_| m).unwrap();
                assert_eq!(top.vectors.shape(), (d, m));
                let cv = &c * &top.vectors;
                for j in 0..m {
                    for i in 0..d {
                        let r = cv[(i, j)] - top.values[j] * top.vectors[(i, j)];
                        assert!(r.abs() < 1e-11 * values[0], "m={m} col {j}: residual {r}");
                    }
                }
                let g = top.vectors.transpose() * &top.vectors;
                for i in 0..m {
                    for j in 0..m {
                        let want = if i == j { 1.0 } else { 0.0 };
                        assert!(
                            (g[(i, j)] - want).abs() < 1e-12,
                            "m={m}: VᵀV[{i},{j}] = {}",
                            g[(i, j)]
                        );
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod thread_tests {
    use super::*;

    /// Bit-equality of eigenpairs across thread pools, for both vector routes.
    #[test]
    fn eigen_does_not_depend_on_thread_count() {
        use rand::RngExt;
        let d = 300;
        let mut rng = crate::rng::seeded(5);
        let b = Mat::<f64>::from_fn(d, 2 * d, |_, _| rng.random_range(-1.0..1.0));
        let c = &b * b.transpose();
        for m in [5, 300] {
            let run = |threads: usize| {
                crate::linalg::on_threads(threads, || {
                    let tri = Tridiagonal::new(c.clone());
                    let top = tri.top_eigen(Some(m), |_| m).unwrap();
                    (
                        tri.diag.clone(),
                        tri.offdiag.clone(),
                        top.values,
                        top.vectors,
                    )
                })
            };
            let one = run(1);
            for threads in [2, 3, 4] {
                let other = run(threads);
                assert!(
                    one.0 == other.0 && one.1 == other.1,
                    "m={m}: tridiagonal, 1 vs {threads} threads"
                );
                assert!(
                    one.2 == other.2,
                    "m={m}: eigenvalues, 1 vs {threads} threads"
                );
                assert!(
                    one.3 == other.3,
                    "m={m}: eigenvectors, 1 vs {threads} threads"
                );
            }
        }
    }
}
