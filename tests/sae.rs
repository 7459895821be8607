//! Sparse-autoencoder practice (issue 17): TopK codes, the unit-norm
//! decoder constraint, tied initialisation of untied models, the
//! pre-encoder bias at the data's centre, dead-latent tracking, the AuxK
//! auxiliary loss and the sparse metrics; and, on synthetic data with
//! planted dictionary atoms, that TopK recovers the atoms and AuxK revives
//! dead latents.
//!
//! Parity with the peers: TopK with and without the ReLU on the kept values
//! differ exactly where a kept value is negative, the AuxK term equals
//! OpenAI's (`normalized_mse` of sparse_autoencoder's training code) on the
//! fixture `scripts/auxk_reference.py` writes, and BatchTopK learns
//! SAELens's inference threshold, so a trained model evaluates a row the
//! same alone and inside a batch.
//!
//! The training recipes of the peers: the L1 penalty weighted by decoder
//! norms, the warm-up of its coefficient and of the learning rate, the
//! decay of the learning rate, and the Matryoshka loss of nested prefixes
//! of the code, checked against NumPy transcriptions of SAELens's and
//! dictionary_learning's losses (the fixture
//! `scripts/sae_recipes_reference.py` writes) and against their schedules'
//! formulas.
//!
//! The finite-difference sweep of TopK itself is in tests/gradients.rs;
//! the AuxK term's, the weighted L1's and the Matryoshka term's are here,
//! with the same oracle (tests/fd).

// Shared with the gradient tests; this file uses only part of it.
#[allow(dead_code)]
mod fd;

use fd::{EPS, KINK_MARGIN, compare, near_kink, numeric_gradient, random_matrix};
use nalgebra::{DMatrix, DVector};
use rand::RngExt;
use rand_distr::StandardNormal;
use std::path::Path;
use tiedae::data::synthetic::random_orthonormal;
use tiedae::model::{
    Activation, Autoencoder, AutoencoderSpec, AuxK, AuxKLoss, BiasMode, Biases, Dense, Init, Layer,
    LossConfig, Matryoshka, Normalizer, OutputActivation, PreBiasInit, ResidualSpread, TiedLinear,
    Workspace, fvu, geometric_median, l0, mean,
};
use tiedae::rng::seeded;
use tiedae::train::constraint::{decoder_norms, remove_parallel_gradient};
use tiedae::train::{
    DeadLatents, EpochRecord, History, Optimizer, Progress, Schedule, TrainConfig, Trainer,
};

/// A model whose every parameter is random (biases included).
fn random_model(spec: &AutoencoderSpec, seed: u64) -> Autoencoder<f64> {
    let mut m = Autoencoder::<f64>::new(spec, seed).unwrap();
    let mut rng = seeded(seed ^ 0x5AE);
    let p: Vec<f64> = (0..m.n_params())
        .map(|_| rng.random_range(-0.7..0.7))
        .collect();
    m.set_params(&p).unwrap();
    m
}

fn quiet(epochs: usize, batch: usize, lr: f64) -> TrainConfig {
    TrainConfig::new()
        .epochs(epochs)
        .batch_size(batch)
        .optimizer(Optimizer::adam())
        .learning_rate(lr)
        .seed(3)
        .progress(Progress::Silent)
}

// ---------------------------------------------------------------- TopK

/// Every signed code row has exactly k nonzero entries, a ReLU code row
/// at most k (the same units, the negative ones clamped), and a tie at the
/// selection boundary goes to the lower unit index.
#[test]
fn top_k_codes_have_k_entries_and_ties_go_to_the_lower_index() {
    let spec = AutoencoderSpec::new(&[9, 6]).activation(Activation::TopKSigned { k: 2 });
    let m = random_model(&spec, 1);
    let x = random_matrix(20, 9, -1.0, 1.0, 2);
    let code = m.encode(&x).unwrap();
    for i in 0..20 {
        assert_eq!(code.row(i).iter().filter(|&&v| v != 0.0).count(), 2);
    }
    assert_eq!(l0(&code).unwrap(), 2.0);
    assert_eq!(m.l0(&x).unwrap(), 2.0);
    // The same weights with the ReLU on the kept values.
    let relu_spec = AutoencoderSpec::new(&[9, 6]).activation(Activation::TopK { k: 2 });
    let mut relu = Autoencoder::<f64>::new(&relu_spec, 1).unwrap();
    relu.set_params(&m.params_to_vec()).unwrap();
    let relu_code = relu.encode(&x).unwrap();
    assert_eq!(relu_code, code.map(|v: f64| v.max(0.0)));
    assert!(relu.l0(&x).unwrap() <= 2.0);

    // Units 0 and 1 have the same filter, so equal pre-activations.
    let w = DMatrix::from_row_slice(
        4,
        3,
        &[
            1.0, 0.0, 0.0, //
            1.0, 0.0, 0.0, //
            0.0, 1.0, 0.0, //
            0.0, 0.0, 1.0,
        ],
    );
    let spec = AutoencoderSpec::new(&[3, 4])
        .activation(Activation::TopK { k: 1 })
        .bias(BiasMode::None);
    let tied = TiedLinear::new(w, Biases::None).unwrap();
    let m = Autoencoder::from_layers(spec, vec![Layer::Tied(tied)]).unwrap();
    let x = DMatrix::from_row_slice(2, 3, &[1.0, 0.5, 0.2, 0.1, 0.3, 0.3]);
    let code = m.encode(&x).unwrap();
    assert_eq!(
        code.row(0).iter().copied().collect::<Vec<_>>(),
        [1.0, 0.0, 0.0, 0.0]
    );
    assert_eq!(
        code.row(1).iter().copied().collect::<Vec<_>>(),
        [0.0, 0.0, 0.3, 0.0]
    );
}

/// TopK with and without the ReLU, through a model, on hand-made
/// pre-activations: with `W = 2I` (tied, zero biases) the pre-activations
/// are `2x` and every unit decodes only its own coordinate, so the two
/// codes, and the gradients of the encoder bias, differ exactly at the
/// kept negative values: there the ReLU code is 0 and passes no gradient
/// while the signed code keeps the value and passes it. Everywhere else
/// they are equal. One row per batch, so each gradient entry is one
/// row's.
#[test]
fn relu_and_signed_top_k_differ_exactly_at_kept_negative_values_through_a_model() {
    let x = DMatrix::from_row_slice(
        4,
        4,
        &[
            0.5, -1.0, 2.0, 0.1, // keeps units 2 and 0, both positive
            -0.7, 0.3, -2.0, -0.9, // keeps 1 (positive) and 0 (negative)
            -0.2, -0.1, -0.3, -0.4, // keeps 1 and 0, both negative
            -1.0, 0.25, 0.6, -0.5, // keeps 2 and 1, both positive
        ],
    );
    let model = |act: Activation| {
        let spec = AutoencoderSpec::new(&[4, 4])
            .activation(act)
            .bias(BiasMode::Separate);
        let w = DMatrix::<f64>::identity(4, 4) * 2.0;
        let tied = TiedLinear::new(w, Biases::zeros(BiasMode::Separate, 4, 4)).unwrap();
        Autoencoder::from_layers(spec, vec![Layer::Tied(tied)]).unwrap()
    };
    let relu = model(Activation::TopK { k: 2 });
    let signed = model(Activation::TopKSigned { k: 2 });
    let (cr, cs) = (relu.encode(&x).unwrap(), signed.encode(&x).unwrap());
    let enc_bias = relu.layout().layers()[0].encoder_bias().unwrap();
    let loss = LossConfig::mse();
    let norm = Normalizer::new(1).unwrap();
    let mut clamped = 0;
    for i in 0..4 {
        let row = x.rows(i, 1).into_owned();
        let (_, gr) = relu.loss_and_grad(&row, &row, &loss, norm).unwrap();
        let (_, gs) = signed.loss_and_grad(&row, &row, &loss, norm).unwrap();
        let gr = &gr.as_slice()[enc_bias.clone()];
        let gs = &gs.as_slice()[enc_bias.clone()];
        for j in 0..4 {
            if cs[(i, j)] < 0.0 {
                assert_eq!(cr[(i, j)], 0.0, "row {i} unit {j}");
                assert_eq!(
                    gr[j], 0.0,
                    "row {i} unit {j}: a clamped unit passes no gradient"
                );
                assert!(gs[j] != 0.0, "row {i} unit {j}");
                clamped += 1;
            } else {
                assert_eq!(cr[(i, j)], cs[(i, j)], "row {i} unit {j}");
                assert_eq!(gr[j], gs[j], "row {i} unit {j}");
            }
        }
        // Both keep the same two units.
        let kept = |c: &DMatrix<f64>| (0..4).filter(|&j| c[(i, j)] != 0.0).count();
        assert_eq!(kept(&cs), 2, "row {i}");
    }
    assert_eq!(clamped, 3);
    assert_eq!(l0(&cr).unwrap(), 1.25);
    assert_eq!(l0(&cs).unwrap(), 2.0);
}

// ------------------------------------------------- unit-norm decoder

/// The flat positions of the decoder directions are the columns of the
/// d x r decoder matrix, tied (rows of W) and untied (columns of W_dec).
#[test]
fn decoder_directions_are_the_decoder_columns() {
    for tied in [true, false] {
        let spec = AutoencoderSpec::new(&[5, 4, 3]).tied(tied);
        let m = random_model(&spec, 4);
        let p = m.params_to_vec();
        let last = m.layout().layers().last().unwrap();
        let dirs = last.decoder_directions();
        let dec = m.layers()[1].decoder_weight(); // d x r = 4 x 3
        assert_eq!((dirs.count, dirs.len), (3, 4));
        // Buffers that do not fit the layout are errors, not panics.
        let mut short = vec![0.0; 3];
        assert!(remove_parallel_gradient(m.layout(), &p, &mut short).is_err());
        assert!(tiedae::train::constraint::normalize_decoder(m.layout(), &mut short).is_err());
        assert!(decoder_norms(m.layout(), &short).is_err());
        for i in 0..3 {
            for j in 0..4 {
                assert_eq!(p[dirs.at(i, j)], dec[(j, i)], "tied={tied} ({i}, {j})");
            }
        }
    }
}

/// After removing the parallel component, the gradient of each decoder
/// direction is orthogonal to it, and what was removed is parallel to it
/// (the perpendicular part is untouched).
#[test]
fn projected_gradient_is_orthogonal_to_each_direction() {
    for tied in [true, false] {
        for bias in BiasMode::ALL {
            let spec = AutoencoderSpec::new(&[6, 5])
                .activation(Activation::Relu)
                .bias(bias)
                .tied(tied);
            let m = random_model(&spec, 9);
            let x = random_matrix(7, 6, 0.0, 1.0, 10);
            let (_, g) = m
                .objective_and_grad(&x, &x, &LossConfig::mse().with_l1(0.01))
                .unwrap();
            let p = m.params_to_vec();
            let before = g.as_slice().to_vec();
            let mut after = before.clone();
            remove_parallel_gradient(m.layout(), &p, &mut after).unwrap();
            let dirs = m.layout().layers()[0].decoder_directions();
            for i in 0..dirs.count {
                let w: Vec<f64> = (0..dirs.len).map(|j| p[dirs.at(i, j)]).collect();
                let ga: Vec<f64> = (0..dirs.len).map(|j| after[dirs.at(i, j)]).collect();
                let gb: Vec<f64> = (0..dirs.len).map(|j| before[dirs.at(i, j)]).collect();
                let dot = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f64>();
                let scale = dot(&w, &w).sqrt() * dot(&gb, &gb).sqrt();
                assert!(
                    dot(&ga, &w).abs() <= 1e-13 * (1.0 + scale),
                    "tied={tied} {bias:?} unit {i}: g·w = {}",
                    dot(&ga, &w)
                );
                // before − after = c w for one c.
                let c = dot(&gb, &w) / dot(&w, &w);
                for j in 0..dirs.len {
                    assert!((gb[j] - ga[j] - c * w[j]).abs() <= 1e-13 * (1.0 + gb[j].abs()));
                }
            }
            // Entries outside the decoder directions are left alone.
            let dec: std::collections::BTreeSet<usize> = (0..dirs.count)
                .flat_map(|i| (0..dirs.len).map(move |j| dirs.at(i, j)))
                .collect();
            for k in 0..before.len() {
                if !dec.contains(&k) {
                    assert_eq!(before[k], after[k]);
                }
            }
        }
    }
}

/// With the constraint on, every decoder direction has unit norm after
/// every optimizer step: one full batch per epoch, so the run of `e`
/// epochs ends right after step `e`, and the runs of 1..=5 epochs are
/// prefixes of one another (constant learning rate, same seed).
#[test]
fn unit_norm_holds_after_every_step() {
    let x = random_matrix(40, 8, 0.0, 1.0, 21);
    for tied in [true, false] {
        for opt in [
            Optimizer::adam(),
            Optimizer::momentum(0.9),
            Optimizer::adamw(),
        ] {
            let spec = AutoencoderSpec::new(&[8, 6])
                .activation(Activation::TopK { k: 3 })
                .bias(BiasMode::PreCentering)
                .tied(tied);
            let mut last = None;
            for epochs in 1..=5 {
                let cfg = quiet(epochs, 40, 0.05)
                    .optimizer(opt)
                    .weight_decay(0.01)
                    .unit_norm_decoder(true);
                let out = Trainer::new(cfg)
                    .unwrap()
                    .fit(Autoencoder::<f64>::new(&spec, 2).unwrap(), &x)
                    .unwrap();
                let p = out.model.params_to_vec();
                for (i, n) in decoder_norms(out.model.layout(), &p)
                    .unwrap()
                    .iter()
                    .enumerate()
                {
                    assert!(
                        (n - 1.0).abs() <= 1e-12,
                        "tied={tied} {} epoch {epochs} unit {i}: norm {n}",
                        opt.name()
                    );
                }
                assert_ne!(last.as_ref(), Some(&p), "the step moved nothing");
                last = Some(p);
            }
        }
    }
    // Without the constraint the norms drift (the test has teeth).
    let spec = AutoencoderSpec::new(&[8, 6]).activation(Activation::TopK { k: 3 });
    let out = Trainer::new(quiet(5, 40, 0.05))
        .unwrap()
        .fit(Autoencoder::<f64>::new(&spec, 2).unwrap(), &x)
        .unwrap();
    let p = out.model.params_to_vec();
    assert!(
        decoder_norms(out.model.layout(), &p)
            .unwrap()
            .iter()
            .any(|n| (n - 1.0).abs() > 1e-3)
    );
}

#[test]
fn new_config_fields_are_validated() {
    let bad = [
        TrainConfig::new()
            .optimizer(Optimizer::lbfgs())
            .unit_norm_decoder(true),
        TrainConfig::new().dead_latents(DeadLatents::window(0)),
        TrainConfig::new().dead_latents(DeadLatents::window(10).with_auxk(0, 0.1)),
        TrainConfig::new().dead_latents(DeadLatents::window(10).with_auxk(2, f64::NAN)),
        TrainConfig::new().dead_latents(DeadLatents::window(10).with_auxk(2, -1.0)),
        TrainConfig::new()
            .optimizer(Optimizer::lbfgs())
            .dead_latents(DeadLatents::window(10)),
    ];
    for cfg in bad {
        assert!(cfg.validate().is_err(), "{cfg:?}");
    }
    assert!(
        TrainConfig::new()
            .dead_latents(DeadLatents::window(10).with_auxk(2, 1.0 / 32.0))
            .unit_norm_decoder(true)
            .validate()
            .is_ok()
    );
    // Off by default and then absent from files, so old configs load and
    // hash as before.
    let json = serde_json::to_string(&TrainConfig::new()).unwrap();
    assert!(!json.contains("unit_norm_decoder") && !json.contains("dead_latents"));
    let back: TrainConfig = serde_json::from_str(&json).unwrap();
    assert_eq!(back, TrainConfig::new());
    let on = TrainConfig::new()
        .unit_norm_decoder(true)
        .dead_latents(DeadLatents::window(7).with_auxk(3, 0.5));
    let back: TrainConfig = serde_json::from_str(&serde_json::to_string(&on).unwrap()).unwrap();
    assert_eq!(back, on);
    assert_ne!(on.result_hash(), TrainConfig::new().result_hash());
}

// ------------------------------------------------------ tied init

