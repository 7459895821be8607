//! The training loop: validation split, epoch shuffles, minibatch updates,
//! early stopping, divergence detection, checkpoints and interrupts.

use super::checkpoint::{Checkpoint, DataFingerprint};
use super::config::{Optimizer, TrainConfig};
use super::engine::ShardEngine;
use super::features::{self, Step};
use super::history::History;
use super::optimizer::OptimizerState;
use super::progress::Reporter;
use super::run_state::{
    RowSplit, RunContext, RunState, StopReason, TrainEvent, diverged, shuffled,
};
use super::{lbfgs, rotation, schedule};
use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::model::{Autoencoder, all_finite, first_non_finite};
use crate::real::Real;
use crate::rng::derive_seed;
use nalgebra::DMatrix;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

/// Trains autoencoders with a validated [`TrainConfig`].
///
/// Batches are cut into fixed-size shards whose gradients are computed in
/// parallel on the current rayon pool and summed in a fixed order, so the
/// same seed gives the same weights, bit for bit, with any number of threads.
///
/// ```
/// use tiedae::model::{Autoencoder, AutoencoderSpec};
/// use tiedae::train::{Optimizer, Progress, TrainConfig, Trainer};
///
/// let x = nalgebra::DMatrix::from_fn(120, 6, |i, j| ((i * (j + 1)) % 7) as f32 / 7.0);
/// let model = Autoencoder::<f32>::new(&AutoencoderSpec::new(&[6, 2]), 1)?;
/// let trainer = Trainer::new(
///     TrainConfig::new()
///         .epochs(5)
///         .batch_size(32)
///         .optimizer(Optimizer::adam())
///         .learning_rate(1e-2)
///         .seed(7)
///         .progress(Progress::Silent),
/// )?;
/// let trained = trainer.fit(model, &x)?;
/// let first = trained.history.epochs[0].train.total;
/// assert!(trained.history.last().unwrap().train.total < first);
/// let df = trained.history.to_dataframe()?; // one row per epoch
/// assert_eq!(df.height(), 5);
/// # Ok::<(), tiedae::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct Trainer {
    config: TrainConfig,
    interrupt: Arc<AtomicBool>,
    /// Whether `interrupt` is this trainer's own flag, which a new run
    /// lowers. A flag given by [`Trainer::with_interrupt_flag`] belongs to
    /// its giver (a study, a signal handler): lowering it would swallow a
    /// signal that arrived just before a run started.
    owns_interrupt: bool,
}

/// A trained model with its record.
#[derive(Clone, Debug)]
pub struct TrainOutcome<T: Real> {
    /// The trained model (the best epoch's weights when early stopping
    /// restores them).
    pub model: Autoencoder<T>,
    /// One record per epoch.
    pub history: History,
    /// Why training ended.
    pub stop: StopReason,
    /// The epoch whose weights `model` holds, when early stopping chose it.
    pub best_epoch: Option<usize>,
}

/// A run that ended in an error, with what it had when it stopped: the last
/// finite weights and the completed epochs. Converts into [`Error`], so `?`
/// works where the partial results are not wanted.
#[derive(Debug)]
pub struct Failed<T: Real> {
    /// What stopped the run ([`Error::Diverged`], [`Error::Interrupted`], ...).
    pub error: Error,
    /// The model with the last finite weights.
    pub model: Autoencoder<T>,
    /// The completed epochs.
    pub history: History,
}

impl<T: Real> std::fmt::Display for Failed<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.error.fmt(f)
    }
}

/// A run that failed before its first epoch: the untouched model, no
/// history.
fn fail<T: Real>(error: Error, model: Autoencoder<T>) -> Box<Failed<T>> {
    Box::new(Failed {
        error,
        model,
        history: History::new(),
    })
}

impl<T: Real> From<Box<Failed<T>>> for Error {
    fn from(f: Box<Failed<T>>) -> Self {
        f.error
    }
}

fn check_data<T: Real>(model: &Autoencoder<T>, x: &DMatrix<T>) -> Result<()> {
    if x.ncols() != model.input_dim() {
        return Err(Error::Shape(format!(
            "data has {} columns, the model expects {}",
            x.ncols(),
            model.input_dim()
        )));
    }
    if x.nrows() == 0 {
        return Err(Error::InvalidData("no rows to train on".into()));
    }
    if let Some(k) = first_non_finite(x.as_slice()) {
        return Err(Error::InvalidData(format!(
            "data entry (row {}, column {}) is {}",
            k % x.nrows(),
            k / x.nrows(),
            x[k]
        )));
    }
    Ok(())
}

