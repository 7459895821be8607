//! Sparse decoding: the decoder product of a TopK code and its backward
//! pass over the code's nonzero entries only, and the encoder's weight
//! gradient over the nonzero entries of the gradient that reaches the
//! code's pre-activations.
//!
//! A TopK code `h` (n x r) has at most `k` nonzero entries per row, so of
//! the `n r d` terms of `v = h M` (`M` the r x d decoder matrix) only
//! `n k d` are not zero. The dense kernels ([`super::affine`]) compute all
//! of them; the ones here follow OpenAI's sparse_autoencoder
//! (`sparse_autoencoder/kernels.py`: `TritonDecoderAutograd`, built from
//! `triton_sparse_dense_matmul`, `triton_sparse_transpose_dense_matmul`
//! and `triton_dense_dense_sparseout_matmul`) and touch only those:
//!
//! - forward: `v_i = Σ_{j: h_ij ≠ 0} h_ij M_j` (`M_j` is unit `j`'s
//!   decoding direction, a row of `M`);
//! - decoder gradient: `∂L/∂M_j = Σ_{i: h_ij ≠ 0} h_ij ∂L/∂v_i`, and 0 for a
//!   unit no row used;
//! - code gradient: `∂L/∂h_ij = ⟨∂L/∂v_i, M_j⟩` where `h_ij ≠ 0`, and 0
//!   elsewhere.
//!
//! A zero entry adds exactly nothing to a sum, so the forward pass and the
//! decoder gradient are the dense ones up to the order of the additions.
//! The code gradient differs from the dense `dv Mᵀ` wherever `h_ij = 0`,
//! and that is exact only because the activation's backward pass zeroes
//! those entries: the ReLU TopK kinds ([`Activation::TopK`],
//! [`Activation::BatchTopK`]) pass a gradient exactly where the value is
//! positive (a dropped unit and a kept one clamped at 0 pass nothing), so
//! their nonzero entries are their gradient's support. The signed kinds
//! pass a gradient through a kept unit whose value is exactly 0, and the
//! element-wise kinds through zeros too (a leaky ReLU, a tanh at 0), so
//! they keep the dense path ([`decodes_sparse`]).
//!
//! The same holds one step further down. After the activation's backward
//! pass, `dz = ∂L/∂z` (n x r, `z = x Eᵀ + ...` the pre-activations, `E`
//! the r x d encoder matrix) is nonzero only on the code's support, so the
//! encoder's weight gradient `dzᵀ x` has `n k d` nonzero terms of its
//! `n r d`, as does the input gradient `dz E` a deeper stack needs:
//!
//! - encoder gradient: `∂L/∂E_j = Σ_{i: dz_ij ≠ 0} dz_ij x_i`, and 0 for a
//!   unit no row's gradient reached;
//! - input gradient: `∂L/∂x_i = Σ_{j: dz_ij ≠ 0} dz_ij E_j`.
//!
//! These are the dense products up to the order of the additions for any
//! `dz`, however many nonzero entries a row holds (a BatchTopK row can
//! keep more than `k`), so [`encode_backward`] gathers each row's nonzero
//! entries as they are. The stack takes this path for the latent pair's
//! encoder when that pair decodes sparsely.
//!
//! **Determinism.** OpenAI's transpose product adds into the decoder
//! gradient with atomics, whose order depends on the GPU's scheduling.
//! Here every kernel runs on the calling thread (as the dense products do,
//! see [`super::kernels`]) and in a fixed order: output row `i` (of `v` or
//! of `∂L/∂x`) sums its terms in ascending unit order, and gradient row `j`
//! (of `∂L/∂M` or of `∂L/∂E`) its terms in ascending row order, with
//! element-wise vector arithmetic (no fused multiply-adds) and dot products
//! over fixed lanes. The batch engine runs fixed-size shards in parallel
//! and adds their gradients in shard order, so the bits do not depend on
//! the number of threads, nor on the vector width the CPU offers.
//!
//! **Layout.** Units are visited in blocks of [`TILE`]. An untied decoder
//! `W_dec` (d x r, column-major) stores each direction contiguously and is
//! read in place; a tied `W` and an encoder `W_enc` (r x d, column-major)
//! store them strided, and each block's directions are gathered into a
//! small tile (the rows of a block are one cache line apart per column).
//! `dv` (or `x`, for the encoder gradient) is copied once per call into
//! row-major order, and the forward output (or `∂L/∂x`) is accumulated
//! row-major and copied into its column-major matrix at the end. The
//! encoder's gradient slot, a tied `W`'s or an untied `W_enc`'s, is r x d
//! row-major, so its rows are written as whole rows.

use super::activation::Activation;
use super::affine::{BiasGrad, add_decoder_bias, decoder_bias_backward, encoder_bias_backward};
use super::bias::Biases;
use super::kernels::{Strided, StridedMut};
use crate::real::Real;
use nalgebra::DMatrix;
use serde::{Deserialize, Serialize};

