//! Similarity graphs between images: which images look alike in a given representation
//! (input pixels, scaled pixels, a network's last convolution map or dense layer).
//!
//! Input is plain: a matrix `x` with one row per image (`n × d`, `f32`) and one
//! [`NodeInfo`] per row (test-set index, true class, predicted class if any), so this
//! crate does not depend on the model code (it builds without dfdx). Drawing is in the
//! facade crate (`fashion::plot::GraphChart`, `fashion::plot::GraphPanel`). Three
//! builders turn them into a [`SimilarityGraph`] (a petgraph [`UnGraph`] plus the parameters used):
//!
//! - [`correlation`]: Pearson correlation between rows; an edge where `r ≥ threshold`,
//!   or the most correlated pairs giving a requested mean degree (edge weight: `r`);
//! - [`lasso`]: Meinshausen–Bühlmann neighbourhood selection, each image regressed on all
//!   others with an L1 penalty (edge weight: the larger `|coefficient|` of the two fits);
//!   the solver is our own coordinate descent with covariance (Gram-matrix) updates,
//!   checked in the tests against linfa-elasticnet's lasso as the reference;
//! - [`knn`]: Euclidean k nearest neighbours, plain or mutual (edge weight: the distance).
//!
//! [`Measure`] names one of the three with its parameters (the defaults the notebooks
//! and `fashion graph` share); the facade crate's `fashion::features` computes the four
//! representations of a set of test images and compares one measure across them.
//!
//! Then [`Centrality`] (degree, betweenness, components, modularity of the class
//! partition, as polars tables), [`fruchterman_reingold`] (a seeded force-directed
//! [`Layout`]), export to GraphML and CSV
//! ([`write_graphml`], [`write_node_csv`], [`write_edge_csv`]).
//!
//! ```
//! use fashion_graph::{self as graph, CorrelationParams, KnnParams, NodeInfo};
//! use ndarray::array;
//!
//! # fn main() -> fashion_graph::Result<()> {
//! // Four images in two pairs of look-alikes.
//! let x = array![[0.0f32, 1.0, 2.0], [0.1, 1.0, 2.1], [2.0, 1.0, 0.0], [2.0, 1.1, 0.0]];
//! let nodes: Vec<NodeInfo> = (0..4).map(|i| NodeInfo::new(i, (i / 2) as u8)).collect();
//!
//! let g = graph::correlation(&x, &nodes, &CorrelationParams::default().threshold(0.9))?;
//! assert_eq!(g.edge_list().len(), 2);
//! let g = graph::knn(&x, &nodes, &KnnParams::default().k(1))?;
//! assert_eq!(g.edge_count(), 2);
//! let stats = graph::Centrality::compute(&g);
//! assert_eq!(stats.same_class_share, Some(1.0));
//! # Ok(()) }
//! ```

mod error;

mod centrality;
mod correlation;
mod export;
mod knn;
mod lasso;
mod layout;
mod measure;

use ndarray::{Array2, Axis};
use petgraph::graph::{NodeIndex, UnGraph};

pub use centrality::{
    BETWEENNESS_PIVOTS, BetweennessParams, Centrality, EXACT_BETWEENNESS_NODES, EstimateError,
    average_ranks, betweenness, betweenness_parallel, brandes_pich, components, degrees,
    modularity, same_class_share,
};
pub use correlation::{CorrelationMode, CorrelationParams, correlation, correlation_matrix};
pub use export::{GraphExport, graphml_string, write_edge_csv, write_graphml, write_node_csv};
pub use knn::{KnnParams, knn, nearest_neighbours};
pub use lasso::{
    LassoParams, LassoReport, Penalty, Symmetrise, inverse_normal_cdf, lasso, lasso_coefficients,
    lasso_neighbourhoods,
};
pub use layout::{
    EXACT_REPULSION_NODES, LARGE_GRAPH_ITERATIONS, Layout, LayoutParams, fruchterman_reingold,
};
pub use measure::Measure;

