//! The application: orchestration above [`crate::study`] and
//! [`crate::report`].
//!
//! A [`ReportJob`] is what the `report` binary was asked to do ([`job`]:
//! its flags and the checks made before anything trains). Running it
//! ([`ReportJob::run`]) loads the data, sizes and runs the study
//! ([`studies`]), fits the PCA the page's spectrum shows, and hands the
//! results to the report layer, which only presents them. [`JobProgress`]
//! prints the job's stages and study cells on stderr. [`study_cmd`] holds
//! the `study` binary's commands (sharded runs, merge, status);
//! [`signals`] turns SIGINT and SIGTERM into a clean stop for both.
//!
//! ```no_run
//! use tiedae::app::{JobProgress, ReportJob};
//!
//! # fn main() -> tiedae::Result<()> {
//! let job = ReportJob {
//!     quick: true,
//!     ..Default::default()
//! };
//! let page = job.run(&JobProgress::silent())?;
//! println!("{}", page.display());
//! # Ok(())
//! # }
//! ```

pub mod cli;
pub mod job;
pub mod progress;
mod report_job;
pub mod signals;
pub mod studies;
pub mod study_cmd;

pub use job::ReportJob;
pub use progress::JobProgress;
