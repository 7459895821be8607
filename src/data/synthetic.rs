//! Synthetic data whose structure is known exactly, to test what models find.
//!
//! - [`SpikedCovariance`]: Gaussian data whose covariance is `sigma^2 I` plus
//!   `k` spikes along a random orthonormal basis. PCA (and a well-trained
//!   linear tied autoencoder) must recover that basis' span; the principal
//!   angles to [`SpikedSample::basis`] measure how well.
//! - [`CurvedManifold`]: a 1-D curve or a 2-D surface, pushed through a random
//!   orthonormal embedding into `d` dimensions, plus noise. It is intrinsically
//!   low-dimensional but not flat, which is where nonlinear autoencoders can
//!   beat PCA; [`ManifoldSample::intrinsic`] gives the true coordinates.
//!
//! Randomness: the basis comes from `derive_seed(seed, 0)`, and rows are
//! generated in fixed blocks of [`BLOCK_ROWS`], block `b` from
//! `derive_seed(seed, b + 1)`, in parallel. The blocks do not depend on the
//! thread count, so the same seed gives the same bits on any machine.

use super::Dataset;
use crate::error::{Error, Result};
use crate::rng::{Rng, derive_seed, seeded};
use crate::validate;
use nalgebra::DMatrix;
use rand::RngExt;
use rand_distr::StandardNormal;
use rayon::prelude::*;
use std::f64::consts::PI;

/// Rows per independently seeded block of generated samples.
pub const BLOCK_ROWS: usize = 256;

/// A `rows x cols` matrix with orthonormal rows (`rows <= cols`), uniformly
/// distributed (Haar): QR of a Gaussian matrix with the signs of `R`'s
/// diagonal moved into `Q`.
///
/// Errors: [`Error::Config`] unless `1 <= rows <= cols`.
pub fn random_orthonormal(rows: usize, cols: usize, seed: u64) -> Result<DMatrix<f64>> {
    if rows == 0 || rows > cols {
        return Err(Error::config(
            "rows",
            format!("need 1 <= rows <= cols for orthonormal rows, got {rows} x {cols}"),
        ));
    }
    let mut rng = seeded(seed);
    let g = DMatrix::<f64>::from_fn(cols, rows, |_, _| rng.sample(StandardNormal));
    let qr = g.qr();
    let r = qr.r();
    let mut q = qr.q();
    for j in 0..rows {
        if r[(j, j)] < 0.0 {
            q.column_mut(j).neg_mut();
        }
    }
    Ok(q.transpose())
}

/// Fills an `n x d` matrix block by block in parallel; `row(rng, out)` writes
/// one row using its block's generator.
fn generate_rows<F>(n: usize, d: usize, seed: u64, row: F) -> DMatrix<f64>
where
    F: Fn(&mut Rng, &mut [f64]) + Sync,
{
    let blocks: Vec<Vec<f64>> = (0..n.div_ceil(BLOCK_ROWS))
        .into_par_iter()
        .map(|b| {
            let mut rng = seeded(derive_seed(seed, b as u64 + 1));
            let start = b * BLOCK_ROWS;
            let end = (start + BLOCK_ROWS).min(n);
            let mut buf = vec![0.0; (end - start) * d];
            for out in buf.chunks_exact_mut(d) {
                row(&mut rng, out);
            }
            buf
        })
        .collect();
    let flat: Vec<f64> = blocks.concat();
    DMatrix::from_row_slice(n, d, &flat)
}

fn check_size(n: usize, d: usize) -> Result<()> {
    if n < 2 {
        return Err(Error::config(
            "n_samples",
            format!("{n}: at least 2 needed"),
        ));
    }
    if d == 0 {
        return Err(Error::config("n_features", "0: at least 1 needed"));
    }
    if n.checked_mul(d).is_none_or(|v| v > isize::MAX as usize / 8) {
        return Err(Error::config(
            "n_samples",
            format!("{n} x {d} values do not fit in memory"),
        ));
    }
    Ok(())
}

/// Spiked covariance model: `x = sum_j sqrt(s_j) z_j u_j + sigma e` with
/// `z ~ N(0, I_k)`, `e ~ N(0, I_d)` and orthonormal `u_j`.
///
/// The population covariance is `sum_j s_j u_j u_jᵀ + sigma² I`: its top `k`
/// eigenvalues are `s_j + sigma²` with eigenvectors `u_j`, the other `d - k`
/// equal `sigma²`. So `spikes` are the variances added along each direction,
/// and the gap `min_j s_j` relative to `sigma²` sets how hard the subspace is
/// to find from `n` samples.
#[derive(Debug, Clone, PartialEq)]
pub struct SpikedCovariance {
    /// Number of samples `n` (>= 2).
    pub n_samples: usize,
    /// Ambient dimension `d` (>= k).
    pub n_features: usize,
    /// Spike strengths `s_1..s_k` (> 0), the extra variance along `u_j`.
    pub spikes: Vec<f64>,
    /// Isotropic noise standard deviation `sigma` (>= 0).
    pub noise_sigma: f64,
    /// Seed for the basis and the samples.
    pub seed: u64,
}

