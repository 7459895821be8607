//! The data layer: built-in datasets checked against their documentation,
//! every bad input mapped to its error, file round trips, preprocessing,
//! splits, and synthetic data checked against theory.

mod threads;
use nalgebra::{DMatrix, SymmetricEigen};
use polars::prelude::*;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use tiedae::Error;
use tiedae::data::builtin::embedded_files;
use tiedae::data::idx::{IdxArray, IdxType, write_dataset};
use tiedae::data::{
    CurvedManifold, Dataset, DatasetParts, LoadOptions, ManifoldKind, Scaler, SpikedCovariance,
    csv, parquet, train_test_split,
};

// ---------------------------------------------------------------- helpers

fn readme() -> String {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("datasets/README.md");
    std::fs::read_to_string(p).expect("datasets/README.md")
}

/// Table rows of the README as trimmed cells (backticks removed).
fn table_rows(text: &str) -> Vec<Vec<String>> {
    text.lines()
        .filter(|l| l.trim_start().starts_with('|'))
        .map(|l| {
            l.trim()
                .trim_matches('|')
                .split('|')
                .map(|c| c.trim().trim_matches('`').to_string())
                .collect()
        })
        .collect()
}

/// `file -> (bytes, sha256)` from the README's file table.
fn readme_files() -> Vec<(String, usize, String)> {
    table_rows(&readme())
        .into_iter()
        .filter(|r| r.len() == 3 && r[2].len() == 64 && r[2].chars().all(|c| c.is_ascii_hexdigit()))
        .map(|r| {
            (
                r[0].clone(),
                r[1].parse().expect("byte count"),
                r[2].clone(),
            )
        })
        .collect()
}

/// `dataset -> per-class counts` from the README's class table.
fn readme_class_counts(name: &str) -> Vec<usize> {
    table_rows(&readme())
        .into_iter()
        .find(|r| {
            r[0] == name && r.len() == 11 && r[1..].iter().all(|c| c.parse::<usize>().is_ok())
        })
        .unwrap_or_else(|| panic!("no class-count row for {name} in datasets/README.md"))[1..]
        .iter()
        .map(|c| c.parse().unwrap())
        .collect()
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Unwraps an `Error::Format`, checking it names `path`.
fn format_error(e: Error, path: &Path) -> (String, String) {
    match e {
        Error::Format {
            path: p,
            location,
            reason,
        } => {
            assert_eq!(p, path, "error names the wrong file");
            (location, reason)
        }
        other => panic!(
            "expected Error::Format for {}, got {other:?}",
            path.display()
        ),
    }
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

/// A small labelled dataset with awkward values (tiny, huge, negative, -0).
fn awkward_dataset() -> Dataset {
    let vals = [
        0.1,
        -2.5,
        1e-300,
        7.0, //
        -0.0,
        1e300,
        123456.789,
        -1e-7, //
        3.0,
        0.3333333333333333,
        2.0f64.sqrt(),
        5e-324,
    ];
    let x = DMatrix::from_row_slice(3, 4, &vals);
    Dataset::new("awkward", x, Some(vec![2, 0, 7]), Some((2, 2))).unwrap()
}

fn same_bits(a: &DMatrix<f64>, b: &DMatrix<f64>) -> bool {
    a.shape() == b.shape()
        && a.iter()
            .zip(b.iter())
            .all(|(x, y)| x.to_bits() == y.to_bits())
}

// ------------------------------------------------------ built-in datasets

#[test]
fn embedded_files_match_readme_sha256_and_sizes() {
    let table = readme_files();
    let embedded = embedded_files();
    assert_eq!(table.len(), embedded.len(), "README lists {table:?}");
    for f in &embedded {
        let (_, bytes, sha) = table
            .iter()
            .find(|(name, _, _)| name == f.name)
            .unwrap_or_else(|| panic!("{} missing from datasets/README.md", f.name));
        assert_eq!(f.bytes.len(), *bytes, "{} size", f.name);
        assert_eq!(&sha256_hex(f.bytes), sha, "{} sha256", f.name);
    }
    // Every shipped .gz is embedded (nothing committed that the crate ignores).
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("datasets");
    for entry in std::fs::read_dir(dir).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        if name.ends_with(".gz") {
            assert!(
                embedded.iter().any(|f| f.name == name),
                "{name} not embedded"
            );
        }
    }
}

#[test]
fn builtin_digits_has_documented_shape_classes_and_range() {
    let d = Dataset::builtin("digits").unwrap();
    assert_eq!(d.name(), "digits");
    assert_eq!((d.n_samples(), d.n_features()), (1797, 64));
    assert_eq!(d.image_shape(), Some((8, 8)));
    let counts: Vec<usize> = d.class_counts().unwrap().iter().map(|c| c.1).collect();
    let labels: Vec<u32> = d.class_counts().unwrap().iter().map(|c| c.0).collect();
    assert_eq!(labels, (0..10).collect::<Vec<u32>>());
    assert_eq!(counts, readme_class_counts("digits"));
    // Stored 0..16, divided by 16: every value is k/16 and both ends occur.
    assert!(
        d.x()
            .iter()
            .all(|v| (0.0..=1.0).contains(v) && (v * 16.0).fract() == 0.0)
    );
    assert_eq!(d.x().min(), 0.0);
    assert_eq!(d.x().max(), 1.0);
}

#[test]
fn builtin_mnist10k_has_documented_shape_classes_range_and_order() {
    let m = Dataset::builtin("mnist10k").unwrap();
    assert_eq!((m.n_samples(), m.n_features()), (10000, 784));
    assert_eq!(m.image_shape(), Some((28, 28)));
    let counts: Vec<usize> = m.class_counts().unwrap().iter().map(|c| c.1).collect();
    assert_eq!(counts, readme_class_counts("mnist10k"));
    // Documented order: sorted by label.
    assert!(m.labels().unwrap().windows(2).all(|w| w[0] <= w[1]));
    // Stored bytes divided by 255: v * 255 recovers an integer 0..=255.
    assert!(m.x().iter().all(|&v| {
        let p = (v * 255.0).round();
        (0.0..=255.0).contains(&p) && p / 255.0 == v
    }));
    assert_eq!(m.x().min(), 0.0);
    assert_eq!(m.x().max(), 1.0);
    // Every image has ink: no all-blank rows from a bad conversion.
    assert!(m.x().row_iter().all(|r| r.max() > 0.5));
}

#[test]
fn builtin_names_all_load_and_unknown_names_are_refused() {
    for name in Dataset::builtin_names() {
        assert_eq!(Dataset::builtin(name).unwrap().name(), *name);
    }
    match Dataset::builtin("mnist") {
        Err(Error::UnknownDataset(n)) => assert_eq!(n, "mnist"),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        Dataset::resolve("no/such/file.csv", &LoadOptions::default()),
        Err(Error::UnknownDataset(_))
    ));
    assert_eq!(
        Dataset::resolve("digits", &LoadOptions::default()).unwrap(),
        Dataset::builtin("digits").unwrap()
    );
}

