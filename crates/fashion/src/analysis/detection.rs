//! The experiment behind notebook 07: is an image's centrality in a similarity graph a
//! sign that the CNN misclassifies it?
//!
//! For every measure (correlation, lasso, kNN) and every representation (input pixels,
//! scaled pixels, feature map, dense embedding) the study builds the graph of the chosen
//! test images and uses each image's degree and betweenness as a *score* for "this image
//! is misclassified". A score that ranks the misclassified images above the correct ones
//! has ROC-AUC above 0.5; one that carries no information has 0.5. Each AUC and average
//! precision comes with a seeded percentile-bootstrap interval. Two baselines run on the
//! same images: the model's own uncertainty (1 − max softmax probability) and the kNN
//! label disagreement in each representation.
//!
//! ```
//! use fashion::analysis::{CentralityStudy, Detector, StudyParams};
//! use fashion::features::{Representation, Sampling};
//! use fashion::graph::Measure;
//! # use fashion::features::ImageFeatures;
//! # use fashion::ndarray::Array2;
//! # fn features() -> ImageFeatures {
//! #     let n = 40;
//! #     let labels: Vec<u8> = (0..n).map(|i| (i % 4) as u8).collect();
//! #     let predicted: Vec<u8> = (0..n).map(|i| if i % 5 == 0 { ((i + 1) % 4) as u8 } else { (i % 4) as u8 }).collect();
//! #     let x = Array2::from_shape_fn((n, 6), |(i, j)| ((i % 4) * 3 + j) as f32 + ((i * 7 + j * 3) % 11) as f32 * 0.3);
//! #     ImageFeatures { indices: (0..n).collect(), labels, predicted,
//! #         confidence: (0..n).map(|i| if i % 5 == 0 { 0.4 } else { 0.9 }).collect(),
//! #         input: x.clone(), scaled: x.clone(), map: x.clone(), dense: x }
//! # }
//! # fn main() -> fashion::Result<()> {
//! let features = features(); // 40 tiny synthetic "images", 8 misclassified
//! let params = StudyParams::default().measures(vec![Measure::knn()]).resamples(200).seed(1);
//! let study = CentralityStudy::run(&features, &params)?;
//! // kNN × 4 representations × {degree, betweenness}, the softmax baseline, 4 × kNN disagreement
//! assert_eq!(study.results.len(), 8 + 1 + 4);
//! let softmax = study.find(None, None, Detector::Uncertainty).unwrap();
//! assert_eq!(softmax.auc.estimate, 1.0); // the synthetic model knows when it is wrong
//! println!("{}", study.verdict());
//! # Ok(()) }
//! ```

use std::time::Instant;

use polars::prelude::*;
use rayon::prelude::*;

use super::{Interval, bootstrap_auc_ap, knn_label_disagreement};
use crate::error::{Error, ParamError, Result};
use crate::features::{ImageFeatures, Representation};
use crate::graph::{BetweennessParams, Centrality, Measure};

/// ROC-AUC from which the [verdict](CentralityStudy::verdict) calls the best centrality
/// detector "useful": 0.7 is where the usual reading of an AUC (Hosmer and Lemeshow,
/// *Applied Logistic Regression*) starts to speak of acceptable discrimination.
pub const USEFUL_AUC: f64 = 0.7;

/// ROC-AUC from which the verdict calls it "weak" rather than "very weak": below 0.6 a
/// detector ranks a random error above a random correct image barely more often than a
/// coin would (in that reading, 0.5–0.6 is no or failed discrimination).
pub const WEAK_AUC: f64 = 0.6;

/// A score used to detect misclassified images (higher = "more likely wrong").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Detector {
    /// The image's degree in a similarity graph.
    Degree,
    /// The image's betweenness in a similarity graph.
    Betweenness,
    /// Baseline: 1 − the model's largest softmax probability.
    Uncertainty,
    /// Baseline: the share of the image's k nearest neighbours (Euclidean, in a
    /// representation) that carry another true class.
    KnnDisagreement,
}

