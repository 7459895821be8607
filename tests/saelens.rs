//! SAELens files both ways (src/model/saelens.rs): an export read back
//! encodes and decodes as the model did, what has no SAELens form is
//! refused with one line, a tied model comes back with decoder–encoder
//! cosines of 1, and scripts/saelens_check.py (SAELens itself when it is
//! importable, else NumPy following SAELens's source) computes tiedae's
//! encode and decode from the files alone.

use nalgebra::DMatrix;
use safetensors::tensor::{Dtype, SafeTensors, TensorView};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use tiedae::Error;
use tiedae::model::saelens::{CFG_FILE, WEIGHTS_FILE};
use tiedae::model::{
    Activation, Autoencoder, AutoencoderSpec, BiasMode, OutputActivation, Workspace,
};
use tiedae::real::Real;

const D: usize = 8;
const R: usize = 12;
const ROWS: usize = 100;

/// A deterministic value in (-0.5, 0.5) with no pattern that could make two
/// pre-activations tie.
fn hash(i: usize, salt: f64) -> f64 {
    let v = ((i as f64 + 1.0) * 12.9898 + salt * 78.233).sin() * 43_758.545_3;
    v - v.floor() - 0.5
}

/// A model with every parameter set to a distinct deterministic value.
fn filled<T: Real>(spec: &AutoencoderSpec) -> Autoencoder<T> {
    let mut m = Autoencoder::<T>::new(spec, 7).unwrap();
    let p: Vec<T> = (0..m.n_params()).map(|i| T::of(hash(i, 1.0))).collect();
    m.set_params(&p).unwrap();
    m
}

fn rows<T: Real>() -> DMatrix<T> {
    DMatrix::from_fn(ROWS, D, |i, j| T::of(2.0 * hash(i * D + j, 2.0)))
}

/// The BatchTopK threshold the exports are tested with.
const THRESHOLD: f64 = 0.05;

/// Every case the exporter maps: tied ReLU, untied TopK and BatchTopK with
/// its threshold (as JumpReLU), in every bias mode.
fn models<T: Real>() -> Vec<Autoencoder<T>> {
    let mut out = Vec::new();
    for bias in BiasMode::ALL {
        let cases = [
            (true, Activation::Relu),
            (false, Activation::Relu),
            (false, Activation::TopK { k: 3 }),
            (true, Activation::TopK { k: 4 }),
            (false, Activation::BatchTopK { k: 3 }),
        ];
        for (tied, act) in cases {
            let spec = AutoencoderSpec::new(&[D, R])
                .tied(tied)
                .activation(act)
                .bias(bias);
            let mut m = filled::<T>(&spec);
            if act.is_batch_top_k() {
                m.set_batch_top_k_threshold(0, Some(THRESHOLD)).unwrap();
            }
            out.push(m);
        }
    }
    out
}

/// `|a − b| <= tol·(1 + |b|)` entry by entry.
fn assert_close<T: Real>(a: &DMatrix<T>, b: &DMatrix<T>, tol: f64, what: &str) {
    assert_eq!(a.shape(), b.shape(), "{what}");
    for (k, (x, y)) in a.iter().zip(b.iter()).enumerate() {
        let (x, y) = (x.f64(), y.f64());
        assert!(
            (x - y).abs() <= tol * (1.0 + y.abs()),
            "{what}: entry {k}: {x} vs {y}"
        );
    }
}

/// No TopK selection of these rows is within `margin` of a tie, and no
/// pre-activation within `margin` of a BatchTopK threshold, so readers
/// with other rounding or tie rules keep the same units.
fn away_from_ties<T: Real>(m: &Autoencoder<T>, x: &DMatrix<T>, margin: f64) {
    let mut ws = Workspace::new();
    m.forward_with(x, &mut ws).unwrap();
    let z = &ws.encoder_pre_activations()[0];
    let act = m.latent_activation();
    if !act.is_batch_top_k() {
        assert!(!act.near_tie(z, margin), "{:?}: a TopK tie", m.spec());
    }
    if let Some(t) = m.batch_top_k_thresholds()[0] {
        assert!(
            z.iter().all(|v| (v.f64() - t).abs() > margin),
            "{:?}: a value at the threshold",
            m.spec()
        );
    }
}

