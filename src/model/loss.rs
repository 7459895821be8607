//! Training objectives and their terms.
//!
//! Per-sample terms (reconstruction, L1) are sums over the rows of a call
//! divided by a caller-given [`Normalizer`] (the whole batch's size), so the
//! results of calls on disjoint shards of a batch add up to the batch's
//! result. Weight decay does not depend on the samples; it is added once per
//! batch by [`super::Autoencoder::l2_penalty_and_grad`].

use super::activation::{Activation, OutputActivation};
use super::fastmath::{bce_sum, squared_error, squared_error_sum};
use super::kernels::lane_sum_write;
use crate::error::{Error, Result};
use crate::real::Real;
use crate::validate;
use nalgebra::DMatrix;
use serde::{Deserialize, Serialize};

/// The reconstruction term.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reconstruction {
    /// Mean squared error over all entries: `Σ (x̂ − x)² / (N d)`.
    #[default]
    Mse,
    /// Binary cross-entropy over all entries, from the logits `v` of a
    /// sigmoid output: `Σ [max(v, 0) − v x + ln(1 + e^{−|v|})] / (N d)`.
    /// Never takes `ln` of a rounded probability, so it stays finite when
    /// the sigmoid saturates. Targets must lie in `[0, 1]`.
    BinaryCrossEntropy,
}

/// KL(ρ‖ρ̂) sparsity on sigmoid latents.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KlSparsity {
    /// Target mean activation ρ, in `(0, 1)`.
    pub target: f64,
    /// Weight β of `β Σ_k KL(ρ‖ρ̂_k)`.
    pub weight: f64,
}

/// Non-uniform weight decay over the latent units (Bao, Lucas, Sachdeva &
/// Grosse 2020): latent unit `i` of `k` has its weights (its encoder row and
/// decoder column, or its row of a tied `W`) decayed by `λ₂ w_i`, with `w_i`
/// linear from `first` (unit 0) to `last` (unit `k − 1`).
///
/// Why: uniform L2 leaves the loss invariant under rotations of the latent
/// space only when all units weigh the same. Distinct weights `w_1 < … < w_k`
/// break that symmetry, so the minimum is unique up to signs: unit `i` holds
/// the `i`-th principal direction, ordered and axis-aligned, not merely a
/// rotation of them. In this crate's normalisation the optimum of an untied
/// pair has `s_i² = 1 − d λ₂ w_i / (2 c_i)` along eigenvector `i` of
/// `XᵀX / N` (see [`super::theory`]). The paper's default weights are
/// `linspace(0.1, 0.9, k)` ([`UnitL2::BAO`]), the scale being set by λ₂.
///
/// Only the innermost (latent) pair is weighted per unit; outer pairs of a
/// deep stack keep the uniform λ₂.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UnitL2 {
    /// Weight `w` of latent unit 0 (finite, > 0).
    pub first: f64,
    /// Weight `w` of the last latent unit (finite, > 0).
    pub last: f64,
}

impl UnitL2 {
    /// Bao et al.'s default, `linspace(0.1, 0.9, k)`.
    pub const BAO: UnitL2 = UnitL2 {
        first: 0.1,
        last: 0.9,
    };

    /// The weight of unit `i` of `k` (`first` when `k == 1`).
    pub fn weight(&self, i: usize, k: usize) -> f64 {
        if k <= 1 {
            self.first
        } else {
            self.first + (self.last - self.first) * i as f64 / (k - 1) as f64
        }
    }

    /// The weights of all `k` units.
    pub fn weights(&self, k: usize) -> Vec<f64> {
        (0..k).map(|i| self.weight(i, k)).collect()
    }

    fn validate(&self) -> Result<()> {
        validate::positive("unit_l2.first", self.first)?;
        validate::positive("unit_l2.last", self.last)
    }
}

