//! Model behaviour: determinism, batch/row/shard consistency, loss values
//! against direct formulas, parameter counts in closed form, PCA theory
//! (Eckart–Young) and model files.

mod threads;
use nalgebra::{DMatrix, DVector};
use rand::RngExt;
use tiedae::Error;
use tiedae::model::{
    Activation, Autoencoder, AutoencoderSpec, BiasMode, Biases, Gradient, Init, Layer, LossConfig,
    LossTerms, Normalizer, OutputActivation, TiedLinear, Workspace,
};
use tiedae::rng::seeded;

fn random_matrix(rows: usize, cols: usize, lo: f64, hi: f64, seed: u64) -> DMatrix<f64> {
    let mut rng = seeded(seed);
    DMatrix::from_fn(rows, cols, |_, _| rng.random_range(lo..hi))
}

/// Randomises every parameter, biases included.
fn randomise<T: tiedae::Real>(m: &mut Autoencoder<T>, seed: u64) {
    let mut rng = seeded(seed);
    let p: Vec<T> = (0..m.n_params())
        .map(|_| T::of(rng.random_range(-0.5..0.5)))
        .collect();
    m.set_params(&p).unwrap();
}

fn model(spec: &AutoencoderSpec, seed: u64) -> Autoencoder<f64> {
    let mut m = Autoencoder::new(spec, seed).unwrap();
    randomise(&mut m, seed + 1);
    m
}

/// A mid-sized architecture, large enough for the gemm's blocked
/// kernels and with every kind of layer and bias.
fn mixed_spec(bias: BiasMode) -> AutoencoderSpec {
    AutoencoderSpec::new(&[40, 17, 9, 5])
        .tied_per_layer(vec![true, false, true])
        .activations(vec![
            Activation::Gelu,
            Activation::Tanh,
            Activation::Sigmoid,
        ])
        .output(OutputActivation::Sigmoid)
        .bias(bias)
}

fn rows(m: &DMatrix<f64>, idx: &[usize]) -> DMatrix<f64> {
    DMatrix::from_fn(idx.len(), m.ncols(), |i, j| m[(idx[i], j)])
}

fn rel_close(a: f64, b: f64, tol: f64) -> bool {
    (a - b).abs() <= tol * a.abs().max(b.abs()).max(1e-300)
}

#[test]
fn backward_twice_gives_bitwise_identical_gradients() {
    let loss = LossConfig::bce()
        .with_l1(0.01)
        .with_kl(0.1, 0.5)
        .with_l2(1e-3);
    for bias in BiasMode::ALL {
        let m = model(&mixed_spec(bias), 1);
        let x = random_matrix(33, 40, 0.0, 1.0, 2);
        let (t1, g1) = m.objective_and_grad(&x, &x, &loss).unwrap();
        // Second pass through a reused workspace and gradient buffer.
        let mut ws = Workspace::new();
        let mut g2 = m.zero_gradient();
        let norm = Normalizer::new(33).unwrap();
        m.loss_and_grad_with(&x, &x, &loss, norm, &mut ws, &mut g2)
            .unwrap();
        let mut t2 = m
            .loss_and_grad_with(&x, &x, &loss, norm, &mut ws, &mut g2)
            .unwrap();
        m.l2_penalty_and_grad(&loss, &mut t2, &mut g2).unwrap();
        assert_eq!(t1, t2);
        assert_eq!(g1, g2, "{bias:?}");
        // f32 as well.
        let mut m32 = Autoencoder::<f32>::new(&mixed_spec(bias), 1).unwrap();
        randomise(&mut m32, 2);
        let x32 = x.map(|v| v as f32);
        let a = m32.objective_and_grad(&x32, &x32, &loss).unwrap();
        let b = m32.objective_and_grad(&x32, &x32, &loss).unwrap();
        assert_eq!(a, b);
    }
}

#[test]
fn f32_gradients_agree_with_f64() {
    let spec = mixed_spec(BiasMode::Separate);
    let m64 = model(&spec, 5);
    let mut m32 = Autoencoder::<f32>::new(&spec, 0).unwrap();
    let p: Vec<f32> = m64.params_to_vec().iter().map(|&v| v as f32).collect();
    m32.set_params(&p).unwrap();
    let x = random_matrix(20, 40, 0.0, 1.0, 6);
    let x32 = x.map(|v| v as f32);
    let loss = LossConfig::bce().with_l1(0.01).with_l2(0.01);
    let (t64, g64) = m64.objective_and_grad(&x, &x, &loss).unwrap();
    let (t32, g32) = m32.objective_and_grad(&x32, &x32, &loss).unwrap();
    assert!(rel_close(t64.total, t32.total, 1e-5));
    let scale = g64.as_slice().iter().fold(0.0f64, |a, v| a.max(v.abs()));
    for (a, b) in g64.as_slice().iter().zip(g32.as_slice()) {
        assert!((a - f64::from(*b)).abs() <= 1e-4 * scale, "{a} vs {b}");
    }
}

