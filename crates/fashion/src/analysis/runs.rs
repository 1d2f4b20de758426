//! The centrality study over several trained runs of the same test images (networks
//! trained with different seeds): each run's intervals, and intervals pooled over the
//! runs, so a reader sees whether the verdict on the original project's claim holds from
//! one training run to the next.
//!
//! A run enters as its [`RunScores`] (every detector's score of every image, and which
//! images the run misclassifies), taken from a [`CentralityStudy`] or read back from the
//! CSV file a previous, possibly interrupted, study wrote: the scores are what the
//! graphs cost, and the intervals are recomputed from them bit for bit.
//!
//! ```
//! use fashion::analysis::{CentralityStudy, RunScores, RunsStudy, StudyParams};
//! use fashion::graph::Measure;
//! # use fashion::features::ImageFeatures;
//! # use fashion::ndarray::Array2;
//! # fn features(shift: usize) -> ImageFeatures {
//! #     let n = 40;
//! #     let labels: Vec<u8> = (0..n).map(|i| (i % 4) as u8).collect();
//! #     let predicted: Vec<u8> = (0..n).map(|i| if (i + shift) % 5 == 0 { ((i + 1) % 4) as u8 } else { (i % 4) as u8 }).collect();
//! #     let x = Array2::from_shape_fn((n, 6), |(i, j)| ((i % 4) * 3 + j) as f32 + ((i * 7 + j * 3 + shift) % 11) as f32 * 0.3);
//! #     ImageFeatures { indices: (0..n).collect(), labels, predicted,
//! #         confidence: (0..n).map(|i| if (i + shift) % 5 == 0 { 0.4 } else { 0.9 }).collect(),
//! #         input: x.clone(), scaled: x.clone(), map: x.clone(), dense: x }
//! # }
//! # fn main() -> fashion::Result<()> {
//! let params = StudyParams::default().measures(vec![Measure::knn()]).resamples(200);
//! let mut runs = Vec::new();
//! for (seed, shift) in [(42, 0), (43, 1)] {
//!     let f = features(shift); // one trained run each, the same test images
//!     let study = CentralityStudy::run(&f, &params)?;
//!     runs.push(RunScores::from_study(format!("seed {seed}"), &f, &study)?);
//! }
//! let all = RunsStudy::compute(&runs, &params)?;
//! assert_eq!(all.per_run.len(), 2);
//! assert_eq!(all.pooled.len(), all.keys.len());
//! let pooled = &all.pooled[0]; // kNN · input pixels · degree
//! let mean = (all.per_run[0][0].auc.estimate + all.per_run[1][0].auc.estimate) / 2.0;
//! assert_eq!(pooled.auc.estimate, mean);
//! # Ok(()) }
//! ```

use std::path::Path;

use polars::prelude::*;
use rayon::prelude::*;

use super::detection::{DetectorKey, detector_label};
use super::{Against, CentralityStudy, DetectorResult, bootstrap_auc_ap, pooled_bootstrap_auc_ap};
use crate::analysis::StudyParams;
use crate::error::{Error, Result};
use crate::features::ImageFeatures;

/// One trained run's detector scores on the studied images.
#[derive(Debug, Clone, PartialEq)]
pub struct RunScores {
    /// The run's name (e.g. `seed 43` or its checkpoint directory).
    pub name: String,
    /// The studied images: their indices in the official test set. Runs are pooled only
    /// over the same images, in the same order.
    pub images: Vec<usize>,
    /// Whether the run misclassifies each image.
    pub misclassified: Vec<bool>,
    /// One vector per detector (in [`StudyParams::detectors`] order), one score per image.
    pub scores: Vec<Vec<f64>>,
}

impl RunScores {
    /// The scores of a finished study of `features`' images.
    ///
    /// # Errors
    /// A study of another number of images than `features` holds.
    pub fn from_study(
        name: impl Into<String>,
        features: &ImageFeatures,
        study: &CentralityStudy,
    ) -> Result<RunScores> {
        if study.images != features.len() {
            return Err(Error::invalid(
                "study",
                format!("a study of the {} images of `features`", features.len()),
                study.images,
            ));
        }
        Ok(RunScores {
            name: name.into(),
            images: features.indices.clone(),
            misclassified: study.misclassified.clone(),
            scores: study.scores.clone(),
        })
    }

