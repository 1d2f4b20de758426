//! One name for the three graph builders, so callers (the `fashion graph` command, the
//! notebooks) can choose a measure at run time and share its defaults.

use ndarray::Array2;

use super::{
    CorrelationParams, KnnParams, LassoParams, NodeInfo, SimilarityGraph, correlation, knn, lasso,
};
use crate::error::{Error, ParamError, Result};

/// A similarity measure with its parameters: which builder makes the graph.
///
/// The defaults ([`Measure::correlation`], [`Measure::lasso`], [`Measure::knn`]) are
/// the builders' own defaults, shared by the notebooks and `fashion graph`, so both
/// draw the same edges:
///
/// | measure | default |
/// |---|---|
/// | correlation | the `2n` most correlated pairs (mean degree 4) |
/// | lasso | Meinshausen–Bühlmann penalty at level 0.05, AND |
/// | knn | `k = 5`, plain (an edge where either is among the other's 5 nearest) |
///
/// ```
/// use fashion_graph::Measure;
/// let m: Measure = "corr".parse()?;
/// assert_eq!(m, Measure::correlation());
/// assert_eq!(m.name(), "correlation");
/// assert!("pagerank".parse::<Measure>().is_err());
/// # Ok::<(), fashion_graph::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Measure {
    /// [`correlation`](super::correlation).
    Correlation(CorrelationParams),
    /// [`lasso`](super::lasso).
    Lasso(LassoParams),
    /// [`knn`](super::knn).
    Knn(KnnParams),
}

impl Measure {
    /// Pearson correlation with [`CorrelationParams::default`].
    pub fn correlation() -> Measure {
        Measure::Correlation(CorrelationParams::default())
    }

    /// Lasso neighbourhood selection with [`LassoParams::default`].
    pub fn lasso() -> Measure {
        Measure::Lasso(LassoParams::default())
    }

    /// k nearest neighbours with [`KnnParams::default`].
    pub fn knn() -> Measure {
        Measure::Knn(KnnParams::default())
    }

    /// `"correlation"`, `"lasso"` or `"knn"`.
    pub fn name(&self) -> &'static str {
        match self {
            Measure::Correlation(_) => "correlation",
            Measure::Lasso(_) => "lasso",
            Measure::Knn(_) => "knn",
        }
    }

    /// Checks the parameters (the builder's `check`).
    pub fn check(&self) -> Result<(), ParamError> {
        match self {
            Measure::Correlation(p) => p.check(),
            Measure::Lasso(p) => p.check(),
            Measure::Knn(p) => p.check(),
        }
    }

    /// Builds the graph of the rows of `x` (see the builders for the errors).
    pub fn build(&self, x: &Array2<f32>, nodes: &[NodeInfo]) -> Result<SimilarityGraph> {
        match self {
            Measure::Correlation(p) => correlation(x, nodes, p),
            Measure::Lasso(p) => lasso(x, nodes, p),
            Measure::Knn(p) => knn(x, nodes, p),
        }
    }
}

impl std::str::FromStr for Measure {
    type Err = Error;

    /// `corr` / `correlation` / `pearson`, `lasso`, `knn`, each with its default
    /// parameters (case-insensitive).
    fn from_str(s: &str) -> Result<Measure> {
        match s.to_ascii_lowercase().as_str() {
            "corr" | "correlation" | "pearson" => Ok(Measure::correlation()),
            "lasso" => Ok(Measure::lasso()),
            "knn" => Ok(Measure::knn()),
            _ => Err(Error::invalid("measure", "corr, lasso or knn", s)),
        }
    }
}

impl std::fmt::Display for Measure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::super::testdata::clusters;
    use super::*;

    #[test]
    fn measures_build_what_their_builders_build() {
        let (x, nodes) = clusters(30, 8, 0.3, 2);
        for m in [Measure::correlation(), Measure::lasso(), Measure::knn()] {
            let g = m.build(&x, &nodes).unwrap();
            let direct = match m {
                Measure::Correlation(p) => correlation(&x, &nodes, &p),
                Measure::Lasso(p) => lasso(&x, &nodes, &p),
                Measure::Knn(p) => knn(&x, &nodes, &p),
            }
            .unwrap();
            assert_eq!(g.edge_list(), direct.edge_list(), "{m}");
            assert_eq!(m.to_string().parse::<Measure>().unwrap(), m);
        }
        assert_eq!("KNN".parse::<Measure>().unwrap(), Measure::knn());
        let err = "louvain".parse::<Measure>().unwrap_err();
        assert!(err.to_string().contains("`measure`"), "{err}");
        assert!(Measure::Knn(KnnParams::default().k(0)).check().is_err());
    }
}
