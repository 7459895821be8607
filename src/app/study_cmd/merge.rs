//! `study merge`: the shard files of one study into one results file,
//! refusing shards that are missing, duplicated or from another study, and
//! naming them.
//!
//! The shard-level checks here name files and shard numbers (what a user
//! fixes: rerun shard 7, delete a stray file); the library's [`merge`] then
//! proves, cell by cell, that the files hold exactly the study's cells.
//! The merged file gets a manifest as a whole-study run would, so it is
//! itself a valid shard file of one shard.

use crate::error::{Error, Result};
use crate::study::{
    ShardManifest, manifest_path, merge, read_manifest, short_id, write_csv, write_manifest,
    write_parquet,
};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// What a merge wrote.
#[derive(Clone, Debug)]
pub struct MergeOutcome {
    /// The merged results file.
    pub out: PathBuf,
    /// The study's name.
    pub study: String,
    /// Shard files merged.
    pub shards: usize,
    /// Cells in the merged file.
    pub cells: usize,
}

/// The results files `inputs` name: each file itself, each directory's
/// shard files (one per `*.manifest.json`, its `.parquet` or else its
/// `.csv`), leaving out `out` itself.
fn shard_files(inputs: &[PathBuf], out: &Path) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for input in inputs {
        if input.is_dir() {
            let mut found = Vec::new();
            let entries = std::fs::read_dir(input).map_err(|e| Error::io(input, e))?;
            for entry in entries {
                let path = entry.map_err(|e| Error::io(input, e))?.path();
                let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
                let Some(stem) = name.strip_suffix(".manifest.json") else {
                    continue;
                };
                let pq = input.join(format!("{stem}.parquet"));
                let results = if pq.is_file() {
                    pq
                } else {
                    input.join(format!("{stem}.csv"))
                };
                if manifest_path(&results) != manifest_path(out) {
                    found.push(results);
                }
            }
            if found.is_empty() {
                return Err(Error::InvalidData(format!(
                    "merge: {} holds no shard files (*.manifest.json)",
                    input.display()
                )));
            }
            found.sort();
            files.extend(found);
        } else if input.exists() {
            files.push(input.clone());
        } else {
            return Err(Error::io(
                input,
                std::io::Error::new(std::io::ErrorKind::NotFound, "no such shard file"),
            ));
        }
    }
    Ok(files)
}

/// The file name of `p`, for messages.
fn name(p: &Path) -> String {
    p.display().to_string()
}

/// Checks the shard numbers of `manifests`: one study, one shard count,
/// each shard once. (Each manifest's shard `i` of `n` was checked on
/// reading: `0 <= i < n <=` [`crate::study::limits::MAX_SHARDS`].)
fn check_shards(manifests: &[(PathBuf, ShardManifest)]) -> Result<()> {
    let (first_path, first) = &manifests[0];
    for (path, m) in &manifests[1..] {
        if m.study_id != first.study_id {
            return Err(Error::InvalidData(format!(
                "merge: {} is a shard of study {:?} (id {}), not of {:?} (id {}) as {} is",
                name(path),
                m.study,
                short_id(&m.study_id),
                first.study,
                short_id(&first.study_id),
                name(first_path)
            )));
        }
        if m.shard.1 != first.shard.1 {
            return Err(Error::InvalidData(format!(
                "merge: {} is shard {}/{} but {} is shard {}/{}: one study split two ways",
                name(path),
                m.shard.0,
                m.shard.1,
                name(first_path),
                first.shard.0,
                first.shard.1
            )));
        }
    }
    let n = first.shard.1;
    let mut by_index: BTreeMap<usize, &Path> = BTreeMap::new();
    for (path, m) in manifests {
        if let Some(other) = by_index.insert(m.shard.0, path) {
            return Err(Error::InvalidData(format!(
                "merge: shard {}/{n} is in both {} and {}",
                m.shard.0,
                name(other),
                name(path)
            )));
        }
    }
    // Every index held is below n and held once: count the missing ones,
    // and name the first few.
    let missing = n.saturating_sub(by_index.len());
    if missing > 0 {
        let shown: Vec<String> = (0..n)
            .filter(|i| !by_index.contains_key(i))
            .take(10)
            .map(|i| format!("{i}/{n}"))
            .collect();
        return Err(Error::InvalidData(format!(
            "merge: study {:?} is missing shard{} {}{} of {n} (run them, then merge again)",
            first.study,
            if missing == 1 { "" } else { "s" },
            shown.join(", "),
            if missing > shown.len() {
                format!(", ... ({missing} in all)")
            } else {
                String::new()
            }
        )));
    }
    Ok(())
}

/// Merges the shard files `inputs` (files, or directories of them) into
/// `out` (`.parquet` or `.csv`), with a manifest beside it.
///
/// # Errors
/// [`Error::Config`] for an `out` of another kind; [`Error::InvalidData`]
/// naming the files for missing, duplicate or foreign shards, or cells
/// that do not add up; nothing is written then.
pub fn merge_shards(inputs: &[PathBuf], out: &Path) -> Result<MergeOutcome> {
    let ext = out.extension().and_then(|e| e.to_str()).unwrap_or("");
    if ext != "parquet" && ext != "csv" {
        return Err(Error::config(
            "--out",
            format!("{}: name a .parquet or .csv file", out.display()),
        ));
    }
    if inputs.is_empty() {
        return Err(Error::InvalidData("merge: no shard files given".into()));
    }
    let files = shard_files(inputs, out)?;
    let manifests: Vec<(PathBuf, ShardManifest)> = files
        .iter()
        .map(|f| Ok((f.clone(), read_manifest(f)?)))
        .collect::<Result<_>>()?;
    check_shards(&manifests)?;
    let df = merge(&files)?;
    let first = &manifests[0].1;
    let mut cells: Vec<(usize, String)> = manifests
        .iter()
        .flat_map(|(_, m)| m.cells.iter().cloned())
        .collect();
    cells.sort_by_key(|c| c.0);
    let manifest = ShardManifest {
        format: first.format.clone(),
        study: first.study.clone(),
        study_id: first.study_id.clone(),
        total_cells: first.total_cells,
        shard: (0, 1),
        cells,
    };
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    }
    if ext == "parquet" {
        write_parquet(&df, out)?;
    } else {
        write_csv(&df, out)?;
    }
    write_manifest(out, &manifest)?;
    Ok(MergeOutcome {
        out: out.to_path_buf(),
        study: manifest.study,
        shards: manifests.len(),
        cells: df.height(),
    })
}
