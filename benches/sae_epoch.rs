//! TopK sparse-autoencoder training speed: ms/epoch of a 784 -> 1024 TopK
//! SAE on mnist10k (10000 x 784, f32), `k` = 32 and 64, tied and untied,
//! through the dense path and the sparse one
//! ([`DecodePath`](tiedae::model::DecodePath): the decoder's products and,
//! over the nonzero entries of the gradient at the pre-activations, the
//! encoder's weight gradient), beside PyTorch's reference
//! (`../shared/bench/torch_topk_sae.py`) run in the same invocation on the
//! same rows.
//!
//! The model is the reference's: pre-encoder bias `b_pre` at the data mean,
//! TopK with a ReLU on the kept values, the untied decoder starting as the
//! encoder's transpose, decoder directions held at unit norm (parallel
//! gradient removed before each step, renormalised after it), MSE, Adam at
//! 1e-3, batch 256. One difference: the reference also has an encoder bias
//! `b_enc` (r entries), which tiedae's pre-centering mode does not; it is
//! one vector addition per batch.
//!
//! Per configuration the bench prints both paths' times and the sparse
//! path's speed-up over the dense one, the final training loss of each (the
//! same model trained two ways: they agree to rounding), and PyTorch's time
//! with the ratio tiedae (sparse) / PyTorch; then one goal line per
//! configuration: an epoch at most 0.3 of PyTorch's.
//!
//! Run: `cargo bench --bench sae_epoch`. Environment: `TIEDAE_PYTHON`
//! (default `python3`), `TIEDAE_TORCH_TOPK` (path of the reference script),
//! `TIEDAE_BENCH_EPOCHS` (epochs per run; default 3, the script's default).
//! Each path runs 3 times and the best run is kept, as the script keeps
//! the best of its three runs; the ratio compares means over the epochs of
//! a run (the script's statistic). Without torch the comparison is skipped
//! and says so. The first lines give the CPU and its vector extensions,
//! the last the CPU time the hypervisor stole. Compare ratios between
//! machines, never absolute times.

mod peer;

use nalgebra::DMatrix;
use peer::{Goal, Peer, goal_line};
use tiedae::data::Dataset;
use tiedae::model::{
    Activation, Autoencoder, AutoencoderSpec, BiasMode, DecodePath, Init, PreBiasInit,
    SPARSE_DECODE_DENSITY,
};
use tiedae::train::{Optimizer, Progress, TrainConfig, Trainer};

/// Latent width and the TopK budgets measured (densities 1/32 and 1/16).
const LATENTS: usize = 1024;
const KS: [usize; 2] = [32, 64];
/// Rows per batch, as the reference.
const BATCH: usize = 256;
/// Runs per path and configuration; the best is kept.
const ROUNDS: usize = 3;
/// The goal: an epoch in at most this share of PyTorch's.
const GOAL: f64 = 0.3;

fn kind(tied: bool) -> &'static str {
    if tied { "tied" } else { "untied" }
}

fn model(x: &DMatrix<f32>, k: usize, tied: bool, path: DecodePath) -> Autoencoder<f32> {
    let spec = AutoencoderSpec::new(&[x.ncols(), LATENTS])
        .activation(Activation::TopK { k })
        .bias(BiasMode::PreCentering)
        .init(Init::TiedGlorotUniform)
        .tied(tied)
        .decode_path(path);
    let mut m = Autoencoder::new(&spec, 0).expect("valid spec");
    m.init_pre_bias(x, PreBiasInit::Mean)
        .expect("pre-centering bias at the mean");
    m
}

/// One run of `epochs` epochs: the fastest and the mean epoch in ms, and
/// the last epoch's training loss.
fn run(x: &DMatrix<f32>, k: usize, tied: bool, path: DecodePath, epochs: usize) -> Run {
    let trainer = Trainer::new(
        TrainConfig::new()
            .epochs(epochs)
            .batch_size(BATCH)
            .optimizer(Optimizer::adam())
            .learning_rate(1e-3)
            .unit_norm_decoder(true)
            .progress(Progress::Silent),
    )
    .expect("valid config");
    let out = trainer.fit(model(x, k, tied, path), x).expect("training");
    let (fastest, mean) = peer::epoch_ms(&out.history);
    let loss = out.history.train_loss().last().copied().unwrap_or(f64::NAN);
    Run {
        fastest,
        mean,
        loss,
    }
}

/// The best of several runs of one path (each statistic's best).
#[derive(Clone, Copy)]
struct Run {
    fastest: f64,
    mean: f64,
    loss: f64,
}

impl Run {
    fn best(self, other: Run) -> Run {
        Run {
            fastest: self.fastest.min(other.fastest),
            mean: self.mean.min(other.mean),
            loss: other.loss,
        }
    }
}

