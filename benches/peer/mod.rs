//! A Python peer measured beside our code in the same bench run: finds the
//! interpreter and the reference script, checks the peer's packages import,
//! and hands it the data as a `.npy` file in a temporary directory.
//!
//! Shared by the benches that compare against scikit-learn and PyTorch,
//! with the machine's own peer (the gemm roofline) and the goal lines
//! (a directory module, so cargo does not take it for a bench of its own).

use nalgebra::DMatrix;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The reference script, its interpreter and the data file it reads.
pub struct Peer {
    python: String,
    script: PathBuf,
    npy: PathBuf,
    _dir: tempfile::TempDir,
}

impl Peer {
    /// Finds `$TIEDAE_PYTHON` (default `python3`) able to import `module`
    /// and numpy, and the script `$script_env` (default
    /// `../shared/bench/<script_name>`), and writes `x` as a `.npy` file.
    /// `Err` says why the peer is skipped (`package` is the pip name).
    pub fn prepare<T: NpyScalar>(
        x: &DMatrix<T>,
        script_env: &str,
        script_name: &str,
        module: &str,
        package: &str,
    ) -> Result<Self, String> {
        let python = std::env::var("TIEDAE_PYTHON").unwrap_or_else(|_| "python3".into());
        let script = std::env::var_os(script_env).map_or_else(
            || {
                Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("../shared/bench")
                    .join(script_name)
            },
            PathBuf::from,
        );
        if !script.exists() {
            return Err(format!("{} not found", script.display()));
        }
        Peer::with_script(x, python, script, None, module, package)
    }

    /// A peer whose script is `code`, written beside the data file (for a
    /// measurement no reference script makes, e.g. one solver at one size).
    #[allow(dead_code)]
    pub fn inline<T: NpyScalar>(
        x: &DMatrix<T>,
        module: &str,
        package: &str,
        code: &str,
    ) -> Result<Self, String> {
        let python = std::env::var("TIEDAE_PYTHON").unwrap_or_else(|_| "python3".into());
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let script = dir.path().join("peer.py");
        std::fs::write(&script, code).map_err(|e| e.to_string())?;
        Peer::with_script(x, python, script, Some(dir), module, package)
    }

    /// Checks that `python` imports `module` and numpy, and writes `x`.
    fn with_script<T: NpyScalar>(
        x: &DMatrix<T>,
        python: String,
        script: PathBuf,
        dir: Option<tempfile::TempDir>,
        module: &str,
        package: &str,
    ) -> Result<Self, String> {
        let probe = Command::new(&python)
            .args(["-c", &format!("import {module}, numpy")])
            .output()
            .map_err(|e| format!("cannot run {python}: {e}"))?;
        if !probe.status.success() {
            return Err(format!(
                "{python} cannot import {package} and numpy (pip install {package} numpy)"
            ));
        }
        let dir = match dir {
            Some(d) => d,
            None => tempfile::tempdir().map_err(|e| e.to_string())?,
        };
        let npy = dir.path().join("data.npy");
        tiedae::atomic::write_bytes_atomic(&npy, &npy_bytes(x)).map_err(|e| e.to_string())?;
        Ok(Peer {
            python,
            script,
            npy,
            _dir: dir,
        })
    }

    /// Runs the script with the data file and then `args`.
    pub fn run(&self, args: impl IntoIterator<Item = String>) -> Result<Output, String> {
        Command::new(&self.python)
            .arg(&self.script)
            .arg(&self.npy)
            .args(args)
            .output()
            .map_err(|e| format!("cannot run {}: {e}", self.script.display()))
    }

    /// The error for a run whose output held no timings, with its stderr.
    pub fn no_timings(&self, out: &Output) -> String {
        format!(
            "{} printed no timings (stderr: {})",
            self.script.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        )
    }
}

/// A float type NumPy can read: its `.npy` descriptor and byte encoding.
pub trait NpyScalar: nalgebra::Scalar + Copy {
    /// The `.npy` `descr`, e.g. `<f8`.
    const DESCR: &'static str;
    /// Appends the little-endian bytes of `self`.
    fn push_le(self, out: &mut Vec<u8>);
}

impl NpyScalar for f32 {
    const DESCR: &'static str = "<f4";
    fn push_le(self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.to_le_bytes());
    }
}

impl NpyScalar for f64 {
    const DESCR: &'static str = "<f8";
    fn push_le(self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.to_le_bytes());
    }
}

/// A NumPy `.npy` (format 1.0) of `x` in Fortran order, which is nalgebra's
/// column-major layout, so the data bytes are the matrix slice as is.
pub fn npy_bytes<T: NpyScalar>(x: &DMatrix<T>) -> Vec<u8> {
    let mut header = format!(
        "{{'descr': '{}', 'fortran_order': True, 'shape': ({}, {}), }}",
        T::DESCR,
        x.nrows(),
        x.ncols()
    );
    // Magic (6) + version (2) + header length (2) + header, padded with
    // spaces and ending in a newline, to a multiple of 64 bytes.
    let unpadded = 10 + header.len() + 1;
    header.push_str(&" ".repeat(unpadded.next_multiple_of(64) - unpadded));
    header.push('\n');
    let mut bytes = Vec::with_capacity(10 + header.len() + size_of::<T>() * x.len());
    bytes.extend_from_slice(b"\x93NUMPY\x01\x00");
    bytes.extend_from_slice(&(header.len() as u16).to_le_bytes());
    bytes.extend_from_slice(header.as_bytes());
    for &v in x.as_slice() {
        v.push_le(&mut bytes);
    }
    bytes
}

