//! The CSV reader and writer for numeric data sets.
//!
//! Records are split by the csv crate; the checks below name the line,
//! then the columns go through [`dataset_from_frame`], the one path from a
//! frame to a dataset that Parquet files take too. Cells are parsed from
//! the reader's byte records straight into `f64`, one reused record buffer
//! for the whole file, so memory follows the numbers rather than the text.
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
use super::file::read_regular;
pub use super::frame::LABEL_COLUMN;
use super::frame::dataset_from_frame;
use crate::atomic::write_atomic;
use crate::error::{Error, Result};
use polars::prelude::{Column, DataFrame};
use std::collections::HashSet;
use std::path::Path;

/// Reads a CSV file into a dataset named after the file's stem.
///
/// `label_column` names the column holding class labels (it must exist);
/// `image_shape` declares each row a row-major image of that shape.
pub fn read_csv(
    path: &Path,
    label_column: Option<&str>,
    image_shape: Option<(usize, usize)>,
) -> Result<Dataset> {
    // The file's bytes are dropped before the matrix is built, so the text,
    // the parsed columns and the matrix are never all alive at once.
    let frame = {
        let bytes = read_regular(path)?;
        let text = std::str::from_utf8(&bytes).map_err(|e| {
            let line = 1 + bytes[..e.valid_up_to()]
                .iter()
                .filter(|&&b| b == b'\n')
                .count();
            Error::format(path, format!("line {line}"), "not valid UTF-8")
        })?;
        parse_frame(text, path, label_column)?
    };
    dataset_from_frame(&frame, path, label_column, image_shape)
}

/// The records of CSV text, split by the csv crate (quotes, `""` escapes,
/// CRLF) into one reused buffer, blank lines skipped. A quoted field that
/// runs past its line is refused: the format keeps one sample per line, so
/// a newline in a field means a quote was never closed.
struct Records<'a> {
    reader: csv::Reader<&'a [u8]>,
    record: csv::ByteRecord,
    path: &'a Path,
}

impl<'a> Records<'a> {
    fn new(text: &'a str, path: &'a Path) -> Self {
        let reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .from_reader(text.as_bytes());
        Records {
            reader,
            record: csv::ByteRecord::new(),
            path,
        }
    }

    /// Reads the next record that is not blank and returns its 1-based
    /// line (its fields are then [`Records::fields`]); `None` at the end.
    fn advance(&mut self) -> Result<Option<usize>> {
        loop {
            let more = self
                .reader
                .read_byte_record(&mut self.record)
                .map_err(|e| {
                    let line = e.position().map_or(1, |p| p.line() as usize);
                    Error::format(self.path, format!("line {line}"), e.to_string())
                })?;
            if !more {
                return Ok(None);
            }
            let line = self.record.position().map_or(1, |p| p.line() as usize);
            if self
                .record
                .iter()
                .any(|f| f.contains(&b'\n') || f.contains(&b'\r'))
            {
                return Err(Error::format(
                    self.path,
                    format!("line {line}"),
                    "unterminated quoted field (a field may not span lines)",
                ));
            }
            // A blank (or whitespace-only) line.
            if self.record.len() <= 1 && self.fields().all(|f| f.is_empty()) {
                continue;
            }
            return Ok(Some(line));
        }
    }

    /// The current record's fields, without surrounding ASCII whitespace.
    fn fields(&self) -> impl Iterator<Item = &[u8]> {
        self.record.iter().map(|f| f.trim_ascii())
    }

    /// The current record's field count.
    fn len(&self) -> usize {
        self.record.len()
    }
}

/// A field as text. The fields of a `&str` are split at ASCII bytes, so
/// they are valid UTF-8 and nothing is replaced.
fn field_text(f: &[u8]) -> std::borrow::Cow<'_, str> {
    String::from_utf8_lossy(f)
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
    let frame = parse_frame(text, path, label_column)?;
    dataset_from_frame(&frame, path, label_column, image_shape)
}

/// The frame of CSV text: one `Float64` column per header name, every
/// cell checked (a number, finite, an integer label).
fn parse_frame(text: &str, path: &Path, label_column: Option<&str>) -> Result<DataFrame> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut records = Records::new(text, path);
    let (header_line, names) = header_names(&mut records, path)?;
    let label_idx = label_index(&names, label_column, header_line, path)?;
    let columns = read_columns(&mut records, &names, label_idx, path)?;
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
    Ok(DataFrame::new(
        n,
        names
            .iter()
            .zip(columns)
            .map(|(name, values)| Column::new(name.as_str().into(), values))
            .collect(),
    )?)
}

