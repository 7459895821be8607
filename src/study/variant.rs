//! Named variants: model specs a study crosses like its model kinds.
//!
//! A [`Variant`] is a dense autoencoder of the study's widths
//! (`[d, hidden.., latent]`), tied or untied, with its own activation (a
//! fixed one, or TopK with `k` following the latent size), bias mode and
//! weight initialisation, the training adjustments it needs (unit-norm
//! decoder directions, the pre-encoder bias at a centre of the fitting
//! rows, dead-latent tracking with or without AuxK, an L1 code penalty
//! crossed with the study's sparsity weights or a JumpReLU L0 penalty
//! crossed with weights of its own ([`L0Rule`]), input corruption for a
//! denoising autoencoder) and the extra metrics its cells record
//! ([`MetricSet`]). Its cells carry its name in the `model`
//! column, and its whole spec is part of their cache keys, so two
//! variants that differ in anything never share a cell.
//!
//! The `sae` study is eight of them beside PCA, the `denoising` study one
//! per noise level, the `theory` study one per linear model its claims
//! read (each with its own training recipe and settings relative to the
//! spectrum of its fitting rows: [`VariantTraining`], [`SpectralRule`]); a study file lists
//! them in `[[variants]]` tables.
//!
//! # Corruption levels
//! A variant's Gaussian σ ([`Variant::corruption`](Variant#structfield.corruption)) is relative: in units
//! of the entry scale of the rows its cell fits ([`entry_scale`]), which
//! the cell resolves against its own fitting rows. Why: every seed draws
//! its own split, so a level stated once means the same on every seed and
//! on any dataset (a study file need not know the data's scale), and the
//! unit follows the rows the model fits, as the pre-encoder bias does. The
//! key holds the relative level, which is what the cell's result depends
//! on given its data. Masking's ν is a fraction and needs no unit.
//!
//! # L0 weights
//! An [`L0Rule`]'s weights are relative in the same way, for the same
//! reasons, and per active latent: a weight `w` is resolved per cell to
//! the L0 coefficient `λ₀ = w v / m` ([`L0Rule::coefficient`]), `v` the
//! squared [`entry_scale`] of the cell's fitting rows and `m = max(1,
//! latent / target_divisor)` the rule's target active count. The loss is
//! `MSE + λ₀ L0` with the MSE averaged over the `d` inputs, and `v` is
//! the MSE of reconstructing every fitting row by their mean (an FVU of
//! 1), so in those units the loss is `FVU + w L0 / m`: a row with `m`
//! active latents pays `w` of that unit, whatever the data's scale or
//! the latent size. One grid of `w` then means about the same sparsity
//! at every size, where a fixed `λ₀` would ask a latent of a small code
//! (which must explain much of a row) and one of a large code (which
//! explains a little) for the same gain before it fires.

use super::extra::MetricSet;
use super::limits::{MAX_AXIS_VALUES, MAX_NAME_LEN};
use super::model_name::tied_in_name;
use super::spectral::{SpectralRule, VariantTraining};
use crate::error::{Error, Result};
use crate::model::{Activation, BiasMode, Init, LossConfig, PreBiasInit};
use crate::train::{Corruption, DeadLatents, Schedule, TrainConfig};
use crate::validate;
use nalgebra::DMatrix;
use serde::{Deserialize, Serialize};

