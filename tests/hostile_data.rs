//! Hostile data files, fed to the library's readers and to the built
//! binaries: an IDX header with zero rows and huge dimensions, a gzip IDX
//! file whose header claims more than any study needs, devices, FIFOs and
//! directories where a data, labels, model or results file belongs (and
//! where a report's summary does: it is skipped, the report still listed),
//! values beyond `f32`'s range, overflowing scaler columns and model
//! shapes, and a CSV read that must not allocate per cell. Each is refused
//! with one error naming the file (and the field, row or column), an exit
//! status below 101 (no panic, no signal), in bounded time and memory, and
//! nothing trained or cached.

use nalgebra::DMatrix;
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};
use tiedae::Error;
use tiedae::app::studies::check_f32_data;
use tiedae::data::idx::{IdxArray, IdxType, MAX_GZIP_VALUES, dataset_from_arrays};
use tiedae::data::{Dataset, LoadOptions, Scaler, csv};
use tiedae::model::{Autoencoder, AutoencoderSpec};
use tiedae::report::{PAGE_FILE, read_provenance, write_index};
use tiedae::study::{ModelKind, Precision, Study};
use tiedae::train::TrainConfig;

// ------------------------------------------------------------ allocations

/// Counts the allocations of each thread, so a test can measure what one
/// call allocates while other tests run on other threads.
struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

fn count_one() {
    let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
}

// SAFETY: every call is passed on to the system allocator unchanged.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count_one();
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count_one();
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count_one();
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Allocations made on this thread by `f`.
fn allocations<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let before = ALLOCATIONS.with(Cell::get);
    let out = f();
    (out, ALLOCATIONS.with(Cell::get) - before)
}

// ---------------------------------------------------------------- helpers

/// A binary run longer than this hangs: every case here is refused while
/// its input is read, before any work.
const TIME_LIMIT: Duration = Duration::from_secs(60);

/// The address space a binary run may use (KiB for `ulimit -v`): a read
/// that never ends fails on memory instead of exhausting the machine.
const MEMORY_KIB: u64 = 4 << 20;

/// Job-array variables, removed so a test run inside a SLURM job does not
/// pick a shard from its job.
const SLURM_VARS: [&str; 5] = [
    "SLURM_ARRAY_TASK_ID",
    "SLURM_ARRAY_TASK_MIN",
    "SLURM_ARRAY_TASK_COUNT",
    "SLURM_ARRAY_TASK_STEP",
    "SLURM_CPUS_PER_TASK",
];

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn arg(p: &Path) -> &str {
    p.to_str().expect("temporary paths are UTF-8")
}

