//! The one place where the studies' results become sentences: `Display` for
//! [`Statement`] (which representation separates the classes best), [`Verdict`] (the
//! original project's claim against the intervals) and [`ClusteringSummary`]. The
//! studies return numbers and categories; the words, and the cut-offs they name
//! ([`USEFUL_AUC`](crate::analysis::USEFUL_AUC), [`WEAK_AUC`](crate::analysis::WEAK_AUC)),
//! are decided in the analysis, phrased here.

use std::fmt;

use polars::prelude::*;

use crate::analysis::original::{self, Claim};
use crate::analysis::{
    ClusteringSummary, DetectorResult, NodeClaim, Outcome, Scorecard, Strength, Support, TopNodes,
    Verdict,
};
use crate::data::CLASS_NAMES;
use crate::features::{Ranking, Statement};

/// `"same-class edge share 0.912 (input pixels 0.604, scaled pixels no edges, …)"`.
fn ranking(r: &Ranking) -> String {
    let others: Vec<String> = r
        .others
        .iter()
        .map(|(rep, v)| match v {
            Some(v) => format!("{} {v:.3}", rep.label()),
            None => format!("{} no edges", rep.label()),
        })
        .collect();
    format!("{} {:.3} ({})", r.score.name(), r.value, others.join(", "))
}

impl fmt::Display for Statement {
    /// E.g. "kNN, k = 5: the dense embedding (128) separates the classes best:
    /// same-class edge share 0.912 (input pixels 0.604, …) and class modularity 0.781
    /// (…)."
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let head = &self.construction;
        match (&self.same_class_share, &self.modularity) {
            (Some(a), Some(b)) if a.best == b.best => write!(
                f,
                "{head}: the {} separates the classes best: {} and {}.",
                a.best_title,
                ranking(a),
                ranking(b)
            ),
            (Some(a), Some(b)) => write!(
                f,
                "{head}: the same-class edge share is highest for the {}: {}; the class \
                 modularity is highest for the {}: {}.",
                a.best_title,
                ranking(a),
                b.best_title,
                ranking(b)
            ),
            _ => write!(
                f,
                "{head}: no representation's graph has edges; nothing to compare."
            ),
        }
    }
}

impl fmt::Display for Verdict {
    /// A paragraph: how many centrality detectors beat chance, what that says about
    /// the claim, the best detector and its strength, and the two baselines.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (above, includes, below, total) = (self.above, self.includes, self.below, self.total());
        let pct = 100.0 * self.level;
        let auc = |r: &DetectorResult| {
            format!(
                "{} (AUC {:.2}, {pct:.0} % interval {:.2}–{:.2})",
                r.label(),
                r.auc.estimate,
                r.auc.lower,
                r.auc.upper
            )
        };
        let verb =
            |k: usize, one: &'static str, many: &'static str| if k == 1 { one } else { many };
        write!(
            f,
            "On {} test images ({} misclassified, {:.1} %), {total} centrality scores were \
             tested as detectors of the errors: ",
            self.images,
            self.errors,
            100.0 * self.base_rate()
        )?;
        write!(
            f,
            "{above} {} better than chance, {includes} cannot be told from chance, and {below} \
             {} the other way (the misclassified images have lower centrality than the \
             correct ones). ",
            verb(above, "does", "do"),
            verb(below, "points", "point"),
        )?;
        let claim = "the claim that high-centrality images are the ones the network gets wrong";
        match self.support() {
            Support::NotSupported => write!(f, "So {claim} is not supported here. ")?,
            Support::Outweighed => write!(
                f,
                "So {claim} is not supported overall: more scores point the other way than \
                 support it. "
            )?,
            Support::Partly => {}
        }
        if let (Some(best), Some(strength)) = (&self.best, self.strength()) {
            let strength = match strength {
                Strength::Useful => "a useful",
                Strength::Weak => "a weak",
                Strength::VeryWeak => "a very weak",
            };
            write!(
                f,
                "Where it holds, centrality is {strength} detector: the best is {}. ",
                auc(best)
            )?;
            if self.within_chance() {
                write!(
                    f,
                    "With {total} intervals at {pct:.0} %, about {:.1} would exclude \
                     0.5 by chance alone, so this is weak evidence. ",
                    self.expected_by_chance()
                )?;
            }
        }
        if let Some(u) = &self.uncertainty {
            write!(
                f,
                "For comparison, the model's own uncertainty reaches AUC {:.2} ({:.2}–{:.2})",
                u.auc.estimate, u.auc.lower, u.auc.upper
            )?;
            match &self.knn_disagreement {
                Some(k) => write!(
                    f,
                    " and kNN label disagreement in the {} {:.2} ({:.2}–{:.2}).",
                    k.representation.map_or("", |r| r.label()),
                    k.auc.estimate,
                    k.auc.lower,
                    k.auc.upper
                )?,
                None => f.write_str(".")?,
            }
            if self.far_below_uncertainty() {
                f.write_str(
                    " No centrality score comes close to the softmax baseline: a picture \
                     of a graph is not a good way to find the errors.",
                )?;
            }
        }
        Ok(())
    }
}

