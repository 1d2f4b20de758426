//! Degree, betweenness, components, modularity and class agreement of a graph.

use petgraph::unionfind::UnionFind;
use petgraph::visit::EdgeRef;
use polars::prelude::*;
use rayon::prelude::*;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::SimilarityGraph;
use crate::error::{ParamError, Result};

/// Degree of every node (edges touching it), in row order.
pub fn degrees(g: &SimilarityGraph) -> Vec<usize> {
    let graph = g.graph();
    graph
        .node_indices()
        .map(|v| graph.edges(v).count())
        .collect()
}

/// Betweenness centrality of every node, in row order (rustworkx-core's Brandes
/// algorithm, unweighted shortest paths), normalised as networkx does by default:
/// the sum over ordered pairs `(s, t)` of the share of shortest `s–t` paths through
/// the node, divided by `(n − 1)(n − 2)`; so a star's centre has 1 and every value is in
/// `[0, 1]`. Graphs of up to 2 nodes give 0 everywhere.
pub fn betweenness(g: &SimilarityGraph) -> Vec<f64> {
    let values = rustworkx_core::centrality::betweenness_centrality(g.graph(), false, true, 50);
    values.into_iter().map(|v| v.unwrap_or(0.0)).collect()
}

/// Betweenness centrality as [`betweenness`] computes it (same values up to rounding,
/// same normalisation), by our own Brandes implementation for large graphs.
///
/// The graph is copied into compact adjacency arrays (`u32` node ids), relabelled in
/// breadth-first order so that neighbours sit close together in memory. Each source
/// then needs one breadth-first search and one sweep back over its levels, both
/// written as branch-free sums over neighbours ("pull"): the number of shortest paths
/// `σ` of a node is the sum of `σ` over its neighbours while only the earlier levels
/// hold values, and its dependency is `σ` times the sum of `(1 + δ) / σ` over its
/// neighbours while only the later levels hold values, so no predecessor lists are
/// kept. Levels with many edges are searched bottom-up (every unvisited node asks its
/// neighbours) instead of top-down. Buffers are reused across sources and only the
/// visited entries are reset. Sources are split into chunks of a size that depends on
/// the node count only; rayon runs the chunks and their partial sums are added in chunk
/// order, so the result is bit-for-bit the same at any thread count.
///
/// Measured with the `graph_bench` example on its 10 000-node kNN graph (k = 10,
/// 76 613 edges), 2 cores shared with other builds (load average 3–4): 4.4 s at best,
/// and 7.4–8.4 s in runs alternating with the previous version of this function (a
/// push-style Brandes with branches), which took 8.9 s at best and 16.5–17.9 s;
/// rustworkx-core's [`betweenness`] took 21–43 s.
pub fn betweenness_parallel(g: &SimilarityGraph) -> Vec<f64> {
    let n = g.node_count();
    if n <= 2 {
        return vec![0.0; n];
    }
    let adjacency = adjacency_of(g);
    let sources: Vec<u32> = (0..n as u32).collect();
    let total = dependency_sums(&adjacency, &sources);
    adjacency.in_graph_order(&total, 1.0 / ((n - 1) * (n - 2)) as f64)
}

/// Up to this many nodes [`BetweennessParams::for_nodes`] asks for exact betweenness
/// (about a second on 4 000 nodes of a kNN graph, 2 cores); above it, for an estimate
/// from [`BETWEENNESS_PIVOTS`] sources.
pub const EXACT_BETWEENNESS_NODES: usize = 4000;

/// Source nodes of the estimate that [`BetweennessParams::for_nodes`] asks for above
/// [`EXACT_BETWEENNESS_NODES`] nodes.
pub const BETWEENNESS_PIVOTS: usize = 2000;

/// Parameters of [`brandes_pich`]: how many source nodes ("pivots") the shortest
/// paths are counted from, and the seed that draws them. Default: all nodes (exact),
/// seed 0.
///
/// ```
/// use fashion_graph::{BetweennessParams, EXACT_BETWEENNESS_NODES};
/// let p = BetweennessParams::default().pivots(500).seed(3);
/// assert_eq!((p.pivots, p.seed), (Some(500), 3));
/// assert!(p.is_exact_for(400) && !p.is_exact_for(501));
/// assert!(BetweennessParams::for_nodes(EXACT_BETWEENNESS_NODES).pivots.is_none());
/// assert!(BetweennessParams::default().pivots(0).check().is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BetweennessParams {
    /// Source nodes to count from; `None` (or at least the node count) counts from
    /// every node, which is exact.
    pub pivots: Option<usize>,
    /// Seed of the draw of the pivots (ChaCha8).
    pub seed: u64,
}

impl BetweennessParams {
    /// Counts from `k` pivots.
    pub fn pivots(mut self, k: usize) -> Self {
        self.pivots = Some(k);
        self
    }

    /// Counts from every node (exact).
    pub fn exact(mut self) -> Self {
        self.pivots = None;
        self
    }

    /// Sets the seed of the draw.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Exact up to [`EXACT_BETWEENNESS_NODES`] nodes, else [`BETWEENNESS_PIVOTS`]
    /// pivots (seed 0): what `fashion graph` uses unless told.
    pub fn for_nodes(n: usize) -> Self {
        if n <= EXACT_BETWEENNESS_NODES {
            BetweennessParams::default()
        } else {
            BetweennessParams::default().pivots(BETWEENNESS_PIVOTS)
        }
    }

    /// Whether these parameters give exact betweenness on `n` nodes.
    pub fn is_exact_for(&self, n: usize) -> bool {
        self.pivots.is_none_or(|k| k >= n)
    }

    /// How betweenness is computed on `n` nodes, in words (GraphML and reports say it).
    pub fn describe(&self, n: usize) -> String {
        match self.pivots {
            Some(k) if k < n => format!(
                "estimated from {k} of {n} source nodes drawn with seed {} (Brandes-Pich \
                 pivots), normalised by (n-1)(n-2)",
                self.seed
            ),
            _ => "exact (Brandes), normalised by (n-1)(n-2)".to_string(),
        }
    }

    /// Checks that at least one pivot is asked for ([`ParamError`] naming `pivots`).
    pub fn check(&self) -> Result<(), ParamError> {
        if self.pivots == Some(0) {
            return Err(ParamError::new("pivots", "at least 1 source node", 0));
        }
        Ok(())
    }
}

