//! The test evaluation as tables and figures, in one order, for every place that shows
//! it: `fashion report` (into a [`Report`]), `fashion evaluate --out` (into a directory,
//! [`DirSink`]) and, cell by cell, notebook 03.

use std::path::{Path, PathBuf};

use polars::prelude::DataFrame;

use super::Report;
use crate::data::Dataset;
use crate::eval::{TestResults, misclassified_frame};
use crate::io::write_csv;
use crate::plot::{Chart, ConfusionHeatmap, MisclassifiedGallery, PerClassBars, save};
use crate::{Error, Result};

/// Rows of the "most frequent confusions" table.
pub const MOST_CONFUSED_ROWS: usize = 10;

/// Images in the gallery of misclassified test images (the most confident mistakes):
/// four rows of six fit a notebook's width.
pub const GALLERY_IMAGES: usize = 24;

/// Where tables and figures go.
pub trait Sink {
    /// Takes a table named `name` (a file stem: letters, digits, `_`, `-`).
    ///
    /// # Errors
    /// Whatever storing it fails with.
    fn table(&mut self, name: &str, caption: &str, df: &DataFrame) -> Result<()>;

    /// Takes a chart named `name`.
    ///
    /// # Errors
    /// Whatever drawing or storing it fails with.
    fn figure<C: Chart>(&mut self, name: &str, caption: &str, chart: &C) -> Result<()>;
}

impl Sink for Report {
    fn table(&mut self, name: &str, caption: &str, df: &DataFrame) -> Result<()> {
        Report::table(self, name, caption, df).map(|_| ())
    }

    fn figure<C: Chart>(&mut self, name: &str, caption: &str, chart: &C) -> Result<()> {
        Report::figure(self, name, caption, chart).map(|_| ())
    }
}

/// Writes each table as `<name>.csv` and each figure as `<name>.png` and `<name>.svg`
/// into a directory (which must exist), every file atomically.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirSink {
    dir: PathBuf,
}

impl DirSink {
    /// A sink writing into `dir`.
    pub fn new(dir: impl AsRef<Path>) -> DirSink {
        DirSink {
            dir: dir.as_ref().to_path_buf(),
        }
    }
}

impl Sink for DirSink {
    fn table(&mut self, name: &str, _caption: &str, df: &DataFrame) -> Result<()> {
        write_csv(df, self.dir.join(format!("{name}.csv")))?;
        Ok(())
    }

    fn figure<C: Chart>(&mut self, name: &str, _caption: &str, chart: &C) -> Result<()> {
        for ext in ["svg", "png"] {
            save(chart, self.dir.join(format!("{name}.{ext}")))?;
        }
        Ok(())
    }
}

/// Hands the evaluation's figures and tables to `sink`: the confusion matrix (counts
/// and row-normalised), its counts table, per-class bars and table, the
/// [`MOST_CONFUSED_ROWS`] most frequent confusions, the gallery of the
/// [`GALLERY_IMAGES`] most confident mistakes (when there are any) and the table of every
/// misclassified image. `test` is the data set the results were computed on.
///
/// # Errors
/// [`Error::Params`] if `test` does not hold as many images as were
/// evaluated; whatever the sink or a chart fails with.
pub fn emit_evaluation(results: &TestResults, test: &Dataset, sink: &mut impl Sink) -> Result<()> {
    if test.len() != results.evaluation.labels.len() {
        return Err(Error::invalid(
            "test",
            format!("the {} evaluated images", results.evaluation.labels.len()),
            format!("{} images", test.len()),
        ));
    }
    let cm = &results.confusion;
    let heatmap = ConfusionHeatmap::new(cm)?;
    sink.figure("confusion", "Confusion matrix (rows: true class)", &heatmap)?;
    sink.figure(
        "confusion_normalised",
        "Confusion matrix, each row divided by its class size",
        &heatmap.row_normalised(),
    )?;
    sink.table("confusion", "Confusion counts", &cm.to_frame()?)?;
    sink.figure(
        "per_class",
        "Precision, recall and F1 per class",
        &PerClassBars::new(cm),
    )?;
    sink.table("per_class", "Per-class metrics", &cm.per_class_frame()?)?;
    sink.table(
        "most_confused",
        "The most frequent confusions",
        &cm.most_confused_frame(MOST_CONFUSED_ROWS)?,
    )?;
    let wrong = &results.misclassified;
    if !wrong.is_empty() {
        sink.figure(
            "misclassified",
            "Misclassified test images, most confident first",
            &MisclassifiedGallery::new(test, wrong, GALLERY_IMAGES)?,
        )?;
    }
    sink.table(
        "misclassified",
        "Every misclassified test image",
        &misclassified_frame(wrong)?,
    )
}
