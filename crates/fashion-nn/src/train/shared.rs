//! The run the notebooks (and `make run`) share, and where its checkpoint lives.

use super::*;

/// Environment variable: when set to `1`, [`shared_run`] picks a quick configuration
/// (CI sets it so the notebooks stay within its time budget).
pub const FAST_ENV: &str = "FASHION_FAST";

/// How many images of the validation split the quick configuration validates on after
/// each epoch (`FASHION_FAST=1`). Its epochs train on 4 000 images, so validating on the
/// whole split's 12 000 took a large share of the run (docs/performance.md, "Validation
/// in quick runs", has the times); 2 000 images measure an accuracy near 80 % to about
/// ±0.9 points (one standard error, √(0.8 · 0.2 / 2 000)), enough to pick the better of
/// its two epochs.
pub const QUICK_VALID_SUBSET: usize = 2000;

/// Environment variable overriding where [`shared_run`] keeps checkpoints.
pub const CHECKPOINTS_ENV: &str = "FASHION_CHECKPOINTS";

/// The training run the notebooks (and `make run`) share, and where it is kept.
#[derive(Debug, Clone, PartialEq)]
pub struct SharedRun {
    /// The configuration: [`TrainConfig::default`], or the quick one.
    pub config: TrainConfig,
    /// Its checkpoint directory.
    pub dir: PathBuf,
    /// Whether the quick configuration was chosen (`FASHION_FAST=1`).
    pub fast: bool,
}

impl SharedRun {
    /// The same configuration trained again with another seed, for studies over
    /// training runs: replicate `k` has seed `config.seed + k` and lives beside the
    /// shared run in `<name>-seed<k>` (replicate 0 is the shared run itself).
    ///
    /// ```
    /// use fashion_nn::train::shared_run_in;
    /// let run = shared_run_in("runs".as_ref(), false);
    /// let third = run.replicate(2);
    /// assert_eq!(third.config.seed, run.config.seed + 2);
    /// assert_eq!(third.dir, std::path::Path::new("runs/small-default-seed2"));
    /// assert_eq!(run.replicate(0), run);
    /// ```
    pub fn replicate(&self, k: usize) -> SharedRun {
        if k == 0 {
            return self.clone();
        }
        let mut run = self.clone();
        run.config.seed += k as u64;
        let name = self
            .dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        run.dir = self.dir.with_file_name(format!("{name}-seed{k}"));
        run
    }

    /// A one-line description for notebooks to print.
    pub fn describe(&self) -> String {
        let c = &self.config;
        let mode = if self.fast {
            format!(
                "QUICK configuration ({FAST_ENV}=1): {} epochs on {} training images, validated \
                 on {}, not the full run; accuracies are far below what the default \
                 configuration reaches",
                c.epochs,
                c.train_subset.unwrap_or(0),
                c.valid_subset.map_or_else(
                    || "the whole validation split".to_string(),
                    |n| n.to_string()
                )
            )
        } else {
            let which = if *c == TrainConfig::for_model(c.model.kind) {
                "default"
            } else if *c == TrainConfig::long() {
                "longer"
            } else {
                "a custom"
            };
            format!(
                "{which} configuration: {} epochs on the full training split",
                c.epochs
            )
        };
        format!("{mode}; checkpoint {}", self.dir.display())
    }
}

/// The shared run: the default configuration in `small-default`, or with
/// `FASHION_FAST=1` a quick one (2 epochs on 4 000 images, validated on
/// [`QUICK_VALID_SUBSET`]) in `small-fast`, inside the
/// directory [`checkpoints_root`] finds at run time. Pass it to [`train_or_load`]: the
/// first notebook trains, the later ones load.
pub fn shared_run() -> SharedRun {
    shared_run_for(ModelKind::Small)
}

/// The longer SmallCnn run: [`TrainConfig::long`] in `small-long`, inside the directory
/// [`checkpoints_root`] finds at run time (`FASHION_FAST` does not change it). The
/// README's SmallCnn results at scale come from it and its replicates
/// (`fashion study --seeds N --long`).
///
/// ```
/// use fashion_nn::train::{long_run_in, TrainConfig};
/// let run = long_run_in("runs".as_ref());
/// assert_eq!(run.dir, std::path::Path::new("runs/small-long"));
/// assert_eq!(run.config, TrainConfig::long());
/// assert!(run.describe().starts_with("longer configuration: 20 epochs"));
/// ```
pub fn long_run_in(root: &Path) -> SharedRun {
    SharedRun {
        config: TrainConfig::long(),
        dir: root.join("small-long"),
        fast: false,
    }
}

