//! The `study` binary's commands: running studies at cluster scale.
//!
//! Studies are deterministic grids of cells, so they spread over a batch
//! scheduler's job array (SLURM, PBS, LSF) without a scheduler of our own:
//! each array task runs one shard ([`run()`]: `--shard I/N`, or the shard
//! the job-array variables give, see [`shard`]), the cells it finishes are
//! cached as they finish, and its results and manifest are written
//! atomically when it ends. [`merge_shards`] joins the shards, refusing
//! missing, duplicate or foreign ones; [`status()`] counts cells done per
//! shard; [`list()`] and [`show()`] present the built-in studies, [`show()`]
//! as a study file ([`crate::study::file`]) to edit and run.
//!
//! SIGINT and SIGTERM (what SLURM sends at the time limit) raise the flag
//! [`super::signals::stop_on_signals`] returns: no new cell starts, training cells stop at
//! their next epoch end without being cached, and the run fails with
//! [`Error::StudyInterrupted`]. Rerunning the same command continues from
//! the cache.

pub mod merge;
pub mod run;
pub mod shard;
pub mod source;
pub mod status;

pub use merge::{MergeOutcome, merge_shards};
pub use run::{RunOutcome, RunRequest};
pub use source::{BuiltinOptions, StudySource};
pub use status::{StudyStatus, status};

use crate::error::Result;
use crate::study::builtin::REGISTRY;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

/// Runs one shard of a study (see [`run::run`]).
///
/// # Errors
/// As [`run::run`].
pub fn run(
    req: &RunRequest,
    env: &dyn Fn(&str) -> Option<String>,
    interrupt: Arc<AtomicBool>,
    say: &mut dyn FnMut(&str),
) -> Result<RunOutcome> {
    run::run(req, env, interrupt, say)
}

/// One line of `study list`: a built-in study, its cell count on the
/// dataset (or why it cannot run as a sharded study) and its claim.
#[derive(Clone, Debug)]
pub struct Listed {
    /// The study's name.
    pub name: &'static str,
    /// Its cells, or why it has none to run.
    pub cells: std::result::Result<usize, String>,
    /// The claim it tests.
    pub claim: &'static str,
}

/// The built-in studies with their cell counts on `opts.dataset`.
///
/// # Errors
/// An unknown or unreadable dataset (a study that cannot run is listed
/// with its reason instead).
pub fn list(opts: &BuiltinOptions) -> Result<Vec<Listed>> {
    // Read the data once up front, so a bad --dataset is one error.
    crate::app::job::ReportJob {
        dataset: opts.dataset.clone(),
        ..Default::default()
    }
    .load_dataset()?;
    Ok(REGISTRY
        .iter()
        .map(|b| Listed {
            name: b.name,
            cells: source::load_builtin(b, opts)
                .and_then(|l| l.study.cells().map(|c| c.len()))
                .map_err(|e| e.to_string()),
            claim: b.claim,
        })
        .collect())
}

/// The study `name` (a built-in, or a study file) as study-file TOML,
/// with a header comment saying where it came from.
///
/// # Errors
/// An unknown name; a study that is not one plain study.
pub fn show(name: &str, opts: &BuiltinOptions, dataset_given: bool) -> Result<String> {
    let source = StudySource::parse(name)?;
    let mut loaded = source.load(opts, dataset_given)?;
    if let StudySource::File(_) = source {
        // Every key, so the defaults a file leaves out are visible.
        let datasets = loaded.file.datasets.clone();
        loaded.file = crate::study::StudyFile::from_study(&loaded.study, datasets)?;
    }
    let toml = source::study_toml(&loaded)?;
    let origin = match source {
        StudySource::Builtin(b) => format!(
            "# The built-in study {} on {} ({} preset): {}.\n",
            b.name,
            opts.dataset,
            if opts.quick { "quick" } else { "full" },
            b.claim
        ),
        StudySource::File(p) => format!("# {} with every key written out.\n", p.display()),
    };
    Ok(format!(
        "{origin}# Run it with `study run FILE.toml`; {} cells.\n\n{toml}",
        loaded.study.cells()?.len()
    ))
}
