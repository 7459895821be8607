//! The maps of a fitted PCA between data space and component space:
//! `transform`, `inverse_transform`, `reconstruct`, `reconstruction_mse`.
//!
//! They run over the data in row chunks: each chunk is widened to `f64` and
//! centred into a cache-sized buffer, then multiplied on faer's parallel
//! kernel. This avoids an `n x d` centred copy (whose page faults alone cost
//! as much as the products) and keeps the accuracy of centring first, where
//! `x Vᵀ − μ Vᵀ` would cancel when the means are large. Arithmetic is `f64`
//! for every `T`, so `f32` users get `f32`-rounded exact results.
//!
//! Determinism: fixed chunk size, thread-count independent products (see
//! [`super::product`]), and error sums taken per column (in parallel) and
//! then added in column order.

use super::covariance::fill_centered_rows;
use super::fitted::FittedPca;
use super::input::{check_finite, view};
use super::product::multiply_into;
use crate::error::{Error, Result};
use crate::real::Real;
use faer::reborrow::ReborrowMut;
use faer::{Mat, MatRef};
use nalgebra::DMatrix;
use rayon::prelude::*;

/// Rows per chunk (1024 x 784 doubles = 6.4 MB for image data).
const CHUNK_ROWS: usize = 1024;

impl<T: Real> FittedPca<T> {
    /// Scores `(x − mean) Vᵀ` (`n x k`); whitened scores are further divided
    /// by `sqrt(explained_variance)` so each has unit variance on the
    /// training data.
    ///
    /// Errors: [`Error::Shape`] if `x` does not have `d` columns;
    /// [`Error::InvalidData`] for a non-finite value.
    pub fn transform(&self, x: &DMatrix<T>) -> Result<DMatrix<T>> {
        self.check_width(x, self.n_features(), "transform", "features")?;
        let k = self.n_components();
        let mut out = DMatrix::<T>::zeros(x.nrows(), k);
        let divisor: Vec<f64> = if self.whiten {
            self.whitening_scale.clone()
        } else {
            vec![1.0; k]
        };
        self.for_each_chunk(x, |start, _, scores| {
            for (c, &s) in divisor.iter().enumerate() {
                for i in 0..scores.nrows() {
                    out[(start + i, c)] = T::of(scores[(i, c)] / s);
                }
            }
        });
        Ok(out)
    }

    /// Maps scores back to data space: `scores V + mean` (un-whitening first
    /// if the fit whitens).
    ///
    /// Errors: [`Error::Shape`] if `scores` does not have `k` columns;
    /// [`Error::InvalidData`] for a non-finite value.
    pub fn inverse_transform(&self, scores: &DMatrix<T>) -> Result<DMatrix<T>> {
        let k = self.n_components();
        self.check_width(scores, k, "inverse_transform", "components")?;
        let (n, d) = (scores.nrows(), self.n_features());
        let mut out = DMatrix::<T>::zeros(n, d);
        let rows = CHUNK_ROWS.min(n).max(1);
        let mut z = Mat::<f64>::zeros(rows, k);
        let mut recon = Mat::<f64>::zeros(rows, d);
        let axes = view(&self.axes);
        let mut start = 0;
        while start < n {
            let len = rows.min(n - start);
            for c in 0..k {
                let s = if self.whiten {
                    self.whitening_scale[c]
                } else {
                    1.0
                };
                for i in 0..len {
                    z[(i, c)] = scores[(start + i, c)].f64() * s;
                }
            }
            let mut r = recon.as_mut().subrows_mut(0, len);
            multiply_into(r.rb_mut(), z.as_ref().subrows(0, len), axes);
            self.write_rows(&mut out, start, r.as_ref());
            start += len;
        }
        Ok(out)
    }

