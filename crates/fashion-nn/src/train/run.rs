//! The training loop: [`train`], [`train_or_load`], their options and outcome.

use super::*;

/// TrainProgress of a running training, handed to [`TrainOptions::on_batch`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TrainProgress {
    /// Current epoch, 1-based.
    pub epoch: usize,
    /// Epochs in the run.
    pub epochs: usize,
    /// Batches done in this epoch.
    pub batch: usize,
    /// Batches per epoch.
    pub batches: usize,
    /// Mean training loss so far in this epoch.
    pub loss: f64,
    /// Training images per second so far in this epoch.
    pub images_per_sec: f64,
}

/// How to run [`train`], beyond the [`TrainConfig`].
#[derive(Default)]
pub struct TrainOptions<'a> {
    /// Continue from the last completed epoch found in the directory (its saved
    /// configuration must equal the one given).
    pub resume: bool,
    /// Replace a run found in the directory: its state, weights, resume points, history
    /// and test results are removed first. Without it (and without `resume`), a
    /// directory holding a run is an error ([`Error::RunExists`]).
    pub overwrite: bool,
    /// Stop after this epoch as if interrupted (the checkpoint stays resumable); for
    /// tests and for splitting a long run.
    pub stop_after: Option<usize>,
    /// Called after every batch.
    pub on_batch: Option<&'a mut dyn FnMut(&TrainProgress)>,
    /// Called after every epoch with its record.
    pub on_epoch: Option<&'a mut dyn FnMut(&EpochRecord)>,
}

/// The outcome of [`train`] or [`train_or_load`].
#[derive(Debug, Clone)]
pub struct Trained {
    /// The network with the weights of the best epoch (lowest validation loss).
    pub model: Model,
    /// The configuration it was trained with.
    pub config: TrainConfig,
    /// Its history.
    pub history: History,
    /// The checkpoint directory.
    pub dir: PathBuf,
    /// Whether the run completed all epochs (false after `stop_after`).
    pub finished: bool,
}

/// Trains a network as configured, writing checkpoints into `dir` (created if needed).
///
/// Returns the network with the weights of the epoch with the lowest validation loss.
///
/// A process training into `dir` holds an OS lock on `dir/train.lock` until it returns
/// (released by the kernel whatever way the process ends), so two runs never write into
/// one directory. An epoch whose weights or validation loss are not finite is not saved:
/// the checkpoint of the epoch before stays as it was.
///
/// # Errors
/// An invalid configuration ([`TrainConfig::check`]); [`Error::Locked`] naming the
/// holder if another process trains into `dir`; [`Error::RunExists`] if `dir` holds a run
/// and neither `resume` nor `overwrite` is set; with `resume`, a directory without a
/// resumable run or with another configuration ([`Error::Checkpoint`]);
/// [`Error::NonFiniteLoss`] naming epoch and batch if the training loss becomes NaN or
/// infinite, [`Error::NonFinite`] if the weights or the validation loss do at the end of
/// an epoch; I/O errors naming the file.
pub fn train(
    config: &TrainConfig,
    data: &FashionMnist,
    dir: &Path,
    mut options: TrainOptions<'_>,
) -> Result<Trained> {
    config.check()?;
    fs::create_dir_all(dir).map_err(|e| fashion_data::Error::io(dir, e))?;
    let _lock = RunLock::acquire(dir)?;
    let (train_set, valid_set) = split(config, data)?;

    let mut model = Model::new(&config.model, config.seed)?;
    let mut adam = Adam::default();
    let mut state = RunState {
        epochs_done: 0,
        best_epoch: None,
        best_valid_loss: None,
        finished: false,
        history: History::default(),
    };
    if options.resume {
        let saved = TrainConfig::load(&dir.join(CONFIG_FILE))?;
        if &saved != config {
            return Err(Error::Checkpoint {
                path: dir.join(CONFIG_FILE),
                reason: "was written by a run with another configuration; cannot resume it \
                         (use another directory or drop --resume)"
                    .into(),
            });
        }
        state = read_state(dir)?;
        if state.epochs_done > 0 {
            let rd = resume_dir(dir, state.epochs_done);
            model.load_safetensors(&rd.join(WEIGHTS_FILE))?;
            let opt_path = rd.join(OPTIMIZER_FILE);
            let bytes = fs::read(&opt_path).map_err(|e| Error::Checkpoint {
                path: opt_path.clone(),
                reason: format!("cannot read optimiser state: {e}"),
            })?;
            adam = Adam::from_bytes(&bytes, &opt_path)?;
            adam.check_fits(&trainable_lengths(&mut model)?, &opt_path)?;
        }
    } else {
        if let Some(what) = existing_run(dir, config) {
            if !options.overwrite {
                return Err(Error::RunExists {
                    dir: dir.to_path_buf(),
                    what,
                });
            }
            remove_run(dir)?;
        }
        config.save(&dir.join(CONFIG_FILE))?;
        // A fresh run: forget any state of an earlier one in this directory.
        write_state(dir, &state)?;
    }

    let mut stepper = Stepper::new(&model, adam)?;
    let last_epoch = options
        .stop_after
        .unwrap_or(config.epochs)
        .min(config.epochs);
    for epoch in state.epochs_done + 1..=last_epoch {
        let started = Instant::now();
        let mut rng = epoch_rng(config.seed, epoch);
        let batches =
            BatchIter::shuffled(&train_set, config.batch_size, Preprocess::Scaled, &mut rng)?;
        let num_batches = batches.num_batches();
        let lr_first = config.learning_rate_at(epoch, 0, num_batches);
        let (mut loss_sum, mut correct, mut seen) = (0.0f64, 0usize, 0usize);
        for (b, batch) in batches.enumerate() {
            let mut x = batch.x;
            if config.augment {
                augment(&mut x, config.max_shift, &mut rng);
            }
            let n = x.nrows();
            let y = batch.y.as_slice().expect("contiguous labels");
            let lr = config.learning_rate_at(epoch, b, num_batches);
            let (value, right) = stepper
                .step(&mut model, x, y, lr, config, &mut rng)
                .map_err(|e| match e {
                    Error::NonFiniteLoss { loss, .. } => Error::NonFiniteLoss {
                        epoch,
                        batch: b + 1,
                        loss,
                    },
                    e => e,
                })?;
            correct += right;
            loss_sum += f64::from(value) * n as f64;
            seen += n;
            if let Some(cb) = options.on_batch.as_mut() {
                cb(&TrainProgress {
                    epoch,
                    epochs: config.epochs,
                    batch: b + 1,
                    batches: num_batches,
                    loss: loss_sum / seen as f64,
                    images_per_sec: seen as f64 / started.elapsed().as_secs_f64(),
                });
            }
        }
        let train_secs = started.elapsed().as_secs_f64();
        // A NaN or an infinity must never reach a checkpoint: it would become the "best"
        // (no loss compares below NaN) and poison every later epoch.
        if let Some((what, value)) = non_finite_weight(&mut model)? {
            return Err(Error::NonFinite {
                epoch,
                what,
                value: value.into(),
            });
        }
        let valid = evaluate(&model, &valid_set, EVAL_BATCH)?;
        if !valid.loss.is_finite() {
            return Err(Error::NonFinite {
                epoch,
                what: "the validation loss".into(),
                value: valid.loss,
            });
        }
        let record = EpochRecord {
            epoch,
            train_loss: loss_sum / seen as f64,
            train_accuracy: correct as f64 / seen as f64,
            valid_loss: valid.loss,
            valid_accuracy: valid.accuracy,
            learning_rate: lr_first,
            seconds: started.elapsed().as_secs_f64(),
            images_per_sec: seen as f64 / train_secs,
        };

        // Checkpoint: resume dir first, best weights, history; state.json last.
        let rd = resume_dir(dir, epoch);
        fs::create_dir_all(&rd).map_err(|e| fashion_data::Error::io(&rd, e))?;
        save_weights_atomic(&model, &rd.join(WEIGHTS_FILE))?;
        write_atomic(rd.join(OPTIMIZER_FILE), &stepper.adam.to_bytes())?;
        if state.best_valid_loss.is_none_or(|b| record.valid_loss < b) {
            save_weights_atomic(&model, &dir.join(BEST_FILE))?;
            state.best_valid_loss = Some(record.valid_loss);
            state.best_epoch = Some(epoch);
        }
        state.history.epochs.push(record.clone());
        state.history.save_csv(&dir.join(HISTORY_FILE))?;
        state.epochs_done = epoch;
        state.finished = epoch == config.epochs;
        write_state(dir, &state)?;
        if epoch > 1 {
            let old = resume_dir(dir, epoch - 1);
            // Best effort: a leftover directory is harmless.
            let _ = fs::remove_dir_all(old);
        }
        if let Some(cb) = options.on_epoch.as_mut() {
            cb(&record);
        }
    }

    with_best_weights(config.clone(), state, dir)
}

