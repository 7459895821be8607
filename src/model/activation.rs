//! Activations and their derivatives.
//!
//! Derivatives are taken with respect to the pre-activation `z` but may also
//! use the cached output `a = f(z)`: sigmoid and tanh derivatives are cheapest
//! from `a`, and backprop always has both at hand.
//!
//! Every activation but [`Activation::TopK`] and [`Activation::BatchTopK`]
//! is element-wise. Those two compare entries (the units of one sample, or
//! every entry of a call), so they exist only on the matrix paths the stack
//! uses (`map_into`, `scale_by_derivative`); their scalar
//! [`Activation::apply`] is the identity of a kept unit.

use super::fastmath;
use crate::error::{Error, Result};
use crate::real::Real;
use nalgebra::DMatrix;
use serde::{Deserialize, Serialize};

/// A hidden-layer activation `f`.
///
/// Serialized with a `kind` tag, e.g. `{"kind":"leaky_relu","alpha":0.01}`;
/// `alpha` is required by the parametric kinds and rejected by the others.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "ActivationRepr", into = "ActivationRepr")]
pub enum Activation {
    /// `f(z) = z`: makes the autoencoder linear (the PCA-comparable case).
    Identity,
    /// `max(z, 0)`; derivative taken as 0 at `z = 0`.
    Relu,
    /// `z` for `z > 0`, `alpha z` otherwise; `alpha` in `[0, 1]`.
    LeakyRelu { alpha: f64 },
    /// `1 / (1 + e^{-z})`, evaluated without overflow for either sign with
    /// the vectorisable kernels of `fastmath` (f32 arithmetic for f32).
    Sigmoid,
    /// `tanh(z)`.
    Tanh,
    /// `ln(1 + e^z)`, evaluated as `max(z, 0) + ln1p(e^{-|z|})` so it never
    /// overflows.
    Softplus,
    /// `z` for `z > 0`, `alpha (e^z - 1)` otherwise; `alpha > 0`.
    Elu { alpha: f64 },
    /// GELU in its **tanh form** (as PyTorch's `approximate="tanh"`):
    /// `0.5 z (1 + tanh(sqrt(2/pi) (z + 0.044715 z^3)))`. The tanh form is
    /// used because it needs only elementary functions available for both
    /// `f32` and `f64` and its derivative is exact in closed form.
    Gelu,
    /// TopK (Makhzani & Frey 2013; Gao et al. 2024): per sample, keep the `k`
    /// largest pre-activations unchanged and set the others to zero, so the
    /// code has exactly `min(k, r)` active units whatever the data. Ties
    /// are broken towards the lower unit index, so the selection (and thus
    /// training) is deterministic. The derivative is 1 through the kept
    /// units and exactly 0 through the dropped ones; it is exact away from
    /// ties between the `k`-th and `(k+1)`-th largest values. `k >= 1`;
    /// `k >= r` keeps every unit (the identity).
    ///
    /// Kept values are not passed through a ReLU: the sparsity is the
    /// selection itself, and a negative kept value still carries
    /// reconstruction information.
    TopK { k: usize },
    /// BatchTopK (Bussmann et al. 2024): over the `n` rows of one call keep
    /// the `n·k` largest pre-activations, so samples share a budget of `k`
    /// active units on average instead of exactly `k` each. Ties are broken
    /// towards the lower row, then the lower unit index. The "batch" is
    /// what one call sees: in training a shard of
    /// [`TrainConfig::shard_size`](crate::train::TrainConfig::shard_size)
    /// rows (fixed, so results still do not depend on the thread count);
    /// at evaluation a row's code depends on the other rows of the call
    /// (the paper swaps in a learned threshold there; not implemented).
    BatchTopK { k: usize },
}

/// The output activation `g` of the last decoder layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutputActivation {
    /// Real-valued reconstructions (use with MSE).
    #[default]
    Identity,
    /// Reconstructions in `(0, 1)`; required by binary cross-entropy, which
    /// is computed from the logits (the output pre-activations).
    Sigmoid,
}

