//! Input checks and the `f64` views every kernel in this module works on.
//!
//! PCA and principal angles are computed in `f64` whatever the caller's scalar
//! type: a covariance matrix squares the data's dynamic range, so `f32`
//! arithmetic would lose the small eigenvalues that reconstruction errors are
//! made of. `f64` input is borrowed, not copied; `f32` input is widened once.

use crate::error::{Error, Result};
use crate::real::Real;
use faer::MatRef;
use nalgebra::DMatrix;
use std::any::Any;
use std::borrow::Cow;

/// `x` as an `f64` matrix: borrowed when `T` is `f64`, widened otherwise.
pub(crate) fn as_f64<T: Real>(x: &DMatrix<T>) -> Cow<'_, DMatrix<f64>> {
    match (x as &dyn Any).downcast_ref::<DMatrix<f64>>() {
        Some(x64) => Cow::Borrowed(x64),
        None => Cow::Owned(x.map(|v| v.f64())),
    }
}

/// Converts an `f64` matrix to the caller's scalar type.
pub(crate) fn from_f64<T: Real>(x: &DMatrix<f64>) -> DMatrix<T> {
    x.map(T::of)
}

/// Fails with [`Error::InvalidData`] naming the first non-finite entry of `x`.
pub(crate) fn check_finite<T: Real>(x: &DMatrix<T>, what: &str) -> Result<()> {
    let rows = x.nrows();
    match x.iter().position(|v| !v.f64().is_finite()) {
        None => Ok(()),
        Some(at) => Err(Error::InvalidData(format!(
            "{what} has a non-finite value ({}) at row {}, column {}",
            x[at],
            at % rows,
            at / rows
        ))),
    }
}

/// A zero-copy faer view of a column-major nalgebra matrix.
pub(crate) fn view(x: &DMatrix<f64>) -> MatRef<'_, f64> {
    MatRef::from_column_major_slice(x.as_slice(), x.nrows(), x.ncols())
}

/// Copies a faer matrix into a nalgebra one.
pub(crate) fn to_nalgebra(m: MatRef<'_, f64>) -> DMatrix<f64> {
    DMatrix::from_fn(m.nrows(), m.ncols(), |i, j| m[(i, j)])
}
