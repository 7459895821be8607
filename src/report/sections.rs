//! Report sections drawn from the study's results frame: error against
//! latent size, the parameter/error Pareto front, overfitting against
//! training-set size, principal angles and the parameter-count table.
//!
//! Each builder returns `Ok(None)` when the results hold nothing for it (a
//! study without a training-set sweep has no overfitting chart), so a page
//! never shows an empty chart. Captions state what to look at and quote the
//! numbers behind it, taken from the rows' aggregates
//! ([`crate::study::aggregate`]), never written in advance.

use crate::error::Result;
use crate::report::charts::{
    BarChart, BarGroup, ForestChart, ForestRow, LineChart, ParetoChart, ParetoGroup, ParetoPoint,
    Series, Svg, bar_chart, forest_chart, line_chart, pareto_chart,
};
use crate::report::grouping::labels;
use crate::report::input::{Panel, Section};
use crate::report::number::{MISSING, format_or_missing, percent_range};
use crate::report::table::Table;
use crate::study::aggregate::{
    self, ConfigKey, MeanPoint, RateGrid, RateMean, RateStanding, full_n_train, interval_by,
    mean_by, pareto_front, rate_grid,
};
use crate::study::verdict::{Verdict, mean_text};
use crate::study::{ModelKind, ModelName, Protocol, Row};

/// Id of the verdict section, which the page shows above everything else.
pub const VERDICT_ID: &str = "verdict";

/// The verdict block: the notes' questions answered from the rows, each
/// as a forest plot of its per-size effects beside one short sentence,
/// with the full account folded under it and a link to the chart the
/// answer rests on (when that chart is among `on_page`, the ids of the
/// page's sections). The rule behind every number is stated once, in the
/// caption ([`crate::study::verdict::rules_text`]). `protocol`, when known,
/// lets the overfitting question say how many training rows fit and how
/// many validate.
pub fn verdict(
    rows: &[Row],
    on_page: &[&str],
    protocol: Option<&Protocol>,
) -> Result<Option<Section>> {
    let answers = crate::study::verdict::verdict_with(rows, protocol);
    if answers.is_empty() {
        return Ok(None);
    }
    let panels = answers
        .iter()
        .map(|v| -> Result<Panel> {
            Ok(Panel {
                title: v.question.to_string(),
                answer: v.answer.word().to_string(),
                chart: forest(v)?,
                sentence: v.summary.clone(),
                detail: v.detail.clone(),
                link: on_page.contains(&v.section).then(|| v.section.to_string()),
            })
        })
        .collect::<Result<Vec<Panel>>>()?;
    Ok(Some(Section::with_panels(
        VERDICT_ID,
        "Verdict: when does tying help on this data?",
        crate::study::verdict::rules_text(&answers),
        panels,
    )))
}

/// The forest plot of a verdict's primary statements, one row per size:
/// `None` for a question answered without intervals.
fn forest(v: &Verdict) -> Result<Option<Svg>> {
    use crate::study::verdict::{effect_note, size_label};
    let main: Vec<_> = v.effects.iter().filter(|e| e.primary).collect();
    let Some(first) = main.first() else {
        return Ok(None);
    };
    let unit = if first.percent {
        "tied against untied, geometric-mean %"
    } else {
        "tied minus untied"
    };
    let reference = if main.iter().any(|e| e.reference.is_some()) {
        "; ring: PCA's own change"
    } else {
        ""
    };
    let band = if first.band.is_some() {
        "; shaded: the equivalence band"
    } else {
        ""
    };
    let chart = ForestChart {
        title: v.question.to_string(),
        x_label: format!(
            "{}, {unit} (dot and 95% interval{band}{reference})",
            first.measure
        ),
        rows: main
            .iter()
            .map(|e| ForestRow {
                label: size_label(e),
                estimate: e.effect.estimate,
                interval: (e.effect.lo, e.effect.hi),
                reference: e.reference.map(|r| r.estimate),
                note: effect_note(e),
            })
            .collect(),
        band: first.band,
    };
    forest_chart(&chart).map(Some)
}

/// Id of the learning-rate sensitivity table.
pub const LEARNING_RATES_ID: &str = "learning-rates";

