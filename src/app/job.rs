//! A report job: what the `report` binary was asked to do, checked before
//! any expensive work starts.
//!
//! The binary only parses flags into a [`ReportJob`] and calls
//! [`ReportJob::run`]. Everything that can be wrong with the request (an
//! unknown dataset, a malformed `--image-shape`, a latent size larger than
//! the data's dimension, an output directory that cannot be written) is
//! found here *before* the study trains anything, so a mistake costs seconds
//! rather than minutes and never leaves a half-written report behind.

use crate::data::{Dataset, FileFormat, LoadOptions, split_tensor_spec};
use crate::error::{Error, Result};
use crate::study::limits::MAX_AXIS_VALUES;
use std::fs;
use std::path::{Path, PathBuf};

/// Where reports go when `--out` is not given.
pub const DEFAULT_OUT_DIR: &str = "reports";
/// The dataset used when `--dataset` is not given.
pub const DEFAULT_DATASET: &str = "digits";

/// One request for a report, as the CLI flags give it.
///
/// Optional fields left `None` take the chosen study's defaults (the
/// default comparison picks latent sizes, epochs and seeds that fit its time
/// budget on the dataset at hand).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportJob {
    /// `digits`, `mnist10k`, or a path to a `.csv`, `.parquet`, `.npy` or
    /// `.safetensors` file (`FILE.safetensors:NAME` for one of its tensors).
    pub dataset: String,
    /// CSV/Parquet: the column holding class labels (left out of the data).
    pub label_column: Option<String>,
    /// CSV/Parquet: each row is a row-major image of this (height, width).
    pub image_shape: Option<(usize, usize)>,
    /// Latent sizes to sweep.
    pub latent: Option<Vec<usize>>,
    /// Training epochs per model.
    pub epochs: Option<usize>,
    /// Number of seeds per configuration.
    pub seeds: Option<usize>,
    /// A smaller, faster run (fewer epochs, sizes and seeds) for smoke tests.
    pub quick: bool,
    /// The directory holding all reports; this one goes to `out/<dataset>/`.
    pub out: PathBuf,
    /// A built-in study by name; `None` runs the default comparison.
    pub study: Option<String>,
    /// Draw the report from this results file (Parquet or CSV, e.g. the
    /// output of `study merge`) instead of running a study.
    pub results: Option<PathBuf>,
}

impl Default for ReportJob {
    fn default() -> Self {
        ReportJob {
            dataset: DEFAULT_DATASET.to_string(),
            label_column: None,
            image_shape: None,
            latent: None,
            epochs: None,
            seeds: None,
            quick: false,
            out: PathBuf::from(DEFAULT_OUT_DIR),
            study: None,
            results: None,
        }
    }
}

