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

/// A latent whose firing density on the evaluated rows exceeds this is
/// dense (see [`dense_count`]).
///
/// None of the three peers' code names a dense threshold: SAELens
/// (`sae_lens/training/sae_trainer.py`, `_build_sparsity_log_dict`) logs
/// only the rare end (`below_1e-5`, `below_1e-6`), OpenAI's
/// `sparse_autoencoder` (`train.py`) tracks dead latents only, and
/// dictionary_learning (`dictionary_learning/evaluation.py`) reports
/// `frac_alive`. The 10% line is the one the trainers in SAELens's lineage
/// log for the dense end, `sparsity/above_1e-1 = (feature_sparsity >
/// 1e-1).sum()` (OpenMOSS Language-Model-SAEs, `src/lm_saes/trainer.py`),
/// with the same density as SAELens's trainer; so dense means strictly
/// above 0.1, and a density of exactly 0.1 is not dense.
pub const DENSE_DENSITY: f64 = 0.1;

/// Bins per decade of the firing-density histogram ([`density_bin_edges`]).
pub const DENSITY_BINS_PER_DECADE: usize = 4;

/// Rows of `x` whose norm is below this divide by 1 instead in
/// [`l2_ratio`], as SAELens's `l2_norm_in_for_div` does.
pub const L2_RATIO_MIN_NORM: f64 = 1e-4;

/// Per latent (column of the `n x r` code), the fraction of the rows on
/// which it is nonzero: its firing density.
///
/// Nonzero whatever the sign, as SAELens's trainer counts firing
/// (`act_freq_scores += (feature_acts.abs() > 0).sum(0)`, divided by the
/// tokens seen: `feature_sparsity` in `sae_lens/training/sae_trainer.py`),
/// as OpenAI's `sparse_autoencoder` tracks it (`latents != 0`,
/// `stats_last_nonzero` in `model.py`) and as [`crate::model::l0`] counts
/// active latents; for the ReLU codes of TopK and L1 models it is also
/// SAELens's evaluation criterion `> 0` (`feature_density` in
/// `sae_lens/evals.py`). The densities sum to the code's L0.
///
/// # Errors
///
/// [`Error::InvalidData`] for a code without rows, on which no density is
/// defined.
pub fn firing_density(code: &DMatrix<f64>) -> Result<Vec<f64>> {
    let n = code.nrows();
    if n == 0 {
        return Err(Error::InvalidData(
            "firing density of a code without rows".into(),
        ));
    }
    Ok(code
        .column_iter()
        .map(|c| c.iter().filter(|&&v| v != 0.0).count() as f64 / n as f64)
        .collect())
}

/// Latents that never fired on the evaluated rows (density 0): dead on
/// them, as dictionary_learning's `frac_alive` counts the complement
/// (`dictionary_learning/evaluation.py`: latents whose activations sum to
/// nonzero over the evaluated batches).
pub fn dead_count(density: &[f64]) -> usize {
    density.iter().filter(|&&d| d == 0.0).count()
}

/// Latents with a firing density above [`DENSE_DENSITY`] (which names the
/// convention followed).
pub fn dense_count(density: &[f64]) -> usize {
    density.iter().filter(|&&d| d > DENSE_DENSITY).count()
}

/// The edges of the firing-density histogram on `n_rows` rows: powers of
/// ten [`DENSITY_BINS_PER_DECADE`] to a decade, from the largest one at or
/// below `1 / n_rows` (the least a latent can fire and not be dead) up to
/// 1, and at least one decade.
///
/// SAELens draws the same histogram on a log10 axis
/// (`plots/feature_density_line_chart`, a histogram of
/// `log10(feature_sparsity + 1e-10)` in `sae_lens/training/sae_trainer.py`),
/// where the `1e-10` puts dead latents at −10, far left of every firing
/// one. Here the bins hold the firing latents only; dead ones are counted
/// apart ([`dead_count`]).
pub fn density_bin_edges(n_rows: usize) -> Vec<f64> {
    let per = DENSITY_BINS_PER_DECADE as i32;
    let least = 1.0 / n_rows.max(1) as f64;
    let edge = |j: i32| 10f64.powf(f64::from(j) / f64::from(per));
    let mut lo = ((least.log10() * f64::from(per)).floor() as i32).min(-per);
    // `powf` may round the edge just above `least`: step down until it is not.
    while edge(lo) > least {
        lo -= 1;
    }
    (lo..=0).map(edge).collect()
}

