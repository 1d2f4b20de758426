//! Pearson correlation graphs.

use std::cmp::Ordering;

use ndarray::{Array2, s};
use rayon::prelude::*;

use super::{
    BLOCK, Construction, NodeInfo, SimilarityGraph, check_input, gram_block, standardise_rows,
};
use crate::error::{ParamError, Result, bad_mean_degree, bad_threshold};

/// Which pairs of images a [`correlation`] graph joins.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum CorrelationMode {
    /// Every pair with Pearson `r ≥` this value (in `[-1, 1]`).
    Threshold(f64),
    /// The `round(m · n / 2)` most correlated pairs, so the mean degree is (as close as
    /// possible to) `m`; ties at the cut go to the pair with the smaller row indices.
    MeanDegree(f64),
}

/// Parameters of [`correlation`]. Default: mean degree 4.
///
/// ```
/// use fashion_graph::{CorrelationMode, CorrelationParams};
/// let p = CorrelationParams::default().threshold(0.7);
/// assert_eq!(p.mode, CorrelationMode::Threshold(0.7));
/// assert!(p.check().is_ok());
/// assert!(CorrelationParams::default().threshold(1.5).check().is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CorrelationParams {
    /// How edges are chosen.
    pub mode: CorrelationMode,
}

impl Default for CorrelationParams {
    fn default() -> Self {
        CorrelationParams {
            mode: CorrelationMode::MeanDegree(4.0),
        }
    }
}

impl CorrelationParams {
    /// An edge wherever `r ≥ threshold`.
    pub fn threshold(mut self, threshold: f64) -> Self {
        self.mode = CorrelationMode::Threshold(threshold);
        self
    }

    /// The most correlated pairs, as many as give mean degree `m`.
    pub fn mean_degree(mut self, m: f64) -> Self {
        self.mode = CorrelationMode::MeanDegree(m);
        self
    }

    /// Checks the parameters: a threshold in `[-1, 1]`
    /// ([`ParamError`]), a finite mean degree `> 0`
    /// ([`ParamError`]; that it is at most `n − 1` is checked when the
    /// graph is built).
    pub fn check(&self) -> Result<(), ParamError> {
        match self.mode {
            CorrelationMode::Threshold(t) if !(-1.0..=1.0).contains(&t) => Err(bad_threshold(t)),
            CorrelationMode::MeanDegree(m) if !(m > 0.0 && m.is_finite()) => {
                Err(bad_mean_degree(m, None))
            }
            _ => Ok(()),
        }
    }
}

/// Pearson correlation matrix of the rows of `x` (`n × n`, f64), as the product
/// `Z Zᵀ` of the rows centred and scaled to unit norm; entries clamped to `[-1, 1]`.
///
/// Errors: as [`correlation`]. Needs `n²` values of memory: for large `n` use
/// [`correlation`], which forms the product block by block.
pub fn correlation_matrix(x: &Array2<f32>, nodes: &[NodeInfo]) -> Result<Array2<f64>> {
    check_input(x, nodes)?;
    let z = standardise_rows(x, nodes, 1.0)?;
    Ok(gram_block(z.view(), z.view()).mapv(|r| r.clamp(-1.0, 1.0)))
}

/// Orders candidate edges: larger `r` first, then smaller `(i, j)`.
fn by_strength(a: &(f64, usize, usize), b: &(f64, usize, usize)) -> Ordering {
    b.0.total_cmp(&a.0).then((a.1, a.2).cmp(&(b.1, b.2)))
}

