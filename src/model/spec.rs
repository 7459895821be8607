//! The serializable description of an autoencoder architecture.
//!
//! A spec fixes everything but the weights, so the tied and untied versions of
//! one architecture are two specs that differ only in [`AutoencoderSpec::tied`].

use super::activation::{Activation, OutputActivation};
use super::bias::BiasMode;
use super::checks::check_conv_bias_mode;
use super::conv::{Conv2d, ConvSpec, ConvStack, ImageShape};
use super::sparse_decode::DecodePath;
use crate::error::{Error, Result};
use crate::validate;
use serde::{Deserialize, Serialize};

/// How weights are drawn at construction (biases always start at zero).
///
/// Serialized as `{"kind":"glorot_uniform"}`, `{"kind":"normal","std":0.01}`
/// or `{"kind":"tied_glorot_uniform"}`.
#[derive(Clone, Copy, Debug, PartialEq, Default, Serialize, Deserialize)]
#[serde(try_from = "InitRepr", into = "InitRepr")]
pub enum Init {
    /// Glorot/Xavier uniform: `U(−a, a)` with `a = sqrt(6 / (d + r))`, which
    /// keeps activation variance roughly constant through the pair.
    #[default]
    GlorotUniform,
    /// `N(0, std²)` for every weight (e.g. PyTorch-notes style `0.01`).
    Normal { std: f64 },
    /// Glorot uniform encoder weights, and an untied decoder that starts as
    /// the encoder's transpose (`W_dec = W_encᵀ`; for a conv pair
    /// `K_dec = K_enc`), then trains freely. Gao et al. 2024 initialise
    /// sparse autoencoders this way: the untied model starts exactly at
    /// the tied model of the same seed, so how far training pulls the two
    /// apart is measurable. Tied pairs are initialised as by
    /// [`Init::GlorotUniform`].
    TiedGlorotUniform,
}

impl Init {
    /// Whether an untied decoder starts as the encoder's transpose.
    pub fn ties_decoder(self) -> bool {
        matches!(self, Init::TiedGlorotUniform)
    }
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
    TiedGlorotUniform,
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
            Init::TiedGlorotUniform => InitRepr {
                kind: InitKind::TiedGlorotUniform,
                std: None,
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
            (InitKind::TiedGlorotUniform, None) => Ok(Init::TiedGlorotUniform),
            (InitKind::TiedGlorotUniform, Some(_)) => {
                Err("unknown field `std` for tied_glorot_uniform".into())
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
///
/// With [`AutoencoderSpec::conv`] the first pairs are convolutions (see
/// [`super::conv`]); their widths in `dims` are the flattened image sizes.
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
    /// Conv pairs at the front of the stack (absent for dense models, and
    /// then not written to files, which keeps dense model files unchanged).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conv: Option<ConvStack>,
    /// Dense or sparse products for TopK codes, the decoder's and the
    /// latent encoder's weight gradient (see [`DecodePath`]): the same
    /// function, summed in another order. Absent
    /// from files when [`DecodePath::Auto`], which keeps existing model
    /// files and hashes unchanged.
    #[serde(default, skip_serializing_if = "DecodePath::is_auto")]
    pub decode_path: DecodePath,
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
            conv: None,
            decode_path: DecodePath::Auto,
        }
    }

