//! The `fashion data …` commands, run as a user would.

use std::process::Command;

fn fashion() -> Command {
    Command::new(env!("CARGO_BIN_EXE_fashion"))
}

fn real_dir() -> String {
    std::env::var("FASHION_MNIST_DIR").expect(
        "FASHION_MNIST_DIR must name a directory holding the Fashion-MNIST .gz files \
         (CI sets it; `make test` downloads them first)",
    )
}

/// How many images of the validation split the CLI's quick runs validate on: validating on
/// the whole split (12 000 images) took most of these short runs' time (docs/performance.md,
/// "Validation in quick runs").
const VALID_SUBSET: &str = "1000";

/// `fashion train --quiet --no-test --epochs EPOCHS --subset SUBSET --valid-subset
/// VALID_SUBSET --dir REAL_DATA`: a quick run on the real data that leaves the test set
/// alone, for the tests that compare weights, histories or refusals.
fn quick_train(epochs: usize, subset: usize) -> Command {
    let mut cmd = fashion();
    cmd.args(["train", "--quiet", "--no-test", "--epochs"])
        .arg(epochs.to_string())
        .arg("--subset")
        .arg(subset.to_string())
        .args(["--valid-subset", VALID_SUBSET])
        .args(["--dir", &real_dir()]);
    cmd
}

#[test]
fn verify_prints_checksums_release_and_counts() {
    let out = fashion()
        .args(["data", "verify", "--dir", &real_dir()])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<&str> = stdout.lines().collect();
    for (line, name) in lines.iter().zip([
        "train-images-idx3-ubyte.gz",
        "train-labels-idx1-ubyte.gz",
        "t10k-images-idx3-ubyte.gz",
        "t10k-labels-idx1-ubyte.gz",
    ]) {
        let sha = line.split_whitespace().next().unwrap();
        assert_eq!(sha.len(), 64, "{line}");
        assert!(line.contains(name) && line.contains("release "), "{line}");
    }
    assert!(lines[4].starts_with("release: "), "{stdout}");
    assert!(
        lines
            .iter()
            .any(|l| l.split_whitespace().collect::<Vec<_>>() == ["Shirt", "6000", "1000"])
    );
    assert!(
        lines
            .iter()
            .any(|l| l.split_whitespace().collect::<Vec<_>>() == ["all", "60000", "10000"])
    );
}

