//! The state of a training run and the one end-of-epoch path every loop
//! takes.
//!
//! Minibatch training ([`super::trainer`]) and full-batch L-BFGS
//! ([`super::lbfgs`]) differ in how an epoch's steps are taken, not in what
//! happens after them: validate, turn a numerical failure into
//! [`Error::Diverged`], update early stopping, record, report, checkpoint and
//! honour an interrupt. [`RunState::end_epoch`] does all of that once, so a
//! new optimizer or training feature hooks into one place, and neither loop
//! depends on the other's internals.

use super::checkpoint::{
    BestFile, CHECKPOINT_FORMAT, CHECKPOINT_VERSION, Checkpoint, DataFingerprint,
};
use super::config::TrainConfig;
use super::history::{EpochAccumulator, EpochRecord, History};
use super::optimizer::OptimizerState;
use super::progress::Reporter;
use crate::error::{Error, Result};
use crate::model::{Autoencoder, LossTerms};
use crate::real::Real;
use crate::rng::{derive_seed, seeded};
use rand::RngExt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

/// Seed stream of the validation split; epochs use streams `1..=epochs`.
const SPLIT_STREAM: u64 = u64::MAX;

/// Why a run ended normally.
#[derive(Clone, Debug, PartialEq)]
pub enum StopReason {
    /// All epochs (or L-BFGS's iteration budget) ran.
    Completed,
    /// Early stopping: no validation improvement for `patience` epochs.
    EarlyStopped {
        /// The last epoch run.
        epoch: usize,
    },
    /// L-BFGS met a tolerance (argmin's termination reason).
    Converged(String),
}

/// What a progress callback sees.
#[derive(Clone, Copy, Debug)]
pub enum TrainEvent<'a> {
    /// A batch (L-BFGS: an iteration) finished.
    Batch {
        /// Epoch (from 1).
        epoch: usize,
        /// Batch within the epoch (from 1).
        batch: usize,
        /// The batch objective.
        loss: f64,
    },
    /// An epoch finished; its record.
    Epoch(&'a EpochRecord),
}

/// The training and validation rows of one run (the trainer's own split of
/// the rows it is given; a study's train/test split is a different thing).
pub(crate) struct RowSplit {
    pub train: Vec<usize>,
    pub val: Vec<usize>,
}

impl RowSplit {
    /// Holds out `round(fraction · n)` rows (at least one when `fraction >
    /// 0`) after a shuffle fixed by `seed` alone.
    pub(crate) fn new(n: usize, fraction: f64, seed: u64) -> Result<RowSplit> {
        if fraction == 0.0 {
            return Ok(RowSplit {
                train: (0..n).collect(),
                val: Vec::new(),
            });
        }
        let n_val = ((fraction * n as f64).round() as usize).max(1);
        if n_val >= n {
            return Err(Error::InvalidData(format!(
                "validation fraction {fraction} of {n} rows leaves no training rows"
            )));
        }
        let all: Vec<usize> = (0..n).collect();
        let perm = shuffled(&all, derive_seed(seed, SPLIT_STREAM));
        Ok(RowSplit {
            val: perm[..n_val].to_vec(),
            train: perm[n_val..].to_vec(),
        })
    }
}

/// Uniform shuffle of `rows` (Fisher–Yates), from `seed` alone.
pub(crate) fn shuffled(rows: &[usize], seed: u64) -> Vec<usize> {
    let mut out = rows.to_vec();
    let mut rng = seeded(seed);
    for i in (1..out.len()).rev() {
        let j = rng.random_range(0..=i);
        out.swap(i, j);
    }
    out
}

/// [`Error::Diverged`] at `epoch`, `batch` (both from 1).
pub(crate) fn diverged(epoch: usize, batch: usize, what: String, last: Option<f64>) -> Error {
    Error::Diverged {
        epoch,
        batch,
        what,
        last_finite_loss: last,
    }
}

/// What every loop shares and does not change: the config, the interrupt
/// flag, the data's fingerprint (present when checkpoints are written) and
/// the caller's event callback.
pub(crate) struct RunContext<'a> {
    pub config: &'a TrainConfig,
    pub interrupt: &'a AtomicBool,
    pub fingerprint: Option<&'a DataFingerprint>,
    pub on_event: &'a mut dyn FnMut(TrainEvent<'_>),
}

impl RunContext<'_> {
    /// Whether the interrupt flag is raised.
    pub(crate) fn interrupted(&self) -> bool {
        self.interrupt.load(Ordering::SeqCst)
    }
}

/// Everything that changes during a run (what a checkpoint stores).
pub(crate) struct RunState<T: Real> {
    pub model: Autoencoder<T>,
    pub opt: OptimizerState<T>,
    /// Epoch in progress or next (from 1).
    pub epoch: usize,
    /// Next batch of `epoch` (from 0).
    pub batch: usize,
    pub acc: EpochAccumulator,
    pub history: History,
    /// Epoch, validation loss and parameters of the best epoch so far.
    pub best: Option<(usize, f64, Vec<T>)>,
    pub wait: usize,
    pub last_finite_loss: Option<f64>,
    /// Dead-latent tracking: training samples since each latent last fired
    /// (empty when not tracked).
    pub since_fired: Vec<u64>,
}

impl<T: Real> RunState<T> {
    /// A fresh run of `model` from epoch 1.
    pub(crate) fn new(model: Autoencoder<T>, opt: OptimizerState<T>) -> Self {
        RunState {
            model,
            opt,
            epoch: 1,
            batch: 0,
            acc: EpochAccumulator::default(),
            history: History::new(),
            best: None,
            wait: 0,
            last_finite_loss: None,
            since_fired: Vec::new(),
        }
    }

