//! The CSV reader and writer for numeric data sets.
//!
//! Records are split by the csv crate; the checks below name the line,
//! then the columns go through [`dataset_from_frame`], the one path from a
//! frame to a dataset that Parquet files take too.
//!
//! Format read: UTF-8, comma-separated, a header row of column names first,
//! then one sample per line. Fields may be double-quoted (`""` escapes a
//! quote) but may not span lines. Blank lines are skipped. Every cell must
//! parse as a finite number; the optional label column must hold non-negative
//! integers (`3` or `3.0`). Errors name the file, the 1-based line and the
//! column, e.g. `data.csv: line 7, column "x2": cannot parse "abc" as a number`.
//!
//! Format written: header `x0,...,x{d-1}` plus `label` when the dataset has
//! labels; values in Rust's shortest round-trip notation, so reading the file
//! back gives bit-identical values.

use super::Dataset;
use super::parquet::dataset_from_frame;
use crate::atomic::write_atomic;
use crate::error::{Error, Result};
use polars::prelude::{Column, DataFrame};
use std::path::Path;

/// Name of the label column [`write_csv`] writes.
pub const LABEL_COLUMN: &str = "label";

/// Reads a CSV file into a dataset named after the file's stem.
///
/// `label_column` names the column holding class labels (it must exist);
/// `image_shape` declares each row a row-major image of that shape.
pub fn read_csv(
    path: &Path,
    label_column: Option<&str>,
    image_shape: Option<(usize, usize)>,
) -> Result<Dataset> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let text = std::str::from_utf8(&bytes).map_err(|e| {
        let line = 1 + bytes[..e.valid_up_to()]
            .iter()
            .filter(|&&b| b == b'\n')
            .count();
        Error::format(path, format!("line {line}"), "not valid UTF-8")
    })?;
    parse_csv(text, path, label_column, image_shape)
}

/// One record of the file: its 1-based line and its trimmed fields.
type Record = (usize, Vec<String>);

/// Splits CSV text into records with the csv crate (quotes, `""`
/// escapes, CRLF), skipping blank lines. A quoted field that runs past its
/// line is refused: the format keeps one sample per line, so a newline in
/// a field means a quote was never closed.
fn records(text: &str, path: &Path) -> Result<Vec<Record>> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let mut out = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| {
            let line = e.position().map_or(1, |p| p.line() as usize);
            Error::format(path, format!("line {line}"), e.to_string())
        })?;
        let line = record.position().map_or(1, |p| p.line() as usize);
        if record.iter().any(|f| f.contains(['\n', '\r'])) {
            return Err(Error::format(
                path,
                format!("line {line}"),
                "unterminated quoted field (a field may not span lines)",
            ));
        }
        let fields: Vec<String> = record.iter().map(str::to_string).collect();
        if fields.iter().all(String::is_empty) && fields.len() <= 1 {
            continue; // a blank (or whitespace-only) line
        }
        out.push((line, fields));
    }
    Ok(out)
}

