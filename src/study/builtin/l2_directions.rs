//! Study 2: with L2 regularisation a linear tied autoencoder recovers the
//! individual principal directions, not only their span (Kunin et al. 2019).
//!
//! Without regularisation the loss is unchanged by `W -> O W` (O
//! orthogonal) and all singular values of `W` tend to 1, so only the
//! subspace is determined. The L2 term makes the singular values distinct,
//! `s_j² = 1 − λ d / (4 λ_j)` for the objective `‖X − X WᵀW‖²/(N d) +
//! λ/2 ‖W‖²` (λ_j the covariance eigenvalues), which pins the right
//! singular vectors to the principal directions. The rows themselves stay
//! rotated by the arbitrary `O`, so the per-direction angle reported is
//! that of right singular vector `j` to principal direction `j`
//! ([`crate::study::metrics::direction_angles`]).
//!
//! λ is set from the data: `λ = 2 λ_k / d` with `λ_k` the k-th eigenvalue of
//! the training covariance, so `s_k² = 1/2` and `s_1² = 1 − λ_k / (2 λ_1)`.
//! One λ serves every seed (the L2 axis is shared), so it is read from the
//! training part of the first seed's split; each cell's prediction uses its
//! own seed's PCA.
//!
//! Frame: the results columns, one row per (cell, direction `j`), plus
//! `component` (i64, `j` from 0), `direction_angle_deg` (f64),
//! `singular_value` (f64, of the learned `W`), `predicted_singular_value`
//! (f64, Kunin's closed form for this cell's λ, see below) and
//! `singular_value_error` (f64, learned minus predicted).
//!
//! The prediction uses the second moments the objective sees: the model
//! learns the centre (pre-centering bias), and the MSE averages over the
//! `N` training rows, so `λ_j` there is the PCA variance times `(N − 1)/N`
//! ([`crate::model::theory`] derives the formula in this normalisation).
//! Without L2 it predicts 1 for every direction.

use super::{Preset, RunOptions, base, median, sample};
use crate::data::{Dataset, train_test_split};
use crate::error::{Error, Result};
use crate::linalg::Pca;
use crate::model::BiasMode;
use crate::model::theory::{Tying, kunin_singular_values};
use crate::number::format_or_missing;
use crate::study::frame::{Row, rows_to_frame};
use crate::study::metrics::direction_angles;
use crate::study::{ModelKind, Precision, Study};
use polars::prelude::*;

/// The study on `ds` (its L2 values depend on the data, see the module
/// docs; the first latent size of the preset is used).
pub fn study(ds: &Dataset, preset: &Preset, opts: &RunOptions) -> Result<Study> {
    let data = sample(ds, preset)?;
    let k = preset.latents_for(&data)?[0];
    let s = base("l2-directions", data.clone(), preset, opts);
    let first = preset.seeds.first().copied().unwrap_or(0);
    let (train, _) = train_test_split(&data, s.test_fraction, s.data_seed(first))?;
    let pca = Pca::count(k).fit(train.x())?;
    let lambda_k = pca.explained_variance()[k - 1];
    let l2 = 2.0 * lambda_k / data.n_features() as f64;
    if !(l2.is_finite() && l2 > 0.0) {
        return Err(Error::InvalidData(format!(
            "dataset {:?}: the {k}-th principal variance is {lambda_k}; the L2 study needs k non-degenerate directions",
            data.name()
        )));
    }
    Ok(s.models(&[ModelKind::Pca, ModelKind::LinearTied])
        .latents(&[k])
        .seeds(&preset.seeds)
        .l2s(&[0.0, l2])
        .bias_modes(&[BiasMode::PreCentering])
        .precision(Precision::F64)
        .training(preset.lbfgs()))
}

