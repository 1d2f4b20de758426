//! Seeded Fruchterman–Reingold force-directed layout.

use petgraph::visit::EdgeRef;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

use super::SimilarityGraph;
use crate::error::{bad_gravity, bad_iterations, Error, ParamError, Result};

/// Parameters of [`fruchterman_reingold`]. Default: 500 iterations, seed 0, gravity 1.
///
/// ```
/// use fashion_graph::LayoutParams;
/// let p = LayoutParams::default().seed(7).iterations(200);
/// assert_eq!((p.seed, p.iterations), (7, 200));
/// assert!(LayoutParams::default().gravity(-1.0).check().is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LayoutParams {
    /// Simulation steps (the temperature falls linearly to 0 over them).
    pub iterations: usize,
    /// Seed of the initial positions (ChaCha8).
    pub seed: u64,
    /// Strength of the pull towards the centre, which keeps disconnected components
    /// and isolated nodes near the rest; 0 turns it off.
    pub gravity: f64,
}

impl Default for LayoutParams {
    fn default() -> Self {
        LayoutParams {
            iterations: 500,
            seed: 0,
            gravity: 1.0,
        }
    }
}

impl LayoutParams {
    /// Sets the number of steps.
    pub fn iterations(mut self, n: usize) -> Self {
        self.iterations = n;
        self
    }

    /// Sets the seed.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Sets the gravity.
    pub fn gravity(mut self, g: f64) -> Self {
        self.gravity = g;
        self
    }

    /// Checks `iterations ≥ 1` ([`ParamError`]) and a finite gravity
    /// `≥ 0` ([`ParamError`]).
    pub fn check(&self) -> Result<(), ParamError> {
        if self.iterations == 0 {
            return Err(bad_iterations("iterations", 0));
        }
        if !(self.gravity >= 0.0 && self.gravity.is_finite()) {
            return Err(bad_gravity(self.gravity));
        }
        Ok(())
    }
}

/// Node positions of a drawing, in row order, scaled into the unit square `[0, 1]²`
/// (aspect ratio kept, centred).
#[derive(Debug, Clone, PartialEq)]
pub struct Layout {
    positions: Vec<(f64, f64)>,
}

impl Layout {
    /// Uses given positions (any finite coordinates), rescaled into `[0, 1]²`.
    ///
    /// Errors: a NaN or infinite coordinate.
    pub fn from_positions(positions: Vec<(f64, f64)>) -> Result<Layout> {
        if let Some(p) = positions
            .iter()
            .find(|p| !(p.0.is_finite() && p.1.is_finite()))
        {
            return Err(Error::invalid(
                "positions",
                "finite coordinates",
                format!("{p:?}"),
            ));
        }
        Ok(Layout {
            positions: normalise(positions),
        })
    }

    /// The positions, in `[0, 1]²`, one per node in row order.
    pub fn positions(&self) -> &[(f64, f64)] {
        &self.positions
    }

    /// Number of nodes.
    pub fn len(&self) -> usize {
        self.positions.len()
    }

    /// Whether there are no nodes.
    pub fn is_empty(&self) -> bool {
        self.positions.is_empty()
    }
}

/// Scales points uniformly into `[0, 1]²`, centred; a single point (or all equal)
/// goes to the centre.
fn normalise(mut p: Vec<(f64, f64)>) -> Vec<(f64, f64)> {
    if p.is_empty() {
        return p;
    }
    let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    for &(x, y) in &p {
        x0 = x0.min(x);
        x1 = x1.max(x);
        y0 = y0.min(y);
        y1 = y1.max(y);
    }
    let span = (x1 - x0).max(y1 - y0);
    let (cx, cy) = ((x0 + x1) / 2.0, (y0 + y1) / 2.0);
    for q in &mut p {
        *q = if span > 0.0 {
            (0.5 + (q.0 - cx) / span, 0.5 + (q.1 - cy) / span)
        } else {
            (0.5, 0.5)
        };
    }
    p
}

/// Up to this many nodes [`fruchterman_reingold`] sums the repulsion of every pair; above
/// it only pairs closer than `2k` repel (the grid variant of Fruchterman & Reingold).
pub const EXACT_REPULSION_NODES: usize = 2000;

