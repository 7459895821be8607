//! Export of trained models as safetensors, the tensor file format PyTorch
//! and the Hugging Face libraries load without running code.
//!
//! Tensor names follow PyTorch's `nn.Linear` layout (`weight` is
//! `out × in`, row-major), pair `l` counted from the input side:
//!
//! | tensor | shape | when |
//! | --- | --- | --- |
//! | `pairs.{l}.weight` | `r × d` | tied pair: encoder `W`; the decoder uses `Wᵀ` |
//! | `pairs.{l}.encoder.weight` | `r × d` | untied pair |
//! | `pairs.{l}.decoder.weight` | `d × r` | untied pair |
//! | `pairs.{l}.encoder.bias` | `r` | `separate` and `mirrored` bias modes |
//! | `pairs.{l}.decoder.bias` | `d` | `separate` bias mode |
//! | `pairs.{l}.pre_bias` | `d` | `pre_centering` bias mode |
//! | `pairs.{l}.log_threshold` | `r` | the latent pair of a JumpReLU: `log θ` |
//!
//! The file's metadata holds `format` (`tiedae-autoencoder`), the tiedae
//! version, and `spec`: the [`AutoencoderSpec`] as JSON (activations, bias
//! mode, tying), which says how to run the tensors. In PyTorch, with `x` of
//! shape `n × d`, a tied pair with separate biases encodes as
//! `z = x @ W.T + b_enc` and decodes as `v = h @ W + b_dec`; see
//! [`super::BiasMode`] for the other modes. Pairs run outermost first
//! when encoding and back in reverse when decoding.
//!
//! A model with a learned BatchTopK threshold (see
//! [`Autoencoder::batch_top_k_thresholds`]) also has
//! `batch_top_k_thresholds` in its metadata: a JSON list with one entry per
//! pair, a number or `null`. Where a pair has one, its code at evaluation is
//! `z` where `z > threshold` and 0 elsewhere, row by row.
//!
//! A JumpReLU latent (see [`Autoencoder::jump_relu_threshold`]) stores its
//! parameter, `log θ`, one per latent; its code is `z` where
//! `z > exp(log_threshold)` (column by column) and 0 elsewhere.
//!
//! Values are stored in the model's precision (`F32` or `F64`),
//! little-endian, so a round trip is bit for bit. Conv pairs are not
//! exported: their kernels need the geometry that only the spec carries,
//! and no PyTorch layer reads them as they are.

use super::autoencoder::Autoencoder;
use super::bias::Biases;
use super::dense::Dense;
use super::layer::Layer;
use super::spec::AutoencoderSpec;
use super::tied::TiedLinear;
use crate::atomic::write_bytes_atomic;
use crate::error::{Error, Result};
use crate::real::Real;
use ::safetensors::tensor::{Dtype, SafeTensors, TensorView};
use nalgebra::{DMatrix, DVector};
use std::collections::HashMap;
use std::path::Path;

/// The `format` metadata value of a tiedae model file.
pub const FORMAT: &str = "tiedae-autoencoder";

pub(super) fn dtype<T: Real>() -> Dtype {
    if T::NAME == "f32" {
        Dtype::F32
    } else {
        Dtype::F64
    }
}

/// Appends `x` little-endian in the model's own width (an `f32` widened to
/// `f64` and back is exact, so this is lossless).
fn push_value<T: Real>(out: &mut Vec<u8>, x: T) {
    if T::NAME == "f32" {
        out.extend((x.f64() as f32).to_le_bytes());
    } else {
        out.extend(x.f64().to_le_bytes());
    }
}

/// The inverse of [`push_value`] for one chunk of `size_of::<T>()` bytes.
fn read_value<T: Real>(chunk: &[u8]) -> T {
    match <[u8; 4]>::try_from(chunk) {
        Ok(b) => T::of(f64::from(f32::from_le_bytes(b))),
        Err(_) => T::of(f64::from_le_bytes(chunk.try_into().unwrap_or([0; 8]))),
    }
}

/// A matrix's entries in row-major order, little-endian.
pub(super) fn matrix_bytes<T: Real>(m: &DMatrix<T>) -> Vec<u8> {
    let mut out = Vec::with_capacity(m.len() * std::mem::size_of::<T>());
    for i in 0..m.nrows() {
        for j in 0..m.ncols() {
            push_value(&mut out, m[(i, j)]);
        }
    }
    out
}

pub(super) fn vector_bytes<T: Real>(v: &DVector<T>) -> Vec<u8> {
    let mut out = Vec::with_capacity(v.len() * std::mem::size_of::<T>());
    for &x in v.iter() {
        push_value(&mut out, x);
    }
    out
}

/// A malformed or foreign file, said in one line.
fn bad(what: String) -> Error {
    Error::InvalidData(format!("safetensors model: {what}"))
}

