//! The report of a trained run: what `fashion report` writes. The same steps as the
//! notebooks — training history (02), test evaluation (03), the graphs of the three
//! measures on the four representations (04–06), the centrality-versus-errors study and
//! the clustering (07) — collected into one [`Report`].

use std::time::Instant;

use polars::prelude::*;

use super::Report;
use super::evaluation::emit_evaluation;
use crate::Result;
use crate::analysis::{
    CentralityStudy, ClusteringParams, ClusteringStudy, NodeClaim, RankBy, RunsStudy, Scorecard,
    StudyParams,
};
use crate::data::FashionMnist;
use crate::eval::TestResults;
use crate::features::{
    Comparison, FeatureParams, GRAPH_PER_CLASS, ImageFeatures, Representation, STUDY_PER_CLASS,
    STUDY_SAMPLE_SEED, train_standardizer,
};
use crate::graph::{LayoutParams, Measure};
use crate::plot::LearningCurves;
use crate::train::Trained;

/// What [`run_report`] computes.
#[derive(Debug, Clone, PartialEq)]
pub struct ReportOptions {
    /// Images per class of the drawn graphs (default 10, the original project's 100
    /// images: the first of each class in test order).
    pub graph_per_class: usize,
    /// Images per class of the centrality study and the clustering (default 100,
    /// drawn at random with `sample_seed`).
    pub study_per_class: usize,
    /// Seed of the study's image sample (default 7, as notebook 07).
    pub sample_seed: u64,
    /// The study's parameters (default: three measures, four representations, 1000
    /// bootstrap resamples, 95 %).
    pub study: StudyParams,
    /// The clustering's parameters.
    pub clustering: ClusteringParams,
    /// The measures drawn as graphs (default: correlation, lasso, kNN).
    pub measures: Vec<Measure>,
    /// A study over several runs on many images (`fashion study`'s kept scores, read
    /// back with [`RunScores::read_dir`](crate::analysis::RunScores::read_dir)): adds
    /// the section "The claim at scale" (default none).
    pub at_scale: Option<RunsStudy>,
}

impl Default for ReportOptions {
    fn default() -> Self {
        ReportOptions {
            graph_per_class: GRAPH_PER_CLASS,
            study_per_class: STUDY_PER_CLASS,
            sample_seed: STUDY_SAMPLE_SEED,
            study: StudyParams::default(),
            clustering: ClusteringParams::default(),
            measures: vec![Measure::correlation(), Measure::lasso(), Measure::knn()],
            at_scale: None,
        }
    }
}

/// Seconds spent in each part of [`run_report`].
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct ReportTimings {
    /// Test-set evaluation.
    pub evaluation: f64,
    /// The drawn graphs.
    pub graphs: f64,
    /// Features of the study's images.
    pub features: f64,
    /// The centrality study.
    pub study: f64,
    /// The clustering.
    pub clustering: f64,
}

impl ReportTimings {
    /// The analysis of notebook 07 (features, study, clustering).
    pub fn analysis(&self) -> f64 {
        self.features + self.study + self.clustering
    }
}