/// Runs `bin args` under [`MEMORY_KIB`], killed after [`TIME_LIMIT`], so a
/// hang or an unbounded read fails the test instead of stalling it.
fn run(bin: &str, args: &[&str]) -> Output {
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg(format!("ulimit -v {MEMORY_KIB} && exec \"$0\" \"$@\""))
        .arg(bin)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for v in SLURM_VARS {
        cmd.env_remove(v);
    }
    let mut child = cmd.spawn().expect("sh starts");
    let start = Instant::now();
    while child
        .try_wait()
        .expect("the child can be waited for")
        .is_none()
    {
        if start.elapsed() > TIME_LIMIT {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{bin} {args:?} still runs after {TIME_LIMIT:?}: it hangs");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().expect("the child's output")
}

fn study(args: &[&str]) -> Output {
    run(env!("CARGO_BIN_EXE_study"), args)
}

fn report(args: &[&str]) -> Output {
    run(env!("CARGO_BIN_EXE_report"), args)
}

/// Checks a failed run: an exit status from 1 to 100 (not a panic's 101,
/// not a signal), no panic message, and one error line, the last on
/// stderr. Returns that line.
fn one_line_error(out: &Output, what: &str) -> String {
    let stderr = text(&out.stderr);
    let code = out.status.code();
    assert!(
        matches!(code, Some(1..=100)),
        "{what}: exit {:?}, expected an error status below 101:\n{stderr}",
        out.status
    );
    assert!(!stderr.contains("panicked"), "{what}: {stderr}");
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    let errors = lines.iter().filter(|l| l.starts_with("error")).count();
    assert_eq!(errors, 1, "{what}: {stderr}");
    let last = lines.last().copied().unwrap_or_default();
    assert!(last.starts_with("error: "), "{what}: {stderr}");
    last.to_string()
}

/// Every file below `dir` (none when it does not exist).
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files = Vec::new();
    for e in entries {
        let path = e.unwrap().path();
        if path.is_dir() {
            files.extend(files_under(&path));
        } else {
            files.push(path);
        }
    }
    files
}

fn write_file(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

fn idx_header(kind: u8, dims: &[u32]) -> Vec<u8> {
    let mut v = vec![0, 0, kind, dims.len() as u8];
    for d in dims {
        v.extend_from_slice(&d.to_be_bytes());
    }
    v
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

/// A valid 3-image IDX file (u8, 3 x 1 x 2).
fn images(dir: &Path) -> PathBuf {
    let mut img = idx_header(0x08, &[3, 1, 2]);
    img.extend_from_slice(&[1, 2, 3, 4, 5, 6]);
    write_file(dir, "images.idx", &img)
}

/// A study file of one PCA cell on `dataset` (a TOML table body).
fn study_file(dir: &Path, dataset: &str) -> PathBuf {
    let body = format!(
        "name = \"hostile\"\nmodels = [\"pca\"]\nlatents = [1]\nseeds = [0]\n\n[[datasets]]\n{dataset}\n"
    );
    write_file(dir, "hostile.toml", body.as_bytes())
}

/// The location and reason of a [`Error::Format`] naming `path`.
fn format_error(e: Error, path: &Path) -> (String, String) {
    match e {
        Error::Format {
            path: p,
            location,
            reason,
        } => {
            assert_eq!(p, path, "the error names the wrong file");
            (location, reason)
        }
        other => panic!(
            "expected a format error for {}, got {other:?}",
            path.display()
        ),
    }
}

/// Makes a FIFO at `path`.
fn mkfifo(path: &Path) {
    let status = Command::new("mkfifo")
        .arg(path)
        .status()
        .expect("mkfifo runs");
    assert!(status.success(), "mkfifo {}", path.display());
}

/// Runs `f` (which opens the FIFO `fifo`) on a thread and returns its
/// result; fails if it has not returned within [`TIME_LIMIT`], first
/// opening the FIFO for writing so the blocked reader is released.
fn without_hanging<T: Send + 'static>(fifo: &Path, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (send, receive) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = send.send(f());
    });
    match receive.recv_timeout(TIME_LIMIT) {
        Ok(out) => out,
        Err(_) => {
            let fifo = fifo.to_path_buf();
            let _ = std::thread::spawn(move || std::fs::OpenOptions::new().write(true).open(fifo));
            panic!("reading a FIFO blocked for {TIME_LIMIT:?}");
        }
    }
}

fn io_reason(e: &Error, path: &Path) -> String {
    match e {
        Error::Io { path: p, source } => {
            assert_eq!(p.as_path(), path, "the error names the wrong file");
            source.to_string()
        }
        other => panic!(
            "expected an I/O error for {}, got {other:?}",
            path.display()
        ),
    }
}

// ------------------------------------------------------------------ tests

/// An IDX header with zero images and huge per-image dimensions: the
/// total is 0 bytes, but a product of the others overflows. Refused as a
/// header error, by the reader and by `study show`, instead of panicking.
#[test]
fn idx_header_with_zero_rows_and_huge_dimensions_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let zero = write_file(
        dir.path(),
        "zero.idx",
        &idx_header(0x08, &[0, u32::MAX, u32::MAX, u32::MAX]),
    );
    let err = Dataset::load(&zero, &LoadOptions::default()).unwrap_err();
    let (location, reason) = format_error(err, &zero);
    assert_eq!(location, "header (dimensions)");
    assert!(reason.contains("overflow"), "{reason}");

    // Zero images of a size that fits: a header error too, naming the file.
    let empty = write_file(
        dir.path(),
        "empty.idx",
        &idx_header(0x08, &[0, 1 << 16, 1 << 16]),
    );
    let err = Dataset::load(&empty, &LoadOptions::default()).unwrap_err();
    let (location, reason) = format_error(err, &empty);
    assert_eq!(location, "header (dimensions)");
    assert!(reason.contains("no samples"), "{reason}");

    // An array built in memory with the same dimensions (its total is 0).
    let huge = u32::MAX as usize;
    let array = IdxArray::new(IdxType::U8, vec![0, huge, huge, huge], vec![]).unwrap();
    let err = dataset_from_arrays("zero", array, None, &zero, None).unwrap_err();
    let (_, reason) = format_error(err, &zero);
    assert!(reason.contains("overflow"), "{reason}");

    let file = study_file(dir.path(), "path = \"zero.idx\"");
    let out = study(&["show", arg(&file)]);
    let line = one_line_error(&out, "study show with a zero-row IDX header");
    assert!(
        line.contains("zero.idx") && line.contains("dimensions"),
        "{line}"
    );
}