/// Which kernels multiply a pair's code by its decoder weight and, on the
/// latent pair, the gradient at the code's pre-activations by the
/// encoder's input.
///
/// The sparse path runs a pair's decoder product and its backward pass
/// over the code's nonzero entries and, for the latent pair, the encoder's
/// weight gradient `dzᵀ x` (and the input gradient `dz E`) over the
/// nonzero entries of `dz = ∂L/∂z` as well: after the activation's
/// backward pass `dz` has the code's sparsity, so each of those products
/// costs `n k d` multiply-adds instead of `n r d`.
///
/// A field of [`AutoencoderSpec`](super::AutoencoderSpec), set with
/// [`AutoencoderSpec::decode_path()`](super::AutoencoderSpec::decode_path());
/// the two paths compute the same function and differ in the order of
/// their additions, so in the last bits (each path is deterministic on its
/// own). Serialized as `"auto"`, `"dense"` or `"sparse"`, and left out of
/// files when `auto`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DecodePath {
    /// Sparse where the code is sparse enough to gain: a dense (not conv)
    /// pair whose code is a ReLU TopK or BatchTopK with `k / r` at most
    /// [`SPARSE_DECODE_DENSITY`]; dense elsewhere.
    #[default]
    Auto,
    /// Dense products everywhere (the reference the tests compare with).
    Dense,
    /// Sparse on every pair where it is exact (a dense pair whose code is
    /// a ReLU TopK or BatchTopK), whatever the density.
    Sparse,
}

impl DecodePath {
    /// Whether this is [`DecodePath::Auto`] (the default, not written to
    /// files).
    pub fn is_auto(&self) -> bool {
        *self == DecodePath::Auto
    }

    /// A short name: `"auto"`, `"dense"` or `"sparse"`.
    pub fn name(self) -> &'static str {
        match self {
            DecodePath::Auto => "auto",
            DecodePath::Dense => "dense",
            DecodePath::Sparse => "sparse",
        }
    }
}

/// The largest code density `k / r` at which [`DecodePath::Auto`] decodes
/// sparsely: 1/8.
///
/// The dense path spends `2 n r d` FLOPs per product in a register-tiled
/// gemm; the sparse one `2 n k d` in vector loops that stream a weight
/// direction (or a gradient or input row) from cache for every term, plus
/// passes of `n r` over the code (or `dz`) and `n d` over the output. The
/// gemm's rate per FLOP is several times the loops', so the sparse path
/// needs a density well below 1 to gain, and at 1/8 it still does the
/// eighth of the dense work.
/// `benches/sae_epoch.rs` measures both paths at `r = 1024` with `k = 32`
/// and `64` (1/32 and 1/16). The built-in `sae` study's `k = r / 4` stays
/// dense, so its results are unchanged.
pub const SPARSE_DECODE_DENSITY: f64 = 0.125;

/// The per-row budget `k` of a code whose nonzero entries are exactly where
/// its activation's backward pass lets a gradient through (see the module
/// docs): the ReLU TopK kinds. `None` for every other activation.
fn sparse_code_budget(code: Activation) -> Option<usize> {
    match code {
        Activation::TopK { k } | Activation::BatchTopK { k } => Some(k),
        _ => None,
    }
}

/// Whether a dense pair whose code (`width` units) comes from `code`
/// decodes sparsely under `path` (conv pairs always decode densely; the
/// caller checks that).
pub(crate) fn decodes_sparse(path: DecodePath, code: Activation, width: usize) -> bool {
    let Some(k) = sparse_code_budget(code) else {
        return false;
    };
    match path {
        DecodePath::Dense => false,
        DecodePath::Sparse => true,
        DecodePath::Auto => k as f64 <= SPARSE_DECODE_DENSITY * width as f64,
    }
}

/// Units per block: 16 f32 values fill a 64-byte cache line, so gathering
/// a block of a tied `W`'s rows reads whole lines.
const TILE: usize = 16;

/// Independent accumulators of [`dot`]: enough to vectorise, fixed so the
/// order of the additions never changes.
const DOT_LANES: usize = 8;

/// Scratch buffers of the sparse kernels, kept in a
/// [`Workspace`](super::Workspace) so repeated calls do not allocate.
#[derive(Clone, Debug, Default)]
pub(crate) struct SparseScratch<T: Real> {
    /// Row-major `n x d`: the forward output before it is copied into `v`,
    /// `dv`'s rows in the decoder's backward pass, `x`'s rows and then
    /// `∂L/∂x` in the encoder's.
    rows: Vec<T>,
    /// One block's directions, gathered from a tied `W` or from `W_enc`.
    tile: Vec<T>,
    /// One block's decoder or encoder gradient rows.
    acc: Vec<T>,
}

impl<T: Real> SparseScratch<T> {
    /// Empty buffers.
    pub fn new() -> Self {
        SparseScratch {
            rows: Vec::new(),
            tile: Vec::new(),
            acc: Vec::new(),
        }
    }
}

/// `v = h M` plus the biases ([`super::affine::decode_into`]'s function)
/// over the nonzero entries of `h` (n x r); `m` is the r x d decoder matrix
/// and `v` is sized n x d.
pub(crate) fn decode_into<T: Real>(
    m: Strided<'_, T>,
    biases: &Biases<T>,
    h: &DMatrix<T>,
    v: &mut DMatrix<T>,
    scratch: &mut SparseScratch<T>,
) {
    let (n, r) = h.shape();
    let d = m.cols;
    assert_eq!(m.rows, r, "sparse decode: code width");
    assert_eq!(v.shape(), (n, d), "sparse decode: output shape");
    let SparseScratch { rows, tile, .. } = scratch;
    sparse_product(h.as_slice(), n, m, tile, rows, v.as_mut_slice());
    add_decoder_bias(m, biases, v);
}