// ------------------------------------------------- Dataset invariants

#[test]
fn dataset_new_rejects_each_invalid_input_naming_it() {
    let ok = DMatrix::from_row_slice(2, 2, &[1.0, 2.0, 3.0, 4.0]);
    let invalid = |r: tiedae::Result<Dataset>, needle: &str| match r {
        Err(Error::InvalidData(m)) => assert!(m.contains(needle), "{m}"),
        other => panic!("expected InvalidData({needle}), got {other:?}"),
    };
    invalid(
        Dataset::new("e", DMatrix::zeros(0, 3), None, None),
        "no rows",
    );
    invalid(
        Dataset::new("o", DMatrix::zeros(1, 3), None, None),
        "only one row",
    );
    invalid(
        Dataset::new("z", DMatrix::zeros(3, 0), None, None),
        "no columns",
    );
    let mut bad = ok.clone();
    bad[(1, 0)] = f64::NAN;
    invalid(Dataset::new("n", bad, None, None), "row 1, column 0");
    let mut bad = ok.clone();
    bad[(0, 1)] = f64::NEG_INFINITY;
    invalid(Dataset::new("i", bad, None, None), "row 0, column 1");

    let shape = |r: tiedae::Result<Dataset>, needle: &str| match r {
        Err(Error::Shape(m)) => assert!(m.contains(needle), "{m}"),
        other => panic!("expected Shape({needle}), got {other:?}"),
    };
    shape(
        Dataset::new("l", ok.clone(), Some(vec![1, 2, 3]), None),
        "3 labels for 2 rows",
    );
    shape(Dataset::new("s", ok.clone(), None, Some((2, 3))), "2 x 3");
    shape(
        Dataset::new("s", ok.clone(), None, Some((usize::MAX, 2))),
        "does not match",
    );
    assert!(Dataset::new("fine", ok, Some(vec![0, 1]), Some((1, 2))).is_ok());
}

#[test]
fn select_rows_keeps_labels_and_checks_indices() {
    let ds = awkward_dataset();
    let sub = ds.select_rows(&[2, 0, 2]).unwrap();
    assert_eq!(sub.labels(), Some(&[7, 2, 7][..]));
    assert_eq!(sub.x().row(0), ds.x().row(2));
    assert_eq!(sub.x().row(1), ds.x().row(0));
    assert_eq!(sub.image_shape(), ds.image_shape());
    assert!(matches!(ds.select_rows(&[0, 3]), Err(Error::Shape(_))));
    assert!(matches!(ds.select_rows(&[1]), Err(Error::InvalidData(_))));
}

#[test]
fn x_as_f32_rounds_to_nearest() {
    let ds = awkward_dataset();
    let x32 = ds.x_as::<f32>();
    assert!(x32.iter().zip(ds.x().iter()).all(|(a, b)| *a == *b as f32));
    assert!(same_bits(&ds.x_as::<f64>(), ds.x()));
}

// -------------------------------------------------------- IDX errors

#[test]
fn idx_bad_inputs_give_format_errors_naming_the_place() {
    let dir = tempfile::tempdir().unwrap();
    let opts = LoadOptions::default();
    let case = |name: &str, bytes: Vec<u8>, loc: &str, reason: &str| {
        let p = write_file(dir.path(), name, &bytes);
        let (l, r) = format_error(Dataset::load(&p, &opts).unwrap_err(), &p);
        assert!(l.contains(loc), "{name}: location {l:?}, expected {loc:?}");
        assert!(
            r.contains(reason),
            "{name}: reason {r:?}, expected {reason:?}"
        );
    };
    let mut good = idx_header(0x08, &[2, 2, 2]);
    good.extend_from_slice(&[1, 2, 3, 4, 5, 6, 7, 8]);

    case("empty.idx", vec![], "header", "empty file");
    let mut m = good.clone();
    m[0] = 0x50;
    case("magic.idx", m, "bytes 0-1", "wrong magic 50 00");
    let mut t = good.clone();
    t[2] = 0x0A;
    case("type.idx", t, "byte 2", "unsupported type byte 0x0a");
    case("rank0.idx", vec![0, 0, 8, 0], "rank", "rank 0");
    case(
        "shorthdr.idx",
        vec![0, 0, 8, 3, 0, 0, 0, 2, 0],
        "dimensions",
        "ends inside",
    );
    let mut o = idx_header(0x0E, &[u32::MAX; 4]);
    o.extend_from_slice(&[0; 16]);
    case("overflow.idx", o, "dimensions", "overflow");
    let mut big = idx_header(0x08, &[60000, 28, 28]);
    big.extend_from_slice(&[0; 100]);
    case(
        "toobig.idx",
        big,
        "dimensions",
        "more than the file can hold",
    );
    // Gzip: the header claims far more than deflate could expand to.
    let mut gbig = idx_header(0x0D, &[1 << 20, 1 << 10]);
    gbig.extend_from_slice(&[0; 64]);
    case(
        "toobig.idx.gz",
        gzip(&gbig),
        "dimensions",
        "more than the file can hold",
    );
    // Gzip: plausible size, but the stream ends early.
    let mut trunc = idx_header(0x08, &[4, 2, 2]);
    trunc.extend_from_slice(&[1; 9]);
    case("trunc.idx.gz", gzip(&trunc), "data", "truncated: 9 of 16");
    let mut trail = good.clone();
    trail.push(9);
    case("trail.idx", trail, "data", "trailing bytes");
    case(
        "trail.gz",
        gzip(&[good.as_slice(), &[1, 2]].concat()),
        "data",
        "trailing bytes",
    );
    let corrupt = {
        // Flip a bit of the CRC32 trailer: the data decodes, the check fails.
        let mut g = gzip(&good);
        let crc = g.len() - 8;
        g[crc] ^= 0x01;
        g
    };
    case("corrupt.gz", corrupt, "gzip", "corrupt gzip");
    let mut nan = idx_header(0x0D, &[2, 1]);
    nan.extend_from_slice(&1.0f32.to_be_bytes());
    nan.extend_from_slice(&f32::NAN.to_be_bytes());
    case("nan.idx", nan, "element 1", "non-finite");
    let mut rank1 = idx_header(0x08, &[3]);
    rank1.extend_from_slice(&[1, 2, 3]);
    case("rank1-ubyte", rank1, "rank", "rank >= 2");
    let mut one = idx_header(0x08, &[1, 2, 2]);
    one.extend_from_slice(&[1, 2, 3, 4]);
    let p = write_file(dir.path(), "one.idx", &one);
    assert!(
        matches!(Dataset::load(&p, &opts), Err(Error::InvalidData(m)) if m.contains("only one row"))
    );
}

