//! A small CSV reader and writer for numeric data sets.
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
use crate::atomic::write_atomic;
use crate::error::{Error, Result};
use nalgebra::DMatrix;
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

/// Parses CSV text (see the module docs); `path` names the source in errors.
pub fn parse_csv(
    text: &str,
    path: &Path,
    label_column: Option<&str>,
    image_shape: Option<(usize, usize)>,
) -> Result<Dataset> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut lines = text
        .split('\n')
        .enumerate()
        .map(|(i, l)| (i + 1, l.strip_suffix('\r').unwrap_or(l)))
        .filter(|(_, l)| !l.trim().is_empty());

    let (header_line, header) = lines
        .next()
        .ok_or_else(|| Error::format(path, "line 1", "empty file: a header row is required"))?;
    let names = split_fields(header, path, header_line)?;
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
    let d = names.len() - usize::from(label_idx.is_some());
    if d == 0 {
        return Err(Error::format(
            path,
            format!("line {header_line} (header)"),
            "no feature columns",
        ));
    }

    let mut values = Vec::new();
    let mut labels = label_idx.map(|_| Vec::new());
    let mut n = 0usize;
    for (line_no, line) in lines {
        let fields = split_fields(line, path, line_no)?;
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
            if Some(j) == label_idx {
                if v.fract() != 0.0 || !(0.0..=f64::from(u32::MAX)).contains(&v) {
                    return Err(Error::format(
                        path,
                        place(),
                        format!("label {cell:?} is not a non-negative integer"),
                    ));
                }
                labels.as_mut().expect("label column").push(v as u32);
            } else {
                values.push(v);
            }
        }
        n += 1;
    }
    match n {
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
    let x = DMatrix::from_row_slice(n, d, &values);
    Dataset::new(super::idx::file_stem(path), x, labels, image_shape)
}

/// Splits one line into trimmed fields, honouring double quotes.
fn split_fields(line: &str, path: &Path, line_no: usize) -> Result<Vec<String>> {
    let mut fields = Vec::new();
    let mut chars = line.chars().peekable();
    loop {
        while chars.next_if(|c| *c == ' ' || *c == '\t').is_some() {}
        let mut field = String::new();
        if chars.next_if_eq(&'"').is_some() {
            loop {
                match chars.next() {
                    None => {
                        return Err(Error::format(
                            path,
                            format!("line {line_no}"),
                            "unterminated quoted field",
                        ));
                    }
                    Some('"') if chars.next_if_eq(&'"').is_some() => field.push('"'),
                    Some('"') => break,
                    Some(c) => field.push(c),
                }
            }
            while chars.next_if(|c| *c == ' ' || *c == '\t').is_some() {}
            if !matches!(chars.peek(), None | Some(',')) {
                return Err(Error::format(
                    path,
                    format!("line {line_no}"),
                    "text after a closing quote",
                ));
            }
        } else {
            while let Some(c) = chars.next_if(|c| *c != ',') {
                field.push(c);
            }
            field.truncate(field.trim_end().len());
        }
        fields.push(field);
        if chars.next().is_none() {
            return Ok(fields);
        }
    }
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
        split_fields(s, Path::new("t.csv"), 1).unwrap()
    }

    #[test]
    fn splits_quoted_and_plain_fields() {
        assert_eq!(fields("a, b ,c"), ["a", "b", "c"]);
        assert_eq!(
            fields(r#""x,1", "say ""hi""" ,3"#),
            ["x,1", r#"say "hi""#, "3"]
        );
        assert_eq!(fields("1,,2"), ["1", "", "2"]);
        assert_eq!(fields("1,"), ["1", ""]);
        assert!(split_fields(r#""open"#, Path::new("t.csv"), 1).is_err());
        assert!(split_fields(r#""a"b,1"#, Path::new("t.csv"), 1).is_err());
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
            &DMatrix::from_row_slice(2, 2, &[1.0, 2.5, -100.0, 4.0])
        );
        assert_eq!(ds.labels(), Some(&[3u32, 0][..]));
        assert_eq!(ds.name(), "t");
    }
}
