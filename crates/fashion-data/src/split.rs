//! Stratified train/validation split, pixel preprocessing and seeded batches.

use ndarray::{Array1, Array2, Axis};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::{Dataset, IMAGE_PIXELS, NUM_CLASSES};
use crate::error::{Error, ParamError, Result};

/// Parameters of [`stratified_split`].
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SplitConfig {
    /// Share of each class that goes to validation, in `(0, 1)`. Default `0.2`.
    pub valid_fraction: f64,
    /// Seed of the shuffle. Default `42`.
    pub seed: u64,
}

impl Default for SplitConfig {
    fn default() -> Self {
        SplitConfig {
            valid_fraction: 0.2,
            seed: 42,
        }
    }
}

impl SplitConfig {
    /// Checks the parameters.
    ///
    /// # Errors
    /// [`ParamError`] naming `valid_fraction` unless it lies strictly between 0 and 1.
    pub fn check(&self) -> Result<(), ParamError> {
        if !(self.valid_fraction > 0.0 && self.valid_fraction < 1.0) {
            return Err(ParamError::new(
                "valid_fraction",
                "a number strictly between 0 and 1",
                self.valid_fraction,
            ));
        }
        Ok(())
    }
}

/// The result of [`stratified_split`].
#[derive(Debug, Clone)]
pub struct TrainValid {
    /// The training part.
    pub train: Dataset,
    /// The validation part.
    pub valid: Dataset,
    /// Indices (into the split data set) of the training part, ascending.
    pub train_indices: Vec<usize>,
    /// Indices of the validation part, ascending.
    pub valid_indices: Vec<usize>,
}

/// Splits `data` into train and validation parts, class by class: each class sends
/// `round(count × valid_fraction)` of its images, chosen by a seeded shuffle, to
/// validation, so class proportions are kept exactly (up to that rounding). Both
/// parts keep the original order. Same seed, same split.
///
/// ```
/// # use fashion_data::{Dataset, SplitConfig, stratified_split};
/// # use ndarray::{Array1, Array3};
/// let labels = Array1::from_shape_fn(50, |i| (i % 10) as u8);
/// let data = Dataset::new(Array3::zeros((50, 28, 28)), labels).unwrap();
/// let split = stratified_split(&data, &SplitConfig::default()).unwrap();
/// assert_eq!(split.valid.class_counts(), [1; 10]);
/// assert_eq!(split.train.class_counts(), [4; 10]);
/// ```
pub fn stratified_split(data: &Dataset, config: &SplitConfig) -> Result<TrainValid> {
    config.check()?;
    let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
    let mut valid_indices = Vec::new();
    for class in 0..NUM_CLASSES {
        let mut idx = data.indices_of_class(class);
        let n_valid = (idx.len() as f64 * config.valid_fraction).round() as usize;
        idx.shuffle(&mut rng);
        valid_indices.extend_from_slice(&idx[..n_valid]);
    }
    valid_indices.sort_unstable();
    let mut is_valid = vec![false; data.len()];
    for &i in &valid_indices {
        is_valid[i] = true;
    }
    let train_indices: Vec<usize> = (0..data.len()).filter(|&i| !is_valid[i]).collect();
    if train_indices.is_empty() || valid_indices.is_empty() {
        return Err(Error::invalid(
            "valid_fraction",
            "a fraction leaving at least one image on each side",
            format!(
                "{} ({} images: {} train, {} validation)",
                config.valid_fraction,
                data.len(),
                train_indices.len(),
                valid_indices.len()
            ),
        ));
    }
    Ok(TrainValid {
        train: data.select(&train_indices)?,
        valid: data.select(&valid_indices)?,
        train_indices,
        valid_indices,
    })
}

/// Per-pixel standardisation `(x/255 − mean) / std`, fitted on a training set only.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Standardizer {
    /// Per-pixel mean of the scaled pixels (784).
    pub mean: Vec<f32>,
    /// Per-pixel standard deviation of the scaled pixels (784); pixels that never vary
    /// get 1 so they map to 0 instead of dividing by zero.
    pub std: Vec<f32>,
}

