//! How cost grows with the work: PCA fit time (k = 64) and the time of one
//! training epoch (tied `d`-64 ReLU, sigmoid output, Adam, batch 256, f32)
//! against the number of rows `n` and the number of features `d`, with the
//! peak RSS of each point, the fitted exponent of each curve, the 1 to 2
//! thread speed-up of each shape, and scikit-learn (`svd_solver="auto"`,
//! its own choice) and PyTorch (`../shared/bench/torch_tied_ae.py`) at the
//! same points, where they run.
//!
//! - Against `n` (d = 784): mnist10k's rows repeated to 2,500 ... 60,000
//!   rows (repeats cost what new rows cost: nothing is cached across rows).
//! - Against `d` (n = 10,000): spiked-covariance data (64 spikes decaying
//!   like `1 / j`, unit noise; [`SpikedCovariance`]) at d = 64 ... 3072,
//!   since no built-in dataset has 3072 features.
//!
//! Each point runs in a child process (this bench re-executed with
//! `TIEDAE_SCALING_POINT` set), so its peak RSS (`VmHWM`) is its own. The
//! exponent is the least-squares slope of log time on log size: 1 is
//! linear, which is what both costs should be in `n`; in `d` the epoch is
//! linear and the covariance PCA quadratic (`n d²` to form it).
//!
//! Run: `cargo bench --bench scaling` (a few minutes; `TIEDAE_PYTHON`
//! chooses the peers' interpreter, and a peer that cannot run is skipped
//! and says so). Compare exponents, ratios and speed-ups between machines,
//! never absolute times.

mod peer;

use nalgebra::DMatrix;
use peer::{Goal, Peer, goal_line};
use std::process::Command;
use std::time::Instant;
use tiedae::data::{Dataset, SpikedCovariance};
use tiedae::linalg::Pca;
use tiedae::model::{Activation, Autoencoder, AutoencoderSpec, Init, OutputActivation};
use tiedae::train::{Optimizer, Progress, TrainConfig, Trainer};

const POINT_ENV: &str = "TIEDAE_SCALING_POINT";
const NS: [usize; 6] = [2_500, 5_000, 10_000, 20_000, 40_000, 60_000];
const DS: [usize; 5] = [64, 256, 784, 1_568, 3_072];
const K: usize = 64;

/// What one point measures.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Work {
    Pca,
    Epoch,
}

impl Work {
    fn name(self) -> &'static str {
        match self {
            Work::Pca => "pca",
            Work::Epoch => "epoch",
        }
    }
}

/// The data of a point: mnist10k's rows repeated to `n` when `d` is 784,
/// spiked-covariance data otherwise.
fn data(n: usize, d: usize) -> DMatrix<f64> {
    if d == 784 {
        let ds = Dataset::builtin("mnist10k").expect("built-in mnist10k");
        let x = ds.x();
        DMatrix::from_fn(n, d, |i, j| x[(i % x.nrows(), j)])
    } else {
        let spikes = (1..=K).map(|j| 5.0 / j as f64).collect();
        SpikedCovariance::new(n, d, spikes, 1.0, 7)
            .generate()
            .expect("spiked data")
            .dataset
            .x()
            .clone()
    }
}

