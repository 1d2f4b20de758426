//! `fashion`: the command-line side of the project.
//!
//! Subcommands: `fashion data download|verify|dir`, `fashion train`, `fashion evaluate`,
//! `fashion bench train|infer`, `fashion graph`, `fashion report`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use fashion::analysis::StudyParams;
use fashion::data::{self, CLASS_NAMES, DownloadOptions, FashionMnist, LoadOptions, Release};
use fashion::eval::TestResults;
use fashion::features::{FeatureParams, ImageFeatures, Representation};
use fashion::graph::{self, BetweennessParams, Centrality, GraphExport, LayoutParams, Measure};
use fashion::nn::ModelKind;
use fashion::plot::{GraphChart, NodeSize};
use fashion::report::{DirSink, ReportOptions, emit_evaluation};
use fashion::train::{self, BenchMode, LrSchedule, TrainConfig, TrainOptions};
use indicatif::{ProgressBar, ProgressStyle};

#[derive(Parser)]
#[command(
    name = "fashion",
    version,
    about = "Fashion-MNIST in Rust: data, training, evaluation, graphs"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Download, verify and locate the data set.
    #[command(subcommand)]
    Data(DataCommand),
    /// Train a network, with validation after every epoch and checkpoints in --out.
    Train(TrainArgs),
    /// Evaluate a checkpoint on the official test set; writes predictions beside it and,
    /// with --out, the confusion matrix, per-class metrics and charts.
    Evaluate(EvaluateArgs),
    /// Build a similarity graph over test images in one representation of a checkpoint's
    /// network; write GraphML, node and edge CSV, SVG and PNG into --out.
    Graph(GraphArgs),
    /// Write one self-contained HTML report of a run (training, evaluation, the graphs,
    /// the centrality-versus-errors study, clustering) with every table as CSV.
    Report(ReportArgs),
    /// The centrality-versus-errors study on several trained runs of the same test images
    /// (default: all 10 000): each run's intervals and the pooled ones. Each run's scores
    /// are kept in --out, so an interrupted study resumes where it stopped.
    Study(StudyArgs),
    /// Measure training or inference throughput (images/s) and peak memory.
    Bench(BenchArgs),
}

