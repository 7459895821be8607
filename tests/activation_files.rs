//! Activation files as datasets: `.npy` files NumPy wrote and tensors of
//! `.safetensors` files the Python `safetensors` package wrote
//! (`scripts/activation_fixtures.py` writes them under
//! `tests/fixtures/activations/`) load as the values NumPy held, bit for
//! bit, whatever the order, byte order, precision or header version. Every
//! file that cannot be a dataset and every corrupt header is refused with
//! one line naming the file and the field, before anything of a declared
//! size is allocated; FIFOs, devices and directories are refused unread,
//! by the loaders and by the binaries.

use nalgebra::DMatrix;
use serde_json::{Map, Value};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};
use tiedae::Error;
use tiedae::data::{Dataset, FileFormat, LoadOptions, split_tensor_spec};
use tiedae::study::read_study_file;

// ---------------------------------------------------------------- helpers

/// A binary run or a FIFO read longer than this hangs.
const TIME_LIMIT: Duration = Duration::from_secs(60);

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/activations")
        .join(name)
}

/// `expected.json`: per fixture its shape, dtype and values as NumPy held
/// them.
fn expected() -> Map<String, Value> {
    let text = std::fs::read_to_string(fixture("expected.json"))
        .expect("expected.json (scripts/activation_fixtures.py writes it)");
    match serde_json::from_str(&text).expect("expected.json parses") {
        Value::Object(m) => m,
        other => panic!("expected.json is not an object: {other}"),
    }
}

/// The script's `x[i, j] = i * 0.5 - j / 3`, the same float64 operations.
fn ramp(i: usize, j: usize) -> f64 {
    i as f64 * 0.5 - j as f64 / 3.0
}

/// The script's `y[i, j] = (i + 1) * (j - 0.25)`.
fn second(i: usize, j: usize) -> f64 {
    (i as f64 + 1.0) * (j as f64 - 0.25)
}

/// `f` over a `rows x cols` grid, rounded to float32 as NumPy's `astype`
/// rounds when `float32`.
fn formula(rows: usize, cols: usize, f: fn(usize, usize) -> f64, float32: bool) -> DMatrix<f64> {
    DMatrix::from_fn(rows, cols, |i, j| {
        let v = f(i, j);
        if float32 { f64::from(v as f32) } else { v }
    })
}

/// The matrix `expected.json` lists for one fixture.
fn json_matrix(entry: &Value) -> DMatrix<f64> {
    let shape = entry["shape"].as_array().expect("shape");
    let dim = |k: usize| shape[k].as_u64().expect("a dimension") as usize;
    let values = entry["values"].as_array().expect("values");
    DMatrix::from_fn(dim(0), dim(1), |i, j| {
        values[i][j].as_f64().expect("a number")
    })
}

/// Equal shapes and values, bit for bit.
fn assert_same_bits(a: &DMatrix<f64>, b: &DMatrix<f64>, what: &str) {
    assert_eq!(a.shape(), b.shape(), "{what}: shape");
    for i in 0..a.nrows() {
        for j in 0..a.ncols() {
            assert_eq!(
                a[(i, j)].to_bits(),
                b[(i, j)].to_bits(),
                "{what}: ({i}, {j}) is {}, expected {}",
                a[(i, j)],
                b[(i, j)]
            );
        }
    }
}

/// The error as its one line; fails if it has several.
fn one_line(e: &Error) -> String {
    let s = e.to_string();
    assert!(!s.contains('\n'), "not one line: {s:?}");
    s
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

/// The reason of a [`Error::Io`] naming `path`.
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

/// The field a [`Error::Config`] names.
fn config_field(e: &Error) -> &'static str {
    match e {
        Error::Config { field, .. } => field,
        other => panic!("expected a config error, got {other:?}"),
    }
}

fn load(path: &Path) -> tiedae::Result<Dataset> {
    Dataset::load(path, &LoadOptions::default())
}

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