/// How the L1 term weighs each latent unit's activations.
///
/// Why the weighting: a plain L1 penalty can be lowered without changing
/// the reconstruction by shrinking the code and growing the decoder
/// directions by the same factor, so unless the directions are held at
/// unit norm the penalty measures the scale, not the sparsity. Weighting
/// `|h_ni|` by the norm of unit `i`'s decoder direction makes the term
/// invariant under that rescaling, which is the standard sparse-autoencoder
/// recipe without a norm constraint (Anthropic's April 2024 update).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum L1Weighting {
    /// `λ₁ Σ_n Σ_i |h_ni| / N`.
    #[default]
    Plain,
    /// `λ₁ Σ_n Σ_i |h_ni| ‖d_i‖₂ / N`, where `d_i` is latent unit `i`'s
    /// decoder direction: row `i` of a tied `W` (r x d), column `i` of an
    /// untied `W_dec` (d x r), of the latent (innermost) pair. This is
    /// SAELens's standard sparsity penalty with
    /// `scale_sparsity_penalty_by_decoder_norm` (`calculate_aux_loss` in
    /// `sae_lens/saes/standard_sae.py`: `feature_acts * W_dec.norm(dim=1)`,
    /// its L1 norm over the latents, times the coefficient, averaged over
    /// the batch) and dictionary_learning's `StandardTrainerAprilUpdate`
    /// (`dictionary_learning/trainers/standard.py`:
    /// `(f * decoder.weight.norm(p=2, dim=0)).sum(dim=-1).mean()`); their
    /// codes are ReLU outputs, so `|h| = h` there.
    ///
    /// The gradient has a part through the code and a part through the
    /// norms: `∂/∂h_ni = λ₁ sign(h_ni) ‖d_i‖ / N` and
    /// `∂/∂d_i = (λ₁ / N) (Σ_n |h_ni|) d_i / ‖d_i‖` (0 where `d_i = 0`, a
    /// subgradient at the norm's kink). For a tied pair `d_i` is `W`'s row
    /// `i`, which the encoder uses too: `W`'s gradient is the encoder part
    /// `(λ₁ / N) Σ_n sign(h_ni) ‖W_i‖ ∂h_ni/∂W` (through the code, like
    /// every other term of the code) plus the decoder part
    /// `(λ₁ / N) (Σ_n |h_ni|) W_i / ‖W_i‖` (through the norm of the
    /// decoder's use of `W`), kept apart in [`super::TiedParts`] like the
    /// data terms' parts. Needs a dense latent pair (a conv pair's kernel
    /// rows are channels, not latent units).
    DecoderNorm,
}

impl L1Weighting {
    /// Whether this is [`L1Weighting::Plain`] (the default, left out of
    /// files).
    pub fn is_plain(&self) -> bool {
        *self == L1Weighting::Plain
    }
}

/// How the JumpReLU sparsity penalty counts active latents: SAELens's
/// `jumprelu_sparsity_loss_mode` (`JumpReLUTrainingSAEConfig`,
/// `sae_lens/saes/jumprelu_sae.py`; formulas and gradients in
/// [`super::jump_relu`]).
///
/// Serialized as `{"kind":"step"}` or `{"kind":"tanh","scale":4.0}`.
#[derive(Clone, Copy, Debug, PartialEq, Default, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum L0Mode {
    /// Google DeepMind's L0: `λ₀ (1/N) Σ_n Σ_i H(z_ni − θ_i)`, the count of
    /// latents above their thresholds, trained through the `Step`
    /// pseudo-gradient with respect to the thresholds only (SAELens's
    /// default).
    #[default]
    Step,
    /// Anthropic's: `λ₀ (1/N) Σ_n Σ_i tanh(scale · a_ni · ‖d_i‖)`, weighted
    /// by the norms of the decoder directions as SAELens writes it;
    /// `scale` is `jumprelu_tanh_scale` (SAELens's default
    /// [`JUMP_RELU_TANH_SCALE`]).
    Tanh {
        /// The factor inside the tanh (finite, > 0).
        scale: f64,
    },
}

/// SAELens's default `jumprelu_tanh_scale` (`sae_lens/saes/jumprelu_sae.py`).
pub const JUMP_RELU_TANH_SCALE: f64 = 4.0;

impl L0Mode {
    /// Whether this is [`L0Mode::Step`] (the default, left out of files).
    pub fn is_step(&self) -> bool {
        *self == L0Mode::Step
    }

    /// Anthropic's tanh form with SAELens's default scale.
    pub fn tanh() -> Self {
        L0Mode::Tanh {
            scale: JUMP_RELU_TANH_SCALE,
        }
    }
}

/// Most inner prefixes a [`Matryoshka`] term holds (the papers' models
/// use a handful).
pub const MAX_MATRYOSHKA_PREFIXES: usize = 16;

/// The Matryoshka loss (Bussmann et al. 2025, arXiv 2503.17547): the
/// reconstruction of nested prefixes of the latent code, added to the
/// full code's, so the first latents must reconstruct on their own and the
/// later ones refine them (general features first, and less absorption of
/// one feature into another).
///
/// For inner prefix sizes `m_1 < … < m_{K−1} < r` of the `r` latents, with
/// `x̂_j = g(h[:, :m_j] M[:m_j] + b)` the decoder applied to the first `m_j`
/// units of the code `h` (the others set to 0; `M` is the decoder matrix,
/// `W` when tied, `W_decᵀ` when untied, so a tied prefix decodes through
/// the first `m_j` rows of `W`), the term is
///
/// `Σ_{j<K} R(x̂_j, x)`
///
/// with `R` the objective's reconstruction term in its normalisation
/// (for MSE, `Σ ‖x − x̂_j‖² / (N d)`); the full code's `R(x̂, x)` is the
/// reconstruction term itself, so the objective holds every level with
/// weight 1. Biases act as on the full code (`b_dec`, `b_pre`); with the
/// mirrored mode a prefix subtracts only its own units' `b_enc`.
///
/// Level weights follow SAELens (`sae_lens/saes/matryoshka_batchtopk_sae.py`,
/// `training_forward_pass`): each inner level's `mse_loss_fn(...).sum(dim=-1).mean()`
/// is added to the base loss with weight 1. dictionary_learning
/// (`dictionary_learning/trainers/matryoshka_batch_top_k.py`,
/// `MatryoshkaBatchTopKTrainer.loss`) averages `group_weights[i] · L_i` over
/// the `K` levels, the full one included, with weights `1/K` by default:
/// the same sum divided by `K²`. The prefix code follows
/// dictionary_learning: the trained code truncated (`f_chunks` of one
/// encoding). SAELens instead re-applies the activation to the prefix's
/// pre-activations, which is the same code for element-wise activations
/// (ReLU, tanh, …) and differs for the TopK kinds, where SAELens
/// re-selects among the prefix's units. (Both peers sum the squared error
/// over the `d` inputs where tiedae averages it; the ratio of the terms is
/// the same.)
///
/// The gradient is exact: each level backpropagates through the decoder
/// (its first `m_j` directions, and the biases) and into the first `m_j`
/// units of the code, and from there through the encoder with the rest of
/// the objective; a tied weight gets the decoder part.
///
/// Needs a single dense layer pair (the SAE architecture), whose decoder
/// maps the code to data space; every prefix must be smaller than the
/// latent width.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Matryoshka {
    len: usize,
    prefixes: [usize; MAX_MATRYOSHKA_PREFIXES],
}

