//! Training speed: ms/epoch of tied autoencoders on mnist10k (10000 x 784,
//! f32, Adam, batch 256, sigmoid output) beside PyTorch's TiedLinear
//! reference (`../shared/bench/torch_tied_ae.py`) run in the same invocation,
//! and the speed-up from 1 to 2 rayon threads.
//!
//! Each model's second line gives its roofline: the same matrix products as
//! one epoch, at the same shapes, batches, shards and thread split, timed
//! alone (faer on each thread). The epoch's share of that time is what the
//! work outside the products (gather, activations, loss, optimizer, norms,
//! reductions) leaves, and is the goal. Beside it, the epoch's FLOP rate as
//! a share of the best rate two threads reach on a large square product
//! (faer, 2048²), for context.
//!
//! Run: `cargo bench --bench train`. Environment: `TIEDAE_PYTHON` (default
//! `python3`), `TIEDAE_TORCH_AE` (path of the reference script),
//! `TIEDAE_BENCH_EPOCHS` (epochs per measurement; default 5). Each model is
//! measured in 3 rounds and the best round of each measurement kept. The
//! ratio against PyTorch compares means over the same number of epochs (the
//! script's statistic); the roofline share and the speed-up use the fastest
//! epochs. Without torch the comparison is skipped and says so. The last
//! line gives the CPU time the hypervisor stole during the run. Compare
//! ratios between machines, never absolute times.

mod peer;

use faer::linalg::matmul::matmul;
use faer::{Accum, Mat, Par};
use nalgebra::DMatrix;
use peer::{Goal, Peer, goal_line, sgemm_peak};
use rayon::prelude::*;
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

/// The fastest and the mean epoch of an `epochs`-epoch run on a pool of
/// `threads` threads, in ms. The trainer times each epoch; the fastest is
/// the one least disturbed by other load, the mean is what the PyTorch
/// script reports (its whole loop over its epochs).
fn ms_per_epoch(
    x: &DMatrix<f32>,
    dims: &[usize],
    act: Activation,
    threads: usize,
    epochs: usize,
) -> (f64, f64) {
    let trainer = Trainer::new(
        TrainConfig::new()
            .epochs(epochs)
            .batch_size(BATCH)
            .optimizer(Optimizer::adam())
            .learning_rate(1e-3)
            .progress(Progress::Silent),
    )
    .expect("valid config");
    let out = pool(threads)
        .install(|| trainer.fit(model(dims, act), x))
        .expect("training");
    peer::epoch_ms(&out.history)
}

fn pool(threads: usize) -> rayon::ThreadPool {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .expect("thread pool")
}

/// Rounds of the three measurements per model (see `main`).
const ROUNDS: usize = 3;

/// Rows per batch and per shard, as the trainer cuts them by default.
const BATCH: usize = 256;
const SHARD: usize = 128;

/// The products of one shard of a tied pair, with their own buffers.
struct PairProducts {
    w: Mat<f32>,
    /// The pair's input (`m x d`) and its gradient.
    x: Mat<f32>,
    dx: Mat<f32>,
    /// Code, decoder output and their gradients.
    h: Mat<f32>,
    dh: Mat<f32>,
    v: Mat<f32>,
    dv: Mat<f32>,
    g: Mat<f32>,
}

impl PairProducts {
    fn new(m: usize, d: usize, r: usize) -> Self {
        let fill = |rows, cols| {
            Mat::<f32>::from_fn(rows, cols, |i, j| ((i * 7 + j * 3) % 17) as f32 * 0.01)
        };
        PairProducts {
            w: fill(r, d),
            x: fill(m, d),
            dx: fill(m, d),
            h: fill(m, r),
            dh: fill(m, r),
            v: fill(m, d),
            dv: fill(m, d),
            g: fill(r, d),
        }
    }

    /// The five or six products the trainer runs for this pair on one
    /// shard (see [`flops_per_epoch`]), on the calling thread.
    fn run(&mut self, first: bool) {
        let seq = Par::Seq;
        let PairProducts {
            w,
            x,
            dx,
            h,
            dh,
            v,
            dv,
            g,
        } = self;
        matmul(
            h.as_mut(),
            Accum::Replace,
            x.as_ref(),
            w.transpose(),
            1.0,
            seq,
        );
        matmul(v.as_mut(), Accum::Replace, h.as_ref(), w.as_ref(), 1.0, seq);
        matmul(
            g.as_mut(),
            Accum::Replace,
            h.transpose(),
            dv.as_ref(),
            1.0,
            seq,
        );
        matmul(
            dh.as_mut(),
            Accum::Replace,
            dv.as_ref(),
            w.transpose(),
            1.0,
            seq,
        );
        matmul(g.as_mut(), Accum::Add, dh.transpose(), x.as_ref(), 1.0, seq);
        if !first {
            matmul(
                dx.as_mut(),
                Accum::Replace,
                dh.as_ref(),
                w.as_ref(),
                1.0,
                seq,
            );
        }
    }
}

