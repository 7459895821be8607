//! A tied layer pair: one weight `W` (r x d) used by the encoder as `Wᵀ` and
//! by the decoder as `W`, or one conv kernel `K` used by `conv2d` and by its
//! adjoint `conv_transpose2d`.

use super::bias::Biases;
use super::checks::{check_conv_biases, check_finite};
use super::conv::Conv2d;
use super::map::{PairMap, PairWeights};
use crate::error::Result;
use crate::real::Real;
use nalgebra::DMatrix;
use rayon::prelude::*;

/// Entries per task of [`TiedLinear::set_rows`]'s copy (256 KiB of f32).
const COPY_CHUNK: usize = 1 << 16;

/// A tied pair: `z = x Wᵀ + b_enc`, `v = h W + b_dec` (see
/// [`super::BiasMode`] for the other bias modes). Activations are applied by
/// the [`super::Autoencoder`] stack, so these maps are affine.
///
/// A conv pair ([`TiedLinear::conv_pair`]) is the same idea with a structured
/// linear map: `z = conv2d(x, K) + b_enc`, `v = conv_transpose2d(h, K) + b_dec`,
/// where `weight()` is the kernel matrix `K` (`C_out x C_in·k_h·k_w`, see
/// [`super::conv`]) and the biases are per channel.
#[derive(Clone, Debug)]
pub struct TiedLinear<T: Real> {
    weight: DMatrix<T>,
    biases: Biases<T>,
    map: PairMap,
    /// `W` row-major, each unit's direction contiguous, as the trainer's
    /// flat parameters hold it (copied in [`TiedLinear::set_rows`] when it
    /// loads them), or empty when no such copy is current. The sparse
    /// kernels read the directions from it in place instead of gathering
    /// them from the column-major `W` on every call; it is a cache, so it
    /// takes no part in equality.
    rows: Vec<T>,
}

impl<T: Real> PartialEq for TiedLinear<T> {
    fn eq(&self, other: &Self) -> bool {
        self.weight == other.weight && self.biases == other.biases && self.map == other.map
    }
}

impl<T: Real> TiedLinear<T> {
    /// A pair from `W` (r x d) and biases of matching lengths; all entries
    /// must be finite.
    pub fn new(weight: DMatrix<T>, biases: Biases<T>) -> Result<Self> {
        check_finite(&weight, "tied weight")?;
        biases.check(weight.ncols(), weight.nrows())?;
        Ok(TiedLinear {
            weight,
            biases,
            map: PairMap::Affine,
            rows: Vec::new(),
        })
    }

    /// A tied conv pair with geometry `geometry`, kernel matrix `K`
    /// (`C_out x C_in·k_h·k_w`) and per-channel biases (`None` or `Separate`
    /// with `C_out` encoder and `C_in` decoder entries).
    pub fn conv_pair(geometry: Conv2d, kernel: DMatrix<T>, biases: Biases<T>) -> Result<Self> {
        geometry.check_kernel(&kernel)?;
        check_conv_biases(
            geometry.input().channels,
            geometry.output().channels,
            &biases,
        )?;
        Ok(TiedLinear {
            weight: kernel,
            biases,
            map: PairMap::Conv(geometry),
            rows: Vec::new(),
        })
    }

    /// The geometry, for a conv pair.
    pub fn conv_geometry(&self) -> Option<&Conv2d> {
        self.map.conv()
    }

    /// `W`, r x d: row `i` is hidden unit `i`'s filter (the kernel matrix
    /// `C_out x C_in·k_h·k_w` for a conv pair).
    pub fn weight(&self) -> &DMatrix<T> {
        &self.weight
    }

    /// The biases.
    pub fn biases(&self) -> &Biases<T> {
        &self.biases
    }

    /// Input width `d` (`C_in·H·W` for a conv pair).
    pub fn input_dim(&self) -> usize {
        self.map.input_dim(&self.weight)
    }

    /// Hidden width `r` (`C_out·H_out·W_out` for a conv pair).
    pub fn output_dim(&self) -> usize {
        self.map.output_dim(&self.weight)
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

    /// The one weight, as both maps' weight.
    pub(crate) fn weights(&self) -> PairWeights<'_, T> {
        PairWeights::Tied {
            weight: &self.weight,
            rows: &self.rows,
        }
    }

    /// The weight and biases for writing; the row-major copy of `W` is
    /// dropped, since it may no longer match.
    pub(crate) fn parts_mut(&mut self) -> (&mut DMatrix<T>, &mut Biases<T>) {
        self.rows.clear();
        (&mut self.weight, &mut self.biases)
    }

    /// Keeps `src`, the row-major entries of the current `W`, as its
    /// row-major copy (a dense pair only; a conv kernel's rows are not
    /// decoding directions). The caller has just loaded `W` from `src`.
    pub(crate) fn set_rows(&mut self, src: &[T]) {
        debug_assert_eq!(src.len(), self.weight.len(), "row-major copy of W");
        if matches!(self.map, PairMap::Affine) {
            self.rows.resize(src.len(), T::zero());
            // A copy per step of the whole weight: split over the pool, as
            // the transpose into `W` is (the bits cannot depend on it).
            self.rows
                .par_chunks_mut(COPY_CHUNK)
                .zip(src.par_chunks(COPY_CHUNK))
                .for_each(|(dst, src)| dst.copy_from_slice(src));
        }
    }
}