impl OutputActivation {
    /// The same function as a general [`Activation`].
    pub fn as_activation(self) -> Activation {
        match self {
            OutputActivation::Identity => Activation::Identity,
            OutputActivation::Sigmoid => Activation::Sigmoid,
        }
    }
}

/// The serialized form of [`Activation`]: a flat struct, so unknown fields
/// are rejected for every kind (serde's internally tagged enums accept them
/// silently on unit variants).
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ActivationRepr {
    kind: ActivationKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    alpha: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    k: Option<usize>,
}

#[derive(Clone, Copy, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum ActivationKind {
    Identity,
    Relu,
    LeakyRelu,
    Sigmoid,
    Tanh,
    Softplus,
    Elu,
    Gelu,
    TopK,
    BatchTopK,
}

impl From<Activation> for ActivationRepr {
    fn from(a: Activation) -> Self {
        let k = match a {
            Activation::TopK { k } | Activation::BatchTopK { k } => Some(k),
            _ => None,
        };
        let (kind, alpha) = match a {
            Activation::TopK { .. } => (ActivationKind::TopK, None),
            Activation::BatchTopK { .. } => (ActivationKind::BatchTopK, None),
            Activation::Identity => (ActivationKind::Identity, None),
            Activation::Relu => (ActivationKind::Relu, None),
            Activation::LeakyRelu { alpha } => (ActivationKind::LeakyRelu, Some(alpha)),
            Activation::Sigmoid => (ActivationKind::Sigmoid, None),
            Activation::Tanh => (ActivationKind::Tanh, None),
            Activation::Softplus => (ActivationKind::Softplus, None),
            Activation::Elu { alpha } => (ActivationKind::Elu, Some(alpha)),
            Activation::Gelu => (ActivationKind::Gelu, None),
        };
        ActivationRepr { kind, alpha, k }
    }
}

impl TryFrom<ActivationRepr> for Activation {
    type Error = String;
    fn try_from(r: ActivationRepr) -> std::result::Result<Self, String> {
        use ActivationKind as K;
        let act = match (r.kind, r.k) {
            (K::TopK, Some(k)) if r.alpha.is_none() => Activation::TopK { k },
            (K::BatchTopK, Some(k)) if r.alpha.is_none() => Activation::BatchTopK { k },
            (K::TopK | K::BatchTopK, Some(_)) => {
                return Err("unknown field `alpha` for top_k".into());
            }
            (K::TopK | K::BatchTopK, None) => return Err("missing field `k`".into()),
            (_, Some(_)) => return Err("unknown field `k` for this activation kind".into()),
            (_, None) => Self::scalar_kind(r.kind, r.alpha)?,
        };
        act.validate().map_err(|e| e.to_string())?;
        Ok(act)
    }
}

impl Activation {
    /// The kinds other than TopK from their serialized form.
    fn scalar_kind(kind: ActivationKind, alpha: Option<f64>) -> std::result::Result<Self, String> {
        use ActivationKind as K;
        let act = match (kind, alpha) {
            (K::LeakyRelu, Some(alpha)) => Activation::LeakyRelu { alpha },
            (K::Elu, Some(alpha)) => Activation::Elu { alpha },
            (K::LeakyRelu | K::Elu, None) => return Err("missing field `alpha`".into()),
            (_, Some(_)) => return Err("unknown field `alpha` for this activation kind".into()),
            (K::Identity, None) => Activation::Identity,
            (K::Relu, None) => Activation::Relu,
            (K::Sigmoid, None) => Activation::Sigmoid,
            (K::Tanh, None) => Activation::Tanh,
            (K::Softplus, None) => Activation::Softplus,
            (K::Gelu, None) => Activation::Gelu,
            (K::TopK | K::BatchTopK, None) => return Err("missing field `k`".into()),
        };
        Ok(act)
    }
}

const GELU_C: f64 = 0.797_884_560_802_865_4; // sqrt(2 / pi)
const GELU_K: f64 = 0.044_715;

use super::fastmath::{sigmoid_t as sigmoid, softplus_t as softplus};

