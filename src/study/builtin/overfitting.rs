//! Study 4: overfitting. Claim (the notes, §2 and §7): tying halves the
//! weights and so reduces overfitting when training data are scarce.
//!
//! Nonlinear tied and untied autoencoders (the preset's largest latent size
//! that fits) and PCA train on growing prefixes of the training part; the
//! gap `test_mse − train_mse` measures overfitting. Frame: the results
//! columns only.

use super::{Preset, RunOptions, base, rows, sample, sig};
use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::study::cell::train_part_size;
use crate::study::frame::Row;
use crate::study::protocol::select_tuned;
use crate::study::verdict::{compare, count_unsettled, describe, wording};
use crate::study::{ModelKind, Study};
use polars::prelude::DataFrame;

/// The study on `ds`: training sizes of the preset that the split allows
/// (at least the latent size), plus the whole training part.
pub fn study(ds: &Dataset, preset: &Preset, opts: &RunOptions) -> Result<Study> {
    let data = sample(ds, preset)?;
    let s = base("overfitting", data.clone(), preset, opts);
    let available = train_part_size(&data, s.test_fraction);
    let k = *preset.latents_for(&data)?.last().expect("non-empty");
    let mut sizes: Vec<usize> = preset
        .n_trains
        .iter()
        .copied()
        .filter(|&n| n >= k.max(2) && n < available)
        .collect();
    sizes.push(available);
    if sizes.len() < 2 {
        return Err(Error::config(
            "n_trains",
            format!(
                "none of {:?} lies between the latent size {k} and the {available} training rows of {:?}",
                preset.n_trains,
                data.name()
            ),
        ));
    }
    Ok(
        s.models(&[ModelKind::Pca, ModelKind::Tied, ModelKind::Untied])
            .latents(&[k])
            .seeds(&preset.seeds)
            .n_trains(&sizes)
            .hidden(&preset.hidden.into_iter().collect::<Vec<_>>())
            .training(preset.adam()),
    )
}

/// Runs the study.
pub fn run(ds: &Dataset, preset: &Preset, opts: &RunOptions) -> Result<DataFrame> {
    study(ds, preset, opts)?.run()
}

/// The tuned rows of `model` with `n` training rows.
fn at(rows: &[Row], model: ModelKind, n: i64) -> Vec<&Row> {
    rows.iter()
        .filter(|r| r.model == model.name() && r.n_train == n)
        .collect()
}

/// Mean train/test gap over seeds.
fn mean_gap(rows: &[&Row]) -> f64 {
    rows.iter().map(|r| r.test_mse - r.train_mse).sum::<f64>() / rows.len().max(1) as f64
}

/// Findings: per training size the mean tied and untied gaps, and the
/// paired difference with its seed interval (a direction only when the
/// interval excludes zero).
pub fn summary(df: &DataFrame) -> Result<Vec<String>> {
    let rows = select_tuned(&rows(df)?);
    let mut ns: Vec<i64> = rows.iter().map(|r| r.n_train).collect();
    ns.sort_unstable();
    ns.dedup();
    let mut out = Vec::new();
    for &n in &ns {
        let (t, u) = (
            at(&rows, ModelKind::Tied, n),
            at(&rows, ModelKind::Untied, n),
        );
        if t.is_empty() || u.is_empty() {
            continue;
        }
        let bad = count_unsettled(&[t.as_slice(), u.as_slice()].concat());
        let paired = compare(&t, &u, |r| Some(r.test_mse - r.train_mse), false)
            .map(|i| {
                format!(
                    "; tied minus untied {}: {}",
                    describe(&i, false),
                    wording(&i, "tied overfit less", "tied overfit more", bad)
                )
            })
            .unwrap_or_default();
        out.push(format!(
            "With {n} training rows the mean test-minus-train MSE gap was {} for untied and {} for tied{paired}.",
            sig(mean_gap(&u)),
            sig(mean_gap(&t)),
        ));
    }
    if out.is_empty() {
        return Err(super::missing(
            "tied and untied rows at a common training size",
        ));
    }
    Ok(out)
}
