//! Running a study: split each dataset once per seed, fit PCA once per
//! training set (dataset, training size, seed), then fit every cell in
//! parallel (rayon), reading finished cells from the cache and writing new
//! ones to it.
//!
//! Determinism: a cell's result depends only on its configuration (the
//! split, PCA and trainer are all seeded and thread-count independent), and
//! results are collected in cell order, so the frame is the same whatever
//! the number of threads, apart from the `seconds` column.

use super::artifacts::{
    CellArtifacts, CellDetail, DetailedResults, Firing, RECONSTRUCTED_ROWS, SCATTER_LATENT,
    SCATTER_ROWS, SplitPca, StoredMatrix, decoder_filters,
};
use super::cache::CellCache;
use super::cell::{Cell, CellConfig, TrainingKey, fingerprint};
use super::dynamics_cell::{DynamicsView, dynamics_metrics};
use super::extra::{
    DYNAMICS_DIRECTIONS, DynamicsMetrics, MetricSet, SaeMetrics, TheoryMetrics, TrainedCode,
    append_extra_columns, denoising_metrics, pca_sae_metrics, trained_sae_metrics,
};
use super::frame::{Row, frame_to_rows, rows_to_frame};
use super::metrics::{
    activation_sparsity, dead_fraction, gram_deviation, mse, pca_inverse, pca_scores,
    subspace_angles,
};
use super::protocol::{StopKind, probe_passes, rate_brackets};
use super::spec::{ExtraRate, ModelKind, Precision, Study, base_kind, conv_spec};
use super::spectral::AlignmentStop;
use super::theory_cell::{TheoryView, theory_metrics};
use super::variant::{Variant, entry_scale};
use crate::data::{StratifiedDraw, train_test_split};
use crate::error::{Error, Result};
use crate::linalg::{FittedPca, Pca};
use crate::model::theory::{axis_alignment, direction_alignment};
use crate::model::{Autoencoder, AutoencoderSpec, Layer};
use crate::real::Real;
use crate::rng::derive_seed;
use crate::train::{
    Corruption, EarlyStopping, History, Progress, StopReason, TrainConfig, Trainer,
};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use nalgebra::DMatrix;
use polars::prelude::DataFrame;
use rayon::prelude::*;
use std::borrow::Cow;
use std::io::IsTerminal;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

/// One training set of a study, for one seed, and what is derived from it:
/// every model of that seed, PCA included, fits `train`, stops on `val` and
/// is measured on `test`, so comparisons within a seed are exactly paired.
///
/// Memory: `train` and `val` together hold `8 · d · n_train` bytes, the
/// PCA `8 · d · (k + 1)` (its `k` components and mean), and `test`
/// (`8 · d · n_test`) is shared by the seed's splits of every training size.
/// A run holds the splits of every (dataset, training size, seed) its
/// selected cells use, so the data is held about once per seed: ten seeds
/// of 60,000 × 784 rows hold about 3.8 GB.
pub(crate) struct Split {
    pub dataset: usize,
    /// Training rows before the validation carve (the study's `n_train`).
    pub n_train: usize,
    /// The seed whose data this is ([`Study::data_seed`]).
    pub seed: u64,
    /// The rows every model fits: the training set minus `val`.
    pub train: DMatrix<f64>,
    /// Validation rows carved from the training set (early stopping and
    /// learning-rate choice); empty when the protocol holds out none.
    pub val: DMatrix<f64>,
    /// The seed's test part.
    pub test: Arc<DMatrix<f64>>,
    /// Labels of the test rows, when the dataset has labels.
    pub test_labels: Option<Vec<u32>>,
    /// PCA fitted on `train`, the rows the autoencoders fit.
    pub pca: FittedPca<f64>,
}

/// Splits training rows `rows` (indices into the training part) into
/// fitting and validation rows, `n_val` of them validating: drawn by class
/// when there are labels ([`StratifiedDraw`]), each side in the training
/// part's order.
fn carve(
    rows: &[usize],
    labels: Option<&[u32]>,
    n_val: usize,
    seed: u64,
) -> Result<(Vec<usize>, Vec<usize>)> {
    let sub: Option<Vec<u32>> = labels.map(|l| rows.iter().map(|&i| l[i]).collect());
    let held = StratifiedDraw::new(rows.len(), sub.as_deref(), seed)?.take(n_val);
    let mut is_val = vec![false; rows.len()];
    for &p in &held {
        is_val[p] = true;
    }
    let mut fit = Vec::with_capacity(rows.len() - held.len());
    let mut val = Vec::with_capacity(held.len());
    for (p, &r) in rows.iter().enumerate() {
        if is_val[p] {
            val.push(r);
        } else {
            fit.push(r);
        }
    }
    Ok((fit, val))
}

/// Seed streams derived from the split seed: the data of each seed, and
/// within it the training rows and the validation carve.
const DATA_STREAM: u64 = 0xda7a;
const TRAIN_STREAM: u64 = 0x7a1f;
const VALIDATION_STREAM: u64 = 0x7a11d;

impl Study {
    /// The seed of the data model seed `seed` sees. Its train/test split
    /// (stratified by class), its training rows of each size and their
    /// validation carve (both drawn by class) all derive from it, and
    /// every model of the seed, PCA included, sees those rows: pairs across
    /// models stay exact, and an interval over seeds covers the data sample
    /// as well as initialisation and batch order.
    pub fn data_seed(&self, seed: u64) -> u64 {
        derive_seed(derive_seed(self.split_seed, DATA_STREAM), seed)
    }
}

/// The data side of a study, computed once before the cells run.
pub(crate) struct Prepared {
    pub fingerprints: Vec<String>,
    /// Per (dataset, training size, seed) of the selected cells.
    pub splits: Vec<Split>,
}

impl Prepared {
    fn split(&self, cell: &Cell) -> &Split {
        let key = (cell.dataset, cell.n_train, cell.seed);
        self.splits
            .iter()
            .find(|s| (s.dataset, s.n_train, s.seed) == key)
            .expect("a split is prepared for every cell")
    }
}

/// Fingerprints of every dataset.
pub(crate) fn fingerprints(study: &Study) -> Vec<String> {
    study.datasets.par_iter().map(|d| fingerprint(d)).collect()
}

/// Components of the PCA fitted on a training set of `n_train` rows of `d`
/// features: the study's largest latent size, within the fitting rows
/// (the training rows less the validation rows) and the features. Part of
/// each cell's cache key ([`CellConfig::pca_components`]).
pub(crate) fn pca_components(study: &Study, n_train: usize, d: usize) -> usize {
    let n_fit = n_train - study.protocol.validation_rows(n_train);
    let max_latent = study.latents.iter().copied().max().unwrap_or(1);
    max_latent.min(n_fit).min(d)
}

/// Splits each dataset once per seed used by `cells` and fits PCA (with
/// the largest latent size) on each training set they use: only the
/// (dataset, training size, seed) the cells need, so a shard prepares the
/// splits of its own cells. Each (dataset, seed) is prepared on its own
/// thread; the result does not depend on the thread count.
fn prepare(study: &Study, cells: &[Cell]) -> Result<Prepared> {
    let mut wanted: Vec<(usize, u64, usize)> = cells
        .iter()
        .map(|c| (c.dataset, c.seed, c.n_train))
        .collect();
    wanted.sort_unstable();
    wanted.dedup();
    let mut groups: Vec<(usize, u64)> = wanted.iter().map(|w| (w.0, w.1)).collect();
    groups.dedup();
    let splits: Vec<Vec<Split>> = groups
        .par_iter()
        .map(|&(di, seed)| {
            let sizes: Vec<usize> = wanted
                .iter()
                .filter(|w| (w.0, w.1) == (di, seed))
                .map(|w| w.2)
                .collect();
            prepare_seed(study, di, seed, &sizes)
        })
        .collect::<Result<_>>()?;
    Ok(Prepared {
        fingerprints: fingerprints(study),
        splits: splits.into_iter().flatten().collect(),
    })
}

