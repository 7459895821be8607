//! Study 1: a linear tied autoencoder against PCA.
//!
//! Claim (Baldi & Hornik 1989, Eckart–Young): a linear autoencoder trained
//! to its optimum reconstructs exactly as well as PCA with the same number of
//! components, and its decoder spans the principal subspace. The tied one
//! does so with half the untied one's weights. Models train with full-batch
//! L-BFGS and pre-centering biases (PCA's own model family: centre, project,
//! un-centre), so any gap is the optimiser's, not the architecture's.

use super::{Preset, RunOptions, base, rows, sample, select};
use crate::data::Dataset;
use crate::error::Result;
use crate::model::BiasMode;
use crate::number::{format_or_missing, percent_range};
use crate::study::protocol::is_settled;
use crate::study::verdict::{largest_mean_angles, mean_text};
use crate::study::{ModelKind, Precision, Study};
use polars::prelude::DataFrame;

/// The study on `ds`.
pub fn study(ds: &Dataset, preset: &Preset, opts: &RunOptions) -> Result<Study> {
    let data = sample(ds, preset)?;
    let latents = preset.latents_for(&data)?;
    Ok(base("linear-pca", data, preset, opts)
        .models(&[
            ModelKind::Pca,
            ModelKind::LinearTied,
            ModelKind::LinearUntied,
        ])
        .latents(&latents)
        .seeds(&preset.seeds)
        .bias_modes(&[BiasMode::PreCentering])
        .precision(Precision::F64)
        .training(preset.lbfgs()))
}

/// Runs the study; the frame has the results columns only.
pub fn run(ds: &Dataset, preset: &Preset, opts: &RunOptions) -> Result<DataFrame> {
    study(ds, preset, opts)?.run()
}

/// Findings: worst ratio to PCA and largest principal angle of each linear
/// kind, and the tied share of weights.
pub fn summary(df: &DataFrame) -> Result<Vec<String>> {
    let rows = rows(df)?;
    let mut out = Vec::new();
    for (kind, label) in [
        (ModelKind::LinearTied, "linear tied"),
        (ModelKind::LinearUntied, "linear untied"),
    ] {
        let r: Vec<_> = select(&rows, kind).collect();
        if r.is_empty() {
            continue;
        }
        let worst = r.iter().map(|r| r.ratio_to_pca).fold(f64::MIN, f64::max);
        let best = r.iter().map(|r| r.ratio_to_pca).fold(f64::MAX, f64::min);
        let angles: Vec<f64> = r.iter().filter_map(|r| r.max_angle_deg).collect();
        // The principal-angle chart's rule: mean over seeds, largest over
        // k; a mean over seeds, so rounded as its interval allows.
        let max_angle =
            largest_mean_angles(&r).map_or_else(|| format_or_missing(0.0), |a| mean_text(&a));
        let ks: Vec<String> = {
            let mut k: Vec<i64> = r.iter().map(|r| r.latent).collect();
            k.sort_unstable();
            k.dedup();
            k.iter().map(|k| k.to_string()).collect()
        };
        out.push(format!(
            "{label} reached {}x to {}x PCA's test MSE at k = {} ({} cells, {} of them converged); its largest principal angle to the PCA subspace (mean over seeds, largest over k) was {} degrees{}.",
            format_or_missing(best),
            format_or_missing(worst),
            ks.join(", "),
            r.len(),
            r.iter().filter(|r| is_settled(r)).count(),
            max_angle,
            if angles.len() < r.len() {
                format!(" ({} cells had a rank-deficient decoder)", r.len() - angles.len())
            } else {
                String::new()
            }
        ));
    }
    let tied: Vec<_> = select(&rows, ModelKind::LinearTied).collect();
    let shares: Vec<f64> = tied
        .iter()
        .filter_map(|t| {
            select(&rows, ModelKind::LinearUntied)
                .find(|u| u.latent == t.latent && u.seed == t.seed && u.dataset == t.dataset)
                .map(|u| t.params as f64 / u.params as f64)
        })
        .collect();
    // The share depends on the model kind and on k (the biases weigh more
    // at small k), so it is stated as the linear pair's range, by name.
    if let Some(share) = percent_range(&shares) {
        let wwt: Vec<f64> = tied.iter().filter_map(|t| t.wwt_minus_i).collect();
        out.push(format!(
            "Linear tied used {share} of linear untied's parameters (over the latent sizes, biases included); ||W W^T - I||_F of the tied weights was at most {}, i.e. its rows are orthonormal like PCA's components.",
            format_or_missing(wwt.iter().copied().fold(0.0, f64::max))
        ));
    }
    if out.is_empty() {
        return Err(super::missing("linear_tied or linear_untied rows"));
    }
    Ok(out)
}
