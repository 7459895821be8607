//! Study 11: the dynamics of shallow non-linear autoencoders (Refinetti &
//! Goldt 2022). Their claims: autoencoders learn the principal components
//! one after another; sigmoidal autoencoders with tied weights fail to
//! learn; and training the bias matters for ReLU autoencoders.
//!
//! Why these runs. The claims are about dynamics, so the study follows,
//! epoch by epoch, how well each principal direction `u_i` is found: its
//! alignment `max_j cos²(u_i, w_j)` with the decoder's directions `w_j`
//! ([`direction_alignment`]). Eight variants, tied or untied × sigmoid or
//! ReLU × trained or frozen biases ([`TrainConfig::freeze_biases`]: the
//! biases stay at their initial zeros), each with `m = 4` hidden units,
//! identity output and separate encoder/decoder biases, train by plain SGD
//! (the online dynamics the paper analyses; stateless, so training one
//! epoch at a time is one run) from `N(0, 0.01²)` weights, on two data
//! sets:
//!
//! - synthetic: a spiked covariance ([`SpikedCovariance`]), 2000 rows of 50
//!   features, planted directions with spikes 8, 4, 2, 1 over noise σ =
//!   0.5; the `u_i` are the planted directions;
//! - the report's dataset, a seeded sample of at most 2000 rows; the `u_i`
//!   are the top 4 principal directions of its training rows.
//!
//! Both are centred with the training mean and scaled so the mean variance
//! per feature is 1 (the sigmoid is not scale invariant, so both data sets
//! meet it at the same scale). 20% of the rows are held out (seeded).
//!
//! # The rate
//!
//! For a linear tied unit `W = s uᵀ` on the objective `‖X − XWᵀW‖²/(Nd)`,
//! the loss along `u` (second moment `c`) is `(tr C − c(2s² − s⁴))/d`, so
//! from a small start `ds/dt ≈ 4 c s / d` per unit of rate: `s` grows as
//! `exp(4 c η t / d)` and direction `i` needs `t_i ∝ d / (c_i η)` steps.
//! The rate `η = ρ d / c_1` with `ρ` = [`RATE`] makes `t_i ∝ c_1 / (ρ c_i)`
//! the same on both data sets, and the stable rate (`4 c_1 η / d < 2`) is
//! far away (`4ρ = 0.02`). The nonlinear units are slower by their slope
//! at 0 (1/4 for a sigmoid; a ReLU passes half its inputs), so the budget,
//! [`EPOCHS`] of 100 batches, leaves room for that.
//!
//! # The claims, as rows of the claims table
//!
//! Per data set (`learned` means final alignment ≥ [`THRESHOLD`] for every
//! direction; FEV is the fraction of PCA's explained variance that the
//! model explains on the test rows, `(E₀ − E) / (E₀ − E_PCA)` with `E₀` the
//! error of predicting the mean and `E_PCA` that of PCA with `m`
//! components: 1 as good as PCA, 0 no better than the mean):
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
//! measuring; a claim that does not hold at this budget fails.
//!
//! Figures: per data set and per tying × activation, alignment of each
//! direction over epochs, trained biases solid, frozen dashed.

use super::claims::{Claim, claims_frame};
use super::{Output, Preset, mse, sample};
use crate::data::{Dataset, SpikedCovariance, train_test_split};
use crate::error::{Error, Result};
use crate::linalg::Pca;
use crate::model::theory::direction_alignment;
use crate::model::{Activation, Autoencoder, AutoencoderSpec, BiasMode, Init};
use crate::number::format_or_missing;
use crate::rng::derive_seed;
use crate::study::{Curves, Figures, Line};
use crate::train::{Optimizer, Progress, TrainConfig, Trainer};
use nalgebra::DMatrix;

/// Hidden units of every variant (= planted directions followed).
pub const WIDTH: usize = 4;
/// Spikes of the synthetic data, largest first.
pub const SPIKES: [f64; WIDTH] = [8.0, 4.0, 2.0, 1.0];
/// Noise standard deviation of the synthetic data.
const NOISE: f64 = 0.5;
/// Rows and features of the synthetic data.
const SYNTH_SHAPE: (usize, usize) = (2000, 50);
/// Rows of the report's dataset used at most.
const MAX_ROWS: usize = 2000;
/// Epochs of every run.
pub const EPOCHS: usize = 100;
/// Rows per SGD batch.
const BATCH: usize = 16;
/// The rate in units of `d / c_1` (see the module docs).
pub const RATE: f64 = 0.005;
/// Alignment counted as learned.
pub const THRESHOLD: f64 = 0.9;
/// Seed of the data, the splits and the runs.
const SEED: u64 = 22;

