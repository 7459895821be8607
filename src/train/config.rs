//! Training hyperparameters: a plain, serializable struct with a builder and
//! a `validate()` that names the offending field, so a bad sweep fails before
//! any work starts.

use super::corruption::Corruption;
use crate::error::{Error, Result};
use crate::hex::hex;
use crate::model::{AuxK, LossConfig};
use crate::validate;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::path::PathBuf;

/// The update rule.
///
/// Learning rates live in [`TrainConfig::learning_rate`] (scaled by the
/// [`Schedule`]); the variants hold only what is specific to each rule.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Optimizer {
    /// Stochastic gradient descent with optional (heavy-ball or Nesterov)
    /// momentum, as PyTorch's `SGD`: `v ← μ v + g`, step `v` (or `g + μ v`
    /// with Nesterov).
    Sgd { momentum: f64, nesterov: bool },
    /// Adam (Kingma & Ba) with bias correction. Weight decay, if any, is an
    /// L2 term of the objective.
    Adam { beta1: f64, beta2: f64, eps: f64 },
    /// AdamW (Loshchilov & Hutter): Adam plus decoupled weight decay
    /// `W ← W − lr · weight_decay · W` on the weight matrices (biases are
    /// not decayed, matching the model's L2 term).
    AdamW { beta1: f64, beta2: f64, eps: f64 },
    /// Full-batch L-BFGS (argmin, More–Thuente line search) on the whole
    /// training set; `epochs`, `batch_size` and the learning rate are unused,
    /// each history row is one L-BFGS iteration.
    Lbfgs(LbfgsConfig),
}

/// Most correction pairs L-BFGS may keep ([`LbfgsConfig::memory`]). Each
/// pair holds two vectors of every parameter, and beyond a few dozen pairs
/// the solver gains nothing: the limit only stops a mistyped value from
/// asking for memory no machine has.
pub const MAX_LBFGS_MEMORY: usize = 1000;

/// Settings of the full-batch L-BFGS optimizer.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LbfgsConfig {
    /// Maximum number of iterations.
    pub max_iters: u64,
    /// Number of correction pairs kept (the `m` of L-BFGS), 1 to
    /// [`MAX_LBFGS_MEMORY`].
    pub memory: usize,
    /// Stop when the gradient norm falls below this.
    pub tol_grad: f64,
    /// Stop when the change of the objective falls below this.
    pub tol_cost: f64,
    /// Stop when one iteration lowers the objective by this or less,
    /// relative as SciPy's L-BFGS-B measures it (its `ftol`, `_lbfgsb_py.py`):
    /// `(f_k − f_{k+1}) / max(|f_k|, |f_{k+1}|, 1) ≤ tol_cost_rel`; 0 turns
    /// it off. An absolute `tol_cost` is never met where the objective is
    /// flat along whole directions (an untied linear pair's loss is
    /// unchanged by any invertible map between encoder and decoder), so
    /// such runs would otherwise end at `max_iters`.
    #[serde(default)]
    pub tol_cost_rel: f64,
}

/// SciPy's default `ftol` for L-BFGS-B: `factr = 1e7` times the machine
/// epsilon.
pub const SCIPY_FTOL: f64 = 1e7 * f64::EPSILON;

impl LbfgsConfig {
    /// The default settings as a constant (what [`Default`] returns), so
    /// [`Optimizer::ALL`] can hold an L-BFGS value.
    pub const DEFAULT: LbfgsConfig = LbfgsConfig {
        max_iters: 500,
        memory: 10,
        tol_grad: 1e-10,
        tol_cost: 1e-16,
        tol_cost_rel: 0.0,
    };
}

impl Default for LbfgsConfig {
    fn default() -> Self {
        LbfgsConfig::DEFAULT
    }
}

