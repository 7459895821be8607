//! The declarative description of a study: which datasets, model kinds,
//! latent sizes, seeds, training-set sizes, bias modes, L2 and sparsity
//! weights to cross, and how to train. A plain config struct with chained
//! setters and a [`Study::validate`] that names the offending field, so a bad
//! sweep fails before any cell runs.

use super::extra::MetricSet;
use super::limits::{
    MAX_AXIS_VALUES, MAX_CELLS, MAX_HIDDEN_LAYERS, MAX_HIDDEN_WIDTH, MAX_SHARDS, MAX_WEIGHTS,
    check_name,
};
use super::protocol::Protocol;
use super::variant::Variant;
use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::model::{Activation, AutoencoderSpec, BiasMode, ConvSpec, ImageShape};
use crate::train::{Optimizer, TrainConfig};
use crate::validate;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

/// What a cell fits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ModelKind {
    /// PCA with `latent` components: the Eckart–Young baseline, no training.
    Pca,
    /// One tied pair with identity activations: PCA's model family.
    LinearTied,
    /// One untied pair with identity activations.
    LinearUntied,
    /// Tied pairs with the study's activation.
    Tied,
    /// Untied pairs with the study's activation.
    Untied,
    /// Tied pairs with the study's activation and an L1 penalty of weight
    /// `sparsity_weight` on the latent code.
    SparseTied,
    /// Convolutional tied autoencoder (image datasets only): the fixed
    /// stack of [`CONV_LAYERS`] followed by a dense pair to the latent size,
    /// every pair tied (the conv decoder is the transposed convolution with
    /// the encoder's kernel). The study's activation applies to every hidden
    /// representation, as for [`ModelKind::Tied`]; the study's `hidden`
    /// widths are ignored (the conv stack takes their place). Bias modes:
    /// `none` or `separate` (per channel in the conv pair) only; a study
    /// asking for another mode is rejected rather than silently remapped.
    ConvTied,
    /// Convolutional untied autoencoder (image datasets only): the
    /// architecture of [`ModelKind::ConvTied`] with separate encoder and
    /// decoder weights in every pair.
    ConvUntied,
}

impl ModelKind {
    /// Every kind, in the order cells enumerate them.
    pub const ALL: [ModelKind; 8] = [
        ModelKind::Pca,
        ModelKind::LinearTied,
        ModelKind::LinearUntied,
        ModelKind::Tied,
        ModelKind::Untied,
        ModelKind::SparseTied,
        ModelKind::ConvTied,
        ModelKind::ConvUntied,
    ];

    /// The name used in the results' `model` column.
    pub fn name(self) -> &'static str {
        match self {
            ModelKind::Pca => "pca",
            ModelKind::LinearTied => "linear_tied",
            ModelKind::LinearUntied => "linear_untied",
            ModelKind::Tied => "tied",
            ModelKind::Untied => "untied",
            ModelKind::SparseTied => "sparse_tied",
            ModelKind::ConvTied => "conv_tied",
            ModelKind::ConvUntied => "conv_untied",
        }
    }

    /// The kind named `name` (as in [`ModelKind::name`]).
    pub fn parse(name: &str) -> Result<ModelKind> {
        ModelKind::ALL
            .into_iter()
            .find(|k| k.name() == name)
            .ok_or_else(|| {
                Error::config(
                    "model",
                    format!(
                        "unknown model kind {name:?}; use one of {}",
                        ModelKind::ALL.map(ModelKind::name).join(", ")
                    ),
                )
            })
    }

    /// Whether the cell trains an autoencoder (everything but PCA).
    pub fn is_trained(self) -> bool {
        self != ModelKind::Pca
    }

    /// Whether the first layer shares one weight between encoder and decoder.
    pub fn is_tied(self) -> bool {
        matches!(
            self,
            ModelKind::LinearTied | ModelKind::Tied | ModelKind::SparseTied | ModelKind::ConvTied
        )
    }

    /// Whether the kind uses identity activations whatever the study says.
    pub fn is_linear(self) -> bool {
        matches!(
            self,
            ModelKind::Pca | ModelKind::LinearTied | ModelKind::LinearUntied
        )
    }

    /// Whether the kind is convolutional.
    pub fn is_conv(self) -> bool {
        matches!(self, ModelKind::ConvTied | ModelKind::ConvUntied)
    }
}