/// The push `(e / d) · k² / d` on `i` from a node at offset `(ex, ey)` (from it to
/// `i`); coincident nodes are pushed apart in a direction fixed by the pair.
fn push(i: usize, j: usize, mut ex: f64, mut ey: f64, k2: f64) -> (f64, f64) {
    let mut d2 = ex * ex + ey * ey;
    if d2 < 1e-18 {
        let angle = (i * 7919 + j * 104_729) as f64;
        ex = 1e-9 * angle.cos();
        ey = 1e-9 * angle.sin();
        d2 = 1e-18;
    }
    let f = k2 / d2;
    (ex * f, ey * f)
}

/// Repulsion on every node from every other node, summed in node order. `O(n²)`.
fn repulsion_all(pos: &[(f64, f64)], k2: f64) -> Vec<(f64, f64)> {
    (0..pos.len())
        .into_par_iter()
        .map(|i| {
            let (xi, yi) = pos[i];
            let (mut dx, mut dy) = (0.0, 0.0);
            for (j, &(xj, yj)) in pos.iter().enumerate() {
                if j != i {
                    let (fx, fy) = push(i, j, xi - xj, yi - yj, k2);
                    dx += fx;
                    dy += fy;
                }
            }
            (dx, dy)
        })
        .collect()
}

/// Repulsion on every node from the nodes closer than `cutoff` only, found through a
/// grid of `cutoff`-sized cells (each node looks at its own and the 8 neighbouring
/// cells). Nodes are visited cell by cell, in node order within a cell, so the sums are
/// the same at any thread count. About `O(n)` per step for evenly spread nodes.
fn repulsion_near(pos: &[(f64, f64)], k2: f64, cutoff: f64) -> Vec<(f64, f64)> {
    use std::collections::HashMap;
    let (x0, y0) = pos
        .iter()
        .fold((f64::MAX, f64::MAX), |a, p| (a.0.min(p.0), a.1.min(p.1)));
    let cell_of = |p: (f64, f64)| {
        (
            ((p.0 - x0) / cutoff).floor() as i64,
            ((p.1 - y0) / cutoff).floor() as i64,
        )
    };
    let mut order: Vec<usize> = (0..pos.len()).collect();
    let cells: Vec<(i64, i64)> = pos.iter().map(|&p| cell_of(p)).collect();
    order.sort_by_key(|&i| (cells[i], i));
    let mut ranges: HashMap<(i64, i64), (usize, usize)> = HashMap::new();
    for (at, &i) in order.iter().enumerate() {
        ranges
            .entry(cells[i])
            .and_modify(|r| r.1 = at + 1)
            .or_insert((at, at + 1));
    }
    let cutoff2 = cutoff * cutoff;
    (0..pos.len())
        .into_par_iter()
        .map(|i| {
            let (xi, yi) = pos[i];
            let (cx, cy) = cells[i];
            let (mut dx, mut dy) = (0.0, 0.0);
            for gx in cx - 1..=cx + 1 {
                for gy in cy - 1..=cy + 1 {
                    let Some(&(start, end)) = ranges.get(&(gx, gy)) else {
                        continue;
                    };
                    for &j in &order[start..end] {
                        let (ex, ey) = (xi - pos[j].0, yi - pos[j].1);
                        if j != i && ex * ex + ey * ey < cutoff2 {
                            let (fx, fy) = push(i, j, ex, ey, k2);
                            dx += fx;
                            dy += fy;
                        }
                    }
                }
            }
            (dx, dy)
        })
        .collect()
}