/// A gzip IDX file whose header claims more values than the stated limit,
/// within what its compressed size could expand to: refused from the
/// header, before the claimed size is allocated or decompressed. A stream
/// holding more than its header claims is refused after the claimed bytes.
#[test]
fn gzip_idx_claims_are_bounded_by_a_stated_limit() {
    // Incompressible bytes, so that deflate's ratio allows the claim.
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    let noise: Vec<u8> = (0..400_000)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect();
    let claimed = MAX_GZIP_VALUES as u32 + 1;
    let mut raw = idx_header(0x08, &[1, claimed]);
    raw.extend_from_slice(&noise);
    let gz = gzip(&raw);
    assert!(
        gz.len() * 1032 > claimed as usize,
        "the deflate ratio alone would allow this claim"
    );
    let path = Path::new("claims.idx.gz");
    // Refused from the header alone: a reader that decompressed or
    // allocated the claim first would make far more than a few allocations.
    let (err, allocated) = allocations(|| IdxArray::from_bytes(&gz, path).unwrap_err());
    let (location, reason) = format_error(err, path);
    assert_eq!(location, "header (dimensions)");
    assert!(
        reason.contains(&MAX_GZIP_VALUES.to_string()) && reason.contains("decompress"),
        "{reason}"
    );
    assert!(
        allocated < 100,
        "{allocated} allocations: the claim was read before it was refused"
    );

    // A small claim followed by a long stream: exactly the claimed bytes
    // are read, then the excess is an error.
    let mut bomb = idx_header(0x08, &[2, 2]);
    bomb.extend_from_slice(&[1, 2, 3, 4]);
    bomb.extend(std::iter::repeat_n(0u8, 50 << 20));
    let gz = gzip(&bomb);
    let path = Path::new("bomb.idx.gz");
    let ((), allocated) = allocations(|| {
        let err = IdxArray::from_bytes(&gz, path).unwrap_err();
        let (location, reason) = format_error(err, path);
        assert_eq!(location, "data");
        assert!(reason.contains("trailing bytes"), "{reason}");
    });
    assert!(allocated < 100, "{allocated} allocations");
}

/// `/dev/zero`, a FIFO and a directory given as a labels or data file are
/// refused as not regular files, by the loaders and by `study show`,
/// instead of reading without end or blocking.
#[test]
fn files_that_are_not_regular_files_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let images = images(dir.path());
    let fifo = dir.path().join("labels.fifo");
    mkfifo(&fifo);
    let zero = Path::new("/dev/zero");
    let opts = |labels: &Path| LoadOptions::default().with_labels_file(labels);

    let err = Dataset::load(&images, &opts(zero)).unwrap_err();
    assert!(io_reason(&err, zero).contains("a device"), "{err}");
    let err = Dataset::load(&images, &opts(dir.path())).unwrap_err();
    assert!(io_reason(&err, dir.path()).contains("a directory"), "{err}");
    let (images2, fifo2) = (images.clone(), fifo.clone());
    let err = without_hanging(&fifo, move || {
        Dataset::load(&images2, &opts(&fifo2)).unwrap_err()
    });
    assert!(io_reason(&err, &fifo).contains("a FIFO"), "{err}");

    // Data files: a FIFO named as CSV, Parquet and IDX, a device behind a
    // symlink, a directory named as CSV.
    for name in ["data.csv", "data.parquet", "data.idx"] {
        let path = dir.path().join(name);
        mkfifo(&path);
        let p = path.clone();
        let err = without_hanging(&path, move || {
            Dataset::load(&p, &LoadOptions::default()).unwrap_err()
        });
        assert!(io_reason(&err, &path).contains("a FIFO"), "{name}: {err}");
    }
    let link = dir.path().join("zero.csv");
    std::os::unix::fs::symlink(zero, &link).unwrap();
    let err = Dataset::load(&link, &LoadOptions::default()).unwrap_err();
    assert!(io_reason(&err, &link).contains("a device"), "{err}");
    let folder = dir.path().join("folder.csv");
    std::fs::create_dir(&folder).unwrap();
    let err = Dataset::load(&folder, &LoadOptions::default()).unwrap_err();
    assert!(io_reason(&err, &folder).contains("a directory"), "{err}");

    // Model files.
    let err = Autoencoder::<f32>::load(zero).unwrap_err();
    assert!(io_reason(&err, zero).contains("a device"), "{err}");
    let model = dir.path().join("model.json");
    mkfifo(&model);
    let m = model.clone();
    let err = without_hanging(&model, move || Autoencoder::<f32>::load(&m).unwrap_err());
    assert!(io_reason(&err, &model).contains("a FIFO"), "{err}");

    // The binary, with each as the labels file of a study file's dataset.
    for (labels, expect) in [(zero, "a device"), (fifo.as_path(), "a FIFO")] {
        let file = study_file(
            dir.path(),
            &format!("path = \"images.idx\"\nlabels_file = {:?}", arg(labels)),
        );
        let out = study(&["show", arg(&file)]);
        let line = one_line_error(&out, &format!("labels_file = {}", labels.display()));
        assert!(
            line.contains(arg(labels)) && line.contains(expect),
            "{line}"
        );
    }
}

