//! What a detailed run hands to reports besides the results frame: per cell
//! the training history, the first-layer decoder filters and a few
//! reconstructions; per (dataset, training size, seed) the fitted PCA.

use super::cell::Cell;
use super::frame::Row;
use crate::error::{Error, Result};
use crate::linalg::FittedPca;
use crate::model::Layer;
use crate::real::Real;
use crate::train::History;
use nalgebra::DMatrix;
use polars::prelude::*;
use serde::{Deserialize, Serialize};

/// Number of test rows whose reconstructions a detailed run keeps.
pub const RECONSTRUCTED_ROWS: usize = 10;
/// Number of test rows whose 2-D codes a detailed run keeps at latent size
/// [`SCATTER_LATENT`], for the latent scatter: enough to show the classes'
/// clusters, few enough to keep cache files and pages small.
pub const SCATTER_ROWS: usize = 400;
/// The latent size whose codes are kept: the one a scatter plot shows as it is.
pub const SCATTER_LATENT: usize = 2;

/// Everything a report may draw for one cell.
#[derive(Clone, Debug)]
pub struct CellArtifacts {
    /// The cell.
    pub cell: Cell,
    /// Its results row (as in the results frame).
    pub row: Row,
    /// The trainer's history, one row per epoch (see
    /// `crate::train::History::to_dataframe` for its columns); `None` for
    /// PCA.
    pub history: Option<DataFrame>,
    /// The first layer's decoder rows, `r x d` (`r` the first layer's
    /// width): what each unit adds to the reconstruction. For PCA the top
    /// `latent` components. Draw with `report::charts::image_grid` when the
    /// dataset has an image shape. For conv kinds the first pair's decoder
    /// kernels, `C_out x k_h·k_w` (patches, not images).
    pub filters: DMatrix<f64>,
    /// Reconstructions of the first [`RECONSTRUCTED_ROWS`] test rows
    /// (fewer if the test part is smaller), `m x d`; the originals are
    /// [`SplitPca::test_head`].
    pub reconstructions: DMatrix<f64>,
    /// At latent size [`SCATTER_LATENT`], the codes of the first
    /// [`SCATTER_ROWS`] test rows (`m x 2`; their labels are
    /// [`SplitPca::test_labels`]); `None` at other sizes.
    pub codes: Option<DMatrix<f64>>,
    /// Each latent's firing density on the test rows, kept by cells that
    /// record the sparse-autoencoder metrics ([`super::MetricSet::Sae`]);
    /// `None` for the others.
    pub firing: Option<Firing>,
    /// After each epoch (rows), each followed principal direction's
    /// alignment with the decoder's directions, kept by cells that record
    /// the dynamics metrics ([`super::MetricSet::Dynamics`]): the curve
    /// their columns reduce, which a chart draws; `None` for the others.
    pub alignment: Option<Vec<Vec<f64>>>,
}

/// How often each latent of a cell fires (is nonzero) on its test rows:
/// what a firing-density histogram draws
/// ([`super::metrics::density_histogram`]).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Firing {
    /// Test rows the densities are fractions of.
    pub rows: usize,
    /// Per latent, the fraction of the test rows it fired on.
    pub density: Vec<f64>,
}

/// The decoder rows of a layer pair, `r x d` in `f64`: what each unit adds
/// to the reconstruction (rows of `W` when tied, columns of `W_dec` when
/// untied). The [`CellArtifacts::filters`] of a trained cell, and the atoms
/// the `sae` study draws.
pub(crate) fn decoder_filters<T: Real>(layer: &Layer<T>) -> DMatrix<f64> {
    layer.decoder_weight().transpose().map(|v| v.f64())
}

