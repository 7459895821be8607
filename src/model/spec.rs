//! The serializable description of an autoencoder architecture.
//!
//! A spec fixes everything but the weights, so the tied and untied versions of
//! one architecture are two specs that differ only in [`AutoencoderSpec::tied`].

use super::activation::{Activation, OutputActivation};
use super::bias::BiasMode;
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};

/// How weights are drawn at construction (biases always start at zero).
///
/// Serialized as `{"kind":"glorot_uniform"}` or `{"kind":"normal","std":0.01}`.
#[derive(Clone, Copy, Debug, PartialEq, Default, Serialize, Deserialize)]
#[serde(try_from = "InitRepr", into = "InitRepr")]
pub enum Init {
    /// Glorot/Xavier uniform: `U(−a, a)` with `a = sqrt(6 / (d + r))`, which
    /// keeps activation variance roughly constant through the pair.
    #[default]
    GlorotUniform,
    /// `N(0, std²)` for every weight (e.g. PyTorch-notes style `0.01`).
    Normal { std: f64 },
}

/// Flat serialized form of [`Init`], so unknown fields are always rejected.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct InitRepr {
    kind: InitKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    std: Option<f64>,
}

#[derive(Clone, Copy, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum InitKind {
    GlorotUniform,
    Normal,
}

impl From<Init> for InitRepr {
    fn from(i: Init) -> Self {
        match i {
            Init::GlorotUniform => InitRepr {
                kind: InitKind::GlorotUniform,
                std: None,
            },
            Init::Normal { std } => InitRepr {
                kind: InitKind::Normal,
                std: Some(std),
            },
        }
    }
}

impl TryFrom<InitRepr> for Init {
    type Error = String;
    fn try_from(r: InitRepr) -> std::result::Result<Self, String> {
        match (r.kind, r.std) {
            (InitKind::GlorotUniform, None) => Ok(Init::GlorotUniform),
            (InitKind::Normal, Some(std)) => Ok(Init::Normal { std }),
            (InitKind::Normal, None) => Err("missing field `std`".into()),
            (InitKind::GlorotUniform, Some(_)) => {
                Err("unknown field `std` for glorot_uniform".into())
            }
        }
    }
}

/// Architecture of an autoencoder stack.
///
/// `dims = [d, h1, ..., latent]` gives `dims.len() - 1` layer pairs; pair `l`
/// maps `dims[l]` to `dims[l + 1]`. The encoder runs pairs outermost first,
/// the decoder runs them back in reverse. Pair `l` applies `hidden[l]` to its
/// encoder output; its decoder output gets `hidden[l - 1]` (the activation of
/// the representation it reconstructs), or `output` for pair 0.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AutoencoderSpec {
    /// Layer widths from input to latent code.
    pub dims: Vec<usize>,
    /// Per pair: one shared weight (`true`) or an untied encoder/decoder pair.
    pub tied: Vec<bool>,
    /// Per pair: activation of its hidden (encoder-side) representation.
    pub hidden: Vec<Activation>,
    /// Activation of the reconstruction.
    pub output: OutputActivation,
    /// Bias mode of every pair.
    pub bias: BiasMode,
    /// Weight initialisation.
    pub init: Init,
}

impl AutoencoderSpec {
    /// A tied, linear (identity activations), separate-bias, Glorot-initialised
    /// stack with the given widths; refine with the builder methods.
    pub fn new(dims: &[usize]) -> Self {
        let pairs = dims.len().saturating_sub(1);
        AutoencoderSpec {
            dims: dims.to_vec(),
            tied: vec![true; pairs],
            hidden: vec![Activation::Identity; pairs],
            output: OutputActivation::Identity,
            bias: BiasMode::Separate,
            init: Init::GlorotUniform,
        }
    }

    /// Ties (or unties) every pair.
    pub fn tied(mut self, tied: bool) -> Self {
        self.tied = vec![tied; self.layer_count()];
        self
    }

    /// Sets the tied flag of each pair.
    pub fn tied_per_layer(mut self, tied: Vec<bool>) -> Self {
        self.tied = tied;
        self
    }

    /// Uses `act` for every hidden representation.
    pub fn activation(mut self, act: Activation) -> Self {
        self.hidden = vec![act; self.layer_count()];
        self
    }

    /// Sets the hidden activation of each pair.
    pub fn activations(mut self, hidden: Vec<Activation>) -> Self {
        self.hidden = hidden;
        self
    }

    /// Sets the output activation.
    pub fn output(mut self, output: OutputActivation) -> Self {
        self.output = output;
        self
    }

    /// Sets the bias mode.
    pub fn bias(mut self, bias: BiasMode) -> Self {
        self.bias = bias;
        self
    }

    /// Sets the weight initialisation.
    pub fn init(mut self, init: Init) -> Self {
        self.init = init;
        self
    }

    /// Number of layer pairs.
    pub fn layer_count(&self) -> usize {
        self.dims.len().saturating_sub(1)
    }

    /// Input width `d`.
    pub fn input_dim(&self) -> usize {
        self.dims.first().copied().unwrap_or(0)
    }

    /// Latent width (the last entry of `dims`).
    pub fn latent_dim(&self) -> usize {
        self.dims.last().copied().unwrap_or(0)
    }

    /// The activation applied to pair `l`'s decoder output.
    pub fn decoder_activation(&self, l: usize) -> Activation {
        if l == 0 {
            self.output.as_activation()
        } else {
            self.hidden[l - 1]
        }
    }

    /// Checks that the spec describes a buildable model.
    pub fn validate(&self) -> Result<()> {
        if self.dims.len() < 2 {
            return Err(Error::config(
                "dims",
                format!(
                    "need at least an input and a latent width, got {:?}",
                    self.dims
                ),
            ));
        }
        if let Some(i) = self.dims.iter().position(|&w| w == 0) {
            return Err(Error::config(
                "dims",
                format!("width {i} is zero: {:?}", self.dims),
            ));
        }
        let pairs = self.layer_count();
        if self.tied.len() != pairs {
            return Err(Error::config(
                "tied",
                format!("{} flags for {pairs} layer pairs", self.tied.len()),
            ));
        }
        if self.hidden.len() != pairs {
            return Err(Error::config(
                "hidden",
                format!("{} activations for {pairs} layer pairs", self.hidden.len()),
            ));
        }
        for act in &self.hidden {
            act.validate()?;
        }
        if let Init::Normal { std } = self.init
            && !(std.is_finite() && std > 0.0)
        {
            return Err(Error::config(
                "init",
                format!("normal std must be finite and > 0, got {std}"),
            ));
        }
        Ok(())
    }
}
