//! Householder reduction of a symmetric matrix to tridiagonal form,
//! `C = Q T Qᵀ` (LAPACK's `dsytd2`, lower storage). `Q y` is left to faer's
//! blocked Householder application (see [`super::symmetric_evd`]).
//!
//! Why not faer's reduction: it runs one step per column, each a pass over
//! the trailing triangle that applies the previous step's rank-2 update and
//! forms the next matrix–vector product in the same sweep. That sweep is
//! the whole cost (and a large share of a covariance-route PCA fit, which
//! `benches/pca.rs` times), and faer
//! parallelises it with a split that depends on the thread count (its bits
//! change), so it had to run on one core. Here the same fused sweep is
//! split into a fixed number of column ranges ([`PARTS`], balanced by area),
//! each with its own partial product, and the partials are added in range
//! order: both cores work and the bits do not depend on the pool. The
//! sweep kernel is compiled for AVX2 + FMA when the CPU has them; `mul_add`
//! is exactly rounded either way, and the dot products use a fixed set of
//! partial sums, so the result is the same on every x86-64 machine.
//!
//! The reflectors are `H_k = I − τ_k v_k v_kᵀ`, with `v_k` zero above row
//! `k + 1`, one at row `k + 1`, and free below (stored in the strictly
//! lower triangle below the subdiagonal, as LAPACK does). `Q = H_0 H_1 …`.

use rayon::prelude::*;

/// Column ranges of one parallel sweep. Fixed (not the thread count) so
/// that the summation order, and therefore every bit, is fixed.
const PARTS: usize = 4;

/// Trailing dimensions below this are swept in one piece: the work per
/// step (≈ m²/2 entries) no longer pays for a fork and join.
const PARALLEL_MIN_DIM: usize = 128;

/// Independent partial sums in a dot product: one running sum is a chain
/// of dependent additions, while a fixed number of lanes vectorises and
/// still fixes the order of operations.
pub(super) const DOT_LANES: usize = 8;

/// `C = Q T Qᵀ`: the tridiagonal `T` and the reflectors of `Q`.
pub(crate) struct Reduction {
    /// Column-major `dim x dim`; column `k` holds `v_k` in rows `k + 2..`
    /// (the rest is workspace).
    pub reflectors: Vec<f64>,
    /// `τ_k` of every reflector; 0 where no reflection was needed.
    pub taus: Vec<f64>,
    pub diag: Vec<f64>,
    pub offdiag: Vec<f64>,
}

