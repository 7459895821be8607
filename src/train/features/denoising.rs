//! Denoising (Vincent et al. 2010): each batch's inputs are corrupted, the
//! loss compares the output with the clean samples.
//!
//! The piece only names the corruption and the epoch's seed; the engine
//! corrupts each sample from its own stream (see [`Corruption::apply`]), so
//! the noise does not depend on batches, shards or threads, and a resumed
//! run corrupts exactly as an uninterrupted one.

use super::{Feature, Step};
use crate::real::Real;
use crate::train::config::TrainConfig;
use crate::train::corruption::Corruption;
use crate::train::engine::BatchExtras;
use crate::train::run_state::RunState;

/// [`TrainConfig::corruption`].
pub(crate) struct Denoising {
    corruption: Corruption,
    seed: u64,
}

impl Denoising {
    /// The piece when `cfg` asks for a corruption.
    pub(crate) fn new(cfg: &TrainConfig) -> Option<Self> {
        cfg.corruption.map(|corruption| Denoising {
            corruption,
            seed: cfg.seed,
        })
    }
}

impl<T: Real> Feature<T> for Denoising {
    fn batch_extras<'a>(
        &'a mut self,
        step: &Step<'_, T>,
        _st: &RunState<T>,
        extras: &mut BatchExtras<'a>,
    ) {
        let seed = Corruption::epoch_seed(self.seed, step.epoch as u64);
        extras.noise = Some((self.corruption, seed));
    }
}
