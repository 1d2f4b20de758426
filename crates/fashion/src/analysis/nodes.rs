//! The original claim at node level: the images with the highest betweenness or degree
//! in a graph, what the network made of them, and how many misclassified ones chance
//! alone would put among them.

use polars::prelude::*;

use crate::data::CLASS_NAMES;
use crate::error::{Error, Result};
use crate::features::{Comparison, ImageFeatures, Representation, RepresentationGraph};

/// Which centrality ranks the nodes in [`TopNodes`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RankBy {
    /// Betweenness centrality.
    Betweenness,
    /// Degree.
    Degree,
}

impl RankBy {
    /// `"betweenness"` or `"degree"`.
    pub fn name(self) -> &'static str {
        match self {
            RankBy::Betweenness => "betweenness",
            RankBy::Degree => "degree",
        }
    }
}

/// One of the top-ranked nodes.
#[derive(Debug, Clone, PartialEq)]
pub struct TopNode {
    /// Rank, from 1.
    pub rank: usize,
    /// Row of the node in the graph (and in the features).
    pub node: usize,
    /// Test-set index of the image.
    pub index: usize,
    /// True class.
    pub class: u8,
    /// Predicted class.
    pub predicted: u8,
    /// The model's softmax probability of its prediction.
    pub confidence: f32,
    /// Degree in the graph.
    pub degree: usize,
    /// Betweenness in the graph (normalised as [`crate::graph::betweenness`]).
    pub betweenness: f64,
}

impl TopNode {
    /// Whether the network got the image wrong.
    pub fn misclassified(&self) -> bool {
        self.class != self.predicted
    }
}

/// The `k` nodes with the highest betweenness (or degree) in one graph, and how many of
/// them are misclassified compared with chance: if the `k` were drawn at random from the
/// graph's `n` images, of which `m` are misclassified, the number of misclassified among
/// them would follow the hypergeometric distribution, with mean `k·m/n`.
///
/// ```
/// use fashion::analysis::hypergeometric_tail;
/// // 10 of 100 images drawn, 20 of the 100 misclassified: P(at least 0) = 1, and
/// // P(all 10) = C(20, 10) / C(100, 10).
/// assert_eq!(hypergeometric_tail(0, 10, 20, 100), 1.0);
/// let all = 184_756.0 / 17_310_309_456_440.0;
/// assert!((hypergeometric_tail(10, 10, 20, 100) - all).abs() < 1e-12 * all);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct TopNodes {
    /// The graph's representation.
    pub representation: Representation,
    /// Its title, e.g. `"dense embedding (128)"`.
    pub representation_title: String,
    /// The graph's construction, e.g. `"kNN, k = 5"`.
    pub construction: String,
    /// The ranking centrality.
    pub by: RankBy,
    /// The top nodes, highest first (ties: lower row first).
    pub nodes: Vec<TopNode>,
    /// Images in the graph (`n`).
    pub images: usize,
    /// Misclassified images in the graph (`m`).
    pub errors: usize,
}

impl TopNodes {
    /// The `k` highest-ranked nodes of `graph` by `by`; `features` are the images the
    /// graph was built on (for the predictions and confidences).
    ///
    /// # Errors
    /// `k = 0`, or features that are not the graph's images.
    pub fn compute(
        graph: &RepresentationGraph,
        features: &ImageFeatures,
        by: RankBy,
        k: usize,
    ) -> Result<TopNodes> {
        if k == 0 {
            return Err(Error::invalid("k", "at least 1 node", 0));
        }
        let nodes = graph.graph.nodes();
        let ids: Vec<usize> = nodes.iter().map(|n| n.id).collect();
        if ids != features.indices {
            return Err(Error::invalid(
                "features",
                format!("the graph's {} images in node order", ids.len()),
                format!("{} other images", features.len()),
            ));
        }
        let c = &graph.centrality;
        let value = |i: usize| match by {
            RankBy::Betweenness => c.betweenness[i],
            RankBy::Degree => c.degree[i] as f64,
        };
        let mut order: Vec<usize> = (0..nodes.len()).collect();
        order.sort_by(|&a, &b| value(b).total_cmp(&value(a)).then(a.cmp(&b)));
        let top = order
            .into_iter()
            .take(k)
            .enumerate()
            .map(|(rank, i)| TopNode {
                rank: rank + 1,
                node: i,
                index: features.indices[i],
                class: features.labels[i],
                predicted: features.predicted[i],
                confidence: features.confidence[i],
                degree: c.degree[i],
                betweenness: c.betweenness[i],
            })
            .collect();
        Ok(TopNodes {
            representation: graph.representation,
            representation_title: graph.title(),
            construction: graph.graph.construction().describe(),
            by,
            nodes: top,
            images: nodes.len(),
            errors: features.correct().iter().filter(|&&ok| !ok).count(),
        })
    }