/// The report side reads files others may have put there as the loaders
/// do: `read_provenance` refuses `/dev/zero`, a directory and a FIFO, and
/// the index of an output directory whose report has a FIFO for its
/// summary is still written, listing that report by its directory name.
#[test]
fn report_reads_refuse_files_that_are_not_regular_files() {
    let dir = tempfile::tempdir().unwrap();
    let zero = Path::new("/dev/zero");
    let err = read_provenance(zero).unwrap_err();
    assert!(io_reason(&err, zero).contains("a device"), "{err}");
    let err = read_provenance(dir.path()).unwrap_err();
    assert!(io_reason(&err, dir.path()).contains("a directory"), "{err}");
    let fifo = dir.path().join("results.parquet");
    mkfifo(&fifo);
    let f = fifo.clone();
    let err = without_hanging(&fifo, move || read_provenance(&f).unwrap_err());
    assert!(io_reason(&err, &fifo).contains("a FIFO"), "{err}");

    let out = dir.path().join("reports");
    let report = out.join("digits");
    std::fs::create_dir_all(&report).unwrap();
    std::fs::write(report.join(PAGE_FILE), "<p>digits</p>").unwrap();
    let summary = report.join("report.json");
    mkfifo(&summary);
    let o = out.clone();
    let index = without_hanging(&summary, move || write_index(&o).unwrap());
    let page = std::fs::read_to_string(&index).unwrap();
    assert!(page.contains(">digits</a>"), "{page}");
}

