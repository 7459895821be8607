//! Which study a report runs and how: the default comparison, the theory
//! page ([`THEORY_PARTS`]: every claims table, stacked), or one
//! built-in study of the [registry](crate::study::builtin::REGISTRY) by
//! name, sized from the job's flags and run in slices so that progress
//! shows between them.
//!
//! The default comparison is three registry entries
//! ([`COMPARISON_PARTS`]) on the same splits (one per seed),
//! whose results share one frame:
//! [`linear_pca`](crate::study::builtin::linear_pca) (PCA and linear tied /
//! untied autoencoders: the Eckart–Young and Baldi–Hornik oracles),
//! [`equal_budget`](crate::study::builtin::equal_budget) (nonlinear tied vs
//! untied vs PCA at equal latent size and equal weights) and
//! [`overfitting`](crate::study::builtin::overfitting) (train/test gap
//! against training-set size). Each keeps its own summary, so every finding
//! on the page is computed by the study that measured it.

use crate::app::progress::JobProgress;
use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::provenance::StudyTime;
use crate::study::builtin::{self, Builtin, LatentsFn, Preset, REGISTRY, RunOptions, Source};
use crate::study::{COLUMNS, Cell, DetailedResults, Figures, Precision, Search, Study};
use polars::prelude::DataFrame;

/// The name of the default study.
pub const COMPARISON: &str = "comparison";

/// The registry entries the default comparison runs, in order.
pub const COMPARISON_PARTS: [&str; 3] = ["linear_pca", "equal_budget", "overfitting"];

/// The study name whose page runs every theory study: the
/// [theory](crate::study::builtin::theory) study's claims, then
/// [`THEORY_PARTS`]' others, stacked into one claims table.
pub const THEORY: &str = "theory";

/// The registry entries `--study theory` runs, in order. Each is a grid of
/// cells whose frame the page turns into its claims table
/// ([`Builtin::claims`]), and the tables stack; the theory study's Bao et
/// al. chart is drawn beside them. The `denoising` study is a grid of
/// cells with its own page (its claims as a table:
/// [`crate::study::builtin::denoising::claims_table`]).
pub const THEORY_PARTS: [&str; 2] = ["theory", "refinetti_goldt"];

/// Names `--study` accepts: [`COMPARISON`], then the
/// [registry](crate::study::builtin::REGISTRY)'s.
pub const STUDY_NAMES: [&str; REGISTRY.len() + 1] = study_names();

const fn study_names() -> [&'static str; REGISTRY.len() + 1] {
    let mut names = [COMPARISON; REGISTRY.len() + 1];
    let mut i = 0;
    while i < REGISTRY.len() {
        names[i + 1] = REGISTRY[i].name;
        i += 1;
    }
    names
}

/// Latent sizes of the default comparison.
pub const DEFAULT_LATENT: [usize; 5] = [2, 4, 8, 16, 32];

/// The registry entries the study `study` runs.
fn parts(study: &str) -> Result<Vec<&'static Builtin>> {
    let names: &[&str] = match study {
        COMPARISON => &COMPARISON_PARTS,
        THEORY => &THEORY_PARTS,
        _ => &[study],
    };
    names
        .iter()
        .map(|name| {
            builtin::find(name).ok_or_else(|| {
                Error::config(
                    "--study",
                    format!(
                        "unknown study {study:?}; use one of {}",
                        STUDY_NAMES.join(", ")
                    ),
                )
            })
        })
        .collect()
}

/// The size rule of the study `study`, when it has its own
/// ([`Builtin::own_latents`]: the `sae` study compares under- and
/// over-complete codes); `None` for the comparison, the other studies and
/// unknown names.
pub fn own_latents(study: &str) -> Option<LatentsFn> {
    if study == COMPARISON {
        return None;
    }
    builtin::find(study).and_then(|b| b.own_latents)
}

/// Checks a `--study` name.
///
/// # Errors
/// [`Error::Config`] listing the names for an unknown one.
pub fn check_study_name(name: &str) -> Result<()> {
    parts(name).map(drop)
}

/// Data entries (rows x features) above which a dataset counts as large:
/// its comparison runs fewer seeds and a lower epoch cap, so that mnist10k
/// stays within a quarter of an hour on two cores.
const SMALL_DATA_ENTRIES: usize = 500_000;
/// Seeds of a full run on large data (the fewest an interval rests on).
const LARGE_DATA_SEEDS: usize = 3;
/// Epoch cap of a full run on large data.
const LARGE_DATA_EPOCHS: usize = 1000;

