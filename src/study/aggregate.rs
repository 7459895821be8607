//! A study's rows summarised per configuration: means over seeds with
//! their Student-t intervals, the parameter/error Pareto front, the
//! autoencoder closest to PCA and the learning-rate grid's means.
//!
//! A configuration is every setting except seed, latent size and
//! training-set size ([`ConfigKey`]); its cells differ only in seed (which
//! these functions average) and in the size a chart puts on its x axis.
//! The report draws and words these numbers; it computes none of them, so
//! a chart and a caption that quote the same mean quote the same value.

use std::collections::BTreeMap;

use super::frame::Row;
use super::model_name::ModelName;
use super::protocol::select_tuned;
use super::verdict::LEVEL;
use crate::stats::{mean, mean_interval};

/// What identifies a curve: every setting except seed, latent size and
/// training-set size.
#[derive(Debug, Clone, PartialEq, PartialOrd)]
pub struct ConfigKey {
    pub model: ModelName,
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
        |r| r.n_train == n && !r.model.is_pca(),
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

/// The learning-rate grid at the full training-set size, as its table
/// shows it: the rates tried, and per model kind and latent size the mean
/// validation MSE over seeds at each, beside how the search treated it.
#[derive(Debug, Clone, PartialEq)]
pub struct RateGrid {
    /// The training-set size the grid is read at ([`full_n_train`]).
    pub n_train: i64,
    /// Every rate tried at that size, increasing.
    pub rates: Vec<f64>,
    /// One entry per model kind and latent size that tried a rate there,
    /// ordered by model kind, then latent size.
    pub configs: Vec<RateConfig>,
    /// The smaller training-set sizes whose rows also searched rates,
    /// increasing: their choices follow the same rule.
    pub other_sizes: Vec<i64>,
}

/// One model kind and latent size of a [`RateGrid`].
#[derive(Debug, Clone, PartialEq)]
pub struct RateConfig {
    /// The `model` column.
    pub model: ModelName,
    /// The latent size.
    pub latent: i64,
    /// Per rate of [`RateGrid::rates`], in the same order: its mean, or
    /// `None` where this configuration did not try it.
    pub at: Vec<Option<RateMean>>,
}

/// The runs of one configuration at one learning rate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateMean {
    /// Mean validation MSE over the seeds run at this rate.
    pub mean: f64,
    /// How the search treated the rate.
    pub standing: RateStanding,
}

/// How the learning-rate search treated one rate of a configuration.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum RateStanding {
    /// The rate [`select_tuned`] chose, which every other section reports.
    Chosen,
    /// Run on as many seeds as the configuration's best-covered rate, and
    /// not chosen.
    Compared,
    /// A probe: run on fewer seeds than the best-covered rate, so not a
    /// candidate (a mean over fewer seeds is not comparable).
    Probe {
        /// The seeds it ran on.
        seeds: usize,
        /// The chosen rate's mean over those seeds, what the probe lost
        /// to; `None` without a choice or its runs on those seeds.
        choice: Option<f64>,
    },
}

/// The learning-rate grid of `rows` at the full training-set size; `None`
/// when fewer than two rates were tried there. Configurations are told
/// apart by model kind and latent size.
pub fn rate_grid(rows: &[Row]) -> Option<RateGrid> {
    let n = full_n_train(rows);
    let mut rates: Vec<f64> = rows
        .iter()
        .filter(|r| r.n_train == n)
        .filter_map(|r| r.learning_rate)
        .collect();
    rates.sort_by(f64::total_cmp);
    rates.dedup();
    if rates.len() < 2 {
        return None;
    }
    let tuned = select_tuned(rows);
    let mut keys: Vec<(ModelName, i64)> = rows
        .iter()
        .filter(|r| r.n_train == n && r.learning_rate.is_some())
        .map(|r| (r.model.clone(), r.latent))
        .collect();
    keys.sort();
    keys.dedup();
    let configs = keys
        .into_iter()
        .map(|(model, latent)| {
            let here = |r: &Row| r.n_train == n && r.model == model && r.latent == latent;
            let chosen = tuned
                .iter()
                .find(|&r| here(r))
                .and_then(|r| r.learning_rate);
            let runs: Vec<&Row> = rows.iter().filter(|&r| here(r)).collect();
            let at = rate_means(&runs, &rates, chosen);
            RateConfig { model, latent, at }
        })
        .collect();
    let mut other_sizes: Vec<i64> = rows
        .iter()
        .filter(|r| r.n_train != n && r.learning_rate.is_some())
        .map(|r| r.n_train)
        .collect();
    other_sizes.sort_unstable();
    other_sizes.dedup();
    Some(RateGrid {
        n_train: n,
        rates,
        configs,
        other_sizes,
    })
}

