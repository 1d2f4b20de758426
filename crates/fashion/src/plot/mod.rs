//! Charts for the notebooks and the command line, and evcxr display wrappers.
//!
//! A chart is a value implementing [`Chart`]: it knows its pixel [`size`](Chart::size) and
//! draws itself onto any plotters backend. [`render_svg`], [`render_png`] and [`save`]
//! turn it into an SVG document, PNG bytes or a file. [`Png`], [`Svg`] and [`Html`] show
//! themselves in an evcxr (Jupyter) notebook with `.evcxr_display()`, and [`html_table`]
//! renders a polars `DataFrame` as an HTML table.
//!
//! Charts own their data: constructors copy what they need from a [`Dataset`], so a chart
//! can outlive the data set it was made from. All text uses the DejaVu Sans font bundled
//! in the crate (the charts rasterise their own labels with it, and [`register_fonts`]
//! gives it to plotters), so no system font library is needed.
//!
//! ```
//! use fashion::data::Dataset;
//! use fashion::ndarray::{Array1, Array3};
//! use fashion::plot::{render_svg, SampleGrid};
//!
//! # fn main() -> fashion::Result<()> {
//! // Ten tiny synthetic images, one per class, each a bright diagonal.
//! let images = Array3::from_shape_fn((10, 28, 28), |(_, r, c)| if r == c { 255 } else { 0 });
//! let labels = Array1::from_shape_fn(10, |i| i as u8);
//! let data = Dataset::new(images, labels)?;
//!
//! let svg = render_svg(&SampleGrid::new(&data, 1)?)?;
//! assert!(svg.0.starts_with("<svg") && svg.0.contains("Ankle boot"));
//! // In a notebook: svg.evcxr_display();
//! # Ok(()) }
//! ```

mod bars;
mod confusion;
mod counts;
mod curves;
mod display;
mod forest;
mod graph;
mod means;
mod misclassified;
mod per_class;
mod samples;
mod scores;
mod studies;
mod table;
mod text;

use std::path::Path;
use std::sync::OnceLock;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, VPos};

pub use confusion::ConfusionHeatmap;
pub use counts::ClassCounts;
pub use curves::LearningCurves;
pub use display::{ExplorableSvg, Html, Png, Svg};
pub use forest::{ForestPlot, ForestRow};
pub use graph::{CLASS_COLORS, GraphChart, GraphPanel, LABELLED_NODES, NodeSize};
pub use means::MeanImages;
pub use misclassified::MisclassifiedGallery;
pub use per_class::PerClassBars;
pub use samples::SampleGrid;
pub use scores::ScoreBars;
pub(crate) use table::escape;
pub use table::{TableOptions, html_table, html_table_with};

use crate::data::Dataset;
use crate::error::{Error, Result};

/// The font family every chart uses; [`register_fonts`] binds it to DejaVu Sans.
pub const FONT_FAMILY: &str = "sans-serif";

/// Registers the bundled DejaVu Sans (regular and bold) with plotters as `"sans-serif"`.
///
/// Runs once per process; later calls return the first outcome. Every chart and render
/// function calls it, so it is only needed before drawing text with plotters directly
/// (e.g. a `ChartBuilder` caption in a notebook) on a bitmap backend. (The charts of this
/// module draw their own labels from the same font, with correct letter spacing, which
/// plotters 0.3.7's ab_glyph text lacks.)
pub fn register_fonts() -> Result<()> {
    static REGISTERED: OnceLock<std::result::Result<(), String>> = OnceLock::new();
    REGISTERED
        .get_or_init(|| {
            let fonts = [
                (FontStyle::Normal, dejavu::sans::regular()),
                (FontStyle::Bold, dejavu::sans::bold()),
                (FontStyle::Oblique, dejavu::sans::oblique()),
                (FontStyle::Italic, dejavu::sans::oblique()),
            ];
            for (style, bytes) in fonts {
                plotters::style::register_font(FONT_FAMILY, style, bytes).map_err(|_| {
                    format!(
                        "the bundled DejaVu Sans ({}) is not a valid font",
                        style.as_str()
                    )
                })?;
            }
            Ok(())
        })
        .clone()
        .map_err(Error::Plot)
}