/// A named model spec with its training adjustments and metrics (see the
/// module docs). Build with [`Variant::new`] and the chained setters;
/// [`Variant::validate`] names the offending field. Fields written as
/// plain values come before those written as tables, as a study file's
/// `[[variants]]` table needs them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Variant {
    /// The `model` column of its cells: ASCII letters, digits and `_`,
    /// starting with a letter, and no model kind's name. Its first
    /// `_`-separated word that is `tied` or `untied`, if any, must agree
    /// with [`Variant::tied`]: a results file knows the variant only by
    /// this name ([`super::ModelName`]).
    pub name: String,
    /// One shared weight per layer pair, or untied encoder and decoder.
    pub tied: bool,
    /// TopK ([`Activation::TopK`]) with `k = max(1, latent / divisor)`
    /// active latents at each latent size, instead of `activation`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_k_divisor: Option<usize>,
    /// The bias mode of its cells; `None` crosses the study's bias modes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bias_mode: Option<BiasMode>,
    /// Holds the decoder directions at unit norm
    /// ([`TrainConfig::unit_norm_decoder`]).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub unit_norm_decoder: bool,
    /// Fits its cell's rows less the fitting rows' mean (the same mean
    /// taken from its validation and test rows), as a pre-encoder bias held
    /// at that mean would, for models that cannot hold one: the closed
    /// forms of the linear theory are for a pair without biases on centred
    /// rows, and the rotation-augmented gradient is defined for no other.
    /// Its MSEs are unchanged by the shift (the reconstruction is compared
    /// with the shifted row).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub centre: bool,
    /// With [`Variant::centre`], also divides its cell's rows by the
    /// fitting rows' [`entry_scale`], so that the rows it fits have mean
    /// variance per feature 1: a sigmoid is not scale invariant, so models
    /// compared across data sets meet them at one scale. The scale comes
    /// from the fitting rows alone (the test rows never set their own
    /// scaling). Its MSEs are reported in the data's units (the scaled
    /// rows' MSE times the squared scale), so they compare with PCA's; its
    /// spectral rule, corruption and L0 weights resolve against the scaled
    /// rows it fits.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub standardise: bool,
    /// Holds every bias at its initial value, zero
    /// ([`TrainConfig::freeze_biases`]): what Refinetti & Goldt compare a
    /// trained bias against.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub freeze_biases: bool,
    /// An L1 penalty on the code, one cell per sparsity weight of the
    /// study (as [`super::ModelKind::SparseTied`] crosses them); without it
    /// (or [`Variant::l0`]) the cells' sparsity weight is 0.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub l1: bool,
    /// The extra metrics its cells record.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics: Option<MetricSet>,
    /// A fixed hidden activation; `None` takes the study's (unless
    /// [`Variant::top_k_divisor`] is set).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub activation: Option<Activation>,
    /// Weight initialisation; `None` is the model's default (Glorot
    /// uniform). [`Init::TiedGlorotUniform`] starts an untied model at the
    /// tied one of the same seed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub init: Option<Init>,
    /// Sets the pre-encoder bias to a centre of the cell's fitting rows
    /// before training (needs the `pre_centering` bias mode).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pre_bias: Option<PreBiasInit>,
    /// Tracks dead latents, and revives them with AuxK if asked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dead_latents: Option<DeadLatentsRule>,
    /// A JumpReLU L0 penalty ([`LossConfig::l0`], in the study's
    /// training `l0_mode`), one cell per weight of the rule (the cells'
    /// sparsity weight), each resolved per cell as the module docs say;
    /// the study's sparsity weights, an L1 scale, are not crossed. Needs a
    /// JumpReLU activation and no [`Variant::l1`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub l0: Option<L0Rule>,
    /// Trains as a denoising autoencoder with this input corruption
    /// ([`TrainConfig::corruption`]); a Gaussian `sigma` is relative to the
    /// fitting rows' [`entry_scale`] (see the module docs), a masking
    /// `fraction` is as it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub corruption: Option<Corruption>,
    /// Its own training recipe in place of the study's config
    /// ([`VariantTraining`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub training: Option<VariantTraining>,
    /// Settings relative to the spectrum of its cells' fitting rows
    /// ([`SpectralRule`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spectral: Option<SpectralRule>,
}

/// The entry scale of `x`: the root mean square over all entries of their
/// distance to their column's mean, `sqrt(Σᵢⱼ (xᵢⱼ − x̄ⱼ)² / (n d))`. The
/// unit of a relative Gaussian σ; 0 for an empty `x`.
pub fn entry_scale(x: &DMatrix<f64>) -> f64 {
    if x.is_empty() {
        return 0.0;
    }
    let mean = x.row_mean();
    let total: f64 = x.row_iter().map(|r| (r - &mean).norm_squared()).sum();
    (total / x.len() as f64).sqrt()
}

/// `c` with a relative Gaussian σ resolved against `scale`, the fitting
/// rows' [`entry_scale`]; masking as it is.
pub fn resolve_corruption(c: Corruption, scale: f64) -> Corruption {
    match c {
        Corruption::Gaussian { sigma } => Corruption::Gaussian {
            sigma: sigma * scale,
        },
        masking => masking,
    }
}

/// Dead-latent tracking of a variant's cells ([`DeadLatents`]), with
/// counts that follow the cell.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeadLatentsRule {
    /// Samples without firing after which a latent counts as dead; `None`:
    /// one pass over the cell's fitting rows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<usize>,
    /// AuxK revival; `None` only counts dead latents.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auxk: Option<AuxKRule>,
}

/// AuxK ([`crate::model::AuxK`]) with `k_aux = max(1, latent /
/// k_aux_divisor)` dead latents per sample and coefficient `alpha`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuxKRule {
    /// The latent size over this is `k_aux` (at least 1).
    pub k_aux_divisor: usize,
    /// The term's coefficient `α` (OpenAI's `auxk_coef`, 1/32).
    pub alpha: f64,
}

