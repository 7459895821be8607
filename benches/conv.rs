//! Conv tied autoencoders on mnist10k against a dense tied AE with the same
//! latent size: test MSE, parameter counts and ms/epoch (f32, batch 256,
//! Adam, on a 2-thread rayon pool).
//!
//! Run: `cargo bench --bench conv`. `TIEDAE_CONV_EPOCHS` sets the epochs
//! (default 30). The split is a stratified 80/20 split of mnist10k (its rows
//! are sorted by label, so an unstratified head/tail split would be wrong).
//! PCA with the same number of components is printed as the linear
//! reference (Eckart–Young: no rank-64 linear map does better). Compare
//! ratios between machines, never absolute times.

use std::time::Instant;
use tiedae::data::{Dataset, train_test_split};
use tiedae::linalg::Pca;
use tiedae::model::{
    Activation, Autoencoder, AutoencoderSpec, ConvSpec, ImageShape, OutputActivation,
};
use tiedae::train::{Optimizer, Progress, TrainConfig, Trainer};

const LATENT: usize = 64;
const THREADS: usize = 2;

/// The models compared, all with a 64-wide latent code.
fn models() -> Vec<(&'static str, AutoencoderSpec)> {
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
    let wide = [ConvSpec::new(8, 4, 2, 1), ConvSpec::new(16, 4, 2, 1)];
    let slim = [ConvSpec::new(8, 4, 2, 1), ConvSpec::new(8, 4, 2, 1)];
    vec![
        (
            "dense tied 784-64",
            AutoencoderSpec::new(&[784, LATENT]).output(OutputActivation::Sigmoid),
        ),
        (
            "dense tied 784-256-64",
            AutoencoderSpec::new(&[784, 256, LATENT])
                .activations(vec![Activation::Relu, Activation::Identity])
                .output(OutputActivation::Sigmoid),
        ),
        ("conv tied 8,16 + 64", conv(&wide)),
        ("conv untied 8,16 + 64", conv(&wide).tied(false)),
        ("conv tied 8,8 + 64", conv(&slim)),
    ]
}

fn main() {
    let epochs: usize = std::env::var("TIEDAE_CONV_EPOCHS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(30);
    let only = std::env::var("TIEDAE_CONV_ONLY").ok();
    let ds = Dataset::builtin("mnist10k").expect("built-in mnist10k");
    let (train, test) = train_test_split(&ds, 0.2, 0).expect("split");
    let (xtr, xte) = (train.x_as::<f32>(), test.x_as::<f32>());
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(THREADS)
        .build()
        .expect("rayon pool");
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
    for (name, spec) in models() {
        if only.as_deref().is_some_and(|o| !name.contains(o)) {
            continue;
        }
        let model = Autoencoder::<f32>::new(&spec, 1).expect("model");
        let params = model.n_params();
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
        let t = Instant::now();
        let out = pool.install(|| trainer.fit(model, &xtr)).expect("training");
        let wall = t.elapsed().as_secs_f64();
        // Per-epoch times as the trainer records them; the fastest is the
        // least disturbed by other load on a shared machine.
        let best_epoch_ms = out
            .history
            .epochs
            .iter()
            .map(|e| e.seconds * 1e3)
            .fold(f64::INFINITY, f64::min);
        let test_mse = out.model.reconstruction_mse(&xte).expect("test mse");
        let train_mse = out.model.reconstruction_mse(&xtr).expect("train mse");
        println!(
            "{name:<24} {params:>9} {test_mse:>10.6} {train_mse:>10.6} {best_epoch_ms:>9.1}   ({:.1} s total)",
            wall
        );
    }
}