/// An untied model with tied initialisation is, at step 0, the tied model
/// of the same seed: decoder = encoderᵀ, and the same reconstructions and
/// loss bit for bit, in f64 and f32, for every bias mode.
///
/// The bitwise claim rests on the product kernel computing each output
/// entry in the same order whatever the strides of its second operand
/// (the tied decoder reads `W`, the untied one a transposed view of
/// `W_dec = Wᵀ` holding the same values).
#[test]
fn tied_init_untied_model_equals_tied_model_at_step_zero() {
    fn check<T: tiedae::real::Real + std::fmt::Debug>(bias: BiasMode, act: Activation) {
        let tied_spec = AutoencoderSpec::new(&[7, 5, 3]).activation(act).bias(bias);
        let untied_spec = tied_spec.clone().tied(false).init(Init::TiedGlorotUniform);
        let tied = Autoencoder::<T>::new(&tied_spec, 11).unwrap();
        let untied = Autoencoder::<T>::new(&untied_spec, 11).unwrap();
        for l in 0..2 {
            let enc = tied.layers()[l].encoder_weight();
            assert_eq!(untied.layers()[l].encoder_weight(), enc);
            assert_eq!(untied.layers()[l].decoder_weight(), enc.transpose());
        }
        let mut rng = seeded(12);
        let x = DMatrix::<T>::from_fn(9, 7, |_, _| T::of(rng.random_range(-1.0..1.0)));
        assert_eq!(
            tied.reconstruct(&x).unwrap(),
            untied.reconstruct(&x).unwrap()
        );
        let loss = LossConfig::mse().with_l1(0.01);
        let norm = Normalizer::new(9).unwrap();
        assert_eq!(
            tied.loss_terms(&x, &x, &loss, norm).unwrap(),
            untied.loss_terms(&x, &x, &loss, norm).unwrap(),
            "{bias:?} {act:?}"
        );
        let c = untied.decoder_encoder_cosines().unwrap();
        assert!(c.iter().all(|v| (v - 1.0).abs() <= 1e-6), "{c:?}");
        assert!(tied.decoder_encoder_cosines().is_none());
    }
    for bias in BiasMode::ALL {
        for act in [
            Activation::Identity,
            Activation::Relu,
            Activation::TopK { k: 2 },
        ] {
            check::<f64>(bias, act);
            check::<f32>(bias, act);
        }
    }
    // The option serializes under its own name and is an ordinary untied
    // model afterwards (its decoder trains freely).
    let s = serde_json::to_string(&Init::TiedGlorotUniform).unwrap();
    assert_eq!(s, r#"{"kind":"tied_glorot_uniform"}"#);
    assert_eq!(
        serde_json::from_str::<Init>(&s).unwrap(),
        Init::TiedGlorotUniform
    );
    assert!(serde_json::from_str::<Init>(r#"{"kind":"tied_glorot_uniform","std":1}"#).is_err());
    let spec = AutoencoderSpec::new(&[6, 3])
        .tied(false)
        .init(Init::TiedGlorotUniform);
    let x = random_matrix(30, 6, 0.0, 1.0, 5);
    let out = Trainer::new(quiet(3, 10, 0.02))
        .unwrap()
        .fit(Autoencoder::<f64>::new(&spec, 1).unwrap(), &x)
        .unwrap();
    let l = &out.model.layers()[0];
    assert_ne!(l.decoder_weight(), l.encoder_weight().transpose());
    let mean_cos = out.model.mean_decoder_encoder_cosine().unwrap();
    assert!(mean_cos < 1.0 && mean_cos > 0.0, "{mean_cos}");
}

// ------------------------------------------------------ pre-bias init

#[test]
fn mean_init_sets_b_pre_to_the_column_means() {
    let spec = AutoencoderSpec::new(&[4, 2]).bias(BiasMode::PreCentering);
    let mut m = Autoencoder::<f64>::new(&spec, 1).unwrap();
    let x = DMatrix::from_row_slice(
        3,
        4,
        &[
            1.0, 2.0, 3.0, 4.0, //
            3.0, 2.0, 1.0, 0.0, //
            2.0, 5.0, 2.0, -1.0,
        ],
    );
    m.init_pre_bias(&x, PreBiasInit::Mean).unwrap();
    let pre = m.layers()[0].biases().pre().unwrap();
    assert_eq!(pre.as_slice(), &[2.0, 3.0, 2.0, 1.0]);
    assert_eq!(
        mean(&x).unwrap(),
        DVector::from_vec(vec![2.0, 3.0, 2.0, 1.0])
    );
    // Other bias modes, wrong widths and non-finite data are errors.
    let mut sep = Autoencoder::<f64>::new(&AutoencoderSpec::new(&[4, 2]), 1).unwrap();
    assert!(sep.init_pre_bias(&x, PreBiasInit::Mean).is_err());
    assert!(
        m.init_pre_bias(&DMatrix::zeros(3, 5), PreBiasInit::Mean)
            .is_err()
    );
    let mut nan = x.clone();
    nan[(1, 1)] = f64::NAN;
    assert!(
        m.init_pre_bias(&nan, PreBiasInit::geometric_median())
            .is_err()
    );
    let bad = PreBiasInit::GeometricMedian {
        max_iters: 0,
        tol: 1e-9,
    };
    assert!(m.init_pre_bias(&x, bad).is_err());
    assert!(geometric_median(&DMatrix::<f64>::zeros(0, 3), 10, 1e-9).is_err());
}

/// Closed forms: the median of collinear points is the middle one (here
/// far from the mean, and a data point, where the Vardi–Zhang step
/// matters); a centrally symmetric set's median is its centre.
#[test]
fn geometric_median_matches_closed_forms() {
    let x = DMatrix::from_row_slice(3, 2, &[0.0, 0.0, 1.0, 2.0, 10.0, 20.0]);
    let y = geometric_median(&x, 200, 1e-14).unwrap();
    assert!(
        (y[0] - 1.0).abs() < 1e-9 && (y[1] - 2.0).abs() < 1e-9,
        "{y}"
    );
    let c = [0.5, -1.5, 2.0];
    let vs = [[1.0, 0.2, 0.0], [0.0, 3.0, -1.0], [0.5, 0.5, 4.0]];
    let mut rows = vec![];
    for v in vs {
        for s in [1.0, -1.0] {
            rows.extend((0..3).map(|j| c[j] + s * v[j]));
        }
    }
    let x = DMatrix::from_row_slice(6, 3, &rows);
    let y = geometric_median(&x, 200, 1e-14).unwrap();
    for j in 0..3 {
        assert!((y[j] - c[j]).abs() < 1e-12, "{y}");
    }
    // Through the model, in f32.
    let spec = AutoencoderSpec::new(&[2, 1]).bias(BiasMode::PreCentering);
    let mut m = Autoencoder::<f32>::new(&spec, 0).unwrap();
    let x32 = DMatrix::from_row_slice(3, 2, &[0.0f32, 0.0, 1.0, 2.0, 10.0, 20.0]);
    m.init_pre_bias(&x32, PreBiasInit::geometric_median())
        .unwrap();
    let pre = m.layers()[0].biases().pre().unwrap();
    assert!((pre[0] - 1.0).abs() < 1e-5 && (pre[1] - 2.0).abs() < 1e-5);
}

/// At the result the gradient of the sum of distances vanishes (the
/// Weiszfeld fixed point): Σ (x_i − y) / |x_i − y| = 0; and an outlier
/// moves the median far less than the mean.
#[test]
fn geometric_median_is_a_weiszfeld_fixed_point_and_robust() {
    let mut x = random_matrix(60, 4, -1.0, 1.0, 33);
    let y = geometric_median(&x, 500, 1e-15).unwrap();
    let mut g = DVector::<f64>::zeros(4);
    for i in 0..60 {
        let diff = DVector::from_fn(4, |j, _| x[(i, j)] - y[j]);
        g += &diff / diff.norm();
    }
    assert!(g.norm() < 1e-8, "{}", g.norm());
    let (m0, y0) = (mean(&x).unwrap(), y.clone());
    for j in 0..4 {
        x[(0, j)] = 1e4;
    }
    let m1 = mean(&x).unwrap();
    let y1 = geometric_median(&x, 500, 1e-15).unwrap();
    assert!((&m1 - &m0).norm() > 100.0);
    assert!((&y1 - &y0).norm() < 0.2, "{}", (&y1 - &y0).norm());
}

// ------------------------------------------------------ AuxK

/// Whether a row's `k`-th and `(k+1)`-th largest pre-activations among the
/// dead units lie within the margin (where the AuxK selection flips).
fn aux_near_tie(z: &DMatrix<f64>, dead: &[bool], k: usize) -> bool {
    (0..z.nrows()).any(|i| {
        let mut v: Vec<f64> = (0..z.ncols())
            .filter(|&j| dead[j])
            .map(|j| z[(i, j)])
            .collect();
        v.sort_by(|a, b| b.total_cmp(a));
        v.len() > k && (v[k - 1] - v[k]).abs() < KINK_MARGIN
    })
}

/// The AuxK term's gradient (residual and its spread held constant)
/// against central differences, every bias mode, tied and untied, with the
/// ReLU TopK (whose auxiliary code goes through the ReLU too) and the
/// signed one; and the training gradient is the plain one plus exactly
/// this term's.
#[test]
fn auxk_term_matches_finite_differences() {
    let dead = [false, true, false, true, true, false, true, true];
    let aux = AuxKLoss::new(
        AuxK {
            k_aux: 2,
            alpha: 0.3,
        },
        &dead,
    );
    let loss = LossConfig::mse();
    let mut checked = 0;
    for act in [Activation::TopK { k: 3 }, Activation::TopKSigned { k: 3 }] {
        for tied in [true, false] {
            for bias in BiasMode::ALL {
                let spec = AutoencoderSpec::new(&[6, 8])
                    .activation(act)
                    .bias(bias)
                    .tied(tied);
                let mut found = None;
                for attempt in 0..50u64 {
                    let m = random_model(&spec, 100 + attempt);
                    let x = random_matrix(5, 6, 0.0, 1.0, 200 + attempt);
                    let mut ws = tiedae::model::Workspace::new();
                    m.forward_with(&x, &mut ws).unwrap();
                    let z = &ws.encoder_pre_activations()[0];
                    // With the ReLU the auxiliary code has a kink at 0, and
                    // its gradient needs a positive dead value.
                    let mut dead_values = vec![];
                    for i in 0..z.nrows() {
                        for j in (0..z.ncols()).filter(|&j| dead[j]) {
                            dead_values.push(z[(i, j)]);
                        }
                    }
                    let relu_ok = !act.relu_on_kept()
                        || (dead_values.iter().all(|v| v.abs() >= KINK_MARGIN)
                            && dead_values.iter().any(|&v| v > 0.05));
                    if relu_ok && !aux_near_tie(z, &dead, 2) && !act.near_tie(z, KINK_MARGIN) {
                        found = Some((m, x));
                        break;
                    }
                }
                let (m, x) = found.expect("a seed away from ties");
                let norm = Normalizer::new(5).unwrap();
                let residual = &x - m.reconstruct(&x).unwrap();
                let (term, g) = m.auxk_term_and_grad(&x, &residual, aux).unwrap();
                assert!(term > 0.0);
                assert_eq!(term, m.auxk_term(&x, &residual, aux).unwrap());
                let base = m.params_to_vec();
                let mut probe = m.clone();
                let mut p = base.clone();
                let numeric: Vec<f64> = (0..base.len())
                    .map(|k| {
                        p[k] = base[k] + EPS;
                        probe.set_params(&p).unwrap();
                        let up = probe.auxk_term(&x, &residual, aux).unwrap();
                        p[k] = base[k] - EPS;
                        probe.set_params(&p).unwrap();
                        let down = probe.auxk_term(&x, &residual, aux).unwrap();
                        p[k] = base[k];
                        (up - down) / (2.0 * EPS)
                    })
                    .collect();
                compare(&m, g.as_slice(), &numeric)
                    .unwrap_or_else(|e| panic!("{act:?} tied={tied} {bias:?}: {e}"));
                assert!(g.norm() > 1e-6, "the AuxK gradient is not trivially zero");

                // Training objective = plain + AuxK, gradient likewise.
                let (plain_t, plain_g) = m.loss_and_grad(&x, &x, &loss, norm).unwrap();
                let (t, full_g) = m.loss_and_grad_aux(&x, &x, &loss, Some(aux), norm).unwrap();
                assert_eq!(t.auxk, term);
                assert!((t.total - (plain_t.total + term)).abs() <= 1e-14 * (1.0 + t.total));
                for ((a, b), c) in full_g
                    .as_slice()
                    .iter()
                    .zip(plain_g.as_slice())
                    .zip(g.as_slice())
                {
                    assert!((a - (b + c)).abs() <= 1e-12 * (1.0 + a.abs()));
                }
                if tied {
                    let parts = full_g.tied_parts(0).unwrap();
                    let w = m.layout().layers()[0].weight.clone();
                    for (k, gw) in full_g.as_slice()[w].iter().enumerate() {
                        let sum = parts.encoder[k] + parts.decoder[k];
                        assert!((gw - sum).abs() <= 1e-12 * (1.0 + sum.abs()));
                    }
                }
                checked += 1;
            }
        }
    }
    assert_eq!(checked, 16);

    // No dead latent: no term, the plain gradient bit for bit.
    let spec = AutoencoderSpec::new(&[6, 8]).activation(Activation::TopK { k: 3 });
    let m = random_model(&spec, 7);
    let x = random_matrix(5, 6, 0.0, 1.0, 8);
    let norm = Normalizer::new(5).unwrap();
    let alive = [false; 8];
    let none = AuxKLoss {
        dead: &alive,
        ..aux
    };
    let (t, g) = m
        .loss_and_grad_aux(&x, &x, &loss, Some(none), norm)
        .unwrap();
    let (t0, g0) = m.loss_and_grad(&x, &x, &loss, norm).unwrap();
    assert_eq!(t.auxk, 0.0);
    assert_eq!(t.total, t0.total);
    assert_eq!(g.as_slice(), g0.as_slice());
}

#[test]
fn auxk_rejects_models_and_masks_it_cannot_use() {
    let x = random_matrix(5, 6, 0.0, 1.0, 1);
    let norm = Normalizer::new(5).unwrap();
    let dead = [true; 4];
    let aux = AuxKLoss::new(
        AuxK {
            k_aux: 2,
            alpha: 0.1,
        },
        &dead,
    );
    let loss = LossConfig::mse();
    // A given residual spread must be finite and >= 0.
    let ok = random_model(&AutoencoderSpec::new(&[6, 4]), 1);
    assert!(ok.loss_and_grad_aux(&x, &x, &loss, Some(aux), norm).is_ok());
    for bad in [f64::NAN, -1.0, f64::INFINITY] {
        let given = AuxKLoss {
            residual_spread: Some(bad),
            ..aux
        };
        assert!(
            ok.loss_and_grad_aux(&x, &x, &loss, Some(given), norm)
                .is_err(),
            "{bad}"
        );
    }
    let deep = random_model(&AutoencoderSpec::new(&[6, 5, 4]), 1);
    assert!(
        deep.loss_and_grad_aux(&x, &x, &loss, Some(aux), norm)
            .is_err()
    );
    let sig = random_model(
        &AutoencoderSpec::new(&[6, 4]).output(tiedae::model::OutputActivation::Sigmoid),
        1,
    );
    assert!(
        sig.loss_and_grad_aux(&x, &x, &loss, Some(aux), norm)
            .is_err()
    );
    let wrong = random_model(&AutoencoderSpec::new(&[6, 5]), 1);
    assert!(
        wrong
            .loss_and_grad_aux(&x, &x, &loss, Some(aux), norm)
            .is_err()
    );
    // The trainer refuses before any work.
    let cfg = quiet(1, 5, 0.01).dead_latents(DeadLatents::window(5).with_auxk(2, 0.1));
    let model = Autoencoder::<f64>::new(&AutoencoderSpec::new(&[6, 5, 4]), 1).unwrap();
    assert!(Trainer::new(cfg).unwrap().fit(model, &x).is_err());
}

/// The AuxK denominator `Σ_i ‖e_i − ē‖²` by hand, merged from parts as the
/// engine merges shards; two shards given the batch's spread add up to
/// the whole batch's term and gradient, while a shard normalised by its
/// own spread would not; a batch of one row has no spread and no term.
#[test]
fn auxk_shards_add_up_with_the_batch_spread() {
    let dead = [false, true, false, true, true, false, true, true];
    let spec = AutoencoderSpec::new(&[6, 8])
        .activation(Activation::TopK { k: 3 })
        .bias(BiasMode::PreCentering)
        .tied(false);
    let m = random_model(&spec, 31);
    let x = random_matrix(9, 6, 0.0, 1.0, 32);
    let loss = LossConfig::mse();
    let norm = Normalizer::new(9).unwrap();
    let aux = AuxKLoss::new(
        AuxK {
            k_aux: 3,
            alpha: 0.5,
        },
        &dead,
    );
    let (whole, whole_g) = m.loss_and_grad_aux(&x, &x, &loss, Some(aux), norm).unwrap();
    assert!(whole.auxk > 0.0);
    let residual = &x - m.reconstruct(&x).unwrap();
    let mean: Vec<f64> = (0..6).map(|j| residual.column(j).sum() / 9.0).collect();
    let mut by_hand = 0.0;
    for i in 0..9 {
        for j in 0..6 {
            by_hand += (residual[(i, j)] - mean[j]).powi(2);
        }
    }
    let spread = ResidualSpread::of(&residual);
    assert_eq!(spread.rows(), 9);
    assert!((spread.sum_sq() - by_hand).abs() <= 1e-12 * by_hand);
    let mut merged = ResidualSpread::of(&residual.rows(0, 4).into_owned());
    merged.merge(&ResidualSpread::of(&residual.rows(4, 5).into_owned()));
    merged.merge(&ResidualSpread::default());
    assert_eq!(merged.rows(), 9);
    assert!((merged.sum_sq() - by_hand).abs() <= 1e-12 * by_hand);

    let given = AuxKLoss {
        residual_spread: Some(spread.sum_sq()),
        ..aux
    };
    let mut total = 0.0;
    let mut sum_g = vec![0.0; m.n_params()];
    for (start, len) in [(0, 4), (4, 5)] {
        let xs = x.rows(start, len).into_owned();
        let (t, g) = m
            .loss_and_grad_aux(&xs, &xs, &loss, Some(given), norm)
            .unwrap();
        total += t.auxk;
        for (s, v) in sum_g.iter_mut().zip(g.as_slice()) {
            *s += v;
        }
    }
    assert!((total - whole.auxk).abs() <= 1e-12 * whole.auxk);
    for (a, b) in sum_g.iter().zip(whole_g.as_slice()) {
        assert!((a - b).abs() <= 1e-12 * (1.0 + b.abs()), "{a} vs {b}");
    }
    let xs = x.rows(0, 4).into_owned();
    let (alone, _) = m
        .loss_and_grad_aux(&xs, &xs, &loss, Some(aux), norm)
        .unwrap();
    let (with_batch, _) = m
        .loss_and_grad_aux(&xs, &xs, &loss, Some(given), norm)
        .unwrap();
    assert!((alone.auxk - with_batch.auxk).abs() > 1e-6 * with_batch.auxk);

    let one = x.rows(0, 1).into_owned();
    let (t, _) = m
        .loss_and_grad_aux(&one, &one, &loss, Some(aux), Normalizer::new(1).unwrap())
        .unwrap();
    assert_eq!(t.auxk, 0.0);
}

/// A JSON array of rows as a matrix.
fn json_matrix(v: &serde_json::Value) -> DMatrix<f64> {
    let rows: Vec<Vec<f64>> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            r.as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_f64().unwrap())
                .collect()
        })
        .collect();
    let cols = rows[0].len();
    DMatrix::from_row_iterator(rows.len(), cols, rows.into_iter().flatten())
}

