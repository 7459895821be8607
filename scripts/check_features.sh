#!/usr/bin/env bash
# Fails when `cargo test` would build a dependency with other features than
# `cargo build` does: then the README's second command rebuilds polars and
# most of the tree instead of reusing the first command's build.
#
# Each line of `cargo tree -f '{p} [{f}]'` is a crate with its resolved
# features; every line of the build without dev-dependencies must appear
# unchanged in the build with them. A line printed below names a crate whose
# features the dev-dependencies change: pin them in Cargo.toml's feature
# pins (host-side crates such as syn under [build-dependencies]).
set -euo pipefail
cd "$(dirname "$0")/.."
tree() { cargo tree --locked --prefix none -f '{p} [{f}]' "$@" | sed 's/ (\*)$//' | sort -u; }
diverged=$(comm -23 <(tree -e no-dev) <(tree -e normal,build,dev))
if [ -n "$diverged" ]; then
    echo "check_features: these crates get other features under cargo test (the build alone has):" >&2
    echo "$diverged" >&2
    exit 1
fi
echo "check_features: cargo build and cargo test resolve every shared crate with the same features"