#[test]
fn idx_labels_file_errors() {
    let dir = tempfile::tempdir().unwrap();
    let mut img = idx_header(0x08, &[3, 1, 2]);
    img.extend_from_slice(&[1, 2, 3, 4, 5, 6]);
    let images = write_file(dir.path(), "img.idx", &img);
    let load =
        |labels: &Path| Dataset::load(&images, &LoadOptions::default().with_labels_file(labels));

    let mut lab = idx_header(0x08, &[2]);
    lab.extend_from_slice(&[0, 1]);
    let p = write_file(dir.path(), "count.idx", &lab);
    let (l, r) = format_error(load(&p).unwrap_err(), &p);
    assert!(
        l.contains("dimensions") && r.contains("2 labels for 3 images"),
        "{l}: {r}"
    );

    let mut lab = idx_header(0x08, &[3, 1]);
    lab.extend_from_slice(&[0, 1, 2]);
    let p = write_file(dir.path(), "rank.idx", &lab);
    let (_, r) = format_error(load(&p).unwrap_err(), &p);
    assert!(r.contains("labels need rank 1"), "{r}");

    let mut lab = idx_header(0x0D, &[3]);
    for v in [0.0f32, 1.5, 2.0] {
        lab.extend_from_slice(&v.to_be_bytes());
    }
    let p = write_file(dir.path(), "frac.idx", &lab);
    let (l, r) = format_error(load(&p).unwrap_err(), &p);
    assert_eq!(l, "label 1");
    assert!(r.contains("1.5 is not a non-negative integer"), "{r}");

    let mut lab = idx_header(0x09, &[3]);
    lab.extend_from_slice(&[0, 0xFF, 1]); // i8 -1
    let p = write_file(dir.path(), "neg.idx", &lab);
    let (l, _) = format_error(load(&p).unwrap_err(), &p);
    assert_eq!(l, "label 1");

    let mut lab = idx_header(0x08, &[3]);
    lab.extend_from_slice(&[4, 0, 9]);
    let p = write_file(dir.path(), "good-ubyte", &lab);
    assert_eq!(load(&p).unwrap().labels(), Some(&[4, 0, 9][..]));
}

// -------------------------------------------------------- CSV errors

#[test]
fn csv_bad_inputs_give_format_errors_naming_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let labelled = LoadOptions::default().with_label_column("y");
    let case = |name: &str, text: &str, opts: &LoadOptions, loc: &str, reason: &str| {
        let p = write_file(dir.path(), name, text.as_bytes());
        let (l, r) = format_error(Dataset::load(&p, opts).unwrap_err(), &p);
        assert_eq!(l, loc, "{name}: reason was {r:?}");
        assert!(
            r.contains(reason),
            "{name}: reason {r:?}, expected {reason:?}"
        );
    };
    let none = LoadOptions::default();
    case(
        "ragged.csv",
        "a,b\n1,2\n3\n4,5\n",
        &none,
        "line 3",
        "ragged row: 1 fields, the header has 2",
    );
    case("long.csv", "a,b\n1,2\n3,4,5\n", &none, "line 3", "3 fields");
    case(
        "text.csv",
        "a,b\n1,2\n3,abc\n",
        &none,
        "line 3, column \"b\"",
        "cannot parse \"abc\"",
    );
    case(
        "emptycell.csv",
        "a,b\n1,\n3,4\n",
        &none,
        "line 2, column \"b\"",
        "empty cell",
    );
    case(
        "nan.csv",
        "a,b\n1,2\nNaN,4\n",
        &none,
        "line 3, column \"a\"",
        "non-finite value \"NaN\"",
    );
    case(
        "inf.csv",
        "a,b\n1,inf\n3,4\n",
        &none,
        "line 2, column \"b\"",
        "non-finite",
    );
    case(
        "ninf.csv",
        "a,b\n1,2\n3,-infinity\n",
        &none,
        "line 3, column \"b\"",
        "non-finite",
    );
    case("empty.csv", "", &none, "line 1", "empty file");
    case("blank.csv", "\n  \n", &none, "line 1", "empty file");
    case(
        "header.csv",
        "a,b\n",
        &none,
        "line 1 (header)",
        "no data rows",
    );
    case(
        "zero.csv",
        "y\n1\n2\n",
        &labelled,
        "line 1 (header)",
        "no feature columns",
    );
    case("one.csv", "a,b\n1,2\n", &none, "data", "only one data row");
    case(
        "dup.csv",
        "a,b,a\n1,2,3\n4,5,6\n",
        &none,
        "line 1 (header), column \"a\"",
        "duplicate",
    );
    case(
        "noname.csv",
        "a,,c\n1,2,3\n4,5,6\n",
        &none,
        "line 1 (header), column 2",
        "empty column name",
    );
    case(
        "nolabel.csv",
        "a,b\n1,2\n3,4\n",
        &labelled,
        "line 1 (header)",
        "no label column \"y\"",
    );
    case(
        "neglabel.csv",
        "a,y\n1,0\n3,-1\n",
        &labelled,
        "line 3, column \"y\"",
        "not a non-negative integer",
    );
    case(
        "fraclabel.csv",
        "a,y\n1,0.5\n3,1\n",
        &labelled,
        "line 2, column \"y\"",
        "not a non-negative integer",
    );
    case(
        "quote.csv",
        "a,b\n1,\"2\n3,4\n",
        &none,
        "line 2",
        "unterminated",
    );
    let p = write_file(dir.path(), "bin.csv", b"a,b\n1,2\n\xff,4\n");
    let (l, _) = format_error(Dataset::load(&p, &none).unwrap_err(), &p);
    assert_eq!(l, "line 3");
}

