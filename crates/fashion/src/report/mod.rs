//! A self-contained HTML report for readers without Jupyter: headings, paragraphs,
//! tables and figures in one file that opens in any browser (figures embedded as PNG
//! data, no network, no scripts), with every table also written as CSV and every figure
//! as a PNG file beside it. `fashion report` builds one from a trained run.
//!
//! ```
//! use fashion::polars::prelude::*;
//! use fashion::report::Report;
//!
//! # fn main() -> fashion::Result<()> {
//! let mut report = Report::new("Tiny report");
//! report.heading("Numbers");
//! report.paragraph("Two classes, <counted>.");
//! report.table("counts", "Images per class", &df!("class" => ["Bag", "Coat"], "n" => [3u32, 4])?)?;
//! let html = report.to_html();
//! assert!(html.contains("<h2 id=\"numbers\">Numbers</h2>"));
//! assert!(html.contains("&lt;counted&gt;")); // text is escaped
//! assert!(html.contains("tables/counts.csv"));
//! # Ok(()) }
//! ```

mod evaluation;
mod run;
mod text;

pub use evaluation::{DirSink, GALLERY_IMAGES, MOST_CONFUSED_ROWS, Sink, emit_evaluation};
pub use run::{ReportOptions, ReportTimings, run_report};

use std::path::{Path, PathBuf};

use base64::Engine;
use polars::prelude::DataFrame;

use crate::error::{Error, Result};
use crate::io::{write_atomic, write_csv};
use crate::plot::{Chart, TableOptions, escape, html_table_with, render_png};

/// Rows of a table shown in the HTML (the CSV always has all of them).
const SHOWN_ROWS: usize = 40;

#[derive(Debug, Clone)]
enum Block {
    Heading(String),
    Paragraph(String),
    /// Index into `Report::tables`.
    Table {
        index: usize,
        caption: String,
    },
    /// Index into `Report::figures`.
    Figure {
        index: usize,
        caption: String,
    },
}

/// A report under construction; [`write`](Report::write) saves it.
#[derive(Debug, Clone)]
pub struct Report {
    title: String,
    blocks: Vec<Block>,
    tables: Vec<(String, DataFrame)>,
    figures: Vec<(String, Vec<u8>)>,
}

impl Report {
    /// An empty report with a title (the page's `<h1>`).
    pub fn new(title: impl Into<String>) -> Report {
        Report {
            title: title.into(),
            blocks: Vec::new(),
            tables: Vec::new(),
            figures: Vec::new(),
        }
    }

    /// Starts a section (an `<h2>`, listed in the table of contents).
    pub fn heading(&mut self, text: impl Into<String>) -> &mut Report {
        self.blocks.push(Block::Heading(text.into()));
        self
    }

    /// Adds a paragraph of plain text (escaped; blank lines start new paragraphs).
    pub fn paragraph(&mut self, text: impl Into<String>) -> &mut Report {
        self.blocks.push(Block::Paragraph(text.into()));
        self
    }

    /// Adds a table, shown (first 40 rows) and written in full as `tables/<name>.csv`.
    ///
    /// Errors: a `name` that is empty, not of `a-z`, `0-9`, `_`, `-`, or already used.
    pub fn table(
        &mut self,
        name: &str,
        caption: impl Into<String>,
        df: &DataFrame,
    ) -> Result<&mut Report> {
        check_name(name, self.tables.iter().map(|(n, _)| n))?;
        self.blocks.push(Block::Table {
            index: self.tables.len(),
            caption: caption.into(),
        });
        self.tables.push((name.to_string(), df.clone()));
        Ok(self)
    }

    /// Adds a figure: `chart` rendered as PNG, embedded in the page and written as
    /// `figures/<name>.png`.
    ///
    /// Errors: a bad or repeated `name` (as for [`table`](Report::table)); the chart's
    /// rendering errors.
    pub fn figure<C: Chart + ?Sized>(
        &mut self,
        name: &str,
        caption: impl Into<String>,
        chart: &C,
    ) -> Result<&mut Report> {
        check_name(name, self.figures.iter().map(|(n, _)| n))?;
        let png = render_png(chart)?;
        self.blocks.push(Block::Figure {
            index: self.figures.len(),
            caption: caption.into(),
        });
        self.figures.push((name.to_string(), png.0));
        Ok(self)
    }

    /// Number of tables and figures added so far.
    pub fn counts(&self) -> (usize, usize) {
        (self.tables.len(), self.figures.len())
    }

