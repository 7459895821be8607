//! Bao et al.'s rotation-augmented gradient: each batch gradient gets a
//! rotation of the latent space towards decorrelated units (the arithmetic
//! is in [`crate::train::rotation`]; the model was checked to suit it
//! before the run started).

use super::{Feature, Step};
use crate::error::Result;
use crate::model::{GradNorms, Gradient};
use crate::real::Real;
use crate::train::config::TrainConfig;
use crate::train::rotation;
use crate::train::run_state::RunState;

/// [`TrainConfig::rotation_augmented`].
pub(crate) struct RotationAugmented;

impl RotationAugmented {
    /// The piece when `cfg` asks for the rotation.
    pub(crate) fn new(cfg: &TrainConfig) -> Option<Self> {
        cfg.rotation_augmented.then_some(RotationAugmented)
    }
}

impl<T: Real> Feature<T> for RotationAugmented {
    fn on_gradient(
        &mut self,
        step: &Step<'_, T>,
        st: &mut RunState<T>,
        _params: &[T],
        grad: &mut Gradient<T>,
        _norms: &GradNorms,
    ) -> Result<()> {
        rotation::augment(&st.model, step.xt, step.rows, grad.as_mut_slice());
        Ok(())
    }
}
