//! Atomic file writes: write to a temporary file in the target's directory,
//! flush and sync it, then rename over the target. A crash or error midway
//! leaves either the old file or nothing, never a half-written one.
//! [`create_atomic`] renames only if the target does not exist yet, so
//! processes racing to create one file cannot both succeed.

use crate::error::{Error, Result};
use std::io::Write;
use std::path::Path;

/// Writes `path` atomically with the bytes `write` produces.
///
/// If `write` fails, the temporary file is removed and `path` is untouched.
pub fn write_atomic<F>(path: &Path, write: F) -> Result<()>
where
    F: FnOnce(&mut dyn Write) -> Result<()>,
{
    let tmp = written_temp(path, write)?;
    tmp.persist(path).map_err(|e| Error::io(path, e.error))?;
    Ok(())
}

/// Creates `path` with the bytes `write` produces, atomically, unless it
/// exists already: then returns `Ok(false)` and leaves it as it was.
///
/// Of several processes creating one path at once exactly one gets
/// `Ok(true)`, and the file is whole whenever it is visible, so the others
/// can read at once what the winner wrote: a file that claims a directory
/// (as a study's `run.json` does) is created this way, where a check for
/// the file followed by a write would let two processes both claim it.
///
/// If `write` fails, the temporary file is removed and `path` is untouched.
pub fn create_atomic<F>(path: &Path, write: F) -> Result<bool>
where
    F: FnOnce(&mut dyn Write) -> Result<()>,
{
    let tmp = written_temp(path, write)?;
    match tmp.persist_noclobber(path) {
        Ok(_) => Ok(true),
        Err(e) if e.error.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
        Err(e) => Err(Error::io(path, e.error)),
    }
}

/// A temporary file in `path`'s directory holding the bytes `write`
/// produces, flushed and synced, with the permissions a plain create would
/// give `path` (or `path`'s own, when it exists): ready to be renamed over
/// it. Dropped, it is removed.
fn written_temp<F>(path: &Path, write: F) -> Result<tempfile::NamedTempFile>
where
    F: FnOnce(&mut dyn Write) -> Result<()>,
{
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let mut builder = tempfile::Builder::new();
    builder.prefix(".tiedae-").suffix(".tmp");
    // Temporary files are private (0600); the result should be readable as
    // a plain `File::create` would leave it: 0666 less the umask.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(std::fs::Permissions::from_mode(0o666));
    }
    let mut tmp = builder.tempfile_in(dir).map_err(|e| Error::io(dir, e))?;
    // Replacing a file keeps its permissions, as writing it in place would.
    if let Ok(meta) = std::fs::metadata(path) {
        tmp.as_file()
            .set_permissions(meta.permissions())
            .map_err(|e| Error::io(path, e))?;
    }
    {
        let mut buf = std::io::BufWriter::new(tmp.as_file_mut());
        write(&mut buf)?;
        buf.flush().map_err(|e| Error::io(path, e))?;
    }
    tmp.as_file().sync_all().map_err(|e| Error::io(path, e))?;
    Ok(tmp)
}

/// Writes `bytes` to `path` atomically.
pub fn write_bytes_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    write_atomic(path, |w| w.write_all(bytes).map_err(|e| Error::io(path, e)))
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    /// A new file gets the mode a plain create gives it (0666 less the
    /// umask), and a replaced file keeps its own.
    #[test]
    fn written_files_get_ordinary_permissions() {
        let dir = tempfile::tempdir().unwrap();
        let plain = dir.path().join("plain.txt");
        std::fs::File::create(&plain).unwrap();
        let fresh = dir.path().join("fresh.txt");
        write_bytes_atomic(&fresh, b"one").unwrap();
        assert_eq!(mode(&fresh), mode(&plain));

        std::fs::set_permissions(&fresh, std::fs::Permissions::from_mode(0o640)).unwrap();
        write_bytes_atomic(&fresh, b"two").unwrap();
        assert_eq!(mode(&fresh), 0o640);
        assert_eq!(std::fs::read(&fresh).unwrap(), b"two");
    }

    /// Creating a file that exists leaves it as it was; of threads racing
    /// to create one file exactly one does, and no temporary file remains.
    #[test]
    fn create_atomic_creates_once() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("claim.txt");
        let put = |bytes: &[u8]| {
            create_atomic(&target, |w| {
                w.write_all(bytes).map_err(|e| Error::io(&target, e))
            })
            .unwrap()
        };
        assert!(put(&b"first"[..]));
        assert!(!put(&b"second"[..]));
        assert_eq!(std::fs::read(&target).unwrap(), b"first");

        let raced = dir.path().join("raced.txt");
        let wins: Vec<(bool, String)> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..8)
                .map(|i| {
                    let raced = &raced;
                    s.spawn(move || {
                        let body = format!("thread {i}");
                        let won = create_atomic(raced, |w| {
                            w.write_all(body.as_bytes())
                                .map_err(|e| Error::io(raced, e))
                        })
                        .unwrap();
                        (won, body)
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let winners: Vec<&String> = wins.iter().filter(|w| w.0).map(|w| &w.1).collect();
        assert_eq!(winners.len(), 1, "{wins:?}");
        assert_eq!(
            std::fs::read_to_string(&raced).unwrap(),
            *winners[0],
            "the file holds the winner's bytes"
        );
        let left = std::fs::read_dir(dir.path()).unwrap().count();
        assert_eq!(left, 2, "only the two targets remain");
    }

    /// A failing writer leaves the target as it was and no temporary file.
    #[test]
    fn failed_write_leaves_target_alone() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("target.txt");
        write_bytes_atomic(&target, b"old").unwrap();
        let err = write_atomic(&target, |w| {
            w.write_all(b"partial").unwrap();
            Err(Error::InvalidData("stop".into()))
        });
        assert!(err.is_err());
        assert_eq!(std::fs::read(&target).unwrap(), b"old");
        let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(left.len(), 1, "only the target remains");
    }
}