fn round_trip<T: Real>(tol: f64) {
    let x = rows::<T>();
    for m in models::<T>() {
        let what = format!("{} {:?}", T::NAME, m.spec());
        away_from_ties(&m, &x, 1e-6);
        let files = m.to_saelens().unwrap();
        let back = Autoencoder::<T>::from_saelens(&files.cfg, &files.weights).unwrap();
        assert!(!back.spec().tied[0], "{what}: imports are untied");
        assert_eq!(back.latent_activation(), m.latent_activation(), "{what}");
        // The threshold travels in the model's precision.
        let in_precision =
            |t: &[Option<f64>]| -> Vec<Option<T>> { t.iter().map(|v| v.map(T::of)).collect() };
        assert_eq!(
            in_precision(back.batch_top_k_thresholds()),
            in_precision(m.batch_top_k_thresholds()),
            "{what}"
        );
        let (h, h_back) = (m.encode(&x).unwrap(), back.encode(&x).unwrap());
        assert_close(&h_back, &h, tol, &format!("{what}: encode"));
        assert_close(
            &back.decode(&h).unwrap(),
            &m.decode(&h).unwrap(),
            tol,
            &format!("{what}: decode"),
        );
        assert_close(
            &back.reconstruct(&x).unwrap(),
            &m.reconstruct(&x).unwrap(),
            tol,
            &format!("{what}: reconstruct"),
        );
        // Pre-centering with no encoder bias comes back as pre-centering.
        if m.spec().bias == BiasMode::PreCentering {
            assert_eq!(back.spec().bias, BiasMode::PreCentering, "{what}");
        }
    }
}

#[test]
fn an_export_read_back_encodes_and_decodes_the_same() {
    round_trip::<f64>(1e-6);
    round_trip::<f32>(1e-6);
}

#[test]
fn the_files_have_saelens_names_orientation_and_fields() {
    let spec = AutoencoderSpec::new(&[D, R])
        .tied(false)
        .activation(Activation::TopK { k: 3 })
        .bias(BiasMode::PreCentering);
    let m = filled::<f32>(&spec);
    let files = m.to_saelens().unwrap();
    let cfg: Value = serde_json::from_slice(&files.cfg).unwrap();
    assert_eq!(cfg["architecture"], "topk");
    assert_eq!(cfg["k"], 3);
    assert_eq!(cfg["d_in"], D);
    assert_eq!(cfg["d_sae"], R);
    assert_eq!(cfg["dtype"], "float32");
    assert_eq!(cfg["apply_b_dec_to_input"], true);
    assert_eq!(cfg["normalize_activations"], "none");
    assert_eq!(cfg["metadata"]["sae_lens_version"], "6.0.0");
    let file = SafeTensors::deserialize(&files.weights).unwrap();
    let mut names: Vec<String> = file.names().into_iter().map(|s| s.to_string()).collect();
    names.sort();
    assert_eq!(names, ["W_dec", "W_enc", "b_dec", "b_enc"]);
    let w_enc = file.tensor("W_enc").unwrap();
    assert_eq!((w_enc.dtype(), w_enc.shape()), (Dtype::F32, &[D, R][..]));
    // W_enc[j][i] is the encoder weight's entry (i, j).
    let (i, j) = (5, 2);
    let at = (j * R + i) * 4;
    let value = f32::from_le_bytes(w_enc.data()[at..at + 4].try_into().unwrap());
    assert_eq!(value, m.layers()[0].encoder_weight()[(i, j)]);
    assert_eq!(file.tensor("W_dec").unwrap().shape(), &[R, D][..]);

    // BatchTopK goes out as JumpReLU with its threshold on every latent.
    let spec = AutoencoderSpec::new(&[D, R])
        .tied(false)
        .activation(Activation::BatchTopK { k: 3 });
    let mut m = filled::<f64>(&spec);
    m.set_batch_top_k_threshold(0, Some(THRESHOLD)).unwrap();
    let files = m.to_saelens().unwrap();
    let cfg: Value = serde_json::from_slice(&files.cfg).unwrap();
    assert_eq!(cfg["architecture"], "jumprelu");
    assert_eq!(cfg["dtype"], "float64");
    let file = SafeTensors::deserialize(&files.weights).unwrap();
    let t = file.tensor("threshold").unwrap();
    assert_eq!(t.shape(), &[R][..]);
    for chunk in t.data().chunks_exact(8) {
        assert_eq!(f64::from_le_bytes(chunk.try_into().unwrap()), THRESHOLD);
    }
}

