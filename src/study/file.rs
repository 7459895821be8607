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
use crate::data::{Dataset, LoadOptions, SpikedCovariance};
use crate::error::{Error, Result};
use crate::model::{Activation, BiasMode};
use crate::train::TrainConfig;
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
    /// `unit_norm_decoder = true`, `metrics = "sae"`, a JumpReLU one with
    /// `activation = { kind = "jump_relu" }` and `l0 = { weights = [0.25,
    /// 1.0], target_divisor = 16 }` (one cell per weight, each relative to
    /// the fitting rows' variance and the target active count), or a
    /// denoising one with `corruption = { kind = "gaussian", sigma = 0.25 }`
    /// (σ relative to the fitting rows' entry scale) and
    /// `metrics = "denoising"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variants: Option<Vec<Variant>>,
    /// How every autoencoder trains (`[training]`). Always written, every
    /// key out, so a shown study does not depend on defaults.
    #[serde(default)]
    pub training: TrainingEntry,
    /// Validation, early stopping and the learning-rate grid (`[protocol]`).
    #[serde(default, skip_serializing_if = "ProtocolEntry::is_empty")]
    pub protocol: ProtocolEntry,
}

/// One `[[datasets]]` table: a built-in dataset, a data file or a
/// generated spiked-covariance sample.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatasetEntry {
    /// A built-in dataset's name (`digits`, `mnist10k`); or give `path`
    /// or `spiked`.
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
    /// A spiked-covariance sample ([`SpikedCovariance`]) instead of stored
    /// data: data whose principal directions are planted, which a study
    /// of how models find them (the `refinetti_goldt` built-in) runs on
    /// beside real data. It has no labels or image shape; its default name
    /// is `spiked`. Last, since a table is written after the plain keys.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spiked: Option<SpikedEntry>,
}

/// The `spiked` key of a `[[datasets]]` table: the parameters of a
/// [`SpikedCovariance`], which generates the same rows from them on every
/// machine.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpikedEntry {
    /// Rows (at least 2).
    pub n_samples: usize,
    /// Features (at least the number of spikes).
    pub n_features: usize,
    /// The variance added along each planted direction (each > 0).
    pub spikes: Vec<f64>,
    /// The isotropic noise's standard deviation (>= 0).
    pub noise_sigma: f64,
    /// Seed of the planted directions and the rows.
    pub seed: u64,
}

impl SpikedEntry {
    /// The entry of the generator `g`.
    pub fn of(g: &SpikedCovariance) -> SpikedEntry {
        SpikedEntry {
            n_samples: g.n_samples,
            n_features: g.n_features,
            spikes: g.spikes.clone(),
            noise_sigma: g.noise_sigma,
            seed: g.seed,
        }
    }

    /// The generator it describes.
    pub fn generator(&self) -> SpikedCovariance {
        SpikedCovariance::new(
            self.n_samples,
            self.n_features,
            self.spikes.clone(),
            self.noise_sigma,
            self.seed,
        )
    }
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

/// The `[training]` table: a [`TrainConfig`] read as that struct (absent
/// keys take [`TrainConfig::default`]), beside the keys a study adds.
///
/// The table is the config itself rather than a copy of its fields as
/// options copied both ways by hand, so a new training setting becomes a
/// study-file key by its name in a list of keys (a unit test asks for
/// it), written out by [`StudyFile::from_study`] and read back the same.
/// The config's fields each cell sets itself are not keys (the study sets
/// the seed, validation, early stopping, progress and checkpoints per
/// cell; a value in the file would be silently overridden), so they are
/// refused as unknown. The loss's `l1` and `l2` are replaced by each
/// cell's sparsity weight and L2 coefficient.
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
///
/// Written out, `precision` comes first, then the config's keys in
/// alphabetical order (the config passes through a TOML table that drops
/// the per-cell fields), then the `linear` table. Every key the config
/// serializes is written, so a shown study does not depend on defaults
/// that may change.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TrainingEntry {
    /// The training config: the table's keys over [`TrainConfig::default`].
    pub config: TrainConfig,
    /// `[training.linear]` only: the linear kinds' precision (`[training]`
    /// takes the study's top-level `precision`).
    pub precision: Option<Precision>,
    /// `[training]` only: how the linear kinds train (`[training.linear]`),
    /// when not as the others.
    pub linear: Option<Box<TrainingEntry>>,
}