#[test]
fn csv_reads_labels_image_shape_and_quotes() {
    let dir = tempfile::tempdir().unwrap();
    let p = write_file(
        dir.path(),
        "img.csv",
        "\u{feff}\"p0\",p1,class, p2,p3\r\n0, 0.5,3,1,0.25\r\n1,1,1,0,0\r\n\r\n".as_bytes(),
    );
    let opts = LoadOptions::default()
        .with_label_column("class")
        .with_image_shape(2, 2);
    let ds = Dataset::load(&p, &opts).unwrap();
    assert_eq!(ds.name(), "img");
    assert_eq!(ds.labels(), Some(&[3, 1][..]));
    assert_eq!(ds.image_shape(), Some((2, 2)));
    assert_eq!(
        ds.x(),
        &DMatrix::from_row_slice(2, 4, &[0.0, 0.5, 1.0, 0.25, 1.0, 1.0, 0.0, 0.0])
    );
    let bad = LoadOptions::default().with_image_shape(3, 3);
    assert!(matches!(Dataset::load(&p, &bad), Err(Error::Shape(_))));
}

// ----------------------------------------------------- Parquet errors

fn write_frame(dir: &Path, name: &str, cols: Vec<Column>) -> PathBuf {
    let p = dir.join(name);
    let mut df = DataFrame::new_infer_height(cols).unwrap();
    let f = std::fs::File::create(&p).unwrap();
    ParquetWriter::new(f).finish(&mut df).unwrap();
    p
}

#[test]
fn parquet_bad_inputs_give_format_errors_naming_row_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let none = LoadOptions::default();
    let labelled = LoadOptions::default().with_label_column("y");
    let case = |p: PathBuf, opts: &LoadOptions, loc: &str, reason: &str| {
        let (l, r) = format_error(Dataset::load(&p, opts).unwrap_err(), &p);
        assert_eq!(l, loc, "{}: reason {r:?}", p.display());
        assert!(
            r.contains(reason),
            "{}: reason {r:?}, expected {reason:?}",
            p.display()
        );
    };
    let a = || Column::new("a".into(), [1.0f64, 2.0, 3.0]);
    case(
        write_frame(
            d,
            "str.parquet",
            vec![a(), Column::new("s".into(), ["u", "v", "w"])],
        ),
        &none,
        "column \"s\"",
        "is not numeric",
    );
    case(
        write_frame(
            d,
            "null.parquet",
            vec![
                a(),
                Column::new("b".into(), [Some(1.0f64), None, Some(3.0)]),
            ],
        ),
        &none,
        "row 1, column \"b\"",
        "missing (null) value",
    );
    case(
        write_frame(
            d,
            "nan.parquet",
            vec![a(), Column::new("b".into(), [1.0f64, 2.0, f64::NAN])],
        ),
        &none,
        "row 2, column \"b\"",
        "non-finite",
    );
    case(
        write_frame(d, "one.parquet", vec![Column::new("a".into(), [1.0f64])]),
        &none,
        "data",
        "only one row",
    );
    case(
        write_frame(
            d,
            "zero.parquet",
            vec![Column::new("a".into(), Vec::<f64>::new())],
        ),
        &none,
        "data",
        "no rows",
    );
    case(
        write_frame(d, "nolabel.parquet", vec![a()]),
        &labelled,
        "schema",
        "no label column \"y\"",
    );
    case(
        write_frame(
            d,
            "onlylabel.parquet",
            vec![Column::new("y".into(), [1u32, 2, 3])],
        ),
        &labelled,
        "schema",
        "no feature columns",
    );
    case(
        write_frame(
            d,
            "neg.parquet",
            vec![a(), Column::new("y".into(), [0i64, -3, 1])],
        ),
        &labelled,
        "row 1, column \"y\"",
        "not a non-negative integer",
    );
    let p = write_file(d, "garbage.parquet", b"this is not parquet at all");
    case(p, &none, "file", "not a readable Parquet file");
    // Integer feature columns of any width are accepted and widened.
    let p = write_frame(
        d,
        "ints.parquet",
        vec![
            Column::new("i".into(), [1i32, -2, 3]),
            Column::new("y".into(), [2i32, 0, 2]),
        ],
    );
    let ds = Dataset::load(&p, &labelled).unwrap();
    assert_eq!(ds.x(), &DMatrix::from_column_slice(3, 1, &[1.0, -2.0, 3.0]));
    assert_eq!(ds.labels(), Some(&[2, 0, 2][..]));
}

// ----------------------------------------------------- load dispatch

#[test]
fn load_dispatch_refuses_unknown_names_and_misplaced_options() {
    let dir = tempfile::tempdir().unwrap();
    let p = write_file(dir.path(), "data.txt", b"a\n1\n2\n");
    assert!(matches!(
        Dataset::load(&p, &LoadOptions::default()),
        Err(Error::Config { field: "path", .. })
    ));
    let p = write_file(dir.path(), "data.csv.gz", b"");
    assert!(matches!(
        Dataset::load(&p, &LoadOptions::default()),
        Err(Error::Config { field: "path", .. })
    ));
    let csv_path = write_file(dir.path(), "d.csv", b"a\n1\n2\n");
    assert!(matches!(
        Dataset::load(&csv_path, &LoadOptions::default().with_labels_file("l.idx")),
        Err(Error::Config {
            field: "labels_file",
            ..
        })
    ));
    let mut img = idx_header(0x08, &[2, 1, 1]);
    img.extend_from_slice(&[1, 2]);
    let idx_path = write_file(dir.path(), "d.idx", &img);
    assert!(matches!(
        Dataset::load(&idx_path, &LoadOptions::default().with_label_column("y")),
        Err(Error::Config {
            field: "label_column",
            ..
        })
    ));
    assert!(matches!(
        Dataset::load(&idx_path, &LoadOptions::default().with_image_shape(1, 2)),
        Err(Error::Shape(_))
    ));
    match Dataset::load(dir.path().join("missing.csv"), &LoadOptions::default()) {
        Err(Error::Io { path, .. }) => assert!(path.ends_with("missing.csv")),
        other => panic!("{other:?}"),
    }
    // resolve() falls back to files.
    assert_eq!(
        Dataset::resolve(csv_path.to_str().unwrap(), &LoadOptions::default())
            .unwrap()
            .n_samples(),
        2
    );
}

