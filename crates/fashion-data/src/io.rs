//! The one place where the workspace writes files: every file is written to a temporary
//! name in its own directory, flushed and renamed over the target, so a reader never sees
//! it half-written and an interrupted write leaves the previous version intact.
//!
//! [`write_atomic`] writes bytes; [`write_csv`] writes a polars DataFrame as CSV with a
//! header row. Checkpoints, histories, predictions, tables, charts, graphs and reports all
//! go through these two functions.

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
    tmp.write_all(bytes).map_err(io)?;
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
