//! Closed forms and measurements for the theory of linear autoencoders,
//! written for the objective this crate actually minimises.
//!
//! # The normalisation
//!
//! With `N` rows and `d` features, the objective of a linear pair with no
//! biases is
//!
//! ```text
//! L(A, B) = ‖X − X Aᵀ Bᵀ‖²_F / (N d) + λ₂/2 (‖A‖²_F + ‖B‖²_F)
//! ```
//!
//! (encoder `A = W_enc`, `r x d`; decoder `B = W_dec`, `d x r`; MSE over
//! all `N d` entries, weight decay `λ₂/2 Σ W²`, see [`super::LossConfig`]),
//! and the tied one is `‖X − X WᵀW‖²_F / (N d) + λ₂/2 ‖W‖²_F`. Kunin et al.
//! (2019) state their results for `‖X − W₂W₁X‖² + λ(‖W₁‖² + ‖W₂‖²)`, with
//! samples as columns and data singular values `σ_i`. Multiplying ours by
//! `N d` gives theirs with `λ = N d λ₂ / 2`, and `σ_i² = N c_i` where `c_i`
//! are the eigenvalues of the second-moment matrix `XᵀX / N`.
//!
//! # Kunin et al. 2019, untied
//!
//! Every critical point has `A = Bᵀ`, and the decoder's singular values are
//! `s_i² = 1 − λ/σ_i²`, so in our units
//!
//! ```text
//! s_i² = 1 − d λ₂ / (2 c_i)        (s_i = 0 where 2 c_i ≤ d λ₂).
//! ```
//!
//! Check in one direction `u` (unit eigenvector of `XᵀX/N`, eigenvalue `c`):
//! with `A = a uᵀ`, `B = b u` the loss is `(tr C − c (2ab − a²b²))/d +
//! λ₂(a² + b²)/2`; `∂/∂a = 0` and `∂/∂b = 0` give `(2c/d) b (1 − ab) = λ₂ a`
//! and `(2c/d) a (1 − ab) = λ₂ b`, so `a² = b²` (the transpose) and `(2c/d)
//! (1 − a²) = λ₂`. The global minimum keeps the `r` largest `c_i`.
//!
//! # The tied case
//!
//! With `W = s uᵀ` the loss is `(tr C − c(2s² − s⁴))/d + λ₂ s²/2`, whose
//! stationary point is `s² = 1 − d λ₂ / (4 c)`: the factor 2 on `σ²` the
//! design notes mention, because `W` is penalised once but used twice.
//!
//! # Denoising (Vincent et al. 2010), tied, Gaussian noise
//!
//! Training on `X + σE` (fresh `E ~ N(0, 1)` entries) towards the clean
//! `X` minimises, in expectation over the noise, `‖X − X P‖²_F / (N d) +
//! σ² ‖P‖²_F / d` with `P = WᵀW`: the noise acts as a penalty on the
//! reconstruction map. With `W = s uᵀ` that is `(tr C − c(2s² − s⁴))/d +
//! σ² s⁴ / d`, stationary at
//!
//! ```text
//! s_i² = c_i / (c_i + σ²)
//! ```
//!
//! (a Wiener-filter shrinkage: directions with variance well above the
//! noise are kept, the others damped), see [`denoising_singular_values`].
//!
//! # Biases
//!
//! Weight decay never touches biases. A model with a decoder bias (separate
//! or pre-centering) learns the data mean, so `c_i` are then the
//! eigenvalues of the *centred* second moment (the population covariance,
//! divided by `N`, not `N − 1`); [`second_moments`] computes either.
//!
//! # Plaut 2018 and Bao et al. 2020
//!
//! [`principal_directions`] recovers ordered principal directions and their
//! variances from a trained linear autoencoder; [`axis_alignment`] and
//! [`subspace_distance`] are Bao et al.'s metrics of how far learned
//! directions are from the principal ones, individually and as a span.

use super::activation::{Activation, OutputActivation};
use super::autoencoder::Autoencoder;
use super::layer::Layer;
use crate::error::{Error, Result};
use crate::real::Real;
use crate::validate;
use nalgebra::DMatrix;

/// Which of the two regularised linear objectives a closed form is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tying {
    /// One weight `W`, used by encoder and decoder.
    Tied,
    /// Separate `W_enc` and `W_dec`, both decayed.
    Untied,
}