    /// The projection of `x` onto the principal subspace, in data space:
    /// `inverse_transform(transform(x))`.
    ///
    /// Errors: as [`FittedPca::transform`].
    pub fn reconstruct(&self, x: &DMatrix<T>) -> Result<DMatrix<T>> {
        self.check_width(x, self.n_features(), "reconstruct", "features")?;
        let mut out = DMatrix::<T>::zeros(x.nrows(), self.n_features());
        let mut recon = Mat::<f64>::zeros(CHUNK_ROWS.min(x.nrows()), self.n_features());
        let axes = view(&self.axes);
        self.for_each_chunk(x, |start, _, scores| {
            let mut r = recon.as_mut().subrows_mut(0, scores.nrows());
            multiply_into(r.rb_mut(), scores, axes);
            self.write_rows(&mut out, start, r.as_ref());
        });
        Ok(out)
    }

    /// Mean squared reconstruction error over all `n·d` entries of `x`,
    /// computed in `f64` from the centred data (`xc − xc VᵀV`).
    ///
    /// Errors: as [`FittedPca::transform`]; [`Error::InvalidData`] for a
    /// matrix with no rows (no mean exists).
    pub fn reconstruction_mse(&self, x: &DMatrix<T>) -> Result<f64> {
        if x.nrows() == 0 {
            return Err(Error::InvalidData(
                "reconstruction_mse of a matrix with no rows is undefined".into(),
            ));
        }
        self.check_width(x, self.n_features(), "reconstruction_mse", "features")?;
        let d = self.n_features();
        let mut recon = Mat::<f64>::zeros(CHUNK_ROWS.min(x.nrows()), d);
        let axes = view(&self.axes);
        let mut column_sums = vec![0.0; d];
        self.for_each_chunk(x, |_, centred, scores| {
            let mut r = recon.as_mut().subrows_mut(0, scores.nrows());
            multiply_into(r.rb_mut(), scores, axes);
            let r = r.as_ref();
            column_sums.par_iter_mut().enumerate().for_each(|(j, sum)| {
                let a = centred.col(j);
                let b = r.col(j);
                for i in 0..a.nrows() {
                    let e = a[i] - b[i];
                    *sum += e * e;
                }
            });
        });
        Ok(column_sums.iter().sum::<f64>() / x.len() as f64)
    }

    /// Calls `visit(first_row, centred, scores)` for consecutive row chunks
    /// of `x`: the chunk centred in `f64` (`len x d`) and its unwhitened
    /// scores (`len x k`).
    fn for_each_chunk(
        &self,
        x: &DMatrix<T>,
        mut visit: impl FnMut(usize, MatRef<'_, f64>, MatRef<'_, f64>),
    ) {
        let (n, d) = x.shape();
        let k = self.n_components();
        let rows = CHUNK_ROWS.min(n).max(1);
        let all: Vec<usize> = (0..d).collect();
        let mut chunk = Mat::<f64>::zeros(rows, d);
        let mut scores = Mat::<f64>::zeros(rows, k);
        let axes = view(&self.axes);
        let mut start = 0;
        while start < n {
            let len = rows.min(n - start);
            fill_centered_rows(&mut chunk, x, &self.center, &all, start, len);
            let centred = chunk.as_ref().subrows(0, len);
            multiply_into(
                scores.as_mut().subrows_mut(0, len),
                centred,
                axes.transpose(),
            );
            visit(start, centred, scores.as_ref().subrows(0, len));
            start += len;
        }
    }

    /// `out[start.., :] = centred_rows + mean`, in `T`, parallel by column.
    fn write_rows(&self, out: &mut DMatrix<T>, start: usize, centred_rows: MatRef<'_, f64>) {
        let n = out.nrows();
        if n == 0 {
            return;
        }
        out.as_mut_slice()
            .par_chunks_mut(n)
            .zip(self.center.par_iter())
            .enumerate()
            .for_each(|(j, (col, &m))| {
                let src = centred_rows.col(j);
                for i in 0..src.nrows() {
                    col[start + i] = T::of(src[i] + m);
                }
            });
    }

    fn check_width(&self, x: &DMatrix<T>, want: usize, op: &str, what: &str) -> Result<()> {
        if x.ncols() != want {
            return Err(Error::Shape(format!(
                "{op}: input has {} columns but the PCA has {want} {what}",
                x.ncols()
            )));
        }
        check_finite(x, &format!("{op} input"))
    }
}
