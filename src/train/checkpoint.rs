//! Checkpoints: everything needed to continue a run bit for bit.
//!
//! A checkpoint holds the model (spec and flat parameters), the optimizer
//! state, the position (epoch and next batch; shuffles are re-derived from the
//! seed, so no RNG state is stored), the partial sums of the epoch in
//! progress, the history, early-stopping state, the config and its hash, and a
//! fingerprint of the data. Parameters are stored as f64, which represents
//! f32 values exactly, so a resumed f32 run continues from the same bits.
//! Files are written to a temporary file and renamed over the old one.

use super::config::TrainConfig;
use super::history::{EpochAccumulator, History};
use super::optimizer::OptimizerStateFile;
use crate::atomic::write_atomic;
use crate::data::file::read_regular;
use crate::error::{Error, Result};
use crate::hex::hex;
use crate::model::{Autoencoder, AutoencoderSpec};
use crate::real::Real;
use nalgebra::DMatrix;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// `format` field of checkpoint files.
pub const CHECKPOINT_FORMAT: &str = "tiedae-checkpoint";
/// Version written by this build.
pub const CHECKPOINT_VERSION: u32 = 1;
/// File name inside the checkpoint directory.
pub const CHECKPOINT_FILE: &str = "checkpoint.json";

/// Shape and SHA-256 of a data matrix, so a run resumes only on its own data.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DataFingerprint {
    /// Rows.
    pub rows: usize,
    /// Columns.
    pub cols: usize,
    /// SHA-256 (hex) of the values as little-endian f64, column-major.
    pub sha256: String,
}

impl DataFingerprint {
    /// The fingerprint of `x`.
    pub fn of<T: Real>(x: &DMatrix<T>) -> Self {
        let mut h = Sha256::new();
        let mut buf = Vec::with_capacity(8 * 4096);
        for chunk in x.as_slice().chunks(4096) {
            buf.clear();
            for v in chunk {
                buf.extend_from_slice(&v.f64().to_le_bytes());
            }
            h.update(&buf);
        }
        DataFingerprint {
            rows: x.nrows(),
            cols: x.ncols(),
            sha256: hex(&h.finalize()),
        }
    }
}

/// The best epoch seen by early stopping.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BestFile {
    /// Epoch number (from 1).
    pub epoch: usize,
    /// Its validation objective.
    pub val_loss: f64,
    /// Its parameters, flat, as f64.
    pub params: Vec<f64>,
}

/// A training checkpoint (see the module docs).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Checkpoint {
    /// Always [`CHECKPOINT_FORMAT`].
    pub format: String,
    /// [`CHECKPOINT_VERSION`].
    pub version: u32,
    /// `"f32"` or `"f64"`.
    pub scalar: String,
    /// The run's config.
    pub config: TrainConfig,
    /// [`TrainConfig::result_hash`] of `config`.
    pub config_hash: String,
    /// The training data's fingerprint.
    pub data: DataFingerprint,
    /// The model architecture.
    pub spec: AutoencoderSpec,
    /// The model parameters in flat order, as f64.
    pub params: Vec<f64>,
    /// Optimizer state.
    pub optimizer: OptimizerStateFile,
    /// Epoch in progress or next to run (from 1); L-BFGS: iterations done + 1.
    pub epoch: usize,
    /// Next batch of that epoch (from 0).
    pub batch: usize,
    /// Partial sums of the epoch in progress.
    pub accumulator: EpochAccumulator,
    /// Completed epochs.
    pub history: History,
    /// Early stopping: best epoch so far.
    pub best: Option<BestFile>,
    /// Early stopping: epochs since the best.
    pub wait: usize,
    /// Objective of the last batch, if any.
    pub last_finite_loss: Option<f64>,
    /// Whether the run had already ended.
    pub finished: bool,
    /// Dead-latent tracking: samples since each latent last fired (absent
    /// when not tracked, and in older files).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub since_fired: Vec<u64>,
    /// Per pair, the running BatchTopK threshold estimate (see
    /// [`Autoencoder::batch_top_k_thresholds`]), so a resumed run goes on
    /// from it; absent when no pair has one, and in older files.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub batch_top_k_thresholds: Vec<Option<f64>>,
}

impl Checkpoint {
    /// Where a run with checkpoint directory `dir` writes its checkpoint.
    pub fn path_in(dir: &Path) -> PathBuf {
        dir.join(CHECKPOINT_FILE)
    }

