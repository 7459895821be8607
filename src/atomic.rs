//! Atomic file writes: write to a temporary file in the target's directory,
//! flush and sync it, then rename over the target. A crash or error midway
//! leaves either the old file or nothing, never a half-written one.
//! [`create_atomic`] renames only if the target does not exist yet, so
//! processes racing to create one file cannot both succeed.
//!
//! A process killed between creating its temporary file and renaming it
//! leaves the temporary behind; [`remove_stale_temps`] clears those.

use crate::error::{Error, Result};
use std::io::Write;
use std::path::Path;
use std::time::{Duration, SystemTime};

/// How the temporary files (and report staging directories) this crate
/// creates are named: `{TEMP_PREFIX}{random}{TEMP_SUFFIX}`.
pub const TEMP_PREFIX: &str = ".tiedae-";
/// See [`TEMP_PREFIX`].
pub const TEMP_SUFFIX: &str = ".tmp";

/// How long before a process started a temporary file must have been last
/// changed for [`remove_stale_temps`] to take it for a killed run's. Runs
/// share directories (shards share a cache), and another live process's
/// temporary file can sit unrenamed for a while when `fsync` is slow, as on
/// network filesystems; a stale file costs only its space, so waiting is
/// the safe side.
pub const STALE_AFTER: Duration = Duration::from_secs(600);

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
    builder.prefix(TEMP_PREFIX).suffix(TEMP_SUFFIX);
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

/// Removes the temporary files and staging directories killed runs left
/// directly in `dir` (not below it): entries named `.tiedae-*.tmp`, last
/// changed at least [`STALE_AFTER`] before `started` (the time the calling
/// process started). Nothing else is touched; a symlink of that name is
/// removed itself, never followed. Returns how many entries were removed.
///
/// Best effort: a missing or unreadable `dir`, or an entry that cannot be
/// removed, is skipped, as a leftover costs only space.
pub fn remove_stale_temps(dir: &Path, started: SystemTime) -> usize {
    let Some(cutoff) = started.checked_sub(STALE_AFTER) else {
        return 0;
    };
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    let mut removed = 0;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str() else {
            continue;
        };
        if !is_temp_name(name) {
            continue;
        }
        let path = entry.path();
        // `symlink_metadata`: the entry itself, not what a link points to.
        let Ok(meta) = std::fs::symlink_metadata(&path) else {
            continue;
        };
        match meta.modified() {
            Ok(t) if t < cutoff => {}
            _ => continue,
        }
        let gone = if meta.is_dir() {
            std::fs::remove_dir_all(&path)
        } else {
            std::fs::remove_file(&path)
        };
        if gone.is_ok() {
            removed += 1;
        }
    }
    removed
}

/// Whether `name` is one [`written_temp`] or a report's staging directory
/// gets: the prefix, at least one character, the suffix.
fn is_temp_name(name: &str) -> bool {
    name.len() > TEMP_PREFIX.len() + TEMP_SUFFIX.len()
        && name.starts_with(TEMP_PREFIX)
        && name.ends_with(TEMP_SUFFIX)
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

    /// Only `.tiedae-*.tmp` entries last changed well before the process
    /// started are removed; fresh ones (another process may be writing
    /// them) and every other name stay.
    #[test]
    fn stale_temps_are_removed_and_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        let started = SystemTime::now();
        let old = started - STALE_AFTER - Duration::from_secs(60);
        let make = |name: &str, when: SystemTime| {
            let path = dir.path().join(name);
            std::fs::write(&path, b"x").unwrap();
            std::fs::File::options()
                .write(true)
                .open(&path)
                .unwrap()
                .set_modified(when)
                .unwrap();
        };
        make(".tiedae-abc123.tmp", old);
        make(".tiedae-fresh1.tmp", started);
        make(".tiedae-.tmp", old);
        make("tiedae-abc.tmp", old);
        make(".tiedae-abc.json", old);
        make("cell.json", old);
        let staging = dir.path().join(".tiedae-report-xyz.tmp");
        std::fs::create_dir(&staging).unwrap();
        std::fs::write(staging.join("index.html"), b"x").unwrap();
        std::fs::File::open(&staging)
            .unwrap()
            .set_modified(old)
            .unwrap();

        assert_eq!(remove_stale_temps(dir.path(), started), 2);
        let mut left: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        assert_eq!(
            left,
            [
                ".tiedae-.tmp",
                ".tiedae-abc.json",
                ".tiedae-fresh1.tmp",
                "cell.json",
                "tiedae-abc.tmp"
            ]
        );
        assert_eq!(remove_stale_temps(&dir.path().join("missing"), started), 0);
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