fn json_vector(v: &serde_json::Value) -> Vec<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}

/// The AuxK term equals OpenAI's, `auxk_coef * normalized_mse(ê, e)` of
/// openai/sparse_autoencoder's training code, on the fixture
/// `scripts/auxk_reference.py` computes with NumPy (ReLU TopK, an untied
/// and a tied model, some kept values negative, some rows with fewer
/// positive dead latents than k_aux), to 1e-6 relative; so do the
/// reconstruction and the term's gradient with respect to the weights and
/// the latent bias. OpenAI's model `z = (x − b_pre) W_encᵀ + b_lat`,
/// `x̂ = h W_decᵀ + b_pre` is tiedae's separate-bias pair with
/// `b_enc = b_lat − W_enc b_pre` and `b_dec = b_pre`; its encoder
/// gradient is tiedae's minus `g_{b_enc} b_preᵀ`. The fixture also holds
/// the per-sample normalisation's value, which must differ.
#[test]
fn auxk_matches_the_openai_reference() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/auxk_reference.json"
    );
    let text = std::fs::read_to_string(path).unwrap();
    let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
    let close = |a: f64, b: f64| (a - b).abs() <= 1e-6 * b.abs() + 1e-12;
    let cases = doc["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 2);
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let tied = case["tied"].as_bool().unwrap();
        let size = |k: &str| case[k].as_u64().unwrap() as usize;
        let (n, d, r, k, k_aux) = (size("n"), size("d"), size("r"), size("k"), size("k_aux"));
        let x = json_matrix(&case["x"]);
        let w_enc = json_matrix(&case["encoder_weight"]);
        let w_dec = json_matrix(&case["decoder_weight"]);
        let pre = json_vector(&case["pre_bias"]);
        let lat = json_vector(&case["latent_bias"]);
        let dead: Vec<bool> = case["dead"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_bool().unwrap())
            .collect();
        assert_eq!(
            (x.shape(), w_enc.shape(), w_dec.shape()),
            ((n, d), (r, d), (d, r))
        );
        let spec = AutoencoderSpec::new(&[d, r])
            .activation(Activation::TopK { k })
            .bias(BiasMode::Separate)
            .tied(tied);
        let mut m = Autoencoder::<f64>::new(&spec, 0).unwrap();
        let mut p: Vec<f64> = Vec::with_capacity(m.n_params());
        for i in 0..r {
            p.extend(w_enc.row(i).iter());
        }
        if tied {
            assert_eq!(w_dec, w_enc.transpose(), "{name}");
        } else {
            for i in 0..d {
                p.extend(w_dec.row(i).iter());
            }
        }
        let b_enc: Vec<f64> = (0..r)
            .map(|j| lat[j] - (0..d).map(|l| w_enc[(j, l)] * pre[l]).sum::<f64>())
            .collect();
        p.extend(&b_enc);
        p.extend(&pre);
        assert_eq!(p.len(), m.n_params(), "{name}");
        m.set_params(&p).unwrap();

        let want_recons = json_matrix(&case["recons"]);
        let recons = m.reconstruct(&x).unwrap();
        for (a, b) in recons.iter().zip(want_recons.iter()) {
            assert!((a - b).abs() <= 1e-9, "{name}: reconstruction {a} vs {b}");
        }

        let aux = AuxKLoss::new(
            AuxK {
                k_aux,
                alpha: case["auxk_coef"].as_f64().unwrap(),
            },
            &dead,
        );
        let want = case["auxk_loss"].as_f64().unwrap();
        let norm = Normalizer::new(n).unwrap();
        let (t, _) = m
            .loss_and_grad_aux(&x, &x, &LossConfig::mse(), Some(aux), norm)
            .unwrap();
        assert!(
            close(t.auxk, want),
            "{name}: AuxK {} vs OpenAI's {want}",
            t.auxk
        );
        let per_sample = case["per_sample_normalised"].as_f64().unwrap();
        assert!((t.auxk - per_sample).abs() > 1e-3 * want, "{name}");

        // The gradient of the term alone, residual held constant.
        let residual = &x - &recons;
        let (term, g) = m.auxk_term_and_grad(&x, &residual, aux).unwrap();
        assert!(close(term, want), "{name}: {term} vs {want}");
        let s = &m.layout().layers()[0];
        let gs = g.as_slice();
        let g_benc = &gs[s.encoder_bias().unwrap()];
        for (j, &want) in json_vector(&case["grad_latent_bias"]).iter().enumerate() {
            assert!(
                close(g_benc[j], want),
                "{name}: latent bias {j}: {} vs {want}",
                g_benc[j]
            );
        }
        // OpenAI's encoder (tied: shared) weight gradient.
        let key = if tied {
            "grad_weight"
        } else {
            "grad_encoder_weight"
        };
        let want_w = json_matrix(&case[key]);
        for i in 0..r {
            for l in 0..d {
                let ours = gs[s.weight.start + i * d + l] - g_benc[i] * pre[l];
                let want = want_w[(i, l)];
                assert!(
                    close(ours, want),
                    "{name}: {key} ({i}, {l}): {ours} vs {want}"
                );
            }
        }
        if !tied {
            let dec = s.decoder_weight.clone().unwrap();
            let want_dec = json_matrix(&case["grad_decoder_weight"]);
            for i in 0..d {
                for j in 0..r {
                    let ours = gs[dec.start + i * r + j];
                    let want = want_dec[(i, j)];
                    assert!(
                        close(ours, want),
                        "{name}: decoder ({i}, {j}): {ours} vs {want}"
                    );
                }
            }
        }
    }
}

// ------------------------------------------------------ dead latents

/// A latent that can never fire (its filter is strongly negative on
/// positive data, and the signed TopK keeps the other three, whose values
/// are then nonzero whatever their sign) is counted dead from the first
/// epoch on, and nothing else is: the fraction is exactly 1/4. The record
/// survives a round trip, and records without the field still load.
#[test]
fn dead_fraction_is_recorded_per_epoch() {
    let spec = AutoencoderSpec::new(&[5, 4])
        .activation(Activation::TopKSigned { k: 3 })
        .bias(BiasMode::None);
    let mut m = Autoencoder::<f64>::new(&spec, 4).unwrap();
    let mut p = m.params_to_vec();
    for j in 0..5 {
        p[3 * 5 + j] = -5.0;
    }
    m.set_params(&p).unwrap();
    let x = random_matrix(256, 5, 0.1, 1.0, 6);
    let cfg = quiet(4, 32, 1e-3).dead_latents(DeadLatents::window(64));
    let out = Trainer::new(cfg).unwrap().fit(m, &x).unwrap();
    assert_eq!(out.history.len(), 4);
    for r in &out.history.epochs {
        assert_eq!(r.dead_fraction, Some(0.25), "epoch {}", r.epoch);
    }
    let df = out.history.to_dataframe().unwrap();
    assert_eq!(df.column("dead_fraction").unwrap().null_count(), 0);
    let json = serde_json::to_string(&out.history).unwrap();
    let back: History = serde_json::from_str(&json).unwrap();
    let fr = |h: &History| h.epochs.iter().map(|r| r.dead_fraction).collect::<Vec<_>>();
    assert_eq!(fr(&back), fr(&out.history));
    // An older record (no dead_fraction, no auxk) loads with None / 0.
    let mut old: EpochRecord = out.history.epochs[0].clone();
    old.dead_fraction = None;
    let s = serde_json::to_string(&old).unwrap();
    assert!(!s.contains("dead_fraction") && !s.contains("auxk"));
    let back: EpochRecord = serde_json::from_str(&s).unwrap();
    assert_eq!(back.dead_fraction, None);
    assert_eq!(back.train.auxk, 0.0);
    // Untracked runs have no column.
    let plain = Trainer::new(quiet(1, 32, 1e-3))
        .unwrap()
        .fit(Autoencoder::<f64>::new(&spec, 4).unwrap(), &x)
        .unwrap();
    assert!(plain.history.epochs[0].dead_fraction.is_none());
    assert!(
        plain
            .history
            .to_dataframe()
            .unwrap()
            .column("dead_fraction")
            .is_err()
    );
}

/// Dead-latent tracking and AuxK keep training bit-for-bit deterministic
/// across thread counts (batches of several shards).
#[test]
fn dead_latents_and_auxk_are_thread_count_independent() {
    let spec = AutoencoderSpec::new(&[10, 12])
        .activation(Activation::TopK { k: 2 })
        .bias(BiasMode::PreCentering);
    let x = random_matrix(300, 10, 0.0, 1.0, 40);
    let cfg = quiet(3, 100, 5e-3)
        .shard_size(16)
        .unit_norm_decoder(true)
        .dead_latents(DeadLatents::window(50).with_auxk(3, 1.0 / 32.0));
    let run = |threads: usize| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap()
            .install(|| {
                Trainer::new(cfg.clone())
                    .unwrap()
                    .fit(
                        Autoencoder::<f32>::new(&spec, 8).unwrap(),
                        &x.map(|v| v as f32),
                    )
                    .unwrap()
            })
    };
    let (a, b) = (run(1), run(2));
    assert_eq!(a.model.params_to_vec(), b.model.params_to_vec());
    let fr = |h: &History| h.epochs.iter().map(|r| r.dead_fraction).collect::<Vec<_>>();
    assert_eq!(fr(&a.history), fr(&b.history));
    assert_eq!(a.history.train_loss(), b.history.train_loss());
}

// ------------------------------------------------------ metrics

#[test]
fn fvu_is_mse_over_total_variance() {
    let x = random_matrix(12, 4, -1.0, 2.0, 3);
    assert_eq!(fvu(&x, &x).unwrap(), 0.0);
    let m = mean(&x).unwrap();
    let at_mean = DMatrix::from_fn(12, 4, |_, j| m[j]);
    assert!((fvu(&x, &at_mean).unwrap() - 1.0).abs() < 1e-12);
    // MSE / variance, by hand.
    let xh = x.map(|v| 0.9 * v);
    let mse: f64 = (&x - &xh).iter().map(|v| v * v).sum::<f64>() / 48.0;
    let var: f64 = (&x - &at_mean).iter().map(|v| v * v).sum::<f64>() / 48.0;
    assert!((fvu(&x, &xh).unwrap() - mse / var).abs() < 1e-12);
    assert!(fvu(&DMatrix::from_element(3, 2, 1.0), &DMatrix::zeros(3, 2)).is_err());
    assert!(fvu(&x, &DMatrix::zeros(12, 3)).is_err());
    assert!(l0(&DMatrix::<f64>::zeros(0, 3)).is_err());
    let model = random_model(&AutoencoderSpec::new(&[4, 2]), 1);
    let want = fvu(&x, &model.reconstruct(&x).unwrap()).unwrap();
    assert_eq!(model.fvu(&x).unwrap(), want);
}

/// Shrinkage and the ℓ2 ratio of `x̂ = c x` are `c` and `|c|`; a row of
/// `x` below SAELens's norm guard divides by 1; PCA reconstructing its own
/// fitting rows is unbiased (shrinkage 1: the residual `(I − P)(x − μ)` is
/// orthogonal to `x̂ − μ` and sums to 0 over the rows). A code with a
/// planted firing pattern has the planted densities (negative values fire
/// too), one dead latent, four dense ones (4 of 40 rows is exactly 10%: not
/// dense), densities summing to its L0, and every firing latent in the
/// histogram bin of its density, the last bin closed at 1.
#[test]
fn sae_diagnostics_follow_from_theory() {
    use tiedae::linalg::Pca;
    use tiedae::study::metrics::{
        DENSITY_BINS_PER_DECADE, L2_RATIO_MIN_NORM, dead_count, dense_count, density_bin_edges,
        density_histogram, firing_density, l2_ratio, shrinkage,
    };
    let x = random_matrix(30, 5, -1.0, 2.0, 11);
    for c in [1.0, 0.7, -1.5, 3.0] {
        let xh = x.map(|v| c * v);
        let s = shrinkage(&x, &xh).unwrap();
        assert!((s - c).abs() <= 1e-12 * c.abs(), "c = {c}: shrinkage {s}");
        let r = l2_ratio(&x, &xh).unwrap();
        assert!(
            (r - c.abs()).abs() <= 1e-12 * c.abs(),
            "c = {c}: l2 ratio {r}"
        );
    }
    // Row 0 scaled below the guard: it counts ‖x̂_0‖ / 1, not 2.
    let mut small = x.clone();
    let f = 0.5 * L2_RATIO_MIN_NORM / small.row(0).norm();
    for v in small.row_mut(0).iter_mut() {
        *v *= f;
    }
    let xh = small.map(|v| 2.0 * v);
    let rest: f64 = (1..30)
        .map(|i| xh.row(i).norm() / small.row(i).norm())
        .sum();
    let want = (rest + xh.row(0).norm()) / 30.0;
    let got = l2_ratio(&small, &xh).unwrap();
    assert!((got - want).abs() <= 1e-12, "{got} vs {want}");
    assert!((got - 2.0).abs() > 0.05, "the guard changed nothing: {got}");
    assert!(shrinkage(&x, &DMatrix::zeros(30, 4)).is_err());
    assert!(l2_ratio(&DMatrix::zeros(0, 5), &DMatrix::zeros(0, 5)).is_err());
    assert!(
        shrinkage(&x, &DMatrix::zeros(30, 5)).is_err(),
        "E⟨x, 0⟩ = 0: no ratio"
    );

    let data = random_matrix(50, 6, -1.0, 2.0, 12);
    let pca = Pca::count(3).fit(&data).unwrap();
    let s = shrinkage(&data, &pca.reconstruct(&data).unwrap()).unwrap();
    assert!((s - 1.0).abs() <= 1e-10, "PCA's shrinkage {s}");

    // Column j fires on the first fires[j] of 40 rows; column 6 negatively.
    let fires = [0usize, 1, 3, 4, 5, 10, 20, 40];
    let code = DMatrix::from_fn(40, fires.len(), |i, j| {
        if i >= fires[j] {
            0.0
        } else if j == 6 {
            -1.0 - i as f64
        } else {
            0.5 + i as f64
        }
    });
    let density = firing_density(&code).unwrap();
    let want: Vec<f64> = fires.iter().map(|&f| f as f64 / 40.0).collect();
    assert_eq!(density, want);
    assert_eq!(dead_count(&density), 1);
    assert_eq!(dense_count(&density), 4);
    assert_eq!(dense_count(&[0.1, 0.1 + 1e-12, 0.0999]), 1);
    assert!((density.iter().sum::<f64>() - l0(&code).unwrap()).abs() <= 1e-12);
    assert!(firing_density(&DMatrix::zeros(0, 3)).is_err());

    // 1/40 = 10^-1.60: the first edge is 10^-1.75, then quarter decades to 1.
    let edges = density_bin_edges(40);
    assert_eq!(edges.len(), 8, "{edges:?}");
    assert!(edges[0] <= 1.0 / 40.0 && edges[1] > 1.0 / 40.0, "{edges:?}");
    assert_eq!(edges.last().copied(), Some(1.0));
    for w in edges.windows(2) {
        let step = (w[1] / w[0]).log10() * DENSITY_BINS_PER_DECADE as f64;
        assert!((step - 1.0).abs() <= 1e-12, "{edges:?}");
    }
    assert_eq!(density_bin_edges(1).len(), DENSITY_BINS_PER_DECADE + 1);
    let counts = density_histogram(&density, &edges);
    assert_eq!(counts.len(), 7);
    assert_eq!(
        counts.iter().sum::<usize>(),
        7,
        "every firing latent, no dead one"
    );
    // 1/40 | none | 3/40, 4/40 (on the 10^-1 edge) and 5/40 | 10/40 | 20/40 | 40/40
    assert_eq!((counts[0], counts[1], counts[2] + counts[3]), (1, 0, 3));
    assert_eq!(counts[4..].to_vec(), vec![1, 1, 1]);
    assert!(density_histogram(&[0.5], &[1.0]).is_empty());
}

