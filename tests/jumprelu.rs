//! JumpReLU sparse autoencoders as SAELens 6.x defines them
//! (`sae_lens/saes/jumprelu_sae.py`): the learned per-latent threshold
//! (stored as `log θ`), its pseudo-gradients, the `step` and `tanh` L0
//! penalties, and the threshold as a parameter of every file format.
//!
//! Oracles: central differences for the weights and biases at points
//! where every pre-activation is more than the bandwidth from its
//! threshold (the penalty is then locally constant or smooth and the
//! pseudo-gradient 0); SAELens's pseudo-gradient formulas written out
//! again below; and the fixture `scripts/jumprelu_reference.py` writes
//! (SAELens's graph by hand in NumPy, tied and untied, both penalties).

// Shared with the gradient tests; this file uses only part of it.
#[allow(dead_code)]
mod fd;

use fd::{compare, numeric_gradient, random_matrix};
use nalgebra::{DMatrix, DVector};
use rand::RngExt;
use tiedae::model::{
    Activation, Autoencoder, AutoencoderSpec, BiasMode, Biases, Dense, L0Mode, Layer, LossConfig,
    Normalizer, TiedLinear, Workspace,
};
use tiedae::rng::seeded;
use tiedae::train::{Optimizer, Progress, TrainConfig, Trainer};

/// SAELens's `rectangle`, written again.
fn rect(u: f64) -> f64 {
    if -0.5 < u && u < 0.5 { 1.0 } else { 0.0 }
}

fn jump(bandwidth: f64) -> Activation {
    Activation::JumpRelu {
        bandwidth,
        init_threshold: 0.01,
    }
}

/// A model whose weights and biases are random in (−0.7, 0.7) and whose
/// thresholds are random in (0.05, 0.4).
fn random_model(spec: &AutoencoderSpec, seed: u64) -> Autoencoder<f64> {
    let mut m = Autoencoder::<f64>::new(spec, seed).unwrap();
    let mut rng = seeded(seed ^ 0x1EA9);
    let p: Vec<f64> = (0..m.n_params())
        .map(|_| rng.random_range(-0.7..0.7))
        .collect();
    m.set_params(&p).unwrap();
    let theta: Vec<f64> = (0..m.latent_dim())
        .map(|_| rng.random_range(0.05..0.4))
        .collect();
    m.set_jump_relu_threshold(&theta).unwrap();
    m
}

/// The latent pre-activations of `x`.
fn pre_activations(m: &Autoencoder<f64>, x: &DMatrix<f64>) -> DMatrix<f64> {
    let mut ws = Workspace::new();
    m.forward_with(x, &mut ws).unwrap();
    ws.encoder_pre_activations().last().unwrap().clone()
}

/// The smallest `|z_ni − θ_i|` over the batch.
fn closest_to_threshold(m: &Autoencoder<f64>, x: &DMatrix<f64>) -> f64 {
    let z = pre_activations(m, x);
    let theta = m.jump_relu_threshold().unwrap();
    let mut best = f64::INFINITY;
    for i in 0..z.nrows() {
        for (j, &t) in theta.iter().enumerate() {
            best = best.min((z[(i, j)] - t).abs());
        }
    }
    best
}

/// The losses the sweeps run: reconstruction alone, and with each penalty.
fn losses() -> [LossConfig; 3] {
    [
        LossConfig::mse(),
        LossConfig::mse().with_l0(0.4),
        LossConfig::mse().with_l0_mode(0.3, L0Mode::Tanh { scale: 4.0 }),
    ]
}

// ------------------------------------------------------------ gradients