impl Detector {
    /// A short name: `degree`, `betweenness`, `1 − max softmax`, `kNN label disagreement`.
    pub fn name(self) -> &'static str {
        match self {
            Detector::Degree => "degree",
            Detector::Betweenness => "betweenness",
            Detector::Uncertainty => "1 − max softmax",
            Detector::KnnDisagreement => "kNN label disagreement",
        }
    }

    /// Whether the detector is a graph centrality (the seed's claim) rather than a
    /// baseline.
    pub fn is_centrality(self) -> bool {
        matches!(self, Detector::Degree | Detector::Betweenness)
    }
}

impl std::fmt::Display for Detector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Parameters of a [`CentralityStudy`].
#[derive(Debug, Clone, PartialEq)]
pub struct StudyParams {
    /// The similarity measures (default: the three with their defaults, see
    /// [`Measure`]).
    pub measures: Vec<Measure>,
    /// The representations (default: all four).
    pub representations: Vec<Representation>,
    /// Bootstrap resamples per interval (default 1000).
    pub resamples: usize,
    /// Confidence level of the intervals (default 0.95).
    pub level: f64,
    /// Seed of the bootstrap (default 0). Every interval uses the same resamples.
    pub seed: u64,
    /// Neighbours counted by the kNN-disagreement baseline (default 10).
    pub disagreement_k: usize,
    /// How betweenness is computed; `None` (default):
    /// [`BetweennessParams::for_nodes`] of the number of images — exact (Brandes) up to
    /// [`EXACT_BETWEENNESS_NODES`](crate::graph::EXACT_BETWEENNESS_NODES) images, else
    /// estimated from [`BETWEENNESS_PIVOTS`](crate::graph::BETWEENNESS_PIVOTS) pivots
    /// (Brandes–Pich). [`GraphStats::betweenness`] says which was used.
    pub betweenness: Option<BetweennessParams>,
}

impl Default for StudyParams {
    fn default() -> Self {
        StudyParams {
            measures: vec![Measure::correlation(), Measure::lasso(), Measure::knn()],
            representations: Representation::ALL.to_vec(),
            resamples: 1000,
            level: 0.95,
            seed: 0,
            disagreement_k: 10,
            betweenness: None,
        }
    }
}

impl StudyParams {
    /// Sets the measures.
    pub fn measures(mut self, measures: Vec<Measure>) -> Self {
        self.measures = measures;
        self
    }

    /// Sets the representations.
    pub fn representations(mut self, representations: Vec<Representation>) -> Self {
        self.representations = representations;
        self
    }

    /// Sets the number of bootstrap resamples.
    pub fn resamples(mut self, resamples: usize) -> Self {
        self.resamples = resamples;
        self
    }

    /// Sets the confidence level.
    pub fn level(mut self, level: f64) -> Self {
        self.level = level;
        self
    }

    /// Sets the bootstrap seed.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Sets the neighbours of the kNN-disagreement baseline.
    pub fn disagreement_k(mut self, k: usize) -> Self {
        self.disagreement_k = k;
        self
    }

    /// Sets how betweenness is computed (exact, or the pivots and their seed).
    pub fn betweenness(mut self, params: BetweennessParams) -> Self {
        self.betweenness = Some(params);
        self
    }

    /// The detectors a study with these parameters scores, in the order of its
    /// [`results`](CentralityStudy::results): for each measure and representation degree
    /// then betweenness, then the softmax baseline, then kNN disagreement per
    /// representation.
    pub fn detectors(&self) -> Vec<DetectorKey> {
        let mut keys = Vec::new();
        for m in &self.measures {
            for &r in &self.representations {
                keys.push((Some(m.name()), Some(r), Detector::Degree));
                keys.push((Some(m.name()), Some(r), Detector::Betweenness));
            }
        }
        keys.push((None, None, Detector::Uncertainty));
        for &r in &self.representations {
            keys.push((None, Some(r), Detector::KnnDisagreement));
        }
        keys
    }