/// Betweenness estimated from a sample of source nodes (Brandes & Pich 2007, "Centrality
/// estimation in large networks"): `k` distinct pivots drawn uniformly with
/// `ChaCha8Rng::seed_from_u64(seed)`, each contributing its dependencies `δ_s(v)` as in
/// [`betweenness_parallel`]; the sum is scaled by `n / k`, which makes the estimate
/// unbiased, and normalised as [`betweenness`]. With `k ≥ n` (or no pivot count) it is
/// [`betweenness_parallel`] itself. The error shrinks like `√((n − k) / (n k))`; it is
/// measured against exact betweenness by the `graph_bench` example (`--pivots`) and
/// stated in the README.
///
/// ```
/// use fashion_graph::{
///     betweenness_parallel, brandes_pich, BetweennessParams, Construction, KnnParams, NodeInfo,
///     SimilarityGraph,
/// };
/// # fn main() -> fashion_graph::Result<()> {
/// // A path 0 – 1 – 2 – 3 – 4: every pivot sees the centre on some shortest paths.
/// let nodes: Vec<NodeInfo> = (0..5).map(|i| NodeInfo::new(i, 0)).collect();
/// let edges = [(0, 1, 1.0), (1, 2, 1.0), (2, 3, 1.0), (3, 4, 1.0)];
/// let how = Construction::Knn { params: KnnParams::default() };
/// let g = SimilarityGraph::from_edges(&nodes, &edges, how)?;
/// let all = brandes_pich(&g, &BetweennessParams::default())?;
/// assert_eq!(all, betweenness_parallel(&g));
/// let two = brandes_pich(&g, &BetweennessParams::default().pivots(2).seed(1))?;
/// assert_eq!(two.len(), 5);
/// assert_eq!((two[0], two[4]), (0.0, 0.0)); // the ends lie on no path
/// assert!(two[2] > 0.0);
/// # Ok(())
/// # }
/// ```
///
/// # Errors
/// The parameters' ([`BetweennessParams::check`]).
///
/// # Complexity
/// `O(k · (n + m))` time, `O(n + m)` memory per thread.
pub fn brandes_pich(g: &SimilarityGraph, params: &BetweennessParams) -> Result<Vec<f64>> {
    params.check()?;
    let n = g.node_count();
    let k = match params.pivots {
        Some(k) if k < n => k,
        _ => return Ok(betweenness_parallel(g)),
    };
    if n <= 2 {
        return Ok(vec![0.0; n]);
    }
    let adjacency = adjacency_of(g);
    let mut rng = ChaCha8Rng::seed_from_u64(params.seed);
    let mut pivots: Vec<u32> = rand::seq::index::sample(&mut rng, n, k)
        .into_iter()
        .map(|v| adjacency.new_of[v])
        .collect();
    // Searched in the cache-friendly numbering's order.
    pivots.sort_unstable();
    let total = dependency_sums(&adjacency, &pivots);
    let scale = n as f64 / k as f64 / ((n - 1) * (n - 2)) as f64;
    Ok(adjacency.in_graph_order(&total, scale))
}

/// How far an estimate of betweenness ([`brandes_pich`]) is from the exact values, in
/// the terms that matter for ranking nodes by it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EstimateError {
    /// `Σ |estimate − exact| / Σ exact` (0 when both are all zero).
    pub relative_l1: f64,
    /// Largest `|estimate − exact| / exact` over the `top` nodes of highest exact
    /// betweenness.
    pub top_max_relative: f64,
    /// Share of the `top` nodes of highest exact betweenness that are also among the
    /// `top` of the estimate.
    pub top_overlap: f64,
    /// Spearman rank correlation of estimate and exact (average ranks for ties).
    pub spearman: f64,
}

impl EstimateError {
    /// Compares `estimate` with `exact` (same length, at least 2 nodes), using the `top`
    /// (at least 1, at most the node count) nodes of highest exact betweenness.
    ///
    /// ```
    /// use fashion_graph::EstimateError;
    /// let e = EstimateError::compare(&[0.5, 0.25, 0.0, 0.0], &[0.4, 0.3, 0.0, 0.1], 1);
    /// assert!((e.relative_l1 - 0.25 / 0.75).abs() < 1e-12);
    /// assert!((e.top_max_relative - 0.2).abs() < 1e-12);
    /// assert_eq!(e.top_overlap, 1.0);
    /// ```
    ///
    /// # Panics
    /// On different lengths, fewer than 2 nodes or `top` outside `1..=n`.
    pub fn compare(exact: &[f64], estimate: &[f64], top: usize) -> EstimateError {
        let n = exact.len();
        assert!(
            n >= 2 && estimate.len() == n,
            "two values per node, 2 nodes or more"
        );
        assert!((1..=n).contains(&top), "top in 1..=n");
        let total: f64 = exact.iter().sum();
        let diff: f64 = exact.iter().zip(estimate).map(|(a, b)| (a - b).abs()).sum();
        let by_value = |v: &[f64]| {
            let mut order: Vec<usize> = (0..n).collect();
            order.sort_by(|&a, &b| v[b].total_cmp(&v[a]).then(a.cmp(&b)));
            order
        };
        let top_exact = &by_value(exact)[..top];
        let top_estimate = &by_value(estimate)[..top];
        let shared = top_exact
            .iter()
            .filter(|i| top_estimate.contains(i))
            .count();
        let top_max_relative = top_exact
            .iter()
            .filter(|&&i| exact[i] > 0.0)
            .map(|&i| (estimate[i] - exact[i]).abs() / exact[i])
            .fold(0.0, f64::max);
        EstimateError {
            relative_l1: if total > 0.0 { diff / total } else { 0.0 },
            top_max_relative,
            top_overlap: shared as f64 / top as f64,
            spearman: pearson(&average_ranks(exact), &average_ranks(estimate)),
        }
    }
}