/// Away from the threshold (every `|z − θ| > ε`), the loss is smooth in the
/// weights and biases and locally constant in `log θ`: central differences
/// match the whole gradient, the thresholds' entries included (both 0
/// there, the rectangle being empty). Tied and untied, three bias modes,
/// each loss; a case is reseeded until it is that far from every
/// threshold and has active latents.
#[test]
fn finite_differences_match_away_from_the_threshold() {
    let bandwidth = 0.02;
    let mut checked = 0;
    for tied in [false, true] {
        for bias in [
            BiasMode::Separate,
            BiasMode::PreCentering,
            BiasMode::Mirrored,
        ] {
            for (c, loss) in losses().iter().enumerate() {
                let spec = AutoencoderSpec::new(&[6, 5])
                    .activation(jump(bandwidth))
                    .bias(bias)
                    .tied(tied);
                let mut found = false;
                for attempt in 0..200u64 {
                    let seed = 1000 * c as u64 + 17 * attempt + u64::from(tied);
                    let m = random_model(&spec, seed);
                    let x = random_matrix(4, 6, -1.0, 1.0, seed + 7);
                    let active = m.encode(&x).unwrap().iter().filter(|&&v| v != 0.0).count();
                    if closest_to_threshold(&m, &x) <= bandwidth || active < 3 {
                        continue;
                    }
                    let (_, g) = m.objective_and_grad(&x, &x, loss).unwrap();
                    let num = numeric_gradient(&m, &x, &x, loss);
                    compare(&m, g.as_slice(), &num)
                        .unwrap_or_else(|e| panic!("tied {tied} {bias:?} loss {c}: {e}"));
                    let s = &m.layout().layers()[0];
                    let t = s.threshold.clone().unwrap();
                    assert!(g.as_slice()[t].iter().all(|&v| v == 0.0));
                    found = true;
                    checked += 1;
                    break;
                }
                assert!(found, "no usable draw: tied {tied} {bias:?} loss {c}");
            }
        }
    }
    assert_eq!(checked, 18);
}

/// The gradient with respect to `log θ` is SAELens's pseudo-gradient,
/// recomputed here from its formulas: with `g = ∂L/∂a` of the
/// reconstruction (`2 (x̂ − x) / (N d)` through the decoder, `g = dv Mᵀ`),
/// `JumpReLU.backward` gives `Σ_n −(θ/ε) rect((z − θ)/ε) g`, the `step`
/// penalty's `Step.backward` adds `Σ_n −(1/ε) rect((z − θ)/ε) c/N`, and
/// `log θ` multiplies both by `θ`. The bandwidth is wide, so many entries
/// fall in the rectangle; tied and untied.
#[test]
fn threshold_gradient_is_saelens_pseudo_gradient() {
    let bandwidth = 0.5;
    let c = 0.25;
    for tied in [false, true] {
        let spec = AutoencoderSpec::new(&[6, 5])
            .activation(jump(bandwidth))
            .bias(BiasMode::Separate)
            .tied(tied);
        let m = random_model(&spec, 41 + u64::from(tied));
        let x = random_matrix(12, 6, -1.0, 1.0, 43);
        let (n, d) = x.shape();
        let z = pre_activations(&m, &x);
        let theta = m.jump_relu_threshold().unwrap();
        // Away from the rectangle's edges and the threshold itself.
        let mut in_window = 0;
        for i in 0..n {
            for (j, &t) in theta.iter().enumerate() {
                let u = (z[(i, j)] - t) / bandwidth;
                assert!((u.abs() - 0.5).abs() > 1e-6 && u.abs() > 1e-6);
                in_window += rect(u) as usize;
            }
        }
        assert!(in_window >= 5, "{in_window} entries in the window");
        let loss = LossConfig::mse().with_l0(c);
        let (_, g) = m
            .loss_and_grad(&x, &x, &loss, Normalizer::new(n).unwrap())
            .unwrap();
        // The upstream gradient of the code.
        let xhat = m.reconstruct(&x).unwrap();
        let dv = (&xhat - &x) * (2.0 / (n * d) as f64);
        let decoder_m: DMatrix<f64> = match &m.layers()[0] {
            Layer::Tied(t) => t.weight().clone(),
            Layer::Dense(dense) => dense.decoder_weight().transpose(),
        };
        let ga = &dv * decoder_m.transpose();
        let s = &m.layout().layers()[0];
        let slot = &g.as_slice()[s.threshold.clone().unwrap()];
        for (j, &t) in theta.iter().enumerate() {
            let mut want = 0.0;
            for i in 0..n {
                let w = rect((z[(i, j)] - t) / bandwidth);
                want += -(t / bandwidth) * w * ga[(i, j)];
                want += -(1.0 / bandwidth) * w * c / n as f64;
            }
            want *= t;
            assert!(
                (slot[j] - want).abs() <= 1e-12 + 1e-9 * want.abs(),
                "tied {tied} latent {j}: {} vs {want}",
                slot[j]
            );
        }
        // The code is z where z > θ, else 0.
        let h = m.encode(&x).unwrap();
        for i in 0..n {
            for (j, &t) in theta.iter().enumerate() {
                let want = if z[(i, j)] > t { z[(i, j)] } else { 0.0 };
                assert_eq!(h[(i, j)], want);
            }
        }
    }
}

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
    DMatrix::from_fn(rows.len(), rows[0].len(), |i, j| rows[i][j])
}

