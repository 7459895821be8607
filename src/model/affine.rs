//! The affine maps of a layer pair and their backward passes, shared by tied
//! and untied pairs.
//!
//! A pair is described by two `r x d` matrices: the encoder matrix `E`
//! (`z = x Eᵀ + ...`) and the decoder matrix `M` (`v = h M + ...`). Tied pairs
//! pass `W` for both; untied pairs pass `W_enc` and a transposed view of
//! `W_dec`. Backward passes **overwrite** weight gradients; bias gradients are
//! overwritten by the decoder pass, which runs first, and accumulated by the
//! encoder pass (the mirrored and pre-centering biases feed both maps).

use super::bias::Biases;
use super::kernels::{Strided, StridedMut, add_row, axpy, column_sums, gemm, matvec, rank_one};
use crate::real::Real;
use nalgebra::DMatrix;

/// Gradient slots for a pair's biases, split from the flat gradient.
pub(crate) struct BiasGrad<'a, T> {
    pub enc: Option<&'a mut [T]>,
    pub dec: Option<&'a mut [T]>,
    pub pre: Option<&'a mut [T]>,
}

impl<'a, T: Real> BiasGrad<'a, T> {
    /// Splits a pair's bias slice (flat order: `b_enc`, `b_dec` | `b_enc` | `b_pre`).
    pub fn split(biases: &Biases<T>, slice: &'a mut [T]) -> Self {
        match biases {
            Biases::None => BiasGrad {
                enc: None,
                dec: None,
                pre: None,
            },
            Biases::Separate { enc, .. } => {
                let (e, d) = slice.split_at_mut(enc.len());
                BiasGrad {
                    enc: Some(e),
                    dec: Some(d),
                    pre: None,
                }
            }
            Biases::Mirrored { .. } => BiasGrad {
                enc: Some(slice),
                dec: None,
                pre: None,
            },
            Biases::PreCentering { .. } => BiasGrad {
                enc: None,
                dec: None,
                pre: Some(slice),
            },
        }
    }
}

/// `z = x Eᵀ + b_enc` (separate, mirrored) or `(x − b_pre) Eᵀ` (pre-centering).
pub(crate) fn encode_into<T: Real>(
    e: Strided<'_, T>,
    biases: &Biases<T>,
    x: &DMatrix<T>,
    z: &mut DMatrix<T>,
) {
    gemm(
        T::one(),
        Strided::of(x),
        e.t(),
        T::zero(),
        StridedMut::of(z),
    );
    match biases {
        Biases::None => {}
        Biases::Separate { enc, .. } | Biases::Mirrored { enc } => {
            add_row(z.as_mut_slice(), x.nrows(), T::one(), enc.as_slice())
        }
        Biases::PreCentering { pre } => {
            // (x − 1 pᵀ) Eᵀ = x Eᵀ − 1 (E p)ᵀ: shift by an r-vector instead of
            // copying x.
            let mut ep = vec![T::zero(); e.rows];
            matvec(e, pre.as_slice(), &mut ep);
            add_row(z.as_mut_slice(), x.nrows(), -T::one(), &ep);
        }
    }
}

/// `v = h M + b_dec` (separate), `(h − b_enc) M` (mirrored) or `h M + b_pre`.
pub(crate) fn decode_into<T: Real>(
    m: Strided<'_, T>,
    biases: &Biases<T>,
    h: &DMatrix<T>,
    v: &mut DMatrix<T>,
) {
    gemm(T::one(), Strided::of(h), m, T::zero(), StridedMut::of(v));
    add_decoder_bias(m, biases, v);
}

/// The bias part of [`decode_into`], added to every row of `v = h M`
/// (n x d): `b_dec` (separate), `− b_encᵀ M` (mirrored) or `b_pre`. Shared
/// with the sparse decoder ([`super::sparse_decode`]), so both paths add the
/// biases alike.
pub(crate) fn add_decoder_bias<T: Real>(m: Strided<'_, T>, biases: &Biases<T>, v: &mut DMatrix<T>) {
    let n = v.nrows();
    match biases {
        Biases::None => {}
        Biases::Separate { dec, .. } => add_row(v.as_mut_slice(), n, T::one(), dec.as_slice()),
        Biases::Mirrored { enc } => {
            let mut bm = vec![T::zero(); m.cols];
            matvec(m.t(), enc.as_slice(), &mut bm);
            add_row(v.as_mut_slice(), n, -T::one(), &bm);
        }
        Biases::PreCentering { pre } => add_row(v.as_mut_slice(), n, T::one(), pre.as_slice()),
    }
}

