//! Study 5: nonlinear tied vs untied vs PCA, at equal latent size and at
//! equal weights.
//!
//! At equal latent size `k` the untied model has twice the weights; at
//! equal weights the untied model gets latent `k / 2`, so both have `d k`
//! weights (tied then carries `k / 2` more biases, and the parameter counts
//! say so). Frame: the results columns only (the untied cells at `k / 2`
//! are ordinary rows with that latent size).

use super::{Preset, RunOptions, base, rows, sample};
use crate::data::Dataset;
use crate::error::Result;
use crate::number::format_or_missing;
use crate::stats::mean_interval;
use crate::study::frame::Row;
use crate::study::protocol::select_tuned;
use crate::study::verdict::{
    LEVEL, SizeEffect, compare_family, describe_effect, effect_wording, reference_text,
    rounded_level,
};
use crate::study::{ModelKind, Study};
use polars::prelude::DataFrame;

/// The study on `ds`: latent sizes `k` and `k / 2`.
pub fn study(ds: &Dataset, preset: &Preset, opts: &RunOptions) -> Result<Study> {
    let data = sample(ds, preset)?;
    // Sizes without a half (k = 1, as on two-feature data) still compare
    // tied and untied at equal latent size.
    let mut latents = preset.latents_for(&data)?;
    let halves: Vec<usize> = latents.iter().map(|k| k / 2).filter(|&h| h >= 1).collect();
    latents.extend(halves);
    latents.sort_unstable();
    latents.dedup();
    Ok(base("equal-budget", data, preset, opts)
        .models(&[ModelKind::Pca, ModelKind::Tied, ModelKind::Untied])
        .latents(&latents)
        .seeds(&preset.seeds)
        .hidden(&preset.hidden.into_iter().collect::<Vec<_>>())
        .training(preset.adam()))
}

/// Runs the study.
pub fn run(ds: &Dataset, preset: &Preset, opts: &RunOptions) -> Result<DataFrame> {
    study(ds, preset, opts)?.run()
}

/// The tuned rows of `model` at latent `k` (full training set).
fn at(rows: &[Row], model: ModelKind, k: i64) -> Vec<&Row> {
    let n = rows.iter().map(|r| r.n_train).max().unwrap_or(0);
    rows.iter()
        .filter(|r| r.model == model && r.latent == k && r.n_train == n)
        .collect()
}

/// `1.23x (95% CI 1.10 to 1.36)` for the mean ratio to PCA over seeds,
/// every number at the precision the interval supports (the verdict's
/// rule: the second significant digit of its half width).
fn ratio(rows: &[&Row]) -> String {
    let v: Vec<f64> = rows.iter().map(|r| r.ratio_to_pca).collect();
    match mean_interval(&v, LEVEL) {
        Ok(i) => {
            let f = |x: f64| rounded_level(x, i.half_width());
            format!("{}x (95% CI {} to {})", f(i.estimate), f(i.lo), f(i.hi))
        }
        Err(_) => format!(
            "{}x (one seed)",
            format_or_missing(v.iter().sum::<f64>() / v.len().max(1) as f64)
        ),
    }
}

/// Findings at each latent size: the ratio to PCA of tied and untied with
/// their seed intervals, and, where untied ran at `k / 2`, the paired
/// equal-weights comparison beside PCA's own change from `k / 2` to `k`,
/// and what is left once that width effect is taken out. Each of the two
/// comparisons is one Holm family across the sizes, as in the verdict, so
/// the findings and the verdict state the same directions.
pub fn summary(df: &DataFrame) -> Result<Vec<String>> {
    let rows = select_tuned(&rows(df)?);
    let mut ks: Vec<i64> = rows.iter().map(|r| r.latent).collect();
    ks.sort_unstable();
    ks.dedup();
    // The equal-weights pairs, tied at k against untied at k / 2.
    let halves: Vec<(i64, Vec<&Row>, Vec<&Row>)> = ks
        .iter()
        .filter(|&&k| k >= 2)
        .map(|&k| {
            (
                k,
                at(&rows, ModelKind::Tied, k),
                at(&rows, ModelKind::Untied, k / 2),
            )
        })
        .filter(|(_, t, h)| !t.is_empty() && !h.is_empty())
        .collect();
    let groups: Vec<(&[&Row], &[&Row])> = halves
        .iter()
        .map(|(_, t, h)| (t.as_slice(), h.as_slice()))
        .collect();
    let weights = compare_family(&groups, |r| Some(r.test_mse), true);
    let pca = compare_family(&groups, |r| Some(r.pca_test_mse), true);
    let beyond = compare_family(
        &groups,
        |r| (r.pca_test_mse > 0.0).then_some(r.test_mse / r.pca_test_mse),
        true,
    );
    let mut out = Vec::new();
    for &k in ks.iter().rev() {
        let (t, u) = (
            at(&rows, ModelKind::Tied, k),
            at(&rows, ModelKind::Untied, k),
        );
        if t.is_empty() || u.is_empty() {
            continue;
        }
        out.push(format!(
            "At latent size {k} (mean over seeds): tied reached {} PCA's test MSE with {} parameters, untied {} with {}.",
            ratio(&t),
            t[0].params,
            ratio(&u),
            u[0].params,
        ));
        let Some(i) = halves.iter().position(|(kt, _, _)| *kt == k) else {
            continue;
        };
        let Some(e) = &weights[i] else {
            continue;
        };
        let (_, t, h) = &halves[i];
        let pca_change = pca[i]
            .as_ref()
            .map(|p| {
                format!(
                    " (PCA's own change from k = {} to {k}: {})",
                    k / 2,
                    pca_text(p)
                )
            })
            .unwrap_or_default();
        let left = beyond[i]
            .as_ref()
            .map(|b| {
                format!(
                    " Beyond that width effect: {}, {}.",
                    describe_effect(b),
                    effect_wording(
                        b,
                        "tied lower than width explains",
                        "tied higher than width explains"
                    )
                )
            })
            .unwrap_or_default();
        out.push(format!(
            "At equal weights (tied k = {k}: {} parameters; untied k = {}: {}; biases included), tied's test MSE differed from untied's by {}{pca_change}: {}.{left}",
            t[0].params,
            k / 2,
            h[0].params,
            describe_effect(e),
            effect_wording(e, "tied lower", "tied higher")
        ));
    }
    if out.is_empty() {
        return Err(super::missing(
            "tied and untied rows at a common latent size",
        ));
    }
    Ok(out)
}

/// PCA's change between two latent sizes as a geometric-mean percentage,
/// at the precision its own interval over the seeds supports (each seed
/// draws its own split, so the change varies by seed; the verdict states
/// the same number beside the same effect). The estimate alone is stated:
/// it is a reference for the effect beside it, not a claim.
fn pca_text(p: &SizeEffect) -> String {
    format!("{}%", reference_text(&p.effect))
}
