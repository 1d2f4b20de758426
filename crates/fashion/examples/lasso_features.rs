//! Times the lasso graph (default parameters) on the four representations of 1 000 test
//! images (100 per class, seed 7) of a trained checkpoint; optionally with another
//! `max_iterations` (default 1000).
//!
//! ```text
//! FASHION_MNIST_DIR=... cargo run --release -p fashion --example lasso_features -- CHECKPOINT_DIR [MAX_ITERATIONS]
//! ```

use std::path::PathBuf;
use std::time::Instant;

use fashion::data::FashionMnist;
use fashion::features::{FeatureParams, ImageFeatures, Representation};
use fashion::graph::{Construction, LassoParams, Measure};

/// The 1-minute load average (`/proc/loadavg`), or "n/a".
fn load() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().map(str::to_owned))
        .unwrap_or_else(|| "n/a".into())
}

fn main() -> fashion::Result<()> {
    let Some(dir) = std::env::args().nth(1).map(PathBuf::from) else {
        eprintln!("usage: lasso_features CHECKPOINT_DIR [MAX_ITERATIONS]");
        std::process::exit(2);
    };
    let mut params = LassoParams::default();
    if let Some(arg) = std::env::args().nth(2) {
        match arg.parse() {
            Ok(n) => params = params.max_iterations(n),
            Err(_) => {
                eprintln!("MAX_ITERATIONS must be a whole number, not {arg:?}");
                std::process::exit(2);
            }
        }
    }
    let trained = fashion::train::load_checkpoint(&dir)?;
    let data = FashionMnist::load_default()?;
    let features = ImageFeatures::for_run(
        &trained,
        &data,
        &FeatureParams::default().per_class(100).random(7),
    )?;
    println!("rayon threads: {}", rayon::current_num_threads());
    for r in Representation::ALL {
        let start = Instant::now();
        let g = features.graph(r, &Measure::Lasso(params))?;
        let s = start.elapsed().as_secs_f64();
        let Construction::Lasso { report, .. } = g.construction() else {
            unreachable!("a lasso measure builds a lasso graph")
        };
        println!(
            "{:<8} {:>5} columns {:>8.3} s (load {}): {} edges, alpha {:.5}, AND {}, OR {}, {} selections, {} unconverged",
            r.name(),
            features.matrix(r).ncols(),
            s,
            load(),
            g.edge_count(),
            report.alpha,
            report.and_edges,
            report.or_edges,
            report.selections,
            report.unconverged
        );
    }
    Ok(())
}
