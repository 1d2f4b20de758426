//! [`TrainConfig`]: everything that determines a run, saved as `config.json`.

use super::*;
use crate::ParamError;

/// How the learning rate moves over a run ([`TrainConfig::schedule`]).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "kind", deny_unknown_fields)]
pub enum LrSchedule {
    /// The same rate for every step of an epoch, following a cosine over the epochs from
    /// `learning_rate` in the first down to 1 % of it in the last (the first recipe).
    EpochCosine,
    /// Per step ("one-cycle"): a linear warm-up from 0 to `learning_rate` over the first
    /// `warmup` share of the run's steps, then a linear decay that would reach 0 one step
    /// after the last.
    OneCycle {
        /// Share of the steps spent warming up, in `[0, 1)`.
        warmup: f64,
    },
}

impl LrSchedule {
    /// The warm-up share a one-cycle schedule gets when none is named (`fashion train
    /// --schedule one-cycle`).
    pub const DEFAULT_WARMUP: f64 = 0.2;

    /// [`LrSchedule::EpochCosine`] (what configuration files without the field mean).
    pub fn epoch_cosine() -> LrSchedule {
        LrSchedule::EpochCosine
    }
}

/// Everything that determines a training run.
///
/// ```
/// use fashion_nn::train::TrainConfig;
/// let config = TrainConfig { epochs: 0, ..TrainConfig::default() };
/// let err = config.check().unwrap_err();
/// assert_eq!(err.name, "epochs");
/// assert!(err.to_string().contains("`epochs`"));
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainConfig {
    /// The network.
    pub model: ModelConfig,
    /// Passes over the training split.
    pub epochs: usize,
    /// Images per optimisation step.
    pub batch_size: usize,
    /// Adam's peak learning rate; [`TrainConfig::schedule`] says how it moves over the
    /// run.
    pub learning_rate: f64,
    /// How the learning rate moves over the run. Configuration files written before this
    /// field existed read as [`LrSchedule::EpochCosine`], the schedule they were
    /// trained with.
    #[serde(default = "LrSchedule::epoch_cosine")]
    pub schedule: LrSchedule,
    /// Label smoothing ε of the training loss, in `[0, 1)`: the targets are
    /// `(1 − ε)·one-hot + ε/10`. Validation and test losses use the plain one-hot targets.
    /// Absent from older configuration files, where it reads as 0.
    #[serde(default)]
    pub label_smoothing: f64,
    /// Decoupled weight decay (AdamW) applied to convolution and dense weights.
    pub weight_decay: f64,
    /// Random horizontal flips and shifts of up to `max_shift` pixels during training.
    pub augment: bool,
    /// Largest shift, in pixels, of the augmentation (0: flips only). Absent from older
    /// configuration files, where it reads as [`MAX_SHIFT`] (1), the shift they used.
    #[serde(default = "super::augment::first_max_shift")]
    pub max_shift: usize,
    /// Seed for initialisation, split, batch order, augmentation and dropout.
    pub seed: u64,
    /// Share of the official training set held out for validation, in (0, 1).
    pub valid_fraction: f64,
    /// Train on only this many images of the training split (stratified), e.g. for a
    /// quick run; `None` uses all of it.
    pub train_subset: Option<usize>,
    /// Validate on only this many images of the validation split (stratified: the first
    /// of each class, as for `train_subset`), e.g. for a quick run, whose validation
    /// would otherwise pass over its 12 000 images after every epoch; `None` uses all of
    /// it. Absent from older configuration files, where it reads as `None` (and left out
    /// of `config.json` when `None`, so their files stay as they were).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_subset: Option<usize>,
}

/// The default: SmallCnn's fast recipe, chosen to reach 93 % test accuracy in under
/// 3 minutes of training on 2 cores (README, "Results"). 4 epochs of batches of 64;
/// AdamW with a one-cycle schedule (20 % warm-up to 6·10⁻³, then linear decay) and
/// decoupled weight decay 0.05; label smoothing 0.1; random flips without shifts; no
/// dropout; test-time flips ([`ModelConfig::test_time_flip`]). Compared with the first
/// recipe ([`TrainConfig::long`]) a short run under-fits, so it regularises less (no
/// shifts, no dropout) and moves faster (a higher peak rate, reached by a warm-up and
/// annealed to nearly 0 within the run); the candidates tried and their accuracies are
/// in docs/performance.md.
impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            model: ModelConfig {
                dropout: 0.0,
                test_time_flip: true,
                ..ModelConfig::default()
            },
            epochs: 4,
            batch_size: 64,
            learning_rate: 6e-3,
            schedule: LrSchedule::OneCycle {
                warmup: LrSchedule::DEFAULT_WARMUP,
            },
            label_smoothing: 0.1,
            weight_decay: 0.05,
            augment: true,
            max_shift: 0,
            seed: 42,
            valid_fraction: 0.2,
            train_subset: None,
            valid_subset: None,
        }
    }
}