/// The serialized form of a [`Matryoshka`] term: its inner prefix sizes.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct MatryoshkaFile {
    prefixes: Vec<usize>,
}

impl Matryoshka {
    /// The term of the inner prefixes of sizes `prefixes`: at least one,
    /// at most [`MAX_MATRYOSHKA_PREFIXES`], strictly increasing, from 1.
    /// (The full code is always the main reconstruction term; a model
    /// checks every prefix is smaller than its latent width.)
    pub fn new(prefixes: &[usize]) -> Result<Self> {
        let field = "matryoshka.prefixes";
        if prefixes.is_empty() {
            return Err(Error::config(field, "needs at least one inner prefix"));
        }
        if prefixes.len() > MAX_MATRYOSHKA_PREFIXES {
            return Err(Error::config(
                field,
                format!(
                    "at most {MAX_MATRYOSHKA_PREFIXES} prefixes, got {}",
                    prefixes.len()
                ),
            ));
        }
        if prefixes[0] == 0 || prefixes.windows(2).any(|w| w[0] >= w[1]) {
            return Err(Error::config(
                field,
                format!("must be positive and strictly increasing, got {prefixes:?}"),
            ));
        }
        let mut stored = [0; MAX_MATRYOSHKA_PREFIXES];
        stored[..prefixes.len()].copy_from_slice(prefixes);
        Ok(Matryoshka {
            len: prefixes.len(),
            prefixes: stored,
        })
    }

    /// The inner prefix sizes, increasing.
    pub fn prefixes(&self) -> &[usize] {
        &self.prefixes[..self.len]
    }
}

impl Serialize for Matryoshka {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        MatryoshkaFile {
            prefixes: self.prefixes().to_vec(),
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for Matryoshka {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let file = MatryoshkaFile::deserialize(d)?;
        Matryoshka::new(&file.prefixes).map_err(serde::de::Error::custom)
    }
}

/// An objective: reconstruction plus optional regularisers.
///
/// Deserialising fills absent keys from [`LossConfig::default`] (plain
/// MSE), so a study file's `[training.loss]` table names only the terms it
/// sets. Reading only: the serialized form, which configs' hashes cover,
/// is as it was.
#[derive(Clone, Copy, Debug, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LossConfig {
    /// The reconstruction term.
    pub reconstruction: Reconstruction,
    /// λ₁ of `λ₁ Σ_i Σ_k |h_ik| / N` on the latent code `h` (weighted per
    /// unit as [`LossConfig::l1_weighting`] says).
    pub l1: f64,
    /// How the L1 term weighs each latent unit: plainly, or by the norm of
    /// its decoder direction (see [`L1Weighting`]). Omitted from the
    /// serialized form when plain, so configs (and their hashes) written
    /// before it existed are unchanged.
    #[serde(default, skip_serializing_if = "L1Weighting::is_plain")]
    pub l1_weighting: L1Weighting,
    /// KL sparsity on the latent code (needs a sigmoid latent activation).
    ///
    /// ρ̂_k is the mean of unit `k` over the rows of **one call**: on a shard,
    /// the shard's rows. The term is weighted by `rows / N`, so one call on a
    /// whole batch is the textbook penalty, and shard calls give the
    /// row-weighted mean of per-shard penalties. The trainer's shards have a
    /// fixed size, so results do not depend on the thread count.
    pub kl: Option<KlSparsity>,
    /// λ₂ of the weight decay `λ₂/2 Σ W²` over weight matrices (a tied `W`
    /// counted once, biases excluded).
    pub l2: f64,
    /// Per-latent-unit weights of the L2 term on the latent pair (Bao et
    /// al.'s non-uniform L2); `None` is uniform. Has no effect when `l2` is
    /// 0. Omitted from the serialized form when `None`, so configs (and
    /// their hashes) written before it existed are unchanged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit_l2: Option<UnitL2>,
    /// The Matryoshka reconstruction of nested prefixes of the code (see
    /// [`Matryoshka`]); `None` is off. Omitted from the serialized form
    /// when `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub matryoshka: Option<Matryoshka>,
    /// λ₀, SAELens's `l0_coefficient`, of the JumpReLU sparsity penalty
    /// (its form is [`LossConfig::l0_mode`]; see [`super::jump_relu`]);
    /// needs a JumpReLU latent when positive. SAELens's default is 1.0
    /// on its summed squared error; tiedae's MSE averages over the `d`
    /// inputs, so the same balance is `λ₀ = 1/d`. Omitted from the
    /// serialized form when 0.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub l0: f64,
    /// The form of the λ₀ penalty (see [`L0Mode`]). Omitted from the
    /// serialized form when it is the default `step`.
    #[serde(default, skip_serializing_if = "L0Mode::is_step")]
    pub l0_mode: L0Mode,
}

