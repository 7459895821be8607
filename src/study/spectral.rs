//! A variant's own training recipe ([`VariantTraining`]) and the settings
//! it states relative to the spectrum of its cell's fitting rows
//! ([`SpectralRule`]): what the `theory` study's linear pairs need so that
//! each cell trains, and is judged, against the rows it fits.
//!
//! # Why an own recipe
//! One study may compare models that need different optimizers: the
//! closed forms of the linear theory are checked at an optimum reached to
//! many digits (full-batch L-BFGS), Bao et al.'s rotation is a claim about
//! full-batch gradient descent, and a denoising pair needs fresh noise
//! every epoch (a minibatch optimizer). A variant with a [`VariantTraining`]
//! trains its cells with that recipe in place of the study's config; its
//! cells' learning rate is the recipe's (none under L-BFGS, or when a
//! spectral rate rule resolves it per cell), so they cross no rate grid.
//!
//! # Why relative to the spectrum
//! The closed forms are stated in the eigenvalues `c_i` (largest first) of
//! the second moment `XᵀX / N` of the rows a model fits. Every seed fits
//! its own rows, so an L2 weight, a noise level or a gradient-descent rate
//! stated as a number would sit at another place of each seed's spectrum;
//! stated as a multiple of `c_k / d`, `c_k` or `d / c_1` (`k` the latent
//! size, `d` the width) it sits at the same place on every seed and on any
//! dataset: `λ₂ = c_k / d` puts an untied pair's `s_k² = 1/2` wherever the
//! spectrum lies. Each cell resolves its rule against its own fitting rows
//! (centred when its variant centres them, [`super::Variant::centre`]), as
//! a relative Gaussian σ resolves against the entry scale; the cache key
//! holds the rule, which is what the cell's result depends on given its
//! data.

use crate::error::{Error, Result};
use crate::model::UnitL2;
use crate::model::theory::second_moments;
use crate::train::{Corruption, Optimizer, Schedule, TrainConfig};
use crate::validate;
use nalgebra::DMatrix;
use serde::{Deserialize, Serialize};

/// `true` for 0, so a rule leaves its unset terms out of files and keys.
fn is_zero(v: &f64) -> bool {
    *v == 0.0
}

/// How a variant's cells train in place of the study's config (see the
/// module docs). Per cell the study still sets the seed, the validation
/// rows and early stopping, as for every cell.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VariantTraining {
    /// Epochs (unused by L-BFGS, which counts its iterations itself).
    pub epochs: usize,
    /// Rows per batch; `None` puts all the cell's fitting rows in one
    /// batch (full-batch gradient descent, whatever their number).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch_size: Option<usize>,
    /// The learning rate (unused by L-BFGS; a [`SpectralRule::rate`]
    /// replaces it per cell).
    pub learning_rate: f64,
    /// Bao et al.'s rotation-augmented gradient
    /// ([`TrainConfig::rotation_augmented`]).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub rotation_augmented: bool,
    /// The update rule.
    pub optimizer: Optimizer,
    /// How the rate changes over epochs.
    #[serde(default)]
    pub schedule: Schedule,
}

impl VariantTraining {
    /// Writes the recipe into `cfg`, the config of a cell fitting `n_fit`
    /// rows.
    pub fn apply(&self, cfg: &mut TrainConfig, n_fit: usize) {
        cfg.optimizer = self.optimizer;
        cfg.epochs = self.epochs;
        cfg.batch_size = self.batch_size.unwrap_or(n_fit).max(1);
        cfg.learning_rate = self.learning_rate;
        cfg.schedule = self.schedule;
        cfg.rotation_augmented = self.rotation_augmented;
    }

    /// Whether it trains with full-batch L-BFGS.
    pub fn is_lbfgs(&self) -> bool {
        matches!(self.optimizer, Optimizer::Lbfgs(_))
    }

    /// Checks the recipe by the rules of a training config.
    ///
    /// # Errors
    /// [`Error::Config`] naming the config's field.
    pub fn validate(&self) -> Result<()> {
        let mut probe = TrainConfig::default();
        self.apply(&mut probe, 1);
        probe.validate()
    }
}

/// Training that stops once the cell's first pair is axis-aligned with the
/// principal directions of its fitting rows: what Bao et al.'s "steps to
/// alignment" counts. The cell trains in chunks of `every` epochs (so a
/// stateless optimizer: plain SGD at a constant rate) and stops after the
/// first chunk whose axis alignment
/// ([`crate::model::theory::axis_alignment`]) is below `target`, or at its
/// epoch cap.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlignmentStop {
    /// Epochs between checks (at least 1).
    pub every: usize,
    /// The axis alignment to reach (finite, > 0).
    pub target: f64,
}

/// Settings relative to the spectrum of a cell's fitting rows (see the
/// module docs); every term is off at 0 or `None`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpectralRule {
    /// L2 on the weights, `λ₂ = l2 · c_k / d`.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub l2: f64,
    /// Gaussian input noise (a denoising pair), `σ² = noise · c_k`.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub noise: f64,
    /// The learning rate, `rate · d / c_1`.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub rate: f64,
    /// Bao et al.'s non-uniform weights of the L2 term over the latent
    /// units ([`crate::model::LossConfig::unit_l2`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit_l2: Option<UnitL2>,
    /// Stops training once aligned ([`AlignmentStop`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alignment: Option<AlignmentStop>,
}