/// The conv pairs of [`ModelKind::ConvTied`] and [`ModelKind::ConvUntied`]
/// (out channels, kernel, stride, padding): one pair of 8 channels with
/// 3x3 kernels, stride 2, padding 1, which halves each image side (rounding
/// up), so an 8x8 digit becomes 8 maps of 4x4 = 128 features before the
/// dense pair to the code. Small and fixed on purpose: a study compares the
/// conv family with PCA and the dense kinds, it does not tune the stack.
pub const CONV_LAYERS: [(usize, usize, usize, usize); 1] = [(8, 3, 2, 1)];

/// The architecture of a conv cell on single-channel `(height, width)`
/// images: [`CONV_LAYERS`], then a dense pair to `latent`, tied or not,
/// with `activation` on every hidden representation and `bias` biases.
///
/// # Errors
///
/// [`Error::Config`] for an image too small for the kernel or a
/// bias mode conv pairs do not support.
pub(crate) fn conv_spec(
    image: (usize, usize),
    latent: usize,
    tied: bool,
    activation: Activation,
    bias: BiasMode,
) -> Result<AutoencoderSpec> {
    let layers: Vec<ConvSpec> = CONV_LAYERS
        .iter()
        .map(|&(c, k, s, p)| ConvSpec::new(c, k, s, p))
        .collect();
    let spec = AutoencoderSpec::conv(ImageShape::new(1, image.0, image.1), &layers)?
        .then_dense(&[latent])
        .tied(tied)
        .activation(activation)
        .bias(bias);
    spec.validate()?;
    Ok(spec)
}

/// Scalar type the autoencoders train in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Precision {
    /// Single precision: the fast choice for image data.
    #[default]
    F32,
    /// Double precision: for small problems where the last digits matter
    /// (checking Eckart–Young to many places).
    F64,
}

/// How one family of model kinds trains when it does not train as the
/// study's [`Study::training`] and [`Study::precision`] say: the linear
/// kinds' full-batch L-BFGS in f64 beside Adam in f32 for the nonlinear
/// ones, in one grid (see [`Study::linear_training`]).
#[derive(Clone, Debug, PartialEq)]
pub struct FamilyTraining {
    /// The family's training config, used by its cells in place of
    /// [`Study::training`] (per cell the study sets the same things).
    pub config: TrainConfig,
    /// The family's scalar type, in place of [`Study::precision`].
    pub precision: Precision,
}

/// A learning rate one configuration tries beyond the protocol's grid: a
/// rung the bracketing search ([`Study::run_bracketed`]) adds where the
/// configuration's tuned rate sits at an edge of the rates it tried. Only
/// that configuration (dataset, kind, bias mode, latent and training size,
/// L2, sparsity weight) gets the rate, on the seeds listed: the search
/// first tries a rate on half the seeds, rounded up (a probe), and runs the
/// other seeds only where the probe does no worse than the current choice
/// on the same seeds.
#[derive(Clone, Debug, PartialEq)]
pub struct ExtraRate {
    /// The dataset's name.
    pub dataset: String,
    /// A trained kind of the study.
    pub model: ModelKind,
    /// One of the study's bias modes.
    pub bias_mode: BiasMode,
    /// One of the study's latent sizes.
    pub latent: usize,
    /// A training-set size of the study's cells on that dataset (rows).
    pub n_train: usize,
    /// One of the study's L2 coefficients.
    pub l2: f64,
    /// One of the study's sparsity weights for [`ModelKind::SparseTied`]
    /// and a variant with an L1 penalty, one of its own for a variant with
    /// an L0 penalty ([`Variant::sparsity_weights`]), else 0.
    pub sparsity_weight: f64,
    /// The rate, not one of the grid's.
    pub learning_rate: f64,
    /// The name of the study's [`Variant`] whose configuration this is
    /// (then `model` is its base kind, [`ModelKind::Tied`] or
    /// [`ModelKind::Untied`]); `None` for a model kind's.
    pub variant: Option<String>,
    /// The seeds that run it, each one of the study's.
    pub seeds: Vec<u64>,
}

