//! Mutated input files fed to the built binaries: study files, shard
//! manifests, `run.json` files, IDX files (plain and gzip) and CSV files,
//! each changed by byte flips, truncations, huge and negative numbers,
//! multi-byte text, deleted keys or lines, and (for JSON) values swapped
//! for ones of another type. The mutations are pseudo-random but the same
//! on every run of this test, so a failure names a case that reproduces.
//!
//! Each input goes to the cheapest command that reads it (`study show` for
//! study and data files, `study status` or `study run` for `run.json`,
//! `study merge` for manifests), under a memory limit (`ulimit -v`) and a
//! time limit, in a directory of its own. Whether the input is accepted or
//! refused, the run must not panic (status 101), die by a signal or hang;
//! it writes nothing outside its directory (and nothing at all for the
//! commands that only read) and leaves no temporary file behind.
#![cfg(unix)]

use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Job-array variables, removed from every run (a test run inside a real
/// SLURM job must not see its job's array).
const SLURM_VARS: [&str; 5] = [
    "SLURM_ARRAY_TASK_ID",
    "SLURM_ARRAY_TASK_MIN",
    "SLURM_ARRAY_TASK_COUNT",
    "SLURM_ARRAY_TASK_STEP",
    "SLURM_CPUS_PER_TASK",
];

/// Virtual memory a run may map, in KiB (8 GiB): far above what these small
/// inputs need, far below what an unchecked count asks for.
const MEMORY_KIB: u64 = 8 << 20;

/// A run still going after this hangs: every input here is small, and most
/// are refused while they are parsed.
const TIME_LIMIT: Duration = Duration::from_secs(30);

/// A study of PCA cells on a 200-row sample of digits: cheap to run, and
/// every file a run writes is written.
const PCA: &str = r#"name = "fuzz"
models = ["pca"]
latents = [2, 4]

[[datasets]]
builtin = "digits"
max_rows = 200
"#;

/// A study file using most keys, for `study show` (which trains nothing).
const RICH: &str = r#"name = "fuzz"
models = ["pca", "linear_tied", "tied", "untied", "sparse_tied"]
latents = [2, 4, 8]
seeds = [0, 1, 2]
n_trains = [100, "all"]
bias_modes = ["separate", "mirrored"]
l2s = [0.0, 0.001]
sparsity_weights = [0.0, 0.01]
hidden = []
precision = "f32"
test_fraction = 0.2
split_seed = 7
activation = { kind = "leaky_relu", alpha = 0.01 }

[[datasets]]
builtin = "digits"
max_rows = 300
image_shape = [8, 8]

[training]
epochs = 20
batch_size = 32
learning_rate = 0.01
optimizer = { kind = "adam", beta1 = 0.9, beta2 = 0.999, eps = 1e-8 }

[protocol]
validation_fraction = 0.2
patience = 3
learning_rates = [0.001, 0.01]
equal_epochs = 10
"#;

fn study_bin() -> &'static str {
    env!("CARGO_BIN_EXE_study")
}

// ------------------------------------------------------------- mutations

