//! JumpReLU with a learned threshold per latent, and its sparsity penalty,
//! as SAELens 6.x trains them (`sae_lens/saes/jumprelu_sae.py`).
//!
//! Each latent `i` has a threshold `θ_i = exp(ℓ_i)`, the model storing and
//! training `ℓ_i = log θ_i` (SAELens's `log_threshold`, so `θ_i > 0`
//! whatever the optimizer does). With the pre-activations `z` (rows are
//! samples), the code is
//!
//! `a_ni = z_ni · H(z_ni − θ_i)` (`JumpReLU.forward`: `x * (x > threshold)`),
//!
//! `H(u) = 1` for `u > 0`, else 0. With the rectangle kernel
//! `rect(u) = 1` for `−½ < u < ½`, else 0 (`rectangle`), and the bandwidth
//! `ε` of [`Activation::JumpRelu`](super::Activation::JumpRelu), the
//! backward passes are SAELens's autograd functions, for an upstream
//! gradient `g = ∂L/∂a`:
//!
//! - `JumpReLU.backward`: `∂L/∂z_ni = H(z_ni − θ_i) g_ni` (exact away from
//!   the threshold; no straight-through estimate for `z`) and the
//!   pseudo-gradient `∂L/∂θ_i = Σ_n −(θ_i/ε) rect((z_ni − θ_i)/ε) g_ni`;
//! - `Step.backward` (the L0 count `Step(z, θ) = H(z − θ)`): no gradient
//!   for `z`, and `∂L/∂θ_i = Σ_n −(1/ε) rect((z_ni − θ_i)/ε) g_ni`.
//!
//! The parameter is `ℓ`, so each `∂L/∂θ_i` is multiplied by
//! `∂θ_i/∂ℓ_i = θ_i` (autograd through SAELens's `threshold` property,
//! `torch.exp(self.log_threshold)`).
//!
//! The sparsity penalty is `calculate_aux_loss`'s `l0_loss`, with `c`
//! SAELens's `l0_coefficient` ([`LossConfig::l0`](super::LossConfig::l0))
//! and `N` the batch size, in one of the two
//! `jumprelu_sparsity_loss_mode`s ([`L0Mode`](super::L0Mode)):
//!
//! - `step` (Google DeepMind's L0, the default):
//!   `c · (1/N) Σ_n Σ_i Step(z_ni, θ_i)`, whose only gradient is
//!   `Step`'s pseudo-gradient with respect to `θ`;
//! - `tanh` (Anthropic's): `c · (1/N) Σ_n Σ_i tanh(s · a_ni · ‖d_i‖)`,
//!   `s` the `jumprelu_tanh_scale` and `‖d_i‖` the norm of latent `i`'s
//!   decoder direction (`W_dec.norm(dim=1)`): it **is** weighted by the
//!   decoder norms, so its gradient reaches the code (and through
//!   `JumpReLU.backward` both `z` and `θ`) and the decoder directions.
//!
//! SAELens's optional pre-activation loss (`pre_act_loss_coefficient`,
//! off by default) is not implemented.
//!
//! Everything is summed in f64; values are written back in the model's
//! precision. The comparisons `z > θ` are made in that precision, with
//! `θ = exp(ℓ)` rounded to it, so the code and the gradient's mask agree
//! bit for bit with the forward pass.

use super::loss::Normalizer;
use crate::real::Real;
use nalgebra::DMatrix;

/// SAELens's `rectangle`: 1 on the open interval `(−½, ½)`, 0 elsewhere.
pub fn rectangle(u: f64) -> f64 {
    if u > -0.5 && u < 0.5 { 1.0 } else { 0.0 }
}

/// The thresholds `θ_i = exp(ℓ_i)` of stored log-thresholds, rounded to the
/// model's precision (the exponential taken in f64).
pub(crate) fn thresholds<T: Real>(log_threshold: &[T]) -> Vec<T> {
    log_threshold.iter().map(|l| T::of(l.f64().exp())).collect()
}

/// `a = z · H(z − θ)`, column `i` of `z` against `theta[i]`.
pub(crate) fn forward<T: Real>(z: &DMatrix<T>, theta: &[T], a: &mut DMatrix<T>) {
    debug_assert_eq!(z.shape(), a.shape());
    debug_assert_eq!(z.ncols(), theta.len());
    let n = z.nrows();
    let zero = T::zero();
    let (src, dst) = (z.as_slice(), a.as_mut_slice());
    for (i, &t) in theta.iter().enumerate() {
        let col = i * n..(i + 1) * n;
        for (o, &v) in dst[col.clone()].iter_mut().zip(&src[col]) {
            *o = if v > t { v } else { zero };
        }
    }
}

/// `JumpReLU.backward`: on entry `da` holds `g = ∂L/∂a`, on return
/// `∂L/∂z = H(z − θ) g`; `g_log[i]` is **overwritten** with
/// `θ_i · Σ_n −(θ_i/ε) rect((z_ni − θ_i)/ε) g_ni`, the pseudo-gradient with
/// respect to `ℓ_i = log θ_i`.
pub(crate) fn backward<T: Real>(
    z: &DMatrix<T>,
    theta: &[T],
    bandwidth: f64,
    da: &mut DMatrix<T>,
    g_log: &mut [T],
) {
    debug_assert_eq!(z.shape(), da.shape());
    debug_assert_eq!(g_log.len(), theta.len());
    let n = z.nrows();
    let zero = T::zero();
    let (zs, ds) = (z.as_slice(), da.as_mut_slice());
    for (i, (&t, g)) in theta.iter().zip(g_log.iter_mut()).enumerate() {
        let th = t.f64();
        let col = i * n..(i + 1) * n;
        let mut sum = 0.0f64;
        for (d, &v) in ds[col.clone()].iter_mut().zip(&zs[col]) {
            sum += rectangle((v.f64() - th) / bandwidth) * d.f64();
            if v <= t {
                *d = zero;
            }
        }
        *g = T::of(th * (-(th / bandwidth) * sum));
    }
}

