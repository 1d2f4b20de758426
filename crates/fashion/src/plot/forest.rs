//! Forest plot: estimates with confidence intervals, one row each, in groups.

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, VPos};

use super::bars::{round_step, tick_decimals, ticks};
use super::counts::SPLIT_COLORS;
use super::text::Style;
use super::{Chart, bold, draw_text, draw_title, font, plot_err, register_fonts, title_height};
use crate::error::{Error, Result};

/// Narrowest chart; it widens when the labels need it.
const MIN_WIDTH: u32 = 900;
const MARGIN: i32 = 14;
const TITLE_FONT: f64 = 20.0;
const HEADER_FONT: f64 = 14.0;
const LABEL_FONT: f64 = 13.0;
const VALUE_FONT: f64 = 13.0;
const TICK_FONT: f64 = 13.0;
const AXIS_FONT: f64 = 15.0;
const REFERENCE_FONT: f64 = 12.0;
/// Height of a row (and of a group header).
const ROW: i32 = 22;
/// Extra space above each group header but the first.
const GROUP_GAP: i32 = 6;
/// Space above the rows for the reference line's label.
const REFERENCE_STRIP: i32 = 22;
/// Space below the rows for the x-axis ticks and label.
const AXIS_AREA: i32 = 54;
/// Space between the label column, the plot and the value column.
const GAP: i32 = 16;
/// Narrowest plot area.
const MIN_PLOT: i32 = 400;
/// Widest label column; longer labels are cut with "…".
const MAX_LABEL: u32 = 420;
/// Indent of the row labels' column under the group headers.
const INDENT: u32 = 12;
/// Colour of ordinary rows and of highlighted ones.
const NORMAL: RGBColor = SPLIT_COLORS[0];
const HIGHLIGHT: RGBColor = SPLIT_COLORS[3];
/// Background of the group header bands.
const HEADER_BAND: RGBColor = RGBColor(234, 239, 246);

/// One row of a [`ForestPlot`]: an estimate with its interval `lower..=upper`.
#[derive(Debug, Clone, PartialEq)]
pub struct ForestRow {
    /// The group the row belongs to; consecutive rows of the same group are shown under
    /// one header (an empty group has no header).
    pub group: String,
    /// The row's label, shown at its left.
    pub label: String,
    /// The point estimate, drawn as a marker.
    pub estimate: f64,
    /// Lower end of the interval.
    pub lower: f64,
    /// Upper end of the interval.
    pub upper: f64,
    /// Drawn in a distinct colour with a square marker (e.g. baselines).
    pub highlight: bool,
}

impl ForestRow {
    /// A row of `group` labelled `label`: `estimate` with the interval `lower..=upper`.
    /// The values are checked by [`ForestPlot::new`].
    pub fn new(
        group: impl Into<String>,
        label: impl Into<String>,
        estimate: f64,
        lower: f64,
        upper: f64,
    ) -> ForestRow {
        ForestRow {
            group: group.into(),
            label: label.into(),
            estimate,
            lower,
            upper,
            highlight: false,
        }
    }

    /// The same row, highlighted.
    pub fn highlighted(mut self) -> ForestRow {
        self.highlight = true;
        self
    }
}

/// A forest plot: one row per estimate, top to bottom in the given order, each a
/// horizontal line over its interval with end ticks and a marker at the estimate, its
/// label at the left and "estimate [lower, upper]" at the right. Consecutive rows of the
/// same group sit under a bold group header on a shaded band. Highlighted rows are red
/// with square markers (ordinary rows blue, round markers). A dashed vertical reference
/// line (default 0.5, "chance", as for a ROC-AUC) is labelled above the rows.
///
/// The chart is at least 900 px wide (wider for labels longer than about 300 px; labels
/// over 420 px are cut with "…") and 22 px high per row and group header plus margins.
///
/// ```
/// use fashion::plot::{render_svg, ForestPlot, ForestRow};
/// # fn main() -> fashion::Result<()> {
/// let chart = ForestPlot::new(vec![
///     ForestRow::new("cosine", "dense 128-d · degree", 0.62, 0.57, 0.67),
///     ForestRow::new("cosine", "dense 128-d · betweenness", 0.58, 0.52, 0.63),
///     ForestRow::new("baselines", "softmax margin", 0.86, 0.83, 0.89).highlighted(),
/// ])?
/// .with_title("Centrality as a detector of misclassified images");
/// let svg = render_svg(&chart)?;
/// assert!(svg.0.contains("0.62 [0.57, 0.67]") && svg.0.contains("ROC-AUC"));
/// assert!(ForestPlot::new(vec![ForestRow::new("g", "bad", 0.5, 0.6, 0.7)]).is_err());
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct ForestPlot {
    rows: Vec<ForestRow>,
    title: Option<String>,
    x_label: String,
    reference: Option<(f64, String)>,
    x_range: Option<(f64, f64)>,
    decimals: usize,
}