/// The sizes of a run on `ds`: the preset of the built-in studies (quick
/// or full), with the job's latent sizes, seeds and epoch cap where given.
///
/// On large data a full run uses [`LARGE_DATA_SEEDS`] seeds and an epoch
/// cap of [`LARGE_DATA_EPOCHS`], and the comparison's linear part (full-
/// batch L-BFGS in f64, the slowest cells) runs the first seed only. The
/// overfitting sweep uses 1/16 and 1/4 of the training rows besides all of
/// them, so it spans the same range on every dataset.
pub fn preset(
    quick: bool,
    latent: &[usize],
    seeds: Option<usize>,
    epochs: Option<usize>,
    ds: &Dataset,
) -> Preset {
    let mut p = if quick {
        Preset::quick()
    } else {
        Preset::full()
    };
    p.latents = latent.to_vec();
    if !quick && is_large(ds, &p) {
        p.seeds = (0..LARGE_DATA_SEEDS as u64).collect();
        p.epochs = LARGE_DATA_EPOCHS;
    }
    if let Some(n) = seeds {
        p.seeds = (0..n as u64).collect();
    }
    if let Some(e) = epochs {
        p.epochs = e;
    }
    let rows = studied_rows(ds, &p);
    let train = rows - (rows as f64 * test_fraction()).round() as usize;
    p.n_trains = vec![train / 16, train / 4];
    p
}

/// How a report run tunes and caps its minibatch cells, beyond its preset.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Tuning {
    /// Extend each configuration's learning rates until its choice is
    /// interior or at a hard bound ([`Study::run_bracketed`]).
    pub bracket: bool,
    /// How the search runs the rates it adds (probed unless asked).
    pub search: Search,
    /// The cap of every minibatch cell in optimizer steps
    /// ([`crate::study::Protocol::max_steps`]).
    pub max_steps: Option<usize>,
}

/// The tuning of a report run on `ds` with `preset`. A full run brackets
/// every tuned rate and caps cells in steps: twice the preset's epoch cap
/// times the batches per epoch of the largest training set (the studied
/// training part less its validation rows). The largest training size so
/// gets twice the preset's epoch cap, room for the lowest rates the search
/// reaches (a rate half a decade lower needs about three times the steps),
/// and every smaller one gets as many updates, many more epochs, instead
/// of stopping at the cap after a few hundred steps. Early stopping ends
/// almost every cell long before the cap.
/// A quick run, a check that the pipeline works rather than evidence,
/// keeps its grid and epoch cap, so it stays quick.
pub fn tuning_of(quick: bool, preset: &Preset, ds: &Dataset) -> Tuning {
    if quick {
        return Tuning::default();
    }
    let rows = studied_rows(ds, preset);
    let train = rows - (rows as f64 * test_fraction()).round() as usize;
    let n_fit = train - preset.protocol().validation_rows(train);
    let per_epoch = n_fit.div_ceil(preset.batch_size.max(1)).max(1);
    Tuning {
        bracket: true,
        search: Search::Probed,
        max_steps: Some(preset.epochs.saturating_mul(2).saturating_mul(per_epoch)),
    }
}

/// Rows the built-in studies use: all, or a seeded sample of `max_rows`.
fn studied_rows(ds: &Dataset, p: &Preset) -> usize {
    p.max_rows.map_or(ds.n_samples(), |m| m.min(ds.n_samples()))
}

/// Whether the studied data has more than [`SMALL_DATA_ENTRIES`] entries.
fn is_large(ds: &Dataset, p: &Preset) -> bool {
    studied_rows(ds, p) * ds.n_features() > SMALL_DATA_ENTRIES
}

/// The built-in studies' held-out fraction (their default), so the card
/// and the sizes here describe the split they use.
pub fn test_fraction() -> f64 {
    Study::new("split").test_fraction
}

/// The seed of the train/test split that model seed `seed` of a built-in
/// study draws (each seed draws its own: [`Study::data_seed`]).
pub fn split_seed_of(seed: u64) -> u64 {
    Study::new("split").data_seed(seed)
}

