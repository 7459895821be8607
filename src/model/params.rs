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
//!
//! A conv pair (see [`super::conv`]) stores its kernel `K` (tied) or `K_enc`
//! as a `C_out x C_in·k_h·k_w` matrix, row-major (PyTorch's
//! `weight.flatten()`), then, untied only, `K_dec` of the same shape,
//! row-major; then `b_enc` (`C_out`, one per output channel) and `b_dec`
//! (`C_in`) for `Separate`.
//!
//! A latent pair with a [JumpReLU](super::Activation::JumpRelu) activation
//! has one more block after its biases, the last of the vector: its log
//! thresholds `log θ` (r), one per latent (see [`LayerSlots::threshold`]).

use super::bias::BiasMode;
use super::conv::Conv2d;
use serde::{Deserialize, Serialize};
use std::ops::Range;

/// Parameter count of one layer pair.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LayerCount {
    /// Weight entries: `d r` tied, `2 d r` untied (conv: `C_out C_in k_h k_w`
    /// tied, twice that untied).
    pub weights: usize,
    /// Bias entries (see [`BiasMode::parameter_count`]), and the `r`
    /// log thresholds of a JumpReLU latent pair (a per-latent offset, like
    /// `b_enc`).
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
    /// The geometry of a conv pair (`None` for a dense one).
    pub conv: Option<Conv2d>,
    /// The log thresholds `log θ` (r) of a JumpReLU latent pair, right
    /// after its biases; `None` for every other pair.
    pub threshold: Option<Range<usize>>,
}

impl LayerSlots {
    /// The whole pair's range: weights, biases and, for a JumpReLU latent
    /// pair, its log thresholds.
    pub fn range(&self) -> Range<usize> {
        let end = self.threshold.as_ref().map_or(self.biases.end, |t| t.end);
        self.weight.start..end
    }

    /// The lengths `(d, r)` bias vectors follow: the widths, or the channel
    /// counts `(C_in, C_out)` of a conv pair.
    fn bias_dims(&self) -> (usize, usize) {
        match &self.conv {
            Some(g) => (g.input().channels, g.output().channels),
            None => (self.input_dim, self.output_dim),
        }
    }

    /// `b_enc`'s range (separate and mirrored modes).
    pub fn encoder_bias(&self) -> Option<Range<usize>> {
        let s = self.biases.start;
        match self.bias_mode {
            BiasMode::Separate | BiasMode::Mirrored => Some(s..s + self.bias_dims().1),
            _ => None,
        }
    }

    /// `b_dec`'s range (separate mode).
    pub fn decoder_bias(&self) -> Option<Range<usize>> {
        let (d, r) = self.bias_dims();
        let s = self.biases.start + r;
        match self.bias_mode {
            BiasMode::Separate => Some(s..s + d),
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

    /// Where the pair's decoder directions (dictionary atoms) sit in the
    /// flat vector: rows of `W` for a tied dense pair (row `i` is unit `i`'s
    /// filter and, since `v = h W`, its decoding direction), columns of
    /// `W_dec` (d x r, row-major) for an untied one, and rows of the decoder
    /// kernel (`K` or `K_dec`, one per output channel) for a conv pair.
    pub fn decoder_directions(&self) -> DirectionSlots {
        let start = self
            .decoder_weight
            .as_ref()
            .map_or(self.weight.start, |r| r.start);
        match (&self.conv, self.tied) {
            (Some(g), _) => {
                let (rows, cols) = g.kernel_shape();
                DirectionSlots {
                    start,
                    count: rows,
                    len: cols,
                    stride: 1,
                    step: cols,
                }
            }
            (None, true) => DirectionSlots {
                start,
                count: self.output_dim,
                len: self.input_dim,
                stride: 1,
                step: self.input_dim,
            },
            (None, false) => DirectionSlots {
                start,
                count: self.output_dim,
                len: self.input_dim,
                stride: self.output_dim,
                step: 1,
            },
        }
    }

    /// This pair's count.
    pub fn count(&self) -> LayerCount {
        LayerCount {
            weights: self.weight.len() + self.decoder_weight.as_ref().map_or(0, |r| r.len()),
            biases: self.biases.len() + self.threshold.as_ref().map_or(0, |t| t.len()),
            tied: self.tied,
        }
    }
}

/// The flat positions of a pair's `count` decoder directions, each `len`
/// entries long: entry `j` of direction `i` is at
/// `start + i * step + j * stride` (see [`LayerSlots::decoder_directions`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DirectionSlots {
    /// Flat index of entry 0 of direction 0.
    pub start: usize,
    /// Number of directions (hidden units or output channels).
    pub count: usize,
    /// Entries per direction.
    pub len: usize,
    /// Flat distance between consecutive entries of one direction.
    pub stride: usize,
    /// Flat distance between consecutive directions.
    pub step: usize,
}

impl DirectionSlots {
    /// Flat index of entry `j` of direction `i`.
    #[inline]
    pub fn at(&self, i: usize, j: usize) -> usize {
        self.start + i * self.step + j * self.stride
    }
}

/// The flat-parameter layout of a model (see the module docs for the order).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParamLayout {
    layers: Vec<LayerSlots>,
    total: usize,
}

impl ParamLayout {
    /// The layout of dense pairs `(d, r, tied)` with one bias mode.
    pub fn new(pairs: &[(usize, usize, bool)], bias: BiasMode) -> Self {
        let pairs: Vec<_> = pairs.iter().map(|&(d, r, t)| (d, r, t, None)).collect();
        Self::with_conv(&pairs, bias)
    }

    /// The layout of pairs `(d, r, tied, conv geometry)` with one bias mode.
    /// A conv pair's widths must be its geometry's flattened input and
    /// output lengths.
    pub fn with_conv(pairs: &[(usize, usize, bool, Option<Conv2d>)], bias: BiasMode) -> Self {
        let mut at = 0;
        let mut layers = Vec::with_capacity(pairs.len());
        for &(d, r, tied, conv) in pairs {
            let (weights, bias_count) = match &conv {
                Some(g) => (
                    g.weight_count(),
                    bias.parameter_count(g.input().channels, g.output().channels),
                ),
                None => (r * d, bias.parameter_count(d, r)),
            };
            let weight = at..at + weights;
            at = weight.end;
            let decoder_weight = if tied {
                None
            } else {
                let w = at..at + weights;
                at = w.end;
                Some(w)
            };
            let biases = at..at + bias_count;
            at = biases.end;
            layers.push(LayerSlots {
                tied,
                input_dim: d,
                output_dim: r,
                bias_mode: bias,
                weight,
                decoder_weight,
                biases,
                conv,
                threshold: None,
            });
        }
        ParamLayout { layers, total: at }
    }

    /// This layout with the latent (last) pair's `r` log thresholds of a
    /// JumpReLU appended (see [`LayerSlots::threshold`]); unchanged if it
    /// already has them or has no pairs.
    pub fn with_latent_threshold(mut self) -> Self {
        let total = self.total;
        if let Some(last) = self.layers.last_mut()
            && last.threshold.is_none()
        {
            let r = last.output_dim;
            last.threshold = Some(total..total + r);
            self.total = total + r;
        }
        self
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
