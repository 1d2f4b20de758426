//! A confusion matrix as a heatmap: counts (or shares of each true class) in every cell,
//! class names on both axes and a colour bar.

use ndarray::Array2;
use plotters::coord::Shift;
use plotters::element::BitMapElement;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, VPos};

use super::{Chart, bold, draw_text, font, plot_err, register_fonts, title_height};
use crate::data::{CLASS_NAMES, NUM_CLASSES};
use crate::error::{Error, Result};
use crate::eval::ConfusionMatrix;

const MARGIN: u32 = 12;
const CELL: u32 = 56;
const TITLE_FONT: f64 = 20.0;
const CLASS_FONT: f64 = 15.0;
const AXIS_FONT: f64 = 16.0;
const CELL_FONT: f64 = 14.0;
const TICK_FONT: f64 = 14.0;
/// Width of the column holding the rotated "true class" axis title.
const AXIS_TITLE: u32 = 26;
/// Space between the class names and the grid.
const LABEL_GAP: u32 = 8;
const BAR_GAP: u32 = 26;
const BAR_WIDTH: u32 = 20;
/// Space right of the colour bar for its tick labels.
const BAR_LABELS: u32 = 56;

/// ColorBrewer's sequential "Blues" (matplotlib's `Blues`), light to dark.
const BLUES: [(u8, u8, u8); 9] = [
    (247, 251, 255),
    (222, 235, 247),
    (198, 219, 239),
    (158, 202, 225),
    (107, 174, 214),
    (66, 146, 198),
    (33, 113, 181),
    (8, 81, 156),
    (8, 48, 107),
];

/// A confusion matrix as a 10 × 10 heatmap, rows = true class, columns = predicted class
/// (as in the classic Fashion-MNIST figure), every cell labelled with its count in black
/// or white, whichever contrasts with the cell's blue. A colour bar shows the scale,
/// which is linear from 0 to the largest count.
///
/// [`row_normalised`](Self::row_normalised) shows each cell's share of its row (the
/// diagonal is then the per-class recall) and colours by share, 0 to 1.
///
/// ```
/// use fashion::eval::ConfusionMatrix;
/// use fashion::plot::{render_svg, ConfusionHeatmap};
/// # fn main() -> fashion::Result<()> {
/// let cm = ConfusionMatrix::new(&[0, 0, 6, 6], &[0, 6, 6, 0])?;
/// let svg = render_svg(&ConfusionHeatmap::new(&cm)?.row_normalised())?;
/// assert!(svg.0.contains("0.50") && svg.0.contains("Shirt"));
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct ConfusionHeatmap {
    counts: Array2<u64>,
    shares: Array2<f64>,
    normalised: bool,
    title: Option<String>,
    /// Width of the widest class name, in pixels.
    name_width: u32,
}

impl ConfusionHeatmap {
    /// A heatmap of the counts of `cm`.
    pub fn new(cm: &ConfusionMatrix) -> Result<ConfusionHeatmap> {
        let style = font(CLASS_FONT);
        let mut name_width = 0;
        for name in CLASS_NAMES {
            name_width = name_width.max(style.width(name)?);
        }
        Ok(ConfusionHeatmap {
            counts: cm.counts().clone(),
            shares: cm.row_normalised(),
            normalised: false,
            title: None,
            name_width,
        })
    }

    /// Shows each cell's share of its true class (2 decimals) instead of its count, and
    /// colours by share on a fixed 0–1 scale.
    pub fn row_normalised(mut self) -> ConfusionHeatmap {
        self.normalised = true;
        self
    }

    /// Replaces the title (default "Confusion matrix (counts)", or "… (share of each
    /// true class)" when row-normalised).
    pub fn with_title(mut self, title: impl Into<String>) -> ConfusionHeatmap {
        self.title = Some(title.into());
        self
    }

    fn title(&self) -> String {
        match (&self.title, self.normalised) {
            (Some(t), _) => t.clone(),
            (None, false) => "Confusion matrix (counts)".into(),
            (None, true) => "Confusion matrix (share of each true class)".into(),
        }
    }

