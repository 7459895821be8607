//! Activations and their derivatives.
//!
//! Derivatives are taken with respect to the pre-activation `z` but may also
//! use the cached output `a = f(z)`: sigmoid and tanh derivatives are cheapest
//! from `a`, and backprop always has both at hand.
//!
//! Every activation but the TopK family ([`Activation::TopK`],
//! [`Activation::TopKSigned`], [`Activation::BatchTopK`],
//! [`Activation::BatchTopKSigned`]) is element-wise. Those compare entries
//! (the units of one sample, or every entry of a call), so they exist only
//! on the matrix paths the stack uses (`map_into`, `scale_by_derivative`);
//! their scalar [`Activation::apply`] is what happens to a kept unit (a
//! ReLU, or the identity for the signed variants).
//!
//! [`Activation::JumpRelu`] is element-wise but has a learned threshold
//! per latent, a parameter of the model: the stack applies it with its
//! threshold (see [`super::jump_relu`]); its scalar [`Activation::apply`]
//! is again what happens to a unit above its threshold (the identity).

use super::fastmath;
use crate::error::{Error, Result};
use crate::real::Real;
use crate::validate;
use nalgebra::DMatrix;
use serde::{Deserialize, Serialize};

/// A hidden-layer activation `f`.
///
/// Serialized with a `kind` tag, e.g. `{"kind":"leaky_relu","alpha":0.01}`;
/// `alpha` is required by the parametric kinds and rejected by the others.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "ActivationRepr", into = "ActivationRepr")]
pub enum Activation {
    /// `f(z) = z`: makes the autoencoder linear (the PCA-comparable case).
    Identity,
    /// `max(z, 0)`; derivative taken as 0 at `z = 0`.
    Relu,
    /// `z` for `z > 0`, `alpha z` otherwise; `alpha` in `[0, 1]`.
    LeakyRelu { alpha: f64 },
    /// `1 / (1 + e^{-z})`, evaluated without overflow for either sign with
    /// the vectorisable kernels of `fastmath` (f32 arithmetic for f32).
    Sigmoid,
    /// `tanh(z)`.
    Tanh,
    /// `ln(1 + e^z)`, evaluated as `max(z, 0) + ln1p(e^{-|z|})` so it never
    /// overflows.
    Softplus,
    /// `z` for `z > 0`, `alpha (e^z - 1)` otherwise; `alpha > 0`.
    Elu { alpha: f64 },
    /// GELU in its **tanh form** (as PyTorch's `approximate="tanh"`):
    /// `0.5 z (1 + tanh(sqrt(2/pi) (z + 0.044715 z^3)))`. The tanh form is
    /// used because it needs only elementary functions available for both
    /// `f32` and `f64` and its derivative is exact in closed form.
    Gelu,
    /// TopK (Makhzani & Frey 2013; Gao et al. 2024) as the peers train it:
    /// per sample, select the `k` largest pre-activations, pass the
    /// selected values through a ReLU and set the others to zero, so a code
    /// has at most `min(k, r)` active units whatever the data. This is
    /// OpenAI's `TopK` module (`sparse_autoencoder/model.py`, `postact_fn =
    /// nn.ReLU()` on `topk.values`; `sparse_autoencoder/train.py`,
    /// `FastAutoencoder.forward`: `vals = torch.relu(vals)`) and SAELens's
    /// (`sae_lens/saes/topk_sae.py`, `TopK.forward`: `topk_values.relu()`);
    /// dictionary_learning (`dictionary_learning/trainers/top_k.py`,
    /// `AutoEncoderTopK.encode`) applies the ReLU before selecting, which gives
    /// the same code (the ReLU is monotone, so the positive values among
    /// the `k` largest are the same either way, and the rest are zeros
    /// either way). The ReLU keeps a latent from being used with both
    /// signs, so a latent is a direction with a non-negative coefficient,
    /// as the peers' dictionaries are read.
    ///
    /// Ties are broken towards the lower unit index, so the selection (and
    /// thus training) is deterministic. The derivative is 1 through a kept
    /// unit with a positive value and exactly 0 through the dropped units
    /// and the kept ones clamped by the ReLU (also at exactly 0, as
    /// PyTorch's `relu`); it is exact away from ties between the `k`-th and
    /// `(k+1)`-th largest values and from kept values at 0. `k >= 1`;
    /// `k >= r` selects every unit (a plain ReLU).
    ///
    /// Serialized as `{"kind":"top_k","k":K}`: the peers' model is what
    /// `top_k` means in a study file or a model file.
    TopK { k: usize },
    /// TopK without the ReLU: the `k` selected pre-activations are kept
    /// with their sign, so a code has exactly `min(k, r)` entries that are
    /// nonzero (almost surely) and a negative kept value still carries
    /// reconstruction information. This was tiedae's TopK before it
    /// followed the peers; it stays as a named variant to compare against,
    /// Same selection and tie rule as [`Activation::TopK`]; the derivative
    /// is 1 through every kept unit (also one whose value is exactly 0) and
    /// 0 through the dropped ones. Serialized as
    /// `{"kind":"top_k_signed","k":K}`.
    TopKSigned { k: usize },
    /// BatchTopK (Bussmann et al. 2024) as the peers train it: over the `n`
    /// rows of one call select the `n·k` largest pre-activations and pass
    /// them through a ReLU, so samples share a budget of at most `k`
    /// active units on average instead of at most `k` each. SAELens's
    /// `BatchTopK.forward` (`sae_lens/saes/batchtopk_sae.py`) applies the
    /// ReLU before selecting, which gives the same code (see
    /// [`Activation::TopK`]). Ties are broken towards the lower row, then
    /// the lower unit index. The "batch" is what one call sees: in training
    /// a shard of [`TrainConfig::shard_size`](crate::train::TrainConfig::shard_size)
    /// rows (fixed, so results still do not depend on the thread count);
    /// at evaluation a trained model applies its learned threshold instead
    /// (see [`Autoencoder::batch_top_k_thresholds`](crate::model::Autoencoder::batch_top_k_thresholds)),
    /// so a row's code no longer depends on the other rows of the call.
    /// Serialized as `{"kind":"batch_top_k","k":K}`.
    BatchTopK { k: usize },
    /// BatchTopK without the ReLU: the `n·k` selected values keep their
    /// sign (see [`Activation::TopKSigned`]). Serialized as
    /// `{"kind":"batch_top_k_signed","k":K}`.
    BatchTopKSigned { k: usize },
    /// JumpReLU (Rajamanoharan et al. 2024) as SAELens trains it
    /// (`sae_lens/saes/jumprelu_sae.py`): `z · H(z − θ_i)` with a learned
    /// threshold `θ_i > 0` per latent, stored as `log θ_i` in the model
    /// (see [`super::jump_relu`] for the forward pass, the straight-through
    /// pseudo-gradients and the L0 penalty). `bandwidth` is the width `ε`
    /// of the rectangle kernel of the pseudo-gradients (SAELens's
    /// `bandwidth`, [`JUMP_RELU_BANDWIDTH`] by default); `init_threshold`
    /// is `θ` of every latent of a new model ([`JUMP_RELU_INIT_THRESHOLD`]
    /// by default). A latent activation only: the last pair of a dense
    /// stack. Serialized as
    /// `{"kind":"jump_relu","bandwidth":E,"init_threshold":T}`.
    JumpRelu { bandwidth: f64, init_threshold: f64 },
}