impl TrainConfig {
    /// The longer SmallCnn configuration: the first recipe, the default until the
    /// faster one replaced it — 20 epochs of batches of 64, Adam at 10⁻³ with a cosine
    /// over the epochs down to 1 %, no label smoothing, dropout 0.3, flips and 1-pixel
    /// shifts. It takes about three times as long as [`TrainConfig::default`] for a
    /// few tenths of a point more (README, "Results"); the larger networks' defaults
    /// ([`TrainConfig::for_model`]) use this recipe with fewer epochs.
    ///
    /// ```
    /// use fashion_nn::train::{LrSchedule, TrainConfig};
    /// let long = TrainConfig::long();
    /// assert_eq!((long.epochs, long.schedule), (20, LrSchedule::EpochCosine));
    /// ```
    pub fn long() -> TrainConfig {
        TrainConfig {
            model: ModelConfig {
                dropout: 0.3,
                ..ModelConfig::default()
            },
            epochs: 20,
            batch_size: 64,
            learning_rate: 1e-3,
            schedule: LrSchedule::EpochCosine,
            label_smoothing: 0.0,
            weight_decay: 1e-4,
            augment: true,
            max_shift: MAX_SHIFT,
            seed: 42,
            valid_fraction: 0.2,
            train_subset: None,
            valid_subset: None,
        }
    }

    /// The default configuration of a network: [`TrainConfig::default`] for SmallCnn;
    /// for the larger networks [`TrainConfig::long`]'s recipe with `model.kind` set and
    /// fewer epochs, as their runs were trained. Per training image SmallCnn costs
    /// ~46 MFLOP, SeedCnn ~4.6× and the ResNet-style network ~5.5× as much: SeedCnn
    /// trains for 12 epochs, the ResNets for 6 (their accuracies: README, "Results").
    ///
    /// ```
    /// use fashion_nn::{train::TrainConfig, ModelKind};
    /// assert_eq!(TrainConfig::for_model(ModelKind::Small), TrainConfig::default());
    /// let resnet = TrainConfig::for_model(ModelKind::ResNet);
    /// assert_eq!((resnet.model.kind, resnet.epochs), (ModelKind::ResNet, 6));
    /// assert_eq!(resnet.schedule, TrainConfig::long().schedule);
    /// ```
    pub fn for_model(kind: ModelKind) -> TrainConfig {
        let epochs = match kind {
            ModelKind::Small => return TrainConfig::default(),
            ModelKind::Seed => 12,
            ModelKind::ResNet | ModelKind::ResNetCorrected => 6,
        };
        let mut config = TrainConfig::long();
        config.model.kind = kind;
        config.epochs = epochs;
        config
    }

    /// Checks every field.
    ///
    /// # Errors
    /// [`ParamError`] naming the first invalid field: `epochs` or
    /// `batch_size` of 0, `learning_rate` not finite and > 0, `weight_decay` negative or
    /// not finite, `valid_fraction` outside (0, 1), `train_subset` or `valid_subset` of 0,
    /// `dropout` outside [0, 1).
    pub fn check(&self) -> Result<(), ParamError> {
        if self.epochs == 0 {
            return Err(ParamError::new("epochs", "at least 1", 0));
        }
        if self.batch_size == 0 {
            return Err(ParamError::new("batch_size", "at least 1", 0));
        }
        if !(self.learning_rate.is_finite() && self.learning_rate > 0.0) {
            return Err(ParamError::new(
                "learning_rate",
                "a finite number > 0",
                self.learning_rate,
            ));
        }
        if !(self.weight_decay.is_finite() && self.weight_decay >= 0.0) {
            return Err(ParamError::new(
                "weight_decay",
                "a finite number ≥ 0",
                self.weight_decay,
            ));
        }
        SplitConfig {
            valid_fraction: self.valid_fraction,
            seed: self.seed,
        }
        .check()?;
        if self.max_shift >= IMAGE_SIDE {
            return Err(ParamError::new(
                "max_shift",
                "fewer pixels than the image's side (28)",
                self.max_shift,
            ));
        }
        if !(0.0..1.0).contains(&self.label_smoothing) {
            return Err(ParamError::new(
                "label_smoothing",
                "a number in [0, 1)",
                self.label_smoothing,
            ));
        }
        if let LrSchedule::OneCycle { warmup } = self.schedule
            && !(0.0..1.0).contains(&warmup)
        {
            return Err(ParamError::new(
                "schedule.warmup",
                "a share of the steps in [0, 1)",
                warmup,
            ));
        }
        if self.train_subset == Some(0) {
            return Err(ParamError::new("train_subset", "at least 1 image", 0));
        }
        if self.valid_subset == Some(0) {
            return Err(ParamError::new("valid_subset", "at least 1 image", 0));
        }
        self.model.check()
    }