impl ReportJob {
    /// Checks the flags on their own (before any data is read).
    ///
    /// # Errors
    /// [`Error::Config`] naming the flag: an empty or zero latent size,
    /// zero epochs or seeds, more seeds than [`MAX_AXIS_VALUES`], an empty
    /// label column or dataset name.
    pub fn validate(&self) -> Result<()> {
        if self.dataset.trim().is_empty() {
            return Err(Error::config("--dataset", "is empty"));
        }
        if let Some(label) = &self.label_column
            && label.trim().is_empty()
        {
            return Err(Error::config("--label-column", "is empty"));
        }
        if let Some((h, w)) = self.image_shape
            && (h == 0 || w == 0)
        {
            return Err(Error::config(
                "--image-shape",
                format!("{h}x{w} has no pixels; both sides must be at least 1"),
            ));
        }
        if let Some(latent) = &self.latent {
            if latent.is_empty() {
                return Err(Error::config("--latent", "lists no latent size"));
            }
            if latent.contains(&0) {
                return Err(Error::config(
                    "--latent",
                    "a latent size of 0 encodes nothing",
                ));
            }
        }
        if self.epochs == Some(0) {
            return Err(Error::config("--epochs", "must be at least 1"));
        }
        if self.seeds == Some(0) {
            return Err(Error::config("--seeds", "must be at least 1"));
        }
        // Bounded before the study lists its seeds: a mistyped count would
        // otherwise ask for the memory of the list alone.
        if let Some(n) = self.seeds
            && n > MAX_AXIS_VALUES
        {
            return Err(Error::config(
                "--seeds",
                format!("{n} seeds; a study takes at most {MAX_AXIS_VALUES}"),
            ));
        }
        if self.results.is_some() {
            let training = [
                ("--study", self.study.is_some()),
                ("--latent", self.latent.is_some()),
                ("--epochs", self.epochs.is_some()),
                ("--seeds", self.seeds.is_some()),
                ("--quick", self.quick),
            ];
            if let Some((flag, _)) = training.iter().find(|(_, set)| *set) {
                return Err(Error::config(
                    "--results",
                    format!(
                        "draws the report from finished results; {flag} only applies to a run that trains"
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Loads the dataset the job names: a built-in one, or a CSV / Parquet
    /// file read with the job's label column and image shape, or an
    /// activation file (`.npy`, `.safetensors`, `FILE.safetensors:NAME`)
    /// read with its image shape.
    ///
    /// # Errors
    /// [`Error::UnknownDataset`] for a name that is neither built in nor an
    /// existing file; [`Error::Config`] for a file of another format, or for
    /// `--label-column` on a built-in dataset or an activation file (neither
    /// takes labels from a column) or a conflicting `--image-shape` on a
    /// built-in dataset (which carries its own); the loaders' errors for
    /// unreadable, malformed or non-regular files.
    pub fn load_dataset(&self) -> Result<Dataset> {
        let spec = self.dataset.as_str();
        if Dataset::builtin_names().contains(&spec) {
            if self.label_column.is_some() {
                return Err(Error::config(
                    "--label-column",
                    format!("applies to CSV/Parquet files; the built-in {spec:?} has its labels"),
                ));
            }
            let ds = Dataset::builtin(spec)?;
            if let Some(want) = self.image_shape
                && ds.image_shape() != Some(want)
            {
                return Err(Error::config(
                    "--image-shape",
                    format!(
                        "{}x{} does not match the built-in {spec:?} images ({})",
                        want.0,
                        want.1,
                        ds.image_shape()
                            .map_or("none".to_string(), |(h, w)| format!("{h}x{w}"))
                    ),
                ));
            }
            return Ok(ds);
        }
        let (file, tensor) = split_tensor_spec(spec);
        let path = Path::new(file);
        let format = FileFormat::of_path(path);
        let tabular = matches!(format, Some(FileFormat::Csv | FileFormat::Parquet));
        let activations = matches!(format, Some(FileFormat::Npy | FileFormat::Safetensors));
        if !path.exists() {
            // A file name that is missing says so; a bare word is most
            // likely a misspelt built-in name.
            return Err(
                if tabular || activations || spec.contains(std::path::MAIN_SEPARATOR) {
                    Error::io(
                        path,
                        std::io::Error::new(std::io::ErrorKind::NotFound, "no such data file"),
                    )
                } else {
                    Error::UnknownDataset(spec.to_string())
                },
            );
        }
        if !(tabular || activations) {
            return Err(Error::config(
                "--dataset",
                format!("{spec}: reports read .csv, .parquet, .npy or .safetensors files"),
            ));
        }
        if activations && self.label_column.is_some() {
            return Err(Error::config(
                "--label-column",
                format!("applies to CSV/Parquet files; {file} holds no labels"),
            ));
        }
        let opts = LoadOptions {
            label_column: self.label_column.clone(),
            image_shape: self.image_shape,
            labels_file: None,
            tensor: tensor.map(str::to_string),
        };
        // Loaded as a path, not resolved again: a directory or FIFO under
        // a data file's name is refused as such (see `data::file`).
        Dataset::load(path, &opts)
    }
}

/// Parses `--image-shape` text such as `28x28` (also `28X28`, `28*28`).
///
/// # Errors
/// [`Error::Config`] for anything but two positive integers joined by `x`.
pub fn parse_image_shape(text: &str) -> Result<(usize, usize)> {
    let bad = || {
        Error::config(
            "--image-shape",
            format!("{text:?} is not HEIGHTxWIDTH with positive integers, e.g. 28x28"),
        )
    };
    let (h, w) = text.trim().split_once(['x', 'X', '*']).ok_or_else(bad)?;
    let h: usize = h.trim().parse().map_err(|_| bad())?;
    let w: usize = w.trim().parse().map_err(|_| bad())?;
    if h == 0 || w == 0 {
        return Err(bad());
    }
    Ok((h, w))
}

/// Parses `--latent` text such as `2,4,8,16,32` into sorted, distinct sizes.
///
/// # Errors
/// [`Error::Config`] for an empty list, a non-integer or a zero.
pub fn parse_latent_list(text: &str) -> Result<Vec<usize>> {
    let mut sizes = Vec::new();
    for part in text.split(',') {
        let part = part.trim();
        let k: usize = part.parse().map_err(|_| {
            Error::config(
                "--latent",
                format!("{part:?} in {text:?} is not a positive integer; use e.g. 2,4,8,16,32"),
            )
        })?;
        if k == 0 {
            return Err(Error::config(
                "--latent",
                "a latent size of 0 encodes nothing",
            ));
        }
        sizes.push(k);
    }
    sizes.sort_unstable();
    sizes.dedup();
    Ok(sizes)
}

/// Checks that every latent size fits the data: at most the feature count
/// (a wider code is not a compression), unless `n_features` is `None` (a
/// study of over-complete codes, such as `sae`), and at most the number of
/// training rows (PCA has no more components than that).
///
/// # Errors
/// [`Error::Config`] naming the first size that does not fit.
pub fn check_latent_sizes(
    latent: &[usize],
    n_features: Option<usize>,
    n_train: usize,
) -> Result<()> {
    for &k in latent {
        if let Some(n_features) = n_features
            && k > n_features
        {
            return Err(Error::config(
                "--latent",
                format!("latent size {k} is larger than the data's dimension {n_features}"),
            ));
        }
        if k > n_train {
            return Err(Error::config(
                "--latent",
                format!("latent size {k} is larger than the {n_train} training rows"),
            ));
        }
    }
    Ok(())
}

/// Checks, without leaving anything behind, that a report can be written
/// into `out`: it is a writable directory, or it does not exist yet and its
/// nearest existing ancestor is a writable directory.
///
/// Run before the study so that an unusable `--out` fails in a second
/// rather than after minutes of training.
///
/// # Errors
/// [`Error::Io`] naming the path that is not a directory or not writable.
pub fn check_output_dir(out: &Path) -> Result<()> {
    let mut dir = out.to_path_buf();
    loop {
        match fs::metadata(&dir) {
            Ok(meta) if meta.is_dir() => break,
            Ok(_) => {
                return Err(Error::io(
                    &dir,
                    std::io::Error::new(
                        std::io::ErrorKind::NotADirectory,
                        "exists and is not a directory",
                    ),
                ));
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let parent = match dir.parent() {
                    Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
                    _ => PathBuf::from("."),
                };
                if parent == dir {
                    return Err(Error::io(&dir, e));
                }
                dir = parent;
            }
            Err(e) => return Err(Error::io(&dir, e)),
        }
    }
    // A probe file proves write access where permission bits cannot (ACLs,
    // read-only mounts); it is removed when dropped.
    tempfile::Builder::new()
        .prefix(".tiedae-probe-")
        .tempfile_in(&dir)
        .map(drop)
        .map_err(|e| Error::io(&dir, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_shapes_parse_or_explain() {
        assert_eq!(parse_image_shape("28x28").unwrap(), (28, 28));
        assert_eq!(parse_image_shape(" 4X16 ").unwrap(), (4, 16));
        for bad in ["", "28", "0x4", "4x0", "ax4", "4x4x4", "-4x4", "4,4"] {
            let err = parse_image_shape(bad).unwrap_err();
            assert!(err.to_string().contains("--image-shape"), "{bad:?}: {err}");
        }
    }

    #[test]
    fn latent_lists_parse_sorted_and_distinct() {
        assert_eq!(parse_latent_list("8,2, 4,8").unwrap(), vec![2, 4, 8]);
        for bad in ["", "2,,4", "0", "2,x", "-1", "2.5"] {
            assert!(parse_latent_list(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn latent_sizes_must_fit_the_data() {
        assert!(check_latent_sizes(&[2, 64], Some(64), 1000).is_ok());
        let err = check_latent_sizes(&[2, 65], Some(64), 1000).unwrap_err();
        assert!(err.to_string().contains("65"), "{err}");
        assert!(check_latent_sizes(&[65], None, 1000).is_ok());
        assert!(check_latent_sizes(&[8], Some(64), 5).is_err());
        assert!(check_latent_sizes(&[8], None, 5).is_err());
    }

    #[test]
    fn output_dir_checks_leave_nothing_behind() {
        let root = tempfile::tempdir().unwrap();
        check_output_dir(root.path()).unwrap();
        check_output_dir(&root.path().join("a/b/c")).unwrap();
        let file = root.path().join("file");
        fs::write(&file, b"x").unwrap();
        assert!(matches!(check_output_dir(&file), Err(Error::Io { .. })));
        assert!(matches!(
            check_output_dir(&file.join("reports")),
            Err(Error::Io { .. })
        ));
        let left: Vec<_> = fs::read_dir(root.path()).unwrap().collect();
        assert_eq!(left.len(), 1, "{left:?}");
    }

    #[test]
    fn flags_are_validated() {
        assert!(ReportJob::default().validate().is_ok());
        let bad = [
            ReportJob {
                latent: Some(vec![]),
                ..Default::default()
            },
            ReportJob {
                epochs: Some(0),
                ..Default::default()
            },
            ReportJob {
                seeds: Some(0),
                ..Default::default()
            },
            ReportJob {
                seeds: Some(MAX_AXIS_VALUES + 1),
                ..Default::default()
            },
            ReportJob {
                dataset: " ".into(),
                ..Default::default()
            },
        ];
        for job in bad {
            assert!(job.validate().is_err(), "{job:?}");
        }
    }

    #[test]
    fn builtins_refuse_file_options() {
        let job = ReportJob {
            label_column: Some("label".into()),
            ..Default::default()
        };
        assert!(job.load_dataset().is_err());
        let job = ReportJob {
            image_shape: Some((4, 16)),
            ..Default::default()
        };
        assert!(job.load_dataset().is_err());
        let job = ReportJob {
            image_shape: Some((8, 8)),
            ..Default::default()
        };
        assert_eq!(job.load_dataset().unwrap().n_features(), 64);
        let job = ReportJob {
            dataset: "/no/such/file.csv".into(),
            ..Default::default()
        };
        assert!(matches!(job.load_dataset(), Err(Error::Io { .. })));
        let job = ReportJob {
            dataset: "digitz".into(),
            ..Default::default()
        };
        assert!(matches!(job.load_dataset(), Err(Error::UnknownDataset(_))));
    }
}
