//! Evaluating a classifier: confusion matrix, per-class precision / recall / F1, the most
//! frequent confusions, and the misclassified examples ordered by confidence.
//!
//! Everything takes plain slices (true labels, predicted labels, softmax probabilities),
//! so it works with any model; [`evaluate`] runs a trained [`Model`] on a data set and
//! [`TestResults`] gathers everything the test evaluation shows. Tables come as polars
//! DataFrames, which [`write_csv`] saves; the charts are in
//! the facade crate (`fashion::plot::ConfusionHeatmap`, `PerClassBars`,
//! `MisclassifiedGallery`).
//!
//! ```
//! use fashion_nn::eval::ConfusionMatrix;
//!
//! # fn main() -> fashion_nn::Result<()> {
//! let labels = [0u8, 0, 1, 1, 2, 2];
//! let predicted = [0u8, 1, 1, 1, 2, 0];
//! let cm = ConfusionMatrix::new(&labels, &predicted)?;
//! assert_eq!(cm.count(0, 1), 1); // one T-shirt/top taken for a Trouser
//! assert_eq!(cm.accuracy(), 4.0 / 6.0);
//! let trouser = &cm.per_class()[1];
//! assert_eq!((trouser.precision, trouser.recall), (2.0 / 3.0, 1.0));
//! let top = cm.most_confused(1);
//! assert_eq!((top[0].true_class, top[0].predicted, top[0].count), (0, 1, 1));
//! # Ok(()) }
//! ```

use std::path::Path;

use ndarray::Array2;
use polars::prelude::*;

use fashion_data::io::{write_atomic, write_csv};
use fashion_data::{BatchIter, CLASS_NAMES, Dataset, NUM_CLASSES, Preprocess};
use serde::{Deserialize, Serialize};

use crate::Model;
use crate::error::{Error, Result};

/// Counts of (true class, predicted class) pairs: a 10 × 10 matrix whose rows are the
/// true classes and columns the predicted ones, as in the classic Fashion-MNIST figure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfusionMatrix {
    counts: Array2<u64>,
}

/// Precision, recall and F1 of one class (one-vs-rest).
///
/// A class that is never predicted has no defined precision (0 / 0): it is reported as
/// 0 with [`precision_defined`](Self::precision_defined) `false`, never NaN. Likewise a
/// class absent from the true labels gets recall 0 with `recall_defined` `false`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ClassMetrics {
    /// The class (0..10).
    pub class: usize,
    /// Correct predictions of this class ÷ all predictions of it.
    pub precision: f64,
    /// Correct predictions of this class ÷ its true examples.
    pub recall: f64,
    /// Harmonic mean of precision and recall (0 when both are 0).
    pub f1: f64,
    /// Number of true examples of the class.
    pub support: u64,
    /// Number of examples predicted as the class.
    pub predicted: u64,
    /// `false` when the class was never predicted (precision would be 0 / 0).
    pub precision_defined: bool,
    /// `false` when the class has no true examples (recall would be 0 / 0).
    pub recall_defined: bool,
}

/// Averages of the per-class metrics.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Averages {
    /// Average precision.
    pub precision: f64,
    /// Average recall.
    pub recall: f64,
    /// Average F1 (the average of the per-class F1 scores, as scikit-learn).
    pub f1: f64,
    /// Total number of examples.
    pub support: u64,
}

/// One off-diagonal cell of a confusion matrix.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Confusion {
    /// The true class.
    pub true_class: usize,
    /// The class predicted instead.
    pub predicted: usize,
    /// How many examples of `true_class` were predicted as `predicted`.
    pub count: u64,
    /// `count` as a share of all true examples of `true_class`.
    pub share: f64,
}

impl ConfusionMatrix {
    /// Counts the pairs `(labels[i], predicted[i])`.
    ///
    /// Errors: empty input, slices of different lengths, or a label or prediction
    /// outside 0–9 ([`LabelOutOfRange`](fashion_data::Error::LabelOutOfRange) naming the slice and the index).
    pub fn new(labels: &[u8], predicted: &[u8]) -> Result<ConfusionMatrix> {
        check_labels(labels, predicted)?;
        let mut counts = Array2::zeros((NUM_CLASSES, NUM_CLASSES));
        for (&t, &p) in labels.iter().zip(predicted) {
            counts[[t as usize, p as usize]] += 1;
        }
        Ok(ConfusionMatrix { counts })
    }