impl Activation {
    /// Every element-wise activation, with representative parameters (for
    /// tests and sweeps); a constant like
    /// [`BiasMode::ALL`](crate::model::BiasMode::ALL).
    ///
    /// [`Activation::TopK`] and [`Activation::BatchTopK`] are not listed:
    /// the every-activation sweeps (the dense and conv finite-difference
    /// tests) count their cases for the element-wise kinds, and require a
    /// decoder-part gradient large enough to test on nearly every tied
    /// pair, which a k-sparse code on a 4-row batch (and on the conv
    /// stacks' wide layers) does not always give. They have their own
    /// sweep in `tests/gradients.rs`, reseeded away from selection ties by
    /// the shared `near_kink`.
    pub const ALL: [Activation; 8] = [
        Activation::Identity,
        Activation::Relu,
        Activation::LeakyRelu { alpha: 0.1 },
        Activation::Sigmoid,
        Activation::Tanh,
        Activation::Softplus,
        Activation::Elu { alpha: 1.0 },
        Activation::Gelu,
    ];

    /// [`Activation::ALL`] as a vector.
    pub fn all() -> Vec<Activation> {
        Activation::ALL.to_vec()
    }

    /// A short name for tables and file names, e.g. `"leaky_relu(0.1)"`.
    pub fn name(&self) -> String {
        match self {
            Activation::Identity => "identity".into(),
            Activation::Relu => "relu".into(),
            Activation::LeakyRelu { alpha } => format!("leaky_relu({alpha})"),
            Activation::Sigmoid => "sigmoid".into(),
            Activation::Tanh => "tanh".into(),
            Activation::Softplus => "softplus".into(),
            Activation::Elu { alpha } => format!("elu({alpha})"),
            Activation::Gelu => "gelu".into(),
            Activation::TopK { k } => format!("top_k({k})"),
            Activation::BatchTopK { k } => format!("batch_top_k({k})"),
        }
    }

    /// Checks the parameters of parametric activations.
    pub fn validate(&self) -> Result<()> {
        match *self {
            Activation::LeakyRelu { alpha }
                if !(alpha.is_finite() && (0.0..=1.0).contains(&alpha)) =>
            {
                Err(Error::config(
                    "activation",
                    format!("leaky_relu alpha must be in [0, 1], got {alpha}"),
                ))
            }
            Activation::Elu { alpha } if !(alpha.is_finite() && alpha > 0.0) => Err(Error::config(
                "activation",
                format!("elu alpha must be finite and > 0, got {alpha}"),
            )),
            Activation::TopK { k: 0 } | Activation::BatchTopK { k: 0 } => Err(Error::config(
                "activation",
                "top_k needs k >= 1 (k = 0 would zero every code)",
            )),
            _ => Ok(()),
        }
    }

    /// Whether the derivative jumps at `z = 0` (ReLU, leaky ReLU, ELU with
    /// `alpha != 1`): finite differences across 0 are meaningless there.
    pub fn has_kink(&self) -> bool {
        match *self {
            Activation::Relu => true,
            Activation::LeakyRelu { alpha } => alpha != 1.0,
            Activation::Elu { alpha } => alpha != 1.0,
            _ => false,
        }
    }

    /// Whether the activation compares entries with each other (TopK
    /// within a row, BatchTopK within a call), so it is applied to whole
    /// matrices rather than per entry.
    pub fn is_row_wise(&self) -> bool {
        matches!(self, Activation::TopK { .. } | Activation::BatchTopK { .. })
    }

    /// Whether any row of the pre-activations `z` has its `k`-th and
    /// `(k+1)`-th largest values within `margin` of each other (TopK; for
    /// BatchTopK the `n·k`-th and next of the whole matrix; always false for
    /// the element-wise kinds): there the selection, and
    /// so the function, jumps, and finite differences across it are
    /// meaningless.
    pub fn near_tie<T: Real>(&self, z: &DMatrix<T>, margin: f64) -> bool {
        if let Activation::BatchTopK { k } = *self {
            let keep = k.saturating_mul(z.nrows());
            if k == 0 || keep >= z.len() {
                return false;
            }
            let mut all: Vec<f64> = z.iter().map(|v| v.f64()).collect();
            all.sort_by(|a, b| b.total_cmp(a));
            return (all[keep - 1] - all[keep]).abs() < margin;
        }
        let Activation::TopK { k } = *self else {
            return false;
        };
        let r = z.ncols();
        if k == 0 || k >= r {
            return false;
        }
        let mut row: Vec<f64> = Vec::with_capacity(r);
        (0..z.nrows()).any(|i| {
            row.clear();
            row.extend((0..r).map(|j| z[(i, j)].f64()));
            row.sort_by(|a, b| b.total_cmp(a));
            (row[k - 1] - row[k]).abs() < margin
        })
    }

