//! The study's results rows grouped the way the report's charts need them.
//!
//! The frame has one row per study cell ([`crate::study::Row`]). A chart
//! shows one curve per *configuration*: the cells that differ only in seed
//! (averaged) and latent size or training-set size (the x axis).

use crate::study::{ModelKind, Row};
use std::collections::BTreeMap;

/// What identifies a curve: every setting except seed, latent size and
/// training-set size.
#[derive(Debug, Clone, PartialEq, PartialOrd)]
pub struct ConfigKey {
    pub model: String,
    pub activation: String,
    pub bias_mode: String,
    pub l2: f64,
    pub sparsity_weight: f64,
}

impl ConfigKey {
    /// The configuration `row` belongs to.
    pub fn of(row: &Row) -> ConfigKey {
        ConfigKey {
            model: row.model.clone(),
            activation: row.activation.clone(),
            bias_mode: row.bias_mode.clone(),
            l2: row.l2,
            sparsity_weight: row.sparsity_weight,
        }
    }
}

/// Display name of a model kind from the results' `model` column.
pub fn model_name(model: &str) -> String {
    if model == ModelKind::Pca.name() {
        "PCA".to_string()
    } else {
        model.replace('_', " ")
    }
}

/// Whether a model kind has no hidden nonlinearity (its activation column
/// says nothing worth showing).
pub fn is_linear(model: &str) -> bool {
    model == ModelKind::Pca.name() || model.starts_with("linear")
}

/// Whether a model kind shares one weight between encoder and decoder.
pub fn is_tied(model: &str) -> bool {
    model.ends_with("tied") && !model.ends_with("untied")
}

/// Legend labels for configurations: the model name, plus whichever other
/// settings vary among the configurations of that model (so a study of
/// one activation does not repeat it on every curve).
pub fn labels(keys: &[ConfigKey]) -> Vec<String> {
    keys.iter()
        .map(|key| {
            let siblings: Vec<&ConfigKey> = keys.iter().filter(|k| k.model == key.model).collect();
            let varies = |f: &dyn Fn(&ConfigKey) -> String| siblings.iter().any(|k| f(k) != f(key));
            let mut label = model_name(&key.model);
            let mut extra = Vec::new();
            if !is_linear(&key.model) {
                extra.push(key.activation.clone());
            }
            if varies(&|k| k.bias_mode.clone()) {
                extra.push(format!("bias {}", key.bias_mode));
            }
            if varies(&|k| format!("{:e}", k.l2)) {
                extra.push(format!("L2 {}", crate::report::number::format_tick(key.l2)));
            }
            if varies(&|k| format!("{:e}", k.sparsity_weight)) {
                extra.push(format!(
                    "sparsity {}",
                    crate::report::number::format_tick(key.sparsity_weight)
                ));
            }
            if !extra.is_empty() {
                label.push_str(&format!(" ({})", extra.join(", ")));
            }
            label
        })
        .collect()
}

/// Per configuration and x value, the values of `value` (one per seed),
/// for the rows `keep` accepts. Configurations come out in first-seen
/// order, x in increasing order; rows where `value` is `None` are skipped.
fn values_by(
    rows: &[Row],
    keep: impl Fn(&Row) -> bool,
    x: impl Fn(&Row) -> i64,
    value: impl Fn(&Row) -> Option<f64>,
) -> Vec<(ConfigKey, BTreeMap<i64, Vec<f64>>)> {
    let mut out: Vec<(ConfigKey, BTreeMap<i64, Vec<f64>>)> = Vec::new();
    for row in rows.iter().filter(|r| keep(r)) {
        let Some(v) = value(row) else { continue };
        let key = ConfigKey::of(row);
        let i = match out.iter().position(|(k, _)| *k == key) {
            Some(i) => i,
            None => {
                out.push((key, BTreeMap::new()));
                out.len() - 1
            }
        };
        out[i].1.entry(x(row)).or_default().push(v);
    }
    out
}