    /// Builds a matrix from precomputed counts (rows true, columns predicted).
    ///
    /// Errors: a shape other than 10 × 10, or no counts at all.
    pub fn from_counts(counts: Array2<u64>) -> Result<ConfusionMatrix> {
        if counts.dim() != (NUM_CLASSES, NUM_CLASSES) {
            return Err(Error::ShapeMismatch {
                op: "ConfusionMatrix::from_counts",
                expected: format!("{NUM_CLASSES}×{NUM_CLASSES} counts"),
                found: format!("{:?}", counts.shape()),
            });
        }
        if counts.sum() == 0 {
            return Err(Error::invalid("counts", "at least one example", "all zero"));
        }
        Ok(ConfusionMatrix { counts })
    }

    /// The 10 × 10 counts: row = true class, column = predicted class.
    pub fn counts(&self) -> &Array2<u64> {
        &self.counts
    }

    /// Examples of class `true_class` predicted as `predicted` (0 for classes ≥ 10).
    pub fn count(&self, true_class: usize, predicted: usize) -> u64 {
        self.counts
            .get([true_class, predicted])
            .copied()
            .unwrap_or(0)
    }

    /// Number of examples.
    pub fn total(&self) -> u64 {
        self.counts.sum()
    }

    /// Share of examples on the diagonal.
    pub fn accuracy(&self) -> f64 {
        let correct: u64 = self.counts.diag().sum();
        correct as f64 / self.total() as f64
    }

    /// True examples of each class (the row sums).
    pub fn support(&self) -> [u64; NUM_CLASSES] {
        std::array::from_fn(|c| self.counts.row(c).sum())
    }

    /// Predictions of each class (the column sums).
    pub fn predicted_counts(&self) -> [u64; NUM_CLASSES] {
        std::array::from_fn(|c| self.counts.column(c).sum())
    }

    /// Precision, recall, F1 and support of every class, in class order.
    pub fn per_class(&self) -> Vec<ClassMetrics> {
        let support = self.support();
        let predicted = self.predicted_counts();
        (0..NUM_CLASSES)
            .map(|c| {
                let tp = self.counts[[c, c]] as f64;
                let ratio = |d: u64| if d == 0 { 0.0 } else { tp / d as f64 };
                let (precision, recall) = (ratio(predicted[c]), ratio(support[c]));
                let f1 = if precision + recall > 0.0 {
                    2.0 * precision * recall / (precision + recall)
                } else {
                    0.0
                };
                ClassMetrics {
                    class: c,
                    precision,
                    recall,
                    f1,
                    support: support[c],
                    predicted: predicted[c],
                    precision_defined: predicted[c] > 0,
                    recall_defined: support[c] > 0,
                }
            })
            .collect()
    }

    /// Unweighted mean of the per-class metrics over the classes that occur in the
    /// labels or the predictions (scikit-learn's `macro` average with
    /// `zero_division=0`: a class never predicted counts with precision 0).
    pub fn macro_avg(&self) -> Averages {
        let present: Vec<ClassMetrics> = self
            .per_class()
            .into_iter()
            .filter(|m| m.support > 0 || m.predicted > 0)
            .collect();
        let n = present.len().max(1) as f64;
        let mean = |f: fn(&ClassMetrics) -> f64| present.iter().map(f).sum::<f64>() / n;
        Averages {
            precision: mean(|m| m.precision),
            recall: mean(|m| m.recall),
            f1: mean(|m| m.f1),
            support: self.total(),
        }
    }

    /// Mean of the per-class metrics weighted by support (scikit-learn's `weighted`
    /// average; its recall equals the accuracy).
    pub fn weighted_avg(&self) -> Averages {
        let metrics = self.per_class();
        let total = self.total() as f64;
        let mean = |f: fn(&ClassMetrics) -> f64| {
            metrics.iter().map(|m| f(m) * m.support as f64).sum::<f64>() / total
        };
        Averages {
            precision: mean(|m| m.precision),
            recall: mean(|m| m.recall),
            f1: mean(|m| m.f1),
            support: self.total(),
        }
    }

    /// Each row divided by its sum: the share of each true class predicted as each
    /// class (the diagonal is the per-class recall). A class without examples keeps a
    /// row of zeros.
    pub fn row_normalised(&self) -> Array2<f64> {
        let mut out = self.counts.mapv(|c| c as f64);
        for mut row in out.rows_mut() {
            let sum = row.sum();
            if sum > 0.0 {
                row /= sum;
            }
        }
        out
    }

    /// The `k` largest off-diagonal cells with at least one example: by count, then by
    /// share of the true class, then by (true, predicted) class.
    pub fn most_confused(&self, k: usize) -> Vec<Confusion> {
        let support = self.support();
        let mut cells: Vec<Confusion> = self
            .counts
            .indexed_iter()
            .filter(|&((t, p), &n)| t != p && n > 0)
            .map(|((t, p), &n)| Confusion {
                true_class: t,
                predicted: p,
                count: n,
                share: n as f64 / support[t] as f64,
            })
            .collect();
        cells.sort_by(|a, b| {
            b.count
                .cmp(&a.count)
                .then(b.share.total_cmp(&a.share))
                .then((a.true_class, a.predicted).cmp(&(b.true_class, b.predicted)))
        });
        cells.truncate(k);
        cells
    }

