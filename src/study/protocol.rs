//! The training protocol every study cell follows, and the one rule that
//! picks the tuned cells out of a learning-rate grid.
//!
//! A comparison of tied and untied models is evidence only if both had the
//! same chance: the same data, the same budget, the same tuning. So every
//! trained cell
//! - fits on the training part minus a validation part carved from it
//!   (the test part stays untouched until the end; PCA fits on the same
//!   rows, so every model sees the same data);
//! - with a minibatch optimizer, stops early when the validation loss has not
//!   improved for [`Protocol::patience`] epochs, within the training
//!   config's epoch cap, and hands back the best-validation weights;
//! - is run once per learning rate of [`Protocol::learning_rates`], the same
//!   grid for every kind; [`select_tuned`] then keeps, per model
//!   configuration, the rate with the lowest mean validation MSE over seeds.
//!
//! Each row records the cell's `learning_rate`, `best_epoch`, `val_mse` and
//! `stop_reason` ([`StopKind`]), so a reader can see whether a comparison
//! is between converged models.

use super::frame::Row;
use super::limits::MAX_AXIS_VALUES;
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};

/// How cells are trained and tuned.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Protocol {
    /// Fraction of each training set held out for validation, in `[0, 1)`;
    /// 0 disables validation, early stopping and tuning.
    pub validation_fraction: f64,
    /// Early-stopping patience in epochs for minibatch optimizers; `None`
    /// trains the whole epoch budget. (L-BFGS runs to its tolerance: its
    /// optimum on the training rows is the Eckart–Young comparison.)
    pub patience: Option<usize>,
    /// The learning-rate grid of minibatch optimizers; empty means the
    /// training config's one rate.
    pub learning_rates: Vec<f64>,
    /// The equal-epochs budget of the `val_mse_at_budget` column: tied
    /// networks are said to need more epochs, so besides the at-convergence
    /// view every minibatch cell reports its best validation MSE within
    /// this many epochs.
    pub equal_epochs: usize,
}

impl Default for Protocol {
    /// 20% validation, patience 20, no grid, equal-epochs budget 50.
    fn default() -> Self {
        Protocol {
            validation_fraction: 0.2,
            patience: Some(20),
            learning_rates: Vec::new(),
            equal_epochs: 50,
        }
    }
}

impl Protocol {
    /// No validation, no early stopping, no grid: every cell trains its
    /// whole budget on the whole training set.
    pub fn fixed_budget() -> Protocol {
        Protocol {
            validation_fraction: 0.0,
            patience: None,
            learning_rates: Vec::new(),
            equal_epochs: 50,
        }
    }

    /// Validation rows carved from `n_train` training rows: `round(fraction
    /// · n)`, at least one when the fraction is positive, and never all of
    /// them, which wins for a single row (or none): then no row validates.
    /// Defined for every `n_train`, so a caller need not check it first.
    pub fn validation_rows(&self, n_train: usize) -> usize {
        if self.validation_fraction == 0.0 {
            0
        } else {
            // Not `clamp`: its upper bound, `n - 1`, is below its lower
            // bound for fewer than two rows.
            let rows = ((self.validation_fraction * n_train as f64).round() as usize).max(1);
            rows.min(n_train.saturating_sub(1))
        }
    }

    /// Checks every field.
    ///
    /// # Errors
    /// [`Error::Config`] naming the field.
    pub fn validate(&self) -> Result<()> {
        let f = self.validation_fraction;
        if !(f.is_finite() && (0.0..1.0).contains(&f)) {
            return Err(Error::config(
                "protocol.validation_fraction",
                format!("must lie in [0, 1), got {f}"),
            ));
        }
        if let Some(p) = self.patience {
            if p == 0 {
                return Err(Error::config(
                    "protocol.patience",
                    "must be at least 1 epoch",
                ));
            }
            if f == 0.0 {
                return Err(Error::config(
                    "protocol.patience",
                    "early stopping needs a validation set: set validation_fraction > 0",
                ));
            }
        }
        if let Some(lr) = self
            .learning_rates
            .iter()
            .find(|lr| !(lr.is_finite() && **lr > 0.0))
        {
            return Err(Error::config(
                "protocol.learning_rates",
                format!("{lr} must be finite and > 0"),
            ));
        }
        if self.learning_rates.len() > MAX_AXIS_VALUES {
            return Err(Error::config(
                "protocol.learning_rates",
                format!(
                    "lists {} rates; a study takes at most {MAX_AXIS_VALUES}",
                    self.learning_rates.len()
                ),
            ));
        }
        if self.learning_rates.len() > 1 && f == 0.0 {
            return Err(Error::config(
                "protocol.learning_rates",
                "choosing among several rates needs a validation set: set validation_fraction > 0",
            ));
        }
        if self.equal_epochs == 0 {
            return Err(Error::config(
                "protocol.equal_epochs",
                "must be at least 1 epoch",
            ));
        }
        for (i, a) in self.learning_rates.iter().enumerate() {
            if self.learning_rates[..i].contains(a) {
                return Err(Error::config(
                    "protocol.learning_rates",
                    format!("{a} appears twice"),
                ));
            }
        }
        Ok(())
    }
}

/// Why a cell's training ended, as the `stop_reason` column spells it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum StopKind {
    /// PCA: nothing was trained.
    ClosedForm,
    /// An optimizer tolerance was met (L-BFGS).
    Converged,
    /// Early stopping: the validation loss stopped improving.
    Patience,
    /// The epoch (or iteration) cap was reached: not known to be converged.
    MaxEpochs,
    /// Training diverged; the row measures the last finite weights.
    Diverged,
}

