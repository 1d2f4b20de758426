//! Four representations of a set of test images, and one similarity measure compared
//! across them — the input of the graph notebooks (04–06) and `fashion graph`.
//!
//! # The four representations
//!
//! | [`Representation`] | CLI name | columns | what |
//! |---|---|---|---|
//! | [`Input`](Representation::Input) | `input` | 784 | **input pixels**: the pixels ÷ 255, as the network sees them |
//! | [`Scaled`](Representation::Scaled) | `scaled` | 784 | **scaled pixels**: ÷ 255, then standardised per pixel with the mean and standard deviation of the run's *training split* ([`train_standardizer`]) |
//! | [`Map`](Representation::Map) | `map` | 1152 | the last convolutional feature map, flattened (`SmallCnn`: 128 × 3 × 3) |
//! | [`Dense`](Representation::Dense) | `fc` | 128 | the embedding of the last hidden dense layer |
//!
//! So "input" is the plain ÷ 255 scaling and "scaled" the standardisation: the names
//! follow the issue's "input pixels, scaled pixels, 1152 map, 128 dense". (Raw 0–255
//! pixels would give the same correlation, lasso and kNN graphs as ÷ 255: all three are
//! invariant to one common factor.)
//!
//! # The images
//!
//! [`FeatureParams`]: by default the original project's choice, the first 10 test
//! images of each class in test order — 100 images ordered by class, then test index;
//! or the first `N` of each class, or `N` per class drawn with a ChaCha8 seed, up to all
//! 1 000 per class (10 000).
//!
//! ```no_run
//! use fashion::data::FashionMnist;
//! use fashion::features::{Comparison, FeatureParams, ImageFeatures, Representation};
//! use fashion::graph::{LayoutParams, Measure};
//! use fashion::train::{self, shared_run, TrainOptions};
//!
//! # fn main() -> fashion::Result<()> {
//! let run = shared_run();
//! let data = FashionMnist::load_default()?;
//! let trained = train::train_or_load(&run.config, &data, &run.dir, TrainOptions::default())?;
//! let features = ImageFeatures::for_run(&trained, &data, &FeatureParams::default())?;
//! assert_eq!(features.matrix(Representation::Map).dim(), (100, 1152));
//! let knn = Comparison::compute(&features, &Measure::knn(), &LayoutParams::default())?;
//! println!("{}", knn.statement());
//! # Ok(()) }
//! ```

use ndarray::{Array2, Axis};
use polars::prelude::*;
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

use crate::data::{
    CLASS_NAMES, Dataset, FashionMnist, NUM_CLASSES, SplitConfig, Standardizer, stratified_split,
};
use crate::error::{Error, ParamError, Result};
use crate::graph::{
    Centrality, Layout, LayoutParams, Measure, NodeInfo, SimilarityGraph, fruchterman_reingold,
};
use crate::nn::Model;
use crate::train::{TrainConfig, Trained};

/// One of the four representations of an image (see the [module](self) table).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Representation {
    /// Input pixels: ÷ 255 (784 columns).
    Input,
    /// Scaled pixels: ÷ 255, then standardised per pixel with training-split statistics
    /// (784 columns).
    Scaled,
    /// The last convolutional feature map, flattened (1152 columns for `SmallCnn`).
    Map,
    /// The last hidden dense layer's embedding (128 columns for `SmallCnn`).
    Dense,
}

impl Representation {
    /// The four, in panel order: input, scaled, map, dense.
    pub const ALL: [Representation; 4] = [
        Representation::Input,
        Representation::Scaled,
        Representation::Map,
        Representation::Dense,
    ];

    /// The command-line name: `input`, `scaled`, `map` or `fc`.
    pub fn name(self) -> &'static str {
        match self {
            Representation::Input => "input",
            Representation::Scaled => "scaled",
            Representation::Map => "map",
            Representation::Dense => "fc",
        }
    }

    /// A short description without the width, e.g. `"scaled pixels"`.
    pub fn label(self) -> &'static str {
        match self {
            Representation::Input => "input pixels",
            Representation::Scaled => "scaled pixels",
            Representation::Map => "feature map",
            Representation::Dense => "dense embedding",
        }
    }

    /// A chart title with the width `dim`, e.g. `"feature map (1152)"`,
    /// `"input pixels (784, ÷255)"`.
    pub fn title(self, dim: usize) -> String {
        match self {
            Representation::Input => format!("input pixels ({dim}, ÷255)"),
            Representation::Scaled => format!("scaled pixels ({dim}, standardised)"),
            _ => format!("{} ({dim})", self.label()),
        }
    }
}

impl std::str::FromStr for Representation {
    type Err = Error;

    /// `input` (or `pixels`), `scaled` (or `standardized`, `standardised`), `map` (or
    /// `conv`), `fc` (or `dense`); case-insensitive.
    fn from_str(s: &str) -> Result<Representation> {
        match s.to_ascii_lowercase().as_str() {
            "input" | "pixels" => Ok(Representation::Input),
            "scaled" | "standardized" | "standardised" => Ok(Representation::Scaled),
            "map" | "conv" => Ok(Representation::Map),
            "fc" | "dense" => Ok(Representation::Dense),
            _ => Err(Error::invalid(
                "representation",
                "input, scaled, map or fc",
                s,
            )),
        }
    }
}

