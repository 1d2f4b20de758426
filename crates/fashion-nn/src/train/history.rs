//! The per-epoch history of a run ([`History`], `history.csv`).

use super::*;

/// One row of the training history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochRecord {
    /// Epoch, 1-based.
    pub epoch: usize,
    /// Mean cross-entropy over the epoch's training batches (with augmentation and
    /// dropout, as trained).
    pub train_loss: f64,
    /// Accuracy on the epoch's training batches.
    pub train_accuracy: f64,
    /// Cross-entropy on the validation split (inference mode).
    pub valid_loss: f64,
    /// Accuracy on the validation split.
    pub valid_accuracy: f64,
    /// Learning rate used in the epoch.
    pub learning_rate: f64,
    /// Wall time of the epoch, validation included.
    pub seconds: f64,
    /// Training images per second (training steps only).
    pub images_per_sec: f64,
}

/// The per-epoch history of a run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct History {
    /// One record per completed epoch.
    pub epochs: Vec<EpochRecord>,
}

impl History {
    /// The history as a polars DataFrame (one row per epoch).
    ///
    /// # Errors
    /// [`Error::Polars`] if the frame cannot be built.
    pub fn to_frame(&self) -> Result<DataFrame> {
        let col = |f: fn(&EpochRecord) -> f64| self.epochs.iter().map(f).collect::<Vec<f64>>();
        let df = df!(
            "epoch" => self.epochs.iter().map(|r| r.epoch as u32).collect::<Vec<u32>>(),
            "train_loss" => col(|r| r.train_loss),
            "train_accuracy" => col(|r| r.train_accuracy),
            "valid_loss" => col(|r| r.valid_loss),
            "valid_accuracy" => col(|r| r.valid_accuracy),
            "learning_rate" => col(|r| r.learning_rate),
            "seconds" => col(|r| r.seconds),
            "images_per_sec" => col(|r| r.images_per_sec),
        )?;
        Ok(df)
    }

    /// Writes the history as CSV (atomically).
    ///
    /// # Errors
    /// [`Error::Polars`] or [`Error::Data`] (I/O) if writing fails.
    pub fn save_csv(&self, path: &Path) -> Result<()> {
        Ok(fashion_data::io::write_csv(&self.to_frame()?, path)?)
    }

    /// The epoch with the lowest validation loss.
    pub fn best(&self) -> Option<&EpochRecord> {
        self.epochs
            .iter()
            .min_by(|a, b| a.valid_loss.total_cmp(&b.valid_loss))
    }
}
