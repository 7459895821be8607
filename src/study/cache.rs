//! On-disk cache of finished cells: one small JSON file per cell, named by
//! the SHA-256 of the cell's full configuration and dataset fingerprint,
//! written atomically.
//!
//! A rerun of a study reads finished cells back instead of refitting them,
//! so an interrupted sweep resumes where it stopped. A cache file that
//! exists but cannot be read back (truncated, edited, from another program,
//! holding a different configuration under the same name, or a row of
//! another cell) is an **error naming the file**, never silently
//! recomputed: a damaged cache is worth noticing, and deleting the named
//! file is all it takes to recompute that cell.
//!
//! Detailed runs ([`super::Study::run_detailed`]) also keep the cell's
//! artifacts (filters, reconstructions, training history) in a second file
//! `{key}.detail.json`; its absence only means the cell is refitted.

use super::artifacts::CellDetail;
use super::cell::Cell;
use super::extra::SaeMetrics;
use super::frame::Row;
use super::shard::{cell_identity, row_identity};
use crate::atomic::write_atomic;
use crate::data::file::read_regular;
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Format tag of a cache file.
const FORMAT: &str = "tiedae-study-cell";
/// Format tag of a detail file.
const DETAIL_FORMAT: &str = "tiedae-study-cell-detail";

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct CacheFile {
    format: String,
    key: String,
    config: serde_json::Value,
    row: Row,
    /// The extra metrics of a cell that records them (absent otherwise, so
    /// the files of other cells are as they always were).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    metrics: Option<SaeMetrics>,
}

/// A cached cell: its row and, if it records them, its extra metrics.
pub(crate) type Cached = (Row, Option<SaeMetrics>);

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct DetailFile {
    format: String,
    key: String,
    detail: CellDetail,
}

/// A directory of cached cells.
#[derive(Clone, Debug)]
pub(crate) struct CellCache {
    dir: PathBuf,
}

impl CellCache {
    /// Opens (creating if needed) the cache directory.
    pub fn open(dir: &Path) -> Result<CellCache> {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        Ok(CellCache {
            dir: dir.to_path_buf(),
        })
    }

    /// The cache in `dir` as it is, creating nothing: for reading only (a
    /// missing directory holds no cells).
    pub fn existing(dir: &Path) -> CellCache {
        CellCache {
            dir: dir.to_path_buf(),
        }
    }

    /// The file of cell `key`.
    pub fn path(&self, key: &str) -> PathBuf {
        self.dir.join(format!("{key}.json"))
    }

    fn detail_path(&self, key: &str) -> PathBuf {
        self.dir.join(format!("{key}.detail.json"))
    }

    /// The cached row of `cell`, whose key is `key`, if finished. `config`
    /// is the cell's configuration as JSON.
    ///
    /// A file holding another configuration, or a row that is not the
    /// cell's (another dataset, model, activation, bias mode, latent size,
    /// training size, seed, L2, sparsity weight or learning rate), is an
    /// error naming the file, not a cache miss: such a file was edited or
    /// mixed up, and recomputing over it would hide that the cache cannot
    /// be trusted. So is a file whose extra metrics are there when
    /// `metrics` says the cell records none, or missing when it records
    /// some.
    pub fn load(
        &self,
        key: &str,
        config: &serde_json::Value,
        cell: &Cell,
        metrics: bool,
    ) -> Result<Option<Cached>> {
        let path = self.path(key);
        let Some(bytes) = read_if_exists(&path)? else {
            return Ok(None);
        };
        let file: CacheFile = serde_json::from_slice(&bytes).map_err(|e| corrupt(&path, e))?;
        if file.format != FORMAT {
            return Err(Error::format(
                &path,
                "format",
                format!(
                    "expected {FORMAT:?}, found {:?}; delete the file to recompute the cell",
                    file.format
                ),
            ));
        }
        if file.key != key || &file.config != config {
            return Err(Error::format(
                &path,
                "config",
                "the file holds another cell's configuration; delete it to recompute the cell",
            ));
        }
        let (found, wanted) = (row_identity(&file.row), cell_identity(cell));
        if found != wanted {
            return Err(Error::format(
                &path,
                "row",
                format!(
                    "the row is of cell {found:?}, not of this file's cell {wanted:?}; delete the file to recompute the cell"
                ),
            ));
        }
        if file.metrics.is_some() != metrics {
            return Err(Error::format(
                &path,
                "metrics",
                format!(
                    "the cell records {} extra metrics but the file holds {}; delete the file to recompute the cell",
                    if metrics { "its" } else { "no" },
                    if file.metrics.is_some() {
                        "some"
                    } else {
                        "none"
                    }
                ),
            ));
        }
        Ok(Some((file.row, file.metrics)))
    }

    /// Stores a finished cell, with its extra metrics if it records them.
    pub fn store(
        &self,
        key: &str,
        config: &serde_json::Value,
        row: &Row,
        metrics: Option<&SaeMetrics>,
    ) -> Result<()> {
        let path = self.path(key);
        let file = CacheFile {
            format: FORMAT.into(),
            key: key.into(),
            config: config.clone(),
            row: row.clone(),
            metrics: metrics.cloned(),
        };
        write_json(&path, &file)
    }

    /// The cached artifacts of cell `key`, if any.
    pub fn load_detail(&self, key: &str) -> Result<Option<CellDetail>> {
        let path = self.detail_path(key);
        let Some(bytes) = read_if_exists(&path)? else {
            return Ok(None);
        };
        let file: DetailFile = serde_json::from_slice(&bytes).map_err(|e| corrupt(&path, e))?;
        if file.format != DETAIL_FORMAT || file.key != key {
            return Err(Error::format(
                &path,
                "format",
                "not this cell's detail file; delete it to recompute the cell",
            ));
        }
        Ok(Some(file.detail))
    }

    /// Stores a cell's artifacts.
    pub fn store_detail(&self, key: &str, detail: &CellDetail) -> Result<()> {
        let file = DetailFile {
            format: DETAIL_FORMAT.into(),
            key: key.into(),
            detail: detail.clone(),
        };
        write_json(&self.detail_path(key), &file)
    }
}

/// The bytes of cache file `path`, or `None` when there is none. A shared
/// cache directory is writable by others, so a cell's path that is a FIFO,
/// device or directory is refused rather than read.
fn read_if_exists(path: &Path) -> Result<Option<Vec<u8>>> {
    match read_regular(path) {
        Ok(b) => Ok(Some(b)),
        Err(Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

fn corrupt(path: &Path, e: serde_json::Error) -> Error {
    Error::format(
        path,
        format!("line {}, column {}", e.line(), e.column()),
        format!("corrupt study cache file ({e}); delete it to recompute the cell"),
    )
}

fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<()> {
    write_atomic(path, |w| {
        serde_json::to_writer(&mut *w, value)
            .map_err(|e| Error::InvalidData(format!("cannot serialize a cache file: {e}")))
    })
}
