//! The checkpoint readers on raw bytes, for fuzzing them with
//! [`fashion_data::fuzz`]: the weights (`best.safetensors`), the optimiser state
//! (`optimizer.bin`), `config.json` and `state.json`. Each reader writes the bytes to
//! its file in a scratch checkpoint directory and reads it as training and loading do.
//! Used by the tests and by `cargo run --release -p fashion-nn --example fuzz`.

use super::*;

/// A scratch checkpoint directory of a one-epoch run, whose files are the valid seeds.
pub struct CheckpointReaders {
    dir: tempfile::TempDir,
    model: Model,
    lengths: Vec<usize>,
    seeds: Vec<(&'static str, Vec<u8>)>,
}

impl CheckpointReaders {
    /// Trains a SmallCnn for one epoch on a small synthetic data set into a scratch
    /// directory and keeps its four files as seeds.
    ///
    /// # Errors
    /// Training or I/O errors.
    pub fn new() -> Result<CheckpointReaders> {
        let data = FashionMnist {
            train: fashion_data::fixtures::synthetic(4, 0),
            test: fashion_data::fixtures::synthetic(1, 1),
            release: None,
            files: Vec::new(),
        };
        let config = TrainConfig {
            epochs: 2,
            batch_size: 8,
            ..TrainConfig::default()
        };
        let dir =
            tempfile::tempdir().map_err(|e| fashion_data::Error::io(std::env::temp_dir(), e))?;
        let options = TrainOptions {
            stop_after: Some(1),
            ..TrainOptions::default()
        };
        let mut model = train(&config, &data, dir.path(), options)?.model;
        let read = |p: PathBuf| fs::read(&p).map_err(|e| fashion_data::Error::io(&p, e));
        let seeds = vec![
            ("weights", read(dir.path().join(BEST_FILE))?),
            (
                "optimizer",
                read(resume_dir(dir.path(), 1).join(OPTIMIZER_FILE))?,
            ),
            ("config", read(dir.path().join(CONFIG_FILE))?),
            ("state", read(dir.path().join(STATE_FILE))?),
        ];
        let lengths = trainable_lengths(&mut model)?;
        Ok(CheckpointReaders {
            dir,
            model,
            lengths,
            seeds,
        })
    }

    /// The valid file for `target` (`weights`, `optimizer`, `config`, `state`).
    ///
    /// # Panics
    /// For another name.
    pub fn seed(&self, target: &str) -> &[u8] {
        &self
            .seeds
            .iter()
            .find(|(t, _)| *t == target)
            .unwrap_or_else(|| panic!("no reader named {target}"))
            .1
    }

    /// The file name each reader reads (and its errors name).
    pub fn file_name(target: &str) -> &'static str {
        match target {
            "weights" => BEST_FILE,
            "optimizer" => OPTIMIZER_FILE,
            "config" => CONFIG_FILE,
            "state" => STATE_FILE,
            _ => panic!("no reader named {target}"),
        }
    }

    /// Runs reader `target` on `bytes`.
    ///
    /// # Errors
    /// Whatever the reader refuses the bytes with.
    ///
    /// # Panics
    /// For an unknown `target`, or if the scratch file cannot be written.
    pub fn read(&mut self, target: &str, bytes: &[u8]) -> Result<()> {
        let path = self.dir.path().join(Self::file_name(target));
        fs::write(&path, bytes).expect("scratch file written");
        match target {
            "weights" => self.model.load_safetensors(&path),
            "optimizer" => Adam::from_bytes(bytes, &path)?.check_fits(&self.lengths, &path),
            "config" => TrainConfig::load(&path).map(drop),
            "state" => read_state(self.dir.path()).map(drop),
            _ => unreachable!(),
        }
    }

    /// The four readers' names.
    pub const TARGETS: [&'static str; 4] = ["weights", "optimizer", "config", "state"];
}
