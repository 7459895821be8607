//! Executes every code cell of every notebook in `notebooks/` with evcxr, the
//! engine of the evcxr Jupyter kernel, and fails on any compile or runtime
//! error, naming the notebook, the cell and the error.
//!
//! It also runs the deliberately broken notebooks in
//! `tests/fixtures/notebooks/` and fails unless each one fails at the cell
//! and with the message its metadata (`tiedae_expected_failure`) names: a
//! runner that cannot see errors would pass everything.
//!
//! - Default: check only. Each notebook's committed outputs must have the
//!   same shape (output kinds and MIME types per cell) as this run's, so a
//!   notebook committed without outputs, or with outputs from an older
//!   version of its cells, is caught. Values are not compared: they are
//!   printed to 4 significant digits and are deterministic per machine, but
//!   a committed notebook must not make CI depend on the CPU's SIMD width.
//! - `TIEDAE_UPDATE_NOTEBOOKS=1`: writes this run's outputs back into the
//!   notebooks (atomically), the way they are committed.
//! - Arguments that do not start with `-` select notebooks whose file name
//!   contains one of them (`cargo test --release --test notebooks -- 01`).
//!
//! evcxr compiles each cell as a small crate that depends on tiedae. It does
//! so in its own cargo target directory and profile (`-C prefer-dynamic`,
//! `--target <host>`, a `dev` profile at opt-level 2), so nothing compiled for
//! `cargo test --release` can be reused: the compiler flags differ, and
//! with them every artifact hash. What can be kept is evcxr's own build
//! directory: it lives in `<cargo target dir>/notebooks-evcxr/` (or
//! `TIEDAE_NOTEBOOK_BUILD_DIR`), so a rerun on the same machine only
//! recompiles the cells, while a fresh machine builds tiedae's dependency
//! tree once more. Its `Cargo.lock` is seeded from the crate's, so notebooks
//! build exactly the dependency versions the tests use.
//!
//! This binary is also evcxr's evaluation process (`runtime_hook`, called
//! first in `main`), and, in between, a small proxy (see [`proxy`]) that
//! turns evcxr's internal "a `?` returned an error" and "the cell panicked"
//! signals into lines the runner can see: evcxr itself reports both as
//! successful evaluations with text on stderr.