impl LossConfig {
    /// Plain mean squared error.
    pub fn mse() -> Self {
        LossConfig::default()
    }

    /// Plain binary cross-entropy from logits.
    pub fn bce() -> Self {
        LossConfig {
            reconstruction: Reconstruction::BinaryCrossEntropy,
            ..LossConfig::default()
        }
    }

    /// Adds an L1 penalty on latent activations.
    pub fn with_l1(mut self, l1: f64) -> Self {
        self.l1 = l1;
        self
    }

    /// Adds an L1 penalty on latent activations weighted by the norms of
    /// the decoder directions, the standard sparse-autoencoder recipe (see
    /// [`L1Weighting::DecoderNorm`]).
    pub fn with_decoder_norm_l1(mut self, l1: f64) -> Self {
        self.l1 = l1;
        self.l1_weighting = L1Weighting::DecoderNorm;
        self
    }

    /// Adds the JumpReLU L0 penalty with coefficient `l0` in SAELens's
    /// default `step` form (see [`L0Mode::Step`]).
    pub fn with_l0(mut self, l0: f64) -> Self {
        self.l0 = l0;
        self.l0_mode = L0Mode::Step;
        self
    }

    /// Adds the JumpReLU sparsity penalty with coefficient `l0` in the
    /// form `mode` (see [`L0Mode`]).
    pub fn with_l0_mode(mut self, l0: f64, mode: L0Mode) -> Self {
        self.l0 = l0;
        self.l0_mode = mode;
        self
    }

    /// Adds KL(ρ‖ρ̂) sparsity with target `rho` and weight `beta`.
    pub fn with_kl(mut self, rho: f64, beta: f64) -> Self {
        self.kl = Some(KlSparsity {
            target: rho,
            weight: beta,
        });
        self
    }

    /// Adds weight decay.
    pub fn with_l2(mut self, l2: f64) -> Self {
        self.l2 = l2;
        self
    }

    /// Adds the Matryoshka reconstruction of nested prefixes of the code
    /// (see [`Matryoshka`]).
    pub fn with_matryoshka(mut self, matryoshka: Matryoshka) -> Self {
        self.matryoshka = Some(matryoshka);
        self
    }

    /// Makes the L2 term non-uniform over the latent units, weights linear
    /// from `first` to `last` (see [`UnitL2`]).
    pub fn with_unit_l2(mut self, first: f64, last: f64) -> Self {
        self.unit_l2 = Some(UnitL2 { first, last });
        self
    }

    /// Checks the coefficients (model-independent).
    pub fn validate(&self) -> Result<()> {
        let weight = validate::non_negative;
        weight("l1", self.l1)?;
        weight("l2", self.l2)?;
        weight("l0", self.l0)?;
        if let L0Mode::Tanh { scale } = self.l0_mode {
            validate::positive("l0_mode.scale", scale)?;
        }
        if let Some(u) = &self.unit_l2 {
            u.validate()?;
        }
        if let Some(kl) = self.kl {
            weight("kl.weight", kl.weight)?;
            if !(kl.target > 0.0 && kl.target < 1.0) {
                return Err(Error::config(
                    "kl.target",
                    format!("must lie strictly between 0 and 1, got {}", kl.target),
                ));
            }
        }
        Ok(())
    }

    /// Checks that the objective fits a model with this output and latent
    /// activation.
    pub fn check_model(&self, output: OutputActivation, latent: Activation) -> Result<()> {
        self.validate()?;
        if self.reconstruction == Reconstruction::BinaryCrossEntropy
            && output != OutputActivation::Sigmoid
        {
            return Err(Error::config(
                "reconstruction",
                "binary cross-entropy needs a sigmoid output activation",
            ));
        }
        if self.l0 > 0.0 && !latent.is_jump_relu() {
            return Err(Error::config(
                "l0",
                format!(
                    "the L0 penalty counts JumpReLU latents above their thresholds; the latent activation is {}",
                    latent.name()
                ),
            ));
        }
        if self.kl.is_some() && !latent.is_unit_interval() {
            return Err(Error::config(
                "kl",
                format!(
                    "KL sparsity needs a sigmoid latent activation, got {}",
                    latent.name()
                ),
            ));
        }
        Ok(())
    }
}