    /// Closes epoch `rec.epoch`, whose steps started at `started`, of a run
    /// of `total` epochs (L-BFGS: iterations): validates with `validate`
    /// (which returns `None` without a validation set), updates early
    /// stopping, records, reports, checkpoints every `checkpoint.every`
    /// epochs before the last (the last is written by the caller as the
    /// finished run), and stops on an interrupt.
    ///
    /// Returns `Some(reason)` when the run stops here.
    ///
    /// # Errors
    /// [`Error::Diverged`] when validation fails numerically (naming this
    /// epoch and its last batch), [`Error::Interrupted`], and checkpoint
    /// write errors.
    pub(crate) fn end_epoch(
        &mut self,
        run: &mut RunContext<'_>,
        reporter: &Reporter,
        mut rec: EpochRecord,
        started: Instant,
        total: usize,
        validate: impl FnOnce(&Autoencoder<T>) -> Result<Option<LossTerms>>,
    ) -> Result<Option<StopReason>> {
        let e = rec.epoch;
        let mut stop = false;
        let val = validate(&self.model).map_err(|err| match err {
            Error::Numerical(what) => diverged(
                e,
                self.batch.max(1),
                format!("validation: {what}"),
                self.last_finite_loss,
            ),
            other => other,
        })?;
        if let Some(v) = val {
            rec.val_loss = Some(v.total);
            rec.val_reconstruction = Some(v.reconstruction);
            stop = self.early_stop_check(run.config, e, v.total);
        }
        rec.seconds += started.elapsed().as_secs_f64();
        self.history.epochs.push(rec);
        self.acc = EpochAccumulator::default();
        self.epoch += 1;
        self.batch = 0;
        let rec = self.history.last().expect("just pushed");
        reporter.epoch(rec);
        (run.on_event)(TrainEvent::Epoch(rec));
        if stop {
            return Ok(Some(StopReason::EarlyStopped { epoch: e }));
        }
        if let (Some(fp), Some(c)) = (run.fingerprint, &run.config.checkpoint)
            && c.every > 0
            && e.is_multiple_of(c.every)
            && e < total
        {
            self.write_checkpoint(run.config, fp, false)?;
        }
        if run.interrupted() {
            return Err(Error::Interrupted { checkpoint: None });
        }
        Ok(None)
    }

    /// Early stopping bookkeeping after an epoch; `true` means stop.
    fn early_stop_check(&mut self, config: &TrainConfig, epoch: usize, val: f64) -> bool {
        let Some(es) = config.early_stopping else {
            return false;
        };
        let improved = self
            .best
            .as_ref()
            .is_none_or(|(_, best, _)| val < best - es.min_delta);
        if improved {
            self.best = Some((epoch, val, self.model.params_to_vec()));
            self.wait = 0;
            false
        } else {
            self.wait += 1;
            self.wait >= es.patience
        }
    }

    /// Writes the run state to `config`'s checkpoint file.
    ///
    /// # Errors
    /// [`Error::Config`] when no checkpoint directory is configured, and
    /// write errors.
    pub(crate) fn write_checkpoint(
        &self,
        config: &TrainConfig,
        data: &DataFingerprint,
        finished: bool,
    ) -> Result<PathBuf> {
        let Some(c) = &config.checkpoint else {
            return Err(Error::config(
                "checkpoint",
                "no checkpoint directory configured",
            ));
        };
        let path = Checkpoint::path_in(&c.dir);
        let ck = Checkpoint {
            format: CHECKPOINT_FORMAT.into(),
            version: CHECKPOINT_VERSION,
            scalar: T::NAME.into(),
            config: config.clone(),
            config_hash: config.result_hash(),
            data: data.clone(),
            spec: self.model.spec().clone(),
            params: self.model.params_to_vec().iter().map(|v| v.f64()).collect(),
            optimizer: self.opt.to_file(),
            epoch: self.epoch,
            batch: self.batch,
            accumulator: self.acc.clone(),
            history: self.history.clone(),
            best: self.best.as_ref().map(|(epoch, val_loss, p)| BestFile {
                epoch: *epoch,
                val_loss: *val_loss,
                params: p.iter().map(|v| v.f64()).collect(),
            }),
            wait: self.wait,
            last_finite_loss: self.last_finite_loss,
            finished,
            since_fired: self.since_fired.clone(),
            batch_top_k_thresholds: {
                let t = self.model.batch_top_k_thresholds();
                if t.iter().any(Option::is_some) {
                    t.to_vec()
                } else {
                    Vec::new()
                }
            },
        };
        ck.save(&path)?;
        Ok(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shuffle_is_a_permutation_fixed_by_the_seed() {
        let rows: Vec<usize> = (0..100).collect();
        let a = shuffled(&rows, 5);
        let mut sorted = a.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, rows);
        assert_eq!(a, shuffled(&rows, 5));
        assert_ne!(a, shuffled(&rows, 6));
        assert_ne!(a, rows);
    }

    #[test]
    fn split_is_disjoint_and_covers_all_rows() {
        let s = RowSplit::new(50, 0.2, 1).unwrap();
        assert_eq!(s.val.len(), 10);
        let mut all: Vec<usize> = s.train.iter().chain(&s.val).copied().collect();
        all.sort_unstable();
        assert_eq!(all, (0..50).collect::<Vec<_>>());
        assert!(RowSplit::new(1, 0.5, 1).is_err());
    }
}