/// The splits of dataset `di` for seed `seed` at each training size of
/// `sizes`: the seed's stratified train/test split; from its training part
/// `n` rows drawn by class, of which the protocol's validation rows are
/// carved by class; PCA fitted on the rest.
fn prepare_seed(study: &Study, di: usize, seed: u64, sizes: &[usize]) -> Result<Vec<Split>> {
    let data_seed = study.data_seed(seed);
    let (train, test) = train_test_split(&study.datasets[di], study.test_fraction, data_seed)?;
    let draw = StratifiedDraw::new(
        train.n_samples(),
        train.labels(),
        derive_seed(data_seed, TRAIN_STREAM),
    )?;
    let test = test.into_parts();
    let test_labels = test.labels;
    let test = Arc::new(test.x);
    sizes
        .iter()
        .map(|&n| -> Result<Split> {
            let rows = draw.take(n);
            let (fit, val) = carve(
                &rows,
                train.labels(),
                study.protocol.validation_rows(n),
                derive_seed(data_seed, derive_seed(VALIDATION_STREAM, n as u64)),
            )?;
            let x = train.x().select_rows(fit.iter());
            let val = train.x().select_rows(val.iter());
            let k = pca_components(study, n, x.ncols());
            let pca = Pca::count(k).fit(&x)?;
            Ok(Split {
                dataset: di,
                n_train: n,
                seed,
                train: x,
                val,
                test: Arc::clone(&test),
                test_labels: test_labels.clone(),
                pca,
            })
        })
        .collect()
}

/// The cache configuration of `cell`.
pub(crate) fn cell_config<'a>(study: &'a Study, cell: &'a Cell, fp: &'a str) -> CellConfig<'a> {
    CellConfig {
        version: super::cell::CELL_VERSION,
        dataset: &cell.dataset_name,
        fingerprint: fp,
        model: cell.model,
        activation: cell.activation,
        bias_mode: cell.bias_mode,
        latent: cell.latent,
        n_train: cell.n_train,
        seed: cell.seed,
        l2: cell.l2,
        sparsity_weight: cell.sparsity_weight,
        learning_rate: cell.learning_rate,
        test_fraction: study.test_fraction,
        split_seed: study.split_seed,
        pca_components: pca_components(
            study,
            cell.n_train,
            study.datasets[cell.dataset].n_features(),
        ),
        protocol: &study.protocol,
        training: cell.model.is_trained().then_some(TrainingKey {
            hidden: if cell.model.is_linear() || cell.model.is_conv() {
                &[]
            } else {
                &study.hidden
            },
            precision: study.precision_for(cell.model),
            config: study.training_for(cell.model),
        }),
        variant: cell.variant.as_deref(),
        metrics: study.cell_metrics(cell),
    }
}

impl Study {
    /// The results frame of `rows`, with the columns of the study's extra
    /// metrics ([`Study::extra_metrics`]) after the results columns when it
    /// records any: `metrics` holds one entry per row, `None` where the
    /// row's cell records none (nulls).
    ///
    /// # Errors
    /// [`Error::InvalidData`] for counts that do not match; polars errors.
    pub fn results_frame(&self, rows: &[Row], metrics: &[Option<SaeMetrics>]) -> Result<DataFrame> {
        let mut df = rows_to_frame(rows)?;
        if let Some(set) = self.extra_metrics() {
            let values: Vec<SaeMetrics> = metrics
                .iter()
                .map(|m| m.clone().unwrap_or_default())
                .collect();
            append_extra_columns(&mut df, set, &values)?;
        }
        Ok(df)
    }
}

impl Study {
    /// Runs every selected cell and returns the results frame, one row per
    /// cell in enumeration order (columns: [`super::COLUMNS`]).
    ///
    /// # Errors
    ///
    /// [`Error::Config`] for an invalid study; a cache file that
    /// cannot be read ([`Error::Format`] naming it); the first failing
    /// cell's error (e.g. [`Error::Diverged`]), after every other cell has
    /// finished and been cached.
    pub fn run(&self) -> Result<DataFrame> {
        Ok(self.execute(false)?.results)
    }

    /// As [`Study::run`], plus each cell's history, filters and
    /// reconstructions and the PCA of each training set (per dataset,
    /// training size and seed).
    pub fn run_detailed(&self) -> Result<DetailedResults> {
        self.execute(true)
    }

    fn execute(&self, detailed: bool) -> Result<DetailedResults> {
        let cells = self.selected_cells()?;
        self.execute_cells(&cells, detailed)
    }

    /// Runs `cells` (of this study's enumeration) as [`Study::run`] and
    /// [`Study::run_detailed`] run the selected ones: splits and PCA for
    /// the cells' training sets, the cells in parallel through the cache,
    /// rows in the order of `cells`.
    pub(crate) fn execute_cells(&self, cells: &[Cell], detailed: bool) -> Result<DetailedResults> {
        let prepared = prepare(self, cells)?;
        let cache = self.cache_dir.as_deref().map(CellCache::open).transpose()?;
        let bar = progress_bar(self.progress, cells.len(), &self.name);
        let stopped = || {
            self.interrupt
                .as_deref()
                .is_some_and(|f| f.load(Ordering::SeqCst))
        };
        // `None`: the cell did not run to the end because the interrupt
        // flag was raised (before it started, or during its training).
        let outcomes: Vec<Option<Result<CellOutcome>>> = cells
            .par_iter()
            .map(|cell| {
                if stopped() {
                    return None;
                }
                let out = run_cached(self, cell, &prepared, cache.as_ref(), detailed);
                bar.inc(1);
                match out {
                    Err(Error::Interrupted { .. }) => None,
                    out => Some(out),
                }
            })
            .collect();
        bar.finish_and_clear();
        let total = outcomes.len();
        let mut rows = Vec::with_capacity(total);
        let mut metrics = Vec::with_capacity(total);
        let mut artifacts = Vec::new();
        let mut unfinished = 0;
        for o in outcomes {
            let Some(o) = o else {
                unfinished += 1;
                continue;
            };
            let (row, extra, art) = o?;
            rows.push(row);
            metrics.push(extra);
            artifacts.extend(art);
        }
        if unfinished > 0 {
            return Err(Error::StudyInterrupted {
                done: total - unfinished,
                total,
            });
        }
        let pcas = if detailed {
            prepared
                .splits
                .iter()
                .map(|s| SplitPca {
                    dataset: self.datasets[s.dataset].name().to_string(),
                    n_train: s.n_train,
                    seed: s.seed,
                    pca: s.pca.clone(),
                    test_head: head(&s.test),
                    image_shape: self.datasets[s.dataset].image_shape(),
                    test_labels: s
                        .test_labels
                        .as_ref()
                        .map(|l| l[..l.len().min(SCATTER_ROWS)].to_vec()),
                })
                .collect()
        } else {
            Vec::new()
        };
        Ok(DetailedResults {
            results: self.results_frame(&rows, &metrics)?,
            cells: artifacts,
            pcas,
        })
    }
}

/// How many of `seeds` seeds a probe of the learning-rate search runs:
/// half, rounded up (one of one, three of five), as the first rung of
/// successive halving keeps half; a mean over a single seed mistook the
/// noise of one split for the rate's effect.
fn probe_seeds(seeds: usize) -> usize {
    seeds.div_ceil(2)
}

/// How the learning-rate search of [`Study::run_bracketed`] runs a rate it
/// adds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Search {
    /// On the first half of the seeds, then on the rest only if it does no
    /// worse than the choice there ([`super::probe_passes`]).
    #[default]
    Probed,
    /// On every seed at once.
    Exhaustive,
}

impl Study {
    /// Runs the study with a learning-rate search that brackets every
    /// optimum, and returns the frame of every cell tried.
    ///
    /// The grid runs first. Then, per configuration (every axis but seed
    /// and rate: kind, latent and training size, bias mode, L2, sparsity
    /// weight, dataset) whose tuned rate ([`super::select_tuned`]: the
    /// lowest mean validation MSE over seeds among runs that did not
    /// diverge) is the lowest or the highest it tried, the next rung of the
    /// half-decade ladder beyond that edge is added for that configuration
    /// only ([`Study::extra_rates`]); this repeats until every tuned rate
    /// is interior or at a hard bound ([`super::MIN_LEARNING_RATE`],
    /// [`super::MAX_LEARNING_RATE`]). Tied and untied kinds follow the same
    /// rule. A new rate first runs on the first half of the seeds (rounded
    /// up), a probe; the other seeds run only when the probe's mean does no
    /// worse than the current choice's on the same seeds
    /// ([`super::probe_passes`]). A rate that loses its probe is kept in the frame as tried (so the choice beside it counts
    /// as bracketed) but is no candidate ([`super::select_tuned`]), and the
    /// rate that ends a search, usually the costliest (the lowest rates
    /// train longest), costs one cell instead of one per seed. The cost
    /// grows only where an optimum lies outside the grid, by at most one
    /// rate per round per such configuration (the ladder holds nine rungs
    /// from 1e-5 to 1e-1).
    ///
    /// Deterministic: each round's rates follow from the rows, which follow
    /// from the cells' configurations, and the cache holds every cell by
    /// its configuration (rate included), so a rerun trains nothing and
    /// adds the same rates. A study without a grid
    /// ([`super::Protocol::learning_rates`] empty) or without validation
    /// rows is not tuned and runs as [`Study::run`].
    ///
    /// # Errors
    /// As [`Study::run`]; [`Error::Config`] (field `shard`) for a sharded
    /// study: which rates to add depends on every cell's row.
    pub fn run_bracketed(&self) -> Result<DataFrame> {
        Ok(self
            .bracketed(Search::Probed, |s, cells| s.execute_cells(cells, false))?
            .0
            .results)
    }

