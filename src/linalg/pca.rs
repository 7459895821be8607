//! PCA configuration and fitting.
//!
//! [`Pca`] is a plain, validated configuration; [`Pca::fit`] turns data into a
//! [`FittedPca`], so a transform without a fit cannot be written. The
//! conventions are scikit-learn's (`sklearn.decomposition.PCA`): explained
//! variance uses ddof = 1, the data are centred but not scaled, whitening
//! divides scores by the square root of the explained variance, and each
//! component's largest-magnitude loading is positive.

use super::covariance::{ColumnStats, centered, column_stats, covariance_lower};
use super::decomposition::{Decomposition, Solver, clipped, fix_signs};
use super::factor::thin_svd;
use super::fitted::FittedPca;
use super::input::{as_f64, check_finite, to_nalgebra, view};
use super::randomized;
use super::symmetric_evd::Tridiagonal;
use crate::error::{Error, Result};
use crate::real::Real;
use faer::Mat;
use nalgebra::DMatrix;

/// How many components to keep.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Components {
    /// Exactly this many (1 ..= min(n_samples, n_features)).
    Count(usize),
    /// The fewest components whose explained-variance ratios sum to more
    /// than this fraction (strictly between 0 and 1), as scikit-learn's
    /// `n_components=0.95`.
    Variance(f64),
}

/// The largest number of features for which [`Solver::Auto`] forms the
/// covariance matrix (32 MB of `f64`).
pub const COVARIANCE_AUTO_MAX_FEATURES: usize = 2048;

/// [`Solver::Auto`] takes the randomized solver only for data with more
/// than this many rows or columns (scikit-learn's 500: below it an exact
/// SVD is as fast).
pub const RANDOMIZED_AUTO_MIN_SIZE: usize = 500;

/// [`Solver::Auto`] takes the randomized solver only for fewer than this
/// fraction of `min(n, d)` components. scikit-learn uses 0.8; this crate's
/// range finder (QR-normalised power iterations) loses to the SVD far
/// sooner: on 599 x 600 spiked data (`benches/pca.rs`) it took 14 ms at
/// k = 32 against the SVD's 69 ms, but 280 ms at k = 479 against 65 ms.
pub const RANDOMIZED_AUTO_MAX_FRACTION: f64 = 0.1;

/// The largest number of features [`Solver::CovarianceEigh`] accepts: its
/// `d x d` matrix would need more than 2 GiB beyond this.
pub const COVARIANCE_MAX_FEATURES: usize = 16_384;

/// PCA hyperparameters. Build with [`Pca::new`] (or [`Pca::count`] /
/// [`Pca::variance`]) and the builder methods; [`Pca::fit`] validates.
///
/// ```
/// use tiedae::linalg::{Components, Pca, Solver};
/// use nalgebra::DMatrix;
/// let x = DMatrix::from_fn(50, 4, |i, j| ((i * 7 + j * 3) % 11) as f64 + j as f64 * 0.1 * i as f64);
/// let pca = Pca::count(2).solver(Solver::Svd).fit(&x)?;
/// assert_eq!(pca.components().shape(), (2, 4));
/// let scores = pca.transform(&x)?;
/// assert_eq!(scores.shape(), (50, 2));
/// assert!(pca.reconstruction_mse(&x)? <= pca.mse_curve()[1]);
/// # Ok::<(), tiedae::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Pca {
    /// How many components to keep (scikit-learn's `n_components`; the
    /// fitted axes are [`FittedPca::components`]).
    pub n_components: Components,
    /// Which algorithm computes them.
    pub solver: Solver,
    /// Scale scores to unit variance (see [`FittedPca::transform`]).
    pub whiten: bool,
    /// Seed of the randomized solver (the exact solvers ignore it).
    pub seed: u64,
}

impl Pca {
    /// A configuration keeping `n_components`, with the automatic solver, no
    /// whitening and seed 0.
    pub fn new(n_components: Components) -> Self {
        Pca {
            n_components,
            solver: Solver::Auto,
            whiten: false,
            seed: 0,
        }
    }

    /// Keep `k` components.
    pub fn count(k: usize) -> Self {
        Pca::new(Components::Count(k))
    }

    /// Keep the fewest components that explain more than `fraction` of the variance.
    pub fn variance(fraction: f64) -> Self {
        Pca::new(Components::Variance(fraction))
    }

    /// Sets how many components to keep.
    pub fn n_components(mut self, n_components: Components) -> Self {
        self.n_components = n_components;
        self
    }

    /// Sets the solver.
    pub fn solver(mut self, solver: Solver) -> Self {
        self.solver = solver;
        self
    }

    /// Sets whitening.
    pub fn whiten(mut self, whiten: bool) -> Self {
        self.whiten = whiten;
        self
    }

