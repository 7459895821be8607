//! Study files: a [`Study`] written as TOML, so a sweep can be described,
//! reviewed, versioned and run (`study run FILE.toml`) without writing
//! Rust.
//!
//! A file is deserialised with serde into [`StudyFile`] (every table denies
//! unknown keys: a misspelt key would otherwise silently take its default
//! and run a different study), then turned into the same [`Study`] the
//! builder makes ([`StudyFile::to_study`]). Keys left out take the
//! builder's defaults ([`Study::new`], [`TrainConfig::default`],
//! [`Protocol::default`]). [`StudyFile::from_study`] goes the other way, so
//! every built-in study can be written out as a file (`study show NAME`)
//! and rerun with the same cells, cache keys included.
//!
//! Errors name the file, the line and the key ([`read_study_file`]): the
//! toml parser's own errors carry the span of the offending key or value,
//! and the checks made after parsing (a latent size larger than the data, a
//! missing data file) are traced back to the line that set the key.
//!
//! ```toml
//! name = "tied-vs-pca"
//! models = ["pca", "linear_tied", "tied"]
//! latents = [4, 8]
//! seeds = [0, 1, 2]
//!
//! [[datasets]]
//! builtin = "digits"
//!
//! [training]
//! epochs = 100
//! batch_size = 64
//! learning_rate = 0.003
//!
//! [protocol]
//! patience = 10
//! ```

use super::builtin::sample_rows;
use super::limits::check_name;
use super::protocol::Protocol;
use super::spec::{FamilyTraining, ModelKind, Precision, Study};
use super::variant::Variant;
use crate::data::file::read_regular;
use crate::data::{Dataset, LoadOptions};
use crate::error::{Error, Result};
use crate::model::{Activation, BiasMode, KlSparsity, L0Mode, LossConfig, Reconstruction};
use crate::train::{Optimizer, Schedule, TrainConfig};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A study file as parsed. Field order is the order `show` writes keys in:
/// TOML needs a table's plain values before its sub-tables.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StudyFile {
    /// The study's name (shard files and manifests carry it, and `study
    /// run` writes to `studies/NAME` by default): ASCII letters, digits,
    /// `.`, `_` and `-`.
    pub name: String,
    /// Model kinds, by their `model` column names (`pca`, `linear_tied`, ...).
    pub models: Vec<ModelKind>,
    /// Latent sizes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latents: Option<Vec<usize>>,
    /// Seeds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seeds: Option<Vec<u64>>,
    /// Training-set sizes: row counts, or `"all"` for the whole training part.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n_trains: Option<Vec<NTrain>>,
    /// Bias modes (`none`, `separate`, `mirrored`, `pre_centering`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bias_modes: Option<Vec<BiasMode>>,
    /// L2 coefficients.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub l2s: Option<Vec<f64>>,
    /// L1 code penalties of `sparse_tied`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sparsity_weights: Option<Vec<f64>>,
    /// Extra hidden widths of the nonlinear kinds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hidden: Option<Vec<usize>>,
    /// `f32` or `f64`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub precision: Option<Precision>,
    /// Fraction of each dataset held out as test data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_fraction: Option<f64>,
    /// Root of every seed's data split ([`crate::study::Study::data_seed`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub split_seed: Option<u64>,
    /// Accept latent sizes above the data's width (over-complete codes;
    /// see [`Study::overcomplete`](crate::study::Study#structfield.overcomplete)).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub overcomplete: Option<bool>,
    /// Hidden activation of the nonlinear kinds, e.g. `{ kind = "relu" }`,
    /// `{ kind = "leaky_relu", alpha = 0.01 }`, `{ kind = "top_k", k = 32 }`
    /// or `{ kind = "jump_relu", bandwidth = 0.05, init_threshold = 0.01 }`
    /// (a JumpReLU only on single-pair kinds: it is a latent activation).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub activation: Option<Activation>,
    /// The datasets (`[[datasets]]` tables).
    pub datasets: Vec<DatasetEntry>,
    /// Named variants crossed after the model kinds (`[[variants]]`
    /// tables, see [`Variant`]), e.g.
    /// `name = "tied_topk"`, `tied = true`, `top_k_divisor = 4`,
    /// `unit_norm_decoder = true`, `metrics = "sae"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variants: Option<Vec<Variant>>,
    /// How every autoencoder trains (`[training]`).
    #[serde(default, skip_serializing_if = "TrainingEntry::is_empty")]
    pub training: TrainingEntry,
    /// Validation, early stopping and the learning-rate grid (`[protocol]`).
    #[serde(default, skip_serializing_if = "ProtocolEntry::is_empty")]
    pub protocol: ProtocolEntry,
}

