//! Spreading a study over machines: each task runs one shard
//! ([`Study::shard`]) and writes it with [`Study::run_to_files`]; [`merge`]
//! combines the shard files into the frame an unsharded run returns.
//!
//! Every results file is written with a manifest beside it
//! (`{stem}.manifest.json`) naming the study (a hash of all its cell keys),
//! the shard, and the cells the file holds, so [`merge`] can prove that the
//! files belong to one study and that no cell is missing or duplicated.

use super::cell::Cell;
use super::frame::{Row, frame_to_rows, read_results, rows_to_frame, write_results};
use super::run::{cell_config, fingerprints};
use super::spec::Study;
use crate::atomic::write_atomic;
use crate::error::{Error, Result};
use polars::prelude::DataFrame;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

const MANIFEST_FORMAT: &str = "tiedae-study-shard";

/// The manifest written beside a results file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShardManifest {
    /// Always `"tiedae-study-shard"`.
    pub format: String,
    /// The study's name.
    pub study: String,
    /// SHA-256 over the keys of all the study's cells, in order.
    pub study_id: String,
    /// Number of cells of the whole study.
    pub total_cells: usize,
    /// This file's shard `i` of `n` (`0` of `1` for an unsharded run).
    pub shard: (usize, usize),
    /// The cells in this file: `(index, identity)` in row order.
    pub cells: Vec<(usize, String)>,
}

/// The identity of a cell as its row shows it (the key columns), so that a
/// row read from a file can be matched to its cell.
pub(crate) fn row_identity(r: &Row) -> String {
    format!(
        "{}|{}|{}|{}|{}|{}|{}|{:016x}|{:016x}",
        r.dataset,
        r.model,
        r.activation,
        r.bias_mode,
        r.latent,
        r.n_train,
        r.seed,
        r.l2.to_bits(),
        r.sparsity_weight.to_bits()
    )
}

fn cell_identity(c: &Cell) -> String {
    format!(
        "{}|{}|{}|{}|{}|{}|{}|{:016x}|{:016x}",
        c.dataset_name,
        c.model.name(),
        c.activation.name(),
        c.bias_mode.name(),
        c.latent,
        c.n_train,
        c.seed,
        c.l2.to_bits(),
        c.sparsity_weight.to_bits()
    )
}

/// Path of the manifest of results file (or stem) `path`.
pub fn manifest_path(path: &Path) -> PathBuf {
    path.with_extension("manifest.json")
}

impl Study {
    /// A hash identifying the study's full set of cells (independent of
    /// sharding): equal for two studies exactly when every cell would
    /// compute the same thing.
    pub fn study_id(&self) -> Result<String> {
        let cells = self.cells()?;
        let fps = fingerprints(self);
        let mut h = Sha256::new();
        for c in &cells {
            h.update(cell_config(self, c, &fps[c.dataset]).key()?.as_bytes());
        }
        Ok(super::cell::hex(&h.finalize()))
    }

    /// Runs the study (its shard, if one is set) and writes
    /// `{stem}.parquet`, `{stem}.csv` and `{stem}.manifest.json`, each
    /// atomically. Returns the results frame.
    pub fn run_to_files(&self, stem: &Path) -> Result<DataFrame> {
        let df = self.run()?;
        let all = self.cells()?;
        let cells = self.selected_cells()?;
        let manifest = ShardManifest {
            format: MANIFEST_FORMAT.into(),
            study: self.name.clone(),
            study_id: self.study_id()?,
            total_cells: all.len(),
            shard: self.shard.unwrap_or((0, 1)),
            cells: cells.iter().map(|c| (c.index, cell_identity(c))).collect(),
        };
        write_results(&df, stem)?;
        // The manifest goes last: its presence says the results are whole.
        write_manifest(stem, &manifest)?;
        Ok(df)
    }
}

/// Writes `manifest` beside results file (or stem) `path`, atomically.
pub fn write_manifest(path: &Path, manifest: &ShardManifest) -> Result<()> {
    write_atomic(&manifest_path(path), |w| {
        serde_json::to_writer_pretty(&mut *w, manifest)
            .map_err(|e| Error::InvalidData(format!("cannot serialize a manifest: {e}")))
    })
}

