//! [`TrainConfig`]: everything that determines a run, saved as `config.json`.

use super::*;
use crate::ParamError;

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
    /// Adam's initial learning rate; it follows a cosine schedule down to 1 % of this
    /// value over the run.
    pub learning_rate: f64,
    /// Decoupled weight decay (AdamW) applied to convolution and dense weights.
    pub weight_decay: f64,
    /// Random horizontal flips and shifts of up to 1 pixel during training.
    pub augment: bool,
    /// Seed for initialisation, split, batch order, augmentation and dropout.
    pub seed: u64,
    /// Share of the official training set held out for validation, in (0, 1).
    pub valid_fraction: f64,
    /// Train on only this many images of the training split (stratified), e.g. for a
    /// quick run; `None` uses all of it.
    pub train_subset: Option<usize>,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            model: ModelConfig::default(),
            epochs: 20,
            batch_size: 64,
            learning_rate: 1e-3,
            weight_decay: 1e-4,
            augment: true,
            seed: 42,
            valid_fraction: 0.2,
            train_subset: None,
        }
    }
}

impl TrainConfig {
    /// The default configuration of a network: [`TrainConfig::default`] with
    /// `model.kind` set and as many epochs as that network's runs use. Per training
    /// image SmallCnn costs ~46 MFLOP, SeedCnn ~4.6× and the ResNet-style network ~5.5×
    /// as much, so the larger networks train for fewer epochs: SmallCnn 20, SeedCnn 12,
    /// the ResNets 6 (their accuracies: README, "Results").
    ///
    /// ```
    /// use fashion_nn::{train::TrainConfig, ModelKind};
    /// assert_eq!(TrainConfig::for_model(ModelKind::Small), TrainConfig::default());
    /// let resnet = TrainConfig::for_model(ModelKind::ResNet);
    /// assert_eq!((resnet.model.kind, resnet.epochs), (ModelKind::ResNet, 6));
    /// ```
    pub fn for_model(kind: ModelKind) -> TrainConfig {
        let mut config = TrainConfig::default();
        config.model.kind = kind;
        config.epochs = match kind {
            ModelKind::Small => config.epochs,
            ModelKind::Seed => 12,
            ModelKind::ResNet | ModelKind::ResNetCorrected => 6,
        };
        config
    }

    /// Checks every field.
    ///
    /// # Errors
    /// [`ParamError`] naming the first invalid field: `epochs` or
    /// `batch_size` of 0, `learning_rate` not finite and > 0, `weight_decay` negative or
    /// not finite, `valid_fraction` outside (0, 1), `train_subset` of 0, `dropout`
    /// outside [0, 1).
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
        if self.train_subset == Some(0) {
            return Err(ParamError::new("train_subset", "at least 1 image", 0));
        }
        self.model.check()
    }

    /// Learning rate during epoch `epoch` (1-based): cosine from `learning_rate` down to
    /// 1 % of it in the last epoch.
    pub fn learning_rate_at(&self, epoch: usize) -> f64 {
        let floor = 0.01 * self.learning_rate;
        if self.epochs <= 1 {
            return self.learning_rate;
        }
        let t = (epoch.saturating_sub(1)) as f64 / (self.epochs - 1) as f64;
        floor + 0.5 * (self.learning_rate - floor) * (1.0 + (std::f64::consts::PI * t).cos())
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