/// Bit for bit, in f64 and f32, also for batches taller than the gemm
/// kernels' row tiles (48 rows for f64, 96 for f32 with AVX-512), whose
/// last rows go through narrower kernels than a row alone.
#[test]
fn encoding_a_batch_equals_encoding_its_rows_one_by_one() {
    fn check<T: tiedae::Real>(m: &Autoencoder<T>, x: &DMatrix<T>, what: &str) {
        let code = m.encode(x).unwrap();
        let recon = m.reconstruct(x).unwrap();
        for i in 0..x.nrows() {
            let row = x.rows(i, 1).into_owned();
            let c = m.encode(&row).unwrap();
            let r = m.reconstruct(&row).unwrap();
            assert_eq!(c.row(0), code.row(i), "{what} row {i}");
            assert_eq!(r.row(0), recon.row(i), "{what} row {i}");
        }
    }
    for bias in BiasMode::ALL {
        let m = model(&mixed_spec(bias), 3);
        for n in [25, 200] {
            let x = random_matrix(n, 40, -1.0, 1.0, 4);
            check(&m, &x, &format!("{bias:?} f64 {n} rows"));
            let mut m32 = Autoencoder::<f32>::new(&mixed_spec(bias), 3).unwrap();
            randomise(&mut m32, 4);
            check(
                &m32,
                &x.map(|v| v as f32),
                &format!("{bias:?} f32 {n} rows"),
            );
        }
    }
}

#[test]
fn permuting_the_batch_permutes_the_outputs() {
    let m = model(&mixed_spec(BiasMode::PreCentering), 7);
    let x = random_matrix(31, 40, -1.0, 1.0, 8);
    let mut perm: Vec<usize> = (0..31).collect();
    let mut rng = seeded(9);
    for i in (1..perm.len()).rev() {
        perm.swap(i, rng.random_range(0..=i));
    }
    let px = rows(&x, &perm);
    let code = m.encode(&x).unwrap();
    let pcode = m.encode(&px).unwrap();
    let recon = m.reconstruct(&x).unwrap();
    let precon = m.reconstruct(&px).unwrap();
    assert_eq!(pcode, rows(&code, &perm));
    assert_eq!(precon, rows(&recon, &perm));
}

/// Splits rows `0..n` into consecutive shards of `size` (last one shorter).
fn shards(n: usize, size: usize) -> Vec<Vec<usize>> {
    (0..n)
        .step_by(size)
        .map(|s| (s..(s + size).min(n)).collect())
        .collect()
}

fn sharded(
    m: &Autoencoder<f64>,
    x: &DMatrix<f64>,
    loss: &LossConfig,
    size: usize,
) -> (LossTerms, Gradient<f64>) {
    let norm = Normalizer::new(x.nrows()).unwrap();
    let mut terms = LossTerms::default();
    let mut grad = m.zero_gradient();
    for idx in shards(x.nrows(), size) {
        let xs = rows(x, &idx);
        let (t, g) = m.loss_and_grad(&xs, &xs, loss, norm).unwrap();
        terms.add(&t);
        grad.add_assign(&g).unwrap();
    }
    m.l2_penalty_and_grad(loss, &mut terms, &mut grad).unwrap();
    (terms, grad)
}

#[test]
fn shard_sums_equal_the_full_batch() {
    for bias in BiasMode::ALL {
        for loss in [
            LossConfig::mse().with_l1(0.02).with_l2(0.01),
            LossConfig::bce().with_l1(0.05),
        ] {
            let m = model(&mixed_spec(bias), 10);
            let x = random_matrix(26, 40, 0.0, 1.0, 11);
            let (full_t, full_g) = m.objective_and_grad(&x, &x, &loss).unwrap();
            let (t, g) = sharded(&m, &x, &loss, 7);
            for (a, b) in [
                (full_t.reconstruction, t.reconstruction),
                (full_t.l1, t.l1),
                (full_t.l2, t.l2),
                (full_t.total, t.total),
            ] {
                assert!(rel_close(a, b, 1e-12), "{bias:?}: {a} vs {b}");
            }
            let scale = full_g.norm();
            for (a, b) in full_g.as_slice().iter().zip(g.as_slice()) {
                assert!((a - b).abs() <= 1e-12 * scale, "{bias:?}: {a} vs {b}");
            }
            for l in [0, 2] {
                let (pf, ps) = (full_g.tied_parts(l).unwrap(), g.tied_parts(l).unwrap());
                for (a, b) in pf.decoder.iter().zip(&ps.decoder) {
                    assert!((a - b).abs() <= 1e-12 * scale);
                }
            }
        }
    }
}

/// A shard without rows contributes nothing (and does not fail).
#[test]
fn an_empty_shard_contributes_zero() {
    let m = model(&mixed_spec(BiasMode::PreCentering), 14);
    let x = DMatrix::<f64>::zeros(0, 40);
    let loss = LossConfig::bce().with_l1(0.1).with_kl(0.2, 1.0);
    let (t, g) = m
        .loss_and_grad(&x, &x, &loss, Normalizer::new(8).unwrap())
        .unwrap();
    assert_eq!(t, LossTerms::default());
    assert!(g.as_slice().iter().all(|&v| v == 0.0));
    assert_eq!(m.encode(&x).unwrap().shape(), (0, 5));
}

/// The trainer's contract: fixed-size shards computed on any number of
/// threads and summed in shard order give the same bits, KL term included
/// (its ρ̂ is per shard, and the shards do not change with the pool).
#[test]
fn sharded_results_do_not_depend_on_the_thread_count() {
    use rayon::prelude::*;
    let m = model(&mixed_spec(BiasMode::Mirrored), 12);
    let x = random_matrix(50, 40, 0.0, 1.0, 13);
    let loss = LossConfig::bce()
        .with_l1(0.01)
        .with_kl(0.2, 0.4)
        .with_l2(1e-3);
    let norm = Normalizer::new(50).unwrap();
    let run = |threads: usize| {
        threads::on_threads(threads, || {
            let parts: Vec<_> = shards(50, 8)
                .par_iter()
                .map(|idx| {
                    let xs = rows(&x, idx);
                    m.loss_and_grad(&xs, &xs, &loss, norm).unwrap()
                })
                .collect();
            let mut terms = LossTerms::default();
            let mut grad = m.zero_gradient();
            for (t, g) in &parts {
                terms.add(t);
                grad.add_assign(g).unwrap();
            }
            m.l2_penalty_and_grad(&loss, &mut terms, &mut grad).unwrap();
            (terms, grad)
        })
    };
    let one = run(1);
    for threads in [2, 3, 4] {
        assert_eq!(run(threads), one, "{threads} threads");
    }
}