    /// Misclassified images among the top nodes.
    pub fn misclassified(&self) -> usize {
        self.nodes.iter().filter(|n| n.misclassified()).count()
    }

    /// How many misclassified images a random draw of as many nodes would hold on
    /// average: `k · m / n`.
    pub fn expected(&self) -> f64 {
        if self.images == 0 {
            return 0.0;
        }
        self.nodes.len() as f64 * self.errors as f64 / self.images as f64
    }

    /// The chance that a random draw of as many nodes holds at least as many
    /// misclassified images as the top nodes do ([`hypergeometric_tail`]): small when
    /// the top nodes are misclassified more often than chance explains.
    pub fn p_value(&self) -> f64 {
        hypergeometric_tail(
            self.misclassified(),
            self.nodes.len(),
            self.errors,
            self.images,
        )
    }

    /// Test indices of the top nodes, highest first (e.g. for a
    /// [`SampleGrid`](crate::plot::SampleGrid)).
    pub fn indices(&self) -> Vec<usize> {
        self.nodes.iter().map(|n| n.index).collect()
    }

    /// One caption per top node: rank, test index, true → predicted class when wrong,
    /// e.g. `"1. #42 Shirt→Coat"`.
    pub fn captions(&self) -> Vec<String> {
        self.nodes
            .iter()
            .map(|n| {
                let name = |c: u8| CLASS_NAMES.get(c as usize).copied().unwrap_or("?");
                if n.misclassified() {
                    format!(
                        "{}. #{} {}→{}",
                        n.rank,
                        n.index,
                        name(n.class),
                        name(n.predicted)
                    )
                } else {
                    format!("{}. #{} {}", n.rank, n.index, name(n.class))
                }
            })
            .collect()
    }

    /// One row per top node: `rank`, `test_index`, `class`, `predicted`, `p` (the
    /// model's confidence), `correct`, `degree`, `betweenness`.
    pub fn table(&self) -> Result<DataFrame> {
        let n = &self.nodes;
        let name = |c: u8| CLASS_NAMES.get(c as usize).copied().unwrap_or("?");
        Ok(df!(
            "rank" => n.iter().map(|v| v.rank as u32).collect::<Vec<_>>(),
            "test_index" => n.iter().map(|v| v.index as u64).collect::<Vec<_>>(),
            "class" => n.iter().map(|v| name(v.class)).collect::<Vec<_>>(),
            "predicted" => n.iter().map(|v| name(v.predicted)).collect::<Vec<_>>(),
            "p" => n.iter().map(|v| v.confidence).collect::<Vec<_>>(),
            "correct" => n.iter().map(|v| !v.misclassified()).collect::<Vec<_>>(),
            "degree" => n.iter().map(|v| v.degree as u32).collect::<Vec<_>>(),
            "betweenness" => n.iter().map(|v| v.betweenness).collect::<Vec<_>>(),
        )?)
    }
}

/// The top nodes of one measure's graphs: for each requested representation, the `k`
/// nodes with the highest betweenness and the `k` with the highest degree.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeClaim {
    /// One entry per (representation, ranking), in the order requested, betweenness
    /// first.
    pub tops: Vec<TopNodes>,
}

impl NodeClaim {
    /// The top `k` nodes by betweenness and by degree in the graphs of `comparison` on
    /// `representations` (the notebooks use the dense embedding and the feature map).
    ///
    /// # Errors
    /// A representation missing from `comparison`; as [`TopNodes::compute`].
    pub fn compute(
        comparison: &Comparison,
        features: &ImageFeatures,
        representations: &[Representation],
        k: usize,
    ) -> Result<NodeClaim> {
        let mut tops = Vec::new();
        for &r in representations {
            let g = comparison.get(r).ok_or_else(|| {
                Error::invalid(
                    "representations",
                    "representations of the comparison",
                    r.label(),
                )
            })?;
            for by in [RankBy::Betweenness, RankBy::Degree] {
                tops.push(TopNodes::compute(g, features, by, k)?);
            }
        }
        Ok(NodeClaim { tops })
    }

