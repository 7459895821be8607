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
//! Everything runs on the calling thread in a fixed order (matrixmultiply
//! has no threading here), so results do not depend on a thread pool, and
//! each output value is a dot product over the kernel taps alone, so a batch
//! gives the same outputs as its rows one by one.

use super::affine::BiasGrad;
use super::bias::Biases;
use super::conv::Conv2d;
use super::kernels::{Strided, StridedMut, gemm};
use crate::real::Real;
use nalgebra::DMatrix;

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

/// Sizes the patch buffer for `n` samples (contents unspecified).
fn patch_buffer<T: Real>(g: &Conv2d, n: usize, buf: &mut Vec<T>) -> usize {
    let rows = n * g.output().pixels();
    let len = rows * g.filter_len();
    if buf.len() != len {
        buf.resize(len, T::zero());
    }
    rows
}

/// Walks every (tap, output position) pair, calling `f(feature, run)` with
/// the input feature the tap reads (`None` in the padding) and the index of
/// the `n`-long run in the patch buffer.
#[inline(always)]
fn for_each_tap(g: &Conv2d, n: usize, mut f: impl FnMut(Option<usize>, usize)) {
    let (inp, out) = (g.input(), g.output());
    let ([kh, kw], [sh, sw], [ph, pw]) = (g.kernel(), g.stride(), g.padding());
    let rows = n * out.pixels();
    for c in 0..inp.channels {
        for a in 0..kh {
            for b in 0..kw {
                let col = ((c * kh + a) * kw + b) * rows;
                for yo in 0..out.height {
                    let y = (yo * sh + a).checked_sub(ph).filter(|&y| y < inp.height);
                    for xo in 0..out.width {
                        let x = (xo * sw + b).checked_sub(pw).filter(|&x| x < inp.width);
                        let run = col + (yo * out.width + xo) * n;
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
}

/// `patches = im2col(x)` for `x` column-major `n x (C_in·H·W)`.
fn im2col<T: Real>(g: &Conv2d, x: &[T], n: usize, patches: &mut [T]) {
    for_each_tap(g, n, |feature, run| {
        let dst = &mut patches[run..run + n];
        match feature {
            Some(f) => dst.copy_from_slice(&x[f * n..(f + 1) * n]),
            None => dst.fill(T::zero()),
        }
    });
}

/// `x = col2im(patches)`: every tap's run added back onto the feature it
/// read (the adjoint of [`im2col`]). Overwrites `x`.
fn col2im<T: Real>(g: &Conv2d, patches: &[T], n: usize, x: &mut [T]) {
    x.fill(T::zero());
    for_each_tap(g, n, |feature, run| {
        if let Some(f) = feature {
            for (d, &s) in x[f * n..(f + 1) * n].iter_mut().zip(&patches[run..run + n]) {
                *d += s;
            }
        }
    });
}

/// `z = conv2d(x, K)` (no bias), `z` already `n x (C_out·P)`.
pub(crate) fn conv_forward<T: Real>(
    g: &Conv2d,
    kernel: &DMatrix<T>,
    x: &DMatrix<T>,
    z: &mut DMatrix<T>,
    patches: &mut Vec<T>,
) {
    let n = x.nrows();
    let rows = patch_buffer(g, n, patches);
    im2col(g, x.as_slice(), n, patches);
    let c_out = g.output().channels;
    gemm(
        T::one(),
        view(patches, rows, g.filter_len()),
        Strided::of(kernel).t(),
        T::zero(),
        StridedMut::col_major(z.as_mut_slice(), rows, c_out),
    );
}

/// `x = conv_transpose2d(y, K)` (no bias), `x` already `n x (C_in·H·W)`.
pub(crate) fn conv_transpose<T: Real>(
    g: &Conv2d,
    kernel: &DMatrix<T>,
    y: &DMatrix<T>,
    x: &mut DMatrix<T>,
    patches: &mut Vec<T>,
) {
    let n = y.nrows();
    let rows = patch_buffer(g, n, patches);
    gemm(
        T::one(),
        view(y.as_slice(), rows, g.output().channels),
        Strided::of(kernel),
        T::zero(),
        StridedMut::col_major(patches, rows, g.filter_len()),
    );
    col2im(g, patches, n, x.as_mut_slice());
}

/// Adds `b[c]` to every value of channel `c` (a channel is a contiguous block).
fn add_channel_bias<T: Real>(m: &mut DMatrix<T>, b: &[T]) {
    let block = m.len() / b.len().max(1);
    for (chunk, &bc) in m.as_mut_slice().chunks_exact_mut(block).zip(b) {
        for v in chunk {
            *v += bc;
        }
    }
}

/// `out[c] = Σ` of channel `c`'s values over samples and pixels.
fn channel_sums<T: Real>(m: &DMatrix<T>, out: &mut [T]) {
    let block = m.len() / out.len().max(1);
    for (o, chunk) in out.iter_mut().zip(m.as_slice().chunks_exact(block)) {
        let mut s = T::zero();
        for &v in chunk {
            s += v;
        }
        *o = s;
    }
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
    let rows = patch_buffer(g, n, patches);
    let (c_out, taps) = g.kernel_shape();
    im2col(g, dv.as_slice(), n, patches);
    gemm(
        T::one(),
        view(h.as_slice(), rows, c_out).t(),
        view(patches, rows, taps),
        T::zero(),
        gk,
    );
    match biases {
        Biases::None => {}
        Biases::Separate { .. } => channel_sums(dv, gb.dec.expect("b_dec slot")),
        _ => unsupported(),
    }
    if let Some(dh) = dh {
        gemm(
            T::one(),
            view(patches, rows, taps),
            Strided::of(kernel).t(),
            T::zero(),
            StridedMut::col_major(dh.as_mut_slice(), rows, c_out),
        );
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
    let rows = patch_buffer(g, n, patches);
    let (c_out, taps) = g.kernel_shape();
    im2col(g, x.as_slice(), n, patches);
    gemm(
        T::one(),
        view(dz.as_slice(), rows, c_out).t(),
        view(patches, rows, taps),
        T::zero(),
        gk,
    );
    match biases {
        Biases::None => {}
        Biases::Separate { .. } => channel_sums(dz, gb.enc.expect("b_enc slot")),
        _ => unsupported(),
    }
    if let Some(dx) = dx {
        conv_transpose(g, kernel, dz, dx, patches);
    }
}
