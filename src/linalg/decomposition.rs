//! What every PCA solver produces: principal axes and the spectrum, and the
//! choice of solver that produced them.
//!
//! [`Decomposition`] is the hand-off between the solvers (in [`super::pca`]
//! and [`super::randomized`]) and [`FittedPca`](super::FittedPca); it lives
//! apart from all of them so that none has to import another to name it.

use nalgebra::DMatrix;

/// The algorithm that computes the principal axes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Solver {
    /// [`Solver::CovarianceEigh`] when there are at least as many samples as
    /// features and at most [`COVARIANCE_AUTO_MAX_FEATURES`](super::COVARIANCE_AUTO_MAX_FEATURES) features;
    /// otherwise [`Solver::randomized`] for a few components of large data,
    /// and [`Solver::Svd`] for the rest: scikit-learn's `auto` rule, stated
    /// in [`Pca::resolved_solver`](super::Pca::resolved_solver). Exact
    /// whenever the covariance route applies (every built-in dataset).
    #[default]
    Auto,
    /// Eigendecomposition of the `d x d` sample covariance matrix. The fastest
    /// exact solver when `n >= d`; eigenvalues below about `1e-16 λ_max` are
    /// rounding noise (the covariance squares the data's condition number).
    CovarianceEigh,
    /// Thin SVD of the centred data: the most accurate, and the better choice
    /// when `d` is large or exceeds `n`.
    Svd,
    /// Randomized range finder (Halko, Martinsson & Tropp 2011) with QR-
    /// normalised power iterations on the centred data. Approximate; the
    /// result depends on the seed set by [`Pca::seed()`](super::Pca::seed). Only the kept part
    /// of the spectrum is known afterwards.
    Randomized {
        /// Extra random directions beyond the number of components.
        oversampling: usize,
        /// Passes of `(X Xᵀ)` applied to sharpen the range estimate.
        power_iterations: usize,
    },
}

impl Solver {
    /// Every solver, the randomized one with its defaults: the list the
    /// every-solver tests (thread-count bit equality, degenerate inputs)
    /// iterate, so a new solver joins them by being added here.
    pub const ALL: [Solver; 4] = [
        Solver::Auto,
        Solver::CovarianceEigh,
        Solver::Svd,
        Solver::randomized(),
    ];

    /// The randomized solver with scikit-learn's defaults for a small number
    /// of components (10 extra directions, 7 power iterations).
    pub const fn randomized() -> Self {
        Solver::Randomized {
            oversampling: 10,
            power_iterations: 7,
        }
    }
}

/// What a solver hands to [`FittedPca`](super::FittedPca): principal axes and the spectrum.
pub(crate) struct Decomposition {
    /// `k x d`, orthonormal rows, largest variance first.
    pub components: DMatrix<f64>,
    /// Covariance eigenvalues (ddof = 1), descending: all `min(n, d)` of them
    /// when `complete`, else the first `kept`.
    pub spectrum: Vec<f64>,
    pub complete: bool,
    /// Sum of all covariance eigenvalues (the trace).
    pub total_variance: f64,
    /// Number of components kept (`components.nrows()`).
    pub kept: usize,
}

/// Eigenvalues with rounding-level negatives set to 0 (a covariance matrix is
/// positive semi-definite; its square root is taken for singular values).
pub(crate) fn clipped(values: &[f64]) -> Vec<f64> {
    values.iter().map(|&v| v.max(0.0)).collect()
}

/// Makes each row's largest-magnitude entry positive (the first such entry on
/// ties), which fixes the otherwise arbitrary sign of every principal axis.
/// This is scikit-learn's `svd_flip(u_based_decision=False)`.
pub(crate) fn fix_signs(components: &mut DMatrix<f64>) {
    for mut row in components.row_iter_mut() {
        let mut best = 0.0_f64;
        let mut sign = 1.0;
        for &v in row.iter() {
            if v.abs() > best {
                best = v.abs();
                sign = v.signum();
            }
        }
        if sign < 0.0 {
            row.neg_mut();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_rule_makes_largest_loading_positive() {
        let mut c = DMatrix::from_row_slice(2, 3, &[0.1, -0.9, 0.3, -0.5, 0.5, 0.2]);
        fix_signs(&mut c);
        assert_eq!(
            c.row(0).iter().copied().collect::<Vec<_>>(),
            vec![-0.1, 0.9, -0.3]
        );
        // Tie between |-0.5| and |0.5|: the first decides, as numpy's argmax.
        assert_eq!(
            c.row(1).iter().copied().collect::<Vec<_>>(),
            vec![0.5, -0.5, -0.2]
        );
    }
}