// --------------------------------------------------------- round trips

#[test]
fn csv_round_trip_is_bit_exact() {
    let dir = tempfile::tempdir().unwrap();
    let ds = awkward_dataset();
    let p = dir.path().join("awkward.csv");
    csv::write_csv(&ds, &p).unwrap();
    let back = Dataset::load(
        &p,
        &LoadOptions::default()
            .with_label_column("label")
            .with_image_shape(2, 2),
    )
    .unwrap();
    assert!(same_bits(back.x(), ds.x()));
    assert_eq!(back, ds);
    // Without labels there is no label column.
    let DatasetParts { name, x, .. } = ds.into_parts();
    let unl = Dataset::new(name, x, None, None).unwrap();
    csv::write_csv(&unl, &p).unwrap();
    assert_eq!(Dataset::load(&p, &LoadOptions::default()).unwrap(), unl);
}

#[test]
fn parquet_round_trip_is_bit_exact() {
    let dir = tempfile::tempdir().unwrap();
    let ds = awkward_dataset();
    let p = dir.path().join("awkward.parquet");
    parquet::write_parquet(&ds, &p).unwrap();
    let back = Dataset::load(
        &p,
        &LoadOptions::default()
            .with_label_column("label")
            .with_image_shape(2, 2),
    )
    .unwrap();
    assert!(same_bits(back.x(), ds.x()));
    assert_eq!(back, ds);
}

#[test]
fn idx_round_trips_f64_f32_and_u8() {
    let dir = tempfile::tempdir().unwrap();
    let ds = awkward_dataset();
    for gz in [false, true] {
        let img = dir.path().join(if gz { "a.idx.gz" } else { "a.idx" });
        let lab = dir.path().join(if gz {
            "a-labels.idx.gz"
        } else {
            "a-labels.idx"
        });
        write_dataset(&ds, &img, Some(&lab), IdxType::F64, gz).unwrap();
        let back = Dataset::load(&img, &LoadOptions::default().with_labels_file(&lab)).unwrap();
        assert!(same_bits(back.x(), ds.x()));
        assert_eq!(back.with_name("awkward"), ds);
        let raw = std::fs::read(&img).unwrap();
        assert_eq!(raw.starts_with(&[0x1f, 0x8b]), gz);
    }
    // f32/u8 refuse values they would change, and keep values they hold.
    let p = dir.path().join("x.idx");
    assert!(matches!(
        write_dataset(&ds, &p, None, IdxType::F32, false),
        Err(Error::InvalidData(_))
    ));
    assert!(matches!(
        write_dataset(&ds, &p, None, IdxType::U8, false),
        Err(Error::InvalidData(_))
    ));
    assert!(!p.exists(), "a refused write leaves no file");
    let halves = Dataset::new(
        "h",
        DMatrix::from_fn(3, 2, |i, j| i as f64 * 0.5 - j as f64 * 1e6),
        None,
        None,
    )
    .unwrap();
    write_dataset(&halves, &p, None, IdxType::F32, false).unwrap();
    assert_eq!(IdxArray::read(&p).unwrap().kind(), IdxType::F32);
    assert_eq!(
        Dataset::load(&p, &LoadOptions::default()).unwrap().x(),
        halves.x()
    );
    assert!(matches!(
        write_dataset(
            &halves,
            &p,
            Some(&dir.path().join("l.idx")),
            IdxType::F64,
            false
        ),
        Err(Error::Config {
            field: "labels",
            ..
        })
    ));
}

#[test]
fn mnist10k_round_trips_through_idx_u8_gzip() {
    let dir = tempfile::tempdir().unwrap();
    let m = Dataset::builtin("mnist10k").unwrap();
    let DatasetParts {
        name,
        x,
        labels,
        image_shape: shape,
    } = m.clone().into_parts();
    let bytes = Dataset::new(name, x.map(|v| (v * 255.0).round()), labels, shape).unwrap();
    let img = dir.path().join("m-images-idx3-ubyte.gz");
    let lab = dir.path().join("m-labels-idx1-ubyte.gz");
    write_dataset(&bytes, &img, Some(&lab), IdxType::U8, true).unwrap();
    let back = Dataset::load(&img, &LoadOptions::default().with_labels_file(&lab)).unwrap();
    assert_eq!(back.name(), "m-images-idx3-ubyte");
    assert_eq!(back.image_shape(), Some((28, 28)));
    assert_eq!(back.labels(), m.labels());
    assert_eq!(back.x().map(|v| v / 255.0), *m.x());
}

// ------------------------------------------------------ preprocessing

/// Column statistics computed naively here, as an independent oracle.
fn column_stats(x: &DMatrix<f64>) -> Vec<(f64, f64, f64, f64)> {
    (0..x.ncols())
        .map(|j| {
            let c: Vec<f64> = x.column(j).iter().copied().collect();
            let n = c.len() as f64;
            let mean = c.iter().sum::<f64>() / n;
            let var = c.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / n;
            let min = c.iter().copied().fold(f64::INFINITY, f64::min);
            let max = c.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            (mean, var.sqrt(), min, max)
        })
        .collect()
}

