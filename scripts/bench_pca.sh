#!/bin/sh
# Times PCA fits on mnist10k (k = 16, 64, 784) beside scikit-learn's fastest
# solver in the same run and prints the ratios ours/sklearn.
# The comparison needs python3 with scikit-learn and numpy
# (pip install scikit-learn numpy); without them it is skipped with a note.
# Environment: TIEDAE_PYTHON (interpreter), TIEDAE_SKLEARN_PCA (reference
# script, default ../shared/bench/sklearn_pca.py), CARGO_TARGET_DIR as usual.
set -eu
cd "$(dirname "$0")/.."
exec cargo bench --bench pca "$@"
