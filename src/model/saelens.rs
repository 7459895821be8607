//! SAELens files both ways: a one-pair model exported as a directory that
//! SAELens 6.x loads with `SAE.load_from_disk`, and such a directory (a
//! published SAE, say) read back as an untied tiedae model, so its
//! decoder–encoder cosines say how close it is to tied.
//!
//! The directory holds the two files SAELens names in
//! `sae_lens/constants.py`: `cfg.json` ([`CFG_FILE`]) and
//! `sae_weights.safetensors` ([`WEIGHTS_FILE`]). The tensors are SAELens's
//! parameters in its orientation (`sae_lens/saes/sae.py`,
//! `SAE.initialize_weights`; rows are samples, `x @ W`):
//!
//! | tensor | shape | tiedae |
//! | --- | --- | --- |
//! | `W_enc` | `d_in × d_sae` | `W_encᵀ` (`Wᵀ` tied) |
//! | `W_dec` | `d_sae × d_in` | `W_decᵀ` (`W` tied) |
//! | `b_enc` | `d_sae` | by bias mode, below |
//! | `b_dec` | `d_in` | by bias mode, below |
//! | `threshold` | `d_sae` | JumpReLU's `θ = exp(log θ)`, or BatchTopK's learned threshold on every latent |
//!
//! SAELens's forward (`SAE.process_sae_in` in `sae.py`; `encode` and
//! `decode` in `saes/standard_sae.py`, `saes/topk_sae.py`,
//! `saes/jumprelu_sae.py`) is `z = (x − b_dec·[apply_b_dec_to_input]) W_enc
//! + b_enc`, `a = f(z)`, `x̂ = a W_dec + b_dec`, with `f` by architecture:
//! `standard` a ReLU, `topk` the `k` largest of a row through a ReLU
//! (`TopK.forward`, `topk_values.relu()`), `jumprelu`
//! `relu(z)·(z > relu(threshold))`. tiedae's pairs map onto it exactly:
//!
//! - [`BiasMode::Separate`]: `b_enc`, `b_dec` as they are,
//!   `apply_b_dec_to_input = false`.
//! - [`BiasMode::PreCentering`] (`z = (x − b_pre) Wᵀ`, `x̂ = h M + b_pre`):
//!   `b_dec = b_pre`, `b_enc = 0` (the mode has no encoder bias),
//!   `apply_b_dec_to_input = true`.
//! - [`BiasMode::None`]: zero biases, `apply_b_dec_to_input = false`.
//! - [`BiasMode::Mirrored`] (`x̂ = (h − b_enc) M`): the decoder is affine
//!   in `h`, so `x̂ = h M + b_dec` with `b_dec = −b_enc M` (summed in f64),
//!   `apply_b_dec_to_input = false`; exact up to that rounding.
//!
//! Activations: [`Activation::Relu`] is `standard`, [`Activation::TopK`] is
//! `topk` with `k` (`min(k, d_sae)`: tiedae's `k ≥ r` keeps every unit, and
//! `torch.topk` refuses a larger `k`) and `rescale_acts_by_decoder_norm =
//! false`, and [`Activation::BatchTopK`] with its learned threshold `θ` is
//! `jumprelu` with `threshold = θ` on every latent, as SAELens saves a
//! trained BatchTopK SAE (`saes/batchtopk_sae.py`,
//! `process_state_dict_for_saving_inference`); `θ ≥ 0`, so SAELens's
//! `relu(z)·(z > θ)` is tiedae's `z·(z > θ)`. [`Activation::JumpRelu`] is
//! `jumprelu` with its own threshold per latent, `θ = exp(log θ)` in the
//! model's precision, as SAELens saves a trained JumpReLU SAE
//! (`JumpReLUTrainingSAE.process_state_dict_for_saving`,
//! `saes/jumprelu_sae.py`: `threshold = exp(log_threshold)`); `θ > 0`, so
//! that too is `relu(z)·(z > θ)`. What has no SAELens
//! counterpart is refused with one line: stacks, conv pairs, a
//! non-identity output activation, BatchTopK before it has a threshold,
//! the signed TopK kinds (SAELens's TopK always applies its ReLU) and every
//! other activation.
//!
//! `cfg.json` has the fields `SAEConfig` in `sae.py` reads (`d_in`,
//! `d_sae`, `dtype` as the model's precision, `device`,
//! `apply_b_dec_to_input`, `normalize_activations = "none"`,
//! `reshape_activations = "none"`), `architecture`, `k` for `topk`
//! (`TopKSAEConfig`), and `metadata` with `sae_lens_version`:
//! `handle_config_defaulting` (`sae_lens/loading/pretrained_sae_loaders.py`)
//! treats a file without one as a pre-6.0 config and rewrites it. The
//! metadata also holds `tiedae_version`, the tiedae activation's name and,
//! for BatchTopK, its `k` (`tiedae_batch_top_k`), for JumpReLU its
//! training settings (`tiedae_jump_relu_bandwidth`,
//! `tiedae_jump_relu_init_threshold`), which SAELens keeps as plain
//! metadata and the import reads back.
//!
//! Import builds an untied model ([`Dense`] pair) from `standard`, `topk`
//! and `jumprelu`. `apply_b_dec_to_input = true` with `b_enc = 0` is
//! [`BiasMode::PreCentering`] with `b_pre = b_dec`, bit for bit; with a
//! nonzero `b_enc` it is [`BiasMode::Separate`] with the shift folded into
//! the encoder bias (`b_enc − b_dec W_enc`, in f64); `false` is
//! [`BiasMode::Separate`]. A `topk` SAE with
//! `rescale_acts_by_decoder_norm` has the decoder norms folded in (encoder
//! columns and `b_enc` times `‖W_dec row‖`, decoder rows divided by it),
//! which gives SAELens's codes and reconstructions. A `jumprelu` SAE whose
//! threshold is one constant `θ > 0` is [`Activation::BatchTopK`] with that
//! threshold (its `k` from the metadata when tiedae wrote it, else
//! `d_sae`: the threshold alone decides evaluation, `k` only matters to
//! further training); `θ ≤ 0` makes it a plain ReLU. A `jumprelu` SAE
//! whose thresholds differ per latent, or one tiedae wrote from a JumpReLU
//! (its metadata has `tiedae_jump_relu_bandwidth`), is
//! [`Activation::JumpRelu`] with `log θ` taken in f64 (so an export and
//! import keep `θ` up to the rounding of `log` and `exp`), the bandwidth
//! and initial threshold from the metadata or SAELens's defaults.
//! Refused: other architectures, per-latent thresholds of which some are
//! `≤ 0` (JumpReLU stores `log θ`), `normalize_activations` other than
//! `"none"` (fold the scaling into the weights first), a pre-6.0
//! activation other than `relu`, tensors missing, extra or of the wrong
//! shape or dtype (float32 and float64 are read, into either precision),
//! and non-finite values. `reshape_activations = "hook_z"` is accepted:
//! it only flattens attention heads, and tiedae's rows are already flat.
//!
//! The peer file for the safetensors side is [`super::safetensors`];
//! `scripts/saelens_check.py` runs an export with SAELens itself, or with
//! NumPy following SAELens's source, and `tests/saelens.rs` compares.

