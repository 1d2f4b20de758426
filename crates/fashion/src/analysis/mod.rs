//! Statistics for looking at models and representations: ROC AUC and average precision
//! with bootstrap confidence intervals, agreement between partitions (adjusted Rand
//! index, purity), label disagreement among nearest neighbours, and seeded k-means and
//! Gaussian-mixture clustering (through linfa).
//!
//! The studies ([`CentralityStudy`], [`ClusteringStudy`]) return data: tables, and a
//! [`Verdict`] or [`ClusteringSummary`] holding the numbers and categories. Their charts
//! are drawn in [`crate::plot`] (`forest()`, `chart()`) and their sentences written in
//! [`crate::report`] (each summary's `Display`).
//!
//! ```
//! use fashion::analysis::{average_precision, bootstrap_ci, roc_auc};
//!
//! # fn main() -> fashion::Result<()> {
//! let scores = [0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2];
//! let positives = [true, true, false, true, false, true, false, false];
//! // 16 positive–negative pairs, 13 ordered correctly.
//! assert_eq!(roc_auc(&scores, &positives)?, 13.0 / 16.0);
//! let ci = bootstrap_ci(&scores, &positives, roc_auc, 200, 0.9, 42)?;
//! assert!(ci.lower <= ci.estimate && ci.estimate <= ci.upper);
//! assert!(average_precision(&scores, &positives)? > 0.5);
//! # Ok(()) }
//! ```

mod clusters;
mod detection;
mod nodes;
pub mod original;
mod runs;
mod scorecard;

pub use clusters::{
    ClusterMethod, ClusteringParams, ClusteringResult, ClusteringStudy, ClusteringSummary, pca,
};
pub use detection::{
    Against, CentralityStudy, Detector, DetectorKey, DetectorResult, GraphStats, Strength,
    StudyParams, Support, USEFUL_AUC, Verdict, WEAK_AUC,
};
pub use nodes::{NodeClaim, RankBy, TopNode, TopNodes, hypergeometric_tail};
pub use runs::{RunScores, RunSummary, RunsStudy};
pub use scorecard::{ClassRecall, Outcome, Scorecard, Separation, TypeGrouping};

/// Garment types: a grouping of the ten classes by kind of article (our grouping, used
/// to test the original project's reading that correlation groups clothes by type).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum GarmentType {
    /// Worn on the upper body: T-shirt/top, Pullover, Coat, Shirt.
    Top,
    /// Trouser.
    Bottom,
    /// Dress.
    Dress,
    /// Sandal, Sneaker, Ankle boot.
    Footwear,
    /// Bag.
    Bag,
}

impl GarmentType {
    /// `"tops"`, `"trousers"`, `"dresses"`, `"footwear"`, `"bags"`.
    pub fn name(self) -> &'static str {
        match self {
            GarmentType::Top => "tops",
            GarmentType::Bottom => "trousers",
            GarmentType::Dress => "dresses",
            GarmentType::Footwear => "footwear",
            GarmentType::Bag => "bags",
        }
    }
}

/// The errors of a confusion matrix grouped by garment type: one row per type whose
/// classes are confused with each other (`"within tops"`, …), then `"across types"` for
/// errors between classes of different types; columns `group`, `errors`, `share` (of
/// all errors; 0 without errors). Types without errors inside are left out.
///
/// ```
/// use fashion::analysis::errors_by_type;
/// use fashion::eval::ConfusionMatrix;
///
/// # fn main() -> fashion::Result<()> {
/// // Two shirts called T-shirt/top (both tops), one sandal called a bag.
/// let cm = ConfusionMatrix::new(&[6, 6, 5, 1], &[0, 0, 8, 1])?;
/// let t = errors_by_type(&cm)?;
/// assert_eq!(t.height(), 2);
/// assert_eq!(t.column("errors")?.u64()?.get(0), Some(2));
/// # Ok(()) }
/// ```
///
/// # Errors
/// Building the table (polars).
pub fn errors_by_type(cm: &crate::eval::ConfusionMatrix) -> Result<polars::prelude::DataFrame> {
    use polars::prelude::*;
    let k = cm.counts().nrows() as u8;
    let mut within = std::collections::BTreeMap::<GarmentType, u64>::new();
    let mut across = 0u64;
    for t in 0..k {
        for p in (0..k).filter(|&p| p != t) {
            let n = cm.count(t as usize, p as usize);
            match (garment_type(t), garment_type(p)) {
                (Some(a), Some(b)) if a == b => *within.entry(a).or_default() += n,
                _ => across += n,
            }
        }
    }
    within.retain(|_, n| *n > 0);
    let mut groups: Vec<String> = within
        .keys()
        .map(|t| format!("within {}", t.name()))
        .collect();
    let mut errors: Vec<u64> = within.values().copied().collect();
    groups.push("across types".into());
    errors.push(across);
    let total: u64 = errors.iter().sum();
    let share: Vec<f64> = errors
        .iter()
        .map(|&e| {
            if total == 0 {
                0.0
            } else {
                e as f64 / total as f64
            }
        })
        .collect();
    Ok(df!("group" => groups, "errors" => errors, "share" => share)?)
}

/// The [`GarmentType`] of a class label; `None` for a label outside `0..=9`.
///
/// ```
/// use fashion::analysis::{garment_type, GarmentType};
/// assert_eq!(garment_type(6), Some(GarmentType::Top)); // Shirt
/// assert_eq!(garment_type(9), Some(GarmentType::Footwear)); // Ankle boot
/// assert_eq!(garment_type(10), None);
/// ```
pub fn garment_type(class: u8) -> Option<GarmentType> {
    Some(match class {
        0 | 2 | 4 | 6 => GarmentType::Top,
        1 => GarmentType::Bottom,
        3 => GarmentType::Dress,
        5 | 7 | 9 => GarmentType::Footwear,
        8 => GarmentType::Bag,
        _ => return None,
    })
}

/// Share of a graph's edges joining two images of the same [`GarmentType`]; `None`
/// without edges.
pub fn same_type_share(g: &crate::graph::SimilarityGraph) -> Option<f64> {
    let nodes = g.nodes();
    let edges = g.edge_list();
    if edges.is_empty() {
        return None;
    }
    let same = edges
        .iter()
        .filter(|&&(i, j, _)| garment_type(nodes[i].class) == garment_type(nodes[j].class))
        .count();
    Some(same as f64 / edges.len() as f64)
}