    /// The value a cell is coloured by and the top of the colour scale.
    fn value(&self, row: usize, col: usize) -> f64 {
        if self.normalised {
            self.shares[[row, col]]
        } else {
            self.counts[[row, col]] as f64
        }
    }

    fn scale_max(&self) -> f64 {
        if self.normalised {
            1.0
        } else {
            self.counts.iter().copied().max().unwrap_or(0).max(1) as f64
        }
    }

    /// The text of a cell: its count, or its share with 2 decimals ("0" for none).
    pub(crate) fn cell_text(&self, row: usize, col: usize) -> String {
        if !self.normalised {
            return self.counts[[row, col]].to_string();
        }
        match self.counts[[row, col]] {
            0 => "0".into(),
            _ => format!("{:.2}", self.shares[[row, col]]),
        }
    }

    /// Top-left pixel of the grid.
    pub(crate) fn grid_origin(&self) -> (i32, i32) {
        let title = Some(String::new());
        let x = MARGIN + AXIS_TITLE + self.name_width + LABEL_GAP;
        let y = MARGIN + title_height(&title, TITLE_FONT);
        (x as i32, y as i32)
    }

    /// Top-left pixel of the cell of true class `row`, predicted class `col`.
    pub(crate) fn cell_origin(&self, row: usize, col: usize) -> (i32, i32) {
        let (x, y) = self.grid_origin();
        (
            x + (col as u32 * CELL) as i32,
            y + (row as u32 * CELL) as i32,
        )
    }
}

/// `t` in `[0, 1]` on the Blues scale, interpolated between its stops.
pub(crate) fn blues(t: f64) -> RGBColor {
    let t = if t.is_finite() {
        t.clamp(0.0, 1.0)
    } else {
        0.0
    };
    let pos = t * (BLUES.len() - 1) as f64;
    let i = (pos.floor() as usize).min(BLUES.len() - 2);
    let f = pos - i as f64;
    let mix = |a: u8, b: u8| (a as f64 + f * (b as f64 - a as f64)).round() as u8;
    let (a, b) = (BLUES[i], BLUES[i + 1]);
    RGBColor(mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
}

/// Round ticks from 0 to at most `max`: multiples of the smallest step of 1, 2 or 5 × 10ᵏ
/// (at least 1) that gives at most six ticks.
pub(crate) fn count_ticks(max: f64) -> Vec<f64> {
    let raw = (max / 5.0).max(1.0);
    let power = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * power)
        .find(|&s| s >= raw - 1e-9)
        .unwrap_or(10.0 * power);
    let n = (max / step + 1e-9).floor() as usize;
    (0..=n).map(|k| k as f64 * step).collect()
}

/// Black on light backgrounds, white on dark ones (by perceived luminance).
pub(crate) fn contrasting(c: RGBColor) -> RGBColor {
    let luma = 0.299 * c.0 as f64 + 0.587 * c.1 as f64 + 0.114 * c.2 as f64;
    if luma < 140.0 { WHITE } else { BLACK }
}

impl Chart for ConfusionHeatmap {
    fn size(&self) -> (u32, u32) {
        let grid = NUM_CLASSES as u32 * CELL;
        let w = MARGIN
            + AXIS_TITLE
            + self.name_width
            + LABEL_GAP
            + grid
            + BAR_GAP
            + BAR_WIDTH
            + BAR_LABELS
            + MARGIN;
        let h = MARGIN
            + title_height(&Some(String::new()), TITLE_FONT)
            + grid
            + LABEL_GAP
            + self.name_width
            + 10
            + font(AXIS_FONT).line_height()
            + MARGIN;
        (w, h)
    }

