//! Training speed: ms/epoch of tied autoencoders on mnist10k (10000 x 784,
//! f32, Adam, batch 256, sigmoid output) beside PyTorch's TiedLinear
//! reference (`../shared/bench/torch_tied_ae.py`) run in the same invocation,
//! and the speed-up from 1 to 2 rayon threads.
//!
//! Run: `cargo bench --bench train`. Environment: `TIEDAE_PYTHON` (default
//! `python3`), `TIEDAE_TORCH_AE` (path of the reference script),
//! `TIEDAE_BENCH_EPOCHS` (timed epochs per measurement, default 3). Without
//! torch the comparison is skipped and says so. Compare ratios between
//! machines, never absolute times.

use nalgebra::DMatrix;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;
use tiedae::data::Dataset;
use tiedae::model::{Activation, Autoencoder, AutoencoderSpec, Init, OutputActivation};
use tiedae::train::{Optimizer, Progress, TrainConfig, Trainer};

/// The four models of the reference script, with its names.
fn models() -> Vec<(Vec<usize>, &'static str, Activation)> {
    let mut out = Vec::new();
    for dims in [vec![784, 64], vec![784, 256, 64]] {
        for (name, act) in [("relu", Activation::Relu), ("sigmoid", Activation::Sigmoid)] {
            out.push((dims.clone(), name, act));
        }
    }
    out
}

fn model(dims: &[usize], act: Activation) -> Autoencoder<f32> {
    // Same initialisation as the reference: N(0, 0.01²) weights, zero biases.
    let spec = AutoencoderSpec::new(dims)
        .activation(act)
        .output(OutputActivation::Sigmoid)
        .init(Init::Normal { std: 0.01 });
    Autoencoder::new(&spec, 0).expect("valid spec")
}

/// Milliseconds per epoch over `epochs` epochs (after one warm-up epoch) on
/// a pool of `threads` threads.
fn ms_per_epoch(
    x: &DMatrix<f32>,
    dims: &[usize],
    act: Activation,
    threads: usize,
    epochs: usize,
) -> f64 {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .expect("thread pool");
    let cfg = |epochs| {
        Trainer::new(
            TrainConfig::new()
                .epochs(epochs)
                .batch_size(256)
                .optimizer(Optimizer::adam())
                .learning_rate(1e-3)
                .progress(Progress::Silent),
        )
        .expect("valid config")
    };
    pool.install(|| {
        let warm = cfg(1).fit(model(dims, act), x).expect("training");
        std::hint::black_box(warm);
        let t = Instant::now();
        let out = cfg(epochs).fit(model(dims, act), x).expect("training");
        let ms = t.elapsed().as_secs_f64() * 1e3 / epochs as f64;
        std::hint::black_box(out);
        ms
    })
}

fn main() {
    let epochs: usize = std::env::var("TIEDAE_BENCH_EPOCHS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    let ds = Dataset::builtin("mnist10k").expect("built-in mnist10k");
    let x = ds.x_as::<f32>();
    println!(
        "tied AE training, mnist10k {} x {} f32, Adam, batch 256, {epochs} timed epochs",
        x.nrows(),
        x.ncols()
    );
    let torch = Torch::prepare(&x);
    let torch_times = match &torch {
        Ok(t) => match t.run(epochs.max(2)) {
            Ok(times) => Some(times),
            Err(why) => {
                println!("PyTorch run failed: {why}");
                None
            }
        },
        Err(why) => {
            println!("PyTorch peer skipped: {why}");
            None
        }
    };
    for (dims, name, act) in models() {
        let two = ms_per_epoch(&x, &dims, act, 2, epochs);
        let one = ms_per_epoch(&x, &dims, act, 1, epochs);
        let key = format!("{dims:?} {name}");
        let mut line = format!(
            "tiedae tied {key:<22} 2 threads {two:7.1} ms/epoch  1 thread {one:7.1} ms/epoch  speed-up {:.2}x",
            one / two
        );
        if let Some(t) = torch_times.as_ref().and_then(|m| m.get(&key)) {
            line.push_str(&format!(
                "  torch {t:7.1} ms/epoch  ratio ours/torch {:.2}",
                two / t
            ));
        }
        println!("{line}");
    }
}

/// The PyTorch reference script, its interpreter and the data file.
struct Torch {
    python: String,
    script: PathBuf,
    npy: PathBuf,
    _dir: tempfile::TempDir,
}

impl Torch {
    fn prepare(x: &DMatrix<f32>) -> Result<Self, String> {
        let python = std::env::var("TIEDAE_PYTHON").unwrap_or_else(|_| "python3".into());
        let script = std::env::var_os("TIEDAE_TORCH_AE").map_or_else(
            || Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/bench/torch_tied_ae.py"),
            PathBuf::from,
        );
        if !script.exists() {
            return Err(format!("{} not found", script.display()));
        }
        let probe = Command::new(&python)
            .args(["-c", "import torch, numpy"])
            .output()
            .map_err(|e| format!("cannot run {python}: {e}"))?;
        if !probe.status.success() {
            return Err(format!(
                "{python} cannot import torch and numpy (pip install torch numpy)"
            ));
        }
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let npy = dir.path().join("mnist10k.npy");
        tiedae::atomic::write_bytes_atomic(&npy, &npy_bytes(x)).map_err(|e| e.to_string())?;
        Ok(Torch {
            python,
            script,
            npy,
            _dir: dir,
        })
    }

    /// ms/epoch per model, keyed `"[784, 64] relu"` as the script prints.
    fn run(&self, epochs: usize) -> Result<BTreeMap<String, f64>, String> {
        let out = Command::new(&self.python)
            .arg(&self.script)
            .arg(&self.npy)
            .arg(epochs.to_string())
            .output()
            .map_err(|e| format!("cannot run {}: {e}", self.script.display()))?;
        let text = String::from_utf8_lossy(&out.stdout);
        let mut times = BTreeMap::new();
        for line in text.lines() {
            // "torch tied [784, 64] relu: 123.4 ms/epoch (...) mse=..."
            if let Some(rest) = line.strip_prefix("torch tied ")
                && let Some((key, tail)) = rest.split_once(": ")
                && let Some(ms) = tail.split_whitespace().next().and_then(|v| v.parse().ok())
            {
                times.insert(key.to_string(), ms);
            }
        }
        if times.is_empty() {
            return Err(format!(
                "no timings printed (stderr: {})",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        Ok(times)
    }
}

/// A NumPy `.npy` (format 1.0) of `x` as `<f4` in Fortran order
/// (nalgebra's column-major layout).
fn npy_bytes(x: &DMatrix<f32>) -> Vec<u8> {
    let mut header = format!(
        "{{'descr': '<f4', 'fortran_order': True, 'shape': ({}, {}), }}",
        x.nrows(),
        x.ncols()
    );
    let unpadded = 10 + header.len() + 1;
    header.push_str(&" ".repeat(unpadded.next_multiple_of(64) - unpadded));
    header.push('\n');
    let mut bytes = Vec::with_capacity(10 + header.len() + 4 * x.len());
    bytes.extend_from_slice(b"\x93NUMPY\x01\x00");
    bytes.extend_from_slice(&(header.len() as u16).to_le_bytes());
    bytes.extend_from_slice(header.as_bytes());
    for v in x.as_slice() {
        bytes.extend_from_slice(&v.to_le_bytes());
    }
    bytes
}