/// Share of pairs of distinct images (of these labels) that have the same
/// [`GarmentType`]: `Σ_t n_t (n_t − 1) / (n (n − 1))`, the expected
/// [`same_type_share`] of edges drawn at random. 0 for fewer than two images.
pub fn same_type_chance(labels: &[u8]) -> f64 {
    let n = labels.len() as f64;
    if n < 2.0 {
        return 0.0;
    }
    let mut counts = std::collections::BTreeMap::new();
    for &l in labels {
        *counts.entry(garment_type(l)).or_insert(0.0f64) += 1.0;
    }
    counts.values().map(|c| c * (c - 1.0)).sum::<f64>() / (n * (n - 1.0))
}

use std::collections::HashMap;
use std::hash::Hash;

use linfa::DatasetBase;
use linfa::prelude::*;
use linfa_clustering::{GaussianMixtureModel, KMeans};
use ndarray::{Array2, s};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::error::{Error, Result};

/// Rows of the Gram matrix computed at a time in [`knn_label_disagreement`].
const GRAM_BLOCK: usize = 256;

/// Area under the ROC curve: the probability that a random positive scores higher than a
/// random negative, a tie counting 1/2 (the Mann–Whitney U statistic over `P · N`,
/// computed from ranks with ties given their average rank).
///
/// Errors: slices of different lengths, a NaN score, or no positives or no negatives
/// ([`Error::OneClassOnly`]).
pub fn roc_auc(scores: &[f64], positives: &[bool]) -> Result<f64> {
    let (p, n) = check_binary("roc_auc", scores, positives, true)?;
    let ranks = crate::graph::average_ranks(scores);
    let rank_sum: f64 = ranks
        .iter()
        .zip(positives)
        .filter(|&(_, &pos)| pos)
        .map(|(r, _)| r)
        .sum();
    let (p, n) = (p as f64, n as f64);
    Ok((rank_sum - p * (p + 1.0) / 2.0) / (p * n))
}

/// Average precision, as scikit-learn's `average_precision_score`: walking down the
/// distinct score thresholds from the highest, the sum of each step's gain in recall
/// times the precision at that threshold, `Σ (Rₖ − Rₖ₋₁) Pₖ`. Examples with equal
/// scores form one threshold (they are admitted together).
///
/// Errors: slices of different lengths, a NaN score, or no positives
/// ([`Error::OneClassOnly`]); no negatives is allowed (the result is 1).
pub fn average_precision(scores: &[f64], positives: &[bool]) -> Result<f64> {
    let (total_pos, _) = check_binary("average_precision", scores, positives, false)?;
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
    let (mut tp, mut fp) = (0usize, 0usize);
    let mut ap = 0.0;
    let mut prev_recall = 0.0;
    let mut i = 0;
    while i < order.len() {
        // Admit the whole group of tied scores.
        let score = scores[order[i]];
        while i < order.len() && scores[order[i]] == score {
            if positives[order[i]] {
                tp += 1;
            } else {
                fp += 1;
            }
            i += 1;
        }
        let recall = tp as f64 / total_pos as f64;
        let precision = tp as f64 / (tp + fp) as f64;
        ap += (recall - prev_recall) * precision;
        prev_recall = recall;
    }
    Ok(ap)
}

/// A bootstrap confidence interval.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Interval {
    /// The metric on the full data.
    pub estimate: f64,
    /// Lower end: the `(1 − level) / 2` quantile of the resampled metric.
    pub lower: f64,
    /// Upper end: the `(1 + level) / 2` quantile of the resampled metric.
    pub upper: f64,
    /// The confidence level asked for, e.g. 0.95.
    pub level: f64,
    /// Resamples the interval was computed from.
    pub resamples_used: usize,
    /// Resamples skipped because they lacked a positive or a negative.
    pub skipped: usize,
}

/// Percentile bootstrap interval for a binary metric such as [`roc_auc`] or
/// [`average_precision`]: draws `resamples` samples of `n` examples with replacement
/// (seeded ChaCha8, so the same seed gives the same interval), evaluates `metric` on
/// each, and takes the `(1 ∓ level) / 2` quantiles (linear interpolation between order
/// statistics, as numpy's default). Resamples without a positive or without a negative
/// are skipped and counted in [`Interval::skipped`].
///
/// Errors: `resamples == 0`, `level` outside `(0, 1)`, any error of `metric` on the full
/// data or a resample, or every resample skipped.
pub fn bootstrap_ci<F>(
    scores: &[f64],
    positives: &[bool],
    metric: F,
    resamples: usize,
    level: f64,
    seed: u64,
) -> Result<Interval>
where
    F: Fn(&[f64], &[bool]) -> Result<f64>,
{
    check_bootstrap(resamples, level)?;
    let estimate = metric(scores, positives)?;
    let n = scores.len();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut values = Vec::with_capacity(resamples);
    let mut skipped = 0;
    let (mut s, mut p) = (vec![0.0; n], vec![false; n]);
    for _ in 0..resamples {
        for k in 0..n {
            let i = rng.gen_range(0..n);
            s[k] = scores[i];
            p[k] = positives[i];
        }
        if !p.contains(&true) || !p.contains(&false) {
            skipped += 1;
            continue;
        }
        values.push(metric(&s, &p)?);
    }
    percentile_interval(estimate, values, level, skipped)
}

/// Checks the bootstrap's `resamples` and `level`.
fn check_bootstrap(resamples: usize, level: f64) -> Result<()> {
    if resamples == 0 {
        return Err(Error::invalid("resamples", "at least 1", resamples));
    }
    if !(level > 0.0 && level < 1.0) {
        return Err(Error::invalid(
            "level",
            "a confidence level in (0, 1), e.g. 0.95",
            level,
        ));
    }
    Ok(())
}

/// The percentile interval of the resampled `values` around `estimate`.
fn percentile_interval(
    estimate: f64,
    mut values: Vec<f64>,
    level: f64,
    skipped: usize,
) -> Result<Interval> {
    if values.is_empty() {
        return Err(Error::invalid(
            "resamples",
            "at least one resample holding both a positive and a negative",
            format!("all {skipped} lacked one"),
        ));
    }
    values.sort_by(f64::total_cmp);
    let tail = (1.0 - level) / 2.0;
    Ok(Interval {
        estimate,
        lower: quantile(&values, tail),
        upper: quantile(&values, 1.0 - tail),
        level,
        resamples_used: values.len(),
        skipped,
    })
}

