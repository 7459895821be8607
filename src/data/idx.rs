//! The IDX format of the MNIST distribution, raw or gzip-compressed.
//!
//! Layout: two zero bytes, a type byte, a rank byte, `rank` big-endian `u32`
//! dimensions, then the values big-endian in row-major order. Type bytes:
//! `0x08` u8, `0x09` i8, `0x0B` i16, `0x0C` i32, `0x0D` f32, `0x0E` f64.
//!
//! Reading is defensive because IDX headers are trusted by nothing else: the
//! byte size the dimensions imply is computed with checked arithmetic (the
//! product of every non-zero dimension, so a zero count cannot hide an
//! overflowing rest) and compared with what the file can hold *before* any
//! buffer of that size is allocated, so a corrupt or hostile header yields
//! an [`Error::Format`], not an abort. A raw file holds its own length; a
//! gzip file (detected by its magic `1f 8b`, whatever its name) holds at
//! most deflate's maximum expansion of its length and at most
//! [`MAX_GZIP_VALUES`] values, and exactly the bytes its header claims are
//! decompressed, no more. Values are decoded a block at a time, so beside
//! the file's bytes only the widened `f64` values are held whole.

use super::Dataset;
use super::file::{file_stem, read_regular};
use crate::atomic::write_atomic;
use crate::error::{Error, Result};
use flate2::read::MultiGzDecoder;
use nalgebra::DMatrix;
use std::io::{Read, Write};
use std::path::Path;

/// The most values a gzip-compressed IDX file may declare: 2^28, 2 GiB once
/// widened to `f64`, over five times MNIST's 60,000 training images. The
/// header is all that says how far a gzip stream expands, so a stated limit
/// bounds it; a raw file is bounded by its own length instead, so a larger
/// array can still be read once decompressed.
pub const MAX_GZIP_VALUES: usize = 1 << 28;

/// Bytes decoded per block while reading values.
const BLOCK: usize = 1 << 16;

/// The element type stored in an IDX file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdxType {
    /// `0x08`, unsigned byte: images and labels of MNIST.
    U8,
    /// `0x09`, signed byte.
    I8,
    /// `0x0B`, big-endian `i16`.
    I16,
    /// `0x0C`, big-endian `i32`.
    I32,
    /// `0x0D`, big-endian `f32`.
    F32,
    /// `0x0E`, big-endian `f64`.
    F64,
}

impl IdxType {
    /// The type byte in the header.
    pub fn code(self) -> u8 {
        match self {
            IdxType::U8 => 0x08,
            IdxType::I8 => 0x09,
            IdxType::I16 => 0x0B,
            IdxType::I32 => 0x0C,
            IdxType::F32 => 0x0D,
            IdxType::F64 => 0x0E,
        }
    }

    /// The type for a header byte, if it is one of the six IDX types.
    pub fn from_code(code: u8) -> Option<Self> {
        Some(match code {
            0x08 => IdxType::U8,
            0x09 => IdxType::I8,
            0x0B => IdxType::I16,
            0x0C => IdxType::I32,
            0x0D => IdxType::F32,
            0x0E => IdxType::F64,
            _ => return None,
        })
    }

    /// Bytes per element.
    pub fn size(self) -> usize {
        match self {
            IdxType::U8 | IdxType::I8 => 1,
            IdxType::I16 => 2,
            IdxType::I32 | IdxType::F32 => 4,
            IdxType::F64 => 8,
        }
    }

    /// Whether `v` is stored exactly by this type.
    fn holds(self, v: f64) -> bool {
        let int_in = |lo: f64, hi: f64| v.fract() == 0.0 && (lo..=hi).contains(&v);
        match self {
            IdxType::U8 => int_in(0.0, 255.0),
            IdxType::I8 => int_in(-128.0, 127.0),
            IdxType::I16 => int_in(-32768.0, 32767.0),
            IdxType::I32 => int_in(-2_147_483_648.0, 2_147_483_647.0),
            IdxType::F32 => v.is_finite() && f64::from(v as f32) == v,
            IdxType::F64 => v.is_finite(),
        }
    }
}

/// An n-dimensional IDX array; values are widened to `f64`, which represents
/// every IDX type exactly.
#[derive(Debug, Clone, PartialEq)]
pub struct IdxArray {
    kind: IdxType,
    dims: Vec<usize>,
    values: Vec<f64>,
}