    /// As [`Study::run_bracketed`], in detail (as [`Study::run_detailed`]),
    /// with the study as the search left it (its [`Study::extra_rates`]).
    pub fn run_bracketed_detailed(&self) -> Result<(DetailedResults, Study)> {
        self.bracketed(Search::Probed, |s, cells| s.execute_cells(cells, true))
    }

    /// The search of [`Study::run_bracketed`] without probes: every rate it
    /// adds runs on every seed at once. The reference the probed search is
    /// checked against (both must choose the same rates); it costs the
    /// seeds the probes save.
    ///
    /// # Errors
    /// As [`Study::run_bracketed`].
    pub fn run_bracketed_exhaustive(&self) -> Result<DataFrame> {
        Ok(self
            .bracketed(Search::Exhaustive, |s, cells| s.execute_cells(cells, false))?
            .0
            .results)
    }

    /// The search of [`Study::run_bracketed`], running each batch of cells
    /// with `run` (a report runs them in slices to show progress). The
    /// results hold the grid's cells, then each round's, in order.
    pub(crate) fn bracketed(
        &self,
        search: Search,
        mut run: impl FnMut(&Study, &[Cell]) -> Result<DetailedResults>,
    ) -> Result<(DetailedResults, Study)> {
        if self.shard.is_some() {
            return Err(Error::config(
                "shard",
                "the learning-rate search reads every cell's row to choose the rates it adds; run it unsharded",
            ));
        }
        let mut study = self.clone();
        let mut cells = study.cells()?;
        let mut all = run(&study, &cells)?;
        let mut rows = frame_to_rows(&all.results)?;
        let mut add = |study: &mut Study, extra: Vec<ExtraRate>| -> Result<Vec<Row>> {
            let before = cells.len();
            study.extra_rates.extend(extra);
            cells = study.cells()?;
            let more = run(study, &cells[before..])?;
            let new_rows = frame_to_rows(&more.results)?;
            all.append(more)?;
            Ok(new_rows)
        };
        loop {
            let mut probes = study.next_extra_rates(&rows)?;
            if probes.is_empty() {
                break;
            }
            if search == Search::Exhaustive {
                for p in &mut probes {
                    p.seeds = self.seeds.clone();
                }
                rows.extend(add(&mut study, probes)?);
                continue;
            }
            // Each probe's rows follow it in order, one per probe seed.
            let probe_rows = add(&mut study, probes.clone())?;
            rows.extend(probe_rows.iter().cloned());
            let per_probe = probes.first().map_or(1, |p| p.seeds.len().max(1));
            let rest: Vec<ExtraRate> = probes
                .into_iter()
                .zip(probe_rows.chunks(per_probe))
                .filter(|(_, probe)| probe_passes(&rows, probe))
                .map(|(probe, _)| ExtraRate {
                    seeds: self.seeds[probe.seeds.len()..].to_vec(),
                    ..probe
                })
                .filter(|e| !e.seeds.is_empty())
                .collect();
            if !rest.is_empty() {
                rows.extend(add(&mut study, rest)?);
            }
        }
        Ok((all, study))
    }

    /// The rates the search adds after `rows` (this study's rows so far):
    /// per configuration whose tuned rate sits at an edge of the rates it
    /// tried and not at a hard bound, the next rung beyond that edge
    /// ([`super::RateBracket::next_rate`]); none for a study that is not
    /// tuned (no grid, or no validation rows to choose on).
    ///
    /// # Errors
    /// [`Error::InvalidData`] for a row whose kind or bias mode is not the
    /// study's.
    pub fn next_extra_rates(&self, rows: &[Row]) -> Result<Vec<ExtraRate>> {
        if self.protocol.learning_rates.is_empty() || self.protocol.validation_fraction == 0.0 {
            return Ok(Vec::new());
        }
        rate_brackets(rows)
            .into_iter()
            .filter_map(|b| b.next_rate().map(|lr| (b.row, lr)))
            .map(|(r, learning_rate)| -> Result<ExtraRate> {
                let variant = self.variants.iter().find(|v| v.name == r.model);
                let modes = match variant {
                    Some(v) => v.bias_modes(&self.bias_modes),
                    None => self.bias_modes.clone(),
                };
                let bias_mode = modes
                    .iter()
                    .copied()
                    .find(|m| m.name() == r.bias_mode)
                    .ok_or_else(|| {
                        Error::InvalidData(format!(
                            "bias mode {:?} is not one of the study's",
                            r.bias_mode
                        ))
                    })?;
                let model = match variant {
                    Some(v) => base_kind(v),
                    None => ModelKind::parse(r.model.as_str())
                        .map_err(|e| Error::InvalidData(e.to_string()))?,
                };
                Ok(ExtraRate {
                    dataset: r.dataset.clone(),
                    model,
                    variant: variant.map(|v| v.name.clone()),
                    bias_mode,
                    latent: r.latent as usize,
                    n_train: r.n_train as usize,
                    l2: r.l2,
                    sparsity_weight: r.sparsity_weight,
                    learning_rate,
                    seeds: self.seeds[..probe_seeds(self.seeds.len())].to_vec(),
                })
            })
            .collect()
    }
}

impl Study {
    /// Whether the cache holds each selected cell, in cell order, without
    /// fitting anything (what `study status` reports). Reads the datasets
    /// (their fingerprints are part of each cell's key) but writes nothing;
    /// with no cache directory every cell counts as not done.
    ///
    /// # Errors
    /// An invalid study ([`Error::Config`]); a cache file that exists but
    /// cannot be read back ([`Error::Format`] naming it).
    pub fn cached_cells(&self) -> Result<Vec<(Cell, bool)>> {
        let cells = self.selected_cells()?;
        let Some(dir) = self.cache_dir.as_deref() else {
            return Ok(cells.into_iter().map(|c| (c, false)).collect());
        };
        let cache = CellCache::existing(dir);
        let fps = fingerprints(self);
        cells
            .into_iter()
            .map(|c| {
                let config = cell_config(self, &c, &fps[c.dataset]);
                let key = config.key()?;
                let json = serde_json::to_value(&config).map_err(|e| {
                    Error::InvalidData(format!("cannot serialize a cell config: {e}"))
                })?;
                let records = self.cell_metrics(&c).is_some();
                let done = cache.load(&key, &json, &c, records)?.is_some();
                Ok((c, done))
            })
            .collect()
    }
}

fn progress_bar(on: bool, n: usize, name: &str) -> ProgressBar {
    if !on || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(n as u64), ProgressDrawTarget::stderr());
    if let Ok(style) = ProgressStyle::with_template(
        "{msg} {bar:30} {pos}/{len} cells [{elapsed_precise}, eta {eta}]",
    ) {
        bar.set_style(style);
    }
    bar.set_message(name.to_string());
    bar
}

/// What one finished cell gives: its row, its extra metrics if it records
/// any, and its artifacts in a detailed run.
type CellOutcome = (Row, Option<SaeMetrics>, Option<CellArtifacts>);