impl Reduction {
    /// Reduces the symmetric matrix whose lower triangle (column-major,
    /// `dim x dim`) is in `a`; the upper triangle is ignored.
    pub(crate) fn new(a: Vec<f64>, dim: usize) -> Self {
        assert_eq!(a.len(), dim * dim, "reduction input must be dim x dim");
        // One short parallel sweep per column: see `on_worker` for why.
        super::on_worker(|| {
            #[cfg(target_arch = "x86_64")]
            if has_fma() {
                // SAFETY: the features `reduce_fma` is compiled for were detected.
                return unsafe { Self::reduce_fma(a, dim) };
            }
            Self::reduce(a, dim)
        })
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn reduce_fma(a: Vec<f64>, dim: usize) -> Self {
        Self::reduce(a, dim)
    }

    #[inline(always)]
    fn reduce(mut a: Vec<f64>, dim: usize) -> Self {
        let d = dim;
        let mut diag = vec![0.0; d];
        let mut offdiag = vec![0.0; d.saturating_sub(1)];
        let mut taus = vec![0.0; d.saturating_sub(1)];
        // The previous step's rank-2 update `A22 -= v wᵀ + w vᵀ`, not yet
        // applied to the trailing matrix, indexed from that matrix's first
        // row (global row `k` at step `k`).
        let mut prev_v: Vec<f64> = Vec::new();
        let mut prev_w: Vec<f64> = Vec::new();
        for k in 0..d {
            // Column k, rows k.., brought up to date.
            {
                let col = &mut a[k * d + k..(k + 1) * d];
                if !prev_v.is_empty() {
                    let (vk, wk) = (prev_v[0], prev_w[0]);
                    for ((x, &v), &w) in col.iter_mut().zip(&prev_v).zip(&prev_w) {
                        *x = (-v).mul_add(wk, (-w).mul_add(vk, *x));
                    }
                }
                diag[k] = col[0];
            }
            if k + 1 == d {
                break;
            }
            // The reflector that zeroes rows k + 2.. of column k.
            let (beta, tau) = householder(&mut a[k * d + k + 1..(k + 1) * d]);
            offdiag[k] = beta;
            taus[k] = tau;
            let m = d - k - 1;
            let mut v = a[k * d + k + 1..(k + 1) * d].to_vec();
            v[0] = 1.0;
            // One sweep over the trailing matrix (rows/columns k + 1..):
            // apply the previous update and form y = A22 v.
            let y = sweep(&mut a, d, k + 1, &prev_v, &prev_w, &v);
            // w = τ y − ½ τ² (yᵀv) v, so that A22 − v wᵀ − w vᵀ = H A22 H.
            let mut w: Vec<f64> = y.iter().map(|&yi| tau * yi).collect();
            let alpha = -0.5 * tau * dot(&w, &v);
            for (wi, &vi) in w.iter_mut().zip(&v) {
                *wi = alpha.mul_add(vi, *wi);
            }
            debug_assert_eq!(w.len(), m);
            prev_v = v;
            prev_w = w;
        }
        Reduction {
            reflectors: a,
            taus,
            diag,
            offdiag,
        }
    }
}

/// Whether the AVX2 + FMA versions of the kernels can run (cached by std).
#[cfg(target_arch = "x86_64")]
fn has_fma() -> bool {
    std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
}

/// LAPACK's `dlarfg`: for `x = [α, x₂]`, finds `β`, `τ` and `v = [1, v₂]`
/// with `(I − τ v vᵀ) x = [β, 0]`; writes `v₂` over `x₂` and returns
/// `(β, τ)`. `τ = 0` (no reflection) when `x₂` is already zero.
fn householder(x: &mut [f64]) -> (f64, f64) {
    let alpha = x[0];
    let tail_norm = norm(&x[1..]);
    if tail_norm == 0.0 {
        return (alpha, 0.0);
    }
    let beta = -alpha.signum() * alpha.hypot(tail_norm);
    let tau = (beta - alpha) / beta;
    let scale = 1.0 / (alpha - beta);
    for v in &mut x[1..] {
        *v *= scale;
    }
    (beta, tau)
}

/// Euclidean norm scaled against overflow and underflow (entries are
/// divided by the largest magnitude first).
fn norm(x: &[f64]) -> f64 {
    let big = x.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    if big == 0.0 || !big.is_finite() {
        return big;
    }
    let inv = 1.0 / big;
    let sum: f64 = x.iter().map(|v| (v * inv) * (v * inv)).sum();
    big * sum.sqrt()
}

/// The fused step over the trailing matrix `A[s.., s..]` (lower triangle):
/// applies `A22 -= pv pwᵀ + pw pvᵀ` (where `pv`, `pw` start at row `s − 1`,
/// the previous step's first trailing row) and returns `A22 v`.
fn sweep(a: &mut [f64], d: usize, s: usize, pv: &[f64], pw: &[f64], v: &[f64]) -> Vec<f64> {
    let m = d - s;
    // Previous update vectors aligned with the trailing matrix (drop the
    // row that belonged to the column just reduced).
    let (pv, pw) = if pv.is_empty() {
        (&[][..], &[][..])
    } else {
        (&pv[1..], &pw[1..])
    };
    let columns = &mut a[s * d..];
    if m < PARALLEL_MIN_DIM {
        let mut y = vec![0.0; m];
        sweep_columns(columns, d, s, 0..m, pv, pw, v, &mut y);
        return y;
    }
    // Column ranges of roughly equal area (the trailing triangle has
    // m − j entries in column j), starting at even columns so that columns
    // pair up within each range.
    let bounds: Vec<usize> = (0..=PARTS)
        .map(|p| {
            let frac = p as f64 / PARTS as f64;
            let at = ((1.0 - (1.0 - frac).sqrt()) * m as f64 / 2.0).round() as usize * 2;
            if p == PARTS { m } else { at.min(m) }
        })
        .collect();
    let mut pieces: Vec<(&mut [f64], std::ops::Range<usize>)> = Vec::with_capacity(PARTS);
    let mut rest = columns;
    for p in 0..PARTS {
        let (lo, hi) = (bounds[p], bounds[p + 1]);
        let (head, tail) = rest.split_at_mut((hi - lo) * d);
        pieces.push((head, lo..hi));
        rest = tail;
    }
    let partials: Vec<Vec<f64>> = pieces
        .into_par_iter()
        .map(|(cols, range)| {
            let mut y = vec![0.0; m];
            sweep_columns(cols, d, s, range, pv, pw, v, &mut y);
            y
        })
        .collect();
    let mut y = vec![0.0; m];
    for part in &partials {
        for (yi, &pi) in y.iter_mut().zip(part) {
            *yi += pi;
        }
    }
    y
}

/// Sweeps trailing columns `range` (relative to `s`), held in `cols` from
/// the first column of the range on, accumulating into `y` (length `m`).
/// Ranges start at even columns, so columns go in pairs, and an odd one
/// out can only be the last column, whose trailing part is its diagonal.
#[allow(clippy::too_many_arguments)]
fn sweep_columns(
    cols: &mut [f64],
    d: usize,
    s: usize,
    range: std::ops::Range<usize>,
    pv: &[f64],
    pw: &[f64],
    v: &[f64],
    y: &mut [f64],
) {
    #[cfg(target_arch = "x86_64")]
    if has_fma() {
        // SAFETY: the features the function is compiled for were detected.
        unsafe { sweep_columns_fma(cols, d, s, range, pv, pw, v, y) };
        return;
    }
    sweep_columns_with::<false>(cols, d, s, range, pv, pw, v, y);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[allow(clippy::too_many_arguments)]
unsafe fn sweep_columns_fma(
    cols: &mut [f64],
    d: usize,
    s: usize,
    range: std::ops::Range<usize>,
    pv: &[f64],
    pw: &[f64],
    v: &[f64],
    y: &mut [f64],
) {
    sweep_columns_with::<true>(cols, d, s, range, pv, pw, v, y);
}

#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn sweep_columns_with<const AVX2: bool>(
    cols: &mut [f64],
    d: usize,
    s: usize,
    range: std::ops::Range<usize>,
    pv: &[f64],
    pw: &[f64],
    v: &[f64],
    y: &mut [f64],
) {
    let first = range.start;
    let mut j = range.start;
    // Columns in pairs: the pair shares its loads of the update vectors,
    // `v` and `y`, a third of the sweep's memory traffic.
    while j + 1 < range.end {
        let start = (j - first) * d + s + j;
        let (c1, c2) = cols[start..].split_at_mut(d);
        let c1 = &mut c1[..d - s - j];
        let c2 = &mut c2[1..d - s - j];
        let (pvj, pwj) = if pv.is_empty() {
            (&[][..], &[][..])
        } else {
            (&pv[j..], &pw[j..])
        };
        let dots = fused_pair::<AVX2>(c1, c2, pvj, pwj, &v[j..], &mut y[j..]);
        y[j] += dots.0;
        y[j + 1] += dots.1;
        j += 2;
    }
    if j < range.end {
        debug_assert_eq!(s + j + 1, d, "only the last column can be unpaired");
        let x = &mut cols[(j - first) * d + s + j];
        if !pv.is_empty() {
            *x = (-pv[j]).mul_add(pw[j], (-pw[j]).mul_add(pv[j], *x));
        }
        y[j] = x.mul_add(v[j], y[j]);
    }
}

/// Two adjacent columns of the sweep in one pass. `c1` is column `j` from
/// row `j` (length `L + 1`), `c2` column `j + 1` from row `j + 1` (length
/// `L`); `pv`, `pw`, `v` and `y` start at row `j`. Applies the previous
/// update (`c -= pv·pw_c + pw·pv_c`, skipped when `pv` is empty), returns
/// both columns' dot products with `v` and adds the off-diagonal halves to
/// `y`. Rows `j` and `j + 1` are done one by one; from row `j + 2` on, row
/// `r` goes to lane `(r − j − 2) % DOT_LANES` of each column's partial sums,
/// full groups of lanes by [`pair_body_avx2`] when `AVX2`, so both builds
/// perform the same operations and give the same bits.
#[inline(always)]
fn fused_pair<const AVX2: bool>(
    c1: &mut [f64],
    c2: &mut [f64],
    pv: &[f64],
    pw: &[f64],
    v: &[f64],
    y: &mut [f64],
) -> (f64, f64) {
    let len = c1.len();
    assert!(c2.len() + 1 == len && len >= 2 && v.len() >= len && y.len() >= len);
    let has_prev = !pv.is_empty();
    assert!(!has_prev || (pv.len() >= len && pw.len() >= len));
    let upd = |x: f64, r: usize, col: usize| -> f64 {
        if has_prev {
            (-pv[r]).mul_add(pw[col], (-pw[r]).mul_add(pv[col], x))
        } else {
            x
        }
    };
    let (v0, v1) = (v[0], v[1]);
    // Row j: diagonal of column j.
    let x = upd(c1[0], 0, 0);
    c1[0] = x;
    let head1 = x * v0;
    // Row j + 1: off-diagonal of column j, diagonal of column j + 1.
    let x1 = upd(c1[1], 1, 0);
    let x2 = upd(c2[0], 1, 1);
    c1[1] = x1;
    c2[0] = x2;
    let head1 = x1.mul_add(v1, head1);
    let head2 = x2 * v1;
    y[1] = x1.mul_add(v0, y[1]);
    let mut lanes1 = [0.0f64; DOT_LANES];
    let mut lanes2 = [0.0f64; DOT_LANES];
    let body = (len - 2) / DOT_LANES * DOT_LANES;
    #[cfg(target_arch = "x86_64")]
    let done = if AVX2 {
        // SAFETY: `AVX2` is only set inside code compiled for, and run
        // after detecting, AVX2 + FMA; the lengths were checked above.
        unsafe { pair_body_avx2(c1, c2, pv, pw, v, y, body, &mut lanes1, &mut lanes2) };
        body
    } else {
        0
    };
    #[cfg(not(target_arch = "x86_64"))]
    let done = 0;
    for r in 2 + done..len {
        let l = (r - 2) % DOT_LANES;
        let x1 = upd(c1[r], r, 0);
        let x2 = upd(c2[r - 1], r, 1);
        c1[r] = x1;
        c2[r - 1] = x2;
        lanes1[l] = x1.mul_add(v[r], lanes1[l]);
        lanes2[l] = x2.mul_add(v[r], lanes2[l]);
        y[r] = x2.mul_add(v1, x1.mul_add(v0, y[r]));
    }
    (head1 + sum_lanes(&lanes1), head2 + sum_lanes(&lanes2))
}

/// Rows `j + 2 .. j + 2 + body` of [`fused_pair`] (`body` a multiple of
/// [`DOT_LANES`]), four lanes per AVX2 register, into `lanes1`/`lanes2`.
///
/// # Safety
/// The CPU must have AVX2 and FMA; `c1`, `v`, `y` (and `pv`, `pw` when not
/// empty) must hold at least `body + 2` entries and `c2` `body + 1`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[allow(clippy::too_many_arguments)]
unsafe fn pair_body_avx2(
    c1: &mut [f64],
    c2: &mut [f64],
    pv: &[f64],
    pw: &[f64],
    v: &[f64],
    y: &mut [f64],
    body: usize,
    lanes1: &mut [f64; DOT_LANES],
    lanes2: &mut [f64; DOT_LANES],
) {
    use std::arch::x86_64::*;
    // SAFETY: offsets stay below 2 + body for c1, v, y, pv, pw and below
    // 1 + body for c2 (the caller's contract).
    unsafe {
        let (p1, p2) = (c1.as_mut_ptr().add(2), c2.as_mut_ptr().add(1));
        let (vp, yp) = (v.as_ptr().add(2), y.as_mut_ptr().add(2));
        let (s0, s1) = (_mm256_set1_pd(v[0]), _mm256_set1_pd(v[1]));
        // Column 1 lanes 0-3, 4-7; column 2 lanes 0-3, 4-7.
        let mut acc = [_mm256_setzero_pd(); 4];
        let prev = (!pv.is_empty()).then(|| {
            (
                (pv.as_ptr().add(2), pw.as_ptr().add(2)),
                (_mm256_set1_pd(pv[0]), _mm256_set1_pd(pw[0])),
                (_mm256_set1_pd(pv[1]), _mm256_set1_pd(pw[1])),
            )
        });
        let mut i = 0;
        while i < body {
            for h in [0, 4] {
                let mut x1 = _mm256_loadu_pd(p1.add(i + h));
                let mut x2 = _mm256_loadu_pd(p2.add(i + h));
                if let Some(((ap, bp), (pv0, pw0), (pv1, pw1))) = prev {
                    let a = _mm256_loadu_pd(ap.add(i + h));
                    let b = _mm256_loadu_pd(bp.add(i + h));
                    x1 = _mm256_fnmadd_pd(a, pw0, _mm256_fnmadd_pd(b, pv0, x1));
                    x2 = _mm256_fnmadd_pd(a, pw1, _mm256_fnmadd_pd(b, pv1, x2));
                    _mm256_storeu_pd(p1.add(i + h), x1);
                    _mm256_storeu_pd(p2.add(i + h), x2);
                }
                let vv = _mm256_loadu_pd(vp.add(i + h));
                acc[h / 4] = _mm256_fmadd_pd(x1, vv, acc[h / 4]);
                acc[2 + h / 4] = _mm256_fmadd_pd(x2, vv, acc[2 + h / 4]);
                let yy = _mm256_fmadd_pd(x1, s0, _mm256_loadu_pd(yp.add(i + h)));
                _mm256_storeu_pd(yp.add(i + h), _mm256_fmadd_pd(x2, s1, yy));
            }
            i += DOT_LANES;
        }
        _mm256_storeu_pd(lanes1.as_mut_ptr(), acc[0]);
        _mm256_storeu_pd(lanes1.as_mut_ptr().add(4), acc[1]);
        _mm256_storeu_pd(lanes2.as_mut_ptr(), acc[2]);
        _mm256_storeu_pd(lanes2.as_mut_ptr().add(4), acc[3]);
    }
}

/// Adds the lanes pairwise in a fixed tree (also the column pass's sums).
#[inline(always)]
pub(super) fn sum_lanes(acc: &[f64; DOT_LANES]) -> f64 {
    let mut half = *acc;
    let mut width = DOT_LANES;
    while width > 1 {
        width /= 2;
        for l in 0..width {
            half[l] += half[l + width];
        }
    }
    half[0]
}

/// Dot product with [`DOT_LANES`] fixed partial sums.
#[inline(always)]
fn dot(a: &[f64], b: &[f64]) -> f64 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [0.0f64; DOT_LANES];
    let (ab, bb) = (a.chunks_exact(DOT_LANES), b.chunks_exact(DOT_LANES));
    let (at, bt) = (ab.remainder(), bb.remainder());
    for (x, z) in ab.zip(bb) {
        for l in 0..DOT_LANES {
            acc[l] = x[l].mul_add(z[l], acc[l]);
        }
    }
    for (l, (x, z)) in at.iter().zip(bt).enumerate() {
        acc[l] = x.mul_add(*z, acc[l]);
    }
    sum_lanes(&acc)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `Q y` straight from the definition `Q = H_0 H_1 … H_{d−2}`.
    pub(super) fn apply_q(red: &Reduction, d: usize, y: &mut [f64]) {
        for col in y.chunks_mut(d) {
            for k in (0..d.saturating_sub(1)).rev() {
                let mut v = vec![0.0; d];
                v[k + 1] = 1.0;
                v[k + 2..].copy_from_slice(&red.reflectors[k * d + k + 2..(k + 1) * d]);
                let s: f64 =
                    red.taus[k] * v.iter().zip(col.iter()).map(|(a, b)| a * b).sum::<f64>();
                for (x, vi) in col.iter_mut().zip(&v) {
                    *x -= s * vi;
                }
            }
        }
    }