    /// Writes the scores as CSV: an `image` column (test-set index), a `misclassified`
    /// column (0/1), then one column per
    /// detector named by its label (`kNN · dense embedding · betweenness`), every value
    /// written so that it reads back exactly. Written to a temporary file and renamed,
    /// so an interrupted study never leaves half a file.
    ///
    /// # Errors
    /// The scores not matching `params`' detectors; an I/O error naming `path`.
    pub fn write_csv(&self, path: &Path, params: &StudyParams) -> Result<()> {
        let keys = params.detectors();
        if keys.len() != self.scores.len() {
            return Err(Error::invalid(
                "scores",
                format!("one score vector per detector ({})", keys.len()),
                self.scores.len(),
            ));
        }
        let mut out = String::from("image,misclassified");
        for k in &keys {
            out.push(',');
            out.push_str(&detector_label(k));
        }
        out.push('\n');
        for (i, (&image, &wrong)) in self.images.iter().zip(&self.misclassified).enumerate() {
            out.push_str(&image.to_string());
            out.push_str(if wrong { ",1" } else { ",0" });
            for s in &self.scores {
                // `{:?}` of an f64 is its shortest exact representation.
                out.push_str(&format!(",{:?}", s[i]));
            }
            out.push('\n');
        }
        crate::io::write_atomic(path, out.as_bytes())?;
        Ok(())
    }

    /// Reads scores written by [`write_csv`](Self::write_csv) for the same `params`.
    ///
    /// # Errors
    /// An I/O error naming `path`; a header naming other detectors than `params` gives
    /// (e.g. the file is from a study with other measures), a row of the wrong length or
    /// an unreadable number, each naming the file and the line.
    pub fn read_csv(
        path: &Path,
        name: impl Into<String>,
        params: &StudyParams,
    ) -> Result<RunScores> {
        let text = std::fs::read_to_string(path).map_err(|e| crate::data::Error::io(path, e))?;
        let bad = |line: usize, expected: String, found: String| {
            Error::invalid(
                "scores file",
                format!("{expected} ({}, line {line})", path.display()),
                found,
            )
        };
        let keys = params.detectors();
        let mut header = vec!["image".to_string(), "misclassified".to_string()];
        header.extend(keys.iter().map(detector_label));
        let mut lines = text.lines();
        let found: Vec<String> = lines
            .next()
            .unwrap_or("")
            .split(',')
            .map(str::to_owned)
            .collect();
        if found != header {
            return Err(bad(
                1,
                format!("the header {}", header.join(",")),
                found.join(","),
            ));
        }
        let (mut images, mut misclassified) = (Vec::new(), Vec::new());
        let mut scores = vec![Vec::new(); keys.len()];
        for (k, line) in lines.enumerate() {
            let fields: Vec<&str> = line.split(',').collect();
            if fields.len() != header.len() {
                return Err(bad(
                    k + 2,
                    format!("{} fields", header.len()),
                    fields.len().to_string(),
                ));
            }
            images.push(fields[0].parse::<usize>().map_err(|_| {
                bad(
                    k + 2,
                    "a test-set index in `image`".into(),
                    fields[0].into(),
                )
            })?);
            misclassified.push(match fields[1] {
                "1" => true,
                "0" => false,
                other => return Err(bad(k + 2, "0 or 1 in `misclassified`".into(), other.into())),
            });
            for (s, f) in scores.iter_mut().zip(&fields[2..]) {
                s.push(
                    f.parse::<f64>()
                        .map_err(|_| bad(k + 2, "a number".into(), (*f).into()))?,
                );
            }
        }
        Ok(RunScores {
            name: name.into(),
            images,
            misclassified,
            scores,
        })
    }
}