    /// The whole page: title, table of contents, then the blocks in order.
    pub fn to_html(&self) -> String {
        let mut h = String::new();
        h.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
        h.push_str(&format!("<title>{}</title>\n", escape(&self.title)));
        h.push_str(
            "<style>\nbody { font-family: sans-serif; max-width: 1100px; margin: 2em auto; \
             padding: 0 1em; color: #111; line-height: 1.45; }\n\
             h1 { border-bottom: 2px solid #333; } h2 { margin-top: 2em; \
             border-bottom: 1px solid #ccc; }\n\
             figure { margin: 1.5em 0; } figure img { max-width: 100%; height: auto; \
             border: 1px solid #eee; }\n\
             figcaption, .caption { color: #444; font-size: 14px; margin: 0.3em 0; }\n\
             .table { overflow-x: auto; margin: 1em 0; }\n\
             nav ol { columns: 2; }\n</style>\n</head>\n<body>\n",
        );
        h.push_str(&format!("<h1>{}</h1>\n", escape(&self.title)));
        let headings: Vec<&String> = self
            .blocks
            .iter()
            .filter_map(|b| match b {
                Block::Heading(t) => Some(t),
                _ => None,
            })
            .collect();
        if !headings.is_empty() {
            h.push_str("<nav><ol>\n");
            for t in &headings {
                h.push_str(&format!(
                    "<li><a href=\"#{}\">{}</a></li>\n",
                    anchor(t),
                    escape(t)
                ));
            }
            h.push_str("</ol></nav>\n");
        }
        for b in &self.blocks {
            match b {
                Block::Heading(t) => {
                    h.push_str(&format!("<h2 id=\"{}\">{}</h2>\n", anchor(t), escape(t)))
                }
                Block::Paragraph(t) => {
                    for p in t.split("\n\n") {
                        h.push_str(&format!("<p>{}</p>\n", escape(p.trim())));
                    }
                }
                Block::Table { index, caption } => {
                    let (name, df) = &self.tables[*index];
                    let table = html_table_with(df, &TableOptions::max_rows(SHOWN_ROWS));
                    h.push_str(&format!(
                        "<div class=\"table\"><p class=\"caption\">{} \
                         (<a href=\"tables/{name}.csv\">tables/{name}.csv</a>)</p>\n{}\n</div>\n",
                        escape(caption),
                        table.0
                    ));
                }
                Block::Figure { index, caption } => {
                    let (name, png) = &self.figures[*index];
                    let b64 = base64::engine::general_purpose::STANDARD.encode(png);
                    h.push_str(&format!(
                        "<figure id=\"fig-{name}\"><img alt=\"{}\" src=\"data:image/png;base64,{b64}\">\
                         <figcaption>{} (<a href=\"figures/{name}.png\">figures/{name}.png</a>)\
                         </figcaption></figure>\n",
                        escape(caption),
                        escape(caption)
                    ));
                }
            }
        }
        h.push_str("</body>\n</html>\n");
        h
    }

    /// Writes `report.html`, `tables/*.csv` and `figures/*.png` into `dir` (created if
    /// needed); every file through a temporary file and a rename, the HTML last.
    /// Returns the HTML's path.
    ///
    /// Errors: [`data::Error::Io`](crate::data::Error::Io) naming the path that could not be written.
    pub fn write(&self, dir: &Path) -> Result<PathBuf> {
        for sub in ["tables", "figures"] {
            let d = dir.join(sub);
            std::fs::create_dir_all(&d).map_err(|e| crate::data::Error::io(&d, e))?;
        }
        for (name, df) in &self.tables {
            write_csv(df, dir.join("tables").join(format!("{name}.csv")))?;
        }
        for (name, png) in &self.figures {
            write_atomic(dir.join("figures").join(format!("{name}.png")), png)?;
        }
        let path = dir.join("report.html");
        write_atomic(&path, self.to_html().as_bytes())?;
        Ok(path)
    }
}

/// Checks a table or figure file name.
fn check_name<'a>(name: &str, mut used: impl Iterator<Item = &'a String>) -> Result<()> {
    let ok = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
    if !ok {
        return Err(Error::invalid(
            "name",
            "a file name of a-z, 0-9, '_' and '-'",
            format!("{name:?}"),
        ));
    }
    if used.any(|u| u == name) {
        return Err(Error::invalid(
            "name",
            "a name not used before in the report",
            format!("{name:?} (already used)"),
        ));
    }
    Ok(())
}