/// The diagnostics equal the peers' on the fixture
/// `scripts/sae_diagnostics_reference.py` computes with NumPy from
/// SAELens's and dictionary_learning's formulas (a nonnegative and a signed
/// code with dead, always-firing and exactly-10% latents; inputs with a row
/// below the norm guard and a zero row), to 1e-12: densities, dead and dense
/// counts, the bin edges and histogram, shrinkage (a ratio of batch means,
/// which must differ from the mean of per-row ratios) and the ℓ2 ratio
/// (which must differ from dictionary_learning's unguarded one where a row
/// is below the guard). The densities sum to the code's L0, which is
/// dictionary_learning's `l0`, and `1 − FVU` is SAELens's explained
/// variance.
#[test]
fn sae_diagnostics_match_the_numpy_reference() {
    use tiedae::study::metrics::{
        dead_count, dense_count, density_bin_edges, density_histogram, firing_density, l2_ratio,
        shrinkage,
    };
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/sae_diagnostics_reference.json"
    );
    let text = std::fs::read_to_string(path).unwrap();
    let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
    let close = |a: f64, b: f64| (a - b).abs() <= 1e-12 * b.abs().max(1.0);
    let cases = doc["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 2);
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let size = |k: &str| case[k].as_u64().unwrap() as usize;
        let (n, d, r) = (size("n"), size("d"), size("r"));
        let x = json_matrix(&case["x"]);
        let xh = json_matrix(&case["x_hat"]);
        let code = json_matrix(&case["code"]);
        assert_eq!(
            (x.shape(), xh.shape(), code.shape()),
            ((n, d), (n, d), (n, r)),
            "{name}"
        );

        let density = firing_density(&code).unwrap();
        let want = json_vector(&case["density"]);
        assert_eq!(density.len(), want.len(), "{name}");
        for (j, (a, b)) in density.iter().zip(&want).enumerate() {
            assert!(close(*a, *b), "{name}: density {j}: {a} vs {b}");
        }
        assert!((density.iter().sum::<f64>() - l0(&code).unwrap()).abs() <= 1e-12);
        // The L0 and FVU tiedae had already are the peers' too.
        let want = case["l0"].as_f64().unwrap();
        assert!(close(l0(&code).unwrap(), want), "{name}: L0 vs {want}");
        let explained = 1.0 - fvu(&x, &xh).unwrap();
        let want = case["explained_variance"].as_f64().unwrap();
        assert!(
            close(explained, want),
            "{name}: 1 - FVU {explained} vs {want}"
        );
        assert_eq!(dead_count(&density), size("dead"), "{name}: dead");
        assert_eq!(dense_count(&density), size("dense"), "{name}: dense");

        let edges = json_vector(&case["edges"]);
        let ours = density_bin_edges(n);
        assert_eq!(ours.len(), edges.len(), "{name}: {ours:?} vs {edges:?}");
        for (a, b) in ours.iter().zip(&edges) {
            assert!(close(*a, *b), "{name}: edge {a} vs {b}");
        }
        let hist: Vec<usize> = case["histogram"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap() as usize)
            .collect();
        assert_eq!(density_histogram(&density, &edges), hist, "{name}");

        let s = shrinkage(&x, &xh).unwrap();
        let want = case["shrinkage"].as_f64().unwrap();
        assert!(close(s, want), "{name}: shrinkage {s} vs {want}");
        if let Some(other) = case["shrinkage_mean_of_ratios"].as_f64() {
            assert!(
                (s - other).abs() > 1e-3 * want.abs(),
                "{name}: {s} vs {other}"
            );
        }
        let l = l2_ratio(&x, &xh).unwrap();
        let want = case["l2_ratio"].as_f64().unwrap();
        assert!(close(l, want), "{name}: l2 ratio {l} vs {want}");
        if let Some(other) = case["l2_ratio_unguarded"].as_f64() {
            assert!(
                (l - other).abs() > 1e-3 * want.abs(),
                "{name}: {l} vs {other}"
            );
        }
    }
    // One case has a row below the guard, and only the other a zero row.
    assert!(cases.iter().any(|c| c["l2_ratio_unguarded"].is_f64()));
    assert!(cases.iter().any(|c| c["l2_ratio_unguarded"].is_null()));
}

// ------------------------------------------------------ planted atoms

/// `n` samples, each a combination of `k` distinct rows of `atoms` with
/// coefficients in [1, 2], plus Gaussian noise of standard deviation
/// `noise`.
fn planted(atoms: &DMatrix<f64>, n: usize, k: usize, noise: f64, seed: u64) -> DMatrix<f64> {
    let (m, d) = atoms.shape();
    let mut rng = seeded(seed);
    let mut x = DMatrix::zeros(n, d);
    let mut pool: Vec<usize> = (0..m).collect();
    for i in 0..n {
        for s in 0..k {
            let t = rng.random_range(s..m);
            pool.swap(s, t);
        }
        for &a in &pool[..k] {
            let c: f64 = rng.random_range(1.0..2.0);
            for j in 0..d {
                x[(i, j)] += c * atoms[(a, j)];
            }
        }
        for j in 0..d {
            let g: f64 = rng.sample(StandardNormal);
            x[(i, j)] += noise * g;
        }
    }
    x
}

/// Mean over atoms of the largest |cosine| with a decoder direction.
fn mean_max_cosine(atoms: &DMatrix<f64>, model: &Autoencoder<f64>) -> f64 {
    let dec = model.layers().last().unwrap().decoder_weight(); // d x r
    let mut total = 0.0;
    for a in 0..atoms.nrows() {
        let atom = atoms.row(a).transpose();
        let best = (0..dec.ncols())
            .map(|i| {
                let col = dec.column(i);
                (atom.dot(&col) / (atom.norm() * col.norm())).abs()
            })
            .fold(0.0f64, f64::max);
        total += best;
    }
    total / atoms.nrows() as f64
}

fn sae_config(epochs: usize) -> TrainConfig {
    quiet(epochs, 64, 3e-3)
        .schedule(Schedule::Cosine { min_factor: 0.05 })
        .unit_norm_decoder(true)
}

/// 16 orthonormal atoms in 32 dimensions, two per sample; a tied TopK
/// (k = 2) autoencoder with 32 latents and unit-norm decoder directions
/// finds every atom.
#[test]
fn top_k_recovers_planted_atoms() {
    let basis = random_orthonormal(32, 32, 71).unwrap();
    let atoms = basis.rows(0, 16).into_owned();
    let x = planted(&atoms, 4096, 2, 0.02, 72);
    let spec = AutoencoderSpec::new(&[32, 32])
        .activation(Activation::TopK { k: 2 })
        .bias(BiasMode::None);
    let out = Trainer::new(sae_config(40))
        .unwrap()
        .fit(Autoencoder::<f64>::new(&spec, 73).unwrap(), &x)
        .unwrap();
    let cos = mean_max_cosine(&atoms, &out.model);
    assert!(cos > 0.95, "mean max-cosine {cos}");
    // Both planted coefficients are positive, so the ReLU rarely clamps a
    // kept value; L0 is at most k.
    let l = out.model.l0(&x).unwrap();
    assert!(l > 1.95 && l <= 2.0, "L0 {l}");
    let f = out.model.fvu(&x).unwrap();
    assert!(f < 0.05, "fvu {f}");
}

/// 24 atoms, 24 latents, of which 8 start orthogonal to every atom (so
/// dead: their pre-activations are noise while the others' are of order
/// one). Without AuxK a dead latent gets no gradient and stays dead; with
/// AuxK the dead ones learn the residual (the atoms nobody covers) and
/// fire again, so fewer are dead at the end, on the same seed.
#[test]
fn auxk_ends_with_fewer_dead_latents() {
    let (d, m, r) = (32, 24, 24);
    let basis = random_orthonormal(d, d, 81).unwrap();
    let atoms = basis.rows(0, m).into_owned();
    let x = planted(&atoms, 4096, 2, 0.02, 82);
    let spec = AutoencoderSpec::new(&[d, r])
        .activation(Activation::TopK { k: 2 })
        .bias(BiasMode::None);
    let mut model = Autoencoder::<f64>::new(&spec, 83).unwrap();
    let mut p = model.params_to_vec();
    for u in 0..8 {
        for j in 0..d {
            // Row-major r x d tied weight: unit 16 + u gets basis row 24 + u.
            p[(16 + u) * d + j] = basis[(m + u, j)];
        }
    }
    model.set_params(&p).unwrap();
    let dead = DeadLatents::window(1024);
    let fit = |dl: DeadLatents| {
        Trainer::new(sae_config(30).dead_latents(dl))
            .unwrap()
            .fit(model.clone(), &x)
            .unwrap()
    };
    let without = fit(dead);
    let with = fit(dead.with_auxk(4, 1.0 / 32.0));
    let end = |h: &History| h.last().unwrap().dead_fraction.unwrap();
    let (a, b) = (end(&without.history), end(&with.history));
    assert!(a > 0.0, "without AuxK nothing is dead");
    assert!(b < a, "dead fraction with AuxK {b}, without {a}");
    assert!(with.history.epochs.iter().any(|r| r.train.auxk > 0.0));
    assert!(without.history.epochs.iter().all(|r| r.train.auxk == 0.0));
}

// ------------------------------------------------------ the study

/// The `sae` study's frame: the results columns, then its nine own
/// columns; per latent size and seed one PCA row, five variant rows, the
/// L1 variant's row at each of the four grid weights and each JumpReLU
/// variant's at each of its three (the rows' weights, not the L1 grid);
/// TopK rows at an L0 of at most their k; cosines only for untied variants; dead and dense
/// latent counts only for the SAEs, within their latent size, the dead
/// ones among the units constant on the test rows (the results column
/// `dead_fraction`); a shrinkage, an ℓ2 ratio and a training L0 for every
/// row.
#[test]
fn sae_study_frame_has_the_extra_columns() {
    use tiedae::data::SpikedCovariance;
    use tiedae::study::builtin::sae::{JUMP_RELU_VARIANTS, L0_WEIGHTS, L1_THRESHOLDS};
    use tiedae::study::builtin::{self, Preset, RunOptions};
    use tiedae::study::{COLUMNS, frame_to_rows};
    let ds = SpikedCovariance::new(300, 16, vec![9.0, 5.0, 2.5, 1.2], 0.2, 11)
        .generate()
        .unwrap()
        .dataset;
    let preset = Preset {
        latents: vec![4, 12],
        seeds: vec![0],
        epochs: 3,
        lbfgs_iters: 10,
        batch_size: 64,
        learning_rate: 1e-2,
        learning_rates: vec![],
        patience: None,
        n_trains: vec![20],
        max_rows: None,
        sparsity_weights: vec![1e-2],
        hidden: None,
    };
    let out = builtin::sae::output(&ds, &preset, &RunOptions::default()).unwrap();
    // No image shape, no atoms; the frame is `run`'s.
    assert!(out.figures.tiles.is_empty());
    assert_eq!(out.figures.curves.len(), 5);
    let df = out.frame;
    let names: Vec<String> = df
        .get_column_names()
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(
        &names[COLUMNS.len()..],
        [
            "l0",
            "fvu",
            "dead_fraction_train",
            "decoder_encoder_cosine",
            "dead_latents",
            "dense_latents",
            "shrinkage",
            "l2_ratio",
            "l0_train"
        ]
    );
    let rows = frame_to_rows(&df).unwrap();
    // Per size: PCA, five unpenalised variants, the L1 variant at each
    // weight and the two JumpReLU variants at each of theirs.
    assert_eq!(
        rows.len(),
        2 * (1 + 5 + L1_THRESHOLDS.len() + 2 * L0_WEIGHTS.len())
    );
    let l1_weights: Vec<f64> = rows
        .iter()
        .filter(|r| r.model == builtin::sae::L1_VARIANT && r.latent == 4)
        .map(|r| r.sparsity_weight)
        .collect();
    assert_eq!(l1_weights.len(), L1_THRESHOLDS.len());
    // A preset without early stopping trains exactly its epochs.
    assert!(rows.iter().all(|r| r.model == "pca" || r.epochs == 3));
    assert!(l1_weights.windows(2).all(|w| w[0] < w[1]), "{l1_weights:?}");
    // The JumpReLU variants' rows carry their own relative weights, not
    // the study's L1 grid.
    for name in JUMP_RELU_VARIANTS {
        let weights: Vec<f64> = rows
            .iter()
            .filter(|r| r.model == name && r.latent == 12)
            .map(|r| r.sparsity_weight)
            .collect();
        assert_eq!(weights, L0_WEIGHTS, "{name}");
    }
    let col =
        |n: &str| -> Vec<Option<f64>> { df.column(n).unwrap().f64().unwrap().iter().collect() };
    let count =
        |n: &str| -> Vec<Option<i64>> { df.column(n).unwrap().i64().unwrap().iter().collect() };
    let (l0s, fvus, dead, cos) = (
        col("l0"),
        col("fvu"),
        col("dead_fraction_train"),
        col("decoder_encoder_cosine"),
    );
    let (dead_latents, dense_latents) = (count("dead_latents"), count("dense_latents"));
    let (shrink, l2, l0_train) = (col("shrinkage"), col("l2_ratio"), col("l0_train"));
    for (i, r) in rows.iter().enumerate() {
        assert!(
            l0_train[i].is_some_and(|l| l.is_finite() && l >= 0.0),
            "{}: training L0 {:?}",
            r.model,
            l0_train[i]
        );
        let f = fvus[i].unwrap();
        assert!(f.is_finite() && f > 0.0, "{} fvu {f}", r.model);
        assert!(r.test_mse.is_finite() && r.ratio_to_pca.is_finite());
        assert!(
            shrink[i].is_some_and(f64::is_finite),
            "{}: shrinkage {:?}",
            r.model,
            shrink[i]
        );
        assert!(
            l2[i].is_some_and(|v| v.is_finite() && v >= 0.0),
            "{}: l2 ratio {:?}",
            r.model,
            l2[i]
        );
        if r.model == "pca" {
            assert_eq!(l0s[i], Some(r.latent as f64));
            assert!(dead[i].is_none() && cos[i].is_none());
            assert!(dead_latents[i].is_none() && dense_latents[i].is_none());
            continue;
        }
        let (Some(gone), Some(busy)) = (dead_latents[i], dense_latents[i]) else {
            panic!("{}: no latent counts", r.model);
        };
        let constant = (r.dead_fraction * r.latent as f64).round() as i64;
        assert!(
            gone >= 0 && busy >= 0 && gone + busy <= r.latent && gone <= constant,
            "{}: {gone} dead, {busy} dense, {constant} constant of {}",
            r.model,
            r.latent
        );
        assert!(
            dead[i].is_some_and(|d| (0.0..=1.0).contains(&d)),
            "{}",
            r.model
        );
        if r.model.as_str().contains("topk") {
            // At most k = max(1, latent / 16): the ReLU clamps kept values
            // that are negative.
            let k = (r.latent as f64 / 16.0).floor().max(1.0);
            assert!(
                l0s[i].is_some_and(|l| l > 0.0 && l <= k),
                "{}: L0 {:?} of k = {k}",
                r.model,
                l0s[i]
            );
        }
        assert_eq!(
            cos[i].is_some(),
            r.model.tied() == Some(false),
            "{}",
            r.model
        );
    }
    let s = builtin::sae::summary(&df).unwrap();
    assert!(s.len() >= 9, "{s:?}");
    assert!(s.iter().any(|l| l.contains("AuxK")), "{s:?}");
    for name in JUMP_RELU_VARIANTS {
        assert!(
            s.iter()
                .any(|l| l.starts_with(&format!("{name}'s L0 weight"))),
            "{name}: {s:?}"
        );
    }
    assert!(
        s.iter()
            .any(|l| l.starts_with("JumpReLU at its chosen L0 weights, tied against untied")),
        "{s:?}"
    );
    assert!(builtin::find("sae").is_some());
}