    /// The counts as a table: a column `true` with the class names, then one count
    /// column per predicted class, named by class.
    pub fn to_frame(&self) -> Result<DataFrame> {
        let mut columns = vec![Column::new("true".into(), CLASS_NAMES.to_vec())];
        for (c, name) in CLASS_NAMES.iter().enumerate() {
            columns.push(Column::new((*name).into(), self.counts.column(c).to_vec()));
        }
        Ok(DataFrame::new_infer_height(columns)?)
    }

    /// Per-class metrics as a table: columns `class`, `precision`, `recall`, `f1`,
    /// `support`, `predicted`, one row per class, then the rows `macro avg` and
    /// `weighted avg` (whose `predicted` is the total).
    pub fn per_class_frame(&self) -> Result<DataFrame> {
        let metrics = self.per_class();
        let mut class: Vec<&str> = CLASS_NAMES.to_vec();
        let mut precision: Vec<f64> = metrics.iter().map(|m| m.precision).collect();
        let mut recall: Vec<f64> = metrics.iter().map(|m| m.recall).collect();
        let mut f1: Vec<f64> = metrics.iter().map(|m| m.f1).collect();
        let mut support: Vec<u64> = metrics.iter().map(|m| m.support).collect();
        let mut predicted: Vec<u64> = metrics.iter().map(|m| m.predicted).collect();
        for (name, avg) in [
            ("macro avg", self.macro_avg()),
            ("weighted avg", self.weighted_avg()),
        ] {
            class.push(name);
            precision.push(avg.precision);
            recall.push(avg.recall);
            f1.push(avg.f1);
            support.push(avg.support);
            predicted.push(avg.support);
        }
        Ok(df!(
            "class" => class,
            "precision" => precision,
            "recall" => recall,
            "f1" => f1,
            "support" => support,
            "predicted" => predicted,
        )?)
    }

    /// [`most_confused`](Self::most_confused) as a table: columns `true`, `predicted`
    /// (class names), `count` and `share`.
    pub fn most_confused_frame(&self, k: usize) -> Result<DataFrame> {
        let cells = self.most_confused(k);
        Ok(df!(
            "true" => cells.iter().map(|c| CLASS_NAMES[c.true_class]).collect::<Vec<_>>(),
            "predicted" => cells.iter().map(|c| CLASS_NAMES[c.predicted]).collect::<Vec<_>>(),
            "count" => cells.iter().map(|c| c.count).collect::<Vec<_>>(),
            "share" => cells.iter().map(|c| c.share).collect::<Vec<_>>(),
        )?)
    }
}

/// A misclassified example.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Misclassified {
    /// Its index in the test set (or the index given for it).
    pub index: usize,
    /// Its true class.
    pub true_class: u8,
    /// The class predicted.
    pub predicted: u8,
    /// The probability the model gave the predicted class: its confidence.
    pub p: f32,
}

/// The misclassified examples, most confident mistakes first (by the probability of the
/// predicted class, descending; ties by index).
///
/// `probs` holds one row of 10 class probabilities per example (e.g. softmax output);
/// `indices`, if given, maps row `i` to the example's index in the test set (default:
/// `i`), for when the rows are a subset.
///
/// Errors: empty input, slices or `probs` rows of different lengths, `probs` not
/// 10 columns wide, a label outside 0–9, or a probability that is not a finite number in
/// `[0, 1]`.
///
/// ```
/// use fashion_nn::eval::misclassified;
/// use ndarray::array;
///
/// let probs = array![[0.7f32, 0.1, 0.2, 0., 0., 0., 0., 0., 0., 0.],
///                    [0.9, 0.1, 0., 0., 0., 0., 0., 0., 0., 0.],
///                    [0.6, 0.4, 0., 0., 0., 0., 0., 0., 0., 0.]];
/// let wrong = misclassified(&[0, 1, 2], &[0, 0, 0], &probs, Some(&[10, 11, 12])).unwrap();
/// assert_eq!(wrong.len(), 2);
/// assert_eq!((wrong[0].index, wrong[0].true_class, wrong[0].p), (11, 1, 0.9));
/// assert_eq!(wrong[1].index, 12);
/// ```
pub fn misclassified(
    labels: &[u8],
    predicted: &[u8],
    probs: &Array2<f32>,
    indices: Option<&[usize]>,
) -> Result<Vec<Misclassified>> {
    check_labels(labels, predicted)?;
    let n = labels.len();
    if probs.dim() != (n, NUM_CLASSES) {
        return Err(Error::ShapeMismatch {
            op: "misclassified",
            expected: format!("probs of shape [{n}, {NUM_CLASSES}]"),
            found: format!("{:?}", probs.shape()),
        });
    }
    if let Some(((row, col), &bad)) = probs
        .indexed_iter()
        .find(|&(_, &p)| !(0.0..=1.0).contains(&p))
    {
        return Err(Error::invalid(
            "probs",
            "probabilities in [0, 1]",
            format!("{bad} at row {row}, column {col}"),
        ));
    }
    if let Some(indices) = indices
        && indices.len() != n
    {
        return Err(Error::ShapeMismatch {
            op: "misclassified",
            expected: format!("one index per example ({n})"),
            found: format!("{} indices", indices.len()),
        });
    }
    let mut wrong: Vec<Misclassified> = (0..n)
        .filter(|&i| labels[i] != predicted[i])
        .map(|i| Misclassified {
            index: indices.map_or(i, |ix| ix[i]),
            true_class: labels[i],
            predicted: predicted[i],
            p: probs[[i, predicted[i] as usize]],
        })
        .collect();
    wrong.sort_by(|a, b| b.p.total_cmp(&a.p).then(a.index.cmp(&b.index)));
    Ok(wrong)
}