/// The output activation `g` of the last decoder layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutputActivation {
    /// Real-valued reconstructions (use with MSE).
    #[default]
    Identity,
    /// Reconstructions in `(0, 1)`; required by binary cross-entropy, which
    /// is computed from the logits (the output pre-activations).
    Sigmoid,
}

impl OutputActivation {
    /// The same function as a general [`Activation`].
    pub fn as_activation(self) -> Activation {
        match self {
            OutputActivation::Identity => Activation::Identity,
            OutputActivation::Sigmoid => Activation::Sigmoid,
        }
    }
}

/// The serialized form of [`Activation`]: a flat struct, so unknown fields
/// are rejected for every kind (serde's internally tagged enums accept them
/// silently on unit variants).
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ActivationRepr {
    kind: ActivationKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    alpha: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    k: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    bandwidth: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    init_threshold: Option<f64>,
}

#[derive(Clone, Copy, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum ActivationKind {
    Identity,
    Relu,
    LeakyRelu,
    Sigmoid,
    Tanh,
    Softplus,
    Elu,
    Gelu,
    TopK,
    TopKSigned,
    BatchTopK,
    BatchTopKSigned,
    JumpRelu,
}

impl From<Activation> for ActivationRepr {
    fn from(a: Activation) -> Self {
        let k = match a {
            Activation::TopK { k }
            | Activation::TopKSigned { k }
            | Activation::BatchTopK { k }
            | Activation::BatchTopKSigned { k } => Some(k),
            _ => None,
        };
        let (kind, alpha) = match a {
            Activation::TopK { .. } => (ActivationKind::TopK, None),
            Activation::TopKSigned { .. } => (ActivationKind::TopKSigned, None),
            Activation::BatchTopK { .. } => (ActivationKind::BatchTopK, None),
            Activation::BatchTopKSigned { .. } => (ActivationKind::BatchTopKSigned, None),
            Activation::Identity => (ActivationKind::Identity, None),
            Activation::Relu => (ActivationKind::Relu, None),
            Activation::LeakyRelu { alpha } => (ActivationKind::LeakyRelu, Some(alpha)),
            Activation::Sigmoid => (ActivationKind::Sigmoid, None),
            Activation::Tanh => (ActivationKind::Tanh, None),
            Activation::Softplus => (ActivationKind::Softplus, None),
            Activation::Elu { alpha } => (ActivationKind::Elu, Some(alpha)),
            Activation::Gelu => (ActivationKind::Gelu, None),
            Activation::JumpRelu { .. } => (ActivationKind::JumpRelu, None),
        };
        let (bandwidth, init_threshold) = match a {
            Activation::JumpRelu {
                bandwidth,
                init_threshold,
            } => (Some(bandwidth), Some(init_threshold)),
            _ => (None, None),
        };
        ActivationRepr {
            kind,
            alpha,
            k,
            bandwidth,
            init_threshold,
        }
    }
}

impl TryFrom<ActivationRepr> for Activation {
    type Error = String;
    fn try_from(r: ActivationRepr) -> std::result::Result<Self, String> {
        use ActivationKind as K;
        let jump = matches!(r.kind, K::JumpRelu);
        if !jump && (r.bandwidth.is_some() || r.init_threshold.is_some()) {
            return Err(
                "unknown field `bandwidth` or `init_threshold` for this activation kind".into(),
            );
        }
        if jump {
            if r.alpha.is_some() || r.k.is_some() {
                return Err("unknown field `alpha` or `k` for jump_relu".into());
            }
            let act = Activation::JumpRelu {
                bandwidth: r.bandwidth.unwrap_or(JUMP_RELU_BANDWIDTH),
                init_threshold: r.init_threshold.unwrap_or(JUMP_RELU_INIT_THRESHOLD),
            };
            act.validate().map_err(|e| e.to_string())?;
            return Ok(act);
        }
        let top_k = matches!(
            r.kind,
            K::TopK | K::TopKSigned | K::BatchTopK | K::BatchTopKSigned
        );
        let act = match (r.kind, r.k) {
            (_, Some(_)) if top_k && r.alpha.is_some() => {
                return Err("unknown field `alpha` for top_k".into());
            }
            (K::TopK, Some(k)) => Activation::TopK { k },
            (K::TopKSigned, Some(k)) => Activation::TopKSigned { k },
            (K::BatchTopK, Some(k)) => Activation::BatchTopK { k },
            (K::BatchTopKSigned, Some(k)) => Activation::BatchTopKSigned { k },
            (_, None) if top_k => return Err("missing field `k`".into()),
            (_, Some(_)) => return Err("unknown field `k` for this activation kind".into()),
            (_, None) => Self::scalar_kind(r.kind, r.alpha)?,
        };
        act.validate().map_err(|e| e.to_string())?;
        Ok(act)
    }
}