/// SplitMix64: the mutations, fixed by the seed.
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n`; `n` must be positive.
    fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// Numbers beyond what any count, size or `f32` holds.
const HUGE: [&str; 10] = [
    "18446744073709551616",
    "18446744073709551615",
    "9223372036854775808",
    "4294967296",
    "99999999999999999999999999999",
    "1e39",
    "1e309",
    "340282366920938463463374607431768211456",
    "1e-400",
    "100000000000",
];

const NEGATIVE: [&str; 5] = ["-1", "-9223372036854775809", "-0", "-1e39", "-4294967296"];

/// Text that is more than one byte per character, or combines, or turns.
const MULTIBYTE: [&str; 7] = [
    "é",
    "日本語",
    "😀",
    "\u{202E}",
    "ǅ",
    "e\u{0301}",
    "\u{FEFF}",
];

fn replace_range(bytes: &mut Vec<u8>, start: usize, end: usize, with: &[u8]) {
    let mut out = bytes[..start].to_vec();
    out.extend_from_slice(with);
    out.extend_from_slice(&bytes[end..]);
    *bytes = out;
}

fn flip(rng: &mut Rng, bytes: &mut [u8]) -> String {
    if bytes.is_empty() {
        return "flip (nothing to flip)".into();
    }
    let at = rng.below(bytes.len());
    let mask = 1u8 << rng.below(8);
    bytes[at] ^= mask;
    format!("flip byte {at} by {mask:#04x}")
}

fn truncate(rng: &mut Rng, bytes: &mut Vec<u8>) -> String {
    let at = rng.below(bytes.len() + 1);
    bytes.truncate(at);
    format!("truncate to {at} bytes")
}

/// The maximal runs of ASCII digits in `bytes`, as (start, end).
fn digit_runs(bytes: &[u8]) -> Vec<(usize, usize)> {
    let mut runs = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i].is_ascii_digit() {
            let start = i;
            while i < bytes.len() && bytes[i].is_ascii_digit() {
                i += 1;
            }
            runs.push((start, i));
        } else {
            i += 1;
        }
    }
    runs
}

/// Replaces one number of `bytes` with one of `with`.
fn replace_number(rng: &mut Rng, bytes: &mut Vec<u8>, with: &[&str], kind: &str) -> String {
    let runs = digit_runs(bytes);
    if runs.is_empty() {
        return format!("{kind} (no number)");
    }
    let (start, end) = runs[rng.below(runs.len())];
    let new = *rng.pick(with);
    replace_range(bytes, start, end, new.as_bytes());
    format!("{kind} {new} at byte {start}")
}

/// Inserts multi-byte text, inside a string (after a quote) when there is
/// one, else anywhere (possibly inside another character).
fn insert_multibyte(rng: &mut Rng, bytes: &mut Vec<u8>) -> String {
    let text = *rng.pick(&MULTIBYTE);
    let quotes: Vec<usize> = (0..bytes.len()).filter(|&i| bytes[i] == b'"').collect();
    let at = if !quotes.is_empty() && rng.below(2) == 0 {
        quotes[rng.below(quotes.len())] + 1
    } else {
        rng.below(bytes.len() + 1)
    };
    replace_range(bytes, at, at, text.as_bytes());
    format!("insert {text:?} at byte {at}")
}

/// Deletes one line: in TOML and pretty JSON, one key.
fn delete_line(rng: &mut Rng, bytes: &mut Vec<u8>) -> String {
    let mut starts = vec![0];
    starts.extend(
        (0..bytes.len())
            .filter(|&i| bytes[i] == b'\n')
            .map(|i| i + 1),
    );
    starts.retain(|&s| s < bytes.len());
    if starts.is_empty() {
        return "delete a line (none)".into();
    }
    let k = rng.below(starts.len());
    let start = starts[k];
    let end = starts.get(k + 1).copied().unwrap_or(bytes.len());
    replace_range(bytes, start, end, &[]);
    format!("delete the line at byte {start}")
}

/// One or two text mutations of `input`, and what they were.
fn mutate_text(rng: &mut Rng, input: &[u8]) -> (Vec<u8>, String) {
    let mut bytes = input.to_vec();
    let mut done = Vec::new();
    for _ in 0..1 + rng.below(2) {
        done.push(match rng.below(6) {
            0 => flip(rng, &mut bytes),
            1 => truncate(rng, &mut bytes),
            2 => replace_number(rng, &mut bytes, &HUGE, "huge number"),
            3 => replace_number(rng, &mut bytes, &NEGATIVE, "negative number"),
            4 => insert_multibyte(rng, &mut bytes),
            _ => delete_line(rng, &mut bytes),
        });
    }
    (bytes, done.join(", "))
}

/// The JSON pointer of every value below `v` (`at` is `v`'s own).
fn pointers(v: &Value, at: &str, out: &mut Vec<String>) {
    match v {
        Value::Object(map) => {
            for (key, child) in map {
                let p = format!("{at}/{}", key.replace('~', "~0").replace('/', "~1"));
                out.push(p.clone());
                pointers(child, &p, out);
            }
        }
        Value::Array(items) => {
            for (i, child) in items.iter().enumerate() {
                let p = format!("{at}/{i}");
                out.push(p.clone());
                pointers(child, &p, out);
            }
        }
        _ => {}
    }
}

/// A mutation of the JSON document `input`: half the time as text, half
/// the time one value deleted or replaced (huge, negative, multi-byte,
/// another type), so the file still parses and the checks after parsing
/// are reached.
fn mutate_json(rng: &mut Rng, input: &[u8]) -> (Vec<u8>, String) {
    if rng.below(2) == 0 {
        return mutate_text(rng, input);
    }
    let mut doc: Value = serde_json::from_slice(input).expect("the base file is JSON");
    let mut all = Vec::new();
    pointers(&doc, "", &mut all);
    if all.is_empty() {
        return mutate_text(rng, input);
    }
    let at = rng.pick(&all).clone();
    let what = if rng.below(3) == 0 {
        let cut = at.rfind('/').expect("pointers start with a slash");
        let key = at[cut + 1..].replace("~1", "/").replace("~0", "~");
        match doc.pointer_mut(&at[..cut]) {
            Some(Value::Object(map)) => {
                map.remove(&key);
            }
            Some(Value::Array(items)) => {
                if let Ok(i) = key.parse::<usize>()
                    && i < items.len()
                {
                    items.remove(i);
                }
            }
            _ => {}
        }
        format!("delete {at}")
    } else {
        let replacements = [
            json!(u64::MAX),
            json!(1e300),
            json!(-1),
            json!(-1e300),
            json!(i64::MIN),
            json!(100_000_000_000u64),
            json!("日本語😀"),
            json!("é".repeat(40)),
            json!(""),
            Value::Null,
            json!([]),
            json!({}),
            json!(true),
            json!(0),
            json!([u64::MAX, u64::MAX]),
        ];
        let new = rng.pick(&replacements).clone();
        let what = format!("set {at} to {new}");
        if let Some(slot) = doc.pointer_mut(&at) {
            *slot = new;
        }
        what
    };
    (serde_json::to_vec_pretty(&doc).unwrap(), what)
}

/// A mutation of an IDX file: its type, its dimension count, one
/// dimension, a truncation, a flipped byte or trailing bytes.
fn mutate_idx(rng: &mut Rng, input: &[u8]) -> (Vec<u8>, String) {
    let mut b = input.to_vec();
    let what = match rng.below(6) {
        0 => {
            let t = *rng.pick(&[0x00u8, 0x08, 0x09, 0x0B, 0x0C, 0x0D, 0x0E, 0xFF]);
            b[2] = t;
            format!("type byte {t:#04x}")
        }
        1 => {
            let n = *rng.pick(&[0u8, 1, 2, 3, 4, 5, 200, 255]);
            b[3] = n;
            format!("{n} dimensions")
        }
        2 => {
            let d = rng.below(usize::from(input[3]));
            let v = *rng.pick(&[0u32, 1, 2, 7, 1 << 16, 1 << 31, u32::MAX - 1, u32::MAX]);
            b[4 + 4 * d..8 + 4 * d].copy_from_slice(&v.to_be_bytes());
            format!("dimension {d} = {v}")
        }
        3 => truncate(rng, &mut b),
        4 => flip(rng, &mut b),
        _ => {
            let n = 1 + rng.below(64);
            b.extend(std::iter::repeat_n(0xFFu8, n));
            format!("{n} bytes appended")
        }
    };
    (b, what)
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

/// An IDX file: its type byte, dimensions and values.
fn idx(kind: u8, dims: &[u32], values: &[u8]) -> Vec<u8> {
    let mut v = vec![0, 0, kind, dims.len() as u8];
    for d in dims {
        v.extend_from_slice(&d.to_be_bytes());
    }
    v.extend_from_slice(values);
    v
}

// ------------------------------------------------------------------ runs

/// Every path below `dir` (symlinks not followed), with each file's bytes.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Option<Vec<u8>>> {
    let mut all = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries {
            let e = e.unwrap();
            let p = e.path();
            if e.file_type().unwrap().is_dir() {
                stack.push(p.clone());
                all.insert(p, None);
            } else {
                let bytes = std::fs::read(&p).ok();
                all.insert(p, bytes);
            }
        }
    }
    all
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_tree(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), &target).unwrap();
        }
    }
}

/// Points the run record of `run_dir` at the cache inside it, so a copied
/// run reads (and writes) nothing of the run it was copied from.
fn rehome(run_dir: &Path) {
    let path = run_dir.join("run.json");
    let mut record: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    record["cache"] = json!(run_dir.join("cache").to_str().unwrap());
    std::fs::write(&path, serde_json::to_vec_pretty(&record).unwrap()).unwrap();
}

/// Runs `study args` in `cwd` under the memory and time limits, its output
/// in files under `logs` (a pipe nobody reads while the test waits could
/// fill and stall it); returns the exit code and stderr. Fails on a hang.
fn run_limited(args: &[&str], cwd: &Path, logs: &Path, what: &str) -> (Option<i32>, String) {
    let err_path = logs.join("stderr.txt");
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg(format!("ulimit -v {MEMORY_KIB} && exec \"$0\" \"$@\""))
        .arg(study_bin())
        .args(args)
        .current_dir(cwd)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(logs.join("stdout.txt")).unwrap())
        .stderr(std::fs::File::create(&err_path).unwrap())
        .env("RAYON_NUM_THREADS", "2")
        .env("POLARS_MAX_THREADS", "2")
        .env("MALLOC_ARENA_MAX", "2");
    for v in SLURM_VARS {
        cmd.env_remove(v);
    }
    let mut child = cmd.spawn().expect("sh starts");
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("the child can be waited for") {
            break status;
        }
        if start.elapsed() > TIME_LIMIT {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what}: `study {args:?}` still runs after {TIME_LIMIT:?}: it hangs");
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    let stderr = String::from_utf8_lossy(&std::fs::read(&err_path).unwrap()).into_owned();
    (status.code(), stderr)
}

/// Runs `study args` in `root/work` on one mutated input and checks the
/// outcome: no panic, no signal, no hang; a refusal says `error:`; nothing
/// appears in `root` beside `work`, no temporary file anywhere below it,
/// and with `read_only`, `work` exactly as before.
fn check(root: &Path, logs: &Path, args: &[&str], read_only: bool, what: &str) {
    let work = root.join("work");
    let before = snapshot(&work);
    let (code, stderr) = run_limited(args, &work, logs, what);
    match code {
        None => panic!("{what}: `study {args:?}` died by a signal:\n{stderr}"),
        Some(101) => panic!("{what}: `study {args:?}` panicked:\n{stderr}"),
        Some(c) => assert!(
            c < 126,
            "{what}: `study {args:?}` exited with {c} (an abort or a failed exec):\n{stderr}"
        ),
    }
    assert!(!stderr.contains("panicked"), "{what}: {stderr}");
    if code != Some(0) {
        assert!(
            stderr.lines().any(|l| l.starts_with("error: ")),
            "{what}: `study {args:?}` failed without an error line:\n{stderr}"
        );
    }
    let beside: Vec<String> = std::fs::read_dir(root)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n != "work")
        .collect();
    assert!(
        beside.is_empty(),
        "{what}: wrote {beside:?} outside its directory"
    );
    let after = snapshot(&work);
    let temps: Vec<&PathBuf> = after
        .keys()
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy();
            name.starts_with(".tiedae-") || name.ends_with(".tmp")
        })
        .collect();
    assert!(temps.is_empty(), "{what}: left {temps:?} behind");
    if read_only {
        let changed: Vec<&PathBuf> = before
            .keys()
            .chain(after.keys())
            .filter(|p| before.get(*p) != after.get(*p))
            .collect();
        assert!(
            changed.is_empty(),
            "{what}: `study {args:?}` changed {changed:?}"
        );
    }
}

/// A fresh case directory: `root/work` holding `files` (relative paths).
fn case_dir(files: &[(&str, &[u8])]) -> tempfile::TempDir {
    let root = tempfile::tempdir().unwrap();
    let work = root.path().join("work");
    std::fs::create_dir(&work).unwrap();
    for (name, bytes) in files {
        std::fs::write(work.join(name), bytes).unwrap();
    }
    root
}

// ----------------------------------------------------------------- tests

/// Mutated study files, read by `study show` (which parses, checks and
/// counts cells, and trains nothing).
#[test]
fn mutated_study_files_never_crash_study_show() {
    let logs = tempfile::tempdir().unwrap();
    let mut rng = Rng(0x53_5455_4459);
    let cases = 60;
    for i in 0..cases {
        let base = if i % 2 == 0 { RICH } else { PCA };
        let (bytes, how) = mutate_text(&mut rng, base.as_bytes());
        let what = format!("study file {i} ({how})");
        let root = case_dir(&[("s.toml", bytes.as_slice())]);
        check(root.path(), logs.path(), &["show", "s.toml"], true, &what);
    }
}

/// Mutated CSV and IDX files (images or labels, plain or gzip), loaded by
/// `study show` of a study that names them.
#[test]
fn mutated_data_files_never_crash_study_show() {
    let logs = tempfile::tempdir().unwrap();
    let mut rng = Rng(0x4441_5441);

    let mut csv = String::from("a,b,c,d,e,label\n");
    for r in 0..30u32 {
        let v: Vec<String> = (0..5u32)
            .map(|c| format!("{:.3}", f64::from((r * 7 + c * 13) % 17) / 4.0 - 2.0))
            .collect();
        csv.push_str(&format!("{},{}\n", v.join(","), r % 3));
    }
    let csv_study = "name = \"fuzz\"\nmodels = [\"pca\"]\nlatents = [1, 2]\n\n[[datasets]]\npath = \"data.csv\"\nlabel_column = \"label\"\n";
    let csv_cases = 30;
    for i in 0..csv_cases {
        let (bytes, how) = mutate_text(&mut rng, csv.as_bytes());
        let what = format!("CSV file {i} ({how})");
        let root = case_dir(&[
            ("s.toml", csv_study.as_bytes()),
            ("data.csv", bytes.as_slice()),
        ]);
        check(root.path(), logs.path(), &["show", "s.toml"], true, &what);
    }

    let pixels: Vec<u8> = (0..20u32 * 16).map(|i| ((i * 37) % 256) as u8).collect();
    let images = idx(0x08, &[20, 4, 4], &pixels);
    let labels = idx(0x08, &[20], &(0..20u8).map(|i| i % 3).collect::<Vec<u8>>());
    let idx_cases = 30;
    for i in 0..idx_cases {
        let mutate_labels = i % 3 == 2;
        let gzipped = i % 3 == 1;
        let (bytes, how) = mutate_idx(&mut rng, if mutate_labels { &labels } else { &images });
        let (images_bytes, labels_bytes) = if mutate_labels {
            (images.clone(), bytes)
        } else {
            (bytes, labels.clone())
        };
        let (images_name, images_bytes) = if gzipped {
            ("images.idx.gz", gzip(&images_bytes))
        } else {
            ("images.idx", images_bytes)
        };
        let idx_study = format!(
            "name = \"fuzz\"\nmodels = [\"pca\"]\nlatents = [1, 2]\n\n[[datasets]]\npath = \"{images_name}\"\nlabels_file = \"labels.idx\"\n"
        );
        let what = format!(
            "IDX {} {i} ({how})",
            if mutate_labels { "labels" } else { images_name }
        );
        let root = case_dir(&[
            ("s.toml", idx_study.as_bytes()),
            (images_name, images_bytes.as_slice()),
            ("labels.idx", labels_bytes.as_slice()),
        ]);
        check(root.path(), logs.path(), &["show", "s.toml"], true, &what);
    }
}

/// A finished run of [`PCA`] in `base/out` (or `--shard`ed runs in
/// `base/sharded`), made once per test and copied into each case.
fn base_run(sharded: bool) -> tempfile::TempDir {
    let base = tempfile::tempdir().unwrap();
    std::fs::write(base.path().join("s.toml"), PCA).unwrap();
    let logs = tempfile::tempdir().unwrap();
    let runs: Vec<Vec<&str>> = if sharded {
        vec![
            vec!["run", "s.toml", "--shard", "0/2", "--out", "sharded"],
            vec!["run", "s.toml", "--shard", "1/2", "--out", "sharded"],
        ]
    } else {
        vec![vec!["run", "s.toml", "--out", "out"]]
    };
    for args in runs {
        let (code, stderr) = run_limited(&args, base.path(), logs.path(), "the base run");
        assert_eq!(code, Some(0), "{args:?}: {stderr}");
    }
    base
}

/// Mutated `run.json` files, read by `study status` and (every third) by
/// `study run` into the same directory, whose cells are all cached.
#[test]
fn mutated_run_records_never_crash_status_or_run() {
    let base = base_run(false);
    let base_before = snapshot(base.path());
    let logs = tempfile::tempdir().unwrap();
    let mut rng = Rng(0x5255_4E4A);
    let cases = 45;
    for i in 0..cases {
        let root = case_dir(&[("s.toml", PCA.as_bytes())]);
        let out = root.path().join("work/out");
        copy_tree(&base.path().join("out"), &out);
        rehome(&out);
        let record = out.join("run.json");
        let (bytes, how) = mutate_json(&mut rng, &std::fs::read(&record).unwrap());
        std::fs::write(&record, bytes).unwrap();
        let what = format!("run.json {i} ({how})");
        if i % 3 == 0 {
            let args = ["run", "s.toml", "--out", "out"];
            check(root.path(), logs.path(), &args, false, &what);
        } else {
            check(root.path(), logs.path(), &["status", "out"], true, &what);
        }
    }
    assert_eq!(
        snapshot(base.path()),
        base_before,
        "a case wrote into the run it was copied from"
    );
}

/// Mutated shard manifests, read by `study merge`.
#[test]
fn mutated_manifests_never_crash_merge() {
    let base = base_run(true);
    let base_before = snapshot(base.path());
    let logs = tempfile::tempdir().unwrap();
    let mut rng = Rng(0x4D41_4E49);
    let cases = 45;
    for i in 0..cases {
        let root = case_dir(&[("s.toml", PCA.as_bytes())]);
        let sharded = root.path().join("work/sharded");
        copy_tree(&base.path().join("sharded"), &sharded);
        rehome(&sharded);
        let shard = rng.below(2);
        let manifest = sharded.join(format!("fuzz-shard-{shard}-of-2.manifest.json"));
        let (bytes, how) = mutate_json(&mut rng, &std::fs::read(&manifest).unwrap());
        std::fs::write(&manifest, bytes).unwrap();
        let what = format!("manifest of shard {shard}, case {i} ({how})");
        let args = ["merge", "sharded", "--out", "merged.parquet"];
        check(root.path(), logs.path(), &args, false, &what);
    }
    assert_eq!(
        snapshot(base.path()),
        base_before,
        "a case wrote into the run it was copied from"
    );
}
