//! Metric columns a study's cells may record beyond the results columns
//! ([`super::COLUMNS`]), and the sets a variant asks for.
//!
//! A study whose variants record a [`MetricSet`] has that set's columns
//! after the results columns, in every frame it returns, writes or merges;
//! a cell that records none of them has nulls there. The values travel
//! with the cell's row: in the cache file, in the shard files and through
//! [`super::merge`], so a merged frame has the columns of the unsharded
//! one.
//!
//! Four sets: [`MetricSet::Sae`], the sparse-autoencoder peers' metrics
//! ([`SaeMetrics`]; their definitions and sources are in
//! [`super::metrics`]), [`MetricSet::Denoising`], test MSEs of corrupted
//! inputs ([`DenoisingMetrics`]), [`MetricSet::Theory`], what the
//! claims of the linear theory read from a trained linear pair
//! ([`TheoryMetrics`]), and [`MetricSet::Dynamics`], how a model found
//! the principal directions over its epochs ([`DynamicsMetrics`]). One
//! study records one set: its PCA cells record the set of its variants.

use super::frame::ColumnType;
use super::metrics::{dead_count, dense_count, firing_density, l2_ratio, mse, shrinkage};
use crate::error::{Error, Result};
use crate::model::{fvu, l0};
use crate::rng::derive_seed;
use crate::train::Corruption;
use nalgebra::DMatrix;
use polars::prelude::*;
use serde::{Deserialize, Serialize};

/// A set of extra metrics a cell records.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MetricSet {
    /// The sparse-autoencoder metrics, the columns of [`SAE_COLUMNS`].
    Sae,
    /// Test MSEs of corrupted inputs, the columns of
    /// [`DENOISING_COLUMNS`].
    Denoising,
    /// A linear pair against the closed forms and principal directions of
    /// its fitting rows, the columns of [`THEORY_COLUMNS`].
    Theory,
    /// The principal directions found epoch by epoch, and the share of
    /// PCA's explained variance reached, the columns of
    /// [`DYNAMICS_COLUMNS`].
    Dynamics,
}

impl MetricSet {
    /// The set's columns, in frame order.
    pub fn columns(self) -> &'static [(&'static str, ColumnType)] {
        match self {
            MetricSet::Sae => &SAE_COLUMNS,
            MetricSet::Denoising => &DENOISING_COLUMNS,
            MetricSet::Theory => &THEORY_COLUMNS,
            MetricSet::Dynamics => &DYNAMICS_COLUMNS,
        }
    }
}

/// The columns of [`MetricSet::Sae`], after the results columns:
/// - `l0`: mean active (nonzero) latents per test row; PCA: its
///   component count;
/// - `fvu`: test MSE over the test rows' total variance;
/// - `dead_fraction_train`: the trainer's windowed dead fraction at the end
///   of training (null without dead-latent tracking, and for PCA);
/// - `decoder_encoder_cosine`: mean cosine of each latent's decoder and
///   encoder directions (untied models only);
/// - `dead_latents`, `dense_latents`: latents that fired on none of the test
///   rows, and on more than [`super::metrics::DENSE_DENSITY`] of them
///   (null for PCA, whose scores are no sparse code);
/// - `shrinkage`, `l2_ratio`: of the test reconstructions (null where the
///   ratio is undefined, e.g. a reconstruction of zeros);
/// - `l0_train`: as `l0`, on the rows the model fitted (what the choice of
///   an L1 weight reads: the test rows play no part in it).
pub const SAE_COLUMNS: [(&str, ColumnType); 9] = [
    ("l0", ColumnType::F64),
    ("fvu", ColumnType::F64),
    ("dead_fraction_train", ColumnType::F64),
    ("decoder_encoder_cosine", ColumnType::F64),
    ("dead_latents", ColumnType::I64),
    ("dense_latents", ColumnType::I64),
    ("shrinkage", ColumnType::F64),
    ("l2_ratio", ColumnType::F64),
    ("l0_train", ColumnType::F64),
];

