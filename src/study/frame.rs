//! The results table: one [`Row`] per cell, its fixed polars schema, and
//! atomic Parquet/CSV files that read back to the same frame.
//!
//! The column names and types in [`COLUMNS`] are a contract: the report
//! CLI and notebooks select by these names.

use crate::atomic::write_atomic;
use crate::data::file::read_regular;
use crate::error::{Error, Result};
use polars::prelude::*;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// The column types of a results frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ColumnType {
    /// UTF-8 string.
    Str,
    /// 64-bit integer.
    I64,
    /// 64-bit float (nullable where documented on [`Row`]).
    F64,
}

impl ColumnType {
    fn dtype(self) -> DataType {
        match self {
            ColumnType::Str => DataType::String,
            ColumnType::I64 => DataType::Int64,
            ColumnType::F64 => DataType::Float64,
        }
    }
}

/// Every column of a results frame, in order, with its type.
pub const COLUMNS: [(&str, ColumnType); 26] = [
    ("dataset", ColumnType::Str),
    ("model", ColumnType::Str),
    ("activation", ColumnType::Str),
    ("bias_mode", ColumnType::Str),
    ("latent", ColumnType::I64),
    ("params", ColumnType::I64),
    ("n_train", ColumnType::I64),
    ("seed", ColumnType::I64),
    ("l2", ColumnType::F64),
    ("sparsity_weight", ColumnType::F64),
    ("train_mse", ColumnType::F64),
    ("test_mse", ColumnType::F64),
    ("pca_test_mse", ColumnType::F64),
    ("ratio_to_pca", ColumnType::F64),
    ("epochs", ColumnType::I64),
    ("seconds", ColumnType::F64),
    ("max_angle_deg", ColumnType::F64),
    ("mean_angle_deg", ColumnType::F64),
    ("wwt_minus_i", ColumnType::F64),
    ("dead_fraction", ColumnType::F64),
    ("sparsity", ColumnType::F64),
    ("learning_rate", ColumnType::F64),
    ("best_epoch", ColumnType::I64),
    ("val_mse", ColumnType::F64),
    ("stop_reason", ColumnType::Str),
    ("val_mse_at_budget", ColumnType::F64),
];

/// The columns that identify a cell (its axes); the rest are measurements.
///
/// `learning_rate` is one of them: the cells of a learning-rate grid differ
/// in nothing else, so a key without it would take them for one cell. It
/// is null where no rate applies (PCA, L-BFGS); two rows whose keys agree
/// with both rates null are the same cell. These are the fields a cell's
/// identity in a shard manifest is made of.
pub const KEY_COLUMNS: [&str; 10] = [
    "dataset",
    "model",
    "activation",
    "bias_mode",
    "latent",
    "n_train",
    "seed",
    "l2",
    "sparsity_weight",
    "learning_rate",
];

/// The polars schema of a results frame.
pub fn schema() -> Schema {
    COLUMNS
        .iter()
        .map(|(n, t)| Field::new((*n).into(), t.dtype()))
        .collect()
}

/// One cell's results. MSEs are means over all entries of `(x̂ − x)²` in
/// the data's units; `test_mse` on the held-out test rows, `train_mse` on
/// the rows the model was fitted to.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Row {
    /// Dataset name.
    pub dataset: String,
    /// Model kind name (`pca`, `linear_tied`, ...).
    pub model: String,
    /// Hidden activation name (`identity` for PCA and linear kinds).
    pub activation: String,
    /// Bias mode name (`pre_centering` for PCA: it subtracts and re-adds
    /// the training mean).
    pub bias_mode: String,
    /// Latent size.
    pub latent: i64,
    /// Parameter count (PCA: `k d + d`, components and mean).
    pub params: i64,
    /// Training rows used.
    pub n_train: i64,
    /// Seed: it draws the data (split, training rows, validation carve)
    /// and the initialisation and batch order of trained kinds.
    pub seed: i64,
    /// L2 coefficient.
    pub l2: f64,
    /// L1 code penalty.
    pub sparsity_weight: f64,
    /// Reconstruction MSE on the training rows.
    pub train_mse: f64,
    /// Reconstruction MSE on the test rows.
    pub test_mse: f64,
    /// PCA's test MSE at the same latent size on the same split (the
    /// seed's).
    pub pca_test_mse: f64,
    /// `test_mse / pca_test_mse` (1 for PCA itself).
    pub ratio_to_pca: f64,
    /// Epochs trained (L-BFGS: iterations; PCA: 0).
    pub epochs: i64,
    /// Wall-clock seconds of fitting (not compared by equality checks).
    pub seconds: f64,
    /// Largest principal angle (degrees) between PCA's top-`latent`
    /// subspace and the first layer's decoder rows; null when the decoder
    /// rows are linearly dependent (e.g. a dead all-zero filter), and for
    /// conv kinds, whose first-layer decoder rows are kernels in patch
    /// space rather than directions in the input space.
    pub max_angle_deg: Option<f64>,
    /// Mean of the same principal angles; null as above.
    pub mean_angle_deg: Option<f64>,
    /// `‖W Wᵀ − I‖_F` of the first tied layer; null without one (PCA,
    /// untied kinds) and for conv kinds (a kernel's Gram matrix says
    /// nothing about projecting onto a subspace).
    pub wwt_minus_i: Option<f64>,
    /// Fraction of latent units that are constant over the test rows.
    pub dead_fraction: f64,
    /// Fraction of latent activations on the test rows that are zero.
    pub sparsity: f64,
    /// The learning rate the cell trained with; null for PCA and L-BFGS
    /// (whose steps come from a line search). With a learning-rate grid
    /// every rate has its own row; see [`super::protocol::select_tuned`].
    pub learning_rate: Option<f64>,
    /// The epoch (L-BFGS: iteration) whose weights the row measures: the
    /// best-validation one under early stopping, else the last; 0 for PCA.
    pub best_epoch: i64,
    /// Reconstruction MSE on the validation rows (carved from the training
    /// part; see [`super::Protocol`]); the training-row MSE when the study
    /// holds out no validation rows.
    pub val_mse: f64,
    /// Why training ended: `closed_form` (PCA), `converged`, `patience`,
    /// `max_epochs` or `diverged` ([`super::protocol::StopKind`]).
    pub stop_reason: String,
    /// The equal-epochs view: the lowest validation MSE within the first
    /// [`super::Protocol::equal_epochs`] epochs (what an equal, short budget
    /// with early stopping gives every kind); null for PCA, L-BFGS and
    /// studies without validation rows.
    pub val_mse_at_budget: Option<f64>,
}

