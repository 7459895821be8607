#!/usr/bin/env python3
"""Generate scipy reference values for tests/stats.rs (src/stats.rs).

Usage:  pip install scipy numpy
        python3 scripts/stats_reference.py [OUT]   (default tests/fixtures/stats/reference.json)

The study summaries state a finding only when a Student-t interval over seeds
supports it, so the t quantile, the t cdf, the mean interval and the paired
t-test are checked against an independent implementation. Writes one JSON
file with these sections:

  t_quantiles     {p, df, q}: scipy.stats.t.ppf(p, df)
  t_cdf           {t, df, cdf}: scipy.stats.t.cdf(t, df)
  mean_intervals  {x, level, mean, lo, hi}: scipy.stats.t.interval(level, n - 1,
                  loc=mean, scale=sem) for six small samples (n = 2, 3, 5, 5,
                  10, 20) at levels 0.9, 0.95, 0.99
  paired          {a, b, level, t, p_value, lo, hi}: scipy.stats.ttest_rel(a, b)
                  and the 0.95 t interval of the differences a - b, for four
                  pairs (n = 3, 5, 8, 12)
  versions        scipy, numpy

The samples are written out below (the n = 20 one was drawn once from
numpy.random.default_rng(20261201) and is stored, so the fixture does not
depend on numpy's generator). Floats are written with Python's repr, the
shortest string that round-trips, so nothing is lost.
"""
import json
import os
import sys

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

    doc = {
        "generator": "scripts/stats_reference.py",
        "versions": {"scipy": scipy.__version__, "numpy": np.__version__},
        "t_quantiles": t_quantiles,
        "t_cdf": t_cdf,
        "mean_intervals": mean_intervals,
        "paired": paired,
    }
    os.makedirs(os.path.dirname(out) or ".", exist_ok=True)
    with open(out, "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")
    print(f"wrote {out}: {len(t_quantiles)} quantiles, {len(t_cdf)} cdf values, "
          f"{len(mean_intervals)} intervals, {len(paired)} paired tests")


if __name__ == "__main__":
    main()
