//! All eigenvalues of a symmetric tridiagonal matrix by the Pal–Walker–Kahan
//! root-free QL/QR iteration (LAPACK's `dsterf`).
//!
//! PCA needs every eigenvalue of the tridiagonalised covariance (the error
//! curve sums the discarded ones) but eigenvectors for a few only. Implicit
//! QR with Givens rotations takes a square root per rotation; this variant
//! works with squared off-diagonals and needs none in its inner loop, which
//! makes it several times faster for the same accuracy.

/// Iterations allowed per eigenvalue before giving up (LAPACK's `MAXIT`).
const MAX_ITERATIONS: usize = 30;

/// All eigenvalues of the symmetric tridiagonal matrix with diagonal `diag`
/// and off-diagonal `offdiag` (`offdiag[i]` couples rows `i` and `i + 1`;
/// entries past `diag.len() - 1` are ignored), largest first. `None` if the
/// iteration does not converge or the input is not finite.
pub(crate) fn eigenvalues(diag: &[f64], offdiag: &[f64]) -> Option<Vec<f64>> {
    let n = diag.len();
    if offdiag.len() < n.saturating_sub(1) {
        return None;
    }
    if diag
        .iter()
        .chain(&offdiag[..n.saturating_sub(1)])
        .any(|v| !v.is_finite())
    {
        return None;
    }
    let mut d = diag.to_vec();
    let mut e: Vec<f64> = offdiag[..n.saturating_sub(1)].to_vec();
    let eps = f64::EPSILON / 2.0;
    let eps2 = eps * eps;
    let safe_min = f64::MIN_POSITIVE;
    let safe_max = 1.0 / safe_min;
    let scale_max = safe_max.sqrt() / 3.0;
    let scale_min = safe_min.sqrt() / eps2;
    let max_total = n * MAX_ITERATIONS;
    let mut total = 0;
    let mut l1 = 0;
    while l1 < n {
        // Split off an unreduced block [l, lend].
        if l1 > 0 {
            e[l1 - 1] = 0.0;
        }
        let mut m = l1;
        while m + 1 < n {
            let tst = e[m].abs();
            if tst == 0.0 {
                break;
            }
            if tst <= (d[m].abs().sqrt() * d[m + 1].abs().sqrt()) * eps {
                e[m] = 0.0;
                break;
            }
            m += 1;
        }
        let (mut l, mut lend) = (l1, m);
        let (lsv, lendsv) = (l, lend);
        l1 = m + 1;
        if lend == l {
            continue;
        }
        // Scale the block into a safe range.
        let anorm = block_max_norm(&d[l..=lend], &e[l..lend]);
        let mut scaled = 0.0;
        if anorm == 0.0 {
            continue;
        }
        if anorm > scale_max {
            scaled = scale_max;
        } else if anorm < scale_min {
            scaled = scale_min;
        }
        if scaled != 0.0 {
            let f = scaled / anorm;
            d[l..=lend].iter_mut().for_each(|v| *v *= f);
            e[l..lend].iter_mut().for_each(|v| *v *= f);
        }
        for v in &mut e[l..lend] {
            *v *= *v;
        }
        // QL when the bottom end is larger, QR otherwise.
        if d[lend].abs() < d[l].abs() {
            std::mem::swap(&mut l, &mut lend);
        }
        if lend >= l {
            // QL iteration: find eigenvalues from the top (index l) down.
            loop {
                if l > lend {
                    break;
                }
                let mut m = l;
                while m < lend {
                    if e[m].abs() <= eps2 * (d[m] * d[m + 1]).abs() {
                        break;
                    }
                    m += 1;
                }
                if m < lend {
                    e[m] = 0.0;
                }
                let p = d[l];
                if m == l {
                    d[l] = p;
                    l += 1;
                    continue;
                }
                if m == l + 1 {
                    let (rt1, rt2) = eigen2(d[l], e[l].sqrt(), d[l + 1]);
                    d[l] = rt1;
                    d[l + 1] = rt2;
                    e[l] = 0.0;
                    l += 2;
                    continue;
                }
                if total == max_total {
                    return None;
                }
                total += 1;
                // The shift.
                let rte = e[l].sqrt();
                let mut sigma = (d[l + 1] - p) / (2.0 * rte);
                let r = sigma.hypot(1.0);
                sigma = p - (rte / (sigma + r.copysign(sigma)));
                let (mut c, mut s) = (1.0, 0.0);
                let mut gamma = d[m] - sigma;
                let mut p = gamma * gamma;
                // The inner loop, bottom to top.
                for i in (l..m).rev() {
                    let bb = e[i];
                    let r = p + bb;
                    if i != m - 1 {
                        e[i + 1] = s * r;
                    }
                    let oldc = c;
                    c = p / r;
                    s = bb / r;
                    let oldgam = gamma;
                    let alpha = d[i];
                    gamma = c * (alpha - sigma) - s * oldgam;
                    d[i + 1] = oldgam + (alpha - gamma);
                    p = if c != 0.0 {
                        (gamma * gamma) / c
                    } else {
                        oldc * bb
                    };
                }
                e[l] = s * p;
                d[l] = sigma + gamma;
            }
        } else {
            // QR iteration: find eigenvalues from the bottom (index l) up.
            loop {
                if l < lend {
                    break;
                }
                let mut m = l;
                while m > lend {
                    if e[m - 1].abs() <= eps2 * (d[m] * d[m - 1]).abs() {
                        break;
                    }
                    m -= 1;
                }
                if m > lend {
                    e[m - 1] = 0.0;
                }
                let p = d[l];
                if m == l {
                    d[l] = p;
                    if l == 0 {
                        break;
                    }
                    l -= 1;
                    continue;
                }
                if m + 1 == l {
                    let (rt1, rt2) = eigen2(d[l], e[l - 1].sqrt(), d[l - 1]);
                    d[l] = rt1;
                    d[l - 1] = rt2;
                    e[l - 1] = 0.0;
                    if l < 2 {
                        break;
                    }
                    l -= 2;
                    continue;
                }
                if total == max_total {
                    return None;
                }
                total += 1;
                let rte = e[l - 1].sqrt();
                let mut sigma = (d[l - 1] - p) / (2.0 * rte);
                let r = sigma.hypot(1.0);
                sigma = p - (rte / (sigma + r.copysign(sigma)));
                let (mut c, mut s) = (1.0, 0.0);
                let mut gamma = d[m] - sigma;
                let mut p = gamma * gamma;
                for i in m..l {
                    let bb = e[i];
                    let r = p + bb;
                    if i != m {
                        e[i - 1] = s * r;
                    }
                    let oldc = c;
                    c = p / r;
                    s = bb / r;
                    let oldgam = gamma;
                    let alpha = d[i + 1];
                    gamma = c * (alpha - sigma) - s * oldgam;
                    d[i] = oldgam + (alpha - gamma);
                    p = if c != 0.0 {
                        (gamma * gamma) / c
                    } else {
                        oldc * bb
                    };
                }
                e[l - 1] = s * p;
                d[l] = sigma + gamma;
            }
        }
        // Undo the scaling.
        if scaled != 0.0 {
            let f = anorm / scaled;
            d[lsv..=lendsv].iter_mut().for_each(|v| *v *= f);
        }
    }
    if d.iter().any(|v| !v.is_finite()) {
        return None;
    }
    d.sort_by(|a, b| b.total_cmp(a));
    Some(d)
}

