//! Study 10: sparse-autoencoder practice beside PCA and a truly tied model.
//! Claim (Gao et al. 2024; issue 17): TopK codes fix L0 directly, an
//! untied model initialised as the tied one stays close to it, and the
//! AuxK loss leaves fewer dead latents; PCA at the same k is the linear
//! reference.
//!
//! On one train/test split (20% test, seeded), per latent size of the
//! preset (over-complete sizes above the data's width are kept: PCA then
//! uses all `d` components) and seed, the variants below train with Adam
//! at the preset's learning rate (one rate for all, no grid: the variants
//! differ in their code, not their tuning), a unit-norm decoder, the
//! pre-encoder bias at the training rows' geometric median, early stopping
//! on 20% of the training rows and dead latents tracked over a window of
//! one pass over the training rows:
//!
//! - `sae_tied_topk`, `sae_untied_topk`, `sae_untied_tied_init_topk`: TopK
//!   with `k_active = max(1, latent / 4)`, tied, untied (independent
//!   decoder draw) and untied from the tied initialisation;
//! - `sae_tied_l1`: tied ReLU with the preset's largest L1 weight instead of
//!   TopK;
//! - `sae_tied_topk_auxk`, `sae_untied_topk_auxk`: the TopK models with AuxK
//!   (`k_aux = max(1, latent / 2)`, `α = 1/32`).
//!
//! Frame: the results columns, then `l0` (mean active latents per test
//! row), `fvu` (test MSE over the test rows' total variance),
//! `dead_fraction_train` (the windowed training-time dead fraction at the
//! end of training; the results column `dead_fraction` counts units
//! constant over the test rows) and `decoder_encoder_cosine` (mean over
//! latents, untied models only). PCA rows have `l0 = k`, and nulls for the
//! training-only columns.

use super::{Preset, RunOptions, median, missing, mse, sample, sig};
use crate::data::{Dataset, train_test_split};
use crate::error::{Error, Result};
use crate::linalg::Pca;
use crate::model::{Activation, Autoencoder, AutoencoderSpec, BiasMode, Init, PreBiasInit};
use crate::model::{LossConfig, fvu, l0};
use crate::study::{Row, rows_to_frame};
use crate::train::{DeadLatents, EarlyStopping, Progress, StopReason, TrainConfig, Trainer};
use nalgebra::DMatrix;
use polars::prelude::{Column, DataFrame};
use std::time::Instant;

/// One trained variant of the study.
#[derive(Clone, Copy, Debug)]
struct Variant {
    name: &'static str,
    tied: bool,
    tied_init: bool,
    top_k: bool,
    auxk: bool,
}

const VARIANTS: [Variant; 6] = [
    Variant {
        name: "sae_tied_topk",
        tied: true,
        tied_init: false,
        top_k: true,
        auxk: false,
    },
    Variant {
        name: "sae_untied_topk",
        tied: false,
        tied_init: false,
        top_k: true,
        auxk: false,
    },
    Variant {
        name: "sae_untied_tied_init_topk",
        tied: false,
        tied_init: true,
        top_k: true,
        auxk: false,
    },
    Variant {
        name: "sae_tied_l1",
        tied: true,
        tied_init: false,
        top_k: false,
        auxk: false,
    },
    Variant {
        name: "sae_tied_topk_auxk",
        tied: true,
        tied_init: false,
        top_k: true,
        auxk: true,
    },
    Variant {
        name: "sae_untied_topk_auxk",
        tied: false,
        tied_init: false,
        top_k: true,
        auxk: true,
    },
];

/// The extra measurements of one row.
struct Extra {
    l0: f64,
    fvu: f64,
    dead_train: Option<f64>,
    cosine: Option<f64>,
}

/// Fraction of latent units constant over the rows of `code`, and the
/// fraction of zero entries (the results columns `dead_fraction` and
/// `sparsity`).
fn dead_and_sparsity(code: &DMatrix<f32>) -> (f64, f64) {
    let (n, r) = code.shape();
    if n == 0 || r == 0 {
        return (0.0, 0.0);
    }
    let constant = (0..r)
        .filter(|&j| code.column(j).iter().all(|&v| v == code[(0, j)]))
        .count();
    let zeros = code.iter().filter(|&&v| v == 0.0).count();
    (constant as f64 / r as f64, zeros as f64 / (n * r) as f64)
}

