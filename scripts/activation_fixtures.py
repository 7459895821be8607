"""Writes the activation-file fixtures tests/activation_files.rs reads.

    python3 scripts/activation_fixtures.py [OUT_DIR]

OUT_DIR defaults to tests/fixtures/activations. Sparse-autoencoder training
data is usually an activation dump saved from PyTorch or NumPy, so the
fixtures are written by the libraries users write them with: `.npy` files by
NumPy's own `np.save` / `np.lib.format.write_array`, `.safetensors` files by
the `safetensors` package. The readers are checked against what those
libraries write, not against our own idea of the formats.

Every matrix is defined by a formula, so the test can check it exactly
without this script: `x[i, j] = i * 0.5 - j / 3` (the "ramp"), and for a
second tensor `y[i, j] = (i + 1) * (j - 0.25)`. A float32 fixture holds the
formula's values rounded to float32. `expected.json` lists each fixture
with its shape and values (as Python floats, whose shortest repr reads back
bit for bit), so a reader can also be compared with what NumPy itself holds.
The fixtures are a few KB in all.
"""

import json
import os
import sys

import numpy as np
from safetensors.numpy import save_file


def ramp(rows, cols, dtype):
    i = np.arange(rows, dtype=np.float64)[:, None]
    j = np.arange(cols, dtype=np.float64)[None, :]
    return (i * 0.5 - j / 3).astype(dtype)


def second(rows, cols, dtype):
    i = np.arange(rows, dtype=np.float64)[:, None]
    j = np.arange(cols, dtype=np.float64)[None, :]
    return ((i + 1) * (j - 0.25)).astype(dtype)


def save_npy(path, array, version=None):
    """np.save, or write_array for an explicit format version."""
    if version is None:
        np.save(path, array, allow_pickle=False)
    else:
        with open(path, "wb") as f:
            np.lib.format.write_array(f, array, version=version, allow_pickle=False)


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join("tests", "fixtures", "activations")
    os.makedirs(out, exist_ok=True)
    expected = {}

    def record(name, array, **extra):
        entry = {
            "shape": list(array.shape),
            "dtype": str(array.dtype),
            "values": [[float(v) for v in row] for row in np.asarray(array, dtype=np.float64)],
        }
        entry.update(extra)
        expected[name] = entry

    # Loadable .npy files: float32/float64, C and Fortran order, both byte
    # orders, every header version.
    for dtype, tag in ((np.float64, "f64"), (np.float32, "f32")):
        x = ramp(5, 3, dtype)
        save_npy(os.path.join(out, f"c_{tag}.npy"), np.ascontiguousarray(x))
        record(f"c_{tag}.npy", x, formula="ramp")
        fx = np.asfortranarray(x)
        assert fx.flags.f_contiguous and not fx.flags.c_contiguous
        save_npy(os.path.join(out, f"fortran_{tag}.npy"), fx)
        record(f"fortran_{tag}.npy", x, formula="ramp")
    big = ramp(5, 3, ">f8")
    save_npy(os.path.join(out, "big_endian_f64.npy"), big)
    record("big_endian_f64.npy", big, formula="ramp")
    big32 = np.asfortranarray(ramp(5, 3, ">f4"))
    save_npy(os.path.join(out, "big_endian_fortran_f32.npy"), big32)
    record("big_endian_fortran_f32.npy", big32, formula="ramp")
    for version in ((2, 0), (3, 0)):
        name = f"v{version[0]}_f64.npy"
        x = ramp(5, 3, np.float64)
        save_npy(os.path.join(out, name), x, version=version)
        record(name, x, formula="ramp")
    # A value beyond float32's range: loads (it is finite), and an f32
    # study refuses it, as it does for the other formats.
    wide = ramp(3, 2, np.float64)
    wide[2, 1] = 1e300
    save_npy(os.path.join(out, "beyond_f32.npy"), wide)
    record("beyond_f32.npy", wide)

    # .npy files that are refused, each for one reason.
    save_npy(os.path.join(out, "vector.npy"), np.arange(4, dtype=np.float64))
    save_npy(os.path.join(out, "int32.npy"), np.arange(6, dtype="<i4").reshape(2, 3))
    save_npy(os.path.join(out, "float16.npy"), ramp(2, 3, np.float16))
    save_npy(os.path.join(out, "cube.npy"), np.zeros((2, 2, 2), dtype=np.float32))
    save_npy(os.path.join(out, "one_row.npy"), ramp(1, 3, np.float64))
    nan = ramp(3, 4, np.float32)
    nan[1, 2] = np.nan
    save_npy(os.path.join(out, "nan_f32.npy"), np.asfortranarray(nan))
    inf = ramp(3, 4, np.float64)
    inf[2, 0] = -np.inf
    save_npy(os.path.join(out, "inf_f64.npy"), inf)

    # safetensors: one file of several tensors (one per dtype and rank),
    # one of a single tensor.
    tensors = {
        "resid": ramp(5, 3, np.float32),
        "mlp.out": second(4, 2, np.float64),
        "vector": np.arange(3, dtype=np.float32),
        "ids": np.arange(4, dtype=np.int32).reshape(2, 2),
        "cube": np.zeros((2, 1, 2), dtype=np.float32),
    }
    save_file(tensors, os.path.join(out, "acts.safetensors"), metadata={"source": "activation_fixtures.py"})
    record("acts.safetensors:resid", tensors["resid"], formula="ramp")
    record("acts.safetensors:mlp.out", tensors["mlp.out"], formula="second")
    single = ramp(5, 3, np.float64)
    save_file({"layer3": single}, os.path.join(out, "single.safetensors"))
    record("single.safetensors", single, formula="ramp")
    nan = ramp(3, 2, np.float64)
    nan[0, 1] = np.nan
    save_file({"x": nan}, os.path.join(out, "nan.safetensors"))

    with open(os.path.join(out, "expected.json"), "w") as f:
        json.dump(expected, f, indent=1, sort_keys=True)
        f.write("\n")


if __name__ == "__main__":
    main()