/// The number of samples per-sample terms are averaged over: the size of
/// the whole batch, even when a call sees only one shard of it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Normalizer(usize);

impl Normalizer {
    /// Averages over `samples` rows (must be > 0).
    pub fn new(samples: usize) -> Result<Self> {
        if samples == 0 {
            return Err(Error::config("normalizer", "sample count must be > 0"));
        }
        Ok(Normalizer(samples))
    }

    /// The sample count.
    pub fn samples(self) -> usize {
        self.0
    }
}

/// The AuxK auxiliary loss of Gao et al. 2024, which revives dead latents,
/// normalised as OpenAI's training code does.
///
/// With the residual `e = x − x̂` of the main reconstruction (held
/// constant: no gradient flows through it), the `k_aux` dead latents with
/// the largest pre-activations of each sample reconstruct it through the
/// decoder without biases, `ê = z_aux W_dec`, and over the `N` rows of the
/// batch the term is
///
/// `α · Σ_i ‖e_i − ê_i‖² / Σ_i ‖e_i − ē‖²`, with `ē = (1/N) Σ_i e_i`.
///
/// This is openai/sparse_autoencoder's `auxk_coef * normalized_mse(ê, e)`
/// (`sparse_autoencoder/train.py`, the loss in `main`; `normalized_mse` in
/// `sparse_autoencoder/kernels.py`): the batch MSE of `ê` against `e`
/// divided by the MSE of `e`'s batch mean against `e`, whose `1/(N d)`
/// factors cancel. dictionary_learning's TopK trainer
/// (`dictionary_learning/trainers/top_k.py`, `get_auxiliary_loss`)
/// normalises the same way. Dividing by the residual's spread about its
/// batch mean keeps `α` meaningful as the residual shrinks during
/// training; the spread is a constant of the gradient too, as in OpenAI's
/// code, where `e` is built from the detached reconstruction.
///
/// The denominator depends on every row of the batch, so it is computed
/// once per batch ([`ResidualSpread`]; the trainer's shard engine runs the
/// batch's forward pass for it before the shards' gradient passes) and
/// handed to every shard as the constant [`AuxKLoss::residual_spread`].
/// Each shard adds `α Σ_{its rows} ‖e_i − ê_i‖² / D` and its gradient, so
/// the shards of a batch add up to the batch's term and gradient, as every
/// other term does.
///
/// The auxiliary code is made as the main one is: with the ReLU TopK
/// kinds ([`Activation::relu_on_kept`]) the selected pre-activations go
/// through a ReLU, as OpenAI's `FastAutoencoder.forward` applies
/// `torch.relu` to `auxk_vals` as to `vals` (`sparse_autoencoder/train.py`;
/// dictionary_learning selects from the post-ReLU values); with the signed
/// TopK kinds and every other activation they are used as they are
/// (SAELens's `_calculate_topk_aux_acts`, `sae_lens/saes/topk_sae.py`,
/// does not apply the ReLU either). Live
/// latents are left out of the selection as SAELens does (−∞); OpenAI
/// multiplies them by 0 instead, which after the ReLU gives the same code.
///
/// Where tiedae's value or gradient differs from OpenAI's, on purpose:
/// - with no dead latent the term is 0 (nothing to revive); OpenAI's code
///   still reports `Σ ‖e_i‖² / Σ ‖e_i − ē‖²` there, a constant without
///   gradient (an all-zero auxiliary code);
/// - a batch whose residual rows are all equal (a single row, say) has no
///   spread to divide by; the term is 0 there, as OpenAI's `nan_to_num(0)`
///   makes of `0/0`;
/// - OpenAI's `decode_sparse` adds `pre_bias` to `ê`, and its target adds
///   the detached `pre_bias` to `e`: the same value as here, but the
///   pre-bias also gets `2α/D Σ_i (ê_i − e_i)` through the decoder. tiedae's
///   auxiliary decoder has no bias (a bias cannot revive a latent);
/// - OpenAI decides which latents are dead after counting the current
///   batch (`stats_last_nonzero` is updated before `auxk_mask_fn` runs),
///   so a latent that fires in the batch is left out of its AuxK term;
///   tiedae's trainer uses the counts as of the start of the batch;
/// - OpenAI's reconstruction term is the MSE divided by the data's
///   per-entry variance (`mse_scale` in `main`), tiedae's is the plain
///   MSE. To weigh the two terms as OpenAI does, multiply `α` by the data's
///   mean per-entry variance (or standardise the data first).
///
/// OpenAI's defaults (`Config` in `sparse_autoencoder/train.py`): `k = 32`
/// of `n_dirs = 32768` latents, `auxk = 256` (`k_aux`), `auxk_coef = 1/32`
/// (`α`), and a latent is dead after `dead_toks_threshold = 10_000_000`
/// tokens without firing, counted in steps (`stats_last_nonzero >
/// dead_toks_threshold // bs`, `bs = 131072`), where firing means a kept
/// value above `1e-3`. tiedae counts samples (the `window` of
/// [`DeadLatents`]) and fires on any nonzero value.
///
/// AuxK is chosen over resampling (re-initialising dead latents towards
/// high-loss inputs, Anthropic's recipe): it is a smooth term of the
/// objective, so it needs no schedule of resampling events, no surgery on
/// weights and optimizer state (which would also have to be checkpointed
/// and kept deterministic), and its gradient can be checked by finite
/// differences like every other term. Gao et al. report it keeps dead
/// latents few at scale.
///
/// [`DeadLatents`]: crate::train::DeadLatents
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuxK {
    /// Dead latents per sample that reconstruct the residual (`>= 1`;
    /// OpenAI's training code uses 256 of 32768 latents, SAELens `d_in / 2`).
    pub k_aux: usize,
    /// Coefficient `α` (OpenAI: `auxk_coef = 1/32`).
    pub alpha: f64,
}

