//! AdamW's decoupled weight decay (Loshchilov & Hutter): before each Adam
//! step the weight matrices shrink by the factor `1 − lr · weight_decay`.
//!
//! A piece of its own rather than part of the update rule because it acts
//! on the parameters, not the gradient, and only on the weight matrices
//! (biases are not decayed, matching the model's L2 term): the model's
//! layout says which entries those are, and the update rule does not see
//! it. It acts after every gradient piece (the unit-norm projection reads
//! the undecayed weights) and just before the update, as PyTorch's AdamW
//! does. Other update rules fold `weight_decay` into the objective's L2
//! coefficient instead (see [`TrainConfig::objective`]), so for them the
//! piece is not registered.

use super::{Feature, Step};
use crate::model::Autoencoder;
use crate::real::Real;
use crate::train::config::{Optimizer, TrainConfig};
use crate::train::optimizer::CHUNK;
use rayon::prelude::*;
use std::ops::Range;

/// [`TrainConfig::weight_decay`] under [`Optimizer::AdamW`].
pub(crate) struct WeightDecay {
    rate: f64,
    /// Flat ranges of the weight matrices.
    weights: Vec<Range<usize>>,
}

impl WeightDecay {
    /// The piece when `cfg` asks for AdamW with a positive decay.
    pub(crate) fn new<T: Real>(cfg: &TrainConfig, model: &Autoencoder<T>) -> Option<Self> {
        let on = matches!(cfg.optimizer, Optimizer::AdamW { .. }) && cfg.weight_decay > 0.0;
        on.then(|| WeightDecay {
            rate: cfg.weight_decay,
            weights: weight_ranges(model),
        })
    }
}

impl<T: Real> Feature<T> for WeightDecay {
    fn before_update(&mut self, step: &Step<'_, T>, params: &mut [T]) {
        decay(params, step.lr, self.rate, &self.weights);
    }
}

/// Flat ranges of the weight matrices (what weight decay acts on).
fn weight_ranges<T: Real>(model: &Autoencoder<T>) -> Vec<Range<usize>> {
    model
        .layout()
        .layers()
        .iter()
        .flat_map(|s| std::iter::once(s.weight.clone()).chain(s.decoder_weight.clone()))
        .collect()
}

/// Multiplies the entries `weights` of `params` by `1 − lr · rate`.
/// Element-wise, so the parallel chunks change no bit of the result.
fn decay<T: Real>(params: &mut [T], lr: f64, rate: f64, weights: &[Range<usize>]) {
    let keep = T::of(1.0 - lr * rate);
    for r in weights {
        params[r.clone()].par_chunks_mut(CHUNK).for_each(|c| {
            for p in c {
                *p *= keep;
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Decays only the given ranges, multiplicatively.
    #[test]
    fn decays_only_the_weights() {
        let mut p = vec![1.0f64, 1.0];
        let weights = vec![Range { start: 0, end: 1 }];
        decay(&mut p, 0.1, 0.5, weights.as_slice());
        assert!((p[0] - 0.95).abs() < 1e-12);
        assert_eq!(p[1], 1.0);
    }
}