/// 1-based ranks of `v` in ascending order, tied values sharing their average rank (as
/// rank correlations and the Mann–Whitney AUC use them).
///
/// ```
/// assert_eq!(fashion_graph::average_ranks(&[0.5, 0.1, 0.5]), [2.5, 1.0, 2.5]);
/// ```
pub fn average_ranks(v: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..v.len()).collect();
    order.sort_by(|&a, &b| v[a].total_cmp(&v[b]));
    let mut ranks = vec![0.0; v.len()];
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len() && v[order[j + 1]] == v[order[i]] {
            j += 1;
        }
        // Positions i..=j (0-based) hold ranks i+1..=j+1: their mean is (i + j)/2 + 1.
        let rank = (i + j) as f64 / 2.0 + 1.0;
        for &k in &order[i..=j] {
            ranks[k] = rank;
        }
        i = j + 1;
    }
    ranks
}

/// Pearson correlation (1 when either side is constant and both are equal, else 0).
fn pearson(a: &[f64], b: &[f64]) -> f64 {
    let n = a.len() as f64;
    let (ma, mb) = (a.iter().sum::<f64>() / n, b.iter().sum::<f64>() / n);
    let (mut ab, mut aa, mut bb) = (0.0, 0.0, 0.0);
    for (x, y) in a.iter().zip(b) {
        ab += (x - ma) * (y - mb);
        aa += (x - ma) * (x - ma);
        bb += (y - mb) * (y - mb);
    }
    if aa == 0.0 || bb == 0.0 {
        return if a == b { 1.0 } else { 0.0 };
    }
    ab / (aa * bb).sqrt()
}

/// The graph's adjacency, relabelled for [`dependency_sums`].
fn adjacency_of(g: &SimilarityGraph) -> Adjacency {
    let graph = g.graph();
    let pairs = graph
        .edge_references()
        .map(|e| (e.source().index(), e.target().index()));
    Adjacency::new(graph.node_count(), pairs).relabelled()
}

/// The sum over `sources` (in `adjacency`'s numbering) of every node's dependency on
/// the source. Sources are split into chunks of a size that depends on their number
/// only; rayon runs the chunks and their partial sums are added in chunk order, so the
/// result is bit-for-bit the same at any thread count.
fn dependency_sums(adjacency: &Adjacency, sources: &[u32]) -> Vec<f64> {
    let n = adjacency.len();
    let chunk = BRANDES_CHUNK.max(sources.len().div_ceil(BRANDES_MAX_CHUNKS));
    let partials: Vec<Vec<f64>> = sources
        .par_chunks(chunk)
        .map_init(
            || Brandes::new(n),
            |work, chunk| {
                let mut acc = vec![0.0f64; n];
                for &s in chunk {
                    work.accumulate(adjacency, s as usize, &mut acc);
                }
                acc
            },
        )
        .collect();
    let mut total = vec![0.0f64; n];
    for part in partials {
        for (t, p) in total.iter_mut().zip(part) {
            *t += p;
        }
    }
    total
}

/// Sources per chunk of [`betweenness_parallel`] (at least).
const BRANDES_CHUNK: usize = 64;
/// Most chunks (so at most this many partial sums of `n` values are held).
const BRANDES_MAX_CHUNKS: usize = 256;

/// Compressed undirected adjacency: the neighbours of `v` are
/// `targets[offsets[v]..offsets[v + 1]]`, each edge listed from both ends.
struct Adjacency {
    offsets: Vec<usize>,
    targets: Vec<u32>,
    /// Position of every original node in this numbering (identity unless relabelled).
    new_of: Vec<u32>,
}

impl Adjacency {
    /// From edges `(a, b)` with `a, b < n` (petgraph's `u32` indices, so `n` fits `u32`).
    fn new(n: usize, edges: impl Iterator<Item = (usize, usize)> + Clone) -> Adjacency {
        let mut offsets = vec![0usize; n + 1];
        for (a, b) in edges.clone() {
            offsets[a + 1] += 1;
            offsets[b + 1] += 1;
        }
        for i in 0..n {
            offsets[i + 1] += offsets[i];
        }
        let mut fill = offsets.clone();
        let mut targets = vec![0u32; offsets[n]];
        for (a, b) in edges {
            targets[fill[a]] = b as u32;
            fill[a] += 1;
            targets[fill[b]] = a as u32;
            fill[b] += 1;
        }
        Adjacency {
            offsets,
            targets,
            new_of: (0..n as u32).collect(),
        }
    }

    fn len(&self) -> usize {
        self.offsets.len() - 1
    }

    /// `values` (in this numbering) back in the graph's node order, times `scale`.
    fn in_graph_order(&self, values: &[f64], scale: f64) -> Vec<f64> {
        self.new_of
            .iter()
            .map(|&v| values[v as usize] * scale)
            .collect()
    }

    fn neighbours(&self, v: u32) -> &[u32] {
        let v = v as usize;
        &self.targets[self.offsets[v]..self.offsets[v + 1]]
    }

    fn degree(&self, v: u32) -> usize {
        let v = v as usize;
        self.offsets[v + 1] - self.offsets[v]
    }

    /// The same graph numbered in breadth-first order (component by component, from
    /// the lowest original index), neighbour lists sorted: nodes that are near in the
    /// graph get near indices, so the searches touch fewer cache lines.
    fn relabelled(&self) -> Adjacency {
        let n = self.len();
        let mut new_of = vec![u32::MAX; n];
        let mut order: Vec<u32> = Vec::with_capacity(n);
        for root in 0..n as u32 {
            if new_of[root as usize] != u32::MAX {
                continue;
            }
            let mut head = order.len();
            new_of[root as usize] = order.len() as u32;
            order.push(root);
            while head < order.len() {
                let v = order[head];
                head += 1;
                for &w in self.neighbours(v) {
                    if new_of[w as usize] == u32::MAX {
                        new_of[w as usize] = order.len() as u32;
                        order.push(w);
                    }
                }
            }
        }
        let mut offsets = Vec::with_capacity(n + 1);
        offsets.push(0);
        let mut targets = Vec::with_capacity(self.targets.len());
        for &v in &order {
            let from = targets.len();
            targets.extend(self.neighbours(v).iter().map(|&w| new_of[w as usize]));
            targets[from..].sort_unstable();
            offsets.push(targets.len());
        }
        let new_of = self.new_of.iter().map(|&v| new_of[v as usize]).collect();
        Adjacency {
            offsets,
            targets,
            new_of,
        }
    }
}

