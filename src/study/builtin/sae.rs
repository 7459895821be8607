//! Study 10: sparse-autoencoder practice beside PCA and a truly tied model.
//! Claim (Gao et al. 2024): TopK codes fix L0 directly, an
//! untied model initialised as the tied one stays close to it, and the
//! AuxK loss leaves fewer dead latents; PCA at the same k is the linear
//! reference; JumpReLU (Rajamanoharan et al. 2024, as SAELens trains it)
//! learns its sparsity from an L0 penalty, tied or untied.
//!
//! An ordinary grid of cells ([`study`]): PCA and eight named variants
//! ([`variants`], each a [`Variant`]) at the preset's latent sizes, on the
//! preset's seeds, under the standard protocol (each seed's own split and
//! validation carve, early stopping, the preset's learning-rate grid, the
//! protocol's step cap when one is set), cached, sharded and merged like
//! every study. Every variant has a unit-norm decoder, the pre-encoder
//! bias at the fitting rows' geometric median and dead latents tracked
//! over a window of one pass over the fitting rows. Each aims at the
//! study's target active count `m = max(1, latent / 16)` ([`k_active`],
//! [`ACTIVE_DIVISOR`]):
//!
//! - `sae_tied_topk`, `sae_untied_topk`, `sae_untied_tied_init_topk`: TopK
//!   with `k = m`, tied, untied (independent decoder draw) and untied from
//!   the tied initialisation;
//! - `sae_tied_l1`: tied ReLU with an L1 code penalty, one cell per weight
//!   of [`l1_grid`] (the study's sparsity weights);
//! - `sae_tied_topk_auxk`, `sae_untied_topk_auxk`: the TopK models with AuxK
//!   (`k_aux = max(1, latent / 2)`, `α = 1/32`);
//! - `sae_tied_jumprelu`, `sae_untied_jumprelu`: JumpReLU with SAELens's
//!   defaults ([`Activation::jump_relu`]: bandwidth 0.05, initial threshold
//!   0.01, `JumpReLUTrainingSAEConfig` in `sae_lens/saes/jumprelu_sae.py`)
//!   and its `step` L0 penalty, one cell per weight of [`L0_WEIGHTS`]
//!   (an [`L0Rule`]), tied and untied.
//!
//! # L1 weight
//! The loss is `Σ(x̂ − x)² / (N d) + λ Σ|h| / N`: for a ReLU unit with a
//! unit-norm decoder direction `w`, the L1 term pays for itself only when
//! the unit's projection of the residual exceeds `τ = λ d / 2` (the
//! derivative of the loss in `h`). So the weights are written as thresholds
//! relative to the data's scale: `λ = 2 f s / d`, with `s` the root mean
//! squared distance of the rows to their mean and `f` in
//! [`L1_THRESHOLDS`] (1/128 to 1/2, ×2 apart) ([`l1_grid`]). The rows are
//! the training part of the first seed's split (fitting and validation
//! rows; the test rows play no part): one grid for the whole study, as a
//! study's sparsity weights are. A fixed `λ` would mean different things
//! on different data. Every weight is a cell on every seed; per latent
//! size the findings and charts read the weight whose mean training L0
//! (`l0_train`, over the seeds of its tuned learning rate) is nearest the
//! target `m` in ratio ([`pick_weight`], ties to the smaller weight), so L1 and
//! TopK are compared at about the same sparsity; the other weights stay
//! in the frame as tried. The test rows play no part in the choice.
//!
//! # L0 weight
//! The JumpReLU variants' weights are chosen the same way: every weight
//! `w` of [`L0_WEIGHTS`] is a cell on every seed, and per latent size the
//! one whose mean training L0 is nearest `m` is read. A weight is the
//! penalty of a row with `m` active latents in units of the fitting rows'
//! variance: the cell's L0 coefficient is `λ₀ = w v / m`, `v` their mean
//! squared distance per entry to their mean (the variant docs say why;
//! [`crate::study::L0Rule::coefficient`]). The frame's `sparsity_weight`
//! holds `w`.
//!
//! # Latent sizes
//! The study compares under- and over-complete codes, so sizes above the
//! data's width `d` are kept (the study is over-complete,
//! [`Study::overcomplete`](crate::study::Study#structfield.overcomplete):
//! PCA then uses all the components it has). When the caller gives no
//! sizes (the report without `--latent`), they come from
//! [`default_latents`]: three powers of two, log-spaced from
//! `min(32, d/4)` to `min(1024, 4d)` (mnist10k, `d = 784`: 32, 256, 1024;
//! digits, `d = 64`: 16, 64, 256). Why: one clearly under-complete size
//! where PCA is a fair reference, one near the width, one over-complete
//! size as in SAE practice.
//!
//! # Frame
//! The results columns, then the columns of [`SAE_COLUMNS`]: `l0` (mean
//! active latents per test row), `fvu` (test MSE over the test rows' total
//! variance), `dead_fraction_train` (the windowed training-time dead
//! fraction at the end of training; the results column `dead_fraction`
//! counts units constant over the test rows), `decoder_encoder_cosine`
//! (mean over latents, untied models only), the sparse-autoencoder peers'
//! diagnostics on the test rows (the definitions and their sources are in
//! [`crate::study::metrics`]): `dead_latents`, `dense_latents`,
//! `shrinkage` and `l2_ratio`; and `l0_train`, the L0 on the fitting rows
//! the L1 and L0 weight choices read. PCA rows have `l0 = min(k, d)`,
//! nulls for the training-only columns and the latent counts (PCA's scores
//! are no sparse code), and their shrinkage and ℓ2 ratio as the linear
//! reference. Every trained cell of the learning-rate grid is a row;
//! findings and charts read the tuned ones ([`select_tuned`]).
//!
//! # Figures
//! [`charts`] draws from a detailed run: the L0/FVU trade-off per variant
//! (medians over seeds per latent size: [`pareto_by_latent`]), the
//! training-time dead fraction over epochs of the TopK variants (first
//! seed, largest size, from the cells' histories), the histogram of the
//! latents' firing densities on the test rows (first seed, largest size,
//! from the cells' [`Firing`], in [`density_bin_edges`]'s bins), the L1
//! weight choice (mean training L0 against λ per size), the JumpReLU
//! weight choice (mean training L0 against `w` per variant and size) and,
//! for image data, the first 16 decoder directions of every variant beside
//! PCA's components (first seed, largest size).

use super::{Output, Preset, RunOptions, base, median, missing, sample};
use crate::data::{Dataset, train_test_split};
use crate::error::{Error, Result};
use crate::model::{Activation, BiasMode, Init, PreBiasInit};
use crate::number::format_or_missing;
use crate::real::Real;
use crate::stats::{Direction, holm, paired_t};
use crate::study::metrics::{
    DENSE_DENSITY, dead_count, dense_count, density_bin_edges, density_histogram,
};
use crate::study::verdict::signed;
use crate::study::{
    AuxKRule, CellArtifacts, Curves, DeadLatentsRule, DetailedResults, Figures, Firing, L0Rule,
    Line, MetricSet, ModelKind, Row, SAE_COLUMNS, SaeMetrics, Study, Tiles, Variant, frame_to_rows,
    read_sae_columns, select_tuned,
};
use nalgebra::DMatrix;
use polars::prelude::{DataFrame, DataType};
use std::collections::{BTreeMap, BTreeSet};

