//! The values of [`MetricSet::Theory`](super::MetricSet::Theory) of a
//! trained cell ([`super::THEORY_COLUMNS`] defines each): its first pair
//! measured against the closed forms and principal directions of the rows
//! it fitted, as it saw them.
//!
//! Why in the cell: every seed fits its own rows, so the oracle (the
//! eigenvalues `c_i` of their second moment, the λ₂ or σ its spectral rule
//! resolved to, PCA's directions of those rows) exists only where the rows
//! are; the claims then read plain columns of the study's frame, which the
//! cache, the shard files and the merge carry like every other column.

use super::extra::{THEORY_MASKING, TheoryMetrics};
use super::spectral::SpectralRule;
use crate::error::{Error, Result};
use crate::linalg::FittedPca;
use crate::model::Autoencoder;
use crate::model::theory::{
    RecoveredDirections, Tying, axis_alignment, denoising_singular_values, kunin_singular_values,
    layer_transpose_gap, principal_directions, singular_values_desc, subspace_distance,
};
use crate::real::Real;
use crate::train::Corruption;
use nalgebra::DMatrix;

/// What a trained cell's theory values are computed from.
pub(crate) struct TheoryView<'a, T: Real> {
    /// The trained model.
    pub model: &'a Autoencoder<T>,
    /// Whether its first pair is tied.
    pub tied: bool,
    /// Whether it fitted its rows less their mean
    /// ([`super::Variant::centre`]).
    pub centre: bool,
    /// Its variant's spectral rule (the default, every term off, for a
    /// cell without one).
    pub rule: SpectralRule,
    /// The fitting rows as the split holds them: the rule resolves against
    /// them as the cell's training did, bit for bit.
    pub fit: &'a DMatrix<f64>,
    /// The same rows as the model saw them (centred when `centre`).
    pub seen: &'a DMatrix<f64>,
    /// The split's PCA, fitted on the fitting rows.
    pub pca: &'a FittedPca<f64>,
    /// The latent size.
    pub latent: usize,
    /// Epochs (or L-BFGS iterations) trained.
    pub epochs: usize,
    /// The seed of the cell's training config (it seeds the masking draw).
    pub train_seed: u64,
}

/// `Some` of a measurement, or `None` where it is not defined for this
/// model (a dead unit's zero direction, a decoder of lower rank than its
/// code): the row keeps a null, which a claim reads as "not measured".
fn measured(value: Result<f64>) -> Result<Option<f64>> {
    match value {
        Ok(v) => Ok(Some(v)),
        Err(Error::InvalidData(_) | Error::Numerical(_)) => Ok(None),
        Err(e) => Err(e),
    }
}

/// The largest absolute difference between measured and closed-form values.
fn max_err(got: &[f64], want: &[f64]) -> f64 {
    got.iter()
        .zip(want)
        .map(|(g, w)| (g - w).abs())
        .fold(0.0, f64::max)
}

/// The theory values of the cell `v` describes.
///
/// # Errors
/// A spectral rule that cannot be resolved on the fitting rows; a model
/// without layers.
pub(crate) fn theory_metrics<T: Real>(v: &TheoryView<'_, T>) -> Result<TheoryMetrics> {
    let layer = v
        .model
        .layers()
        .first()
        .ok_or_else(|| Error::Shape("a model without layers".into()))?;
    // The decoder (d x k) and its columns as rows (k x d): a tied pair's W.
    let dec: DMatrix<f64> = layer.decoder_weight().map(|x| x.f64());
    let w = dec.transpose();
    let k = v.latent.min(v.pca.n_components());
    let u = v.pca.components().rows(0, k).into_owned();
    let (direction_angle, variance_error) = plaut(v, &u)?;
    let (masked_fraction, masked_entries) = masking(v)?;
    Ok(TheoryMetrics {
        transpose_gap: if v.tied {
            None
        } else {
            measured(layer_transpose_gap(layer))?
        },
        sv_error: sv_error(v, &dec)?,
        direction_angle,
        variance_error,
        axis_alignment: measured(axis_alignment(&u, &w))?,
        subspace_distance: measured(subspace_distance(&u, &w))?,
        steps_to_alignment: v.rule.alignment.map(|_| v.epochs as f64),
        masked_fraction,
        masked_entries,
    })
}