/// A line of the plot, top to bottom.
enum Line<'a> {
    Header(&'a str),
    Row(&'a ForestRow),
}

impl ForestPlot {
    /// A forest plot of `rows`, with x label "ROC-AUC", a reference line at 0.5
    /// labelled "chance", no title and an x range fitted to the data.
    ///
    /// # Errors
    /// [`Error::Params`] (`rows`) if there is no row, a value is not finite, or
    /// a row's estimate lies outside its interval (`lower <= estimate <= upper` must hold).
    pub fn new(rows: Vec<ForestRow>) -> Result<ForestPlot> {
        if rows.is_empty() {
            return Err(Error::invalid("rows", "at least one row", "none"));
        }
        for (i, r) in rows.iter().enumerate() {
            let what = || format!("row {i} ({:?})", r.label);
            if ![r.estimate, r.lower, r.upper].iter().all(|v| v.is_finite()) {
                return Err(Error::invalid(
                    "rows",
                    "finite estimates and bounds",
                    format!(
                        "{}: estimate {}, interval [{}, {}]",
                        what(),
                        r.estimate,
                        r.lower,
                        r.upper
                    ),
                ));
            }
            if !(r.lower <= r.estimate && r.estimate <= r.upper) {
                return Err(Error::invalid(
                    "rows",
                    "lower <= estimate <= upper",
                    format!(
                        "{}: estimate {} outside [{}, {}]",
                        what(),
                        r.estimate,
                        r.lower,
                        r.upper
                    ),
                ));
            }
        }
        Ok(ForestPlot {
            rows,
            title: None,
            x_label: "ROC-AUC".into(),
            reference: Some((0.5, "chance".into())),
            x_range: None,
            decimals: 2,
        })
    }

    /// Sets the title (default none).
    pub fn with_title(mut self, title: impl Into<String>) -> ForestPlot {
        self.title = Some(title.into());
        self
    }

    /// Replaces the x-axis label (default "ROC-AUC").
    pub fn with_x_label(mut self, label: impl Into<String>) -> ForestPlot {
        self.x_label = label.into();
        self
    }

    /// Moves the dashed reference line to `x` (default 0.5). Its label stays ("chance"
    /// unless replaced by [`with_reference_label`](Self::with_reference_label)) and is
    /// shown with the value, e.g. "chance (0.5)". A non-finite `x` makes drawing fail.
    pub fn with_reference(mut self, x: f64) -> ForestPlot {
        let label = match self.reference {
            Some((_, label)) => label,
            None => "reference".into(),
        };
        self.reference = Some((x, label));
        self
    }

    /// Replaces the reference line's label (default "chance"); an empty label shows the
    /// value alone. Restores a line at 0.5 after
    /// [`without_reference`](Self::without_reference).
    pub fn with_reference_label(mut self, label: impl Into<String>) -> ForestPlot {
        let x = self.reference.as_ref().map_or(0.5, |r| r.0);
        self.reference = Some((x, label.into()));
        self
    }

    /// No reference line.
    pub fn without_reference(mut self) -> ForestPlot {
        self.reference = None;
        self
    }

    /// Shows `lo..=hi` on the x axis instead of the fitted range; intervals reaching
    /// outside it are cut at the edge with an arrowhead. Drawing fails unless
    /// `lo < hi`, both finite.
    pub fn with_x_range(mut self, lo: f64, hi: f64) -> ForestPlot {
        self.x_range = Some((lo, hi));
        self
    }

    /// Decimals of the printed estimates and bounds (default 2, at most 6).
    pub fn with_decimals(mut self, decimals: usize) -> ForestPlot {
        self.decimals = decimals.min(6);
        self
    }

    /// The rows, in drawing order.
    pub fn rows(&self) -> &[ForestRow] {
        &self.rows
    }

    /// The x range shown: the one set with [`with_x_range`](Self::with_x_range), or by
    /// default one covering every interval and the reference line, padded by 5 % and
    /// widened to round ticks, but kept within 0..=1 where the data are (as for
    /// probabilities and AUCs).
    pub fn x_range(&self) -> (f64, f64) {
        if let Some(range) = self.x_range {
            return range;
        }
        let reference = self.reference.iter().map(|r| r.0).filter(|x| x.is_finite());
        let lows = self.rows.iter().map(|r| r.lower).chain(reference.clone());
        let highs = self.rows.iter().map(|r| r.upper).chain(reference);
        let data_lo = lows.fold(f64::INFINITY, f64::min);
        let data_hi = highs.fold(f64::NEG_INFINITY, f64::max);
        let span = (data_hi - data_lo).max(0.02 * data_hi.abs().max(1.0));
        let clamp = |v: f64| {
            let v = if data_lo >= 0.0 { v.max(0.0) } else { v };
            if data_hi <= 1.0 { v.min(1.0) } else { v }
        };
        let (lo, hi) = (clamp(data_lo - 0.05 * span), clamp(data_hi + 0.05 * span));
        let step = round_step((hi - lo) / 6.0);
        (
            clamp((lo / step).floor() * step),
            clamp((hi / step).ceil() * step),
        )
    }

    /// The lines top to bottom: a header where a non-empty group starts, then its rows.
    fn lines(&self) -> Vec<Line<'_>> {
        let mut lines = Vec::new();
        let mut group: Option<&str> = None;
        for row in &self.rows {
            if group != Some(row.group.as_str()) {
                group = Some(&row.group);
                if !row.group.is_empty() {
                    lines.push(Line::Header(&row.group));
                }
            }
            lines.push(Line::Row(row));
        }
        lines
    }

    /// Top of each line relative to the first, and the height of all lines.
    fn line_tops(lines: &[Line<'_>]) -> (Vec<i32>, i32) {
        let mut y = 0;
        let mut tops = Vec::with_capacity(lines.len());
        for (i, line) in lines.iter().enumerate() {
            if i > 0 && matches!(line, Line::Header(_)) {
                y += GROUP_GAP;
            }
            tops.push(y);
            y += ROW;
        }
        (tops, y)
    }

    fn label_style(row: &ForestRow) -> Style {
        if row.highlight {
            font(LABEL_FONT).bold().colored(HIGHLIGHT)
        } else {
            font(LABEL_FONT)
        }
    }

    fn value_style(row: &ForestRow) -> Style {
        font(VALUE_FONT).colored(if row.highlight {
            HIGHLIGHT
        } else {
            RGBColor(0, 0, 0)
        })
    }

    /// "estimate [lower, upper]" with the chosen decimals.
    fn value_text(&self, row: &ForestRow) -> String {
        let d = self.decimals;
        format!(
            "{:.d$} [{:.d$}, {:.d$}]",
            row.estimate,
            row.lower,
            row.upper,
            d = d
        )
    }

    /// Widths of the label column (labels are right-aligned at its right edge), the
    /// value column, and the whole chart.
    fn columns(&self) -> (u32, u32, u32) {
        let label = self
            .rows
            .iter()
            .map(|r| Self::label_style(r).width_or_estimate(&r.label))
            .max()
            .unwrap_or(0)
            .clamp(60, MAX_LABEL)
            + INDENT;
        let value = self
            .rows
            .iter()
            .map(|r| Self::value_style(r).width_or_estimate(&self.value_text(r)))
            .max()
            .unwrap_or(0);
        let needed = 2 * MARGIN + 2 * GAP + MIN_PLOT + (label + value) as i32;
        (label, value, MIN_WIDTH.max(needed as u32))
    }
}

impl Chart for ForestPlot {
    fn size(&self) -> (u32, u32) {
        let (_, _, width) = self.columns();
        let (_, lines_height) = Self::line_tops(&self.lines());
        let height = 2 * MARGIN
            + title_height(&self.title, TITLE_FONT) as i32
            + REFERENCE_STRIP
            + lines_height
            + AXIS_AREA;
        (width, height as u32)
    }

    fn draw<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> Result<()> {
        register_fonts()?;
        let (lo, hi) = self.x_range();
        if !(lo.is_finite() && hi.is_finite() && lo < hi) {
            return Err(Error::invalid(
                "x_range",
                "finite bounds with lo < hi",
                format!("{lo}..{hi}"),
            ));
        }
        if let Some((x, _)) = &self.reference
            && !x.is_finite()
        {
            return Err(Error::invalid("reference", "a finite value", x));
        }
        area.fill(&WHITE).map_err(plot_err)?;
        let (label_col, value_col, width) = self.columns();
        let width = width as i32;
        let mut top = MARGIN;
        if let Some(title) = &self.title {
            let max_width = (width - 2 * MARGIN) as u32;
            draw_title(area, title, (width / 2, top), TITLE_FONT, max_width)?;
            top += title_height(&self.title, TITLE_FONT) as i32;
        }
        top += REFERENCE_STRIP;
        let lines = self.lines();
        let (tops, lines_height) = Self::line_tops(&lines);
        let bottom = top + lines_height;

        let label_right = MARGIN + label_col as i32;
        let plot_left = label_right + GAP;
        let plot_right = width - MARGIN - value_col as i32 - GAP;
        let px = |v: f64| -> i32 {
            let t = ((v - lo) / (hi - lo)).clamp(-0.01, 1.01);
            plot_left + (t * f64::from(plot_right - plot_left)).round() as i32
        };

        // Vertical grid lines at the ticks, then the group header bands over them.
        let step = round_step((hi - lo) / 7.0);
        let tick_values = ticks(lo, hi, step);
        let grid = BLACK.mix(0.1);
        for &v in &tick_values {
            let x = px(v);
            area.draw(&PathElement::new(vec![(x, top), (x, bottom)], grid))
                .map_err(plot_err)?;
        }
        for (line, &y) in lines.iter().zip(&tops) {
            if let Line::Header(name) = line {
                let band = [(MARGIN, top + y + 1), (width - MARGIN, top + y + ROW - 1)];
                area.draw(&Rectangle::new(band, HEADER_BAND.filled()))
                    .map_err(plot_err)?;
                let pos = (MARGIN + 6, top + y + ROW / 2);
                draw_text(
                    area,
                    name,
                    pos,
                    &bold(HEADER_FONT),
                    HPos::Left,
                    VPos::Center,
                )?;
            }
        }

        if let Some((x, label)) = &self.reference {
            self.draw_reference(area, *x, label, px(*x), (top, bottom), plot_right)?;
        }

        for (line, &y) in lines.iter().zip(&tops) {
            if let Line::Row(row) = line {
                let cy = top + y + ROW / 2;
                let style = Self::label_style(row);
                let label = style.ellipsize(&row.label, label_col - INDENT)?;
                let pos = (label_right, cy);
                draw_text(area, &label, pos, &style, HPos::Right, VPos::Center)?;
                self.draw_interval(area, row, cy, (lo, hi), &px)?;
                let value = self.value_text(row);
                let pos = (plot_right + GAP, cy);
                let style = Self::value_style(row);
                draw_text(area, &value, pos, &style, HPos::Left, VPos::Center)?;
            }
        }

        // The x axis.
        area.draw(&PathElement::new(
            vec![(plot_left, bottom), (plot_right, bottom)],
            BLACK,
        ))
        .map_err(plot_err)?;
        let tick_style = font(TICK_FONT);
        let decimals = tick_decimals(step);
        for &v in &tick_values {
            let x = px(v);
            area.draw(&PathElement::new(vec![(x, bottom), (x, bottom + 5)], BLACK))
                .map_err(plot_err)?;
            let label = format!("{v:.decimals$}");
            draw_text(
                area,
                &label,
                (x, bottom + 7),
                &tick_style,
                HPos::Center,
                VPos::Top,
            )?;
        }
        let pos = ((plot_left + plot_right) / 2, bottom + 28);
        draw_text(
            area,
            &self.x_label,
            pos,
            &font(AXIS_FONT),
            HPos::Center,
            VPos::Top,
        )
    }
}

impl ForestPlot {
    /// The dashed reference line at pixel `x` from `top` to `bottom`, labelled above.
    #[allow(clippy::too_many_arguments)]
    fn draw_reference<DB: DrawingBackend>(
        &self,
        area: &DrawingArea<DB, Shift>,
        value: f64,
        label: &str,
        x: i32,
        (top, bottom): (i32, i32),
        plot_right: i32,
    ) -> Result<()> {
        let (lo, hi) = self.x_range();
        if !(lo..=hi).contains(&value) {
            return Ok(());
        }
        let color = RGBColor(90, 90, 90);
        let mut y = top - 4;
        while y < bottom {
            let end = (y + 5).min(bottom);
            area.draw(&PathElement::new(
                vec![(x, y), (x, end)],
                color.stroke_width(1),
            ))
            .map_err(plot_err)?;
            y += 9;
        }
        let text = if label.is_empty() {
            format!("{value}")
        } else {
            format!("{label} ({value})")
        };
        let style = font(REFERENCE_FONT).colored(color);
        // Centred on the line, but kept within the plot's right edge.
        let w = style.width(&text)? as i32;
        let cx = x.min(plot_right - w / 2);
        draw_text(
            area,
            &text,
            (cx, top - 6),
            &style,
            HPos::Center,
            VPos::Bottom,
        )
    }

    /// The interval of `row` at height `cy`: a line with end ticks (an arrowhead where it
    /// leaves the x range) and a marker at the estimate.
    fn draw_interval<DB: DrawingBackend>(
        &self,
        area: &DrawingArea<DB, Shift>,
        row: &ForestRow,
        cy: i32,
        (lo, hi): (f64, f64),
        px: &impl Fn(f64) -> i32,
    ) -> Result<()> {
        let color = if row.highlight { HIGHLIGHT } else { NORMAL };
        if row.upper < lo || row.lower > hi {
            // Entirely outside: an arrowhead at the edge it lies beyond.
            let (x, dir) = if row.upper < lo {
                (px(lo), -1)
            } else {
                (px(hi), 1)
            };
            return arrowhead(area, x, cy, dir, color);
        }
        let (x0, x1) = (px(row.lower.max(lo)), px(row.upper.min(hi)));
        area.draw(&PathElement::new(
            vec![(x0, cy), (x1, cy)],
            color.stroke_width(2),
        ))
        .map_err(plot_err)?;
        for (x, inside, dir) in [(x0, row.lower >= lo, -1), (x1, row.upper <= hi, 1)] {
            if inside {
                area.draw(&PathElement::new(
                    vec![(x, cy - 4), (x, cy + 4)],
                    color.stroke_width(2),
                ))
                .map_err(plot_err)?;
            } else {
                arrowhead(area, x, cy, dir, color)?;
            }
        }
        if (lo..=hi).contains(&row.estimate) {
            let x = px(row.estimate);
            if row.highlight {
                let square = [(x - 5, cy - 5), (x + 5, cy + 5)];
                area.draw(&Rectangle::new(square, color.filled()))
                    .map_err(plot_err)?;
            } else {
                area.draw(&Circle::new((x, cy), 5, color.filled()))
                    .map_err(plot_err)?;
            }
        }
        Ok(())
    }
}

/// A small filled triangle with its tip at (`x`, `cy`), pointing left (`dir` -1) or
/// right (1).
fn arrowhead<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    x: i32,
    cy: i32,
    dir: i32,
    color: RGBColor,
) -> Result<()> {
    let back = x - 8 * dir;
    let points = vec![(x, cy), (back, cy - 5), (back, cy + 5)];
    area.draw(&Polygon::new(points, color.filled()))
        .map_err(plot_err)
}

