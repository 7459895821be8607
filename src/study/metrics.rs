//! The numbers a study tabulates per cell, as pure functions of matrices.
//!
//! Everything is computed in `f64` from `f64` inputs (callers widen `f32`
//! models first), so a cell's metrics do not depend on how it was trained.
//! None of these functions does I/O.

use crate::error::{Error, Result};
use crate::linalg::{FittedPca, principal_angles_degrees};
use nalgebra::DMatrix;

/// A latent unit whose activation varies by no more than this over the
/// evaluated rows carries no information about the input: it is dead.
pub const DEAD_RANGE: f64 = 1e-6;

/// A latent activation at most this large in absolute value counts as zero
/// when measuring sparsity.
pub const ZERO_ACTIVATION: f64 = 1e-6;

/// Mean over all entries of `(a − b)²`.
///
/// # Errors
///
/// [`Error::Shape`] for different shapes, [`Error::InvalidData`]
/// for empty matrices or a non-finite result.
pub fn mse(a: &DMatrix<f64>, b: &DMatrix<f64>) -> Result<f64> {
    if a.shape() != b.shape() {
        return Err(Error::Shape(format!(
            "mse of a {:?} and a {:?} matrix",
            a.shape(),
            b.shape()
        )));
    }
    if a.is_empty() {
        return Err(Error::InvalidData("mse of an empty matrix".into()));
    }
    let s: f64 = a.iter().zip(b.iter()).map(|(x, y)| (x - y).powi(2)).sum();
    finite(s / a.len() as f64, "mean squared error")
}

/// PCA scores of `x` on the top `k` components: `(x − μ) V_kᵀ` (`n x k`).
///
/// Why not `pca.transform`: a study fits PCA once with the largest latent
/// size and reads every smaller `k` off the same fit (components are nested:
/// the top `k` axes of a fit with more components are the top-`k` fit).
pub fn pca_scores(pca: &FittedPca<f64>, k: usize, x: &DMatrix<f64>) -> Result<DMatrix<f64>> {
    if k == 0 || k > pca.n_components() {
        return Err(Error::config(
            "latent",
            format!(
                "{k} components requested from a PCA fit with {}",
                pca.n_components()
            ),
        ));
    }
    if x.ncols() != pca.n_features() {
        return Err(Error::Shape(format!(
            "PCA fitted on {} features applied to {} columns",
            pca.n_features(),
            x.ncols()
        )));
    }
    let v = pca.components().rows(0, k);
    let mean = pca.mean().transpose();
    let mut xc = x.clone();
    for mut row in xc.row_iter_mut() {
        row -= &mean;
    }
    Ok(xc * v.transpose())
}

/// The reconstruction `scores V_k + μ` of [`pca_scores`].
pub fn pca_inverse(pca: &FittedPca<f64>, scores: &DMatrix<f64>) -> Result<DMatrix<f64>> {
    let k = scores.ncols();
    if k == 0 || k > pca.n_components() {
        return Err(Error::Shape(format!(
            "{k} score columns for a PCA fit with {} components",
            pca.n_components()
        )));
    }
    let mean = pca.mean().transpose();
    let mut out = scores * pca.components().rows(0, k);
    for mut row in out.row_iter_mut() {
        row += &mean;
    }
    Ok(out)
}

/// Largest and mean principal angle (degrees) between the row spaces of `a`
/// and `b`, or `None` when one of them is rank deficient (a decoder with a
/// dead all-zero filter spans fewer dimensions than it has rows, and the
/// angle to a subspace it cannot span is not defined).
pub fn subspace_angles(a: &DMatrix<f64>, b: &DMatrix<f64>) -> Result<Option<(f64, f64)>> {
    match principal_angles_degrees(a, b) {
        Ok(angles) if !angles.is_empty() => {
            let max = angles.iter().copied().fold(0.0, f64::max);
            let mean = angles.iter().sum::<f64>() / angles.len() as f64;
            Ok(Some((max, mean)))
        }
        Ok(_) => Ok(None),
        Err(Error::InvalidData(_)) => Ok(None),
        Err(e) => Err(e),
    }
}

/// `‖W Wᵀ − I‖_F` of an `r x d` weight: 0 when the rows are orthonormal, as
/// PCA's components are. A linear tied autoencoder at its optimum has
/// `W Wᵀ = I` (its map `Wᵀ W` is then the orthogonal projector onto its row
/// space), so this measures how far training got towards that.
pub fn gram_deviation(w: &DMatrix<f64>) -> f64 {
    let g = w * w.transpose();
    let mut s = 0.0;
    for i in 0..g.nrows() {
        for j in 0..g.ncols() {
            let e = g[(i, j)] - if i == j { 1.0 } else { 0.0 };
            s += e * e;
        }
    }
    s.sqrt()
}