/// Something that can be drawn: a fixed pixel size and a drawing routine that works on
/// any plotters backend (SVG, bitmap, or a notebook's).
///
/// Implementations paint their whole area (background included) and report plotters
/// failures as [`Error::Plot`].
pub trait Chart {
    /// Width and height in pixels.
    fn size(&self) -> (u32, u32);

    /// Draws the chart onto `area`, which should be [`size`](Chart::size) large.
    fn draw<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> Result<()>;

    /// Renders the chart as an SVG document (see [`render_svg`]).
    fn svg(&self) -> Result<Svg> {
        render_svg(self)
    }

    /// Renders the chart as a PNG image (see [`render_png`]).
    fn png(&self) -> Result<Png> {
        render_png(self)
    }
}

/// Renders `chart` as an SVG document. Bitmaps inside it (image tiles) are embedded as
/// PNG data, text stays text.
pub fn render_svg<C: Chart + ?Sized>(chart: &C) -> Result<Svg> {
    register_fonts()?;
    let mut text = String::new();
    {
        let root = SVGBackend::with_string(&mut text, chart.size()).into_drawing_area();
        chart.draw(&root)?;
        root.present().map_err(plot_err)?;
    }
    Ok(Svg(fix_svg_images(&text)))
}

/// plotters-svg 0.3.7 embeds bitmaps with the MIME type `png` (not `image/png`), which
/// strict viewers reject, and browsers smooth them when zooming; fix both.
fn fix_svg_images(svg: &str) -> String {
    svg.replace("<image x=", "<image style=\"image-rendering:pixelated\" x=")
        .replace("href=\"data:png;base64,", "href=\"data:image/png;base64,")
}

/// Renders `chart` into an RGB buffer: `width × height × 3` bytes, row by row from the top.
pub fn render_rgb<C: Chart + ?Sized>(chart: &C) -> Result<Vec<u8>> {
    register_fonts()?;
    let (w, h) = chart.size();
    if w == 0 || h == 0 {
        return Err(Error::Plot(format!("chart has an empty size {w}×{h}")));
    }
    let mut buf = vec![255u8; w as usize * h as usize * 3];
    {
        let root = BitMapBackend::with_buffer(&mut buf, (w, h)).into_drawing_area();
        chart.draw(&root)?;
        root.present().map_err(plot_err)?;
    }
    Ok(buf)
}

/// Renders `chart` as PNG bytes, in memory.
pub fn render_png<C: Chart + ?Sized>(chart: &C) -> Result<Png> {
    let (w, h) = chart.size();
    let rgb = render_rgb(chart)?;
    Png::from_rgb(&rgb, w, h)
}

/// Renders `chart` and writes it to `path`: SVG for a `.svg` name, PNG for `.png`
/// (case-insensitive). The file is written to a temporary file in the same directory
/// and then renamed, so it is never seen half-written. Any other extension is an error
/// naming the path, and nothing is written.
pub fn save<C: Chart + ?Sized>(chart: &C, path: impl AsRef<Path>) -> Result<()> {
    let path = path.as_ref();
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    match ext.as_deref() {
        Some("svg") => render_svg(chart)?.save(path),
        Some("png") => render_png(chart)?.save(path),
        _ => Err(Error::invalid(
            "path",
            "a file name ending in .svg or .png",
            path.display(),
        )),
    }
}

/// Turns a plotters error into the crate's error.
pub(crate) fn plot_err(e: impl std::fmt::Display) -> Error {
    Error::Plot(e.to_string())
}

/// Checks that a data set has images.
pub(crate) fn check_not_empty(name: &'static str, data: &Dataset) -> Result<()> {
    if data.is_empty() {
        return Err(Error::invalid(name, "a data set with images", "0 images"));
    }
    Ok(())
}

/// Black chart text of `size` px (see [`text::Style`]).
pub(crate) fn font(size: f64) -> text::Style {
    text::Style::new(size)
}