impl Trainer {
    /// A trainer for `config`, which is validated here, before any work.
    pub fn new(config: TrainConfig) -> Result<Self> {
        config.validate()?;
        Ok(Trainer {
            config,
            interrupt: Arc::new(AtomicBool::new(false)),
            owns_interrupt: true,
        })
    }

    /// A trainer with the config stored in a checkpoint (to resume it with
    /// [`Trainer::resume`]).
    pub fn from_checkpoint(path: impl AsRef<Path>) -> Result<Self> {
        Trainer::new(Checkpoint::load(path)?.config)
    }

    /// The config.
    pub fn config(&self) -> &TrainConfig {
        &self.config
    }

    /// The flag that interrupts a run when raised (between batches): the run
    /// writes a checkpoint (if a directory is configured) and returns
    /// [`Error::Interrupted`]. Raise it from another thread, a callback, or
    /// Ctrl-C through [`super::install_ctrlc_handler`]. `fit` and `resume`
    /// lower this trainer's own flag when they start, so a notebook can fit
    /// again after a Ctrl-C.
    pub fn interrupt_flag(&self) -> Arc<AtomicBool> {
        self.interrupt.clone()
    }

    /// Uses `flag` as the interrupt flag (e.g. one shared by several
    /// trainers). The trainer never lowers it: a run started while it is
    /// raised stops at its first check.
    pub fn with_interrupt_flag(mut self, flag: Arc<AtomicBool>) -> Self {
        self.interrupt = flag;
        self.owns_interrupt = false;
        self
    }

    /// Trains `model` on the rows of `x` and returns it trained.
    pub fn fit<T: Real>(&self, model: Autoencoder<T>, x: &DMatrix<T>) -> Result<TrainOutcome<T>> {
        Ok(self.try_fit(model, x, |_| {})?)
    }

    /// Trains on a dataset's features (converted to `T`).
    pub fn fit_dataset<T: Real>(
        &self,
        model: Autoencoder<T>,
        data: &Dataset,
    ) -> Result<TrainOutcome<T>> {
        self.fit(model, &data.x_as::<T>())
    }