use super::activation::{
    Activation, JUMP_RELU_BANDWIDTH, JUMP_RELU_INIT_THRESHOLD, OutputActivation,
};
use super::autoencoder::Autoencoder;
use super::bias::{BiasMode, Biases};
use super::dense::Dense;
use super::layer::Layer;
use super::safetensors::{dtype, matrix_bytes, vector_bytes};
use super::spec::AutoencoderSpec;
use crate::atomic::write_bytes_atomic;
use crate::error::{Error, Result};
use crate::real::Real;
use ::safetensors::tensor::{Dtype, SafeTensors, TensorView};
use nalgebra::{DMatrix, DVector};
use serde_json::{Map, Value, json};
use std::path::Path;

/// SAELens's config file name (`SAE_CFG_FILENAME`, `sae_lens/constants.py`).
pub const CFG_FILE: &str = "cfg.json";

/// SAELens's weights file name (`SAE_WEIGHTS_FILENAME`,
/// `sae_lens/constants.py`).
pub const WEIGHTS_FILE: &str = "sae_weights.safetensors";

/// The `sae_lens_version` written to the metadata: the config format this
/// module follows, and at least `6.0.0-rc.0`, below which SAELens rewrites
/// a config as a pre-6.0 one.
pub const SAELENS_VERSION: &str = "6.0.0";

