//! Per-epoch training records and their DataFrame form.
//!
//! Besides the losses, each row keeps the gradient norms per layer pair and,
//! for tied pairs, the norms of the encoder and decoder parts of `∂L/∂W`
//! separately: a tied weight is used twice, and watching which use dominates
//! (or explodes) is how gradient instability shows up.

use crate::error::Result;
use crate::model::{GradNorms, Gradient, LossTerms};
use crate::real::Real;
use polars::prelude::{Column, DataFrame};
use serde::{Deserialize, Serialize};

/// Gradient norms of one layer pair, averaged over an epoch's batches.
#[derive(Clone, Copy, Debug, PartialEq, Default, Serialize, Deserialize)]
pub struct LayerNorms {
    /// Norm over all of the pair's parameters.
    pub total: f64,
    /// Tied pairs: norm of the encoder part of `∂L/∂W`.
    pub encoder_part: Option<f64>,
    /// Tied pairs: norm of the decoder part of `∂L/∂W`.
    pub decoder_part: Option<f64>,
}

/// One epoch (or one L-BFGS iteration).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EpochRecord {
    /// Epoch number, counted from 1.
    pub epoch: usize,
    /// Training objective and its terms: the row-weighted mean of the batch
    /// objectives seen during the epoch (L-BFGS: the full-batch objective).
    pub train: LossTerms,
    /// Validation objective after the epoch, if there is a validation set.
    pub val_loss: Option<f64>,
    /// Validation reconstruction term after the epoch.
    pub val_reconstruction: Option<f64>,
    /// Learning rate used: the rate of the epoch's last step, which differs
    /// from the epoch's first only under a per-step warm-up or decay (none
    /// for L-BFGS, whose steps come from the line search).
    pub learning_rate: Option<f64>,
    /// Global gradient norm (before clipping), mean over the epoch's batches.
    pub grad_norm: f64,
    /// Per-pair norms, outermost pair first, means over the epoch's batches.
    pub layers: Vec<LayerNorms>,
    /// Wall-clock seconds of the epoch (training and validation).
    pub seconds: f64,
    /// Fraction of latent units dead at the end of the epoch (not fired in
    /// the last [`DeadLatents::window`](super::DeadLatents::window) training
    /// samples), when dead latents are tracked. Absent in older files.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dead_fraction: Option<f64>,
}

/// The records of a run, one per epoch.
#[derive(Clone, Debug, PartialEq, Default, Serialize, Deserialize)]
pub struct History {
    /// Records in epoch order.
    pub epochs: Vec<EpochRecord>,
}

impl History {
    /// An empty history.
    pub fn new() -> Self {
        History::default()
    }

    /// Number of recorded epochs.
    pub fn len(&self) -> usize {
        self.epochs.len()
    }