/// Runs the study and measures per-direction angles.
pub fn run(ds: &Dataset, preset: &Preset, opts: &RunOptions) -> Result<DataFrame> {
    let st = study(ds, preset, opts)?;
    let res = st.run_detailed()?;
    let mut rows: Vec<Row> = Vec::new();
    let (mut comp, mut angle, mut sv) = (Vec::new(), Vec::new(), Vec::new());
    let (mut predicted, mut error) = (Vec::new(), Vec::new());
    for a in &res.cells {
        if a.cell.model != ModelKind::LinearTied {
            continue;
        }
        let pca = res
            .pca(&a.cell.dataset_name, a.cell.n_train, a.cell.seed)
            .ok_or_else(|| Error::InvalidData("no PCA for a cell's split".into()))?;
        let pcs = pca.pca.components().rows(0, a.cell.latent).into_owned();
        let angles = direction_angles(&a.filters, &pcs)?;
        let mut s: Vec<f64> = a.filters.singular_values().iter().copied().collect();
        s.sort_by(|x, y| y.total_cmp(x));
        let n = pca.pca.n_samples() as f64;
        let moments: Vec<f64> = pca
            .pca
            .explained_variance()
            .get(..a.cell.latent)
            .ok_or_else(|| {
                Error::InvalidData(
                    "the split's PCA has fewer components than a cell's latent size".into(),
                )
            })?
            .iter()
            .map(|v| v * (n - 1.0) / n)
            .collect();
        let mut cfg = st.training.clone();
        cfg.loss = cfg.loss.with_l2(a.cell.l2);
        let want = kunin_singular_values(
            &moments,
            cfg.objective().l2,
            pcs.ncols(),
            a.cell.latent,
            Tying::Tied,
        )?;
        for (j, ang) in angles.into_iter().enumerate() {
            rows.push(a.row.clone());
            comp.push(j as i64);
            angle.push(ang);
            let got = s.get(j).copied().unwrap_or(0.0);
            sv.push(got);
            let w = want.get(j).copied().unwrap_or(f64::NAN);
            predicted.push(w);
            error.push(got - w);
        }
    }
    let mut df = rows_to_frame(&rows)?;
    df.with_column(Column::new("component".into(), comp))?;
    df.with_column(Column::new("direction_angle_deg".into(), angle))?;
    df.with_column(Column::new("singular_value".into(), sv))?;
    df.with_column(Column::new("predicted_singular_value".into(), predicted))?;
    df.with_column(Column::new("singular_value_error".into(), error))?;
    Ok(df)
}

/// Per (l2 = 0, l2 > 0): median and largest direction angle, and the
/// subspace angle for contrast.
pub fn summary(df: &DataFrame) -> Result<Vec<String>> {
    let rows = super::rows(df)?;
    let angles: Vec<f64> = df
        .column("direction_angle_deg")
        .map_err(|_| super::missing("direction_angle_deg column"))?
        .f64()?
        .iter()
        .map(|v| v.unwrap_or(f64::NAN))
        .collect();
    // Frames written before the prediction columns existed have none.
    let errors: Vec<f64> = match df.column("singular_value_error") {
        Ok(c) => c.f64()?.iter().map(|v| v.unwrap_or(f64::NAN)).collect(),
        Err(_) => Vec::new(),
    };
    let mut out = Vec::new();
    let mut l2s: Vec<f64> = rows.iter().map(|r| r.l2).collect();
    l2s.sort_by(f64::total_cmp);
    l2s.dedup();
    for l2 in l2s {
        let idx: Vec<usize> = (0..rows.len()).filter(|&i| rows[i].l2 == l2).collect();
        let a: Vec<f64> = idx
            .iter()
            .map(|&i| angles[i])
            .filter(|v| v.is_finite())
            .collect();
        let sub: Vec<f64> = idx.iter().filter_map(|&i| rows[i].max_angle_deg).collect();
        let sv_err = idx
            .iter()
            .filter_map(|&i| errors.get(i).copied().filter(|e| e.is_finite()))
            .map(f64::abs)
            .reduce(f64::max);
        let (Some(med), Some(max)) = (median(&a), a.iter().copied().reduce(f64::max)) else {
            continue;
        };
        let closed_form = sv_err
            .map(|e| {
                format!(
                    " Its singular values were within {} of Kunin et al.'s closed form.",
                    format_or_missing(e)
                )
            })
            .unwrap_or_default();
        out.push(format!(
            "{}: the tied weight's singular directions were a median {} degrees (largest {}) from the individual principal directions, while its row space was within {} degrees of the principal subspace.{closed_form}",
            if l2 > 0.0 {
                format!("With L2 = {}", format_or_missing(l2))
            } else {
                "Without L2".to_string()
            },
            format_or_missing(med),
            format_or_missing(max),
            format_or_missing(sub.iter().copied().fold(0.0, f64::max))
        ));
    }
    if out.is_empty() {
        return Err(super::missing("linear_tied rows with direction angles"));
    }
    Ok(out)
}
