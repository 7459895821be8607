//! The crate's one error type.
//!
//! Every fallible public function returns [`Result`]. User input (files, CLI
//! flags, configs, shapes) never panics: it yields a variant here whose message
//! names what was wrong and where, so a one-line report is enough to fix it.

use std::path::PathBuf;

/// Everything that can go wrong in tiedae.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An operating-system I/O failure, with the path it concerned.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// A malformed input file (IDX, CSV, Parquet, model or checkpoint file).
    /// `location` is e.g. `"line 7"`, `"row 3, column \"x2\""` or `"header"`.
    #[error("{}: {location}: {reason}", path.display())]
    Format {
        path: PathBuf,
        location: String,
        reason: String,
    },

    /// Data that is well-formed but unusable (empty, one row, non-finite...).
    #[error("invalid data: {0}")]
    InvalidData(String),

    /// Matrix/vector dimensions that do not fit together.
    #[error("shape mismatch: {0}")]
    Shape(String),

    /// A hyperparameter or option out of its valid range.
    #[error("invalid {field}: {reason}")]
    Config { field: &'static str, reason: String },

    /// A dataset name that is neither built in nor an existing file.
    #[error(
        "unknown dataset {0:?}: use one of digits, mnist10k, or a path to a .csv/.parquet/.idx/.npy/.safetensors file"
    )]
    UnknownDataset(String),

    /// Training produced a non-finite loss or gradient.
    #[error(
        "training diverged at epoch {epoch}, batch {batch}: {what} (last finite loss: {})",
        last_finite_loss.map_or_else(|| "none".to_string(), |l| format!("{l:.6e}"))
    )]
    Diverged {
        epoch: usize,
        batch: usize,
        what: String,
        last_finite_loss: Option<f64>,
    },

    /// Work stopped on request (Ctrl-C); whatever was checkpointed is kept.
    #[error("interrupted{}", checkpoint.as_ref().map_or_else(String::new, |p| format!("; last checkpoint at {}", p.display())))]
    Interrupted { checkpoint: Option<PathBuf> },

    /// A study stopped on request (SIGINT/SIGTERM) before all its selected
    /// cells ran. Finished cells are in the cache, so running the same
    /// study again continues where this one stopped.
    #[error(
        "interrupted: {done} of {total} cells done and cached; run the same command again to continue"
    )]
    StudyInterrupted { done: usize, total: usize },

    /// A numerical routine that failed to converge or met a singular system.
    #[error("numerical failure: {0}")]
    Numerical(String),

    /// An error raised inside polars (DataFrame building, Parquet/CSV I/O).
    #[error("polars: {0}")]
    Polars(#[from] polars::error::PolarsError),

    /// Rendering a report (templates, charts) failed.
    #[error("report rendering: {0}")]
    Render(String),
}

/// `Result` with [`Error`] as the error type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// Wraps an `io::Error` with the path it concerned.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }

    /// A [`Error::Format`] for `path` at `location`.
    pub fn format(
        path: impl Into<PathBuf>,
        location: impl Into<String>,
        reason: impl Into<String>,
    ) -> Self {
        Error::Format {
            path: path.into(),
            location: location.into(),
            reason: reason.into(),
        }
    }

    /// A [`Error::Config`] for `field`.
    pub fn config(field: &'static str, reason: impl Into<String>) -> Self {
        Error::Config {
            field,
            reason: reason.into(),
        }
    }
}
