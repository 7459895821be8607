//! Seed uncertainty: Student-t intervals, paired tests and what a family of
//! them may claim.
//!
//! A study repeats each configuration over a handful of seeds, so every
//! number it reports is a small sample. A summary may only say "the tied
//! autoencoder is worse than PCA" when an interval over the seeds supports
//! it; this module computes those intervals ([`mean_interval`], [`paired_t`])
//! and says which way they point ([`Interval::direction`]).
//!
//! Relative effects are paired log-ratios ([`paired_log_ratio`], reported
//! through [`geometric_percent`]). A question asked at several sizes is a
//! family of comparisons, and [`assess_family`] states what each supports
//! ([`Outcome`]): a direction after Holm's correction ([`holm`]),
//! equivalence within a margin by two one-sided tests ([`tost`],
//! [`Margin`]), or nothing; with a sign-flip permutation p-value
//! ([`sign_flip_p`]) beside the t test's.
//!
//! It is a leaf: only `std`, [`crate::error`] and [`crate::validate`]. The
//! special functions it needs (log-gamma, the regularized incomplete beta,
//! the Student-t cdf and quantile) are written out here rather than pulled
//! in as a dependency, and `tests/stats.rs` checks them against scipy
//! reference values (`scripts/stats_reference.py`).

use std::f64::consts::PI;

use crate::error::{Error, Result};
use crate::validate;

// ---------------------------------------------------------------- moments

/// Arithmetic mean, `None` for an empty slice (there is no mean to report,
/// and `0/0` would only smuggle a NaN into a table).
pub fn mean(x: &[f64]) -> Option<f64> {
    if x.is_empty() {
        return None;
    }
    Some(x.iter().sum::<f64>() / x.len() as f64)
}

/// Sample standard deviation (denominator `n − 1`), `None` for fewer than two
/// values, where it is undefined.
///
/// Two passes (mean first, then squared deviations from it) rather than the
/// one-pass sum-of-squares formula, which cancels catastrophically when the
/// spread is small next to the mean, as it is for losses over seeds. The
/// second pass also subtracts the rounding left in the deviations' sum
/// (the "corrected two-pass" algorithm).
pub fn sample_sd(x: &[f64]) -> Option<f64> {
    let n = x.len();
    if n < 2 {
        return None;
    }
    let m = mean(x)?;
    let ss: f64 = x.iter().map(|&v| (v - m) * (v - m)).sum();
    let drift: f64 = x.iter().map(|&v| v - m).sum();
    let nf = n as f64;
    let var = if ss.is_finite() && drift.is_finite() {
        (ss - drift * drift / nf) / (nf - 1.0)
    } else {
        ss / (nf - 1.0)
    };
    // Rounding can leave a tiny negative variance; a NaN (from NaN input)
    // passes through unchanged.
    Some(if var < 0.0 { 0.0 } else { var.sqrt() })
}

// ---------------------------------------------------------------- special functions

/// Lanczos approximation, g = 7, nine coefficients: about 15 significant
/// digits for Γ on the right half-plane.
const LANCZOS_G: f64 = 7.0;
const LANCZOS: [f64; 9] = [
    0.999_999_999_999_809_9,
    676.520_368_121_885_1,
    -1_259.139_216_722_402_8,
    771.323_428_777_653_1,
    -176.615_029_162_140_6,
    12.507_343_278_686_905,
    -0.138_571_095_265_720_12,
    9.984_369_578_019_572e-6,
    1.505_632_735_149_311_6e-7,
];

/// `ln Γ(x)` for `x > 0` (Lanczos, g = 7): absolute error about 1e-15 for
/// moderate `x`, relative error about 1e-15 for large `x`.
///
/// The t distribution's normalizing constants are ratios of gamma functions
/// whose values overflow long before their ratios do, so they are formed
/// from logarithms. Returns NaN for `x <= 0` or NaN, and `+inf` for `+inf`.
pub fn ln_gamma(x: f64) -> f64 {
    if x.is_nan() || x <= 0.0 {
        return f64::NAN;
    }
    if x == f64::INFINITY {
        return f64::INFINITY;
    }
    if x < 0.5 {
        // Γ(x) = Γ(x + 1) / x keeps the Lanczos sum on its accurate range.
        return ln_gamma(x + 1.0) - x.ln();
    }
    let z = x - 1.0;
    let mut sum = LANCZOS[0];
    for (i, &c) in LANCZOS.iter().enumerate().skip(1) {
        sum += c / (z + i as f64);
    }
    let t = z + LANCZOS_G + 0.5;
    0.5 * (2.0 * PI).ln() + (z + 0.5) * t.ln() - t + sum.ln()
}

/// Stirling's series remainder `ln Γ(x) − [(x − ½) ln x − x + ½ ln 2π]`,
/// eight terms: below 1e-17 for `x >= 10`.
fn stirling_remainder(x: f64) -> f64 {
    const C: [f64; 8] = [
        1.0 / 12.0,
        -1.0 / 360.0,
        1.0 / 1260.0,
        -1.0 / 1680.0,
        1.0 / 1188.0,
        -691.0 / 360_360.0,
        1.0 / 156.0,
        -3617.0 / 122_400.0,
    ];
    let r = 1.0 / x;
    let r2 = r * r;
    let mut sum = C[7];
    for &c in C[..7].iter().rev() {
        sum = sum * r2 + c;
    }
    sum * r
}

/// `ln Γ(a + b) − ln Γ(a)`. For large `a` the two logarithms are large and
/// nearly equal (about 2600 each for a t with 1000 degrees of freedom), and
/// subtracting them would cost three digits of every tail probability;
/// for `a >= 10` the difference is formed from Stirling's series directly.
fn ln_gamma_ratio(a: f64, b: f64) -> f64 {
    if a < 10.0 {
        return ln_gamma(a + b) - ln_gamma(a);
    }
    (a - 0.5) * (b / a).ln_1p() + b * (a + b).ln() - b + stirling_remainder(a + b)
        - stirling_remainder(a)
}

/// A point `x` of the beta distribution together with `y = 1 − x` and both
/// logarithms, each obtained without cancellation. Callers who know `y`
/// exactly (the t cdf near `t = 0`) or only `ln x` (the t cdf beyond
/// `|t| ≈ 1e154`, where `x` underflows but the tail does not) pass them in.
#[derive(Clone, Copy, Debug)]
struct BetaPoint {
    x: f64,
    y: f64,
    ln_x: f64,
    ln_y: f64,
}

impl BetaPoint {
    /// From `x` and `y = 1 − x`, each logarithm taken from whichever of the
    /// two is not close to 1.
    fn new(x: f64, y: f64) -> Self {
        let ln_x = if x < 0.5 { x.ln() } else { (-y).ln_1p() };
        let ln_y = if y < 0.5 { y.ln() } else { (-x).ln_1p() };
        BetaPoint { x, y, ln_x, ln_y }
    }

    /// The point `1 − x`, for `I_{1−x}(b, a)`.
    fn swap(self) -> Self {
        BetaPoint {
            x: self.y,
            y: self.x,
            ln_x: self.ln_y,
            ln_y: self.ln_x,
        }
    }
}

/// The continued fraction for `I_x(a, b)` (Numerical Recipes' `betacf`),
/// evaluated by the modified Lentz method. Converges quickly for
/// `x < (a + 1) / (a + b + 2)`, in about `O(√max(a, b))` terms.
fn beta_continued_fraction(a: f64, b: f64, x: f64) -> f64 {
    const TINY: f64 = 1e-300;
    let max_terms = 1_000 + (20.0 * a.max(b).sqrt()).min(1e6) as usize;
    let fix = |v: f64| if v.abs() < TINY { TINY } else { v };
    let (qab, qap, qam) = (a + b, a + 1.0, a - 1.0);
    let mut c = 1.0;
    let mut d = 1.0 / fix(1.0 - qab * x / qap);
    let mut h = d;
    for m in 1..=max_terms {
        let m = m as f64;
        let m2 = 2.0 * m;
        let even = m * (b - m) * x / ((qam + m2) * (a + m2));
        d = 1.0 / fix(1.0 + even * d);
        c = fix(1.0 + even / c);
        h *= d * c;
        let odd = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2));
        d = 1.0 / fix(1.0 + odd * d);
        c = fix(1.0 + odd / c);
        let delta = d * c;
        h *= delta;
        if (delta - 1.0).abs() <= f64::EPSILON {
            break;
        }
    }
    h
}