/// The learning-rate grid's results: per trained kind and latent size (at
/// the full training set), the mean validation MSE over seeds at each rate
/// tried there, the chosen rate marked, and beside a probe the choice's
/// mean over the probe's seeds (the comparison that decided it), all from
/// [`rate_grid`]. `None` when the rows hold no grid.
pub fn learning_rates(rows: &[Row]) -> Result<Option<Section>> {
    let Some(grid) = rate_grid(rows) else {
        return Ok(None);
    };
    let mut header = vec!["model".to_string(), "latent".to_string()];
    header.extend(grid.rates.iter().map(|r| format!("val MSE at lr {r}")));
    let cells = grid
        .configs
        .iter()
        .map(|c| {
            let mut line = vec![c.model.to_string(), c.latent.to_string()];
            line.extend(c.at.iter().map(|m| rate_cell(m.as_ref())));
            line
        })
        .collect();
    Ok(Some(Section::with_table(
        LEARNING_RATES_ID,
        "Learning-rate sensitivity",
        rates_caption(&grid, rows),
        Table::new(header, cells)?,
    )))
}

/// One cell of the learning-rate table: the mean, marked when it is the
/// choice or a probe; [`MISSING`] for a rate the configuration did not try.
fn rate_cell(at: Option<&RateMean>) -> String {
    let Some(at) = at else {
        return MISSING.to_string();
    };
    let mark = match at.standing {
        RateStanding::Chosen => " (chosen)".to_string(),
        // The choice over the probe's seeds: what the probe lost to, where
        // the means over all seeds may differ.
        RateStanding::Probe {
            seeds,
            choice: Some(choice),
        } => format!(
            " (probe, {seeds} seeds; choice {} on them)",
            format_or_missing(choice)
        ),
        RateStanding::Probe {
            seeds,
            choice: None,
        } => format!(" (probe, {seeds} seeds)"),
        RateStanding::Compared => String::new(),
    };
    format!("{}{mark}", format_or_missing(at.mean))
}

