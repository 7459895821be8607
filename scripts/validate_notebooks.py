#!/usr/bin/env python3
"""Validates notebooks against nbformat's own JSON schema, as Jupyter reads them.

Usage: validate_notebooks.py FILE.ipynb...

Each file is read as written (no upgrade, no id filling: nbformat.read would
add missing cell ids and hide exactly the defect this is for) and validated
against the schema of its declared nbformat version. Prints one line per
problem and exits 1 if any file fails, 0 when all pass.
"""

import json
import sys

import nbformat
from nbformat.validator import get_validator


def problems(path):
    with open(path, encoding="utf-8") as f:
        nb = json.load(f)
    major, minor = nb.get("nbformat"), nb.get("nbformat_minor")
    validator = get_validator(version=major, version_minor=minor)
    if validator is None:
        return [f"{path}: no nbformat schema for version {major}.{minor}"]
    found = []
    for error in sorted(validator.iter_errors(nb), key=lambda e: list(e.path)):
        where = "/".join(str(p) for p in error.path) or "(top level)"
        found.append(f"{path}: {where}: {error.message}")
    return found


def main(paths):
    if not paths:
        print("usage: validate_notebooks.py FILE.ipynb...", file=sys.stderr)
        return 2
    failed = [line for path in paths for line in problems(path)]
    for line in failed:
        print(line)
    if not failed:
        print(f"{len(paths)} notebooks valid (nbformat {nbformat.__version__} schema)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