/// Each loss term against its textbook formula evaluated from the model's
/// public outputs (logits, code, weights).
#[test]
fn loss_terms_match_direct_formulas() {
    let spec = mixed_spec(BiasMode::Separate);
    let m = model(&spec, 14);
    let x = random_matrix(12, 40, 0.0, 1.0, 15);
    let t = random_matrix(12, 40, 0.0, 1.0, 16);
    let (l1, rho, beta, l2) = (0.03, 0.15, 0.7, 0.02);
    let n_total = 30; // a shard of 12 rows of a 30-row batch
    let norm = Normalizer::new(n_total).unwrap();

    let logits = m.output_logits(&x).unwrap();
    let code = m.encode(&x).unwrap();
    let (n, d) = (12.0, 40.0);
    let bce: f64 = logits
        .iter()
        .zip(t.iter())
        .map(|(&z, &y)| {
            let p = 1.0 / (1.0 + (-z).exp());
            -(y * p.ln() + (1.0 - y) * (1.0 - p).ln())
        })
        .sum::<f64>()
        / (n_total as f64 * d);
    let l1_term = l1 * code.iter().map(|h| h.abs()).sum::<f64>() / n_total as f64;
    let kl_term = beta
        * (0..code.ncols())
            .map(|k| {
                let q = code.column(k).sum() / n;
                rho * (rho / q).ln() + (1.0 - rho) * ((1.0 - rho) / (1.0 - q)).ln()
            })
            .sum::<f64>()
        * n
        / n_total as f64;
    let weights_sq: f64 = m
        .layers()
        .iter()
        .map(|l| match l {
            Layer::Tied(t) => t.weight().norm_squared(),
            Layer::Dense(d) => {
                d.encoder_weight().norm_squared() + d.decoder_weight().norm_squared()
            }
        })
        .sum();

    let loss = LossConfig::bce().with_l1(l1).with_kl(rho, beta).with_l2(l2);
    let mut terms = m.loss_terms(&x, &t, &loss, norm).unwrap();
    let (gt, mut g) = m.loss_and_grad(&x, &t, &loss, norm).unwrap();
    assert_eq!(terms, gt);
    m.l2_penalty_and_grad(&loss, &mut terms, &mut g).unwrap();
    assert!(rel_close(terms.reconstruction, bce, 1e-12));
    assert!(rel_close(terms.l1, l1_term, 1e-12));
    assert!(rel_close(terms.kl, kl_term, 1e-12));
    assert!(rel_close(terms.l2, 0.5 * l2 * weights_sq, 1e-12));
    assert!(rel_close(
        terms.total,
        bce + l1_term + kl_term + 0.5 * l2 * weights_sq,
        1e-12
    ));

    // MSE against reconstruction_mse, which is computed separately.
    let linear = model(&AutoencoderSpec::new(&[40, 6]), 17);
    let mse = linear
        .loss_terms(&x, &x, &LossConfig::mse(), Normalizer::new(12).unwrap())
        .unwrap();
    let recon = linear.reconstruct(&x).unwrap();
    let direct = (recon - &x).norm_squared() / (n * d);
    assert!(rel_close(mse.reconstruction, direct, 1e-12));
    assert!(rel_close(
        linear.reconstruction_mse(&x).unwrap(),
        direct,
        1e-12
    ));
}

#[test]
fn bce_stays_finite_when_the_sigmoid_saturates() {
    let spec = AutoencoderSpec::new(&[4, 2]).output(OutputActivation::Sigmoid);
    let mut m = Autoencoder::<f64>::new(&spec, 0).unwrap();
    let p: Vec<f64> = (0..m.n_params())
        .map(|k| if k % 2 == 0 { 40.0 } else { -40.0 })
        .collect();
    m.set_params(&p).unwrap();
    let x = DMatrix::from_row_slice(2, 4, &[1.0, 0.0, 1.0, 0.0, 0.0, 1.0, 0.0, 1.0]);
    let logits = m.output_logits(&x).unwrap();
    assert!(logits.iter().any(|z| z.abs() > 800.0), "{logits}");
    // Targets opposite to the confident logits: the loss is huge but finite.
    let target = x.map(|v| 1.0 - v);
    let (t, g) = m
        .objective_and_grad(&x, &target, &LossConfig::bce())
        .unwrap();
    assert!(g.is_finite());
    // Oracle: −[y ln σ(z) + (1 − y) ln(1 − σ(z))] = y softplus(−z) + (1 − y) softplus(z),
    // with softplus(u) = u for large u (exact in f64 beyond u = 40).
    let softplus = |u: f64| if u > 40.0 { u } else { u.exp().ln_1p() };
    let expect = logits
        .iter()
        .zip(target.iter())
        .map(|(&z, &y)| y * softplus(-z) + (1.0 - y) * softplus(z))
        .sum::<f64>()
        / 8.0;
    assert!(expect > 10.0, "{expect}");
    assert!(rel_close(t.total, expect, 1e-12), "{} vs {expect}", t.total);
}