    /// One row per ranking: `representation`, `ranked_by`, `top` (k), `misclassified`
    /// (among the top), `expected` (by chance, `k·m/n`), `p_value` (chance of at least
    /// as many, hypergeometric), `images` (n), `errors` (m).
    pub fn summary(&self) -> Result<DataFrame> {
        let t = &self.tops;
        Ok(df!(
            "representation" => t.iter().map(|x| x.representation.label()).collect::<Vec<_>>(),
            "ranked_by" => t.iter().map(|x| x.by.name()).collect::<Vec<_>>(),
            "top" => t.iter().map(|x| x.nodes.len() as u32).collect::<Vec<_>>(),
            "misclassified" => t.iter().map(|x| x.misclassified() as u32).collect::<Vec<_>>(),
            "expected" => t.iter().map(TopNodes::expected).collect::<Vec<_>>(),
            "p_value" => t.iter().map(TopNodes::p_value).collect::<Vec<_>>(),
            "images" => t.iter().map(|x| x.images as u32).collect::<Vec<_>>(),
            "errors" => t.iter().map(|x| x.errors as u32).collect::<Vec<_>>(),
        )?)
    }

    /// Every ranking's top nodes in one table: `representation`, `ranked_by`, then the
    /// columns of [`TopNodes::table`].
    pub fn table(&self) -> Result<DataFrame> {
        let mut all: Option<DataFrame> = None;
        for t in &self.tops {
            let mut df = t.table()?;
            let k = df.height();
            df.insert_column(
                0,
                Column::new("representation".into(), vec![t.representation.label(); k]),
            )?;
            df.insert_column(1, Column::new("ranked_by".into(), vec![t.by.name(); k]))?;
            all = Some(match all {
                None => df,
                Some(a) => a.vstack(&df)?,
            });
        }
        all.ok_or_else(|| Error::invalid("tops", "at least one ranking", 0))
    }

    /// The entry for `representation` ranked `by`, if computed.
    pub fn get(&self, representation: Representation, by: RankBy) -> Option<&TopNodes> {
        self.tops
            .iter()
            .find(|t| t.representation == representation && t.by == by)
    }
}

