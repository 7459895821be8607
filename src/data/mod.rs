//! Datasets: the built-in ones, loaders (IDX, CSV, Parquet, and the
//! activation files `.npy` and `.safetensors`), preprocessing, splits and
//! synthetic data with known structure.
//!
//! A [`Dataset`] is an `n x d` matrix of `f64` (rows are samples) with optional
//! integer class labels and an optional image shape. Its constructor is the
//! one gate every source passes through, so any `Dataset` in hand is known to
//! have at least two rows, at least one column, only finite values, one label
//! per row and an image shape that matches `d`: downstream code (PCA, training)
//! never has to re-check.
//!
//! ```
//! use tiedae::data::{Dataset, Scaler, train_test_split};
//! let digits = Dataset::builtin("digits")?;
//! assert_eq!((digits.n_samples(), digits.n_features()), (1797, 64));
//! let (train, test) = train_test_split(&digits, 0.2, 7)?;
//! let scaler = Scaler::Center.fit(train.x())?;
//! let test_centered = scaler.transform(test.x())?; // train statistics reused
//! # assert_eq!(test_centered.nrows(), test.n_samples());
//! # Ok::<(), tiedae::Error>(())
//! ```

pub mod builtin;
pub mod csv;
mod dense;
pub mod file;
pub mod frame;
pub mod idx;
pub mod load;
pub mod npy;
pub mod parquet;
pub mod preprocess;
pub mod safetensors;
pub mod split;
pub mod synthetic;

pub use load::{FileFormat, LoadOptions, split_tensor_spec};
pub use preprocess::{FittedScaler, Scaler};
pub use split::{StratifiedDraw, train_test_split};
pub use synthetic::{CurvedManifold, ManifoldKind, ManifoldSample, SpikedCovariance, SpikedSample};

use crate::error::{Error, Result};
use crate::real::Real;
use nalgebra::DMatrix;

/// A data matrix (rows are samples) with optional labels and image shape.
///
/// Invariants, enforced by [`Dataset::new`]: `n >= 2`, `d >= 1`, every value
/// finite, `labels.len() == n` when present, `h * w == d` for an image shape
/// `(h, w)` when present.
#[derive(Debug, Clone, PartialEq)]
pub struct Dataset {
    name: String,
    x: DMatrix<f64>,
    labels: Option<Vec<u32>>,
    image_shape: Option<(usize, usize)>,
}

impl Dataset {
    /// Builds a dataset after checking its invariants.
    ///
    /// Errors: [`Error::InvalidData`] for no rows, a single row (nothing can be
    /// centred or split with one sample), no columns, or a non-finite value
    /// (the message names its row and column); [`Error::Shape`] for a label
    /// count other than `n` or an image shape whose product is not `d`.
    pub fn new(
        name: impl Into<String>,
        x: DMatrix<f64>,
        labels: Option<Vec<u32>>,
        image_shape: Option<(usize, usize)>,
    ) -> Result<Self> {
        let name = name.into();
        let (n, d) = x.shape();
        if n == 0 {
            return Err(Error::InvalidData(format!("dataset {name:?} has no rows")));
        }
        if n == 1 {
            return Err(Error::InvalidData(format!(
                "dataset {name:?} has only one row; at least two samples are needed"
            )));
        }
        if d == 0 {
            return Err(Error::InvalidData(format!(
                "dataset {name:?} has no columns (features)"
            )));
        }
        if let Some((row, col, v)) = first_where(&x, |v| !v.is_finite()) {
            return Err(Error::InvalidData(format!(
                "dataset {name:?}: non-finite value {v} at row {row}, column {col}"
            )));
        }
        if let Some(l) = &labels
            && l.len() != n
        {
            return Err(Error::Shape(format!(
                "dataset {name:?}: {} labels for {n} rows",
                l.len()
            )));
        }
        if let Some((h, w)) = image_shape
            && h.checked_mul(w) != Some(d)
        {
            return Err(Error::Shape(format!(
                "dataset {name:?}: image shape {h} x {w} does not match {d} features"
            )));
        }
        Ok(Dataset {
            name,
            x,
            labels,
            image_shape,
        })
    }

    /// The dataset's name (built-in name, file stem, or the generator's).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The `n x d` data matrix, rows are samples.
    pub fn x(&self) -> &DMatrix<f64> {
        &self.x
    }

