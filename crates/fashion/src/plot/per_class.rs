//! Grouped bar chart of per-class precision, recall and F1.

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, VPos};

use super::bars::{LEGEND_HEIGHT, draw_legend, group_bar_x};
use super::counts::{SPLIT_COLORS, draw_class_axes};
use super::{Chart, bold, draw_text, font, plot_err, register_fonts, title_height};
use crate::data::NUM_CLASSES;
use crate::error::Result;
use crate::eval::{ClassMetrics, ConfusionMatrix};

const WIDTH: u32 = 980;
const HEIGHT: u32 = 480;
const MARGIN: u32 = 12;
const TITLE_FONT: f64 = 20.0;
const TICK_FONT: f64 = 14.0;
/// Space below the plot for (up to two lines of) class names.
const X_LABEL_AREA: u32 = 44;
const Y_LABEL_AREA: u32 = 64;
/// The three metrics, in bar order.
const METRICS: [&str; 3] = ["precision", "recall", "F1"];

/// Precision, recall and F1 of each class as three bars per class on a 0–1 axis, with a
/// legend. The default title gives the accuracy and the macro-averaged F1. A class that
/// is never predicted has precision 0 (see [`ClassMetrics::precision_defined`]) and its
/// precision bar is replaced by the words "never predicted".
///
/// ```
/// use fashion::eval::ConfusionMatrix;
/// use fashion::plot::{render_svg, PerClassBars};
/// # fn main() -> fashion::Result<()> {
/// let cm = ConfusionMatrix::new(&[0, 1, 1, 2], &[0, 1, 0, 2])?;
/// let svg = render_svg(&PerClassBars::new(&cm))?;
/// assert!(svg.0.contains("recall") && svg.0.contains("Trouser"));
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct PerClassBars {
    metrics: Vec<ClassMetrics>,
    title: String,
}

impl PerClassBars {
    /// The per-class metrics of `cm`.
    pub fn new(cm: &ConfusionMatrix) -> PerClassBars {
        PerClassBars {
            metrics: cm.per_class(),
            title: format!(
                "Per-class precision, recall and F1 (accuracy {:.3}, macro F1 {:.3})",
                cm.accuracy(),
                cm.macro_avg().f1
            ),
        }
    }

    /// Replaces the title.
    pub fn with_title(mut self, title: impl Into<String>) -> PerClassBars {
        self.title = title.into();
        self
    }

    /// The metrics shown, one per class.
    pub fn metrics(&self) -> &[ClassMetrics] {
        &self.metrics
    }

    /// Bar `metric` (0 precision, 1 recall, 2 F1) of `class`: x range in chart units
    /// (classes at 0, 1, …).
    pub(crate) fn bar_x(class: usize, metric: usize) -> (f64, f64) {
        group_bar_x(class, metric, METRICS.len())
    }

    fn values(m: &ClassMetrics) -> [f64; 3] {
        [m.precision, m.recall, m.f1]
    }
}

impl Chart for PerClassBars {
    fn size(&self) -> (u32, u32) {
        (WIDTH, HEIGHT)
    }

    fn draw<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> Result<()> {
        register_fonts()?;
        area.fill(&WHITE).map_err(plot_err)?;
        let mut top = MARGIN;
        let title = Some(self.title.clone());
        let pos = ((WIDTH / 2) as i32, top as i32);
        draw_text(
            area,
            &self.title,
            pos,
            &bold(TITLE_FONT),
            HPos::Center,
            VPos::Top,
        )?;
        top += title_height(&title, TITLE_FONT);
        let entries: Vec<(&str, RGBColor)> = METRICS.into_iter().zip(SPLIT_COLORS).collect();
        draw_legend(area, &entries, (WIDTH / 2) as i32, top as i32)?;
        top += LEGEND_HEIGHT;

        let (_, body) = area.split_vertically(top);
        let chart = ChartBuilder::on(&body)
            .margin_top(8)
            .margin_right(20)
            .margin_bottom(MARGIN)
            .margin_left(MARGIN)
            .x_label_area_size(X_LABEL_AREA)
            .y_label_area_size(Y_LABEL_AREA)
            .build_cartesian_2d(-0.5f64..NUM_CLASSES as f64 - 0.5, 0f64..1.0)
            .map_err(plot_err)?;
        let base = area.get_base_pixel();
        let px = |x: f64, y: f64| {
            let (bx, by) = chart.backend_coord(&(x, y));
            (bx - base.0, by - base.1)
        };
        let (left, axis_y) = px(-0.5, 0.0);
        let (right, top_y) = px(NUM_CLASSES as f64 - 0.5, 1.0);

        // Grid lines and tick labels every 0.2, behind the bars.
        let grid = BLACK.mix(0.12);
        let tick_style = font(TICK_FONT);
        for k in 0..=5 {
            let v = k as f64 / 5.0;
            let (_, y) = px(0.0, v);
            if k > 0 {
                area.draw(&PathElement::new(vec![(left, y), (right, y)], grid))
                    .map_err(plot_err)?;
            }
            area.draw(&PathElement::new(vec![(left - 5, y), (left, y)], BLACK))
                .map_err(plot_err)?;
            let label = format!("{v:.1}");
            draw_text(
                area,
                &label,
                (left - 8, y),
                &tick_style,
                HPos::Right,
                VPos::Center,
            )?;
        }

        let na = font(12.0).colored(RGBColor(90, 90, 90)).upwards();
        for (class, m) in self.metrics.iter().enumerate() {
            for (k, v) in Self::values(m).into_iter().enumerate() {
                let (x0, x1) = Self::bar_x(class, k);
                let (px0, py0) = px(x0, v);
                let (px1, _) = px(x1, 0.0);
                if py0 < axis_y {
                    let rect = [(px0, py0), (px1, axis_y)];
                    area.draw(&Rectangle::new(rect, SPLIT_COLORS[k].filled()))
                        .map_err(plot_err)?;
                }
                if k == 0 && !m.precision_defined {
                    let pos = ((px0 + px1) / 2, axis_y - 4);
                    draw_text(area, "never predicted", pos, &na, HPos::Left, VPos::Center)?;
                }
            }
        }

        let class_x: Vec<i32> = (0..NUM_CLASSES).map(|c| px(c as f64, 0.0).0).collect();
        draw_class_axes(area, (left, right), (top_y, axis_y), &class_x, "score")
    }
}

