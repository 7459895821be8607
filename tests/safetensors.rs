//! Safetensors export: files read back bit for bit, bad files are refused
//! by name, and an independent reader (scripts/safetensors_forward.py, with
//! PyTorch or NumPy) computes the same forward pass from the file alone,
//! TopK and BatchTopK models included.

use nalgebra::DMatrix;
use safetensors::tensor::{Dtype, SafeTensors, TensorView};
use std::path::Path;
use std::process::Command;
use tiedae::Error;
use tiedae::model::{
    Activation, Autoencoder, AutoencoderSpec, BiasMode, ConvSpec, ImageShape, OutputActivation,
    Workspace,
};
use tiedae::real::Real;

/// A model with every parameter set to a distinct deterministic value, so
/// biases are not the zeros a fresh model starts with.
fn filled<T: Real>(spec: &AutoencoderSpec) -> Autoencoder<T> {
    let mut m = Autoencoder::<T>::new(spec, 7).unwrap();
    let p: Vec<T> = (0..m.n_params())
        .map(|i| T::of(((i * 37 % 101) as f64 - 50.0) / 173.0))
        .collect();
    m.set_params(&p).unwrap();
    m
}

fn specs() -> Vec<AutoencoderSpec> {
    let mut out = Vec::new();
    for bias in BiasMode::ALL {
        out.push(AutoencoderSpec::new(&[6, 4]).bias(bias));
        out.push(
            AutoencoderSpec::new(&[6, 5, 3])
                .tied_per_layer(vec![true, false])
                .activation(Activation::Tanh)
                .output(OutputActivation::Sigmoid)
                .bias(bias),
        );
        out.push(
            AutoencoderSpec::new(&[6, 5, 2])
                .tied(false)
                .activations(vec![Activation::Relu, Activation::LeakyRelu { alpha: 0.1 }])
                .bias(bias),
        );
    }
    out
}

/// Sparse-autoencoder models: ReLU TopK, BatchTopK, and their signed
/// variants in a stack (a TopK activation on the decoder side too), in every
/// bias mode. With these weights and the test's rows no selection is
/// within 1e-3 of a tie, so two readers cannot pick different units.
fn top_k_specs() -> Vec<AutoencoderSpec> {
    let mut out = Vec::new();
    for bias in BiasMode::ALL {
        out.push(
            AutoencoderSpec::new(&[6, 4])
                .activation(Activation::TopK { k: 2 })
                .bias(bias),
        );
        out.push(
            AutoencoderSpec::new(&[6, 4])
                .tied(false)
                .activation(Activation::BatchTopK { k: 2 })
                .bias(bias),
        );
        out.push(
            AutoencoderSpec::new(&[6, 5, 3])
                .tied_per_layer(vec![true, false])
                .activations(vec![
                    Activation::TopKSigned { k: 3 },
                    Activation::BatchTopKSigned { k: 1 },
                ])
                .bias(bias),
        );
    }
    out
}

/// The BatchTopK inference threshold the Python reader is tested with.
const THRESHOLD: f64 = 0.01;

fn round_trip<T: Real>() {
    for spec in specs().into_iter().chain(top_k_specs()) {
        let mut m = filled::<T>(&spec);
        if spec.hidden[0].is_batch_top_k() {
            // The learned threshold travels in the metadata.
            m.set_batch_top_k_threshold(0, Some(THRESHOLD)).unwrap();
        }
        let bytes = m.to_safetensors().unwrap();
        let back = Autoencoder::<T>::from_safetensors(&bytes).unwrap();
        assert_eq!(back.spec(), m.spec());
        assert_eq!(back.batch_top_k_thresholds(), m.batch_top_k_thresholds());
        let (a, b) = (m.params_to_vec(), back.params_to_vec());
        assert_eq!(a.len(), b.len());
        for (x, y) in a.iter().zip(&b) {
            assert_eq!(x.f64().to_bits(), y.f64().to_bits(), "{spec:?}");
        }
        // The other precision is refused by name, not converted silently.
        let wrong = if T::NAME == "f32" {
            Autoencoder::<f64>::from_safetensors(&bytes).err()
        } else {
            Autoencoder::<f32>::from_safetensors(&bytes).err()
        };
        assert!(
            matches!(&wrong, Some(Error::InvalidData(m)) if m.contains(T::NAME)),
            "{wrong:?}"
        );
    }
}