/// A variant's JumpReLU L0 penalty: the weights its cells cross and the
/// target active count they are relative to (see the module docs).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct L0Rule {
    /// The relative weights `w`, one cell each: distinct, finite and > 0.
    pub weights: Vec<f64>,
    /// The target active count at latent size `latent` is `max(1, latent
    /// / target_divisor)` (at least 1).
    pub target_divisor: usize,
}

impl L0Rule {
    /// The L0 coefficient `λ₀ = w s² / m` of weight `w` at latent size
    /// `latent`, for fitting rows of [`entry_scale`] `s`, `m` the target
    /// active count ([`per_latent`]`(latent, target_divisor)`).
    pub fn coefficient(&self, w: f64, latent: usize, scale: f64) -> f64 {
        w * scale * scale / per_latent(latent, self.target_divisor) as f64
    }
}

/// `max(1, latent / divisor)`, the count a per-latent rule gives.
pub fn per_latent(latent: usize, divisor: usize) -> usize {
    (latent / divisor.max(1)).max(1)
}

impl Variant {
    /// A variant named `name`, tied or not, with the study's activation
    /// and bias modes and no adjustments or metrics.
    pub fn new(name: impl Into<String>, tied: bool) -> Variant {
        Variant {
            name: name.into(),
            tied,
            activation: None,
            top_k_divisor: None,
            bias_mode: None,
            init: None,
            pre_bias: None,
            unit_norm_decoder: false,
            l1: false,
            dead_latents: None,
            l0: None,
            metrics: None,
            corruption: None,
            centre: false,
            standardise: false,
            freeze_biases: false,
            training: None,
            spectral: None,
        }
    }

    /// Sets a fixed hidden activation.
    pub fn activation(mut self, act: Activation) -> Variant {
        self.activation = Some(act);
        self
    }

    /// TopK with `max(1, latent / divisor)` active latents.
    pub fn top_k_divisor(mut self, divisor: usize) -> Variant {
        self.top_k_divisor = Some(divisor);
        self
    }

    /// Sets the bias mode.
    pub fn bias_mode(mut self, mode: BiasMode) -> Variant {
        self.bias_mode = Some(mode);
        self
    }

    /// Sets the weight initialisation.
    pub fn init(mut self, init: Init) -> Variant {
        self.init = Some(init);
        self
    }

    /// Sets the pre-encoder bias to a centre of the fitting rows.
    pub fn pre_bias(mut self, how: PreBiasInit) -> Variant {
        self.pre_bias = Some(how);
        self
    }

    /// Holds the decoder directions at unit norm.
    pub fn unit_norm_decoder(mut self, on: bool) -> Variant {
        self.unit_norm_decoder = on;
        self
    }

    /// Crosses the study's sparsity weights as an L1 code penalty.
    pub fn l1(mut self, on: bool) -> Variant {
        self.l1 = on;
        self
    }

    /// Crosses the weights of `rule` as a JumpReLU L0 penalty.
    pub fn l0(mut self, rule: L0Rule) -> Variant {
        self.l0 = Some(rule);
        self
    }

    /// Tracks dead latents.
    pub fn dead_latents(mut self, rule: DeadLatentsRule) -> Variant {
        self.dead_latents = Some(rule);
        self
    }

    /// Trains with input corruption `c` (a Gaussian σ relative to the
    /// fitting rows' [`entry_scale`]).
    pub fn corruption(mut self, c: Corruption) -> Variant {
        self.corruption = Some(c);
        self
    }

    /// Fits its cells' rows less their fitting rows' mean.
    pub fn centre(mut self, on: bool) -> Variant {
        self.centre = on;
        self
    }

    /// Fits its cells' rows less their fitting rows' mean and divided by
    /// their entry scale (sets [`Variant::centre`] too).
    pub fn standardise(mut self, on: bool) -> Variant {
        self.standardise = on;
        self.centre |= on;
        self
    }

    /// Holds its cells' biases at zero.
    pub fn freeze_biases(mut self, on: bool) -> Variant {
        self.freeze_biases = on;
        self
    }

    /// The scale its cells divide the rows `fit` they fit by: their
    /// [`entry_scale`] when it standardises, else 1.
    ///
    /// # Errors
    /// [`Error::InvalidData`] when standardising rows without variance.
    pub fn row_scale(&self, fit: &DMatrix<f64>) -> Result<f64> {
        if !self.standardise {
            return Ok(1.0);
        }
        let s = entry_scale(fit);
        if !(s.is_finite() && s > 0.0) {
            return Err(Error::InvalidData(format!(
                "variant {:?} standardises its rows, but its fitting rows have no variance (entry scale {s})",
                self.name
            )));
        }
        Ok(s)
    }

