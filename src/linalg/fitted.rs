//! A fitted PCA: principal axes and spectrum. The maps between data space and
//! component space are in [`super::projection`].

use super::decomposition::{Decomposition, Solver};
use super::input::from_f64;
use crate::real::Real;
use nalgebra::{DMatrix, DVector};

/// The result of [`Pca::fit`](super::Pca::fit).
///
/// Matrices are in the caller's scalar type; spectra and errors are `f64`
/// (they were computed in `f64` and are what studies tabulate).
#[derive(Debug, Clone, PartialEq)]
pub struct FittedPca<T: Real> {
    components: DMatrix<T>,
    mean: DVector<T>,
    /// `components` in `f64`: the data-space maps compute in `f64` for any
    /// `T` (see [`super::projection`]).
    pub(super) axes: DMatrix<f64>,
    /// `mean` in `f64`.
    pub(super) center: Vec<f64>,
    explained_variance: Vec<f64>,
    explained_variance_ratio: Vec<f64>,
    singular_values: Vec<f64>,
    /// Per-component divisor of whitened scores (see `transform`).
    pub(super) whitening_scale: Vec<f64>,
    spectrum: Vec<f64>,
    spectrum_complete: bool,
    total_variance: f64,
    n_samples: usize,
    pub(super) whiten: bool,
    solver: Solver,
}

impl<T: Real> FittedPca<T> {
    pub(crate) fn from_parts(
        dec: Decomposition,
        mean: Vec<f64>,
        n_samples: usize,
        whiten: bool,
        solver: Solver,
    ) -> Self {
        let k = dec.kept;
        let explained_variance = dec.spectrum[..k].to_vec();
        let explained_variance_ratio = explained_variance
            .iter()
            .map(|v| v / dec.total_variance)
            .collect();
        let singular_values = explained_variance
            .iter()
            .map(|v| (v * (n_samples as f64 - 1.0)).sqrt())
            .collect();
        // As scikit-learn: a zero-variance component would divide by zero, so
        // the scale is floored at machine epsilon (and the same floor is used
        // by inverse_transform, so whitened round trips stay exact).
        let whitening_scale = explained_variance
            .iter()
            .map(|v: &f64| v.sqrt().max(f64::EPSILON))
            .collect();
        FittedPca {
            components: from_f64(&dec.components),
            mean: DVector::from_iterator(mean.len(), mean.iter().map(|&m| T::of(m))),
            axes: dec.components,
            center: mean,
            explained_variance,
            explained_variance_ratio,
            singular_values,
            whitening_scale,
            spectrum: dec.spectrum,
            spectrum_complete: dec.complete,
            total_variance: dec.total_variance,
            n_samples,
            whiten,
            solver,
        }
    }

    /// The principal axes as rows (`k x d`), orthonormal, largest variance
    /// first, each with its largest-magnitude entry positive.
    pub fn components(&self) -> &DMatrix<T> {
        &self.components
    }

    /// The training data's column means (length `d`).
    pub fn mean(&self) -> &DVector<T> {
        &self.mean
    }

    /// Number of components kept (`k`).
    pub fn n_components(&self) -> usize {
        self.components.nrows()
    }

    /// Number of features (`d`).
    pub fn n_features(&self) -> usize {
        self.components.ncols()
    }

    /// Number of training samples (`n`).
    pub fn n_samples(&self) -> usize {
        self.n_samples
    }

    /// The solver that produced this fit (never [`Solver::Auto`]).
    pub fn solver(&self) -> Solver {
        self.solver
    }

    /// Whether [`FittedPca::transform`] whitens.
    pub fn is_whitened(&self) -> bool {
        self.whiten
    }

    /// Variance of the training data along each component (ddof = 1): the
    /// top `k` eigenvalues of the sample covariance matrix.
    pub fn explained_variance(&self) -> &[f64] {
        &self.explained_variance
    }

    /// [`FittedPca::explained_variance`] divided by the total variance.
    pub fn explained_variance_ratio(&self) -> &[f64] {
        &self.explained_variance_ratio
    }

    /// Singular values of the centred training data for the kept components
    /// (`sqrt((n − 1) λ)`).
    pub fn singular_values(&self) -> &[f64] {
        &self.singular_values
    }

    /// Total variance of the training data: the trace of its sample
    /// covariance matrix (ddof = 1).
    pub fn total_variance(&self) -> f64 {
        self.total_variance
    }

    /// Covariance eigenvalues (ddof = 1), largest first, as far as the solver
    /// computed them: all `min(n, d)` for the exact solvers, the kept `k` for
    /// the randomized one (see [`FittedPca::spectrum_is_complete`]).
    pub fn spectrum(&self) -> &[f64] {
        &self.spectrum
    }

    /// Whether [`FittedPca::spectrum`] holds all `min(n, d)` eigenvalues.
    pub fn spectrum_is_complete(&self) -> bool {
        self.spectrum_complete
    }

    /// The probabilistic-PCA noise variance (Tipping & Bishop 1999): the mean
    /// of the discarded eigenvalues over the `min(n, d) − k` discarded
    /// dimensions, 0 when nothing is discarded. Equals scikit-learn's
    /// `noise_variance_` for its `full` solver (its `covariance_eigh` averages
    /// over `d − k` instead, which differs only when `d > n`).
    pub fn noise_variance(&self) -> f64 {
        let limit = self.n_samples.min(self.n_features());
        let k = self.n_components();
        if k >= limit {
            return 0.0;
        }
        let discarded = if self.spectrum_complete {
            self.spectrum[k..].iter().sum::<f64>()
        } else {
            (self.total_variance - self.explained_variance.iter().sum::<f64>()).max(0.0)
        };
        discarded / (limit - k) as f64
    }

    /// Number of parameters of the PCA model as an autoencoder: the `k x d`
    /// tied weight (components) plus the `d` mean, the baseline for parameter
    /// counts of tied autoencoders.
    pub fn parameter_count(&self) -> usize {
        self.n_components() * self.n_features() + self.n_features()
    }

    /// Training reconstruction MSE (over all `n·d` entries) for every number
    /// of components `j = 0, 1, ..., m`, from this one fit:
    /// `MSE(j) = (n − 1)/(n·d) · Σ_{i ≥ j} λ_i`.
    ///
    /// Why: `‖Xc − Xc VⱼᵀVⱼ‖²_F = Σ_{i ≥ j} sᵢ² = (n − 1) Σ_{i ≥ j} λᵢ`
    /// (Eckart–Young), so the whole error curve is a tail sum of the spectrum
    /// and no refit is needed. `m = min(n, d)` for exact solvers (the last
    /// entry is 0); for the randomized solver `m = k` and the tails come from
    /// the total variance minus the computed eigenvalues.
    pub fn mse_curve(&self) -> Vec<f64> {
        let n = self.n_samples as f64;
        let per_entry = (n - 1.0) / (n * self.n_features() as f64);
        let m = self.spectrum.len();
        let mut curve = vec![0.0; m + 1];
        if self.spectrum_complete {
            // Sum from the small end: no cancellation, exact 0 at full rank.
            let mut tail = 0.0;
            for j in (0..m).rev() {
                tail += self.spectrum[j];
                curve[j] = tail * per_entry;
            }
        } else {
            let mut kept = 0.0;
            for (j, entry) in curve.iter_mut().enumerate() {
                *entry = (self.total_variance - kept).max(0.0) * per_entry;
                if j < m {
                    kept += self.spectrum[j];
                }
            }
        }
        curve
    }
}