/// `I_x(a, b)` at `pt`.
fn beta_at(a: f64, b: f64, pt: BetaPoint) -> f64 {
    if pt.ln_x == f64::NEG_INFINITY {
        return 0.0;
    }
    if pt.ln_y == f64::NEG_INFINITY {
        return 1.0;
    }
    // −ln B(a, b), with the ratio taken on the larger parameter.
    let (big, small) = if a >= b { (a, b) } else { (b, a) };
    let ln_inv_beta = ln_gamma_ratio(big, small) - ln_gamma(small);
    let front = (ln_inv_beta + a * pt.ln_x + b * pt.ln_y).exp();
    // Below the switch point I_x is the smaller of I_x and 1 − I_x and comes
    // straight from the fraction; above it, the complement does.
    if pt.x < (a + 1.0) / (a + b + 2.0) {
        front * beta_continued_fraction(a, b, pt.x) / a
    } else {
        1.0 - front * beta_continued_fraction(b, a, pt.y) / b
    }
}

/// The regularized incomplete beta function `I_x(a, b)` for `a, b > 0`.
///
/// The t cdf is an incomplete beta, so this is what every interval and
/// p-value here rests on. Continued fraction (modified Lentz) with the
/// symmetry `I_x(a, b) = 1 − I_{1−x}(b, a)` for `x > (a + 1)/(a + b + 2)`,
/// which keeps the fraction where it converges fast and returns the smaller
/// tail directly. Relative error is about 1e-14 for one of `a, b` up to a few
/// hundred when the other is small (as for the t distribution), and about
/// 1e-13 up to `max(a, b)` near 1e4; the fraction itself loses accuracy as
/// `max(a, b)` grows further (about 1e-10 at 5e6). When both are large the
/// `ln Γ` of the smaller costs about `ε · min(a, b) · ln min(a, b)`.
///
/// Returns 0 for `x <= 0`, 1 for `x >= 1`, and NaN when `a` or `b` is not
/// positive and finite or `x` is NaN.
pub fn regularized_incomplete_beta(a: f64, b: f64, x: f64) -> f64 {
    let valid = a > 0.0 && a.is_finite() && b > 0.0 && b.is_finite() && !x.is_nan();
    if !valid {
        return f64::NAN;
    }
    if x <= 0.0 {
        return 0.0;
    }
    if x >= 1.0 {
        return 1.0;
    }
    beta_at(a, b, BetaPoint::new(x, 1.0 - x))
}

// ---------------------------------------------------------------- Student t

/// The beta point of `t`: `x = df/(df + t²)` and `y = t²/(df + t²)`, each
/// formed directly (never as one minus the other), without overflowing `t²`,
/// and with logarithms that stay finite when `x` or `y` underflows.
fn t_point(t: f64, df: f64) -> BetaPoint {
    let a = t.abs();
    let t2 = a * a;
    if t2 <= df {
        let v = t2 / df;
        let ln_1pv = v.ln_1p();
        let ln_v = if v >= f64::MIN_POSITIVE {
            v.ln()
        } else {
            2.0 * a.ln() - df.ln()
        };
        BetaPoint {
            x: 1.0 / (1.0 + v),
            y: v / (1.0 + v),
            ln_x: -ln_1pv,
            ln_y: ln_v - ln_1pv,
        }
    } else {
        let w = (df / a) / a;
        let ln_1pw = w.ln_1p();
        let ln_w = if w >= f64::MIN_POSITIVE {
            w.ln()
        } else {
            df.ln() - 2.0 * a.ln()
        };
        BetaPoint {
            x: w / (1.0 + w),
            y: 1.0 / (1.0 + w),
            ln_x: ln_w - ln_1pw,
            ln_y: -ln_1pw,
        }
    }
}

/// `P(T > s) = P(T < −s)` for `s >= 0`: half the two-sided tail
/// `I_{df/(df+s²)}(df/2, 1/2)`, accurate relative to itself far out.
fn t_tail(s: f64, df: f64) -> f64 {
    0.5 * beta_at(0.5 * df, 0.5, t_point(s, df))
}

/// The cdf of Student's t with `df` degrees of freedom at `t`.
///
/// Used for p-values: a two-sided p-value is `2 · student_t_cdf(−|t|, df)`,
/// which is computed relative to itself, so tiny p-values keep their digits.
/// `df` must be positive and finite; `t` may be infinite (giving 0 or 1).
/// `df = 1` (Cauchy) and `df = 2` use their closed forms. Returns NaN for
/// NaN `t` or a `df` that is not positive and finite.
pub fn student_t_cdf(t: f64, df: f64) -> f64 {
    let valid = !t.is_nan() && df > 0.0 && df.is_finite();
    if !valid {
        return f64::NAN;
    }
    if t == 0.0 {
        return 0.5;
    }
    if t == f64::INFINITY {
        return 1.0;
    }
    if t == f64::NEG_INFINITY {
        return 0.0;
    }
    let a = t.abs();
    // lower = P(T < −|t|)
    let lower = if df == 1.0 {
        (1.0 / a).atan() / PI
    } else if df == 2.0 {
        let s = a.hypot(std::f64::consts::SQRT_2);
        1.0 / (s * (s + a))
    } else {
        t_tail(a, df)
    };
    if t < 0.0 { lower } else { 1.0 - lower }
}