impl IdxArray {
    /// An array of `kind` with `dims` (row-major `values`).
    ///
    /// Errors: [`Error::Shape`] if the dimensions' product is not
    /// `values.len()`, there are no dimensions or more than 255, or a
    /// dimension exceeds `u32::MAX`; [`Error::InvalidData`] if a value is not
    /// exactly representable in `kind` (e.g. 0.5 or 300 as `U8`, NaN).
    pub fn new(kind: IdxType, dims: Vec<usize>, values: Vec<f64>) -> Result<Self> {
        if dims.is_empty() || dims.len() > 255 {
            return Err(Error::Shape(format!(
                "IDX arrays have 1 to 255 dimensions, got {}",
                dims.len()
            )));
        }
        if let Some(d) = dims.iter().find(|&&d| u32::try_from(d).is_err()) {
            return Err(Error::Shape(format!("IDX dimension {d} exceeds u32::MAX")));
        }
        let count = dims.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d));
        if count != Some(values.len()) {
            return Err(Error::Shape(format!(
                "IDX dimensions {dims:?} do not hold {} values",
                values.len()
            )));
        }
        if let Some((i, v)) = values.iter().enumerate().find(|(_, v)| !kind.holds(**v)) {
            return Err(Error::InvalidData(format!(
                "value {v} at index {i} is not exactly representable as IDX {kind:?}"
            )));
        }
        Ok(IdxArray { kind, dims, values })
    }

    /// Element type.
    pub fn kind(&self) -> IdxType {
        self.kind
    }

    /// Dimensions, outermost first.
    pub fn dims(&self) -> &[usize] {
        &self.dims
    }

    /// Values in row-major order.
    pub fn values(&self) -> &[f64] {
        &self.values
    }

    /// Consumes the array into its values.
    pub fn into_values(self) -> Vec<f64> {
        self.values
    }

    /// Serialises to raw (uncompressed) IDX bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out =
            Vec::with_capacity(4 + 4 * self.dims.len() + self.values.len() * self.kind.size());
        out.extend_from_slice(&[0, 0, self.kind.code(), self.dims.len() as u8]);
        for &d in &self.dims {
            out.extend_from_slice(&(d as u32).to_be_bytes());
        }
        // `new` checked every value fits `kind`, so these casts are exact.
        for &v in &self.values {
            match self.kind {
                IdxType::U8 => out.push(v as u8),
                IdxType::I8 => out.push((v as i8) as u8),
                IdxType::I16 => out.extend_from_slice(&(v as i16).to_be_bytes()),
                IdxType::I32 => out.extend_from_slice(&(v as i32).to_be_bytes()),
                IdxType::F32 => out.extend_from_slice(&(v as f32).to_be_bytes()),
                IdxType::F64 => out.extend_from_slice(&v.to_be_bytes()),
            }
        }
        out
    }

    /// Parses IDX bytes, gzip-compressed or raw (told apart by the gzip
    /// magic). `source` names the file in error messages.
    pub fn from_bytes(bytes: &[u8], source: &Path) -> Result<Self> {
        if bytes.starts_with(&[0x1f, 0x8b]) {
            let mut reader = GzSource {
                inner: MultiGzDecoder::new(bytes),
                path: source,
            };
            parse(&mut reader, Bound::Gzip(bytes.len()), source)
        } else {
            let mut reader = SliceSource { bytes, pos: 0 };
            parse(&mut reader, Bound::Raw(bytes.len()), source)
        }
    }

    /// Reads an IDX file (gzip-compressed or raw); anything but a regular
    /// file is refused (see [`super::file`]).
    pub fn read(path: &Path) -> Result<Self> {
        let bytes = read_regular(path)?;
        Self::from_bytes(&bytes, path)
    }

    /// Writes the array atomically; gzip-compressed (level 9, no file name,
    /// mtime 0, so the output is reproducible) when `gzip` is true.
    pub fn write(&self, path: &Path, gzip: bool) -> Result<()> {
        let raw = self.to_bytes();
        write_atomic(path, |w| {
            if gzip {
                let mut enc = flate2::GzBuilder::new()
                    .mtime(0)
                    .write(w, flate2::Compression::new(9));
                enc.write_all(&raw).map_err(|e| Error::io(path, e))?;
                enc.finish().map_err(|e| Error::io(path, e))?;
            } else {
                w.write_all(&raw).map_err(|e| Error::io(path, e))?;
            }
            Ok(())
        })
    }
}

