#!/usr/bin/env python3
"""Reference values of the AuxK loss as OpenAI's training code computes it,
for tests/sae.rs (`auxk_matches_the_openai_reference`).

Usage:  pip install numpy
        python3 scripts/auxk_reference.py [OUT]   (default tests/fixtures/auxk_reference.json)

What is followed, from openai/sparse_autoencoder:

  sparse_autoencoder/train.py, FastAutoencoder.forward (one op shard):
      x = x - pre_bias
      latents_pre_act = x @ encoder.weight.T + latent_bias
      inds, vals = topk(latents_pre_act, k)
      auxk_inds, auxk_vals = topk(auxk_mask_fn(latents_pre_act), auxk)
          auxk_mask_fn multiplies the live latents' pre-activations by 0
          (dead = stats_last_nonzero > dead_steps_threshold; given here
          directly as a mask)
      vals = relu(vals); auxk_vals = relu(auxk_vals)
      recons = decode_sparse(inds, vals)
      decode_sparse(inds, vals) = (vals scattered into n_dirs) @ decoder.weight.T + pre_bias
  sparse_autoencoder/train.py, main's loss:
      auxk_coef * normalized_mse(decode_sparse(auxk_inds, auxk_vals),
                                 x - recons.detach() + pre_bias.detach()).nan_to_num(0)
  sparse_autoencoder/kernels.py:
      mse(output, target) = mean over rows of (mean over columns of (output - target)**2)
      normalized_mse(recon, xs) = mse(recon, xs) / mse(xs.mean(dim=0) broadcast, xs)

so the loss is auxk_coef * sum_i |e_i - e^_i|^2 / sum_i |e_i - mean(e)|^2 with
e = x - recons the residual and e^ the auxiliary reconstruction without bias.

The gradient is the one autograd gives through FastAutoencoder's custom
backward passes (EncWrapper, TritonDecoderAutograd), with the residual and
its mean held constant (they come from detached tensors), written out by
hand in NumPy: d loss / d e^ = 2 auxk_coef (e^ - e) / sum_i |e_i - mean(e)|^2,
then through the decoder and the ReLU of the selected values into
decoder.weight, encoder.weight and latent_bias. Not written: the pre_bias
gradient, which OpenAI's code also feeds through decode_sparse's
`+ pre_bias` (tiedae's auxiliary decoder has no bias; see the AuxK doc in
src/model/loss.rs). The script checks its gradient against central
differences of its own loss before writing.

Cases (seeded NumPy arrays, stored in the fixture, so the test does not
depend on NumPy's generator):
  untied  encoder.weight and a unit-norm decoder.weight drawn independently
  tied    decoder.weight = encoder.weight.T (the tied model; its gradient is
          the encoder's plus the decoder's transposed)
A case takes the first draw that is away from every kink (selection
boundaries, ReLUs) and exercises the ReLUs (see `usable`): some row keeps a
negative value among its k, and some row has fewer than k_aux positive dead
latents, where OpenAI's masking by 0 selects live zeros and tiedae's masking
by -inf selects negative dead values; the script asserts both give the same
auxiliary code. `per_sample_normalised` is the AuxK value divided per sample
by |e_i|^2 instead (what tiedae computed before following OpenAI), kept to
show the two differ.

Floats are written with Python's repr (shortest round-trip form).
"""
import json
import os
import sys

import numpy as np

SEED = 20240606
N, D, R, K, K_AUX = 8, 6, 12, 3, 4
AUXK_COEF = 1.0 / 32.0
DEAD = [False, True, False, True, True, False, True, False, True, True, False, True]
# Selections and ReLUs must stay put under the finite-difference step.
MARGIN = 1e-3


def relu(v):
    return np.maximum(v, 0.0)


def topk(z, k):
    """torch.topk(z, k, dim=-1): indices and values of the k largest per row
    (a stable sort, so a tie would go to the lower index; the cases have
    none)."""
    inds = np.argsort(-z, axis=-1, kind="stable")[:, :k]
    return inds, np.take_along_axis(z, inds, axis=-1)


def scatter(inds, vals, n_dirs):
    code = np.zeros((inds.shape[0], n_dirs))
    np.put_along_axis(code, inds, vals, axis=-1)
    return code