/// One cell's values of [`SAE_COLUMNS`]; `None` is a null. The default,
/// all nulls, is the row of a cell that records none of them. It also
/// carries, in [`SaeMetrics::denoising`], the values of a cell that
/// records [`MetricSet::Denoising`] instead (its SAE fields then null):
/// the one record of a cell's extra metrics that the cache and the shard
/// files hold.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SaeMetrics {
    /// Mean active latents per test row.
    pub l0: Option<f64>,
    /// Fraction of the test rows' variance left unexplained.
    pub fvu: Option<f64>,
    /// The windowed dead fraction at the end of training.
    pub dead_fraction_train: Option<f64>,
    /// Mean decoder/encoder cosine (untied models).
    pub decoder_encoder_cosine: Option<f64>,
    /// Latents that fired on no test row.
    pub dead_latents: Option<i64>,
    /// Latents that fired on more than a fraction
    /// [`super::metrics::DENSE_DENSITY`] of the test rows.
    pub dense_latents: Option<i64>,
    /// `E‖x̂‖² / E⟨x, x̂⟩` on the test rows.
    pub shrinkage: Option<f64>,
    /// Mean `‖x̂‖ / ‖x‖` on the test rows.
    pub l2_ratio: Option<f64>,
    /// Mean active latents per fitting row.
    pub l0_train: Option<f64>,
    /// The values of [`MetricSet::Denoising`], for a cell that records it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub denoising: Option<DenoisingMetrics>,
    /// The values of [`MetricSet::Theory`], for a cell that records it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub theory: Option<TheoryMetrics>,
    /// The values of [`MetricSet::Dynamics`], for a cell that records it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dynamics: Option<DynamicsMetrics>,
}

/// A ratio of the metrics, or `None` where it is not defined (a
/// reconstruction with `E⟨x, x̂⟩ = 0`, such as all zeros from a model
/// whose latents all died): the row keeps a null rather than failing the
/// study.
fn defined(ratio: Result<f64>) -> Result<Option<f64>> {
    match ratio {
        Ok(v) => Ok(Some(v)),
        Err(Error::Numerical(_)) => Ok(None),
        Err(e) => Err(e),
    }
}

/// What the SAE metrics of a trained cell are computed from, all in f64.
pub(crate) struct TrainedCode<'a> {
    /// The test rows.
    pub test: &'a DMatrix<f64>,
    /// Their reconstructions.
    pub recon: &'a DMatrix<f64>,
    /// Their codes.
    pub code: &'a DMatrix<f64>,
    /// The codes of the fitting rows.
    pub train_code: &'a DMatrix<f64>,
    /// The trainer's dead fraction in its last epoch, if it tracked one.
    pub dead_fraction_train: Option<f64>,
    /// The model's mean decoder/encoder cosine (untied models).
    pub cosine: Option<f64>,
}

/// The SAE metrics of a trained cell, and the firing density of each
/// latent on the test rows (what the density histogram draws).
///
/// # Errors
/// Shape errors of the metrics; no test rows.
pub(crate) fn trained_sae_metrics(c: &TrainedCode) -> Result<(SaeMetrics, Vec<f64>)> {
    let density = firing_density(c.code)?;
    let metrics = SaeMetrics {
        l0: Some(l0(c.code)?),
        fvu: Some(fvu(c.test, c.recon)?),
        dead_fraction_train: c.dead_fraction_train,
        decoder_encoder_cosine: c.cosine,
        dead_latents: Some(dead_count(&density) as i64),
        dense_latents: Some(dense_count(&density) as i64),
        shrinkage: defined(shrinkage(c.test, c.recon))?,
        l2_ratio: defined(l2_ratio(c.test, c.recon))?,
        l0_train: Some(l0(c.train_code)?),
        denoising: None,
        theory: None,
        dynamics: None,
    };
    Ok((metrics, density))
}

/// The SAE metrics of a PCA cell with `components` components and test
/// reconstructions `recon` of `test`: its L0 is its component count (on
/// the test and the fitting rows alike), no training-time or latent
/// counts (its scores are no sparse code), and its FVU, shrinkage and ℓ2
/// ratio as the linear reference.
///
/// # Errors
/// As [`trained_sae_metrics`].
pub(crate) fn pca_sae_metrics(
    test: &DMatrix<f64>,
    recon: &DMatrix<f64>,
    components: usize,
) -> Result<SaeMetrics> {
    Ok(SaeMetrics {
        l0: Some(components as f64),
        fvu: Some(fvu(test, recon)?),
        shrinkage: defined(shrinkage(test, recon))?,
        l2_ratio: defined(l2_ratio(test, recon))?,
        l0_train: Some(components as f64),
        ..SaeMetrics::default()
    })
}