impl std::fmt::Display for Representation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Which `per_class` images of each class are taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sampling {
    /// The first ones in test order (the original project's choice).
    First,
    /// A seeded random draw (ChaCha8, one generator for classes 0 to 9 in turn).
    Random {
        /// The seed.
        seed: u64,
    },
}

/// Which test images [`ImageFeatures`] takes, and how many at a time go through the
/// network. Default: the first 10 of each class, batches of 250.
///
/// ```
/// use fashion::features::{FeatureParams, Sampling};
/// let p = FeatureParams::default().per_class(25).random(7);
/// assert_eq!((p.per_class, p.sampling), (25, Sampling::Random { seed: 7 }));
/// assert!(FeatureParams::default().per_class(0).check().is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FeatureParams {
    /// Images per class, `1..=` the smallest class's count (1 000 in the test set).
    pub per_class: usize,
    /// First or random.
    pub sampling: Sampling,
    /// Images per forward pass (does not change the result).
    pub batch: usize,
}

/// Images per class of the drawn graphs (notebooks 04–06, `fashion graph`, the report's
/// graphs): 10, the first of each class in test order — the original project's 100
/// images.
pub const GRAPH_PER_CLASS: usize = 10;

/// Images per class of the centrality study and the clustering (notebook 07,
/// `fashion report`): 100, drawn at random — 1 000 images, enough for ~75 errors.
pub const STUDY_PER_CLASS: usize = 100;

/// Seed drawing the study's images ([`FeatureParams::study`]).
pub const STUDY_SAMPLE_SEED: u64 = 7;

impl Default for FeatureParams {
    fn default() -> Self {
        FeatureParams {
            per_class: GRAPH_PER_CLASS,
            sampling: Sampling::First,
            batch: 250,
        }
    }
}

impl FeatureParams {
    /// The study's images: [`STUDY_PER_CLASS`] per class drawn with
    /// [`STUDY_SAMPLE_SEED`], as notebook 07 and `fashion report` take them.
    ///
    /// ```
    /// use fashion::features::{FeatureParams, Sampling};
    /// let p = FeatureParams::study();
    /// assert_eq!((p.per_class, p.sampling), (100, Sampling::Random { seed: 7 }));
    /// ```
    pub fn study() -> FeatureParams {
        FeatureParams::default()
            .per_class(STUDY_PER_CLASS)
            .random(STUDY_SAMPLE_SEED)
    }

    /// Sets the number of images per class.
    pub fn per_class(mut self, n: usize) -> Self {
        self.per_class = n;
        self
    }

    /// The first images of each class.
    pub fn first(mut self) -> Self {
        self.sampling = Sampling::First;
        self
    }

    /// A seeded random draw in each class.
    pub fn random(mut self, seed: u64) -> Self {
        self.sampling = Sampling::Random { seed };
        self
    }

    /// Sets the forward-pass batch size.
    pub fn batch(mut self, batch: usize) -> Self {
        self.batch = batch;
        self
    }

    /// Checks `per_class ≥ 1` and `batch ≥ 1` ([`ParamError`]); that
    /// every class has `per_class` images is checked by [`select_images`].
    pub fn check(&self) -> Result<(), ParamError> {
        if self.per_class == 0 {
            return Err(ParamError::new(
                "per_class",
                "at least 1 image per class",
                0,
            ));
        }
        if self.batch == 0 {
            return Err(ParamError::new("batch", "at least 1", 0));
        }
        Ok(())
    }
}

/// The indices into `test` of the images [`FeatureParams`] asks for: class 0's, then
/// class 1's, …, each class's in ascending index order.
///
/// Errors: the parameters' ([`FeatureParams::check`]); a class with fewer than
/// `per_class` images ([`Error::Params`] naming `per_class` and the class).
pub fn select_images(test: &Dataset, params: &FeatureParams) -> Result<Vec<usize>> {
    params.check()?;
    let mut rng = match params.sampling {
        Sampling::First => None,
        Sampling::Random { seed } => Some(ChaCha8Rng::seed_from_u64(seed)),
    };
    let mut out = Vec::with_capacity(params.per_class * NUM_CLASSES);
    for (class, name) in CLASS_NAMES.iter().enumerate() {
        let mut idx = test.indices_of_class(class);
        if idx.len() < params.per_class {
            return Err(Error::invalid(
                "per_class",
                format!(
                    "at most {} (class {class}, {}, has {} images)",
                    idx.len(),
                    name,
                    idx.len()
                ),
                params.per_class,
            ));
        }
        if let Some(rng) = rng.as_mut() {
            idx.shuffle(rng);
        }
        idx.truncate(params.per_class);
        idx.sort_unstable();
        out.extend(idx);
    }
    Ok(out)
}

