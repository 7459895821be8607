//! `study run`: one shard of a study, into an output directory laid out so
//! that the other commands find everything by name.
//!
//! ```text
//! OUT/study.toml                       the study as run (absolute paths)
//! OUT/run.json                         study id, shard count, cache directory
//! OUT/NAME-shard-I-of-N.parquet|csv    shard I's results (NAME.parquet unsharded)
//! OUT/NAME-shard-I-of-N.manifest.json  ... and its manifest, written last
//! OUT/cache/                           finished cells (default --cache)
//! ```
//!
//! Everything that can be wrong with the request is checked before the
//! first file is written: the shard, the study (file errors, sizes against
//! the data), the thread count, and an output directory holding another
//! study or another shard count. Every file is written atomically.

use super::shard::{Shard, ShardOrigin, resolve_shard};
use super::source::{BuiltinOptions, LoadedStudy, StudySource, study_toml};
use crate::atomic::{write_atomic, write_bytes_atomic};
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

/// Format tag of `run.json`.
const RUN_FORMAT: &str = "tiedae-study-run";
/// The record of a run in its output directory.
pub const RUN_RECORD: &str = "run.json";
/// The study as run, in its output directory.
pub const STUDY_COPY: &str = "study.toml";

/// What `run.json` holds: enough for `study status` and for refusing a
/// second study, or another shard count, in the same directory.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunRecord {
    /// Always `"tiedae-study-run"`.
    pub format: String,
    /// The study's name.
    pub study: String,
    /// Its id ([`crate::study::Study::study_id`]).
    pub study_id: String,
    /// Number of shards the study is split into.
    pub shards: usize,
    /// The cell cache directory (absolute).
    pub cache: PathBuf,
}

/// One `study run` request, as the flags give it.
#[derive(Clone, Debug)]
pub struct RunRequest {
    /// The study file or built-in study.
    pub source: StudySource,
    /// How a built-in study is sized (`--dataset`, `--quick`).
    pub builtin: BuiltinOptions,
    /// Whether `--dataset` was given.
    pub dataset_given: bool,
    /// `--shard I/N`.
    pub shard: Option<Shard>,
    /// `--cache DIR` (default `OUT/cache`).
    pub cache: Option<PathBuf>,
    /// `--out DIR` (default `studies/NAME`).
    pub out: Option<PathBuf>,
    /// `--threads N` (default: rayon's, one per core).
    pub threads: Option<usize>,
}

/// A run's output: where its results went and how many cells they hold.
#[derive(Clone, Debug)]
pub struct RunOutcome {
    /// The Parquet results file (a CSV twin and a manifest lie beside it).
    pub results: PathBuf,
    /// Cells in the file.
    pub cells: usize,
}

/// The stem of shard `shard`'s results in `out`: `NAME-shard-I-of-N`
/// (`NAME` for the whole study), with the name made safe for a file name
/// (no dots: the manifest's name replaces the stem's extension).
pub fn results_stem(out: &Path, name: &str, shard: Shard) -> PathBuf {
    let safe: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if shard == (0, 1) {
        out.join(safe)
    } else {
        out.join(format!("{safe}-shard-{}-of-{}", shard.0, shard.1))
    }
}

/// Reads `run.json` in `dir`, if there is one.
///
/// # Errors
/// [`Error::Io`] for an unreadable file, [`Error::Format`] naming it for
/// anything but a run record.
pub fn read_run_record(dir: &Path) -> Result<Option<RunRecord>> {
    let path = dir.join(RUN_RECORD);
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io(&path, e)),
    };
    let record: RunRecord = serde_json::from_slice(&bytes).map_err(|e| {
        Error::format(
            &path,
            format!("line {}, column {}", e.line(), e.column()),
            format!("not a study run record: {e}"),
        )
    })?;
    if record.format != RUN_FORMAT {
        return Err(Error::format(&path, "format", "not a study run record"));
    }
    Ok(Some(record))
}

/// An absolute form of `p` (relative to the working directory), without
/// requiring it to exist.
fn absolute(p: &Path) -> Result<PathBuf> {
    std::path::absolute(p).map_err(|e| Error::io(p, e))
}