/// A sweep: the cross product of its axes, one cell per combination that
/// changes the result (see [`Study::cells`]).
///
/// ```no_run
/// use tiedae::data::Dataset;
/// use tiedae::study::{ModelKind, Study};
/// use tiedae::train::TrainConfig;
/// let df = Study::new("tied-vs-pca")
///     .dataset(Dataset::builtin("digits")?)
///     .models(&[ModelKind::Pca, ModelKind::LinearTied, ModelKind::LinearUntied])
///     .latents(&[8, 16])
///     .seeds(&[0, 1])
///     .training(TrainConfig::new().epochs(30))
///     .run()?;
/// println!("{df}");
/// # Ok::<(), tiedae::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct Study {
    /// The study's name (shown by progress output and shard manifests, and
    /// the default output directory of `study run`): ASCII letters, digits,
    /// `.`, `_` and `-`, checked by [`Study::validate`].
    pub name: String,
    /// Datasets, each split into train and test parts once per seed.
    pub datasets: Vec<Arc<Dataset>>,
    /// Model kinds.
    pub models: Vec<ModelKind>,
    /// Latent sizes (the width of the code; PCA's number of components).
    pub latents: Vec<usize>,
    /// Seeds. Each draws its own data (train/test split, training rows,
    /// validation carve; [`Study::data_seed`]) and the model initialisation
    /// and training shuffles, shared by every model of that seed.
    pub seeds: Vec<u64>,
    /// Training-set sizes: `n` rows of the seed's training part, drawn by
    /// class when there are labels; `None` uses all of it.
    pub n_trains: Vec<Option<usize>>,
    /// Bias modes of the autoencoders.
    pub bias_modes: Vec<BiasMode>,
    /// L2 weight-decay coefficients `λ₂` (see [`crate::model::LossConfig`]).
    pub l2s: Vec<f64>,
    /// L1 weights on the latent code, used by [`ModelKind::SparseTied`]
    /// and the variants with an L1 penalty only.
    pub sparsity_weights: Vec<f64>,
    /// Hidden activation of the nonlinear kinds.
    pub activation: Activation,
    /// Widths of extra layers between input and code for the nonlinear
    /// kinds (`[d, hidden.., latent]`); empty for one layer pair. Conv
    /// kinds ignore them (their stack is [`CONV_LAYERS`]).
    pub hidden: Vec<usize>,
    /// How every autoencoder trains. Per cell the study sets the seed, the
    /// L2 and L1 weights, the learning rate and early stopping (from the
    /// [`Study::protocol`]), silences progress and drops checkpoints. Its
    /// `epochs` is the cap early stopping works within. The linear kinds
    /// train with [`Study::linear_training`] instead, when it is set.
    pub training: TrainConfig,
    /// Validation split, early stopping and learning-rate grid of every
    /// trained cell (see [`Protocol`]).
    pub protocol: Protocol,
    /// Rates single configurations try beyond the protocol's grid (what
    /// [`Study::run_bracketed`] adds); their cells follow the grid's in
    /// enumeration order, so a plain grid's cells and shards are the same
    /// with or without them. Empty by default; study files do not hold
    /// them (the search adds them again, from the cache, on every run).
    pub extra_rates: Vec<ExtraRate>,
    /// Scalar type of training.
    pub precision: Precision,
    /// How the linear kinds ([`ModelKind::LinearTied`],
    /// [`ModelKind::LinearUntied`]) train, when not as every other kind:
    /// their cells use this config and precision instead of
    /// [`Study::training`] and [`Study::precision`], in their cache keys too,
    /// and an L-BFGS config gives them no learning-rate axis. `None` (the
    /// default): every kind trains alike.
    pub linear_training: Option<FamilyTraining>,
    /// Fraction of each dataset held out as test data.
    pub test_fraction: f64,
    /// Root of every seed's data: seed `s` splits, draws and carves its
    /// rows by a seed derived from this and `s` ([`Study::data_seed`]), so
    /// every model and PCA of one seed see the same data.
    pub split_seed: u64,
    /// Where finished cells are cached; `None` disables caching.
    pub cache_dir: Option<PathBuf>,
    /// Show a progress bar over cells (only on a terminal).
    pub progress: bool,
    /// Run only cells with `index % n == i`: `Some((i, n))`.
    pub shard: Option<(usize, usize)>,
    /// When raised, no further cell starts and training cells stop at
    /// their next epoch end, unfinished and uncached; the run then fails
    /// with [`Error::StudyInterrupted`]. Whoever owns the flag decides what
    /// raises it (the `study` binary: SIGINT and SIGTERM), as for the
    /// trainer's own flag.
    pub interrupt: Option<Arc<AtomicBool>>,
    /// Named variants crossed like the model kinds, after them (see
    /// [`Variant`]); empty by default, and then the study's cells are
    /// exactly those of its model kinds.
    pub variants: Vec<Variant>,
    /// Accept latent sizes above the data's width `d` (over-complete
    /// codes, as sparse autoencoders use), up to the fitting rows; PCA
    /// then keeps all the components it has. Off by default: a latent
    /// size must be at most `min(fitting rows, d)`.
    pub overcomplete: bool,
}