/// Per configuration and x value, the mean over seeds of `value` (the
/// one aggregation rule of every chart and caption), as [`values_by`]
/// groups them.
pub fn mean_by(
    rows: &[Row],
    keep: impl Fn(&Row) -> bool,
    x: impl Fn(&Row) -> i64,
    value: impl Fn(&Row) -> Option<f64>,
) -> Vec<(ConfigKey, Vec<(i64, f64)>)> {
    values_by(rows, keep, x, value)
        .into_iter()
        .map(|(key, points)| {
            let points = points
                .into_iter()
                .map(|(x, v)| (x, v.iter().sum::<f64>() / v.len() as f64))
                .collect();
            (key, points)
        })
        .collect()
}

/// A chart point: x, the mean over seeds, and its 95% interval (`None`
/// with a single seed).
pub type MeanPoint = (i64, f64, Option<(f64, f64)>);

/// [`mean_by`] with each mean's 95% Student-t interval over seeds (`None`
/// where there is a single seed, or the values do not allow one).
pub fn interval_by(
    rows: &[Row],
    keep: impl Fn(&Row) -> bool,
    x: impl Fn(&Row) -> i64,
    value: impl Fn(&Row) -> Option<f64>,
) -> Vec<(ConfigKey, Vec<MeanPoint>)> {
    values_by(rows, keep, x, value)
        .into_iter()
        .map(|(key, points)| {
            let points = points
                .into_iter()
                .map(|(x, v)| {
                    let mean = v.iter().sum::<f64>() / v.len() as f64;
                    let ci = crate::stats::mean_interval(&v, crate::study::verdict::LEVEL)
                        .ok()
                        .map(|i| (i.lo.min(mean), i.hi.max(mean)));
                    (x, mean, ci)
                })
                .collect();
            (key, points)
        })
        .collect()
}

/// The largest training-set size in the results: the main comparison runs
/// there; smaller sizes belong to the overfitting sweep.
pub fn full_n_train(rows: &[Row]) -> i64 {
    rows.iter().map(|r| r.n_train).max().unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(model: &str, activation: &str, seed: i64, test_mse: f64) -> Row {
        Row {
            dataset: "d".into(),
            model: model.into(),
            activation: activation.into(),
            bias_mode: "separate".into(),
            latent: 4,
            params: 100,
            n_train: 50,
            seed,
            l2: 0.0,
            sparsity_weight: 0.0,
            train_mse: test_mse,
            test_mse,
            pca_test_mse: 0.1,
            ratio_to_pca: test_mse / 0.1,
            epochs: 1,
            seconds: 0.0,
            max_angle_deg: None,
            mean_angle_deg: None,
            wwt_minus_i: None,
            dead_fraction: 0.0,
            sparsity: 0.0,
            learning_rate: None,
            best_epoch: 1,
            val_mse: 0.0,
            stop_reason: "patience".into(),
            val_mse_at_budget: None,
        }
    }

    #[test]
    fn seeds_average_and_labels_name_what_varies() {
        let rows = [
            row("pca", "identity", 0, 0.1),
            row("tied", "sigmoid", 0, 0.2),
            row("tied", "sigmoid", 1, 0.4),
            row("untied", "sigmoid", 0, 0.3),
            row("untied", "relu", 0, 0.5),
        ];
        let means = mean_by(&rows, |_| true, |r| r.latent, |r| Some(r.test_mse));
        assert_eq!(means.len(), 4);
        assert_eq!(means[1].0.model, "tied");
        assert!((means[1].1[0].1 - 0.3).abs() < 1e-15);
        let keys: Vec<ConfigKey> = means.into_iter().map(|(k, _)| k).collect();
        assert_eq!(
            labels(&keys),
            ["PCA", "tied (sigmoid)", "untied (sigmoid)", "untied (relu)"]
        );
        let skipped = mean_by(
            &rows,
            |r| r.model != "pca",
            |r| r.latent,
            |r| r.max_angle_deg,
        );
        assert!(skipped.is_empty());
    }

    #[test]
    fn tied_and_linear_kinds() {
        assert!(is_tied("tied") && is_tied("linear_tied") && is_tied("conv_tied"));
        assert!(!is_tied("untied") && !is_tied("linear_untied") && !is_tied("pca"));
        assert!(is_linear("linear_untied") && !is_linear("sparse_tied"));
    }
}