fn run_cached(
    study: &Study,
    cell: &Cell,
    prepared: &Prepared,
    cache: Option<&CellCache>,
    detailed: bool,
) -> Result<CellOutcome> {
    let config = cell_config(study, cell, &prepared.fingerprints[cell.dataset]);
    let key = config.key()?;
    let json = serde_json::to_value(&config)
        .map_err(|e| Error::InvalidData(format!("cannot serialize a cell config: {e}")))?;
    let records = study.cell_metrics(cell).is_some();
    if let Some(cache) = cache
        && let Some((row, extra)) = cache.load(&key, &json, cell, records)?
    {
        if !detailed {
            return Ok((row, extra, None));
        }
        if let Some(detail) = cache.load_detail(&key)? {
            let art = detail.into_artifacts(cell.clone(), row.clone())?;
            return Ok((row, extra, Some(art)));
        }
    }
    let (row, extra, detail) = run_cell(study, cell, prepared.split(cell))?;
    if let Some(cache) = cache {
        cache.store(&key, &json, &row, extra.as_ref())?;
        if detailed {
            cache.store_detail(&key, &detail)?;
        }
    }
    let art = if detailed {
        Some(detail.into_artifacts(cell.clone(), row.clone())?)
    } else {
        None
    };
    Ok((row, extra, art))
}

/// The first rows of `x` whose reconstructions a detailed run keeps.
fn head(x: &DMatrix<f64>) -> DMatrix<f64> {
    x.rows(0, x.nrows().min(RECONSTRUCTED_ROWS)).into_owned()
}

/// The scatter's codes: the first [`SCATTER_ROWS`] test codes, kept only
/// at latent size [`SCATTER_LATENT`].
fn scatter_codes(code: &DMatrix<f64>) -> Option<StoredMatrix> {
    (code.ncols() == SCATTER_LATENT)
        .then(|| StoredMatrix::of(&code.rows(0, code.nrows().min(SCATTER_ROWS)).into_owned()))
}

/// What fitting one cell measured, before it becomes a [`Row`].
struct Measured {
    params: usize,
    train_mse: f64,
    val_mse: f64,
    test_mse: f64,
    epochs: usize,
    best_epoch: usize,
    stop: StopKind,
    val_mse_at_budget: Option<f64>,
    seconds: f64,
    angles: Option<(f64, f64)>,
    wwt_minus_i: Option<f64>,
    test_code: DMatrix<f64>,
    /// The extra metrics, when the cell records them.
    extra: Option<SaeMetrics>,
    detail: CellDetail,
}

/// PCA's component count at latent size `latent`: the latent size, or all
/// the components the fit has when the latent size is over-complete.
fn pca_count(split: &Split, latent: usize) -> usize {
    latent.min(split.pca.n_components())
}

/// `test_mse / pca_test` when PCA's error is positive; where PCA is exact
/// (an over-complete size reaches the data's rank), 1 for an exact model
/// too and +inf otherwise, never NaN.
fn ratio_to(test_mse: f64, pca_test: f64) -> f64 {
    if pca_test > 0.0 {
        test_mse / pca_test
    } else if test_mse == 0.0 {
        1.0
    } else {
        f64::INFINITY
    }
}

/// Fits one cell from scratch: its row, its extra metrics if it records
/// any, and its artifacts.
fn run_cell(
    study: &Study,
    cell: &Cell,
    split: &Split,
) -> Result<(Row, Option<SaeMetrics>, CellDetail)> {
    let pca_test = pca_mse(&split.pca, pca_count(split, cell.latent), &split.test)?;
    let records = study.cell_metrics(cell);
    let m = match (cell.model, study.precision_for(cell.model)) {
        (ModelKind::Pca, _) => fit_pca(cell, split, records)?,
        (_, Precision::F32) => fit_autoencoder::<f32>(study, cell, split, records)?,
        (_, Precision::F64) => fit_autoencoder::<f64>(study, cell, split, records)?,
    };
    let ratio_to_pca = if study.overcomplete {
        ratio_to(m.test_mse, pca_test)
    } else {
        m.test_mse / pca_test
    };
    let row = Row {
        dataset: cell.dataset_name.clone(),
        model: cell.model_name().into(),
        activation: cell.activation.name(),
        bias_mode: cell.bias_mode.name().into(),
        latent: cell.latent as i64,
        params: m.params as i64,
        n_train: cell.n_train as i64,
        seed: cell.seed as i64,
        l2: cell.l2,
        sparsity_weight: cell.sparsity_weight,
        train_mse: m.train_mse,
        test_mse: m.test_mse,
        pca_test_mse: pca_test,
        ratio_to_pca,
        epochs: m.epochs as i64,
        seconds: m.seconds,
        max_angle_deg: m.angles.map(|a| a.0),
        mean_angle_deg: m.angles.map(|a| a.1),
        wwt_minus_i: m.wwt_minus_i,
        dead_fraction: dead_fraction(&m.test_code),
        sparsity: activation_sparsity(&m.test_code),
        learning_rate: cell.learning_rate,
        best_epoch: m.best_epoch as i64,
        val_mse: m.val_mse,
        stop_reason: m.stop.name().into(),
        val_mse_at_budget: m.val_mse_at_budget,
    };
    // An over-complete study compares with an exact PCA on purpose: there
    // the ratio may be +inf (never NaN, see `ratio_to`).
    if !row.ratio_to_pca.is_finite() && !study.overcomplete {
        return Err(Error::Numerical(format!(
            "cell {} ({} on {}): PCA test MSE is {pca_test}, so the ratio to PCA is undefined",
            cell.index, row.model, row.dataset
        )));
    }
    Ok((row, m.extra, m.detail))
}

/// PCA's reconstruction MSE of `x` with `k` components.
fn pca_mse(pca: &FittedPca<f64>, k: usize, x: &DMatrix<f64>) -> Result<f64> {
    mse(&pca_inverse(pca, &pca_scores(pca, k, x)?)?, x)
}

fn fit_pca(cell: &Cell, split: &Split, records: Option<MetricSet>) -> Result<Measured> {
    let start = Instant::now();
    let k = pca_count(split, cell.latent);
    let train_mse = pca_mse(&split.pca, k, &split.train)?;
    let val_mse = if split.val.nrows() > 0 {
        pca_mse(&split.pca, k, &split.val)?
    } else {
        train_mse
    };
    let test_code = pca_scores(&split.pca, k, &split.test)?;
    let test_recon = pca_inverse(&split.pca, &test_code)?;
    let test_mse = mse(&test_recon, &split.test)?;
    let filters = split.pca.components().rows(0, k).into_owned();
    let d = split.train.ncols();
    let seconds = start.elapsed().as_secs_f64();
    let extra = match records {
        Some(MetricSet::Sae) => Some(pca_sae_metrics(&split.test, &test_recon, k)?),
        Some(MetricSet::Denoising) => {
            // PCA trains without noise: its own corruption is none.
            let reconstruct = |x: &DMatrix<f64>| -> Result<DMatrix<f64>> {
                pca_inverse(&split.pca, &pca_scores(&split.pca, k, x)?)
            };
            Some(SaeMetrics {
                denoising: Some(denoising_metrics(
                    &split.test,
                    None,
                    entry_scale(&split.train),
                    cell.seed,
                    &reconstruct,
                )?),
                ..SaeMetrics::default()
            })
        }
        // PCA is no linear pair: its theory columns are null.
        Some(MetricSet::Theory) => Some(SaeMetrics {
            theory: Some(TheoryMetrics::default()),
            ..SaeMetrics::default()
        }),
        // PCA does not train: it has no epochs to follow.
        Some(MetricSet::Dynamics) => Some(SaeMetrics {
            dynamics: Some(DynamicsMetrics::default()),
            ..SaeMetrics::default()
        }),
        None => None,
    };
    Ok(Measured {
        params: k * d + d,
        train_mse,
        val_mse,
        test_mse,
        epochs: 0,
        best_epoch: 0,
        stop: StopKind::ClosedForm,
        val_mse_at_budget: None,
        seconds,
        // The subspace compared with is PCA's own.
        angles: Some((0.0, 0.0)),
        wwt_minus_i: None,
        extra,
        detail: CellDetail {
            history: None,
            filters: StoredMatrix::of(&filters),
            reconstructions: StoredMatrix::of(&head(&test_recon)),
            codes: scatter_codes(&test_code),
            firing: None,
            alignment: None,
        },
        test_code,
    })
}

