//! Running a [`ReportJob`]: check, load, study, present, write.
//!
//! The order is chosen so that every cheap check comes before the first
//! expensive step, and the first disk write comes after the last thing
//! that can fail: the flags, the output directory, the data and the latent
//! sizes are all checked before any model trains, and the report is
//! rendered in memory before [`write_report`] installs it, never leaving the
//! output without a readable page.

use crate::app::job::{ReportJob, check_latent_sizes, check_output_dir};
use crate::app::progress::JobProgress;
use crate::app::studies::{
    COMPARISON, DEFAULT_LATENT, StudyOutput, Tuning, check_study_name, distinct_cells, own_latents,
    preset, run_study, split_seed_of, test_fraction, tuning_of,
};
use crate::atomic::remove_stale_temps;
use crate::data::{Dataset, train_test_split};
use crate::error::{Error, Result};
use crate::linalg::{FittedPca, Pca};
use crate::provenance::Provenance;
use crate::report::card::{dataset_card, pca_spectrum_section, source_line};
use crate::report::details;
use crate::report::sections;
use crate::report::{ReportInput, Section, read_provenance, report_dir_name, write_report};
use crate::study::builtin::{Preset, RunOptions};
use crate::study::{
    DetailedResults, MAX_CAP_GROWTH, Protocol, Search, dataset_sha256, frame_to_rows, read_results,
    select_tuned,
};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::SystemTime;

/// The directory under `--out` where finished cells are cached (hidden, so
/// the index page does not list it).
pub const CACHE_DIR: &str = ".cache";

impl ReportJob {
    /// Runs the job and returns the path of the report's `index.html`.
    ///
    /// # Errors
    /// Every input problem (flags, study name, dataset, latent sizes,
    /// output directory) is reported before any training; see
    /// [`ReportJob::validate`], [`ReportJob::load_dataset`],
    /// [`check_latent_sizes`] and [`check_output_dir`]. Study and writing
    /// errors follow. On any error no report directory is left behind.
    pub fn run(&self, progress: &JobProgress) -> Result<PathBuf> {
        self.run_until(progress, None)
    }

    /// [`ReportJob::run`], stopping between study cells once `stop` is
    /// raised (see [`crate::app::signals`]).
    ///
    /// Finished cells are cached in `<out>/.cache/<dataset>/` as they
    /// finish, so nothing finished is lost: a stopped run fails with
    /// [`crate::Error::StudyInterrupted`], writes no report, and the same
    /// job run again continues from the cache (its results are those of an
    /// uninterrupted run, bit for bit, apart from timings).
    ///
    /// # Errors
    /// As [`ReportJob::run`], and [`crate::Error::StudyInterrupted`].
    pub fn run_until(
        &self,
        progress: &JobProgress,
        stop: Option<Arc<AtomicBool>>,
    ) -> Result<PathBuf> {
        // Before anything this run writes: temporary files older than this
        // are a killed run's, never this one's.
        let started = SystemTime::now();
        self.validate()?;
        if let Some(path) = &self.results {
            return self.run_from_results(path, progress, started);
        }
        check_study_name(self.study_name())?;
        check_output_dir(&self.out)?;
        remove_stale_temps(&self.out, started);
        progress.stage(&format!("loading dataset {}", self.dataset));
        let ds = self.load_dataset()?;
        let (n_train, n_test) = split_sizes(&ds, self.quick);
        let (latent, dropped) = self.checked_latent_sizes(ds.n_features(), n_train)?;
        let preset = preset(self.quick, &latent, self.seeds, self.epochs, &ds);
        progress.stage(&format!(
            "{}: {} samples x {} features; study {} with latent sizes {:?}, {} seed(s), {} epochs",
            ds.name(),
            ds.n_samples(),
            ds.n_features(),
            self.study_name(),
            preset.latents,
            preset.seeds.len(),
            preset.epochs,
        ));

        let cache_dir = self.out.join(CACHE_DIR).join(report_dir_name(ds.name())?);
        remove_stale_temps(&cache_dir, started);
        let opts = RunOptions {
            cache_dir: Some(cache_dir),
            interrupt: stop,
            ..RunOptions::default()
        };
        let tuning = tuning_of(self.quick, &preset, &ds);
        let output = run_study(self.study_name(), &ds, &preset, progress, &opts, tuning)?;

        progress.stage("drawing charts");
        let name = ds.name().to_string();
        // The spectrum is one split's: the largest training set of the
        // first seed (each seed draws its own split).
        let first_seed = preset.seeds.first().copied().unwrap_or(0);
        let pca = match output.details.as_ref().and_then(|d| {
            d.pcas
                .iter()
                .max_by_key(|p| (p.n_train, std::cmp::Reverse(p.seed)))
                .map(|p| p.pca.clone())
        }) {
            Some(pca) => pca,
            None => spectrum_pca(&ds, first_seed)?,
        };
        let page = self.sections(&output, &pca, &name, &preset.protocol())?;
        let mut facts = self.facts(&ds, (n_train, n_test), &preset, tuning, &output);
        if !dropped.is_empty() {
            facts.push((
                "latent sizes dropped".to_string(),
                format!(
                    "the default sizes {} do not fit {} features (a latent size must be below the dimension and the fitting rows)",
                    join(&dropped),
                    ds.n_features()
                ),
            ));
        }
        let provenance = Provenance {
            seeds: preset.seeds.clone(),
            dataset_sha256: dataset_sha256(&ds),
            studies: output.timings.clone(),
            ..Provenance::of_build()
        };
        let path = self.write(&ds, facts, page, output, provenance, progress)?;
        progress.stage(&format!("done in {:.1} s", progress.elapsed_seconds()));
        Ok(path)
    }