impl fmt::Display for Outcome {
    /// "reproduced", "partly reproduced", "not reproduced".
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Outcome::Reproduced => "reproduced",
            Outcome::Partly => "partly reproduced",
            Outcome::NotReproduced => "not reproduced",
        })
    }
}

impl Scorecard {
    /// What this run measured for one claim, in words with its numbers.
    fn measured(&self, claim: Claim) -> String {
        let name = |c: u8| CLASS_NAMES.get(c as usize).copied().unwrap_or("?");
        match claim {
            Claim::TestAccuracy => format!(
                "this run: {:.2} % on the 10 000 official test images",
                100.0 * self.test_accuracy
            ),
            Claim::WeakestClass => {
                let parts: Vec<String> = self
                    .weakest
                    .iter()
                    .map(|c| format!("{} {:.3}", name(c.class), c.recall))
                    .collect();
                format!("lowest recall: {}", parts.join(", "))
            }
            Claim::DenseSeparatesBest => {
                let parts: Vec<String> = self
                    .separation
                    .iter()
                    .map(|s| {
                        let dense = match (s.best, s.dense) {
                            (crate::features::Representation::Dense, _) | (_, None) => {
                                String::new()
                            }
                            (_, Some(d)) => format!(", dense {d:.3}"),
                        };
                        format!(
                            "{}: {} {:.3}{dense}",
                            s.measure,
                            s.best.label(),
                            s.modularity
                        )
                    })
                    .collect();
                format!(
                    "highest class modularity (study graphs) — {}",
                    parts.join("; ")
                )
            }
            Claim::CorrelationGroupsByType => {
                let parts: Vec<String> = self
                    .type_grouping
                    .iter()
                    .map(|t| format!("{} {:.3}", t.representation.label(), t.share))
                    .collect();
                format!(
                    "same-garment-type share of correlation edges: {}; random edges {:.3}",
                    parts.join(", "),
                    self.type_chance
                )
            }
            Claim::CentralityMarksErrors => {
                let v = &self.verdict;
                let mut s = match &v.best {
                    Some(b) => format!(
                        "best centrality ROC-AUC {:.2} [{:.2}, {:.2}] ({}); ",
                        b.auc.estimate,
                        b.auc.lower,
                        b.auc.upper,
                        b.label()
                    ),
                    None => String::new(),
                };
                s.push_str(&format!(
                    "{} / {} / {} of {} intervals above / around / below chance",
                    v.above,
                    v.includes,
                    v.below,
                    v.total()
                ));
                if let Some(u) = &v.uncertainty {
                    s.push_str(&format!(
                        "; 1 − max softmax {:.2} [{:.2}, {:.2}]",
                        u.auc.estimate, u.auc.lower, u.auc.upper
                    ));
                }
                s
            }
        }
    }

    /// The verdict cell of one claim.
    fn verdict_text(&self, claim: Claim) -> String {
        match (claim, self.outcome(claim)) {
            (Claim::TestAccuracy, _) => {
                let diff = 100.0 * (self.test_accuracy - original::TEST_ACCURACY);
                format!(
                    "{} by {:.1} points (another network and training: compared, not reproduced)",
                    if diff >= 0.0 { "higher" } else { "lower" },
                    diff.abs()
                )
            }
            (Claim::DenseSeparatesBest, Some(o)) => format!(
                "{o}: the dense embedding is best under {} of {} measures",
                self.dense_wins(),
                self.separation.len()
            ),
            (Claim::CorrelationGroupsByType, Some(o)) => format!(
                "{o}: above random edges in {} of {} representations",
                self.types_above_chance(),
                self.type_grouping.len()
            ),
            (_, Some(o)) => o.to_string(),
            (_, None) => "no data in this run".to_string(),
        }
    }

    /// The scorecard as a table, one row per claim of
    /// [`original::CLAIMS`](crate::analysis::original::CLAIMS): `original_claim` (our
    /// paraphrase; the original's own numbers are labelled as such), `measured` (this
    /// run), `verdict`. Every number in `measured` and `verdict` is computed from the run.
    pub fn table(&self) -> PolarsResult<DataFrame> {
        let claims = original::CLAIMS;
        df!(
            "original_claim" => claims.iter().map(|(_, text)| format!("original: {text}")).collect::<Vec<_>>(),
            "measured" => claims.iter().map(|&(c, _)| self.measured(c)).collect::<Vec<_>>(),
            "verdict" => claims.iter().map(|&(c, _)| self.verdict_text(c)).collect::<Vec<_>>(),
        )
    }
}

