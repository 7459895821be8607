//! Training features as pieces plugged into the minibatch loop.
//!
//! Why: written as branches of the loop, every research option (denoising,
//! the L1 warm-up, dead latents, clipping, frozen biases, the
//! rotation-augmented gradient, the unit-norm decoder, AdamW's decoupled
//! decay, BatchTopK thresholds) lengthens the loop, and the order in which
//! they act stays implicit.
//! Here each option is a [`Feature`] in a file of its own, the loop calls
//! the hook points below whatever is switched on, and [`active`] is the one
//! place that decides which pieces run and in what order. A new feature is
//! a new file and one line in [`active`].
//!
//! # Hook points, in the order a run meets them
//!
//! 1. [`Feature::start`]: once, before the first batch of a fresh or
//!    resumed run, on the run state and the flat parameters.
//! 2. [`Feature::batch_extras`]: before each batch's gradient, what the
//!    batch adds to the plain objective ([`BatchExtras`]).
//! 3. [`Feature::on_gradient`]: on the batch's gradient, after the epoch
//!    accumulator has taken its norms, before the update.
//! 4. [`Feature::before_update`]: on the parameters, just before the
//!    optimizer's update.
//! 5. [`Feature::after_update`]: on the updated parameters, before they are
//!    loaded into the model.
//! 6. [`Feature::after_step`]: after the updated parameters are in the
//!    model (a step that diverged never gets here).
//! 7. [`Feature::end_epoch`]: on the epoch's record, before validation.
//!
//! # Order of the pieces
//!
//! At every hook point the pieces act in the order [`active`] registers
//! them, which is:
//!
//! 1. denoising (`corruption`): sets the batch's input corruption;
//! 2. the L1 warm-up (`l1_warmup_steps`): sets the factor of the batch's
//!    L1 (and JumpReLU L0) coefficient from the step number;
//! 3. dead latents (`dead_latents`): marks the dead latents and asks for
//!    the AuxK term before the gradient, counts which latents fired after
//!    it, records the dead fraction at the end of the epoch;
//! 4. gradient clipping (`clip_grad_norm`), by the norm of the full
//!    gradient as the engine computed it;
//! 5. frozen biases (`freeze_biases`): zeroes the biases' gradient (the
//!    clipping norm still includes them: it is the engine's);
//! 6. the rotation-augmented gradient (`rotation_augmented`);
//! 7. the unit-norm decoder (`unit_norm_decoder`): normalises once at the
//!    start, removes the gradient's parallel components last of all the
//!    gradient pieces (so the step it shapes is the one taken), and
//!    renormalises after the update;
//! 8. AdamW's decoupled weight decay: after every gradient piece (the
//!    unit-norm projection reads the undecayed weights), just before the
//!    Adam step;
//! 9. BatchTopK thresholds: updated from the batch's code once the step
//!    is in the model.
//!
//! Only clipping, frozen biases, rotation and the unit-norm projection
//! share a hook point and touch the same numbers, so their relative order
//! is what fixes the arithmetic; the others act at hook points of their
//! own or on separate state. No piece draws random numbers: a denoising
//! run's noise comes from per-sample seeds inside the engine (see
//! [`crate::train::Corruption`]), and the epoch shuffle stays in the loop.

mod batch_top_k;
mod clip_grad_norm;
mod dead_latents;
mod denoising;
mod freeze_biases;
mod l1_warmup;
mod rotation_augmented;
mod unit_norm_decoder;
mod weight_decay;

use super::config::TrainConfig;
use super::engine::BatchExtras;
use super::history::EpochRecord;
use super::run_state::RunState;
use crate::error::Result;
use crate::model::{Autoencoder, GradNorms, Gradient};
use crate::real::Real;
use nalgebra::DMatrix;

/// Where a minibatch step is: what the loop knows about the batch that the
/// pieces may need.
pub(crate) struct Step<'b, T: Real> {
    /// Epoch (from 1).
    pub epoch: usize,
    /// Optimizer steps taken before this one in the whole run (from 0).
    pub step: usize,
    /// This step's learning rate: the epoch's, times the per-step warm-up
    /// and decay factor (see [`crate::train::schedule::step_factor`]).
    pub lr: f64,
    /// The batch's samples: column indices of `xt`.
    pub rows: &'b [usize],
    /// The training data, one sample per column.
    pub xt: &'b DMatrix<T>,
}

/// One training feature: it overrides the hook points it acts at (see the
/// module docs); the others do nothing.
///
/// A piece keeps only scratch buffers, refilled every batch: whatever must
/// carry over between batches lives in [`RunState`], which checkpoints
/// store, so a resumed run acts exactly as an uninterrupted one.
pub(crate) trait Feature<T: Real> {
    /// Once, before the first batch of a fresh or resumed run (`st.epoch`
    /// and `st.batch` tell which). `params` is the model's flat parameter
    /// vector; a piece that changes it loads it into `st.model` itself.
    fn start(&mut self, _st: &mut RunState<T>, _params: &mut [T]) -> Result<()> {
        Ok(())
    }

