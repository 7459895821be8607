//! Gradient clipping: each batch gradient is rescaled to at most a global
//! norm, measured on the full gradient as the engine computed it (before
//! any other piece changes it).

use super::{Feature, Step};
use crate::error::Result;
use crate::model::{GradNorms, Gradient};
use crate::real::Real;
use crate::train::config::TrainConfig;
use crate::train::run_state::RunState;

/// [`TrainConfig::clip_grad_norm`].
pub(crate) struct ClipGradNorm {
    max_norm: f64,
}

impl ClipGradNorm {
    /// The piece when `cfg` clips.
    pub(crate) fn new(cfg: &TrainConfig) -> Option<Self> {
        cfg.clip_grad_norm.map(|max_norm| ClipGradNorm { max_norm })
    }
}

impl<T: Real> Feature<T> for ClipGradNorm {
    fn on_gradient(
        &mut self,
        _step: &Step<'_, T>,
        _st: &mut RunState<T>,
        _params: &[T],
        grad: &mut Gradient<T>,
        norms: &GradNorms,
    ) -> Result<()> {
        let n = norms.total;
        if n > self.max_norm {
            grad.scale(T::of(self.max_norm / n));
        }
        Ok(())
    }
}