    /// Whether outputs lie in `(0, 1)`, as KL(ρ‖ρ̂) sparsity requires.
    pub fn is_unit_interval(&self) -> bool {
        matches!(self, Activation::Sigmoid)
    }

    /// `f(z)` of one entry. For TopK, the value of a **kept** unit (the
    /// identity): which units are kept depends on the whole row, which
    /// only the matrix paths see.
    #[inline]
    pub fn apply<T: Real>(&self, z: T) -> T {
        let zero = T::zero();
        match *self {
            Activation::Identity | Activation::TopK { .. } | Activation::BatchTopK { .. } => z,
            Activation::Relu => {
                if z > zero {
                    z
                } else {
                    zero
                }
            }
            Activation::LeakyRelu { alpha } => {
                if z > zero {
                    z
                } else {
                    T::of(alpha) * z
                }
            }
            Activation::Sigmoid => sigmoid(z),
            Activation::Tanh => z.tanh(),
            Activation::Softplus => softplus(z),
            Activation::Elu { alpha } => {
                if z > zero {
                    z
                } else {
                    T::of(alpha) * z.exp_m1()
                }
            }
            Activation::Gelu => {
                let u = T::of(GELU_C) * (z + T::of(GELU_K) * z * z * z);
                T::of(0.5) * z * (T::one() + u.tanh())
            }
        }
    }

    /// `f'(z)`, given `a = f(z)` as well (for TopK, of a kept unit; see
    /// [`Activation::apply`]).
    #[inline]
    pub fn derivative<T: Real>(&self, z: T, a: T) -> T {
        let zero = T::zero();
        let one = T::one();
        match *self {
            Activation::Identity | Activation::TopK { .. } | Activation::BatchTopK { .. } => one,
            Activation::Relu => {
                if z > zero {
                    one
                } else {
                    zero
                }
            }
            Activation::LeakyRelu { alpha } => {
                if z > zero {
                    one
                } else {
                    T::of(alpha)
                }
            }
            Activation::Sigmoid => a * (one - a),
            Activation::Tanh => one - a * a,
            Activation::Softplus => sigmoid(z),
            Activation::Elu { alpha } => {
                if z > zero {
                    one
                } else {
                    a + T::of(alpha)
                }
            }
            Activation::Gelu => {
                let z2 = z * z;
                let t = (T::of(GELU_C) * (z + T::of(GELU_K) * z2 * z)).tanh();
                let du = T::of(GELU_C) * (one + T::of(3.0 * GELU_K) * z2);
                T::of(0.5) * (one + t) + T::of(0.5) * z * (one - t * t) * du
            }
        }
    }

    /// `a = f(z)` (element-wise, or per row for TopK); `a` must have `z`'s
    /// shape.
    pub(crate) fn map_into<T: Real>(&self, z: &DMatrix<T>, a: &mut DMatrix<T>) {
        debug_assert_eq!(z.shape(), a.shape());
        let (src, dst) = (z.as_slice(), a.as_mut_slice());
        let zero = T::zero();
        // One loop per kind, so the loop bodies are branch-light and the
        // simple ones vectorise.
        match *self {
            Activation::Identity => dst.copy_from_slice(src),
            Activation::Relu => map(src, dst, |v| if v > zero { v } else { zero }),
            Activation::LeakyRelu { alpha } => {
                let alpha = T::of(alpha);
                map(src, dst, |v| if v > zero { v } else { alpha * v })
            }
            Activation::Sigmoid => fastmath::sigmoid_into(src, dst),
            Activation::Tanh => map(src, dst, |v| v.tanh()),
            Activation::Softplus => fastmath::softplus_into(src, dst),
            Activation::TopK { k } => {
                let n = z.nrows();
                top_k_mask(z, k, |i, j, keep| {
                    let at = i + j * n;
                    dst[at] = if keep { src[at] } else { zero }
                })
            }
            Activation::BatchTopK { k } => {
                batch_top_k_mask(z, k, |at, keep| dst[at] = if keep { src[at] } else { zero })
            }
            act => map(src, dst, |v| act.apply(v)),
        }
    }