/// A set's values of one cell in the order of its columns, each as an
/// `Option<f64>` (`None` a null), so that one writer and one reader serve
/// every set: an integer column's counts are exact in an f64 far beyond
/// any count a cell records, and a float passes through bit for bit.
trait ColumnValues: Default {
    /// The set's columns, in frame order.
    const COLUMNS: &'static [(&'static str, ColumnType)];
    /// What the set is called in errors.
    const WHAT: &'static str;
    /// The values, one per column.
    fn values(&self) -> Vec<Option<f64>>;
    /// The record of `values`, one per column.
    fn from_values(values: &[Option<f64>]) -> Self;
}

/// An integer column's value held as a float (see [`ColumnValues`]).
fn int(v: Option<i64>) -> Option<f64> {
    v.map(|x| x as f64)
}

/// A float-held value of an integer column back as an integer.
fn to_int(v: Option<f64>) -> Option<i64> {
    v.map(|x| x as i64)
}

/// Appends the columns of `M` to `df`, one record per row.
///
/// # Errors
/// [`Error::InvalidData`] for a count that does not match; polars errors.
fn append_columns<M: ColumnValues>(df: &mut DataFrame, records: &[M]) -> Result<()> {
    if records.len() != df.height() {
        return Err(Error::InvalidData(format!(
            "{} rows of {} metrics for a frame of {} rows",
            records.len(),
            M::WHAT,
            df.height()
        )));
    }
    let rows: Vec<Vec<Option<f64>>> = records.iter().map(M::values).collect();
    for (c, (name, ty)) in M::COLUMNS.iter().enumerate() {
        let values = rows.iter().map(|r| r[c]);
        let column = match ty {
            ColumnType::I64 => Column::new((*name).into(), values.map(to_int).collect::<Vec<_>>()),
            _ => Column::new((*name).into(), values.collect::<Vec<_>>()),
        };
        df.with_column(column)?;
    }
    Ok(())
}

/// The records of `M` in `df`, row by row, or `None` when `df` has none of
/// its columns. A column it lacks reads as nulls (frames written before
/// the column existed), and each column is cast first (a CSV column of
/// nulls reads back as text).
///
/// # Errors
/// A column that cannot be cast to a number.
fn read_columns<M: ColumnValues>(df: &DataFrame) -> Result<Option<Vec<M>>> {
    if M::COLUMNS.iter().all(|(n, _)| df.column(n).is_err()) {
        return Ok(None);
    }
    let n = df.height();
    let columns = M::COLUMNS
        .iter()
        .map(|(name, _)| -> Result<Vec<Option<f64>>> {
            match df.column(name) {
                Err(_) => Ok(vec![None; n]),
                Ok(c) => Ok(c.cast(&DataType::Float64)?.f64()?.iter().collect()),
            }
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Some(
        (0..n)
            .map(|r| M::from_values(&columns.iter().map(|c| c[r]).collect::<Vec<_>>()))
            .collect(),
    ))
}

impl ColumnValues for SaeMetrics {
    const COLUMNS: &'static [(&'static str, ColumnType)] = &SAE_COLUMNS;
    const WHAT: &'static str = "SAE";

    fn values(&self) -> Vec<Option<f64>> {
        vec![
            self.l0,
            self.fvu,
            self.dead_fraction_train,
            self.decoder_encoder_cosine,
            int(self.dead_latents),
            int(self.dense_latents),
            self.shrinkage,
            self.l2_ratio,
            self.l0_train,
        ]
    }

    fn from_values(v: &[Option<f64>]) -> Self {
        SaeMetrics {
            l0: v[0],
            fvu: v[1],
            dead_fraction_train: v[2],
            decoder_encoder_cosine: v[3],
            dead_latents: to_int(v[4]),
            dense_latents: to_int(v[5]),
            shrinkage: v[6],
            l2_ratio: v[7],
            l0_train: v[8],
            ..SaeMetrics::default()
        }
    }
}