    /// A tied, linear, separate-bias stack of conv pairs on images of shape
    /// `image` (rows of the data are flattened images, `C·H·W` wide). Append
    /// dense pairs with [`AutoencoderSpec::then_dense`]; refine with the
    /// other builder methods. Errors on impossible geometry.
    ///
    /// ```
    /// use tiedae::model::{AutoencoderSpec, ConvSpec, ImageShape};
    /// let spec = AutoencoderSpec::conv(
    ///     ImageShape::new(1, 28, 28),
    ///     &[ConvSpec::new(8, 4, 2, 1), ConvSpec::new(16, 4, 2, 1)],
    /// )?
    /// .then_dense(&[64]);
    /// assert_eq!(spec.dims, vec![784, 8 * 14 * 14, 16 * 7 * 7, 64]);
    /// # Ok::<(), tiedae::Error>(())
    /// ```
    pub fn conv(image: ImageShape, layers: &[ConvSpec]) -> Result<Self> {
        if layers.is_empty() {
            return Err(Error::config("conv", "no conv pairs given"));
        }
        let stack = ConvStack {
            image,
            layers: layers.to_vec(),
        };
        let mut dims = vec![image.len()];
        dims.extend(stack.geometries()?.iter().map(|g| g.output().len()));
        let mut spec = AutoencoderSpec::new(&dims);
        spec.conv = Some(stack);
        Ok(spec)
    }

    /// Appends tied dense pairs of the given widths after the current
    /// latent, with identity activations (set them afterwards).
    pub fn then_dense(mut self, widths: &[usize]) -> Self {
        self.dims.extend_from_slice(widths);
        self.tied.extend(std::iter::repeat_n(true, widths.len()));
        self.hidden
            .extend(std::iter::repeat_n(Activation::Identity, widths.len()));
        self
    }

    /// Number of conv pairs at the front of the stack.
    pub fn conv_count(&self) -> usize {
        self.conv.as_ref().map_or(0, |c| c.layers.len())
    }

    /// The geometry of pair `l` if it is a conv pair (`Ok(None)` for dense
    /// pairs), or the geometry error.
    pub fn conv_geometry(&self, l: usize) -> Result<Option<Conv2d>> {
        match &self.conv {
            Some(c) if l < c.layers.len() => Ok(Some(c.geometries()?[l])),
            _ => Ok(None),
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

    /// Sets how decoders multiply TopK codes (and the latent encoder forms
    /// its weight gradient): [`DecodePath::Auto`] (the default) chooses by
    /// density, [`DecodePath::Dense`] and [`DecodePath::Sparse`] force a
    /// path (to compare them).
    pub fn decode_path(mut self, path: DecodePath) -> Self {
        self.decode_path = path;
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
        for (l, act) in self.hidden.iter().enumerate() {
            act.validate()?;
            if act.is_jump_relu() && l + 1 != pairs {
                return Err(Error::config(
                    "hidden",
                    format!(
                        "jump_relu is pair {l}'s activation; only the latent (last) pair can have one: its thresholds are one parameter per latent, which an inner pair's decoder side does not have"
                    ),
                ));
            }
        }
        if let Some(stack) = &self.conv {
            self.validate_conv(stack)?;
            if stack.layers.len() == pairs && self.hidden[pairs - 1].is_jump_relu() {
                return Err(Error::config(
                    "hidden",
                    "jump_relu needs a dense latent pair: a conv pair's units are channels at positions, not latents with a threshold each",
                ));
            }
        }
        if let Init::Normal { std } = self.init {
            validate::positive_param("init", "normal std", std)?;
        }
        Ok(())
    }

    /// Conv pairs: at least one, no more than the pairs, widths matching the
    /// geometry, and a bias mode conv pairs support.
    fn validate_conv(&self, stack: &ConvStack) -> Result<()> {
        let k = stack.layers.len();
        if k == 0 || k > self.layer_count() {
            return Err(Error::config(
                "conv",
                format!("{k} conv pairs for a stack of {} pairs", self.layer_count()),
            ));
        }
        let geoms = stack.geometries()?;
        let mut widths = vec![stack.image.len()];
        widths.extend(geoms.iter().map(|g| g.output().len()));
        if self.dims[..=k] != widths[..] {
            return Err(Error::config(
                "dims",
                format!(
                    "the conv pairs need widths {widths:?}, dims start with {:?}",
                    &self.dims[..=k]
                ),
            ));
        }
        check_conv_bias_mode(self.bias)
    }
}