/// An `id` for a heading: lower-case letters and digits, other runs as `-`.
fn anchor(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_alphanumeric() {
            out.push(c);
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    out.trim_end_matches('-').to_string()
}

#[cfg(test)]
mod tests {
    use polars::prelude::*;

    use super::*;
    use crate::plot::ClassCounts;

    fn counts_chart() -> ClassCounts {
        let data = crate::data::fixtures::synthetic(20, 1);
        ClassCounts::new(&[("test", &data)]).unwrap()
    }

    #[test]
    fn writes_a_self_contained_page_with_tables_and_figures() {
        let dir = tempfile::tempdir().unwrap();
        let mut r = Report::new("Test & report");
        r.heading("Section one").paragraph("First.\n\nSecond.");
        let df = df!("a" => (0..50u32).collect::<Vec<_>>()).unwrap();
        r.table("numbers", "Fifty numbers", &df).unwrap();
        r.figure("counts", "Class counts", &counts_chart()).unwrap();
        assert_eq!(r.counts(), (1, 1));
        let path = r.write(dir.path()).unwrap();
        let html = std::fs::read_to_string(&path).unwrap();
        assert!(html.starts_with("<!DOCTYPE html>"));
        assert!(html.contains("<title>Test &amp; report</title>"));
        assert!(html.contains("<a href=\"#section-one\">Section one</a>"));
        assert!(html.contains("<p>First.</p>\n<p>Second.</p>"));
        assert!(
            html.contains("data:image/png;base64,iVBORw0KGgo"),
            "PNG embedded"
        );
        assert!(
            !html.contains("src=\"http"),
            "nothing fetched from the network"
        );
        // The CSV holds every row, the page at most 40.
        let csv = std::fs::read_to_string(dir.path().join("tables/numbers.csv")).unwrap();
        assert_eq!(csv.lines().count(), 51);
        let png = std::fs::read(dir.path().join("figures/counts.png")).unwrap();
        assert_eq!(&png[..4], b"\x89PNG");
        // No temporary files left behind.
        for sub in ["", "tables", "figures"] {
            for e in std::fs::read_dir(dir.path().join(sub)).unwrap() {
                let name = e.unwrap().file_name().into_string().unwrap();
                assert!(!name.ends_with(".tmp"), "{name}");
            }
        }
    }

    #[test]
    fn bad_or_repeated_names_are_refused() {
        let mut r = Report::new("x");
        let df = df!("a" => [1u32]).unwrap();
        for bad in ["", "Has Space", "../up", "a.csv"] {
            let e = r.table(bad, "c", &df).unwrap_err().to_string();
            assert!(e.contains("name"), "{e}");
        }
        r.table("ok", "c", &df).unwrap();
        assert!(
            r.table("ok", "again", &df)
                .unwrap_err()
                .to_string()
                .contains("already used")
        );
        assert_eq!(anchor("3. Centrality & errors!"), "3-centrality-errors");
    }

    /// Every file name under `dir`, recursively, relative to it.
    fn files_under(dir: &Path) -> Vec<String> {
        let mut out = Vec::new();
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                out.extend(files_under(&p));
            } else {
                out.push(p.strip_prefix(dir).unwrap_or(&p).display().to_string());
            }
        }
        out
    }

    #[test]
    fn a_full_disk_names_the_file_leaves_no_temporary_and_keeps_the_old_page() {
        use crate::data::io::fault::fail_writes_after;
        let dir = tempfile::tempdir().unwrap();
        let mut old = Report::new("Old");
        old.paragraph("old");
        old.figure("counts", "Class counts", &counts_chart())
            .unwrap();
        let old_html = std::fs::read(old.write(dir.path()).unwrap()).unwrap();
        let mut new = Report::new("New");
        new.paragraph("new");
        let df = df!("a" => (0..5000u32).collect::<Vec<_>>()).unwrap();
        new.table("numbers", "Numbers", &df).unwrap();
        new.figure("counts", "Class counts", &counts_chart())
            .unwrap();
        let png_len = std::fs::read(dir.path().join("figures/counts.png"))
            .unwrap()
            .len();
        // Fail in the table, in the figure, and in the page itself.
        for after in [0, 30_000, 24_000 + png_len] {
            let guard = fail_writes_after(after);
            let err = new.write(dir.path()).unwrap_err();
            drop(guard);
            let Error::Data(crate::data::Error::Io { path, source }) = &err else {
                panic!("expected an I/O error, got {err}");
            };
            assert_eq!(source.kind(), std::io::ErrorKind::StorageFull, "{err}");
            assert!(path.starts_with(dir.path()), "{err}");
            assert!(err.to_string().contains(&path.display().to_string()));
            assert_eq!(
                std::fs::read(dir.path().join("report.html")).unwrap(),
                old_html
            );
            let files = files_under(dir.path());
            assert!(
                files.iter().all(|f| !f.ends_with(".tmp")),
                "{after}: {files:?}"
            );
        }
        new.write(dir.path()).unwrap();
        let html = std::fs::read_to_string(dir.path().join("report.html")).unwrap();
        assert!(html.contains("<title>New</title>"));
    }

    #[test]
    fn unwritable_directory_names_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("plain-file");
        std::fs::write(&file, b"x").unwrap();
        let e = Report::new("x").write(&file).unwrap_err().to_string();
        assert!(e.contains("plain-file"), "{e}");
    }
}