impl Optimizer {
    /// One default-configured value of every update rule: plain SGD, SGD
    /// with heavy-ball and with Nesterov momentum (μ 0.9), Adam, AdamW and
    /// L-BFGS, each with distinct [`Optimizer::name`].
    ///
    /// This is the list the every-variant tests iterate (determinism across
    /// thread counts, resume, validation of each field), so a rule added
    /// here is checked by all of them. A new enum variant must be added
    /// too: a unit test below matches the variants exhaustively and fails
    /// to compile until it is.
    pub const ALL: [Optimizer; 6] = [
        Optimizer::sgd(),
        Optimizer::momentum(0.9),
        Optimizer::nesterov(0.9),
        Optimizer::adam(),
        Optimizer::adamw(),
        Optimizer::lbfgs(),
    ];

    /// Plain SGD.
    pub const fn sgd() -> Self {
        Optimizer::Sgd {
            momentum: 0.0,
            nesterov: false,
        }
    }

    /// SGD with heavy-ball momentum `momentum`.
    pub const fn momentum(momentum: f64) -> Self {
        Optimizer::Sgd {
            momentum,
            nesterov: false,
        }
    }

    /// SGD with Nesterov momentum `momentum`.
    pub const fn nesterov(momentum: f64) -> Self {
        Optimizer::Sgd {
            momentum,
            nesterov: true,
        }
    }

    /// Adam with PyTorch's defaults (β₁ 0.9, β₂ 0.999, ε 1e-8).
    pub const fn adam() -> Self {
        Optimizer::Adam {
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
        }
    }

    /// AdamW with PyTorch's defaults; set the decay with
    /// [`TrainConfig::weight_decay`].
    pub const fn adamw() -> Self {
        Optimizer::AdamW {
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
        }
    }

    /// L-BFGS with default settings.
    pub const fn lbfgs() -> Self {
        Optimizer::Lbfgs(LbfgsConfig::DEFAULT)
    }

    /// Short name for tables and progress output.
    pub fn name(&self) -> &'static str {
        match self {
            Optimizer::Sgd {
                momentum, nesterov, ..
            } => match (*momentum > 0.0, *nesterov) {
                (false, _) => "sgd",
                (true, false) => "momentum",
                (true, true) => "nesterov",
            },
            Optimizer::Adam { .. } => "adam",
            Optimizer::AdamW { .. } => "adamw",
            Optimizer::Lbfgs(_) => "lbfgs",
        }
    }

    fn validate(&self) -> Result<()> {
        match *self {
            Optimizer::Sgd { momentum, .. } => {
                validate::fraction_below_one("optimizer.momentum", momentum)
            }
            Optimizer::Adam { beta1, beta2, eps } | Optimizer::AdamW { beta1, beta2, eps } => {
                validate::fraction_below_one("optimizer.beta1", beta1)?;
                validate::fraction_below_one("optimizer.beta2", beta2)?;
                validate::positive("optimizer.eps", eps)
            }
            Optimizer::Lbfgs(c) => {
                if c.max_iters == 0 {
                    return Err(Error::config("lbfgs.max_iters", "must be at least 1"));
                }
                if c.memory == 0 {
                    return Err(Error::config("lbfgs.memory", "must be at least 1"));
                }
                if c.memory > MAX_LBFGS_MEMORY {
                    return Err(Error::config(
                        "lbfgs.memory",
                        format!("must be at most {MAX_LBFGS_MEMORY}, got {}", c.memory),
                    ));
                }
                validate::non_negative("lbfgs.tol_grad", c.tol_grad)?;
                validate::non_negative("lbfgs.tol_cost", c.tol_cost)?;
                validate::non_negative("lbfgs.tol_cost_rel", c.tol_cost_rel)
            }
        }
    }
}

/// How the learning rate changes over epochs (multiplying the base rate).
#[derive(Clone, Copy, Debug, PartialEq, Default, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Schedule {
    /// The base rate throughout.
    #[default]
    Constant,
    /// Multiply by `gamma` every `every` epochs (PyTorch's `StepLR`).
    Step { every: usize, gamma: f64 },
    /// Cosine annealing from the base rate at the first epoch to
    /// `min_factor` × base at the last one.
    Cosine { min_factor: f64 },
}

