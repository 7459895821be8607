//! One layer pair of a stack, tied or untied, behind one interface.

use super::bias::Biases;
use super::conv::Conv2d;
use super::dense::Dense;
use super::map::{PairMap, PairWeights};
use super::tied::TiedLinear;
use crate::error::Result;
use crate::real::Real;
use nalgebra::DMatrix;
use rayon::prelude::*;

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

    /// The geometry of a conv pair (`None` for a dense one).
    pub fn conv(&self) -> Option<&Conv2d> {
        self.map().conv()
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
    /// space is what principal angles compare with PCA's subspace. For a conv
    /// pair, the kernel matrix `C_out x C_in·k_h·k_w` (see [`super::conv`]).
    pub fn encoder_weight(&self) -> &DMatrix<T> {
        match self {
            Layer::Tied(t) => t.weight(),
            Layer::Dense(d) => d.encoder_weight(),
        }
    }

    /// The decoder weight as a d x r matrix: `Wᵀ` when tied (a copy),
    /// `W_dec` otherwise. For a conv pair, the transposed decoder kernel
    /// matrix (`C_in·k_h·k_w x C_out`), so a pair is tied exactly when this
    /// equals `encoder_weight()ᵀ`, conv or not.
    pub fn decoder_weight(&self) -> DMatrix<T> {
        self.map().decoder_weight(self.weights())
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

    /// Encoder pre-activation into `z` (sized `n x r`); `patches` is scratch
    /// for conv pairs.
    pub(crate) fn encode_into(&self, x: &DMatrix<T>, z: &mut DMatrix<T>, patches: &mut Vec<T>) {
        self.map()
            .encode_into(self.weights(), self.biases(), x, z, patches)
    }

    /// The map the pair applies (dense or conv), which the stack's
    /// backward pass calls directly.
    pub(crate) fn map(&self) -> &PairMap {
        match self {
            Layer::Tied(t) => t.map(),
            Layer::Dense(d) => d.map(),
        }
    }

    /// The pair's weights as stored.
    pub(crate) fn weights(&self) -> PairWeights<'_, T> {
        match self {
            Layer::Tied(t) => t.weights(),
            Layer::Dense(d) => d.weights(),
        }
    }

    /// Writes the pair's parameters in flat order (see [`super::params`]):
    /// each stored matrix row-major, then the biases.
    pub(crate) fn write_flat(&self, out: &mut [T]) {
        let mut at = write_row_major(self.encoder_weight(), out);
        if let Layer::Dense(dense) = self {
            at += write_row_major(dense.decoder_weight(), &mut out[at..]);
        }
        self.biases().write_flat(&mut out[at..]);
    }

    /// Reads the pair's parameters from flat order.
    pub(crate) fn read_flat(&mut self, src: &[T]) {
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
        let mut at = read_row_major(w, src);
        let weight = at;
        if let Some(wd) = wd {
            at += read_row_major(wd, &src[at..]);
        }
        biases.read_flat(&src[at..]);
        if let Layer::Tied(t) = self {
            t.set_rows(&src[..weight]);
        }
    }
}

/// Writes `m` row-major to the front of `out`; returns the count.
fn write_row_major<T: Real>(m: &DMatrix<T>, out: &mut [T]) -> usize {
    let (rows, cols) = m.shape();
    for i in 0..rows {
        for j in 0..cols {
            out[i * cols + j] = m[(i, j)];
        }
    }
    rows * cols
}

/// Rows of `m` per block of [`read_row_major`]'s transpose: 16 f32 values
/// fill one 64-byte cache line of a column.
const READ_TILE: usize = 16;

/// Fills `m` from the row-major front of `src`; returns the count. A
/// blocked transpose (the optimizer writes parameters row-major, the
/// matrices are column-major): each write fills a cache line of a column
/// while the block's rows are read front to back.
///
/// Runs in parallel over fixed blocks of columns when the matrix is large
/// (the trainer loads parameters after every batch, and a serial copy there
/// is time one core idles); a copy, so the threads cannot change any bit.
fn read_row_major<T: Real>(m: &mut DMatrix<T>, src: &[T]) -> usize {
    let (rows, cols) = m.shape();
    let src = &src[..rows * cols];
    if rows == 0 || cols == 0 {
        return 0;
    }
    let per_task = PARALLEL_READ.div_ceil(rows).max(1);
    if rows * cols < 2 * PARALLEL_READ {
        transpose_columns(src, rows, cols, 0, m.as_mut_slice());
    } else {
        m.as_mut_slice()
            .par_chunks_mut(rows * per_task)
            .enumerate()
            .for_each(|(t, dst)| transpose_columns(src, rows, cols, t * per_task, dst));
    }
    rows * cols
}