/// The training configuration of an autoencoder cell: its family's
/// (see [`Study::training_for`]) with the cell's seed, penalties and rate,
/// silent and never checkpointed, capped and stopped as the protocol says,
/// then changed as the cell's variant asks (its own recipe, if any,
/// replaces the family's optimizer, epochs, batch, rate and schedule
/// first). The sparsity weight is the L1 weight, or a variant's code
/// penalty ([`Variant::code_penalty`]: an L0 rule's weight becomes the L0
/// coefficient).
///
/// A variant's penalties, noise and spectral rule resolve against the
/// fitting rows scaled as its model sees them ([`Variant::row_scale`]).
///
/// # Errors
/// A variant's spectral rule that cannot be resolved on the fitting rows;
/// standardising rows without variance.
///
/// [`Variant::code_penalty`]: super::Variant::code_penalty
fn cell_training(study: &Study, cell: &Cell, split: &Split) -> Result<TrainConfig> {
    let fit = fit_rows(split, cell.variant.as_deref())?;
    let mut cfg = study.training_for(cell.model).clone();
    let own = cell.variant.as_ref().and_then(|v| v.training);
    if let Some(own) = own {
        own.apply(&mut cfg, split.train.nrows());
    }
    cfg.seed = derive_seed(cell.seed, 1);
    let loss = cfg.loss.with_l2(cell.l2);
    cfg.loss = match &cell.variant {
        Some(v) => v.code_penalty(loss, cell.sparsity_weight, cell.latent, &fit),
        None => loss.with_l1(cell.sparsity_weight),
    };
    cfg.progress = Progress::Silent;
    cfg.checkpoint = None;
    if let Some(lr) = cell.learning_rate {
        cfg.learning_rate = lr;
    }
    if !cfg.is_lbfgs() && own.is_none() {
        // A step budget gives a small training set as many updates as a
        // large one, and a low rate as much rate × steps as the grid's
        // (see `Protocol::step_cap`); a variant's own recipe states its
        // epochs itself.
        cfg.epochs = study.protocol.epoch_cap(
            cfg.epochs,
            split.train.nrows(),
            cfg.batch_size,
            cfg.learning_rate,
        );
    }
    let has_val = split.val.nrows() > 0;
    cfg.validation_fraction = study.protocol.validation_fraction;
    if let (Some(p), false, true) = (study.protocol.patience, cfg.is_lbfgs(), has_val) {
        cfg.early_stopping = Some(EarlyStopping::patience(p));
    }
    if let Some(v) = &cell.variant {
        v.adjust(&mut cfg, cell.latent, &fit)?;
    }
    Ok(cfg)
}

/// The split's fitting rows divided by the scale of `variant`
/// ([`Variant::row_scale`]; borrowed as they are when it does not
/// standardise), uncentred: what its penalties and rules resolve against.
///
/// # Errors
/// Standardising rows without variance.
fn fit_rows<'a>(split: &'a Split, variant: Option<&Variant>) -> Result<Cow<'a, DMatrix<f64>>> {
    match variant {
        Some(v) if v.standardise => {
            let s = v.row_scale(&split.train)?;
            Ok(Cow::Owned(split.train.map(|x| x / s)))
        }
        _ => Ok(Cow::Borrowed(&split.train)),
    }
}

/// Fits `model` on `x_train`, stopping on `x_val`: the model kept, its
/// history, why it stopped and its best epoch. A diverged fit is a result
/// (see below), every other failure the cell's error.
fn train_cell<T: Real>(
    trainer: &Trainer,
    model: Autoencoder<T>,
    x_train: &DMatrix<T>,
    x_val: &DMatrix<T>,
) -> Result<(Autoencoder<T>, History, StopKind, usize)> {
    match trainer.try_fit_validated(model, x_train, x_val) {
        Ok(o) => {
            let stop = match o.stop {
                StopReason::Completed => StopKind::MaxEpochs,
                StopReason::EarlyStopped { .. } => StopKind::Patience,
                StopReason::Converged(_) => StopKind::Converged,
            };
            let best = o.best_epoch.unwrap_or(o.history.len());
            Ok((o.model, o.history, stop, best))
        }
        // A diverged cell is a result, not a failed study: one rate of a
        // grid may be too large. The row measures the last finite weights
        // and says so; tuning never prefers it over a finite run.
        Err(f) if matches!(f.error, Error::Diverged { .. }) => {
            let n = f.history.len();
            Ok((f.model, f.history, StopKind::Diverged, n))
        }
        Err(f) => Err(f.error),
    }
}

/// The principal angles (max, mean) of a pair against PCA's subspace and
/// a tied pair's `‖W Wᵀ − I‖_F`, each null where it says nothing.
type PcaGeometry = (Option<(f64, f64)>, Option<f64>);

/// How a trained first pair sits against PCA's subspace of the cell's
/// size: the principal angles (max, mean) between it and the decoder
/// directions `filters`, and for a tied pair `‖W Wᵀ − I‖_F`.
fn pca_geometry<T: Real>(
    split: &Split,
    cell: &Cell,
    first: &Layer<T>,
    filters: &DMatrix<f64>,
) -> Result<PcaGeometry> {
    // A conv pair's decoder rows are kernels (`C_out x k_h·k_w`), not
    // images: they live in patch space, not in the d-dimensional input
    // space PCA's subspace lives in, and the kernel's Gram matrix says
    // nothing about orthonormal projection. So both are null for conv kinds.
    if first.conv().is_some() {
        return Ok((None, None));
    }
    let pcs = split
        .pca
        .components()
        .rows(0, pca_count(split, cell.latent))
        .into_owned();
    let wwt = match first {
        Layer::Tied(t) => Some(gram_deviation(&widen(t.weight()))),
        Layer::Dense(_) => None,
    };
    // An over-complete dictionary has more directions than the space
    // has dimensions: they span all of it, and no angle to PCA's
    // subspace says anything about them.
    let angles = if filters.nrows() > filters.ncols() {
        None
    } else {
        subspace_angles(&pcs, filters)?
    };
    Ok((angles, wwt))
}

/// The lowest validation reconstruction MSE within the first `epochs`
/// epochs (the reconstruction term is the MSE over entries, as in [`mse`]).
fn best_within(history: &History, epochs: usize) -> Option<f64> {
    history
        .epochs
        .iter()
        .take(epochs)
        .filter_map(|r| r.val_reconstruction)
        .min_by(f64::total_cmp)
}

/// Widths of a cell's autoencoder: `[d, hidden.., latent]` (linear kinds
/// have no hidden layers).
fn dims(study: &Study, cell: &Cell, d: usize) -> Vec<usize> {
    let mut dims = vec![d];
    if !cell.model.is_linear() {
        dims.extend_from_slice(&study.hidden);
    }
    dims.push(cell.latent);
    dims
}

/// The architecture of an autoencoder cell (conv kinds: see
/// [`conv_spec`]).
pub(crate) fn cell_spec(study: &Study, cell: &Cell, d: usize) -> Result<AutoencoderSpec> {
    if cell.model.is_conv() {
        let image = study.datasets[cell.dataset].image_shape().ok_or_else(|| {
            Error::config(
                "models",
                format!(
                    "{} needs image data but dataset {:?} has no image shape",
                    cell.model.name(),
                    cell.dataset_name
                ),
            )
        })?;
        return conv_spec(
            image,
            cell.latent,
            cell.model.is_tied(),
            cell.activation,
            cell.bias_mode,
        );
    }
    let spec = AutoencoderSpec::new(&dims(study, cell, d))
        .tied(cell.model.is_tied())
        .activation(cell.activation)
        .bias(cell.bias_mode);
    Ok(match cell.variant.as_ref().and_then(|v| v.init) {
        Some(init) => spec.init(init),
        None => spec,
    })
}

fn widen<T: Real>(m: &DMatrix<T>) -> DMatrix<f64> {
    m.map(|v| v.f64())
}

/// What a trained cell's extra metrics read: the model, its split, the
/// rows it saw, its cell and training seed, its training rows (in the
/// model's precision), its test MSE and per-epoch alignments, its test
/// reconstructions and codes (widened), and its history.
struct FitView<'a, T: Real> {
    model: &'a Autoencoder<T>,
    split: &'a Split,
    seen: &'a SeenRows<'a>,
    cell: &'a Cell,
    train_seed: u64,
    x_train: &'a DMatrix<T>,
    /// Its test MSE, in the data's units.
    test_mse: f64,
    /// Per epoch, the followed directions' alignments (see
    /// [`train_followed`]); `None` for a cell not followed.
    alignment: Option<&'a [Vec<f64>]>,
    test_recon: &'a DMatrix<f64>,
    test_code: &'a DMatrix<f64>,
    history: &'a History,
}

