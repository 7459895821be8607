#!/usr/bin/env python3
"""Generate scipy reference values for tests/stats.rs (src/stats.rs).

Usage:  pip install scipy numpy
        python3 scripts/stats_reference.py [OUT]   (default tests/fixtures/stats/reference.json)

The study summaries state a finding only when a Student-t interval over seeds
supports it, so the t quantile, the t cdf, the mean interval and the paired
t-test are checked against an independent implementation; so are the verdict's
paired log-ratios, Holm's correction, the equivalence (TOST) test, the
sign-flip permutation test and the rule that turns a family of them into
outcomes. Writes one JSON file with these sections:

  t_quantiles     {p, df, q}: scipy.stats.t.ppf(p, df)
  t_cdf           {t, df, cdf}: scipy.stats.t.cdf(t, df)
  mean_intervals  {x, level, mean, lo, hi}: scipy.stats.t.interval(level, n - 1,
                  loc=mean, scale=sem) for six small samples (n = 2, 3, 5, 5,
                  10, 20) at levels 0.9, 0.95, 0.99
  paired          {a, b, level, t, p_value, lo, hi}: scipy.stats.ttest_rel(a, b)
                  and the 0.95 t interval of the differences a - b, for four
                  pairs (n = 3, 5, 8, 12)
  log_ratios      {a, b, level, d, mean, lo, hi, t, p_value, pct, pct_lo, pct_hi}:
                  d = ln(a / b) per pair, scipy.stats.ttest_1samp(d, 0) and the t
                  interval of d; pct* = 100 (exp(x) - 1) of mean, lo, hi (the
                  geometric-mean percentage)
  holm            {p, adjusted}: Holm's step-down adjusted p-values, written out
                  below (independent of the Rust code, checked against a second
                  formulation here)
  tost            {d, lower, upper, p_lower, p_upper, p, lo, hi}: two one-sided
                  tests, scipy.stats.ttest_1samp(d, lower, alternative="greater")
                  and ttest_1samp(d, upper, alternative="less"); p = max of the two;
                  lo, hi the 0.95 t interval of d
  sign_flip       {d, p}: scipy.stats.permutation_test((d,), mean,
                  permutation_type="samples", n_resamples=inf) (every sign
                  pattern), checked against exact rational arithmetic on the
                  decimals as written
  sign_flip_large {d, p}: integer differences too many to enumerate in Rust
                  (n = 24); p exact from the distribution of the signed sums
  families        {members, margin, level, holm_p, holm_tost_p, outcomes}: the
                  outcome rule of tiedae::stats::assess_family restated here:
                  Holm over the two-sided t p-values and, with a relative margin
                  f, over the TOST p-values against (-ln(1 + f), ln(1 + f));
                  "equivalent" when the adjusted TOST p < alpha / 2, else "higher"
                  / "lower" when the adjusted two-sided p < alpha, else "unclear";
                  a member whose differences are all equal (up to rounding:
                  max - min <= 8 eps max(1, max|d|)) is "equivalent" if
                  they are all 0 and 0 is inside the margin, else "unclear", and
                  enters Holm with p = 1 (TOST p = 0 when equivalent, else 1)
  versions        scipy, numpy

The samples are written out below (the n = 20 one was drawn once from
numpy.random.default_rng(20261201) and is stored, so the fixture does not
depend on numpy's generator). Floats are written with Python's repr, the
shortest string that round-trips, so nothing is lost.
"""
import json
import math
import os
import sys
from fractions import Fraction
from itertools import product

import numpy as np
import scipy
from scipy import stats

PS = [0.5, 0.6, 0.75, 0.9, 0.95, 0.975, 0.99, 0.995, 0.9995, 0.025, 0.001]
DFS = [1, 2, 2.5, 3, 4, 5, 7, 9, 10, 19, 29, 30, 50, 100, 1000]
TS = [-10, -3, -1.5, -0.2, 0, 0.7, 2.0, 4.5, 30]
LEVELS = [0.9, 0.95, 0.99]

# numpy.random.default_rng(20261201).normal(0.25, 1.0, 20), stored.
NORMAL20 = [
    -0.11516943817182174, 0.5760409740305237, 0.3477009441866627,
    -1.8903561021418418, -2.1552993912127842, 1.0446707348383182,
    0.7731245897199776, -1.6349262579095956, -0.5267447729749218,
    0.2388099027949451, -0.7302159599311027, 3.052035618158797,
    0.4617075920284704, 0.9022128764120394, 0.3144332154354219,
    -0.32611974944384314, 0.09966239451470613, -0.14470004159829924,
    0.7084386662237667, -0.30483848381613887,
]