#[test]
fn scalers_give_their_documented_column_statistics() {
    let digits = Dataset::builtin("digits").unwrap();
    let x = digits.x();
    let stats = column_stats(x);
    let constant: Vec<bool> = stats.iter().map(|s| s.2 == s.3).collect();
    assert!(
        constant.iter().any(|&c| c),
        "digits has blank-border columns"
    );
    for kind in [Scaler::Center, Scaler::Standardize, Scaler::MinMax] {
        let f = kind.fit(x).unwrap();
        let z = f.transform(x).unwrap();
        assert!(
            z.iter().all(|v| v.is_finite()),
            "{kind:?} produced non-finite values"
        );
        for (j, s) in column_stats(&z).iter().enumerate() {
            let (mean, std, min, max) = *s;
            match kind {
                Scaler::Center => assert!(mean.abs() < 1e-13, "{kind:?} col {j}: mean {mean}"),
                Scaler::Standardize => {
                    assert!(mean.abs() < 1e-12, "col {j}: mean {mean}");
                    let want = if constant[j] { 0.0 } else { 1.0 };
                    assert!((std - want).abs() < 1e-12, "col {j}: std {std}");
                }
                Scaler::MinMax => {
                    let want = if constant[j] { (0.0, 0.0) } else { (0.0, 1.0) };
                    assert!(
                        (min - want.0).abs() < 1e-15 && (max - want.1).abs() < 1e-15,
                        "col {j}: {min}..{max}"
                    );
                }
            }
        }
        let back = f.inverse_transform(&z).unwrap();
        assert!((back - x).abs().max() < 1e-14, "{kind:?} inverse");
    }
}

#[test]
fn fitted_scaler_reuses_training_statistics_on_test_data() {
    let digits = Dataset::builtin("digits").unwrap();
    let (train, test) = train_test_split(&digits, 0.25, 3).unwrap();
    let stats = column_stats(train.x());
    for kind in [Scaler::Center, Scaler::Standardize, Scaler::MinMax] {
        let f = kind.fit(train.x()).unwrap();
        let z = f.transform(test.x()).unwrap();
        let expect = DMatrix::from_fn(test.n_samples(), test.n_features(), |i, j| {
            let (mean, std, min, max) = stats[j];
            let v = test.x()[(i, j)];
            match kind {
                Scaler::Center => v - mean,
                Scaler::Standardize if min == max => v - mean,
                Scaler::Standardize => (v - mean) / std,
                Scaler::MinMax if min == max => v - min,
                Scaler::MinMax => (v - min) / (max - min),
            }
        });
        assert!((&z - &expect).abs().max() < 1e-12, "{kind:?}");
        // And it is not what fitting on the test data would give (means of
        // two random subsets differ; min/max may coincide, so not checked).
        if kind != Scaler::MinMax {
            let own = kind.fit(test.x()).unwrap().transform(test.x()).unwrap();
            assert!(
                (&z - &own).abs().max() > 1e-3,
                "{kind:?} used test statistics"
            );
        }
        let zd = f.transform_dataset(&test).unwrap();
        assert_eq!(zd.x(), &z);
        assert_eq!(zd.labels(), test.labels());
    }
}

#[test]
fn scalers_are_generic_and_check_shapes() {
    let x = DMatrix::from_row_slice(3, 2, &[1.0f32, 10.0, 2.0, 10.0, 6.0, 10.0]);
    let f = Scaler::Standardize.fit(&x).unwrap();
    let z = f.transform(&x).unwrap();
    assert_eq!(z.column(1).iter().copied().collect::<Vec<f32>>(), [0.0; 3]);
    assert!((f.inverse_transform(&z).unwrap() - &x).abs().max() < 1e-5);
    assert!(matches!(
        f.transform(&DMatrix::<f32>::zeros(2, 3)),
        Err(Error::Shape(_))
    ));
    assert!(matches!(
        f.inverse_transform(&DMatrix::<f32>::zeros(2, 1)),
        Err(Error::Shape(_))
    ));
    let mut bad = x.clone();
    bad[(2, 0)] = f32::NAN;
    match f.transform(&bad) {
        Err(Error::InvalidData(m)) => assert!(m.contains("row 2, column 0"), "{m}"),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        Scaler::MinMax.fit(&bad),
        Err(Error::InvalidData(_))
    ));
    assert!(matches!(
        Scaler::Center.fit(&DMatrix::<f64>::zeros(0, 2)),
        Err(Error::InvalidData(_))
    ));
}

// -------------------------------------------------------------- splits

/// A dataset whose first column is the row id, so rows can be traced.
fn traced(n: usize, labels: Option<Vec<u32>>) -> Dataset {
    Dataset::new(
        "traced",
        DMatrix::from_fn(n, 2, |i, j| (i * (1 - j)) as f64),
        labels,
        None,
    )
    .unwrap()
}

fn ids(ds: &Dataset) -> Vec<usize> {
    ds.x().column(0).iter().map(|&v| v as usize).collect()
}

#[test]
fn split_partitions_rows_with_the_requested_sizes() {
    for (n, frac) in [(10, 0.3), (101, 0.2), (1797, 0.25), (5, 0.5)] {
        let ds = traced(n, None);
        let (train, test) = train_test_split(&ds, frac, 11).unwrap();
        let n_test = (n as f64 * frac).round() as usize;
        assert_eq!((train.n_samples(), test.n_samples()), (n - n_test, n_test));
        let mut all: Vec<usize> = ids(&train).into_iter().chain(ids(&test)).collect();
        all.sort_unstable();
        assert_eq!(all, (0..n).collect::<Vec<_>>(), "not a partition");
    }
}

#[test]
fn split_is_stratified_by_label() {
    let digits = Dataset::builtin("digits").unwrap();
    let mnist = Dataset::builtin("mnist10k").unwrap();
    let skewed = traced(
        200,
        Some(
            (0..200)
                .map(|i| {
                    if i < 170 {
                        0
                    } else if i < 197 {
                        1
                    } else {
                        2
                    }
                })
                .collect(),
        ),
    );
    for (ds, frac) in [(&digits, 0.2), (&mnist, 0.1), (&skewed, 0.3)] {
        let (train, test) = train_test_split(ds, frac, 5).unwrap();
        let full = ds.class_counts().unwrap();
        let tc = test.class_counts().unwrap_or_default();
        let trc = train.class_counts().unwrap();
        for &(label, count) in &full {
            let k = tc.iter().find(|c| c.0 == label).map_or(0, |c| c.1);
            let r = trc.iter().find(|c| c.0 == label).map_or(0, |c| c.1);
            assert_eq!(k + r, count);
            assert!(
                (k as f64 - count as f64 * frac).abs() < 1.0,
                "{}: label {label}: {k} of {count}",
                ds.name()
            );
        }
    }
    // A label-sorted source comes out shuffled.
    let (train, _) = train_test_split(&mnist, 0.1, 5).unwrap();
    assert!(!train.labels().unwrap().windows(2).all(|w| w[0] <= w[1]));
}

