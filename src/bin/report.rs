//! `report`: writes an HTML report comparing tied autoencoders with PCA.
//!
//! A thin shell over [`tiedae::app::job`]: it parses flags, runs the job
//! and prints the path of the report page as the last line of stdout.
//! Progress goes to stderr. Any failure prints one line `error: ...` on
//! stderr and exits with status 1 (2 for unusable flags), leaving no
//! half-written report behind. SIGINT and SIGTERM stop the run between
//! study cells with status 130; finished cells stay cached under
//! `OUT/.cache/`, and the same command continues from them.

use clap::Parser;
use std::path::PathBuf;
use std::process::ExitCode;
use tiedae::app::JobProgress;
use tiedae::app::cli::{fail, parse};
use tiedae::app::job::{ReportJob, parse_image_shape, parse_latent_list};
use tiedae::app::signals::{INTERRUPTED_EXIT, stop_on_signals};

/// `--version`: the crate version and the git revision it was built from
/// (`unknown` outside a checkout; see build.rs), so a report can be traced
/// to its code.
const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (git ",
    env!("TIEDAE_GIT_REVISION"),
    ")"
);

/// Compare tied-weight autoencoders with PCA on a dataset and write an HTML
/// report to OUT/<dataset>/index.html (plus OUT/index.html listing all
/// reports in OUT).
#[derive(Debug, Parser)]
#[command(name = "report", version = VERSION)]
struct Cli {
    /// `digits`, `mnist10k`, or a path to a .csv, .parquet, .npy or
    /// .safetensors file (FILE.safetensors:NAME for one of its tensors).
    #[arg(long, default_value = tiedae::app::job::DEFAULT_DATASET)]
    dataset: String,
    /// CSV/Parquet: the column holding integer class labels.
    #[arg(long, value_name = "NAME")]
    label_column: Option<String>,
    /// CSV/Parquet: each row is a row-major image of HEIGHTxWIDTH pixels.
    #[arg(long, value_name = "HxW")]
    image_shape: Option<String>,
    /// Latent sizes to compare, comma-separated (default: the study's).
    #[arg(long, value_name = "K,K,...")]
    latent: Option<String>,
    /// Training epochs per model (default: the study's).
    #[arg(long, value_name = "N")]
    epochs: Option<usize>,
    /// Seeds per configuration (default: the study's).
    #[arg(long, value_name = "N")]
    seeds: Option<usize>,
    /// A small, fast run: fewer sizes, epochs and seeds.
    #[arg(long)]
    quick: bool,
    /// Directory holding the reports.
    #[arg(long, value_name = "DIR", default_value = tiedae::app::job::DEFAULT_OUT_DIR)]
    out: PathBuf,
    // The help lists the registry's names (a doc comment cannot).
    #[arg(long, value_name = "NAME", help = study_help())]
    study: Option<String>,
    /// Draw the report from a finished results file (.parquet or .csv, e.g.
    /// `study merge`'s output) instead of training; --dataset names its data.
    #[arg(long, value_name = "FILE")]
    results: Option<PathBuf>,
}

/// `--study`'s help: what it does and the names it takes.
fn study_help() -> String {
    let names: Vec<&str> = tiedae::study::builtin::REGISTRY
        .iter()
        .map(|b| b.name)
        .collect();
    format!(
        "A built-in study to run instead of the default comparison: {}",
        names.join(", ")
    )
}

impl Cli {
    fn into_job(self) -> tiedae::Result<ReportJob> {
        Ok(ReportJob {
            dataset: self.dataset,
            label_column: self.label_column,
            image_shape: self
                .image_shape
                .as_deref()
                .map(parse_image_shape)
                .transpose()?,
            latent: self.latent.as_deref().map(parse_latent_list).transpose()?,
            epochs: self.epochs,
            seeds: self.seeds,
            quick: self.quick,
            out: self.out,
            study: self.study,
            results: self.results,
        })
    }
}

fn main() -> ExitCode {
    let cli: Cli = match parse() {
        Ok(cli) => cli,
        Err(code) => return code,
    };
    let job = match cli.into_job() {
        Ok(job) => job,
        Err(e) => return fail(&e.to_string(), 2),
    };
    let stop = match stop_on_signals() {
        Ok(stop) => stop,
        Err(e) => return fail(&e.to_string(), 1),
    };
    let progress = JobProgress::stderr();
    match job.run_until(&progress, Some(stop)) {
        Ok(page) => {
            println!("{}", page.display());
            ExitCode::SUCCESS
        }
        Err(e @ tiedae::Error::StudyInterrupted { .. }) => fail(&e.to_string(), INTERRUPTED_EXIT),
        Err(e) => fail(&e.to_string(), 1),
    }
}