/// Bold black chart text of `size` px.
pub(crate) fn bold(size: f64) -> text::Style {
    text::Style::new(size).bold()
}

/// Draws `text` anchored at `pos` with the given horizontal and vertical anchor.
pub(crate) fn draw_text<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    text: &str,
    pos: (i32, i32),
    style: &text::Style,
    h: HPos,
    v: VPos,
) -> Result<()> {
    let label = text::Label::new(text, pos, style.clone().anchored(h, v));
    area.draw(&label).map_err(plot_err)
}

/// Draws `title` in bold, centred on `center_x` below `top`: at `size` px if it fits in
/// `max_width` pixels, else smaller (down to 70 % of `size`), and cut with "…" if even
/// that is too wide.
pub(crate) fn draw_title<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    title: &str,
    (center_x, top): (i32, i32),
    size: f64,
    max_width: u32,
) -> Result<()> {
    let mut style = bold(size);
    for k in 0..=6 {
        style = bold(size * (1.0 - 0.05 * f64::from(k)));
        if style.width(title)? <= max_width {
            break;
        }
    }
    let text = style.ellipsize(title, max_width)?;
    draw_text(
        area,
        &text,
        (center_x, top),
        &style,
        HPos::Center,
        VPos::Top,
    )
}

/// Height in pixels reserved for a chart title of `size` px.
pub(crate) fn title_height(title: &Option<String>, size: f64) -> u32 {
    match title {
        Some(_) => (size * 1.8).round() as u32,
        None => 0,
    }
}

#[cfg(test)]
pub(crate) mod testdata {
    //! Tiny synthetic data sets for the plot tests.
    use ndarray::{Array1, Array3};

    use crate::data::Dataset;

    /// `n` images, labels `i % 10`; image `i` has value `(i * 7 + r + c) % 50` except a
    /// bright pixel `200 + i % 50` at row `i % 28`, column `(3 * i) % 28`.
    pub fn synthetic(n: usize) -> Dataset {
        let images = Array3::from_shape_fn((n, 28, 28), |(i, r, c)| {
            if (r, c) == bright_pixel(i) {
                (200 + i % 50) as u8
            } else {
                ((i * 7 + r + c) % 50) as u8
            }
        });
        let labels = Array1::from_shape_fn(n, |i| (i % 10) as u8);
        Dataset::new(images, labels).unwrap()
    }

    /// Where [`synthetic`] puts image `i`'s bright pixel: (row, column).
    pub fn bright_pixel(i: usize) -> (usize, usize) {
        (i % 28, (3 * i) % 28)
    }

    /// The text content of every `<text>` element of an SVG document, trimmed and
    /// un-escaped for `&amp;`, `&lt;` and `&gt;`.
    pub fn svg_texts(svg: &str) -> Vec<String> {
        svg.split("<text")
            .skip(1)
            .filter_map(|t| {
                let start = t.find('>')? + 1;
                let end = t.find("</text>")?;
                let text = t[start..end].trim();
                Some(
                    text.replace("&lt;", "<")
                        .replace("&gt;", ">")
                        .replace("&amp;", "&"),
                )
            })
            .collect()
    }

    /// A data set without images.
    pub fn empty() -> Dataset {
        Dataset::new(Array3::zeros((0, 28, 28)), Array1::zeros(0)).unwrap()
    }

    /// RGB of pixel (x, y) in a `width`-wide RGB buffer.
    pub fn rgb_at(buf: &[u8], width: u32, x: u32, y: u32) -> [u8; 3] {
        let i = (y as usize * width as usize + x as usize) * 3;
        [buf[i], buf[i + 1], buf[i + 2]]
    }
}

#[cfg(test)]
mod tests {
    use super::testdata::*;
    use super::*;

    /// A minimal chart: a red square in the top-left corner and a caption.
    struct Square;

    impl Chart for Square {
        fn size(&self) -> (u32, u32) {
            (64, 48)
        }
        fn draw<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> Result<()> {
            area.fill(&WHITE).map_err(plot_err)?;
            area.draw(&Rectangle::new([(0, 0), (10, 10)], RED.filled()))
                .map_err(plot_err)?;
            draw_text(
                area,
                "Sq<&>",
                (32, 30),
                &font(14.0),
                HPos::Center,
                VPos::Center,
            )
        }
    }

