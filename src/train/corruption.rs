//! Input corruption for denoising autoencoders (Vincent, Larochelle, Lajoie,
//! Bengio & Manzagol 2010): the encoder sees a corrupted sample, the loss
//! compares the output with the clean one.
//!
//! Why per sample: each sample's noise is drawn from its own stream,
//! `derive_seed(epoch_seed, sample index)`, so the corruption a sample gets
//! in an epoch depends only on the seed, the epoch and which sample it is:
//! not on the batch it lands in, the shard, or the number of threads. A
//! resumed run therefore corrupts exactly as an uninterrupted one.

use crate::error::{Error, Result};
use crate::real::Real;
use crate::rng::{derive_seed, seeded};
use crate::validate;
use nalgebra::DMatrix;
use rand::RngExt;
use serde::{Deserialize, Serialize};

/// How training inputs are corrupted.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Corruption {
    /// Masking noise: each input entry is set to 0 independently with
    /// probability `fraction` (Vincent et al.'s ν), in `[0, 1]`.
    Masking { fraction: f64 },
    /// Additive isotropic Gaussian noise `x + σ ε`, `ε ~ N(0, 1)` per
    /// entry; `sigma` finite and >= 0.
    Gaussian { sigma: f64 },
}

/// The stream index of the corruption seeds under a run's seed: distinct
/// from every epoch index, which seed the shuffles.
const STREAM: u64 = u64::MAX - 1;

impl Corruption {
    /// Checks the parameter; the error names the field.
    pub fn validate(&self) -> Result<()> {
        match *self {
            Corruption::Masking { fraction } => validate::fraction("corruption.fraction", fraction),
            Corruption::Gaussian { sigma } => validate::non_negative("corruption.sigma", sigma),
        }
    }

    /// Short name for tables.
    pub fn name(&self) -> &'static str {
        match self {
            Corruption::Masking { .. } => "masking",
            Corruption::Gaussian { .. } => "gaussian",
        }
    }

    /// The seed of epoch `epoch`'s corruption in a run seeded with `seed`.
    pub fn epoch_seed(seed: u64, epoch: u64) -> u64 {
        derive_seed(derive_seed(seed, STREAM), epoch)
    }

    /// Corrupts row `i` of `x` (one sample per row) as sample
    /// `samples[i]`, from the stream `derive_seed(epoch_seed, samples[i])`.
    /// Entries are drawn in column order, in f64.
    ///
    /// Errors when `samples` does not have one entry per row.
    pub fn apply<T: Real>(
        &self,
        x: &mut DMatrix<T>,
        samples: &[usize],
        epoch_seed: u64,
    ) -> Result<()> {
        if samples.len() != x.nrows() {
            return Err(Error::Shape(format!(
                "corruption: {} sample indices for {} rows",
                samples.len(),
                x.nrows()
            )));
        }
        for (i, &s) in samples.iter().enumerate() {
            let mut rng = seeded(derive_seed(epoch_seed, s as u64));
            match *self {
                Corruption::Masking { fraction } => {
                    for j in 0..x.ncols() {
                        if rng.random::<f64>() < fraction {
                            x[(i, j)] = T::zero();
                        }
                    }
                }
                Corruption::Gaussian { sigma } => {
                    for j in 0..x.ncols() {
                        let e: f64 = rng.sample(rand_distr::StandardNormal);
                        x[(i, j)] = T::of(x[(i, j)].f64() + sigma * e);
                    }
                }
            }
        }
        Ok(())
    }
}
