#!/usr/bin/env python3
"""Reference values of a JumpReLU SAE's training loss and gradients as
SAELens 6.x defines them, for tests/jumprelu.rs
(`jump_relu_matches_the_saelens_reference`).

Usage:  pip install numpy
        python3 scripts/jumprelu_reference.py [OUT]   (default tests/fixtures/jumprelu_reference.json)

What is followed, from jbloomAus/SAELens (read at 6.18.0), sae_lens/saes/jumprelu_sae.py:

  rectangle(x) = ((x > -0.5) & (x < 0.5))
  JumpReLU.forward(x, threshold, bandwidth) = x * (x > threshold)
  JumpReLU.backward: x_grad = (x > threshold) * grad_output
                     threshold_grad = sum over the batch of
                         -(threshold / bandwidth) * rectangle((x - threshold) / bandwidth) * grad_output
  Step.forward(x, threshold, bandwidth) = (x > threshold)
  Step.backward:     no x gradient;
                     threshold_grad = sum over the batch of
                         -(1 / bandwidth) * rectangle((x - threshold) / bandwidth) * grad_output
  JumpReLUTrainingSAE: threshold = exp(log_threshold) (the parameter is
      log_threshold, so autograd multiplies threshold_grad by threshold);
      hidden_pre = x @ W_enc + b_enc (apply_b_dec_to_input = False);
      feature_acts = JumpReLU(hidden_pre, threshold, bandwidth);
      sae_out = feature_acts @ W_dec + b_dec
  calculate_aux_loss, l0_loss:
      "step": (l0_coefficient * Step(hidden_pre, threshold, bandwidth).sum(-1)).mean()
      "tanh": (l0_coefficient * tanh(jumprelu_tanh_scale * feature_acts * W_dec.norm(dim=1)).sum(-1)).mean()

The reconstruction term is tiedae's, sum (sae_out - x)^2 / (N d): SAELens
sums the squared error over d_in before the batch mean
(TrainingSAE.training_forward_pass in sae_lens/saes/sae.py), a factor d
that only rescales the term (tiedae's l0 coefficient lambda_0 = c / d
balances it as SAELens's c does). Everything else is SAELens's.

The gradient is what autograd gives through that graph, written out by
hand in NumPy: the reconstruction back to feature_acts, the tanh term's
gradient to feature_acts and (through W_dec.norm) to W_dec, then
JumpReLU.backward to hidden_pre and threshold, Step.backward to threshold,
threshold to log_threshold, hidden_pre to W_enc and b_enc. The script
checks the weight and bias gradients against central differences of its own
loss before writing (the threshold gradient is a pseudo-gradient: the true
derivative of the step is 0 almost everywhere, so it has no
finite-difference check).

Cases: untied and tied (W_dec = W_enc^T: the tied weight W = W_dec, and
its gradient is grad_W_dec + grad_W_enc^T), each with the step and the
tanh penalty. A case takes the first draw whose pre-activations are at
least MARGIN away from their threshold and from the rectangle's edges
(|hidden_pre - threshold| = bandwidth / 2), has pre-activations inside the
rectangle (so the pseudo-gradients are not all 0) and latents above their
threshold. Arrays are stored in SAELens's orientation (W_enc is d x r,
W_dec is r x d); floats in Python's repr (shortest round-trip form).
"""
import json
import os
import sys

import numpy as np

SEED = 20250901
N, D, R = 7, 5, 4
BANDWIDTH = 0.5
TANH_SCALE = 4.0
COEFFICIENT = {"step": 0.7, "tanh": 0.3}
MARGIN = 1e-3
FD_STEP = 1e-6


def rectangle(x):
    return ((x > -0.5) & (x < 0.5)).astype(np.float64)


def unpack(p, tied):
    if tied:
        w_dec = p["W"]
        w_enc = w_dec.T
    else:
        w_enc, w_dec = p["W_enc"], p["W_dec"]
    return w_enc, w_dec, p["b_enc"], p["b_dec"], p["log_threshold"]


def loss(x, p, tied, mode):
    """(reconstruction, l0_loss) of the SAELens graph, tiedae's MSE."""
    w_enc, w_dec, b_enc, b_dec, log_threshold = unpack(p, tied)
    threshold = np.exp(log_threshold)
    hidden_pre = x @ w_enc + b_enc
    feature_acts = hidden_pre * (hidden_pre > threshold)
    sae_out = feature_acts @ w_dec + b_dec
    recon = ((sae_out - x) ** 2).sum() / (N * D)
    c = COEFFICIENT[mode]
    if mode == "step":
        l0 = (c * (hidden_pre > threshold).sum(axis=-1)).mean()
    else:
        norms = np.linalg.norm(w_dec, axis=1)
        l0 = (c * np.tanh(TANH_SCALE * feature_acts * norms).sum(axis=-1)).mean()
    return recon, l0


