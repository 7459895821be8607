//! Model files: versioned, self-describing JSON, written atomically.
//!
//! ```json
//! {"format":"tiedae-autoencoder","version":1,"scalar":"f32",
//!  "spec":{...},"parameters":50960,
//!  "layers":[{"kind":"tied","weight":{"rows":64,"cols":784,"row_major":[...]},
//!             "biases":{"mode":"separate","encoder":[...],"decoder":[...]}}]}
//! ```
//!
//! Conv pairs (a `conv` entry in the spec) use the same layer kinds: `weight`
//! (tied) or `encoder_weight`/`decoder_weight` (untied) hold the kernel
//! matrices, `C_out x C_in·k_h·k_w` each, and the biases are per channel.
//! Dense model files are unchanged by conv support (the spec omits `conv`).
//!
//! A model with a learned BatchTopK inference threshold (see
//! [`Autoencoder::batch_top_k_thresholds`]) also has
//! `"batch_top_k_thresholds"`: one entry per pair, a number or `null`.
//! Other models' files do not have the field.
//!
//! A model with a JumpReLU latent (see
//! [`Autoencoder::jump_relu_threshold`]) also has
//! `"jump_relu_log_threshold"`: its stored `log θ`, one per latent (the
//! logarithm is the parameter, so keeping it keeps `θ` bit for bit).
//! Other models' files do not have the field.
//!
//! Values are stored as f64 (f32 weights widen exactly) in shortest
//! round-trip form and parsed with correct rounding, so a save/load round
//! trip reproduces every bit. Loading rejects anything it does not fully
//! understand: another format or version, unknown or missing fields, shapes
//! that contradict the spec, non-finite values, another scalar type.

use super::autoencoder::Autoencoder;
use super::bias::Biases;
use super::dense::Dense;
use super::layer::Layer;
use super::spec::AutoencoderSpec;
use super::tied::TiedLinear;
use crate::atomic::write_atomic;
use crate::data::file::read_regular;
use crate::error::{Error, Result};
use crate::real::Real;
use nalgebra::{DMatrix, DVector};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// The `format` field of a model file.
pub const MODEL_FORMAT: &str = "tiedae-autoencoder";
/// The file version this build writes and reads.
pub const MODEL_VERSION: u32 = 1;

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ModelFile {
    format: String,
    version: u32,
    scalar: String,
    spec: AutoencoderSpec,
    parameters: usize,
    layers: Vec<LayerFile>,
    /// Per pair, the learned BatchTopK inference threshold (see
    /// [`Autoencoder::batch_top_k_thresholds`]); absent when no pair has
    /// one, so other models' files are unchanged and older files load.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    batch_top_k_thresholds: Vec<Option<f64>>,
    /// The JumpReLU latent's `log θ` (see
    /// [`Autoencoder::jump_relu_log_threshold`]); absent for other latents.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    jump_relu_log_threshold: Vec<f64>,
}

#[derive(Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
enum LayerFile {
    Tied {
        weight: MatrixFile,
        biases: BiasFile,
    },
    Dense {
        encoder_weight: MatrixFile,
        decoder_weight: MatrixFile,
        biases: BiasFile,
    },
}

