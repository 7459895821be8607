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

multiversion! {
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
                add_products(group, x, y);
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

multiversion! {
    /// `s_i += x_i y_i` in f64: one entry of each of a group of
    /// interleaved directions.
    fn add_products<T: Real>(s: &mut [f64], x: &[T], y: &[T]) {
        for ((s, x), y) in s.iter_mut().zip(x).zip(y) {
            *s += x.f64() * y.f64();
        }
    }
}

multiversion! {
    /// `v_j ← v_j − c p_j` (in f64): one direction.
    fn remove_along<T: Real>(v: &mut [T], p: &[T], c: f64) {
        for (v, p) in v.iter_mut().zip(p) {
            *v = T::of(v.f64() - c * p.f64());
        }
    }
}

multiversion! {
    /// `v_j ← v_j / c` (in f64): one direction.
    fn divide_by<T: Real>(v: &mut [T], c: f64) {
        for v in v.iter_mut() {
            *v = T::of(v.f64() / c);
        }
    }
}

multiversion! {
    /// `v_i ← v_i − c_i p_i` (in f64) where `c_i` is not NaN: one entry of
    /// each interleaved direction. Every update is computed and then kept
    /// or not, so the loop has no branch.
    fn remove_each<T: Real>(v: &mut [T], p: &[T], c: &[f64]) {
        for ((v, p), &c) in v.iter_mut().zip(p).zip(c) {
            let updated = T::of(v.f64() - c * p.f64());
            *v = if c.is_nan() { *v } else { updated };
        }
    }
}

multiversion! {
    /// `v_i ← v_i / c_i` (in f64) where `c_i` is not NaN (see
    /// [`remove_each`]).
    fn divide_each<T: Real>(v: &mut [T], c: &[f64]) {
        for (v, &c) in v.iter_mut().zip(c) {
            let updated = T::of(v.f64() / c);
            *v = if c.is_nan() { *v } else { updated };
        }
    }
}

/// What [`direction_update`] does to an entry `v` (flat index `k`) of
/// direction `i` with coefficient `c_i`.
#[derive(Clone, Copy)]
enum Update<'a, T> {
    /// `v − c_i p_k`: removes the component along the directions `p`.
    Remove(&'a [T]),
    /// `v / c_i`: rescales.
    Divide,
}

impl<T: Real> Update<'_, T> {
    #[inline(always)]
    fn apply(self, c: f64, v: T, k: usize) -> T {
        match self {
            Update::Remove(p) => T::of(v.f64() - c * p[k].f64()),
            Update::Divide => T::of(v.f64() / c),
        }
    }
}

/// Applies `update` to every entry of every constrained direction `i` of
/// `data` whose coefficient `coef[i]` is `Some` (the others are left as
/// they are), in parallel over directions (contiguous ones) or over entry
/// rows (interleaved ones). Each entry is written once from its own
/// value, so the order cannot change a bit.
fn direction_update<T: Real>(
    dirs: &DirectionSlots,
    data: &mut [T],
    coef: &[Option<f64>],
    update: Update<'_, T>,
) {
    if dirs.count == 0 || dirs.len == 0 {
        return;
    }
    match walk(dirs) {
        Walk::Contiguous => {
            // Up to the last direction's last entry: a chunk per direction.
            let span = &mut data[dirs.start..dirs.at(dirs.count - 1, dirs.len - 1) + 1];
            span.par_chunks_mut(dirs.step.max(1))
                .zip(coef)
                .enumerate()
                .for_each(|(i, (dir, c))| {
                    if let Some(c) = *c {
                        let at = dirs.at(i, 0);
                        let dir = &mut dir[..dirs.len];
                        match update {
                            Update::Remove(p) => remove_along(dir, &p[at..at + dirs.len], c),
                            Update::Divide => divide_by(dir, c),
                        }
                    }
                });
        }
        Walk::Interleaved => {
            // NaN marks a direction left alone, so the loop over a row has
            // no branch: each entry's update is computed, then kept or not.
            let coef: Vec<f64> = coef.iter().map(|c| c.unwrap_or(f64::NAN)).collect();
            // Up to the last row's last entry: a chunk per entry row.
            let span = &mut data[dirs.start..dirs.at(dirs.count - 1, dirs.len - 1) + 1];
            span.par_chunks_mut(dirs.stride.max(1))
                .enumerate()
                .for_each(|(j, row)| {
                    let at = dirs.at(0, j);
                    let row = &mut row[..dirs.count];
                    match update {
                        Update::Remove(p) => remove_each(row, &p[at..at + dirs.count], &coef),
                        Update::Divide => divide_each(row, &coef),
                    }
                });
        }
        Walk::Strided => {
            for (i, c) in coef.iter().enumerate() {
                let Some(c) = *c else { continue };
                for j in 0..dirs.len {
                    let k = dirs.at(i, j);
                    data[k] = update.apply(c, data[k], k);
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
    direction_update(&dirs, grad, &c, Update::Remove(params));
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
    direction_update(&dirs, params, &norms, Update::Divide);
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