/// Runs a binary, killed after [`TIME_LIMIT`] so a hang fails the test.
fn run(bin: &str, args: &[&str]) -> Output {
    let mut child = Command::new(bin)
        .args(args)
        .env_remove("SLURM_ARRAY_TASK_ID")
        .env_remove("SLURM_ARRAY_TASK_MIN")
        .env_remove("SLURM_ARRAY_TASK_COUNT")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary starts");
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

/// A failed run's one error line: an exit status from 1 to 100 (not a
/// panic's 101, not a signal), no panic message, one `error: ` line, last.
fn one_line_error(out: &Output, what: &str) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        matches!(out.status.code(), Some(1..=100)),
        "{what}: exit {:?}:\n{stderr}",
        out.status
    );
    assert!(!stderr.contains("panicked"), "{what}: {stderr}");
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(
        lines.iter().filter(|l| l.starts_with("error")).count(),
        1,
        "{what}: {stderr}"
    );
    let last = lines.last().copied().unwrap_or_default();
    assert!(last.starts_with("error: "), "{what}: {stderr}");
    last.to_string()
}

fn arg(p: &Path) -> &str {
    p.to_str().expect("test paths are UTF-8")
}

/// A version 1.0 `.npy` file of header `dict`, padded as NumPy pads it
/// (spaces and a newline, to a multiple of 64 bytes), then `data`.
fn npy(dict: &str, data: &[u8]) -> Vec<u8> {
    let mut header = dict.to_string();
    while !(10 + header.len() + 1).is_multiple_of(64) {
        header.push(' ');
    }
    header.push('\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend_from_slice(&u16::try_from(header.len()).unwrap().to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(data);
    out
}

/// A `.safetensors` file of JSON header `header`, then `data`.
fn safetensors(header: &str, data: &[u8]) -> Vec<u8> {
    let mut out = (header.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(data);
    out
}

/// `n` little-endian float64 values 0, 1, 2, ...
fn f64_data(n: usize) -> Vec<u8> {
    (0..n).flat_map(|k| (k as f64).to_le_bytes()).collect()
}

/// `bytes` with the one occurrence of `from` replaced by `to` (same length).
fn patch(bytes: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    assert_eq!(from.len(), to.len());
    let at = bytes
        .windows(from.len())
        .position(|w| w == from)
        .expect("the bytes to patch are there");
    let mut out = bytes.to_vec();
    out[at..at + to.len()].copy_from_slice(to);
    out
}

// ------------------------------------------------------------------ loads

/// Every loadable `.npy` fixture gives the script's formula and the values
/// NumPy listed in `expected.json`, bit for bit: C and Fortran order,
/// little- and big-endian, float32 and float64, header versions 1 to 3.
#[test]
fn npy_files_numpy_wrote_load_as_numpy_held_them() {
    let expected = expected();
    // float32 fixtures hold rounded values: comparing them with the
    // float64 formula would fail, so the check can tell the two apart.
    assert_ne!(formula(5, 3, ramp, true), formula(5, 3, ramp, false));
    let cases = [
        ("c_f64.npy", false),
        ("fortran_f64.npy", false),
        ("c_f32.npy", true),
        ("fortran_f32.npy", true),
        ("big_endian_f64.npy", false),
        ("big_endian_fortran_f32.npy", true),
        ("v2_f64.npy", false),
        ("v3_f64.npy", false),
    ];
    for (name, float32) in cases {
        let ds = load(&fixture(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(ds.name(), name.trim_end_matches(".npy"));
        assert_eq!(ds.labels(), None, "{name}");
        assert_eq!(ds.image_shape(), None, "{name}");
        assert_same_bits(ds.x(), &formula(5, 3, ramp, float32), name);
        let entry = expected
            .get(name)
            .unwrap_or_else(|| panic!("{name} is not in expected.json"));
        assert_same_bits(ds.x(), &json_matrix(entry), name);
    }
}

/// The C and Fortran fixtures store the same matrix in different byte
/// orders of elements, and load to the same matrix.
#[test]
fn c_and_fortran_order_give_the_same_matrix() {
    for tag in ["f64", "f32"] {
        let c = fixture(&format!("c_{tag}.npy"));
        let f = fixture(&format!("fortran_{tag}.npy"));
        let (c_bytes, f_bytes) = (std::fs::read(&c).unwrap(), std::fs::read(&f).unwrap());
        assert_eq!(c_bytes.len(), f_bytes.len(), "{tag}");
        assert!(
            String::from_utf8_lossy(&f_bytes).contains("'fortran_order': True"),
            "fortran_{tag}.npy is not in Fortran order"
        );
        // The data differs (the header alone would too): the two orders are
        // really different files.
        let data = c_bytes.len() - 15 * if tag == "f64" { 8 } else { 4 };
        assert_ne!(c_bytes[data..], f_bytes[data..], "{tag}");
        let a = load(&c).unwrap();
        let b = load(&f).unwrap();
        assert_same_bits(a.x(), b.x(), tag);
        // Not symmetric, so a transposed read would show.
        assert_ne!(a.x()[(1, 0)], a.x()[(0, 1)]);
    }
}

/// Tensors of a file the `safetensors` package wrote, named as
/// `FILE.safetensors:NAME`, by option, or (the only tensor) not at all.
#[test]
fn safetensors_tensors_load_by_name_as_the_package_wrote_them() {
    let expected = expected();
    let acts = fixture("acts.safetensors");
    let spec = format!("{}:resid", arg(&acts));
    let resid = Dataset::resolve(&spec, &LoadOptions::default()).unwrap();
    assert_eq!(resid.name(), "acts:resid");
    assert_eq!(resid.labels(), None);
    assert_same_bits(resid.x(), &formula(5, 3, ramp, true), "resid");
    assert_same_bits(
        resid.x(),
        &json_matrix(&expected["acts.safetensors:resid"]),
        "resid (json)",
    );

    let opts = LoadOptions::default().with_tensor("mlp.out");
    let mlp = Dataset::load(&acts, &opts).unwrap();
    assert_eq!(mlp.name(), "acts:mlp.out");
    assert_same_bits(mlp.x(), &formula(4, 2, second, false), "mlp.out");
    assert_same_bits(
        mlp.x(),
        &json_matrix(&expected["acts.safetensors:mlp.out"]),
        "mlp.out (json)",
    );

    let single =
        Dataset::resolve(arg(&fixture("single.safetensors")), &LoadOptions::default()).unwrap();
    assert_eq!(single.name(), "single");
    assert_same_bits(single.x(), &formula(5, 3, ramp, false), "single");
    assert_same_bits(
        single.x(),
        &json_matrix(&expected["single.safetensors"]),
        "single (json)",
    );

    // An image shape applies as for the other formats.
    let opts = LoadOptions::default()
        .with_tensor("resid")
        .with_image_shape(1, 3);
    assert_eq!(
        Dataset::load(&acts, &opts).unwrap().image_shape(),
        Some((1, 3))
    );
    let opts = LoadOptions::default().with_image_shape(2, 2);
    assert!(matches!(
        Dataset::load(fixture("c_f64.npy"), &opts),
        Err(Error::Shape(_))
    ));
}

/// A finite float64 value beyond `f32`'s range loads, as it does from the
/// other formats, and the check an `f32` study makes refuses it.
#[test]
fn values_beyond_f32_load_and_the_f32_check_refuses_them() {
    let ds = load(&fixture("beyond_f32.npy")).unwrap();
    assert_eq!(ds.x()[(2, 1)], 1e300);
    let e = ds.check_f32_range().unwrap_err().to_string();
    assert!(e.contains("row 2, column 1"), "{e}");
}

// ------------------------------------------------------- refused files

/// Files NumPy wrote that cannot be datasets: each refused in one line
/// naming the file and the field (the header, or the row and column of a
/// non-finite value).
#[test]
fn npy_files_that_cannot_be_datasets_are_refused_naming_the_field() {
    let cases = [
        ("vector.npy", "header", "shape (4,) is 1-D"),
        (
            "int32.npy",
            "header",
            "dtype '<i4' is not float32 or float64",
        ),
        (
            "float16.npy",
            "header",
            "dtype '<f2' is not float32 or float64",
        ),
        ("cube.npy", "header", "shape (2, 2, 2) is 3-D"),
        ("one_row.npy", "header", "holds one sample"),
        ("nan_f32.npy", "row 1, column 2", "non-finite value NaN"),
        ("inf_f64.npy", "row 2, column 0", "non-finite value -inf"),
    ];
    for (name, location, expect) in cases {
        let path = fixture(name);
        let err = load(&path).unwrap_err();
        let line = one_line(&err);
        assert!(
            line.starts_with(&format!("{}: {location}: ", path.display())),
            "{line}"
        );
        let (l, reason) = format_error(err, &path);
        assert_eq!(l, location, "{name}: {reason}");
        assert!(
            reason.contains(expect),
            "{name}: {reason:?} lacks {expect:?}"
        );
    }
}

/// Corrupt `.npy` files, made from a good one or from a header written
/// here: each a format error naming the file and the field, in one line,
/// never a panic, and a size the file cannot back is refused from the
/// header (a terabyte claim would otherwise fail to allocate).
#[test]
fn corrupt_npy_headers_give_one_line_errors() {
    let good = std::fs::read(fixture("c_f64.npy")).unwrap();
    assert_eq!(good.len(), 128 + 5 * 3 * 8, "c_f64.npy: a 128-byte header");
    let dict =
        |shape: &str| format!("{{'descr': '<f8', 'fortran_order': False, 'shape': {shape}, }}");
    let mut wrong_magic = good.clone();
    wrong_magic[1] = b'n';
    let mut version = good.clone();
    version[6] = 4;
    let mut long_header = good.clone();
    long_header[8..10].copy_from_slice(&u16::MAX.to_le_bytes());
    let mut v2_long_header = std::fs::read(fixture("v2_f64.npy")).unwrap();
    v2_long_header[8..12].copy_from_slice(&u32::MAX.to_le_bytes());
    let mut trailing = npy(&dict("(2, 2)"), &f64_data(4));
    trailing.push(0);
    let mut not_utf8 = npy(&dict("(2, 2)"), &f64_data(4));
    not_utf8[100] = 0xff;
    let nested = format!(
        "{{'descr': '<f8', 'fortran_order': False, 'shape': {}2, 2{}}}",
        "(".repeat(5000),
        ")".repeat(5000)
    );

    let cases: Vec<(&str, Vec<u8>, &str, &str)> = vec![
        ("empty.npy", vec![], "header", "empty file"),
        (
            "magic_only.npy",
            good[..5].to_vec(),
            "header",
            "file ends after 5 bytes, inside the magic",
        ),
        (
            "truncated_header.npy",
            good[..60].to_vec(),
            "header",
            "header length 118 runs past the end of the file (60 bytes)",
        ),
        (
            "truncated_data.npy",
            good[..200].to_vec(),
            "header",
            "shape (5, 3) of float64 needs 120 data bytes, the file holds 72",
        ),
        (
            "wrong_magic.npy",
            wrong_magic,
            "header",
            "wrong magic 93 6e",
        ),
        (
            "text.npy",
            b"x0,x1\n1,2\n3,4\n".to_vec(),
            "header",
            "wrong magic 78",
        ),
        ("version.npy", version, "header", "format version 4.0"),
        (
            "long_header.npy",
            long_header,
            "header",
            "header length 65535 runs past the end of the file (248 bytes)",
        ),
        (
            "v2_long_header.npy",
            v2_long_header,
            "header",
            "header length 4294967295 runs past the end",
        ),
        (
            "bigger_shape.npy",
            patch(&good, b"(5, 3)", b"(9, 3)"),
            "header",
            "shape (9, 3) of float64 needs 216 data bytes, the file holds 120",
        ),
        (
            "terabytes.npy",
            npy(&dict("(1048576, 1048576)"), &f64_data(4)),
            "header",
            "needs 8796093022208 data bytes",
        ),
        (
            "overflow.npy",
            npy(&dict("(1099511627776, 1099511627776)"), &f64_data(4)),
            "header",
            "overflows",
        ),
        ("trailing.npy", trailing, "data", "1 trailing bytes"),
        (
            "zero_rows.npy",
            npy(&dict("(0, 3)"), &[]),
            "header",
            "holds no samples or no features",
        ),
        (
            "not_a_dict.npy",
            npy("['<f8', False, (2, 2)]", &f64_data(4)),
            "header",
            "not a dict",
        ),
        (
            "unclosed.npy",
            npy(
                "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 2",
                &f64_data(4),
            ),
            "header",
            "expected ',' or ')', found the end of the header",
        ),
        ("not_utf8.npy", not_utf8, "header", "not text"),
        (
            "nested.npy",
            npy(&nested, &f64_data(4)),
            "header",
            "nested more than",
        ),
    ];
    let dir = tempfile::tempdir().unwrap();
    for (name, bytes, location, expect) in cases {
        let path = dir.path().join(name);
        std::fs::write(&path, &bytes).unwrap();
        let err = load(&path).unwrap_err();
        one_line(&err);
        let (l, reason) = format_error(err, &path);
        assert_eq!(l, location, "{name}: {reason}");
        assert!(
            reason.contains(expect),
            "{name}: {reason:?} lacks {expect:?}"
        );
    }
}

/// A file of several tensors needs a name, and the one line that says so
/// lists them; a name the file lacks, a dtype other than F32/F64 and a
/// rank other than 2 are refused naming the tensor.
#[test]
fn safetensors_tensors_that_cannot_be_read_are_refused_naming_them() {
    let acts = fixture("acts.safetensors");
    let err = load(&acts).unwrap_err();
    let line = one_line(&err);
    assert!(
        line.starts_with(&format!("{}: tensors: ", acts.display())),
        "{line}"
    );
    let (_, reason) = format_error(err, &acts);
    assert!(reason.contains("5 tensors and none named"), "{reason}");
    for name in ["resid", "mlp.out", "vector", "ids", "cube"] {
        assert!(
            reason.contains(&format!("\"{name}\"")),
            "{reason} lacks {name}"
        );
    }

    let err = Dataset::load(&acts, &LoadOptions::default().with_tensor("resid_post")).unwrap_err();
    one_line(&err);
    let (location, reason) = format_error(err, &acts);
    assert_eq!(location, "tensors");
    assert!(reason.starts_with("no tensor \"resid_post\""), "{reason}");
    assert!(reason.contains("\"mlp.out\""), "{reason}");

    for (tensor, expect) in [
        ("ids", "dtype I32 is not F32 or F64"),
        ("vector", "shape [3] is 1-D"),
        ("cube", "shape [2, 1, 2] is 3-D"),
    ] {
        let opts = LoadOptions::default().with_tensor(tensor);
        let err = Dataset::load(&acts, &opts).unwrap_err();
        one_line(&err);
        let (location, reason) = format_error(err, &acts);
        assert_eq!(location, format!("tensor \"{tensor}\""));
        assert!(
            reason.contains(expect),
            "{tensor}: {reason:?} lacks {expect:?}"
        );
    }

    let nan = fixture("nan.safetensors");
    let (location, reason) = format_error(load(&nan).unwrap_err(), &nan);
    assert_eq!(location, "row 0, column 1");
    assert!(reason.contains("non-finite value NaN"), "{reason}");
}

/// Corrupt `.safetensors` files: each a format error naming the file and
/// the field, in one line, never a panic; sizes the file cannot back are
/// refused from the header.
#[test]
fn corrupt_safetensors_headers_give_one_line_errors() {
    let good = std::fs::read(fixture("single.safetensors")).unwrap();
    let n = u64::from_le_bytes(good[..8].try_into().unwrap());
    let mut huge_header = good.clone();
    huge_header[..8].copy_from_slice(&u64::MAX.to_le_bytes());
    let mut long_header = good.clone();
    long_header[..8].copy_from_slice(&(n + 1000).to_le_bytes());
    let mut trailing = good.clone();
    trailing.push(0);
    let ends = |end: usize, len: usize| {
        format!("the tensors' byte ranges end at byte {end}, the file has {len} bytes")
    };
    let deep = format!("{{\"x\":{}{}}}", "[".repeat(10_000), "]".repeat(10_000));

    let cases: Vec<(&str, Vec<u8>, &str, String)> = vec![
        ("empty.safetensors", vec![], "header", "empty file".into()),
        (
            "short.safetensors",
            good[..5].to_vec(),
            "header",
            "inside the 8-byte header length".into(),
        ),
        (
            "huge_header.safetensors",
            huge_header,
            "header",
            format!(
                "header length {} runs past the end of the file ({} bytes)",
                u64::MAX,
                good.len()
            ),
        ),
        (
            "long_header.safetensors",
            long_header,
            "header",
            "runs past the end of the file".into(),
        ),
        (
            "garbage.safetensors",
            safetensors("this is not json", &[]),
            "header",
            "not a safetensors header".into(),
        ),
        (
            "deep.safetensors",
            safetensors(&deep, &[]),
            "header",
            "not a safetensors header".into(),
        ),
        (
            "truncated.safetensors",
            good[..good.len() - 8].to_vec(),
            "header",
            ends(good.len(), good.len() - 8),
        ),
        (
            "trailing.safetensors",
            trailing,
            "header",
            ends(good.len(), good.len() + 1),
        ),
        (
            "overflow.safetensors",
            safetensors(
                r#"{"x":{"dtype":"F64","shape":[1099511627776,1099511627776],"data_offsets":[0,16]}}"#,
                &[0; 16],
            ),
            "header",
            "not a safetensors header".into(),
        ),
        (
            "inconsistent.safetensors",
            safetensors(
                r#"{"x":{"dtype":"F64","shape":[2,2],"data_offsets":[0,16]}}"#,
                &[0; 16],
            ),
            "header",
            "not a safetensors header".into(),
        ),
        (
            "terabytes.safetensors",
            safetensors(
                r#"{"x":{"dtype":"F64","shape":[1048576,1048576],"data_offsets":[0,8796093022208]}}"#,
                &[0; 16],
            ),
            "header",
            "the tensors' byte ranges end at byte".into(),
        ),
        (
            "no_tensors.safetensors",
            safetensors(r#"{"__metadata__":{"a":"b"}}"#, &[]),
            "tensors",
            "the file holds no tensors".into(),
        ),
        (
            "one_row.safetensors",
            safetensors(
                r#"{"x":{"dtype":"F32","shape":[1,2],"data_offsets":[0,8]}}"#,
                &[0; 8],
            ),
            "tensor \"x\"",
            "holds one sample".into(),
        ),
    ];
    let dir = tempfile::tempdir().unwrap();
    for (name, bytes, location, expect) in cases {
        let path = dir.path().join(name);
        std::fs::write(&path, &bytes).unwrap();
        let err = load(&path).unwrap_err();
        one_line(&err);
        let (l, reason) = format_error(err, &path);
        assert_eq!(l, location, "{name}: {reason}");
        assert!(
            reason.contains(&expect),
            "{name}: {reason:?} lacks {expect:?}"
        );
    }
}

/// A FIFO, a device and a directory under an activation file's name are
/// refused as not regular files, without blocking or reading.
#[test]
fn fifos_devices_and_directories_are_refused_unread() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["acts.npy", "acts.safetensors"] {
        let fifo = dir.path().join(format!("fifo-{name}"));
        mkfifo(&fifo);
        let p = fifo.clone();
        let err = without_hanging(&fifo, move || load(&p).unwrap_err());
        assert!(io_reason(&err, &fifo).contains("a FIFO"), "{name}: {err}");

        let folder = dir.path().join(format!("dir-{name}"));
        std::fs::create_dir(&folder).unwrap();
        let err = load(&folder).unwrap_err();
        assert!(
            io_reason(&err, &folder).contains("a directory"),
            "{name}: {err}"
        );

        let link = dir.path().join(format!("zero-{name}"));
        std::os::unix::fs::symlink("/dev/zero", &link).unwrap();
        let err = load(&link).unwrap_err();
        assert!(io_reason(&err, &link).contains("a device"), "{name}: {err}");
    }

    // The report binary, given a FIFO and a directory as its --dataset,
    // says so in one line and writes nothing.
    let out = dir.path().join("reports");
    for name in ["fifo-acts.npy", "dir-acts.safetensors"] {
        let data = dir.path().join(name);
        let run_out = run(
            env!("CARGO_BIN_EXE_report"),
            &["--dataset", arg(&data), "--out", arg(&out), "--quick"],
        );
        let line = one_line_error(&run_out, name);
        assert!(
            line.contains(name) && line.contains("not a regular file"),
            "{line}"
        );
        assert!(!out.exists(), "{name}: the report wrote {}", out.display());
    }
}

// ------------------------------------------------------ dataset specs

/// `FILE.safetensors:NAME` splits at the last colon after the extension
/// only, so other colons stay in the path or in the name.
#[test]
fn tensor_specs_split_after_the_extension_only() {
    assert_eq!(
        split_tensor_spec("runs/acts.safetensors:blocks.3.hook_resid_post"),
        ("runs/acts.safetensors", Some("blocks.3.hook_resid_post"))
    );
    assert_eq!(
        split_tensor_spec("A.SafeTensors:x:y"),
        ("A.SafeTensors", Some("x:y"))
    );
    assert_eq!(
        split_tensor_spec("acts.safetensors:"),
        ("acts.safetensors", Some(""))
    );
    assert_eq!(
        split_tensor_spec("acts.safetensors"),
        ("acts.safetensors", None)
    );
    assert_eq!(
        split_tensor_spec("C:\\data\\x.npy"),
        ("C:\\data\\x.npy", None)
    );
    assert_eq!(split_tensor_spec("digits"), ("digits", None));

    let of = |name: &str| FileFormat::of_path(Path::new(name));
    assert_eq!(of("x.npy"), Some(FileFormat::Npy));
    assert_eq!(of("X.NPY"), Some(FileFormat::Npy));
    assert_eq!(of("x.safetensors"), Some(FileFormat::Safetensors));
    assert_eq!(of("x.npy.gz"), None);
    assert_eq!(of("x.safetensors.gz"), None);
    assert_eq!(of("x.npz"), None);
}

/// Options that do not apply to a format are refused naming the option:
/// a tensor for a `.npy` file (or twice, or empty), labels for either.
#[test]
fn options_that_do_not_apply_are_refused_naming_them() {
    let npy = fixture("c_f64.npy");
    let acts = fixture("acts.safetensors");
    let cases = [
        (
            Dataset::load(&npy, &LoadOptions::default().with_tensor("x")),
            "tensor",
        ),
        (
            Dataset::load(
                fixture("c_f64.npy"),
                &LoadOptions::default().with_label_column("y"),
            ),
            "label_column",
        ),
        (
            Dataset::load(&acts, &LoadOptions::default().with_labels_file(&npy)),
            "labels_file",
        ),
        (
            Dataset::resolve(
                &format!("{}:resid", arg(&acts)),
                &LoadOptions::default().with_tensor("mlp.out"),
            ),
            "tensor",
        ),
        (
            Dataset::resolve(&format!("{}:", arg(&acts)), &LoadOptions::default()),
            "tensor",
        ),
    ];
    for (result, field) in cases {
        let err = result.unwrap_err();
        one_line(&err);
        assert_eq!(config_field(&err), field, "{err}");
    }
    // A spec whose file is missing is an unknown dataset, named whole.
    match Dataset::resolve("no/such/acts.safetensors:resid", &LoadOptions::default()) {
        Err(Error::UnknownDataset(spec)) => assert_eq!(spec, "no/such/acts.safetensors:resid"),
        other => panic!("{other:?}"),
    }
}

/// A study file names the tensor with its own `tensor` key; without it a
/// file of several tensors is refused at the `path` line, listing them.
#[test]
fn a_study_file_names_the_tensor_with_its_own_key() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        fixture("acts.safetensors"),
        dir.path().join("acts.safetensors"),
    )
    .unwrap();
    let write = |dataset: &str| {
        let p = dir.path().join("acts.toml");
        let text = format!(
            "name = \"acts\"\nmodels = [\"pca\"]\nlatents = [1]\nseeds = [0]\ntest_fraction = 0.4\n\n[[datasets]]\n{dataset}\n"
        );
        std::fs::write(&p, text).unwrap();
        p
    };

    let file = write("path = \"acts.safetensors\"\ntensor = \"resid\"");
    let (entries, study) = read_study_file(&file).unwrap();
    assert_eq!(entries.datasets[0].tensor.as_deref(), Some("resid"));
    assert_eq!(study.datasets.len(), 1);
    assert_eq!(study.datasets[0].name(), "acts:resid");
    assert_same_bits(study.datasets[0].x(), &formula(5, 3, ramp, true), "study");

    let file = write("path = \"acts.safetensors\"");
    let err = read_study_file(&file).unwrap_err();
    let line = one_line(&err);
    assert!(line.contains("key `path`"), "{line}");
    assert!(
        line.contains("none named") && line.contains("\"mlp.out\""),
        "{line}"
    );

    let file = write("builtin = \"digits\"\ntensor = \"resid\"");
    let line = one_line(&read_study_file(&file).unwrap_err());
    assert!(
        line.contains("key `tensor`") && line.contains("drop tensor"),
        "{line}"
    );
}

/// The `study` binary's `--dataset` takes activation files as the report's
/// does: a file of several tensors without a name is one line listing them.
#[test]
fn the_study_binary_lists_the_tensors_of_an_unnamed_file() {
    let acts = fixture("acts.safetensors");
    let out = run(
        env!("CARGO_BIN_EXE_study"),
        &["show", "sae", "--quick", "--dataset", arg(&acts)],
    );
    let line = one_line_error(&out, "study show on acts.safetensors");
    assert!(line.contains("acts.safetensors"), "{line}");
    assert!(
        line.contains("none named") && line.contains("\"resid\""),
        "{line}"
    );
}

/// Fixtures mutated by byte changes, truncations and replaced header
/// numbers (the same pseudo-random cases on every run): whatever a mutation
/// hits, loading returns (a dataset or one line of error), never panics,
/// and never allocates beyond what the file backs.
#[test]
fn mutated_activation_files_never_panic() {
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    let mut next = move |n: usize| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state % n as u64) as usize
    };
    let numbers = [
        "0",
        "1",
        "-1",
        "4294967296",
        "18446744073709551616",
        "99999999999999999999999999",
    ];
    let dir = tempfile::tempdir().unwrap();
    let sources = [
        ("c_f64.npy", None),
        ("fortran_f32.npy", None),
        ("v2_f64.npy", None),
        ("acts.safetensors", Some("resid")),
        ("single.safetensors", None),
    ];
    let mut loaded = 0;
    for (name, tensor) in sources {
        let good = std::fs::read(fixture(name)).unwrap();
        for case in 0..200 {
            let mut bytes = good.clone();
            let what = match next(3) {
                0 => {
                    let at = next(bytes.len());
                    bytes[at] = next(256) as u8;
                    format!("byte {at} set to {}", bytes[at])
                }
                1 => {
                    let len = next(bytes.len());
                    bytes.truncate(len);
                    format!("truncated to {len} bytes")
                }
                _ => {
                    // A digit run within the first 200 bytes (the header).
                    let head = &bytes[..bytes.len().min(200)];
                    let runs: Vec<usize> = (0..head.len())
                        .filter(|&i| {
                            head[i].is_ascii_digit() && (i == 0 || !head[i - 1].is_ascii_digit())
                        })
                        .collect();
                    let start = runs[next(runs.len())];
                    let end = (start..head.len())
                        .find(|&i| !head[i].is_ascii_digit())
                        .unwrap_or(head.len());
                    let with = numbers[next(numbers.len())];
                    let mut out = bytes[..start].to_vec();
                    out.extend_from_slice(with.as_bytes());
                    out.extend_from_slice(&bytes[end..]);
                    bytes = out;
                    format!("number at byte {start} replaced by {with}")
                }
            };
            let path = dir.path().join(format!("{case}-{name}"));
            std::fs::write(&path, &bytes).unwrap();
            let opts = LoadOptions {
                tensor: tensor.map(str::to_string),
                ..LoadOptions::default()
            };
            match Dataset::load(&path, &opts) {
                Ok(_) => loaded += 1,
                Err(e) => {
                    let line = e.to_string();
                    assert!(!line.contains('\n'), "{name}, {what}: {line:?}");
                }
            }
        }
    }
    // Most mutations are refused, but some (a changed data byte) load: the
    // mutations reach both outcomes.
    assert!(loaded > 0, "no mutated file loaded");
}
