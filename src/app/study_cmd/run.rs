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
//! study or another shard count. Every file is written atomically, and
//! `run.json` is created only if absent, so that of two different studies
//! racing into one new directory one runs and the other is refused.
//! Every count and id read back from `run.json` is checked before use.

use super::shard::{Shard, ShardOrigin, resolve_shard};
use super::source::{BuiltinOptions, LoadedStudy, StudySource, study_toml};
use crate::atomic::{create_atomic, remove_stale_temps, write_atomic, write_bytes_atomic};
use crate::data::file::read_regular;
use crate::error::{Error, Result};
use crate::study::limits::{MAX_SHARDS, check_name};
use crate::study::{check_study_id, short_id};
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

/// Reads `run.json` in `dir`, if there is one, checked: the study's name
/// is a name, its id a study id, and its shard count between 1 and
/// [`MAX_SHARDS`] (other commands divide by it and keep a line per shard).
///
/// # Errors
/// [`Error::Io`] for an unreadable file or one that is not a regular file,
/// [`Error::Format`] naming it (and the field) for anything but a run record.
pub fn read_run_record(dir: &Path) -> Result<Option<RunRecord>> {
    let path = dir.join(RUN_RECORD);
    let bytes = match read_regular(&path) {
        Ok(b) => b,
        Err(Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
            return Ok(None);
        }
        Err(e) => return Err(e),
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
    check_name(&record.study).map_err(|e| Error::format(&path, "study", e.to_string()))?;
    check_study_id(&path, &record.study_id)?;
    if record.shards == 0 || record.shards > MAX_SHARDS {
        return Err(Error::format(
            &path,
            "shards",
            format!("{} is not a shard count (1 to {MAX_SHARDS})", record.shards),
        ));
    }
    Ok(Some(record))
}

/// Writes `record` as JSON to `w`.
fn write_record(w: &mut dyn std::io::Write, record: &RunRecord) -> Result<()> {
    serde_json::to_writer_pretty(w, record)
        .map_err(|e| Error::InvalidData(format!("cannot serialize a run record: {e}")))
}

/// Records `record` as `out`'s run: rewrites `run.json` (atomically) if it
/// holds the same study split the same way, and creates it if there is
/// none. Creating refuses to replace a file another run created since it
/// was last read, and then checks this run against that one, as if it had
/// been there from the start: two different studies racing into one new
/// directory cannot both proceed.
///
/// # Errors
/// As [`check_same_run`]; write errors.
fn claim_run_record(out: &Path, record: &RunRecord) -> Result<()> {
    let path = out.join(RUN_RECORD);
    if let Some(old) = read_run_record(out)? {
        check_same_run(&old, record, out)?;
        return write_atomic(&path, |w| write_record(w, record));
    }
    if create_atomic(&path, |w| write_record(w, record))? {
        return Ok(());
    }
    match read_run_record(out)? {
        Some(old) => check_same_run(&old, record, out),
        None => Err(Error::InvalidData(format!(
            "{}: {RUN_RECORD} appeared and vanished while this run started; run it again",
            out.display()
        ))),
    }
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
    // Before anything this run writes: temporary files older than this
    // are a killed run's, never this one's.
    let started = std::time::SystemTime::now();
    let (shard, origin) = resolve_shard(req.shard, env)?;
    if req.threads == Some(0) {
        return Err(Error::config("--threads", "must be at least 1"));
    }
    let loaded = req.source.load(&req.builtin, req.dataset_given)?;
    let LoadedStudy { mut study, .. } = loaded.clone();
    // Values an f32 cell cannot hold stop the run here, before any cell
    // trains or is cached.
    crate::app::studies::check_f32_data(&study)?;
    let out = match &req.out {
        Some(out) => out.clone(),
        None => {
            // Checked again here, where it becomes a path: a name with a
            // separator or `..` would put the run outside `studies/`.
            check_name(&study.name)?;
            Path::new("studies").join(&study.name)
        }
    };
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
    // The record first: it is what claims the directory, and a run that
    // loses the claim must not have replaced the winner's study copy.
    claim_run_record(&out, &record)?;
    // What killed runs of this study left: their temporary files beside
    // the results and in the cache (shared caches included: a temporary
    // file there is no one's once old enough).
    remove_stale_temps(&out, started);
    remove_stale_temps(&cache, started);
    write_bytes_atomic(&out.join(STUDY_COPY), toml.as_bytes())?;
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
                short_id(&old.study_id)
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
