//! Spreading a study over machines: each task runs one shard
//! ([`Study::shard`]) and writes it with [`Study::run_to_files`]; [`merge`]
//! combines the shard files into the frame an unsharded run returns.
//!
//! Every results file is written with a manifest beside it
//! (`{stem}.manifest.json`) naming the study (a hash of all its cell keys),
//! the shard, and the cells the file holds, so [`merge`] can prove that the
//! files belong to one study and that no cell is missing or duplicated.

use super::cell::Cell;
use super::extra::{MetricSet, SaeMetrics, append_extra_columns, read_extra_columns};
use super::frame::{Row, frame_to_rows, read_results, rows_to_frame, write_results};
use super::limits::{MAX_CELLS, MAX_SHARDS};
use super::run::{cell_config, fingerprints};
use super::spec::Study;
use crate::atomic::write_atomic;
use crate::data::file::read_regular;
use crate::error::{Error, Result};
use crate::hex::hex;
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

/// The identity of a cell as its row shows it (the values of
/// [`super::KEY_COLUMNS`], the learning rate among them), so that a row
/// read from a file can be matched to its cell. The learning rate is part
/// of it: the cells of a learning-rate grid differ in nothing else, so
/// without it two of them could trade rows.
pub(crate) fn row_identity(r: &Row) -> String {
    format!(
        "{}|{}|{}|{}|{}|{}|{}|{:016x}|{:016x}|{}",
        r.dataset,
        r.model,
        r.activation,
        r.bias_mode,
        r.latent,
        r.n_train,
        r.seed,
        r.l2.to_bits(),
        r.sparsity_weight.to_bits(),
        rate_identity(r.learning_rate)
    )
}

/// The identity of cell `c`: what [`row_identity`] gives for its row.
pub(crate) fn cell_identity(c: &Cell) -> String {
    format!(
        "{}|{}|{}|{}|{}|{}|{}|{:016x}|{:016x}|{}",
        c.dataset_name,
        c.model_name(),
        c.activation.name(),
        c.bias_mode.name(),
        c.latent,
        c.n_train,
        c.seed,
        c.l2.to_bits(),
        c.sparsity_weight.to_bits(),
        rate_identity(c.learning_rate)
    )
}

/// A learning rate in an identity: its bits, or `none` (PCA, L-BFGS).
fn rate_identity(rate: Option<f64>) -> String {
    rate.map_or_else(|| "none".to_string(), |r| format!("{:016x}", r.to_bits()))
}

/// Length of a study id: a hex SHA-256, as [`Study::study_id`] writes it.
const STUDY_ID_LEN: usize = 64;

/// Checks that `id`, read from the file `path`, is a study id (64 lowercase
/// hex digits). Ids read from files are compared and shown in messages, so
/// anything else (a hand edit, another program's file) is refused on
/// reading, naming the file and the field.
///
/// # Errors
/// [`Error::Format`] naming `path` and `study_id`.
pub(crate) fn check_study_id(path: &Path, id: &str) -> Result<()> {
    if id.len() == STUDY_ID_LEN && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return Ok(());
    }
    Err(Error::format(
        path,
        "study_id",
        format!(
            "{:?}{} is not a study id ({STUDY_ID_LEN} lowercase hex digits)",
            short_id(id),
            if id.chars().count() > 12 { "..." } else { "" }
        ),
    ))
}