impl StopKind {
    /// Every kind.
    pub const ALL: [StopKind; 5] = [
        StopKind::ClosedForm,
        StopKind::Converged,
        StopKind::Patience,
        StopKind::MaxEpochs,
        StopKind::Diverged,
    ];

    /// The `stop_reason` value.
    pub fn name(self) -> &'static str {
        match self {
            StopKind::ClosedForm => "closed_form",
            StopKind::Converged => "converged",
            StopKind::Patience => "patience",
            StopKind::MaxEpochs => "max_epochs",
            StopKind::Diverged => "diverged",
        }
    }

    /// The kind named `name`.
    ///
    /// # Errors
    /// [`Error::InvalidData`] for an unknown name.
    pub fn parse(name: &str) -> Result<StopKind> {
        StopKind::ALL
            .into_iter()
            .find(|k| k.name() == name)
            .ok_or_else(|| Error::InvalidData(format!("unknown stop_reason {name:?}")))
    }

    /// Whether a model stopped this way counts as trained to the end:
    /// converged, early-stopped on a validation plateau, or closed-form.
    pub fn is_settled(self) -> bool {
        matches!(
            self,
            StopKind::ClosedForm | StopKind::Converged | StopKind::Patience
        )
    }
}

/// Whether a row's model counts as converged ([`StopKind::is_settled`]).
pub fn is_settled(row: &Row) -> bool {
    StopKind::parse(&row.stop_reason).is_ok_and(StopKind::is_settled)
}

/// The configuration a learning rate is tuned for: every axis of a row but
/// its seed and learning rate.
fn config_key(r: &Row) -> (String, String, String, String, i64, i64, u64, u64) {
    (
        r.dataset.clone(),
        r.model.clone(),
        r.activation.clone(),
        r.bias_mode.clone(),
        r.latent,
        r.n_train,
        r.l2.to_bits(),
        r.sparsity_weight.to_bits(),
    )
}

/// The tuned rows: per configuration (every axis but seed and learning
/// rate), the rows of the learning rate whose mean validation MSE over
/// seeds is lowest (ties go to the smaller rate), among the rates none of
/// whose runs diverged or ended with a non-finite validation MSE: a
/// diverged run's row measures its last finite weights, which may look
/// good, and a NaN would sort anywhere. When no rate of a configuration is
/// eligible its smallest rate is kept, and its rows' stop reasons mark them
/// as not converged wherever they are read. Rows without a learning
/// rate (PCA, L-BFGS) are kept. A cell that appears twice (two parts of a
/// study ran it) is kept once. Order is preserved.
///
/// This is the single rule by which findings, verdicts and charts read a
/// frame that holds a learning-rate grid.
pub fn select_tuned(rows: &[Row]) -> Vec<Row> {
    use std::collections::HashMap;
    // (config, rate bits) -> (sum of val_mse, count, every run eligible)
    let mut sums: HashMap<_, (f64, usize, bool)> = HashMap::new();
    for r in rows {
        if let Some(lr) = r.learning_rate {
            let e = sums
                .entry((config_key(r), lr.to_bits()))
                .or_insert((0.0, 0, true));
            e.0 += r.val_mse;
            e.1 += 1;
            e.2 &= r.val_mse.is_finite() && r.stop_reason != StopKind::Diverged.name();
        }
    }
    // config -> (rate, mean val_mse, eligible)
    let mut best: HashMap<_, (f64, f64, bool)> = HashMap::new();
    for ((key, bits), (sum, n, eligible)) in &sums {
        let candidate = (f64::from_bits(*bits), sum / *n as f64, *eligible);
        let slot = best.entry(key.clone()).or_insert(candidate);
        let better = match (candidate.2, slot.2) {
            (true, false) => true,
            (false, true) => false,
            (true, true) => match candidate.1.total_cmp(&slot.1) {
                std::cmp::Ordering::Less => true,
                std::cmp::Ordering::Equal => candidate.0 < slot.0,
                std::cmp::Ordering::Greater => false,
            },
            (false, false) => candidate.0 < slot.0,
        };
        if better {
            *slot = candidate;
        }
    }
    // A cell that two parts of a study share (the comparison's equal-budget
    // and overfitting parts both train the full-size cells) is one cell:
    // counting it twice would double its seeds.
    let mut seen = std::collections::HashSet::new();
    rows.iter()
        .filter(|r| match r.learning_rate {
            None => true,
            Some(lr) => best.get(&config_key(r)).is_some_and(|b| b.0 == lr),
        })
        .filter(|r| seen.insert((config_key(r), r.seed, r.learning_rate.map(f64::to_bits))))
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Validation rows are defined for every training size: one row or
    /// none leaves nothing to validate on.
    #[test]
    fn validation_rows_never_take_every_row() {
        let p = Protocol::default();
        assert_eq!(p.validation_rows(0), 0);
        assert_eq!(p.validation_rows(1), 0);
        assert_eq!(p.validation_rows(2), 1);
        assert_eq!(p.validation_rows(3), 1);
        assert_eq!(p.validation_rows(100), 20);
        assert_eq!(Protocol::fixed_budget().validation_rows(1), 0);
        let most = Protocol {
            validation_fraction: 0.99,
            ..Protocol::default()
        };
        assert_eq!(most.validation_rows(10), 9);
    }
}