def mse(output, target):
    return ((output - target) ** 2).mean(axis=1).mean()


def normalized_mse(recon, xs):
    xs_mu = xs.mean(axis=0)
    return mse(recon, xs) / mse(np.broadcast_to(xs_mu[None, :], xs.shape), xs)


def forward(x, w_enc, w_dec, pre_bias, latent_bias, dead):
    z = (x - pre_bias) @ w_enc.T + latent_bias
    inds, vals = topk(z, K)
    auxk_inds, auxk_pre = topk(z * dead, K_AUX)
    recons = scatter(inds, relu(vals), R) @ w_dec.T + pre_bias
    return z, inds, vals, auxk_inds, auxk_pre, recons


def auxk_loss(x, w_enc, w_dec, pre_bias, latent_bias, dead, target):
    """The loss with the target (x - recons + pre_bias) given, as the
    detached tensors make it in OpenAI's code."""
    _, _, _, auxk_inds, auxk_pre, _ = forward(x, w_enc, w_dec, pre_bias, latent_bias, dead)
    e_hat = scatter(auxk_inds, relu(auxk_pre), R) @ w_dec.T + pre_bias
    return AUXK_COEF * np.nan_to_num(normalized_mse(e_hat, target), nan=0.0)


def gradient(x, w_enc, w_dec, pre_bias, latent_bias, dead, target):
    z, _, _, auxk_inds, auxk_pre, _ = forward(x, w_enc, w_dec, pre_bias, latent_bias, dead)
    code = scatter(auxk_inds, relu(auxk_pre), R)
    e_hat = code @ w_dec.T + pre_bias
    centred = target - target.mean(axis=0)
    spread = (centred**2).sum()
    g_e_hat = 2.0 * AUXK_COEF * (e_hat - target) / spread
    g_w_dec = g_e_hat.T @ code
    g_code = g_e_hat @ w_dec
    passed = scatter(auxk_inds, (auxk_pre > 0).astype(float), R)
    g_z = g_code * passed
    g_w_enc = g_z.T @ (x - pre_bias)
    g_latent_bias = g_z.sum(axis=0)
    return g_w_enc, g_w_dec, g_latent_bias


def usable(z, vals, auxk_inds, auxk_pre, dead):
    """Whether a draw is away from every kink and exercises the ReLUs.

    Away from kinks: no near tie at the k-th largest pre-activation, no kept
    value and no dead pre-activation near 0, no near tie at the k_aux-th
    positive dead value. Exercised: some row keeps a negative value among
    its k (the main ReLU clamps it), some row has fewer than k_aux positive
    dead latents (OpenAI's masking by 0 then selects live zeros, tiedae's
    masking by -inf selects negative dead values: both codes are 0 there),
    and some selected dead value is positive (the aux gradient is not 0).
    """
    dead = np.asarray(dead, dtype=bool)
    zs = -np.sort(-z, axis=-1)
    if (zs[:, K - 1] - zs[:, K]).min() <= MARGIN or np.abs(vals).min() <= MARGIN:
        return False
    zd = z[:, dead]
    if np.abs(zd).min() <= MARGIN:
        return False
    pos = -np.sort(-relu(zd), axis=-1)
    gap = pos[:, K_AUX - 1] - pos[:, K_AUX]
    if ((pos[:, K_AUX] > 0) & (gap <= MARGIN)).any():
        return False
    few = ((zd > 0).sum(axis=1) < K_AUX).any()
    return bool((vals < 0).any() and few and (auxk_pre > 0).any())


def tiedae_aux_code(z, dead):
    """tiedae's auxiliary code: the k_aux largest dead pre-activations (live
    ones at -inf, as SAELens's _calculate_topk_aux_acts), through the ReLU."""
    masked = np.where(np.asarray(dead, dtype=bool)[None, :], z, -np.inf)
    inds, vals = topk(masked, K_AUX)
    return scatter(inds, relu(vals), R)


