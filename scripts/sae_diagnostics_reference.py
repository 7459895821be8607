#!/usr/bin/env python3
"""Reference values of the sparse-autoencoder diagnostics as the peers compute
them, for tests/sae.rs (`sae_diagnostics_match_the_numpy_reference`), which
checks src/study/metrics.rs (firing_density, dead_count, dense_count,
density_bin_edges, density_histogram, shrinkage, l2_ratio) against them.

Usage:  pip install numpy
        python3 scripts/sae_diagnostics_reference.py [OUT]
        (default tests/fixtures/sae_diagnostics_reference.json)

What is followed, written out in NumPy from the peers' torch code:

  SAELens, sae_lens/training/sae_trainer.py (SAETrainer):
      act_freq_scores += (feature_acts.abs() > 0).float().sum(0)
      feature_sparsity = act_freq_scores / n_frac_active_tokens
    -> density = (abs(code) > 0).mean(axis=0), one batch of all rows
  SAELens, sae_lens/evals.py (get_sparsity_and_variance_metrics):
      l2_norm_in = norm(x, dim=-1); l2_norm_out = norm(x_hat, dim=-1)
      l2_norm_in_for_div[abs(l2_norm_in_for_div) < 0.0001] = 1
      l2_ratio = mean(l2_norm_out / l2_norm_in_for_div)
      relative_reconstruction_bias = mean(norm(x_hat)**2) / mean(sum(x * x_hat))
    -> shrinkage is that ratio of batch means (one batch of all rows), as
       dictionary_learning/evaluation.py computes it too
  SAELens, sae_lens/training/sae_trainer.py (_build_train_step_log_dict):
      per_token_l2_loss = (sae_out - sae_in).pow(2).sum(dim=-1)
      total_variance = (sae_in - sae_in.mean(0)).pow(2).sum(-1)
      explained_variance = 1 - per_token_l2_loss.mean() / total_variance.mean()
    -> tiedae's FVU is 1 - explained_variance
  dictionary_learning, dictionary_learning/evaluation.py:
      l2_ratio = mean(norm(x_hat, dim=-1) / norm(x, dim=-1))   (no guard)
      l0 = (f != 0).float().sum(dim=-1).mean()
      frac_alive = (active_features != 0).sum() / dict_size
    -> dead = latents that never fired; tiedae's L0 is that l0
  dense: density > 1e-1, as `sparsity/above_1e-1` in OpenMOSS
      Language-Model-SAEs (src/lm_saes/trainer.py); SAELens, OpenAI's
      sparse_autoencoder and dictionary_learning define no dense threshold.
  histogram: numpy.histogram(density, bins=edges), bins [e_i, e_i+1) with the
      last one closed, values outside the edges not counted; the edges are
      quarter decades from the largest one at or below 1/n up to 1 (at least
      one decade), which is tiedae's binning of SAELens's log10 density
      histogram (plots/feature_density_line_chart) without the dead latents.

Also written, to show the test tells the definitions apart:
  shrinkage_mean_of_ratios   mean over rows of |x_hat|^2 / <x, x_hat>
  l2_ratio_unguarded         dictionary_learning's l2_ratio
both only where they are finite (not in the case with a zero row of x).

Cases (seeded NumPy draws, stored in the fixture, so the test does not depend
on NumPy's generator):
  positive  a ReLU-like code (nonnegative), a dead latent, a latent firing on
            every row, one on exactly 10% of the rows (not dense), one on 1;
            x has a row of norm 5e-5 (below the guard), x_hat = 0.8 x + noise
  signed    a code with negative values (they fire too), a dead latent; x has
            a zero row (the guard divides by 1), x_hat = 1.3 x + noise

Floats are written with Python's repr (shortest round-trip form).
"""
import json
import os
import sys

import numpy as np

SEED = 20240417
BINS_PER_DECADE = 4
DENSE = 1e-1
MIN_NORM = 1e-4


def density_bin_edges(n_rows):
    least = 1.0 / max(n_rows, 1)
    lo = min(int(np.floor(np.log10(least) * BINS_PER_DECADE)), -BINS_PER_DECADE)
    while 10.0 ** (lo / BINS_PER_DECADE) > least:
        lo -= 1
    return [10.0 ** (j / BINS_PER_DECADE) for j in range(lo, 1)]