/// Which way a goal points.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[allow(dead_code)] // each bench uses the directions its goals need
pub enum Goal {
    /// The measured value must be at most the goal (a time ratio).
    AtMost,
    /// The measured value must be at least the goal (a roofline share, a
    /// speed-up).
    AtLeast,
}

/// The fastest and the mean epoch of a training run, in ms: the fastest is
/// the epoch least disturbed by other load, the mean is the statistic the
/// PyTorch scripts report.
#[allow(dead_code)]
pub fn epoch_ms(history: &tiedae::train::History) -> (f64, f64) {
    let ms: Vec<f64> = history.epochs.iter().map(|e| e.seconds * 1e3).collect();
    let fastest = ms.iter().copied().fold(f64::INFINITY, f64::min);
    (fastest, ms.iter().sum::<f64>() / ms.len() as f64)
}

/// Prints the summary line of one goal, `goal NAME: measured M, goal OP G:
/// met` (or `not met`), the line a reader greps for; returns whether it
/// was met.
#[allow(dead_code)]
pub fn goal_line(name: &str, measured: f64, goal: Goal, target: f64) -> bool {
    let (op, met) = match goal {
        Goal::AtMost => ("<=", measured <= target),
        Goal::AtLeast => (">=", measured >= target),
    };
    // Three decimals, so a value just past the goal does not print as the
    // goal itself.
    println!(
        "goal {name}: measured {measured:.3}, goal {op} {target:.2}: {}",
        if met { "met" } else { "not met" }
    );
    met
}

/// The best GFLOP/s of a 2048 x 2048 f32 product through faer's parallel
/// gemm on `threads` threads (best of 5 after a warm-up).
#[allow(dead_code)]
pub fn sgemm_peak(threads: usize) -> f64 {
    use faer::linalg::matmul::matmul;
    use faer::{Accum, Mat, Par};
    let s = 2048;
    let a = Mat::<f32>::from_fn(s, s, |i, j| ((i * 7 + j * 3) % 17) as f32 * 0.01);
    let b = Mat::<f32>::from_fn(s, s, |i, j| ((i * 5 + j) % 13) as f32 * 0.01);
    let mut c = Mat::<f32>::zeros(s, s);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .expect("thread pool");
    pool.install(|| {
        let mut best = f64::INFINITY;
        for rep in 0..6 {
            let t = std::time::Instant::now();
            matmul(
                c.as_mut(),
                Accum::Replace,
                a.as_ref(),
                b.as_ref(),
                1.0,
                Par::rayon(0),
            );
            if rep > 0 {
                best = best.min(t.elapsed().as_secs_f64());
            }
        }
        std::hint::black_box(&c);
        2.0 * (s * s * s) as f64 / best / 1e9
    })
}

/// The share of the machine's CPU time the hypervisor gave to other guests
/// ("steal" in `/proc/stat`) since [`Steal::start`]: on a shared virtual
/// machine, the evidence of whether a run was quiet. Absolute times from a
/// run with much steal are not comparable with others; ratios against a
/// peer measured in the same run are less affected, not immune.
#[allow(dead_code)]
pub struct Steal(Option<[u64; 2]>);

#[allow(dead_code)]
impl Steal {
    /// Reads the counters now (`None` inside: not Linux, or unreadable).
    pub fn start() -> Self {
        Steal(cpu_ticks())
    }

    /// Prints `machine: S% of CPU time stolen ...` for the time since
    /// `start`, or that it could not be read.
    pub fn report(&self) {
        match (self.0, cpu_ticks()) {
            (Some([s0, t0]), Some([s1, t1])) if t1 > t0 => println!(
                "machine: {:.1}% of CPU time stolen by the hypervisor during this run (a quiet machine is under 2%)",
                100.0 * (s1 - s0) as f64 / (t1 - t0) as f64
            ),
            _ => println!("machine: steal time not available"),
        }
    }
}

/// `[steal, total]` ticks of all CPUs, from the first line of `/proc/stat`.
fn cpu_ticks() -> Option<[u64; 2]> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let fields: Vec<u64> = stat
        .lines()
        .next()?
        .strip_prefix("cpu ")?
        .split_whitespace()
        .map(|f| f.parse().ok())
        .collect::<Option<_>>()?;
    // user nice system idle iowait irq softirq steal [guest guest_nice]:
    // guest time is already inside user, so the total is the first eight.
    let steal = *fields.get(7)?;
    Some([steal, fields.iter().take(8).sum()])
}

/// `cpu: MODEL; vector extensions: ...; N logical CPUs`, from
/// `/proc/cpuinfo` (the first processor's `model name` and `flags`): the
/// machine beside every time a bench publishes, since ratios differ
/// between an AVX-512 Xeon and an AVX2-only EPYC.
#[allow(dead_code)]
pub fn cpu_line() -> String {
    let info = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let field = |name: &str| {
        info.lines().find_map(|line| {
            let (key, value) = line.split_once(':')?;
            (key.trim() == name).then(|| value.trim().to_string())
        })
    };
    let model = field("model name").unwrap_or_else(|| "unknown (no /proc/cpuinfo)".into());
    let flags = field("flags").unwrap_or_default();
    let have: Vec<&str> = [
        "sse4_2",
        "avx",
        "avx2",
        "fma",
        "avx512f",
        "avx512dq",
        "avx512bw",
        "avx512vl",
        "avx512_vnni",
        "avx512_bf16",
        "amx_tile",
    ]
    .into_iter()
    .filter(|want| flags.split_whitespace().any(|f| f == *want))
    .collect();
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    format!(
        "cpu: {model}; vector extensions: {}; {cpus} logical CPUs",
        if have.is_empty() {
            "none of SSE4.2/AVX/AVX2/FMA/AVX-512 listed".to_string()
        } else {
            have.join(" ")
        }
    )
}