/// Backward through [`decode_into`]: `gm = ∂L/∂M` (r x d, overwritten; 0
/// in the rows of units no row used), the bias gradients (overwritten, as
/// [`super::affine::decode_backward`] writes them) and, when asked,
/// `dh = ∂L/∂h` at the nonzero entries of `h` and 0 elsewhere (see the
/// module docs for why that is exact for the codes this path serves).
#[allow(clippy::too_many_arguments)]
pub(crate) fn decode_backward<T: Real>(
    m: Strided<'_, T>,
    biases: &Biases<T>,
    h: &DMatrix<T>,
    dv: &DMatrix<T>,
    mut gm: StridedMut<'_, T>,
    gb: BiasGrad<'_, T>,
    mut dh: Option<&mut DMatrix<T>>,
    scratch: &mut SparseScratch<T>,
) {
    let (n, r) = h.shape();
    let d = m.cols;
    assert_eq!(m.rows, r, "sparse decode backward: code width");
    assert_eq!(dv.shape(), (n, d), "sparse decode backward: dv shape");
    assert_eq!(
        (gm.rows, gm.cols),
        (r, d),
        "sparse decode backward: gm shape"
    );
    let SparseScratch { rows, tile, acc } = scratch;
    columns_into_rows(dv.as_slice(), n, d, rows);
    if let Some(dh) = dh.as_deref_mut() {
        assert_eq!(dh.shape(), (n, r), "sparse decode backward: dh shape");
        dh.fill(T::zero());
    }
    acc.clear();
    acc.resize(TILE * d, T::zero());
    for (j0, width, block) in blocks(h.as_slice(), n, r) {
        gradient_block(block, n, j0, width, rows, acc, &mut gm);
        if let Some(dh) = dh.as_deref_mut()
            && block.iter().any(|&e| e != T::zero())
        {
            let dirs = directions(m, j0, width, tile);
            let out = &mut dh.as_mut_slice()[j0 * n..(j0 + width) * n];
            code_grad(block, n, rows, dirs, d, out);
        }
    }
    decoder_bias_backward(m, biases, dv, &mut gm, gb);
}

/// Backward through `z = x Eᵀ` plus the biases
/// ([`super::affine::encode_backward`]'s function) over the nonzero entries
/// of `dz = ∂L/∂z` (n x r): `ge = ∂L/∂E` (r x d, overwritten; 0 in the rows
/// of units no row's `dz` reached), the bias gradients (by the dense
/// pass's own [`encoder_bias_backward`], so both paths give the same bits
/// there) and, when asked, `dx = dz E` (n x d, overwritten). `e` is the
/// r x d encoder matrix.
///
/// Exact for every `dz`, whatever its sparsity: a zero entry adds nothing
/// to either product, so this gathers the nonzero entries of each row as
/// they are (a BatchTopK row may hold more than `k` of them) rather than
/// assuming a budget.
#[allow(clippy::too_many_arguments)]
pub(crate) fn encode_backward<T: Real>(
    e: Strided<'_, T>,
    biases: &Biases<T>,
    x: &DMatrix<T>,
    dz: &DMatrix<T>,
    mut ge: StridedMut<'_, T>,
    gb: BiasGrad<'_, T>,
    dx: Option<&mut DMatrix<T>>,
    scratch: &mut SparseScratch<T>,
) {
    let (n, r) = dz.shape();
    let d = e.cols;
    assert_eq!(e.rows, r, "sparse encode backward: code width");
    assert_eq!(x.shape(), (n, d), "sparse encode backward: x shape");
    assert_eq!(
        (ge.rows, ge.cols),
        (r, d),
        "sparse encode backward: ge shape"
    );
    let SparseScratch { rows, tile, acc } = scratch;
    columns_into_rows(x.as_slice(), n, d, rows);
    acc.clear();
    acc.resize(TILE * d, T::zero());
    for (j0, width, block) in blocks(dz.as_slice(), n, r) {
        gradient_block(block, n, j0, width, rows, acc, &mut ge);
    }
    encoder_bias_backward(e, biases, dz, &mut ge, gb);
    let Some(dx) = dx else {
        return;
    };
    assert_eq!(dx.shape(), (n, d), "sparse encode backward: dx shape");
    // `x`'s rows are no longer needed: the buffer accumulates `dx`.
    sparse_product(dz.as_slice(), n, e, tile, rows, dx.as_mut_slice());
}

/// The column-major `n x r` matrix `code` in blocks of [`TILE`] units,
/// in ascending order: each block's first unit `j0`, its width and its
/// `n x width` entries (column-major).
fn blocks<T>(code: &[T], n: usize, r: usize) -> impl Iterator<Item = (usize, usize, &[T])> {
    (0..r).step_by(TILE).map(move |j0| {
        let width = TILE.min(r - j0);
        (j0, width, &code[j0 * n..(j0 + width) * n])
    })
}

