//! The linear map of a layer pair, dense or conv, behind one interface.
//!
//! Tied and untied pairs and the stack's forward and backward passes all
//! call [`PairMap`] instead of matching on the kind themselves, so the
//! memory layout of each kind lives here alone: the shape of its weights and
//! how a gradient slot is viewed as the gradient of the matrix its kernels
//! use. A new kind of map is one more variant in this file.
//!
//! Every weight gradient slot (the flat order of [`super::params`], and
//! each part of [`super::TiedParts`]) is row-major in the shape of the
//! weight as stored. The backward passes **overwrite** the weight slots and
//! handle bias slots as [`super::affine`] describes.

use super::affine::{self, BiasGrad};
use super::bias::Biases;
use super::checks::check_input;
use super::conv::{Conv2d, kernels as conv_kernels};
use super::kernels::{Strided, StridedMut};
use super::sparse_decode::{self, SparseScratch};
use crate::error::Result;
use crate::real::Real;
use nalgebra::DMatrix;

/// Which linear map a layer pair applies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PairMap {
    /// `z = x Eᵀ`, `v = h M` with dense matrices (see [`super::affine`]).
    Affine,
    /// `z = conv2d(x, K_enc)`, `v = conv_transpose2d(h, K_dec)` (see
    /// [`super::conv`]).
    Conv(Conv2d),
}

/// The weights of a pair as stored, which is how the map tells a tied
/// decoder (`W` itself, r x d) from an untied one (`W_dec`, d x r).
#[derive(Clone, Copy)]
pub(crate) enum PairWeights<'a, T: Real> {
    /// One weight used by both maps: `W` (r x d) or the kernel `K`, and
    /// `rows`, `W` row-major (each unit's direction contiguous) when the
    /// pair keeps that copy, else empty (see [`super::TiedLinear`]).
    Tied {
        weight: &'a DMatrix<T>,
        rows: &'a [T],
    },
    /// `W_enc` (r x d) and `W_dec` (d x r), or the kernels `K_enc` and
    /// `K_dec` (both `C_out x C_in·k_h·k_w`).
    Untied {
        encoder: &'a DMatrix<T>,
        decoder: &'a DMatrix<T>,
    },
}

impl<'a, T: Real> PairWeights<'a, T> {
    /// The encoder's weight as stored.
    pub fn encoder(self) -> &'a DMatrix<T> {
        match self {
            PairWeights::Tied { weight, .. } => weight,
            PairWeights::Untied { encoder, .. } => encoder,
        }
    }

    /// The decoder's weight as stored.
    pub fn decoder(self) -> &'a DMatrix<T> {
        match self {
            PairWeights::Tied { weight, .. } => weight,
            PairWeights::Untied { decoder, .. } => decoder,
        }
    }
}

impl PairMap {
    /// The geometry of a conv map.
    pub fn conv(&self) -> Option<&Conv2d> {
        match self {
            PairMap::Affine => None,
            PairMap::Conv(g) => Some(g),
        }
    }

    /// Input width `d` of a pair whose encoder weight is `encoder`.
    pub fn input_dim<T: Real>(&self, encoder: &DMatrix<T>) -> usize {
        match self {
            PairMap::Affine => encoder.ncols(),
            PairMap::Conv(g) => g.input().len(),
        }
    }

    /// Hidden width `r` of a pair whose encoder weight is `encoder`.
    pub fn output_dim<T: Real>(&self, encoder: &DMatrix<T>) -> usize {
        match self {
            PairMap::Affine => encoder.nrows(),
            PairMap::Conv(g) => g.output().len(),
        }
    }

    /// The decoder weight as a d x r matrix: `Wᵀ` (tied) or `W_dec` (untied)
    /// for a dense map, the transposed decoder kernel for a conv map.
    pub fn decoder_weight<T: Real>(&self, w: PairWeights<'_, T>) -> DMatrix<T> {
        match (self, w) {
            (PairMap::Affine, PairWeights::Untied { decoder, .. }) => decoder.clone(),
            _ => w.decoder().transpose(),
        }
    }