impl Schedule {
    fn validate(&self) -> Result<()> {
        match *self {
            Schedule::Constant => Ok(()),
            Schedule::Step { every, gamma } => {
                if every == 0 {
                    return Err(Error::config("schedule.every", "must be at least 1 epoch"));
                }
                validate::positive("schedule.gamma", gamma)
            }
            Schedule::Cosine { min_factor } => {
                validate::fraction("schedule.min_factor", min_factor)
            }
        }
    }
}

/// Stop when the validation loss has not improved for `patience` epochs.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EarlyStopping {
    /// Epochs without improvement tolerated before stopping (>= 1).
    pub patience: usize,
    /// An epoch improves only if its validation loss is below the best by
    /// more than this (absolute).
    pub min_delta: f64,
    /// Hand back the weights of the best epoch rather than the last.
    pub restore_best: bool,
}

impl EarlyStopping {
    /// Patience `patience`, any improvement counts, best weights restored.
    pub fn patience(patience: usize) -> Self {
        EarlyStopping {
            patience,
            min_delta: 0.0,
            restore_best: true,
        }
    }
}

/// Where and how often to checkpoint.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckpointConfig {
    /// Directory of `checkpoint.json` (created if missing).
    pub dir: PathBuf,
    /// Write one every this many epochs (L-BFGS: iterations); 0 = only on
    /// interrupt and divergence.
    pub every: usize,
}

/// Tracking (and optionally reviving) dead latents during minibatch
/// training.
///
/// A latent fires on a sample when its activation is nonzero (so the notion
/// suits ReLU-like and TopK codes; a sigmoid latent never dies). A latent is
/// dead when it has not fired in the last `window` training samples,
/// counted at batch granularity (a batch in which it fires resets its
/// count, as SAELens counts). The fraction dead at the end of each epoch is
/// recorded in [`super::EpochRecord::dead_fraction`].
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeadLatents {
    /// Samples without firing after which a latent counts as dead (>= 1).
    pub window: usize,
    /// Revive dead latents with the AuxK loss (see [`AuxK`]); `None` only
    /// counts them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auxk: Option<AuxK>,
}

impl DeadLatents {
    /// Counts latents dead after `window` samples, without revival.
    pub fn window(window: usize) -> Self {
        DeadLatents { window, auxk: None }
    }

    /// Adds AuxK revival with `k_aux` dead latents per sample and
    /// coefficient `alpha`.
    pub fn with_auxk(mut self, k_aux: usize, alpha: f64) -> Self {
        self.auxk = Some(AuxK { k_aux, alpha });
        self
    }

    fn validate(&self) -> Result<()> {
        if self.window == 0 {
            return Err(Error::config(
                "dead_latents.window",
                "must be at least 1 sample",
            ));
        }
        if let Some(a) = &self.auxk {
            a.validate()?;
        }
        Ok(())
    }
}

/// What the trainer prints while it runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Progress {
    /// A bar when stderr is a terminal, else one line per epoch.
    #[default]
    Auto,
    /// An indicatif bar on stderr with epoch, loss and ETA.
    Bar,
    /// One plain line per epoch on stderr (CI logs, notebooks).
    Lines,
    /// Nothing.
    Silent,
}

