//! The facade's error type: its own failures (charts, tables, studies) and the errors of
//! the crates below it (fashion-data, fashion-nn, fashion-graph), each passed through
//! unchanged so messages read the same whichever layer reports them.

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

    /// An error from `fashion_nn` (networks and training), unchanged.
    #[error(transparent)]
    Nn(#[from] fashion_nn::Error),

    /// An error from `fashion_graph` (similarity graphs), unchanged.
    #[error(transparent)]
    Graph(#[from] fashion_graph::Error),

    /// A parameter has an invalid value (found before any work was done).
    #[error(transparent)]
    Params(#[from] ParamError),

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

    /// Rendering a chart failed.
    #[error("plotting failed: {0}")]
    Plot(String),

    /// A polars operation failed.
    #[error("table operation failed: {0}")]
    Polars(#[from] polars::error::PolarsError),

    /// A binary metric needs both classes, and the labels hold only one.
    #[error(
        "{metric}: expected at least one positive and one negative, found {positives} positives and {negatives} negatives"
    )]
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
}

impl Error {
    /// The name of the invalid parameter if this is a parameter error (raised before
    /// any work is done, here or in a crate below), `None` for a run-time error.
    pub fn parameter(&self) -> Option<&'static str> {
        match self {
            Error::Params(p) => Some(p.name),
            Error::Data(e) => e.parameter(),
            Error::Nn(e) => e.parameter(),
            Error::Graph(e) => e.parameter(),
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
