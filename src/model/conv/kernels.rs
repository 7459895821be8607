//! Convolution as im2col + one gemm per batch, and its backward passes.
//!
//! Data matrices are column-major `n x (C·H·W)`, so one feature `(c, y, x)`
//! of all `n` samples is a contiguous run of `n` values. The patch matrix is
//! built with those runs: its row `q = i + n·p` is sample `i` at output
//! position `p = y_o·W_out + x_o`, its column `f = (c·k_h + a)·k_w + b` is one
//! kernel tap, and it is stored column-major (`(n·P) x (C_in·k_h·k_w)`), so
//! every im2col step is a copy of `n` contiguous values. With rows ordered
//! that way, the column-major `n x (C_out·P)` output **is** the column-major
//! `(n·P) x C_out` product `patches · Kᵀ`, so the gemm writes straight into
//! the output matrix: no transposes, no scatter.
//!
//! Large batches are processed in blocks of output positions (rows
//! `n·p₀ .. n·p₁` of the patch matrix are one contiguous block), so the patch
//! buffer stays near [`PATCH_BLOCK`] values: an evaluation on 10,000 images
//! does not allocate a patch matrix many times the data's size, and each
//! block is still in cache when the gemm packs it. Block sizes depend only on
//! `n` and the geometry, never on threads.
//!
//! Everything runs on the calling thread in a fixed order (the products of
//! [`crate::model::kernels::gemm`] are single-threaded), so results do not depend
//! on a thread pool, and
//! each output value is a dot product over the kernel taps alone, so a batch
//! gives the same outputs as its rows one by one.

use super::Conv2d;
use crate::error::Result;
use crate::model::affine::BiasGrad;
use crate::model::bias::Biases;
use crate::model::checks::check_input;
use crate::model::kernels::{Strided, StridedMut, add_row, column_sums, ensure_shape, gemm};
use crate::real::Real;
use nalgebra::DMatrix;
use std::ops::Range;

/// Target number of values in one block of the patch matrix (1 MiB of
/// f32): training shards of a few dozen images fit in one or two blocks,
/// large evaluations are cut. Smaller blocks measured no faster.
const PATCH_BLOCK: usize = 1 << 18;

/// A column-major `rows x cols` view.
fn view<T: Real>(data: &[T], rows: usize, cols: usize) -> Strided<'_, T> {
    Strided {
        data,
        rows,
        cols,
        rs: 1,
        cs: rows.max(1),
    }
}

/// The blocks of output positions for `n` samples.
fn position_blocks(g: &Conv2d, n: usize) -> impl Iterator<Item = Range<usize>> {
    let positions = g.output().pixels();
    let per = (PATCH_BLOCK / (n * g.filter_len()).max(1)).clamp(1, positions);
    (0..positions)
        .step_by(per)
        .map(move |p| p..(p + per).min(positions))
}

/// Sizes the patch buffer for `n` samples at `block` positions and returns
/// its row count (contents unspecified).
fn patch_buffer<T: Real>(g: &Conv2d, n: usize, block: &Range<usize>, buf: &mut Vec<T>) -> usize {
    let rows = n * block.len();
    let len = rows * g.filter_len();
    if buf.len() != len {
        buf.resize(len, T::zero());
    }
    rows
}

/// The rows of `m` (column-major `n x (C·P)`, viewed as `(n·P) x C`) at
/// output positions `block`.
fn position_rows<'a, T: Real>(
    m: &'a [T],
    n: usize,
    positions: usize,
    channels: usize,
    block: &Range<usize>,
) -> Strided<'a, T> {
    Strided {
        data: &m[n * block.start..],
        rows: n * block.len(),
        cols: channels,
        rs: 1,
        cs: n * positions,
    }
}

/// [`position_rows`] for writing.
fn position_rows_mut<'a, T: Real>(
    m: &'a mut [T],
    n: usize,
    positions: usize,
    channels: usize,
    block: &Range<usize>,
) -> StridedMut<'a, T> {
    StridedMut {
        data: &mut m[n * block.start..],
        rows: n * block.len(),
        cols: channels,
        rs: 1,
        cs: n * positions,
    }
}

/// Walks every (output position in `block`, tap) pair, positions outermost,
/// calling `f(feature, run)` with the input feature the tap reads (`None` in
/// the padding) and the index of the `n`-long run in the block's patch
/// buffer.
///
/// Positions outermost makes [`col2im_add`] add the contributions to each
/// input value in increasing position order however the positions are cut
/// into blocks, so a batch and its rows one by one get the same bits.
#[inline(always)]
fn for_each_tap(
    g: &Conv2d,
    n: usize,
    block: &Range<usize>,
    mut f: impl FnMut(Option<usize>, usize),
) {
    let (inp, out) = (g.input(), g.output());
    let ([kh, kw], [sh, sw], [ph, pw]) = (g.kernel(), g.stride(), g.padding());
    let rows = n * block.len();
    for p in block.clone() {
        let (yo, xo) = (p / out.width, p % out.width);
        let at = (p - block.start) * n;
        for c in 0..inp.channels {
            for a in 0..kh {
                let y = (yo * sh + a).checked_sub(ph).filter(|&y| y < inp.height);
                for b in 0..kw {
                    let x = (xo * sw + b).checked_sub(pw).filter(|&x| x < inp.width);
                    let run = ((c * kh + a) * kw + b) * rows + at;
                    let feature = match (y, x) {
                        (Some(y), Some(x)) => Some((c * inp.height + y) * inp.width + x),
                        _ => None,
                    };
                    f(feature, run);
                }
            }
        }
    }
}

