//! Study 10: sparse-autoencoder practice beside PCA and a truly tied model.
//! Claim (Gao et al. 2024; issue 17): TopK codes fix L0 directly, an
//! untied model initialised as the tied one stays close to it, and the
//! AuxK loss leaves fewer dead latents; PCA at the same k is the linear
//! reference.
//!
//! On one train/test split (20% test, seeded), per latent size of the
//! preset (ascending) and seed, the variants below train with Adam at the preset's
//! learning rate (one rate for all, no grid: the variants differ in their
//! code, not their tuning), a unit-norm decoder, the pre-encoder bias at the
//! training rows' geometric median, early stopping on 20% of the training
//! rows and dead latents tracked over a window of one pass over the
//! training rows:
//!
//! - `sae_tied_topk`, `sae_untied_topk`, `sae_untied_tied_init_topk`: TopK
//!   with `k_active = max(1, latent / 4)` ([`k_active`]), tied, untied
//!   (independent decoder draw) and untied from the tied initialisation;
//! - `sae_tied_l1`: tied ReLU with an L1 weight chosen per latent size (see
//!   below) instead of TopK;
//! - `sae_tied_topk_auxk`, `sae_untied_topk_auxk`: the TopK models with AuxK
//!   (`k_aux = max(1, latent / 2)`, `α = 1/32`).
//!
//! # Latent sizes
//! The study compares under- and over-complete codes, so sizes above the
//! data's width `d` are kept (PCA then uses all `d` components). When the
//! caller gives no sizes (the report without `--latent`), they come from
//! [`default_latents`]: three powers of two, log-spaced from
//! `min(32, d/4)` to `min(1024, 4d)` (mnist10k, `d = 784`: 32, 256, 1024;
//! digits, `d = 64`: 16, 64, 256). Why: one clearly under-complete size
//! where PCA is a fair reference, one near the width, one over-complete
//! size as in SAE practice, capped at 1024 so the largest run stays within
//! the time of a report on two cores.
//!
//! # Epoch cap
//! An epoch costs about `6 n d k` flops (`n` fitting rows), so a 1024-wide
//! model on mnist10k costs 30 times a 32-wide one per epoch. Every run gets
//! at most [`epoch_cap`] epochs: the preset's cap, lowered so that
//! `epochs · n · d · k` stays within [`WORK_PER_RUN`] (at least
//! [`MIN_EPOCHS`]). On mnist10k (3,840 fitting rows) that is 38 epochs at
//! k = 1024, 155 at 256 and the preset's cap at 32: at about 0.2 s per
//! 1024-wide epoch, 21 runs per size (3 seeds x 6 variants and 3 more L1
//! trials) cost at most about 3 minutes at each of the two large sizes,
//! which keeps the whole `report --study sae --dataset mnist10k` within
//! 15 minutes on two cores (an estimate from the flop count). Early stopping ends most small runs before their cap; a run that
//! reaches it has `stop_reason = max_epochs` (not converged), and a finding
//! counts those runs per size.
//!
//! # L1 weight
//! The loss is `Σ(x̂ − x)² / (N d) + λ Σ|h| / N`: for a ReLU unit with a
//! unit-norm decoder direction `w`, the L1 term pays for itself only when
//! the unit's projection of the residual exceeds `τ = λ d / 2` (the
//! derivative of the loss in `h`). So the weights are written as thresholds
//! relative to the data's scale: `λ = 2 f s / d`, with `s` the root mean
//! squared distance of the training rows to their mean and `f` in
//! [`L1_THRESHOLDS`] (1/512 to 1/8, ×4 apart) ([`l1_grid`]). A fixed `λ`
//! would mean different things on different data: the preset's largest,
//! 1e-2, is `f ≈ 0.5` on mnist10k, which switches every unit off (FVU ≈ 1).
//! Per latent size, the first seed trains once per grid weight, and the
//! weight whose L0 on the training rows is nearest the TopK variants'
//! `k_active` is kept ([`pick_l1`]; ties to the smaller weight), so L1 and
//! TopK are compared at about the same sparsity; that run is the first
//! seed's row and the other seeds train at the same weight. The test rows
//! play no part in the choice.
//!
//! # Frame
//! The results columns, then `l0` (mean active latents per test row),
//! `fvu` (test MSE over the test rows' total variance),
//! `dead_fraction_train` (the windowed training-time dead fraction at the
//! end of training; the results column `dead_fraction` counts units
//! constant over the test rows) and `decoder_encoder_cosine` (mean over
//! latents, untied models only); then the sparse-autoencoder peers'
//! diagnostics on the test rows (the definitions and their sources are in
//! [`crate::study::metrics`]): `dead_latents` (latents that fired on none
//! of them, [`dead_count`]), `dense_latents` (latents that fired on more
//! than [`DENSE_DENSITY`] of them, [`dense_count`]), `shrinkage`
//! (`E‖x̂‖² / E⟨x, x̂⟩`, [`shrinkage`]) and `l2_ratio` (the mean of
//! `‖x̂‖ / ‖x‖`, [`l2_ratio`]). PCA rows have `l0 = min(k, d)`, nulls for
//! the training-only columns and the latent counts (PCA's scores are no
//! sparse code), and their shrinkage and ℓ2 ratio as the linear reference
//! (a projection is unbiased: its shrinkage is 1 on its fitting rows).
//! FVU is SAELens's `1 − explained_variance` and L0 its `l0` (counting
//! nonzero latents, as dictionary_learning does; for these ReLU codes the
//! same as SAELens's `> 0`).
//!
//! # Figures
//! [`output`] also returns the report's charts, all computed here from the
//! runs: the L0/FVU trade-off per variant (medians over seeds per latent
//! size, from the frame: [`pareto_by_latent`]), the training-time dead
//! fraction over epochs of the TopK variants (first seed, largest size),
//! the histogram of the latents' firing densities on the test rows (first
//! seed, largest size, in [`density_bin_edges`]'s bins), the L1 weight
//! choice (training L0 against λ per size) and, for image
//! data, the first 16 decoder directions of every variant beside PCA's
//! components (first seed, largest size).

