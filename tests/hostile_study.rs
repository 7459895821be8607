//! Hostile input to the `study` and `report` binaries and to the library's
//! readers: a study name that is a path; shard counts, cell counts and
//! study ids in `run.json` and shard manifests; seed lists, widths and
//! L-BFGS memory beyond their limits; rows traded between the cells of a
//! learning-rate grid or between cache files; a cache shared by studies
//! whose PCA is fitted with different sizes; a checkpoint at epoch 0; a
//! one-row validation split; and two studies racing into one directory.
//!
//! Every binary runs under a memory limit (`ulimit -v`) and a time limit,
//! so a count that reaches an allocation or a loop fails the test instead
//! of the machine. A refusal is one `error:` line with an exit code from 1
//! to 100 (101 is a panic; an abort or a kill ends in a signal or 134+),
//! and writes nothing: the test's directory is compared file by file.

use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use tiedae::Error;
use tiedae::study::{KEY_COLUMNS, read_parquet};

/// Job-array variables, removed from every run (a test run inside a real
/// SLURM job must not see its job's array).
const SLURM_VARS: [&str; 5] = [
    "SLURM_ARRAY_TASK_ID",
    "SLURM_ARRAY_TASK_MIN",
    "SLURM_ARRAY_TASK_COUNT",
    "SLURM_ARRAY_TASK_STEP",
    "SLURM_CPUS_PER_TASK",
];

/// Virtual memory a child may map, in KiB (8 GiB): far above what these
/// small runs need, far below what an unchecked count asks for.
const MEMORY_KIB: u64 = 8 << 20;

/// Seconds a child may run before it is killed: far more than these small
/// runs need, so only a hang reaches it.
const SECONDS: u64 = 120;

/// Two PCA cells on a 200-row sample of digits: the smallest study that
/// writes every file a run writes.
const PCA: &str = r#"name = "hostile"
models = ["pca"]
latents = [2, 4]

[[datasets]]
builtin = "digits"
max_rows = 200
"#;

/// `bin args` in `cwd` under the memory and time limits, with at most two
/// threads per pool and two malloc arenas (so the memory limit does not
/// depend on the machine's core count).
fn limited(bin: &str, args: &[&str], cwd: &Path) -> Command {
    let mut c = Command::new("bash");
    c.arg("-c")
        .arg(format!(
            "ulimit -v {MEMORY_KIB} && exec timeout -s KILL {SECONDS} \"$0\" \"$@\""
        ))
        .arg(bin)
        .args(args)
        .current_dir(cwd)
        .env("RAYON_NUM_THREADS", "2")
        .env("POLARS_MAX_THREADS", "2")
        .env("MALLOC_ARENA_MAX", "2");
    for v in SLURM_VARS {
        c.env_remove(v);
    }
    c
}

/// Runs `study args` in `cwd`.
fn study(args: &[&str], cwd: &Path) -> Output {
    limited(env!("CARGO_BIN_EXE_study"), args, cwd)
        .output()
        .expect("bash runs the study binary")
}

/// Starts `study args` in `cwd`, its output piped.
fn spawn_study(args: &[&str], cwd: &Path) -> Child {
    limited(env!("CARGO_BIN_EXE_study"), args, cwd)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("bash starts the study binary")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Runs `study args` in `cwd`, which must succeed.
fn study_ok(args: &[&str], cwd: &Path) {
    let out = study(args, cwd);
    assert!(
        out.status.success(),
        "{args:?} failed:\n{}",
        text(&out.stderr)
    );
}

/// The error line of a failed run: an exit code from 1 to 100 (no panic,
/// no abort, no kill), one `error:` line, last, and no panic message. Lines
/// before it are the run's progress (a run that starts and then meets a
/// bad file says which shard it started first).
fn error_line(out: &Output, what: &str) -> String {
    let stderr = text(&out.stderr);
    match out.status.code() {
        Some(code) => assert!(
            (1..101).contains(&code),
            "{what}: exit code {code} (0: accepted; 101: a panic; 124 and up: killed or aborted):\n{stderr}"
        ),
        None => panic!("{what}: ended by a signal:\n{stderr}"),
    }
    assert!(!stderr.contains("panicked"), "{what}: {stderr}");
    let errors: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("error: "))
        .collect();
    assert_eq!(errors.len(), 1, "{what}: not one error line:\n{stderr}");
    assert_eq!(
        stderr.lines().next_back(),
        Some(errors[0]),
        "{what}: {stderr}"
    );
    errors[0].to_string()
}