/// [`bootstrap_ci`] of [`roc_auc`] and of [`average_precision`] at once, on the same
/// resamples, for large samples: the result is *identical* (bit for bit) to the two
/// `bootstrap_ci` calls with the same seed, in `O(n log n + resamples · n)` instead of
/// `O(resamples · n log n)`.
///
/// The scores are sorted once into groups of equal scores. A resample draws the same
/// `n` indices as [`bootstrap_ci`] does but only counts how often each example is drawn;
/// both metrics are then one walk over the groups with those counts: the Mann–Whitney
/// count `Σ_positives (negatives below + ½ negatives tied)` for the AUC (integers, so
/// exactly the rank-sum value), and tp/fp per threshold for the average precision.
///
/// ```
/// use fashion::analysis::{average_precision, bootstrap_auc_ap, bootstrap_ci, roc_auc};
/// let scores = [0.9, 0.8, 0.8, 0.4, 0.3, 0.3, 0.2, 0.1];
/// let wrong = [true, false, true, true, false, false, true, false];
/// let (auc, ap) = bootstrap_auc_ap(&scores, &wrong, 200, 0.9, 5).unwrap();
/// assert_eq!(auc, bootstrap_ci(&scores, &wrong, roc_auc, 200, 0.9, 5).unwrap());
/// assert_eq!(ap, bootstrap_ci(&scores, &wrong, average_precision, 200, 0.9, 5).unwrap());
/// ```
///
/// # Errors
/// As [`bootstrap_ci`] with [`roc_auc`]: `resamples == 0`, `level` outside `(0, 1)`,
/// slices of different lengths, a NaN score, no positives or no negatives, every
/// resample lacking one.
pub fn bootstrap_auc_ap(
    scores: &[f64],
    positives: &[bool],
    resamples: usize,
    level: f64,
    seed: u64,
) -> Result<(Interval, Interval)> {
    pooled_bootstrap_auc_ap(&[(scores, positives)], resamples, level, seed)
}

/// [`bootstrap_auc_ap`] pooled over several runs that score the *same* examples (e.g.
/// networks trained with different seeds, scored on the same test images): the estimate
/// is the mean over runs of each run's ROC-AUC (average precision), and each resample
/// draws one set of examples for all runs (a paired bootstrap) and takes the mean of
/// the runs' metrics on it, so the interval reflects both the examples' and the runs'
/// variation as it is, without treating the runs as independent samples. With one run
/// it *is* [`bootstrap_auc_ap`]. A resample lacking a positive or a negative in any run
/// is skipped.
///
/// ```
/// use fashion::analysis::{bootstrap_auc_ap, pooled_bootstrap_auc_ap};
/// let wrong = [true, false, true, true, false, false, true, false];
/// let a = [0.9, 0.8, 0.8, 0.4, 0.3, 0.3, 0.2, 0.1];
/// let b = [0.7, 0.1, 0.6, 0.5, 0.4, 0.2, 0.9, 0.3];
/// let (auc, _) = pooled_bootstrap_auc_ap(&[(&a, &wrong), (&b, &wrong)], 200, 0.9, 5).unwrap();
/// let (auc_a, _) = bootstrap_auc_ap(&a, &wrong, 200, 0.9, 5).unwrap();
/// let (auc_b, _) = bootstrap_auc_ap(&b, &wrong, 200, 0.9, 5).unwrap();
/// assert_eq!(auc.estimate, (auc_a.estimate + auc_b.estimate) / 2.0);
/// ```
///
/// # Errors
/// No runs, runs of different lengths (naming `runs`), or any error of
/// [`bootstrap_auc_ap`] for one run.
pub fn pooled_bootstrap_auc_ap(
    runs: &[(&[f64], &[bool])],
    resamples: usize,
    level: f64,
    seed: u64,
) -> Result<(Interval, Interval)> {
    check_bootstrap(resamples, level)?;
    let Some(n) = runs.first().map(|r| r.0.len()) else {
        return Err(Error::invalid("runs", "at least one run", "none"));
    };
    if let Some(k) = runs.iter().position(|r| r.0.len() != n) {
        return Err(Error::invalid(
            "runs",
            format!("runs scoring the same {n} examples"),
            format!("run {k} with {}", runs[k].0.len()),
        ));
    }
    let ranked = runs
        .iter()
        .map(|&(scores, positives)| Ranked::new(scores, positives))
        .collect::<Result<Vec<_>>>()?;
    let mut counts = Vec::new();
    let mean = |drawn: Option<&[usize]>, counts: &mut Vec<(u64, u64)>| -> Option<(f64, f64)> {
        let (mut auc, mut ap) = (0.0, 0.0);
        for r in &ranked {
            let (a, b) = r.metrics(drawn, counts)?;
            auc += a;
            ap += b;
        }
        let k = ranked.len() as f64;
        Some((auc / k, ap / k))
    };
    let (auc, ap) = mean(None, &mut counts).expect("checked: positives and negatives");
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let (mut aucs, mut aps) = (Vec::with_capacity(resamples), Vec::with_capacity(resamples));
    let mut skipped = 0;
    let mut drawn = vec![0usize; n];
    for _ in 0..resamples {
        for d in drawn.iter_mut() {
            *d = rng.gen_range(0..n);
        }
        match mean(Some(&drawn), &mut counts) {
            Some((a, b)) => {
                aucs.push(a);
                aps.push(b);
            }
            None => skipped += 1,
        }
    }
    Ok((
        percentile_interval(auc, aucs, level, skipped)?,
        percentile_interval(ap, aps, level, skipped)?,
    ))
}

/// Scores sorted once into groups of equal scores, for ROC-AUC and average precision of
/// any resample in one walk over the groups.
struct Ranked<'a> {
    positives: &'a [bool],
    /// The group of each example, ascending by score.
    group: Vec<usize>,
    groups: usize,
}

