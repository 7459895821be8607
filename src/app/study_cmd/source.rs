//! The study a command names: a study file, or a built-in study of the
//! [registry](crate::study::builtin::REGISTRY) sized for a dataset.
//!
//! Either way the command ends up with a [`Study`] and the [`StudyFile`]
//! that describes it with absolute paths: `study run` keeps that file in
//! its output directory (so `study status` can rebuild the study, and a
//! result can be traced to exactly what ran), and `study show` prints it.

use crate::app::job::ReportJob;
use crate::app::studies;
use crate::data::{Dataset, split_tensor_spec};
use crate::error::{Error, Result};
use crate::study::builtin::{self, Builtin, Preset, RunOptions, Source};
use crate::study::file::{DatasetEntry, SpikedEntry};
use crate::study::{Study, StudyFile, read_study_file};
use std::path::{Path, PathBuf};

/// A study file or a built-in study.
#[derive(Clone, Debug)]
pub enum StudySource {
    /// A `.toml` study file.
    File(PathBuf),
    /// A built-in study.
    Builtin(&'static Builtin),
}

/// How a built-in study is sized: its dataset and preset.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BuiltinOptions {
    /// A built-in dataset name or a path to a `.csv`/`.parquet`/`.npy`/
    /// `.safetensors` file (`FILE.safetensors:NAME` for one of its tensors).
    pub dataset: String,
    /// The quick preset instead of the full one.
    pub quick: bool,
}

impl Default for BuiltinOptions {
    fn default() -> Self {
        BuiltinOptions {
            dataset: crate::app::job::DEFAULT_DATASET.into(),
            quick: false,
        }
    }
}

/// A loaded study and the file that describes it (absolute paths).
#[derive(Clone, Debug)]
pub struct LoadedStudy {
    /// The study, checked down to its cells.
    pub study: Study,
    /// Its description.
    pub file: StudyFile,
}

/// Names of the built-in studies.
fn builtin_names() -> String {
    builtin::REGISTRY
        .iter()
        .map(|b| b.name)
        .collect::<Vec<_>>()
        .join(", ")
}

impl StudySource {
    /// A `.toml` path (which must exist) or a built-in study's name.
    ///
    /// # Errors
    /// [`Error::Io`] for a missing `.toml` file; [`Error::Config`] for a
    /// name that is neither, listing the built-in names.
    pub fn parse(arg: &str) -> Result<StudySource> {
        if arg.to_ascii_lowercase().ends_with(".toml") {
            let path = PathBuf::from(arg);
            if !path.is_file() {
                return Err(Error::io(
                    &path,
                    std::io::Error::new(std::io::ErrorKind::NotFound, "no such study file"),
                ));
            }
            return Ok(StudySource::File(path));
        }
        builtin::find(arg).map(StudySource::Builtin).ok_or_else(|| {
            Error::config(
                "study",
                format!(
                    "{arg:?} is neither a .toml study file nor a built-in study ({})",
                    builtin_names()
                ),
            )
        })
    }

    /// Loads the study. `opts` size a built-in study; a study file names
    /// its own datasets, so a `--dataset` other than the default is refused
    /// for one (`dataset_given` says whether the flag was given).
    ///
    /// # Errors
    /// Study-file errors (naming file, line and key); an unknown dataset;
    /// a built-in study that is not one plain study.
    pub fn load(&self, opts: &BuiltinOptions, dataset_given: bool) -> Result<LoadedStudy> {
        match self {
            StudySource::File(path) => {
                if dataset_given || opts.quick {
                    return Err(Error::config(
                        "--dataset",
                        "--dataset and --quick size built-in studies; a study file names its own datasets and sizes",
                    ));
                }
                let (mut file, study) = read_study_file(path)?;
                let base = path
                    .parent()
                    .filter(|p| !p.as_os_str().is_empty())
                    .unwrap_or(Path::new("."));
                let base = std::fs::canonicalize(base).map_err(|e| Error::io(base, e))?;
                for d in &mut file.datasets {
                    d.path = d.path.as_ref().map(|p| base.join(p));
                    d.labels_file = d.labels_file.as_ref().map(|p| base.join(p));
                }
                Ok(LoadedStudy { study, file })
            }
            StudySource::Builtin(b) => load_builtin(b, opts),
        }
    }
}