    /// Checks every parameter, naming the first bad one: no measures, no
    /// representations, a measure's own parameters, `resamples` 0, `level` outside
    /// (0, 1), `disagreement_k` 0.
    pub fn check(&self) -> Result<(), ParamError> {
        if self.measures.is_empty() {
            return Err(ParamError::new("measures", "at least one measure", "none"));
        }
        if self.representations.is_empty() {
            return Err(ParamError::new(
                "representations",
                "at least one representation",
                "none",
            ));
        }
        for m in &self.measures {
            m.check()?;
        }
        if self.resamples == 0 {
            return Err(ParamError::new("resamples", "at least 1", 0));
        }
        if !(self.level > 0.0 && self.level < 1.0) {
            return Err(ParamError::new(
                "level",
                "a confidence level in (0, 1), e.g. 0.95",
                self.level,
            ));
        }
        if self.disagreement_k == 0 {
            return Err(ParamError::new("disagreement_k", "at least 1 neighbour", 0));
        }
        if let Some(b) = &self.betweenness {
            b.check()?;
        }
        Ok(())
    }
}

/// Which detector: the measure whose graph gives the score (`None` for the baselines),
/// the representation (`None` for the softmax baseline), the score.
pub type DetectorKey = (Option<&'static str>, Option<Representation>, Detector);

/// One detector's result: where it comes from and how well it finds the errors.
#[derive(Debug, Clone, PartialEq)]
pub struct DetectorResult {
    /// The measure whose graph gave the score (`None` for the baselines).
    pub measure: Option<&'static str>,
    /// The representation (`None` for the softmax baseline).
    pub representation: Option<Representation>,
    /// The score.
    pub detector: Detector,
    /// ROC-AUC with its bootstrap interval (0.5 = no better than chance).
    pub auc: Interval,
    /// Average precision with its bootstrap interval (chance = the error rate).
    pub average_precision: Interval,
}

impl DetectorResult {
    /// Where the interval lies relative to chance (0.5).
    pub fn against_chance(&self) -> Against {
        if self.auc.lower > 0.5 {
            Against::Above
        } else if self.auc.upper < 0.5 {
            Against::Below
        } else {
            Against::Includes
        }
    }

    /// A label such as `"kNN · dense embedding · betweenness"` or `"1 − max softmax"`.
    pub fn label(&self) -> String {
        detector_label(&(self.measure, self.representation, self.detector))
    }
}

/// The label of a detector, as [`DetectorResult::label`].
pub(crate) fn detector_label(key: &DetectorKey) -> String {
    let mut parts: Vec<&str> = Vec::new();
    if let Some(m) = key.0 {
        parts.push(m);
    }
    if let Some(r) = key.1 {
        parts.push(r.label());
    }
    parts.push(key.2.name());
    parts.join(" · ")
}

/// Where a ROC-AUC interval lies relative to 0.5.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Against {
    /// The whole interval is above 0.5: high scores mark misclassified images.
    Above,
    /// The interval contains 0.5: no evidence either way.
    Includes,
    /// The whole interval is below 0.5: high scores mark *correctly* classified images.
    Below,
}

/// Size and time of one graph built by the study.
#[derive(Debug, Clone, PartialEq)]
pub struct GraphStats {
    /// The measure.
    pub measure: &'static str,
    /// The representation.
    pub representation: Representation,
    /// The construction in effect (e.g. the lasso penalty chosen).
    pub construction: String,
    /// Number of edges.
    pub edges: usize,
    /// Mean degree.
    pub mean_degree: f64,
    /// Connected components.
    pub components: usize,
    /// Share of edges joining two images of the same class (`None` without edges).
    pub same_class_share: Option<f64>,
    /// Newman modularity of the true-class partition (`None` without edges).
    pub modularity: Option<f64>,
    /// Share of edges joining two images of the same garment type
    /// ([`garment_type`](super::garment_type); `None` without edges).
    pub same_type_share: Option<f64>,
    /// How betweenness was computed (exact, or estimated from k pivots with a seed).
    pub betweenness: String,
    /// Seconds to build the graph and its centralities.
    pub seconds: f64,
}