    /// `delta *= f'(z)` element-wise, with `a = f(z)` cached from the forward pass.
    pub(crate) fn scale_by_derivative<T: Real>(
        &self,
        z: &DMatrix<T>,
        a: &DMatrix<T>,
        delta: &mut DMatrix<T>,
    ) {
        let (zero, one) = (T::zero(), T::one());
        let d = delta.as_mut_slice();
        match *self {
            Activation::Identity => {}
            Activation::Relu => scale(d, z.as_slice(), |v| if v > zero { one } else { zero }),
            Activation::LeakyRelu { alpha } => {
                let alpha = T::of(alpha);
                scale(d, z.as_slice(), |v| if v > zero { one } else { alpha })
            }
            Activation::Sigmoid => scale(d, a.as_slice(), |s| s * (one - s)),
            Activation::Tanh => scale(d, a.as_slice(), |t| one - t * t),
            Activation::Softplus => scale(d, z.as_slice(), sigmoid),
            // The selection is recomputed from `z` rather than read off
            // `a != 0`, so a kept unit whose value is exactly 0 still passes
            // its gradient.
            Activation::TopK { k } => {
                let n = z.nrows();
                top_k_mask(z, k, |i, j, keep| {
                    if !keep {
                        d[i + j * n] = zero;
                    }
                })
            }
            Activation::BatchTopK { k } => batch_top_k_mask(z, k, |at, keep| {
                if !keep {
                    d[at] = zero;
                }
            }),
            act => {
                for ((d, &zv), &av) in d.iter_mut().zip(z.as_slice()).zip(a.as_slice()) {
                    *d *= act.derivative(zv, av);
                }
            }
        }
    }
}

/// Calls `visit(i, j, kept)` for every entry of `z`, where `kept` says
/// whether unit `j` is among the `k` largest of row `i`. The order is
/// "larger value first, then lower index" (values compared with
/// `total_cmp` in f64), a strict total order, so the kept set is unique and
/// ties go to the lower index. Selection is linear per row
/// (`select_nth_unstable_by`); the order among the kept does not matter.
pub(crate) fn top_k_mask<T: Real>(
    z: &DMatrix<T>,
    k: usize,
    mut visit: impl FnMut(usize, usize, bool),
) {
    let (n, r) = z.shape();
    if k >= r {
        for j in 0..r {
            for i in 0..n {
                visit(i, j, true);
            }
        }
        return;
    }
    let mut idx: Vec<usize> = Vec::with_capacity(r);
    let mut keep = vec![false; r];
    let mut row = vec![0.0f64; r];
    for i in 0..n {
        for (j, v) in row.iter_mut().enumerate() {
            *v = z[(i, j)].f64();
        }
        idx.clear();
        idx.extend(0..r);
        if k > 0 {
            idx.select_nth_unstable_by(k - 1, |&a, &b| row[b].total_cmp(&row[a]).then(a.cmp(&b)));
        }
        keep.iter_mut().for_each(|x| *x = false);
        for &j in &idx[..k] {
            keep[j] = true;
        }
        for (j, &kept) in keep.iter().enumerate() {
            visit(i, j, kept);
        }
    }
}

/// Calls `visit(at, kept)` for every entry of `z` (column-major index
/// `at = i + j n`), where `kept` says whether the entry is among the
/// `n·k` largest of the whole matrix, ordered by larger value first, then
/// lower row, then lower column (a strict total order, so the kept set is
/// unique).
fn batch_top_k_mask<T: Real>(z: &DMatrix<T>, k: usize, mut visit: impl FnMut(usize, bool)) {
    let (n, total) = (z.nrows(), z.len());
    let keep = k.saturating_mul(n);
    if keep >= total {
        (0..total).for_each(|at| visit(at, true));
        return;
    }
    let vals: Vec<f64> = z.iter().map(|v| v.f64()).collect();
    let mut idx: Vec<usize> = (0..total).collect();
    let key = |at: usize| (at % n, at / n);
    if keep > 0 {
        idx.select_nth_unstable_by(keep - 1, |&a, &b| {
            vals[b].total_cmp(&vals[a]).then(key(a).cmp(&key(b)))
        });
    }
    let mut kept = vec![false; total];
    for &at in &idx[..keep] {
        kept[at] = true;
    }
    for (at, &kp) in kept.iter().enumerate() {
        visit(at, kp);
    }
}