/// The error line of a run refused before it started: as [`error_line`],
/// and the only line on stderr.
fn refused(out: &Output, what: &str) -> String {
    let line = error_line(out, what);
    assert_eq!(text(&out.stderr).lines().count(), 1, "{what}");
    line
}

/// Every file and directory under `dir`, with each file's contents.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Option<Vec<u8>>> {
    let mut all = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p.clone());
                all.insert(p, None);
            } else {
                let bytes = std::fs::read(&p).unwrap();
                all.insert(p, Some(bytes));
            }
        }
    }
    all
}

/// Asserts that `dir` holds what `before` recorded, naming what changed.
fn assert_unchanged(before: &BTreeMap<PathBuf, Option<Vec<u8>>>, dir: &Path, what: &str) {
    let after = snapshot(dir);
    let changed: Vec<&PathBuf> = before
        .keys()
        .chain(after.keys())
        .filter(|p| before.get(*p) != after.get(*p))
        .collect();
    assert!(changed.is_empty(), "{what} wrote or removed {changed:?}");
}

fn read_json(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

fn write_json(path: &Path, value: &Value) {
    std::fs::write(path, serde_json::to_vec_pretty(value).unwrap()).unwrap();
}

/// `s` as a TOML basic string.
fn toml_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The cells cached in `dir` (temporary files start with a dot).
fn cache_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            name.ends_with(".json") && !name.starts_with('.') && !name.ends_with(".detail.json")
        })
        .collect();
    files.sort();
    files
}

/// A name that is a path (parent steps, separators, absolute, hidden,
/// empty, a NUL, too long) is refused at its line, and with no `--out`
/// nothing is written: not `studies/NAME`, and nothing above it.
#[test]
fn a_study_name_that_is_a_path_is_refused() {
    let root = tempfile::tempdir().unwrap();
    let work = root.path().join("work");
    std::fs::create_dir(&work).unwrap();
    let names = [
        "../../x".to_string(),
        "..".to_string(),
        "studies/../../y".to_string(),
        "a/b".to_string(),
        "a\\b".to_string(),
        ".hidden".to_string(),
        String::new(),
        "nul\0x".to_string(),
        root.path().join("abs").display().to_string(),
        "x".repeat(300),
    ];
    for name in &names {
        let body = PCA.replace(
            "name = \"hostile\"",
            &format!("name = {}", toml_string(name)),
        );
        std::fs::write(work.join("s.toml"), body).unwrap();
        let before = snapshot(root.path());
        let line = refused(&study(&["run", "s.toml"], &work), name);
        assert!(
            line.contains("s.toml: line 1, key `name`"),
            "{name:?}: {line}"
        );
        assert_unchanged(&before, root.path(), name);
    }
}

/// A run directory whose `run.json` says 0 shards, or more than any study
/// has, is refused by `study status` and `study run` (no remainder by
/// zero, no status per shard allocated), naming the file and the field.
#[test]
fn run_json_shard_counts_are_bounded_before_use() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("s.toml"), PCA).unwrap();
    study_ok(&["run", "s.toml", "--out", "out"], dir.path());
    let record = dir.path().join("out/run.json");
    let good = read_json(&record);
    for shards in [json!(0), json!(100_000_000_000u64), json!(u64::MAX)] {
        let mut bad = good.clone();
        bad["shards"] = shards.clone();
        write_json(&record, &bad);
        let before = snapshot(dir.path());
        for args in [
            &["status", "out"][..],
            &["run", "s.toml", "--out", "out"][..],
        ] {
            let what = format!("{args:?} with \"shards\": {shards}");
            let line = refused(&study(args, dir.path()), &what);
            assert!(line.contains("run.json: shards:"), "{what}: {line}");
            assert_unchanged(&before, dir.path(), &what);
        }
    }
    write_json(&record, &good);
    study_ok(&["status", "out"], dir.path());
}