/// A byte source the parser pulls from; `Ok(n < want)` means end of data.
trait Source {
    fn fill(&mut self, buf: &mut [u8]) -> Result<usize>;
}

struct SliceSource<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl Source for SliceSource<'_> {
    fn fill(&mut self, buf: &mut [u8]) -> Result<usize> {
        let n = buf.len().min(self.bytes.len() - self.pos);
        buf[..n].copy_from_slice(&self.bytes[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

struct GzSource<'a, R: Read> {
    inner: MultiGzDecoder<R>,
    path: &'a Path,
}

impl<R: Read> Source for GzSource<'_, R> {
    fn fill(&mut self, buf: &mut [u8]) -> Result<usize> {
        let mut got = 0;
        while got < buf.len() {
            match self.inner.read(&mut buf[got..]) {
                Ok(0) => break,
                Ok(n) => got += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => {
                    return Err(Error::format(
                        self.path,
                        "gzip stream",
                        format!("corrupt gzip data: {e}"),
                    ));
                }
            }
        }
        Ok(got)
    }
}

/// What an IDX source can hold, by the length of the file it came from.
#[derive(Clone, Copy)]
enum Bound {
    /// Raw bytes: the data is at most the file's length.
    Raw(usize),
    /// Gzip-compressed bytes of this length: deflate expands at most about
    /// 1032:1, and the values are at most [`MAX_GZIP_VALUES`].
    Gzip(usize),
}

/// Parses one IDX array. `bound` says what the source can hold, so an
/// impossible header is rejected before its data is allocated, and exactly
/// the data bytes the header declares are read.
fn parse(src: &mut dyn Source, bound: Bound, path: &Path) -> Result<IdxArray> {
    let (kind, dims) = read_header(src, path)?;
    let data_len = checked_data_len(kind, &dims, bound, path)?;
    let values = read_values(src, kind, data_len, &dims, path)?;
    let mut extra = [0u8; 1];
    if src.fill(&mut extra)? > 0 {
        return Err(Error::format(
            path,
            "data",
            format!(
                "trailing bytes after the {data_len} data bytes that dimensions {dims:?} declare"
            ),
        ));
    }
    if let Some(i) = values.iter().position(|v| !v.is_finite()) {
        return Err(Error::format(
            path,
            format!("element {i}"),
            format!("non-finite value {}", values[i]),
        ));
    }
    Ok(IdxArray { kind, dims, values })
}

/// Reads the header: the magic (two zero bytes, the type byte, the rank)
/// and the `rank` big-endian dimensions, leaving `src` at the first data
/// byte.
///
/// Errors: [`Error::Format`] naming `path` and the header field for an
/// empty or short file, a wrong magic, an unknown type byte or rank 0.
fn read_header(src: &mut dyn Source, path: &Path) -> Result<(IdxType, Vec<usize>)> {
    let mut magic = [0u8; 4];
    let got = src.fill(&mut magic)?;
    if got == 0 {
        return Err(Error::format(path, "header", "empty file"));
    }
    if got < 4 {
        return Err(Error::format(
            path,
            "header",
            format!("file ends after {got} bytes, inside the 4-byte magic"),
        ));
    }
    if magic[0] != 0 || magic[1] != 0 {
        return Err(Error::format(
            path,
            "header (bytes 0-1)",
            format!(
                "wrong magic {:02x} {:02x}: an IDX file starts with 00 00 (is this an IDX file?)",
                magic[0], magic[1]
            ),
        ));
    }
    let kind = IdxType::from_code(magic[2]).ok_or_else(|| {
        Error::format(
            path,
            "header (byte 2, type)",
            format!(
                "unsupported type byte 0x{:02x}; IDX types are 08 u8, 09 i8, 0b i16, 0c i32, 0d f32, 0e f64",
                magic[2]
            ),
        )
    })?;
    let rank = magic[3] as usize;
    if rank == 0 {
        return Err(Error::format(
            path,
            "header (byte 3, rank)",
            "rank 0: no dimensions",
        ));
    }
    let mut dim_bytes = vec![0u8; 4 * rank];
    if src.fill(&mut dim_bytes)? < dim_bytes.len() {
        return Err(Error::format(
            path,
            "header (dimensions)",
            format!("file ends inside the {rank} dimension fields"),
        ));
    }
    let dims: Vec<usize> = dim_bytes
        .chunks_exact(4)
        .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]) as usize)
        .collect();
    Ok((kind, dims))
}

