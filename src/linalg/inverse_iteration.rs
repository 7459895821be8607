//! Eigenvectors of a symmetric tridiagonal matrix for a few known eigenvalues,
//! by inverse iteration (the method of LAPACK's `dstein`).
//!
//! PCA with a small number of components needs only the top `k` of `d`
//! eigenvectors. Once the covariance matrix is tridiagonal and its eigenvalues
//! are known, one eigenvector costs a few `O(d)` tridiagonal solves, where the
//! divide-and-conquer solver computes all `d` of them in `O(d²)`–`O(d³)` and the
//! back-transformation of all `d` then costs `2d³` more: for image data
//! (d = 784, k = 64) that is most of the eigensolver's time.
//!
//! Eigenvalues closer than a thousandth of the matrix norm are grouped, and
//! each new vector of a group is re-orthogonalised against the group's earlier
//! vectors (modified Gram–Schmidt), which is what keeps inverse iteration
//! orthogonal on clustered spectra. The caller verifies residuals and
//! orthogonality afterwards and falls back to divide and conquer when they are
//! not at rounding level, so a hard case costs time, never accuracy.
//!
//! Each cluster is solved by sequential code from a fixed start vector
//! (clusters in parallel), so the result is a pure function of the input.

use rayon::prelude::*;

/// At most this many inverse-iteration steps per eigenvector.
const MAX_STEPS: usize = 8;
/// Steps taken after the growth test first passes (LAPACK uses 2).
const EXTRA_STEPS: usize = 2;
/// Relative gap below which eigenvalues are treated as one cluster.
const CLUSTER_GAP: f64 = 1e-3;

/// LU factors (partial pivoting) of the tridiagonal `T − λI`, as `dgttrf`.
struct TridiagonalLu {
    /// Multipliers of the unit lower factor.
    lower: Vec<f64>,
    /// Diagonal of the upper factor.
    diag: Vec<f64>,
    /// First superdiagonal of the upper factor.
    upper1: Vec<f64>,
    /// Second superdiagonal (fill-in from row swaps).
    upper2: Vec<f64>,
    /// `swapped[i]`: rows `i` and `i + 1` were interchanged at step `i`.
    swapped: Vec<bool>,
}

impl TridiagonalLu {
    /// Factors `T − shift·I`; pivots smaller than `tiny` are replaced by
    /// `±tiny` so that a shift equal to an eigenvalue still gives a solvable
    /// (and, as inverse iteration wants, nearly singular) system.
    fn new(diag: &[f64], offdiag: &[f64], shift: f64, tiny: f64) -> Self {
        let n = diag.len();
        let mut d: Vec<f64> = diag.iter().map(|a| a - shift).collect();
        let mut dl: Vec<f64> = offdiag.to_vec();
        let mut du: Vec<f64> = offdiag.to_vec();
        let mut du2 = vec![0.0; n.saturating_sub(2)];
        let mut swapped = vec![false; n.saturating_sub(1)];
        for i in 0..n.saturating_sub(1) {
            if d[i].abs() >= dl[i].abs() {
                let pivot = nonzero(d[i], tiny);
                d[i] = pivot;
                let fact = dl[i] / pivot;
                dl[i] = fact;
                d[i + 1] -= fact * du[i];
            } else {
                let fact = d[i] / dl[i];
                d[i] = dl[i];
                dl[i] = fact;
                let temp = du[i];
                du[i] = d[i + 1];
                d[i + 1] = temp - fact * d[i + 1];
                if i + 2 < n {
                    du2[i] = du[i + 1];
                    du[i + 1] *= -fact;
                }
                swapped[i] = true;
            }
        }
        if let Some(last) = d.last_mut() {
            *last = nonzero(*last, tiny);
        }
        TridiagonalLu {
            lower: dl,
            diag: d,
            upper1: du,
            upper2: du2,
            swapped,
        }
    }

    /// Overwrites `b` with the solution of `(T − λI) x = b`.
    fn solve(&self, b: &mut [f64]) {
        let n = b.len();
        for i in 0..n.saturating_sub(1) {
            if self.swapped[i] {
                let temp = b[i];
                b[i] = b[i + 1];
                b[i + 1] = temp - self.lower[i] * b[i];
            } else {
                b[i + 1] -= self.lower[i] * b[i];
            }
        }
        for i in (0..n).rev() {
            let mut v = b[i];
            if i + 1 < n {
                v -= self.upper1[i] * b[i + 1];
            }
            if i + 2 < n {
                v -= self.upper2[i] * b[i + 2];
            }
            b[i] = v / self.diag[i];
        }
    }
}

