//! Study 12: tied denoising autoencoders (Vincent et al. 2010) beside a
//! plain tied one and PCA at the same latent size.
//!
//! Why: a denoising autoencoder is trained to map a corrupted input back
//! to the clean one ([`Corruption`]: masking, a fraction ν of the entries
//! zeroed, or additive Gaussian noise σ). What it buys is robustness and
//! features (Vincent et al.'s filters turn from blobs into strokes as the
//! noise grows); what it costs is clean reconstruction, because the
//! expected objective adds a penalty on the reconstruction map (for a
//! linear tied pair, `σ² ‖WᵀW‖²_F / d`, derived in
//! [`crate::model::theory`]), so the clean test MSE should rise with the
//! noise. The study measures both sides against the noise level.
//!
//! # Grid
//! An ordinary grid of cells ([`study`]): PCA and one tied variant per
//! noise level ([`variants`]) at one latent size, on every seed of the
//! preset, under the standard protocol (each seed's own split and
//! validation carve, early stopping, the preset's learning-rate grid),
//! cached, sharded and merged like every study. Seeds vary the split, the
//! initialisation and the noise, so every claim rests on all of them.
//!
//! Every variant is a tied pair with sigmoid hidden units, identity output
//! and separate biases, trained with Adam at the preset's batch size for
//! at most `min(100, preset epochs)` epochs, on uncentred rows (masking
//! means "set to 0", the background of image data). The latent size is
//! the largest of the preset's below the data's width. The variants:
//! `tied_plain` (level 0, no corruption), `tied_mask_10`, `_25`, `_50`
//! (masking, ν the suffix in hundredths) and `tied_gauss_10`, `_25`, `_50`
//! (Gaussian, σ the suffix in hundredths of the fitting rows' entry scale,
//! [`crate::study::entry_scale`]: the variant stores the relative level
//! and each cell resolves it against its own fitting rows, since every
//! seed fits its own rows; see [`Variant::corruption`](crate::study::Variant#structfield.corruption)).
//!
//! # Measured
//! Every cell records [`MetricSet::Denoising`] on its test rows, each row
//! corrupted once, seeded by the cell's seed, against the clean row: its
//! clean test MSE (the results column `test_mse`), its corrupted test MSE
//! with its own noise (`corrupted_test_mse`), and its test MSE at every
//! level of [`DENOISING_LEVELS`] of both kinds (`masked_test_mse_10`, ...,
//! `noisy_test_mse_50`). The plain pair's and PCA's corrupted test MSE at
//! a level is that level's column: the same corrupted rows the denoising
//! model of the level reconstructs (the definitions of
//! [`crate::study::DENOISING_COLUMNS`]). At level 0 every model's
//! "corrupted" MSE is its clean one.
//!
//! # Claims
//! From the frame's tuned rows ([`select_tuned`]), as medians over the
//! seeds, with the range over seeds quoted beside them ([`summary`]):
//! 1. a denoising AE reconstructs corrupted inputs better than the plain
//!    one: per seed, its corrupted test MSE over the plain pair's on the
//!    same rows, at ν = 0.25 and at σ = 0.25; the median ratio must be
//!    below 1;
//! 2. denoising regularises: over the levels of each kind (0, the plain
//!    pair, included), the number of consecutive levels where the median
//!    clean test MSE falls (tolerance 0.5: it must never fall).
//!
//! # Figures
//! [`charts`], from a detailed run: clean test MSE against noise level
//! (medians over seeds; plain tied and PCA flat), corrupted test MSE
//! against noise level (denoising, plain and PCA per kind), and for image
//! data the first filters (rows of `W`) of each variant on the first seed.

use super::claims::{Claim, claims_frame};
use super::{Output, Preset, RunOptions, base, median, missing, sample};
use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::model::{Activation, BiasMode};
use crate::number::format_or_missing;
use crate::study::{
    Curves, DENOISING_LEVELS, DenoisingMetrics, DetailedResults, Figures, Line, MetricSet,
    ModelKind, Row, Study, Tiles, Variant, frame_to_rows, read_extra_columns, select_tuned,
};
use crate::train::Corruption;
use polars::prelude::DataFrame;