/// The `step` penalty `c · (1/N) Σ_n Σ_i H(z_ni − θ_i)` of the rows of `z`;
/// with `g_log`, `Step.backward`'s pseudo-gradient with respect to `ℓ`,
/// `θ_i · (c/N) Σ_n −(1/ε) rect((z_ni − θ_i)/ε)`, is **added** to it.
pub(crate) fn step_penalty<T: Real>(
    z: &DMatrix<T>,
    theta: &[T],
    bandwidth: f64,
    coefficient: f64,
    norm: Normalizer,
    mut g_log: Option<&mut [T]>,
) -> f64 {
    let n = z.nrows();
    let c = coefficient / norm.samples() as f64;
    let zs = z.as_slice();
    let mut count = 0usize;
    for (i, &t) in theta.iter().enumerate() {
        let col = &zs[i * n..(i + 1) * n];
        count += col.iter().filter(|&&v| v > t).count();
        if let Some(g) = g_log.as_deref_mut() {
            let th = t.f64();
            let s: f64 = col
                .iter()
                .map(|v| rectangle((v.f64() - th) / bandwidth))
                .sum();
            g[i] += T::of(th * (-(c / bandwidth) * s));
        }
    }
    c * count as f64
}

/// The `tanh` penalty `c · (1/N) Σ_n Σ_i tanh(s · a_ni · ‖d_i‖)` of the code
/// `a`, `norms[i] = ‖d_i‖`. With `da`, `∂/∂a_ni = (c/N) s ‖d_i‖ (1 − t_ni²)`
/// is **added** to it. Also returns, per latent, the derivative with
/// respect to the norm, `(c/N) Σ_n s a_ni (1 − t_ni²)`, which the caller
/// turns into the decoder directions' gradient (`· d_i / ‖d_i‖`).
pub(crate) fn tanh_penalty<T: Real>(
    a: &DMatrix<T>,
    norms: &[f64],
    scale: f64,
    coefficient: f64,
    norm: Normalizer,
    mut da: Option<&mut DMatrix<T>>,
) -> (f64, Vec<f64>) {
    debug_assert_eq!(a.ncols(), norms.len());
    let n = a.nrows();
    let c = coefficient / norm.samples() as f64;
    let mut sum = 0.0f64;
    let mut by_norm = vec![0.0f64; norms.len()];
    for (i, (&w, dn)) in norms.iter().zip(by_norm.iter_mut()).enumerate() {
        let col = i * n..(i + 1) * n;
        for (k, v) in a.as_slice()[col.clone()].iter().enumerate() {
            let v = v.f64();
            let t = (scale * v * w).tanh();
            sum += t;
            let sech2 = 1.0 - t * t;
            *dn += c * scale * v * sech2;
            if let Some(da) = da.as_deref_mut() {
                da.as_mut_slice()[col.start + k] += T::of(c * scale * w * sech2);
            }
        }
    }
    (c * sum, by_norm)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The kernel is 1 strictly inside (−½, ½) only.
    #[test]
    fn rectangle_is_open() {
        assert_eq!(rectangle(0.0), 1.0);
        assert_eq!(rectangle(0.49), 1.0);
        assert_eq!(rectangle(-0.49), 1.0);
        assert_eq!(rectangle(0.5), 0.0);
        assert_eq!(rectangle(-0.5), 0.0);
        assert_eq!(rectangle(3.0), 0.0);
    }

    /// Forward keeps values strictly above each column's threshold; the
    /// backward mask is the same set, and the θ pseudo-gradient counts
    /// only entries within ε/2 of the threshold.
    #[test]
    fn forward_and_backward_by_hand() {
        // Two rows, two latents; θ = (0.1, 1.0), ε = 0.2.
        let z = DMatrix::from_row_slice(2, 2, &[0.15, 0.95, 0.05, 2.0]);
        let theta = [0.1f64, 1.0];
        let mut a = DMatrix::zeros(2, 2);
        forward(&z, &theta, &mut a);
        assert_eq!(a, DMatrix::from_row_slice(2, 2, &[0.15, 0.0, 0.0, 2.0]));
        let mut da = DMatrix::from_row_slice(2, 2, &[1.0, 2.0, 3.0, 4.0]);
        let mut g = [0.0f64; 2];
        backward(&z, &theta, 0.2, &mut da, &mut g);
        assert_eq!(da, DMatrix::from_row_slice(2, 2, &[1.0, 0.0, 0.0, 4.0]));
        // Latent 0: both rows within 0.1 of θ = 0.1 → −(0.1/0.2)(1 + 3),
        // times θ = 0.1. Latent 1: only row 0 (0.95) → −(1/0.2)·2, times 1.
        let want0 = 0.1 * (-(0.1 / 0.2) * 4.0);
        let want1 = 1.0 * (-(1.0 / 0.2) * 2.0);
        assert!((g[0] - want0).abs() < 1e-15, "{} vs {want0}", g[0]);
        assert!((g[1] - want1).abs() < 1e-15, "{} vs {want1}", g[1]);
    }
}
