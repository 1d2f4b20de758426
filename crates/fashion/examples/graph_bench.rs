//! Timings of `fashion::graph` on synthetic data, and (optionally) example drawings.
//!
//! ```text
//! cargo run --release -p fashion --example graph_bench [-- --charts OUT_DIR [--no-timings]]
//! ```
//!
//! Data: rows around 10 random cluster centres (class = cluster) plus uniform noise,
//! 128 features, seeded. Times: the correlation graph (mean degree 10), the kNN graph
//! (k = 10) and betweenness of the kNN graph on 10 000 rows; the lasso graph on 1 000
//! rows (Meinshausen–Bühlmann penalty, then a fixed α = 0.1); a layout of 1 000 nodes;
//! the lasso graph of 1 000 rows of 784 and of 1152 features (noise 1.0, so rows of a
//! cluster correlate at about 0.5), with the load average. `--lasso-only` runs just
//! the last.
//! With `--charts OUT_DIR`, also draws 100 rows four ways (correlation, lasso, kNN,
//! mutual kNN) as `graph_knn.png/.svg` and `graph_panel.png/.svg`, and writes
//! `graph_knn.graphml` and the node/edge CSVs.
//! `--pivots [CHECKPOINT_DIR]` measures the error and time of pivot-sampled betweenness
//! ([`graph::brandes_pich`]) against exact betweenness on kNN graphs (k = 5, as
//! `fashion graph`) of 2 000 and 10 000 rows: synthetic, or with a checkpoint the dense
//! layer of 200 and 1 000 test images per class (`FASHION_MNIST_DIR` names the data).

use std::path::PathBuf;
use std::time::Instant;

use fashion::features::{FeatureParams, ImageFeatures, Representation};
use fashion::graph::{
    self, BetweennessParams, Centrality, CorrelationParams, EstimateError, KnnParams, LassoParams,
    LayoutParams, NodeInfo,
};
use fashion::ndarray::Array2;
use fashion::plot::{GraphChart, GraphPanel, NodeSize, save};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// `n` rows of `d` features around 10 centres; every 7th row "misclassified".
fn clusters(n: usize, d: usize, noise: f32, seed: u64) -> (Array2<f32>, Vec<NodeInfo>) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let centres = Array2::from_shape_fn((10, d), |_| rng.gen_range(-1.0f32..1.0));
    let x = Array2::from_shape_fn((n, d), |(i, j)| {
        centres[[i % 10, j]] + noise * rng.gen_range(-1.0f32..1.0)
    });
    let nodes = (0..n)
        .map(|i| {
            let class = (i % 10) as u8;
            let predicted = if i % 7 == 3 { (class + 3) % 10 } else { class };
            NodeInfo::new(i, class).with_prediction(predicted)
        })
        .collect();
    (x, nodes)
}

fn timed<T, E: Into<fashion::Error>>(
    what: &str,
    f: impl FnOnce() -> Result<T, E>,
) -> fashion::Result<(T, f64)> {
    let start = Instant::now();
    let out = f().map_err(Into::into)?;
    let s = start.elapsed().as_secs_f64();
    println!("{what:<52} {s:>8.3} s");
    Ok((out, s))
}

