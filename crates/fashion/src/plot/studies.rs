//! The charts of the studies: the studies ([`Comparison`], [`CentralityStudy`],
//! [`ClusteringStudy`]) compute and return data; their drawing methods live here.

use crate::analysis::{
    CentralityStudy, ClusterMethod, ClusteringResult, ClusteringStudy, NodeClaim, RunsStudy,
    TopNodes,
};
use crate::data::Dataset;
use crate::features::{Comparison, Representation, measure_title};
use crate::{Error, Result};

use super::{ForestPlot, ForestRow, GraphChart, GraphPanel, SampleGrid, ScoreBars};

impl Comparison {
    /// The 2×2 panel (input, scaled / map, dense), titled with the measure.
    ///
    /// Errors: fewer than four graphs.
    pub fn panel(&self) -> Result<GraphPanel> {
        if self.graphs.len() != 4 {
            return Err(Error::invalid(
                "graphs",
                "four representations",
                self.graphs.len(),
            ));
        }
        let chart = |k: usize| {
            let g = &self.graphs[k];
            GraphChart::measured(&g.graph, &g.layout, &g.centrality)
                .map(|c| c.with_title(g.title()))
        };
        let n = self.graphs[0].graph.node_count();
        Ok(
            GraphPanel::from_charts([chart(0)?, chart(1)?, chart(2)?, chart(3)?]).with_title(
                format!(
                    "{} graphs of {n} test images in four representations",
                    measure_title(&self.measure)
                ),
            ),
        )
    }
}

impl TopNodes {
    /// The top nodes' images, highest first, five per row, each captioned with its rank,
    /// test index and true → predicted class when wrong; `test` is the data set the
    /// indices point into (the official test set).
    ///
    /// # Errors
    /// Indices outside `test`.
    pub fn gallery(&self, test: &Dataset) -> Result<SampleGrid> {
        SampleGrid::from_indices(test, &self.indices(), 5)?
            .with_scale(5)?
            .with_captions(self.captions())
            .map(|g| {
                g.with_title(format!(
                    "Top {} by {}, {}",
                    self.nodes.len(),
                    self.by.name(),
                    self.representation_title
                ))
            })
    }
}