#[test]
fn models_read_back_bit_for_bit_in_both_precisions() {
    round_trip::<f32>();
    round_trip::<f64>();
}

#[test]
fn tensors_have_the_documented_names_and_shapes() {
    let spec = AutoencoderSpec::new(&[6, 5, 3])
        .tied_per_layer(vec![true, false])
        .bias(BiasMode::Separate);
    let m = filled::<f32>(&spec);
    let bytes = m.to_safetensors().unwrap();
    let file = SafeTensors::deserialize(&bytes).unwrap();
    let mut names: Vec<String> = file.names().into_iter().map(|s| s.to_string()).collect();
    names.sort();
    assert_eq!(
        names,
        [
            "pairs.0.decoder.bias",
            "pairs.0.encoder.bias",
            "pairs.0.weight",
            "pairs.1.decoder.bias",
            "pairs.1.decoder.weight",
            "pairs.1.encoder.bias",
            "pairs.1.encoder.weight",
        ]
    );
    let w = file.tensor("pairs.0.weight").unwrap();
    assert_eq!((w.dtype(), w.shape()), (Dtype::F32, &[5usize, 6][..]));
    // Row-major, PyTorch's Linear layout: entry (1, 2) of W.
    let at = (6 + 2) * 4;
    let value = f32::from_le_bytes(w.data()[at..at + 4].try_into().unwrap());
    assert_eq!(value, m.layers()[0].encoder_weight()[(1, 2)]);
    assert_eq!(
        file.tensor("pairs.1.decoder.weight").unwrap().shape(),
        &[5usize, 3][..]
    );
}

#[test]
fn bad_files_are_refused_by_name() {
    let m = filled::<f64>(&AutoencoderSpec::new(&[6, 4]));
    let bytes = m.to_safetensors().unwrap();
    let err = |b: &[u8]| match Autoencoder::<f64>::from_safetensors(b) {
        Err(Error::InvalidData(m)) => m,
        other => panic!("expected InvalidData, got {other:?}"),
    };
    assert!(err(&bytes[..bytes.len() - 3]).contains("safetensors"));
    assert!(err(b"not a file").contains("safetensors"));
    // A well-formed safetensors file that is not a tiedae model.
    let data = [0u8; 8];
    let other = safetensors::tensor::serialize(
        [("x", TensorView::new(Dtype::F64, vec![1], &data).unwrap())],
        None,
    )
    .unwrap();
    assert!(err(&other).contains("metadata"));
    // A non-finite weight (written by hand: the model refuses one) is named.
    let mut patched = bytes.clone();
    let header = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let (start, _) = file_offsets(&bytes, "pairs.0.weight");
    let at = 8 + header + start;
    patched[at..at + 8].copy_from_slice(&f64::NAN.to_le_bytes());
    let message = err(&patched);
    assert!(message.contains("finite"), "{message}");
}

/// The data offsets of tensor `name` from the file's JSON header.
fn file_offsets(bytes: &[u8], name: &str) -> (usize, usize) {
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let header: serde_json::Value = serde_json::from_slice(&bytes[8..8 + n]).unwrap();
    let o = &header[name]["data_offsets"];
    (
        o[0].as_u64().unwrap() as usize,
        o[1].as_u64().unwrap() as usize,
    )
}

#[test]
fn conv_models_are_not_exported() {
    let spec = AutoencoderSpec::conv(ImageShape::new(1, 8, 8), &[ConvSpec::new(4, 3, 1, 1)])
        .unwrap()
        .then_dense(&[8]);
    let m = Autoencoder::<f32>::new(&spec, 1).unwrap();
    match m.to_safetensors() {
        Err(Error::Config { .. }) => {}
        other => panic!("expected a config error, got {other:?}"),
    }
}