    /// Hands the page to the report layer, which installs it so that a
    /// previous page stays readable until the new one replaces it.
    fn write(
        &self,
        ds: &Dataset,
        facts: Vec<(String, String)>,
        sections: Vec<Section>,
        output: StudyOutput,
        provenance: Provenance,
        progress: &JobProgress,
    ) -> Result<PathBuf> {
        let input = ReportInput {
            dataset: dataset_card(ds, source_line(&self.dataset), facts)?,
            sections,
            findings: output.findings,
            results: output.results,
            provenance: Some(provenance),
        };
        progress.stage("writing the report");
        write_report(&input, &self.out)
    }

    /// The report of a finished results file (`--results`), without
    /// training: the sections drawn from the results frame (verdict, error
    /// against latent size and parameters, overfitting, angles, the
    /// learning-rate grid, parameters). Shards keep only their results, so
    /// a merged study stays small; the per-cell charts (training curves,
    /// filters, reconstructions, codes) need a run's artifacts and are left
    /// out, and the page says so. The dataset (`--dataset`) must be the one
    /// the results name, for the card and the PCA spectrum.
    fn run_from_results(
        &self,
        path: &Path,
        progress: &JobProgress,
        started: SystemTime,
    ) -> Result<PathBuf> {
        check_output_dir(&self.out)?;
        remove_stale_temps(&self.out, started);
        progress.stage(&format!("reading results {}", path.display()));
        // A file written before shared cells were kept once may hold them
        // twice; each is one measurement.
        let results = distinct_cells(&read_results(path)?)?;
        let rows = frame_to_rows(&results)?;
        let named: BTreeSet<&str> = rows.iter().map(|r| r.dataset.as_str()).collect();
        let ds = self.load_dataset()?;
        if named.len() != 1 || !named.contains(ds.name()) {
            let names: Vec<String> = named.iter().map(|n| format!("{n:?}")).collect();
            return Err(Error::config(
                "--dataset",
                format!(
                    "the results are for {}, the dataset given is {:?}: pass the dataset the results were made on",
                    names.join(", "),
                    ds.name()
                ),
            ));
        }
        let output = StudyOutput {
            results,
            details: None,
            findings: Vec::new(),
            has_results_columns: true,
            figures: Default::default(),
            timings: Vec::new(),
        };
        let name = ds.name().to_string();
        // A results file does not record its protocol; the built-in
        // presets share one validation fraction, which is the one stated.
        let protocol = Preset::full().protocol();
        let mut seeds: Vec<u64> = rows.iter().map(|r| r.seed as u64).collect();
        seeds.sort_unstable();
        seeds.dedup();
        // The spectrum is the first seed's split, as a run's is.
        let first_seed = seeds.first().copied().unwrap_or(0);
        let page = self.sections(&output, &spectrum_pca(&ds, first_seed)?, &name, &protocol)?;
        let facts = vec![
            (
                "results".to_string(),
                format!("{} ({} cells)", path.display(), rows.len()),
            ),
            (
                "charts".to_string(),
                "drawn from the results file alone: training curves, filters, reconstructions and codes need the training run's artifacts and are left out".to_string(),
            ),
        ];
        // The run that made the results, when the file says; else this one.
        let recorded = match path.extension().and_then(|e| e.to_str()) {
            Some("parquet") => read_provenance(path)?,
            _ => None,
        };
        let provenance = recorded.unwrap_or_else(|| Provenance {
            seeds,
            dataset_sha256: dataset_sha256(&ds),
            ..Provenance::of_build()
        });
        self.write(&ds, facts, page, output, provenance, progress)
    }

