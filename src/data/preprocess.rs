//! Column-wise preprocessing whose statistics are fitted once and reused.
//!
//! Fit on training data, then apply the *same* transform to test data: the
//! test set must never contribute to its own centring or scaling, or
//! reconstruction errors would be optimistic. Every scaler has the form
//! `z = (x - offset) / scale` per column, so it is invertible exactly up to
//! rounding:
//!
//! | scaler        | offset      | scale                     | result                    |
//! |---------------|-------------|---------------------------|---------------------------|
//! | `Center`      | column mean | 1                         | zero mean                 |
//! | `Standardize` | column mean | population std (ddof = 0) | zero mean, unit variance  |
//! | `MinMax`      | column min  | column max - min          | values in [0, 1]          |
//!
//! Constant columns (every value equal, e.g. the always-blank border pixels of
//! MNIST) have std = max - min = 0. Their scale is set to 1 instead, as
//! scikit-learn does, so they map to 0 rather than NaN and the inverse still
//! restores them. "Constant" is tested exactly (`max == min`), not against a
//! tolerance, because any nonzero spread is real information in the data.
//!
//! Statistics are computed in `f64` whatever the matrix type.

use super::Dataset;
use crate::error::{Error, Result};
use crate::real::Real;
use nalgebra::{DMatrix, DVector};

/// A column-wise scaling method; [`Scaler::fit`] learns its statistics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scaler {
    /// Subtract the column mean.
    Center,
    /// Subtract the mean, divide by the population standard deviation.
    Standardize,
    /// Map each column's [min, max] to [0, 1].
    MinMax,
}

/// A scaler with statistics fitted on one data matrix.
#[derive(Debug, Clone, PartialEq)]
pub struct FittedScaler {
    kind: Scaler,
    offset: DVector<f64>,
    scale: DVector<f64>,
}

impl Scaler {
    /// Learns per-column statistics from `x` (rows are samples).
    ///
    /// Errors: [`Error::InvalidData`] if `x` has no rows, no columns or a
    /// non-finite value.
    pub fn fit<T: Real>(self, x: &DMatrix<T>) -> Result<FittedScaler> {
        let (n, d) = x.shape();
        if n == 0 || d == 0 {
            return Err(Error::InvalidData(format!(
                "cannot fit {self:?} on a {n} x {d} matrix"
            )));
        }
        check_finite(x, "fit")?;
        let mut offset = DVector::zeros(d);
        let mut scale = DVector::from_element(d, 1.0);
        for j in 0..d {
            let col: Vec<f64> = x.column(j).iter().map(|v| v.f64()).collect();
            let (min, max) = col
                .iter()
                .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &v| {
                    (lo.min(v), hi.max(v))
                });
            let constant = min == max;
            match self {
                Scaler::Center | Scaler::Standardize => {
                    let mean = col.iter().sum::<f64>() / n as f64;
                    offset[j] = mean;
                    if self == Scaler::Standardize && !constant {
                        // Two-pass variance: accurate when |mean| >> std.
                        let var = col.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n as f64;
                        scale[j] = var.sqrt();
                    }
                }
                Scaler::MinMax => {
                    offset[j] = min;
                    if !constant {
                        scale[j] = max - min;
                    }
                }
            }
        }
        Ok(FittedScaler {
            kind: self,
            offset,
            scale,
        })
    }
}

impl FittedScaler {
    /// The method this scaler was fitted with.
    pub fn kind(&self) -> Scaler {
        self.kind
    }

    /// Number of columns it was fitted on.
    pub fn n_features(&self) -> usize {
        self.offset.len()
    }

    /// Per-column values subtracted by [`FittedScaler::transform`].
    pub fn offset(&self) -> &DVector<f64> {
        &self.offset
    }

    /// Per-column divisors (1 for constant columns and for `Center`).
    pub fn scale(&self) -> &DVector<f64> {
        &self.scale
    }

    /// `(x - offset) / scale` column-wise, with the fitted statistics.
    ///
    /// Errors: [`Error::Shape`] if `x` has a different number of columns than
    /// the fit; [`Error::InvalidData`] for a non-finite value.
    pub fn transform<T: Real>(&self, x: &DMatrix<T>) -> Result<DMatrix<T>> {
        self.check(x, "transform")?;
        Ok(DMatrix::from_fn(x.nrows(), x.ncols(), |i, j| {
            T::of((x[(i, j)].f64() - self.offset[j]) / self.scale[j])
        }))
    }

    /// `z * scale + offset` column-wise: undoes [`FittedScaler::transform`].
    ///
    /// Errors: as for [`FittedScaler::transform`].
    pub fn inverse_transform<T: Real>(&self, z: &DMatrix<T>) -> Result<DMatrix<T>> {
        self.check(z, "inverse_transform")?;
        Ok(DMatrix::from_fn(z.nrows(), z.ncols(), |i, j| {
            T::of(z[(i, j)].f64() * self.scale[j] + self.offset[j])
        }))
    }

    /// The dataset with its matrix transformed; labels, image shape and name kept.
    pub fn transform_dataset(&self, ds: &Dataset) -> Result<Dataset> {
        let x = self.transform(ds.x())?;
        Dataset::new(
            ds.name(),
            x,
            ds.labels().map(<[u32]>::to_vec),
            ds.image_shape(),
        )
    }

    fn check<T: Real>(&self, x: &DMatrix<T>, what: &str) -> Result<()> {
        if x.ncols() != self.n_features() {
            return Err(Error::Shape(format!(
                "{what}: matrix has {} columns, the {:?} scaler was fitted on {}",
                x.ncols(),
                self.kind,
                self.n_features()
            )));
        }
        check_finite(x, what)
    }
}

fn check_finite<T: Real>(x: &DMatrix<T>, what: &str) -> Result<()> {
    if x.iter().all(|v| v.f64().is_finite()) {
        return Ok(());
    }
    let (i, j) = (0..x.nrows())
        .flat_map(|i| (0..x.ncols()).map(move |j| (i, j)))
        .find(|&(i, j)| !x[(i, j)].f64().is_finite())
        .expect("a non-finite value exists");
    Err(Error::InvalidData(format!(
        "{what}: non-finite value {} at row {i}, column {j}",
        x[(i, j)]
    )))
}
