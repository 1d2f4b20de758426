//! Grouped bar chart of images per class for several splits.

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, VPos};

use super::bars::{LEGEND_HEIGHT, draw_category_axes, draw_legend, group_bar_x, round_step};
use super::text::Style;
use super::{
    Chart, bold, check_not_empty, draw_text, font, plot_err, register_fonts, title_height,
};
use crate::data::{CLASS_NAMES, Dataset, NUM_CLASSES};
use crate::error::{Error, Result};

const WIDTH: u32 = 980;
const HEIGHT: u32 = 480;
const MARGIN: u32 = 12;
const TITLE_FONT: f64 = 20.0;
const TICK_FONT: f64 = 14.0;
const AXIS_FONT: f64 = 16.0;
/// Space below the plot for (up to two lines of) class names.
const X_LABEL_AREA: u32 = 44;
const Y_LABEL_AREA: u32 = 78;

/// Colours of the splits, in order (Tableau 10).
pub(crate) const SPLIT_COLORS: [RGBColor; 8] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
];

/// Images per class, one bar per named split (e.g. train / valid / test) in each class
/// group, with a legend of the splits.
#[derive(Debug, Clone)]
pub struct ClassCounts {
    /// Split names and their counts per class.
    splits: Vec<(String, [usize; NUM_CLASSES])>,
    title: Option<String>,
}

impl ClassCounts {
    /// Counts the images of each class in each split.
    ///
    /// Errors: no splits, more than 8, or a split without images.
    pub fn new(splits: &[(&str, &Dataset)]) -> Result<ClassCounts> {
        if splits.is_empty() || splits.len() > SPLIT_COLORS.len() {
            return Err(Error::invalid(
                "splits",
                format!("1..={} named data sets", SPLIT_COLORS.len()),
                splits.len(),
            ));
        }
        for (_, data) in splits {
            check_not_empty("splits", data)?;
        }
        Ok(ClassCounts {
            splits: splits
                .iter()
                .map(|(name, data)| (name.to_string(), data.class_counts()))
                .collect(),
            title: Some("Images per class".into()),
        })
    }

    /// Replaces the title (default "Images per class").
    pub fn with_title(mut self, title: impl Into<String>) -> ClassCounts {
        self.title = Some(title.into());
        self
    }

    /// The counts: split name and images per class.
    pub fn counts(&self) -> &[(String, [usize; NUM_CLASSES])] {
        &self.splits
    }

    fn max_count(&self) -> usize {
        self.splits
            .iter()
            .flat_map(|(_, c)| c.iter().copied())
            .max()
            .unwrap_or(0)
    }

    /// Bar `split` of class `class`: x range in chart units (classes at 0, 1, …).
    pub(crate) fn bar_x(&self, class: usize, split: usize) -> (f64, f64) {
        group_bar_x(class, split, self.splits.len())
    }
}

impl Chart for ClassCounts {
    fn size(&self) -> (u32, u32) {
        (WIDTH, HEIGHT)
    }

