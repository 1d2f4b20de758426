//! The errors of fashion-graph: invalid graph input and invalid parameters of the
//! measures and the layout, plus fashion-data's errors (I/O) passed through unchanged.

pub use fashion_data::ParamError;

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
    #[error(
        "graph input: the matrix has {rows} rows but {nodes} nodes were given: expected one node per row"
    )]
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
    #[error(
        "graph input: row {row} (image {id}) is constant: correlation and lasso need rows with non-zero variance"
    )]
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

    /// A parameter has an invalid value (found before any work was done).
    #[error(transparent)]
    Params(#[from] ParamError),

    /// A polars operation failed.
    #[error("table operation failed: {0}")]
    Polars(#[from] polars::error::PolarsError),
}

/// ` (n = N nodes)` when the node count is known.
pub(crate) fn nodes_note(nodes: &Option<usize>) -> String {
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
            Error::Params(p) => Some(p.name),
            Error::Data(e) => e.parameter(),
            _ => None,
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

// The parameter errors of the measures and the layout, one constructor per kind, so each
// is worded the same wherever it is raised (in `check()` or when a graph is built).

/// `threshold` outside [-1, 1] (or NaN).
pub(crate) fn bad_threshold(found: f64) -> ParamError {
    ParamError::new("threshold", "a correlation in [-1, 1]", found)
}

/// A target mean degree that no graph on these nodes can have.
pub(crate) fn bad_mean_degree(found: f64, nodes: Option<usize>) -> ParamError {
    let expected = format!("a value in (0, n - 1]{}", nodes_note(&nodes));
    ParamError::new("mean_degree", expected, found)
}

/// A lasso penalty that is not a positive finite number.
pub(crate) fn bad_penalty(found: f64) -> ParamError {
    ParamError::new("alpha", "a finite lasso penalty > 0", found)
}

/// A Meinshausen–Bühlmann level outside (0, 1).
pub(crate) fn bad_level(found: f64) -> ParamError {
    ParamError::new("level", "a probability in (0, 1)", found)
}

/// A lasso convergence tolerance that is not a positive finite number.
pub(crate) fn bad_tolerance(found: f64) -> ParamError {
    ParamError::new("tolerance", "a finite value > 0", found)
}

/// An iteration or step count of zero (`max_iterations`, `bisection_steps`, `iterations`).
pub(crate) fn bad_iterations(name: &'static str, found: usize) -> ParamError {
    ParamError::new(name, "at least 1", found)
}

/// A number of neighbours outside `1..n`.
pub(crate) fn bad_neighbours(found: usize, nodes: Option<usize>) -> ParamError {
    let expected = format!("1 <= k <= n - 1 neighbours{}", nodes_note(&nodes));
    ParamError::new("k", expected, found)
}

/// A layout's gravity that is not a finite number ≥ 0.
pub(crate) fn bad_gravity(found: f64) -> ParamError {
    ParamError::new("gravity", "a finite value >= 0", found)
}