/// Eigenvalues of the second-moment matrix `XᵀX / N`, largest first, after
/// subtracting the column means when `centre` (what a model with a decoder
/// bias sees: it learns the mean). Divided by `N`, not `N − 1`, because the
/// objective averages over the `N` rows (see the module docs).
///
/// Errors on an empty or non-finite `x`.
pub fn second_moments(x: &DMatrix<f64>, centre: bool) -> Result<Vec<f64>> {
    let (n, d) = x.shape();
    if n == 0 || d == 0 {
        return Err(Error::InvalidData(format!(
            "second moments of a {n}x{d} matrix: need rows and columns"
        )));
    }
    if let Some(k) = x.iter().position(|v| !v.is_finite()) {
        return Err(Error::InvalidData(format!(
            "second moments: entry (row {}, column {}) is {}",
            k % n,
            k / n,
            x[k]
        )));
    }
    let xc = if centre {
        let mean = x.row_mean();
        DMatrix::from_fn(n, d, |i, j| x[(i, j)] - mean[j])
    } else {
        x.clone()
    };
    let c = (xc.transpose() * &xc) / n as f64;
    let mut ev: Vec<f64> = nalgebra::SymmetricEigen::new(c)
        .eigenvalues
        .iter()
        .map(|v| v.max(0.0))
        .collect();
    ev.sort_by(|a, b| b.total_cmp(a));
    Ok(ev)
}

/// Kunin et al.'s predicted singular values of the decoder (or of the tied
/// `W`) at the global minimum, largest first: for the `k` largest second
/// moments `c_i`, `s_i = √max(0, 1 − d λ₂ / (m c_i))` with `m = 2` untied
/// and `m = 4` tied (derivation in the module docs). `second_moments` must
/// be sorted largest first, as [`second_moments`] returns them; `d` is the
/// number of features, `l2` the objective's `λ₂`.
///
/// Errors when `k` is 0 or exceeds the spectrum, `d` is 0, `l2` is negative
/// or not finite, or a moment is negative, unsorted or not finite.
pub fn kunin_singular_values(
    second_moments: &[f64],
    l2: f64,
    d: usize,
    k: usize,
    tying: Tying,
) -> Result<Vec<f64>> {
    validate::non_negative("l2", l2)?;
    if d == 0 {
        return Err(Error::config("d", "the data need at least one feature"));
    }
    if k == 0 || k > second_moments.len() {
        return Err(Error::config(
            "k",
            format!(
                "{k} singular values from a spectrum of {}: need 1..=len",
                second_moments.len()
            ),
        ));
    }
    if let Some(c) = second_moments
        .iter()
        .find(|c| !(c.is_finite() && **c >= 0.0))
    {
        return Err(Error::InvalidData(format!(
            "second moment {c}: must be finite and >= 0"
        )));
    }
    if second_moments.windows(2).any(|w| w[0] < w[1]) {
        return Err(Error::InvalidData(
            "second moments must be sorted largest first".into(),
        ));
    }
    let m = match tying {
        Tying::Tied => 4.0,
        Tying::Untied => 2.0,
    };
    let threshold = d as f64 * l2 / m;
    Ok(second_moments[..k]
        .iter()
        .map(|&c| {
            // s² = 1 − threshold / c, clamped at 0 (written without a
            // division so c = 0 gives 0 rather than NaN).
            if c <= threshold {
                0.0
            } else {
                (1.0 - threshold / c).sqrt()
            }
        })
        .collect())
}

/// The singular values of a linear tied autoencoder trained to denoise
/// Gaussian corruption of standard deviation `sigma`, at the expected
/// objective's minimum, largest first: `s_i = √(c_i / (c_i + σ²))` for the
/// `k` largest second moments (derivation in the module docs; sorted
/// largest first, as [`second_moments`] returns them).
///
/// Errors as [`kunin_singular_values`] for the moments and `k`, and for a
/// negative or non-finite `sigma`; `sigma = 0` with a zero moment is 0.
pub fn denoising_singular_values(second_moments: &[f64], sigma: f64, k: usize) -> Result<Vec<f64>> {
    validate::non_negative("sigma", sigma)?;
    // The moment and order checks are Kunin's; its λ₂ = 0 values are unused.
    kunin_singular_values(second_moments, 0.0, 1, k, Tying::Tied)?;
    let s2 = sigma * sigma;
    Ok(second_moments[..k]
        .iter()
        .map(|&c| {
            if c + s2 > 0.0 {
                (c / (c + s2)).sqrt()
            } else {
                0.0
            }
        })
        .collect())
}