/// A study id with multi-byte characters, in `run.json` or in a shard
/// manifest, is refused on reading (it is not a study id), never cut at a
/// byte that splits a character.
#[test]
fn study_ids_that_are_not_ids_are_refused_not_sliced() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("s.toml"), PCA).unwrap();
    study_ok(&["run", "s.toml", "--out", "out"], dir.path());
    // Byte 12 falls inside the sixth "é".
    let id = format!("x{}", "é".repeat(40));
    let record = dir.path().join("out/run.json");
    let mut bad = read_json(&record);
    bad["study_id"] = json!(id);
    write_json(&record, &bad);
    let before = snapshot(dir.path());
    for args in [
        &["run", "s.toml", "--out", "out"][..],
        &["status", "out"][..],
    ] {
        let line = refused(&study(args, dir.path()), &format!("{args:?}"));
        assert!(line.contains("run.json: study_id:"), "{args:?}: {line}");
        assert_unchanged(&before, dir.path(), &format!("{args:?}"));
    }

    for shard in ["0/2", "1/2"] {
        study_ok(
            &["run", "s.toml", "--shard", shard, "--out", "sharded"],
            dir.path(),
        );
    }
    let manifest = dir
        .path()
        .join("sharded/hostile-shard-1-of-2.manifest.json");
    let mut bad = read_json(&manifest);
    bad["study_id"] = json!(id);
    write_json(&manifest, &bad);
    let before = snapshot(dir.path());
    let line = refused(
        &study(&["merge", "sharded", "--out", "merged.parquet"], dir.path()),
        "merge",
    );
    assert!(
        line.contains("hostile-shard-1-of-2.manifest.json: study_id:"),
        "{line}"
    );
    assert_unchanged(&before, dir.path(), "merge");
}

/// Shard and cell counts in manifests beyond any study are refused when
/// the manifest is read, by the library and by `study merge`, before any
/// list of shards or cells is built from them.
#[test]
fn manifest_counts_are_bounded_before_use() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("s.toml"), PCA).unwrap();
    for shard in ["0/2", "1/2"] {
        study_ok(
            &["run", "s.toml", "--shard", shard, "--out", "sharded"],
            dir.path(),
        );
    }
    let manifests: Vec<PathBuf> = (0..2)
        .map(|i| {
            dir.path()
                .join(format!("sharded/hostile-shard-{i}-of-2.manifest.json"))
        })
        .collect();
    let good: Vec<Value> = manifests.iter().map(|m| read_json(m.as_path())).collect();
    let huge = 100_000_000_000u64;
    type Edit = fn(&mut Value, usize, u64);
    let cases: [(&str, Edit); 3] = [
        ("total_cells", |m, _, huge| m["total_cells"] = json!(huge)),
        ("shard", |m, i, huge| m["shard"] = json!([i, huge])),
        ("cells", |m, _, huge| m["cells"][0][0] = json!(huge)),
    ];
    for (field, edit) in cases {
        for (i, (path, m)) in manifests.iter().zip(&good).enumerate() {
            let mut bad = m.clone();
            edit(&mut bad, i, huge);
            write_json(path, &bad);
        }
        let before = snapshot(dir.path());
        let line = refused(
            &study(&["merge", "sharded", "--out", "merged.parquet"], dir.path()),
            field,
        );
        assert!(
            line.contains(&format!("manifest.json: {field}:")),
            "{field}: {line}"
        );
        assert_unchanged(&before, dir.path(), field);
        let results = dir.path().join("sharded/hostile-shard-0-of-2.parquet");
        match tiedae::study::read_manifest(&results) {
            Err(Error::Format { location, .. }) => assert_eq!(location, field),
            other => panic!("{field}: expected a format error, got {other:?}"),
        }
    }
    for (path, m) in manifests.iter().zip(&good) {
        write_json(path, m);
    }
    study_ok(&["merge", "sharded", "--out", "merged.parquet"], dir.path());
}