/// The level of the "better than plain" claims.
pub const CLAIM_LEVEL: f64 = 0.25;
/// Epoch cap of every run.
const EPOCHS: usize = 100;
/// Filters drawn per variant.
const TILES: usize = 16;
/// The plain tied pair's variant (level 0).
pub const PLAIN: &str = "tied_plain";
/// Section id of the clean-MSE chart.
pub const CLEAN_ID: &str = "denoising-clean-mse";
/// Section id of the corrupted-MSE chart.
pub const CORRUPTED_ID: &str = "denoising-corrupted-mse";
/// Section id of the filters.
pub const FILTERS_ID: &str = "denoising-filters";
/// The paper the claims are from.
const PAPER: &str = "Vincent et al. 2010";

/// A kind of input noise of the study.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Noise {
    /// Masking: a fraction ν of the entries set to 0.
    Masking,
    /// Additive Gaussian noise, σ relative to the entry scale.
    Gaussian,
}

impl Noise {
    /// Both kinds, in chart order.
    pub const ALL: [Noise; 2] = [Noise::Masking, Noise::Gaussian];

    /// The word in its variants' names.
    fn word(self) -> &'static str {
        match self {
            Noise::Masking => "mask",
            Noise::Gaussian => "gauss",
        }
    }

    /// Its name in charts and findings.
    fn label(self) -> &'static str {
        match self {
            Noise::Masking => "masking",
            Noise::Gaussian => "Gaussian",
        }
    }

    /// The level's symbol.
    fn symbol(self) -> &'static str {
        match self {
            Noise::Masking => "ν",
            Noise::Gaussian => "σ/sd",
        }
    }

    /// The training corruption at `level` (a Gaussian σ relative to the
    /// fitting rows' entry scale).
    fn corruption(self, level: f64) -> Corruption {
        match self {
            Noise::Masking => Corruption::Masking { fraction: level },
            Noise::Gaussian => Corruption::Gaussian { sigma: level },
        }
    }

    /// A cell's test MSE at level `DENOISING_LEVELS[i]` of this kind.
    fn column(self, m: &DenoisingMetrics, i: usize) -> Option<f64> {
        match self {
            Noise::Masking => m.masked_test_mse[i],
            Noise::Gaussian => m.noisy_test_mse[i],
        }
    }
}

/// The name of the variant trained at `level` of `noise`: [`PLAIN`] at 0,
/// else `tied_mask_NN` or `tied_gauss_NN` with the level in hundredths.
pub fn variant_name(noise: Noise, level: f64) -> String {
    if level == 0.0 {
        PLAIN.to_string()
    } else {
        format!("tied_{}_{}", noise.word(), (level * 100.0).round() as u64)
    }
}

/// The study's variants: the plain tied pair, then one per level of
/// [`DENOISING_LEVELS`], masking first (see the module docs).
pub fn variants() -> Vec<Variant> {
    let tied = |name: String| {
        Variant::new(name, true)
            .activation(Activation::Sigmoid)
            .bias_mode(BiasMode::Separate)
            .metrics(MetricSet::Denoising)
    };
    let mut out = vec![tied(PLAIN.to_string())];
    for noise in Noise::ALL {
        for &level in &DENOISING_LEVELS {
            out.push(tied(variant_name(noise, level)).corruption(noise.corruption(level)));
        }
    }
    out
}

/// The study on `ds`: PCA and [`variants`] at the largest latent size of
/// the preset below the data's width, on every seed of the preset.
///
/// # Errors
/// No latent size below the data's width; no seed.
pub fn study(ds: &Dataset, preset: &Preset, opts: &RunOptions) -> Result<Study> {
    let data = sample(ds, preset)?;
    let d = data.n_features();
    let k = preset
        .latents
        .iter()
        .copied()
        .filter(|&k| k >= 1 && k < d)
        .max()
        .ok_or_else(|| {
            Error::config(
                "latents",
                format!("the denoising study needs a latent size below the data's width {d}"),
            )
        })?;
    if preset.seeds.is_empty() {
        return Err(Error::config("seeds", "the denoising study needs a seed"));
    }
    let training = preset.adam().epochs(EPOCHS.min(preset.epochs).max(1));
    Ok(base("denoising", data, preset, opts)
        .models(&[ModelKind::Pca])
        .variants(&variants())
        .latents(&[k])
        .seeds(&preset.seeds)
        .bias_modes(&[BiasMode::Separate])
        .training(training))
}

/// Runs the study in detail to its frame and its charts ([`charts`]).
///
/// # Errors
/// As [`study`], and a training error.
pub fn output(ds: &Dataset, preset: &Preset, opts: &RunOptions) -> Result<Output> {
    super::detailed_output(study(ds, preset, opts)?, charts)
}