/// Every training hyperparameter. Build with the chained setters, check with
/// [`TrainConfig::validate`] (done by [`super::Trainer::new`]).
///
/// Deserialising fills absent keys from [`TrainConfig::default`] (the
/// `default` below only affects reading), so a study file's `[training]`
/// table is read as this struct itself rather than as a copy of its fields
/// that would have to follow every new one. The serialized form is left
/// as it was: [`TrainConfig::result_hash`] and the study's cache keys hash
/// it, and a change there would orphan every checkpoint and cached cell.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrainConfig {
    /// Passes over the training rows (minibatch optimizers).
    pub epochs: usize,
    /// Rows per minibatch (the last batch of an epoch may be smaller).
    pub batch_size: usize,
    /// Rows per parallel shard. Batches are cut into shards of this fixed
    /// size, so results do not depend on the number of threads.
    ///
    /// The default, 128, splits a default batch of 256 into one shard per
    /// core on a two-core machine, in fewer, taller products than 64-row
    /// shards: each product call has fixed overhead, and taller operands
    /// keep the kernels' register tiles full (`benches/train.rs` measures
    /// the effect). A shard is also the sample set of KL sparsity's
    /// mean activation (see [`LossConfig::kl`]).
    pub shard_size: usize,
    /// The update rule.
    pub optimizer: Optimizer,
    /// Base learning rate (minibatch optimizers).
    pub learning_rate: f64,
    /// Learning-rate schedule over epochs.
    pub schedule: Schedule,
    /// The objective. Its `l2` is part of the loss for every optimizer.
    pub loss: LossConfig,
    /// Weight decay: decoupled for AdamW, otherwise added to the objective's
    /// L2 coefficient (`λ₂ = loss.l2 + weight_decay`).
    pub weight_decay: f64,
    /// Rescale each batch gradient to at most this global norm.
    pub clip_grad_norm: Option<f64>,
    /// Fraction of rows held out (after a seeded shuffle) for validation.
    pub validation_fraction: f64,
    /// Early stopping on the validation loss (needs a validation fraction).
    pub early_stopping: Option<EarlyStopping>,
    /// Seed of the validation split and the epoch shuffles.
    pub seed: u64,
    /// Periodic and interrupt checkpoints.
    pub checkpoint: Option<CheckpointConfig>,
    /// Progress output.
    pub progress: Progress,
    /// Bao et al.'s rotation-augmented gradient: each batch gradient gets a
    /// rotation of the latent space towards decorrelated units, so a linear
    /// autoencoder finds the ordered principal directions at the speed it
    /// finds their subspace (see [`super::rotation`]). For first-order
    /// optimizers and one dense linear pair without biases. Omitted from
    /// the serialized form when off, so older configs and their hashes are
    /// unchanged.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub rotation_augmented: bool,
    /// Denoising (Vincent et al. 2010): training inputs are corrupted
    /// afresh every epoch, per sample from the seed (see
    /// [`super::Corruption`]), and reconstructed towards the clean samples.
    /// Validation losses use clean inputs. For minibatch optimizers.
    /// Omitted from the serialized form when `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub corruption: Option<Corruption>,
    /// Hold the latent pair's decoder directions at unit norm (see
    /// [`super::constraint`]): parallel gradient components removed before
    /// each step, directions renormalised after it (and once before the
    /// first). Minibatch optimizers only. Left out of files when off, so
    /// older configs and their [`TrainConfig::result_hash`] are unchanged.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub unit_norm_decoder: bool,
    /// Track dead latents, and revive them with AuxK if asked (minibatch
    /// optimizers only). Left out of files when off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dead_latents: Option<DeadLatents>,
    /// Hold every bias at its initial value (zero, see
    /// [`crate::model::BiasMode`]): the bias entries of each batch gradient
    /// are zeroed before the update. Refinetti & Goldt (2022) find that
    /// training the bias matters for ReLU autoencoders; this is the
    /// untrained side of that comparison. Zeroing the gradient, rather than
    /// skipping the entries, keeps every optimizer's state at zero there,
    /// so SGD, momentum and Adam all leave the biases bit-identical (and
    /// AdamW's decoupled decay never touches biases). The clipping norm is
    /// of the full gradient, as without the option. Minibatch optimizers
    /// only. Left out of files when off, so older configs and their
    /// [`TrainConfig::result_hash`] are unchanged.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub freeze_biases: bool,
    /// Optimizer steps over which the L1 coefficient λ₁ (plain or
    /// decoder-norm weighted, see [`LossConfig::l1_weighting`]) warms up
    /// linearly from 0: step `s` (counted from 0 over the whole run) uses
    /// `λ₁ · min(s / N, 1)` (see [`super::schedule::l1_warmup_factor`]), as
    /// SAELens's `l1_warm_up_steps` and dictionary_learning's
    /// `sparsity_warmup_steps` do. 0 is off. The JumpReLU L0 coefficient
    /// λ₀ ([`LossConfig::l0`]) warms up over the same steps, as SAELens's
    /// `l0_warm_up_steps` does (one setting for both here). The training
    /// terms of an epoch are those of the coefficients its batches used;
    /// validation always uses the full λ₁ and λ₀ (the objective the run is
    /// after). KL sparsity is not warmed up. Minibatch optimizers only. Left out of
    /// files when 0.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub l1_warmup_steps: usize,
    /// Optimizer steps over which the learning rate warms up linearly at
    /// the start of the run: step `s` runs at `(s + 1) / W` of the rate
    /// (see [`super::schedule::step_factor`]), SAELens's
    /// `lr_warm_up_steps`. 0 is off. Minibatch optimizers only. Left out
    /// of files when 0.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub lr_warmup_steps: usize,
    /// Optimizer steps at the end of the run over which the learning rate
    /// decays linearly towards 0: of a run of `T` steps, step `s >= T − D`
    /// runs at `(T − s) / D` of the rate (see
    /// [`super::schedule::step_factor`]), SAELens's `lr_decay_steps` and
    /// dictionary_learning's decay from `decay_start = T − D`. 0 is off.
    /// Minibatch optimizers only. Left out of files when 0.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub lr_decay_steps: usize,
}