pub use error::{Error, ParamError, Result};
use fashion_data::{CLASS_NAMES, NUM_CLASSES};

/// What a graph node stands for: one image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct NodeInfo {
    /// The image's index in its data set (e.g. the test set); used as its label.
    pub id: usize,
    /// True class, `0..=9`.
    pub class: u8,
    /// Predicted class, if a model has classified the image.
    pub predicted: Option<u8>,
}

impl NodeInfo {
    /// An image without a prediction.
    pub fn new(id: usize, class: u8) -> NodeInfo {
        NodeInfo {
            id,
            class,
            predicted: None,
        }
    }

    /// The same image with a predicted class.
    pub fn with_prediction(mut self, predicted: u8) -> NodeInfo {
        self.predicted = Some(predicted);
        self
    }

    /// Whether the prediction is right; `None` without a prediction.
    pub fn correct(&self) -> Option<bool> {
        self.predicted.map(|p| p == self.class)
    }

    /// Whether the image has a wrong prediction.
    pub fn misclassified(&self) -> bool {
        self.correct() == Some(false)
    }

    /// The name of the true class.
    pub fn class_name(&self) -> &'static str {
        CLASS_NAMES
            .get(self.class as usize)
            .copied()
            .unwrap_or("unknown")
    }
}

/// How a [`SimilarityGraph`] was built: the method, its parameters and what it decided.
#[derive(Debug, Clone, PartialEq)]
pub enum Construction {
    /// [`correlation`]; edge weight = Pearson `r`.
    Correlation {
        /// The parameters given.
        params: CorrelationParams,
        /// The threshold in effect: the one given, or in
        /// [`CorrelationMode::MeanDegree`] mode the smallest `r` kept
        /// (`None` when no edge was kept).
        threshold: Option<f64>,
    },
    /// [`lasso`]; edge weight = the larger `|coefficient|` of the two regressions.
    Lasso {
        /// The parameters given.
        params: LassoParams,
        /// The penalty used and the edge counts.
        report: LassoReport,
    },
    /// [`knn`]; edge weight = Euclidean distance.
    Knn {
        /// The parameters given.
        params: KnnParams,
    },
}

impl Construction {
    /// A short description, e.g. `"kNN, k = 5, mutual"`.
    pub fn describe(&self) -> String {
        match self {
            Construction::Correlation { threshold, .. } => match threshold {
                Some(t) => format!("Pearson r ≥ {t:.3}"),
                None => "Pearson (no edges)".to_string(),
            },
            Construction::Lasso { params, report } => format!(
                "lasso, α = {:.4}, {}",
                report.alpha,
                match params.symmetrise {
                    Symmetrise::And => "AND",
                    Symmetrise::Or => "OR",
                }
            ),
            Construction::Knn { params } => format!(
                "kNN, k = {}{}",
                params.k,
                if params.mutual { ", mutual" } else { "" }
            ),
        }
    }

    /// What the edge weights mean: `"r"`, `"|coefficient|"` or `"distance"`.
    pub fn weight_meaning(&self) -> &'static str {
        match self {
            Construction::Correlation { .. } => "r",
            Construction::Lasso { .. } => "|coefficient|",
            Construction::Knn { .. } => "distance",
        }
    }
}

/// An undirected graph over images: node `i` is row `i` of the matrix it was built
/// from, weighted by a similarity (see [`Construction::weight_meaning`]).
#[derive(Debug, Clone)]
pub struct SimilarityGraph {
    graph: UnGraph<NodeInfo, f64>,
    construction: Construction,
}

