//! The unit-norm decoder of sparse-autoencoder practice (the arithmetic and
//! its reasons are in [`crate::train::constraint`]): the latent pair's
//! decoder directions are normalised once at the start of a fresh run, the
//! gradient component parallel to each is removed before every step, and
//! they are renormalised after it.
//!
//! The projection reads the parameters the gradient was taken at, so it
//! comes after every other gradient piece and before AdamW's decay (the
//! order is set in [`super::active`]).

use super::{Feature, Step};
use crate::error::Result;
use crate::model::{GradNorms, Gradient};
use crate::real::Real;
use crate::train::config::TrainConfig;
use crate::train::constraint;
use crate::train::run_state::RunState;

/// [`TrainConfig::unit_norm_decoder`].
pub(crate) struct UnitNormDecoder;

impl UnitNormDecoder {
    /// The piece when `cfg` holds the decoder at unit norm.
    pub(crate) fn new(cfg: &TrainConfig) -> Option<Self> {
        cfg.unit_norm_decoder.then_some(UnitNormDecoder)
    }
}

impl<T: Real> Feature<T> for UnitNormDecoder {
    fn start(&mut self, st: &mut RunState<T>, params: &mut [T]) -> Result<()> {
        // Only at the start of a fresh run: a resumed run's weights are
        // already normalised, and renormalising them again could change
        // their last bits.
        if st.epoch == 1 && st.batch == 0 {
            constraint::normalize_decoder(st.model.layout(), params)?;
            st.model.set_params(params)?;
        }
        Ok(())
    }

    fn on_gradient(
        &mut self,
        _step: &Step<'_, T>,
        st: &mut RunState<T>,
        params: &[T],
        grad: &mut Gradient<T>,
        _norms: &GradNorms,
    ) -> Result<()> {
        constraint::remove_parallel_gradient(st.model.layout(), params, grad.as_mut_slice())
    }

    fn after_update(&mut self, st: &RunState<T>, params: &mut [T]) -> Result<bool> {
        constraint::normalize_decoder(st.model.layout(), params)?;
        Ok(true)
    }
}