impl Activation {
    /// The kinds other than TopK from their serialized form.
    fn scalar_kind(kind: ActivationKind, alpha: Option<f64>) -> std::result::Result<Self, String> {
        use ActivationKind as K;
        let act = match (kind, alpha) {
            (K::LeakyRelu, Some(alpha)) => Activation::LeakyRelu { alpha },
            (K::Elu, Some(alpha)) => Activation::Elu { alpha },
            (K::LeakyRelu | K::Elu, None) => return Err("missing field `alpha`".into()),
            (_, Some(_)) => return Err("unknown field `alpha` for this activation kind".into()),
            (K::Identity, None) => Activation::Identity,
            (K::Relu, None) => Activation::Relu,
            (K::Sigmoid, None) => Activation::Sigmoid,
            (K::Tanh, None) => Activation::Tanh,
            (K::Softplus, None) => Activation::Softplus,
            (K::Gelu, None) => Activation::Gelu,
            (K::TopK | K::TopKSigned | K::BatchTopK | K::BatchTopKSigned, None) => {
                return Err("missing field `k`".into());
            }
            (K::JumpRelu, None) => Activation::jump_relu(),
        };
        Ok(act)
    }
}

/// SAELens's default JumpReLU bandwidth `ε` (`jumprelu_bandwidth` of
/// `JumpReLUTrainingSAEConfig`, `sae_lens/saes/jumprelu_sae.py`).
pub const JUMP_RELU_BANDWIDTH: f64 = 0.05;

/// SAELens's default initial JumpReLU threshold (`jumprelu_init_threshold`
/// of `JumpReLUTrainingSAEConfig`, `sae_lens/saes/jumprelu_sae.py`).
pub const JUMP_RELU_INIT_THRESHOLD: f64 = 0.01;

const GELU_C: f64 = 0.797_884_560_802_865_4; // sqrt(2 / pi)
const GELU_K: f64 = 0.044_715;

use super::fastmath::{sigmoid_t as sigmoid, softplus_t as softplus};

impl Activation {
    /// Every element-wise activation, with representative parameters (for
    /// tests and sweeps); a constant like
    /// [`BiasMode::ALL`](crate::model::BiasMode::ALL).
    ///
    /// The TopK family ([`Activation::TopK`], [`Activation::TopKSigned`],
    /// [`Activation::BatchTopK`], [`Activation::BatchTopKSigned`]) is not
    /// listed: the every-activation sweeps (the dense and conv
    /// finite-difference tests) count their cases for the element-wise
    /// kinds, and require a decoder-part gradient large enough to test on
    /// nearly every tied pair, which a k-sparse code on a 4-row batch (and
    /// on the conv stacks' wide layers) does not always give. All four have
    /// their own sweep in `tests/gradients.rs` (over [`Activation::TOP_K`]),
    /// reseeded away from selection ties and, for the ReLU variants, from
    /// kept values near 0 by the shared `near_kink`.
    ///
    /// [`Activation::JumpRelu`] is not listed either: its threshold is a
    /// parameter of the model, so it exists only as a latent activation;
    /// its gradient tests are in `tests/jumprelu.rs`.
    pub const ALL: [Activation; 8] = [
        Activation::Identity,
        Activation::Relu,
        Activation::LeakyRelu { alpha: 0.1 },
        Activation::Sigmoid,
        Activation::Tanh,
        Activation::Softplus,
        Activation::Elu { alpha: 1.0 },
        Activation::Gelu,
    ];

    /// One of each TopK kind (`k = 2`), the ReLU variants first: the
    /// row-wise counterpart of [`Activation::ALL`] for sweeps.
    pub const TOP_K: [Activation; 4] = [
        Activation::TopK { k: 2 },
        Activation::BatchTopK { k: 2 },
        Activation::TopKSigned { k: 2 },
        Activation::BatchTopKSigned { k: 2 },
    ];

    /// A JumpReLU with SAELens's defaults: bandwidth
    /// [`JUMP_RELU_BANDWIDTH`], initial threshold
    /// [`JUMP_RELU_INIT_THRESHOLD`] (see [`Activation::JumpRelu`]).
    pub fn jump_relu() -> Activation {
        Activation::JumpRelu {
            bandwidth: JUMP_RELU_BANDWIDTH,
            init_threshold: JUMP_RELU_INIT_THRESHOLD,
        }
    }

    /// Whether this is [`Activation::JumpRelu`], whose threshold is a
    /// parameter of the model.
    pub fn is_jump_relu(&self) -> bool {
        matches!(self, Activation::JumpRelu { .. })
    }

    /// [`Activation::ALL`] as a vector.
    pub fn all() -> Vec<Activation> {
        Activation::ALL.to_vec()
    }

    /// A short name for tables and file names, e.g. `"leaky_relu(0.1)"`.
    pub fn name(&self) -> String {
        match self {
            Activation::Identity => "identity".into(),
            Activation::Relu => "relu".into(),
            Activation::LeakyRelu { alpha } => format!("leaky_relu({alpha})"),
            Activation::Sigmoid => "sigmoid".into(),
            Activation::Tanh => "tanh".into(),
            Activation::Softplus => "softplus".into(),
            Activation::Elu { alpha } => format!("elu({alpha})"),
            Activation::Gelu => "gelu".into(),
            Activation::TopK { k } => format!("top_k({k})"),
            Activation::TopKSigned { k } => format!("top_k_signed({k})"),
            Activation::BatchTopK { k } => format!("batch_top_k({k})"),
            Activation::BatchTopKSigned { k } => format!("batch_top_k_signed({k})"),
            Activation::JumpRelu {
                bandwidth,
                init_threshold,
            } => format!("jump_relu({bandwidth},{init_threshold})"),
        }
    }

