//! Training: optimizers, schedules, the rayon batch engine, L-BFGS, history and checkpoints.
//!
//! [`TrainConfig`] holds the hyperparameters (validated by
//! [`TrainConfig::validate`] before any work); [`Trainer::fit`] consumes a
//! model and returns it trained, with a per-epoch [`History`]
//! ([`History::to_dataframe`]).
//!
//! Reproducibility: the validation split and every epoch's shuffle come from
//! the seed alone (`derive_seed(seed, epoch)`), as does a denoising run's
//! corruption (per epoch and sample, see [`Corruption`]), and batches are cut into
//! fixed-size shards whose gradients are summed in a fixed order (see
//! [`engine`]), so a seed gives the same weights bit for bit with any rayon
//! thread count, and a resumed run the same weights as an uninterrupted one.
//!
//! Epochs and batches are counted from 1 in records, progress output and
//! [`crate::Error::Diverged`].
//!
//! The minibatch loop names no training feature: denoising, dead latents,
//! clipping, frozen biases, the rotation-augmented gradient, the unit-norm
//! decoder, AdamW's decoupled decay and BatchTopK thresholds are pieces it
//! calls at fixed hook points, registered in one function that also fixes
//! the order in which they act (the crate-internal `features` module).

mod checkpoint;
mod config;
pub mod constraint;
mod corruption;
pub mod engine;
mod features;
mod history;
mod interrupt;
mod lbfgs;
mod optimizer;
mod progress;
pub mod rotation;
mod run_state;
pub mod schedule;
mod trainer;

pub use checkpoint::{
    BestFile, CHECKPOINT_FILE, CHECKPOINT_FORMAT, CHECKPOINT_VERSION, Checkpoint, DataFingerprint,
};
pub use config::{
    CheckpointConfig, DeadLatents, EarlyStopping, LbfgsConfig, MAX_LBFGS_MEMORY, Optimizer,
    Progress, SCIPY_FTOL, Schedule, TrainConfig,
};
pub use corruption::Corruption;
pub use engine::ShardEngine;
pub use history::{EpochAccumulator, EpochRecord, History, LayerNorms};
pub use interrupt::install_ctrlc_handler;
pub use optimizer::{OptimizerState, OptimizerStateFile};
pub use run_state::{StopReason, TrainEvent};
pub use trainer::{Failed, TrainOutcome, Trainer};