use super::{Output, Preset, RunOptions, median, missing, mse, rows, sample};
use crate::data::{Dataset, train_test_split};
use crate::error::{Error, Result};
use crate::linalg::{FittedPca, Pca};
use crate::model::{Activation, Autoencoder, AutoencoderSpec, BiasMode, Init, PreBiasInit};
use crate::model::{LossConfig, fvu, l0};
use crate::number::format_or_missing;
use crate::study::artifacts::decoder_filters;
use crate::study::metrics::{
    DENSE_DENSITY, dead_count, dense_count, density_bin_edges, density_histogram, firing_density,
    l2_ratio, shrinkage,
};
use crate::study::{Curves, Figures, Line, Row, Tiles, rows_to_frame};
use crate::train::{
    DeadLatents, EarlyStopping, History, Progress, StopReason, TrainConfig, Trainer,
};
use nalgebra::DMatrix;
use polars::prelude::{Column, DataFrame};
use rayon::prelude::*;
use std::collections::BTreeMap;
use std::time::Instant;

/// Largest default latent size: the over-complete end of
/// [`default_latents`].
pub const MAX_DEFAULT_LATENT: usize = 1024;
/// Smallest default latent size at most this (under-complete end).
pub const MIN_DEFAULT_LATENT: usize = 32;
/// `epochs · n_fit · d · k` allowed per run (see [`epoch_cap`]).
pub const WORK_PER_RUN: f64 = 1.2e11;
/// The fewest epochs [`epoch_cap`] lowers a cap to.
pub const MIN_EPOCHS: usize = 10;
/// L1 thresholds `f` relative to the data's scale (see [`l1_grid`]).
pub const L1_THRESHOLDS: [f64; 4] = [1.0 / 512.0, 1.0 / 128.0, 1.0 / 32.0, 1.0 / 8.0];
/// Decoder directions shown per variant in the atoms chart.
pub const ATOMS: usize = 16;

/// Section ids of the study's charts.
pub const PARETO_ID: &str = "sae-pareto";
/// See [`PARETO_ID`].
pub const DEAD_ID: &str = "sae-dead-latents";
/// See [`PARETO_ID`].
pub const L1_ID: &str = "sae-l1-weight";
/// See [`PARETO_ID`].
pub const ATOMS_ID: &str = "sae-atoms";
/// See [`PARETO_ID`].
pub const DENSITY_ID: &str = "sae-firing-density";

/// One trained variant of the study.
#[derive(Clone, Copy, Debug)]
struct Variant {
    name: &'static str,
    tied: bool,
    tied_init: bool,
    top_k: bool,
    auxk: bool,
    /// Palette index in the charts: a model and its AuxK twin share it
    /// (the twin is dashed).
    color: usize,
}

const VARIANTS: [Variant; 6] = [
    Variant {
        name: "sae_tied_topk",
        tied: true,
        tied_init: false,
        top_k: true,
        auxk: false,
        color: 1,
    },
    Variant {
        name: "sae_untied_topk",
        tied: false,
        tied_init: false,
        top_k: true,
        auxk: false,
        color: 2,
    },
    Variant {
        name: "sae_untied_tied_init_topk",
        tied: false,
        tied_init: true,
        top_k: true,
        auxk: false,
        color: 3,
    },
    Variant {
        name: "sae_tied_l1",
        tied: true,
        tied_init: false,
        top_k: false,
        auxk: false,
        color: 4,
    },
    Variant {
        name: "sae_tied_topk_auxk",
        tied: true,
        tied_init: false,
        top_k: true,
        auxk: true,
        color: 1,
    },
    Variant {
        name: "sae_untied_topk_auxk",
        tied: false,
        tied_init: false,
        top_k: true,
        auxk: true,
        color: 2,
    },
];

/// The name of the L1 variant.
pub const L1_VARIANT: &str = "sae_tied_l1";
/// Its position in [`VARIANTS`].
const L1_INDEX: usize = 3;
const _: () = assert!(!VARIANTS[L1_INDEX].top_k && !VARIANTS[L1_INDEX].auxk);

