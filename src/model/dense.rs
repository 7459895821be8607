//! An untied layer pair: encoder `W_enc` (r x d) and decoder `W_dec` (d x r),
//! twice the weights of a tied pair.

use super::affine;
use super::bias::Biases;
use super::kernels::Strided;
use super::tied::{check_finite, check_input};
use crate::error::{Error, Result};
use crate::real::Real;
use nalgebra::DMatrix;

/// An untied pair: `z = x W_encᵀ + b_enc`, `v = h W_decᵀ + b_dec`, with the
/// same bias modes as [`super::TiedLinear`] (mirrored: `v = (h − b_enc) W_decᵀ`).
/// `W_dec` is stored d x r like PyTorch's `nn.Linear(r, d).weight`, so a tied
/// pair is the special case `W_dec = W_encᵀ`.
#[derive(Clone, Debug, PartialEq)]
pub struct Dense<T: Real> {
    encoder: DMatrix<T>,
    decoder: DMatrix<T>,
    biases: Biases<T>,
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
        })
    }

    /// `W_enc`, r x d.
    pub fn encoder_weight(&self) -> &DMatrix<T> {
        &self.encoder
    }

    /// `W_dec`, d x r: column `i` is hidden unit `i`'s decoding direction.
    pub fn decoder_weight(&self) -> &DMatrix<T> {
        &self.decoder
    }

    /// The biases.
    pub fn biases(&self) -> &Biases<T> {
        &self.biases
    }

    /// Input width `d`.
    pub fn input_dim(&self) -> usize {
        self.encoder.ncols()
    }

    /// Hidden width `r`.
    pub fn output_dim(&self) -> usize {
        self.encoder.nrows()
    }

    /// Encoder pre-activation of a batch `x` (n x d) -> n x r.
    pub fn encode(&self, x: &DMatrix<T>) -> Result<DMatrix<T>> {
        check_input(x, self.input_dim(), "input")?;
        let mut z = DMatrix::zeros(x.nrows(), self.output_dim());
        affine::encode_into(self.enc(), &self.biases, x, &mut z);
        Ok(z)
    }

    /// Decoder pre-activation of a batch `h` (n x r) -> n x d.
    pub fn decode(&self, h: &DMatrix<T>) -> Result<DMatrix<T>> {
        check_input(h, self.output_dim(), "code")?;
        let mut v = DMatrix::zeros(h.nrows(), self.input_dim());
        affine::decode_into(self.dec(), &self.biases, h, &mut v);
        Ok(v)
    }

    pub(crate) fn enc(&self) -> Strided<'_, T> {
        Strided::of(&self.encoder)
    }

    /// `W_decᵀ` (r x d) as a view: the decoder matrix `M` of `v = h M`.
    pub(crate) fn dec(&self) -> Strided<'_, T> {
        Strided::of(&self.decoder).t()
    }

    pub(crate) fn parts_mut(&mut self) -> (&mut DMatrix<T>, &mut DMatrix<T>, &mut Biases<T>) {
        (&mut self.encoder, &mut self.decoder, &mut self.biases)
    }
}