/// The PCA fitted on one training set of a study: each seed draws its own
/// split, so there is one per (dataset, training size, seed), and a cell's
/// reconstructions and codes are of its own seed's test rows.
#[derive(Clone, Debug)]
pub struct SplitPca {
    /// Dataset name.
    pub dataset: String,
    /// Training rows it was fitted on.
    pub n_train: usize,
    /// The seed whose split it is.
    pub seed: u64,
    /// The fit, with as many components as the study's largest latent size.
    pub pca: FittedPca<f64>,
    /// The first [`RECONSTRUCTED_ROWS`] test rows (originals of every
    /// cell's `reconstructions`).
    pub test_head: DMatrix<f64>,
    /// Image shape of the dataset, if any.
    pub image_shape: Option<(usize, usize)>,
    /// Labels of the first [`SCATTER_ROWS`] test rows (the rows of every
    /// cell's `codes`), when the dataset has labels.
    pub test_labels: Option<Vec<u32>>,
}

/// The results frame plus artifacts, from [`super::Study::run_detailed`].
#[derive(Clone, Debug)]
pub struct DetailedResults {
    /// One row per cell, as [`super::Study::run`] returns.
    pub results: DataFrame,
    /// Per cell, in the frame's row order.
    pub cells: Vec<CellArtifacts>,
    /// Per (dataset, n_train, seed) the study ran, sorted by dataset, seed
    /// and training size.
    pub pcas: Vec<SplitPca>,
}

impl DetailedResults {
    /// The PCA fitted for `dataset` at `n_train` training rows of `seed`'s
    /// split.
    pub fn pca(&self, dataset: &str, n_train: usize, seed: u64) -> Option<&SplitPca> {
        self.pcas
            .iter()
            .find(|p| p.dataset == dataset && p.n_train == n_train && p.seed == seed)
    }

    /// Appends `more`, a later batch of cells of the same study: its rows
    /// and cells after these, and the PCAs of the splits not held yet.
    ///
    /// # Errors
    /// A polars error if the frames' columns differ.
    pub fn append(&mut self, more: DetailedResults) -> crate::error::Result<()> {
        self.results.vstack_mut(&more.results)?;
        // One chunk per column, as a frame built in one piece has.
        self.results.rechunk_mut();
        self.cells.extend(more.cells);
        for p in more.pcas {
            if self.pca(&p.dataset, p.n_train, p.seed).is_none() {
                self.pcas.push(p);
            }
        }
        Ok(())
    }
}

/// A matrix in a serializable form (nalgebra's serde support is not built).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct StoredMatrix {
    rows: usize,
    cols: usize,
    /// Row-major values.
    values: Vec<f64>,
}

impl StoredMatrix {
    pub fn of(m: &DMatrix<f64>) -> StoredMatrix {
        StoredMatrix {
            rows: m.nrows(),
            cols: m.ncols(),
            values: m.transpose().as_slice().to_vec(),
        }
    }

    pub fn to_matrix(&self) -> Result<DMatrix<f64>> {
        if self.rows.checked_mul(self.cols) != Some(self.values.len()) {
            return Err(Error::InvalidData(format!(
                "stored matrix {} x {} has {} values",
                self.rows,
                self.cols,
                self.values.len()
            )));
        }
        Ok(DMatrix::from_row_slice(self.rows, self.cols, &self.values))
    }
}

/// The cacheable part of [`CellArtifacts`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct CellDetail {
    pub history: Option<History>,
    pub filters: StoredMatrix,
    pub reconstructions: StoredMatrix,
    /// Absent in detail files written before codes were kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub codes: Option<StoredMatrix>,
    /// Absent for cells that record no sparse-autoencoder metrics (and in
    /// detail files written before they were kept).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub firing: Option<Firing>,
    /// Absent for cells that record no dynamics metrics.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alignment: Option<Vec<Vec<f64>>>,
}

impl CellDetail {
    pub fn into_artifacts(self, cell: Cell, row: Row) -> Result<CellArtifacts> {
        Ok(CellArtifacts {
            cell,
            row,
            history: self.history.map(|h| h.to_dataframe()).transpose()?,
            filters: self.filters.to_matrix()?,
            reconstructions: self.reconstructions.to_matrix()?,
            codes: self.codes.map(|c| c.to_matrix()).transpose()?,
            firing: self.firing,
            alignment: self.alignment,
        })
    }
}