/// Misclassified examples as a table: columns `index`, `true`, `predicted` (class
/// names) and `p`.
pub fn misclassified_frame(wrong: &[Misclassified]) -> Result<DataFrame> {
    let name = |c: u8| CLASS_NAMES.get(c as usize).copied().unwrap_or("?");
    Ok(df!(
        "index" => wrong.iter().map(|m| m.index as u64).collect::<Vec<_>>(),
        "true" => wrong.iter().map(|m| name(m.true_class)).collect::<Vec<_>>(),
        "predicted" => wrong.iter().map(|m| name(m.predicted)).collect::<Vec<_>>(),
        "p" => wrong.iter().map(|m| m.p).collect::<Vec<_>>(),
    )?)
}

/// Checks a pair of label slices: non-empty, equal lengths, classes 0–9.
fn check_labels(labels: &[u8], predicted: &[u8]) -> Result<()> {
    if labels.is_empty() {
        return Err(Error::invalid("labels", "at least one example", "none"));
    }
    if labels.len() != predicted.len() {
        return Err(Error::ShapeMismatch {
            op: "evaluation",
            expected: format!("as many predictions as labels ({})", labels.len()),
            found: format!("{} predictions", predicted.len()),
        });
    }
    for (name, values) in [("labels", labels), ("predicted", predicted)] {
        if let Some((index, &label)) = values
            .iter()
            .enumerate()
            .find(|&(_, &l)| l as usize >= NUM_CLASSES)
        {
            return Err(Error::Data(fashion_data::Error::LabelOutOfRange {
                file: name.into(),
                index,
                label,
            }));
        }
    }
    Ok(())
}

/// Images per inference batch when a trained model is evaluated (training's validation,
/// `fashion evaluate`, `fashion report`, notebook 03). Only speed and memory depend on it:
/// every image's logits are the same whatever batch it is in.
pub const EVAL_BATCH: usize = 500;

/// Everything the test evaluation shows, computed once: the predictions, the confusion
/// matrix and the misclassified images (most confident first). Notebook 03,
/// `fashion evaluate --out` and `fashion report` all start from this.
#[derive(Debug, Clone, PartialEq)]
pub struct TestResults {
    /// Predictions, probabilities, loss and accuracy.
    pub evaluation: Evaluation,
    /// Counts of (true, predicted) pairs.
    pub confusion: ConfusionMatrix,
    /// Every misclassified image, most confident first.
    pub misclassified: Vec<Misclassified>,
}

impl TestResults {
    /// Evaluates `model` on `test` ([`EVAL_BATCH`] images at a time) and derives the
    /// confusion matrix and the misclassified images.
    ///
    /// # Errors
    /// As [`evaluate`].
    pub fn compute(model: &Model, test: &Dataset) -> Result<TestResults> {
        let evaluation = evaluate(model, test, EVAL_BATCH)?;
        let confusion = ConfusionMatrix::new(&evaluation.labels, &evaluation.predicted)?;
        let misclassified = misclassified(
            &evaluation.labels,
            &evaluation.predicted,
            &evaluation.probs,
            None,
        )?;
        Ok(TestResults {
            evaluation,
            confusion,
            misclassified,
        })
    }
}

