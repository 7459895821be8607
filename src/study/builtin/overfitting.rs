//! Study 4: overfitting. Claim (the notes, §2 and §7): tying halves the
//! weights and so reduces overfitting when training data are scarce.
//!
//! Nonlinear tied and untied autoencoders (the preset's largest latent size
//! that fits) and PCA train on growing prefixes of the training part; the
//! gap `test_mse − train_mse` measures overfitting. Frame: the results
//! columns only.

use super::{Preset, RunOptions, base, median, rows, sample, sig};
use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::study::cell::train_part_size;
use crate::study::frame::Row;
use crate::study::{ModelKind, Study};
use polars::prelude::DataFrame;

/// The study on `ds`: training sizes of the preset that the split allows
/// (at least the latent size), plus the whole training part.
pub fn study(ds: &Dataset, preset: &Preset, opts: &RunOptions) -> Result<Study> {
    let data = sample(ds, preset)?;
    let s = base("overfitting", data.clone(), opts);
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

/// Median train/test gap of `model` at `n`.
pub(crate) fn gap(rows: &[Row], model: &str, n: i64) -> Option<f64> {
    let g: Vec<f64> = rows
        .iter()
        .filter(|r| r.model == model && r.n_train == n)
        .map(|r| r.test_mse - r.train_mse)
        .collect();
    median(&g)
}

/// Findings: per training size the tied and untied gaps, and how often
/// untied's exceeded tied's.
pub fn summary(df: &DataFrame) -> Result<Vec<String>> {
    let rows = rows(df)?;
    let mut ns: Vec<i64> = rows.iter().map(|r| r.n_train).collect();
    ns.sort_unstable();
    ns.dedup();
    let mut out = Vec::new();
    let mut wider = 0;
    let mut compared = 0;
    for &n in &ns {
        let (Some(t), Some(u)) = (gap(&rows, "tied", n), gap(&rows, "untied", n)) else {
            continue;
        };
        compared += 1;
        if u > t {
            wider += 1;
        }
        out.push(format!(
            "With {n} training rows the test-minus-train MSE gap was {} for untied and {} for tied ({}).",
            sig(u),
            sig(t),
            if u > t { "untied overfit more" } else { "tied overfit as much or more" }
        ));
    }
    if compared == 0 {
        return Err(super::missing(
            "tied and untied rows at a common training size",
        ));
    }
    let (first, last) = (ns[0], ns[ns.len() - 1]);
    if let (Some(a), Some(b)) = (gap(&rows, "untied", first), gap(&rows, "untied", last)) {
        out.insert(
            0,
            format!(
                "Untied's gap exceeded tied's at {wider} of {compared} training sizes; growing the training set from {first} to {last} rows shrank untied's gap from {} to {}.",
                sig(a),
                sig(b)
            ),
        );
    }
    Ok(out)
}