/// `(palette index, dashed)` of a model's line: PCA is 0.
fn style(model: &str) -> (usize, bool) {
    VARIANTS
        .iter()
        .find(|v| v.name == model)
        .map_or((0, false), |v| (v.color, v.auxk))
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

/// TopK's active latents at latent size `k`: `max(1, k / 4)`.
pub fn k_active(k: usize) -> usize {
    (k / 4).max(1)
}

/// The epoch cap of a run at latent size `k` on `n_fit` fitting rows of
/// width `d`: the preset's `cap`, lowered to `⌊WORK_PER_RUN / (n_fit d k)⌋`
/// when that is smaller, but never below [`MIN_EPOCHS`] (nor above `cap`).
pub fn epoch_cap(cap: usize, n_fit: usize, d: usize, k: usize) -> usize {
    let work = (n_fit.max(1) as f64) * (d.max(1) as f64) * (k.max(1) as f64);
    let by_work = (WORK_PER_RUN / work).floor() as usize;
    by_work.max(MIN_EPOCHS).min(cap)
}

/// The L1 weights tried: `λ = 2 f s / d` for `f` in [`L1_THRESHOLDS`],
/// `s` the root mean squared distance of the rows of `x` to their mean
/// (the square root of the total variance) and `d` the width: the
/// residual projection a unit must exceed to pay for its L1 term is
/// `f s`.
pub fn l1_grid(x: &DMatrix<f32>) -> Vec<f64> {
    let (n, d) = x.shape();
    if n == 0 || d == 0 {
        return Vec::new();
    }
    let mut total = 0.0;
    for j in 0..d {
        let col = x.column(j);
        let mean = col.iter().map(|&v| v as f64).sum::<f64>() / n as f64;
        total += col.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / n as f64;
    }
    let s = total.sqrt();
    L1_THRESHOLDS
        .iter()
        .map(|f| 2.0 * f * s / d as f64)
        .collect()
}

/// The rule that picks the L1 weight: of `(weight, L0)` trials, the weight
/// whose L0 is nearest `target` (TopK's `k_active`); ties go to the
/// smaller weight. `None` if there is no trial with a finite L0.
pub fn pick_l1(trials: &[(f64, f64)], target: f64) -> Option<f64> {
    trials
        .iter()
        .filter(|(w, l)| w.is_finite() && l.is_finite())
        .min_by(|a, b| {
            (a.1 - target)
                .abs()
                .total_cmp(&(b.1 - target).abs())
                .then(a.0.total_cmp(&b.0))
        })
        .map(|t| t.0)
}

/// The extra measurements of one row.
struct Extra {
    l0: f64,
    fvu: f64,
    dead_train: Option<f64>,
    cosine: Option<f64>,
    /// Latents that fired on none of the test rows (none for PCA).
    dead: Option<i64>,
    /// Latents that fired on more than [`DENSE_DENSITY`] of them.
    dense: Option<i64>,
    shrinkage: Option<f64>,
    l2_ratio: Option<f64>,
}

/// `x` in f64, for the metrics (which take f64 so that a run's numbers do
/// not depend on the precision it trained in).
fn widen(x: &DMatrix<f32>) -> DMatrix<f64> {
    x.map(|v| v as f64)
}

/// A ratio of the metrics, or `None` where it is not defined (a
/// reconstruction with `E⟨x, x̂⟩ = 0`, such as all zeros from a model
/// whose latents all died): the row keeps a null rather than failing the
/// study.
fn defined(ratio: Result<f64>) -> Result<Option<f64>> {
    match ratio {
        Ok(v) => Ok(Some(v)),
        Err(Error::Numerical(_)) => Ok(None),
        Err(e) => Err(e),
    }
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

/// Runs the study to its frame (see [`output`] for its charts too).
///
/// # Errors
/// No latent size, data too small to split, a training error.
pub fn run(ds: &Dataset, preset: &Preset, opts: &RunOptions) -> Result<DataFrame> {
    Ok(output(ds, preset, opts)?.frame)
}

/// What the first seed's runs at the largest size leave for the charts.
#[derive(Default)]
struct Shown {
    /// `(variant, (epoch, dead fraction) points)` of the TopK variants.
    dead: Vec<(Variant, Vec<(f64, f64)>)>,
    /// `(label, atoms, how many of them never fired on the test rows)`.
    atoms: Vec<(String, Vec<Vec<f64>>, Option<usize>)>,
    /// `(variant, firing density of each latent on the test rows)`.
    density: Vec<(Variant, Vec<f64>)>,
}

impl Shown {
    /// Keeps what the charts read of variant `v`'s run `t`: its dead
    /// fraction per epoch (TopK only), its first atoms and its firing
    /// density.
    fn add(&mut self, v: Variant, t: &Trained) {
        if v.top_k {
            let points = t
                .history
                .epochs
                .iter()
                .filter_map(|r| r.dead_fraction.map(|f| (r.epoch as f64, f)))
                .collect();
            self.dead.push((v, points));
        }
        let filters = decoder_filters(&t.model.layers()[0]);
        let m = filters.nrows().min(ATOMS);
        let atoms = (0..m).map(|i| filters.row(i).iter().copied().collect());
        let silent = (0..m)
            .filter(|&j| t.test_code.column(j).iter().all(|&h| h == 0.0))
            .count();
        self.atoms
            .push((v.name.to_string(), atoms.collect(), Some(silent)));
        self.density.push((v, t.density.clone()));
    }
}

/// What the runs leave: the frame's rows with their extra columns, the
/// L1 choice at each latent size and the charts' data.
#[derive(Default)]
struct Collected {
    rows: Vec<Row>,
    extras: Vec<Extra>,
    /// Per latent size: the (weight, training L0) trials and the choice.
    l1_trials: Vec<L1Choice>,
    shown: Shown,
}

/// PCA at one latent size: its own row's numbers, and the test error
/// every run's ratio divides by.
struct PcaBaseline {
    fitted: FittedPca<f32>,
    /// Its component count: the latent size, capped by the data's width
    /// and the training rows.
    kp: usize,
    seconds: f64,
    train: f64,
    test: f64,
    fvu: f64,
    shrinkage: Option<f64>,
    l2_ratio: Option<f64>,
}

impl PcaBaseline {
    /// PCA with latent size `k` fitted on `xtr` (timed) and measured on
    /// `xte`; `d` is the data's width.
    fn fit(xtr: &DMatrix<f32>, xte: &DMatrix<f32>, d: usize, k: usize) -> Result<Self> {
        let kp = k.min(d).min(xtr.nrows());
        let t0 = Instant::now();
        let pca = Pca::count(kp).fit(xtr)?;
        let pca_seconds = t0.elapsed().as_secs_f64();
        let pca_rec = pca.reconstruct(xte)?;
        let pca_test = mse(xte, &pca_rec);
        let pca_train = mse(xtr, &pca.reconstruct(xtr)?);
        let pca_fvu = fvu(xte, &pca_rec)?;
        let (xte64, pca_rec64) = (widen(xte), widen(&pca_rec));
        let pca_shrinkage = defined(shrinkage(&xte64, &pca_rec64))?;
        let pca_l2_ratio = defined(l2_ratio(&xte64, &pca_rec64))?;
        Ok(Self {
            fitted: pca,
            kp,
            seconds: pca_seconds,
            train: pca_train,
            test: pca_test,
            fvu: pca_fvu,
            shrinkage: pca_shrinkage,
            l2_ratio: pca_l2_ratio,
        })
    }

    /// The first [`ATOMS`] principal directions, as the atoms chart draws
    /// them.
    fn atoms(&self) -> Vec<Vec<f64>> {
        let c = self.fitted.components();
        (0..c.nrows().min(ATOMS))
            .map(|i| c.row(i).iter().map(|&v| v as f64).collect())
            .collect()
    }
}

/// What the runs at every latent size share: the sampled data and its
/// split, and the seed and size whose runs the charts show.
struct Runs<'a> {
    preset: &'a Preset,
    data: &'a Dataset,
    xtr: &'a DMatrix<f32>,
    xte: &'a DMatrix<f32>,
    /// The data's width.
    d: usize,
    first_seed: u64,
    shown_k: usize,
}

impl Runs<'_> {
    /// The L1 weight at latent size `k`, from the first seed's L1 runs over
    /// `grid`: the choice with its trials, and the kept run.
    fn choose_l1(&self, k: usize, grid: &[f64], cap: usize) -> Result<(L1Choice, Trained)> {
        let (preset, data, xtr, xte) = (self.preset, self.data, self.xtr, self.xte);
        let first_seed = self.first_seed;
        // The L1 weight, from the first seed's runs over the grid.
        let l1_variant = VARIANTS[L1_INDEX];
        // The runs are independent and each is deterministic, so they train
        // side by side (a study's runs are too small to fill both cores
        // alone) and give the same bits as one after another.
        let grid_runs: Vec<(f64, Trained, f64)> = grid
            .par_iter()
            .map(|&w| {
                let t = train_variant(l1_variant, k, first_seed, preset, w, cap, data, xtr, xte)?;
                let l0_train = l0(&t.model.encode(xtr)?)?;
                Ok((w, t, l0_train))
            })
            .collect::<Result<_>>()?;
        let trials: Vec<(f64, f64)> = grid_runs.iter().map(|(w, _, l)| (*w, *l)).collect();
        let chosen = pick_l1(&trials, k_active(k) as f64);
        let Some((l1, first_l1, _)) = grid_runs.into_iter().find(|r| Some(r.0) == chosen) else {
            return Err(Error::Numerical(format!(
                "sae: no L1 weight trained to a finite L0 at latent size {k}"
            )));
        };
        let choice = L1Choice {
            latent: k,
            trials,
            weight: l1,
        };
        Ok((choice, first_l1))
    }

    /// Every (seed, variant) run at latent size `k`, in the frame's order,
    /// the L1 variants with weight `l1`; the first seed's L1 run is
    /// `first_l1`, the run its weight was chosen by.
    fn train_all(&self, k: usize, l1: f64, cap: usize, first_l1: Trained) -> Result<Vec<Trained>> {
        let (preset, data, xtr, xte) = (self.preset, self.data, self.xtr, self.xte);
        // Every (seed, variant) run but the first seed's L1 one (the grid's
        // kept run), side by side, in the frame's order.
        let jobs: Vec<(usize, u64, Variant)> = preset
            .seeds
            .iter()
            .enumerate()
            .flat_map(|(si, &seed)| VARIANTS.iter().map(move |&v| (si, seed, v)))
            .collect();
        let mut first_l1 = Some(first_l1);
        let trained: Vec<Trained> = jobs
            .par_iter()
            .map(|&(si, seed, v)| {
                if si == 0 && !v.top_k {
                    return Ok(None);
                }
                train_variant(v, k, seed, preset, l1, cap, data, xtr, xte).map(Some)
            })
            .collect::<Result<Vec<_>>>()?
            .into_iter()
            // The one run left out takes the grid's kept run: the first
            // seed's L1 row is the run its weight was chosen by.
            .filter_map(|t| t.or_else(|| first_l1.take()))
            .collect();
        Ok(trained)
    }

    /// Adds latent size `k`'s rows to `out`: per seed, PCA's row, then
    /// its variants' runs `trained` (in job order) with their ratio to
    /// PCA; the first seed's runs at the shown size leave their charts'
    /// data.
    fn record(&self, k: usize, pca: &PcaBaseline, trained: Vec<Trained>, out: &mut Collected) {
        let mut trained = trained.into_iter();
        for (si, &seed) in self.preset.seeds.iter().enumerate() {
            out.rows.push(self.pca_row(k, seed, pca));
            out.extras.push(Extra {
                l0: pca.kp as f64,
                fvu: pca.fvu,
                dead_train: None,
                cosine: None,
                dead: None,
                dense: None,
                shrinkage: pca.shrinkage,
                l2_ratio: pca.l2_ratio,
            });
            // `trained` is in job order: this seed's runs, variant by variant.
            for (v, t) in VARIANTS.into_iter().zip(trained.by_ref()) {
                if si == 0 && k == self.shown_k {
                    out.shown.add(v, &t);
                }
                let mut row = t.row;
                row.pca_test_mse = pca.test;
                // PCA is exact when k reaches the data's rank: then the
                // ratio is +inf (1 if the model is exact too), never NaN.
                row.ratio_to_pca = if pca.test > 0.0 {
                    row.test_mse / pca.test
                } else if row.test_mse == 0.0 {
                    1.0
                } else {
                    f64::INFINITY
                };
                out.rows.push(row);
                out.extras.push(t.extra);
            }
        }
    }

    /// PCA's row at latent size `k` for `seed`.
    fn pca_row(&self, k: usize, seed: u64, pca: &PcaBaseline) -> Row {
        Row {
            dataset: self.data.name().to_string(),
            model: "pca".into(),
            activation: "identity".into(),
            bias_mode: BiasMode::PreCentering.name().into(),
            latent: k as i64,
            params: pca.fitted.parameter_count() as i64,
            n_train: self.xtr.nrows() as i64,
            seed: seed as i64,
            l2: 0.0,
            sparsity_weight: 0.0,
            train_mse: pca.train,
            test_mse: pca.test,
            pca_test_mse: pca.test,
            ratio_to_pca: 1.0,
            epochs: 0,
            seconds: pca.seconds,
            max_angle_deg: None,
            mean_angle_deg: None,
            wwt_minus_i: None,
            dead_fraction: 0.0,
            sparsity: 0.0,
            learning_rate: None,
            best_epoch: 0,
            val_mse: pca.train,
            stop_reason: "closed_form".into(),
            val_mse_at_budget: None,
        }
    }

    /// The study's charts (the module docs list them), from its frame
    /// `df` and what the runs left; the atoms only for image data `ds`.
    fn charts(
        &self,
        ds: &Dataset,
        df: &DataFrame,
        shown: Shown,
        l1_trials: &[L1Choice],
    ) -> Result<Figures> {
        let mut figures = Figures::default();
        figures.curves.push(pareto_chart(df, self.d)?);
        figures.curves.push(dead_chart(
            &shown.dead,
            self.shown_k,
            self.first_seed,
            self.xtr.nrows(),
        ));
        figures.curves.push(density_chart(
            &shown.density,
            self.shown_k,
            self.first_seed,
            self.xte.nrows(),
        ));
        figures.curves.push(l1_chart(l1_trials, self.xtr));
        if let Some(shape) = ds.image_shape().filter(|(h, w)| h * w == self.d) {
            figures
                .tiles
                .push(atoms_tiles(shown.atoms, shape, self.shown_k));
        }
        Ok(figures)
    }
}

