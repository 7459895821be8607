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
use super::model_name::ModelName;
use crate::error::{Error, Result};
use crate::validate;
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
    /// The budget of a minibatch cell in optimizer steps, replacing the
    /// training config's epoch cap: a cell fitting `n` rows in batches of
    /// `b` trains at most `ceil(max_steps / ceil(n / b))` epochs
    /// ([`Protocol::epoch_cap`]). An epoch cap gives a small training set
    /// few updates (one batch per epoch) where a large one gets many, so a
    /// small-n cell would stop at the cap before it converged; a step cap
    /// gives every size the same number of updates. The budget holds at
    /// the rates of [`Protocol::learning_rates`] and above; a rate below
    /// the grid's lowest, one the learning-rate search added, gets it in
    /// rate × steps instead ([`Protocol::step_cap`]). `None` keeps the
    /// config's epoch cap. Early stopping still ends most cells first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_steps: Option<usize>,
}

impl Default for Protocol {
    /// 20% validation, patience 20, no grid, equal-epochs budget 50.
    fn default() -> Self {
        Protocol {
            validation_fraction: 0.2,
            patience: Some(20),
            learning_rates: Vec::new(),
            equal_epochs: 50,
            max_steps: None,
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
            max_steps: None,
        }
    }

    /// The step budget of a minibatch cell at `learning_rate`:
    /// [`Protocol::max_steps`] at the grid's lowest rate `η₀` and above,
    /// `max_steps · min(η₀ / η, `[`MAX_CAP_GROWTH`]`)` below it; `None`
    /// without a step budget.
    ///
    /// Why the budget grows below the grid: an Adam step moves each weight
    /// by about the rate, so a rate half a decade lower needs about √10
    /// times the steps to reach the same point. A fixed step budget would
    /// stop the low rates the search adds before they converge, so their
    /// validation loss would compare an unfinished run with a finished
    /// one; in units of rate × steps every rate gets the grid's budget.
    /// The growth is bounded so that a user's grid far above the ladder's
    /// floor cannot ask for an unbounded run.
    pub fn step_cap(&self, learning_rate: f64) -> Option<usize> {
        let steps = self.max_steps?;
        let lowest = self
            .learning_rates
            .iter()
            .copied()
            .fold(f64::INFINITY, f64::min);
        let growth = if lowest.is_finite() && learning_rate > 0.0 && learning_rate < lowest {
            (lowest / learning_rate).min(MAX_CAP_GROWTH)
        } else {
            1.0
        };
        // Rounded to the nearest step: the ratio of two decimal rates is
        // rarely exact in binary (60 · 1e-3 / 3e-5 is 2000.0000000000002).
        Some((steps as f64 * growth).round().min(usize::MAX as f64) as usize)
    }

