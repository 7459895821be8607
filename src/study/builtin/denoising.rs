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
//! Setup: the preset's sample of the dataset, a seeded 80/20 split (seed
//! 0), uncentred (masking means "set to 0", the background of image
//! data). One tied pair per noise level: sigmoid hidden units, identity
//! output, separate biases, the largest latent size of the preset below
//! the data's width, Adam at the preset's rate and batch size for
//! `min(100, preset epochs)` epochs, seed the preset's first. Levels:
//! masking ν ∈ [`MASKING`] and Gaussian σ = level × the training entries'
//! standard deviation, level ∈ [`GAUSSIAN`]; level 0 is the plain tied
//! pair, trained without corruption. PCA with the same `k` is fitted on
//! the training rows.
//!
//! Measured on the test rows: the clean test MSE (clean input, clean
//! target), and the corrupted test MSE (each test row corrupted once,
//! seeded, with the model's own noise; clean target) of the denoising
//! model, of the plain tied pair and of PCA.
//!
//! Claims (rows of the theory study's claims table):
//! 1. a denoising AE reconstructs corrupted inputs better than the plain
//!    one: its corrupted test MSE over the plain pair's, at ν = 0.25 and at
//!    σ = 0.25 (each below 1);
//! 2. denoising regularises: over the levels of each kind (0 included),
//!    the number of consecutive levels where the clean test MSE falls
//!    (tolerance 0.5: it must never fall).
//!
//! Figures: clean test MSE against noise level (plain tied and PCA flat),
//! corrupted test MSE against noise level, and the first filters (rows of
//! `W`) per level when the data are images.

use super::claims::{Claim, claims_frame};
use super::{Output, Preset, mse, sample};
use crate::data::{Dataset, train_test_split};
use crate::error::{Error, Result};
use crate::linalg::Pca;
use crate::model::{Activation, Autoencoder, AutoencoderSpec, BiasMode};
use crate::number::format_or_missing;
use crate::study::{Curves, Figures, Line, Tiles};
use crate::train::{Corruption, Optimizer, Progress, Trainer};
use nalgebra::DMatrix;

/// Masking fractions ν (0: the plain tied pair).
pub const MASKING: [f64; 4] = [0.0, 0.1, 0.25, 0.5];
/// Gaussian σ in units of the training entries' standard deviation.
pub const GAUSSIAN: [f64; 4] = [0.0, 0.1, 0.25, 0.5];
/// The level of the "better than plain" claims.
const CLAIM_LEVEL: f64 = 0.25;
/// Epoch cap of every run.
const EPOCHS: usize = 100;
/// Filters drawn per level.
const TILES: usize = 16;
/// Seed of the test rows' corruption.
const TEST_NOISE_SEED: u64 = 0x7e57;

/// One noise level's measurements.
#[derive(Clone, Debug)]
pub struct Level {
    /// `masking` or `gaussian`.
    pub kind: &'static str,
    /// ν, or σ over the entries' standard deviation.
    pub level: f64,
    /// Clean test MSE of the model trained at this level.
    pub clean_mse: f64,
    /// Its test MSE on corrupted test rows (clean targets).
    pub corrupted_mse: f64,
    /// The plain tied pair's MSE on the same corrupted rows.
    pub plain_corrupted_mse: f64,
    /// PCA's MSE on the same corrupted rows.
    pub pca_corrupted_mse: f64,
    /// The trained tied weight `W` (k x d).
    pub weight: DMatrix<f64>,
}

/// Everything the study measured.
#[derive(Clone, Debug)]
pub struct Measured {
    /// Latent size.
    pub k: usize,
    /// PCA's clean test MSE with `k` components.
    pub pca_mse: f64,
    /// The training entries' standard deviation (Gaussian σ's unit).
    pub scale: f64,
    /// Masking levels, then Gaussian ones, in the constants' order.
    pub levels: Vec<Level>,
}