/// The data bytes `dims` of `kind` declare, checked before anything of
/// that size is allocated: the product must not overflow, must fit what
/// the source can hold (`bound`, less the header), and a gzip source may
/// declare at most [`MAX_GZIP_VALUES`] values.
///
/// Errors: [`Error::Format`] naming `path` at `header (dimensions)`.
fn checked_data_len(kind: IdxType, dims: &[usize], bound: Bound, path: &Path) -> Result<usize> {
    let header_len = 4 + 4 * dims.len();
    // The product of the non-zero dimensions bounds every partial product
    // (a row's size, say), which a zero count would hide from the total.
    let nonzero = dims
        .iter()
        .filter(|&&d| d != 0)
        .try_fold(kind.size(), |acc, &d| acc.checked_mul(d))
        .filter(|&n| n <= isize::MAX as usize)
        .ok_or_else(|| {
            Error::format(
                path,
                "header (dimensions)",
                format!("dimensions {dims:?} of {kind:?} overflow the addressable size"),
            )
        })?;
    let data_len = if dims.contains(&0) { 0 } else { nonzero };
    let count = data_len / kind.size();
    let (capacity, compressed) = match bound {
        Bound::Raw(len) => (len, false),
        Bound::Gzip(len) => (len.saturating_mul(1032).saturating_add(1024), true),
    };
    if data_len > capacity.saturating_sub(header_len) {
        return Err(Error::format(
            path,
            "header (dimensions)",
            format!(
                "dimensions {dims:?} of {kind:?} need {data_len} data bytes, more than the file can hold ({} bytes)",
                capacity.saturating_sub(header_len)
            ),
        ));
    }
    if compressed && count > MAX_GZIP_VALUES {
        return Err(Error::format(
            path,
            "header (dimensions)",
            format!(
                "dimensions {dims:?} declare {count} values, more than the {MAX_GZIP_VALUES} a gzip-compressed IDX file may hold; decompress it to read it raw"
            ),
        ));
    }
    Ok(data_len)
}

/// Reads and decodes exactly `data_len` bytes of `kind` values, a block at
/// a time, so beside the source only the widened values are held.
///
/// Errors: [`Error::Format`] naming `path` at `data` when the source ends
/// first (`dims` is named in the message).
fn read_values(
    src: &mut dyn Source,
    kind: IdxType,
    data_len: usize,
    dims: &[usize],
    path: &Path,
) -> Result<Vec<f64>> {
    let mut values = Vec::with_capacity(data_len / kind.size());
    let mut block = vec![0u8; BLOCK.min(data_len)];
    let mut read = 0;
    while read < data_len {
        // BLOCK is a multiple of every element size, so blocks end on
        // element boundaries.
        let want = BLOCK.min(data_len - read);
        let got = src.fill(&mut block[..want])?;
        if got < want {
            return Err(Error::format(
                path,
                "data",
                format!(
                    "truncated: {} of {data_len} data bytes for dimensions {dims:?}",
                    read + got
                ),
            ));
        }
        decode_values(kind, &block[..want], &mut values);
        read += want;
    }
    Ok(values)
}

/// Appends the values of whole elements in `data` to `out`.
fn decode_values(kind: IdxType, data: &[u8], out: &mut Vec<f64>) {
    match kind {
        IdxType::U8 => out.extend(data.iter().map(|&b| f64::from(b))),
        IdxType::I8 => out.extend(data.iter().map(|&b| f64::from(b as i8))),
        IdxType::I16 => out.extend(
            data.chunks_exact(2)
                .map(|c| f64::from(i16::from_be_bytes([c[0], c[1]]))),
        ),
        IdxType::I32 => out.extend(
            data.chunks_exact(4)
                .map(|c| f64::from(i32::from_be_bytes([c[0], c[1], c[2], c[3]]))),
        ),
        IdxType::F32 => out.extend(
            data.chunks_exact(4)
                .map(|c| f64::from(f32::from_be_bytes([c[0], c[1], c[2], c[3]]))),
        ),
        IdxType::F64 => out.extend(
            data.chunks_exact(8)
                .map(|c| f64::from_be_bytes(c.try_into().expect("chunks_exact(8)"))),
        ),
    }
}