/// Fraction of latent units (columns of the `n x r` code) whose activation
/// varies by at most [`DEAD_RANGE`] over the rows: such a unit passes
/// nothing about the input to the decoder (a ReLU stuck at zero, a
/// saturated sigmoid).
pub fn dead_fraction(code: &DMatrix<f64>) -> f64 {
    if code.ncols() == 0 || code.nrows() == 0 {
        return 0.0;
    }
    let dead = code
        .column_iter()
        .filter(|c| c.max() - c.min() <= DEAD_RANGE)
        .count();
    dead as f64 / code.ncols() as f64
}

/// Fraction of latent activations (entries of the code) that are zero, up
/// to [`ZERO_ACTIVATION`]: what an L1 penalty on a ReLU code drives up.
pub fn activation_sparsity(code: &DMatrix<f64>) -> f64 {
    if code.is_empty() {
        return 0.0;
    }
    let zeros = code.iter().filter(|v| v.abs() <= ZERO_ACTIVATION).count();
    zeros as f64 / code.len() as f64
}

/// Angle (degrees) between right singular vector `j` of `w` (`r x d`,
/// ordered by decreasing singular value) and principal direction `j`
/// (row `j` of `pcs`), for `j < min(r, rows of pcs)`, sign ignored.
///
/// Why singular vectors and not the rows themselves: a linear tied
/// autoencoder's loss and its L2 penalty are both unchanged by `W -> O W`
/// for any orthogonal `O`, so the rows are only defined up to a rotation.
/// What L2 regularisation does fix (Kunin et al. 2019) is `W`'s singular
/// value decomposition: it becomes `O diag(s) V_kᵀ` with distinct `s`, so
/// the right singular vectors are the individual principal directions.
/// Without regularisation all singular values tend to 1 and the singular
/// vectors are an arbitrary basis of the subspace.
pub fn direction_angles(w: &DMatrix<f64>, pcs: &DMatrix<f64>) -> Result<Vec<f64>> {
    if w.ncols() != pcs.ncols() {
        return Err(Error::Shape(format!(
            "weight has {} columns, principal directions {}",
            w.ncols(),
            pcs.ncols()
        )));
    }
    let k = w.nrows().min(pcs.nrows());
    // Right singular vectors of W are the eigenvectors of WᵀW; take them
    // from the small r x r problem W Wᵀ = U S² Uᵀ, v_j = Wᵀ u_j / s_j.
    let g = w * w.transpose();
    let eig = nalgebra::SymmetricEigen::new(g);
    let mut order: Vec<usize> = (0..eig.eigenvalues.len()).collect();
    order.sort_by(|&a, &b| eig.eigenvalues[b].total_cmp(&eig.eigenvalues[a]));
    let mut out = Vec::with_capacity(k);
    for (j, &idx) in order.iter().take(k).enumerate() {
        let u = eig.eigenvectors.column(idx);
        let v = w.transpose() * u;
        let norm = v.norm();
        if !(norm.is_finite() && norm > 0.0) {
            out.push(90.0);
            continue;
        }
        let p = pcs.row(j);
        let cos = (p * &v)[(0, 0)].abs() / (norm * p.norm());
        out.push(cos.min(1.0).acos().to_degrees());
    }
    Ok(out)
}

fn finite(v: f64, what: &str) -> Result<f64> {
    if v.is_finite() {
        Ok(v)
    } else {
        Err(Error::Numerical(format!("{what} is not finite ({v})")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gram_deviation_is_zero_for_orthonormal_rows() {
        let w = DMatrix::from_row_slice(2, 3, &[1.0, 0.0, 0.0, 0.0, 0.0, 1.0]);
        assert!(gram_deviation(&w) < 1e-15);
        let w2 = w * 2.0;
        // diag(4, 4) - I has norm sqrt(18).
        assert!((gram_deviation(&w2) - 18f64.sqrt()).abs() < 1e-12);
    }

    #[test]
    fn dead_and_sparse_units_are_counted() {
        let code = DMatrix::from_row_slice(3, 3, &[0.0, 1.0, 0.5, 0.0, 0.0, 0.5, 0.0, 2.0, 0.5]);
        // Column 0 is constant 0 and column 2 constant 0.5: both dead.
        assert!((dead_fraction(&code) - 2.0 / 3.0).abs() < 1e-15);
        assert!((activation_sparsity(&code) - 4.0 / 9.0).abs() < 1e-15);
    }

    #[test]
    fn direction_angles_recover_a_rotated_scaled_basis() {
        // W = O diag(2, 1) [e1; e2]: rotated rows, distinct singular values.
        let (c, s) = (0.6f64, 0.8f64);
        let o = DMatrix::from_row_slice(2, 2, &[c, -s, s, c]);
        let basis = DMatrix::from_row_slice(2, 4, &[1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0]);
        let w = &o * DMatrix::from_diagonal(&nalgebra::DVector::from_vec(vec![2.0, 1.0])) * &basis;
        let a = direction_angles(&w, &basis).unwrap();
        assert!(a.iter().all(|x| *x < 1e-6), "{a:?}");
        // The rows themselves are 53 degrees away from e1.
        let row0 = w.row(0);
        let cos = row0[0].abs() / row0.norm();
        assert!(cos.acos().to_degrees() > 30.0);
    }
}