    /// Class labels, one per row, if the source had them.
    pub fn labels(&self) -> Option<&[u32]> {
        self.labels.as_deref()
    }

    /// `(height, width)` when each row is a row-major image.
    pub fn image_shape(&self) -> Option<(usize, usize)> {
        self.image_shape
    }

    /// Number of samples `n`.
    pub fn n_samples(&self) -> usize {
        self.x.nrows()
    }

    /// Number of features `d`.
    pub fn n_features(&self) -> usize {
        self.x.ncols()
    }

    /// The data converted to `T` (rounded to nearest for `f32`), for models
    /// that train in single precision.
    pub fn x_as<T: Real>(&self) -> DMatrix<T> {
        self.x.map(T::of)
    }

    /// The first value (row-major) that `f32` cannot hold, as `(row, column,
    /// value)`: one whose magnitude rounds past `f32::MAX` to infinity.
    pub fn first_beyond_f32(&self) -> Option<(usize, usize, f64)> {
        first_where(&self.x, |v| !(v as f32).is_finite())
    }

    /// Refuses data an `f32` model cannot train on. Such values are finite
    /// here, in `f64`, and would only become infinities when a cell converts
    /// its data, after other cells had run: checking when the data is
    /// loaded stops the study before any work.
    ///
    /// Errors: [`Error::InvalidData`] naming the dataset and the row and
    /// column of the first value beyond `f32`'s range (about ±3.4e38).
    pub fn check_f32_range(&self) -> Result<()> {
        match self.first_beyond_f32() {
            None => Ok(()),
            Some((row, col, v)) => Err(Error::InvalidData(format!(
                "dataset {:?}: value {v:e} at row {row}, column {col} is beyond f32's range (±{:e}); the study trains in f32, so rescale the data or use precision \"f64\"",
                self.name,
                f32::MAX
            ))),
        }
    }

    /// Number of samples of each label, sorted by label; `None` without labels.
    pub fn class_counts(&self) -> Option<Vec<(u32, usize)>> {
        let labels = self.labels.as_ref()?;
        let mut counts = std::collections::BTreeMap::new();
        for &l in labels {
            *counts.entry(l).or_insert(0usize) += 1;
        }
        Some(counts.into_iter().collect())
    }

    /// A new dataset with the given rows, in the given order (repeats allowed),
    /// keeping labels and image shape.
    ///
    /// Errors: [`Error::Shape`] for an index `>= n`; [`Error::InvalidData`]
    /// for fewer than two indices (see [`Dataset::new`]).
    pub fn select_rows(&self, rows: &[usize]) -> Result<Dataset> {
        let n = self.n_samples();
        if let Some(&bad) = rows.iter().find(|&&r| r >= n) {
            return Err(Error::Shape(format!(
                "dataset {:?}: row index {bad} out of range for {n} rows",
                self.name
            )));
        }
        let x = DMatrix::from_fn(rows.len(), self.n_features(), |i, j| self.x[(rows[i], j)]);
        let labels = self
            .labels
            .as_ref()
            .map(|l| rows.iter().map(|&r| l[r]).collect());
        Dataset::new(self.name.clone(), x, labels, self.image_shape)
    }

    /// The same data under another name.
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// Takes the dataset apart (to change the matrix without a copy, then
    /// rebuild with [`Dataset::new`]).
    pub fn into_parts(self) -> DatasetParts {
        DatasetParts {
            name: self.name,
            x: self.x,
            labels: self.labels,
            image_shape: self.image_shape,
        }
    }
}

/// The fields of a [`Dataset`], from [`Dataset::into_parts`].
#[derive(Debug, Clone, PartialEq)]
pub struct DatasetParts {
    pub name: String,
    pub x: DMatrix<f64>,
    pub labels: Option<Vec<u32>>,
    pub image_shape: Option<(usize, usize)>,
}

/// The first entry in row-major order for which `bad` holds, as `(row,
/// column, value)`: row-major so the reported place is the one a reader of
/// the file meets first.
fn first_where(x: &DMatrix<f64>, bad: impl Fn(f64) -> bool) -> Option<(usize, usize, f64)> {
    if !x.iter().any(|&v| bad(v)) {
        return None;
    }
    (0..x.nrows())
        .flat_map(|i| (0..x.ncols()).map(move |j| (i, j)))
        .map(|(i, j)| (i, j, x[(i, j)]))
        .find(|&(_, _, v)| bad(v))
}