#[test]
fn verify_fails_with_the_file_named() {
    let dir = tempfile::tempdir().unwrap();
    let out = fashion()
        .args(["data", "verify", "--dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("train-images-idx3-ubyte.gz") && stderr.contains("missing data file"),
        "{stderr}"
    );

    // A file with an unknown checksum is refused, and accepted only when asked.
    for f in [
        "train-images-idx3-ubyte.gz",
        "train-labels-idx1-ubyte.gz",
        "t10k-images-idx3-ubyte.gz",
        "t10k-labels-idx1-ubyte.gz",
    ] {
        std::fs::copy(
            std::path::Path::new(&real_dir()).join(f),
            dir.path().join(f),
        )
        .unwrap();
    }
    let labels = dir.path().join("t10k-labels-idx1-ubyte.gz");
    let mut bytes = std::fs::read(&labels).unwrap();
    let n = bytes.len();
    bytes[n - 12] ^= 0x01; // inside the deflate stream: breaks the checksum (and the CRC)
    std::fs::write(&labels, &bytes).unwrap();
    let out = fashion()
        .args(["data", "verify", "--dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("t10k-labels-idx1-ubyte.gz") && stderr.contains("unknown file"),
        "{stderr}"
    );
}

#[test]
fn dir_honours_the_environment() {
    let out = fashion()
        .args(["data", "dir"])
        .env("FASHION_MNIST_DIR", "/some/where")
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "/some/where");
}

#[test]
fn download_reports_unreachable_mirrors() {
    let dir = tempfile::tempdir().unwrap();
    // Port 9 (discard) on loopback: nothing listens, the connection is refused at once.
    let out = fashion()
        .args([
            "data",
            "download",
            "--quiet",
            "--mirror",
            "http://127.0.0.1:9/",
            "--dir",
        ])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("failed on every mirror") && stderr.contains("attempt 3"),
        "{stderr}"
    );
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

/// A checkpoint of a tiny network trained for one epoch on synthetic images (a second
/// or two): `fashion graph` needs weights, not good ones.
fn tiny_checkpoint(dir: &std::path::Path) -> fashion::train::Trained {
    tiny_checkpoint_seeded(dir, fashion::train::TrainConfig::default().seed)
}

/// [`tiny_checkpoint`] trained with another seed.
fn tiny_checkpoint_seeded(dir: &std::path::Path, seed: u64) -> fashion::train::Trained {
    use fashion::data::{Dataset, FashionMnist};
    use fashion::ndarray::{Array1, Array3};
    let synthetic = |n: usize| {
        let labels = Array1::from_shape_fn(n, |i| (i % 10) as u8);
        let images = Array3::from_shape_fn((n, 28, 28), |(i, r, c)| {
            if c / 3 == i % 10 {
                200
            } else {
                ((r + c + i) % 7) as u8
            }
        });
        Dataset::new(images, labels).unwrap()
    };
    let data = FashionMnist {
        train: synthetic(50),
        test: synthetic(20),
        release: None,
        files: Vec::new(),
    };
    let config = fashion::train::TrainConfig {
        epochs: 1,
        batch_size: 10,
        seed,
        ..Default::default()
    };
    fashion::train::train(&config, &data, dir, Default::default()).unwrap()
}

/// `fashion evaluate --out` writes what `fashion report` shows of the test evaluation,
/// from the same code path: the same tables byte for byte, the same figures.
#[test]
fn evaluate_out_writes_the_report_s_evaluation_tables_and_charts() {
    let ckpt = tempfile::tempdir().unwrap();
    tiny_checkpoint(ckpt.path());
    let out = tempfile::tempdir().unwrap();
    let (eval_dir, report_dir) = (out.path().join("eval"), out.path().join("report"));
    let run = fashion()
        .args(["evaluate", "--dir", &real_dir(), "--checkpoint"])
        .arg(ckpt.path())
        .arg("--out")
        .arg(&eval_dir)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(stdout.contains("test accuracy: "), "{stdout}");
    let run = fashion()
        .args([
            "report",
            "--dir",
            &real_dir(),
            "--per-class",
            "2",
            "--resamples",
            "20",
        ])
        .args(["--graph-per-class", "2", "--checkpoint"])
        .arg(ckpt.path())
        .arg("--out")
        .arg(&report_dir)
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    for t in ["confusion", "per_class", "most_confused", "misclassified"] {
        let ours = std::fs::read(eval_dir.join(format!("{t}.csv"))).unwrap();
        let report = std::fs::read(report_dir.join(format!("tables/{t}.csv"))).unwrap();
        assert_eq!(ours, report, "{t}.csv");
    }
    for f in [
        "confusion",
        "confusion_normalised",
        "per_class",
        "misclassified",
    ] {
        for ext in ["svg", "png"] {
            let path = eval_dir.join(format!("{f}.{ext}"));
            assert!(
                std::fs::metadata(&path).unwrap().len() > 0,
                "{}",
                path.display()
            );
        }
        let ours = std::fs::read(eval_dir.join(format!("{f}.png"))).unwrap();
        let report = std::fs::read(report_dir.join(format!("figures/{f}.png"))).unwrap();
        assert_eq!(ours, report, "{f}.png");
    }
    // The predictions are saved beside the checkpoint, as before.
    assert!(ckpt.path().join("test_predictions.csv").is_file());
}

#[test]
fn graph_writes_the_files_with_the_library_s_edges() {
    use fashion::features::{FeatureParams, ImageFeatures, Representation};
    use fashion::graph::Measure;
    let ckpt = tempfile::tempdir().unwrap();
    let trained = tiny_checkpoint(ckpt.path());
    let out = tempfile::tempdir().unwrap();
    let out_dir = out.path().join("knn-fc");
    // `fashion graph --measure knn --repr fc --n-per-class 4` with more arguments.
    let graph = |dir: &std::path::Path, extra: &[&str]| {
        fashion()
            .args(["graph", "--measure", "knn", "--repr", "fc"])
            .args(["--n-per-class", "4", "--dir", &real_dir(), "--checkpoint"])
            .arg(ckpt.path())
            .arg("--out")
            .arg(dir)
            .args(extra)
            .output()
            .unwrap()
    };
    let run = graph(&out_dir, &[]);
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(
        stdout.contains("kNN, k = 5") && stdout.contains("40 images"),
        "{stdout}"
    );
    for f in [
        "graph.graphml",
        "nodes.csv",
        "edges.csv",
        "graph.svg",
        "graph.png",
    ] {
        let len = std::fs::metadata(out_dir.join(f))
            .map(|m| m.len())
            .unwrap_or(0);
        assert!(len > 100, "{f}: {len} bytes");
    }
    let nodes = std::fs::read_to_string(out_dir.join("nodes.csv")).unwrap();
    assert_eq!(nodes.lines().count(), 41);
    // Images in class order, then test order.
    let rows: Vec<Vec<&str>> = nodes
        .lines()
        .skip(1)
        .map(|l| l.split(',').collect())
        .collect();
    for (k, row) in rows.iter().enumerate() {
        assert_eq!(row[0], k.to_string());
        assert_eq!(row[2], (k / 4).to_string(), "{nodes}");
        if k % 4 > 0 {
            let (a, b): (u32, u32) = (rows[k - 1][1].parse().unwrap(), row[1].parse().unwrap());
            assert!(a < b, "{nodes}");
        }
    }

    // The library, as a notebook calls it, gives the same edges.
    let data = fashion::data::FashionMnist::load(real_dir()).unwrap();
    let params = FeatureParams::default().per_class(4);
    let features = ImageFeatures::for_run(&trained, &data, &params).unwrap();
    let g = features
        .graph(Representation::Dense, &Measure::knn())
        .unwrap();
    let expected: Vec<String> = g
        .edge_list()
        .iter()
        .map(|&(i, j, w)| {
            format!(
                "{i},{j},{},{},{w}",
                features.indices[i], features.indices[j]
            )
        })
        .collect();
    let edges = std::fs::read_to_string(out_dir.join("edges.csv")).unwrap();
    let written: Vec<&str> = edges.lines().skip(1).collect();
    assert!(!written.is_empty());
    assert_eq!(written, expected);

    // Every node's centralities, confidence and position, as the library computes them.
    assert_eq!(
        nodes.lines().next().unwrap(),
        "node,id,class,class_name,predicted,correct,confidence,degree,betweenness,component,x,y"
    );
    let c = fashion::graph::Centrality::compute(&g);
    let layout_of = |params: &fashion::graph::LayoutParams| -> Vec<(f64, f64)> {
        let layout = fashion::graph::fruchterman_reingold(&g, params).unwrap();
        layout.positions().to_vec()
    };
    let positions = layout_of(&fashion::graph::LayoutParams::for_nodes(40));
    for (k, row) in rows.iter().enumerate() {
        assert_eq!(row[6], features.confidence[k].to_string(), "confidence {k}");
        assert_eq!(row[7], c.degree[k].to_string(), "degree {k}");
        assert_eq!(row[8], c.betweenness[k].to_string(), "betweenness {k}");
        assert_eq!(row[9], c.component[k].to_string(), "component {k}");
        let xy: Vec<f64> = row[10..12].iter().map(|v| v.parse().unwrap()).collect();
        assert!(xy.iter().all(|v| (0.0..=1.0).contains(v)), "{xy:?}");
        let (x, y) = positions[k];
        assert!(
            (xy[0] - x).abs() < 1e-9 && (xy[1] - y).abs() < 1e-9,
            "{k}: {xy:?}"
        );
    }
    let graphml = std::fs::read_to_string(out_dir.join("graph.graphml")).unwrap();
    assert_eq!(graphml.matches("<data key=\"betweenness\">").count(), 40);
    // The SVG is explorable: one tooltip per node, a thumbnail to show on hover.
    let svg = std::fs::read_to_string(out_dir.join("graph.svg")).unwrap();
    assert_eq!(svg.matches("<title>test image ").count(), 40);
    assert_eq!(svg.matches("<g class=\"fm-thumb\">").count(), 40);
    assert!(svg.contains("size: betweenness"));

    assert!(graphml.contains("<data key=\"betweenness_method\">exact (Brandes)"));

    // Glyphs, sized by degree, without labels; betweenness from 7 pivots.
    let glyphs = out.path().join("glyphs");
    let run = graph(
        &glyphs,
        &[
            "--glyphs",
            "--size",
            "degree",
            "--labels",
            "off",
            "--pivots",
            "7",
            "--pivots-seed",
            "3",
            "--iterations",
            "40",
        ],
    );
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let svg = std::fs::read_to_string(glyphs.join("graph.svg")).unwrap();
    // 40 glyphs drawn, 40 hover thumbnails.
    assert_eq!(svg.matches("<image").count(), 80);
    let p = fashion::graph::BetweennessParams::default()
        .pivots(7)
        .seed(3);
    let sampled = fashion::graph::brandes_pich(&g, &p).unwrap();
    assert_ne!(sampled, c.betweenness);
    let glyph_nodes = std::fs::read_to_string(glyphs.join("nodes.csv")).unwrap();
    let positions = layout_of(&fashion::graph::LayoutParams::default().iterations(40));
    for (k, line) in glyph_nodes.lines().skip(1).enumerate() {
        let row: Vec<&str> = line.split(',').collect();
        assert_eq!(row[8], sampled[k].to_string(), "{k}");
        let x: f64 = row[10].parse().unwrap();
        assert!(
            (x - positions[k].0).abs() < 1e-9,
            "--iterations 40, node {k}: {x}"
        );
    }
    let graphml = std::fs::read_to_string(glyphs.join("graph.graphml")).unwrap();
    assert!(graphml.contains("estimated from 7 of 40 source nodes drawn with seed 3"));
    assert!(svg.contains("size: degree"));
    assert_eq!(
        std::fs::read_to_string(glyphs.join("edges.csv")).unwrap(),
        edges,
        "drawing options change no number"
    );
}

#[test]
fn graph_refuses_bad_arguments_with_a_reason() {
    let ckpt = tempfile::tempdir().unwrap();
    tiny_checkpoint(ckpt.path());
    let out = tempfile::tempdir().unwrap();
    let run = |repr: &str, extra: &[&str]| {
        let o = fashion()
            .args([
                "graph",
                "--measure",
                "corr",
                "--repr",
                repr,
                "--data",
                &real_dir(),
            ])
            .arg("--checkpoint")
            .arg(ckpt.path())
            .arg("--out")
            .arg(out.path().join("x"))
            .args(extra)
            .output()
            .unwrap();
        assert!(!o.status.success());
        String::from_utf8_lossy(&o.stderr).to_string()
    };
    let err = run("map", &["--n-per-class", "0"]);
    assert!(err.contains("per_class"), "{err}");
    let err = run("map", &["--n-per-class", "1001"]);
    assert!(
        err.contains("per_class") && err.contains("at most 1000"),
        "{err}"
    );
    let err = run("logits", &[]);
    assert!(err.contains("input, scaled, map or fc"), "{err}");
    let err = run("map", &["--pivots", "0"]);
    assert!(
        err.contains("all or a number of source nodes >= 1"),
        "{err}"
    );
    let err = run("map", &["--iterations", "0"]);
    assert!(err.contains("--iterations") && err.contains("1.."), "{err}");
    let err = run("map", &["--size", "closeness"]);
    assert!(
        err.contains("betweenness, degree or uniform") && err.contains("closeness"),
        "{err}"
    );
    let missing = fashion()
        .args([
            "graph",
            "--measure",
            "knn",
            "--repr",
            "fc",
            "--checkpoint",
            "/nonexistent/ckpt",
        ])
        .args(["--out", "/nonexistent/out"])
        .output()
        .unwrap();
    assert!(!missing.status.success());
    let err = String::from_utf8_lossy(&missing.stderr);
    assert!(err.contains("/nonexistent/ckpt"), "{err}");
    assert!(!out.path().join("x").exists(), "nothing written on errors");
}

#[test]
fn report_writes_one_html_page_with_every_figure_and_table() {
    let ckpt = tempfile::tempdir().unwrap();
    tiny_checkpoint(ckpt.path());
    let out = tempfile::tempdir().unwrap();
    let dir = out.path().join("report");
    let run = fashion()
        .args([
            "report",
            "--per-class",
            "20",
            "--resamples",
            "100",
            "--graph-per-class",
            "4",
            "--dir",
            &real_dir(),
        ])
        .arg("--checkpoint")
        .arg(ckpt.path())
        .arg("--out")
        .arg(&dir)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(stdout.contains("analysis of 200 images"), "{stdout}");
    let html = std::fs::read_to_string(dir.join("report.html")).unwrap();
    let figures: Vec<String> = std::fs::read_dir(dir.join("figures"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    for f in [
        "learning_curves",
        "confusion",
        "per_class",
        "graph_correlation",
        "graph_lasso",
        "graph_knn",
        "forest",
        "clustering",
    ] {
        assert!(
            figures.contains(&format!("{f}.png")),
            "{f} missing: {figures:?}"
        );
        assert!(
            html.contains(&format!("<figure id=\"fig-{f}\"><img")),
            "{f}"
        );
    }
    // Every figure is embedded (the page needs no other file).
    assert_eq!(
        html.matches("src=\"data:image/png;base64,").count(),
        figures.len()
    );
    let csv = std::fs::read_to_string(dir.join("tables/centrality_errors.csv")).unwrap();
    // header + 3 measures × 4 representations × 2 + softmax + 4 kNN disagreement
    assert_eq!(csv.lines().count(), 1 + 24 + 1 + 4, "{csv}");
    assert!(csv.starts_with("measure,representation,detector,auc,auc_lower,auc_upper"));
    for t in ["clustering", "per_class", "history", "graph_knn", "timings"] {
        assert!(dir.join(format!("tables/{t}.csv")).exists(), "{t}");
    }
    // The node-level claim and the scorecard.
    for m in ["correlation", "lasso", "knn"] {
        let top = std::fs::read_to_string(dir.join(format!("tables/top_nodes_{m}.csv"))).unwrap();
        assert!(top.starts_with("representation,ranked_by,top,misclassified,expected,p_value"));
        assert_eq!(top.lines().count(), 1 + 4, "{top}");
        assert!(figures.contains(&format!("top_betweenness_{m}.png")));
    }
    let card = std::fs::read_to_string(dir.join("tables/scorecard.csv")).unwrap();
    assert!(
        card.starts_with("original_claim,measured,verdict\n"),
        "{card}"
    );
    assert_eq!(card.lines().count(), 1 + 5, "{card}");
    assert!(card.contains("original: its CNN reaches 89.1 % test accuracy"));
    assert!(html.contains("Reproduction scorecard"));
    assert!(
        html.contains("better than chance"),
        "the verdict is in the page"
    );

    // Neither a checkpoint nor --shared-run: refused before any work.
    let o = fashion()
        .args(["report", "--out"])
        .arg(out.path().join("none"))
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(!out.path().join("none").exists());
}

/// `fashion study` over two runs: each run's scores are kept, a second invocation reads
/// them back instead of recomputing, and a run whose scores are lost (as when the study
/// was killed before reaching it) is recomputed — the table is the same byte for byte.
#[test]
fn study_over_runs_keeps_scores_and_resumes_to_the_same_table() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    tiny_checkpoint_seeded(a.path(), 1);
    tiny_checkpoint_seeded(b.path(), 2);
    let out = tempfile::tempdir().unwrap();
    let study = || {
        let o = fashion()
            .args([
                "study",
                "--per-class",
                "20",
                "--resamples",
                "100",
                "--dir",
                &real_dir(),
            ])
            .arg("--checkpoint")
            .arg(a.path())
            .arg("--checkpoint")
            .arg(b.path())
            .arg("--out")
            .arg(out.path())
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&o.stdout).into_owned();
        assert!(
            o.status.success(),
            "{stdout}\n{}",
            String::from_utf8_lossy(&o.stderr)
        );
        stdout
    };
    let name = |d: &tempfile::TempDir| d.path().file_name().unwrap().to_string_lossy().into_owned();
    let scores = |d: &tempfile::TempDir| out.path().join(format!("scores-{}.csv", name(d)));
    let first = study();
    assert!(first.contains("200 images"), "{first}");
    assert!(first.contains("  pooled:"), "{first}");
    let table = std::fs::read_to_string(out.path().join("runs.csv")).unwrap();
    assert!(table.starts_with("measure,representation,detector,run,auc,auc_lower,auc_upper"));
    // 29 detectors × (2 runs + pooled)
    assert_eq!(table.lines().count(), 1 + 29 * 3, "{table}");
    assert_eq!(table.matches(",pooled,").count(), 29);
    let summary = std::fs::read_to_string(out.path().join("summary.csv")).unwrap();
    assert_eq!(summary.lines().count(), 1 + 3, "{summary}");
    for f in [
        "forest-pooled.png".to_string(),
        format!("forest-{}.png", name(&a)),
    ] {
        let png = std::fs::read(out.path().join(&f)).unwrap();
        assert!(png.starts_with(b"\x89PNG"), "{f}");
    }
    let second = study();
    assert_eq!(second.matches("scores read back").count(), 2, "{second}");
    assert_eq!(
        std::fs::read_to_string(out.path().join("runs.csv")).unwrap(),
        table
    );
    std::fs::remove_file(scores(&b)).unwrap();
    let third = study();
    assert_eq!(third.matches("scores read back").count(), 1, "{third}");
    assert!(scores(&b).exists());
    assert_eq!(
        std::fs::read_to_string(out.path().join("runs.csv")).unwrap(),
        table
    );
    // `fashion report --at-scale` shows the kept study beside the report's own.
    let report = |at_scale: &std::path::Path| {
        fashion()
            .args(["report", "--per-class", "20", "--resamples", "100"])
            .args(["--graph-per-class", "2", "--dir", &real_dir()])
            .arg("--checkpoint")
            .arg(a.path())
            .arg("--at-scale")
            .arg(at_scale)
            .arg("--out")
            .arg(out.path().join("report"))
            .output()
            .unwrap()
    };
    let o = report(out.path());
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let dir = out.path().join("report");
    let html = std::fs::read_to_string(dir.join("report.html")).unwrap();
    assert!(html.contains("The claim at scale"));
    assert!(html.contains("Pooled over the 2 runs (misclassified: the mean per run): On 200"));
    let figures: Vec<String> = std::fs::read_dir(dir.join("figures"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    for run in [name(&a), name(&b)] {
        assert!(
            html.contains(&format!("{run}: On 200 test images")),
            "{run}"
        );
        // Numbered, lower case, `.` replaced: forest_1__tmpabc.png.
        let file = format!("_{}.png", run.to_ascii_lowercase().replace('.', "_"));
        assert!(
            figures
                .iter()
                .any(|f| f.starts_with("forest_") && f.ends_with(&file)),
            "{run}: {figures:?}"
        );
    }
    assert!(dir.join("figures/forest_pooled.png").exists());
    let summary = std::fs::read_to_string(dir.join("tables/at_scale_summary.csv")).unwrap();
    assert_eq!(summary.lines().count(), 1 + 3, "{summary}");
    // The report's own study and the kept one saw the same 200 images: every detector
    // has its counterpart.
    let cmp = std::fs::read_to_string(dir.join("tables/at_scale_comparison.csv")).unwrap();
    assert_eq!(cmp.lines().count(), 1 + 29, "{cmp}");
    assert!(html.contains("lie on the same side of chance"));
    let empty = out.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let o = report(&empty);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success() && stderr.contains("--at-scale") && stderr.contains("scores-RUN.csv"),
        "{stderr}"
    );
    // Scores of other images (another --per-class) are not reused.
    let o = fashion()
        .args([
            "study",
            "--per-class",
            "10",
            "--resamples",
            "100",
            "--dir",
            &real_dir(),
        ])
        .arg("--checkpoint")
        .arg(a.path())
        .arg("--out")
        .arg(out.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{stdout}");
    assert!(
        stdout.contains("holds the scores of other test images (200 images, not the 100"),
        "{stdout}"
    );
    assert!(stdout.contains("100 images"), "{stdout}");
    // Bad arguments are refused with the reason.
    for (args, reason) in [
        (vec!["--per-class", "0"], "--per-class"),
        (vec!["--seeds", "0"], "--seeds"),
        (vec!["--per-class", "all", "--pivots", "0"], "--pivots"),
    ] {
        let o = fashion()
            .arg("study")
            .args(&args)
            .args(["--dir", &real_dir(), "--out"])
            .arg(out.path().join("bad"))
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert!(
            !o.status.success() && stderr.contains(reason),
            "{args:?}: {stderr}"
        );
    }
}

/// `fashion train` never trains over a run silently: a second run into the same
/// directory is refused with the way out named, `--overwrite` replaces the run and its
/// stale files, and `--resume` with `--overwrite` is a usage error.
#[test]
fn train_refuses_a_directory_holding_a_run_unless_told() {
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("run");
    let train = |extra: &[&str]| {
        let out = quick_train(1, 200)
            .arg("--out")
            .arg(&out_dir)
            .args(extra)
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.success(), text)
    };
    let (ok, text) = train(&[]);
    assert!(ok, "{text}");
    let best = std::fs::read(out_dir.join("best.safetensors")).unwrap();

    let (ok, text) = train(&[]);
    assert!(
        !ok,
        "a second run into the same directory must be refused: {text}"
    );
    assert!(
        text.contains("holds a finished run (1 epoch) of the same configuration")
            && text.contains("--overwrite")
            && text.contains("--resume"),
        "{text}"
    );
    assert_eq!(
        std::fs::read(out_dir.join("best.safetensors")).unwrap(),
        best
    );

    let (ok, text) = train(&["--resume", "--overwrite"]);
    assert!(!ok && text.contains("cannot be used with"), "{text}");

    std::fs::create_dir(out_dir.join("resume-009")).unwrap();
    std::fs::write(out_dir.join("notes.txt"), "mine").unwrap();
    let (ok, text) = train(&["--overwrite", "--seed", "9"]);
    assert!(ok, "{text}");
    assert!(
        !out_dir.join("resume-009").exists(),
        "stale resume point left"
    );
    assert!(
        out_dir.join("notes.txt").exists(),
        "a file not of the run was removed"
    );
    let config = std::fs::read_to_string(out_dir.join("config.json")).unwrap();
    assert!(config.contains("\"seed\": 9"), "{config}");
}

/// Uncompressed IDX files (no published checksums) work end to end with
/// `--allow-unverified` or `FASHION_MNIST_ALLOW_UNVERIFIED=1`, in every subcommand that
/// reads the data set, and are refused without, naming the file and both ways out.
#[test]
fn uncompressed_files_work_everywhere_once_unverified_data_is_allowed() {
    let raw = tempfile::tempdir().unwrap();
    for name in [
        "train-images-idx3-ubyte",
        "train-labels-idx1-ubyte",
        "t10k-images-idx3-ubyte",
        "t10k-labels-idx1-ubyte",
    ] {
        let gz = std::path::Path::new(&real_dir()).join(format!("{name}.gz"));
        let out = std::process::Command::new("gzip")
            .arg("-dc")
            .arg(&gz)
            .output()
            .expect("gzip runs");
        assert!(out.status.success(), "gzip -dc {}", gz.display());
        std::fs::write(raw.path().join(name), out.stdout).unwrap();
    }
    let work = tempfile::tempdir().unwrap();
    let ckpt = work.path().join("run");
    let run = |args: &[&str], env_allow: bool| {
        let mut cmd = fashion();
        cmd.args(args)
            .arg("--dir")
            .arg(raw.path())
            .env_remove("FASHION_MNIST_ALLOW_UNVERIFIED");
        if env_allow {
            cmd.env("FASHION_MNIST_ALLOW_UNVERIFIED", "1");
        }
        let out = cmd.output().unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.success(), text)
    };
    let ckpt_s = ckpt.to_str().unwrap();
    let train = [
        "train", "--quiet", "--epochs", "1", "--subset", "200", "--out", ckpt_s,
    ];

    let (ok, text) = run(&train, false);
    assert!(!ok, "{text}");
    assert!(
        text.contains("train-images-idx3-ubyte")
            && text.contains("--allow-unverified")
            && text.contains("FASHION_MNIST_ALLOW_UNVERIFIED=1"),
        "{text}"
    );

    let (ok, text) = run(&[&train[..], &["--allow-unverified"]].concat(), false);
    assert!(ok, "{text}");
    assert!(text.contains("test accuracy: "), "{text}");
    let (ok, text) = run(&["evaluate", "--checkpoint", ckpt_s], true);
    assert!(ok && text.contains("test accuracy: "), "{text}");
    let graph_out = work.path().join("graph");
    let graph = [
        "graph",
        "--checkpoint",
        ckpt_s,
        "--measure",
        "knn",
        "--repr",
        "fc",
        "--n-per-class",
        "3",
        "--allow-unverified",
        "--out",
        graph_out.to_str().unwrap(),
    ];
    let (ok, text) = run(&graph, false);
    assert!(ok && graph_out.join("graph.graphml").is_file(), "{text}");
    let report_out = work.path().join("report");
    let report = [
        "report",
        "--checkpoint",
        ckpt_s,
        "--per-class",
        "10",
        "--resamples",
        "20",
        "--graph-per-class",
        "3",
        "--out",
        report_out.to_str().unwrap(),
    ];
    let (ok, text) = run(&report, true);
    assert!(ok && report_out.join("report.html").is_file(), "{text}");
    let (ok, text) = run(&["data", "verify"], true);
    assert!(
        ok && text.contains("UNVERIFIED (unknown checksum)"),
        "{text}"
    );
}

/// What is bit-identical across CPUs, checked on this one by capping the kernels'
/// vector instructions with FASHION_SIMD (on an AVX2-only CPU the AVX-512 run is the
/// AVX2 run, and the check still holds): SmallCnn trains to the same weights on the
/// AVX-512, AVX2 and baseline paths; SeedCnn too between AVX2 and baseline (its direct
/// 1-D convolution kernels, AVX-512 only, sum in another order).
#[test]
fn training_is_bit_identical_across_vector_instruction_sets() {
    let work = tempfile::tempdir().unwrap();
    let train = |model: &str, simd: Option<&str>| {
        let out = work
            .path()
            .join(format!("{model}-{}", simd.unwrap_or("cpu")));
        let mut cmd = quick_train(1, 300);
        cmd.args(["--model", model])
            .arg("--out")
            .arg(&out)
            .env_remove("FASHION_SIMD");
        if let Some(level) = simd {
            cmd.env("FASHION_SIMD", level);
        }
        let run = cmd.output().unwrap();
        assert!(
            run.status.success(),
            "{}",
            String::from_utf8_lossy(&run.stderr)
        );
        // --no-test: the weights are compared, the test set is left alone.
        let stdout = String::from_utf8_lossy(&run.stdout);
        assert!(
            stdout.contains("test set not evaluated (--no-test")
                && !stdout.contains("test accuracy"),
            "{stdout}"
        );
        assert!(!out.join("test_predictions.csv").exists());
        assert!(!out.join("test_metrics.json").exists());
        std::fs::read(out.join("best.safetensors")).unwrap()
    };
    let small = train("small", None);
    assert_eq!(
        small,
        train("small", Some("avx2")),
        "SmallCnn: AVX2 path differs"
    );
    assert_eq!(
        small,
        train("small", Some("baseline")),
        "SmallCnn: baseline differs"
    );
    assert_eq!(
        train("seed", Some("avx2")),
        train("seed", Some("baseline")),
        "SeedCnn: AVX2 and baseline paths differ"
    );

    // A run trained with --no-test is evaluated later by `fashion evaluate`.
    let run = work.path().join("small-cpu");
    let eval = fashion()
        .args(["evaluate", "--dir", &real_dir(), "--checkpoint"])
        .arg(&run)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&eval.stdout);
    assert!(
        eval.status.success() && stdout.contains("test accuracy: "),
        "{stdout}{}",
        String::from_utf8_lossy(&eval.stderr)
    );
    assert!(run.join("test_predictions.csv").is_file());

    let bench = fashion()
        .args([
            "bench", "infer", "--steps", "1", "--warmup", "0", "--batch", "8",
        ])
        .env("FASHION_SIMD", "baseline")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&bench.stdout);
    assert!(stdout.contains("simd: baseline"), "{stdout}");
    // The GEMM kernels follow the CPU and the build (gemm_level), not FASHION_SIMD.
    let gemm = format!("gemm: {}", fashion::nn::gemm_level());
    assert!(stdout.contains(&gemm), "expected {gemm:?} in {stdout}");
}