/// One variant: tied or not, its hidden activation, frozen biases or not.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Variant {
    /// One weight for encoder and decoder.
    pub tied: bool,
    /// Hidden activation ([`Activation::Sigmoid`] or [`Activation::Relu`]).
    pub activation: Activation,
    /// Biases held at zero.
    pub frozen_bias: bool,
}

impl Variant {
    /// `tied_relu_trained`, `untied_sigmoid_frozen`, ...
    pub fn name(&self) -> String {
        format!(
            "{}_{}_{}",
            if self.tied { "tied" } else { "untied" },
            match self.activation {
                Activation::Sigmoid => "sigmoid",
                Activation::Relu => "relu",
                _ => "other",
            },
            if self.frozen_bias {
                "frozen"
            } else {
                "trained"
            }
        )
    }
}

/// The eight variants, in table order: tied before untied, sigmoid before
/// ReLU, trained before frozen biases.
pub fn variants() -> Vec<Variant> {
    let mut v = Vec::new();
    for tied in [true, false] {
        for activation in [Activation::Sigmoid, Activation::Relu] {
            for frozen_bias in [false, true] {
                v.push(Variant {
                    tied,
                    activation,
                    frozen_bias,
                });
            }
        }
    }
    v
}

/// A run followed epoch by epoch.
#[derive(Clone, Debug)]
pub struct Tracked {
    /// The trained model.
    pub model: Autoencoder<f64>,
    /// `alignment[e][i]`: direction `i`'s alignment after epoch `e + 1`.
    pub alignment: Vec<Vec<f64>>,
}

impl Tracked {
    /// Per direction, the first epoch (from 1) whose alignment reached
    /// `threshold`, or `None`.
    pub fn crossings(&self, threshold: f64) -> Vec<Option<usize>> {
        let m = self.alignment.first().map_or(0, Vec::len);
        (0..m)
            .map(|i| {
                self.alignment
                    .iter()
                    .position(|a| a[i] >= threshold)
                    .map(|e| e + 1)
            })
            .collect()
    }
}

/// Trains `variant`, with one hidden unit per row of `u`, on the rows of
/// `x` for `epochs` epochs of SGD at rate `lr` (batch 16), recording after every epoch the alignment
/// ([`direction_alignment`]) of each row of `u` with the decoder's
/// directions (its `m` columns). Epoch `e` is a one-epoch run seeded
/// `derive_seed(seed, e)` (plain SGD keeps no state, so the runs chain
/// into one; the seeds give every epoch its own shuffle). Deterministic.
///
/// # Errors
/// Shapes that do not match, a zero direction in `u`, or a training error
/// (a diverged run).
pub fn track(
    x: &DMatrix<f64>,
    u: &DMatrix<f64>,
    variant: Variant,
    lr: f64,
    epochs: usize,
    seed: u64,
) -> Result<Tracked> {
    let d = x.ncols();
    let spec = AutoencoderSpec::new(&[d, u.nrows()])
        .tied(variant.tied)
        .activation(variant.activation)
        .bias(BiasMode::Separate)
        .init(Init::Normal { std: 0.01 });
    let mut model = Autoencoder::<f64>::new(&spec, seed)?;
    let mut alignment = Vec::with_capacity(epochs);
    for e in 0..epochs {
        let trainer = Trainer::new(
            TrainConfig::new()
                .epochs(1)
                .batch_size(BATCH)
                .shard_size(256)
                .optimizer(Optimizer::sgd())
                .learning_rate(lr)
                .freeze_biases(variant.frozen_bias)
                .seed(derive_seed(seed, e as u64))
                .progress(Progress::Silent),
        )?;
        model = trainer.fit(model, x)?.model;
        let w = model.layers()[0].decoder_weight().transpose();
        alignment.push(direction_alignment(u, &w)?);
    }
    Ok(Tracked { model, alignment })
}

