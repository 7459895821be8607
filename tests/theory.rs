//! The theory of linear autoencoders as oracles, on synthetic data with a
//! known spectrum (spiked covariance): Kunin et al. 2019 (untied pairs
//! become tied under L2, closed-form singular values), Plaut 2018
//! (principal directions recovered from a trained decoder), Bao et al. 2020
//! (non-uniform L2 gives ordered, axis-aligned directions; the
//! rotation-augmented gradient gets there sooner), and the denoising
//! corruption of Vincent et al. 2010 (seeded per sample, clean targets).
//!
//! Every model here is small (d ≤ 12, k ≤ 4, n ≤ 2000), trained in f64 by
//! full-batch L-BFGS or a few thousand small gradient steps, so each test
//! takes a few seconds at most in release.

#[allow(dead_code)]
mod fd;
mod threads;

use nalgebra::DMatrix;
use rand::RngExt;
use tiedae::Error;
use tiedae::data::SpikedCovariance;
use tiedae::linalg::Pca;
use tiedae::model::theory::{
    Tying, axis_alignment, denoising_singular_values, kunin_singular_values, layer_transpose_gap,
    predicted_singular_values, principal_directions, second_moments, singular_values_desc,
    subspace_distance, transpose_gap,
};
use tiedae::model::{Activation, Autoencoder, AutoencoderSpec, BiasMode, Init, LossConfig};
use tiedae::rng::seeded;
use tiedae::train::{Corruption, LbfgsConfig, Optimizer, Progress, TrainConfig, Trainer};

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
                tol_grad: 1e-9,
                tol_cost: 0.0,
                tol_cost_rel: 0.0,
            }))
            .loss(tiedae::model::LossConfig::mse().with_l2(l2))
            .shard_size(512)
            .progress(Progress::Silent),
    )
    .unwrap();
    finish(trainer.try_fit(model, x, |_| {}))
}

