//! Grouped bars of scores (e.g. clustering quality) per category and series, in one or
//! more panels side by side.

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, VPos};

use super::bars::{
    LEGEND_HEIGHT, draw_category_axes, draw_legend, group_bar_x, round_step, tick_decimals, ticks,
};
use super::counts::SPLIT_COLORS;
use super::text::Label;
use super::{Chart, bold, draw_text, draw_title, font, plot_err, register_fonts, title_height};
use crate::error::{Error, Result};

const HEIGHT: u32 = 460;
const MARGIN: i32 = 14;
const TITLE_FONT: f64 = 20.0;
const PANEL_TITLE_FONT: f64 = 16.0;
const TICK_FONT: f64 = 13.0;
const VALUE_FONT: f64 = 12.0;
/// Narrowest panel.
const MIN_PANEL: i32 = 460;
/// Narrowest group of bars, so that category names on two lines stay apart.
const MIN_GROUP: i32 = 108;
/// Left of a panel's plot: room for the tick labels.
const LEFT: i32 = 56;
/// Above a panel's plot: its title and room for value labels over the tallest bars.
const PANEL_TOP: i32 = 46;
/// Below a panel's plot: (up to two lines of) category names.
const CATEGORY_AREA: i32 = 46;
/// Width of one bar, used to size the panels.
const BAR_WIDTH: i32 = 34;

/// Grouped bars comparing scores: the categories along x (e.g. data representations),
/// one coloured bar per series within each group (e.g. clustering methods) with a
/// legend, and the value printed over each bar (under it when negative). Each
/// [`panel`](ScoreBars::panel) (e.g. "adjusted Rand index", "purity") is drawn side by
/// side with the others on its own y axis, all sharing the legend and the y range.
///
/// ```
/// use fashion::plot::{render_svg, ScoreBars};
/// # fn main() -> fashion::Result<()> {
/// let names = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
/// let chart = ScoreBars::new(names(&["pixels", "dense 128-d"]), names(&["k-means", "GMM"]))
///     .panel("adjusted Rand index", vec![vec![0.35, 0.61], vec![-0.02, 0.58]])?
///     .panel("purity", vec![vec![0.55, 0.74], vec![0.41, 0.70]])?
///     .with_title("Clustering quality");
/// let svg = render_svg(&chart)?;
/// assert!(svg.0.contains("purity") && svg.0.contains("k-means") && svg.0.contains("-0.02"));
/// assert!(ScoreBars::new(names(&["a"]), names(&["s"])).panel("p", vec![vec![f64::NAN]]).is_err());
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct ScoreBars {
    categories: Vec<String>,
    series: Vec<String>,
    /// Panel titles and values, `values[series][category]`.
    panels: Vec<(String, Vec<Vec<f64>>)>,
    title: Option<String>,
    y_range: Option<(f64, f64)>,
}

impl ScoreBars {
    /// A chart of `categories` along x with one bar per name in `series` in each group;
    /// it has no panels yet (add them with [`panel`](ScoreBars::panel)) and no title.
    pub fn new(categories: Vec<String>, series: Vec<String>) -> ScoreBars {
        ScoreBars {
            categories,
            series,
            panels: Vec::new(),
            title: None,
            y_range: None,
        }
    }

    /// Adds a panel titled `title` with `values[series][category]`, right of the others.
    ///
    /// # Errors
    /// [`Error::Params`]: `categories` or `series` empty, or more than 8
    /// series (`series`); `values` not one row per series of one value per category, or a
    /// value not finite (`values`).
    pub fn panel(mut self, title: impl Into<String>, values: Vec<Vec<f64>>) -> Result<ScoreBars> {
        if self.categories.is_empty() {
            return Err(Error::invalid(
                "categories",
                "at least one category",
                "none",
            ));
        }
        let max_series = SPLIT_COLORS.len();
        if self.series.is_empty() || self.series.len() > max_series {
            return Err(Error::invalid(
                "series",
                format!("1..={max_series} series"),
                self.series.len(),
            ));
        }
        let (s, c) = (self.series.len(), self.categories.len());
        let shape_ok = values.len() == s && values.iter().all(|row| row.len() == c);
        if !shape_ok {
            let lens: Vec<usize> = values.iter().map(Vec::len).collect();
            return Err(Error::invalid(
                "values",
                format!("{s} series × {c} categories"),
                format!("{} rows of lengths {lens:?}", values.len()),
            ));
        }
        for (k, row) in values.iter().enumerate() {
            if let Some((j, v)) = row.iter().enumerate().find(|(_, v)| !v.is_finite()) {
                return Err(Error::invalid(
                    "values",
                    "finite values",
                    format!("{v} for {:?} / {:?}", self.series[k], self.categories[j]),
                ));
            }
        }
        self.panels.push((title.into(), values));
        Ok(self)
    }

