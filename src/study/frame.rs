//! The results table: one [`Row`] per cell, its fixed polars schema, and
//! atomic Parquet/CSV files that read back to the same frame.
//!
//! The column names and types in [`COLUMNS`] are a contract: the report
//! CLI and notebooks select by these names. They are declared once, as the
//! fields of [`Row`]: each field is a column of its name, in field order,
//! typed and converted by its Rust type (the private `ColumnValue`), and the
//! `results_row!` macro derives [`COLUMNS`] and both conversions
//! ([`rows_to_frame`], [`frame_to_rows`]) from that one list.

use super::model_name::ModelName;
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

/// How a [`Row`] field of this Rust type is stored in its column: the
/// column type, and both directions of the conversion. Only `Option<f64>`
/// holds nulls; a null anywhere else is refused.
trait ColumnValue: Sized {
    /// The column's type.
    const TYPE: ColumnType;
    /// The column `name` holding `values`.
    fn column(name: &str, values: &[&Self]) -> Column;
    /// The values of column `name` of `df` (whose type
    /// [`check_schema`] has checked).
    fn read(df: &DataFrame, name: &str) -> Result<Vec<Self>>;
}

/// The values of column `name`, refusing a null.
fn non_null<T>(name: &str, values: impl Iterator<Item = Option<T>>) -> Result<Vec<T>> {
    values
        .enumerate()
        .map(|(i, v)| {
            v.ok_or_else(|| Error::InvalidData(format!("column {name:?} is null in row {i}")))
        })
        .collect()
}

impl ColumnValue for String {
    const TYPE: ColumnType = ColumnType::Str;
    fn column(name: &str, values: &[&String]) -> Column {
        let values: Vec<&str> = values.iter().map(|v| v.as_str()).collect();
        Column::new(name.into(), values)
    }
    fn read(df: &DataFrame, name: &str) -> Result<Vec<String>> {
        let c = df.column(name)?.str()?;
        non_null(name, c.iter().map(|v| v.map(str::to_string)))
    }
}

impl ColumnValue for ModelName {
    const TYPE: ColumnType = ColumnType::Str;
    fn column(name: &str, values: &[&ModelName]) -> Column {
        let values: Vec<&str> = values.iter().map(|v| v.as_str()).collect();
        Column::new(name.into(), values)
    }
    fn read(df: &DataFrame, name: &str) -> Result<Vec<ModelName>> {
        let names = <String as ColumnValue>::read(df, name)?;
        Ok(names.into_iter().map(ModelName::from).collect())
    }
}

impl ColumnValue for i64 {
    const TYPE: ColumnType = ColumnType::I64;
    fn column(name: &str, values: &[&i64]) -> Column {
        let values: Vec<i64> = values.iter().copied().copied().collect();
        Column::new(name.into(), values)
    }
    fn read(df: &DataFrame, name: &str) -> Result<Vec<i64>> {
        non_null(name, df.column(name)?.i64()?.iter())
    }
}

impl ColumnValue for f64 {
    const TYPE: ColumnType = ColumnType::F64;
    fn column(name: &str, values: &[&f64]) -> Column {
        let values: Vec<f64> = values.iter().copied().copied().collect();
        Column::new(name.into(), values)
    }
    fn read(df: &DataFrame, name: &str) -> Result<Vec<f64>> {
        non_null(name, df.column(name)?.f64()?.iter())
    }
}

impl ColumnValue for Option<f64> {
    const TYPE: ColumnType = ColumnType::F64;
    fn column(name: &str, values: &[&Option<f64>]) -> Column {
        let values: Vec<Option<f64>> = values.iter().copied().copied().collect();
        Column::new(name.into(), values)
    }
    fn read(df: &DataFrame, name: &str) -> Result<Vec<Option<f64>>> {
        Ok(df.column(name)?.f64()?.iter().collect())
    }
}