impl<'a> Ranked<'a> {
    /// Checks the input as [`roc_auc`] does.
    fn new(scores: &[f64], positives: &'a [bool]) -> Result<Self> {
        check_binary("roc_auc", scores, positives, true)?;
        let n = scores.len();
        let mut order: Vec<usize> = (0..n).collect();
        order.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]));
        let mut group = vec![0usize; n];
        let mut groups = 0;
        for (k, &i) in order.iter().enumerate() {
            if k > 0 && scores[i] != scores[order[k - 1]] {
                groups += 1;
            }
            group[i] = groups;
        }
        Ok(Ranked {
            positives,
            group,
            groups: groups + 1,
        })
    }

    /// (ROC-AUC, average precision) of the examples `drawn` (all of them once for
    /// `None`), or `None` without a positive or a negative among them. `counts` is
    /// scratch space.
    fn metrics(&self, drawn: Option<&[usize]>, counts: &mut Vec<(u64, u64)>) -> Option<(f64, f64)> {
        counts.clear();
        counts.resize(self.groups, (0, 0));
        let mut add = |i: usize| {
            let c = &mut counts[self.group[i]];
            if self.positives[i] {
                c.0 += 1;
            } else {
                c.1 += 1;
            }
        };
        match drawn {
            Some(d) => d.iter().for_each(|&i| add(i)),
            None => (0..self.group.len()).for_each(add),
        }
        let (p, q) = counts
            .iter()
            .fold((0u64, 0u64), |(p, q), &(a, b)| (p + a, q + b));
        if p == 0 || q == 0 {
            return None;
        }
        // AUC: twice the Mann–Whitney count, from the lowest scores up (integers, so
        // exactly the rank-sum value of `roc_auc`).
        let (mut twice_u, mut neg_below) = (0u64, 0u64);
        for &(a, b) in counts.iter() {
            twice_u += a * (2 * neg_below + b);
            neg_below += b;
        }
        let auc = (twice_u as f64 / 2.0) / (p as f64 * q as f64);
        // AP: thresholds from the highest score down, as `average_precision`.
        let (mut tp, mut fp) = (0u64, 0u64);
        let (mut ap, mut prev_recall) = (0.0, 0.0);
        for &(a, b) in counts.iter().rev() {
            if a == 0 && b == 0 {
                continue;
            }
            tp += a;
            fp += b;
            let recall = tp as f64 / p as f64;
            let precision = tp as f64 / (tp + fp) as f64;
            ap += (recall - prev_recall) * precision;
            prev_recall = recall;
        }
        Some((auc, ap))
    }
}

/// Adjusted Rand index (Hubert & Arabie, 1985) between two partitions of the same items:
/// 1 for identical partitions (whatever the label values), about 0 for independent ones,
/// negative when they agree less than chance. Labels of any hashable type; the two
/// slices may use different ones.
///
/// When both partitions are trivial in the same way (all items in one cluster, or every
/// item alone) the index is 0 / 0; it is reported as 1, as scikit-learn does.
///
/// Errors: empty slices or slices of different lengths.
///
/// ```
/// use fashion::analysis::adjusted_rand_index;
/// let a = [0, 0, 1, 1, 2, 2];
/// let b = ['x', 'x', 'z', 'z', 'y', 'y'];
/// assert_eq!(adjusted_rand_index(&a, &b).unwrap(), 1.0);
/// ```
pub fn adjusted_rand_index<A, B>(a: &[A], b: &[B]) -> Result<f64>
where
    A: Eq + Hash,
    B: Eq + Hash,
{
    check_partitions("a", a.len(), "b", b.len())?;
    let (a, _) = codes(a);
    let (b, _) = codes(b);
    let mut pairs: HashMap<(usize, usize), u64> = HashMap::new();
    let mut rows: HashMap<usize, u64> = HashMap::new();
    let mut cols: HashMap<usize, u64> = HashMap::new();
    for (&x, &y) in a.iter().zip(&b) {
        *pairs.entry((x, y)).or_default() += 1;
        *rows.entry(x).or_default() += 1;
        *cols.entry(y).or_default() += 1;
    }
    let choose2 = |m: u64| (m * m.saturating_sub(1) / 2) as f64;
    let index: f64 = pairs.values().map(|&m| choose2(m)).sum();
    let sum_a: f64 = rows.values().map(|&m| choose2(m)).sum();
    let sum_b: f64 = cols.values().map(|&m| choose2(m)).sum();
    let total = choose2(a.len() as u64);
    let expected = if total > 0.0 {
        sum_a * sum_b / total
    } else {
        0.0
    };
    let max = (sum_a + sum_b) / 2.0;
    if max == expected {
        return Ok(1.0);
    }
    Ok((index - expected) / (max - expected))
}

/// Purity of a clustering with respect to known classes: each cluster is credited with
/// its most frequent class, and purity is the share of items so credited. 1 when every
/// cluster holds one class; it rises with the number of clusters (every item alone gives
/// 1), so compare clusterings with equal numbers of clusters.
///
/// Errors: empty slices or slices of different lengths.
///
/// ```
/// use fashion::analysis::purity;
/// // Cluster 0 holds classes [3, 3, 5], cluster 1 holds [5]: (2 + 1) / 4.
/// assert_eq!(purity(&[0, 0, 0, 1], &[3u8, 3, 5, 5]).unwrap(), 0.75);
/// ```
pub fn purity<A, B>(clusters: &[A], classes: &[B]) -> Result<f64>
where
    A: Eq + Hash,
    B: Eq + Hash,
{
    check_partitions("clusters", clusters.len(), "classes", classes.len())?;
    let (clusters, k) = codes(clusters);
    let (classes, _) = codes(classes);
    let mut counts: Vec<HashMap<usize, u64>> = vec![HashMap::new(); k];
    for (&c, &l) in clusters.iter().zip(&classes) {
        *counts[c].entry(l).or_default() += 1;
    }
    let credited: u64 = counts
        .iter()
        .map(|m| m.values().copied().max().unwrap_or(0))
        .sum();
    Ok(credited as f64 / clusters.len() as f64)
}