use evcxr::{CommandContext, EvalContext};
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Set to `1` to write outputs back into the notebooks.
const UPDATE_ENV: &str = "TIEDAE_UPDATE_NOTEBOOKS";
/// Overrides where evcxr builds (default `<target dir>/notebooks-evcxr`).
const BUILD_DIR_ENV: &str = "TIEDAE_NOTEBOOK_BUILD_DIR";
/// Set to `1` to build the notebooks' dependencies with evcxr's own profile
/// (everything at opt-level 2) instead of [`DEPENDENCY_PROFILE`].
const EVCXR_PROFILE_ENV: &str = "TIEDAE_NOTEBOOK_EVCXR_PROFILE";
/// Cargo configuration for the notebook build, written to
/// `<build dir>/.cargo/config.toml` (cargo reads it from the parent of
/// evcxr's crate directory; evcxr writes its own file one level deeper).
///
/// The dependency tree is what a fresh machine spends its time on, and most
/// of it (polars above all) only moves small result tables in a notebook, so
/// it is compiled without optimisation. The crates whose speed a notebook
/// feels keep evcxr's opt-level 2: tiedae itself, where the training kernels
/// live (generic code used by a cell is compiled in the cell at evcxr's
/// level anyway), and matrixmultiply and private-gemm-x86, whose gemm
/// routines are not generic.
/// Optimisation changes no result: Rust does not reassociate floats.
const DEPENDENCY_PROFILE: &str = "\
# Written by tests/notebooks.rs: dependencies of the notebook build compile
# without optimisation, except the numeric kernels.
[profile.dev.package.\"*\"]
opt-level = 0
debug-assertions = false

[profile.dev.package.tiedae]
opt-level = 2

[profile.dev.package.matrixmultiply]
opt-level = 2

[profile.dev.package.private-gemm-x86]
opt-level = 2
";
/// Marks the proxy process between evcxr and its evaluation process.
const PROXY_ENV: &str = "TIEDAE_NOTEBOOK_PROXY";
/// Set by evcxr on its evaluation process.
const EVCXR_RUNTIME_ENV: &str = "EVCXR_IS_RUNTIME";
/// Line the proxy adds after evcxr's failure signals; evcxr forwards it to
/// the runner as ordinary stdout.
const FAILURE_MARKER: &str = "TIEDAE_NOTEBOOK_CELL_FAILED";
/// Notebook metadata key of a fixture that must fail.
const EXPECTED_FAILURE_KEY: &str = "tiedae_expected_failure";

fn main() {
    if std::env::var_os(PROXY_ENV).is_some() && std::env::var_os(EVCXR_RUNTIME_ENV).is_some() {
        proxy::run();
    }
    evcxr::runtime_hook();
    let started = Instant::now();
    let code = match run() {
        Ok(summary) => {
            eprintln!(
                "notebooks: {summary} ({:.1} s in total)",
                started.elapsed().as_secs_f64()
            );
            0
        }
        Err(failures) => {
            eprintln!("\nnotebook test FAILED:\n\n{failures}");
            1
        }
    };
    std::process::exit(code);
}

/// Sits between evcxr and its evaluation process (this binary again, run
/// with evcxr's `EVCXR_IS_RUNTIME`).
///
/// evcxr wraps a cell's code so that an error returned by `?` prints the
/// error to stderr and the line `EVCXR_ERROR_OCCURRED` to stdout, and a
/// panic prints `EVCXR_PANIC_NOTIFICATION`; evcxr consumes both lines and
/// returns the evaluation as a success (a notebook user sees the message and
/// goes on). The proxy copies the evaluation process's stdout line by line
/// and adds [`FAILURE_MARKER`] after either signal; evcxr passes unknown
/// lines on as the cell's stdout, where the runner finds it. stdin and
/// stderr are inherited, so everything else is unchanged.
mod proxy {
    use super::{FAILURE_MARKER, PROXY_ENV};
    use std::io::{BufRead, BufReader, Write};
    use std::process::{Command, Stdio};

    const SIGNALS: [(&[u8], &str); 2] = [
        (b"EVCXR_ERROR_OCCURRED", "an error was returned with `?`"),
        (b"EVCXR_PANIC_NOTIFICATION", "the cell panicked"),
    ];

    pub fn run() -> ! {
        let status = match forward() {
            Ok(code) => code,
            Err(e) => {
                eprintln!("notebook proxy: {e}");
                101
            }
        };
        std::process::exit(status);
    }

    fn forward() -> std::io::Result<i32> {
        let exe = std::env::current_exe()?;
        let mut child = Command::new(exe)
            .args(std::env::args_os().skip(1))
            .env_remove(PROXY_ENV)
            .stdin(Stdio::inherit())
            .stderr(Stdio::inherit())
            .stdout(Stdio::piped())
            .spawn()?;
        let pipe = child
            .stdout
            .take()
            .ok_or_else(|| std::io::Error::other("no stdout pipe"))?;
        let mut reader = BufReader::new(pipe);
        let stdout = std::io::stdout();
        let mut out = stdout.lock();
        let mut line = Vec::new();
        loop {
            line.clear();
            if reader.read_until(b'\n', &mut line)? == 0 {
                break;
            }
            out.write_all(&line)?;
            let bare = line.strip_suffix(b"\n").unwrap_or(&line);
            if let Some((_, what)) = SIGNALS.iter().find(|(signal, _)| *signal == bare) {
                writeln!(out, "{FAILURE_MARKER} {what}")?;
            }
            // evcxr waits for each line before sending the next command.
            out.flush()?;
        }
        Ok(child.wait()?.code().unwrap_or(101))
    }
}

/// Where things are.
struct Paths {
    root: PathBuf,
    build: PathBuf,
}

fn paths() -> Result<Paths, String> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let build = match std::env::var_os(BUILD_DIR_ENV) {
        Some(dir) => PathBuf::from(dir),
        None => {
            // <target>/<profile>/deps/notebooks-<hash>
            let exe = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
            let target = exe
                .ancestors()
                .nth(3)
                .ok_or_else(|| format!("cannot find the target dir above {}", exe.display()))?;
            target.join("notebooks-evcxr")
        }
    };
    Ok(Paths { root, build })
}

