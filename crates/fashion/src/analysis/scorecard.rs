//! The reproduction scorecard: each of the original project's claims
//! ([`original::CLAIMS`](super::original::CLAIMS)) against what this run measures. The
//! numbers and the outcome are computed here; the report writes the table
//! (`Scorecard::table`, in [`crate::report`]).

use super::original::{self, Claim};
use super::{CentralityStudy, Support, Verdict};
use crate::eval::ConfusionMatrix;
use crate::features::Representation;

/// A class and its recall on the test set.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ClassRecall {
    /// Class label.
    pub class: u8,
    /// Share of its test images predicted correctly.
    pub recall: f64,
}

/// Which representation separates the classes best under one measure, by class
/// modularity of the study's graphs.
#[derive(Debug, Clone, PartialEq)]
pub struct Separation {
    /// The measure.
    pub measure: &'static str,
    /// The representation with the highest modularity (ties: the earlier one).
    pub best: Representation,
    /// Its modularity.
    pub modularity: f64,
    /// The dense embedding's modularity.
    pub dense: Option<f64>,
}

/// How far a correlation graph keeps garment types together.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TypeGrouping {
    /// The representation.
    pub representation: Representation,
    /// Share of its edges joining two images of the same garment type.
    pub share: f64,
}

/// How a measured result compares with the original's claim.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The measurement agrees with the claim.
    Reproduced,
    /// It agrees in part (e.g. under some measures only).
    Partly,
    /// It does not agree.
    NotReproduced,
}

/// The original's claims against this run: every field is computed from the run's test
/// evaluation and its [`CentralityStudy`] (the study's 1 000 images and 12 graphs).
#[derive(Debug, Clone, PartialEq)]
pub struct Scorecard {
    /// Test accuracy of this run on the official test set.
    pub test_accuracy: f64,
    /// The three classes with the lowest recall, weakest first.
    pub weakest: Vec<ClassRecall>,
    /// One entry per measure of the study.
    pub separation: Vec<Separation>,
    /// One entry per representation, for the study's correlation graphs.
    pub type_grouping: Vec<TypeGrouping>,
    /// Same-type share of edges drawn at random between the study's images.
    pub type_chance: f64,
    /// The study's verdict on the centrality claim.
    pub verdict: Verdict,
}

impl Scorecard {
    /// Collects the scorecard's numbers from a run's confusion matrix on the official
    /// test set (`TestResults::confusion`) and its study.
    pub fn compute(confusion: &ConfusionMatrix, study: &CentralityStudy) -> Scorecard {
        let mut recalls: Vec<ClassRecall> = confusion
            .per_class()
            .iter()
            .filter(|m| m.recall_defined)
            .map(|m| ClassRecall {
                class: m.class as u8,
                recall: m.recall,
            })
            .collect();
        recalls.sort_by(|a, b| a.recall.total_cmp(&b.recall).then(a.class.cmp(&b.class)));
        recalls.truncate(3);

        let mut separation = Vec::new();
        for measure in study.params.measures.iter().map(|m| m.name()) {
            let graphs: Vec<_> = study
                .graphs
                .iter()
                .filter(|g| g.measure == measure)
                .collect();
            let mut best: Option<(Representation, f64)> = None;
            for g in &graphs {
                if let Some(q) = g.modularity
                    && best.is_none_or(|(_, b)| q > b)
                {
                    best = Some((g.representation, q));
                }
            }
            if let Some((rep, q)) = best {
                separation.push(Separation {
                    measure,
                    best: rep,
                    modularity: q,
                    dense: graphs
                        .iter()
                        .find(|g| g.representation == Representation::Dense)
                        .and_then(|g| g.modularity),
                });
            }
        }
        let type_grouping = study
            .graphs
            .iter()
            .filter(|g| g.measure == "correlation")
            .filter_map(|g| {
                g.same_type_share.map(|share| TypeGrouping {
                    representation: g.representation,
                    share,
                })
            })
            .collect();
        Scorecard {
            test_accuracy: confusion.accuracy(),
            weakest: recalls,
            separation,
            type_grouping,
            type_chance: study.same_type_chance(),
            verdict: study.verdict(),
        }
    }

    /// The outcome for one claim; `None` for the test accuracy (a different network:
    /// compared, not reproduced) and where the run has no data for it.
    pub fn outcome(&self, claim: Claim) -> Option<Outcome> {
        match claim {
            Claim::TestAccuracy => None,
            Claim::WeakestClass => {
                let first = self.weakest.first()?;
                Some(if first.class == original::WEAKEST_CLASS {
                    Outcome::Reproduced
                } else if self
                    .weakest
                    .iter()
                    .any(|c| c.class == original::WEAKEST_CLASS)
                {
                    Outcome::Partly
                } else {
                    Outcome::NotReproduced
                })
            }
            Claim::DenseSeparatesBest => {
                let wins = self.dense_wins();
                Some(match wins {
                    _ if self.separation.is_empty() => return None,
                    0 => Outcome::NotReproduced,
                    w if w == self.separation.len() => Outcome::Reproduced,
                    _ => Outcome::Partly,
                })
            }
            Claim::CorrelationGroupsByType => {
                if self.type_grouping.is_empty() {
                    return None;
                }
                let above = self.types_above_chance();
                Some(if above == self.type_grouping.len() {
                    Outcome::Reproduced
                } else if above > 0 {
                    Outcome::Partly
                } else {
                    Outcome::NotReproduced
                })
            }
            Claim::CentralityMarksErrors => {
                self.verdict
                    .best
                    .as_ref()
                    .map(|_| match self.verdict.support() {
                        Support::Partly if !self.verdict.within_chance() => Outcome::Partly,
                        Support::Partly | Support::Outweighed | Support::NotSupported => {
                            Outcome::NotReproduced
                        }
                    })
            }
        }
    }

