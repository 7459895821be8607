//! Built-in studies: each tests one claim of the tied-autoencoder notes or
//! the literature, returns its DataFrame, and states its finding from that
//! frame with a `summary` function (numbers computed, never written in).
//!
//! [`REGISTRY`] lists them, in study order, with their claims: the report's
//! `--study` names, the default comparison and `examples/run_studies.rs` are
//! all read from it. A new study is one module here and one registry entry.
//!
//! Frames start with the results columns ([`super::COLUMNS`]); studies that
//! need more append their own columns after them (documented per study),
//! except [`param_counts`], which trains nothing and has its own table.

pub mod bias_modes;
pub mod claims;
pub mod convergence;
pub mod denoising;
pub mod equal_budget;
pub mod l2_directions;
pub mod linear_pca;
pub mod overfitting;
pub mod param_counts;
pub mod refinetti_goldt;
pub mod sae;
pub mod sparse;
pub mod theory;

use super::artifacts::DetailedResults;
use super::figures::Figures;
use super::frame::{Row, frame_to_rows};
use super::protocol::Protocol;
use super::spec::{ModelKind, Precision, Study};
use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::train::{LbfgsConfig, Optimizer, TrainConfig};
use polars::prelude::DataFrame;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

/// Builds a built-in study, to run in detail (cells, histories, filters).
pub type StudyFn = fn(&Dataset, &Preset, &RunOptions) -> Result<Study>;
/// Runs a built-in study to its results frame and the data of its charts.
pub type FrameFn = fn(&Dataset, &Preset, &RunOptions) -> Result<Output>;
/// Builds a table with its own columns (and the data of its charts).
pub type TableFn = fn(&Dataset, &Preset) -> Result<Output>;
/// States a study's findings from its frame.
pub type SummaryFn = fn(&DataFrame) -> Result<Vec<String>>;
/// Draws a detailed study's own charts from its detailed results.
pub type ChartsFn = fn(&DetailedResults) -> Result<Figures>;
/// Turns a study's frame into its claims table ([`claims`]).
pub type ClaimsFn = fn(&DataFrame) -> Result<DataFrame>;

/// A detailed study's frame with the charts `charts` draws from its
/// detailed results (what a registry entry with [`Builtin::charts`]
/// gives the report).
///
/// # Errors
/// The study's errors and the charts'.
pub(crate) fn detailed_output(study: Study, charts: ChartsFn) -> Result<Output> {
    let details = study.run_detailed()?;
    let figures = charts(&details)?;
    Ok(Output {
        frame: details.results,
        figures,
    })
}

/// How a built-in study produces its results.
#[derive(Clone, Copy, Debug)]
pub enum Source {
    /// A plain study: it can run in detail, so every chart can be drawn.
    Detailed(StudyFn),
    /// A study that post-processes its frame (extra columns its summary
    /// reads): only the frame is available.
    Frame(FrameFn),
    /// A table with its own columns rather than the results columns: one
    /// that trains nothing (parameter counts).
    Table(TableFn),
}

/// What a frame or table study returns: its frame, and what its charts
/// need that the frame cannot hold (curves over training, weights).
#[derive(Clone, Debug, Default)]
pub struct Output {
    /// The study's frame.
    pub frame: DataFrame,
    /// Its charts' data, for [`crate::report::figures`].
    pub figures: Figures,
}

impl From<DataFrame> for Output {
    fn from(frame: DataFrame) -> Output {
        Output {
            frame,
            figures: Figures::default(),
        }
    }
}

impl Source {
    /// The study's frame on `ds` (a detailed study runs to its frame only).
    ///
    /// # Errors
    /// The study's errors (sizes that do not fit the data, a diverged cell).
    pub fn frame(self, ds: &Dataset, preset: &Preset, opts: &RunOptions) -> Result<DataFrame> {
        Ok(self.output(ds, preset, opts)?.frame)
    }

    /// The study's frame and its charts' data (none for a detailed study,
    /// whose charts read its cells' artifacts).
    ///
    /// # Errors
    /// As [`Source::frame`].
    pub fn output(self, ds: &Dataset, preset: &Preset, opts: &RunOptions) -> Result<Output> {
        match self {
            Source::Detailed(study) => Ok(study(ds, preset, opts)?.run()?.into()),
            Source::Frame(run) => run(ds, preset, opts),
            Source::Table(run) => run(ds, preset),
        }
    }
}

