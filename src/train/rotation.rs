//! The rotation-augmented gradient (RAG) of Bao, Lucas, Sachdeva & Grosse
//! (2020), for a linear autoencoder of one pair without biases.
//!
//! Why: the reconstruction loss of a linear autoencoder is flat along
//! rotations of its latent space, so gradient descent finds the principal
//! subspace quickly but the individual directions only through the weak
//! pull of non-uniform L2, ever more slowly as `k` grows ("eventually").
//! RAG adds an explicit rotation towards the basis in which the latent code
//! is decorrelated. With `y = W_enc x` over the batch, `M = mean(y yᵀ)`
//! (`k x k`), `A` its strictly upper triangle and `Γ = (A − Aᵀ) / (2 d)`
//! (skew-symmetric), the gradients become
//!
//! ```text
//! g_enc ← g_enc − Γ W_enc,        g_dec ← g_dec − W_dec Γᵀ,
//! ```
//!
//! and a tied `W` (both uses at once) gets `g ← g − 2 Γ W`. The `1/d` is
//! this crate's normalisation: the paper's reconstruction term is a sum
//! over the `d` entries of a row, ours a mean, so dividing `Γ` by `d` keeps
//! the paper's ratio between the rotation and the gradient (its reference
//! code, `utils/train.py`, uses `(A − Aᵀ)/2` with the summed loss). Which
//! triangle is used fixes the order: unit 0 turns to the largest-variance
//! direction.
//!
//! The term is computed serially in f64 over the batch's rows in order, so
//! it does not depend on the thread count.

use crate::error::{Error, Result};
use crate::model::{Activation, Autoencoder, BiasMode, Layer, OutputActivation};
use crate::real::Real;
use nalgebra::DMatrix;

/// Checks that `model` is the model RAG is defined for: one dense linear
/// pair (identity activations) without biases.
pub(crate) fn check_model<T: Real>(model: &Autoencoder<T>) -> Result<()> {
    let spec = model.spec();
    let linear = spec.hidden.iter().all(|a| *a == Activation::Identity)
        && spec.output == OutputActivation::Identity;
    if spec.layer_count() != 1 || spec.conv.is_some() || !linear || spec.bias != BiasMode::None {
        return Err(Error::config(
            "rotation_augmented",
            "the rotation-augmented gradient is defined for one dense linear pair \
             (identity activations) without biases; centre the data instead of learning a bias",
        ));
    }
    Ok(())
}

/// Adds the rotation term to `grad` (the model's flat gradient) for the
/// batch of samples `rows`, each a column of `xt`. Call after
/// [`check_model`] accepted the model.
pub(crate) fn augment<T: Real>(
    model: &Autoencoder<T>,
    xt: &DMatrix<T>,
    rows: &[usize],
    grad: &mut [T],
) {
    let Some(layer) = model.layers().first() else {
        return;
    };
    if rows.is_empty() {
        return;
    }
    let w = layer.encoder_weight();
    let (k, d) = w.shape();
    // M = mean over the batch of y yᵀ, y = W x.
    let mut m = DMatrix::<f64>::zeros(k, k);
    let mut y = vec![0.0; k];
    for &r in rows {
        let x = xt.column(r);
        for (i, yi) in y.iter_mut().enumerate() {
            *yi = (0..d).map(|a| w[(i, a)].f64() * x[a].f64()).sum();
        }
        for i in 0..k {
            for j in i + 1..k {
                m[(i, j)] += y[i] * y[j];
            }
        }
    }
    let scale = 1.0 / (rows.len() as f64 * 2.0 * d as f64);
    // Γ_ij = M_ij / (2 d N_b) above the diagonal, −Γ_ji below.
    let gamma = DMatrix::from_fn(k, k, |i, j| {
        if i < j {
            m[(i, j)] * scale
        } else if i > j {
            -m[(j, i)] * scale
        } else {
            0.0
        }
    });
    let slots = &model.layout().layers()[0];
    let wf = w.map(|v| v.f64());
    // Γ W (k x d), row-major in the encoder slot.
    let gw = &gamma * &wf;
    let factor = if layer.is_tied() { 2.0 } else { 1.0 };
    let enc = &mut grad[slots.weight.clone()];
    for i in 0..k {
        for a in 0..d {
            enc[i * d + a] -= T::of(factor * gw[(i, a)]);
        }
    }
    if let (Layer::Dense(dense), Some(range)) = (layer, &slots.decoder_weight) {
        // W_dec Γᵀ (d x k), row-major in the decoder slot.
        let wd = dense.decoder_weight().map(|v| v.f64());
        let wg = wd * gamma.transpose();
        let dec = &mut grad[range.clone()];
        for a in 0..d {
            for i in 0..k {
                dec[a * k + i] -= T::of(wg[(a, i)]);
            }
        }
    }
}
