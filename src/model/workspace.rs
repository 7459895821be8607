//! Reusable forward caches and backward buffers.
//!
//! A training loop calls the model thousands of times with the same shard
//! shape; keeping one [`Workspace`] per worker lets every call after the
//! first run without allocating the n x width activation matrices.

use super::kernels::ensure_shape;
use super::sparse_decode::SparseScratch;
use crate::real::Real;
use nalgebra::DMatrix;

/// Forward caches and gradient buffers of one batch shape. Start with
/// [`Workspace::new`]; buffers are (re)sized on use.
#[derive(Clone, Debug, Default)]
pub struct Workspace<T: Real> {
    /// Encoder pre-activations `z_l` (n x r_l).
    pub(crate) z: Vec<DMatrix<T>>,
    /// Encoder activations `a_l = f_l(z_l)` (n x r_l); the last is the code.
    pub(crate) a: Vec<DMatrix<T>>,
    /// Decoder pre-activations `v_l` (n x d_l); `v_0` are the output logits.
    pub(crate) v: Vec<DMatrix<T>>,
    /// Decoder outputs `u_l = g_l(v_l)` (n x d_l); `u_0` is the reconstruction.
    pub(crate) u: Vec<DMatrix<T>>,
    /// `∂L/∂v_l`.
    pub(crate) dv: Vec<DMatrix<T>>,
    /// `∂L/∂a_l`, turned into `∂L/∂z_l` in place.
    pub(crate) da: Vec<DMatrix<T>>,
    /// Scratch for the patch matrices of conv pairs.
    pub(crate) patches: Vec<T>,
    /// Scratch for the sparse decoder and encoder-gradient kernels (see
    /// [`super::DecodePath`]).
    pub(crate) sparse: SparseScratch<T>,
}

impl<T: Real> Workspace<T> {
    /// An empty workspace.
    pub fn new() -> Self {
        Workspace {
            z: Vec::new(),
            a: Vec::new(),
            v: Vec::new(),
            u: Vec::new(),
            dv: Vec::new(),
            da: Vec::new(),
            patches: Vec::new(),
            sparse: SparseScratch::new(),
        }
    }

    /// Encoder pre-activations `z_l` of the last forward pass, pair 0 first.
    pub fn encoder_pre_activations(&self) -> &[DMatrix<T>] {
        &self.z
    }

    /// Encoder activations `a_l = f_l(z_l)`; the last is the latent code.
    pub fn encoder_activations(&self) -> &[DMatrix<T>] {
        &self.a
    }

    /// Decoder pre-activations `v_l` (pair `l` decodes to width `d_l`);
    /// `v_0` are the output logits.
    pub fn decoder_pre_activations(&self) -> &[DMatrix<T>] {
        &self.v
    }

    /// Decoder outputs `u_l = g_l(v_l)`; `u_0` is the reconstruction.
    pub fn decoder_outputs(&self) -> &[DMatrix<T>] {
        &self.u
    }

    /// The latent code of the last forward pass.
    pub fn code(&self) -> Option<&DMatrix<T>> {
        self.a.last()
    }

    /// The reconstruction of the last forward pass that decoded.
    pub fn reconstruction(&self) -> Option<&DMatrix<T>> {
        self.u.first()
    }

    /// Sizes the encoder caches for `n` rows and widths `dims`.
    pub(crate) fn size_encoder(&mut self, n: usize, dims: &[usize]) {
        let pairs = dims.len() - 1;
        for buf in [&mut self.z, &mut self.a] {
            buf.resize_with(pairs, || DMatrix::zeros(0, 0));
            for (l, m) in buf.iter_mut().enumerate() {
                ensure_shape(m, n, dims[l + 1]);
            }
        }
    }

    /// Sizes the decoder caches for `n` rows.
    pub(crate) fn size_decoder(&mut self, n: usize, dims: &[usize]) {
        let pairs = dims.len() - 1;
        for buf in [&mut self.v, &mut self.u] {
            buf.resize_with(pairs, || DMatrix::zeros(0, 0));
            for (l, m) in buf.iter_mut().enumerate() {
                ensure_shape(m, n, dims[l]);
            }
        }
    }

    /// Sizes the backward buffers for `n` rows.
    pub(crate) fn size_backward(&mut self, n: usize, dims: &[usize]) {
        let pairs = dims.len() - 1;
        self.dv.resize_with(pairs, || DMatrix::zeros(0, 0));
        self.da.resize_with(pairs, || DMatrix::zeros(0, 0));
        for l in 0..pairs {
            ensure_shape(&mut self.dv[l], n, dims[l]);
            ensure_shape(&mut self.da[l], n, dims[l + 1]);
        }
    }
}