fn corruption(kind: &str, level: f64, scale: f64) -> Option<Corruption> {
    if level == 0.0 {
        None
    } else if kind == "masking" {
        Some(Corruption::Masking { fraction: level })
    } else {
        Some(Corruption::Gaussian {
            sigma: level * scale,
        })
    }
}

/// Trains and measures every level on `ds` (see the module docs).
///
/// # Errors
/// No latent size below the data's width, too few rows, or a training
/// error.
pub fn measure(ds: &Dataset, preset: &Preset) -> Result<Measured> {
    let data = sample(ds, preset)?;
    let (train, test) = train_test_split(&data, 0.2, 0)?;
    let (xtr, xte) = (train.x_as::<f64>(), test.x_as::<f64>());
    let d = data.n_features();
    let k = preset
        .latents
        .iter()
        .copied()
        .filter(|&k| k >= 1 && k < d && k <= xtr.nrows())
        .max()
        .ok_or_else(|| {
            Error::config(
                "latents",
                format!("the denoising study needs a latent size below the data's width {d}"),
            )
        })?;
    let mean = xtr.row_mean();
    let scale = (xtr
        .row_iter()
        .map(|r| (r - &mean).norm_squared())
        .sum::<f64>()
        / xtr.len().max(1) as f64)
        .sqrt();
    let pca = Pca::count(k).fit(&xtr)?;
    let pca_mse = mse(&xte, &pca.reconstruct(&xte)?);
    let seed = preset.seeds.first().copied().unwrap_or(0);
    let spec = AutoencoderSpec::new(&[d, k])
        .tied(true)
        .activation(Activation::Sigmoid)
        .bias(BiasMode::Separate);
    let (xtr32, xte32) = (train.x_as::<f32>(), test.x_as::<f32>());
    let fit = |c: Option<Corruption>| -> Result<Autoencoder<f32>> {
        let mut cfg = preset
            .adam()
            .epochs(EPOCHS.min(preset.epochs).max(1))
            .seed(seed)
            .progress(Progress::Silent)
            .optimizer(Optimizer::adam());
        if let Some(c) = c {
            cfg = cfg.corruption(c);
        }
        Ok(Trainer::new(cfg)?
            .fit(Autoencoder::new(&spec, seed)?, &xtr32)?
            .model)
    };
    let plain = fit(None)?;
    let rows: Vec<usize> = (0..xte.nrows()).collect();
    let mut levels = Vec::new();
    for (kind, list) in [("masking", &MASKING), ("gaussian", &GAUSSIAN)] {
        for &level in list.iter() {
            let c = corruption(kind, level, scale);
            let model = match c {
                None => plain.clone(),
                Some(c) => fit(Some(c))?,
            };
            let mut noisy = xte32.clone();
            if let Some(c) = c {
                c.apply(&mut noisy, &rows, TEST_NOISE_SEED)?;
            }
            let noisy64 = noisy.map(|v| v as f64);
            levels.push(Level {
                kind,
                level,
                clean_mse: mse(&xte32, &model.reconstruct(&xte32)?),
                corrupted_mse: mse(&xte32, &model.reconstruct(&noisy)?),
                plain_corrupted_mse: mse(&xte32, &plain.reconstruct(&noisy)?),
                pca_corrupted_mse: mse(&xte, &pca.reconstruct(&noisy64)?),
                weight: model.layers()[0].encoder_weight().map(|v| v as f64),
            });
        }
    }
    Ok(Measured {
        k,
        pca_mse,
        scale,
        levels,
    })
}

