//! BatchTopK's inference threshold: a BatchTopK pair learns it as a running
//! estimate from the smallest value every training batch's code kept (see
//! [`Autoencoder::batch_top_k_thresholds`]).
//!
//! The estimate moves only once the batch's step is in the model, so a
//! step that diverges leaves the thresholds of the last finite weights.

use super::{Feature, Step};
use crate::error::Result;
use crate::model::Autoencoder;
use crate::real::Real;
use crate::train::engine::BatchExtras;
use crate::train::run_state::RunState;

/// On for every model with a BatchTopK pair.
pub(crate) struct BatchTopKThresholds {
    /// Per pair: the smallest value the batch's code kept.
    kept: Vec<Option<f64>>,
}

impl BatchTopKThresholds {
    /// The piece when `model` has a BatchTopK pair.
    pub(crate) fn new<T: Real>(model: &Autoencoder<T>) -> Option<Self> {
        let any = model.spec().hidden.iter().any(|a| a.is_batch_top_k());
        any.then_some(BatchTopKThresholds { kept: Vec::new() })
    }
}

impl<T: Real> Feature<T> for BatchTopKThresholds {
    fn batch_extras<'a>(
        &'a mut self,
        _step: &Step<'_, T>,
        _st: &RunState<T>,
        extras: &mut BatchExtras<'a>,
    ) {
        extras.smallest_kept = Some(&mut self.kept);
    }

    fn after_step(&mut self, st: &mut RunState<T>) -> Result<()> {
        st.model.update_batch_top_k_thresholds(&self.kept)
    }
}
