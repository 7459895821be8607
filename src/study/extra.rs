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
//! The one set today is [`MetricSet::Sae`], the sparse-autoencoder
//! peers' metrics ([`SaeMetrics`]; their definitions and sources are in
//! [`super::metrics`]).

use super::frame::ColumnType;
use super::metrics::{dead_count, dense_count, firing_density, l2_ratio, shrinkage};
use crate::error::{Error, Result};
use crate::model::{fvu, l0};
use nalgebra::DMatrix;
use polars::prelude::*;
use serde::{Deserialize, Serialize};

/// A set of extra metrics a cell records.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MetricSet {
    /// The sparse-autoencoder metrics, the columns of [`SAE_COLUMNS`].
    Sae,
}

impl MetricSet {
    /// The set's columns, in frame order.
    pub fn columns(self) -> &'static [(&'static str, ColumnType)] {
        match self {
            MetricSet::Sae => &SAE_COLUMNS,
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
/// all nulls, is the row of a cell that records none of them.
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

/// Appends the columns of [`SAE_COLUMNS`] to `df`, one value per row from
/// `metrics` (as many as `df` has rows).
///
/// # Errors
/// [`Error::InvalidData`] for a count that does not match; polars errors.
pub fn append_sae_columns(df: &mut DataFrame, metrics: &[SaeMetrics]) -> Result<()> {
    if metrics.len() != df.height() {
        return Err(Error::InvalidData(format!(
            "{} rows of SAE metrics for a frame of {} rows",
            metrics.len(),
            df.height()
        )));
    }
    let f = |name: &str, get: &dyn Fn(&SaeMetrics) -> Option<f64>| {
        Column::new(name.into(), metrics.iter().map(get).collect::<Vec<_>>())
    };
    let i = |name: &str, get: &dyn Fn(&SaeMetrics) -> Option<i64>| {
        Column::new(name.into(), metrics.iter().map(get).collect::<Vec<_>>())
    };
    let cols = [
        f("l0", &|m| m.l0),
        f("fvu", &|m| m.fvu),
        f("dead_fraction_train", &|m| m.dead_fraction_train),
        f("decoder_encoder_cosine", &|m| m.decoder_encoder_cosine),
        i("dead_latents", &|m| m.dead_latents),
        i("dense_latents", &|m| m.dense_latents),
        f("shrinkage", &|m| m.shrinkage),
        f("l2_ratio", &|m| m.l2_ratio),
        f("l0_train", &|m| m.l0_train),
    ];
    for c in cols {
        df.with_column(c)?;
    }
    Ok(())
}

/// The values of [`SAE_COLUMNS`] in `df`, row by row, or `None` when `df`
/// has none of the columns. A column it lacks reads as nulls (frames
/// written before the column existed), and each column is cast to its type
/// first (a CSV column of nulls reads back as text).
///
/// # Errors
/// A column that cannot be cast to its type.
pub fn read_sae_columns(df: &DataFrame) -> Result<Option<Vec<SaeMetrics>>> {
    if SAE_COLUMNS.iter().all(|(n, _)| df.column(n).is_err()) {
        return Ok(None);
    }
    let n = df.height();
    let f = |name: &str| -> Result<Vec<Option<f64>>> {
        match df.column(name) {
            Err(_) => Ok(vec![None; n]),
            Ok(c) => Ok(c.cast(&DataType::Float64)?.f64()?.iter().collect()),
        }
    };
    let i = |name: &str| -> Result<Vec<Option<i64>>> {
        match df.column(name) {
            Err(_) => Ok(vec![None; n]),
            Ok(c) => Ok(c.cast(&DataType::Int64)?.i64()?.iter().collect()),
        }
    };
    let (l0s, fvus, dead, cos) = (
        f("l0")?,
        f("fvu")?,
        f("dead_fraction_train")?,
        f("decoder_encoder_cosine")?,
    );
    let (gone, busy) = (i("dead_latents")?, i("dense_latents")?);
    let (shrunk, ratio, train) = (f("shrinkage")?, f("l2_ratio")?, f("l0_train")?);
    Ok(Some(
        (0..n)
            .map(|r| SaeMetrics {
                l0: l0s[r],
                fvu: fvus[r],
                dead_fraction_train: dead[r],
                decoder_encoder_cosine: cos[r],
                dead_latents: gone[r],
                dense_latents: busy[r],
                shrinkage: shrunk[r],
                l2_ratio: ratio[r],
                l0_train: train[r],
            })
            .collect(),
    ))
}