/// A CSV whose value is finite in f64 but beyond f32's range: the loader
/// keeps it (the data is f64), the f32 check names its row and column, an
/// f32 study refuses it, and `report` stops before anything is trained or
/// cached.
#[test]
fn values_beyond_f32_stop_an_f32_study_before_any_cell() {
    let dir = tempfile::tempdir().unwrap();
    let mut body = String::from("a,b,c,d\n");
    for i in 0..160 {
        let t = i as f64;
        let mut row = [t.sin(), t.cos(), (0.3 * t).sin(), (0.7 * t).cos()];
        if i == 40 {
            row[2] = 1e39;
        }
        if i == 50 {
            row[1] = f64::from(f32::MAX);
        }
        let cells: Vec<String> = row.iter().map(|v| format!("{v:?}")).collect();
        body.push_str(&cells.join(","));
        body.push('\n');
    }
    let csv = write_file(dir.path(), "huge.csv", body.as_bytes());
    let ds = Dataset::load(&csv, &LoadOptions::default()).unwrap();
    assert_eq!(ds.first_beyond_f32(), Some((40, 2, 1e39)));
    let msg = ds.check_f32_range().unwrap_err().to_string();
    assert!(
        msg.contains("\"huge\"") && msg.contains("row 40, column 2"),
        "{msg}"
    );

    let f32_study = Study::new("f32")
        .dataset(ds.clone())
        .models(&[ModelKind::Pca, ModelKind::LinearTied]);
    assert!(matches!(
        check_f32_data(&f32_study),
        Err(Error::InvalidData(_))
    ));
    // PCA alone, or training in f64, does not convert to f32.
    assert!(check_f32_data(&f32_study.clone().models(&[ModelKind::Pca])).is_ok());
    assert!(check_f32_data(&f32_study.clone().precision(Precision::F64)).is_ok());
    // Each kind converts in its family's precision: linear cells in f64 do
    // not, and linear cells in f32 do within a study that is f64 otherwise.
    let linear = |p| f32_study.clone().linear_training(TrainConfig::new(), p);
    assert!(check_f32_data(&linear(Precision::F64)).is_ok());
    assert!(matches!(
        check_f32_data(&linear(Precision::F32).precision(Precision::F64)),
        Err(Error::InvalidData(_))
    ));

    let out = dir.path().join("reports");
    let result = report(&[
        "--dataset",
        arg(&csv),
        "--quick",
        "--latent",
        "2",
        "--epochs",
        "2",
        "--out",
        arg(&out),
    ]);
    let line = one_line_error(&result, "report on a CSV holding 1e39");
    assert!(
        line.contains("row 40, column 2") && line.contains("f32"),
        "{line}"
    );
    assert!(text(&result.stdout).trim().is_empty());
    assert_eq!(
        files_under(&out),
        Vec::<PathBuf>::new(),
        "trained or cached"
    );
}

/// The same file in an f32 study file: `study run` stops before its PCA
/// cell is computed and cached.
#[test]
fn study_run_refuses_values_beyond_f32_before_any_cell() {
    let dir = tempfile::tempdir().unwrap();
    let mut body = String::from("a,b,c\n");
    for i in 0..40 {
        let t = i as f64;
        let x = if i == 7 { 1e39 } else { t.sin() };
        body.push_str(&format!("{x:?},{:?},{:?}\n", t.cos(), (0.5 * t).sin()));
    }
    write_file(dir.path(), "huge.csv", body.as_bytes());
    let file = write_file(
        dir.path(),
        "huge.toml",
        b"name = \"huge\"\nmodels = [\"pca\", \"linear_tied\"]\nlatents = [1]\nseeds = [0]\nprecision = \"f32\"\n\n[[datasets]]\npath = \"huge.csv\"\n\n[training]\nepochs = 2\n",
    );
    let out = dir.path().join("run");
    let result = study(&["run", arg(&file), "--out", arg(&out)]);
    let line = one_line_error(&result, "study run on a CSV holding 1e39");
    assert!(
        line.contains("row 7, column 0") && line.contains("f32"),
        "{line}"
    );
    assert_eq!(
        files_under(&out.join("cache")),
        Vec::<PathBuf>::new(),
        "cells were cached"
    );
}

/// The CSV reader parses cells straight into numbers: reading 100,000
/// cells makes far fewer allocations than cells. A header of 200,000
/// names with a repeat at the end is refused naming the repeat (the
/// duplicate check is a hash set; a quadratic one would take minutes here).
#[test]
fn csv_reading_allocates_per_column_not_per_cell() {
    let (rows, cols) = (2_000, 50);
    let mut text = (0..cols)
        .map(|j| format!("x{j}"))
        .collect::<Vec<_>>()
        .join(",");
    text.push('\n');
    for i in 0..rows {
        let line: Vec<String> = (0..cols).map(|j| format!("{}.25", i * cols + j)).collect();
        text.push_str(&line.join(","));
        text.push('\n');
    }
    let path = Path::new("cells.csv");
    let (ds, allocated) = allocations(|| csv::parse_csv(&text, path, None, None));
    let ds = ds.unwrap();
    assert_eq!((ds.n_samples(), ds.n_features()), (rows, cols));
    assert_eq!(
        ds.x()[(rows - 1, cols - 1)],
        (rows * cols - 1) as f64 + 0.25
    );
    assert!(
        allocated < rows * cols / 10,
        "{allocated} allocations for {} cells",
        rows * cols
    );

    let mut header = (0..200_000)
        .map(|j| format!("column{j}"))
        .collect::<Vec<_>>()
        .join(",");
    header.push_str(",column0\n1\n2\n");
    let err = csv::parse_csv(&header, path, None, None).unwrap_err();
    let (location, reason) = format_error(err, path);
    assert_eq!(location, "line 1 (header), column \"column0\"");
    assert!(reason.contains("duplicate"), "{reason}");
}