/// Builds the report of `trained` on the official test set of `data`.
///
/// Errors: any step's (evaluation, graph builders, the study, the clustering, charts).
pub fn run_report(
    trained: &Trained,
    data: &FashionMnist,
    options: &ReportOptions,
) -> Result<(Report, ReportTimings)> {
    let mut times = ReportTimings::default();
    let config = &trained.config;
    let mut r = Report::new(format!(
        "Fashion-MNIST in Rust — report of {}",
        trained.dir.display()
    ));
    r.paragraph(format!(
        "Network {} with {} parameters, trained for {} epochs (batch {}, learning rate {}, \
         seed {}{}). Everything below is computed from this checkpoint; the tables are in \
         tables/ as CSV and the figures in figures/ as PNG.",
        config.model.kind,
        trained.model.num_params(),
        trained.history.epochs.len(),
        config.batch_size,
        config.learning_rate,
        config.seed,
        match (config.train_subset, config.valid_subset) {
            (Some(n), Some(v)) =>
                format!(", on a subset of {n} training images, validated on {v} images"),
            (Some(n), None) => format!(", on a subset of {n} training images"),
            (None, Some(v)) => format!(", validated on {v} images of the validation split"),
            (None, None) => String::new(),
        }
    ));

    // 1. Training (notebook 02).
    r.heading("Training");
    if let Some(best) = trained.history.best() {
        r.paragraph(format!(
            "Best epoch {} of {}: validation loss {:.4}, validation accuracy {:.4}.",
            best.epoch,
            trained.history.epochs.len(),
            best.valid_loss,
            best.valid_accuracy
        ));
    }
    r.figure(
        "learning_curves",
        "Training and validation loss and accuracy per epoch",
        &LearningCurves::new(&trained.history)?,
    )?;
    r.table("history", "History per epoch", &trained.history.to_frame()?)?;

    // 2. Evaluation (notebook 03).
    let t = Instant::now();
    let results = TestResults::compute(&trained.model, &data.test)?;
    times.evaluation = t.elapsed().as_secs_f64();
    let eval = &results.evaluation;
    r.heading("Test evaluation");
    r.paragraph(format!(
        "On the {} official test images: accuracy {:.4}, loss {:.4}.",
        eval.labels.len(),
        eval.accuracy,
        eval.loss
    ));
    emit_evaluation(&results, &data.test, &mut r)?;

    // 3. Graphs (notebooks 04–06).
    let t = Instant::now();
    // Fitted once on the training split, shared by both image sets.
    let standardizer = train_standardizer(data, &trained.config)?;
    let features_of = |params: FeatureParams| {
        params.check()?;
        ImageFeatures::compute(&trained.model, &data.test, &standardizer, &params)
    };
    let few = features_of(FeatureParams::default().per_class(options.graph_per_class))?;
    r.heading("Similarity graphs");
    r.paragraph(format!(
        "{} test images (the first {} of each class), {} classified correctly, in four \
         representations. Node colour: true class; size: betweenness (as in the original \
         project's figures); ring: misclassified. Below each panel: the images with the \
         highest betweenness and degree in the dense-embedding and feature-map graphs, \
         and how many of them are misclassified against what a random draw would give.",
        few.len(),
        options.graph_per_class,
        few.correct().iter().filter(|&&c| c).count()
    ));
    for m in &options.measures {
        let cmp = Comparison::compute(&few, m, &LayoutParams::default())?;
        r.figure(
            &format!("graph_{}", m.name()),
            format!("{} graphs on the four representations", m.name()),
            &cmp.panel()?,
        )?;
        r.paragraph(cmp.statement().to_string());
        r.table(
            &format!("graph_{}", m.name()),
            format!("The {} graphs in numbers", m.name()),
            &cmp.summary()?,
        )?;
        let claim = NodeClaim::compute(
            &cmp,
            &few,
            &[Representation::Dense, Representation::Map],
            10,
        )?;
        for top in &claim.tops {
            r.paragraph(top.to_string());
        }
        r.table(
            &format!("top_nodes_{}", m.name()),
            format!("The top 10 nodes of the {} graphs against chance", m.name()),
            &claim.summary()?,
        )?;
        if let Some(top) = claim.get(Representation::Dense, RankBy::Betweenness) {
            r.table(
                &format!("top_betweenness_{}", m.name()),
                format!(
                    "The 10 images with the highest betweenness, {} graph of the dense embedding",
                    m.name()
                ),
                &top.table()?,
            )?;
            r.figure(
                &format!("top_betweenness_{}", m.name()),
                format!(
                    "The 10 images with the highest betweenness, {} graph of the dense embedding",
                    m.name()
                ),
                &top.gallery(&data.test)?,
            )?;
        }
    }
    times.graphs = t.elapsed().as_secs_f64();

    // 4. Centrality vs errors and clustering (notebook 07).
    let t = Instant::now();
    let many = features_of(
        FeatureParams::default()
            .per_class(options.study_per_class)
            .random(options.sample_seed),
    )?;
    times.features = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let study = CentralityStudy::run(&many, &options.study)?;
    times.study = t.elapsed().as_secs_f64();
    r.heading("Is high centrality where the network errs?");
    r.paragraph(format!(
        "{} test images ({} per class, drawn with seed {}). Degree and betweenness in each \
         graph are used as scores for \"this image is misclassified\"; ROC-AUC 0.5 is \
         chance. Intervals: percentile bootstrap, {} resamples, {:.0} %. Baselines: the \
         network's uncertainty (1 − max softmax) and the share of each image's {} nearest \
         neighbours with another label.",
        many.len(),
        options.study_per_class,
        options.sample_seed,
        options.study.resamples,
        100.0 * options.study.level,
        options.study.disagreement_k
    ));
    r.figure(
        "forest",
        "ROC-AUC of each detector with its bootstrap interval",
        &study.forest()?,
    )?;
    r.paragraph(study.verdict().to_string());
    r.table("centrality_errors", "Every detector", &study.table()?)?;
    r.table(
        "study_graphs",
        "The graphs of the study",
        &study.graph_table()?,
    )?;
    if let Some(scale) = &options.at_scale {
        emit_at_scale(scale, &study, &mut r)?;
    }

    let t = Instant::now();
    let clusters = ClusteringStudy::run(&many, &Representation::ALL, &options.clustering)?;
    times.clustering = t.elapsed().as_secs_f64();
    r.heading("Clustering without labels");
    r.figure(
        "clustering",
        "Adjusted Rand index and purity of k-means and a Gaussian mixture",
        &clusters.chart()?,
    )?;
    r.paragraph(clusters.statement().to_string());
    r.table("clustering", "Clustering scores", &clusters.table()?)?;

    r.heading("Reproduction scorecard");
    r.paragraph(format!(
        "Each claim of the original project against what this run measures: test accuracy \
         and recall on the official test set, the rest on the study's {1} images and their \
         graphs. The claims and the original's numbers come from {0}; every number in the \
         measured and verdict columns is computed from this run.",
        crate::analysis::original::SOURCE,
        many.len()
    ));
    r.table(
        "scorecard",
        "Original claim, what we measured, verdict",
        &Scorecard::compute(&results.confusion, &study).table()?,
    )?;

    r.heading("Timings");
    let timing = df!(
        "step" => ["test evaluation", "drawn graphs", "study features", "centrality study", "clustering"],
        "seconds" => [times.evaluation, times.graphs, times.features, times.study, times.clustering],
    )?;
    r.table("timings", "Seconds per step on this machine", &timing)?;
    Ok((r, times))
}