/// A model's predictions on a data set.
#[derive(Debug, Clone, PartialEq)]
pub struct Evaluation {
    /// Mean cross-entropy.
    pub loss: f64,
    /// Share of images whose most probable class is the true one.
    pub accuracy: f64,
    /// True classes.
    pub labels: Vec<u8>,
    /// Most probable classes.
    pub predicted: Vec<u8>,
    /// Softmax probabilities, one row per image.
    pub probs: Array2<f32>,
}

/// Runs `model` in inference mode over all of `data` (`batch` images at a time).
///
/// # Errors
/// [`Error::Params`] for an empty data set or `batch` 0; tensor errors.
pub fn evaluate(model: &Model, data: &Dataset, batch: usize) -> Result<Evaluation> {
    if data.is_empty() {
        return Err(Error::invalid(
            "data",
            "at least one image",
            "an empty data set",
        ));
    }
    let mut probs = Array2::<f32>::zeros((data.len(), NUM_CLASSES));
    let mut predicted = Vec::with_capacity(data.len());
    let mut loss = 0.0f64;
    let mut correct = 0usize;
    for b in BatchIter::sequential(data, batch, Preprocess::Scaled)? {
        let f = model.features_of(&b.x, b.x.nrows())?;
        for ((row, &i), &y) in f.logits.rows().into_iter().zip(&b.indices).zip(&b.y) {
            let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let exps: Vec<f64> = row.iter().map(|&l| f64::from(l - max).exp()).collect();
            let total: f64 = exps.iter().sum();
            loss -= (exps[y as usize] / total).ln();
            let mut best = 0;
            for (c, e) in exps.iter().enumerate() {
                probs[[i, c]] = (e / total) as f32;
                if *e > exps[best] {
                    best = c;
                }
            }
            correct += usize::from(best == y as usize);
            predicted.push(best as u8);
        }
    }
    Ok(Evaluation {
        loss: loss / data.len() as f64,
        accuracy: correct as f64 / data.len() as f64,
        labels: data.labels.to_vec(),
        predicted,
        probs,
    })
}

/// Test metrics file content.
#[derive(Debug, Serialize, Deserialize)]
struct TestMetrics {
    images: usize,
    accuracy: f64,
    loss: f64,
}

impl Evaluation {
    /// Per-image table: `index, label, predicted, correct, p_0 … p_9`.
    ///
    /// # Errors
    /// [`Error::Polars`] if the frame cannot be built.
    pub fn to_frame(&self) -> Result<DataFrame> {
        let n = self.labels.len();
        let mut cols: Vec<Column> = vec![
            Column::new("index".into(), (0..n as u32).collect::<Vec<u32>>()),
            Column::new(
                "label".into(),
                self.labels.iter().map(|&c| c as u32).collect::<Vec<u32>>(),
            ),
            Column::new(
                "predicted".into(),
                self.predicted
                    .iter()
                    .map(|&c| c as u32)
                    .collect::<Vec<u32>>(),
            ),
            Column::new(
                "correct".into(),
                self.labels
                    .iter()
                    .zip(&self.predicted)
                    .map(|(a, b)| a == b)
                    .collect::<Vec<bool>>(),
            ),
        ];
        for c in 0..NUM_CLASSES {
            cols.push(Column::new(
                format!("p_{c}").into(),
                self.probs.column(c).to_vec(),
            ));
        }
        Ok(DataFrame::new(n, cols)?)
    }

    /// Writes `test_predictions.csv` and `test_metrics.json` into `dir` (atomically).
    ///
    /// # Errors
    /// [`Error::Data`] (I/O) or [`Error::Polars`] if writing fails.
    pub fn save(&self, dir: &Path) -> Result<()> {
        write_csv(&self.to_frame()?, dir.join("test_predictions.csv"))?;
        let metrics = TestMetrics {
            images: self.labels.len(),
            accuracy: self.accuracy,
            loss: self.loss,
        };
        let json = serde_json::to_string_pretty(&metrics).expect("metrics serialise");
        Ok(write_atomic(
            dir.join("test_metrics.json"),
            json.as_bytes(),
        )?)
    }
}

#[cfg(test)]
mod tests {
    use linfa::prelude::ToConfusionMatrix;
    use ndarray::{Array1, array};
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    use super::*;

    /// 12 examples of classes 0, 1, 2 and one of class 3 (never predicted); class 4 is
    /// predicted once without being a true class.
    ///
    /// | true \ pred | 0 | 1 | 2 | 4 |
    /// |---|---|---|---|---|
    /// | 0 | 3 | 1 | 0 | 0 |
    /// | 1 | 0 | 2 | 2 | 0 |
    /// | 2 | 1 | 0 | 2 | 0 |
    /// | 3 | 1 | 0 | 0 | 0 |
    /// | 4 | — | — | — | — | (class 4 has no true examples; one 2 is predicted 4)
    fn example() -> (Vec<u8>, Vec<u8>) {
        let pairs: [(u8, u8); 13] = [
            (0, 0),
            (0, 0),
            (0, 1),
            (0, 0),
            (1, 1),
            (1, 2),
            (1, 1),
            (1, 2),
            (2, 2),
            (2, 0),
            (2, 4),
            (2, 2),
            (3, 0),
        ];
        pairs.iter().copied().unzip()
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12
    }