/// Runs the study to its frame.
pub fn run(ds: &Dataset, preset: &Preset, _opts: &RunOptions) -> Result<DataFrame> {
    let data = sample(ds, preset)?;
    let (train, test) = train_test_split(&data, 0.2, 0)?;
    let (xtr, xte) = (train.x_as::<f32>(), test.x_as::<f32>());
    let d = data.n_features();
    let latents: Vec<usize> = preset.latents.iter().copied().filter(|&k| k >= 1).collect();
    if latents.is_empty() {
        return Err(Error::config(
            "latents",
            "the sae study needs a latent size",
        ));
    }
    let l1 = preset
        .sparsity_weights
        .iter()
        .copied()
        .fold(0.0f64, f64::max)
        .max(1e-3);
    let mut rows = Vec::new();
    let mut extras = Vec::new();
    for &k in &latents {
        let kp = k.min(d).min(xtr.nrows());
        let t0 = Instant::now();
        let pca = Pca::count(kp).fit(&xtr)?;
        let pca_seconds = t0.elapsed().as_secs_f64();
        let pca_rec = pca.reconstruct(&xte)?;
        let pca_test = mse(&xte, &pca_rec);
        let pca_train = mse(&xtr, &pca.reconstruct(&xtr)?);
        for &seed in &preset.seeds {
            rows.push(Row {
                dataset: data.name().to_string(),
                model: "pca".into(),
                activation: "identity".into(),
                bias_mode: BiasMode::PreCentering.name().into(),
                latent: k as i64,
                params: pca.parameter_count() as i64,
                n_train: xtr.nrows() as i64,
                seed: seed as i64,
                l2: 0.0,
                sparsity_weight: 0.0,
                train_mse: pca_train,
                test_mse: pca_test,
                pca_test_mse: pca_test,
                ratio_to_pca: 1.0,
                epochs: 0,
                seconds: pca_seconds,
                max_angle_deg: None,
                mean_angle_deg: None,
                wwt_minus_i: None,
                dead_fraction: 0.0,
                sparsity: 0.0,
                learning_rate: None,
                best_epoch: 0,
                val_mse: pca_train,
                stop_reason: "closed_form".into(),
                val_mse_at_budget: None,
            });
            extras.push(Extra {
                l0: kp as f64,
                fvu: fvu(&xte, &pca_rec)?,
                dead_train: None,
                cosine: None,
            });
            for v in VARIANTS {
                let (row, extra) = train_variant(v, k, seed, preset, l1, &data, &xtr, &xte)?;
                let mut row = row;
                row.pca_test_mse = pca_test;
                // PCA is exact when k reaches the data's rank: then the
                // ratio is +inf (1 if the model is exact too), never NaN.
                row.ratio_to_pca = if pca_test > 0.0 {
                    row.test_mse / pca_test
                } else if row.test_mse == 0.0 {
                    1.0
                } else {
                    f64::INFINITY
                };
                rows.push(row);
                extras.push(extra);
            }
        }
    }
    let mut df = rows_to_frame(&rows)?;
    let col = |name: &str, f: &dyn Fn(&Extra) -> Option<f64>| {
        Column::new(name.into(), extras.iter().map(f).collect::<Vec<_>>())
    };
    df.with_column(col("l0", &|e| Some(e.l0)))?;
    df.with_column(col("fvu", &|e| Some(e.fvu)))?;
    df.with_column(col("dead_fraction_train", &|e| e.dead_train))?;
    df.with_column(col("decoder_encoder_cosine", &|e| e.cosine))?;
    Ok(df)
}

#[allow(clippy::too_many_arguments)]
fn train_variant(
    v: Variant,
    k: usize,
    seed: u64,
    preset: &Preset,
    l1: f64,
    data: &Dataset,
    xtr: &DMatrix<f32>,
    xte: &DMatrix<f32>,
) -> Result<(Row, Extra)> {
    let d = xtr.ncols();
    let k_active = (k / 4).max(1);
    let act = if v.top_k {
        Activation::TopK { k: k_active }
    } else {
        Activation::Relu
    };
    let spec = AutoencoderSpec::new(&[d, k])
        .activation(act)
        .bias(BiasMode::PreCentering)
        .tied(v.tied)
        .init(if v.tied_init {
            Init::TiedGlorotUniform
        } else {
            Init::GlorotUniform
        });
    let mut model = Autoencoder::<f32>::new(&spec, seed)?;
    model.init_pre_bias(xtr, PreBiasInit::geometric_median())?;
    let window = xtr.nrows();
    let mut dead = DeadLatents::window(window);
    if v.auxk {
        dead = dead.with_auxk((k / 2).max(1), 1.0 / 32.0);
    }
    let loss = if v.top_k {
        LossConfig::mse()
    } else {
        LossConfig::mse().with_l1(l1)
    };
    let mut cfg: TrainConfig = preset
        .adam()
        .loss(loss)
        .seed(seed)
        .progress(Progress::Silent)
        .unit_norm_decoder(true)
        .dead_latents(dead)
        .validation_fraction(0.2);
    if let Some(p) = preset.patience {
        cfg = cfg.early_stopping(EarlyStopping::patience(p));
    }
    let t0 = Instant::now();
    let out = Trainer::new(cfg)?.fit(model, xtr)?;
    let seconds = t0.elapsed().as_secs_f64();
    let m = &out.model;
    let code = m.encode(xte)?;
    let (dead_fraction, sparsity) = dead_and_sparsity(&code);
    let test_mse = m.reconstruction_mse(xte)?;
    let train_mse = m.reconstruction_mse(xtr)?;
    let last = out.history.last();
    let best = out.best_epoch.unwrap_or(out.history.len());
    let val_mse = out
        .history
        .epochs
        .get(best.saturating_sub(1))
        .and_then(|r| r.val_reconstruction)
        .unwrap_or(train_mse);
    let row = Row {
        dataset: data.name().to_string(),
        model: v.name.into(),
        activation: act.name(),
        bias_mode: BiasMode::PreCentering.name().into(),
        latent: k as i64,
        params: m.n_params() as i64,
        n_train: xtr.nrows() as i64,
        seed: seed as i64,
        l2: 0.0,
        sparsity_weight: if v.top_k { 0.0 } else { l1 },
        train_mse,
        test_mse,
        pca_test_mse: f64::NAN,
        ratio_to_pca: f64::NAN,
        epochs: out.history.len() as i64,
        seconds,
        max_angle_deg: None,
        mean_angle_deg: None,
        wwt_minus_i: None,
        dead_fraction,
        sparsity,
        learning_rate: Some(preset.learning_rate),
        best_epoch: best as i64,
        val_mse,
        stop_reason: match out.stop {
            StopReason::EarlyStopped { .. } => "patience".into(),
            StopReason::Completed => "max_epochs".into(),
            StopReason::Converged(_) => "converged".into(),
        },
        val_mse_at_budget: None,
    };
    let extra = Extra {
        l0: l0(&code)?,
        fvu: fvu(xte, &m.reconstruct(xte)?)?,
        dead_train: last.and_then(|r| r.dead_fraction),
        cosine: m.mean_decoder_encoder_cosine(),
    };
    Ok((row, extra))
}