/// Largest default latent size: the over-complete end of
/// [`default_latents`].
pub const MAX_DEFAULT_LATENT: usize = 1024;
/// Smallest default latent size at most this (under-complete end).
pub const MIN_DEFAULT_LATENT: usize = 32;
/// L1 thresholds `f` relative to the data's scale (see [`l1_grid`]):
/// a ReLU unit pays for its L1 term only for a residual projection above
/// `f s`. The largest, 1/2, lets a unit fire only where it explains more
/// than a quarter of an average row's squared distance to the mean, as a
/// target of one active latent at the smallest sizes asks; the smallest,
/// 1/128, leaves the over-complete sizes room to reach theirs. ×2 apart:
/// a tied ReLU code's L0 falls steeply in the weight (on mnist10k, at ×4
/// apart, from 14 active latents to none between two neighbours at 32
/// latents, from 33 to none at 256), so a coarser grid can leave no
/// weight near the target.
pub const L1_THRESHOLDS: [f64; 7] = [
    1.0 / 128.0,
    1.0 / 64.0,
    1.0 / 32.0,
    1.0 / 16.0,
    1.0 / 8.0,
    1.0 / 4.0,
    1.0 / 2.0,
];
/// The JumpReLU variants' L0 weights `w` (see the module docs): the
/// penalty, in units of the fitting rows' variance (an FVU of 1), of a row
/// with the target count `m` of active latents; the cell's coefficient is
/// `λ₀ = w v / m` ([`L0Rule::coefficient`]).
///
/// Why these three: in those units the loss is `FVU + w L0 / m`, so a
/// latent fires on a row only where it lowers the row's share of the
/// FVU by more than `w / m`. If `m` active latents explain `1 − FVU`, the
/// average one explains `(1 − FVU) / m` and the last, the one the weight
/// decides on, less; with an FVU of 0.1 to 0.7 at these sizes the weight
/// that leaves about `m` active is a fraction of `1 − FVU`, 0.1 to 0.5.
/// The grid brackets that ×4 apart: 1/64 and 1/16 (denser than `m`), 1/4,
/// and 1 (a row's `m` latents would have to pay for all its variance:
/// sparser). 1/64 because a tied JumpReLU code at 1024 latents on mnist10k
/// stayed below its target at 1/16 (41 active latents of a target of 64).
/// SAELens's default `l0_coefficient` of 1 on its summed squared error is
/// `λ₀ = 1/d` here (see [`crate::model::LossConfig::l0`]), `w = m / (d v)`:
/// on digits (`v ≈ 0.07`, `d = 64`) about `0.2 m`, inside the grid at one
/// active latent.
pub const L0_WEIGHTS: [f64; 4] = [1.0 / 64.0, 1.0 / 16.0, 1.0 / 4.0, 1.0];
/// The study's epoch cap is at least this (the preset's when larger).
/// Early stopping ends nearly every run long before it, but the sparse
/// codes need more steps than the dense models the presets were sized
/// for: a JumpReLU threshold is learned as `ln θ` under Adam, so it moves
/// by about the learning rate per step, and a small L1 weight's code thins
/// slowly. On mnist10k under the quick preset's cap of 100 epochs, tied
/// JumpReLU and L1 runs at 256 and 1024 latents stopped at the cap with
/// their validation loss still falling; raised to 1000, the slowest
/// (tied JumpReLU, 1024 latents, the largest weight) stopped by patience
/// at 153. A run that stops by patience before the cap is the same
/// whatever the cap. See [`epoch_cap`].
pub const MIN_EPOCHS: usize = 500;

/// The study's epoch cap under `preset`: at least [`MIN_EPOCHS`] when the
/// preset stops early (the floor only lets early stopping be what ends a
/// run), the preset's own cap when it trains every epoch (a preset
/// without patience asks for exactly that many).
pub fn epoch_cap(preset: &Preset) -> usize {
    match preset.patience {
        Some(_) => preset.epochs.max(MIN_EPOCHS),
        None => preset.epochs,
    }
}
/// Decoder directions shown per variant in the atoms chart.
pub const ATOMS: usize = 16;
/// The study's target active count is the latent size over this, at
/// least 1 ([`k_active`]): TopK's `k`, and the training L0 the L1 and
/// JumpReLU weights are chosen to reach. Why 16: sparse-autoencoder
/// practice runs far sparser codes than a quarter of the latents (Gao et
/// al. 2024 and the peers' TopK recipes keep `k` at a few dozen of
/// thousands of latents; the TopK bench here, 32 of 1024), and a quarter
/// made every latent dense (at `k/r = 1/4` the mean firing density is
/// 0.25, above [`DENSE_DENSITY`]). 1/16 is nearer the peers' `k/r` while
/// the smallest default size keeps at least one active latent, and at
/// `k/r ≤ 1/8` TopK decodes through the sparse path
/// ([`crate::model::SPARSE_DECODE_DENSITY`]), as at the peers' ratios.
pub const ACTIVE_DIVISOR: usize = 16;
/// AuxK's dead latents per sample are the latent size over this.
pub const K_AUX_DIVISOR: usize = 2;
/// AuxK's coefficient `α` (OpenAI's `auxk_coef`).
pub const AUXK_ALPHA: f64 = 1.0 / 32.0;

/// Section ids of the study's charts.
pub const PARETO_ID: &str = "sae-pareto";
/// See [`PARETO_ID`].
pub const DEAD_ID: &str = "sae-dead-latents";
/// See [`PARETO_ID`].
pub const L1_ID: &str = "sae-l1-weight";
/// See [`PARETO_ID`].
pub const L0_ID: &str = "sae-jumprelu-weight";
/// See [`PARETO_ID`].
pub const ATOMS_ID: &str = "sae-atoms";
/// See [`PARETO_ID`].
pub const DENSITY_ID: &str = "sae-firing-density";

/// How a variant makes its code sparse.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Code {
    /// TopK with `k` the target count.
    TopK,
    /// ReLU with an L1 penalty, at the study's sparsity weights.
    L1,
    /// JumpReLU with an L0 penalty, at [`L0_WEIGHTS`].
    JumpRelu,
}

/// One variant of the study, as its charts draw it.
#[derive(Clone, Copy, Debug)]
struct Shape {
    name: &'static str,
    tied: bool,
    tied_init: bool,
    code: Code,
    auxk: bool,
    /// Palette index in the charts: a model and its AuxK twin share it
    /// (the twin is dashed).
    color: usize,
}

const SHAPES: [Shape; 8] = [
    Shape {
        name: "sae_tied_topk",
        tied: true,
        tied_init: false,
        code: Code::TopK,
        auxk: false,
        color: 1,
    },
    Shape {
        name: "sae_untied_topk",
        tied: false,
        tied_init: false,
        code: Code::TopK,
        auxk: false,
        color: 2,
    },
    Shape {
        name: "sae_untied_tied_init_topk",
        tied: false,
        tied_init: true,
        code: Code::TopK,
        auxk: false,
        color: 3,
    },
    Shape {
        name: "sae_tied_l1",
        tied: true,
        tied_init: false,
        code: Code::L1,
        auxk: false,
        color: 4,
    },
    Shape {
        name: "sae_tied_topk_auxk",
        tied: true,
        tied_init: false,
        code: Code::TopK,
        auxk: true,
        color: 1,
    },
    Shape {
        name: "sae_untied_topk_auxk",
        tied: false,
        tied_init: false,
        code: Code::TopK,
        auxk: true,
        color: 2,
    },
    Shape {
        name: "sae_tied_jumprelu",
        tied: true,
        tied_init: false,
        code: Code::JumpRelu,
        auxk: false,
        color: 5,
    },
    Shape {
        name: "sae_untied_jumprelu",
        tied: false,
        tied_init: false,
        code: Code::JumpRelu,
        auxk: false,
        color: 6,
    },
];

