"""Runs a tiedae model exported as safetensors, independently of tiedae.

    python3 scripts/safetensors_forward.py MODEL.safetensors X.safetensors OUT.safetensors

Reads the model's tensors and its `spec` metadata (see src/model/safetensors.rs
for the names), reads the input batch `x` (n x d) from X, and writes the
reconstruction `y` (n x d) to OUT. It uses PyTorch when it is importable (the
way a PyTorch user would load the file) and NumPy otherwise; tests/safetensors.rs
compares `y` with tiedae's own forward pass.

The TopK kinds select in NumPy whichever library runs the rest, with
tiedae's rule (src/model/activation.rs): per row (`top_k`, `top_k_signed`)
or over the whole call (`batch_top_k`, `batch_top_k_signed`) keep the k
(n·k) largest values, ties to the lower row and then the lower unit, and
pass the kept values through a ReLU unless the kind is signed. A stable
sort of the negated values gives exactly that tie order. A BatchTopK pair
with a learned threshold (the `batch_top_k_thresholds` metadata) keeps, row
by row, the values above it instead, as a SAELens JumpReLU SAE does.
"""

import json
import math
import sys

from safetensors.numpy import load_file, save_file
from safetensors import safe_open

try:
    import torch
except ImportError:  # NumPy does the same arithmetic.
    torch = None
import numpy as np


def keep_largest(values, count):
    """A mask of the `count` largest entries of the 1-D `values`, ties to
    the lower index (a stable sort of the negated values)."""
    keep = np.zeros(values.shape, dtype=bool)
    if count >= values.size:
        keep[:] = True
    else:
        keep[np.argsort(-values, kind="stable")[:count]] = True
    return keep


def top_k(kind, k, z):
    """The TopK kinds on a NumPy matrix `z` (n x r)."""
    if kind.startswith("batch_"):
        # Row-major order is (row, unit), the tie order across the call.
        keep = keep_largest(z.ravel(), k * z.shape[0]).reshape(z.shape)
    else:
        keep = np.stack([keep_largest(row, k) for row in z]) if len(z) else z > 0
    if not kind.endswith("_signed"):
        keep &= z > 0  # the ReLU on kept values (OpenAI's postact_fn)
    return np.where(keep, z, 0.0).astype(z.dtype)


TOP_K = ("top_k", "top_k_signed", "batch_top_k", "batch_top_k_signed")


def activation(spec, z, threshold=None):
    kind = spec["kind"]
    xp = torch if torch is not None else np
    if threshold is not None:  # a BatchTopK pair at evaluation
        return xp.where(z > threshold, z, xp.zeros_like(z))
    if kind in TOP_K:
        if torch is not None:
            return torch.from_numpy(top_k(kind, spec["k"], z.numpy()))
        return top_k(kind, spec["k"], z)
    if kind == "identity":
        return z
    if kind == "relu":
        return xp.maximum(z, xp.zeros_like(z))
    if kind == "leaky_relu":
        return xp.where(z > 0, z, spec["alpha"] * z)
    if kind == "sigmoid":
        return 1.0 / (1.0 + xp.exp(-z))
    if kind == "tanh":
        return xp.tanh(z)
    if kind == "softplus":
        return xp.maximum(z, xp.zeros_like(z)) + xp.log1p(xp.exp(-xp.abs(z)))
    if kind == "elu":
        return xp.where(z > 0, z, spec["alpha"] * (xp.exp(z) - 1.0))
    if kind == "gelu":
        c = math.sqrt(2.0 / math.pi)
        return 0.5 * z * (1.0 + xp.tanh(c * (z + 0.044715 * z**3)))
    raise SystemExit(f"activation {kind!r} is not covered by this check")


def main(model_path, x_path, out_path):
    with safe_open(model_path, framework="numpy") as f:
        meta = f.metadata()
    if meta.get("format") != "tiedae-autoencoder":
        raise SystemExit(f"{model_path}: not a tiedae model")
    spec = json.loads(meta["spec"])
    tensors = load_file(model_path)
    x = load_file(x_path)["x"]
    if torch is not None:
        tensors = {k: torch.from_numpy(v) for k, v in tensors.items()}
        x = torch.from_numpy(x)
    pairs = len(spec["dims"]) - 1
    bias = spec["bias"]
    thresholds = json.loads(meta.get("batch_top_k_thresholds", "null")) or [None] * pairs

    def t(name):
        return tensors[f"{name}"]

    def encoder(l):
        return t(f"pairs.{l}.weight") if spec["tied"][l] else t(f"pairs.{l}.encoder.weight")

    def decoder_t(l):
        # v = h @ M with M (r x d): W for a tied pair, W_dec^T otherwise.
        return t(f"pairs.{l}.weight") if spec["tied"][l] else t(f"pairs.{l}.decoder.weight").T

    h = x
    for l in range(pairs):
        if bias == "pre_centering":
            h = h - t(f"pairs.{l}.pre_bias")
        z = h @ encoder(l).T
        if bias in ("separate", "mirrored"):
            z = z + t(f"pairs.{l}.encoder.bias")
        h = activation(spec["hidden"][l], z, thresholds[l])
    for l in reversed(range(pairs)):
        v = h
        if bias == "mirrored":
            v = v - t(f"pairs.{l}.encoder.bias")
        v = v @ decoder_t(l)
        if bias == "separate":
            v = v + t(f"pairs.{l}.decoder.bias")
        if bias == "pre_centering":
            v = v + t(f"pairs.{l}.pre_bias")
        # The output activation is serialized as a bare name.
        if l == 0:
            h = activation({"kind": spec["output"]}, v)
        else:
            h = activation(spec["hidden"][l - 1], v, thresholds[l - 1])
    y = h.numpy() if torch is not None else h
    save_file({"y": np.ascontiguousarray(y)}, out_path)


if __name__ == "__main__":
    main(*sys.argv[1:4])
