//! Study 11: the dynamics of shallow non-linear autoencoders (Refinetti &
//! Goldt 2022), as an ordinary grid of cells: one variant per model the
//! claims compare ([`variants`]), each recording [`MetricSet::Dynamics`],
//! so the study is cached, sharded and merged like every other; the
//! claims are computed from its frame ([`claims_table`], [`summary`]).
//! Their claims: autoencoders learn the principal components one after
//! another; sigmoidal autoencoders with tied weights fail to learn; and
//! training the bias matters for ReLU autoencoders.
//!
//! # Grid
//! The claims are about dynamics, so each cell follows, epoch by epoch,
//! how well each leading principal direction `u_i` is found: its alignment
//! `max_j cos²(u_i, w_j)` with the decoder's directions `w_j`
//! ([`crate::model::theory::direction_alignment`]), recorded after every
//! epoch (the cell trains one epoch at a time, see
//! [`crate::study::DYNAMICS_COLUMNS`]). Eight variants, tied or untied ×
//! sigmoid or ReLU × trained or frozen biases ([`Variant::freeze_biases`]:
//! the biases stay at their initial zeros), each with `m =` [`WIDTH`]
//! hidden units, identity output and separate encoder/decoder biases,
//! train by plain SGD (the online dynamics the paper analyses; stateless,
//! so training one epoch at a time is one run) in batches of 16 from
//! `N(0, 0.01²)` weights, in f64, on one seed (the preset's first), with
//! no validation rows, no early stopping and no rate grid
//! ([`Protocol::fixed_budget`]), on two data sets:
//!
//! - synthetic: a spiked covariance ([`synthetic`]), 2000 rows of 50
//!   features, planted directions with spikes 8, 4, 2, 1 over noise σ =
//!   0.5;
//! - the report's dataset, a seeded sample of at most [`MAX_ROWS`] rows
//!   (when it has more than [`WIDTH`] features).
//!
//! On both, the `u_i` are the top [`WIDTH`] principal directions of the
//! cell's fitting rows (its split's PCA). On the synthetic data they
//! estimate the planted directions, which a cell cannot see (it knows its
//! rows only): with 1600 fitting rows of 50 features and the smallest
//! spike 4 times the noise variance, the sample's directions are close to
//! the planted ones, and it is the sample's spectrum the models see.
//!
//! Each seed's split holds out 20% of the rows as test rows; every variant
//! fits its rows centred with the fitting rows' mean and scaled so that
//! their mean variance per feature is 1 ([`Variant::standardise`]: the
//! sigmoid is not scale invariant, so both data sets meet it at the same
//! scale; the test rows never set their own scaling).
//!
//! # The rate
//!
//! For a linear tied unit `W = s uᵀ` on the objective `‖X − XWᵀW‖²/(Nd)`,
//! the loss along `u` (second moment `c`) is `(tr C − c(2s² − s⁴))/d`, so
//! from a small start `ds/dt ≈ 4 c s / d` per unit of rate: `s` grows as
//! `exp(4 c η t / d)` and direction `i` needs `t_i ∝ d / (c_i η)` steps.
//! The rate `η = ρ d / c_1` with `ρ` = [`RATE`] makes `t_i ∝ c_1 / (ρ c_i)`
//! the same on both data sets, and the stable rate (`4 c_1 η / d < 2`) is
//! far away (`4ρ = 0.02`). It is a [`SpectralRule`] rate, so each cell
//! resolves it against the spectrum of the rows it fits. The nonlinear
//! units are slower by their slope at 0 (1/4 for a sigmoid; a ReLU passes
//! half its inputs), so the budget, [`EPOCHS`] of 100 batches (fewer when
//! the preset's epoch cap is lower), leaves room for that.
//!
//! # The claims, as rows of the claims table
//!
//! Per data set (`learned` means a first epoch at alignment ≥
//! [`THRESHOLD`] for every direction; FEV is the fraction of PCA's
//! explained variance that the model explains on the test rows, `(E₀ −
//! E) / (E₀ − E_PCA)` with `E₀` the error of predicting the fitting
//! rows' mean and `E_PCA` that of PCA with `m` components: 1 as good as
//! PCA, 0 no better than the mean):
//!
//! 1. one after another: over the variants that learned, the number of
//!    consecutive directions `i < i + 1` whose crossing epochs (first epoch
//!    with alignment ≥ [`THRESHOLD`]) are inverted, `t_{i+1} < t_i`: passes
//!    at 0 (tolerance 0.5); no variant learned gives NaN, a fail;
//! 2. tied sigmoid fails: its FEV (trained biases) below 0.5;
//! 3. tied ReLU and untied sigmoid learn: `1 − min(FEV)` of the two
//!    (trained biases) below 0.5;
//! 4. the bias matters for ReLU: the largest, over tied and untied, of
//!    test MSE with trained biases over test MSE with frozen ones, below 1.
//!
//! Tolerances are the midpoints of the quantities' ranges, fixed before
//! measuring; a claim that does not hold at this budget fails, and so does
//! one whose variant has no row in the frame.
//!
//! Figures ([`charts`]): per data set and per tying × activation, alignment
//! of each direction over epochs, trained biases solid, frozen dashed,
//! drawn from the curves the cells keep in their detail.

