//! NumPy's `.npy` files, as `np.save` writes them: one array per file.
//!
//! Layout: the magic `\x93NUMPY`, a major and a minor version byte (1.0,
//! 2.0 or 3.0), the header's length (a little-endian `u16` in version 1, a
//! `u32` in versions 2 and 3), then the header, a Python dict literal such
//! as `{'descr': '<f4', 'fortran_order': False, 'shape': (60000, 784), }`
//! padded with spaces to a newline; the values follow, in C (row-major) or
//! Fortran (column-major) order.
//!
//! Read: a 2-D array (`n x d`, rows are samples) of float32 or float64
//! (`descr` `'<f4'` or `'<f8'`, or the big-endian `'>f4'`, `'>f8'`), in
//! either order. Everything else is refused with one line naming the file
//! and the field, e.g. `x.npy: header: dtype '<i4' is not float32 or
//! float64`: a 1-D or 3-D array (reshape it to `(n, d)` first), an integer,
//! half-precision or structured dtype. The header is parsed by hand, as
//! the tiny subset of Python it is (strings, `True`/`False`, integers,
//! tuples and lists, one dict): nothing is evaluated and no pickled object
//! is ever loaded.
//!
//! Reading is defensive, as for IDX files: the header's length and the
//! data's size (rows × columns × element size, with checked products) are
//! compared with the file's length before anything of that size is
//! allocated, and the data must fill the rest of the file exactly. Values
//! are decoded a block at a time (see `super::dense`); non-finite values
//! are refused naming their row and column.

use super::Dataset;
use super::dense::{
    Endian, Float, Layout, Order, check_dataset_shape, read_header_text, read_matrix, read_up_to,
};
use super::file::{file_stem, open_regular};
use crate::error::{Error, Result};
use std::fs::File;
use std::path::Path;

/// The first six bytes of every `.npy` file.
pub const MAGIC: &[u8; 6] = b"\x93NUMPY";

/// The longest header read. NumPy writes about a hundred bytes for a plain
/// array (and itself refuses headers over 10,000 bytes unless told
/// otherwise); the limit keeps a corrupt length field from costing memory.
pub const MAX_HEADER_LEN: usize = 1 << 20;

/// How deeply header values may nest: a plain header nests two levels
/// (the dict, the shape tuple), and a bound keeps a hostile header of
/// nested brackets from exhausting the stack.
const MAX_DEPTH: usize = 16;

/// Reads a 2-D float32/float64 `.npy` file into a dataset named after the
/// file's stem; `image_shape` declares each row a row-major image.
///
/// Errors: [`Error::Io`] if the file cannot be read or is not a regular
/// file (see [`super::file`]); [`Error::Format`] naming the file and the
/// field for a malformed or unsupported header, a size that does not match
/// the file, or a non-finite value; [`Error::Shape`] for an image shape
/// that does not match the columns.
pub fn read_npy(path: &Path, image_shape: Option<(usize, usize)>) -> Result<Dataset> {
    let (mut file, len) = open_regular(path)?;
    let layout = read_header(&mut file, len, path)?;
    let x = read_matrix(&mut file, &layout, path)?;
    Dataset::new(file_stem(path), x, None, image_shape)
}

/// Reads and checks the header of the file of `len` bytes, leaving `file`
/// at the first data byte.
fn read_header(file: &mut File, len: u64, path: &Path) -> Result<Layout> {
    let bad = |reason: String| Error::format(path, "header", reason);
    let (prefix, header_len) = read_preamble(file, path)?;
    let room = len.saturating_sub(prefix);
    if header_len as u64 > room {
        return Err(bad(format!(
            "header length {header_len} runs past the end of the file ({len} bytes)"
        )));
    }
    if header_len > MAX_HEADER_LEN {
        return Err(bad(format!(
            "header length {header_len} is more than the {MAX_HEADER_LEN} bytes any array header needs"
        )));
    }
    let text = read_header_text(file, header_len, path)?;
    let header = parse_header(&text).map_err(bad)?;
    data_layout(&header, room - header_len as u64, path)
}