/// The study's size, target, L1 and JumpReLU rules give the values their
/// docs state: the target active count is max(1, latent / 16), TopK's k;
/// the JumpReLU variants train SAELens 6.x's default JumpReLU
/// (`JumpReLUTrainingSAEConfig`: bandwidth 0.05, initial threshold 0.01)
/// with an L0 rule aimed at the same target.
#[test]
fn sae_rules_give_their_documented_values() {
    use tiedae::study::L0Rule;
    use tiedae::study::builtin::sae::{
        JUMP_RELU_VARIANTS, L0_WEIGHTS, L1_THRESHOLDS, default_latents, k_active, l1_grid,
        pick_weight, variants,
    };
    assert_eq!(default_latents(784), [32, 256, 1024]);
    assert_eq!(default_latents(64), [16, 64, 256]);
    assert_eq!(default_latents(16), [4, 16, 64]);
    assert_eq!(default_latents(1), [1, 2, 4]);
    assert_eq!(
        [1024, 256, 64, 32, 31, 16, 15, 3].map(k_active),
        [64, 16, 4, 2, 1, 1, 1, 1]
    );
    for v in variants() {
        let act = v.activation_at(256, Activation::Identity);
        if v.name.contains("topk") {
            assert_eq!(act, Activation::TopK { k: 16 }, "{}", v.name);
        } else if JUMP_RELU_VARIANTS.contains(&v.name.as_str()) {
            assert_eq!(
                act,
                Activation::JumpRelu {
                    bandwidth: 0.05,
                    init_threshold: 0.01
                },
                "{}",
                v.name
            );
            assert_eq!(
                v.l0,
                Some(L0Rule {
                    weights: L0_WEIGHTS.to_vec(),
                    target_divisor: 16
                }),
                "{}",
                v.name
            );
            assert!(!v.l1, "{}", v.name);
        } else {
            assert_eq!(act, Activation::Relu, "{}", v.name);
            assert!(v.l1 && v.l0.is_none(), "{}", v.name);
        }
    }
    // Nearest L0 in ratio wins, not in difference (for a target of 2, 0.12
    // is 1.9 away and 14 is 12, but 0.12 is 17 times below and 14 seven
    // times above); a tie (16 and 4 are both twice from 8) goes to the
    // smaller weight; a code with no active latent is never picked.
    let trials = [(1e-4, 30.0), (4e-4, 16.0), (1.6e-3, 4.0), (6.4e-3, 0.0)];
    assert_eq!(pick_weight(&trials, 8.0), Some(4e-4));
    assert_eq!(pick_weight(&trials, 5.0), Some(1.6e-3));
    assert_eq!(pick_weight(&trials, 100.0), Some(1e-4));
    assert_eq!(pick_weight(&trials, 1.0), Some(1.6e-3));
    assert_eq!(pick_weight(&[(1e-3, 14.0), (4e-3, 0.12)], 2.0), Some(1e-3));
    assert_eq!(pick_weight(&[(1e-3, 14.0), (4e-3, 0.0)], 2.0), Some(1e-3));
    assert_eq!(pick_weight(&trials, 0.0), None);
    assert_eq!(pick_weight(&[(1.0, f64::NAN), (2.0, 0.0)], 1.0), None);
    assert_eq!(pick_weight(&[], 1.0), None);
    // Columns of variance 0 and 4: s = 2, d = 2, so λ = 2 f s / d = 2 f.
    let x = DMatrix::from_row_slice(4, 2, &[1.0f32, 2.0, 1.0, -2.0, 1.0, 2.0, 1.0, -2.0]);
    let grid = l1_grid(&x);
    assert_eq!(grid.len(), L1_THRESHOLDS.len());
    for (w, f) in grid.iter().zip(L1_THRESHOLDS) {
        assert!((w - 2.0 * f).abs() <= 1e-15, "{w} vs {}", 2.0 * f);
    }
}

/// The sae study is a grid of cells: per latent size (an over-complete
/// one among them) PCA on every seed, then the eight variants in order, the
/// L1 variant at each weight of `l1_grid` of the first seed's training
/// part, the JumpReLU variants at each of their own L0 weights, every
/// trained cell at each rate of the preset's grid; a study file written
/// from it reads back with the same cells, keys included.
#[test]
fn sae_study_is_a_grid_of_cells() {
    use tiedae::data::{Dataset, train_test_split};
    use tiedae::study::builtin::sae::{
        self, JUMP_RELU_VARIANTS, L0_WEIGHTS, L1_THRESHOLDS, L1_VARIANT, l1_grid,
    };
    use tiedae::study::builtin::{Preset, RunOptions, find};
    use tiedae::study::{ModelKind, StudyFile};
    let ds = Dataset::builtin("digits").unwrap();
    let preset = Preset {
        latents: vec![16, 128],
        seeds: vec![0, 1],
        max_rows: None,
        ..Preset::quick()
    };
    let study = sae::study(&ds, &preset, &RunOptions::default()).unwrap();
    assert!(study.overcomplete);
    // With early stopping the cap is raised to the study's floor.
    assert_eq!(Preset::quick().epochs, 100);
    assert_eq!(study.training.epochs, sae::MIN_EPOCHS);
    assert_eq!(sae::epoch_cap(&preset), sae::MIN_EPOCHS);
    assert_eq!(study.models, [ModelKind::Pca]);
    let names: Vec<&str> = study.variants.iter().map(|v| v.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "sae_tied_topk",
            "sae_untied_topk",
            "sae_untied_tied_init_topk",
            "sae_tied_l1",
            "sae_tied_topk_auxk",
            "sae_untied_topk_auxk",
            "sae_tied_jumprelu",
            "sae_untied_jumprelu"
        ]
    );
    let (train, _) = train_test_split(&ds, study.test_fraction, study.data_seed(0)).unwrap();
    assert_eq!(study.sparsity_weights, l1_grid(train.x()));
    let cells = study.cells().unwrap();
    let (seeds, rates) = (2, Preset::quick().learning_rates.len());
    assert_eq!(
        cells.len(),
        2 * (seeds
            + 5 * rates * seeds
            + L1_THRESHOLDS.len() * rates * seeds
            + 2 * L0_WEIGHTS.len() * rates * seeds)
    );
    for k in [16usize, 128] {
        let at: Vec<&str> = cells
            .iter()
            .filter(|c| c.latent == k)
            .map(|c| c.model_name())
            .collect();
        assert_eq!(&at[..seeds], ["pca"; 2]);
        assert_eq!(
            at.iter().filter(|&&m| m == L1_VARIANT).count(),
            L1_THRESHOLDS.len() * rates * seeds
        );
        for name in JUMP_RELU_VARIANTS {
            let mut weights: Vec<f64> = cells
                .iter()
                .filter(|c| c.latent == k && c.model_name() == name)
                .map(|c| c.sparsity_weight)
                .collect();
            assert_eq!(weights.len(), L0_WEIGHTS.len() * rates * seeds, "{name}");
            weights.dedup();
            assert_eq!(weights, L0_WEIGHTS, "{name}");
        }
    }
    assert!(
        cells
            .iter()
            .all(|c| c.learning_rate.is_some() || c.model_name() == "pca")
    );
    // Written as a study file and read back: the same study id.
    let entry = tiedae::study::file::DatasetEntry {
        builtin: Some("digits".into()),
        ..Default::default()
    };
    let file = StudyFile::from_study(&study, vec![entry]).unwrap();
    let text = file.to_toml().unwrap();
    assert!(text.contains("[[variants]]"), "{text}");
    let here = std::path::Path::new("<sae>");
    let back = StudyFile::parse(&text, here)
        .unwrap()
        .to_study(&text, here, std::path::Path::new("/"))
        .unwrap();
    assert_eq!(back.study_id().unwrap(), study.study_id().unwrap());
    assert!(find("sae").unwrap().charts.is_some());
}

/// The report runs the sae study at its own sizes unless `--latent` is
/// given; other studies keep the job's defaults.
#[test]
fn sae_report_uses_its_own_sizes_unless_given() {
    use tiedae::app::ReportJob;
    use tiedae::app::studies::own_latents;
    assert!(own_latents("sae").is_some());
    assert!(own_latents("comparison").is_none() && own_latents("linear_pca").is_none());
    let job = ReportJob {
        study: Some("sae".into()),
        ..ReportJob::default()
    };
    assert_eq!(
        job.fitted_latent_sizes(64, 1438),
        (vec![16, 64, 256], vec![])
    );
    assert_eq!(
        job.fitted_latent_sizes(784, 4800),
        (vec![32, 256, 1024], vec![])
    );
    // 100 training rows, 80 fitting: the over-complete 256 is dropped.
    assert_eq!(job.fitted_latent_sizes(64, 100), (vec![16, 64], vec![256]));
    let given = ReportJob {
        latent: Some(vec![8, 100]),
        ..job
    };
    assert_eq!(given.fitted_latent_sizes(64, 1438), (vec![8, 100], vec![]));
    let comparison = ReportJob::default().fitted_latent_sizes(64, 1438).0;
    assert_eq!(comparison, [2, 4, 8, 16, 32]);
    // The checks the report runs before training: over-complete sizes pass
    // for sae (its own and given ones), and are refused elsewhere.
    assert_eq!(
        given.checked_latent_sizes(64, 1438).unwrap(),
        (vec![8, 100], vec![])
    );
    let sae = ReportJob {
        study: Some("sae".into()),
        ..ReportJob::default()
    };
    assert_eq!(
        sae.checked_latent_sizes(784, 4800).unwrap().0,
        [32, 256, 1024]
    );
    let wide = ReportJob {
        latent: Some(vec![8, 100]),
        ..ReportJob::default()
    };
    let err = wide.checked_latent_sizes(64, 1438).unwrap_err();
    assert!(err.to_string().contains("100"), "{err}");
}

/// Median of a non-empty slice, as the study's rule states it.
fn median_of(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let m = s.len() / 2;
    if s.len() % 2 == 1 {
        s[m]
    } else {
        0.5 * (s[m - 1] + s[m])
    }
}

/// The weight of `trials` (ascending in weight) whose L0 is nearest
/// `target`, ties to the smaller weight: the study's choice, written out
/// again.
fn nearest_weight(trials: &[(f64, f64)], target: f64) -> f64 {
    let mut best = trials[0];
    for &t in &trials[1..] {
        let (d, b) = ((t.1 - target).abs(), (best.1 - target).abs());
        if d < b || (d == b && t.0 < best.0) {
            best = t;
        }
    }
    best.0
}