/// A force-directed drawing of `g` (Fruchterman & Reingold 1991): every pair of nodes
/// repels with force `k²/d`, every edge attracts with `d²/k` (`k = √(1/n)`, edge
/// weights ignored), a gravity `gravity · n·k² · d` pulls each node towards the centre
/// (so disconnected parts stay together); the step per node is capped by a
/// temperature falling linearly from 0.1 to 0. Initial positions are uniform from
/// `ChaCha8Rng::seed_from_u64(seed)`; forces are summed in a fixed order, so the same
/// seed gives the same positions. `O(n²)` per step, rayon over nodes: ~100 nodes × 500
/// steps take milliseconds, 1000 nodes about a second (release build). Above
/// [`EXACT_REPULSION_NODES`] nodes only pairs closer than `2k` repel (found through a
/// grid, the variant the paper proposes for large graphs): about `O(n + m)` per step, so
/// 10 000 nodes take seconds; the drawing is close to, not the same as, the exact one.
///
/// Errors: the parameters' ([`LayoutParams::check`]).
pub fn fruchterman_reingold(g: &SimilarityGraph, params: &LayoutParams) -> Result<Layout> {
    params.check()?;
    let graph = g.graph();
    let n = graph.node_count();
    let mut rng = ChaCha8Rng::seed_from_u64(params.seed);
    let mut pos: Vec<(f64, f64)> = (0..n)
        .map(|_| (rng.gen::<f64>(), rng.gen::<f64>()))
        .collect();
    if n < 2 {
        return Ok(Layout {
            positions: normalise(pos),
        });
    }
    let k = (1.0 / n as f64).sqrt();
    let k2 = k * k;
    let gravity = params.gravity * n as f64 * k2;
    let edges: Vec<(usize, usize)> = graph
        .edge_references()
        .map(|e| (e.source().index(), e.target().index()))
        .collect();
    let t0 = 0.1;
    for step in 0..params.iterations {
        let t = t0 * (1.0 - step as f64 / params.iterations as f64);
        let (cx, cy) = pos.iter().fold((0.0, 0.0), |a, p| {
            (a.0 + p.0 / n as f64, a.1 + p.1 / n as f64)
        });
        let mut disp = if n > EXACT_REPULSION_NODES {
            repulsion_near(&pos, k2, 2.0 * k)
        } else {
            repulsion_all(&pos, k2)
        };
        for (d, &(xi, yi)) in disp.iter_mut().zip(&pos) {
            d.0 -= gravity * (xi - cx);
            d.1 -= gravity * (yi - cy);
        }
        for &(a, b) in &edges {
            let (ex, ey) = (pos[a].0 - pos[b].0, pos[a].1 - pos[b].1);
            let d = (ex * ex + ey * ey).sqrt();
            // (e / d) · d² / k
            let f = d / k;
            disp[a].0 -= ex * f;
            disp[a].1 -= ey * f;
            disp[b].0 += ex * f;
            disp[b].1 += ey * f;
        }
        for (p, (dx, dy)) in pos.iter_mut().zip(disp) {
            let len = (dx * dx + dy * dy).sqrt();
            if len > 0.0 {
                let s = len.min(t) / len;
                p.0 += dx * s;
                p.1 += dy * s;
            }
        }
    }
    Ok(Layout {
        positions: normalise(pos),
    })
}

#[cfg(test)]
mod tests {
    use super::super::testdata::*;
    use super::super::KnnParams;
    use super::*;

    fn dist(a: (f64, f64), b: (f64, f64)) -> f64 {
        ((a.0 - b.0).powi(2) + (a.1 - b.1).powi(2)).sqrt()
    }

    #[test]
    fn same_seed_same_positions() {
        let (x, nodes) = clusters(100, 8, 0.5, 1);
        let g = super::super::knn(&x, &nodes, &KnnParams::default().k(3)).unwrap();
        let p = LayoutParams::default().seed(42);
        let a = fruchterman_reingold(&g, &p).unwrap();
        let b = fruchterman_reingold(&g, &p).unwrap();
        assert_eq!(a, b);
        let c = fruchterman_reingold(&g, &p.seed(43)).unwrap();
        assert_ne!(a, c);
        assert_eq!(a.len(), 100);
        for &(x, y) in a.positions() {
            assert!((0.0..=1.0).contains(&x) && (0.0..=1.0).contains(&y));
        }
        // Neighbours end up closer than the average pair.
        let pos = a.positions();
        let edges = g.edge_list();
        let edge_mean =
            edges.iter().map(|e| dist(pos[e.0], pos[e.1])).sum::<f64>() / edges.len() as f64;
        let mut all = 0.0;
        for i in 0..100 {
            for j in 0..i {
                all += dist(pos[i], pos[j]);
            }
        }
        let all_mean = all / (100.0 * 99.0 / 2.0);
        assert!(edge_mean < 0.4 * all_mean, "{edge_mean} vs {all_mean}");
    }

    #[test]
    fn disconnected_parts_stay_together_with_gravity() {
        // Two 10-cycles and two isolated nodes.
        let mut edges = Vec::new();
        for c in 0..2 {
            for i in 0..10 {
                edges.push((10 * c + i, 10 * c + (i + 1) % 10));
            }
        }
        let g = graph(22, &edges);
        let spread = |layout: &Layout| {
            // Diameter of the first cycle relative to the whole drawing (which is 1).
            let p = &layout.positions()[..10];
            let mut d: f64 = 0.0;
            for a in p {
                for b in p {
                    d = d.max(dist(*a, *b));
                }
            }
            d
        };
        let with = fruchterman_reingold(&g, &LayoutParams::default()).unwrap();
        let without = fruchterman_reingold(&g, &LayoutParams::default().gravity(0.0)).unwrap();
        // With gravity a cycle takes a good part of the drawing; the parts did not drift
        // so far apart that each shrinks to a dot.
        assert!(spread(&with) > 0.25, "{}", spread(&with));
        assert!(
            spread(&with) > spread(&without),
            "{} vs {}",
            spread(&with),
            spread(&without)
        );
    }