impl Study {
    /// An empty study named `name`: add at least one dataset and one model.
    /// Defaults: latent 8, seed 0, all training rows, separate biases, no
    /// L2, no sparsity, ReLU, one layer pair, the trainer's defaults
    /// (Adam), the default [`Protocol`] (20% of the training rows validate,
    /// patience 20), f32, 20% test data split with seed 0, no cache, no
    /// progress.
    pub fn new(name: impl Into<String>) -> Study {
        Study {
            name: name.into(),
            datasets: Vec::new(),
            models: Vec::new(),
            latents: vec![8],
            seeds: vec![0],
            n_trains: vec![None],
            bias_modes: vec![BiasMode::Separate],
            l2s: vec![0.0],
            sparsity_weights: vec![0.0],
            activation: Activation::Relu,
            hidden: Vec::new(),
            training: TrainConfig::default(),
            protocol: Protocol::default(),
            extra_rates: Vec::new(),
            precision: Precision::F32,
            linear_training: None,
            test_fraction: 0.2,
            split_seed: 0,
            cache_dir: None,
            progress: false,
            shard: None,
            interrupt: None,
            variants: Vec::new(),
            overcomplete: false,
        }
    }

    /// Sets the named variants (see [`Variant`]).
    pub fn variants(mut self, variants: &[Variant]) -> Study {
        self.variants = variants.to_vec();
        self
    }

    /// Accepts (or refuses) latent sizes above the data's width (see
    /// [`Study::overcomplete`](Study#structfield.overcomplete)).
    pub fn overcomplete(mut self, on: bool) -> Study {
        self.overcomplete = on;
        self
    }

    /// The extra metrics the study's frames hold columns for: those its
    /// variants record (PCA and the model kinds record them too, as the
    /// references the variants are read against).
    pub fn extra_metrics(&self) -> Option<MetricSet> {
        self.variants.iter().find_map(|v| v.metrics)
    }

    /// Adds a dataset.
    pub fn dataset(mut self, ds: impl Into<Arc<Dataset>>) -> Study {
        self.datasets.push(ds.into());
        self
    }

    /// Sets the model kinds.
    pub fn models(mut self, models: &[ModelKind]) -> Study {
        self.models = models.to_vec();
        self
    }

    /// Sets the latent sizes.
    pub fn latents(mut self, latents: &[usize]) -> Study {
        self.latents = latents.to_vec();
        self
    }

    /// Sets the seeds.
    pub fn seeds(mut self, seeds: &[u64]) -> Study {
        self.seeds = seeds.to_vec();
        self
    }

    /// Sets the training-set sizes (each a prefix of the training part).
    pub fn n_trains(mut self, n: &[usize]) -> Study {
        self.n_trains = n.iter().map(|&n| Some(n)).collect();
        self
    }

    /// Sets the training-set sizes, `None` meaning the whole training part.
    pub fn n_trains_opt(mut self, n: &[Option<usize>]) -> Study {
        self.n_trains = n.to_vec();
        self
    }

    /// Sets the bias modes.
    pub fn bias_modes(mut self, modes: &[BiasMode]) -> Study {
        self.bias_modes = modes.to_vec();
        self
    }

    /// Sets the L2 coefficients.
    pub fn l2s(mut self, l2s: &[f64]) -> Study {
        self.l2s = l2s.to_vec();
        self
    }

    /// Sets the L1 code penalties of [`ModelKind::SparseTied`].
    pub fn sparsity_weights(mut self, w: &[f64]) -> Study {
        self.sparsity_weights = w.to_vec();
        self
    }

    /// Sets the hidden activation of the nonlinear kinds.
    pub fn activation(mut self, act: Activation) -> Study {
        self.activation = act;
        self
    }

    /// Sets extra hidden widths of the nonlinear kinds.
    pub fn hidden(mut self, hidden: &[usize]) -> Study {
        self.hidden = hidden.to_vec();
        self
    }

    /// Sets the training configuration.
    pub fn training(mut self, cfg: TrainConfig) -> Study {
        self.training = cfg;
        self
    }

    /// Sets the training protocol.
    pub fn protocol(mut self, protocol: Protocol) -> Study {
        self.protocol = protocol;
        self
    }

    /// Sets the training precision.
    pub fn precision(mut self, p: Precision) -> Study {
        self.precision = p;
        self
    }

    /// Sets the test fraction.
    pub fn test_fraction(mut self, f: f64) -> Study {
        self.test_fraction = f;
        self
    }

