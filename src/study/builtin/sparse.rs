//! Study 7: sparse tied autoencoders. Claim (the notes, §6.2): an L1
//! penalty on the latent code makes a tied autoencoder's code sparse, at a
//! price in reconstruction error.
//!
//! ReLU tied autoencoders with L1 code weights 0 and the preset's weights
//! (first latent size of the preset), beside PCA. Frame: the results
//! columns only (`sparsity` is the fraction of zero code entries on the
//! test rows).

use super::{Preset, RunOptions, base, median, rows, sample};
use crate::data::Dataset;
use crate::error::Result;
use crate::model::Activation;
use crate::number::format_or_missing;
use crate::study::{ModelKind, Study};
use polars::prelude::DataFrame;

/// The study on `ds`.
pub fn study(ds: &Dataset, preset: &Preset, opts: &RunOptions) -> Result<Study> {
    let data = sample(ds, preset)?;
    let k = *preset.latents_for(&data)?.last().expect("non-empty");
    let mut weights = vec![0.0];
    weights.extend(preset.sparsity_weights.iter().copied().filter(|&w| w > 0.0));
    Ok(base("sparse", data, preset, opts)
        .models(&[ModelKind::Pca, ModelKind::SparseTied])
        .latents(&[k])
        .seeds(&preset.seeds)
        .sparsity_weights(&weights)
        .activation(Activation::Relu)
        .hidden(&preset.hidden.into_iter().collect::<Vec<_>>())
        .training(preset.adam()))
}

/// Runs the study.
pub fn run(ds: &Dataset, preset: &Preset, opts: &RunOptions) -> Result<DataFrame> {
    study(ds, preset, opts)?.run()
}

/// Per L1 weight (ascending): median sparsity, test MSE, ratio to PCA.
pub fn trade_off(df: &DataFrame) -> Result<Vec<(f64, f64, f64, f64)>> {
    let rows = rows(df)?;
    let mut ws: Vec<f64> = rows
        .iter()
        .filter(|r| r.model == ModelKind::SparseTied)
        .map(|r| r.sparsity_weight)
        .collect();
    ws.sort_by(f64::total_cmp);
    ws.dedup();
    Ok(ws
        .into_iter()
        .filter_map(|w| {
            let r: Vec<_> = rows
                .iter()
                .filter(|r| r.model == ModelKind::SparseTied && r.sparsity_weight == w)
                .collect();
            Some((
                w,
                median(&r.iter().map(|r| r.sparsity).collect::<Vec<_>>())?,
                median(&r.iter().map(|r| r.test_mse).collect::<Vec<_>>())?,
                median(&r.iter().map(|r| r.ratio_to_pca).collect::<Vec<_>>())?,
            ))
        })
        .collect())
}

/// Findings: the trade-off between the smallest and largest L1 weight, and
/// whether sparsity and error rose monotonically.
pub fn summary(df: &DataFrame) -> Result<Vec<String>> {
    let t = trade_off(df)?;
    if t.len() < 2 {
        return Err(super::missing("sparse_tied rows at two or more L1 weights"));
    }
    let (a, b) = (t[0], t[t.len() - 1]);
    let sparser = t.windows(2).all(|w| w[1].1 >= w[0].1);
    let worse = t.windows(2).all(|w| w[1].2 >= w[0].2);
    let mut out = vec![format!(
        "Raising the L1 code weight from {} to {} raised the fraction of zero code entries from {}% to {}% while test MSE went from {} to {} ({}x to {}x PCA's).",
        format_or_missing(a.0),
        format_or_missing(b.0),
        format_or_missing(100.0 * a.1),
        format_or_missing(100.0 * b.1),
        format_or_missing(a.2),
        format_or_missing(b.2),
        format_or_missing(a.3),
        format_or_missing(b.3)
    )];
    out.push(format!(
        "Across the {} weights, sparsity {} and test MSE {} with the L1 weight.",
        t.len(),
        if sparser {
            "rose monotonically"
        } else {
            "did not rise monotonically"
        },
        if worse {
            "rose monotonically"
        } else {
            "did not rise monotonically"
        }
    ));
    Ok(out)
}