/// Parses CSV text (see the module docs); `path` names the source in errors.
///
/// The records are checked here, where their lines are known, then handed
/// as a frame of numeric columns to [`dataset_from_frame`], the path
/// Parquet files take too.
pub fn parse_csv(
    text: &str,
    path: &Path,
    label_column: Option<&str>,
    image_shape: Option<(usize, usize)>,
) -> Result<Dataset> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut lines = records(text, path)?.into_iter();
    let (header_line, names) = lines
        .next()
        .ok_or_else(|| Error::format(path, "line 1", "empty file: a header row is required"))?;
    for (j, name) in names.iter().enumerate() {
        if name.is_empty() {
            return Err(Error::format(
                path,
                format!("line {header_line} (header), column {}", j + 1),
                "empty column name",
            ));
        }
        if names[..j].contains(name) {
            return Err(Error::format(
                path,
                format!("line {header_line} (header), column {:?}", name),
                "duplicate column name",
            ));
        }
    }
    let label_idx = match label_column {
        None => None,
        Some(l) => Some(names.iter().position(|n| n == l).ok_or_else(|| {
            Error::format(
                path,
                format!("line {header_line} (header)"),
                format!("no label column {l:?}; columns are {}", names.join(", ")),
            )
        })?),
    };
    if names.len() == usize::from(label_idx.is_some()) {
        return Err(Error::format(
            path,
            format!("line {header_line} (header)"),
            "no feature columns",
        ));
    }

    let mut columns: Vec<Vec<f64>> = vec![Vec::new(); names.len()];
    for (line_no, fields) in lines {
        if fields.len() != names.len() {
            return Err(Error::format(
                path,
                format!("line {line_no}"),
                format!(
                    "ragged row: {} fields, the header has {}",
                    fields.len(),
                    names.len()
                ),
            ));
        }
        for (j, cell) in fields.iter().enumerate() {
            let place = || format!("line {line_no}, column {:?}", names[j]);
            let v: f64 = cell.parse().map_err(|_| {
                let what = if cell.is_empty() {
                    "empty cell: expected a number".to_string()
                } else {
                    format!("cannot parse {cell:?} as a number")
                };
                Error::format(path, place(), what)
            })?;
            if !v.is_finite() {
                return Err(Error::format(
                    path,
                    place(),
                    format!("non-finite value {cell:?}"),
                ));
            }
            if Some(j) == label_idx
                && (v.fract() != 0.0 || !(0.0..=f64::from(u32::MAX)).contains(&v))
            {
                return Err(Error::format(
                    path,
                    place(),
                    format!("label {cell:?} is not a non-negative integer"),
                ));
            }
            columns[j].push(v);
        }
    }
    match columns[0].len() {
        0 => {
            return Err(Error::format(
                path,
                format!("line {header_line} (header)"),
                "header only: no data rows",
            ));
        }
        1 => {
            return Err(Error::format(
                path,
                "data",
                "only one data row; at least two samples are needed",
            ));
        }
        _ => {}
    }
    let n = columns[0].len();
    let frame = DataFrame::new(
        n,
        names
            .iter()
            .zip(columns)
            .map(|(name, values)| Column::new(name.as_str().into(), values))
            .collect(),
    )?;
    dataset_from_frame(&frame, path, label_column, image_shape)
}

/// Writes `ds` as CSV (see the module docs), atomically.
pub fn write_csv(ds: &Dataset, path: &Path) -> Result<()> {
    write_atomic(path, |w| {
        let io = |e| Error::io(path, e);
        let d = ds.n_features();
        let mut header: Vec<String> = (0..d).map(|j| format!("x{j}")).collect();
        if ds.labels().is_some() {
            header.push(LABEL_COLUMN.to_string());
        }
        writeln!(w, "{}", header.join(",")).map_err(io)?;
        let mut line = String::new();
        for i in 0..ds.n_samples() {
            line.clear();
            for j in 0..d {
                if j > 0 {
                    line.push(',');
                }
                // `{:?}` is the shortest representation that parses back to
                // the same f64, and uses exponents for very large/small values.
                line.push_str(&format!("{:?}", ds.x()[(i, j)]));
            }
            if let Some(l) = ds.labels() {
                line.push_str(&format!(",{}", l[i]));
            }
            writeln!(w, "{line}").map_err(io)?;
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(s: &str) -> Vec<String> {
        let mut r = records(s, Path::new("t.csv")).unwrap();
        assert_eq!(r.len(), 1, "{s:?}");
        r.remove(0).1
    }

    #[test]
    fn splits_quoted_and_plain_fields() {
        assert_eq!(fields("a, b ,c"), ["a", "b", "c"]);
        assert_eq!(
            fields(r#""x,1","say ""hi""",3"#),
            ["x,1", r#"say "hi""#, "3"]
        );
        assert_eq!(fields("1,,2"), ["1", "", "2"]);
        assert_eq!(fields("1,"), ["1", ""]);
        // A quote left open swallows the next line: refused, naming the
        // line it opened on.
        match records("a\n\"open\n1\n", Path::new("t.csv")) {
            Err(Error::Format { location, .. }) => assert_eq!(location, "line 2"),
            other => panic!("expected a format error, got {other:?}"),
        }
        // Blank and whitespace-only lines are skipped; lines are counted.
        let r = records("a\n\n  \n1\n", Path::new("t.csv")).unwrap();
        assert_eq!(r, [(1, vec!["a".to_string()]), (4, vec!["1".to_string()])]);
    }

    #[test]
    fn parses_header_labels_and_crlf() {
        let ds = parse_csv(
            "a,label,b\r\n1,3,2.5\r\n\r\n-1e2,0,4\r\n",
            Path::new("t.csv"),
            Some("label"),
            None,
        )
        .unwrap();
        assert_eq!(
            ds.x(),
            &nalgebra::DMatrix::from_row_slice(2, 2, &[1.0, 2.5, -100.0, 4.0])
        );
        assert_eq!(ds.labels(), Some(&[3u32, 0][..]));
        assert_eq!(ds.name(), "t");
    }
}
