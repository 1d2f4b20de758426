//! Euclidean k-nearest-neighbour graphs.

use ndarray::{Array2, ArrayView1, Axis, s};
use rayon::prelude::*;

use super::{BLOCK, Construction, NodeInfo, SimilarityGraph, check_input, gram_block};
use crate::error::{ParamError, Result, bad_neighbours};

/// Parameters of [`knn`]. Default: `k = 5`, plain (not mutual).
///
/// ```
/// use fashion_graph::KnnParams;
/// let p = KnnParams::default().k(3).mutual(true);
/// assert_eq!((p.k, p.mutual), (3, true));
/// assert!(KnnParams::default().k(0).check().is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KnnParams {
    /// Neighbours per image, `1..=n-1`.
    pub k: usize,
    /// `false`: an edge where either image is among the other's `k` nearest (OR);
    /// `true`: only where both are (mutual, AND).
    pub mutual: bool,
}

impl Default for KnnParams {
    fn default() -> Self {
        KnnParams {
            k: 5,
            mutual: false,
        }
    }
}

impl KnnParams {
    /// Sets the number of neighbours.
    pub fn k(mut self, k: usize) -> Self {
        self.k = k;
        self
    }

    /// Mutual (AND) or plain (OR) neighbours.
    pub fn mutual(mut self, mutual: bool) -> Self {
        self.mutual = mutual;
        self
    }

    /// Checks `k ≥ 1` ([`ParamError`]; `k ≤ n − 1` is checked when the
    /// graph is built).
    pub fn check(&self) -> Result<(), ParamError> {
        if self.k == 0 {
            return Err(bad_neighbours(0, None));
        }
        Ok(())
    }
}

/// The `k` nearest other rows of every row of `x` (Euclidean), nearest first; ties go
/// to the smaller row index, so the result is deterministic even for duplicate rows.
///
/// Squared distances come from the Gram matrix, `‖a‖² + ‖b‖² − 2 a·b` clamped at 0
/// (f64), formed for each pair of blocks of rows once (the upper triangle; rayon over
/// pairs) and read by rows and by columns, so each distance is computed once and
/// `d(i, j) = d(j, i)` exactly; each block's best candidates are merged per row.
///
/// Errors: as [`knn`].
pub fn nearest_neighbours(
    x: &Array2<f32>,
    nodes: &[NodeInfo],
    k: usize,
) -> Result<Vec<Vec<usize>>> {
    check_input(x, nodes)?;
    let n = x.nrows();
    if k == 0 || k >= n {
        return Err(bad_neighbours(k, Some(n)).into());
    }
    let xf = x.mapv(f64::from);
    let sq: Vec<f64> = xf.axis_iter(Axis(0)).map(|r| r.dot(&r)).collect();
    let order = |a: &(f64, usize), b: &(f64, usize)| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1));
    // The `k` best of `cand` (or all of them when fewer), in `order`.
    let best = |cand: &mut Vec<(f64, usize)>| -> Vec<(f64, usize)> {
        let k = k.min(cand.len());
        if k > 0 && k < cand.len() {
            cand.select_nth_unstable_by(k - 1, order);
        }
        cand.truncate(k);
        cand.sort_unstable_by(order);
        cand.clone()
    };
    let blocks = n.div_ceil(BLOCK);
    let pairs: Vec<(usize, usize)> = (0..blocks)
        .flat_map(|a| (a..blocks).map(move |b| (a, b)))
        .collect();
    // Each pair of row blocks (a ≤ b) forms one product and gives every row of block a
    // its best rows of block b and, below the diagonal, every row of block b its best
    // rows of block a (the same product read by columns, so d(i, j) = d(j, i) exactly).
    let partial: Vec<Vec<RowCandidates>> = pairs
        .into_par_iter()
        .map(|(a, b)| {
            let (a0, a1) = (a * BLOCK, ((a + 1) * BLOCK).min(n));
            let (b0, b1) = (b * BLOCK, ((b + 1) * BLOCK).min(n));
            let g = gram_block(xf.slice(s![a0..a1, ..]), xf.slice(s![b0..b1, ..]));
            let d2 = |i: usize, j: usize, dot: f64| ((sq[i] + sq[j] - 2.0 * dot).max(0.0), j);
            let mut cand: Vec<(f64, usize)> = Vec::with_capacity(BLOCK);
            let mut out = Vec::with_capacity(2 * BLOCK);
            for (ii, row) in g.rows().into_iter().enumerate() {
                let i = a0 + ii;
                cand.clear();
                cand.extend(
                    row.iter()
                        .enumerate()
                        .map(|(jj, &dot)| d2(i, b0 + jj, dot))
                        .filter(|&(_, j)| j != i),
                );
                out.push((i, best(&mut cand)));
            }
            if a != b {
                for (jj, col) in g.columns().into_iter().enumerate() {
                    let j = b0 + jj;
                    cand.clear();
                    cand.extend(col.iter().enumerate().map(|(ii, &dot)| d2(j, a0 + ii, dot)));
                    out.push((j, best(&mut cand)));
                }
            }
            out
        })
        .collect();
    let mut per_row: Vec<Vec<(f64, usize)>> = vec![Vec::with_capacity(blocks * k); n];
    for (i, list) in partial.into_iter().flatten() {
        per_row[i].extend(list);
    }
    Ok(per_row
        .into_par_iter()
        .map(|mut cand| best(&mut cand).into_iter().map(|c| c.1).collect())
        .collect())
}

