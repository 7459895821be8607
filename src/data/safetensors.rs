//! Datasets from one tensor of a `.safetensors` file, the format PyTorch
//! and the Hugging Face libraries save tensors in without pickling
//! (`safetensors.torch.save_file`, `safetensors.numpy.save_file`).
//!
//! Layout: a little-endian `u64` header length, a JSON header mapping each
//! tensor's name to its dtype, shape and byte range (plus an optional
//! `__metadata__` map), then the tensors' bytes, little-endian, row-major.
//! The header is parsed and validated by the `safetensors` crate (the model
//! export's, see `crate::model::safetensors`): offsets contiguous, each
//! range the size its shape and dtype imply, products checked.
//!
//! Read: one 2-D `F32` or `F64` tensor (`n x d`, rows are samples). A file
//! of a single tensor needs no name; a file of several is refused with one
//! line listing them, and the tensor is named as `FILE.safetensors:NAME`
//! where a dataset is one string (`--dataset`, [`Dataset::resolve`]) or as
//! `tensor = "NAME"` in a study file. Other dtypes and ranks are refused
//! naming the tensor, e.g. `acts.safetensors: tensor "ids": dtype I32 is
//! not F32 or F64`.
//!
//! Only the header and the chosen tensor's bytes are read, a block at a
//! time (see `super::dense`): the header's length is checked against the
//! file's before it is read, and the byte ranges the header declares must
//! fill the file exactly, so nothing is allocated from a size the file
//! cannot back. Non-finite values are refused naming their row and column.

use super::Dataset;
use super::dense::{
    Endian, Float, Layout, Order, check_dataset_shape, read_header_text, read_matrix, read_up_to,
};
use super::file::{file_stem, open_regular};
use crate::error::{Error, Result};
use ::safetensors::tensor::{Dtype, Metadata, TensorInfo};
use std::fs::File;
use std::io::{Seek, SeekFrom};
use std::path::Path;

/// The longest header read: the limit the `safetensors` crate itself
/// enforces (100 MB).
pub const MAX_HEADER_LEN: u64 = 100_000_000;

/// Tensor names an error lists before it counts the rest, so a model file
/// of thousands of tensors still gives a one-line error.
const LISTED: usize = 20;

/// Reads tensor `tensor` of the `.safetensors` file at `path` (the file's
/// only tensor when `None`) into a dataset. The dataset is named after the
/// file's stem, with `:NAME` added when the tensor was named, so tensors of
/// one file are told apart in results. `image_shape` declares each row a
/// row-major image.
///
/// Errors: [`Error::Io`] if the file cannot be read or is not a regular
/// file (see [`super::file`]); [`Error::Format`] naming the file for a
/// malformed header, a missing tensor or several tensors and no name
/// (listing the names), and naming the tensor for a dtype other than
/// `F32`/`F64`, a shape that is not 2-D or holds fewer than two rows, or a
/// non-finite value; [`Error::Shape`] for an image shape that does not
/// match the columns.
pub fn read_tensor(
    path: &Path,
    tensor: Option<&str>,
    image_shape: Option<(usize, usize)>,
) -> Result<Dataset> {
    let (mut file, len) = open_regular(path)?;
    let (metadata, data_start) = read_header(&mut file, len, path)?;
    let name = chosen_tensor(&metadata, tensor, path)?;
    let info = metadata
        .info(&name)
        .ok_or_else(|| Error::format(path, "tensors", format!("no tensor {}", shown(&name))))?;
    let layout = tensor_layout(info, path, &format!("tensor {}", shown(&name)))?;
    let (begin, _) = info.data_offsets;
    file.seek(SeekFrom::Start(data_start + begin as u64))
        .map_err(|e| Error::io(path, e))?;
    let x = read_matrix(&mut file, &layout, path)?;
    let ds_name = match tensor {
        Some(t) => format!("{}:{t}", file_stem(path)),
        None => file_stem(path),
    };
    Dataset::new(ds_name, x, None, image_shape)
}