fn claims(m: &Measured) -> Vec<Claim> {
    let paper = "Vincent et al. 2010";
    let mut out = Vec::new();
    for kind in ["masking", "gaussian"] {
        let of: Vec<&Level> = m.levels.iter().filter(|l| l.kind == kind).collect();
        let symbol = if kind == "masking" { "ν" } else { "σ/sd" };
        if let Some(l) = of.iter().find(|l| l.level == CLAIM_LEVEL) {
            out.push(Claim {
                paper,
                claim: format!(
                    "a tied denoising AE reconstructs {kind}-corrupted inputs better than a plain tied AE"
                ),
                formula: format!(
                    "corrupted test MSE, denoising / plain, {symbol} = {CLAIM_LEVEL}: {} / {} (PCA {})",
                    format_or_missing(l.corrupted_mse),
                    format_or_missing(l.plain_corrupted_mse),
                    format_or_missing(l.pca_corrupted_mse)
                ),
                measured: l.corrupted_mse / l.plain_corrupted_mse,
                tolerance: 1.0,
            });
        }
        let falls = of
            .windows(2)
            .filter(|w| w[1].clean_mse < w[0].clean_mse)
            .count();
        out.push(Claim {
            paper,
            claim: format!(
                "{kind} denoising regularises: clean test MSE grows with the noise level"
            ),
            formula: format!(
                "levels where clean test MSE falls; {symbol} = {}: {} (PCA {}, k = {})",
                of.iter()
                    .map(|l| format_or_missing(l.level))
                    .collect::<Vec<_>>()
                    .join(", "),
                of.iter()
                    .map(|l| format_or_missing(l.clean_mse))
                    .collect::<Vec<_>>()
                    .join(", "),
                format_or_missing(m.pca_mse),
                m.k
            ),
            measured: falls as f64,
            tolerance: 0.5,
        });
    }
    out
}

