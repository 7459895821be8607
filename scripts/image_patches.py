#!/usr/bin/env python3
"""Write 8x8 grey patches of a photograph as a CSV the report reads.

Usage:  pip install scikit-learn pillow numpy
        python3 scripts/image_patches.py [OUT.csv] [N]   (default patches.csv, 4000)
        cargo run --release --bin report -- --dataset patches.csv --image-shape 8x8

Natural-image patches have a steep, ill-conditioned spectrum (the first
component holds about 90% of the variance, and the 1st to 32nd eigenvalue
ratio is about 1000), the hard case for the linear oracles: a linear
autoencoder must still reach PCA's error there. The photograph is
scikit-learn's bundled `china.jpg`; patches are drawn with a fixed seed, in
[0, 1] grey levels (the mean of the RGB channels / 255), rounded to 6 digits.
"""
import csv
import sys

import numpy as np
from sklearn.datasets import load_sample_image
from sklearn.feature_extraction.image import extract_patches_2d

out = sys.argv[1] if len(sys.argv) > 1 else "patches.csv"
n = int(sys.argv[2]) if len(sys.argv) > 2 else 4000
grey = load_sample_image("china.jpg").mean(axis=2) / 255.0
patches = extract_patches_2d(grey, (8, 8), max_patches=n, random_state=0).reshape(n, 64)
with open(out, "w", newline="") as f:
    w = csv.writer(f)
    w.writerow([f"p{i}" for i in range(64)])
    w.writerows(np.round(patches, 6).tolist())
print(f"{out}: {n} patches of 8x8")
