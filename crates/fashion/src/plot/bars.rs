//! Pieces shared by the bar charts ([`ClassCounts`](super::ClassCounts),
//! [`PerClassBars`](super::PerClassBars), [`ScoreBars`](super::ScoreBars)) and the axes of
//! the other charts: legends of colour swatches, bar positions within a group, category
//! axes and round tick steps.

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, VPos};

use super::counts::wrap_label;
use super::{draw_text, font, plot_err};
use crate::error::Result;

/// Font size of legend entries.
pub(crate) const LEGEND_FONT: f64 = 15.0;
/// Height of a legend row.
pub(crate) const LEGEND_HEIGHT: u32 = 30;
/// Font size of category names under the groups of bars.
const CATEGORY_FONT: f64 = 14.0;
/// Font size of the y-axis description.
const AXIS_FONT: f64 = 16.0;

/// Bar `k` of the `n` bars in the group centred at `group` (groups at 0, 1, … in chart
/// units): its x range. The bars of a group fill 0.8 units, leaving 0.2 between groups.
pub(crate) fn group_bar_x(group: usize, k: usize, n: usize) -> (f64, f64) {
    let width = 0.8 / n.max(1) as f64;
    let left = group as f64 - 0.4 + k as f64 * width;
    (left, left + width)
}

/// One colour swatch and name per entry, in a row of [`LEGEND_HEIGHT`] starting at `top`,
/// centred on `center_x`.
pub(crate) fn draw_legend<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    entries: &[(&str, RGBColor)],
    center_x: i32,
    top: i32,
) -> Result<()> {
    const SWATCH: i32 = 14;
    const SPACING: i32 = 28;
    let style = font(LEGEND_FONT);
    let mut widths = Vec::with_capacity(entries.len());
    for (name, _) in entries {
        widths.push(SWATCH + 6 + style.width(name)? as i32);
    }
    let total: i32 = widths.iter().sum::<i32>() + SPACING * (widths.len() as i32 - 1).max(0);
    let mut x = center_x - total / 2;
    let cy = top + LEGEND_HEIGHT as i32 / 2;
    for ((name, color), width) in entries.iter().zip(widths) {
        let rect = [(x, cy - SWATCH / 2), (x + SWATCH, cy + SWATCH / 2)];
        area.draw(&Rectangle::new(rect, color.filled()))
            .map_err(plot_err)?;
        draw_text(
            area,
            name,
            (x + SWATCH + 6, cy),
            &style,
            HPos::Left,
            VPos::Center,
        )?;
        x += width + SPACING;
    }
    Ok(())
}

/// Axes of a bar chart with one group per category: the L-shaped axis lines from
/// (`left`, `top_y`) down to `axis_y` and right to `right`, and each name of `names`
/// centred under its group at `xs` (on two lines when it is too wide for its group).
/// `desc`, if given, is the y-axis description, reading upwards, centred at that x.
pub(crate) fn draw_category_axes<DB: DrawingBackend, S: AsRef<str>>(
    area: &DrawingArea<DB, Shift>,
    (left, right): (i32, i32),
    (top_y, axis_y): (i32, i32),
    xs: &[i32],
    names: &[S],
    desc: Option<(&str, i32)>,
) -> Result<()> {
    let axes = PathElement::new(vec![(left, top_y), (left, axis_y), (right, axis_y)], BLACK);
    area.draw(&axes).map_err(plot_err)?;
    if let Some((desc, x)) = desc {
        let style = font(AXIS_FONT).upwards();
        let pos = (x, (top_y + axis_y) / 2);
        draw_text(area, desc, pos, &style, HPos::Center, VPos::Center)?;
    }
    let group = (right - left).max(0) as u32 / names.len().max(1) as u32;
    let style = font(CATEGORY_FONT);
    for (&x, name) in xs.iter().zip(names) {
        let lines = wrap_label(name.as_ref(), &style, group.saturating_sub(6))?;
        for (i, line) in lines.iter().enumerate() {
            let y = axis_y + 8 + i as i32 * style.line_height() as i32;
            draw_text(area, line, (x, y), &style, HPos::Center, VPos::Top)?;
        }
    }
    Ok(())
}

/// A round step (1, 2 or 5 × 10^k) not below `raw`; 1 for a `raw` that is not a positive
/// finite number.
pub(crate) fn round_step(raw: f64) -> f64 {
    if !(raw.is_finite() && raw > 0.0) {
        return 1.0;
    }
    let power = 10f64.powf(raw.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * power)
        .find(|&s| s >= raw * (1.0 - 1e-9))
        .unwrap_or(10.0 * power)
}

/// The multiples of `step` in `lo..=hi` (with a little tolerance for rounding), each
/// rounded to the precision of `step`.
pub(crate) fn ticks(lo: f64, hi: f64, step: f64) -> Vec<f64> {
    if !(step > 0.0 && lo.is_finite() && hi.is_finite() && lo <= hi) {
        return Vec::new();
    }
    let first = (lo / step - 1e-9).ceil() as i64;
    let last = (hi / step + 1e-9).floor() as i64;
    let scale = 10f64.powi(tick_decimals(step) as i32);
    (first..=last)
        .map(|k| {
            let v = ((k as f64 * step) * scale).round() / scale;
            // No "-0.0".
            if v == 0.0 { 0.0 } else { v }
        })
        .collect()
}

/// Decimals needed to print multiples of `step` (0 for steps of 1 and more).
pub(crate) fn tick_decimals(step: f64) -> usize {
    if !(step.is_finite() && step > 0.0) || step >= 1.0 {
        return 0;
    }
    (-step.log10() - 1e-9).ceil() as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_of_a_group_are_side_by_side() {
        let (a0, a1) = group_bar_x(2, 0, 2);
        let (b0, b1) = group_bar_x(2, 1, 2);
        assert!((a0 - 1.6).abs() < 1e-12 && (a1 - 2.0).abs() < 1e-12);
        assert!((b0 - 2.0).abs() < 1e-12 && (b1 - 2.4).abs() < 1e-12);
        // No bars: no division by zero.
        assert!(group_bar_x(0, 0, 0).0.is_finite());
    }

    #[test]
    fn steps_ticks_and_decimals_are_round() {
        assert_eq!(round_step(0.167), 0.2);
        assert_eq!(round_step(0.05), 0.05);
        assert_eq!(round_step(0.031), 0.05);
        assert_eq!(round_step(130.0), 200.0);
        assert_eq!(round_step(f64::NAN), 1.0);
        assert_eq!(round_step(0.0), 1.0);
        assert_eq!(ticks(0.0, 1.0, 0.2), [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]);
        assert_eq!(ticks(-0.13, 0.5, 0.1), [-0.1, 0.0, 0.1, 0.2, 0.3, 0.4, 0.5]);
        assert_eq!(ticks(0.42, 0.58, 0.05), [0.45, 0.5, 0.55]);
        assert!(ticks(1.0, 0.0, 0.1).is_empty());
        assert!(ticks(0.0, 1.0, 0.0).is_empty());
        assert_eq!(tick_decimals(0.2), 1);
        assert_eq!(tick_decimals(0.05), 2);
        assert_eq!(tick_decimals(0.1), 1);
        assert_eq!(tick_decimals(2.0), 0);
    }
}