/// An export's two files, as bytes.
#[derive(Clone, Debug, PartialEq)]
pub struct SaeLensFiles {
    /// `cfg.json`.
    pub cfg: Vec<u8>,
    /// `sae_weights.safetensors`.
    pub weights: Vec<u8>,
}

/// The SAELens architecture a model maps onto.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Architecture {
    Standard,
    TopK {
        k: usize,
    },
    /// BatchTopK's threshold on every latent; `k` is tiedae's, kept in the
    /// metadata.
    JumpRelu {
        threshold: f64,
        k: usize,
    },
    /// A JumpReLU latent's own threshold per latent; its training
    /// settings are kept in the metadata.
    JumpReluLearned {
        bandwidth: f64,
        init_threshold: f64,
    },
}

fn refuse(reason: impl Into<String>) -> Error {
    Error::config("saelens", reason)
}

fn bad(what: impl std::fmt::Display) -> Error {
    Error::InvalidData(format!("SAELens SAE: {what}"))
}

/// SAELens's `b_enc`, `b_dec` and `apply_b_dec_to_input` for `layer`, whose
/// decoder matrix in SAELens's orientation is `w_dec` (`d_sae × d_in`):
/// each bias mode as the [module docs](self) map it, a mirrored pair's
/// decoder bias `−b_enc M` summed in f64.
fn saelens_biases<T: Real>(layer: &Layer<T>, w_dec: &DMatrix<T>) -> (DVector<T>, DVector<T>, bool) {
    let (d, r) = (layer.input_dim(), layer.output_dim());
    match layer.biases() {
        Biases::None => (DVector::zeros(r), DVector::zeros(d), false),
        Biases::Separate { enc, dec } => (enc.clone(), dec.clone(), false),
        Biases::PreCentering { pre } => (DVector::zeros(r), pre.clone(), true),
        Biases::Mirrored { enc } => {
            let dec = DVector::from_fn(d, |j, _| {
                let s: f64 = (0..r).map(|i| enc[i].f64() * w_dec[(i, j)].f64()).sum();
                T::of(-s)
            });
            (enc.clone(), dec, false)
        }
    }
}

/// The `architecture` of an SAELens config (`standard` when absent, as
/// SAELens defaults it), one of those tiedae reads.
fn cfg_architecture(cfg: &Map<String, Value>) -> Result<&str> {
    let arch = match cfg.get("architecture") {
        None => "standard",
        Some(Value::String(s)) => s.as_str(),
        Some(other) => return Err(bad(format_args!("architecture is {other}"))),
    };
    if !matches!(arch, "standard" | "topk" | "jumprelu") {
        return Err(bad(format_args!(
            "architecture {arch:?} has no tiedae form: tiedae reads standard, topk and jumprelu"
        )));
    }
    Ok(arch)
}