/// `out = code M` (column-major `n x d`, overwritten) over the nonzero
/// entries of the column-major `n x r` `code`, `M` the r x d matrix `m`:
/// the forward product `h M` and the input gradient `dz E` alike. The
/// sum is accumulated row-major in `rows` (resized and zeroed), each
/// output row adding its terms in ascending unit order; a block of units
/// no row uses is skipped.
fn sparse_product<T: Real>(
    code: &[T],
    n: usize,
    m: Strided<'_, T>,
    tile: &mut Vec<T>,
    rows: &mut Vec<T>,
    out: &mut [T],
) {
    let (r, d) = (m.rows, m.cols);
    rows.clear();
    rows.resize(n * d, T::zero());
    for (j0, width, block) in blocks(code, n, r) {
        if block.iter().all(|&e| e == T::zero()) {
            continue;
        }
        let dirs = directions(m, j0, width, tile);
        scatter_rows(block, n, dirs, d, rows);
    }
    rows_into_columns(rows, n, d, out);
}

/// Rows `j0..j0 + width` of the r x d weight gradient `g` (overwritten)
/// from one block of the code (or of `dz`): `g_{j0 + t} = Σ_i block[i, t]
/// rows_i` over the block's nonzero entries, rows in ascending order,
/// gathered in `acc` (at least `width * d` long) and then written. The
/// decoder's `∂L/∂M = hᵀ dv` and the encoder's `∂L/∂E = dzᵀ x` alike.
fn gradient_block<T: Real>(
    block: &[T],
    n: usize,
    j0: usize,
    width: usize,
    rows: &[T],
    acc: &mut [T],
    g: &mut StridedMut<'_, T>,
) {
    let d = g.cols;
    let grad = &mut acc[..width * d];
    gather_rows(block, n, rows, d, grad);
    write_rows(g, j0, width, d, grad);
}

/// The decoder directions of units `j0..j0 + width` (rows of `m`), each
/// contiguous, direction after direction: read in place when `m`'s rows
/// are contiguous and adjacent (an untied `W_decᵀ` view), else gathered
/// into `tile` (a tied `W`, column-major).
fn directions<'a, T: Real>(
    m: Strided<'a, T>,
    j0: usize,
    width: usize,
    tile: &'a mut Vec<T>,
) -> &'a [T] {
    let d = m.cols;
    if m.cs == 1 && m.rs == d {
        return &m.data[j0 * d..(j0 + width) * d];
    }
    tile.clear();
    tile.resize(width * d, T::zero());
    for c in 0..d {
        for t in 0..width {
            tile[t * d + c] = m.at(j0 + t, c);
        }
    }
    tile
}

/// Writes the `width` gradient rows in `grad` (row-major, `d` wide) into
/// rows `j0..` of `gm`: a copy per row when `gm` is row-major (a tied
/// weight's slot), else column by column (an untied `W_dec` slot, where
/// the rows of a block are adjacent in each column).
fn write_rows<T: Real>(gm: &mut StridedMut<'_, T>, j0: usize, width: usize, d: usize, grad: &[T]) {
    if gm.cs == 1 && gm.rs == d {
        gm.data[j0 * d..(j0 + width) * d].copy_from_slice(grad);
        return;
    }
    if gm.rs == 1 {
        // Column `c` of the block is `width` adjacent entries.
        let cs = gm.cs;
        for c in 0..d {
            let out = &mut gm.data[c * cs + j0..c * cs + j0 + width];
            for (t, o) in out.iter_mut().enumerate() {
                *o = grad[t * d + c];
            }
        }
        return;
    }
    for c in 0..d {
        for t in 0..width {
            *gm.at_mut(j0 + t, c) = grad[t * d + c];
        }
    }
}

/// `rows[i, c] = cols[i + c n]`: the column-major `n x d` matrix `cols`
/// into row-major `rows` (resized to `n d`).
fn columns_into_rows<T: Real>(cols: &[T], n: usize, d: usize, rows: &mut Vec<T>) {
    rows.clear();
    rows.resize(n * d, T::zero());
    for c in 0..d {
        for i in 0..n {
            rows[i * d + c] = cols[c * n + i];
        }
    }
}

/// `cols[i + c n] = rows[i, c]`: the row-major `n x d` matrix `rows` into
/// column-major `cols`.
fn rows_into_columns<T: Real>(rows: &[T], n: usize, d: usize, cols: &mut [T]) {
    for c in 0..d {
        for i in 0..n {
            cols[c * n + i] = rows[i * d + c];
        }
    }
}

multiversion! {
    /// `out_i += Σ_t block[i, t] dirs_t` over the nonzero entries of the
    /// column-major `n x width` code block, units in ascending order (so
    /// each output row adds its terms in ascending unit order across
    /// blocks); `dirs` holds the block's directions one after another and
    /// `out` is row-major `n x d`.
    fn scatter_rows<T: Real>(block: &[T], n: usize, dirs: &[T], d: usize, out: &mut [T]) {
        let zero = T::zero();
        for (col, dir) in block.chunks_exact(n.max(1)).zip(dirs.chunks_exact(d.max(1))) {
            for (i, &hv) in col.iter().enumerate() {
                if hv != zero {
                    for (o, &w) in out[i * d..(i + 1) * d].iter_mut().zip(dir) {
                        *o += hv * w;
                    }
                }
            }
        }
    }
}

multiversion! {
    /// `out_t = Σ_i block[i, t] rows_i` (overwritten) over the nonzero
    /// entries of the column-major `n x width` code block, rows in
    /// ascending order; `rows` is row-major `n x d`, `out` row-major
    /// `width x d`.
    fn gather_rows<T: Real>(block: &[T], n: usize, rows: &[T], d: usize, out: &mut [T]) {
        let zero = T::zero();
        out.fill(zero);
        for (col, o) in block.chunks_exact(n.max(1)).zip(out.chunks_exact_mut(d.max(1))) {
            for (i, &hv) in col.iter().enumerate() {
                if hv != zero {
                    for (a, &g) in o.iter_mut().zip(&rows[i * d..(i + 1) * d]) {
                        *a += hv * g;
                    }
                }
            }
        }
    }
}