fn is_zero(v: &usize) -> bool {
    *v == 0
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            epochs: 10,
            batch_size: 256,
            shard_size: 128,
            optimizer: Optimizer::adam(),
            learning_rate: 1e-3,
            schedule: Schedule::Constant,
            loss: LossConfig::mse(),
            weight_decay: 0.0,
            clip_grad_norm: None,
            validation_fraction: 0.0,
            early_stopping: None,
            seed: 0,
            checkpoint: None,
            progress: Progress::Auto,
            rotation_augmented: false,
            corruption: None,
            unit_norm_decoder: false,
            dead_latents: None,
            freeze_biases: false,
            l1_warmup_steps: 0,
            lr_warmup_steps: 0,
            lr_decay_steps: 0,
        }
    }
}

impl TrainConfig {
    /// The defaults: 10 epochs of Adam (lr 1e-3), batch 256, shards of 128,
    /// MSE, no validation, seed 0.
    pub fn new() -> Self {
        TrainConfig::default()
    }

    /// Sets the number of epochs.
    pub fn epochs(mut self, epochs: usize) -> Self {
        self.epochs = epochs;
        self
    }

    /// Sets the batch size.
    pub fn batch_size(mut self, batch_size: usize) -> Self {
        self.batch_size = batch_size;
        self
    }

    /// Sets the shard size.
    pub fn shard_size(mut self, shard_size: usize) -> Self {
        self.shard_size = shard_size;
        self
    }

    /// Sets the optimizer.
    pub fn optimizer(mut self, optimizer: Optimizer) -> Self {
        self.optimizer = optimizer;
        self
    }

    /// Sets the base learning rate.
    pub fn learning_rate(mut self, lr: f64) -> Self {
        self.learning_rate = lr;
        self
    }

    /// Sets the learning-rate schedule.
    pub fn schedule(mut self, schedule: Schedule) -> Self {
        self.schedule = schedule;
        self
    }

    /// Sets the objective.
    pub fn loss(mut self, loss: LossConfig) -> Self {
        self.loss = loss;
        self
    }