    /// The epoch cap of a minibatch cell at `learning_rate` whose training
    /// config caps it at `epochs` and which fits `n_fit` rows in batches of
    /// `batch_size`: `epochs` without a step budget, else enough epochs for
    /// its [`Protocol::step_cap`] (`ceil(steps / batches per epoch)`, at
    /// least one), whatever `epochs` says.
    pub fn epoch_cap(
        &self,
        epochs: usize,
        n_fit: usize,
        batch_size: usize,
        learning_rate: f64,
    ) -> usize {
        match self.step_cap(learning_rate) {
            None => epochs,
            Some(steps) => {
                let per_epoch = n_fit.div_ceil(batch_size.max(1)).max(1);
                steps.div_ceil(per_epoch).max(1)
            }
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
        validate::fraction_below_one("protocol.validation_fraction", f)?;
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
        for &lr in &self.learning_rates {
            validate::positive("protocol.learning_rates", lr)?;
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
        if self.max_steps == Some(0) {
            return Err(Error::config(
                "protocol.max_steps",
                "must be at least 1 step",
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
fn config_key(r: &Row) -> (String, ModelName, String, String, i64, i64, u64, u64) {
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
/// as not converged wherever they are read. A rate tried on fewer seeds
/// than the configuration's best-covered rate (a probe of the learning-rate
/// search that did worse than the choice on its seed) is not a candidate:
/// a mean over fewer seeds is not comparable. Rows without a learning
/// rate (PCA, L-BFGS) are kept. A cell that appears twice (two parts of a
/// study ran it) is kept once. Order is preserved.
///
/// This is the single rule by which findings, verdicts and charts read a
/// frame that holds a learning-rate grid.
pub fn select_tuned(rows: &[Row]) -> Vec<Row> {
    use std::collections::HashMap;
    use std::collections::HashSet;
    // (config, rate bits) -> (sum of val_mse, count, every run eligible, seeds)
    let mut sums: HashMap<_, (f64, usize, bool, HashSet<i64>)> = HashMap::new();
    for r in rows {
        if let Some(lr) = r.learning_rate {
            let e =
                sums.entry((config_key(r), lr.to_bits()))
                    .or_insert((0.0, 0, true, HashSet::new()));
            e.0 += r.val_mse;
            e.1 += 1;
            e.2 &= r.val_mse.is_finite() && r.stop_reason != StopKind::Diverged.name();
            e.3.insert(r.seed);
        }
    }
    // config -> the most seeds any of its rates ran
    let mut coverage: HashMap<_, usize> = HashMap::new();
    for ((key, _), (.., seeds)) in &sums {
        let c = coverage.entry(key.clone()).or_insert(0);
        *c = (*c).max(seeds.len());
    }
    // config -> (rate, mean val_mse, eligible)
    let mut best: HashMap<_, (f64, f64, bool)> = HashMap::new();
    for ((key, bits), (sum, n, eligible, seeds)) in &sums {
        if seeds.len() < coverage[key] {
            continue;
        }
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

/// Whether the learning-rate search runs a probed rate on the rest of the
/// seeds: no run of the probe (`probe`, its rows, one per probe seed)
/// diverged, and its mean validation MSE over those seeds is no worse than
/// the tuned rate's over the same seeds, among `rows` (the probe's
/// included; as a probe it is not a candidate of [`select_tuned`]). A rate
/// that loses its probe is kept as tried, so the choice counts as
/// bracketed, but runs no further seeds: the pruning of successive
/// halving.
pub fn probe_passes(rows: &[Row], probe: &[Row]) -> bool {
    let Some(first) = probe.first() else {
        return false;
    };
    let key = config_key(first);
    if probe
        .iter()
        .any(|r| !r.val_mse.is_finite() || r.stop_reason == StopKind::Diverged.name())
    {
        return false;
    }
    let tuned: Vec<Row> = select_tuned(rows)
        .into_iter()
        .filter(|r| r.learning_rate.is_some() && config_key(r) == key)
        .collect();
    let mut probe_sum = 0.0;
    let mut tuned_sum = 0.0;
    for p in probe {
        match tuned.iter().find(|t| t.seed == p.seed) {
            Some(t) => {
                probe_sum += p.val_mse;
                tuned_sum += t.val_mse;
            }
            // No choice to compare with on this seed: run every seed.
            None => return true,
        }
    }
    probe_sum <= tuned_sum
}

/// The most a step budget grows below the grid's lowest rate
/// ([`Protocol::step_cap`]): two decades, the span from the presets'
/// lowest grid rate (1e-3) down to [`MIN_LEARNING_RATE`].
pub const MAX_CAP_GROWTH: f64 = 100.0;

/// The lowest learning rate the bracketing search tries: a tuned rate here
/// with nothing lower tried is reported as at a hard bound, not extended.
pub const MIN_LEARNING_RATE: f64 = 1e-5;
/// The highest learning rate the bracketing search tries (Adam rarely
/// trains above it); a tuned rate here is reported as at a hard bound.
pub const MAX_LEARNING_RATE: f64 = 1e-1;

/// Relative tolerance of rate comparisons on the ladder, so that a rate
/// written `3e-3` and one computed near it count as the same rung.
const RUNG_TOLERANCE: f64 = 1e-9;

/// Rungs of the half-decade ladder (1 and 3 times a power of ten) around
/// `rate`, ascending. Each rung is parsed from its decimal form so that it
/// equals the literal a grid writes (`3e-3`), bit for bit: a rate added
/// by the search then shares its cells with a grid that lists it.
fn rungs_near(rate: f64) -> Vec<f64> {
    let e = rate.log10().floor() as i32;
    (e - 2..=e + 2)
        .flat_map(|x| [format!("1e{x}"), format!("3e{x}")])
        .filter_map(|s| s.parse::<f64>().ok())
        .collect()
}

/// The next rung of the half-decade ladder (…, 1e-3, 3e-3, 1e-2, 3e-2, …)
/// strictly above `rate`: about `rate · √10`, rounded to one significant
/// digit the way the grids are written.
pub fn half_decade_up(rate: f64) -> f64 {
    rungs_near(rate)
        .into_iter()
        .find(|&r| r > rate * (1.0 + RUNG_TOLERANCE))
        .unwrap_or(rate * 10f64.sqrt())
}

/// The next rung of the half-decade ladder strictly below `rate` (about
/// `rate / √10`; see [`half_decade_up`]).
pub fn half_decade_down(rate: f64) -> f64 {
    rungs_near(rate)
        .into_iter()
        .rev()
        .find(|&r| r < rate * (1.0 - RUNG_TOLERANCE))
        .unwrap_or(rate / 10f64.sqrt())
}

/// Where one configuration's tuned rate (by [`select_tuned`]) sits among
/// the rates it tried.
#[derive(Clone, Debug)]
pub struct RateBracket {
    /// The configuration's first row (every axis but seed and learning
    /// rate is the configuration's).
    pub row: Row,
    /// The tuned rate.
    pub chosen: f64,
    /// The lowest rate tried.
    pub lowest: f64,
    /// The highest rate tried.
    pub highest: f64,
}

impl RateBracket {
    /// Whether the tuned rate is the lowest tried.
    pub fn at_low_edge(&self) -> bool {
        self.chosen <= self.lowest
    }

    /// Whether the tuned rate is the highest tried.
    pub fn at_high_edge(&self) -> bool {
        self.chosen >= self.highest
    }

    /// The rate the search tries next: half a decade beyond the edge the
    /// tuned rate sits on, within [`MIN_LEARNING_RATE`] and
    /// [`MAX_LEARNING_RATE`]; `None` when the tuned rate is interior (a
    /// lower and a higher rate were tried and were worse) or at a hard
    /// bound. A configuration that tried a single rate sits at both edges
    /// and looks below first. When every rate diverged, [`select_tuned`]
    /// keeps the smallest, so the search moves down, as it should.
    pub fn next_rate(&self) -> Option<f64> {
        if self.at_low_edge() && self.chosen > MIN_LEARNING_RATE * (1.0 + RUNG_TOLERANCE) {
            Some(half_decade_down(self.chosen).max(MIN_LEARNING_RATE))
        } else if self.at_high_edge() && self.chosen < MAX_LEARNING_RATE * (1.0 - RUNG_TOLERANCE) {
            Some(half_decade_up(self.chosen).min(MAX_LEARNING_RATE))
        } else {
            None
        }
    }

    /// Whether the tuned rate is at an edge of the rates tried that is a
    /// hard bound ([`MIN_LEARNING_RATE`] or [`MAX_LEARNING_RATE`]), so the
    /// search stopped there rather than at an interior optimum: a page
    /// says so beside the choice.
    pub fn at_hard_bound(&self) -> bool {
        (self.at_low_edge() && self.chosen <= MIN_LEARNING_RATE * (1.0 + RUNG_TOLERANCE))
            || (self.at_high_edge() && self.chosen >= MAX_LEARNING_RATE * (1.0 - RUNG_TOLERANCE))
    }
}

/// Per configuration with a learning rate (every axis but seed and rate:
/// dataset, model kind, activation, bias mode, latent size, training-set
/// size, L2, sparsity weight), where its tuned rate sits among the rates
/// it tried, in the order configurations first appear in `rows`. The
/// search that extends the rates ([`crate::study::Study::run_bracketed`])
/// and the page that flags choices at a hard bound both read it.
pub fn rate_brackets(rows: &[Row]) -> Vec<RateBracket> {
    use std::collections::HashMap;
    let mut chosen = HashMap::new();
    for r in select_tuned(rows) {
        if let Some(lr) = r.learning_rate {
            chosen.insert(config_key(&r), lr);
        }
    }
    let mut brackets: Vec<RateBracket> = Vec::new();
    let mut position: HashMap<_, usize> = HashMap::new();
    for r in rows {
        let Some(lr) = r.learning_rate else {
            continue;
        };
        let key = config_key(r);
        let Some(&c) = chosen.get(&key) else {
            continue;
        };
        if let Some(&i) = position.get(&key) {
            let b = &mut brackets[i];
            b.lowest = b.lowest.min(lr);
            b.highest = b.highest.max(lr);
        } else {
            position.insert(key, brackets.len());
            brackets.push(RateBracket {
                row: r.clone(),
                chosen: c,
                lowest: lr,
                highest: lr,
            });
        }
    }
    brackets
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The ladder steps by half decades on the 1-3 rungs grids are written
    /// with, and its rungs equal the literals.
    #[test]
    fn the_ladder_steps_half_decades() {
        assert_eq!(half_decade_down(1e-3), 3e-4);
        assert_eq!(half_decade_down(3e-4), 1e-4);
        assert_eq!(half_decade_up(3e-3), 1e-2);
        assert_eq!(half_decade_up(1e-2), 3e-2);
        assert_eq!(half_decade_up(3e-2), 1e-1);
        assert_eq!(half_decade_down(3e-5), 1e-5);
        // Off the ladder: the nearest rung beyond.
        assert_eq!(half_decade_up(5e-3), 1e-2);
        assert_eq!(half_decade_down(5e-3), 3e-3);
    }

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
