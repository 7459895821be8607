#!/usr/bin/env python3
"""Generate scikit-learn PCA reference values for tests/pca.rs.

Usage:  pip install scikit-learn numpy
        python3 scripts/sklearn_reference.py [OUTPUT_DIR]   (default tests/fixtures/pca)

Writes one JSON file per input matrix. Every file stores the input matrix X
itself (so the Rust test does not depend on how a dataset is loaded or scaled),
the scikit-learn and NumPy versions, and for several n_components and the exact
solvers ("covariance_eigh", "full"): components, explained variance (ratio),
singular values, mean, noise variance, the transform of the first rows and the
reconstruction MSE. Floats are written with Python's repr, the shortest string
that round-trips (at most 17 significant digits), so nothing is lost.

Inputs:
  digits        sklearn's load_digits().data, raw integer pixels 0..16 (1797 x 64)
  random        standard normal 100 x 80 (seed 20240601)
  rank_deficient  60 x 30 of rank 5 (product of normal 60x5 and 5x30, plus 3.0)
  wide          standard normal 20 x 50 (d > n), columns scaled 1..50
"""
import json
import os
import sys

import numpy as np
import sklearn
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA

TRANSFORM_ROWS = 5


def floats(a):
    return [float(v) for v in np.asarray(a, dtype=np.float64).ravel()]


def matrix(a):
    a = np.asarray(a, dtype=np.float64)
    if np.all(a == np.round(a)):
        data = [int(v) for v in a.ravel()]
    else:
        data = floats(a)
    return {"rows": a.shape[0], "cols": a.shape[1], "row_major": data}


def case(x, n_components, solver, whiten=False):
    p = PCA(n_components=n_components, svd_solver=solver, whiten=whiten, random_state=0).fit(x)
    scores = p.transform(x)
    recon = p.inverse_transform(scores)
    return {
        "solver": solver,
        "n_components": n_components,
        "whiten": whiten,
        "n_components_fitted": int(p.n_components_),
        "components": {"rows": p.components_.shape[0], "cols": p.components_.shape[1],
                       "row_major": floats(p.components_)},
        "explained_variance": floats(p.explained_variance_),
        "explained_variance_ratio": floats(p.explained_variance_ratio_),
        "singular_values": floats(p.singular_values_),
        "mean": floats(p.mean_),
        "noise_variance": float(p.noise_variance_),
        "transform_first_rows": {"rows": TRANSFORM_ROWS, "cols": scores.shape[1],
                                 "row_major": floats(scores[:TRANSFORM_ROWS])},
        "reconstruction_mse": float(((x - recon) ** 2).mean()),
    }


def dataset(name, x, ks, whiten_k=None, fractions=()):
    x = np.asarray(x, dtype=np.float64)
    full = PCA(svd_solver="full").fit(x)
    out = {
        "generator": "scripts/sklearn_reference.py",
        "sklearn_version": sklearn.__version__,
        "numpy_version": np.__version__,
        "name": name,
        "x": matrix(x),
        # Every eigenvalue (ddof = 1) from the SVD solver: the spectrum mse_curve uses.
        "full_spectrum": floats(full.explained_variance_),
        "cases": [],
    }
    for k in ks:
        for solver in ("covariance_eigh", "full"):
            out["cases"].append(case(x, k, solver))
    for f in fractions:
        for solver in ("covariance_eigh", "full"):
            out["cases"].append(case(x, f, solver))
    if whiten_k is not None:
        out["cases"].append(case(x, whiten_k, "full", whiten=True))
    return out


def main():
    outdir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures", "pca")
    os.makedirs(outdir, exist_ok=True)
    rng = np.random.default_rng(20240601)
    random = rng.standard_normal((100, 80))
    low = rng.standard_normal((60, 5)) @ rng.standard_normal((5, 30)) + 3.0
    wide = rng.standard_normal((20, 50)) * np.arange(1, 51)
    sets = [
        dataset("digits", load_digits().data, ks=[2, 10, 30], whiten_k=10, fractions=[0.9]),
        dataset("random", random, ks=[1, 10, 40], whiten_k=10, fractions=[0.5]),
        dataset("rank_deficient", low, ks=[3, 5]),
        dataset("wide", wide, ks=[5, 19], whiten_k=5),
    ]
    for s in sets:
        path = os.path.join(outdir, s["name"] + ".json")
        tmp = path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(s, f, separators=(",", ":"))
            f.write("\n")
        os.replace(tmp, path)
        print(f"{path}: {os.path.getsize(path)} bytes, {len(s['cases'])} cases")


if __name__ == "__main__":
    main()