/// One variant's point of the L0 / FVU trade-off.
#[derive(Clone, Debug, PartialEq)]
pub struct ParetoPoint {
    /// The model name (`pca` or a variant).
    pub model: String,
    /// Median L0 over latents and seeds.
    pub l0: f64,
    /// Median FVU.
    pub fvu: f64,
    /// Median training-time dead fraction (none for PCA).
    pub dead_fraction: Option<f64>,
}

/// Per variant (PCA first, then study order), medians over latents and
/// seeds of L0, FVU and the training-time dead fraction.
pub fn pareto(df: &DataFrame) -> Result<Vec<ParetoPoint>> {
    let get = |name: &str| -> Result<Vec<Option<f64>>> {
        Ok(df
            .column(name)
            .map_err(|_| missing(name))?
            .f64()
            .map_err(|_| missing(name))?
            .iter()
            .collect())
    };
    let models: Vec<Option<String>> = df
        .column("model")
        .map_err(|_| missing("model"))?
        .str()
        .map_err(|_| missing("model"))?
        .iter()
        .map(|s| s.map(str::to_string))
        .collect();
    let (l0s, fvus, deads) = (get("l0")?, get("fvu")?, get("dead_fraction_train")?);
    let names = std::iter::once("pca").chain(VARIANTS.iter().map(|v| v.name));
    Ok(names
        .filter_map(|name| {
            let pick = |col: &[Option<f64>]| -> Vec<f64> {
                models
                    .iter()
                    .zip(col)
                    .filter(|(m, _)| m.as_deref() == Some(name))
                    .filter_map(|(_, v)| *v)
                    .collect()
            };
            Some(ParetoPoint {
                model: name.to_string(),
                l0: median(&pick(&l0s))?,
                fvu: median(&pick(&fvus))?,
                dead_fraction: median(&pick(&deads)),
            })
        })
        .collect())
}

/// Findings: the L0/FVU/dead-fraction table in one sentence per variant,
/// and whether AuxK lowered the dead fraction of the tied TopK model.
pub fn summary(df: &DataFrame) -> Result<Vec<String>> {
    let p = pareto(df)?;
    if p.len() < 2 {
        return Err(missing("sae variant rows"));
    }
    let mut out: Vec<String> = p
        .iter()
        .map(|pt| {
            format!(
                "{}: median L0 {}, FVU {}{}.",
                pt.model,
                sig(pt.l0),
                sig(pt.fvu),
                pt.dead_fraction
                    .map_or(String::new(), |d| format!(", dead fraction {}", sig(d)))
            )
        })
        .collect();
    let dead_of = |n: &str| {
        p.iter()
            .find(|r| r.model == n)
            .and_then(|r| r.dead_fraction)
    };
    if let (Some(a), Some(b)) = (dead_of("sae_tied_topk"), dead_of("sae_tied_topk_auxk")) {
        out.push(format!(
            "AuxK {} the tied TopK model's median dead fraction ({} without, {} with).",
            if b < a {
                "lowered"
            } else if b == a {
                "did not change"
            } else {
                "raised"
            },
            sig(a),
            sig(b)
        ));
    }
    Ok(out)
}
