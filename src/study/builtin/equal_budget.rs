//! Study 5: nonlinear tied vs untied vs PCA, at equal latent size and at
//! equal parameter budget.
//!
//! At equal latent size `k` the untied model has twice the weights; at an
//! equal budget the untied model gets latent `k / 2`, so both have `d k`
//! weights. Frame: the results columns only (the untied cells at `k / 2`
//! are ordinary rows with that latent size).

use super::{Preset, RunOptions, base, median, rows, sample, sig};
use crate::data::Dataset;
use crate::error::Result;
use crate::study::frame::Row;
use crate::study::{ModelKind, Study};
use polars::prelude::DataFrame;

/// The latent sizes of the preset that fit `ds` and have a half (`k >= 2`).
fn sizes(ds: &Dataset, preset: &Preset) -> Result<Vec<usize>> {
    let mut l: Vec<usize> = preset.latents_for(ds)?;
    l.retain(|&k| k >= 2);
    if l.is_empty() {
        return Err(crate::error::Error::config(
            "latents",
            "the equal-budget study needs a latent size of at least 2",
        ));
    }
    Ok(l)
}

/// The study on `ds`: latent sizes `k` and `k / 2`.
pub fn study(ds: &Dataset, preset: &Preset, opts: &RunOptions) -> Result<Study> {
    let data = sample(ds, preset)?;
    let mut latents = sizes(&data, preset)?;
    let halves: Vec<usize> = latents.iter().map(|k| k / 2).collect();
    latents.extend(halves);
    latents.sort_unstable();
    latents.dedup();
    Ok(base("equal-budget", data, opts)
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

/// Median test MSE, ratio to PCA and parameters of `model` at latent `k`.
pub(crate) fn at(rows: &[Row], model: &str, k: i64) -> Option<(f64, f64, i64)> {
    let r: Vec<&Row> = rows
        .iter()
        .filter(|r| r.model == model && r.latent == k)
        .collect();
    let mse = median(&r.iter().map(|r| r.test_mse).collect::<Vec<_>>())?;
    let ratio = median(&r.iter().map(|r| r.ratio_to_pca).collect::<Vec<_>>())?;
    Some((mse, ratio, r[0].params))
}

/// Findings at each latent size `k` whose half was also run.
pub fn summary(df: &DataFrame) -> Result<Vec<String>> {
    let rows = rows(df)?;
    let mut ks: Vec<i64> = rows.iter().map(|r| r.latent).collect();
    ks.sort_unstable();
    ks.dedup();
    let mut out = Vec::new();
    for &k in ks.iter().rev() {
        let (Some(t), Some(u)) = (at(&rows, "tied", k), at(&rows, "untied", k)) else {
            continue;
        };
        out.push(format!(
            "At latent size {k}: tied reached {}x PCA's test MSE with {} parameters, untied {}x with {} ({}% of untied's parameters for tied).",
            sig(t.1),
            t.2,
            sig(u.1),
            u.2,
            sig(100.0 * t.2 as f64 / u.2 as f64)
        ));
        if k >= 2
            && let Some(h) = at(&rows, "untied", k / 2)
        {
            out.push(format!(
                "At an equal weight budget (tied k = {k}: {} parameters; untied k = {}: {}), tied's test MSE was {} vs untied's {} ({}).",
                t.2,
                k / 2,
                h.2,
                sig(t.0),
                sig(h.0),
                if t.0 < h.0 { "tied better" } else { "untied better or equal" }
            ));
        }
    }
    if out.is_empty() {
        return Err(super::missing(
            "tied and untied rows at a common latent size",
        ));
    }
    Ok(out)
}
