//! Convolutional layer pairs: geometry and specs here, the maps themselves
//! (im2col kernels, backward passes and the public [`Conv2d::conv2d`] /
//! [`Conv2d::conv_transpose2d`]) in `kernels`, which builds on the geometry
//! and is not imported back, so the two files do not depend on each other.
//!
//! A conv pair maps an image `x` of shape `(C_in, H, W)` to feature maps of
//! shape `(C_out, H_out, W_out)` with a kernel `K` of shape
//! `(C_out, C_in, k_h, k_w)`:
//!
//! `z[o, y, x] = Σ_{c, i, j} K[o, c, i, j] · x_pad[c, y s_h + i, x s_w + j]`
//!
//! (cross-correlation, as PyTorch's `Conv2d`), with
//! `H_out = ⌊(H + 2 p_h − k_h) / s_h⌋ + 1` and likewise for the width. The
//! decoder of a **tied** pair is `conv_transpose2d` with the *same* `K` (as
//! PyTorch's `ConvTranspose2d` whose weight is `K`), which is exactly the
//! adjoint of the encoder: `⟨conv(x), y⟩ = ⟨x, conv_transpose(y)⟩`. An
//! **untied** pair has its own decoder kernel of the same shape.
//!
//! Rows of a data matrix are flattened images, channel by channel, each
//! channel row-major (`index = c·H·W + y·W + x`), as the datasets store them.
//! A kernel is stored as a `C_out x (C_in·k_h·k_w)` matrix whose row `o` is
//! output channel `o`'s filter flattened the same way (so its row-major flat
//! form is PyTorch's `weight.flatten()`).
//!
//! # Parameter counts
//! With `k = C_in·k_h·k_w` entries per filter:
//! - tied pair: `C_out·k` weights;
//! - untied pair: `2·C_out·k` weights;
//! - biases: `C_out + C_in` with [`super::BiasMode::Separate`] (one encoder
//!   bias per output channel, one decoder bias per input channel, shared over
//!   pixels), `0` with [`super::BiasMode::None`].
//!
//! A dense tied pair `d → r` has `d·r` weights and `d + r` separate biases,
//! so a conv pair is far smaller than a dense one of the same widths.
//!
//! # Bias modes
//! Conv pairs support `None` and `Separate` (per-channel). `Mirrored` and
//! `PreCentering` are rejected with [`Error::Config`]: their per-pixel forms
//! would break translation equivariance and their per-channel forms are not
//! implemented.
//!
//! # Uncovered pixels
//! When `(H + 2p − k)` is not a multiple of the stride, the last rows or
//! columns of the input fall in no window. The encoder ignores them and the
//! decoder (the exact adjoint) writes only its bias there, as PyTorch's
//! `ConvTranspose2d` with `output_padding` does.

use super::checks::check_finite;
use crate::error::{Error, Result};
use crate::real::Real;
use nalgebra::DMatrix;
use serde::{Deserialize, Serialize};

pub(crate) mod kernels;

/// The shape `(channels, height, width)` of an image or a stack of feature maps.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImageShape {
    /// Number of channels.
    pub channels: usize,
    /// Rows per channel.
    pub height: usize,
    /// Columns per channel.
    pub width: usize,
}

impl ImageShape {
    /// `(channels, height, width)`.
    pub fn new(channels: usize, height: usize, width: usize) -> Self {
        ImageShape {
            channels,
            height,
            width,
        }
    }

    /// Pixels per channel, `height · width`.
    pub fn pixels(&self) -> usize {
        self.height * self.width
    }

    /// Flattened length `channels · height · width` (a data matrix's width).
    pub fn len(&self) -> usize {
        self.channels * self.pixels()
    }

    /// Whether the shape holds no values.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn checked_len(&self) -> Option<usize> {
        self.channels
            .checked_mul(self.height)?
            .checked_mul(self.width)
    }
}

/// One conv pair of an [`super::AutoencoderSpec`]: the encoder's output
/// channels, kernel size, stride and zero padding, each `[vertical, horizontal]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConvSpec {
    /// Channels of the encoder's output.
    pub out_channels: usize,
    /// Kernel `[k_h, k_w]`.
    pub kernel: [usize; 2],
    /// Stride `[s_h, s_w]`.
    pub stride: [usize; 2],
    /// Zero padding `[p_h, p_w]` on each side.
    pub padding: [usize; 2],
}

impl ConvSpec {
    /// A square kernel with equal strides and paddings in both directions.
    pub fn new(out_channels: usize, kernel: usize, stride: usize, padding: usize) -> Self {
        ConvSpec {
            out_channels,
            kernel: [kernel, kernel],
            stride: [stride, stride],
            padding: [padding, padding],
        }
    }
}

/// The conv front of an autoencoder: the input image shape and the conv
/// pairs that come first in the stack (dense pairs may follow).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConvStack {
    /// Shape of one input row.
    pub image: ImageShape,
    /// The conv pairs, outermost first.
    pub layers: Vec<ConvSpec>,
}

