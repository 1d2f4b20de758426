//! The checkpoint directory: file names, the resumable state (`state.json`), atomic
//! weight files, and loading a finished or interrupted run.

use super::*;

/// Resumable state, `state.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct RunState {
    pub(super) epochs_done: usize,
    // Absent (not `null`) until an epoch has completed: the file never holds a null.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) best_epoch: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) best_valid_loss: Option<f64>,
    pub(super) finished: bool,
    pub(super) history: History,
}

pub(super) const CONFIG_FILE: &str = "config.json";
pub(super) const STATE_FILE: &str = "state.json";
pub(super) const HISTORY_FILE: &str = "history.csv";
pub(super) const BEST_FILE: &str = "best.safetensors";
pub(super) const WEIGHTS_FILE: &str = "weights.safetensors";
pub(super) const OPTIMIZER_FILE: &str = "optimizer.bin";
/// Held (an OS file lock) by the process training into the directory.
pub(super) const LOCK_FILE: &str = "train.lock";
/// Written by [`Evaluation::save`](crate::eval::Evaluation::save) beside the checkpoint.
const EVALUATION_FILES: [&str; 2] = ["test_predictions.csv", "test_metrics.json"];

/// One writer per checkpoint directory: an exclusive OS lock (`flock`) on
/// `train.lock`, which names its holder (process id and host). The kernel releases the
/// lock when the process ends, however it ends, so a lock file left behind by a killed
/// run is stale and simply taken over.
pub(super) struct RunLock {
    _file: fs::File,
}

impl RunLock {
    pub(super) fn acquire(dir: &Path) -> Result<RunLock> {
        use std::io::{Read, Seek, Write};
        let path = dir.join(LOCK_FILE);
        let io = |e| fashion_data::Error::io(&path, e);
        let mut file = fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                let holder = match holder.trim() {
                    "" => "a process that has not written its name yet".to_string(),
                    h => h.to_string(),
                };
                return Err(Error::Locked { path, holder });
            }
            Err(fs::TryLockError::Error(e)) => return Err(io(e).into()),
        }
        let me = format!("pid {} on host {}\n", std::process::id(), host_name());
        file.set_len(0).map_err(io)?;
        file.rewind().map_err(io)?;
        file.write_all(me.as_bytes()).map_err(io)?;
        file.flush().map_err(io)?;
        Ok(RunLock { _file: file })
    }
}

/// This machine's name, for the lock file ("unknown" where it cannot be read).
fn host_name() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.is_empty())
        .or_else(|| fs::read_to_string("/proc/sys/kernel/hostname").ok())
        .or_else(|| fs::read_to_string("/etc/hostname").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "unknown".into())
}

/// The `resume-NNN` directories in `dir`.
fn resume_dirs(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut found: Vec<PathBuf> = entries
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with("resume-"))
        .map(|e| e.path())
        .collect();
    found.sort();
    found
}

/// What `dir` holds of an earlier run, in words, or `None` if it holds none of a run's
/// files (an empty or new directory, or one with unrelated files only).
pub(super) fn existing_run(dir: &Path, config: &TrainConfig) -> Option<String> {
    let files = [CONFIG_FILE, STATE_FILE, BEST_FILE, HISTORY_FILE];
    if !files.iter().any(|f| dir.join(f).exists()) && resume_dirs(dir).is_empty() {
        return None;
    }
    let same = match TrainConfig::load(&dir.join(CONFIG_FILE)) {
        Ok(c) if &c == config => "of the same configuration",
        Ok(_) => "of another configuration",
        Err(_) => "whose config.json is missing or unreadable",
    };
    let epochs = |n: usize| format!("{n} epoch{}", if n == 1 { "" } else { "s" });
    Some(match read_state(dir) {
        Ok(s) if s.finished => format!("a finished run ({}) {same}", epochs(s.epochs_done)),
        Ok(s) => format!("an unfinished run ({} done) {same}", epochs(s.epochs_done)),
        Err(_) => format!("a run {same}, with a missing or unreadable state.json"),
    })
}