    #[test]
    fn tiny_graphs_and_bad_parameters() {
        let one = graph(1, &[]);
        let l = fruchterman_reingold(&one, &LayoutParams::default()).unwrap();
        assert_eq!(l.positions(), [(0.5, 0.5)]);
        let l = fruchterman_reingold(&graph(2, &[(0, 1)]), &LayoutParams::default()).unwrap();
        assert!(dist(l.positions()[0], l.positions()[1]) > 0.5);
        let err = fruchterman_reingold(&one, &LayoutParams::default().iterations(0)).unwrap_err();
        assert_eq!(err.parameter(), Some("iterations"), "{err}");
        for g in [f64::NAN, -0.5, f64::INFINITY] {
            let err = fruchterman_reingold(&one, &LayoutParams::default().gravity(g)).unwrap_err();
            assert_eq!(err.parameter(), Some("gravity"), "{err}");
        }
        assert!(Layout::from_positions(vec![(0.0, f64::NAN)]).is_err());
        let l = Layout::from_positions(vec![(0.0, 0.0), (2.0, 1.0)]).unwrap();
        assert_eq!(l.positions(), [(0.0, 0.25), (1.0, 0.75)]);
    }

    #[test]
    fn near_repulsion_is_the_exact_sum_over_close_pairs() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        let pos: Vec<(f64, f64)> = (0..300).map(|_| (rng.gen(), rng.gen())).collect();
        let k2 = 1.0 / 300.0;
        let close = |cutoff: f64| -> Vec<(f64, f64)> {
            (0..pos.len())
                .map(|i| {
                    let mut d = (0.0, 0.0);
                    for j in 0..pos.len() {
                        let (ex, ey) = (pos[i].0 - pos[j].0, pos[i].1 - pos[j].1);
                        if j != i && ex * ex + ey * ey < cutoff * cutoff {
                            let f = push(i, j, ex, ey, k2);
                            d = (d.0 + f.0, d.1 + f.1);
                        }
                    }
                    d
                })
                .collect()
        };
        for cutoff in [0.05, 0.2, 2.0] {
            let near = repulsion_near(&pos, k2, cutoff);
            for (a, b) in near.iter().zip(close(cutoff)) {
                assert!((a.0 - b.0).abs() <= 1e-9 * (1.0 + b.0.abs()), "{a:?} {b:?}");
                assert!((a.1 - b.1).abs() <= 1e-9 * (1.0 + b.1.abs()), "{a:?} {b:?}");
            }
        }
        // A cutoff beyond every distance is the exact repulsion.
        let all = repulsion_all(&pos, k2);
        for (a, b) in repulsion_near(&pos, k2, 2.0).iter().zip(&all) {
            assert!((a.0 - b.0).abs() <= 1e-9 * (1.0 + b.0.abs()));
        }
    }

    #[test]
    fn large_graphs_are_laid_out_on_the_grid_deterministically() {
        let n = EXACT_REPULSION_NODES + 500;
        let (x, nodes) = clusters(n, 6, 0.3, 2);
        let g = super::super::knn(&x, &nodes, &KnnParams::default().k(3)).unwrap();
        let p = LayoutParams::default().iterations(60);
        let a = fruchterman_reingold(&g, &p).unwrap();
        let one = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .unwrap();
        let b = one.install(|| fruchterman_reingold(&g, &p).unwrap());
        assert_eq!(a, b, "the same positions at any thread count");
        // Linked nodes end up closer than random pairs.
        let pos = a.positions();
        let edges = g.edge_list();
        let edge_mean =
            edges.iter().map(|e| dist(pos[e.0], pos[e.1])).sum::<f64>() / edges.len() as f64;
        let pairs = (0..n)
            .map(|i| dist(pos[i], pos[(i * 7 + 13) % n]))
            .sum::<f64>()
            / n as f64;
        assert!(edge_mean < 0.5 * pairs, "{edge_mean} vs {pairs}");
    }
}