/// The decoder's singular values against the closed form of the cell's
/// rule: Kunin et al.'s for uniform L2, the denoising optimum for Gaussian
/// noise; `None` for a rule with neither (no closed form to compare with;
/// non-uniform L2 has one per unit weight, which no claim reads).
fn sv_error<T: Real>(v: &TheoryView<'_, T>, dec: &DMatrix<f64>) -> Result<Option<f64>> {
    let kunin = v.rule.l2 > 0.0 && v.rule.unit_l2.is_none();
    if !kunin && v.rule.noise <= 0.0 {
        return Ok(None);
    }
    let r = v.rule.resolve(v.fit, v.latent, v.centre)?;
    let want = if kunin {
        let tying = if v.tied { Tying::Tied } else { Tying::Untied };
        kunin_singular_values(&r.moments, r.l2, v.fit.ncols(), v.latent, tying)?
    } else {
        denoising_singular_values(&r.moments, r.sigma, v.latent)?
    };
    Ok(Some(max_err(&singular_values_desc(dec), &want)))
}

/// Plaut's recovery from the decoder ([`principal_directions`] on the rows
/// the model saw): the largest angle, in degrees, of a recovered direction
/// to PCA's of the same rank (`u`), and the largest relative error of the
/// recovered variances against PCA's; nulls where the decoder cannot be
/// read (lower rank than its code, or not a linear stack).
fn plaut<T: Real>(v: &TheoryView<'_, T>, u: &DMatrix<f64>) -> Result<(Option<f64>, Option<f64>)> {
    let rec: RecoveredDirections = match principal_directions(v.model, v.seen) {
        Ok(rec) => rec,
        Err(Error::InvalidData(_) | Error::Config { .. }) => return Ok((None, None)),
        Err(e) => return Err(e),
    };
    let angle = (0..u.nrows().min(rec.directions.nrows()))
        .map(|i| {
            let (a, b) = (rec.directions.row(i), u.row(i));
            (a.dot(&b).abs() / (a.norm() * b.norm()))
                .min(1.0)
                .acos()
                .to_degrees()
        })
        .fold(0.0, f64::max);
    let variance = rec
        .variances
        .iter()
        .zip(v.pca.explained_variance())
        .map(|(got, want)| (got - want).abs() / want)
        .fold(0.0, f64::max);
    Ok((Some(angle), Some(variance)))
}

/// For a cell trained with Gaussian noise, Vincent et al.'s other
/// corruption checked on the rows' shape: the fraction of entries masking
/// at [`THEORY_MASKING`] zeroes in a matrix of ones of the fitting rows'
/// shape (the trainer's draw of epoch 1 under the cell's training seed),
/// and the number of entries; nulls for other cells.
fn masking<T: Real>(v: &TheoryView<'_, T>) -> Result<(Option<f64>, Option<i64>)> {
    if v.rule.noise <= 0.0 {
        return Ok((None, None));
    }
    let (n, d) = v.fit.shape();
    let mut ones = DMatrix::<f64>::from_element(n, d, 1.0);
    let rows: Vec<usize> = (0..n).collect();
    Corruption::Masking {
        fraction: THEORY_MASKING,
    }
    .apply(&mut ones, &rows, Corruption::epoch_seed(v.train_seed, 1))?;
    let entries = n * d;
    let zeroed = ones.iter().filter(|&&x| x == 0.0).count();
    Ok((
        Some(zeroed as f64 / entries.max(1) as f64),
        Some(entries as i64),
    ))
}