impl fmt::Display for TopNodes {
    /// E.g. "dense embedding (128), kNN, k = 5: 3 of the 10 images with the highest
    /// betweenness are misclassified, where a random draw of 10 would hold 1.9 on
    /// average (19 of the 100 images are misclassified); at least 3 by chance: P = 0.29
    /// (hypergeometric)."
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (k, wrong) = (self.nodes.len(), self.misclassified());
        write!(
            f,
            "{}, {}: {wrong} of the {k} images with the highest {} {} misclassified, \
             where a random draw of {k} would hold {:.1} on average ({} of the {} images \
             are misclassified); at least {wrong} by chance: P = {:.2} (hypergeometric).",
            self.representation_title,
            self.construction,
            self.by.name(),
            if wrong == 1 { "is" } else { "are" },
            self.expected(),
            self.errors,
            self.images,
            self.p_value()
        )
    }
}

impl fmt::Display for NodeClaim {
    /// One sentence per ranking ([`TopNodes`]'s `Display`), one per line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, t) in self.tops.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{t}")?;
        }
        Ok(())
    }
}

impl fmt::Display for ClusteringSummary {
    /// E.g. "Without labels, the classes are recovered best by k-means on the dense
    /// embedding (adjusted Rand index 0.72, purity 0.80); k-means ARI by representation:
    /// input pixels 0.33, …".
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Some(best) = &self.best else {
            return f.write_str("No clustering was run.");
        };
        let kmeans: Vec<String> = self
            .kmeans_ari
            .iter()
            .map(|(rep, ari)| format!("{} {ari:.2}", rep.label()))
            .collect();
        write!(
            f,
            "Without labels, the classes are recovered best by {} on the {} (adjusted Rand \
             index {:.2}, purity {:.2}); k-means ARI by representation: {}.",
            best.method.name(),
            best.representation.label(),
            best.ari,
            best.purity,
            kmeans.join(", ")
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::{Detector, Interval};
    use crate::features::Representation;

    fn result(detector: Detector, estimate: f64, lower: f64, upper: f64) -> DetectorResult {
        DetectorResult {
            measure: Some("knn"),
            representation: Some(Representation::Dense),
            detector,
            auc: Interval {
                estimate,
                lower,
                upper,
                level: 0.95,
                resamples_used: 100,
                skipped: 0,
            },
            average_precision: Interval {
                estimate: 0.1,
                lower: 0.05,
                upper: 0.15,
                level: 0.95,
                resamples_used: 100,
                skipped: 0,
            },
        }
    }

    fn verdict(above: usize, below: usize, best: f64, strength: Option<Strength>) -> Verdict {
        let v = Verdict {
            images: 1000,
            errors: 75,
            level: 0.95,
            above,
            includes: 24 - above - below,
            below,
            best: Some(result(
                Detector::Betweenness,
                best,
                best - 0.05,
                best + 0.05,
            )),
            uncertainty: Some(result(Detector::Uncertainty, 0.9, 0.88, 0.92)),
            knn_disagreement: None,
        };
        assert_eq!(v.strength(), strength);
        v
    }

    #[test]
    fn each_category_has_its_words_and_the_numbers_are_printed() {
        let v = verdict(0, 12, 0.55, None);
        let text = v.to_string();
        assert!(text.starts_with("On 1000 test images (75 misclassified, 7.5 %), 24 centrality"));
        assert!(
            text.contains("0 do better than chance, 12 cannot be told from chance, and 12 point")
        );
        assert!(text.contains("is not supported here."));
        assert!(!text.contains("Where it holds"));
        assert!(text.contains("uncertainty reaches AUC 0.90 (0.88–0.92)."));
        assert!(text.contains("No centrality score comes close"));

        let v = verdict(3, 5, 0.65, Some(Strength::Weak));
        let text = v.to_string();
        assert!(text.contains("not supported overall"), "{text}");
        assert!(text.contains("centrality is a weak detector"), "{text}");
        // 5 % of 24 intervals is 1.2, rounded up 2 < 3: not flagged as chance level.
        assert!(!text.contains("weak evidence"), "{text}");

        let v = verdict(2, 0, 0.86, Some(Strength::Useful));
        let text = v.to_string();
        assert!(text.contains("centrality is a useful detector"), "{text}");
        assert!(
            text.contains("about 1.2 would exclude 0.5 by chance alone"),
            "{text}"
        );
        assert!(!text.contains("not supported"), "{text}");
        assert!(!text.contains("No centrality score comes close"), "{text}");
    }

    #[test]
    fn empty_summaries_say_so() {
        let c = ClusteringSummary {
            best: None,
            kmeans_ari: Vec::new(),
        };
        assert_eq!(c.to_string(), "No clustering was run.");
        let s = Statement {
            construction: "kNN, k = 5".into(),
            same_class_share: None,
            modularity: None,
        };
        assert_eq!(
            s.to_string(),
            "kNN, k = 5: no representation's graph has edges; nothing to compare."
        );
    }
}