impl RunScores {
    /// Every run's scores that `fashion study --out dir` wrote (`scores-NAME.csv`, read
    /// with [`read_csv`](Self::read_csv), named `NAME`), sorted by name; empty when the
    /// directory does not exist.
    ///
    /// # Errors
    /// An unreadable directory or file, or a file of a study with other parameters.
    pub fn read_dir(dir: &Path, params: &StudyParams) -> Result<Vec<RunScores>> {
        if !dir.exists() {
            return Ok(Vec::new());
        }
        let io = |e| Error::from(crate::data::Error::io(dir, e));
        let mut files: Vec<(String, std::path::PathBuf)> = Vec::new();
        for entry in std::fs::read_dir(dir).map_err(io)? {
            let path = entry.map_err(io)?.path();
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if let Some(run) = name
                .strip_prefix("scores-")
                .and_then(|n| n.strip_suffix(".csv"))
            {
                files.push((run.to_owned(), path.clone()));
            }
        }
        files.sort();
        files
            .into_iter()
            .map(|(name, path)| RunScores::read_csv(&path, name, params))
            .collect()
    }
}

/// The study over several runs: each run's intervals and the pooled ones.
#[derive(Debug, Clone, PartialEq)]
pub struct RunsStudy {
    /// The runs' names.
    pub names: Vec<String>,
    /// Images studied (the same in every run).
    pub images: usize,
    /// Misclassified images of each run.
    pub errors: Vec<usize>,
    /// The detectors, in the order of each run's results.
    pub keys: Vec<DetectorKey>,
    /// `per_run[r][d]`: run `r`'s result for detector `d` (as [`CentralityStudy`] gives).
    pub per_run: Vec<Vec<DetectorResult>>,
    /// Per detector, pooled over the runs ([`pooled_bootstrap_auc_ap`]: mean AUC and
    /// average precision, paired resamples of the images).
    pub pooled: Vec<DetectorResult>,
    /// The parameters (resamples, level, seed of the bootstrap).
    pub params: StudyParams,
}