/// For each row of `x`, the share of its `k` nearest other rows (Euclidean distance)
/// whose label differs from its own: 0 where a point sits among its own class, near 1
/// where it sits among others. Brute force: squared distances are `‖xᵢ‖² + ‖xⱼ‖² − 2 xᵢ·xⱼ`
/// with the products from the Gram matrix `X·Xᵀ` (f32 GEMM, 256 rows at a time, so
/// memory stays `O(256 · n)`) and the rest in f64; time is `O(n² · d)`: 10 000 × 784
/// took under 20 s on two busy cores. Ties in distance are broken by the lower row index; a
/// row's duplicates count as neighbours, the row itself never.
///
/// Errors: `labels` not one per row, `k == 0`, `k ≥ n` (rows), or a value of `x` that
/// is NaN or infinite.
///
/// ```
/// use fashion::analysis::knn_label_disagreement;
/// use fashion::ndarray::array;
/// let x = array![[0.0f32], [1.0], [2.0], [10.0]];
/// let d = knn_label_disagreement(&x, &[0, 0, 1, 1], 1).unwrap();
/// // Nearest: 0→1 (same), 1→0 (same), 2→1 (other), 3→2 (same).
/// assert_eq!(d, [0.0, 0.0, 1.0, 0.0]);
/// ```
pub fn knn_label_disagreement(x: &Array2<f32>, labels: &[u8], k: usize) -> Result<Vec<f64>> {
    let n = x.nrows();
    if labels.len() != n {
        return Err(Error::ShapeMismatch {
            op: "knn_label_disagreement",
            expected: format!("one label per row of x ({n})"),
            found: format!("{} labels", labels.len()),
        });
    }
    if k == 0 || k >= n {
        return Err(Error::invalid(
            "k",
            format!("1..{n} neighbours (fewer than the {n} rows)"),
            k,
        ));
    }
    check_finite(x)?;
    let norms: Vec<f64> = x
        .rows()
        .into_iter()
        .map(|r| r.iter().map(|&v| f64::from(v) * f64::from(v)).sum())
        .collect();
    let mut out = Vec::with_capacity(n);
    let mut dists: Vec<(f64, usize)> = Vec::with_capacity(n);
    for start in (0..n).step_by(GRAM_BLOCK) {
        let end = (start + GRAM_BLOCK).min(n);
        let gram = x.slice(s![start..end, ..]).dot(&x.t());
        for (r, g) in gram.rows().into_iter().enumerate() {
            let i = start + r;
            dists.clear();
            dists.extend(
                (0..n)
                    .filter(|&j| j != i)
                    .map(|j| ((norms[i] + norms[j] - 2.0 * f64::from(g[j])).max(0.0), j)),
            );
            let by_distance =
                |a: &(f64, usize), b: &(f64, usize)| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1));
            dists.select_nth_unstable_by(k - 1, by_distance);
            let other = dists[..k]
                .iter()
                .filter(|&&(_, j)| labels[j] != labels[i])
                .count();
            out.push(other as f64 / k as f64);
        }
    }
    Ok(out)
}

/// k-means clustering of the rows of `x` into `k` clusters (linfa's defaults: k-means++
/// initialisation, best of 10 runs, at most 300 iterations each), seeded: the same seed
/// gives the same clusters. Returns each row's cluster, `0..k`. The data is converted to
/// f64. 1000 × 128 into 10 clusters took about 7 s on two busy cores (best of 3 runs
/// was 6× faster but found a worse partition on the same data).
///
/// Errors: `k == 0`, `k` above the number of rows, a NaN or infinite value, or a failure
/// inside linfa ([`Error::Clustering`]).
///
/// ```
/// use fashion::analysis::{adjusted_rand_index, kmeans};
/// use fashion::ndarray::array;
/// let x = array![[0.0f32, 0.0], [0.1, 0.0], [5.0, 5.0], [5.1, 5.0]];
/// let clusters = kmeans(&x, 2, 1).unwrap();
/// assert_eq!(adjusted_rand_index(&clusters, &[0, 0, 1, 1]).unwrap(), 1.0);
/// ```
pub fn kmeans(x: &Array2<f32>, k: usize, seed: u64) -> Result<Vec<usize>> {
    let x = clustering_input(x, k)?;
    let data = DatasetBase::from(x.clone());
    let model = KMeans::params_with_rng(k, ChaCha8Rng::seed_from_u64(seed))
        .fit(&data)
        .map_err(|e| Error::Clustering {
            method: "kmeans",
            reason: e.to_string(),
        })?;
    Ok(model.predict(&x).to_vec())
}

/// Gaussian-mixture clustering of the rows of `x` into `k` components (linfa's EM with
/// full covariance matrices, initialised by k-means, one run, at most 100 iterations,
/// covariance regularisation 1e-6), seeded. Returns each row's most likely component.
///
/// Limits: 1000 × 128 into 10 components takes several seconds (on top of the k-means
/// initialisation). Each component estimates a `d × d` covariance, so it needs well over `d` rows
/// per component and time grows as `k · d³` per iteration; reduce the dimension first
/// (e.g. to a few dozen) for pixel data. Degenerate data (fewer rows than dimensions,
/// constant features) makes the covariances singular, which linfa reports as an error
/// ([`Error::Clustering`]) rather than a result.
///
/// Errors: `k == 0`, `k` above the number of rows, a NaN or infinite value, or a failure
/// inside linfa.
pub fn gaussian_mixture(x: &Array2<f32>, k: usize, seed: u64) -> Result<Vec<usize>> {
    let x = clustering_input(x, k)?;
    let data = DatasetBase::from(x.clone());
    let model = GaussianMixtureModel::params_with_rng(k, ChaCha8Rng::seed_from_u64(seed))
        .fit(&data)
        .map_err(|e| Error::Clustering {
            method: "gaussian_mixture",
            reason: e.to_string(),
        })?;
    Ok(model.predict(&x).to_vec())
}

/// Validates clustering input and converts it to f64.
fn clustering_input(x: &Array2<f32>, k: usize) -> Result<Array2<f64>> {
    if x.nrows() == 0 || x.ncols() == 0 {
        return Err(Error::invalid(
            "x",
            "at least one row and one column",
            format!("{:?}", x.shape()),
        ));
    }
    if k == 0 || k > x.nrows() {
        return Err(Error::invalid(
            "k",
            format!("1..={} clusters (at most the number of rows)", x.nrows()),
            k,
        ));
    }
    check_finite(x)?;
    Ok(x.mapv(f64::from))
}

/// Checks that every value of `x` is finite, naming the first that is not.
fn check_finite(x: &Array2<f32>) -> Result<()> {
    match x.indexed_iter().find(|(_, v)| !v.is_finite()) {
        Some(((r, c), v)) => Err(Error::invalid(
            "x",
            "finite values",
            format!("{v} at row {r}, column {c}"),
        )),
        None => Ok(()),
    }
}

/// Checks the inputs of a binary metric; returns the numbers of positives and negatives.
fn check_binary(
    metric: &'static str,
    scores: &[f64],
    positives: &[bool],
    need_negatives: bool,
) -> Result<(usize, usize)> {
    if scores.len() != positives.len() {
        return Err(Error::ShapeMismatch {
            op: metric,
            expected: format!("one positive/negative flag per score ({})", scores.len()),
            found: format!("{} flags", positives.len()),
        });
    }
    if let Some(i) = scores.iter().position(|s| s.is_nan()) {
        return Err(Error::invalid(
            "scores",
            "numbers (no NaN)",
            format!("NaN at index {i}"),
        ));
    }
    let p = positives.iter().filter(|&&b| b).count();
    let n = positives.len() - p;
    if p == 0 || (need_negatives && n == 0) {
        return Err(Error::OneClassOnly {
            metric,
            positives: p,
            negatives: n,
        });
    }
    Ok((p, n))
}

