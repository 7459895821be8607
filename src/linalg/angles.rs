//! Principal angles between the row spaces of two matrices.
//!
//! The project's central correctness oracle: a linear tied autoencoder that
//! trained well spans the PCA subspace (Baldi & Hornik 1989), so the angles
//! between its decoder's rows and the top principal axes go to zero.
//!
//! Method (Björck & Golub 1973, with the small-angle refinement of Knyazev &
//! Argentati 2002, as `scipy.linalg.subspace_angles`): orthonormal bases
//! `Qa`, `Qb` from QR; the cosines are the singular values of `Qaᵀ Qb`, the
//! sines those of `Qb − Qa Qaᵀ Qb`. Angles below 45° are taken from the sines
//! because `acos` near 1 turns rounding of order 1e-16 into angles of order
//! 1e-8; larger ones from the cosines, for the mirror-image reason.

use super::factor::{thin_qr, thin_svd};
use super::input::{as_f64, check_finite, view};
use crate::error::{Error, Result};
use crate::real::Real;
use faer::linalg::matmul::matmul;
use faer::{Accum, Mat, Par};
use nalgebra::DMatrix;

/// Principal angles, in radians and ascending, between the row spaces of `a`
/// (`ka x d`) and `b` (`kb x d`); there are `min(ka, kb)` of them.
///
/// 0 means a shared direction, π/2 an orthogonal one. The rows need not be
/// orthonormal, only linearly independent: any basis of the same subspace
/// gives the same angles.
///
/// Errors: [`Error::Shape`] if the column counts differ, a matrix has no rows,
/// or more rows than columns; [`Error::InvalidData`] for a non-finite value or
/// linearly dependent rows (the subspace would have fewer dimensions than
/// rows, e.g. a decoder with a dead all-zero unit).
pub fn principal_angles<T: Real>(a: &DMatrix<T>, b: &DMatrix<T>) -> Result<Vec<f64>> {
    if a.ncols() != b.ncols() {
        return Err(Error::Shape(format!(
            "principal_angles: the row spaces live in different dimensions ({} vs {} columns)",
            a.ncols(),
            b.ncols()
        )));
    }
    let qa = row_space_basis(a, "a")?;
    let qb = row_space_basis(b, "b")?;
    // Angles are symmetric in (a, b); let `small` have no more columns.
    let (big, small) = if qa.ncols() >= qb.ncols() {
        (qa, qb)
    } else {
        (qb, qa)
    };
    let k = small.ncols();
    let mut m = Mat::<f64>::zeros(big.ncols(), k);
    matmul(
        m.as_mut(),
        Accum::Replace,
        big.transpose(),
        small.as_ref(),
        1.0,
        Par::Seq,
    );
    let cosines = thin_svd(m.as_ref(), false)?.s;
    // Part of `small` outside span(big).
    let mut p = small.clone();
    matmul(
        p.as_mut(),
        Accum::Add,
        big.as_ref(),
        m.as_ref(),
        -1.0,
        Par::Seq,
    );
    let sines = thin_svd(p.as_ref(), false)?.s;
    let mut angles: Vec<f64> = (0..k)
        .map(|i| {
            let c = cosines[i].min(1.0);
            if c * c < 0.5 {
                c.acos()
            } else {
                sines[k - 1 - i].min(1.0).asin()
            }
        })
        .collect();
    angles.sort_by(f64::total_cmp);
    Ok(angles)
}

/// [`principal_angles`] in degrees.
pub fn principal_angles_degrees<T: Real>(a: &DMatrix<T>, b: &DMatrix<T>) -> Result<Vec<f64>> {
    Ok(principal_angles(a, b)?
        .into_iter()
        .map(f64::to_degrees)
        .collect())
}

/// The largest principal angle (radians): 0 iff one row space contains the
/// other, and a distance between subspaces of equal dimension.
pub fn largest_principal_angle<T: Real>(a: &DMatrix<T>, b: &DMatrix<T>) -> Result<f64> {
    Ok(principal_angles(a, b)?.last().copied().unwrap_or(0.0))
}

/// Orthonormal basis (`d x k` columns) of the row space of the `k x d` `x`.
fn row_space_basis<T: Real>(x: &DMatrix<T>, name: &str) -> Result<Mat<f64>> {
    let (k, d) = x.shape();
    if k == 0 {
        return Err(Error::Shape(format!(
            "principal_angles: {name} has no rows"
        )));
    }
    if k > d {
        return Err(Error::Shape(format!(
            "principal_angles: {name} has {k} rows in {d} dimensions; at most {d} can be independent"
        )));
    }
    check_finite(x, &format!("principal_angles: {name}"))?;
    let x = as_f64(x);
    let qr = thin_qr(view(&x).transpose());
    // The condition number of R is that of x's rows; a rank test on it.
    let s = thin_svd(qr.r.as_ref(), false)?.s;
    let tol = 64.0 * d as f64 * f64::EPSILON * s[0];
    let rank = s.iter().filter(|&&v| v > tol).count();
    if rank < k {
        return Err(Error::InvalidData(format!(
            "principal_angles: the {k} rows of {name} are linearly dependent (numerical rank {rank}); \
             their row space has fewer than {k} dimensions"
        )));
    }
    Ok(qr.q)
}
