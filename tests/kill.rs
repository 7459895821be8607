//! A `study run` can be killed at any moment without losing or damaging
//! anything. SIGKILL at twenty moments (pseudo-random, but the same on every
//! run of this test, and scaled to how long the study takes here), each
//! followed by the next run into the same directory, ends in the results an
//! uninterrupted run gives (timing aside), and after every kill each cache
//! file parses and `study status` reads the directory. Two SIGTERMs in a
//! row, as `srun` can send, still end the run in order: the closing line,
//! status 130, every finished cell cached.
#![cfg(unix)]

use polars::prelude::DataFrame;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use tiedae::study::read_results;

/// Job-array variables, removed from every run (a test run inside a real
/// SLURM job must not see its job's array).
const SLURM_VARS: [&str; 5] = [
    "SLURM_ARRAY_TASK_ID",
    "SLURM_ARRAY_TASK_MIN",
    "SLURM_ARRAY_TASK_COUNT",
    "SLURM_ARRAY_TASK_STEP",
    "SLURM_CPUS_PER_TASK",
];

/// 3 PCA cells and 27 trained ones on a 400-row sample of digits: a few
/// seconds in all, so twenty kills and reruns stay cheap while each trained
/// cell is long enough for a kill to land inside one.
const STUDY: &str = r#"name = "killed"
models = ["pca", "linear_tied", "tied", "untied"]
latents = [2, 4, 8]
seeds = [0, 1, 2]

[[datasets]]
builtin = "digits"
max_rows = 400

[training]
epochs = 80
batch_size = 32
learning_rate = 0.01

[protocol]
patience = 0
"#;

/// Cells of [`STUDY`]: 9 PCA cells (one per latent and seed, as each seed has its own split), 3 kinds x 3 latents x 3 seeds.
const CELLS: usize = 36;
/// The killed runs alternate between the shards of a split this many ways,
/// so the end is a merge of shards that were each killed several times.
const SHARDS: usize = 2;
const KILLS: usize = 20;

fn study() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_study"));
    for v in SLURM_VARS {
        c.env_remove(v);
    }
    c
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn arg(p: &Path) -> &str {
    p.to_str().expect("temporary paths are UTF-8")
}

/// Runs `study args` that must succeed; returns stdout.
fn study_ok(args: &[&str]) -> String {
    let out = study().args(args).output().expect("the study binary runs");
    assert!(
        out.status.success(),
        "{args:?} failed:\n{}",
        text(&out.stderr)
    );
    text(&out.stdout)
}

/// The finished cells' files in a cache directory (temporary files start
/// with a dot).
fn cache_files(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok())
        .filter(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            name.ends_with(".json") && !name.starts_with('.')
        })
        .map(|e| e.path())
        .collect()
}

/// Asserts every cache file in `dir` is whole JSON; returns how many there
/// are.
fn all_cache_files_parse(dir: &Path, when: &str) -> usize {
    let files = cache_files(dir);
    for f in &files {
        let bytes = std::fs::read(f).unwrap();
        if let Err(e) = serde_json::from_slice::<serde_json::Value>(&bytes) {
            panic!("{when}: {} does not parse: {e}", f.display());
        }
    }
    files.len()
}

/// Frames equal in every column but the wall-clock `seconds`.
fn same_results(a: &DataFrame, b: &DataFrame) -> bool {
    let a = a.drop("seconds").unwrap();
    let b = b.drop("seconds").unwrap();
    a.equals_missing(&b)
}

/// SplitMix64: the kill moments, fixed by the seed.
struct Moments(u64);

impl Moments {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[test]
fn sigkill_at_twenty_moments_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("killed.toml");
    std::fs::write(&file, STUDY).unwrap();

    // The reference, and the time the whole study takes on this machine
    // (the kill moments are fractions of it, so they fall inside runs on a
    // fast machine and a slow one alike).
    let whole = dir.path().join("whole");
    let t0 = Instant::now();
    study_ok(&["run", arg(&file), "--out", arg(&whole)]);
    let took = t0.elapsed();
    let reference = read_results(&whole.join("killed.parquet")).unwrap();
    assert_eq!(reference.height(), CELLS);

