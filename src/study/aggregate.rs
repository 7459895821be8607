//! A study's rows summarised per configuration: means over seeds with
//! their Student-t intervals, the parameter/error Pareto front and the
//! autoencoder closest to PCA.
//!
//! A configuration is every setting except seed, latent size and
//! training-set size ([`ConfigKey`]); its cells differ only in seed (which
//! these functions average) and in the size a chart puts on its x axis.
//! The report draws and words these numbers; it computes none of them, so
//! a chart and a caption that quote the same mean quote the same value.

use std::collections::BTreeMap;

use super::frame::Row;
use super::spec::ModelKind;
use super::verdict::LEVEL;
use crate::stats::{mean, mean_interval};

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

/// The largest training-set size in the results (0 for none): the main
/// comparison runs there; smaller sizes belong to the overfitting sweep.
pub fn full_n_train(rows: &[Row]) -> i64 {
    rows.iter().map(|r| r.n_train).max().unwrap_or(0)
}

/// Per configuration and x value, the values of `value` (one per seed),
/// for the rows `keep` accepts. Configurations come out in first-seen
/// order, x in increasing order; rows where `value` is `None` are skipped,
/// so every list holds at least one value.
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
/// one aggregation rule of every chart and caption), grouped as described
/// on [`values_by`].
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
                .filter_map(|(x, v)| mean(&v).map(|m| (x, m)))
                .collect();
            (key, points)
        })
        .collect()
}

/// A chart point: x, the mean over seeds, and its interval at [`LEVEL`]
/// (`None` with a single seed).
pub type MeanPoint = (i64, f64, Option<(f64, f64)>);

/// [`mean_by`] with each mean's Student-t interval over seeds at
/// [`LEVEL`], widened to contain the mean it is drawn around (`None` where
/// there is a single seed, or the values do not allow one).
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
                .filter_map(|(x, v)| {
                    let m = mean(&v)?;
                    let ci = mean_interval(&v, LEVEL)
                        .ok()
                        .map(|i| (i.lo.min(m), i.hi.max(m)));
                    Some((x, m, ci))
                })
                .collect();
            (key, points)
        })
        .collect()
}

/// Which points no other point beats on both axes (lower is better on
/// both): the Pareto front, one flag per point of `points`.
pub fn pareto_front(points: &[(f64, f64)]) -> Vec<bool> {
    points
        .iter()
        .map(|&(x, y)| {
            !points
                .iter()
                .any(|&(ox, oy)| ox <= x && oy <= y && (ox < x || oy < y))
        })
        .collect()
}

/// The autoencoder configuration with the lowest mean test MSE relative to
/// PCA's at one latent size.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BestAt {
    /// The latent size.
    pub latent: i64,
    /// Index of the configuration in the list [`best_against_pca`]
    /// returns beside it.
    pub config: usize,
    /// Its mean over seeds of `ratio_to_pca`.
    pub ratio: f64,
}

/// Every autoencoder (non-PCA) configuration at `n` training rows, in
/// first-seen order, and the best of them against PCA ([`BestAt`]) at the
/// smallest and at the largest latent size (once when there is only one).
///
/// The configurations come back as one list because a legend names each
/// by what varies among them all. Ties go to the first configuration.
pub fn best_against_pca(rows: &[Row], n: i64) -> (Vec<ConfigKey>, Vec<BestAt>) {
    let ratios = mean_by(
        rows,
        |r| r.n_train == n && r.model != ModelKind::Pca.name(),
        |r| r.latent,
        |r| Some(r.ratio_to_pca),
    );
    let mut ks: Vec<i64> = ratios
        .iter()
        .flat_map(|(_, p)| p.iter().map(|&(k, _)| k))
        .collect();
    ks.sort_unstable();
    ks.dedup();
    let mut best = Vec::new();
    for k in [ks.first(), ks.last()].into_iter().flatten().copied() {
        let at = ratios
            .iter()
            .enumerate()
            .filter_map(|(i, (_, p))| p.iter().find(|&&(kk, _)| kk == k).map(|&(_, r)| (r, i)))
            .min_by(|a, b| a.0.total_cmp(&b.0));
        if let Some((ratio, config)) = at {
            best.push(BestAt {
                latent: k,
                config,
                ratio,
            });
        }
        if ks.len() == 1 {
            break;
        }
    }
    let configs = ratios.into_iter().map(|(k, _)| k).collect();
    (configs, best)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(model: &str, activation: &str, latent: i64, seed: i64, test_mse: f64) -> Row {
        Row {
            dataset: "d".into(),
            model: model.into(),
            activation: activation.into(),
            bias_mode: "separate".into(),
            latent,
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
    fn seeds_average_per_configuration_in_first_seen_order() {
        let rows = [
            row("pca", "identity", 4, 0, 0.1),
            row("tied", "sigmoid", 4, 0, 0.2),
            row("tied", "sigmoid", 4, 1, 0.4),
            row("untied", "sigmoid", 4, 0, 0.3),
            row("untied", "relu", 4, 0, 0.5),
        ];
        let means = mean_by(&rows, |_| true, |r| r.latent, |r| Some(r.test_mse));
        assert_eq!(means.len(), 4);
        assert_eq!(means[1].0.model, "tied");
        assert!((means[1].1[0].1 - 0.3).abs() < 1e-15);
        let skipped = mean_by(
            &rows,
            |r| r.model != "pca",
            |r| r.latent,
            |r| r.max_angle_deg,
        );
        assert!(skipped.is_empty());
        let bars = interval_by(&rows, |_| true, |r| r.latent, |r| Some(r.test_mse));
        assert!(bars[0].1[0].2.is_none(), "one seed has no interval");
        let (_, m, ci) = bars[1].1[0];
        let (lo, hi) = ci.expect("two seeds have an interval");
        assert!(lo < m && m < hi);
    }

    #[test]
    fn pareto_front_is_the_undominated_set() {
        let pts = [(1.0, 5.0), (2.0, 3.0), (3.0, 4.0), (4.0, 1.0), (2.0, 3.0)];
        assert_eq!(pareto_front(&pts), [true, true, false, true, true]);
    }

    #[test]
    fn best_against_pca_at_both_ends_of_the_sizes() {
        let rows = [
            row("pca", "identity", 2, 0, 0.1),
            row("tied", "sigmoid", 2, 0, 0.2),
            row("untied", "sigmoid", 2, 0, 0.3),
            row("tied", "sigmoid", 8, 0, 0.4),
            row("untied", "sigmoid", 8, 0, 0.15),
        ];
        let (configs, best) = best_against_pca(&rows, 50);
        assert_eq!(configs.len(), 2);
        assert_eq!(configs[0].model, "tied");
        assert_eq!(best.len(), 2);
        assert_eq!((best[0].latent, best[0].config), (2, 0));
        assert_eq!((best[1].latent, best[1].config), (8, 1));
        assert!((best[1].ratio - 1.5).abs() < 1e-12);
        let one: Vec<Row> = rows.iter().filter(|r| r.latent == 2).cloned().collect();
        assert_eq!(best_against_pca(&one, 50).1.len(), 1);
    }
}