impl AuxK {
    /// Checks `k_aux >= 1` and a finite, non-negative `alpha`.
    pub fn validate(&self) -> Result<()> {
        if self.k_aux == 0 {
            return Err(Error::config("auxk.k_aux", "must be at least 1"));
        }
        validate::non_negative("auxk.alpha", self.alpha)
    }
}

/// An [`AuxK`] term for one call: the config, which latents are dead, and
/// (for a call on one shard of a batch) the batch's residual spread.
#[derive(Clone, Copy, Debug)]
pub struct AuxKLoss<'a> {
    /// The term's settings.
    pub config: AuxK,
    /// One flag per latent unit: `true` when it is dead.
    pub dead: &'a [bool],
    /// The denominator `D = Σ_i ‖e_i − ē‖²` over the rows of the whole
    /// batch (see [`AuxK`], [`ResidualSpread::sum_sq`]), for a call that
    /// sees one shard of it; finite and `>= 0`. `None`: the call's rows are
    /// the whole batch, and `D` is computed from their residual.
    pub residual_spread: Option<f64>,
}

impl<'a> AuxKLoss<'a> {
    /// The term for a call whose rows are the whole batch
    /// (`residual_spread` is `None`).
    pub fn new(config: AuxK, dead: &'a [bool]) -> Self {
        AuxKLoss {
            config,
            dead,
            residual_spread: None,
        }
    }
}

/// Row count, column means and the centred sum of squares
/// `Σ_i ‖e_i − ē‖²` of a set of residual rows, in f64: the denominator of
/// the [`AuxK`] term. Shards' summaries merge into the batch's with the
/// pairwise update of Chan, Golub & LeVeque (no cancellation of large
/// sums), so a batch's spread is computed without holding all its
/// residuals; merged in a fixed order it is the same whatever the thread
/// count.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ResidualSpread {
    rows: usize,
    mean: Vec<f64>,
    sum_sq: f64,
}

impl ResidualSpread {
    /// The summary of the rows of `residual` (two passes: means, then
    /// squares about them).
    pub fn of<T: Real>(residual: &DMatrix<T>) -> Self {
        Self::of_difference(residual, None)
    }

    /// The summary of the rows of `a − b` (or of `a` alone), the
    /// difference taken in `T` as `a - b` would be, without forming it.
    pub(crate) fn of_difference<T: Real>(a: &DMatrix<T>, b: Option<&DMatrix<T>>) -> Self {
        let (n, d) = a.shape();
        if n == 0 {
            return ResidualSpread::default();
        }
        debug_assert!(b.is_none_or(|b| b.shape() == a.shape()));
        let at = |i: usize, j: usize| match b {
            Some(b) => (a[(i, j)] - b[(i, j)]).f64(),
            None => a[(i, j)].f64(),
        };
        let mut mean = vec![0.0f64; d];
        let mut sum_sq = 0.0f64;
        for (j, m) in mean.iter_mut().enumerate() {
            *m = (0..n).map(|i| at(i, j)).sum::<f64>() / n as f64;
            sum_sq += (0..n).map(|i| (at(i, j) - *m).powi(2)).sum::<f64>();
        }
        ResidualSpread {
            rows: n,
            mean,
            sum_sq,
        }
    }

    /// Adds the rows `other` summarises (the order of merges fixes the
    /// rounding, not the value).
    pub fn merge(&mut self, other: &ResidualSpread) {
        if other.rows == 0 {
            return;
        }
        if self.rows == 0 {
            self.clone_from(other);
            return;
        }
        let (na, nb) = (self.rows as f64, other.rows as f64);
        let n = na + nb;
        let mut between = 0.0f64;
        for (m, &mb) in self.mean.iter_mut().zip(&other.mean) {
            let delta = mb - *m;
            between += delta * delta;
            *m += delta * nb / n;
        }
        self.sum_sq += other.sum_sq + between * na * nb / n;
        self.rows += other.rows;
    }

    /// Rows summarised.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// `Σ_i ‖e_i − ē‖²` over the rows summarised (0 for none).
    pub fn sum_sq(&self) -> f64 {
        self.sum_sq
    }
}

