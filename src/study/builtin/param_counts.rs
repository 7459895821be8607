//! Study 3: parameter counts. Claim: a tied autoencoder has exactly half
//! the weights of its untied counterpart, whatever the architecture.
//!
//! Nothing is trained. For each architecture and bias mode the counts of
//! built models ([`crate::model::Autoencoder::parameter_count`]) are set
//! beside the closed forms `Σ d_l d_{l+1}` (tied weights), twice that
//! (untied) and the bias counts of [`crate::model::BiasMode`], so the
//! table both states and checks the claim.
//!
//! Frame (its own, not the results columns): `dataset`, `architecture`
//! (str, widths joined by `-`), `bias_mode`, `layers` (i64), `tied_weights`,
//! `untied_weights`, `tied_params`, `untied_params`, `closed_form_tied`,
//! `closed_form_untied` (i64, parameters including biases), `weight_ratio`
//! and `param_ratio` (f64, tied / untied).

use super::Preset;
use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::model::{Autoencoder, AutoencoderSpec, BiasMode};
use crate::number::format_or_missing;
use polars::prelude::*;

/// The architectures counted for input width `d`: for each latent size
/// `k < d` of the preset, `[d, k]`, `[d, h, k]` and `[d, h, h/2, k]` with
/// `h = (d + k) / 2` (where the widths stay decreasing).
pub fn architectures(d: usize, preset: &Preset) -> Vec<Vec<usize>> {
    let mut out = Vec::new();
    for &k in &preset.latents {
        if k == 0 || k > d {
            continue;
        }
        out.push(vec![d, k]);
        let h = (d + k) / 2;
        if h > k && h < d {
            out.push(vec![d, h, k]);
            if h / 2 > k {
                out.push(vec![d, h, h / 2, k]);
            }
        }
    }
    out
}

fn closed_form(dims: &[usize], bias: BiasMode, tied: bool) -> (usize, usize) {
    let weights: usize =
        dims.windows(2).map(|w| w[0] * w[1]).sum::<usize>() * if tied { 1 } else { 2 };
    let biases: usize = dims
        .windows(2)
        .map(|w| match bias {
            BiasMode::None => 0,
            BiasMode::Separate => w[0] + w[1],
            BiasMode::Mirrored => w[1],
            BiasMode::PreCentering => w[0],
        })
        .sum();
    (weights, weights + biases)
}

/// Counts every architecture of [`architectures`] under every bias mode.
pub fn run(ds: &Dataset, preset: &Preset) -> Result<DataFrame> {
    let d = ds.n_features();
    let archs = architectures(d, preset);
    if archs.is_empty() {
        return Err(Error::config(
            "latents",
            format!("no latent size of {:?} fits {d} features", preset.latents),
        ));
    }
    let mut cols: (Vec<String>, Vec<String>, Vec<i64>) = Default::default();
    let mut ints: [Vec<i64>; 6] = Default::default();
    let mut ratios: (Vec<f64>, Vec<f64>) = Default::default();
    for dims in &archs {
        for bias in BiasMode::ALL {
            let spec = AutoencoderSpec::new(dims).bias(bias);
            let tied = Autoencoder::<f32>::new(&spec.clone().tied(true), 0)?.parameter_count();
            let untied = Autoencoder::<f32>::new(&spec.tied(false), 0)?.parameter_count();
            let tw: usize = tied.layers.iter().map(|l| l.weights).sum();
            let uw: usize = untied.layers.iter().map(|l| l.weights).sum();
            let (_, ct) = closed_form(dims, bias, true);
            let (_, cu) = closed_form(dims, bias, false);
            cols.0.push(
                dims.iter()
                    .map(|w| w.to_string())
                    .collect::<Vec<_>>()
                    .join("-"),
            );
            cols.1.push(bias.name().into());
            cols.2.push((dims.len() - 1) as i64);
            for (v, x) in ints
                .iter_mut()
                .zip([tw, uw, tied.total, untied.total, ct, cu])
            {
                v.push(x as i64);
            }
            ratios.0.push(tw as f64 / uw as f64);
            ratios.1.push(tied.total as f64 / untied.total as f64);
        }
    }
    let n = cols.0.len();
    let [tw, uw, tp, up, ct, cu] = ints;
    Ok(DataFrame::new(
        n,
        vec![
            Column::new("dataset".into(), vec![ds.name().to_string(); n]),
            Column::new("architecture".into(), cols.0),
            Column::new("bias_mode".into(), cols.1),
            Column::new("layers".into(), cols.2),
            Column::new("tied_weights".into(), tw),
            Column::new("untied_weights".into(), uw),
            Column::new("tied_params".into(), tp),
            Column::new("untied_params".into(), up),
            Column::new("closed_form_tied".into(), ct),
            Column::new("closed_form_untied".into(), cu),
            Column::new("weight_ratio".into(), ratios.0),
            Column::new("param_ratio".into(), ratios.1),
        ],
    )?)
}

fn ints(df: &DataFrame, name: &str) -> Result<Vec<i64>> {
    Ok(df
        .column(name)
        .map_err(|_| super::missing(name))?
        .i64()?
        .iter()
        .map(|v| v.unwrap_or(-1))
        .collect())
}

/// Findings: whether every tied count is half the untied one and matches
/// the closed forms, and the range of the total-parameter ratio.
pub fn summary(df: &DataFrame) -> Result<Vec<String>> {
    let (tw, uw) = (ints(df, "tied_weights")?, ints(df, "untied_weights")?);
    let (tp, up) = (ints(df, "tied_params")?, ints(df, "untied_params")?);
    let (ct, cu) = (
        ints(df, "closed_form_tied")?,
        ints(df, "closed_form_untied")?,
    );
    let n = tw.len();
    if n == 0 {
        return Err(super::missing("architectures"));
    }
    let half = (0..n).filter(|&i| 2 * tw[i] == uw[i]).count();
    let closed = (0..n).filter(|&i| tp[i] == ct[i] && up[i] == cu[i]).count();
    let r: Vec<f64> = (0..n).map(|i| tp[i] as f64 / up[i] as f64).collect();
    let lo = r.iter().copied().fold(f64::MAX, f64::min);
    let hi = r.iter().copied().fold(f64::MIN, f64::max);
    Ok(vec![
        format!(
            "Tied weights were exactly half of untied's in {half} of {n} architecture x bias-mode combinations; the counted parameters matched the closed forms in {closed} of {n}."
        ),
        format!(
            "With biases, tied models had {}% to {}% of untied's parameters (biases are not doubled by untying).",
            format_or_missing(100.0 * lo),
            format_or_missing(100.0 * hi)
        ),
    ])
}