    /// Sets the split seed.
    pub fn split_seed(mut self, seed: u64) -> Study {
        self.split_seed = seed;
        self
    }

    /// Caches finished cells in `dir` (created if missing).
    pub fn cache_dir(mut self, dir: impl Into<PathBuf>) -> Study {
        self.cache_dir = Some(dir.into());
        self
    }

    /// Shows (or hides) the progress bar over cells.
    pub fn progress(mut self, on: bool) -> Study {
        self.progress = on;
        self
    }

    /// Stops the run (between cells, or a training cell at an epoch end)
    /// once `flag` is raised; see [`Study::interrupt`](Study#structfield.interrupt).
    pub fn interrupt(mut self, flag: Arc<AtomicBool>) -> Study {
        self.interrupt = Some(flag);
        self
    }

    /// Restricts the study to cells with `index % n == i`, the slice a
    /// batch-scheduler task (e.g. a Slurm array job `--shard i/n`) runs.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] (field `shard`) unless `1 <= n <=`
    /// [`MAX_SHARDS`] and `i < n`.
    pub fn shard(mut self, i: usize, n: usize) -> Result<Study> {
        check_shard(i, n)?;
        self.shard = Some((i, n));
        Ok(self)
    }

    /// Checks every setting that does not need the data, within the stated
    /// limits of [`super::limits`] (the name is a name, at most
    /// [`MAX_AXIS_VALUES`] values per axis, at most [`MAX_CELLS`] cells);
    /// the data-dependent checks (latent and training sizes, and the weight
    /// count, against each dataset) run in [`Study::cells`].
    pub fn validate(&self) -> Result<()> {
        check_name(&self.name)?;
        self.validate_datasets()?;
        if self.variants.is_empty() || !self.models.is_empty() {
            non_empty_unique("models", &self.models)?;
        }
        self.validate_variants()?;
        self.validate_sizes()?;
        non_empty_unique("bias_modes", &self.bias_modes)?;
        weights("l2s", &self.l2s)?;
        weights("sparsity_weights", &self.sparsity_weights)?;
        self.activation.validate()?;
        self.validate_hidden()?;
        self.validate_conv()?;
        if !(self.test_fraction > 0.0 && self.test_fraction < 1.0) {
            return Err(Error::config(
                "test_fraction",
                format!(
                    "must lie strictly between 0 and 1, got {}",
                    self.test_fraction
                ),
            ));
        }
        self.protocol.validate()?;
        self.validate_training()?;
        self.validate_linear_training()?;
        if let Some((i, n)) = self.shard {
            check_shard(i, n)?;
        }
        self.validate_extra_rates()?;
        let count = self.cell_count();
        if count > MAX_CELLS {
            return Err(Error::config(
                "cells",
                format!(
                    "the study's axes cross to {count} cells, more than the {MAX_CELLS} a study may have; split it into several studies"
                ),
            ));
        }
        Ok(())
    }

    /// Datasets: at least one, and no two of the same name (cells and
    /// rows name their dataset).
    fn validate_datasets(&self) -> Result<()> {
        if self.datasets.is_empty() {
            return Err(Error::config("datasets", "add at least one dataset"));
        }
        let mut names: Vec<&str> = self.datasets.iter().map(|d| d.name()).collect();
        names.sort_unstable();
        if let Some(w) = names.windows(2).find(|w| w[0] == w[1]) {
            return Err(Error::config(
                "datasets",
                format!(
                    "two datasets are named {:?}; rename one (Dataset::with_name)",
                    w[0]
                ),
            ));
        }
        Ok(())
    }

    /// The size axes (latent sizes, seeds, training sizes): each non-empty
    /// and without repeats, latents of at least 1, seeds that fit the
    /// frame's i64 column, training sets of at least 2 rows.
    fn validate_sizes(&self) -> Result<()> {
        non_empty_unique("latents", &self.latents)?;
        if self.latents.contains(&0) {
            return Err(Error::config("latents", "a latent size must be at least 1"));
        }
        non_empty_unique("seeds", &self.seeds)?;
        if let Some(s) = self.seeds.iter().find(|&&s| s > i64::MAX as u64) {
            return Err(Error::config(
                "seeds",
                format!("{s} does not fit the i64 `seed` column; use seeds below 2^63"),
            ));
        }
        non_empty_unique("n_trains", &self.n_trains)?;
        if self.n_trains.contains(&Some(0)) || self.n_trains.contains(&Some(1)) {
            return Err(Error::config(
                "n_trains",
                "a training set needs at least 2 rows",
            ));
        }
        Ok(())
    }