use super::claims::{Claim, claims_frame};
use super::{Preset, RunOptions, base, missing, sample_rows};
use crate::data::{Dataset, SpikedCovariance};
use crate::error::{Error, Result};
use crate::model::{Activation, BiasMode, Init};
use crate::number::format_or_missing;
use crate::study::{
    Curves, DYNAMICS_DIRECTIONS, DYNAMICS_THRESHOLD, DetailedResults, DynamicsMetrics, Figures,
    Line, MetricSet, Precision, Protocol, Row, SpectralRule, Study, Variant, VariantTraining,
    crossing_epochs, frame_to_rows, read_extra_columns,
};
use crate::train::{Optimizer, Schedule, TrainConfig};
use polars::prelude::DataFrame;
use std::sync::Arc;

/// The study's name (its cache subdirectory and shard files).
pub const NAME: &str = "refinetti_goldt";
/// Hidden units of every variant (= principal directions followed).
pub const WIDTH: usize = 4;
// The dynamics columns hold one value per followed direction.
const _: () = assert!(WIDTH <= DYNAMICS_DIRECTIONS);
/// Spikes of the synthetic data, largest first.
pub const SPIKES: [f64; WIDTH] = [8.0, 4.0, 2.0, 1.0];
/// Noise standard deviation of the synthetic data.
const NOISE: f64 = 0.5;
/// Rows and features of the synthetic data.
const SYNTH_SHAPE: (usize, usize) = (2000, 50);
/// The synthetic data set's name in the frame.
pub const SYNTHETIC: &str = "synthetic";
/// Rows of the report's dataset used at most.
pub const MAX_ROWS: usize = 2000;
/// Epochs of every run (at most; see [`epochs`]).
pub const EPOCHS: usize = 100;
/// Rows per SGD batch.
const BATCH: usize = 16;
/// The rate in units of `d / c_1` (see the module docs).
pub const RATE: f64 = 0.005;
/// Alignment counted as learned (the dynamics metrics' threshold).
pub const THRESHOLD: f64 = DYNAMICS_THRESHOLD;
/// Seed of the synthetic data.
const SEED: u64 = 22;

/// The generator of the synthetic data set (named [`SYNTHETIC`] in the
/// study): a study file describes it by these parameters, so a sharded run
/// regenerates the same rows.
pub fn synthetic() -> SpikedCovariance {
    let (n, d) = SYNTH_SHAPE;
    SpikedCovariance::new(n, d, SPIKES.to_vec(), NOISE, SEED)
}

/// The rows of the report's dataset the study samples: at most
/// [`MAX_ROWS`], and at most the preset's.
pub fn max_rows(preset: &Preset) -> Option<usize> {
    Some(preset.max_rows.map_or(MAX_ROWS, |m| m.min(MAX_ROWS)))
}

/// The epochs of every cell: [`EPOCHS`], or the preset's epoch cap when it
/// is lower (a short check of the pipeline).
pub fn epochs(preset: &Preset) -> usize {
    EPOCHS.min(preset.epochs).max(1)
}