/// One `[[datasets]]` table: a built-in dataset or a data file.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatasetEntry {
    /// A built-in dataset's name (`digits`, `mnist10k`); or give `path`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub builtin: Option<String>,
    /// A `.csv`, `.parquet`, IDX, `.npy` or `.safetensors` file; relative
    /// paths are taken from the study file's directory, so a study and its
    /// data move together.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<PathBuf>,
    /// CSV/Parquet: the column of integer class labels (left out of the data).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label_column: Option<String>,
    /// IDX: the labels file beside the images file (as MNIST ships them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels_file: Option<PathBuf>,
    /// `.safetensors`: the tensor to read, needed when the file holds
    /// several (rows are samples).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tensor: Option<String>,
    /// Each row is a row-major image of `[height, width]` pixels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_shape: Option<[usize; 2]>,
    /// The name results carry (default: the built-in's, or the file's stem).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Use a seeded sample of this many rows (the sample the built-in
    /// studies take), to bound the time of a large dataset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_rows: Option<usize>,
}

/// A training-set size: a row count or the whole training part.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NTrain(pub Option<usize>);

impl Serialize for NTrain {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        match self.0 {
            Some(n) => s.serialize_u64(n as u64),
            None => s.serialize_str("all"),
        }
    }
}

impl<'de> Deserialize<'de> for NTrain {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = NTrain;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a row count or \"all\"")
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> std::result::Result<NTrain, E> {
                usize::try_from(v)
                    .map(|n| NTrain(Some(n)))
                    .map_err(|_| E::custom(format!("{v} rows is too many")))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> std::result::Result<NTrain, E> {
                u64::try_from(v)
                    .map_err(|_| E::custom(format!("{v} is not a row count")))
                    .and_then(|v| self.visit_u64(v))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> std::result::Result<NTrain, E> {
                if v == "all" {
                    Ok(NTrain(None))
                } else {
                    Err(E::invalid_value(serde::de::Unexpected::Str(v), &self))
                }
            }
        }
        d.deserialize_any(V)
    }
}

/// The `[training]` table: [`TrainConfig`]'s fields that a study does not
/// set per cell, each optional over [`TrainConfig::default`]. (The study
/// sets the seed, validation, early stopping, progress and checkpoints
/// itself; the loss's `l1` and `l2` are replaced by each cell's sparsity
/// weight and L2 coefficient.)
///
/// The same keys in a `[training.linear]` table, over
/// [`TrainConfig::default`] as well (not over `[training]`), with a
/// `precision` of their own, train the linear kinds instead
/// ([`Study::linear_training`]):
///
/// ```toml
/// [training.linear]
/// precision = "f64"   # absent: the study's precision
/// optimizer = { kind = "lbfgs", max_iters = 300, memory = 10, tol_grad = 1e-10, tol_cost = 1e-16 }
/// ```
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainingEntry {
    /// `[training.linear]` only: the linear kinds' precision (`[training]`
    /// takes the study's top-level `precision`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub precision: Option<Precision>,
    /// Epoch cap of minibatch training.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub epochs: Option<usize>,
    /// Rows per minibatch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch_size: Option<usize>,
    /// Rows per parallel shard of a batch (fixed, for thread-count
    /// independent results).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard_size: Option<usize>,
    /// Base learning rate (when the protocol has no grid).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub learning_rate: Option<f64>,
    /// Weight decay.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight_decay: Option<f64>,
    /// Global gradient-norm clip.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clip_grad_norm: Option<f64>,
    /// The update rule, e.g. `{ kind = "adam", beta1 = 0.9, beta2 = 0.999,
    /// eps = 1e-8 }` or `{ kind = "lbfgs", max_iters = 300, memory = 10,
    /// tol_grad = 1e-10, tol_cost = 1e-16, tol_cost_rel = 2.2e-9 }`
    /// (`tol_cost_rel` may be left out: off).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub optimizer: Option<Optimizer>,
    /// Learning-rate schedule, e.g. `{ kind = "cosine", min_factor = 0.1 }`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<Schedule>,
    /// The reconstruction term and KL sparsity (`[training.loss]`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub loss: Option<LossEntry>,
    /// `[training]` only: how the linear kinds train (`[training.linear]`),
    /// when not as the others.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub linear: Option<Box<TrainingEntry>>,
}

/// The `[training.loss]` table (see [`LossConfig`]).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LossEntry {
    /// `mse` or `binary_cross_entropy`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reconstruction: Option<Reconstruction>,
    /// KL sparsity on sigmoid latents: `{ target = 0.05, weight = 0.1 }`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kl: Option<KlSparsity>,
    /// Base L1 weight (each cell replaces it with its sparsity weight; kept
    /// so a written-out study keeps its cache keys).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub l1: Option<f64>,
    /// Base L2 weight (each cell replaces it with its L2 coefficient).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub l2: Option<f64>,
    /// The JumpReLU sparsity coefficient λ₀ ([`LossConfig::l0`]); needs
    /// a `jump_relu` activation when positive.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub l0: Option<f64>,
    /// The form of the λ₀ penalty: `{ kind = "step" }` (the default) or
    /// `{ kind = "tanh", scale = 4.0 }` ([`LossConfig::l0_mode`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub l0_mode: Option<L0Mode>,
}

