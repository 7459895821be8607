//! One layer pair of a stack, tied or untied, behind one interface.

use super::bias::Biases;
use super::dense::Dense;
use super::kernels::Strided;
use super::tied::TiedLinear;
use crate::error::Result;
use crate::real::Real;
use nalgebra::DMatrix;

/// A layer pair of an [`super::Autoencoder`].
#[derive(Clone, Debug, PartialEq)]
pub enum Layer<T: Real> {
    /// One shared weight.
    Tied(TiedLinear<T>),
    /// Separate encoder and decoder weights.
    Dense(Dense<T>),
}

impl<T: Real> Layer<T> {
    /// Whether the pair shares one weight.
    pub fn is_tied(&self) -> bool {
        matches!(self, Layer::Tied(_))
    }

    /// The tied pair, if it is one.
    pub fn as_tied(&self) -> Option<&TiedLinear<T>> {
        match self {
            Layer::Tied(t) => Some(t),
            Layer::Dense(_) => None,
        }
    }

    /// The untied pair, if it is one.
    pub fn as_dense(&self) -> Option<&Dense<T>> {
        match self {
            Layer::Tied(_) => None,
            Layer::Dense(d) => Some(d),
        }
    }

    /// Input width `d`.
    pub fn input_dim(&self) -> usize {
        match self {
            Layer::Tied(t) => t.input_dim(),
            Layer::Dense(d) => d.input_dim(),
        }
    }

    /// Hidden width `r`.
    pub fn output_dim(&self) -> usize {
        match self {
            Layer::Tied(t) => t.output_dim(),
            Layer::Dense(d) => d.output_dim(),
        }
    }

    /// The encoder weight (r x d): `W` when tied, `W_enc` otherwise. Its row
    /// space is what principal angles compare with PCA's subspace.
    pub fn encoder_weight(&self) -> &DMatrix<T> {
        match self {
            Layer::Tied(t) => t.weight(),
            Layer::Dense(d) => d.encoder_weight(),
        }
    }

    /// The decoder weight as a d x r matrix: `Wᵀ` when tied (a copy),
    /// `W_dec` otherwise.
    pub fn decoder_weight(&self) -> DMatrix<T> {
        match self {
            Layer::Tied(t) => t.weight().transpose(),
            Layer::Dense(d) => d.decoder_weight().clone(),
        }
    }

    /// The biases.
    pub fn biases(&self) -> &Biases<T> {
        match self {
            Layer::Tied(t) => t.biases(),
            Layer::Dense(d) => d.biases(),
        }
    }

    /// Encoder pre-activation of a batch (n x d -> n x r).
    pub fn encode(&self, x: &DMatrix<T>) -> Result<DMatrix<T>> {
        match self {
            Layer::Tied(t) => t.encode(x),
            Layer::Dense(d) => d.encode(x),
        }
    }

    /// Decoder pre-activation of a batch (n x r -> n x d).
    pub fn decode(&self, h: &DMatrix<T>) -> Result<DMatrix<T>> {
        match self {
            Layer::Tied(t) => t.decode(h),
            Layer::Dense(d) => d.decode(h),
        }
    }

    pub(crate) fn enc(&self) -> Strided<'_, T> {
        match self {
            Layer::Tied(t) => t.enc(),
            Layer::Dense(d) => d.enc(),
        }
    }

    pub(crate) fn dec(&self) -> Strided<'_, T> {
        match self {
            Layer::Tied(t) => t.dec(),
            Layer::Dense(d) => d.dec(),
        }
    }

    /// Writes the pair's parameters in flat order (see [`super::params`]).
    pub(crate) fn write_flat(&self, out: &mut [T]) {
        let (r, d) = (self.output_dim(), self.input_dim());
        let w = self.encoder_weight();
        for i in 0..r {
            for j in 0..d {
                out[i * d + j] = w[(i, j)];
            }
        }
        let mut at = r * d;
        if let Layer::Dense(dense) = self {
            let wd = dense.decoder_weight();
            for j in 0..d {
                for i in 0..r {
                    out[at + j * r + i] = wd[(j, i)];
                }
            }
            at += r * d;
        }
        self.biases().write_flat(&mut out[at..]);
    }

    /// Reads the pair's parameters from flat order.
    pub(crate) fn read_flat(&mut self, src: &[T]) {
        let (r, d) = (self.output_dim(), self.input_dim());
        let (w, wd, biases) = match self {
            Layer::Tied(t) => {
                let (w, b) = t.parts_mut();
                (w, None, b)
            }
            Layer::Dense(dense) => {
                let (we, wd, b) = dense.parts_mut();
                (we, Some(wd), b)
            }
        };
        for i in 0..r {
            for j in 0..d {
                w[(i, j)] = src[i * d + j];
            }
        }
        let mut at = r * d;
        if let Some(wd) = wd {
            for j in 0..d {
                for i in 0..r {
                    wd[(j, i)] = src[at + j * r + i];
                }
            }
            at += r * d;
        }
        biases.read_flat(&src[at..]);
    }
}
