"""Runs a tiedae SAELens export the way SAELens does, independently of tiedae.

    python3 scripts/saelens_check.py [--numpy] ROWS.json EXPORT_DIR [EXPORT_DIR ...]

Each EXPORT_DIR holds `cfg.json` and `sae_weights.safetensors`, as
`Autoencoder::save_saelens` writes them (src/model/saelens.rs); ROWS.json is
a JSON list of rows (n lists of d_in numbers), run through every export.
Prints one JSON list with an object per EXPORT_DIR, in the order given:
`dir` (the EXPORT_DIR as given), `backend` ("sae_lens" or "numpy"),
`encode` (n x d_sae, the code) and `decode` (n x d_in, the decoded code),
which tests/saelens.rs compares with tiedae's own encode and decode.
Several directories share one call because importing torch and sae_lens
costs far more than running a small SAE.

When `sae_lens` is importable (and `--numpy` is not given) each directory is
loaded with `SAE.load_from_disk`, the call a SAELens user makes, and run
with its `encode` and `decode`. Otherwise the fallback reads cfg.json and
the safetensors file with NumPy and computes SAELens's forward as its
source defines it (SAELens 6.x):

- input: `sae_in = x - b_dec * apply_b_dec_to_input` (`SAE.process_sae_in`,
  sae_lens/saes/sae.py; normalize_activations must be "none", the only
  value tiedae writes);
- pre-activation: `hidden_pre = sae_in @ W_enc + b_enc`;
- `standard` (saes/standard_sae.py): `relu(hidden_pre)`;
- `topk` (saes/topk_sae.py, `TopK.forward`): per row the `k` largest of
  `hidden_pre` (times the decoder row norms when
  `rescale_acts_by_decoder_norm`), passed through a ReLU, the rest 0;
  `torch.topk` has no tie rule, so a stable sort stands in for it and
  the test keeps its rows away from ties;
- `jumprelu` (saes/jumprelu_sae.py, `JumpReLUSAE.encode`):
  `relu(hidden_pre) * (hidden_pre > relu(threshold))`;
- decode: `acts @ W_dec + b_dec` (`acts / ||W_dec row||` first for a
  rescaled topk SAE, `_act_times_W_dec`).

Values are computed in cfg.json's `dtype` (float32 or float64), as SAELens
casts its input to the SAE's dtype.

Exit status 3 (with a message on stderr) means the requested backend is not
available: sae_lens not importable, or NumPy and safetensors missing.
"""

import json
import os
import sys


def load_rows(path):
    with open(path) as f:
        return json.load(f)


def with_sae_lens(export_dir, rows):
    import torch
    from sae_lens import SAE

    sae = SAE.load_from_disk(export_dir, device="cpu")
    x = torch.tensor(rows, dtype=sae.dtype)
    with torch.no_grad():
        acts = sae.encode(x)
        if acts.is_sparse:
            acts = acts.to_dense()
        out = sae.decode(acts)
    return acts.double().tolist(), out.double().tolist()


def with_numpy(export_dir, rows):
    import numpy as np
    from safetensors.numpy import load_file

    with open(os.path.join(export_dir, "cfg.json")) as f:
        cfg = json.load(f)
    tensors = load_file(os.path.join(export_dir, "sae_weights.safetensors"))
    dtype = {
        "float32": np.float32,
        "torch.float32": np.float32,
        "float64": np.float64,
        "torch.float64": np.float64,
    }.get(cfg.get("dtype", "float32"))
    if dtype is None:
        sys.exit(
            f"{export_dir}: dtype {cfg.get('dtype')!r}: the fallback runs float32 and float64"
        )
    if cfg.get("normalize_activations", "none") not in ("none", False):
        sys.exit(f"{export_dir}: the fallback runs normalize_activations = none only")
    t = {name: value.astype(dtype) for name, value in tensors.items()}
    x = np.asarray(rows, dtype=dtype).reshape(len(rows), int(cfg["d_in"]))
    apply = bool(cfg.get("apply_b_dec_to_input", True))
    sae_in = x - t["b_dec"] * dtype(apply)
    hidden_pre = sae_in @ t["W_enc"] + t["b_enc"]
    arch = cfg.get("architecture", "standard")
    rescale = arch == "topk" and bool(cfg.get("rescale_acts_by_decoder_norm", False))
    norms = np.linalg.norm(t["W_dec"], axis=-1)
    if arch == "standard":
        acts = np.maximum(hidden_pre, 0)
    elif arch == "topk":
        if rescale:
            hidden_pre = hidden_pre * norms
        k = int(cfg.get("k", 100))
        acts = np.zeros_like(hidden_pre)
        for i, row in enumerate(hidden_pre):
            keep = np.argsort(-row, kind="stable")[:k]
            acts[i, keep] = np.maximum(row[keep], 0)
    elif arch == "jumprelu":
        threshold = np.maximum(t["threshold"], 0)
        acts = np.maximum(hidden_pre, 0) * (hidden_pre > threshold).astype(dtype)
    else:
        sys.exit(
            f"{export_dir}: architecture {arch!r}: the fallback runs standard, topk and jumprelu"
        )
    decoded = (acts / norms if rescale else acts) @ t["W_dec"] + t["b_dec"]
    return acts.astype(np.float64).tolist(), decoded.astype(np.float64).tolist()


def main(argv):
    force_numpy = "--numpy" in argv
    args = [a for a in argv if a != "--numpy"]
    if "-h" in args or "--help" in args:
        print(__doc__)
        return
    if len(args) < 2:
        sys.exit(__doc__)
    rows_path, export_dirs = args[0], args[1:]
    rows = load_rows(rows_path)
    backend = "numpy"
    if not force_numpy:
        try:
            import sae_lens  # noqa: F401

            backend = "sae_lens"
        except ImportError:
            backend = "numpy"
    if backend == "sae_lens":
        run = with_sae_lens
    else:
        run = with_numpy
    results = []
    try:
        if backend == "numpy":
            import numpy  # noqa: F401
            import safetensors  # noqa: F401
        for export_dir in export_dirs:
            encode, decode = run(export_dir, rows)
            results.append(
                {"dir": export_dir, "backend": backend, "encode": encode, "decode": decode}
            )
    except ImportError as e:
        print(f"backend {backend} unavailable: {e}", file=sys.stderr)
        sys.exit(3)
    json.dump(results, sys.stdout)
    print()


if __name__ == "__main__":
    main(sys.argv[1:])