/// The name of the L1 variant.
pub const L1_VARIANT: &str = "sae_tied_l1";
/// The names of the JumpReLU variants, tied then untied.
pub const JUMP_RELU_VARIANTS: [&str; 2] = ["sae_tied_jumprelu", "sae_untied_jumprelu"];

/// `(palette index, dashed)` of a model's line: PCA is 0.
fn style(model: &str) -> (usize, bool) {
    SHAPES
        .iter()
        .find(|v| v.name == model)
        .map_or((0, false), |v| (v.color, v.auxk))
}

/// The study's eight variants (the module docs list them), in chart order.
pub fn variants() -> Vec<Variant> {
    SHAPES
        .iter()
        .map(|s| {
            let v = Variant::new(s.name, s.tied)
                .bias_mode(BiasMode::PreCentering)
                .pre_bias(PreBiasInit::geometric_median())
                .unit_norm_decoder(true)
                .metrics(MetricSet::Sae)
                .dead_latents(DeadLatentsRule {
                    window: None,
                    auxk: s.auxk.then_some(AuxKRule {
                        k_aux_divisor: K_AUX_DIVISOR,
                        alpha: AUXK_ALPHA,
                    }),
                });
            let v = match s.code {
                Code::TopK => v.top_k_divisor(ACTIVE_DIVISOR),
                Code::L1 => v.activation(Activation::Relu).l1(true),
                Code::JumpRelu => v.activation(Activation::jump_relu()).l0(L0Rule {
                    weights: L0_WEIGHTS.to_vec(),
                    target_divisor: ACTIVE_DIVISOR,
                }),
            };
            if s.tied_init {
                v.init(Init::TiedGlorotUniform)
            } else {
                v
            }
        })
        .collect()
}

/// The default latent sizes for data of width `d`: the powers of two
/// `lo = min(32, 2^⌊log2(d/4)⌋)`, `hi = min(1024, 2^⌊log2(4d)⌋)` and the
/// one halfway between them in log scale (ties rounded up), distinct and
/// ascending. mnist10k (784): 32, 256, 1024; digits (64): 16, 64, 256.
pub fn default_latents(d: usize) -> Vec<usize> {
    let floor_log2 = |n: usize| (usize::BITS - 1 - n.max(1).leading_zeros()) as usize;
    let lo = floor_log2(d / 4).min(floor_log2(MIN_DEFAULT_LATENT));
    let hi = floor_log2(d.saturating_mul(4)).min(floor_log2(MAX_DEFAULT_LATENT));
    let mid = (lo + hi).div_ceil(2);
    let mut v = vec![1 << lo, 1 << mid, 1 << hi];
    v.dedup();
    v
}

/// The study's target active count at latent size `k`: `max(1, k / 16)`
/// ([`ACTIVE_DIVISOR`]), TopK's `k` and the L0 the weight choices aim at.
pub fn k_active(k: usize) -> usize {
    crate::study::per_latent(k, ACTIVE_DIVISOR)
}

/// The L1 weights tried: `λ = 2 f s / d` for `f` in [`L1_THRESHOLDS`],
/// `s` the root mean squared distance of the rows of `x` to their mean
/// (the square root of the total variance) and `d` the width: the
/// residual projection a unit must exceed to pay for its L1 term is
/// `f s`. Empty for an empty `x`.
pub fn l1_grid<T: Real>(x: &DMatrix<T>) -> Vec<f64> {
    let (n, d) = x.shape();
    if n == 0 || d == 0 {
        return Vec::new();
    }
    let mut total = 0.0;
    for j in 0..d {
        let col = x.column(j);
        let mean = col.iter().map(|v| v.f64()).sum::<f64>() / n as f64;
        total += col.iter().map(|v| (v.f64() - mean).powi(2)).sum::<f64>() / n as f64;
    }
    let s = total.sqrt();
    L1_THRESHOLDS
        .iter()
        .map(|f| 2.0 * f * s / d as f64)
        .collect()
}

/// The rule that picks a penalised variant's weight (the L1 weight, the
/// JumpReLU L0 weight): of `(weight, L0)` trials, the weight whose L0 is
/// nearest `target` (the study's [`k_active`]) in ratio, `|ln(L0 / target)|`;
/// ties go to the smaller weight. A trial with no active latent (L0 of 0)
/// is never picked: its code is no dictionary, however near the target a
/// difference would put it (a target of 2 is nearer 0 than 14, but 14 is
/// 7 times the target and 0 infinitely far below it). `None` if there is
/// no trial with a finite, positive L0, or the target is not positive.
pub fn pick_weight(trials: &[(f64, f64)], target: f64) -> Option<f64> {
    if !(target > 0.0 && target.is_finite()) {
        return None;
    }
    trials
        .iter()
        .filter(|(w, l)| w.is_finite() && l.is_finite() && *l > 0.0)
        .map(|&(w, l)| (w, (l / target).ln().abs()))
        .min_by(|a, b| a.1.total_cmp(&b.1).then(a.0.total_cmp(&b.0)))
        .map(|t| t.0)
}

/// The study on `ds`: PCA and [`variants`] at the preset's latent sizes
/// (over-complete ones kept), seeds and learning-rate grid, the L1
/// variant at every weight of [`l1_grid`], the JumpReLU variants at every
/// weight of [`L0_WEIGHTS`].
///
/// # Errors
/// No latent size or seed; data too small to split; training rows
/// without spread (every L1 weight would be 0).
pub fn study(ds: &Dataset, preset: &Preset, opts: &RunOptions) -> Result<Study> {
    let data = sample(ds, preset)?;
    let mut latents: Vec<usize> = preset.latents.iter().copied().filter(|&k| k >= 1).collect();
    latents.sort_unstable();
    latents.dedup();
    let Some(&first_seed) = preset.seeds.first() else {
        return Err(Error::config("seeds", "the sae study needs a seed"));
    };
    if latents.is_empty() {
        return Err(Error::config(
            "latents",
            "the sae study needs a latent size",
        ));
    }
    let s = base("sae", data.clone(), preset, opts);
    let (train, _) = train_test_split(&data, s.test_fraction, s.data_seed(first_seed))?;
    let grid = l1_grid(train.x());
    if grid.is_empty() || grid.iter().any(|w| !(w.is_finite() && *w > 0.0)) {
        return Err(Error::InvalidData(format!(
            "sae: the training rows of dataset {:?} have no spread, so no L1 weight can be scaled to them",
            data.name()
        )));
    }
    Ok(s.models(&[ModelKind::Pca])
        .variants(&variants())
        .overcomplete(true)
        .latents(&latents)
        .seeds(&preset.seeds)
        .bias_modes(&[BiasMode::PreCentering])
        .sparsity_weights(&grid)
        .training(preset.adam().epochs(epoch_cap(preset))))
}

