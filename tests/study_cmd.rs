//! The `study` binary from the outside: a small study run as three shard
//! processes, one stopped by SIGTERM mid-run and rerun, merges into the
//! unsharded run's results bit for bit (timing aside); merge refuses
//! missing, duplicate and foreign shards; bad input gives one error line
//! and writes nothing; and the README's cluster commands run as written
//! under a fake SLURM job array.

use polars::prelude::DataFrame;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};
use tiedae::study::{read_results, read_study_file};

/// Job-array variables, removed from every run unless a test sets them
/// (a test run inside a real SLURM job must not see its job's array).
const SLURM_VARS: [&str; 5] = [
    "SLURM_ARRAY_TASK_ID",
    "SLURM_ARRAY_TASK_MIN",
    "SLURM_ARRAY_TASK_COUNT",
    "SLURM_ARRAY_TASK_STEP",
    "SLURM_CPUS_PER_TASK",
];

/// 12 PCA cells and 36 trained ones on a 400-row sample of digits, a fixed
/// budget of 150 epochs: a few seconds in all, each trained cell long
/// enough that a signal lands between cells.
const TINY: &str = r#"name = "tiny"
models = ["pca", "linear_tied", "tied", "untied"]
latents = [2, 4, 8]
seeds = [0, 1, 2, 3]

[[datasets]]
builtin = "digits"
max_rows = 400

[training]
epochs = 150
batch_size = 32
learning_rate = 0.01

[protocol]
patience = 0
"#;

/// Cells of [`TINY`]: 4 kinds (PCA included) x 3 latents x 4 seeds.
const TINY_CELLS: usize = 48;

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

/// Runs `study args` that must fail with exactly one stderr line; returns it.
fn one_line_error(out: &Output, what: &str) -> String {
    assert!(!out.status.success(), "{what} succeeded");
    let stderr = text(&out.stderr);
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{what}: {stderr}");
    assert!(lines[0].starts_with("error: "), "{what}: {stderr}");
    lines[0].to_string()
}

fn spawn_shard(file: &Path, shard: &str, out: &Path, threads: &str) -> Child {
    study()
        .args(["run", arg(file), "--shard", shard, "--out", arg(out)])
        .args(["--threads", threads])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the study binary starts")
}

/// Finished cells in a cache directory (temporary files start with a dot).
fn cached(dir: &Path) -> usize {
    std::fs::read_dir(dir).map_or(0, |entries| {
        entries
            .filter_map(|e| e.ok())
            .filter(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                name.ends_with(".json") && !name.starts_with('.')
            })
            .count()
    })
}

/// Frames equal in every column but the wall-clock `seconds`.
fn same_results(a: &DataFrame, b: &DataFrame) -> bool {
    let a = a.drop("seconds").unwrap();
    let b = b.drop("seconds").unwrap();
    a.equals_missing(&b)
}

fn write(path: &Path, body: &str) {
    std::fs::write(path, body).unwrap();
}

/// Sends SIGTERM to `child` and waits: asserts exit 130 and returns the
/// stderr lines `reader` collected, the interrupted line, and the count of
/// finished cells that line states.
fn terminate(
    mut child: Child,
    reader: std::thread::JoinHandle<Vec<String>>,
) -> (Vec<String>, String, usize) {
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = child.wait().unwrap();
    let lines = reader.join().unwrap();
    assert_eq!(status.code(), Some(130), "{lines:?}");
    // The error line (the "stopping" notice may come before or after it).
    let last = lines
        .iter()
        .find(|l| l.starts_with("error: "))
        .unwrap_or_else(|| panic!("no error line in {lines:?}"))
        .clone();
    let done: usize = last
        .strip_prefix("error: interrupted: ")
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no cell count in {last:?}"));
    (lines, last, done)
}

