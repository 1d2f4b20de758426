//! The one place where the workspace writes files: every file is written to a temporary
//! name in its own directory, flushed and renamed over the target, so a reader never sees
//! it half-written and an interrupted write leaves the previous version intact.
//!
//! [`write_atomic`] writes bytes; [`write_csv`] writes a polars DataFrame as CSV with a
//! header row. Checkpoints, histories, predictions, tables, charts, graphs and reports all
//! go through these two functions.
//!
//! With the `fault-injection` feature (tests only), `fault::fail_writes_after` makes
//! this thread's writes fail as on a full disk, so the callers' behaviour on a failed
//! write (error naming the file, no temporary left, previous version intact) is tested
//! without a real full disk.

use std::io::Write;
use std::path::Path;

use polars::prelude::{CsvWriter, DataFrame, SerWriter};

use crate::{Error, Result};

/// Writes `bytes` to `path` through a temporary file in the same directory + rename.
/// The file is readable by everyone (mode 0644 on Unix), like one written with
/// [`std::fs::write`].
///
/// ```
/// # fn main() -> fashion_data::Result<()> {
/// let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("a.txt");
/// fashion_data::io::write_atomic(&path, b"one")?;
/// fashion_data::io::write_atomic(&path, b"two")?;
/// assert_eq!(std::fs::read(&path).unwrap(), b"two");
/// assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1); // no temporary left
/// # Ok(()) }
/// ```
///
/// # Errors
///
/// [`Error::Io`] naming `path` if the directory is missing or not writable, or the write
/// or the rename fails; the temporary file is removed then.
pub fn write_atomic(path: impl AsRef<Path>, bytes: &[u8]) -> Result<()> {
    let path = path.as_ref();
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let io = |e: std::io::Error| Error::io(path, e);
    let mut tmp = tempfile::Builder::new()
        .prefix(".fashion-")
        .suffix(".tmp")
        .tempfile_in(dir)
        .map_err(io)?;
    write_all(&mut tmp, bytes).map_err(io)?;
    tmp.as_file().sync_all().map_err(io)?;
    #[cfg(unix)]
    {
        // Temporary files are created owner-only; a saved file should be readable.
        use std::os::unix::fs::PermissionsExt;
        tmp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(0o644))
            .map_err(io)?;
    }
    tmp.persist(path).map_err(|e| io(e.error))?;
    Ok(())
}

/// `w.write_all(bytes)`, in pieces that the injected fault (tests) can stop part-way.
fn write_all(w: &mut impl Write, bytes: &[u8]) -> std::io::Result<()> {
    for chunk in bytes.chunks(1 << 16) {
        #[cfg(any(test, feature = "fault-injection"))]
        {
            let allowed = fault::allow(chunk.len());
            w.write_all(&chunk[..allowed])?;
            if allowed < chunk.len() {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::StorageFull,
                    "No space left on device (injected by io::fault)",
                ));
            }
        }
        #[cfg(not(any(test, feature = "fault-injection")))]
        w.write_all(chunk)?;
    }
    Ok(())
}

/// Failing writes on purpose, for tests: [`fail_writes_after`] makes the atomic writes
/// of the calling thread fail with "No space left on device" once `bytes` more bytes have
/// been written, until the returned guard is dropped. Other threads are not affected.
#[cfg(any(test, feature = "fault-injection"))]
pub mod fault {
    use std::cell::Cell;

    thread_local! {
        static BUDGET: Cell<Option<usize>> = const { Cell::new(None) };
    }

    /// Turns the injected fault off when dropped.
    #[must_use = "the fault is lifted when the guard is dropped"]
    #[derive(Debug)]
    pub struct FaultGuard(());

    impl Drop for FaultGuard {
        fn drop(&mut self) {
            BUDGET.with(|b| b.set(None));
        }
    }

    /// From now on (until the guard is dropped), this thread's atomic writes fail after
    /// `bytes` more bytes in all.
    pub fn fail_writes_after(bytes: usize) -> FaultGuard {
        BUDGET.with(|b| b.set(Some(bytes)));
        FaultGuard(())
    }

    /// How many of `wanted` bytes may still be written (all of them without a fault).
    pub(super) fn allow(wanted: usize) -> usize {
        BUDGET.with(|b| match b.get() {
            None => wanted,
            Some(left) => {
                let n = left.min(wanted);
                b.set(Some(left - n));
                n
            }
        })
    }
}

/// Writes `df` as CSV (with a header row) to `path` through [`write_atomic`], so the
/// file is never seen half-written.
///
/// ```
/// # use fashion_data::polars::prelude::*;
/// # fn main() -> fashion_data::Result<()> {
/// let df = df!("class" => ["Bag", "Coat"], "n" => [3u32, 4])?;
/// let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("t.csv");
/// fashion_data::io::write_csv(&df, &path)?;
/// assert_eq!(std::fs::read_to_string(&path).unwrap(), "class,n\nBag,3\nCoat,4\n");
/// # Ok(()) }
/// ```
///
/// # Errors
///
/// [`Error::Polars`] if polars cannot serialise the frame; [`Error::Io`] naming `path`
/// if writing fails.
pub fn write_csv(df: &DataFrame, path: impl AsRef<Path>) -> Result<()> {
    let mut bytes = Vec::new();
    CsvWriter::new(&mut bytes)
        .include_header(true)
        .finish(&mut df.clone())?;
    write_atomic(path, &bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_directory_is_an_io_error_naming_the_file_and_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("no/such/file.csv");
        let err = write_atomic(&path, b"x").unwrap_err();
        assert!(matches!(err, Error::Io { .. }), "{err}");
        assert!(err.to_string().contains("file.csv"), "{err}");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn a_failed_write_names_the_file_removes_the_temporary_and_keeps_the_old_version() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("report.html");
        write_atomic(&path, b"old version").unwrap();
        let big = vec![7u8; 200_000];
        for after in [0, 10, 70_000, 199_999] {
            let guard = fault::fail_writes_after(after);
            let err = write_atomic(&path, &big).unwrap_err();
            drop(guard);
            match &err {
                Error::Io { path: p, source } => {
                    assert_eq!(p, &path);
                    assert_eq!(source.kind(), std::io::ErrorKind::StorageFull);
                }
                e => panic!("expected Io, got {e}"),
            }
            assert!(err.to_string().contains("report.html"), "{err}");
            assert_eq!(
                std::fs::read(&path).unwrap(),
                b"old version",
                "after {after}"
            );
            assert_eq!(
                std::fs::read_dir(dir.path()).unwrap().count(),
                1,
                "temp left"
            );
        }
        // The guard is gone: writes work again.
        write_atomic(&path, &big).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), big);
    }

    #[cfg(unix)]
    #[test]
    fn written_files_are_world_readable() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.bin");
        write_atomic(&path, b"abc").unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o644);
    }
}