    /// The dense decoder matrix `M` of `v = h M` (r x d): `W`, or `W_decᵀ`
    /// as a view.
    fn affine_decoder<T: Real>(w: PairWeights<'_, T>) -> Strided<'_, T> {
        match w {
            PairWeights::Tied { weight, .. } => Strided::of(weight),
            PairWeights::Untied { decoder, .. } => Strided::of(decoder).t(),
        }
    }

    /// The sparse kernels' view of `M` (r x d): a tied pair's row-major
    /// copy when it keeps one, so each direction is read in place rather
    /// than gathered from the column-major `W` on every call (an untied
    /// `W_decᵀ` already stores them contiguously). The values are the same
    /// either way, and so are the results' bits.
    fn sparse_decoder<T: Real>(w: PairWeights<'_, T>) -> Strided<'_, T> {
        match w {
            PairWeights::Tied { weight, rows } if rows.len() == weight.len() => {
                Strided::row_major(rows, weight.nrows(), weight.ncols())
            }
            _ => Self::affine_decoder(w),
        }
    }

    /// A decoder weight's gradient slot (row-major in the stored weight's
    /// shape) viewed as `∂L/∂M` (r x d) of a dense map.
    fn affine_decoder_grad<'g, T: Real>(
        w: PairWeights<'_, T>,
        g_dec: &'g mut [T],
    ) -> StridedMut<'g, T> {
        match w {
            PairWeights::Tied { weight, .. } => {
                StridedMut::row_major(g_dec, weight.nrows(), weight.ncols())
            }
            // ∂L/∂M for M = W_decᵀ: the row-major d x r slot read as
            // column-major r x d.
            PairWeights::Untied { decoder, .. } => {
                StridedMut::col_major(g_dec, decoder.ncols(), decoder.nrows())
            }
        }
    }

    /// Encoder pre-activation of a batch `x` (n x d) -> n x r, checked: the
    /// pairs' public `encode`.
    pub fn encode<T: Real>(
        &self,
        w: PairWeights<'_, T>,
        biases: &Biases<T>,
        x: &DMatrix<T>,
    ) -> Result<DMatrix<T>> {
        let e = w.encoder();
        check_input(x, self.input_dim(e), "input")?;
        let mut z = DMatrix::zeros(x.nrows(), self.output_dim(e));
        self.encode_into(w, biases, x, &mut z, &mut Vec::new());
        Ok(z)
    }

    /// Decoder pre-activation of a batch `h` (n x r) -> n x d, checked: the
    /// pairs' public `decode`.
    pub fn decode<T: Real>(
        &self,
        w: PairWeights<'_, T>,
        biases: &Biases<T>,
        h: &DMatrix<T>,
    ) -> Result<DMatrix<T>> {
        let e = w.encoder();
        check_input(h, self.output_dim(e), "code")?;
        let mut v = DMatrix::zeros(h.nrows(), self.input_dim(e));
        self.decode_into(w, biases, h, &mut v, &mut Vec::new(), None);
        Ok(v)
    }

    /// Encoder pre-activation into `z` (sized `n x r`); `patches` is scratch
    /// for conv maps.
    pub fn encode_into<T: Real>(
        &self,
        w: PairWeights<'_, T>,
        biases: &Biases<T>,
        x: &DMatrix<T>,
        z: &mut DMatrix<T>,
        patches: &mut Vec<T>,
    ) {
        match self {
            PairMap::Affine => affine::encode_into(Strided::of(w.encoder()), biases, x, z),
            PairMap::Conv(g) => conv_kernels::encode_into(g, w.encoder(), biases, x, z, patches),
        }
    }

    /// Decoder pre-activation into `v` (sized `n x d`); `patches` is scratch
    /// for conv maps. With `sparse`, a dense map multiplies over the nonzero
    /// entries of the code `h` only, in that scratch (see
    /// [`super::sparse_decode`]); a conv map decodes densely either way (its
    /// units are not rows of one matrix).
    pub fn decode_into<T: Real>(
        &self,
        w: PairWeights<'_, T>,
        biases: &Biases<T>,
        h: &DMatrix<T>,
        v: &mut DMatrix<T>,
        patches: &mut Vec<T>,
        sparse: Option<&mut SparseScratch<T>>,
    ) {
        match (self, sparse) {
            (PairMap::Affine, None) => affine::decode_into(Self::affine_decoder(w), biases, h, v),
            (PairMap::Affine, Some(scratch)) => {
                sparse_decode::decode_into(Self::sparse_decoder(w), biases, h, v, scratch)
            }
            (PairMap::Conv(g), _) => {
                conv_kernels::decode_into(g, w.decoder(), biases, h, v, patches)
            }
        }
    }