    /// Whether nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.epochs.is_empty()
    }

    /// The last record.
    pub fn last(&self) -> Option<&EpochRecord> {
        self.epochs.last()
    }

    /// Training objective per epoch.
    pub fn train_loss(&self) -> Vec<f64> {
        self.epochs.iter().map(|r| r.train.total).collect()
    }

    /// Validation objective per epoch (empty without a validation set).
    pub fn val_loss(&self) -> Vec<f64> {
        self.epochs.iter().filter_map(|r| r.val_loss).collect()
    }

    /// The record with the lowest validation loss, or, when no epoch has
    /// one, the lowest training loss.
    pub fn best(&self) -> Option<&EpochRecord> {
        let by = |key: fn(&EpochRecord) -> Option<f64>| {
            self.epochs
                .iter()
                .filter_map(|r| key(r).map(|k| (k, r)))
                .min_by(|a, b| a.0.total_cmp(&b.0))
                .map(|(_, r)| r)
        };
        by(|r| r.val_loss).or_else(|| by(|r| Some(r.train.total)))
    }

    /// One row per epoch with columns `epoch`, `train_loss`,
    /// `train_reconstruction`, `train_l1`, `train_kl`, `train_l2`,
    /// `val_loss`, `val_reconstruction`, `learning_rate`, `grad_norm`, then
    /// per layer pair `l`: `grad_norm_layer{l}` and, for tied pairs,
    /// `grad_norm_layer{l}_encoder` / `grad_norm_layer{l}_decoder`; then
    /// `train_auxk` when an epoch has an AuxK term, `train_matryoshka` when
    /// one has a Matryoshka term and `dead_fraction` when dead latents were
    /// tracked; last `seconds`. Missing values (no validation, L-BFGS learning rate,
    /// untied parts) are nulls, never NaN.
    pub fn to_dataframe(&self) -> Result<DataFrame> {
        let rows = &self.epochs;
        let f = |get: &dyn Fn(&EpochRecord) -> f64| rows.iter().map(get).collect::<Vec<f64>>();
        let o = |get: &dyn Fn(&EpochRecord) -> Option<f64>| {
            rows.iter().map(get).collect::<Vec<Option<f64>>>()
        };
        let mut cols = vec![
            Column::new(
                "epoch".into(),
                rows.iter().map(|r| r.epoch as u64).collect::<Vec<u64>>(),
            ),
            Column::new("train_loss".into(), f(&|r| r.train.total)),
            Column::new(
                "train_reconstruction".into(),
                f(&|r| r.train.reconstruction),
            ),
            Column::new("train_l1".into(), f(&|r| r.train.l1)),
            Column::new("train_kl".into(), f(&|r| r.train.kl)),
            Column::new("train_l2".into(), f(&|r| r.train.l2)),
            Column::new("val_loss".into(), o(&|r| r.val_loss)),
            Column::new("val_reconstruction".into(), o(&|r| r.val_reconstruction)),
            Column::new("learning_rate".into(), o(&|r| r.learning_rate)),
            Column::new("grad_norm".into(), f(&|r| r.grad_norm)),
        ];
        let pairs = rows.iter().map(|r| r.layers.len()).max().unwrap_or(0);
        for l in 0..pairs {
            let layer = |r: &EpochRecord| r.layers.get(l).copied();
            cols.push(Column::new(
                format!("grad_norm_layer{l}").into(),
                o(&|r| layer(r).map(|n| n.total)),
            ));
            if rows
                .iter()
                .any(|r| layer(r).is_some_and(|n| n.encoder_part.is_some()))
            {
                cols.push(Column::new(
                    format!("grad_norm_layer{l}_encoder").into(),
                    o(&|r| layer(r).and_then(|n| n.encoder_part)),
                ));
                cols.push(Column::new(
                    format!("grad_norm_layer{l}_decoder").into(),
                    o(&|r| layer(r).and_then(|n| n.decoder_part)),
                ));
            }
        }
        if rows.iter().any(|r| r.train.auxk != 0.0) {
            cols.push(Column::new("train_auxk".into(), f(&|r| r.train.auxk)));
        }
        if rows.iter().any(|r| r.train.matryoshka != 0.0) {
            cols.push(Column::new(
                "train_matryoshka".into(),
                f(&|r| r.train.matryoshka),
            ));
        }
        if rows.iter().any(|r| r.train.l0 != 0.0) {
            cols.push(Column::new("train_l0".into(), f(&|r| r.train.l0)));
        }
        if rows.iter().any(|r| r.dead_fraction.is_some()) {
            cols.push(Column::new("dead_fraction".into(), o(&|r| r.dead_fraction)));
        }
        cols.push(Column::new("seconds".into(), f(&|r| r.seconds)));
        Ok(DataFrame::new(rows.len(), cols)?)
    }
}

/// Running sums of one epoch's batches, turned into an [`EpochRecord`].
/// Serializable so an interrupt mid-epoch can resume it exactly.
#[derive(Clone, Debug, PartialEq, Default, Serialize, Deserialize)]
pub struct EpochAccumulator {
    /// Row-weighted sums of the batch terms.
    pub terms: LossTerms,
    /// Rows seen.
    pub rows: usize,
    /// Batches seen.
    pub batches: usize,
    /// Sum of batch global gradient norms.
    pub grad_norm: f64,
    /// Sums of per-pair norms.
    pub layers: Vec<LayerNorms>,
    /// Seconds spent so far (before an interrupt, if any).
    pub seconds: f64,
}