#[derive(Serialize, Deserialize)]
#[serde(tag = "mode", rename_all = "snake_case", deny_unknown_fields)]
enum BiasFile {
    // A struct variant (not a unit one) so stray fields are rejected too.
    None {},
    Separate {
        encoder: Vec<f64>,
        decoder: Vec<f64>,
    },
    Mirrored {
        encoder: Vec<f64>,
    },
    PreCentering {
        pre: Vec<f64>,
    },
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct MatrixFile {
    rows: usize,
    cols: usize,
    row_major: Vec<f64>,
}

/// Only the fields that say what the file is, read before anything else so
/// a newer version is reported as such rather than as a field mismatch.
#[derive(Deserialize)]
struct Header {
    format: Option<serde_json::Value>,
    version: Option<serde_json::Value>,
}

fn matrix_file<T: Real>(m: &DMatrix<T>) -> MatrixFile {
    let mut row_major = Vec::with_capacity(m.len());
    for i in 0..m.nrows() {
        for j in 0..m.ncols() {
            row_major.push(m[(i, j)].f64());
        }
    }
    MatrixFile {
        rows: m.nrows(),
        cols: m.ncols(),
        row_major,
    }
}

fn vector_file<T: Real>(v: &DVector<T>) -> Vec<f64> {
    v.iter().map(|x| x.f64()).collect()
}

fn bias_file<T: Real>(b: &Biases<T>) -> BiasFile {
    match b {
        Biases::None => BiasFile::None {},
        Biases::Separate { enc, dec } => BiasFile::Separate {
            encoder: vector_file(enc),
            decoder: vector_file(dec),
        },
        Biases::Mirrored { enc } => BiasFile::Mirrored {
            encoder: vector_file(enc),
        },
        Biases::PreCentering { pre } => BiasFile::PreCentering {
            pre: vector_file(pre),
        },
    }
}

/// Converts stored values, rejecting those that do not fit `T` finitely.
fn values<T: Real>(src: &[f64], what: &str) -> std::result::Result<Vec<T>, String> {
    src.iter()
        .enumerate()
        .map(|(k, &x)| {
            let t = T::of(x);
            if x.is_finite() && t.is_finite() {
                Ok(t)
            } else {
                Err(format!("{what}[{k}] = {x:?} is not a finite {}", T::NAME))
            }
        })
        .collect()
}

fn matrix<T: Real>(
    m: &MatrixFile,
    rows: usize,
    cols: usize,
    what: &str,
) -> std::result::Result<DMatrix<T>, String> {
    if (m.rows, m.cols) != (rows, cols) {
        return Err(format!(
            "{what} is {}x{}, the spec needs {rows}x{cols}",
            m.rows, m.cols
        ));
    }
    // Checked: the shape comes from the file, and the values parsed from
    // it (bounded by its length) must number exactly rows x cols before the
    // matrix is allocated.
    if rows.checked_mul(cols) != Some(m.row_major.len()) {
        return Err(format!(
            "{what} has {} values for {rows}x{cols}",
            m.row_major.len()
        ));
    }
    let v = values::<T>(&m.row_major, what)?;
    Ok(DMatrix::from_row_slice(rows, cols, &v))
}

fn vector<T: Real>(v: &[f64], len: usize, what: &str) -> std::result::Result<DVector<T>, String> {
    if v.len() != len {
        return Err(format!(
            "{what} has {} values, the spec needs {len}",
            v.len()
        ));
    }
    Ok(DVector::from_vec(values::<T>(v, what)?))
}

fn biases<T: Real>(
    b: &BiasFile,
    spec: &AutoencoderSpec,
    d: usize,
    r: usize,
) -> std::result::Result<Biases<T>, String> {
    let out = match b {
        BiasFile::None {} => Biases::None,
        BiasFile::Separate { encoder, decoder } => Biases::Separate {
            enc: vector(encoder, r, "encoder bias")?,
            dec: vector(decoder, d, "decoder bias")?,
        },
        BiasFile::Mirrored { encoder } => Biases::Mirrored {
            enc: vector(encoder, r, "encoder bias")?,
        },
        BiasFile::PreCentering { pre } => Biases::PreCentering {
            pre: vector(pre, d, "pre-centering bias")?,
        },
    };
    if out.mode() != spec.bias {
        return Err(format!(
            "biases are {}, the spec says {}",
            out.mode().name(),
            spec.bias.name()
        ));
    }
    Ok(out)
}

/// The model's BatchTopK thresholds as files store them: one entry per
/// pair, or none at all when no pair has one.
pub(crate) fn stored_thresholds<T: Real>(model: &Autoencoder<T>) -> Vec<Option<f64>> {
    let t = model.batch_top_k_thresholds();
    if t.iter().any(Option::is_some) {
        t.to_vec()
    } else {
        Vec::new()
    }
}

/// Sets the thresholds read from a file (empty: none), checking their count
/// and each value as [`Autoencoder::set_batch_top_k_threshold`] does.
pub(crate) fn restore_thresholds<T: Real>(
    model: &mut Autoencoder<T>,
    stored: &[Option<f64>],
) -> std::result::Result<(), String> {
    if stored.is_empty() {
        return Ok(());
    }
    let pairs = model.layers().len();
    if stored.len() != pairs {
        return Err(format!("{} entries for {pairs} pairs", stored.len()));
    }
    for (l, &t) in stored.iter().enumerate() {
        model
            .set_batch_top_k_threshold(l, t)
            .map_err(|e| format!("pair {l}: {e}"))?;
    }
    Ok(())
}

fn syntax(path: &Path, e: &serde_json::Error) -> Error {
    let location = if e.line() == 0 {
        "file".to_string()
    } else {
        format!("line {}, column {}", e.line(), e.column())
    };
    let reason = if e.is_eof() {
        format!("file ends early (truncated?): {e}")
    } else {
        e.to_string()
    };
    Error::format(path, location, reason)
}

/// Reads the fields that say what the file is before anything else, so
/// that another format or a newer version is reported as such rather
/// than as a field mismatch.
fn check_header(bytes: &[u8], origin: &Path) -> Result<()> {
    let header: Header = serde_json::from_slice(bytes).map_err(|e| syntax(origin, &e))?;
    let fmt = |loc: &str, reason: String| Error::format(origin, loc, reason);
    match header.format {
        Some(serde_json::Value::String(s)) if s == MODEL_FORMAT => {}
        Some(other) => {
            return Err(fmt(
                "format",
                format!("expected \"{MODEL_FORMAT}\", found {other}: not a tiedae model file"),
            ));
        }
        None => {
            return Err(fmt(
                "format",
                "missing field `format`: not a tiedae model file".into(),
            ));
        }
    }
    match header.version {
        Some(serde_json::Value::Number(n)) if n.as_u64() == Some(MODEL_VERSION as u64) => {}
        Some(other) => {
            return Err(fmt(
                "version",
                format!("unsupported version {other}; this build reads version {MODEL_VERSION}"),
            ));
        }
        None => return Err(fmt("version", "missing field `version`".into())),
    }
    Ok(())
}

/// Pair `l` of a model with the validated `spec`, from its file entry
/// `lf`: the kind the spec says, weights and biases of the spec's shapes
/// (a conv pair's kernels and per-channel biases). Errors are located at
/// the pair.
fn layer_from_file<T: Real>(
    lf: &LayerFile,
    l: usize,
    spec: &AutoencoderSpec,
    origin: &Path,
) -> Result<Layer<T>> {
    let fmt = |loc: &str, reason: String| Error::format(origin, loc, reason);
    let (d, r) = (spec.dims[l], spec.dims[l + 1]);
    let loc = format!("layer {l}");
    let geom = spec
        .conv_geometry(l)
        .map_err(|e| fmt("spec", e.to_string()))?;
    // Stored shapes: W (r x d), W_dec (d x r), biases (d, r); for conv
    // pairs both kernels are C_out x C_in·k_h·k_w, biases per channel.
    let (enc_shape, dec_shape, bias_dims) = match &geom {
        Some(g) => (
            g.kernel_shape(),
            g.kernel_shape(),
            (g.input().channels, g.output().channels),
        ),
        None => ((r, d), (d, r), (d, r)),
    };
    let layer = match (lf, spec.tied[l]) {
        (LayerFile::Tied { weight, biases: b }, true) => {
            let w = matrix(weight, enc_shape.0, enc_shape.1, "weight").map_err(|e| fmt(&loc, e))?;
            let b = biases(b, spec, bias_dims.0, bias_dims.1).map_err(|e| fmt(&loc, e))?;
            let pair = match geom {
                Some(g) => TiedLinear::conv_pair(g, w, b),
                None => TiedLinear::new(w, b),
            };
            Layer::Tied(pair.map_err(|e| fmt(&loc, e.to_string()))?)
        }
        (
            LayerFile::Dense {
                encoder_weight,
                decoder_weight,
                biases: b,
            },
            false,
        ) => {
            let we = matrix(encoder_weight, enc_shape.0, enc_shape.1, "encoder_weight")
                .map_err(|e| fmt(&loc, e))?;
            let wd = matrix(decoder_weight, dec_shape.0, dec_shape.1, "decoder_weight")
                .map_err(|e| fmt(&loc, e))?;
            let b = biases(b, spec, bias_dims.0, bias_dims.1).map_err(|e| fmt(&loc, e))?;
            let pair = match geom {
                Some(g) => Dense::conv_pair(g, we, wd, b),
                None => Dense::new(we, wd, b),
            };
            Layer::Dense(pair.map_err(|e| fmt(&loc, e.to_string()))?)
        }
        (_, tied) => {
            return Err(fmt(
                &loc,
                format!(
                    "layer kind contradicts the spec, which says {}",
                    if tied { "tied" } else { "untied" }
                ),
            ));
        }
    };
    Ok(layer)
}

/// Restores a JumpReLU latent's stored `log θ` into `model`; a JumpReLU
/// latent without them and another latent with them are both refused.
fn restore_log_threshold<T: Real>(
    model: &mut Autoencoder<T>,
    logs: &[f64],
    origin: &Path,
) -> Result<()> {
    let fmt = |loc: &str, reason: String| Error::format(origin, loc, reason);
    match (model.latent_activation().is_jump_relu(), logs.is_empty()) {
        (true, true) => {
            return Err(fmt(
                "jump_relu_log_threshold",
                "missing: a JumpReLU latent needs its thresholds".into(),
            ));
        }
        (false, false) => {
            return Err(fmt(
                "jump_relu_log_threshold",
                format!(
                    "the latent activation is {}, which has no thresholds",
                    model.latent_activation().name()
                ),
            ));
        }
        (true, false) => {
            let v = vector::<T>(logs, model.latent_dim(), "jump_relu_log_threshold")
                .map_err(|e| fmt("jump_relu_log_threshold", e))?;
            model
                .set_jump_relu_log_threshold(v.as_slice())
                .map_err(|e| fmt("jump_relu_log_threshold", e.to_string()))?;
        }
        (false, true) => {}
    }
    Ok(())
}

impl<T: Real> Autoencoder<T> {
    /// The model as file contents (see the module docs).
    pub fn to_json_bytes(&self) -> Result<Vec<u8>> {
        let file = ModelFile {
            format: MODEL_FORMAT.into(),
            version: MODEL_VERSION,
            scalar: T::NAME.into(),
            spec: self.spec().clone(),
            parameters: self.n_params(),
            layers: self
                .layers()
                .iter()
                .map(|l| match l {
                    Layer::Tied(t) => LayerFile::Tied {
                        weight: matrix_file(t.weight()),
                        biases: bias_file(t.biases()),
                    },
                    Layer::Dense(d) => LayerFile::Dense {
                        encoder_weight: matrix_file(d.encoder_weight()),
                        decoder_weight: matrix_file(d.decoder_weight()),
                        biases: bias_file(d.biases()),
                    },
                })
                .collect(),
            batch_top_k_thresholds: stored_thresholds(self),
            jump_relu_log_threshold: self
                .jump_relu_log_threshold()
                .map_or_else(Vec::new, |l| l.iter().map(|v| v.f64()).collect()),
        };
        let mut bytes = serde_json::to_vec(&file)
            .map_err(|e| Error::InvalidData(format!("serializing the model: {e}")))?;
        bytes.push(b'\n');
        Ok(bytes)
    }