/// Reads what precedes the header: the magic, the format version and the
/// header's length (a `u16` in version 1.0, a `u32` in 2.0 and 3.0).
/// Returns the bytes read and the header's length.
///
/// Errors: [`Error::Format`] at `header` naming `path` for an empty or
/// short file, a wrong magic or a version NumPy does not write.
fn read_preamble(file: &mut File, path: &Path) -> Result<(u64, usize)> {
    let bad = |reason: String| Error::format(path, "header", reason);
    let mut start = [0u8; 8];
    let got = read_up_to(file, &mut start, path)?;
    if got == 0 {
        return Err(bad("empty file".into()));
    }
    let n = got.min(MAGIC.len());
    if start[..n] != MAGIC[..n] {
        let shown: Vec<String> = start[..n].iter().map(|b| format!("{b:02x}")).collect();
        return Err(bad(format!(
            "wrong magic {}: a .npy file starts with 93 4e 55 4d 50 59 (\\x93NUMPY)",
            shown.join(" ")
        )));
    }
    if got < start.len() {
        return Err(bad(format!(
            "file ends after {got} bytes, inside the magic and version"
        )));
    }
    let (major, minor) = (start[6], start[7]);
    let field = match (major, minor) {
        (1, 0) => 2,
        (2, 0) | (3, 0) => 4,
        _ => {
            return Err(bad(format!(
                "format version {major}.{minor} is not one NumPy writes (1.0, 2.0, 3.0)"
            )));
        }
    };
    let mut len_bytes = [0u8; 4];
    if read_up_to(file, &mut len_bytes[..field], path)? < field {
        return Err(bad(format!(
            "file ends inside the {field}-byte header length"
        )));
    }
    let header_len = if field == 2 {
        usize::from(u16::from_le_bytes([len_bytes[0], len_bytes[1]]))
    } else {
        u32::from_le_bytes(len_bytes) as usize
    };
    Ok(((start.len() + field) as u64, header_len))
}

/// The layout `header` describes, checked against the `room` bytes the
/// file holds after the header: the data must fill them exactly.
///
/// Errors: [`Error::Format`] naming `path`, at `header` for a shape no
/// dataset has (see [`check_dataset_shape`]) or data larger than the room,
/// at `data` for trailing bytes.
fn data_layout(header: &Header, room: u64, path: &Path) -> Result<Layout> {
    let bad = |reason: String| Error::format(path, "header", reason);
    let [rows, cols] = header.shape;
    check_dataset_shape(rows, cols, path, "header")?;
    let layout = Layout {
        float: header.float,
        endian: header.endian,
        order: if header.fortran_order {
            Order::ColumnMajor
        } else {
            Order::RowMajor
        },
        rows,
        cols,
    };
    let shape = format!("shape ({rows}, {cols})");
    let data_len = layout.byte_len().ok_or_else(|| {
        bad(format!(
            "{shape} of {} overflows the addressable size",
            header.float.name()
        ))
    })? as u64;
    if data_len > room {
        return Err(bad(format!(
            "{shape} of {} needs {data_len} data bytes, the file holds {room} after the header",
            header.float.name()
        )));
    }
    if data_len < room {
        return Err(Error::format(
            path,
            "data",
            format!(
                "{} trailing bytes after the {data_len} data bytes {shape} declares",
                room - data_len
            ),
        ));
    }
    Ok(layout)
}

/// What a header says, checked: a supported dtype and a 2-D shape.
#[derive(Debug, PartialEq)]
struct Header {
    float: Float,
    endian: Endian,
    fortran_order: bool,
    shape: [usize; 2],
}

/// Parses and checks the header text; the error is the reason alone (the
/// caller names the file and the field).
fn parse_header(text: &str) -> std::result::Result<Header, String> {
    let entries = header_dict(text)?;
    let (descr, fortran, shape) = header_fields(entries)?;
    let (float, endian) = dtype(&descr)?;
    let fortran_order = match fortran {
        Value::Bool(b) => b,
        other => {
            return Err(format!(
                "fortran_order {} is not True or False",
                other.show()
            ));
        }
    };
    Ok(Header {
        float,
        endian,
        fortran_order,
        shape: dataset_shape(&shape)?,
    })
}

/// The entries of the header's one dict, which must be all the text holds
/// (spaces aside).
fn header_dict(text: &str) -> std::result::Result<Vec<(String, Value)>, String> {
    let mut parser = Parser {
        s: text.as_bytes(),
        pos: 0,
    };
    parser.skip_space();
    if parser.peek() != Some(b'{') {
        return Err(format!(
            "not a dict: a .npy header is {{'descr': ..., 'fortran_order': ..., 'shape': ...}}, found {}",
            parser.describe_here()
        ));
    }
    let Value::Dict(entries) = parser.value(0)? else {
        unreachable!("a value starting with '{{' is a dict")
    };
    parser.skip_space();
    if parser.pos < parser.s.len() {
        return Err(format!(
            "unexpected {} after the dict",
            parser.describe_here()
        ));
    }
    Ok(entries)
}