/// `x` if its magnitude is at least `tiny`, else `±tiny` with `x`'s sign.
fn nonzero(x: f64, tiny: f64) -> f64 {
    if x.abs() >= tiny {
        x
    } else if x < 0.0 {
        -tiny
    } else {
        tiny
    }
}

/// The 1-norm of the symmetric tridiagonal matrix (largest column sum).
pub(crate) fn one_norm(diag: &[f64], offdiag: &[f64]) -> f64 {
    let n = diag.len();
    (0..n)
        .map(|i| {
            let up = if i > 0 { offdiag[i - 1].abs() } else { 0.0 };
            let down = if i + 1 < n { offdiag[i].abs() } else { 0.0 };
            diag[i].abs() + up + down
        })
        .fold(0.0, f64::max)
}

/// Unit eigenvectors of the symmetric tridiagonal matrix with diagonal `diag`
/// and off-diagonal `offdiag` (`offdiag[i]` couples rows `i` and `i + 1`), one
/// per entry of `values` (eigenvalues in descending order). Returns them as
/// columns of a column-major `d x values.len()` buffer.
///
/// The result is not verified here; see [`max_residual`] and
/// [`max_cross_product`].
pub(crate) fn eigenvectors(diag: &[f64], offdiag: &[f64], values: &[f64]) -> Vec<f64> {
    let n = diag.len();
    let m = values.len();
    let mut out = vec![0.0; n * m];
    if n == 0 {
        return out;
    }
    let norm = one_norm(diag, offdiag).max(f64::MIN_POSITIVE);
    let eps = f64::EPSILON;
    let tiny = eps * norm;
    let cluster_gap = CLUSTER_GAP * norm;
    // Identical shifts would give identical vectors that Gram–Schmidt then
    // has to separate from rounding noise alone; nudging repeated eigenvalues
    // apart by a few ulps of the norm (as dstein does) keeps the solves
    // distinct without moving them off the eigenvalue in any measurable way.
    let separation = 10.0 * eps * norm;
    let growth_target = (0.1 / n as f64).sqrt();
    let start = start_vector(n);
    // Clusters only interact through re-orthogonalisation, so they are
    // solved in parallel, each by sequential code (the bits cannot depend
    // on the thread count).
    let mut clusters: Vec<(usize, &mut [f64])> = Vec::new();
    let mut rest = out.as_mut_slice();
    let mut cluster_begin = 0;
    for j in 1..=m {
        if j == m || values[j - 1] - values[j] > cluster_gap {
            let (head, tail) = rest.split_at_mut((j - cluster_begin) * n);
            clusters.push((cluster_begin, head));
            rest = tail;
            cluster_begin = j;
        }
    }
    clusters.into_par_iter().for_each(|(first, vectors)| {
        let mut previous_shift = f64::INFINITY;
        for (c, j) in (first..first + vectors.len() / n).enumerate() {
            let mut shift = values[j];
            if c > 0 && previous_shift - shift < separation {
                shift = previous_shift - separation;
            }
            previous_shift = shift;
            let lu = TridiagonalLu::new(diag, offdiag, shift, tiny);
            let mut x = start.clone();
            // Scale so that the growth test below measures convergence, as dstein.
            let scale = n as f64 * norm * eps.max(lu.diag[n - 1].abs()) / l1(&x);
            x.iter_mut().for_each(|v| *v *= scale);
            let mut passed = 0;
            for _ in 0..MAX_STEPS {
                lu.solve(&mut x);
                orthogonalize(&mut x, &vectors[..c * n]);
                let peak = x.iter().fold(0.0_f64, |a, v| a.max(v.abs()));
                let grown = peak >= growth_target;
                // Rescale to keep the next solve's right-hand side in range.
                let s = 1.0 / peak.max(f64::MIN_POSITIVE);
                x.iter_mut().for_each(|v| *v *= s);
                if grown {
                    passed += 1;
                    if passed > EXTRA_STEPS {
                        break;
                    }
                }
            }
            let norm2 = x.iter().map(|v| v * v).sum::<f64>().sqrt();
            let col = &mut vectors[c * n..(c + 1) * n];
            for (o, v) in col.iter_mut().zip(&x) {
                *o = v / norm2;
            }
        }
    });
    out
}

/// A fixed, dense, non-symmetric start vector (no zero entries, no pattern a
/// structured eigenvector is likely to be orthogonal to).
fn start_vector(n: usize) -> Vec<f64> {
    (0..n)
        .map(|i| {
            let t = (i as f64 + 1.0) * 0.618_033_988_749_894_8;
            0.5 + (t - t.floor())
        })
        .collect()
}