/// The per-pixel standardisation of [`Representation::Scaled`]: fitted on the training
/// split of `config` (the official training set split by [`stratified_split`] with the
/// configuration's `valid_fraction` and `seed`, all of it even when the run trained on
/// a subset).
///
/// Errors: an invalid `valid_fraction` or a split leaving no training image.
pub fn train_standardizer(data: &FashionMnist, config: &TrainConfig) -> Result<Standardizer> {
    let split = stratified_split(
        &data.train,
        &SplitConfig {
            valid_fraction: config.valid_fraction,
            seed: config.seed,
        },
    )?;
    Ok(Standardizer::fit(&split.train)?)
}

/// The four representations of a set of test images, with what the network made of
/// each (rows in [`select_images`] order: by class, then test index).
#[derive(Debug, Clone, PartialEq)]
pub struct ImageFeatures {
    /// Test-set index of each image.
    pub indices: Vec<usize>,
    /// True class of each image.
    pub labels: Vec<u8>,
    /// Predicted class (largest logit; the first on a tie). With the model's test-time
    /// flips ([`ModelConfig::test_time_flip`](crate::nn::ModelConfig::test_time_flip))
    /// the logits are averaged over the image and its mirror image, as in the run's test
    /// evaluation.
    pub predicted: Vec<u8>,
    /// The model's softmax probability of its predicted class (its confidence), one per
    /// image.
    pub confidence: Vec<f32>,
    /// [`Representation::Input`]: pixels ÷ 255, `n × 784`.
    pub input: Array2<f32>,
    /// [`Representation::Scaled`]: standardised pixels, `n × 784`.
    pub scaled: Array2<f32>,
    /// [`Representation::Map`]: `n × map_dim` (1152 for `SmallCnn`).
    pub map: Array2<f32>,
    /// [`Representation::Dense`]: `n × dense_dim` (128 for `SmallCnn`).
    pub dense: Array2<f32>,
}

impl ImageFeatures {
    /// Selects the test images of `params` and computes their four representations:
    /// `model` runs in inference mode on the ÷ 255 pixels (as in training),
    /// `standardizer` gives the scaled pixels.
    ///
    /// Errors: as [`select_images`]; the model's (tensor errors).
    pub fn compute(
        model: &Model,
        test: &Dataset,
        standardizer: &Standardizer,
        params: &FeatureParams,
    ) -> Result<ImageFeatures> {
        let indices = select_images(test, params)?;
        let chosen = test.select(&indices)?;
        let input = chosen.scaled();
        let mut scaled = input.clone();
        standardizer.apply(&mut scaled);
        let f = model.features_of(&input, params.batch)?;
        let (predicted, confidence) = f
            .logits
            .axis_iter(Axis(0))
            .map(|row| {
                let mut best = 0;
                for (c, &v) in row.iter().enumerate() {
                    if v > row[best] {
                        best = c;
                    }
                }
                // softmax at the arg-max: 1 / Σ exp(l_c − l_max)
                let total: f64 = row.iter().map(|&v| f64::from(v - row[best]).exp()).sum();
                (best as u8, (1.0 / total) as f32)
            })
            .unzip();
        Ok(ImageFeatures {
            indices,
            labels: chosen.labels.to_vec(),
            predicted,
            confidence,
            input,
            scaled,
            map: f.map,
            dense: f.dense,
        })
    }

    /// [`compute`](Self::compute) for a trained run: its model, the official test set,
    /// and the standardisation fitted on its training split ([`train_standardizer`]).
    pub fn for_run(
        trained: &Trained,
        data: &FashionMnist,
        params: &FeatureParams,
    ) -> Result<ImageFeatures> {
        params.check()?;
        let standardizer = train_standardizer(data, &trained.config)?;
        ImageFeatures::compute(&trained.model, &data.test, &standardizer, params)
    }

    /// Number of images.
    pub fn len(&self) -> usize {
        self.indices.len()
    }

    /// Whether there are no images.
    pub fn is_empty(&self) -> bool {
        self.indices.is_empty()
    }

    /// The matrix of one representation, one row per image.
    pub fn matrix(&self, r: Representation) -> &Array2<f32> {
        match r {
            Representation::Input => &self.input,
            Representation::Scaled => &self.scaled,
            Representation::Map => &self.map,
            Representation::Dense => &self.dense,
        }
    }

    /// Whether each image is classified correctly.
    pub fn correct(&self) -> Vec<bool> {
        self.labels
            .iter()
            .zip(&self.predicted)
            .map(|(a, b)| a == b)
            .collect()
    }

    /// Share of the images classified correctly (0 without images).
    pub fn accuracy(&self) -> f64 {
        if self.is_empty() {
            return 0.0;
        }
        self.correct().iter().filter(|&&c| c).count() as f64 / self.len() as f64
    }

    /// One graph node per image: test index, true class, prediction.
    pub fn nodes(&self) -> Vec<NodeInfo> {
        self.indices
            .iter()
            .zip(&self.labels)
            .zip(&self.predicted)
            .map(|((&i, &l), &p)| NodeInfo::new(i, l).with_prediction(p))
            .collect()
    }