/// Appends the columns of [`SAE_COLUMNS`] to `df`, one value per row from
/// `metrics` (as many as `df` has rows).
///
/// # Errors
/// [`Error::InvalidData`] for a count that does not match; polars errors.
pub fn append_sae_columns(df: &mut DataFrame, metrics: &[SaeMetrics]) -> Result<()> {
    append_columns(df, metrics)
}

/// The values of [`SAE_COLUMNS`] in `df`, row by row, or `None` when `df`
/// has none of the columns. A column it lacks reads as nulls (frames
/// written before the column existed), and each column is cast to its type
/// first (a CSV column of nulls reads back as text).
///
/// # Errors
/// A column that cannot be cast to its type.
pub fn read_sae_columns(df: &DataFrame) -> Result<Option<Vec<SaeMetrics>>> {
    read_columns(df)
}

/// The comparison levels of [`MetricSet::Denoising`]: masking fractions
/// ν, and Gaussian σ in units of the fitting rows' entry scale
/// ([`super::entry_scale`]).
pub const DENOISING_LEVELS: [f64; 3] = [0.1, 0.25, 0.5];

/// The stream, under a cell's seed, of its test rows' corruption
/// (`derive_seed(seed, TEST_NOISE_STREAM)` seeds [`Corruption::apply`]
/// with test row `i` as sample `i`). Every cell of a seed corrupts its
/// test rows alike, so the comparisons within a seed are paired.
pub const TEST_NOISE_STREAM: u64 = 0x7e57;

/// The columns of [`MetricSet::Denoising`], after the results columns.
/// Each is the MSE of the cell's reconstructions of its test rows, each
/// row corrupted once (seeded, [`TEST_NOISE_STREAM`]), against the clean
/// rows:
/// - `corrupted_test_mse`: corrupted with the cell's own noise, the
///   corruption its variant trained with ([`Variant::corruption`](super::Variant#structfield.corruption));
///   a cell trained without one (PCA, a plain pair) has none, so this is
///   its clean test MSE;
/// - `masked_test_mse_10`, `_25`, `_50`: masking with ν the suffix in
///   hundredths ([`DENOISING_LEVELS`]);
/// - `noisy_test_mse_10`, `_25`, `_50`: Gaussian noise with σ the suffix
///   in hundredths of the fitting rows' entry scale.
///
/// The fixed levels are the rule for models trained without noise: the
/// plain pair's and PCA's corrupted test MSE "at level ν" is the column of
/// ν, measured on the same corrupted rows as the denoising model of that
/// level (same seed), which reads its own as `corrupted_test_mse` (and, at
/// a level of the list, in that column too).
pub const DENOISING_COLUMNS: [(&str, ColumnType); 7] = [
    ("corrupted_test_mse", ColumnType::F64),
    ("masked_test_mse_10", ColumnType::F64),
    ("masked_test_mse_25", ColumnType::F64),
    ("masked_test_mse_50", ColumnType::F64),
    ("noisy_test_mse_10", ColumnType::F64),
    ("noisy_test_mse_25", ColumnType::F64),
    ("noisy_test_mse_50", ColumnType::F64),
];

/// One cell's values of [`DENOISING_COLUMNS`]; `None` is a null.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DenoisingMetrics {
    /// Test MSE of inputs corrupted with the cell's own noise.
    pub corrupted_test_mse: Option<f64>,
    /// Test MSE of masked inputs, per level of [`DENOISING_LEVELS`].
    pub masked_test_mse: [Option<f64>; 3],
    /// Test MSE of inputs with Gaussian noise, per level of
    /// [`DENOISING_LEVELS`] (relative to the entry scale).
    pub noisy_test_mse: [Option<f64>; 3],
}

/// A corruption at noise `level` of kind `masking` (ν) or any other
/// (Gaussian, σ = `level × scale`), or `None` at level 0.
pub fn corruption_at(masking: bool, level: f64, scale: f64) -> Option<Corruption> {
    if level == 0.0 {
        None
    } else if masking {
        Some(Corruption::Masking { fraction: level })
    } else {
        Some(Corruption::Gaussian {
            sigma: level * scale,
        })
    }
}

