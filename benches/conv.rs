//! Conv tied autoencoders on mnist10k against a dense tied AE with the same
//! latent size: test MSE, parameter counts and ms/epoch (f32, batch 256,
//! Adam, on a 2-thread rayon pool).
//!
//! Each conv tied model is also timed by PyTorch's reference
//! (`../shared/bench/torch_conv_tied_ae.py`, the same geometry) on the same
//! training rows in the same run, both sides by the same protocol: the best
//! of 3 runs of 5 epochs. Each model's line gives the rate its products ran
//! at against the machine's f32 gemm rate on a large square product and its
//! 1 to 2 thread speed-up (fastest epochs). The ratio against PyTorch
//! compares mean epochs, the script's statistic. The last lines state each goal: measured, goal, met
//! or not, and the CPU time the hypervisor stole during the run.
//!
//! Run: `cargo bench --bench conv`. `TIEDAE_CONV_EPOCHS` sets the epochs
//! (default 30); `TIEDAE_PYTHON` and `TIEDAE_TORCH_CONV_AE` choose the
//! peer's interpreter and script; without torch the comparison is skipped
//! and says so. The split is a stratified 80/20 split of mnist10k (its rows
//! are sorted by label, so an unstratified head/tail split would be wrong).
//! PCA with the same number of components is printed as the linear
//! reference (Eckart–Young: no rank-64 linear map does better). Compare
//! ratios between machines, never absolute times.

mod peer;

use nalgebra::DMatrix;
use peer::{Goal, Peer, goal_line, sgemm_peak};
use std::time::Instant;
use tiedae::data::{Dataset, train_test_split};
use tiedae::linalg::Pca;
use tiedae::model::{
    Activation, Autoencoder, AutoencoderSpec, ConvSpec, ImageShape, OutputActivation,
};
use tiedae::train::{Optimizer, Progress, TrainConfig, Trainer};

const LATENT: usize = 64;
const THREADS: usize = 2;

/// The conv geometries: encoder channels, each a 4x4 kernel with stride 2
/// and padding 1, as the PyTorch reference builds them.
const WIDE: [usize; 2] = [8, 16];
const SLIM: [usize; 2] = [8, 8];

/// The models compared, all with a 64-wide latent code; conv models carry
/// their channels (the PyTorch reference's argument).
fn models() -> Vec<(&'static str, AutoencoderSpec, Option<[usize; 2]>)> {
    let image = ImageShape::new(1, 28, 28);
    let conv = |convs: &[ConvSpec]| {
        AutoencoderSpec::conv(image, convs)
            .expect("valid geometry")
            .then_dense(&[LATENT])
            .activations(vec![
                Activation::Relu,
                Activation::Relu,
                Activation::Identity,
            ])
            .output(OutputActivation::Sigmoid)
    };
    let layers = |c: [usize; 2]| c.map(|o| ConvSpec::new(o, 4, 2, 1));
    vec![
        (
            "dense tied 784-64",
            AutoencoderSpec::new(&[784, LATENT]).output(OutputActivation::Sigmoid),
            None,
        ),
        (
            "dense tied 784-256-64",
            AutoencoderSpec::new(&[784, 256, LATENT])
                .activations(vec![Activation::Relu, Activation::Identity])
                .output(OutputActivation::Sigmoid),
            None,
        ),
        ("conv tied 8,16 + 64", conv(&layers(WIDE)), Some(WIDE)),
        (
            "conv untied 8,16 + 64",
            conv(&layers(WIDE)).tied(false),
            None,
        ),
        ("conv tied 8,8 + 64", conv(&layers(SLIM)), Some(SLIM)),
    ]
}

/// FLOPs of one epoch's products over `n` samples of a conv tied model
/// with `channels` (4x4, stride 2, padding 1, from 1x28x28) and the dense
/// pair to the code: per layer the encoder's and decoder's forward
/// products, both weight gradients, the decoder's input gradient and the
/// encoder's input gradient except for the first layer, each as many FLOPs
/// as the forward product (`2 C_out H_out W_out C_in k²` for a conv).
fn conv_flops_per_epoch(channels: [usize; 2], n: usize) -> f64 {
    let (mut c, mut side) = (1usize, 28usize);
    let mut total = 0.0;
    for (l, &o) in channels.iter().enumerate() {
        side = (side + 2 - 4) / 2 + 1;
        let forward = 2.0 * (o * side * side * c * 16) as f64;
        total += if l == 0 { 5.0 } else { 6.0 } * forward;
        c = o;
    }
    total += 6.0 * 2.0 * (c * side * side * LATENT) as f64;
    total * n as f64
}

/// The fastest and the mean epoch of an `epochs`-epoch run of `spec` on
/// `threads` threads, in ms, with the run's outcome. The trainer times each
/// epoch: the fastest is the least disturbed by other load, the mean is the
/// statistic the PyTorch script reports.
fn fastest_epoch(
    spec: &AutoencoderSpec,
    x: &DMatrix<f32>,
    epochs: usize,
    threads: usize,
) -> (f64, f64, tiedae::train::TrainOutcome<f32>) {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .expect("rayon pool");
    let model = Autoencoder::<f32>::new(spec, 1).expect("model");
    let trainer = Trainer::new(
        TrainConfig::new()
            .epochs(epochs)
            .batch_size(256)
            .optimizer(Optimizer::adam())
            .learning_rate(2e-3)
            .seed(3)
            .progress(Progress::Silent),
    )
    .expect("config");
    let out = pool.install(|| trainer.fit(model, x)).expect("training");
    let (fastest, mean) = peer::epoch_ms(&out.history);
    (fastest, mean, out)
}