/// `patches = im2col(x)` at positions `block`, for `x` column-major
/// `n x (C_in·H·W)`.
fn im2col<T: Real>(g: &Conv2d, x: &[T], n: usize, block: &Range<usize>, patches: &mut [T]) {
    for_each_tap(g, n, block, |feature, run| {
        let dst = &mut patches[run..run + n];
        match feature {
            Some(f) => dst.copy_from_slice(&x[f * n..(f + 1) * n]),
            None => dst.fill(T::zero()),
        }
    });
}

multiversion! {
    /// `x += col2im(patches)` at positions `block`: every tap's run added
    /// back onto the feature it read (the adjoint of [`im2col`]).
    fn col2im_add<T: Real>(g: &Conv2d, patches: &[T], n: usize, block: &Range<usize>, x: &mut [T]) {
        for_each_tap(g, n, block, |feature, run| {
            if let Some(f) = feature {
                for (d, &s) in x[f * n..(f + 1) * n].iter_mut().zip(&patches[run..run + n]) {
                    *d += s;
                }
            }
        });
    }
}

/// `z = conv2d(x, K)` (no bias), `z` already `n x (C_out·P)`.
fn conv_forward<T: Real>(
    g: &Conv2d,
    kernel: &DMatrix<T>,
    x: &DMatrix<T>,
    z: &mut DMatrix<T>,
    patches: &mut Vec<T>,
) {
    let n = x.nrows();
    let (positions, c_out) = (g.output().pixels(), g.output().channels);
    for block in position_blocks(g, n) {
        let rows = patch_buffer(g, n, &block, patches);
        im2col(g, x.as_slice(), n, &block, patches);
        gemm(
            T::one(),
            view(patches, rows, g.filter_len()),
            Strided::of(kernel).t(),
            T::zero(),
            position_rows_mut(z.as_mut_slice(), n, positions, c_out, &block),
        );
    }
}

/// `x = conv_transpose2d(y, K)` (no bias), `x` already `n x (C_in·H·W)`.
fn conv_transpose<T: Real>(
    g: &Conv2d,
    kernel: &DMatrix<T>,
    y: &DMatrix<T>,
    x: &mut DMatrix<T>,
    patches: &mut Vec<T>,
) {
    let n = y.nrows();
    let (positions, c_out) = (g.output().pixels(), g.output().channels);
    x.as_mut_slice().fill(T::zero());
    for block in position_blocks(g, n) {
        let rows = patch_buffer(g, n, &block, patches);
        gemm(
            T::one(),
            position_rows(y.as_slice(), n, positions, c_out, &block),
            Strided::of(kernel),
            T::zero(),
            StridedMut::col_major(patches, rows, g.filter_len()),
        );
        col2im_add(g, patches, n, &block, x.as_mut_slice());
    }
}

/// The public conv maps, next to the kernels they run (the geometry's own
/// file does not import this one).
impl Conv2d {
    /// `conv2d(x, K)` of a batch: `n x (C_in·H·W)` -> `n x (C_out·H_out·W_out)`,
    /// no bias.
    pub fn conv2d<T: Real>(&self, x: &DMatrix<T>, kernel: &DMatrix<T>) -> Result<DMatrix<T>> {
        self.check_kernel(kernel)?;
        check_input(x, self.input().len(), "conv input")?;
        let mut z = DMatrix::zeros(0, 0);
        ensure_shape(&mut z, x.nrows(), self.output().len());
        conv_forward(self, kernel, x, &mut z, &mut Vec::new());
        Ok(z)
    }

    /// `conv_transpose2d(y, K)` of a batch with the same kernel:
    /// `n x (C_out·H_out·W_out)` -> `n x (C_in·H·W)`, no bias. This is the
    /// adjoint of [`Conv2d::conv2d`].
    pub fn conv_transpose2d<T: Real>(
        &self,
        y: &DMatrix<T>,
        kernel: &DMatrix<T>,
    ) -> Result<DMatrix<T>> {
        self.check_kernel(kernel)?;
        check_input(y, self.output().len(), "conv_transpose input")?;
        let mut x = DMatrix::zeros(0, 0);
        ensure_shape(&mut x, y.nrows(), self.input().len());
        conv_transpose(self, kernel, y, &mut x, &mut Vec::new());
        Ok(x)
    }
}

/// Adds `b[c]` to every value of channel `c` (a channel is a contiguous
/// block: a column of the `(n·P) x C` view).
fn add_channel_bias<T: Real>(m: &mut DMatrix<T>, b: &[T]) {
    let block = m.len() / b.len().max(1);
    add_row(m.as_mut_slice(), block, T::one(), b);
}