def gradient(x, p, tied, mode):
    w_enc, w_dec, b_enc, b_dec, log_threshold = unpack(p, tied)
    threshold = np.exp(log_threshold)
    hidden_pre = x @ w_enc + b_enc
    mask = (hidden_pre > threshold).astype(np.float64)
    feature_acts = hidden_pre * mask
    sae_out = feature_acts @ w_dec + b_dec
    d_out = 2.0 * (sae_out - x) / (N * D)
    g_w_dec = feature_acts.T @ d_out
    g_b_dec = d_out.sum(axis=0)
    g_acts = d_out @ w_dec.T
    c = COEFFICIENT[mode]
    rect = rectangle((hidden_pre - threshold) / BANDWIDTH)
    g_threshold = np.zeros(R)
    if mode == "step":
        # d/dStep of mean_n(c * sum_i Step) is c / N per entry.
        g_threshold += (-(1.0 / BANDWIDTH) * rect * (c / N)).sum(axis=0)
    else:
        norms = np.linalg.norm(w_dec, axis=1)
        t = np.tanh(TANH_SCALE * feature_acts * norms)
        sech2 = 1.0 - t**2
        g_acts = g_acts + (c / N) * TANH_SCALE * norms[None, :] * sech2
        g_norms = ((c / N) * TANH_SCALE * feature_acts * sech2).sum(axis=0)
        g_w_dec = g_w_dec + g_norms[:, None] * w_dec / norms[:, None]
    # JumpReLU.backward.
    g_hidden = mask * g_acts
    g_threshold += (-(threshold / BANDWIDTH) * rect * g_acts).sum(axis=0)
    g_log_threshold = threshold * g_threshold
    g_w_enc = x.T @ g_hidden
    g_b_enc = g_hidden.sum(axis=0)
    g = {"b_enc": g_b_enc, "b_dec": g_b_dec, "log_threshold": g_log_threshold}
    if tied:
        g["W"] = g_w_dec + g_w_enc.T
    else:
        g["W_enc"] = g_w_enc
        g["W_dec"] = g_w_dec
    return g, hidden_pre, threshold, rect


def check_fd(x, p, tied, mode, g):
    """Central differences of the total loss against the weight and bias
    gradients."""
    for name in p:
        if name == "log_threshold":
            continue
        flat = p[name].reshape(-1)
        for k in range(flat.size):
            keep = flat[k]
            flat[k] = keep + FD_STEP
            up = sum(loss(x, p, tied, mode))
            flat[k] = keep - FD_STEP
            down = sum(loss(x, p, tied, mode))
            flat[k] = keep
            num = (up - down) / (2 * FD_STEP)
            ana = g[name].reshape(-1)[k]
            assert abs(num - ana) <= 1e-6 + 1e-5 * abs(num), (name, k, num, ana)


def usable(hidden_pre, threshold, rect):
    gap = np.abs(hidden_pre - threshold)
    edge = np.abs(gap - BANDWIDTH / 2)
    return (
        gap.min() > MARGIN
        and edge.min() > MARGIN
        and rect.sum() >= 4
        and (hidden_pre > threshold).sum() >= 4
    )


def draw(rng, tied):
    x = rng.standard_normal((N, D))
    p = {
        "b_enc": 0.1 * rng.standard_normal(R),
        "b_dec": 0.1 * rng.standard_normal(D),
        "log_threshold": np.log(rng.uniform(0.1, 0.6, R)),
    }
    w = 0.6 * rng.standard_normal((D, R))
    if tied:
        p["W"] = w.T.copy()
    else:
        p["W_enc"] = w
        p["W_dec"] = 0.6 * rng.standard_normal((R, D))
    return x, p


def listed(a):
    return [float(v) for v in a] if a.ndim == 1 else [listed(r) for r in a]


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(__file__), "..", "tests", "fixtures", "jumprelu_reference.json"
    )
    rng = np.random.default_rng(SEED)
    cases = []
    for tied in (False, True):
        for mode in ("step", "tanh"):
            for _ in range(1000):
                x, p = draw(rng, tied)
                g, hidden_pre, threshold, rect = gradient(x, p, tied, mode)
                if usable(hidden_pre, threshold, rect):
                    break
            else:
                sys.exit(f"no usable draw for tied={tied} mode={mode}")
            check_fd(x, p, tied, mode, g)
            recon, l0 = loss(x, p, tied, mode)
            w_enc, w_dec, _, _, _ = unpack(p, tied)
            case = {
                "name": f"{'tied' if tied else 'untied'}_{mode}",
                "tied": tied,
                "mode": mode,
                "n": N,
                "d": D,
                "r": R,
                "bandwidth": BANDWIDTH,
                "tanh_scale": TANH_SCALE,
                "l0_coefficient": COEFFICIENT[mode],
                "x": listed(x),
                "W_enc": listed(w_enc),
                "W_dec": listed(w_dec),
                "b_enc": listed(p["b_enc"]),
                "b_dec": listed(p["b_dec"]),
                "log_threshold": listed(p["log_threshold"]),
                "hidden_pre": listed(hidden_pre),
                "in_window": int(rect.sum()),
                "reconstruction": float(recon),
                "l0_loss": float(l0),
                "grad_b_enc": listed(g["b_enc"]),
                "grad_b_dec": listed(g["b_dec"]),
                "grad_log_threshold": listed(g["log_threshold"]),
            }
            if tied:
                case["grad_W"] = listed(g["W"])
            else:
                case["grad_W_enc"] = listed(g["W_enc"])
                case["grad_W_dec"] = listed(g["W_dec"])
            cases.append(case)
    doc = {
        "source": "scripts/jumprelu_reference.py (SAELens 6.x sae_lens/saes/jumprelu_sae.py, by hand in NumPy)",
        "numpy": np.__version__,
        "cases": cases,
    }
    with open(out, "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")
    print(f"wrote {len(cases)} cases to {out}")


if __name__ == "__main__":
    main()