#[test]
fn split_is_deterministic_and_seed_dependent() {
    let labelled = traced(300, Some((0..300).map(|i| (i % 7) as u32).collect()));
    let unlabelled = traced(300, None);
    for ds in [&labelled, &unlabelled] {
        let a = train_test_split(ds, 0.3, 42).unwrap();
        let b = train_test_split(ds, 0.3, 42).unwrap();
        let c = train_test_split(ds, 0.3, 43).unwrap();
        assert_eq!(a, b);
        assert_ne!(ids(&a.1), ids(&c.1));
    }
}

#[test]
fn split_rejects_bad_fractions() {
    let ds = traced(10, None);
    for f in [0.0, 1.0, -0.1, 1.5, f64::NAN, f64::INFINITY, 0.1, 0.9] {
        assert!(
            matches!(
                train_test_split(&ds, f, 0),
                Err(Error::Config {
                    field: "test_fraction",
                    ..
                })
            ),
            "fraction {f}"
        );
    }
}

// ----------------------------------------------------------- synthetic

/// Top-k eigenvectors (as rows) and all eigenvalues (descending) of the
/// sample covariance, by nalgebra's symmetric eigensolver.
fn top_eigen(x: &DMatrix<f64>, k: usize) -> (DMatrix<f64>, Vec<f64>) {
    let n = x.nrows() as f64;
    let mean = x.row_mean();
    let mut c = x.clone();
    for mut r in c.row_iter_mut() {
        r -= &mean;
    }
    let cov = c.transpose() * &c / n;
    let eig = SymmetricEigen::new(cov);
    let mut order: Vec<usize> = (0..eig.eigenvalues.len()).collect();
    order.sort_by(|&a, &b| eig.eigenvalues[b].total_cmp(&eig.eigenvalues[a]));
    let vecs = DMatrix::from_fn(k, x.ncols(), |i, j| eig.eigenvectors[(j, order[i])]);
    (vecs, order.iter().map(|&i| eig.eigenvalues[i]).collect())
}

/// Cosines of the principal angles between the row spaces of `a` and `b`
/// (both with orthonormal rows): singular values of `a bᵀ`.
fn principal_cosines(a: &DMatrix<f64>, b: &DMatrix<f64>) -> Vec<f64> {
    (a * b.transpose())
        .singular_values()
        .iter()
        .copied()
        .collect()
}

#[test]
fn spiked_covariance_top_eigenvectors_span_the_true_basis() {
    let spec = SpikedCovariance::new(4000, 30, vec![10.0, 6.0, 3.0], 1.0, 9);
    let s = spec.generate().unwrap();
    assert_eq!((s.dataset.n_samples(), s.dataset.n_features()), (4000, 30));
    let b = &s.basis;
    assert!((b * b.transpose() - DMatrix::identity(3, 3)).abs().max() < 1e-12);
    let (v, ev) = top_eigen(s.dataset.x(), 3);
    let cos = principal_cosines(b, &v);
    assert!(cos.iter().all(|&c| c > 0.99), "principal cosines {cos:?}");
    // Each eigenvector matches its own spike direction (the spikes are distinct).
    for j in 0..3 {
        let c = b.row(j).dot(&v.row(j)).abs();
        assert!(c > 0.98, "direction {j}: |cos| {c}");
    }
    // Eigenvalues near the population ones: s_j + sigma², then sigma².
    let pop = spec.population_eigenvalues();
    for j in 0..3 {
        assert!(
            (ev[j] / pop[j] - 1.0).abs() < 0.1,
            "eigenvalue {j}: {} vs {}",
            ev[j],
            pop[j]
        );
    }
    let bulk = ev[3..].iter().sum::<f64>() / 27.0;
    assert!((bulk - 1.0).abs() < 0.1, "bulk eigenvalue mean {bulk}");
    // The residual after removing the stated signal is the isotropic noise.
    let resid = s.dataset.x() - &s.latent * b;
    let var = resid.iter().map(|v| v * v).sum::<f64>() / resid.len() as f64;
    assert!((var - 1.0).abs() < 0.03, "noise variance {var}");
    // The oracle can fail: another seed's basis is not recovered.
    let other = SpikedCovariance::new(50, 30, vec![10.0, 6.0, 3.0], 1.0, 10)
        .generate()
        .unwrap();
    let cos = principal_cosines(&other.basis, &v);
    assert!(
        cos.iter().any(|&c| c < 0.9),
        "unrelated basis looks recovered: {cos:?}"
    );
}

#[test]
fn synthetic_data_is_bit_reproducible_across_thread_counts() {
    let spiked = SpikedCovariance::new(1000, 12, vec![4.0, 2.0], 0.5, 77);
    let curve = CurvedManifold::new(700, 9, ManifoldKind::SwissRoll, 0.1, 77);
    let run = |threads: usize| {
        threads::on_threads(threads, || {
            (spiked.generate().unwrap(), curve.generate().unwrap())
        })
    };
    let (a1, b1) = run(1);
    let (a3, b3) = run(3);
    assert!(same_bits(a1.dataset.x(), a3.dataset.x()));
    assert!(same_bits(&a1.basis, &a3.basis));
    assert!(same_bits(b1.dataset.x(), b3.dataset.x()));
    assert!(same_bits(&b1.intrinsic, &b3.intrinsic));
    let mut other = spiked.clone();
    other.seed = 78;
    assert!(!same_bits(
        other.generate().unwrap().dataset.x(),
        a1.dataset.x()
    ));
}