/// Runs the study to its frame.
///
/// # Errors
/// As [`study`], and a training error.
pub fn run(ds: &Dataset, preset: &Preset, opts: &RunOptions) -> Result<DataFrame> {
    study(ds, preset, opts)?.run()
}

/// Runs the study in detail to its frame and its charts ([`charts`]).
///
/// # Errors
/// As [`run`].
pub fn output(ds: &Dataset, preset: &Preset, opts: &RunOptions) -> Result<Output> {
    super::detailed_output(study(ds, preset, opts)?, charts)
}

/// A frame row with its SAE metrics.
#[derive(Clone, Debug)]
struct Point {
    row: Row,
    m: SaeMetrics,
}

/// The frame's rows with their SAE metrics, row by row.
fn points(df: &DataFrame) -> Result<Vec<Point>> {
    let rows = frame_to_rows(df)?;
    let metrics = read_sae_columns(df)?.ok_or_else(|| missing("l0 and fvu columns"))?;
    Ok(rows
        .into_iter()
        .zip(metrics)
        .map(|(row, m)| Point { row, m })
        .collect())
}

/// The weight chosen for one penalised variant (the L1 variant, a
/// JumpReLU variant) at one latent size, from its trials.
#[derive(Clone, Debug)]
struct Choice {
    /// The variant.
    model: &'static str,
    latent: i64,
    /// `(weight, mean L0 on the fitting rows)`, ascending in weight.
    trials: Vec<(f64, f64)>,
    /// [`pick_weight`]'s choice; `None` without a finite training L0 (a
    /// frame written before `l0_train` existed).
    weight: Option<f64>,
}

/// The variants whose weight is chosen per size: every one but TopK, in
/// study order.
fn penalised() -> impl Iterator<Item = &'static str> {
    SHAPES
        .iter()
        .filter(|s| s.code != Code::TopK)
        .map(|s| s.name)
}

/// Per penalised variant (study order) and latent size (ascending), its
/// weights among the tuned `points` and the one [`pick_weight`] keeps.
fn choices(points: &[Point]) -> Vec<Choice> {
    penalised()
        .flat_map(|model| choices_of(points, model))
        .collect()
}

/// [`choices`] of the variant `model`.
fn choices_of(points: &[Point], model: &'static str) -> Vec<Choice> {
    let mut by: BTreeMap<i64, BTreeMap<u64, Vec<f64>>> = BTreeMap::new();
    for p in points.iter().filter(|p| p.row.model == model) {
        let l0s = by
            .entry(p.row.latent)
            .or_default()
            .entry(p.row.sparsity_weight.to_bits())
            .or_default();
        l0s.extend(p.m.l0_train);
    }
    by.into_iter()
        .map(|(latent, weights)| {
            let mut trials: Vec<(f64, f64)> = weights
                .into_iter()
                .map(|(w, l)| {
                    let mean = if l.is_empty() {
                        f64::NAN
                    } else {
                        l.iter().sum::<f64>() / l.len() as f64
                    };
                    (f64::from_bits(w), mean)
                })
                .collect();
            trials.sort_by(|a, b| a.0.total_cmp(&b.0));
            let weight = pick_weight(&trials, k_active(latent.max(1) as usize) as f64);
            Choice {
                model,
                latent,
                trials,
                weight,
            }
        })
        .collect()
}

/// The points the findings and charts compare: the tuned ones
/// ([`select_tuned`]), of each penalised variant only those at the weight
/// chosen at their latent size; and the choices.
fn compared(all: Vec<Point>) -> (Vec<Point>, Vec<Choice>) {
    let rows: Vec<Row> = all.iter().map(|p| p.row.clone()).collect();
    let tuned_rows = select_tuned(&rows);
    let tuned: Vec<Point> = all
        .into_iter()
        .filter(|p| tuned_rows.contains(&p.row))
        .collect();
    let chosen = choices(&tuned);
    let kept = tuned
        .into_iter()
        .filter(|p| {
            chosen
                .iter()
                .find(|c| p.row.model == c.model && c.latent == p.row.latent)
                .and_then(|c| c.weight)
                .is_none_or(|w| w.to_bits() == p.row.sparsity_weight.to_bits())
        })
        .collect();
    (kept, chosen)
}

/// The models of the study in chart order: PCA, then the variants.
fn model_names() -> impl Iterator<Item = &'static str> {
    std::iter::once("pca").chain(SHAPES.iter().map(|v| v.name))
}