    /// Trains with its own recipe `t`.
    pub fn training(mut self, t: VariantTraining) -> Variant {
        self.training = Some(t);
        self
    }

    /// Sets its spectral rule.
    pub fn spectral(mut self, rule: SpectralRule) -> Variant {
        self.spectral = Some(rule);
        self
    }

    /// Whether its cells train with full-batch L-BFGS, in a study whose
    /// config is `study`: its own recipe's optimizer, else the study's.
    pub fn trains_with_lbfgs(&self, study: &TrainConfig) -> bool {
        match &self.training {
            Some(t) => t.is_lbfgs(),
            None => study.is_lbfgs(),
        }
    }

    /// The learning rate of its cells when it has its own recipe: none
    /// under L-BFGS or when its spectral rule sets the rate per cell, else
    /// the recipe's; `None` without a recipe (the study's grid applies).
    pub fn own_rates(&self) -> Option<Vec<Option<f64>>> {
        let t = self.training?;
        let per_cell = self.spectral.is_some_and(|r| r.rate > 0.0);
        Some(vec![
            (!t.is_lbfgs() && !per_cell).then_some(t.learning_rate),
        ])
    }

    /// Records the extra metrics `set`.
    pub fn metrics(mut self, set: MetricSet) -> Variant {
        self.metrics = Some(set);
        self
    }

    /// The hidden activation of its cells at latent size `latent`, in a
    /// study whose activation is `study`.
    pub fn activation_at(&self, latent: usize, study: Activation) -> Activation {
        match (self.top_k_divisor, self.activation) {
            (Some(div), _) => Activation::TopK {
                k: per_latent(latent, div),
            },
            (None, Some(a)) => a,
            (None, None) => study,
        }
    }

    /// The bias modes its cells cross, in a study of bias modes `study`.
    pub fn bias_modes(&self, study: &[BiasMode]) -> Vec<BiasMode> {
        match self.bias_mode {
            Some(m) => vec![m],
            None => study.to_vec(),
        }
    }

    /// The sparsity weights its cells cross, in a study of sparsity
    /// weights `study`: its [`L0Rule`]'s, the study's with an L1 penalty,
    /// `None` (one cell, weight 0) without a penalty.
    pub fn sparsity_weights<'a>(&'a self, study: &'a [f64]) -> Option<&'a [f64]> {
        match &self.l0 {
            Some(rule) => Some(rule.weights.as_slice()),
            None => self.l1.then_some(study),
        }
    }

    /// `loss` with the code penalty of its cell of sparsity weight
    /// `weight` at latent size `latent` fitting the rows `fit`: with an
    /// [`L0Rule`], the L0 coefficient [`L0Rule::coefficient`] resolves
    /// from `weight` (and no L1); otherwise `weight` as the L1 weight (0
    /// without a penalty).
    pub fn code_penalty(
        &self,
        loss: LossConfig,
        weight: f64,
        latent: usize,
        fit: &DMatrix<f64>,
    ) -> LossConfig {
        match &self.l0 {
            Some(rule) => LossConfig {
                l0: rule.coefficient(weight, latent, entry_scale(fit)),
                ..loss.with_l1(0.0)
            },
            None => loss.with_l1(weight),
        }
    }

    /// Its corruption resolved for a cell fitting `fit` (see
    /// [`resolve_corruption`]), or `None` without one.
    pub fn corruption_for(&self, fit: &DMatrix<f64>) -> Option<Corruption> {
        self.corruption
            .map(|c| resolve_corruption(c, entry_scale(fit)))
    }

    /// Applies its training adjustments to `cfg`, the config of a cell at
    /// latent size `latent` fitting the rows `fit`, scaled as its model
    /// sees them ([`Variant::row_scale`]; the L1 weight is the cell's
    /// sparsity weight, which every cell's config takes anyway), its
    /// spectral rule resolved against `fit` (centred if it centres).
    ///
    /// # Errors
    /// A spectral rule that cannot be resolved on `fit`.
    pub fn adjust(&self, cfg: &mut TrainConfig, latent: usize, fit: &DMatrix<f64>) -> Result<()> {
        let n_fit = fit.nrows();
        if let Some(c) = self.corruption_for(fit) {
            cfg.corruption = Some(c);
        }
        if self.unit_norm_decoder {
            cfg.unit_norm_decoder = true;
        }
        if self.freeze_biases {
            cfg.freeze_biases = true;
        }
        if let Some(rule) = self.dead_latents {
            let mut dead = DeadLatents::window(rule.window.unwrap_or(n_fit).max(1));
            if let Some(a) = rule.auxk {
                dead = dead.with_auxk(per_latent(latent, a.k_aux_divisor), a.alpha);
            }
            cfg.dead_latents = Some(dead);
        }
        if let Some(rule) = &self.spectral {
            rule.apply(cfg, &rule.resolve(fit, latent, self.centre)?);
        }
        Ok(())
    }