/// The `[protocol]` table, each key optional over [`Protocol::default`].
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProtocolEntry {
    /// Fraction of each training set held out for validation, in `[0, 1)`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validation_fraction: Option<f64>,
    /// Early-stopping patience in epochs; `0` trains the whole budget (TOML
    /// has no null to say "none").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub patience: Option<usize>,
    /// The learning-rate grid every minibatch kind is tuned over.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub learning_rates: Option<Vec<f64>>,
    /// The equal-epochs budget of `val_mse_at_budget`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub equal_epochs: Option<usize>,
    /// The budget of a minibatch cell in optimizer steps, replacing the
    /// epoch cap ([`Protocol::max_steps`]); absent keeps the epoch cap.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_steps: Option<usize>,
}

impl TrainingEntry {
    fn is_empty(&self) -> bool {
        *self == TrainingEntry::default()
    }

    /// The training config: these keys over [`TrainConfig::default`].
    pub fn to_config(&self) -> TrainConfig {
        let mut c = TrainConfig::default();
        let d = c.clone();
        c.epochs = self.epochs.unwrap_or(d.epochs);
        c.batch_size = self.batch_size.unwrap_or(d.batch_size);
        c.shard_size = self.shard_size.unwrap_or(d.shard_size);
        c.learning_rate = self.learning_rate.unwrap_or(d.learning_rate);
        c.weight_decay = self.weight_decay.unwrap_or(d.weight_decay);
        c.clip_grad_norm = self.clip_grad_norm.or(d.clip_grad_norm);
        c.optimizer = self.optimizer.unwrap_or(d.optimizer);
        c.schedule = self.schedule.unwrap_or(d.schedule);
        if let Some(l) = &self.loss {
            c.loss = LossConfig {
                reconstruction: l.reconstruction.unwrap_or(d.loss.reconstruction),
                l1: l.l1.unwrap_or(d.loss.l1),
                kl: l.kl.or(d.loss.kl),
                l2: l.l2.unwrap_or(d.loss.l2),
                l0: l.l0.unwrap_or(d.loss.l0),
                l0_mode: l.l0_mode.unwrap_or(d.loss.l0_mode),
                ..d.loss
            };
        }
        c
    }

    /// The entry for `c`, with every key written out (so a shown study
    /// does not depend on defaults that may change).
    ///
    /// # Errors
    /// [`Error::Config`] when `c` sets what a study file cannot say (a
    /// seed, validation, early stopping or checkpoints of its own).
    pub fn of_config(c: &TrainConfig) -> Result<TrainingEntry> {
        let d = TrainConfig::default();
        if c.seed != d.seed
            || c.validation_fraction != d.validation_fraction
            || c.early_stopping != d.early_stopping
            || c.checkpoint.is_some()
            || c.progress != d.progress
        {
            return Err(Error::config(
                "training",
                "sets a seed, validation, early stopping, progress or checkpoints of its own, which a study file cannot express (the study sets them per cell)",
            ));
        }
        if c.loss.unit_l2.is_some()
            || !c.loss.l1_weighting.is_plain()
            || c.loss.matryoshka.is_some()
            || c.rotation_augmented
            || c.corruption.is_some()
            || c.unit_norm_decoder
            || c.dead_latents.is_some()
            || c.freeze_biases
            || c.l1_warmup_steps > 0
            || c.lr_warmup_steps > 0
            || c.lr_decay_steps > 0
        {
            return Err(Error::config(
                "training",
                "uses non-uniform L2, the decoder-norm weighted L1, the Matryoshka term, the rotation-augmented gradient, input corruption, a unit-norm decoder, dead-latent tracking, frozen biases or a per-step warm-up or decay, which study files do not express yet",
            ));
        }
        Ok(TrainingEntry {
            precision: None,
            epochs: Some(c.epochs),
            batch_size: Some(c.batch_size),
            shard_size: Some(c.shard_size),
            learning_rate: Some(c.learning_rate),
            weight_decay: Some(c.weight_decay),
            clip_grad_norm: c.clip_grad_norm,
            optimizer: Some(c.optimizer),
            schedule: Some(c.schedule),
            loss: Some(LossEntry {
                reconstruction: Some(c.loss.reconstruction),
                kl: c.loss.kl,
                l1: Some(c.loss.l1),
                l2: Some(c.loss.l2),
                // Written only when used, so other studies read as before.
                l0: (c.loss.l0 != 0.0).then_some(c.loss.l0),
                l0_mode: (!c.loss.l0_mode.is_step()).then_some(c.loss.l0_mode),
            }),
            linear: None,
        })
    }