/// Reads the manifest of results file `path` (see [`manifest_path`]).
///
/// # Errors
/// [`Error::Io`] for a missing or unreadable manifest; [`Error::Format`]
/// naming it for anything but a shard manifest.
pub fn read_manifest(path: &Path) -> Result<ShardManifest> {
    let mpath = manifest_path(path);
    let bytes = std::fs::read(&mpath).map_err(|e| Error::io(&mpath, e))?;
    let m: ShardManifest = serde_json::from_slice(&bytes).map_err(|e| {
        Error::format(
            &mpath,
            format!("line {}, column {}", e.line(), e.column()),
            format!("not a study shard manifest: {e}"),
        )
    })?;
    if m.format != MANIFEST_FORMAT {
        return Err(Error::format(
            &mpath,
            "format",
            format!("expected {MANIFEST_FORMAT:?}, found {:?}", m.format),
        ));
    }
    Ok(m)
}

/// Combines results files written by [`Study::run_to_files`] (Parquet or
/// CSV, each with its manifest) into one frame, rows in cell order: the
/// frame an unsharded run returns.
///
/// # Errors
///
/// [`Error::InvalidData`], naming the files involved, for: no paths;
/// files of different studies; a file whose rows do not match its
/// manifest; a cell present in two files; a cell of the study in none.
pub fn merge<P: AsRef<Path>>(paths: &[P]) -> Result<DataFrame> {
    if paths.is_empty() {
        return Err(Error::InvalidData("merge: no shard files given".into()));
    }
    let mut study: Option<(ShardManifest, PathBuf)> = None;
    let mut by_index: BTreeMap<usize, (Row, PathBuf)> = BTreeMap::new();
    for p in paths {
        let path = p.as_ref();
        let manifest = read_manifest(path)?;
        let df = read_results(path)?;
        if let Some((first, first_path)) = &study
            && (first.study_id != manifest.study_id || first.total_cells != manifest.total_cells)
        {
            return Err(Error::InvalidData(format!(
                "merge: {} belongs to study {:?} ({}), {} to study {:?} ({})",
                first_path.display(),
                first.study,
                &first.study_id[..12],
                path.display(),
                manifest.study,
                &manifest.study_id[..manifest.study_id.len().min(12)]
            )));
        }
        let rows = frame_to_rows(&df)?;
        if rows.len() != manifest.cells.len() {
            return Err(Error::InvalidData(format!(
                "merge: {} has {} rows but its manifest lists {} cells",
                path.display(),
                rows.len(),
                manifest.cells.len()
            )));
        }
        for (row, (index, identity)) in rows.into_iter().zip(&manifest.cells) {
            if row_identity(&row) != *identity {
                return Err(Error::InvalidData(format!(
                    "merge: {} row for cell {index} does not match its manifest ({} vs {identity})",
                    path.display(),
                    row_identity(&row)
                )));
            }
            if *index >= manifest.total_cells {
                return Err(Error::InvalidData(format!(
                    "merge: {} lists cell {index} of a study with {} cells",
                    path.display(),
                    manifest.total_cells
                )));
            }
            if let Some((_, other)) = by_index.get(index) {
                return Err(Error::InvalidData(format!(
                    "merge: cell {index} ({identity}) is in both {} and {}",
                    other.display(),
                    path.display()
                )));
            }
            by_index.insert(*index, (row, path.to_path_buf()));
        }
        if study.is_none() {
            study = Some((manifest, path.to_path_buf()));
        }
    }
    let (manifest, _) = study.expect("at least one path");
    let missing: Vec<usize> = (0..manifest.total_cells)
        .filter(|i| !by_index.contains_key(i))
        .collect();
    if !missing.is_empty() {
        let shown: Vec<String> = missing.iter().take(10).map(|i| i.to_string()).collect();
        return Err(Error::InvalidData(format!(
            "merge: {} of {} cells of study {:?} are in none of the files (cells {}{})",
            missing.len(),
            manifest.total_cells,
            manifest.study,
            shown.join(", "),
            if missing.len() > 10 { ", ..." } else { "" }
        )));
    }
    let rows: Vec<Row> = by_index.into_values().map(|(r, _)| r).collect();
    rows_to_frame(&rows)
}