/// A tuned row of the frame with its denoising values.
#[derive(Clone, Debug)]
struct Point {
    row: Row,
    m: DenoisingMetrics,
}

/// The frame's tuned rows ([`select_tuned`]) with their denoising values.
fn points(df: &DataFrame) -> Result<Vec<Point>> {
    let rows = frame_to_rows(df)?;
    let Some((MetricSet::Denoising, values)) = read_extra_columns(df)? else {
        return Err(missing("denoising metric columns"));
    };
    let tuned = select_tuned(&rows);
    Ok(rows
        .into_iter()
        .zip(values)
        .filter(|(row, _)| tuned.contains(row))
        .map(|(row, v)| Point {
            row,
            m: v.denoising.unwrap_or_default(),
        })
        .collect())
}

/// `f` of model `model`'s points, per seed in ascending order (finite
/// values only).
fn per_seed(points: &[Point], model: &str, f: &dyn Fn(&Point) -> Option<f64>) -> Vec<(i64, f64)> {
    let mut v: Vec<(i64, f64)> = points
        .iter()
        .filter(|p| p.row.model == model)
        .filter_map(|p| f(p).filter(|x| x.is_finite()).map(|x| (p.row.seed, x)))
        .collect();
    v.sort_by_key(|(s, _)| *s);
    v
}

/// Median over seeds of `f` of model `model`, NaN when there is none.
fn median_of(points: &[Point], model: &str, f: &dyn Fn(&Point) -> Option<f64>) -> f64 {
    let v: Vec<f64> = per_seed(points, model, f)
        .into_iter()
        .map(|p| p.1)
        .collect();
    median(&v).unwrap_or(f64::NAN)
}

/// The index of [`CLAIM_LEVEL`] in [`DENOISING_LEVELS`].
fn claim_index() -> usize {
    DENOISING_LEVELS
        .iter()
        .position(|&l| l == CLAIM_LEVEL)
        .unwrap_or(0)
}

/// `(level, median clean test MSE)` of `noise`, level 0 (the plain pair)
/// first.
fn clean_series(points: &[Point], noise: Noise) -> Vec<(f64, f64)> {
    std::iter::once(0.0)
        .chain(DENOISING_LEVELS)
        .map(|level| {
            let name = variant_name(noise, level);
            (level, median_of(points, &name, &|p| Some(p.row.test_mse)))
        })
        .collect()
}

/// `(level, median test MSE on corrupted rows)` of `noise` for `model`:
/// at level 0 its clean test MSE; for a denoising model (`own`) its own
/// corrupted MSE at each level's variant, else the level's column of
/// `model` itself.
fn corrupted_series(points: &[Point], noise: Noise, model: Option<&str>) -> Vec<(f64, f64)> {
    let base = model.unwrap_or(PLAIN);
    let mut out = vec![(0.0, median_of(points, base, &|p| Some(p.row.test_mse)))];
    for (i, &level) in DENOISING_LEVELS.iter().enumerate() {
        let v = match model {
            None => median_of(points, &variant_name(noise, level), &|p| {
                p.m.corrupted_test_mse
            }),
            Some(name) => median_of(points, name, &|p| noise.column(&p.m, i)),
        };
        out.push((level, v));
    }
    out
}

/// `min–max` of `v`, as the findings quote a range over seeds.
fn range(v: &[f64]) -> String {
    let lo = v.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if v.is_empty() {
        "none".to_string()
    } else {
        format!("{}–{}", format_or_missing(lo), format_or_missing(hi))
    }
}