/// One variant's medians over every latent size and seed: where it sits in
/// the L0 / FVU trade-off overall. Not a Pareto front: no point is compared
/// with another (the chart's points are [`pareto_by_latent`]).
#[derive(Clone, Debug, PartialEq)]
pub struct VariantMedians {
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
/// seeds of L0, FVU and the training-time dead fraction, over the compared
/// rows (tuned, the L1 and JumpReLU variants at their chosen weights).
///
/// # Errors
/// A frame without the results or SAE columns.
pub fn variant_medians(df: &DataFrame) -> Result<Vec<VariantMedians>> {
    let (points, _) = compared(points(df)?);
    Ok(medians_of(&points))
}

fn medians_of(points: &[Point]) -> Vec<VariantMedians> {
    model_names()
        .filter_map(|name| {
            let pick = |get: &dyn Fn(&SaeMetrics) -> Option<f64>| -> Vec<f64> {
                points
                    .iter()
                    .filter(|p| p.row.model == name)
                    .filter_map(|p| get(&p.m))
                    .collect()
            };
            Some(VariantMedians {
                model: name.to_string(),
                l0: median(&pick(&|m| m.l0))?,
                fvu: median(&pick(&|m| m.fvu))?,
                dead_fraction: median(&pick(&|m| m.dead_fraction_train)),
            })
        })
        .collect()
}

/// One variant's medians at one latent size.
#[derive(Clone, Debug, PartialEq)]
pub struct ParetoAt {
    /// The latent size.
    pub latent: usize,
    /// Median test L0 over seeds.
    pub l0: f64,
    /// Median test FVU over seeds.
    pub fvu: f64,
    /// Rows the medians are over.
    pub seeds: usize,
}

/// Per model (PCA first, then study order), its medians over seeds of the
/// test L0 and FVU at each latent size (ascending), over the compared rows
/// (tuned, the L1 and JumpReLU variants at their chosen weights): the
/// points of the Pareto chart. Models without rows are left out.
///
/// # Errors
/// A frame without the results or SAE columns.
pub fn pareto_by_latent(df: &DataFrame) -> Result<Vec<(String, Vec<ParetoAt>)>> {
    let (points, _) = compared(points(df)?);
    Ok(pareto_of(&points))
}

fn pareto_of(points: &[Point]) -> Vec<(String, Vec<ParetoAt>)> {
    model_names()
        .filter_map(|name| {
            let mut by: BTreeMap<i64, (Vec<f64>, Vec<f64>)> = BTreeMap::new();
            for p in points {
                if p.row.model == name
                    && let (Some(l), Some(f)) = (p.m.l0, p.m.fvu)
                {
                    let e = by.entry(p.row.latent).or_default();
                    e.0.push(l);
                    e.1.push(f);
                }
            }
            let at: Vec<ParetoAt> = by
                .into_iter()
                .filter_map(|(k, (l, f))| {
                    Some(ParetoAt {
                        latent: k as usize,
                        l0: median(&l)?,
                        fvu: median(&f)?,
                        seeds: l.len(),
                    })
                })
                .collect();
            (!at.is_empty()).then(|| (name.to_string(), at))
        })
        .collect()
}

/// A median count: whole, or with the one decimal a median of an even
/// number of counts can have.
fn count_text(v: f64) -> String {
    if v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

/// The findings' sentence on the peers' diagnostics at the largest latent
/// size: per model, the medians over seeds of the shrinkage, the ℓ2 ratio
/// and (SAEs) the dead and dense latent counts on the test rows.
fn diagnostics_sentence(points: &[Point]) -> Option<String> {
    let k = points.iter().map(|p| p.row.latent).max()?;
    let parts: Vec<String> = model_names()
        .filter_map(|name| {
            let at: Vec<&Point> = points
                .iter()
                .filter(|p| p.row.model == name && p.row.latent == k)
                .collect();
            let med = |get: &dyn Fn(&SaeMetrics) -> Option<f64>| {
                median(&at.iter().filter_map(|p| get(&p.m)).collect::<Vec<f64>>())
            };
            let mut part = format!(
                "{name} shrinkage {}, ℓ2 ratio {}",
                format_or_missing(med(&|m| m.shrinkage)?),
                med(&|m| m.l2_ratio).map_or_else(|| format_or_missing(f64::NAN), format_or_missing)
            );
            let dead = med(&|m| m.dead_latents.map(|c| c as f64));
            let dense = med(&|m| m.dense_latents.map(|c| c as f64));
            if let (Some(a), Some(b)) = (dead, dense) {
                part.push_str(&format!(
                    ", {} dead and {} dense latents",
                    count_text(a),
                    count_text(b)
                ));
            }
            Some(part)
        })
        .collect();
    if parts.is_empty() {
        return None;
    }
    Some(format!(
        "At k = {k}, on the test rows (medians over seeds): {}. Shrinkage is E‖x̂‖² / E⟨x, x̂⟩ (below \
         1: reconstructions shrunk towards 0), the ℓ2 ratio the mean of ‖x̂‖ / ‖x‖; dead latents \
         fired on no test row, dense ones on more than a fraction {DENSE_DENSITY} of them.",
        parts.join("; ")
    ))
}

/// A penalised variant's chosen weight per latent size and the test L0 it
/// reached, or `None` without its rows.
fn weight_sentence(points: &[Point], choices: &[Choice], model: &str) -> Option<String> {
    let mine: Vec<&Choice> = choices.iter().filter(|c| c.model == model).collect();
    if mine.is_empty() {
        return None;
    }
    let (what, symbol) = if model == L1_VARIANT {
        ("L1 weight", "λ")
    } else {
        (
            "L0 weight w (λ₀ = w v / m, v the fitting rows' variance per entry)",
            "w",
        )
    };
    let parts: Vec<String> = mine
        .iter()
        .map(|c| {
            let l0s: Vec<f64> = points
                .iter()
                .filter(|p| p.row.model == model && p.row.latent == c.latent)
                .filter_map(|p| p.m.l0)
                .collect();
            let weight = match c.weight {
                Some(w) => format_or_missing(w),
                None => c
                    .trials
                    .iter()
                    .map(|t| format_or_missing(t.0))
                    .collect::<Vec<_>>()
                    .join(" / "),
            };
            format!(
                "k = {}: {symbol} = {weight} of {} tried, median test L0 {} (target {})",
                c.latent,
                c.trials.len(),
                median(&l0s).map_or_else(|| format_or_missing(f64::NAN), format_or_missing),
                k_active(c.latent.max(1) as usize)
            )
        })
        .collect();
    Some(format!(
        "{model}'s {what}, chosen per size as the one whose mean training L0 is nearest the target m = max(1, k/{ACTIVE_DIVISOR}): {}.",
        parts.join("; ")
    ))
}

/// The tied and untied variants whose codes are at exactly equal L0 (TopK
/// keeps the same `k` in both): tied against untied, with AuxK, and
/// against the untied model started from the tied one.
pub const EQUAL_L0_PAIRS: [(&str, &str); 3] = [
    ("sae_tied_topk", "sae_untied_topk"),
    ("sae_tied_topk_auxk", "sae_untied_topk_auxk"),
    ("sae_tied_topk", "sae_untied_tied_init_topk"),
];

/// Level of the intervals and of the Holm-corrected claims of
/// [`equal_l0_sentence`].
const LEVEL: f64 = 0.95;

/// Tied against untied at equal L0, per latent size and pair of
/// [`EQUAL_L0_PAIRS`]: the mean over seeds of the paired difference of
/// test FVU (tied − untied; the same seed is the same split of the rows),
/// its 95% t-interval, and a direction only where Holm's adjusted p-value
/// over every comparison in the sentence is below 5% (so the chance of
/// any wrong direction among them stays at 5%). `None` when no pair has
/// two seeds in common at any size.
fn equal_l0_sentence(points: &[Point]) -> Option<String> {
    let fvu_by_seed = |model: &str, latent: i64| -> BTreeMap<i64, f64> {
        points
            .iter()
            .filter(|p| p.row.model == model && p.row.latent == latent)
            .filter_map(|p| Some((p.row.seed, p.m.fvu?)))
            .collect()
    };
    let sizes: BTreeSet<i64> = points.iter().map(|p| p.row.latent).collect();
    let mut tests = Vec::new();
    for &latent in &sizes {
        for (tied, untied) in EQUAL_L0_PAIRS {
            let (a, b) = (fvu_by_seed(tied, latent), fvu_by_seed(untied, latent));
            let (x, y): (Vec<f64>, Vec<f64>) = a
                .iter()
                .filter_map(|(seed, &fa)| Some((fa, *b.get(seed)?)))
                .unzip();
            if let Ok(test) = paired_t(&x, &y, LEVEL) {
                tests.push((latent, tied, untied, test));
            }
        }
    }
    let p: Vec<f64> = tests.iter().map(|t| t.3.p_value).collect();
    let adjusted = holm(&p).ok()?;
    let parts: Vec<String> = tests
        .iter()
        .zip(&adjusted)
        .map(|((latent, tied, untied, t), &q)| {
            let claim = if q >= 1.0 - LEVEL {
                "unclear"
            } else {
                match t.diff.direction() {
                    Direction::Below => "tied lower",
                    Direction::Above => "tied higher",
                    Direction::Unclear => "unclear",
                }
            };
            format!(
                "k = {latent}, {tied} − {untied}: {} [{}, {}] over {} seeds, Holm p {} → {claim}",
                signed(t.diff.estimate),
                signed(t.diff.lo),
                signed(t.diff.hi),
                t.diff.n,
                format_or_missing(q)
            )
        })
        .collect();
    if parts.is_empty() {
        return None;
    }
    Some(format!(
        "Tied against untied at equal L0 (TopK, the same k), test FVU tied − untied paired by \
         seed, {:.0}% t-intervals; a direction is stated where Holm's adjusted p over these {} \
         comparisons is below {:.0}%: {}.",
        LEVEL * 100.0,
        parts.len(),
        (1.0 - LEVEL) * 100.0,
        parts.join("; ")
    ))
}

/// How many compared trained runs stopped at their epoch cap rather than
/// on their validation loss, per latent size.
fn capped_sentence(points: &[Point]) -> String {
    let trained: Vec<&Row> = points
        .iter()
        .map(|p| &p.row)
        .filter(|r| !r.model.is_pca())
        .collect();
    let mut capped: BTreeMap<i64, (usize, usize, i64)> = BTreeMap::new();
    for r in &trained {
        let e = capped.entry(r.latent).or_default();
        e.1 += 1;
        if r.stop_reason == "max_epochs" {
            e.0 += 1;
            e.2 = e.2.max(r.epochs);
        }
    }
    let n_capped: usize = capped.values().map(|e| e.0).sum();
    if n_capped == 0 {
        format!(
            "All {} trained runs stopped on their validation loss before their epoch cap.",
            trained.len()
        )
    } else {
        let parts: Vec<String> = capped
            .iter()
            .filter(|(_, e)| e.0 > 0)
            .map(|(k, e)| format!("k = {k}: {} of {} at {} epochs", e.0, e.1, e.2))
            .collect();
        format!(
            "{n_capped} of {} trained runs stopped at their epoch cap, not converged (their \
             validation loss was still improving within the patience): {}.",
            trained.len(),
            parts.join("; ")
        )
    }
}

/// Findings, over the compared rows (tuned; the L1 and JumpReLU variants
/// at the weights chosen per size): the L0/FVU/dead-fraction table in one
/// sentence per variant, whether AuxK lowered the dead fraction of the
/// tied TopK model, tied against untied JumpReLU, tied against untied
/// TopK at equal L0 with paired intervals ([`equal_l0_sentence`]), the
/// peers' diagnostics
/// at the largest latent size (shrinkage, ℓ2 ratio, dead and dense latents
/// on the test rows), the L1 and L0 weights chosen per latent size, and
/// how many runs stopped at their epoch cap (not converged).
///
/// # Errors
/// A frame without the results or SAE columns, or without variant rows.
pub fn summary(df: &DataFrame) -> Result<Vec<String>> {
    let (points, choices) = compared(points(df)?);
    let p = medians_of(&points);
    if p.len() < 2 {
        return Err(missing("sae variant rows"));
    }
    let mut out: Vec<String> = p
        .iter()
        .map(|pt| {
            format!(
                "{}: median L0 {}, FVU {}{}.",
                pt.model,
                format_or_missing(pt.l0),
                format_or_missing(pt.fvu),
                pt.dead_fraction.map_or(String::new(), |d| format!(
                    ", dead fraction {}",
                    format_or_missing(d)
                ))
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
            format_or_missing(a),
            format_or_missing(b)
        ));
    }
    let [tied_jump, untied_jump] = JUMP_RELU_VARIANTS.map(|n| p.iter().find(|r| r.model == n));
    if let (Some(t), Some(u)) = (tied_jump, untied_jump) {
        out.push(format!(
            "JumpReLU at its chosen L0 weights, tied against untied: median FVU {} vs {}, median test L0 {} vs {}.",
            format_or_missing(t.fvu),
            format_or_missing(u.fvu),
            format_or_missing(t.l0),
            format_or_missing(u.l0)
        ));
    }
    out.extend(equal_l0_sentence(&points));
    out.extend(diagnostics_sentence(&points));
    for model in penalised() {
        out.extend(weight_sentence(&points, &choices, model));
    }
    out.push(capped_sentence(&points));
    Ok(out)
}

/// The study's charts (the module docs list them) from a detailed run of
/// it: every cell's artifacts beside the frame's rows, in order.
///
/// # Errors
/// A frame without the SAE columns; artifacts that are not the frame's.
pub fn charts(details: &DetailedResults) -> Result<Figures> {
    let all = points(&details.results)?;
    if details.cells.len() != all.len() {
        return Err(Error::InvalidData(format!(
            "sae: {} cells' artifacts for a frame of {} rows",
            details.cells.len(),
            all.len()
        )));
    }
    let (points, choices) = compared(all);
    let mut figures = Figures::default();
    let Some(d) = details.cells.first().map(|c| c.filters.ncols()) else {
        return Ok(figures);
    };
    figures.curves.push(pareto_chart(&points, d));
    let shown = Shown::of(&points, details);
    figures.curves.push(dead_chart(&shown)?);
    figures.curves.push(density_chart(&shown));
    figures.curves.push(l1_chart(&choices));
    figures.curves.push(l0_chart(&choices));
    let image = details
        .pcas
        .first()
        .and_then(|p| p.image_shape)
        .filter(|(h, w)| h * w == d);
    if let Some(shape) = image {
        figures.tiles.push(atoms_tiles(&shown, shape));
    }
    Ok(figures)
}

/// The cells the charts of one run show: per model (chart order), the
/// compared cell of the first seed at the largest latent size.
struct Shown<'a> {
    latent: i64,
    seed: i64,
    cells: Vec<(&'static str, &'a CellArtifacts)>,
}

impl<'a> Shown<'a> {
    fn of(points: &[Point], details: &'a DetailedResults) -> Shown<'a> {
        let latent = points.iter().map(|p| p.row.latent).max().unwrap_or(0);
        let seed = points.iter().map(|p| p.row.seed).min().unwrap_or(0);
        let cells = model_names()
            .filter_map(|name| {
                let p = points.iter().find(|p| {
                    p.row.model == name && p.row.latent == latent && p.row.seed == seed
                })?;
                let cell = details.cells.iter().find(|c| c.row == p.row)?;
                Some((name, cell))
            })
            .collect();
        Shown {
            latent,
            seed,
            cells,
        }
    }

    /// The shown variants' cells with their shapes (PCA left out).
    fn variants(&self) -> impl Iterator<Item = (Shape, &'a CellArtifacts)> + '_ {
        self.cells
            .iter()
            .filter_map(|&(name, cell)| SHAPES.iter().find(|s| s.name == name).map(|&s| (s, cell)))
    }
}

/// The L0 / FVU chart: one line per model, one marker per latent size.
fn pareto_chart(points: &[Point], d: usize) -> Curves {
    let lines = pareto_of(points);
    let seeds = lines
        .iter()
        .flat_map(|(_, p)| p.iter().map(|a| a.seeds))
        .max()
        .unwrap_or(0);
    let sizes: Vec<usize> = lines
        .first()
        .map(|(_, p)| p.iter().map(|a| a.latent).collect())
        .unwrap_or_default();
    let mut per_size = Vec::new();
    for &k in &sizes {
        let at = |name: &str| {
            lines
                .iter()
                .find(|(n, _)| n == name)
                .and_then(|(_, p)| p.iter().find(|a| a.latent == k))
        };
        let best = lines
            .iter()
            .filter(|(n, _)| n != "pca")
            .filter_map(|(n, p)| p.iter().find(|a| a.latent == k).map(|a| (n, a)))
            .min_by(|a, b| a.1.fvu.total_cmp(&b.1.fvu));
        if let (Some((name, a)), Some(p)) = (best, at("pca")) {
            per_size.push(format!(
                "k = {k}: {name} (L0 {}, FVU {}) against PCA (L0 {}, FVU {})",
                format_or_missing(a.l0),
                format_or_missing(a.fvu),
                format_or_missing(p.l0),
                format_or_missing(p.fvu)
            ));
        }
    }
    let series: Vec<Line> = lines
        .iter()
        .map(|(name, p)| {
            let (color, dashed) = style(name);
            Line {
                name: name.clone(),
                points: p.iter().map(|a| (a.l0, a.fvu)).collect(),
                color,
                dashed,
                markers: true,
            }
        })
        .collect();
    let log_x = log_x_fits(&series);
    Curves {
        id: PARETO_ID.into(),
        title: "Sparsity against reconstruction (L0 vs FVU)".into(),
        caption: format!(
            "Each marker is one latent size ({}); its position is the median over {seeds} seed(s) of \
             the test L0 (mean active latents per test row) and the test FVU (MSE over the test rows' \
             variance), at each model's tuned learning rate (the L1 and JumpReLU models at their \
             chosen weights). PCA's L0 is its component count, min(k, d = {d}). Lower and further \
             left is better; AuxK twins are dashed in their base model's colour. The lowest-FVU SAE \
             per size: {}.",
            sizes
                .iter()
                .map(usize::to_string)
                .collect::<Vec<_>>()
                .join(", "),
            per_size.join("; ")
        ),
        x_label: "L0 (active latents per row)".into(),
        y_label: "FVU (test)".into(),
        log_x,
        log_y: false,
        series,
    }
}

/// The `(epoch, dead fraction)` points of a cell's history (none without
/// dead-latent tracking).
fn dead_points(cell: &CellArtifacts) -> Result<Vec<(f64, f64)>> {
    let Some(h) = &cell.history else {
        return Ok(Vec::new());
    };
    let (Ok(epoch), Ok(dead)) = (h.column("epoch"), h.column("dead_fraction")) else {
        return Ok(Vec::new());
    };
    let epoch = epoch.cast(&DataType::Float64)?;
    let dead = dead.cast(&DataType::Float64)?;
    Ok(epoch
        .f64()?
        .iter()
        .zip(dead.f64()?.iter())
        .filter_map(|(e, f)| Some((e?, f?)))
        .collect())
}

/// The dead fraction over epochs of the shown TopK variants.
fn dead_chart(shown: &Shown) -> Result<Curves> {
    let mut series = Vec::new();
    let mut ends = Vec::new();
    for (v, cell) in shown.variants().filter(|(v, _)| v.code == Code::TopK) {
        let points = dead_points(cell)?;
        if let Some(&(e, f)) = points.last() {
            ends.push(format!(
                "{} {} after {} epochs",
                v.name,
                format_or_missing(f),
                e
            ));
        }
        series.push(Line {
            name: v.name.into(),
            points,
            color: v.color,
            dashed: v.auxk,
            markers: false,
        });
    }
    let (k, seed) = (shown.latent, shown.seed);
    Ok(Curves {
        id: DEAD_ID.into(),
        title: format!("Dead latents during training (k = {k})"),
        caption: format!(
            "The fraction of latents that fired on none of the last training samples of one pass \
             over the fitting rows, at the end of each epoch of seed {seed}'s TopK runs at k = {k} \
             (each at its tuned learning rate). AuxK twins are dashed in their base model's colour: \
             AuxK should keep theirs lower. At the last epoch: {}.",
            ends.join(", ")
        ),
        x_label: "epoch".into(),
        y_label: "dead fraction".into(),
        log_x: false,
        log_y: false,
        series,
    })
}

/// A histogram as a closed step outline over bin edges `xs`: up from 0 at
/// the first edge, across each bin at its count, down to 0 at the last
/// edge. The counts are the `y` of the points at odd positions.
fn step_points(xs: &[f64], counts: &[usize]) -> Vec<(f64, f64)> {
    let (Some(&first), Some(&last)) = (xs.first(), xs.last()) else {
        return Vec::new();
    };
    let mut out = vec![(first, 0.0)];
    for (w, &c) in xs.windows(2).zip(counts) {
        out.push((w[0], c as f64));
        out.push((w[1], c as f64));
    }
    out.push((last, 0.0));
    out
}

/// The histogram of the shown variants' firing densities on their test
/// rows, one step line per variant, in [`density_bin_edges`]'s
/// quarter-decade bins on a log10 axis, as SAELens draws its
/// feature-density histogram; dead latents, which that axis cannot hold,
/// are counted in the caption.
fn density_chart(shown: &Shown) -> Curves {
    let firing: Vec<(Shape, &Firing)> = shown
        .variants()
        .filter_map(|(v, c)| c.firing.as_ref().map(|f| (v, f)))
        .collect();
    let n_test = firing.first().map_or(1, |(_, f)| f.rows);
    let edges = density_bin_edges(n_test);
    let xs: Vec<f64> = edges.iter().map(|e| e.log10()).collect();
    let counts: Vec<String> = firing
        .iter()
        .map(|(v, f)| {
            format!(
                "{} {} dead and {} dense",
                v.name,
                dead_count(&f.density),
                dense_count(&f.density)
            )
        })
        .collect();
    let (k, seed) = (shown.latent, shown.seed);
    Curves {
        id: DENSITY_ID.into(),
        title: format!("Firing density of the latents (k = {k})"),
        caption: format!(
            "How many of the {k} latents of seed {seed}'s runs fire (are nonzero) on what fraction of \
             the {n_test} test rows, in quarter-decade bins of log10 density from {} to 0: SAELens's \
             feature-density histogram. Latents that never fired are dead; SAELens draws them at \
             log10(1e-10) = -10, here they are left off the axis and counted, with the dense ones \
             (firing on more than a fraction {DENSE_DENSITY} of the rows): {}. AuxK twins are dashed \
             in their base model's colour.",
            xs.first()
                .map_or_else(|| format_or_missing(f64::NAN), |x| format_or_missing(*x)),
            counts.join(", ")
        ),
        x_label: "log10 firing density on the test rows".into(),
        y_label: "latents".into(),
        log_x: false,
        log_y: false,
        series: firing
            .iter()
            .map(|(v, f)| Line {
                name: v.name.into(),
                points: step_points(&xs, &density_histogram(&f.density, &edges)),
                color: v.color,
                dashed: v.auxk,
                markers: false,
            })
            .collect(),
    }
}

/// Whether a logarithmic horizontal axis can show every point of
/// `series`: each `x` positive and finite.
fn log_x_fits(series: &[Line]) -> bool {
    series
        .iter()
        .flat_map(|l| l.points.iter())
        .all(|&(x, _)| x > 0.0 && x.is_finite())
}

/// How one choice reads in a chart's caption: the size, the weight kept
/// (`symbol = value`), its mean training L0 and the target.
fn chosen_text(c: &Choice, symbol: &str) -> String {
    let l = c
        .trials
        .iter()
        .find(|p| Some(p.0) == c.weight)
        .map_or(f64::NAN, |p| p.1);
    format!(
        "k = {}: {symbol} = {} (training L0 {}, target {})",
        c.latent,
        format_or_missing(c.weight.unwrap_or(f64::NAN)),
        format_or_missing(l),
        k_active(c.latent.max(1) as usize)
    )
}

/// Mean training L0 against the L1 weight, one line per latent size.
fn l1_chart(choices: &[Choice]) -> Curves {
    let mine: Vec<&Choice> = choices.iter().filter(|c| c.model == L1_VARIANT).collect();
    let chosen: Vec<String> = mine.iter().map(|c| chosen_text(c, "λ")).collect();
    let grid: Vec<f64> = mine
        .first()
        .map(|c| c.trials.iter().map(|t| t.0).collect())
        .unwrap_or_default();
    let series: Vec<Line> = mine
        .iter()
        .enumerate()
        .map(|(i, c)| Line {
            name: format!("k = {}", c.latent),
            points: c.trials.clone(),
            color: i,
            dashed: false,
            markers: true,
        })
        .collect();
    let log_x = grid.iter().all(|&w| w > 0.0 && w.is_finite());
    Curves {
        id: L1_ID.into(),
        title: "Choosing the L1 weight".into(),
        caption: format!(
            "The L1 variant's active latents on the fitting rows, mean over seeds at its tuned \
             learning rate, for each weight tried, λ = 2 f s / d with f in {{{}}} (s the RMS distance \
             of the first seed's training rows to their mean, d the width: λ = {}). Per size the \
             weight whose L0 is nearest the target max(1, k/{ACTIVE_DIVISOR}) is kept, ties to the \
             smaller: {}.",
            L1_THRESHOLDS
                .iter()
                .map(|f| format!("1/{}", (1.0 / f).round()))
                .collect::<Vec<_>>()
                .join(", "),
            grid.iter()
                .map(|w| format_or_missing(*w))
                .collect::<Vec<_>>()
                .join(", "),
            chosen.join("; ")
        ),
        x_label: "L1 weight λ".into(),
        y_label: "L0 on the fitting rows".into(),
        log_x,
        log_y: false,
        series,
    }
}

/// Mean training L0 against the JumpReLU L0 weight `w`, one line per
/// variant and latent size: colour by size, the untied variant dashed.
fn l0_chart(choices: &[Choice]) -> Curves {
    let mine: Vec<&Choice> = choices
        .iter()
        .filter(|c| JUMP_RELU_VARIANTS.contains(&c.model))
        .collect();
    let mut sizes: Vec<i64> = mine.iter().map(|c| c.latent).collect();
    sizes.sort_unstable();
    sizes.dedup();
    let chosen: Vec<String> = mine
        .iter()
        .map(|c| format!("{} {}", c.model, chosen_text(c, "w")))
        .collect();
    let series: Vec<Line> = mine
        .iter()
        .map(|c| Line {
            name: format!("{}, k = {}", c.model, c.latent),
            points: c.trials.clone(),
            color: sizes.iter().position(|&k| k == c.latent).unwrap_or(0),
            dashed: c.model != JUMP_RELU_VARIANTS[0],
            markers: true,
        })
        .collect();
    let log_x = log_x_fits(&series);
    Curves {
        id: L0_ID.into(),
        title: "Choosing the JumpReLU L0 weight".into(),
        caption: format!(
            "The JumpReLU variants' active latents on the fitting rows, mean over seeds at their \
             tuned learning rates, for each weight w in {{{}}}: the L0 coefficient is λ₀ = w v / m, \
             v the fitting rows' mean squared distance per entry to their mean and m = max(1, \
             k/{ACTIVE_DIVISOR}) the target, so a row with m active latents pays w of the rows' \
             variance. Per variant and size the weight whose L0 is nearest m is kept, ties to the \
             smaller: {}. The untied variant is dashed.",
            L0_WEIGHTS
                .iter()
                .map(|w| format_or_missing(*w))
                .collect::<Vec<_>>()
                .join(", "),
            chosen.join("; ")
        ),
        x_label: "L0 weight w".into(),
        y_label: "L0 on the fitting rows".into(),
        log_x,
        log_y: false,
        series,
    }
}

/// The first decoder directions of every shown model as image tiles.
fn atoms_tiles(shown: &Shown, shape: (usize, usize)) -> Tiles {
    let mut silent = Vec::new();
    let rows: Vec<(String, Vec<Vec<f64>>)> = shown
        .cells
        .iter()
        .map(|&(name, cell)| {
            let m = cell.filters.nrows().min(ATOMS);
            if let Some(f) = &cell.firing {
                let quiet = f.density.iter().take(m).filter(|&&d| d == 0.0).count();
                silent.push(format!("{name} {quiet} of {m}"));
            }
            let atoms: Vec<Vec<f64>> = (0..m)
                .map(|i| cell.filters.row(i).iter().copied().collect::<Vec<f64>>())
                .collect();
            (name.to_string(), atoms)
        })
        .collect();
    let k = shown.latent;
    Tiles {
        id: ATOMS_ID.into(),
        title: format!("Dictionary atoms (k = {k})"),
        caption: format!(
            "The first {ATOMS} decoder directions (unit norm; rows of W when tied, columns of W_dec \
             when untied) of each variant's run of seed {} at k = {k}, under PCA's top components. \
             Directions that never fired on the test rows keep their initial draw and look like \
             noise; of those shown: {}.",
            shown.seed,
            silent.join(", ")
        ),
        shape,
        rows,
    }
}

/// The names of the study's extra columns, for callers that select them.
pub fn extra_columns() -> Vec<&'static str> {
    SAE_COLUMNS.iter().map(|(n, _)| *n).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(model: &str, latent: i64, seed: i64, fvu: f64) -> Point {
        Point {
            row: Row {
                activation: "top_k(1)".into(),
                bias_mode: "pre_centering".into(),
                learning_rate: Some(1e-3),
                ..Row::example(model, latent, seed, fvu)
            },
            m: SaeMetrics {
                fvu: Some(fvu),
                ..SaeMetrics::default()
            },
        }
    }

    /// The equal-L0 finding against values computed outside tiedae: at
    /// k = 8 the paired differences −0.10, −0.11, −0.09 have mean −0.1 and
    /// sd 0.01, so the interval is −0.1 ± t·0.01/√3 with t = 4.302652729749462
    /// (`scipy.stats.t.ppf(0.975, 2)`), and the p-value 0.003316758722356861
    /// (`scipy.stats.ttest_1samp`) is doubled by Holm over the two
    /// comparisons to 0.006634: below 5%, so the direction is stated. At
    /// k = 4 the differences 0.01, −0.01, 0 have p = 1: unclear. A pair
    /// without rows makes no comparison.
    #[test]
    fn tied_against_untied_at_equal_l0_matches_scipy() {
        let untied = [0.50, 0.52, 0.49];
        let (gap8, gap4) = ([-0.10, -0.11, -0.09], [0.01, -0.01, 0.0]);
        let mut points = Vec::new();
        for seed in 0..3 {
            let s = seed as usize;
            points.push(point("sae_untied_topk", 8, seed, untied[s]));
            points.push(point("sae_tied_topk", 8, seed, untied[s] + gap8[s]));
            points.push(point("sae_untied_topk", 4, seed, untied[s]));
            points.push(point("sae_tied_topk", 4, seed, untied[s] + gap4[s]));
        }
        let text = equal_l0_sentence(&points).expect("two comparisons");
        let half = 4.302652729749462 * 0.01 / 3f64.sqrt();
        let at8 = format!(
            "k = 8, sae_tied_topk − sae_untied_topk: {} [{}, {}] over 3 seeds, Holm p {} → tied lower",
            signed(-0.1),
            signed(-0.1 - half),
            signed(-0.1 + half),
            format_or_missing(2.0 * 0.003316758722356861)
        );
        assert!(text.contains(&at8), "{text}\nwants {at8}");
        assert!(
            text.contains("k = 4, sae_tied_topk − sae_untied_topk:")
                && text.contains(&format!("Holm p {} → unclear", format_or_missing(1.0))),
            "{text}"
        );
        assert!(text.contains("these 2 comparisons"), "{text}");
        assert!(equal_l0_sentence(&points[..0]).is_none());
    }
}