fn main() -> fashion::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (charts, timings) = match args.as_slice() {
        [] => (None, true),
        [flag, rest @ ..] if flag == "--pivots" && rest.len() <= 1 => {
            println!("rayon threads: {}", rayon::current_num_threads());
            return pivots(rest.first().map(PathBuf::from));
        }
        [flag] if flag == "--lasso-only" => {
            println!("rayon threads: {}", rayon::current_num_threads());
            return lasso_wide();
        }
        [flag, dir] if flag == "--charts" => (Some(PathBuf::from(dir)), true),
        [flag, dir, no] if flag == "--charts" && no == "--no-timings" => {
            (Some(PathBuf::from(dir)), false)
        }
        _ => {
            eprintln!(
                "usage: graph_bench [--lasso-only | --pivots [CHECKPOINT_DIR] | --charts OUT_DIR [--no-timings]]"
            );
            std::process::exit(2);
        }
    };
    if let Some(dir) = &charts {
        std::fs::create_dir_all(dir).map_err(|e| fashion::data::Error::Io {
            path: dir.clone(),
            source: e,
        })?;
        draw(dir)?;
    }
    if !timings {
        return Ok(());
    }
    println!("rayon threads: {}", rayon::current_num_threads());

    let (x, nodes) = clusters(10_000, 128, 1.5, 1);
    let (g, t1) = timed("correlation graph, 10 000 x 128, mean degree 10", || {
        graph::correlation(&x, &nodes, &CorrelationParams::default().mean_degree(10.0))
    })?;
    println!("  {} edges", g.edge_count());
    let (g, t2) = timed("kNN graph, 10 000 x 128, k = 10", || {
        graph::knn(&x, &nodes, &KnnParams::default().k(10))
    })?;
    println!("  {} edges", g.edge_count());
    let (b, t3) = timed("betweenness of the kNN graph (rustworkx)", || {
        Ok::<_, fashion::Error>(graph::betweenness(&g))
    })?;
    println!("  max {:.4}", b.iter().copied().fold(0.0, f64::max));
    let (bp, t3p) = timed(
        "betweenness of the kNN graph (own parallel Brandes)",
        || Ok::<_, fashion::Error>(graph::betweenness_parallel(&g)),
    )?;
    let diff = b
        .iter()
        .zip(&bp)
        .map(|(a, c)| (a - c).abs())
        .fold(0.0, f64::max);
    println!("  max |difference| to rustworkx {diff:.2e}");
    println!(
        "{:<52} {:>8.3} s with rustworkx, {:.3} s with the own Brandes (target <= 15 s)",
        "total",
        t1 + t2 + t3,
        t1 + t2 + t3p
    );

    let (x1k, nodes1k) = clusters(1000, 128, 1.5, 2);
    let (g, t4) = timed("lasso graph, 1 000 x 128, Meinshausen-Buhlmann", || {
        graph::lasso(&x1k, &nodes1k, &LassoParams::default())
    })?;
    println!(
        "  {} edges, {:?}",
        g.edge_count(),
        g.construction().describe()
    );
    let (g, t5) = timed("lasso graph, 1 000 x 128, alpha = 0.1", || {
        graph::lasso(&x1k, &nodes1k, &LassoParams::default().alpha(0.1))
    })?;
    if let graph::Construction::Lasso { report, .. } = g.construction() {
        println!(
            "  {} edges (AND {}, OR {}), {} unconverged",
            g.edge_count(),
            report.and_edges,
            report.or_edges,
            report.unconverged
        );
    }
    println!(
        "{:<52} {:>8.3} s (target <= 60 s each)",
        "lasso",
        t4.max(t5)
    );
    let (_, _) = timed("layout, 1 000 nodes (lasso graph) x 500 iterations", || {
        graph::fruchterman_reingold(&g, &LayoutParams::default())
    })?;
    lasso_wide()
}

/// Exact against pivot-sampled betweenness (seed 0) on kNN graphs of 2 000 and 10 000
/// rows (synthetic, or a checkpoint's dense layer); the "top" nodes are the 1 % of
/// highest exact betweenness.
fn pivots(checkpoint: Option<PathBuf>) -> fashion::Result<()> {
    let run = checkpoint
        .map(|dir| -> fashion::Result<_> {
            let trained = fashion::train::load_checkpoint(&dir)?;
            Ok((trained, fashion::data::FashionMnist::load_default()?))
        })
        .transpose()?;
    for n in [2000, 10_000] {
        let g = match &run {
            Some((trained, data)) => {
                let params = FeatureParams::default().per_class(n / 10);
                let features = ImageFeatures::for_run(trained, data, &params)?;
                features.graph(Representation::Dense, &graph::Measure::knn())?
            }
            None => {
                let (x, nodes) = clusters(n, 128, 1.5, 1);
                graph::knn(&x, &nodes, &KnnParams::default())?
            }
        };
        let components = graph::components(&g).iter().max().map_or(0, |c| c + 1);
        println!(
            "kNN graph, {n} x 128, k = 5: {} edges, {components} components",
            g.edge_count()
        );
        let (exact, _) = timed("  exact betweenness", || {
            Ok::<_, fashion::Error>(graph::betweenness_parallel(&g))
        })?;
        let top = n / 100;
        for k in [250, 500, 1000, 2000].into_iter().filter(|&k| k < n) {
            let p = BetweennessParams::default().pivots(k);
            let (estimate, _) = timed(&format!("  {k} pivots"), || graph::brandes_pich(&g, &p))?;
            let e = EstimateError::compare(&exact, &estimate, top);
            println!(
                "    relative L1 {:.3}, top {top}: max relative error {:.3}, overlap {:.2}; \
                 Spearman {:.4}; load {}",
                e.relative_l1,
                e.top_max_relative,
                e.top_overlap,
                e.spearman,
                load()
            );
        }
    }
    Ok(())
}

