//! Dense 2-D arrays of `f32` or `f64` values, read from an open file into a
//! dataset matrix, and the text header before them: the steps `.npy` and
//! `.safetensors` datasets share, kept apart from either reader so that
//! neither imports the other.
//!
//! The readers check an array's byte size ([`Layout::byte_len`], products
//! checked) against the file's length before calling [`read_matrix`], so
//! the one large allocation here, the `f64` matrix, is bounded by the file
//! (twice its size for `f32` data). The file's bytes are read a block at a
//! time and never held whole, which matters for activation dumps of
//! several gigabytes. Non-finite values are refused naming their row and
//! column, as the CSV, Parquet and IDX readers refuse them; finite values
//! beyond `f32`'s range are kept, and a study that trains in `f32` refuses
//! them when it loads its data (see [`super::Dataset::check_f32_range`]).

use super::first_where;
use crate::error::{Error, Result};
use nalgebra::DMatrix;
use std::io::Read;
use std::path::Path;

/// Bytes decoded per block: a multiple of every element size, so blocks
/// end on element boundaries.
const BLOCK: usize = 1 << 16;

/// The element type of an array.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Float {
    F32,
    F64,
}

impl Float {
    /// Bytes per element.
    pub(crate) fn size(self) -> usize {
        match self {
            Float::F32 => 4,
            Float::F64 => 8,
        }
    }

    /// NumPy's name of the type, for messages.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Float::F32 => "float32",
            Float::F64 => "float64",
        }
    }
}

/// The byte order of the stored values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Endian {
    Little,
    Big,
}

/// The order of the stored values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Order {
    /// C order: a row after another.
    RowMajor,
    /// Fortran order: a column after another.
    ColumnMajor,
}

/// How a `rows x cols` array is stored.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Layout {
    pub(crate) float: Float,
    pub(crate) endian: Endian,
    pub(crate) order: Order,
    pub(crate) rows: usize,
    pub(crate) cols: usize,
}

impl Layout {
    /// The data's size in bytes; `None` when `rows x cols x element size`
    /// overflows or exceeds what can be addressed.
    pub(crate) fn byte_len(&self) -> Option<usize> {
        self.rows
            .checked_mul(self.cols)?
            .checked_mul(self.float.size())
            .filter(|&n| n <= isize::MAX as usize)
    }
}

/// Refuses a shape no dataset can be made of: no samples, no features, or
/// a single sample (nothing can be centred or split with one). Checked
/// from the header, so such a file is refused naming it and its field
/// before any data is read.
pub(crate) fn check_dataset_shape(
    rows: usize,
    cols: usize,
    path: &Path,
    location: &str,
) -> Result<()> {
    if rows == 0 || cols == 0 {
        return Err(Error::format(
            path,
            location,
            format!("shape ({rows}, {cols}) holds no samples or no features"),
        ));
    }
    if rows == 1 {
        return Err(Error::format(
            path,
            location,
            format!("shape ({rows}, {cols}) holds one sample; at least two are needed"),
        ));
    }
    Ok(())
}

/// Reads into `buf` until it is full or the reader ends; returns the bytes
/// read, so a short count means the file ended.
///
/// Errors: [`Error::Io`] naming `path` when a read fails.
pub(crate) fn read_up_to(reader: &mut impl Read, buf: &mut [u8], path: &Path) -> Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match reader.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(Error::io(path, e)),
        }
    }
    Ok(got)
}

/// Reads the `len` bytes of a text header: the `.npy` and `.safetensors`
/// headers are both UTF-8 text of a length the file states, which the
/// caller has checked against the file's length and its own limit before
/// anything of that size is allocated here.
///
/// Errors: [`Error::Format`] at `header` naming `path` when the file ends
/// inside the header or it is not UTF-8; [`Error::Io`] when a read fails.
pub(crate) fn read_header_text(reader: &mut impl Read, len: usize, path: &Path) -> Result<String> {
    let bad = |reason: String| Error::format(path, "header", reason);
    let mut bytes = vec![0u8; len];
    if read_up_to(reader, &mut bytes, path)? < len {
        return Err(bad("file ends inside the header".into()));
    }
    String::from_utf8(bytes).map_err(|e| {
        bad(format!(
            "not text: invalid UTF-8 at byte {} of the header",
            e.utf8_error().valid_up_to()
        ))
    })
}

