//! The finite-difference oracle shared by the gradient tests
//! (tests/gradients.rs for dense stacks, tests/conv.rs for conv stacks):
//! central differences in f64 with step 1e-6; an entry passes when
//! |analytic − numeric| <= 1e-5 + 1e-3 |numeric|.

use nalgebra::DMatrix;
use rand::RngExt;
use tiedae::model::{Autoencoder, LossConfig, Normalizer, Workspace};
use tiedae::rng::seeded;

pub const EPS: f64 = 1e-6;
pub const ATOL: f64 = 1e-5;
pub const RTOL: f64 = 1e-3;
/// Cases whose forward pass comes this close to a kink are reseeded.
pub const KINK_MARGIN: f64 = 1e-4;

pub fn random_matrix(rows: usize, cols: usize, lo: f64, hi: f64, seed: u64) -> DMatrix<f64> {
    let mut rng = seeded(seed);
    DMatrix::from_fn(rows, cols, |_, _| rng.random_range(lo..hi))
}

/// The full objective: data terms over the batch plus weight decay,
/// evaluated without the gradient code.
pub fn objective(
    m: &Autoencoder<f64>,
    x: &DMatrix<f64>,
    t: &DMatrix<f64>,
    loss: &LossConfig,
) -> f64 {
    let norm = Normalizer::new(x.nrows()).unwrap();
    m.loss_terms(x, t, loss, norm).unwrap().total + m.l2_penalty(loss)
}

pub fn numeric_gradient(
    m: &Autoencoder<f64>,
    x: &DMatrix<f64>,
    t: &DMatrix<f64>,
    loss: &LossConfig,
) -> Vec<f64> {
    let base = m.params_to_vec();
    let mut probe = m.clone();
    let mut p = base.clone();
    (0..base.len())
        .map(|k| {
            p[k] = base[k] + EPS;
            probe.set_params(&p).unwrap();
            let up = objective(&probe, x, t, loss);
            p[k] = base[k] - EPS;
            probe.set_params(&p).unwrap();
            let down = objective(&probe, x, t, loss);
            p[k] = base[k];
            (up - down) / (2.0 * EPS)
        })
        .collect()
}

/// `Err` names the first entry outside the tolerance.
pub fn compare(m: &Autoencoder<f64>, analytic: &[f64], numeric: &[f64]) -> Result<(), String> {
    assert_eq!(analytic.len(), numeric.len());
    for (k, (&a, &n)) in analytic.iter().zip(numeric).enumerate() {
        // Written so that a NaN on either side fails.
        let within = (a - n).abs() <= ATOL + RTOL * n.abs();
        if !within {
            return Err(format!(
                "entry {k} ({}): analytic {a:.9e}, numeric {n:.9e}",
                m.describe_param(k)
            ));
        }
    }
    Ok(())
}

/// Whether any pre-activation of a kinked activation (the ReLU TopK kinds
/// included: a kept value at 0), or (with L1) any nonzero latent entry,
/// lies within the margin of its kink; or, for the TopK kinds, any row's
/// `k`-th and `(k+1)`-th largest pre-activations lie within the margin of
/// each other (a near tie, where the selection flips).
pub fn near_kink(m: &Autoencoder<f64>, x: &DMatrix<f64>, loss: &LossConfig) -> bool {
    let mut ws = Workspace::new();
    m.forward_with(x, &mut ws).unwrap();
    let spec = m.spec();
    let close = |z: &DMatrix<f64>| z.iter().any(|v| v.abs() < KINK_MARGIN);
    for l in 0..spec.layer_count() {
        if spec.hidden[l].has_kink() && close(&ws.encoder_pre_activations()[l]) {
            return true;
        }
        if spec.decoder_activation(l).has_kink() && close(&ws.decoder_pre_activations()[l]) {
            return true;
        }
        if spec.hidden[l].near_tie(&ws.encoder_pre_activations()[l], KINK_MARGIN)
            || spec
                .decoder_activation(l)
                .near_tie(&ws.decoder_pre_activations()[l], KINK_MARGIN)
        {
            return true;
        }
    }
    loss.l1 > 0.0
        && ws
            .code()
            .unwrap()
            .iter()
            .any(|&h| h != 0.0 && h.abs() < KINK_MARGIN)
}
