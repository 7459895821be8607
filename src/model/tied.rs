//! A tied layer pair: one weight `W` (r x d) used by the encoder as `Wᵀ` and
//! by the decoder as `W`.

use super::affine;
use super::bias::Biases;
use super::kernels::{Strided, all_finite};
use crate::error::{Error, Result};
use crate::real::Real;
use nalgebra::DMatrix;

/// A tied pair: `z = x Wᵀ + b_enc`, `v = h W + b_dec` (see
/// [`super::BiasMode`] for the other bias modes). Activations are applied by
/// the [`super::Autoencoder`] stack, so these maps are affine.
#[derive(Clone, Debug, PartialEq)]
pub struct TiedLinear<T: Real> {
    weight: DMatrix<T>,
    biases: Biases<T>,
}

pub(crate) fn check_finite<T: Real>(m: &DMatrix<T>, what: &str) -> Result<()> {
    if all_finite(m.as_slice()) {
        return Ok(());
    }
    match m.iter().position(|x| !x.is_finite()) {
        None => Ok(()),
        Some(k) => Err(Error::InvalidData(format!(
            "{what} has a non-finite entry at ({}, {})",
            k % m.nrows().max(1),
            k / m.nrows().max(1)
        ))),
    }
}

pub(crate) fn check_input<T: Real>(x: &DMatrix<T>, cols: usize, what: &str) -> Result<()> {
    if x.ncols() != cols {
        return Err(Error::Shape(format!(
            "{what} has {} columns, the layer expects {cols}",
            x.ncols()
        )));
    }
    check_finite(x, what)
}

impl<T: Real> TiedLinear<T> {
    /// A pair from `W` (r x d) and biases of matching lengths; all entries
    /// must be finite.
    pub fn new(weight: DMatrix<T>, biases: Biases<T>) -> Result<Self> {
        check_finite(&weight, "tied weight")?;
        biases.check(weight.ncols(), weight.nrows())?;
        Ok(TiedLinear { weight, biases })
    }

    /// `W`, r x d: row `i` is hidden unit `i`'s filter.
    pub fn weight(&self) -> &DMatrix<T> {
        &self.weight
    }

    /// The biases.
    pub fn biases(&self) -> &Biases<T> {
        &self.biases
    }

    /// Input width `d`.
    pub fn input_dim(&self) -> usize {
        self.weight.ncols()
    }

    /// Hidden width `r`.
    pub fn output_dim(&self) -> usize {
        self.weight.nrows()
    }

    /// Encoder pre-activation of a batch `x` (n x d) -> n x r.
    pub fn encode(&self, x: &DMatrix<T>) -> Result<DMatrix<T>> {
        check_input(x, self.input_dim(), "input")?;
        let mut z = DMatrix::zeros(x.nrows(), self.output_dim());
        affine::encode_into(self.enc(), &self.biases, x, &mut z);
        Ok(z)
    }

    /// Decoder pre-activation of a batch `h` (n x r) -> n x d.
    pub fn decode(&self, h: &DMatrix<T>) -> Result<DMatrix<T>> {
        check_input(h, self.output_dim(), "code")?;
        let mut v = DMatrix::zeros(h.nrows(), self.input_dim());
        affine::decode_into(self.dec(), &self.biases, h, &mut v);
        Ok(v)
    }

    pub(crate) fn enc(&self) -> Strided<'_, T> {
        Strided::of(&self.weight)
    }

    pub(crate) fn dec(&self) -> Strided<'_, T> {
        Strided::of(&self.weight)
    }

    pub(crate) fn parts_mut(&mut self) -> (&mut DMatrix<T>, &mut Biases<T>) {
        (&mut self.weight, &mut self.biases)
    }
}
