//! Tables shown in reports: headers plus already-formatted cells.
//!
//! A table holds text, not numbers, so the page template never formats
//! anything itself; every number went through [`format_number`] on the way in.

use crate::error::{Error, Result};
use crate::report::number::{MISSING, format_number};
use polars::prelude::{Column, DataFrame, DataType};

/// Tables longer than this are shown as their first [`HEAD_ROWS`] and last
/// [`TAIL_ROWS`] rows with a "…" row between, as polars prints its frames:
/// a page of hundreds of rows helps nobody scan, and the full data is in
/// the results files beside it.
pub const MAX_ROWS: usize = 30;
/// Rows shown from the top of a long table.
pub const HEAD_ROWS: usize = 20;
/// Rows shown from the bottom of a long table.
pub const TAIL_ROWS: usize = 5;

/// One line of a table as a page shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShownRow {
    /// The table's row with this index.
    Row(usize),
    /// The "…" line standing for this many rows left out.
    Gap(usize),
}

/// A rectangular table of formatted cells with a header row.
///
/// Built with [`Table::from_dataframe`] (numbers formatted by
/// [`format_number`], integers in full, nulls as [`MISSING`]) or
/// [`Table::new`] for hand-made tables. Both refuse cells that read as NaN or
/// infinity, so no report can show one.
#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    header: Vec<String>,
    numeric: Vec<bool>,
    rows: Vec<Vec<String>>,
    /// Per row, the in-page anchor (a section id) its `link_column` cell
    /// links to, e.g. a verdict row to the chart its answer rests on.
    links: Option<(usize, Vec<Option<String>>)>,
}

impl Table {
    /// A table from a header and rows of cell text.
    ///
    /// Columns whose every non-missing cell parses as a number are marked
    /// numeric (right-aligned on the page).
    ///
    /// # Errors
    /// [`Error::InvalidData`] if the header is empty, a row has the wrong
    /// length, or a cell reads as a non-finite number ("NaN", "inf").
    pub fn new(header: Vec<String>, rows: Vec<Vec<String>>) -> Result<Table> {
        if header.is_empty() {
            return Err(Error::InvalidData(
                "a table needs at least one column".into(),
            ));
        }
        for (r, row) in rows.iter().enumerate() {
            if row.len() != header.len() {
                return Err(Error::InvalidData(format!(
                    "table row {r} has {} cells but the header has {} columns",
                    row.len(),
                    header.len()
                )));
            }
            for (c, cell) in row.iter().enumerate() {
                if cell.trim().parse::<f64>().is_ok_and(|v| !v.is_finite()) {
                    return Err(Error::InvalidData(format!(
                        "table row {r}, column {:?}: non-finite value {cell:?}",
                        header[c]
                    )));
                }
            }
        }
        let numeric = (0..header.len())
            .map(|c| {
                let mut cells = rows
                    .iter()
                    .map(|row| row[c].as_str())
                    .filter(|s| *s != MISSING);
                let mut any = false;
                let all = cells.all(|s| {
                    any = true;
                    s.trim().parse::<f64>().is_ok()
                });
                any && all
            })
            .collect();
        Ok(Table {
            header,
            numeric,
            rows,
            links: None,
        })
    }

    /// The same table with the cells of `column` linking to in-page
    /// anchors, one per row (`None`: no link).
    ///
    /// # Errors
    /// [`Error::InvalidData`] for a column out of range or a count of
    /// anchors other than the row count.
    pub fn with_links(mut self, column: usize, anchors: Vec<Option<String>>) -> Result<Table> {
        if column >= self.header.len() || anchors.len() != self.rows.len() {
            return Err(Error::InvalidData(format!(
                "table links: column {column} of {} and {} anchors for {} rows",
                self.header.len(),
                anchors.len(),
                self.rows.len()
            )));
        }
        self.links = Some((column, anchors));
        Ok(self)
    }

    /// The anchor cell (`row`, `column`) links to, if any.
    pub fn link(&self, row: usize, column: usize) -> Option<&str> {
        match &self.links {
            Some((c, anchors)) if *c == column => anchors.get(row)?.as_deref(),
            _ => None,
        }
    }

    /// A table showing every row and column of `frame`.
    ///
    /// Floats are formatted by [`format_number`], integers in full (a
    /// parameter count must be exact), booleans as `true`/`false`, nulls as
    /// [`MISSING`], other types by polars' own display.
    ///
    /// # Errors
    /// [`Error::InvalidData`] naming the column and row of a NaN or infinite
    /// float, or if the frame has no columns.
    pub fn from_dataframe(frame: &DataFrame) -> Result<Table> {
        if frame.width() == 0 {
            return Err(Error::InvalidData(
                "a table needs at least one column".into(),
            ));
        }
        let mut header = Vec::with_capacity(frame.width());
        let mut numeric = Vec::with_capacity(frame.width());
        let mut columns = Vec::with_capacity(frame.width());
        for column in frame.columns() {
            header.push(column.name().to_string());
            numeric.push(column.dtype().is_primitive_numeric());
            columns.push(format_column(column)?);
        }
        let rows = (0..frame.height())
            .map(|r| columns.iter().map(|cells| cells[r].clone()).collect())
            .collect();
        Ok(Table {
            header,
            numeric,
            rows,
            links: None,
        })
    }