/// The Pearson correlation graph of the rows of `x`: node `i` is row `i`, edges as
/// [`CorrelationParams::mode`] says, weighted by `r`.
///
/// `r` is computed as a matrix product on rows centred and scaled to unit norm (f64),
/// block by block over rows (memory `256 × n`), rayon over blocks.
///
/// Errors: the parameters' ([`CorrelationParams::check`]), a mean degree above `n − 1`,
/// fewer than 2 rows, a node count different from the row count, NaN or infinite
/// values ([`Error::NonFiniteFeature`](crate::Error::NonFiniteFeature)), a constant row ([`Error::ConstantRow`](crate::Error::ConstantRow)).
pub fn correlation(
    x: &Array2<f32>,
    nodes: &[NodeInfo],
    params: &CorrelationParams,
) -> Result<SimilarityGraph> {
    params.check()?;
    check_input(x, nodes)?;
    let n = x.nrows();
    let wanted = match params.mode {
        CorrelationMode::MeanDegree(m) if m > (n - 1) as f64 => {
            return Err(bad_mean_degree(m, Some(n)).into());
        }
        CorrelationMode::MeanDegree(m) => Some((m * n as f64 / 2.0).round() as usize),
        CorrelationMode::Threshold(_) => None,
    };
    let z = standardise_rows(x, nodes, 1.0)?;
    let starts: Vec<usize> = (0..n).step_by(BLOCK).collect();
    let blocks: Vec<Vec<(f64, usize, usize)>> = starts
        .into_par_iter()
        .map(|start| {
            let end = (start + BLOCK).min(n);
            let g = gram_block(z.slice(s![start..end, ..]), z.slice(s![start.., ..]));
            let mut out = Vec::new();
            for (ii, row) in g.rows().into_iter().enumerate() {
                for jj in ii + 1..row.len() {
                    let r = row[jj].clamp(-1.0, 1.0);
                    if let CorrelationMode::Threshold(t) = params.mode
                        && r < t
                    {
                        continue;
                    }
                    out.push((r, start + ii, start + jj));
                }
                // Keep the block's candidates bounded in mean-degree mode: the global
                // top `wanted` are among each block's top `wanted`.
                if let Some(e) = wanted
                    && out.len() > 2 * e.max(n)
                {
                    keep_strongest(&mut out, e);
                }
            }
            if let Some(e) = wanted {
                keep_strongest(&mut out, e);
            }
            out
        })
        .collect();
    let mut edges: Vec<(f64, usize, usize)> = blocks.into_iter().flatten().collect();
    if let Some(e) = wanted {
        keep_strongest(&mut edges, e);
    }
    edges.sort_by_key(|a| (a.1, a.2));
    let threshold = match params.mode {
        CorrelationMode::Threshold(t) => Some(t),
        CorrelationMode::MeanDegree(_) => edges.iter().map(|e| e.0).min_by(f64::total_cmp),
    };
    let list: Vec<(usize, usize, f64)> = edges.iter().map(|&(r, i, j)| (i, j, r)).collect();
    SimilarityGraph::from_edges(
        nodes,
        &list,
        Construction::Correlation {
            params: *params,
            threshold,
        },
    )
}

/// Keeps the `e` strongest candidates (see [`by_strength`]), in no particular order.
fn keep_strongest(v: &mut Vec<(f64, usize, usize)>, e: usize) {
    if v.len() > e {
        if e > 0 {
            v.select_nth_unstable_by(e - 1, by_strength);
        }
        v.truncate(e);
    }
}

#[cfg(test)]
mod tests {
    use crate::Error;
    use ndarray::array;

    use super::super::testdata::*;
    use super::*;

    /// Pearson's r by the textbook formula, in f64.
    fn pearson(a: &[f32], b: &[f32]) -> f64 {
        let n = a.len() as f64;
        let ma = a.iter().map(|&v| v as f64).sum::<f64>() / n;
        let mb = b.iter().map(|&v| v as f64).sum::<f64>() / n;
        let (mut sab, mut saa, mut sbb) = (0.0, 0.0, 0.0);
        for (&x, &y) in a.iter().zip(b) {
            let (dx, dy) = (x as f64 - ma, y as f64 - mb);
            sab += dx * dy;
            saa += dx * dx;
            sbb += dy * dy;
        }
        sab / (saa * sbb).sqrt()
    }

    #[test]
    fn matrix_matches_the_textbook_formula() {
        let (x, nodes) = clusters(30, 12, 0.5, 7);
        let r = correlation_matrix(&x, &nodes).unwrap();
        for i in 0..30 {
            for j in 0..30 {
                let e = pearson(x.row(i).as_slice().unwrap(), x.row(j).as_slice().unwrap());
                assert!(
                    (r[[i, j]] - e).abs() < 1e-12,
                    "({i},{j}) {} vs {e}",
                    r[[i, j]]
                );
            }
        }
    }

    #[test]
    fn threshold_graph_has_the_known_edges() {
        // Rows 0 and 1 rise together (r = 1), row 2 falls (r = -1 with them), row 3 is
        // r = 0.5 with row 0: [1,2,3] vs [1,3,2] (by hand: Σdxdy = 1, Σdx² = Σdy² = 2).
        let x = array![
            [1.0f32, 2.0, 3.0],
            [2.0, 4.0, 6.0],
            [3.0, 2.0, 1.0],
            [1.0, 3.0, 2.0]
        ];
        let nodes = plain_nodes(4);
        let g = correlation(&x, &nodes, &CorrelationParams::default().threshold(0.9)).unwrap();
        let e = g.edge_list();
        assert_eq!(e.len(), 1);
        assert_eq!((e[0].0, e[0].1), (0, 1));
        assert!((e[0].2 - 1.0).abs() < 1e-12);
        let g = correlation(
            &x,
            &nodes,
            &CorrelationParams::default().threshold(0.5 - 1e-9),
        )
        .unwrap();
        let pairs: Vec<_> = g.edge_list().iter().map(|e| (e.0, e.1)).collect();
        assert_eq!(pairs, [(0, 1), (0, 3), (1, 3)]);
        assert!((g.edge_list()[1].2 - 0.5).abs() < 1e-12);
        // -1 keeps every pair.
        let g = correlation(&x, &nodes, &CorrelationParams::default().threshold(-1.0)).unwrap();
        assert_eq!(g.edge_count(), 6);
    }