#[derive(clap::Args)]
struct EvaluateArgs {
    /// Checkpoint directory written by `fashion train`
    #[arg(long)]
    checkpoint: PathBuf,
    /// Also write the tables (confusion, per_class, most_confused, misclassified as
    /// .csv) and the charts (confusion, confusion_normalised, per_class, misclassified
    /// as .svg and .png) that `fashion report` and notebook 03 show, into this directory
    #[arg(long)]
    out: Option<PathBuf>,
    /// Data directory [default: $FASHION_MNIST_DIR, else the platform cache dir]
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Accept data files that match no known release, e.g. uncompressed copies (mixed
    /// releases are still refused) [env: FASHION_MNIST_ALLOW_UNVERIFIED=1]
    #[arg(long)]
    allow_unverified: bool,
}

#[derive(clap::Args)]
struct BenchArgs {
    /// What to time
    #[arg(value_enum)]
    mode: BenchArg,
    /// Network: small (SmallCnn), seed (the original's Keras CNN), resnet (the original's
    /// ResNet-style network, shortcut as it wrote it) or resnet-corrected
    #[arg(long, default_value = "small")]
    model: ModelKind,
    /// Images per step
    #[arg(long, default_value_t = 64)]
    batch: usize,
    /// Timed steps
    #[arg(long, default_value_t = 50)]
    steps: usize,
    /// Untimed warm-up steps
    #[arg(long, default_value_t = 5)]
    warmup: usize,
}

#[derive(clap::Args)]
struct TrainArgs {
    /// Network: small (SmallCnn), seed (the original's Keras CNN), resnet (the original's
    /// ResNet-style network, shortcut as it wrote it) or resnet-corrected
    #[arg(long, default_value = "small")]
    model: ModelKind,
    /// Start from the longer SmallCnn configuration (TrainConfig::long: the first recipe,
    /// 20 epochs) instead of the default; the other options still apply
    #[arg(long)]
    long: bool,
    /// Epochs [default: the network's TrainConfig::for_model: 4 small, 12 seed, 6 resnet;
    /// 20 with --long]
    #[arg(long)]
    epochs: Option<usize>,
    /// Images per step [default: TrainConfig default]
    #[arg(long)]
    batch_size: Option<usize>,
    /// Peak learning rate [default: TrainConfig default]
    #[arg(long)]
    lr: Option<f64>,
    /// Learning-rate schedule: one-cycle (per step: linear warm-up, then linear decay)
    /// or epoch-cosine (per epoch: cosine down to 1 %) [default: TrainConfig default]
    #[arg(long, value_parser = ["one-cycle", "epoch-cosine"])]
    schedule: Option<String>,
    /// Share of the steps spent warming up, with --schedule one-cycle [default: the configuration's, else 0.2]
    #[arg(long)]
    warmup: Option<f64>,
    /// Label smoothing of the training loss, in [0, 1) [default: TrainConfig default]
    #[arg(long)]
    label_smoothing: Option<f64>,
    /// AdamW's decoupled weight decay [default: TrainConfig default]
    #[arg(long)]
    weight_decay: Option<f64>,
    /// Dropout probability of the dense layers, in [0, 1) [default: TrainConfig default]
    #[arg(long)]
    dropout: Option<f32>,
    /// Seed for everything random [default: TrainConfig default]
    #[arg(long)]
    seed: Option<u64>,
    /// Train on only this many training images (stratified), for a quick run
    #[arg(long)]
    subset: Option<usize>,
    /// Validate on only this many images of the validation split (stratified), for a
    /// quick run: validation passes over all of its 12 000 images after every epoch
    /// otherwise
    #[arg(long)]
    valid_subset: Option<usize>,
    /// Turn augmentation (random flips and shifts) off [default: TrainConfig default]
    #[arg(long, conflicts_with = "augment")]
    no_augment: bool,
    /// Turn augmentation (random flips and shifts) on [default: TrainConfig default]
    #[arg(long)]
    augment: bool,
    /// Largest shift of the augmentation in pixels; 0 flips only [default: TrainConfig
    /// default]
    #[arg(long)]
    max_shift: Option<usize>,
    /// Test-time flips on or off: predictions (validation, test, everything the run's
    /// network classifies later) average the logits of each image and of its mirror
    /// image [default: TrainConfig default: on for SmallCnn's default, off otherwise]
    #[arg(long, value_name = "on|off", value_parser = parse_on_off)]
    test_time_flip: Option<bool>,
    /// Checkpoint directory
    #[arg(long)]
    out: PathBuf,
    /// Continue the interrupted run in --out from its last completed epoch
    #[arg(long)]
    resume: bool,
    /// Replace the run that --out holds (its weights, resume points, history and test
    /// results are removed first); without it, training into a directory that holds a
    /// run is refused
    #[arg(long, conflicts_with = "resume")]
    overwrite: bool,
    /// Data directory [default: $FASHION_MNIST_DIR, else the platform cache dir]
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Accept data files that match no known release, e.g. uncompressed copies (mixed
    /// releases are still refused) [env: FASHION_MNIST_ALLOW_UNVERIFIED=1]
    #[arg(long)]
    allow_unverified: bool,
    /// Hide the progress bar
    #[arg(long, short)]
    quiet: bool,
    /// Do not evaluate on the test set at the end: it stays untouched (while choosing
    /// hyper-parameters on the validation split, say); `fashion evaluate --checkpoint
    /// OUT` evaluates the run later
    #[arg(long)]
    no_test: bool,
}

/// The notebooks' defaults (04–06): the same images, measure parameters and layout seed
/// give the same edges and drawing.
#[derive(clap::Args)]
struct GraphArgs {
    /// Checkpoint directory written by `fashion train` (or a notebook's shared run)
    #[arg(long)]
    checkpoint: PathBuf,
    /// Similarity measure, with the library's defaults: corr (the most correlated
    /// pairs, mean degree 4), lasso (Meinshausen–Bühlmann penalty, level 0.05, AND),
    /// knn (k = 5, plain)
    #[arg(long)]
    measure: Measure,
    /// Representation: input (pixels ÷255), scaled (pixels standardised with the
    /// training split's statistics), map (last feature map, 1152), fc (dense
    /// embedding, 128)
    #[arg(long = "repr")]
    representation: Representation,
    /// Test images per class (the first ones in test order, or --sample-seed's)
    #[arg(long, default_value_t = 10)]
    n_per_class: usize,
    /// Draw the images of each class at random with this seed instead of taking the
    /// first ones
    #[arg(long)]
    sample_seed: Option<u64>,
    /// Data directory [default: $FASHION_MNIST_DIR, else the platform cache dir]
    #[arg(long, visible_alias = "data")]
    dir: Option<PathBuf>,
    /// Accept data files that match no known release, e.g. uncompressed copies (mixed
    /// releases are still refused) [env: FASHION_MNIST_ALLOW_UNVERIFIED=1]
    #[arg(long)]
    allow_unverified: bool,
    /// What node size shows: betweenness (the original project's choice), degree or
    /// uniform
    #[arg(long, default_value = "betweenness", value_parser = parse_size)]
    size: NodeSize,
    /// Draw each node as its image (border in the class colour, framed in black when
    /// misclassified); best up to a few hundred nodes
    #[arg(long)]
    glyphs: bool,
    /// Label nodes with their test index [default: on up to 300 nodes]
    #[arg(long, value_name = "on|off", value_parser = parse_on_off)]
    labels: Option<bool>,
    /// Betweenness from every node ("all", exact) or estimated from N randomly drawn
    /// source nodes (Brandes–Pich; --pivots-seed draws them) [default: all up to 4000
    /// nodes, else 2000]
    #[arg(long, value_name = "all|N", value_parser = parse_pivots)]
    pivots: Option<Pivots>,
    /// Seed of the draw of the pivots
    #[arg(long, default_value_t = 0)]
    pivots_seed: u64,
    /// Steps of the force-directed layout [default: 500 up to 2000 nodes, else 200]
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    iterations: Option<u64>,
    /// Output directory (created if needed)
    #[arg(long)]
    out: PathBuf,
}

/// `--pivots`: every node (`None`) or a count.
#[derive(Debug, Clone, Copy)]
struct Pivots(Option<usize>);

/// `all` (every node: exact) or a positive pivot count.
fn parse_pivots(s: &str) -> std::result::Result<Pivots, String> {
    if s == "all" {
        return Ok(Pivots(None));
    }
    match s.parse::<usize>() {
        Ok(k) if k >= 1 => Ok(Pivots(Some(k))),
        _ => Err(format!(
            "expected all or a number of source nodes >= 1, found {s:?}"
        )),
    }
}

fn parse_size(s: &str) -> std::result::Result<NodeSize, String> {
    s.parse().map_err(|e: fashion::Error| e.to_string())
}

fn parse_on_off(s: &str) -> std::result::Result<bool, String> {
    match s {
        "on" => Ok(true),
        "off" => Ok(false),
        _ => Err(format!("expected on or off, found {s:?}")),
    }
}

/// The defaults are notebook 07's: the same images and seeds give the same numbers.
#[derive(clap::Args)]
#[command(group(clap::ArgGroup::new("run").required(true).args(["checkpoint", "shared_run"])))]
struct ReportArgs {
    /// Checkpoint directory written by `fashion train`
    #[arg(long)]
    checkpoint: Option<PathBuf>,
    /// Use the notebooks' shared run (target/checkpoints/small-default, or small-fast
    /// with FASHION_FAST=1), training it first if it is missing
    #[arg(long)]
    shared_run: bool,
    /// Output directory: report.html, tables/*.csv, figures/*.png
    #[arg(long)]
    out: PathBuf,
    /// A `fashion study` output directory: its kept scores (scores-RUN.csv) add the
    /// section "The claim at scale" (per run and pooled, against this report's study)
    #[arg(long, value_name = "DIR")]
    at_scale: Option<PathBuf>,
    /// Test images per class in the centrality study and the clustering
    #[arg(long, default_value_t = ReportOptions::default().study_per_class)]
    per_class: usize,
    /// Seed drawing the study's images
    #[arg(long, default_value_t = ReportOptions::default().sample_seed)]
    sample_seed: u64,
    /// Bootstrap resamples per interval
    #[arg(long, default_value_t = StudyParams::default().resamples)]
    resamples: usize,
    /// Seed of the bootstrap
    #[arg(long, default_value_t = StudyParams::default().seed)]
    seed: u64,
    /// Test images per class in the drawn graphs (the first ones in test order)
    #[arg(long, default_value_t = ReportOptions::default().graph_per_class)]
    graph_per_class: usize,
    /// Data directory [default: $FASHION_MNIST_DIR, else the platform cache dir]
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Accept data files that match no known release, e.g. uncompressed copies (mixed
    /// releases are still refused) [env: FASHION_MNIST_ALLOW_UNVERIFIED=1]
    #[arg(long)]
    allow_unverified: bool,
}

#[derive(clap::Args)]
#[command(group(clap::ArgGroup::new("runs").required(true).args(["checkpoint", "seeds"])))]
struct StudyArgs {
    /// Checkpoint directory of a run written by `fashion train` (repeat for several runs)
    #[arg(long)]
    checkpoint: Vec<PathBuf>,
    /// The shared run of --model trained with N seeds (its seed, then +1, +2, …): the
    /// shared run itself (small-default for SmallCnn, seed-default, resnet-default, …),
    /// then <it>-seed1, … beside it (small-fast-… with FASHION_FAST=1); each is trained
    /// if missing and resumed if interrupted
    #[arg(long)]
    seeds: Option<usize>,
    /// Network of the --seeds runs: small, seed, resnet or resnet-corrected
    #[arg(long, default_value = "small", requires = "seeds")]
    model: ModelKind,
    /// The --seeds runs are the longer SmallCnn run (TrainConfig::long, small-long) and
    /// its replicates (small-long-seed1, …) instead of the shared run
    #[arg(long, requires = "seeds", conflicts_with = "model")]
    long: bool,
    /// Output directory: scores-RUN.csv per run (kept for resuming), runs.csv (every
    /// detector per run and pooled), summary.csv, forest-RUN.png and forest-pooled.png
    #[arg(long)]
    out: PathBuf,
    /// Test images per class, or "all" (1 000 per class: the whole test set)
    #[arg(long, default_value = "all", value_parser = parse_per_class)]
    per_class: usize,
    /// Seed drawing the images when fewer than all are studied
    #[arg(long, default_value_t = ReportOptions::default().sample_seed)]
    sample_seed: u64,
    /// Bootstrap resamples per interval
    #[arg(long, default_value_t = StudyParams::default().resamples)]
    resamples: usize,
    /// Seed of the bootstrap
    #[arg(long, default_value_t = StudyParams::default().seed)]
    seed: u64,
    /// Betweenness from every node ("all", exact) or estimated from N pivots
    /// (Brandes–Pich, seed 0) [default: all up to 4000 images, else 2000]
    #[arg(long, value_name = "all|N", value_parser = parse_pivots)]
    pivots: Option<Pivots>,
    /// Data directory [default: $FASHION_MNIST_DIR, else the platform cache dir]
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Accept data files that match no known release, e.g. uncompressed copies (mixed
    /// releases are still refused) [env: FASHION_MNIST_ALLOW_UNVERIFIED=1]
    #[arg(long)]
    allow_unverified: bool,
}

fn parse_per_class(s: &str) -> std::result::Result<usize, String> {
    if s == "all" {
        return Ok(1000);
    }
    match s.parse::<usize>() {
        Ok(n) if (1..=1000).contains(&n) => Ok(n),
        _ => Err(format!(
            "expected \"all\" or a number of images per class from 1 to 1000, found {s:?}"
        )),
    }
}

/// A benchmark mode, as named on the command line.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum BenchArg {
    /// Forward, backward and optimiser update
    Train,
    /// Inference-mode forward pass
    Infer,
}

#[derive(Subcommand)]
enum DataCommand {
    /// Download the missing files from the official mirrors, verifying each SHA-256.
    Download(DownloadArgs),
    /// Check every file's SHA-256 and contents; print the release and the counts.
    Verify(VerifyArgs),
    /// Print the data directory that would be used.
    Dir,
}

#[derive(clap::Args)]
struct DownloadArgs {
    /// Data directory [default: $FASHION_MNIST_DIR, else the platform cache dir]
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Base URL(s) to download from instead of the official mirrors
    /// (comma-separated) [env: FASHION_MNIST_MIRROR]
    #[arg(long)]
    mirror: Option<String>,
    /// Which release to fetch when the directory holds none of its files yet
    /// (the official mirrors serve `current`).
    #[arg(long, value_enum, default_value_t = ReleaseArg::Current)]
    release: ReleaseArg,
    /// Hide the progress bar.
    #[arg(long, short)]
    quiet: bool,
}

#[derive(clap::Args)]
struct VerifyArgs {
    /// Data directory [default: $FASHION_MNIST_DIR, else the platform cache dir]
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Accept files that match no known release, e.g. uncompressed copies (mixed
    /// releases are still refused) [env: FASHION_MNIST_ALLOW_UNVERIFIED=1]
    #[arg(long)]
    allow_unverified: bool,
}

/// A release, as named on the command line.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum ReleaseArg {
    /// The current release (2017-08-31), served by the official mirrors.
    Current,
    /// The 2017-08-26 release.
    #[value(name = "2017-08-26")]
    R20170826,
}

impl From<ReleaseArg> for Release {
    fn from(r: ReleaseArg) -> Release {
        match r {
            ReleaseArg::Current => Release::Current,
            ReleaseArg::R20170826 => Release::Release20170826,
        }
    }
}

fn data_dir(dir: Option<PathBuf>) -> Result<PathBuf> {
    match dir {
        Some(d) => Ok(d),
        None => Ok(data::default_dir()?),
    }
}

fn download(args: DownloadArgs) -> Result<()> {
    let DownloadArgs {
        dir,
        mirror,
        release,
        quiet,
    } = args;
    let dir = data_dir(dir)?;
    let mut options = DownloadOptions::from_env();
    options.release = release.into();
    if let Some(m) = mirror {
        options = options.with_mirror_list(&m);
    }
    let bar = if quiet {
        ProgressBar::hidden()
    } else {
        ProgressBar::new(0)
    };
    bar.set_style(
        ProgressStyle::with_template(
            "{msg:28} [{bar:30}] {bytes:>10}/{total_bytes:10} {bytes_per_sec:>12} eta {eta}",
        )
        .expect("valid template")
        .progress_chars("=> "),
    );
    let mut current = String::new();
    let written = data::download_missing(&dir, &options, &mut |p| {
        if p.file != current {
            current = p.file.to_string();
            bar.reset();
            bar.set_message(current.clone());
        }
        if let Some(t) = p.total {
            bar.set_length(t);
        }
        bar.set_position(p.received);
    })
    .with_context(|| format!("downloading Fashion-MNIST into {}", dir.display()))?;
    bar.finish_and_clear();
    for path in &written {
        println!("downloaded {}", path.display());
    }
    if written.is_empty() {
        println!("all files already present in {}", dir.display());
    }
    Ok(())
}

fn verify(args: VerifyArgs) -> Result<()> {
    let VerifyArgs {
        dir,
        allow_unverified,
    } = args;
    let dir = data_dir(dir)?;
    let options = LoadOptions {
        allow_unverified: allow_unverified || LoadOptions::from_env().allow_unverified,
    };
    let data = FashionMnist::load_with(&dir, &options)
        .with_context(|| format!("verifying {}", dir.display()))?;
    for f in &data.files {
        let release = f
            .release
            .map_or("UNVERIFIED (unknown checksum)".to_string(), |r| {
                format!("release {r}")
            });
        println!("{}  {}  {}", f.sha256, f.path.display(), release);
    }
    match data.release {
        Some(r) => println!("release: {r}"),
        None => println!("release: unverified files (allowed by --allow-unverified)"),
    }
    println!("{:<12} {:>7} {:>7}", "class", "train", "test");
    let (tr, te) = (data.train.class_counts(), data.test.class_counts());
    for (c, name) in CLASS_NAMES.iter().enumerate() {
        println!("{:<12} {:>7} {:>7}", name, tr[c], te[c]);
    }
    println!(
        "{:<12} {:>7} {:>7}",
        "all",
        data.train.len(),
        data.test.len()
    );
    Ok(())
}

/// Loads the data set; files of no known release are accepted with `allow_unverified` or
/// `FASHION_MNIST_ALLOW_UNVERIFIED=1`.
fn load_data(dir: Option<PathBuf>, allow_unverified: bool) -> Result<FashionMnist> {
    let dir = data_dir(dir)?;
    let options = LoadOptions {
        allow_unverified: allow_unverified || LoadOptions::from_env().allow_unverified,
    };
    FashionMnist::load_with(&dir, &options).with_context(|| {
        format!(
            "loading Fashion-MNIST from {} (run `fashion data download` first)",
            dir.display()
        )
    })
}

fn run_train(args: TrainArgs) -> Result<()> {
    let mut config = match (args.long, args.model) {
        (false, kind) => TrainConfig::for_model(kind),
        (true, ModelKind::Small) => TrainConfig::long(),
        (true, kind) => bail!(
            "--long: the longer configuration is SmallCnn's (--model small), found --model {kind}"
        ),
    };
    if let Some(e) = args.epochs {
        config.epochs = e;
    }
    if let Some(b) = args.batch_size {
        config.batch_size = b;
    }
    if let Some(lr) = args.lr {
        config.learning_rate = lr;
    }
    if let Some(s) = args.seed {
        config.seed = s;
    }
    let default_warmup = match config.schedule {
        LrSchedule::OneCycle { warmup } => warmup,
        LrSchedule::EpochCosine => LrSchedule::DEFAULT_WARMUP,
    };
    match (args.schedule.as_deref(), args.warmup) {
        (Some("epoch-cosine"), Some(_)) => {
            bail!("--warmup applies to --schedule one-cycle only")
        }
        (Some("epoch-cosine"), None) => config.schedule = LrSchedule::EpochCosine,
        (Some(_), warmup) => {
            config.schedule = LrSchedule::OneCycle {
                warmup: warmup.unwrap_or(default_warmup),
            }
        }
        (None, Some(warmup)) => match config.schedule {
            LrSchedule::OneCycle { .. } => config.schedule = LrSchedule::OneCycle { warmup },
            LrSchedule::EpochCosine => {
                bail!("--warmup applies to --schedule one-cycle only")
            }
        },
        (None, None) => {}
    }
    if let Some(e) = args.label_smoothing {
        config.label_smoothing = e;
    }
    if let Some(w) = args.weight_decay {
        config.weight_decay = w;
    }
    if let Some(p) = args.dropout {
        config.model.dropout = p;
    }
    config.train_subset = args.subset;
    config.valid_subset = args.valid_subset;
    if args.augment || args.no_augment {
        config.augment = args.augment;
    }
    if let Some(m) = args.max_shift {
        config.max_shift = m;
    }
    if let Some(on) = args.test_time_flip {
        config.model.test_time_flip = on;
    }
    config.check()?;
    let data = load_data(args.dir, args.allow_unverified)?;
    let bar = if args.quiet {
        ProgressBar::hidden()
    } else {
        ProgressBar::new(0)
    };
    bar.set_style(
        ProgressStyle::with_template(
            "epoch {prefix} [{bar:30}] {pos}/{len} batches  {msg}  eta {eta}",
        )
        .expect("valid template")
        .progress_chars("=> "),
    );
    let mut on_batch = |p: &train::TrainProgress| {
        bar.set_length(p.batches as u64);
        bar.set_prefix(format!("{}/{}", p.epoch, p.epochs));
        bar.set_position(p.batch as u64);
        bar.set_message(format!(
            "loss {:.4}  {:.0} images/s",
            p.loss, p.images_per_sec
        ));
    };
    let mut on_epoch = |r: &train::EpochRecord| {
        bar.suspend(|| {
            println!(
                "epoch {:>3}  train loss {:.4} acc {:.4}  valid loss {:.4} acc {:.4}  lr {:.2e}  {:.1} s  {:.0} images/s",
                r.epoch, r.train_loss, r.train_accuracy, r.valid_loss, r.valid_accuracy,
                r.learning_rate, r.seconds, r.images_per_sec
            )
        });
    };
    let options = TrainOptions {
        resume: args.resume,
        overwrite: args.overwrite,
        on_batch: Some(&mut on_batch),
        on_epoch: Some(&mut on_epoch),
        ..TrainOptions::default()
    };
    let started = std::time::Instant::now();
    let trained = train::train(&config, &data, &args.out, options)
        .with_context(|| format!("training into {}", args.out.display()))?;
    bar.finish_and_clear();
    let best = trained.history.best().expect("at least one epoch");
    println!(
        "best epoch {} (valid loss {:.4}, valid accuracy {:.4}); training took {:.0} s",
        best.epoch,
        best.valid_loss,
        best.valid_accuracy,
        started.elapsed().as_secs_f64()
    );
    println!("{}", time_to_accuracy(&trained.history));
    if args.no_test {
        println!(
            "test set not evaluated (--no-test; `fashion evaluate --checkpoint {0}` does it); checkpoint in {0}",
            args.out.display()
        );
        return Ok(());
    }
    let eval = evaluate_and_save(&trained.model, &data, &args.out)?.evaluation;
    println!(
        "test accuracy: {:.4} (loss {:.4}, {} images); checkpoint in {}",
        eval.accuracy,
        eval.loss,
        eval.labels.len(),
        args.out.display()
    );
    Ok(())
}

/// `time to validation accuracy: 91 % S s (epoch E), 93 % not reached (N epochs, S s)`:
/// the training wall time to the end of the first epoch that reached each of
/// [`train::ACCURACY_MILESTONES`] (`elapsed_seconds` in `history.csv`).
fn time_to_accuracy(history: &train::History) -> String {
    let parts: Vec<String> = train::ACCURACY_MILESTONES
        .iter()
        .map(|&target| match history.time_to_accuracy(target) {
            Some(t) => format!(
                "{:.0} % {:.0} s (epoch {})",
                target * 100.0,
                t.seconds,
                t.epoch
            ),
            None => format!(
                "{:.0} % not reached ({} epochs, {:.0} s)",
                target * 100.0,
                history.epochs.len(),
                history.elapsed().last().copied().unwrap_or(0.0)
            ),
        })
        .collect();
    format!("time to validation accuracy: {}", parts.join(", "))
}

/// Runs the network once on the official test set and saves the predictions beside
/// the checkpoint.
fn evaluate_and_save(
    model: &fashion::nn::Model,
    data: &FashionMnist,
    checkpoint: &Path,
) -> Result<TestResults> {
    let results = TestResults::compute(model, &data.test)?;
    results.evaluation.save(checkpoint)?;
    Ok(results)
}

fn run_evaluate(args: EvaluateArgs) -> Result<()> {
    let trained = train::load_checkpoint(&args.checkpoint)?;
    let data = load_data(args.dir, args.allow_unverified)?;
    let results = evaluate_and_save(&trained.model, &data, &args.checkpoint)?;
    println!(
        "model: {} ({} parameters)",
        trained.config.model.kind,
        trained.model.num_params()
    );
    if let Some(out) = args.out {
        std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
        let mut sink = DirSink::new(&out);
        emit_evaluation(&results, &data.test, &mut sink)
            .with_context(|| format!("writing the evaluation into {}", out.display()))?;
        println!(
            "wrote confusion matrix, per-class metrics and charts to {}",
            out.display()
        );
    }
    println!("test loss: {:.4}", results.evaluation.loss);
    println!("test accuracy: {:.4}", results.evaluation.accuracy);
    Ok(())
}

fn run_graph(args: GraphArgs) -> Result<()> {
    let mut params = FeatureParams::default().per_class(args.n_per_class);
    if let Some(seed) = args.sample_seed {
        params = params.random(seed);
    }
    params.check()?;
    let mut clock = Stopwatch::start();
    let trained = train::load_checkpoint(&args.checkpoint)?;
    let data = load_data(args.dir, args.allow_unverified)?;
    clock.lap("loading");
    let features = ImageFeatures::for_run(&trained, &data, &params)?;
    clock.lap("features");
    let r = args.representation;
    let g = features
        .graph(r, &args.measure)
        .with_context(|| format!("building the {} graph on {}", args.measure, r.label()))?;
    clock.lap("graph");
    let mut pivots = BetweennessParams::for_nodes(g.node_count()).seed(args.pivots_seed);
    if let Some(Pivots(k)) = args.pivots {
        pivots.pivots = k;
    }
    let stats = Centrality::compute_with(&g, &pivots)?;
    clock.lap("centralities");
    let mut layout_params = LayoutParams::for_nodes(g.node_count());
    if let Some(n) = args.iterations {
        layout_params = layout_params.iterations(n as usize);
    }
    let layout = graph::fruchterman_reingold(&g, &layout_params)?;
    clock.lap("layout");
    let title = format!(
        "{} graph, {}",
        args.measure,
        r.title(features.matrix(r).ncols())
    );
    let mut chart = GraphChart::measured(&g, &layout, &stats)?
        .with_title(title)
        .size_by(args.size)
        .with_features(&features)?
        .glyphs(args.glyphs);
    if let Some(on) = args.labels {
        chart = chart.labels(on);
    }
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    let out = &args.out;
    let export = GraphExport::measured(&g, &stats)?
        .with_layout(&layout)?
        .with_confidence(&features.confidence)?;
    export.write_graphml(out.join("graph.graphml"))?;
    export.write_node_csv(out.join("nodes.csv"))?;
    export.write_edge_csv(out.join("edges.csv"))?;
    clock.lap("exports");
    chart.explorable_svg()?.save(out.join("graph.svg"))?;
    clock.lap("svg");
    fashion::plot::save(&chart, out.join("graph.png"))?;
    clock.lap("png");
    let fmt = |v: Option<f64>| v.map_or("n/a".to_string(), |v| format!("{v:.3}"));
    println!(
        "{}: {} images ({} correct), {} edges; {} components; same-class share {}, modularity {}",
        g.construction().describe(),
        g.node_count(),
        features.correct().iter().filter(|&&c| c).count(),
        g.edge_count(),
        stats.components,
        fmt(stats.same_class_share),
        fmt(stats.modularity)
    );
    println!("betweenness: {}", stats.betweenness_method());
    println!(
        "wrote graph.graphml, nodes.csv, edges.csv, graph.svg, graph.png in {}",
        out.display()
    );
    println!("{clock}");
    Ok(())
}

/// Seconds per step of a command, printed as one line: `seconds: a 0.1, b 2.3 (total 2.4)`.
struct Stopwatch {
    last: std::time::Instant,
    start: std::time::Instant,
    laps: Vec<(&'static str, f64)>,
}

impl Stopwatch {
    fn start() -> Stopwatch {
        let now = std::time::Instant::now();
        Stopwatch {
            last: now,
            start: now,
            laps: Vec::new(),
        }
    }