#[cfg(test)]
mod tests {
    use super::super::testdata::*;
    use super::super::{render_png, render_rgb, render_svg};
    use super::*;

    /// `n` rows in groups of 4 ("group 0", "group 1", …), estimates between 0.5 and 0.8,
    /// the last row highlighted.
    fn rows(n: usize) -> Vec<ForestRow> {
        (0..n)
            .map(|i| {
                let e = 0.5 + 0.3 * (i as f64 / n.max(2) as f64);
                let row = ForestRow::new(
                    format!("group {}", i / 4),
                    format!("row {i}"),
                    e,
                    e - 0.05,
                    e + 0.04,
                );
                if i + 1 == n { row.highlighted() } else { row }
            })
            .collect()
    }

    fn count(rgb: &[u8], c: RGBColor) -> usize {
        rgb.chunks_exact(3)
            .filter(|p| p == &[c.0, c.1, c.2])
            .count()
    }

    #[test]
    fn svg_has_labels_groups_values_reference_and_axis() {
        let mut rows = rows(6);
        rows[0] = ForestRow::new("group 0", "dense 128-d · betweenness", 0.62, 0.57, 0.67);
        let chart = ForestPlot::new(rows)
            .unwrap()
            .with_title("Centrality detects errors")
            .with_x_label("ROC-AUC (95 % CI)");
        let texts = svg_texts(&render_svg(&chart).unwrap().0);
        assert_eq!(texts[0], "Centrality detects errors");
        for t in [
            "group 0",
            "group 1",
            "dense 128-d · betweenness",
            "row 5",
            "0.62 [0.57, 0.67]",
            "chance (0.5)",
            "ROC-AUC (95 % CI)",
        ] {
            assert!(texts.iter().any(|x| x == t), "missing {t}: {texts:?}");
        }
        // One header per group, not per row.
        assert_eq!(texts.iter().filter(|t| *t == "group 0").count(), 1);
        let (lo, hi) = chart.x_range();
        assert!(
            lo <= 0.5 && hi >= 0.8 && lo >= 0.0 && hi <= 1.0,
            "{lo}..{hi}"
        );
        for t in ticks(lo, hi, round_step((hi - lo) / 7.0)) {
            let label = format!("{t:.1}");
            assert!(texts.contains(&label), "tick {label} missing: {texts:?}");
        }
        let png = render_png(&chart).unwrap();
        assert_eq!(png.dimensions(), Some(chart.size()));
        assert_eq!(chart.size().0, MIN_WIDTH);
    }