/// The trained model; an L-BFGS run whose line search gave up in rounding
/// near the optimum hands back its last accepted point, which the caller's
/// tolerances then judge.
fn finish(
    r: Result<tiedae::train::TrainOutcome<f64>, Box<tiedae::train::Failed<f64>>>,
) -> Autoencoder<f64> {
    match r {
        Ok(out) => out.model,
        Err(f) => match &f.error {
            Error::Diverged { what, .. } if !f.history.is_empty() => {
                eprintln!(
                    "L-BFGS ended early after {} iterations: {what}",
                    f.history.len()
                );
                f.model
            }
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
    // Untied threshold d·λ₂/2 = 1: c = 1 sits on it and c = 0 is below
    // it, both 0 (not NaN); c = 4 gives 1 − 1/4.
    let s = kunin_singular_values(&[4.0, 1.0, 0.0], 1.0, 2, 3, Tying::Untied).unwrap();
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

/// A model whose every parameter (biases included) is random.
fn random_model(spec: &AutoencoderSpec, seed: u64) -> Autoencoder<f64> {
    let mut m = Autoencoder::<f64>::new(spec, seed).unwrap();
    let mut rng = seeded(seed ^ 0x5EED);
    let p: Vec<f64> = (0..m.n_params())
        .map(|_| rng.random_range(-0.7..0.7))
        .collect();
    m.set_params(&p).unwrap();
    m
}

/// The non-uniform L2 term's gradient, against central differences, for
/// tied and untied latent pairs, alone and under an outer pair (which keeps
/// uniform decay), with and without biases.
#[test]
fn unit_l2_gradient_matches_finite_differences() {
    let loss = LossConfig::mse().with_l2(0.07).with_unit_l2(0.1, 0.9);
    let cases: [(&[usize], &[bool]); 5] = [
        (&[5, 3], &[true]),
        (&[5, 3], &[false]),
        (&[5, 4, 3], &[false, true]),
        (&[5, 4, 3], &[true, false]),
        (&[5, 4, 1], &[false, false]),
    ];
    for (c, (dims, tied)) in cases.iter().enumerate() {
        for bias in [BiasMode::None, BiasMode::Separate] {
            let spec = AutoencoderSpec::new(dims)
                .tied_per_layer(tied.to_vec())
                .activation(Activation::Tanh)
                .bias(bias);
            let m = random_model(&spec, 40 + c as u64);
            let x = fd::random_matrix(4, dims[0], -1.0, 1.0, 90 + c as u64);
            let (_, g) = m.objective_and_grad(&x, &x, &loss).unwrap();
            let num = fd::numeric_gradient(&m, &x, &x, &loss);
            if let Err(e) = fd::compare(&m, g.as_slice(), &num) {
                panic!("dims {dims:?} tied {tied:?} bias {bias:?}: {e}");
            }
        }
    }
}

/// The non-uniform penalty by hand: `λ₂/2 Σ_i w_i (‖enc row i‖² + ‖dec
/// column i‖²)`, weights linear from `first` to `last`.
#[test]
fn unit_l2_penalty_weighs_each_latent_unit() {
    let spec = AutoencoderSpec::new(&[3, 2])
        .tied(false)
        .bias(BiasMode::None);
    let mut m = Autoencoder::<f64>::new(&spec, 1).unwrap();
    // Encoder rows (1, 0, 0) and (0, 2, 0); decoder d x r row-major with
    // column 0 = (0, 0, 1) and column 1 = (3, 0, 0).
    let p = [1.0, 0.0, 0.0, 0.0, 2.0, 0.0, 0.0, 3.0, 0.0, 0.0, 1.0, 0.0];
    m.set_params(&p).unwrap();
    let loss = LossConfig::mse().with_l2(0.5).with_unit_l2(0.2, 0.6);
    let want = 0.25 * (0.2 * (1.0 + 1.0) + 0.6 * (4.0 + 9.0));
    assert!((m.l2_penalty(&loss) - want).abs() < 1e-12);
    // Uniform L2 is unchanged by the option's absence.
    let uniform = LossConfig::mse().with_l2(0.5);
    assert!((m.l2_penalty(&uniform) - 0.25 * 15.0).abs() < 1e-12);
    let bao = tiedae::model::UnitL2::BAO.weights(5);
    for (w, want) in bao.iter().zip([0.1, 0.3, 0.5, 0.7, 0.9]) {
        assert!((w - want).abs() < 1e-15, "{bao:?}");
    }
    // Bad weights are refused by name.
    for bad in [0.0, -1.0, f64::NAN, f64::INFINITY] {
        let e = LossConfig::mse()
            .with_unit_l2(bad, 0.9)
            .validate()
            .unwrap_err();
        assert!(e.to_string().contains("unit_l2.first"), "{e}");
        let e = LossConfig::mse()
            .with_unit_l2(0.1, bad)
            .validate()
            .unwrap_err();
        assert!(e.to_string().contains("unit_l2.last"), "{e}");
    }
    // A conv latent pair has channels, not units: an error, not a guess.
    let conv = AutoencoderSpec::conv(
        tiedae::model::ImageShape::new(1, 4, 4),
        &[tiedae::model::ConvSpec::new(2, 2, 2, 0)],
    )
    .unwrap();
    let cm = Autoencoder::<f64>::new(&conv, 1).unwrap();
    let x = fd::random_matrix(2, 16, 0.0, 1.0, 3);
    assert!(cm.objective_and_grad(&x, &x, &loss).is_err());
}

/// Bao et al.: with non-uniform L2 the learned directions themselves are
/// the principal ones, in order (unit i holds direction i), for an untied
/// decoder's columns and a tied W's rows.
#[test]
fn bao_non_uniform_l2_aligns_units_with_principal_axes() {
    let (d, k) = (8, 3);
    let x = centred(&spiked(1000, d, &[5.0, 3.0, 1.5], 6));
    let pca = Pca::count(k).fit(&x).unwrap();
    let u = pca.components().clone();
    for tied in [false, true] {
        let spec = AutoencoderSpec::new(&[d, k])
            .tied(tied)
            .bias(BiasMode::None);
        let model = Autoencoder::<f64>::new(&spec, 8).unwrap();
        let trainer = Trainer::new(
            TrainConfig::new()
                .optimizer(Optimizer::Lbfgs(LbfgsConfig {
                    max_iters: 5000,
                    memory: 20,
                    tol_grad: 1e-9,
                    tol_cost: 0.0,
                    tol_cost_rel: 0.0,
                }))
                .loss(LossConfig::mse().with_l2(0.25).with_unit_l2(0.1, 0.9))
                .shard_size(512)
                .progress(Progress::Silent),
        )
        .unwrap();
        let model = finish(trainer.try_fit(model, &x, |_| {}));
        let w = model.layers()[0].decoder_weight().transpose();
        let align = axis_alignment(&u, &w).unwrap();
        let dist = subspace_distance(&u, &w).unwrap();
        eprintln!("tied {tied}: axis alignment {align:.3e}, subspace distance {dist:.3e}");
        assert!(align < 1e-3, "tied {tied}: axis alignment {align}");
        assert!(dist < 1e-3, "tied {tied}: subspace distance {dist}");
        for i in 0..k {
            let (a, b) = (w.row(i), u.row(i));
            let cos = a.dot(&b).abs() / (a.norm() * b.norm());
            assert!(
                cos > 0.999,
                "tied {tied}: unit {i} is not direction {i} ({cos})"
            );
        }
    }
}

#[test]
fn bao_metrics_on_known_cases() {
    let e = DMatrix::<f64>::identity(4, 4);
    let u = e.rows(0, 2).into_owned();
    // Same axes in another order and scale, with flipped signs: aligned.
    let w = DMatrix::from_row_slice(2, 4, &[0.0, -3.0, 0.0, 0.0, 2.0, 0.0, 0.0, 0.0]);
    assert!(axis_alignment(&u, &w).unwrap() < 1e-15);
    assert!(subspace_distance(&u, &w).unwrap() < 1e-15);
    // The same plane rotated by 45°: the span agrees, the axes do not.
    let h = 0.5f64.sqrt();
    let r = DMatrix::from_row_slice(2, 4, &[h, h, 0.0, 0.0, -h, h, 0.0, 0.0]);
    assert!((axis_alignment(&u, &r).unwrap() - 0.5).abs() < 1e-12);
    assert!(subspace_distance(&u, &r).unwrap() < 1e-12);
    // An orthogonal plane: distance 1.
    let o = e.rows(2, 2).into_owned();
    assert!((subspace_distance(&u, &o).unwrap() - 1.0).abs() < 1e-12);
    assert!((axis_alignment(&u, &o).unwrap() - 1.0).abs() < 1e-12);
    // Errors, not panics.
    assert!(axis_alignment(&u, &DMatrix::zeros(2, 3)).is_err());
    assert!(axis_alignment(&u, &DMatrix::zeros(2, 4)).is_err());
    assert!(subspace_distance(&u, &DMatrix::zeros(2, 4)).is_err());
    assert!(subspace_distance(&u, &DMatrix::zeros(5, 4)).is_err());
    let mut nan = w.clone();
    nan[(0, 0)] = f64::NAN;
    assert!(axis_alignment(&u, &nan).is_err());
}

/// Steps of full-batch gradient descent until the tied weight's rows are
/// axis-aligned with `u` to within `target`, checked every `every` steps;
/// `None` within `budget` steps.
fn steps_to_alignment(
    x: &DMatrix<f64>,
    u: &DMatrix<f64>,
    cfg: TrainConfig,
    target: f64,
    budget: usize,
) -> Option<usize> {
    let every = 10;
    let spec = AutoencoderSpec::new(&[x.ncols(), u.nrows()])
        .bias(BiasMode::None)
        .init(Init::Normal { std: 0.1 });
    let mut model = Autoencoder::<f64>::new(&spec, 12).unwrap();
    // Plain SGD keeps no state, so chunks of `every` epochs continue one
    // run exactly (one full batch per epoch).
    let trainer = Trainer::new(
        cfg.epochs(every)
            .batch_size(x.nrows())
            .optimizer(Optimizer::sgd())
            .progress(Progress::Silent),
    )
    .unwrap();
    for done in (every..=budget).step_by(every) {
        model = trainer.fit(model, x).unwrap().model;
        let w = model.layers()[0].encoder_weight().clone();
        if axis_alignment(u, &w).unwrap() < target {
            return Some(done);
        }
    }
    None
}

/// Bao et al.: the rotation-augmented gradient reaches the aligned
/// directions in fewer steps than gradient descent pulled by non-uniform
/// L2, from the same start at the same learning rate.
#[test]
fn rag_aligns_in_fewer_steps_than_gradient_descent() {
    let (d, k) = (8, 3);
    let x = centred(&spiked(500, d, &[5.0, 3.0, 1.5], 9));
    let u = Pca::count(k).fit(&x).unwrap().components().clone();
    let base = TrainConfig::new().learning_rate(0.1).seed(4);
    let (target, budget) = (1e-2, 4000);
    let rag = steps_to_alignment(
        &x,
        &u,
        base.clone().rotation_augmented(true),
        target,
        budget,
    );
    let plain = steps_to_alignment(
        &x,
        &u,
        base.loss(LossConfig::mse().with_l2(0.05).with_unit_l2(0.1, 0.9)),
        target,
        budget,
    );
    eprintln!("steps to axis alignment {target}: RAG {rag:?}, non-uniform L2 {plain:?}");
    let rag = rag.expect("RAG reaches the target within the budget");
    assert!(plain.is_none_or(|p| rag < p), "RAG {rag}, GD {plain:?}");
}

#[test]
fn rag_refuses_models_and_optimizers_it_is_not_defined_for() {
    let x = centred(&spiked(50, 6, &[2.0, 1.0], 4));
    let trainer = Trainer::new(
        TrainConfig::new()
            .epochs(1)
            .rotation_augmented(true)
            .progress(Progress::Silent),
    )
    .unwrap();
    for spec in [
        AutoencoderSpec::new(&[6, 2]),
        AutoencoderSpec::new(&[6, 4, 2]).bias(BiasMode::None),
        AutoencoderSpec::new(&[6, 2])
            .bias(BiasMode::None)
            .activation(Activation::Tanh),
    ] {
        let m = Autoencoder::<f64>::new(&spec, 1).unwrap();
        let e = trainer.fit(m, &x).unwrap_err();
        assert!(e.to_string().contains("rotation_augmented"), "{e}");
    }
    let e = TrainConfig::new()
        .optimizer(Optimizer::lbfgs())
        .rotation_augmented(true)
        .validate()
        .unwrap_err();
    assert!(e.to_string().contains("rotation_augmented"), "{e}");
}

/// Masking noise zeroes each entry with probability ν: over 100,000
/// entries the count of zeros stays within 5 binomial standard deviations
/// of `ν n`, for several ν and epochs.
#[test]
fn masking_zeroes_the_requested_fraction() {
    let (rows, cols) = (2000, 50);
    let samples: Vec<usize> = (0..rows).collect();
    for (nu, epoch) in [(0.1, 1u64), (0.3, 2), (0.5, 3), (0.75, 4)] {
        let mut x = DMatrix::<f64>::from_element(rows, cols, 1.0);
        let c = Corruption::Masking { fraction: nu };
        c.apply(&mut x, &samples, Corruption::epoch_seed(9, epoch))
            .unwrap();
        let n = (rows * cols) as f64;
        let zeros = x.iter().filter(|&&v| v == 0.0).count() as f64;
        let sd = (n * nu * (1.0 - nu)).sqrt();
        assert!(
            (zeros - n * nu).abs() < 5.0 * sd,
            "ν {nu}: {zeros} zeros of {n}, expected {} ± {sd}",
            n * nu
        );
        // Entries not masked keep their value.
        assert!(x.iter().all(|&v| v == 0.0 || v == 1.0));
    }
    // The extremes are exact.
    let mut x = DMatrix::<f64>::from_element(3, 4, 2.0);
    Corruption::Masking { fraction: 0.0 }
        .apply(&mut x, &[0, 1, 2], 5)
        .unwrap();
    assert!(x.iter().all(|&v| v == 2.0));
    Corruption::Masking { fraction: 1.0 }
        .apply(&mut x, &[0, 1, 2], 5)
        .unwrap();
    assert!(x.iter().all(|&v| v == 0.0));
}

/// A sample's noise depends on the seed, the epoch and the sample alone:
/// not on its position in the batch.
#[test]
fn corruption_is_per_sample_and_seeded() {
    let x = fd::random_matrix(2, 30, -1.0, 1.0, 1);
    for c in [
        Corruption::Masking { fraction: 0.4 },
        Corruption::Gaussian { sigma: 0.5 },
    ] {
        let seed = Corruption::epoch_seed(3, 1);
        let (mut a, mut b) = (x.clone(), DMatrix::from_fn(2, 30, |i, j| x[(1 - i, j)]));
        c.apply(&mut a, &[3, 7], seed).unwrap();
        c.apply(&mut b, &[7, 3], seed).unwrap();
        assert_eq!(a.row(0), b.row(1), "{}", c.name());
        assert_eq!(a.row(1), b.row(0), "{}", c.name());
        let mut again = x.clone();
        c.apply(&mut again, &[3, 7], seed).unwrap();
        assert_eq!(a, again);
        let mut other = x.clone();
        c.apply(&mut other, &[3, 7], Corruption::epoch_seed(3, 2))
            .unwrap();
        assert_ne!(a, other, "{}: a new epoch draws new noise", c.name());
        assert!(c.apply(&mut a.clone(), &[3], seed).is_err());
    }
    // Gaussian noise has the requested spread.
    let mut z = DMatrix::<f64>::zeros(1000, 40);
    let samples: Vec<usize> = (0..1000).collect();
    Corruption::Gaussian { sigma: 0.5 }
        .apply(&mut z, &samples, 11)
        .unwrap();
    let n = z.len() as f64;
    let mean = z.iter().sum::<f64>() / n;
    let var = z.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n;
    assert!(mean.abs() < 0.02, "{mean}");
    assert!((var - 0.25).abs() < 0.01, "{var}");
}

/// The target is the clean input: with every input masked, a linear model
/// without biases outputs 0, so the first batch's reconstruction loss is
/// the mean of the clean `x²` (it would be 0 against the corrupted input).
#[test]
fn denoising_reconstructs_towards_the_clean_input() {
    let x = fd::random_matrix(64, 6, -1.0, 1.0, 2);
    let spec = AutoencoderSpec::new(&[6, 2]).bias(BiasMode::None);
    let model = Autoencoder::<f64>::new(&spec, 1).unwrap();
    let out = Trainer::new(
        TrainConfig::new()
            .epochs(1)
            .batch_size(64)
            .shard_size(16)
            .optimizer(Optimizer::sgd())
            .learning_rate(0.01)
            .corruption(Corruption::Masking { fraction: 1.0 })
            .progress(Progress::Silent),
    )
    .unwrap()
    .fit(model, &x)
    .unwrap();
    let want = x.iter().map(|v| v * v).sum::<f64>() / x.len() as f64;
    let got = out.history.epochs[0].train.reconstruction;
    assert!((got - want).abs() <= 1e-12 * want, "{got} vs {want}");
}

/// Denoising training gives the same weights, bit for bit, on 1, 2 and 3
/// threads, for both kinds of noise.
#[test]
fn denoising_is_deterministic_across_thread_counts() {
    let x = fd::random_matrix(300, 10, 0.0, 1.0, 3).map(|v| v as f32);
    for c in [
        Corruption::Masking { fraction: 0.3 },
        Corruption::Gaussian { sigma: 0.2 },
    ] {
        let run = || {
            let spec = AutoencoderSpec::new(&[10, 4]).activation(Activation::Sigmoid);
            let model = Autoencoder::<f32>::new(&spec, 5).unwrap();
            let trainer = Trainer::new(
                TrainConfig::new()
                    .epochs(3)
                    .batch_size(100)
                    .shard_size(16)
                    .optimizer(Optimizer::adam())
                    .learning_rate(1e-2)
                    .seed(21)
                    .corruption(c)
                    .progress(Progress::Silent),
            )
            .unwrap();
            let m = trainer.fit(model, &x).unwrap().model;
            m.params_to_vec()
                .iter()
                .map(|v| v.to_bits())
                .collect::<Vec<u32>>()
        };
        let one = threads::on_threads(1, run);
        for k in [2, 3] {
            assert_eq!(
                threads::on_threads(k, run),
                one,
                "{} on {k} threads",
                c.name()
            );
        }
        // And the noise matters: plain training ends elsewhere.
        let spec = AutoencoderSpec::new(&[10, 4]).activation(Activation::Sigmoid);
        let plain = Trainer::new(
            TrainConfig::new()
                .epochs(3)
                .batch_size(100)
                .shard_size(16)
                .optimizer(Optimizer::adam())
                .learning_rate(1e-2)
                .seed(21)
                .progress(Progress::Silent),
        )
        .unwrap()
        .fit(Autoencoder::<f32>::new(&spec, 5).unwrap(), &x)
        .unwrap()
        .model;
        let plain: Vec<u32> = plain.params_to_vec().iter().map(|v| v.to_bits()).collect();
        assert_ne!(plain, one, "{}", c.name());
    }
}

#[test]
fn corruption_settings_are_validated_by_name() {
    let field = |cfg: TrainConfig| match Trainer::new(cfg) {
        Err(Error::Config { field, .. }) => field,
        other => panic!("expected a config error, got {other:?}"),
    };
    for bad in [-0.1, 1.5, f64::NAN] {
        let cfg = TrainConfig::new().corruption(Corruption::Masking { fraction: bad });
        assert_eq!(field(cfg), "corruption.fraction");
    }
    for bad in [-1.0, f64::INFINITY] {
        let cfg = TrainConfig::new().corruption(Corruption::Gaussian { sigma: bad });
        assert_eq!(field(cfg), "corruption.sigma");
    }
    let cfg = TrainConfig::new()
        .optimizer(Optimizer::lbfgs())
        .corruption(Corruption::Gaussian { sigma: 0.1 });
    assert_eq!(field(cfg), "corruption");
    // Configs without the new options serialize as before.
    let json = serde_json::to_string(&TrainConfig::new()).unwrap();
    assert!(!json.contains("corruption") && !json.contains("rotation_augmented"));
    assert!(!json.contains("unit_l2"));
}

/// The built-in `theory` study: one row per claim with a finite
/// measurement, and on well-separated synthetic data every claim passes.
#[test]
fn theory_study_measures_every_claim() {
    use tiedae::study::builtin::{Preset, claims, theory};
    let ds = SpikedCovariance::new(600, 12, vec![8.0, 5.0, 3.0], 0.3, 13)
        .generate()
        .unwrap()
        .dataset;
    let mut preset = Preset::quick();
    preset.latents = vec![3];
    let df = theory::run(&ds, &preset).unwrap();
    assert_eq!(df.height(), 11);
    let names: Vec<String> = df
        .get_column_names()
        .iter()
        .map(|n| n.to_string())
        .collect();
    assert_eq!(
        names,
        ["paper", "claim", "formula", "measured", "tolerance", "pass"]
    );
    let lines = claims::summary(&df).unwrap();
    for l in &lines {
        eprintln!("{l}");
    }
    assert_eq!(lines.len(), 11);
    let measured = df.column("measured").unwrap().f64().unwrap().clone();
    assert!(measured.iter().all(|v| v.is_some_and(f64::is_finite)));
    let pass = df.column("pass").unwrap().bool().unwrap().clone();
    for (i, p) in pass.iter().enumerate() {
        assert_eq!(p, Some(true), "{}", lines[i]);
    }
    // Data without k distinct principal directions is an error, not a
    // panic or a table of NaNs.
    let flat = tiedae::data::Dataset::new("flat", DMatrix::zeros(50, 6), None, None).unwrap();
    assert!(theory::run(&flat, &preset).is_err());
}

/// Vincent et al. with the closed form of the expected objective: Adam on
/// Gaussian-corrupted inputs drives a linear tied AE's singular values to
/// `s_i² = c_i / (c_i + σ²)`, up to the noise of the last steps.
#[test]
fn gaussian_denoising_shrinks_singular_values_as_predicted() {
    let (d, k) = (8, 3);
    let x = centred(&spiked(1000, d, &[5.0, 3.0, 1.5], 1));
    let c = second_moments(&x, false).unwrap();
    let want = denoising_singular_values(&c, 1.0, k).unwrap();
    let model = Trainer::new(
        TrainConfig::new()
            .epochs(200)
            .batch_size(64)
            .optimizer(Optimizer::adam())
            .learning_rate(1e-2)
            .schedule(tiedae::train::Schedule::Cosine { min_factor: 0.01 })
            .corruption(Corruption::Gaussian { sigma: 1.0 })
            .seed(2)
            .progress(Progress::Silent),
    )
    .unwrap()
    .fit(linear(d, k, true, BiasMode::None, 4), &x)
    .unwrap()
    .model;
    let got = singular_values_desc(model.layers()[0].encoder_weight());
    eprintln!("denoising: s {got:?}, predicted {want:?}");
    for (g, w) in got.iter().zip(&want) {
        assert!((g - w).abs() < 1e-2, "{got:?} vs {want:?}");
    }
    assert!(denoising_singular_values(&c, -1.0, k).is_err());
    assert!(denoising_singular_values(&c, 1.0, 0).is_err());
    assert_eq!(
        denoising_singular_values(&[0.0], 0.0, 1).unwrap(),
        vec![0.0]
    );
}

/// The rotation term is computed serially in f64, so RAG training gives the
/// same weights, bit for bit, on any number of threads.
#[test]
fn rag_is_deterministic_across_thread_counts() {
    let x = centred(&spiked(300, 8, &[5.0, 3.0, 1.5], 5)).map(|v| v as f32);
    let run = || {
        let spec = AutoencoderSpec::new(&[8, 3])
            .tied(false)
            .bias(BiasMode::None);
        let model = Autoencoder::<f32>::new(&spec, 2).unwrap();
        let trainer = Trainer::new(
            TrainConfig::new()
                .epochs(4)
                .batch_size(100)
                .shard_size(16)
                .optimizer(Optimizer::momentum(0.9))
                .learning_rate(0.01)
                .seed(3)
                .rotation_augmented(true)
                .progress(Progress::Silent),
        )
        .unwrap();
        let m = trainer.fit(model, &x).unwrap().model;
        m.params_to_vec()
            .iter()
            .map(|v| v.to_bits())
            .collect::<Vec<u32>>()
    };
    let one = threads::on_threads(1, run);
    for k in [2, 3] {
        assert_eq!(threads::on_threads(k, run), one, "{k} threads");
    }
}

/// The data behind the "eventually" chart: one row per method, latent size
/// and recorded step, with metrics in [0, 1]; RAG ends closer to the axes
/// than non-uniform L2 within the same steps.
#[test]
fn alignment_curves_cover_every_method_and_size() {
    use tiedae::study::builtin::theory::{CURVE_METHODS, alignment_curves};
    let x = spiked(400, 8, &[5.0, 3.0, 1.5], 8);
    let df = alignment_curves(&x, &[2, 3], 600, 150).unwrap();
    assert_eq!(df.height(), CURVE_METHODS.len() * 2 * 4);
    let col = |name: &str| -> Vec<f64> {
        df.column(name)
            .unwrap()
            .f64()
            .unwrap()
            .iter()
            .map(Option::unwrap)
            .collect()
    };
    let (align, dist) = (col("axis_alignment"), col("subspace_distance"));
    assert!(align.iter().chain(&dist).all(|v| (0.0..=1.0).contains(v)));
    let method: Vec<String> = df
        .column("method")
        .unwrap()
        .str()
        .unwrap()
        .iter()
        .map(|v| v.unwrap().to_string())
        .collect();
    let step: Vec<i64> = df
        .column("step")
        .unwrap()
        .i64()
        .unwrap()
        .iter()
        .map(Option::unwrap)
        .collect();
    let k: Vec<i64> = df
        .column("k")
        .unwrap()
        .i64()
        .unwrap()
        .iter()
        .map(Option::unwrap)
        .collect();
    let last = |m: &str| {
        (0..df.height())
            .find(|&i| method[i] == m && k[i] == 3 && step[i] == 600)
            .map(|i| align[i])
            .unwrap()
    };
    eprintln!(
        "k = 3 after 600 steps: uniform {:.3e}, non-uniform {:.3e}, RAG {:.3e}",
        last("uniform_l2"),
        last("non_uniform_l2"),
        last("rag")
    );
    assert!(last("rag") < last("non_uniform_l2"));
    assert!(alignment_curves(&x, &[9], 10, 5).is_err());
    assert!(alignment_curves(&x, &[2], 0, 5).is_err());
    assert!(alignment_curves(&x, &[2], 10, 0).is_err());
}

// ---- Frozen biases, Refinetti & Goldt, denoising, the theory page ----

/// A ReLU pair with separate biases whose biases start away from zero, so
/// a trainer that moved them could not hide it.
fn biased_relu(d: usize, k: usize, tied: bool) -> Autoencoder<f64> {
    let spec = AutoencoderSpec::new(&[d, k])
        .tied(tied)
        .activation(Activation::Relu)
        .bias(BiasMode::Separate);
    let mut m = Autoencoder::<f64>::new(&spec, 3).unwrap();
    let mut p = m.params_to_vec();
    for slots in m.layout().layers() {
        for (n, i) in slots.biases.clone().enumerate() {
            p[i] = 0.1 + 0.01 * n as f64;
        }
    }
    m.set_params(&p).unwrap();
    m
}

fn bias_entries(m: &Autoencoder<f64>) -> Vec<u64> {
    let p = m.params_to_vec();
    m.layout()
        .layers()
        .iter()
        .flat_map(|s| s.biases.clone())
        .map(|i| p[i].to_bits())
        .collect()
}

#[test]
fn frozen_biases_stay_bit_identical_and_the_weights_train_as_without() {
    let x = spiked(200, 8, &[3.0, 1.0], 7);
    for tied in [true, false] {
        for opt in [Optimizer::adam(), Optimizer::momentum(0.9)] {
            let m = biased_relu(8, 3, tied);
            let before = bias_entries(&m);
            let cfg = TrainConfig::new()
                .epochs(5)
                .batch_size(32)
                .optimizer(opt)
                .learning_rate(1e-2)
                .progress(Progress::Silent);
            let frozen = Trainer::new(cfg.clone().freeze_biases(true))
                .unwrap()
                .fit(m.clone(), &x)
                .unwrap()
                .model;
            assert_eq!(bias_entries(&frozen), before, "tied {tied}, {}", opt.name());
            assert_ne!(frozen.params_to_vec(), m.params_to_vec(), "weights train");
            let free = Trainer::new(cfg).unwrap().fit(m.clone(), &x).unwrap().model;
            assert_ne!(
                bias_entries(&free),
                before,
                "without the option biases train"
            );
        }
    }
    // One full-batch SGD step: the weights' update does not depend on
    // whether the biases move in the same step, so both runs agree on them.
    let m = biased_relu(8, 3, false);
    let one = |freeze| {
        Trainer::new(
            TrainConfig::new()
                .epochs(1)
                .batch_size(200)
                .optimizer(Optimizer::sgd())
                .learning_rate(1e-2)
                .freeze_biases(freeze)
                .progress(Progress::Silent),
        )
        .unwrap()
        .fit(m.clone(), &x)
        .unwrap()
        .model
    };
    let (a, b) = (one(true), one(false));
    let weights = |m: &Autoencoder<f64>| {
        let p = m.params_to_vec();
        m.layout()
            .layers()
            .iter()
            .flat_map(|s| {
                std::iter::once(s.weight.clone())
                    .chain(s.decoder_weight.clone())
                    .flatten()
            })
            .map(|i| p[i].to_bits())
            .collect::<Vec<_>>()
    };
    assert_eq!(weights(&a), weights(&b));
    let err = TrainConfig::new()
        .optimizer(Optimizer::lbfgs())
        .freeze_biases(true)
        .validate()
        .unwrap_err()
        .to_string();
    assert!(err.contains("freeze_biases"), "{err}");
}

#[test]
fn direction_alignment_is_the_largest_squared_cosine_per_direction() {
    use tiedae::model::theory::direction_alignment;
    let mut rng = seeded(4);
    let u = DMatrix::from_fn(3, 6, |_, _| rng.random_range(-1.0..1.0));
    let mut w = DMatrix::from_fn(5, 6, |_, _| rng.random_range(-1.0..1.0));
    w.row_mut(2).fill(0.0); // a dead unit counts as cosine 0
    let got = direction_alignment(&u, &w).unwrap();
    for (i, &g) in got.iter().enumerate() {
        let mut best = 0.0f64;
        for j in [0, 1, 3, 4] {
            let (a, b) = (u.row(i), w.row(j));
            let dot: f64 = a.iter().zip(b.iter()).map(|(p, q)| p * q).sum();
            let na: f64 = a.iter().map(|p| p * p).sum::<f64>().sqrt();
            let nb: f64 = b.iter().map(|p| p * p).sum::<f64>().sqrt();
            best = best.max((dot / (na * nb)).powi(2));
        }
        assert!((g - best).abs() < 1e-12, "{i}: {g} vs {best}");
    }
    // A direction among the learned ones, up to sign and scale, gives 1.
    let mut w2 = w.clone();
    w2.set_row(2, &(u.row(1) * -3.0));
    assert!((direction_alignment(&u, &w2).unwrap()[1] - 1.0).abs() < 1e-12);
    // axis_alignment is mean(1 − ·) of it (on rows without zeros).
    let w3 = w2.clone();
    let da = direction_alignment(&u, &w3).unwrap();
    let mean = da.iter().map(|a| 1.0 - a).sum::<f64>() / 3.0;
    assert!((axis_alignment(&u, &w3).unwrap() - mean).abs() < 1e-12);
}

/// A small Refinetti–Goldt study: digits' first 300 rows beside the
/// synthetic data, `epochs` epochs per cell.
fn refinetti_goldt_study(
    epochs: usize,
    opts: &tiedae::study::builtin::RunOptions,
) -> tiedae::study::Study {
    use tiedae::study::builtin::{Preset, refinetti_goldt};
    let ds = tiedae::data::Dataset::builtin("digits")
        .unwrap()
        .select_rows(&(0..300).collect::<Vec<_>>())
        .unwrap();
    let mut preset = Preset::quick();
    preset.epochs = epochs;
    refinetti_goldt::study(&ds, &preset, opts).unwrap()
}

/// A Refinetti–Goldt cell trains one epoch at a time and records each
/// leading principal direction's alignment after every epoch: the curve
/// is the same on a rerun, its last point is the alignment of the
/// directions of the cell's split (its PCA) with the trained decoder's
/// directions (the cell's filters), recomputed here, and the frame's
/// columns are that last point and, per direction, the first epoch at
/// the threshold or above. `E₀` of the synthetic data is its variance per
/// entry, `(Σ s_j + d σ²) / d = 0.55`, in the data's units although the
/// models fit standardised rows; the FEV follows its definition.
#[test]
fn refinetti_goldt_cells_follow_every_epoch_and_end_at_the_models_alignment() {
    use tiedae::model::theory::direction_alignment;
    use tiedae::study::builtin::{RunOptions, refinetti_goldt};
    use tiedae::study::{MetricSet, read_extra_columns};
    let epochs = 6;
    let study = refinetti_goldt_study(epochs, &RunOptions::default());
    assert_eq!(refinetti_goldt::variants(epochs).len(), 8);
    let a = study.run_detailed().unwrap();
    let b = study.run_detailed().unwrap();
    assert_eq!(a.cells.len(), 16);
    let Some((MetricSet::Dynamics, values)) = read_extra_columns(&a.results).unwrap() else {
        panic!("no dynamics columns");
    };
    assert_eq!(values.len(), a.cells.len());
    for (i, (cell, again)) in a.cells.iter().zip(&b.cells).enumerate() {
        let curve = cell.alignment.clone().unwrap();
        assert_eq!(
            Some(&curve),
            again.alignment.as_ref(),
            "same seed, same curve"
        );
        assert_eq!(curve.len(), epochs);
        assert!(curve.iter().all(|e| e.len() == refinetti_goldt::WIDTH));
        let split = a
            .pcas
            .iter()
            .find(|p| p.dataset == cell.row.dataset && p.seed == cell.row.seed as u64)
            .unwrap();
        let u = split
            .pca
            .components()
            .rows(0, refinetti_goldt::WIDTH)
            .into_owned();
        let want = direction_alignment(&u, &cell.filters).unwrap();
        let last = curve.last().unwrap();
        for (g, w) in last.iter().zip(&want) {
            assert!(
                (g - w).abs() <= 1e-12,
                "{}: {last:?} vs {want:?}",
                cell.row.model
            );
        }
        let m = values[i].dynamics.clone().unwrap();
        for (d, (&got, &crossed)) in last.iter().zip(&m.crossing_epoch).enumerate() {
            assert_eq!(m.alignment[d], Some(got));
            let first = curve
                .iter()
                .position(|e| e[d] >= refinetti_goldt::THRESHOLD)
                .map(|e| e as i64 + 1);
            assert_eq!(crossed, first, "{}", cell.row.model);
        }
        let (e0, e, epca) = (
            m.mean_test_mse.unwrap(),
            cell.row.test_mse,
            cell.row.pca_test_mse,
        );
        let fev = m.fev.unwrap();
        assert!((fev - (e0 - e) / (e0 - epca)).abs() <= 1e-12 * (1.0 + fev.abs()));
        if cell.row.dataset == refinetti_goldt::SYNTHETIC {
            assert!((e0 - 0.55).abs() < 0.055, "E0 {e0}");
        }
    }
}

/// The denoising study is a grid of cells: PCA and seven tied variants on
/// every seed, each recording the corrupted test MSE columns; its charts
/// are medians over seeds of that frame (PCA's flat line is the median of
/// its cells' test MSE), its filters one row of tiles per variant, and its
/// findings state both claims per noise kind.
#[test]
fn the_denoising_study_is_a_grid_whose_charts_come_from_its_frame() {
    use tiedae::study::builtin::{Preset, RunOptions, denoising};
    use tiedae::study::{DENOISING_COLUMNS, frame_to_rows};
    let ds = tiedae::data::Dataset::builtin("digits")
        .unwrap()
        .select_rows(&(0..300).collect::<Vec<_>>())
        .unwrap();
    let mut preset = Preset::quick();
    preset.latents = vec![4];
    preset.seeds = vec![0, 1];
    preset.epochs = 3;
    preset.learning_rates = Vec::new();
    preset.max_rows = None;
    let names: Vec<String> = denoising::variants()
        .iter()
        .map(|v| v.name.clone())
        .collect();
    assert_eq!(
        names,
        [
            "tied_plain",
            "tied_mask_10",
            "tied_mask_25",
            "tied_mask_50",
            "tied_gauss_10",
            "tied_gauss_25",
            "tied_gauss_50"
        ]
    );
    let out = denoising::output(&ds, &preset, &RunOptions::default()).unwrap();
    assert_eq!(out.frame.height(), 2 + 7 * 2);
    for (name, _) in DENOISING_COLUMNS {
        assert_eq!(out.frame.column(name).unwrap().null_count(), 0, "{name}");
    }
    let rows = frame_to_rows(&out.frame).unwrap();
    let mut pca: Vec<f64> = rows
        .iter()
        .filter(|r| r.model == "pca")
        .map(|r| r.test_mse)
        .collect();
    assert_eq!(pca.len(), 2);
    pca.sort_by(f64::total_cmp);
    let want = 0.5 * (pca[0] + pca[1]);
    let clean = &out.figures.curves[0];
    let line = clean.series.iter().find(|l| l.name == "PCA").unwrap();
    for p in &line.points {
        assert!((p.1 - want).abs() <= 1e-12 * want, "{} vs {want}", p.1);
    }
    let series: Vec<&str> = clean.series.iter().map(|l| l.name.as_str()).collect();
    assert_eq!(series, ["masking", "Gaussian", "plain tied", "PCA"]);
    assert_eq!(out.figures.curves[1].series.len(), 6);
    for l in &out.figures.curves[1].series {
        assert_eq!(l.points.len(), 4, "{}", l.name);
        assert!(l.points.iter().all(|p| p.1.is_finite()), "{}", l.name);
    }
    let tiles = &out.figures.tiles[0];
    assert_eq!(tiles.shape, (8, 8));
    assert_eq!(tiles.rows.len(), 7);
    assert!(
        tiles
            .rows
            .iter()
            .all(|(_, t)| t.len() == 4 && t[0].len() == 64)
    );
    let findings = denoising::summary(&out.frame).unwrap();
    assert_eq!(findings.len(), 4, "{findings:?}");
    assert!(
        findings[0].contains("median over 2 seeds"),
        "{}",
        findings[0]
    );
    let table = denoising::claims_table(&out.frame).unwrap();
    assert_eq!(table.height(), 4);
}

#[test]
fn the_bao_chart_has_every_method_at_every_size() {
    use tiedae::study::builtin::{Preset, theory};
    let ds = tiedae::data::Dataset::builtin("digits")
        .unwrap()
        .select_rows(&(0..300).collect::<Vec<_>>())
        .unwrap();
    let mut preset = Preset::quick();
    preset.max_rows = None;
    let curves = theory::bao_figures(&ds, &preset).unwrap();
    let ks: Vec<&str> = curves.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(
        ks,
        ["bao-alignment-k2", "bao-alignment-k4", "bao-alignment-k8"]
    );
    for c in &curves {
        let names: Vec<&str> = c.series.iter().map(|l| l.name.as_str()).collect();
        assert_eq!(names, ["uniform L2", "non-uniform L2", "RAG"]);
        assert!(c.log_y);
        for l in &c.series {
            assert!(!l.points.is_empty());
            assert!(l.points.iter().all(|p| p.1 > 0.0 && p.1 <= 1.0));
            assert!(l.points.windows(2).all(|w| w[0].0 < w[1].0));
        }
        assert!(
            c.caption.contains("Steps to axis alignment"),
            "{}",
            c.caption
        );
    }
}

/// The theory page stacks claims tables: every part is a grid of cells
/// whose frame the page turns into its claims table.
#[test]
fn the_theory_page_runs_claims_tables_of_the_registry() {
    use tiedae::app::studies::{THEORY_PARTS, check_study_name};
    use tiedae::study::builtin::{Source, find};
    check_study_name("theory").unwrap();
    for name in THEORY_PARTS {
        let b = find(name).unwrap_or_else(|| panic!("{name} is not in the registry"));
        assert!(matches!(b.source, Source::Detailed(_)), "{name}");
        assert!(b.claims.is_some(), "{name}");
    }
}

/// The theory study is an ordinary grid: one cell per variant, each with
/// the theory columns; its two shards, merged, are the unsharded frame
/// (apart from the wall-clock `seconds`), so the claims computed from the
/// merged frame are the unsharded ones; a rerun over the cache reads every
/// cell back (even `seconds`), its claims unchanged.
#[test]
fn the_theory_study_shards_merges_and_caches_like_every_grid() {
    use tiedae::study::THEORY_COLUMNS;
    use tiedae::study::builtin::{Preset, RunOptions, theory};
    let ds = SpikedCovariance::new(400, 8, vec![8.0, 5.0, 3.0], 0.3, 5)
        .generate()
        .unwrap()
        .dataset;
    let mut preset = Preset::quick();
    preset.latents = vec![3];
    let dir = tempfile::tempdir().unwrap();
    let opts = RunOptions {
        cache_dir: Some(dir.path().join("cache")),
        ..RunOptions::default()
    };
    let study = theory::study(&ds, &preset, &opts).unwrap();
    let names: Vec<String> = theory::variants(&preset)
        .iter()
        .map(|v| v.name.clone())
        .collect();
    assert_eq!(
        names,
        [
            "untied_linear_l2",
            "tied_linear_l2",
            "untied_linear",
            "untied_bao",
            "tied_rag",
            "tied_bao_gd",
            "tied_denoise"
        ]
    );
    assert_eq!(study.cells().unwrap().len(), names.len());
    let whole = theory::study(&ds, &preset, &RunOptions::default())
        .unwrap()
        .run()
        .unwrap();
    for (name, _) in THEORY_COLUMNS {
        assert!(whole.column(name).is_ok(), "{name}");
    }
    let merged = two_shards_merged(dir.path(), || {
        theory::study(&ds, &preset, &RunOptions::default()).unwrap()
    });
    let timeless = |df: &polars::prelude::DataFrame| df.drop("seconds").unwrap();
    assert!(timeless(&merged).equals_missing(&timeless(&whole)));
    let claims = theory::claims_table(&whole).unwrap();
    assert_eq!(claims.height(), 11);
    assert!(
        theory::claims_table(&merged)
            .unwrap()
            .equals_missing(&claims)
    );
    let cached = study.run().unwrap();
    assert!(timeless(&cached).equals_missing(&timeless(&whole)));
    assert!(study.run().unwrap().equals_missing(&cached));
    assert!(
        theory::claims_table(&cached)
            .unwrap()
            .equals_missing(&claims)
    );
    let lines = theory::summary(&whole).unwrap();
    assert_eq!(lines.len(), 11);
}

/// The study `make` builds, run as two shards into `dir` (the first
/// written as Parquet, the second as CSV) and merged.
fn two_shards_merged(
    dir: &std::path::Path,
    make: impl Fn() -> tiedae::study::Study,
) -> polars::prelude::DataFrame {
    let paths: Vec<_> = (0..2)
        .map(|i| {
            let stem = dir.join(format!("shard{i}"));
            make().shard(i, 2).unwrap().run_to_files(&stem).unwrap();
            stem.with_extension(if i == 1 { "csv" } else { "parquet" })
        })
        .collect();
    tiedae::study::merge(&paths).unwrap()
}

/// The Refinetti–Goldt study is an ordinary grid: one cell per variant and
/// data set, each with the dynamics columns; its two shards, merged, are
/// the unsharded frame (apart from the wall-clock `seconds`), so the
/// claims computed from the merged frame are the unsharded ones; a rerun
/// over the cache reads every cell back (even `seconds`), its claims
/// unchanged. Its findings state the four claims per data set.
#[test]
fn the_refinetti_goldt_study_shards_merges_and_caches_like_every_grid() {
    use tiedae::study::DYNAMICS_COLUMNS;
    use tiedae::study::builtin::{RunOptions, refinetti_goldt};
    let dir = tempfile::tempdir().unwrap();
    let opts = RunOptions {
        cache_dir: Some(dir.path().join("cache")),
        ..RunOptions::default()
    };
    let epochs = 3;
    let study = refinetti_goldt_study(epochs, &opts);
    assert_eq!(study.datasets.len(), 2);
    assert_eq!(study.cells().unwrap().len(), 16);
    let whole = refinetti_goldt_study(epochs, &RunOptions::default())
        .run()
        .unwrap();
    for (name, _) in DYNAMICS_COLUMNS {
        assert!(whole.column(name).is_ok(), "{name}");
    }
    let merged = two_shards_merged(dir.path(), || {
        refinetti_goldt_study(epochs, &RunOptions::default())
    });
    let timeless = |df: &polars::prelude::DataFrame| df.drop("seconds").unwrap();
    assert!(timeless(&merged).equals_missing(&timeless(&whole)));
    let claims = refinetti_goldt::claims_table(&whole).unwrap();
    assert_eq!(claims.height(), 8);
    assert!(
        refinetti_goldt::claims_table(&merged)
            .unwrap()
            .equals_missing(&claims)
    );
    let cached = study.run().unwrap();
    assert!(timeless(&cached).equals_missing(&timeless(&whole)));
    assert!(study.run().unwrap().equals_missing(&cached));
    let lines = refinetti_goldt::summary(&whole).unwrap();
    assert_eq!(lines.len(), 8);
    assert!(
        lines[0].contains(refinetti_goldt::SYNTHETIC),
        "{}",
        lines[0]
    );
    assert!(lines[4].contains("digits"), "{}", lines[4]);
}