    /// The `[training.linear]` entry of `family`: its config's keys, every
    /// one written out, and its precision.
    ///
    /// # Errors
    /// As [`TrainingEntry::of_config`].
    fn of_family(family: &FamilyTraining) -> Result<Box<TrainingEntry>> {
        Ok(Box::new(TrainingEntry {
            precision: Some(family.precision),
            ..TrainingEntry::of_config(&family.config)?
        }))
    }

    /// The linear family of a `[training]` table over a study whose
    /// top-level precision is `precision` (absent: the default), checked
    /// for keys each table does not take.
    ///
    /// # Errors
    /// [`Error::Config`] naming `training.precision` (set at the top level)
    /// or `training.linear.linear` (a family has no families).
    fn family(&self, precision: Option<Precision>) -> Result<Option<FamilyTraining>> {
        if self.precision.is_some() {
            return Err(Error::config(
                "training.precision",
                "the study's precision is the top-level `precision` key; only [training.linear] takes one of its own",
            ));
        }
        let Some(linear) = &self.linear else {
            return Ok(None);
        };
        if linear.linear.is_some() {
            return Err(Error::config(
                "training.linear.linear",
                "[training.linear] is one family's training; it has no families of its own",
            ));
        }
        Ok(Some(FamilyTraining {
            config: linear.to_config(),
            precision: linear.precision.or(precision).unwrap_or_default(),
        }))
    }
}

impl ProtocolEntry {
    fn is_empty(&self) -> bool {
        *self == ProtocolEntry::default()
    }

    /// The protocol: these keys over [`Protocol::default`].
    pub fn to_protocol(&self) -> Protocol {
        let d = Protocol::default();
        Protocol {
            validation_fraction: self.validation_fraction.unwrap_or(d.validation_fraction),
            patience: match self.patience {
                None => d.patience,
                Some(0) => None,
                Some(p) => Some(p),
            },
            learning_rates: self.learning_rates.clone().unwrap_or(d.learning_rates),
            equal_epochs: self.equal_epochs.unwrap_or(d.equal_epochs),
            max_steps: self.max_steps.or(d.max_steps),
        }
    }

    /// The entry for `p`, every key written out.
    pub fn of_protocol(p: &Protocol) -> ProtocolEntry {
        ProtocolEntry {
            validation_fraction: Some(p.validation_fraction),
            patience: Some(p.patience.unwrap_or(0)),
            learning_rates: Some(p.learning_rates.clone()),
            equal_epochs: Some(p.equal_epochs),
            max_steps: p.max_steps,
        }
    }
}

/// Where a built-study's error came from: the key a [`Error::Config`]
/// names, or a dataset entry's key.
enum Origin {
    Key(String),
    Dataset(usize, &'static str),
}

/// An error of a file's contents, with the key it is traced to.
struct Located {
    origin: Origin,
    error: Error,
}

fn at_dataset(i: usize, key: &'static str) -> impl FnOnce(Error) -> Located {
    move |error| Located {
        origin: Origin::Dataset(i, key),
        error,
    }
}

impl DatasetEntry {
    /// Loads the dataset, resolving a relative `path` against `base`.
    fn load(&self, i: usize, base: &Path) -> std::result::Result<Arc<Dataset>, Located> {
        let shape = self.image_shape.map(|[h, w]| (h, w));
        if let Some([h, w]) = self.image_shape
            && (h == 0 || w == 0)
        {
            return Err(at_dataset(i, "image_shape")(Error::config(
                "image_shape",
                format!("{h}x{w} has no pixels; both sides must be at least 1"),
            )));
        }
        let ds = match (&self.builtin, &self.path) {
            (Some(_), Some(_)) | (None, None) => {
                return Err(at_dataset(i, "")(Error::config(
                    "datasets",
                    format!("entry {} needs exactly one of `builtin` and `path`", i + 1),
                )));
            }
            (Some(name), None) => {
                if self.label_column.is_some() || self.labels_file.is_some() {
                    return Err(at_dataset(i, "builtin")(Error::config(
                        "datasets",
                        format!(
                            "the built-in {name:?} carries its own labels; drop label_column / labels_file"
                        ),
                    )));
                }
                if self.tensor.is_some() {
                    return Err(at_dataset(i, "tensor")(Error::config(
                        "datasets",
                        format!("the built-in {name:?} is not a .safetensors file; drop tensor"),
                    )));
                }
                let ds = Dataset::builtin(name).map_err(at_dataset(i, "builtin"))?;
                if let Some(want) = shape
                    && ds.image_shape() != Some(want)
                {
                    return Err(at_dataset(i, "image_shape")(Error::config(
                        "image_shape",
                        format!(
                            "{}x{} does not match the built-in {name:?} images",
                            want.0, want.1
                        ),
                    )));
                }
                ds
            }
            (None, Some(path)) => {
                let path = base.join(path);
                if !path.is_file() {
                    return Err(at_dataset(i, "path")(Error::io(
                        &path,
                        std::io::Error::new(std::io::ErrorKind::NotFound, "no such data file"),
                    )));
                }
                let opts = LoadOptions {
                    label_column: self.label_column.clone(),
                    image_shape: shape,
                    labels_file: self.labels_file.as_ref().map(|f| base.join(f)),
                    tensor: self.tensor.clone(),
                };
                Dataset::load(&path, &opts).map_err(at_dataset(i, "path"))?
            }
        };
        let ds = match &self.name {
            Some(n) if n.trim().is_empty() => {
                return Err(at_dataset(i, "name")(Error::config(
                    "datasets",
                    "a dataset name must not be empty",
                )));
            }
            Some(n) => ds.with_name(n.clone()),
            None => ds,
        };
        if self.max_rows.is_some_and(|m| m < 4) {
            return Err(at_dataset(i, "max_rows")(Error::config(
                "datasets",
                "max_rows must be at least 4 (two training and two test rows)",
            )));
        }
        sample_rows(&ds, self.max_rows).map_err(at_dataset(i, "max_rows"))
    }
}

impl StudyFile {
    /// Parses TOML text (`path` only names the file in errors).
    ///
    /// # Errors
    /// [`Error::Format`] naming the file, the line and the key: an unknown
    /// key, a value of the wrong type, a malformed file.
    pub fn parse(text: &str, path: &Path) -> Result<StudyFile> {
        toml::from_str(text).map_err(|e| {
            let (location, key) = match e.span() {
                Some(span) => {
                    let (line, text_line) = line_of(text, span.start);
                    (format!("line {line}"), key_on(text_line))
                }
                None => ("file".to_string(), None),
            };
            let location = match key {
                Some(k) => format!("{location}, key `{k}`"),
                None => location,
            };
            Error::format(path, location, one_line(e.message()))
        })
    }