    /// The graph of `measure` on representation `r`.
    ///
    /// Errors: the builder's (e.g. an all-zero feature row is constant for correlation
    /// and lasso).
    pub fn graph(&self, r: Representation, measure: &Measure) -> Result<SimilarityGraph> {
        Ok(measure.build(self.matrix(r), &self.nodes())?)
    }

    /// One row per image: `index` (test set), `class`, `class_name`, `predicted`,
    /// `correct`.
    pub fn table(&self) -> Result<DataFrame> {
        Ok(df!(
            "index" => self.indices.iter().map(|&i| i as u64).collect::<Vec<_>>(),
            "class" => self.labels.iter().map(|&c| c as u32).collect::<Vec<_>>(),
            "class_name" => self.labels.iter().map(|&c| CLASS_NAMES[c as usize]).collect::<Vec<_>>(),
            "predicted" => self.predicted.iter().map(|&c| c as u32).collect::<Vec<_>>(),
            "correct" => self.correct(),
        )?)
    }

    /// One row per representation: `representation`, `columns`.
    pub fn dims_table(&self) -> Result<DataFrame> {
        Ok(df!(
            "representation" => Representation::ALL.iter().map(|r| r.label()).collect::<Vec<_>>(),
            "columns" => Representation::ALL.iter().map(|&r| self.matrix(r).ncols() as u64).collect::<Vec<_>>(),
        )?)
    }
}

/// What notebooks 04–06 start from: the notebooks' shared run (loaded from its checkpoint,
/// trained first if it is missing), the data set, and the features of the chosen test
/// images (by default the original project's 100: the first 10 of each class).
#[derive(Debug)]
pub struct GraphSetup {
    /// The shared run's configuration and directory ([`shared_run`](crate::train::shared_run)).
    pub run: crate::train::SharedRun,
    /// The data set ([`FashionMnist::load_default`]).
    pub data: FashionMnist,
    /// The trained network.
    pub trained: Trained,
    /// The images' four representations and predictions.
    pub features: ImageFeatures,
}

impl GraphSetup {
    /// Loads (or trains) the shared run and computes the features of `params`' images.
    ///
    /// # Errors
    /// Loading the data, training or loading the run, computing the features.
    pub fn load(params: &FeatureParams) -> Result<GraphSetup> {
        params.check()?;
        let run = crate::train::shared_run();
        let data = FashionMnist::load_default()?;
        let trained = crate::train::train_or_load(
            &run.config,
            &data,
            &run.dir,
            crate::train::TrainOptions::default(),
        )?;
        let features = ImageFeatures::for_run(&trained, &data, params)?;
        Ok(GraphSetup {
            run,
            data,
            trained,
            features,
        })
    }

    /// Images classified correctly.
    pub fn correct(&self) -> usize {
        self.features.correct().iter().filter(|&&c| c).count()
    }
}

/// One measure's graph on one representation, with its layout and measurements.
#[derive(Debug, Clone)]
pub struct RepresentationGraph {
    /// Which representation.
    pub representation: Representation,
    /// Its number of columns.
    pub dim: usize,
    /// The graph.
    pub graph: SimilarityGraph,
    /// Its force-directed layout.
    pub layout: Layout,
    /// Degree, betweenness, components, modularity, same-class share.
    pub centrality: Centrality,
}

impl RepresentationGraph {
    /// Lays out and measures `graph`.
    ///
    /// Errors: the layout parameters' ([`LayoutParams::check`]).
    pub fn new(
        representation: Representation,
        dim: usize,
        graph: SimilarityGraph,
        layout: &LayoutParams,
    ) -> Result<RepresentationGraph> {
        let l = fruchterman_reingold(&graph, layout)?;
        let centrality = Centrality::compute(&graph);
        Ok(RepresentationGraph {
            representation,
            dim,
            graph,
            layout: l,
            centrality,
        })
    }

    /// The panel title, e.g. `"dense embedding (128)"`.
    pub fn title(&self) -> String {
        self.representation.title(self.dim)
    }
}

/// Which number [`Comparison::best`] ranks by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Score {
    /// Share of edges joining two images of the same class.
    SameClassShare,
    /// Newman modularity of the true-class partition.
    Modularity,
}

impl Score {
    fn value(self, c: &Centrality) -> Option<f64> {
        match self {
            Score::SameClassShare => c.same_class_share,
            Score::Modularity => c.modularity,
        }
    }

    /// `"same-class edge share"` or `"class modularity"`.
    pub fn name(self) -> &'static str {
        match self {
            Score::SameClassShare => "same-class edge share",
            Score::Modularity => "class modularity",
        }
    }
}

/// One measure on all four representations: graphs, layouts, a summary table, the 2×2
/// panel and a computed statement of which representation separates the classes best.
#[derive(Debug, Clone)]
pub struct Comparison {
    /// The measure.
    pub measure: Measure,
    /// One entry per representation, in [`Representation::ALL`] order.
    pub graphs: Vec<RepresentationGraph>,
}