/// A row and its best candidates `(squared distance, row)` within one block.
type RowCandidates = (usize, Vec<(f64, usize)>);

/// Euclidean distance between two rows, in f64.
fn distance(a: ArrayView1<f32>, b: ArrayView1<f32>) -> f64 {
    a.iter()
        .zip(b)
        .map(|(&u, &v)| {
            let d = f64::from(u) - f64::from(v);
            d * d
        })
        .sum::<f64>()
        .sqrt()
}

/// The k-nearest-neighbour graph of the rows of `x`: an edge `i – j` where `j` is among
/// the `k` nearest rows of `i` or (plain) / and (mutual) `i` among those of `j`; the
/// edge weight is the Euclidean distance (smaller = more similar). Neighbours are
/// chosen as [`nearest_neighbours`] does (deterministic ties).
///
/// Errors: `k = 0` or `k ≥ n` ([`ParamError`]), fewer than 2 rows, a node
/// count different from the row count, NaN or infinite values. Constant and duplicate
/// rows are fine.
pub fn knn(x: &Array2<f32>, nodes: &[NodeInfo], params: &KnnParams) -> Result<SimilarityGraph> {
    params.check()?;
    let nn = nearest_neighbours(x, nodes, params.k)?;
    let n = nn.len();
    let mut is_nb = std::collections::HashSet::with_capacity(n * params.k);
    for (i, list) in nn.iter().enumerate() {
        for &j in list {
            is_nb.insert((i, j));
        }
    }
    let mut pairs: Vec<(usize, usize)> = Vec::new();
    for (i, list) in nn.iter().enumerate() {
        for &j in list {
            let back = is_nb.contains(&(j, i));
            let keep = if params.mutual {
                back && i < j
            } else {
                // Listed once: from the smaller index if mutual, else from whoever has it.
                !back || i < j
            };
            if keep {
                pairs.push((i.min(j), i.max(j)));
            }
        }
    }
    pairs.sort_unstable();
    let edges: Vec<(usize, usize, f64)> = pairs
        .into_iter()
        .map(|(i, j)| (i, j, distance(x.row(i), x.row(j))))
        .collect();
    SimilarityGraph::from_edges(nodes, &edges, Construction::Knn { params: *params })
}

#[cfg(test)]
mod tests {
    use crate::Error;
    use std::collections::BTreeSet;

    use ndarray::array;

    use super::super::testdata::*;
    use super::*;

    /// kNN by brute force: direct distances, sorted by (distance, index).
    fn brute(x: &Array2<f32>, k: usize) -> Vec<Vec<usize>> {
        (0..x.nrows())
            .map(|i| {
                let mut d: Vec<(f64, usize)> = (0..x.nrows())
                    .filter(|&j| j != i)
                    .map(|j| (distance(x.row(i), x.row(j)), j))
                    .collect();
                d.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
                d[..k].iter().map(|p| p.1).collect()
            })
            .collect()
    }

    #[test]
    fn neighbours_match_brute_force_across_blocks() {
        let (x, nodes) = clusters(400, 9, 0.7, 11);
        let got = nearest_neighbours(&x, &nodes, 6).unwrap();
        assert_eq!(got, brute(&x, 6));
    }