def planted_code(rng, n, fires, signed):
    """An n x len(fires) code whose column j is nonzero on exactly fires[j]
    rows, drawn at random; values away from 0 (|v| in [0.5, 2])."""
    code = np.zeros((n, len(fires)))
    for j, f in enumerate(fires):
        rows = rng.choice(n, size=f, replace=False)
        vals = rng.uniform(0.5, 2.0, size=f)
        if signed:
            vals *= rng.choice([-1.0, 1.0], size=f)
        code[rows, j] = vals
    return code


def case(name, rng, n, d, fires, signed, scale, small_row):
    code = planted_code(rng, n, fires, signed)
    x = rng.normal(0.0, 1.0, (n, d))
    if small_row == "tiny":
        x[0] *= 5e-5 / np.linalg.norm(x[0])
    elif small_row == "zero":
        x[0] = 0.0
    x_hat = scale * x + 0.3 * rng.normal(0.0, 1.0, (n, d))

    # SAELens's trainer: density of firing (nonzero) latents.
    density = (np.abs(code) > 0).astype(np.float64).mean(axis=0)
    assert np.array_equal(density, np.array(fires) / n)
    dead = int((density == 0).sum())
    dense = int((density > DENSE).sum())
    edges = density_bin_edges(n)
    hist = np.histogram(density, bins=np.array(edges))[0]
    assert hist.sum() == len(fires) - dead, "every firing latent is in a bin"

    # SAELens's evals.py, one batch.
    l2_norm_in = np.linalg.norm(x, axis=-1)
    l2_norm_out = np.linalg.norm(x_hat, axis=-1)
    l2_norm_in_for_div = l2_norm_in.copy()
    l2_norm_in_for_div[np.abs(l2_norm_in_for_div) < MIN_NORM] = 1
    l2_ratio = float((l2_norm_out / l2_norm_in_for_div).mean())
    x_hat_norm_squared = np.linalg.norm(x_hat, axis=-1) ** 2
    x_dot_x_hat = (x * x_hat).sum(axis=-1)
    shrinkage = float(x_hat_norm_squared.mean() / x_dot_x_hat.mean())

    # SAELens's trainer log and dictionary_learning's evaluation.
    per_token_l2_loss = ((x_hat - x) ** 2).sum(axis=-1)
    total_variance = ((x - x.mean(axis=0)) ** 2).sum(axis=-1)
    explained_variance = float(1 - per_token_l2_loss.mean() / total_variance.mean())
    l0 = float((code != 0).astype(np.float64).sum(axis=-1).mean())

    out = {
        "name": name,
        "n": n,
        "d": d,
        "r": len(fires),
        "fires": list(fires),
        "x": x.tolist(),
        "x_hat": x_hat.tolist(),
        "code": code.tolist(),
        "edges": edges,
        "density": density.tolist(),
        "dead": dead,
        "dense": dense,
        "histogram": [int(c) for c in hist],
        "shrinkage": shrinkage,
        "l2_ratio": l2_ratio,
        "explained_variance": explained_variance,
        "l0": l0,
    }
    for k in ("shrinkage", "l2_ratio"):
        assert np.isfinite(out[k]), (name, k)
    # The other definitions, only where they are finite (a zero row of x
    # makes both infinite).
    if (x_dot_x_hat != 0).all():
        out["shrinkage_mean_of_ratios"] = float((x_hat_norm_squared / x_dot_x_hat).mean())
    if (l2_norm_in > 0).all():
        out["l2_ratio_unguarded"] = float((l2_norm_out / l2_norm_in).mean())
    return out


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    default = os.path.join(here, "..", "tests", "fixtures", "sae_diagnostics_reference.json")
    out_path = sys.argv[1] if len(sys.argv) > 1 else default
    rng = np.random.default_rng(SEED)
    cases = [
        # 40 rows: 4 of them is exactly 10%, not dense.
        case("positive", rng, 40, 6, [0, 40, 4, 1, 5, 12, 3, 0, 20, 9, 2, 7], False, 0.8, "tiny"),
        case("signed", rng, 25, 4, [3, 0, 25, 1, 10, 2, 6, 13], True, 1.3, "zero"),
    ]
    doc = {
        "source": "scripts/sae_diagnostics_reference.py: firing density, dead and dense counts, "
        "the density histogram, shrinkage and l2 ratio as SAELens (sae_lens/training/sae_trainer.py, "
        "sae_lens/evals.py) and dictionary_learning (dictionary_learning/evaluation.py) compute them",
        "layout": "matrices as lists of rows: x and x_hat are n x d, code n x r; density, histogram "
        "per latent / per bin; dense means density > 0.1",
        "numpy": np.__version__,
        "cases": cases,
    }
    with open(out_path, "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")
    print(f"wrote {out_path}")


if __name__ == "__main__":
    main()