    #[test]
    fn fonts_register_once_and_draw_text_in_a_bitmap() {
        register_fonts().unwrap();
        register_fonts().unwrap();
        let rgb = render_rgb(&Square).unwrap();
        assert_eq!(rgb.len(), 64 * 48 * 3);
        assert_eq!(rgb_at(&rgb, 64, 5, 5), [255, 0, 0]);
        assert_eq!(rgb_at(&rgb, 64, 60, 5), [255, 255, 255]);
        // The caption left dark pixels around its anchor.
        let dark = (20..44)
            .flat_map(|y| (0..64).map(move |x| (x, y)))
            .filter(|&(x, y)| rgb_at(&rgb, 64, x, y)[0] < 128)
            .count();
        assert!(dark > 20, "only {dark} dark pixels: text was not drawn");
    }

    #[test]
    fn png_has_signature_and_chart_size() {
        let png = render_png(&Square).unwrap();
        assert_eq!(&png.0[..8], b"\x89PNG\r\n\x1a\n");
        assert_eq!(&png.0[12..16], b"IHDR");
        let w = u32::from_be_bytes(png.0[16..20].try_into().unwrap());
        let h = u32::from_be_bytes(png.0[20..24].try_into().unwrap());
        assert_eq!((w, h), (64, 48));
        assert_eq!(png.dimensions(), Some((64, 48)));
    }

    #[test]
    fn svg_escapes_text() {
        let svg = Square.svg().unwrap();
        assert!(svg.0.starts_with("<svg"), "{}", &svg.0[..40]);
        assert!(svg.0.contains(r#"width="64""#) && svg.0.contains(r#"height="48""#));
        assert!(svg.0.contains("Sq&lt;&amp;&gt;"), "{}", svg.0);
        assert_eq!(svg_texts(&svg.0), ["Sq<&>"]);
        // Text keeps its em size (plotters-svg would shrink it by 1.24).
        let size = svg.0.split("font-size=\"").nth(1).unwrap();
        let size: f64 = size[..size.find('"').unwrap()].parse().unwrap();
        assert!((size - 14.0).abs() < 1e-9, "font-size {size}");
    }

    #[test]
    fn save_picks_format_by_extension_and_refuses_others() {
        let dir = tempfile::tempdir().unwrap();
        let svg_path = dir.path().join("chart.svg");
        let png_path = dir.path().join("chart.PNG");
        save(&Square, &svg_path).unwrap();
        save(&Square, &png_path).unwrap();
        let svg = std::fs::read_to_string(&svg_path).unwrap();
        assert!(svg.starts_with("<svg"));
        let png = std::fs::read(&png_path).unwrap();
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
        assert_eq!(Png(png).dimensions(), Some((64, 48)));

        for bad in ["chart.jpg", "chart"] {
            let path = dir.path().join(bad);
            let err = save(&Square, &path).unwrap_err();
            assert!(
                matches!(err, Error::Params(crate::ParamError { name: "path", .. })),
                "{err}"
            );
            assert!(
                err.to_string().contains(&path.display().to_string()),
                "{err}"
            );
            assert!(!path.exists());
        }
        // Only the two charts: no temporary files left behind.
        let mut names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(names, ["chart.PNG", "chart.svg"]);
    }

    #[test]
    fn save_into_a_missing_directory_names_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("no-such-dir").join("chart.svg");
        let err = save(&Square, &path).unwrap_err();
        assert!(
            matches!(err, Error::Data(crate::data::Error::Io { .. })),
            "{err}"
        );
        assert!(err.to_string().contains("no-such-dir"), "{err}");
    }

    #[test]
    fn synthetic_data_is_as_documented() {
        let d = synthetic(30);
        assert_eq!(d.len(), 30);
        let (r, c) = bright_pixel(13);
        assert_eq!(d.images[[13, r, c]], 213);
        assert!(empty().is_empty());
    }
}