multiversion! {
    /// `dst = f(src)` element-wise, compiled for the widest vectors the CPU
    /// has (the closures are inlined into each version).
    fn map<T: Real>(src: &[T], dst: &mut [T], f: impl Fn(T) -> T) {
        for (o, &v) in dst.iter_mut().zip(src) {
            *o = f(v);
        }
    }
}

multiversion! {
    /// `delta *= f(by)` element-wise (see [`map`]).
    fn scale<T: Real>(delta: &mut [T], by: &[T], f: impl Fn(T) -> T) {
        for (d, &v) in delta.iter_mut().zip(by) {
            *d *= f(v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each derivative against a central difference in f64, away from kinks.
    #[test]
    fn derivatives_match_central_differences() {
        let eps = 1e-6f64;
        for act in Activation::all() {
            for &z in &[-3.1f64, -0.7, -0.05, 0.05, 0.4, 2.3, 8.0] {
                let num = (act.apply(z + eps) - act.apply(z - eps)) / (2.0 * eps);
                let ana = act.derivative(z, act.apply(z));
                assert!(
                    (ana - num).abs() <= 1e-7 + 1e-6 * num.abs(),
                    "{act:?} at {z}: analytic {ana} vs numeric {num}"
                );
            }
        }
    }

    /// Stable forms do not overflow where the naive formulas would.
    #[test]
    fn extreme_inputs_stay_finite() {
        for act in Activation::all() {
            for &z in &[-800.0f64, 800.0] {
                let a = act.apply(z);
                assert!(a.is_finite(), "{act:?}({z}) = {a}");
                assert!(act.derivative(z, a).is_finite(), "{act:?}'({z})");
            }
        }
        assert_eq!(Activation::Softplus.apply(800.0f64), 800.0);
        assert!(Activation::Sigmoid.apply(-800.0f64) < 1e-300);
    }

    /// GELU is the tanh form: compare with its textbook expression at a point.
    #[test]
    fn gelu_is_the_tanh_form() {
        let z = 0.9f64;
        let expect = 0.5
            * z
            * (1.0 + ((2.0 / std::f64::consts::PI).sqrt() * (z + 0.044715 * z.powi(3))).tanh());
        assert!((Activation::Gelu.apply(z) - expect).abs() < 1e-15);
    }

    #[test]
    fn bad_parameters_are_rejected() {
        assert!(Activation::LeakyRelu { alpha: -0.1 }.validate().is_err());
        assert!(
            Activation::LeakyRelu { alpha: f64::NAN }
                .validate()
                .is_err()
        );
        assert!(Activation::Elu { alpha: 0.0 }.validate().is_err());
        assert!(Activation::Elu { alpha: 1.0 }.validate().is_ok());
    }

    /// TopK keeps the k largest per row, ties to the lower index, and its
    /// derivative passes exactly the kept entries.
    #[test]
    fn top_k_keeps_the_largest_per_row_with_ties_to_the_lower_index() {
        let z = DMatrix::from_row_slice(
            3,
            4,
            &[
                0.5, -1.0, 2.0, 0.1, //
                1.0, 1.0, 1.0, -3.0, //
                -0.2, -0.1, -0.3, -0.4,
            ],
        );
        let act = Activation::TopK { k: 2 };
        let mut a = DMatrix::zeros(3, 4);
        act.map_into(&z, &mut a);
        let want = DMatrix::from_row_slice(
            3,
            4,
            &[
                0.5, 0.0, 2.0, 0.0, //
                1.0, 1.0, 0.0, 0.0, //
                -0.2, -0.1, 0.0, 0.0,
            ],
        );
        assert_eq!(a, want);
        let mut delta = DMatrix::from_element(3, 4, 3.0);
        act.scale_by_derivative(&z, &a, &mut delta);
        let mask = want.map(|v: f64| if v != 0.0 { 3.0 } else { 0.0 });
        assert_eq!(delta, mask);
        assert!(act.near_tie(&z, 1e-4));
        assert!(!act.near_tie(&z.rows(0, 1).into_owned(), 1e-4));
        // k >= r keeps everything.
        let mut all = DMatrix::zeros(3, 4);
        Activation::TopK { k: 9 }.map_into(&z, &mut all);
        assert_eq!(all, z);
        assert!(Activation::TopK { k: 0 }.validate().is_err());
    }

    /// BatchTopK keeps the n·k largest entries of the call, ties to the
    /// lower row then the lower unit, and passes gradient exactly there.
    #[test]
    fn batch_top_k_keeps_n_k_entries_per_call() {
        let z = DMatrix::from_row_slice(2, 3, &[5.0, 4.0, 1.0, 0.5, 0.2, 1.0]);
        let act = Activation::BatchTopK { k: 1 };
        let mut a = DMatrix::zeros(2, 3);
        act.map_into(&z, &mut a);
        // Two entries in all: 5 and 4, both in row 0 (row 1 gets none).
        let want = DMatrix::from_row_slice(2, 3, &[5.0, 4.0, 0.0, 0.0, 0.0, 0.0]);
        assert_eq!(a, want);
        let mut delta = DMatrix::from_element(2, 3, 2.0);
        act.scale_by_derivative(&z, &a, &mut delta);
        assert_eq!(delta, want.map(|v: f64| if v != 0.0 { 2.0 } else { 0.0 }));
        // A tie across rows (1.0 in both rows) goes to row 0.
        let z = DMatrix::from_row_slice(2, 2, &[1.0, 0.0, 1.0, 3.0]);
        let mut b = DMatrix::zeros(2, 2);
        act.map_into(&z, &mut b);
        assert_eq!(b, DMatrix::from_row_slice(2, 2, &[1.0, 0.0, 0.0, 3.0]));
        assert!(act.near_tie(&z, 1e-4));
        assert!(Activation::BatchTopK { k: 0 }.validate().is_err());
        let s = serde_json::to_string(&act).unwrap();
        assert_eq!(s, r#"{"kind":"batch_top_k","k":1}"#);
        assert_eq!(serde_json::from_str::<Activation>(&s).unwrap(), act);
    }

    #[test]
    fn serde_uses_a_kind_tag() {
        let s = serde_json::to_string(&Activation::LeakyRelu { alpha: 0.25 }).unwrap();
        assert_eq!(s, r#"{"kind":"leaky_relu","alpha":0.25}"#);
        let back: Activation = serde_json::from_str(&s).unwrap();
        assert_eq!(back, Activation::LeakyRelu { alpha: 0.25 });
        for bad in [
            r#"{"kind":"relu","alpha":1}"#,
            r#"{"kind":"elu"}"#,
            r#"{"kind":"tanh","beta":1}"#,
            r#"{"kind":"swish"}"#,
            r#"{"kind":"leaky_relu","alpha":-2}"#,
        ] {
            assert!(serde_json::from_str::<Activation>(bad).is_err(), "{bad}");
        }
        let s = serde_json::to_string(&Activation::Gelu).unwrap();
        assert_eq!(s, r#"{"kind":"gelu"}"#);
        let s = serde_json::to_string(&Activation::TopK { k: 3 }).unwrap();
        assert_eq!(s, r#"{"kind":"top_k","k":3}"#);
        assert_eq!(
            serde_json::from_str::<Activation>(&s).unwrap(),
            Activation::TopK { k: 3 }
        );
        for bad in [
            r#"{"kind":"top_k"}"#,
            r#"{"kind":"top_k","k":0}"#,
            r#"{"kind":"top_k","k":2,"alpha":1}"#,
            r#"{"kind":"relu","k":2}"#,
        ] {
            assert!(serde_json::from_str::<Activation>(bad).is_err(), "{bad}");
        }
    }
}
