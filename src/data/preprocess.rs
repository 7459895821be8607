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
//! Statistics are computed in `f64` whatever the matrix type. A column whose
//! statistics overflow (a sum or spread beyond `f64`, or a spread that
//! underflows to zero) is refused when fitting, and a transform whose result
//! is not finite in the matrix type is refused naming the entry: either
//! would otherwise turn the column into zeros or NaN without a word.

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
    /// non-finite value, or if a column's offset or scale is not a finite
    /// positive `f64` (the message names the column).
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
            if !(offset[j].is_finite() && scale[j].is_finite() && scale[j] > 0.0) {
                return Err(Error::InvalidData(format!(
                    "{self:?} fit: column {j} has offset {:e} and scale {:e}: its values overflow (or their spread underflows) f64 arithmetic; rescale the column",
                    offset[j], scale[j]
                )));
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
    /// the fit; [`Error::InvalidData`] for a non-finite value, in `x` or in
    /// the result (a value far outside the fitted range can overflow `T`).
    pub fn transform<T: Real>(&self, x: &DMatrix<T>) -> Result<DMatrix<T>> {
        self.check(x, "transform")?;
        let z = DMatrix::from_fn(x.nrows(), x.ncols(), |i, j| {
            T::of((x[(i, j)].f64() - self.offset[j]) / self.scale[j])
        });
        self.check_output(&z, "transform")?;
        Ok(z)
    }

    /// `z * scale + offset` column-wise: undoes [`FittedScaler::transform`].
    ///
    /// Errors: as for [`FittedScaler::transform`].
    pub fn inverse_transform<T: Real>(&self, z: &DMatrix<T>) -> Result<DMatrix<T>> {
        self.check(z, "inverse_transform")?;
        let x = DMatrix::from_fn(z.nrows(), z.ncols(), |i, j| {
            T::of(z[(i, j)].f64() * self.scale[j] + self.offset[j])
        });
        self.check_output(&x, "inverse_transform")?;
        Ok(x)
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

    /// Refuses a result with a value that overflowed `T`.
    fn check_output<T: Real>(&self, out: &DMatrix<T>, what: &str) -> Result<()> {
        match first_non_finite(out) {
            None => Ok(()),
            Some((i, j)) => Err(Error::InvalidData(format!(
                "{what}: the {:?} scaler maps row {i}, column {j} to {}, beyond {}'s range; rescale column {j}",
                self.kind,
                out[(i, j)],
                T::NAME
            ))),
        }
    }
}

fn check_finite<T: Real>(x: &DMatrix<T>, what: &str) -> Result<()> {
    match first_non_finite(x) {
        None => Ok(()),
        Some((i, j)) => Err(Error::InvalidData(format!(
            "{what}: non-finite value {} at row {i}, column {j}",
            x[(i, j)]
        ))),
    }
}

/// The first non-finite entry, row-major, as `(row, column)`.
fn first_non_finite<T: Real>(x: &DMatrix<T>) -> Option<(usize, usize)> {
    if x.iter().all(|v| v.f64().is_finite()) {
        return None;
    }
    (0..x.nrows())
        .flat_map(|i| (0..x.ncols()).map(move |j| (i, j)))
        .find(|&(i, j)| !x[(i, j)].f64().is_finite())
}