/// History rows without the timing columns (`seconds`, `images_per_sec`,
/// `elapsed_seconds`), which legitimately differ between runs.
fn untimed_history(dir: &std::path::Path) -> Vec<String> {
    let text = std::fs::read_to_string(dir.join("history.csv")).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let keep: Vec<usize> = (0..header.len())
        .filter(|&i| !["seconds", "images_per_sec", "elapsed_seconds"].contains(&header[i]))
        .collect();
    assert!(keep.len() < header.len(), "no timing columns in {header:?}");
    text.lines()
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            keep.iter().map(|&i| f[i]).collect::<Vec<_>>().join(",")
        })
        .collect()
}

/// The number after `"key": ` in a JSON file, if any.
fn json_number(path: &std::path::Path, key: &str) -> Option<u64> {
    let text = std::fs::read_to_string(path).ok()?;
    let rest = &text[text.find(&format!("\"{key}\": "))? + key.len() + 4..];
    rest.split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()
}

/// `fashion train` killed with SIGKILL in the middle of an epoch, then resumed, ends
/// with the same best weights, best epoch and history as a run never interrupted.
#[test]
fn a_run_killed_mid_epoch_resumes_to_the_uninterrupted_result() {
    let work = tempfile::tempdir().unwrap();
    let cmd = |out: &std::path::Path| {
        let mut c = quick_train(3, 3000);
        c.arg("--out").arg(out);
        c
    };
    let full = work.path().join("full");
    let run = cmd(&full).output().unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    // The time to 91 % and 93 % validation accuracy: printed, and readable from the
    // running sum of the epochs' seconds in history.csv.
    let stdout = String::from_utf8_lossy(&run.stdout);
    let line = stdout
        .lines()
        .find(|l| l.starts_with("time to validation accuracy: 91 % "))
        .unwrap_or_else(|| panic!("{stdout}"));
    assert!(line.contains(", 93 % "), "{line}");
    let history = std::fs::read_to_string(full.join("history.csv")).unwrap();
    let header: Vec<&str> = history.lines().next().unwrap().split(',').collect();
    let at = |name: &str| header.iter().position(|h| *h == name).unwrap();
    let (secs, elapsed, acc) = (at("seconds"), at("elapsed_seconds"), at("valid_accuracy"));
    let mut total = 0.0;
    let mut first_91 = None;
    for row in history.lines().skip(1) {
        let f: Vec<f64> = row.split(',').map(|v| v.parse().unwrap()).collect();
        total += f[secs];
        assert!((f[elapsed] - total).abs() < 1e-9 * total, "{history}");
        if f[acc] >= 0.91 && first_91.is_none() {
            first_91 = Some((f[0], f[elapsed]));
        }
    }
    let expected = match first_91 {
        Some((epoch, s)) => format!("91 % {s:.0} s (epoch {epoch})"),
        None => format!("91 % not reached (3 epochs, {total:.0} s)"),
    };
    assert!(line.contains(&expected), "{line} vs {expected}");

    let killed = work.path().join("killed");
    let started = std::time::Instant::now();
    let mut child = cmd(&killed)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let state = killed.join("state.json");
    while json_number(&state, "epochs_done").unwrap_or(0) < 1 {
        assert!(
            child.try_wait().unwrap().is_none(),
            "the run ended before it could be killed"
        );
        assert!(started.elapsed().as_secs() < 600, "epoch 1 never finished");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    // About a third into epoch 2.
    std::thread::sleep(started.elapsed() / 3);
    assert!(
        child.try_wait().unwrap().is_none(),
        "the run ended before it could be killed"
    );
    child.kill().unwrap(); // SIGKILL: no chance to clean up
    child.wait().unwrap();
    let done = json_number(&state, "epochs_done").unwrap();
    assert!((1..3).contains(&done), "killed after {done} epochs");

    let run = cmd(&killed).arg("--resume").output().unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert_eq!(
        std::fs::read(killed.join("best.safetensors")).unwrap(),
        std::fs::read(full.join("best.safetensors")).unwrap(),
        "best weights differ"
    );
    assert_eq!(
        json_number(&state, "best_epoch"),
        json_number(&full.join("state.json"), "best_epoch")
    );
    assert_eq!(untimed_history(&killed), untimed_history(&full));
}

/// Trains `model` with `fashion train --quiet --model MODEL ARGS --out OUT` on the real
/// data and returns what it printed, checking that it succeeded.
fn quick_run(model: &str, args: &[&str], out: &std::path::Path) -> String {
    let run = fashion()
        .args(["train", "--quiet", "--model", model])
        .args(args)
        .args(["--dir", &real_dir()])
        .arg("--out")
        .arg(out)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&run.stdout).into_owned();
    assert!(
        run.status.success(),
        "{model}: {stdout}{}",
        String::from_utf8_lossy(&run.stderr)
    );
    stdout
}