/// Refuses what an SAELens config does to the rows before encoding that
/// tiedae does not: a pre-6.0 activation other than `relu`, a
/// normalisation, a reshape other than flattening attention heads.
fn check_cfg_preprocessing(cfg: &Map<String, Value>) -> Result<()> {
    for key in ["activation_fn", "activation_fn_str"] {
        match cfg.get(key) {
            None | Some(Value::Null) => {}
            Some(Value::String(s)) if s == "relu" => {}
            Some(other) => {
                return Err(bad(format_args!(
                    "{key} {other} (a pre-6.0 config) has no tiedae form: only relu maps"
                )));
            }
        }
    }
    match cfg.get("normalize_activations") {
        None | Some(Value::Bool(false)) => {}
        Some(Value::String(s)) if s == "none" => {}
        Some(other) => {
            return Err(bad(format_args!(
                "normalize_activations {other}: tiedae takes rows as they are; fold the scaling into the weights first"
            )));
        }
    }
    match cfg.get("reshape_activations") {
        None => {}
        Some(Value::String(s)) if s == "none" || s == "hook_z" => {}
        Some(other) => return Err(bad(format_args!("reshape_activations {other}"))),
    }
    Ok(())
}

/// An SAELens file's tensors in f64, row-major in SAELens's orientation.
struct SaeTensors {
    /// `d_in × d_sae`: `W_enc[j][i]` at `j·r + i`.
    w_enc: Vec<f64>,
    /// `d_sae × d_in`: `W_dec[i][j]` at `i·d + j`.
    w_dec: Vec<f64>,
    b_enc: Vec<f64>,
    b_dec: Vec<f64>,
    /// The per-latent threshold, for `jumprelu` only.
    threshold: Option<Vec<f64>>,
}

/// The tensors an `arch` SAE of `d` inputs and `r` latents has, read from
/// the safetensors bytes `weights`: each present, of its shape, float32 or
/// float64 and finite, and no other tensor in the file.
fn read_tensors(weights: &[u8], arch: &str, d: usize, r: usize) -> Result<SaeTensors> {
    let file =
        SafeTensors::deserialize(weights).map_err(|e| bad(format_args!("{WEIGHTS_FILE}: {e}")))?;
    let mut used = 0usize;
    let mut take = |name: &str, shape: &[usize]| -> Result<Vec<f64>> {
        let t = file
            .tensor(name)
            .map_err(|_| bad(format_args!("{WEIGHTS_FILE}: tensor {name} is missing")))?;
        if t.shape() != shape {
            return Err(bad(format_args!(
                "tensor {name} has shape {:?}, d_in and d_sae say {shape:?}",
                t.shape()
            )));
        }
        let values: Vec<f64> = match t.dtype() {
            Dtype::F32 => t
                .data()
                .chunks_exact(4)
                .map(|c| f64::from(f32::from_le_bytes([c[0], c[1], c[2], c[3]])))
                .collect(),
            Dtype::F64 => t
                .data()
                .chunks_exact(8)
                .map(|c| f64::from_le_bytes(c.try_into().unwrap_or([0; 8])))
                .collect(),
            other => {
                return Err(bad(format_args!(
                    "tensor {name} holds {other:?} values; tiedae reads float32 and float64"
                )));
            }
        };
        if let Some(i) = values.iter().position(|v| !v.is_finite()) {
            return Err(bad(format_args!("{name}[{i}] is not finite")));
        }
        used += 1;
        Ok(values)
    };
    // Row-major: W_enc[j][i] at j·r + i, W_dec[i][j] at i·d + j.
    let w_enc = take("W_enc", &[d, r])?;
    let w_dec = take("W_dec", &[r, d])?;
    let b_enc = take("b_enc", &[r])?;
    let b_dec = take("b_dec", &[d])?;
    let threshold = if arch == "jumprelu" {
        Some(take("threshold", &[r])?)
    } else {
        None
    };
    if used != file.len() {
        return Err(bad(format_args!(
            "{WEIGHTS_FILE} has {} tensors, a {arch} SAE has {used}",
            file.len()
        )));
    }
    Ok(SaeTensors {
        w_enc,
        w_dec,
        b_enc,
        b_dec,
        threshold,
    })
}