    /// Learning rate of step `batch` (0-based) of epoch `epoch` (1-based), in a run of
    /// `batches` steps per epoch, as [`TrainConfig::schedule`] says.
    ///
    /// ```
    /// use fashion_nn::train::{LrSchedule, TrainConfig};
    /// let c = TrainConfig {
    ///     epochs: 2,
    ///     learning_rate: 1.0,
    ///     schedule: LrSchedule::OneCycle { warmup: 0.25 },
    ///     ..TrainConfig::default()
    /// };
    /// // 2 epochs of 4 steps: up over the first 2 steps, then down by 1/6 per step.
    /// let lrs: Vec<f64> = (1..=2)
    ///     .flat_map(|e| (0..4).map(move |b| (e, b)))
    ///     .map(|(e, b)| c.learning_rate_at(e, b, 4))
    ///     .collect();
    /// let expected = [0.5, 1.0, 1.0, 5.0 / 6.0, 4.0 / 6.0, 0.5, 2.0 / 6.0, 1.0 / 6.0];
    /// for (lr, want) in lrs.iter().zip(expected) {
    ///     assert!((lr - want).abs() < 1e-12, "{lrs:?}");
    /// }
    /// ```
    pub fn learning_rate_at(&self, epoch: usize, batch: usize, batches: usize) -> f64 {
        match self.schedule {
            LrSchedule::EpochCosine => {
                let floor = 0.01 * self.learning_rate;
                if self.epochs <= 1 {
                    return self.learning_rate;
                }
                let t = (epoch.saturating_sub(1)) as f64 / (self.epochs - 1) as f64;
                floor
                    + 0.5 * (self.learning_rate - floor) * (1.0 + (std::f64::consts::PI * t).cos())
            }
            LrSchedule::OneCycle { warmup } => {
                let total = (self.epochs * batches.max(1)) as f64;
                let step = (epoch.saturating_sub(1) * batches + batch) as f64;
                let warm = (warmup * total).floor();
                let share = if step < warm {
                    (step + 1.0) / warm
                } else {
                    (total - step) / (total - warm)
                };
                self.learning_rate * share.clamp(0.0, 1.0)
            }
        }
    }

    /// Reads a configuration written by [`TrainConfig::save`].
    ///
    /// # Errors
    /// [`Error::Checkpoint`] naming the file if it is missing or not a valid
    /// configuration.
    pub fn load(path: &Path) -> Result<TrainConfig> {
        let text = fs::read_to_string(path).map_err(|e| Error::Checkpoint {
            path: path.to_path_buf(),
            reason: format!("cannot read the training configuration: {e}"),
        })?;
        serde_json::from_str(&text).map_err(|e| Error::Checkpoint {
            path: path.to_path_buf(),
            reason: format!("not a valid training configuration: {e}"),
        })
    }

    /// Writes the configuration as pretty JSON (atomically).
    ///
    /// # Errors
    /// [`Error::Data`] (I/O) if writing fails.
    pub fn save(&self, path: &Path) -> Result<()> {
        let json = serde_json::to_string_pretty(self).expect("config serialises");
        Ok(write_atomic(path, json.as_bytes())?)
    }
}

impl std::fmt::Display for TrainConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let json = serde_json::to_string_pretty(self).map_err(|_| std::fmt::Error)?;
        f.write_str(&json)
    }
}