    fn draw<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> Result<()> {
        register_fonts()?;
        area.fill(&WHITE).map_err(plot_err)?;
        let (w, h) = self.size();
        let (gx, gy) = self.grid_origin();
        let grid = (NUM_CLASSES as u32 * CELL) as i32;
        let title_pos = ((gx + grid / 2), MARGIN as i32);
        let title_style = bold(TITLE_FONT);
        // Centre the title on the grid unless that would clip it.
        let title_pos = if title_style.width(&self.title())? as i32 / 2 > title_pos.0 {
            ((w / 2) as i32, title_pos.1)
        } else {
            title_pos
        };
        draw_text(
            area,
            &self.title(),
            title_pos,
            &title_style,
            HPos::Center,
            VPos::Top,
        )?;

        let max = self.scale_max();
        let cell_style = font(CELL_FONT);
        for row in 0..NUM_CLASSES {
            for col in 0..NUM_CLASSES {
                let (x, y) = self.cell_origin(row, col);
                let color = blues(self.value(row, col) / max);
                let rect = [(x, y), (x + CELL as i32, y + CELL as i32)];
                area.draw(&Rectangle::new(rect, color.filled()))
                    .map_err(plot_err)?;
                let text_color = if self.counts[[row, col]] == 0 {
                    RGBColor(150, 150, 150)
                } else {
                    contrasting(color)
                };
                let centre = (x + CELL as i32 / 2, y + CELL as i32 / 2);
                let style = cell_style.clone().colored(text_color);
                draw_text(
                    area,
                    &self.cell_text(row, col),
                    centre,
                    &style,
                    HPos::Center,
                    VPos::Center,
                )?;
            }
        }
        let frame = [(gx - 1, gy - 1), (gx + grid, gy + grid)];
        area.draw(&Rectangle::new(frame, BLACK.mix(0.6)))
            .map_err(plot_err)?;

        // Class names: rows on the left, columns below the grid reading upwards.
        let names = font(CLASS_FONT);
        let columns = names.clone().upwards();
        for (class, name) in CLASS_NAMES.iter().enumerate() {
            let (x, y) = self.cell_origin(class, class);
            let middle = CELL as i32 / 2;
            let row_pos = (gx - LABEL_GAP as i32, y + middle);
            draw_text(area, name, row_pos, &names, HPos::Right, VPos::Center)?;
            let col_pos = (x + middle, gy + grid + LABEL_GAP as i32);
            draw_text(area, name, col_pos, &columns, HPos::Right, VPos::Center)?;
        }
        let axis = font(AXIS_FONT);
        let true_pos = (MARGIN as i32 + AXIS_TITLE as i32 / 2, gy + grid / 2);
        let upwards = axis.clone().upwards();
        draw_text(
            area,
            "true class",
            true_pos,
            &upwards,
            HPos::Center,
            VPos::Center,
        )?;
        let predicted_pos = (gx + grid / 2, h as i32 - MARGIN as i32);
        draw_text(
            area,
            "predicted class",
            predicted_pos,
            &axis,
            HPos::Center,
            VPos::Bottom,
        )?;
        self.draw_colour_bar(area, max)
    }
}

