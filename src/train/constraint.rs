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

/// Partial sums a contiguous direction's dot products keep: the terms go
/// to `LANES` interleaved sums (entry `j` to sum `j mod LANES`), added up
/// in lane order at the end. The order is fixed, so results do not depend
/// on the machine or the thread count, and the lanes let the compiler
/// vectorise what would otherwise be one sequential f64 chain per
/// direction.
const LANES: usize = 8;

/// `Σ_j a_j b_j` in f64, in the lane order of [`LANES`].
fn lane_dot<T: Real>(a: &[T], b: &[T]) -> f64 {
    let mut acc = [0.0f64; LANES];
    let (ca, cb) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for l in 0..LANES {
            acc[l] += x[l].f64() * y[l].f64();
        }
    }
    for (l, (x, y)) in ra.iter().zip(rb).enumerate() {
        acc[l] += x.f64() * y.f64();
    }
    acc.iter().fold(0.0, |s, &v| s + v)
}

/// The constrained directions' dot products `Σ_j a_ij b_ij` (f64), walking
/// the buffers in memory order: a direction at a time when its entries
/// are adjacent (a tied `W`'s rows; lane sums, [`lane_dot`]), an entry of
/// every direction at a time when the directions are (an untied `W_dec`'s
/// columns, one row holding entry `j` of each; per direction the terms
/// add in the order `j = 0, 1, …`). Neither walks with a row's stride.
fn direction_dots<T: Real>(dirs: &DirectionSlots, a: &[T], b: &[T]) -> Vec<f64> {
    let mut sums = vec![0.0f64; dirs.count];
    if dirs.stride == 1 {
        for (i, s) in sums.iter_mut().enumerate() {
            let r = dirs.at(i, 0)..dirs.at(i, 0) + dirs.len;
            *s = lane_dot(&a[r.clone()], &b[r]);
        }
    } else if dirs.step == 1 {
        for j in 0..dirs.len {
            let r = dirs.at(0, j)..dirs.at(0, j) + dirs.count;
            for ((s, x), y) in sums.iter_mut().zip(&a[r.clone()]).zip(&b[r]) {
                *s += x.f64() * y.f64();
            }
        }
    } else {
        for (i, s) in sums.iter_mut().enumerate() {
            for j in 0..dirs.len {
                let k = dirs.at(i, j);
                *s += a[k].f64() * b[k].f64();
            }
        }
    }
    sums
}

/// Calls `f(i, k)` for every entry `k` (a flat index) of every
/// constrained direction `i`, in memory order as [`direction_dots`] walks
/// the buffers. Each entry is visited once, so the order does not change
/// what `f` writes.
fn direction_update(dirs: &DirectionSlots, mut f: impl FnMut(usize, usize)) {
    if dirs.step == 1 && dirs.stride != 1 {
        for j in 0..dirs.len {
            for i in 0..dirs.count {
                f(i, dirs.at(i, j));
            }
        }
    } else {
        for i in 0..dirs.count {
            for j in 0..dirs.len {
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
    let gw = direction_dots(&dirs, grad, params);
    let ww = direction_dots(&dirs, params, params);
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
    let norms: Vec<Option<f64>> = direction_dots(&dirs, params, params)
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
    Ok(direction_dots(&dirs, params, params)
        .into_iter()
        .map(f64::sqrt)
        .collect())
}