    fn draw<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> Result<()> {
        register_fonts()?;
        area.fill(&WHITE).map_err(plot_err)?;
        let (w, _) = self.size();
        let mut top = MARGIN;
        if let Some(title) = &self.title {
            let pos = ((w / 2) as i32, top as i32);
            draw_text(area, title, pos, &bold(TITLE_FONT), HPos::Center, VPos::Top)?;
            top += title_height(&self.title, TITLE_FONT);
        }
        let entries: Vec<(&str, RGBColor)> = self
            .splits
            .iter()
            .zip(SPLIT_COLORS)
            .map(|((name, _), color)| (name.as_str(), color))
            .collect();
        draw_legend(area, &entries, (w / 2) as i32, top as i32)?;
        top += LEGEND_HEIGHT;

        let (_, body) = area.split_vertically(top);
        let step = tick_step(self.max_count() as f64 * 1.05 / 8.0);
        let y_max = ((self.max_count() as f64 * 1.05) / step).ceil().max(1.0) * step;
        let chart = ChartBuilder::on(&body)
            .margin_top(6)
            .margin_right(20)
            .margin_bottom(MARGIN)
            .margin_left(MARGIN)
            .x_label_area_size(X_LABEL_AREA)
            .y_label_area_size(Y_LABEL_AREA)
            .build_cartesian_2d(-0.5f64..NUM_CLASSES as f64 - 0.5, 0f64..y_max)
            .map_err(plot_err)?;

        // Pixel positions on `area` (the chart maps to the backend's coordinates).
        let base = area.get_base_pixel();
        let px = |x: f64, y: f64| {
            let (bx, by) = chart.backend_coord(&(x, y));
            (bx - base.0, by - base.1)
        };
        let (left, axis_y) = px(-0.5, 0.0);
        let (right, top_y) = px(NUM_CLASSES as f64 - 0.5, y_max);

        // Horizontal grid lines with tick labels, behind the bars.
        let grid = BLACK.mix(0.12);
        let tick_style = font(TICK_FONT);
        let mut v = 0.0;
        while v <= y_max + step / 2.0 {
            let (_, y) = px(0.0, v);
            let path = |x0: i32, x1: i32, color: RGBAColor| {
                PathElement::new(vec![(x0, y), (x1, y)], color)
            };
            if v > 0.0 {
                area.draw(&path(left, right, grid)).map_err(plot_err)?;
            }
            area.draw(&path(left - 5, left, BLACK.to_rgba()))
                .map_err(plot_err)?;
            let label = format!("{v:.0}");
            draw_text(
                area,
                &label,
                (left - 8, y),
                &tick_style,
                HPos::Right,
                VPos::Center,
            )?;
            v += step;
        }

        for (k, (_, counts)) in self.splits.iter().enumerate() {
            let color = SPLIT_COLORS[k];
            for (class, &n) in counts.iter().enumerate() {
                let (x0, x1) = self.bar_x(class, k);
                let (px0, py0) = px(x0, n as f64);
                let (px1, _) = px(x1, 0.0);
                let rect = [(px0, py0), (px1, axis_y)];
                area.draw(&Rectangle::new(rect, color.filled()))
                    .map_err(plot_err)?;
            }
        }

        let class_x: Vec<i32> = (0..NUM_CLASSES).map(|c| px(c as f64, 0.0).0).collect();
        draw_class_axes(area, (left, right), (top_y, axis_y), &class_x, "images")
    }
}

/// Axes of a bar chart with one group per class: the L-shaped axis lines, the y-axis
/// description `desc` reading upwards at the left margin, and the class names (on two
/// lines when one is too wide) centred under the groups at `class_x`.
pub(crate) fn draw_class_axes<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    (left, right): (i32, i32),
    (top_y, axis_y): (i32, i32),
    class_x: &[i32],
    desc: &str,
) -> Result<()> {
    let desc_x = MARGIN as i32 + (AXIS_FONT / 2.0) as i32;
    draw_category_axes(
        area,
        (left, right),
        (top_y, axis_y),
        class_x,
        &CLASS_NAMES,
        Some((desc, desc_x)),
    )
}

/// A round tick step (1, 2 or 5 × 10^k, at least 1) not below `raw`.
fn tick_step(raw: f64) -> f64 {
    if raw <= 1.0 {
        return 1.0;
    }
    round_step(raw).max(1.0)
}

/// `text` as one line if it fits in `width` pixels, else split in two at the space or
/// slash nearest the middle.
pub(crate) fn wrap_label(text: &str, style: &Style, width: u32) -> Result<Vec<String>> {
    if style.width(text)? <= width {
        return Ok(vec![text.to_string()]);
    }
    let mid = text.len() / 2;
    let best = text
        .char_indices()
        .filter(|&(_, c)| c == ' ' || c == '/' || c == '-')
        .min_by_key(|&(i, _)| i.abs_diff(mid));
    Ok(match best {
        // A space disappears; a slash or hyphen stays at the end of the first line.
        Some((i, ' ')) => vec![text[..i].to_string(), text[i + 1..].to_string()],
        Some((i, c)) => {
            let cut = i + c.len_utf8();
            vec![text[..cut].to_string(), text[cut..].to_string()]
        }
        None => vec![text.to_string()],
    })
}

#[cfg(test)]
mod tests {
    use super::super::testdata::*;
    use super::super::{render_png, render_rgb, render_svg};
    use super::*;