/// `tied_relu_trained`, `untied_sigmoid_frozen`, ...: a variant's name.
pub fn variant_name(tied: bool, activation: Activation, frozen_bias: bool) -> String {
    format!(
        "{}_{}_{}",
        if tied { "tied" } else { "untied" },
        activation.name(),
        if frozen_bias { "frozen" } else { "trained" }
    )
}

/// One variant of the study (see the module docs), trained for `epochs`
/// epochs.
pub fn variant(tied: bool, activation: Activation, frozen_bias: bool, epochs: usize) -> Variant {
    let sgd = VariantTraining {
        epochs,
        batch_size: Some(BATCH),
        // Replaced per cell by the spectral rule's rate.
        learning_rate: 1.0,
        rotation_augmented: false,
        optimizer: Optimizer::sgd(),
        schedule: Schedule::Constant,
    };
    Variant::new(variant_name(tied, activation, frozen_bias), tied)
        .activation(activation)
        .bias_mode(BiasMode::Separate)
        .init(Init::Normal { std: 0.01 })
        .standardise(true)
        .freeze_biases(frozen_bias)
        .training(sgd)
        .spectral(SpectralRule {
            rate: RATE,
            ..SpectralRule::default()
        })
        .metrics(MetricSet::Dynamics)
}

/// The eight variants, in table order: tied before untied, sigmoid before
/// ReLU, trained before frozen biases.
pub fn variants(epochs: usize) -> Vec<Variant> {
    let mut v = Vec::new();
    for tied in [true, false] {
        for activation in [Activation::Sigmoid, Activation::Relu] {
            for frozen_bias in [false, true] {
                v.push(variant(tied, activation, frozen_bias, epochs));
            }
        }
    }
    v
}

/// The study on `ds`: [`variants`] at [`WIDTH`] units on the preset's
/// first seed, over the synthetic data and the sampled `ds` (see the module
/// docs).
///
/// # Errors
/// No seed; the synthetic data's generator failing.
pub fn study(ds: &Dataset, preset: &Preset, opts: &RunOptions) -> Result<Study> {
    let seed = *preset
        .seeds
        .first()
        .ok_or_else(|| Error::config("seeds", "the Refinetti–Goldt study needs a seed"))?;
    let synth = Arc::new(synthetic().generate()?.dataset.with_name(SYNTHETIC));
    let mut s = base(NAME, synth, preset, opts);
    let real = sample_rows(ds, max_rows(preset))?;
    if real.n_features() > WIDTH && real.n_samples() >= 10 {
        s = s.dataset(real);
    }
    Ok(s.variants(&variants(epochs(preset)))
        .latents(&[WIDTH])
        .seeds(&[seed])
        .protocol(Protocol::fixed_budget())
        .training(TrainConfig::new().shard_size(256))
        .precision(Precision::F64))
}

/// One data set's cells: each row with its dynamics values.
type Cells = Vec<(Row, DynamicsMetrics)>;

/// The frame's cells grouped by data set, in the order the data sets first
/// appear.
///
/// # Errors
/// A frame without the dynamics metric columns.
fn data_sets(df: &DataFrame) -> Result<Vec<(String, Cells)>> {
    let rows = frame_to_rows(df)?;
    let Some((MetricSet::Dynamics, values)) = read_extra_columns(df)? else {
        return Err(missing("dynamics metric columns"));
    };
    let mut out: Vec<(String, Cells)> = Vec::new();
    for (row, v) in rows.into_iter().zip(values) {
        let m = v.dynamics.unwrap_or_default();
        match out.iter().position(|(name, _)| *name == row.dataset) {
            Some(i) => out[i].1.push((row, m)),
            None => out.push((row.dataset.clone(), vec![(row, m)])),
        }
    }
    Ok(out)
}

/// The cell of variant (`tied`, `activation`, `frozen_bias`) among
/// `cells`, if the frame has it.
fn find(
    cells: &[(Row, DynamicsMetrics)],
    tied: bool,
    activation: Activation,
    frozen_bias: bool,
) -> Option<&(Row, DynamicsMetrics)> {
    let name = variant_name(tied, activation, frozen_bias);
    cells.iter().find(|(r, _)| r.model == name.as_str())
}