/// Folds a `topk` SAE's `rescale_acts_by_decoder_norm` into the weights:
/// encoder column `i` and `b_enc[i]` times `‖W_dec row i‖`, the row divided
/// by it (layouts as in [`SaeTensors`]).
fn fold_decoder_norms(
    w_enc: &mut [f64],
    w_dec: &mut [f64],
    b_enc: &mut [f64],
    d: usize,
    r: usize,
) -> Result<()> {
    // SAELens scales the pre-activations by ‖W_dec row i‖ and the
    // codes back by its inverse before decoding (`TopKSAE.encode`,
    // `_act_times_W_dec` in `saes/topk_sae.py`): the same map with
    // the norms folded into the weights.
    for (i, be) in b_enc.iter_mut().enumerate() {
        let row = &mut w_dec[i * d..(i + 1) * d];
        let n = row.iter().map(|v| v * v).sum::<f64>().sqrt();
        if n == 0.0 {
            return Err(bad(format_args!(
                "W_dec row {i} is zero and rescale_acts_by_decoder_norm divides by its norm"
            )));
        }
        for v in row.iter_mut() {
            *v /= n;
        }
        for j in 0..d {
            w_enc[j * r + i] *= n;
        }
        *be *= n;
    }
    Ok(())
}

/// The tiedae activation of an `arch` SAE with `r` latents and, for
/// `jumprelu`, the thresholds `threshold` (see the [module docs](self)).
fn import_activation(
    cfg: &Map<String, Value>,
    arch: &str,
    threshold: Option<&[f64]>,
    r: usize,
) -> Result<Activation> {
    let activation = match (arch, threshold) {
        ("topk", _) => {
            let k = match cfg.get("k") {
                None => 100,
                Some(v) => v
                    .as_u64()
                    .and_then(|k| usize::try_from(k).ok())
                    .filter(|&k| k >= 1)
                    .ok_or_else(|| bad(format_args!("k is {v}, not a positive integer")))?,
            };
            if k > r {
                return Err(bad(format_args!(
                    "k = {k} exceeds d_sae = {r} (torch.topk refuses it)"
                )));
            }
            Activation::TopK { k }
        }
        ("jumprelu", Some(t)) => {
            let theta = t[0];
            let meta = |key: &str| {
                cfg.get("metadata")
                    .and_then(|m| m.get(key))
                    .and_then(Value::as_f64)
            };
            let bandwidth = meta("tiedae_jump_relu_bandwidth");
            if bandwidth.is_some() || t.iter().any(|&v| v != theta) {
                // Per-latent thresholds: a JumpReLU, which stores log θ.
                if let Some(i) = t.iter().position(|&v| v <= 0.0) {
                    return Err(bad(format_args!(
                        "threshold[{i}] = {} is not positive: per-latent thresholds are a tiedae JumpReLU, which stores log θ",
                        t[i]
                    )));
                }
                Activation::JumpRelu {
                    bandwidth: bandwidth.unwrap_or(JUMP_RELU_BANDWIDTH),
                    init_threshold: meta("tiedae_jump_relu_init_threshold")
                        .unwrap_or(JUMP_RELU_INIT_THRESHOLD),
                }
            } else if theta > 0.0 {
                let k = cfg
                    .get("metadata")
                    .and_then(|m| m.get("tiedae_batch_top_k"))
                    .and_then(Value::as_u64)
                    .and_then(|k| usize::try_from(k).ok())
                    .filter(|&k| k >= 1)
                    .unwrap_or(r);
                Activation::BatchTopK { k }
            } else {
                // relu(z)·(z > relu(θ)) with relu(θ) = 0 is relu(z).
                Activation::Relu
            }
        }
        _ => Activation::Relu,
    };
    Ok(activation)
}