/// Sum of `values[i]` over `indices` (four running sums, so the loads overlap).
fn gather_sum(indices: &[u32], values: &[f64]) -> f64 {
    let mut sums = [0.0f64; 4];
    let mut chunks = indices.chunks_exact(4);
    for c in &mut chunks {
        for (s, &i) in sums.iter_mut().zip(c) {
            *s += values[i as usize];
        }
    }
    let mut total = (sums[0] + sums[1]) + (sums[2] + sums[3]);
    for &i in chunks.remainder() {
        total += values[i as usize];
    }
    total
}

/// Buffers of one thread of [`betweenness_parallel`], reused across sources. Between
/// sources every entry is back at its initial value.
struct Brandes {
    /// Level (distance from the source); `u32::MAX` when unvisited.
    dist: Vec<u32>,
    /// Number of shortest paths from the source; 0 when unvisited or not yet final.
    sigma: Vec<f64>,
    /// `(1 + δ) / σ` of the levels already swept back; 0 otherwise.
    coeff: Vec<f64>,
    /// Visited nodes, level by level.
    order: Vec<u32>,
    /// `order[levels[l]..levels[l + 1]]` is level `l`.
    levels: Vec<usize>,
    /// Values of one level, written back once the whole level is computed.
    level_values: Vec<f64>,
    /// Unvisited nodes, while the search runs bottom-up.
    unvisited: Vec<u32>,
}

impl Brandes {
    fn new(n: usize) -> Brandes {
        Brandes {
            dist: vec![u32::MAX; n],
            sigma: vec![0.0; n],
            coeff: vec![0.0; n],
            order: Vec::with_capacity(n),
            levels: Vec::new(),
            level_values: Vec::with_capacity(n),
            unvisited: Vec::with_capacity(n),
        }
    }

    /// Adds the dependencies of every node on source `s` to `acc`.
    fn accumulate(&mut self, adj: &Adjacency, s: usize, acc: &mut [f64]) {
        self.search(adj, s as u32);
        let Brandes {
            sigma,
            coeff,
            order,
            levels,
            level_values,
            ..
        } = self;
        // Back from the last level; level 0 is the source, which gets nothing. While
        // level `l` is summed, `coeff` holds values of levels `> l` only, and the
        // neighbours of a level-`l` node lie on levels `l − 1`, `l`, `l + 1`: the sum
        // over all neighbours is the sum over the successors.
        for l in (1..levels.len() - 1).rev() {
            let nodes = &order[levels[l]..levels[l + 1]];
            level_values.clear();
            level_values.extend(
                nodes
                    .iter()
                    .map(|&w| sigma[w as usize] * gather_sum(adj.neighbours(w), coeff)),
            );
            for (&w, &delta) in nodes.iter().zip(level_values.iter()) {
                acc[w as usize] += delta;
                coeff[w as usize] = (1.0 + delta) / sigma[w as usize];
            }
        }
        for &w in order.iter() {
            self.dist[w as usize] = u32::MAX;
            sigma[w as usize] = 0.0;
            coeff[w as usize] = 0.0;
        }
    }

    /// Breadth-first search from `s`: fills `order`, `levels`, `dist` and `sigma`.
    fn search(&mut self, adj: &Adjacency, s: u32) {
        let n = adj.len();
        let Brandes {
            dist,
            sigma,
            order,
            levels,
            level_values,
            unvisited,
            ..
        } = self;
        order.clear();
        levels.clear();
        order.push(s);
        levels.push(0);
        dist[s as usize] = 0;
        sigma[s as usize] = 1.0;
        let mut frontier_edges = adj.degree(s);
        let mut unvisited_edges = adj.targets.len() - frontier_edges;
        let mut unvisited_listed = false;
        let mut lo = 0;
        for next in 1u32.. {
            let hi = order.len();
            level_values.clear();
            if 2 * frontier_edges > unvisited_edges {
                // Bottom-up: an unvisited node's visited neighbours are all on the last
                // level, and only visited nodes have σ > 0, so the sum of σ over all
                // its neighbours is its σ, and it is on the next level iff that is > 0.
                if !unvisited_listed {
                    unvisited.clear();
                    unvisited.extend((0..n as u32).filter(|&u| dist[u as usize] == u32::MAX));
                    unvisited_listed = true;
                }
                let mut kept = 0;
                for i in 0..unvisited.len() {
                    let u = unvisited[i];
                    let paths = gather_sum(adj.neighbours(u), sigma);
                    if paths > 0.0 {
                        order.push(u);
                        level_values.push(paths);
                    } else {
                        unvisited[kept] = u;
                        kept += 1;
                    }
                }
                unvisited.truncate(kept);
                for &w in &order[hi..] {
                    dist[w as usize] = next;
                }
            } else {
                // Top-down: the unvisited neighbours of the last level form the next.
                unvisited_listed = false;
                for i in lo..hi {
                    for &w in adj.neighbours(order[i]) {
                        if dist[w as usize] == u32::MAX {
                            dist[w as usize] = next;
                            order.push(w);
                        }
                    }
                }
                // σ of the new level, summed over all neighbours while the new level
                // (and everything beyond it) still has σ = 0.
                level_values.extend(
                    order[hi..]
                        .iter()
                        .map(|&w| gather_sum(adj.neighbours(w), sigma)),
                );
            }
            if order.len() == hi {
                break;
            }
            for (&w, &paths) in order[hi..].iter().zip(level_values.iter()) {
                sigma[w as usize] = paths;
            }
            levels.push(hi);
            frontier_edges = order[hi..].iter().map(|&w| adj.degree(w)).sum();
            unvisited_edges -= frontier_edges;
            lo = hi;
        }
        levels.push(order.len());
    }
}

/// Connected component of every node, in row order: components are numbered
/// `0, 1, …` in the order of their first node.
pub fn components(g: &SimilarityGraph) -> Vec<usize> {
    let graph = g.graph();
    let n = graph.node_count();
    let mut uf = UnionFind::new(n);
    for e in graph.edge_references() {
        uf.union(e.source().index(), e.target().index());
    }
    let mut label = vec![usize::MAX; n];
    let mut root_label = std::collections::HashMap::new();
    for (v, l) in label.iter_mut().enumerate() {
        let next = root_label.len();
        *l = *root_label.entry(uf.find(v)).or_insert(next);
    }
    label
}