/// What a study run gives the report.
pub struct StudyOutput {
    /// The results frame (the comparison: its parts' frames stacked, with
    /// the shared results columns).
    pub results: DataFrame,
    /// Histories, filters, reconstructions and PCAs, when the study was
    /// run in detail; `None` for frame-only and table studies and for
    /// pages of claims tables.
    pub details: Option<DetailedResults>,
    /// Findings of each part's summary, in order.
    pub findings: Vec<String>,
    /// Whether the frame has the results columns (charts can be drawn).
    pub has_results_columns: bool,
    /// The charts' data of frame and table studies.
    pub figures: Figures,
    /// Wall time of each part, in run order.
    pub timings: Vec<StudyTime>,
}

/// Cells per shard when a study runs in slices: small enough that progress
/// lines come every few seconds, large enough to keep both cores busy.
const CELLS_PER_SLICE: usize = 6;

/// Runs the study `name` on `ds` with `opts` (cache, interrupt flag) and
/// `tuning` (the learning-rate search and step cap of its plain studies),
/// reporting progress.
///
/// # Errors
/// An unknown name ([`Error::Config`]), or any study error (bad sizes for
/// the data, a diverged cell, ...). A raised interrupt flag gives
/// [`Error::StudyInterrupted`] counting the cells finished (and cached) of
/// all the study's parts.
pub fn run_study(
    name: &str,
    ds: &Dataset,
    preset: &Preset,
    progress: &JobProgress,
    opts: &RunOptions,
    tuning: Tuning,
) -> Result<StudyOutput> {
    let parts = parts(name)?;
    let mut frames = Vec::new();
    let mut details: Vec<DetailedResults> = Vec::new();
    let mut findings = Vec::new();
    let mut all_detailed = true;
    let mut tabular = false;
    let mut figures = Figures::default();
    // Build every study first, so a size that does not fit the data fails
    // before anything trains.
    let studies = build_studies(name, &parts, ds, preset, opts, tuning)?;
    // Values beyond f32's range stop the run here, before any cell (see
    // `check_f32_data`). Frame and table studies do not declare a
    // precision, and several train in f32: they are held to its range too.
    // The loaded data is checked, not each study's sample of it, so the
    // row named is the file's.
    if studies.iter().any(|s| s.as_ref().is_none_or(trains_in_f32)) {
        ds.check_f32_range()?;
    }
    let mut total: usize = studies
        .iter()
        .flatten()
        .map(|s| s.selected_cells().map(|c| c.len()))
        .sum::<Result<usize>>()?;
    if total > 0 {
        progress.begin(total as u64, "study cells");
    }
    let mut finished = 0;
    let mut timings = Vec::with_capacity(parts.len());
    for (part, study) in parts.iter().zip(studies) {
        let began = std::time::Instant::now();
        progress.stage(&format!("study {}", part.name));
        let frame = match (&part.source, study) {
            (Source::Detailed(_), Some(study)) => {
                let result = run_detailed(
                    &study,
                    part.name,
                    progress,
                    tuning,
                    &mut finished,
                    &mut total,
                )?;
                if let Some(charts) = part.charts {
                    figures.extend(charts(&result)?);
                }
                let frame = result.results.clone();
                details.push(result);
                frame
            }
            (Source::Frame(run), _) => {
                all_detailed = false;
                let out = run_noted(progress, opts, |o| run(ds, preset, o))?;
                figures.extend(out.figures);
                out.frame
            }
            (Source::Table(run), _) => {
                all_detailed = false;
                tabular = true;
                let out = run(ds, preset)?;
                figures.extend(out.figures);
                out.frame
            }
            (Source::Detailed(_), None) => unreachable!("built above"),
        };
        findings.extend((part.summary)(&frame)?);
        let claims = claims_page(name, part, &frame, ds, preset, &mut figures)?;
        tabular |= claims.is_some();
        frames.push(claims.unwrap_or(frame));
        timings.push(StudyTime {
            study: part.name.to_string(),
            seconds: began.elapsed().as_secs_f64(),
        });
    }
    progress.end();
    let results = if frames.len() == 1 {
        frames.pop().unwrap_or_default()
    } else {
        stack(&frames, tabular)?
    };
    // A page of claims tables draws no per-cell charts.
    let details = (all_detailed && !tabular && !details.is_empty())
        .then(|| merge_details(details, results.clone()));
    Ok(StudyOutput {
        results,
        details,
        findings,
        has_results_columns: !tabular,
        figures,
        timings,
    })
}