/// The extra metrics a trained cell records (`records`), and for the
/// sparse-autoencoder set its latents' firing densities on the test rows:
/// `own_noise` is the corruption the model trained with; the cell's seed
/// draws the test rows' noise.
fn extra_metrics<T: Real>(
    records: Option<MetricSet>,
    fit: &FitView<'_, T>,
    own_noise: Option<Corruption>,
) -> Result<(Option<SaeMetrics>, Option<Firing>)> {
    Ok(match records {
        Some(MetricSet::Sae) => {
            let train_code = widen(&fit.model.encode(fit.x_train)?);
            let (metrics, density) = trained_sae_metrics(&TrainedCode {
                test: &fit.seen.test,
                recon: fit.test_recon,
                code: fit.test_code,
                train_code: &train_code,
                dead_fraction_train: fit.history.last().and_then(|r| r.dead_fraction),
                cosine: fit.model.mean_decoder_encoder_cosine(),
            })?;
            let firing = Firing {
                rows: fit.seen.test.nrows(),
                density,
            };
            (Some(metrics), Some(firing))
        }
        Some(MetricSet::Denoising) => {
            let reconstruct = |x: &DMatrix<f64>| -> Result<DMatrix<f64>> {
                Ok(widen(&fit.model.reconstruct(&x.map(T::of))?))
            };
            let metrics = denoising_metrics(
                &fit.seen.test,
                own_noise,
                entry_scale(&fit.seen.train),
                fit.cell.seed,
                &reconstruct,
            )?;
            let extra = SaeMetrics {
                denoising: Some(metrics),
                ..SaeMetrics::default()
            };
            (Some(extra), None)
        }
        Some(MetricSet::Theory) => {
            let variant = fit.cell.variant.as_deref();
            let metrics = theory_metrics(&TheoryView {
                model: fit.model,
                tied: fit.cell.model.is_tied(),
                centre: variant.is_some_and(|v| v.centre),
                rule: variant.and_then(|v| v.spectral).unwrap_or_default(),
                fit: &fit.split.train,
                seen: &fit.seen.train,
                pca: &fit.split.pca,
                latent: fit.cell.latent,
                epochs: fit.history.len(),
                train_seed: fit.train_seed,
            })?;
            let extra = SaeMetrics {
                theory: Some(metrics),
                ..SaeMetrics::default()
            };
            (Some(extra), None)
        }
        Some(MetricSet::Dynamics) => {
            let k = pca_count(fit.split, fit.cell.latent);
            let metrics = dynamics_metrics(&DynamicsView {
                alignment: fit.alignment,
                test_mse: fit.test_mse,
                mean_test_mse: mean_mse(&fit.split.train, &fit.split.test)?,
                pca_test_mse: pca_mse(&fit.split.pca, k, &fit.split.test)?,
            });
            let extra = SaeMetrics {
                dynamics: Some(metrics),
                ..SaeMetrics::default()
            };
            (Some(extra), None)
        }
        None => (None, None),
    })
}

/// The MSE of predicting every row of `test` by the mean of the rows
/// `fit`: the error a model that learned nothing but the mean makes.
fn mean_mse(fit: &DMatrix<f64>, test: &DMatrix<f64>) -> Result<f64> {
    let mean = fit.row_mean();
    let guess = DMatrix::from_fn(test.nrows(), test.ncols(), |_, j| mean[j]);
    mse(&guess, test)
}

fn fit_autoencoder<T: Real>(
    study: &Study,
    cell: &Cell,
    split: &Split,
    records: Option<MetricSet>,
) -> Result<Measured> {
    let d = split.train.ncols();
    let spec = cell_spec(study, cell, d)?;
    let mut model = Autoencoder::<T>::new(&spec, derive_seed(cell.seed, 0))?;
    let cfg = cell_training(study, cell, split)?;
    let has_val = split.val.nrows() > 0;
    let cfg_is_minibatch = !cfg.is_lbfgs();
    // The model's own noise, as it trained (its σ resolved to the fitting
    // rows), for the denoising metrics.
    let own_noise = cfg.corruption;
    let train_seed = cfg.seed;
    let seen = SeenRows::of(split, cell.variant.as_deref())?;
    let x_train: DMatrix<T> = seen.train.map(T::of);
    let x_val: DMatrix<T> = seen.val.map(T::of);
    let x_test: DMatrix<T> = seen.test.map(T::of);
    if let Some(how) = cell.variant.as_ref().and_then(|v| v.pre_bias) {
        // From the rows the model fits, as PCA's mean is.
        model.init_pre_bias(&x_train, how)?;
    }
    let start = Instant::now();
    let Trained {
        model,
        history,
        stop,
        best_epoch,
        alignment,
    } = train_model(study, cell, split, cfg, model, &x_train, &x_val)?;
    let seconds = start.elapsed().as_secs_f64();

    let train_mse = seen.unit * mse(&widen(&model.reconstruct(&x_train)?), &seen.train)?;
    let val_mse = if has_val {
        seen.unit * mse(&widen(&model.reconstruct(&x_val)?), &seen.val)?
    } else {
        train_mse
    };
    let test_recon = widen(&model.reconstruct(&x_test)?);
    let test_mse = seen.unit * mse(&test_recon, &seen.test)?;
    let test_code = widen(&model.encode(&x_test)?);
    let first = &model.layers()[0];
    let filters = decoder_filters(first);
    let (angles, wwt_minus_i) = pca_geometry(split, cell, first, &filters)?;
    let (extra, firing) = extra_metrics(
        records,
        &FitView {
            model: &model,
            split,
            seen: &seen,
            cell,
            train_seed,
            x_train: &x_train,
            test_mse,
            alignment: alignment.as_deref(),
            test_recon: &test_recon,
            test_code: &test_code,
            history: &history,
        },
        own_noise,
    )?;
    Ok(Measured {
        params: model.parameter_count().total,
        train_mse,
        val_mse,
        test_mse,
        epochs: history.len(),
        best_epoch,
        stop,
        val_mse_at_budget: if cfg_is_minibatch {
            best_within(&history, study.protocol.equal_epochs)
        } else {
            None
        },
        seconds,
        angles,
        wwt_minus_i,
        extra,
        detail: CellDetail {
            history: Some(history),
            filters: StoredMatrix::of(&filters),
            reconstructions: StoredMatrix::of(&head(&test_recon)),
            codes: scatter_codes(&test_code),
            firing,
            alignment,
        },
        test_code,
    })
}

/// The rows a trained cell's model sees: its split's fitting, validation
/// and test rows, each less the fitting rows' mean when its variant
/// centres them ([`super::Variant::centre`]) and divided by the fitting
/// rows' scale when it standardises them ([`Variant::row_scale`]), else
/// the split's own (borrowed, not copied). A shift leaves MSEs unchanged
/// (a reconstruction shifted with its row is off by the same amount); a
/// scale `s` divides them by `s²`, which `unit` restores, so the cell's
/// MSEs are in the data's units.
struct SeenRows<'a> {
    train: Cow<'a, DMatrix<f64>>,
    val: Cow<'a, DMatrix<f64>>,
    test: Cow<'a, DMatrix<f64>>,
    /// `s²`: an MSE of these rows times this is one in the data's units.
    unit: f64,
}