#[test]
fn killed_and_rerun_shards_merge_into_the_unsharded_run() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("tiny.toml");
    write(&file, TINY);

    let whole = dir.path().join("whole");
    let stdout = study_ok(&["run", arg(&file), "--out", arg(&whole)]);
    let reference = whole.join("tiny.parquet");
    assert_eq!(stdout.lines().last(), Some(arg(&reference)));

    // Shard 1 alone, on one thread, stopped by SIGTERM once a first cell
    // is cached: the signal lands while cells remain.
    let sharded = dir.path().join("sharded");
    let mut child = spawn_shard(&file, "1/3", &sharded, "1");
    let stderr = child.stderr.take().unwrap();
    let (started, wait_start) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        let mut lines = Vec::new();
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if line.starts_with("study tiny: shard 1/3") {
                let _ = started.send(());
            }
            lines.push(line);
        }
        lines
    });
    wait_start
        .recv_timeout(Duration::from_secs(300))
        .expect("the shard prints its start line");
    let cache = sharded.join("cache");
    let deadline = Instant::now() + Duration::from_secs(300);
    while cached(&cache) == 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(2));
    }
    let (_, last, done) = terminate(child, reader);
    assert!(last.contains(" of 16 cells done"), "{last}");
    assert!((1..16).contains(&done), "{last}");
    assert_eq!(cached(&cache), done, "only finished cells are cached");
    assert!(!sharded.join("tiny-shard-1-of-3.parquet").exists());
    assert!(!sharded.join("tiny-shard-1-of-3.manifest.json").exists());

    let report = study_ok(&["status", arg(&sharded)]);
    assert!(
        report.contains(&format!("shard 1/3: {done} of 16 cells done")),
        "{report}"
    );
    assert!(
        report.contains("shard 0/3: 0 of 16 cells done, 16 missing; not started"),
        "{report}"
    );

    // The other shards side by side, sharing the cache; then shard 1 again.
    let others = [
        spawn_shard(&file, "0/3", &sharded, "1"),
        spawn_shard(&file, "2/3", &sharded, "1"),
    ];
    for child in others {
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "{}", text(&out.stderr));
    }
    study_ok(&["run", arg(&file), "--shard", "1/3", "--out", arg(&sharded)]);
    let report = study_ok(&["status", arg(&sharded)]);
    assert!(
        report.contains(&format!(
            "total: {TINY_CELLS} of {TINY_CELLS} cells done; 3 of 3 shard results written"
        )),
        "{report}"
    );

    let merged = dir.path().join("merged.parquet");
    let stdout = study_ok(&["merge", arg(&sharded), "--out", arg(&merged)]);
    assert_eq!(stdout.lines().last(), Some(arg(&merged)));
    let a = read_results(&merged).unwrap();
    let b = read_results(&reference).unwrap();
    assert_eq!(a.height(), TINY_CELLS);
    assert!(same_results(&a, &b), "merged:\n{a}\nunsharded:\n{b}");

    // Refusals, each naming the shard or file, writing nothing.
    let shard = |i: usize, ext: &str| sharded.join(format!("tiny-shard-{i}-of-3.{ext}"));
    let refused = dir.path().join("refused.parquet");
    let merge_err = |inputs: &[&Path], what: &str| {
        let mut c = study();
        c.arg("merge");
        for p in inputs {
            c.arg(p);
        }
        let out = c.args(["--out", arg(&refused)]).output().unwrap();
        let line = one_line_error(&out, what);
        assert!(!refused.exists(), "{what} wrote {}", refused.display());
        line
    };
    let line = merge_err(&[&shard(0, "parquet"), &shard(2, "parquet")], "missing");
    assert!(line.contains("missing shard 1/3"), "{line}");
    let line = merge_err(
        &[&shard(0, "parquet"), &shard(0, "csv"), &shard(1, "parquet")],
        "duplicate",
    );
    assert!(line.contains("shard 0/3 is in both"), "{line}");
    assert!(line.contains("tiny-shard-0-of-3.csv"), "{line}");
    let line = merge_err(&[&reference, &shard(0, "parquet")], "split two ways");
    assert!(line.contains("split two ways"), "{line}");
    let other_file = dir.path().join("other.toml");
    write(
        &other_file,
        &TINY.replace("name = \"tiny\"", "name = \"other\"").replace(
            "[\"pca\", \"linear_tied\", \"tied\", \"untied\"]",
            "[\"pca\"]",
        ),
    );
    let other = dir.path().join("other");
    study_ok(&["run", arg(&other_file), "--out", arg(&other)]);
    let line = merge_err(&[&reference, &other.join("other.parquet")], "foreign");
    assert!(line.contains("is a shard of study \"other\""), "{line}");
}

