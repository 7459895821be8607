//! Study 8: bias modes compared. Claim (design notes, the notes §3): with
//! uncentred data a tied layer needs some bias; pre-centering makes a linear
//! tied layer exactly PCA's model family, a mirrored bias cannot represent
//! a data mean in general, and no bias at all pays for the mean.
//!
//! One grid at the preset's first latent size: PCA, linear tied models and
//! ReLU tied models (the preset's hidden width, if any) under every
//! [`BiasMode`]. The linear cells train with full-batch L-BFGS in f64 (the
//! study's [`Study::linear_training`]), to PCA's optimum rather than to a
//! learning rate's; the ReLU cells with Adam in f32 over the protocol's
//! grid. Rows in cell order: PCA per seed, then linear tied per bias mode
//! and seed, then ReLU tied per bias mode, rate and seed. Frame: the results
//! columns only.

use super::{Preset, RunOptions, base, median, rows, sample};
use crate::data::Dataset;
use crate::error::Result;
use crate::model::BiasMode;
use crate::number::format_or_missing;
use crate::study::{ModelKind, Precision, Study};
use polars::prelude::DataFrame;

/// The study on `ds`.
pub fn study(ds: &Dataset, preset: &Preset, opts: &RunOptions) -> Result<Study> {
    let data = sample(ds, preset)?;
    let k = preset.latents_for(&data)?[0];
    Ok(base("bias-modes", data, preset, opts)
        .models(&[ModelKind::Pca, ModelKind::LinearTied, ModelKind::Tied])
        .latents(&[k])
        .seeds(&preset.seeds)
        .bias_modes(&BiasMode::ALL)
        .hidden(&preset.hidden.into_iter().collect::<Vec<_>>())
        .training(preset.adam())
        .linear_training(preset.lbfgs(), Precision::F64))
}

/// Runs the study.
pub fn run(ds: &Dataset, preset: &Preset, opts: &RunOptions) -> Result<DataFrame> {
    study(ds, preset, opts)?.run()
}

/// Findings: per model kind, the bias modes ranked by median ratio to PCA.
pub fn summary(df: &DataFrame) -> Result<Vec<String>> {
    let rows = rows(df)?;
    let mut out = Vec::new();
    for (model, label) in [
        (ModelKind::LinearTied, "Linear tied"),
        (ModelKind::Tied, "ReLU tied"),
    ] {
        let mut ranked: Vec<(String, f64)> = BiasMode::ALL
            .iter()
            .filter_map(|b| {
                let r: Vec<f64> = rows
                    .iter()
                    .filter(|r| r.model == model && r.bias_mode == b.name())
                    .map(|r| r.ratio_to_pca)
                    .collect();
                median(&r).map(|m| (b.name().to_string(), m))
            })
            .collect();
        if ranked.is_empty() {
            continue;
        }
        ranked.sort_by(|a, b| a.1.total_cmp(&b.1));
        out.push(format!(
            "{label}, bias modes from best to worst (test MSE as a multiple of PCA's): {}.",
            ranked
                .iter()
                .map(|(n, r)| format!("{n} {}x", format_or_missing(*r)))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    if out.is_empty() {
        return Err(super::missing("tied rows"));
    }
    Ok(out)
}