/// Upper-tail standard normal quantile for `pl` in `(0, 0.5]` (Acklam's
/// rational approximation, relative error about 1e-9): only a starting
/// point for the t quantile's iteration.
fn normal_upper_quantile(pl: f64) -> f64 {
    const A: [f64; 6] = [
        -3.969_683_028_665_376e1,
        2.209_460_984_245_205e2,
        -2.759_285_104_469_687e2,
        1.383_577_518_672_69e2,
        -3.066_479_806_614_716e1,
        2.506_628_277_459_239,
    ];
    const B: [f64; 5] = [
        -5.447_609_879_822_406e1,
        1.615_858_368_580_409e2,
        -1.556_989_798_598_866e2,
        6.680_131_188_771_972e1,
        -1.328_068_155_288_572e1,
    ];
    const C: [f64; 6] = [
        -7.784_894_002_430_293e-3,
        -3.223_964_580_411_365e-1,
        -2.400_758_277_161_838,
        -2.549_732_539_343_734,
        4.374_664_141_464_968,
        2.938_163_982_698_783,
    ];
    const D: [f64; 4] = [
        7.784_695_709_041_462e-3,
        3.224_671_290_700_398e-1,
        2.445_134_137_142_996,
        3.754_408_661_907_416,
    ];
    const P_LOW: f64 = 0.024_25;
    // Acklam gives the lower quantile (negative here); negate it.
    if pl < P_LOW {
        let q = (-2.0 * pl.ln()).sqrt();
        let num = ((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5];
        let den = (((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0;
        -num / den
    } else {
        let q = pl - 0.5;
        let r = q * q;
        let num = (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q;
        let den = ((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0;
        -num / den
    }
}

/// Starting point for the upper t quantile: the Cornish–Fisher expansion
/// around the normal quantile `z` (good for moderate `df`), kept inside
/// `[z, bound]`, where `bound` comes from `P(T > s) <= K s^−df` (the power
/// tail, good for small `df` far out), which bracket the true quantile.
fn t_initial_guess(pl: f64, df: f64) -> f64 {
    let z = normal_upper_quantile(pl);
    let z2 = z * z;
    let g1 = z * (z2 + 1.0) / 4.0;
    let g2 = z * ((5.0 * z2 + 16.0) * z2 + 3.0) / 96.0;
    let g3 = z * (((3.0 * z2 + 19.0) * z2 + 17.0) * z2 - 15.0) / 384.0;
    let g4 = z * ((((79.0 * z2 + 776.0) * z2 + 1482.0) * z2 - 1920.0) * z2 - 945.0) / 92160.0;
    let cornish_fisher = z + (g1 + (g2 + (g3 + g4 / df) / df) / df) / df;
    let ln_k = ln_gamma_ratio(0.5 * df, 0.5) - 0.5 * PI.ln() + 0.5 * (df - 2.0) * df.ln();
    let bound = ((ln_k - pl.ln()) / df).exp();
    let mut guess = cornish_fisher;
    if guess.is_nan() || guess < z {
        guess = z;
    }
    if guess > bound {
        guess = bound;
    }
    if guess.is_nan() || guess <= 0.0 {
        guess = 1.0;
    }
    guess.min(1e300)
}

/// The `s > 0` with `P(T > s) = pl`, for `pl` in `(0, 0.5)` and `df` not 1
/// or 2. Safeguarded Newton: every evaluation tightens a bracket
/// `[lo, hi]`, and a step that leaves it is replaced by bisection
/// (geometric while the bracket spans more than a factor of 4).
///
/// Two residuals, so that the target is always known exactly and the cdf
/// is always evaluated relative to what is being matched: for `pl > 1/4`
/// the central mass `P(|T| < s) = 1 − 2 pl` (exact there), with plain
/// Newton; otherwise `ln pl − ln P(T > s)`, with Newton in `ln s`, which is
/// nearly linear in the power-law tail.
fn t_upper_quantile(pl: f64, df: f64) -> f64 {
    const MAX_ITER: usize = 200;
    let central = pl > 0.25;
    let target = 1.0 - 2.0 * pl;
    let ln_pl = pl.ln();
    let half_df1 = 0.5 * (df + 1.0);
    // ln of the density's constant Γ((df+1)/2) / (Γ(df/2) √(df π))
    let ln_norm = ln_gamma_ratio(0.5 * df, 0.5) - 0.5 * (df * PI).ln();
    let ln_max = f64::MAX.ln();
    // (residual, increasing in s; the Newton proposal from s)
    let step = |s: f64| -> (f64, f64) {
        let pt = t_point(s, df);
        // density = norm · (1 + s²/df)^−(df+1)/2 = norm · x^((df+1)/2)
        let ln_density = ln_norm + half_df1 * pt.ln_x;
        if central {
            let r = beta_at(0.5, 0.5 * df, pt.swap()) - target;
            (r, s - r / (2.0 * ln_density.exp()))
        } else {
            let tail = 0.5 * beta_at(0.5 * df, 0.5, pt);
            let ln_tail = tail.ln();
            let r = ln_pl - ln_tail;
            // Newton in ln s: d ln(tail)/d ln s = −s · density / tail, taken
            // from logarithms because far out the density underflows long
            // before the tail does. A step past f64::MAX lands on it, so a
            // quantile beyond the floats is found in a few steps.
            let du = -r * (ln_tail - s.ln() - ln_density).exp();
            let next = if du.is_nan() {
                f64::NAN
            } else if du >= ln_max - s.ln() {
                f64::MAX
            } else {
                (s * du.exp()).min(f64::MAX)
            };
            (r, next)
        }
    };
    let mut lo = 0.0_f64;
    let mut hi = f64::INFINITY;
    let mut s = t_initial_guess(pl, df);
    for _ in 0..MAX_ITER {
        let (r, newton) = step(s);
        if r == 0.0 {
            return s;
        }
        if r < 0.0 {
            lo = s;
        } else {
            // r > 0, or NaN from an underflowed tail far beyond the root.
            hi = s;
        }
        if lo == f64::MAX {
            // The quantile exceeds the largest float (small df, extreme p).
            return f64::INFINITY;
        }
        let next = if newton > lo && newton < hi {
            newton
        } else if hi.is_finite() {
            let lo_pos = lo.max(f64::MIN_POSITIVE);
            if hi > 4.0 * lo_pos {
                lo_pos.sqrt() * hi.sqrt()
            } else {
                0.5 * (lo + hi)
            }
        } else {
            (s * 16.0).min(f64::MAX)
        };
        let tiny_step = (next - s).abs() <= 4.0 * f64::EPSILON * next;
        let tiny_bracket = hi.is_finite() && hi - lo <= 4.0 * f64::EPSILON * hi;
        if tiny_step || tiny_bracket {
            return next;
        }
        s = next;
    }
    s
}

/// The `p`-quantile of Student's t with `df` degrees of freedom (real `df`
/// allowed): the critical value behind every interval in this module.
///
/// `df = 1` (Cauchy, `tan(π(p − ½))`) and `df = 2`
/// (`(2p − 1)/√(2p(1 − p))`) are closed forms. Otherwise a Cornish–Fisher /
/// power-tail starting point is refined by safeguarded Newton on the cdf to
/// about 1e-13 relative (for `df` up to about 1e4; see
/// [`regularized_incomplete_beta`]). The work is done in the nearer tail,
/// `min(p, 1 − p)` (exact in floating point), so `q(1 − p) = −q(p)` and
/// extreme `p` keep their digits. For small `df` (below about 2) and `p`
/// extremely near 0 or 1 the quantile can exceed `f64::MAX`; it is then
/// returned as `±inf`.
///
/// # Errors
///
/// [`Error::Config`] when `p` is not in the open interval `(0, 1)` (field
/// `"p"`) or `df` is not positive and finite (field `"df"`).
pub fn student_t_quantile(p: f64, df: f64) -> Result<f64> {
    let p_ok = p > 0.0 && p < 1.0;
    if !p_ok {
        return Err(Error::config("p", format!("must be in (0, 1), got {p}")));
    }
    validate::positive("df", df)?;
    if p == 0.5 {
        return Ok(0.0);
    }
    let (pl, sign) = if p < 0.5 { (p, -1.0) } else { (1.0 - p, 1.0) };
    let s = if df == 1.0 {
        1.0 / (PI * pl).tan()
    } else if df == 2.0 {
        (1.0 - 2.0 * pl) / (2.0 * pl * (1.0 - pl)).sqrt()
    } else {
        t_upper_quantile(pl, df)
    };
    Ok(sign * s)
}

// ---------------------------------------------------------------- intervals

/// Which side of zero an interval lies on; what a summary may claim.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Direction {
    /// The whole interval is above zero (`lo > 0`).
    Above,
    /// The whole interval is below zero (`hi < 0`).
    Below,
    /// The interval contains zero (or touches it): no direction is supported.
    Unclear,
}

/// A confidence interval `[lo, hi]` at `level` around `estimate`, from `n`
/// values.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Interval {
    /// Number of values (seeds) behind the interval.
    pub n: usize,
    /// The point estimate (the sample mean).
    pub estimate: f64,
    /// Lower end.
    pub lo: f64,
    /// Upper end.
    pub hi: f64,
    /// Confidence level in `(0, 1)`, e.g. 0.95.
    pub level: f64,
}

impl Interval {
    /// `true` when `v` lies strictly outside `[lo, hi]`: the data are
    /// inconsistent with `v` at this level. A NaN `v` is never excluded.
    pub fn excludes(&self, v: f64) -> bool {
        v < self.lo || v > self.hi
    }

    /// Half the interval's width: the "±" of `estimate ± half_width`.
    pub fn half_width(&self) -> f64 {
        0.5 * (self.hi - self.lo)
    }

    /// Which side of zero the interval lies on, so a finding is stated only
    /// when the interval supports its sign.
    pub fn direction(&self) -> Direction {
        if self.lo > 0.0 {
            Direction::Above
        } else if self.hi < 0.0 {
            Direction::Below
        } else {
            Direction::Unclear
        }
    }
}

/// `Err` naming the first non-finite value of `x`.
fn check_finite(x: &[f64], what: &str) -> Result<()> {
    match x.iter().enumerate().find(|(_, v)| !v.is_finite()) {
        Some((i, v)) => Err(Error::InvalidData(format!(
            "{what}: value {i} is {v}, not finite"
        ))),
        None => Ok(()),
    }
}

/// `Err` unless `level` is in the open interval `(0, 1)`.
fn check_level(level: f64) -> Result<()> {
    if level > 0.0 && level < 1.0 {
        Ok(())
    } else {
        Err(Error::config(
            "level",
            format!("must be in (0, 1), got {level}"),
        ))
    }
}

/// Mean and sample sd of `x`, after the checks every interval needs.
fn checked_summary(x: &[f64], what: &str) -> Result<(f64, f64)> {
    if x.len() < 2 {
        return Err(Error::InvalidData(format!(
            "{what}: an interval needs at least 2 values, got {}",
            x.len()
        )));
    }
    check_finite(x, what)?;
    match (mean(x), sample_sd(x)) {
        (Some(m), Some(sd)) if m.is_finite() && sd.is_finite() => Ok((m, sd)),
        _ => Err(Error::InvalidData(format!(
            "{what}: the mean or spread of the values overflows f64"
        ))),
    }
}

/// `mean ± t · sd/√n` with the two-sided critical value for `level`.
fn interval_from(n: usize, m: f64, sd: f64, level: f64) -> Result<Interval> {
    // The upper critical value as minus the lower one: (1 − level)/2 does
    // not round to 0 the way (1 + level)/2 can round to 1.
    let alpha = 0.5 * (1.0 - level);
    let q = -student_t_quantile(alpha, (n - 1) as f64)?;
    let half = if sd == 0.0 {
        0.0
    } else {
        q * sd / (n as f64).sqrt()
    };
    Ok(Interval {
        n,
        estimate: m,
        lo: m - half,
        hi: m + half,
        level,
    })
}

/// Student-t confidence interval for the mean of `x` (e.g. a metric over
/// seeds): `mean ± t_{(1+level)/2, n−1} · sd/√n`.
///
/// The t critical value, not the normal one, because with 3–10 seeds the
/// difference is large (12.7 vs 1.96 at n = 2). If all values are equal
/// (`sd = 0`) the interval is `[mean, mean]`. Never panics and never returns
/// NaN.
///
/// # Errors
///
/// [`Error::InvalidData`] for fewer than 2 values, any non-finite value, or
/// values whose mean or spread overflows; [`Error::Config`] (field
/// `"level"`) when `level` is not in `(0, 1)`.
pub fn mean_interval(x: &[f64], level: f64) -> Result<Interval> {
    check_level(level)?;
    let (m, sd) = checked_summary(x, "mean interval")?;
    interval_from(x.len(), m, sd, level)
}

/// A paired t-test: the interval of the mean difference, its t statistic
/// and two-sided p-value.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PairedTest {
    /// Interval of the mean of `a_i − b_i`.
    pub diff: Interval,
    /// `mean(d) / (sd(d)/√n)`.
    pub t: f64,
    /// Two-sided p-value, `2 · P(T > |t|)` with `n − 1` degrees of freedom.
    pub p_value: f64,
}

/// Paired t-test of `a` against `b` (the same seeds under two settings, e.g.
/// autoencoder loss and PCA loss per seed) on `d_i = a_i − b_i`.
///
/// Pairing removes the seed-to-seed variation the two settings share, which
/// two independent intervals would count twice. `diff` is
/// [`mean_interval`] of `d`; `p_value = 2 · (1 − cdf(|t|))`, computed as
/// `2 · cdf(−|t|)` so small p-values keep their digits.
///
/// When all differences are equal (`sd = 0`): if they are all 0 then
/// `t = 0` and `p = 1` (no evidence of a difference); otherwise
/// `t = ±inf` (the sign of the difference) and `p = 0`.
///
/// # Errors
///
/// [`Error::InvalidData`] when `a` and `b` differ in length, have fewer than
/// 2 pairs, contain a non-finite value, or their differences overflow;
/// [`Error::Config`] (field `"level"`) when `level` is not in `(0, 1)`.
pub fn paired_t(a: &[f64], b: &[f64], level: f64) -> Result<PairedTest> {
    check_level(level)?;
    if a.len() != b.len() {
        return Err(Error::InvalidData(format!(
            "paired t-test: samples differ in length ({} vs {})",
            a.len(),
            b.len()
        )));
    }
    check_finite(a, "paired t-test, sample a")?;
    check_finite(b, "paired t-test, sample b")?;
    let d: Vec<f64> = a.iter().zip(b).map(|(x, y)| x - y).collect();
    t_test_of(&d, level, "paired t-test, differences a - b")
}

/// The t-test of `mean(d) = 0` behind [`paired_t`], [`differences_t`] and
/// [`paired_log_ratio`]; `level` is already checked.
fn t_test_of(d: &[f64], level: f64, what: &str) -> Result<PairedTest> {
    let (m, sd) = checked_summary(d, what)?;
    let n = d.len();
    let diff = interval_from(n, m, sd, level)?;
    let se = sd / (n as f64).sqrt();
    let (t, p_value) = if se == 0.0 {
        if m == 0.0 {
            (0.0, 1.0)
        } else {
            (f64::INFINITY.copysign(m), 0.0)
        }
    } else {
        let t = m / se;
        let p = 2.0 * student_t_cdf(-t.abs(), (n - 1) as f64);
        (t, p.min(1.0))
    };
    Ok(PairedTest { diff, t, p_value })
}

/// A t-test of `mean(d) = 0` on differences that are already paired (for
/// example per-seed log-ratios): [`mean_interval`] of `d`, its t statistic
/// and two-sided p-value, by the same rules as [`paired_t`], including its
/// treatment of equal differences.
///
/// # Errors
///
/// [`Error::InvalidData`] for fewer than 2 values, a non-finite value, or a
/// mean or spread that overflows; [`Error::Config`] (field `"level"`) when
/// `level` is not in `(0, 1)`.
pub fn differences_t(d: &[f64], level: f64) -> Result<PairedTest> {
    check_level(level)?;
    t_test_of(d, level, "t-test of differences")
}

// ---------------------------------------------------------------- log-ratios

/// Per-pair log-ratios `ln(a_i / b_i)`.
///
/// A relative effect is averaged on the log scale because ratios compose
/// by multiplication: the mean of `a_i / b_i − 1` is pulled up by large
/// ratios and is not the inverse of the effect of `b` against `a`, while
/// the mean log-ratio is antisymmetric and its exponential is the geometric
/// mean of the ratios. The ratio is formed first, so a ratio near 1 keeps
/// its digits; when it overflows or underflows the logarithms are
/// subtracted instead.
///
/// # Errors
///
/// [`Error::InvalidData`] when the samples differ in length or hold a value
/// that is not positive and finite (a log-ratio needs both sides above 0).
pub fn log_ratios(a: &[f64], b: &[f64]) -> Result<Vec<f64>> {
    if a.len() != b.len() {
        return Err(Error::InvalidData(format!(
            "log-ratios: samples differ in length ({} vs {})",
            a.len(),
            b.len()
        )));
    }
    for (what, x) in [("a", a), ("b", b)] {
        if let Some((i, v)) = x
            .iter()
            .enumerate()
            .find(|(_, v)| !(v.is_finite() && **v > 0.0))
        {
            return Err(Error::InvalidData(format!(
                "log-ratios, sample {what}: value {i} is {v}, not positive and finite"
            )));
        }
    }
    Ok(a.iter()
        .zip(b)
        .map(|(&x, &y)| {
            let r = x / y;
            if r.is_finite() && r > 0.0 {
                r.ln()
            } else {
                x.ln() - y.ln()
            }
        })
        .collect())
}

/// The paired log-ratio effect of `a` against `b`: the t-test of the mean of
/// the per-pair `ln(a_i / b_i)` ([`log_ratios`], [`differences_t`]). Its
/// interval is on the log scale; [`Interval::geometric_percent`] states it
/// as a geometric-mean percentage.
///
/// # Errors
///
/// As [`log_ratios`] and [`differences_t`].
pub fn paired_log_ratio(a: &[f64], b: &[f64], level: f64) -> Result<PairedTest> {
    check_level(level)?;
    let d = log_ratios(a, b)?;
    t_test_of(&d, level, "paired log-ratio test")
}

/// A mean log-ratio `x` as a geometric-mean percentage, `100 · (eˣ − 1)`:
/// `+10` means the geometric mean of the ratios is 1.10.
pub fn geometric_percent(log_ratio: f64) -> f64 {
    100.0 * log_ratio.exp_m1()
}

impl Interval {
    /// A log-ratio interval as geometric-mean percentages: each of
    /// `estimate`, `lo` and `hi` through [`geometric_percent`]. The map is
    /// increasing and keeps the sign, so the ends stay ordered and
    /// [`Interval::direction`] is unchanged.
    pub fn geometric_percent(&self) -> Interval {
        Interval {
            estimate: geometric_percent(self.estimate),
            lo: geometric_percent(self.lo),
            hi: geometric_percent(self.hi),
            ..*self
        }
    }
}

// ---------------------------------------------------------------- multiplicity

/// Holm's step-down adjusted p-values, in the order given.
///
/// A study that states a direction at each of several latent sizes makes
/// several claims, and at 5% each, some of them are wrong by chance far
/// more often than 5% of the time. Holm's procedure keeps the chance of any
/// wrong claim among them at the level without assuming the tests are
/// independent: with the `m` p-values sorted, `p_(1) <= … <= p_(m)`, the
/// `j`-th (from 1) is adjusted to `max over i <= j of min(1, (m − i + 1) ·
/// p_(i))`. A claim is made where the adjusted value is below the level.
/// Tied p-values get the same adjusted value. An empty family gives an
/// empty result.
///
/// # Errors
///
/// [`Error::InvalidData`] for a p-value that is NaN or outside `[0, 1]`.
pub fn holm(p: &[f64]) -> Result<Vec<f64>> {
    if let Some((i, v)) = p
        .iter()
        .enumerate()
        .find(|(_, v)| !(0.0..=1.0).contains(*v))
    {
        return Err(Error::InvalidData(format!(
            "Holm correction: p-value {i} is {v}, not in [0, 1]"
        )));
    }
    let m = p.len();
    let mut order: Vec<usize> = (0..m).collect();
    order.sort_by(|&i, &j| p[i].total_cmp(&p[j]).then(i.cmp(&j)));
    let mut adjusted = vec![0.0; m];
    let mut running = 0.0_f64;
    for (rank, &i) in order.iter().enumerate() {
        running = running.max(((m - rank) as f64 * p[i]).min(1.0));
        adjusted[i] = running;
    }
    Ok(adjusted)
}

// ---------------------------------------------------------------- equivalence

/// An equivalence margin `(lower, upper)` for a mean difference: a true mean
/// strictly inside it is "no difference worth naming".
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Margin {
    /// Lower end (negative for a band around zero).
    pub lower: f64,
    /// Upper end.
    pub upper: f64,
}

impl Margin {
    /// The margin `(lower, upper)`.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] (field `"margin"`) unless both ends are finite and
    /// `lower < upper`.
    pub fn new(lower: f64, upper: f64) -> Result<Margin> {
        let m = Margin { lower, upper };
        m.validate()?;
        Ok(m)
    }

    /// A relative margin of `±fraction` on the log-ratio scale:
    /// `(−ln(1 + f), ln(1 + f))`. For `f = 0.02` that is a geometric-mean
    /// ratio between `1/1.02` and `1.02`, i.e. between −1.96% and +2%:
    /// symmetric in the ratio, so swapping the two sides of a comparison
    /// gives the same band.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] (field `"margin"`) unless `fraction` is positive
    /// and finite.
    pub fn relative(fraction: f64) -> Result<Margin> {
        validate::positive_param("margin", "a relative margin", fraction)?;
        let upper = fraction.ln_1p();
        Margin::new(-upper, upper)
    }

    /// `true` when `x` lies strictly inside the margin.
    pub fn contains(&self, x: f64) -> bool {
        self.lower < x && x < self.upper
    }

    /// `Err` unless both ends are finite and `lower < upper` (the fields are
    /// public, so a margin may not have come from [`Margin::new`]).
    fn validate(&self) -> Result<()> {
        let ok = self.lower.is_finite() && self.upper.is_finite() && self.lower < self.upper;
        if ok {
            Ok(())
        } else {
            Err(Error::config(
                "margin",
                format!(
                    "needs finite ends with lower < upper, got ({}, {})",
                    self.lower, self.upper
                ),
            ))
        }
    }
}

/// The two one-sided t-tests (TOST) of equivalence.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Tost {
    /// The margin tested against.
    pub margin: Margin,
    /// p-value of "the mean is at or below `margin.lower`" (alternative:
    /// above it): `P(T > (m − lower)/se)`.
    pub p_lower: f64,
    /// p-value of "the mean is at or above `margin.upper`" (alternative:
    /// below it): `P(T < (m − upper)/se)`.
    pub p_upper: f64,
}

impl Tost {
    /// The equivalence p-value, `max(p_lower, p_upper)`: equivalence at
    /// level `α` is claimed when it is below `α`, which is exactly when the
    /// `1 − 2α` t interval lies strictly inside the margin.
    pub fn p_value(&self) -> f64 {
        self.p_lower.max(self.p_upper)
    }
}

/// Schuirmann's two one-sided tests of `mean(d)` against `margin`, each a
/// one-sample t-test with `n − 1` degrees of freedom.
///
/// "No detectable difference" only says an interval contains zero, which a
/// wide interval always does; equivalence says the data rule out any
/// difference beyond the margin. When all differences are equal (`sd = 0`)
/// the p-values are their limits: 0 on the side the mean is strictly
/// inside, else 1 (such a sample has no spread to test against, which
/// [`assess_family`] takes into account).
///
/// # Errors
///
/// [`Error::InvalidData`] for fewer than 2 values, a non-finite value, or
/// an overflowing mean or spread; [`Error::Config`] (field `"margin"`) for
/// an invalid margin.
pub fn tost(d: &[f64], margin: Margin) -> Result<Tost> {
    margin.validate()?;
    let (m, sd) = checked_summary(d, "equivalence test")?;
    let n = d.len();
    let se = sd / (n as f64).sqrt();
    let (p_lower, p_upper) = if se == 0.0 {
        (
            if m > margin.lower { 0.0 } else { 1.0 },
            if m < margin.upper { 0.0 } else { 1.0 },
        )
    } else {
        let df = (n - 1) as f64;
        (
            student_t_cdf(-(m - margin.lower) / se, df),
            student_t_cdf((m - margin.upper) / se, df),
        )
    };
    Ok(Tost {
        margin,
        p_lower,
        p_upper,
    })
}

// ---------------------------------------------------------------- sign-flip permutation

/// Up to this many values [`sign_flip_p`] enumerates every sign pattern
/// (`2^(n−1)` sums of `n` terms, about 1e7 additions at 20).
pub const SIGN_FLIP_EXACT_MAX: usize = 20;

/// Random sign patterns [`sign_flip_p`] draws beyond
/// [`SIGN_FLIP_EXACT_MAX`] values.
pub const SIGN_FLIP_RESAMPLES: usize = 100_000;

/// SplitMix64: a few lines of a well-mixed 64-bit generator, so the
/// sampled sign-flip test is reproducible without a dependency.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

/// `Σ ±d_i` in index order, negating where `negate(i)`.
fn signed_sum(d: &[f64], negate: impl Fn(usize) -> bool) -> f64 {
    let mut s = 0.0;
    for (i, &v) in d.iter().enumerate() {
        s += if negate(i) { -v } else { v };
    }
    s
}

/// Two-sided sign-flip permutation p-value of `mean(d) = 0`.
///
/// Under the null hypothesis of a paired comparison the two members of a
/// pair are exchangeable, so each difference is as likely to have either
/// sign. The p-value is the share of sign patterns whose `|Σ ±d_i|` reaches
/// the observed `|Σ d_i|`. It assumes only that symmetry, not normality,
/// so it is a check beside the t interval when a few seeds differ wildly
/// from the rest (a run with dead units, say). Its smallest possible value
/// is `2/2ⁿ` (0.0625 with 5 seeds): few seeds cannot reach 5% this way.
///
/// Up to [`SIGN_FLIP_EXACT_MAX`] values every pattern is enumerated (the
/// first value's sign is fixed, since a pattern and its negation give the
/// same `|Σ|`), and `seed` is unused; beyond, [`SIGN_FLIP_RESAMPLES`]
/// patterns are drawn from a generator seeded with `seed` and the p-value is
/// `(1 + hits)/(1 + draws)`, which is never 0. Sums within `2 n ε Σ|d_i|`
/// of the observed one count as reaching it, so patterns that are equal in
/// exact arithmetic are not split by rounding. All differences zero gives 1.
///
/// # Errors
///
/// [`Error::InvalidData`] for fewer than 2 values, a non-finite value, or
/// values whose absolute sum overflows.
pub fn sign_flip_p(d: &[f64], seed: u64) -> Result<f64> {
    let n = d.len();
    if n < 2 {
        return Err(Error::InvalidData(format!(
            "sign-flip test: needs at least 2 values, got {n}"
        )));
    }
    check_finite(d, "sign-flip test")?;
    let scale: f64 = d.iter().map(|v| v.abs()).sum();
    if !scale.is_finite() {
        return Err(Error::InvalidData(
            "sign-flip test: the sum of the values overflows f64".into(),
        ));
    }
    if scale == 0.0 {
        return Ok(1.0);
    }
    let observed = signed_sum(d, |_| false);
    let threshold = observed.abs() - 2.0 * n as f64 * f64::EPSILON * scale;
    if n <= SIGN_FLIP_EXACT_MAX {
        let patterns: u64 = 1 << (n - 1);
        let hits = (0..patterns)
            .filter(|&mask| {
                signed_sum(d, |i| i > 0 && (mask >> (i - 1)) & 1 == 1).abs() >= threshold
            })
            .count();
        return Ok(hits as f64 / patterns as f64);
    }
    let mut rng = SplitMix64(seed);
    let (mut bits, mut left) = (0_u64, 0_u32);
    let mut hits = 0_usize;
    for _ in 0..SIGN_FLIP_RESAMPLES {
        let mut s = 0.0;
        for &v in d {
            if left == 0 {
                bits = rng.next_u64();
                left = 64;
            }
            s += if bits & 1 == 1 { -v } else { v };
            bits >>= 1;
            left -= 1;
        }
        if s.abs() >= threshold {
            hits += 1;
        }
    }
    Ok((hits + 1) as f64 / (SIGN_FLIP_RESAMPLES + 1) as f64)
}

// ---------------------------------------------------------------- families of comparisons

/// What one paired comparison of a family supports, once the family is
/// corrected for multiplicity ([`assess_family`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// The mean difference is below zero.
    Lower,
    /// The mean difference is above zero.
    Higher,
    /// The mean difference lies within the equivalence margin.
    Equivalent,
    /// None of these is supported: the interval is too wide, or the
    /// differences have no spread to build one on.
    Unclear,
}

/// One comparison of a family, assessed.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Assessed {
    /// The t-test of the mean difference: its interval, t and raw two-sided
    /// p-value.
    pub test: PairedTest,
    /// The equivalence test, when the family has a margin.
    pub tost: Option<Tost>,
    /// The sign-flip permutation p-value ([`sign_flip_p`]), beside the t
    /// test's.
    pub sign_flip_p: f64,
    /// All differences are equal (up to rounding): there is no spread, and
    /// no claim but equivalence of exact zeros is made.
    pub zero_spread: bool,
    /// Holm-adjusted two-sided p-value within the family (1 for a
    /// zero-spread member).
    pub holm_p: f64,
    /// Holm-adjusted equivalence p-value within the family, when it has a
    /// margin.
    pub holm_tost_p: Option<f64>,
    /// What the comparison supports.
    pub outcome: Outcome,
}

/// Whether the values of `d` are all equal up to rounding: `max − min <= 8
/// ε max(1, max|d_i|)`. Equal ratios give log-ratios that differ by the
/// rounding of the ratio, an absolute error of about ε whatever the
/// log-ratio's size, and such differences are no more a sample than exactly
/// equal ones. (For differences in a measure's own units the floor assumes
/// a real spread is far above 1e-15, as it is for losses and epochs.)
fn no_spread(d: &[f64]) -> bool {
    let (lo, hi) = d
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &v| {
            (lo.min(v), hi.max(v))
        });
    let largest = lo.abs().max(hi.abs()).max(1.0);
    hi - lo <= 8.0 * f64::EPSILON * largest
}