    /// Before the batch's gradient: fills the fields of `extras` this piece
    /// owns (they may borrow the piece's buffers until the gradient is
    /// computed).
    fn batch_extras<'a>(
        &'a mut self,
        _step: &Step<'_, T>,
        _st: &RunState<T>,
        _extras: &mut BatchExtras<'a>,
    ) {
    }

    /// On the batch's gradient `grad` (its norms before any piece acted:
    /// `norms`), at the parameters `params` the gradient was taken at.
    fn on_gradient(
        &mut self,
        _step: &Step<'_, T>,
        _st: &mut RunState<T>,
        _params: &[T],
        _grad: &mut Gradient<T>,
        _norms: &GradNorms,
    ) -> Result<()> {
        Ok(())
    }

    /// On the parameters, just before the optimizer's update.
    fn before_update(&mut self, _step: &Step<'_, T>, _params: &mut [T]) {}

    /// On the updated parameters, before they are loaded into the model.
    /// Returns whether it rewrote them: the optimizer's check that every
    /// parameter is finite then no longer covers them, and loading scans
    /// them again.
    fn after_update(&mut self, _st: &RunState<T>, _params: &mut [T]) -> Result<bool> {
        Ok(false)
    }

    /// After the updated parameters are loaded into `st.model`.
    fn after_step(&mut self, _st: &mut RunState<T>) -> Result<()> {
        Ok(())
    }

    /// At the end of an epoch, on its record, before validation.
    fn end_epoch(&mut self, _st: &RunState<T>, _rec: &mut EpochRecord) {}
}

/// The pieces a run uses, in acting order.
pub(crate) struct Features<T: Real> {
    pieces: Vec<Box<dyn Feature<T>>>,
}

/// The pieces `cfg` switches on for `model`, in the order they act (see the
/// module docs). The one registration point: a new feature adds its line
/// here, where its order among the others is decided.
pub(crate) fn active<T: Real>(cfg: &TrainConfig, model: &Autoencoder<T>) -> Features<T> {
    let mut set = Features { pieces: Vec::new() };
    set.add(denoising::Denoising::new(cfg));
    set.add(l1_warmup::L1Warmup::new(cfg));
    set.add(dead_latents::DeadLatentTracking::new(cfg));
    set.add(clip_grad_norm::ClipGradNorm::new(cfg));
    set.add(freeze_biases::FreezeBiases::new(cfg));
    set.add(rotation_augmented::RotationAugmented::new(cfg));
    set.add(unit_norm_decoder::UnitNormDecoder::new(cfg));
    set.add(weight_decay::WeightDecay::new(cfg, model));
    set.add(batch_top_k::BatchTopKThresholds::new(model));
    set
}

impl<T: Real> Features<T> {
    fn add<F: Feature<T> + 'static>(&mut self, piece: Option<F>) {
        if let Some(p) = piece {
            self.pieces.push(Box::new(p));
        }
    }

    /// [`Feature::start`] of every piece.
    pub(crate) fn start(&mut self, st: &mut RunState<T>, params: &mut [T]) -> Result<()> {
        for p in &mut self.pieces {
            p.start(st, params)?;
        }
        Ok(())
    }

    /// The batch's [`BatchExtras`], filled by every piece.
    pub(crate) fn batch_extras<'a>(
        &'a mut self,
        step: &Step<'_, T>,
        st: &RunState<T>,
    ) -> BatchExtras<'a> {
        let mut extras = BatchExtras::default();
        for p in &mut self.pieces {
            p.batch_extras(step, st, &mut extras);
        }
        extras
    }

    /// [`Feature::on_gradient`] of every piece.
    pub(crate) fn on_gradient(
        &mut self,
        step: &Step<'_, T>,
        st: &mut RunState<T>,
        params: &[T],
        grad: &mut Gradient<T>,
        norms: &GradNorms,
    ) -> Result<()> {
        for p in &mut self.pieces {
            p.on_gradient(step, st, params, grad, norms)?;
        }
        Ok(())
    }

    /// [`Feature::before_update`] of every piece.
    pub(crate) fn before_update(&mut self, step: &Step<'_, T>, params: &mut [T]) {
        for p in &mut self.pieces {
            p.before_update(step, params);
        }
    }

    /// [`Feature::after_update`] of every piece; whether any rewrote the
    /// parameters.
    pub(crate) fn after_update(&mut self, st: &RunState<T>, params: &mut [T]) -> Result<bool> {
        let mut rewritten = false;
        for p in &mut self.pieces {
            rewritten |= p.after_update(st, params)?;
        }
        Ok(rewritten)
    }

    /// [`Feature::after_step`] of every piece.
    pub(crate) fn after_step(&mut self, st: &mut RunState<T>) -> Result<()> {
        for p in &mut self.pieces {
            p.after_step(st)?;
        }
        Ok(())
    }

    /// [`Feature::end_epoch`] of every piece.
    pub(crate) fn end_epoch(&mut self, st: &RunState<T>, rec: &mut EpochRecord) {
        for p in &mut self.pieces {
            p.end_epoch(st, rec);
        }
    }
}