    /// Sets the title (default none).
    pub fn with_title(mut self, title: impl Into<String>) -> ScoreBars {
        self.title = Some(title.into());
        self
    }

    /// Shows `lo..=hi` on the y axes instead of the default; bars reaching outside are cut
    /// at the edge. Drawing fails unless `lo < hi`, both finite.
    pub fn with_y_range(mut self, lo: f64, hi: f64) -> ScoreBars {
        self.y_range = Some((lo, hi));
        self
    }

    /// The y range shown: the one set with [`with_y_range`](Self::with_y_range), or by
    /// default from 0 (or below the lowest value when one is negative, with room for
    /// its label) to 1 (or the highest value when above 1).
    pub fn y_range(&self) -> (f64, f64) {
        if let Some(range) = self.y_range {
            return range;
        }
        let values = self.panels.iter().flat_map(|(_, v)| v.iter().flatten());
        let (min, max) = values.fold((0.0f64, 1.0f64), |(a, b), &v| (a.min(v), b.max(v)));
        let lo = if min < 0.0 {
            min - 0.08 * (max - min)
        } else {
            0.0
        };
        (lo, max)
    }

    /// The panels: title and `values[series][category]`.
    pub fn panels(&self) -> &[(String, Vec<Vec<f64>>)] {
        &self.panels
    }

    fn panel_width(&self) -> i32 {
        let group = MIN_GROUP.max(self.series.len() as i32 * BAR_WIDTH + 28);
        MIN_PANEL.max(LEFT + 16 + self.categories.len() as i32 * group)
    }

    /// One panel: title, y ticks and grid, bars with values, category axis, in the box
    /// `x0..x1` × `y0..y1`.
    fn draw_panel<DB: DrawingBackend>(
        &self,
        area: &DrawingArea<DB, Shift>,
        (x0, y0, x1, y1): (i32, i32, i32, i32),
        (title, values): &(String, Vec<Vec<f64>>),
        (lo, hi): (f64, f64),
    ) -> Result<()> {
        let (pl, pr, pt, pb) = (x0 + LEFT, x1 - 12, y0 + PANEL_TOP, y1 - CATEGORY_AREA);
        let n = self.categories.len();
        let px = |x: f64| -> i32 {
            let t = (x + 0.5) / n as f64;
            pl + (t * f64::from(pr - pl)).round() as i32
        };
        let py = |v: f64| -> i32 {
            let t = ((v - lo) / (hi - lo)).clamp(0.0, 1.0);
            pb - (t * f64::from(pb - pt)).round() as i32
        };
        draw_text(
            area,
            title,
            ((pl + pr) / 2, y0 + 4),
            &bold(PANEL_TITLE_FONT),
            HPos::Center,
            VPos::Top,
        )?;

        // Grid lines and tick labels, behind the bars.
        let step = round_step((hi - lo) / 6.0);
        let decimals = tick_decimals(step);
        let tick_style = font(TICK_FONT);
        for v in ticks(lo, hi, step) {
            let y = py(v);
            let color = if v == 0.0 && lo < 0.0 {
                BLACK.mix(0.6)
            } else {
                BLACK.mix(0.12)
            };
            area.draw(&PathElement::new(vec![(pl, y), (pr, y)], color))
                .map_err(plot_err)?;
            area.draw(&PathElement::new(vec![(pl - 5, y), (pl, y)], BLACK))
                .map_err(plot_err)?;
            let label = format!("{v:.decimals$}");
            draw_text(
                area,
                &label,
                (pl - 8, y),
                &tick_style,
                HPos::Right,
                VPos::Center,
            )?;
        }

        let zero = py(0.0);
        let value_style = font(VALUE_FONT).colored(RGBColor(40, 40, 40));
        for (k, row) in values.iter().enumerate() {
            for (c, &v) in row.iter().enumerate() {
                let (bx0, bx1) = group_bar_x(c, k, self.series.len());
                let (left, right) = (px(bx0) + 1, px(bx1) - 1);
                let end = py(v);
                if end != zero {
                    let rect = [(left, end.min(zero)), (right, end.max(zero))];
                    area.draw(&Rectangle::new(rect, SPLIT_COLORS[k].filled()))
                        .map_err(plot_err)?;
                }
                let label = format!("{v:.2}");
                let cx = (left + right) / 2;
                let fits = value_style.width(&label)? as i32 <= right - left + 4;
                let below = v < 0.0;
                let (pos, style) = match (fits, below) {
                    (true, false) => (
                        (cx, end - 3),
                        value_style.clone().anchored(HPos::Center, VPos::Bottom),
                    ),
                    (true, true) => (
                        (cx, end + 3),
                        value_style.clone().anchored(HPos::Center, VPos::Top),
                    ),
                    // Too narrow a bar: the label reads upwards along it.
                    (false, false) => (
                        (cx, end - 3),
                        value_style
                            .clone()
                            .upwards()
                            .anchored(HPos::Left, VPos::Center),
                    ),
                    (false, true) => (
                        (cx, end + 3),
                        value_style
                            .clone()
                            .upwards()
                            .anchored(HPos::Right, VPos::Center),
                    ),
                };
                area.draw(&Label::new(label, pos, style))
                    .map_err(plot_err)?;
            }
        }

        let xs: Vec<i32> = (0..n).map(|c| px(c as f64)).collect();
        draw_category_axes(area, (pl, pr), (pt, pb), &xs, &self.categories, None)
    }
}