/// The rows of `test`, each corrupted once by `noise` as sample `i` from
/// the stream of `seed` ([`TEST_NOISE_STREAM`]); the rows as they are
/// without noise. What [`MetricSet::Denoising`] reconstructs.
///
/// # Errors
/// None in practice (one sample index per row).
pub fn corrupted_test_rows(
    test: &DMatrix<f64>,
    noise: Option<Corruption>,
    seed: u64,
) -> Result<DMatrix<f64>> {
    let mut noisy = test.clone();
    if let Some(c) = noise {
        let rows: Vec<usize> = (0..test.nrows()).collect();
        c.apply(&mut noisy, &rows, derive_seed(seed, TEST_NOISE_STREAM))?;
    }
    Ok(noisy)
}

/// The values of [`MetricSet::Denoising`] of a cell of seed `seed`:
/// `reconstruct` is its model, `own` its own (resolved) training
/// corruption and `scale` its fitting rows' entry scale (Gaussian σ's
/// unit).
///
/// # Errors
/// The model's errors; an empty test part.
pub(crate) fn denoising_metrics(
    test: &DMatrix<f64>,
    own: Option<Corruption>,
    scale: f64,
    seed: u64,
    reconstruct: &dyn Fn(&DMatrix<f64>) -> Result<DMatrix<f64>>,
) -> Result<DenoisingMetrics> {
    let at = |noise: Option<Corruption>| -> Result<Option<f64>> {
        let noisy = corrupted_test_rows(test, noise, seed)?;
        Ok(Some(mse(&reconstruct(&noisy)?, test)?))
    };
    let mut out = DenoisingMetrics {
        corrupted_test_mse: at(own)?,
        ..DenoisingMetrics::default()
    };
    for (i, &level) in DENOISING_LEVELS.iter().enumerate() {
        out.masked_test_mse[i] = at(corruption_at(true, level, scale))?;
        out.noisy_test_mse[i] = at(corruption_at(false, level, scale))?;
    }
    Ok(out)
}

/// Appends the columns of `set` to `df`, one value per row from `metrics`
/// (as many as `df` has rows; a row without values of the set has nulls).
///
/// # Errors
/// As [`append_sae_columns`].
pub fn append_extra_columns(
    df: &mut DataFrame,
    set: MetricSet,
    metrics: &[SaeMetrics],
) -> Result<()> {
    match set {
        MetricSet::Sae => append_columns(df, metrics),
        MetricSet::Denoising => append_part(df, metrics, |m| m.denoising.as_ref()),
        MetricSet::Theory => append_part(df, metrics, |m| m.theory.as_ref()),
        MetricSet::Dynamics => append_part(df, metrics, |m| m.dynamics.as_ref()),
    }
}

impl ColumnValues for DenoisingMetrics {
    const COLUMNS: &'static [(&'static str, ColumnType)] = &DENOISING_COLUMNS;
    const WHAT: &'static str = "denoising";

    fn values(&self) -> Vec<Option<f64>> {
        let mut v = vec![self.corrupted_test_mse];
        v.extend(self.masked_test_mse);
        v.extend(self.noisy_test_mse);
        v
    }

    fn from_values(v: &[Option<f64>]) -> Self {
        DenoisingMetrics {
            corrupted_test_mse: v[0],
            masked_test_mse: [v[1], v[2], v[3]],
            noisy_test_mse: [v[4], v[5], v[6]],
        }
    }
}

/// Appends the columns of the set `M` to `df` from the part of `metrics`
/// that `part` picks (nulls where a row has none).
fn append_part<M: ColumnValues + Clone>(
    df: &mut DataFrame,
    metrics: &[SaeMetrics],
    part: impl Fn(&SaeMetrics) -> Option<&M>,
) -> Result<()> {
    let records: Vec<M> = metrics
        .iter()
        .map(|m| part(m).cloned().unwrap_or_default())
        .collect();
    append_columns(df, &records)
}

/// The records of the set `M` in `df`, each placed in a [`SaeMetrics`] by
/// `place`, or `None` when `df` has none of its columns.
fn read_part<M: ColumnValues>(
    df: &DataFrame,
    place: impl Fn(M) -> SaeMetrics,
) -> Result<Option<Vec<SaeMetrics>>> {
    Ok(read_columns::<M>(df)?.map(|records| records.into_iter().map(place).collect()))
}