impl<'a> SeenRows<'a> {
    fn of(split: &'a Split, variant: Option<&Variant>) -> Result<SeenRows<'a>> {
        let test: &'a DMatrix<f64> = &split.test;
        if !variant.is_some_and(|v| v.centre) {
            return Ok(SeenRows {
                train: Cow::Borrowed(&split.train),
                val: Cow::Borrowed(&split.val),
                test: Cow::Borrowed(test),
                unit: 1.0,
            });
        }
        let s = match variant {
            Some(v) => v.row_scale(&split.train)?,
            None => 1.0,
        };
        let mean = split.train.row_mean();
        // Division by 1 is exact: a variant that only centres sees the
        // centred rows bit for bit.
        let less = |x: &DMatrix<f64>| {
            DMatrix::from_fn(x.nrows(), x.ncols(), |i, j| (x[(i, j)] - mean[j]) / s)
        };
        Ok(SeenRows {
            train: Cow::Owned(less(&split.train)),
            val: Cow::Owned(less(&split.val)),
            test: Cow::Owned(less(test)),
            unit: s * s,
        })
    }
}

/// A cell's training as [`train_model`] ends it: the model kept, its
/// history, why it stopped, its best epoch and, for a cell followed epoch
/// by epoch ([`train_followed`]), the alignments after each epoch.
struct Trained<T: Real> {
    model: Autoencoder<T>,
    history: History,
    stop: StopKind,
    best_epoch: usize,
    alignment: Option<Vec<Vec<f64>>>,
}

impl<T: Real> Trained<T> {
    /// A run not followed epoch by epoch, from [`train_cell`]'s parts.
    fn unfollowed(
        (model, history, stop, best_epoch): (Autoencoder<T>, History, StopKind, usize),
    ) -> Trained<T> {
        Trained {
            model,
            history,
            stop,
            best_epoch,
            alignment: None,
        }
    }
}

/// Builds the cell's trainer from `cfg` (stopped by the study's interrupt
/// flag) and trains `model` on `x_train`, stopping on `x_val`, against the
/// split's leading principal directions (those of the rows the model
/// sees): one epoch at a time when its variant records the dynamics
/// metrics ([`train_followed`], at most [`DYNAMICS_DIRECTIONS`]
/// directions), to its variant's alignment stop when it has one
/// ([`train_until_aligned`]), else as [`train_cell`] does.
fn train_model<T: Real>(
    study: &Study,
    cell: &Cell,
    split: &Split,
    cfg: TrainConfig,
    model: Autoencoder<T>,
    x_train: &DMatrix<T>,
    x_val: &DMatrix<T>,
) -> Result<Trained<T>> {
    let mut trainer = cfg.build()?;
    if let Some(flag) = &study.interrupt {
        // An interrupted cell is abandoned (never cached): a batch
        // scheduler's grace period after SIGTERM may be shorter than a cell.
        trainer = trainer.with_interrupt_flag(flag.clone());
    }
    let variant = cell.variant.as_deref();
    let leading = |count: usize| split.pca.components().rows(0, count).into_owned();
    if variant.and_then(|v| v.metrics) == Some(MetricSet::Dynamics) {
        let u = leading(pca_count(split, cell.latent).min(DYNAMICS_DIRECTIONS));
        return train_followed(&trainer, model, x_train, x_val, &u);
    }
    let stop = variant.and_then(|v| v.spectral).and_then(|r| r.alignment);
    match stop {
        Some(stop) => {
            let u = leading(pca_count(split, cell.latent));
            train_until_aligned(&trainer, model, x_train, x_val, &u, stop).map(Trained::unfollowed)
        }
        None => train_cell(&trainer, model, x_train, x_val).map(Trained::unfollowed),
    }
}

/// Trains as [`train_cell`] does, one epoch at a time up to the config's
/// epochs, recording after each the alignment ([`direction_alignment`],
/// `max_j cos²(u_i, w_j)`) of every direction `u_i` (row of `u`) with the
/// first pair's decoder directions `w_j`: the curve
/// [`MetricSet::Dynamics`] reduces to its columns and the cell's detail
/// keeps for the charts. Epoch `e` (from 0) is a one-epoch run seeded
/// `derive_seed(seed, e)` from the config's seed, so every epoch draws its
/// own shuffle as the epochs of one run do; plain SGD at a constant rate
/// keeps no other state, so the epochs continue one run (what the
/// variant's validation demands). A diverged epoch ends it, as it ends
/// any run.
fn train_followed<T: Real>(
    trainer: &Trainer,
    mut model: Autoencoder<T>,
    x_train: &DMatrix<T>,
    x_val: &DMatrix<T>,
    u: &DMatrix<f64>,
) -> Result<Trained<T>> {
    let cfg = trainer.config();
    let mut history = History::new();
    let mut alignment = Vec::with_capacity(cfg.epochs);
    let mut stop = StopKind::MaxEpochs;
    while history.len() < cfg.epochs {
        let done = history.len();
        let one = cfg
            .clone()
            .epochs(1)
            .seed(derive_seed(cfg.seed, done as u64));
        let part = Trainer::new(one)?.with_interrupt_flag(trainer.interrupt_flag());
        let (trained, h, kind, _) = train_cell(&part, model, x_train, x_val)?;
        model = trained;
        let ran = h.len();
        history.epochs.extend(h.epochs.into_iter().map(|mut r| {
            r.epoch += done;
            r
        }));
        if ran > 0 {
            let w = widen(&model.layers()[0].decoder_weight()).transpose();
            alignment.push(direction_alignment(u, &w)?);
        }
        if ran == 0 || matches!(kind, StopKind::Diverged | StopKind::Patience) {
            stop = kind;
            break;
        }
    }
    let best_epoch = history.len();
    Ok(Trained {
        model,
        history,
        stop,
        best_epoch,
        alignment: Some(alignment),
    })
}

/// Trains as [`train_cell`] does, in chunks of `stop.every` epochs up to
/// the config's epochs, until the first pair's weight is axis-aligned with
/// the directions `u` below `stop.target` (see [`AlignmentStop`]): one
/// history over all chunks, a `converged` stop when aligned. Plain SGD at a
/// constant rate keeps no state, so the chunks continue one run (what the
/// variant's validation demands).
fn train_until_aligned<T: Real>(
    trainer: &Trainer,
    mut model: Autoencoder<T>,
    x_train: &DMatrix<T>,
    x_val: &DMatrix<T>,
    u: &DMatrix<f64>,
    stop: AlignmentStop,
) -> Result<(Autoencoder<T>, History, StopKind, usize)> {
    let cap = trainer.config().epochs;
    let mut history = History::new();
    while history.len() < cap {
        let done = history.len();
        let part = Trainer::new(trainer.config().clone().epochs(stop.every.min(cap - done)))?
            .with_interrupt_flag(trainer.interrupt_flag());
        let (trained, h, kind, _) = train_cell(&part, model, x_train, x_val)?;
        model = trained;
        history.epochs.extend(h.epochs.into_iter().map(|mut r| {
            r.epoch += done;
            r
        }));
        let n = history.len();
        if matches!(kind, StopKind::Diverged | StopKind::Patience) {
            return Ok((model, history, kind, n));
        }
        let w = widen(model.layers()[0].encoder_weight());
        if axis_alignment(u, &w)? < stop.target {
            return Ok((model, history, StopKind::Converged, n));
        }
    }
    let n = history.len();
    Ok((model, history, StopKind::MaxEpochs, n))
}

#[cfg(test)]
mod cell_tests {
    //! The cells of [`crate::study::cell`] with their cache keys (which
    //! this module computes).
    use super::{cell_config, fingerprints};
    use crate::data::Dataset;
    use crate::error::Error;
    use crate::hex::hex;
    use crate::model::{Activation, BiasMode};
    use crate::study::cell::*;
    use crate::study::protocol::Protocol;
    use crate::study::spec::{ModelKind, Precision, Study};
    use crate::study::variant::Variant;
    use crate::train::TrainConfig;
    use serde::Serialize;
    use sha2::{Digest, Sha256};
    use std::sync::Arc;

    /// The cache configuration as it was before variants and extra metrics
    /// existed, field for field: the oracle that keys of studies without
    /// them did not change.
    #[derive(Serialize)]
    struct OldConfig<'a> {
        version: u32,
        dataset: &'a str,
        fingerprint: &'a str,
        model: ModelKind,
        activation: Activation,
        bias_mode: BiasMode,
        latent: usize,
        n_train: usize,
        seed: u64,
        l2: f64,
        sparsity_weight: f64,
        learning_rate: Option<f64>,
        test_fraction: f64,
        split_seed: u64,
        pca_components: usize,
        protocol: &'a Protocol,
        training: Option<OldTraining<'a>>,
    }