/// The terms of an objective, each already weighted (f64).
#[derive(Clone, Copy, Debug, PartialEq, Default, Serialize, Deserialize)]
pub struct LossTerms {
    /// Reconstruction term.
    pub reconstruction: f64,
    /// L1 latent sparsity term.
    pub l1: f64,
    /// KL(ρ‖ρ̂) sparsity term.
    pub kl: f64,
    /// Weight decay term.
    pub l2: f64,
    /// AuxK auxiliary term (zero unless training with [`AuxK`]; left out of
    /// files when zero, so older files load and newer ones stay the same).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub auxk: f64,
    /// Matryoshka term, the reconstruction of the code's inner prefixes
    /// (zero unless the objective has a [`Matryoshka`] term; left out of
    /// files when zero).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub matryoshka: f64,
    /// JumpReLU sparsity term (zero unless the objective has `l0 > 0`;
    /// left out of files when zero).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub l0: f64,
    /// Sum of the terms.
    pub total: f64,
}

fn is_zero(v: &f64) -> bool {
    *v == 0.0
}

impl LossTerms {
    /// Adds another call's terms (e.g. another shard's).
    pub fn add(&mut self, other: &LossTerms) {
        self.reconstruction += other.reconstruction;
        self.l1 += other.l1;
        self.kl += other.kl;
        self.l2 += other.l2;
        self.auxk += other.auxk;
        self.matryoshka += other.matryoshka;
        self.l0 += other.l0;
        self.total += other.total;
    }

    /// Every term multiplied by `w` (for row-weighted sums).
    pub fn scaled(&self, w: f64) -> LossTerms {
        LossTerms {
            reconstruction: self.reconstruction * w,
            l1: self.l1 * w,
            kl: self.kl * w,
            l2: self.l2 * w,
            auxk: self.auxk * w,
            matryoshka: self.matryoshka * w,
            l0: self.l0 * w,
            total: self.total * w,
        }
    }

    /// Whether every term is finite.
    pub fn is_finite(&self) -> bool {
        [
            self.reconstruction,
            self.l1,
            self.kl,
            self.l2,
            self.auxk,
            self.matryoshka,
            self.l0,
            self.total,
        ]
        .iter()
        .all(|t| t.is_finite())
    }
}

/// Reconstruction term from the output pre-activations `v` and outputs
/// `u = g(v)`; when `dv` is given it receives `∂term/∂v`.
pub(crate) fn reconstruction<T: Real>(
    kind: Reconstruction,
    output: OutputActivation,
    v: &DMatrix<T>,
    u: &DMatrix<T>,
    target: &DMatrix<T>,
    norm: Normalizer,
    dv: Option<&mut DMatrix<T>>,
) -> f64 {
    let scale = 1.0 / (norm.samples() as f64 * target.ncols().max(1) as f64);
    let (u, t) = (u.as_slice(), target.as_slice());
    match kind {
        Reconstruction::Mse => {
            let c = T::of(2.0 * scale);
            let sum = match dv {
                None => squared_error_sum(u, t),
                Some(dv) => match output {
                    OutputActivation::Identity => mse_sum_and_delta(dv.as_mut_slice(), c, u, t),
                    // σ' = u (1 − u) folded into the same pass.
                    OutputActivation::Sigmoid => {
                        sigmoid_mse_sum_and_delta(dv.as_mut_slice(), c, u, t)
                    }
                },
            };
            sum * scale
        }
        Reconstruction::BinaryCrossEntropy => {
            let sum = bce_sum(v.as_slice(), t);
            if let Some(dv) = dv {
                scaled_difference(dv.as_mut_slice(), T::of(scale), u, t);
            }
            sum * scale
        }
    }
}

multiversion! {
    /// `d = c (a − b)` element-wise.
    fn scaled_difference<T: Real>(d: &mut [T], c: T, a: &[T], b: &[T]) {
        for (d, (&a, &b)) in d.iter_mut().zip(a.iter().zip(b)) {
            *d = c * (a - b);
        }
    }
}

multiversion! {
    /// `Σ (a − b)²` with the bits of [`squared_error_sum`], and
    /// `d = c (a − b)` in the same pass: the MSE and its gradient through an
    /// identity output, each input read once.
    fn mse_sum_and_delta<T: Real>(d: &mut [T], c: T, a: &[T], b: &[T]) -> f64 {
        lane_sum_write(d, a, b, squared_error, |a, b| c * (a - b))
    }
}

multiversion! {
    /// `Σ (a − b)²` with the bits of [`squared_error_sum`], and
    /// `d = c (a − b) · a (1 − a)`, the MSE gradient through a sigmoid
    /// output `a`, in the same pass, rounded as the scaled difference
    /// followed by a separate multiplication by the derivative would be.
    fn sigmoid_mse_sum_and_delta<T: Real>(d: &mut [T], c: T, a: &[T], b: &[T]) -> f64 {
        let one = T::one();
        lane_sum_write(d, a, b, squared_error, |a, b| (c * (a - b)) * (a * (one - a)))
    }
}