/// Defines [`Row`] from its field list, and from the same list
/// [`COLUMNS`] (one column per field, named as the field, typed by
/// `ColumnValue::TYPE`) and the two conversions behind [`rows_to_frame`]
/// and [`frame_to_rows`], so a column is added, renamed or retyped in one
/// place.
macro_rules! results_row {
    (
        $(#[$meta:meta])*
        pub struct Row {
            $( $(#[$doc:meta])* pub $field:ident: $ty:ty, )*
        }
    ) => {
        $(#[$meta])*
        pub struct Row {
            $( $(#[$doc])* pub $field: $ty, )*
        }

        /// Every column of a results frame, in order, with its type: the
        /// fields of [`Row`], each named as its field.
        pub const COLUMNS: [(&str, ColumnType); <[&str]>::len(&[$(stringify!($field)),*])] =
            [$((stringify!($field), <$ty as ColumnValue>::TYPE)),*];

        impl Row {
            /// The results columns of `rows`, in [`COLUMNS`] order.
            fn columns(rows: &[Row]) -> Vec<Column> {
                vec![$(
                    <$ty as ColumnValue>::column(
                        stringify!($field),
                        &rows.iter().map(|r| &r.$field).collect::<Vec<&$ty>>(),
                    ),
                )*]
            }

            /// The rows of `df`, whose results columns [`check_schema`]
            /// has checked.
            fn read_all(df: &DataFrame) -> Result<Vec<Row>> {
                $( let mut $field = <$ty as ColumnValue>::read(df, stringify!($field))?.into_iter(); )*
                (0..df.height())
                    .map(|i| -> Result<Row> {
                        Ok(Row {
                            $( $field: $field.next().ok_or_else(|| too_short(stringify!($field), i))?, )*
                        })
                    })
                    .collect()
            }
        }
    };
}

/// A column that ends before the frame's height (polars keeps columns of
/// one length, so this guards an invariant rather than user input).
fn too_short(name: &str, row: usize) -> Error {
    Error::InvalidData(format!("column {name:?} has no row {row}"))
}

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

results_row! {
    /// One cell's results. MSEs are means over all entries of `(x̂ − x)²` in
    /// the data's units; `test_mse` on the held-out test rows, `train_mse` on
    /// the rows the model was fitted to.
    #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
    pub struct Row {
        /// Dataset name.
        pub dataset: String,
        /// Model kind name (`pca`, `linear_tied`, ...) or a variant's name;
        /// the type says whether it is PCA, linear, tied.
        pub model: ModelName,
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
        /// The code penalty's weight: the L1 weight, or for a variant with
        /// an L0 rule its relative L0 weight (see
        /// [`L0Rule`](super::L0Rule)); 0 without a penalty.
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
        /// (whose steps come from a line search), and for a variant whose
        /// spectral rule resolves it per cell ([`super::SpectralRule`]). With a learning-rate grid
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
}

/// Builds the results frame from rows (in the given order).
pub fn rows_to_frame(rows: &[Row]) -> Result<DataFrame> {
    Ok(DataFrame::new(rows.len(), Row::columns(rows))?)
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
///
/// # Errors
///
/// [`Error::InvalidData`] for a frame without the results columns
/// ([`check_schema`]) or with a null outside the nullable ones.
pub fn frame_to_rows(df: &DataFrame) -> Result<Vec<Row>> {
    check_schema(df)?;
    Row::read_all(df)
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

#[cfg(test)]
impl Row {
    /// A plain row for the crate's unit tests: `model` at `latent` on
    /// `seed` with training, test and validation MSE `mse`, PCA's test MSE
    /// 0.1, one epoch stopped by patience, every nullable field null. A
    /// test sets the fields it cares about with struct update syntax.
    pub(crate) fn example(model: &str, latent: i64, seed: i64, mse: f64) -> Row {
        Row {
            dataset: "d".into(),
            model: model.into(),
            activation: "identity".into(),
            bias_mode: "none".into(),
            latent,
            params: 100,
            n_train: 50,
            seed,
            l2: 0.0,
            sparsity_weight: 0.0,
            train_mse: mse,
            test_mse: mse,
            pca_test_mse: 0.1,
            ratio_to_pca: mse / 0.1,
            epochs: 1,
            seconds: 0.0,
            max_angle_deg: None,
            mean_angle_deg: None,
            wwt_minus_i: None,
            dead_fraction: 0.0,
            sparsity: 0.0,
            learning_rate: None,
            best_epoch: 1,
            val_mse: mse,
            stop_reason: "patience".into(),
            val_mse_at_budget: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::study::ModelKind;

    /// A row of `model`, with every nullable field null or none of them.
    fn row(model: ModelName, nulls: bool) -> Row {
        let some = |v: f64| (!nulls).then_some(v);
        Row {
            dataset: "digits".into(),
            model,
            activation: "relu".into(),
            bias_mode: "separate".into(),
            latent: 8,
            params: 1096,
            n_train: 1000,
            seed: 3,
            l2: 0.0,
            sparsity_weight: 1e-3,
            train_mse: 0.25,
            test_mse: 0.5,
            pca_test_mse: 0.4,
            ratio_to_pca: 1.25,
            epochs: 40,
            seconds: 1.5,
            max_angle_deg: some(80.0),
            mean_angle_deg: some(30.0),
            wwt_minus_i: some(0.1),
            dead_fraction: 0.125,
            sparsity: 0.5,
            learning_rate: some(1e-3),
            best_epoch: 37,
            val_mse: 0.45,
            stop_reason: "patience".into(),
            val_mse_at_budget: some(0.6),
        }
    }

    /// Rows to a frame and back are the same rows, nulls and all, and the
    /// frame has the results schema with nulls where the rows had `None`.
    #[test]
    fn rows_round_trip_through_a_frame() {
        let rows = vec![
            row(ModelKind::Pca.into(), true),
            row("sae_untied_topk".into(), false),
        ];
        let df = rows_to_frame(&rows).unwrap();
        check_schema(&df).unwrap();
        assert_eq!(df.width(), COLUMNS.len());
        assert_eq!(df.height(), 2);
        for (name, ty) in COLUMNS {
            let nulls = df.column(name).unwrap().null_count();
            let nullable = [
                "max_angle_deg",
                "mean_angle_deg",
                "wwt_minus_i",
                "learning_rate",
                "val_mse_at_budget",
            ]
            .contains(&name);
            assert_eq!(nulls, usize::from(nullable), "{name} ({ty:?})");
        }
        let back = frame_to_rows(&df).unwrap();
        assert_eq!(back, rows);
        assert_eq!(back[0].model, ModelKind::Pca);
        assert!(!back[1].model.is_tied() && back[1].model.kind().is_none());
    }

    /// A frame without a column, with a column of the wrong type or with a
    /// null where none belongs is refused, saying which.
    #[test]
    fn bad_frames_are_refused_naming_the_column() {
        let df = rows_to_frame(&[row(ModelKind::Tied.into(), false)]).unwrap();
        let message = |df: &DataFrame| match frame_to_rows(df) {
            Err(Error::InvalidData(m)) => m,
            other => panic!("expected invalid data, got {other:?}"),
        };
        assert_eq!(
            message(&df.drop("seed").unwrap()),
            "results column 7 is \"l2\", expected \"seed\""
        );
        let mut wrong = df.clone();
        wrong
            .with_column(Column::new("latent".into(), [1.5f64]))
            .unwrap();
        assert_eq!(
            message(&wrong),
            "results column \"latent\" has type f64, expected i64"
        );
        let mut null = df.clone();
        null.with_column(Column::new("seed".into(), [None::<i64>]))
            .unwrap();
        assert_eq!(message(&null), "column \"seed\" is null in row 0");
    }
}