/// Reads the array `layout` describes from `reader`, positioned at its
/// first byte, into an `n x d` matrix (rows are samples).
///
/// Errors: [`Error::Format`] naming `path` for a size that overflows, a
/// file that ends inside the data (it shrank since its length was
/// checked), or a non-finite value (naming its row and column);
/// [`Error::Io`] when a read fails or the matrix cannot be allocated.
pub(crate) fn read_matrix(
    reader: &mut impl Read,
    layout: &Layout,
    path: &Path,
) -> Result<DMatrix<f64>> {
    let Layout {
        float,
        endian,
        order,
        rows,
        cols,
    } = *layout;
    let data_len = layout.byte_len().ok_or_else(|| {
        Error::format(
            path,
            "data",
            format!(
                "{rows} x {cols} {} values overflow the addressable size",
                float.name()
            ),
        )
    })?;
    // `byte_len` checked this product.
    let count = rows * cols;
    let mut values: Vec<f64> = Vec::new();
    values.try_reserve_exact(count).map_err(|_| {
        Error::io(
            path,
            std::io::Error::new(
                std::io::ErrorKind::OutOfMemory,
                format!("cannot hold the {rows} x {cols} values in memory"),
            ),
        )
    })?;
    values.resize(count, 0.0);
    let size = float.size();
    let mut block = vec![0u8; BLOCK.min(data_len)];
    // The next element's place: its index in the file and, for C order,
    // its row and column.
    let (mut k, mut row, mut col) = (0usize, 0usize, 0usize);
    let mut read = 0;
    while read < data_len {
        let want = BLOCK.min(data_len - read);
        let got = read_up_to(reader, &mut block[..want], path)?;
        if got < want {
            return Err(Error::format(
                path,
                "data",
                format!(
                    "truncated: the file ends after {} of the {data_len} data bytes",
                    read + got
                ),
            ));
        }
        for bytes in block[..want].chunks_exact(size) {
            let at = match order {
                Order::ColumnMajor => k,
                Order::RowMajor => {
                    let at = col * rows + row;
                    col += 1;
                    if col == cols {
                        col = 0;
                        row += 1;
                    }
                    at
                }
            };
            values[at] = decode(float, endian, bytes);
            k += 1;
        }
        read += want;
    }
    // The matrix is column-major, as the values were placed.
    let x = DMatrix::from_vec(rows, cols, values);
    if let Some((i, j, v)) = first_where(&x, |v| !v.is_finite()) {
        return Err(Error::format(
            path,
            format!("row {i}, column {j}"),
            format!("non-finite value {v}"),
        ));
    }
    Ok(x)
}

/// One element's value; `bytes` holds exactly one element.
fn decode(float: Float, endian: Endian, bytes: &[u8]) -> f64 {
    match (float, endian) {
        (Float::F32, Endian::Little) => {
            f64::from(f32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
        }
        (Float::F32, Endian::Big) => {
            f64::from(f32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
        }
        (Float::F64, Endian::Little) => {
            f64::from_le_bytes(bytes.try_into().expect("chunks_exact(8)"))
        }
        (Float::F64, Endian::Big) => f64::from_be_bytes(bytes.try_into().expect("chunks_exact(8)")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout(float: Float, endian: Endian, order: Order) -> Layout {
        Layout {
            float,
            endian,
            order,
            rows: 2,
            cols: 3,
        }
    }

    #[test]
    fn both_orders_and_byte_orders_give_the_same_matrix() {
        let want = DMatrix::from_row_slice(2, 3, &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        let c_order = [1.0f64, 2.0, 3.0, 4.0, 5.0, 6.0];
        let f_order = [1.0f64, 4.0, 2.0, 5.0, 3.0, 6.0];
        for (order, values) in [(Order::RowMajor, c_order), (Order::ColumnMajor, f_order)] {
            let mut le32 = Vec::new();
            let mut be64 = Vec::new();
            for v in values {
                le32.extend_from_slice(&(v as f32).to_le_bytes());
                be64.extend_from_slice(&v.to_be_bytes());
            }
            let p = Path::new("t.npy");
            let a = read_matrix(
                &mut &le32[..],
                &layout(Float::F32, Endian::Little, order),
                p,
            );
            assert_eq!(a.unwrap(), want, "{order:?} f32");
            let b = read_matrix(&mut &be64[..], &layout(Float::F64, Endian::Big, order), p);
            assert_eq!(b.unwrap(), want, "{order:?} f64");
        }
    }

    #[test]
    fn a_short_read_and_a_nan_are_format_errors() {
        let p = Path::new("t.npy");
        let l = layout(Float::F64, Endian::Little, Order::RowMajor);
        let short = [0u8; 40];
        match read_matrix(&mut &short[..], &l, p) {
            Err(Error::Format { location, .. }) => assert_eq!(location, "data"),
            other => panic!("{other:?}"),
        }
        let mut bytes = Vec::new();
        for v in [0.0, 1.0, 2.0, 3.0, f64::NAN, 5.0] {
            bytes.extend_from_slice(&v.to_le_bytes());
        }
        match read_matrix(&mut &bytes[..], &l, p) {
            Err(Error::Format { location, .. }) => assert_eq!(location, "row 1, column 1"),
            other => panic!("{other:?}"),
        }
    }
}