/// Per rate of `rates`, the mean validation MSE of `runs` (one
/// configuration's rows) at that rate and its standing against `chosen`;
/// `None` for a rate without runs.
fn rate_means(runs: &[&Row], rates: &[f64], chosen: Option<f64>) -> Vec<Option<RateMean>> {
    let at = |lr: f64| {
        runs.iter()
            .copied()
            .filter(|r| r.learning_rate == Some(lr))
            .collect::<Vec<&Row>>()
    };
    let seeds_at = |lr: f64| {
        let mut s: Vec<i64> = at(lr).iter().map(|r| r.seed).collect();
        s.sort_unstable();
        s.dedup();
        s
    };
    let full = rates
        .iter()
        .map(|&lr| seeds_at(lr).len())
        .max()
        .unwrap_or(0);
    rates
        .iter()
        .map(|&lr| -> Option<RateMean> {
            let values: Vec<f64> = at(lr).iter().map(|r| r.val_mse).collect();
            let average = mean(&values)?;
            let seeds = seeds_at(lr);
            let standing = if chosen == Some(lr) {
                RateStanding::Chosen
            } else if seeds.len() < full {
                let choice: Vec<f64> = chosen
                    .map(|c| {
                        at(c)
                            .iter()
                            .filter(|r| seeds.contains(&r.seed))
                            .map(|r| r.val_mse)
                            .collect()
                    })
                    .unwrap_or_default();
                RateStanding::Probe {
                    seeds: seeds.len(),
                    choice: mean(&choice),
                }
            } else {
                RateStanding::Compared
            };
            Some(RateMean {
                mean: average,
                standing,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(model: &str, activation: &str, latent: i64, seed: i64, test_mse: f64) -> Row {
        Row {
            activation: activation.into(),
            bias_mode: "separate".into(),
            val_mse: 0.0,
            ..Row::example(model, latent, seed, test_mse)
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

    /// A rate run on fewer seeds than the others is a probe, shown with
    /// the choice's mean over the probe's own seeds (hand-computed here:
    /// seeds 0 and 1 of the chosen rate, (0.010 + 0.012) / 2).
    #[test]
    fn rate_grid_marks_the_choice_and_the_probes() {
        let cell = |lr: f64, n: i64, seed: i64, val: f64| Row {
            learning_rate: Some(lr),
            val_mse: val,
            n_train: n,
            ..row("tied", "sigmoid", 4, seed, 0.02)
        };
        let mut rows = Vec::new();
        for seed in 0..4 {
            rows.push(cell(
                1e-3,
                100,
                seed,
                [0.010, 0.012, 0.020, 0.022][seed as usize],
            ));
            rows.push(cell(3e-3, 100, seed, 0.030));
            rows.push(cell(1e-5, 10, seed, 0.05));
        }
        for seed in 0..2 {
            rows.push(cell(3e-4, 100, seed, 0.0125));
        }
        let grid = rate_grid(&rows).expect("three rates at n = 100");
        assert_eq!(grid.n_train, 100);
        assert_eq!(grid.rates, [3e-4, 1e-3, 3e-3]);
        assert_eq!(grid.other_sizes, [10]);
        assert_eq!(grid.configs.len(), 1);
        let at = &grid.configs[0].at;
        let probe = at[0].expect("the probe ran");
        assert!((probe.mean - 0.0125).abs() < 1e-15);
        let RateStanding::Probe { seeds, choice } = probe.standing else {
            panic!("{probe:?} is not a probe");
        };
        assert_eq!(seeds, 2);
        assert!((choice.expect("the choice ran on seeds 0, 1") - 0.011).abs() < 1e-15);
        let chosen = at[1].expect("the choice ran");
        assert_eq!(chosen.standing, RateStanding::Chosen);
        assert!((chosen.mean - 0.016).abs() < 1e-15);
        assert_eq!(at[2].map(|m| m.standing), Some(RateStanding::Compared));
        // One rate at the full size is no grid.
        let one: Vec<Row> = rows
            .into_iter()
            .filter(|r| r.learning_rate == Some(1e-3))
            .collect();
        assert!(rate_grid(&one).is_none());
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