/// One data set of the study, prepared.
struct Prepared {
    label: String,
    train: DMatrix<f64>,
    test: DMatrix<f64>,
    directions: DMatrix<f64>,
    what: &'static str,
}

/// Centres `train` and `test` with `train`'s mean and scales both so that
/// `train`'s mean variance per feature is 1.
fn standardise(train: &DMatrix<f64>, test: &DMatrix<f64>) -> Result<(DMatrix<f64>, DMatrix<f64>)> {
    let mean = train.row_mean();
    let (n, d) = train.shape();
    let c = |x: &DMatrix<f64>| DMatrix::from_fn(x.nrows(), d, |i, j| x[(i, j)] - mean[j]);
    let (a, b) = (c(train), c(test));
    let var = a.norm_squared() / (n * d) as f64;
    if !(var.is_finite() && var > 0.0) {
        return Err(Error::InvalidData(
            "the Refinetti–Goldt study needs data with variance".into(),
        ));
    }
    let s = 1.0 / var.sqrt();
    Ok((a * s, b * s))
}

fn prepare(ds: &Dataset, preset: &Preset) -> Result<Vec<Prepared>> {
    let (n, d) = SYNTH_SHAPE;
    let synth = SpikedCovariance::new(n, d, SPIKES.to_vec(), NOISE, SEED).generate()?;
    let (tr, te) = train_test_split(&synth.dataset, 0.2, SEED)?;
    let (train, test) = standardise(tr.x(), te.x())?;
    let mut out = vec![Prepared {
        label: "synthetic".into(),
        train,
        test,
        directions: synth.basis.clone(),
        what: "planted",
    }];
    let data = sample(ds, preset)?;
    let data = super::sample_rows(&data, Some(MAX_ROWS))?;
    if data.n_features() > WIDTH && data.n_samples() >= 10 {
        let (tr, te) = train_test_split(&data, 0.2, SEED)?;
        let (train, test) = standardise(&tr.x_as::<f64>(), &te.x_as::<f64>())?;
        let directions = Pca::count(WIDTH).fit(&train)?.components().clone();
        out.push(Prepared {
            label: data.name().to_string(),
            train,
            test,
            directions,
            what: "principal",
        });
    }
    Ok(out)
}

/// Everything measured on one data set.
struct Measured {
    runs: Vec<(Variant, Tracked, f64)>,
    /// Test MSE of the mean and of PCA with `WIDTH` components.
    e0: f64,
    epca: f64,
}

impl Measured {
    fn get(
        &self,
        tied: bool,
        activation: Activation,
        frozen_bias: bool,
    ) -> &(Variant, Tracked, f64) {
        let want = Variant {
            tied,
            activation,
            frozen_bias,
        };
        self.runs
            .iter()
            .find(|r| r.0 == want)
            .expect("every variant runs")
    }

    fn fev(&self, mse: f64) -> f64 {
        (self.e0 - mse) / (self.e0 - self.epca)
    }
}

