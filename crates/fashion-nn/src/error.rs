//! The errors of fashion-nn: tensor operations, models, checkpoints and training, plus
//! fashion-data's errors (I/O, data) passed through unchanged.

use std::path::PathBuf;

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
    #[error(
        "training diverged: loss is {loss} at epoch {epoch}, batch {batch} (try a lower learning rate)"
    )]
    NonFiniteLoss {
        /// Epoch (1-based).
        epoch: usize,
        /// Batch within the epoch (1-based).
        batch: usize,
        /// The loss value.
        loss: f32,
    },

    /// A NaN or an infinity appeared at the end of an epoch, in the weights or the
    /// validation loss. Nothing of that epoch was saved: the checkpoint of the epoch
    /// before (and `best.safetensors`) are unchanged and loadable.
    #[error(
        "training diverged: {what} is {value} after epoch {epoch}; nothing of epoch {epoch} was saved (try a lower learning rate)"
    )]
    NonFinite {
        /// Epoch (1-based).
        epoch: usize,
        /// What held the value, e.g. `the validation loss` or `parameter tensor 3 of 12`.
        what: String,
        /// The value.
        value: f64,
    },

    /// The checkpoint directory already holds a run, and the call asked neither to
    /// resume it nor to overwrite it.
    #[error(
        "{dir}: holds {what}; resume it or overwrite it (CLI: --resume or --overwrite), or train into another directory"
    )]
    RunExists {
        /// The checkpoint directory.
        dir: PathBuf,
        /// The run found there, e.g. `a finished run (2 of 2 epochs) of the same configuration`.
        what: String,
    },

    /// Another process is training into the same checkpoint directory.
    #[error(
        "{path}: the checkpoint directory is in use by another training run ({holder}); wait for it to end, or train into another directory"
    )]
    Locked {
        /// The lock file.
        path: PathBuf,
        /// Who holds it, as it wrote itself into the lock file (process id and host).
        holder: String,
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