#[test]
fn bad_inputs_fail_with_one_line_and_write_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.toml");
    let out = dir.path().join("out");
    let disagree = [
        ("SLURM_ARRAY_TASK_ID", "2"),
        ("SLURM_ARRAY_TASK_MIN", "0"),
        ("SLURM_ARRAY_TASK_COUNT", "3"),
    ];
    type Case<'a> = (
        &'a str,
        String,
        &'a [&'a str],
        &'a [(&'a str, &'a str)],
        &'a [&'a str],
    );
    let cases: Vec<Case> = vec![
        (
            "unknown key",
            TINY.replace("seeds =", "seed ="),
            &[],
            &[],
            &["line 4, key `seed`", "unknown field `seed`"],
        ),
        (
            "wrong type",
            TINY.replace("latents = [2, 4, 8]", "latents = \"eight\""),
            &[],
            &[],
            &["line 3, key `latents`", "invalid type"],
        ),
        (
            "latent larger than the data",
            TINY.replace("latents = [2, 4, 8]", "latents = [2, 100]"),
            &[],
            &[],
            &["line 3, key `latents`", "latent size 100"],
        ),
        (
            "missing dataset path",
            TINY.replace("builtin = \"digits\"", "path = \"missing.csv\""),
            &[],
            &[],
            &["line 7, key `path`", "missing.csv", "no such data file"],
        ),
        (
            "shard index equal to the count",
            TINY.to_string(),
            &["--shard", "3/3"],
            &[],
            &["--shard", "3/3", "0 to N-1"],
        ),
        (
            "no shards",
            TINY.to_string(),
            &["--shard", "0/0"],
            &[],
            &["--shard", "0/0", "N >= 1"],
        ),
        (
            "job array disagreeing with --shard",
            TINY.to_string(),
            &["--shard", "1/3"],
            &disagree,
            &["--shard", "disagrees", "SLURM_ARRAY_TASK_ID=2", "shard 2/3"],
        ),
        (
            "zero threads",
            TINY.to_string(),
            &["--threads", "0"],
            &[],
            &["--threads", "at least 1"],
        ),
    ];
    for (what, body, args, env, expected) in cases {
        write(&file, &body);
        let mut c = study();
        c.args(["run", arg(&file), "--out", arg(&out)]).args(args);
        for (k, v) in env {
            c.env(k, v);
        }
        let line = one_line_error(&c.output().unwrap(), what);
        for e in expected {
            assert!(line.contains(e), "{what}: {e:?} not in {line}");
        }
        let left: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(left, ["bad.toml"], "{what} wrote files");
    }
    let out = study().args(["run", "linear-pca"]).output().unwrap();
    let line = one_line_error(&out, "unknown built-in");
    assert!(
        line.contains("neither a .toml study file nor a built-in"),
        "{line}"
    );
    assert!(line.contains("linear_pca"), "{line}");
}

#[test]
fn the_example_study_file_builds() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("studies/example.toml");
    let (_, s) = read_study_file(&path).unwrap();
    // 3 latents x 3 seeds of PCA; 4 trained kinds x 3 latents x 3 rates x 3 seeds.
    assert_eq!(s.cells().unwrap().len(), 3 * 3 + 4 * 3 * 3 * 3);
}

#[test]
fn built_in_studies_are_listed_and_shown_as_files() {
    let listing = study_ok(&["list", "--quick"]);
    for b in tiedae::study::builtin::REGISTRY {
        assert!(
            listing.lines().any(|l| l.starts_with(b.name)),
            "{} not listed:\n{listing}",
            b.name
        );
    }
    let linear = listing
        .lines()
        .find(|l| l.starts_with("linear_pca "))
        .unwrap();
    assert!(linear.contains(" cells "), "{linear}");
    // One grid of every kind it compares, so it runs like any other.
    let bias = listing
        .lines()
        .find(|l| l.starts_with("bias_modes "))
        .unwrap();
    assert!(bias.contains(" 39 cells "), "{bias}");
    // The sae study is a grid of cells like the others: on digits, at
    // each of its 3 sizes (16, 64, 256), PCA on the 3 seeds, then at each
    // of the 2 rates and 3 seeds 5 unpenalised variants, the L1 variant at
    // 7 weights and the 2 JumpReLU variants at 4 weights each:
    // 3 * (3 + 6 * (5 + 7 + 2 * 4)) = 369.
    let sae = listing.lines().find(|l| l.starts_with("sae ")).unwrap();
    assert!(sae.contains(" 369 cells "), "{sae}");

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("linear_pca.toml");
    let stdout = study_ok(&["show", "linear_pca", "--quick", "--out", arg(&file)]);
    assert_eq!(stdout.trim(), arg(&file));
    let body = std::fs::read_to_string(&file).unwrap();
    assert!(
        body.starts_with("# The built-in study linear_pca"),
        "{body}"
    );
    let (_, shown) = read_study_file(&file).unwrap();
    assert_eq!(shown.name, "linear-pca");
    let out = study().args(["show", "param_counts"]).output().unwrap();
    let line = one_line_error(&out, "a table");
    assert!(line.contains("trains nothing"), "{line}");
}

