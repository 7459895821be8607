//! `study status`: cells done and missing per shard of a run directory,
//! from the cache (cells finished, even in a shard still running or
//! interrupted) and the manifests (shards whose results are written).

use super::run::{RunRecord, STUDY_COPY, read_run_record, results_stem};
use super::shard::Shard;
use crate::error::{Error, Result};
use crate::study::{manifest_path, read_study_file, short_id};
use std::path::{Path, PathBuf};

/// One shard's progress.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShardStatus {
    /// The shard.
    pub shard: Shard,
    /// Its cells in the cache.
    pub done: usize,
    /// Its cells.
    pub cells: usize,
    /// Its results file, if written (with its manifest).
    pub results: Option<PathBuf>,
}

/// A run directory's progress.
#[derive(Clone, Debug)]
pub struct StudyStatus {
    /// The run's record.
    pub record: RunRecord,
    /// Every shard, in order.
    pub shards: Vec<ShardStatus>,
}

impl StudyStatus {
    /// The lines `study status` prints: one per shard, then the total.
    pub fn lines(&self) -> Vec<String> {
        let r = &self.record;
        let mut lines = vec![format!(
            "study {} (id {}): {} shard{}, cache {}",
            r.study,
            short_id(&r.study_id),
            r.shards,
            if r.shards == 1 { "" } else { "s" },
            r.cache.display()
        )];
        for s in &self.shards {
            let state = match &s.results {
                Some(p) => format!("results written ({})", p.display()),
                None if s.done == s.cells => {
                    "all cells cached, results not written: run the shard again".into()
                }
                None if s.done == 0 => "not started".into(),
                None => "running or interrupted".into(),
            };
            lines.push(format!(
                "shard {}/{}: {} of {} cells done, {} missing; {state}",
                s.shard.0,
                s.shard.1,
                s.done,
                s.cells,
                s.cells - s.done
            ));
        }
        let done: usize = self.shards.iter().map(|s| s.done).sum();
        let cells: usize = self.shards.iter().map(|s| s.cells).sum();
        let written = self.shards.iter().filter(|s| s.results.is_some()).count();
        lines.push(format!(
            "total: {done} of {cells} cells done; {written} of {} shard results written",
            self.shards.len()
        ));
        lines
    }
}

/// The progress of the run in `dir` (an output directory of `study run`).
///
/// # Errors
/// [`Error::InvalidData`] for a directory without a run record; errors
/// reading the study copy or the cache.
pub fn status(dir: &Path) -> Result<StudyStatus> {
    let record = read_run_record(dir)?.ok_or_else(|| {
        Error::InvalidData(format!(
            "{}: no {} here; not an output directory of `study run`",
            dir.display(),
            super::run::RUN_RECORD
        ))
    })?;
    let (_, study) = read_study_file(&dir.join(STUDY_COPY))?;
    if study.study_id()? != record.study_id {
        return Err(Error::InvalidData(format!(
            "{}: {STUDY_COPY} no longer describes the study of {}",
            dir.display(),
            super::run::RUN_RECORD
        )));
    }
    // One pass over the whole study (each cell's key needs the data's
    // fingerprint); shard i holds the cells with index % n == i. The
    // record's shard count is at least 1 and bounded (read_run_record).
    let cached = study.cache_dir(&record.cache).cached_cells()?;
    let n = record.shards;
    let mut shards: Vec<ShardStatus> = (0..n)
        .map(|i| {
            let stem = results_stem(dir, &record.study, (i, n));
            let results = stem.with_extension("parquet");
            ShardStatus {
                shard: (i, n),
                done: 0,
                cells: 0,
                results: manifest_path(&stem).is_file().then_some(results),
            }
        })
        .collect();
    for (cell, done) in &cached {
        let s = &mut shards[cell.index % n];
        s.cells += 1;
        s.done += usize::from(*done);
    }
    Ok(StudyStatus { record, shards })
}
