//! # fashion
//!
//! Support library for the Fashion-MNIST-in-Rust notebooks and the `fashion` command.
//! This crate is the facade the notebooks `:dep`: it holds the studies, the charts and
//! the report, and re-exports the crates below it under the names the notebooks use.
//!
//! # Layers
//!
//! The workspace is cut along the pipeline; Cargo enforces that dependencies only point
//! down (nothing low imports anything high):
//!
//! | crate | modules here | what |
//! |---|---|---|
//! | `fashion-data` | [`data`], [`io`] | IDX parsing, verified download and loading, stratified split, batches; atomic file and CSV writing |
//! | `fashion-nn` | [`nn`], [`train`], [`eval`] | convolution/pooling ops and kernels on dfdx, SmallCnn and SeedCnn, training and checkpoints, evaluation of a trained model and the confusion matrix |
//! | `fashion-graph` | [`graph`] | similarity graphs (correlation, lasso, kNN), centrality, layout, GraphML/CSV export; knows nothing of models (builds without dfdx) |
//! | `fashion` (this crate) | [`features`], [`analysis`], [`plot`], [`report`] | the four representations of test images, the studies, charts and evcxr display, the HTML report |
//!
//! - [`analysis`]: ROC AUC and average precision with bootstrap intervals, adjusted Rand
//!   index and purity, nearest-neighbour label disagreement, seeded k-means, Gaussian
//!   mixtures and PCA; the experiment "is high centrality where the CNN errs?"
//!   ([`CentralityStudy`](analysis::CentralityStudy)) and the clustering of each
//!   representation ([`ClusteringStudy`](analysis::ClusteringStudy));
//! - [`data`]: IDX parsing, verified download and loading of the official files,
//!   stratified train/validation split, pixel scaling and standardisation, batches;
//! - [`io`]: the one place that writes files (temporary file + rename) and CSV;
//! - [`eval`]: evaluation of a trained model ([`evaluate`](eval::evaluate)), confusion
//!   matrix, per-class precision / recall / F1, most frequent confusions and
//!   misclassified examples, as values and polars DataFrames;
//! - [`features`]: the four representations of a set of test images (input pixels,
//!   standardised "scaled" pixels, the last feature map, the dense embedding) with
//!   the network's predictions, and one graph measure compared across them;
//! - [`graph`]: similarity graphs between images (Pearson correlation, lasso
//!   neighbourhood selection with our own covariance-update coordinate descent,
//!   checked against linfa-elasticnet in the tests; k nearest neighbours), centrality,
//!   force-directed layout and GraphML/CSV export; drawing is in [`plot`];
//! - [`nn`]: differentiable 2-D convolution and 2×2 max-pooling on dfdx CPU tensors
//!   (dfdx 0.13's own need its broken `nightly` feature) and the two networks,
//!   [`SmallCnn`](nn::SmallCnn) and [`SeedCnn`](nn::SeedCnn), with their feature maps
//!   and embeddings;
//! - [`train`]: training configuration, the loop with validation, history,
//!   checkpoints, resuming, the optimiser and its state file, throughput benchmarks;
//! - [`plot`]: charts generic over plotters backends (SVG, PNG, notebook output) and
//!   evcxr display wrappers, including HTML tables for polars DataFrames;
//! - [`report`]: a self-contained HTML report with its tables as CSV (`fashion report`).
//!
//! Studies return data ([`features::Statement`], [`analysis::Verdict`],
//! [`analysis::ClusteringSummary`], tables); charts of them are drawn in [`plot`] and
//! their sentences are written in one place in [`report`], so the module dependencies
//! inside this crate point down too: features/analysis → plot → report.
//!
//! # Naming of settings
//!
//! - `…Config`: saved with a run and read back (for example
//!   [`TrainConfig`](train::TrainConfig) in `config.json`);
//! - `…Params`: checked hyper-parameters of an algorithm, with `Default`, by-value
//!   setters and a `check()` that returns a [`ParamError`] naming the bad field (for
//!   example [`KnnParams`](graph::KnnParams));
//! - `…Options`: how a call behaves, not what it computes (for example
//!   [`TrainOptions`](train::TrainOptions): resume, callbacks).
//!
//! # Errors
//!
//! Each crate has its own error enum naming the file or parameter involved;
//! [`Error`] here passes those of the crates below through unchanged
//! ([`Error::Data`], [`Error::Nn`], [`Error::Graph`]), so messages read the same
//! whichever layer reports them. Parameter errors are separate from run-time errors (as
//! in linfa): every `check()` returns the one [`ParamError`] type (nothing ran, nothing
//! was read or written), and each crate's `Error::Params` carries it when a function
//! checks its own arguments; `Error::parameter()` names the bad parameter through every
//! layer. Every random step takes a seed.

#![warn(missing_docs)]

pub mod analysis;
mod error;
pub mod features;
pub mod plot;
pub mod report;

pub use error::{Error, ParamError, Result};

/// Fashion-MNIST data (crate `fashion-data`).
pub use fashion_data as data;
/// Atomic file and CSV writing (crate `fashion-data`).
pub use fashion_data::io;
/// Similarity graphs (crate `fashion-graph`).
pub use fashion_graph as graph;
/// Networks and their ops (crate `fashion-nn`).
pub use fashion_nn as nn;
/// Evaluation of a trained model and the confusion matrix (crate `fashion-nn`).
pub use fashion_nn::eval;
/// Training (crate `fashion-nn`).
pub use fashion_nn::train;

/// Re-exported so notebooks can name ndarray types through this crate.
pub use ndarray;
/// Re-exported so notebooks can name polars types through this crate.
pub use polars;
/// The random-number crates behind every seeded step (so a notebook can replay one,
/// e.g. a bootstrap resample, with the same generator).
pub use rand;
/// See [`rand`].
pub use rand_chacha;