/// The first 12 characters of a study id, as messages show it: counted in
/// characters, so an id that is not hex cannot split a character.
pub(crate) fn short_id(id: &str) -> String {
    id.chars().take(12).collect()
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
        Ok(hex(&h.finalize()))
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
/// Every count in it is checked before anything uses it: the shard `i` of
/// `n` has `0 <= i < n <=` [`MAX_SHARDS`], the study has at most
/// [`MAX_CELLS`] cells, and the cells listed are that many at most, each
/// below the study's count; the study id is one.
///
/// # Errors
/// [`Error::Io`] for a missing or unreadable manifest, or one that is not a
/// regular file; [`Error::Format`]
/// naming it (and the field) for anything but a shard manifest.
pub fn read_manifest(path: &Path) -> Result<ShardManifest> {
    let mpath = manifest_path(path);
    let bytes = read_regular(&mpath)?;
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
    check_study_id(&mpath, &m.study_id)?;
    let (i, n) = m.shard;
    if n == 0 || n > MAX_SHARDS || i >= n {
        return Err(Error::format(
            &mpath,
            "shard",
            format!("[{i}, {n}] is not shard i of n with 0 <= i < n <= {MAX_SHARDS}"),
        ));
    }
    if m.total_cells > MAX_CELLS {
        return Err(Error::format(
            &mpath,
            "total_cells",
            format!(
                "{} is more than the {MAX_CELLS} cells a study may have",
                m.total_cells
            ),
        ));
    }
    if m.cells.len() > m.total_cells {
        return Err(Error::format(
            &mpath,
            "cells",
            format!(
                "lists {} cells of a study of {}",
                m.cells.len(),
                m.total_cells
            ),
        ));
    }
    if let Some((index, _)) = m.cells.iter().find(|(index, _)| *index >= m.total_cells) {
        return Err(Error::format(
            &mpath,
            "cells",
            format!("lists cell {index} of a study of {} cells", m.total_cells),
        ));
    }
    Ok(m)
}

/// The rows of a merge gathered so far, by cell index: each with its
/// extra metrics, if its file has them, and the file it came from.
type Gathered = BTreeMap<usize, (Row, Option<SaeMetrics>, PathBuf)>;

/// Files the rows of the shard at `path` under their cell indices, each
/// checked against its manifest entry; a cell another file already gave
/// is refused, naming both files.
fn gather_rows(
    by_index: &mut Gathered,
    rows: Vec<Row>,
    metrics: Option<Vec<SaeMetrics>>,
    manifest: &ShardManifest,
    path: &Path,
) -> Result<()> {
    let mut metrics = metrics.map(Vec::into_iter);
    for (row, (index, identity)) in rows.into_iter().zip(&manifest.cells) {
        let extra = metrics.as_mut().and_then(Iterator::next);
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
        if let Some((_, _, other)) = by_index.get(index) {
            return Err(Error::InvalidData(format!(
                "merge: cell {index} ({identity}) is in both {} and {}",
                other.display(),
                path.display()
            )));
        }
        by_index.insert(*index, (row, extra, path.to_path_buf()));
    }
    Ok(())
}

/// Refuses a merge that lacks cells of the study. Every index held is
/// below the study's cell count and held once, so the missing cells are
/// counted, not listed: the count comes from a file, and only the first
/// few missing are named.
fn check_complete(manifest: &ShardManifest, by_index: &Gathered) -> Result<()> {
    let missing = manifest.total_cells.saturating_sub(by_index.len());
    if missing > 0 {
        let shown: Vec<String> = (0..manifest.total_cells)
            .filter(|i| !by_index.contains_key(i))
            .take(10)
            .map(|i| i.to_string())
            .collect();
        return Err(Error::InvalidData(format!(
            "merge: {missing} of {} cells of study {:?} are in none of the files (cells {}{})",
            manifest.total_cells,
            manifest.study,
            shown.join(", "),
            if missing > 10 { ", ..." } else { "" }
        )));
    }
    Ok(())
}

/// Combines results files written by [`Study::run_to_files`] (Parquet or
/// CSV, each with its manifest) into one frame, rows in cell order: the
/// frame an unsharded run returns, the extra metric columns of a study
/// whose cells record them included ([`super::MetricSet`]).
///
/// # Errors
///
/// [`Error::InvalidData`], naming the files involved, for: no paths;
/// files of different studies; a file whose rows do not match its
/// manifest; a cell present in two files; a cell of the study in none;
/// files of which some have the extra metric columns and some not.
pub fn merge<P: AsRef<Path>>(paths: &[P]) -> Result<DataFrame> {
    if paths.is_empty() {
        return Err(Error::InvalidData("merge: no shard files given".into()));
    }
    let mut study: Option<(ShardManifest, PathBuf)> = None;
    let mut by_index: Gathered = BTreeMap::new();
    // The extra metric columns the files have (their set, if any), and the
    // first file.
    let mut with_metrics: Option<(Option<MetricSet>, PathBuf)> = None;
    for p in paths {
        let path = p.as_ref();
        let manifest = read_manifest(path)?;
        let df = read_results(path)?;
        let extra = read_extra_columns(&df)?;
        let has = extra.as_ref().map(|(set, _)| *set);
        let metrics = extra.map(|(_, values)| values);
        let first = with_metrics.get_or_insert_with(|| (has, path.to_path_buf()));
        if first.0 != has {
            let said = |set: Option<MetricSet>| match set {
                None => "no extra metric columns".to_string(),
                Some(s) => format!("the {s:?} metric columns"),
            };
            return Err(Error::InvalidData(format!(
                "merge: {} has {} but {} has {}",
                first.1.display(),
                said(first.0),
                path.display(),
                said(has)
            )));
        }
        if let Some((first, first_path)) = &study
            && (first.study_id != manifest.study_id || first.total_cells != manifest.total_cells)
        {
            return Err(Error::InvalidData(format!(
                "merge: {} belongs to study {:?} ({}), {} to study {:?} ({})",
                first_path.display(),
                first.study,
                short_id(&first.study_id),
                path.display(),
                manifest.study,
                short_id(&manifest.study_id)
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
        gather_rows(&mut by_index, rows, metrics, &manifest, path)?;
        if study.is_none() {
            study = Some((manifest, path.to_path_buf()));
        }
    }
    let (manifest, _) = study.expect("at least one path");
    check_complete(&manifest, &by_index)?;
    let (rows, metrics): (Vec<Row>, Vec<Option<SaeMetrics>>) =
        by_index.into_values().map(|(r, m, _)| (r, m)).unzip();
    let mut df = rows_to_frame(&rows)?;
    if let Some((Some(set), _)) = with_metrics {
        let values: Vec<SaeMetrics> = metrics.into_iter().map(Option::unwrap_or_default).collect();
        append_extra_columns(&mut df, set, &values)?;
    }
    Ok(df)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Activation, BiasMode};
    use crate::study::spec::ModelKind;

    fn cell(learning_rate: Option<f64>) -> Cell {
        Cell {
            index: 0,
            dataset: 0,
            dataset_name: "digits".into(),
            model: ModelKind::Tied,
            activation: Activation::Relu,
            bias_mode: BiasMode::Separate,
            latent: 2,
            n_train: 100,
            seed: 0,
            l2: 0.0,
            sparsity_weight: 0.0,
            learning_rate,
            variant: None,
        }
    }

    /// Two cells of a learning-rate grid differ in their rate alone; their
    /// identities must differ too, or their rows could be swapped unseen.
    #[test]
    fn identities_tell_learning_rates_apart() {
        let ids: Vec<String> = [Some(1e-2), Some(1e-3), None]
            .into_iter()
            .map(|r| cell_identity(&cell(r)))
            .collect();
        assert_ne!(ids[0], ids[1]);
        assert_ne!(ids[0], ids[2]);
        assert_ne!(ids[1], ids[2]);
    }

    /// Study ids read from files are 64 lowercase hex digits, and are
    /// shortened by characters, never by bytes.
    #[test]
    fn study_ids_are_checked_and_shortened_by_characters() {
        let path = Path::new("x.manifest.json");
        assert!(check_study_id(path, &"0f".repeat(32)).is_ok());
        let multibyte = format!("x{}", "é".repeat(40));
        let upper = "AB".repeat(32);
        let long = "0".repeat(65);
        for bad in ["", "abc", upper.as_str(), long.as_str(), multibyte.as_str()] {
            match check_study_id(path, bad) {
                Err(Error::Format { location, .. }) => assert_eq!(location, "study_id"),
                other => panic!("{bad:?}: {other:?}"),
            }
        }
        assert_eq!(short_id(&multibyte), format!("x{}", "é".repeat(11)));
        assert_eq!(short_id("abc"), "abc");
    }
}
