//! The theory of linear autoencoders as oracles, on synthetic data with a
//! known spectrum (spiked covariance): Kunin et al. 2019 (untied pairs
//! become tied under L2, closed-form singular values), Plaut 2018
//! (principal directions recovered from a trained decoder).
//!
//! Every model here is small (d ≤ 12, k ≤ 4, n ≤ 2000) and trained in f64
//! by full-batch L-BFGS, so each test takes well under a second in release.

use nalgebra::DMatrix;
use tiedae::Error;
use tiedae::data::SpikedCovariance;
use tiedae::linalg::Pca;
use tiedae::model::theory::{
    Tying, kunin_singular_values, layer_transpose_gap, predicted_singular_values,
    principal_directions, second_moments, singular_values_desc, transpose_gap,
};
use tiedae::model::{Autoencoder, AutoencoderSpec, BiasMode};
use tiedae::train::{LbfgsConfig, Optimizer, Progress, TrainConfig, Trainer};

/// Spiked-covariance samples: `spikes` over isotropic noise 0.3.
fn spiked(n: usize, d: usize, spikes: &[f64], seed: u64) -> DMatrix<f64> {
    SpikedCovariance::new(n, d, spikes.to_vec(), 0.3, seed)
        .generate()
        .unwrap()
        .dataset
        .x()
        .clone()
}

/// `x` minus its column means.
fn centred(x: &DMatrix<f64>) -> DMatrix<f64> {
    let mean = x.row_mean();
    DMatrix::from_fn(x.nrows(), x.ncols(), |i, j| x[(i, j)] - mean[j])
}

/// Full-batch L-BFGS to a tight gradient tolerance. A line search that
/// stalls in rounding near the optimum ends the run with the last accepted
/// point, which is what is measured.
fn lbfgs_fit(model: Autoencoder<f64>, x: &DMatrix<f64>, l2: f64) -> Autoencoder<f64> {
    let trainer = Trainer::new(
        TrainConfig::new()
            .optimizer(Optimizer::Lbfgs(LbfgsConfig {
                max_iters: 5000,
                memory: 20,
                tol_grad: 1e-12,
                tol_cost: 0.0,
            }))
            .loss(tiedae::model::LossConfig::mse().with_l2(l2))
            .shard_size(512)
            .progress(Progress::Silent),
    )
    .unwrap();
    match trainer.try_fit(model, x, |_| {}) {
        Ok(out) => out.model,
        Err(f) => match &f.error {
            Error::Diverged { what, .. } if what.contains("stalled") => f.model,
            e => panic!("L-BFGS failed: {e}"),
        },
    }
}

fn linear(d: usize, k: usize, tied: bool, bias: BiasMode, seed: u64) -> Autoencoder<f64> {
    let spec = AutoencoderSpec::new(&[d, k]).tied(tied).bias(bias);
    Autoencoder::new(&spec, seed).unwrap()
}

/// Kunin et al.: an untied linear pair with L2 on both weights ends with
/// `W_enc = W_decᵀ` and decoder singular values `s_i² = 1 − d λ₂ / (2 c_i)`
/// (`c_i` the eigenvalues of `XᵀX / N`), including a unit driven to zero
/// when `2 c_i ≤ d λ₂`.
#[test]
fn kunin_untied_becomes_tied_with_the_closed_form_spectrum() {
    let (d, k) = (8, 3);
    let x = spiked(1000, d, &[5.0, 3.0, 1.5], 1);
    let c = second_moments(&x, false).unwrap();
    // Thresholds d λ₂ / 2: 1.0 keeps all three units; 2.2 (between c_2 and
    // c_3) zeroes the third.
    for (threshold, zeros) in [(1.0, 0), (2.2, 1)] {
        let l2 = 2.0 * threshold / d as f64;
        let want = kunin_singular_values(&c, l2, d, k, Tying::Untied).unwrap();
        assert_eq!(want.iter().filter(|&&s| s == 0.0).count(), zeros);
        let model = lbfgs_fit(linear(d, k, false, BiasMode::None, 7), &x, l2);
        let layer = &model.layers()[0];
        let dec = layer.decoder_weight();
        let gap = layer_transpose_gap(layer).unwrap();
        let got = singular_values_desc(&dec);
        eprintln!("threshold {threshold}: gap {gap:.3e}, s {got:?}, predicted {want:?}");
        assert!(gap < 1e-3, "transpose gap {gap}");
        for (g, w) in got.iter().zip(&want) {
            assert!((g - w).abs() < 1e-3, "singular values {got:?} vs {want:?}");
        }
    }
}

/// The tied closed form `s_i² = 1 − d λ₂ / (4 c_i)` (what the
/// l2-directions study tabulates), with a learned centre: the moments are
/// then the centred ones.
#[test]
fn kunin_tied_closed_form_with_centring() {
    let (d, k) = (8, 3);
    let x = spiked(1000, d, &[5.0, 3.0, 1.5], 2);
    let l2 = 4.0 * 1.0 / d as f64;
    let want = predicted_singular_values(&x, l2, k, Tying::Tied, true).unwrap();
    let model = lbfgs_fit(linear(d, k, true, BiasMode::PreCentering, 3), &x, l2);
    let got = singular_values_desc(model.layers()[0].encoder_weight());
    eprintln!("tied: s {got:?}, predicted {want:?}");
    for (g, w) in got.iter().zip(&want) {
        assert!((g - w).abs() < 1e-3, "singular values {got:?} vs {want:?}");
    }
}