/// The learning-rate table's caption: how the rates were searched, which
/// smaller training sets searched by the same rule, and which choices sit
/// at a hard bound of the search ([`crate::study::rate_brackets`]).
fn rates_caption(grid: &RateGrid, rows: &[Row]) -> String {
    let n = grid.n_train;
    let bound: Vec<String> = crate::study::rate_brackets(rows)
        .iter()
        .filter(|b| b.at_hard_bound())
        .map(|b| {
            format!(
                "{} at k = {}, n = {} (lr {})",
                b.row.model, b.row.latent, b.row.n_train, b.chosen
            )
        })
        .collect();
    let other_note = if grid.other_sizes.is_empty() {
        String::new()
    } else {
        format!(
            " The smaller training sets (n = {}) chose their rates by the same rule; their rows \
             are in the results.",
            grid.other_sizes
                .iter()
                .map(i64::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    let bound_note = if bound.is_empty() {
        String::new()
    } else {
        format!(
            " Still at a hard bound of the search ({} or {}), so not known to be the optimum: {}.",
            crate::study::MIN_LEARNING_RATE,
            crate::study::MAX_LEARNING_RATE,
            bound.join("; ")
        )
    };
    format!(
        "Mean validation MSE over seeds at each rate tried ({n} training rows). Every \
         kind searched by the same rule with the same budget; the chosen rate (lowest mean \
         validation MSE) is the one every other section reports. A row without a value at \
         some rate did not try it: a full run extends each configuration's rates half a \
         decade at a time beyond the edge its choice sits on, until the choice is interior \
         or at a hard bound. A new rate runs first on half the seeds, rounded up (a probe), \
         and on the others only if its mean there is no worse than the choice's on the same \
         seeds; a probe that lost shows its mean over its seeds beside the choice's mean over \
         those seeds, and is not a candidate, so its mean may be below the choice's mean over \
         every seed.{other_note}{bound_note}"
    )
}

/// Section ids of this module, in page order.
pub const MSE_VS_LATENT_ID: &str = "mse-vs-latent";
pub const PARETO_ID: &str = "mse-vs-params";
pub const OVERFITTING_ID: &str = "overfitting";
pub const ANGLES_ID: &str = "principal-angles";
pub const PARAMS_ID: &str = "parameter-counts";

/// Test MSE against latent size, one curve per configuration (seeds
/// averaged), at the full training-set size.
pub fn mse_vs_latent(rows: &[Row], dataset: &str) -> Result<Option<Section>> {
    let n = full_n_train(rows);
    let curves = interval_by(rows, |r| r.n_train == n, |r| r.latent, |r| Some(r.test_mse));
    if curves.is_empty() {
        return Ok(None);
    }
    let keys: Vec<ConfigKey> = curves.iter().map(|(k, _)| k.clone()).collect();
    let names = labels(&keys);
    let log_y = curves.iter().all(|(_, p)| {
        p.iter()
            .all(|&(_, y, ci)| y > 0.0 && ci.is_none_or(|c| c.0 > 0.0))
    });
    let series = curves
        .iter()
        .zip(&names)
        .map(|((key, points), name)| {
            let s = Series::new(
                name.clone(),
                points.iter().map(|&(k, y, _)| (k as f64, y)).collect(),
            );
            let s = with_bars(s, points);
            if key.model.is_pca() {
                s.with_color(0)
            } else {
                s
            }
        })
        .collect();
    let chart = line_chart(&LineChart {
        title: format!("Test reconstruction error vs latent size ({dataset})"),
        x_label: "latent size k".into(),
        y_label: "test MSE".into(),
        log_x: true,
        log_y,
        series,
    })?;
    let caption = format!(
        "Means over seeds with 95% intervals (error bars) of the tuned cells. Compare each curve \
         with PCA's: by Eckart–Young no linear model with k units can reconstruct the training \
         data better, so linear curves should lie on or above it, and only nonlinear models can \
         dip below. {}",
        best_against_pca(rows, n)
    );
    Ok(Some(Section::with_chart(
        MSE_VS_LATENT_ID,
        "Reconstruction error vs latent size",
        caption,
        chart,
    )))
}

/// `series` with error bars from `points`' intervals, when every point
/// has one (a single seed has none, and a partial set would mislead).
fn with_bars(series: Series, points: &[MeanPoint]) -> Series {
    match points.iter().map(|p| p.2).collect::<Option<Vec<_>>>() {
        Some(bars) if !bars.is_empty() => series.with_intervals(bars),
        _ => series,
    }
}

/// One sentence per latent size extreme: the best non-PCA model relative to
/// PCA at the smallest and largest k ([`aggregate::best_against_pca`]).
fn best_against_pca(rows: &[Row], n: i64) -> String {
    let (configs, best) = aggregate::best_against_pca(rows, n);
    let names = labels(&configs);
    best.iter()
        .filter_map(|b| {
            let name = names.get(b.config)?;
            Some(format!(
                "At k = {} the best autoencoder, {name}, reached {}× PCA's test MSE.",
                b.latent,
                format_or_missing(b.ratio)
            ))
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Test MSE against parameter count, every configuration and latent size
/// (seeds averaged), with the Pareto front marked.
pub fn mse_vs_params(rows: &[Row], dataset: &str) -> Result<Option<Section>> {
    let n = full_n_train(rows);
    let bars = interval_by(rows, |r| r.n_train == n, |r| r.latent, |r| Some(r.test_mse));
    let errors: Vec<(ConfigKey, Vec<(i64, f64)>)> = bars
        .iter()
        .map(|(k, p)| (k.clone(), p.iter().map(|&(x, y, _)| (x, y)).collect()))
        .collect();
    let params = mean_by(
        rows,
        |r| r.n_train == n,
        |r| r.latent,
        |r| Some(r.params as f64),
    );
    if errors.is_empty() {
        return Ok(None);
    }
    let all: Vec<(f64, f64)> = errors
        .iter()
        .zip(&params)
        .flat_map(|((_, e), (_, p))| p.iter().zip(e).map(|(&(_, x), &(_, y))| (x, y)))
        .collect();
    let front = pareto_front(&all);
    let keys: Vec<ConfigKey> = errors.iter().map(|(k, _)| k.clone()).collect();
    let names = labels(&keys);
    let mut at = 0;
    let mut groups = Vec::new();
    let mut on_front_names = Vec::new();
    for ((((_, e), (_, p)), name), (_, b)) in errors.iter().zip(&params).zip(&names).zip(&bars) {
        let mut points = Vec::new();
        for ((&(_, x), &(_, y)), &(_, _, ci)) in p.iter().zip(e).zip(b) {
            if front[at] && !on_front_names.contains(name) {
                on_front_names.push(name.clone());
            }
            points.push(ParetoPoint {
                x,
                y,
                on_front: front[at],
                y_interval: ci,
            });
            at += 1;
        }
        groups.push(ParetoGroup {
            name: name.clone(),
            points,
        });
    }
    let chart = pareto_chart(&ParetoChart {
        title: format!("Test error vs parameter count ({dataset})"),
        x_label: "parameters".into(),
        y_label: "test MSE".into(),
        log_x: all.iter().all(|&(x, _)| x > 0.0),
        log_y: all.iter().all(|&(_, y)| y > 0.0)
            && bars
                .iter()
                .all(|(_, p)| p.iter().all(|&(_, _, ci)| ci.is_none_or(|c| c.0 > 0.0))),
        groups,
    })?;
    let tied_on_front = keys
        .iter()
        .zip(&names)
        .any(|(key, name)| key.model.is_tied() && on_front_names.contains(name));
    let shares = tied_shares(&params, &names);
    let share_text = if tied_on_front && !shares.is_empty() {
        format!(
            " A tied model shares its weight matrix, not its biases, so its parameters are a \
             share of its untied twin's that depends on k: {}.",
            shares.join("; ")
        )
    } else {
        String::new()
    };
    let caption = format!(
        "Each point is one model at one latent size (mean over seeds of the tuned cells, with its \
         95% interval); the ringed points joined by the black line \
         are the Pareto front, where no other model is both smaller and more accurate. Models on \
         the front: {}.{share_text}",
        on_front_names.join(", ")
    );
    Ok(Some(Section::with_chart(
        PARETO_ID,
        "Error vs parameter count",
        caption,
        chart,
    )))
}

/// Train and test MSE against training-set size for the models of the
/// training-set sweep (tied and untied), at the latent size of that sweep.
pub fn overfitting(rows: &[Row], dataset: &str) -> Result<Option<Section>> {
    let n = full_n_train(rows);
    // The sweep's latent size: the one most rows below the full size use.
    let mut counts = std::collections::BTreeMap::new();
    for r in rows.iter().filter(|r| r.n_train < n) {
        *counts.entry(r.latent).or_insert(0usize) += 1;
    }
    let Some((&k, _)) = counts.iter().max_by_key(|&(_, c)| *c) else {
        return Ok(None);
    };
    let swept = |r: &Row| r.latent == k && !r.model.is_pca();
    let train = mean_by(rows, swept, |r| r.n_train, |r| Some(r.train_mse));
    let test = mean_by(rows, swept, |r| r.n_train, |r| Some(r.test_mse));
    // Only configurations measured at more than one size draw a curve.
    let multi: Vec<usize> = (0..train.len()).filter(|&i| train[i].1.len() > 1).collect();
    if multi.is_empty() {
        return Ok(None);
    }
    let keys: Vec<ConfigKey> = multi.iter().map(|&i| train[i].0.clone()).collect();
    let names = labels(&keys);
    let mut series = Vec::new();
    let mut gaps = Vec::new();
    for (c, (&i, name)) in multi.iter().zip(&names).enumerate() {
        let to_xy = |p: &[(i64, f64)]| p.iter().map(|&(x, y)| (x as f64, y)).collect();
        series.push(Series::new(format!("{name} test"), to_xy(&test[i].1)).with_color(c));
        series.push(
            Series::new(format!("{name} train"), to_xy(&train[i].1))
                .with_color(c)
                .dashed(),
        );
        if let Some(&(n0, _)) = train[i].1.first() {
            // Per seed, so the mean is stated as its interval allows.
            let key = &train[i].0;
            let gap: Vec<f64> = rows
                .iter()
                .filter(|&r| swept(r) && r.n_train == n0 && ConfigKey::of(r) == *key)
                .map(|r| r.test_mse - r.train_mse)
                .collect();
            gaps.push((name.clone(), n0, mean_text(&gap)));
        }
    }
    let positive = series
        .iter()
        .all(|s| s.points.iter().all(|&(_, y)| y > 0.0));
    let chart = line_chart(&LineChart {
        title: format!("Overfitting: error vs training-set size, k = {k} ({dataset})"),
        x_label: "training samples".into(),
        y_label: "MSE".into(),
        log_x: true,
        log_y: positive,
        series,
    })?;
    let gap_text = gaps
        .iter()
        .map(|(name, _, gap)| format!("{name} {gap}"))
        .collect::<Vec<_>>()
        .join(", ");
    let smallest = gaps.first().map_or(0, |g| g.1);
    let caption = format!(
        "Dashed lines are training error, solid lines test error, in one colour per model. The \
         gap between them is overfitting; it should shrink as the training set grows. Test minus \
         train MSE at the smallest training set ({smallest} training rows, k = {k}; mean over \
         seeds): {gap_text}."
    );
    Ok(Some(Section::with_chart(
        OVERFITTING_ID,
        "Overfitting vs training-set size",
        caption,
        chart,
    )))
}

/// Largest principal angle between each model's decoder row space and the
/// PCA subspace of the same size, per latent size.
pub fn principal_angles(rows: &[Row], dataset: &str) -> Result<Option<Section>> {
    let n = full_n_train(rows);
    let angles = mean_by(
        rows,
        |r| r.n_train == n && !r.model.is_pca(),
        |r| r.latent,
        |r| r.max_angle_deg,
    );
    if angles.is_empty() {
        return Ok(None);
    }
    // Categories every configuration was measured at, so no bar is invented.
    let mut ks: Vec<i64> = angles[0].1.iter().map(|&(k, _)| k).collect();
    ks.retain(|k| {
        angles
            .iter()
            .all(|(_, p)| p.iter().any(|&(kk, _)| kk == *k))
    });
    if ks.is_empty() {
        return Ok(None);
    }
    let keys: Vec<ConfigKey> = angles.iter().map(|(k, _)| k.clone()).collect();
    let names = labels(&keys);
    let groups: Vec<BarGroup> = angles
        .iter()
        .zip(&names)
        .map(|((_, p), name)| BarGroup {
            name: name.clone(),
            values: ks
                .iter()
                .filter_map(|k| p.iter().find(|&&(kk, _)| kk == *k).map(|&(_, a)| a))
                .collect(),
        })
        .collect();
    let smallest = angles
        .iter()
        .zip(&names)
        .map(|((_, p), name)| (p.iter().map(|&(_, a)| a).fold(0.0, f64::max), name))
        .min_by(|a, b| a.0.total_cmp(&b.0));
    let chart = bar_chart(&BarChart {
        title: format!("Largest principal angle to the PCA subspace ({dataset})"),
        x_label: "latent size k".into(),
        y_label: "degrees".into(),
        categories: ks.iter().map(|k| format!("k = {k}")).collect(),
        groups,
    })?;
    let caption = format!(
        "0° means the model's decoder spans exactly PCA's top-k subspace (Baldi & Hornik: a \
         well-trained linear autoencoder does); 90° means some learned direction is orthogonal \
         to it. Nonlinear models need not align. Closest overall: {}, at most {}°.",
        smallest.map_or(MISSING.to_string(), |s| s.1.clone()),
        smallest.map_or(MISSING.to_string(), |s| format_or_missing(s.0))
    );
    Ok(Some(Section::with_chart(
        ANGLES_ID,
        "Principal angles to the PCA subspace",
        caption,
        chart,
    )))
}

/// Parameter count of every configuration at every latent size; cells are
/// the exact integers of the results' `params` column.
pub fn parameter_table(rows: &[Row]) -> Result<Option<Section>> {
    let n = full_n_train(rows);
    let params = mean_by(
        rows,
        |r| r.n_train == n,
        |r| r.latent,
        |r| Some(r.params as f64),
    );
    if params.is_empty() {
        return Ok(None);
    }
    let mut ks: Vec<i64> = params
        .iter()
        .flat_map(|(_, p)| p.iter().map(|&(k, _)| k))
        .collect();
    ks.sort_unstable();
    ks.dedup();
    let keys: Vec<ConfigKey> = params.iter().map(|(k, _)| k.clone()).collect();
    let names = labels(&keys);
    let mut header = vec!["model".to_string()];
    header.extend(ks.iter().map(|k| format!("k = {k}")));
    let table_rows = params
        .iter()
        .zip(&names)
        .map(|((_, p), name)| {
            let mut row = vec![name.clone()];
            row.extend(ks.iter().map(|k| {
                p.iter()
                    .find(|&&(kk, _)| kk == *k)
                    .map_or(MISSING.to_string(), |&(_, v)| {
                        format!("{}", v.round() as i64)
                    })
            }));
            row
        })
        .collect();
    let table = Table::new(header, table_rows)?;
    let shares = tied_shares(&params, &names);
    let share_text = if shares.is_empty() {
        String::new()
    } else {
        format!(
            " The biases are not shared and weigh more at small k, so the share is a range over \
             the latent sizes: {}.",
            shares.join("; ")
        )
    };
    let caption = format!(
        "Weights and biases of each model. A tied layer stores one r × d matrix where an untied \
         pair stores two, so tying about halves the weights.{share_text}"
    );
    Ok(Some(Section::with_table(
        PARAMS_ID,
        "Parameter counts",
        caption,
        table,
    )))
}

/// The untied twin of a tied model kind: the same architecture with
/// separate encoder and decoder weights (`None` for a kind without one).
fn untied_twin(model: &ModelName) -> Option<ModelKind> {
    [
        (ModelKind::LinearTied, ModelKind::LinearUntied),
        (ModelKind::Tied, ModelKind::Untied),
        (ModelKind::ConvTied, ModelKind::ConvUntied),
    ]
    .into_iter()
    .find(|&(tied, _)| *model == tied)
    .map(|(_, untied)| untied)
}

/// Per tied configuration of `params` (parameters per latent size) whose
/// untied twin is there too (the same activation, bias mode, L2 and
/// sparsity weight), the tied share of the twin's parameters over the
/// latent sizes both were measured at, named as `names` names them:
/// `tied (relu) has 51.15% to 66.84% of untied (relu)'s parameters`. A
/// range, not one ratio: the biases, which tying does not share, weigh
/// more at small k.
fn tied_shares(params: &[(ConfigKey, Vec<(i64, f64)>)], names: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    for ((key, tied), name) in params.iter().zip(names) {
        let Some(twin) = untied_twin(&key.model) else {
            continue;
        };
        let Some(((_, untied), twin_name)) = params.iter().zip(names).find(|((k, _), _)| {
            k.model == twin
                && k.activation == key.activation
                && k.bias_mode == key.bias_mode
                && k.l2 == key.l2
                && k.sparsity_weight == key.sparsity_weight
        }) else {
            continue;
        };
        let shares: Vec<f64> = tied
            .iter()
            .filter_map(|&(k, t)| {
                untied
                    .iter()
                    .find(|&&(kk, u)| kk == k && u > 0.0)
                    .map(|&(_, u)| t / u)
            })
            .collect();
        let Some(range) = percent_range(&shares) else {
            continue;
        };
        out.push(format!("{name} has {range} of {twin_name}'s parameters"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(model: &str, latent: i64, n_train: i64, seed: i64, test: f64) -> Row {
        Row {
            dataset: "t".into(),
            model: model.into(),
            activation: if model.starts_with("linear") || model == "pca" {
                "identity".into()
            } else {
                "sigmoid".into()
            },
            bias_mode: "separate".into(),
            latent,
            params: latent * 64 * if model == "untied" { 2 } else { 1 },
            n_train,
            seed,
            l2: 0.0,
            sparsity_weight: 0.0,
            train_mse: test * 0.8,
            test_mse: test,
            pca_test_mse: 0.1 / latent as f64,
            ratio_to_pca: test * latent as f64 / 0.1,
            epochs: 10,
            seconds: 0.5,
            max_angle_deg: if model == "pca" {
                None
            } else {
                Some(10.0 / latent as f64)
            },
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

    fn rows() -> Vec<Row> {
        let mut rows = Vec::new();
        for k in [2, 4, 8] {
            rows.push(row("pca", k, 100, 0, 0.1 / k as f64));
            for s in 0..2 {
                rows.push(row("tied", k, 100, s, 0.11 / k as f64 + s as f64 * 0.001));
                rows.push(row("untied", k, 100, s, 0.105 / k as f64));
            }
        }
        for n in [10, 30] {
            rows.push(row("tied", 4, n, 0, 0.05));
            rows.push(row("untied", 4, n, 0, 0.08));
        }
        rows
    }

    #[test]
    fn every_frame_section_is_drawn_from_rows() {
        let rows = rows();
        for section in [
            mse_vs_latent(&rows, "t").unwrap(),
            mse_vs_params(&rows, "t").unwrap(),
            overfitting(&rows, "t").unwrap(),
            principal_angles(&rows, "t").unwrap(),
            parameter_table(&rows).unwrap(),
        ] {
            let section = section.expect("section present");
            assert!(!section.caption.contains("NaN"), "{}", section.caption);
        }
        let table = parameter_table(&rows).unwrap().unwrap().table.unwrap();
        assert_eq!(table.header(), ["model", "k = 2", "k = 4", "k = 8"]);
        assert_eq!(table.rows()[2], ["untied (sigmoid)", "256", "512", "1024"]);
    }

    #[test]
    fn seeds_are_averaged_in_captions() {
        let rows = rows();
        let caption = mse_vs_latent(&rows, "t").unwrap().unwrap().caption;
        // untied at k = 2: 0.0525 / 0.05 = 1.05 beats tied's mean ratio.
        assert!(
            caption.contains("untied (sigmoid), reached 1.050×"),
            "{caption}"
        );
    }

    /// Tied's share of untied's parameters is stated as its range over the
    /// latent sizes, named by model, wherever a caption states it: with
    /// biases it is not one half (129 of 193 at k = 1, 584 of 1096 at 8).
    #[test]
    fn parameter_shares_are_ranges_named_by_model() {
        let mut rows = Vec::new();
        for k in [1, 2, 4, 8] {
            for (model, weights, mse) in [("tied", 64, 0.05), ("untied", 128, 0.1)] {
                rows.push(Row {
                    params: weights * k + k + 64,
                    ..row(model, k, 100, 0, mse / k as f64)
                });
            }
        }
        let share = "tied (sigmoid) has 53.28% to 66.84% of untied (sigmoid)'s parameters";
        let table = parameter_table(&rows).unwrap().unwrap().caption;
        assert!(table.contains(share), "{table}");
        // Tied is on the front here: its caption states the same range.
        let front = mse_vs_params(&rows, "t").unwrap().unwrap().caption;
        assert!(front.contains(share), "{front}");
        for caption in [table, front] {
            assert!(!caption.contains("half an untied"), "{caption}");
            assert!(!caption.contains("half the parameters"), "{caption}");
        }
    }

    /// The learning-rate table shows the rates tried at the full training
    /// set, beside a probe the choice's mean over the probe's seeds (what
    /// the probe lost to, though its own mean is below the choice's over
    /// every seed), and names the smaller training sets searched by the
    /// same rule.
    #[test]
    fn a_probe_shows_the_choice_over_its_seeds() {
        let cell = |lr: f64, n: i64, seed: i64, val: f64| Row {
            learning_rate: Some(lr),
            val_mse: val,
            ..row("tied", 4, n, seed, 0.02)
        };
        let mut rows = Vec::new();
        for seed in 0..4 {
            let choice = [0.010, 0.012, 0.020, 0.022][seed as usize];
            rows.push(cell(1e-3, 100, seed, choice));
            rows.push(cell(3e-3, 100, seed, 0.030));
            rows.push(cell(1e-5, 10, seed, 0.05));
            rows.push(cell(3e-5, 10, seed, 0.04));
        }
        for seed in 0..2 {
            rows.push(cell(3e-4, 100, seed, 0.0125));
        }
        let section = learning_rates(&rows).unwrap().unwrap();
        let caption = section.caption;
        let table = section.table.unwrap();
        assert_eq!(
            table.header(),
            [
                "model",
                "latent",
                "val MSE at lr 0.0003",
                "val MSE at lr 0.001",
                "val MSE at lr 0.003"
            ]
        );
        assert_eq!(
            table.rows()[0][2],
            "0.01250 (probe, 2 seeds; choice 0.01100 on them)"
        );
        assert_eq!(table.rows()[0][3], "0.01600 (chosen)");
        assert!(caption.contains("half the seeds, rounded up"), "{caption}");
        assert!(caption.contains("(n = 10)"), "{caption}");
    }

    /// The overfitting caption names the training rows and the latent size
    /// its gaps are at, as the verdict's overfitting question does.
    #[test]
    fn the_overfitting_caption_names_rows_and_latent_size() {
        let caption = overfitting(&rows(), "t").unwrap().unwrap().caption;
        assert!(
            caption.contains("smallest training set (10 training rows, k = 4;"),
            "{caption}"
        );
    }

    #[test]
    fn no_sweep_means_no_overfitting_section() {
        let rows: Vec<Row> = rows().into_iter().filter(|r| r.n_train == 100).collect();
        assert!(overfitting(&rows, "t").unwrap().is_none());
    }
}
