//! Seeded Fruchterman–Reingold force-directed layout.

use petgraph::visit::EdgeRef;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

use super::SimilarityGraph;
use crate::error::{Error, ParamError, Result, bad_gravity, bad_iterations};

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

    /// [`LayoutParams::default`] up to [`EXACT_REPULSION_NODES`] nodes; above it (where
    /// the repulsion is approximated anyway) [`LARGE_GRAPH_ITERATIONS`] steps: what
    /// `fashion graph` uses unless told.
    ///
    /// ```
    /// use fashion_graph::{LayoutParams, LARGE_GRAPH_ITERATIONS};
    /// assert_eq!(LayoutParams::for_nodes(100), LayoutParams::default());
    /// assert_eq!(LayoutParams::for_nodes(10_000).iterations, LARGE_GRAPH_ITERATIONS);
    /// ```
    pub fn for_nodes(n: usize) -> Self {
        if n <= EXACT_REPULSION_NODES {
            LayoutParams::default()
        } else {
            LayoutParams::default().iterations(LARGE_GRAPH_ITERATIONS)
        }
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
/// it the repulsion of far groups of nodes is approximated by their centre of mass
/// (Barnes–Hut, opening angle 1).
pub const EXACT_REPULSION_NODES: usize = 2000;

/// Steps of [`LayoutParams::for_nodes`] above [`EXACT_REPULSION_NODES`] nodes.
pub const LARGE_GRAPH_ITERATIONS: usize = 200;

/// Squared distance below which two nodes count as coincident.
const COINCIDENT: f64 = 1e-18;

/// The push `(e / d) · k² / d` on `i` from a node at offset `(ex, ey)` (from it to
/// `i`); coincident nodes are pushed apart in a direction fixed by the pair.
fn push(i: usize, j: usize, mut ex: f64, mut ey: f64, k2: f64) -> (f64, f64) {
    let mut d2 = ex * ex + ey * ey;
    if d2 < COINCIDENT {
        let angle = (i * 7919 + j * 104_729) as f64;
        ex = 1e-9 * angle.cos();
        ey = 1e-9 * angle.sin();
        d2 = COINCIDENT;
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

/// Opening angle of the Barnes–Hut approximation: a square of side `s` at distance `d`
/// acts as one point at its centre of mass when `s / d < THETA`.
const THETA: f64 = 1.0;
/// Nodes per leaf of the quadtree.
const LEAF: usize = 16;

/// One square of the quadtree: its points are `perm[start..end]`.
struct Quad {
    /// Centre of mass and number of points.
    mx: f64,
    my: f64,
    mass: f64,
    /// Side of the square.
    side: f64,
    start: usize,
    end: usize,
    /// Indices of the (up to 4) non-empty children; none for a leaf.
    children: Vec<usize>,
}

/// A quadtree over `pos` (Barnes & Hut 1986), built sequentially with stable partitions,
/// so it and everything summed over it is the same at any thread count.
struct QuadTree {
    quads: Vec<Quad>,
    perm: Vec<usize>,
}

impl QuadTree {
    fn new(pos: &[(f64, f64)]) -> QuadTree {
        let (mut x0, mut y0, mut x1, mut y1) = (f64::MAX, f64::MAX, f64::MIN, f64::MIN);
        for &(x, y) in pos {
            x0 = x0.min(x);
            y0 = y0.min(y);
            x1 = x1.max(x);
            y1 = y1.max(y);
        }
        let side = (x1 - x0).max(y1 - y0).max(1e-12);
        let mut tree = QuadTree {
            quads: Vec::new(),
            perm: (0..pos.len()).collect(),
        };
        tree.build(pos, 0, pos.len(), x0, y0, side, 0);
        tree
    }

    /// Adds the square `(x0, y0, side)` holding `perm[start..end]`; returns its index.
    #[allow(clippy::too_many_arguments)]
    fn build(
        &mut self,
        pos: &[(f64, f64)],
        start: usize,
        end: usize,
        x0: f64,
        y0: f64,
        side: f64,
        depth: usize,
    ) -> usize {
        let (mut mx, mut my) = (0.0, 0.0);
        for &i in &self.perm[start..end] {
            mx += pos[i].0;
            my += pos[i].1;
        }
        let mass = (end - start) as f64;
        let index = self.quads.len();
        self.quads.push(Quad {
            mx: mx / mass,
            my: my / mass,
            mass,
            side,
            start,
            end,
            children: Vec::new(),
        });
        if end - start <= LEAF || depth >= 48 {
            return index;
        }
        // Stable partition into the four quadrants (x then y halves).
        let half = side / 2.0;
        let quadrant =
            |i: usize| usize::from(pos[i].0 >= x0 + half) + 2 * usize::from(pos[i].1 >= y0 + half);
        let mut parts: [Vec<usize>; 4] = Default::default();
        for &i in &self.perm[start..end] {
            parts[quadrant(i)].push(i);
        }
        let mut at = start;
        let mut ranges = [(0, 0); 4];
        for (q, part) in parts.iter().enumerate() {
            self.perm[at..at + part.len()].copy_from_slice(part);
            ranges[q] = (at, at + part.len());
            at += part.len();
        }
        let mut children = Vec::with_capacity(4);
        for (q, &(a, b)) in ranges.iter().enumerate() {
            if a < b {
                let (qx, qy) = (x0 + half * (q % 2) as f64, y0 + half * (q / 2) as f64);
                children.push(self.build(pos, a, b, qx, qy, half, depth + 1));
            }
        }
        self.quads[index].children = children;
        index
    }

    /// The repulsion on every point of the leaf `leaf`, in the order of its points, from
    /// one walk of the tree shared by them: a square that does not hold the leaf acts
    /// through its centre of mass when its side is below `THETA` times its distance to
    /// the nearest point the leaf's points can have (the distance between the centres of
    /// mass less the leaf's radius), so the test holds for each point of the leaf, as in
    /// the walk per point; the points of other leaves that are too near, and of the leaf
    /// itself, push exactly.
    fn leaf_repulsion(&self, pos: &[(f64, f64)], leaf: usize, k2: f64) -> Vec<(f64, f64)> {
        let own = &self.quads[leaf];
        let members = &self.perm[own.start..own.end];
        let xs: Vec<f64> = members.iter().map(|&i| pos[i].0).collect();
        let ys: Vec<f64> = members.iter().map(|&i| pos[i].1).collect();
        let radius = xs
            .iter()
            .zip(&ys)
            .map(|(x, y)| ((x - own.mx).powi(2) + (y - own.my).powi(2)).sqrt())
            .fold(0.0, f64::max);
        let mut fx = vec![0.0; members.len()];
        let mut fy = vec![0.0; members.len()];
        let mut stack = vec![0usize];
        while let Some(q) = stack.pop() {
            let quad = &self.quads[q];
            let holds_leaf = quad.start <= own.start && own.end <= quad.end;
            let gap = ((own.mx - quad.mx).powi(2) + (own.my - quad.my).powi(2)).sqrt() - radius;
            if !holds_leaf && gap > 0.0 && quad.side < THETA * gap {
                let mk2 = quad.mass * k2;
                for ((fx, fy), (x, y)) in fx.iter_mut().zip(fy.iter_mut()).zip(xs.iter().zip(&ys)) {
                    let (ex, ey) = (x - quad.mx, y - quad.my);
                    let f = mk2 / (ex * ex + ey * ey);
                    *fx += ex * f;
                    *fy += ey * f;
                }
            } else if quad.children.is_empty() {
                // Every pair at once (a loop the compiler vectorises); pairs closer than
                // `push` allows, a node with itself included, add nothing here.
                let mut close = 0usize;
                for &j in &self.perm[quad.start..quad.end] {
                    let (xj, yj) = pos[j];
                    for ((fx, fy), (x, y)) in
                        fx.iter_mut().zip(fy.iter_mut()).zip(xs.iter().zip(&ys))
                    {
                        let (ex, ey) = (x - xj, y - yj);
                        let d2 = ex * ex + ey * ey;
                        let near = d2 < COINCIDENT;
                        close += usize::from(near);
                        let f = if near { 0.0 } else { k2 / d2 };
                        *fx += ex * f;
                        *fy += ey * f;
                    }
                }
                // Coincident distinct nodes (rare) push as `push` says.
                let selves = if q == leaf { members.len() } else { 0 };
                if close > selves {
                    for (a, &i) in members.iter().enumerate() {
                        for &j in &self.perm[quad.start..quad.end] {
                            let (ex, ey) = (xs[a] - pos[j].0, ys[a] - pos[j].1);
                            if j != i && ex * ex + ey * ey < COINCIDENT {
                                let (px, py) = push(i, j, ex, ey, k2);
                                fx[a] += px;
                                fy[a] += py;
                            }
                        }
                    }
                }
            } else {
                // Reversed, so children are visited in quadrant order.
                stack.extend(quad.children.iter().rev());
            }
        }
        fx.into_iter().zip(fy).collect()
    }
}

/// Repulsion on every node by the Barnes–Hut approximation of [`repulsion_all`]: about
/// `O(n log n)` per step, with one walk of the tree per leaf (rayon over leaves).
fn repulsion_barnes_hut(pos: &[(f64, f64)], k2: f64) -> Vec<(f64, f64)> {
    let tree = QuadTree::new(pos);
    let leaves: Vec<usize> = (0..tree.quads.len())
        .filter(|&q| tree.quads[q].children.is_empty())
        .collect();
    let forces: Vec<Vec<(f64, f64)>> = leaves
        .par_iter()
        .map(|&leaf| tree.leaf_repulsion(pos, leaf, k2))
        .collect();
    let mut disp = vec![(0.0, 0.0); pos.len()];
    for (&leaf, force) in leaves.iter().zip(forces) {
        let quad = &tree.quads[leaf];
        for (&i, f) in tree.perm[quad.start..quad.end].iter().zip(force) {
            disp[i] = f;
        }
    }
    disp
}

/// A force-directed drawing of `g` (Fruchterman & Reingold 1991): every pair of nodes
/// repels with force `k²/d`, every edge attracts with `d²/k` (`k = √(1/n)`, edge
/// weights ignored), a gravity `gravity · n·k² · d` pulls each node towards the centre
/// (so disconnected parts stay together); the step per node is capped by a
/// temperature falling linearly from 0.1 to 0. Initial positions are uniform from
/// `ChaCha8Rng::seed_from_u64(seed)`; forces are summed in a fixed order, so the same
/// seed gives the same positions. `O(n²)` per step, rayon over nodes: ~100 nodes × 500
/// steps take milliseconds, 1000 nodes about a second (release build). Above
/// [`EXACT_REPULSION_NODES`] nodes the repulsion of far groups of nodes is taken at their
/// centre of mass (Barnes & Hut 1986, a quadtree rebuilt each step): about `O(n log n + m)`
/// per step, so 10 000 nodes take seconds; the drawing is close to, not the same as, the
/// exact one. Same seed, same positions, at any thread count.
///
/// Errors: the parameters' ([`LayoutParams::check`]).
pub fn fruchterman_reingold(g: &SimilarityGraph, params: &LayoutParams) -> Result<Layout> {
    params.check()?;
    let graph = g.graph();
    let n = graph.node_count();
    let mut rng = ChaCha8Rng::seed_from_u64(params.seed);
    let mut pos: Vec<(f64, f64)> = (0..n)
        .map(|_| (rng.r#gen::<f64>(), rng.r#gen::<f64>()))
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
            repulsion_barnes_hut(&pos, k2)
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
    use super::super::KnnParams;
    use super::super::testdata::*;
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
    fn barnes_hut_repulsion_is_close_to_the_exact_sum() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        // Clustered points, some coincident, as layouts produce.
        let mut pos: Vec<(f64, f64)> = (0..600)
            .map(|i| {
                let c = (i % 6) as f64;
                (
                    0.15 * c + 0.05 * rng.r#gen::<f64>(),
                    0.1 * (c * 1.7).sin() + 0.05 * rng.r#gen::<f64>(),
                )
            })
            .collect();
        pos[7] = pos[8];
        let k2 = 1.0 / 600.0;
        let exact = repulsion_all(&pos, k2);
        let approx = repulsion_barnes_hut(&pos, k2);
        let norm = |v: (f64, f64)| (v.0 * v.0 + v.1 * v.1).sqrt();
        let mean_error = exact
            .iter()
            .zip(&approx)
            .map(|(a, b)| norm((a.0 - b.0, a.1 - b.1)) / norm(*a).max(1e-12))
            .sum::<f64>()
            / 600.0;
        // About 2 % at an opening angle of 1 (measured: 0.023).
        assert!(mean_error < 0.05, "mean relative error {mean_error}");
        // Every point is in exactly one leaf.
        let tree = QuadTree::new(&pos);
        let mut seen = vec![0; 600];
        for q in tree.quads.iter().filter(|q| q.children.is_empty()) {
            for &i in &tree.perm[q.start..q.end] {
                seen[i] += 1;
            }
        }
        assert!(seen.iter().all(|&c| c == 1));
    }

    #[test]
    fn large_graphs_are_laid_out_by_barnes_hut_deterministically() {
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