/// The results frame of `rows` with the study's own columns from
/// `extras` (one per row).
fn results_frame(rows: &[Row], extras: &[Extra]) -> Result<DataFrame> {
    let mut df = rows_to_frame(rows)?;
    let col = |name: &str, f: &dyn Fn(&Extra) -> Option<f64>| {
        Column::new(name.into(), extras.iter().map(f).collect::<Vec<_>>())
    };
    df.with_column(col("l0", &|e| Some(e.l0)))?;
    df.with_column(col("fvu", &|e| Some(e.fvu)))?;
    df.with_column(col("dead_fraction_train", &|e| e.dead_train))?;
    df.with_column(col("decoder_encoder_cosine", &|e| e.cosine))?;
    let count = |name: &str, f: &dyn Fn(&Extra) -> Option<i64>| {
        Column::new(name.into(), extras.iter().map(f).collect::<Vec<_>>())
    };
    df.with_column(count("dead_latents", &|e| e.dead))?;
    df.with_column(count("dense_latents", &|e| e.dense))?;
    df.with_column(col("shrinkage", &|e| e.shrinkage))?;
    df.with_column(col("l2_ratio", &|e| e.l2_ratio))?;
    Ok(df)
}

/// Runs the study to its frame and the data of its charts (the module
/// docs list them).
///
/// # Errors
/// As [`run`].
pub fn output(ds: &Dataset, preset: &Preset, opts: &RunOptions) -> Result<Output> {
    let data = sample(ds, preset)?;
    let (train, test) = train_test_split(&data, 0.2, 0)?;
    let (xtr, xte) = (train.x_as::<f32>(), test.x_as::<f32>());
    let d = data.n_features();
    let mut latents: Vec<usize> = preset.latents.iter().copied().filter(|&k| k >= 1).collect();
    latents.sort_unstable();
    latents.dedup();
    let (Some(&first_seed), Some(&shown_k)) = (preset.seeds.first(), latents.iter().max()) else {
        return Err(Error::config(
            "latents",
            "the sae study needs a latent size and a seed",
        ));
    };
    let grid = l1_grid(&xtr);
    let n_fit = xtr.nrows() - preset.protocol().validation_rows(xtr.nrows());
    let runs = Runs {
        preset,
        data: &data,
        xtr: &xtr,
        xte: &xte,
        d,
        first_seed,
        shown_k,
    };
    let mut out = Collected::default();
    for (i, &k) in latents.iter().enumerate() {
        let cap = epoch_cap(preset.epochs, n_fit, d, k);
        opts.note(&format!(
            "sae: latent size {k} ({} of {}): {} L1 weights, then {} variants x {} seeds, at most {cap} epochs each",
            i + 1,
            latents.len(),
            grid.len(),
            VARIANTS.len(),
            preset.seeds.len()
        ));
        let pca = PcaBaseline::fit(&xtr, &xte, d, k)?;
        if k == shown_k {
            out.shown.atoms.push(("pca".into(), pca.atoms(), None));
        }
        let (choice, first_l1) = runs.choose_l1(k, &grid, cap)?;
        let l1 = choice.weight;
        out.l1_trials.push(choice);
        let trained = runs.train_all(k, l1, cap, first_l1)?;
        runs.record(k, &pca, trained, &mut out);
    }
    let df = results_frame(&out.rows, &out.extras)?;
    let figures = runs.charts(ds, &df, out.shown, &out.l1_trials)?;
    Ok(Output { frame: df, figures })
}