    /// Sets the weight decay.
    pub fn weight_decay(mut self, weight_decay: f64) -> Self {
        self.weight_decay = weight_decay;
        self
    }

    /// Clips batch gradients to global norm `max_norm`.
    pub fn clip_grad_norm(mut self, max_norm: f64) -> Self {
        self.clip_grad_norm = Some(max_norm);
        self
    }

    /// Holds out `fraction` of the rows for validation.
    pub fn validation_fraction(mut self, fraction: f64) -> Self {
        self.validation_fraction = fraction;
        self
    }

    /// Stops early after `patience` epochs without validation improvement,
    /// restoring the best weights.
    pub fn early_stopping(mut self, early: EarlyStopping) -> Self {
        self.early_stopping = Some(early);
        self
    }

    /// Sets the seed.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Checkpoints into `dir` every `every` epochs (0: only on interrupt).
    pub fn checkpoint(mut self, dir: impl Into<PathBuf>, every: usize) -> Self {
        self.checkpoint = Some(CheckpointConfig {
            dir: dir.into(),
            every,
        });
        self
    }

    /// Sets the progress output.
    pub fn progress(mut self, progress: Progress) -> Self {
        self.progress = progress;
        self
    }

    /// Turns Bao et al.'s rotation-augmented gradient on or off.
    pub fn rotation_augmented(mut self, on: bool) -> Self {
        self.rotation_augmented = on;
        self
    }

    /// Trains a denoising autoencoder with this input corruption.
    pub fn corruption(mut self, corruption: Corruption) -> Self {
        self.corruption = Some(corruption);
        self
    }

    /// Holds the latent pair's decoder directions at unit norm (see
    /// [`TrainConfig::unit_norm_decoder`]).
    pub fn unit_norm_decoder(mut self, on: bool) -> Self {
        self.unit_norm_decoder = on;
        self
    }

    /// Tracks dead latents (and revives them if `dead.auxk` is set).
    pub fn dead_latents(mut self, dead: DeadLatents) -> Self {
        self.dead_latents = Some(dead);
        self
    }

    /// Holds every bias at its initial value (see
    /// [`TrainConfig::freeze_biases`]).
    pub fn freeze_biases(mut self, on: bool) -> Self {
        self.freeze_biases = on;
        self
    }

    /// Warms the L1 coefficient up over `steps` optimizer steps (see
    /// [`TrainConfig::l1_warmup_steps`]).
    pub fn l1_warmup_steps(mut self, steps: usize) -> Self {
        self.l1_warmup_steps = steps;
        self
    }

    /// Warms the learning rate up over the first `steps` optimizer steps
    /// (see [`TrainConfig::lr_warmup_steps`]).
    pub fn lr_warmup_steps(mut self, steps: usize) -> Self {
        self.lr_warmup_steps = steps;
        self
    }

    /// Decays the learning rate linearly over the last `steps` optimizer
    /// steps (see [`TrainConfig::lr_decay_steps`]).
    pub fn lr_decay_steps(mut self, steps: usize) -> Self {
        self.lr_decay_steps = steps;
        self
    }

    /// Validates and wraps the config in a [`super::Trainer`].
    pub fn build(self) -> Result<super::Trainer> {
        super::Trainer::new(self)
    }

    /// Whether the optimizer is full-batch L-BFGS.
    pub fn is_lbfgs(&self) -> bool {
        matches!(self.optimizer, Optimizer::Lbfgs(_))
    }

    /// The objective actually minimised: `loss` with the weight decay folded
    /// into its L2 coefficient unless AdamW applies it decoupled.
    pub fn objective(&self) -> LossConfig {
        let mut loss = self.loss;
        if !matches!(self.optimizer, Optimizer::AdamW { .. }) {
            loss.l2 += self.weight_decay;
        }
        loss
    }

