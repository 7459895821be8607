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

    // Each feature column is written straight into its column of the
    // (column-major) matrix: the frame and the matrix are the only two
    // copies of the data alive at once.
    let d = columns.len() - usize::from(label_idx.is_some());
    let mut x = DMatrix::<f64>::zeros(n, d);
    let mut labels = None;
    let mut next = 0;
    for (j, c) in columns.iter().enumerate() {
        if Some(j) == label_idx {
            let mut values = Vec::with_capacity(n);
            column_values(c, path, |_, v| values.push(v))?;
            let name = c.name().as_str();
            labels = Some(labels_to_u32(&values, path, |i| {
                format!("row {i}, column {name:?}")
            })?);
        } else {
            let mut out = x.column_mut(next);
            column_values(c, path, |i, v| out[i] = v)?;
            next += 1;
        }
    }
    Dataset::new(file_stem(path), x, labels, image_shape)
}

/// Hands each value of a numeric column, as a finite `f64`, to `each` with
/// its row, without collecting them; nulls and non-finite values are
/// errors naming their row.
fn column_values(c: &Column, path: &Path, mut each: impl FnMut(usize, f64)) -> Result<()> {
    let name = c.name().as_str();
    let cast = c.cast(&DataType::Float64)?;
    for (i, v) in cast.f64()?.iter().enumerate() {
        match v {
            None => {
                return Err(Error::format(
                    path,
                    format!("row {i}, column {name:?}"),
                    "missing (null) value",
                ));
            }
            Some(v) if !v.is_finite() => {
                return Err(Error::format(
                    path,
                    format!("row {i}, column {name:?}"),
                    format!("non-finite value {v}"),
                ));
            }
            Some(v) => each(i, v),
        }
    }
    Ok(())
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
