//! First-order update rules over the flat parameter vector.
//!
//! Updates are element-wise, so they run in parallel over fixed-size chunks
//! without changing a single bit of the result. Moment buffers are kept in
//! the model's scalar type (as PyTorch does), and serialized through f64,
//! which round-trips f32 exactly.

use super::config::Optimizer;
use crate::model::all_finite;
use crate::real::Real;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// Parameters per parallel update chunk: large enough to amortise the task,
/// small enough to split a 50k-parameter model across two cores.
pub(crate) const CHUNK: usize = 8192;

/// Optimizer memory: the step count and up to two moment buffers.
#[derive(Clone, Debug, PartialEq)]
pub struct OptimizerState<T: Real> {
    /// Updates applied so far.
    pub step: u64,
    /// SGD velocity or Adam's first moment (empty when unused).
    pub m: Vec<T>,
    /// Adam's second moment (empty when unused).
    pub v: Vec<T>,
}

/// The serialized form of [`OptimizerState`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OptimizerStateFile {
    pub step: u64,
    pub m: Vec<f64>,
    pub v: Vec<f64>,
}

impl<T: Real> OptimizerState<T> {
    /// Fresh state for `n` parameters under `opt`.
    pub fn new(opt: &Optimizer, n: usize) -> Self {
        let (m, v) = match opt {
            Optimizer::Sgd { momentum, .. } if *momentum > 0.0 => (n, 0),
            Optimizer::Sgd { .. } | Optimizer::Lbfgs(_) => (0, 0),
            Optimizer::Adam { .. } | Optimizer::AdamW { .. } => (n, n),
        };
        OptimizerState {
            step: 0,
            m: vec![T::zero(); m],
            v: vec![T::zero(); v],
        }
    }

    /// To the file form.
    pub fn to_file(&self) -> OptimizerStateFile {
        OptimizerStateFile {
            step: self.step,
            m: self.m.iter().map(|x| x.f64()).collect(),
            v: self.v.iter().map(|x| x.f64()).collect(),
        }
    }

    /// From the file form; `None` when the buffer lengths do not fit `fresh`.
    pub fn from_file(f: &OptimizerStateFile, fresh: &Self) -> Option<Self> {
        if f.m.len() != fresh.m.len() || f.v.len() != fresh.v.len() {
            return None;
        }
        Some(OptimizerState {
            step: f.step,
            m: f.m.iter().map(|&x| T::of(x)).collect(),
            v: f.v.iter().map(|&x| T::of(x)).collect(),
        })
    }

    /// Applies one update of `opt` with rate `lr` to `params` from `grad`.
    /// Returns whether every parameter is finite afterwards, checked as each
    /// chunk is updated.
    ///
    /// AdamW's update is Adam's: its decoupled weight decay acts on the
    /// weight matrices only, which the update rule cannot tell apart, so the
    /// trainer applies it as a piece of its own just before this update.
    pub fn apply(&mut self, opt: &Optimizer, params: &mut [T], grad: &[T], lr: f64) -> bool {
        self.step += 1;
        match *opt {
            Optimizer::Sgd { momentum, nesterov } => sgd(
                params,
                grad,
                &mut self.m,
                lr,
                momentum,
                nesterov,
                self.step == 1,
            ),
            Optimizer::Adam { beta1, beta2, eps } | Optimizer::AdamW { beta1, beta2, eps } => adam(
                params,
                grad,
                &mut self.m,
                &mut self.v,
                lr,
                beta1,
                beta2,
                eps,
                self.step,
            ),
            // L-BFGS steps through argmin; it has no first-order update.
            Optimizer::Lbfgs(_) => all_finite(params),
        }
    }
}

fn sgd<T: Real>(
    params: &mut [T],
    grad: &[T],
    buf: &mut [T],
    lr: f64,
    momentum: f64,
    nesterov: bool,
    first: bool,
) -> bool {
    let lr = T::of(lr);
    if momentum == 0.0 {
        return params
            .par_chunks_mut(CHUNK)
            .zip(grad.par_chunks(CHUNK))
            .map(|(p, g)| {
                for (p, &g) in p.iter_mut().zip(g.iter()) {
                    *p -= lr * g;
                }
                all_finite(p)
            })
            .reduce(|| true, |a, b| a && b);
    }
    let mu = T::of(momentum);
    params
        .par_chunks_mut(CHUNK)
        .zip(grad.par_chunks(CHUNK))
        .zip(buf.par_chunks_mut(CHUNK))
        .map(|((p, g), b)| {
            for ((p, &g), b) in p.iter_mut().zip(g).zip(b.iter_mut()) {
                // PyTorch starts the velocity at the first gradient.
                *b = if first { g } else { mu * *b + g };
                let step = if nesterov { g + mu * *b } else { *b };
                *p -= lr * step;
            }
            all_finite(p)
        })
        .reduce(|| true, |a, b| a && b)
}

