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

/// Per constrained direction `i`, `Σ_j f(i, flat index of entry j)` in
/// f64, each sum in the order `j = 0, 1, …`. The loops run in memory
/// order: directions outermost when a direction's entries are adjacent
/// (a tied `W`'s rows), entries outermost when the directions are (an
/// untied `W_dec`'s columns, one entry of every direction per row), so
/// neither layout walks the buffer with a stride of a whole row. Both
/// orders add the same terms in the same order per direction, so the
/// sums are the same to the bit.
fn direction_sums(dirs: &DirectionSlots, mut f: impl FnMut(usize) -> f64) -> Vec<f64> {
    let mut sums = vec![0.0f64; dirs.count];
    if dirs.stride == 1 || dirs.count <= 1 {
        for (i, s) in sums.iter_mut().enumerate() {
            for j in 0..dirs.len {
                *s += f(dirs.at(i, j));
            }
        }
    } else {
        for j in 0..dirs.len {
            for (i, s) in sums.iter_mut().enumerate() {
                *s += f(dirs.at(i, j));
            }
        }
    }
    sums
}

/// Sets every entry of each constrained direction `i` to `f(i, flat
/// index)`, in memory order as [`direction_sums`] walks it.
fn direction_update(dirs: &DirectionSlots, mut f: impl FnMut(usize, usize)) {
    if dirs.stride == 1 || dirs.count <= 1 {
        for i in 0..dirs.count {
            for j in 0..dirs.len {
                f(i, dirs.at(i, j));
            }
        }
    } else {
        for j in 0..dirs.len {
            for i in 0..dirs.count {
                f(i, dirs.at(i, j));
            }
        }
    }
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
    let gw = direction_sums(&dirs, |k| grad[k].f64() * params[k].f64());
    let ww = direction_sums(&dirs, |k| params[k].f64().powi(2));
    // A zero (or non-finite) direction keeps its gradient: c = 0 would
    // rewrite each entry through f64 unchanged, but NaN must not spread.
    let c: Vec<Option<f64>> = gw
        .iter()
        .zip(&ww)
        .map(|(&g, &w)| (w != 0.0 && w.is_finite()).then(|| g / w))
        .collect();
    direction_update(&dirs, |i, k| {
        if let Some(c) = c[i] {
            grad[k] = T::of(grad[k].f64() - c * params[k].f64());
        }
    });
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
    let norms: Vec<Option<f64>> = direction_sums(&dirs, |k| params[k].f64().powi(2))
        .into_iter()
        .map(|ww| {
            let norm = ww.sqrt();
            (norm != 0.0 && norm.is_finite()).then_some(norm)
        })
        .collect();
    direction_update(&dirs, |i, k| {
        if let Some(norm) = norms[i] {
            params[k] = T::of(params[k].f64() / norm);
        }
    });
    Ok(())
}

/// The Euclidean norm of each constrained decoder direction (for tests and
/// monitoring). Errors when `params` does not fit the layout.
pub fn decoder_norms<T: Real>(layout: &ParamLayout, params: &[T]) -> Result<Vec<f64>> {
    check_len(layout, params.len(), "parameter vector")?;
    let Some(dirs) = constrained_directions(layout) else {
        return Ok(Vec::new());
    };
    Ok(direction_sums(&dirs, |k| params[k].f64().powi(2))
        .into_iter()
        .map(f64::sqrt)
        .collect())
}
