//! The L1 coefficient's warm-up (see [`TrainConfig::l1_warmup_steps`]):
//! each batch's objective uses `λ₁ · min(s / N, 1)` at step `s`, and the
//! JumpReLU L0 coefficient `λ₀` the same way.
//!
//! A function of the step number alone, which the loop derives from the
//! run state's epoch and batch, so a resumed run warms up exactly as an
//! uninterrupted one and the piece keeps no state.

use super::{Feature, Step};
use crate::real::Real;
use crate::train::config::TrainConfig;
use crate::train::engine::BatchExtras;
use crate::train::run_state::RunState;
use crate::train::schedule::l1_warmup_factor;

/// [`TrainConfig::l1_warmup_steps`].
pub(crate) struct L1Warmup {
    /// Steps of the warm-up (>= 1).
    steps: usize,
}

impl L1Warmup {
    /// The piece when `cfg` warms up a positive L1 or L0 coefficient.
    pub(crate) fn new(cfg: &TrainConfig) -> Option<Self> {
        let on = cfg.l1_warmup_steps > 0 && (cfg.loss.l1 > 0.0 || cfg.loss.l0 > 0.0);
        on.then_some(L1Warmup {
            steps: cfg.l1_warmup_steps,
        })
    }
}

impl<T: Real> Feature<T> for L1Warmup {
    fn batch_extras<'a>(
        &'a mut self,
        step: &Step<'_, T>,
        _st: &RunState<T>,
        extras: &mut BatchExtras<'a>,
    ) {
        extras.l1_scale = Some(l1_warmup_factor(step.step, self.steps));
    }
}