/// On digits (8 x 8 images), the study's charts are its frame's numbers:
/// the L1 chart's points are the mean training L0 over seeds of each grid
/// weight, the JumpReLU chart's those of each L0 weight per variant, and
/// the weight kept per variant and size is the one nearest the target
/// max(1, k/16) (recomputed here from the frame); one Pareto line per
/// model with one point per latent size at the medians over seeds (the
/// penalised models' at their kept weights); the dead-fraction curves of
/// the first seed's TopK runs at the largest size end at the frame's
/// value; the firing-density histogram of its runs counts every latent the
/// frame does not call dead; the atoms are unit decoder directions of the
/// image's size; and the report draws all six.
#[test]
fn sae_study_figures_match_its_frame() {
    use tiedae::data::Dataset;
    use tiedae::number::format_or_missing;
    use tiedae::study::builtin::sae::{
        ATOMS_ID, DEAD_ID, DENSITY_ID, JUMP_RELU_VARIANTS, L0_ID, L0_WEIGHTS, L1_ID, L1_THRESHOLDS,
        L1_VARIANT, PARETO_ID,
    };
    use tiedae::study::builtin::{self, Preset, RunOptions};
    use tiedae::study::frame_to_rows;
    use tiedae::study::metrics::density_bin_edges;
    let ds = Dataset::builtin("digits").unwrap();
    let preset = Preset {
        latents: vec![16, 8],
        seeds: vec![0, 1],
        epochs: 3,
        lbfgs_iters: 10,
        batch_size: 64,
        learning_rate: 1e-2,
        learning_rates: vec![],
        patience: None,
        n_trains: vec![20],
        max_rows: Some(400),
        sparsity_weights: vec![],
        hidden: None,
    };
    let out = builtin::sae::output(&ds, &preset, &RunOptions::default()).unwrap();
    let df = &out.frame;
    let rows = frame_to_rows(df).unwrap();
    let col = |n: &str| -> Vec<f64> {
        df.column(n)
            .unwrap()
            .f64()
            .unwrap()
            .iter()
            .map(|v| v.unwrap_or(f64::NAN))
            .collect()
    };
    let (l0s, fvus, dead) = (col("l0"), col("fvu"), col("dead_fraction_train"));
    let l0_train = col("l0_train");
    // The weight kept per penalised variant and size, from the frame: the
    // weight whose mean training L0 over the seeds is nearest the target
    // max(1, k/16) (1 at both sizes here).
    let penalised = [
        (L1_VARIANT, L1_THRESHOLDS.len()),
        (JUMP_RELU_VARIANTS[0], L0_WEIGHTS.len()),
        (JUMP_RELU_VARIANTS[1], L0_WEIGHTS.len()),
    ];
    // (variant, size, kept weight, (weight, mean training L0) per weight)
    type Kept<'a> = (&'a str, i64, f64, Vec<(f64, f64)>);
    let mut kept: Vec<Kept> = Vec::new();
    for (model, n_weights) in penalised {
        for k in [8i64, 16] {
            let mut weights: Vec<f64> = rows
                .iter()
                .filter(|r| r.model == model && r.latent == k)
                .map(|r| r.sparsity_weight)
                .collect();
            weights.sort_by(f64::total_cmp);
            weights.dedup();
            assert_eq!(weights.len(), n_weights, "{model} k={k}");
            let trials: Vec<(f64, f64)> = weights
                .iter()
                .map(|&w| {
                    let l: Vec<f64> = (0..rows.len())
                        .filter(|&i| {
                            rows[i].model == model
                                && rows[i].latent == k
                                && rows[i].sparsity_weight == w
                        })
                        .map(|i| l0_train[i])
                        .collect();
                    assert_eq!(l.len(), 2, "{model} k={k} w={w}");
                    (w, l.iter().sum::<f64>() / 2.0)
                })
                .collect();
            let target = (k / 16).max(1) as f64;
            kept.push((model, k, nearest_weight(&trials, target), trials));
        }
    }
    let kept_at = |model: &str, k: i64| {
        kept.iter()
            .find(|e| e.0 == model && e.1 == k)
            .unwrap_or_else(|| panic!("no choice for {model} at k = {k}"))
    };
    // The rows a chart reads: the penalised models' at their kept weights
    // only.
    let compared = |i: usize| {
        let r = &rows[i];
        kept.iter()
            .find(|e| r.model == e.0 && e.1 == r.latent)
            .is_none_or(|e| r.sparsity_weight == e.2)
    };
    let models = [
        "pca",
        "sae_tied_topk",
        "sae_untied_topk",
        "sae_untied_tied_init_topk",
        "sae_tied_l1",
        "sae_tied_topk_auxk",
        "sae_untied_topk_auxk",
        "sae_tied_jumprelu",
        "sae_untied_jumprelu",
    ];
    let curve = |id: &str| {
        out.figures
            .curves
            .iter()
            .find(|c| c.id == id)
            .unwrap_or_else(|| panic!("no {id} chart"))
    };

    // Pareto: a line per model, a point per latent size (ascending), at
    // the medians over seeds of the frame's l0 and fvu.
    let pareto = curve(PARETO_ID);
    let names: Vec<&str> = pareto.series.iter().map(|l| l.name.as_str()).collect();
    assert_eq!(names, models);
    for line in &pareto.series {
        assert_eq!(line.points.len(), 2, "{}", line.name);
        for (&(x, y), k) in line.points.iter().zip([8i64, 16]) {
            let at: Vec<usize> = (0..rows.len())
                .filter(|&i| rows[i].model == line.name && rows[i].latent == k && compared(i))
                .collect();
            assert_eq!(at.len(), 2, "{} k={k}", line.name);
            let l: Vec<f64> = at.iter().map(|&i| l0s[i]).collect();
            let f: Vec<f64> = at.iter().map(|&i| fvus[i]).collect();
            assert_eq!(
                (x, y),
                (median_of(&l), median_of(&f)),
                "{} k={k}",
                line.name
            );
        }
        assert!(line.markers);
    }
    assert_eq!(pareto.series[0].points[0].0, 8.0, "PCA's L0 is k");

    // Dead latents: the first seed's TopK runs at k = 16, epoch by epoch.
    let dead_chart = curve(DEAD_ID);
    let topk: Vec<&str> = models[1..]
        .iter()
        .copied()
        .filter(|m| m.contains("topk"))
        .collect();
    let names: Vec<&str> = dead_chart.series.iter().map(|l| l.name.as_str()).collect();
    assert_eq!(names, topk);
    for line in &dead_chart.series {
        let i = (0..rows.len())
            .find(|&i| {
                rows[i].model == line.name
                    && rows[i].latent == 16
                    && rows[i].seed == 0
                    && compared(i)
            })
            .unwrap();
        assert_eq!(line.points.len() as i64, rows[i].epochs, "{}", line.name);
        assert_eq!(line.points.last().unwrap().1, dead[i], "{}", line.name);
        let xs: Vec<f64> = line.points.iter().map(|p| p.0).collect();
        assert_eq!(xs, [1.0, 2.0, 3.0]);
        assert_eq!(line.dashed, line.name.ends_with("_auxk"), "{}", line.name);
        if let Some(base) = line.name.strip_suffix("_auxk") {
            let twin = dead_chart.series.iter().find(|l| l.name == base).unwrap();
            assert_eq!(twin.color, line.color, "{}", line.name);
        }
    }

    // Firing densities: the first seed's runs at k = 16, a closed step
    // outline over quarter-decade bins of the 80 test rows' densities, whose
    // counts and the frame's dead latents add up to the 16 latents; the
    // caption quotes the frame's dead and dense counts.
    let density_chart = curve(DENSITY_ID);
    let names: Vec<&str> = density_chart
        .series
        .iter()
        .map(|l| l.name.as_str())
        .collect();
    assert_eq!(names, models[1..]);
    let n_test = 400 - rows[0].n_train as usize;
    assert_eq!(n_test, 80);
    let edges: Vec<f64> = density_bin_edges(n_test)
        .iter()
        .map(|e| e.log10())
        .collect();
    // 1/80 = 10^-1.90: the first edge is 10^-2, the last 10^0.
    assert!((edges[0] + 2.0).abs() < 1e-12, "{edges:?}");
    assert_eq!(edges.len(), 9);
    let dead_latents: Vec<Option<i64>> = df
        .column("dead_latents")
        .unwrap()
        .i64()
        .unwrap()
        .iter()
        .collect();
    let dense_latents: Vec<Option<i64>> = df
        .column("dense_latents")
        .unwrap()
        .i64()
        .unwrap()
        .iter()
        .collect();
    for line in &density_chart.series {
        let i = (0..rows.len())
            .find(|&i| {
                rows[i].model == line.name
                    && rows[i].latent == 16
                    && rows[i].seed == 0
                    && compared(i)
            })
            .unwrap();
        let p = &line.points;
        assert_eq!(p.len(), 2 * edges.len(), "{}", line.name);
        assert_eq!((p[0].1, p[p.len() - 1].1), (0.0, 0.0), "{}", line.name);
        for (j, w) in edges.windows(2).enumerate() {
            assert_eq!(
                (p[2 * j + 1].0, p[2 * j + 2].0),
                (w[0], w[1]),
                "{}",
                line.name
            );
            assert_eq!(p[2 * j + 1].1, p[2 * j + 2].1, "{}", line.name);
        }
        let firing: f64 = p.iter().skip(1).step_by(2).map(|q| q.1).sum();
        let (gone, busy) = (dead_latents[i].unwrap(), dense_latents[i].unwrap());
        assert_eq!(firing as i64 + gone, 16, "{}", line.name);
        assert!(
            density_chart
                .caption
                .contains(&format!("{} {gone} dead and {busy} dense", line.name)),
            "{}: {}",
            line.name,
            density_chart.caption
        );
        assert_eq!(line.dashed, line.name.ends_with("_auxk"), "{}", line.name);
        assert!(!line.markers);
    }

    // The L1 weight: per size the grid's weights, ×2 apart, at the mean
    // training L0 over the seeds; the caption names the kept one.
    let l1 = curve(L1_ID);
    assert_eq!(l1.series.len(), 2);
    for (line, k) in l1.series.iter().zip([8i64, 16]) {
        assert_eq!(line.name, format!("k = {k}"));
        assert_eq!(line.points.len(), L1_THRESHOLDS.len());
        for w in line.points.windows(2) {
            assert!((w[1].0 / w[0].0 - 2.0).abs() < 1e-9, "{:?}", line.points);
        }
        let (_, _, want, trials) = kept_at(L1_VARIANT, k);
        assert_eq!(&line.points, trials, "k={k}");
        assert!(
            l1.caption
                .contains(&format!("k = {k}: λ = {}", format_or_missing(*want))),
            "k={k} kept {want}: {}",
            l1.caption
        );
    }

    // The JumpReLU L0 weight: per variant (tied, then untied, dashed) and
    // size a line over the L0 weights at the mean training L0 over the
    // seeds; the caption names the kept ones.
    let l0 = curve(L0_ID);
    let names: Vec<&str> = l0.series.iter().map(|l| l.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "sae_tied_jumprelu, k = 8",
            "sae_tied_jumprelu, k = 16",
            "sae_untied_jumprelu, k = 8",
            "sae_untied_jumprelu, k = 16"
        ]
    );
    for (line, (model, k)) in l0.series.iter().zip([
        (JUMP_RELU_VARIANTS[0], 8i64),
        (JUMP_RELU_VARIANTS[0], 16),
        (JUMP_RELU_VARIANTS[1], 8),
        (JUMP_RELU_VARIANTS[1], 16),
    ]) {
        let xs: Vec<f64> = line.points.iter().map(|p| p.0).collect();
        assert_eq!(xs, L0_WEIGHTS, "{}", line.name);
        let (_, _, want, trials) = kept_at(model, k);
        assert_eq!(&line.points, trials, "{}", line.name);
        assert_eq!(line.dashed, model == JUMP_RELU_VARIANTS[1], "{}", line.name);
        assert!(line.markers);
        assert!(
            l0.caption.contains(&format!(
                "{model} k = {k}: w = {}",
                format_or_missing(*want)
            )),
            "{model} k={k} kept {want}: {}",
            l0.caption
        );
    }

    // Atoms: unit decoder directions as 8 x 8 tiles, PCA's first.
    let atoms = out
        .figures
        .tiles
        .iter()
        .find(|t| t.id == ATOMS_ID)
        .expect("digits has an image shape");
    assert_eq!(atoms.shape, (8, 8));
    let labels: Vec<&str> = atoms.rows.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(labels, models);
    for (name, tiles) in &atoms.rows {
        assert_eq!(tiles.len(), 16, "{name}");
        for t in tiles {
            assert_eq!(t.len(), 64);
            let norm = t.iter().map(|v| v * v).sum::<f64>().sqrt();
            assert!((norm - 1.0).abs() < 1e-3, "{name}: norm {norm}");
        }
    }

    // Findings: every trained run stopped at its 3-epoch cap, and say so.
    let s = builtin::sae::summary(df).unwrap();
    assert!(
        s.iter()
            .any(|l| l.starts_with("32 of 32 trained runs stopped at their epoch cap")),
        "{s:?}"
    );
    assert!(s.iter().any(|l| l.contains("L1 weight")), "{s:?}");
    // The peers' diagnostics at the largest size, for PCA and each variant.
    let diagnostics = s
        .iter()
        .find(|l| l.starts_with("At k = 16, on the test rows"))
        .unwrap_or_else(|| panic!("no diagnostics sentence: {s:?}"));
    for m in models {
        assert!(
            diagnostics.contains(&format!("{m} shrinkage ")),
            "{m}: {diagnostics}"
        );
    }

    let ids: Vec<String> = tiedae::report::figures::sections(&out.figures)
        .unwrap()
        .into_iter()
        .map(|s| s.id)
        .collect();
    assert_eq!(
        ids,
        [PARETO_ID, DEAD_ID, DENSITY_ID, L1_ID, L0_ID, ATOMS_ID]
    );
}

/// A run with the unit-norm constraint, dead-latent tracking and AuxK,
/// interrupted mid-epoch and resumed from its checkpoint, ends with the
/// weights (bit for bit), losses and dead fractions of the uninterrupted
/// run: the samples-since-fired counts are checkpointed.
#[test]
fn sparse_training_resumes_bit_for_bit() {
    use std::sync::atomic::Ordering;
    use tiedae::Error;
    use tiedae::train::TrainEvent;
    let spec = AutoencoderSpec::new(&[10, 12])
        .activation(Activation::TopK { k: 2 })
        .bias(BiasMode::PreCentering);
    let x = random_matrix(200, 10, 0.0, 1.0, 50).map(|v| v as f32);
    let cfg = quiet(3, 40, 5e-3)
        .unit_norm_decoder(true)
        .dead_latents(DeadLatents::window(60).with_auxk(3, 1.0 / 32.0));
    let full = Trainer::new(cfg.clone())
        .unwrap()
        .fit(Autoencoder::<f32>::new(&spec, 8).unwrap(), &x)
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let trainer = Trainer::new(cfg.checkpoint(dir.path(), 0)).unwrap();
    let flag = trainer.interrupt_flag();
    let r = trainer.try_fit(Autoencoder::<f32>::new(&spec, 8).unwrap(), &x, |ev| {
        if let TrainEvent::Batch {
            epoch: 2, batch: 2, ..
        } = ev
        {
            flag.store(true, Ordering::SeqCst);
        }
    });
    let path = match r {
        Err(f) => match f.error {
            Error::Interrupted {
                checkpoint: Some(p),
            } => p,
            other => panic!("expected an interrupt, got {other:?}"),
        },
        Ok(_) => panic!("the run was not interrupted"),
    };
    let resumed = trainer.resume(&path, &x).unwrap();
    assert_eq!(resumed.model.params_to_vec(), full.model.params_to_vec());
    assert_eq!(resumed.history.train_loss(), full.history.train_loss());
    let fr = |h: &History| h.epochs.iter().map(|r| r.dead_fraction).collect::<Vec<_>>();
    assert_eq!(fr(&resumed.history), fr(&full.history));
    assert!(fr(&full.history).iter().all(Option::is_some));
}

// ------------------------------------------------- BatchTopK threshold

/// The running threshold follows SAELens's `update_topk_threshold`
/// (`sae_lens/saes/batchtopk_sae.py`) on a hand-made sequence of batch
/// codes: it starts at 0, moves by `topk_threshold_lr` (0.01) towards each
/// batch's smallest positive kept value, and stays put on a batch that kept
/// none; the signed variant reads the smallest nonzero value.
#[test]
fn batch_top_k_threshold_follows_the_saelens_update_rule() {
    let codes = [
        DMatrix::from_row_slice(2, 3, &[0.0, 0.5, 0.0, 0.2, 0.0, 0.0]),
        DMatrix::zeros(2, 3),
        DMatrix::from_row_slice(2, 3, &[0.6, 0.0, 0.9, 0.0, 0.0, 0.0]),
        DMatrix::from_row_slice(2, 3, &[0.0, 0.0, 0.0, 0.0, 0.0, 1e-3]),
    ];
    let spec = AutoencoderSpec::new(&[4, 3])
        .tied(false)
        .activation(Activation::BatchTopK { k: 1 });
    let mut m = Autoencoder::<f64>::new(&spec, 1).unwrap();
    assert_eq!(m.batch_top_k_thresholds().to_vec(), vec![None::<f64>]);
    let act = m.spec().hidden[0];
    // SAELens's rule written out: threshold = (1 - lr) threshold + lr min_positive,
    // from 0, on batches with a positive kept value.
    let (mut peer, mut seen) = (0.0f64, false);
    for code in &codes {
        let min_positive = code.iter().copied().filter(|&v| v > 0.0).reduce(f64::min);
        if let Some(min) = min_positive {
            peer = (1.0 - 0.01) * peer + 0.01 * min;
            seen = true;
        }
        m.update_batch_top_k_thresholds(&[act.smallest_kept(code)])
            .unwrap();
        assert_eq!(m.batch_top_k_thresholds()[0], seen.then_some(peer));
    }
    // By hand: 0.01 * 0.2, the empty batch skipped, then 0.6, then 1e-3.
    let by_hand = 0.99 * (0.99 * (0.01 * 0.2) + 0.01 * 0.6) + 0.01 * 1e-3;
    assert!((m.batch_top_k_thresholds()[0].unwrap() - by_hand).abs() < 1e-15);
    // The signed variant reads the smallest nonzero kept value.
    let code = DMatrix::from_row_slice(2, 2, &[0.0, -0.4, 0.3, 0.0]);
    let signed = Activation::BatchTopKSigned { k: 1 };
    assert_eq!(signed.smallest_kept(&code), Some(-0.4));
    assert_eq!(act.smallest_kept(&code), Some(0.3));
    assert_eq!(Activation::TopK { k: 1 }.smallest_kept(&code), None);
    // A threshold belongs to a BatchTopK pair, is finite, and is >= 0 with
    // the ReLU.
    assert!(m.set_batch_top_k_threshold(0, Some(-0.1)).is_err());
    assert!(m.set_batch_top_k_threshold(0, Some(f64::NAN)).is_err());
    assert!(m.set_batch_top_k_threshold(1, Some(0.1)).is_err());
    assert!(m.update_batch_top_k_thresholds(&[]).is_err());
    let relu = AutoencoderSpec::new(&[4, 3]).activation(Activation::Relu);
    let mut relu = Autoencoder::<f64>::new(&relu, 1).unwrap();
    assert!(relu.set_batch_top_k_threshold(0, Some(0.1)).is_err());
}

/// A trained BatchTopK model evaluates a row the same alone and inside a
/// batch: its learned threshold replaces the selection over the call's
/// rows, which without it does depend on the neighbours. The code at
/// evaluation is the pre-activation where it exceeds the threshold, and
/// the threshold is saved with the model in both file formats.
#[test]
fn batch_top_k_evaluation_of_a_row_does_not_depend_on_its_neighbours() {
    let spec = AutoencoderSpec::new(&[10, 12])
        .tied(false)
        .activation(Activation::BatchTopK { k: 2 })
        .bias(BiasMode::PreCentering);
    let x = random_matrix(200, 10, 0.0, 1.0, 51);
    let mut m = Trainer::new(quiet(3, 40, 5e-3))
        .unwrap()
        .fit(Autoencoder::<f64>::new(&spec, 8).unwrap(), &x)
        .unwrap()
        .model;
    let theta = m.batch_top_k_thresholds()[0].expect("a threshold after training");
    assert!(theta > 0.0, "{theta}");
    let rows = x.rows(0, 20).into_owned();
    let (codes, recon) = (m.encode(&rows).unwrap(), m.reconstruct(&rows).unwrap());
    for i in 0..20 {
        let row = rows.rows(i, 1).into_owned();
        let (c, r) = (m.encode(&row).unwrap(), m.reconstruct(&row).unwrap());
        for j in 0..12 {
            assert!(
                (c[(0, j)] - codes[(i, j)]).abs() <= 1e-12,
                "row {i} unit {j}"
            );
        }
        for j in 0..10 {
            assert!(
                (r[(0, j)] - recon[(i, j)]).abs() <= 1e-12,
                "row {i} entry {j}"
            );
        }
    }
    let mut ws = Workspace::new();
    m.forward_with(&rows, &mut ws).unwrap();
    let z = &ws.encoder_pre_activations()[0];
    for (&c, &v) in codes.iter().zip(z.iter()) {
        assert_eq!(c, if v > theta { v } else { 0.0 });
    }
    let json = m.to_json_bytes().unwrap();
    let back = Autoencoder::<f64>::from_json_bytes(&json, Path::new("model.json")).unwrap();
    assert_eq!(back, m);
    let back = Autoencoder::<f64>::from_safetensors(&m.to_safetensors().unwrap()).unwrap();
    assert_eq!(back.batch_top_k_thresholds(), m.batch_top_k_thresholds());
    // Cleared, evaluation selects over the call's rows again.
    m.set_batch_top_k_threshold(0, None).unwrap();
    let codes = m.encode(&rows).unwrap();
    let depends = (0..20).any(|i| {
        let alone = m.encode(&rows.rows(i, 1).into_owned()).unwrap();
        alone.row(0) != codes.row(i)
    });
    assert!(depends, "the batch selection did not depend on the rows");
}

