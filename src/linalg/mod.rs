//! Linear-algebra baselines: PCA (exact and randomized) and principal angles
//! between subspaces.
//!
//! PCA is the yardstick for every autoencoder in this crate: by Eckart–Young no
//! rank-`k` linear map reconstructs better, and a well-trained linear tied
//! autoencoder spans the same subspace. [`Pca`] fits it
//! (scikit-learn-compatible conventions), [`FittedPca::mse_curve`] gives the
//! optimal error for every `k` from one fit, and [`principal_angles`] measures
//! how far a learned decoder's row space is from the principal subspace.
//!
//! ```
//! use tiedae::linalg::{Pca, principal_angles};
//! use nalgebra::DMatrix;
//! let x = DMatrix::from_fn(200, 6, |i, j| ((i * (j + 3)) % 17) as f64 + (i as f64 * 0.1).sin() * j as f64);
//! let pca = Pca::count(3).fit(&x)?;
//! let curve = pca.mse_curve();
//! assert!((pca.reconstruction_mse(&x)? - curve[3]).abs() < 1e-9);
//! let angles = principal_angles(pca.components(), pca.components())?;
//! assert!(angles.iter().all(|a| a.abs() < 1e-12));
//! # Ok::<(), tiedae::Error>(())
//! ```
//!
//! Every computation runs in `f64` and is deterministic: the same input gives
//! the same bits whatever the rayon thread count (see the kernel modules).

mod angles;
mod covariance;
mod decomposition;
mod factor;
mod fitted;
mod input;
mod inverse_iteration;
mod pca;
mod product;
mod projection;
mod randomized;
mod root_free_qr;
mod symmetric_evd;
mod tridiagonalization;

/// Runs `f` as one job on a worker of the current rayon pool (at once, if
/// the caller is one already).
///
/// Why: the kernels make many short parallel calls (the tridiagonal
/// reduction one per column). From a thread outside the pool each call is
/// a cold injection that parks the caller and wakes a worker; from a worker
/// the other workers simply steal, so the wake-up latency is not paid once
/// per column (`benches/pca.rs` times the fits this affects).
fn on_worker<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    rayon::scope(|_| f())
}

/// Runs `f` on a fresh pool of `threads` threads: the kernels' tests check
/// that results do not depend on the pool.
#[cfg(test)]
fn on_threads<R: Send>(threads: usize, f: impl FnOnce() -> R + Send) -> R {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .expect("a thread pool")
        .install(f)
}

pub use angles::{largest_principal_angle, principal_angles, principal_angles_degrees};
pub use decomposition::Solver;
pub use fitted::FittedPca;
pub use pca::{
    COVARIANCE_AUTO_MAX_FEATURES, COVARIANCE_MAX_FEATURES, Components, Pca,
    RANDOMIZED_AUTO_MAX_FRACTION, RANDOMIZED_AUTO_MIN_SIZE,
};