#[cfg(test)]
mod tests {
    use super::super::testdata::*;
    use super::super::{render_png, render_rgb, render_svg};
    use super::*;

    /// Class 0: 4 right; class 1: 2 right, 2 predicted as 0; class 2: 4 examples, all
    /// predicted 1 (never predicted itself); classes 3–9: 4 right each.
    ///
    /// Class 0: P 4/6, R 1; class 1: P 2/6, R 1/2; class 2: P n/a (0), R 0.
    fn matrix() -> ConfusionMatrix {
        let mut labels = Vec::new();
        let mut predicted = Vec::new();
        let mut add = |t: u8, p: u8, n: usize| {
            labels.extend(std::iter::repeat_n(t, n));
            predicted.extend(std::iter::repeat_n(p, n));
        };
        add(0, 0, 4);
        add(1, 1, 2);
        add(1, 0, 2);
        add(2, 1, 4);
        for c in 3..10 {
            add(c, c, 4);
        }
        ConfusionMatrix::new(&labels, &predicted).unwrap()
    }

    #[test]
    fn svg_has_legend_ticks_classes_and_na_mark() {
        let chart = PerClassBars::new(&matrix());
        let svg = render_svg(&chart).unwrap().0;
        let texts = svg_texts(&svg);
        assert!(texts[0].starts_with("Per-class precision, recall and F1 (accuracy 0.850"));
        for t in [
            "precision",
            "recall",
            "F1",
            "score",
            "0.0",
            "0.2",
            "1.0",
            "never predicted",
        ] {
            assert!(texts.contains(&t.to_string()), "{t} missing: {texts:?}");
        }
        assert_eq!(texts.iter().filter(|t| *t == "never predicted").count(), 1);
        let joined: String = texts.concat().replace(' ', "");
        for name in crate::data::CLASS_NAMES {
            assert!(joined.contains(&name.replace(' ', "")), "{name}: {texts:?}");
        }
        let png = render_png(&chart).unwrap();
        assert_eq!(png.dimensions(), Some((WIDTH, HEIGHT)));
    }

    #[test]
    fn bar_heights_follow_the_metrics() {
        let chart = PerClassBars::new(&matrix());
        let rgb = render_rgb(&chart).unwrap();
        let (w, h) = chart.size();
        // Height in pixels of the tallest run of `color` in each pixel column, below the
        // legend (y > 80).
        let heights = |c: RGBColor| -> Vec<usize> {
            (0..w)
                .map(|x| {
                    (80..h)
                        .filter(|&y| rgb_at(&rgb, w, x, y) == [c.0, c.1, c.2])
                        .count()
                })
                .collect()
        };
        // Recall bars: classes 0, 3..9 reach 1, class 1 reaches ½, class 2 none.
        let recall = heights(SPLIT_COLORS[1]);
        let full = *recall.iter().max().unwrap() as f64;
        assert!(full > 250.0, "plot too short: {full}");
        let groups = |hs: &[usize]| -> Vec<f64> {
            // Split the non-zero columns into runs (one per bar), keep each run's height.
            let mut runs = Vec::new();
            let mut x = 0;
            while x < hs.len() {
                if hs[x] > 0 {
                    runs.push(hs[x] as f64);
                    while x < hs.len() && hs[x] > 0 {
                        x += 1;
                    }
                } else {
                    x += 1;
                }
            }
            runs
        };
        let r = groups(&recall);
        assert_eq!(r.len(), 9, "9 recall bars (class 2 has none): {r:?}");
        assert!((r[1] / full - 0.5).abs() < 0.02, "{r:?}");
        assert!(r[2..].iter().all(|&v| v == full));
        // Precision: class 0 at 2/3, class 1 at 1/3, no bar for class 2.
        let p = groups(&heights(SPLIT_COLORS[0]));
        assert_eq!(p.len(), 9, "{p:?}");
        assert!((p[0] / full - 2.0 / 3.0).abs() < 0.02, "{p:?}");
        assert!((p[1] / full - 1.0 / 3.0).abs() < 0.02, "{p:?}");
        // F1 of class 1: 2 · (1/3 · 1/2) / (5/6) = 0.4.
        let f = groups(&heights(SPLIT_COLORS[2]));
        assert!((f[1] / full - 0.4).abs() < 0.02, "{f:?}");
        let titled = chart.with_title("Val");
        assert_eq!(svg_texts(&render_svg(&titled).unwrap().0)[0], "Val");
    }
}
