#!/usr/bin/env bash
# Re-runs every notebook (or those whose file name contains one of the
# arguments) with evcxr, as the notebook test does, and writes the outputs
# into the .ipynb files so they can be committed.
#
#   scripts/update_notebooks.sh            # all notebooks
#   scripts/update_notebooks.sh 02 03      # only 02-* and 03-*
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/tiedae-target}"
TIEDAE_UPDATE_NOTEBOOKS=1 exec cargo test --release --test notebooks -- "$@"