/// The extra metrics in `df` and their set, row by row, or `None` when
/// `df` has the columns of no set (read as [`read_sae_columns`] does; the
/// denoising values land in [`SaeMetrics::denoising`], the theory values
/// in [`SaeMetrics::theory`], the dynamics values in
/// [`SaeMetrics::dynamics`]).
///
/// # Errors
/// A column that cannot be cast to its type.
pub fn read_extra_columns(df: &DataFrame) -> Result<Option<(MetricSet, Vec<SaeMetrics>)>> {
    if let Some(values) = read_sae_columns(df)? {
        return Ok(Some((MetricSet::Sae, values)));
    }
    let theory = |t| SaeMetrics {
        theory: Some(t),
        ..SaeMetrics::default()
    };
    if let Some(values) = read_part(df, theory)? {
        return Ok(Some((MetricSet::Theory, values)));
    }
    let dynamics = |d| SaeMetrics {
        dynamics: Some(d),
        ..SaeMetrics::default()
    };
    if let Some(values) = read_part(df, dynamics)? {
        return Ok(Some((MetricSet::Dynamics, values)));
    }
    let denoising = |d| SaeMetrics {
        denoising: Some(d),
        ..SaeMetrics::default()
    };
    Ok(read_part(df, denoising)?.map(|values| (MetricSet::Denoising, values)))
}

/// The columns of [`MetricSet::Theory`], after the results columns: what
/// the claims of the linear theory read from a cell's trained first pair,
/// measured against the rows it fitted as it saw them (`c_i` the
/// eigenvalues of their second moment, largest first; `U` the first
/// `k` principal directions of its split's PCA, fitted on those rows).
/// Null where the cell's variant does not say what to compare with.
/// - `transpose_gap`: `‖W_enc − W_decᵀ‖_F / ‖W_dec‖_F` (untied pairs);
/// - `sv_error`: `max_i |s_i − s̄_i|` between the decoder's singular values
///   and the closed form of its variant's spectral rule: Kunin et al.'s
///   `s̄_i² = 1 − d λ₂ / (m c_i)` (`m` 2 untied, 4 tied) for uniform L2,
///   the denoising optimum `s̄_i² = c_i / (c_i + σ²)` for Gaussian noise;
/// - `direction_angle`: the largest angle, in degrees, between a
///   direction Plaut's SVD recovers from the decoder
///   ([`crate::model::theory::principal_directions`]) and PCA's of the same
///   rank;
/// - `variance_error`: the largest relative error of the variances it
///   recovers against PCA's;
/// - `axis_alignment`, `subspace_distance`: Bao et al.'s metrics of the
///   decoder's columns against `U`;
/// - `steps_to_alignment`: for a variant that trains to an alignment
///   target, the epochs (full-batch steps) it took, its cap if it did not
///   get there;
/// - `masked_fraction`, `masked_entries`: for a variant trained with noise,
///   the fraction of entries that masking at [`THEORY_MASKING`] zeroes in
///   a matrix of the fitting rows' shape (seeded by the cell's training
///   seed), and their number.
pub const THEORY_COLUMNS: [(&str, ColumnType); 9] = [
    ("transpose_gap", ColumnType::F64),
    ("sv_error", ColumnType::F64),
    ("direction_angle", ColumnType::F64),
    ("variance_error", ColumnType::F64),
    ("axis_alignment", ColumnType::F64),
    ("subspace_distance", ColumnType::F64),
    ("steps_to_alignment", ColumnType::F64),
    ("masked_fraction", ColumnType::F64),
    ("masked_entries", ColumnType::I64),
];

/// The masking fraction ν whose draw [`MetricSet::Theory`] counts.
pub const THEORY_MASKING: f64 = 0.25;

/// One cell's values of [`THEORY_COLUMNS`]; `None` is a null.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TheoryMetrics {
    /// Relative transpose gap (untied pairs).
    pub transpose_gap: Option<f64>,
    /// Largest singular-value error against the closed form.
    pub sv_error: Option<f64>,
    /// Largest angle of Plaut's recovered directions to PCA's, degrees.
    pub direction_angle: Option<f64>,
    /// Largest relative error of the recovered variances.
    pub variance_error: Option<f64>,
    /// Bao et al.'s axis alignment of the decoder's columns.
    pub axis_alignment: Option<f64>,
    /// Bao et al.'s subspace distance of the decoder's columns.
    pub subspace_distance: Option<f64>,
    /// Epochs to the alignment target (or the cap).
    pub steps_to_alignment: Option<f64>,
    /// Fraction of entries the masking draw zeroed.
    pub masked_fraction: Option<f64>,
    /// Entries of that draw.
    pub masked_entries: Option<i64>,
}