    fn random_symmetric(d: usize, seed: u64) -> Vec<f64> {
        use rand::RngExt;
        let mut rng = crate::rng::seeded(seed);
        let b: Vec<f64> = (0..d * d).map(|_| rng.random_range(-1.0..1.0)).collect();
        let mut c = vec![0.0; d * d];
        for j in 0..d {
            for i in 0..d {
                c[j * d + i] = (0..d).map(|t| b[t * d + i] * b[t * d + j]).sum();
            }
        }
        c
    }

    /// `Q T Qᵀ = C` and `QᵀQ = I`, for sizes on both sides of the parallel
    /// threshold and the smallest cases.
    #[test]
    fn reduction_reconstructs_the_matrix() {
        for d in [1, 2, 3, 5, 40, PARALLEL_MIN_DIM + 37] {
            let c = random_symmetric(d, d as u64);
            let red = Reduction::new(c.clone(), d);
            // Q as the back-transform of the identity.
            let mut q = vec![0.0; d * d];
            for i in 0..d {
                q[i * d + i] = 1.0;
            }
            apply_q(&red, d, &mut q);
            let t = |i: usize, j: usize| -> f64 {
                if i == j {
                    red.diag[i]
                } else if i == j + 1 {
                    red.offdiag[j]
                } else if j == i + 1 {
                    red.offdiag[i]
                } else {
                    0.0
                }
            };
            let scale = c.iter().fold(0.0f64, |m, v| m.max(v.abs()));
            for i in 0..d {
                for j in 0..d {
                    let mut qtq = 0.0;
                    let mut qtqt = 0.0;
                    for r in 0..d {
                        qtq += q[i * d + r] * q[j * d + r];
                        for s in 0..d {
                            qtqt += q[r * d + i] * t(r, s) * q[s * d + j];
                        }
                    }
                    let want = if i == j { 1.0 } else { 0.0 };
                    assert!((qtq - want).abs() < 1e-13, "d={d}: QᵀQ[{i},{j}] = {qtq}");
                    assert!(
                        (qtqt - c[j * d + i]).abs() < 1e-12 * scale * d as f64,
                        "d={d}: QTQᵀ[{i},{j}] = {qtqt}, C = {}",
                        c[j * d + i]
                    );
                }
            }
        }
    }