/// Newman's modularity of the partition `community` (one label per node, row order)
/// on the unweighted graph: `Q = Σ_c [ L_c / m − (D_c / 2m)² ]`, with `m` edges, `L_c`
/// edges inside community `c` and `D_c` the degree sum of its nodes. `None` for a
/// graph without edges or a partition of the wrong length. The communities are summed
/// in label order, so the value is bit-identical from run to run.
pub fn modularity(g: &SimilarityGraph, community: &[usize]) -> Option<f64> {
    let graph = g.graph();
    let m = graph.edge_count() as f64;
    if m == 0.0 || community.len() != graph.node_count() {
        return None;
    }
    // Ordered maps: the sum below runs over communities in label order, so the result
    // is the same in every process (a HashMap's order, and with it the rounding of
    // the sum, changed from run to run).
    let mut inside = std::collections::BTreeMap::<usize, f64>::new();
    let mut degree_sum = std::collections::BTreeMap::<usize, f64>::new();
    for e in graph.edge_references() {
        let (a, b) = (community[e.source().index()], community[e.target().index()]);
        if a == b {
            *inside.entry(a).or_default() += 1.0;
        }
        *degree_sum.entry(a).or_default() += 1.0;
        *degree_sum.entry(b).or_default() += 1.0;
    }
    Some(
        degree_sum
            .iter()
            .map(|(c, &d)| inside.get(c).copied().unwrap_or(0.0) / m - (d / (2.0 * m)).powi(2))
            .sum(),
    )
}

/// Share of edges joining two images of the same true class; `None` without edges.
pub fn same_class_share(g: &SimilarityGraph) -> Option<f64> {
    let graph = g.graph();
    if graph.edge_count() == 0 {
        return None;
    }
    let same = graph
        .edge_references()
        .filter(|e| graph[e.source()].class == graph[e.target()].class)
        .count();
    Some(same as f64 / graph.edge_count() as f64)
}

/// Everything this module measures about a graph, computed once.
#[derive(Debug, Clone, PartialEq)]
pub struct Centrality {
    /// [`degrees`].
    pub degree: Vec<usize>,
    /// [`betweenness`].
    pub betweenness: Vec<f64>,
    /// [`components`].
    pub component: Vec<usize>,
    /// Number of connected components.
    pub components: usize,
    /// [`modularity`] of the true-class partition.
    pub modularity: Option<f64>,
    /// [`same_class_share`].
    pub same_class_share: Option<f64>,
    /// How [`betweenness`](Self::betweenness) was computed: exact, or estimated from
    /// this many pivots ([`brandes_pich`]).
    pub betweenness_params: BetweennessParams,
    /// The nodes, as in the graph (for the tables).
    nodes: Vec<super::NodeInfo>,
    edges: usize,
}

impl Centrality {
    /// Measures `g`. Betweenness comes from [`betweenness_parallel`] (all of rayon's
    /// threads; the tests check it against rustworkx-core's [`betweenness`] and a
    /// reference Brandes), which is much faster on large graphs.
    pub fn compute(g: &SimilarityGraph) -> Centrality {
        Centrality::with_betweenness(g, betweenness_parallel(g), BetweennessParams::default())
    }

    /// Measures `g` with betweenness from [`brandes_pich`] (exact or estimated, as
    /// `params` say).
    ///
    /// Errors: the parameters' ([`BetweennessParams::check`]).
    pub fn compute_with(g: &SimilarityGraph, params: &BetweennessParams) -> Result<Centrality> {
        let betweenness = brandes_pich(g, params)?;
        let params = if params.is_exact_for(g.node_count()) {
            params.exact()
        } else {
            *params
        };
        Ok(Centrality::with_betweenness(g, betweenness, params))
    }

    fn with_betweenness(
        g: &SimilarityGraph,
        betweenness: Vec<f64>,
        betweenness_params: BetweennessParams,
    ) -> Centrality {
        let nodes = g.nodes();
        let classes: Vec<usize> = nodes.iter().map(|n| n.class as usize).collect();
        let component = components(g);
        Centrality {
            degree: degrees(g),
            betweenness,
            betweenness_params,
            components: component.iter().max().map_or(0, |m| m + 1),
            component,
            modularity: modularity(g, &classes),
            same_class_share: same_class_share(g),
            nodes,
            edges: g.edge_count(),
        }
    }

    /// How betweenness was computed, in words ([`BetweennessParams::describe`]).
    pub fn betweenness_method(&self) -> String {
        self.betweenness_params.describe(self.nodes.len())
    }

    /// Mean betweenness of the misclassified (`true`) or correctly classified
    /// (`false`) nodes; `None` when there are none (or no predictions).
    pub fn mean_betweenness(&self, misclassified: bool) -> Option<f64> {
        let values: Vec<f64> = self
            .nodes
            .iter()
            .zip(&self.betweenness)
            .filter(|(n, _)| n.correct() == Some(!misclassified))
            .map(|(_, &b)| b)
            .collect();
        (!values.is_empty()).then(|| values.iter().sum::<f64>() / values.len() as f64)
    }

    /// Size of the largest connected component.
    pub fn largest_component(&self) -> usize {
        let mut sizes = vec![0usize; self.components];
        for &c in &self.component {
            sizes[c] += 1;
        }
        sizes.into_iter().max().unwrap_or(0)
    }

    /// One row per node: `id`, `class`, `class_name`, `predicted` (null without a
    /// prediction), `correct` (null likewise), `degree`, `betweenness`, `component`.
    pub fn node_table(&self) -> Result<DataFrame> {
        let n = &self.nodes;
        Ok(df!(
            "id" => n.iter().map(|v| v.id as u64).collect::<Vec<_>>(),
            "class" => n.iter().map(|v| v.class as u32).collect::<Vec<_>>(),
            "class_name" => n.iter().map(|v| v.class_name()).collect::<Vec<_>>(),
            "predicted" => n.iter().map(|v| v.predicted.map(u32::from)).collect::<Vec<_>>(),
            "correct" => n.iter().map(|v| v.correct()).collect::<Vec<_>>(),
            "degree" => self.degree.iter().map(|&d| d as u32).collect::<Vec<_>>(),
            "betweenness" => self.betweenness.clone(),
            "component" => self.component.iter().map(|&c| c as u32).collect::<Vec<_>>(),
        )?)
    }