/// The built-in `study` on the quick preset run whole and as `shards`
/// shards into one output directory, then merged: (merged, unsharded).
fn whole_and_merged(study: &str, shards: usize) -> (DataFrame, DataFrame) {
    let dir = tempfile::tempdir().unwrap();
    let whole = dir.path().join("whole");
    let stdout = study_ok(&["run", study, "--quick", "--out", arg(&whole)]);
    let reference = PathBuf::from(stdout.lines().last().expect("the results path"));
    let sharded = dir.path().join("sharded");
    for i in 0..shards {
        let shard = format!("{i}/{shards}");
        study_ok(&[
            "run",
            study,
            "--quick",
            "--shard",
            &shard,
            "--out",
            arg(&sharded),
        ]);
    }
    let merged = dir.path().join("merged.parquet");
    study_ok(&["merge", arg(&sharded), "--out", arg(&merged)]);
    (
        read_results(&merged).unwrap(),
        read_results(&reference).unwrap(),
    )
}

/// The built-in bias_modes study is one grid of linear tied cells (full-
/// batch L-BFGS in f64) and ReLU tied cells (Adam in f32 over the rate
/// grid) beside PCA, so it runs sharded like a study file: on the quick
/// preset two shards merged equal the unsharded run, timing aside.
#[test]
fn the_bias_modes_study_shards_and_merges_into_its_unsharded_run() {
    let (a, b) = whole_and_merged("bias_modes", 2);
    // Digits, first quick latent size, 3 seeds: PCA per seed, linear tied
    // per bias mode (4) and seed, ReLU tied also per rate (2).
    assert_eq!(b.height(), 3 + 4 * 3 + 4 * 2 * 3);
    assert!(same_results(&a, &b), "merged:\n{a}\nunsharded:\n{b}");
    let rows = tiedae::study::frame_to_rows(&b).unwrap();
    for r in &rows {
        match r.model.as_str() {
            "linear_tied" => assert_eq!(r.learning_rate, None, "{r:?}"),
            "tied" => assert!(r.learning_rate.is_some(), "{r:?}"),
            other => assert_eq!(other, "pca"),
        }
    }
}

/// The denoising study is a grid of cells (PCA and one tied variant per
/// noise level, every quick seed and rate), so it shards like any study:
/// two shards merged equal the unsharded run, timing aside, its corrupted
/// test MSE columns included (PCA's and the plain pair's too).
#[test]
fn the_denoising_study_shards_and_merges_into_its_unsharded_run() {
    let (a, b) = whole_and_merged("denoising", 2);
    // Digits, one latent size, 3 seeds: PCA per seed, 7 variants per rate
    // (2) and seed.
    assert_eq!(b.height(), 3 + 7 * 2 * 3);
    for (name, _) in tiedae::study::DENOISING_COLUMNS {
        let c = b
            .column(name)
            .unwrap_or_else(|_| panic!("no column {name}"));
        assert_eq!(c.null_count(), 0, "{name} has nulls");
    }
    assert!(same_results(&a, &b), "merged:\n{a}\nunsharded:\n{b}");
}