/// Loads the finished run in `dir` if its saved configuration equals `config`;
/// otherwise trains: it resumes an unfinished run of the same configuration, and replaces
/// a run of another configuration (so a directory named for a purpose, like the shared
/// run's, always ends up holding a run of the configuration asked for).
///
/// It never trains over a run it cannot read: a `config.json` or `state.json` that
/// exists but is unreadable, or a run's files without them, are an error, and the
/// directory is left as it is.
///
/// # Errors
/// As [`train`]; [`Error::Checkpoint`] naming the file if the run in `dir` cannot be
/// read, or if a finished run's weights are corrupt.
pub fn train_or_load(
    config: &TrainConfig,
    data: &FashionMnist,
    dir: &Path,
    options: TrainOptions<'_>,
) -> Result<Trained> {
    let unreadable = |path: PathBuf, e: Error| Error::Checkpoint {
        path,
        reason: format!(
            "holds a run that cannot be read ({e}); not training over it: remove the \
             directory, or train into another one"
        ),
    };
    let config_path = dir.join(CONFIG_FILE);
    let state_path = dir.join(STATE_FILE);
    let fresh = TrainOptions {
        resume: false,
        overwrite: true,
        ..options
    };
    if !config_path.exists() {
        if state_path.exists() || dir.join(BEST_FILE).exists() {
            let e = Error::Checkpoint {
                path: config_path.clone(),
                reason: "missing".into(),
            };
            return Err(unreadable(config_path, e));
        }
        return train(config, data, dir, fresh);
    }
    let saved = TrainConfig::load(&config_path).map_err(|e| unreadable(config_path.clone(), e))?;
    if &saved != config {
        return train(config, data, dir, fresh);
    }
    let state = read_state(dir).map_err(|e| unreadable(state_path, e))?;
    if state.finished {
        return load_checkpoint(dir);
    }
    let resume = state.epochs_done > 0;
    train(
        config,
        data,
        dir,
        TrainOptions {
            resume,
            overwrite: !resume,
            ..fresh
        },
    )
}