impl ColumnValues for TheoryMetrics {
    const COLUMNS: &'static [(&'static str, ColumnType)] = &THEORY_COLUMNS;
    const WHAT: &'static str = "theory";

    fn values(&self) -> Vec<Option<f64>> {
        vec![
            self.transpose_gap,
            self.sv_error,
            self.direction_angle,
            self.variance_error,
            self.axis_alignment,
            self.subspace_distance,
            self.steps_to_alignment,
            self.masked_fraction,
            int(self.masked_entries),
        ]
    }

    fn from_values(v: &[Option<f64>]) -> Self {
        TheoryMetrics {
            transpose_gap: v[0],
            sv_error: v[1],
            direction_angle: v[2],
            variance_error: v[3],
            axis_alignment: v[4],
            subspace_distance: v[5],
            steps_to_alignment: v[6],
            masked_fraction: v[7],
            masked_entries: to_int(v[8]),
        }
    }
}

/// Principal directions [`MetricSet::Dynamics`] follows at most: the
/// columns hold one value per direction, so their number is fixed.
pub const DYNAMICS_DIRECTIONS: usize = 4;

/// The alignment [`MetricSet::Dynamics`] counts as a direction found.
pub const DYNAMICS_THRESHOLD: f64 = 0.9;

/// The columns of [`MetricSet::Dynamics`], after the results columns: how
/// a model trained one epoch at a time found the leading principal
/// directions `u_i` of its fitting rows (the split's PCA, at most
/// [`DYNAMICS_DIRECTIONS`] of them and at most the latent size; null
/// beyond), measured by the alignment `max_j cos²(u_i, w_j)` of each with
/// the decoder's directions `w_j`
/// ([`crate::model::theory::direction_alignment`]):
/// - `alignment_1` .. `alignment_4`: after the last epoch;
/// - `crossing_epoch_1` .. `crossing_epoch_4`: the first epoch (from 1)
///   after which it was at least [`DYNAMICS_THRESHOLD`], null if never
///   (and for a cell not followed epoch by epoch);
/// - `mean_test_mse`: `E₀`, the test MSE of predicting every test row by
///   the fitting rows' mean, in the data's units;
/// - `fev`: the fraction of PCA's explained variance the model explains on
///   the test rows, `(E₀ − E) / (E₀ − E_PCA)` with `E` its test MSE and
///   `E_PCA` PCA's at its latent size (1 as good as PCA, 0 no better than
///   the mean; null when PCA explains nothing).
pub const DYNAMICS_COLUMNS: [(&str, ColumnType); 10] = [
    ("alignment_1", ColumnType::F64),
    ("alignment_2", ColumnType::F64),
    ("alignment_3", ColumnType::F64),
    ("alignment_4", ColumnType::F64),
    ("crossing_epoch_1", ColumnType::I64),
    ("crossing_epoch_2", ColumnType::I64),
    ("crossing_epoch_3", ColumnType::I64),
    ("crossing_epoch_4", ColumnType::I64),
    ("mean_test_mse", ColumnType::F64),
    ("fev", ColumnType::F64),
];

/// One cell's values of [`DYNAMICS_COLUMNS`]; `None` is a null.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DynamicsMetrics {
    /// Each direction's alignment after the last epoch.
    pub alignment: [Option<f64>; DYNAMICS_DIRECTIONS],
    /// Each direction's first epoch at [`DYNAMICS_THRESHOLD`] or above.
    pub crossing_epoch: [Option<i64>; DYNAMICS_DIRECTIONS],
    /// `E₀`, the test MSE of the fitting rows' mean.
    pub mean_test_mse: Option<f64>,
    /// The fraction of PCA's explained variance.
    pub fev: Option<f64>,
}