    /// Hidden layers: widths of at least 1, within [`MAX_HIDDEN_LAYERS`]
    /// layers of at most [`MAX_HIDDEN_WIDTH`] units.
    fn validate_hidden(&self) -> Result<()> {
        if self.hidden.contains(&0) {
            return Err(Error::config("hidden", "a hidden width must be at least 1"));
        }
        if self.hidden.len() > MAX_HIDDEN_LAYERS {
            return Err(Error::config(
                "hidden",
                format!(
                    "{} hidden layers; a study builds at most {MAX_HIDDEN_LAYERS}",
                    self.hidden.len()
                ),
            ));
        }
        if let Some(w) = self.hidden.iter().find(|&&w| w > MAX_HIDDEN_WIDTH) {
            return Err(Error::config(
                "hidden",
                format!("a hidden width of {w} is more than the limit of {MAX_HIDDEN_WIDTH}"),
            ));
        }
        Ok(())
    }

    /// The training configuration, checked as a cell uses it (without a
    /// checkpoint, which cells never write), and refused for sparse tied
    /// cells under L-BFGS.
    fn validate_training(&self) -> Result<()> {
        let mut probe = self.training.clone();
        probe.checkpoint = None;
        probe.validate()?;
        if matches!(probe.optimizer, Optimizer::Lbfgs(_))
            && self.sparsity_weights.iter().any(|&w| w > 0.0)
            && self.models.contains(&ModelKind::SparseTied)
        {
            // L1 is not differentiable at zero; a quasi-Newton line search on
            // it stalls rather than producing sparse codes.
            return Err(Error::config(
                "training.optimizer",
                "L-BFGS cannot train sparse_tied cells (the L1 code penalty is not smooth); use a minibatch optimizer",
            ));
        }
        Ok(())
    }

    /// Extra rates: positive, each listed once, on the study's seeds only.
    fn validate_extra_rates(&self) -> Result<()> {
        for (i, e) in self.extra_rates.iter().enumerate() {
            validate::positive_param("extra_rates", "learning rate", e.learning_rate)?;
            if self.extra_rates[..i].contains(e) {
                return Err(Error::config("extra_rates", format!("{e:?} appears twice")));
            }
            if let Some(s) = e.seeds.iter().find(|s| !self.seeds.contains(s)) {
                return Err(Error::config(
                    "extra_rates",
                    format!("seed {s} is not one of the study's"),
                ));
            }
        }
        Ok(())
    }

    /// Variants: at most [`MAX_AXIS_VALUES`], distinct names that are no
    /// model kind's, each valid ([`Variant::validate`]), and a minibatch
    /// optimizer for those that need one.
    fn validate_variants(&self) -> Result<()> {
        if self.variants.len() > MAX_AXIS_VALUES {
            return Err(Error::config(
                "variants",
                format!(
                    "lists {} variants; a study takes at most {MAX_AXIS_VALUES}",
                    self.variants.len()
                ),
            ));
        }
        for (i, v) in self.variants.iter().enumerate() {
            v.validate(&self.bias_modes, self.activation)?;
            if let (Some(set), Some(first)) = (v.metrics, self.extra_metrics())
                && set != first
            {
                return Err(Error::config(
                    "variants.metrics",
                    format!(
                        "variant {:?} records {set:?} but another records {first:?}; a study's frames hold the columns of one set",
                        v.name
                    ),
                ));
            }
            if ModelKind::parse(&v.name).is_ok()
                || self.variants[..i].iter().any(|w| w.name == v.name)
            {
                return Err(Error::config(
                    "variants.name",
                    format!(
                        "variant {:?}: the name is a model kind's or another variant's; every model name makes its own rows",
                        v.name
                    ),
                ));
            }
            if v.needs_minibatch() && v.trains_with_lbfgs(&self.training) {
                return Err(Error::config(
                    "training.optimizer",
                    format!(
                        "variant {:?} trains with an L1 or L0 penalty, a unit-norm decoder, frozen biases, dead-latent tracking, input corruption or an alignment stop, which need a minibatch optimizer, not L-BFGS",
                        v.name
                    ),
                ));
            }
        }
        Ok(())
    }