/// The Refinetti–Goldt study is a grid of cells over two data sets, its
/// synthetic one described in its study file by the generator's
/// parameters (the `spiked` key), so every shard regenerates the same
/// rows: two shards merged equal the unsharded run, timing aside, its
/// dynamics columns included, and `study list` counts its cells.
#[test]
fn the_refinetti_goldt_study_shards_and_merges_into_its_unsharded_run() {
    let listing = study_ok(&["list", "--quick"]);
    let line = listing
        .lines()
        .find(|l| l.starts_with("refinetti_goldt "))
        .unwrap();
    // 8 variants on the synthetic data and on digits, one seed.
    assert!(line.contains(" 16 cells "), "{line}");
    let shown = study_ok(&["show", "refinetti_goldt", "--quick"]);
    assert!(shown.contains("spiked"), "{shown}");
    let (a, b) = whole_and_merged("refinetti_goldt", 2);
    assert_eq!(b.height(), 16);
    for (name, _) in tiedae::study::DYNAMICS_COLUMNS {
        assert!(b.column(name).is_ok(), "no column {name}");
    }
    let fev = b.column("fev").unwrap();
    assert_eq!(fev.null_count(), 0, "every trained cell has an FEV");
    assert!(same_results(&a, &b), "merged:\n{a}\nunsharded:\n{b}");
    let claims = tiedae::study::builtin::refinetti_goldt::claims_table(&a).unwrap();
    assert_eq!(claims.height(), 8);
}

/// The theory study is a grid of linear cells, one per model its claims
/// read, each recording the theory columns, so it runs sharded from the
/// command line like any study: two shards merged equal the unsharded run,
/// timing aside, and the claims drawn from either frame agree, every one
/// of them passing (the closed forms are the oracle).
#[test]
fn the_theory_study_shards_and_merges_into_its_unsharded_run() {
    let listing = study_ok(&["list", "--quick"]);
    let line = listing.lines().find(|l| l.starts_with("theory ")).unwrap();
    assert!(!line.contains("invalid"), "{line}");
    let (a, b) = whole_and_merged("theory", 2);
    assert!(same_results(&a, &b), "merged:\n{a}\nunsharded:\n{b}");
    for (name, _) in tiedae::study::THEORY_COLUMNS {
        assert!(b.column(name).is_ok(), "no column {name}");
    }
    let claims = |df: &DataFrame| {
        let t = tiedae::study::builtin::theory::claims_table(df).unwrap();
        let pass: Vec<bool> = t
            .column("pass")
            .unwrap()
            .bool()
            .unwrap()
            .iter()
            .map(|p| p == Some(true))
            .collect();
        (t.height(), pass)
    };
    let (n, pass) = claims(&a);
    assert_eq!((n, pass.clone()), claims(&b));
    assert!(pass.iter().all(|&p| p), "{pass:?}");
}

/// SIGTERM mid-`sae` (what a batch scheduler sends at its time limit):
/// the shard stops between cells with 130 and a line counting the cells
/// done, every finished cell is in the cache and nothing unfinished, and
/// the same command continues from the cache to the frame an uninterrupted
/// run of that shard gives, timing aside.
#[test]
fn a_sigterm_mid_sae_keeps_finished_cells_and_the_same_command_continues() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("stopped");
    let args = |out: &Path| -> Vec<String> {
        [
            "run",
            "sae",
            "--quick",
            "--shard",
            "0/3",
            "--threads",
            "1",
            "--out",
        ]
        .iter()
        .map(|s| s.to_string())
        .chain([arg(out).to_string()])
        .collect()
    };
    let mut child = study()
        .args(args(&out))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the study binary starts");
    let stderr = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
            .collect::<Vec<_>>()
    });
    let cache = out.join("cache");
    let deadline = Instant::now() + Duration::from_secs(300);
    while cached(&cache) < 3 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(2));
    }
    let (_, last, done) = terminate(child, reader);
    assert!(done >= 3, "{last}");
    assert_eq!(
        cached(&cache),
        done,
        "every finished cell, and only those, cached"
    );
    let shard = |out: &Path| out.join("sae-shard-0-of-3.parquet");
    assert!(!shard(&out).exists(), "no shard result after a stop");

    let rerun: Vec<String> = args(&out);
    study_ok(&rerun.iter().map(String::as_str).collect::<Vec<_>>());
    let fresh = dir.path().join("fresh");
    study_ok(&args(&fresh).iter().map(String::as_str).collect::<Vec<_>>());
    let (a, b) = (
        read_results(&shard(&out)).unwrap(),
        read_results(&shard(&fresh)).unwrap(),
    );
    assert!(same_results(&a, &b), "resumed:\n{a}\nuninterrupted:\n{b}");
}

/// The fenced ```bash blocks of the README's cluster section.
fn cluster_blocks() -> Vec<String> {
    let readme = include_str!("../README.md");
    let start = readme
        .find("## Running a study on a cluster")
        .expect("README has the cluster section");
    let section = &readme[start..];
    let end = section[3..].find("\n## ").map_or(section.len(), |i| i + 3);
    let section = &section[..end];
    section
        .split("```bash\n")
        .skip(1)
        .map(|b| b[..b.find("```").expect("the block closes")].to_string())
        .collect()
}