fn run() -> Result<String, String> {
    let paths = paths()?;
    let evcxr_tmp = paths.build.join("build");
    let evcxr_config = paths.build.join("config");
    for dir in [&evcxr_tmp, &evcxr_config] {
        std::fs::create_dir_all(dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    }
    // SAFETY: no other thread exists yet. evcxr reads these from the
    // environment: its build directory (kept between runs) and its config
    // directory (empty, so a user's evcxr.toml or prelude cannot change what
    // the notebooks do here).
    unsafe {
        std::env::set_var("EVCXR_TMPDIR", &evcxr_tmp);
        std::env::set_var("EVCXR_CONFIG_DIR", &evcxr_config);
    }
    write_dependency_profile(&paths.build)?;
    let lockfile = paths.root.join("Cargo.lock");
    let update = std::env::var(UPDATE_ENV).is_ok_and(|v| v == "1");
    let filters: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let selected = |p: &Path| {
        let name = p.file_name().map(|n| n.to_string_lossy().to_string());
        filters.is_empty()
            || filters
                .iter()
                .any(|f| name.as_deref().unwrap_or("").contains(f))
    };
    let notebooks: Vec<PathBuf> = list_notebooks(&paths.root.join("notebooks"))?
        .into_iter()
        .filter(|p| selected(p))
        .collect();
    let fixtures: Vec<PathBuf> = list_notebooks(&paths.root.join("tests/fixtures/notebooks"))?
        .into_iter()
        .filter(|p| selected(p))
        .collect();
    if notebooks.is_empty() && fixtures.is_empty() {
        return Err(format!("no notebook matches the filters {filters:?}"));
    }
    let mut failures = Vec::new();
    for path in notebooks.iter().chain(&fixtures) {
        let name = display_name(&paths.root, path);
        if let Err(problem) = check_cell_ids(&read_notebook(path)?) {
            failures.push(format!("{name}: {problem}"));
        }
    }
    failures.extend(validate_with_nbformat(
        &paths.root,
        notebooks.iter().chain(&fixtures),
    )?);
    check_schema_checks_can_fail(&paths.root, &evcxr_tmp)?;
    let mut report = Vec::new();
    for path in &notebooks {
        let name = display_name(&paths.root, path);
        let mut notebook = read_notebook(path)?;
        let outcome = execute(&mut notebook, path, &evcxr_tmp, &lockfile);
        report.push(outcome.timing_line(&name));
        if let Some(failure) = &outcome.failure {
            failures.push(format!("{name}: {failure}"));
            continue;
        }
        if update {
            write_outputs(path, &mut notebook, &outcome)?;
        } else if let Err(stale) = check_committed_outputs(&notebook, &outcome) {
            failures.push(format!(
                "{name}: {stale}\n  (rerun with {UPDATE_ENV}=1 and commit the notebook)"
            ));
        }
    }
    for path in &fixtures {
        let name = display_name(&paths.root, path);
        let mut notebook = read_notebook(path)?;
        let expected = expected_failure(&notebook)
            .map_err(|e| format!("{name}: fixture metadata {EXPECTED_FAILURE_KEY}: {e}"))?;
        let outcome = execute(&mut notebook, path, &evcxr_tmp, &lockfile);
        report.push(outcome.timing_line(&name));
        match &outcome.failure {
            None => failures.push(format!(
                "{name}: the deliberately broken notebook ran without an error; \
                 the runner does not detect failures"
            )),
            Some(failure) => {
                let matches = failure.cell == expected.cell
                    && expected
                        .contains
                        .iter()
                        .all(|t| failure.message.contains(t));
                if !matches {
                    failures.push(format!(
                        "{name}: expected a failure in cell {} containing {:?}, got: {failure}",
                        expected.cell, expected.contains
                    ));
                } else {
                    eprintln!("{name}: fails as it should (cell {})", failure.cell);
                }
            }
        }
    }
    for line in &report {
        eprintln!("{line}");
    }
    if failures.is_empty() {
        Ok(format!(
            "{} notebooks and {} broken fixtures behaved",
            notebooks.len(),
            fixtures.len()
        ))
    } else {
        Err(failures.join("\n\n"))
    }
}

/// Writes (or, with [`EVCXR_PROFILE_ENV`], removes) [`DEPENDENCY_PROFILE`].
fn write_dependency_profile(build: &Path) -> Result<(), String> {
    let dir = build.join(".cargo");
    let path = dir.join("config.toml");
    if std::env::var(EVCXR_PROFILE_ENV).is_ok_and(|v| v == "1") {
        return match std::fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(format!("removing {}: {e}", path.display()))
            }
            _ => Ok(()),
        };
    }
    if std::fs::read_to_string(&path).is_ok_and(|s| s == DEPENDENCY_PROFILE) {
        return Ok(());
    }
    std::fs::create_dir_all(&dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    tiedae::atomic::write_bytes_atomic(&path, DEPENDENCY_PROFILE.as_bytes())
        .map_err(|e| format!("writing {}: {e}", path.display()))
}

