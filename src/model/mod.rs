//! Autoencoder models: activations, tied and untied layers, stacks, losses and exact backprop.
//!
//! A [`TiedLinear`] pair has one weight `W` (r x d): `z = x Wᵀ + b_enc`,
//! `v = h W + b_dec`. A [`Dense`] pair has `W_enc` (r x d) and `W_dec`
//! (d x r). An [`Autoencoder`] stacks pairs built from an
//! [`AutoencoderSpec`]; the tied and untied versions of an architecture differ
//! only in [`AutoencoderSpec::tied`]. Conv pairs ([`conv`]) are tied pairs
//! (`conv2d` encoder, `conv_transpose2d` decoder with the same kernel) or
//! untied ones in the same types, built with [`AutoencoderSpec::conv`].
//!
//! Training-facing API: [`Autoencoder::loss_and_grad`] (per-shard data terms
//! normalised by the batch size, exact gradients in the flat order of
//! [`params`]), [`Autoencoder::l2_penalty_and_grad`] (once per batch),
//! [`Autoencoder::params_to_vec`] / [`Autoencoder::set_params`].
//!
//! ```
//! use tiedae::model::{Activation, Autoencoder, AutoencoderSpec, LossConfig, Normalizer};
//! let spec = AutoencoderSpec::new(&[6, 4, 2]).activation(Activation::Tanh);
//! let model = Autoencoder::<f64>::new(&spec, 7)?;
//! let x = nalgebra::DMatrix::from_fn(5, 6, |i, j| (i as f64 - j as f64) / 10.0);
//! let (terms, grad) = model.loss_and_grad(&x, &x, &LossConfig::mse(), Normalizer::new(5)?)?;
//! assert_eq!(grad.len(), model.n_params());
//! assert!(terms.total > 0.0);
//! # Ok::<(), tiedae::Error>(())
//! ```

#[macro_use]
mod kernels;
mod activation;
mod affine;
mod autoencoder;
mod bias;
mod center;
mod checks;
pub mod conv;
mod dense;
mod fastmath;
mod file;
mod gradient;
pub mod jump_relu;
mod layer;
mod loss;
mod map;
pub mod params;
pub mod saelens;
pub mod safetensors;
mod sparse;
mod sparse_decode;
mod spec;
pub mod theory;
mod tied;
mod workspace;

pub use activation::{Activation, JUMP_RELU_BANDWIDTH, JUMP_RELU_INIT_THRESHOLD, OutputActivation};
pub use autoencoder::{Autoencoder, BATCH_TOP_K_THRESHOLD_RATE};
pub use bias::{BiasMode, Biases};
pub use center::{PreBiasInit, geometric_median, mean};
pub use conv::{Conv2d, ConvSpec, ConvStack, ImageShape};
pub use dense::Dense;
pub use file::{MODEL_FORMAT, MODEL_VERSION};
pub use gradient::{GradNorms, Gradient, LayerGradNorms, TiedParts};
pub(crate) use gradient::{TiedSlots, can_defer_tied};
pub(crate) use kernels::{all_finite, ensure_shape, first_non_finite};
pub use layer::Layer;
pub use loss::{
    AuxK, AuxKLoss, JUMP_RELU_TANH_SCALE, KlSparsity, L0Mode, L1Weighting, LossConfig, LossTerms,
    MAX_MATRYOSHKA_PREFIXES, Matryoshka, Normalizer, Reconstruction, ResidualSpread, UnitL2,
};
pub use params::{DirectionSlots, LayerCount, LayerSlots, ParamLayout, ParameterCount};
pub use sparse::{fvu, l0};
pub use sparse_decode::{DecodePath, SPARSE_DECODE_DENSITY};
pub use spec::{AutoencoderSpec, Init};
pub use tied::TiedLinear;
pub use workspace::Workspace;