impl RunsStudy {
    /// Computes every run's intervals and the pooled ones from the runs' scores.
    ///
    /// # Errors
    /// Bad parameters; no runs; runs with other detectors than `params` gives or other
    /// images than the first run's (naming the run); a run without a misclassified or a
    /// correct image.
    pub fn compute(runs: &[RunScores], params: &StudyParams) -> Result<RunsStudy> {
        params.check()?;
        let keys = params.detectors();
        let Some(first) = runs.first() else {
            return Err(Error::invalid("runs", "at least one run", "none"));
        };
        let images = first.misclassified.len();
        for r in runs {
            if r.scores.len() != keys.len()
                || r.images != first.images
                || r.misclassified.len() != images
                || r.scores.iter().any(|s| s.len() != images)
            {
                return Err(Error::invalid(
                    "runs",
                    format!(
                        "{} detectors' scores of the first run's {images} test images",
                        keys.len()
                    ),
                    format!(
                        "run {:?}: {} detectors, {} images",
                        r.name,
                        r.scores.len(),
                        r.misclassified.len()
                    ),
                ));
            }
        }
        let result = |d: usize, (auc, ap): (super::Interval, super::Interval)| DetectorResult {
            measure: keys[d].0,
            representation: keys[d].1,
            detector: keys[d].2,
            auc,
            average_precision: ap,
        };
        let per_run = runs
            .iter()
            .map(|r| {
                (0..keys.len())
                    .into_par_iter()
                    .map(|d| {
                        let i = bootstrap_auc_ap(
                            &r.scores[d],
                            &r.misclassified,
                            params.resamples,
                            params.level,
                            params.seed,
                        )?;
                        Ok(result(d, i))
                    })
                    .collect::<Result<Vec<_>>>()
            })
            .collect::<Result<Vec<_>>>()?;
        let pooled = (0..keys.len())
            .into_par_iter()
            .map(|d| {
                let pairs: Vec<(&[f64], &[bool])> = runs
                    .iter()
                    .map(|r| (r.scores[d].as_slice(), r.misclassified.as_slice()))
                    .collect();
                let i =
                    pooled_bootstrap_auc_ap(&pairs, params.resamples, params.level, params.seed)?;
                Ok(result(d, i))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(RunsStudy {
            names: runs.iter().map(|r| r.name.clone()).collect(),
            images,
            errors: runs
                .iter()
                .map(|r| r.misclassified.iter().filter(|&&w| w).count())
                .collect(),
            keys,
            per_run,
            pooled,
            params: params.clone(),
        })
    }

    /// One row per detector and run, then per detector pooled (`run` = `pooled`):
    /// measure, representation, detector, run, AUC with its interval, average precision
    /// with its interval, and where the AUC interval lies against 0.5.
    pub fn table(&self) -> Result<DataFrame> {
        let mut rows: Vec<(&str, &DetectorResult)> = Vec::new();
        for d in 0..self.keys.len() {
            for (name, results) in self.names.iter().zip(&self.per_run) {
                rows.push((name.as_str(), &results[d]));
            }
            rows.push(("pooled", &self.pooled[d]));
        }
        let col = |f: fn(&DetectorResult) -> f64| rows.iter().map(|r| f(r.1)).collect::<Vec<_>>();
        Ok(df!(
            "measure" => rows.iter().map(|r| r.1.measure.unwrap_or("")).collect::<Vec<_>>(),
            "representation" => rows.iter().map(|r| r.1.representation.map_or("", |x| x.label())).collect::<Vec<_>>(),
            "detector" => rows.iter().map(|r| r.1.detector.name()).collect::<Vec<_>>(),
            "run" => rows.iter().map(|r| r.0).collect::<Vec<_>>(),
            "auc" => col(|r| r.auc.estimate),
            "auc_lower" => col(|r| r.auc.lower),
            "auc_upper" => col(|r| r.auc.upper),
            "average_precision" => col(|r| r.average_precision.estimate),
            "ap_lower" => col(|r| r.average_precision.lower),
            "ap_upper" => col(|r| r.average_precision.upper),
            "against_chance" => rows.iter().map(|r| match r.1.against_chance() {
                Against::Above => "above",
                Against::Includes => "includes 0.5",
                Against::Below => "below",
            }).collect::<Vec<_>>(),
        )?)
    }

    /// For each run and pooled: how many centrality detectors (degree, betweenness) lie
    /// above, around and below chance, and the one with the highest AUC.
    pub fn summary(&self) -> Vec<RunSummary> {
        let runs = self.names.iter().enumerate();
        runs.map(|(i, n)| (n.as_str(), Some(i)))
            .chain([("pooled", None)])
            .map(|(name, run)| {
                let v = self
                    .verdict(run)
                    .expect("an index below the number of runs");
                RunSummary {
                    run: name.to_owned(),
                    errors: run.map(|i| self.errors[i]),
                    above: v.above,
                    includes: v.includes,
                    below: v.below,
                    best: v.best,
                    uncertainty: v.uncertainty,
                }
            })
            .collect()
    }
}

impl RunsStudy {
    /// [`summary`](Self::summary) as a table: run, errors, centrality detectors above /
    /// around / below chance, the best one with its AUC and interval, and the softmax
    /// baseline's AUC and interval.
    pub fn summary_table(&self) -> Result<DataFrame> {
        let s = self.summary();
        let best = |f: fn(&DetectorResult) -> f64| {
            s.iter().map(|x| x.best.as_ref().map(f)).collect::<Vec<_>>()
        };
        let softmax = |f: fn(&DetectorResult) -> f64| {
            s.iter()
                .map(|x| x.uncertainty.as_ref().map(f))
                .collect::<Vec<_>>()
        };
        Ok(df!(
            "run" => s.iter().map(|x| x.run.clone()).collect::<Vec<_>>(),
            "errors" => s.iter().map(|x| x.errors.map(|e| e as u64)).collect::<Vec<_>>(),
            "above_chance" => s.iter().map(|x| x.above as u64).collect::<Vec<_>>(),
            "include_0.5" => s.iter().map(|x| x.includes as u64).collect::<Vec<_>>(),
            "below_chance" => s.iter().map(|x| x.below as u64).collect::<Vec<_>>(),
            "best_centrality" => s.iter().map(|x| x.best.as_ref().map(|b| b.label())).collect::<Vec<_>>(),
            "best_auc" => best(|r| r.auc.estimate),
            "best_lower" => best(|r| r.auc.lower),
            "best_upper" => best(|r| r.auc.upper),
            "softmax_auc" => softmax(|r| r.auc.estimate),
            "softmax_lower" => softmax(|r| r.auc.lower),
            "softmax_upper" => softmax(|r| r.auc.upper),
        )?)
    }
}

impl RunsStudy {
    /// The verdict on the claim for run `run` (its index in [`names`](Self::names)), or
    /// for the pooled intervals with `None`, computed from the intervals as
    /// [`CentralityStudy::verdict`](super::CentralityStudy::verdict) does. For the pooled
    /// verdict `errors` is the mean number of misclassified images per run, rounded.
    ///
    /// # Errors
    /// [`Error::Params`] naming `run` if there is no such run.
    pub fn verdict(&self, run: Option<usize>) -> Result<super::Verdict> {
        let (results, errors) = match run {
            Some(i) => match (self.per_run.get(i), self.errors.get(i)) {
                (Some(r), Some(&e)) => (r, e),
                _ => {
                    return Err(Error::invalid(
                        "run",
                        format!("a run index below {}", self.names.len()),
                        i,
                    ));
                }
            },
            None => {
                let total: usize = self.errors.iter().sum();
                let mean = (total as f64 / self.errors.len().max(1) as f64).round() as usize;
                (&self.pooled, mean)
            }
        };
        Ok(super::Verdict::from_results(
            self.images,
            errors,
            self.params.level,
            results,
        ))
    }

    /// This study's pooled intervals beside those of a smaller `study` (e.g. the
    /// report's 1 000 images), detector by detector: `measure`, `representation`,
    /// `detector`, `auc_small`, `lower_small`, `upper_small`, `auc_pooled`,
    /// `lower_pooled`, `upper_pooled`, `width_ratio` (small interval width / pooled
    /// width), `same_side` (both intervals above chance, both below, or both including
    /// 0.5). Detectors missing from `study` are left out.
    ///
    /// # Errors
    /// [`Error::Polars`] if the frame cannot be built.
    pub fn compare(&self, study: &super::CentralityStudy) -> Result<DataFrame> {
        let pairs: Vec<(&DetectorResult, &DetectorResult)> = self
            .pooled
            .iter()
            .filter_map(|p| {
                study
                    .results
                    .iter()
                    .find(|s| {
                        (s.measure, s.representation, s.detector)
                            == (p.measure, p.representation, p.detector)
                    })
                    .map(|s| (s, p))
            })
            .collect();
        let col = |f: &dyn Fn(&(&DetectorResult, &DetectorResult)) -> f64| {
            pairs.iter().map(f).collect::<Vec<_>>()
        };
        let width = |r: &DetectorResult| r.auc.upper - r.auc.lower;
        Ok(df!(
            "measure" => pairs.iter().map(|p| p.1.measure.unwrap_or("")).collect::<Vec<_>>(),
            "representation" => pairs.iter().map(|p| p.1.representation.map_or("", |x| x.label())).collect::<Vec<_>>(),
            "detector" => pairs.iter().map(|p| p.1.detector.name()).collect::<Vec<_>>(),
            "auc_small" => col(&|p| p.0.auc.estimate),
            "lower_small" => col(&|p| p.0.auc.lower),
            "upper_small" => col(&|p| p.0.auc.upper),
            "auc_pooled" => col(&|p| p.1.auc.estimate),
            "lower_pooled" => col(&|p| p.1.auc.lower),
            "upper_pooled" => col(&|p| p.1.auc.upper),
            "width_ratio" => col(&|p| width(p.0) / width(p.1)),
            "same_side" => pairs.iter().map(|p| p.0.against_chance() == p.1.against_chance()).collect::<Vec<_>>(),
        )?)
    }
}

/// The centrality detectors of one run (or pooled) against chance.
#[derive(Debug, Clone, PartialEq)]
pub struct RunSummary {
    /// The run's name, or `pooled`.
    pub run: String,
    /// Its misclassified images (`None` when pooled).
    pub errors: Option<usize>,
    /// Centrality detectors whose AUC interval lies above 0.5.
    pub above: usize,
    /// … that contain 0.5.
    pub includes: usize,
    /// … that lie below 0.5.
    pub below: usize,
    /// The centrality detector with the highest AUC.
    pub best: Option<DetectorResult>,
    /// The softmax baseline, for comparison.
    pub uncertainty: Option<DetectorResult>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::Measure;
    use ndarray::Array2;

    fn features(n: usize, shift: usize) -> ImageFeatures {
        let labels: Vec<u8> = (0..n).map(|i| (i % 4) as u8).collect();
        let wrong = |i: usize| (i * 7 + shift).is_multiple_of(6);
        let predicted = (0..n)
            .map(|i| {
                if wrong(i) {
                    ((i + 1) % 4) as u8
                } else {
                    (i % 4) as u8
                }
            })
            .collect();
        let x = Array2::from_shape_fn((n, 6), |(i, j)| {
            ((i % 4) * 3 + j) as f32 + ((i * 7 + j * 3 + shift) % 11) as f32 * 0.3
        });
        ImageFeatures {
            indices: (0..n).collect(),
            labels,
            predicted,
            confidence: (0..n).map(|i| if wrong(i) { 0.5 } else { 0.9 }).collect(),
            input: x.clone(),
            scaled: x.clone(),
            map: x.clone(),
            dense: x,
        }
    }

    fn params() -> StudyParams {
        StudyParams::default()
            .measures(vec![Measure::knn(), Measure::correlation()])
            .resamples(150)
            .seed(3)
    }

    #[test]
    fn scores_written_and_read_back_give_the_same_study_bit_for_bit() {
        // An interrupted multi-run study resumes from the files of the runs it finished:
        // the numbers must be the ones an uninterrupted study computes.
        let p = params();
        let studies: Vec<CentralityStudy> = (0..3)
            .map(|s| CentralityStudy::run(&features(60, s), &p).unwrap())
            .collect();
        let runs: Vec<RunScores> = studies
            .iter()
            .enumerate()
            .map(|(k, s)| RunScores::from_study(format!("seed {k}"), &features(60, k), s).unwrap())
            .collect();
        let whole = RunsStudy::compute(&runs, &p).unwrap();
        // Each run's results are its own study's.
        for (k, s) in studies.iter().enumerate() {
            assert_eq!(whole.per_run[k], s.results);
        }
        let dir = tempfile::tempdir().unwrap();
        let mut resumed = Vec::new();
        for r in &runs {
            let path = dir.path().join(format!("scores-{}.csv", r.name));
            r.write_csv(&path, &p).unwrap();
            resumed.push(RunScores::read_csv(&path, r.name.clone(), &p).unwrap());
        }
        assert_eq!(resumed, runs);
        assert!(RunScores::read_dir(dir.path(), &p).unwrap() == runs);
        assert!(
            RunScores::read_dir(&dir.path().join("none"), &p)
                .unwrap()
                .is_empty()
        );
        assert_eq!(RunsStudy::compute(&resumed, &p).unwrap(), whole);
        // A file of another study is refused with a reason.
        let other = params().measures(vec![Measure::knn()]);
        let e =
            RunScores::read_csv(&dir.path().join("scores-seed 0.csv"), "x", &other).unwrap_err();
        assert!(e.to_string().contains("header"), "{e}");
    }

    #[test]
    fn verdicts_and_the_comparison_follow_the_intervals() {
        let p = params();
        let f = features(60, 0);
        let study = CentralityStudy::run(&f, &p).unwrap();
        let runs = [
            RunScores::from_study("a".to_string(), &f, &study).unwrap(),
            RunScores::from_study(
                "b".to_string(),
                &features(60, 1),
                &CentralityStudy::run(&features(60, 1), &p).unwrap(),
            )
            .unwrap(),
        ];
        // One run: its verdict and the comparison with its own study are that study's.
        let one = RunsStudy::compute(&runs[..1], &p).unwrap();
        assert_eq!(one.verdict(Some(0)).unwrap(), study.verdict());
        assert_eq!(one.verdict(None).unwrap(), study.verdict());
        let cmp = one.compare(&study).unwrap();
        assert_eq!(cmp.height(), study.results.len());
        let ratio = cmp.column("width_ratio").unwrap().f64().unwrap();
        let same = cmp.column("same_side").unwrap().bool().unwrap();
        for i in 0..cmp.height() {
            let r = ratio.get(i).unwrap();
            // Zero-width intervals (constant scores) give 0/0.
            assert!(r == 1.0 || r.is_nan(), "{r}");
            assert_eq!(same.get(i), Some(true));
        }
        // Two runs: each run's counts as in the summary; pooled errors are the mean.
        let two = RunsStudy::compute(&runs, &p).unwrap();
        let summary = two.summary();
        for (k, s) in summary.iter().take(2).enumerate() {
            let v = two.verdict(Some(k)).unwrap();
            assert_eq!(v.errors, two.errors[k]);
            assert_eq!(
                (v.above, v.includes, v.below),
                (s.above, s.includes, s.below)
            );
            assert_eq!(v.best, s.best);
        }
        let pooled = two.verdict(None).unwrap();
        let mean = (two.errors[0] + two.errors[1]) as f64 / 2.0;
        assert_eq!(pooled.errors, mean.round() as usize);
        assert_eq!(pooled.above, summary[2].above);
        let err = two.verdict(Some(2)).unwrap_err();
        assert!(err.to_string().contains("`run`"), "{err}");
    }

    #[test]
    fn pooling_one_run_is_that_run_and_pooling_averages_the_estimates() {
        let p = params();
        let runs: Vec<RunScores> = (0..2)
            .map(|s| {
                let f = features(60, s);
                RunScores::from_study(
                    format!("seed {s}"),
                    &f,
                    &CentralityStudy::run(&f, &p).unwrap(),
                )
                .unwrap()
            })
            .collect();
        let one = RunsStudy::compute(&runs[..1], &p).unwrap();
        assert_eq!(one.pooled, one.per_run[0]);
        let two = RunsStudy::compute(&runs, &p).unwrap();
        for d in 0..two.keys.len() {
            let (a, b) = (&two.per_run[0][d], &two.per_run[1][d]);
            let pooled = &two.pooled[d];
            assert_eq!(pooled.auc.estimate, (a.auc.estimate + b.auc.estimate) / 2.0);
            assert!(
                pooled.auc.lower <= pooled.auc.estimate && pooled.auc.estimate <= pooled.auc.upper
            );
        }
        let t = two.table().unwrap();
        assert_eq!(t.height(), two.keys.len() * 3);
        let s = two.summary();
        assert_eq!(s.len(), 3);
        let st = two.summary_table().unwrap();
        assert_eq!((st.height(), st.width()), (3, 12));
        assert_eq!(s[2].run, "pooled");
        for x in &s {
            assert_eq!(x.above + x.includes + x.below, 2 * 2 * 4);
        }
        let svg = crate::plot::render_svg(&two.forest(None).unwrap())
            .unwrap()
            .0;
        assert!(svg.contains("Pooled over 2 runs, 60 test images"), "title");
        let svg = crate::plot::render_svg(&two.forest(Some(1)).unwrap())
            .unwrap()
            .0;
        assert!(svg.contains("seed 1: 10 misclassified of 60"), "title");
        assert!(two.forest(Some(2)).is_err());
        // Runs of other images cannot be pooled, even of the same number.
        let mut moved = runs[1].clone();
        moved.images[0] = 1000;
        assert!(RunsStudy::compute(&[runs[0].clone(), moved], &p).is_err());
        // Runs of different sizes cannot be pooled.
        let mut short = runs[1].clone();
        short.misclassified.pop();
        assert!(RunsStudy::compute(&[runs[0].clone(), short], &p).is_err());
    }
}