#[test]
fn kunin_closed_form_edge_cases() {
    // c = 0 is below any threshold: 0, not NaN.
    let s = kunin_singular_values(&[4.0, 1.0, 0.0], 0.5, 2, 3, Tying::Untied).unwrap();
    assert_eq!(s[1], 0.0);
    assert_eq!(s[2], 0.0);
    assert!((s[0] - 0.75f64.sqrt()).abs() < 1e-15);
    // Tied halves the threshold's effect: 1 − 2·0.5/(4·4).
    let t = kunin_singular_values(&[4.0], 0.5, 2, 1, Tying::Tied).unwrap();
    assert!((t[0] - (1.0f64 - 1.0 / 16.0).sqrt()).abs() < 1e-15);
    // No L2: every retained singular value is 1.
    let one = kunin_singular_values(&[3.0, 2.0], 0.0, 5, 2, Tying::Untied).unwrap();
    assert_eq!(one, vec![1.0, 1.0]);
    // Bad input is an error, not a panic or a NaN.
    assert!(kunin_singular_values(&[1.0], -1.0, 2, 1, Tying::Tied).is_err());
    assert!(kunin_singular_values(&[1.0], f64::NAN, 2, 1, Tying::Tied).is_err());
    assert!(kunin_singular_values(&[1.0], 0.1, 2, 2, Tying::Tied).is_err());
    assert!(kunin_singular_values(&[1.0], 0.1, 2, 0, Tying::Tied).is_err());
    assert!(kunin_singular_values(&[1.0, 2.0], 0.1, 2, 1, Tying::Tied).is_err());
    assert!(kunin_singular_values(&[f64::NAN], 0.1, 2, 1, Tying::Tied).is_err());
    assert!(kunin_singular_values(&[1.0], 0.1, 0, 1, Tying::Tied).is_err());
    assert!(second_moments(&DMatrix::<f64>::zeros(0, 3), false).is_err());
    let mut bad = DMatrix::<f64>::zeros(2, 2);
    bad[(1, 1)] = f64::INFINITY;
    assert!(second_moments(&bad, true).is_err());
    // The gap: 0 for exact transposes, relative, shape- and zero-checked.
    let w = DMatrix::from_row_slice(2, 3, &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
    assert_eq!(transpose_gap(&w, &w.transpose()).unwrap(), 0.0);
    let g = transpose_gap(&(&w * 1.1), &w.transpose()).unwrap();
    assert!((g - 0.1).abs() < 1e-12, "{g}");
    assert!(transpose_gap(&w, &w).is_err());
    assert!(transpose_gap(&w, &DMatrix::zeros(3, 2)).is_err());
}

/// Plaut: the decoder's SVD plus a k x k PCA of the projected data gives
/// the ordered principal directions and variances, without L2 (where the
/// decoder is an arbitrary basis of the subspace) and with it.
#[test]
fn plaut_recovers_ordered_principal_directions() {
    let (d, k) = (12, 4);
    let x = centred(&spiked(2000, d, &[8.0, 5.0, 3.0, 2.0], 3));
    let pca = Pca::count(k).fit(&x).unwrap();
    for (tied, l2) in [(true, 0.0), (false, 0.0), (true, 0.1), (false, 0.1)] {
        let model = lbfgs_fit(linear(d, k, tied, BiasMode::None, 5), &x, l2);
        let rec = principal_directions(&model, &x).unwrap();
        assert_eq!(rec.directions.shape(), (k, d));
        for i in 0..k {
            let a = rec.directions.row(i);
            let b = pca.components().row(i);
            let cos = (a.dot(&b) / (a.norm() * b.norm())).abs().min(1.0);
            let deg = cos.acos().to_degrees();
            assert!(
                deg < 0.5,
                "tied {tied} l2 {l2}: direction {i} is {deg} degrees off"
            );
            let (v, w) = (rec.variances[i], pca.explained_variance()[i]);
            assert!(
                (v - w).abs() <= 1e-4 * w,
                "tied {tied} l2 {l2}: variance {i}: {v} vs {w}"
            );
        }
        assert!(rec.decoder_singular_values.iter().all(|s| *s > 0.0));
    }
}

#[test]
fn plaut_rejects_what_it_cannot_read() {
    let x = centred(&spiked(50, 6, &[2.0, 1.0], 4));
    let model = linear(6, 2, true, BiasMode::None, 1);
    assert!(principal_directions(&model, &x.columns(0, 5).into_owned()).is_err());
    assert!(principal_directions(&model, &x.rows(0, 1).into_owned()).is_err());
    let relu = AutoencoderSpec::new(&[6, 2]).activation(tiedae::model::Activation::Relu);
    let relu = Autoencoder::<f64>::new(&relu, 1).unwrap();
    assert!(principal_directions(&relu, &x).is_err());
    // A dead (all-zero) unit leaves the decoder rank-deficient.
    let mut dead = model.clone();
    let mut p = dead.params_to_vec();
    for v in &mut p[..6] {
        *v = 0.0;
    }
    dead.set_params(&p).unwrap();
    assert!(principal_directions(&dead, &x).is_err());
}
