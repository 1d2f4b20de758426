//! The long fuzz run of every file reader (not part of CI): the IDX image and label
//! parsers (raw and gzip) and the checkpoint's weights, optimiser state, `config.json`
//! and `state.json`.
//!
//! ```sh
//! cargo run --release -p fashion-nn --example fuzz -- [--inputs N] [--seconds S] [--seed X] [READER...]
//! ```
//!
//! Each reader gets `--inputs` inputs (default 1 000 000) or `--seconds` seconds
//! (default 600), whichever ends first; readers: idx-images, idx-labels, weights,
//! optimizer, config, state (default: all). Prints one line per reader; a panic or an
//! error that does not name its file stops the run with the input that caused it.

use std::time::{Duration, Instant};

use fashion_data::fixtures::synthetic;
use fashion_data::fuzz::{Budget, FuzzReport, fuzz};
use fashion_data::idx::{encode_images, encode_labels, gzip, parse_images, parse_labels};
use fashion_nn::train::fuzzing::CheckpointReaders;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut budget = Budget {
        inputs: 1_000_000,
        time: Some(Duration::from_secs(600)),
    };
    let mut seed = 0u64;
    let mut only = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = |name: &str| -> Result<u64, String> {
            let v = args
                .next()
                .ok_or(format!("{name}: expected a number, found nothing"))?;
            v.parse()
                .map_err(|_| format!("{name}: expected a number, found {v:?}"))
        };
        match a.as_str() {
            "--inputs" => budget.inputs = value("--inputs")?,
            "--seconds" => budget.time = Some(Duration::from_secs(value("--seconds")?)),
            "--seed" => seed = value("--seed")?,
            r if !r.starts_with('-') => only.push(r.to_string()),
            other => return Err(format!("unknown option {other:?}").into()),
        }
    }
    let wanted = |name: &str| only.is_empty() || only.iter().any(|o| o == name);

    let data = synthetic(1, 0);
    let images = encode_images(&data.images.slice(ndarray::s![..2, .., ..]).to_owned());
    let labels = encode_labels(data.labels.as_slice().expect("contiguous"));
    let mut reports: Vec<FuzzReport> = Vec::new();
    let started = Instant::now();
    let name = "fuzzed-idx-ubyte";
    if wanted("idx-images") {
        let seeds = [images.clone(), gzip(&images)];
        reports.push(fuzz("idx-images", &seeds, name, budget, seed, |b| {
            parse_images(b, name).map(drop)
        }));
        println!("{}", reports.last().expect("pushed"));
    }
    if wanted("idx-labels") {
        let seeds = [labels.clone(), gzip(&labels)];
        reports.push(fuzz("idx-labels", &seeds, name, budget, seed, |b| {
            parse_labels(b, name).map(drop)
        }));
        println!("{}", reports.last().expect("pushed"));
    }
    let mut readers = CheckpointReaders::new()?;
    for target in CheckpointReaders::TARGETS {
        if !wanted(target) {
            continue;
        }
        let seeds = [readers.seed(target).to_vec()];
        let file = CheckpointReaders::file_name(target);
        reports.push(fuzz(target, &seeds, file, budget, seed, |b| {
            readers.read(target, b)
        }));
        println!("{}", reports.last().expect("pushed"));
    }
    let total: u64 = reports.iter().map(|r| r.inputs).sum();
    println!(
        "{} readers, {total} inputs in {:.0} s, 0 panics",
        reports.len(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