    #[test]
    fn threshold_graph_matches_brute_force_across_blocks() {
        // More rows than one block, so blocks and their offsets are exercised.
        let (x, nodes) = clusters(600, 10, 0.8, 3);
        let g = correlation(&x, &nodes, &CorrelationParams::default().threshold(0.6)).unwrap();
        let mut expected = Vec::new();
        for i in 0..600 {
            for j in i + 1..600 {
                let r = pearson(x.row(i).as_slice().unwrap(), x.row(j).as_slice().unwrap());
                if r >= 0.6 + 1e-9 {
                    expected.push((i, j));
                } else if r >= 0.6 - 1e-9 {
                    panic!("pair ({i},{j}) too close to the threshold for this test");
                }
            }
        }
        let got: Vec<_> = g.edge_list().iter().map(|e| (e.0, e.1)).collect();
        assert!(expected.len() > 600, "{} edges", expected.len());
        assert_eq!(got, expected);
    }

    #[test]
    fn mean_degree_mode_keeps_the_strongest_pairs() {
        let (x, nodes) = clusters(300, 10, 0.8, 5);
        let r = correlation_matrix(&x, &nodes).unwrap();
        let g = correlation(&x, &nodes, &CorrelationParams::default().mean_degree(3.0)).unwrap();
        assert_eq!(g.edge_count(), 450);
        assert!((g.mean_degree() - 3.0).abs() < 1e-12);
        let Construction::Correlation {
            threshold: Some(t), ..
        } = *g.construction()
        else {
            panic!("no threshold reported");
        };
        // Every kept pair is at least t, every other pair at most t.
        let kept: std::collections::HashSet<_> = g.edge_list().iter().map(|e| (e.0, e.1)).collect();
        for i in 0..300 {
            for j in i + 1..300 {
                if kept.contains(&(i, j)) {
                    assert!(r[[i, j]] >= t);
                } else {
                    assert!(r[[i, j]] <= t, "({i},{j}) {} > {t}", r[[i, j]]);
                }
            }
        }
    }

    #[test]
    fn duplicates_are_fine_and_degenerate_input_is_an_error() {
        let x = array![[1.0f32, 2.0, 4.0], [1.0, 2.0, 4.0], [4.0, 2.0, 1.0]];
        let nodes = plain_nodes(3);
        let g = correlation(&x, &nodes, &CorrelationParams::default().threshold(0.99)).unwrap();
        assert_eq!(g.edge_list().len(), 1);
        assert!(g.edge_list()[0].2 <= 1.0);

        let constant = array![[1.0f32, 2.0, 4.0], [3.0, 3.0, 3.0], [4.0, 2.0, 1.0]];
        let p = CorrelationParams::default().threshold(0.5);
        let err = correlation(&constant, &nodes, &p).unwrap_err();
        assert!(matches!(err, Error::ConstantRow { row: 1, .. }), "{err}");
        let mut nan = x.clone();
        nan[[0, 2]] = f32::NAN;
        let err = correlation(&nan, &nodes, &p).unwrap_err();
        assert!(
            matches!(err, Error::NonFiniteFeature { row: 0, .. }),
            "{err}"
        );
        let err =
            correlation(&x, &nodes, &CorrelationParams::default().mean_degree(2.5)).unwrap_err();
        assert_eq!(err.parameter(), Some("mean_degree"), "{err}");
        assert!(err.to_string().contains("(n = 3 nodes)"), "{err}");
        for bad in [f64::NAN, 1.01, -2.0] {
            let err =
                correlation(&x, &nodes, &CorrelationParams::default().threshold(bad)).unwrap_err();
            assert_eq!(err.parameter(), Some("threshold"), "{err}");
        }
        for bad in [0.0, -1.0, f64::INFINITY] {
            let p = CorrelationParams::default().mean_degree(bad);
            assert_eq!(p.check().unwrap_err().name, "mean_degree");
        }
        let one = array![[1.0f32, 2.0]];
        assert!(matches!(
            correlation(&one, &nodes[..1], &CorrelationParams::default()),
            Err(Error::TooFewNodes { found: 1 })
        ));
    }
}