    /// The latent sizes to sweep: the flag's, or the study default.
    pub fn latent_sizes(&self) -> Vec<usize> {
        match &self.latent {
            Some(k) => k.clone(),
            None if self.quick => Preset::quick().latents,
            None => DEFAULT_LATENT.to_vec(),
        }
    }

    /// The latent sizes to sweep on data with `d` features and `n_train`
    /// training rows, and the default sizes dropped to get them.
    ///
    /// Sizes given with `--latent` are used as given (and checked by
    /// [`check_latent_sizes`]). Default sizes must fit the data they meet:
    /// those of at least `d` (where PCA reconstructs exactly and a ratio to
    /// it means nothing) or above the fitting rows are dropped; if none is
    /// left, the sizes `1..d` up to the smallest default take their place.
    ///
    /// A study with its own size rule ([`Builtin::own_latents`], e.g.
    /// `sae`) takes its rule's sizes instead of the defaults, over-complete
    /// ones included; only those above the fitting rows are dropped.
    ///
    /// [`Builtin::own_latents`]: crate::study::builtin::Builtin::own_latents
    pub fn fitted_latent_sizes(&self, d: usize, n_train: usize) -> (Vec<usize>, Vec<usize>) {
        let wanted = self.latent_sizes();
        if self.latent.is_some() {
            return (wanted, Vec::new());
        }
        // The protocol's validation rows are not fitted (both presets carve
        // the same fraction).
        let n_fit = n_train - Preset::full().protocol().validation_rows(n_train);
        if let Some(rule) = own_latents(self.study_name()) {
            return rule(d).into_iter().partition(|&k| k >= 1 && k <= n_fit);
        }
        let fits = |k: usize| k >= 1 && k < d && k <= n_fit;
        let (mut kept, dropped): (Vec<usize>, Vec<usize>) =
            wanted.iter().copied().partition(|&k| fits(k));
        if kept.is_empty() {
            let first = wanted.iter().copied().min().unwrap_or(1);
            kept = (1..d.min(first + 1)).filter(|&k| fits(k)).collect();
        }
        (kept, dropped)
    }

    /// [`ReportJob::fitted_latent_sizes`], checked by
    /// [`check_latent_sizes`]: sizes above `d` are refused unless the
    /// study has its own size rule (over-complete codes, as in `sae`).
    ///
    /// # Errors
    /// [`Error::Config`] naming the first size that does not fit.
    pub fn checked_latent_sizes(
        &self,
        d: usize,
        n_train: usize,
    ) -> Result<(Vec<usize>, Vec<usize>)> {
        let sizes = self.fitted_latent_sizes(d, n_train);
        let width = own_latents(self.study_name()).is_none().then_some(d);
        check_latent_sizes(&sizes.0, width, n_train)?;
        Ok(sizes)
    }

    /// The study's name (`comparison` unless `--study` says otherwise).
    pub fn study_name(&self) -> &str {
        self.study.as_deref().unwrap_or(COMPARISON)
    }