// ---------------------------------------------------- training recipes

/// The decoder-norm weighted L1's gradient matches central differences
/// (the oracle of tests/fd) for tied and untied pairs, one and two pairs
/// deep, every bias mode, on smooth, kinked and TopK latents away from
/// their kinks: through the code it is the plain L1's, scaled per unit;
/// through the decoder norms it reaches the latent pair's decoder weights
/// (a tied weight's decoder part). A tied weight's gradient is the sum of
/// its two parts.
#[test]
fn decoder_norm_l1_gradient_matches_finite_differences() {
    let loss = LossConfig::mse().with_decoder_norm_l1(0.08);
    let mut cases = 0;
    for dims in [vec![6, 4], vec![6, 5, 3]] {
        let latent = dims.len() - 2;
        for tied in [true, false] {
            for bias in BiasMode::ALL {
                for act in [
                    Activation::Tanh,
                    Activation::Relu,
                    Activation::TopK { k: 2 },
                ] {
                    let spec = AutoencoderSpec::new(&dims)
                        .activation(act)
                        .bias(bias)
                        .tied(tied);
                    let label = format!("{dims:?} tied {tied} {bias:?} {act:?}");
                    let (m, x) = (0..100u64)
                        .map(|s| {
                            let m = random_model(&spec, 300 + s);
                            (m, random_matrix(5, dims[0], -1.0, 1.0, 400 + s))
                        })
                        .find(|(m, x)| !near_kink(m, x, &loss))
                        .unwrap_or_else(|| panic!("{label}: every draw lands near a kink"));
                    let (t, g) = m.objective_and_grad(&x, &x, &loss).unwrap();
                    assert!(t.l1 > 0.0, "{label}");
                    let numeric = numeric_gradient(&m, &x, &x, &loss);
                    compare(&m, g.as_slice(), &numeric).unwrap_or_else(|e| panic!("{label}: {e}"));
                    if let Some(p) = g.tied_parts(latent) {
                        let s = &m.layout().layers()[latent];
                        for k in 0..s.weight.len() {
                            let sum = p.encoder[k] + p.decoder[k];
                            assert_eq!(g.as_slice()[s.weight.start + k], sum, "{label}: {k}");
                        }
                    }
                    cases += 1;
                }
            }
        }
    }
    assert_eq!(cases, 2 * 2 * 4 * 3);
}

/// Through the decoder norms the weighted L1 adds exactly
/// `(λ₁ / N) (Σ_n |h_ni|) d_i / ‖d_i‖` to column `i` of an untied `W_dec`:
/// the code does not depend on the decoder, so that is the whole
/// difference between the decoder gradients with and without the term.
/// The norms are the columns' (`latent_decoder_norms`).
#[test]
fn decoder_norm_l1_gradient_through_the_norms_is_the_formula() {
    let spec = AutoencoderSpec::new(&[6, 4])
        .activation(Activation::Relu)
        .tied(false);
    let m = random_model(&spec, 31);
    let x = random_matrix(9, 6, -1.0, 1.0, 32);
    let lambda = 0.3;
    let weighted = LossConfig::mse().with_decoder_norm_l1(lambda);
    let (_, with) = m.objective_and_grad(&x, &x, &weighted).unwrap();
    let (_, plain) = m.objective_and_grad(&x, &x, &LossConfig::mse()).unwrap();
    let code = m.encode(&x).unwrap();
    let w_dec = m.layers()[0].decoder_weight();
    assert_eq!(w_dec.shape(), (6, 4));
    let dec = m.layout().layers()[0].decoder_weight.clone().unwrap();
    let norms = m.latent_decoder_norms();
    assert_eq!(norms.len(), 4);
    let mut moved = 0;
    for i in 0..4 {
        let norm = w_dec.column(i).norm();
        assert!((norms[i] - norm).abs() <= 1e-14 * norm, "norm {i}");
        let mass: f64 = code.column(i).iter().map(|v| v.abs()).sum();
        if mass > 0.0 {
            moved += 1;
        }
        for j in 0..6 {
            let k = dec.start + j * 4 + i;
            let want = lambda / 9.0 * mass * w_dec[(j, i)] / norm;
            let got = with.as_slice()[k] - plain.as_slice()[k];
            let tol = 1e-12 * (1.0 + plain.as_slice()[k].abs() + want.abs());
            assert!((got - want).abs() <= tol, "({j}, {i}): {got} vs {want}");
        }
    }
    assert!(moved >= 2, "only {moved} latents fired");
}

/// The decoder-norm weighted L1 equals SAELens's (`calculate_aux_loss` of
/// `sae_lens/saes/standard_sae.py` with `scale_sparsity_penalty_by_decoder_norm`)
/// and dictionary_learning's (`StandardTrainerAprilUpdate`) on the fixture
/// `scripts/sae_recipes_reference.py` computes with NumPy, an untied and a
/// tied ReLU model, to 1e-12 in f64, from the loss-only and the gradient
/// calls alike; the plain L1 there is the fixture's unweighted value, which
/// differs. The Matryoshka term is the sum of SAELens's inner levels
/// (`matryoshka_batchtopk_sae.py`), and with the reconstruction term it is
/// `K²` times dictionary_learning's equally weighted mean over the `K`
/// levels (`matryoshka_batch_top_k.py`). SAELens's model
/// `relu(x W_enc + b_enc) W_dec + b_dec` (`W_enc` d x r, `W_dec` r x d) is
/// tiedae's separate-bias pair with the encoder weight `W_encᵀ` and the
/// decoder weight `W_decᵀ` (tied: `W = W_dec`); the peers sum the squared
/// error over the `d` inputs where tiedae averages it.
#[test]
fn sae_recipes_match_the_numpy_reference() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/sae_recipes_reference.json"
    );
    let text = std::fs::read_to_string(path).unwrap();
    let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
    let close = |a: f64, b: f64| (a - b).abs() <= 1e-12 * b.abs().max(1.0);
    let cases = doc["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 2);
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let tied = case["tied"].as_bool().unwrap();
        let size = |k: &str| case[k].as_u64().unwrap() as usize;
        let (n, d, r) = (size("n"), size("d"), size("r"));
        let x = json_matrix(&case["x"]);
        let w_enc = json_matrix(&case["W_enc"]);
        let w_dec = json_matrix(&case["W_dec"]);
        let b_enc = json_vector(&case["b_enc"]);
        let b_dec = json_vector(&case["b_dec"]);
        assert_eq!(
            (x.shape(), w_enc.shape(), w_dec.shape()),
            ((n, d), (d, r), (r, d)),
            "{name}"
        );
        let spec = AutoencoderSpec::new(&[d, r])
            .activation(Activation::Relu)
            .bias(BiasMode::Separate)
            .tied(tied);
        let mut m = Autoencoder::<f64>::new(&spec, 0).unwrap();
        let mut p: Vec<f64> = Vec::with_capacity(m.n_params());
        if tied {
            assert_eq!(w_enc, w_dec.transpose(), "{name}");
            for i in 0..r {
                p.extend(w_dec.row(i).iter());
            }
        } else {
            // Row i of tiedae's W_enc (r x d) is column i of SAELens's;
            // row j of tiedae's W_dec (d x r) is column j of SAELens's.
            for i in 0..r {
                p.extend(w_enc.column(i).iter());
            }
            for j in 0..d {
                p.extend(w_dec.column(j).iter());
            }
        }
        p.extend(&b_enc);
        p.extend(&b_dec);
        assert_eq!(p.len(), m.n_params(), "{name}");
        m.set_params(&p).unwrap();

        let lambda = case["l1_coefficient"].as_f64().unwrap();
        let norm = Normalizer::new(n).unwrap();
        let weighted = LossConfig::mse().with_decoder_norm_l1(lambda);
        let t = m.loss_terms(&x, &x, &weighted, norm).unwrap();
        let want = case["saelens_l1_loss"].as_f64().unwrap();
        assert!(close(t.l1, want), "{name}: weighted L1 {} vs {want}", t.l1);
        let (tg, _) = m.loss_and_grad(&x, &x, &weighted, norm).unwrap();
        assert!(close(tg.l1, want), "{name}: {} vs {want}", tg.l1);
        let mse = case["saelens_mse_loss"].as_f64().unwrap();
        assert!(
            close(t.reconstruction * d as f64, mse),
            "{name}: MSE {} vs {mse} / {d}",
            t.reconstruction
        );
        let plain = m
            .loss_terms(&x, &x, &LossConfig::mse().with_l1(lambda), norm)
            .unwrap();
        let want_plain = case["plain_l1_loss"].as_f64().unwrap();
        assert!(close(plain.l1, want_plain), "{name}: plain L1 {}", plain.l1);
        assert!((t.l1 - plain.l1).abs() > 1e-3 * want, "{name}");

        let widths: Vec<usize> = case["matryoshka_widths"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap() as usize)
            .collect();
        assert_eq!(widths.last(), Some(&r), "{name}");
        let inner = Matryoshka::new(&widths[..widths.len() - 1]).unwrap();
        let both = weighted.with_matryoshka(inner);
        for t in [
            m.loss_terms(&x, &x, &both, norm).unwrap(),
            m.loss_and_grad(&x, &x, &both, norm).unwrap().0,
        ] {
            let levels: f64 = json_vector(&case["saelens_inner_mse_losses"]).iter().sum();
            assert!(
                close(t.matryoshka * d as f64, levels),
                "{name}: Matryoshka {} vs {levels} / {d}",
                t.matryoshka
            );
            assert!(close(t.reconstruction * d as f64, mse), "{name}");
            assert!(close(t.l1, want), "{name}");
            assert_eq!(t.total, t.reconstruction + t.l1 + t.matryoshka, "{name}");
            let k = widths.len() as f64;
            let dl = case["dictionary_learning_l2_loss"].as_f64().unwrap();
            let ours = (t.reconstruction + t.matryoshka) * d as f64 / (k * k);
            assert!(
                close(ours, dl),
                "{name}: {ours} vs dictionary_learning's {dl}"
            );
        }
    }
}

/// The L1 warm-up factor is `min(s / N, 1)` at step `s` of a warm-up over
/// `N` steps (SAELens's `l1_warm_up_steps`, dictionary_learning's
/// `sparsity_warmup_steps`): 0 at step 0, a half at `N/2`, 1 at `N` and
/// after; 1 throughout without a warm-up.
#[test]
fn l1_warmup_factor_is_linear_from_zero() {
    use tiedae::train::schedule::l1_warmup_factor;
    for (n, half) in [(10usize, 0.5), (7, 3.0 / 7.0)] {
        let at = [0, n / 2, n, 2 * n].map(|s| l1_warmup_factor(s, n));
        assert_eq!(at, [0.0, half, 1.0, 1.0], "N = {n}");
    }
    assert_eq!(l1_warmup_factor(0, 0), 1.0);
    assert_eq!(l1_warmup_factor(1, 4), 0.25);
}

/// The trainer uses the warmed-up coefficient: the first step (factor 0)
/// is bit for bit a step without L1, and the second (factor 1/4 of a
/// four-step warm-up) records a quarter of the full term of the model the
/// first step left.
#[test]
fn l1_warmup_scales_the_coefficient_the_trainer_uses() {
    let spec = AutoencoderSpec::new(&[6, 8]).activation(Activation::Relu);
    let x = random_matrix(30, 6, 0.0, 1.0, 61);
    let lambda = 0.2;
    let weighted = LossConfig::mse().with_decoder_norm_l1(lambda);
    // One batch per epoch: epoch e is step e - 1.
    let run = |cfg: TrainConfig| {
        Trainer::new(cfg)
            .unwrap()
            .fit(Autoencoder::<f64>::new(&spec, 4).unwrap(), &x)
            .unwrap()
    };
    let first = run(quiet(1, 30, 1e-2).loss(weighted).l1_warmup_steps(4));
    let without = run(quiet(1, 30, 1e-2));
    assert_eq!(first.model.params_to_vec(), without.model.params_to_vec());
    assert_eq!(first.history.epochs[0].train.l1, 0.0);
    let no_warmup = run(quiet(1, 30, 1e-2).loss(weighted));
    assert_ne!(
        no_warmup.model.params_to_vec(),
        without.model.params_to_vec()
    );

    let two = run(quiet(2, 30, 1e-2).loss(weighted).l1_warmup_steps(4));
    let full = first
        .model
        .loss_terms(&x, &x, &weighted, Normalizer::new(30).unwrap())
        .unwrap()
        .l1;
    assert!(full > 0.0);
    let got = two.history.epochs[1].train.l1;
    assert!(
        (got - 0.25 * full).abs() <= 1e-12 * full,
        "{got} vs a quarter of {full}"
    );
}

/// The learning rate warms up from `1/W` over the first `W` steps and
/// decays to `1/D` over the last `D` (SAELens's `lr_warm_up_steps` and
/// `lr_decay_steps`), per step: each epoch records its last step's rate,
/// and a warmed-up SGD step is bit for bit a step at the scaled rate.
#[test]
fn lr_warmup_and_decay_scale_each_step() {
    let spec = AutoencoderSpec::new(&[6, 4]).activation(Activation::Tanh);
    let x = random_matrix(24, 6, 0.0, 1.0, 62);
    let sgd = |epochs: usize, batch: usize, lr: f64| {
        TrainConfig::new()
            .epochs(epochs)
            .batch_size(batch)
            .optimizer(Optimizer::sgd())
            .learning_rate(lr)
            .seed(3)
            .progress(Progress::Silent)
    };
    let run = |cfg: TrainConfig| {
        Trainer::new(cfg)
            .unwrap()
            .fit(Autoencoder::<f64>::new(&spec, 5).unwrap(), &x)
            .unwrap()
    };
    let rates = |cfg: TrainConfig| -> Vec<f64> {
        let out = run(cfg);
        out.history
            .epochs
            .iter()
            .map(|r| r.learning_rate.unwrap())
            .collect()
    };
    // One batch per epoch: six steps.
    let lr = 0.1;
    assert_eq!(
        rates(sgd(6, 24, lr).lr_warmup_steps(2).lr_decay_steps(2)),
        vec![lr * 0.5, lr, lr, lr, lr, lr * 0.5]
    );
    // Three batches per epoch, two epochs: an epoch records its last step.
    assert_eq!(
        rates(sgd(2, 8, lr).lr_warmup_steps(4).lr_decay_steps(3)),
        vec![lr * 0.75, lr * (1.0 / 3.0)]
    );
    assert_eq!(rates(sgd(3, 24, lr)), vec![lr; 3]);
    let warm = run(sgd(1, 24, lr).lr_warmup_steps(2));
    let half = run(sgd(1, 24, lr * 0.5));
    let plain = run(sgd(1, 24, lr));
    assert_eq!(warm.model.params_to_vec(), half.model.params_to_vec());
    assert_ne!(warm.model.params_to_vec(), plain.model.params_to_vec());
}