impl Standardizer {
    /// Fits mean and standard deviation of each pixel (scaled to `[0, 1]`) on `train`.
    pub fn fit(train: &Dataset) -> Result<Self> {
        if train.is_empty() {
            return Err(Error::invalid("train", "a non-empty data set", "0 images"));
        }
        let x = train.scaled().mapv(f64::from);
        let mean = x.mean_axis(Axis(0)).expect("non-empty");
        let std = x.std_axis(Axis(0), 0.0);
        Ok(Standardizer {
            mean: mean.iter().map(|&m| m as f32).collect(),
            std: std
                .iter()
                .map(|&s| if s < 1e-8 { 1.0 } else { s as f32 })
                .collect(),
        })
    }

    /// Standardises a matrix of scaled pixels in place (one row of 784 per image).
    pub fn apply(&self, x: &mut Array2<f32>) {
        for mut row in x.rows_mut() {
            for ((v, m), s) in row.iter_mut().zip(&self.mean).zip(&self.std) {
                *v = (*v - m) / s;
            }
        }
    }

    /// Standardised pixels of `data`, one row of 784 per image.
    pub fn transform(&self, data: &Dataset) -> Array2<f32> {
        let mut x = data.scaled();
        self.apply(&mut x);
        x
    }
}

/// How pixels are turned into network inputs.
#[derive(Debug, Clone, PartialEq)]
pub enum Preprocess {
    /// Pixels ÷ 255.
    Scaled,
    /// Pixels ÷ 255, then per-pixel standardisation fitted on the training split.
    Standardized(Standardizer),
}

impl Preprocess {
    /// Applies the preprocessing to the images at `indices`.
    pub fn rows(&self, data: &Dataset, indices: &[usize]) -> Array2<f32> {
        let mut x = Array2::<f32>::zeros((indices.len(), IMAGE_PIXELS));
        for (mut row, &i) in x.rows_mut().into_iter().zip(indices) {
            for (v, &p) in row.iter_mut().zip(data.image(i).iter()) {
                *v = p as f32 / 255.0;
            }
        }
        if let Preprocess::Standardized(s) = self {
            s.apply(&mut x);
        }
        x
    }
}

/// One mini-batch.
#[derive(Debug, Clone, PartialEq)]
pub struct Batch {
    /// Indices of the images in the data set.
    pub indices: Vec<usize>,
    /// Preprocessed pixels, `B × 784`.
    pub x: Array2<f32>,
    /// Labels, `B`.
    pub y: Array1<u8>,
}

/// Iterator over mini-batches of a data set in a seeded random order (or in order).
/// The last batch may be smaller.
///
/// ```
/// # use fashion_data::{BatchIter, Dataset, Preprocess};
/// # use ndarray::{Array1, Array3};
/// # use rand::SeedableRng;
/// let data = Dataset::new(Array3::zeros((10, 28, 28)), Array1::zeros(10)).unwrap();
/// let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
/// let sizes: Vec<usize> = BatchIter::shuffled(&data, 4, Preprocess::Scaled, &mut rng)
///     .unwrap()
///     .map(|b| b.x.nrows())
///     .collect();
/// assert_eq!(sizes, vec![4, 4, 2]);
/// ```
#[derive(Debug)]
pub struct BatchIter<'a> {
    data: &'a Dataset,
    preprocess: Preprocess,
    order: Vec<usize>,
    batch_size: usize,
    pos: usize,
}

impl<'a> BatchIter<'a> {
    /// Batches in a random order drawn from `rng`.
    pub fn shuffled(
        data: &'a Dataset,
        batch_size: usize,
        preprocess: Preprocess,
        rng: &mut impl Rng,
    ) -> Result<Self> {
        let mut it = Self::sequential(data, batch_size, preprocess)?;
        it.order.shuffle(rng);
        Ok(it)
    }

    /// Batches in data-set order.
    pub fn sequential(
        data: &'a Dataset,
        batch_size: usize,
        preprocess: Preprocess,
    ) -> Result<Self> {
        if batch_size == 0 {
            return Err(Error::invalid("batch_size", "at least 1", 0));
        }
        Ok(BatchIter {
            data,
            preprocess,
            order: (0..data.len()).collect(),
            batch_size,
            pos: 0,
        })
    }

    /// Number of batches in one pass.
    pub fn num_batches(&self) -> usize {
        self.order.len().div_ceil(self.batch_size)
    }
}