/// Builds the results frame from rows (in the given order).
pub fn rows_to_frame(rows: &[Row]) -> Result<DataFrame> {
    macro_rules! col {
        ($name:literal, $field:ident) => {
            Column::new(
                $name.into(),
                rows.iter().map(|r| r.$field.clone()).collect::<Vec<_>>(),
            )
        };
    }
    let cols = vec![
        col!("dataset", dataset),
        col!("model", model),
        col!("activation", activation),
        col!("bias_mode", bias_mode),
        col!("latent", latent),
        col!("params", params),
        col!("n_train", n_train),
        col!("seed", seed),
        col!("l2", l2),
        col!("sparsity_weight", sparsity_weight),
        col!("train_mse", train_mse),
        col!("test_mse", test_mse),
        col!("pca_test_mse", pca_test_mse),
        col!("ratio_to_pca", ratio_to_pca),
        col!("epochs", epochs),
        col!("seconds", seconds),
        col!("max_angle_deg", max_angle_deg),
        col!("mean_angle_deg", mean_angle_deg),
        col!("wwt_minus_i", wwt_minus_i),
        col!("dead_fraction", dead_fraction),
        col!("sparsity", sparsity),
        col!("learning_rate", learning_rate),
        col!("best_epoch", best_epoch),
        col!("val_mse", val_mse),
        col!("stop_reason", stop_reason),
        col!("val_mse_at_budget", val_mse_at_budget),
    ];
    Ok(DataFrame::new(rows.len(), cols)?)
}

/// Checks that `df` starts with exactly the results columns, names and
/// types in order (builtin studies may append columns after them).
pub fn check_schema(df: &DataFrame) -> Result<()> {
    let cols = df.columns();
    for (i, (name, ty)) in COLUMNS.iter().enumerate() {
        let Some(c) = cols.get(i) else {
            return Err(Error::InvalidData(format!(
                "results frame has {} columns; column {i} should be {name:?}",
                cols.len()
            )));
        };
        if c.name().as_str() != *name {
            return Err(Error::InvalidData(format!(
                "results column {i} is {:?}, expected {name:?}",
                c.name().as_str()
            )));
        }
        if *c.dtype() != ty.dtype() {
            return Err(Error::InvalidData(format!(
                "results column {name:?} has type {}, expected {}",
                c.dtype(),
                ty.dtype()
            )));
        }
    }
    Ok(())
}

