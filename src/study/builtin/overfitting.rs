//! Study 4: overfitting. Claim (the notes, §2 and §7): tying halves the
//! weights and so reduces overfitting when training data are scarce.
//!
//! Nonlinear tied and untied autoencoders (the preset's largest latent size
//! that fits) and PCA train on growing prefixes of the training part; the
//! gap `test_mse − train_mse` measures overfitting. Frame: the results
//! columns only.

use super::{Preset, RunOptions, base, rows, sample};
use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::study::cell::train_part_size;
use crate::study::frame::Row;
use crate::study::protocol::select_tuned;
use crate::study::verdict::{
    SizeEffect, compare_family, describe_effect, effect_wording, mean_text,
};
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
        .filter(|r| r.model == model && r.n_train == n)
        .collect()
}

/// The train/test gap of each of `rows` (one per seed).
fn gaps(rows: &[&Row]) -> Vec<f64> {
    rows.iter().map(|r| r.test_mse - r.train_mse).collect()
}

/// The paired tied-minus-untied gap at each of `ns`, as one Holm family.
fn gap_family(rows: &[Row], ns: &[i64]) -> Vec<Option<SizeEffect>> {
    let sides: Vec<(Vec<&Row>, Vec<&Row>)> = ns
        .iter()
        .map(|&n| (at(rows, ModelKind::Tied, n), at(rows, ModelKind::Untied, n)))
        .collect();
    let groups: Vec<(&[&Row], &[&Row])> = sides
        .iter()
        .map(|(t, u)| (t.as_slice(), u.as_slice()))
        .collect();
    compare_family(&groups, |r| Some(r.test_mse - r.train_mse), false)
}

/// Findings: per training size the mean tied and untied gaps (each at the
/// precision its own seed interval supports), and the paired difference
/// with its seed interval. Directions follow the verdict's rule: the
/// smallest training size is the verdict's overfitting question and forms
/// its own family, as it does there, so the two never disagree; the other
/// sizes form a second Holm family.
pub fn summary(df: &DataFrame) -> Result<Vec<String>> {
    let rows = select_tuned(&rows(df)?);
    let mut ns: Vec<i64> = rows.iter().map(|r| r.n_train).collect();
    ns.sort_unstable();
    ns.dedup();
    let (small, rest) = if ns.len() > 1 {
        ns.split_at(1)
    } else {
        ns.split_at(0)
    };
    let effects: Vec<Option<SizeEffect>> = gap_family(&rows, small)
        .into_iter()
        .chain(gap_family(&rows, rest))
        .collect();
    let mut out = Vec::new();
    for (&n, effect) in ns.iter().zip(effects) {
        let (t, u) = (
            at(&rows, ModelKind::Tied, n),
            at(&rows, ModelKind::Untied, n),
        );
        if t.is_empty() || u.is_empty() {
            continue;
        }
        let family = if small.contains(&n) {
            "the verdict's question"
        } else {
            "Holm across the other training sizes"
        };
        let paired = effect
            .map(|e| {
                format!(
                    "; tied minus untied {} ({family}): {}",
                    describe_effect(&e),
                    effect_wording(&e, "tied overfit less", "tied overfit more")
                )
            })
            .unwrap_or_default();
        let k = t[0].latent;
        out.push(format!(
            "With {n} training rows at latent size {k} the mean test-minus-train MSE gap was {} for untied and {} for tied{paired}.",
            mean_text(&gaps(&u)),
            mean_text(&gaps(&t)),
        ));
    }
    if out.is_empty() {
        return Err(super::missing(
            "tied and untied rows at a common training size",
        ));
    }
    Ok(out)
}