fn refused(m: &Autoencoder<f32>) -> String {
    match m.to_saelens() {
        Err(e @ Error::Config { .. }) => {
            let line = e.to_string();
            assert!(!line.contains('\n'), "{line}");
            line
        }
        other => panic!("expected a one-line refusal, got {other:?}"),
    }
}

#[test]
fn what_saelens_has_no_form_for_is_refused() {
    let stack = Autoencoder::<f32>::new(
        &AutoencoderSpec::new(&[D, 6, 4]).activation(Activation::Relu),
        1,
    )
    .unwrap();
    assert!(refused(&stack).contains("stack"));
    let sigmoid = Autoencoder::<f32>::new(
        &AutoencoderSpec::new(&[D, R]).activation(Activation::Sigmoid),
        1,
    )
    .unwrap();
    assert!(refused(&sigmoid).contains("sigmoid"));
    let signed = Autoencoder::<f32>::new(
        &AutoencoderSpec::new(&[D, R]).activation(Activation::TopKSigned { k: 2 }),
        1,
    )
    .unwrap();
    assert!(refused(&signed).contains("top_k_signed"));
    let output = Autoencoder::<f32>::new(
        &AutoencoderSpec::new(&[D, R])
            .activation(Activation::Relu)
            .output(OutputActivation::Sigmoid),
        1,
    )
    .unwrap();
    assert!(refused(&output).contains("output activation"));
    let untrained = Autoencoder::<f32>::new(
        &AutoencoderSpec::new(&[D, R]).activation(Activation::BatchTopK { k: 2 }),
        1,
    )
    .unwrap();
    assert!(refused(&untrained).contains("threshold"));
}

/// A tensor written by hand: its name, shape and values.
type NamedTensor<'a> = (&'a str, Vec<usize>, Vec<f64>);

/// The export of a ReLU SAE with its cfg.json edited by `edit`, and its
/// tensors replaced by `tensors` when given.
fn import_edited(
    edit: impl Fn(&mut Value),
    tensors: Option<Vec<NamedTensor<'_>>>,
) -> Result<Autoencoder<f64>, Error> {
    let spec = AutoencoderSpec::new(&[D, R])
        .tied(false)
        .activation(Activation::Relu);
    let files = filled::<f64>(&spec).to_saelens().unwrap();
    let mut cfg: Value = serde_json::from_slice(&files.cfg).unwrap();
    edit(&mut cfg);
    let weights = match tensors {
        None => files.weights,
        Some(list) => {
            let bytes: Vec<(String, Vec<usize>, Vec<u8>)> = list
                .into_iter()
                .map(|(name, shape, values)| {
                    let data = values.iter().flat_map(|v| v.to_le_bytes()).collect();
                    (name.to_string(), shape, data)
                })
                .collect();
            let views = bytes.iter().map(|(name, shape, data)| {
                (
                    name.clone(),
                    TensorView::new(Dtype::F64, shape.clone(), data).unwrap(),
                )
            });
            safetensors::tensor::serialize(views, None).unwrap()
        }
    };
    Autoencoder::<f64>::from_saelens(&serde_json::to_vec(&cfg).unwrap(), &weights)
}

/// SAELens's four tensors of a `D × R` SAE, every value `fill`.
fn four(fill: f64) -> Vec<(&'static str, Vec<usize>, Vec<f64>)> {
    vec![
        ("W_enc", vec![D, R], vec![fill; D * R]),
        ("W_dec", vec![R, D], vec![fill; R * D]),
        ("b_enc", vec![R], vec![fill; R]),
        ("b_dec", vec![D], vec![fill; D]),
    ]
}

fn refusal(result: Result<Autoencoder<f64>, Error>) -> String {
    match result {
        Err(e @ Error::InvalidData(_)) => {
            let line = e.to_string();
            assert!(!line.contains('\n'), "{line}");
            line
        }
        other => panic!("expected a one-line refusal, got {other:?}"),
    }
}