impl ConvStack {
    /// The geometry of every conv pair, each fed by the previous one's
    /// output, or a [`Error::Config`] naming the first impossible one.
    pub fn geometries(&self) -> Result<Vec<Conv2d>> {
        let mut shape = self.image;
        let mut out = Vec::with_capacity(self.layers.len());
        for (l, spec) in self.layers.iter().enumerate() {
            let g = Conv2d::new(shape, spec).map_err(|e| match e {
                Error::Config { reason, .. } => {
                    Error::config("conv", format!("conv pair {l}: {reason}"))
                }
                other => other,
            })?;
            shape = g.output();
            out.push(g);
        }
        Ok(out)
    }
}

/// The geometry of one convolution: input and output shapes, kernel, stride
/// and padding. Built by [`Conv2d::new`], which validates it, so every
/// `Conv2d` has a non-empty output in which each window touches the image.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Conv2d {
    input: ImageShape,
    output: ImageShape,
    kernel: [usize; 2],
    stride: [usize; 2],
    padding: [usize; 2],
}

impl Conv2d {
    /// The geometry of `spec` applied to images of shape `input`.
    ///
    /// Errors ([`Error::Config`], field `"conv"`) on zero channels, sizes,
    /// kernels or strides; on padding not smaller than the kernel (some
    /// windows would see only zeros); on a kernel larger than the padded
    /// image; and on sizes whose products overflow.
    pub fn new(input: ImageShape, spec: &ConvSpec) -> Result<Self> {
        let bad = |reason: String| Err(Error::config("conv", reason));
        if input.channels == 0 || input.height == 0 || input.width == 0 {
            return bad(format!("input shape {input:?} has a zero dimension"));
        }
        if spec.out_channels == 0 {
            return bad("out_channels is zero".into());
        }
        let mut out_size = [0usize; 2];
        let in_size = [input.height, input.width];
        for (a, axis) in ["height", "width"].into_iter().enumerate() {
            let (n, k, s, p) = (in_size[a], spec.kernel[a], spec.stride[a], spec.padding[a]);
            if k == 0 || s == 0 {
                return bad(format!(
                    "kernel {k} and stride {s} along the {axis} must be positive"
                ));
            }
            if p >= k {
                return bad(format!(
                    "padding {p} along the {axis} must be smaller than the kernel {k}, \
                     or some windows would see only padding"
                ));
            }
            let padded = n.checked_add(2 * p).filter(|&v| v >= k);
            let Some(padded) = padded else {
                return bad(format!(
                    "kernel {k} is larger than the padded {axis} {n} + 2·{p}"
                ));
            };
            out_size[a] = (padded - k) / s + 1;
        }
        let output = ImageShape::new(spec.out_channels, out_size[0], out_size[1]);
        let weights = spec.kernel[0]
            .checked_mul(spec.kernel[1])
            .and_then(|k| k.checked_mul(input.channels))
            .and_then(|k| k.checked_mul(spec.out_channels));
        if input.checked_len().is_none() || output.checked_len().is_none() || weights.is_none() {
            return bad(format!(
                "sizes overflow: input {input:?}, output {output:?}, kernel {:?}",
                spec.kernel
            ));
        }
        Ok(Conv2d {
            input,
            output,
            kernel: spec.kernel,
            stride: spec.stride,
            padding: spec.padding,
        })
    }

    /// Shape of the encoder's input (the decoder's output).
    pub fn input(&self) -> ImageShape {
        self.input
    }

    /// Shape of the encoder's output (the decoder's input).
    pub fn output(&self) -> ImageShape {
        self.output
    }

    /// Kernel `[k_h, k_w]`.
    pub fn kernel(&self) -> [usize; 2] {
        self.kernel
    }

    /// Stride `[s_h, s_w]`.
    pub fn stride(&self) -> [usize; 2] {
        self.stride
    }

    /// Padding `[p_h, p_w]`.
    pub fn padding(&self) -> [usize; 2] {
        self.padding
    }

    /// The spec this geometry was built from.
    pub fn spec(&self) -> ConvSpec {
        ConvSpec {
            out_channels: self.output.channels,
            kernel: self.kernel,
            stride: self.stride,
            padding: self.padding,
        }
    }

    /// Entries per filter, `C_in · k_h · k_w`: the kernel matrix's width.
    pub fn filter_len(&self) -> usize {
        self.input.channels * self.kernel[0] * self.kernel[1]
    }

    /// The kernel matrix's shape, `(C_out, C_in · k_h · k_w)`.
    pub fn kernel_shape(&self) -> (usize, usize) {
        (self.output.channels, self.filter_len())
    }

    /// Number of kernel entries, `C_out · C_in · k_h · k_w`.
    pub fn weight_count(&self) -> usize {
        self.output.channels * self.filter_len()
    }

    /// Glorot fan of the kernel, `(C_in + C_out) · k_h · k_w` (fan-in plus
    /// fan-out of one output value, as Keras and PyTorch count them).
    pub fn fan(&self) -> usize {
        (self.input.channels + self.output.channels) * self.kernel[0] * self.kernel[1]
    }

    /// Checks a kernel matrix's shape and entries.
    pub fn check_kernel<T: Real>(&self, kernel: &DMatrix<T>) -> Result<()> {
        let want = self.kernel_shape();
        if kernel.shape() != want {
            return Err(Error::Shape(format!(
                "kernel is {}x{}, the geometry needs {}x{} (C_out x C_in·k_h·k_w)",
                kernel.nrows(),
                kernel.ncols(),
                want.0,
                want.1
            )));
        }
        check_finite(kernel, "kernel")
    }
}