    #[derive(Serialize)]
    struct OldTraining<'a> {
        hidden: &'a [usize],
        precision: Precision,
        config: &'a TrainConfig,
    }

    fn digits_study() -> Study {
        Study::new("old")
            .dataset(Dataset::builtin("digits").unwrap())
            .models(&[
                ModelKind::Pca,
                ModelKind::Tied,
                ModelKind::SparseTied,
                ModelKind::LinearUntied,
            ])
            .latents(&[2, 4])
            .seeds(&[0, 1])
            .n_trains(&[100, 300])
            .l2s(&[0.0, 1e-4])
            .sparsity_weights(&[0.0, 0.1])
            .hidden(&[16])
            .protocol(Protocol {
                learning_rates: vec![1e-3, 1e-2],
                ..Protocol::default()
            })
    }

    /// A cell's axes: (kind, activation, latent, n_train, seed, L2,
    /// sparsity weight, rate).
    type CellAxes = (
        ModelKind,
        Activation,
        usize,
        usize,
        u64,
        f64,
        f64,
        Option<f64>,
    );

    /// The cells of `digits_study` in the documented order, written out
    /// loop by loop.
    fn documented_order(s: &Study) -> Vec<CellAxes> {
        let mut want = Vec::new();
        for n_train in [100usize, 300] {
            for latent in [2usize, 4] {
                for model in &s.models {
                    if *model == ModelKind::Pca {
                        for seed in [0u64, 1] {
                            want.push((
                                *model,
                                Activation::Identity,
                                latent,
                                n_train,
                                seed,
                                0.0,
                                0.0,
                                None,
                            ));
                        }
                        continue;
                    }
                    let act = if model.is_linear() {
                        Activation::Identity
                    } else {
                        Activation::Relu
                    };
                    let sparsity: &[f64] = if *model == ModelKind::SparseTied {
                        &[0.0, 0.1]
                    } else {
                        &[0.0]
                    };
                    for l2 in [0.0, 1e-4] {
                        for &sw in sparsity {
                            for lr in [1e-3, 1e-2] {
                                for seed in [0u64, 1] {
                                    want.push((
                                        *model,
                                        act,
                                        latent,
                                        n_train,
                                        seed,
                                        l2,
                                        sw,
                                        Some(lr),
                                    ));
                                }
                            }
                        }
                    }
                }
            }
        }
        want
    }

    /// A study without variants enumerates the cells it always did, in the
    /// documented order (written out here loop by loop), and each cell's
    /// cache key is the SHA-256 of the configuration as it was serialized
    /// before variants existed (version 5, no variant or metrics fields).
    #[test]
    fn a_study_without_variants_keeps_its_cells_and_keys() {
        let s = digits_study();
        let cells = s.cells().unwrap();
        let want = documented_order(&s);
        let got: Vec<_> = cells
            .iter()
            .map(|c| {
                (
                    c.model,
                    c.activation,
                    c.latent,
                    c.n_train,
                    c.seed,
                    c.l2,
                    c.sparsity_weight,
                    c.learning_rate,
                )
            })
            .collect();
        assert_eq!(got, want);
        for (i, c) in cells.iter().enumerate() {
            assert_eq!(c.index, i);
            assert!(c.variant.is_none());
            assert_eq!(c.model_name(), c.model.name());
        }
        let fps = fingerprints(&s);
        for c in &cells {
            let n_fit = c.n_train - s.protocol.validation_rows(c.n_train);
            let old = OldConfig {
                version: 5,
                dataset: &c.dataset_name,
                fingerprint: &fps[c.dataset],
                model: c.model,
                activation: c.activation,
                bias_mode: c.bias_mode,
                latent: c.latent,
                n_train: c.n_train,
                seed: c.seed,
                l2: c.l2,
                sparsity_weight: c.sparsity_weight,
                learning_rate: c.learning_rate,
                test_fraction: s.test_fraction,
                split_seed: s.split_seed,
                pca_components: 4usize.min(n_fit).min(64),
                protocol: &s.protocol,
                training: c.model.is_trained().then_some(OldTraining {
                    hidden: if c.model.is_linear() { &[] } else { &s.hidden },
                    precision: s.precision,
                    config: &s.training,
                }),
            };
            let old_key = hex(&Sha256::digest(serde_json::to_vec(&old).unwrap()));
            assert_eq!(cell_config(&s, c, &fps[c.dataset]).key().unwrap(), old_key);
        }
    }

    /// Variants follow the model kinds at each latent size, crossed as a
    /// trained kind is; their cells carry the variant (its name is their
    /// model column) and its spec enters their keys.
    #[test]
    fn variants_are_cells_after_the_kinds() {
        let topk = Variant::new("topk", false).top_k_divisor(2);
        let l1 = Variant::new("l1", true)
            .l1(true)
            .activation(Activation::Relu);
        let s = digits_study().variants(&[topk.clone(), l1]);
        let plain = digits_study().cells().unwrap();
        let cells = s.cells().unwrap();
        // 2 latents x 2 sizes x (2 L2 x 2 rates x 2 seeds) x (1 + 2 weights).
        assert_eq!(cells.len(), plain.len() + 2 * 2 * 8 * 3);
        let names: Vec<&str> = cells
            .iter()
            .filter(|c| c.latent == 2 && c.n_train == 100)
            .map(Cell::model_name)
            .collect();
        assert_eq!(&names[names.len() - 24..names.len() - 16], ["topk"; 8]);
        assert_eq!(&names[names.len() - 16..], ["l1"; 16]);
        let t = cells
            .iter()
            .find(|c| c.model_name() == "topk" && c.latent == 4)
            .unwrap();
        assert_eq!(t.model, ModelKind::Untied);
        assert_eq!(t.activation, Activation::TopK { k: 2 });
        assert_eq!(t.sparsity_weight, 0.0);
        let fps = fingerprints(&s);
        let key = cell_config(&s, t, &fps[0]).key().unwrap();
        // The same cell with another spec has another key.
        let other = Variant::new("topk", false)
            .top_k_divisor(2)
            .unit_norm_decoder(true);
        let mut t2 = t.clone();
        t2.variant = Some(Arc::new(other));
        assert_ne!(cell_config(&s, &t2, &fps[0]).key().unwrap(), key);
        // A variant named as a kind is refused.
        let clash = digits_study().variants(&[Variant::new("tied", true)]);
        match clash.cells() {
            Err(Error::Config { field, .. }) => assert_eq!(field, "variants.name"),
            other => panic!("{other:?}"),
        }
        // Over-complete sizes need the switch.
        let wide = Study::new("wide")
            .dataset(Dataset::builtin("digits").unwrap())
            .models(&[ModelKind::Pca])
            .variants(&[topk])
            .latents(&[128]);
        assert!(wide.cells().is_err());
        assert_eq!(wide.overcomplete(true).cells().unwrap().len(), 2);
    }
}

#[cfg(test)]
mod training_tests {
    //! What a cell's training config takes from its cell.
    use super::{cell_training, prepare};
    use crate::data::Dataset;
    use crate::model::Activation;
    use crate::study::spec::{ModelKind, Study};
    use crate::study::variant::{L0Rule, Variant};

    /// A variant's L0 rule reaches its cells' training configs: each
    /// cell's L0 coefficient is its weight times the mean squared deviation
    /// per entry of the cell's own fitting rows (computed here column by
    /// column) over the target count, with no L1; an L1 variant's cells
    /// keep their weight as the L1 weight and no L0.
    #[test]
    fn l0_variant_cells_train_with_their_resolved_coefficient() {
        let jump = Variant::new("jump", true)
            .activation(Activation::jump_relu())
            .l0(L0Rule {
                weights: vec![0.25, 1.0],
                target_divisor: 2,
            });
        let l1 = Variant::new("l1", true)
            .l1(true)
            .activation(Activation::Relu);
        let s = Study::new("l0")
            .dataset(Dataset::builtin("digits").unwrap())
            .models(&[ModelKind::Pca])
            .variants(&[jump, l1])
            .latents(&[2, 8])
            .seeds(&[0, 1])
            .n_trains(&[100, 300])
            .sparsity_weights(&[0.0, 0.1]);
        let cells = s.cells().unwrap();
        let prepared = prepare(&s, &cells).unwrap();
        let (mut jumps, mut l1s) = (0, 0);
        for c in &cells {
            let split = prepared.split(c);
            let cfg = cell_training(&s, c, split).unwrap();
            match c.model_name() {
                "jump" => {
                    let x = &split.train;
                    let (n, d) = x.shape();
                    let mut total = 0.0;
                    for j in 0..d {
                        let col: Vec<f64> = x.column(j).iter().copied().collect();
                        let mean = col.iter().sum::<f64>() / n as f64;
                        total += col.iter().map(|v| (v - mean).powi(2)).sum::<f64>();
                    }
                    let v = total / (n * d) as f64;
                    let m = (c.latent / 2).max(1) as f64;
                    let want = c.sparsity_weight * v / m;
                    assert!(want > 0.0, "{c:?}");
                    assert!(
                        (cfg.loss.l0 - want).abs() <= 1e-12 * want,
                        "{} vs {want}",
                        cfg.loss.l0
                    );
                    assert_eq!(cfg.loss.l1, 0.0);
                    jumps += 1;
                }
                "l1" => {
                    assert_eq!((cfg.loss.l1, cfg.loss.l0), (c.sparsity_weight, 0.0));
                    l1s += 1;
                }
                _ => assert_eq!((cfg.loss.l1, cfg.loss.l0), (0.0, 0.0)),
            }
        }
        // 2 latents x 2 sizes x 2 seeds x 2 weights each.
        assert_eq!((jumps, l1s), (16, 16));
    }
}