    /// Backward through `v = decode(h)`: the decoder weight's gradient into
    /// `g_dec` (row-major in the stored decoder weight's shape), bias
    /// gradients into `gb`, and `dh` when asked.
    ///
    /// With `sparse`, a dense map runs over the nonzero entries of `h` only
    /// and writes `dh` there alone (0 elsewhere), which is exact for the
    /// codes [`super::sparse_decode`] describes; a conv map runs the dense
    /// pass either way.
    #[allow(clippy::too_many_arguments)]
    pub fn decode_backward<T: Real>(
        &self,
        w: PairWeights<'_, T>,
        biases: &Biases<T>,
        h: &DMatrix<T>,
        dv: &DMatrix<T>,
        g_dec: &mut [T],
        gb: BiasGrad<'_, T>,
        dh: Option<&mut DMatrix<T>>,
        patches: &mut Vec<T>,
        sparse: Option<&mut SparseScratch<T>>,
    ) {
        match self {
            PairMap::Affine => {
                let gm = Self::affine_decoder_grad(w, g_dec);
                match sparse {
                    None => {
                        affine::decode_backward(Self::affine_decoder(w), biases, h, dv, gm, gb, dh)
                    }
                    Some(scratch) => {
                        let m = Self::sparse_decoder(w);
                        sparse_decode::decode_backward(m, biases, h, dv, gm, gb, dh, scratch)
                    }
                }
            }
            PairMap::Conv(g) => {
                // Kernel gradients are C_out x C_in·k_h·k_w, row-major in their slots.
                let (rows, cols) = g.kernel_shape();
                let gk = StridedMut::row_major(g_dec, rows, cols);
                conv_kernels::decode_backward(g, w.decoder(), biases, h, dv, gk, gb, dh, patches)
            }
        }
    }

    /// Backward through `z = encode(x)`: the encoder weight's gradient into
    /// `g_enc` (row-major in the stored encoder weight's shape), bias
    /// gradients into `gb`, and `dx` when asked.
    ///
    /// With `sparse`, a dense map forms the weight gradient `dzᵀ x` and
    /// `dx = dz E` over the nonzero entries of `dz` only (see
    /// [`super::sparse_decode`]), exact for any `dz`; a conv map runs the
    /// dense pass either way.
    #[allow(clippy::too_many_arguments)]
    pub fn encode_backward<T: Real>(
        &self,
        w: PairWeights<'_, T>,
        biases: &Biases<T>,
        x: &DMatrix<T>,
        dz: &DMatrix<T>,
        g_enc: &mut [T],
        gb: BiasGrad<'_, T>,
        dx: Option<&mut DMatrix<T>>,
        patches: &mut Vec<T>,
        sparse: Option<&mut SparseScratch<T>>,
    ) {
        let e = w.encoder();
        match self {
            PairMap::Affine => {
                let ge = StridedMut::row_major(g_enc, e.nrows(), e.ncols());
                match sparse {
                    None => affine::encode_backward(Strided::of(e), biases, x, dz, ge, gb, dx),
                    Some(scratch) => {
                        // A tied `E` is `W`, the decoder's `M`.
                        let e = match w {
                            PairWeights::Tied { .. } => Self::sparse_decoder(w),
                            PairWeights::Untied { .. } => Strided::of(e),
                        };
                        sparse_decode::encode_backward(e, biases, x, dz, ge, gb, dx, scratch)
                    }
                }
            }
            PairMap::Conv(g) => {
                let (rows, cols) = g.kernel_shape();
                let gk = StridedMut::row_major(g_enc, rows, cols);
                conv_kernels::encode_backward(g, e, biases, x, dz, gk, gb, dx, patches)
            }
        }
    }
}
