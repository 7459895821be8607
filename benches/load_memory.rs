//! Peak resident memory of loading a 60,000 x 784 dataset (the shape of
//! MNIST's training set) from each file format [`Dataset::load`] reads:
//! CSV, Parquet, raw IDX and gzip IDX, against the size of the data as
//! `f64` (60,000 x 784 x 8 bytes, what the loaded dataset itself holds).
//!
//! The files are written once into a temporary directory by the library's
//! own writers, from mnist10k's rows repeated to 60,000 and scaled back to
//! their stored bytes 0..255, so the IDX files hold `u8` as MNIST's do and
//! every format holds the same values. Each load then runs in a child
//! process (this bench re-executed with `TIEDAE_LOAD_MEMORY` set to the
//! file's path; the loader tells the format from the name), which prints
//! its own peak RSS (`VmHWM`), so the parent's copy of the data is not
//! counted. The goal, per format: a peak of at most 3x the `f64` data.
//!
//! Run: `cargo bench --bench load_memory` (Linux: elsewhere there is no
//! `VmHWM` and the peaks are reported as not available).

use nalgebra::DMatrix;
use std::path::{Path, PathBuf};
use std::process::Command;
use tiedae::data::idx::IdxType;
use tiedae::data::{Dataset, LoadOptions};

const CHILD_ENV: &str = "TIEDAE_LOAD_MEMORY";
const N: usize = 60_000;
const D: usize = 784;
/// The goal: peak RSS of a load at most this multiple of the `f64` data.
const GOAL: f64 = 3.0;
const MIB: f64 = 1024.0 * 1024.0;

/// Writes the dataset in every format; returns each format's name and file.
fn write_files(dir: &Path) -> Vec<(&'static str, PathBuf)> {
    let mnist = Dataset::builtin("mnist10k").expect("built-in mnist10k");
    let m = mnist.x();
    // The built-in is divided by 255; multiplying back gives its bytes.
    let x = DMatrix::from_fn(N, D, |i, j| (m[(i % m.nrows(), j)] * 255.0).round());
    let ds = Dataset::new("train", x, None, Some((28, 28))).expect("dataset");
    let files = [
        ("csv", dir.join("train.csv")),
        ("parquet", dir.join("train.parquet")),
        ("idx", dir.join("train-images.idx")),
        ("idx gzip", dir.join("train-images.idx.gz")),
    ];
    tiedae::data::csv::write_csv(&ds, &files[0].1).expect("write CSV");
    tiedae::data::parquet::write_parquet(&ds, &files[1].1).expect("write Parquet");
    tiedae::data::idx::write_dataset(&ds, &files[2].1, None, IdxType::U8, false)
        .expect("write IDX");
    tiedae::data::idx::write_dataset(&ds, &files[3].1, None, IdxType::U8, true)
        .expect("write gzip IDX");
    files.into()
}

/// The process's peak resident set in KiB (Linux `VmHWM`).
fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// The child: loads `path` and prints `peak_kib n d` (peak 0 when unknown).
fn child(path: &Path) {
    let ds = Dataset::load(path, &LoadOptions::default()).expect("load");
    println!(
        "{} {} {}",
        peak_rss_kib().unwrap_or(0),
        ds.n_samples(),
        ds.n_features()
    );
}

/// Runs the child on `path`; its peak RSS in KiB, `Ok(None)` when the
/// platform does not say.
fn peak_of_load(path: &Path) -> Result<Option<u64>, String> {
    let exe = std::env::current_exe().map_err(|e| format!("own path: {e}"))?;
    let out = Command::new(exe)
        .env(CHILD_ENV, path)
        .output()
        .map_err(|e| format!("cannot run the child: {e}"))?;
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).trim().to_string());
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let v: Vec<u64> = text
        .split_whitespace()
        .filter_map(|w| w.parse().ok())
        .collect();
    match *v.as_slice() {
        [kib, n, d] if (n, d) == (N as u64, D as u64) => Ok((kib > 0).then_some(kib)),
        _ => Err(format!("unexpected child output {:?}", text.trim())),
    }
}

fn main() {
    if let Some(path) = std::env::var_os(CHILD_ENV) {
        child(Path::new(&path));
        return;
    }
    let dir = tempfile::tempdir().expect("temporary directory");
    let files = write_files(dir.path());
    let data_bytes = (N * D * size_of::<f64>()) as f64;
    println!(
        "peak RSS of Dataset::load, {N} x {D}, each in its own process; f64 data {:.1} MiB",
        data_bytes / MIB
    );
    println!(
        "{:<9} {:>9} {:>13} {:>7}  goal",
        "format", "file MiB", "peak RSS MiB", "ratio"
    );
    for (format, path) in &files {
        let size = std::fs::metadata(path).map_or(0.0, |m| m.len() as f64 / MIB);
        match peak_of_load(path) {
            Ok(Some(kib)) => {
                let ratio = kib as f64 * 1024.0 / data_bytes;
                println!(
                    "{format:<9} {size:>9.1} {:>13.1} {ratio:>6.2}x  {}",
                    kib as f64 / 1024.0,
                    if ratio <= GOAL { "PASS" } else { "MISS" }
                );
            }
            Ok(None) => println!("{format:<9} {size:>9.1} {:>13} {:>7}  —", "n/a", "n/a"),
            Err(why) => println!("{format:<9} {size:>9.1} load failed: {why}"),
        }
    }
    println!("goal: ≤ {GOAL:.1}× the f64 data");
}