/// The model spec a tiedae file's metadata `info` carries, checked: the
/// format is tiedae's, the spec parses and is valid, and it has no conv
/// pairs (not part of the format).
fn spec_of(info: &HashMap<String, String>) -> Result<AutoencoderSpec> {
    if info.get("format").map(String::as_str) != Some(FORMAT) {
        return Err(bad(format!("metadata format is not {FORMAT:?}")));
    }
    let spec: AutoencoderSpec = serde_json::from_str(
        info.get("spec")
            .ok_or_else(|| bad("metadata has no spec".into()))?,
    )
    .map_err(|e| bad(format!("spec: {e}")))?;
    spec.validate()?;
    if spec.conv.is_some() {
        return Err(bad("conv pairs are not part of the format".into()));
    }
    Ok(spec)
}

impl<T: Real> Autoencoder<T> {
    /// The model as a safetensors file (see the [module docs](self) for
    /// the tensor names).
    ///
    /// # Errors
    /// [`Error::Config`] for a model with conv pairs; [`Error::Render`] if
    /// the spec cannot be serialized (it always can).
    pub fn to_safetensors(&self) -> Result<Vec<u8>> {
        if self.spec().conv.is_some() {
            return Err(Error::config(
                "safetensors",
                "conv pairs are not exported: only dense models map onto PyTorch's Linear layout",
            ));
        }
        let mut tensors: Vec<(String, Vec<usize>, Vec<u8>)> = Vec::new();
        for (l, layer) in self.layers().iter().enumerate() {
            let w = layer.encoder_weight();
            let (r, d) = w.shape();
            match layer {
                Layer::Tied(_) => {
                    tensors.push((format!("pairs.{l}.weight"), vec![r, d], matrix_bytes(w)))
                }
                Layer::Dense(_) => {
                    tensors.push((
                        format!("pairs.{l}.encoder.weight"),
                        vec![r, d],
                        matrix_bytes(w),
                    ));
                    tensors.push((
                        format!("pairs.{l}.decoder.weight"),
                        vec![d, r],
                        matrix_bytes(&layer.decoder_weight()),
                    ));
                }
            }
            match layer.biases() {
                Biases::None => {}
                Biases::Separate { enc, dec } => {
                    tensors.push((
                        format!("pairs.{l}.encoder.bias"),
                        vec![r],
                        vector_bytes(enc),
                    ));
                    tensors.push((
                        format!("pairs.{l}.decoder.bias"),
                        vec![d],
                        vector_bytes(dec),
                    ));
                }
                Biases::Mirrored { enc } => tensors.push((
                    format!("pairs.{l}.encoder.bias"),
                    vec![r],
                    vector_bytes(enc),
                )),
                Biases::PreCentering { pre } => {
                    tensors.push((format!("pairs.{l}.pre_bias"), vec![d], vector_bytes(pre)))
                }
            }
        }
        if let Some(logs) = self.jump_relu_log_threshold() {
            let last = self.layers().len() - 1;
            tensors.push((
                format!("pairs.{last}.log_threshold"),
                vec![logs.len()],
                vector_bytes(&DVector::from_column_slice(logs)),
            ));
        }
        let spec = serde_json::to_string(self.spec())
            .map_err(|e| Error::Render(format!("model spec: {e}")))?;
        let mut metadata = HashMap::from([
            ("format".to_string(), FORMAT.to_string()),
            (
                "tiedae_version".to_string(),
                env!("CARGO_PKG_VERSION").to_string(),
            ),
            ("spec".to_string(), spec),
        ]);
        let thresholds = super::file::stored_thresholds(self);
        if !thresholds.is_empty() {
            let json = serde_json::to_string(&thresholds)
                .map_err(|e| Error::Render(format!("thresholds: {e}")))?;
            metadata.insert("batch_top_k_thresholds".to_string(), json);
        }
        let views = tensors
            .iter()
            .map(|(name, shape, data)| {
                TensorView::new(dtype::<T>(), shape.clone(), data)
                    .map(|v| (name.clone(), v))
                    .map_err(|e| Error::Render(format!("tensor {name}: {e}")))
            })
            .collect::<Result<Vec<_>>>()?;
        ::safetensors::tensor::serialize(views, Some(metadata))
            .map_err(|e| Error::Render(format!("safetensors: {e}")))
    }

    /// Writes [`Autoencoder::to_safetensors`] to `path` atomically.
    ///
    /// # Errors
    /// As [`Autoencoder::to_safetensors`], and [`Error::Io`] naming the path.
    pub fn save_safetensors(&self, path: impl AsRef<Path>) -> Result<()> {
        write_bytes_atomic(path.as_ref(), &self.to_safetensors()?)
    }

