#!/usr/bin/env python3
"""Reference values of two sparse-autoencoder training losses as the peers
define them, for tests/sae.rs (`sae_recipes_match_the_numpy_reference`): the
L1 penalty weighted by decoder norms and the Matryoshka loss of nested
prefixes of the code.

Usage:  pip install numpy
        python3 scripts/sae_recipes_reference.py [OUT]
        (default tests/fixtures/sae_recipes_reference.json)

What is followed, written out in NumPy from the peers' torch code. The model
is SAELens's standard SAE without `apply_b_dec_to_input`:
    feature_acts = relu(x @ W_enc + b_enc)       W_enc: d x r
    sae_out      = feature_acts @ W_dec + b_dec  W_dec: r x d

  SAELens, sae_lens/saes/sae.py (TrainingSAE.training_forward_pass):
      mse_loss = mse_loss_fn(sae_out, sae_in).sum(dim=-1).mean()
  SAELens, sae_lens/saes/standard_sae.py (StandardTrainingSAE.calculate_aux_loss,
  scale_sparsity_penalty_by_decoder_norm = True, lp_norm = 1):
      weighted_feature_acts = feature_acts * W_dec.norm(dim=1)
      sparsity = weighted_feature_acts.norm(p=1, dim=-1)
      l1_loss = (current_l1_coefficient * sparsity).mean()
    -> saelens_l1_loss; plain_l1_loss is the same without the weighting
  dictionary_learning, dictionary_learning/trainers/standard.py
  (StandardTrainerAprilUpdate.loss):
      l1_loss = (f * decoder.weight.norm(p=2, dim=0)).sum(dim=-1).mean()
    -> the same number (decoder.weight there is d x r), without the coefficient
  SAELens, sae_lens/saes/matryoshka_batchtopk_sae.py
  (MatryoshkaBatchTopKTrainingSAE.training_forward_pass, with
  rescale_acts_by_decoder_norm = False):
      for width in matryoshka_widths[:-1]:
          inner_feat_acts = activation_fn(hidden_pre[:, :width])
          inner_reconstruction = inner_feat_acts @ W_dec[:width] + b_dec
          inner_mse_loss = mse_loss_fn(inner_reconstruction, sae_in).sum(dim=-1).mean()
          loss = loss + inner_mse_loss
    -> saelens_inner_mse_losses, one per inner width; the ReLU is element-wise,
       so the prefix code is the full code truncated
  dictionary_learning, dictionary_learning/trainers/matryoshka_batch_top_k.py
  (MatryoshkaBatchTopKTrainer.loss), group sizes the differences of the
  widths, group_weights None (each 1/K for K groups):
      x_reconstruct = b_dec; for each group i:
          x_reconstruct = x_reconstruct + f_chunk_i @ W_dec_chunk_i
          l2_loss_i = (x - x_reconstruct).pow(2).sum(dim=-1).mean() * group_weights[i]
      mean_l2_loss = mean over groups of l2_loss_i
    -> dictionary_learning_l2_loss (the same code f: its BatchTopK is replaced
       by the ReLU here, the loss over a given code is what is checked)

Cases (seeded NumPy draws, stored in the fixture, so the test does not depend
on NumPy's generator):
  untied  W_enc and W_dec drawn independently, decoder rows of unequal norms
  tied    W_enc = W_dec.T (tiedae's tied pair: W = W_dec, r x d)
Each case takes the first draw whose pre-activations are all at least 1e-6
away from the ReLU's kink and whose code has zeros and nonzeros in every
prefix group.

Floats are written with Python's repr (shortest round-trip form).
"""
import json
import os
import sys

import numpy as np

SEED = 20250611
N, D, R = 7, 5, 8
L1_COEFFICIENT = 0.37
# The Matryoshka widths: the inner ones, then the full code.
WIDTHS = [2, 5, R]
MARGIN = 1e-6


def relu(v):
    return np.maximum(v, 0.0)