/// One built-in study: its name, the claim it tests, how it runs and how
/// it states its findings.
#[derive(Clone, Copy, Debug)]
pub struct Builtin {
    /// The name `--study` takes (the module's name).
    pub name: &'static str,
    /// A few words for headings, e.g. `linear tied vs PCA`.
    pub title: &'static str,
    /// The claim the study tests.
    pub claim: &'static str,
    /// How it produces its results.
    pub source: Source,
    /// Its findings, computed from its frame.
    pub summary: SummaryFn,
    /// The study's own latent sizes for data with `d` features, used when
    /// the caller gives none (the report without `--latent`); `None` takes
    /// the caller's defaults. A study with its own sizes also accepts
    /// sizes above `d` (over-complete codes), from its rule or the flag.
    pub own_latents: Option<LatentsFn>,
    /// A detailed study's own charts, drawn from its detailed results
    /// (its cells' histories and artifacts beside its frame); `None` for
    /// the studies whose page has the common charts only.
    pub charts: Option<ChartsFn>,
    /// For a grid whose page states its claims (the theory studies), the
    /// claims table its frame turns into: the page shows the table (the
    /// theory page stacks them) instead of the results' charts. `None`
    /// for the studies whose page shows their rows.
    pub claims: Option<ClaimsFn>,
}

/// A study's latent-size rule: the sizes for data with `d` features.
pub type LatentsFn = fn(usize) -> Vec<usize>;

/// Every built-in study, in study order (the number in each module's first
/// line is its position here, from 1).
pub const REGISTRY: &[Builtin] = &[
    Builtin {
        name: "linear_pca",
        title: "linear tied vs PCA",
        claim: "a linear tied AE reaches PCA's MSE and spans its subspace (Baldi & Hornik 1989)",
        source: Source::Detailed(linear_pca::study),
        summary: linear_pca::summary,
        own_latents: None,
        charts: None,
        claims: None,
    },
    Builtin {
        name: "l2_directions",
        title: "L2 directions",
        claim: "with L2, its singular directions are the individual principal directions (Kunin et al. 2019)",
        source: Source::Frame(|d, p, o| l2_directions::run(d, p, o).map(Output::from)),
        summary: l2_directions::summary,
        own_latents: None,
        charts: None,
        claims: None,
    },
    Builtin {
        name: "param_counts",
        title: "parameter counts",
        claim: "tied has half the weights of untied, in every architecture",
        source: Source::Table(|d, p| param_counts::run(d, p).map(Output::from)),
        summary: param_counts::summary,
        own_latents: None,
        charts: None,
        claims: None,
    },
    Builtin {
        name: "overfitting",
        title: "overfitting",
        claim: "train/test gap vs training-set size, tied vs untied",
        source: Source::Detailed(overfitting::study),
        summary: overfitting::summary,
        own_latents: None,
        charts: None,
        claims: None,
    },
    Builtin {
        name: "equal_budget",
        title: "equal budget",
        claim: "nonlinear tied vs untied vs PCA at equal latent size and equal weights",
        source: Source::Detailed(equal_budget::study),
        summary: equal_budget::summary,
        own_latents: None,
        charts: None,
        claims: None,
    },
    Builtin {
        name: "convergence",
        title: "epochs to target",
        claim: "epochs to reach a target MSE, tied vs untied",
        source: Source::Frame(|d, p, o| convergence::run(d, p, o).map(Output::from)),
        summary: convergence::summary,
        own_latents: None,
        charts: None,
        claims: None,
    },
    Builtin {
        name: "sparse",
        title: "sparse tied",
        claim: "sparse tied AE: sparsity vs reconstruction",
        source: Source::Detailed(sparse::study),
        summary: sparse::summary,
        own_latents: None,
        charts: None,
        claims: None,
    },
    Builtin {
        name: "bias_modes",
        title: "bias modes",
        claim: "the four bias modes compared",
        source: Source::Detailed(bias_modes::study),
        summary: bias_modes::summary,
        own_latents: None,
        charts: None,
        claims: None,
    },
    Builtin {
        name: "theory",
        title: "theory of linear AEs",
        claim: "the closed forms and recoveries of Kunin et al. 2019, Plaut 2018, Bao et al. 2020 and Vincent et al. 2010, claim by claim",
        source: Source::Detailed(theory::study),
        summary: theory::summary,
        own_latents: None,
        charts: None,
        claims: Some(theory::claims_table),
    },
    Builtin {
        name: "sae",
        title: "sparse-autoencoder practice",
        claim: "TopK vs L1 vs JumpReLU at one target L0, tied vs untied vs tied-initialised, AuxK vs dead latents, beside PCA (Gao et al. 2024; Rajamanoharan et al. 2024)",
        source: Source::Detailed(sae::study),
        summary: sae::summary,
        own_latents: Some(sae::default_latents),
        charts: Some(sae::charts),
        claims: None,
    },
    Builtin {
        name: "refinetti_goldt",
        title: "non-linear AE dynamics",
        claim: "principal components are learned one after another, tied sigmoid AEs fail to learn, and ReLU AEs need trained biases (Refinetti & Goldt 2022)",
        source: Source::Detailed(refinetti_goldt::study),
        summary: refinetti_goldt::summary,
        own_latents: None,
        charts: Some(refinetti_goldt::charts),
        claims: Some(refinetti_goldt::claims_table),
    },
    Builtin {
        name: "denoising",
        title: "tied denoising",
        claim: "a tied denoising AE trades clean reconstruction for robustness to its noise, beside plain tied and PCA (Vincent et al. 2010)",
        source: Source::Detailed(denoising::study),
        summary: denoising::summary,
        own_latents: None,
        charts: Some(denoising::charts),
        claims: None,
    },
];