    /// The study the file describes, datasets loaded (relative paths from
    /// `base`), checked down to the data-dependent sizes ([`Study::cells`]).
    /// Errors are traced to their line in `text`, the file's contents.
    ///
    /// # Errors
    /// [`Error::Format`] naming `path`, the line and the key.
    pub fn to_study(&self, text: &str, path: &Path, base: &Path) -> Result<Study> {
        self.build(base).map_err(|l| locate(l, text, path))
    }

    fn build(&self, base: &Path) -> std::result::Result<Study, Located> {
        let key = |error: Error| {
            let origin = match &error {
                Error::Config { field, .. } => Origin::Key(field.to_string()),
                _ => Origin::Key(String::new()),
            };
            Located { origin, error }
        };
        // The name first: it is cheap to check, and a name that is a path
        // should not cost a dataset load before it is refused.
        check_name(&self.name).map_err(key)?;
        let mut s = Study::new(self.name.clone()).models(&self.models);
        for (i, d) in self.datasets.iter().enumerate() {
            s = s.dataset(d.load(i, base)?);
        }
        if let Some(v) = &self.latents {
            s = s.latents(v);
        }
        if let Some(v) = &self.seeds {
            s = s.seeds(v);
        }
        if let Some(v) = &self.n_trains {
            s = s.n_trains_opt(&v.iter().map(|n| n.0).collect::<Vec<_>>());
        }
        if let Some(v) = &self.bias_modes {
            s = s.bias_modes(v);
        }
        if let Some(v) = &self.l2s {
            s = s.l2s(v);
        }
        if let Some(v) = &self.sparsity_weights {
            s = s.sparsity_weights(v);
        }
        if let Some(v) = &self.hidden {
            s = s.hidden(v);
        }
        if let Some(p) = self.precision {
            s = s.precision(p);
        }
        if let Some(f) = self.test_fraction {
            s = s.test_fraction(f);
        }
        if let Some(seed) = self.split_seed {
            s = s.split_seed(seed);
        }
        if let Some(a) = self.activation {
            s = s.activation(a);
        }
        if let Some(on) = self.overcomplete {
            s = s.overcomplete(on);
        }
        if let Some(v) = &self.variants {
            s = s.variants(v);
        }
        s = s
            .training(self.training.to_config())
            .protocol(self.protocol.to_protocol());
        s.linear_training = self.training.family(self.precision).map_err(key)?;
        // The data-dependent checks too (latent sizes against each
        // dataset), so a wrong file fails here, before any shard starts.
        s.cells().map_err(key)?;
        Ok(s)
    }

