//! Parquet datasets through polars.
//!
//! Read: the frame goes through [`dataset_from_frame`] (see
//! [`super::frame`] for what it accepts). Errors name the file, the column
//! and the 0-based row, e.g. `data.parquet: row 3, column "x2": missing
//! (null) value`.
//!
//! Written: `Float64` columns `x0..x{d-1}` and a `UInt32` column `label` when
//! the dataset has labels (zstd-compressed), so a round trip is exact.

use super::Dataset;
use super::file::open_regular;
use super::frame::LABEL_COLUMN;
pub use super::frame::dataset_from_frame;
use crate::atomic::write_atomic;
use crate::error::{Error, Result};
use polars::prelude::*;
use std::path::Path;

/// Reads a Parquet file into a dataset named after the file's stem.
///
/// `label_column` names the column holding class labels (it must exist);
/// `image_shape` declares each row a row-major image of that shape.
pub fn read_parquet(
    path: &Path,
    label_column: Option<&str>,
    image_shape: Option<(usize, usize)>,
) -> Result<Dataset> {
    let (file, _) = open_regular(path)?;
    let df = ParquetReader::new(file)
        .finish()
        .map_err(|e| Error::format(path, "file", format!("not a readable Parquet file: {e}")))?;
    dataset_from_frame(&df, path, label_column, image_shape)
}

/// The dataset as a DataFrame: `Float64` columns `x0..`, `UInt32` `label`.
pub fn dataset_to_frame(ds: &Dataset) -> Result<DataFrame> {
    let mut cols: Vec<Column> = (0..ds.n_features())
        .map(|j| {
            let v: Vec<f64> = ds.x().column(j).iter().copied().collect();
            Column::new(format!("x{j}").into(), v)
        })
        .collect();
    if let Some(l) = ds.labels() {
        cols.push(Column::new(LABEL_COLUMN.into(), l.to_vec()));
    }
    Ok(DataFrame::new(ds.n_samples(), cols)?)
}

/// Writes `ds` as Parquet (see the module docs), atomically.
pub fn write_parquet(ds: &Dataset, path: &Path) -> Result<()> {
    let mut df = dataset_to_frame(ds)?;
    write_atomic(path, |w| {
        ParquetWriter::new(w).finish(&mut df)?;
        Ok(())
    })
}
