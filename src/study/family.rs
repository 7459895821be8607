//! Training per family of model kinds: one grid may train its linear kinds
//! as PCA's oracle needs (full-batch L-BFGS in f64, to its tolerance) and
//! its nonlinear kinds as they need (Adam in f32 over the learning-rate
//! grid), rather than splitting into two studies whose frames are stacked
//! (which a shard cannot hold). Every place that trains a cell or keys its
//! result asks [`Study::training_for`] and [`Study::precision_for`].

use super::spec::{FamilyTraining, ModelKind, Precision, Study};
use crate::error::{Error, Result};
use crate::train::TrainConfig;

impl Study {
    /// Trains the linear kinds ([`ModelKind::is_linear`]: linear tied and
    /// untied) with `config` in `precision` instead of the study's
    /// [`Study::training`] and [`Study::precision`], which the other kinds
    /// keep. Checked by [`Study::validate`] as `training` is, with errors
    /// naming `training.linear` fields.
    pub fn linear_training(mut self, config: TrainConfig, precision: Precision) -> Study {
        self.linear_training = Some(FamilyTraining { config, precision });
        self
    }

    /// The training config cells of `model` train with: the linear
    /// family's when the study sets one and `model` is linear, else
    /// [`Study::training`].
    pub fn training_for(&self, model: ModelKind) -> &TrainConfig {
        match &self.linear_training {
            Some(f) if model.is_linear() => &f.config,
            _ => &self.training,
        }
    }

    /// The scalar type cells of `model` train in (as
    /// [`Study::training_for`] chooses the config).
    pub fn precision_for(&self, model: ModelKind) -> Precision {
        match &self.linear_training {
            Some(f) if model.is_linear() => f.precision,
            _ => self.precision,
        }
    }

    /// Checks the linear family's training, if set, as
    /// [`Study::validate`] checks [`Study::training`]; a family setting
    /// that no kind of the study uses is refused rather than ignored.
    ///
    /// # Errors
    /// [`Error::Config`] naming a `training.linear` field.
    pub(crate) fn validate_linear_training(&self) -> Result<()> {
        let Some(f) = &self.linear_training else {
            return Ok(());
        };
        if !self.models.iter().any(|m| m.is_trained() && m.is_linear()) {
            return Err(Error::config(
                "training.linear",
                "the study has no linear_tied or linear_untied cells to train with it; drop it or add a linear kind",
            ));
        }
        let mut probe = f.config.clone();
        probe.checkpoint = None;
        probe.validate().map_err(|e| match e {
            Error::Config { field, reason } => {
                let key = linear_field(field);
                let reason = if key.ends_with(field) {
                    reason
                } else {
                    format!("{field}: {reason}")
                };
                Error::config(key, reason)
            }
            other => other,
        })
    }
}

/// The study-file key (in the `[training.linear]` table) of the linear
/// family's config field `field`, as [`TrainConfig::validate`] names it,
/// so an error points at the line that set it; `training.linear` for a
/// field a study file does not set.
fn linear_field(field: &'static str) -> &'static str {
    match field.split_once('.').map_or(field, |(head, _)| head) {
        "epochs" => "training.linear.epochs",
        "batch_size" => "training.linear.batch_size",
        "shard_size" => "training.linear.shard_size",
        "learning_rate" => "training.linear.learning_rate",
        "weight_decay" => "training.linear.weight_decay",
        "clip_grad_norm" => "training.linear.clip_grad_norm",
        "optimizer" | "lbfgs" => "training.linear.optimizer",
        "schedule" => "training.linear.schedule",
        "reconstruction" | "kl" | "l1" | "l2" => "training.linear.loss",
        _ => "training.linear",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::Dataset;
    use crate::train::{LbfgsConfig, Optimizer};

    fn lbfgs(max_iters: u64) -> TrainConfig {
        TrainConfig::new().optimizer(Optimizer::Lbfgs(LbfgsConfig {
            max_iters,
            ..LbfgsConfig::default()
        }))
    }

    fn mixed() -> Study {
        Study::new("mixed")
            .dataset(Dataset::builtin("digits").unwrap())
            .models(&[ModelKind::Pca, ModelKind::LinearTied, ModelKind::Tied])
            .training(TrainConfig::new().epochs(5))
    }

    /// Linear kinds take the family's config and precision; PCA and the
    /// nonlinear kinds keep the study's.
    #[test]
    fn the_linear_family_trains_the_linear_kinds_only() {
        let s = mixed().linear_training(lbfgs(7), Precision::F64);
        for m in ModelKind::ALL {
            let linear = m.is_linear();
            assert_eq!(s.training_for(m).is_lbfgs(), linear, "{m:?}");
            let want = if linear {
                Precision::F64
            } else {
                Precision::F32
            };
            assert_eq!(s.precision_for(m), want, "{m:?}");
        }
        let plain = mixed();
        for m in ModelKind::ALL {
            assert_eq!(plain.training_for(m), &plain.training);
            assert_eq!(plain.precision_for(m), plain.precision);
        }
    }

    /// A bad family config is refused naming its `training.linear` key,
    /// and so is a family setting no kind of the study uses.
    #[test]
    fn bad_family_settings_name_their_key() {
        let field = |s: &Study| match s.validate() {
            Err(Error::Config { field, reason }) => (field, reason),
            other => panic!("expected a config error, got {other:?}"),
        };
        let s = mixed().linear_training(TrainConfig::new().epochs(0), Precision::F64);
        assert_eq!(field(&s).0, "training.linear.epochs");
        let s = mixed().linear_training(lbfgs(0), Precision::F64);
        let (f, reason) = field(&s);
        assert_eq!(f, "training.linear.optimizer");
        assert!(reason.starts_with("lbfgs.max_iters"), "{reason}");
        let s = mixed()
            .models(&[ModelKind::Pca, ModelKind::Tied])
            .linear_training(lbfgs(7), Precision::F64);
        assert_eq!(field(&s).0, "training.linear");
        assert!(
            mixed()
                .linear_training(lbfgs(7), Precision::F64)
                .validate()
                .is_ok()
        );
    }
}