    #[test]
    fn height_grows_with_rows_and_groups() {
        let h = |n| ForestPlot::new(rows(n)).unwrap().size().1;
        // 4 rows in one group: 5 lines; 8 rows: 2 groups, 10 lines and a gap.
        assert_eq!(h(8) - h(4), 5 * ROW as u32 + GROUP_GAP as u32);
        assert!(h(30) > 30 * ROW as u32);
        let titled = ForestPlot::new(rows(4)).unwrap().with_title("T");
        assert!(titled.size().1 > h(4));
        // Rows without a group have no header line.
        let plain = ForestPlot::new(vec![ForestRow::new("", "a", 0.5, 0.4, 0.6)]).unwrap();
        let one = ForestPlot::new(vec![ForestRow::new("g", "a", 0.5, 0.4, 0.6)]).unwrap();
        assert_eq!(one.size().1 - plain.size().1, ROW as u32);
    }

    #[test]
    fn bad_rows_are_errors() {
        let bad = |row: ForestRow| ForestPlot::new(vec![row]).unwrap_err();
        for err in [
            ForestPlot::new(Vec::new()).unwrap_err(),
            bad(ForestRow::new("g", "nan", f64::NAN, 0.1, 0.9)),
            bad(ForestRow::new("g", "inf", 0.5, 0.1, f64::INFINITY)),
            bad(ForestRow::new("g", "low", 0.5, 0.6, 0.9)),
            bad(ForestRow::new("g", "high", 0.95, 0.6, 0.9)),
            bad(ForestRow::new("g", "swapped", 0.5, 0.9, 0.1)),
        ] {
            assert!(
                matches!(err, Error::Params(crate::ParamError { name: "rows", .. })),
                "{err}"
            );
        }
        let err = bad(ForestRow::new("g", "low", 0.5, 0.6, 0.9));
        assert!(err.to_string().contains("\"low\""), "{err}");
        // A point interval is fine.
        assert!(ForestPlot::new(vec![ForestRow::new("g", "p", 0.5, 0.5, 0.5)]).is_ok());
    }