/// The biases of the imported pair: SAELens's `b_enc`, `b_dec` as they
/// are, as pre-centering when `apply_b_dec_to_input` with a zero `b_enc`,
/// or with the input shift folded into the encoder bias (in f64).
fn import_biases<T: Real>(
    apply: bool,
    w_enc: &[f64],
    b_enc: &[f64],
    b_dec: &[f64],
    d: usize,
    r: usize,
) -> Result<Biases<T>> {
    let vector = |v: &[f64]| DVector::from_iterator(v.len(), v.iter().map(|&x| T::of(x)));
    let biases = if !apply {
        Biases::Separate {
            enc: vector(b_enc),
            dec: vector(b_dec),
        }
    } else if b_enc.iter().all(|&v| v == 0.0) {
        Biases::PreCentering { pre: vector(b_dec) }
    } else {
        // (x − b_dec) W_enc + b_enc = x W_enc + (b_enc − b_dec W_enc).
        let shifted: Vec<f64> = (0..r)
            .map(|i| b_enc[i] - (0..d).map(|j| b_dec[j] * w_enc[j * r + i]).sum::<f64>())
            .collect();
        if let Some(i) = shifted.iter().position(|v| !v.is_finite()) {
            return Err(bad(format_args!(
                "b_enc − b_dec W_enc overflows at latent {i}"
            )));
        }
        Biases::Separate {
            enc: vector(&shifted),
            dec: vector(b_dec),
        }
    };
    Ok(biases)
}

impl<T: Real> Autoencoder<T> {
    /// The model as SAELens's `cfg.json` and `sae_weights.safetensors` (see
    /// the [module docs](self)).
    ///
    /// # Errors
    /// [`Error::Config`] with one line for what SAELens has no form for:
    /// more than one pair, conv, an output activation other than the
    /// identity, an activation other than ReLU, TopK, JumpReLU, or BatchTopK
    /// with a learned threshold; [`Error::Render`] if serialization fails.
    pub fn to_saelens(&self) -> Result<SaeLensFiles> {
        let arch = self.saelens_architecture()?;
        let layer = &self.layers()[0];
        let (d, r) = (layer.input_dim(), layer.output_dim());
        let act = self.latent_activation();
        // SAELens's W_dec (d_sae × d_in) is the matrix tiedae decodes with,
        // `M` (the decoder weight's transpose; `W` for a tied pair).
        let w_dec = layer.decoder_weight().transpose();
        let w_enc = layer.encoder_weight().transpose();
        let (b_enc, b_dec, apply) = saelens_biases(layer, &w_dec);
        let mut tensors: Vec<(&str, Vec<usize>, Vec<u8>)> = vec![
            ("W_enc", vec![d, r], matrix_bytes(&w_enc)),
            ("W_dec", vec![r, d], matrix_bytes(&w_dec)),
            ("b_enc", vec![r], vector_bytes(&b_enc)),
            ("b_dec", vec![d], vector_bytes(&b_dec)),
        ];
        let mut metadata = json!({
            "sae_lens_version": SAELENS_VERSION,
            "sae_lens_training_version": SAELENS_VERSION,
            "tiedae_version": env!("CARGO_PKG_VERSION"),
            "tiedae_activation": act.name(),
        });
        let precision = if T::NAME == "f32" {
            "float32"
        } else {
            "float64"
        };
        let mut cfg = json!({
            "d_in": d,
            "d_sae": r,
            "dtype": precision,
            "device": "cpu",
            "apply_b_dec_to_input": apply,
            "normalize_activations": "none",
            "reshape_activations": "none",
        });
        let name = match arch {
            Architecture::Standard => "standard",
            Architecture::TopK { k } => {
                cfg["k"] = json!(k);
                cfg["rescale_acts_by_decoder_norm"] = json!(false);
                "topk"
            }
            Architecture::JumpRelu { threshold, k } => {
                let t = DVector::from_element(r, T::of(threshold));
                tensors.push(("threshold", vec![r], vector_bytes(&t)));
                metadata["tiedae_batch_top_k"] = json!(k);
                "jumprelu"
            }
            Architecture::JumpReluLearned {
                bandwidth,
                init_threshold,
            } => {
                let t = DVector::from_vec(self.jump_relu_threshold().unwrap_or_default());
                tensors.push(("threshold", vec![r], vector_bytes(&t)));
                metadata["tiedae_jump_relu_bandwidth"] = json!(bandwidth);
                metadata["tiedae_jump_relu_init_threshold"] = json!(init_threshold);
                "jumprelu"
            }
        };
        cfg["architecture"] = json!(name);
        cfg["metadata"] = metadata;
        let cfg =
            serde_json::to_vec_pretty(&cfg).map_err(|e| Error::Render(format!("cfg.json: {e}")))?;
        let views = tensors
            .iter()
            .map(|(name, shape, data)| {
                TensorView::new(dtype::<T>(), shape.clone(), data)
                    .map(|v| (name.to_string(), v))
                    .map_err(|e| Error::Render(format!("tensor {name}: {e}")))
            })
            .collect::<Result<Vec<_>>>()?;
        let weights = ::safetensors::tensor::serialize(views, None)
            .map_err(|e| Error::Render(format!("safetensors: {e}")))?;
        Ok(SaeLensFiles { cfg, weights })
    }