impl SimilarityGraph {
    /// Builds a graph from nodes and `(i, j, weight)` edges between node positions.
    /// Used by the builders; handy for hand-made graphs in tests and notebooks.
    ///
    /// Errors: an edge naming a node position `≥ nodes.len()`, a self-loop, or a
    /// non-finite weight.
    pub fn from_edges(
        nodes: &[NodeInfo],
        edges: &[(usize, usize, f64)],
        construction: Construction,
    ) -> Result<SimilarityGraph> {
        let mut graph = UnGraph::with_capacity(nodes.len(), edges.len());
        for node in nodes {
            graph.add_node(*node);
        }
        for &(i, j, w) in edges {
            if i >= nodes.len() || j >= nodes.len() || i == j {
                return Err(Error::invalid(
                    "edges",
                    format!("pairs of distinct node positions < {}", nodes.len()),
                    format!("({i}, {j})"),
                ));
            }
            if !w.is_finite() {
                return Err(Error::invalid(
                    "edges",
                    "finite weights",
                    format!("{w} on ({i}, {j})"),
                ));
            }
            graph.add_edge(NodeIndex::new(i), NodeIndex::new(j), w);
        }
        Ok(SimilarityGraph {
            graph,
            construction,
        })
    }

    /// The petgraph graph: node weights are [`NodeInfo`], edge weights the similarity.
    pub fn graph(&self) -> &UnGraph<NodeInfo, f64> {
        &self.graph
    }

    /// How the graph was built.
    pub fn construction(&self) -> &Construction {
        &self.construction
    }

    /// Number of nodes (images).
    pub fn node_count(&self) -> usize {
        self.graph.node_count()
    }

    /// Number of edges.
    pub fn edge_count(&self) -> usize {
        self.graph.edge_count()
    }

    /// Mean degree, `2 · edges / nodes` (0 for an empty graph).
    pub fn mean_degree(&self) -> f64 {
        if self.node_count() == 0 {
            0.0
        } else {
            2.0 * self.edge_count() as f64 / self.node_count() as f64
        }
    }

    /// The node of row `i`.
    pub fn node(&self, i: usize) -> Option<&NodeInfo> {
        self.graph.node_weight(NodeIndex::new(i))
    }

    /// The rows linked to row `i`, in increasing order (empty for a row out of range).
    ///
    /// ```
    /// use fashion_graph::{knn, KnnParams, NodeInfo};
    /// use ndarray::array;
    ///
    /// # fn main() -> fashion_graph::Result<()> {
    /// let x = array![[0.0f32], [1.0], [10.0]];
    /// let nodes: Vec<NodeInfo> = (0..3).map(|i| NodeInfo::new(i, 0)).collect();
    /// let g = knn(&x, &nodes, &KnnParams::default().k(1))?;
    /// assert_eq!(g.neighbours(0), [1]);
    /// assert_eq!(g.neighbours(1), [0, 2]);
    /// assert!(g.neighbours(7).is_empty());
    /// # Ok(()) }
    /// ```
    pub fn neighbours(&self, i: usize) -> Vec<usize> {
        if i >= self.node_count() {
            return Vec::new();
        }
        let mut v: Vec<usize> = self
            .graph
            .neighbors(NodeIndex::new(i))
            .map(|n| n.index())
            .collect();
        v.sort_unstable();
        v.dedup();
        v
    }

    /// All nodes, in row order.
    pub fn nodes(&self) -> Vec<NodeInfo> {
        self.graph.node_weights().copied().collect()
    }

    /// Edges as `(i, j, weight)` with `i < j` (row positions), sorted by `(i, j)`.
    pub fn edge_list(&self) -> Vec<(usize, usize, f64)> {
        let mut edges: Vec<_> = self
            .graph
            .edge_indices()
            .filter_map(|e| {
                let (a, b) = self.graph.edge_endpoints(e)?;
                let w = *self.graph.edge_weight(e)?;
                let (a, b) = (a.index().min(b.index()), a.index().max(b.index()));
                Some((a, b, w))
            })
            .collect();
        edges.sort_by_key(|x| (x.0, x.1));
        edges
    }
}