    /// Sets the randomized solver's seed.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Checks the settings that do not depend on the data.
    ///
    /// Errors ([`Error::Config`]): a count of 0; a variance fraction outside
    /// (0, 1); a variance fraction with the randomized solver, which does not
    /// compute the whole spectrum the fraction is measured against.
    pub fn validate(&self) -> Result<()> {
        match self.n_components {
            Components::Count(0) => {
                return Err(Error::config(
                    "n_components",
                    "must be at least 1 (the error with 0 components is mse_curve()[0])",
                ));
            }
            Components::Variance(f) if !(f > 0.0 && f < 1.0) => {
                return Err(Error::config(
                    "n_components",
                    format!("a variance fraction must be strictly between 0 and 1, got {f}"),
                ));
            }
            Components::Variance(_) if matches!(self.solver, Solver::Randomized { .. }) => {
                return Err(Error::config(
                    "solver",
                    "a variance fraction needs the full spectrum; use an exact solver (Auto, CovarianceEigh or Svd)",
                ));
            }
            _ => {}
        }
        Ok(())
    }

    /// The solver [`Pca::fit`] uses for `n x d` data: the one given, or
    /// for [`Solver::Auto`], scikit-learn's `auto` rule with the boundaries
    /// where this crate's solvers cross over (`benches/pca.rs` times every
    /// solver on both sides of each):
    ///
    /// 1. `n >= d` and `d <= COVARIANCE_AUTO_MAX_FEATURES`: the covariance
    ///    route (scikit-learn asks for `n >= 10 d` and `d <= 1000`; forming
    ///    `XᵀX` here costs less than an SVD of `X` from `n = d` on);
    /// 2. otherwise, a count `k < 0.1 min(n, d)` on data with
    ///    `max(n, d) > 500`: the randomized solver with its defaults,
    ///    seeded by [`Pca::seed`] (so still the same bits for the same seed);
    /// 3. otherwise (a variance fraction, which needs the whole spectrum,
    ///    many components, or small data): the thin SVD.
    pub fn resolved_solver(&self, n: usize, d: usize) -> Solver {
        match (self.solver, self.n_components) {
            (Solver::Auto, _) if n >= d && d <= COVARIANCE_AUTO_MAX_FEATURES => {
                Solver::CovarianceEigh
            }
            (Solver::Auto, Components::Count(k))
                if n.max(d) > RANDOMIZED_AUTO_MIN_SIZE
                    && (k as f64) < RANDOMIZED_AUTO_MAX_FRACTION * n.min(d) as f64 =>
            {
                Solver::randomized()
            }
            (Solver::Auto, _) => Solver::Svd,
            (other, _) => other,
        }
    }

    /// Fits PCA to `x` (rows are samples).
    ///
    /// Errors: [`Error::Config`] from [`Pca::validate`], for a count above
    /// `min(n_samples, n_features)` (the message names that limit), and for
    /// [`Solver::CovarianceEigh`] with more than [`COVARIANCE_MAX_FEATURES`]
    /// features; [`Error::InvalidData`] for fewer than 2 samples, no features,
    /// a non-finite value, or data with zero total variance (every row the
    /// same: no direction is principal); [`Error::Numerical`] if an
    /// eigen/SVD iteration fails to converge.
    pub fn fit<T: Real>(&self, x: &DMatrix<T>) -> Result<FittedPca<T>> {
        self.validate()?;
        let (n, d) = x.shape();
        if n < 2 {
            return Err(Error::InvalidData(format!(
                "PCA needs at least 2 samples (rows) to estimate a variance, got {n}"
            )));
        }
        if d == 0 {
            return Err(Error::InvalidData(
                "PCA input has no features (columns)".into(),
            ));
        }
        let limit = n.min(d);
        if let Components::Count(k) = self.n_components
            && k > limit
        {
            return Err(Error::config(
                "n_components",
                format!(
                    "{k} is out of range: it must be between 1 and min(n_samples, n_features) = {limit} \
                     (n_samples = {n}, n_features = {d})"
                ),
            ));
        }
        let solver = self.resolved_solver(n, d);
        let x64 = as_f64(x);
        let stats = column_stats(&x64);
        let mean = &stats.mean;
        // A finite column sum proves every entry of the column finite (a NaN
        // or infinity would propagate), so the means double as the input
        // check and the full scan runs only to name a culprit.
        if let Some(j) = mean.iter().position(|m| !m.is_finite()) {
            check_finite(x, "PCA input")?;
            return Err(Error::InvalidData(format!(
                "PCA input: the sum of column {j} overflows f64; rescale the data"
            )));
        }
        let x = x64;
        let mut dec = match solver {
            Solver::CovarianceEigh => self.by_covariance(&x, &stats)?,
            Solver::Svd => self.by_svd(&x, mean)?,
            Solver::Randomized {
                oversampling,
                power_iterations,
            } => {
                let Components::Count(k) = self.n_components else {
                    unreachable!(
                        "validate() rejects a variance fraction with the randomized solver"
                    )
                };
                randomized::decompose(&x, mean, k, oversampling, power_iterations, self.seed)?
            }
            Solver::Auto => unreachable!("resolved_solver never returns Auto"),
        };
        // Also catches a NaN total (it cannot arise from finite input, but a
        // NaN must never pass silently).
        if dec.total_variance.is_nan() || dec.total_variance <= 0.0 {
            return Err(Error::InvalidData(
                "PCA input has zero total variance (all rows are identical); principal directions are undefined"
                    .into(),
            ));
        }
        fix_signs(&mut dec.components);
        Ok(FittedPca::from_parts(
            dec,
            stats.mean,
            n,
            self.whiten,
            solver,
        ))
    }