/// The study's claims, measured on the tuned `points` (module docs).
fn claims(points: &[Point]) -> Vec<Claim> {
    let i = claim_index();
    let pca = ModelKind::Pca.name();
    let mut out = Vec::new();
    for noise in Noise::ALL {
        let name = variant_name(noise, CLAIM_LEVEL);
        let own = per_seed(points, &name, &|p| p.m.corrupted_test_mse);
        let plain = per_seed(points, PLAIN, &|p| noise.column(&p.m, i));
        let ratios: Vec<f64> = own
            .iter()
            .filter_map(|(s, a)| plain.iter().find(|(t, _)| t == s).map(|(_, b)| a / b))
            .filter(|r| r.is_finite())
            .collect();
        let (kind, symbol) = (noise.label(), noise.symbol());
        out.push(Claim {
            paper: PAPER,
            claim: format!(
                "a tied denoising AE reconstructs {kind}-corrupted inputs better than a plain tied AE"
            ),
            formula: format!(
                "corrupted test MSE, denoising / plain on the same rows, {symbol} = {CLAIM_LEVEL}, median over {} seeds (range {}): medians {} / {} (PCA {})",
                ratios.len(),
                range(&ratios),
                format_or_missing(median_of(points, &name, &|p| p.m.corrupted_test_mse)),
                format_or_missing(median_of(points, PLAIN, &|p| noise.column(&p.m, i))),
                format_or_missing(median_of(points, pca, &|p| noise.column(&p.m, i))),
            ),
            measured: median(&ratios).unwrap_or(f64::NAN),
            tolerance: 1.0,
        });
        let clean = clean_series(points, noise);
        let falls = clean.windows(2).filter(|w| w[1].1 < w[0].1).count();
        let measured = if clean.iter().all(|p| p.1.is_finite()) {
            falls as f64
        } else {
            f64::NAN
        };
        out.push(Claim {
            paper: PAPER,
            claim: format!("{kind} denoising regularises: clean test MSE grows with the noise level"),
            formula: format!(
                "levels where the median clean test MSE over seeds falls; {symbol} = {}: {} (PCA {})",
                clean
                    .iter()
                    .map(|p| format_or_missing(p.0))
                    .collect::<Vec<_>>()
                    .join(", "),
                clean
                    .iter()
                    .map(|p| format_or_missing(p.1))
                    .collect::<Vec<_>>()
                    .join(", "),
                format_or_missing(median_of(points, pca, &|p| Some(p.row.test_mse))),
            ),
            measured,
            tolerance: 0.5,
        });
    }
    out
}

/// The claims as the theory studies' claims table ([`super::claims`]),
/// computed from the study's frame.
///
/// # Errors
/// A frame without the denoising metric columns.
pub fn claims_table(df: &DataFrame) -> Result<DataFrame> {
    claims_frame(&claims(&points(df)?))
}

/// Findings: each claim with its measurement (medians over seeds, the
/// range over seeds quoted), against its tolerance.
///
/// # Errors
/// A frame without the denoising metric columns.
pub fn summary(df: &DataFrame) -> Result<Vec<String>> {
    let points = points(df)?;
    if points.is_empty() {
        return Err(missing("rows"));
    }
    Ok(claims(&points)
        .iter()
        .map(|c| {
            format!(
                "{}: {}: {} against a tolerance of {}: {} ({}).",
                c.paper,
                c.claim,
                if c.measured.is_nan() {
                    "not measured".to_string()
                } else {
                    format!("measured {}", format_or_missing(c.measured))
                },
                format_or_missing(c.tolerance),
                if c.measured < c.tolerance {
                    "pass"
                } else {
                    "fail"
                },
                c.formula
            )
        })
        .collect())
}

/// A chart line with `points`.
fn line(name: &str, points: Vec<(f64, f64)>, color: usize, dashed: bool, markers: bool) -> Line {
    Line {
        name: name.into(),
        points,
        color,
        dashed,
        markers,
    }
}

