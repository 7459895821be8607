//! From a frame of numeric columns to a dataset: the one path CSV and
//! Parquet files both take, kept apart from either reader so that neither
//! imports the other.
//!
//! Every column must have a numeric type (any integer or float width;
//! values are widened to `f64`) and no nulls; the optional label column must
//! hold non-negative integers. Errors name the file, the column and the
//! 0-based row, e.g. `data.parquet: row 3, column "x2": missing (null) value`.

use super::Dataset;
use super::file::file_stem;
use crate::error::{Error, Result};
use nalgebra::DMatrix;
use polars::prelude::*;
use std::path::Path;

/// Name of the label column the CSV and Parquet writers write.
pub const LABEL_COLUMN: &str = "label";

/// Converts a DataFrame of numeric columns (see the module docs) into a
/// dataset named after the file's stem; `path` names the source in errors.
pub fn dataset_from_frame(
    df: &DataFrame,
    path: &Path,
    label_column: Option<&str>,
    image_shape: Option<(usize, usize)>,
) -> Result<Dataset> {
    let columns = df.columns();
    let names: Vec<&str> = columns.iter().map(|c| c.name().as_str()).collect();
    let label_idx = match label_column {
        None => None,
        Some(l) => Some(names.iter().position(|n| *n == l).ok_or_else(|| {
            Error::format(
                path,
                "schema",
                format!("no label column {l:?}; columns are {}", names.join(", ")),
            )
        })?),
    };
    if columns.len() == usize::from(label_idx.is_some()) {
        return Err(Error::format(path, "schema", "no feature columns"));
    }
    for c in columns {
        if !c.dtype().is_primitive_numeric() {
            return Err(Error::format(
                path,
                format!("column {:?}", c.name().as_str()),
                format!("type {} is not numeric", c.dtype()),
            ));
        }
    }
    let n = df.height();
    match n {
        0 => return Err(Error::format(path, "data", "no rows")),
        1 => {
            return Err(Error::format(
                path,
                "data",
                "only one row; at least two samples are needed",
            ));
        }
        _ => {}
    }

    let mut features = Vec::with_capacity(columns.len());
    let mut labels = None;
    for (j, c) in columns.iter().enumerate() {
        let values = column_values(c, path)?;
        if Some(j) == label_idx {
            let name = c.name().as_str();
            labels = Some(labels_to_u32(&values, path, |i| {
                format!("row {i}, column {name:?}")
            })?);
        } else {
            features.push(values);
        }
    }
    let x = DMatrix::from_fn(n, features.len(), |i, j| features[j][i]);
    Dataset::new(file_stem(path), x, labels, image_shape)
}

/// A numeric column as finite `f64` values; nulls and non-finite values are
/// errors naming their row.
fn column_values(c: &Column, path: &Path) -> Result<Vec<f64>> {
    let name = c.name().as_str();
    let cast = c.cast(&DataType::Float64)?;
    let ca = cast.f64()?;
    ca.iter()
        .enumerate()
        .map(|(i, v)| match v {
            None => Err(Error::format(
                path,
                format!("row {i}, column {name:?}"),
                "missing (null) value",
            )),
            Some(v) if !v.is_finite() => Err(Error::format(
                path,
                format!("row {i}, column {name:?}"),
                format!("non-finite value {v}"),
            )),
            Some(v) => Ok(v),
        })
        .collect()
}

/// `values` as class labels: each a non-negative integer that fits u32.
/// `location(i)` names entry `i` in the error (a row and column of a table,
/// an index of a label file).
pub(crate) fn labels_to_u32(
    values: &[f64],
    path: &Path,
    location: impl Fn(usize) -> String,
) -> Result<Vec<u32>> {
    values
        .iter()
        .enumerate()
        .map(|(i, &v)| {
            if v.fract() == 0.0 && (0.0..=f64::from(u32::MAX)).contains(&v) {
                Ok(v as u32)
            } else {
                Err(Error::format(
                    path,
                    location(i),
                    format!("label {v} is not a non-negative integer"),
                ))
            }
        })
        .collect()
}