    /// Checks the spec, in a study of bias modes `study_modes` and
    /// activation `study_activation`, naming the field
    /// (`variants.NAME_OF_FIELD`) and the variant in the reason.
    ///
    /// # Errors
    /// [`Error::Config`].
    pub fn validate(&self, study_modes: &[BiasMode], study_activation: Activation) -> Result<()> {
        let fail = |field: &'static str, why: String| {
            Error::config(field, format!("variant {:?}: {why}", self.name))
        };
        let name = &self.name;
        let good_name = !name.is_empty()
            && name.len() <= MAX_NAME_LEN
            && name.starts_with(|c: char| c.is_ascii_alphabetic())
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !good_name {
            return Err(fail(
                "variants.name",
                format!(
                    "a variant name holds 1 to {MAX_NAME_LEN} ASCII letters, digits and '_', starting with a letter"
                ),
            ));
        }
        if let Some(named) = tied_in_name(name)
            && named != self.tied
        {
            return Err(fail(
                "variants.name",
                format!(
                    "the name says {} but tied = {}; results files know a variant's tying only from the first 'tied' or 'untied' word of its name",
                    if named { "tied" } else { "untied" },
                    self.tied
                ),
            ));
        }
        if self.activation.is_some() && self.top_k_divisor.is_some() {
            return Err(fail(
                "variants.top_k_divisor",
                "set either a fixed activation or top_k_divisor, not both".into(),
            ));
        }
        if self.top_k_divisor == Some(0) {
            return Err(fail("variants.top_k_divisor", "must be at least 1".into()));
        }
        self.activation_at(1, study_activation)
            .validate()
            .map_err(|e| fail("variants.activation", e.to_string()))?;
        if let Some(rule) = &self.l0 {
            self.validate_l0(rule, study_activation)
                .map_err(|why| fail("variants.l0", why))?;
        }
        if let Some(p) = &self.pre_bias {
            p.validate()
                .map_err(|e| fail("variants.pre_bias", e.to_string()))?;
            if let Some(m) = self
                .bias_modes(study_modes)
                .into_iter()
                .find(|m| *m != BiasMode::PreCentering)
            {
                return Err(fail(
                    "variants.pre_bias",
                    format!(
                        "initialising the pre-encoder bias needs the pre_centering bias mode, not {}; set bias_mode = \"pre_centering\"",
                        m.name()
                    ),
                ));
            }
        }
        if let Some(rule) = &self.dead_latents {
            if rule.window == Some(0) {
                return Err(fail(
                    "variants.dead_latents",
                    "the window must be at least 1 sample".into(),
                ));
            }
            if let Some(a) = &rule.auxk {
                if a.k_aux_divisor == 0 {
                    return Err(fail(
                        "variants.dead_latents",
                        "auxk.k_aux_divisor must be at least 1".into(),
                    ));
                }
                validate::non_negative("variants.dead_latents", a.alpha)
                    .map_err(|e| fail("variants.dead_latents", e.to_string()))?;
            }
        }
        if let Some(c) = &self.corruption {
            c.validate()
                .map_err(|e| fail("variants.corruption", e.to_string()))?;
        }
        self.validate_recipe()
            .map_err(|(field, why)| fail(field, why))
    }

    /// Checks its own recipe, row scaling and spectral rule: a valid
    /// recipe, standardising only centred rows, a valid rule, and an
    /// alignment stop or the dynamics metrics (which follow every epoch)
    /// only with a recipe of plain SGD at a constant rate, and not both
    /// (both train in chunks of epochs, which only a stateless optimizer
    /// continues exactly, and the stop would end the run the metrics
    /// follow). The field and the reason if not.
    fn validate_recipe(&self) -> std::result::Result<(), (&'static str, String)> {
        if let Some(t) = &self.training {
            t.validate()
                .map_err(|e| ("variants.training", e.to_string()))?;
        }
        if self.standardise && !self.centre {
            return Err((
                "variants.standardise",
                "standardising divides the centred rows by their scale: set centre = true too"
                    .into(),
            ));
        }
        let stateless = self.training.is_some_and(|t| {
            t.optimizer == crate::train::Optimizer::sgd() && t.schedule == Schedule::Constant
        });
        let follows = self.metrics == Some(MetricSet::Dynamics);
        if follows && !stateless {
            return Err((
                "variants.metrics",
                "the dynamics metrics follow training one epoch at a time: they need its own training with plain SGD at a constant rate".into(),
            ));
        }
        let Some(rule) = &self.spectral else {
            return Ok(());
        };
        rule.check().map_err(|why| ("variants.spectral", why))?;
        if rule.alignment.is_some() && (!stateless || follows) {
            return Err((
                "variants.spectral",
                "an alignment stop trains in chunks of epochs: it needs its own training with plain SGD at a constant rate, and no dynamics metrics (which follow every epoch)".into(),
            ));
        }
        Ok(())
    }

    /// Checks an L0 rule of the variant: weights (at most
    /// [`MAX_AXIS_VALUES`], distinct, finite and > 0), a divisor of at
    /// least 1, a JumpReLU activation and no L1 penalty; the reason if
    /// not.
    fn validate_l0(
        &self,
        rule: &L0Rule,
        study_activation: Activation,
    ) -> std::result::Result<(), String> {
        if self.l1 {
            return Err("an L1 and an L0 penalty cross different weights; set one".into());
        }
        if !self.activation_at(1, study_activation).is_jump_relu() {
            return Err(format!(
                "the L0 penalty counts JumpReLU latents above their thresholds; the activation is {}",
                self.activation_at(1, study_activation).name()
            ));
        }
        if rule.target_divisor == 0 {
            return Err("target_divisor must be at least 1".into());
        }
        if rule.weights.is_empty() || rule.weights.len() > MAX_AXIS_VALUES {
            return Err(format!(
                "lists {} weights; an L0 rule takes 1 to {MAX_AXIS_VALUES}",
                rule.weights.len()
            ));
        }
        for (i, &w) in rule.weights.iter().enumerate() {
            if !(w.is_finite() && w > 0.0) {
                return Err(format!("weights must be finite and > 0, got {w}"));
            }
            if rule.weights[..i].iter().any(|v| v.to_bits() == w.to_bits()) {
                return Err(format!("weight {w} appears twice"));
            }
        }
        Ok(())
    }

    /// Whether its cells need a minibatch optimizer: an L1 or L0 penalty
    /// (not smooth), the unit-norm constraint, frozen biases (L-BFGS moves
    /// every parameter), dead-latent tracking, input corruption or
    /// spectral noise (fresh noise every epoch), or an alignment stop
    /// (chunks of epochs).
    pub fn needs_minibatch(&self) -> bool {
        self.l1
            || self.l0.is_some()
            || self.unit_norm_decoder
            || self.freeze_biases
            || self.dead_latents.is_some()
            || self.corruption.is_some()
            || self
                .spectral
                .is_some_and(|r| r.noise > 0.0 || r.alignment.is_some())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Per-latent counts follow the latent size, at least one.
    #[test]
    fn per_latent_counts_follow_the_size() {
        assert_eq!(per_latent(1024, 4), 256);
        assert_eq!(per_latent(3, 4), 1);
        assert_eq!(per_latent(16, 2), 8);
        let v = Variant::new("v", true).top_k_divisor(4);
        assert_eq!(
            v.activation_at(64, Activation::Relu),
            Activation::TopK { k: 16 }
        );
        assert_eq!(
            Variant::new("w", true).activation_at(64, Activation::Tanh),
            Activation::Tanh
        );
    }

    /// Bad specs are refused naming the field.
    #[test]
    fn bad_variants_name_the_field() {
        let field = |v: Variant| match v.validate(&[BiasMode::Separate], Activation::Relu) {
            Err(Error::Config { field, .. }) => field,
            other => panic!("expected a config error, got {other:?}"),
        };
        assert_eq!(field(Variant::new("a b", true)), "variants.name");
        assert_eq!(field(Variant::new("", true)), "variants.name");
        assert_eq!(field(Variant::new("sae_tied_x", false)), "variants.name");
        assert_eq!(field(Variant::new("x_untied", true)), "variants.name");
        assert_eq!(
            field(
                Variant::new("v", true)
                    .activation(Activation::Relu)
                    .top_k_divisor(4)
            ),
            "variants.top_k_divisor"
        );
        assert_eq!(
            field(Variant::new("v", true).top_k_divisor(0)),
            "variants.top_k_divisor"
        );
        assert_eq!(
            field(Variant::new("v", true).pre_bias(PreBiasInit::Mean)),
            "variants.pre_bias"
        );
        assert_eq!(
            field(Variant::new("v", true).dead_latents(DeadLatentsRule {
                window: None,
                auxk: Some(AuxKRule {
                    k_aux_divisor: 0,
                    alpha: 0.1
                })
            })),
            "variants.dead_latents"
        );
        let good = Variant::new("v", false)
            .pre_bias(PreBiasInit::Mean)
            .bias_mode(BiasMode::PreCentering);
        assert!(
            good.validate(&[BiasMode::Separate], Activation::Relu)
                .is_ok()
        );
        for named in [
            Variant::new("x_untied_tied", false),
            Variant::new("tied_x", true),
        ] {
            assert!(
                named
                    .validate(&[BiasMode::Separate], Activation::Relu)
                    .is_ok()
            );
        }
    }

    /// An L0 rule crosses its own weights (an L1 penalty the study's, no
    /// penalty one weight 0) and resolves each per cell to `w s² / m`
    /// against the fitting rows, with no L1 left.
    #[test]
    fn l0_rules_cross_their_own_weights_and_resolve_per_cell() {
        let rule = L0Rule {
            weights: vec![0.25, 1.0],
            target_divisor: 16,
        };
        let v = Variant::new("v", true)
            .activation(Activation::jump_relu())
            .l0(rule.clone());
        let study = [1e-3, 1e-2, 1e-1];
        assert_eq!(v.sparsity_weights(&study), Some(&[0.25, 1.0][..]));
        let l1 = Variant::new("w", true).l1(true);
        assert_eq!(l1.sparsity_weights(&study), Some(&study[..]));
        assert_eq!(Variant::new("w", true).sparsity_weights(&study), None);
        assert!(v.needs_minibatch());
        // Rows (0, 0) and (2, 4): column variances 1 and 4, so the squared
        // entry scale is their mean, 2.5.
        let fit = DMatrix::from_row_slice(2, 2, &[0.0, 0.0, 2.0, 4.0]);
        let s = entry_scale(&fit);
        assert!((s * s - 2.5).abs() < 1e-12, "{s}");
        // At latent 64 the target is 64 / 16 = 4: λ₀ = 0.25 · 2.5 / 4.
        let loss = v.code_penalty(LossConfig::mse().with_l1(0.3), 0.25, 64, &fit);
        assert!((loss.l0 - 0.25 * 2.5 / 4.0).abs() < 1e-12, "{}", loss.l0);
        assert_eq!(loss.l1, 0.0);
        // Below 16 latents the target is 1; the weight scales linearly.
        assert_eq!(rule.coefficient(1.0, 8, 2.0), 4.0);
        assert_eq!(rule.coefficient(0.5, 32, 2.0), 1.0);
        let plain = l1.code_penalty(LossConfig::mse(), 0.5, 64, &fit);
        assert_eq!((plain.l1, plain.l0), (0.5, 0.0));
        let none = Variant::new("w", true).code_penalty(LossConfig::mse(), 0.0, 64, &fit);
        assert_eq!((none.l1, none.l0), (0.0, 0.0));
    }

    /// A variant's own recipe sets its cells' learning rate (none under
    /// L-BFGS or a per-cell spectral rate), and bad recipes and rules are
    /// refused naming their field: a recipe its training config refuses
    /// (the rotation under L-BFGS), a negative spectral term, an alignment
    /// stop without plain SGD at a constant rate.
    #[test]
    fn own_recipes_set_rates_and_bad_ones_name_their_field() {
        use crate::study::spectral::{AlignmentStop, SpectralRule, VariantTraining};
        use crate::train::{LbfgsConfig, Optimizer, Schedule};
        let sgd = VariantTraining {
            epochs: 10,
            batch_size: None,
            learning_rate: 0.5,
            rotation_augmented: false,
            optimizer: Optimizer::sgd(),
            schedule: Schedule::Constant,
        };
        let lbfgs = VariantTraining {
            optimizer: Optimizer::Lbfgs(LbfgsConfig::default()),
            ..sgd
        };
        let stop = SpectralRule {
            rate: 0.25,
            alignment: Some(AlignmentStop {
                every: 5,
                target: 0.01,
            }),
            ..SpectralRule::default()
        };
        let v = |t: VariantTraining| Variant::new("v", true).training(t);
        assert_eq!(Variant::new("v", true).own_rates(), None);
        assert_eq!(v(sgd).own_rates(), Some(vec![Some(0.5)]));
        assert_eq!(v(lbfgs).own_rates(), Some(vec![None]));
        assert_eq!(v(sgd).spectral(stop).own_rates(), Some(vec![None]));
        assert!(v(lbfgs).trains_with_lbfgs(&TrainConfig::default()));
        assert!(v(sgd).spectral(stop).needs_minibatch());
        let modes = [BiasMode::None];
        assert!(
            v(sgd)
                .spectral(stop)
                .validate(&modes, Activation::Identity)
                .is_ok()
        );
        let field = |v: Variant| match v.validate(&modes, Activation::Identity) {
            Err(Error::Config { field, .. }) => field,
            other => panic!("expected a config error, got {other:?}"),
        };
        let rotated = VariantTraining {
            rotation_augmented: true,
            ..lbfgs
        };
        assert_eq!(field(v(rotated)), "variants.training");
        let adam = VariantTraining {
            optimizer: Optimizer::adam(),
            ..sgd
        };
        assert_eq!(field(v(adam).spectral(stop)), "variants.spectral");
        let negative = SpectralRule {
            noise: -1.0,
            ..SpectralRule::default()
        };
        assert_eq!(field(v(sgd).spectral(negative)), "variants.spectral");
    }

    /// Standardising needs centred rows, the dynamics metrics a recipe of
    /// plain SGD at a constant rate, and frozen biases a minibatch
    /// optimizer; a variant's row scale is its fitting rows' entry scale
    /// (1 when it does not standardise, an error without variance), and
    /// frozen biases reach its cells' config.
    #[test]
    fn standardised_and_followed_variants_are_checked() {
        use crate::study::spectral::VariantTraining;
        use crate::train::{Optimizer, Schedule};
        let sgd = VariantTraining {
            epochs: 5,
            batch_size: Some(4),
            learning_rate: 0.1,
            rotation_augmented: false,
            optimizer: Optimizer::sgd(),
            schedule: Schedule::Constant,
        };
        let modes = [BiasMode::Separate];
        let field = |v: Variant| match v.validate(&modes, Activation::Relu) {
            Err(Error::Config { field, .. }) => field,
            other => panic!("expected a config error, got {other:?}"),
        };
        let mut bare = Variant::new("v", true).standardise(true);
        bare.centre = false;
        assert_eq!(field(bare), "variants.standardise");
        let followed = Variant::new("v", true).metrics(MetricSet::Dynamics);
        assert_eq!(field(followed.clone()), "variants.metrics");
        let adam = VariantTraining {
            optimizer: Optimizer::adam(),
            ..sgd
        };
        assert_eq!(field(followed.clone().training(adam)), "variants.metrics");
        let good = followed.training(sgd).standardise(true).freeze_biases(true);
        good.validate(&modes, Activation::Relu).unwrap();
        assert!(good.centre && good.needs_minibatch());
        // Columns (1, 3) and (2, 6): variances 1 and 4, scale √2.5.
        let x = DMatrix::from_row_slice(2, 2, &[1.0, 2.0, 3.0, 6.0]);
        assert!((good.row_scale(&x).unwrap() - 2.5f64.sqrt()).abs() < 1e-15);
        assert_eq!(Variant::new("w", true).row_scale(&x).unwrap(), 1.0);
        assert!(good.row_scale(&DMatrix::from_element(2, 2, 3.0)).is_err());
        let mut cfg = TrainConfig::default();
        good.adjust(&mut cfg, 1, &x).unwrap();
        assert!(cfg.freeze_biases);
    }

    /// A bad L0 rule is refused naming `variants.l0`: beside an L1
    /// penalty, without a JumpReLU activation, with a divisor of 0, or
    /// with no, repeated, zero or non-finite weights.
    #[test]
    fn bad_l0_rules_name_their_field() {
        let modes = [BiasMode::Separate];
        let field = |v: Variant| match v.validate(&modes, Activation::Relu) {
            Err(Error::Config { field, .. }) => field,
            other => panic!("expected a config error, got {other:?}"),
        };
        let rule = |weights: Vec<f64>, target_divisor: usize| L0Rule {
            weights,
            target_divisor,
        };
        let jump = |r: L0Rule| {
            Variant::new("v", true)
                .activation(Activation::jump_relu())
                .l0(r)
        };
        assert!(
            jump(rule(vec![0.25, 1.0], 16))
                .validate(&modes, Activation::Relu)
                .is_ok()
        );
        // The study's activation may be the JumpReLU.
        assert!(
            Variant::new("v", true)
                .l0(rule(vec![0.25], 16))
                .validate(&modes, Activation::jump_relu())
                .is_ok()
        );
        for bad in [
            jump(rule(vec![0.25], 16)).l1(true),
            Variant::new("v", true).l0(rule(vec![0.25], 16)),
            Variant::new("v", true)
                .top_k_divisor(4)
                .l0(rule(vec![0.25], 16)),
            jump(rule(vec![0.25], 0)),
            jump(rule(vec![], 16)),
            jump(rule(vec![0.5, 0.5], 16)),
            jump(rule(vec![0.0], 16)),
            jump(rule(vec![-1.0], 16)),
            jump(rule(vec![f64::NAN], 16)),
            jump(rule(vec![f64::INFINITY], 16)),
        ] {
            assert_eq!(field(bad), "variants.l0");
        }
    }
}