/// Assesses a family of paired comparisons, each given by its differences
/// (per-seed log-ratios for relative effects), at `level` (e.g. 0.95, so
/// `α = 0.05`), with an optional equivalence `margin` on the same scale.
///
/// The rule, for each member:
/// - **zero spread** (every seed gave the same difference, up to rounding:
///   `max − min <= 8 ε max(1, max|d_i|)`): no direction is ever claimed, because such seeds say nothing about how a
///   replication would vary, and a zero-width interval would otherwise
///   exclude zero by construction.
///   The member is `Equivalent` only if every difference is exactly 0 and
///   0 lies strictly inside the margin; otherwise `Unclear`. For Holm it
///   enters with p = 1 (and equivalence p = 0 when `Equivalent`, else 1).
/// - otherwise, with Holm's correction ([`holm`]) applied across the family
///   separately to the two-sided t p-values and to the TOST p-values
///   ([`tost`]):
///   - `Equivalent` when the Holm-adjusted TOST p-value is below `α/2`.
///     For a family of one this is exactly "the `level` interval lies
///     strictly inside the margin", so the claim matches the interval
///     shown. It takes precedence over a direction: a difference the margin
///     calls negligible is reported as negligible even when the interval
///     excludes zero.
///   - else `Higher` or `Lower` (the sign of the mean) when the
///     Holm-adjusted two-sided p-value is below `α`;
///   - else `Unclear`.
///
/// The sign-flip p-value is computed for every member (each with its own
/// seed derived from `seed`) and reported, not used in the rule.
///
/// # Errors
///
/// [`Error::InvalidData`] when a member has fewer than 2 differences, a
/// non-finite one, or an overflowing mean or spread; [`Error::Config`] for
/// a `level` outside `(0, 1)` or an invalid margin.
pub fn assess_family<D: AsRef<[f64]>>(
    family: &[D],
    level: f64,
    margin: Option<Margin>,
    seed: u64,
) -> Result<Vec<Assessed>> {
    check_level(level)?;
    if let Some(m) = &margin {
        m.validate()?;
    }
    let alpha = 1.0 - level;
    struct Part {
        test: PairedTest,
        tost: Option<Tost>,
        flip: f64,
        zero_spread: bool,
        zero_equivalent: bool,
    }
    let mut parts = Vec::with_capacity(family.len());
    for (i, d) in family.iter().enumerate() {
        let d = d.as_ref();
        let what = format!("comparison {i} of a family");
        let test = t_test_of(d, level, &what)?;
        let equivalence = margin.map(|m| tost(d, m)).transpose()?;
        let flip = sign_flip_p(d, seed.wrapping_add(i as u64))?;
        let zero_spread = no_spread(d);
        let zero_equivalent =
            zero_spread && d.iter().all(|&v| v == 0.0) && margin.is_some_and(|m| m.contains(0.0));
        parts.push(Part {
            test,
            tost: equivalence,
            flip,
            zero_spread,
            zero_equivalent,
        });
    }
    let p_direction: Vec<f64> = parts
        .iter()
        .map(|p| if p.zero_spread { 1.0 } else { p.test.p_value })
        .collect();
    let holm_direction = holm(&p_direction)?;
    let holm_equivalence = match margin {
        Some(_) => {
            let p: Vec<f64> = parts
                .iter()
                .map(|p| match (p.zero_spread, p.tost) {
                    (true, _) => {
                        if p.zero_equivalent {
                            0.0
                        } else {
                            1.0
                        }
                    }
                    (false, Some(t)) => t.p_value(),
                    (false, None) => 1.0,
                })
                .collect();
            Some(holm(&p)?)
        }
        None => None,
    };
    Ok(parts
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let holm_tost_p = holm_equivalence.as_ref().map(|q| q[i]);
            let outcome = if p.zero_spread {
                if p.zero_equivalent {
                    Outcome::Equivalent
                } else {
                    Outcome::Unclear
                }
            } else if holm_tost_p.is_some_and(|q| q < 0.5 * alpha) {
                Outcome::Equivalent
            } else if holm_direction[i] < alpha {
                if p.test.diff.estimate > 0.0 {
                    Outcome::Higher
                } else {
                    Outcome::Lower
                }
            } else {
                Outcome::Unclear
            };
            Assessed {
                test: p.test,
                tost: p.tost,
                sign_flip_p: p.flip,
                zero_spread: p.zero_spread,
                holm_p: holm_direction[i],
                holm_tost_p,
                outcome,
            }
        })
        .collect())
}