    /// The file of `study`, whose datasets `datasets` describe (one entry
    /// per dataset, in order: a study holds loaded data, not where it came
    /// from).
    ///
    /// # Errors
    /// [`Error::Config`] for a dataset count that does not match, or a
    /// training config a file cannot express ([`TrainingEntry::of_config`]).
    pub fn from_study(study: &Study, datasets: Vec<DatasetEntry>) -> Result<StudyFile> {
        if datasets.len() != study.datasets.len() {
            return Err(Error::config(
                "datasets",
                format!(
                    "{} entries for a study of {} datasets",
                    datasets.len(),
                    study.datasets.len()
                ),
            ));
        }
        Ok(StudyFile {
            name: study.name.clone(),
            models: study.models.clone(),
            latents: Some(study.latents.clone()),
            seeds: Some(study.seeds.clone()),
            n_trains: Some(study.n_trains.iter().map(|&n| NTrain(n)).collect()),
            bias_modes: Some(study.bias_modes.clone()),
            l2s: Some(study.l2s.clone()),
            sparsity_weights: Some(study.sparsity_weights.clone()),
            hidden: Some(study.hidden.clone()),
            precision: Some(study.precision),
            test_fraction: Some(study.test_fraction),
            split_seed: Some(study.split_seed),
            // Written only when set, so the files of studies without them
            // are as they always were.
            overcomplete: study.overcomplete.then_some(true),
            activation: Some(study.activation),
            datasets,
            variants: (!study.variants.is_empty()).then(|| study.variants.clone()),
            training: TrainingEntry {
                linear: study
                    .linear_training
                    .as_ref()
                    .map(TrainingEntry::of_family)
                    .transpose()?,
                ..TrainingEntry::of_config(&study.training)?
            },
            protocol: ProtocolEntry::of_protocol(&study.protocol),
        })
    }