    /// Checks the parameters of parametric activations.
    pub fn validate(&self) -> Result<()> {
        match *self {
            Activation::LeakyRelu { alpha } => {
                validate::fraction_param("activation", "leaky_relu alpha", alpha)
            }
            Activation::Elu { alpha } => validate::positive_param("activation", "elu alpha", alpha),
            Activation::TopK { k: 0 }
            | Activation::TopKSigned { k: 0 }
            | Activation::BatchTopK { k: 0 }
            | Activation::BatchTopKSigned { k: 0 } => Err(Error::config(
                "activation",
                "top_k needs k >= 1 (k = 0 would zero every code)",
            )),
            Activation::JumpRelu {
                bandwidth,
                init_threshold,
            } => {
                validate::positive_param("activation", "jump_relu bandwidth", bandwidth)?;
                // log θ must be finite: θ > 0 and not so small its log is −∞.
                validate::positive_param("activation", "jump_relu init_threshold", init_threshold)
            }
            _ => Ok(()),
        }
    }

    /// Whether the derivative jumps at `z = 0` (ReLU, leaky ReLU, ELU with
    /// `alpha != 1`, and the ReLU TopK kinds at a kept unit): finite
    /// differences across 0 are meaningless there. A JumpReLU is flat
    /// around 0 (its thresholds are positive); it jumps at its thresholds,
    /// which are the model's.
    pub fn has_kink(&self) -> bool {
        match *self {
            Activation::Relu | Activation::TopK { .. } | Activation::BatchTopK { .. } => true,
            Activation::LeakyRelu { alpha } => alpha != 1.0,
            Activation::Elu { alpha } => alpha != 1.0,
            _ => false,
        }
    }

    /// Whether the activation compares entries with each other (TopK
    /// within a row, BatchTopK within a call), so it is applied to whole
    /// matrices rather than per entry.
    pub fn is_row_wise(&self) -> bool {
        matches!(
            self,
            Activation::TopK { .. }
                | Activation::TopKSigned { .. }
                | Activation::BatchTopK { .. }
                | Activation::BatchTopKSigned { .. }
        )
    }

    /// Whether this is a TopK kind that passes its kept values through a
    /// ReLU ([`Activation::TopK`], [`Activation::BatchTopK`]). The AuxK term
    /// treats its auxiliary code the same way (see
    /// [`AuxK`](crate::model::AuxK)).
    pub fn relu_on_kept(&self) -> bool {
        matches!(self, Activation::TopK { .. } | Activation::BatchTopK { .. })
    }

    /// Whether this is a BatchTopK kind ([`Activation::BatchTopK`],
    /// [`Activation::BatchTopKSigned`]): one that selects over the rows of
    /// a call, and learns an inference threshold in training.
    pub fn is_batch_top_k(&self) -> bool {
        matches!(
            self,
            Activation::BatchTopK { .. } | Activation::BatchTopKSigned { .. }
        )
    }

    /// The smallest value a code `a = f(z)` of this kind kept, what the
    /// BatchTopK threshold estimate reads from a training batch (see
    /// [`Autoencoder::batch_top_k_thresholds`](crate::model::Autoencoder::batch_top_k_thresholds)):
    /// the smallest positive entry for [`Activation::BatchTopK`] (SAELens's
    /// `acts_topk[acts_topk > 0].min()` in `update_topk_threshold`,
    /// `sae_lens/saes/batchtopk_sae.py`), the smallest nonzero entry for
    /// [`Activation::BatchTopKSigned`]; `None` when there is none, and for
    /// every other kind.
    pub fn smallest_kept<T: Real>(&self, a: &DMatrix<T>) -> Option<f64> {
        let kept: fn(f64) -> bool = match *self {
            Activation::BatchTopK { .. } => |v| v > 0.0,
            Activation::BatchTopKSigned { .. } => |v| v != 0.0,
            _ => return None,
        };
        a.iter()
            .map(|v| v.f64())
            .filter(|&v| kept(v))
            .reduce(f64::min)
    }

    /// Whether any row of the pre-activations `z` has its `k`-th and
    /// `(k+1)`-th largest values within `margin` of each other (TopK; for
    /// BatchTopK the `n·k`-th and next of the whole matrix; always false for
    /// the element-wise kinds): there the selection, and
    /// so the function, jumps, and finite differences across it are
    /// meaningless.
    pub fn near_tie<T: Real>(&self, z: &DMatrix<T>, margin: f64) -> bool {
        if let Activation::BatchTopK { k } | Activation::BatchTopKSigned { k } = *self {
            let keep = k.saturating_mul(z.nrows());
            if k == 0 || keep >= z.len() {
                return false;
            }
            let mut all: Vec<f64> = z.iter().map(|v| v.f64()).collect();
            all.sort_by(|a, b| b.total_cmp(a));
            return (all[keep - 1] - all[keep]).abs() < margin;
        }
        let k = match *self {
            Activation::TopK { k } | Activation::TopKSigned { k } => k,
            _ => return false,
        };
        let r = z.ncols();
        if k == 0 || k >= r {
            return false;
        }
        let mut row: Vec<f64> = Vec::with_capacity(r);
        (0..z.nrows()).any(|i| {
            row.clear();
            row.extend((0..r).map(|j| z[(i, j)].f64()));
            row.sort_by(|a, b| b.total_cmp(a));
            (row[k - 1] - row[k]).abs() < margin
        })
    }

    /// Whether outputs lie in `(0, 1)`, as KL(ρ‖ρ̂) sparsity requires.
    pub fn is_unit_interval(&self) -> bool {
        matches!(self, Activation::Sigmoid)
    }

    /// `f(z)` of one entry. For the TopK kinds, the value of a **kept** unit
    /// (a ReLU, or the identity for the signed variants): which units are
    /// kept depends on the whole row, which only the matrix paths see. For
    /// [`Activation::JumpRelu`], the value of a unit above its threshold
    /// (the identity): the threshold is the model's.
    #[inline]
    pub fn apply<T: Real>(&self, z: T) -> T {
        let zero = T::zero();
        match *self {
            Activation::Identity
            | Activation::TopKSigned { .. }
            | Activation::BatchTopKSigned { .. }
            | Activation::JumpRelu { .. } => z,
            Activation::Relu | Activation::TopK { .. } | Activation::BatchTopK { .. } => {
                if z > zero { z } else { zero }
            }
            Activation::LeakyRelu { alpha } => {
                if z > zero {
                    z
                } else {
                    T::of(alpha) * z
                }
            }
            Activation::Sigmoid => sigmoid(z),
            Activation::Tanh => z.tanh(),
            Activation::Softplus => softplus(z),
            Activation::Elu { alpha } => {
                if z > zero {
                    z
                } else {
                    T::of(alpha) * z.exp_m1()
                }
            }
            Activation::Gelu => {
                let u = T::of(GELU_C) * (z + T::of(GELU_K) * z * z * z);
                T::of(0.5) * z * (T::one() + u.tanh())
            }
        }
    }