/// The crossing epochs of a cell that found every direction it followed,
/// in direction order; `None` if it missed one (or followed none).
fn learned(m: &DynamicsMetrics) -> Option<Vec<i64>> {
    let followed: Vec<Option<i64>> = m
        .alignment
        .iter()
        .zip(&m.crossing_epoch)
        .filter(|(a, _)| a.is_some())
        .map(|(_, &c)| c)
        .collect();
    if followed.is_empty() {
        return None;
    }
    followed.into_iter().collect()
}

/// Claim 1's measurement: over the variants that learned, the largest
/// number of consecutive directions whose crossing epochs are inverted
/// (NaN when none learned), and each such variant's crossings.
fn order(cells: &[(Row, DynamicsMetrics)]) -> (f64, String) {
    let found: Vec<(&Row, Vec<i64>)> = cells
        .iter()
        .filter_map(|(r, m)| learned(m).map(|c| (r, c)))
        .collect();
    if found.is_empty() {
        return (f64::NAN, "no variant learned every direction".into());
    }
    let inversions = found
        .iter()
        .map(|(_, c)| c.windows(2).filter(|w| w[1] < w[0]).count())
        .max()
        .unwrap_or(0);
    let detail = found
        .iter()
        .map(|(r, c)| {
            let epochs: Vec<String> = c.iter().map(i64::to_string).collect();
            format!("{} {}", r.model, epochs.join(", "))
        })
        .collect::<Vec<_>>()
        .join("; ");
    (inversions as f64, detail)
}

/// The four claims on data set `on` from its cells (see the module docs).
fn claims_of(on: &str, cells: &[(Row, DynamicsMetrics)]) -> Vec<Claim> {
    let paper = "Refinetti & Goldt 2022";
    let (inversions, detail) = order(cells);
    let fev = |tied: bool, act: Activation| {
        find(cells, tied, act, false)
            .and_then(|c| c.1.fev)
            .unwrap_or(f64::NAN)
    };
    let tied_sig = fev(true, Activation::Sigmoid);
    let (tied_relu, untied_sig) = (fev(true, Activation::Relu), fev(false, Activation::Sigmoid));
    let relu_mse = |tied: bool, frozen: bool| {
        find(cells, tied, Activation::Relu, frozen).map_or(f64::NAN, |c| c.0.test_mse)
    };
    let (rt, ru) = (
        relu_mse(true, false) / relu_mse(true, true),
        relu_mse(false, false) / relu_mse(false, true),
    );
    let (e0, epca) = find(cells, true, Activation::Sigmoid, false)
        .map_or((f64::NAN, f64::NAN), |c| {
            (c.1.mean_test_mse.unwrap_or(f64::NAN), c.0.pca_test_mse)
        });
    vec![
        Claim {
            paper,
            claim: format!("{on}: the principal directions are learned one after another"),
            formula: format!(
                "inverted consecutive epochs of first alignment ≥ {THRESHOLD}, over the variants that learned: {detail}"
            ),
            measured: inversions,
            tolerance: 0.5,
        },
        Claim {
            paper,
            claim: format!("{on}: a sigmoidal autoencoder with tied weights fails to learn"),
            formula: format!(
                "FEV = (E₀ − E)/(E₀ − E_PCA), tied sigmoid (E₀ {}, E_PCA {})",
                format_or_missing(e0),
                format_or_missing(epca)
            ),
            measured: tied_sig,
            tolerance: 0.5,
        },
        Claim {
            paper,
            claim: format!("{on}: tied ReLU and untied sigmoid autoencoders learn"),
            formula: format!(
                "1 − min(FEV): tied ReLU {}, untied sigmoid {}",
                format_or_missing(tied_relu),
                format_or_missing(untied_sig)
            ),
            measured: 1.0 - tied_relu.min(untied_sig),
            tolerance: 0.5,
        },
        Claim {
            paper,
            claim: format!("{on}: a ReLU autoencoder does worse with frozen biases"),
            formula: format!(
                "max(test MSE trained / frozen biases): tied {}, untied {}",
                format_or_missing(rt),
                format_or_missing(ru)
            ),
            measured: rt.max(ru),
            tolerance: 1.0,
        },
    ]
}

/// The study's claims, computed from its frame per data set (see the
/// module docs), as the theory studies' claims table ([`super::claims`]).
///
/// # Errors
/// A frame without the dynamics metric columns.
pub fn claims_table(df: &DataFrame) -> Result<DataFrame> {
    let mut claims = Vec::new();
    for (on, cells) in data_sets(df)? {
        claims.extend(claims_of(&on, &cells));
    }
    claims_frame(&claims)
}