    /// The file as TOML text.
    ///
    /// # Errors
    /// [`Error::InvalidData`] if a value has no TOML form (e.g. a seed
    /// above `i64::MAX`, which no study accepts anyway).
    pub fn to_toml(&self) -> Result<String> {
        toml::to_string(self)
            .map_err(|e| Error::InvalidData(format!("cannot write the study as TOML: {e}")))
    }
}

/// Reads, parses and builds the study file at `path` (relative dataset
/// paths are taken from its directory). Returns the parsed file beside the
/// study, so a caller can write it back out (e.g. with absolute paths).
///
/// # Errors
/// [`Error::Io`] for an unreadable file or one that is not a regular file;
/// [`Error::Format`] naming the file, the line and the key for anything
/// wrong inside it (text that is not UTF-8 among them).
pub fn read_study_file(path: &Path) -> Result<(StudyFile, Study)> {
    // Only a regular file, and no more of it than it held when opened: a
    // study path given as a FIFO or device would otherwise hang or fill
    // memory before the parser could say anything.
    let bytes = read_regular(path)?;
    let text = String::from_utf8(bytes).map_err(|e| {
        Error::format(
            path,
            format!("byte {}", e.utf8_error().valid_up_to()),
            "not UTF-8 text",
        )
    })?;
    let file = StudyFile::parse(&text, path)?;
    let base = path.parent().unwrap_or(Path::new("."));
    let study = file.to_study(&text, path, base)?;
    Ok((file, study))
}

/// The 1-based line holding byte `offset` of `text`, and that line.
fn line_of(text: &str, offset: usize) -> (usize, &str) {
    let offset = offset.min(text.len());
    let start = text[..offset].rfind('\n').map_or(0, |i| i + 1);
    let end = text[offset..].find('\n').map_or(text.len(), |i| offset + i);
    (text[..start].matches('\n').count() + 1, &text[start..end])
}

/// The key a `key = value` line sets (or the table a header opens).
fn key_on(line: &str) -> Option<String> {
    let t = line.trim();
    if t.starts_with('[') {
        return Some(t.trim_matches(['[', ']']).trim().to_string());
    }
    let (k, _) = t.split_once('=')?;
    let k = k.trim().trim_matches('"');
    (!k.is_empty()).then(|| k.to_string())
}

/// Joins a multi-line message into one line.
fn one_line(message: &str) -> String {
    message
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("; ")
}

/// The line where `table`'s `key` is set: the first `key = ...` line under
/// the `[table]` header (`""`: the top level; for `[[datasets]]`, the
/// `nth` such header), else the header's own line.
fn find_key(text: &str, table: &str, nth: usize, key: &str) -> Option<usize> {
    let mut seen = 0usize;
    let mut in_target = table.is_empty();
    let mut header = None;
    for (i, line) in text.lines().enumerate() {
        let t = line.split('#').next().unwrap_or("").trim();
        if t.starts_with('[') {
            let current = t.trim_matches(['[', ']']).trim();
            in_target = false;
            if current == table {
                if seen == nth {
                    in_target = true;
                    header = Some(i + 1);
                }
                seen += 1;
            } else if !key.is_empty() && current == format!("{table}.{key}") && header.is_some() {
                return Some(i + 1);
            }
            continue;
        }
        if in_target
            && !key.is_empty()
            && let Some((k, _)) = t.split_once('=')
            && k.trim().trim_matches('"') == key
        {
            return Some(i + 1);
        }
    }
    header
}

/// Turns a build error into one naming the file, the line and the key.
fn locate(l: Located, text: &str, path: &Path) -> Error {
    let (line, key) = match &l.origin {
        Origin::Dataset(i, key) => (find_key(text, "datasets", *i, key), key.to_string()),
        Origin::Key(field) if field.is_empty() => (None, String::new()),
        Origin::Key(field) => {
            let (table, key) = field.rsplit_once('.').unwrap_or(("", field));
            // Trainer checks name their field without the table.
            let line = find_key(text, table, 0, key)
                .or_else(|| find_key(text, "training", 0, key))
                .or_else(|| find_key(text, "protocol", 0, key));
            (line, field.clone())
        }
    };
    let location = match (line, key.is_empty()) {
        (Some(n), false) => format!("line {n}, key `{key}`"),
        (Some(n), true) => format!("line {n}"),
        (None, false) => format!("key `{key}`"),
        (None, true) => "file".to_string(),
    };
    let reason = match l.error {
        Error::Config { reason, .. } => reason,
        other => other.to_string(),
    };
    Error::format(path, location, one_line(&reason))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<StudyFile> {
        StudyFile::parse(text, Path::new("s.toml"))
    }

    const MINIMAL: &str = "name = \"t\"\nmodels = [\"pca\", \"linear_tied\"]\nlatents = [2]\n\n[[datasets]]\nbuiltin = \"digits\"\nmax_rows = 200\n";

    #[test]
    fn unknown_keys_and_wrong_types_name_line_and_key() {
        let err = parse(&format!("{MINIMAL}\n[protocol]\npatiense = 3\n"))
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("s.toml: line 10, key `patiense`"), "{err}");
        assert!(err.contains("unknown field"), "{err}");
        let err = parse(&MINIMAL.replace("latents = [2]", "latents = \"two\""))
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("s.toml: line 3, key `latents`"), "{err}");
        assert!(!err.contains('\n'), "{err}");
    }

    #[test]
    fn build_errors_are_traced_to_their_line() {
        let text = MINIMAL.replace("latents = [2]", "latents = [2, 65]");
        let file = parse(&text).unwrap();
        let err = file
            .to_study(&text, Path::new("s.toml"), Path::new("."))
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("s.toml: line 3, key `latents`"), "{err}");
        assert!(err.contains("latent size 65"), "{err}");
        let text = MINIMAL.replace("builtin = \"digits\"", "path = \"no/such.csv\"");
        let file = parse(&text).unwrap();
        let err = file
            .to_study(&text, Path::new("s.toml"), Path::new("."))
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("s.toml: line 6, key `path`"), "{err}");
        assert!(err.contains("no such data file"), "{err}");
    }

    /// A name that is a path is refused, traced to its line, before any
    /// dataset is read (the data file here does not exist).
    #[test]
    fn a_name_that_is_a_path_is_refused_before_the_data() {
        let text = MINIMAL
            .replace("name = \"t\"", "name = \"../../x\"")
            .replace("builtin = \"digits\"", "path = \"no/such.csv\"");
        let file = parse(&text).unwrap();
        let err = file
            .to_study(&text, Path::new("s.toml"), Path::new("."))
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("s.toml: line 1, key `name`"), "{err}");
        assert!(err.contains("holds '/'"), "{err}");
    }

    #[test]
    fn n_trains_take_counts_and_all() {
        let f = parse(&format!("n_trains = [100, \"all\"]\n{MINIMAL}")).unwrap();
        assert_eq!(f.n_trains, Some(vec![NTrain(Some(100)), NTrain(None)]));
        assert!(parse(&format!("n_trains = [\"most\"]\n{MINIMAL}")).is_err());
    }

    /// A study written out and read back has the same cells (study id).
    #[test]
    fn written_studies_read_back_identically() {
        let text = format!(
            "{MINIMAL}\n[training]\nepochs = 3\noptimizer = {{ kind = \"lbfgs\", max_iters = 5, memory = 3, tol_grad = 1e-10, tol_cost = 1e-16 }}\n\n[protocol]\npatience = 0\nlearning_rates = [0.003]\n"
        );
        let file = parse(&text).unwrap();
        let study = file
            .to_study(&text, Path::new("s.toml"), Path::new("."))
            .unwrap();
        assert_eq!(study.protocol.patience, None);
        let again = StudyFile::from_study(&study, file.datasets.clone()).unwrap();
        let written = again.to_toml().unwrap();
        let back = parse(&written).unwrap();
        assert_eq!(back, again, "{written}");
        let study2 = back
            .to_study(&written, Path::new("s.toml"), Path::new("."))
            .unwrap();
        assert_eq!(study.study_id().unwrap(), study2.study_id().unwrap());
    }

    /// A `[training.linear]` table trains the linear kinds on their own:
    /// written out it reads back to the same family and cells (the study id
    /// holds it), and its errors name the file's line and key.
    #[test]
    fn linear_training_tables_read_back_and_name_their_keys() {
        let lbfgs = |iters: u64| {
            format!(
                "optimizer = {{ kind = \"lbfgs\", max_iters = {iters}, memory = 3, tol_grad = 1e-10, tol_cost = 1e-16 }}\n"
            )
        };
        let build = |text: &str| {
            parse(text)
                .unwrap()
                .to_study(text, Path::new("s.toml"), Path::new("."))
        };
        let text = format!(
            "{MINIMAL}\n[training]\nepochs = 3\n\n[training.linear]\nprecision = \"f64\"\n{}",
            lbfgs(5)
        );
        let study = build(&text).unwrap();
        let family = study.linear_training.clone().unwrap();
        assert_eq!(family.precision, Precision::F64);
        assert!(family.config.is_lbfgs() && !study.training.is_lbfgs());
        assert_eq!(study.training.epochs, 3);
        // The table is over the defaults, not over [training].
        assert_eq!(family.config.epochs, TrainConfig::default().epochs);
        let file = parse(&text).unwrap();
        let written = StudyFile::from_study(&study, file.datasets.clone())
            .unwrap()
            .to_toml()
            .unwrap();
        assert!(written.contains("[training.linear]"), "{written}");
        let back = build(&written).unwrap();
        assert_eq!(back.linear_training, study.linear_training);
        assert_eq!(study.study_id().unwrap(), back.study_id().unwrap());
        let mut plain = study.clone();
        plain.linear_training = None;
        assert_ne!(plain.study_id().unwrap(), study.study_id().unwrap());
        // Absent, the family's precision is the study's.
        let text = format!(
            "precision = \"f64\"\n{MINIMAL}\n[training.linear]\n{}",
            lbfgs(5)
        );
        let family = build(&text).unwrap().linear_training.unwrap();
        assert_eq!(family.precision, Precision::F64);

        let err = |text: &str| build(text).unwrap_err().to_string();
        let e = err(&format!("{MINIMAL}\n[training.linear]\n{}", lbfgs(0)));
        assert!(
            e.starts_with("s.toml: line 10, key `training.linear.optimizer`"),
            "{e}"
        );
        assert!(e.contains("lbfgs.max_iters"), "{e}");
        let e = err(&format!(
            "{MINIMAL}\n[training]\nepochs = 3\n\n[training.linear]\nepochs = 0\n"
        ));
        assert!(
            e.starts_with("s.toml: line 13, key `training.linear.epochs`"),
            "{e}"
        );
        let e = err(&format!("{MINIMAL}\n[training]\nprecision = \"f64\"\n"));
        assert!(
            e.starts_with("s.toml: line 10, key `training.precision`"),
            "{e}"
        );
        let e = err(&format!(
            "{MINIMAL}\n[training.linear.linear]\nepochs = 3\n"
        ));
        assert!(e.contains("training.linear.linear"), "{e}");
        let e = err(&format!(
            "{}\n[training.linear]\n{}",
            MINIMAL.replace("\"linear_tied\"", "\"tied\""),
            lbfgs(5)
        ));
        assert!(e.contains("key `training.linear`"), "{e}");
    }

    /// Variants are `[[variants]]` tables: a study of them written out
    /// reads back with the same cells (keys included), and a bad one is
    /// refused naming its line and field.
    #[test]
    fn variants_read_back_and_name_their_fields() {
        let text = format!(
            "overcomplete = true\n{}\n[[variants]]\nname = \"topk\"\ntied = false\ntop_k_divisor = 4\nbias_mode = \"pre_centering\"\nunit_norm_decoder = true\nmetrics = \"sae\"\ninit = {{ kind = \"tied_glorot_uniform\" }}\npre_bias = {{ kind = \"geometric_median\", max_iters = 50, tol = 1e-9 }}\ndead_latents = {{ auxk = {{ k_aux_divisor = 2, alpha = 0.03125 }} }}\n",
            MINIMAL.replace("latents = [2]", "latents = [2, 100]")
        );
        let file = parse(&text).unwrap();
        let study = file
            .to_study(&text, Path::new("s.toml"), Path::new("."))
            .unwrap();
        assert_eq!(study.variants.len(), 1);
        assert!(study.overcomplete);
        let again = StudyFile::from_study(&study, file.datasets.clone()).unwrap();
        let written = again.to_toml().unwrap();
        let back = parse(&written).unwrap();
        assert_eq!(back, again, "{written}");
        let study2 = back
            .to_study(&written, Path::new("s.toml"), Path::new("."))
            .unwrap();
        assert_eq!(study.study_id().unwrap(), study2.study_id().unwrap());
        assert_eq!(study2.variants, study.variants);

        let bad = text.replace("top_k_divisor = 4", "top_k_divisor = 0");
        let line = bad
            .lines()
            .position(|l| l.starts_with("top_k_divisor"))
            .unwrap()
            + 1;
        let err = parse(&bad)
            .unwrap()
            .to_study(&bad, Path::new("s.toml"), Path::new("."))
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with(&format!(
                "s.toml: line {line}, key `variants.top_k_divisor`"
            )),
            "{err}"
        );
        let err = parse(&text.replace("tied = false", "tied = false\nwidth = 3"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown field `width`"), "{err}");
    }
}