/// [`kunin_singular_values`] from the data: the second moments of `x`
/// (centred when `centre`, see [`second_moments`]) and `d = x.ncols()`.
pub fn predicted_singular_values(
    x: &DMatrix<f64>,
    l2: f64,
    k: usize,
    tying: Tying,
    centre: bool,
) -> Result<Vec<f64>> {
    let c = second_moments(x, centre)?;
    kunin_singular_values(&c, l2, x.ncols(), k, tying)
}

/// Singular values of `w`, largest first.
pub fn singular_values_desc(w: &DMatrix<f64>) -> Vec<f64> {
    let mut s: Vec<f64> = w.singular_values().iter().copied().collect();
    s.sort_by(|a, b| b.total_cmp(a));
    s
}

/// The transpose gap `‖W_enc − W_decᵀ‖_F / ‖W_dec‖_F`: 0 for a tied pair,
/// and Kunin et al.'s prediction for every critical point of an untied pair
/// with L2 on both weights. Relative, so it reads the same at any scale.
///
/// Errors on mismatched shapes, a non-finite entry or an all-zero decoder
/// (the ratio would be 0/0).
pub fn transpose_gap(w_enc: &DMatrix<f64>, w_dec: &DMatrix<f64>) -> Result<f64> {
    if w_enc.shape() != (w_dec.ncols(), w_dec.nrows()) {
        return Err(Error::Shape(format!(
            "transpose gap: encoder is {}x{}, decoder {}x{} (need r x d and d x r)",
            w_enc.nrows(),
            w_enc.ncols(),
            w_dec.nrows(),
            w_dec.ncols()
        )));
    }
    let den = w_dec.norm();
    let num = (w_enc - w_dec.transpose()).norm();
    if !(den.is_finite() && num.is_finite()) {
        return Err(Error::InvalidData(
            "transpose gap: non-finite weights".into(),
        ));
    }
    if den == 0.0 {
        return Err(Error::InvalidData(
            "transpose gap: the decoder is zero, so the relative gap is undefined".into(),
        ));
    }
    Ok(num / den)
}

/// [`transpose_gap`] of one layer pair (0 for a tied pair).
pub fn layer_transpose_gap<T: Real>(layer: &Layer<T>) -> Result<f64> {
    let enc = layer.encoder_weight().map(|v| v.f64());
    let dec = layer.decoder_weight().map(|v| v.f64());
    transpose_gap(&enc, &dec)
}

/// The linear map from code to output of a linear stack, as a `k x d`
/// matrix `D` with `x̂ = h D + const`. Errors unless every activation is
/// the identity and no pair is convolutional (a conv decoder is linear too,
/// but its matrix is not stored).
pub fn decoder_matrix<T: Real>(model: &Autoencoder<T>) -> Result<DMatrix<f64>> {
    let spec = model.spec();
    if spec.hidden.iter().any(|a| *a != Activation::Identity)
        || spec.output != OutputActivation::Identity
    {
        return Err(Error::config(
            "activation",
            "principal directions come from a linear autoencoder: every activation must be the identity",
        ));
    }
    if model.layers().iter().any(|l| l.conv().is_some()) {
        return Err(Error::config(
            "conv",
            "principal directions need dense layer pairs, not conv pairs",
        ));
    }
    // Decoding runs the pairs innermost first: x̂ = h D_{L−1} ⋯ D_0 with
    // D_l = decoder_weight(l)ᵀ.
    let mut m: Option<DMatrix<f64>> = None;
    for layer in model.layers() {
        let dl = layer.decoder_weight().map(|v| v.f64()).transpose();
        m = Some(match m {
            None => dl,
            Some(acc) => dl * acc,
        });
    }
    m.ok_or_else(|| Error::Shape("a model without layers".into()))
}

/// Principal directions and variances recovered from a linear autoencoder.
#[derive(Clone, Debug, PartialEq)]
pub struct RecoveredDirections {
    /// `k x d`, orthonormal rows, largest variance first, each with its
    /// largest-magnitude entry positive (PCA's sign convention).
    pub directions: DMatrix<f64>,
    /// The data's variance along each direction (divided by `N − 1`, as
    /// [`crate::linalg::FittedPca::explained_variance`]), largest first.
    pub variances: Vec<f64>,
    /// The decoder's singular values, largest first: with L2 they follow
    /// [`kunin_singular_values`]; without it they carry no order.
    pub decoder_singular_values: Vec<f64>,
}

