//! The unit-norm decoder constraint of sparse-autoencoder practice
//! (Gao et al. 2024; SAELens' `normalize_sae_decoder` and
//! `remove_gradient_parallel_to_decoder_directions`).
//!
//! An L1 or TopK code can be made cheaper by shrinking the code and growing
//! the decoder directions, so without a constraint the sparsity penalty
//! and the latents' scale are meaningless. Each decoder direction of the
//! latent pair (the dictionary; see
//! [`LayerSlots::decoder_directions`](crate::model::LayerSlots::decoder_directions))
//! is held at unit norm: before a step the gradient component parallel to
//! each direction is removed (the step then moves along the sphere to
//! first order, and Adam's moments do not accumulate a radial component
//! that renormalisation would undo), and after the step each direction is
//! rescaled to norm 1 (the projected step still leaves the sphere at second
//! order, and Adam rescales coordinates).
//!
//! Only the latent (last) pair is constrained: inner pairs of a deep stack
//! are not a dictionary. Dot products and norms are accumulated in f64 in
//! a fixed order, so the constraint keeps training deterministic.

use crate::error::{Error, Result};
use crate::model::{DirectionSlots, ParamLayout};
use crate::real::Real;

/// Checks that a flat buffer has the layout's length.
fn check_len(layout: &ParamLayout, len: usize, what: &str) -> Result<()> {
    if len != layout.len() {
        return Err(Error::Shape(format!(
            "{what} has {len} entries, the layout has {}",
            layout.len()
        )));
    }
    Ok(())
}

/// The decoder directions the constraint acts on: the latent pair's.
pub fn constrained_directions(layout: &ParamLayout) -> Option<DirectionSlots> {
    layout.layers().last().map(|s| s.decoder_directions())
}

/// Removes from `grad` the component parallel to each constrained decoder
/// direction of `params`: `g_i ← g_i − (g_i·w_i / w_i·w_i) w_i`. A zero
/// direction has no parallel component and is left alone. Errors when a
/// buffer does not fit the layout.
pub fn remove_parallel_gradient<T: Real>(
    layout: &ParamLayout,
    params: &[T],
    grad: &mut [T],
) -> Result<()> {
    check_len(layout, params.len(), "parameter vector")?;
    check_len(layout, grad.len(), "gradient")?;
    let Some(dirs) = constrained_directions(layout) else {
        return Ok(());
    };
    for i in 0..dirs.count {
        let (mut gw, mut ww) = (0.0f64, 0.0f64);
        for j in 0..dirs.len {
            let k = dirs.at(i, j);
            let w = params[k].f64();
            gw += grad[k].f64() * w;
            ww += w * w;
        }
        if ww == 0.0 || !ww.is_finite() {
            continue;
        }
        let c = gw / ww;
        for j in 0..dirs.len {
            let k = dirs.at(i, j);
            grad[k] = T::of(grad[k].f64() - c * params[k].f64());
        }
    }
    Ok(())
}

/// Rescales each constrained decoder direction of `params` to unit norm. A
/// zero direction cannot be normalised and is left at zero (it is not made
/// NaN). Errors when `params` does not fit the layout.
pub fn normalize_decoder<T: Real>(layout: &ParamLayout, params: &mut [T]) -> Result<()> {
    check_len(layout, params.len(), "parameter vector")?;
    let Some(dirs) = constrained_directions(layout) else {
        return Ok(());
    };
    for i in 0..dirs.count {
        let mut ww = 0.0f64;
        for j in 0..dirs.len {
            let w = params[dirs.at(i, j)].f64();
            ww += w * w;
        }
        let norm = ww.sqrt();
        if norm == 0.0 || !norm.is_finite() {
            continue;
        }
        for j in 0..dirs.len {
            let k = dirs.at(i, j);
            params[k] = T::of(params[k].f64() / norm);
        }
    }
    Ok(())
}

/// The Euclidean norm of each constrained decoder direction (for tests and
/// monitoring). Errors when `params` does not fit the layout.
pub fn decoder_norms<T: Real>(layout: &ParamLayout, params: &[T]) -> Result<Vec<f64>> {
    check_len(layout, params.len(), "parameter vector")?;
    let Some(dirs) = constrained_directions(layout) else {
        return Ok(Vec::new());
    };
    Ok((0..dirs.count)
        .map(|i| {
            (0..dirs.len)
                .map(|j| params[dirs.at(i, j)].f64().powi(2))
                .sum::<f64>()
                .sqrt()
        })
        .collect())
}