fn measure(p: &Prepared) -> Result<Measured> {
    let c1 = crate::model::theory::second_moments(&p.train, false)?[0];
    let lr = RATE * p.train.ncols() as f64 / c1;
    let mut runs = Vec::new();
    for v in variants() {
        let t = track(&p.train, &p.directions, v, lr, EPOCHS, SEED)?;
        let e = t.model.reconstruction_mse(&p.test)?;
        runs.push((v, t, e));
    }
    let pca = Pca::count(WIDTH).fit(&p.train)?;
    let epca = mse(&p.test, &pca.reconstruct(&p.test)?);
    let e0 = p.test.norm_squared() / p.test.len().max(1) as f64;
    Ok(Measured { runs, e0, epca })
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

fn epochs_text(c: &[Option<usize>]) -> String {
    c.iter()
        .map(|e| e.map_or("–".to_string(), |e| e.to_string()))
        .collect::<Vec<_>>()
        .join(", ")
}

fn claims(p: &Prepared, m: &Measured) -> Vec<Claim> {
    let paper = "Refinetti & Goldt 2022";
    let learned: Vec<&(Variant, Tracked, f64)> = m
        .runs
        .iter()
        .filter(|r| r.1.crossings(THRESHOLD).iter().all(Option::is_some))
        .collect();
    let (inversions, detail) = if learned.is_empty() {
        (f64::NAN, "no variant learned every direction".to_string())
    } else {
        let inv = learned
            .iter()
            .map(|r| {
                let c: Vec<usize> = r.1.crossings(THRESHOLD).into_iter().flatten().collect();
                c.windows(2).filter(|w| w[1] < w[0]).count()
            })
            .max()
            .unwrap_or(0);
        let detail = learned
            .iter()
            .map(|r| format!("{} {}", r.0.name(), epochs_text(&r.1.crossings(THRESHOLD))))
            .collect::<Vec<_>>()
            .join("; ");
        (inv as f64, detail)
    };
    let fev = |tied, act| m.fev(m.get(tied, act, false).2);
    let tied_sig = fev(true, Activation::Sigmoid);
    let (tied_relu, untied_sig) = (fev(true, Activation::Relu), fev(false, Activation::Sigmoid));
    let ratio =
        |tied| m.get(tied, Activation::Relu, false).2 / m.get(tied, Activation::Relu, true).2;
    let (rt, ru) = (ratio(true), ratio(false));
    let on = &p.label;
    vec![
        Claim {
            paper,
            claim: format!(
                "{on}: the {} directions are learned one after another",
                p.what
            ),
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
                "FEV = (E₀ − E)/(E₀ − E_PCA), tied sigmoid, {EPOCHS} epochs (E₀ {}, E_PCA {})",
                format_or_missing(m.e0),
                format_or_missing(m.epca)
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

fn figures(p: &Prepared, m: &Measured) -> Vec<Curves> {
    let mut out = Vec::new();
    for tied in [true, false] {
        for act in [Activation::Sigmoid, Activation::Relu] {
            let mut series = Vec::new();
            let mut notes = Vec::new();
            for frozen in [false, true] {
                let (v, t, e) = m.get(tied, act, frozen);
                for i in 0..p.directions.nrows() {
                    series.push(Line {
                        name: format!(
                            "u{} {}",
                            i + 1,
                            if frozen {
                                "frozen bias"
                            } else {
                                "trained bias"
                            }
                        ),
                        points: t
                            .alignment
                            .iter()
                            .enumerate()
                            .map(|(ep, a)| ((ep + 1) as f64, a[i]))
                            .collect(),
                        color: i,
                        dashed: frozen,
                        markers: false,
                    });
                }
                let last = t.alignment.last().cloned().unwrap_or_default();
                notes.push(format!(
                    "{}: first epoch at alignment {THRESHOLD} per direction {}; final alignment {}; test MSE {} (FEV {})",
                    if v.frozen_bias { "frozen biases" } else { "trained biases" },
                    epochs_text(&t.crossings(THRESHOLD)),
                    last.iter().map(|a| format_or_missing(*a)).collect::<Vec<_>>().join(", "),
                    format_or_missing(*e),
                    format_or_missing(m.fev(*e))
                ));
            }
            let name = Variant {
                tied,
                activation: act,
                frozen_bias: false,
            }
            .name();
            let kind = name.trim_end_matches("_trained").to_string();
            out.push(Curves {
                id: format!(
                    "refinetti-goldt-{}-{}",
                    slug(&p.label),
                    kind.replace('_', "-")
                ),
                title: format!(
                    "Refinetti & Goldt 2022, {}: {} alignment over epochs, {}",
                    p.label,
                    p.what,
                    kind.replace('_', " ")
                ),
                caption: format!(
                    "Per {} direction u_i, max_j cos²(u_i, w_j) with the decoder's directions, after each epoch of SGD ({} units). {}.",
                    p.what,
                    WIDTH,
                    notes.join(". ")
                ),
                x_label: "epoch".into(),
                y_label: "max_j cos²(u_i, w_j)".into(),
                log_x: false,
                log_y: false,
                series,
            });
        }
    }
    out
}

/// Runs the study: the claims table (the theory study's columns) and the
/// alignment charts.
///
/// # Errors
/// Data without variance, or a training error.
pub fn output(ds: &Dataset, preset: &Preset) -> Result<Output> {
    let mut rows = Vec::new();
    let mut figs = Figures::default();
    for p in prepare(ds, preset)? {
        let m = measure(&p)?;
        rows.extend(claims(&p, &m));
        figs.curves.extend(figures(&p, &m));
    }
    Ok(Output {
        frame: claims_frame(&rows)?,
        figures: figs,
    })
}