/// Seed counts, seed lists, hidden widths, weight counts and L-BFGS memory
/// beyond their stated limits are refused before anything is allocated or
/// trained, naming the flag or the study file's key.
#[test]
fn seeds_widths_and_lbfgs_memory_are_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let before = snapshot(dir.path());
    let out = limited(
        env!("CARGO_BIN_EXE_report"),
        &["--quick", "--seeds", "10000000000", "--out", "reports"],
        dir.path(),
    )
    .output()
    .unwrap();
    let line = refused(&out, "report --seeds");
    assert!(line.contains("--seeds"), "{line}");
    assert_unchanged(&before, dir.path(), "report --seeds");

    let seeds: Vec<String> = (0..=10_000).map(|s| s.to_string()).collect();
    let lbfgs = "[training]\noptimizer = { kind = \"lbfgs\", max_iters = 5, memory = 1000000000000, tol_grad = 1e-10, tol_cost = 1e-16 }\n";
    let cases = [
        (
            "seeds",
            PCA.replace(
                "latents = [2, 4]",
                &format!("latents = [2, 4]\nseeds = [{}]", seeds.join(", ")),
            ),
        ),
        (
            "hidden",
            PCA.replace(
                "models = [\"pca\"]",
                "models = [\"pca\", \"tied\"]\nhidden = [1099511627776]",
            ),
        ),
        (
            "hidden",
            PCA.replace(
                "models = [\"pca\"]",
                "models = [\"pca\", \"tied\"]\nhidden = [100000, 100000]",
            ),
        ),
        (
            "lbfgs.memory",
            format!(
                "{}\n{lbfgs}",
                PCA.replace("models = [\"pca\"]", "models = [\"pca\", \"linear_tied\"]")
            ),
        ),
    ];
    for (key, body) in cases {
        std::fs::write(dir.path().join("s.toml"), body).unwrap();
        let before = snapshot(dir.path());
        let line = refused(&study(&["run", "s.toml", "--out", "out"], dir.path()), key);
        assert!(line.contains(&format!("key `{key}`")), "{key}: {line}");
        assert_unchanged(&before, dir.path(), key);
    }
}

/// Two cells that differ in their learning rate alone.
const RATE_GRID: &str = r#"name = "rates"
models = ["linear_tied"]
latents = [2]

[[datasets]]
builtin = "digits"
max_rows = 200

[training]
epochs = 2
batch_size = 32

[protocol]
patience = 0
learning_rates = [0.01, 0.001]
"#;

/// The cells of a learning-rate grid differ in their rate alone: a results
/// file whose rows traded rates no longer matches its manifest, and the
/// merge says so (the untouched file merges).
#[test]
fn merge_tells_the_cells_of_a_learning_rate_grid_apart() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("s.toml"), RATE_GRID).unwrap();
    study_ok(&["run", "s.toml", "--out", "out"], dir.path());
    study_ok(
        &["merge", "out/rates.parquet", "--out", "ok.parquet"],
        dir.path(),
    );

    let csv = dir.path().join("out/rates.csv");
    let body = std::fs::read_to_string(&csv).unwrap();
    let mut lines: Vec<Vec<String>> = body
        .lines()
        .map(|l| l.split(',').map(str::to_string).collect())
        .collect();
    let col = lines[0]
        .iter()
        .position(|c| c == "learning_rate")
        .expect("a learning_rate column");
    assert_eq!(lines.len(), 3, "a header and two cells:\n{body}");
    assert_ne!(lines[1][col], lines[2][col], "{body}");
    let (first, second) = (lines[1][col].clone(), lines[2][col].clone());
    lines[1][col] = second;
    lines[2][col] = first;
    let swapped: Vec<String> = lines.iter().map(|l| l.join(",")).collect();
    std::fs::write(&csv, swapped.join("\n") + "\n").unwrap();

    let before = snapshot(dir.path());
    let line = refused(
        &study(
            &["merge", "out/rates.csv", "--out", "m.parquet"],
            dir.path(),
        ),
        "merge",
    );
    assert!(line.contains("does not match its manifest"), "{line}");
    assert_unchanged(&before, dir.path(), "merge");
}

