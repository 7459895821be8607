//! `study`: runs tied-vs-PCA studies at cluster scale, a thin shell over
//! [`tiedae::app::study_cmd`].
//!
//! `study run` runs one shard of a study file or built-in study (from
//! `--shard I/N` or a SLURM job array's variables) and prints the results
//! file as the last line of stdout; `merge`, `status`, `list` and `show`
//! work on what runs leave. Progress goes to stderr. Any failure prints one
//! line `error: ...` on stderr and exits with status 1 (2 for unusable
//! flags, 130 for a run stopped by SIGINT/SIGTERM, whose finished cells
//! stay cached), writing no results.

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;
use tiedae::app::cli::{fail, parse};
use tiedae::app::study_cmd::{self, BuiltinOptions, RunRequest, StudySource};

/// `--version`: the crate version and the git revision it was built from.
const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (git ",
    env!("TIEDAE_GIT_REVISION"),
    ")"
);

/// Run tied-autoencoder vs PCA studies: one shard per batch-scheduler task,
/// then merge.
#[derive(Debug, Parser)]
#[command(name = "study", version = VERSION)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a study (one shard of it): a .toml study file or a built-in name.
    Run {
        /// A .toml study file, or a built-in study (see `study list`).
        study: String,
        /// Run shard I of N (0 <= I < N). Default: from SLURM_ARRAY_TASK_ID,
        /// _MIN and _COUNT when set, else the whole study.
        #[arg(long, value_name = "I/N")]
        shard: Option<String>,
        /// Cache of finished cells, shared by the shards (default OUT/cache).
        #[arg(long, value_name = "DIR")]
        cache: Option<PathBuf>,
        /// Output directory (default studies/NAME).
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
        /// Worker threads (default: one per core).
        #[arg(long, value_name = "N")]
        threads: Option<usize>,
        /// Built-in studies: `digits`, `mnist10k`, or a .csv/.parquet/.npy/
        /// .safetensors file (FILE.safetensors:NAME for one of its tensors).
        #[arg(long, value_name = "NAME")]
        dataset: Option<String>,
        /// Built-in studies: the quick preset.
        #[arg(long)]
        quick: bool,
    },
    /// Merge shard results (files, or directories of them) into one file.
    Merge {
        /// Shard results files or run directories.
        #[arg(required = true, value_name = "DIR|FILE")]
        inputs: Vec<PathBuf>,
        /// The merged .parquet or .csv file.
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
    /// List the built-in studies with their cell counts on a dataset.
    List {
        /// `digits`, `mnist10k`, or a .csv/.parquet/.npy/.safetensors file.
        #[arg(long, value_name = "NAME")]
        dataset: Option<String>,
        /// The quick preset.
        #[arg(long)]
        quick: bool,
    },
    /// Cells done and missing per shard of a run directory.
    Status {
        /// An output directory of `study run`.
        dir: PathBuf,
    },
    /// Print a built-in study as a study file (to edit and run).
    Show {
        /// A built-in study (or a .toml file, shown with every key).
        name: String,
        /// `digits`, `mnist10k`, or a .csv/.parquet/.npy/.safetensors file.
        #[arg(long, value_name = "NAME")]
        dataset: Option<String>,
        /// The quick preset.
        #[arg(long)]
        quick: bool,
        /// Write the file here (atomically) instead of to stdout.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
}

fn builtin_options(dataset: Option<String>, quick: bool) -> BuiltinOptions {
    BuiltinOptions {
        dataset: dataset.unwrap_or_else(|| BuiltinOptions::default().dataset),
        quick,
    }
}

/// Runs a parsed command; `Err((message, code))` on failure.
fn execute(command: Command) -> Result<(), (String, u8)> {
    let usage = |e: tiedae::Error| (e.to_string(), 2);
    let failed = |e: tiedae::Error| {
        let code = if matches!(e, tiedae::Error::StudyInterrupted { .. }) {
            130
        } else {
            1
        };
        (e.to_string(), code)
    };
    match command {
        Command::Run {
            study,
            shard,
            cache,
            out,
            threads,
            dataset,
            quick,
        } => {
            // First, so a signal during loading is seen too.
            let stop = tiedae::app::signals::stop_on_signals().map_err(failed)?;
            let req = RunRequest {
                source: StudySource::parse(&study).map_err(usage)?,
                dataset_given: dataset.is_some(),
                builtin: builtin_options(dataset, quick),
                shard: shard
                    .as_deref()
                    .map(study_cmd::shard::parse_shard)
                    .transpose()
                    .map_err(usage)?,
                cache,
                out,
                threads,
            };
            let env = |k: &str| std::env::var(k).ok();
            let outcome = study_cmd::run(&req, &env, stop, &mut |line| eprintln!("{line}"))
                .map_err(failed)?;
            eprintln!("{} cells written", outcome.cells);
            println!("{}", outcome.results.display());
        }
        Command::Merge { inputs, out } => {
            let m = study_cmd::merge_shards(&inputs, &out).map_err(failed)?;
            eprintln!(
                "merged {} shard files of study {:?}: {} cells",
                m.shards, m.study, m.cells
            );
            println!("{}", m.out.display());
        }
        Command::List { dataset, quick } => {
            let opts = builtin_options(dataset, quick);
            for l in study_cmd::list(&opts).map_err(failed)? {
                match l.cells {
                    Ok(n) => println!("{:<14} {n:>6} cells  {}", l.name, l.claim),
                    Err(why) => println!("{:<14}      -        {} ({why})", l.name, l.claim),
                }
            }
        }
        Command::Status { dir } => {
            for line in study_cmd::status(&dir).map_err(failed)?.lines() {
                println!("{line}");
            }
        }
        Command::Show {
            name,
            dataset,
            quick,
            out,
        } => {
            let given = dataset.is_some();
            let text =
                study_cmd::show(&name, &builtin_options(dataset, quick), given).map_err(failed)?;
            match out {
                Some(path) => {
                    tiedae::atomic::write_bytes_atomic(&path, text.as_bytes()).map_err(failed)?;
                    println!("{}", path.display());
                }
                None => print!("{text}"),
            }
        }
    }
    Ok(())
}

fn main() -> ExitCode {
    let cli: Cli = match parse() {
        Ok(cli) => cli,
        Err(code) => return code,
    };
    match execute(cli.command) {
        Ok(()) => ExitCode::SUCCESS,
        Err((message, code)) => fail(&message, code),
    }
}