impl Comparison {
    /// Builds `measure` on each representation of `features` and lays each graph out
    /// with `layout`.
    ///
    /// Errors: the measure's and the layout's.
    pub fn compute(
        features: &ImageFeatures,
        measure: &Measure,
        layout: &LayoutParams,
    ) -> Result<Comparison> {
        measure.check()?;
        layout.check()?;
        let graphs = Representation::ALL
            .iter()
            .map(|&r| {
                let g = features.graph(r, measure)?;
                RepresentationGraph::new(r, features.matrix(r).ncols(), g, layout)
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Comparison {
            measure: *measure,
            graphs,
        })
    }

    /// The entry of representation `r`, if present.
    pub fn get(&self, r: Representation) -> Option<&RepresentationGraph> {
        self.graphs.iter().find(|g| g.representation == r)
    }

    /// One row per representation: `representation`, `columns`, `construction` (the
    /// graph's parameters in effect, e.g. the lasso α), `edges`, `mean_degree`,
    /// `components`, `largest_component`, `same_class_share`, `modularity`,
    /// `betweenness_misclassified`, `betweenness_correct` (mean betweenness of the
    /// misclassified and the correctly classified images; nulls where undefined).
    pub fn summary(&self) -> Result<DataFrame> {
        let g = &self.graphs;
        let c = |f: fn(&RepresentationGraph) -> Option<f64>| g.iter().map(f).collect::<Vec<_>>();
        Ok(df!(
            "representation" => g.iter().map(|x| x.representation.label()).collect::<Vec<_>>(),
            "columns" => g.iter().map(|x| x.dim as u64).collect::<Vec<_>>(),
            "construction" => g.iter().map(|x| x.graph.construction().describe()).collect::<Vec<_>>(),
            "edges" => g.iter().map(|x| x.graph.edge_count() as u64).collect::<Vec<_>>(),
            "mean_degree" => g.iter().map(|x| x.graph.mean_degree()).collect::<Vec<_>>(),
            "components" => g.iter().map(|x| x.centrality.components as u64).collect::<Vec<_>>(),
            "largest_component" => g.iter().map(|x| x.centrality.largest_component() as u64).collect::<Vec<_>>(),
            "same_class_share" => c(|x| x.centrality.same_class_share),
            "modularity" => c(|x| x.centrality.modularity),
            "betweenness_misclassified" => c(|x| x.centrality.mean_betweenness(true)),
            "betweenness_correct" => c(|x| x.centrality.mean_betweenness(false)),
        )?)
    }

    /// For lasso graphs: one row per representation with the penalty in effect and the
    /// edges it gives under both symmetrisations: `representation`, `rule` (how α was
    /// chosen: the Meinshausen–Bühlmann rule, a target mean degree, or fixed), `alpha`,
    /// `selections` (directed), `and_edges`, `or_edges`, `rounds` (regression rounds
    /// run, more than 1 when bisecting on a target density).
    ///
    /// # Errors
    /// A comparison of another measure (naming `measure`).
    pub fn penalty_table(&self) -> Result<DataFrame> {
        let mut rows = Vec::new();
        for g in &self.graphs {
            match g.graph.construction() {
                crate::graph::Construction::Lasso { report, params } => {
                    let rule = match params.penalty {
                        crate::graph::Penalty::MeinshausenBuhlmann { level } => {
                            format!("Meinshausen–Bühlmann, level {level}")
                        }
                        crate::graph::Penalty::MeanDegree(m) => format!("mean degree {m}"),
                        crate::graph::Penalty::Fixed(a) => format!("fixed α = {a}"),
                    };
                    rows.push((g.representation.label(), rule, report.clone()))
                }
                _ => {
                    return Err(Error::invalid(
                        "measure",
                        "a lasso comparison",
                        self.measure.name(),
                    ));
                }
            }
        }
        Ok(df!(
            "representation" => rows.iter().map(|r| r.0).collect::<Vec<_>>(),
            "rule" => rows.iter().map(|r| r.1.clone()).collect::<Vec<_>>(),
            "alpha" => rows.iter().map(|r| r.2.alpha).collect::<Vec<_>>(),
            "selections" => rows.iter().map(|r| r.2.selections as u64).collect::<Vec<_>>(),
            "and_edges" => rows.iter().map(|r| r.2.and_edges as u64).collect::<Vec<_>>(),
            "or_edges" => rows.iter().map(|r| r.2.or_edges as u64).collect::<Vec<_>>(),
            "rounds" => rows.iter().map(|r| r.2.rounds as u64).collect::<Vec<_>>(),
        )?)
    }

    /// The representation with the largest `score` and its value; `None` when no graph
    /// has edges. Ties go to the earlier representation.
    pub fn best(&self, score: Score) -> Option<(Representation, f64)> {
        let mut best: Option<(Representation, f64)> = None;
        for g in &self.graphs {
            if let Some(v) = score.value(&g.centrality)
                && best.is_none_or(|(_, b)| v > b)
            {
                best = Some((g.representation, v));
            }
        }
        best
    }

    /// Which representation has the highest same-class edge share and which the highest
    /// class modularity, with every representation's numbers: the data of the sentence
    /// the report writes (its `Display`, in [`crate::report`]), e.g. "kNN, k = 5: the
    /// dense embedding (128) separates the classes best: same-class edge share 0.912
    /// (input pixels 0.604, …) and class modularity 0.781 (…)."
    pub fn statement(&self) -> Statement {
        let construction = self
            .graphs
            .first()
            .map(|g| short_construction(&g.graph))
            .unwrap_or_else(|| self.measure.name().to_string());
        let ranking = |score: Score| -> Option<Ranking> {
            let (best, value) = self.best(score)?;
            Some(Ranking {
                score,
                best,
                best_title: self
                    .get(best)
                    .map(RepresentationGraph::title)
                    .unwrap_or_else(|| best.label().to_string()),
                value,
                others: self
                    .graphs
                    .iter()
                    .filter(|g| g.representation != best)
                    .map(|g| (g.representation, score.value(&g.centrality)))
                    .collect(),
            })
        };
        Statement {
            construction,
            same_class_share: ranking(Score::SameClassShare),
            modularity: ranking(Score::Modularity),
        }
    }
}

/// Which representation separates the classes best under one measure
/// ([`Comparison::statement`]); the report renders it as a sentence (`Display`).
#[derive(Debug, Clone, PartialEq)]
pub struct Statement {
    /// The measure's construction without per-graph numbers, e.g. `"kNN, k = 5"`.
    pub construction: String,
    /// The ranking by same-class edge share; `None` when no graph has edges.
    pub same_class_share: Option<Ranking>,
    /// The ranking by class modularity; `None` when no graph has edges.
    pub modularity: Option<Ranking>,
}

/// The best representation under one [`Score`], and the others' values.
#[derive(Debug, Clone, PartialEq)]
pub struct Ranking {
    /// The score.
    pub score: Score,
    /// The representation with the largest value (ties: the earlier one).
    pub best: Representation,
    /// Its graph's title, e.g. `"dense embedding (128)"`.
    pub best_title: String,
    /// Its value.
    pub value: f64,
    /// The other representations in panel order with their value (`None`: no edges).
    pub others: Vec<(Representation, Option<f64>)>,
}

/// `"Pearson correlation"`, `"Lasso neighbourhood"`, `"kNN"`.
pub(crate) fn measure_title(m: &Measure) -> &'static str {
    match m {
        Measure::Correlation(_) => "Pearson correlation",
        Measure::Lasso(_) => "Lasso neighbourhood",
        Measure::Knn(_) => "kNN",
    }
}