def case(name, tied, rng):
    dead = np.array(DEAD, dtype=float)
    for draw in range(1000):
        w_enc = rng.normal(0.0, 0.6, (R, D))
        if tied:
            w_dec = w_enc.T.copy()
        else:
            w_dec = rng.normal(0.0, 1.0, (D, R))
            w_dec /= np.linalg.norm(w_dec, axis=0)  # unit_norm_decoder_
        pre_bias = rng.normal(0.0, 0.3, D)
        latent_bias = rng.normal(-1.0, 0.3, R)
        x = rng.normal(0.0, 1.0, (N, D))
        z, inds, vals, auxk_inds, auxk_pre, recons = forward(
            x, w_enc, w_dec, pre_bias, latent_bias, dead
        )
        if usable(z, vals, auxk_inds, auxk_pre, DEAD):
            break
    else:
        raise SystemExit(f"{name}: no usable draw")
    # OpenAI's masking by 0 and tiedae's by -inf give the same code.
    assert np.array_equal(scatter(auxk_inds, relu(auxk_pre), R), tiedae_aux_code(z, DEAD))
    target = x - recons + pre_bias
    loss = auxk_loss(x, w_enc, w_dec, pre_bias, latent_bias, dead, target)
    g_w_enc, g_w_dec, g_latent_bias = gradient(x, w_enc, w_dec, pre_bias, latent_bias, dead, target)

    # The hand-written gradient against central differences of the loss
    # (the target held fixed, as the detached tensors hold it).
    eps = 1e-6
    for arr, g in [(w_enc, g_w_enc), (w_dec, g_w_dec), (latent_bias, g_latent_bias)]:
        flat, gf = arr.reshape(-1), g.reshape(-1)
        for i in range(flat.size):
            keep = flat[i]
            flat[i] = keep + eps
            up = auxk_loss(x, w_enc, w_dec, pre_bias, latent_bias, dead, target)
            flat[i] = keep - eps
            down = auxk_loss(x, w_enc, w_dec, pre_bias, latent_bias, dead, target)
            flat[i] = keep
            num = (up - down) / (2 * eps)
            assert abs(num - gf[i]) <= 1e-8 + 1e-5 * abs(num), (name, i, num, gf[i])

    e = x - recons
    per_sample = AUXK_COEF * np.mean(
        ((scatter(auxk_inds, relu(auxk_pre), R) @ w_dec.T - e) ** 2).sum(axis=1) / (e**2).sum(axis=1)
    )
    out = {
        "name": name,
        "tied": tied,
        "draw": draw,
        "n": N,
        "d": D,
        "r": R,
        "k": K,
        "k_aux": K_AUX,
        "auxk_coef": AUXK_COEF,
        "dead": DEAD,
        "x": x.tolist(),
        "encoder_weight": w_enc.tolist(),
        "decoder_weight": w_dec.tolist(),
        "pre_bias": pre_bias.tolist(),
        "latent_bias": latent_bias.tolist(),
        "recons": recons.tolist(),
        "auxk_loss": float(loss),
        "per_sample_normalised": float(per_sample),
        "grad_latent_bias": g_latent_bias.tolist(),
    }
    if tied:
        out["grad_weight"] = (g_w_enc + g_w_dec.T).tolist()
    else:
        out["grad_encoder_weight"] = g_w_enc.tolist()
        out["grad_decoder_weight"] = g_w_dec.tolist()
    return out


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    default = os.path.join(here, "..", "tests", "fixtures", "auxk_reference.json")
    out_path = sys.argv[1] if len(sys.argv) > 1 else default
    rng = np.random.default_rng(SEED)
    doc = {
        "source": "scripts/auxk_reference.py: AuxK as openai/sparse_autoencoder computes it "
        "(sparse_autoencoder/train.py FastAutoencoder.forward and main's loss, "
        "sparse_autoencoder/kernels.py normalized_mse)",
        "layout": "matrices as lists of rows; encoder_weight is r x d and decoder_weight d x r "
        "(PyTorch's nn.Linear weights); gradients of the AuxK loss alone, residual held constant",
        "numpy": np.__version__,
        "cases": [case("untied", False, rng), case("tied", True, rng)],
    }
    with open(out_path, "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")
    print(f"wrote {out_path}")


if __name__ == "__main__":
    main()