/// Whether the Python side can run: `safetensors` and NumPy importable.
fn python_reader() -> bool {
    Command::new("python3")
        .args(["-c", "import safetensors, numpy"])
        .output()
        .is_ok_and(|o| o.status.success())
}

#[test]
fn an_independent_reader_computes_the_same_forward_pass() {
    if !python_reader() {
        // CI installs them and sets TIEDAE_REQUIRE_SAFETENSORS_PY.
        assert!(
            std::env::var_os("TIEDAE_REQUIRE_SAFETENSORS_PY").is_none(),
            "TIEDAE_REQUIRE_SAFETENSORS_PY is set but python3 cannot import safetensors and numpy"
        );
        eprintln!("skipped: python3 with safetensors and numpy is not available");
        return;
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/safetensors_forward.py");
    let dir = tempfile::tempdir().unwrap();
    let x = DMatrix::from_fn(5, 6, |i, j| ((i * 7 + j * 3) % 11) as f64 / 11.0 - 0.3);
    let mut xbytes = Vec::new();
    for i in 0..5 {
        for j in 0..6 {
            xbytes.extend(x[(i, j)].to_le_bytes());
        }
    }
    let input = dir.path().join("x.safetensors");
    std::fs::write(
        &input,
        safetensors::tensor::serialize(
            [(
                "x",
                TensorView::new(Dtype::F64, vec![5, 6], &xbytes).unwrap(),
            )],
            None,
        )
        .unwrap(),
    )
    .unwrap();
    let mut models: Vec<Autoencoder<f64>> = specs()
        .iter()
        .chain(&top_k_specs())
        .map(filled::<f64>)
        .collect();
    // BatchTopK models with a learned threshold: the reader applies it
    // instead of selecting over the rows (no pre-activation is within 1e-3
    // of it).
    models.extend(top_k_specs().iter().filter_map(|spec| {
        let mut m = filled::<f64>(spec);
        let batch: Vec<usize> = (0..spec.hidden.len())
            .filter(|&l| spec.hidden[l].is_batch_top_k())
            .collect();
        for &l in &batch {
            m.set_batch_top_k_threshold(l, Some(THRESHOLD)).unwrap();
        }
        (!batch.is_empty()).then_some(m)
    }));
    for (s, m) in models.iter().enumerate() {
        let spec = m.spec();
        // A selection near a tie could go either way in two readers'
        // rounding: the cases are chosen away from one.
        let mut ws = Workspace::new();
        m.forward_with(&x, &mut ws).unwrap();
        let pairs = spec.hidden.iter().zip(ws.encoder_pre_activations());
        for ((act, z), threshold) in pairs.zip(m.batch_top_k_thresholds()) {
            assert!(!act.near_tie(z, 1e-9), "{spec:?}: a TopK tie");
            if let Some(t) = *threshold {
                assert!(z.iter().all(|v| (v - t).abs() > 1e-9), "{spec:?}: at {t}");
            }
        }
        let model = dir.path().join(format!("m{s}.safetensors"));
        let out = dir.path().join(format!("y{s}.safetensors"));
        m.save_safetensors(&model).unwrap();
        let run = Command::new("python3")
            .arg(&script)
            .args([&model, &input, &out])
            .output()
            .unwrap();
        assert!(
            run.status.success(),
            "{}",
            String::from_utf8_lossy(&run.stderr)
        );
        let bytes = std::fs::read(&out).unwrap();
        let file = SafeTensors::deserialize(&bytes).unwrap();
        let y = file.tensor("y").unwrap();
        assert_eq!(y.shape(), &[5usize, 6][..]);
        let ours = m.reconstruct(&x).unwrap();
        for (k, chunk) in y.data().chunks_exact(8).enumerate() {
            let theirs = f64::from_le_bytes(chunk.try_into().unwrap());
            let mine = ours[(k / 6, k % 6)];
            assert!(
                (theirs - mine).abs() <= 1e-12 * (1.0 + mine.abs()),
                "{spec:?} (thresholds {:?}): entry {k}: python {theirs} vs tiedae {mine}",
                m.batch_top_k_thresholds()
            );
        }
    }
}