    /// One row: `nodes`, `edges`, `mean_degree`, `components`, `largest_component`,
    /// `same_class_share`, `modularity`, `betweenness_misclassified`,
    /// `betweenness_correct` (nulls where undefined).
    pub fn summary(&self) -> Result<DataFrame> {
        let n = self.nodes.len();
        let mean_degree = if n == 0 {
            0.0
        } else {
            2.0 * self.edges as f64 / n as f64
        };
        Ok(df!(
            "nodes" => [n as u64],
            "edges" => [self.edges as u64],
            "mean_degree" => [mean_degree],
            "components" => [self.components as u64],
            "largest_component" => [self.largest_component() as u64],
            "same_class_share" => [self.same_class_share],
            "modularity" => [self.modularity],
            "betweenness_misclassified" => [self.mean_betweenness(true)],
            "betweenness_correct" => [self.mean_betweenness(false)],
        )?)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;

    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    use super::super::testdata::*;
    use super::super::{Construction, KnnParams, NodeInfo};
    use super::*;

    /// Brandes (2001) betweenness for unweighted undirected graphs, normalised as
    /// networkx: reference for rustworkx.
    fn brandes(n: usize, edges: &[(usize, usize)]) -> Vec<f64> {
        let mut adj = vec![Vec::new(); n];
        for &(a, b) in edges {
            adj[a].push(b);
            adj[b].push(a);
        }
        let mut cb = vec![0.0; n];
        for s in 0..n {
            let mut stack = Vec::new();
            let mut pred = vec![Vec::new(); n];
            let mut sigma = vec![0.0f64; n];
            let mut dist = vec![-1i64; n];
            sigma[s] = 1.0;
            dist[s] = 0;
            let mut queue = VecDeque::from([s]);
            while let Some(v) = queue.pop_front() {
                stack.push(v);
                for &w in &adj[v] {
                    if dist[w] < 0 {
                        dist[w] = dist[v] + 1;
                        queue.push_back(w);
                    }
                    if dist[w] == dist[v] + 1 {
                        sigma[w] += sigma[v];
                        pred[w].push(v);
                    }
                }
            }
            let mut delta = vec![0.0; n];
            while let Some(w) = stack.pop() {
                for &v in &pred[w] {
                    delta[v] += sigma[v] / sigma[w] * (1.0 + delta[w]);
                }
                if w != s {
                    cb[w] += delta[w];
                }
            }
        }
        // Ordered pairs were counted; networkx normalises by (n-1)(n-2).
        if n > 2 {
            let scale = 1.0 / ((n - 1) * (n - 2)) as f64;
            cb.iter_mut().for_each(|c| *c *= scale);
        }
        cb
    }

    fn assert_close(a: &[f64], b: &[f64]) {
        assert_eq!(a.len(), b.len());
        for (i, (x, y)) in a.iter().zip(b).enumerate() {
            assert!((x - y).abs() < 1e-12, "node {i}: {x} vs {y}");
        }
    }

    #[test]
    fn betweenness_of_path_and_star_by_hand() {
        // Path 0-1-2-3-4: node 1 lies on 3 of the 6 unordered pairs' paths, node 2 on 4;
        // normalised: 2·3/12 and 2·4/12.
        let path = [(0, 1), (1, 2), (2, 3), (3, 4)];
        let b = betweenness(&graph(5, &path));
        assert_close(&b, &[0.0, 0.5, 4.0 / 6.0, 0.5, 0.0]);
        assert_close(&b, &brandes(5, &path));
        assert_close(&betweenness_parallel(&graph(5, &path)), &b);
        let star: Vec<_> = (1..6).map(|i| (0, i)).collect();
        let b = betweenness(&graph(6, &star));
        assert_close(&b, &[1.0, 0.0, 0.0, 0.0, 0.0, 0.0]);
        assert_close(&b, &brandes(6, &star));
    }

    #[test]
    fn betweenness_matches_brandes_on_random_graphs() {
        let mut rng = ChaCha8Rng::seed_from_u64(17);
        for trial in 0..20 {
            let n = rng.gen_range(3..40);
            let p = rng.gen_range(0.02..0.4);
            let mut edges = Vec::new();
            for a in 0..n {
                for b in a + 1..n {
                    if rng.gen_bool(p) {
                        edges.push((a, b));
                    }
                }
            }
            let got = betweenness(&graph(n, &edges));
            let expected = brandes(n, &edges);
            assert_close(&betweenness_parallel(&graph(n, &edges)), &expected);
            assert!(
                trial < 5 || expected.iter().any(|&v| v > 0.0) || edges.len() < 3,
                "degenerate test graph"
            );
            assert_close(&got, &expected);
        }
        // More sources than one chunk of the parallel version.
        let mut edges = std::collections::BTreeSet::new();
        for a in 0..300usize {
            for b in [a + 1, a + 7, a * 3 + 1] {
                if b < 300 && b != a && rng.gen_bool(0.6) {
                    edges.insert((a, b));
                }
            }
        }
        let edges: Vec<_> = edges.into_iter().collect();
        let big = graph(300, &edges);
        assert_close(&betweenness_parallel(&big), &betweenness(&big));
        // Tiny graphs: no intermediate nodes, all zero.
        assert_eq!(betweenness(&graph(2, &[(0, 1)])), [0.0, 0.0]);
    }

    #[test]
    fn betweenness_parallel_on_a_disconnected_graph_with_isolated_nodes() {
        // A path 0-1-2-3, a triangle 4-5-6 with a pendant 7, isolated 8..=11, and the
        // first node of the path numbered last.
        let edges = [(11, 1), (1, 2), (2, 3), (4, 5), (5, 6), (4, 6), (6, 7)];
        let g = graph(12, &edges);
        let b = betweenness_parallel(&g);
        assert_close(&b, &brandes(12, &edges));
        assert_close(&b, &betweenness(&g));
        // Node 1 is on the paths 11–2 and 11–3, node 6 on 4–7 and 5–7: two unordered
        // pairs each, normalised by (n − 1)(n − 2) / 2 = 55.
        assert!((b[1] - 2.0 / 55.0).abs() < 1e-15, "{}", b[1]);
        assert!((b[6] - 2.0 / 55.0).abs() < 1e-15, "{}", b[6]);
        for v in [0, 3, 4, 5, 7, 8, 9, 10, 11] {
            assert_eq!(b[v], 0.0, "node {v}");
        }
        // Only isolated nodes; empty and tiny graphs.
        assert_eq!(betweenness_parallel(&graph(5, &[])), [0.0; 5]);
        assert!(betweenness_parallel(&graph(0, &[])).is_empty());
        assert_eq!(betweenness_parallel(&graph(2, &[(0, 1)])), [0.0, 0.0]);
    }

    /// A connected 2 000-node kNN graph of overlapping clusters.
    fn pivot_test_graph() -> SimilarityGraph {
        let (x, nodes) = clusters(2000, 16, 3.0, 11);
        let g = super::super::knn(&x, &nodes, &KnnParams::default()).unwrap();
        assert_eq!(components(&g).iter().max(), Some(&0), "connected");
        g
    }

    #[test]
    fn brandes_pich_is_exact_from_every_node_and_within_its_stated_error_from_a_sample() {
        let g = pivot_test_graph();
        let exact = betweenness_parallel(&g);
        let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        for p in [
            BetweennessParams::default(),
            BetweennessParams::default().pivots(2000),
        ] {
            assert_eq!(bits(&brandes_pich(&g, &p).unwrap()), bits(&exact));
        }
        // 1 000 pivots on 2 000 nodes: the README states relative L1 0.066, top-20 overlap
        // 0.95, Spearman 0.993 on a dense layer's kNN graph; this synthetic graph is
        // harder (measured: 0.090, 0.90, 0.981; largest top-20 error 0.109).
        let p = BetweennessParams::default().pivots(1000);
        let estimate = brandes_pich(&g, &p).unwrap();
        let e = EstimateError::compare(&exact, &estimate, 20);
        assert!(e.relative_l1 < 0.12, "{e:?}");
        assert!(e.top_overlap >= 0.85, "{e:?}");
        assert!(e.top_max_relative < 0.15, "{e:?}");
        assert!(e.spearman > 0.97, "{e:?}");
        // Same seed, same values at any thread count; another seed, another sample.
        let one = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .unwrap()
            .install(|| brandes_pich(&g, &p).unwrap());
        assert_eq!(bits(&one), bits(&estimate));
        assert_ne!(brandes_pich(&g, &p.seed(1)).unwrap(), estimate);
        // Unbiased: the mean of 8 small samples is nearer than one of them.
        let small = |seed| brandes_pich(&g, &BetweennessParams::default().pivots(100).seed(seed));
        let single = small(0).unwrap();
        let mut mean = vec![0.0; exact.len()];
        for seed in 0..8 {
            for (m, v) in mean.iter_mut().zip(small(seed).unwrap()) {
                *m += v / 8.0;
            }
        }
        let l1 = |v: &[f64]| EstimateError::compare(&exact, v, 20).relative_l1;
        assert!(
            l1(&mean) < 0.6 * l1(&single),
            "{} vs {}",
            l1(&mean),
            l1(&single)
        );
    }

    #[test]
    fn centrality_says_how_betweenness_was_computed_and_zero_pivots_are_refused() {
        let g = pivot_test_graph();
        let exact = Centrality::compute(&g);
        assert_eq!(exact.betweenness_params, BetweennessParams::default());
        assert!(exact.betweenness_method().starts_with("exact"));
        let all = Centrality::compute_with(&g, &BetweennessParams::default().pivots(5000)).unwrap();
        assert_eq!(all, exact, "as many pivots as nodes is exact, and says so");
        let p = BetweennessParams::for_nodes(g.node_count())
            .pivots(300)
            .seed(4);
        let sampled = Centrality::compute_with(&g, &p).unwrap();
        assert_eq!(sampled.betweenness, brandes_pich(&g, &p).unwrap());
        assert_eq!(
            sampled.betweenness_method(),
            "estimated from 300 of 2000 source nodes drawn with seed 4 (Brandes-Pich pivots), \
             normalised by (n-1)(n-2)"
        );
        assert_eq!(sampled.degree, exact.degree);
        let err =
            Centrality::compute_with(&g, &BetweennessParams::default().pivots(0)).unwrap_err();
        assert_eq!(err.parameter(), Some("pivots"), "{err}");
        assert!(err.to_string().contains("at least 1 source node"), "{err}");
        assert_eq!(
            BetweennessParams::for_nodes(EXACT_BETWEENNESS_NODES + 1).pivots,
            Some(BETWEENNESS_PIVOTS)
        );
    }

    #[test]
    fn estimate_error_by_hand() {
        let exact = [4.0, 3.0, 2.0, 1.0, 0.0];
        let e = EstimateError::compare(&exact, &exact, 2);
        assert_eq!(
            (e.relative_l1, e.top_max_relative, e.top_overlap, e.spearman),
            (0.0, 0.0, 1.0, 1.0)
        );
        // Top two swapped with the bottom two: ranks reversed.
        let e = EstimateError::compare(&exact, &[0.0, 1.0, 2.0, 3.0, 4.0], 2);
        assert_eq!(e.top_overlap, 0.0);
        assert!((e.spearman + 1.0).abs() < 1e-12);
        assert!((e.relative_l1 - 12.0 / 10.0).abs() < 1e-12);
        assert!((e.top_max_relative - 1.0).abs() < 1e-12);
        // Ties share ranks: [1, 1, 0] has ranks [2.5, 2.5, 1].
        assert_eq!(average_ranks(&[1.0, 1.0, 0.0]), [2.5, 2.5, 1.0]);
    }

    #[test]
    fn betweenness_parallel_is_the_same_at_any_thread_count() {
        // Several chunks of sources, several components, uneven degrees.
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        let n = 500;
        let mut edges = std::collections::BTreeSet::new();
        for a in 0..n {
            for _ in 0..rng.gen_range(0..4) {
                let b = if rng.gen_bool(0.9) {
                    (a + rng.gen_range(1..20)) % n
                } else {
                    rng.gen_range(0..n)
                };
                if a != b && a % 97 != 0 && b % 97 != 0 {
                    edges.insert((a.min(b), a.max(b)));
                }
            }
        }
        let edges: Vec<_> = edges.into_iter().collect();
        let g = graph(n, &edges);
        let run = |threads: usize| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap()
                .install(|| betweenness_parallel(&g))
        };
        let one = run(1);
        let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&one), bits(&run(4)));
        assert_eq!(bits(&one), bits(&run(3)));
        assert!(one.iter().filter(|&&v| v > 0.0).count() > n / 2);
        assert_close(&one, &brandes(n, &edges));
    }

    #[test]
    fn components_and_degrees() {
        let g = graph(6, &[(0, 2), (2, 4), (1, 5)]);
        assert_eq!(components(&g), [0, 1, 0, 2, 0, 1]);
        assert_eq!(degrees(&g), [1, 1, 2, 0, 1, 1]);
        let c = Centrality::compute(&g);
        assert_eq!(c.components, 3);
        assert_eq!(c.largest_component(), 3);
    }

    #[test]
    fn modularity_sums_communities_in_label_order_every_time() {
        // 60 nodes in 10 communities, edges drawn with a fixed rule: the terms of the
        // sum have awkward binary expansions, so another summation order rounds
        // differently.
        let n = 60;
        let edges: Vec<(usize, usize)> = (0..n)
            .flat_map(|i| (i + 1..n).map(move |j| (i, j)))
            .filter(|&(i, j)| (i * 7 + j * 13) % 11 < 3)
            .collect();
        let g = graph(n, &edges);
        let community: Vec<usize> = (0..n).map(|i| (i * 3) % 10).collect();
        let m = edges.len() as f64;
        let mut expected = 0.0f64;
        for c in 0..10 {
            let inside = edges
                .iter()
                .filter(|&&(a, b)| community[a] == c && community[b] == c)
                .count() as f64;
            let degree: f64 = edges
                .iter()
                .map(|&(a, b)| f64::from(u8::from(community[a] == c) + u8::from(community[b] == c)))
                .sum();
            expected += inside / m - (degree / (2.0 * m)).powi(2);
        }
        for _ in 0..50 {
            let q = modularity(&g, &community).unwrap();
            assert_eq!(q.to_bits(), expected.to_bits(), "{q} vs {expected}");
        }
    }

    #[test]
    fn modularity_by_hand() {
        // Two triangles {0,1,2}, {3,4,5} joined by the edge 2-3; m = 7.
        // Each community: L = 3, D = 7 → Q = 2 (3/7 − (7/14)²) = 6/7 − 1/2.
        let edges = [(0, 1), (1, 2), (0, 2), (3, 4), (4, 5), (3, 5), (2, 3)];
        let g = graph(6, &edges);
        let q = modularity(&g, &[0, 0, 0, 1, 1, 1]).unwrap();
        assert!((q - (6.0 / 7.0 - 0.5)).abs() < 1e-12, "{q}");
        // Everything in one community: Q = 1 − 1 = 0.
        assert!(modularity(&g, &[0; 6]).unwrap().abs() < 1e-12);
        // Each node alone: Q = −Σ (k_i / 2m)².
        let single = modularity(&g, &[0, 1, 2, 3, 4, 5]).unwrap();
        let expected = -[2.0f64, 2.0, 3.0, 3.0, 2.0, 2.0]
            .iter()
            .map(|k| (k / 14.0).powi(2))
            .sum::<f64>();
        assert!((single - expected).abs() < 1e-12);
        assert_eq!(modularity(&graph(3, &[]), &[0, 1, 2]), None);
        assert_eq!(modularity(&g, &[0, 1]), None);
    }

    #[test]
    fn tables_and_class_agreement() {
        // Classes are i % 10: nodes 0 and 10 share class 0, 1 and 11 class 1.
        let nodes: Vec<NodeInfo> = (0..12)
            .map(|i| {
                let n = NodeInfo::new(i, (i % 10) as u8);
                match i {
                    0 => n.with_prediction(3),
                    1 => n.with_prediction(1),
                    _ => n,
                }
            })
            .collect();
        let e = [(0, 10, 1.0), (1, 11, 1.0), (0, 1, 1.0), (0, 2, 1.0)];
        let g = SimilarityGraph::from_edges(
            &nodes,
            &e,
            Construction::Knn {
                params: KnnParams::default(),
            },
        )
        .unwrap();
        assert_eq!(same_class_share(&g), Some(0.5));
        let c = Centrality::compute(&g);
        let table = c.node_table().unwrap();
        assert_eq!(table.shape(), (12, 8));
        let degree = table.column("degree").unwrap().u32().unwrap();
        assert_eq!(degree.get(0), Some(3));
        assert_eq!(degree.get(3), Some(0));
        let correct = table.column("correct").unwrap().bool().unwrap();
        assert_eq!(correct.get(0), Some(false));
        assert_eq!(correct.get(1), Some(true));
        assert_eq!(correct.get(2), None);
        assert_eq!(
            table.column("class_name").unwrap().str().unwrap().get(9),
            Some("Ankle boot")
        );
        // Node 0 (misclassified) is the hub; node 1 (correct) bridges 11 to the rest.
        let b = &c.betweenness;
        assert!(b[0] > b[1] && b[1] > 0.0);
        assert_eq!(c.mean_betweenness(true), Some(b[0]));
        assert_eq!(c.mean_betweenness(false), Some(b[1]));
        let s = c.summary().unwrap();
        assert_eq!(s.shape(), (1, 9));
        assert_eq!(s.column("edges").unwrap().u64().unwrap().get(0), Some(4));
        assert_eq!(
            s.column("components").unwrap().u64().unwrap().get(0),
            Some(12 - 4)
        );
        assert_eq!(
            s.column("same_class_share").unwrap().f64().unwrap().get(0),
            Some(0.5)
        );
        let empty = Centrality::compute(&graph(3, &[]));
        let s = empty.summary().unwrap();
        assert_eq!(s.column("modularity").unwrap().f64().unwrap().get(0), None);
        assert_eq!(
            s.column("betweenness_correct")
                .unwrap()
                .f64()
                .unwrap()
                .get(0),
            None
        );
    }
}