/// Backward through `v = decode(h)`: `gm = ∂L/∂M` (overwritten), bias
/// gradients (overwritten), and `dh = dv Mᵀ` when asked.
pub(crate) fn decode_backward<T: Real>(
    m: Strided<'_, T>,
    biases: &Biases<T>,
    h: &DMatrix<T>,
    dv: &DMatrix<T>,
    mut gm: StridedMut<'_, T>,
    gb: BiasGrad<'_, T>,
    dh: Option<&mut DMatrix<T>>,
) {
    gemm(
        T::one(),
        Strided::of(h).t(),
        Strided::of(dv),
        T::zero(),
        gm.reborrow(),
    );
    decoder_bias_backward(m, biases, dv, &mut gm, gb);
    if let Some(dh) = dh {
        gemm(
            T::one(),
            Strided::of(dv),
            m.t(),
            T::zero(),
            StridedMut::of(dh),
        );
    }
}

/// The bias part of [`decode_backward`]: bias gradients (overwritten) and,
/// for mirrored biases, their term in `gm = ∂L/∂M` (which must already hold
/// the product's part). Shared with the sparse decoder
/// ([`super::sparse_decode`]).
pub(crate) fn decoder_bias_backward<T: Real>(
    m: Strided<'_, T>,
    biases: &Biases<T>,
    dv: &DMatrix<T>,
    gm: &mut StridedMut<'_, T>,
    gb: BiasGrad<'_, T>,
) {
    if matches!(biases, Biases::None) {
        return;
    }
    let mut s = vec![T::zero(); dv.ncols()];
    column_sums(dv.as_slice(), dv.nrows(), &mut s);
    match biases {
        Biases::None => {}
        Biases::Separate { .. } => gb.dec.expect("b_dec slot").copy_from_slice(&s),
        Biases::Mirrored { enc } => {
            // v = (h − 1 bᵀ) M: ∂L/∂M −= b sᵀ and ∂L/∂b = −M s.
            rank_one(gm, -T::one(), enc.as_slice(), &s);
            let g = gb.enc.expect("b_enc slot");
            matvec(m, &s, g);
            for x in g.iter_mut() {
                *x = -*x;
            }
        }
        Biases::PreCentering { .. } => gb.pre.expect("b_pre slot").copy_from_slice(&s),
    }
}

/// Backward through `z = encode(x)`: `ge = ∂L/∂E` (overwritten), bias
/// gradients (accumulated; see the module docs), and `dx = dz E` when asked.
pub(crate) fn encode_backward<T: Real>(
    e: Strided<'_, T>,
    biases: &Biases<T>,
    x: &DMatrix<T>,
    dz: &DMatrix<T>,
    mut ge: StridedMut<'_, T>,
    gb: BiasGrad<'_, T>,
    dx: Option<&mut DMatrix<T>>,
) {
    gemm(
        T::one(),
        Strided::of(dz).t(),
        Strided::of(x),
        T::zero(),
        ge.reborrow(),
    );
    encoder_bias_backward(e, biases, dz, &mut ge, gb);
    if let Some(dx) = dx {
        gemm(T::one(), Strided::of(dz), e, T::zero(), StridedMut::of(dx));
    }
}

/// The bias part of [`encode_backward`]: bias gradients (accumulated, or
/// overwritten for `b_enc` of separate biases) and, for pre-centering, its
/// term in `ge = ∂L/∂E` (which must already hold the product's part).
/// Shared with the sparse encoder gradient ([`super::sparse_decode`]), so
/// both paths give the same bias gradients from the same `dz`.
pub(crate) fn encoder_bias_backward<T: Real>(
    e: Strided<'_, T>,
    biases: &Biases<T>,
    dz: &DMatrix<T>,
    ge: &mut StridedMut<'_, T>,
    gb: BiasGrad<'_, T>,
) {
    if matches!(biases, Biases::None) {
        return;
    }
    let mut t = vec![T::zero(); dz.ncols()];
    column_sums(dz.as_slice(), dz.nrows(), &mut t);
    match biases {
        Biases::None => {}
        Biases::Separate { .. } => gb.enc.expect("b_enc slot").copy_from_slice(&t),
        Biases::Mirrored { .. } => axpy(gb.enc.expect("b_enc slot"), T::one(), &t),
        Biases::PreCentering { pre } => {
            // z = (x − 1 pᵀ) Eᵀ: ∂L/∂E −= t pᵀ and ∂L/∂p += −Eᵀ t.
            rank_one(ge, -T::one(), &t, pre.as_slice());
            let mut et = vec![T::zero(); e.cols];
            matvec(e.t(), &t, &mut et);
            axpy(gb.pre.expect("b_pre slot"), -T::one(), &et);
        }
    }
}
