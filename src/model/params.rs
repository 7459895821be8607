//! Parameter counts and the fixed flat-parameter order.
//!
//! Optimizers and L-BFGS see a model as one vector. The order is fixed and
//! documented so gradients, checkpoints and optimizer state line up:
//!
//! for each layer pair, outermost first:
//! 1. the encoder weight `W` (tied) or `W_enc` (untied), `r x d`, **row-major**
//!    (row `i` is hidden unit `i`'s filter, as in PyTorch's `weight.flatten()`);
//! 2. untied only: the decoder weight `W_dec`, `d x r`, row-major;
//! 3. the biases of the pair's mode: `b_enc` (r) then `b_dec` (d) for
//!    `Separate`, `b_enc` (r) for `Mirrored`, `b_pre` (d) for `PreCentering`.

use super::bias::BiasMode;
use serde::{Deserialize, Serialize};
use std::ops::Range;

/// Parameter count of one layer pair.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LayerCount {
    /// Weight entries: `d r` tied, `2 d r` untied.
    pub weights: usize,
    /// Bias entries (see [`BiasMode::parameter_count`]).
    pub biases: usize,
    /// Whether the pair shares one weight matrix.
    pub tied: bool,
}

/// Exact parameter count with a per-pair breakdown.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParameterCount {
    /// One entry per layer pair, outermost first.
    pub layers: Vec<LayerCount>,
    /// Sum of all weights and biases.
    pub total: usize,
}

/// Where one layer pair's parameters sit in the flat vector.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LayerSlots {
    /// Whether the pair is tied.
    pub tied: bool,
    /// Input width `d`.
    pub input_dim: usize,
    /// Hidden width `r`.
    pub output_dim: usize,
    /// Bias mode of the pair.
    pub bias_mode: BiasMode,
    /// `W` (tied) or `W_enc` (untied), `r x d` row-major.
    pub weight: Range<usize>,
    /// `W_dec`, `d x r` row-major (untied only).
    pub decoder_weight: Option<Range<usize>>,
    /// All bias entries of the pair, in the order of the module docs.
    pub biases: Range<usize>,
}

impl LayerSlots {
    /// The whole pair's range.
    pub fn range(&self) -> Range<usize> {
        self.weight.start..self.biases.end
    }

    /// `b_enc`'s range (separate and mirrored modes).
    pub fn encoder_bias(&self) -> Option<Range<usize>> {
        let s = self.biases.start;
        match self.bias_mode {
            BiasMode::Separate | BiasMode::Mirrored => Some(s..s + self.output_dim),
            _ => None,
        }
    }

    /// `b_dec`'s range (separate mode).
    pub fn decoder_bias(&self) -> Option<Range<usize>> {
        let s = self.biases.start + self.output_dim;
        match self.bias_mode {
            BiasMode::Separate => Some(s..s + self.input_dim),
            _ => None,
        }
    }

    /// `b_pre`'s range (pre-centering mode).
    pub fn pre_bias(&self) -> Option<Range<usize>> {
        match self.bias_mode {
            BiasMode::PreCentering => Some(self.biases.clone()),
            _ => None,
        }
    }

    /// This pair's count.
    pub fn count(&self) -> LayerCount {
        LayerCount {
            weights: self.weight.len() + self.decoder_weight.as_ref().map_or(0, |r| r.len()),
            biases: self.biases.len(),
            tied: self.tied,
        }
    }
}

/// The flat-parameter layout of a model (see the module docs for the order).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParamLayout {
    layers: Vec<LayerSlots>,
    total: usize,
}

impl ParamLayout {
    /// The layout of pairs `(d, r, tied)` with one bias mode.
    pub fn new(pairs: &[(usize, usize, bool)], bias: BiasMode) -> Self {
        let mut at = 0;
        let mut layers = Vec::with_capacity(pairs.len());
        for &(d, r, tied) in pairs {
            let weight = at..at + r * d;
            at = weight.end;
            let decoder_weight = if tied {
                None
            } else {
                let w = at..at + d * r;
                at = w.end;
                Some(w)
            };
            let biases = at..at + bias.parameter_count(d, r);
            at = biases.end;
            layers.push(LayerSlots {
                tied,
                input_dim: d,
                output_dim: r,
                bias_mode: bias,
                weight,
                decoder_weight,
                biases,
            });
        }
        ParamLayout { layers, total: at }
    }

    /// Slots of each pair, outermost first.
    pub fn layers(&self) -> &[LayerSlots] {
        &self.layers
    }

    /// Total number of parameters.
    pub fn len(&self) -> usize {
        self.total
    }

    /// Whether the model has no parameters (never, for a valid spec).
    pub fn is_empty(&self) -> bool {
        self.total == 0
    }

    /// The parameter count with per-pair breakdown.
    pub fn count(&self) -> ParameterCount {
        ParameterCount {
            layers: self.layers.iter().map(LayerSlots::count).collect(),
            total: self.total,
        }
    }
}
