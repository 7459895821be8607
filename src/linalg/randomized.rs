//! Randomized PCA: the range finder of Halko, Martinsson & Tropp (2011,
//! algorithms 4.4 and 5.1) on the centred data.
//!
//! A Gaussian test matrix `Ω` (d x l, l = k + oversampling) is pushed through
//! `Xc`, the power iterations `(Xc Xcᵀ)^q` sharpen the captured range when the
//! spectrum decays slowly, and an exact SVD of the small projection `Qᵀ Xc`
//! gives the approximate axes. Each power step re-orthonormalises by QR, which
//! keeps the small singular directions from being lost to rounding.
//!
//! Determinism: `Ω` is drawn from one seeded stream in a fixed order; the
//! matrix products are thread-count independent (see [`super::product`]);
//! the QR and small SVD factorisations are sequential.

use super::covariance::centered;
use super::decomposition::Decomposition;
use super::factor::{thin_qr, thin_svd};
use super::input::{to_nalgebra, view};
use super::product::multiply;
use crate::error::Result;
use faer::Mat;
use nalgebra::DMatrix;
use rand_distr::{Distribution, StandardNormal};

/// Approximate top-`k` principal axes of `x` (mean `mean`), with `k` at most
/// `min(n, d)` (the caller checks).
pub(crate) fn decompose(
    x: &DMatrix<f64>,
    mean: &[f64],
    k: usize,
    oversampling: usize,
    power_iterations: usize,
    seed: u64,
) -> Result<Decomposition> {
    let (n, d) = x.shape();
    let xc = centered(x, mean);
    let a = view(&xc);
    let l = (k.saturating_add(oversampling)).min(n.min(d));
    let mut rng = crate::rng::seeded(seed);
    let omega = Mat::<f64>::from_fn(d, l, |_, _| StandardNormal.sample(&mut rng));
    let mut q = thin_qr(multiply(a, omega.as_ref()).as_ref()).q;
    for _ in 0..power_iterations {
        let z = thin_qr(multiply(a.transpose(), q.as_ref()).as_ref()).q;
        q = thin_qr(multiply(a, z.as_ref()).as_ref()).q;
    }
    // B = Qᵀ Xc is l x d; its right singular vectors are the axes.
    let b = multiply(q.as_ref().transpose(), a);
    let svd = thin_svd(b.as_ref(), true)?;
    let v = svd.v.expect("SVD was asked for right singular vectors");
    let spectrum: Vec<f64> = svd.s[..k]
        .iter()
        .map(|s| s * s / (n as f64 - 1.0))
        .collect();
    Ok(Decomposition {
        components: to_nalgebra(v.as_ref().subcols(0, k).transpose()),
        spectrum,
        complete: false,
        total_variance: total_variance(&xc),
        kept: k,
    })
}

/// `‖Xc‖²_F / (n − 1)`: the trace of the covariance, which the randomized
/// solver cannot get from its partial spectrum. Column sums in column order.
fn total_variance(xc: &DMatrix<f64>) -> f64 {
    let n = xc.nrows();
    let per_column: Vec<f64> = xc
        .column_iter()
        .map(|c| c.iter().map(|v| v * v).sum::<f64>())
        .collect();
    per_column.iter().sum::<f64>() / (n as f64 - 1.0)
}