    /// The SAELens architecture the model maps onto (see the
    /// [module docs](self)), or the one line saying why there is none.
    fn saelens_architecture(&self) -> Result<Architecture> {
        let spec = self.spec();
        if spec.conv.is_some() {
            return Err(refuse(
                "conv pairs have no SAELens form: an SAE is one dense W_enc/W_dec pair",
            ));
        }
        if self.layers().len() != 1 {
            return Err(refuse(format!(
                "a stack of {} pairs has no SAELens form: an SAE is one pair",
                self.layers().len()
            )));
        }
        if spec.output != OutputActivation::Identity {
            return Err(refuse(format!(
                "output activation {:?} has no SAELens form: SAELens decodes affinely",
                spec.output
            )));
        }
        let r = self.layers()[0].output_dim();
        let act = self.latent_activation();
        let arch = match act {
            Activation::Relu => Architecture::Standard,
            Activation::TopK { k } => Architecture::TopK { k: k.min(r) },
            Activation::BatchTopK { k } => match self.batch_top_k_thresholds()[0] {
                Some(threshold) => Architecture::JumpRelu { threshold, k },
                None => {
                    return Err(refuse(format!(
                        "{} has no learned threshold yet (train it first): SAELens runs BatchTopK as JumpReLU with that threshold",
                        act.name()
                    )));
                }
            },
            Activation::JumpRelu {
                bandwidth,
                init_threshold,
            } => Architecture::JumpReluLearned {
                bandwidth,
                init_threshold,
            },
            other => {
                return Err(refuse(format!(
                    "activation {} has no SAELens form: SAELens has ReLU (standard), TopK with a ReLU (topk) and JumpReLU",
                    other.name()
                )));
            }
        };
        Ok(arch)
    }

    /// Writes [`Autoencoder::to_saelens`] into the directory `dir` (created
    /// if missing), each file atomically.
    ///
    /// # Errors
    /// As [`Autoencoder::to_saelens`], and [`Error::Io`] naming the path.
    pub fn save_saelens(&self, dir: impl AsRef<Path>) -> Result<()> {
        let dir = dir.as_ref();
        let files = self.to_saelens()?;
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        write_bytes_atomic(&dir.join(WEIGHTS_FILE), &files.weights)?;
        write_bytes_atomic(&dir.join(CFG_FILE), &files.cfg)
    }