    /// The rows a page shows, in order: all of them up to [`MAX_ROWS`],
    /// otherwise the head, a gap and the tail.
    pub fn shown_rows(&self) -> Vec<ShownRow> {
        let n = self.rows.len();
        if n <= MAX_ROWS {
            return (0..n).map(ShownRow::Row).collect();
        }
        (0..HEAD_ROWS)
            .map(ShownRow::Row)
            .chain(std::iter::once(ShownRow::Gap(n - HEAD_ROWS - TAIL_ROWS)))
            .chain((n - TAIL_ROWS..n).map(ShownRow::Row))
            .collect()
    }

    /// Column names, in order.
    pub fn header(&self) -> &[String] {
        &self.header
    }

    /// Rows of formatted cells, each as long as [`Table::header`].
    pub fn rows(&self) -> &[Vec<String>] {
        &self.rows
    }

    /// Whether column `c` holds numbers (the page right-aligns those).
    pub fn is_numeric(&self, c: usize) -> bool {
        self.numeric.get(c).copied().unwrap_or(false)
    }
}

/// Formats every cell of one column; see [`Table::from_dataframe`].
fn format_column(column: &Column) -> Result<Vec<String>> {
    let name = column.name().to_string();
    let dtype = column.dtype();
    let missing = || MISSING.to_string();
    if dtype.is_float() {
        let cast = column.cast(&DataType::Float64)?;
        cast.f64()?
            .iter()
            .enumerate()
            .map(|(r, v)| match v {
                None => Ok(missing()),
                Some(v) => format_number(v).map_err(|_| {
                    Error::InvalidData(format!(
                        "column {name:?}, row {r}: non-finite value {v} (use a null for a missing value)"
                    ))
                }),
            })
            .collect()
    } else if dtype.is_signed_integer() {
        let cast = column.cast(&DataType::Int64)?;
        Ok(cast
            .i64()?
            .iter()
            .map(|v| v.map_or_else(missing, |v| v.to_string()))
            .collect())
    } else if dtype.is_unsigned_integer() {
        let cast = column.cast(&DataType::UInt64)?;
        Ok(cast
            .u64()?
            .iter()
            .map(|v| v.map_or_else(missing, |v| v.to_string()))
            .collect())
    } else if dtype.is_bool() {
        Ok(column
            .bool()?
            .iter()
            .map(|v| v.map_or_else(missing, |v| v.to_string()))
            .collect())
    } else if dtype.is_string() {
        Ok(column
            .str()?
            .iter()
            .map(|v| v.map_or_else(missing, str::to_string))
            .collect())
    } else {
        (0..column.len())
            .map(|r| {
                let value = column.get(r)?;
                Ok(if value.is_null() {
                    missing()
                } else {
                    value.to_string()
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use polars::prelude::*;

    fn strings(cells: &[&str]) -> Vec<String> {
        cells.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn dataframe_cells_use_the_shared_formatter() {
        let frame = df!(
            "model" => ["pca", "tied"],
            "params" => [50_176i64, 50_240],
            "mse" => [Some(0.00907123), None],
            "converged" => [true, false],
        )
        .unwrap();
        let table = Table::from_dataframe(&frame).unwrap();
        assert_eq!(
            table.header(),
            strings(&["model", "params", "mse", "converged"])
        );
        assert_eq!(
            table.rows()[0],
            strings(&["pca", "50176", "0.009071", "true"])
        );
        assert_eq!(
            table.rows()[1],
            strings(&["tied", "50240", MISSING, "false"])
        );
        assert!(!table.is_numeric(0));
        assert!(table.is_numeric(1) && table.is_numeric(2));
    }

    #[test]
    fn nan_in_a_frame_is_an_error_naming_column_and_row() {
        let frame = df!("mse" => [0.1, f64::NAN]).unwrap();
        let err = Table::from_dataframe(&frame).unwrap_err().to_string();
        assert!(err.contains("\"mse\"") && err.contains("row 1"), "{err}");
    }

    #[test]
    fn hand_made_tables_are_checked() {
        assert!(Table::new(vec![], vec![]).is_err());
        assert!(Table::new(strings(&["a", "b"]), vec![strings(&["1"])]).is_err());
        assert!(Table::new(strings(&["a"]), vec![strings(&["NaN"])]).is_err());
        assert!(Table::new(strings(&["a"]), vec![strings(&["-inf"])]).is_err());
        let t = Table::new(strings(&["a", "b"]), vec![strings(&["x", "1.5"])]).unwrap();
        assert!(!t.is_numeric(0) && t.is_numeric(1));
    }
}
