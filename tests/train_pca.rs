//! Eckart–Young as the oracle: a linear tied autoencoder trained well reaches
//! PCA's reconstruction error at the same latent size, and its weight rows
//! span the principal subspace (Baldi & Hornik 1989), measured with
//! principal angles against the crate's PCA (itself checked against
//! scikit-learn in tests/pca.rs).

use nalgebra::DMatrix;
use tiedae::Real;
use tiedae::data::Dataset;
use tiedae::linalg::{FittedPca, Pca, principal_angles_degrees};
use tiedae::model::{Autoencoder, AutoencoderSpec, BiasMode};
use tiedae::train::{LbfgsConfig, Optimizer, Progress, Schedule, TrainConfig, Trainer};

/// A linear (identity) tied autoencoder `d -> k`. With
/// `BiasMode::PreCentering` it learns the centre: `x̂ = (x − b) WᵀW + b`,
/// exactly PCA's model family; with `BiasMode::None` the data are centred
/// beforehand.
fn linear_tied<T: Real>(d: usize, k: usize, bias: BiasMode, seed: u64) -> Autoencoder<T> {
    let spec = AutoencoderSpec::new(&[d, k]).bias(bias);
    Autoencoder::new(&spec, seed).unwrap()
}

/// `x` minus its column means.
fn centred(x: &DMatrix<f64>) -> DMatrix<f64> {
    let mean = x.row_mean();
    DMatrix::from_fn(x.nrows(), x.ncols(), |i, j| x[(i, j)] - mean[j])
}

struct Comparison {
    relative_gap: f64,
    largest_angle_deg: f64,
}

/// The model's reconstruction error on `data` (what it was trained on)
/// against PCA's on `x`, and the largest principal angle between the tied
/// weight's rows and PCA's components.
fn compare<T: Real>(
    model: &Autoencoder<T>,
    data: &DMatrix<f64>,
    x: &DMatrix<f64>,
    pca: &FittedPca<f64>,
) -> Comparison {
    let xt: DMatrix<T> = data.map(T::of);
    let ae = model.reconstruction_mse(&xt).unwrap();
    let best = pca.reconstruction_mse(x).unwrap();
    let w: DMatrix<f64> = model.layers()[0].encoder_weight().map(|v| v.f64());
    let angles = principal_angles_degrees(&w, pca.components()).unwrap();
    Comparison {
        relative_gap: (ae - best) / best,
        largest_angle_deg: *angles.last().unwrap(),
    }
}

fn lbfgs(max_iters: u64) -> Trainer {
    Trainer::new(
        TrainConfig::new()
            .optimizer(Optimizer::Lbfgs(LbfgsConfig {
                max_iters,
                memory: 20,
                tol_grad: 1e-8,
                tol_cost: 0.0,
                tol_cost_rel: 0.0,
            }))
            .shard_size(256)
            .progress(Progress::Silent),
    )
    .unwrap()
}

fn check_lbfgs(name: &str, ks: &[usize], bias: BiasMode, max_iters: u64) {
    let x = Dataset::builtin(name).unwrap().x().clone();
    let data = if bias == BiasMode::None {
        centred(&x)
    } else {
        x.clone()
    };
    for &k in ks {
        let pca = Pca::count(k).fit(&x).unwrap();
        let t = std::time::Instant::now();
        let out = lbfgs(max_iters)
            .fit(linear_tied::<f64>(x.ncols(), k, bias, k as u64), &data)
            .unwrap();
        let c = compare(&out.model, &data, &x, &pca);
        eprintln!(
            "{name} k={k}: L-BFGS {} iterations ({:?}), {:.2}s, MSE gap {:.3e}, largest angle {:.3} deg",
            out.history.len(),
            out.stop,
            t.elapsed().as_secs_f64(),
            c.relative_gap,
            c.largest_angle_deg
        );
        // Eckart–Young: nothing beats PCA (up to rounding) ...
        assert!(
            c.relative_gap > -1e-9,
            "{name} k={k}: below PCA by {}",
            c.relative_gap
        );
        // ... and a well-trained linear tied AE reaches it, in its subspace.
        assert!(
            c.relative_gap < 5e-3,
            "{name} k={k}: gap {}",
            c.relative_gap
        );
        assert!(
            c.largest_angle_deg < 1.0,
            "{name} k={k}: angle {}",
            c.largest_angle_deg
        );
        // The history's last objective is the returned model's error.
        let last = out.history.last().unwrap().train.total;
        let mse = out.model.reconstruction_mse(&data).unwrap();
        assert!((last - mse).abs() <= 1e-9 * mse, "{last} vs {mse}");
    }
}

#[test]
fn lbfgs_linear_tied_reaches_pca_on_digits() {
    check_lbfgs("digits", &[8, 16, 32], BiasMode::None, 2000);
    // Learning the centre along with the subspace works too (it takes
    // longer: the centre and the weights are coupled).
    check_lbfgs("digits", &[8], BiasMode::PreCentering, 2000);
}

#[test]
fn lbfgs_linear_tied_reaches_pca_on_mnist10k() {
    check_lbfgs("mnist10k", &[8, 16, 32], BiasMode::None, 600);
}

/// Adam in f32 minibatches gets within 2% of PCA's error.
#[test]
fn adam_linear_tied_gets_close_to_pca() {
    let cases: [(&str, &[usize], usize, usize); 2] = [
        ("digits", &[8, 16, 32], 100, 64),
        ("mnist10k", &[16], 12, 128),
    ];
    for (name, ks, epochs, batch) in cases {
        let x = Dataset::builtin(name).unwrap().x().clone();
        let data = centred(&x);
        let x32 = data.map(|v| v as f32);
        for &k in ks {
            let pca = Pca::count(k).fit(&x).unwrap();
            let trainer = Trainer::new(
                TrainConfig::new()
                    .epochs(epochs)
                    .batch_size(batch)
                    .optimizer(Optimizer::adam())
                    .learning_rate(1e-2)
                    .schedule(Schedule::Cosine { min_factor: 0.01 })
                    .seed(k as u64)
                    .progress(Progress::Silent),
            )
            .unwrap();
            let t = std::time::Instant::now();
            let out = trainer
                .fit(linear_tied::<f32>(x.ncols(), k, BiasMode::None, 1), &x32)
                .unwrap();
            let c = compare(&out.model, &data, &x, &pca);
            eprintln!(
                "{name} k={k}: Adam {epochs} epochs {:.2}s, MSE gap {:.3e}, largest angle {:.3} deg",
                t.elapsed().as_secs_f64(),
                c.relative_gap,
                c.largest_angle_deg
            );
            assert!(
                c.relative_gap > -1e-5,
                "{name} k={k}: below PCA by {}",
                c.relative_gap
            );
            assert!(
                c.relative_gap < 0.02,
                "{name} k={k}: gap {}",
                c.relative_gap
            );
        }
    }
}