/// The section "The claim at scale": a study over several runs (networks or training
/// seeds) on many images, each run's forest plot and verdict, the pooled verdict, and
/// the comparison with this report's own, smaller study.
fn emit_at_scale(scale: &RunsStudy, small: &CentralityStudy, r: &mut Report) -> Result<()> {
    r.heading("The claim at scale");
    r.paragraph(format!(
        "The same detectors on {} test images for each of {} runs ({}), from the scores \
         `fashion study` kept. Intervals: percentile bootstrap, {} resamples, {:.0} %; \
         pooled = the mean AUC over the runs, with a paired bootstrap (each resample draws \
         one set of images for all runs).",
        scale.images,
        scale.names.len(),
        scale.names.join(", "),
        scale.params.resamples,
        100.0 * scale.params.level
    ));
    r.table(
        "at_scale_summary",
        "Per run and pooled: centrality detectors against chance, the best one, the network's uncertainty",
        &scale.summary_table()?,
    )?;
    for (i, name) in scale.names.iter().enumerate() {
        r.figure(
            // Numbered: two names may differ only where `file_safe` changes them.
            &format!("forest_{}_{}", i + 1, file_safe(name)),
            format!(
                "{name}: ROC-AUC of each detector on {} images",
                scale.images
            ),
            &scale.forest(Some(i))?,
        )?;
        r.paragraph(format!("{name}: {}", scale.verdict(Some(i))?));
    }
    if scale.names.len() > 1 {
        r.figure(
            "forest_pooled",
            format!("Pooled over the {} runs", scale.names.len()),
            &scale.forest(None)?,
        )?;
        r.paragraph(format!(
            "Pooled over the {} runs (misclassified: the mean per run): {}",
            scale.names.len(),
            scale.verdict(None)?
        ));
    }
    let cmp = scale.compare(small)?;
    let ratios: Vec<f64> = cmp
        .column("width_ratio")?
        .f64()?
        .into_no_null_iter()
        .collect();
    let same_side = cmp.column("same_side")?.bool()?;
    let same = (0..cmp.height())
        .filter(|&i| same_side.get(i) == Some(true))
        .count();
    let mean_ratio = ratios.iter().sum::<f64>() / ratios.len().max(1) as f64;
    r.paragraph(format!(
        "Against this report's study of {} images: the pooled intervals are on average \
         {mean_ratio:.1}× narrower, and {same} of the {} detectors lie on the same side of \
         chance (above, below, or including 0.5) in both.",
        small.images,
        cmp.height()
    ));
    r.table(
        "at_scale_comparison",
        "Each detector: this report's study beside the pooled study at scale",
        &cmp,
    )?;
    Ok(())
}

/// A run name as part of a figure's file name: lower-case ASCII letters, digits, `-`
/// and `_`, anything else replaced by `_`.
fn file_safe(name: &str) -> String {
    name.chars()
        .map(|c| {
            let c = c.to_ascii_lowercase();
            if c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}