/// L1 and KL terms on the latent code `h`; when `dh` is given their
/// gradients with respect to `h` are **added** to it.
///
/// `l1_weights`, one per latent unit, multiply `|h_ni|` in the L1 term (the
/// decoder norms `‖d_i‖` of [`L1Weighting::DecoderNorm`]); `None` is the
/// plain term. The part of the weighted term's gradient that flows through
/// the weights is the caller's: this function sees only the code.
pub(crate) fn latent_penalties<T: Real>(
    cfg: &LossConfig,
    h: &DMatrix<T>,
    l1_weights: Option<&[f64]>,
    norm: Normalizer,
    mut dh: Option<&mut DMatrix<T>>,
) -> Result<(f64, f64)> {
    let big_n = norm.samples() as f64;
    let n = h.nrows();
    let mut l1 = 0.0;
    if cfg.l1 > 0.0 {
        match l1_weights {
            None => {
                l1 = cfg.l1 * h.iter().map(|x| x.f64().abs()).sum::<f64>() / big_n;
                if let Some(dh) = dh.as_deref_mut() {
                    let c = T::of(cfg.l1 / big_n);
                    add_sign_times(dh.as_mut_slice(), h.as_slice(), c);
                }
            }
            Some(w) => {
                debug_assert_eq!(w.len(), h.ncols());
                let mut sum = 0.0f64;
                for (k, &wk) in w.iter().enumerate() {
                    sum += wk * abs_sum(&h.as_slice()[k * n..(k + 1) * n]);
                }
                l1 = cfg.l1 * sum / big_n;
                if let Some(dh) = dh.as_deref_mut() {
                    for (k, &wk) in w.iter().enumerate() {
                        let c = T::of(cfg.l1 * wk / big_n);
                        let col = k * n..(k + 1) * n;
                        add_sign_times(&mut dh.as_mut_slice()[col.clone()], &h.as_slice()[col], c);
                    }
                }
            }
        }
    }
    let mut kl_term = 0.0;
    if let Some(kl) = cfg.kl
        && kl.weight > 0.0
        && n > 0
    {
        let rho = kl.target;
        for k in 0..h.ncols() {
            let col = &h.as_slice()[k * n..(k + 1) * n];
            let q = col.iter().map(|x| x.f64()).sum::<f64>() / n as f64;
            if !(q > 0.0 && q < 1.0) {
                return Err(Error::Numerical(format!(
                    "KL sparsity: mean activation of latent unit {k} is {q}; \
                     the sigmoid has saturated, so KL(ρ‖ρ̂) is infinite"
                )));
            }
            kl_term += rho * (rho / q).ln() + (1.0 - rho) * ((1.0 - rho) / (1.0 - q)).ln();
            if let Some(dh) = dh.as_deref_mut() {
                let g = T::of(kl.weight / big_n * (-rho / q + (1.0 - rho) / (1.0 - q)));
                for d in &mut dh.as_mut_slice()[k * n..(k + 1) * n] {
                    *d += g;
                }
            }
        }
        kl_term *= kl.weight * n as f64 / big_n;
    }
    Ok((l1, kl_term))
}

/// `Σ |v_i|` in f64.
pub(crate) fn abs_sum<T: Real>(v: &[T]) -> f64 {
    v.iter().map(|x| x.f64().abs()).sum::<f64>()
}

/// `d_i += c sign(h_i)` (nothing where `h_i = 0`: the subgradient 0 at the
/// L1 kink).
fn add_sign_times<T: Real>(d: &mut [T], h: &[T], c: T) {
    for (d, &x) in d.iter_mut().zip(h) {
        if x > T::zero() {
            *d += c;
        } else if x < T::zero() {
            *d -= c;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The one-pass MSE kernels give the bits of the two passes they
    /// replace (the lane sum of squared errors, then the gradient), on
    /// lengths with and without a ragged tail of lanes.
    #[test]
    fn fused_mse_passes_equal_separate_passes() {
        for n in [0, 1, 7, 8, 9, 64, 1003] {
            let a: Vec<f32> = (0..n).map(|k| ((k * 37 % 101) as f32) / 101.0).collect();
            let b: Vec<f32> = (0..n).map(|k| ((k * 53 % 89) as f32) / 97.0).collect();
            let c = 0.37f32;
            let sum = squared_error_sum(&a, &b);
            let mut d = vec![f32::NAN; n];
            assert_eq!(
                mse_sum_and_delta(&mut d, c, &a, &b).to_bits(),
                sum.to_bits()
            );
            let mut want = vec![0.0f32; n];
            scaled_difference(&mut want, c, &a, &b);
            for k in 0..n {
                assert_eq!(d[k].to_bits(), want[k].to_bits(), "n {n} k {k}");
            }
            assert_eq!(
                sigmoid_mse_sum_and_delta(&mut d, c, &a, &b).to_bits(),
                sum.to_bits()
            );
            for k in 0..n {
                let want = (c * (a[k] - b[k])) * (a[k] * (1.0 - a[k]));
                assert_eq!(d[k].to_bits(), want.to_bits(), "n {n} k {k}");
            }
        }
    }
}