impl ConfusionHeatmap {
    /// A vertical Blues bar beside the grid, with five labelled ticks.
    fn draw_colour_bar<DB: DrawingBackend>(
        &self,
        area: &DrawingArea<DB, Shift>,
        max: f64,
    ) -> Result<()> {
        let (gx, top) = self.grid_origin();
        let grid = (NUM_CLASSES as u32 * CELL) as i32;
        let bottom = top + grid - 1;
        let x0 = gx + grid + BAR_GAP as i32;
        let x1 = x0 + BAR_WIDTH as i32 - 1;
        let span = (bottom - top).max(1) as f64;
        let mut rgb = Vec::with_capacity((BAR_WIDTH as i32 * grid * 3) as usize);
        for y in top..=bottom {
            let c = blues(1.0 - (y - top) as f64 / span);
            for _ in 0..BAR_WIDTH {
                rgb.extend_from_slice(&[c.0, c.1, c.2]);
            }
        }
        let bar = BitMapElement::with_owned_buffer((x0, top), (BAR_WIDTH, grid as u32), rgb)
            .ok_or_else(|| Error::Plot("colour bar buffer has the wrong size".into()))?;
        area.draw(&bar).map_err(plot_err)?;
        let frame = [(x0 - 1, top - 1), (x1 + 1, bottom + 1)];
        area.draw(&Rectangle::new(frame, BLACK.mix(0.5)))
            .map_err(plot_err)?;
        let ticks: Vec<f64> = if self.normalised {
            (0..=4).map(|k| k as f64 / 4.0).collect()
        } else {
            count_ticks(max)
        };
        for v in ticks {
            let y = bottom - ((bottom - top) as f64 * v / max).round() as i32;
            area.draw(&PathElement::new(vec![(x1 + 1, y), (x1 + 6, y)], BLACK))
                .map_err(plot_err)?;
            let label = if self.normalised {
                format!("{v:.2}")
            } else {
                format!("{v:.0}")
            };
            draw_text(
                area,
                &label,
                (x1 + 9, y),
                &font(TICK_FONT),
                HPos::Left,
                VPos::Center,
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::testdata::*;
    use super::super::{render_png, render_rgb, render_svg};
    use super::*;

    /// 100 T-shirts (90 right, 10 taken for Shirts), 20 Shirts (5 right, 15 taken for
    /// T-shirts), 4 Bags (all right).
    fn matrix() -> ConfusionMatrix {
        let mut labels = Vec::new();
        let mut predicted = Vec::new();
        for (t, p, n) in [(0u8, 0u8, 90), (0, 6, 10), (6, 6, 5), (6, 0, 15), (8, 8, 4)] {
            labels.extend(std::iter::repeat_n(t, n));
            predicted.extend(std::iter::repeat_n(p, n));
        }
        ConfusionMatrix::new(&labels, &predicted).unwrap()
    }

    fn luma(p: [u8; 3]) -> f64 {
        0.299 * p[0] as f64 + 0.587 * p[1] as f64 + 0.114 * p[2] as f64
    }

    #[test]
    fn svg_has_every_count_and_both_axes() {
        let chart = ConfusionHeatmap::new(&matrix()).unwrap();
        let svg = render_svg(&chart).unwrap().0;
        let texts = svg_texts(&svg);
        assert_eq!(texts[0], "Confusion matrix (counts)");
        // 100 cells in row-major order, each its count.
        let cm = matrix();
        let cells: Vec<String> = cm.counts().iter().map(|c| c.to_string()).collect();
        assert_eq!(texts[1..101], cells[..]);
        assert_eq!(texts[1], "90");
        assert_eq!(texts[1 + 6], "10");
        assert_eq!(texts[1 + 60], "15");
        // Each class name twice (row and column), the axis titles, 5 ticks 0..90.
        for name in CLASS_NAMES {
            assert_eq!(texts.iter().filter(|t| *t == name).count(), 2, "{name}");
        }
        assert!(texts.contains(&"true class".to_string()));
        assert!(texts.contains(&"predicted class".to_string()));
        assert_eq!(texts[texts.len() - 5..], ["0", "20", "40", "60", "80"]);
        // Column labels are rotated, row labels not.
        assert_eq!(
            svg.matches("rotate(270").count(),
            11,
            "10 columns + axis title"
        );
        let png = render_png(&chart).unwrap();
        assert_eq!(png.dimensions(), Some(chart.size()));
    }

    #[test]
    fn cells_are_coloured_by_value_with_contrasting_text() {
        let chart = ConfusionHeatmap::new(&matrix()).unwrap();
        let (w, _) = chart.size();
        let rgb = render_rgb(&chart).unwrap();
        let corner = |row, col| {
            let (x, y) = chart.cell_origin(row, col);
            rgb_at(&rgb, w, x as u32 + 3, y as u32 + 3)
        };
        let darkest = BLUES[8];
        assert_eq!(corner(0, 0), [darkest.0, darkest.1, darkest.2], "max count");
        assert_eq!(corner(3, 4), [247, 251, 255], "zero");
        let c = blues(15.0 / 90.0);
        assert_eq!(corner(6, 0), [c.0, c.1, c.2]);
        // Darker for larger counts.
        assert!(luma(corner(6, 0)) < luma(corner(0, 6)));
        // Text: white pixels inside the dark (0, 0) cell, dark ones in the light (6, 0).
        let ink = |row, col, pred: &dyn Fn([u8; 3]) -> bool| {
            let (x, y) = chart.cell_origin(row, col);
            (x + 10..x + 46)
                .flat_map(|px| (y + 18..y + 38).map(move |py| (px as u32, py as u32)))
                .filter(|&(px, py)| pred(rgb_at(&rgb, w, px, py)))
                .count()
        };
        assert!(ink(0, 0, &|p| p[0] > 200 && p[2] > 200) > 20, "white text");
        assert!(ink(6, 0, &|p| luma(p) < 60.0) > 20, "black text");
        assert!(ink(3, 4, &|p| luma(p) < 200.0) > 5, "zeros are written too");
    }

    #[test]
    fn row_normalised_shows_shares_on_a_unit_scale() {
        let chart = ConfusionHeatmap::new(&matrix()).unwrap().row_normalised();
        let texts = svg_texts(&render_svg(&chart).unwrap().0);
        assert_eq!(texts[0], "Confusion matrix (share of each true class)");
        assert_eq!(texts[1], "0.90");
        assert_eq!(texts[1 + 6], "0.10");
        assert_eq!(texts[1 + 60], "0.75");
        assert_eq!(texts[1 + 66], "0.25");
        assert_eq!(texts[1 + 88], "1.00");
        assert_eq!(texts[2], "0");
        assert_eq!(
            texts[texts.len() - 5..],
            ["0.00", "0.25", "0.50", "0.75", "1.00"]
        );
        // The 4 Bags fill their row: darkest, though their count is small.
        let (w, _) = chart.size();
        let rgb = render_rgb(&chart).unwrap();
        let (x, y) = chart.cell_origin(8, 8);
        let d = BLUES[8];
        assert_eq!(rgb_at(&rgb, w, x as u32 + 3, y as u32 + 3), [d.0, d.1, d.2]);
        let titled = chart.with_title("Test set");
        assert_eq!(svg_texts(&render_svg(&titled).unwrap().0)[0], "Test set");
    }

    #[test]
    fn labels_stay_inside_the_chart() {
        // Nothing is drawn in the outer 4 pixels: no label is clipped at an edge.
        let chart = ConfusionHeatmap::new(&matrix()).unwrap();
        let (w, h) = chart.size();
        let rgb = render_rgb(&chart).unwrap();
        for x in 0..w {
            for y in (0..4).chain(h - 4..h) {
                assert_eq!(rgb_at(&rgb, w, x, y), [255; 3], "({x}, {y})");
            }
        }
        for y in 0..h {
            for x in (0..4).chain(w - 4..w) {
                assert_eq!(rgb_at(&rgb, w, x, y), [255; 3], "({x}, {y})");
            }
        }
        // The column labels end below the grid and reach down into the reserved band.
        let (gx, gy) = chart.grid_origin();
        let below = (gy + 10 * CELL as i32 + 2) as u32;
        let col = (gx + CELL as i32 / 2) as u32;
        let dark = (below..h)
            .filter(|&y| (col - 6..col + 6).any(|x| luma(rgb_at(&rgb, w, x, y)) < 100.0))
            .count();
        assert!(dark > 50, "T-shirt/top column label: {dark} rows of ink");
    }

    #[test]
    fn colour_helpers() {
        assert_eq!(blues(0.0), RGBColor(247, 251, 255));
        assert_eq!(blues(1.0), RGBColor(8, 48, 107));
        assert_eq!(blues(0.5), RGBColor(107, 174, 214));
        assert_eq!(blues(f64::NAN), blues(0.0));
        assert_eq!(contrasting(blues(1.0)), WHITE);
        assert_eq!(contrasting(blues(0.0)), BLACK);
        assert_eq!(count_ticks(90.0), [0.0, 20.0, 40.0, 60.0, 80.0]);
        assert_eq!(
            count_ticks(1000.0),
            [0.0, 200.0, 400.0, 600.0, 800.0, 1000.0]
        );
        assert_eq!(count_ticks(3.0), [0.0, 1.0, 2.0, 3.0]);
        assert_eq!(count_ticks(1.0), [0.0, 1.0]);
    }
}