/// Plaut's recovery of the ordered principal directions from a trained
/// linear autoencoder and the data `x` it was trained on.
///
/// A linear autoencoder trained to its minimum spans the principal
/// subspace, but without L2 its decoder is `U_k C` for an arbitrary
/// invertible `C`, so neither its columns nor its singular vectors are the
/// principal directions. Plaut (2018) recovers them from the decoder's
/// SVD: its left singular vectors `Q` are an orthonormal basis of the
/// learned subspace, and PCA of the data projected onto `Q` (a `k x k`
/// eigenproblem of `Qᵀ Σ Q`) orders and rotates them into the principal
/// directions, with their variances. With L2 (Kunin et al.) the singular
/// vectors are already the directions, and this step changes nothing but
/// the signs. `x` is centred here, as PCA centres it.
///
/// Errors: as [`decoder_matrix`]; [`Error::Shape`] when `x` has the wrong
/// width or fewer than two rows; [`Error::InvalidData`] for non-finite data
/// or a decoder of lower rank than its code (a dead unit).
pub fn principal_directions<T: Real>(
    model: &Autoencoder<T>,
    x: &DMatrix<f64>,
) -> Result<RecoveredDirections> {
    let d_mat = decoder_matrix(model)?;
    let (k, d) = d_mat.shape();
    if x.ncols() != d || x.nrows() < 2 {
        return Err(Error::Shape(format!(
            "principal directions: data are {}x{}, need at least 2 rows of {d} features",
            x.nrows(),
            x.ncols()
        )));
    }
    if x.iter().any(|v| !v.is_finite()) || d_mat.iter().any(|v| !v.is_finite()) {
        return Err(Error::InvalidData(
            "principal directions: non-finite data or weights".into(),
        ));
    }
    // Left singular vectors of the d x k decoder Dᵀ: Q (d x k).
    let svd = d_mat.transpose().svd(true, false);
    let u = svd.u.expect("requested");
    let mut order: Vec<usize> = (0..svd.singular_values.len()).collect();
    order.sort_by(|&a, &b| svd.singular_values[b].total_cmp(&svd.singular_values[a]));
    let s: Vec<f64> = order.iter().map(|&i| svd.singular_values[i]).collect();
    let smax = s.first().copied().unwrap_or(0.0);
    let rank_tol = smax * (d.max(k) as f64) * f64::EPSILON * 16.0;
    if s.len() < k || s.iter().any(|&v| v.is_nan() || v <= rank_tol) {
        return Err(Error::InvalidData(format!(
            "principal directions: the decoder has rank below its code width {k} (singular values {s:?})"
        )));
    }
    let q = DMatrix::from_fn(d, k, |i, j| u[(i, order[j])]);
    let n = x.nrows();
    let mean = x.row_mean();
    let xc = DMatrix::from_fn(n, d, |i, j| x[(i, j)] - mean[j]);
    let z = &xc * &q;
    let cov = (z.transpose() * &z) / (n as f64 - 1.0);
    let eig = nalgebra::SymmetricEigen::new(cov);
    let mut idx: Vec<usize> = (0..k).collect();
    idx.sort_by(|&a, &b| eig.eigenvalues[b].total_cmp(&eig.eigenvalues[a]));
    let r = DMatrix::from_fn(k, k, |i, j| eig.eigenvectors[(i, idx[j])]);
    let mut directions = (q * r).transpose();
    for mut row in directions.row_iter_mut() {
        let big = row
            .iter()
            .copied()
            .max_by(|a, b| a.abs().total_cmp(&b.abs()))
            .unwrap_or(0.0);
        if big < 0.0 {
            row.neg_mut();
        }
    }
    Ok(RecoveredDirections {
        directions,
        variances: idx.iter().map(|&i| eig.eigenvalues[i].max(0.0)).collect(),
        decoder_singular_values: s,
    })
}

fn check_directions(u: &DMatrix<f64>, w: &DMatrix<f64>, what: &str) -> Result<()> {
    if u.ncols() != w.ncols() || u.nrows() == 0 || w.nrows() == 0 {
        return Err(Error::Shape(format!(
            "{what}: principal directions are {}x{}, learned ones {}x{} (need rows of one width)",
            u.nrows(),
            u.ncols(),
            w.nrows(),
            w.ncols()
        )));
    }
    if u.iter().chain(w.iter()).any(|v| !v.is_finite()) {
        return Err(Error::InvalidData(format!("{what}: non-finite entries")));
    }
    Ok(())
}

