//! Input checks shared by the layer pairs, the conv maps and the stack.
//!
//! A leaf module (it names no layer or conv type), so every module that
//! validates inputs can use it without importing the layer pairs back.

use super::bias::{BiasMode, Biases};
use super::kernels::all_finite;
use crate::error::{Error, Result};
use crate::real::Real;
use nalgebra::DMatrix;

/// Checks that conv biases are per channel (`in_channels` decoder and
/// `out_channels` encoder entries) and of a supported mode. Takes the channel
/// counts rather than the geometry so this module does not depend on
/// [`super::conv`], which uses it.
pub(crate) fn check_conv_biases<T: Real>(
    in_channels: usize,
    out_channels: usize,
    biases: &Biases<T>,
) -> Result<()> {
    check_conv_bias_mode(biases.mode())?;
    biases.check(in_channels, out_channels)
}

/// Conv pairs support `None` and `Separate` biases only (see [`super::conv`]).
pub(crate) fn check_conv_bias_mode(mode: BiasMode) -> Result<()> {
    match mode {
        BiasMode::None | BiasMode::Separate => Ok(()),
        other => Err(Error::config(
            "bias",
            format!(
                "conv pairs support \"none\" or \"separate\" (per-channel) biases, not \"{}\"",
                other.name()
            ),
        )),
    }
}

/// Errors with the position of `m`'s first non-finite entry, if any.
pub(crate) fn check_finite<T: Real>(m: &DMatrix<T>, what: &str) -> Result<()> {
    if all_finite(m.as_slice()) {
        return Ok(());
    }
    match m.iter().position(|x| !x.is_finite()) {
        None => Ok(()),
        Some(k) => Err(Error::InvalidData(format!(
            "{what} has a non-finite entry at ({}, {})",
            k % m.nrows().max(1),
            k / m.nrows().max(1)
        ))),
    }
}

/// Checks that `x` has `cols` columns and only finite entries.
pub(crate) fn check_input<T: Real>(x: &DMatrix<T>, cols: usize, what: &str) -> Result<()> {
    if x.ncols() != cols {
        return Err(Error::Shape(format!(
            "{what} has {} columns, the layer expects {cols}",
            x.ncols()
        )));
    }
    check_finite(x, what)
}