    /// Writes the checkpoint to `path` atomically (creating the directory).
    /// Refuses non-finite values, which JSON cannot hold and a resumed run
    /// could not use.
    pub fn save(&self, path: &Path) -> Result<()> {
        let finite = |v: &[f64]| v.iter().all(|x| x.is_finite());
        if !finite(&self.params)
            || !finite(&self.optimizer.m)
            || !finite(&self.optimizer.v)
            || self.best.as_ref().is_some_and(|b| !finite(&b.params))
        {
            return Err(Error::Numerical(
                "refusing to checkpoint non-finite parameters or optimizer state".into(),
            ));
        }
        if let Some(dir) = path.parent()
            && !dir.as_os_str().is_empty()
        {
            std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        }
        let bytes = serde_json::to_vec(self)
            .map_err(|e| Error::InvalidData(format!("serializing the checkpoint: {e}")))?;
        write_atomic(path, |w| {
            w.write_all(&bytes)
                .and_then(|_| w.write_all(b"\n"))
                .map_err(|e| Error::io(path, e))
        })
    }

    /// Reads and checks a checkpoint written by [`Checkpoint::save`]: its
    /// format, version, config hash, and an epoch that follows its history.
    ///
    /// # Errors
    /// [`Error::Io`] for an unreadable file; [`Error::Format`] naming it and
    /// the field for anything else.
    pub fn load(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let bytes = read_regular(path)?;
        let value: serde_json::Value = serde_json::from_slice(&bytes).map_err(|e| {
            Error::format(
                path,
                format!("line {}, column {}", e.line(), e.column()),
                if e.is_eof() {
                    format!("file ends early (truncated?): {e}")
                } else {
                    e.to_string()
                },
            )
        })?;
        match value.get("format").and_then(|v| v.as_str()) {
            Some(CHECKPOINT_FORMAT) => {}
            _ => {
                return Err(Error::format(
                    path,
                    "format",
                    format!("not a tiedae checkpoint (expected format \"{CHECKPOINT_FORMAT}\")"),
                ));
            }
        }
        if value.get("version").and_then(|v| v.as_u64()) != Some(CHECKPOINT_VERSION as u64) {
            return Err(Error::format(
                path,
                "version",
                format!("unsupported version; this build reads version {CHECKPOINT_VERSION}"),
            ));
        }
        let ck: Checkpoint = serde_json::from_value(value)
            .map_err(|e| Error::format(path, "contents", e.to_string()))?;
        ck.config
            .validate()
            .map_err(|e| Error::format(path, "config", e.to_string()))?;
        if ck.config.result_hash() != ck.config_hash {
            return Err(Error::format(
                path,
                "config_hash",
                "does not match the stored config (edited file?)",
            ));
        }
        // A run counts epochs from 1 and closes each one into its history,
        // so the epoch in progress is always one past the history; the
        // resumed loop subtracts 1 from it and counts batches from it.
        if ck.epoch == 0 {
            return Err(Error::format(
                path,
                "epoch",
                "is 0; epochs count from 1 (edited file?)",
            ));
        }
        if ck.epoch - 1 != ck.history.epochs.len() {
            return Err(Error::format(
                path,
                "epoch",
                format!(
                    "epoch {} does not follow the {} completed epochs of the history (edited file?)",
                    ck.epoch,
                    ck.history.epochs.len()
                ),
            ));
        }
        Ok(ck)
    }

    /// The checkpointed model.
    pub fn model<T: Real>(&self) -> Result<Autoencoder<T>> {
        if self.scalar != T::NAME {
            return Err(Error::InvalidData(format!(
                "checkpoint holds an {} model; load it as Autoencoder<{}>",
                self.scalar, self.scalar
            )));
        }
        let mut m = Autoencoder::new(&self.spec, 0)?;
        let p: Vec<T> = self.params.iter().map(|&v| T::of(v)).collect();
        m.set_params(&p)?;
        let stored = &self.batch_top_k_thresholds;
        if !stored.is_empty() && stored.len() != m.layers().len() {
            return Err(Error::InvalidData(format!(
                "checkpoint holds {} BatchTopK thresholds for {} pairs",
                stored.len(),
                m.layers().len()
            )));
        }
        for (l, &t) in stored.iter().enumerate() {
            m.set_batch_top_k_threshold(l, t)?;
        }
        Ok(m)
    }
}