    #[test]
    fn counts_on_a_hand_made_example() {
        let (labels, predicted) = example();
        let cm = ConfusionMatrix::new(&labels, &predicted).unwrap();
        let mut expected = Array2::<u64>::zeros((10, 10));
        for (t, p, n) in [
            (0, 0, 3),
            (0, 1, 1),
            (1, 1, 2),
            (1, 2, 2),
            (2, 0, 1),
            (2, 2, 2),
            (2, 4, 1),
            (3, 0, 1),
        ] {
            expected[[t, p]] = n;
        }
        assert_eq!(cm.counts(), &expected);
        assert_eq!(cm.total(), 13);
        assert_eq!(cm.count(1, 2), 2);
        assert_eq!(cm.count(2, 1), 0);
        assert_eq!(cm.count(10, 0), 0);
        assert!(close(cm.accuracy(), 7.0 / 13.0));
        assert_eq!(cm.support()[..5], [4, 4, 4, 1, 0]);
        assert_eq!(cm.predicted_counts()[..5], [5, 3, 4, 0, 1]);
        assert_eq!(
            ConfusionMatrix::from_counts(expected.clone()).unwrap(),
            cm,
            "from_counts round-trips"
        );
    }

    #[test]
    fn metrics_match_hand_computed_values() {
        let (labels, predicted) = example();
        let cm = ConfusionMatrix::new(&labels, &predicted).unwrap();
        let m = cm.per_class();
        // Class 0: TP 3, predicted 5 (3 + one 2 + one 3), support 4.
        assert!(close(m[0].precision, 3.0 / 5.0));
        assert!(close(m[0].recall, 3.0 / 4.0));
        // F1 = 2 · 0.6 · 0.75 / 1.35 = 2/3.
        assert!(close(m[0].f1, 2.0 / 3.0));
        // Class 1: TP 2, predicted 3, support 4: P 2/3, R 1/2, F1 = (2/3) / (7/6) = 4/7.
        assert!(close(m[1].precision, 2.0 / 3.0));
        assert!(close(m[1].recall, 0.5));
        assert!(close(m[1].f1, 4.0 / 7.0));
        // Class 2: TP 2, predicted 4, support 4: all 1/2.
        assert!(close(m[2].precision, 0.5) && close(m[2].recall, 0.5) && close(m[2].f1, 0.5));
        // Macro over the present classes 0–4 (precision of 3 and 4 are 0):
        // P (0.6 + 2/3 + 0.5 + 0 + 0) / 5, R (0.75 + 0.5 + 0.5 + 0 + 0) / 5.
        let mac = cm.macro_avg();
        assert!(close(mac.precision, (0.6 + 2.0 / 3.0 + 0.5) / 5.0));
        assert!(close(mac.recall, 1.75 / 5.0));
        assert!(close(mac.f1, (2.0 / 3.0 + 4.0 / 7.0 + 0.5) / 5.0));
        assert_eq!(mac.support, 13);
        // Weighted by support 4, 4, 4, 1 (class 4 has none).
        let w = cm.weighted_avg();
        assert!(close(w.precision, 4.0 * (0.6 + 2.0 / 3.0 + 0.5) / 13.0));
        assert!(close(w.recall, cm.accuracy()), "weighted recall = accuracy");
        assert!(close(w.f1, 4.0 * (2.0 / 3.0 + 4.0 / 7.0 + 0.5) / 13.0));
    }

    #[test]
    fn a_never_predicted_class_is_flagged_not_nan() {
        let (labels, predicted) = example();
        let cm = ConfusionMatrix::new(&labels, &predicted).unwrap();
        let m = cm.per_class();
        // Class 3: one true example, never predicted.
        assert_eq!(m[3].predicted, 0);
        assert!(!m[3].precision_defined && m[3].recall_defined);
        assert_eq!((m[3].precision, m[3].recall, m[3].f1), (0.0, 0.0, 0.0));
        // Class 4: predicted once, no true examples.
        assert!(m[4].precision_defined && !m[4].recall_defined);
        assert_eq!((m[4].precision, m[4].recall), (0.0, 0.0));
        // Classes 5–9: neither.
        assert!(!m[7].precision_defined && !m[7].recall_defined);
        for metric in &m {
            assert!(metric.precision.is_finite() && metric.recall.is_finite());
            assert!(metric.f1.is_finite());
        }
        let frame = cm.per_class_frame().unwrap();
        let p = frame.column("precision").unwrap().f64().unwrap();
        assert_eq!(p.null_count(), 0);
        assert!(p.into_no_null_iter().all(f64::is_finite));
    }