fn list_notebooks(dir: &Path) -> Result<Vec<PathBuf>, String> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(vec![]),
        Err(e) => return Err(format!("reading {}: {e}", dir.display())),
    };
    let mut found = Vec::new();
    for entry in entries {
        let path = entry
            .map_err(|e| format!("reading {}: {e}", dir.display()))?
            .path();
        if path.extension().is_some_and(|e| e == "ipynb") {
            found.push(path);
        }
    }
    found.sort();
    Ok(found)
}

fn display_name(root: &Path, path: &Path) -> String {
    path.strip_prefix(root)
        .unwrap_or(path)
        .display()
        .to_string()
}

fn read_notebook(path: &Path) -> Result<Value, String> {
    let text =
        std::fs::read_to_string(path).map_err(|e| format!("reading {}: {e}", path.display()))?;
    let notebook: Value = serde_json::from_str(&text)
        .map_err(|e| format!("{} is not valid notebook JSON: {e}", path.display()))?;
    if !notebook["cells"].is_array() {
        return Err(format!("{} has no \"cells\" array", path.display()));
    }
    Ok(notebook)
}

/// The cell ids nbformat 4.5 requires: every cell has one, 1 to 64
/// characters of `[A-Za-z0-9_-]`, unique in its notebook. nbformat warns on
/// a missing id today and says it will refuse one, and Jupyter fills ids in
/// on save, so a notebook committed without them changes when opened.
fn check_cell_ids(notebook: &Value) -> Result<(), String> {
    let minor = notebook["nbformat_minor"].as_u64().unwrap_or(0);
    if notebook["nbformat"] != 4 || minor < 5 {
        return Err(format!(
            "nbformat {}.{minor}: cell ids need 4.5 or later",
            notebook["nbformat"]
        ));
    }
    let mut seen = std::collections::HashSet::new();
    for (i, cell) in notebook["cells"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
    {
        let Some(id) = cell["id"].as_str() else {
            return Err(format!(
                "cell {i} has no \"id\" (nbformat 4.5 requires one)"
            ));
        };
        let valid = (1..=64).contains(&id.len())
            && id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !valid {
            return Err(format!(
                "cell {i} has the id {id:?}: nbformat wants 1 to 64 of [A-Za-z0-9_-]"
            ));
        }
        if !seen.insert(id) {
            return Err(format!("cell {i} repeats the id {id:?}"));
        }
    }
    Ok(())
}

/// Set to `1` (CI does) to fail when python3 cannot import nbformat.
const REQUIRE_NBFORMAT_ENV: &str = "TIEDAE_REQUIRE_NBFORMAT";

fn nbformat_importable() -> bool {
    Command::new("python3")
        .args(["-c", "import nbformat"])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Validates the files against nbformat's own schema with
/// `scripts/validate_notebooks.py`, an independent reader of the format: the
/// checks above are this runner's reading of the schema, the script is
/// Jupyter's. Returns one failure line per problem; skipped (with a line on
/// stderr) where python3 has no nbformat, unless [`REQUIRE_NBFORMAT_ENV`].
fn validate_with_nbformat<'a>(
    root: &Path,
    files: impl Iterator<Item = &'a PathBuf>,
) -> Result<Vec<String>, String> {
    let files: Vec<&PathBuf> = files.collect();
    if !nbformat_importable() {
        if std::env::var(REQUIRE_NBFORMAT_ENV).is_ok_and(|v| v == "1") {
            return Err(format!(
                "{REQUIRE_NBFORMAT_ENV}=1 but python3 cannot import nbformat"
            ));
        }
        eprintln!("nbformat schema check skipped: python3 cannot import nbformat");
        return Ok(vec![]);
    }
    let output = Command::new("python3")
        .arg(root.join("scripts/validate_notebooks.py"))
        .args(&files)
        .output()
        .map_err(|e| format!("running scripts/validate_notebooks.py: {e}"))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    match output.status.code() {
        Some(0) => {
            eprint!("{stdout}");
            Ok(vec![])
        }
        Some(1) => Ok(stdout.lines().map(str::to_string).collect()),
        _ => Err(format!(
            "scripts/validate_notebooks.py failed: {}{}",
            stdout,
            String::from_utf8_lossy(&output.stderr)
        )),
    }
}

/// Negative control: a notebook whose second cell has no id must be refused
/// by both checks, or they could pass anything.
fn check_schema_checks_can_fail(root: &Path, scratch: &Path) -> Result<(), String> {
    let cell = |id: Option<&str>| {
        let mut cell = json!({"cell_type": "markdown", "metadata": {}, "source": ["x"]});
        if let Some(id) = id {
            cell["id"] = json!(id);
        }
        cell
    };
    let notebook = json!({
        "cells": [cell(Some("c00")), cell(None)],
        "metadata": {},
        "nbformat": 4,
        "nbformat_minor": 5
    });
    if check_cell_ids(&notebook).is_ok() {
        return Err("the cell-id check accepted a cell without an id".into());
    }
    let path = scratch.join("missing-id.ipynb");
    std::fs::write(&path, notebook.to_string())
        .map_err(|e| format!("writing {}: {e}", path.display()))?;
    let found = validate_with_nbformat(root, std::iter::once(&path))?;
    let _ = std::fs::remove_file(&path);
    if found.is_empty() && nbformat_importable() {
        return Err("scripts/validate_notebooks.py accepted a cell without an id".into());
    }
    Ok(())
}

/// A cell's source: a string or a list of lines, as nbformat allows.
fn cell_source(cell: &Value) -> String {
    match &cell["source"] {
        Value::String(s) => s.clone(),
        Value::Array(lines) => lines.iter().filter_map(Value::as_str).collect(),
        _ => String::new(),
    }
}

/// Where and why a notebook stopped.
struct Failure {
    /// Index in the notebook's `cells` array (0-based, markdown included).
    cell: usize,
    message: String,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "cell {} failed:\n{}", self.cell, self.message)
    }
}