/// Builds a dataset from an images array (rank >= 2: `n x H x W` gives an
/// image shape, `n x d` does not; higher ranks are flattened per sample) and
/// an optional labels array (rank 1, non-negative integers). Values are kept
/// as stored, not rescaled.
pub fn dataset_from_arrays(
    name: &str,
    images: IdxArray,
    labels: Option<IdxArray>,
    images_path: &Path,
    labels_path: Option<&Path>,
) -> Result<Dataset> {
    let dims = images.dims().to_vec();
    if dims.len() < 2 {
        return Err(Error::format(
            images_path,
            "header (rank)",
            format!("images need rank >= 2 (n x d or n x H x W), got dimensions {dims:?}"),
        ));
    }
    let n = dims[0];
    // Checked: an array built by `IdxArray::new` with a zero count may have
    // other dimensions whose product overflows.
    let d = dims[1..]
        .iter()
        .try_fold(1usize, |acc, &x| acc.checked_mul(x))
        .ok_or_else(|| {
            Error::format(
                images_path,
                "header (dimensions)",
                format!("dimensions {dims:?}: a sample's size overflows"),
            )
        })?;
    if n == 0 || d == 0 {
        return Err(Error::format(
            images_path,
            "header (dimensions)",
            format!("dimensions {dims:?} hold no samples or no features"),
        ));
    }
    let image_shape = (dims.len() == 3).then(|| (dims[1], dims[2]));
    let labels = match labels {
        None => None,
        Some(l) => {
            let lpath = labels_path.unwrap_or(images_path);
            if l.dims().len() != 1 {
                return Err(Error::format(
                    lpath,
                    "header (rank)",
                    format!("labels need rank 1, got dimensions {:?}", l.dims()),
                ));
            }
            if l.dims()[0] != n {
                return Err(Error::format(
                    lpath,
                    "header (dimensions)",
                    format!(
                        "{} labels for {n} images in {}",
                        l.dims()[0],
                        images_path.display()
                    ),
                ));
            }
            Some(super::frame::labels_to_u32(l.values(), lpath, |i| {
                format!("label {i}")
            })?)
        }
    };
    let values = images.into_values();
    let x = DMatrix::from_row_slice(n, d, &values);
    Dataset::new(name, x, labels, image_shape)
}

/// Reads an IDX images file and an optional IDX labels file into a dataset
/// named after the images file's stem.
pub fn read_dataset(images: &Path, labels: Option<&Path>) -> Result<Dataset> {
    let img = IdxArray::read(images)?;
    let lab = labels.map(IdxArray::read).transpose()?;
    dataset_from_arrays(&file_stem(images), img, lab, images, labels)
}