/// The key columns tell the cells of a learning-rate grid apart too: the
/// merge keeps both rows, and their keys differ, so a results file keyed
/// on them (to join or deduplicate) keeps both as well.
#[test]
fn the_key_columns_tell_the_cells_of_a_learning_rate_grid_apart() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("s.toml"), RATE_GRID).unwrap();
    study_ok(&["run", "s.toml", "--out", "out"], dir.path());
    study_ok(
        &["merge", "out/rates.parquet", "--out", "m.parquet"],
        dir.path(),
    );
    let df = read_parquet(&dir.path().join("m.parquet")).unwrap();
    assert_eq!(df.height(), 2, "both cells kept by the merge: {df}");
    let keys: BTreeSet<Vec<String>> = (0..df.height())
        .map(|i| {
            KEY_COLUMNS
                .iter()
                .map(|&c| df.column(c).unwrap().get(i).unwrap().to_string())
                .collect()
        })
        .collect();
    assert_eq!(keys.len(), 2, "two cells, one key: {keys:?}");
}

/// The cache key holds the size PCA is fitted with: two studies that share
/// a cache and a cell, one fitting PCA with 2 components and one with 8,
/// do not share that cell's file.
#[test]
fn the_cache_key_holds_the_pca_fit_size() {
    let dir = tempfile::tempdir().unwrap();
    let small = PCA
        .replace("name = \"hostile\"", "name = \"small\"")
        .replace("latents = [2, 4]", "latents = [2]");
    let large = PCA
        .replace("name = \"hostile\"", "name = \"large\"")
        .replace("latents = [2, 4]", "latents = [2, 8]");
    std::fs::write(dir.path().join("small.toml"), small).unwrap();
    std::fs::write(dir.path().join("large.toml"), large).unwrap();
    for (file, out) in [("small.toml", "a"), ("large.toml", "b")] {
        study_ok(
            &["run", file, "--out", out, "--cache", "shared"],
            dir.path(),
        );
    }
    let cached = cache_files(&dir.path().join("shared"));
    assert_eq!(cached.len(), 1 + 2, "{cached:?}");
}

/// A cache file whose row is another cell's (two files' rows swapped, keys
/// and configurations left alone) is an error naming the file when read
/// back, by `study run` and by `study status`, never a result.
#[test]
fn a_cached_row_of_another_cell_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("s.toml"), PCA).unwrap();
    study_ok(&["run", "s.toml", "--out", "out"], dir.path());
    let cached = cache_files(&dir.path().join("out/cache"));
    assert_eq!(cached.len(), 2, "{cached:?}");
    let (mut a, mut b) = (read_json(&cached[0]), read_json(&cached[1]));
    std::mem::swap(&mut a["row"], &mut b["row"]);
    write_json(&cached[0], &a);
    write_json(&cached[1], &b);
    let before = snapshot(dir.path());
    let line = error_line(
        &study(&["run", "s.toml", "--out", "out"], dir.path()),
        "rerun",
    );
    assert!(line.contains(": row: the row is of cell"), "{line}");
    assert!(
        cached
            .iter()
            .any(|p| line.contains(&p.file_name().unwrap().to_string_lossy().into_owned())),
        "{line}"
    );
    // The rerun rewrote its record and study copy with the same bytes, and
    // wrote no results.
    assert_unchanged(&before, dir.path(), "rerun");
    let line = refused(&study(&["status", "out"], dir.path()), "status");
    assert!(line.contains(": row: the row is of cell"), "{line}");
}