fn main() {
    let steal = peer::Steal::start();
    let epochs: usize = std::env::var("TIEDAE_CONV_EPOCHS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(30);
    let only = std::env::var("TIEDAE_CONV_ONLY").ok();
    let ds = Dataset::builtin("mnist10k").expect("built-in mnist10k");
    let (train, test) = train_test_split(&ds, 0.2, 0).expect("split");
    let (xtr, xte) = (train.x_as::<f32>(), test.x_as::<f32>());
    println!(
        "mnist10k: {} train / {} test rows, f32, batch 256, Adam lr 2e-3, {epochs} epochs, {THREADS} threads",
        xtr.nrows(),
        xte.nrows()
    );
    let pca = Pca::count(LATENT).fit(&train.x().clone()).expect("pca");
    let pca_mse = pca.reconstruction_mse(test.x()).expect("pca mse");
    println!("PCA k={LATENT} (linear optimum): test MSE {pca_mse:.6}");
    println!(
        "{:<24} {:>9} {:>10} {:>10} {:>9}",
        "model", "params", "test MSE", "train MSE", "ms/epoch"
    );
    let torch = Peer::prepare(
        &xtr,
        "TIEDAE_TORCH_CONV_AE",
        "torch_conv_tied_ae.py",
        "torch",
        "torch",
    );
    if let Err(why) = &torch {
        println!("PyTorch peer skipped: {why}");
    }
    let peak = sgemm_peak(THREADS);
    println!("roofline: f32 gemm 2048² through faer on {THREADS} threads {peak:.0} GFLOP/s");
    let mut goals = Vec::new();
    for (name, spec, channels) in models() {
        if only.as_deref().is_some_and(|o| !name.contains(o)) {
            continue;
        }
        let t = Instant::now();
        let (ms, _, out) = fastest_epoch(&spec, &xtr, epochs, THREADS);
        let wall = t.elapsed().as_secs_f64();
        let params = out.model.n_params();
        let test_mse = out.model.reconstruction_mse(&xte).expect("test mse");
        let train_mse = out.model.reconstruction_mse(&xtr).expect("train mse");
        println!(
            "{name:<24} {params:>9} {test_mse:>10.6} {train_mse:>10.6} {ms:>9.1}   ({wall:.1} s total)"
        );
        let Some(channels) = channels else {
            continue;
        };
        // Timings by the peer's protocol: the best of `TORCH_ROUNDS` runs
        // of `TORCH_EPOCHS` epochs on each thread count, so the ratio
        // compares the same statistic and the speed-up the same number of
        // epochs on both sides.
        let inf = f64::INFINITY;
        let (mut two, mut mean, mut one) = (inf, inf, inf);
        for _ in 0..TORCH_ROUNDS {
            let (fastest, m, _) = fastest_epoch(&spec, &xtr, TORCH_EPOCHS, THREADS);
            (two, mean) = (two.min(fastest), mean.min(m));
            one = one.min(fastest_epoch(&spec, &xtr, TORCH_EPOCHS, 1).0);
        }
        let gflop = conv_flops_per_epoch(channels, xtr.nrows()) / 1e9;
        let share = 100.0 * gflop / two * 1e3 / peak;
        let mut line = format!(
            "    {gflop:.2} GFLOP/epoch at {:.0} GFLOP/s ({share:.0}% of the gemm rate); fastest of {TORCH_ROUNDS} x {TORCH_EPOCHS} epochs: 2 threads {two:.1} ms/epoch, 1 thread {one:.1} ms/epoch, speed-up {:.2}x",
            gflop / two * 1e3,
            one / two
        );
        let mut ratio = None;
        if let Ok(peer) = &torch {
            match torch_ms(peer, channels) {
                Ok(t) => {
                    line.push_str(&format!(
                        "; mean {mean:.1} ms/epoch, torch {t:.1} ms/epoch (its mean), ratio ours/torch {:.2}",
                        mean / t
                    ));
                    ratio = Some(mean / t);
                }
                Err(why) => line.push_str(&format!("; PyTorch run failed: {why}")),
            }
        }
        println!("{line}");
        goals.push((name, ratio, share, one / two));
    }
    // One line per goal: conv epochs at <= 0.3x PyTorch's, and >= 1.85x
    // from 1 to 2 threads; the roofline share is printed beside them.
    for (name, ratio, share, speedup) in goals {
        if let Some(r) = ratio {
            goal_line(&format!("ratio ours/torch {name}"), r, Goal::AtMost, 0.3);
        }
        println!("roofline share {name}: {share:.0}% of the gemm rate");
        goal_line(
            &format!("speed-up 1->2 threads {name}"),
            speedup,
            Goal::AtLeast,
            1.85,
        );
    }
    steal.report();
}

/// PyTorch's ms/epoch for the conv tied model with `channels`: the best of
/// [`TORCH_ROUNDS`] runs of [`TORCH_EPOCHS`] epochs, each the script's mean.
fn torch_ms(peer: &Peer, channels: [usize; 2]) -> Result<f64, String> {
    let mut best = f64::INFINITY;
    for _ in 0..TORCH_ROUNDS {
        best = best.min(torch_run(peer, channels)?);
    }
    Ok(best)
}

const TORCH_ROUNDS: usize = 3;
const TORCH_EPOCHS: usize = 5;

/// One run of the PyTorch script.
fn torch_run(peer: &Peer, channels: [usize; 2]) -> Result<f64, String> {
    let arg = format!("{},{}", channels[0], channels[1]);
    let out = peer.run([TORCH_EPOCHS.to_string(), arg])?;
    // "torch conv tied 8,16 + 64: 410.2 ms/epoch (...)"
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| {
            l.strip_prefix("torch conv tied ")?
                .split_once(": ")?
                .1
                .split_whitespace()
                .next()?
                .parse()
                .ok()
        })
        .ok_or_else(|| peer.no_timings(&out))
}