    fn sections(
        &self,
        output: &StudyOutput,
        pca: &FittedPca<f64>,
        name: &str,
        protocol: &Protocol,
    ) -> Result<Vec<Section>> {
        let mut page = vec![pca_spectrum_section(pca, name)?];
        let figures = crate::report::figures::sections(&output.figures)?;
        if !output.has_results_columns {
            page.extend(figures);
            return Ok(page);
        }
        // Every chart and the verdict read the tuned rows: one rule, stated
        // on the page, for all of them.
        let all = frame_to_rows(&output.results)?;
        let rows = select_tuned(&all);
        let tuned_details = output.details.as_ref().map(|d| DetailedResults {
            results: d.results.clone(),
            cells: d
                .cells
                .iter()
                .filter(|c| rows.contains(&c.row))
                .cloned()
                .collect(),
            pcas: d.pcas.clone(),
        });
        let mut found = vec![
            sections::mse_vs_latent(&rows, name)?,
            sections::mse_vs_params(&rows, name)?,
            sections::overfitting(&rows, name)?,
        ];
        if let Some(d) = &tuned_details {
            found.push(details::training_curves(d, name)?);
            found.push(details::gradient_norms(d, name)?);
            found.push(details::filters(d, name)?);
            found.push(details::reconstructions(d, name)?);
            found.push(details::latent_scatter(d, name)?);
        }
        found.push(sections::principal_angles(&rows, name)?);
        found.push(sections::learning_rates(&all)?);
        found.push(sections::parameter_table(&rows)?);
        let found: Vec<Section> = found.into_iter().flatten().chain(figures).collect();
        let ids: Vec<&str> = found.iter().map(|s| s.id.as_str()).collect();
        if let Some(v) = sections::verdict(&all, &ids, Some(protocol))? {
            page.insert(0, v);
        }
        page.extend(found);
        Ok(page)
    }

    /// The Dataset box's facts: the split, the study, the latent sizes the
    /// results hold, what a seed varies, and how the cells were trained and
    /// tuned, as this run did it (`tuning`, which a run applies to studies
    /// run in detail: the learning-rate search beyond the preset's grid and
    /// the cap in optimizer steps that replaces its epoch cap).
    fn facts(
        &self,
        ds: &Dataset,
        (n_train, n_test): (usize, usize),
        preset: &Preset,
        tuning: Tuning,
        output: &StudyOutput,
    ) -> Vec<(String, String)> {
        let mut facts = vec![(
            "train / test".to_string(),
            format!("{n_train} / {n_test} (a stratified split per seed)"),
        )];
        if let Some(m) = preset.max_rows.filter(|&m| m < ds.n_samples()) {
            facts.push((
                "rows studied".to_string(),
                format!("a seeded sample of {m} of the {} rows", ds.n_samples()),
            ));
        }
        facts.push(("study".to_string(), self.study_name().to_string()));
        facts.push(("latent sizes".to_string(), latent_sizes(preset, output)));
        facts.push((
            "seeds".to_string(),
            format!(
                "{}: each seed draws its own train/test split (stratified by class), training \
                 rows and validation carve (drawn by class), initialisation and batch order, \
                 shared by every model of that seed, so an interval over seeds covers the data \
                 sample",
                preset.seeds.len()
            ),
        ));
        // The tuning reaches the studies run in detail, which are the ones
        // with details; the others keep the preset's grid and epoch cap.
        let tuned = output.details.is_some();
        let mut protocol = preset.protocol();
        if tuned && tuning.max_steps.is_some() {
            protocol.max_steps = tuning.max_steps;
        }
        let grid = protocol
            .learning_rates
            .iter()
            .map(|r| format!("{r}"))
            .collect::<Vec<_>>()
            .join(", ");
        let rates = if protocol.learning_rates.is_empty() {
            format!("learning rate {}", preset.learning_rate)
        } else if tuned && tuning.bracket {
            let probes = if tuning.search == Search::Probed {
                "; a new rate runs first on half the seeds, rounded up, and on the rest only if it does no worse there"
            } else {
                ""
            };
            format!(
                "learning rate chosen per model, latent size and training size by mean validation MSE over seeds, from {{{grid}}} extended half a decade at a time beyond the edge the choice sits on until it is interior or at a hard bound ({} or {}){probes} (see Learning-rate sensitivity)",
                crate::study::MIN_LEARNING_RATE,
                crate::study::MAX_LEARNING_RATE
            )
        } else {
            format!(
                "learning rate chosen per model, latent size and training size from {{{grid}}} by mean validation MSE over seeds"
            )
        };
        let n_fit = n_train - protocol.validation_rows(n_train);
        let cap = match protocol.max_steps {
            Some(steps) => format!(
                "at most {steps} optimizer steps ({} epochs at {n_train} training rows, more at smaller training sizes), and at a rate η below the grid's lowest η₀ as many in rate × steps (η₀/η times the steps, at most {MAX_CAP_GROWTH} times), since an Adam step moves a weight by about the rate",
                protocol.epoch_cap(preset.epochs, n_fit, preset.batch_size, f64::INFINITY)
            ),
            None => format!("at most {} epochs", preset.epochs),
        };
        let stopping = match protocol.patience {
            Some(p) => format!(
                "early stopping after {p} epochs without validation improvement, best-validation weights kept, {cap}"
            ),
            None => match protocol.max_steps {
                Some(_) => cap,
                None => format!("{} epochs", preset.epochs),
            },
        };
        facts.push((
            "training".to_string(),
            format!(
                "{}% of the training rows validate, the rest fit (PCA fits the same rows); linear models: full-batch L-BFGS to its tolerance, at most {} iterations; nonlinear: Adam, batch {}, {stopping}; {rates}",
                100.0 * protocol.validation_fraction,
                preset.lbfgs_iters,
                preset.batch_size,
            ),
        ));
        if output.details.is_none() {
            facts.push((
                "charts".to_string(),
                "this study returns a frame only: per-cell charts are not drawn".to_string(),
            ));
        }
        facts
    }
}