/// The values of `descr`, `fortran_order` and `shape`, each given exactly
/// once and no other key.
fn header_fields(
    entries: Vec<(String, Value)>,
) -> std::result::Result<(Value, Value, Value), String> {
    let (mut descr, mut fortran, mut shape) = (None, None, None);
    for (key, value) in entries {
        let slot = match key.as_str() {
            "descr" => &mut descr,
            "fortran_order" => &mut fortran,
            "shape" => &mut shape,
            _ => {
                return Err(format!(
                    "unexpected key {}; a .npy header has 'descr', 'fortran_order' and 'shape'",
                    quoted(&key)
                ));
            }
        };
        if slot.is_some() {
            return Err(format!("key {} appears twice", quoted(&key)));
        }
        *slot = Some(value);
    }
    let missing = |key: &str| {
        format!("no '{key}' key; a .npy header has 'descr', 'fortran_order' and 'shape'")
    };
    let descr = descr.ok_or_else(|| missing("descr"))?;
    let fortran = fortran.ok_or_else(|| missing("fortran_order"))?;
    let shape = shape.ok_or_else(|| missing("shape"))?;
    Ok((descr, fortran, shape))
}

/// The element type and byte order of a `descr`: float32 or float64,
/// either endianness.
fn dtype(descr: &Value) -> std::result::Result<(Float, Endian), String> {
    match descr {
        Value::Str(s) => match s.as_str() {
            "<f4" => Ok((Float::F32, Endian::Little)),
            "<f8" => Ok((Float::F64, Endian::Little)),
            ">f4" => Ok((Float::F32, Endian::Big)),
            ">f8" => Ok((Float::F64, Endian::Big)),
            _ => Err(format!(
                "dtype {} is not float32 or float64 ('<f4', '<f8', '>f4' or '>f8')",
                quoted(s)
            )),
        },
        other => Err(format!(
            "dtype {} is a structured (record) dtype, not float32 or float64",
            other.show()
        )),
    }
}

/// The rows and columns of a `shape`: a tuple of two non-negative
/// integers that fit `usize`.
fn dataset_shape(shape: &Value) -> std::result::Result<[usize; 2], String> {
    let dims = match shape {
        Value::Tuple(items) => items,
        other => return Err(format!("shape {} is not a tuple", other.show())),
    };
    let mut sizes = Vec::with_capacity(dims.len());
    for d in dims {
        match d {
            Value::Int(text) => sizes.push(text.parse::<usize>().map_err(|_| {
                if text.starts_with('-') {
                    format!("shape {}: a dimension is negative", shape.show())
                } else {
                    format!("shape {}: dimension {text} is too large", shape.show())
                }
            })?),
            other => {
                return Err(format!(
                    "shape {}: dimension {} is not an integer",
                    shape.show(),
                    other.show()
                ));
            }
        }
    }
    let hint = "a dataset is 2-D (samples x features); save x.reshape(n, d) instead";
    match sizes[..] {
        [rows, cols] => Ok([rows, cols]),
        [] => Err(format!("shape () is a single value; {hint}")),
        _ => Err(format!(
            "shape {} is {}-D; {hint}",
            shape.show(),
            sizes.len()
        )),
    }
}

/// A Python literal of a `.npy` header.
#[derive(Debug, PartialEq)]
enum Value {
    Str(String),
    Bool(bool),
    /// The digits as written (a leading `-` kept, a Python 2 `L` dropped),
    /// so a dimension too large for `usize` can still be shown.
    Int(String),
    Tuple(Vec<Value>),
    List(Vec<Value>),
    Dict(Vec<(String, Value)>),
}

impl Value {
    /// The value as Python would print it, for messages (long strings cut).
    fn show(&self) -> String {
        let join = |items: &[Value]| items.iter().map(Value::show).collect::<Vec<_>>().join(", ");
        match self {
            Value::Str(s) => quoted(s),
            Value::Bool(true) => "True".into(),
            Value::Bool(false) => "False".into(),
            Value::Int(text) => text.clone(),
            Value::Tuple(items) if items.len() == 1 => format!("({},)", items[0].show()),
            Value::Tuple(items) => format!("({})", join(&items[..])),
            Value::List(items) => format!("[{}]", join(&items[..])),
            Value::Dict(_) => "{...}".into(),
        }
    }
}

