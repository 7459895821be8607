//! Loading a dataset from a file, choosing the reader by the file name.
//!
//! | file name                                   | reader            |
//! |---------------------------------------------|-------------------|
//! | `*.csv`                                     | [`super::csv`]     |
//! | `*.parquet`, `*.pq`                         | [`super::parquet`] |
//! | `*.idx`, `*.gz`, `*-ubyte`, `*.idx<k>-ubyte` | [`super::idx`]     |
//!
//! Values are returned as stored: no rescaling (see [`super::Scaler`]).

use super::{Dataset, DatasetParts};
use super::{csv, idx, parquet};
use crate::error::{Error, Result};
use std::path::{Path, PathBuf};

/// How to interpret a data file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LoadOptions {
    /// CSV/Parquet: the column holding class labels (non-negative integers).
    pub label_column: Option<String>,
    /// Each row is a row-major image of this `(height, width)`. For IDX
    /// images of rank 3 it must agree with the file's.
    pub image_shape: Option<(usize, usize)>,
    /// IDX: a separate IDX labels file (rank 1), as in the MNIST distribution.
    pub labels_file: Option<PathBuf>,
}

impl LoadOptions {
    /// Options with a label column.
    pub fn with_label_column(mut self, name: impl Into<String>) -> Self {
        self.label_column = Some(name.into());
        self
    }

    /// Options with an image shape.
    pub fn with_image_shape(mut self, height: usize, width: usize) -> Self {
        self.image_shape = Some((height, width));
        self
    }

    /// Options with an IDX labels file.
    pub fn with_labels_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.labels_file = Some(path.into());
        self
    }
}

/// The file formats [`Dataset::load`] reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileFormat {
    Csv,
    Parquet,
    Idx,
}

impl FileFormat {
    /// The format a file name implies, if any (case-insensitive).
    pub fn of_path(path: &Path) -> Option<FileFormat> {
        let name = path.file_name()?.to_string_lossy().to_ascii_lowercase();
        if name.ends_with(".csv") {
            Some(FileFormat::Csv)
        } else if name.ends_with(".parquet") || name.ends_with(".pq") {
            Some(FileFormat::Parquet)
        } else if name.ends_with(".csv.gz") || name.ends_with(".parquet.gz") {
            None
        } else if name.ends_with(".idx") || name.ends_with(".gz") || name.ends_with("-ubyte") {
            Some(FileFormat::Idx)
        } else {
            None
        }
    }
}

impl Dataset {
    /// Loads a dataset from a `.csv`, `.parquet` or IDX file (see the module
    /// docs for the names recognised).
    ///
    /// Errors: [`Error::Config`] for an unrecognised file name or an option
    /// that does not apply to the format (`label_column` for IDX,
    /// `labels_file` for CSV/Parquet); [`Error::Io`] if the file (or the
    /// labels file) cannot be read or is not a regular file: a directory,
    /// FIFO or device is refused, not read (see [`super::file`]);
    /// [`Error::Format`] for malformed contents, naming the place.
    pub fn load(path: impl AsRef<Path>, opts: &LoadOptions) -> Result<Dataset> {
        let path = path.as_ref();
        let format = FileFormat::of_path(path).ok_or_else(|| {
            Error::config(
                "path",
                format!(
                    "{}: cannot tell the format from the name; use .csv, .parquet, or .idx/.gz/-ubyte for IDX (compressed CSV/Parquet are not supported)",
                    path.display()
                ),
            )
        })?;
        match format {
            FileFormat::Csv | FileFormat::Parquet => {
                if opts.labels_file.is_some() {
                    return Err(Error::config(
                        "labels_file",
                        "applies to IDX files only; CSV/Parquet take labels from label_column",
                    ));
                }
                let label = opts.label_column.as_deref();
                if format == FileFormat::Csv {
                    csv::read_csv(path, label, opts.image_shape)
                } else {
                    parquet::read_parquet(path, label, opts.image_shape)
                }
            }
            FileFormat::Idx => {
                if opts.label_column.is_some() {
                    return Err(Error::config(
                        "label_column",
                        "applies to CSV/Parquet only; IDX labels come from labels_file",
                    ));
                }
                let ds = idx::read_dataset(path, opts.labels_file.as_deref())?;
                match (opts.image_shape, ds.image_shape()) {
                    (None, _) => Ok(ds),
                    (Some(want), Some(have)) if want != have => Err(Error::Shape(format!(
                        "{}: image shape {} x {} requested, the file stores {} x {}",
                        path.display(),
                        want.0,
                        want.1,
                        have.0,
                        have.1
                    ))),
                    (Some(want), _) => {
                        let DatasetParts {
                            name, x, labels, ..
                        } = ds.into_parts();
                        Dataset::new(name, x, labels, Some(want))
                    }
                }
            }
        }
    }

    /// A built-in dataset if `spec` is one of [`Dataset::builtin_names`],
    /// otherwise the file at path `spec` (see [`Dataset::load`]). `opts`
    /// apply to files only; built-ins carry their own labels and shape.
    ///
    /// Errors: [`Error::UnknownDataset`] when `spec` is neither a built-in
    /// name nor an existing file.
    pub fn resolve(spec: &str, opts: &LoadOptions) -> Result<Dataset> {
        if Dataset::builtin_names().contains(&spec) {
            return Dataset::builtin(spec);
        }
        let path = Path::new(spec);
        if !path.is_file() {
            return Err(Error::UnknownDataset(spec.to_string()));
        }
        Dataset::load(path, opts)
    }
}