multiversion! {
    /// `out[i, t] = ⟨rows_i, dirs_t⟩` where `block[i, t] ≠ 0` (both
    /// column-major `n x width`; the other entries of `out` are left as
    /// they are); `rows` is row-major `n x d`.
    fn code_grad<T: Real>(block: &[T], n: usize, rows: &[T], dirs: &[T], d: usize, out: &mut [T]) {
        let zero = T::zero();
        let cols = block.chunks_exact(n.max(1)).zip(dirs.chunks_exact(d.max(1)));
        for ((col, dir), o) in cols.zip(out.chunks_exact_mut(n.max(1))) {
            for (i, &hv) in col.iter().enumerate() {
                if hv != zero {
                    o[i] = dot(&rows[i * d..(i + 1) * d], dir);
                }
            }
        }
    }
}

/// `Σ a_c b_c` over [`DOT_LANES`] interleaved partial sums added in a fixed
/// order (vectorised, and the same bits on every call and every CPU).
/// Inline so it is compiled inside each multiversioned caller.
#[inline(always)]
fn dot<T: Real>(a: &[T], b: &[T]) -> T {
    let mut acc = [T::zero(); DOT_LANES];
    let ca = a.chunks_exact(DOT_LANES);
    let cb = b.chunks_exact(DOT_LANES);
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for k in 0..DOT_LANES {
            acc[k] += x[k] * y[k];
        }
    }
    for (&x, &y) in ra.iter().zip(rb) {
        acc[0] += x * y;
    }
    let mut s = T::zero();
    for p in acc {
        s += p;
    }
    s
}

#[cfg(test)]
mod tests {
    use super::super::affine;
    use super::*;
    use crate::model::BiasMode;
    use crate::rng::seeded;
    use nalgebra::DVector;
    use rand::RngExt;

    /// A TopK-like code: each row keeps `k` distinct random units, about a
    /// quarter of them at exactly 0 (kept, then clamped by TopK's ReLU);
    /// every fifth row keeps only `k / 2` and every seventh none.
    fn code(n: usize, r: usize, k: usize, seed: u64) -> DMatrix<f64> {
        let mut rng = seeded(seed);
        let mut h = DMatrix::zeros(n, r);
        let mut units: Vec<usize> = (0..r).collect();
        for i in 0..n {
            let kept = if i % 7 == 3 {
                0
            } else if i % 5 == 1 {
                k / 2
            } else {
                k
            };
            for t in 0..kept {
                let s = rng.random_range(t..r);
                units.swap(t, s);
                let clamped = rng.random_range(0.0..1.0) < 0.25;
                h[(i, units[t])] = if clamped {
                    0.0
                } else {
                    rng.random_range(0.05..2.0)
                };
            }
        }
        h
    }

    fn random<T: Real>(rows: usize, cols: usize, seed: u64) -> DMatrix<T> {
        let mut rng = seeded(seed);
        DMatrix::from_fn(rows, cols, |_, _| T::of(rng.random_range(-1.0..1.0)))
    }

    fn biases<T: Real>(mode: BiasMode, d: usize, r: usize, seed: u64) -> Biases<T> {
        let mut rng = seeded(seed);
        let mut vector =
            |len: usize| DVector::from_fn(len, |_, _| T::of(rng.random_range(-0.5..0.5)));
        match mode {
            BiasMode::None => Biases::None,
            BiasMode::Separate => Biases::Separate {
                enc: vector(r),
                dec: vector(d),
            },
            BiasMode::Mirrored => Biases::Mirrored { enc: vector(r) },
            BiasMode::PreCentering => Biases::PreCentering { pre: vector(d) },
        }
    }

    /// Higham's `γ_m = m u / (1 − m u)`: a sum of `m` rounded products, in
    /// any order, is within `γ_m Σ |terms|` of the exact sum.
    fn gamma(m: usize, u: f64) -> f64 {
        m as f64 * u / (1.0 - m as f64 * u)
    }

    /// The unit roundoff of `T`.
    fn unit_roundoff<T: Real>() -> f64 {
        if size_of::<T>() == 4 {
            f64::from(f32::EPSILON) / 2.0
        } else {
            f64::EPSILON / 2.0
        }
    }

