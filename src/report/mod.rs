//! Reports: plotters charts and tera HTML pages built from study results.
//!
//! The study step fills a [`ReportInput`] (a dataset card, sections each
//! holding a chart drawn by [`charts`] and/or a [`Table`], findings, and the
//! results DataFrame) and calls [`write_report`]; the report job that runs
//! the studies and fills it is in [`crate::app`]. This layer only presents:
//! it formats numbers ([`number`]) and draws what it is given; every value it
//! shows was computed upstream.
//!
//! ```no_run
//! use polars::prelude::*;
//! use tiedae::report::charts::{LineChart, Series, line_chart};
//! use tiedae::report::{DatasetCard, ReportInput, Section, write_report};
//!
//! # fn main() -> tiedae::Result<()> {
//! let chart = line_chart(&LineChart {
//!     title: "Reconstruction error vs latent size".into(),
//!     x_label: "latent size k".into(),
//!     y_label: "test MSE".into(),
//!     log_x: true,
//!     log_y: true,
//!     series: vec![
//!         Series::new("PCA", vec![(2.0, 0.051), (8.0, 0.029), (32.0, 0.011)]),
//!         Series::new("linear tied", vec![(2.0, 0.052), (8.0, 0.029), (32.0, 0.011)]),
//!     ],
//! })?;
//! let results = df!("model" => ["pca", "linear tied"], "test_mse" => [0.011, 0.011])?;
//! let input = ReportInput {
//!     dataset: DatasetCard {
//!         name: "digits".into(),
//!         n_samples: 1797,
//!         n_features: 64,
//!         source: "UCI optical digits, CC BY 4.0".into(),
//!         ..Default::default()
//!     },
//!     sections: vec![Section::with_chart(
//!         "mse-vs-latent",
//!         "Error vs latent size",
//!         "The tied curve lies on PCA's: the Eckart–Young bound is reached.",
//!         chart,
//!     )],
//!     findings: vec!["linear tied reached 1.00x PCA MSE at k = 32.".into()],
//!     results,
//!     provenance: None,
//! };
//! let page = write_report(&input, std::path::Path::new("reports"))?;
//! println!("{}", page.display());
//! # Ok(())
//! # }
//! ```

pub mod card;
pub mod charts;
pub mod details;
pub mod figures;
pub mod grouping;
mod input;
/// Number formatting lives in the leaf [`crate::number`] (studies format
/// their findings with it too); re-exported here for the report's users.
pub use crate::number;
pub mod sections;
pub mod table;
mod template;
mod writer;

pub use charts::Svg;
pub use input::{DatasetCard, Panel, ReportInput, Section, report_dir_name};
pub use table::Table;
pub use writer::{
    PAGE_FILE, RESULTS_CSV, RESULTS_PARQUET, read_provenance, write_index, write_report,
};