/// [`assess_family`] for a single comparison (no correction).
///
/// # Errors
///
/// As [`assess_family`].
pub fn assess(d: &[f64], level: f64, margin: Option<Margin>, seed: u64) -> Result<Assessed> {
    let mut one = assess_family(&[d], level, margin, seed)?;
    Ok(one.remove(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(got: f64, want: f64, rtol: f64) -> bool {
        got == want || (got - want).abs() <= rtol * want.abs()
    }

    const PS: [f64; 12] = [
        1e-10, 0.001, 0.01, 0.1, 0.25, 0.3, 0.45, 0.5, 0.6, 0.9, 0.975, 0.999,
    ];
    const DFS: [f64; 11] = [0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 4.0, 7.0, 10.0, 30.0, 1000.0];

    #[test]
    fn mean_and_sd() {
        assert_eq!(mean(&[]), None);
        assert_eq!(mean(&[2.0, 4.0]), Some(3.0));
        assert_eq!(sample_sd(&[1.0]), None);
        let x = [2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0];
        assert!(close(
            sample_sd(&x).unwrap(),
            (32.0_f64 / 7.0).sqrt(),
            1e-15
        ));
        // Two passes keep a small spread on a large offset.
        let y = [1e9 + 1.0, 1e9 + 2.0, 1e9 + 3.0];
        assert!(close(sample_sd(&y).unwrap(), 1.0, 1e-12));
        assert_eq!(sample_sd(&[5.0, 5.0, 5.0]), Some(0.0));
    }

    #[test]
    fn ln_gamma_known_values() {
        assert!(ln_gamma(1.0).abs() < 1e-14);
        assert!(ln_gamma(2.0).abs() < 1e-14);
        assert!(close(ln_gamma(0.5), 0.5 * PI.ln(), 1e-14));
        assert!(close(ln_gamma(10.0), 362_880.0_f64.ln(), 1e-14));
        // ln(99!)
        assert!(close(ln_gamma(100.0), 359.134_205_369_575_4, 1e-14));
        assert!(close(ln_gamma(1e-8), -(1e-8_f64).ln(), 1e-8));
        assert!(ln_gamma(0.0).is_nan() && ln_gamma(-1.0).is_nan());
    }

    #[test]
    fn incomplete_beta_closed_forms() {
        for x in [1e-6_f64, 0.01, 0.2, 0.5, 0.7, 0.99, 0.999_999] {
            // I_x(1/2, 1/2) = (2/π) asin √x
            let arcsine = 2.0 / PI * x.sqrt().asin();
            assert!(close(
                regularized_incomplete_beta(0.5, 0.5, x),
                arcsine,
                1e-12
            ));
            // I_x(a, 1) = x^a and I_x(1, b) = 1 − (1 − x)^b
            assert!(close(
                regularized_incomplete_beta(3.5, 1.0, x),
                x.powf(3.5),
                1e-13
            ));
            let want = -(3.5 * (-x).ln_1p()).exp_m1();
            assert!(close(regularized_incomplete_beta(1.0, 3.5, x), want, 1e-13));
        }
        assert_eq!(regularized_incomplete_beta(2.0, 3.0, 0.0), 0.0);
        assert_eq!(regularized_incomplete_beta(2.0, 3.0, 1.0), 1.0);
        assert!(regularized_incomplete_beta(0.0, 3.0, 0.5).is_nan());
    }

    #[test]
    fn cauchy_closed_form() {
        for &p in &[
            0.001, 0.01, 0.1, 0.25, 0.4, 0.5, 0.6, 0.75, 0.9, 0.99, 0.999,
        ] {
            let q = student_t_quantile(p, 1.0).unwrap();
            let want = (PI * (p - 0.5)).tan();
            assert!(
                (q - want).abs() <= 1e-12 * want.abs() + 1e-15,
                "p {p}: {q} vs {want}"
            );
        }
        assert!(close(student_t_cdf(1.0, 1.0), 0.75, 1e-15));
        assert!(close(student_t_cdf(-1e6, 1.0), 1.0 / (PI * 1e6), 1e-10));
    }

    #[test]
    fn df2_closed_form() {
        for &p in &[
            0.001, 0.01, 0.1, 0.25, 0.4, 0.5, 0.6, 0.75, 0.9, 0.99, 0.999,
        ] {
            let q = student_t_quantile(p, 2.0).unwrap();
            let want = (2.0 * p - 1.0) / (2.0 * p * (1.0 - p)).sqrt();
            assert!(
                (q - want).abs() <= 1e-13 * want.abs() + 1e-15,
                "p {p}: {q} vs {want}"
            );
            let cdf = 0.5 + q / (2.0 * (q * q + 2.0).sqrt());
            // (this form of the cdf itself cancels for small p)
            assert!(close(student_t_cdf(q, 2.0), cdf, 1e-11), "p {p}");
        }
    }

    /// The general path just off df = 1 and df = 2 meets the closed forms.
    #[test]
    fn general_path_is_continuous_at_closed_forms() {
        for &df in &[1.0, 2.0] {
            for &p in &[0.001, 0.1, 0.3, 0.7, 0.975] {
                let exact = student_t_quantile(p, df).unwrap();
                for &eps in &[1e-9, -1e-9] {
                    let near = student_t_quantile(p, df + eps).unwrap();
                    assert!(close(near, exact, 1e-6), "df {df}{eps:+e}, p {p}");
                    let c = student_t_cdf(exact, df + eps);
                    assert!(close(c, p, 1e-6), "df {df}{eps:+e}, p {p}: cdf {c}");
                }
            }
        }
    }

    /// `q(1 − p) = −q(p)`, exactly: for `u >= 0.5`, `1 − u` is exact, and
    /// both sides are computed from that same tail probability.
    #[test]
    fn quantile_is_antisymmetric() {
        for &df in &DFS {
            for &p in &PS {
                let u = if p >= 0.5 { p } else { 1.0 - p };
                let q = student_t_quantile(u, df).unwrap();
                let r = student_t_quantile(1.0 - u, df).unwrap();
                assert_eq!(q, -r, "df {df}, p {u}");
                assert!(q >= 0.0, "df {df}, p {u}: {q}");
            }
        }
    }

    #[test]
    fn cdf_inverts_quantile() {
        for &df in &DFS {
            for &p in &PS {
                let q = student_t_quantile(p, df).unwrap();
                assert!(q.is_finite(), "df {df}, p {p}");
                let c = student_t_cdf(q, df);
                assert!(close(c, p, 1e-12), "df {df}, p {p}: q {q}, cdf {c}");
            }
        }
        assert_eq!(student_t_quantile(0.5, 7.0).unwrap(), 0.0);
        // Monotone in p.
        let qs: Vec<f64> = PS
            .iter()
            .map(|&p| student_t_quantile(p, 4.5).unwrap())
            .collect();
        let mut sorted = PS;
        sorted.sort_by(f64::total_cmp);
        assert_eq!(PS, sorted);
        assert!(qs.windows(2).all(|w| w[0] < w[1]), "{qs:?}");
    }

    /// Far tails: quantiles near 1e100, 1e173 and 1e200 still invert, and
    /// one beyond the floats is reported as infinite.
    #[test]
    fn extreme_tails() {
        for (p, df) in [(1e-300, 3.0), (1e-300, 1.5), (1e-9, 0.05)] {
            let q = student_t_quantile(p, df).unwrap();
            assert!(q.is_finite() && q < -1e99, "p {p}, df {df}: {q}");
            let c = student_t_cdf(q, df);
            assert!(close(c, p, 1e-11), "p {p}, df {df}: cdf {c}");
        }
        assert_eq!(student_t_quantile(1e-200, 0.5).unwrap(), f64::NEG_INFINITY);
        assert_eq!(
            student_t_quantile(1.0 - 1e-16, 0.05).unwrap(),
            f64::INFINITY
        );
    }

    #[test]
    fn cdf_edges() {
        assert_eq!(student_t_cdf(0.0, 3.0), 0.5);
        assert_eq!(student_t_cdf(f64::INFINITY, 3.0), 1.0);
        assert_eq!(student_t_cdf(f64::NEG_INFINITY, 3.0), 0.0);
        assert!(student_t_cdf(f64::NAN, 3.0).is_nan());
        assert!(student_t_cdf(1.0, 0.0).is_nan());
        assert!(student_t_cdf(1.0, f64::NAN).is_nan());
        // Huge |t| does not overflow t².
        let c = student_t_cdf(-1e200, 3.0);
        assert!((0.0..1e-300).contains(&c), "{c}");
        assert_eq!(student_t_cdf(1e200, 3.0), 1.0);
    }

    #[test]
    fn quantile_rejects_bad_input() {
        for p in [0.0, 1.0, -0.1, 1.5, f64::NAN, f64::INFINITY] {
            assert!(
                matches!(
                    student_t_quantile(p, 3.0),
                    Err(Error::Config { field: "p", .. })
                ),
                "p {p}"
            );
        }
        for df in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            assert!(
                matches!(
                    student_t_quantile(0.9, df),
                    Err(Error::Config { field: "df", .. })
                ),
                "df {df}"
            );
        }
    }

    #[test]
    fn mean_interval_known_value() {
        // n = 2, level 0.95: t = 12.706204736174698, sd = 1, se = 1/√2.
        let iv = mean_interval(&[1.0, 2.414_213_562_373_095], 0.95).unwrap();
        let x = [1.0, 2.414_213_562_373_095];
        let sd = sample_sd(&x).unwrap();
        let half = 12.706_204_736_174_698 * sd / 2.0_f64.sqrt();
        assert!(close(iv.half_width(), half, 1e-12), "{iv:?}");
        assert_eq!(iv.n, 2);
        assert_eq!(iv.level, 0.95);
        assert!(close(iv.estimate, mean(&x).unwrap(), 1e-15));
    }

    #[test]
    fn mean_interval_degenerate_and_direction() {
        let iv = mean_interval(&[3.0, 3.0, 3.0], 0.9).unwrap();
        assert_eq!((iv.lo, iv.estimate, iv.hi), (3.0, 3.0, 3.0));
        assert_eq!(iv.half_width(), 0.0);
        assert_eq!(iv.direction(), Direction::Above);
        assert!(iv.excludes(2.9) && iv.excludes(3.1) && !iv.excludes(3.0));
        assert!(!iv.excludes(f64::NAN));

        let below = mean_interval(&[-1.0, -1.1, -0.9, -1.05], 0.95).unwrap();
        assert_eq!(below.direction(), Direction::Below);
        assert!(below.excludes(0.0));
        let unclear = mean_interval(&[-1.0, 1.2, 0.1], 0.95).unwrap();
        assert_eq!(unclear.direction(), Direction::Unclear);
        assert!(!unclear.excludes(0.0));
        let zero = mean_interval(&[0.0, 0.0], 0.95).unwrap();
        assert_eq!(zero.direction(), Direction::Unclear);
    }

    #[test]
    fn mean_interval_rejects_bad_input() {
        let bad_data: [&[f64]; 5] = [
            &[],
            &[1.0],
            &[1.0, f64::NAN],
            &[f64::INFINITY, 1.0, 2.0],
            &[f64::MAX, -f64::MAX, f64::MAX],
        ];
        for x in bad_data {
            assert!(
                matches!(mean_interval(x, 0.95), Err(Error::InvalidData(_))),
                "{x:?}"
            );
        }
        for level in [0.0, 1.0, -0.5, 1.5, f64::NAN] {
            assert!(
                matches!(
                    mean_interval(&[1.0, 2.0], level),
                    Err(Error::Config { field: "level", .. })
                ),
                "level {level}"
            );
        }
        // A level just below 1 still gives a finite interval.
        let iv = mean_interval(&[1.0, 2.0, 4.0], 1.0 - f64::EPSILON).unwrap();
        assert!(
            iv.lo.is_finite() && iv.hi.is_finite() && iv.lo < iv.hi,
            "{iv:?}"
        );
    }

    #[test]
    fn paired_t_degenerate_cases() {
        let a = [1.0, 2.0, 3.0];
        let same = paired_t(&a, &a, 0.95).unwrap();
        assert_eq!((same.t, same.p_value), (0.0, 1.0));
        assert_eq!(same.diff.direction(), Direction::Unclear);

        let b = [0.5, 1.5, 2.5];
        let shifted = paired_t(&a, &b, 0.95).unwrap();
        assert_eq!((shifted.t, shifted.p_value), (f64::INFINITY, 0.0));
        assert_eq!(shifted.diff.direction(), Direction::Above);
        let back = paired_t(&b, &a, 0.95).unwrap();
        assert_eq!((back.t, back.p_value), (f64::NEG_INFINITY, 0.0));
        assert_eq!(back.diff.direction(), Direction::Below);
    }

    #[test]
    fn paired_t_matches_its_definition() {
        let a = [1.2, 0.8, 1.9, 1.4, 1.1];
        let b = [1.0, 0.9, 1.5, 1.0, 0.7];
        let test = paired_t(&a, &b, 0.95).unwrap();
        let d: Vec<f64> = a.iter().zip(&b).map(|(x, y)| x - y).collect();
        assert_eq!(test.diff, mean_interval(&d, 0.95).unwrap());
        let t = mean(&d).unwrap() / (sample_sd(&d).unwrap() / 5.0_f64.sqrt());
        assert!(close(test.t, t, 1e-14));
        let p = 2.0 * (1.0 - student_t_cdf(t.abs(), 4.0));
        assert!(close(test.p_value, p, 1e-12));
        assert!(test.p_value > 0.0 && test.p_value < 1.0);
    }

    #[test]
    fn paired_t_rejects_bad_input() {
        let cases: [(&[f64], &[f64]); 5] = [
            (&[1.0, 2.0], &[1.0]),
            (&[1.0], &[2.0]),
            (&[], &[]),
            (&[1.0, f64::NAN], &[1.0, 2.0]),
            (&[1.0, 2.0], &[f64::NEG_INFINITY, 2.0]),
        ];
        for (a, b) in cases {
            assert!(
                matches!(paired_t(a, b, 0.95), Err(Error::InvalidData(_))),
                "{a:?} vs {b:?}"
            );
        }
        assert!(matches!(
            paired_t(&[1.0, 2.0], &[0.0, 0.5], 1.0),
            Err(Error::Config { field: "level", .. })
        ));
    }
}