    let runs = dir.path().join("runs");
    let cache = runs.join("cache");
    let mut moments = Moments(0x6b69_6c6c_6564);
    let mut killed = 0;
    for round in 0..KILLS {
        let shard = format!("{}/{SHARDS}", round % SHARDS);
        // Up to 30% of the whole study's time: a shard holds half of it,
        // so most kills land in training, from before the first cell to
        // after the last, and once most cells are cached, some land while
        // results and manifests are written or after the shard ended.
        let delay = took.mul_f64(0.3 * moments.unit());
        let mut child = study()
            .args(["run", arg(&file), "--shard", &shard, "--out", arg(&runs)])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("the study binary starts");
        std::thread::sleep(delay);
        // SIGKILL. A shard that has ended already is left as it is.
        let _ = child.kill();
        let status = child.wait().unwrap();
        let when = format!("after kill {round} (shard {shard}, {delay:?})");
        match status.signal() {
            Some(9) => killed += 1,
            _ => assert!(status.success(), "{when}: the run ended with {status}"),
        }
        all_cache_files_parse(&cache, &when);
        // Once the run has claimed the directory and copied its study, the
        // directory reads back whatever moment the kill came at.
        if runs.join("run.json").is_file() && runs.join("study.toml").is_file() {
            let out = study()
                .args(["status", arg(&runs)])
                .output()
                .expect("the study binary runs");
            assert!(
                out.status.success(),
                "{when}: study status failed:\n{}",
                text(&out.stderr)
            );
        }
    }
    assert!(killed > 0, "no run was still going when it was killed");

    for i in 0..SHARDS {
        let shard = format!("{i}/{SHARDS}");
        study_ok(&["run", arg(&file), "--shard", &shard, "--out", arg(&runs)]);
    }
    assert_eq!(all_cache_files_parse(&cache, "at the end"), CELLS);
    let merged = dir.path().join("merged.parquet");
    study_ok(&["merge", arg(&runs), "--out", arg(&merged)]);
    let merged = read_results(&merged).unwrap();
    assert_eq!(merged.height(), CELLS);
    assert!(
        same_results(&merged, &reference),
        "after {killed} kills:\n{merged}\nuninterrupted:\n{reference}"
    );
}

#[test]
fn a_second_sigterm_still_ends_the_run_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("killed.toml");
    std::fs::write(&file, STUDY).unwrap();
    let runs = dir.path().join("runs");
    let cache = runs.join("cache");
    // Progress goes to a file: a pipe nobody reads while the test waits
    // could fill up and stall the run.
    let log = dir.path().join("stderr.txt");
    let mut child = study()
        .args(["run", arg(&file), "--out", arg(&runs), "--threads", "1"])
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .expect("the study binary starts");
    // Once a first cell is cached, so the signals land while cells remain.
    let deadline = Instant::now() + Duration::from_secs(300);
    while cache_files(&cache).is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(2));
    }
    for _ in 0..2 {
        let sent = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap();
        assert!(sent.success());
    }
    let status = child.wait().unwrap();
    let stderr = std::fs::read_to_string(&log).unwrap();
    assert_eq!(status.code(), Some(130), "{status}: {stderr}");
    // The closing line shows the run ended in order, not cut short.
    let line = stderr
        .lines()
        .find(|l| l.starts_with("error: interrupted: "))
        .unwrap_or_else(|| panic!("no closing line in:\n{stderr}"));
    let done: usize = line
        .strip_prefix("error: interrupted: ")
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no cell count in {line:?}"));
    assert!(line.contains(&format!(" of {CELLS} cells done")), "{line}");
    assert!((1..CELLS).contains(&done), "{line}");
    assert_eq!(
        all_cache_files_parse(&cache, "after two SIGTERMs"),
        done,
        "every finished cell is cached, and only those"
    );

    study_ok(&["run", arg(&file), "--out", arg(&runs)]);
    let results = read_results(&runs.join("killed.parquet")).unwrap();
    assert_eq!(results.height(), CELLS);
    assert_eq!(all_cache_files_parse(&cache, "after the rerun"), CELLS);
}
