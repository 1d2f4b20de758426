//! Renders the data-set charts of `fashion::plot` for the real Fashion-MNIST files, as
//! PNG and SVG, into a directory, to look at them outside a notebook.
//!
//! ```text
//! cargo run -p fashion --example render_charts -- OUT_DIR [DATA_DIR]
//! ```
//!
//! `DATA_DIR` defaults to `FASHION_MNIST_DIR` or the cache directory (downloading what is
//! missing). The class counts show the default stratified train/valid split and the test
//! set. Also writes `class_counts.html`, the class-count table as HTML.

use std::path::PathBuf;

use fashion::data::{FashionMnist, SplitConfig, class_counts_table, stratified_split};
use fashion::plot::{ClassCounts, MeanImages, SampleGrid, html_table, save};

fn main() -> fashion::Result<()> {
    let mut args = std::env::args_os().skip(1);
    let Some(out) = args.next().map(PathBuf::from) else {
        eprintln!("usage: render_charts OUT_DIR [DATA_DIR]");
        std::process::exit(2);
    };
    let data = match args.next() {
        Some(dir) => FashionMnist::load(dir)?,
        None => FashionMnist::load_default()?,
    };
    std::fs::create_dir_all(&out).map_err(|e| fashion::data::Error::Io {
        path: out.clone(),
        source: e,
    })?;

    let samples = SampleGrid::new(&data.train, 10)?;
    let first = SampleGrid::from_indices(&data.test, &(0..16).collect::<Vec<_>>(), 8)?
        .with_title("The first 16 test images");
    let split = stratified_split(&data.train, &SplitConfig::default())?;
    let counts = ClassCounts::new(&[
        ("train", &split.train),
        ("valid", &split.valid),
        ("test", &data.test),
    ])?;
    let means = MeanImages::new(&data.train)?.with_title("Mean training image of each class");
    for ext in ["png", "svg"] {
        save(&samples, out.join(format!("samples.{ext}")))?;
        save(&first, out.join(format!("first_test.{ext}")))?;
        save(&counts, out.join(format!("class_counts.{ext}")))?;
        save(&means, out.join(format!("mean_images.{ext}")))?;
    }
    let table = class_counts_table(&[("train", &data.train), ("test", &data.test)])?;
    html_table(&table).save(out.join("class_counts.html"))?;
    println!("wrote charts to {}", out.display());
    Ok(())
}