fn json_vector(v: &serde_json::Value) -> Vec<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}

/// The loss terms and the whole gradient (weights, biases, `log θ`) equal
/// the values `scripts/jumprelu_reference.py` computes with NumPy from
/// SAELens's graph (`JumpReLU`, `Step`, `rectangle`, `exp(log_threshold)`,
/// the step and tanh `l0_loss`), to 1e-9 relative, untied and tied; so
/// does the code. SAELens's `W_enc` (d x r) is tiedae's encoder weight
/// transposed, its `W_dec` (r x d) the decoder weight transposed (`W`
/// itself when tied).
#[test]
fn jump_relu_matches_the_saelens_reference() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/jumprelu_reference.json"
    );
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let close = |a: f64, b: f64| (a - b).abs() <= 1e-9 * b.abs() + 1e-12;
    let cases = doc["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 4);
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let tied = case["tied"].as_bool().unwrap();
        let size = |k: &str| case[k].as_u64().unwrap() as usize;
        let (n, d, r) = (size("n"), size("d"), size("r"));
        let bandwidth = case["bandwidth"].as_f64().unwrap();
        let c = case["l0_coefficient"].as_f64().unwrap();
        let mode = match case["mode"].as_str().unwrap() {
            "step" => L0Mode::Step,
            "tanh" => L0Mode::Tanh {
                scale: case["tanh_scale"].as_f64().unwrap(),
            },
            other => panic!("mode {other}"),
        };
        let x = json_matrix(&case["x"]);
        let w_enc = json_matrix(&case["W_enc"]);
        let w_dec = json_matrix(&case["W_dec"]);
        assert_eq!(
            (x.shape(), w_enc.shape(), w_dec.shape()),
            ((n, d), (d, r), (r, d))
        );
        let biases = Biases::Separate {
            enc: DVector::from_vec(json_vector(&case["b_enc"])),
            dec: DVector::from_vec(json_vector(&case["b_dec"])),
        };
        let layer = if tied {
            assert_eq!(w_enc, w_dec.transpose(), "{name}");
            Layer::Tied(TiedLinear::new(w_dec.clone(), biases).unwrap())
        } else {
            Layer::Dense(Dense::new(w_enc.transpose(), w_dec.transpose(), biases).unwrap())
        };
        let spec = AutoencoderSpec::new(&[d, r])
            .activation(jump(bandwidth))
            .bias(BiasMode::Separate)
            .tied(tied);
        let mut m = Autoencoder::from_layers(spec, vec![layer]).unwrap();
        m.set_jump_relu_log_threshold(&json_vector(&case["log_threshold"]))
            .unwrap();

        let hp = json_matrix(&case["hidden_pre"]);
        let theta = m.jump_relu_threshold().unwrap();
        let h = m.encode(&x).unwrap();
        for i in 0..n {
            for (j, &t) in theta.iter().enumerate() {
                let want = if hp[(i, j)] > t { hp[(i, j)] } else { 0.0 };
                assert!(close(h[(i, j)], want), "{name}: code ({i}, {j})");
            }
        }

        let loss = LossConfig::mse().with_l0_mode(c, mode);
        let (t, g) = m
            .loss_and_grad(&x, &x, &loss, Normalizer::new(n).unwrap())
            .unwrap();
        let want_recon = case["reconstruction"].as_f64().unwrap();
        let want_l0 = case["l0_loss"].as_f64().unwrap();
        assert!(close(t.reconstruction, want_recon), "{name}: {t:?}");
        assert!(close(t.l0, want_l0), "{name}: l0 {} vs {want_l0}", t.l0);
        assert!(close(t.total, want_recon + want_l0), "{name}");

        let s = &m.layout().layers()[0];
        let gs = g.as_slice();
        let check = |what: &str, ours: &[f64], want: &[f64]| {
            assert_eq!(ours.len(), want.len(), "{name}: {what}");
            for (k, (&a, &b)) in ours.iter().zip(want).enumerate() {
                assert!(close(a, b), "{name}: {what}[{k}]: {a} vs {b}");
            }
        };
        let enc_bias = s.encoder_bias().unwrap();
        let dec_bias = s.decoder_bias().unwrap();
        check("b_enc", &gs[enc_bias], &json_vector(&case["grad_b_enc"]));
        check("b_dec", &gs[dec_bias], &json_vector(&case["grad_b_dec"]));
        check(
            "log_threshold",
            &gs[s.threshold.clone().unwrap()],
            &json_vector(&case["grad_log_threshold"]),
        );
        // Row-major slots: W (r x d) or W_enc (r x d) then W_dec (d x r).
        let row_major = |m: &DMatrix<f64>| -> Vec<f64> {
            (0..m.nrows())
                .flat_map(|i| (0..m.ncols()).map(move |j| (i, j)))
                .map(|(i, j)| m[(i, j)])
                .collect()
        };
        if tied {
            let want = row_major(&json_matrix(&case["grad_W"]));
            check("W", &gs[s.weight.clone()], &want);
        } else {
            let want_enc = row_major(&json_matrix(&case["grad_W_enc"]).transpose());
            check("W_enc", &gs[s.weight.clone()], &want_enc);
            let want_dec = row_major(&json_matrix(&case["grad_W_dec"]).transpose());
            check("W_dec", &gs[s.decoder_weight.clone().unwrap()], &want_dec);
        }
        // The terms without the gradient are the same.
        let terms = m
            .loss_terms(&x, &x, &loss, Normalizer::new(n).unwrap())
            .unwrap();
        assert_eq!(terms.l0, t.l0, "{name}");
    }
}