/// [`quick_run`]'s test accuracy (`test accuracy: A (…)`).
fn quick_test_accuracy(model: &str, args: &[&str], out: &std::path::Path) -> f64 {
    let stdout = quick_run(model, args, out);
    stdout
        .lines()
        .find_map(|l| l.strip_prefix("test accuracy: "))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("{model}: no test accuracy in {stdout}"))
}

/// [`quick_run`] with `--no-test --valid-subset VALID_SUBSET`: the best epoch's
/// validation accuracy (`best epoch E (valid loss L, valid accuracy A); …`).
fn quick_valid_accuracy(model: &str, args: &[&str], out: &std::path::Path) -> f64 {
    let args = [&["--no-test", "--valid-subset", VALID_SUBSET], args].concat();
    let stdout = quick_run(model, &args, out);
    stdout
        .lines()
        .find(|l| l.starts_with("best epoch "))
        .and_then(|l| l.split("valid accuracy ").nth(1))
        .and_then(|rest| rest.split(')').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("{model}: no validation accuracy in {stdout}"))
}

/// The original project's ResNet-style network, as it wrote it and corrected, learns
/// from a quick run on real images: one epoch on 2 000 training images lifts each far
/// above chance (10 %) on 1 000 images of the validation split, which it never trained
/// on: at least 50 % (each accuracy is printed; run with `--nocapture` to see the
/// margin). The test set is left alone (`--no-test`): passing these networks over its
/// 10 000 images would cost more than their training. The original's other network,
/// SeedCnn, is held to 75 % on the test set after the quick configuration in
/// `the_quick_configuration_learns`.
#[test]
fn the_original_networks_learn_from_a_quick_run() {
    const AT_LEAST: f64 = 0.50;
    let work = tempfile::tempdir().unwrap();
    for model in ["resnet", "resnet-corrected"] {
        let out = work.path().join(model);
        let accuracy = quick_valid_accuracy(model, &["--epochs", "1", "--subset", "2000"], &out);
        println!("{model}: validation accuracy {accuracy:.4} after one quick epoch");
        assert!(
            accuracy >= AT_LEAST,
            "{model}: validation accuracy {accuracy} below {AT_LEAST}"
        );
        let config = std::fs::read_to_string(out.join("config.json")).unwrap();
        assert!(
            config.contains(&format!("\"kind\": \"{model}\"")),
            "{config}"
        );
        assert!(
            config.contains("\"train_subset\": 2000")
                && config.contains(&format!("\"valid_subset\": {VALID_SUBSET}")),
            "{config}"
        );
        assert!(!out.join("test_predictions.csv").exists());
    }
}