/// Writes a dataset's matrix as IDX (`n x H x W` when it has an image shape,
/// else `n x d`) with element type `kind`, and its labels (as `U8` when all
/// fit, else `I32`) to `labels` if given. Gzip-compressed when `gzip`.
///
/// Errors: [`Error::InvalidData`] if a value is not exact in `kind` (use
/// `F64` for arbitrary data; `F32` rounds, so it is refused unless exact);
/// [`Error::Config`] if labels are requested but the dataset has none.
pub fn write_dataset(
    ds: &Dataset,
    images: &Path,
    labels: Option<&Path>,
    kind: IdxType,
    gzip: bool,
) -> Result<()> {
    let (n, d) = (ds.n_samples(), ds.n_features());
    let dims = match ds.image_shape() {
        Some((h, w)) => vec![n, h, w],
        None => vec![n, d],
    };
    let mut values = Vec::with_capacity(n * d);
    for i in 0..n {
        values.extend(ds.x().row(i).iter().copied());
    }
    let label_array = match (labels, ds.labels()) {
        (None, _) => None,
        (Some(_), None) => {
            return Err(Error::config(
                "labels",
                format!("dataset {:?} has no labels to write", ds.name()),
            ));
        }
        (Some(_), Some(l)) => {
            let lk = if l.iter().all(|&v| v <= 255) {
                IdxType::U8
            } else {
                IdxType::I32
            };
            let vals: Vec<f64> = l.iter().map(|&v| f64::from(v)).collect();
            Some(IdxArray::new(lk, vec![n], vals)?)
        }
    };
    let img = IdxArray::new(kind, dims, values)?;
    img.write(images, gzip)?;
    if let (Some(path), Some(arr)) = (labels, label_array) {
        arr.write(path, gzip)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p() -> &'static Path {
        Path::new("t.idx")
    }

    #[test]
    fn round_trips_every_type_raw_and_gzip() {
        let cases = [
            (IdxType::U8, vec![0.0, 1.0, 255.0, 7.0, 8.0, 9.0]),
            (IdxType::I8, vec![-128.0, 127.0, 0.0, -1.0, 5.0, 6.0]),
            (IdxType::I16, vec![-32768.0, 32767.0, 0.0, 1.0, 2.0, -3.0]),
            (
                IdxType::I32,
                vec![-2_147_483_648.0, 2_147_483_647.0, 0.0, 1.0, 2.0, 3.0],
            ),
            (IdxType::F32, vec![0.5, -1.25, 1_048_576.5, 0.0, 1.0, -0.0]),
            (IdxType::F64, vec![0.1, -1e-300, 1e300, 0.0, 2.5, -7.0]),
        ];
        for (kind, vals) in cases {
            let a = IdxArray::new(kind, vec![2, 3], vals).unwrap();
            let raw = a.to_bytes();
            assert_eq!(raw[2], kind.code());
            assert_eq!(raw.len(), 4 + 8 + 6 * kind.size());
            assert_eq!(IdxArray::from_bytes(&raw, p()).unwrap(), a);
            let mut gz = Vec::new();
            let mut enc = flate2::write::GzEncoder::new(&mut gz, flate2::Compression::fast());
            enc.write_all(&raw).unwrap();
            enc.finish().unwrap();
            assert_eq!(IdxArray::from_bytes(&gz, p()).unwrap(), a);
        }
    }

    #[test]
    fn known_bytes_decode() {
        // u8 2x2 [[1,2],[3,4]] written by hand, big-endian dims.
        let raw = [0, 0, 8, 2, 0, 0, 0, 2, 0, 0, 0, 2, 1, 2, 3, 4];
        let a = IdxArray::from_bytes(&raw, p()).unwrap();
        assert_eq!(a.dims(), &[2, 2]);
        assert_eq!(a.values(), &[1.0, 2.0, 3.0, 4.0]);
        // i16 big-endian: 0x0102 = 258, 0xFFFE = -2.
        let raw = [0, 0, 0x0B, 1, 0, 0, 0, 2, 1, 2, 0xFF, 0xFE];
        assert_eq!(
            IdxArray::from_bytes(&raw, p()).unwrap().values(),
            &[258.0, -2.0]
        );
    }

    #[test]
    fn refuses_values_the_type_cannot_hold() {
        for (kind, v) in [
            (IdxType::U8, 256.0),
            (IdxType::U8, 0.5),
            (IdxType::I8, -129.0),
            (IdxType::F32, 0.1),
            (IdxType::F64, f64::NAN),
        ] {
            let e = IdxArray::new(kind, vec![1], vec![v]).unwrap_err();
            assert!(matches!(e, Error::InvalidData(_)), "{kind:?} {v}: {e}");
        }
    }

    #[test]
    fn huge_dims_are_rejected_before_allocation() {
        // 2^32-1 cubed f64: overflows usize.
        let mut raw = vec![0, 0, 0x0E, 3];
        for _ in 0..3 {
            raw.extend_from_slice(&u32::MAX.to_be_bytes());
        }
        let e = IdxArray::from_bytes(&raw, p()).unwrap_err().to_string();
        assert!(e.contains("overflow"), "{e}");
        // Fits usize but not the file: must not try to allocate 4 GiB.
        let raw = [0, 0, 0x08, 2, 0, 1, 0, 0, 0, 1, 0, 0, 1, 2, 3];
        let e = IdxArray::from_bytes(&raw, p()).unwrap_err().to_string();
        assert!(e.contains("more than the file can hold"), "{e}");
    }
}