/// `P(X ≥ x)` for `X` hypergeometric: the number of marked items among `draws` drawn
/// without replacement from `total` items of which `marked` are marked. Summed in log
/// space from exact log-factorials, so it stays accurate for thousands of items.
/// Returns 1 for `x = 0` and 0 when `x` exceeds what a draw can hold.
pub fn hypergeometric_tail(x: usize, draws: usize, marked: usize, total: usize) -> f64 {
    let (draws, marked) = (draws.min(total), marked.min(total));
    let hi = draws.min(marked);
    let lo = draws.saturating_sub(total - marked);
    if x <= lo {
        return 1.0;
    }
    if x > hi {
        return 0.0;
    }
    let ln_fact = |n: usize| -> f64 { (2..=n).map(|v| (v as f64).ln()).sum() };
    let ln_choose = |n: usize, k: usize| ln_fact(n) - ln_fact(k) - ln_fact(n - k);
    let denominator = ln_choose(total, draws);
    let p: f64 = (x..=hi)
        .map(|j| (ln_choose(marked, j) + ln_choose(total - marked, draws - j) - denominator).exp())
        .sum();
    p.clamp(0.0, 1.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::{KnnParams, LayoutParams, Measure, NodeInfo};

    #[test]
    fn hypergeometric_tail_matches_hand_counts() {
        // 5 items, 2 marked, draw 2: P(X = 2) = 1/10, P(X = 1) = 6/10, P(X = 0) = 3/10.
        assert!((hypergeometric_tail(2, 2, 2, 5) - 0.1).abs() < 1e-12);
        assert!((hypergeometric_tail(1, 2, 2, 5) - 0.7).abs() < 1e-12);
        assert_eq!(hypergeometric_tail(0, 2, 2, 5), 1.0);
        assert_eq!(hypergeometric_tail(3, 2, 2, 5), 0.0);
        // Drawing everything: the marked count is certain.
        assert_eq!(hypergeometric_tail(2, 5, 2, 5), 1.0);
        // scipy.stats.hypergeom(100, 20, 10).sf(4) = P(X ≥ 5) = 0.02546...
        assert!((hypergeometric_tail(5, 10, 20, 100) - 0.025_46).abs() < 5e-5);
    }

    /// Two cliques of 6 joined through node 0 (a bridge: the highest betweenness), node 0
    /// misclassified and every third node too.
    fn bridged() -> (RepresentationGraph, ImageFeatures) {
        let n = 13;
        let mut edges = Vec::new();
        for block in [1..7, 7..13] {
            let v: Vec<usize> = block.collect();
            for (a, &i) in v.iter().enumerate() {
                for &j in &v[a + 1..] {
                    edges.push((i, j, 1.0));
                }
            }
        }
        edges.push((0, 1, 1.0));
        edges.push((0, 7, 1.0));
        let labels: Vec<u8> = (0..n).map(|i| if i < 7 { 0 } else { 1 }).collect();
        let predicted: Vec<u8> = (0..n)
            .map(|i| if i % 3 == 0 { 1 - labels[i] } else { labels[i] })
            .collect();
        let nodes: Vec<NodeInfo> = (0..n)
            .map(|i| NodeInfo::new(100 + i, labels[i]).with_prediction(predicted[i]))
            .collect();
        let g = crate::graph::SimilarityGraph::from_edges(
            &nodes,
            &edges,
            crate::graph::Construction::Knn {
                params: KnnParams::default(),
            },
        )
        .unwrap();
        let rg = RepresentationGraph::new(Representation::Dense, 2, g, &LayoutParams::default())
            .unwrap();
        let features = ImageFeatures {
            indices: (100..100 + n).collect(),
            labels,
            predicted,
            confidence: (0..n).map(|i| 0.4 + 0.01 * i as f32).collect(),
            input: ndarray::Array2::zeros((n, 4)),
            scaled: ndarray::Array2::zeros((n, 4)),
            map: ndarray::Array2::zeros((n, 2)),
            dense: ndarray::Array2::zeros((n, 2)),
        };
        (rg, features)
    }

    #[test]
    fn top_nodes_rank_by_centrality_and_count_errors_against_chance() {
        let (g, f) = bridged();
        let top = TopNodes::compute(&g, &f, RankBy::Betweenness, 3).unwrap();
        // The bridge, then the two clique members it touches.
        assert_eq!(top.indices(), [100, 101, 107]);
        assert_eq!(top.nodes[0].rank, 1);
        assert!(top.nodes[0].misclassified());
        assert_eq!(top.misclassified(), 1);
        // Misclassified: 0, 3, 6, 9, 12 → 5 of 13.
        assert_eq!((top.images, top.errors), (13, 5));
        assert!((top.expected() - 3.0 * 5.0 / 13.0).abs() < 1e-12);
        assert!((top.p_value() - hypergeometric_tail(1, 3, 5, 13)).abs() < 1e-15);
        assert_eq!(top.captions()[0], "1. #100 T-shirt/top→Trouser");
        assert_eq!(top.captions()[1], "2. #101 T-shirt/top");
        let by_degree = TopNodes::compute(&g, &f, RankBy::Degree, 2).unwrap();
        // Degree 6: the clique members joined to the bridge (1 and 7), lowest row first.
        assert_eq!(by_degree.indices(), [101, 107]);
        let table = top.table().unwrap();
        assert_eq!(table.shape(), (3, 8));
        assert_eq!(table.column("p").unwrap().f32().unwrap().get(0), Some(0.4));
        assert!(TopNodes::compute(&g, &f, RankBy::Degree, 0).is_err());
        let mut other = f.clone();
        other.indices[0] = 5;
        let err = TopNodes::compute(&g, &other, RankBy::Degree, 2).unwrap_err();
        assert!(err.to_string().contains("features"), "{err}");
    }

    #[test]
    fn node_claim_covers_each_representation_and_ranking() {
        let (g, f) = bridged();
        let cmp = Comparison {
            measure: Measure::knn(),
            graphs: vec![g],
        };
        let claim = NodeClaim::compute(&cmp, &f, &[Representation::Dense], 3).unwrap();
        assert_eq!(claim.tops.len(), 2);
        assert_eq!(
            claim.get(Representation::Dense, RankBy::Degree).unwrap().by,
            RankBy::Degree
        );
        let summary = claim.summary().unwrap();
        assert_eq!(summary.shape(), (2, 8));
        let table = claim.table().unwrap();
        assert_eq!(table.shape(), (6, 10));
        let column = table.column("ranked_by").unwrap().str().unwrap();
        let by: Vec<&str> = (0..6).map(|i| column.get(i).unwrap()).collect();
        assert_eq!(
            by,
            ["betweenness"; 3]
                .into_iter()
                .chain(["degree"; 3])
                .collect::<Vec<_>>()
        );
        // The gallery: each ranking of 3 on one row, labelled; captions as the rankings'.
        let test = crate::data::fixtures::synthetic(20, 1);
        let grid = claim.gallery(&test).unwrap();
        assert_eq!(grid.grid(), (2, 3));
        let one = claim.tops[0].gallery(&test).unwrap();
        assert_eq!(one.grid(), (1, 3));
        let long = NodeClaim::compute(&cmp, &f, &[Representation::Dense], 10).unwrap();
        assert_eq!(long.gallery(&test).unwrap().grid(), (4, 5));
        let odd = NodeClaim::compute(&cmp, &f, &[Representation::Dense], 7).unwrap();
        assert!(
            odd.gallery(&test)
                .unwrap_err()
                .to_string()
                .contains("multiple of 5")
        );
        let err = NodeClaim::compute(&cmp, &f, &[Representation::Map], 3).unwrap_err();
        assert!(err.to_string().contains("representations"), "{err}");
    }
}