/// The quick configuration the notebooks train under `FASHION_FAST=1` (CI), the
/// shared run's 2 epochs on 4 000 images, actually learns, for SmallCnn and SeedCnn: at
/// least 75 % (SmallCnn) and 70 % (SeedCnn, whose quick run learns more slowly) on the
/// 10 000 test images. The bounds sit well below what the runs reach (printed; run with
/// `--nocapture`) so that only a broken recipe or kernel fails them, not a change of a
/// few tenths, such as another CPU's order of summation.
#[test]
fn the_quick_configuration_learns() {
    let work = tempfile::tempdir().unwrap();
    for (kind, at_least) in [
        (fashion::nn::ModelKind::Small, 0.75),
        (fashion::nn::ModelKind::Seed, 0.70),
    ] {
        let quick = fashion::train::shared_run_in_for(work.path(), true, kind);
        let subset = quick
            .config
            .train_subset
            .expect("the quick run trains on a subset");
        let valid = quick
            .config
            .valid_subset
            .expect("the quick run validates on a subset");
        let args = [
            "--epochs".to_string(),
            quick.config.epochs.to_string(),
            "--subset".to_string(),
            subset.to_string(),
            "--valid-subset".to_string(),
            valid.to_string(),
        ];
        let args = args.each_ref().map(String::as_str);
        let accuracy = quick_test_accuracy(kind.name(), &args, &quick.dir);
        println!(
            "{kind}: test accuracy {accuracy:.4} after the quick configuration ({} epochs on {subset} images)",
            quick.config.epochs
        );
        let trained = fashion::train::TrainConfig::load(&quick.dir.join("config.json")).unwrap();
        assert_eq!(
            trained, quick.config,
            "{kind}: the CLI trained another configuration"
        );
        assert!(
            accuracy >= at_least,
            "{kind}: test accuracy {accuracy} below {at_least}"
        );
    }
}

/// Output into a pipe whose reader has gone (`fashion bench train | head -1`) ends the
/// command quietly, by SIGPIPE as for other command-line tools, instead of a panic.
#[cfg(unix)]
#[test]
fn a_closed_output_pipe_ends_the_command_without_a_panic() {
    use std::os::unix::process::ExitStatusExt;
    let mut child = fashion()
        .args([
            "bench", "infer", "--steps", "1", "--warmup", "0", "--batch", "8",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Closed before the bench prints anything (it prints after its steps).
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(
        out.status.signal(),
        Some(libc::SIGPIPE),
        "{:?}: {stderr}",
        out.status
    );
}