/// What running one notebook produced.
struct Outcome {
    /// (cell index, nbformat outputs, seconds) of every executed code cell.
    cells: Vec<(usize, Vec<Value>, f64)>,
    failure: Option<Failure>,
    /// Starting evcxr (its evaluation process and first tiny build).
    startup: f64,
}

impl Outcome {
    fn timing_line(&self, name: &str) -> String {
        let total: f64 = self.startup + self.cells.iter().map(|c| c.2).sum::<f64>();
        let per_cell: Vec<String> = self
            .cells
            .iter()
            .map(|(i, _, s)| format!("{i}:{s:.1}"))
            .collect();
        format!(
            "  {name}: {total:.1} s (start {:.1} s; cell:s {})",
            self.startup,
            per_cell.join(" ")
        )
    }
}

/// Collects what evcxr forwards from the evaluation process.
///
/// evcxr blocks at the end of each evaluation until its stdout channel has
/// been emptied, so the channels must be drained while a cell runs.
#[derive(Clone, Default)]
struct Streams {
    stdout: Arc<Mutex<Vec<String>>>,
    stderr: Arc<Mutex<Vec<String>>>,
}

impl Streams {
    fn drain(outputs: evcxr::EvalContextOutputs) -> Streams {
        let streams = Streams::default();
        for (receiver, sink) in [
            (outputs.stdout, streams.stdout.clone()),
            (outputs.stderr, streams.stderr.clone()),
        ] {
            std::thread::spawn(move || {
                for line in receiver.iter() {
                    if let Ok(mut lines) = sink.lock() {
                        lines.push(line);
                    }
                }
            });
        }
        streams
    }