/// The result of [`CentralityStudy::run`].
#[derive(Debug, Clone)]
pub struct CentralityStudy {
    /// Images studied.
    pub images: usize,
    /// Of which misclassified.
    pub errors: usize,
    /// The parameters used.
    pub params: StudyParams,
    /// One entry per detector: for each measure and representation degree then
    /// betweenness, then the softmax baseline, then kNN disagreement per
    /// representation.
    pub results: Vec<DetectorResult>,
    /// One entry per graph, in the order built.
    pub graphs: Vec<GraphStats>,
    /// Seconds for the whole study (graphs, baselines, bootstrap).
    pub seconds: f64,
    /// Each detector's score of every image, in the order of [`results`](Self::results)
    /// (and of [`StudyParams::detectors`]).
    pub scores: Vec<Vec<f64>>,
    /// Whether each image is misclassified (what the scores try to detect).
    pub misclassified: Vec<bool>,
    same_type_chance: f64,
}

impl CentralityStudy {
    /// Runs the study on `features` (the images, their predictions and
    /// representations; e.g. 100 test images per class chosen with a seed).
    ///
    /// Errors: bad parameters; fewer than 2 images; no misclassified or no correctly
    /// classified image ([`Error::OneClassOnly`]); a graph builder's error (e.g. a
    /// constant row for correlation); `disagreement_k` not below the number of images.
    pub fn run(features: &ImageFeatures, params: &StudyParams) -> Result<CentralityStudy> {
        params.check()?;
        let start = Instant::now();
        let n = features.len();
        if n < 2 {
            return Err(Error::invalid("features", "at least 2 images", n));
        }
        let wrong: Vec<bool> = features.correct().iter().map(|&c| !c).collect();
        let errors = wrong.iter().filter(|&&w| w).count();
        if errors == 0 || errors == n {
            return Err(Error::OneClassOnly {
                metric: "centrality study (misclassified vs correct)",
                positives: errors,
                negatives: n - errors,
            });
        }

        // Scores: (measure, representation, detector, one value per image).
        type Scored = (
            Option<&'static str>,
            Option<Representation>,
            Detector,
            Vec<f64>,
        );
        let mut scored: Vec<Scored> = Vec::new();
        let mut graphs = Vec::new();
        let betweenness = params
            .betweenness
            .unwrap_or_else(|| BetweennessParams::for_nodes(n));
        for measure in &params.measures {
            for &r in &params.representations {
                let t = Instant::now();
                let g = features.graph(r, measure)?;
                let c = Centrality::compute_with(&g, &betweenness)?;
                graphs.push(GraphStats {
                    measure: measure.name(),
                    representation: r,
                    construction: g.construction().describe(),
                    edges: g.edge_count(),
                    mean_degree: g.mean_degree(),
                    components: c.components,
                    same_class_share: c.same_class_share,
                    modularity: c.modularity,
                    same_type_share: super::same_type_share(&g),
                    betweenness: c.betweenness_method(),
                    seconds: t.elapsed().as_secs_f64(),
                });
                let degree = c.degree.iter().map(|&d| d as f64).collect();
                scored.push((Some(measure.name()), Some(r), Detector::Degree, degree));
                scored.push((
                    Some(measure.name()),
                    Some(r),
                    Detector::Betweenness,
                    c.betweenness,
                ));
            }
        }
        let uncertainty = features
            .confidence
            .iter()
            .map(|&p| 1.0 - f64::from(p))
            .collect();
        scored.push((None, None, Detector::Uncertainty, uncertainty));
        for &r in &params.representations {
            let d = knn_label_disagreement(
                features.matrix(r),
                &features.labels,
                params.disagreement_k,
            )?;
            scored.push((None, Some(r), Detector::KnnDisagreement, d));
        }

        debug_assert!(
            scored
                .iter()
                .map(|s| (s.0, s.1, s.2))
                .eq(params.detectors())
        );
        let results = scored
            .par_iter()
            .map(|&(measure, representation, detector, ref scores)| {
                let (auc, average_precision) =
                    bootstrap_auc_ap(scores, &wrong, params.resamples, params.level, params.seed)?;
                Ok(DetectorResult {
                    measure,
                    representation,
                    detector,
                    auc,
                    average_precision,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(CentralityStudy {
            images: n,
            errors,
            params: params.clone(),
            results,
            graphs,
            seconds: start.elapsed().as_secs_f64(),
            scores: scored.into_iter().map(|s| s.3).collect(),
            misclassified: wrong,
            same_type_chance: super::same_type_chance(&features.labels),
        })
    }

    /// The error rate: the average precision of a detector that knows nothing.
    pub fn base_rate(&self) -> f64 {
        self.errors as f64 / self.images as f64
    }

    /// The result of one detector, if the study has it.
    pub fn find(
        &self,
        measure: Option<&str>,
        representation: Option<Representation>,
        detector: Detector,
    ) -> Option<&DetectorResult> {
        self.results.iter().find(|r| {
            r.measure == measure && r.representation == representation && r.detector == detector
        })
    }

    /// The centrality results (degree and betweenness), in study order.
    pub fn centrality_results(&self) -> impl Iterator<Item = &DetectorResult> {
        self.results.iter().filter(|r| r.detector.is_centrality())
    }

    /// One row per detector: `measure` (null for baselines), `representation` (null for
    /// the softmax baseline), `detector`, `auc`, `auc_lower`, `auc_upper`, `ap`,
    /// `ap_lower`, `ap_upper`, `base_rate` (chance level of `ap`), `vs_chance`
    /// (`above`, `includes` or `below` 0.5).
    pub fn table(&self) -> Result<DataFrame> {
        let r = &self.results;
        let col = |f: fn(&DetectorResult) -> f64| r.iter().map(f).collect::<Vec<f64>>();
        Ok(df!(
            "measure" => r.iter().map(|x| x.measure).collect::<Vec<_>>(),
            "representation" => r.iter().map(|x| x.representation.map(|v| v.label())).collect::<Vec<_>>(),
            "detector" => r.iter().map(|x| x.detector.name()).collect::<Vec<_>>(),
            "auc" => col(|x| x.auc.estimate),
            "auc_lower" => col(|x| x.auc.lower),
            "auc_upper" => col(|x| x.auc.upper),
            "ap" => col(|x| x.average_precision.estimate),
            "ap_lower" => col(|x| x.average_precision.lower),
            "ap_upper" => col(|x| x.average_precision.upper),
            "base_rate" => vec![self.base_rate(); r.len()],
            "vs_chance" => r.iter().map(|x| match x.against_chance() {
                Against::Above => "above",
                Against::Includes => "includes",
                Against::Below => "below",
            }).collect::<Vec<_>>(),
        )?)
    }

    /// Mean ROC-AUC of degree and of betweenness over the representations, one row per
    /// measure: `measure`, `degree`, `betweenness`, `representations` (how many were
    /// averaged). Which kind of centrality, in which graphs, comes closest to the claim.
    pub fn mean_auc_table(&self) -> Result<DataFrame> {
        let mut measures: Vec<&'static str> = Vec::new();
        for r in self.centrality_results() {
            if let Some(m) = r.measure
                && !measures.contains(&m)
            {
                measures.push(m);
            }
        }
        let mean = |m: &str, d: Detector| -> (f64, usize) {
            let v: Vec<f64> = self
                .results
                .iter()
                .filter(|r| r.measure == Some(m) && r.detector == d)
                .map(|r| r.auc.estimate)
                .collect();
            (v.iter().sum::<f64>() / v.len().max(1) as f64, v.len())
        };
        Ok(df!(
            "measure" => measures.clone(),
            "degree" => measures.iter().map(|m| mean(m, Detector::Degree).0).collect::<Vec<_>>(),
            "betweenness" => measures.iter().map(|m| mean(m, Detector::Betweenness).0).collect::<Vec<_>>(),
            "representations" => measures.iter().map(|m| mean(m, Detector::Degree).1 as u32).collect::<Vec<_>>(),
        )?)
    }

    /// Share of pairs of distinct studied images of the same garment type: what
    /// [`GraphStats::same_type_share`] would be for edges drawn at random.
    pub fn same_type_chance(&self) -> f64 {
        self.same_type_chance
    }

    /// One row per graph: `measure`, `representation`, `construction`, `edges`,
    /// `mean_degree`, `components`, `same_class_share`, `modularity`,
    /// `same_type_share`, `seconds`.
    pub fn graph_table(&self) -> Result<DataFrame> {
        let g = &self.graphs;
        Ok(df!(
            "measure" => g.iter().map(|x| x.measure).collect::<Vec<_>>(),
            "representation" => g.iter().map(|x| x.representation.label()).collect::<Vec<_>>(),
            "construction" => g.iter().map(|x| x.construction.clone()).collect::<Vec<_>>(),
            "edges" => g.iter().map(|x| x.edges as u64).collect::<Vec<_>>(),
            "mean_degree" => g.iter().map(|x| x.mean_degree).collect::<Vec<_>>(),
            "components" => g.iter().map(|x| x.components as u64).collect::<Vec<_>>(),
            "same_class_share" => g.iter().map(|x| x.same_class_share).collect::<Vec<_>>(),
            "modularity" => g.iter().map(|x| x.modularity).collect::<Vec<_>>(),
            "same_type_share" => g.iter().map(|x| x.same_type_share).collect::<Vec<_>>(),
            "betweenness" => g.iter().map(|x| x.betweenness.clone()).collect::<Vec<_>>(),
            "seconds" => g.iter().map(|x| x.seconds).collect::<Vec<_>>(),
        )?)
    }

    /// The verdict on the claim "images with high degree and betweenness are the ones the
    /// CNN misclassifies", computed from the intervals: how many of the centrality
    /// detectors are above, around and below chance, the best one and its strength, and
    /// the two baselines to compare with. The report renders it as a paragraph (its
    /// `Display`, in [`crate::report`]).
    pub fn verdict(&self) -> Verdict {
        Verdict::from_results(self.images, self.errors, self.params.level, &self.results)
    }
}

/// What the intervals say about the claim (see [`CentralityStudy::verdict`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Support {
    /// No centrality detector's interval lies above chance.
    NotSupported,
    /// Some lie above chance, but more lie below it (lower centrality where the
    /// network errs).
    Outweighed,
    /// Some lie above chance and no more lie below.
    Partly,
}

/// How good the best centrality detector is, by its ROC-AUC: from [`USEFUL_AUC`]
/// useful, from [`WEAK_AUC`] weak, else very weak.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strength {
    /// AUC ≥ [`USEFUL_AUC`].
    Useful,
    /// [`WEAK_AUC`] ≤ AUC < [`USEFUL_AUC`].
    Weak,
    /// AUC < [`WEAK_AUC`].
    VeryWeak,
}

/// The verdict of a [`CentralityStudy`] on the original project's claim: the numbers and
/// the categories; the report writes them as a paragraph.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    /// Images studied.
    pub images: usize,
    /// Of which misclassified.
    pub errors: usize,
    /// Confidence level of the intervals, e.g. 0.95.
    pub level: f64,
    /// Centrality detectors whose interval lies entirely above 0.5.
    pub above: usize,
    /// Centrality detectors whose interval includes 0.5.
    pub includes: usize,
    /// Centrality detectors whose interval lies entirely below 0.5.
    pub below: usize,
    /// The centrality detector with the highest AUC (`None` without centrality results).
    pub best: Option<DetectorResult>,
    /// The model's own uncertainty (1 − max softmax) as a detector, if studied.
    pub uncertainty: Option<DetectorResult>,
    /// The best kNN label-disagreement detector, if studied.
    pub knn_disagreement: Option<DetectorResult>,
}

impl Verdict {
    /// The verdict of a study's `results` (every detector's intervals) on `images`
    /// images of which `errors` are misclassified: the centrality detectors counted
    /// against chance, the best of them, and the two baselines.
    pub fn from_results(
        images: usize,
        errors: usize,
        level: f64,
        results: &[DetectorResult],
    ) -> Verdict {
        let central: Vec<&DetectorResult> = results
            .iter()
            .filter(|r| r.detector.is_centrality())
            .collect();
        let count = |a: Against| central.iter().filter(|r| r.against_chance() == a).count();
        let best_of = |rs: &mut dyn Iterator<Item = &DetectorResult>| {
            rs.max_by(|a, b| a.auc.estimate.total_cmp(&b.auc.estimate))
                .cloned()
        };
        Verdict {
            images,
            errors,
            level,
            above: count(Against::Above),
            includes: count(Against::Includes),
            below: count(Against::Below),
            best: best_of(&mut central.iter().copied()),
            uncertainty: results
                .iter()
                .find(|r| r.detector == Detector::Uncertainty)
                .cloned(),
            knn_disagreement: best_of(
                &mut results
                    .iter()
                    .filter(|r| r.detector == Detector::KnnDisagreement),
            ),
        }
    }