    #[test]
    fn bad_ranges_and_references_fail_to_draw() {
        let chart = || ForestPlot::new(rows(3)).unwrap();
        for c in [
            chart().with_x_range(0.8, 0.2),
            chart().with_x_range(0.5, 0.5),
            chart().with_x_range(f64::NAN, 1.0),
        ] {
            let err = render_svg(&c).unwrap_err();
            assert!(
                matches!(
                    err,
                    Error::Params(crate::ParamError {
                        name: "x_range",
                        ..
                    })
                ),
                "{err}"
            );
        }
        let err = render_png(&chart().with_reference(f64::NAN)).unwrap_err();
        assert!(
            matches!(
                err,
                Error::Params(crate::ParamError {
                    name: "reference",
                    ..
                })
            ),
            "{err}"
        );
        // A range narrower than the intervals cuts them; intervals wholly outside
        // become arrowheads; a reference outside the range is not drawn.
        let narrow = chart().with_x_range(0.6, 0.62).with_reference(0.9);
        let texts = svg_texts(&render_svg(&narrow).unwrap().0);
        assert!(!texts.iter().any(|t| t.starts_with("chance")), "{texts:?}");
        assert!(render_png(&narrow).is_ok());
    }

    #[test]
    fn default_range_covers_data_and_reference() {
        // AUC-like data stay within 0..=1.
        let auc = ForestPlot::new(vec![ForestRow::new("g", "a", 0.97, 0.95, 0.995)]).unwrap();
        let (lo, hi) = auc.x_range();
        assert!(lo <= 0.5 && hi == 1.0, "{lo}..{hi}");
        // Differences around 0 with reference 0 are not clamped at 0.
        let diff = ForestPlot::new(vec![ForestRow::new("g", "d", -0.1, -0.3, 0.2)])
            .unwrap()
            .with_reference(0.0)
            .with_reference_label("no effect")
            .with_x_label("difference");
        let (lo, hi) = diff.x_range();
        assert!(lo < -0.3 && hi > 0.2 && lo > -0.5 && hi < 0.4, "{lo}..{hi}");
        let texts = svg_texts(&render_svg(&diff).unwrap().0);
        assert!(texts.contains(&"no effect (0)".to_string()), "{texts:?}");
        // Without reference: the range hugs the data.
        let (lo, _) = ForestPlot::new(vec![ForestRow::new("g", "a", 0.8, 0.75, 0.85)])
            .unwrap()
            .without_reference()
            .x_range();
        assert!(lo > 0.6, "{lo}");
        assert_eq!(
            ForestPlot::new(rows(2))
                .unwrap()
                .with_x_range(0.0, 1.0)
                .x_range(),
            (0.0, 1.0)
        );
    }