    /// Checks every field; the error names the first bad one.
    pub fn validate(&self) -> Result<()> {
        self.optimizer.validate()?;
        if !self.is_lbfgs() {
            if self.epochs == 0 {
                return Err(Error::config("epochs", "must be at least 1"));
            }
            if self.batch_size == 0 {
                return Err(Error::config("batch_size", "must be at least 1"));
            }
            validate::positive("learning_rate", self.learning_rate)?;
        }
        if self.rotation_augmented && self.is_lbfgs() {
            return Err(Error::config(
                "rotation_augmented",
                "augments first-order updates; L-BFGS takes its own steps",
            ));
        }
        if let Some(c) = &self.corruption {
            c.validate()?;
            if self.is_lbfgs() {
                return Err(Error::config(
                    "corruption",
                    "denoising redraws the noise every epoch; full-batch L-BFGS needs a fixed objective",
                ));
            }
        }
        if self.shard_size == 0 {
            return Err(Error::config("shard_size", "must be at least 1"));
        }
        self.schedule.validate()?;
        self.loss.validate()?;
        validate::non_negative("weight_decay", self.weight_decay)?;
        if let Some(c) = self.clip_grad_norm {
            validate::positive("clip_grad_norm", c)?;
        }
        validate::fraction_below_one("validation_fraction", self.validation_fraction)?;
        if let Some(es) = self.early_stopping {
            if self.validation_fraction == 0.0 {
                return Err(Error::config(
                    "early_stopping",
                    "needs a validation set: set validation_fraction > 0",
                ));
            }
            if es.patience == 0 {
                return Err(Error::config(
                    "early_stopping.patience",
                    "must be at least 1 epoch",
                ));
            }
            validate::non_negative("early_stopping.min_delta", es.min_delta)?;
        }
        if self.unit_norm_decoder && self.is_lbfgs() {
            return Err(Error::config(
                "unit_norm_decoder",
                "needs a minibatch optimizer: L-BFGS's line search is unconstrained",
            ));
        }
        if self.freeze_biases && self.is_lbfgs() {
            return Err(Error::config(
                "freeze_biases",
                "needs a minibatch optimizer: L-BFGS moves every parameter it is given",
            ));
        }
        for (field, steps) in [
            ("l1_warmup_steps", self.l1_warmup_steps),
            ("lr_warmup_steps", self.lr_warmup_steps),
            ("lr_decay_steps", self.lr_decay_steps),
        ] {
            if steps > 0 && self.is_lbfgs() {
                return Err(Error::config(
                    field,
                    "counts minibatch steps; full-batch L-BFGS needs a fixed objective and takes its own steps",
                ));
            }
        }
        if let Some(dl) = &self.dead_latents {
            dl.validate()?;
            if self.is_lbfgs() {
                return Err(Error::config(
                    "dead_latents",
                    "needs a minibatch optimizer (dead latents are counted over batches)",
                ));
            }
        }
        if let Some(c) = &self.checkpoint
            && c.dir.as_os_str().is_empty()
        {
            return Err(Error::config("checkpoint.dir", "must not be empty"));
        }
        Ok(())
    }