impl Iterator for BatchIter<'_> {
    type Item = Batch;

    fn next(&mut self) -> Option<Batch> {
        if self.pos >= self.order.len() {
            return None;
        }
        let end = (self.pos + self.batch_size).min(self.order.len());
        let indices = self.order[self.pos..end].to_vec();
        self.pos = end;
        Some(Batch {
            x: self.preprocess.rows(self.data, &indices),
            y: self.data.labels.select(Axis(0), &indices),
            indices,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::synthetic;

    #[test]
    fn split_is_stratified_disjoint_and_seeded() {
        let data = synthetic(30, 0);
        let cfg = SplitConfig::default();
        let a = stratified_split(&data, &cfg).unwrap();
        assert_eq!(a.valid.class_counts(), [6; 10]);
        assert_eq!(a.train.class_counts(), [24; 10]);
        let mut all: Vec<usize> = a
            .train_indices
            .iter()
            .chain(&a.valid_indices)
            .copied()
            .collect();
        all.sort_unstable();
        assert_eq!(all, (0..300).collect::<Vec<_>>());
        let b = stratified_split(&data, &cfg).unwrap();
        assert_eq!(a.valid_indices, b.valid_indices);
        let c = stratified_split(&data, &SplitConfig { seed: 43, ..cfg }).unwrap();
        assert_ne!(a.valid_indices, c.valid_indices);
        assert_eq!(c.valid.class_counts(), [6; 10]);
        assert_eq!(a.valid.labels[0], data.labels[a.valid_indices[0]]);
    }

    #[test]
    fn split_rejects_bad_fractions() {
        let data = synthetic(3, 0);
        for f in [0.0, 1.0, -0.1, 1.5, f64::NAN] {
            let err = stratified_split(
                &data,
                &SplitConfig {
                    valid_fraction: f,
                    seed: 1,
                },
            )
            .unwrap_err();
            assert!(err.to_string().contains("valid_fraction"), "{err}");
        }
        // Rounds to zero validation images per class.
        assert!(
            stratified_split(
                &data,
                &SplitConfig {
                    valid_fraction: 0.1,
                    seed: 1
                }
            )
            .is_err()
        );
    }

    #[test]
    fn standardizer_uses_train_statistics() {
        let split = stratified_split(&synthetic(20, 0), &SplitConfig::default()).unwrap();
        let s = Standardizer::fit(&split.train).unwrap();
        let z = s.transform(&split.train);
        let mean = z.mean_axis(Axis(0)).unwrap();
        let std = z.std_axis(Axis(0), 0.0);
        for (m, sd) in mean.iter().zip(std.iter()) {
            assert!(m.abs() < 1e-4, "mean {m}");
            assert!((sd - 1.0).abs() < 1e-3 || *sd < 1e-6, "std {sd}");
        }
        // The validation set is transformed with the train statistics, not its own.
        let zv = s.transform(&split.valid);
        let p = 100;
        let expected =
            (split.valid.images[[0, p / 28, p % 28]] as f32 / 255.0 - s.mean[p]) / s.std[p];
        assert!((zv[[0, p]] - expected).abs() < 1e-6);
        let rows = Preprocess::Standardized(s).rows(&split.valid, &[0]);
        assert_eq!(rows.row(0), zv.row(0));
    }

    #[test]
    fn batches_cover_everything_once_and_are_seeded() {
        let data = synthetic(5, 0);
        let run = |seed| {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            BatchIter::shuffled(&data, 8, Preprocess::Scaled, &mut rng)
                .unwrap()
                .flat_map(|b| {
                    assert_eq!(b.x.nrows(), b.y.len());
                    for (k, &i) in b.indices.iter().enumerate() {
                        assert_eq!(b.y[k], data.labels[i]);
                    }
                    b.indices
                })
                .collect::<Vec<_>>()
        };
        let a = run(1);
        assert_eq!(a, run(1));
        assert_ne!(a, run(2));
        let mut sorted = a.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..50).collect::<Vec<_>>());
        assert!(BatchIter::sequential(&data, 0, Preprocess::Scaled).is_err());
        assert_eq!(
            BatchIter::sequential(&data, 8, Preprocess::Scaled)
                .unwrap()
                .num_batches(),
            7
        );
    }
}