    /// `f'(z)`, given `a = f(z)` as well (for the TopK kinds, of a kept
    /// unit; see [`Activation::apply`]).
    #[inline]
    pub fn derivative<T: Real>(&self, z: T, a: T) -> T {
        let zero = T::zero();
        let one = T::one();
        match *self {
            Activation::Identity
            | Activation::TopKSigned { .. }
            | Activation::BatchTopKSigned { .. }
            | Activation::JumpRelu { .. } => one,
            Activation::Relu | Activation::TopK { .. } | Activation::BatchTopK { .. } => {
                if z > zero { one } else { zero }
            }
            Activation::LeakyRelu { alpha } => {
                if z > zero {
                    one
                } else {
                    T::of(alpha)
                }
            }
            Activation::Sigmoid => a * (one - a),
            Activation::Tanh => one - a * a,
            Activation::Softplus => sigmoid(z),
            Activation::Elu { alpha } => {
                if z > zero {
                    one
                } else {
                    a + T::of(alpha)
                }
            }
            Activation::Gelu => {
                let z2 = z * z;
                let t = (T::of(GELU_C) * (z + T::of(GELU_K) * z2 * z)).tanh();
                let du = T::of(GELU_C) * (one + T::of(3.0 * GELU_K) * z2);
                T::of(0.5) * (one + t) + T::of(0.5) * z * (one - t * t) * du
            }
        }
    }

    /// `a = f(z)` (element-wise, or per row for TopK); `a` must have `z`'s
    /// shape. A [`Activation::JumpRelu`] is applied by the stack with its
    /// threshold (see [`super::jump_relu`]); here it is the identity of
    /// [`Activation::apply`].
    pub(crate) fn map_into<T: Real>(&self, z: &DMatrix<T>, a: &mut DMatrix<T>) {
        debug_assert_eq!(z.shape(), a.shape());
        let (src, dst) = (z.as_slice(), a.as_mut_slice());
        let zero = T::zero();
        // One loop per kind, so the loop bodies are branch-light and the
        // simple ones vectorise.
        match *self {
            Activation::Identity => dst.copy_from_slice(src),
            Activation::Relu => map(src, dst, |v| if v > zero { v } else { zero }),
            Activation::LeakyRelu { alpha } => {
                let alpha = T::of(alpha);
                map(src, dst, |v| if v > zero { v } else { alpha * v })
            }
            Activation::Sigmoid => fastmath::sigmoid_into(src, dst),
            Activation::Tanh => map(src, dst, |v| v.tanh()),
            Activation::Softplus => fastmath::softplus_into(src, dst),
            // The ReLU variants: a kept value is clamped at 0 (OpenAI's
            // `postact_fn`, SAELens's `topk_values.relu()`).
            Activation::TopK { k } => {
                let n = z.nrows();
                top_k_mask(z, k, |i, j, keep| {
                    let at = i + j * n;
                    let v = src[at];
                    dst[at] = if keep && v > zero { v } else { zero }
                })
            }
            Activation::TopKSigned { k } => {
                let n = z.nrows();
                top_k_mask(z, k, |i, j, keep| {
                    let at = i + j * n;
                    dst[at] = if keep { src[at] } else { zero }
                })
            }
            Activation::BatchTopK { k } => batch_top_k_mask(z, k, |at, keep| {
                let v = src[at];
                dst[at] = if keep && v > zero { v } else { zero }
            }),
            Activation::BatchTopKSigned { k } => {
                batch_top_k_mask(z, k, |at, keep| dst[at] = if keep { src[at] } else { zero })
            }
            act => map(src, dst, |v| act.apply(v)),
        }
    }

    /// `delta *= f'(z)` element-wise, with `a = f(z)` cached from the forward pass.
    pub(crate) fn scale_by_derivative<T: Real>(
        &self,
        z: &DMatrix<T>,
        a: &DMatrix<T>,
        delta: &mut DMatrix<T>,
    ) {
        let (zero, one) = (T::zero(), T::one());
        let d = delta.as_mut_slice();
        match *self {
            Activation::Identity => {}
            Activation::Relu => scale(d, z.as_slice(), |v| if v > zero { one } else { zero }),
            Activation::LeakyRelu { alpha } => {
                let alpha = T::of(alpha);
                scale(d, z.as_slice(), |v| if v > zero { one } else { alpha })
            }
            Activation::Sigmoid => scale(d, a.as_slice(), |s| s * (one - s)),
            Activation::Tanh => scale(d, a.as_slice(), |t| one - t * t),
            Activation::Softplus => scale(d, z.as_slice(), sigmoid),
            // A ReLU kind passes a gradient exactly where its value is
            // positive (kept and `z > 0`, PyTorch's `relu` backward, 0 at 0
            // included), which `a` shows without selecting again. A signed
            // kind recomputes the selection from `z` rather than reading
            // `a != 0`, so a kept unit whose value is exactly 0 still passes
            // its gradient.
            Activation::TopK { .. } | Activation::BatchTopK { .. } => {
                // `a` holds a positive value or exactly 0, never NaN.
                for (d, &av) in d.iter_mut().zip(a.as_slice()) {
                    if av <= zero {
                        *d = zero;
                    }
                }
            }
            Activation::TopKSigned { k } => {
                let n = z.nrows();
                top_k_mask(z, k, |i, j, keep| {
                    if !keep {
                        d[i + j * n] = zero;
                    }
                })
            }
            Activation::BatchTopKSigned { k } => batch_top_k_mask(z, k, |at, keep| {
                if !keep {
                    d[at] = zero;
                }
            }),
            act => {
                for ((d, &zv), &av) in d.iter_mut().zip(z.as_slice()).zip(a.as_slice()) {
                    *d *= act.derivative(zv, av);
                }
            }
        }
    }
}

