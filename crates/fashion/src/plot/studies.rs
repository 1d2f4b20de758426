//! The charts of the studies: the studies ([`Comparison`], [`CentralityStudy`],
//! [`ClusteringStudy`]) compute and return data; their drawing methods live here.

use crate::analysis::{CentralityStudy, ClusterMethod, ClusteringResult, ClusteringStudy};
use crate::features::{measure_title, Comparison, Representation, RepresentationGraph};
use crate::{Error, Result};

use super::{ForestPlot, ForestRow, GraphPanel, ScoreBars};

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
        let titles: Vec<String> = self.graphs.iter().map(RepresentationGraph::title).collect();
        let cell = |k: usize| {
            (
                titles[k].as_str(),
                &self.graphs[k].graph,
                &self.graphs[k].layout,
            )
        };
        let n = self.graphs[0].graph.node_count();
        Ok(
            GraphPanel::new([cell(0), cell(1), cell(2), cell(3)])?.with_title(format!(
                "{} graphs of {n} test images in four representations",
                measure_title(&self.measure)
            )),
        )
    }
}

impl CentralityStudy {
    /// The forest plot of every detector's ROC-AUC with its interval: grouped by
    /// measure (the baselines last, highlighted), a dashed line at chance (0.5).
    ///
    /// Errors: none in practice (the intervals are well formed); those of
    /// [`ForestPlot::new`].
    pub fn forest(&self) -> Result<ForestPlot> {
        let rows = self
            .results
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
            .collect();
        Ok(ForestPlot::new(rows)?
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