/// Bao et al.'s axis-alignment error `mean_i (1 − max_j cos²(u_i, w_j))`
/// between principal directions `u_i` (rows of `u`) and learned directions
/// `w_j` (rows of `w`: a tied `W`, or a decoder's columns). 0 when every
/// principal direction is one of the learned ones, up to sign: the
/// individual directions are found, not only their span.
///
/// Errors on mismatched widths, empty or non-finite input, and a zero row
/// (its cosine is undefined).
pub fn axis_alignment(u: &DMatrix<f64>, w: &DMatrix<f64>) -> Result<f64> {
    check_directions(u, w, "axis alignment")?;
    let norms = |m: &DMatrix<f64>| -> Result<Vec<f64>> {
        m.row_iter()
            .map(|r| {
                let n = r.norm();
                if n > 0.0 {
                    Ok(n)
                } else {
                    Err(Error::InvalidData(
                        "axis alignment: a direction is zero".into(),
                    ))
                }
            })
            .collect()
    };
    let (nu, nw) = (norms(u)?, norms(w)?);
    let g = u * w.transpose();
    let total: f64 = (0..u.nrows())
        .map(|i| {
            let best = (0..w.nrows())
                .map(|j| (g[(i, j)] / (nu[i] * nw[j])).powi(2))
                .fold(0.0, f64::max);
            1.0 - best.min(1.0)
        })
        .sum();
    Ok(total / u.nrows() as f64)
}

/// Per principal direction `u_i` (rows of `u`), the largest squared cosine
/// `max_j cos²(u_i, w_j)` with a learned direction `w_j` (rows of `w`): 1
/// when `u_i` is one of the learned directions up to sign and scale, 0 when
/// it is orthogonal to all of them. Refinetti & Goldt (2022) follow this
/// per direction over training, to see the principal components learned
/// one after another; [`axis_alignment`] is `mean_i (1 − ·)` of it.
///
/// A zero learned direction (a unit whose weights are all 0) aligns with
/// nothing and counts as cosine 0, so a dead unit lowers no one's maximum
/// but cannot raise it either.
///
/// Errors on mismatched widths, empty or non-finite input, and a zero row
/// of `u`.
pub fn direction_alignment(u: &DMatrix<f64>, w: &DMatrix<f64>) -> Result<Vec<f64>> {
    check_directions(u, w, "direction alignment")?;
    let nu: Vec<f64> = u.row_iter().map(|r| r.norm()).collect();
    if nu.iter().any(|&n| n <= 0.0) {
        return Err(Error::InvalidData(
            "direction alignment: a principal direction is zero".into(),
        ));
    }
    let nw: Vec<f64> = w.row_iter().map(|r| r.norm()).collect();
    let g = u * w.transpose();
    Ok((0..u.nrows())
        .map(|i| {
            (0..w.nrows())
                .filter(|&j| nw[j] > 0.0)
                .map(|j| (g[(i, j)] / (nu[i] * nw[j])).powi(2).min(1.0))
                .fold(0.0, f64::max)
        })
        .collect())
}

/// Bao et al.'s subspace distance `1 − tr(U Uᵀ Ŵ Ŵᵀ) / k` between the span
/// of the `k` orthonormal rows of `u` and the row space of `w` (orthonormal
/// basis `Ŵ`): 0 when the spans agree, whatever the basis. `u` must have
/// orthonormal rows (as PCA components do).
///
/// Errors on mismatched widths, empty or non-finite input, or `w` of lower
/// rank than its row count.
pub fn subspace_distance(u: &DMatrix<f64>, w: &DMatrix<f64>) -> Result<f64> {
    check_directions(u, w, "subspace distance")?;
    if w.nrows() > w.ncols() {
        return Err(Error::InvalidData(format!(
            "subspace distance: {} learned directions in {} dimensions are linearly dependent",
            w.nrows(),
            w.ncols()
        )));
    }
    let svd = w.transpose().svd(true, false);
    let basis = svd.u.expect("requested");
    let smax = svd.singular_values.max();
    let tol = smax * (w.nrows().max(w.ncols()) as f64) * f64::EPSILON * 16.0;
    if svd.singular_values.iter().any(|&s| s.is_nan() || s <= tol) {
        return Err(Error::InvalidData(
            "subspace distance: the learned directions are linearly dependent".into(),
        ));
    }
    let k = u.nrows() as f64;
    let overlap = (u * basis).norm_squared();
    Ok((1.0 - overlap / k).max(0.0))
}
