//! The errors of fashion-graph: invalid graph input and invalid parameters of the
//! measures and the layout, plus fashion-data's errors (I/O) passed through unchanged.

/// Result alias used throughout the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in this crate.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An error from `fashion_data` (data and I/O), unchanged.
    #[error(transparent)]
    Data(#[from] fashion_data::Error),

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

    /// A polars operation failed.
    #[error("table operation failed: {0}")]
    Polars(#[from] polars::error::PolarsError),
}

/// ` (n = N nodes)` when the node count is known.
fn nodes_note(nodes: &Option<usize>) -> String {
    nodes
        .map(|n| format!(" (n = {n} nodes)"))
        .unwrap_or_default()
}

impl Error {
    /// The name of the invalid parameter if this is a parameter error (raised before
    /// any work is done, here or in fashion-data), `None` for a run-time error such as
    /// unusable input data.
    pub fn parameter(&self) -> Option<&'static str> {
        match self {
            Error::InvalidParameter { name, .. } => Some(name),
            Error::InvalidThreshold { .. } => Some("threshold"),
            Error::InvalidMeanDegree { .. } => Some("mean_degree"),
            Error::InvalidPenalty { .. } => Some("alpha"),
            Error::InvalidLevel { .. } => Some("level"),
            Error::InvalidTolerance { .. } => Some("tolerance"),
            Error::InvalidIterations { name, .. } => Some(name),
            Error::InvalidNeighbours { .. } => Some("k"),
            Error::InvalidGravity { .. } => Some("gravity"),
            Error::Data(e) => e.parameter(),
            _ => None,
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
