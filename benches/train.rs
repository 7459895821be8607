//! Training speed: ms/epoch of tied autoencoders on mnist10k (10000 x 784,
//! f32, Adam, batch 256, sigmoid output) beside PyTorch's TiedLinear
//! reference (`../shared/bench/torch_tied_ae.py`) run in the same invocation,
//! and the speed-up from 1 to 2 rayon threads.
//!
//! Each model's line also gives its roofline: the FLOPs of one epoch (matrix
//! products only) and the rate they ran at, beside the best f32 rate this
//! machine's two threads reach on a large square product (faer, 2048²), so a
//! goal that needs more than that rate shows as such.
//!
//! Run: `cargo bench --bench train`. Environment: `TIEDAE_PYTHON` (default
//! `python3`), `TIEDAE_TORCH_AE` (path of the reference script),
//! `TIEDAE_BENCH_EPOCHS` (timed epochs per measurement, default 3). Without
//! torch the comparison is skipped and says so. Compare ratios between
//! machines, never absolute times.

mod peer;

use nalgebra::DMatrix;
use peer::{Goal, Peer, goal_line, sgemm_peak};
use std::collections::BTreeMap;
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

/// FLOPs of the matrix products of one epoch over `n` samples of a tied
/// stack `dims`: per pair the encoder and decoder products, the decoder's
/// weight gradient and input gradient, the encoder's weight gradient, and
/// its input gradient except for the first pair (nothing needs `∂L/∂x`):
/// `2 d r` FLOPs per sample each.
fn flops_per_epoch(dims: &[usize], n: usize) -> f64 {
    dims.windows(2)
        .enumerate()
        .map(|(l, w)| {
            let products = if l == 0 { 5.0 } else { 6.0 };
            products * 2.0 * (w[0] * w[1]) as f64
        })
        .sum::<f64>()
        * n as f64
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
    let peak = sgemm_peak(2);
    println!("roofline: f32 gemm 2048² through faer on 2 threads {peak:.0} GFLOP/s");
    let mut goals = Vec::new();
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
        let gflop = flops_per_epoch(&dims, x.nrows()) / 1e9;
        line.push_str(&format!(
            "  {gflop:.2} GFLOP/epoch at {:.0} GFLOP/s ({:.0}% of the gemm rate; {:.1} ms/epoch at that rate)",
            gflop / two * 1e3,
            100.0 * gflop / two * 1e3 / peak,
            gflop / peak * 1e3
        ));
        println!("{line}");
        goals.push((key, 100.0 * gflop / two * 1e3 / peak, one / two));
    }
    // One line per goal: every shape's epoch at >= 85% of the gemm rate,
    // and >= 1.85x from 1 to 2 threads.
    for (key, share, speedup) in goals {
        goal_line(
            &format!("roofline share % {key}"),
            share,
            Goal::AtLeast,
            85.0,
        );
        goal_line(
            &format!("speed-up 1->2 threads {key}"),
            speedup,
            Goal::AtLeast,
            1.85,
        );
    }
}

/// PyTorch's TiedLinear reference script (`../shared/bench/torch_tied_ae.py`).
struct Torch(Peer);

impl Torch {
    fn prepare(x: &DMatrix<f32>) -> Result<Self, String> {
        Peer::prepare(x, "TIEDAE_TORCH_AE", "torch_tied_ae.py", "torch", "torch").map(Torch)
    }

    /// ms/epoch per model, keyed `"[784, 64] relu"` as the script prints.
    fn run(&self, epochs: usize) -> Result<BTreeMap<String, f64>, String> {
        let out = self.0.run([epochs.to_string()])?;
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
            return Err(self.0.no_timings(&out));
        }
        Ok(times)
    }
}
