//! The crate's error type: one variant per way things can go wrong, each naming the
//! file or parameter involved and saying what was expected and what was found.

use std::path::PathBuf;

/// Result alias used throughout the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

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
    #[error("{file}: wrong image dimensions: expected {expected_rows}x{expected_cols}, found {rows}x{cols}")]
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
    #[error("{images_file} holds {images} images but {labels_file} holds {labels} labels: expected equal counts")]
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
    #[error("{file}: unknown file (SHA-256 {sha256}) matches no known Fashion-MNIST release; \
             expected one of: {known}. Pass allow_unverified (CLI: --allow-unverified) to use it anyway")]
    UnknownRelease {
        /// The file.
        file: String,
        /// Its SHA-256.
        sha256: String,
        /// The known hashes for this file name, with their release.
        known: String,
    },

    /// The files of a directory come from different releases, whose indexes do not pair.
    #[error("{dir}: files come from different Fashion-MNIST releases ({details}); expected all four from one release")]
    MixedReleases {
        /// The directory.
        dir: PathBuf,
        /// Each file with the release it belongs to.
        details: String,
    },

    /// A data file is missing from a directory.
    #[error("{path}: missing data file (run `fashion data download`, or set FASHION_MNIST_DIR to a directory holding the four .gz files)")]
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

    /// A parameter has an invalid value.
    #[error("invalid parameter `{name}`: expected {expected}, found {found}")]
    InvalidParameter {
        /// The parameter name.
        name: &'static str,
        /// What would have been valid.
        expected: String,
        /// What was given.
        found: String,
    },

    /// The shapes of the tensors handed to a tensor operation do not fit together.
    #[error("{op}: shape mismatch: expected {expected}, found {found}")]
    ShapeMismatch {
        /// The operation, e.g. `conv2d`.
        op: &'static str,
        /// The shape (or constraint) that would have been valid.
        expected: String,
        /// The shape that was given.
        found: String,
    },

    /// dfdx's CPU device failed inside a tensor operation (in practice: out of memory).
    #[error("{op}: tensor operation failed: {source}")]
    Tensor {
        /// The operation, e.g. `conv2d`.
        op: &'static str,
        /// dfdx's error.
        #[source]
        source: dfdx::tensor::CpuError,
    },

    /// A checkpoint directory or file is missing, corrupt, or does not fit the model.
    #[error("checkpoint {path}: {reason}")]
    Checkpoint {
        /// The file or directory involved.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },

    /// The training loss became NaN or infinite.
    #[error("training diverged: loss is {loss} at epoch {epoch}, batch {batch} (try a lower learning rate)")]
    NonFiniteLoss {
        /// Epoch (1-based).
        epoch: usize,
        /// Batch within the epoch (1-based).
        batch: usize,
        /// The loss value.
        loss: f32,
    },

    /// Rendering a chart failed.
    #[error("plotting failed: {0}")]
    Plot(String),

    /// A polars operation failed.
    #[error("table operation failed: {0}")]
    Polars(#[from] polars::error::PolarsError),

    // --- eval / analysis ---
    /// A binary metric needs both classes, and the labels hold only one.
    #[error("{metric}: expected at least one positive and one negative, found {positives} positives and {negatives} negatives")]
    OneClassOnly {
        /// The metric, e.g. `roc_auc`.
        metric: &'static str,
        /// Number of positives given.
        positives: usize,
        /// Number of negatives given.
        negatives: usize,
    },

    /// A linfa clustering algorithm failed.
    #[error("{method}: clustering failed: {reason}")]
    Clustering {
        /// The method, e.g. `kmeans`.
        method: &'static str,
        /// What linfa reported.
        reason: String,
    },
    // --- graph ---
    /// A similarity graph needs at least two images.
    #[error("graph input: expected at least 2 rows (images), found {found}")]
    TooFewNodes {
        /// Rows given.
        found: usize,
    },

    /// The feature matrix and the node list describe different numbers of images.
    #[error("graph input: the matrix has {rows} rows but {nodes} nodes were given: expected one node per row")]
    NodeCountMismatch {
        /// Rows of the matrix.
        rows: usize,
        /// Entries of the node list.
        nodes: usize,
    },

    /// The feature matrix has no columns.
    #[error("graph input: expected at least 1 feature column, found 0")]
    NoFeatures,

    /// A feature value is NaN or infinite.
    #[error(
        "graph input: row {row} (image {id}), column {column} is {value}: expected finite values"
    )]
    NonFiniteFeature {
        /// Row of the matrix.
        row: usize,
        /// The image id of that row.
        id: usize,
        /// Column of the matrix.
        column: usize,
        /// The offending value.
        value: f32,
    },

    /// A row is constant, so it has no correlation with anything (zero variance).
    #[error("graph input: row {row} (image {id}) is constant: correlation and lasso need rows with non-zero variance")]
    ConstantRow {
        /// Row of the matrix.
        row: usize,
        /// The image id of that row.
        id: usize,
    },

    /// A node's class or predicted class is not a Fashion-MNIST class.
    #[error("graph input: node {row} (image {id}) has {field} {value}: expected 0..=9")]
    NodeClassOutOfRange {
        /// Position in the node list.
        row: usize,
        /// The image id.
        id: usize,
        /// `class` or `predicted`.
        field: &'static str,
        /// The offending value.
        value: u8,
    },

    /// A correlation threshold outside [-1, 1] (or NaN).
    #[error("invalid parameter `threshold`: expected a correlation in [-1, 1], found {found}")]
    InvalidThreshold {
        /// The value given.
        found: f64,
    },

    /// A target mean degree that no graph on these nodes can have.
    #[error("invalid parameter `mean_degree`: expected a value in (0, n - 1]{}, found {found}", nodes_note(.nodes))]
    InvalidMeanDegree {
        /// The value given.
        found: f64,
        /// Number of nodes, when known.
        nodes: Option<usize>,
    },

    /// A lasso penalty that is not a positive finite number.
    #[error("invalid parameter `alpha`: expected a finite lasso penalty > 0, found {found}")]
    InvalidPenalty {
        /// The value given.
        found: f64,
    },

    /// A Meinshausen–Bühlmann level outside (0, 1).
    #[error("invalid parameter `level`: expected a probability in (0, 1), found {found}")]
    InvalidLevel {
        /// The value given.
        found: f64,
    },

    /// A lasso convergence tolerance that is not a positive finite number.
    #[error("invalid parameter `tolerance`: expected a finite value > 0, found {found}")]
    InvalidTolerance {
        /// The value given.
        found: f64,
    },

    /// An iteration or step count of zero.
    #[error("invalid parameter `{name}`: expected at least 1, found {found}")]
    InvalidIterations {
        /// Which count: `max_iterations`, `bisection_steps` or `iterations`.
        name: &'static str,
        /// The value given.
        found: usize,
    },

    /// A number of neighbours outside `1..n`.
    #[error("invalid parameter `k`: expected 1 <= k <= n - 1 neighbours{}, found {found}", nodes_note(.nodes))]
    InvalidNeighbours {
        /// The value given.
        found: usize,
        /// Number of nodes, when known.
        nodes: Option<usize>,
    },

    /// A layout's gravity that is not a finite number ≥ 0.
    #[error("invalid parameter `gravity`: expected a finite value >= 0, found {found}")]
    InvalidGravity {
        /// The value given.
        found: f64,
    },
}

/// ` (n = N nodes)` when the node count is known.
fn nodes_note(nodes: &Option<usize>) -> String {
    nodes
        .map(|n| format!(" (n = {n} nodes)"))
        .unwrap_or_default()
}

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
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
        Error::InvalidParameter {
            name,
            expected: expected.into(),
            found: found.to_string(),
        }
    }
}