    /// The number of cells [`Study::cells`] enumerates, counted from the
    /// axes before any cell is built (saturating at `usize::MAX`), so an
    /// oversized study is refused without enumerating it.
    fn cell_count(&self) -> usize {
        let per_latent = self.models.iter().fold(0usize, |acc, &m| {
            let rates = self.learning_rates_for(m).len();
            let n = if m == ModelKind::Pca {
                self.seeds.len()
            } else {
                let sparsity = if m == ModelKind::SparseTied {
                    self.sparsity_weights.len()
                } else {
                    1
                };
                [
                    self.bias_modes.len(),
                    self.l2s.len(),
                    sparsity,
                    rates,
                    self.seeds.len(),
                ]
                .into_iter()
                .fold(1usize, usize::saturating_mul)
            };
            acc.saturating_add(n)
        });
        let per_latent = self.variants.iter().fold(per_latent, |acc, v| {
            let sparsity = v
                .sparsity_weights(&self.sparsity_weights)
                .map_or(1, <[f64]>::len);
            let n = [
                v.bias_modes(&self.bias_modes).len(),
                self.l2s.len(),
                sparsity,
                self.variant_rates(v).len(),
                self.seeds.len(),
            ]
            .into_iter()
            .fold(1usize, usize::saturating_mul);
            acc.saturating_add(n)
        });
        [
            self.datasets.len(),
            self.n_trains.len(),
            self.latents.len(),
            per_latent,
        ]
        .into_iter()
        .fold(1usize, usize::saturating_mul)
        .saturating_add(self.extra_rates.iter().map(|e| e.seeds.len()).sum())
    }

    /// Checks that the widest dense autoencoder the study builds on `ds`
    /// (its widths `[d, hidden.., largest latent]`) has at most
    /// [`MAX_WEIGHTS`] weights, before any model is allocated: widths that
    /// pass one by one can still multiply to more memory than a machine has.
    ///
    /// # Errors
    /// [`Error::Config`] for field `hidden`.
    pub(crate) fn check_weights(&self, ds: &Dataset) -> Result<()> {
        let uses_hidden = !self.variants.is_empty()
            || self
                .models
                .iter()
                .any(|m| m.is_trained() && !m.is_linear() && !m.is_conv());
        if !uses_hidden || self.hidden.is_empty() {
            return Ok(());
        }
        let latent = self.latents.iter().copied().max().unwrap_or(1);
        let mut dims = Vec::with_capacity(self.hidden.len() + 2);
        dims.push(ds.n_features());
        dims.extend_from_slice(&self.hidden);
        dims.push(latent);
        let weights = dims.windows(2).try_fold(0usize, |acc, w| {
            w[0].checked_mul(w[1])?.checked_mul(2)?.checked_add(acc)
        });
        match weights {
            Some(n) if n <= MAX_WEIGHTS => Ok(()),
            n => Err(Error::config(
                "hidden",
                format!(
                    "widths {:?} on dataset {:?} ({} features) make {} weights, more than the limit of {MAX_WEIGHTS}",
                    self.hidden,
                    ds.name(),
                    ds.n_features(),
                    n.map_or_else(|| "more than usize::MAX".to_string(), |n| n.to_string())
                ),
            )),
        }
    }
}

impl Study {
    /// Conv kinds need image datasets, a supported bias mode and images
    /// large enough for [`CONV_LAYERS`]. Bias modes are rejected rather than
    /// mapped: a remapped cell would carry a `bias_mode` it did not train
    /// with, or duplicate another cell.
    fn validate_conv(&self) -> Result<()> {
        let Some(&kind) = self.models.iter().find(|m| m.is_conv()) else {
            return Ok(());
        };
        if let Some(b) = self
            .bias_modes
            .iter()
            .find(|b| !matches!(b, BiasMode::None | BiasMode::Separate))
        {
            return Err(Error::config(
                "bias_modes",
                format!(
                    "{} cells support the bias modes \"none\" and \"separate\" only, not \"{}\"; run the other modes in a study without conv kinds",
                    kind.name(),
                    b.name()
                ),
            ));
        }
        for ds in &self.datasets {
            let Some(image) = ds.image_shape() else {
                return Err(Error::config(
                    "models",
                    format!(
                        "{} needs image data but dataset {:?} has no image shape",
                        kind.name(),
                        ds.name()
                    ),
                ));
            };
            conv_spec(image, 1, true, self.activation, BiasMode::Separate).map_err(|e| {
                Error::config(
                    "models",
                    format!(
                        "{} cannot run on dataset {:?} ({}x{} images): {e}",
                        kind.name(),
                        ds.name(),
                        image.0,
                        image.1
                    ),
                )
            })?;
        }
        Ok(())
    }
}