/// The registry entry named `name`.
pub fn find(name: &str) -> Option<&'static Builtin> {
    REGISTRY.iter().find(|b| b.name == name)
}

/// The built-in studies' relative cost tolerance of L-BFGS (see
/// [`LbfgsConfig::tol_cost_rel`]). SciPy's default ([`crate::train::SCIPY_FTOL`], 2.2e-9)
/// is too loose for a claim about reaching PCA: on digits it ended linear
/// tied runs 0.36% above PCA's test MSE. At 1e-11 every linear run of the
/// default report ends by a tolerance, within 0.025% of PCA's test MSE.
pub const LBFGS_TOL_COST_REL: f64 = 1e-11;

/// Sizes of a built-in study. [`Preset::quick`] is for tests and reports,
/// [`Preset::full`] for the closing numbers; fields are public to tune.
#[derive(Clone, Debug, PartialEq)]
pub struct Preset {
    /// Latent sizes (those above the data's dimension are dropped, except
    /// by studies that compare over-complete codes: see
    /// [`Builtin::own_latents`]).
    pub latents: Vec<usize>,
    /// Seeds.
    pub seeds: Vec<u64>,
    /// Epoch cap of minibatch training (early stopping ends most runs
    /// before it; see [`Preset::patience`]).
    pub epochs: usize,
    /// Iterations of L-BFGS (the linear studies).
    pub lbfgs_iters: u64,
    /// Minibatch size.
    pub batch_size: usize,
    /// Adam's learning rate when there is no grid.
    pub learning_rate: f64,
    /// The learning-rate grid every minibatch kind is tuned over (the same
    /// for tied and untied); empty uses `learning_rate` alone.
    pub learning_rates: Vec<f64>,
    /// Early-stopping patience in epochs; `None` trains every epoch.
    pub patience: Option<usize>,
    /// Training-set sizes of the overfitting study.
    pub n_trains: Vec<usize>,
    /// Use at most this many rows of the dataset (a seeded sample), to
    /// bound the time of big datasets; `None` uses all.
    pub max_rows: Option<usize>,
    /// L1 weights of the sparse study (besides 0).
    pub sparsity_weights: Vec<f64>,
    /// Width of the nonlinear models' extra hidden layer; `None` for one
    /// layer pair.
    pub hidden: Option<usize>,
}