    /// Writes the model to `path` atomically.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        let bytes = self.to_json_bytes()?;
        write_atomic(path, |w| {
            w.write_all(&bytes).map_err(|e| Error::io(path, e))
        })
    }

    /// Reads a model written by [`Autoencoder::save`]; anything but a
    /// regular file is refused (see [`crate::data::file`]).
    pub fn load(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let bytes = read_regular(path)?;
        Self::from_json_bytes(&bytes, path)
    }

    /// Parses and validates file contents; `origin` names them in errors.
    pub fn from_json_bytes(bytes: &[u8], origin: &Path) -> Result<Self> {
        check_header(bytes, origin)?;
        let fmt = |loc: &str, reason: String| Error::format(origin, loc, reason);
        let file: ModelFile = serde_json::from_slice(bytes).map_err(|e| syntax(origin, &e))?;
        if file.scalar != T::NAME {
            return Err(fmt(
                "scalar",
                format!(
                    "file holds {} weights; load it as Autoencoder<{}>",
                    file.scalar, file.scalar
                ),
            ));
        }
        let spec = file.spec;
        spec.validate().map_err(|e| fmt("spec", e.to_string()))?;
        if file.layers.len() != spec.layer_count() {
            return Err(fmt(
                "layers",
                format!(
                    "{} layers for a spec with {} layer pairs",
                    file.layers.len(),
                    spec.layer_count()
                ),
            ));
        }
        let mut layers = Vec::with_capacity(file.layers.len());
        for (l, lf) in file.layers.iter().enumerate() {
            layers.push(layer_from_file(lf, l, &spec, origin)?);
        }
        let mut model =
            Autoencoder::from_layers(spec, layers).map_err(|e| fmt("layers", e.to_string()))?;
        restore_thresholds(&mut model, &file.batch_top_k_thresholds)
            .map_err(|e| fmt("batch_top_k_thresholds", e))?;
        restore_log_threshold(&mut model, &file.jump_relu_log_threshold, origin)?;
        if file.parameters != model.n_params() {
            return Err(fmt(
                "parameters",
                format!(
                    "file says {} parameters, its layers hold {}",
                    file.parameters,
                    model.n_params()
                ),
            ));
        }
        Ok(model)
    }
}