/// `(level, f(level))` for the levels of noise `kind`, in measuring order.
fn series_of(m: &Measured, kind: &str, f: &dyn Fn(&Level) -> f64) -> Vec<(f64, f64)> {
    m.levels
        .iter()
        .filter(|l| l.kind == kind)
        .map(|l| (l.level, f(l)))
        .collect()
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

/// Clean test MSE against the noise level, with the plain tied pair and
/// PCA as flat lines.
fn clean_chart(m: &Measured) -> Curves {
    let top = MASKING.iter().chain(&GAUSSIAN).copied().fold(0.0, f64::max);
    let plain = m
        .levels
        .iter()
        .find(|l| l.level == 0.0)
        .map_or(f64::NAN, |l| l.clean_mse);
    let flat = |v: f64| vec![(0.0, v), (top, v)];
    Curves {
        id: "denoising-clean-mse".into(),
        title: "Vincent et al. 2010: clean test MSE against noise level".into(),
        caption: format!(
            "Tied sigmoid pairs with k = {}, each trained at one noise level (masking: fraction ν zeroed; Gaussian: σ in units of the entries' standard deviation {}), tested on clean rows. Plain tied {}, PCA {}. Masking: {}. Gaussian: {}.",
            m.k,
            format_or_missing(m.scale),
            format_or_missing(plain),
            format_or_missing(m.pca_mse),
            points_text(&series_of(m, "masking", &|l| l.clean_mse)),
            points_text(&series_of(m, "gaussian", &|l| l.clean_mse)),
        ),
        x_label: "noise level (ν, or σ / sd)".into(),
        y_label: "clean test MSE".into(),
        log_x: false,
        log_y: false,
        series: vec![
            line(
                "masking",
                series_of(m, "masking", &|l| l.clean_mse),
                0,
                false,
                true,
            ),
            line(
                "Gaussian",
                series_of(m, "gaussian", &|l| l.clean_mse),
                1,
                false,
                true,
            ),
            line("plain tied", flat(plain), 2, true, false),
            line("PCA", flat(m.pca_mse), 3, true, false),
        ],
    }
}

/// The three corrupted-input MSEs of noise `kind` at [`CLAIM_LEVEL`], as
/// the corrupted chart's caption quotes them.
fn at_claim_level(m: &Measured, kind: &str) -> String {
    m.levels
        .iter()
        .find(|l| l.kind == kind && l.level == CLAIM_LEVEL)
        .map_or("not measured".to_string(), |l| {
            format!(
                "denoising {}, plain {}, PCA {}",
                format_or_missing(l.corrupted_mse),
                format_or_missing(l.plain_corrupted_mse),
                format_or_missing(l.pca_corrupted_mse)
            )
        })
}

/// Test MSE of corrupted inputs against the noise level: the denoising
/// pair, the plain tied pair and PCA, per noise kind.
fn corrupted_chart(m: &Measured) -> Curves {
    Curves {
        id: "denoising-corrupted-mse".into(),
        title: "Vincent et al. 2010: test MSE of corrupted inputs against noise level".into(),
        caption: format!(
            "Each test row corrupted once with the model's own noise, reconstructed towards the clean row. At level {CLAIM_LEVEL}: masking {}; Gaussian {}.",
            at_claim_level(m, "masking"),
            at_claim_level(m, "gaussian")
        ),
        x_label: "noise level (ν, or σ / sd)".into(),
        y_label: "test MSE, corrupted input".into(),
        log_x: false,
        log_y: false,
        series: vec![
            line(
                "denoising, masking",
                series_of(m, "masking", &|l| l.corrupted_mse),
                0,
                false,
                true,
            ),
            line(
                "plain tied, masking",
                series_of(m, "masking", &|l| l.plain_corrupted_mse),
                2,
                false,
                true,
            ),
            line(
                "PCA, masking",
                series_of(m, "masking", &|l| l.pca_corrupted_mse),
                3,
                false,
                true,
            ),
            line(
                "denoising, Gaussian",
                series_of(m, "gaussian", &|l| l.corrupted_mse),
                0,
                true,
                true,
            ),
            line(
                "plain tied, Gaussian",
                series_of(m, "gaussian", &|l| l.plain_corrupted_mse),
                2,
                true,
                true,
            ),
            line(
                "PCA, Gaussian",
                series_of(m, "gaussian", &|l| l.pca_corrupted_mse),
                3,
                true,
                true,
            ),
        ],
    }
}

/// The first filters of each level's tied weight, when the rows are
/// images of `image_shape`.
fn filter_tiles(m: &Measured, image_shape: Option<(usize, usize)>) -> Option<Tiles> {
    let (h, w) = image_shape?;
    if m.levels.first().is_none_or(|l| l.weight.ncols() != h * w) {
        return None;
    }
    Some(Tiles {
        id: "denoising-filters".into(),
        title: "Vincent et al. 2010: filters against noise level".into(),
        caption: format!(
            "The first {} rows of each tied W (k = {}), one row of tiles per noise level; the plain tied pair is level 0.",
            TILES.min(m.k),
            m.k
        ),
        shape: (h, w),
        rows: m
            .levels
            .iter()
            .filter(|l| l.kind == "masking" || l.level > 0.0)
            .map(|l| {
                (
                    format!("{} {}", l.kind, format_or_missing(l.level)),
                    l.weight
                        .row_iter()
                        .take(TILES)
                        .map(|r| r.iter().copied().collect())
                        .collect(),
                )
            })
            .collect(),
    })
}

/// The study's charts from its measurements: clean and corrupted test MSE
/// against the noise level, and filters when `image_shape` is given.
pub fn figures(m: &Measured, image_shape: Option<(usize, usize)>) -> Figures {
    Figures {
        curves: vec![clean_chart(m), corrupted_chart(m)],
        tiles: filter_tiles(m, image_shape).into_iter().collect(),
    }
}

/// Runs the study: its claims table (the theory study's columns) and its
/// charts.
///
/// # Errors
/// As [`measure`].
pub fn output(ds: &Dataset, preset: &Preset) -> Result<Output> {
    let m = measure(ds, preset)?;
    Ok(Output {
        frame: claims_frame(&claims(&m))?,
        figures: figures(&m, ds.image_shape()),
    })
}