SAMPLES = [
    [1.0, 3.5],
    [-0.4, 0.1, -1.3],
    [2.1, 2.4, 1.9, 2.8, 2.2],
    [-3.0, 1.5, -0.25, 4.0, -2.75],
    [0.012, 0.015, 0.011, 0.019, 0.013, 0.016, 0.010, 0.014, 0.018, 0.012],
    NORMAL20,
]

# (a, b): e.g. a metric per seed under two settings.
PAIRS = [
    ([0.81, 0.77, 0.84], [0.79, 0.78, 0.80]),
    ([1.20, 0.95, 1.41, 1.10, 1.33], [1.02, 0.97, 1.18, 0.99, 1.21]),
    ([0.031, 0.029, 0.035, 0.030, 0.033, 0.028, 0.034, 0.032],
     [0.036, 0.033, 0.037, 0.035, 0.034, 0.033, 0.039, 0.036]),
    ([5.2, -1.3, 0.4, 2.2, -0.7, 3.1, 1.0, -2.4, 0.9, 1.7, -0.2, 2.6],
     [4.9, -0.8, 0.9, 1.5, -0.1, 2.8, 1.6, -2.9, 1.3, 1.1, 0.3, 2.2]),
]


# (a, b) of positive values, e.g. test MSE per seed of tied and untied.
LOG_PAIRS = [
    # a planted +10% with a little seed noise
    ([0.0231, 0.0219, 0.0244, 0.0226, 0.0238], [0.0210, 0.0199, 0.0222, 0.0206, 0.0216]),
    # near-equal: within a few tenths of a percent
    ([0.5012, 0.4987, 0.5031, 0.4995, 0.5008, 0.5021, 0.4979, 0.5003, 0.5016, 0.4991],
     [0.5000, 0.5001, 0.5010, 0.5004, 0.4999, 0.5012, 0.4990, 0.5000, 0.5009, 0.4998]),
    # one seed far off (a run with half its units dead), the rest within 1%
    ([0.0112, 0.0073, 0.0101, 0.0099, 0.0100], [0.0111, 0.0100, 0.0100, 0.0100, 0.0101]),
    ([3.0, 4.5], [2.5, 4.4]),
    ([1.1e-3, 0.9e-3, 1.3e-3, 1.0e-3, 1.2e-3, 0.95e-3, 1.05e-3, 1.15e-3],
     [1.4e-3, 1.2e-3, 1.5e-3, 1.3e-3, 1.6e-3, 1.25e-3, 1.3e-3, 1.45e-3]),
]

HOLM_CASES = [
    [0.01, 0.04, 0.03, 0.005],
    [0.2, 0.2, 0.01],
    [0.5, 0.001, 0.9, 0.04, 0.04, 0.3],
    [1.0, 0.0],
    [0.03],
    [0.6, 0.3],
    [0.064, 0.012, 0.2, 0.0007, 0.049],
    [],
]

LN102 = math.log1p(0.02)

# (d, lower, upper): differences on the log scale against a margin.
TOST_CASES = [
    ([0.004, -0.003, 0.006, 0.001, -0.002, 0.003], -LN102, LN102),
    ([0.05, -0.08, 0.11, -0.02, 0.01], -LN102, LN102),
    ([0.014, 0.016, 0.015, 0.013, 0.017, 0.015, 0.014], -LN102, LN102),
    ([0.029, 0.031, 0.030, 0.028, 0.032], -LN102, LN102),
    ([-0.012, -0.008, -0.011, -0.009], -0.05, 0.01),
    ([0.0, 0.001], -LN102, LN102),
]

SIGN_FLIP_CASES = [
    [0.02, -0.01],
    [0.3, 0.1, 0.2],
    [1.0, 2.0, 3.0, -6.0],
    [0.0953, 0.0921, 0.0987, 0.0915, 0.0962],
    [-0.0101, -0.3151, 0.0090, 0.0010, -0.0010],
    [0.05, -0.08, 0.11, -0.02, 0.01, 0.0, 0.04],
    [1.5, -0.5, 0.25, 2.0, -1.0, 0.75, 0.5, -0.25, 1.25, 0.125, -0.75, 1.0],
    [0.012, 0.015, 0.011, 0.019, 0.013, 0.016, 0.010, 0.014, 0.018, 0.012],
]

# Integers, so the exact distribution of the signed sum is a short
# dynamic programme; 24 values is beyond the Rust code's exact enumeration.
SIGN_FLIP_LARGE = [[3, -1, 4, 1, -5, 9, 2, -6, 5, 3, -5, 8, 9, -7, 9, 3, 2, -3, 8, 4, -6, 2, 6, 4]]