/// Seconds of the fastest of 3 fits after a warm-up fit (PCA), or of the
/// fastest of 3 epochs after a warm-up epoch (training), on `threads`
/// threads: the fastest is the least disturbed by other load.
fn measure(work: Work, x: &DMatrix<f64>, threads: usize) -> f64 {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .expect("thread pool");
    pool.install(|| match work {
        Work::Pca => {
            std::hint::black_box(Pca::count(K).fit(x).expect("fit"));
            (0..3)
                .map(|_| {
                    let t = Instant::now();
                    std::hint::black_box(Pca::count(K).fit(x).expect("fit"));
                    t.elapsed().as_secs_f64()
                })
                .fold(f64::INFINITY, f64::min)
        }
        Work::Epoch => {
            let x = x.map(|v| v as f32);
            let spec = AutoencoderSpec::new(&[x.ncols(), K])
                .activation(Activation::Relu)
                .output(OutputActivation::Sigmoid)
                .init(Init::Normal { std: 0.01 });
            let model = Autoencoder::new(&spec, 0).expect("valid spec");
            let trainer = Trainer::new(
                TrainConfig::new()
                    .epochs(4)
                    .batch_size(256)
                    .optimizer(Optimizer::adam())
                    .learning_rate(1e-3)
                    .progress(Progress::Silent),
            )
            .expect("valid config");
            let out = trainer.fit(model, &x).expect("training");
            out.history.epochs[1..]
                .iter()
                .map(|e| e.seconds)
                .fold(f64::INFINITY, f64::min)
        }
    })
}

/// The process's peak resident set, in MB (Linux `VmHWM`; 0 elsewhere).
fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

/// The child: measures one point and prints `seconds_1 seconds_2 rss_mb`.
fn child(spec: &str) {
    let parts: Vec<&str> = spec.split(':').collect();
    let work = if parts[0] == "pca" {
        Work::Pca
    } else {
        Work::Epoch
    };
    let (n, d): (usize, usize) = (parts[1].parse().unwrap(), parts[2].parse().unwrap());
    let x = data(n, d);
    let two = measure(work, &x, 2);
    let one = measure(work, &x, 1);
    println!("{one} {two} {}", peak_rss_mb());
}

/// One measured point.
struct Point {
    n: usize,
    d: usize,
    one: f64,
    two: f64,
    rss_mb: f64,
    peer: Option<f64>,
}

fn run_child(work: Work, n: usize, d: usize) -> Point {
    let out = Command::new(std::env::current_exe().expect("own path"))
        .env(POINT_ENV, format!("{}:{n}:{d}", work.name()))
        .output()
        .expect("run the point");
    let text = String::from_utf8_lossy(&out.stdout);
    let v: Vec<f64> = text
        .split_whitespace()
        .filter_map(|w| w.parse().ok())
        .collect();
    assert!(
        out.status.success() && v.len() == 3,
        "point {} n={n} d={d} failed: {}",
        work.name(),
        String::from_utf8_lossy(&out.stderr)
    );
    Point {
        n,
        d,
        one: v[0],
        two: v[1],
        rss_mb: v[2],
        peer: None,
    }
}

/// Least-squares slope of `ln y` on `ln x`.
fn exponent(points: &[(f64, f64)]) -> f64 {
    let m = points.len() as f64;
    let (lx, ly): (Vec<f64>, Vec<f64>) = points.iter().map(|(x, y)| (x.ln(), y.ln())).unzip();
    let (mx, my) = (lx.iter().sum::<f64>() / m, ly.iter().sum::<f64>() / m);
    let sxy: f64 = lx.iter().zip(&ly).map(|(x, y)| (x - mx) * (y - my)).sum();
    let sxx: f64 = lx.iter().map(|x| (x - mx).powi(2)).sum();
    sxy / sxx
}

/// The peer's seconds at `(n, d)`: scikit-learn's `auto` PCA fit, or
/// PyTorch's tied `d`-64 ReLU epoch.
fn peer_seconds(work: Work, n: usize, d: usize) -> Result<f64, String> {
    let x = data(n, d);
    match work {
        Work::Pca => {
            // scikit-learn's own choice of solver, timed after a warm fit.
            let code = format!(
                "import sys, time, numpy as np\n\
                 from sklearn.decomposition import PCA\n\
                 X = np.load(sys.argv[1])\n\
                 PCA(n_components={K}, random_state=0).fit(X)\n\
                 t = time.perf_counter()\n\
                 PCA(n_components={K}, random_state=0).fit(X)\n\
                 print('fit', time.perf_counter() - t)\n"
            );
            let p = Peer::inline(&x, "sklearn", "scikit-learn", &code)?;
            let out = p.run(std::iter::empty())?;
            String::from_utf8_lossy(&out.stdout)
                .lines()
                .find_map(|l| l.strip_prefix("fit ")?.trim().parse().ok())
                .ok_or_else(|| p.no_timings(&out))
        }
        Work::Epoch => {
            let x = x.map(|v| v as f32);
            let p = Peer::prepare(&x, "TIEDAE_TORCH_AE", "torch_tied_ae.py", "torch", "torch")?;
            let out = p.run(["2".to_string()])?;
            let key = format!("torch tied [{d}, 64] relu: ");
            String::from_utf8_lossy(&out.stdout)
                .lines()
                .find_map(|l| {
                    l.strip_prefix(&key)?
                        .split_whitespace()
                        .next()?
                        .parse::<f64>()
                        .ok()
                })
                .map(|ms| ms / 1e3)
                .ok_or_else(|| p.no_timings(&out))
        }
    }
}