    #[test]
    fn svg_has_classes_splits_and_axis_label() {
        let (a, b) = (synthetic(30), synthetic(12));
        let chart = ClassCounts::new(&[("train", &a), ("test", &b)]).unwrap();
        assert_eq!(chart.counts()[0].1, [3; 10]);
        assert_eq!(chart.counts()[1].1, [2, 2, 1, 1, 1, 1, 1, 1, 1, 1]);
        let svg = render_svg(&chart).unwrap().0;
        assert!(svg.starts_with("<svg"));
        let texts = svg_texts(&svg);
        for text in [
            "train",
            "test",
            "images",
            "Images per class",
            "Trouser",
            "Bag",
        ] {
            assert!(
                texts.contains(&text.to_string()),
                "{text} missing: {texts:?}"
            );
        }
        // Class names: whole, or split in two lines that together make the name.
        let joined: String = texts.concat().replace(' ', "");
        for name in CLASS_NAMES {
            assert!(
                joined.contains(&name.replace(' ', "")),
                "{name} missing: {texts:?}"
            );
        }
        let png = render_png(&chart).unwrap();
        assert_eq!(png.dimensions(), Some((WIDTH, HEIGHT)));
    }

    #[test]
    fn bar_areas_follow_the_counts() {
        let (a, b) = (synthetic(30), synthetic(12));
        let chart = ClassCounts::new(&[("a", &a), ("b", &b)]).unwrap();
        let rgb = render_rgb(&chart).unwrap();
        let count = |c: RGBColor| {
            rgb.chunks_exact(3)
                .filter(|p| p == &[c.0, c.1, c.2])
                .count() as f64
        };
        let (pa, pb) = (count(SPLIT_COLORS[0]), count(SPLIT_COLORS[1]));
        // Equal bar widths: areas are proportional to the totals, 30 : 12 (the legend
        // swatches add a little to both).
        let ratio = pa / pb;
        assert!(
            (ratio - 2.5).abs() < 0.15,
            "area ratio {ratio} ({pa} / {pb})"
        );
        assert!(pb > 2000.0, "bars too small: {pb} pixels");
        // Below the legend, each column of b's colour is one bar: classes 0 and 1 have
        // two b-images, the others one, so the tallest bars are twice the median.
        let (w, _) = chart.size();
        let heights: Vec<usize> = (0..w)
            .map(|x| {
                (100..HEIGHT)
                    .filter(|&y| rgb_at(&rgb, w, x, y) == [255, 127, 14])
                    .count()
            })
            .filter(|&h| h > 0)
            .collect();
        let mut sorted = heights.clone();
        sorted.sort_unstable();
        let tallest = *sorted.last().unwrap() as f64;
        let median = sorted[sorted.len() / 2] as f64;
        assert!(
            (tallest / median - 2.0).abs() < 0.05,
            "{tallest} vs {median}"
        );
        assert!(median > 80.0, "bars too short: {median} px");
        // The first bars (class 0) are the tall ones.
        assert_eq!(heights[0] as f64, tallest);
    }

    #[test]
    fn tick_steps_are_round() {
        assert_eq!(tick_step(787.5), 1000.0);
        assert_eq!(tick_step(130.0), 200.0);
        assert_eq!(tick_step(45.0), 50.0);
        assert_eq!(tick_step(0.4), 1.0);
        assert_eq!(tick_step(1.5), 2.0);
    }

    #[test]
    fn long_names_wrap_at_a_break() {
        let style = font(14.0);
        assert_eq!(
            wrap_label("Ankle boot", &style, 40).unwrap(),
            ["Ankle", "boot"]
        );
        assert_eq!(
            wrap_label("T-shirt/top", &style, 40).unwrap(),
            ["T-shirt/", "top"]
        );
        assert_eq!(
            wrap_label("Ankle boot", &style, 200).unwrap(),
            ["Ankle boot"]
        );
        assert_eq!(wrap_label("Sneaker", &style, 10).unwrap(), ["Sneaker"]);
    }

    #[test]
    fn bad_parameters_are_errors() {
        let data = synthetic(10);
        let err = ClassCounts::new(&[]).unwrap_err();
        assert!(
            matches!(err, Error::Params(crate::ParamError { name: "splits", .. })),
            "{err}"
        );
        let err = ClassCounts::new(&[("train", &data), ("empty", &empty())]).unwrap_err();
        assert!(
            matches!(err, Error::Params(crate::ParamError { name: "splits", .. })),
            "{err}"
        );
        let nine: Vec<(&str, &Dataset)> = (0..9).map(|_| ("x", &data)).collect();
        assert!(ClassCounts::new(&nine).is_err());
    }
}