impl NodeClaim {
    /// The images of every ranking in one grid: five per row, each ranking starting on a
    /// new row labelled with its representation and centrality, highest first, captioned
    /// as [`TopNodes::gallery`]. Rankings must have the same length, a multiple of 5 or
    /// at most 5 (the notebooks' 10). `test` is the data set the indices point into.
    ///
    /// # Errors
    /// No rankings, rankings of different lengths, indices outside `test`.
    pub fn gallery(&self, test: &Dataset) -> Result<SampleGrid> {
        let k = self.tops.first().map_or(0, |t| t.nodes.len());
        if self.tops.is_empty()
            || self.tops.iter().any(|t| t.nodes.len() != k)
            || (k > 5 && !k.is_multiple_of(5))
        {
            return Err(Error::invalid(
                "tops",
                "rankings of the same length, a multiple of 5 or at most 5",
                self.tops
                    .iter()
                    .map(|t| t.nodes.len().to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
            ));
        }
        // Five images per row, so that captions such as "4. #97 Sneaker→Sandal" fit.
        let columns = k.min(5);
        let rows_per = k.div_ceil(columns);
        let mut indices = Vec::new();
        let mut captions = Vec::new();
        let mut labels = Vec::new();
        for t in &self.tops {
            let (ids, caps) = (t.indices(), t.captions());
            for row in 0..rows_per {
                let range = row * columns..((row + 1) * columns).min(k);
                indices.extend(ids[range.clone()].iter().copied());
                captions.extend(caps[range].iter().cloned());
                // Empty slots keep every ranking on whole rows.
                labels.push(if row == 0 {
                    format!("{} · {}", t.representation.label(), t.by.name())
                } else {
                    String::new()
                });
            }
        }
        SampleGrid::from_indices(test, &indices, columns)?
            .with_scale(5)?
            .with_captions(captions)?
            .with_row_labels(labels)
            .map(|g| g.with_title(format!("Top {k} nodes of each graph")))
    }
}

impl CentralityStudy {
    /// The forest plot of every detector's ROC-AUC with its interval: grouped by
    /// measure (the baselines last, highlighted), a dashed line at chance (0.5).
    ///
    /// Errors: none in practice (the intervals are well formed); those of
    /// [`ForestPlot::new`].
    pub fn forest(&self) -> Result<ForestPlot> {
        Ok(ForestPlot::new(forest_rows(&self.results))?
            .with_title(format!(
                "Detecting the {} misclassified of {} test images: ROC-AUC, {:.0} % bootstrap intervals",
                self.errors,
                self.images,
                100.0 * self.params.level
            ))
            .with_x_label("ROC-AUC (0.5 = chance)")
            .with_reference(0.5))
    }
}

/// One forest row per detector: grouped by measure (the baselines last, highlighted).
fn forest_rows(results: &[crate::analysis::DetectorResult]) -> Vec<ForestRow> {
    results
        .iter()
        .map(|r| {
            let group = match r.measure {
                Some("correlation") => "Pearson correlation graphs".to_string(),
                Some("knn") => "kNN graphs".to_string(),
                Some(m) => format!("{m} graphs"),
                None => "baselines".to_string(),
            };
            let label = match r.representation {
                Some(rep) => format!("{} · {}", rep.label(), r.detector.name()),
                None => r.detector.name().to_string(),
            };
            let row = ForestRow::new(group, label, r.auc.estimate, r.auc.lower, r.auc.upper);
            if r.detector.is_centrality() {
                row
            } else {
                row.highlighted()
            }
        })
        .collect()
}

impl RunsStudy {
    /// The forest plot of one run (`Some(index into names)`) or of the pooled results
    /// (`None`), as [`CentralityStudy::forest`]; the title names the run, or the number
    /// of runs pooled.
    ///
    /// Errors: a run index out of range; those of [`ForestPlot::new`].
    pub fn forest(&self, run: Option<usize>) -> Result<ForestPlot> {
        let (results, title) = match run {
            Some(k) => {
                let results = self.per_run.get(k).ok_or_else(|| {
                    Error::invalid("run", format!("a run below {}", self.names.len()), k)
                })?;
                let title = format!(
                    "{}: {} misclassified of {} test images, ROC-AUC, {:.0} % intervals",
                    self.names[k],
                    self.errors[k],
                    self.images,
                    100.0 * self.params.level
                );
                (results, title)
            }
            None => (
                &self.pooled,
                format!(
                    "Pooled over {} runs, {} test images: mean ROC-AUC, {:.0} % paired-bootstrap intervals",
                    self.names.len(),
                    self.images,
                    100.0 * self.params.level
                ),
            ),
        };
        Ok(ForestPlot::new(forest_rows(results))?
            .with_title(title)
            .with_x_label("ROC-AUC (0.5 = chance)")
            .with_reference(0.5))
    }
}

impl ClusteringStudy {
    /// Two panels of grouped bars, adjusted Rand index and purity, one group per
    /// representation and one bar per method.
    ///
    /// Errors: no results.
    pub fn chart(&self) -> Result<ScoreBars> {
        let mut reps: Vec<Representation> = Vec::new();
        for r in &self.results {
            if !reps.contains(&r.representation) {
                reps.push(r.representation);
            }
        }
        if reps.is_empty() {
            return Err(Error::invalid("results", "at least one clustering", "none"));
        }
        let value = |m: ClusterMethod, rep: Representation, f: fn(&ClusteringResult) -> f64| {
            self.get(rep, m).map_or(0.0, f)
        };
        let values = |f: fn(&ClusteringResult) -> f64| -> Vec<Vec<f64>> {
            ClusterMethod::ALL
                .iter()
                .map(|&m| reps.iter().map(|&rep| value(m, rep, f)).collect())
                .collect()
        };
        ScoreBars::new(
            reps.iter().map(|r| r.label().to_string()).collect(),
            ClusterMethod::ALL
                .iter()
                .map(|m| m.name().to_string())
                .collect(),
        )
        .with_title(format!(
            "Clustering {} test images into {} groups, compared with the true classes",
            self.images, self.params.k
        ))
        .panel("adjusted Rand index", values(|x| x.ari))?
        .panel("purity", values(|x| x.purity))
    }
}