/// Removes the files of an earlier run from `dir` (its state first, so an interrupted
/// removal never leaves a state pointing at missing files); other files stay.
pub(super) fn remove_run(dir: &Path) -> Result<()> {
    let remove_file = |name: &str| -> Result<()> {
        let path = dir.join(name);
        match fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(fashion_data::Error::io(&path, e).into())
            }
            _ => Ok(()),
        }
    };
    remove_file(STATE_FILE)?;
    for rd in resume_dirs(dir) {
        fs::remove_dir_all(&rd).map_err(|e| fashion_data::Error::io(&rd, e))?;
    }
    for name in [BEST_FILE, HISTORY_FILE, CONFIG_FILE]
        .into_iter()
        .chain(EVALUATION_FILES)
    {
        remove_file(name)?;
    }
    Ok(())
}

pub(super) fn resume_dir(dir: &Path, epoch: usize) -> PathBuf {
    dir.join(format!("resume-{epoch:03}"))
}

/// Writes the weights to `path` through the workspace's one atomic writer. dfdx writes
/// safetensors only to a path, so it writes a scratch file (removed when dropped) whose
/// bytes then go to [`write_atomic`]: a failed write names `path` and leaves its previous
/// version intact.
pub(super) fn save_weights_atomic(model: &Model, path: &Path) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let io = |e| fashion_data::Error::io(path, e);
    let scratch = tempfile::Builder::new()
        .prefix(".fashion-")
        .suffix(".tmp")
        .tempfile_in(dir)
        .map_err(io)?;
    model
        .save_safetensors(scratch.path())
        .map_err(|e| match e {
            Error::Checkpoint { reason, .. } => Error::Checkpoint {
                path: path.to_path_buf(),
                reason,
            },
            e => e,
        })?;
    let bytes = fs::read(scratch.path()).map_err(io)?;
    drop(scratch);
    Ok(write_atomic(path, &bytes)?)
}

pub(super) fn read_state(dir: &Path) -> Result<RunState> {
    let path = dir.join(STATE_FILE);
    let text = fs::read_to_string(&path).map_err(|e| Error::Checkpoint {
        path: path.clone(),
        reason: format!("cannot read the run state: {e}"),
    })?;
    serde_json::from_str(&text).map_err(|e| Error::Checkpoint {
        path,
        reason: format!("corrupt run state: {e}"),
    })
}

pub(super) fn write_state(dir: &Path, state: &RunState) -> Result<()> {
    // serde_json writes NaN and infinities as `null`, which would not read back: the
    // training loop stops before such a value gets here, and this makes sure of it.
    let mut floats = state
        .best_valid_loss
        .into_iter()
        .chain(state.history.epochs.iter().flat_map(|r| {
            [
                r.train_loss,
                r.train_accuracy,
                r.valid_loss,
                r.valid_accuracy,
            ]
            .into_iter()
            .chain([r.learning_rate, r.seconds, r.images_per_sec])
        }));
    if let Some(bad) = floats.find(|x| !x.is_finite()) {
        return Err(Error::Checkpoint {
            path: dir.join(STATE_FILE),
            reason: format!("refusing to write a run state holding {bad}"),
        });
    }
    let json = serde_json::to_string_pretty(state).expect("state serialises");
    Ok(write_atomic(dir.join(STATE_FILE), json.as_bytes())?)
}

/// The run in `dir` as a [`Trained`]: the network with `best.safetensors` loaded (a
/// fresh one if no epoch has completed yet).
pub(super) fn with_best_weights(
    config: TrainConfig,
    state: RunState,
    dir: &Path,
) -> Result<Trained> {
    let mut model = Model::new(&config.model, config.seed)?;
    if state.epochs_done > 0 {
        model.load_safetensors(&dir.join(BEST_FILE))?;
    }
    Ok(Trained {
        model,
        config,
        history: state.history,
        dir: dir.to_path_buf(),
        finished: state.finished,
    })
}

/// Loads the best weights, configuration and history of a checkpoint directory.
///
/// # Errors
/// [`Error::Checkpoint`] naming the missing or corrupt file, or a directory that holds
/// no completed epoch.
pub fn load_checkpoint(dir: &Path) -> Result<Trained> {
    if !dir.is_dir() {
        return Err(Error::Checkpoint {
            path: dir.to_path_buf(),
            reason: "not a directory (train first: `fashion train --out DIR`)".into(),
        });
    }
    let config = TrainConfig::load(&dir.join(CONFIG_FILE))?;
    let state = read_state(dir)?;
    if state.epochs_done == 0 {
        return Err(Error::Checkpoint {
            path: dir.to_path_buf(),
            reason: "holds no completed epoch".into(),
        });
    }
    with_best_weights(config, state, dir)
}