/// The `q`-quantile of sorted `values`, interpolating linearly between order statistics.
fn quantile(sorted: &[f64], q: f64) -> f64 {
    let h = (sorted.len() - 1) as f64 * q;
    let lo = h.floor() as usize;
    let hi = (lo + 1).min(sorted.len() - 1);
    sorted[lo] + (h - lo as f64) * (sorted[hi] - sorted[lo])
}

/// Maps labels to dense codes `0..m` in order of first appearance; returns the codes and
/// `m`.
fn codes<T: Eq + Hash>(labels: &[T]) -> (Vec<usize>, usize) {
    let mut seen: HashMap<&T, usize> = HashMap::new();
    let codes = labels
        .iter()
        .map(|l| {
            let next = seen.len();
            *seen.entry(l).or_insert(next)
        })
        .collect();
    (codes, seen.len())
}

/// Checks two label slices for a partition comparison: non-empty, equal lengths.
fn check_partitions(name_a: &'static str, a: usize, name_b: &'static str, b: usize) -> Result<()> {
    if a == 0 {
        return Err(Error::invalid(name_a, "at least one item", "none"));
    }
    if a != b {
        return Err(Error::invalid(
            name_b,
            format!("one label per item of `{name_a}` ({a})"),
            format!("{b} labels"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use ndarray::array;

    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12
    }

    #[test]
    fn auc_by_hand_with_ties() {
        // Positives score 0.9, 0.5, 0.5; negatives 0.5, 0.2.
        // Pairs (pos, neg): 0.9>0.5 ✓, 0.9>0.2 ✓, 0.5=0.5 ½, 0.5>0.2 ✓, 0.5=0.5 ½, 0.5>0.2 ✓
        // → (4 + 2·½) / 6 = 5/6.
        let scores = [0.9, 0.5, 0.5, 0.5, 0.2];
        let pos = [true, true, false, true, false];
        assert!(close(roc_auc(&scores, &pos).unwrap(), 5.0 / 6.0));
        // Perfect, reversed and all-tied rankings.
        let s = [4.0, 3.0, 2.0, 1.0];
        assert_eq!(roc_auc(&s, &[true, true, false, false]).unwrap(), 1.0);
        assert_eq!(roc_auc(&s, &[false, false, true, true]).unwrap(), 0.0);
        assert_eq!(
            roc_auc(&[1.0; 4], &[true, false, true, false]).unwrap(),
            0.5
        );
        // Infinite scores rank like any other.
        let s = [f64::INFINITY, 0.0, f64::NEG_INFINITY];
        assert_eq!(roc_auc(&s, &[true, false, false]).unwrap(), 1.0);
    }

    #[test]
    fn auc_errors() {
        let err = roc_auc(&[0.1, 0.2], &[true, true]).unwrap_err();
        assert!(
            matches!(
                err,
                Error::OneClassOnly {
                    positives: 2,
                    negatives: 0,
                    ..
                }
            ),
            "{err}"
        );
        assert!(matches!(
            roc_auc(&[0.1, 0.2], &[false, false]),
            Err(Error::OneClassOnly { positives: 0, .. })
        ));
        let err = roc_auc(&[0.1, f64::NAN], &[true, false]).unwrap_err();
        assert!(err.to_string().contains("NaN at index 1"), "{err}");
        assert!(matches!(
            roc_auc(&[0.1, 0.2], &[true]),
            Err(Error::ShapeMismatch { .. })
        ));
        assert!(roc_auc(&[], &[]).is_err());
    }

    #[test]
    fn average_precision_by_hand_with_ties() {
        // Sorted: 0.9 P, 0.8 N, 0.7 P, 0.6 N; P = 2.
        // Thresholds: 0.9 → R ½, P 1; 0.8 → R ½; 0.7 → R 1, P 2/3; 0.6 → R 1.
        // AP = ½·1 + ½·⅔ = 5/6.
        let ap = average_precision(&[0.9, 0.8, 0.7, 0.6], &[true, false, true, false]).unwrap();
        assert!(close(ap, 5.0 / 6.0), "{ap}");
        // Ties: 0.9 P; then {0.5 P, 0.5 N, 0.5 P} admitted together; 0.1 N. P = 3.
        // 0.9 → R ⅓, P 1; 0.5 → R 1, P 3/4 → AP = ⅓ + ⅔·¾ = 5/6.
        let scores = [0.5, 0.9, 0.5, 0.1, 0.5];
        let pos = [true, true, false, false, true];
        let ap = average_precision(&scores, &pos).unwrap();
        assert!(close(ap, 5.0 / 6.0), "{ap}");
        // (Admitting the tied positives one by one before the negative would give 1.)
        // No negatives: 1. No positives: an error.
        assert_eq!(average_precision(&[0.3, 0.2], &[true, true]).unwrap(), 1.0);
        assert!(matches!(
            average_precision(&[0.3, 0.2], &[false, false]),
            Err(Error::OneClassOnly {
                positives: 0,
                negatives: 2,
                ..
            })
        ));
    }

    /// 60 examples whose scores separate the classes only partly.
    fn noisy() -> (Vec<f64>, Vec<bool>) {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let pos: Vec<bool> = (0..60).map(|i| i % 3 == 0).collect();
        let scores = pos
            .iter()
            .map(|&p| rng.r#gen::<f64>() + if p { 0.4 } else { 0.0 })
            .collect();
        (scores, pos)
    }

    #[test]
    fn bootstrap_is_seeded_and_covers_the_estimate() {
        let (scores, pos) = noisy();
        let a = bootstrap_ci(&scores, &pos, roc_auc, 300, 0.95, 11).unwrap();
        let b = bootstrap_ci(&scores, &pos, roc_auc, 300, 0.95, 11).unwrap();
        let c = bootstrap_ci(&scores, &pos, roc_auc, 300, 0.95, 12).unwrap();
        assert_eq!(a, b, "same seed, same interval");
        assert_ne!(
            (a.lower, a.upper),
            (c.lower, c.upper),
            "another seed differs"
        );
        assert_eq!(a.estimate, roc_auc(&scores, &pos).unwrap());
        assert!(a.lower < a.estimate && a.estimate < a.upper, "{a:?}");
        assert!(a.upper - a.lower > 0.05 && a.upper - a.lower < 0.6, "{a:?}");
        assert_eq!(a.resamples_used + a.skipped, 300);
        // A narrower level gives a narrower interval from the same resamples.
        let narrow = bootstrap_ci(&scores, &pos, roc_auc, 300, 0.5, 11).unwrap();
        assert!(narrow.lower >= a.lower && narrow.upper <= a.upper);
        assert!(narrow.upper - narrow.lower < a.upper - a.lower);
        // Any metric works, e.g. a closure: 1 − AUC mirrors the interval (same seed,
        // same resamples).
        let flipped = bootstrap_ci(
            &scores,
            &pos,
            |s, p| roc_auc(s, p).map(|a| 1.0 - a),
            300,
            0.95,
            11,
        )
        .unwrap();
        assert!(
            (flipped.lower - (1.0 - a.upper)).abs() < 1e-12,
            "{flipped:?}"
        );
        assert!(
            (flipped.upper - (1.0 - a.lower)).abs() < 1e-12,
            "{flipped:?}"
        );
        let ap = bootstrap_ci(&scores, &pos, average_precision, 50, 0.9, 1).unwrap();
        assert!(ap.lower <= ap.upper && ap.upper <= 1.0, "{ap:?}");
    }

    #[test]
    fn bootstrap_of_auc_and_ap_at_once_equals_bootstrap_ci_bit_for_bit() {
        // 3 000 examples with heavy ties (degree-like integer scores) and without ties,
        // and a sample where resamples are skipped: the same intervals as two
        // `bootstrap_ci` calls, to the last bit.
        let mut rng = ChaCha8Rng::seed_from_u64(8);
        let pos: Vec<bool> = (0..3000).map(|_| rng.gen_bool(0.08)).collect();
        let tied: Vec<f64> = pos
            .iter()
            .map(|&p| (rng.gen_range(0..8) + usize::from(p && rng.gen_bool(0.3))) as f64)
            .collect();
        let smooth: Vec<f64> = pos
            .iter()
            .map(|&p| rng.r#gen::<f64>() + f64::from(u8::from(p)) * 0.2)
            .collect();
        for scores in [&tied, &smooth] {
            for (resamples, level, seed) in [(200, 0.95, 3), (57, 0.8, 4)] {
                let (auc, ap) = bootstrap_auc_ap(scores, &pos, resamples, level, seed).unwrap();
                assert_eq!(
                    auc,
                    bootstrap_ci(scores, &pos, roc_auc, resamples, level, seed).unwrap()
                );
                assert_eq!(
                    ap,
                    bootstrap_ci(scores, &pos, average_precision, resamples, level, seed).unwrap()
                );
            }
        }
        let few = [0.1, 0.5, 0.5, 0.9];
        let one = [false, true, false, false];
        let (auc, ap) = bootstrap_auc_ap(&few, &one, 100, 0.9, 2).unwrap();
        assert!(auc.skipped > 0);
        assert_eq!(auc, bootstrap_ci(&few, &one, roc_auc, 100, 0.9, 2).unwrap());
        assert_eq!(
            ap,
            bootstrap_ci(&few, &one, average_precision, 100, 0.9, 2).unwrap()
        );
        assert!(bootstrap_auc_ap(&few, &[false; 4], 10, 0.9, 2).is_err());
        assert!(bootstrap_auc_ap(&few, &one, 0, 0.9, 2).is_err());
        assert!(bootstrap_auc_ap(&few, &one[..3], 10, 0.9, 2).is_err());
    }

    #[test]
    fn bootstrap_skips_one_class_resamples() {
        // One positive among 4: a resample misses it with probability (3/4)^4 ≈ 0.32.
        let scores = [0.9, 0.1, 0.2, 0.3];
        let pos = [true, false, false, false];
        let ci = bootstrap_ci(&scores, &pos, roc_auc, 400, 0.9, 5).unwrap();
        assert!(ci.skipped > 80 && ci.skipped < 180, "{ci:?}");
        assert_eq!(ci.resamples_used + ci.skipped, 400);
        // Bad parameters.
        assert!(bootstrap_ci(&scores, &pos, roc_auc, 0, 0.9, 5).is_err());
        for level in [0.0, 1.0, f64::NAN, 1.5] {
            let err = bootstrap_ci(&scores, &pos, roc_auc, 10, level, 5).unwrap_err();
            assert!(
                matches!(err, Error::Params(crate::ParamError { name: "level", .. })),
                "{err}"
            );
        }
        assert!(bootstrap_ci(&scores, &[true; 4], roc_auc, 10, 0.9, 5).is_err());
    }

    #[test]
    fn ari_identical_relabelled_random_and_by_hand() {
        let a = [0, 0, 0, 1, 1, 2, 2, 2];
        assert_eq!(adjusted_rand_index(&a, &a).unwrap(), 1.0);
        let relabelled = [7, 7, 7, 3, 3, 9, 9, 9];
        assert_eq!(adjusted_rand_index(&a, &relabelled).unwrap(), 1.0);
        assert_eq!(adjusted_rand_index(&[1; 5], &[2; 5]).unwrap(), 1.0);

        let mut rng = ChaCha8Rng::seed_from_u64(9);
        let x: Vec<usize> = (0..2000).map(|_| rng.gen_range(0..10)).collect();
        let y: Vec<usize> = (0..2000).map(|_| rng.gen_range(0..10)).collect();
        let ari = adjusted_rand_index(&x, &y).unwrap();
        assert!(ari.abs() < 0.05, "{ari}");

        // a = [0 0 0 1 1 1], b = [0 0 1 1 2 2]. Contingency rows a, columns b:
        // [[2 1 0], [0 1 2]]. Σ C(nij, 2) = 1 + 1 = 2; rows 3, 3 → Σ C = 6;
        // columns 2, 2, 2 → Σ C = 3; C(6, 2) = 15; expected = 6·3/15 = 1.2;
        // max = (6 + 3)/2 = 4.5; ARI = (2 − 1.2)/(4.5 − 1.2) = 0.8/3.3 = 8/33.
        let ari = adjusted_rand_index(&[0, 0, 0, 1, 1, 1], &[0, 0, 1, 1, 2, 2]).unwrap();
        assert!(close(ari, 8.0 / 33.0), "{ari}");
        // Symmetric.
        let ari2 = adjusted_rand_index(&[0, 0, 1, 1, 2, 2], &[0, 0, 0, 1, 1, 1]).unwrap();
        assert!(close(ari, ari2));
        assert!(adjusted_rand_index::<u8, u8>(&[], &[]).is_err());
        assert!(adjusted_rand_index(&[1, 2], &[1]).is_err());
    }

    #[test]
    fn purity_by_hand() {
        // Clusters: A = {c0, c0, c1}, B = {c1, c1, c2, c2, c2}, C = {c0}.
        // Credited: 2 + 3 + 1 = 6 of 9.
        let clusters = ['A', 'A', 'A', 'B', 'B', 'B', 'B', 'B', 'C'];
        let classes = [0u8, 0, 1, 1, 1, 2, 2, 2, 0];
        assert!(close(purity(&clusters, &classes).unwrap(), 6.0 / 9.0));
        assert_eq!(purity(&[0, 1, 2], &[5, 5, 5]).unwrap(), 1.0);
        assert_eq!(purity(&[0, 0, 0, 0], &[1, 2, 1, 2]).unwrap(), 0.5);
        assert!(purity::<u8, u8>(&[], &[]).is_err());
        assert!(purity(&[0, 1], &[0, 1, 2]).is_err());
    }

    #[test]
    fn knn_disagreement_on_a_hand_made_matrix() {
        // Points on a line at 0, 1, 3 (class 0) and 4, 6, 20 (class 1). With k = 2:
        // x=0: {1 (d 1), 3 (d 3)} → 0 of 2 other; x=1: {0 (1), 3 (2)} → 0;
        // x=3: {4 (1), 1 (2)} → ½; x=4: {3 (1), 6 (2)} → ½; x=6: {4 (2), 3 (3)} → ½;
        // x=20: {6 (14), 4 (16)} → 0.
        let x = array![
            [0.0f32, 0.0],
            [1.0, 0.0],
            [3.0, 0.0],
            [4.0, 0.0],
            [6.0, 0.0],
            [20.0, 0.0]
        ];
        let labels = [0u8, 0, 0, 1, 1, 1];
        let d = knn_label_disagreement(&x, &labels, 2).unwrap();
        assert_eq!(d, [0.0, 0.0, 0.5, 0.5, 0.5, 0.0]);
        // A duplicate counts as a neighbour at distance 0; ties go to the lower index.
        let dup = array![[2.0f32], [2.0], [3.0], [1.0]];
        let d = knn_label_disagreement(&dup, &[0, 1, 0, 0], 1).unwrap();
        // 0 ↔ 1 are duplicates (other label); 2 (x=3): nearest x=2 twice → index 0 wins
        // (class 0); 3 (x=1): same tie → index 0.
        assert_eq!(d, [1.0, 1.0, 0.0, 0.0]);
        // Several blocks of the Gram matrix agree with a direct computation.
        let mut rng = ChaCha8Rng::seed_from_u64(2);
        let n = GRAM_BLOCK + 37;
        let x = Array2::from_shape_fn((n, 3), |_| rng.gen_range(-1.0f32..1.0));
        let labels: Vec<u8> = (0..n).map(|i| (i % 3) as u8).collect();
        let fast = knn_label_disagreement(&x, &labels, 5).unwrap();
        for i in [0, 100, GRAM_BLOCK, n - 1] {
            let mut d: Vec<(f64, usize)> = (0..n)
                .filter(|&j| j != i)
                .map(|j| {
                    let diff = &x.row(i).mapv(f64::from) - &x.row(j).mapv(f64::from);
                    (diff.dot(&diff), j)
                })
                .collect();
            d.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
            let other = d[..5]
                .iter()
                .filter(|&&(_, j)| labels[j] != labels[i])
                .count();
            assert_eq!(fast[i], other as f64 / 5.0, "row {i}");
        }
    }

    #[test]
    fn knn_errors() {
        let x = array![[0.0f32], [1.0], [2.0]];
        let name = |r: Result<Vec<f64>>| match r {
            Err(Error::Params(crate::ParamError { name, .. })) => name,
            other => panic!("expected a ParamError, got {other:?}"),
        };
        assert_eq!(name(knn_label_disagreement(&x, &[0, 1, 0], 0)), "k");
        assert_eq!(name(knn_label_disagreement(&x, &[0, 1, 0], 3)), "k");
        let nan = array![[0.0f32], [f32::NAN], [2.0]];
        let err = knn_label_disagreement(&nan, &[0, 1, 0], 1).unwrap_err();
        assert!(err.to_string().contains("NaN at row 1, column 0"), "{err}");
        assert!(matches!(
            knn_label_disagreement(&x, &[0, 1], 1),
            Err(Error::ShapeMismatch { .. })
        ));
    }

    /// Three tight blobs of 30 points in 5 dimensions, centres 10 apart.
    fn blobs() -> (Array2<f32>, Vec<usize>) {
        let mut rng = ChaCha8Rng::seed_from_u64(4);
        let truth: Vec<usize> = (0..90).map(|i| i % 3).collect();
        let x = Array2::from_shape_fn((90, 5), |(i, j)| {
            let centre = if j == truth[i] { 10.0 } else { 0.0 };
            centre + rng.gen_range(-1.0f32..1.0)
        });
        (x, truth)
    }

    #[test]
    fn kmeans_recovers_separated_blobs() {
        let (x, truth) = blobs();
        let clusters = kmeans(&x, 3, 0).unwrap();
        assert_eq!(clusters.len(), 90);
        assert_eq!(adjusted_rand_index(&clusters, &truth).unwrap(), 1.0);
        assert_eq!(kmeans(&x, 3, 0).unwrap(), clusters, "seeded");
        let err = kmeans(&x, 0, 0).unwrap_err();
        assert!(
            matches!(err, Error::Params(crate::ParamError { name: "k", .. })),
            "{err}"
        );
        assert!(kmeans(&x, 91, 0).is_err());
        assert!(kmeans(&Array2::zeros((0, 3)), 1, 0).is_err());
        let mut nan = x.clone();
        nan[[5, 2]] = f32::INFINITY;
        assert!(kmeans(&nan, 3, 0).is_err());
    }

    #[test]
    fn gaussian_mixture_recovers_separated_blobs() {
        let (x, truth) = blobs();
        let clusters = gaussian_mixture(&x, 3, 0).unwrap();
        assert_eq!(adjusted_rand_index(&clusters, &truth).unwrap(), 1.0);
        assert_eq!(gaussian_mixture(&x, 3, 0).unwrap(), clusters, "seeded");
        // A constant feature with fewer rows than dimensions: singular covariances are
        // a crate error, not a panic.
        let flat = Array2::from_shape_fn((6, 8), |(i, j)| if j == 0 { i as f32 } else { 1.0 });
        match gaussian_mixture(&flat, 2, 0) {
            Ok(c) => assert_eq!(c.len(), 6),
            Err(e) => assert!(matches!(e, Error::Clustering { .. }), "{e}"),
        }
    }
}