/// The L1 weight chosen at one latent size, from its trials.
struct L1Choice {
    latent: usize,
    /// `(weight, L0 on the training rows)`, in grid order.
    trials: Vec<(f64, f64)>,
    weight: f64,
}

/// One trained variant: its row and extras, and what the charts read.
struct Trained {
    row: Row,
    extra: Extra,
    model: Autoencoder<f32>,
    history: History,
    test_code: DMatrix<f32>,
    /// Firing density of each latent on the test rows.
    density: Vec<f64>,
}

#[allow(clippy::too_many_arguments)]
fn train_variant(
    v: Variant,
    k: usize,
    seed: u64,
    preset: &Preset,
    l1: f64,
    epochs: usize,
    data: &Dataset,
    xtr: &DMatrix<f32>,
    xte: &DMatrix<f32>,
) -> Result<Trained> {
    let d = xtr.ncols();
    let act = if v.top_k {
        Activation::TopK { k: k_active(k) }
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
        .epochs(epochs)
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
    let recon = m.reconstruct(xte)?;
    let density = firing_density(&widen(&code))?;
    let (x64, recon64) = (widen(xte), widen(&recon));
    let extra = Extra {
        l0: l0(&code)?,
        fvu: fvu(xte, &recon)?,
        dead_train: last.and_then(|r| r.dead_fraction),
        cosine: m.mean_decoder_encoder_cosine(),
        dead: Some(dead_count(&density) as i64),
        dense: Some(dense_count(&density) as i64),
        shrinkage: defined(shrinkage(&x64, &recon64))?,
        l2_ratio: defined(l2_ratio(&x64, &recon64))?,
    };
    Ok(Trained {
        row,
        extra,
        history: out.history,
        model: out.model,
        test_code: code,
        density,
    })
}

/// The f64 column `name` of `df`, row by row; missing (or of another
/// type) is [`missing`].
fn f64_column(df: &DataFrame, name: &str) -> Result<Vec<Option<f64>>> {
    Ok(df
        .column(name)
        .map_err(|_| missing(name))?
        .f64()
        .map_err(|_| missing(name))?
        .iter()
        .collect())
}

/// The i64 column `name` of `df` as f64, row by row; missing (or of
/// another type) is [`missing`].
fn count_column(df: &DataFrame, name: &str) -> Result<Vec<Option<f64>>> {
    Ok(df
        .column(name)
        .map_err(|_| missing(name))?
        .i64()
        .map_err(|_| missing(name))?
        .iter()
        .map(|v| v.map(|c| c as f64))
        .collect())
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
/// and (SAEs) the dead and dense latent counts on the test rows. `None`
/// for a frame without those columns (written before they existed).
fn diagnostics_sentence(df: &DataFrame) -> Result<Option<String>> {
    let names = ["dead_latents", "dense_latents", "shrinkage", "l2_ratio"];
    if names.iter().any(|n| df.column(n).is_err()) {
        return Ok(None);
    }
    let (dead, dense) = (
        count_column(df, "dead_latents")?,
        count_column(df, "dense_latents")?,
    );
    let (shrunk, ratio) = (f64_column(df, "shrinkage")?, f64_column(df, "l2_ratio")?);
    let points = rows(df)?;
    let Some(k) = points.iter().map(|r| r.latent).max() else {
        return Ok(None);
    };
    let parts: Vec<String> = model_names()
        .filter_map(|name| {
            let at: Vec<usize> = (0..points.len())
                .filter(|&i| points[i].model == name && points[i].latent == k)
                .collect();
            let med = |col: &[Option<f64>]| {
                median(&at.iter().filter_map(|&i| col[i]).collect::<Vec<f64>>())
            };
            let mut part = format!(
                "{name} shrinkage {}, ℓ2 ratio {}",
                format_or_missing(med(&shrunk)?),
                med(&ratio).map_or_else(|| format_or_missing(f64::NAN), format_or_missing)
            );
            if let (Some(a), Some(b)) = (med(&dead), med(&dense)) {
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
        return Ok(None);
    }
    Ok(Some(format!(
        "At k = {k}, on the test rows (medians over seeds): {}. Shrinkage is E‖x̂‖² / E⟨x, x̂⟩ (below \
         1: reconstructions shrunk towards 0), the ℓ2 ratio the mean of ‖x̂‖ / ‖x‖; dead latents \
         fired on no test row, dense ones on more than a fraction {DENSE_DENSITY} of them.",
        parts.join("; ")
    )))
}

/// A frame row with its `l0` and `fvu`.
type FramePoint = (Row, Option<f64>, Option<f64>);

/// The frame's model, latent, `l0` and `fvu` columns, row by row.
fn frame_points(df: &DataFrame) -> Result<Vec<FramePoint>> {
    let get = |name: &str| f64_column(df, name);
    let (l0s, fvus) = (get("l0")?, get("fvu")?);
    Ok(rows(df)?
        .into_iter()
        .zip(l0s)
        .zip(fvus)
        .map(|((r, a), b)| (r, a, b))
        .collect())
}

/// The models of the study in chart order: PCA, then the variants.
fn model_names() -> impl Iterator<Item = &'static str> {
    std::iter::once("pca").chain(VARIANTS.iter().map(|v| v.name))
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
/// test L0 and FVU at each latent size (ascending): the points of the
/// Pareto chart. Models without rows are left out.
pub fn pareto_by_latent(df: &DataFrame) -> Result<Vec<(String, Vec<ParetoAt>)>> {
    let points = frame_points(df)?;
    Ok(model_names()
        .filter_map(|name| {
            let mut by: BTreeMap<i64, (Vec<f64>, Vec<f64>)> = BTreeMap::new();
            for (r, l, f) in &points {
                if r.model == name
                    && let (Some(l), Some(f)) = (l, f)
                {
                    let e = by.entry(r.latent).or_default();
                    e.0.push(*l);
                    e.1.push(*f);
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
        .collect())
}

/// The L0 / FVU chart: one line per model, one marker per latent size.
fn pareto_chart(df: &DataFrame, d: usize) -> Result<Curves> {
    let lines = pareto_by_latent(df)?;
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
    let log_x = series
        .iter()
        .flat_map(|l| l.points.iter())
        .all(|&(x, _)| x > 0.0 && x.is_finite());
    Ok(Curves {
        id: PARETO_ID.into(),
        title: "Sparsity against reconstruction (L0 vs FVU)".into(),
        caption: format!(
            "Each marker is one latent size ({}); its position is the median over {seeds} seed(s) of \
             the test L0 (mean active latents per test row) and the test FVU (MSE over the test rows' \
             variance). PCA's L0 is its component count, min(k, d = {d}). Lower and further left is \
             better; AuxK twins are dashed in their base model's colour. The lowest-FVU SAE per size: {}.",
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
    })
}

/// The dead fraction over epochs of the TopK variants.
fn dead_chart(dead: &[(Variant, Vec<(f64, f64)>)], k: usize, seed: u64, window: usize) -> Curves {
    let ends: Vec<String> = dead
        .iter()
        .filter_map(|(v, p)| {
            p.last()
                .map(|&(e, f)| format!("{} {} after {} epochs", v.name, format_or_missing(f), e))
        })
        .collect();
    Curves {
        id: DEAD_ID.into(),
        title: format!("Dead latents during training (k = {k})"),
        caption: format!(
            "The fraction of latents that fired on none of the last {window} training samples (one \
             pass over the training rows), at the end of each epoch of seed {seed}'s TopK runs at \
             k = {k}. AuxK twins are dashed in their base model's colour: AuxK should keep theirs lower. \
             At the last epoch: {}.",
            ends.join(", ")
        ),
        x_label: "epoch".into(),
        y_label: "dead fraction".into(),
        log_x: false,
        log_y: false,
        series: dead
            .iter()
            .map(|(v, p)| Line {
                name: v.name.into(),
                points: p.clone(),
                color: v.color,
                dashed: v.auxk,
                markers: false,
            })
            .collect(),
    }
}

/// The histogram of the latents' firing densities on the `n_test` test
/// rows, one step line per variant (first seed, size `k`), in
/// [`density_bin_edges`]'s quarter-decade bins on a log10 axis, as SAELens
/// draws its feature-density histogram; dead latents, which that axis
/// cannot hold, are counted in the caption.
fn density_chart(density: &[(Variant, Vec<f64>)], k: usize, seed: u64, n_test: usize) -> Curves {
    let edges = density_bin_edges(n_test);
    let xs: Vec<f64> = edges.iter().map(|e| e.log10()).collect();
    let counts: Vec<String> = density
        .iter()
        .map(|(v, d)| {
            format!(
                "{} {} dead and {} dense",
                v.name,
                dead_count(d),
                dense_count(d)
            )
        })
        .collect();
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
        series: density
            .iter()
            .map(|(v, d)| Line {
                name: v.name.into(),
                points: step_points(&xs, &density_histogram(d, &edges)),
                color: v.color,
                dashed: v.auxk,
                markers: false,
            })
            .collect(),
    }
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

/// Training-row L0 against the L1 weight, one line per latent size.
fn l1_chart(trials: &[L1Choice], x: &DMatrix<f32>) -> Curves {
    let chosen: Vec<String> = trials
        .iter()
        .map(|c| {
            let l = c
                .trials
                .iter()
                .find(|p| p.0 == c.weight)
                .map_or(f64::NAN, |p| p.1);
            format!(
                "k = {}: λ = {} (training L0 {}, target {})",
                c.latent,
                format_or_missing(c.weight),
                format_or_missing(l),
                k_active(c.latent)
            )
        })
        .collect();
    let grid = l1_grid(x);
    let series: Vec<Line> = trials
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
            "The L1 variant's mean active latents on the training rows (first seed) for each weight \
             tried, λ = 2 f s / d with f in {{{}}} (s the RMS distance of the training rows to \
             their mean, d the width: λ = {}). Per size the weight whose L0 is nearest TopK's k/4 \
             is kept, ties to the smaller: {}.",
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
        y_label: "L0 on the training rows".into(),
        log_x,
        log_y: false,
        series,
    }
}

/// The first decoder directions of every model as image tiles.
fn atoms_tiles(
    atoms: Vec<(String, Vec<Vec<f64>>, Option<usize>)>,
    shape: (usize, usize),
    k: usize,
) -> Tiles {
    let silent: Vec<String> = atoms
        .iter()
        .filter_map(|(n, a, s)| s.map(|s| format!("{n} {s} of {}", a.len())))
        .collect();
    Tiles {
        id: ATOMS_ID.into(),
        title: format!("Dictionary atoms (k = {k})"),
        caption: format!(
            "The first {ATOMS} decoder directions (unit norm; rows of W when tied, columns of W_dec \
             when untied) of each variant's first-seed run at k = {k}, under PCA's top components. \
             Directions that never fired on the test rows keep their initial draw and look like \
             noise; of those shown: {}.",
            silent.join(", ")
        ),
        shape,
        rows: atoms.into_iter().map(|(n, a, _)| (n, a)).collect(),
    }
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
/// seeds of L0, FVU and the training-time dead fraction.
pub fn variant_medians(df: &DataFrame) -> Result<Vec<VariantMedians>> {
    let get = |name: &str| f64_column(df, name);
    let models: Vec<Option<String>> = df
        .column("model")
        .map_err(|_| missing("model"))?
        .str()
        .map_err(|_| missing("model"))?
        .iter()
        .map(|s| s.map(str::to_string))
        .collect();
    let (l0s, fvus, deads) = (get("l0")?, get("fvu")?, get("dead_fraction_train")?);
    Ok(model_names()
        .filter_map(|name| {
            let pick = |col: &[Option<f64>]| -> Vec<f64> {
                models
                    .iter()
                    .zip(col)
                    .filter(|(m, _)| m.as_deref() == Some(name))
                    .filter_map(|(_, v)| *v)
                    .collect()
            };
            Some(VariantMedians {
                model: name.to_string(),
                l0: median(&pick(&l0s))?,
                fvu: median(&pick(&fvus))?,
                dead_fraction: median(&pick(&deads)),
            })
        })
        .collect())
}

/// The L1 variant's weight per latent size and the test L0 it reached,
/// or `None` without L1 runs.
fn l1_sentence(points: &[FramePoint]) -> Option<String> {
    // The L1 weight per latent size, and the L0 it reached.
    let mut l1: BTreeMap<i64, (Vec<f64>, Vec<f64>)> = BTreeMap::new();
    for (r, l, _) in points {
        if r.model == L1_VARIANT {
            let e = l1.entry(r.latent).or_default();
            if !e.0.contains(&r.sparsity_weight) {
                e.0.push(r.sparsity_weight);
            }
            e.1.extend(*l);
        }
    }
    if l1.is_empty() {
        return None;
    }
    let parts: Vec<String> = l1
        .iter()
        .map(|(k, (w, l))| {
            let ws: Vec<String> = w.iter().map(|w| format_or_missing(*w)).collect();
            format!(
                "k = {k}: λ = {}, median test L0 {} (TopK {})",
                ws.join(" / "),
                median(l).map_or_else(|| format_or_missing(f64::NAN), format_or_missing),
                k_active(*k as usize)
            )
        })
        .collect();
    Some(format!(
        "{L1_VARIANT}'s L1 weight, chosen per size as the one whose training L0 is nearest TopK's: {}.",
        parts.join("; ")
    ))
}

/// How many trained runs stopped at their epoch cap rather than on their
/// validation loss, per latent size.
fn capped_sentence(points: &[FramePoint]) -> String {
    // Runs that ended at their epoch cap.
    let trained: Vec<&Row> = points
        .iter()
        .map(|(r, _, _)| r)
        .filter(|r| r.model != "pca")
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

/// Findings: the L0/FVU/dead-fraction table in one sentence per variant,
/// whether AuxK lowered the dead fraction of the tied TopK model, the
/// peers' diagnostics at the largest latent size (shrinkage, ℓ2 ratio,
/// dead and dense latents on the test rows), the L1 weight chosen per
/// latent size, and how many runs stopped at their epoch cap (not
/// converged).
pub fn summary(df: &DataFrame) -> Result<Vec<String>> {
    let p = variant_medians(df)?;
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
    out.extend(diagnostics_sentence(df)?);
    let points = frame_points(df)?;
    out.extend(l1_sentence(&points));
    out.push(capped_sentence(&points));
    Ok(out)
}