fn check_shard(i: usize, n: usize) -> Result<()> {
    if n == 0 || i >= n || n > MAX_SHARDS {
        return Err(Error::config(
            "shard",
            format!("shard {i}/{n}: need 1 <= n <= {MAX_SHARDS} and 0 <= i < n"),
        ));
    }
    Ok(())
}

/// Checks that axis `field` lists 1 to [`MAX_AXIS_VALUES`] values, none
/// twice. (The length is checked first: the check for repeats compares
/// every pair.)
fn non_empty_unique<T: PartialEq + std::fmt::Debug>(field: &'static str, v: &[T]) -> Result<()> {
    if v.is_empty() {
        return Err(Error::config(field, "must have at least one value"));
    }
    if v.len() > MAX_AXIS_VALUES {
        return Err(Error::config(
            field,
            format!(
                "lists {} values; a study takes at most {MAX_AXIS_VALUES} per axis",
                v.len()
            ),
        ));
    }
    for (i, a) in v.iter().enumerate() {
        if v[..i].contains(a) {
            return Err(Error::config(
                field,
                format!("{a:?} appears twice; every value makes its own cells"),
            ));
        }
    }
    Ok(())
}

fn weights(field: &'static str, v: &[f64]) -> Result<()> {
    for &w in v {
        validate::non_negative(field, w)?;
    }
    non_empty_unique(field, v)
}

/// The model kind a variant's cells are built on: its first layer pair
/// tied or untied, with the study's widths.
pub(crate) fn base_kind(v: &Variant) -> ModelKind {
    if v.tied {
        ModelKind::Tied
    } else {
        ModelKind::Untied
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digits_study(name: &str) -> Study {
        Study::new(name).dataset(Dataset::builtin("digits").unwrap())
    }

    /// The count that bounds a study before its cells are built is its
    /// number of cells, axis by axis.
    #[test]
    fn cell_count_counts_the_cells() {
        let s = digits_study("count")
            .models(&[
                ModelKind::Pca,
                ModelKind::Tied,
                ModelKind::SparseTied,
                ModelKind::LinearUntied,
            ])
            .latents(&[2, 4])
            .seeds(&[0, 1, 2])
            .n_trains(&[100, 200])
            .l2s(&[0.0, 1e-4])
            .sparsity_weights(&[0.0, 0.1])
            .protocol(Protocol {
                learning_rates: vec![1e-3, 1e-2],
                ..Protocol::default()
            });
        assert_eq!(s.cell_count(), 2 * 2 * (3 + 12 + 24 + 12));
        assert_eq!(s.cell_count(), s.cells().unwrap().len());
    }

    /// Axes, cell counts and widths beyond the stated limits are refused
    /// before anything is built, naming the field.
    #[test]
    fn sizes_beyond_the_limits_are_refused() {
        let field = |s: &Study| match s.cells() {
            Err(Error::Config { field, .. }) => field,
            other => panic!("expected a config error, got {other:?}"),
        };
        let seeds: Vec<u64> = (0..=MAX_AXIS_VALUES as u64).collect();
        let s = digits_study("seeds")
            .models(&[ModelKind::Pca])
            .seeds(&seeds);
        assert_eq!(field(&s), "seeds");
        let seeds: Vec<u64> = (0..5_000).collect();
        let l2s: Vec<f64> = (0..201u32).map(|i| f64::from(i) * 1e-6).collect();
        let s = digits_study("cells")
            .models(&[ModelKind::Tied])
            .seeds(&seeds)
            .l2s(&l2s);
        assert_eq!(field(&s), "cells");
        let tied = digits_study("wide").models(&[ModelKind::Tied]);
        assert_eq!(
            field(&tied.clone().hidden(&[MAX_HIDDEN_WIDTH + 1])),
            "hidden"
        );
        assert_eq!(field(&tied.clone().hidden(&[100_000, 100_000])), "hidden");
        assert_eq!(
            field(&tied.clone().hidden(&[1; MAX_HIDDEN_LAYERS + 1])),
            "hidden"
        );
        assert!(tied.hidden(&[1024, 1024]).cells().is_ok());
        // Linear kinds ignore the widths.
        let linear = digits_study("linear").models(&[ModelKind::LinearTied]);
        assert!(linear.hidden(&[100_000, 100_000]).cells().is_ok());
        assert_eq!(
            field(&digits_study("../x").models(&[ModelKind::Pca])),
            "name"
        );
        let mut sharded = digits_study("x").models(&[ModelKind::Pca]);
        sharded.shard = Some((0, MAX_SHARDS + 1));
        assert_eq!(field(&sharded), "shard");
    }
}