impl ColumnValues for DynamicsMetrics {
    const COLUMNS: &'static [(&'static str, ColumnType)] = &DYNAMICS_COLUMNS;
    const WHAT: &'static str = "dynamics";

    fn values(&self) -> Vec<Option<f64>> {
        let mut v = self.alignment.to_vec();
        v.extend(self.crossing_epoch.map(int));
        v.extend([self.mean_test_mse, self.fev]);
        v
    }

    fn from_values(v: &[Option<f64>]) -> Self {
        let d = DYNAMICS_DIRECTIONS;
        DynamicsMetrics {
            alignment: std::array::from_fn(|i| v[i]),
            crossing_epoch: std::array::from_fn(|i| to_int(v[d + i])),
            mean_test_mse: v[2 * d],
            fev: v[2 * d + 1],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::study::frame::{Row, rows_to_frame};

    /// A row of the results columns (its values do not matter here).
    fn row(model: &str) -> Row {
        Row::example(model, 2, 0, 1.0)
    }

    /// A theory cell's values travel with its row: appended as the set's
    /// columns and read back (what a merge of shard files and the cache,
    /// which stores [`SaeMetrics`] as JSON, both do), every value and
    /// every null comes back as it was, and the frame reads as the theory
    /// set, not as another.
    #[test]
    fn theory_columns_read_back_as_written() {
        let full = TheoryMetrics {
            transpose_gap: Some(1.25e-4),
            sv_error: Some(0.1 + 0.2),
            direction_angle: Some(0.0625),
            variance_error: Some(3e-5),
            axis_alignment: Some(1e-9),
            subspace_distance: Some(2e-10),
            steps_to_alignment: Some(525.0),
            masked_fraction: Some(0.2496),
            masked_entries: Some(92_032),
        };
        let values = vec![
            SaeMetrics {
                theory: Some(full),
                ..SaeMetrics::default()
            },
            SaeMetrics {
                theory: Some(TheoryMetrics::default()),
                ..SaeMetrics::default()
            },
        ];
        let mut df = rows_to_frame(&[row("untied_linear_l2"), row("tied_rag")]).unwrap();
        append_extra_columns(&mut df, MetricSet::Theory, &values).unwrap();
        let names: Vec<String> = df
            .get_column_names()
            .iter()
            .map(|n| n.to_string())
            .collect();
        for (name, _) in THEORY_COLUMNS {
            assert!(names.iter().any(|n| n == name), "{name}");
        }
        let (set, back) = read_extra_columns(&df).unwrap().unwrap();
        assert_eq!(set, MetricSet::Theory);
        assert_eq!(back, values);
        for v in &values {
            let json = serde_json::to_string(v).unwrap();
            assert_eq!(&serde_json::from_str::<SaeMetrics>(&json).unwrap(), v);
        }
    }

    /// A dynamics cell's values travel with its row as the theory values
    /// do: appended as the set's columns (crossing epochs as integers) and
    /// read back, every value and null as it was, and the frame reads as
    /// the dynamics set.
    #[test]
    fn dynamics_columns_read_back_as_written() {
        let full = DynamicsMetrics {
            alignment: [Some(0.99), Some(0.1 + 0.2), None, Some(1e-9)],
            crossing_epoch: [Some(3), None, None, Some(100)],
            mean_test_mse: Some(0.55),
            fev: Some(-0.25),
        };
        let values = vec![
            SaeMetrics {
                dynamics: Some(full),
                ..SaeMetrics::default()
            },
            SaeMetrics {
                dynamics: Some(DynamicsMetrics::default()),
                ..SaeMetrics::default()
            },
        ];
        let mut df =
            rows_to_frame(&[row("tied_relu_trained"), row("untied_sigmoid_frozen")]).unwrap();
        append_extra_columns(&mut df, MetricSet::Dynamics, &values).unwrap();
        for (name, kind) in DYNAMICS_COLUMNS {
            let want = match kind {
                ColumnType::I64 => DataType::Int64,
                _ => DataType::Float64,
            };
            assert_eq!(df.column(name).unwrap().dtype(), &want, "{name}");
        }
        let (set, back) = read_extra_columns(&df).unwrap().unwrap();
        assert_eq!(set, MetricSet::Dynamics);
        assert_eq!(back, values);
        for v in &values {
            let json = serde_json::to_string(v).unwrap();
            assert_eq!(&serde_json::from_str::<SaeMetrics>(&json).unwrap(), v);
        }
    }
}