def losses(x, w_enc, b_enc, w_dec, b_dec):
    f = relu(x @ w_enc + b_enc)
    sae_out = f @ w_dec + b_dec
    mse_loss = ((sae_out - x) ** 2).sum(axis=-1).mean()

    weighted = f * np.linalg.norm(w_dec, axis=1)
    saelens_l1 = (L1_COEFFICIENT * np.abs(weighted).sum(axis=-1)).mean()
    plain_l1 = (L1_COEFFICIENT * np.abs(f).sum(axis=-1)).mean()
    # dictionary_learning's form of the same sum (decoder.weight = W_dec.T).
    dl_l1 = (f * np.linalg.norm(w_dec.T, axis=0)).sum(axis=-1).mean()
    assert abs(L1_COEFFICIENT * dl_l1 - saelens_l1) <= 1e-14 * saelens_l1

    inner = []
    for width in WIDTHS[:-1]:
        inner_feat_acts = relu((x @ w_enc + b_enc)[:, :width])
        assert np.array_equal(inner_feat_acts, f[:, :width])
        inner_reconstruction = inner_feat_acts @ w_dec[:width] + b_dec
        inner.append(((inner_reconstruction - x) ** 2).sum(axis=-1).mean())

    sizes = np.diff([0] + WIDTHS)
    weights = [1.0 / len(sizes)] * len(sizes)
    x_reconstruct = np.zeros_like(x) + b_dec
    l2_losses = []
    start = 0
    for size, weight in zip(sizes, weights):
        x_reconstruct = x_reconstruct + f[:, start:start + size] @ w_dec[start:start + size]
        l2_losses.append(((x - x_reconstruct) ** 2).sum(axis=-1).mean() * weight)
        start += size
    dl_l2 = float(np.mean(l2_losses))
    # The last group's reconstruction is the full one, and with equal
    # weights dictionary_learning's loss is SAELens's sum over K^2.
    assert np.allclose(x_reconstruct, sae_out, rtol=0, atol=1e-14)
    k = len(WIDTHS)
    assert abs(dl_l2 - (mse_loss + sum(inner)) / k**2) <= 1e-13 * dl_l2

    return f, {
        "saelens_mse_loss": float(mse_loss),
        "saelens_l1_loss": float(saelens_l1),
        "plain_l1_loss": float(plain_l1),
        "saelens_inner_mse_losses": [float(v) for v in inner],
        "dictionary_learning_l2_loss": dl_l2,
    }


def usable(x, w_enc, b_enc, f):
    if np.abs(x @ w_enc + b_enc).min() < MARGIN:
        return False
    start = 0
    for width in WIDTHS:
        group = f[:, start:width]
        if not ((group == 0).any() and (group != 0).any()):
            return False
        start = width
    return True


def case(name, tied, rng):
    while True:
        x = rng.normal(size=(N, D))
        w_dec = rng.normal(size=(R, D)) * rng.uniform(0.3, 2.0, size=(R, 1))
        w_enc = w_dec.T.copy() if tied else rng.normal(size=(D, R)) * 0.6
        b_enc = rng.normal(size=R) * 0.3
        b_dec = rng.normal(size=D) * 0.2
        f, values = losses(x, w_enc, b_enc, w_dec, b_dec)
        if usable(x, w_enc, b_enc, f):
            break
    out = {
        "name": name,
        "tied": tied,
        "n": N,
        "d": D,
        "r": R,
        "l1_coefficient": L1_COEFFICIENT,
        "matryoshka_widths": WIDTHS,
        "x": x.tolist(),
        "W_enc": w_enc.tolist(),
        "b_enc": b_enc.tolist(),
        "W_dec": w_dec.tolist(),
        "b_dec": b_dec.tolist(),
    }
    out.update(values)
    return out


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    default = os.path.join(here, "..", "tests", "fixtures", "sae_recipes_reference.json")
    out_path = sys.argv[1] if len(sys.argv) > 1 else default
    rng = np.random.default_rng(SEED)
    cases = [case("untied", False, rng), case("tied", True, rng)]
    doc = {
        "source": "scripts/sae_recipes_reference.py: the decoder-norm weighted L1 as SAELens "
        "(sae_lens/saes/standard_sae.py) and dictionary_learning (trainers/standard.py, "
        "StandardTrainerAprilUpdate) compute it, and the Matryoshka loss as SAELens "
        "(sae_lens/saes/matryoshka_batchtopk_sae.py) and dictionary_learning "
        "(trainers/matryoshka_batch_top_k.py) compute it",
        "layout": "matrices as lists of rows in SAELens's orientation: x is n x d, W_enc d x r, "
        "W_dec r x d; losses summed over d and averaged over the n rows, as the peers do",
        "numpy": np.__version__,
        "cases": cases,
    }
    with open(out_path, "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")
    print(f"wrote {out_path}")


if __name__ == "__main__":
    main()
