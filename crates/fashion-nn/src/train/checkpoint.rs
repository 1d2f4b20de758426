//! The checkpoint directory: file names, the resumable state (`state.json`), atomic
//! weight files, and loading a finished or interrupted run.

use super::*;

/// Resumable state, `state.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct RunState {
    pub(super) epochs_done: usize,
    pub(super) best_epoch: Option<usize>,
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

pub(super) fn resume_dir(dir: &Path, epoch: usize) -> PathBuf {
    dir.join(format!("resume-{epoch:03}"))
}

pub(super) fn save_weights_atomic(model: &Model, path: &Path) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let tmp = tempfile::Builder::new()
        .suffix(".safetensors")
        .tempfile_in(dir)
        .map_err(|e| fashion_data::Error::io(dir, e))?;
    model.save_safetensors(tmp.path())?;
    tmp.persist(path)
        .map_err(|e| fashion_data::Error::io(path, e.error))?;
    Ok(())
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