/// How many densities fall in each bin `[edges[i], edges[i + 1])` of the
/// increasing `edges`, the last bin closed (`[.., edges[last]]`), as
/// NumPy's `histogram` bins; densities outside `[edges[0], edges[last]]`
/// (dead latents, below the first edge of [`density_bin_edges`]) are not
/// counted. Fewer than two edges give no bins.
pub fn density_histogram(density: &[f64], edges: &[f64]) -> Vec<usize> {
    let bins = edges.len().saturating_sub(1);
    let mut counts = vec![0; bins];
    for &d in density {
        let bin = (0..bins)
            .find(|&i| edges[i] <= d && (d < edges[i + 1] || (i + 1 == bins && d == edges[bins])));
        if let Some(i) = bin {
            counts[i] += 1;
        }
    }
    counts
}

/// Shrinkage `E‖x̂‖² / E⟨x, x̂⟩` over the rows of `x` and its reconstruction
/// `xh`: the ratio of the two batch means, as SAELens
/// (`relative_reconstruction_bias` in `sae_lens/evals.py`) and
/// dictionary_learning (`dictionary_learning/evaluation.py`) compute it,
/// following Rajamanoharan et al. 2024 (Gated SAEs, eq. 10). It is the
/// factor `γ` that minimises `E‖x − x̂/γ‖²`: below 1 the reconstruction is
/// shrunk towards 0 (an L1 penalty's bias), 1 for an unbiased one (PCA on
/// its fitting rows), `c` for `x̂ = c x`.
///
/// # Errors
///
/// [`Error::Shape`] for different shapes, [`Error::InvalidData`] for no
/// rows, [`Error::Numerical`] when the ratio is not finite (`E⟨x, x̂⟩ = 0`,
/// e.g. a reconstruction of zeros).
pub fn shrinkage(x: &DMatrix<f64>, xh: &DMatrix<f64>) -> Result<f64> {
    same_rows(x, xh, "shrinkage")?;
    let n = x.nrows() as f64;
    let out: f64 = xh.row_iter().map(|r| r.norm_squared()).sum::<f64>() / n;
    let dot: f64 = x
        .row_iter()
        .zip(xh.row_iter())
        .map(|(a, b)| a.dot(&b))
        .sum::<f64>()
        / n;
    finite(out / dot, "shrinkage")
}

/// ℓ2 ratio: the mean over rows of `‖x̂_i‖ / ‖x_i‖`, where a row with
/// `‖x_i‖ <` [`L2_RATIO_MIN_NORM`] divides by 1 instead, as SAELens's
/// `l2_ratio` (`get_sparsity_and_variance_metrics` in `sae_lens/evals.py`);
/// dictionary_learning's (`dictionary_learning/evaluation.py`) is the same
/// without that guard. `|c|` for `x̂ = c x`.
///
/// # Errors
///
/// As [`shrinkage`] (not finite: a non-finite entry).
pub fn l2_ratio(x: &DMatrix<f64>, xh: &DMatrix<f64>) -> Result<f64> {
    same_rows(x, xh, "l2 ratio")?;
    let sum: f64 = x
        .row_iter()
        .zip(xh.row_iter())
        .map(|(a, b)| {
            let norm = a.norm();
            let by = if norm.abs() < L2_RATIO_MIN_NORM {
                1.0
            } else {
                norm
            };
            b.norm() / by
        })
        .sum();
    finite(sum / x.nrows() as f64, "l2 ratio")
}

/// Same shape and at least one row.
fn same_rows(x: &DMatrix<f64>, xh: &DMatrix<f64>, what: &str) -> Result<()> {
    if x.shape() != xh.shape() {
        return Err(Error::Shape(format!(
            "{what} of a {:?} input and a {:?} reconstruction",
            x.shape(),
            xh.shape()
        )));
    }
    if x.nrows() == 0 {
        return Err(Error::InvalidData(format!("{what} of no rows")));
    }
    Ok(())
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