/// `(level, MSE)` points as the captions quote them: "MSE at level".
fn points_text(points: &[(f64, f64)]) -> String {
    points
        .iter()
        .map(|(x, y)| format!("{} at {}", format_or_missing(*y), format_or_missing(*x)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Clean test MSE against the noise level (medians over seeds), with the
/// plain tied pair and PCA as flat lines.
fn clean_chart(points: &[Point], k: i64) -> Curves {
    let top = DENOISING_LEVELS.iter().copied().fold(0.0, f64::max);
    let plain = median_of(points, PLAIN, &|p| Some(p.row.test_mse));
    let pca = median_of(points, ModelKind::Pca.name(), &|p| Some(p.row.test_mse));
    let flat = |v: f64| vec![(0.0, v), (top, v)];
    let (masking, gaussian) = (
        clean_series(points, Noise::Masking),
        clean_series(points, Noise::Gaussian),
    );
    Curves {
        id: CLEAN_ID.into(),
        title: "Vincent et al. 2010: clean test MSE against noise level".into(),
        caption: format!(
            "Tied sigmoid pairs with k = {k}, each trained at one noise level (masking: fraction ν zeroed; Gaussian: σ in units of the fitting rows' entry scale), tested on clean rows; medians over seeds. Plain tied {}, PCA {}. Masking: {}. Gaussian: {}.",
            format_or_missing(plain),
            format_or_missing(pca),
            points_text(&masking),
            points_text(&gaussian),
        ),
        x_label: "noise level (ν, or σ / sd)".into(),
        y_label: "clean test MSE".into(),
        log_x: false,
        log_y: false,
        series: vec![
            line("masking", masking, 0, false, true),
            line("Gaussian", gaussian, 1, false, true),
            line("plain tied", flat(plain), 2, true, false),
            line("PCA", flat(pca), 3, true, false),
        ],
    }
}

/// Test MSE of corrupted inputs against the noise level (medians over
/// seeds): the denoising pairs, the plain tied pair and PCA, per kind.
fn corrupted_chart(points: &[Point]) -> Curves {
    let pca = ModelKind::Pca.name();
    let at = |noise: Noise| {
        let i = claim_index();
        format!(
            "denoising {}, plain {}, PCA {}",
            format_or_missing(median_of(points, &variant_name(noise, CLAIM_LEVEL), &|p| p
                .m
                .corrupted_test_mse)),
            format_or_missing(median_of(points, PLAIN, &|p| noise.column(&p.m, i))),
            format_or_missing(median_of(points, pca, &|p| noise.column(&p.m, i))),
        )
    };
    let mut series = Vec::new();
    for noise in Noise::ALL {
        let dashed = noise == Noise::Gaussian;
        let kind = noise.label();
        series.push(line(
            &format!("denoising, {kind}"),
            corrupted_series(points, noise, None),
            0,
            dashed,
            true,
        ));
        series.push(line(
            &format!("plain tied, {kind}"),
            corrupted_series(points, noise, Some(PLAIN)),
            2,
            dashed,
            true,
        ));
        series.push(line(
            &format!("PCA, {kind}"),
            corrupted_series(points, noise, Some(pca)),
            3,
            dashed,
            true,
        ));
    }
    Curves {
        id: CORRUPTED_ID.into(),
        title: "Vincent et al. 2010: test MSE of corrupted inputs against noise level".into(),
        caption: format!(
            "Each test row corrupted once with the level's noise, reconstructed towards the clean row; medians over seeds. At level {CLAIM_LEVEL}: masking {}; Gaussian {}.",
            at(Noise::Masking),
            at(Noise::Gaussian)
        ),
        x_label: "noise level (ν, or σ / sd)".into(),
        y_label: "test MSE, corrupted input".into(),
        log_x: false,
        log_y: false,
        series,
    }
}

/// The first filters (decoder rows, the rows of the tied `W`) of every
/// variant's tuned cell on the first seed, when the rows are images.
fn filter_tiles(points: &[Point], details: &DetailedResults) -> Option<Tiles> {
    let d = details.cells.first()?.filters.ncols();
    let (h, w) = details
        .pcas
        .first()
        .and_then(|p| p.image_shape)
        .filter(|(h, w)| h * w == d)?;
    let seed = points.iter().map(|p| p.row.seed).min()?;
    let rows: Vec<(String, Vec<Vec<f64>>)> = variants()
        .iter()
        .filter_map(|v| {
            let point = points
                .iter()
                .find(|p| p.row.seed == seed && p.row.model == v.name.as_str())?;
            let cell = details.cells.iter().find(|c| c.row == point.row)?;
            Some((
                v.name.clone(),
                cell.filters
                    .row_iter()
                    .take(TILES)
                    .map(|r| r.iter().copied().collect())
                    .collect(),
            ))
        })
        .collect();
    if rows.is_empty() {
        return None;
    }
    Some(Tiles {
        id: FILTERS_ID.into(),
        title: "Vincent et al. 2010: filters against noise level".into(),
        caption: format!(
            "The first {TILES} rows of each tied W (seed {seed}), one row of tiles per variant; tied_plain is level 0."
        ),
        shape: (h, w),
        rows,
    })
}

/// The study's charts from a detailed run: clean and corrupted test MSE
/// against the noise level from its frame, and the filters from its
/// cells' artifacts when the data are images.
///
/// # Errors
/// A frame without the denoising metric columns.
pub fn charts(details: &DetailedResults) -> Result<Figures> {
    let points = points(&details.results)?;
    let k = points.first().map_or(0, |p| p.row.latent);
    Ok(Figures {
        curves: vec![clean_chart(&points, k), corrupted_chart(&points)],
        tiles: filter_tiles(&points, details).into_iter().collect(),
    })
}