/// Calls `visit(i, j, kept)` for every entry of `z`, where `kept` says
/// whether unit `j` is among the `k` largest of row `i`. The order is
/// "larger value first, then lower index" (values compared with
/// `total_cmp` in f64), a strict total order, so the kept set is unique and
/// ties go to the lower index. Selection is linear per row
/// ([`top_k_row`]); the order among the kept does not matter.
pub(crate) fn top_k_mask<T: Real>(
    z: &DMatrix<T>,
    k: usize,
    mut visit: impl FnMut(usize, usize, bool),
) {
    let (n, r) = z.shape();
    if k >= r {
        for j in 0..r {
            for i in 0..n {
                visit(i, j, true);
            }
        }
        return;
    }
    let mut keep = vec![false; r];
    let mut row = vec![0.0f64; r];
    let mut scratch = Vec::with_capacity(r);
    for i in 0..n {
        for (j, v) in row.iter_mut().enumerate() {
            *v = z[(i, j)].f64();
        }
        top_k_row(&row, k, &mut scratch, &mut keep);
        for (j, &kept) in keep.iter().enumerate() {
            visit(i, j, kept);
        }
    }
}

/// Sets `keep[j]` to whether `row[j]` is among the `k` largest (`k <
/// row.len()`), in [`top_k_mask`]'s order: the `k`-th largest value `t`
/// is selected from a copy of the values (plain comparisons, no index
/// lookups), every value above `t` is kept, and of those equal to `t`
/// (equal under `total_cmp`, so the same bits) the lowest indices fill the
/// rest, exactly the set "larger first, then lower index" picks.
fn top_k_row(row: &[f64], k: usize, scratch: &mut Vec<f64>, keep: &mut [bool]) {
    use std::cmp::Ordering::{Equal, Greater};
    if k == 0 {
        keep.fill(false);
        return;
    }
    scratch.clear();
    scratch.extend_from_slice(row);
    let t = *scratch
        .select_nth_unstable_by(k - 1, |a, b| b.total_cmp(a))
        .1;
    let above = row.iter().filter(|v| v.total_cmp(&t) == Greater).count();
    let mut ties = k - above;
    for (kept, v) in keep.iter_mut().zip(row) {
        *kept = match v.total_cmp(&t) {
            Greater => true,
            Equal if ties > 0 => {
                ties -= 1;
                true
            }
            _ => false,
        };
    }
}

/// Calls `visit(at, kept)` for every entry of `z` (column-major index
/// `at = i + j n`), where `kept` says whether the entry is among the
/// `n·k` largest of the whole matrix, ordered by larger value first, then
/// lower row, then lower column (a strict total order, so the kept set is
/// unique).
fn batch_top_k_mask<T: Real>(z: &DMatrix<T>, k: usize, mut visit: impl FnMut(usize, bool)) {
    let (n, total) = (z.nrows(), z.len());
    let keep = k.saturating_mul(n);
    if keep >= total {
        (0..total).for_each(|at| visit(at, true));
        return;
    }
    let vals: Vec<f64> = z.iter().map(|v| v.f64()).collect();
    let mut idx: Vec<usize> = (0..total).collect();
    let key = |at: usize| (at % n, at / n);
    if keep > 0 {
        idx.select_nth_unstable_by(keep - 1, |&a, &b| {
            vals[b].total_cmp(&vals[a]).then(key(a).cmp(&key(b)))
        });
    }
    let mut kept = vec![false; total];
    for &at in &idx[..keep] {
        kept[at] = true;
    }
    for (at, &kp) in kept.iter().enumerate() {
        visit(at, kp);
    }
}

multiversion! {
    /// `dst = f(src)` element-wise, compiled for the widest vectors the CPU
    /// has (the closures are inlined into each version).
    fn map<T: Real>(src: &[T], dst: &mut [T], f: impl Fn(T) -> T) {
        for (o, &v) in dst.iter_mut().zip(src) {
            *o = f(v);
        }
    }
}