    #[test]
    fn row_normalised_and_most_confused() {
        let (labels, predicted) = example();
        let cm = ConfusionMatrix::new(&labels, &predicted).unwrap();
        let r = cm.row_normalised();
        assert!(close(r[[0, 0]], 0.75) && close(r[[0, 1]], 0.25));
        assert!(close(r[[3, 0]], 1.0));
        assert_eq!(r.row(5).sum(), 0.0, "a class without examples stays zero");
        for row in 0..4 {
            assert!(close(r.row(row).sum(), 1.0));
        }
        let top = cm.most_confused(3);
        let cells: Vec<_> = top
            .iter()
            .map(|c| (c.true_class, c.predicted, c.count))
            .collect();
        // (1→2) has 2; then the count-1 cells by share: 3→0 (1/1), then 0→1, 2→0, 2→4
        // (1/4 each) in class order.
        assert_eq!(cells, [(1, 2, 2), (3, 0, 1), (0, 1, 1)]);
        assert!(close(top[0].share, 0.5) && close(top[1].share, 1.0));
        assert_eq!(cm.most_confused(100).len(), 5);
        assert!(cm.most_confused(0).is_empty());
    }

    #[test]
    fn frames_have_the_expected_layout() {
        let (labels, predicted) = example();
        let cm = ConfusionMatrix::new(&labels, &predicted).unwrap();
        let df = cm.to_frame().unwrap();
        assert_eq!(df.shape(), (10, 11));
        assert_eq!(df.get_column_names()[0].as_str(), "true");
        assert_eq!(df.get_column_names()[1].as_str(), "T-shirt/top");
        let col = df.column("Pullover").unwrap().u64().unwrap();
        assert_eq!(col.get(1), Some(2), "true Trouser predicted Pullover");
        let names = df.column("true").unwrap().str().unwrap();
        assert_eq!(names.get(9), Some("Ankle boot"));

        let pc = cm.per_class_frame().unwrap();
        assert_eq!(pc.shape(), (12, 6));
        let class = pc.column("class").unwrap().str().unwrap();
        assert_eq!(
            (class.get(10), class.get(11)),
            (Some("macro avg"), Some("weighted avg"))
        );
        let rec = pc.column("recall").unwrap().f64().unwrap();
        assert!(close(rec.get(11).unwrap(), cm.accuracy()));

        let mc = cm.most_confused_frame(2).unwrap();
        assert_eq!(mc.shape(), (2, 4));
        let t = mc.column("true").unwrap().str().unwrap();
        let p = mc.column("predicted").unwrap().str().unwrap();
        assert_eq!((t.get(0), p.get(0)), (Some("Trouser"), Some("Pullover")));
    }