/// The fastest of `epochs` epochs of the model's matrix products alone, in
/// ms: the same products at the same shapes as a training epoch over `n`
/// samples, with the trainer's batches, shards and thread split (the
/// shards of a batch in parallel), and nothing else. This is the roofline
/// of the model's shape: the time an epoch would take if everything outside
/// its products were free.
fn products_ms(dims: &[usize], n: usize, threads: usize, epochs: usize) -> f64 {
    let shard = |m: usize| -> Vec<PairProducts> {
        dims.windows(2)
            .map(|w| PairProducts::new(m, w[0], w[1]))
            .collect()
    };
    // Buffers for a full batch's shards, and for the shorter last batch's.
    let mut full: Vec<_> = (0..BATCH / SHARD).map(|_| shard(SHARD)).collect();
    let rest = n % BATCH;
    let mut last: Vec<_> = (0..rest)
        .step_by(SHARD)
        .map(|s| shard(SHARD.min(rest - s)))
        .collect();
    pool(threads).install(|| {
        let mut best = f64::INFINITY;
        for _ in 0..=epochs {
            let t = Instant::now();
            for _ in 0..n / BATCH {
                full.par_iter_mut().for_each(|p| run_shard(p));
            }
            last.par_iter_mut().for_each(|p| run_shard(p));
            best = best.min(t.elapsed().as_secs_f64() * 1e3);
        }
        best
    })
}

fn run_shard(pairs: &mut [PairProducts]) {
    for (l, p) in pairs.iter_mut().enumerate() {
        p.run(l == 0);
    }
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
    let steal = peer::Steal::start();
    let epochs: usize = std::env::var("TIEDAE_BENCH_EPOCHS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5);
    let ds = Dataset::builtin("mnist10k").expect("built-in mnist10k");
    let x = ds.x_as::<f32>();
    println!(
        "tied AE training, mnist10k {} x {} f32, Adam, batch 256, {epochs} timed epochs",
        x.nrows(),
        x.ncols()
    );
    let torch = Torch::prepare(&x);
    let torch_times = match &torch {
        Ok(t) => match t.best_of(ROUNDS, epochs) {
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
        // Rounds of all three measurements, the fastest of each kept: a
        // burst of other load then spoils one round, not the ratio.
        let inf = f64::INFINITY;
        let (mut two, mut mean, mut one, mut products) = (inf, inf, inf, inf);
        for _ in 0..ROUNDS {
            let (fastest, m) = ms_per_epoch(&x, &dims, act, 2, epochs);
            (two, mean) = (two.min(fastest), mean.min(m));
            one = one.min(ms_per_epoch(&x, &dims, act, 1, epochs).0);
            products = products.min(products_ms(&dims, x.nrows(), 2, epochs));
        }
        let key = format!("{dims:?} {name}");
        let mut line = format!(
            "tiedae tied {key:<22} 2 threads {two:7.1} ms/epoch  1 thread {one:7.1} ms/epoch  speed-up {:.2}x",
            one / two
        );
        if let Some(t) = torch_times.as_ref().and_then(|m| m.get(&key)) {
            line.push_str(&format!(
                "  mean {mean:7.1} ms/epoch  torch {t:7.1} ms/epoch (its mean)  ratio ours/torch {:.2}",
                mean / t
            ));
        }
        println!("{line}");
        let gflop = flops_per_epoch(&dims, x.nrows()) / 1e9;
        let share = 100.0 * products / two;
        println!(
            "    products alone {products:.1} ms/epoch ({gflop:.2} GFLOP at {:.0} GFLOP/s): the epoch runs at {share:.0}% of its shape's roofline; \
             {:.0}% of the 2048² rate ({:.1} ms/epoch at that rate)",
            gflop / products * 1e3,
            100.0 * gflop / two * 1e3 / peak,
            gflop / peak * 1e3
        );
        goals.push((key, share, one / two));
    }
    // One line per goal: every epoch at >= 85% of its shape's roofline
    // (its products alone), and >= 1.85x from 1 to 2 threads.
    for (key, share, speedup) in goals {
        goal_line(
            &format!("roofline share % (products alone = 100) {key}"),
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
    steal.report();
}

/// PyTorch's TiedLinear reference script (`../shared/bench/torch_tied_ae.py`).
struct Torch(Peer);

impl Torch {
    fn prepare(x: &DMatrix<f32>) -> Result<Self, String> {
        Peer::prepare(x, "TIEDAE_TORCH_AE", "torch_tied_ae.py", "torch", "torch").map(Torch)
    }

    /// The best of `rounds` runs of `epochs` epochs, per model (see
    /// [`Torch::run`]).
    fn best_of(&self, rounds: usize, epochs: usize) -> Result<BTreeMap<String, f64>, String> {
        let mut best = self.run(epochs)?;
        for _ in 1..rounds {
            for (key, ms) in self.run(epochs)? {
                best.entry(key).and_modify(|b| *b = b.min(ms)).or_insert(ms);
            }
        }
        Ok(best)
    }

    /// ms/epoch per model, keyed `"[784, 64] relu"` as the script prints:
    /// the mean over its epochs.
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
