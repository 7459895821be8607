//! Centres of a data set for the pre-centering bias `b_pre`.
//!
//! Gao et al. 2024 initialise a sparse autoencoder's pre-encoder bias at the
//! geometric median of the data: the point minimising the sum of Euclidean
//! distances, a robust centre that a few outlying samples cannot drag away
//! (the mean can). The mean is offered too, as the classical centre and the
//! one PCA uses.

use crate::error::{Error, Result};
use crate::real::Real;
use crate::validate;
use nalgebra::{DMatrix, DVector};
use serde::{Deserialize, Serialize};

/// How to initialise the pre-centering bias from data (see
/// [`super::Autoencoder::init_pre_bias`]).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum PreBiasInit {
    /// The mean of the rows.
    Mean,
    /// The geometric median of the rows by Weiszfeld iterations (with the
    /// Vardi–Zhang step at data points), from the mean, until a step moves
    /// less than `tol · (1 + |y|)` or after `max_iters` iterations.
    GeometricMedian { max_iters: usize, tol: f64 },
}

impl PreBiasInit {
    /// The geometric median with 200 iterations at most and tolerance 1e-12.
    pub const fn geometric_median() -> Self {
        PreBiasInit::GeometricMedian {
            max_iters: 200,
            tol: 1e-12,
        }
    }

    /// Checks the iteration settings.
    pub fn validate(&self) -> Result<()> {
        if let PreBiasInit::GeometricMedian { max_iters, tol } = *self {
            if max_iters == 0 {
                return Err(Error::config("pre_bias.max_iters", "must be at least 1"));
            }
            validate::non_negative("pre_bias.tol", tol)?;
        }
        Ok(())
    }

    /// The centre of the rows of `x`, in f64.
    pub fn centre<T: Real>(&self, x: &DMatrix<T>) -> Result<DVector<f64>> {
        self.validate()?;
        match *self {
            PreBiasInit::Mean => mean(x),
            PreBiasInit::GeometricMedian { max_iters, tol } => geometric_median(x, max_iters, tol),
        }
    }
}

fn check<T: Real>(x: &DMatrix<T>) -> Result<()> {
    if x.nrows() == 0 {
        return Err(Error::InvalidData("the centre of no rows".into()));
    }
    if let Some(k) = x.iter().position(|v| !v.is_finite()) {
        return Err(Error::InvalidData(format!(
            "data entry (row {}, column {}) is not finite",
            k % x.nrows(),
            k / x.nrows()
        )));
    }
    Ok(())
}

/// The mean of the rows of `x` (summed in f64, in row order).
pub fn mean<T: Real>(x: &DMatrix<T>) -> Result<DVector<f64>> {
    check(x)?;
    let n = x.nrows() as f64;
    Ok(DVector::from_fn(x.ncols(), |j, _| {
        x.column(j).iter().map(|v| v.f64()).sum::<f64>() / n
    }))
}

/// The geometric median `argmin_y Σ_i |x_i − y|` of the rows of `x`.
///
/// Weiszfeld's iteration `y ← Σ w_i x_i / Σ w_i`, `w_i = 1 / |x_i − y|`, from
/// the mean. Where `y` coincides with `η` data points their weights are
/// infinite; the Vardi–Zhang (2000) step `y ← (1 − η/ρ)⁺ T + min(1, η/ρ) y`
/// (with `T` the Weiszfeld point of the other rows and `ρ = |Σ w_i (x_i −
/// y)|` over them) handles it, and stays at `y` exactly when `y` is the
/// median. Every sum runs in f64 in row order, so the result is
/// deterministic. Errors on no rows or a non-finite entry.
pub fn geometric_median<T: Real>(
    x: &DMatrix<T>,
    max_iters: usize,
    tol: f64,
) -> Result<DVector<f64>> {
    let mut y = mean(x)?;
    let (n, d) = x.shape();
    let mut num = DVector::<f64>::zeros(d);
    for _ in 0..max_iters {
        num.fill(0.0);
        let (mut wsum, mut at_y) = (0.0f64, 0usize);
        for i in 0..n {
            let dist = (0..d)
                .map(|j| (x[(i, j)].f64() - y[j]).powi(2))
                .sum::<f64>()
                .sqrt();
            if dist == 0.0 {
                at_y += 1;
                continue;
            }
            let w = 1.0 / dist;
            wsum += w;
            for j in 0..d {
                num[j] += w * x[(i, j)].f64();
            }
        }
        if wsum == 0.0 {
            break; // every row sits at y
        }
        let t = &num / wsum;
        let next = if at_y == 0 {
            t
        } else {
            // ρ = |Σ w_i (x_i − y)| = wsum |T − y|.
            let rho = wsum * (&t - &y).norm();
            if rho <= at_y as f64 {
                break; // y is the median: the data point's pull wins
            }
            let s = at_y as f64 / rho;
            &t * (1.0 - s) + &y * s
        };
        let step = (&next - &y).norm();
        y = next;
        if step <= tol * (1.0 + y.norm()) {
            break;
        }
    }
    if y.iter().any(|v| !v.is_finite()) {
        return Err(Error::Numerical(
            "geometric median iteration produced non-finite values".into(),
        ));
    }
    Ok(y)
}