/// The keys of a `[training]` (or `[training.linear]`) table, in the order
/// an unknown key's error lists them: [`TrainConfig`]'s fields but
/// `SET_PER_CELL`, then the study's `precision` and `linear`. A unit test
/// checks that this list and `SET_PER_CELL` split the config's fields
/// between them, so a new field fails it until it is put in one.
const TRAINING_KEYS: &[&str] = &[
    "epochs",
    "batch_size",
    "shard_size",
    "optimizer",
    "learning_rate",
    "schedule",
    "loss",
    "weight_decay",
    "clip_grad_norm",
    "rotation_augmented",
    "corruption",
    "unit_norm_decoder",
    "dead_latents",
    "freeze_biases",
    "l1_warmup_steps",
    "lr_warmup_steps",
    "lr_decay_steps",
    "precision",
    "linear",
];

/// [`TrainConfig`]'s fields every cell sets itself (see [`TrainingEntry`]):
/// refused in a file, left out when one is written, and refused by
/// [`StudyFile::from_study`] when a study's config sets them.
const SET_PER_CELL: &[&str] = &[
    "validation_fraction",
    "early_stopping",
    "seed",
    "checkpoint",
    "progress",
];

impl Serialize for TrainingEntry {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        use serde::ser::{Error as _, SerializeMap};
        let mut map = s.serialize_map(None)?;
        if let Some(p) = &self.precision {
            map.serialize_entry("precision", p)?;
        }
        // Through a TOML table, so the per-cell fields can be dropped
        // while the config's own `Serialize` (which its hashes are taken
        // over) decides everything else, `None`s left out as TOML does.
        let config = toml::Table::try_from(&self.config).map_err(S::Error::custom)?;
        for (key, value) in &config {
            if !SET_PER_CELL.contains(&key.as_str()) {
                map.serialize_entry(key, value)?;
            }
        }
        if let Some(linear) = &self.linear {
            map.serialize_entry("linear", linear)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for TrainingEntry {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        d.deserialize_map(EntryVisitor)
    }
}

/// Reads a `[training]` table: the study's keys into the entry, the
/// others into [`TrainConfig`]'s own `Deserialize` (see [`StudyKeys`]).
struct EntryVisitor;

impl<'de> serde::de::Visitor<'de> for EntryVisitor {
    type Value = TrainingEntry;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a table of training settings")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(
        self,
        map: A,
    ) -> std::result::Result<TrainingEntry, A::Error> {
        let mut precision = None;
        let mut linear = None;
        let keys = StudyKeys {
            map,
            precision: &mut precision,
            linear: &mut linear,
        };
        let config = TrainConfig::deserialize(serde::de::value::MapAccessDeserializer::new(keys))?;
        Ok(TrainingEntry {
            config,
            precision,
            linear,
        })
    }
}

/// A `[training]` table's entries as [`TrainConfig`]'s `Deserialize` sees
/// them: the study's `precision` and `linear` are taken out on the way
/// (their values read into the slots here), and a key that is neither
/// theirs nor one of `TRAINING_KEYS` is refused as unknown. Every key and
/// value is still read through the parser's own map, so its errors keep
/// the line and key they point at.
struct StudyKeys<'a, A> {
    map: A,
    precision: &'a mut Option<Precision>,
    linear: &'a mut Option<Box<TrainingEntry>>,
}

/// A key of a `[training]` table, read by [`KeySeed`]: one of the
/// config's (as its field seed made it), or one of the study's, with the
/// config's seed handed back unused.
enum Key<K, V> {
    Config(V),
    Precision(K),
    Linear(K),
}

/// Reads a key, giving it to the config's field seed only when it is one
/// of the config's, so the study's keys leave the seed for the next key.
struct KeySeed<K>(K);

