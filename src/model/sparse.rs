//! Sparse-autoencoder metrics: L0, fraction of variance unexplained and
//! how far an untied model's decoder has moved from its encoder.

use super::autoencoder::Autoencoder;
use super::checks::check_input;
use crate::error::{Error, Result};
use crate::real::Real;
use nalgebra::DMatrix;

/// Mean number of nonzero entries per row of a code (n x r): the L0
/// "norm" sparse-autoencoder papers report. Errors on an empty code.
pub fn l0<T: Real>(code: &DMatrix<T>) -> Result<f64> {
    if code.nrows() == 0 {
        return Err(Error::InvalidData("L0 of an empty code".into()));
    }
    let nonzero = code.iter().filter(|&&v| v != T::zero()).count();
    Ok(nonzero as f64 / code.nrows() as f64)
}

/// Fraction of variance unexplained, `Σ |x_i − x̂_i|² / Σ |x_i − x̄|²` (the
/// MSE over the total variance), in f64: 0 is perfect, 1 is no better than
/// the mean, and it is comparable across data sets and with PCA, whose FVU
/// at k components is the discarded eigenvalue share. Errors on shape
/// mismatches, an empty batch and data with no variance.
pub fn fvu<T: Real>(x: &DMatrix<T>, reconstruction: &DMatrix<T>) -> Result<f64> {
    if x.shape() != reconstruction.shape() {
        return Err(Error::Shape(format!(
            "reconstruction is {}x{}, data is {}x{}",
            reconstruction.nrows(),
            reconstruction.ncols(),
            x.nrows(),
            x.ncols()
        )));
    }
    if x.nrows() == 0 {
        return Err(Error::InvalidData("FVU of an empty batch".into()));
    }
    let (n, d) = x.shape();
    let (mut err, mut var) = (0.0f64, 0.0f64);
    for j in 0..d {
        let mean = x.column(j).iter().map(|v| v.f64()).sum::<f64>() / n as f64;
        for i in 0..n {
            let v = x[(i, j)].f64();
            err += (v - reconstruction[(i, j)].f64()).powi(2);
            var += (v - mean).powi(2);
        }
    }
    if var == 0.0 {
        return Err(Error::InvalidData(
            "FVU of data without variance (every row equal)".into(),
        ));
    }
    let f = err / var;
    if f.is_finite() {
        Ok(f)
    } else {
        Err(Error::Numerical(format!("FVU is {f}")))
    }
}

impl<T: Real> Autoencoder<T> {
    /// [`l0`] of the latent code of `x`.
    pub fn l0(&self, x: &DMatrix<T>) -> Result<f64> {
        l0(&self.encode(x)?)
    }

    /// [`fvu`] of the reconstruction of `x`.
    pub fn fvu(&self, x: &DMatrix<T>) -> Result<f64> {
        check_input(x, self.input_dim(), "input")?;
        fvu(x, &self.reconstruct(x)?)
    }

    /// Per latent unit of an untied latent pair, the cosine between its
    /// encoder direction (row `i` of `W_enc`, or of `K_enc` for conv) and
    /// its decoder direction (column `i` of `W_dec`, or row `i` of
    /// `K_dec`): 1 everywhere for a model that is still tied, as one with
    /// [`Init::TiedGlorotUniform`](super::Init::TiedGlorotUniform) starts.
    /// `None` for a tied latent pair (the cosine is 1 by construction). A
    /// zero direction has cosine 0.
    pub fn decoder_encoder_cosines(&self) -> Option<Vec<f64>> {
        let s = self.layout().layers().last()?;
        s.decoder_weight.as_ref()?;
        let dec = s.decoder_directions();
        let p = self.params_to_vec();
        // Encoder directions are the rows of the stored encoder matrix.
        let len = dec.len;
        Some(
            (0..dec.count)
                .map(|i| {
                    let (mut ed, mut ee, mut dd) = (0.0f64, 0.0f64, 0.0f64);
                    for j in 0..len {
                        let e = p[s.weight.start + i * len + j].f64();
                        let d = p[dec.at(i, j)].f64();
                        ed += e * d;
                        ee += e * e;
                        dd += d * d;
                    }
                    let den = (ee * dd).sqrt();
                    if den == 0.0 { 0.0 } else { ed / den }
                })
                .collect(),
        )
    }

    /// The mean of [`Autoencoder::decoder_encoder_cosines`].
    pub fn mean_decoder_encoder_cosine(&self) -> Option<f64> {
        let c = self.decoder_encoder_cosines()?;
        (!c.is_empty()).then(|| c.iter().sum::<f64>() / c.len() as f64)
    }
}