/// Runs a shell script in `cwd` with the study binary first on PATH.
fn bash(script: &str, cwd: &Path, env: &[(&str, String)]) -> Output {
    let bin_dir = PathBuf::from(env!("CARGO_BIN_EXE_study"))
        .parent()
        .unwrap()
        .to_path_buf();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut c = Command::new("bash");
    c.arg("-c").arg(script).current_dir(cwd).env("PATH", path);
    for v in SLURM_VARS {
        c.env_remove(v);
    }
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().expect("bash runs")
}

/// The README's sbatch script runs once per task of its `--array` with the
/// variables SLURM would set (on a smaller study under the same file
/// name), then its merge and status commands run as written.
#[test]
fn the_readme_cluster_commands_run_under_a_fake_job_array() {
    let blocks = cluster_blocks();
    let script = blocks
        .iter()
        .find(|b| b.contains("#SBATCH --array="))
        .expect("an sbatch script");
    let array = script
        .lines()
        .find_map(|l| l.strip_prefix("#SBATCH --array="))
        .unwrap()
        .trim();
    let (first, last) = array.split_once('-').expect("--array=A-B");
    let (first, last): (usize, usize) = (first.parse().unwrap(), last.parse().unwrap());
    let count = last - first + 1;
    let after = blocks
        .iter()
        .find(|b| b.contains("study merge"))
        .expect("a merge step");

    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("studies")).unwrap();
    // 16 PCA cells and 16 linear ones: at least one cell per task.
    let small = TINY
        .replace(
            "[\"pca\", \"linear_tied\", \"tied\", \"untied\"]",
            "[\"pca\", \"linear_tied\"]",
        )
        .replace("latents = [2, 4, 8]", "latents = [2, 4]")
        .replace("seeds = [0, 1, 2, 3]", "seeds = [0, 1, 2, 3, 4, 5, 6, 7]")
        .replace("epochs = 150", "epochs = 10");
    write(&dir.path().join("studies/example.toml"), &small);
    for task in first..=last {
        let env = [
            ("SLURM_ARRAY_TASK_ID", task.to_string()),
            ("SLURM_ARRAY_TASK_MIN", first.to_string()),
            ("SLURM_ARRAY_TASK_COUNT", count.to_string()),
            ("SLURM_CPUS_PER_TASK", "1".to_string()),
        ];
        let out = bash(script, dir.path(), &env);
        assert!(
            out.status.success(),
            "task {task}:\n{}\n{}",
            text(&out.stdout),
            text(&out.stderr)
        );
        let expected = format!(
            "shard {}/{count} (from SLURM_ARRAY_TASK_ID={task}",
            task - first
        );
        assert!(
            text(&out.stderr).contains(&expected),
            "{}",
            text(&out.stderr)
        );
    }
    let out = bash(after, dir.path(), &[]);
    assert!(
        out.status.success(),
        "{}\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains(&format!("{count} of {count} shard results written")),
        "{stdout}"
    );
    let merged: Vec<PathBuf> = walk(dir.path())
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "parquet"))
        .filter(|p| !p.to_string_lossy().contains("-shard-"))
        .collect();
    assert_eq!(merged.len(), 1, "one merged file: {merged:?}");
    assert_eq!(read_results(&merged[0]).unwrap().height(), 32);
}

/// Every file under `dir`.
fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// The built-in sae study (quick preset, digits) run whole and as three
/// shards of the `study` binary (`study run sae --shard I/3`) merges into
/// the whole run's frame, timing aside: its extra metric columns included,
/// with the same nulls (PCA's training-only columns).
#[test]
fn sae_shards_merge_into_the_unsharded_run() {
    let (a, b) = whole_and_merged("sae", 3);
    assert_eq!(a.height(), b.height());
    for name in ["l0", "fvu", "dead_fraction_train", "l0_train"] {
        assert!(a.column(name).is_ok(), "merged frame lacks {name}");
    }
    assert!(b.column("dead_fraction_train").unwrap().null_count() > 0);
    assert!(same_results(&a, &b), "merged:\n{a}\nunsharded:\n{b}");
}