/// Runs one shard of the request's study. `env` reads environment
/// variables (the job array's); `interrupt` stops the run between cells;
/// `say` receives the lines to print (the shard and where things go).
///
/// # Errors
/// Any bad input, before anything is written; [`Error::StudyInterrupted`]
/// when `interrupt` was raised (finished cells stay cached, no results
/// file is written); a failing cell's error.
pub fn run(
    req: &RunRequest,
    env: &dyn Fn(&str) -> Option<String>,
    interrupt: Arc<AtomicBool>,
    say: &mut dyn FnMut(&str),
) -> Result<RunOutcome> {
    let (shard, origin) = resolve_shard(req.shard, env)?;
    if req.threads == Some(0) {
        return Err(Error::config("--threads", "must be at least 1"));
    }
    let loaded = req.source.load(&req.builtin, req.dataset_given)?;
    let LoadedStudy { mut study, .. } = loaded.clone();
    let out = req
        .out
        .clone()
        .unwrap_or_else(|| Path::new("studies").join(&study.name));
    let out = absolute(&out)?;
    let cache = absolute(&req.cache.clone().unwrap_or_else(|| out.join("cache")))?;
    let record = RunRecord {
        format: RUN_FORMAT.into(),
        study: study.name.clone(),
        study_id: study.study_id()?,
        shards: shard.1,
        cache: cache.clone(),
    };
    if let Some(old) = read_run_record(&out)? {
        check_same_run(&old, &record, &out)?;
    }
    let toml = study_toml(&loaded)?;
    if shard != (0, 1) {
        study = study.shard(shard.0, shard.1)?;
    }
    study = study.cache_dir(&cache).progress(true).interrupt(interrupt);
    let cells = study.selected_cells()?.len();
    let total = study.cells()?.len();
    let stem = results_stem(&out, &study.name, shard);
    let from = match origin {
        ShardOrigin::Flag => " (--shard)".to_string(),
        ShardOrigin::JobArray(vars) => format!(" (from {vars})"),
        ShardOrigin::Whole => " (the whole study)".to_string(),
    };
    say(&format!(
        "study {}: shard {}/{}{from}: {cells} of {total} cells; cache {}",
        study.name,
        shard.0,
        shard.1,
        cache.display()
    ));
    let pool = match req.threads {
        Some(n) => Some(
            rayon::ThreadPoolBuilder::new()
                .num_threads(n)
                .build()
                .map_err(|e| {
                    Error::config("--threads", format!("cannot start {n} threads: {e}"))
                })?,
        ),
        None => None,
    };
    std::fs::create_dir_all(&out).map_err(|e| Error::io(&out, e))?;
    write_bytes_atomic(&out.join(STUDY_COPY), toml.as_bytes())?;
    write_atomic(&out.join(RUN_RECORD), |w| {
        serde_json::to_writer_pretty(&mut *w, &record)
            .map_err(|e| Error::InvalidData(format!("cannot serialize a run record: {e}")))
    })?;
    let run = || study.run_to_files(&stem);
    match &pool {
        Some(pool) => pool.install(run)?,
        None => run()?,
    };
    Ok(RunOutcome {
        results: stem.with_extension("parquet"),
        cells,
    })
}

/// Refuses a run into a directory that holds another study's run, or the
/// same study split another way: their shard files could not be merged.
fn check_same_run(old: &RunRecord, new: &RunRecord, out: &Path) -> Result<()> {
    if old.study_id != new.study_id {
        return Err(Error::config(
            "--out",
            format!(
                "{} holds a run of another study ({:?}, id {}); use another --out",
                out.display(),
                old.study,
                &old.study_id[..old.study_id.len().min(12)]
            ),
        ));
    }
    if old.shards != new.shards {
        return Err(Error::config(
            "--shard",
            format!(
                "{} holds this study split into {} shards, not {}; use another --out",
                out.display(),
                old.shards,
                new.shards
            ),
        ));
    }
    Ok(())
}
