//! Frozen biases (the untrained side of Refinetti & Goldt's comparison):
//! the bias entries of each batch gradient are zeroed, so every optimizer
//! leaves the biases at their initial values (see
//! [`TrainConfig::freeze_biases`]).
//!
//! Zeroing acts on the flat gradient the optimizer reads, after clipping,
//! so the clipping norm is the full gradient's, as without the option.

use super::{Feature, Step};
use crate::error::Result;
use crate::model::{GradNorms, Gradient};
use crate::real::Real;
use crate::train::config::TrainConfig;
use crate::train::run_state::RunState;

/// [`TrainConfig::freeze_biases`].
pub(crate) struct FreezeBiases;

impl FreezeBiases {
    /// The piece when `cfg` freezes the biases.
    pub(crate) fn new(cfg: &TrainConfig) -> Option<Self> {
        cfg.freeze_biases.then_some(FreezeBiases)
    }
}

impl<T: Real> Feature<T> for FreezeBiases {
    fn on_gradient(
        &mut self,
        _step: &Step<'_, T>,
        st: &mut RunState<T>,
        _params: &[T],
        grad: &mut Gradient<T>,
        _norms: &GradNorms,
    ) -> Result<()> {
        let g = grad.as_mut_slice();
        for slots in st.model.layout().layers() {
            g[slots.biases.clone()].fill(T::of(0.0));
        }
        Ok(())
    }
}