/// The construction without per-graph numbers (a lasso α or correlation threshold
/// differs between representations): e.g. `"kNN, k = 5"`.
fn short_construction(g: &SimilarityGraph) -> String {
    use crate::graph::{Construction, CorrelationMode, Penalty, Symmetrise};
    match g.construction() {
        Construction::Correlation { params, .. } => match params.mode {
            CorrelationMode::Threshold(t) => format!("Pearson r ≥ {t}"),
            CorrelationMode::MeanDegree(m) => {
                format!("Pearson, the most correlated pairs (mean degree {m})")
            }
        },
        Construction::Lasso { params, .. } => format!(
            "lasso, {}, {}",
            match params.penalty {
                Penalty::Fixed(a) => format!("α = {a}"),
                Penalty::MeanDegree(m) => format!("α for mean degree {m}"),
                Penalty::MeinshausenBuhlmann { level } =>
                    format!("Meinshausen–Bühlmann α at level {level}"),
            },
            match params.symmetrise {
                Symmetrise::And => "AND",
                Symmetrise::Or => "OR",
            }
        ),
        c @ Construction::Knn { .. } => c.describe(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::fixtures::synthetic;
    use crate::graph::{Construction, KnnParams};
    use crate::nn::ModelConfig;

    fn model() -> Model {
        Model::new(&ModelConfig::default(), 3).unwrap()
    }

    #[test]
    fn default_takes_the_first_ten_of_each_class_by_class_then_index() {
        // synthetic(): label i % 10, so class c's images are c, c + 10, c + 20, …
        let test = synthetic(12, 1);
        let idx = select_images(&test, &FeatureParams::default()).unwrap();
        let expected: Vec<usize> = (0..10)
            .flat_map(|c| (0..10).map(move |k| c + 10 * k))
            .collect();
        assert_eq!(idx, expected);
        let two = select_images(&test, &FeatureParams::default().per_class(2)).unwrap();
        assert_eq!(&two[..4], &[0, 10, 1, 11]);
    }

    #[test]
    fn random_sampling_is_seeded_per_class_and_sorted() {
        let test = synthetic(30, 1);
        let p = FeatureParams::default().per_class(5).random(9);
        let a = select_images(&test, &p).unwrap();
        assert_eq!(a, select_images(&test, &p).unwrap());
        assert_ne!(a, select_images(&test, &p.random(10)).unwrap());
        assert_ne!(a, select_images(&test, &p.first()).unwrap());
        for (c, chunk) in a.chunks(5).enumerate() {
            assert!(
                chunk.iter().all(|&i| test.labels[i] as usize == c),
                "{chunk:?}"
            );
            assert!(chunk.windows(2).all(|w| w[0] < w[1]), "{chunk:?}");
        }
        // All of each class, whatever the seed, is the first-N choice.
        let all = p.per_class(30);
        assert_eq!(
            select_images(&test, &all).unwrap(),
            select_images(&test, &all.first()).unwrap()
        );
    }

    #[test]
    fn bad_parameters_are_named_errors() {
        let test = synthetic(4, 0);
        for (p, name) in [
            (FeatureParams::default().per_class(0), "per_class"),
            (FeatureParams::default().per_class(5), "per_class"),
            (FeatureParams::default().per_class(2).batch(0), "batch"),
        ] {
            let err = select_images(&test, &p).unwrap_err();
            assert!(
                matches!(&err, Error::Params(crate::ParamError { name: n, .. }) if *n == name),
                "{name}: {err}"
            );
        }
        let err = select_images(&test, &FeatureParams::default().per_class(5)).unwrap_err();
        assert!(err.to_string().contains("at most 4"), "{err}");
        let err = ImageFeatures::compute(
            &model(),
            &test,
            &Standardizer::fit(&test).unwrap(),
            &FeatureParams::default(),
        )
        .unwrap_err();
        assert!(err.to_string().contains("per_class"), "{err}");
    }

    #[test]
    fn representations_match_their_definitions() {
        let (train, test) = (synthetic(6, 0), synthetic(5, 2));
        let std = Standardizer::fit(&train).unwrap();
        let m = model();
        let p = FeatureParams::default().per_class(3).batch(4);
        let f = ImageFeatures::compute(&m, &test, &std, &p).unwrap();
        let idx = select_images(&test, &p).unwrap();
        assert_eq!(f.indices, idx);
        assert_eq!(f.len(), 30);
        let chosen = test.select(&idx).unwrap();
        assert_eq!(f.input, chosen.scaled());
        assert_eq!(f.scaled, std.transform(&chosen));
        assert_ne!(f.input, f.scaled);
        let direct = m.features_of(&chosen.scaled(), 30).unwrap();
        assert_eq!(f.map, direct.map);
        assert_eq!(f.dense, direct.dense);
        assert_eq!(f.matrix(Representation::Map).ncols(), 1152);
        assert_eq!(f.matrix(Representation::Dense).ncols(), 128);
        assert_eq!(f.matrix(Representation::Scaled).ncols(), 784);
        for (row, &p) in direct.logits.rows().into_iter().zip(&f.predicted) {
            assert!(row.iter().all(|&v| v <= row[p as usize]));
        }
        let nodes = f.nodes();
        assert_eq!(nodes[4].id, idx[4]);
        assert_eq!(nodes[4].class, 1);
        assert_eq!(nodes[4].predicted, Some(f.predicted[4]));
        let right = f.correct().iter().filter(|&&c| c).count();
        assert_eq!(f.accuracy(), right as f64 / 30.0);
        let table = f.table().unwrap();
        assert_eq!(table.shape(), (30, 5));
        assert_eq!(f.dims_table().unwrap().shape(), (4, 2));
    }

    #[test]
    fn standardizer_comes_from_the_runs_training_split() {
        let data = FashionMnist {
            train: synthetic(10, 0),
            test: synthetic(3, 1),
            release: None,
            files: Vec::new(),
        };
        let config = TrainConfig {
            valid_fraction: 0.3,
            seed: 11,
            ..TrainConfig::default()
        };
        let s = train_standardizer(&data, &config).unwrap();
        let split = stratified_split(
            &data.train,
            &SplitConfig {
                valid_fraction: 0.3,
                seed: 11,
            },
        )
        .unwrap();
        assert_eq!(s, Standardizer::fit(&split.train).unwrap());
        assert_ne!(s, Standardizer::fit(&data.train).unwrap());
    }

    #[test]
    fn representation_names_round_trip() {
        for r in Representation::ALL {
            assert_eq!(r.name().parse::<Representation>().unwrap(), r);
        }
        assert_eq!(
            "dense".parse::<Representation>().unwrap(),
            Representation::Dense
        );
        assert_eq!(
            "Standardised".parse::<Representation>().unwrap(),
            Representation::Scaled
        );
        let err = "logits".parse::<Representation>().unwrap_err();
        assert!(
            err.to_string().contains("input, scaled, map or fc"),
            "{err}"
        );
        assert_eq!(Representation::Map.title(1152), "feature map (1152)");
    }

    #[test]
    fn comparison_builds_each_representation_and_summarises() {
        let (train, test) = (synthetic(6, 0), synthetic(4, 2));
        let f = ImageFeatures::compute(
            &model(),
            &test,
            &Standardizer::fit(&train).unwrap(),
            &FeatureParams::default().per_class(4),
        )
        .unwrap();
        let measure = Measure::Knn(KnnParams::default().k(3));
        let c = Comparison::compute(&f, &measure, &LayoutParams::default().iterations(50)).unwrap();
        assert_eq!(c.graphs.len(), 4);
        for (g, r) in c.graphs.iter().zip(Representation::ALL) {
            assert_eq!(g.representation, r);
            assert_eq!(
                g.graph.edge_list(),
                f.graph(r, &measure).unwrap().edge_list()
            );
            assert_eq!(g.layout.len(), 40);
        }
        let s = c.summary().unwrap();
        assert_eq!(s.height(), 4);
        let edges: Vec<u64> = s
            .column("edges")
            .unwrap()
            .u64()
            .unwrap()
            .into_no_null_iter()
            .collect();
        let expected: Vec<u64> = c
            .graphs
            .iter()
            .map(|g| g.graph.edge_count() as u64)
            .collect();
        assert_eq!(edges, expected);
        assert!(c.panel().is_ok());
        let text = c.statement().to_string();
        assert!(text.starts_with("kNN, k = 3"), "{text}");
        let (best, value) = c.best(Score::SameClassShare).unwrap();
        assert!(
            text.contains(&format!("{value:.3}")) && text.contains(best.label()),
            "{text}"
        );
        assert!(
            Comparison::compute(
                &f,
                &Measure::Knn(KnnParams::default().k(0)),
                &LayoutParams::default()
            )
            .is_err()
        );
        // The penalty table is for lasso comparisons only.
        let err = c.penalty_table().unwrap_err().to_string();
        assert!(err.contains("measure") && err.contains("lasso"), "{err}");
        let lasso = Comparison::compute(
            &f,
            &Measure::Lasso(crate::graph::LassoParams::default().alpha(0.2)),
            &LayoutParams::default().iterations(20),
        )
        .unwrap();
        let t = lasso.penalty_table().unwrap();
        assert_eq!(t.shape(), (4, 7));
        assert_eq!(
            t.column("rule").unwrap().str().unwrap().get(0),
            Some("fixed α = 0.2")
        );
        for (k, g) in lasso.graphs.iter().enumerate() {
            let and = t.column("and_edges").unwrap().u64().unwrap().get(k);
            assert_eq!(and, Some(g.graph.edge_count() as u64));
            let alpha = t.column("alpha").unwrap().f64().unwrap().get(k);
            assert_eq!(alpha, Some(0.2));
        }
    }

    /// Hand-made graphs on 4 nodes (classes 0, 0, 1, 1): which representation wins.
    fn hand_made(edges: [&[(usize, usize)]; 4]) -> Comparison {
        let nodes: Vec<NodeInfo> = (0..4).map(|i| NodeInfo::new(i, (i / 2) as u8)).collect();
        let graphs = Representation::ALL
            .iter()
            .zip(edges)
            .map(|(&r, e)| {
                let e: Vec<_> = e.iter().map(|&(a, b)| (a, b, 1.0)).collect();
                let g = SimilarityGraph::from_edges(
                    &nodes,
                    &e,
                    Construction::Knn {
                        params: KnnParams::default().k(1),
                    },
                )
                .unwrap();
                RepresentationGraph::new(r, 8, g, &LayoutParams::default().iterations(10)).unwrap()
            })
            .collect();
        Comparison {
            measure: Measure::knn(),
            graphs,
        }
    }

    #[test]
    fn statement_names_the_best_representation_with_its_numbers() {
        // Dense: both edges within a class (share 1, modularity 0.5); the others mixed.
        let c = hand_made([
            &[(0, 2), (1, 3)],
            &[(0, 1), (1, 2)],
            &[(0, 3), (0, 1)],
            &[(0, 1), (2, 3)],
        ]);
        assert_eq!(
            c.best(Score::SameClassShare),
            Some((Representation::Dense, 1.0))
        );
        assert_eq!(
            c.best(Score::Modularity),
            Some((Representation::Dense, 0.5))
        );
        let text = c.statement().to_string();
        assert!(
            text.contains("the dense embedding (8) separates the classes best")
                && text.contains("same-class edge share 1.000 (input pixels 0.000, scaled pixels 0.500, feature map 0.500)")
                && text.contains("class modularity 0.500"),
            "{text}"
        );
        // Different winners, and a graph without edges.
        let c = hand_made([&[], &[(0, 1), (2, 3), (0, 2)], &[(0, 1)], &[(0, 2)]]);
        assert_eq!(
            c.best(Score::SameClassShare).unwrap().0,
            Representation::Map
        );
        let text = c.statement().to_string();
        assert_eq!(c.best(Score::Modularity).unwrap().0, Representation::Scaled);
        assert!(text.contains("input pixels no edges"), "{text}");
        assert!(
            text.contains("highest for the feature map (8): same-class edge share 1.000"),
            "{text}"
        );
        let none = hand_made([&[], &[], &[], &[]]);
        assert!(
            none.statement()
                .to_string()
                .contains("no representation's graph has edges")
        );
        assert_eq!(none.best(Score::Modularity), None);
    }
}