    /// [`Trainer::fit`] calling `on_event` after every batch and epoch (for
    /// live plots, custom logging, or raising the interrupt flag).
    pub fn fit_with<T: Real>(
        &self,
        model: Autoencoder<T>,
        x: &DMatrix<T>,
        on_event: impl FnMut(TrainEvent<'_>),
    ) -> Result<TrainOutcome<T>> {
        Ok(self.try_fit(model, x, on_event)?)
    }

    /// [`Trainer::fit_with`] that, on failure (divergence, interrupt), still
    /// hands back the model with its last finite weights and the history.
    pub fn try_fit<T: Real>(
        &self,
        model: Autoencoder<T>,
        x: &DMatrix<T>,
        on_event: impl FnMut(TrainEvent<'_>),
    ) -> Result<TrainOutcome<T>, Box<Failed<T>>> {
        if let Err(e) = self.prepare(&model, x) {
            return Err(fail(e, model));
        }
        let split =
            match RowSplit::new(x.nrows(), self.config.validation_fraction, self.config.seed) {
                Ok(s) => s,
                Err(e) => return Err(fail(e, model)),
            };
        let fingerprint = self
            .config
            .checkpoint
            .as_ref()
            .map(|_| DataFingerprint::of(x));
        let opt = OptimizerState::new(&self.config.optimizer, model.n_params());
        self.drive(RunState::new(model, opt), x, &split, fingerprint, on_event)
    }

    /// [`Trainer::try_fit`] validating on the rows of `val` instead of on a
    /// split of `x`: for callers that carve their own validation set (a
    /// study does, so that PCA fits on exactly the rows the autoencoders
    /// fit). Every row of `x` trains; the config's `validation_fraction`
    /// splits nothing (early stopping still asks for it to be > 0, as the
    /// statement that a validation set exists).
    ///
    /// # Errors
    /// As [`Trainer::try_fit`]; also [`Error::Config`] when checkpoints are
    /// configured (a resumed run recomputes its split from the config, so
    /// it could not find these rows again), and [`Error::Shape`] /
    /// [`Error::InvalidData`] for a `val` that does not fit the model.
    pub fn try_fit_validated<T: Real>(
        &self,
        model: Autoencoder<T>,
        x: &DMatrix<T>,
        val: &DMatrix<T>,
    ) -> Result<TrainOutcome<T>, Box<Failed<T>>> {
        if self.config.checkpoint.is_some() {
            let e = Error::config(
                "checkpoint",
                "a run with its own validation rows cannot be checkpointed (resume could not find them); use fit with validation_fraction",
            );
            return Err(fail(e, model));
        }
        if let Err(e) = self.prepare(&model, x).and_then(|()| {
            if val.nrows() > 0 {
                check_data(&model, val)
            } else {
                Ok(())
            }
        }) {
            return Err(fail(e, model));
        }
        let (n, m) = (x.nrows(), val.nrows());
        let all = DMatrix::from_fn(n + m, x.ncols(), |i, j| {
            if i < n { x[(i, j)] } else { val[(i - n, j)] }
        });
        let split = RowSplit {
            train: (0..n).collect(),
            val: (n..n + m).collect(),
        };
        let opt = OptimizerState::new(&self.config.optimizer, model.n_params());
        self.drive(RunState::new(model, opt), &all, &split, None, |_| {})
    }

    /// Continues the run checkpointed at `path` on the same data `x`. The
    /// trainer's config must produce the same results as the checkpoint's
    /// (same [`TrainConfig::result_hash`]; progress output and checkpoint
    /// placement may differ). A resumed minibatch run ends with the same
    /// weights, bit for bit, as an uninterrupted one. A resumed L-BFGS run
    /// restarts the solver's memory from the checkpointed weights.
    pub fn resume<T: Real>(
        &self,
        path: impl AsRef<Path>,
        x: &DMatrix<T>,
    ) -> Result<TrainOutcome<T>> {
        self.resume_with(path, x, |_| {})
    }

    /// [`Trainer::resume`] calling `on_event` after every batch and epoch.
    pub fn resume_with<T: Real>(
        &self,
        path: impl AsRef<Path>,
        x: &DMatrix<T>,
        on_event: impl FnMut(TrainEvent<'_>),
    ) -> Result<TrainOutcome<T>> {
        Ok(self.try_resume(path, x, on_event)??)
    }

    /// [`Trainer::resume_with`] that separates a checkpoint that cannot be
    /// used (outer error) from a resumed run that fails (inner error, with
    /// the last finite weights and the history).
    #[allow(clippy::type_complexity)]
    pub fn try_resume<T: Real>(
        &self,
        path: impl AsRef<Path>,
        x: &DMatrix<T>,
        on_event: impl FnMut(TrainEvent<'_>),
    ) -> Result<Result<TrainOutcome<T>, Box<Failed<T>>>> {
        let path = path.as_ref();
        let ck = Checkpoint::load(path)?;
        let model = ck.model::<T>()?;
        if ck.config_hash != self.config.result_hash() {
            return Err(Error::config(
                "config",
                format!(
                    "differs from the one checkpointed in {} (resume needs the same \
                     hyperparameters; see Trainer::from_checkpoint)",
                    path.display()
                ),
            ));
        }
        let fingerprint = DataFingerprint::of(x);
        if fingerprint != ck.data {
            return Err(Error::InvalidData(format!(
                "the data ({}x{}) is not the data checkpointed in {} ({}x{}, sha256 {})",
                fingerprint.rows,
                fingerprint.cols,
                path.display(),
                ck.data.rows,
                ck.data.cols,
                ck.data.sha256
            )));
        }
        self.prepare(&model, x)?;
        let fresh = OptimizerState::new(&self.config.optimizer, model.n_params());
        let opt = OptimizerState::from_file(&ck.optimizer, &fresh)
            .ok_or_else(|| Error::format(path, "optimizer", "state does not fit the model"))?;
        let best = match ck.best {
            Some(b) if b.params.len() == model.n_params() => Some((
                b.epoch,
                b.val_loss,
                b.params.iter().map(|&v| T::of(v)).collect(),
            )),
            Some(_) => {
                return Err(Error::format(
                    path,
                    "best",
                    "parameters do not fit the model",
                ));
            }
            None => None,
        };
        let split = RowSplit::new(x.nrows(), self.config.validation_fraction, self.config.seed)?;
        let st = RunState {
            model,
            opt,
            epoch: ck.epoch,
            batch: ck.batch,
            acc: ck.accumulator,
            history: ck.history,
            best,
            wait: ck.wait,
            last_finite_loss: ck.last_finite_loss,
            since_fired: ck.since_fired,
        };
        if ck.finished {
            let restore = self.config.early_stopping.is_some_and(|e| e.restore_best);
            let best_epoch = st.best.as_ref().filter(|_| restore).map(|b| b.0);
            return Ok(Ok(TrainOutcome {
                model: st.model,
                history: st.history,
                stop: StopReason::Completed,
                best_epoch,
            }));
        }
        Ok(self.drive(st, x, &split, Some(fingerprint), on_event))
    }

    /// Checks that config, model and data fit together, before any work.
    fn prepare<T: Real>(&self, model: &Autoencoder<T>, x: &DMatrix<T>) -> Result<()> {
        model.check_loss(&self.config.objective())?;
        if self.config.rotation_augmented {
            rotation::check_model(model)?;
        }
        if self.config.dead_latents.is_some_and(|d| d.auxk.is_some()) {
            model.check_auxk_model()?;
        }
        check_data(model, x)?;
        if self.owns_interrupt {
            self.interrupt.store(false, Ordering::SeqCst);
        }
        Ok(())
    }

    /// Runs the loop from `st` and packages the result or the failure.
    fn drive<T: Real>(
        &self,
        mut st: RunState<T>,
        x: &DMatrix<T>,
        split: &RowSplit,
        fingerprint: Option<DataFingerprint>,
        mut on_event: impl FnMut(TrainEvent<'_>),
    ) -> Result<TrainOutcome<T>, Box<Failed<T>>> {
        let mut run = RunContext {
            config: &self.config,
            interrupt: &self.interrupt,
            fingerprint: fingerprint.as_ref(),
            on_event: &mut on_event,
        };
        let result = match self.config.optimizer {
            Optimizer::Lbfgs(c) => lbfgs::run(&mut run, &c, &mut st, x, split),
            _ => run_minibatch(&mut run, &mut st, x, split),
        };
        let result = result.and_then(|stop| {
            let mut best_epoch = None;
            let restore = self.config.early_stopping.is_some_and(|e| e.restore_best);
            if restore && let Some((epoch, _, params)) = &st.best {
                st.model.set_params(params)?;
                best_epoch = Some(*epoch);
            }
            if let (Some(fp), Some(c)) = (&fingerprint, &self.config.checkpoint)
                && c.every > 0
            {
                st.write_checkpoint(&self.config, fp, true)?;
            }
            Ok(stop).map(|s| (s, best_epoch))
        });
        match result {
            Ok((stop, best_epoch)) => Ok(TrainOutcome {
                model: st.model,
                history: st.history,
                stop,
                best_epoch,
            }),
            Err(Error::Interrupted { .. }) => {
                let error = match (&fingerprint, &self.config.checkpoint) {
                    (Some(fp), Some(_)) => match st.write_checkpoint(&self.config, fp, false) {
                        Ok(path) => Error::Interrupted {
                            checkpoint: Some(path),
                        },
                        Err(e) => e,
                    },
                    _ => Error::Interrupted { checkpoint: None },
                };
                Err(Box::new(Failed {
                    error,
                    model: st.model,
                    history: st.history,
                }))
            }
            Err(error) => Err(Box::new(Failed {
                error,
                model: st.model,
                history: st.history,
            })),
        }
    }
}

/// Minibatch epochs from `st` until `epochs` have run or the run stops.
///
/// The loop knows no training feature by name: each acts through the hook
/// points of [`features`], in the order documented there.
fn run_minibatch<T: Real>(
    run: &mut RunContext<'_>,
    st: &mut RunState<T>,
    x: &DMatrix<T>,
    split: &RowSplit,
) -> Result<StopReason> {
    let cfg = run.config;
    let loss = cfg.objective();
    let mut engine = ShardEngine::new(cfg.shard_size)?;
    let mut features = features::active(cfg, &st.model);
    let batches = split.train.len().div_ceil(cfg.batch_size);
    let done = batches_done(st, batches)?;
    let reporter = Reporter::new(cfg.progress, cfg.epochs, batches, done);
    let mut params = st.model.params_to_vec();
    features.start(st, &mut params)?;
    // One sample per column: shuffled batches gather contiguous samples.
    let xt = x.transpose();
    // Steps of the whole run and the per-step factor of the learning rate
    // (exactly 1 without warm-up or decay).
    let total = batches.saturating_mul(cfg.epochs);
    let step_lr = |epoch_lr: f64, step: usize| {
        epoch_lr * schedule::step_factor(step, total, cfg.lr_warmup_steps, cfg.lr_decay_steps)
    };
    while st.epoch <= cfg.epochs {
        let e = st.epoch;
        let epoch_lr = schedule::learning_rate(cfg.schedule, cfg.learning_rate, e, cfg.epochs);
        let first = (e - 1).saturating_mul(batches);
        let order = shuffled(&split.train, derive_seed(cfg.seed, e as u64));
        let t0 = Instant::now();
        for (b, rows) in order.chunks(cfg.batch_size).enumerate().skip(st.batch) {
            if run.interrupted() {
                st.acc.seconds += t0.elapsed().as_secs_f64();
                return Err(Error::Interrupted { checkpoint: None });
            }
            let step_no = first.saturating_add(b);
            let lr = step_lr(epoch_lr, step_no);
            let step = Step {
                epoch: e,
                step: step_no,
                lr,
                rows,
                xt: &xt,
            };
            let extras = features.batch_extras(&step, st);
            let (terms, grad, norms) =
                match engine.loss_and_grad_with(&st.model, &xt, rows, &loss, extras) {
                    Ok(v) => v,
                    Err(Error::Numerical(what)) => {
                        return Err(diverged(e, b + 1, what, st.last_finite_loss));
                    }
                    Err(other) => return Err(other),
                };
            st.acc.add_norms(&terms, rows.len(), norms);
            features.on_gradient(&step, st, &params, grad, norms)?;
            features.before_update(&step, &mut params);
            let finite = st
                .opt
                .apply(&cfg.optimizer, &mut params, grad.as_slice(), lr);
            let rewritten = features.after_update(st, &mut params)?;
            load(&mut st.model, &params, finite, rewritten)
                .map_err(|_| non_finite_update(e, b + 1, lr, terms.total))?;
            features.after_step(st)?;
            st.last_finite_loss = Some(terms.total);
            st.batch = b + 1;
            reporter.batch(e, cfg.epochs, terms.total);
            (run.on_event)(TrainEvent::Batch {
                epoch: e,
                batch: b + 1,
                loss: terms.total,
            });
        }
        check_moments(st)?;
        // The record holds the rate of the epoch's last step.
        let last = first.saturating_add(batches.saturating_sub(1));
        let mut rec = st.acc.finish(e, Some(step_lr(epoch_lr, last)), 0.0);
        features.end_epoch(st, &mut rec);
        let validate = |model: &Autoencoder<T>| {
            if split.val.is_empty() {
                return Ok(None);
            }
            engine
                .loss_transposed(model, &xt, &split.val, &loss)
                .map(Some)
        };
        if let Some(stop) = st.end_epoch(run, &reporter, rec, t0, cfg.epochs, validate)? {
            return Ok(stop);
        }
    }
    Ok(StopReason::Completed)
}

/// Batches a run at `st` has done, of `batches` per epoch. A resumed run's
/// position comes from a file: checked, not trusted.
fn batches_done<T: Real>(st: &RunState<T>, batches: usize) -> Result<usize> {
    st.epoch
        .checked_sub(1)
        .and_then(|e| e.checked_mul(batches))
        .and_then(|d| d.checked_add(st.batch))
        .filter(|_| st.batch <= batches)
        .ok_or_else(|| {
            Error::InvalidData(format!(
                "cannot resume at epoch {}, batch {}: an epoch has {batches} batches",
                st.epoch, st.batch
            ))
        })
}

/// Loads the updated `params` into `model`. `finite` is the optimizer's
/// verdict on them; it no longer covers them when a feature has
/// `rewritten` them since, and then they are scanned again. Errors when an
/// entry is not finite.
fn load<T: Real>(
    model: &mut Autoencoder<T>,
    params: &[T],
    finite: bool,
    rewritten: bool,
) -> Result<()> {
    if rewritten {
        model.set_params(params)
    } else if finite {
        model.set_finite_params(params)
    } else {
        Err(Error::InvalidData("non-finite parameters".into()))
    }
}

/// [`Error::Diverged`] for an update, at batch `batch` of `epoch` with rate
/// `lr`, that left a parameter non-finite; `objective` is the batch's
/// objective before it (the last finite loss).
fn non_finite_update(epoch: usize, batch: usize, lr: f64, objective: f64) -> Error {
    diverged(
        epoch,
        batch,
        format!(
            "the update produced non-finite parameters (objective before it: \
             {objective:.6e}; learning rate {lr:e} too large?)"
        ),
        Some(objective),
    )
}

/// Errors when the optimizer's moments overflowed during the epoch `st` is
/// in (naming its last batch).
fn check_moments<T: Real>(st: &RunState<T>) -> Result<()> {
    if all_finite(&st.opt.m) && all_finite(&st.opt.v) {
        return Ok(());
    }
    Err(diverged(
        st.epoch,
        st.batch,
        "optimizer moments overflowed".into(),
        st.last_finite_loss,
    ))
}