/// Builds built-in study `b` on `opts.dataset`, as one [`Study`].
///
/// # Errors
/// [`Error::Config`] for a table (one that trains nothing) or a study
/// made of several studies, which a shard cannot hold: run its parts as
/// files.
pub fn load_builtin(b: &Builtin, opts: &BuiltinOptions) -> Result<LoadedStudy> {
    let job = ReportJob {
        dataset: opts.dataset.clone(),
        ..ReportJob::default()
    };
    job.validate()?;
    let ds = job.load_dataset()?;
    let base = if opts.quick {
        Preset::quick()
    } else {
        Preset::full()
    };
    let latents: Vec<usize> = match b.own_latents {
        // A study with its own size rule (the sae study's over-complete
        // codes) runs its rule's sizes, as its report does: those within
        // the fitting rows.
        Some(rule) => {
            let rows = base
                .max_rows
                .map_or(ds.n_samples(), |m| m.min(ds.n_samples()));
            let train = rows - (rows as f64 * studies::test_fraction()).round() as usize;
            let n_fit = train - base.protocol().validation_rows(train);
            rule(ds.n_features())
                .into_iter()
                .filter(|&k| k >= 1 && k <= n_fit)
                .collect()
        }
        None => base.latents.clone(),
    };
    let preset = studies::preset(opts.quick, &latents, None, None, &ds);
    let run = RunOptions::default();
    let make = match b.source {
        Source::Detailed(make) => make,
        // Frame studies whose frame is one study's, post-processed: the
        // shard runs the study; its summary's extra columns are the
        // report's business.
        Source::Frame(_) if b.name == "l2_directions" => builtin::l2_directions::study,
        Source::Frame(_) if b.name == "convergence" => builtin::convergence::study,
        Source::Frame(_) => {
            return Err(Error::config(
                "study",
                format!(
                    "{} is several studies in one frame; a sharded run needs one study (write a study file per part)",
                    b.name
                ),
            ));
        }
        Source::Table(_) => {
            return Err(Error::config(
                "study",
                format!(
                    "{} is a table that trains nothing; there is nothing to run",
                    b.name
                ),
            ));
        }
    };
    let study = make(&ds, &preset, &run)?;
    study.cells()?;
    let entries = dataset_entries(b, &study, &opts.dataset, &ds, &preset)?;
    let file = StudyFile::from_study(&study, entries)?;
    Ok(LoadedStudy { study, file })
}

/// The `[[datasets]]` entries of built-in study `b`, built as `study` on
/// `ds` (loaded from `spec`) with `preset`: the report's dataset, sampled
/// as the study samples it. The Refinetti–Goldt study runs on its
/// synthetic data first (generated from the entry's `spiked` key, so a
/// shard regenerates the same rows) and on the report's only when the
/// data suit it.
fn dataset_entries(
    b: &Builtin,
    study: &Study,
    spec: &str,
    ds: &Dataset,
    preset: &Preset,
) -> Result<Vec<DatasetEntry>> {
    use crate::study::builtin::refinetti_goldt;
    if b.name != refinetti_goldt::NAME {
        return Ok(vec![dataset_entry(spec, ds, preset.max_rows)?]);
    }
    let mut entries = vec![DatasetEntry {
        spiked: Some(SpikedEntry::of(&refinetti_goldt::synthetic())),
        name: Some(refinetti_goldt::SYNTHETIC.into()),
        ..DatasetEntry::default()
    }];
    if study.datasets.len() > 1 {
        entries.push(dataset_entry(spec, ds, refinetti_goldt::max_rows(preset))?);
    }
    Ok(entries)
}

/// The `[[datasets]]` entry of a built-in study's dataset `spec` (loaded
/// as `ds`), sampled to `max_rows` as the built-ins do.
fn dataset_entry(spec: &str, ds: &Dataset, max_rows: Option<usize>) -> Result<DatasetEntry> {
    let sampled = max_rows.filter(|&m| m < ds.n_samples());
    if Dataset::builtin_names().contains(&spec) {
        return Ok(DatasetEntry {
            builtin: Some(spec.into()),
            max_rows: sampled,
            ..DatasetEntry::default()
        });
    }
    // A study file names a tensor with its own key beside `path`.
    let (file, tensor) = split_tensor_spec(spec);
    let path = std::fs::canonicalize(file).map_err(|e| Error::io(file, e))?;
    Ok(DatasetEntry {
        path: Some(path),
        tensor: tensor.map(str::to_string),
        image_shape: ds.image_shape().map(|(h, w)| [h, w]),
        name: Some(ds.name().to_string()),
        max_rows: sampled,
        ..DatasetEntry::default()
    })
}

/// The TOML text of `loaded`, checked to describe the same cells: read
/// back, it must give the same study id, or a cache and results written
/// under it would not be the ones a rerun of the file finds.
///
/// # Errors
/// [`Error::InvalidData`] if the text does not read back to the study.
pub fn study_toml(loaded: &LoadedStudy) -> Result<String> {
    let text = loaded.file.to_toml()?;
    let here = Path::new("<written study>");
    let back = StudyFile::parse(&text, here)?.to_study(&text, here, Path::new("/"))?;
    if back.study_id()? != loaded.study.study_id()? {
        return Err(Error::InvalidData(format!(
            "study {:?} cannot be written as a file with the same cells",
            loaded.study.name
        )));
    }
    Ok(text)
}