#[test]
fn curve_has_the_theoretical_pca_spectrum_and_exact_embedding() {
    let h = 3;
    let spec = CurvedManifold::new(20000, 20, ManifoldKind::Curve { harmonics: h }, 0.0, 5);
    let s = spec.generate().unwrap();
    let e = &s.embedding;
    assert_eq!(e.shape(), (2 * h, 20));
    assert!(
        (e * e.transpose() - DMatrix::identity(2 * h, 2 * h))
            .abs()
            .max()
            < 1e-12
    );
    // Noise-free: x = points * E exactly (up to rounding), points = f(t).
    assert!((s.dataset.x() - &s.points * e).abs().max() < 1e-12);
    assert!(matches!(spec.kind.point(&[1.0, 2.0]), Err(Error::Shape(_))));
    for i in 0..100 {
        let pt = spec.kind.point(&[s.intrinsic[(i, 0)]]).unwrap();
        let c = s.intrinsic[(i, 0)];
        assert!((0.0..2.0 * std::f64::consts::PI).contains(&c));
        for j in 1..=h {
            let jf = j as f64;
            assert!((pt[2 * j - 2] - (jf * c).cos() / jf).abs() < 1e-15);
            assert!((s.points[(i, 2 * j - 1)] - (jf * c).sin() / jf).abs() < 1e-15);
        }
    }
    // Theory: harmonic j spans two directions of variance 1 / (2 j²); rank 2h.
    let (_, ev) = top_eigen(s.dataset.x(), 1);
    for j in 1..=h {
        let want = 0.5 / (j * j) as f64;
        for ev in &ev[2 * j - 2..2 * j] {
            assert!(
                (ev / want - 1.0).abs() < 0.05,
                "harmonic {j}: {ev} vs {want}"
            );
        }
    }
    assert!(
        ev[2 * h..].iter().all(|v| v.abs() < 1e-10),
        "rank exceeds 2h: {:?}",
        &ev[2 * h..]
    );
}

#[test]
fn swiss_roll_coordinates_and_noise_follow_the_definition() {
    let sigma = 0.2;
    let s = CurvedManifold::new(5000, 8, ManifoldKind::SwissRoll, sigma, 1)
        .generate()
        .unwrap();
    assert_eq!(s.intrinsic.ncols(), 2);
    let pi = std::f64::consts::PI;
    for i in 0..s.intrinsic.nrows() {
        let (t, h) = (s.intrinsic[(i, 0)], s.intrinsic[(i, 1)]);
        assert!((1.5 * pi..4.5 * pi).contains(&t) && (0.0..21.0).contains(&h));
        let p = s.points.row(i);
        assert!(
            (p[0] - t * t.cos()).abs() < 1e-12 && p[1] == h && (p[2] - t * t.sin()).abs() < 1e-12
        );
    }
    let resid = s.dataset.x() - &s.points * &s.embedding;
    let var = resid.iter().map(|v| v * v).sum::<f64>() / resid.len() as f64;
    assert!(
        (var / (sigma * sigma) - 1.0).abs() < 0.05,
        "noise variance {var}"
    );
}

#[test]
fn synthetic_specs_are_validated_field_by_field() {
    let field = |r: tiedae::Result<()>| match r {
        Err(Error::Config { field, .. }) => field,
        other => panic!("expected Config, got {other:?}"),
    };
    let sp = |n, d, s: Vec<f64>, sigma| SpikedCovariance::new(n, d, s, sigma, 0).validate();
    assert_eq!(field(sp(1, 5, vec![1.0], 1.0)), "n_samples");
    assert_eq!(field(sp(10, 0, vec![1.0], 1.0)), "n_features");
    assert_eq!(field(sp(10, 2, vec![1.0; 3], 1.0)), "spikes");
    assert_eq!(field(sp(10, 2, vec![], 1.0)), "spikes");
    assert_eq!(field(sp(10, 2, vec![1.0, 0.0], 1.0)), "spikes");
    assert_eq!(field(sp(10, 2, vec![f64::NAN], 1.0)), "spikes");
    assert_eq!(field(sp(10, 2, vec![1.0], -1.0)), "noise_sigma");
    assert_eq!(field(sp(10, 2, vec![1.0], f64::INFINITY)), "noise_sigma");
    assert_eq!(field(sp(usize::MAX, 2, vec![1.0], 1.0)), "n_samples");
    let mf = |d, kind| CurvedManifold::new(10, d, kind, 0.0, 0).validate();
    assert_eq!(
        field(mf(5, ManifoldKind::Curve { harmonics: 0 })),
        "harmonics"
    );
    assert_eq!(
        field(mf(5, ManifoldKind::Curve { harmonics: 3 })),
        "n_features"
    );
    assert_eq!(field(mf(2, ManifoldKind::SwissRoll)), "n_features");
    assert!(mf(3, ManifoldKind::SwissRoll).is_ok());
    assert!(
        SpikedCovariance::new(1, 5, vec![1.0], 1.0, 0)
            .generate()
            .is_err()
    );
}

#[test]
fn synthetic_rows_follow_the_documented_block_seeding() {
    // Block b (rows b*BLOCK_ROWS..) draws from seeded(derive_seed(seed, b + 1)),
    // each spiked row taking k latent normals then d noise normals. Rebuild
    // one row of block 2 from that description alone.
    use rand::RngExt;
    use tiedae::data::synthetic::BLOCK_ROWS;
    use tiedae::rng::{derive_seed, seeded};
    let (k, d, seed) = (2, 5, 1234);
    let spec = SpikedCovariance::new(3 * BLOCK_ROWS, d, vec![4.0, 1.0], 0.5, seed);
    let s = spec.generate().unwrap();
    let row = 2 * BLOCK_ROWS + 17;
    let mut rng = seeded(derive_seed(seed, 3));
    for _ in 0..17 * (k + d) {
        let _: f64 = rng.sample(rand_distr::StandardNormal);
    }
    let z: Vec<f64> = (0..k)
        .map(|_| rng.sample(rand_distr::StandardNormal))
        .collect();
    let e: Vec<f64> = (0..d)
        .map(|_| rng.sample(rand_distr::StandardNormal))
        .collect();
    assert_eq!(s.latent[(row, 0)], 2.0 * z[0]);
    assert_eq!(s.latent[(row, 1)], 1.0 * z[1]);
    for (c, noise) in e.iter().enumerate() {
        let signal = s.latent[(row, 0)] * s.basis[(0, c)] + s.latent[(row, 1)] * s.basis[(1, c)];
        assert!((s.dataset.x()[(row, c)] - (signal + 0.5 * noise)).abs() < 1e-14);
    }
}