/// [`long_run_in`] the directory [`checkpoints_root`] finds.
pub fn long_run() -> SharedRun {
    long_run_in(&root_here())
}

/// [`checkpoints_root`] for `FASHION_CHECKPOINTS` and the current directory.
fn root_here() -> PathBuf {
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    checkpoints_root(std::env::var_os(CHECKPOINTS_ENV).as_deref(), &cwd)
}

/// The shared run of any network: [`TrainConfig::for_model`] in `<kind>-default`
/// (`resnet-default`, …), or the quick configuration in `<kind>-fast` with
/// `FASHION_FAST=1`, found as [`shared_run`] finds its own.
pub fn shared_run_for(kind: ModelKind) -> SharedRun {
    let fast = std::env::var(FAST_ENV).is_ok_and(|v| v == "1");
    shared_run_in_for(&root_here(), fast, kind)
}

/// Where shared runs are kept, searched in this order:
///
/// 1. `override_dir` (the value of `FASHION_CHECKPOINTS` in [`shared_run`]) if set and
///    not empty;
/// 2. `target/checkpoints` in the nearest workspace root at or above `cwd`: the first
///    directory holding a `Cargo.toml` with a `[workspace]` table (notebooks run in
///    `notebooks/`, the CLI in the repository root: both find the repository);
/// 3. `fashion-mnist-rs/checkpoints` in the platform cache directory (on Linux
///    `~/.cache`), when `cwd` is in no workspace;
/// 4. `target/checkpoints` in `cwd`, if there is no cache directory either.
///
/// ```
/// # use std::path::Path;
/// use fashion_nn::train::checkpoints_root;
/// let dir = tempfile::tempdir().unwrap();
/// std::fs::write(dir.path().join("Cargo.toml"), "[workspace]\nmembers = []\n").unwrap();
/// let notebooks = dir.path().join("notebooks");
/// std::fs::create_dir(&notebooks).unwrap();
/// assert_eq!(checkpoints_root(None, &notebooks), dir.path().join("target/checkpoints"));
/// assert_eq!(checkpoints_root(Some("/runs".as_ref()), &notebooks), Path::new("/runs"));
/// ```
pub fn checkpoints_root(override_dir: Option<&std::ffi::OsStr>, cwd: &Path) -> PathBuf {
    if let Some(dir) = override_dir.filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    let is_workspace = |dir: &Path| {
        fs::read_to_string(dir.join("Cargo.toml"))
            .is_ok_and(|t| t.lines().any(|l| l.trim() == "[workspace]"))
    };
    if let Some(root) = cwd.ancestors().find(|d| is_workspace(d)) {
        return root.join("target/checkpoints");
    }
    match dirs::cache_dir() {
        Some(cache) => cache.join("fashion-mnist-rs/checkpoints"),
        None => cwd.join("target/checkpoints"),
    }
}

/// The shared run kept in `root` (see [`shared_run`]).
pub fn shared_run_in(root: &Path, fast: bool) -> SharedRun {
    shared_run_in_for(root, fast, ModelKind::Small)
}

/// The shared run of network `kind` kept in `root` (see [`shared_run_for`]).
///
/// ```
/// use fashion_nn::{train::{shared_run_in_for, TrainConfig, QUICK_VALID_SUBSET}, ModelKind};
/// let run = shared_run_in_for("runs".as_ref(), false, ModelKind::Seed);
/// assert_eq!(run.dir, std::path::Path::new("runs/seed-default"));
/// assert_eq!(run.config, TrainConfig::for_model(ModelKind::Seed));
/// assert_eq!(run.config.valid_subset, None);
/// let quick = shared_run_in_for("runs".as_ref(), true, ModelKind::ResNet);
/// assert_eq!(quick.dir, std::path::Path::new("runs/resnet-fast"));
/// assert_eq!((quick.config.epochs, quick.config.train_subset), (2, Some(4000)));
/// assert_eq!(quick.config.valid_subset, Some(QUICK_VALID_SUBSET));
/// ```
pub fn shared_run_in_for(root: &Path, fast: bool, kind: ModelKind) -> SharedRun {
    let mut config = TrainConfig::for_model(kind);
    let name = if fast {
        config.epochs = 2;
        config.train_subset = Some(4000);
        config.valid_subset = Some(QUICK_VALID_SUBSET);
        format!("{kind}-fast")
    } else {
        format!("{kind}-default")
    };
    SharedRun {
        config,
        dir: root.join(name),
        fast,
    }
}