    #[test]
    fn plain_and_mutual_graphs_follow_the_lists() {
        let (x, nodes) = clusters(120, 6, 0.9, 2);
        let nn = brute(&x, 4);
        let mut or = BTreeSet::new();
        let mut and = BTreeSet::new();
        for (i, list) in nn.iter().enumerate() {
            for &j in list {
                or.insert((i.min(j), i.max(j)));
                if nn[j].contains(&i) {
                    and.insert((i.min(j), i.max(j)));
                }
            }
        }
        let plain = knn(&x, &nodes, &KnnParams::default().k(4)).unwrap();
        let mutual = knn(&x, &nodes, &KnnParams::default().k(4).mutual(true)).unwrap();
        let edges = |g: &SimilarityGraph| -> BTreeSet<(usize, usize)> {
            g.edge_list().iter().map(|e| (e.0, e.1)).collect()
        };
        assert_eq!(edges(&plain), or);
        assert_eq!(edges(&mutual), and);
        assert!(and.len() < or.len());
        // No duplicate edges, every node has degree ≥ k in the plain graph.
        assert_eq!(plain.edge_count(), or.len());
        for v in plain.graph().node_indices() {
            assert!(plain.graph().neighbors(v).count() >= 4);
        }
        for (i, j, w) in plain.edge_list() {
            assert!((w - distance(x.row(i), x.row(j))).abs() < 1e-12);
        }
    }

    #[test]
    fn hand_made_points_and_ties() {
        // Points on a line at 0, 1, 3, 7: nearest of each is the next one along.
        let x = array![[0.0f32], [1.0], [3.0], [7.0]];
        let nodes = plain_nodes(4);
        let nn = nearest_neighbours(&x, &nodes, 1).unwrap();
        assert_eq!(nn, [[1], [0], [1], [2]]);
        let g = knn(&x, &nodes, &KnnParams::default().k(1)).unwrap();
        assert_eq!(g.edge_list(), [(0, 1, 1.0), (1, 2, 2.0), (2, 3, 4.0)]);
        let g = knn(&x, &nodes, &KnnParams::default().k(1).mutual(true)).unwrap();
        assert_eq!(g.edge_list(), [(0, 1, 1.0)]);

        // Rows 1, 2 and 3 duplicate each other; row 0 is equally far from them all.
        // Ties go to the smaller index, every time.
        let x = array![[0.0f32, 0.0], [3.0, 4.0], [3.0, 4.0], [3.0, 4.0]];
        for _ in 0..3 {
            let nn = nearest_neighbours(&x, &nodes, 2).unwrap();
            assert_eq!(nn, [[1, 2], [2, 3], [1, 3], [1, 2]]);
        }
        // Constant rows are fine for kNN.
        let x = array![[1.0f32, 1.0], [2.0, 2.0], [5.0, 5.0]];
        assert_eq!(
            knn(&x, &nodes[..3], &KnnParams::default().k(1))
                .unwrap()
                .edge_count(),
            2
        );
    }

    #[test]
    fn degenerate_input_is_an_error() {
        let x = array![[0.0f32], [1.0], [3.0]];
        let nodes = plain_nodes(3);
        for k in [0, 3, 10] {
            let err = knn(&x, &nodes, &KnnParams::default().k(k)).unwrap_err();
            assert!(
                matches!(&err, Error::Params(p) if p.name == "k" && p.found == k.to_string()),
                "{err}"
            );
        }
        let err = knn(&x, &nodes, &KnnParams::default().k(3)).unwrap_err();
        assert!(err.to_string().contains("n = 3 nodes"), "{err}");
        let mut bad = x.clone();
        bad[[1, 0]] = f32::NEG_INFINITY;
        let err = knn(&bad, &nodes, &KnnParams::default().k(1)).unwrap_err();
        assert!(
            matches!(err, Error::NonFiniteFeature { row: 1, .. }),
            "{err}"
        );
        assert!(matches!(
            knn(
                &x.slice(s![..1, ..]).to_owned(),
                &nodes[..1],
                &KnnParams::default().k(1)
            ),
            Err(Error::TooFewNodes { .. })
        ));
    }
}