    /// Reads a model written by [`Autoencoder::to_safetensors`].
    ///
    /// # Errors
    /// [`Error::InvalidData`] naming what is wrong: not a safetensors file,
    /// not a tiedae model, a missing or extra tensor, a tensor of the wrong
    /// shape or precision, non-finite weights.
    pub fn from_safetensors(bytes: &[u8]) -> Result<Self> {
        let (_, meta) = SafeTensors::read_metadata(bytes).map_err(|e| bad(e.to_string()))?;
        let info = meta
            .metadata()
            .as_ref()
            .ok_or_else(|| bad("no metadata: not written by tiedae".into()))?;
        let spec = spec_of(info)?;
        let file = SafeTensors::deserialize(bytes).map_err(|e| bad(e.to_string()))?;
        let mut used = 0usize;
        let mut take = |name: String, shape: &[usize]| -> Result<Vec<T>> {
            let t = file
                .tensor(&name)
                .map_err(|_| bad(format!("tensor {name} is missing")))?;
            if t.dtype() != dtype::<T>() {
                return Err(bad(format!(
                    "tensor {name} holds {} values, the model is {}",
                    format!("{:?}", t.dtype()).to_lowercase(),
                    T::NAME
                )));
            }
            if t.shape() != shape {
                return Err(bad(format!(
                    "tensor {name} has shape {:?}, expected {shape:?}",
                    t.shape()
                )));
            }
            used += 1;
            let size = std::mem::size_of::<T>();
            Ok(t.data().chunks_exact(size).map(read_value::<T>).collect())
        };
        let mut layers = Vec::with_capacity(spec.dims.len() - 1);
        for l in 0..spec.dims.len() - 1 {
            let (d, r) = (spec.dims[l], spec.dims[l + 1]);
            let matrix = |values: Vec<T>, rows, cols| DMatrix::from_row_slice(rows, cols, &values);
            let biases = match spec.bias {
                super::BiasMode::None => Biases::None,
                super::BiasMode::Separate => Biases::Separate {
                    enc: DVector::from_vec(take(format!("pairs.{l}.encoder.bias"), &[r])?),
                    dec: DVector::from_vec(take(format!("pairs.{l}.decoder.bias"), &[d])?),
                },
                super::BiasMode::Mirrored => Biases::Mirrored {
                    enc: DVector::from_vec(take(format!("pairs.{l}.encoder.bias"), &[r])?),
                },
                super::BiasMode::PreCentering => Biases::PreCentering {
                    pre: DVector::from_vec(take(format!("pairs.{l}.pre_bias"), &[d])?),
                },
            };
            let layer = if spec.tied[l] {
                let w = matrix(take(format!("pairs.{l}.weight"), &[r, d])?, r, d);
                Layer::Tied(TiedLinear::new(w, biases)?)
            } else {
                let enc = matrix(take(format!("pairs.{l}.encoder.weight"), &[r, d])?, r, d);
                let dec = matrix(take(format!("pairs.{l}.decoder.weight"), &[d, r])?, d, r);
                Layer::Dense(Dense::new(enc, dec, biases)?)
            };
            layers.push(layer);
        }
        let last = spec.dims.len() - 2;
        let logs = if spec.hidden[last].is_jump_relu() {
            let r = spec.dims[last + 1];
            Some(take(format!("pairs.{last}.log_threshold"), &[r])?)
        } else {
            None
        };
        if used != file.len() {
            let expected = used;
            return Err(bad(format!(
                "{} tensors, the spec names {expected}: not a file of this model",
                file.len()
            )));
        }
        let mut model = Autoencoder::from_layers(spec, layers)?;
        if let Some(logs) = logs {
            // Refuses a non-finite entry as the check below would.
            model
                .set_jump_relu_log_threshold(&logs)
                .map_err(|e| bad(e.to_string()))?;
        }
        if let Some(k) = model.params_to_vec().iter().position(|v| !v.is_finite()) {
            return Err(bad(format!("{} is not finite", model.describe_param(k))));
        }
        if let Some(json) = info.get("batch_top_k_thresholds") {
            let stored: Vec<Option<f64>> = serde_json::from_str(json)
                .map_err(|e| bad(format!("batch_top_k_thresholds: {e}")))?;
            super::file::restore_thresholds(&mut model, &stored)
                .map_err(|e| bad(format!("batch_top_k_thresholds: {e}")))?;
        }
        Ok(model)
    }

    /// Reads [`Autoencoder::save_safetensors`]'s file.
    ///
    /// # Errors
    /// [`Error::Io`] naming the path (anything but a regular file is
    /// refused, see [`crate::data::file`]), then as
    /// [`Autoencoder::from_safetensors`].
    pub fn load_safetensors(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let bytes = crate::data::file::read_regular(path)?;
        Self::from_safetensors(&bytes).map_err(|e| match e {
            Error::InvalidData(m) => Error::InvalidData(format!("{}: {m}", path.display())),
            other => other,
        })
    }
}
