//! The errors of fashion-data: one variant per way reading, verifying, downloading or writing
//! files can fail, each naming the file or parameter involved and saying what was expected
//! and what was found. [`Io`](Error::Io) is the one I/O error of the whole workspace: the
//! crates above wrap this enum rather than repeat it.
//!
//! Parameter errors are a type of their own, [`ParamError`] (as in linfa): every `check()`
//! of the workspace returns it, so a caller knows from the type alone that nothing ran and
//! nothing was read or written. Each crate's `Error` has a `Params` variant that carries it
//! unchanged, for functions that check their arguments and then do the work.

use std::path::PathBuf;

/// Result alias used throughout the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A parameter with an invalid value, found before any work is done.
///
/// Returned by every `check()` of the workspace (`TrainConfig::check`, `KnnParams::check`,
/// ...) and carried by each crate's `Error::Params` when a function checks its arguments.
///
/// ```
/// use fashion_data::{ParamError, SplitConfig};
///
/// let err: ParamError = SplitConfig { valid_fraction: 1.5, seed: 0 }.check().unwrap_err();
/// assert_eq!(err.name, "valid_fraction");
/// assert_eq!(
///     err.to_string(),
///     "invalid parameter `valid_fraction`: expected a number strictly between 0 and 1, found 1.5"
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid parameter `{name}`: expected {expected}, found {found}")]
pub struct ParamError {
    /// The parameter (field or argument) name.
    pub name: &'static str,
    /// What would have been valid.
    pub expected: String,
    /// What was given.
    pub found: String,
}

impl ParamError {
    /// `name` was `found`, where `expected` would have been valid.
    pub fn new(
        name: &'static str,
        expected: impl Into<String>,
        found: impl std::fmt::Display,
    ) -> Self {
        ParamError {
            name,
            expected: expected.into(),
            found: found.to_string(),
        }
    }
}

/// Everything that can go wrong in this crate.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },

    /// The first four bytes of an IDX file are not the expected magic number.
    #[error("{file}: bad magic number: expected 0x{expected:08x}, found 0x{found:08x}")]
    BadMagic {
        /// The file (or source name) being parsed.
        file: String,
        /// The magic number this kind of file must start with.
        expected: u32,
        /// The magic number that was read.
        found: u32,
    },

    /// The header of an IDX file ends before all dimensions were read.
    #[error("{file}: truncated header: expected {expected} bytes, found {found}")]
    TruncatedHeader {
        /// The file being parsed.
        file: String,
        /// Header length in bytes.
        expected: usize,
        /// Bytes available.
        found: usize,
    },

    /// The image dimensions are not 28×28.
    #[error(
        "{file}: wrong image dimensions: expected {expected_rows}x{expected_cols}, found {rows}x{cols}"
    )]
    BadDimensions {
        /// The file being parsed.
        file: String,
        /// Expected number of rows per image.
        expected_rows: usize,
        /// Expected number of columns per image.
        expected_cols: usize,
        /// Rows found in the header.
        rows: usize,
        /// Columns found in the header.
        cols: usize,
    },

    /// The body of an IDX file is shorter or longer than its header announces.
    #[error("{file}: body length does not match header: expected {expected} bytes, found {found}")]
    BodyLength {
        /// The file being parsed.
        file: String,
        /// Body length implied by the header.
        expected: u64,
        /// Body length actually present.
        found: u64,
    },

    /// A label outside 0–9.
    #[error("{file}: label {label} at index {index} is out of range: expected 0..=9")]
    LabelOutOfRange {
        /// The label file.
        file: String,
        /// Position of the offending label.
        index: usize,
        /// The offending value.
        label: u8,
    },

    /// Image and label files hold different numbers of items.
    #[error(
        "{images_file} holds {images} images but {labels_file} holds {labels} labels: expected equal counts"
    )]
    CountMismatch {
        /// The image file.
        images_file: String,
        /// Number of images.
        images: usize,
        /// The label file.
        labels_file: String,
        /// Number of labels.
        labels: usize,
    },

    /// A gzip stream could not be decoded.
    #[error("{file}: broken gzip stream: {reason}")]
    Gzip {
        /// The file being decompressed.
        file: String,
        /// What the decoder reported.
        reason: String,
    },

    /// A file's SHA-256 does not match the expected value.
    #[error("{file}: checksum mismatch: expected SHA-256 {expected}, found {actual}")]
    ChecksumMismatch {
        /// The file (and, for downloads, where it came from).
        file: String,
        /// Expected SHA-256, hex.
        expected: String,
        /// Actual SHA-256, hex.
        actual: String,
    },

    /// A file's SHA-256 belongs to no known Fashion-MNIST release.
    #[error(
        "{file}: unknown file (SHA-256 {sha256}) matches no known Fashion-MNIST release; \
             expected one of: {known}. Pass allow_unverified (CLI: --allow-unverified, or FASHION_MNIST_ALLOW_UNVERIFIED=1) to use it anyway"
    )]
    UnknownRelease {
        /// The file.
        file: String,
        /// Its SHA-256.
        sha256: String,
        /// The known hashes for this file name, with their release.
        known: String,
    },

    /// The files of a directory come from different releases, whose indexes do not pair.
    #[error(
        "{dir}: files come from different Fashion-MNIST releases ({details}); expected all four from one release"
    )]
    MixedReleases {
        /// The directory.
        dir: PathBuf,
        /// Each file with the release it belongs to.
        details: String,
    },

    /// A data file is missing from a directory.
    #[error(
        "{path}: missing data file (run `fashion data download`, or set FASHION_MNIST_DIR to a directory holding the four .gz files)"
    )]
    MissingFile {
        /// Where it was expected.
        path: PathBuf,
    },

    /// Downloading a file failed on every mirror.
    #[error("downloading {file} failed on every mirror:\n  {attempts}")]
    Download {
        /// The file name.
        file: String,
        /// One line per attempt: URL and reason.
        attempts: String,
    },

    /// No cache directory could be determined.
    #[error("no cache directory: set FASHION_MNIST_DIR to the directory holding the data set")]
    NoCacheDir,

    /// A parameter has an invalid value (nothing was read or written).
    #[error(transparent)]
    Params(#[from] ParamError),

    /// A polars operation failed.
    #[error("table operation failed: {0}")]
    Polars(#[from] polars::error::PolarsError),
}

impl Error {
    /// The name of the invalid parameter if this is a parameter error (raised before
    /// any work is done), `None` for a run-time error.
    pub fn parameter(&self) -> Option<&'static str> {
        match self {
            Error::Params(p) => Some(p.name),
            _ => None,
        }
    }

    /// A failed read or write of `path` ([`Error::Io`]); the crates above convert it
    /// into their own error with `?` or `.into()`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }

    pub(crate) fn invalid(
        name: &'static str,
        expected: impl Into<String>,
        found: impl std::fmt::Display,
    ) -> Self {
        Error::Params(ParamError::new(name, expected, found))
    }
}
