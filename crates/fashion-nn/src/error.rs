//! The errors of fashion-nn: tensor operations, models, checkpoints and training, plus
//! fashion-data's errors (I/O, data) passed through unchanged.

use std::path::PathBuf;

/// Result alias used throughout the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in this crate.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An error from `fashion_data` (data and I/O), unchanged.
    #[error(transparent)]
    Data(#[from] fashion_data::Error),

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

    /// A polars operation failed.
    #[error("table operation failed: {0}")]
    Polars(#[from] polars::error::PolarsError),
}

impl Error {
    /// The name of the invalid parameter if this is a parameter error (raised before
    /// any work is done, here or in fashion-data), `None` for a run-time error.
    pub fn parameter(&self) -> Option<&'static str> {
        match self {
            Error::InvalidParameter { name, .. } => Some(name),
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