/// Data drawn from a [`SpikedCovariance`] and its ground truth.
#[derive(Debug, Clone)]
pub struct SpikedSample {
    /// The `n x d` samples (no labels), named `spiked`.
    pub dataset: Dataset,
    /// The true `k x d` basis: row `j` is `u_j`, orthonormal rows.
    pub basis: DMatrix<f64>,
    /// `n x k` coordinates `sqrt(s_j) z_j`: `x = latent * basis + noise`.
    pub latent: DMatrix<f64>,
}

impl SpikedCovariance {
    /// A model with `spikes.len()` spikes.
    pub fn new(
        n_samples: usize,
        n_features: usize,
        spikes: Vec<f64>,
        noise_sigma: f64,
        seed: u64,
    ) -> Self {
        SpikedCovariance {
            n_samples,
            n_features,
            spikes,
            noise_sigma,
            seed,
        }
    }

    /// Checks the parameters; [`Error::Config`] names the offending field.
    pub fn validate(&self) -> Result<()> {
        check_size(self.n_samples, self.n_features)?;
        let k = self.spikes.len();
        if k == 0 || k > self.n_features {
            return Err(Error::config(
                "spikes",
                format!("{k} spikes for {} features: need 1..=d", self.n_features),
            ));
        }
        for &s in &self.spikes {
            validate::positive_param("spikes", "strength", s)?;
        }
        validate::non_negative("noise_sigma", self.noise_sigma)
    }

    /// Population covariance eigenvalues, largest first (`d` of them).
    pub fn population_eigenvalues(&self) -> Vec<f64> {
        let s2 = self.noise_sigma * self.noise_sigma;
        let mut ev: Vec<f64> = self.spikes.iter().map(|s| s + s2).collect();
        ev.resize(self.n_features, s2);
        ev.sort_by(|a, b| b.total_cmp(a));
        ev
    }

    /// Draws the samples.
    pub fn generate(&self) -> Result<SpikedSample> {
        self.validate()?;
        let (n, d, k) = (self.n_samples, self.n_features, self.spikes.len());
        let basis = random_orthonormal(k, d, derive_seed(self.seed, 0))?;
        let amp: Vec<f64> = self.spikes.iter().map(|s| s.sqrt()).collect();
        let sigma = self.noise_sigma;
        // Each generated row is [latent (k) | x (d)], split afterwards.
        let both = generate_rows(n, k + d, self.seed, |rng, out| {
            let (lat, x) = out.split_at_mut(k);
            for (l, a) in lat.iter_mut().zip(&amp) {
                *l = a * rng.sample::<f64, _>(StandardNormal);
            }
            for (c, v) in x.iter_mut().enumerate() {
                let signal: f64 = (0..k).map(|j| lat[j] * basis[(j, c)]).sum();
                *v = signal + sigma * rng.sample::<f64, _>(StandardNormal);
            }
        });
        let latent = both.columns(0, k).into_owned();
        let x = both.columns(k, d).into_owned();
        Ok(SpikedSample {
            dataset: Dataset::new("spiked", x, None, None)?,
            basis,
            latent,
        })
    }
}

/// The shape of a [`CurvedManifold`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ManifoldKind {
    /// A closed 1-D curve `t -> (cos t, sin t, cos 2t / 2, sin 2t / 2, ...,
    /// cos ht / h, sin ht / h)`, `t` uniform in [0, 2π), in `2h` dimensions.
    /// With `h = 1` it is a circle. Its linear span has dimension `2h`, so
    /// PCA needs `2h` components for what one nonlinear coordinate describes;
    /// harmonic `j` adds variance `1 / j²` (two directions of `1 / (2 j²)`).
    Curve {
        /// Number of harmonics `h >= 1`.
        harmonics: usize,
    },
    /// The swiss roll of scikit-learn's `make_swiss_roll`: `t = 1.5π (1 + 2u)`,
    /// `h = 21 v` with `u, v` uniform in [0, 1), point `(t cos t, h, t sin t)`.
    SwissRoll,
}

impl ManifoldKind {
    /// Intrinsic dimension: 1 for a curve, 2 for the swiss roll.
    pub fn intrinsic_dim(self) -> usize {
        match self {
            ManifoldKind::Curve { .. } => 1,
            ManifoldKind::SwissRoll => 2,
        }
    }

    /// Dimension of the flat space the shape lives in before embedding.
    pub fn ambient_dim(self) -> usize {
        match self {
            ManifoldKind::Curve { harmonics } => 2 * harmonics,
            ManifoldKind::SwissRoll => 3,
        }
    }

    /// The flat point (length [`Self::ambient_dim`]) for intrinsic
    /// coordinates `c` (length [`Self::intrinsic_dim`]).
    ///
    /// Errors: [`Error::Shape`] if `c` has the wrong length.
    pub fn point(self, c: &[f64]) -> Result<Vec<f64>> {
        if c.len() != self.intrinsic_dim() {
            return Err(Error::Shape(format!(
                "{self:?} has {} intrinsic coordinates, got {}",
                self.intrinsic_dim(),
                c.len()
            )));
        }
        let mut out = vec![0.0; self.ambient_dim()];
        self.write_point(c, &mut out);
        Ok(out)
    }