    #[test]
    fn highlighted_rows_have_their_own_colour() {
        let plain = ForestPlot::new(rows(3)[..2].to_vec()).unwrap();
        let marked = ForestPlot::new(rows(3)).unwrap();
        let rgb = render_rgb(&plain).unwrap();
        assert_eq!(count(&rgb, HIGHLIGHT), 0);
        assert!(count(&rgb, NORMAL) > 100);
        let rgb = render_rgb(&marked).unwrap();
        assert!(count(&rgb, HIGHLIGHT) > 100);
    }

    #[test]
    fn long_labels_widen_the_chart_then_are_cut() {
        let chart = |label: String| {
            ForestPlot::new(vec![ForestRow::new("g", label, 0.6, 0.5, 0.7)]).unwrap()
        };
        let long = "a rather long label · ".repeat(4);
        let (w, _) = chart(long.clone()).size();
        assert!(w > MIN_WIDTH && w < 1100, "{w}");
        // The label column is at its widest: a longer label does not widen the chart.
        let chart = chart(long.repeat(3));
        assert_eq!(chart.size().0, w);
        let texts = svg_texts(&render_svg(&chart).unwrap().0);
        assert!(
            texts
                .iter()
                .any(|t| t.starts_with("a rather") && t.ends_with('…')),
            "{texts:?}"
        );
        assert!(render_png(&chart).is_ok());
        // A title too long even in a smaller font is cut too.
        let chart = chart.with_title("A very long title ".repeat(20));
        let texts = svg_texts(&render_svg(&chart).unwrap().0);
        assert!(
            texts[0].starts_with("A very") && texts[0].ends_with('…'),
            "{texts:?}"
        );
    }
}