    /// Lines received since the last call. stderr travels through its own
    /// thread in evcxr with no end-of-cell signal, so give it a moment.
    fn take(&self) -> (Vec<String>, Vec<String>) {
        std::thread::sleep(Duration::from_millis(150));
        let take = |m: &Arc<Mutex<Vec<String>>>| {
            m.lock()
                .map(|mut lines| std::mem::take(&mut *lines))
                .unwrap_or_default()
        };
        (take(&self.stdout), take(&self.stderr))
    }
}

/// Runs every code cell of `notebook` in a fresh evcxr context (as a fresh
/// Jupyter kernel would), in the notebook's directory (as Jupyter does), and
/// stops at the first failing cell: later cells depend on earlier ones.
fn execute(notebook: &mut Value, path: &Path, evcxr_tmp: &Path, lockfile: &Path) -> Outcome {
    let mut outcome = Outcome {
        cells: vec![],
        failure: None,
        startup: 0.0,
    };
    let fail = |cell: usize, message: String| Some(Failure { cell, message });
    let dir = path.parent().unwrap_or(Path::new("."));
    if let Err(e) = std::env::set_current_dir(dir) {
        outcome.failure = fail(0, format!("cannot enter {}: {e}", dir.display()));
        return outcome;
    }
    let started = Instant::now();
    let (mut ctx, streams) = match start_context() {
        Ok(started) => started,
        Err(e) => {
            outcome.failure = fail(0, format!("evcxr did not start: {e}"));
            return outcome;
        }
    };
    // evcxr's first build wrote a lock file for a crate without
    // dependencies; replace it with the crate's own so the notebook build
    // resolves to exactly the versions the tests were built with.
    if let Err(e) = std::fs::copy(lockfile, evcxr_tmp.join("Cargo.lock")) {
        outcome.failure = fail(0, format!("seeding evcxr's Cargo.lock: {e}"));
        return outcome;
    }
    streams.take();
    outcome.startup = started.elapsed().as_secs_f64();
    let cells = notebook["cells"].as_array().cloned().unwrap_or_default();
    for (index, cell) in cells.iter().enumerate() {
        if cell["cell_type"] != "code" {
            continue;
        }
        let source = cell_source(cell);
        if source.trim().is_empty() {
            continue;
        }
        let started = Instant::now();
        let result = ctx.execute(&source);
        let (stdout, stderr) = streams.take();
        let seconds = started.elapsed().as_secs_f64();
        let (markers, stdout): (Vec<String>, Vec<String>) = stdout
            .into_iter()
            .partition(|l| l.starts_with(FAILURE_MARKER));
        let mut outputs = Vec::new();
        push_stream(&mut outputs, "stdout", &stdout);
        push_stream(&mut outputs, "stderr", &stderr);
        let error = match result {
            Ok(eval) if markers.is_empty() && shown_as_debug(&eval) => Some(
                "the cell's value is a chart but was shown as Debug text: evcxr falls back to \
                 `{:?}` when `.evcxr_display()` does not compile, typically because the final \
                 expression moves a variable the cell defines (pass a clone instead)"
                    .to_string(),
            ),
            Ok(eval)
                if markers.is_empty()
                    && !eval.content_by_mime_type.is_empty()
                    && !eval.content_by_mime_type.contains_key("text/plain") =>
            {
                Some(format!(
                    "the cell's output ({}) has no text/plain fallback: nbconvert to text, \
                     GitHub's viewer and pagers would show nothing",
                    eval.content_by_mime_type
                        .keys()
                        .cloned()
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
            }
            Ok(eval) if markers.is_empty() => {
                if !eval.content_by_mime_type.is_empty() {
                    let data: BTreeMap<String, Value> = eval
                        .content_by_mime_type
                        .iter()
                        .map(|(mime, body)| (mime.clone(), multiline(body)))
                        .collect();
                    outputs.push(json!({
                        "output_type": "execute_result",
                        "execution_count": Value::Null,
                        "data": data,
                        "metadata": {},
                    }));
                }
                None
            }
            Ok(_) => Some(
                markers
                    .iter()
                    .map(|m| m.trim_start_matches(FAILURE_MARKER).trim().to_string())
                    .collect::<Vec<_>>()
                    .join("; "),
            ),
            Err(evcxr::Error::CompilationErrors(errors)) => {
                Some(describe_compilation_errors(&errors, &source))
            }
            Err(e) => Some(format!("evcxr: {e}")),
        };
        outcome.cells.push((index, outputs, seconds));
        if let Some(error) = error {
            let mut message = error;
            if !stderr.is_empty() {
                message.push_str("\n--- stderr ---\n");
                message.push_str(&stderr.join("\n"));
            }
            message.push_str("\n--- cell source ---\n");
            message.push_str(source.trim_end());
            outcome.failure = fail(index, message);
            break;
        }
    }
    outcome
}

/// Whether a value with rich display came out as evcxr's Debug fallback.
fn shown_as_debug(eval: &evcxr::EvalOutputs) -> bool {
    eval.content_by_mime_type.len() == 1
        && eval
            .get("text/plain")
            .is_some_and(|text| text.starts_with("Svg(\"<svg"))
}

/// A fresh evcxr context whose evaluation process runs behind [`proxy`].
fn start_context() -> Result<(CommandContext, Streams), String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let mut child = Command::new(exe);
    child.env(PROXY_ENV, "1");
    let (eval, outputs) = EvalContext::with_subprocess_command(child).map_err(|e| e.to_string())?;
    let streams = Streams::drain(outputs);
    Ok((CommandContext::with_eval_context(eval), streams))
}

fn describe_compilation_errors(errors: &[evcxr::CompilationError], source: &str) -> String {
    let lines: Vec<&str> = source.lines().collect();
    let mut out = Vec::new();
    for error in errors {
        let code = error.code().map(|c| format!("[{c}]")).unwrap_or_default();
        out.push(format!("{}{code}: {}", error.level(), error.message()));
        for spanned in error.spanned_messages() {
            if let Some(span) = spanned.span {
                let text = lines.get(span.start_line.wrapping_sub(1)).unwrap_or(&"");
                out.push(format!(
                    "  --> cell line {}:{}: {}\n      {}",
                    span.start_line,
                    span.start_column,
                    spanned.label,
                    text.trim()
                ));
            }
        }
        for help in error.help() {
            out.push(format!("  help: {help}"));
        }
    }
    if out.is_empty() {
        "compilation failed (evcxr gave no message)".into()
    } else {
        out.join("\n")
    }
}

/// Text in nbformat's list-of-lines form (each line keeps its newline).
fn multiline(text: &str) -> Value {
    let mut lines = Vec::new();
    let mut rest = text;
    while let Some(end) = rest.find('\n') {
        lines.push(Value::String(rest[..=end].to_string()));
        rest = &rest[end + 1..];
    }
    if !rest.is_empty() {
        lines.push(Value::String(rest.to_string()));
    }
    Value::Array(lines)
}

fn push_stream(outputs: &mut Vec<Value>, name: &str, lines: &[String]) {
    if lines.is_empty() {
        return;
    }
    let mut text = lines.join("\n");
    text.push('\n');
    outputs.push(json!({"output_type": "stream", "name": name, "text": multiline(&text)}));
}

/// The shape of a cell's outputs: kinds, stream names and MIME types.
fn shape(outputs: &[Value]) -> Vec<String> {
    outputs
        .iter()
        .map(|o| {
            let kind = o["output_type"].as_str().unwrap_or("?").to_string();
            match kind.as_str() {
                "stream" => format!("stream:{}", o["name"].as_str().unwrap_or("?")),
                _ => {
                    let mimes: Vec<&String> = o["data"]
                        .as_object()
                        .map(|d| d.keys().collect())
                        .unwrap_or_default();
                    format!(
                        "{kind}:{}",
                        mimes
                            .iter()
                            .map(|s| s.as_str())
                            .collect::<Vec<_>>()
                            .join("+")
                    )
                }
            }
        })
        .collect()
}

fn check_committed_outputs(notebook: &Value, outcome: &Outcome) -> Result<(), String> {
    let cells = notebook["cells"].as_array().cloned().unwrap_or_default();
    for (index, outputs, _) in &outcome.cells {
        let committed = cells[*index]["outputs"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let (want, have) = (shape(outputs), shape(&committed));
        if want != have {
            return Err(format!(
                "cell {index}: committed outputs {have:?} differ from this run's {want:?}"
            ));
        }
    }
    Ok(())
}

/// Writes this run's outputs into the notebook file, atomically, in the
/// layout Jupyter itself saves (sorted keys, one-space indent).
fn write_outputs(path: &Path, notebook: &mut Value, outcome: &Outcome) -> Result<(), String> {
    let cells = notebook["cells"]
        .as_array_mut()
        .ok_or_else(|| format!("{}: no cells", path.display()))?;
    let mut count = 0;
    for cell in cells.iter_mut() {
        if cell["cell_type"] == "code" {
            cell["outputs"] = json!([]);
            cell["execution_count"] = Value::Null;
        }
    }
    for (index, outputs, _) in &outcome.cells {
        count += 1;
        let mut outputs = outputs.clone();
        for o in &mut outputs {
            if o["output_type"] == "execute_result" {
                o["execution_count"] = json!(count);
            }
        }
        cells[*index]["outputs"] = Value::Array(outputs);
        cells[*index]["execution_count"] = json!(count);
    }
    let mut text = Vec::new();
    let formatter = serde_json::ser::PrettyFormatter::with_indent(b" ");
    let mut serializer = serde_json::Serializer::with_formatter(&mut text, formatter);
    serde::Serialize::serialize(&*notebook, &mut serializer)
        .map_err(|e| format!("serializing {}: {e}", path.display()))?;
    text.push(b'\n');
    // The atomic writer creates a fresh file; keep the notebook's mode.
    let permissions = std::fs::metadata(path).map(|m| m.permissions());
    tiedae::atomic::write_bytes_atomic(path, &text)
        .map_err(|e| format!("writing {}: {e}", path.display()))?;
    if let Ok(permissions) = permissions {
        std::fs::set_permissions(path, permissions)
            .map_err(|e| format!("restoring the mode of {}: {e}", path.display()))?;
    }
    eprintln!("updated {}", path.display());
    Ok(())
}

/// What a broken fixture must fail with.
struct ExpectedFailure {
    cell: usize,
    /// Texts the failure message must all contain.
    contains: Vec<String>,
}

fn expected_failure(notebook: &Value) -> Result<ExpectedFailure, String> {
    let meta: &Map<String, Value> = notebook["metadata"][EXPECTED_FAILURE_KEY]
        .as_object()
        .ok_or("missing (an object with \"cell\" and \"contains\")")?;
    let cell = meta
        .get("cell")
        .and_then(Value::as_u64)
        .ok_or("\"cell\" must be a cell index")? as usize;
    let contains = match meta.get("contains") {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(items)) if !items.is_empty() => items
            .iter()
            .map(|v| v.as_str().map(str::to_string))
            .collect::<Option<Vec<_>>>()
            .ok_or("\"contains\" must hold strings")?,
        _ => return Err("\"contains\" must be a string or a list of strings".into()),
    };
    Ok(ExpectedFailure { cell, contains })
}