impl Preset {
    /// Small: three seeds (the fewest an interval can rest on), two latent
    /// sizes, two learning rates, a short cap.
    pub fn quick() -> Preset {
        Preset {
            latents: vec![4, 8],
            seeds: vec![0, 1, 2],
            epochs: 100,
            lbfgs_iters: 300,
            batch_size: 64,
            learning_rate: 3e-3,
            learning_rates: vec![3e-3, 1e-2],
            patience: Some(10),
            n_trains: vec![50, 200],
            max_rows: Some(2000),
            sparsity_weights: vec![1e-3, 1e-2],
            hidden: None,
        }
    }

    /// The evidence sizes: three latent sizes, five seeds, a three-rate
    /// grid, training to a validation plateau within a generous cap.
    pub fn full() -> Preset {
        Preset {
            latents: vec![8, 16, 32],
            seeds: vec![0, 1, 2, 3, 4],
            epochs: 2000,
            lbfgs_iters: 3000,
            batch_size: 128,
            learning_rate: 3e-3,
            learning_rates: vec![1e-3, 3e-3, 1e-2],
            patience: Some(20),
            n_trains: vec![100, 400, 1400],
            max_rows: Some(6000),
            sparsity_weights: vec![3e-4, 1e-3, 3e-3, 1e-2],
            hidden: None,
        }
    }

    /// The latent sizes usable on `ds` (at most `d`), or an error if none.
    pub(crate) fn latents_for(&self, ds: &Dataset) -> Result<Vec<usize>> {
        let l: Vec<usize> = self
            .latents
            .iter()
            .copied()
            .filter(|&k| k >= 1 && k <= ds.n_features())
            .collect();
        if l.is_empty() {
            return Err(Error::config(
                "latents",
                format!(
                    "none of {:?} fits dataset {:?} with {} features",
                    self.latents,
                    ds.name(),
                    ds.n_features()
                ),
            ));
        }
        Ok(l)
    }

    /// The training protocol: 20% of each training set validates, early
    /// stopping with the preset's patience, the preset's grid.
    pub fn protocol(&self) -> Protocol {
        Protocol {
            validation_fraction: 0.2,
            patience: self.patience,
            learning_rates: self.learning_rates.clone(),
            equal_epochs: Protocol::default().equal_epochs.min(self.epochs),
            max_steps: None,
        }
    }

    /// Adam training settings.
    pub(crate) fn adam(&self) -> TrainConfig {
        TrainConfig::new()
            .epochs(self.epochs)
            .batch_size(self.batch_size)
            .learning_rate(self.learning_rate)
            .optimizer(Optimizer::adam())
    }

    /// L-BFGS training settings: at most `lbfgs_iters` iterations, ending
    /// earlier when an iteration lowers the loss by at most
    /// [`LBFGS_TOL_COST_REL`] in SciPy's relative measure, so the slow drift
    /// of an untied linear pair along its flat directions does not keep a
    /// run to the cap.
    pub(crate) fn lbfgs(&self) -> TrainConfig {
        TrainConfig::new().optimizer(Optimizer::Lbfgs(LbfgsConfig {
            max_iters: self.lbfgs_iters,
            tol_cost_rel: LBFGS_TOL_COST_REL,
            ..LbfgsConfig::default()
        }))
    }
}

/// Where a built-in study caches, whether it shows progress, which shard
/// it runs and what interrupts it.
#[derive(Clone, Debug, Default)]
pub struct RunOptions {
    /// Cache directory (see [`Study::cache_dir`]); each study caches in
    /// its own subdirectory, named after it.
    pub cache_dir: Option<PathBuf>,
    /// Progress bar over cells on a terminal.
    pub progress: bool,
    /// Run only shard `(i, n)` of the study's cells (see [`Study::shard`]),
    /// so a built-in study can spread over a batch scheduler's job array
    /// like a study file. Checked when the study runs.
    pub shard: Option<(usize, usize)>,
    /// The flag that stops the run between cells (see
    /// [`Study::interrupt`](Study#structfield.interrupt)).
    pub interrupt: Option<Arc<AtomicBool>>,
    /// Where a frame study that runs for minutes says how far it got (one
    /// line per stage, e.g. per latent size); `None` keeps it quiet.
    pub note: Option<Note>,
}