#[allow(clippy::too_many_arguments)]
fn adam<T: Real>(
    params: &mut [T],
    grad: &[T],
    m: &mut [T],
    v: &mut [T],
    lr: f64,
    beta1: f64,
    beta2: f64,
    eps: f64,
    step: u64,
) -> bool {
    let t = step.min(i32::MAX as u64) as i32;
    let bc1 = 1.0 - beta1.powi(t);
    let bc2 = 1.0 - beta2.powi(t);
    // PyTorch's arrangement: p -= (lr / bc1) m / (sqrt(v) / sqrt(bc2) + eps).
    let step_size = T::of(lr / bc1);
    let inv_sqrt_bc2 = T::of(1.0 / bc2.sqrt());
    let (b1, b2) = (T::of(beta1), T::of(beta2));
    let (c1, c2) = (T::of(1.0 - beta1), T::of(1.0 - beta2));
    let k = AdamStep {
        step_size,
        inv_sqrt_bc2,
        b1,
        b2,
        c1,
        c2,
        eps: T::of(eps),
    };
    params
        .par_chunks_mut(CHUNK)
        .zip(grad.par_chunks(CHUNK))
        .zip(m.par_chunks_mut(CHUNK).zip(v.par_chunks_mut(CHUNK)))
        .map(|((p, g), (m, v))| adam_chunk(p, g, m, v, k))
        .reduce(|| true, |a, b| a && b)
}

/// The per-step constants of [`adam`].
#[derive(Clone, Copy)]
struct AdamStep<T> {
    step_size: T,
    inv_sqrt_bc2: T,
    b1: T,
    b2: T,
    c1: T,
    c2: T,
    eps: T,
}

multiversion! {
    /// Adam's update of one chunk; whether every updated parameter is
    /// finite. The check is an AND over the chunk with no early exit, so the
    /// loop still vectorises (8 or 16 lanes of f32), and it spares the
    /// trainer a separate scan of the parameters after every batch.
    #[allow(clippy::eq_op)]
    fn adam_chunk<T: Real>(p: &mut [T], g: &[T], m: &mut [T], v: &mut [T], k: AdamStep<T>) -> bool {
        let mut finite = true;
        for (((p, &g), m), v) in p.iter_mut().zip(g).zip(m.iter_mut()).zip(v.iter_mut()) {
            *m = k.b1 * *m + k.c1 * g;
            *v = k.b2 * *v + k.c2 * g * g;
            let denom = v.sqrt() * k.inv_sqrt_bc2 + k.eps;
            *p -= k.step_size * *m / denom;
            finite &= *p - *p == T::zero();
        }
        finite
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Adam's first step moves every parameter by lr against the gradient
    /// sign (bias correction makes m̂/√v̂ = g/|g|), up to ε.
    #[test]
    fn adam_first_step_is_lr_times_sign() {
        let opt = Optimizer::adam();
        let mut st = OptimizerState::<f64>::new(&opt, 3);
        let mut p = vec![1.0, 2.0, 3.0];
        st.apply(&opt, &mut p, &[0.5, -4.0, 1e-3], 0.1);
        let want = [0.9, 2.1, 2.9];
        for (a, b) in p.iter().zip(want) {
            assert!((a - b).abs() < 1e-6, "{a} vs {b}");
        }
    }

    /// Heavy-ball momentum on a constant gradient: steps lr g (1 + μ + μ² ...).
    #[test]
    fn momentum_accumulates_geometrically() {
        let opt = Optimizer::momentum(0.5);
        let mut st = OptimizerState::<f64>::new(&opt, 1);
        let mut p = vec![0.0];
        for _ in 0..3 {
            st.apply(&opt, &mut p, &[1.0], 1.0);
        }
        // velocities 1, 1.5, 1.75
        assert!((p[0] + 4.25).abs() < 1e-12);
    }

    /// Nesterov steps g + μ v: with constant g and μ = 0.5 the first step is 1.5.
    #[test]
    fn nesterov_looks_ahead() {
        let opt = Optimizer::nesterov(0.5);
        let mut st = OptimizerState::<f64>::new(&opt, 1);
        let mut p = vec![0.0];
        st.apply(&opt, &mut p, &[1.0], 1.0);
        assert!((p[0] + 1.5).abs() < 1e-12);
    }

    #[test]
    fn state_round_trips_through_the_file_form() {
        let opt = Optimizer::adam();
        let mut st = OptimizerState::<f32>::new(&opt, 2);
        let mut p = vec![0.3f32, -0.7];
        st.apply(&opt, &mut p, &[0.1, 0.2], 0.01);
        let back = OptimizerState::from_file(&st.to_file(), &OptimizerState::new(&opt, 2)).unwrap();
        assert_eq!(back, st);
        assert!(
            OptimizerState::from_file(&st.to_file(), &OptimizerState::<f32>::new(&opt, 3))
                .is_none()
        );
    }
}
