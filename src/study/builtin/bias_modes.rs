//! Study 8: bias modes compared. Claim (design notes, the notes §3): with
//! uncentred data a tied layer needs some bias; pre-centering makes a linear
//! tied layer exactly PCA's model family, a mirrored bias cannot represent
//! a data mean in general, and no bias at all pays for the mean.
//!
//! Linear tied models (full-batch L-BFGS, f64) and ReLU tied models (Adam)
//! under every [`BiasMode`], beside PCA, at the preset's first latent
//! size. Frame: the results columns only (two studies stacked).

use super::{Preset, RunOptions, base, median, rows, sample};
use crate::data::Dataset;
use crate::error::Result;
use crate::model::BiasMode;
use crate::number::format_or_missing;
use crate::study::{ModelKind, Precision, Study};
use polars::prelude::DataFrame;

/// The two studies on `ds`: linear (L-BFGS) and nonlinear (Adam).
pub fn studies(ds: &Dataset, preset: &Preset, opts: &RunOptions) -> Result<[Study; 2]> {
    let data = sample(ds, preset)?;
    let k = preset.latents_for(&data)?[0];
    let linear = base("bias-modes-linear", data.clone(), preset, opts)
        .models(&[ModelKind::Pca, ModelKind::LinearTied])
        .latents(&[k])
        .seeds(&preset.seeds)
        .bias_modes(&BiasMode::ALL)
        .precision(Precision::F64)
        .training(preset.lbfgs());
    let nonlinear = base("bias-modes-nonlinear", data, preset, opts)
        .models(&[ModelKind::Tied])
        .latents(&[k])
        .seeds(&preset.seeds)
        .bias_modes(&BiasMode::ALL)
        .hidden(&preset.hidden.into_iter().collect::<Vec<_>>())
        .training(preset.adam());
    Ok([linear, nonlinear])
}

/// Runs both studies and stacks their frames.
pub fn run(ds: &Dataset, preset: &Preset, opts: &RunOptions) -> Result<DataFrame> {
    let [a, b] = studies(ds, preset, opts)?;
    let mut df = a.run()?;
    df.vstack_mut(&b.run()?)?;
    Ok(df)
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
                    .filter(|r| r.model == model.name() && r.bias_mode == b.name())
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
