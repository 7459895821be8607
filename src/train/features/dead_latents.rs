//! Dead-latent tracking, and AuxK revival if asked (see
//! [`crate::train::DeadLatents`]).
//!
//! The run state counts, per latent, the training samples since it last
//! fired (`RunState::since_fired`, which checkpoints keep). Before each
//! batch the latents dead by that count are marked (and, with AuxK, handed
//! to the engine, which adds the term for them); after the batch's gradient
//! the counts are updated from which latents fired on it; each epoch's
//! record gets the fraction dead at its end.

use super::{Feature, Step};
use crate::error::Result;
use crate::model::{AuxK, AuxKLoss, GradNorms, Gradient};
use crate::real::Real;
use crate::train::config::TrainConfig;
use crate::train::engine::BatchExtras;
use crate::train::history::EpochRecord;
use crate::train::run_state::RunState;

/// [`TrainConfig::dead_latents`].
pub(crate) struct DeadLatentTracking {
    /// Samples without firing after which a latent counts as dead.
    window: usize,
    auxk: Option<AuxK>,
    /// Per latent: dead as of the start of the current batch.
    dead: Vec<bool>,
    /// Per latent: whether it fired on the current batch (the engine
    /// fills it).
    fired: Vec<bool>,
}

impl DeadLatentTracking {
    /// The piece when `cfg` tracks dead latents.
    pub(crate) fn new(cfg: &TrainConfig) -> Option<Self> {
        cfg.dead_latents.map(|dl| DeadLatentTracking {
            window: dl.window,
            auxk: dl.auxk,
            dead: Vec::new(),
            fired: Vec::new(),
        })
    }
}

/// The fraction of latents that have not fired in the last `window`
/// samples (0 for a model without latents, which cannot be built).
fn dead_fraction(since_fired: &[u64], window: usize) -> f64 {
    if since_fired.is_empty() {
        return 0.0;
    }
    let dead = since_fired.iter().filter(|&&s| s >= window as u64).count();
    dead as f64 / since_fired.len() as f64
}

impl<T: Real> Feature<T> for DeadLatentTracking {
    fn start(&mut self, st: &mut RunState<T>, _params: &mut [T]) -> Result<()> {
        // A fresh run starts every count at zero; a resumed one keeps its
        // checkpointed counts when they fit the model.
        let latent = st.model.latent_dim();
        if st.since_fired.len() != latent {
            st.since_fired = vec![0; latent];
        }
        Ok(())
    }

    fn batch_extras<'a>(
        &'a mut self,
        _step: &Step<'_, T>,
        st: &RunState<T>,
        extras: &mut BatchExtras<'a>,
    ) {
        let (window, auxk) = (self.window as u64, self.auxk);
        // The buffers are borrowed apart: `fired` by the engine for the
        // batch, `dead` by the AuxK term.
        let DeadLatentTracking { dead, fired, .. } = self;
        // Dead as of the start of this batch.
        dead.clear();
        dead.extend(st.since_fired.iter().map(|&s| s >= window));
        let dead: &'a [bool] = dead;
        // The engine computes the batch's residual spread (the AuxK
        // denominator) and hands it to every shard.
        extras.aux = auxk.map(|config| AuxKLoss::new(config, dead));
        extras.fired = Some(fired);
    }

    fn on_gradient(
        &mut self,
        step: &Step<'_, T>,
        st: &mut RunState<T>,
        _params: &[T],
        _grad: &mut Gradient<T>,
        _norms: &GradNorms,
    ) -> Result<()> {
        let samples = step.rows.len() as u64;
        for (s, &f) in st.since_fired.iter_mut().zip(&self.fired) {
            *s = if f { 0 } else { s.saturating_add(samples) };
        }
        Ok(())
    }

    fn end_epoch(&mut self, st: &RunState<T>, rec: &mut EpochRecord) {
        rec.dead_fraction = Some(dead_fraction(&st.since_fired, self.window));
    }
}