    /// `∂L/∂M` (r x d) in a pair's decoder gradient slot, as `PairMap`
    /// views it.
    fn slot_view<T: Real>(slot: &mut [T], r: usize, d: usize, tied: bool) -> StridedMut<'_, T> {
        if tied {
            StridedMut::row_major(slot, r, d)
        } else {
            StridedMut::col_major(slot, r, d)
        }
    }

    /// The sparse kernels against the dense ones ([`super::affine`]) on
    /// one shape, tied (`M = W`, strided directions, row-major gradient
    /// slot) or untied (`M = W_decᵀ`, contiguous directions, transposed
    /// slot), for one bias mode.
    ///
    /// Oracle: both paths sum the same nonzero products (a zero entry of
    /// `h` adds exactly nothing), each within `γ_m Σ |terms|` of the exact
    /// sum whatever its order (`m` the number of terms, plus the bias
    /// operations both paths share), so they differ by at most twice that,
    /// entry by entry: for `v` over the `r` units, for `∂L/∂M` over the `n`
    /// rows, for `∂L/∂h` over the `d` outputs. The bias gradients come from
    /// the same code on the same `dv`, so they are equal; `∂L/∂h` is 0
    /// exactly off the code's nonzero entries. Every output buffer starts
    /// dirty, so nothing relies on a buffer's old contents; a second call
    /// with the scratch of the first gives the same bits.
    fn check<T: Real>(n: usize, r: usize, d: usize, k: usize, tied: bool, mode: BiasMode) {
        let u = unit_roundoff::<T>();
        let label = format!("{} n={n} r={r} d={d} k={k} tied={tied} {mode:?}", T::NAME);
        let h: DMatrix<T> = code(n, r, k, 1).map(T::of);
        let w: DMatrix<T> = if tied {
            random(r, d, 2)
        } else {
            random(d, r, 2)
        };
        let m = if tied {
            Strided::of(&w)
        } else {
            Strided::of(&w).t()
        };
        let b = biases::<T>(mode, d, r, 3);
        let dv: DMatrix<T> = random(n, d, 4);
        let mut scratch = SparseScratch::new();

        let mut dense = DMatrix::from_element(n, d, T::of(7.0));
        affine::decode_into(m, &b, &h, &mut dense);
        let mut sparse = DMatrix::from_element(n, d, T::of(-3.0));
        decode_into(m, &b, &h, &mut sparse, &mut scratch);
        for i in 0..n {
            for c in 0..d {
                let mut s: f64 = (0..r).map(|j| (h[(i, j)] * m.at(j, c)).f64().abs()).sum();
                s += match &b {
                    Biases::None => 0.0,
                    Biases::Separate { dec, .. } => dec[c].f64().abs(),
                    Biases::Mirrored { enc } => (0..r)
                        .map(|j| (enc[j] * m.at(j, c)).f64().abs())
                        .sum::<f64>(),
                    Biases::PreCentering { pre } => pre[c].f64().abs(),
                };
                let diff = (sparse[(i, c)].f64() - dense[(i, c)].f64()).abs();
                assert!(
                    diff <= 2.0 * gamma(r + 2, u) * s,
                    "{label}: v[{i}, {c}] sparse {} dense {}",
                    sparse[(i, c)],
                    dense[(i, c)]
                );
            }
        }

        // The gradient slots as the pairs store them (see `PairMap`): a
        // tied `W`'s row-major r x d, an untied `W_dec`'s row-major d x r
        // read as column-major r x d.
        let (rs, cs) = if tied { (d, 1) } else { (1, r) };
        let mut g_dense = vec![T::of(5.0); r * d];
        let mut g_sparse = vec![T::of(-1.0); r * d];
        let mut b_dense = vec![T::of(9.0); b.len()];
        let mut b_sparse = vec![T::of(9.0); b.len()];
        let mut dh_dense = DMatrix::from_element(n, r, T::of(4.0));
        let mut dh_sparse = DMatrix::from_element(n, r, T::of(-6.0));
        affine::decode_backward(
            m,
            &b,
            &h,
            &dv,
            slot_view(&mut g_dense, r, d, tied),
            BiasGrad::split(&b, &mut b_dense),
            Some(&mut dh_dense),
        );
        decode_backward(
            m,
            &b,
            &h,
            &dv,
            slot_view(&mut g_sparse, r, d, tied),
            BiasGrad::split(&b, &mut b_sparse),
            Some(&mut dh_sparse),
            &mut scratch,
        );
        assert_eq!(b_sparse, b_dense, "{label}: bias gradients");
        for j in 0..r {
            for c in 0..d {
                let mut s: f64 = (0..n).map(|i| (h[(i, j)] * dv[(i, c)]).f64().abs()).sum();
                if let Biases::Mirrored { enc } = &b {
                    let col: f64 = (0..n).map(|i| dv[(i, c)].f64().abs()).sum();
                    s += enc[j].f64().abs() * col;
                }
                let at = j * rs + c * cs;
                let diff = (g_sparse[at].f64() - g_dense[at].f64()).abs();
                assert!(
                    diff <= 2.0 * gamma(n + 2, u) * s,
                    "{label}: dM[{j}, {c}] sparse {} dense {}",
                    g_sparse[at],
                    g_dense[at]
                );
            }
        }
        for i in 0..n {
            for j in 0..r {
                if h[(i, j)] == T::zero() {
                    assert_eq!(
                        dh_sparse[(i, j)],
                        T::zero(),
                        "{label}: dh[{i}, {j}] off the code"
                    );
                    continue;
                }
                let s: f64 = (0..d).map(|c| (dv[(i, c)] * m.at(j, c)).f64().abs()).sum();
                let diff = (dh_sparse[(i, j)].f64() - dh_dense[(i, j)].f64()).abs();
                assert!(
                    diff <= 2.0 * gamma(d + 1, u) * s,
                    "{label}: dh[{i}, {j}] sparse {} dense {}",
                    dh_sparse[(i, j)],
                    dh_dense[(i, j)]
                );
            }
        }

        // The same bits again, through the scratch the first call left.
        let mut again = DMatrix::zeros(n, d);
        decode_into(m, &b, &h, &mut again, &mut scratch);
        assert_eq!(again, sparse, "{label}: forward repeated");
        let mut g_again = vec![T::zero(); r * d];
        let mut b_again = vec![T::zero(); b.len()];
        let mut dh_again = DMatrix::zeros(n, r);
        decode_backward(
            m,
            &b,
            &h,
            &dv,
            slot_view(&mut g_again, r, d, tied),
            BiasGrad::split(&b, &mut b_again),
            Some(&mut dh_again),
            &mut scratch,
        );
        assert_eq!(g_again, g_sparse, "{label}: decoder gradient repeated");
        assert_eq!(dh_again, dh_sparse, "{label}: code gradient repeated");

        // A tied pair's row-major copy of `W` (what `TiedLinear` keeps for
        // these kernels) reads the same values in place: the same bits.
        if tied {
            let rows: Vec<T> = (0..r * d).map(|at| w[(at / d, at % d)]).collect();
            let m_rows = Strided::row_major(&rows, r, d);
            let mut v_rows = DMatrix::zeros(n, d);
            decode_into(m_rows, &b, &h, &mut v_rows, &mut scratch);
            assert_eq!(v_rows, sparse, "{label}: forward from the row-major copy");
            let mut g_rows = vec![T::zero(); r * d];
            let mut b_rows = vec![T::of(9.0); b.len()];
            let mut dh_rows = DMatrix::zeros(n, r);
            decode_backward(
                m_rows,
                &b,
                &h,
                &dv,
                slot_view(&mut g_rows, r, d, tied),
                BiasGrad::split(&b, &mut b_rows),
                Some(&mut dh_rows),
                &mut scratch,
            );
            assert_eq!(
                g_rows, g_sparse,
                "{label}: decoder gradient, row-major copy"
            );
            assert_eq!(b_rows, b_sparse, "{label}: bias gradients, row-major copy");
            assert_eq!(dh_rows, dh_sparse, "{label}: code gradient, row-major copy");
        }
    }

    /// A gradient at a sparse code's pre-activations, `dz` (n x r), signed:
    /// row `i` has `[k, 0, 1, 3 k + 1, r][i % 5]` nonzero entries (at most
    /// `r − 1`: the last unit's column is zero throughout), so rows hold
    /// fewer, as many and more than `k`, as a BatchTopK row can.
    fn sparse_gradient(n: usize, r: usize, k: usize, seed: u64) -> DMatrix<f64> {
        let mut rng = seeded(seed);
        let mut dz = DMatrix::zeros(n, r);
        let mut units: Vec<usize> = (0..r.saturating_sub(1)).collect();
        for i in 0..n {
            let kept = [k, 0, 1, 3 * k + 1, r][i % 5].min(units.len());
            for t in 0..kept {
                let s = rng.random_range(t..units.len());
                units.swap(t, s);
                let size = rng.random_range(0.05..2.0);
                dz[(i, units[t])] = if rng.random_range(0.0..1.0) < 0.5 {
                    size
                } else {
                    -size
                };
            }
        }
        dz
    }

    /// The sparse encoder gradient ([`encode_backward`]) against the dense
    /// one ([`super::affine::encode_backward`]) on one shape and bias mode.
    /// The encoder matrix is stored r x d column-major and its gradient slot
    /// r x d row-major whether the pair is tied or not, so one layout
    /// covers both.
    ///
    /// Oracle, as in [`check`]: both paths sum the same nonzero products, so
    /// entry by entry they differ by at most `2 γ_m Σ |terms|`, for
    /// `∂L/∂E` over the `n` rows (plus the pre-centering term `−t_j p_c`,
    /// `t_j = Σ_i dz_ij`, both paths share), for `∂L/∂x` over the `r`
    /// units. The bias gradients come from the same code on the same `dz`,
    /// so they are equal. A unit whose column of `dz` is zero has a zero
    /// gradient row on both paths (the bound is 0 there). Output buffers
    /// start dirty; a second call with the first call's scratch gives the
    /// same bits.
    fn check_encoder<T: Real>(n: usize, r: usize, d: usize, k: usize, mode: BiasMode) {
        let u = unit_roundoff::<T>();
        let label = format!("{} n={n} r={r} d={d} k={k} {mode:?}", T::NAME);
        let dz: DMatrix<T> = sparse_gradient(n, r, k, 11).map(T::of);
        let e: DMatrix<T> = random(r, d, 12);
        let x: DMatrix<T> = random(n, d, 13);
        let b = biases::<T>(mode, d, r, 14);
        let mut scratch = SparseScratch::new();
        // Bias slots start equal: the encoder pass adds to some of them.
        let mut g_dense = vec![T::of(5.0); r * d];
        let mut g_sparse = vec![T::of(-1.0); r * d];
        let mut b_dense = vec![T::of(9.0); b.len()];
        let mut b_sparse = vec![T::of(9.0); b.len()];
        let mut dx_dense = DMatrix::from_element(n, d, T::of(4.0));
        let mut dx_sparse = DMatrix::from_element(n, d, T::of(-6.0));
        affine::encode_backward(
            Strided::of(&e),
            &b,
            &x,
            &dz,
            StridedMut::row_major(&mut g_dense, r, d),
            BiasGrad::split(&b, &mut b_dense),
            Some(&mut dx_dense),
        );
        encode_backward(
            Strided::of(&e),
            &b,
            &x,
            &dz,
            StridedMut::row_major(&mut g_sparse, r, d),
            BiasGrad::split(&b, &mut b_sparse),
            Some(&mut dx_sparse),
            &mut scratch,
        );
        assert_eq!(b_sparse, b_dense, "{label}: bias gradients");
        for j in 0..r {
            let t: f64 = (0..n).map(|i| dz[(i, j)].f64().abs()).sum();
            for c in 0..d {
                let mut s: f64 = (0..n).map(|i| (dz[(i, j)] * x[(i, c)]).f64().abs()).sum();
                if let Biases::PreCentering { pre } = &b {
                    s += t * pre[c].f64().abs();
                }
                let at = j * d + c;
                let diff = (g_sparse[at].f64() - g_dense[at].f64()).abs();
                assert!(
                    diff <= 2.0 * gamma(n + 2, u) * s,
                    "{label}: dE[{j}, {c}] sparse {} dense {}",
                    g_sparse[at],
                    g_dense[at]
                );
            }
        }
        for i in 0..n {
            for c in 0..d {
                let s: f64 = (0..r).map(|j| (dz[(i, j)] * e[(j, c)]).f64().abs()).sum();
                let diff = (dx_sparse[(i, c)].f64() - dx_dense[(i, c)].f64()).abs();
                assert!(
                    diff <= 2.0 * gamma(r + 1, u) * s,
                    "{label}: dx[{i}, {c}] sparse {} dense {}",
                    dx_sparse[(i, c)],
                    dx_dense[(i, c)]
                );
            }
        }

        // The same bits again, through the scratch the first call left (and
        // without `dx`, which must not change the weight gradient).
        let mut g_again = vec![T::zero(); r * d];
        let mut b_again = vec![T::of(9.0); b.len()];
        let mut dx_again = DMatrix::zeros(n, d);
        encode_backward(
            Strided::of(&e),
            &b,
            &x,
            &dz,
            StridedMut::row_major(&mut g_again, r, d),
            BiasGrad::split(&b, &mut b_again),
            Some(&mut dx_again),
            &mut scratch,
        );
        assert_eq!(g_again, g_sparse, "{label}: encoder gradient repeated");
        assert_eq!(dx_again, dx_sparse, "{label}: input gradient repeated");
        let mut g_no_dx = vec![T::of(3.0); r * d];
        let mut b_no_dx = vec![T::of(9.0); b.len()];
        encode_backward(
            Strided::of(&e),
            &b,
            &x,
            &dz,
            StridedMut::row_major(&mut g_no_dx, r, d),
            BiasGrad::split(&b, &mut b_no_dx),
            None,
            &mut scratch,
        );
        assert_eq!(g_no_dx, g_sparse, "{label}: encoder gradient without dx");
        assert_eq!(b_no_dx, b_sparse, "{label}: bias gradients without dx");
    }

    /// The encoder gradient on the shapes of
    /// [`sparse_kernels_match_the_dense_ones_to_rounding`], every bias mode,
    /// f32 and f64.
    #[test]
    fn sparse_encoder_gradient_matches_the_dense_one_to_rounding() {
        for (n, r, d, k) in [(13, 40, 23, 5), (6, 9, 8, 3), (1, 33, 5, 4), (0, 17, 4, 2)] {
            for mode in BiasMode::ALL {
                check_encoder::<f32>(n, r, d, k, mode);
                check_encoder::<f64>(n, r, d, k, mode);
            }
        }
    }

    /// Shapes with ragged unit blocks (`r` not a multiple of [`TILE`], and
    /// below it) and ragged dot-product lanes (`d` not a multiple of
    /// [`DOT_LANES`]), tied and untied, every bias mode, f32 and f64.
    #[test]
    fn sparse_kernels_match_the_dense_ones_to_rounding() {
        for (n, r, d, k) in [(13, 40, 23, 5), (6, 9, 8, 3), (1, 33, 5, 4), (0, 17, 4, 2)] {
            for tied in [true, false] {
                for mode in BiasMode::ALL {
                    check::<f32>(n, r, d, k, tied, mode);
                    check::<f64>(n, r, d, k, tied, mode);
                }
            }
        }
    }

    /// The rule: the ReLU TopK kinds only, by density under `Auto`,
    /// whatever the density when forced, never when forced dense.
    #[test]
    fn the_rule_decodes_relu_top_k_codes_below_the_density() {
        let top_k = Activation::TopK { k: 4 };
        let batch = Activation::BatchTopK { k: 4 };
        assert!(decodes_sparse(DecodePath::Auto, top_k, 32));
        assert!(decodes_sparse(DecodePath::Auto, batch, 32));
        assert!(!decodes_sparse(DecodePath::Auto, top_k, 31));
        assert!(decodes_sparse(DecodePath::Sparse, top_k, 4));
        assert!(!decodes_sparse(DecodePath::Dense, top_k, 1024));
        for other in [
            Activation::TopKSigned { k: 1 },
            Activation::BatchTopKSigned { k: 1 },
            Activation::Relu,
            Activation::Identity,
        ] {
            assert!(
                !decodes_sparse(DecodePath::Sparse, other, 1024),
                "{other:?}"
            );
            assert!(!decodes_sparse(DecodePath::Auto, other, 1024), "{other:?}");
        }
    }
}