/// The 1-minute load average (`/proc/loadavg`), or "n/a".
fn load() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().map(str::to_owned))
        .unwrap_or_else(|| "n/a".into())
}

/// The lasso graph (default parameters) of 1 000 rows as wide as image pixels (784)
/// and a CNN feature map (1152), strongly correlated within clusters.
fn lasso_wide() -> fashion::Result<()> {
    for d in [784, 1152] {
        let (x, nodes) = clusters(1000, d, 1.0, 5);
        let (g, _) = timed(
            &format!("lasso graph, 1 000 x {d}, Meinshausen-Buhlmann"),
            || graph::lasso(&x, &nodes, &LassoParams::default()),
        )?;
        if let graph::Construction::Lasso { report, .. } = g.construction() {
            println!(
                "  load {}; alpha {:.5}, {} edges (AND {}, OR {}), {} selections, {} unconverged",
                load(),
                report.alpha,
                g.edge_count(),
                report.and_edges,
                report.or_edges,
                report.selections,
                report.unconverged
            );
        }
    }
    Ok(())
}

/// 100 rows in 10 noisy clusters, four graphs, drawn.
fn draw(dir: &std::path::Path) -> fashion::Result<()> {
    let (x, nodes) = clusters(100, 128, 2.0, 3);
    let corr = graph::correlation(&x, &nodes, &CorrelationParams::default().mean_degree(4.0))?;
    let lasso = graph::lasso(&x, &nodes, &LassoParams::default().mean_degree(3.0))?;
    let knn = graph::knn(&x, &nodes, &KnnParams::default().k(4))?;
    let mutual = graph::knn(&x, &nodes, &KnnParams::default().k(4).mutual(true))?;
    let p = LayoutParams::default().seed(7);
    let layouts = [
        graph::fruchterman_reingold(&corr, &p)?,
        graph::fruchterman_reingold(&lasso, &p)?,
        graph::fruchterman_reingold(&knn, &p)?,
        graph::fruchterman_reingold(&mutual, &p)?,
    ];
    let chart = GraphChart::new(&knn, &layouts[2])?
        .with_title("k nearest neighbours of 100 synthetic images");
    save(&chart, dir.join("graph_knn.png"))?;
    save(&chart, dir.join("graph_knn.svg"))?;
    let chart = GraphChart::new(&lasso, &layouts[1])?
        .with_title("Lasso neighbourhood selection")
        .size_by(NodeSize::Degree);
    save(&chart, dir.join("graph_lasso_degree.png"))?;
    let panel = GraphPanel::new([
        ("Pearson correlation", &corr, &layouts[0]),
        ("Lasso (AND)", &lasso, &layouts[1]),
        ("kNN", &knn, &layouts[2]),
        ("Mutual kNN", &mutual, &layouts[3]),
    ])?
    .with_title("Four similarity graphs of the same 100 images");
    save(&panel, dir.join("graph_panel.png"))?;
    save(&panel, dir.join("graph_panel.svg"))?;
    graph::write_graphml(&knn, dir.join("graph_knn.graphml"))?;
    graph::write_node_csv(&knn, dir.join("graph_knn_nodes.csv"))?;
    graph::write_edge_csv(&knn, dir.join("graph_knn_edges.csv"))?;
    for (name, g) in [
        ("correlation", &corr),
        ("lasso", &lasso),
        ("knn", &knn),
        ("mutual", &mutual),
    ] {
        println!("{name}:\n{}", Centrality::compute(g).summary()?);
    }
    Ok(())
}