/// The recipes' options are off by default and then absent from files (so
/// older configs load and hash as before, and a hand-written older loss
/// loads with the plain L1), round-trip when on, are refused with L-BFGS,
/// which counts no minibatch steps, and the weighted L1 is refused on a
/// conv latent pair, whose kernel rows are not latent units.
#[test]
fn sae_recipe_options_default_off_and_are_validated() {
    use tiedae::Error;
    use tiedae::model::{ConvSpec, ImageShape, L1Weighting};
    let json = serde_json::to_string(&TrainConfig::new()).unwrap();
    for key in [
        "l1_weighting",
        "l1_warmup_steps",
        "lr_warmup_steps",
        "lr_decay_steps",
    ] {
        assert!(!json.contains(key), "{key} in {json}");
    }
    let old: LossConfig =
        serde_json::from_str(r#"{"reconstruction":"mse","l1":0.1,"kl":null,"l2":0.0}"#).unwrap();
    assert_eq!(old, LossConfig::mse().with_l1(0.1));
    assert_eq!(old.l1_weighting, L1Weighting::Plain);
    let on = TrainConfig::new()
        .loss(LossConfig::mse().with_decoder_norm_l1(0.1))
        .l1_warmup_steps(10)
        .lr_warmup_steps(5)
        .lr_decay_steps(7);
    let text = serde_json::to_string(&on).unwrap();
    assert!(text.contains(r#""l1_weighting":"decoder_norm""#), "{text}");
    let back: TrainConfig = serde_json::from_str(&text).unwrap();
    assert_eq!(back, on);
    assert_ne!(on.result_hash(), TrainConfig::new().result_hash());
    assert!(on.validate().is_ok());

    let lbfgs = || TrainConfig::new().optimizer(Optimizer::lbfgs());
    for (cfg, name) in [
        (lbfgs().l1_warmup_steps(3), "l1_warmup_steps"),
        (lbfgs().lr_warmup_steps(3), "lr_warmup_steps"),
        (lbfgs().lr_decay_steps(3), "lr_decay_steps"),
    ] {
        match cfg.validate() {
            Err(Error::Config { field, .. }) => assert_eq!(field, name),
            other => panic!("{name}: {other:?}"),
        }
    }
    assert!(
        lbfgs()
            .loss(LossConfig::mse().with_decoder_norm_l1(0.1))
            .validate()
            .is_ok()
    );

    let conv =
        AutoencoderSpec::conv(ImageShape::new(2, 4, 4), &[ConvSpec::new(3, 3, 1, 1)]).unwrap();
    let m = Autoencoder::<f64>::new(&conv, 1).unwrap();
    assert!(m.check_loss(&LossConfig::mse().with_l1(0.1)).is_ok());
    match m.check_loss(&LossConfig::mse().with_decoder_norm_l1(0.1)) {
        Err(Error::Config { field, .. }) => assert_eq!(field, "l1_weighting"),
        other => panic!("{other:?}"),
    }
}

/// A run with the weighted L1, its warm-up and the learning rate's warm-up
/// and decay, interrupted mid-epoch and resumed from its checkpoint, ends
/// with the weights, losses and recorded rates of the uninterrupted run:
/// every factor is a function of the step number, which the checkpoint's
/// epoch and batch fix.
#[test]
fn warmed_up_training_resumes_bit_for_bit() {
    use std::sync::atomic::Ordering;
    use tiedae::Error;
    use tiedae::train::TrainEvent;
    let spec = AutoencoderSpec::new(&[10, 12])
        .tied(false)
        .activation(Activation::Relu)
        .bias(BiasMode::PreCentering);
    let x = random_matrix(200, 10, 0.0, 1.0, 52);
    // Five batches per epoch, fifteen steps: the warm-ups end and the decay
    // starts mid-run.
    let cfg = quiet(3, 40, 5e-3)
        .loss(LossConfig::mse().with_decoder_norm_l1(0.05))
        .l1_warmup_steps(7)
        .lr_warmup_steps(4)
        .lr_decay_steps(6);
    let full = Trainer::new(cfg.clone())
        .unwrap()
        .fit(Autoencoder::<f64>::new(&spec, 9).unwrap(), &x)
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let trainer = Trainer::new(cfg.checkpoint(dir.path(), 0)).unwrap();
    let flag = trainer.interrupt_flag();
    let r = trainer.try_fit(Autoencoder::<f64>::new(&spec, 9).unwrap(), &x, |ev| {
        if let TrainEvent::Batch {
            epoch: 2, batch: 3, ..
        } = ev
        {
            flag.store(true, Ordering::SeqCst);
        }
    });
    let path = match r {
        Err(f) => match f.error {
            Error::Interrupted {
                checkpoint: Some(p),
            } => p,
            other => panic!("expected an interrupt, got {other:?}"),
        },
        Ok(_) => panic!("the run was not interrupted"),
    };
    let resumed = trainer.resume(&path, &x).unwrap();
    assert_eq!(resumed.model.params_to_vec(), full.model.params_to_vec());
    assert_eq!(resumed.history.train_loss(), full.history.train_loss());
    let rates = |h: &History| h.epochs.iter().map(|r| r.learning_rate).collect::<Vec<_>>();
    assert_eq!(rates(&resumed.history), rates(&full.history));
    // Step 14 of 15 runs at 1/6 of the rate; step 4 at the full rate.
    assert_eq!(
        rates(&full.history),
        vec![Some(5e-3 * 1.0), Some(5e-3 * 1.0), Some(5e-3 * (1.0 / 6.0))]
    );
}

/// The Matryoshka term's gradient matches central differences for tied
/// and untied pairs, every bias mode, smooth, kinked and TopK latents, and
/// identity and sigmoid outputs with MSE and binary cross-entropy, away
/// from kinks; the term is not negligible (the gradient without it fails
/// the same oracle), and a tied weight's gradient is the sum of its parts.
#[test]
fn matryoshka_gradient_matches_finite_differences() {
    let prefixes = Matryoshka::new(&[2, 4]).unwrap();
    let mut cases = 0;
    for tied in [true, false] {
        for bias in BiasMode::ALL {
            for act in [
                Activation::Tanh,
                Activation::Relu,
                Activation::TopK { k: 3 },
            ] {
                for (output, base) in [
                    (OutputActivation::Identity, LossConfig::mse()),
                    (OutputActivation::Sigmoid, LossConfig::mse()),
                    (OutputActivation::Sigmoid, LossConfig::bce()),
                ] {
                    let spec = AutoencoderSpec::new(&[6, 5])
                        .activation(act)
                        .bias(bias)
                        .tied(tied)
                        .output(output);
                    let loss = base.with_matryoshka(prefixes);
                    let label = format!("tied {tied} {bias:?} {act:?} {output:?} {base:?}");
                    let (m, x) = (0..100u64)
                        .map(|s| {
                            let m = random_model(&spec, 500 + s);
                            (m, random_matrix(5, 6, 0.0, 1.0, 600 + s))
                        })
                        .find(|(m, x)| !near_kink(m, x, &loss))
                        .unwrap_or_else(|| panic!("{label}: every draw lands near a kink"));
                    let (t, g) = m.objective_and_grad(&x, &x, &loss).unwrap();
                    assert!(t.matryoshka > 0.0, "{label}");
                    assert_eq!(t.total, t.reconstruction + t.matryoshka, "{label}");
                    let numeric = numeric_gradient(&m, &x, &x, &loss);
                    compare(&m, g.as_slice(), &numeric).unwrap_or_else(|e| panic!("{label}: {e}"));
                    let (_, without) = m.objective_and_grad(&x, &x, &base).unwrap();
                    assert!(
                        compare(&m, without.as_slice(), &numeric).is_err(),
                        "{label}: the oracle does not see the term"
                    );
                    if let Some(p) = g.tied_parts(0) {
                        let s = &m.layout().layers()[0];
                        for k in 0..s.weight.len() {
                            let sum = p.encoder[k] + p.decoder[k];
                            assert_eq!(g.as_slice()[s.weight.start + k], sum, "{label}: {k}");
                        }
                    }
                    cases += 1;
                }
            }
        }
    }
    assert_eq!(cases, 2 * 4 * 3 * 3);
}

/// A Matryoshka level is the model cut to its first `m` latents: the
/// encoder's first `m` rows, the decoder's first `m` directions (a tied
/// `W`'s first `m` rows, an untied `W_dec`'s first `m` columns) and the
/// prefix's share of the biases. With an element-wise activation the cut
/// model's code is the truncated code (up to rounding: the products have
/// other shapes), so the term is the sum of the cut models'
/// reconstruction terms, for every bias mode, tied and untied.
#[test]
fn matryoshka_levels_are_the_models_cut_to_their_prefixes() {
    let prefixes = [1usize, 3, 4];
    let mt = Matryoshka::new(&prefixes).unwrap();
    for tied in [true, false] {
        for bias in BiasMode::ALL {
            let label = format!("tied {tied} {bias:?}");
            let spec = AutoencoderSpec::new(&[6, 5])
                .activation(Activation::Tanh)
                .bias(bias)
                .tied(tied);
            let m = random_model(&spec, 71);
            let x = random_matrix(8, 6, -1.0, 1.0, 72);
            let norm = Normalizer::new(8).unwrap();
            let full = m
                .loss_terms(&x, &x, &LossConfig::mse().with_matryoshka(mt), norm)
                .unwrap();
            let plain = m.loss_terms(&x, &x, &LossConfig::mse(), norm).unwrap();
            assert_eq!(full.reconstruction, plain.reconstruction, "{label}");
            let cut_biases = |b: &Biases<f64>, k: usize| match b {
                Biases::None => Biases::None,
                Biases::Separate { enc, dec } => Biases::Separate {
                    enc: enc.rows(0, k).into_owned(),
                    dec: dec.clone(),
                },
                Biases::Mirrored { enc } => Biases::Mirrored {
                    enc: enc.rows(0, k).into_owned(),
                },
                Biases::PreCentering { pre } => Biases::PreCentering { pre: pre.clone() },
            };
            let mut sum = 0.0;
            for &k in &prefixes {
                let layer = match &m.layers()[0] {
                    Layer::Tied(t) => Layer::Tied(
                        TiedLinear::new(
                            t.weight().rows(0, k).into_owned(),
                            cut_biases(t.biases(), k),
                        )
                        .unwrap(),
                    ),
                    Layer::Dense(dn) => Layer::Dense(
                        Dense::new(
                            dn.encoder_weight().rows(0, k).into_owned(),
                            dn.decoder_weight().columns(0, k).into_owned(),
                            cut_biases(dn.biases(), k),
                        )
                        .unwrap(),
                    ),
                };
                let cut_spec = AutoencoderSpec::new(&[6, k])
                    .activation(Activation::Tanh)
                    .bias(bias)
                    .tied(tied);
                let cut = Autoencoder::from_layers(cut_spec, vec![layer]).unwrap();
                let code = cut.encode(&x).unwrap();
                let prefix = m.encode(&x).unwrap().columns(0, k).into_owned();
                assert!((code - prefix).amax() <= 1e-14, "{label}: codes");
                sum += cut
                    .loss_terms(&x, &x, &LossConfig::mse(), norm)
                    .unwrap()
                    .reconstruction;
            }
            assert!(
                (full.matryoshka - sum).abs() <= 1e-12 * sum,
                "{label}: {} vs {sum}",
                full.matryoshka
            );
        }
    }
}

/// Shards of a batch add up to the batch with the Matryoshka term and the
/// weighted L1 (both are sums over rows), whatever the shard size: the
/// engine's gradient, whose tied slots are built from the parts when each
/// block holds one shard, equals one call on the whole batch.
#[test]
fn matryoshka_and_weighted_l1_shards_add_up() {
    use tiedae::train::ShardEngine;
    let loss = LossConfig::mse()
        .with_decoder_norm_l1(0.05)
        .with_matryoshka(Matryoshka::new(&[2, 5]).unwrap());
    for tied in [true, false] {
        let spec = AutoencoderSpec::new(&[7, 6])
            .activation(Activation::Relu)
            .bias(BiasMode::PreCentering)
            .tied(tied);
        let m = random_model(&spec, 81);
        let x = random_matrix(37, 7, 0.0, 1.0, 82);
        let (want_t, want_g) = m.objective_and_grad(&x, &x, &loss).unwrap();
        assert!(want_t.matryoshka > 0.0 && want_t.l1 > 0.0);
        let rows: Vec<usize> = (0..37).collect();
        for shard in [1, 4, 10, 37, 64] {
            let mut eng = ShardEngine::<f64>::new(shard).unwrap();
            let (t, g, _) = eng.loss_and_grad(&m, &x, &rows, &loss).unwrap();
            let close = |a: f64, b: f64| (a - b).abs() <= 1e-12 * (1.0 + b.abs());
            assert!(
                close(t.matryoshka, want_t.matryoshka),
                "tied {tied} shard {shard}"
            );
            assert!(close(t.l1, want_t.l1), "tied {tied} shard {shard}");
            assert!(close(t.total, want_t.total), "tied {tied} shard {shard}");
            for (k, (a, b)) in g.as_slice().iter().zip(want_g.as_slice()).enumerate() {
                assert!(
                    close(*a, *b),
                    "tied {tied} shard {shard} entry {k}: {a} vs {b}"
                );
            }
        }
    }
}

/// A Matryoshka term is built from strictly increasing positive prefixes,
/// at most `MAX_MATRYOSHKA_PREFIXES` of them, reads and writes as its list
/// of prefixes (and is left out of files when off), and fits only a single
/// dense pair whose latents outnumber every prefix; a trainer refuses a
/// model it does not fit before any work. A run with it records the term.
#[test]
fn matryoshka_is_validated_and_recorded() {
    use tiedae::Error;
    use tiedae::model::MAX_MATRYOSHKA_PREFIXES;
    for bad in [vec![], vec![0, 2], vec![3, 3], vec![4, 2]] {
        assert!(Matryoshka::new(&bad).is_err(), "{bad:?}");
    }
    let many: Vec<usize> = (1..=MAX_MATRYOSHKA_PREFIXES + 1).collect();
    assert!(Matryoshka::new(&many).is_err());
    assert!(Matryoshka::new(&many[..MAX_MATRYOSHKA_PREFIXES]).is_ok());
    let mt = Matryoshka::new(&[2, 5]).unwrap();
    assert_eq!(mt.prefixes(), &[2, 5]);

    let json = serde_json::to_string(&LossConfig::mse()).unwrap();
    assert!(!json.contains("matryoshka"), "{json}");
    let on = LossConfig::mse().with_matryoshka(mt);
    let text = serde_json::to_string(&on).unwrap();
    assert!(
        text.contains(r#""matryoshka":{"prefixes":[2,5]}"#),
        "{text}"
    );
    assert_eq!(serde_json::from_str::<LossConfig>(&text).unwrap(), on);
    for bad in [
        r#"{"prefixes":[]}"#,
        r#"{"prefixes":[5,2]}"#,
        r#"{"prefixes":[2],"weights":[1.0]}"#,
    ] {
        assert!(serde_json::from_str::<Matryoshka>(bad).is_err(), "{bad}");
    }

    let field = |spec: AutoencoderSpec, loss: &LossConfig| match Autoencoder::<f64>::new(&spec, 1)
        .unwrap()
        .check_loss(loss)
    {
        Err(Error::Config { field, .. }) => field,
        other => panic!("{other:?}"),
    };
    assert_eq!(field(AutoencoderSpec::new(&[8, 6, 6]), &on), "matryoshka");
    assert_eq!(
        field(AutoencoderSpec::new(&[8, 5]), &on),
        "matryoshka.prefixes"
    );
    assert!(
        Autoencoder::<f64>::new(&AutoencoderSpec::new(&[8, 6]), 1)
            .unwrap()
            .check_loss(&on)
            .is_ok()
    );
    let x = random_matrix(40, 8, 0.0, 1.0, 91);
    let cfg = quiet(3, 10, 1e-2).loss(on);
    let deep = Autoencoder::<f64>::new(&AutoencoderSpec::new(&[8, 6, 6]), 1).unwrap();
    let r = Trainer::new(cfg.clone()).unwrap().try_fit(deep, &x, |_| {});
    match r {
        Err(f) => {
            assert!(
                matches!(
                    f.error,
                    Error::Config {
                        field: "matryoshka",
                        ..
                    }
                ),
                "{}",
                f.error
            );
            assert!(f.history.epochs.is_empty());
        }
        Ok(_) => panic!("a deep model trained with a Matryoshka term"),
    }

    let spec = AutoencoderSpec::new(&[8, 6]).activation(Activation::Relu);
    let out = Trainer::new(cfg)
        .unwrap()
        .fit(Autoencoder::<f64>::new(&spec, 1).unwrap(), &x)
        .unwrap();
    assert!(out.history.epochs.iter().all(|r| r.train.matryoshka > 0.0));
    let df = out.history.to_dataframe().unwrap();
    assert!(df.column("train_matryoshka").is_ok());
    let plain = Trainer::new(quiet(1, 10, 1e-2))
        .unwrap()
        .fit(Autoencoder::<f64>::new(&spec, 1).unwrap(), &x)
        .unwrap();
    assert!(
        plain
            .history
            .to_dataframe()
            .unwrap()
            .column("train_matryoshka")
            .is_err()
    );
}