    #[test]
    fn csv_is_written_atomically() {
        let (labels, predicted) = example();
        let cm = ConfusionMatrix::new(&labels, &predicted).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("confusion.csv");
        write_csv(&cm.to_frame().unwrap(), &path).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 11);
        assert!(
            lines[0].starts_with("true,T-shirt/top,Trouser,"),
            "{}",
            lines[0]
        );
        assert_eq!(lines[1], "T-shirt/top,3,1,0,0,0,0,0,0,0,0");
        assert_eq!(lines[3], "Pullover,1,0,2,0,1,0,0,0,0,0");
        let entries: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(entries.len(), 1, "no temporary file left behind");
        let err = write_csv(&cm.to_frame().unwrap(), dir.path().join("no/such.csv"));
        assert!(matches!(err, Err(fashion_data::Error::Io { .. })));
    }

    #[test]
    fn bad_input_is_an_error() {
        let err = ConfusionMatrix::new(&[], &[]).unwrap_err();
        assert!(
            matches!(err, Error::Params(crate::ParamError { name: "labels", .. })),
            "{err}"
        );
        let err = ConfusionMatrix::new(&[1, 2], &[1]).unwrap_err();
        assert!(matches!(err, Error::ShapeMismatch { .. }), "{err}");
        let err = ConfusionMatrix::new(&[1, 2, 3], &[1, 2, 12]).unwrap_err();
        match &err {
            Error::Data(fashion_data::Error::LabelOutOfRange { file, index, label }) => {
                assert_eq!((file.as_str(), *index, *label), ("predicted", 2, 12))
            }
            other => panic!("{other:?}"),
        }
        assert!(err.to_string().contains("index 2"), "{err}");
        assert!(ConfusionMatrix::new(&[10], &[1]).is_err());
        assert!(ConfusionMatrix::from_counts(Array2::zeros((10, 9))).is_err());
        assert!(ConfusionMatrix::from_counts(Array2::zeros((10, 10))).is_err());
    }

    /// Our per-class metrics against linfa's. linfa 0.8.1 lays its matrix out with
    /// *predicted* labels as rows and drops classes absent from both slices; its
    /// one-vs-all matrices are `[[tp, fp], [fn, tn]]` and its binary `precision()` is
    /// `m00 / (m00 + m10)` = tp / (tp + fn), i.e. what is usually called recall (and its
    /// `recall()` tp / (tp + fp), precision). F1 is symmetric in the two.
    #[test]
    fn per_class_metrics_match_linfa() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let n = 500;
        // Classes 0–7 only (8 and 9 absent); predictions right 60% of the time.
        let labels: Vec<u8> = (0..n).map(|_| rng.gen_range(0..8)).collect();
        let predicted: Vec<u8> = labels
            .iter()
            .map(|&l| {
                if rng.gen_bool(0.6) {
                    l
                } else {
                    rng.gen_range(0..8)
                }
            })
            .collect();
        let cm = ConfusionMatrix::new(&labels, &predicted).unwrap();
        let ours = cm.per_class();

        let pred = Array1::from(predicted.iter().map(|&p| p as usize).collect::<Vec<_>>());
        let truth = Array1::from(labels.iter().map(|&l| l as usize).collect::<Vec<_>>());
        let theirs = pred.confusion_matrix(&truth).unwrap();
        assert!((theirs.accuracy() as f64 - cm.accuracy()).abs() < 1e-6);
        let split = theirs.split_one_vs_all();
        assert_eq!(split.len(), 8, "linfa keeps the 8 classes present");
        for (c, bin) in split.iter().enumerate() {
            let m = &ours[c];
            assert!(
                (bin.recall() as f64 - m.precision).abs() < 1e-5,
                "class {c}"
            );
            assert!(
                (bin.precision() as f64 - m.recall).abs() < 1e-5,
                "class {c}"
            );
            assert!((bin.f1_score() as f64 - m.f1).abs() < 1e-5, "class {c}");
        }
        // linfa's averages are macro over the classes present.
        let mac = cm.macro_avg();
        assert!((theirs.recall() as f64 - mac.precision).abs() < 1e-5);
        assert!((theirs.precision() as f64 - mac.recall).abs() < 1e-5);
    }

    #[test]
    fn misclassified_are_ordered_by_confidence() {
        let labels = [0u8, 1, 2, 3, 4];
        let predicted = [0u8, 2, 1, 1, 4];
        let mut probs = Array2::<f32>::zeros((5, 10));
        for (i, &p) in predicted.iter().enumerate() {
            probs[[i, p as usize]] = [0.9, 0.55, 0.8, 0.55, 0.99][i];
        }
        let wrong = misclassified(&labels, &predicted, &probs, None).unwrap();
        let got: Vec<_> = wrong
            .iter()
            .map(|m| (m.index, m.true_class, m.predicted, m.p))
            .collect();
        // Rows 1, 2, 3 are wrong; 2 (p 0.8) first, then the tie 0.55 by index.
        assert_eq!(got, [(2, 2, 1, 0.8), (1, 1, 2, 0.55), (3, 3, 1, 0.55)]);
        let with_ix =
            misclassified(&labels, &predicted, &probs, Some(&[50, 40, 30, 20, 10])).unwrap();
        let order: Vec<usize> = with_ix.iter().map(|m| m.index).collect();
        assert_eq!(order, [30, 20, 40], "ties broken by the given index");
        let df = misclassified_frame(&wrong).unwrap();
        assert_eq!(df.shape(), (3, 4));
        let t = df.column("true").unwrap().str().unwrap();
        assert_eq!(t.get(0), Some("Pullover"));

        // Errors.
        let bad_shape = Array2::<f32>::zeros((5, 9));
        assert!(misclassified(&labels, &predicted, &bad_shape, None).is_err());
        let mut nan = probs.clone();
        nan[[4, 3]] = f32::NAN;
        let err = misclassified(&labels, &predicted, &nan, None).unwrap_err();
        assert!(err.to_string().contains("row 4, column 3"), "{err}");
        assert!(misclassified(&labels, &predicted, &probs, Some(&[1, 2])).is_err());
        assert!(misclassified(&[], &[], &Array2::zeros((0, 10)), None).is_err());
        let probs1 = array![[1.0f32, 0., 0., 0., 0., 0., 0., 0., 0., 0.]];
        assert!(misclassified(&[11], &[0], &probs1, None).is_err());
    }
}