/// Reads rows back from a results frame (the first [`COLUMNS`]).
pub fn frame_to_rows(df: &DataFrame) -> Result<Vec<Row>> {
    check_schema(df)?;
    let s = |n: &str| -> Result<Vec<String>> {
        let c = df.column(n)?.str()?;
        c.iter()
            .enumerate()
            .map(|(i, v)| {
                v.map(str::to_string)
                    .ok_or_else(|| Error::InvalidData(format!("column {n:?} is null in row {i}")))
            })
            .collect()
    };
    let i = |n: &str| -> Result<Vec<i64>> {
        let c = df.column(n)?.i64()?;
        c.iter()
            .enumerate()
            .map(|(i, v)| {
                v.ok_or_else(|| Error::InvalidData(format!("column {n:?} is null in row {i}")))
            })
            .collect()
    };
    let fo = |n: &str| -> Result<Vec<Option<f64>>> { Ok(df.column(n)?.f64()?.iter().collect()) };
    let f = |n: &str| -> Result<Vec<f64>> {
        fo(n)?
            .into_iter()
            .enumerate()
            .map(|(i, v)| {
                v.ok_or_else(|| Error::InvalidData(format!("column {n:?} is null in row {i}")))
            })
            .collect()
    };
    let (dataset, model, activation, bias_mode) = (
        s("dataset")?,
        s("model")?,
        s("activation")?,
        s("bias_mode")?,
    );
    let (latent, params, n_train, seed, epochs) = (
        i("latent")?,
        i("params")?,
        i("n_train")?,
        i("seed")?,
        i("epochs")?,
    );
    let (l2, sw, train, test, pca, ratio, secs) = (
        f("l2")?,
        f("sparsity_weight")?,
        f("train_mse")?,
        f("test_mse")?,
        f("pca_test_mse")?,
        f("ratio_to_pca")?,
        f("seconds")?,
    );
    let (maxa, meana, wwt) = (
        fo("max_angle_deg")?,
        fo("mean_angle_deg")?,
        fo("wwt_minus_i")?,
    );
    let (dead, sparsity) = (f("dead_fraction")?, f("sparsity")?);
    let (lr, best_epoch, val, stop) = (
        fo("learning_rate")?,
        i("best_epoch")?,
        f("val_mse")?,
        s("stop_reason")?,
    );
    let at_budget = fo("val_mse_at_budget")?;
    Ok((0..df.height())
        .map(|r| Row {
            dataset: dataset[r].clone(),
            model: model[r].clone(),
            activation: activation[r].clone(),
            bias_mode: bias_mode[r].clone(),
            latent: latent[r],
            params: params[r],
            n_train: n_train[r],
            seed: seed[r],
            l2: l2[r],
            sparsity_weight: sw[r],
            train_mse: train[r],
            test_mse: test[r],
            pca_test_mse: pca[r],
            ratio_to_pca: ratio[r],
            epochs: epochs[r],
            seconds: secs[r],
            max_angle_deg: maxa[r],
            mean_angle_deg: meana[r],
            wwt_minus_i: wwt[r],
            dead_fraction: dead[r],
            sparsity: sparsity[r],
            learning_rate: lr[r],
            best_epoch: best_epoch[r],
            val_mse: val[r],
            stop_reason: stop[r].clone(),
            val_mse_at_budget: at_budget[r],
        })
        .collect())
}

/// Writes `df` to `path` as Parquet, atomically.
pub fn write_parquet(df: &DataFrame, path: &Path) -> Result<()> {
    write_atomic(path, |w| {
        ParquetWriter::new(w).finish(&mut df.clone())?;
        Ok(())
    })
}

/// Writes `df` to `path` as CSV (header row, `.` decimals, empty field for
/// null, floats in shortest round-trip form), atomically.
pub fn write_csv(df: &DataFrame, path: &Path) -> Result<()> {
    write_atomic(path, |w| {
        CsvWriter::new(w).finish(&mut df.clone())?;
        Ok(())
    })
}

/// Reads a Parquet file written by [`write_parquet`].
///
/// # Errors
///
/// [`Error::Io`] if it cannot be opened or is not a regular file (results
/// files sit in shared directories; a FIFO there would hang a merge),
/// [`Error::Format`] naming the file if it is not Parquet or lacks the
/// results columns.
pub fn read_parquet(path: &Path) -> Result<DataFrame> {
    let bytes = read_regular(path)?;
    let df = ParquetReader::new(std::io::Cursor::new(bytes))
        .finish()
        .map_err(|e| Error::format(path, "file", format!("not a readable Parquet file: {e}")))?;
    check_schema(&df).map_err(|e| Error::format(path, "schema", e.to_string()))?;
    Ok(df)
}

/// Reads a CSV file written by [`write_csv`] with the results schema (so
/// integer columns stay integers and empty fields are nulls). Columns after
/// the results columns are read with inferred types.
///
/// # Errors
///
/// As for [`read_parquet`].
pub fn read_csv(path: &Path) -> Result<DataFrame> {
    let bytes = read_regular(path)?;
    let df = CsvReadOptions::default()
        .with_has_header(true)
        .with_schema_overwrite(Some(Arc::new(schema())))
        .into_reader_with_file_handle(std::io::Cursor::new(bytes))
        .finish()
        .map_err(|e| Error::format(path, "file", format!("not a readable results CSV: {e}")))?;
    check_schema(&df).map_err(|e| Error::format(path, "schema", e.to_string()))?;
    Ok(df)
}

/// Reads a results file, Parquet or CSV by its extension.
pub fn read_results(path: &Path) -> Result<DataFrame> {
    match path.extension().and_then(|e| e.to_str()) {
        Some("parquet") => read_parquet(path),
        Some("csv") => read_csv(path),
        _ => Err(Error::format(
            path,
            "file name",
            "expected a .parquet or .csv results file",
        )),
    }
}

/// Writes `df` as `{stem}.parquet` and `{stem}.csv` (each atomically);
/// returns the two paths.
pub fn write_results(
    df: &DataFrame,
    stem: &Path,
) -> Result<(std::path::PathBuf, std::path::PathBuf)> {
    let pq = stem.with_extension("parquet");
    let csv = stem.with_extension("csv");
    write_parquet(df, &pq)?;
    write_csv(df, &csv)?;
    Ok((pq, csv))
}