multiversion! {
    /// Columns `c0..` of the row-major `rows x cols` matrix `src` into the
    /// column-major `dst` (as many whole columns as it holds), through
    /// 16 x 16 tiles: contiguous loads from 16 source rows, contiguous
    /// stores into 16 columns.
    fn transpose_columns<T: Real>(src: &[T], rows: usize, cols: usize, c0: usize, dst: &mut [T]) {
        let width = dst.len() / rows;
        for i0 in (0..rows).step_by(READ_TILE) {
            let h = READ_TILE.min(rows - i0);
            let mut jj = 0;
            if h == READ_TILE {
                while jj + READ_TILE <= width {
                    let j0 = c0 + jj;
                    let mut tile = [[T::zero(); READ_TILE]; READ_TILE];
                    for (k, row) in tile.iter_mut().enumerate() {
                        let at = (i0 + k) * cols + j0;
                        row.copy_from_slice(&src[at..at + READ_TILE]);
                    }
                    for t in 0..READ_TILE {
                        let out = &mut dst[(jj + t) * rows + i0..(jj + t) * rows + i0 + READ_TILE];
                        for (o, row) in out.iter_mut().zip(&tile) {
                            *o = row[t];
                        }
                    }
                    jj += READ_TILE;
                }
            }
            for jj in jj..width {
                let j = c0 + jj;
                let out = &mut dst[jj * rows + i0..jj * rows + i0 + h];
                for (k, o) in out.iter_mut().enumerate() {
                    *o = src[(i0 + k) * cols + j];
                }
            }
        }
    }
}

/// Entries per parallel task of [`read_row_major`].
const PARALLEL_READ: usize = 8192;

#[cfg(test)]
mod tests {
    use super::*;

    /// The tiled, parallel transpose equals entry-by-entry reading, for
    /// whole and ragged tiles and for matrices below and above the parallel
    /// threshold; writing back gives the source again.
    #[test]
    fn read_row_major_is_the_transpose_of_the_flat_order() {
        for (rows, cols) in [(1, 1), (3, 5), (16, 16), (17, 33), (64, 784), (70, 301)] {
            let src: Vec<f32> = (0..rows * cols).map(|k| k as f32 * 0.5 - 3.0).collect();
            let mut m = DMatrix::<f32>::zeros(rows, cols);
            assert_eq!(read_row_major(&mut m, &src), rows * cols);
            for i in 0..rows {
                for j in 0..cols {
                    assert_eq!(m[(i, j)], src[i * cols + j], "{rows}x{cols} at ({i}, {j})");
                }
            }
            let mut back = vec![0.0; rows * cols];
            write_row_major(&m, &mut back);
            assert_eq!(back, src);
        }
    }

    /// Loading a tied pair's flat parameters keeps `W`'s row-major copy for
    /// the sparse kernels, equal to the weight; writing through
    /// `parts_mut` drops it (it could go stale), and equality ignores it.
    #[test]
    fn a_tied_pair_keeps_its_row_major_copy_only_while_it_is_current() {
        let (r, d) = (5, 3);
        let w = DMatrix::<f32>::from_fn(r, d, |i, j| (i * d + j) as f32);
        let fresh = TiedLinear::new(w, Biases::None).expect("tied pair");
        let mut layer = Layer::Tied(fresh.clone());
        let rows = |layer: &Layer<f32>| match layer.weights() {
            PairWeights::Tied { rows, .. } => rows.to_vec(),
            PairWeights::Untied { .. } => panic!("tied pair"),
        };
        assert!(rows(&layer).is_empty(), "no copy before any load");
        let src: Vec<f32> = (0..r * d).map(|k| k as f32 * -0.5).collect();
        layer.read_flat(&src);
        assert_eq!(rows(&layer), src);
        let w = layer.encoder_weight();
        assert_eq!(w[(1, 2)], src[d + 2], "the copy is W row-major");
        let Layer::Tied(t) = &mut layer else {
            panic!("tied pair")
        };
        let before = t.clone();
        t.parts_mut();
        assert_eq!(*t, before, "equality ignores the copy");
        assert!(rows(&layer).is_empty(), "dropped once W may change");
    }
}