fn main() {
    if let Ok(spec) = std::env::var(POINT_ENV) {
        child(&spec);
        return;
    }
    let steal = peer::Steal::start();
    let began = Instant::now();
    println!(
        "scaling: PCA fit (k = {K}) and one tied epoch (d-{K} ReLU, f32, Adam, batch 256) against n and d"
    );
    let mut goals = Vec::new();
    for work in [Work::Pca, Work::Epoch] {
        let peer_name = match work {
            Work::Pca => "sklearn auto",
            Work::Epoch => "torch",
        };
        for (axis, sizes) in [("n", &NS[..]), ("d", &DS[..])] {
            println!("-- {} against {axis}", work.name());
            println!(
                "{:>7} {:>6} {:>11} {:>11} {:>8} {:>9} {:>13} {:>7}",
                "n", "d", "2 threads s", "1 thread s", "speed-up", "RSS MB", peer_name, "ratio"
            );
            let mut points = Vec::new();
            let mut peer_failed = false;
            for &size in sizes {
                let (n, d) = if axis == "n" {
                    (size, 784)
                } else {
                    (10_000, size)
                };
                let mut p = run_child(work, n, d);
                if !peer_failed {
                    match peer_seconds(work, n, d) {
                        Ok(s) => p.peer = Some(s),
                        Err(why) => {
                            println!("{peer_name} skipped: {why}");
                            peer_failed = true;
                        }
                    }
                }
                let peer = p.peer.map_or("—".to_string(), |s| format!("{s:.4}"));
                let ratio = p
                    .peer
                    .map_or("—".to_string(), |s| format!("{:.2}", p.two / s));
                println!(
                    "{:>7} {:>6} {:>11.4} {:>11.4} {:>7.2}x {:>9.0} {:>13} {:>7}",
                    p.n,
                    p.d,
                    p.two,
                    p.one,
                    p.one / p.two,
                    p.rss_mb,
                    peer,
                    ratio
                );
                goals.push((format!("{} n={n} d={d}", work.name()), p.one / p.two));
                points.push(p);
            }
            let xy = |f: &dyn Fn(&Point) -> Option<f64>| -> Vec<(f64, f64)> {
                points
                    .iter()
                    .filter_map(|p| Some(((if axis == "n" { p.n } else { p.d }) as f64, f(p)?)))
                    .collect()
            };
            let ours = exponent(&xy(&|p| Some(p.two)));
            let theirs = xy(&|p| p.peer);
            let theirs = if theirs.len() >= 2 {
                format!(", {peer_name} {:.2}", exponent(&theirs))
            } else {
                String::new()
            };
            println!(
                "exponent of {} time in {axis}: tiedae {ours:.2}{theirs}",
                work.name()
            );
        }
    }
    // One line per goal: >= 1.85x from 1 to 2 threads at every point.
    for (name, speedup) in goals {
        goal_line(
            &format!("speed-up 1->2 threads {name}"),
            speedup,
            Goal::AtLeast,
            1.85,
        );
    }
    println!("scaling bench: {:.0} s", began.elapsed().as_secs_f64());
    steal.report();
}