/// The header row's line and column names, each non-empty and none
/// repeated.
///
/// Errors: [`Error::Format`] naming `path` and the header's line for an
/// empty file, an empty column name or a duplicate.
fn header_names(records: &mut Records<'_>, path: &Path) -> Result<(usize, Vec<String>)> {
    let header_line = records
        .advance()?
        .ok_or_else(|| Error::format(path, "line 1", "empty file: a header row is required"))?;
    let names: Vec<String> = records
        .fields()
        .map(|f| field_text(f).into_owned())
        .collect();
    let mut seen = HashSet::with_capacity(names.len());
    for (j, name) in names.iter().enumerate() {
        if name.is_empty() {
            return Err(Error::format(
                path,
                format!("line {header_line} (header), column {}", j + 1),
                "empty column name",
            ));
        }
        if !seen.insert(name.as_str()) {
            return Err(Error::format(
                path,
                format!("line {header_line} (header), column {:?}", name),
                "duplicate column name",
            ));
        }
    }
    Ok((header_line, names))
}

/// The index of `label_column` among `names`, checked to leave at least
/// one feature column.
///
/// Errors: [`Error::Format`] naming `path` and the header's line for a
/// label column the header lacks or no feature columns.
fn label_index(
    names: &[String],
    label_column: Option<&str>,
    header_line: usize,
    path: &Path,
) -> Result<Option<usize>> {
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
    Ok(label_idx)
}

/// The data rows after the header, column by column, each row as long as
/// the header and each cell checked by [`cell_value`].
///
/// Errors: [`Error::Format`] naming `path` and the line for a ragged row
/// or a bad cell (then the column too).
fn read_columns(
    records: &mut Records<'_>,
    names: &[String],
    label_idx: Option<usize>,
    path: &Path,
) -> Result<Vec<Vec<f64>>> {
    let mut columns: Vec<Vec<f64>> = vec![Vec::new(); names.len()];
    while let Some(line_no) = records.advance()? {
        if records.len() != names.len() {
            return Err(Error::format(
                path,
                format!("line {line_no}"),
                format!(
                    "ragged row: {} fields, the header has {}",
                    records.len(),
                    names.len()
                ),
            ));
        }
        for (j, cell) in records.fields().enumerate() {
            // Formatted only for an error: this runs once per cell.
            let place = || format!("line {line_no}, column {:?}", names[j]);
            columns[j].push(cell_value(cell, Some(j) == label_idx, place, path)?);
        }
    }
    Ok(columns)
}

/// One cell's value: a finite number, and for the label column a
/// non-negative integer within `u32`.
///
/// Errors: [`Error::Format`] naming `path` and `place()` (the line and
/// column) for an empty or unparsable cell, a non-finite value or a label
/// that is not a non-negative integer.
fn cell_value(cell: &[u8], label: bool, place: impl Fn() -> String, path: &Path) -> Result<f64> {
    let v: f64 = std::str::from_utf8(cell)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| {
            let what = if cell.is_empty() {
                "empty cell: expected a number".to_string()
            } else {
                format!("cannot parse {:?} as a number", field_text(cell))
            };
            Error::format(path, place(), what)
        })?;
    if !v.is_finite() {
        return Err(Error::format(
            path,
            place(),
            format!("non-finite value {:?}", field_text(cell)),
        ));
    }
    if label && (v.fract() != 0.0 || !(0.0..=f64::from(u32::MAX)).contains(&v)) {
        return Err(Error::format(
            path,
            place(),
            format!("label {:?} is not a non-negative integer", field_text(cell)),
        ));
    }
    Ok(v)
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

    /// Every non-blank record of `s` with its line, fields as text.
    fn records(s: &str, path: &Path) -> Result<Vec<(usize, Vec<String>)>> {
        let mut r = Records::new(s, path);
        let mut out = Vec::new();
        while let Some(line) = r.advance()? {
            out.push((
                line,
                r.fields().map(|f| field_text(f).into_owned()).collect(),
            ));
        }
        Ok(out)
    }

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