// ------------------------------------------------------------ the parameter

/// A new model starts every latent at `init_threshold` (stored as its
/// logarithm, SAELens's `log(jumprelu_init_threshold)`); the thresholds
/// are the last `r` parameters, counted with the pair; serde and the
/// defaults are SAELens's.
#[test]
fn thresholds_are_parameters_with_saelens_defaults() {
    let act = Activation::jump_relu();
    assert_eq!(
        act,
        Activation::JumpRelu {
            bandwidth: 0.05,
            init_threshold: 0.01
        }
    );
    let s = serde_json::to_string(&act).unwrap();
    assert_eq!(
        s,
        r#"{"kind":"jump_relu","bandwidth":0.05,"init_threshold":0.01}"#
    );
    assert_eq!(
        serde_json::from_str::<Activation>(r#"{"kind":"jump_relu"}"#).unwrap(),
        act
    );
    for bad in [
        r#"{"kind":"jump_relu","bandwidth":0}"#,
        r#"{"kind":"jump_relu","init_threshold":-1}"#,
        r#"{"kind":"jump_relu","k":3}"#,
        r#"{"kind":"relu","bandwidth":0.1}"#,
    ] {
        assert!(serde_json::from_str::<Activation>(bad).is_err(), "{bad}");
    }
    let toml_form: std::collections::BTreeMap<String, Activation> =
        toml::from_str("a = { kind = \"jump_relu\", bandwidth = 0.1 }").unwrap();
    assert_eq!(toml_form["a"], jump(0.1));

    for tied in [false, true] {
        let spec = AutoencoderSpec::new(&[6, 5]).activation(act).tied(tied);
        let plain = Autoencoder::<f32>::new(&spec.clone().activation(Activation::Relu), 3).unwrap();
        let m = Autoencoder::<f32>::new(&spec, 3).unwrap();
        assert_eq!(m.n_params(), plain.n_params() + 5);
        let count = m.parameter_count();
        assert_eq!(count.total, m.n_params());
        assert_eq!(
            count.layers[0].biases,
            plain.parameter_count().layers[0].biases + 5
        );
        let logs = m.jump_relu_log_threshold().unwrap();
        assert!(logs.iter().all(|&l| l == 0.01f64.ln() as f32));
        let p = m.params_to_vec();
        assert_eq!(&p[p.len() - 5..], logs);
        assert_eq!(
            m.describe_param(p.len() - 1),
            "layer 0 JumpReLU log threshold"
        );
        assert!(plain.jump_relu_threshold().is_none());
    }
}

/// What a JumpReLU cannot be is refused with one line: an inner pair's
/// activation, a conv latent, an L0 penalty without a JumpReLU latent,
/// thresholds that are not positive or not one per latent.
#[test]
fn what_jump_relu_cannot_be_is_refused() {
    let inner = AutoencoderSpec::new(&[8, 6, 4]).activations(vec![jump(0.05), Activation::Relu]);
    let e = Autoencoder::<f64>::new(&inner, 0).unwrap_err().to_string();
    assert!(e.contains("latent"), "{e}");
    // As the latent of a stack it is fine.
    let stack = AutoencoderSpec::new(&[8, 6, 4]).activations(vec![Activation::Relu, jump(0.05)]);
    let m = Autoencoder::<f64>::new(&stack, 0).unwrap();
    assert_eq!(m.jump_relu_threshold().unwrap().len(), 4);

    let relu = Autoencoder::<f64>::new(&AutoencoderSpec::new(&[6, 5]), 0).unwrap();
    let x = random_matrix(3, 6, -1.0, 1.0, 1);
    let e = relu
        .objective_and_grad(&x, &x, &LossConfig::mse().with_l0(0.1))
        .unwrap_err()
        .to_string();
    assert!(e.contains("JumpReLU"), "{e}");
    let mut relu = relu;
    assert!(relu.set_jump_relu_threshold(&[0.1; 5]).is_err());

    let mut m =
        Autoencoder::<f64>::new(&AutoencoderSpec::new(&[6, 5]).activation(jump(0.05)), 0).unwrap();
    assert!(m.set_jump_relu_threshold(&[0.1; 4]).is_err());
    assert!(
        m.set_jump_relu_threshold(&[0.1, 0.1, 0.0, 0.1, 0.1])
            .is_err()
    );
    assert!(
        m.set_jump_relu_threshold(&[0.1, 0.1, f64::NAN, 0.1, 0.1])
            .is_err()
    );
    let before = m.params_to_vec();
    assert!(m.set_jump_relu_threshold(&[-1.0; 5]).is_err());
    assert_eq!(
        m.params_to_vec(),
        before,
        "a refused threshold leaves the model"
    );
    assert!(
        LossConfig::mse()
            .with_l0_mode(0.1, L0Mode::Tanh { scale: 0.0 })
            .validate()
            .is_err()
    );
}

/// The model file, the safetensors export and the flat parameters keep
/// `log θ`, and so `θ`, bit for bit, f32 and f64; a model file without
/// the thresholds of a JumpReLU latent is refused.
#[test]
fn save_and_load_keep_the_thresholds_bit_for_bit() {
    fn check<T: tiedae::real::Real>() {
        for tied in [false, true] {
            let spec = AutoencoderSpec::new(&[6, 5])
                .activation(jump(0.05))
                .bias(BiasMode::Separate)
                .tied(tied);
            let mut m = Autoencoder::<T>::new(&spec, 9).unwrap();
            // Thresholds that are not round numbers in either precision.
            let theta: Vec<f64> = (0..5).map(|i| 0.0123 + 0.0371 * i as f64).collect();
            m.set_jump_relu_threshold(&theta).unwrap();
            let bits = |m: &Autoencoder<T>| -> Vec<u64> {
                m.jump_relu_threshold()
                    .unwrap()
                    .iter()
                    .chain(m.jump_relu_log_threshold().unwrap())
                    .map(|v| v.f64().to_bits())
                    .collect()
            };
            let what = format!("{} tied {tied}", T::NAME);
            let json = m.to_json_bytes().unwrap();
            let text = String::from_utf8(json.clone()).unwrap();
            assert!(text.contains("\"jump_relu_log_threshold\""), "{what}");
            let back = Autoencoder::<T>::from_json_bytes(&json, "m.json".as_ref()).unwrap();
            assert_eq!(bits(&back), bits(&m), "{what}: model file");
            assert_eq!(back, m, "{what}: model file");
            let st = m.to_safetensors().unwrap();
            let back = Autoencoder::<T>::from_safetensors(&st).unwrap();
            assert_eq!(bits(&back), bits(&m), "{what}: safetensors");
            assert_eq!(back, m, "{what}: safetensors");
            let mut fresh = Autoencoder::<T>::new(&spec, 10).unwrap();
            fresh.set_params(&m.params_to_vec()).unwrap();
            assert_eq!(bits(&fresh), bits(&m), "{what}: flat parameters");
            // The field is required for a JumpReLU latent.
            let mut doc: serde_json::Value = serde_json::from_slice(&json).unwrap();
            doc.as_object_mut()
                .unwrap()
                .remove("jump_relu_log_threshold");
            let bytes = serde_json::to_vec(&doc).unwrap();
            let e = Autoencoder::<T>::from_json_bytes(&bytes, "m.json".as_ref())
                .unwrap_err()
                .to_string();
            assert!(e.contains("jump_relu_log_threshold"), "{what}: {e}");
        }
    }
    check::<f32>();
    check::<f64>();
}

/// The SAELens export is SAELens's `jumprelu` architecture with the
/// `threshold` tensor (`d_sae`, `exp(log θ)` in the model's precision, as
/// `process_state_dict_for_saving` writes it); the import gives the
/// JumpReLU back, same settings, thresholds to a few ulps, the same codes
/// away from the thresholds.
#[test]
fn saelens_export_is_jumprelu_with_a_threshold_tensor() {
    let spec = AutoencoderSpec::new(&[6, 5])
        .activation(jump(0.07))
        .bias(BiasMode::Separate)
        .tied(true);
    let m = random_model(&spec, 77);
    let files = m.to_saelens().unwrap();
    let cfg: serde_json::Value = serde_json::from_slice(&files.cfg).unwrap();
    assert_eq!(cfg["architecture"], "jumprelu");
    assert_eq!(cfg["d_sae"], 5);
    let st = safetensors::tensor::SafeTensors::deserialize(&files.weights).unwrap();
    let t = st.tensor("threshold").unwrap();
    assert_eq!(t.shape(), &[5]);
    let stored: Vec<f64> = t
        .data()
        .chunks_exact(8)
        .map(|c| f64::from_le_bytes(c.try_into().unwrap()))
        .collect();
    assert_eq!(stored, m.jump_relu_threshold().unwrap());
    let back = Autoencoder::<f64>::from_saelens(&files.cfg, &files.weights).unwrap();
    assert_eq!(back.latent_activation(), jump(0.07));
    for (a, b) in back
        .jump_relu_threshold()
        .unwrap()
        .iter()
        .zip(m.jump_relu_threshold().unwrap())
    {
        assert!((a - b).abs() <= 8.0 * f64::EPSILON * b, "{a} vs {b}");
    }
    let x = random_matrix(6, 6, -1.0, 1.0, 78);
    assert!(closest_to_threshold(&m, &x) > 1e-9);
    let (h, h_back) = (m.encode(&x).unwrap(), back.encode(&x).unwrap());
    for (a, b) in h.iter().zip(h_back.iter()) {
        assert!((a - b).abs() <= 1e-12, "{a} vs {b}");
    }
}

// ------------------------------------------------------------ training

fn jump_config(l0: f64) -> TrainConfig {
    TrainConfig::new()
        .epochs(20)
        .batch_size(32)
        .optimizer(Optimizer::adam())
        .learning_rate(1e-2)
        .seed(5)
        .progress(Progress::Silent)
        .loss(LossConfig::mse().with_l0(l0))
}

/// The optimizer trains the thresholds: with the step L0 penalty they end
/// higher, and the code sparser, than on the same seed without it; the
/// history reports the L0 term. The sparsity warm-up scales λ₀ as it
/// scales λ₁: over the first epoch of a long warm-up the term is a small
/// fraction of the unwarmed one.
#[test]
fn training_moves_the_thresholds_and_the_penalty_sparsifies() {
    let x = random_matrix(256, 8, -1.0, 1.0, 90);
    let spec = AutoencoderSpec::new(&[8, 12]).activation(Activation::jump_relu());
    let start = Autoencoder::<f64>::new(&spec, 91).unwrap();
    let fit = |cfg: TrainConfig| Trainer::new(cfg).unwrap().fit(start.clone(), &x).unwrap();
    let free = fit(jump_config(0.0));
    let sparse = fit(jump_config(0.5));
    let mean_log = |m: &Autoencoder<f64>| {
        let l = m.jump_relu_log_threshold().unwrap();
        l.iter().sum::<f64>() / l.len() as f64
    };
    let init = mean_log(&start);
    assert!(
        mean_log(&free.model) != init,
        "the thresholds did not train"
    );
    assert!(
        mean_log(&sparse.model) > mean_log(&free.model),
        "{} vs {}",
        mean_log(&sparse.model),
        mean_log(&free.model)
    );
    let active = |m: &Autoencoder<f64>| m.encode(&x).unwrap().iter().filter(|&&v| v != 0.0).count();
    assert!(active(&sparse.model) < active(&free.model));
    assert!(sparse.history.epochs[0].train.l0 > 0.0);
    assert_eq!(free.history.epochs[0].train.l0, 0.0);

    let warm = fit(jump_config(0.5).epochs(1).l1_warmup_steps(100_000));
    let cold = fit(jump_config(0.5).epochs(1));
    let (w, c) = (
        warm.history.epochs[0].train.l0,
        cold.history.epochs[0].train.l0,
    );
    assert!(c > 0.0 && w < 0.01 * c, "warm {w} vs cold {c}");
}