/// A checkpoint edited to epoch 0 (or to an epoch its history does not
/// reach, or a batch past the epoch's end) is refused when resumed, with
/// an error naming the file and the field, instead of an underflow.
#[test]
fn a_checkpoint_at_epoch_zero_is_refused_on_resume() {
    use tiedae::data::Dataset;
    use tiedae::model::{Autoencoder, AutoencoderSpec};
    use tiedae::train::{Checkpoint, Progress, TrainConfig, Trainer};

    let x = Dataset::builtin("digits")
        .unwrap()
        .x_as::<f32>()
        .rows(0, 100)
        .into_owned();
    let dir = tempfile::tempdir().unwrap();
    let cfg = TrainConfig::new()
        .epochs(2)
        .batch_size(50)
        .learning_rate(1e-2)
        .seed(1)
        .progress(Progress::Silent)
        .checkpoint(dir.path(), 1);
    let trainer = Trainer::new(cfg).unwrap();
    let model = Autoencoder::<f32>::new(&AutoencoderSpec::new(&[64, 4]), 0).unwrap();
    trainer.fit(model, &x).unwrap();
    let path = Checkpoint::path_in(dir.path());
    let good = read_json(&path);
    assert_eq!(good["epoch"], json!(3), "two epochs done, the third next");
    for (epoch, finished) in [(0, false), (0, true), (u64::MAX, false), (2, false)] {
        let mut bad = good.clone();
        bad["epoch"] = json!(epoch);
        bad["finished"] = json!(finished);
        write_json(&path, &bad);
        match trainer.resume(&path, &x) {
            Err(Error::Format {
                path: p, location, ..
            }) => {
                assert_eq!(p, path);
                assert_eq!(location, "epoch", "epoch {epoch}");
            }
            other => panic!("epoch {epoch}: expected a format error, got {other:?}"),
        }
    }
    let mut bad = good.clone();
    bad["finished"] = json!(false);
    bad["batch"] = json!(u64::MAX);
    write_json(&path, &bad);
    match trainer.resume(&path, &x) {
        Err(Error::InvalidData(what)) => assert!(what.contains("batch"), "{what}"),
        other => panic!("expected an invalid-data error, got {other:?}"),
    }
}

/// The validation rows of a one-row (or empty) training set are defined:
/// none, since they never take every row.
#[test]
fn validation_rows_of_one_row_are_none() {
    use tiedae::study::Protocol;
    assert_eq!(Protocol::default().validation_rows(1), 0);
    assert_eq!(Protocol::default().validation_rows(0), 0);
    assert_eq!(Protocol::default().validation_rows(2), 1);
}

/// Two different studies with one name racing into one new directory:
/// exactly one runs, the other is refused naming the directory's study,
/// and the directory holds the winner's record, study copy and results.
#[test]
fn two_studies_racing_into_one_directory_cannot_both_run() {
    let dir = tempfile::tempdir().unwrap();
    let one = PCA
        .replace("name = \"hostile\"", "name = \"same\"")
        .replace("latents = [2, 4]", "latents = [2]");
    let two = PCA.replace("name = \"hostile\"", "name = \"same\"");
    std::fs::write(dir.path().join("one.toml"), one).unwrap();
    std::fs::write(dir.path().join("two.toml"), two).unwrap();
    for round in 0..3 {
        let name = format!("race{round}");
        let children = [
            spawn_study(&["run", "one.toml", "--out", name.as_str()], dir.path()),
            spawn_study(&["run", "two.toml", "--out", name.as_str()], dir.path()),
        ];
        let outputs: Vec<Output> = children
            .into_iter()
            .map(|c| c.wait_with_output().unwrap())
            .collect();
        let won: Vec<usize> = (0..2).filter(|&i| outputs[i].status.success()).collect();
        assert_eq!(
            won.len(),
            1,
            "round {round}: {} ran:\n{}\n{}",
            won.len(),
            text(&outputs[0].stderr),
            text(&outputs[1].stderr)
        );
        let (winner, loser) = (won[0], 1 - won[0]);
        let line = error_line(&outputs[loser], "the second run");
        assert!(line.contains("holds a run of another study"), "{line}");
        let out = dir.path().join(name);
        let record = read_json(&out.join("run.json"));
        let manifest = read_json(&out.join("same.manifest.json"));
        assert_eq!(record["study_id"], manifest["study_id"]);
        let cells = manifest["cells"].as_array().unwrap().len();
        assert_eq!(cells, winner + 1, "round {round}: the winner's cells");
        let (_, copy) = tiedae::study::read_study_file(&out.join("study.toml")).unwrap();
        assert_eq!(copy.latents.len(), winner + 1, "the winner's study copy");
    }
}