    /// What the counts say about the claim: not supported without an interval above
    /// chance, outweighed when more lie below than above, else partly supported.
    pub fn support(&self) -> Support {
        if self.above == 0 {
            Support::NotSupported
        } else if self.below > self.above {
            Support::Outweighed
        } else {
            Support::Partly
        }
    }

    /// The best detector's strength by [`USEFUL_AUC`] and [`WEAK_AUC`]; only when at least
    /// one interval lies above chance.
    pub fn strength(&self) -> Option<Strength> {
        let best = self.best.as_ref().filter(|_| self.above > 0)?;
        Some(if best.auc.estimate >= USEFUL_AUC {
            Strength::Useful
        } else if best.auc.estimate >= WEAK_AUC {
            Strength::Weak
        } else {
            Strength::VeryWeak
        })
    }

    /// Centrality detectors tested.
    pub fn total(&self) -> usize {
        self.above + self.includes + self.below
    }

    /// Share of misclassified images.
    pub fn base_rate(&self) -> f64 {
        self.errors as f64 / self.images as f64
    }

    /// How many of the intervals would exclude 0.5 by chance alone if no detector
    /// carried any signal: (1 − level) × total.
    pub fn expected_by_chance(&self) -> f64 {
        (1.0 - self.level) * self.total() as f64
    }

