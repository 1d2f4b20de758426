//! # fashion
//!
//! Support library for the Fashion-MNIST-in-Rust notebooks and the `fashion` command:
//!
//! - [`analysis`]: ROC AUC and average precision with bootstrap intervals, adjusted Rand
//!   index and purity, nearest-neighbour label disagreement, seeded k-means, Gaussian
//!   mixtures and PCA; the experiment "is high centrality where the CNN errs?"
//!   ([`CentralityStudy`](analysis::CentralityStudy)) and the clustering of each
//!   representation ([`ClusteringStudy`](analysis::ClusteringStudy));
//! - [`data`]: IDX parsing, verified download and loading of the official files,
//!   stratified train/validation split, pixel scaling and standardisation, batches;
//! - [`eval`]: confusion matrix, per-class precision / recall / F1, most frequent
//!   confusions and misclassified examples, as values and polars DataFrames;
//! - [`features`]: the four representations of a set of test images (input pixels,
//!   standardised "scaled" pixels, the last feature map, the dense embedding) with
//!   the network's predictions, and one graph measure compared across them;
//! - [`graph`]: similarity graphs between images (Pearson correlation, lasso
//!   neighbourhood selection with our own covariance-update coordinate descent,
//!   checked against linfa-elasticnet in the tests; k nearest neighbours), centrality,
//!   force-directed layout, drawing and GraphML/CSV export;
//! - [`nn`]: differentiable 2-D convolution and 2×2 max-pooling on dfdx CPU tensors
//!   (dfdx 0.13's own need its broken `nightly` feature);
//! - [`nn`] also holds the two networks, [`SmallCnn`](nn::SmallCnn) and
//!   [`SeedCnn`](nn::SeedCnn), with their feature maps and embeddings;
//! - [`train`]: training configuration, the loop with validation, history,
//!   checkpoints, resuming, evaluation;
//! - [`plot`]: charts generic over plotters backends (SVG, PNG, notebook output) and
//!   evcxr display wrappers, including HTML tables for polars DataFrames;
//! - [`report`]: a self-contained HTML report with its tables as CSV (`fashion report`).
//!
//! Every random step takes a seed; every failure is an [`Error`] naming the file or
//! parameter involved.

#![warn(missing_docs)]

pub mod analysis;
pub mod data;
mod error;
pub mod eval;
pub mod features;
pub mod graph;
pub mod nn;
pub mod plot;
pub mod report;
pub mod train;

pub use error::{Error, Result};

/// Re-exported so notebooks can name ndarray types through this crate.
pub use ndarray;
/// Re-exported so notebooks can name polars types through this crate.
pub use polars;