multiversion! {
    /// `delta *= f(by)` element-wise (see [`map`]).
    fn scale<T: Real>(delta: &mut [T], by: &[T], f: impl Fn(T) -> T) {
        for (d, &v) in delta.iter_mut().zip(by) {
            *d *= f(v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each derivative against a central difference in f64, away from kinks.
    #[test]
    fn derivatives_match_central_differences() {
        let eps = 1e-6f64;
        for act in Activation::all() {
            for &z in &[-3.1f64, -0.7, -0.05, 0.05, 0.4, 2.3, 8.0] {
                let num = (act.apply(z + eps) - act.apply(z - eps)) / (2.0 * eps);
                let ana = act.derivative(z, act.apply(z));
                assert!(
                    (ana - num).abs() <= 1e-7 + 1e-6 * num.abs(),
                    "{act:?} at {z}: analytic {ana} vs numeric {num}"
                );
            }
        }
    }

    /// Stable forms do not overflow where the naive formulas would.
    #[test]
    fn extreme_inputs_stay_finite() {
        for act in Activation::all() {
            for &z in &[-800.0f64, 800.0] {
                let a = act.apply(z);
                assert!(a.is_finite(), "{act:?}({z}) = {a}");
                assert!(act.derivative(z, a).is_finite(), "{act:?}'({z})");
            }
        }
        assert_eq!(Activation::Softplus.apply(800.0f64), 800.0);
        assert!(Activation::Sigmoid.apply(-800.0f64) < 1e-300);
    }

    /// GELU is the tanh form: compare with its textbook expression at a point.
    #[test]
    fn gelu_is_the_tanh_form() {
        let z = 0.9f64;
        let expect = 0.5
            * z
            * (1.0 + ((2.0 / std::f64::consts::PI).sqrt() * (z + 0.044715 * z.powi(3))).tanh());
        assert!((Activation::Gelu.apply(z) - expect).abs() < 1e-15);
    }

    #[test]
    fn bad_parameters_are_rejected() {
        assert!(Activation::LeakyRelu { alpha: -0.1 }.validate().is_err());
        assert!(
            Activation::LeakyRelu { alpha: f64::NAN }
                .validate()
                .is_err()
        );
        assert!(Activation::Elu { alpha: 0.0 }.validate().is_err());
        assert!(Activation::Elu { alpha: 1.0 }.validate().is_ok());
    }

    /// The threshold selection keeps the set a full sort by "larger value
    /// first, then lower index" keeps, on rows full of ties (values from a
    /// small set, signed zeros and NaN included), for every `k`.
    #[test]
    fn the_row_selection_matches_a_full_sort() {
        let pool = [3.0, -1.0, 0.0, -0.0, 2.5, 3.0, f64::NAN, -7.0, 2.5];
        for len in [1, 2, 5, 9, 31] {
            let row: Vec<f64> = (0..len).map(|j| pool[(j * 7 + len) % pool.len()]).collect();
            for k in 0..len {
                let mut order: Vec<usize> = (0..len).collect();
                order.sort_by(|&a, &b| row[b].total_cmp(&row[a]).then(a.cmp(&b)));
                let mut want = vec![false; len];
                order[..k].iter().for_each(|&j| want[j] = true);
                let mut keep = vec![true; len];
                top_k_row(&row, k, &mut Vec::new(), &mut keep);
                assert_eq!(keep, want, "len {len}, k {k}: {row:?}");
            }
        }
    }

    /// Signed TopK keeps the k largest per row, ties to the lower index,
    /// and its derivative passes exactly the kept entries.
    #[test]
    fn top_k_keeps_the_largest_per_row_with_ties_to_the_lower_index() {
        let z = DMatrix::from_row_slice(
            3,
            4,
            &[
                0.5, -1.0, 2.0, 0.1, //
                1.0, 1.0, 1.0, -3.0, //
                -0.2, -0.1, -0.3, -0.4,
            ],
        );
        let act = Activation::TopKSigned { k: 2 };
        let mut a = DMatrix::zeros(3, 4);
        act.map_into(&z, &mut a);
        let want = DMatrix::from_row_slice(
            3,
            4,
            &[
                0.5, 0.0, 2.0, 0.0, //
                1.0, 1.0, 0.0, 0.0, //
                -0.2, -0.1, 0.0, 0.0,
            ],
        );
        assert_eq!(a, want);
        let mut delta = DMatrix::from_element(3, 4, 3.0);
        act.scale_by_derivative(&z, &a, &mut delta);
        let mask = want.map(|v: f64| if v != 0.0 { 3.0 } else { 0.0 });
        assert_eq!(delta, mask);
        assert!(act.near_tie(&z, 1e-4));
        assert!(!act.near_tie(&z.rows(0, 1).into_owned(), 1e-4));
        // k >= r keeps everything.
        let mut all = DMatrix::zeros(3, 4);
        Activation::TopKSigned { k: 9 }.map_into(&z, &mut all);
        assert_eq!(all, z);
        // With the ReLU, k >= r is a plain ReLU.
        Activation::TopK { k: 9 }.map_into(&z, &mut all);
        assert_eq!(all, z.map(|v: f64| v.max(0.0)));
        assert!(Activation::TopK { k: 2 }.near_tie(&z, 1e-4));
        assert!(Activation::TopK { k: 0 }.validate().is_err());
        assert!(Activation::TopKSigned { k: 0 }.validate().is_err());
        assert!(Activation::BatchTopKSigned { k: 0 }.validate().is_err());
    }

    /// The ReLU and signed TopK select the same units; their codes differ
    /// exactly at the kept negative values, which the ReLU clamps to 0, and
    /// so do their derivatives (0 there with the ReLU, 1 without). Per row
    /// (TopK) and per call (BatchTopK), on hand-made pre-activations: row 0
    /// keeps two positives, row 1 a positive and a negative, row 2 two
    /// negatives, row 3 a positive and an exact 0.
    #[test]
    fn relu_and_signed_top_k_differ_exactly_at_kept_negative_values() {
        let z = DMatrix::from_row_slice(
            4,
            4,
            &[
                0.5, -1.0, 2.0, 0.1, //
                -0.7, 0.3, -2.0, -0.9, //
                -0.2, -0.1, -0.3, -0.4, //
                -1.0, 0.0, 0.6, -0.5,
            ],
        );
        for (relu, signed) in [
            (Activation::TopK { k: 2 }, Activation::TopKSigned { k: 2 }),
            (
                Activation::BatchTopK { k: 2 },
                Activation::BatchTopKSigned { k: 2 },
            ),
        ] {
            assert!(relu.relu_on_kept() && !signed.relu_on_kept());
            assert!(relu.has_kink() && !signed.has_kink());
            let (mut a, mut b) = (DMatrix::zeros(4, 4), DMatrix::zeros(4, 4));
            relu.map_into(&z, &mut a);
            signed.map_into(&z, &mut b);
            let (mut da, mut db) = (
                DMatrix::from_element(4, 4, 3.0),
                DMatrix::from_element(4, 4, 3.0),
            );
            relu.scale_by_derivative(&z, &a, &mut da);
            signed.scale_by_derivative(&z, &b, &mut db);
            let mut clamped = 0;
            for at in 0..z.len() {
                let kept = db[at] != 0.0;
                if kept && z[at] < 0.0 {
                    // A kept negative value: the only place they differ.
                    assert_eq!((a[at], b[at]), (0.0, z[at]), "{relu:?} at {at}");
                    assert_eq!((da[at], db[at]), (0.0, 3.0), "{relu:?} at {at}");
                    clamped += 1;
                } else if kept && z[at] == 0.0 {
                    // Kept at exactly 0: equal values, gradient only signed.
                    assert_eq!((a[at], b[at]), (0.0, 0.0));
                    assert_eq!((da[at], db[at]), (0.0, 3.0), "{relu:?} at {at}");
                } else {
                    assert_eq!(a[at], b[at], "{relu:?} at {at}");
                    assert_eq!(da[at], db[at], "{relu:?} at {at}");
                }
            }
            assert!(clamped >= 2, "{relu:?}: {clamped} kept negatives");
        }
        // Per row, by hand.
        let mut a = DMatrix::zeros(4, 4);
        Activation::TopK { k: 2 }.map_into(&z, &mut a);
        let want = DMatrix::from_row_slice(
            4,
            4,
            &[
                0.5, 0.0, 2.0, 0.0, //
                0.0, 0.3, 0.0, 0.0, //
                0.0, 0.0, 0.0, 0.0, //
                0.0, 0.0, 0.6, 0.0,
            ],
        );
        assert_eq!(a, want);
        let mut d = DMatrix::from_element(4, 4, 1.0);
        Activation::TopK { k: 2 }.scale_by_derivative(&z, &a, &mut d);
        assert_eq!(d, want.map(|v: f64| if v > 0.0 { 1.0 } else { 0.0 }));
        // The kept value's function: a ReLU, or the identity when signed.
        for act in Activation::TOP_K {
            for &v in &[-0.7f64, 0.4] {
                let (want_a, want_d) = if act.relu_on_kept() && v < 0.0 {
                    (0.0, 0.0)
                } else {
                    (v, 1.0)
                };
                assert_eq!(act.apply(v), want_a, "{act:?}");
                assert_eq!(act.derivative(v, act.apply(v)), want_d, "{act:?}");
            }
        }
    }

    /// BatchTopK keeps the n·k largest entries of the call, ties to the
    /// lower row then the lower unit, and passes gradient exactly there.
    #[test]
    fn batch_top_k_keeps_n_k_entries_per_call() {
        let z = DMatrix::from_row_slice(2, 3, &[5.0, 4.0, 1.0, 0.5, 0.2, 1.0]);
        for act in [
            Activation::BatchTopK { k: 1 },
            Activation::BatchTopKSigned { k: 1 },
        ] {
            let mut a = DMatrix::zeros(2, 3);
            act.map_into(&z, &mut a);
            // Two entries in all: 5 and 4, both in row 0 (row 1 gets none).
            let want = DMatrix::from_row_slice(2, 3, &[5.0, 4.0, 0.0, 0.0, 0.0, 0.0]);
            assert_eq!(a, want);
            let mut delta = DMatrix::from_element(2, 3, 2.0);
            act.scale_by_derivative(&z, &a, &mut delta);
            assert_eq!(delta, want.map(|v: f64| if v != 0.0 { 2.0 } else { 0.0 }));
            // A tie across rows (1.0 in both rows) goes to row 0.
            let z = DMatrix::from_row_slice(2, 2, &[1.0, 0.0, 1.0, 3.0]);
            let mut b = DMatrix::zeros(2, 2);
            act.map_into(&z, &mut b);
            assert_eq!(b, DMatrix::from_row_slice(2, 2, &[1.0, 0.0, 0.0, 3.0]));
            assert!(act.near_tie(&z, 1e-4));
        }
        assert!(Activation::BatchTopK { k: 0 }.validate().is_err());
        let act = Activation::BatchTopK { k: 1 };
        let s = serde_json::to_string(&act).unwrap();
        assert_eq!(s, r#"{"kind":"batch_top_k","k":1}"#);
        assert_eq!(serde_json::from_str::<Activation>(&s).unwrap(), act);
        let signed = Activation::BatchTopKSigned { k: 1 };
        let s = serde_json::to_string(&signed).unwrap();
        assert_eq!(s, r#"{"kind":"batch_top_k_signed","k":1}"#);
        assert_eq!(serde_json::from_str::<Activation>(&s).unwrap(), signed);
    }

    #[test]
    fn serde_uses_a_kind_tag() {
        let s = serde_json::to_string(&Activation::LeakyRelu { alpha: 0.25 }).unwrap();
        assert_eq!(s, r#"{"kind":"leaky_relu","alpha":0.25}"#);
        let back: Activation = serde_json::from_str(&s).unwrap();
        assert_eq!(back, Activation::LeakyRelu { alpha: 0.25 });
        for bad in [
            r#"{"kind":"relu","alpha":1}"#,
            r#"{"kind":"elu"}"#,
            r#"{"kind":"tanh","beta":1}"#,
            r#"{"kind":"swish"}"#,
            r#"{"kind":"leaky_relu","alpha":-2}"#,
        ] {
            assert!(serde_json::from_str::<Activation>(bad).is_err(), "{bad}");
        }
        let s = serde_json::to_string(&Activation::Gelu).unwrap();
        assert_eq!(s, r#"{"kind":"gelu"}"#);
        let s = serde_json::to_string(&Activation::TopK { k: 3 }).unwrap();
        assert_eq!(s, r#"{"kind":"top_k","k":3}"#);
        assert_eq!(
            serde_json::from_str::<Activation>(&s).unwrap(),
            Activation::TopK { k: 3 }
        );
        // The signed variant is asked for by name.
        let s = serde_json::to_string(&Activation::TopKSigned { k: 3 }).unwrap();
        assert_eq!(s, r#"{"kind":"top_k_signed","k":3}"#);
        assert_eq!(
            serde_json::from_str::<Activation>(&s).unwrap(),
            Activation::TopKSigned { k: 3 }
        );
        // A study file's `top_k` is the peers' model.
        let toml_form: std::collections::BTreeMap<String, Activation> =
            toml::from_str("a = { kind = \"top_k\", k = 4 }").unwrap();
        assert_eq!(toml_form["a"], Activation::TopK { k: 4 });
        for bad in [
            r#"{"kind":"top_k"}"#,
            r#"{"kind":"top_k_signed"}"#,
            r#"{"kind":"top_k","k":0}"#,
            r#"{"kind":"top_k_signed","k":0}"#,
            r#"{"kind":"top_k","k":2,"alpha":1}"#,
            r#"{"kind":"relu","k":2}"#,
            r#"{"kind":"top_k","k":2,"relu":true}"#,
        ] {
            assert!(serde_json::from_str::<Activation>(bad).is_err(), "{bad}");
        }
    }
}