#[test]
fn what_tiedae_has_no_form_for_is_refused_on_import() {
    let gated = refusal(import_edited(|c| c["architecture"] = "gated".into(), None));
    assert!(gated.contains("gated"), "{gated}");
    let norm = refusal(import_edited(
        |c| c["normalize_activations"] = "layer_norm".into(),
        None,
    ));
    assert!(norm.contains("normalize_activations"), "{norm}");
    let shape = refusal(import_edited(|c| c["d_sae"] = (R + 1).into(), None));
    assert!(shape.contains("shape"), "{shape}");
    let mut nan = four(0.1);
    nan[1].2[7] = f64::NAN;
    let nan = refusal(import_edited(|_| {}, Some(nan)));
    assert!(nan.contains("W_dec[7] is not finite"), "{nan}");
    // A JumpReLU SAE whose thresholds differ per latent.
    let mut per_latent = four(0.1);
    per_latent.push(("threshold", vec![R], (0..R).map(|i| i as f64).collect()));
    let per_latent = refusal(import_edited(
        |c| c["architecture"] = "jumprelu".into(),
        Some(per_latent),
    ));
    assert!(per_latent.contains("per-latent"), "{per_latent}");
    // An extra tensor is not a file of this architecture.
    let mut extra = four(0.1);
    extra.push(("threshold", vec![R], vec![0.0; R]));
    let extra = refusal(import_edited(|_| {}, Some(extra)));
    assert!(extra.contains("5 tensors"), "{extra}");
}

#[test]
fn a_constant_jumprelu_threshold_and_folded_shifts_import_exactly() {
    // apply_b_dec_to_input with a nonzero b_enc: the shift is folded into
    // the encoder bias; a constant JumpReLU threshold is BatchTopK's.
    let mut tensors = four(0.0);
    for (n, t) in tensors.iter_mut().enumerate() {
        for (k, v) in t.2.iter_mut().enumerate() {
            *v = hash(k, 3.0 + n as f64);
        }
    }
    tensors.push(("threshold", vec![R], vec![THRESHOLD; R]));
    let reference = tensors.clone();
    let m = import_edited(
        |c| {
            c["architecture"] = "jumprelu".into();
            c["apply_b_dec_to_input"] = true.into();
        },
        Some(tensors),
    )
    .unwrap();
    assert_eq!(m.spec().bias, BiasMode::Separate);
    assert!(m.latent_activation().is_batch_top_k());
    assert_eq!(m.batch_top_k_thresholds(), &[Some(THRESHOLD)]);
    // SAELens's forward, written out.
    fn get<'a>(list: &'a [(&str, Vec<usize>, Vec<f64>)], name: &str) -> &'a [f64] {
        &list.iter().find(|t| t.0 == name).unwrap().2
    }
    let w_enc = get(&reference, "W_enc");
    let w_dec = get(&reference, "W_dec");
    let b_enc = get(&reference, "b_enc");
    let b_dec = get(&reference, "b_dec");
    let x = rows::<f64>();
    let h = m.encode(&x).unwrap();
    let y = m.decode(&h).unwrap();
    for n in 0..ROWS {
        for (i, &be) in b_enc.iter().enumerate() {
            let z: f64 = be
                + (0..D)
                    .map(|j| (x[(n, j)] - b_dec[j]) * w_enc[j * R + i])
                    .sum::<f64>();
            assert!(
                (z - THRESHOLD).abs() > 1e-6,
                "row {n} unit {i} at the threshold"
            );
            let a = if z > THRESHOLD { z } else { 0.0 };
            assert!((h[(n, i)] - a).abs() <= 1e-9, "row {n} unit {i}");
        }
        for (j, &bd) in b_dec.iter().enumerate() {
            let v: f64 = bd + (0..R).map(|i| h[(n, i)] * w_dec[i * D + j]).sum::<f64>();
            assert!((y[(n, j)] - v).abs() <= 1e-9, "row {n} column {j}");
        }
    }
}

#[test]
fn a_tied_model_comes_back_with_cosines_of_one() {
    for bias in BiasMode::ALL {
        let spec = AutoencoderSpec::new(&[D, R])
            .activation(Activation::Relu)
            .bias(bias);
        let m = filled::<f64>(&spec);
        assert!(m.decoder_encoder_cosines().is_none(), "tied: no cosines");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sae");
        m.save_saelens(&path).unwrap();
        assert!(path.join(CFG_FILE).is_file() && path.join(WEIGHTS_FILE).is_file());
        let back = Autoencoder::<f64>::load_saelens(path).unwrap();
        let cosines = back.decoder_encoder_cosines().unwrap();
        assert_eq!(cosines.len(), R);
        for (i, c) in cosines.iter().enumerate() {
            assert!((c - 1.0).abs() < 1e-12, "{bias:?}: latent {i}: {c}");
        }
    }
}