#[test]
fn parameter_counts_follow_the_closed_forms() {
    let (d, h) = (784, 64);
    for bias in BiasMode::ALL {
        let b = match bias {
            BiasMode::None => 0,
            BiasMode::Separate => h + d,
            BiasMode::Mirrored => h,
            BiasMode::PreCentering => d,
        };
        let tied = Autoencoder::<f32>::new(&AutoencoderSpec::new(&[d, h]).bias(bias), 0).unwrap();
        let untied =
            Autoencoder::<f32>::new(&AutoencoderSpec::new(&[d, h]).bias(bias).tied(false), 0)
                .unwrap();
        let (ct, cu) = (tied.parameter_count(), untied.parameter_count());
        assert_eq!(ct.total, d * h + b);
        assert_eq!(cu.total, 2 * d * h + b);
        assert_eq!(
            (ct.layers[0].weights, ct.layers[0].biases, ct.layers[0].tied),
            (d * h, b, true)
        );
        assert_eq!(
            (cu.layers[0].weights, cu.layers[0].biases, cu.layers[0].tied),
            (2 * d * h, b, false)
        );
        assert_eq!(tied.params_to_vec().len(), ct.total);
        assert_eq!(untied.n_params(), cu.total);
    }
    // A deep mixed stack: the sum of its pairs.
    let spec = AutoencoderSpec::new(&[784, 256, 64])
        .tied_per_layer(vec![true, false])
        .bias(BiasMode::Separate);
    let c = Autoencoder::<f32>::new(&spec, 0).unwrap().parameter_count();
    assert_eq!(
        c.layers[0].weights + c.layers[0].biases,
        784 * 256 + 256 + 784
    );
    assert_eq!(
        c.layers[1].weights + c.layers[1].biases,
        2 * 256 * 64 + 64 + 256
    );
    assert_eq!(c.total, 784 * 256 + 256 + 784 + 2 * 256 * 64 + 64 + 256);
}

#[test]
fn flat_order_is_the_documented_one() {
    let spec = AutoencoderSpec::new(&[4, 3, 2])
        .tied_per_layer(vec![true, false])
        .bias(BiasMode::Separate);
    let m = model(&spec, 20);
    let p = m.params_to_vec();
    let w = m.layers()[0].encoder_weight();
    // Layer 0: W row-major, then b_enc (3), b_dec (4).
    for i in 0..3 {
        for j in 0..4 {
            assert_eq!(p[i * 4 + j], w[(i, j)]);
        }
    }
    let b = m.layers()[0].biases();
    assert_eq!(&p[12..15], b.encoder().unwrap().as_slice());
    assert_eq!(&p[15..19], b.decoder().unwrap().as_slice());
    // Layer 1: W_enc (2x3) row-major, W_dec (3x2) row-major, b_enc (2), b_dec (3).
    let dense = m.layers()[1].as_dense().unwrap();
    for i in 0..2 {
        for j in 0..3 {
            assert_eq!(p[19 + i * 3 + j], dense.encoder_weight()[(i, j)]);
            assert_eq!(p[25 + j * 2 + i], dense.decoder_weight()[(j, i)]);
        }
    }
    assert_eq!(&p[31..33], dense.biases().encoder().unwrap().as_slice());
    assert_eq!(&p[33..36], dense.biases().decoder().unwrap().as_slice());
    assert_eq!(p.len(), 36);
    let s = &m.layout().layers()[1];
    assert_eq!(
        (s.weight.clone(), s.decoder_weight.clone()),
        (19..25, Some(25..31))
    );
    assert_eq!(
        (s.encoder_bias(), s.decoder_bias()),
        (Some(31..33), Some(33..36))
    );
    // set_params(params_to_vec()) is the identity.
    let mut m2 = Autoencoder::<f64>::new(&spec, 99).unwrap();
    m2.set_params(&p).unwrap();
    assert_eq!(m2, m);
}