impl Chart for ScoreBars {
    fn size(&self) -> (u32, u32) {
        let panels = self.panels.len().max(1) as i32;
        let width = 2 * MARGIN + panels * self.panel_width();
        (width as u32, HEIGHT + title_height(&self.title, TITLE_FONT))
    }

    fn draw<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> Result<()> {
        register_fonts()?;
        if self.panels.is_empty() {
            return Err(Error::invalid("panels", "at least one panel", "none"));
        }
        let (lo, hi) = self.y_range();
        if !(lo.is_finite() && hi.is_finite() && lo < hi) {
            return Err(Error::invalid(
                "y_range",
                "finite bounds with lo < hi",
                format!("{lo}..{hi}"),
            ));
        }
        area.fill(&WHITE).map_err(plot_err)?;
        let (width, height) = self.size();
        let (width, height) = (width as i32, height as i32);
        let mut top = MARGIN;
        if let Some(title) = &self.title {
            let max_width = (width - 2 * MARGIN) as u32;
            draw_title(area, title, (width / 2, top), TITLE_FONT, max_width)?;
            top += title_height(&self.title, TITLE_FONT) as i32;
        }
        let entries: Vec<(&str, RGBColor)> = self
            .series
            .iter()
            .map(String::as_str)
            .zip(SPLIT_COLORS)
            .collect();
        draw_legend(area, &entries, width / 2, top)?;
        top += LEGEND_HEIGHT as i32 + 4;

        let panel_width = self.panel_width();
        for (i, panel) in self.panels.iter().enumerate() {
            let x0 = MARGIN + i as i32 * panel_width;
            let bounds = (x0, top, x0 + panel_width, height - MARGIN);
            self.draw_panel(area, bounds, panel, (lo, hi))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::testdata::*;
    use super::super::{render_png, render_rgb, render_svg};
    use super::*;

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    const REPS: [&str; 4] = [
        "pixels ÷255",
        "pixels standardised",
        "feature map 1152-d",
        "dense 128-d",
    ];

    fn chart() -> ScoreBars {
        ScoreBars::new(names(&REPS), names(&["k-means", "Gaussian mixture"]))
            .panel(
                "adjusted Rand index",
                vec![vec![0.35, 0.33, 0.47, 0.62], vec![-0.04, 0.28, 0.44, 0.66]],
            )
            .unwrap()
            .panel(
                "purity",
                vec![vec![0.55, 0.52, 0.66, 0.78], vec![0.31, 0.49, 0.63, 0.80]],
            )
            .unwrap()
            .with_title("Clustering quality of the test images")
    }

    #[test]
    fn svg_has_titles_legend_categories_and_values() {
        let chart = chart();
        let texts = svg_texts(&render_svg(&chart).unwrap().0);
        assert_eq!(texts[0], "Clustering quality of the test images");
        for t in [
            "k-means",
            "Gaussian mixture",
            "adjusted Rand index",
            "purity",
            "0.35",
            "-0.04",
            "0.80",
            "0.0",
            "1.0",
        ] {
            assert!(texts.iter().any(|x| x == t), "missing {t}: {texts:?}");
        }
        // Every category under each panel, whole or on two lines.
        let joined = texts.concat().replace(' ', "");
        for rep in REPS {
            let rep = rep.replace(' ', "");
            assert_eq!(joined.matches(&rep).count(), 2, "{rep}: {texts:?}");
        }
        let png = render_png(&chart).unwrap();
        assert_eq!(png.dimensions(), Some(chart.size()));
    }

    #[test]
    fn default_y_range_includes_negative_values() {
        let (lo, hi) = chart().y_range();
        assert!(lo < -0.04 && lo > -0.2 && hi == 1.0, "{lo}..{hi}");
        let positive = ScoreBars::new(names(&["a"]), names(&["s"]))
            .panel("p", vec![vec![0.4]])
            .unwrap();
        assert_eq!(positive.y_range(), (0.0, 1.0));
        let big = ScoreBars::new(names(&["a"]), names(&["s"]))
            .panel("p", vec![vec![3.5]])
            .unwrap();
        assert_eq!(big.y_range(), (0.0, 3.5));
        assert_eq!(chart().with_y_range(-1.0, 1.0).y_range(), (-1.0, 1.0));
    }

    #[test]
    fn bars_have_series_colours_and_heights() {
        let one = ScoreBars::new(names(&["a", "b"]), names(&["s", "t"]))
            .panel("p", vec![vec![1.0, 0.5], vec![0.25, 0.0]])
            .unwrap();
        let rgb = render_rgb(&one).unwrap();
        let (w, h) = one.size();
        // Tallest run of a colour per pixel column, below the legend.
        let heights = |c: RGBColor| -> Vec<usize> {
            (0..w)
                .map(|x| {
                    (60..h)
                        .filter(|&y| rgb_at(&rgb, w, x, y) == [c.0, c.1, c.2])
                        .count()
                })
                .filter(|&n| n > 0)
                .collect()
        };
        let s = heights(SPLIT_COLORS[0]);
        let full = *s.iter().max().unwrap() as f64;
        let min = *s.iter().min().unwrap() as f64;
        assert!(full > 250.0, "{full}");
        assert!((min / full - 0.5).abs() < 0.02, "{min} / {full}");
        let t = heights(SPLIT_COLORS[1]);
        let t_max = *t.iter().max().unwrap() as f64;
        assert!((t_max / full - 0.25).abs() < 0.02, "{t_max} / {full}");
    }

    #[test]
    fn bad_shapes_values_and_ranges_are_errors() {
        let base = || ScoreBars::new(names(&["a", "b"]), names(&["s", "t"]));
        let err = |r: Result<ScoreBars>, name: &str| {
            let e = r.unwrap_err();
            assert!(
                matches!(&e, Error::Params(crate::ParamError { name: n, .. }) if *n == name),
                "{e}"
            );
        };
        err(base().panel("p", vec![vec![0.1, 0.2]]), "values");
        err(base().panel("p", vec![vec![0.1], vec![0.2]]), "values");
        err(
            base().panel("p", vec![vec![0.1, 0.2], vec![0.3, f64::NAN]]),
            "values",
        );
        err(
            base().panel("p", vec![vec![0.1, f64::INFINITY], vec![0.3, 0.4]]),
            "values",
        );
        err(
            ScoreBars::new(Vec::new(), names(&["s"])).panel("p", vec![vec![]]),
            "categories",
        );
        err(
            ScoreBars::new(names(&["a"]), Vec::new()).panel("p", Vec::new()),
            "series",
        );
        let nine: Vec<String> = (0..9).map(|i| i.to_string()).collect();
        err(
            ScoreBars::new(names(&["a"]), nine).panel("p", vec![vec![0.0]; 9]),
            "series",
        );
        let e = render_svg(&base()).unwrap_err();
        assert!(
            matches!(e, Error::Params(crate::ParamError { name: "panels", .. })),
            "{e}"
        );
        let ok = base()
            .panel("p", vec![vec![0.1, 0.2], vec![0.3, 0.4]])
            .unwrap();
        for bad in [(1.0, 0.0), (0.0, 0.0), (f64::NAN, 1.0)] {
            let e = render_png(&ok.clone().with_y_range(bad.0, bad.1)).unwrap_err();
            assert!(
                matches!(
                    e,
                    Error::Params(crate::ParamError {
                        name: "y_range",
                        ..
                    })
                ),
                "{e}"
            );
        }
        // Values outside an explicit range are cut, not an error.
        assert!(render_png(&ok.with_y_range(0.15, 0.35)).is_ok());
    }

    #[test]
    fn width_grows_with_panels_and_groups() {
        let one = ScoreBars::new(names(&["a"]), names(&["s"]))
            .panel("p", vec![vec![0.5]])
            .unwrap();
        let two = one.clone().panel("q", vec![vec![0.6]]).unwrap();
        assert_eq!(two.size().0 - one.size().0, MIN_PANEL as u32);
        let cats: Vec<String> = (0..12).map(|i| format!("c{i}")).collect();
        let many = ScoreBars::new(cats, names(&["s", "t", "u"]))
            .panel("p", vec![vec![0.5; 12]; 3])
            .unwrap();
        assert!(many.size().0 > one.size().0 + 600, "{:?}", many.size());
        assert!(render_png(&many).is_ok());
    }
}
