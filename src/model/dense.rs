//! An untied layer pair: encoder `W_enc` (r x d) and decoder `W_dec` (d x r),
//! twice the weights of a tied pair.

use super::bias::Biases;
use super::checks::{check_conv_biases, check_finite};
use super::conv::Conv2d;
use super::map::{PairMap, PairWeights};
use crate::error::{Error, Result};
use crate::real::Real;
use nalgebra::DMatrix;

/// An untied pair: `z = x W_encᵀ + b_enc`, `v = h W_decᵀ + b_dec`, with the
/// same bias modes as [`super::TiedLinear`] (mirrored: `v = (h − b_enc) W_decᵀ`).
/// `W_dec` is stored d x r like PyTorch's `nn.Linear(r, d).weight`, so a tied
/// pair is the special case `W_dec = W_encᵀ`.
///
/// An untied conv pair ([`Dense::conv_pair`]) has an encoder kernel `K_enc` and a
/// decoder kernel `K_dec`, both `C_out x C_in·k_h·k_w` (see [`super::conv`]):
/// `z = conv2d(x, K_enc) + b_enc`, `v = conv_transpose2d(h, K_dec) + b_dec`;
/// the tied conv pair is the special case `K_dec = K_enc`.
#[derive(Clone, Debug, PartialEq)]
pub struct Dense<T: Real> {
    encoder: DMatrix<T>,
    decoder: DMatrix<T>,
    biases: Biases<T>,
    map: PairMap,
}

impl<T: Real> Dense<T> {
    /// A pair from `W_enc` (r x d), `W_dec` (d x r) and biases of matching
    /// lengths; all entries must be finite.
    pub fn new(encoder: DMatrix<T>, decoder: DMatrix<T>, biases: Biases<T>) -> Result<Self> {
        if decoder.shape() != (encoder.ncols(), encoder.nrows()) {
            return Err(Error::Shape(format!(
                "decoder weight is {}x{}, the {}x{} encoder weight needs {}x{}",
                decoder.nrows(),
                decoder.ncols(),
                encoder.nrows(),
                encoder.ncols(),
                encoder.ncols(),
                encoder.nrows()
            )));
        }
        check_finite(&encoder, "encoder weight")?;
        check_finite(&decoder, "decoder weight")?;
        biases.check(encoder.ncols(), encoder.nrows())?;
        Ok(Dense {
            encoder,
            decoder,
            biases,
            map: PairMap::Affine,
        })
    }

    /// An untied conv pair with geometry `geometry`, kernels `K_enc` and
    /// `K_dec` (each `C_out x C_in·k_h·k_w`) and per-channel biases (`None` or
    /// `Separate`).
    pub fn conv_pair(
        geometry: Conv2d,
        encoder: DMatrix<T>,
        decoder: DMatrix<T>,
        biases: Biases<T>,
    ) -> Result<Self> {
        geometry.check_kernel(&encoder)?;
        geometry.check_kernel(&decoder)?;
        check_conv_biases(
            geometry.input().channels,
            geometry.output().channels,
            &biases,
        )?;
        Ok(Dense {
            encoder,
            decoder,
            biases,
            map: PairMap::Conv(geometry),
        })
    }

    /// The geometry, for a conv pair.
    pub fn conv_geometry(&self) -> Option<&Conv2d> {
        self.map.conv()
    }

    /// `W_enc`, r x d.
    pub fn encoder_weight(&self) -> &DMatrix<T> {
        &self.encoder
    }

    /// `W_dec`, d x r: column `i` is hidden unit `i`'s decoding direction
    /// (the decoder kernel `K_dec`, `C_out x C_in·k_h·k_w`, for a conv pair).
    pub fn decoder_weight(&self) -> &DMatrix<T> {
        &self.decoder
    }

    /// The biases.
    pub fn biases(&self) -> &Biases<T> {
        &self.biases
    }

    /// Input width `d` (`C_in·H·W` for a conv pair).
    pub fn input_dim(&self) -> usize {
        self.map.input_dim(&self.encoder)
    }

    /// Hidden width `r` (`C_out·H_out·W_out` for a conv pair).
    pub fn output_dim(&self) -> usize {
        self.map.output_dim(&self.encoder)
    }

    /// Encoder pre-activation of a batch `x` (n x d) -> n x r.
    pub fn encode(&self, x: &DMatrix<T>) -> Result<DMatrix<T>> {
        self.map.encode(self.weights(), &self.biases, x)
    }

    /// Decoder pre-activation of a batch `h` (n x r) -> n x d.
    pub fn decode(&self, h: &DMatrix<T>) -> Result<DMatrix<T>> {
        self.map.decode(self.weights(), &self.biases, h)
    }

    /// The map the pair applies (dense or conv).
    pub(crate) fn map(&self) -> &PairMap {
        &self.map
    }

    /// Both weights as stored; the map knows `W_dec` is d x r.
    pub(crate) fn weights(&self) -> PairWeights<'_, T> {
        PairWeights::Untied {
            encoder: &self.encoder,
            decoder: &self.decoder,
        }
    }

    pub(crate) fn parts_mut(&mut self) -> (&mut DMatrix<T>, &mut DMatrix<T>, &mut Biases<T>) {
        (&mut self.encoder, &mut self.decoder, &mut self.biases)
    }
}