/// Scalers whose statistics overflow, or whose output does, are refused
/// naming the column, instead of mapping it to zeros, infinities or NaN.
#[test]
fn scalers_refuse_overflowing_columns() {
    let col = |c1: [f64; 3]| DMatrix::from_row_slice(3, 2, &[1.0, c1[0], 2.0, c1[1], 3.0, c1[2]]);
    let cases = [
        // The column sum overflows: the mean would be infinite.
        (Scaler::Center, col([1.5e308, 1.5e308, 1.0])),
        // The variance overflows: the column would become zeros.
        (Scaler::Standardize, col([1e200, -1e200, 0.0])),
        // The spread underflows to zero: the column would become NaN or inf.
        (Scaler::Standardize, col([5e-324, 0.0, 0.0])),
        // max - min overflows: the column would become zeros.
        (Scaler::MinMax, col([1.5e308, -1.5e308, 0.0])),
    ];
    for (kind, x) in cases {
        match kind.fit(&x) {
            Err(Error::InvalidData(m)) => assert!(m.contains("column 1"), "{kind:?}: {m}"),
            other => panic!("{kind:?} on {x}: {other:?}"),
        }
    }

    // Fitted on a narrow range, a far value overflows the output type.
    let fit = Scaler::MinMax
        .fit(&DMatrix::from_row_slice(2, 1, &[0.0f32, 1e-3]))
        .unwrap();
    match fit.transform(&DMatrix::from_row_slice(2, 1, &[0.5f32, 1e37])) {
        Err(Error::InvalidData(m)) => assert!(m.contains("row 1, column 0"), "{m}"),
        other => panic!("{other:?}"),
    }
    let fit = Scaler::MinMax
        .fit(&DMatrix::from_row_slice(2, 1, &[0.0, 1e300]))
        .unwrap();
    match fit.inverse_transform(&DMatrix::from_row_slice(2, 1, &[0.5, 1e10])) {
        Err(Error::InvalidData(m)) => assert!(m.contains("row 1, column 0"), "{m}"),
        other => panic!("{other:?}"),
    }
}

/// A model file whose shapes multiply past `usize`: refused naming the
/// layer, not a panic on the product.
#[test]
fn model_file_shapes_are_checked_before_multiplying() {
    let model = Autoencoder::<f32>::new(&AutoencoderSpec::new(&[3, 2]), 0).unwrap();
    let mut json: serde_json::Value =
        serde_json::from_slice(&model.to_json_bytes().unwrap()).unwrap();
    let huge = 1u64 << 32;
    json["spec"]["dims"] = serde_json::json!([huge, huge]);
    let weight = &mut json["layers"][0]["weight"];
    weight["rows"] = serde_json::json!(huge);
    weight["cols"] = serde_json::json!(huge);
    weight["row_major"] = serde_json::json!([]);
    let dir = tempfile::tempdir().unwrap();
    let path = write_file(dir.path(), "huge.json", &serde_json::to_vec(&json).unwrap());
    let err = Autoencoder::<f32>::load(&path).unwrap_err();
    let (location, reason) = format_error(err, &path);
    assert_eq!(location, "layer 0");
    assert!(
        reason.contains("0 values for 4294967296x4294967296"),
        "{reason}"
    );
}

/// The CSV and Parquet readers share the frame-to-dataset step through a
/// module of its own: neither imports the other.
#[test]
fn csv_and_parquet_readers_do_not_import_each_other() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/data");
    let imports = |file: &str, other: &str| -> Vec<String> {
        std::fs::read_to_string(src.join(file))
            .unwrap()
            .lines()
            .filter(|l| !l.trim_start().starts_with("//"))
            .filter(|l| {
                l.contains(&format!("super::{other}")) || l.contains(&format!("data::{other}"))
            })
            .map(str::to_string)
            .collect()
    };
    assert_eq!(imports("csv.rs", "parquet"), Vec::<String>::new());
    assert_eq!(imports("parquet.rs", "csv"), Vec::<String>::new());
}