    /// Measures under which the dense embedding has the highest class modularity.
    pub fn dense_wins(&self) -> usize {
        self.separation
            .iter()
            .filter(|s| s.best == Representation::Dense)
            .count()
    }

    /// Representations whose correlation graph keeps more edges within a garment type
    /// than random edges would.
    pub fn types_above_chance(&self) -> usize {
        self.type_grouping
            .iter()
            .filter(|t| t.share > self.type_chance)
            .count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::{CentralityStudy, StudyParams, same_type_chance};
    use crate::features::ImageFeatures;
    use crate::graph::Measure;

    /// 200 images in 10 classes whose dense embedding clusters by class and whose
    /// pixels are noise; every 8th image misclassified.
    fn features() -> ImageFeatures {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        let n = 200;
        let labels: Vec<u8> = (0..n).map(|i| (i % 10) as u8).collect();
        let centres: Vec<f32> = (0..10 * 8).map(|_| rng.gen_range(-1.0..1.0)).collect();
        let dense = ndarray::Array2::from_shape_fn((n, 8), |(i, j)| {
            centres[(i % 10) * 8 + j] + 0.2 * rng.gen_range(-1.0f32..1.0)
        });
        let noise = ndarray::Array2::from_shape_fn((n, 16), |_| rng.gen_range(0.0f32..1.0));
        ImageFeatures {
            indices: (0..n).collect(),
            predicted: labels
                .iter()
                .enumerate()
                .map(|(i, &l)| if i % 8 == 0 { (l + 1) % 10 } else { l })
                .collect(),
            labels,
            confidence: vec![0.9; n],
            input: noise.clone(),
            scaled: noise.clone(),
            map: noise,
            dense,
        }
    }

    #[test]
    fn scorecard_reads_the_study_and_decides_each_claim() {
        let f = features();
        let params = StudyParams::default()
            .measures(vec![Measure::correlation(), Measure::knn()])
            .resamples(50);
        let study = CentralityStudy::run(&f, &params).unwrap();
        // A confusion matrix where Shirt (6) has the lowest recall, then Coat (4).
        let labels: Vec<u8> = (0..100).map(|i| (i % 10) as u8).collect();
        let predicted: Vec<u8> = labels
            .iter()
            .enumerate()
            .map(|(i, &l)| match l {
                6 if i < 50 => 0,
                4 if i < 30 => 2,
                _ => l,
            })
            .collect();
        let confusion = ConfusionMatrix::new(&labels, &predicted).unwrap();
        let card = Scorecard::compute(&confusion, &study);
        assert!((card.test_accuracy - 0.92).abs() < 1e-12);
        assert_eq!(card.weakest[0].class, 6);
        assert_eq!(card.weakest[1].class, 4);
        assert_eq!(card.outcome(Claim::WeakestClass), Some(Outcome::Reproduced));
        assert_eq!(card.outcome(Claim::TestAccuracy), None);
        // The dense embedding is the only structured representation: it wins both.
        assert_eq!(card.separation.len(), 2);
        assert_eq!(card.dense_wins(), 2);
        assert_eq!(
            card.outcome(Claim::DenseSeparatesBest),
            Some(Outcome::Reproduced)
        );
        assert_eq!(card.type_grouping.len(), 4);
        assert!((card.type_chance - same_type_chance(&f.labels)).abs() < 1e-15);
        // Dense correlation edges join classes, so types: above chance there.
        let dense = card
            .type_grouping
            .iter()
            .find(|t| t.representation == Representation::Dense)
            .unwrap();
        assert!(dense.share > card.type_chance);
        assert!(card.outcome(Claim::CorrelationGroupsByType).is_some());
        assert!(card.outcome(Claim::CentralityMarksErrors).is_some());
        // Mean AUC per measure, over the four representations.
        let means = study.mean_auc_table().unwrap();
        assert_eq!(means.shape(), (2, 4));
        let knn_degree: Vec<f64> = study
            .results
            .iter()
            .filter(|r| r.measure == Some("knn") && r.detector == crate::analysis::Detector::Degree)
            .map(|r| r.auc.estimate)
            .collect();
        let expected = knn_degree.iter().sum::<f64>() / 4.0;
        let got = means
            .column("degree")
            .unwrap()
            .f64()
            .unwrap()
            .get(1)
            .unwrap();
        assert!((got - expected).abs() < 1e-12);
    }

    #[test]
    fn type_chance_counts_pairs_of_the_same_type() {
        // Two tops (T-shirt, Shirt), one sandal, one sneaker: 2 + 2 ordered pairs of 12.
        assert!((same_type_chance(&[0, 6, 5, 7]) - 4.0 / 12.0).abs() < 1e-15);
        assert_eq!(same_type_chance(&[3]), 0.0);
    }
}
