//! Studies: sweeps over models, latent sizes and seeds, collected into polars DataFrames.
//!
//! A [`Study`] crosses datasets, [`ModelKind`]s, latent sizes, seeds,
//! training-set sizes, bias modes, L2 and sparsity weights into cells
//! ([`Study::cells`], a fixed order), fits them in parallel with rayon,
//! caches finished cells on disk ([`Study::cache_dir`]) and returns one
//! polars DataFrame with a row per cell and exactly the columns of
//! [`COLUMNS`]. Every MSE is in the data's units on a held-out test split
//! drawn by the cell's seed, beside PCA's at the same latent size on the
//! same split.
//!
//! Named [`Variant`]s (a model spec with its training adjustments and the
//! extra metrics its cells record, [`MetricSet`]) are crossed like the
//! model kinds. A row's `model` is a [`ModelName`]: a kind's name or a
//! variant's, which says whether the model is PCA, linear or tied.
//!
//! [`Study::run_detailed`] adds what reports draw (histories, filters,
//! reconstructions, the fitted PCAs); [`Study::shard`],
//! [`Study::run_to_files`] and [`merge`] spread a sweep over machines; the
//! [`builtin`] studies test the claims of the tied-autoencoder notes and the
//! literature, each with a summary computed from its frame; [`aggregate`]
//! summarises rows per configuration (means and intervals over seeds, the
//! Pareto front) for the report to draw. A [`file`]
//! describes a study in TOML, for the `study` binary; [`limits`] states the
//! bounds its names and counts (and those of run records and manifests)
//! are checked against.

pub mod aggregate;
mod artifacts;
pub mod builtin;
mod cache;
mod cell;
mod dynamics_cell;
mod extra;
mod family;
pub mod figures;
pub mod file;
mod frame;
pub mod limits;
pub mod metrics;
mod model_name;
pub mod protocol;
mod run;
mod shard;
mod spec;
mod spectral;
mod theory_cell;
mod variant;
pub mod verdict;

pub use artifacts::{
    CellArtifacts, DetailedResults, Firing, RECONSTRUCTED_ROWS, SCATTER_LATENT, SCATTER_ROWS,
    SplitPca,
};
pub use cell::{CELL_VERSION, Cell, fingerprint as dataset_sha256};
pub use dynamics_cell::crossing_epochs;
pub use extra::{
    DENOISING_COLUMNS, DENOISING_LEVELS, DYNAMICS_COLUMNS, DYNAMICS_DIRECTIONS, DYNAMICS_THRESHOLD,
    DenoisingMetrics, DynamicsMetrics, MetricSet, SAE_COLUMNS, SaeMetrics, TEST_NOISE_STREAM,
    THEORY_COLUMNS, THEORY_MASKING, TheoryMetrics, append_extra_columns, append_sae_columns,
    corrupted_test_rows, corruption_at, read_extra_columns, read_sae_columns,
};
pub use figures::{Curves, Figures, Line, Tiles};
pub use file::{StudyFile, read_study_file};
pub use frame::{
    COLUMNS, ColumnType, KEY_COLUMNS, Row, check_schema, frame_to_rows, read_csv, read_parquet,
    read_results, rows_to_frame, schema, write_csv, write_parquet, write_results,
};
pub use model_name::ModelName;
pub use protocol::{
    MAX_CAP_GROWTH, MAX_LEARNING_RATE, MIN_LEARNING_RATE, Protocol, RateBracket, StopKind,
    probe_passes, rate_brackets, select_tuned,
};
pub use run::Search;
pub use shard::{ShardManifest, manifest_path, merge, read_manifest, write_manifest};
pub(crate) use shard::{check_study_id, short_id};
pub use spec::{CONV_LAYERS, ExtraRate, FamilyTraining, ModelKind, Precision, Study};
pub use spectral::{AlignmentStop, ResolvedRule, SpectralRule, VariantTraining};
pub use variant::{
    AuxKRule, DeadLatentsRule, L0Rule, Variant, entry_scale, per_latent, resolve_corruption,
};