/// `out[c] = Σ` of channel `c`'s values over samples and pixels.
fn channel_sums<T: Real>(m: &DMatrix<T>, out: &mut [T]) {
    let block = m.len() / out.len().max(1);
    column_sums(m.as_slice(), block, out);
}

fn unsupported() -> ! {
    unreachable!("conv pairs are only built with none or separate biases")
}

/// Encoder pre-activation `z = conv2d(x, K) + b_enc`.
pub(crate) fn encode_into<T: Real>(
    g: &Conv2d,
    kernel: &DMatrix<T>,
    biases: &Biases<T>,
    x: &DMatrix<T>,
    z: &mut DMatrix<T>,
    patches: &mut Vec<T>,
) {
    conv_forward(g, kernel, x, z, patches);
    match biases {
        Biases::None => {}
        Biases::Separate { enc, .. } => add_channel_bias(z, enc.as_slice()),
        _ => unsupported(),
    }
}

/// Decoder pre-activation `v = conv_transpose2d(h, K) + b_dec`.
pub(crate) fn decode_into<T: Real>(
    g: &Conv2d,
    kernel: &DMatrix<T>,
    biases: &Biases<T>,
    h: &DMatrix<T>,
    v: &mut DMatrix<T>,
    patches: &mut Vec<T>,
) {
    conv_transpose(g, kernel, h, v, patches);
    match biases {
        Biases::None => {}
        Biases::Separate { dec, .. } => add_channel_bias(v, dec.as_slice()),
        _ => unsupported(),
    }
}

/// Backward through `v = conv_transpose2d(h, K) + b_dec`: `gk = ∂L/∂K`
/// (`C_out x C_in·k_h·k_w`, overwritten), `b_dec`'s gradient (overwritten)
/// and `dh = conv2d(dv, K)` when asked.
///
/// `⟨col2im(H K), dv⟩ = ⟨H K, im2col(dv)⟩`, so `∂L/∂K = Hᵀ im2col(dv)` and
/// `∂L/∂H = im2col(dv) Kᵀ`, with `H` the `(n·P) x C_out` view of `h`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn decode_backward<T: Real>(
    g: &Conv2d,
    kernel: &DMatrix<T>,
    biases: &Biases<T>,
    h: &DMatrix<T>,
    dv: &DMatrix<T>,
    gk: StridedMut<'_, T>,
    gb: BiasGrad<'_, T>,
    dh: Option<&mut DMatrix<T>>,
    patches: &mut Vec<T>,
) {
    let n = h.nrows();
    let (c_out, taps) = g.kernel_shape();
    let positions = g.output().pixels();
    let mut gk = gk;
    let mut dh = dh;
    for (i, block) in position_blocks(g, n).enumerate() {
        let rows = patch_buffer(g, n, &block, patches);
        im2col(g, dv.as_slice(), n, &block, patches);
        // Blocks after the first accumulate into the kernel gradient.
        let beta = if i == 0 { T::zero() } else { T::one() };
        gemm(
            T::one(),
            position_rows(h.as_slice(), n, positions, c_out, &block).t(),
            view(patches, rows, taps),
            beta,
            gk.reborrow(),
        );
        if let Some(dh) = dh.as_deref_mut() {
            gemm(
                T::one(),
                view(patches, rows, taps),
                Strided::of(kernel).t(),
                T::zero(),
                position_rows_mut(dh.as_mut_slice(), n, positions, c_out, &block),
            );
        }
    }
    match biases {
        Biases::None => {}
        Biases::Separate { .. } => channel_sums(dv, gb.dec.expect("b_dec slot")),
        _ => unsupported(),
    }
}

/// Backward through `z = conv2d(x, K) + b_enc`: `gk = ∂L/∂K` (overwritten),
/// `b_enc`'s gradient (overwritten) and `dx = conv_transpose2d(dz, K)` when
/// asked.
#[allow(clippy::too_many_arguments)]
pub(crate) fn encode_backward<T: Real>(
    g: &Conv2d,
    kernel: &DMatrix<T>,
    biases: &Biases<T>,
    x: &DMatrix<T>,
    dz: &DMatrix<T>,
    gk: StridedMut<'_, T>,
    gb: BiasGrad<'_, T>,
    dx: Option<&mut DMatrix<T>>,
    patches: &mut Vec<T>,
) {
    let n = x.nrows();
    let (c_out, taps) = g.kernel_shape();
    let positions = g.output().pixels();
    let mut gk = gk;
    for (i, block) in position_blocks(g, n).enumerate() {
        let rows = patch_buffer(g, n, &block, patches);
        im2col(g, x.as_slice(), n, &block, patches);
        let beta = if i == 0 { T::zero() } else { T::one() };
        gemm(
            T::one(),
            position_rows(dz.as_slice(), n, positions, c_out, &block).t(),
            view(patches, rows, taps),
            beta,
            gk.reborrow(),
        );
    }
    match biases {
        Biases::None => {}
        Biases::Separate { .. } => channel_sums(dz, gb.enc.expect("b_enc slot")),
        _ => unsupported(),
    }
    if let Some(dx) = dx {
        conv_transpose(g, kernel, dz, dx, patches);
    }
}
