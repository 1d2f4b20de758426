//! Training: configuration, the loop with per-epoch validation, history, checkpoints,
//! resuming, and evaluation on held-out data.
//!
//! # Checkpoint directory
//!
//! | file | written | content |
//! |---|---|---|
//! | `config.json` | at the start | the [`TrainConfig`] |
//! | `history.csv` | after every epoch | one row per epoch (see [`EpochRecord`]) |
//! | `best.safetensors` | when validation loss improves | weights of the best epoch |
//! | `resume-NNN/` | after every epoch | last weights + optimiser state of epoch NNN |
//! | `state.json` | after every epoch | epochs done, best epoch, history, finished flag |
//! | `test_predictions.csv`, `test_metrics.json` | by [`Evaluation::save`](crate::eval::Evaluation::save) | test results |
//! | `train.lock` | at the start | who trains into the directory (pid, host); an OS lock is held on it while training |
//!
//! Every file is written to a temporary name in the same directory and renamed, so an
//! interrupted run never leaves a half-written file; `state.json` is renamed last and
//! names the `resume-NNN` directory to continue from, so the set is always consistent.
//! An epoch that ends with non-finite weights or validation loss is not saved at all.
//! [`train`] refuses a directory that holds a run unless told to resume or overwrite it.
//!
//! # Determinism
//!
//! Initialisation, the order of batches, augmentation and dropout all derive from
//! [`TrainConfig::seed`]; epoch `e` draws from its own generator seeded by `(seed, e)`.
//! Two runs with the same configuration produce bit-identical weights and history
//! (except the timing columns), whatever the thread count, and a resumed run ends exactly
//! where an uninterrupted one does. Across machines SmallCnn is bit-identical too;
//! SeedCnn's 1-D convolutions round differently on CPUs without AVX-512F (see
//! [the crate docs](crate), "Determinism").

use rayon::prelude::*;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Instant;

use dfdx::losses::cross_entropy_with_logits_loss;
use dfdx::nn::{TensorOptions, TensorVisitor, ViewTensorMut};
use dfdx::shapes::{Const, Shape};
use dfdx::tensor::{
    AsArray, Cpu, CpuError, Gradients, Tensor, TensorFromVec, Trace, WithEmptyTape,
};
use dfdx::tensor_ops::Backward;
use ndarray::Array2;
use polars::prelude::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use fashion_data::io::write_atomic;
use fashion_data::{
    BatchIter, Dataset, FashionMnist, IMAGE_SIDE, NUM_CLASSES, Preprocess, SplitConfig,
    stratified_split,
};

use crate::eval::{EVAL_BATCH, evaluate};
use crate::{Error, Model, ModelConfig, ModelKind, Result};

mod augment;
mod bench;
mod checkpoint;
mod config;
pub mod fuzzing;
mod history;
mod optim;
mod run;
mod shared;
mod step;
#[cfg(test)]
mod tests;

pub use augment::MAX_SHIFT;
pub use bench::{BenchMode, BenchResult, bench};
pub use checkpoint::load_checkpoint;
pub use config::{LrSchedule, TrainConfig};
pub use history::{ACCURACY_MILESTONES, EpochRecord, History, TimeToAccuracy};
pub use run::{TrainOptions, TrainProgress, Trained, train, train_or_load};
pub use shared::{
    CHECKPOINTS_ENV, FAST_ENV, QUICK_VALID_SUBSET, SharedRun, checkpoints_root, long_run,
    long_run_in, shared_run, shared_run_for, shared_run_in, shared_run_in_for,
};

use augment::*;
use checkpoint::*;
use optim::*;
use step::*;
