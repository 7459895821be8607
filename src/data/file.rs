//! Opening the files datasets and models are read from: regular files only;
//! and the name a dataset takes from its file.
//!
//! Paths come from users, study files and schedulers. A device such as
//! `/dev/zero` never ends, so reading it to the end exhausts memory; opening
//! a FIFO for reading blocks until a writer appears; a directory holds no
//! data. Each would hang or crash a job where a one-line error is wanted, so
//! only regular files are opened. The path's metadata (symlinks followed) is
//! checked *before* opening, because the open itself is what blocks on a
//! FIFO, and the opened handle's again, in case the path was replaced in
//! between.

use crate::error::{Error, Result};
use std::fs::{File, Metadata};
use std::io::Read;
use std::path::Path;

/// Opens `path` for reading if it is a regular file; returns the file and
/// its length in bytes.
///
/// Errors: [`Error::Io`] naming the path when it cannot be opened or is a
/// directory, FIFO, device or socket.
pub fn open_regular(path: &Path) -> Result<(File, u64)> {
    let meta = std::fs::metadata(path).map_err(|e| Error::io(path, e))?;
    check_regular(path, &meta)?;
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    let meta = file.metadata().map_err(|e| Error::io(path, e))?;
    check_regular(path, &meta)?;
    Ok((file, meta.len()))
}

/// The contents of the regular file `path`: as many bytes as it held when
/// opened, so a file that keeps growing cannot make the read unbounded.
///
/// Errors: as [`open_regular`]; [`Error::Io`] when the read fails or the
/// buffer for the file cannot be allocated.
pub fn read_regular(path: &Path) -> Result<Vec<u8>> {
    let (file, len) = open_regular(path)?;
    let mut bytes = Vec::new();
    usize::try_from(len)
        .ok()
        .and_then(|n| bytes.try_reserve_exact(n).ok())
        .ok_or_else(|| {
            Error::io(
                path,
                std::io::Error::new(
                    std::io::ErrorKind::OutOfMemory,
                    format!("cannot hold the file's {len} bytes in memory"),
                ),
            )
        })?;
    file.take(len)
        .read_to_end(&mut bytes)
        .map_err(|e| Error::io(path, e))?;
    Ok(bytes)
}

/// A dataset's name from its file: the file name without any extension
/// (`train-images.idx3-ubyte.gz` is `train-images`), the same whichever
/// format the file holds.
pub(crate) fn file_stem(path: &Path) -> String {
    let name = path
        .file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    name.split('.').next().unwrap_or_default().to_string()
}

fn check_regular(path: &Path, meta: &Metadata) -> Result<()> {
    if meta.is_file() {
        return Ok(());
    }
    Err(Error::io(
        path,
        std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("is {}, not a regular file", kind(meta)),
        ),
    ))
}

/// What a path that is not a regular file is, for the error message.
fn kind(meta: &Metadata) -> &'static str {
    if meta.is_dir() {
        return "a directory";
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        let t = meta.file_type();
        if t.is_fifo() {
            return "a FIFO";
        }
        if t.is_char_device() || t.is_block_device() {
            return "a device";
        }
        if t.is_socket() {
            return "a socket";
        }
    }
    "a special file"
}
