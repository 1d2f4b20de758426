//! `fashion`: the command-line side of the project.
//!
//! Subcommands so far: `fashion data download`, `fashion data verify`, `fashion data dir`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use fashion::data::{self, DownloadOptions, FashionMnist, LoadOptions, Release, CLASS_NAMES};
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
}

#[derive(Subcommand)]
enum DataCommand {
    /// Download the missing files from the official mirrors, verifying each SHA-256.
    Download {
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
    },
    /// Check every file's SHA-256 and contents; print the release and the counts.
    Verify {
        /// Data directory [default: $FASHION_MNIST_DIR, else the platform cache dir]
        #[arg(long)]
        dir: Option<PathBuf>,
        /// Accept files that match no known release (mixed releases are still refused).
        #[arg(long)]
        allow_unverified: bool,
    },
    /// Print the data directory that would be used.
    Dir,
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

fn download(
    dir: Option<PathBuf>,
    mirror: Option<String>,
    release: ReleaseArg,
    quiet: bool,
) -> Result<()> {
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

fn verify(dir: Option<PathBuf>, allow_unverified: bool) -> Result<()> {
    let dir = data_dir(dir)?;
    let options = LoadOptions { allow_unverified };
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

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Data(DataCommand::Download {
            dir,
            mirror,
            release,
            quiet,
        }) => download(dir, mirror, release, quiet),
        Command::Data(DataCommand::Verify {
            dir,
            allow_unverified,
        }) => verify(dir, allow_unverified),
        Command::Data(DataCommand::Dir) => data_dir(None).map(|d| println!("{}", d.display())),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