fn main() {
    let steal = peer::Steal::start();
    let epochs: usize = std::env::var("TIEDAE_BENCH_EPOCHS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    println!("{}", peer::cpu_line());
    let ds = Dataset::builtin("mnist10k").expect("built-in mnist10k");
    let x = ds.x_as::<f32>();
    println!(
        "TopK SAE training, mnist10k {} x {} f32 -> {LATENTS} latents, Adam 1e-3, batch {BATCH}, \
         unit-norm decoder, {epochs} epochs per run, best of {ROUNDS} runs, {} rayon threads",
        x.nrows(),
        x.ncols(),
        rayon::current_num_threads()
    );
    let auto: Vec<String> = KS
        .iter()
        .map(|&k| {
            let sparse = k as f64 <= SPARSE_DECODE_DENSITY * LATENTS as f64;
            format!("k = {k} {}", if sparse { "sparse" } else { "dense" })
        })
        .collect();
    println!(
        "DecodePath::Auto decodes sparsely at k / r <= {SPARSE_DECODE_DENSITY} (here: {})",
        auto.join(", ")
    );
    let torch = Torch::prepare(&x);
    if let Err(why) = &torch {
        println!("PyTorch peer skipped: {why}");
    }
    let mut goals: Vec<(String, Option<f64>)> = Vec::new();
    for k in KS {
        for tied in [false, true] {
            let key = format!("{} 784-{LATENTS} k={k}", kind(tied));
            let (mut dense, mut sparse): (Option<Run>, Option<Run>) = (None, None);
            // Rounds alternate the paths, so a burst of other load spoils
            // one round of each rather than one path.
            for _ in 0..ROUNDS {
                let d = run(&x, k, tied, DecodePath::Dense, epochs);
                dense = Some(dense.map_or(d, |b| b.best(d)));
                let s = run(&x, k, tied, DecodePath::Sparse, epochs);
                sparse = Some(sparse.map_or(s, |b| b.best(s)));
            }
            let (dense, sparse) = (dense.expect("a round"), sparse.expect("a round"));
            println!(
                "tiedae {key:<22} dense {:7.1} ms/epoch (fastest {:7.1})  sparse {:7.1} ms/epoch \
                 (fastest {:7.1})  speed-up {:.2}x  final loss dense {:.5} sparse {:.5}",
                dense.mean,
                dense.fastest,
                sparse.mean,
                sparse.fastest,
                dense.mean / sparse.mean,
                dense.loss,
                sparse.loss
            );
            let ratio = match &torch {
                Ok(t) => match t.best_of(k, tied, epochs) {
                    Ok((ms, threads)) => {
                        let ratio = sparse.mean / ms;
                        println!(
                            "    torch  {key:<22} {ms:7.1} ms/epoch (its best mean, {threads} threads)  \
                             ratio tiedae sparse / torch {ratio:.2}  dense / torch {:.2}",
                            dense.mean / ms
                        );
                        Some(ratio)
                    }
                    Err(why) => {
                        println!("    PyTorch run failed: {why}");
                        None
                    }
                },
                Err(_) => None,
            };
            goals.push((key, ratio));
        }
    }
    for (key, ratio) in goals {
        let name =
            format!("TopK SAE epoch {key}, tiedae sparse / PyTorch (<= {GOAL} of PyTorch's epoch)");
        match ratio {
            Some(r) => {
                goal_line(&name, r, Goal::AtMost, GOAL);
            }
            None => println!("goal {name}: skipped (no PyTorch measurement)"),
        }
    }
    steal.report();
}

/// PyTorch's TopK SAE reference script (`../shared/bench/torch_topk_sae.py`).
struct Torch(Peer);

impl Torch {
    fn prepare(x: &DMatrix<f32>) -> Result<Self, String> {
        Peer::prepare(
            x,
            "TIEDAE_TORCH_TOPK",
            "torch_topk_sae.py",
            "torch",
            "torch",
        )
        .map(Torch)
    }

    /// ms/epoch of one configuration, the script's best of its three
    /// runs' means, and its thread count: it prints `threads N`, then
    /// `torch topk sae untied 784-1024 k=32: 1106.0 ms/epoch (...) mse=...`.
    fn best_of(&self, k: usize, tied: bool, epochs: usize) -> Result<(f64, String), String> {
        let args = [
            LATENTS.to_string(),
            k.to_string(),
            epochs.to_string(),
            if tied { "1" } else { "0" }.to_string(),
        ];
        let out = self.0.run(args)?;
        let text = String::from_utf8_lossy(&out.stdout);
        let (mut threads, mut ms) = (String::from("?"), None);
        for line in text.lines() {
            if let Some(t) = line.strip_prefix("threads ") {
                threads = t.trim().to_string();
            }
            if let Some(rest) = line.strip_prefix("torch topk sae ")
                && let Some((_, tail)) = rest.split_once(": ")
                && let Some(v) = tail
                    .split_whitespace()
                    .next()
                    .and_then(|v| v.parse::<f64>().ok())
            {
                ms = Some(v);
            }
        }
        match ms {
            Some(ms) => Ok((ms, threads)),
            None => Err(self.0.no_timings(&out)),
        }
    }
}