/// A [`SpectralRule`] resolved against one cell's fitting rows.
#[derive(Clone, Debug, PartialEq)]
pub struct ResolvedRule {
    /// The eigenvalues `c_i` of the rows' second moment, largest first.
    pub moments: Vec<f64>,
    /// `λ₂` (0 when the rule sets none).
    pub l2: f64,
    /// The Gaussian noise's σ (0 when the rule sets none).
    pub sigma: f64,
    /// The learning rate, when the rule sets one.
    pub learning_rate: Option<f64>,
}

impl SpectralRule {
    /// The rule on fitting rows `fit` (centred first when `centre`, as the
    /// cell's model sees them) at latent size `latent`.
    ///
    /// # Errors
    /// Empty or non-finite rows; a latent size of 0 or above the width.
    pub fn resolve(&self, fit: &DMatrix<f64>, latent: usize, centre: bool) -> Result<ResolvedRule> {
        let moments = second_moments(fit, centre)?;
        if latent == 0 || latent > moments.len() {
            return Err(Error::config(
                "latents",
                format!(
                    "a spectral rule at latent size {latent} needs 1..={} eigenvalues",
                    moments.len()
                ),
            ));
        }
        let d = fit.ncols() as f64;
        let ck = moments[latent - 1];
        let c1 = moments[0];
        Ok(ResolvedRule {
            l2: self.l2 * ck / d,
            sigma: (self.noise * ck).sqrt(),
            learning_rate: (self.rate > 0.0).then_some(self.rate * d / c1),
            moments,
        })
    }

    /// Writes the resolved terms into `cfg`: the L2 weight and its unit
    /// weights, the Gaussian noise and the rate, each where the rule sets
    /// it. A rate of a spectrum without variance is infinite, which the
    /// trainer's validation refuses.
    pub fn apply(&self, cfg: &mut TrainConfig, r: &ResolvedRule) {
        if self.l2 > 0.0 {
            cfg.loss.l2 = r.l2;
        }
        if self.unit_l2.is_some() {
            cfg.loss.unit_l2 = self.unit_l2;
        }
        if self.noise > 0.0 {
            cfg.corruption = Some(Corruption::Gaussian { sigma: r.sigma });
        }
        if let Some(lr) = r.learning_rate {
            cfg.learning_rate = lr;
        }
    }

    /// Checks the terms: finite and >= 0, unit weights finite and > 0, an
    /// alignment stop of at least one epoch with a finite target > 0. The
    /// reason if not.
    pub fn check(&self) -> std::result::Result<(), String> {
        for (name, v) in [("l2", self.l2), ("noise", self.noise), ("rate", self.rate)] {
            validate::non_negative(name, v).map_err(|e| e.to_string())?;
        }
        if let Some(u) = &self.unit_l2
            && !(u.first.is_finite() && u.first > 0.0 && u.last.is_finite() && u.last > 0.0)
        {
            return Err(format!(
                "unit_l2 weights must be finite and > 0, got {} and {}",
                u.first, u.last
            ));
        }
        if let Some(a) = &self.alignment
            && (a.every == 0 || !(a.target.is_finite() && a.target > 0.0))
        {
            return Err(format!(
                "alignment needs every >= 1 and a finite target > 0, got {} and {}",
                a.every, a.target
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A rule resolves against the spectrum of the rows it is given:
    /// `λ₂ = l2 c_k / d`, `σ² = noise c_k`, rate `rate d / c_1`, here on
    /// centred rows whose second moment is `diag(4, 1)` (so centring
    /// changes nothing), and writes those terms into a config.
    #[test]
    fn rules_resolve_against_the_fitting_rows() {
        let x = DMatrix::from_row_slice(4, 2, &[2.0, 1.0, -2.0, -1.0, 2.0, -1.0, -2.0, 1.0]);
        let rule = SpectralRule {
            l2: 2.0,
            noise: 0.5,
            rate: 0.25,
            ..SpectralRule::default()
        };
        let close = |got: f64, want: f64| assert!((got - want).abs() <= 1e-12, "{got} vs {want}");
        for centre in [false, true] {
            let r = rule.resolve(&x, 2, centre).unwrap();
            assert_eq!(r.moments.len(), 2);
            close(r.moments[0], 4.0);
            close(r.moments[1], 1.0);
            // c_k = 1, d = 2, c_1 = 4.
            close(r.l2, 2.0 * 1.0 / 2.0);
            close(r.sigma, 0.5f64.sqrt());
            close(r.learning_rate.unwrap(), 0.25 * 2.0 / 4.0);
        }
        let mut cfg = TrainConfig::default();
        rule.apply(&mut cfg, &rule.resolve(&x, 1, false).unwrap());
        // At latent size 1, c_k = 4.
        close(cfg.loss.l2, 2.0 * 4.0 / 2.0);
        match cfg.corruption {
            Some(Corruption::Gaussian { sigma }) => close(sigma, 2.0f64.sqrt()),
            other => panic!("{other:?}"),
        }
        close(cfg.learning_rate, 0.125);
        assert!(rule.resolve(&x, 3, false).is_err());
        assert!(rule.resolve(&x, 0, false).is_err());
        let bad = SpectralRule {
            l2: -1.0,
            ..SpectralRule::default()
        };
        assert!(bad.check().is_err());
        assert!(rule.check().is_ok());
    }
}