/// The latent sizes the results hold, which are the ones every chart and
/// the verdict use: the preset's sweep, and any size a study adds (untied
/// at `k / 2` for the equal-weights question), said as such.
fn latent_sizes(preset: &Preset, output: &StudyOutput) -> String {
    let swept = join(&preset.latents);
    let held: Option<Vec<usize>> = output
        .has_results_columns
        .then(|| frame_to_rows(&output.results).ok())
        .flatten()
        .map(|rows| {
            rows.iter()
                .filter_map(|r| usize::try_from(r.latent).ok())
                .collect::<BTreeSet<usize>>()
                .into_iter()
                .collect()
        });
    match held {
        Some(held) if !held.is_empty() && held != preset.latents => format!(
            "{} (the sweep {swept}, and the sizes a study adds, such as untied at k/2 for the equal-weights question)",
            join(&held)
        ),
        _ => swept,
    }
}

/// `1, 2, 4` for `[1, 2, 4]`.
fn join(v: &[usize]) -> String {
    v.iter()
        .map(usize::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Training and test rows of the studies' split: the studies split a
/// seeded sample of at most the preset's `max_rows` rows, holding out
/// `round(rows * test_fraction)`.
fn split_sizes(ds: &Dataset, quick: bool) -> (usize, usize) {
    let max_rows = if quick {
        Preset::quick().max_rows
    } else {
        Preset::full().max_rows
    };
    let rows = max_rows.map_or(ds.n_samples(), |m| m.min(ds.n_samples()));
    let test = (rows as f64 * test_fraction()).round() as usize;
    (rows - test, test)
}

/// A PCA with every component of the training part of `seed`'s split, for
/// the spectrum of studies that do not hand theirs over.
fn spectrum_pca(ds: &Dataset, seed: u64) -> Result<FittedPca<f64>> {
    let (train, _) = train_test_split(ds, test_fraction(), split_seed_of(seed))?;
    Pca::count(train.n_features().min(train.n_samples())).fit(train.x())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A run's output with details and no rows, for the facts.
    fn detailed_output() -> StudyOutput {
        let empty = crate::study::rows_to_frame(&[]).unwrap();
        StudyOutput {
            results: empty.clone(),
            details: Some(DetailedResults {
                results: empty,
                cells: Vec::new(),
                pcas: Vec::new(),
            }),
            findings: Vec::new(),
            has_results_columns: true,
            figures: Default::default(),
            timings: Vec::new(),
        }
    }

    /// A results row of `model` at latent size `latent`, for the facts.
    fn cell(model: &str, latent: i64) -> crate::study::Row {
        crate::study::Row {
            dataset: "digits".into(),
            model: model.into(),
            activation: "relu".into(),
            bias_mode: "separate".into(),
            latent,
            params: 129 * latent,
            n_train: 1438,
            seed: 0,
            l2: 0.0,
            sparsity_weight: 0.0,
            train_mse: 0.02,
            test_mse: 0.025,
            pca_test_mse: 0.024,
            ratio_to_pca: 0.025 / 0.024,
            epochs: 100,
            seconds: 1.0,
            max_angle_deg: Some(30.0),
            mean_angle_deg: Some(12.0),
            wwt_minus_i: None,
            dead_fraction: 0.0,
            sparsity: 0.0,
            learning_rate: Some(1e-3),
            best_epoch: 80,
            val_mse: 0.024,
            stop_reason: "patience".into(),
            val_mse_at_budget: Some(0.03),
        }
    }

    /// The latent sizes fact lists every size the results hold (the ones
    /// the verdict and the charts use, k = 1 among them when a study adds
    /// it), not only the sweep, and says which sizes a study added.
    #[test]
    fn the_latent_sizes_fact_lists_the_sizes_the_results_hold() {
        let ds = Dataset::builtin("digits").unwrap();
        let full = preset(false, &[2, 4], None, None, &ds);
        let mut output = detailed_output();
        output.results =
            crate::study::rows_to_frame(&[cell("tied", 2), cell("tied", 4), cell("untied", 1)])
                .unwrap();
        assert_eq!(
            latent_sizes(&full, &output),
            "1, 2, 4 (the sweep 2, 4, and the sizes a study adds, such as untied at k/2 for the equal-weights question)"
        );
        output.results =
            crate::study::rows_to_frame(&[cell("tied", 2), cell("untied", 4)]).unwrap();
        assert_eq!(latent_sizes(&full, &output), "2, 4");
    }

    /// The Dataset box says how a full run trained and tuned: the search
    /// beyond the preset's grid, per training size too, and the cap in
    /// optimizer steps with the epochs it gives at the full training set,
    /// not the preset's epoch cap that small-n rows run far past.
    #[test]
    fn the_training_fact_states_the_search_and_the_step_cap() {
        let ds = Dataset::builtin("digits").unwrap();
        let (n_train, n_test) = split_sizes(&ds, false);
        let full = preset(false, &[2, 4], None, None, &ds);
        let tuning = tuning_of(false, &full, &ds);
        let job = ReportJob::default();
        let facts = job.facts(&ds, (n_train, n_test), &full, tuning, &detailed_output());
        let training = &facts
            .iter()
            .find(|(name, _)| name == "training")
            .expect("a training fact")
            .1;
        // 1438 rows, 288 validate: 1150 fit in 9 batches of 128; the cap is
        // twice the preset's 2000 epochs of them.
        assert!(
            training.contains("at most 36000 optimizer steps (4000 epochs at 1438 training rows"),
            "{training}"
        );
        assert!(!training.contains("at most 2000 epochs"), "{training}");
        assert!(
            training.contains("training size") && training.contains("half a decade at a time"),
            "{training}"
        );
        assert!(
            training.contains("half the seeds, rounded up"),
            "{training}"
        );
        // A quick run keeps its grid and epoch cap, and says so.
        let quick = preset(true, &[2, 4], None, None, &ds);
        let facts = job.facts(
            &ds,
            split_sizes(&ds, true),
            &quick,
            tuning_of(true, &quick, &ds),
            &detailed_output(),
        );
        let training = &facts.iter().find(|(name, _)| name == "training").unwrap().1;
        assert!(
            training.contains(&format!("at most {} epochs", quick.epochs)),
            "{training}"
        );
        assert!(!training.contains("half a decade"), "{training}");
    }
}