/// Checks the builders' common input: ≥ 2 rows, one node per row, ≥ 1 column, finite
/// values, classes in range.
pub(crate) fn check_input(x: &Array2<f32>, nodes: &[NodeInfo]) -> Result<()> {
    if x.nrows() != nodes.len() {
        return Err(Error::NodeCountMismatch {
            rows: x.nrows(),
            nodes: nodes.len(),
        });
    }
    if x.nrows() < 2 {
        return Err(Error::TooFewNodes { found: x.nrows() });
    }
    if x.ncols() == 0 {
        return Err(Error::NoFeatures);
    }
    for (row, node) in nodes.iter().enumerate() {
        for (field, value) in [("class", Some(node.class)), ("predicted", node.predicted)] {
            if let Some(value) = value
                && value as usize >= NUM_CLASSES
            {
                return Err(Error::NodeClassOutOfRange {
                    row,
                    id: node.id,
                    field,
                    value,
                });
            }
        }
    }
    for (row, line) in x.axis_iter(Axis(0)).enumerate() {
        if let Some((column, &value)) = line.iter().enumerate().find(|(_, v)| !v.is_finite()) {
            return Err(Error::NonFiniteFeature {
                row,
                id: nodes[row].id,
                column,
                value,
            });
        }
    }
    Ok(())
}

/// Rows centred and scaled, in f64: each row gets mean 0 and `‖row‖² = scale`
/// (`scale = 1` makes dot products Pearson correlations; `scale = d` gives unit
/// variance). Errors on a constant row.
pub(crate) fn standardise_rows(
    x: &Array2<f32>,
    nodes: &[NodeInfo],
    scale: f64,
) -> Result<Array2<f64>> {
    let d = x.ncols();
    let mut z = x.mapv(f64::from);
    for (row, mut line) in z.axis_iter_mut(Axis(0)).enumerate() {
        let mean = line.sum() / d as f64;
        line.mapv_inplace(|v| v - mean);
        let norm2: f64 = line.iter().map(|v| v * v).sum();
        // Relative to the row's magnitude: a row equal to its mean up to rounding is
        // constant. (Also catches exactly constant rows, norm2 = 0.)
        let magnitude: f64 = x.row(row).iter().map(|&v| f64::from(v).abs()).sum::<f64>() / d as f64;
        if norm2 == 0.0 || norm2.sqrt() <= 1e-12 * magnitude * (d as f64).sqrt() {
            return Err(Error::ConstantRow {
                row,
                id: nodes[row].id,
            });
        }
        let f = (scale / norm2).sqrt();
        line.mapv_inplace(|v| v * f);
    }
    Ok(z)
}

/// `a · bᵀ` in f64 through matrixmultiply (via ndarray).
pub(crate) fn gram_block(a: ndarray::ArrayView2<f64>, b: ndarray::ArrayView2<f64>) -> Array2<f64> {
    a.dot(&b.t())
}

/// Rows per block when products are formed block by block (bounds memory at
/// `BLOCK × n` values).
pub(crate) const BLOCK: usize = 256;

#[cfg(test)]
pub(crate) mod testdata {
    //! Synthetic inputs for the graph tests.
    use ndarray::Array2;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    use super::NodeInfo;

    /// `n` points in `d` dimensions around 10 cluster centres (class = cluster = i % 10),
    /// Gaussian-ish noise of size `noise`; every 7th node is predicted wrongly.
    pub fn clusters(n: usize, d: usize, noise: f32, seed: u64) -> (Array2<f32>, Vec<NodeInfo>) {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let centres = Array2::from_shape_fn((10, d), |_| rng.gen_range(-1.0f32..1.0));
        let x = Array2::from_shape_fn((n, d), |(i, j)| {
            let e: f32 = (0..4).map(|_| rng.gen_range(-1.0f32..1.0)).sum::<f32>() / 2.0;
            centres[[i % 10, j]] + noise * e
        });
        let nodes = (0..n)
            .map(|i| {
                let class = (i % 10) as u8;
                let predicted = if i % 7 == 3 { (class + 1) % 10 } else { class };
                NodeInfo::new(1000 + i, class).with_prediction(predicted)
            })
            .collect();
        (x, nodes)
    }