/// The frame of a part whose page states its claims ([`Builtin::claims`]:
/// the theory studies) as its claims table, which the page shows (and
/// stacks with the others of [`THEORY_PARTS`]); on the theory page, Bao
/// et al.'s chart (runs of its own, see
/// [`bao_figures`](crate::study::builtin::theory::bao_figures)) is added
/// to `figures`. `None` for the parts whose page shows their rows.
///
/// # Errors
/// A frame without the part's metric columns; the chart's training
/// errors.
fn claims_page(
    name: &str,
    part: &Builtin,
    frame: &DataFrame,
    ds: &Dataset,
    preset: &Preset,
    figures: &mut Figures,
) -> Result<Option<DataFrame>> {
    let Some(table) = part.claims else {
        return Ok(None);
    };
    if name == THEORY && part.name == THEORY {
        figures
            .curves
            .extend(builtin::theory::bao_figures(ds, preset)?);
    }
    Ok(Some(table(frame)?))
}

/// The studies of the detailed parts of the study `name` (`None` for
/// frame and table parts, which build their own), sized from `preset` and
/// capped by `tuning`. Built before any part runs, so that a size that
/// does not fit the data fails before anything trains.
fn build_studies(
    name: &str,
    parts: &[&'static Builtin],
    ds: &Dataset,
    preset: &Preset,
    opts: &RunOptions,
    tuning: Tuning,
) -> Result<Vec<Option<Study>>> {
    let mut studies = Vec::new();
    let large = is_large(ds, preset);
    for part in parts {
        if let Source::Detailed(make) = part.source {
            let mut sized = preset.clone();
            if large && part.name == "linear_pca" && name == COMPARISON {
                // L-BFGS reaches the same optimum (up to a rotation) from
                // every start, and on large data each fit costs minutes:
                // the comparison spends its seeds on the minibatch models.
                sized.seeds.truncate(1);
            }
            let mut study = make(ds, &sized, opts)?;
            if tuning.max_steps.is_some() {
                study.protocol.max_steps = tuning.max_steps;
            }
            studies.push(Some(study));
        } else {
            studies.push(None);
        }
    }
    Ok(studies)
}

/// Runs a detailed part's `study` in slices, through the learning-rate
/// search when `tuning` brackets. The search's later rounds add cells the
/// count did not know of, so `total` grows with them; `finished` counts
/// the cells done over all parts (see [`run_cells_in_slices`]).
fn run_detailed(
    study: &Study,
    name: &str,
    progress: &JobProgress,
    tuning: Tuning,
    finished: &mut usize,
    total: &mut usize,
) -> Result<DetailedResults> {
    if tuning.bracket {
        // The grid's cells are counted already; each round of
        // the search adds its own.
        let mut first = true;
        let searched = study.bracketed(tuning.search, |s, cells| {
            if !first {
                progress.extend(cells.len() as u64);
                *total += cells.len();
            }
            first = false;
            run_cells_in_slices(s, cells, name, progress, finished, *total)
        });
        Ok(searched?.0)
    } else {
        run_in_slices(study, name, progress, finished, *total)
    }
}

/// Refuses data beyond `f32`'s range when `study` trains a model in `f32`.
/// Such values are finite in the loaded `f64` data and become infinities
/// only when a cell converts them, after other cells have run and been
/// cached; checked before the first cell, the study stops before any work.
///
/// # Errors
/// [`Error::InvalidData`] from [`Dataset::check_f32_range`], naming the
/// dataset, row and column.
pub fn check_f32_data(study: &Study) -> Result<()> {
    if !trains_in_f32(study) {
        return Ok(());
    }
    study
        .datasets
        .iter()
        .try_for_each(|ds| ds.check_f32_range())
}

/// Whether `study` converts its data to `f32`: it trains a model in `f32`
/// (each kind in its own family's precision, [`Study::precision_for`]).
fn trains_in_f32(study: &Study) -> bool {
    (!study.variants.is_empty() && study.precision == Precision::F32)
        || study
            .models
            .iter()
            .any(|&m| m.is_trained() && study.precision_for(m) == Precision::F32)
}

/// Runs `run` with options whose [`RunOptions::note`] shows each line as a
/// stage of `progress`. The study's lines cross a channel to a scoped
/// thread that owns the printing, so the callback needs nothing of
/// `progress` (which the study's worker threads could not borrow).
fn run_noted<T>(
    progress: &JobProgress,
    opts: &RunOptions,
    run: impl FnOnce(&RunOptions) -> Result<T>,
) -> Result<T> {
    let (send, receive) = std::sync::mpsc::channel::<String>();
    let noted = RunOptions {
        note: Some(builtin::Note(std::sync::Arc::new(move |m: &str| {
            // The receiver lives until the study returns.
            let _ = send.send(m.to_string());
        }))),
        ..opts.clone()
    };
    std::thread::scope(|scope| {
        scope.spawn(|| {
            for line in receive {
                progress.stage(&line);
            }
        });
        // Dropping the options drops the sender and ends the printer.
        let result = run(&noted);
        drop(noted);
        result
    })
}

/// Runs the selected cells of `study` as [`run_cells_in_slices`] runs
/// cells, so that progress can be reported between slices.
fn run_in_slices(
    study: &Study,
    name: &str,
    progress: &JobProgress,
    finished: &mut usize,
    total: usize,
) -> Result<DetailedResults> {
    let cells = study.selected_cells()?;
    run_cells_in_slices(study, &cells, name, progress, finished, total)
}

/// Runs `cells` of `study` a slice of [`CELLS_PER_SLICE`] at a time (each
/// slice's cells in parallel) so that progress shows between slices, in
/// detail, keeping their order.
///
/// `finished` counts the cells done so far over all of a report's studies
/// (of `total`), as in [`run_in_slices`].
fn run_cells_in_slices(
    study: &Study,
    cells: &[Cell],
    name: &str,
    progress: &JobProgress,
    finished: &mut usize,
    total: usize,
) -> Result<DetailedResults> {
    let quiet = study.clone().progress(false);
    // The study's own empty frame: it has the columns of its extra
    // metrics, if any, so every slice stacks on it.
    let mut all = DetailedResults {
        results: study.results_frame(&[], &[])?,
        cells: Vec::with_capacity(cells.len()),
        pcas: Vec::new(),
    };
    for slice in cells.chunks(CELLS_PER_SLICE) {
        let result = match quiet.execute_cells(slice, true) {
            Err(Error::StudyInterrupted { done, .. }) => {
                return Err(Error::StudyInterrupted {
                    done: *finished + done,
                    total,
                });
            }
            other => other?,
        };
        *finished += slice.len();
        for cell in &result.cells {
            progress.advance(&format!(
                "{name}: {} k={} n={} seed {} lr {}: test MSE {:.5}",
                cell.row.model,
                cell.row.latent,
                cell.row.n_train,
                cell.row.seed,
                cell.row
                    .learning_rate
                    .map_or_else(|| "-".to_string(), |r| r.to_string()),
                cell.row.test_mse
            ));
        }
        // PCA cells of a frame-only run have no artifacts; count them too.
        for _ in result.cells.len()..slice.len() {
            progress.advance(&format!("{name}: cell done"));
        }
        all.append(result)?;
    }
    Ok(all)
}

/// Stacks frames of the results columns (any extra columns dropped), or,
/// when `tables`, tables that share the first one's columns (the claims
/// tables of `--study theory`); tables with other columns are an error.
fn stack(frames: &[DataFrame], tables: bool) -> Result<DataFrame> {
    let names: Vec<&str> = if tables {
        let first = frames
            .first()
            .ok_or_else(|| Error::InvalidData("no study produced results".into()))?;
        let names: Vec<&str> = first
            .get_column_names()
            .iter()
            .map(|n| n.as_str())
            .collect();
        for f in frames {
            let other: Vec<&str> = f.get_column_names().iter().map(|n| n.as_str()).collect();
            if other != names {
                return Err(Error::InvalidData(format!(
                    "tables with columns {names:?} and {other:?} cannot share one page"
                )));
            }
        }
        names
    } else {
        COLUMNS.iter().map(|(n, _)| *n).collect()
    };
    let mut out: Option<DataFrame> = None;
    for f in frames {
        let f = f.select(names.iter().copied())?;
        out = Some(match out {
            None => f,
            Some(mut acc) => {
                acc.vstack_mut(&f)?;
                acc
            }
        });
    }
    let mut out = out.ok_or_else(|| Error::InvalidData("no study produced results".into()))?;
    out.rechunk_mut();
    if tables {
        Ok(out)
    } else {
        distinct_cells(&out)
    }
}

/// `frame` (of the results columns) with every cell once: the first row of
/// each cell, in order. Two studies of a report share cells (PCA at a
/// latent size, tied and untied at the full training set), and the shared
/// cell is one measurement: counted twice it would inflate the row count,
/// and its seeds would pair twice. Rows that differ only in their timing
/// are the same cell.
///
/// # Errors
/// As [`crate::study::frame_to_rows`] and [`crate::study::rows_to_frame`].
pub(crate) fn distinct_cells(frame: &DataFrame) -> Result<DataFrame> {
    let rows = crate::study::frame_to_rows(frame)?;
    let mut seen = std::collections::HashSet::new();
    let distinct: Vec<crate::study::Row> = rows
        .into_iter()
        .filter(|r| {
            let untimed = crate::study::Row {
                seconds: 0.0,
                ..r.clone()
            };
            seen.insert(format!("{untimed:?}"))
        })
        .collect();
    crate::study::rows_to_frame(&distinct)
}

fn merge_details(parts: Vec<DetailedResults>, results: DataFrame) -> DetailedResults {
    let mut cells = Vec::new();
    let mut pcas: Vec<crate::study::SplitPca> = Vec::new();
    for p in parts {
        cells.extend(p.cells);
        for s in p.pcas {
            if !pcas
                .iter()
                .any(|q| q.dataset == s.dataset && q.n_train == s.n_train && q.seed == s.seed)
            {
                pcas.push(s);
            }
        }
    }
    DetailedResults {
        results,
        cells,
        pcas,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_follow_the_flags_and_the_data() {
        let digits = Dataset::builtin("digits").unwrap();
        let p = preset(false, &[2, 4], Some(3), None, &digits);
        assert_eq!(p.latents, [2, 4]);
        assert_eq!(p.seeds, [0, 1, 2]);
        assert_eq!(p.epochs, Preset::full().epochs);
        // 1797 rows, round(359.4) = 359 held out: 1438 training rows.
        assert_eq!(p.n_trains, [1438 / 16, 1438 / 4]);
        let p = preset(true, &[2], None, Some(7), &digits);
        assert_eq!((p.epochs, p.seeds.len()), (7, Preset::quick().seeds.len()));
    }

    /// The comparison's parts share cells (the full-size tied and untied
    /// cells of the equal-budget and overfitting parts): stacked, each
    /// shared cell is kept once whatever its timing, so the page's row
    /// count and the verdict's pairing count it once.
    #[test]
    fn stacked_parts_keep_a_shared_cell_once() {
        let cell = |seed: i64, seconds: f64| crate::study::Row {
            dataset: "digits".into(),
            model: "tied".into(),
            activation: "relu".into(),
            bias_mode: "separate".into(),
            latent: 32,
            params: 2144,
            n_train: 1438,
            seed,
            l2: 0.0,
            sparsity_weight: 0.0,
            train_mse: 0.003,
            test_mse: 0.004,
            pca_test_mse: 0.0035,
            ratio_to_pca: 0.004 / 0.0035,
            epochs: 200,
            seconds,
            max_angle_deg: Some(40.0),
            mean_angle_deg: Some(20.0),
            wwt_minus_i: None,
            dead_fraction: 0.0,
            sparsity: 0.0,
            learning_rate: Some(3e-4),
            best_epoch: 180,
            val_mse: 0.0035,
            stop_reason: "patience".into(),
            val_mse_at_budget: Some(0.01),
        };
        let a = crate::study::rows_to_frame(&[cell(0, 1.0), cell(1, 1.0)]).unwrap();
        let b = crate::study::rows_to_frame(&[cell(1, 2.0), cell(2, 1.0)]).unwrap();
        let stacked = stack(&[a, b], false).unwrap();
        let seeds: Vec<i64> = crate::study::frame_to_rows(&stacked)
            .unwrap()
            .iter()
            .map(|r| r.seed)
            .collect();
        assert_eq!(seeds, [0, 1, 2]);
    }

    #[test]
    fn study_names_are_checked() {
        for name in STUDY_NAMES {
            check_study_name(name).unwrap();
        }
        let err = check_study_name("linear-pca").unwrap_err().to_string();
        assert!(err.contains("linear_pca"), "{err}");
    }
}