    /// An already tridiagonal (and a diagonal) matrix needs no reflection.
    #[test]
    fn tridiagonal_input_is_left_alone() {
        let d = 6;
        let mut c = vec![0.0; d * d];
        for i in 0..d {
            c[i * d + i] = i as f64 + 1.0;
            if i + 1 < d {
                c[i * d + i + 1] = 0.5;
            }
        }
        let red = Reduction::new(c, d);
        assert_eq!(red.diag, vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        assert!(red.offdiag.iter().all(|&e| e.abs() == 0.5));
        assert!(red.taus.iter().all(|&t| t == 0.0));
    }
}

#[cfg(all(test, target_arch = "x86_64"))]
mod kernel_tests {
    use super::*;

    #[target_feature(enable = "avx2,fma")]
    unsafe fn pair_fma(
        c1: &mut [f64],
        c2: &mut [f64],
        pv: &[f64],
        pw: &[f64],
        v: &[f64],
        y: &mut [f64],
    ) -> (f64, f64) {
        fused_pair::<true>(c1, c2, pv, pw, v, y)
    }

    /// The intrinsics path and the portable one give the same bits (the
    /// reduction's results must not depend on which one the CPU can run),
    /// and the portable one computes the dot products it claims to.
    #[test]
    fn vector_kernel_matches_portable_kernel_bit_for_bit() {
        use rand::RngExt;
        assert!(has_fma(), "this test needs a CPU with AVX2 and FMA");
        let mut rng = crate::rng::seeded(4);
        for len in [2, 3, 9, 10, 11, 17, 33, 100] {
            for with_prev in [false, true] {
                let mut r = |n: usize| -> Vec<f64> {
                    (0..n).map(|_| rng.random_range(-1.0..1.0)).collect()
                };
                let (c1, c2, v, y) = (r(len), r(len - 1), r(len), r(len));
                let (pv, pw) = if with_prev {
                    (r(len), r(len))
                } else {
                    (Vec::new(), Vec::new())
                };
                let (mut a1, mut b1, mut y1) = (c1.clone(), c2.clone(), y.clone());
                let (mut a2, mut b2, mut y2) = (c1.clone(), c2.clone(), y.clone());
                let s1 = fused_pair::<false>(&mut a1, &mut b1, &pv, &pw, &v, &mut y1);
                // SAFETY: the features were asserted above.
                let s2 = unsafe { pair_fma(&mut a2, &mut b2, &pv, &pw, &v, &mut y2) };
                assert!(s1.0.to_bits() == s2.0.to_bits() && s1.1.to_bits() == s2.1.to_bits());
                assert!(a1 == a2 && b1 == b2 && y1 == y2, "len {len}");
                let want1: f64 = a1.iter().zip(&v).map(|(a, b)| a * b).sum();
                let want2: f64 = b1.iter().zip(&v[1..]).map(|(a, b)| a * b).sum();
                assert!((s1.0 - want1).abs() < 1e-12 * len as f64, "len {len}");
                assert!((s1.1 - want2).abs() < 1e-12 * len as f64, "len {len}");
                assert_eq!(y1[0], y[0], "len {len}: y[0] is left to the caller");
            }
        }
    }
}

#[cfg(test)]
mod thread_tests {
    use super::*;

    /// Bit-equality of the reduction across pools.
    #[test]
    fn reduction_does_not_depend_on_thread_count() {
        use rand::RngExt;
        let d = 300;
        let mut rng = crate::rng::seeded(21);
        let c: Vec<f64> = {
            let b: Vec<f64> = (0..d * d).map(|_| rng.random_range(-1.0..1.0)).collect();
            (0..d * d)
                .map(|idx| {
                    let (i, j) = (idx % d, idx / d);
                    (0..d).map(|t| b[t * d + i] * b[t * d + j]).sum()
                })
                .collect()
        };
        let run = |threads: usize| {
            crate::linalg::on_threads(threads, || {
                let red = Reduction::new(c.clone(), d);
                (red.diag, red.offdiag, red.reflectors, red.taus)
            })
        };
        let one = run(1);
        for threads in [2, 3, 4] {
            assert!(one == run(threads), "1 vs {threads} threads");
        }
    }
}