/// Findings: each claim with its measurement against its tolerance, in
/// the words of [`super::claims::summary`].
///
/// # Errors
/// A frame without the dynamics metric columns.
pub fn summary(df: &DataFrame) -> Result<Vec<String>> {
    super::claims::summary(&claims_table(df)?)
}

/// `label` as a section-id part: lowercase ASCII letters and digits, the
/// rest `-`.
fn slug(label: &str) -> String {
    label
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect()
}

/// Crossing epochs as text, `–` for a direction never found.
fn epochs_text(c: &[Option<usize>]) -> String {
    c.iter()
        .map(|e| e.map_or("–".to_string(), |e| e.to_string()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The charts: per data set and per tying × activation, each direction's
/// alignment over epochs, trained biases solid, frozen dashed, from the
/// curves the cells keep in their detail.
///
/// # Errors
/// A frame without the dynamics metric columns.
pub fn charts(details: &DetailedResults) -> Result<Figures> {
    let mut figures = Figures::default();
    for (on, cells) in data_sets(&details.results)? {
        for tied in [true, false] {
            for act in [Activation::Sigmoid, Activation::Relu] {
                figures
                    .curves
                    .push(alignment_chart(details, &on, &cells, tied, act));
            }
        }
    }
    Ok(figures)
}

/// Data set `on`'s chart of the tied (or untied) `act` pair: each
/// direction's alignment after each epoch, trained biases solid, frozen
/// dashed; the caption quotes each run's crossing epochs, final
/// alignments, test MSE and FEV.
fn alignment_chart(
    details: &DetailedResults,
    on: &str,
    cells: &[(Row, DynamicsMetrics)],
    tied: bool,
    act: Activation,
) -> Curves {
    let mut series = Vec::new();
    let mut notes = Vec::new();
    for frozen in [false, true] {
        let name = variant_name(tied, act, frozen);
        let curve: Vec<Vec<f64>> = details
            .cells
            .iter()
            .find(|c| c.row.dataset == on && c.row.model == name.as_str())
            .and_then(|c| c.alignment.clone())
            .unwrap_or_default();
        let bias = if frozen {
            "frozen bias"
        } else {
            "trained bias"
        };
        let directions = curve.first().map_or(0, Vec::len);
        series.extend((0..directions).map(|i| {
            Line {
                name: format!("u{} {bias}", i + 1),
                points: curve
                    .iter()
                    .enumerate()
                    .map(|(e, a)| ((e + 1) as f64, a[i]))
                    .collect(),
                color: i,
                dashed: frozen,
                markers: false,
            }
        }));
        let cell = cells.iter().find(|(r, _)| r.model == name.as_str());
        let last: Vec<String> = curve
            .last()
            .map(|a| a.iter().map(|v| format_or_missing(*v)).collect())
            .unwrap_or_default();
        notes.push(format!(
            "{bias}es: first epoch at alignment {THRESHOLD} per direction {}; final alignment {}; test MSE {} (FEV {})",
            epochs_text(&crossing_epochs(&curve, THRESHOLD)),
            last.join(", "),
            format_or_missing(cell.map_or(f64::NAN, |c| c.0.test_mse)),
            format_or_missing(cell.and_then(|c| c.1.fev).unwrap_or(f64::NAN))
        ));
    }
    let kind = format!("{}_{}", if tied { "tied" } else { "untied" }, act.name());
    Curves {
        id: format!("refinetti-goldt-{}-{}", slug(on), kind.replace('_', "-")),
        title: format!(
            "Refinetti & Goldt 2022, {on}: principal alignment over epochs, {}",
            kind.replace('_', " ")
        ),
        caption: format!(
            "Per principal direction u_i of the fitting rows, max_j cos²(u_i, w_j) with the decoder's directions, after each epoch of SGD ({WIDTH} units). {}.",
            notes.join(". ")
        ),
        x_label: "epoch".into(),
        y_label: "max_j cos²(u_i, w_j)".into(),
        log_x: false,
        log_y: false,
        series,
    }
}