    /// [`Self::point`] into a buffer whose lengths the caller guarantees.
    fn write_point(self, c: &[f64], out: &mut [f64]) {
        match self {
            ManifoldKind::Curve { harmonics } => {
                for j in 1..=harmonics {
                    let a = (j as f64 * c[0]).sin_cos();
                    out[2 * (j - 1)] = a.1 / j as f64;
                    out[2 * (j - 1) + 1] = a.0 / j as f64;
                }
            }
            ManifoldKind::SwissRoll => {
                let (t, h) = (c[0], c[1]);
                out[0] = t * t.cos();
                out[1] = h;
                out[2] = t * t.sin();
            }
        }
    }
}

/// A low-dimensional shape embedded in `d` dimensions:
/// `x = point(c) * E + sigma e`, `E` a random `p x d` matrix with orthonormal
/// rows (`p` = [`ManifoldKind::ambient_dim`]), `e ~ N(0, I_d)`.
#[derive(Debug, Clone, PartialEq)]
pub struct CurvedManifold {
    /// Number of samples `n` (>= 2).
    pub n_samples: usize,
    /// Ambient dimension `d` (>= the shape's flat dimension `p`).
    pub n_features: usize,
    /// Which shape.
    pub kind: ManifoldKind,
    /// Isotropic noise standard deviation (>= 0).
    pub noise_sigma: f64,
    /// Seed for the embedding and the samples.
    pub seed: u64,
}

/// Data drawn from a [`CurvedManifold`] and its ground truth.
#[derive(Debug, Clone)]
pub struct ManifoldSample {
    /// The `n x d` samples (no labels), named `curve` or `swiss-roll`.
    pub dataset: Dataset,
    /// `n x m` intrinsic coordinates (`m` = 1 for a curve: `t`; 2 for the
    /// swiss roll: `t, h`).
    pub intrinsic: DMatrix<f64>,
    /// `n x p` noiseless points before embedding.
    pub points: DMatrix<f64>,
    /// The `p x d` embedding with orthonormal rows.
    pub embedding: DMatrix<f64>,
}

impl CurvedManifold {
    /// A manifold sample specification.
    pub fn new(
        n_samples: usize,
        n_features: usize,
        kind: ManifoldKind,
        noise_sigma: f64,
        seed: u64,
    ) -> Self {
        CurvedManifold {
            n_samples,
            n_features,
            kind,
            noise_sigma,
            seed,
        }
    }

    /// Checks the parameters; [`Error::Config`] names the offending field.
    pub fn validate(&self) -> Result<()> {
        check_size(self.n_samples, self.n_features)?;
        if let ManifoldKind::Curve { harmonics: 0 } = self.kind {
            return Err(Error::config("harmonics", "0: at least 1 needed"));
        }
        let p = self.kind.ambient_dim();
        if p > self.n_features {
            return Err(Error::config(
                "n_features",
                format!(
                    "{}: the {:?} needs at least {p}",
                    self.n_features, self.kind
                ),
            ));
        }
        validate::non_negative("noise_sigma", self.noise_sigma)
    }

    /// Draws the samples.
    pub fn generate(&self) -> Result<ManifoldSample> {
        self.validate()?;
        let (n, d) = (self.n_samples, self.n_features);
        let (m, p) = (self.kind.intrinsic_dim(), self.kind.ambient_dim());
        let emb = random_orthonormal(p, d, derive_seed(self.seed, 0))?;
        let (kind, sigma) = (self.kind, self.noise_sigma);
        // Each generated row is [intrinsic (m) | point (p) | x (d)].
        let all = generate_rows(n, m + p + d, self.seed, |rng, out| {
            let (c, rest) = out.split_at_mut(m);
            let (pt, x) = rest.split_at_mut(p);
            match kind {
                ManifoldKind::Curve { .. } => c[0] = 2.0 * PI * rng.random::<f64>(),
                ManifoldKind::SwissRoll => {
                    c[0] = 1.5 * PI * (1.0 + 2.0 * rng.random::<f64>());
                    c[1] = 21.0 * rng.random::<f64>();
                }
            }
            kind.write_point(c, pt);
            for (col, v) in x.iter_mut().enumerate() {
                let clean: f64 = (0..p).map(|i| pt[i] * emb[(i, col)]).sum();
                *v = clean + sigma * rng.sample::<f64, _>(StandardNormal);
            }
        });
        let name = match kind {
            ManifoldKind::Curve { .. } => "curve",
            ManifoldKind::SwissRoll => "swiss-roll",
        };
        Ok(ManifoldSample {
            intrinsic: all.columns(0, m).into_owned(),
            points: all.columns(m, p).into_owned(),
            dataset: Dataset::new(name, all.columns(m + p, d).into_owned(), None, None)?,
            embedding: emb,
        })
    }
}