FAMILIES = [
    # one question at six latent sizes, relative effects (log-ratios)
    {"margin": 0.02, "members": [
        [0.0953, 0.0921, 0.0987, 0.0915, 0.0962],
        [0.004, -0.003, 0.006, 0.001, -0.002, 0.003],
        [0.05, -0.08, 0.11, -0.02, 0.01],
        [0.0, 0.0, 0.0, 0.0, 0.0],
        [0.05, 0.05, 0.05],
        [-0.0101, -0.3151, 0.0090, 0.0010, -0.0010],
    ]},
    # three sizes each nominally significant, not all after Holm
    {"margin": 0.02, "members": [
        [0.06, 0.01, 0.09, 0.04, 0.03],
        [0.05, 0.00, 0.08, 0.06, 0.02],
        [0.10, 0.30, 0.02, 0.12, 0.25],
    ]},
    # differences in units (epochs), no margin
    {"margin": None, "members": [
        [-50.0, 30.0, 10.0, -20.0, 5.0],
        [100.0, 120.0, 90.0, 110.0, 105.0],
        [3.0, 3.0, 3.0],
        [0.0, 0.0],
    ]},
]


def holm(p):
    """Holm's adjusted p-values: hypothesis at rank r (from 1, ascending p,
    ties by position) gets max over ranks j <= r of min(1, (m - j + 1) p_(j))."""
    m = len(p)
    order = sorted(range(m), key=lambda i: (p[i], i))
    rank = {i: r for r, i in enumerate(order, start=1)}
    return [max(min(1.0, (m - rank[j] + 1) * p[j]) for j in range(m) if rank[j] <= rank[i])
            for i in range(m)]


def holm_step_down(p):
    """The same by the usual running maximum, as a check on `holm`."""
    m = len(p)
    out = [0.0] * m
    running = 0.0
    for r, i in enumerate(sorted(range(m), key=lambda i: (p[i], i))):
        running = max(running, min(1.0, (m - r) * p[i]))
        out[i] = running
    return out


def sign_flip_exact(d):
    """Share of sign patterns with |sum| >= |observed sum|, in exact rational
    arithmetic on the decimal values as written (their shortest repr), so
    patterns whose sums tie in decimals tie here too."""
    q = [Fraction(repr(v)) for v in d]
    obs = abs(sum(q))
    hits = sum(1 for signs in product((1, -1), repeat=len(q))
               if abs(sum(s * v for s, v in zip(signs, q))) >= obs)
    return hits / 2 ** len(q)


def sign_flip_scipy(d):
    res = stats.permutation_test((np.asarray(d, dtype=np.float64),),
                                 lambda x, axis: np.mean(x, axis=axis),
                                 permutation_type="samples", n_resamples=np.inf,
                                 alternative="two-sided", vectorized=True)
    return float(res.pvalue)


def sign_flip_integers(d):
    counts = {0: 1}
    for v in d:
        nxt = {}
        for s, c in counts.items():
            for t in (s + v, s - v):
                nxt[t] = nxt.get(t, 0) + c
        counts = nxt
    obs = abs(sum(d))
    return sum(c for s, c in counts.items() if abs(s) >= obs) / 2 ** len(d)


def tost(d, lower, upper):
    p_lower = float(stats.ttest_1samp(d, lower, alternative="greater").pvalue)
    p_upper = float(stats.ttest_1samp(d, upper, alternative="less").pvalue)
    return p_lower, p_upper


def assess_family(members, margin, level):
    alpha = 1.0 - level
    # equal up to rounding: max - min <= 8 eps max(1, max|d|)
    zero_spread = [max(d) - min(d) <= 8 * sys.float_info.epsilon * max(1.0, *(abs(v) for v in d))
                   for d in members]
    contains0 = margin is not None
    zero_eq = [z and all(v == 0.0 for v in d) and contains0
               for z, d in zip(zero_spread, members)]
    p_dir = [1.0 if z else float(stats.ttest_1samp(d, 0.0).pvalue)
             for z, d in zip(zero_spread, members)]
    holm_dir = holm(p_dir)
    holm_eq = None
    if margin is not None:
        lo, hi = -math.log1p(margin), math.log1p(margin)
        p_eq = [(0.0 if e else 1.0) if z else max(tost(d, lo, hi))
                for z, e, d in zip(zero_spread, zero_eq, members)]
        holm_eq = holm(p_eq)
    outcomes = []
    for i, d in enumerate(members):
        if zero_spread[i]:
            outcomes.append("equivalent" if zero_eq[i] else "unclear")
        elif holm_eq is not None and holm_eq[i] < alpha / 2:
            outcomes.append("equivalent")
        elif holm_dir[i] < alpha:
            outcomes.append("higher" if np.mean(d) > 0 else "lower")
        else:
            outcomes.append("unclear")
    return holm_dir, holm_eq, outcomes


