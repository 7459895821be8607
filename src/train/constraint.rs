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
use rayon::prelude::*;

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

/// How a layout's directions lie in the flat buffer, for the walks below.
#[derive(Clone, Copy)]
enum Walk {
    /// Each direction's entries adjacent (a tied `W`'s rows): direction
    /// `i` is `len` entries from `start + i step`.
    Contiguous,
    /// The directions adjacent, entry by entry (an untied `W_dec`'s
    /// columns): entry `j` of every direction is `count` entries from
    /// `start + j stride`.
    Interleaved,
    /// Anything else, walked entry by entry.
    Strided,
}

fn walk(dirs: &DirectionSlots) -> Walk {
    if dirs.stride == 1 && dirs.step >= dirs.len {
        Walk::Contiguous
    } else if dirs.step == 1 && dirs.stride >= dirs.count {
        Walk::Interleaved
    } else {
        Walk::Strided
    }
}

/// Directions per parallel task of [`direction_dots`]: enough work to
/// outweigh a task's cost, and a fixed grouping (each direction's sum is
/// computed by one task in its own order, so the grouping does not change
/// any bit either).
const DIRECTIONS_PER_TASK: usize = 64;

/// The constrained directions' dot products `Σ_j a_ij b_ij` (f64), walking
/// the buffers in memory order: a direction at a time when its entries
/// are adjacent (lane sums, [`lane_dot`]), an entry of every direction at
/// a time when the directions are (per direction the terms add in the
/// order `j = 0, 1, …`). Neither walks with a row's stride. Groups of
/// directions run in parallel; each direction's sum is one task's, in the
/// same order whatever the thread count.
fn direction_dots<T: Real>(dirs: &DirectionSlots, a: &[T], b: &[T]) -> Vec<f64> {
    let mut sums = vec![0.0f64; dirs.count];
    let tasks = sums.par_chunks_mut(DIRECTIONS_PER_TASK).enumerate();
    match walk(dirs) {
        Walk::Contiguous => tasks.for_each(|(t, group)| {
            for (g, s) in group.iter_mut().enumerate() {
                let at = dirs.at(t * DIRECTIONS_PER_TASK + g, 0);
                *s = lane_dot(&a[at..at + dirs.len], &b[at..at + dirs.len]);
            }
        }),
        Walk::Interleaved => tasks.for_each(|(t, group)| {
            let i0 = t * DIRECTIONS_PER_TASK;
            for j in 0..dirs.len {
                let at = dirs.at(i0, j);
                let (x, y) = (&a[at..at + group.len()], &b[at..at + group.len()]);
                for ((s, x), y) in group.iter_mut().zip(x).zip(y) {
                    *s += x.f64() * y.f64();
                }
            }
        }),
        Walk::Strided => {
            for (i, s) in sums.iter_mut().enumerate() {
                for j in 0..dirs.len {
                    let k = dirs.at(i, j);
                    *s += a[k].f64() * b[k].f64();
                }
            }
        }
    }
    sums
}

/// Sets every entry `v` of every constrained direction `i` of `data` to
/// `f(i, v, k)`, `k` the entry's flat index, in parallel over directions
/// (contiguous ones) or over entry rows (interleaved ones). Each entry is
/// written once from its own value, so the order cannot change a bit.
fn direction_update<T: Real>(
    dirs: &DirectionSlots,
    data: &mut [T],
    f: impl Fn(usize, T, usize) -> T + Sync,
) {
    match walk(dirs) {
        Walk::Contiguous => {
            let span = &mut data[dirs.start..dirs.start + dirs.count * dirs.step];
            span.par_chunks_mut(dirs.step.max(1))
                .enumerate()
                .for_each(|(i, dir)| {
                    let at = dirs.at(i, 0);
                    for (j, v) in dir[..dirs.len].iter_mut().enumerate() {
                        *v = f(i, *v, at + j);
                    }
                });
        }
        Walk::Interleaved => {
            let span = &mut data[dirs.start..dirs.start + dirs.len * dirs.stride];
            span.par_chunks_mut(dirs.stride.max(1))
                .enumerate()
                .for_each(|(j, row)| {
                    let at = dirs.at(0, j);
                    for (i, v) in row[..dirs.count].iter_mut().enumerate() {
                        *v = f(i, *v, at + i);
                    }
                });
        }
        Walk::Strided => {
            for i in 0..dirs.count {
                for j in 0..dirs.len {
                    let k = dirs.at(i, j);
                    data[k] = f(i, data[k], k);
                }
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
    direction_update(&dirs, grad, |i, g, k| match c[i] {
        Some(c) => T::of(g.f64() - c * params[k].f64()),
        None => g,
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
    direction_update(&dirs, params, |i, p, _| match norms[i] {
        Some(norm) => T::of(p.f64() / norm),
        None => p,
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