    /// Covariance route: eigenvalues of `C`, then vectors of the kept ones.
    ///
    /// Only the varying columns enter `C`; each constant column contributes
    /// an exact eigenpair (0, unit vector), placed after all the others.
    fn by_covariance(&self, x: &DMatrix<f64>, stats: &ColumnStats) -> Result<Decomposition> {
        let (n, d) = x.shape();
        if d > COVARIANCE_MAX_FEATURES {
            return Err(Error::config(
                "solver",
                format!(
                    "CovarianceEigh would form a {d} x {d} covariance matrix (more than \
                     {COVARIANCE_MAX_FEATURES} features); use Solver::Svd or Solver::Randomized"
                ),
            ));
        }
        let limit = n.min(d);
        let varying = &stats.varying;
        let components = self.n_components;
        let (mut values, reduced) = if varying.is_empty() {
            (Vec::new(), Mat::<f64>::zeros(0, 0))
        } else {
            let tri = Tridiagonal::new(covariance_lower(x, stats, varying));
            let top = tri.top_eigen(
                match components {
                    Components::Count(k) => Some(k),
                    Components::Variance(_) => None,
                },
                |values| kept_count(components, &clipped(values), limit),
            )?;
            (clipped(&top.values), top.vectors)
        };
        let total_variance = values.iter().sum();
        let k = match components {
            Components::Count(k) => k,
            Components::Variance(_) => reduced.ncols(),
        };
        // Back to all d coordinates; then the constant columns' unit vectors
        // if more components were asked for than there are varying columns.
        let mut full = DMatrix::<f64>::zeros(k, d);
        for r in 0..reduced.ncols() {
            for (i, &j) in varying.iter().enumerate() {
                full[(r, j)] = reduced[(i, r)];
            }
        }
        let constant = (0..d).filter(|j| varying.binary_search(j).is_err());
        for (r, j) in (reduced.ncols()..k).zip(constant) {
            full[(r, j)] = 1.0;
        }
        values.resize(limit.max(values.len()), 0.0);
        values.truncate(limit);
        Ok(Decomposition {
            components: full,
            spectrum: values,
            complete: true,
            total_variance,
            kept: k,
        })
    }

    /// SVD route: thin SVD of the centred data.
    fn by_svd(&self, x: &DMatrix<f64>, mean: &[f64]) -> Result<Decomposition> {
        let n = x.nrows();
        let xc = centered(x, mean);
        let svd = thin_svd(view(&xc), true)?;
        let values: Vec<f64> = svd.s.iter().map(|s| s * s / (n as f64 - 1.0)).collect();
        let k = kept_count(self.n_components, &values, values.len());
        let v = svd.v.expect("SVD was asked for right singular vectors");
        Ok(Decomposition {
            components: to_nalgebra(v.as_ref().subcols(0, k).transpose()),
            total_variance: values.iter().sum(),
            spectrum: values,
            complete: true,
            kept: k,
        })
    }
}

/// The number of components `choice` asks for, given the descending spectrum.
///
/// A fraction keeps the fewest components whose cumulative ratio exceeds it
/// (scikit-learn: `searchsorted(cumsum, f, side="right") + 1`), capped at
/// `limit` so rounding in the last ratio cannot ask for more than exist.
pub(crate) fn kept_count(choice: Components, values: &[f64], limit: usize) -> usize {
    match choice {
        Components::Count(k) => k,
        Components::Variance(f) => {
            let total: f64 = values.iter().sum();
            let mut cumulative = 0.0;
            for (i, v) in values.iter().enumerate() {
                cumulative += v;
                if cumulative / total > f {
                    return (i + 1).min(limit);
                }
            }
            limit
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variance_fraction_takes_first_strict_excess() {
        let values = [4.0, 3.0, 2.0, 1.0]; // cumulative ratios .4 .7 .9 1.0
        assert_eq!(kept_count(Components::Variance(0.39), &values, 4), 1);
        assert_eq!(kept_count(Components::Variance(0.4), &values, 4), 2);
        assert_eq!(kept_count(Components::Variance(0.7), &values, 4), 3);
        assert_eq!(kept_count(Components::Variance(0.95), &values, 4), 4);
        assert_eq!(kept_count(Components::Variance(0.999_999), &values, 3), 3);
    }
}