    /// Nodes `0..n` with classes `i % 10` and no predictions.
    pub fn plain_nodes(n: usize) -> Vec<NodeInfo> {
        (0..n).map(|i| NodeInfo::new(i, (i % 10) as u8)).collect()
    }

    /// A graph on [`plain_nodes`]`(n)` with the given unit-weight edges.
    pub fn graph(n: usize, edges: &[(usize, usize)]) -> super::SimilarityGraph {
        let e: Vec<_> = edges.iter().map(|&(a, b)| (a, b, 1.0)).collect();
        super::SimilarityGraph::from_edges(
            &plain_nodes(n),
            &e,
            super::Construction::Knn {
                params: super::KnnParams::default(),
            },
        )
        .unwrap()
    }
}

#[cfg(test)]
mod tests {
    use ndarray::array;

    use super::testdata::*;
    use super::*;

    #[test]
    fn input_checks_name_the_problem() {
        let x = array![[1.0f32, 2.0], [3.0, 5.0], [0.0, 1.0]];
        let nodes = plain_nodes(3);
        check_input(&x, &nodes).unwrap();
        assert!(matches!(
            check_input(&x, &nodes[..2]),
            Err(Error::NodeCountMismatch { rows: 3, nodes: 2 })
        ));
        assert!(matches!(
            check_input(&x.slice(ndarray::s![..1, ..]).to_owned(), &nodes[..1]),
            Err(Error::TooFewNodes { found: 1 })
        ));
        assert!(matches!(
            check_input(&Array2::zeros((3, 0)), &nodes),
            Err(Error::NoFeatures)
        ));
        let mut bad = x.clone();
        bad[[2, 1]] = f32::INFINITY;
        let err = check_input(&bad, &nodes).unwrap_err();
        assert!(
            matches!(
                err,
                Error::NonFiniteFeature {
                    row: 2,
                    column: 1,
                    ..
                }
            ),
            "{err}"
        );
        let mut wrong = nodes.clone();
        wrong[1].predicted = Some(10);
        let err = check_input(&x, &wrong).unwrap_err();
        assert!(err.to_string().contains("predicted 10"), "{err}");
    }

    #[test]
    fn standardised_rows_have_zero_mean_and_the_asked_norm() {
        let (x, nodes) = clusters(20, 7, 0.3, 1);
        let z = standardise_rows(&x, &nodes, 7.0).unwrap();
        for row in z.rows() {
            assert!(row.sum().abs() < 1e-9);
            assert!((row.dot(&row) - 7.0).abs() < 1e-9);
        }
        let x = array![[1.0f32, 2.0], [3.0, 3.0], [0.0, 1.0]];
        let err = standardise_rows(&x, &plain_nodes(3), 1.0).unwrap_err();
        assert!(matches!(err, Error::ConstantRow { row: 1, id: 1 }), "{err}");
    }

    #[test]
    fn from_edges_checks_positions_and_weights() {
        let nodes = plain_nodes(3);
        let c = Construction::Knn {
            params: KnnParams::default(),
        };
        let g =
            SimilarityGraph::from_edges(&nodes, &[(2, 0, 1.5), (0, 1, 0.5)], c.clone()).unwrap();
        assert_eq!(g.edge_list(), [(0, 1, 0.5), (0, 2, 1.5)]);
        assert!((g.mean_degree() - 4.0 / 3.0).abs() < 1e-12);
        assert!(SimilarityGraph::from_edges(&nodes, &[(0, 3, 1.0)], c.clone()).is_err());
        assert!(SimilarityGraph::from_edges(&nodes, &[(1, 1, 1.0)], c.clone()).is_err());
        assert!(SimilarityGraph::from_edges(&nodes, &[(0, 1, f64::NAN)], c).is_err());
    }
}
