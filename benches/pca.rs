//! PCA fit time on mnist10k (10000 x 784, f64) beside scikit-learn's fastest
//! solver, measured in the same run on the same machine.
//!
//! Run: `cargo bench --bench pca` (or `scripts/bench_pca.sh`). scikit-learn is
//! timed by `../shared/bench/sklearn_pca.py` (override with
//! `TIEDAE_SKLEARN_PCA=/path/to/sklearn_pca.py`, interpreter with
//! `TIEDAE_PYTHON`); if python3 or scikit-learn is missing the comparison is
//! skipped and says so. Ratios (ours / sklearn) are what to compare between
//! machines, never absolute times.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};
use tiedae::data::Dataset;
use tiedae::linalg::Pca;

/// Fits per configuration; the minimum is reported (least disturbed by other
/// load on a shared machine), the median beside it.
const REPEATS: usize = 7;
/// Runs of the scikit-learn script (each fits every solver once per k).
const SKLEARN_REPEATS: usize = 3;

fn main() {
    let ds = Dataset::builtin("mnist10k").expect("built-in mnist10k");
    let x = ds.x();
    let (n, d) = x.shape();
    let ks = [16, 64, d];
    println!(
        "PCA fit, mnist10k {n} x {d} f64, {} rayon threads",
        rayon::current_num_threads()
    );

    // Warm-up: page in the data and the thread pool.
    Pca::count(ks[0]).fit(x).expect("fit");
    let mut ours = BTreeMap::new();
    for &k in &ks {
        let mut times = Vec::with_capacity(REPEATS);
        let mut solver = None;
        for _ in 0..REPEATS {
            let t = Instant::now();
            let fit = Pca::count(k).fit(x).expect("fit");
            times.push(t.elapsed());
            solver = Some(fit.solver());
            std::hint::black_box(fit);
        }
        times.sort();
        println!(
            "tiedae  k={k:4}  min {:7.1} ms  median {:7.1} ms  ({:?})",
            ms(times[0]),
            ms(times[REPEATS / 2]),
            solver.expect("at least one fit")
        );
        ours.insert(k, times[0]);
    }

    match sklearn_times(x, &ks) {
        Err(why) => println!("scikit-learn comparison skipped: {why}"),
        Ok(best) => {
            for &k in &ks {
                match best.get(&k) {
                    Some((solver, secs)) => {
                        let mine = ours[&k].as_secs_f64();
                        println!(
                            "k={k:4}  tiedae {:7.1} ms  sklearn {solver} {:7.1} ms  ratio ours/sklearn {:.2}",
                            mine * 1e3,
                            secs * 1e3,
                            mine / secs
                        );
                    }
                    None => println!("k={k:4}  no scikit-learn timing was printed"),
                }
            }
        }
    }
}

fn ms(t: Duration) -> f64 {
    t.as_secs_f64() * 1e3
}

/// For each k, scikit-learn's fastest solver and its fastest fit (seconds)
/// over [`SKLEARN_REPEATS`] runs of the reference script.
fn sklearn_times(
    x: &nalgebra::DMatrix<f64>,
    ks: &[usize],
) -> Result<BTreeMap<usize, (String, f64)>, String> {
    let python = std::env::var("TIEDAE_PYTHON").unwrap_or_else(|_| "python3".into());
    let script = std::env::var_os("TIEDAE_SKLEARN_PCA").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/bench/sklearn_pca.py"),
        PathBuf::from,
    );
    if !script.exists() {
        return Err(format!("{} not found", script.display()));
    }
    let probe = Command::new(&python)
        .args(["-c", "import sklearn, numpy"])
        .output()
        .map_err(|e| format!("cannot run {python}: {e}"))?;
    if !probe.status.success() {
        return Err(format!(
            "{python} cannot import scikit-learn and numpy (pip install scikit-learn numpy)"
        ));
    }
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let npy = dir.path().join("mnist10k.npy");
    tiedae::atomic::write_bytes_atomic(&npy, &npy_bytes(x)).map_err(|e| e.to_string())?;
    let mut best: BTreeMap<usize, (String, f64)> = BTreeMap::new();
    for _ in 0..SKLEARN_REPEATS {
        let out = Command::new(&python)
            .arg(&script)
            .arg(&npy)
            .args(ks.iter().map(|k| k.to_string()))
            .output()
            .map_err(|e| format!("cannot run {}: {e}", script.display()))?;
        // The script may exit non-zero after printing (e.g. arpack refuses
        // k = min(n, d)); every line it printed is still a valid timing.
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            if let Some((solver, k, secs)) = parse_line(line) {
                let entry = best.entry(k).or_insert_with(|| (solver.clone(), secs));
                if secs < entry.1 {
                    *entry = (solver, secs);
                }
            }
        }
    }
    if best.is_empty() {
        return Err(format!("{} printed no timings", script.display()));
    }
    Ok(best)
}

/// Parses `covariance_eigh  k=  16 fit=0.225s mse=...`.
fn parse_line(line: &str) -> Option<(String, usize, f64)> {
    let mut words = line.split_whitespace();
    let solver = words.next()?.to_string();
    let rest: Vec<&str> = words.collect();
    let joined = rest.join(" ");
    let k = joined
        .strip_prefix("k=")?
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    let fit = joined
        .split("fit=")
        .nth(1)?
        .split('s')
        .next()?
        .parse()
        .ok()?;
    Some((solver, k, fit))
}

/// A NumPy `.npy` (format 1.0) of `x` in Fortran order, which is nalgebra's
/// column-major layout, so the data bytes are the matrix slice as is.
fn npy_bytes(x: &nalgebra::DMatrix<f64>) -> Vec<u8> {
    let mut header = format!(
        "{{'descr': '<f8', 'fortran_order': True, 'shape': ({}, {}), }}",
        x.nrows(),
        x.ncols()
    );
    // Magic (6) + version (2) + header length (2) + header, padded with
    // spaces and ending in a newline, to a multiple of 64 bytes.
    let unpadded = 10 + header.len() + 1;
    header.push_str(&" ".repeat(unpadded.next_multiple_of(64) - unpadded));
    header.push('\n');
    let mut bytes = Vec::with_capacity(10 + header.len() + 8 * x.len());
    bytes.extend_from_slice(b"\x93NUMPY\x01\x00");
    bytes.extend_from_slice(&(header.len() as u16).to_le_bytes());
    bytes.extend_from_slice(header.as_bytes());
    for v in x.as_slice() {
        bytes.extend_from_slice(&v.to_le_bytes());
    }
    bytes
}
