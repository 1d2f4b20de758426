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
    /// The history as a polars DataFrame (one row per epoch): the fields of
    /// [`EpochRecord`] and `elapsed_seconds` ([`elapsed`](Self::elapsed)).
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
            "elapsed_seconds" => self.elapsed(),
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

    /// Training wall time from the start of the run to the end of each epoch, validation
    /// included: the running sum of [`EpochRecord::seconds`] (a resumed run counts its
    /// epochs, not the time between the kill and the resume).
    ///
    /// ```
    /// use fashion_nn::train::{EpochRecord, History};
    /// let epoch = |epoch, valid_accuracy, seconds| EpochRecord {
    ///     epoch, train_loss: 0.5, train_accuracy: 0.9, valid_loss: 0.4, valid_accuracy,
    ///     learning_rate: 1e-3, seconds, images_per_sec: 1000.0,
    /// };
    /// let h = History { epochs: vec![epoch(1, 0.89, 30.0), epoch(2, 0.915, 25.0), epoch(3, 0.912, 25.0)] };
    /// assert_eq!(h.elapsed(), [30.0, 55.0, 80.0]);
    /// let t = h.time_to_accuracy(0.91).unwrap();
    /// assert_eq!((t.epoch, t.seconds), (2, 55.0));
    /// assert!(h.time_to_accuracy(0.93).is_none());
    /// ```
    pub fn elapsed(&self) -> Vec<f64> {
        self.epochs
            .iter()
            .scan(0.0, |total, r| {
                *total += r.seconds;
                Some(*total)
            })
            .collect()
    }

    /// The first epoch whose validation accuracy is at least `target` (a share, e.g.
    /// 0.93), with the training wall time up to its end ([`elapsed`](Self::elapsed));
    /// `None` if no epoch reached it. Validation runs once per epoch, so this is the
    /// time to the end of the epoch in which the accuracy was first measured above the
    /// target.
    pub fn time_to_accuracy(&self, target: f64) -> Option<TimeToAccuracy> {
        let elapsed = self.elapsed();
        self.epochs
            .iter()
            .zip(elapsed)
            .find(|(r, _)| r.valid_accuracy >= target)
            .map(|(r, seconds)| TimeToAccuracy {
                target,
                epoch: r.epoch,
                seconds,
            })
    }

    /// The epoch with the lowest validation loss.
    pub fn best(&self) -> Option<&EpochRecord> {
        self.epochs
            .iter()
            .min_by(|a, b| a.valid_loss.total_cmp(&b.valid_loss))
    }
}

/// When a run first reached a validation accuracy ([`History::time_to_accuracy`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TimeToAccuracy {
    /// The validation accuracy asked for (a share).
    pub target: f64,
    /// The first epoch that reached it.
    pub epoch: usize,
    /// Training wall time to the end of that epoch, validation included.
    pub seconds: f64,
}

/// The validation accuracies `fashion train` reports the time to (91 % and 93 %).
pub const ACCURACY_MILESTONES: [f64; 2] = [0.91, 0.93];