    /// SHA-256 (hex) of everything that shapes the result: the config minus
    /// progress output and checkpoint placement. A checkpoint resumes only
    /// under a config with the same hash.
    pub fn result_hash(&self) -> String {
        let mut c = self.clone();
        c.progress = Progress::Silent;
        c.checkpoint = None;
        let json = serde_json::to_vec(&c).expect("a config always serializes");
        hex(&Sha256::digest(&json))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every enum variant appears in [`Optimizer::ALL`], under a distinct
    /// name, and every value there is valid.
    #[test]
    fn all_lists_every_variant_once_by_name() {
        // Exhaustive on purpose: a new variant does not compile here until
        // it gets an index, and then fails until it is in `ALL`.
        fn variant(o: &Optimizer) -> usize {
            match o {
                Optimizer::Sgd { .. } => 0,
                Optimizer::Adam { .. } => 1,
                Optimizer::AdamW { .. } => 2,
                Optimizer::Lbfgs(_) => 3,
            }
        }
        let seen: std::collections::BTreeSet<usize> = Optimizer::ALL.iter().map(variant).collect();
        assert_eq!(seen, (0..4).collect());
        let names: std::collections::BTreeSet<&str> =
            Optimizer::ALL.iter().map(Optimizer::name).collect();
        assert_eq!(names.len(), Optimizer::ALL.len(), "{names:?}");
        for o in Optimizer::ALL {
            assert!(o.validate().is_ok(), "{}", o.name());
        }
        assert_eq!(Optimizer::lbfgs(), Optimizer::Lbfgs(LbfgsConfig::default()));
    }

    /// The serialized form of the defaults, pinned: result hashes and the
    /// study's cache keys are taken over it, so a change here (a renamed
    /// or reordered field, one that is no longer left out when off)
    /// orphans every checkpoint and cached cell.
    #[test]
    fn the_serialized_defaults_are_pinned() {
        assert_eq!(
            serde_json::to_string(&TrainConfig::default()).unwrap(),
            concat!(
                r#"{"epochs":10,"batch_size":256,"shard_size":128,"#,
                r#""optimizer":{"kind":"adam","beta1":0.9,"beta2":0.999,"eps":1e-8},"#,
                r#""learning_rate":0.001,"schedule":{"kind":"constant"},"#,
                r#""loss":{"reconstruction":"mse","l1":0.0,"kl":null,"l2":0.0},"#,
                r#""weight_decay":0.0,"clip_grad_norm":null,"validation_fraction":0.0,"#,
                r#""early_stopping":null,"seed":0,"checkpoint":null,"progress":"auto"}"#,
            )
        );
    }

    /// Absent fields read as the defaults' (of the loss too), the full
    /// serialized form (a checkpoint's: progress and checkpoint placement
    /// included) reads back as it was, and an unknown field is refused.
    #[test]
    fn absent_fields_take_the_defaults_and_full_forms_read_back() {
        let empty: TrainConfig = serde_json::from_str("{}").unwrap();
        assert_eq!(empty, TrainConfig::default());
        let some: TrainConfig =
            serde_json::from_str(r#"{"epochs": 3, "loss": {"l1": 0.5}}"#).unwrap();
        assert_eq!(
            some,
            TrainConfig::new()
                .epochs(3)
                .loss(LossConfig::mse().with_l1(0.5))
        );
        let full = TrainConfig::new()
            .epochs(7)
            .checkpoint("ck", 2)
            .progress(Progress::Lines)
            .validation_fraction(0.2)
            .early_stopping(EarlyStopping::patience(3))
            .seed(9)
            .unit_norm_decoder(true)
            .lr_warmup_steps(4);
        let json = serde_json::to_string(&full).unwrap();
        assert_eq!(serde_json::from_str::<TrainConfig>(&json).unwrap(), full);
        assert!(serde_json::from_str::<TrainConfig>(r#"{"epoch": 3}"#).is_err());
        assert!(serde_json::from_str::<TrainConfig>(r#"{"loss": {"l3": 1.0}}"#).is_err());
    }

    /// L-BFGS's memory is bounded, and the error names the field.
    #[test]
    fn lbfgs_memory_is_bounded() {
        let with = |memory| {
            Optimizer::Lbfgs(LbfgsConfig {
                memory,
                ..LbfgsConfig::DEFAULT
            })
            .validate()
        };
        assert!(with(MAX_LBFGS_MEMORY).is_ok());
        for bad in [0, MAX_LBFGS_MEMORY + 1, usize::MAX] {
            assert!(
                matches!(
                    with(bad),
                    Err(Error::Config {
                        field: "lbfgs.memory",
                        ..
                    })
                ),
                "{bad}"
            );
        }
    }
}