/// Whether python3 imports every module of `modules`.
fn python_has(modules: &str) -> bool {
    Command::new("python3")
        .args(["-c", &format!("import {modules}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Set to `1` to fail instead of skipping when python3 cannot import
/// sae_lens.
const REQUIRE_SAELENS_ENV: &str = "TIEDAE_REQUIRE_SAELENS";

/// What scripts/saelens_check.py computed for one export: the backend that
/// ran it, its code and its decoded code.
type ScriptResult = (String, DMatrix<f64>, DMatrix<f64>);

/// Runs scripts/saelens_check.py once on every export of `dirs` with
/// `rows` (one Python start, as importing sae_lens dominates); a result per
/// directory, in the order given.
fn check_script(dirs: &[PathBuf], rows: &Path, numpy: bool) -> Vec<ScriptResult> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/saelens_check.py");
    let mut cmd = Command::new("python3");
    cmd.arg(script);
    if numpy {
        cmd.arg("--numpy");
    }
    let run = cmd.arg(rows).args(dirs).output().unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let out: Value = serde_json::from_slice(&run.stdout).unwrap();
    let results = out.as_array().unwrap();
    assert_eq!(results.len(), dirs.len(), "one result per export");
    results
        .iter()
        .zip(dirs)
        .map(|(result, dir)| {
            assert_eq!(
                result["dir"].as_str().unwrap(),
                dir.to_string_lossy(),
                "results in the order given"
            );
            let matrix = |key: &str| {
                let rows = result[key].as_array().unwrap();
                let cols = rows[0].as_array().unwrap().len();
                DMatrix::from_fn(rows.len(), cols, |i, j| rows[i][j].as_f64().unwrap())
            };
            let backend = result["backend"].as_str().unwrap().to_string();
            (backend, matrix("encode"), matrix("decode"))
        })
        .collect()
}

fn compare_with_script<T: Real>(numpy: bool) {
    let dir = tempfile::tempdir().unwrap();
    let x = rows::<T>();
    let list: Vec<Vec<f64>> = (0..ROWS)
        .map(|i| (0..D).map(|j| x[(i, j)].f64()).collect())
        .collect();
    let rows_path = dir.path().join("rows.json");
    std::fs::write(&rows_path, serde_json::to_vec(&list).unwrap()).unwrap();
    let to_f64 = |m: &DMatrix<T>| m.map(|v| v.f64());
    let saes = models::<T>();
    let exports: Vec<PathBuf> = saes
        .iter()
        .enumerate()
        .map(|(s, m)| {
            away_from_ties(m, &x, 1e-6);
            let export = dir.path().join(format!("sae{s}"));
            m.save_saelens(&export).unwrap();
            export
        })
        .collect();
    let results = check_script(&exports, &rows_path, numpy);
    for (m, (backend, h, y)) in saes.iter().zip(results) {
        assert_eq!(backend == "numpy", numpy, "{backend}");
        let what = format!("{backend} {} {:?}", T::NAME, m.spec());
        let code = m.encode(&x).unwrap();
        assert_close(&h, &to_f64(&code), 1e-5, &format!("{what}: encode"));
        let decoded = m.decode(&code).unwrap();
        assert_close(&y, &to_f64(&decoded), 1e-5, &format!("{what}: decode"));
    }
}

#[test]
fn saelens_or_its_numpy_reading_computes_the_same_encode_and_decode() {
    if python_has("numpy, safetensors") {
        compare_with_script::<f64>(true);
        compare_with_script::<f32>(true);
    } else {
        eprintln!("numpy fallback skipped: python3 cannot import numpy and safetensors");
    }
    if python_has("sae_lens") {
        compare_with_script::<f64>(false);
        compare_with_script::<f32>(false);
    } else {
        assert!(
            std::env::var_os(REQUIRE_SAELENS_ENV).is_none_or(|v| v != "1"),
            "{REQUIRE_SAELENS_ENV}=1 but python3 cannot import sae_lens"
        );
        eprintln!(
            "SAE.load_from_disk check skipped: python3 cannot import sae_lens (set {REQUIRE_SAELENS_ENV}=1 to require it)"
        );
    }
}