def t_interval(x, level):
    x = np.asarray(x, dtype=np.float64)
    n = len(x)
    m = float(np.mean(x))
    lo, hi = stats.t.interval(level, n - 1, loc=m, scale=stats.sem(x))
    return m, float(lo), float(hi)


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        "tests", "fixtures", "stats", "reference.json")

    # The stored sample really is the documented draw.
    drawn = np.random.default_rng(20261201).normal(0.25, 1.0, 20)
    assert [float(v) for v in drawn] == NORMAL20, "NORMAL20 is not the documented draw"

    t_quantiles = [{"p": p, "df": df, "q": float(stats.t.ppf(p, df))}
                   for df in DFS for p in PS]
    t_cdf = [{"t": float(t), "df": df, "cdf": float(stats.t.cdf(t, df))}
             for df in DFS for t in TS]

    mean_intervals = []
    for x in SAMPLES:
        for level in LEVELS:
            m, lo, hi = t_interval(x, level)
            mean_intervals.append({"x": x, "level": level, "mean": m, "lo": lo, "hi": hi})

    paired = []
    for a, b in PAIRS:
        assert len(a) == len(b)
        res = stats.ttest_rel(a, b)
        d = np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)
        _, lo, hi = t_interval(d, 0.95)
        paired.append({"a": a, "b": b, "level": 0.95, "t": float(res.statistic),
                       "p_value": float(res.pvalue), "lo": lo, "hi": hi})

    log_ratios = []
    for a, b in LOG_PAIRS:
        assert len(a) == len(b)
        d = [float(v) for v in np.log(np.asarray(a) / np.asarray(b))]
        res = stats.ttest_1samp(d, 0.0)
        m, lo, hi = t_interval(d, 0.95)
        pct = [float(100.0 * np.expm1(v)) for v in (m, lo, hi)]
        log_ratios.append({"a": a, "b": b, "level": 0.95, "d": d, "mean": m, "lo": lo,
                           "hi": hi, "t": float(res.statistic),
                           "p_value": float(res.pvalue), "pct": pct[0],
                           "pct_lo": pct[1], "pct_hi": pct[2]})

    holm_cases = []
    for p in HOLM_CASES:
        adjusted = holm(p)
        assert adjusted == holm_step_down(p), p
        holm_cases.append({"p": p, "adjusted": adjusted})

    tost_cases = []
    for d, lower, upper in TOST_CASES:
        p_lower, p_upper = tost(d, lower, upper)
        _, lo, hi = t_interval(d, 0.95)
        tost_cases.append({"d": d, "lower": lower, "upper": upper, "p_lower": p_lower,
                           "p_upper": p_upper, "p": max(p_lower, p_upper),
                           "lo": lo, "hi": hi})

    sign_flip = []
    for d in SIGN_FLIP_CASES:
        p = sign_flip_scipy(d)
        exact = sign_flip_exact(d)
        assert abs(p - exact) < 1e-12, (d, p, exact)
        sign_flip.append({"d": d, "p": exact})

    sign_flip_large = [{"d": [float(v) for v in d], "p": sign_flip_integers(d)}
                       for d in SIGN_FLIP_LARGE]

    families = []
    for fam in FAMILIES:
        holm_dir, holm_eq, outcomes = assess_family(fam["members"], fam["margin"], 0.95)
        families.append({"members": fam["members"], "margin": fam["margin"],
                         "level": 0.95, "holm_p": holm_dir, "holm_tost_p": holm_eq,
                         "outcomes": outcomes})

    doc = {
        "generator": "scripts/stats_reference.py",
        "versions": {"scipy": scipy.__version__, "numpy": np.__version__},
        "t_quantiles": t_quantiles,
        "t_cdf": t_cdf,
        "mean_intervals": mean_intervals,
        "paired": paired,
        "log_ratios": log_ratios,
        "holm": holm_cases,
        "tost": tost_cases,
        "sign_flip": sign_flip,
        "sign_flip_large": sign_flip_large,
        "families": families,
    }
    os.makedirs(os.path.dirname(out) or ".", exist_ok=True)
    with open(out, "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")
    print(f"wrote {out}: {len(t_quantiles)} quantiles, {len(t_cdf)} cdf values, "
          f"{len(mean_intervals)} intervals, {len(paired)} paired tests, "
          f"{len(log_ratios)} log-ratio tests, {len(holm_cases)} Holm families, "
          f"{len(tost_cases)} equivalence tests, "
          f"{len(sign_flip) + len(sign_flip_large)} sign-flip tests, "
          f"{len(families)} assessed families")


if __name__ == "__main__":
    main()