fn l1(x: &[f64]) -> f64 {
    x.iter()
        .map(|v| v.abs())
        .sum::<f64>()
        .max(f64::MIN_POSITIVE)
}

/// Removes from `x` its components along the unit columns of `basis`
/// (column-major, `x.len()` rows), one column at a time.
fn orthogonalize(x: &mut [f64], basis: &[f64]) {
    let n = x.len();
    for q in basis.chunks_exact(n) {
        let dot: f64 = q.iter().zip(x.iter()).map(|(a, b)| a * b).sum();
        for (v, a) in x.iter_mut().zip(q) {
            *v -= dot * a;
        }
    }
}

/// Largest `‖T v − λ v‖₂` over the columns of `vectors` (column-major).
pub(crate) fn max_residual(diag: &[f64], offdiag: &[f64], values: &[f64], vectors: &[f64]) -> f64 {
    let n = diag.len();
    // A maximum does not depend on the order it is taken in.
    values
        .par_iter()
        .zip(vectors.par_chunks_exact(n.max(1)))
        .map(|(&lambda, v)| {
            (0..n)
                .map(|i| {
                    let mut tv = (diag[i] - lambda) * v[i];
                    if i > 0 {
                        tv += offdiag[i - 1] * v[i - 1];
                    }
                    if i + 1 < n {
                        tv += offdiag[i] * v[i + 1];
                    }
                    tv * tv
                })
                .sum::<f64>()
                .sqrt()
        })
        .reduce(|| 0.0, f64::max)
}

/// Largest `|vᵢᵀ vⱼ − δᵢⱼ|` over pairs of columns of `vectors`.
pub(crate) fn max_cross_product(n: usize, vectors: &[f64]) -> f64 {
    let cols: Vec<&[f64]> = vectors.chunks_exact(n.max(1)).collect();
    (0..cols.len())
        .into_par_iter()
        .map(|i| {
            let a = cols[i];
            cols[i..]
                .iter()
                .enumerate()
                .map(|(offset, b)| {
                    let dot: f64 = a.iter().zip(b.iter()).map(|(x, y)| x * y).sum();
                    let target = if offset == 0 { 1.0 } else { 0.0 };
                    (dot - target).abs()
                })
                .fold(0.0, f64::max)
        })
        .reduce(|| 0.0, f64::max)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The (1, -2, 1)-type matrix `tridiag(-1, 2, -1)` has known eigenpairs:
    /// `λ_j = 2 − 2cos(jπ/(n+1))`, `v_j[i] ∝ sin(ijπ/(n+1))`.
    #[test]
    fn recovers_analytic_eigenvectors() {
        let n = 50;
        let diag = vec![2.0; n];
        let off = vec![-1.0; n - 1];
        let h = std::f64::consts::PI / (n as f64 + 1.0);
        let mut values: Vec<f64> = (1..=n).map(|j| 2.0 - 2.0 * (j as f64 * h).cos()).collect();
        values.reverse();
        let top = &values[..10];
        let vecs = eigenvectors(&diag, &off, top);
        for (c, &lambda) in top.iter().enumerate() {
            let j = (n - c) as f64;
            let exact: Vec<f64> = (1..=n).map(|i| (i as f64 * j * h).sin()).collect();
            let en = exact.iter().map(|v| v * v).sum::<f64>().sqrt();
            let v = &vecs[c * n..(c + 1) * n];
            let dot: f64 = v.iter().zip(&exact).map(|(a, b)| a * b / en).sum();
            assert!(
                (dot.abs() - 1.0).abs() < 1e-12,
                "eigenvector {c} (λ = {lambda}): |cos| = {}",
                dot.abs()
            );
        }
        assert!(max_residual(&diag, &off, top, &vecs) < 1e-13);
        assert!(max_cross_product(n, &vecs) < 1e-13);
    }

    /// A diagonal matrix with a repeated eigenvalue: the two vectors must span
    /// the eigenspace and be orthogonal, which only the cluster
    /// re-orthogonalisation guarantees.
    #[test]
    fn repeated_eigenvalue_gives_orthogonal_vectors() {
        let diag = vec![3.0, 1.0, 3.0, 0.5];
        let off = vec![0.0; 3];
        let values = [3.0, 3.0, 1.0];
        let vecs = eigenvectors(&diag, &off, &values);
        assert!(max_cross_product(4, &vecs) < 1e-12, "{vecs:?}");
        assert!(max_residual(&diag, &off, &values, &vecs) < 1e-12);
        for c in 0..2 {
            let v = &vecs[c * 4..(c + 1) * 4];
            assert!(v[1].abs() < 1e-12 && v[3].abs() < 1e-12, "{v:?}");
        }
    }
}