impl<'de, K: serde::de::DeserializeSeed<'de>> serde::de::DeserializeSeed<'de> for KeySeed<K> {
    type Value = Key<K, K::Value>;

    fn deserialize<D: serde::Deserializer<'de>>(
        self,
        d: D,
    ) -> std::result::Result<Self::Value, D::Error> {
        use serde::de::{Error as _, IntoDeserializer};
        let name = String::deserialize(d)?;
        match name.as_str() {
            "precision" => Ok(Key::Precision(self.0)),
            "linear" => Ok(Key::Linear(self.0)),
            field if TRAINING_KEYS.contains(&field) => {
                let field: serde::de::value::StrDeserializer<'_, D::Error> =
                    field.into_deserializer();
                self.0.deserialize(field).map(Key::Config)
            }
            field => Err(D::Error::unknown_field(field, TRAINING_KEYS)),
        }
    }
}

impl<'de, A: serde::de::MapAccess<'de>> serde::de::MapAccess<'de> for StudyKeys<'_, A> {
    type Error = A::Error;

    fn next_key_seed<K: serde::de::DeserializeSeed<'de>>(
        &mut self,
        mut seed: K,
    ) -> std::result::Result<Option<K::Value>, A::Error> {
        loop {
            seed = match self.map.next_key_seed(KeySeed(seed))? {
                None => return Ok(None),
                Some(Key::Config(key)) => return Ok(Some(key)),
                Some(Key::Precision(unused)) => {
                    *self.precision = Some(self.map.next_value()?);
                    unused
                }
                Some(Key::Linear(unused)) => {
                    *self.linear = Some(self.map.next_value()?);
                    unused
                }
            };
        }
    }

    fn next_value_seed<V: serde::de::DeserializeSeed<'de>>(
        &mut self,
        seed: V,
    ) -> std::result::Result<V::Value, A::Error> {
        self.map.next_value_seed(seed)
    }
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
    /// The entry of `c`, every key it serializes written out.
    ///
    /// # Errors
    /// [`Error::Config`] when `c` sets a field each cell sets itself (a
    /// seed, validation, early stopping, progress or checkpoints of its
    /// own), which a study file cannot say.
    fn of_config(c: &TrainConfig) -> Result<TrainingEntry> {
        // Compared in the serialized form, so the check follows
        // `SET_PER_CELL` rather than a second list of fields.
        let json = |t: &TrainConfig| {
            serde_json::to_value(t)
                .map_err(|e| Error::InvalidData(format!("cannot serialize a training config: {e}")))
        };
        let (ours, default) = (json(c)?, json(&TrainConfig::default())?);
        if let Some(field) = SET_PER_CELL
            .iter()
            .copied()
            .find(|f| ours.get(*f) != default.get(*f))
        {
            return Err(Error::config(
                "training",
                format!(
                    "sets `{field}` of its own, which a study file cannot express (the study sets the seed, validation, early stopping, progress and checkpoints per cell)"
                ),
            ));
        }
        Ok(TrainingEntry {
            config: c.clone(),
            precision: None,
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
            config: linear.config.clone(),
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
    /// The sample the `spiked` key `g` generates; the keys of stored data
    /// (labels, tensor, image shape) are refused, since it has none.
    fn generated(&self, i: usize, g: &SpikedEntry) -> std::result::Result<Dataset, Located> {
        let stored = [
            ("label_column", self.label_column.is_some()),
            ("labels_file", self.labels_file.is_some()),
            ("tensor", self.tensor.is_some()),
            ("image_shape", self.image_shape.is_some()),
        ];
        if let Some((key, _)) = stored.iter().find(|(_, set)| *set) {
            return Err(at_dataset(i, key)(Error::config(
                "datasets",
                format!("a spiked sample is generated, not stored: drop {key}"),
            )));
        }
        let sample = g.generator().generate().map_err(at_dataset(i, "spiked"))?;
        Ok(sample.dataset)
    }

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
        let ds = match (&self.builtin, &self.path, &self.spiked) {
            (None, None, Some(g)) => self.generated(i, g)?,
            (Some(name), None, None) => {
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
            (None, Some(path), None) => {
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
            _ => {
                return Err(at_dataset(i, "")(Error::config(
                    "datasets",
                    format!(
                        "entry {} needs exactly one of `builtin`, `path` and `spiked`",
                        i + 1
                    ),
                )));
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
            .training(self.training.config.clone())
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
    /// training config that sets what each cell sets itself (a seed,
    /// validation, early stopping, progress or checkpoints), which a file
    /// cannot express.
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

    /// The study `text` builds as the file `s.toml`; the text must parse.
    fn build(text: &str) -> Result<Study> {
        parse(text)
            .unwrap()
            .to_study(text, Path::new("s.toml"), Path::new("."))
    }

    /// Builds the study `text` says, writes it out and reads that back:
    /// the text written parses to the file written, and the study read
    /// back has the same cells (study id). Returns the study, the one read
    /// back and the text written.
    fn round_trip(text: &str) -> (Study, Study, String) {
        let file = parse(text).unwrap();
        let study = file
            .to_study(text, Path::new("s.toml"), Path::new("."))
            .unwrap();
        let again = StudyFile::from_study(&study, file.datasets.clone()).unwrap();
        let written = again.to_toml().unwrap();
        let back = parse(&written).unwrap();
        assert_eq!(back, again, "{written}");
        let read = back
            .to_study(&written, Path::new("s.toml"), Path::new("."))
            .unwrap();
        assert_eq!(study.study_id().unwrap(), read.study_id().unwrap());
        (study, read, written)
    }

    const MINIMAL: &str = "name = \"t\"\nmodels = [\"pca\", \"linear_tied\"]\nlatents = [2]\n\n[[datasets]]\nbuiltin = \"digits\"\nmax_rows = 200\n";

    /// A `spiked` dataset is generated from its keys: the file builds the
    /// rows the generator draws (so a study over it runs the same cells on
    /// any machine), reads back as written, and refuses a second source
    /// or a key of stored data, naming it.
    #[test]
    fn spiked_datasets_are_generated_from_their_keys() {
        let text = "name = \"t\"\nmodels = [\"pca\"]\nlatents = [2]\n\n[[datasets]]\nspiked = { n_samples = 50, n_features = 6, spikes = [4.0, 2.0], noise_sigma = 0.5, seed = 3 }\nname = \"planted\"\n";
        let (study, _, written) = round_trip(text);
        assert!(written.contains("spiked"), "{written}");
        let want = SpikedCovariance::new(50, 6, vec![4.0, 2.0], 0.5, 3)
            .generate()
            .unwrap()
            .dataset;
        assert_eq!(study.datasets[0].name(), "planted");
        assert_eq!(study.datasets[0].x(), want.x());
        let both = text.replace("name = \"planted\"", "builtin = \"digits\"");
        let err = build(&both).unwrap_err().to_string();
        assert!(err.contains("exactly one of"), "{err}");
        let shaped = text.replace("name = \"planted\"", "image_shape = [2, 3]");
        let err = build(&shaped).unwrap_err().to_string();
        assert!(err.contains("image_shape"), "{err}");
    }

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
        let err = build(&text).unwrap_err().to_string();
        assert!(err.starts_with("s.toml: line 3, key `latents`"), "{err}");
        assert!(err.contains("latent size 65"), "{err}");
        let text = MINIMAL.replace("builtin = \"digits\"", "path = \"no/such.csv\"");
        let err = build(&text).unwrap_err().to_string();
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
        let err = build(&text).unwrap_err().to_string();
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
        let (study, _, _) = round_trip(&text);
        assert_eq!(study.protocol.patience, None);
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

    /// The field names [`TrainConfig`]'s derived `Deserialize` asks a
    /// deserializer for, caught before any is read.
    fn train_config_fields() -> &'static [&'static str] {
        struct Catch<'a>(&'a mut &'static [&'static str]);
        impl<'de> serde::Deserializer<'de> for Catch<'_> {
            type Error = serde::de::value::Error;
            fn deserialize_any<V: serde::de::Visitor<'de>>(
                self,
                _: V,
            ) -> std::result::Result<V::Value, Self::Error> {
                Err(serde::de::Error::custom("a struct was expected"))
            }
            fn deserialize_struct<V: serde::de::Visitor<'de>>(
                self,
                _: &'static str,
                fields: &'static [&'static str],
                _: V,
            ) -> std::result::Result<V::Value, Self::Error> {
                *self.0 = fields;
                Err(serde::de::Error::custom("caught"))
            }
            serde::forward_to_deserialize_any! {
                bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
                bytes byte_buf option unit unit_struct newtype_struct seq tuple
                tuple_struct map enum identifier ignored_any
            }
        }
        let mut fields: &'static [&'static str] = &[];
        assert!(TrainConfig::deserialize(Catch(&mut fields)).is_err());
        fields
    }

    /// The keys a `[training]` table takes and the fields each cell sets
    /// itself split [`TrainConfig`]'s fields between them, once each: a
    /// new field fails here until it is put in one of the two lists.
    #[test]
    fn training_keys_and_per_cell_fields_split_the_config() {
        let mut fields = train_config_fields().to_vec();
        assert!(
            fields.contains(&"epochs") && fields.contains(&"seed"),
            "{fields:?}"
        );
        let mut listed: Vec<&str> = TRAINING_KEYS
            .iter()
            .chain(SET_PER_CELL)
            .copied()
            .filter(|k| !["precision", "linear"].contains(k))
            .collect();
        fields.sort_unstable();
        listed.sort_unstable();
        assert_eq!(listed, fields);
    }

    /// A field each cell sets itself is no key of `[training]`, refused
    /// naming its line and key (and listing the keys there are); so are a
    /// misspelt key and a value of the wrong type, at any depth.
    #[test]
    fn training_tables_name_the_line_and_key_of_what_they_refuse() {
        let err = |text: String| parse(&text).unwrap_err().to_string();
        for key in SET_PER_CELL {
            let e = err(format!("{MINIMAL}\n[training]\nepochs = 3\n{key} = 0\n"));
            assert!(
                e.starts_with(&format!("s.toml: line 11, key `{key}`")),
                "{e}"
            );
            assert!(e.contains(&format!("unknown field `{key}`")), "{e}");
            assert!(e.contains("`epochs`") && e.contains("`linear`"), "{e}");
            assert!(!e.contains('\n'), "{e}");
        }
        let e = err(format!("{MINIMAL}\n[training]\nepochs = \"three\"\n"));
        assert!(e.starts_with("s.toml: line 10, key `epochs`"), "{e}");
        assert!(e.contains("invalid type"), "{e}");
        let e = err(format!(
            "{MINIMAL}\n[training]\nepochs = 3\n\n[training.linear]\nprecision = \"f64\"\nepoch = 3\n"
        ));
        assert!(e.starts_with("s.toml: line 14, key `epoch`"), "{e}");
        assert!(e.contains("unknown field `epoch`"), "{e}");
        let e = err(format!(
            "{MINIMAL}\n[training.linear]\nprecision = \"f16\"\n"
        ));
        assert!(e.starts_with("s.toml: line 10, key `precision`"), "{e}");
        let e = err(format!("{MINIMAL}\n[training.loss]\nl3 = 0.1\n"));
        assert!(e.starts_with("s.toml: line 10, key `l3`"), "{e}");
        assert!(e.contains("unknown field `l3`"), "{e}");
        let e = err(format!(
            "{MINIMAL}\n[training]\noptimizer = {{ kind = \"adam\", beta1 = 0.9 }}\n"
        ));
        assert!(e.starts_with("s.toml: line 10, key `optimizer`"), "{e}");
        assert!(e.contains("missing field `beta2`"), "{e}");
    }

    /// A table's absent keys take [`TrainConfig::default`]'s values, those
    /// of `[training.loss]` [`LossConfig`]'s, as they always did.
    #[test]
    fn absent_training_keys_take_the_defaults() {
        use crate::model::LossConfig;
        let text = format!("{MINIMAL}\n[training]\nbatch_size = 32\n\n[training.loss]\nl2 = 0.5\n");
        let file = parse(&text).unwrap();
        assert_eq!(
            file.training.config,
            TrainConfig::new()
                .batch_size(32)
                .loss(LossConfig::mse().with_l2(0.5))
        );
        assert_eq!(file.training.precision, None);
        assert_eq!(file.training.linear, None);
        assert_eq!(parse(MINIMAL).unwrap().training, TrainingEntry::default());
    }

    /// A study of plain settings is written with the `[training]` keys a
    /// file has always had, so readers of older builds read it too; the
    /// fields each cell sets are left out.
    #[test]
    fn plain_training_is_written_with_the_keys_it_always_had() {
        let text = format!(
            "{MINIMAL}\n[training]\nepochs = 3\nclip_grad_norm = 1.5\n\n[training.loss]\nkl = {{ target = 0.05, weight = 0.1 }}\n\n[training.linear]\noptimizer = {{ kind = \"lbfgs\", max_iters = 5, memory = 3, tol_grad = 1e-10, tol_cost = 1e-16 }}\n"
        );
        let file = parse(&text).unwrap();
        let study = file
            .to_study(&text, Path::new("s.toml"), Path::new("."))
            .unwrap();
        let written = StudyFile::from_study(&study, file.datasets.clone())
            .unwrap()
            .to_toml()
            .unwrap();
        let table: toml::Table = toml::from_str(&written).unwrap();
        let training = table["training"].as_table().unwrap();
        let old = [
            "precision",
            "epochs",
            "batch_size",
            "shard_size",
            "learning_rate",
            "weight_decay",
            "clip_grad_norm",
            "optimizer",
            "schedule",
            "loss",
            "linear",
        ];
        let old_loss = ["reconstruction", "kl", "l1", "l2", "l0", "l0_mode"];
        for t in [training, training["linear"].as_table().unwrap()] {
            for key in t.keys() {
                assert!(old.contains(&key.as_str()), "{key}: {written}");
            }
            for key in t["loss"].as_table().unwrap().keys() {
                assert!(old_loss.contains(&key.as_str()), "{key}: {written}");
            }
            // Every key the config serializes is written out.
            for key in [
                "epochs",
                "batch_size",
                "shard_size",
                "learning_rate",
                "optimizer",
            ] {
                assert!(t.contains_key(key), "{key}: {written}");
            }
        }
        assert!(training.contains_key("clip_grad_norm"), "{written}");
        let back = build(&written).unwrap();
        assert_eq!(back.training, study.training);
        assert_eq!(back.linear_training, study.linear_training);
        assert_eq!(study.study_id().unwrap(), back.study_id().unwrap());
    }

    /// Settings the file could not say while it copied the config's fields
    /// by hand (a unit-norm decoder, dead latents, warm-ups, corruption,
    /// frozen biases, Matryoshka and per-unit L2 terms) are keys now: a
    /// study using them is written out and reads back to the same config
    /// and cells. A config setting a field each cell sets itself is not
    /// written.
    #[test]
    fn every_training_setting_reads_back() {
        use crate::model::{LossConfig, Matryoshka};
        use crate::train::{Corruption, DeadLatents, Progress, Schedule};
        let text = format!("{MINIMAL}\n[training]\nepochs = 3\n");
        let file = parse(&text).unwrap();
        let mut study = file
            .to_study(&text, Path::new("s.toml"), Path::new("."))
            .unwrap();
        study.training = TrainConfig::new()
            .epochs(4)
            .clip_grad_norm(2.5)
            .schedule(Schedule::Cosine { min_factor: 0.1 })
            .loss(
                LossConfig::mse()
                    .with_decoder_norm_l1(0.0)
                    .with_unit_l2(0.1, 0.9)
                    .with_matryoshka(Matryoshka::new(&[1]).unwrap()),
            )
            .rotation_augmented(true)
            .corruption(Corruption::Gaussian { sigma: 0.1 })
            .unit_norm_decoder(true)
            .dead_latents(DeadLatents::window(100).with_auxk(1, 0.03125))
            .freeze_biases(true)
            .l1_warmup_steps(3)
            .lr_warmup_steps(5)
            .lr_decay_steps(2);
        let written = StudyFile::from_study(&study, file.datasets.clone())
            .unwrap()
            .to_toml()
            .unwrap();
        for key in [
            "unit_norm_decoder",
            "dead_latents",
            "lr_decay_steps",
            "matryoshka",
        ] {
            assert!(written.contains(key), "{key}: {written}");
        }
        let back = build(&written).unwrap();
        assert_eq!(back.training, study.training, "{written}");
        assert_eq!(study.study_id().unwrap(), back.study_id().unwrap());

        for per_cell in [
            TrainConfig::new().seed(1),
            TrainConfig::new().validation_fraction(0.1),
            TrainConfig::new().progress(Progress::Silent),
            TrainConfig::new().checkpoint("ck", 1),
        ] {
            study.training = per_cell;
            let err = StudyFile::from_study(&study, file.datasets.clone()).unwrap_err();
            assert!(
                matches!(
                    err,
                    Error::Config {
                        field: "training",
                        ..
                    }
                ),
                "{err}"
            );
        }
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
        let (study, study2, _) = round_trip(&text);
        assert_eq!(study.variants.len(), 1);
        assert!(study.overcomplete);
        assert_eq!(study2.variants, study.variants);

        let bad = text.replace("top_k_divisor = 4", "top_k_divisor = 0");
        let line = bad
            .lines()
            .position(|l| l.starts_with("top_k_divisor"))
            .unwrap()
            + 1;
        let err = build(&bad).unwrap_err().to_string();
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

    /// A variant's corruption is a `[[variants]]` key: it reads, writes
    /// back unchanged, and is part of the cells' keys (a denoising variant
    /// and the same one without noise make different studies); a bad
    /// level is refused naming the field.
    #[test]
    fn variant_corruption_reads_back_and_keys_the_cells() {
        let with = |corruption: &str| {
            format!(
                "{MINIMAL}\n[[variants]]\nname = \"tied_gauss\"\ntied = true\nmetrics = \"denoising\"\n{corruption}"
            )
        };
        let text = with("corruption = { kind = \"gaussian\", sigma = 0.25 }\n");
        let (study, study2, written) = round_trip(&text);
        assert_eq!(
            study.variants[0].corruption,
            Some(crate::train::Corruption::Gaussian { sigma: 0.25 })
        );
        assert!(written.contains("corruption"), "{written}");
        assert_eq!(study2.variants, study.variants);

        let plain_study = build(&with("")).unwrap();
        assert_ne!(study.study_id().unwrap(), plain_study.study_id().unwrap());

        let bad = with("corruption = { kind = \"masking\", fraction = 1.5 }\n");
        let err = build(&bad).unwrap_err().to_string();
        assert!(err.contains("variants.corruption"), "{err}");
    }

    /// A variant's L0 rule is a `[[variants]]` key: it reads, writes back
    /// unchanged, is part of the cells' keys and crosses its own weights
    /// (not the study's sparsity weights), one cell set per weight; a bad
    /// rule is refused naming the field.
    #[test]
    fn variant_l0_rules_read_back_and_cross_their_own_weights() {
        let with = |l0: &str| {
            format!(
                "{MINIMAL}\n[[variants]]\nname = \"tied_jump\"\ntied = true\nactivation = {{ kind = \"jump_relu\" }}\n{l0}"
            )
        };
        let text = with("l0 = { weights = [0.25, 1.0], target_divisor = 16 }\n");
        let (study, study2, written) = round_trip(&text);
        assert_eq!(
            study.variants[0].l0,
            Some(crate::study::L0Rule {
                weights: vec![0.25, 1.0],
                target_divisor: 16
            })
        );
        assert!(written.contains("target_divisor"), "{written}");
        assert_eq!(study2.variants, study.variants);

        let cells = study.cells().unwrap();
        let weights: Vec<f64> = cells
            .iter()
            .filter(|c| c.model_name() == "tied_jump")
            .map(|c| c.sparsity_weight)
            .collect();
        let at = |w: f64| weights.iter().filter(|&&v| v == w).count();
        assert!(at(0.25) > 0, "{weights:?}");
        assert_eq!(at(0.25), at(1.0), "{weights:?}");
        assert_eq!(at(0.25) + at(1.0), weights.len(), "{weights:?}");

        let other_study = build(&with(
            "l0 = { weights = [0.5, 1.0], target_divisor = 16 }\n",
        ))
        .unwrap();
        assert_ne!(study.study_id().unwrap(), other_study.study_id().unwrap());

        for bad in [
            "l0 = { weights = [0.25, 0.25], target_divisor = 16 }\n",
            "l0 = { weights = [0.25], target_divisor = 0 }\n",
            "l1 = true\nl0 = { weights = [0.25], target_divisor = 16 }\n",
        ] {
            let err = build(&with(bad)).unwrap_err().to_string();
            assert!(err.contains("variants.l0"), "{err}");
        }
    }
}