    /// Whether no more intervals lie above chance than chance alone would put outside
    /// 0.5 (rounded up): then even the detectors above chance are weak evidence.
    pub fn within_chance(&self) -> bool {
        (self.above as f64) <= self.expected_by_chance().ceil()
    }

    /// Whether the best centrality detector's interval lies entirely below the
    /// uncertainty baseline's.
    pub fn far_below_uncertainty(&self) -> bool {
        match (&self.best, &self.uncertainty) {
            (Some(b), Some(u)) => b.auc.upper < u.auc.lower,
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use ndarray::Array2;

    use super::*;

    /// `n` images of 4 classes in 6-d around well separated centres; every 5th image
    /// sits halfway between its class and another (a bridge: high betweenness) and is
    /// misclassified.
    fn features(n: usize) -> ImageFeatures {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        let labels: Vec<u8> = (0..n).map(|i| (i % 4) as u8).collect();
        let hub = |i: usize| i.is_multiple_of(5);
        let other = |i: usize| (i % 4 + 1 + (i / 5) % 3) % 4;
        let predicted: Vec<u8> = (0..n)
            .map(|i| {
                if hub(i) {
                    other(i) as u8
                } else {
                    (i % 4) as u8
                }
            })
            .collect();
        let centre = |c: usize, j: usize| if j == c { 8.0f32 } else { 0.0 };
        let x = Array2::from_shape_fn((n, 6), |(i, j)| {
            let c = i % 4;
            let at = if hub(i) {
                (centre(c, j) + centre(other(i), j)) / 2.0
            } else {
                centre(c, j)
            };
            at + rng.gen_range(-1.0f32..1.0)
        });
        ImageFeatures {
            indices: (0..n).collect(),
            labels,
            predicted,
            confidence: (0..n).map(|i| if hub(i) { 0.5 } else { 0.95 }).collect(),
            input: x.clone(),
            scaled: x.clone(),
            map: x.clone(),
            dense: x,
        }
    }

    #[test]
    fn parameters_are_checked_by_name() {
        let bad = [
            (StudyParams::default().measures(vec![]), "measures"),
            (
                StudyParams::default().representations(vec![]),
                "representations",
            ),
            (StudyParams::default().resamples(0), "resamples"),
            (StudyParams::default().level(1.0), "level"),
            (StudyParams::default().level(f64::NAN), "level"),
            (StudyParams::default().disagreement_k(0), "disagreement_k"),
        ];
        for (p, name) in bad {
            let e = p.check().unwrap_err().to_string();
            assert!(e.contains(name), "{e} should name {name}");
        }
        StudyParams::default().check().unwrap();
    }

    #[test]
    fn all_correct_or_all_wrong_is_an_error() {
        let mut f = features(20);
        f.predicted = f.labels.clone();
        let e = CentralityStudy::run(&f, &StudyParams::default().resamples(10));
        assert!(matches!(e, Err(Error::OneClassOnly { .. })), "{e:?}");
    }

    #[test]
    fn hubs_that_are_wrong_are_detected_and_the_study_is_seeded() {
        let f = features(60);
        let params = StudyParams::default()
            .measures(vec![Measure::knn(), Measure::correlation()])
            .resamples(300)
            .seed(5);
        let a = CentralityStudy::run(&f, &params).unwrap();
        assert_eq!(a.images, 60);
        assert_eq!(a.errors, 12);
        // 2 measures × 4 representations × 2 + softmax + 4 disagreement
        assert_eq!(a.results.len(), 16 + 1 + 4);
        assert_eq!(a.graphs.len(), 8);
        let soft = a.find(None, None, Detector::Uncertainty).unwrap();
        assert_eq!(soft.auc.estimate, 1.0);
        assert_eq!(soft.average_precision.estimate, 1.0);
        // The misclassified images sit between the classes: in the kNN graph they are
        // the bridges, so betweenness finds them.
        let b = a
            .find(
                Some("knn"),
                Some(Representation::Dense),
                Detector::Betweenness,
            )
            .unwrap();
        assert!(b.auc.estimate > 0.8, "{b:?}");
        assert_eq!(b.against_chance(), Against::Above);
        for r in &a.results {
            assert!(r.auc.lower <= r.auc.estimate && r.auc.estimate <= r.auc.upper);
            assert_eq!(r.auc.resamples_used + r.auc.skipped, 300);
        }
        // Same seed → same intervals; another seed → other intervals.
        let again = CentralityStudy::run(&f, &params).unwrap();
        assert_eq!(a.results, again.results);
        let other = CentralityStudy::run(&f, &params.clone().seed(6)).unwrap();
        assert_ne!(a.results, other.results);

        let t = a.table().unwrap();
        assert_eq!(t.height(), 21);
        assert_eq!(t.width(), 11);
        assert_eq!(a.graph_table().unwrap().height(), 8);
        let v = a.verdict().to_string();
        assert!(v.contains("60 test images (12 misclassified"), "{v}");
        assert!(
            v.contains("1 − max softmax") || v.contains("uncertainty"),
            "{v}"
        );
        let svg = crate::plot::render_svg(&a.forest().unwrap()).unwrap().0;
        assert!(svg.contains("kNN graphs") && svg.contains("baselines"));
    }

    #[test]
    fn verdict_counts_match_the_intervals() {
        let f = features(60);
        let a = CentralityStudy::run(
            &f,
            &StudyParams::default()
                .measures(vec![Measure::knn()])
                .resamples(200),
        )
        .unwrap();
        let above = a
            .centrality_results()
            .filter(|r| r.against_chance() == Against::Above)
            .count();
        let verb = if above == 1 { "does" } else { "do" };
        let verdict = a.verdict();
        assert_eq!(verdict.above, above);
        assert_eq!(
            verdict.total(),
            verdict.above + verdict.includes + verdict.below
        );
        assert!(
            verdict
                .to_string()
                .contains(&format!("{above} {verb} better than chance"))
        );
    }
}