/// `s` in single quotes, cut after 40 characters, so a hostile header
/// cannot make an error longer than a line.
fn quoted(s: &str) -> String {
    let head: String = s.chars().take(40).collect();
    let cut = if head.len() < s.len() { "..." } else { "" };
    format!("'{}{cut}'", head.escape_debug())
}

/// A recursive-descent parser of the header's literals.
struct Parser<'a> {
    s: &'a [u8],
    pos: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.pos).copied()
    }

    fn skip_space(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.pos += 1;
        }
    }

    /// What is at the current position, for messages.
    fn describe_here(&self) -> String {
        match self.peek() {
            None => "the end of the header".into(),
            Some(c) if c.is_ascii_graphic() => format!("'{}' at byte {}", c as char, self.pos),
            Some(c) => format!("byte 0x{c:02x} at byte {}", self.pos),
        }
    }

    /// Parses one value at the current position (spaces skipped first).
    fn value(&mut self, depth: usize) -> std::result::Result<Value, String> {
        self.skip_space();
        if depth > MAX_DEPTH {
            return Err(format!(
                "values nested more than {MAX_DEPTH} deep at byte {}",
                self.pos
            ));
        }
        match self.peek() {
            Some(b'{') => self.dict(depth),
            Some(open @ (b'(' | b'[')) => self.sequence(open, depth),
            Some(quote @ (b'\'' | b'"')) => self.string(quote),
            Some(c) if c == b'-' || c.is_ascii_digit() => self.int(),
            Some(c) if c.is_ascii_alphabetic() => self.name(),
            _ => Err(format!("expected a value, found {}", self.describe_here())),
        }
    }

    /// A dict at `{`: string keys, each followed by `:` and a value.
    fn dict(&mut self, depth: usize) -> std::result::Result<Value, String> {
        self.pos += 1;
        let mut entries = Vec::new();
        loop {
            self.skip_space();
            if self.peek() == Some(b'}') {
                self.pos += 1;
                return Ok(Value::Dict(entries));
            }
            let key = match self.value(depth + 1)? {
                Value::Str(k) => k,
                other => return Err(format!("dict key {} is not a string", other.show())),
            };
            self.skip_space();
            if self.peek() != Some(b':') {
                return Err(format!(
                    "expected ':' after key {}, found {}",
                    quoted(&key),
                    self.describe_here()
                ));
            }
            self.pos += 1;
            let value = self.value(depth + 1)?;
            entries.push((key, value));
            if !self.separator(b'}')? {
                self.pos += 1;
                return Ok(Value::Dict(entries));
            }
        }
    }

    /// A tuple or list at `open` (`(` or `[`); a parenthesised value
    /// without a comma is that value, as in Python.
    fn sequence(&mut self, open: u8, depth: usize) -> std::result::Result<Value, String> {
        let close = if open == b'(' { b')' } else { b']' };
        self.pos += 1;
        let mut items = Vec::new();
        let mut trailing_comma = false;
        loop {
            self.skip_space();
            if self.peek() == Some(close) {
                self.pos += 1;
                break;
            }
            items.push(self.value(depth + 1)?);
            trailing_comma = self.separator(close)?;
            if !trailing_comma {
                self.pos += 1;
                break;
            }
        }
        // `(3)` is the number 3 in Python, not a tuple.
        if open == b'(' && items.len() == 1 && !trailing_comma {
            return Ok(items.pop().expect("one item"));
        }
        Ok(if open == b'(' {
            Value::Tuple(items)
        } else {
            Value::List(items)
        })
    }

    /// A string at its opening `quote`, without escapes or newlines.
    fn string(&mut self, quote: u8) -> std::result::Result<Value, String> {
        let from = self.pos + 1;
        let len = self.s[from..]
            .iter()
            .position(|&c| c == quote || c == b'\\' || c == b'\n')
            .ok_or_else(|| format!("unterminated string at byte {}", self.pos))?;
        let end = from + len;
        if self.s[end] != quote {
            return Err(format!(
                "string at byte {} holds an escape or a newline, which no dtype or key needs",
                self.pos
            ));
        }
        // The header is valid UTF-8 and the quotes are ASCII, so
        // the slice between them is too.
        let text = String::from_utf8_lossy(&self.s[from..end]).into_owned();
        self.pos = end + 1;
        Ok(Value::Str(text))
    }

    /// An integer at its first digit or `-`, kept as written.
    fn int(&mut self) -> std::result::Result<Value, String> {
        let from = self.pos;
        if self.peek() == Some(b'-') {
            self.pos += 1;
        }
        let digits = self.pos;
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.pos += 1;
        }
        if self.pos == digits {
            return Err(format!("'-' without digits at byte {from}"));
        }
        let text = String::from_utf8_lossy(&self.s[from..self.pos]).into_owned();
        // Python 2 wrote long integers with an `L`.
        if matches!(self.peek(), Some(b'L' | b'l')) {
            self.pos += 1;
        }
        Ok(Value::Int(text))
    }

    /// A name at its first letter: `True` or `False`, nothing else.
    fn name(&mut self) -> std::result::Result<Value, String> {
        let from = self.pos;
        while self
            .peek()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == b'_')
        {
            self.pos += 1;
        }
        match &self.s[from..self.pos] {
            b"True" => Ok(Value::Bool(true)),
            b"False" => Ok(Value::Bool(false)),
            word => Err(format!(
                "unexpected name {} at byte {from}; a .npy header holds strings, numbers, True and False",
                quoted(&String::from_utf8_lossy(word))
            )),
        }
    }

    /// After an item of a dict, tuple or list: consumes a `,` and returns
    /// `true`, or returns `false` at the closing `close` (not consumed).
    fn separator(&mut self, close: u8) -> std::result::Result<bool, String> {
        self.skip_space();
        match self.peek() {
            Some(b',') => {
                self.pos += 1;
                Ok(true)
            }
            Some(c) if c == close => Ok(false),
            _ => Err(format!(
                "expected ',' or '{}', found {}",
                close as char,
                self.describe_here()
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_what_numpy_writes() {
        let h =
            parse_header("{'descr': '<f8', 'fortran_order': False, 'shape': (5, 3), }          \n")
                .unwrap();
        assert_eq!(
            h,
            Header {
                float: Float::F64,
                endian: Endian::Little,
                fortran_order: false,
                shape: [5, 3],
            }
        );
        // Python 2's long integers, double quotes, no trailing comma.
        let h = parse_header("{\"descr\": \">f4\", \"shape\": (2L, 7L), \"fortran_order\": True}")
            .unwrap();
        assert_eq!(
            (h.float, h.endian, h.fortran_order, h.shape),
            (Float::F32, Endian::Big, true, [2, 7])
        );
    }

    #[test]
    fn refuses_each_unsupported_header_naming_the_field() {
        let base = |descr: &str, shape: &str| {
            format!("{{'descr': {descr}, 'fortran_order': False, 'shape': {shape}, }}")
        };
        let cases = [
            (
                base("'<i4'", "(2, 3)"),
                "dtype '<i4' is not float32 or float64",
            ),
            (base("'<f2'", "(2, 3)"), "dtype '<f2'"),
            (base("[('a', '<f4')]", "(2, 3)"), "structured"),
            (base("'<f8'", "(4,)"), "shape (4,) is 1-D"),
            (base("'<f8'", "(2, 2, 2)"), "shape (2, 2, 2) is 3-D"),
            (base("'<f8'", "()"), "shape () is a single value"),
            (base("'<f8'", "(-1, 3)"), "negative"),
            (base("'<f8'", "(99999999999999999999999, 3)"), "too large"),
            (
                "{'descr': '<f8', 'shape': (2, 3)}".into(),
                "no 'fortran_order' key",
            ),
            (
                "{'descr': '<f8', 'descr': '<f8', 'fortran_order': False, 'shape': (2, 3)}".into(),
                "appears twice",
            ),
            (
                "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), 'x': 1}".into(),
                "unexpected key 'x'",
            ),
            (
                "{'descr': '<f8', 'fortran_order': None, 'shape': (2, 3)}".into(),
                "'None'",
            ),
            ("{'descr': '<f8'".into(), "the end of the header"),
            ("{'descr: '<f8'}".into(), "expected ':'"),
            ("[1, 2]".into(), "not a dict"),
            (format!("{}x", base("'<f8'", "(2, 3)")), "after the dict"),
            (
                format!("{{'descr': {}1{}}}", "(".repeat(100), ")".repeat(100)),
                "nested",
            ),
        ];
        for (text, expect) in cases {
            let e = parse_header(&text).unwrap_err();
            assert!(e.contains(expect), "{text:?}: {e:?} lacks {expect:?}");
            assert!(!e.contains('\n'), "{e:?}");
        }
    }
}