    /// An untied one-pair model from SAELens's `cfg.json` and
    /// `sae_weights.safetensors` bytes (see the [module docs](self) for
    /// what maps and how).
    ///
    /// # Errors
    /// [`Error::InvalidData`] with one line naming what cannot map or is
    /// malformed.
    pub fn from_saelens(cfg: &[u8], weights: &[u8]) -> Result<Self> {
        let cfg: Value =
            serde_json::from_slice(cfg).map_err(|e| bad(format_args!("{CFG_FILE}: {e}")))?;
        let cfg = cfg
            .as_object()
            .ok_or_else(|| bad(format_args!("{CFG_FILE} is not a JSON object")))?;
        let arch = cfg_architecture(cfg)?;
        check_cfg_preprocessing(cfg)?;
        let size = |key: &str| -> Result<usize> {
            cfg.get(key)
                .and_then(Value::as_u64)
                .filter(|&v| v >= 1)
                .and_then(|v| usize::try_from(v).ok())
                .ok_or_else(|| bad(format_args!("{CFG_FILE}: {key} must be a positive integer")))
        };
        let (d, r) = (size("d_in")?, size("d_sae")?);
        let apply = match cfg.get("apply_b_dec_to_input") {
            None => true,
            Some(Value::Bool(b)) => *b,
            Some(other) => {
                return Err(bad(format_args!(
                    "apply_b_dec_to_input is {other}, not true or false"
                )));
            }
        };
        let bool_field = |key: &str| -> Result<bool> {
            match cfg.get(key) {
                None | Some(Value::Null) => Ok(false),
                Some(Value::Bool(b)) => Ok(*b),
                Some(other) => Err(bad(format_args!("{key} is {other}, not true or false"))),
            }
        };
        let rescale = arch == "topk" && bool_field("rescale_acts_by_decoder_norm")?;

        let SaeTensors {
            mut w_enc,
            mut w_dec,
            mut b_enc,
            b_dec,
            threshold,
        } = read_tensors(weights, arch, d, r)?;
        if rescale {
            fold_decoder_norms(&mut w_enc, &mut w_dec, &mut b_enc, d, r)?;
        }
        let activation = import_activation(cfg, arch, threshold.as_deref(), r)?;
        let encoder = DMatrix::from_fn(r, d, |i, j| T::of(w_enc[j * r + i]));
        let decoder = DMatrix::from_fn(d, r, |j, i| T::of(w_dec[i * d + j]));
        let biases = import_biases::<T>(apply, &w_enc, &b_enc, &b_dec, d, r)?;
        let mode: BiasMode = biases.mode();
        let spec = AutoencoderSpec::new(&[d, r])
            .tied(false)
            .activation(activation)
            .bias(mode);
        let pair = Dense::new(encoder, decoder, biases)?;
        let mut model = Autoencoder::from_layers(spec, vec![Layer::Dense(pair)])?;
        if let (Activation::BatchTopK { .. }, Some(t)) = (activation, &threshold) {
            model.set_batch_top_k_threshold(0, Some(t[0]))?;
        }
        if let (Activation::JumpRelu { .. }, Some(t)) = (activation, &threshold) {
            model.set_jump_relu_threshold(t)?;
        }
        if let Some(k) = model.params_to_vec().iter().position(|v| !v.is_finite()) {
            return Err(bad(format_args!(
                "{} is not finite in {}",
                model.describe_param(k),
                T::NAME
            )));
        }
        Ok(model)
    }

    /// Reads a directory written by [`Autoencoder::save_saelens`] or by
    /// SAELens's `save_model`.
    ///
    /// # Errors
    /// [`Error::Io`] naming the path (anything but a regular file is
    /// refused, see [`crate::data::file`]), then as
    /// [`Autoencoder::from_saelens`], the message prefixed with `dir`.
    pub fn load_saelens(dir: impl AsRef<Path>) -> Result<Self> {
        let dir = dir.as_ref();
        let cfg = crate::data::file::read_regular(&dir.join(CFG_FILE))?;
        let weights = crate::data::file::read_regular(&dir.join(WEIGHTS_FILE))?;
        Self::from_saelens(&cfg, &weights).map_err(|e| match e {
            Error::InvalidData(m) => Error::InvalidData(format!("{}: {m}", dir.display())),
            other => other,
        })
    }
}