/// Largest absolute entry of a tridiagonal block.
fn block_max_norm(d: &[f64], e: &[f64]) -> f64 {
    d.iter().chain(e).fold(0.0f64, |m, v| m.max(v.abs()))
}

/// Eigenvalues of `[[a, b], [b, c]]`, larger magnitude first (LAPACK's `dlae2`).
fn eigen2(a: f64, b: f64, c: f64) -> (f64, f64) {
    let sm = a + c;
    let df = a - c;
    let adf = df.abs();
    let tb = b + b;
    let ab = tb.abs();
    let (acmx, acmn) = if a.abs() > c.abs() { (a, c) } else { (c, a) };
    let rt = if adf > ab {
        adf * (1.0 + (ab / adf).powi(2)).sqrt()
    } else if adf < ab {
        ab * (1.0 + (adf / ab).powi(2)).sqrt()
    } else {
        ab * std::f64::consts::SQRT_2
    };
    if sm < 0.0 {
        let rt1 = 0.5 * (sm - rt);
        (rt1, (acmx / rt1) * acmn - (b / rt1) * b)
    } else if sm > 0.0 {
        let rt1 = 0.5 * (sm + rt);
        (rt1, (acmx / rt1) * acmn - (b / rt1) * b)
    } else {
        (0.5 * rt, -0.5 * rt)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// How many eigenvalues of the tridiagonal matrix are below `x`: the
    /// negative pivots of the LDLᵀ factorisation of `T − xI` (Sylvester's
    /// law of inertia), an oracle independent of the QL/QR iteration.
    fn count_below(diag: &[f64], offdiag: &[f64], x: f64) -> usize {
        let mut count = 0;
        let mut q = 1.0;
        for i in 0..diag.len() {
            let coupling = if i > 0 {
                offdiag[i - 1] * offdiag[i - 1]
            } else {
                0.0
            };
            q = diag[i] - x - if i > 0 { coupling / q } else { 0.0 };
            if q == 0.0 {
                q = -f64::EPSILON * (diag[i].abs() + x.abs()).max(f64::MIN_POSITIVE);
            }
            if q < 0.0 {
                count += 1;
            }
        }
        count
    }

    /// Deterministic xorshift64* generator: uniform values in [-1, 1).
    fn random(seed: u64, n: usize) -> (Vec<f64>, Vec<f64>) {
        let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        let mut next = move || {
            state ^= state >> 12;
            state ^= state << 25;
            state ^= state >> 27;
            let bits = state.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11;
            bits as f64 / (1u64 << 53) as f64 * 2.0 - 1.0
        };
        let d = (0..n).map(|_| next()).collect();
        let e = (0..n.saturating_sub(1)).map(|_| next()).collect();
        (d, e)
    }

    /// `a` on the diagonal and `b` off it: `λ_j = a + 2b cos(jπ/(n+1))`.
    #[test]
    fn toeplitz_spectrum_matches_closed_form() {
        for n in 1..=300 {
            for (a, b) in [(2.0, -1.0), (0.0, 1.0), (-3.0, 0.25), (1e-3, 5.0)] {
                let got = eigenvalues(&vec![a; n], &vec![b; n.saturating_sub(1)]).unwrap();
                let mut want: Vec<f64> = (1..=n)
                    .map(|j| {
                        a + 2.0 * b * (j as f64 * std::f64::consts::PI / (n as f64 + 1.0)).cos()
                    })
                    .collect();
                want.sort_by(|x, y| y.total_cmp(x));
                let norm = a.abs() + 2.0 * b.abs();
                for (g, w) in got.iter().zip(&want) {
                    assert!(
                        (g - w).abs() <= 1e-13 * norm,
                        "n={n} a={a} b={b}: {g} vs {w}"
                    );
                }
            }
        }
    }

    /// Random matrices (plain, graded over 1e-12..1, with zero couplings,
    /// clustered, and with repeated diagonal blocks): the eigenvalue count below each
    /// midpoint between computed neighbours equals its position, and the
    /// sum equals the trace.
    #[test]
    fn sturm_counts_and_trace_agree() {
        for (case, n) in [(0, 1), (1, 2), (2, 5), (3, 100), (4, 700)] {
            for variant in 0..5 {
                let (mut d, mut e) = random(100 + case * 4 + variant, n);
                match variant {
                    1 => {
                        for (i, v) in d.iter_mut().enumerate() {
                            *v = v.abs() * 10f64.powf(-12.0 * i as f64 / n as f64);
                        }
                        for (i, v) in e.iter_mut().enumerate() {
                            *v *= 10f64.powf(-12.0 * i as f64 / n as f64) * 0.1;
                        }
                    }
                    2 => e.iter_mut().step_by(3).for_each(|v| *v = 0.0),
                    3 => {
                        d.iter_mut().for_each(|v| *v = 0.5);
                        e.iter_mut().step_by(2).for_each(|v| *v = 0.0);
                    }
                    4 => {
                        // Tight cluster around 1 plus a few outliers.
                        for (i, v) in d.iter_mut().enumerate() {
                            *v = if i % 10 == 0 { *v } else { 1.0 + 1e-9 * *v };
                        }
                        e.iter_mut().for_each(|v| *v *= 1e-8);
                    }
                    _ => {}
                }
                let got = eigenvalues(&d, &e).unwrap();
                assert_eq!(got.len(), n);
                assert!(
                    got.windows(2).all(|w| w[0] >= w[1]),
                    "case {case}/{variant}: order"
                );
                let trace: f64 = d.iter().sum();
                let scale = d
                    .iter()
                    .chain(&e)
                    .fold(0.0f64, |m, v| m.max(v.abs()))
                    .max(1e-300);
                assert!(
                    (got.iter().sum::<f64>() - trace).abs() <= 1e-12 * scale * n as f64,
                    "case {case}/{variant}: trace"
                );
                // Ascending order for the counts.
                let asc: Vec<f64> = got.iter().rev().copied().collect();
                for i in 0..n.saturating_sub(1) {
                    let (lo, hi) = (asc[i], asc[i + 1]);
                    if hi - lo > 1e-10 * scale {
                        let mid = 0.5 * (lo + hi);
                        assert_eq!(
                            count_below(&d, &e, mid),
                            i + 1,
                            "case {case}/{variant} at {mid}"
                        );
                    }
                }
            }
        }
    }

    /// Scaling the matrix scales the eigenvalues: the iteration's own
    /// rescaling keeps huge and tiny matrices in range.
    #[test]
    fn scaling_commutes() {
        let (d, e) = random(7, 60);
        let base = eigenvalues(&d, &e).unwrap();
        for f in [1e150, 1e-150] {
            let ds: Vec<f64> = d.iter().map(|v| v * f).collect();
            let es: Vec<f64> = e.iter().map(|v| v * f).collect();
            let got = eigenvalues(&ds, &es).unwrap();
            for (g, b) in got.iter().zip(&base) {
                assert!(
                    (g / f - b).abs() <= 1e-13 * base[0].abs().max(1.0),
                    "{f}: {g} vs {b}"
                );
            }
        }
    }

    #[test]
    fn non_finite_input_is_refused() {
        assert!(eigenvalues(&[1.0, f64::NAN], &[0.5]).is_none());
        assert!(eigenvalues(&[1.0, 2.0], &[f64::INFINITY]).is_none());
        assert_eq!(eigenvalues(&[], &[]).unwrap(), Vec::<f64>::new());
    }
}
