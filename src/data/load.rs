//! Loading a dataset from a file, choosing the reader by the file name.
//!
//! | file name                                   | reader            |
//! |---------------------------------------------|-------------------|
//! | `*.csv`                                     | [`super::csv`]     |
//! | `*.parquet`, `*.pq`                         | [`super::parquet`] |
//! | `*.idx`, `*.gz`, `*-ubyte`, `*.idx<k>-ubyte` | [`super::idx`]     |
//! | `*.npy`                                     | [`super::npy`]     |
//! | `*.safetensors`                             | [`super::safetensors`] |
//!
//! A `.safetensors` file may hold several tensors: [`LoadOptions::tensor`]
//! names the one to read, and where a dataset is given as one string
//! ([`Dataset::resolve`], the binaries' `--dataset`) it is written
//! `FILE.safetensors:NAME` (see [`split_tensor_spec`]).
//!
//! Values are returned as stored: no rescaling (see [`super::Scaler`]).

use super::{Dataset, DatasetParts};
use super::{csv, idx, npy, parquet, safetensors};
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
    /// `.safetensors`: the tensor to read. Needed when the file holds
    /// several; a file of one tensor is read without it.
    pub tensor: Option<String>,
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

    /// Options naming the tensor of a `.safetensors` file to read.
    pub fn with_tensor(mut self, name: impl Into<String>) -> Self {
        self.tensor = Some(name.into());
        self
    }
}

/// Splits a dataset given as one string into its file and the tensor it
/// names: `acts.safetensors:blocks.3.hook_resid_post` is the file
/// `acts.safetensors` and the tensor `blocks.3.hook_resid_post`. Only a
/// colon right after `.safetensors` (any case) separates, the last such,
/// so paths with colons elsewhere (`C:\data\x.csv`) are left whole; any
/// other string is a file alone.
pub fn split_tensor_spec(spec: &str) -> (&str, Option<&str>) {
    const SEPARATOR: &str = ".safetensors:";
    // ASCII lowercasing keeps every byte's position, so the index found
    // in the lowercased copy is the one in `spec`, on a char boundary.
    match spec.to_ascii_lowercase().rfind(SEPARATOR) {
        Some(at) => {
            let colon = at + SEPARATOR.len() - 1;
            (&spec[..colon], Some(&spec[colon + 1..]))
        }
        None => (spec, None),
    }
}

/// The file formats [`Dataset::load`] reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileFormat {
    Csv,
    Parquet,
    Idx,
    /// NumPy's `.npy`.
    Npy,
    /// A tensor of a `.safetensors` file.
    Safetensors,
}

impl FileFormat {
    /// The format a file name implies, if any (case-insensitive).
    pub fn of_path(path: &Path) -> Option<FileFormat> {
        let name = path.file_name()?.to_string_lossy().to_ascii_lowercase();
        if name.ends_with(".csv") {
            Some(FileFormat::Csv)
        } else if name.ends_with(".parquet") || name.ends_with(".pq") {
            Some(FileFormat::Parquet)
        } else if name.ends_with(".npy") {
            Some(FileFormat::Npy)
        } else if name.ends_with(".safetensors") {
            Some(FileFormat::Safetensors)
        } else if name.ends_with(".csv.gz")
            || name.ends_with(".parquet.gz")
            || name.ends_with(".npy.gz")
            || name.ends_with(".safetensors.gz")
        {
            None
        } else if name.ends_with(".idx") || name.ends_with(".gz") || name.ends_with("-ubyte") {
            Some(FileFormat::Idx)
        } else {
            None
        }
    }
}

impl Dataset {
    /// Loads a dataset from a `.csv`, `.parquet`, IDX, `.npy` or
    /// `.safetensors` file (see the module docs for the names recognised).
    ///
    /// Errors: [`Error::Config`] for an unrecognised file name or an option
    /// that does not apply to the format (`label_column` for IDX, `.npy`
    /// and `.safetensors`, `labels_file` for all but IDX, `tensor` for all
    /// but `.safetensors`, an empty `tensor`); [`Error::Io`] if the file (or the
    /// labels file) cannot be read or is not a regular file: a directory,
    /// FIFO or device is refused, not read (see [`super::file`]);
    /// [`Error::Format`] for malformed contents, naming the place.
    pub fn load(path: impl AsRef<Path>, opts: &LoadOptions) -> Result<Dataset> {
        let path = path.as_ref();
        let format = FileFormat::of_path(path).ok_or_else(|| {
            Error::config(
                "path",
                format!(
                    "{}: cannot tell the format from the name; use .csv, .parquet, .npy, .safetensors, or .idx/.gz/-ubyte for IDX (compressed CSV/Parquet/.npy/.safetensors are not supported)",
                    path.display()
                ),
            )
        })?;
        if let Some(t) = &opts.tensor {
            if format != FileFormat::Safetensors {
                return Err(Error::config(
                    "tensor",
                    format!(
                        "{}: names a tensor of a .safetensors file; this file holds one array",
                        path.display()
                    ),
                ));
            }
            if t.is_empty() {
                return Err(Error::config(
                    "tensor",
                    format!("{}: the tensor name is empty", path.display()),
                ));
            }
        }
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
            FileFormat::Npy | FileFormat::Safetensors => {
                if opts.label_column.is_some() {
                    return Err(Error::config(
                        "label_column",
                        "applies to CSV/Parquet only; .npy and .safetensors files hold no labels",
                    ));
                }
                if opts.labels_file.is_some() {
                    return Err(Error::config(
                        "labels_file",
                        "applies to IDX files only; .npy and .safetensors files hold no labels",
                    ));
                }
                if format == FileFormat::Npy {
                    npy::read_npy(path, opts.image_shape)
                } else {
                    safetensors::read_tensor(path, opts.tensor.as_deref(), opts.image_shape)
                }
            }
        }
    }

    /// A built-in dataset if `spec` is one of [`Dataset::builtin_names`],
    /// otherwise the file at path `spec` (see [`Dataset::load`]), where
    /// `FILE.safetensors:NAME` names tensor `NAME` of that file (see
    /// [`split_tensor_spec`]). `opts` apply to files only; built-ins carry
    /// their own labels and shape.
    ///
    /// Errors: [`Error::UnknownDataset`] when `spec` is neither a built-in
    /// name nor an existing file; [`Error::Config`] when `spec` and `opts`
    /// both name a tensor.
    pub fn resolve(spec: &str, opts: &LoadOptions) -> Result<Dataset> {
        if Dataset::builtin_names().contains(&spec) {
            return Dataset::builtin(spec);
        }
        let (file, tensor) = split_tensor_spec(spec);
        let path = Path::new(file);
        if !path.is_file() {
            return Err(Error::UnknownDataset(spec.to_string()));
        }
        match tensor {
            None => Dataset::load(path, opts),
            Some(_) if opts.tensor.is_some() => Err(Error::config(
                "tensor",
                format!("{spec} names a tensor and so do the options; name it once"),
            )),
            Some(t) => {
                let opts = opts.clone().with_tensor(t);
                Dataset::load(path, &opts)
            }
        }
    }
}