impl RunOptions {
    /// Passes `message` to [`RunOptions::note`], if any.
    pub fn note(&self, message: &str) {
        if let Some(n) = &self.note {
            (n.0)(message);
        }
    }
}

/// A progress callback for [`RunOptions::note`] (a report shows each line
/// as a stage of its run).
#[derive(Clone)]
pub struct Note(pub Arc<dyn Fn(&str) + Send + Sync>);

impl std::fmt::Debug for Note {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Note(..)")
    }
}

/// The dataset a built-in study runs on: `ds` itself, or a seeded sample
/// of `max_rows` of its rows (named like `ds`).
pub(crate) fn sample(ds: &Dataset, preset: &Preset) -> Result<Arc<Dataset>> {
    sample_rows(ds, preset.max_rows)
}

/// `ds` itself, or the seeded sample of `max_rows` of its rows that
/// [`sample`] takes: study files name the same sample (`max_rows`), so a
/// built-in study written out as a file has the same cells.
pub(crate) fn sample_rows(ds: &Dataset, max_rows: Option<usize>) -> Result<Arc<Dataset>> {
    match max_rows {
        Some(m) if m < ds.n_samples() => {
            use rand::seq::SliceRandom;
            let mut idx: Vec<usize> = (0..ds.n_samples()).collect();
            idx.shuffle(&mut crate::rng::seeded(crate::rng::derive_seed(
                0x5a11, m as u64,
            )));
            idx.truncate(m);
            idx.sort_unstable();
            Ok(Arc::new(ds.select_rows(&idx)?))
        }
        _ => Ok(Arc::new(ds.clone())),
    }
}

/// A study named `name` on `ds` with the preset's protocol and the options
/// applied.
pub(crate) fn base(name: &str, ds: Arc<Dataset>, preset: &Preset, opts: &RunOptions) -> Study {
    let mut s = Study::new(name)
        .dataset(ds)
        .progress(opts.progress)
        .protocol(preset.protocol());
    if let Some(dir) = &opts.cache_dir {
        s = s.cache_dir(dir.join(name));
    }
    s.shard = opts.shard;
    s.interrupt = opts.interrupt.clone();
    s.precision(Precision::F32)
}

/// Rows of a results frame (its first [`super::COLUMNS`]).
pub(crate) fn rows(df: &DataFrame) -> Result<Vec<Row>> {
    frame_to_rows(df)
}

/// Median of a non-empty slice (NaN-free), or `None` if empty.
pub(crate) fn median(v: &[f64]) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let m = s.len() / 2;
    Some(if s.len() % 2 == 1 {
        s[m]
    } else {
        0.5 * (s[m - 1] + s[m])
    })
}

/// The rows with model `model`.
pub(crate) fn select(rows: &[Row], model: ModelKind) -> impl Iterator<Item = &Row> {
    rows.iter().filter(move |r| r.model == model)
}

/// An error for a frame lacking what a summary needs.
pub(crate) fn missing(what: &str) -> Error {
    Error::InvalidData(format!("summary: the frame has no {what}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_names_are_distinct_module_names() {
        for (i, b) in REGISTRY.iter().enumerate() {
            assert!(
                REGISTRY[..i].iter().all(|a| a.name != b.name),
                "{} listed twice",
                b.name
            );
            assert_eq!(find(b.name).map(|f| f.name), Some(b.name));
        }
        assert!(find("comparison").is_none());
    }

    /// The README's `--study` sentence cannot be generated: it must list
    /// exactly the registry's names.
    #[test]
    fn readme_lists_every_registry_study() {
        let readme = include_str!("../../../README.md");
        let start = readme
            .find("`--study NAME` (")
            .expect("README has the `--study NAME (...)` sentence");
        let rest = &readme[start + "`--study NAME` (".len()..];
        let list = &rest[..rest.find(')').expect("the list closes")];
        let listed: Vec<&str> = list
            .split(',')
            .map(|n| n.trim().trim_matches('`'))
            .collect();
        for b in REGISTRY {
            assert!(
                listed.contains(&b.name),
                "README's --study list lacks {}: {list}",
                b.name
            );
        }
        for n in &listed {
            assert!(find(n).is_some(), "README lists {n:?}, not in the registry");
        }
    }
}
