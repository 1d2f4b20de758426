//! Our side of `bench/graph_peers.py`: the lasso graph and betweenness on a trained
//! network's dense layer for all 10 000 test images, timed, with everything the Python
//! side needs to redo the same work with scikit-learn and networkx.
//!
//! ```text
//! FASHION_MNIST_DIR=... cargo run --release -p fashion --example study_peers -- CHECKPOINT_DIR OUT_DIR [LASSO_ROWS] [PIVOTS]
//! ```
//!
//! Writes into `OUT_DIR`: `dense.f32` (the 10 000 × 128 embedding, row-major
//! little-endian f32), `selections.csv` (row, selected image, coefficient) of the first
//! `LASSO_ROWS` (default 50) neighbourhood regressions at the graph's penalty,
//! `knn2000.csv` (edges of the kNN graph, k = 5, of the first 2 000 rows) with
//! `betweenness2000.csv` (its exact betweenness), `knn10000.csv` (the same graph on all
//! rows), and `ours.json`: sizes, the penalty, and the seconds of each step — the lasso
//! graph of all rows, the `LASSO_ROWS` regressions alone, exact betweenness of the
//! 2 000-node graph, and betweenness of the 10 000-node graph from `PIVOTS` (default
//! 500) pivots.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Instant;

use fashion::data::FashionMnist;
use fashion::features::{FeatureParams, ImageFeatures, Representation};
use fashion::graph::{
    self, BetweennessParams, Construction, KnnParams, LassoParams, NodeInfo, SimilarityGraph,
};
use fashion::ndarray::{Array2, s};

fn arg<T: std::str::FromStr>(k: usize, name: &str, default: T) -> T {
    match std::env::args().nth(k) {
        None => default,
        Some(a) => a.parse().unwrap_or_else(|_| {
            eprintln!("{name} must be a whole number, not {a:?}");
            std::process::exit(2)
        }),
    }
}

fn edges_csv(g: &SimilarityGraph) -> String {
    let mut out = String::from("source,target\n");
    for (i, j, _) in g.edge_list() {
        let _ = writeln!(out, "{i},{j}");
    }
    out
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (Some(checkpoint), Some(out)) = (std::env::args().nth(1), std::env::args().nth(2)) else {
        eprintln!("usage: study_peers CHECKPOINT_DIR OUT_DIR [LASSO_ROWS] [PIVOTS]");
        std::process::exit(2);
    };
    let (checkpoint, out) = (PathBuf::from(checkpoint), PathBuf::from(out));
    let lasso_rows: usize = arg(3, "LASSO_ROWS", 50);
    let pivots: usize = arg(4, "PIVOTS", 500);
    std::fs::create_dir_all(&out)?;
    let trained = fashion::train::load_checkpoint(&checkpoint)?;
    let data = FashionMnist::load_default()?;
    let features =
        ImageFeatures::for_run(&trained, &data, &FeatureParams::default().per_class(1000))?;
    let x: &Array2<f32> = features.matrix(Representation::Dense);
    let nodes = features.nodes();
    let (n, d) = x.dim();
    let bytes: Vec<u8> = x.iter().flat_map(|v| v.to_le_bytes()).collect();
    std::fs::write(out.join("dense.f32"), bytes)?;

    let params = LassoParams::default();
    let t = Instant::now();
    let g = graph::lasso(x, &nodes, &params)?;
    let lasso_graph = t.elapsed().as_secs_f64();
    let Construction::Lasso { report, .. } = g.construction() else {
        unreachable!("a lasso graph")
    };
    let alpha = report.alpha;
    let rows: Vec<usize> = (0..lasso_rows.min(n)).collect();
    let t = Instant::now();
    let hoods = graph::lasso_neighbourhoods(x, &nodes, &rows, alpha, &params)?;
    let lasso_some = t.elapsed().as_secs_f64();
    let mut csv = String::from("row,selected,coefficient\n");
    for (&i, hood) in rows.iter().zip(&hoods) {
        for &(j, c) in hood {
            let _ = writeln!(csv, "{i},{j},{c:e}");
        }
    }
    std::fs::write(out.join("selections.csv"), csv)?;

    let small = 2000.min(n);
    let small_x = x.slice(s![..small, ..]).to_owned();
    let small_nodes: Vec<NodeInfo> = nodes[..small].to_vec();
    let knn = KnnParams::default().k(5);
    let g2 = graph::knn(&small_x, &small_nodes, &knn)?;
    let t = Instant::now();
    let exact = graph::brandes_pich(&g2, &BetweennessParams::default().exact())?;
    let betweenness_small = t.elapsed().as_secs_f64();
    std::fs::write(out.join("knn2000.csv"), edges_csv(&g2))?;
    let mut csv = String::from("node,betweenness\n");
    for (i, b) in exact.iter().enumerate() {
        let _ = writeln!(csv, "{i},{b:e}");
    }
    std::fs::write(out.join("betweenness2000.csv"), csv)?;

    let g10 = graph::knn(x, &nodes, &knn)?;
    let t = Instant::now();
    graph::brandes_pich(&g10, &BetweennessParams::default().pivots(pivots).seed(0))?;
    let betweenness_large = t.elapsed().as_secs_f64();
    std::fs::write(out.join("knn10000.csv"), edges_csv(&g10))?;

    let json = format!(
        "{{\"rows\": {n}, \"columns\": {d}, \"alpha\": {alpha:e}, \"tolerance\": {tol:e}, \
         \"lasso_edges\": {edges}, \"lasso_rows\": {lr}, \"pivots\": {pivots}, \
         \"threads\": {threads}, \"seconds\": {{\"lasso_graph\": {lasso_graph}, \
         \"lasso_rows\": {lasso_some}, \"betweenness_exact_2000\": {betweenness_small}, \
         \"betweenness_pivots_10000\": {betweenness_large}}}}}\n",
        tol = params.tolerance,
        edges = g.edge_count(),
        lr = rows.len(),
        threads = rayon::current_num_threads(),
    );
    std::fs::write(out.join("ours.json"), json)?;
    println!(
        "{n} × {d}: lasso graph {lasso_graph:.2} s (α = {alpha:.4}, {} edges), {} regressions \
         {lasso_some:.2} s; exact betweenness of {small} nodes {betweenness_small:.2} s; \
         {pivots} pivots on {n} nodes {betweenness_large:.2} s; files in {}",
        g.edge_count(),
        rows.len(),
        out.display()
    );
    Ok(())
}