#[test]
fn set_params_rejects_bad_vectors_and_keeps_the_model() {
    let spec = AutoencoderSpec::new(&[4, 3]).bias(BiasMode::Mirrored);
    let mut m = model(&spec, 21);
    let before = m.clone();
    assert!(matches!(m.set_params(&[0.0; 5]), Err(Error::Shape(_))));
    let mut p = m.params_to_vec();
    p[13] = f64::NAN;
    match m.set_params(&p) {
        Err(Error::InvalidData(msg)) => assert!(msg.contains("layer 0 encoder bias"), "{msg}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(m, before);
}

#[test]
fn initialisation_is_seeded_and_shared_between_tied_and_untied() {
    let spec = AutoencoderSpec::new(&[30, 10, 4]).bias(BiasMode::Separate);
    let a = Autoencoder::<f64>::new(&spec, 5).unwrap();
    assert_eq!(a, Autoencoder::<f64>::new(&spec, 5).unwrap());
    assert_ne!(
        a.params_to_vec(),
        Autoencoder::<f64>::new(&spec, 6).unwrap().params_to_vec()
    );
    let untied = Autoencoder::<f64>::new(&spec.clone().tied(false), 5).unwrap();
    for l in 0..2 {
        assert_eq!(
            a.layers()[l].encoder_weight(),
            untied.layers()[l].encoder_weight()
        );
    }
    // Decoder weights are drawn independently of the encoder ones.
    assert_ne!(
        untied.layers()[0].decoder_weight(),
        untied.layers()[0].encoder_weight().transpose()
    );
    let a32 = Autoencoder::<f32>::new(&spec, 5).unwrap();
    for (x, y) in a.params_to_vec().iter().zip(a32.params_to_vec()) {
        assert_eq!(*x as f32, y);
    }
    // Glorot bound sqrt(6 / (d + r)), biases zero.
    let bound = (6.0f64 / 40.0).sqrt();
    let w = a.layers()[0].encoder_weight();
    assert!(w.iter().all(|v| v.abs() < bound));
    assert!(w.iter().any(|v| v.abs() > 0.8 * bound));
    assert!(
        a.layers()[0]
            .biases()
            .encoder()
            .unwrap()
            .iter()
            .all(|&b| b == 0.0)
    );
    // Normal init: sample std close to the requested one.
    let n = Autoencoder::<f64>::new(
        &AutoencoderSpec::new(&[200, 50]).init(Init::Normal { std: 0.01 }),
        1,
    )
    .unwrap();
    let w = n.layers()[0].encoder_weight();
    let sd = (w.norm_squared() / w.len() as f64).sqrt();
    assert!((sd - 0.01).abs() < 0.0005, "{sd}");
}

#[test]
fn invalid_specs_are_rejected_with_the_field_named() {
    let cases: Vec<(AutoencoderSpec, &str)> = vec![
        (AutoencoderSpec::new(&[5]), "dims"),
        (AutoencoderSpec::new(&[5, 0]), "dims"),
        (
            AutoencoderSpec::new(&[5, 3]).tied_per_layer(vec![true, false]),
            "tied",
        ),
        (
            AutoencoderSpec::new(&[5, 3, 2]).activations(vec![Activation::Relu]),
            "hidden",
        ),
        (
            AutoencoderSpec::new(&[5, 3]).activation(Activation::Elu { alpha: -1.0 }),
            "activation",
        ),
        (
            AutoencoderSpec::new(&[5, 3]).init(Init::Normal { std: 0.0 }),
            "init",
        ),
    ];
    for (spec, field) in cases {
        match Autoencoder::<f64>::new(&spec, 0) {
            Err(Error::Config { field: f, .. }) => assert_eq!(f, field),
            other => panic!("{field}: {other:?}"),
        }
    }
}

#[test]
fn bad_calls_get_clear_errors() {
    let relu = model(
        &AutoencoderSpec::new(&[5, 3]).activation(Activation::Relu),
        1,
    );
    let x = random_matrix(4, 5, 0.0, 1.0, 2);
    let norm = Normalizer::new(4).unwrap();
    let mse = LossConfig::mse();
    assert!(matches!(
        relu.encode(&random_matrix(4, 6, 0.0, 1.0, 3)),
        Err(Error::Shape(_))
    ));
    let mut nan = x.clone();
    nan[(2, 1)] = f64::NAN;
    assert!(matches!(relu.encode(&nan), Err(Error::InvalidData(_))));
    assert!(matches!(
        relu.loss_and_grad(&x, &nan, &mse, norm),
        Err(Error::InvalidData(_))
    ));
    assert!(matches!(
        relu.loss_and_grad(&x, &x.rows(0, 3).into_owned(), &mse, norm),
        Err(Error::Shape(_))
    ));
    let cfg_field = |r: tiedae::Result<(LossTerms, Gradient<f64>)>| match r {
        Err(Error::Config { field, .. }) => field,
        other => panic!("{other:?}"),
    };
    assert_eq!(
        cfg_field(relu.loss_and_grad(&x, &x, &LossConfig::bce(), norm)),
        "reconstruction"
    );
    assert_eq!(
        cfg_field(relu.loss_and_grad(&x, &x, &mse.with_kl(0.1, 1.0), norm)),
        "kl"
    );
    assert_eq!(
        cfg_field(relu.loss_and_grad(&x, &x, &mse.with_l1(-1.0), norm)),
        "l1"
    );
    assert_eq!(
        cfg_field(relu.loss_and_grad(&x, &x, &mse.with_kl(1.0, 1.0), norm)),
        "kl.target"
    );
    assert_eq!(
        cfg_field(relu.loss_and_grad(&x, &x, &mse, Normalizer::new(3).unwrap())),
        "normalizer"
    );
    assert!(Normalizer::new(0).is_err());
    let sig = model(
        &AutoencoderSpec::new(&[5, 3]).output(OutputActivation::Sigmoid),
        1,
    );
    let mut above = x.clone();
    above[(0, 0)] = 1.5;
    assert!(matches!(
        sig.loss_and_grad(&x, &above, &LossConfig::bce(), norm),
        Err(Error::InvalidData(_))
    ));
    // A saturated sigmoid latent makes KL infinite: reported, not returned as inf.
    let mut sat = model(
        &AutoencoderSpec::new(&[5, 3]).activation(Activation::Sigmoid),
        1,
    );
    let p: Vec<f64> = vec![1e4; sat.n_params()];
    sat.set_params(&p).unwrap();
    assert!(matches!(
        sat.loss_and_grad(&x, &x, &mse.with_kl(0.1, 1.0), norm),
        Err(Error::Numerical(_))
    ));
    assert!(matches!(
        relu.reconstruction_mse(&DMatrix::zeros(0, 5)),
        Err(Error::InvalidData(_))
    ));
}

/// Covariance eigenvectors (descending eigenvalues) and the data mean.
fn pca(x: &DMatrix<f64>) -> (DMatrix<f64>, Vec<f64>, DVector<f64>) {
    let n = x.nrows() as f64;
    let mean = DVector::from_fn(x.ncols(), |j, _| x.column(j).mean());
    let xc = DMatrix::from_fn(x.nrows(), x.ncols(), |i, j| x[(i, j)] - mean[j]);
    let cov = xc.transpose() * &xc / n;
    let eig = nalgebra::SymmetricEigen::new(cov);
    let mut order: Vec<usize> = (0..x.ncols()).collect();
    order.sort_by(|&a, &b| eig.eigenvalues[b].total_cmp(&eig.eigenvalues[a]));
    let vecs = DMatrix::from_fn(x.ncols(), x.ncols(), |i, k| eig.eigenvectors[(i, order[k])]);
    let vals = order.iter().map(|&k| eig.eigenvalues[k]).collect();
    (vecs, vals, mean)
}

/// Eckart–Young: a linear tied pair whose weight holds the top-r principal
/// directions reconstructs with mean squared error equal to the discarded
/// eigenvalues' sum over d — with pre-centering (b_pre = mean) and with
/// separate biases (b_enc = −W mean, b_dec = mean) alike.
#[test]
fn pca_weights_reach_the_eckart_young_error() {
    let (n, d, r) = (300, 8, 3);
    let z = random_matrix(n, d, -1.0, 1.0, 30);
    let mix = random_matrix(d, d, -1.0, 1.0, 31);
    let shift = random_matrix(1, d, 2.0, 5.0, 32);
    let x = DMatrix::from_fn(n, d, |i, j| {
        (z.row(i) * mix.column(j))[(0, 0)] + shift[(0, j)]
    });
    let (vecs, vals, mean) = pca(&x);
    let w = vecs.columns(0, r).transpose();
    let expected: f64 = vals[r..].iter().sum::<f64>() / d as f64;

    let pre = AutoencoderSpec::new(&[d, r]).bias(BiasMode::PreCentering);
    let layer = TiedLinear::new(w.clone(), Biases::PreCentering { pre: mean.clone() }).unwrap();
    let m = Autoencoder::from_layers(pre, vec![Layer::Tied(layer)]).unwrap();
    let mse = m.reconstruction_mse(&x).unwrap();
    assert!(rel_close(mse, expected, 1e-10), "{mse} vs {expected}");

    let sep = AutoencoderSpec::new(&[d, r]).bias(BiasMode::Separate);
    let enc = -(&w * &mean);
    let layer = TiedLinear::new(
        w.clone(),
        Biases::Separate {
            enc,
            dec: mean.clone(),
        },
    )
    .unwrap();
    let m = Autoencoder::from_layers(sep, vec![Layer::Tied(layer)]).unwrap();
    assert!(rel_close(
        m.reconstruction_mse(&x).unwrap(),
        expected,
        1e-10
    ));

    // Without any centring the same W does worse (the mean is far from 0).
    let none = AutoencoderSpec::new(&[d, r]).bias(BiasMode::None);
    let layer = TiedLinear::new(w, Biases::None).unwrap();
    let m = Autoencoder::from_layers(none, vec![Layer::Tied(layer)]).unwrap();
    assert!(m.reconstruction_mse(&x).unwrap() > 1.5 * expected);
}

/// Mirrored biases cancel in a linear tied pair: x̂ = (x Wᵀ + b − b) W.
#[test]
fn mirrored_decoder_undoes_the_encoder_bias() {
    let x = random_matrix(6, 5, -1.0, 1.0, 40);
    let w = random_matrix(2, 5, -1.0, 1.0, 41);
    let spec = AutoencoderSpec::new(&[5, 2]).bias(BiasMode::Mirrored);
    let expected = &x * w.transpose() * &w;
    for b in [[0.0, 0.0], [3.0, -7.0]] {
        let enc = DVector::from_row_slice(&b);
        let layer = TiedLinear::new(w.clone(), Biases::Mirrored { enc }).unwrap();
        let m = Autoencoder::from_layers(spec.clone(), vec![Layer::Tied(layer)]).unwrap();
        let got = m.reconstruct(&x).unwrap();
        assert!((got - &expected).amax() < 1e-13);
    }
}

/// The layer maps against direct nalgebra expressions.
#[test]
fn layer_maps_match_their_formulas() {
    let x = random_matrix(7, 6, -1.0, 1.0, 50);
    let h = random_matrix(7, 4, -1.0, 1.0, 51);
    let w = random_matrix(4, 6, -1.0, 1.0, 52);
    let wd = random_matrix(6, 4, -1.0, 1.0, 53);
    let be = DVector::from_fn(4, |i, _| i as f64 - 1.5);
    let bd = DVector::from_fn(6, |i, _| 0.5 * i as f64);
    let ones = DMatrix::from_element(7, 1, 1.0);
    let close = |a: DMatrix<f64>, b: DMatrix<f64>| assert!((a - b).amax() < 1e-13);

    let t = TiedLinear::new(
        w.clone(),
        Biases::Separate {
            enc: be.clone(),
            dec: bd.clone(),
        },
    )
    .unwrap();
    close(
        t.encode(&x).unwrap(),
        &x * w.transpose() + &ones * be.transpose(),
    );
    close(t.decode(&h).unwrap(), &h * &w + &ones * bd.transpose());
    let t = TiedLinear::new(w.clone(), Biases::PreCentering { pre: bd.clone() }).unwrap();
    close(
        t.encode(&x).unwrap(),
        (&x - &ones * bd.transpose()) * w.transpose(),
    );
    close(t.decode(&h).unwrap(), &h * &w + &ones * bd.transpose());
    let dense =
        tiedae::model::Dense::new(w.clone(), wd.clone(), Biases::Mirrored { enc: be.clone() })
            .unwrap();
    close(
        dense.encode(&x).unwrap(),
        &x * w.transpose() + &ones * be.transpose(),
    );
    close(
        dense.decode(&h).unwrap(),
        (&h - &ones * be.transpose()) * wd.transpose(),
    );
    // Shape and finiteness checks at construction.
    assert!(tiedae::model::Dense::new(w.clone(), w.clone(), Biases::None).is_err());
    assert!(TiedLinear::new(w.clone(), Biases::Mirrored { enc: bd.clone() }).is_err());
    let mut bad = w.clone();
    bad[(1, 1)] = f64::INFINITY;
    assert!(matches!(
        TiedLinear::new(bad, Biases::None),
        Err(Error::InvalidData(_))
    ));
}

#[test]
fn gradient_norms_and_sums() {
    let m = model(&mixed_spec(BiasMode::Separate), 60);
    let x = random_matrix(10, 40, 0.0, 1.0, 61);
    let (_, g) = m.objective_and_grad(&x, &x, &LossConfig::mse()).unwrap();
    let norms = g.layer_norms();
    assert_eq!(norms.len(), 3);
    for (l, s) in m.layout().layers().iter().enumerate() {
        let direct = g.as_slice()[s.range()]
            .iter()
            .map(|v| v * v)
            .sum::<f64>()
            .sqrt();
        assert!(rel_close(norms[l].total, direct, 1e-12));
        assert_eq!(norms[l].layer, l);
        assert_eq!(norms[l].encoder_part.is_some(), s.tied);
        if let Some(p) = g.tied_parts(l) {
            let enc = p.encoder.iter().map(|v| v * v).sum::<f64>().sqrt();
            assert!(rel_close(norms[l].encoder_part.unwrap(), enc, 1e-12));
        }
    }
    assert_eq!(
        g.layer(1).unwrap(),
        &g.as_slice()[m.layout().layers()[1].range()]
    );
    assert!(g.layer(3).is_none());
    let other = Autoencoder::<f64>::new(&AutoencoderSpec::new(&[40, 5]), 0).unwrap();
    let mut g2 = g.clone();
    assert!(matches!(
        g2.add_assign(&other.zero_gradient()),
        Err(Error::Shape(_))
    ));
    g2.add_assign(&g).unwrap();
    for (a, b) in g2.as_slice().iter().zip(g.as_slice()) {
        assert_eq!(*a, 2.0 * b);
    }
}

mod files {
    use super::*;
    use serde_json::{Value, json};
    use std::path::Path;

    fn saved(dir: &Path) -> (Autoencoder<f64>, std::path::PathBuf, Value) {
        let m = model(&mixed_spec(BiasMode::Separate), 70);
        let path = dir.join("model.json");
        m.save(&path).unwrap();
        let v: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        (m, path, v)
    }

    #[test]
    fn round_trips_are_exact() {
        let dir = tempfile::tempdir().unwrap();
        for bias in BiasMode::ALL {
            let spec = mixed_spec(bias);
            let m = model(&spec, 71);
            let path = dir.path().join(format!("{}.json", bias.name()));
            m.save(&path).unwrap();
            let back = Autoencoder::<f64>::load(&path).unwrap();
            assert_eq!(back, m);
            let bits = |p: Vec<f64>| p.into_iter().map(f64::to_bits).collect::<Vec<_>>();
            assert_eq!(bits(back.params_to_vec()), bits(m.params_to_vec()));
            let mut m32 = Autoencoder::<f32>::new(&spec, 72).unwrap();
            randomise(&mut m32, 73);
            m32.save(&path).unwrap();
            assert_eq!(Autoencoder::<f32>::load(&path).unwrap(), m32);
        }
        // Only the model file remains: the atomic writer cleaned up.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 4);
    }

    #[test]
    fn saving_into_a_missing_directory_fails_cleanly() {
        let dir = tempfile::tempdir().unwrap();
        let m = model(&AutoencoderSpec::new(&[3, 2]), 1);
        let err = m.save(dir.path().join("missing/model.json")).unwrap_err();
        assert!(matches!(err, Error::Io { .. }), "{err}");
    }

    /// Loads `v` written to a file and returns the error's location and reason.
    fn load_err<T: tiedae::Real>(dir: &Path, v: &Value) -> (String, String) {
        let path = dir.join("bad.json");
        std::fs::write(&path, serde_json::to_vec(v).unwrap()).unwrap();
        match Autoencoder::<T>::load(&path) {
            Err(Error::Format {
                location,
                reason,
                path: p,
            }) => {
                assert_eq!(p, path);
                (location, reason)
            }
            other => panic!("expected a format error, got {other:?}"),
        }
    }

    #[test]
    fn corrupted_files_give_clear_errors() {
        let dir = tempfile::tempdir().unwrap();
        let (_, _, good) = saved(dir.path());
        type Edit = fn(&mut Value);
        let cases: Vec<(&str, Edit, &str, &str)> = vec![
            (
                "newer version",
                |v| v["version"] = json!(2),
                "version",
                "unsupported version 2",
            ),
            (
                "other format",
                |v| v["format"] = json!("onnx"),
                "format",
                "not a tiedae model file",
            ),
            (
                "no format",
                |v| {
                    v.as_object_mut().unwrap().remove("format");
                },
                "format",
                "missing",
            ),
            (
                "no spec",
                |v| {
                    v.as_object_mut().unwrap().remove("spec");
                },
                "line",
                "missing field `spec`",
            ),
            (
                "extra top-level field",
                |v| v["comment"] = json!("hi"),
                "line",
                "unknown field `comment`",
            ),
            (
                "extra layer field",
                |v| v["layers"][0]["scale"] = json!(1.0),
                "line",
                "unknown field `scale`",
            ),
            (
                "extra bias field",
                |v| v["layers"][0]["biases"]["extra"] = json!([]),
                "line",
                "unknown field `extra`",
            ),
            (
                "extra spec field",
                |v| v["spec"]["dropout"] = json!(0.5),
                "line",
                "unknown field `dropout`",
            ),
            (
                "extra activation field",
                |v| v["spec"]["hidden"][1]["alpha"] = json!(0.5),
                "line",
                "alpha",
            ),
            (
                "extra matrix field",
                |v| v["layers"][1]["encoder_weight"]["order"] = json!("c"),
                "line",
                "unknown field `order`",
            ),
            (
                "missing decoder weight",
                |v| {
                    v["layers"][1]
                        .as_object_mut()
                        .unwrap()
                        .remove("decoder_weight");
                },
                "line",
                "missing field `decoder_weight`",
            ),
            (
                "wrong rows",
                |v| v["layers"][0]["weight"]["rows"] = json!(16),
                "layer 0",
                "weight is 16x40, the spec needs 17x40",
            ),
            (
                "short data",
                |v| {
                    v["layers"][2]["weight"]["row_major"]
                        .as_array_mut()
                        .unwrap()
                        .pop();
                },
                "layer 2",
                "values for 5x9",
            ),
            (
                "short bias",
                |v| {
                    v["layers"][1]["biases"]["decoder"]
                        .as_array_mut()
                        .unwrap()
                        .pop();
                },
                "layer 1",
                "decoder bias has 16 values",
            ),
            (
                "tied where untied",
                |v| v["spec"]["tied"][1] = json!(true),
                "layer 1",
                "contradicts the spec",
            ),
            (
                "bias mode",
                |v| v["spec"]["bias"] = json!("mirrored"),
                "layer 0",
                "biases are separate, the spec says mirrored",
            ),
            (
                "parameter count",
                |v| v["parameters"] = json!(7),
                "parameters",
                "file says 7",
            ),
            (
                "spec invalid",
                |v| v["spec"]["hidden"][0] = json!({"kind": "elu", "alpha": -1.0}),
                "line",
                "elu alpha",
            ),
            (
                "spec widths",
                |v| v["spec"]["dims"] = json!([40, 17, 9]),
                "spec",
                "2 layer pairs",
            ),
            (
                "null weight",
                |v| v["layers"][0]["weight"]["row_major"][3] = Value::Null,
                "line",
                "invalid type: null",
            ),
            (
                "scalar",
                |v| v["scalar"] = json!("f32"),
                "scalar",
                "load it as Autoencoder<f32>",
            ),
        ];
        for (name, edit, location, reason) in cases {
            let mut v = good.clone();
            edit(&mut v);
            let (loc, why) = load_err::<f64>(dir.path(), &v);
            assert!(
                loc.starts_with(location),
                "{name}: location {loc:?} ({why})"
            );
            assert!(why.contains(reason), "{name}: reason {why:?}");
        }
    }

    #[test]
    fn truncated_and_non_json_files_give_clear_errors() {
        let dir = tempfile::tempdir().unwrap();
        let (_, path, _) = saved(dir.path());
        let bytes = std::fs::read(&path).unwrap();
        for cut in [0, 1, bytes.len() / 3, bytes.len() - 3] {
            std::fs::write(&path, &bytes[..cut]).unwrap();
            match Autoencoder::<f64>::load(&path) {
                Err(Error::Format { reason, .. }) => {
                    assert!(reason.contains("truncated"), "{cut}: {reason}")
                }
                other => panic!("{cut}: {other:?}"),
            }
        }
        std::fs::write(&path, b"P5 28 28 255").unwrap();
        assert!(matches!(
            Autoencoder::<f64>::load(&path),
            Err(Error::Format { .. })
        ));
        let missing = dir.path().join("nope.json");
        assert!(matches!(
            Autoencoder::<f64>::load(&missing),
            Err(Error::Io { .. })
        ));
    }

    /// Values that JSON can hold but the scalar cannot: f64 overflow is a
    /// parse error, f32 overflow a conversion error; both name the place.
    #[test]
    fn non_finite_values_are_rejected() {
        let dir = tempfile::tempdir().unwrap();
        let (_, path, _) = saved(dir.path());
        let text = std::fs::read_to_string(&path).unwrap();
        let at = text.find("\"row_major\":[").unwrap() + "\"row_major\":[".len();
        let huge = format!("{}1e400,{}", &text[..at], &text[at..]);
        std::fs::write(&path, huge).unwrap();
        match Autoencoder::<f64>::load(&path) {
            Err(Error::Format { reason, .. }) => {
                assert!(reason.contains("out of range"), "{reason}")
            }
            other => panic!("{other:?}"),
        }
        let m32 = Autoencoder::<f32>::new(&AutoencoderSpec::new(&[3, 2]), 0).unwrap();
        let mut v: Value = serde_json::from_slice(&m32.to_json_bytes().unwrap()).unwrap();
        v["layers"][0]["weight"]["row_major"][4] = json!(1e39);
        let (loc, why) = load_err::<f32>(dir.path(), &v);
        assert_eq!(loc, "layer 0");
        assert!(
            why.contains("weight[4] = 1e39 is not a finite f32"),
            "{why}"
        );
    }
}

/// Layer accessors used by principal-angle and filter-image code.
#[test]
fn layer_accessors_expose_the_weights() {
    let spec = AutoencoderSpec::new(&[6, 4, 2]).tied_per_layer(vec![false, true]);
    let m = model(&spec, 80);
    let l0 = &m.layers()[0];
    assert!(!l0.is_tied() && l0.as_tied().is_none());
    assert_eq!(l0.encoder_weight().shape(), (4, 6));
    assert_eq!(l0.decoder_weight().shape(), (6, 4));
    let l1 = m.layers()[1].as_tied().unwrap();
    assert_eq!(l1.weight().shape(), (2, 4));
    assert_eq!(m.layers()[1].decoder_weight(), l1.weight().transpose());
    assert_eq!((m.input_dim(), m.latent_dim()), (6, 2));
}