impl EpochAccumulator {
    /// Adds one batch of `rows` rows with objective `terms` and gradient `grad`.
    pub fn add<T: Real>(&mut self, terms: &LossTerms, rows: usize, grad: &Gradient<T>) {
        self.add_norms(terms, rows, &grad.norms());
    }

    /// [`EpochAccumulator::add`] with the gradient's norms already computed
    /// (the batch engine computes them once to check the gradient).
    pub fn add_norms(&mut self, terms: &LossTerms, rows: usize, norms: &GradNorms) {
        let w = rows as f64;
        self.terms.add(&terms.scaled(w));
        self.rows += rows;
        self.batches += 1;
        self.grad_norm += norms.total;
        if self.layers.len() < norms.layers.len() {
            self.layers
                .resize(norms.layers.len(), LayerNorms::default());
        }
        for (acc, n) in self.layers.iter_mut().zip(&norms.layers) {
            acc.total += n.total;
            if let Some(e) = n.encoder_part {
                *acc.encoder_part.get_or_insert(0.0) += e;
            }
            if let Some(d) = n.decoder_part {
                *acc.decoder_part.get_or_insert(0.0) += d;
            }
        }
    }

    /// The epoch's record (means over rows for losses, over batches for
    /// norms).
    pub fn finish(&self, epoch: usize, learning_rate: Option<f64>, seconds: f64) -> EpochRecord {
        let w = 1.0 / self.rows.max(1) as f64;
        let b = 1.0 / self.batches.max(1) as f64;
        EpochRecord {
            epoch,
            train: self.terms.scaled(w),
            val_loss: None,
            val_reconstruction: None,
            learning_rate,
            grad_norm: self.grad_norm * b,
            layers: self
                .layers
                .iter()
                .map(|n| LayerNorms {
                    total: n.total * b,
                    encoder_part: n.encoder_part.map(|e| e * b),
                    decoder_part: n.decoder_part.map(|d| d * b),
                })
                .collect(),
            seconds: self.seconds + seconds,
            dead_fraction: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(epoch: usize, tied: bool) -> EpochRecord {
        EpochRecord {
            epoch,
            train: LossTerms {
                reconstruction: 1.0,
                total: 1.5,
                l2: 0.5,
                ..LossTerms::default()
            },
            val_loss: (epoch > 1).then_some(2.0 / epoch as f64),
            val_reconstruction: None,
            learning_rate: Some(0.1),
            grad_norm: 3.0,
            layers: vec![LayerNorms {
                total: 3.0,
                encoder_part: tied.then_some(1.0),
                decoder_part: tied.then_some(2.0),
            }],
            seconds: 0.25,
            dead_fraction: None,
        }
    }

    #[test]
    fn dataframe_has_one_row_per_epoch_and_nulls_not_nans() {
        let h = History {
            epochs: vec![record(1, true), record(2, true), record(3, true)],
        };
        let df = h.to_dataframe().unwrap();
        assert_eq!(df.height(), 3);
        let names: Vec<String> = df
            .get_column_names()
            .iter()
            .map(|s| s.to_string())
            .collect();
        for want in [
            "epoch",
            "train_loss",
            "train_l2",
            "val_loss",
            "learning_rate",
            "grad_norm_layer0",
            "grad_norm_layer0_encoder",
            "grad_norm_layer0_decoder",
            "seconds",
        ] {
            assert!(
                names.iter().any(|n| n == want),
                "missing {want} in {names:?}"
            );
        }
        let val = df.column("val_loss").unwrap();
        assert_eq!(val.null_count(), 1);
        assert_eq!(val.f64().unwrap().get(2), Some(2.0 / 3.0));
        // Validation losses 1.0 and 0.67 decide, not epoch 1's train loss.
        assert_eq!(h.best().unwrap().epoch, 3);
    }

    #[test]
    fn untied_layers_have_no_part_columns() {
        let h = History {
            epochs: vec![record(1, false)],
        };
        let df = h.to_dataframe().unwrap();
        assert!(df.column("grad_norm_layer0_encoder").is_err());
        assert!(df.column("grad_norm_layer0").is_ok());
    }
}