    /// Ends the step `name`, started at the previous lap.
    fn lap(&mut self, name: &'static str) {
        let now = std::time::Instant::now();
        self.laps.push((name, (now - self.last).as_secs_f64()));
        self.last = now;
    }
}

impl std::fmt::Display for Stopwatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let laps: Vec<String> = self
            .laps
            .iter()
            .map(|(name, s)| format!("{name} {s:.2}"))
            .collect();
        write!(
            f,
            "seconds: {} (total {:.2})",
            laps.join(", "),
            self.start.elapsed().as_secs_f64()
        )
    }
}

fn run_report(args: ReportArgs) -> Result<()> {
    let mut options = ReportOptions {
        graph_per_class: args.graph_per_class,
        study_per_class: args.per_class,
        sample_seed: args.sample_seed,
        ..ReportOptions::default()
    };
    options.study = options.study.resamples(args.resamples).seed(args.seed);
    options.study.check()?;
    if let Some(dir) = &args.at_scale {
        let runs = fashion::analysis::RunScores::read_dir(dir, &options.study)
            .with_context(|| format!("--at-scale: reading the kept scores in {}", dir.display()))?;
        if runs.is_empty() {
            anyhow::bail!(
                "--at-scale: {} holds no scores-RUN.csv (run `fashion study --out {}` first)",
                dir.display(),
                dir.display()
            );
        }
        options.at_scale = Some(fashion::analysis::RunsStudy::compute(
            &runs,
            &options.study,
        )?);
    }
    let data = load_data(args.dir, args.allow_unverified)?;
    let trained = match (&args.checkpoint, args.shared_run) {
        (Some(dir), _) => train::load_checkpoint(dir)?,
        (None, _) => {
            let run = train::shared_run();
            println!("{}", run.describe());
            train::train_or_load(&run.config, &data, &run.dir, TrainOptions::default())
                .with_context(|| format!("training or loading {}", run.dir.display()))?
        }
    };
    let started = std::time::Instant::now();
    let (report, times) = fashion::report::run_report(&trained, &data, &options)?;
    let path = report
        .write(&args.out)
        .with_context(|| format!("writing the report into {}", args.out.display()))?;
    let (tables, figures) = report.counts();
    println!(
        "analysis of {} images (features, centrality study, clustering): {:.1} s",
        10 * args.per_class,
        times.analysis()
    );
    println!(
        "report with {tables} tables and {figures} figures in {:.1} s: {}",
        started.elapsed().as_secs_f64(),
        path.display()
    );
    Ok(())
}

fn run_study(args: StudyArgs) -> Result<()> {
    let mut params = StudyParams::default()
        .resamples(args.resamples)
        .seed(args.seed);
    if let Some(Pivots(p)) = args.pivots {
        params = params.betweenness(match p {
            None => BetweennessParams::default().exact(),
            Some(k) => BetweennessParams::default().pivots(k),
        });
    }
    params.check()?;
    let data = load_data(args.dir, args.allow_unverified)?;
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    // (name, checkpoint directory, the shared run to train there if missing)
    let mut runs: Vec<(String, PathBuf, Option<train::SharedRun>)> = Vec::new();
    for dir in &args.checkpoint {
        let name = dir.file_name().map_or_else(
            || dir.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        );
        runs.push((name, dir.clone(), None));
    }
    if let Some(n) = args.seeds {
        if n == 0 {
            anyhow::bail!("--seeds: expected at least 1 run, found 0");
        }
        let shared = if args.long {
            train::long_run()
        } else {
            train::shared_run_for(args.model)
        };
        for k in 0..n {
            let run = shared.replicate(k);
            let name = run
                .dir
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned();
            runs.push((name, run.dir.clone(), Some(run)));
        }
    }
    let started = std::time::Instant::now();
    let features_params = FeatureParams::default()
        .per_class(args.per_class)
        .random(args.sample_seed);
    let images = fashion::features::select_images(&data.test, &features_params)?;
    let mut scores = Vec::new();
    for (name, dir, shared) in &runs {
        let path = args.out.join(format!("scores-{name}.csv"));
        if path.exists() {
            match fashion::analysis::RunScores::read_csv(&path, name.clone(), &params) {
                Ok(s) if s.images != images => println!(
                    "{name}: recomputing, {} holds the scores of other test images ({} images, not the {} asked for)",
                    path.display(),
                    s.images.len(),
                    images.len()
                ),
                Ok(s) => {
                    println!(
                        "{name}: scores read back from {} (delete it to recompute)",
                        path.display()
                    );
                    scores.push(s);
                    continue;
                }
                Err(e) => println!("{name}: recomputing, {e}"),
            }
        }
        let trained = match shared {
            Some(run) => {
                println!("{name}: {}", run.describe());
                train::train_or_load(&run.config, &data, &run.dir, TrainOptions::default())
                    .with_context(|| format!("training or loading {}", run.dir.display()))?
            }
            None => train::load_checkpoint(dir)?,
        };
        let t = std::time::Instant::now();
        let features = ImageFeatures::for_run(&trained, &data, &features_params)?;
        let study = fashion::analysis::CentralityStudy::run(&features, &params)?;
        let s = fashion::analysis::RunScores::from_study(name.clone(), &features, &study)?;
        s.write_csv(&path, &params)?;
        println!(
            "{name}: {} images, {} misclassified; {} graphs, betweenness {}; {:.1} s",
            study.images,
            study.errors,
            study.graphs.len(),
            study.graphs.first().map_or("", |g| g.betweenness.as_str()),
            t.elapsed().as_secs_f64()
        );
        scores.push(s);
    }
    let all = fashion::analysis::RunsStudy::compute(&scores, &params)?;
    let table = args.out.join("runs.csv");
    fashion::io::write_csv(&all.table()?, &table)?;
    fashion::io::write_csv(&all.summary_table()?, args.out.join("summary.csv"))?;
    fashion::plot::save(&all.forest(None)?, args.out.join("forest-pooled.png"))?;
    for (k, name) in all.names.iter().enumerate() {
        fashion::plot::save(
            &all.forest(Some(k))?,
            args.out.join(format!("forest-{name}.png")),
        )?;
    }
    let interval = |r: &fashion::analysis::DetectorResult| {
        format!(
            "{:.3} [{:.3}, {:.3}]",
            r.auc.estimate, r.auc.lower, r.auc.upper
        )
    };
    println!(
        "centrality detectors (degree, betweenness; {} graphs) against chance, ROC-AUC with {:.0} % intervals, {} images:",
        params.measures.len() * params.representations.len(),
        100.0 * params.level,
        all.images
    );
    for s in all.summary() {
        let errors = s.errors.map_or(String::new(), |e| format!(", {e} errors"));
        let best = s.best.as_ref().map_or(String::new(), |b| {
            format!("; best {} AUC {}", b.label(), interval(b))
        });
        let softmax = s.uncertainty.as_ref().map_or(String::new(), |u| {
            format!("; 1 − max softmax AUC {}", interval(u))
        });
        println!(
            "  {}{errors}: {} above, {} include 0.5, {} below{best}{softmax}",
            s.run, s.above, s.includes, s.below
        );
    }
    println!(
        "{} runs in {:.1} s; every detector per run and pooled in {}, forest plots (forest-*.png) beside it",
        all.names.len(),
        started.elapsed().as_secs_f64(),
        table.display()
    );
    Ok(())
}

/// Peak resident memory of this process in bytes (Linux `VmHWM`), if known.
fn peak_rss() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

fn run_bench(args: BenchArgs) -> Result<()> {
    let BenchArgs {
        mode,
        model,
        batch,
        steps,
        warmup,
    } = args;
    let config = fashion::nn::ModelConfig {
        kind: model,
        ..Default::default()
    };
    let m = match mode {
        BenchArg::Train => BenchMode::Train,
        BenchArg::Infer => BenchMode::Infer,
    };
    let threads = rayon::current_num_threads();
    let r = train::bench(&config, m, batch, steps, warmup, 0)?;
    println!(
        "model: {model}  mode: {}  batch: {batch}  steps: {steps}  threads: {threads}  simd: {}  gemm: {}",
        if m == BenchMode::Train {
            "train"
        } else {
            "infer"
        },
        fashion::nn::simd_level(),
        fashion::nn::gemm_level()
    );
    println!("seconds: {:.3}", r.seconds);
    match peak_rss() {
        Some(b) => println!("peak RSS: {:.1} MiB", b as f64 / (1024.0 * 1024.0)),
        None => println!("peak RSS: unknown"),
    }
    println!("images/s: {:.1}", r.images_per_sec);
    Ok(())
}

fn main() -> ExitCode {
    // Rust ignores SIGPIPE, so `fashion bench train | head -1` panicked ("failed printing
    // to stdout: Broken pipe") once `head` had its line. Ended by the signal instead, as
    // other command-line tools are; files are written to a temporary name and renamed,
    // so an ended run leaves nothing half-written.
    #[cfg(unix)]
    // SAFETY: called first thing, before any other thread exists; SIG_DFL is a valid
    // disposition for SIGPIPE.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Data(DataCommand::Download(args)) => download(args),
        Command::Data(DataCommand::Verify(args)) => verify(args),
        Command::Data(DataCommand::Dir) => data_dir(None).map(|d| println!("{}", d.display())),
        Command::Train(args) => run_train(args),
        Command::Evaluate(args) => run_evaluate(args),
        Command::Graph(args) => run_graph(args),
        Command::Report(args) => run_report(args),
        Command::Study(args) => run_study(args),
        Command::Bench(args) => run_bench(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