/// Reads and validates the header of the file at `path` (`len` bytes,
/// `file` positioned at its start): its length is checked against the
/// file's and [`MAX_HEADER_LEN`] before it is read, and the byte ranges it
/// declares must end exactly at the end of the file. Returns the parsed
/// header and the offset of the first tensor byte.
///
/// Errors: [`Error::Format`] at `header` naming `path`; [`Error::Io`] when
/// a read fails.
fn read_header(file: &mut File, len: u64, path: &Path) -> Result<(Metadata, u64)> {
    let bad = |reason: String| Error::format(path, "header", reason);
    let mut n_bytes = [0u8; 8];
    let got = read_up_to(file, &mut n_bytes, path)?;
    if got == 0 {
        return Err(bad("empty file".into()));
    }
    if got < n_bytes.len() {
        return Err(bad(format!(
            "file ends after {got} bytes, inside the 8-byte header length"
        )));
    }
    let header_len = u64::from_le_bytes(n_bytes);
    if header_len > len.saturating_sub(8) {
        return Err(bad(format!(
            "header length {header_len} runs past the end of the file ({len} bytes)"
        )));
    }
    if header_len > MAX_HEADER_LEN {
        return Err(bad(format!(
            "header length {header_len} is more than the {MAX_HEADER_LEN} bytes safetensors allows"
        )));
    }
    // At most MAX_HEADER_LEN, so it fits usize.
    let text = read_header_text(file, header_len as usize, path)?;
    let metadata: Metadata =
        serde_json::from_str(&text).map_err(|e| bad(format!("not a safetensors header: {e}")))?;
    let data_start = 8 + header_len;
    let data_end = u64::try_from(metadata.data_len())
        .ok()
        .and_then(|n| n.checked_add(data_start));
    if data_end != Some(len) {
        let declared =
            data_end.map_or_else(|| "beyond any file".to_string(), |e| format!("at byte {e}"));
        return Err(bad(format!(
            "the tensors' byte ranges end {declared}, the file has {len} bytes"
        )));
    }
    Ok((metadata, data_start))
}

/// The name of the tensor to read: `tensor` when the file holds it, else
/// the file's only tensor.
///
/// Errors: [`Error::Format`] at `tensors` naming `path` for a named tensor
/// the file lacks, a file of no tensors, or several tensors and no name
/// (listing the names in the order they were written).
fn chosen_tensor(metadata: &Metadata, tensor: Option<&str>, path: &Path) -> Result<String> {
    // Ordered by offset: the order the tensors were written in.
    let names = metadata.offset_keys();
    match tensor {
        Some(t) => {
            if metadata.info(t).is_none() {
                return Err(Error::format(
                    path,
                    "tensors",
                    format!("no tensor {}; the file holds {}", shown(t), listed(&names)),
                ));
            }
            Ok(t.to_string())
        }
        None => match &names[..] {
            [] => Err(Error::format(path, "tensors", "the file holds no tensors")),
            [only] => Ok(only.clone()),
            _ => Err(Error::format(
                path,
                "tensors",
                format!(
                    "{} tensors and none named; name one as {}:NAME (in a study file, tensor = \"NAME\"): {}",
                    names.len(),
                    path.display(),
                    listed(&names)
                ),
            )),
        },
    }
}

/// The layout of the tensor `info` describes, checked to be a 2-D `F32` or
/// `F64` dataset whose byte range holds exactly its values.
///
/// Errors: [`Error::Format`] naming `path` and the tensor (`location`) for
/// another dtype, a shape that is not 2-D or no dataset's (see
/// [`check_dataset_shape`]), or a byte range of another size.
fn tensor_layout(info: &TensorInfo, path: &Path, location: &str) -> Result<Layout> {
    let float = match info.dtype {
        Dtype::F32 => Float::F32,
        Dtype::F64 => Float::F64,
        other => {
            return Err(Error::format(
                path,
                location,
                format!("dtype {other} is not F32 or F64"),
            ));
        }
    };
    let (rows, cols) = match info.shape[..] {
        [rows, cols] => (rows, cols),
        _ => {
            return Err(Error::format(
                path,
                location,
                format!(
                    "shape {:?} is {}-D; a dataset is 2-D (samples x features): save x.reshape(n, d) instead",
                    info.shape,
                    info.shape.len()
                ),
            ));
        }
    };
    check_dataset_shape(rows, cols, path, location)?;
    let layout = Layout {
        float,
        endian: Endian::Little,
        order: Order::RowMajor,
        rows,
        cols,
    };
    // The crate checked that the range is the size shape and dtype imply;
    // check it against the layout read here too, so the reads of the data
    // cannot leave the tensor's bytes.
    let (begin, end) = info.data_offsets;
    if layout.byte_len() != Some(end - begin) {
        return Err(Error::format(
            path,
            location,
            format!(
                "byte range {begin}..{end} does not hold {rows} x {cols} {} values",
                float.name()
            ),
        ));
    }
    Ok(layout)
}

/// A tensor name in double quotes, cut after 60 characters, so a hostile
/// header cannot make an error longer than a line.
fn shown(name: &str) -> String {
    let head: String = name.chars().take(60).collect();
    let cut = if head.len() < name.len() { "..." } else { "" };
    format!("\"{}{cut}\"", head.escape_debug())
}

/// The names, quoted and comma-separated; past [`LISTED`] the rest are
/// counted instead.
fn listed(names: &[String]) -> String {
    let mut parts: Vec<String> = names.iter().take(LISTED).map(|n| shown(n)).collect();
    if names.len() > LISTED {
        parts.push(format!("and {} more", names.len() - LISTED));
    }
    parts.join(", ")
}
