//! The mean image of each class, in a perceptual colour map with a colour bar.

use ndarray::Array3;
use plotters::coord::Shift;
use plotters::element::BitMapElement;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, VPos};

use super::{
    Chart, bold, check_not_empty, draw_text, font, plot_err, register_fonts, title_height,
};
use crate::data::{CLASS_NAMES, Dataset, IMAGE_SIDE, NUM_CLASSES};
use crate::error::{Error, Result};

const MARGIN: u32 = 12;
const SCALE: u32 = 5;
const COLUMNS: usize = 5;
const ROWS: usize = 2;
const TITLE_FONT: f64 = 20.0;
const CAPTION_FONT: f64 = 15.0;
const CAPTION_HEIGHT: u32 = 24;
const TICK_FONT: f64 = 14.0;
const HGAP: u32 = 16;
const VGAP: u32 = 12;
/// Space between the last tile column and the colour bar.
const BAR_GAP: u32 = 28;
const BAR_WIDTH: u32 = 20;
/// Space right of the colour bar for its tick labels.
const BAR_LABELS: u32 = 60;

/// The mean image of each class (pixel values scaled to `[0, 1]`), 2 rows × 5, each
/// titled by its class name and drawn in the viridis colour map over the range shared by
/// all ten, which a colour bar shows.
#[derive(Debug, Clone)]
pub struct MeanImages {
    /// `10 × 28 × 28`, in `[0, 1]`.
    means: Array3<f32>,
    counts: [usize; NUM_CLASSES],
    title: Option<String>,
}

impl MeanImages {
    /// Computes the class means of `data`.
    ///
    /// Errors: an empty data set.
    pub fn new(data: &Dataset) -> Result<MeanImages> {
        check_not_empty("data", data)?;
        Ok(MeanImages {
            means: data.class_means(),
            counts: data.class_counts(),
            title: Some("Mean image of each class".into()),
        })
    }

    /// Uses precomputed means (`10 × 28 × 28`, values in `[0, 1]`); `counts` gives the
    /// images behind each (a class with 0 is marked "no images").
    pub fn from_means(means: Array3<f32>, counts: [usize; NUM_CLASSES]) -> Result<MeanImages> {
        if means.dim() != (NUM_CLASSES, IMAGE_SIDE, IMAGE_SIDE) {
            return Err(Error::invalid(
                "means",
                format!("shape {NUM_CLASSES}×{IMAGE_SIDE}×{IMAGE_SIDE}"),
                format!("{:?}", means.shape()),
            ));
        }
        if let Some(bad) = means.iter().find(|v| !v.is_finite()) {
            return Err(Error::invalid("means", "finite values", bad));
        }
        Ok(MeanImages {
            means,
            counts,
            title: Some("Mean image of each class".into()),
        })
    }

    /// Replaces the title (default "Mean image of each class").
    pub fn with_title(mut self, title: impl Into<String>) -> MeanImages {
        self.title = Some(title.into());
        self
    }

    /// The class means, `10 × 28 × 28`.
    pub fn means(&self) -> &Array3<f32> {
        &self.means
    }

    /// The colour range: smallest and largest mean pixel over the classes with images.
    pub fn range(&self) -> (f32, f32) {
        let mut lo = f32::INFINITY;
        let mut hi = f32::NEG_INFINITY;
        for (class, img) in self.means.outer_iter().enumerate() {
            if self.counts[class] == 0 {
                continue;
            }
            for &v in img.iter() {
                lo = lo.min(v);
                hi = hi.max(v);
            }
        }
        if lo > hi { (0.0, 1.0) } else { (lo, hi) }
    }

    /// Top-left pixel of the tile of `class`.
    pub(crate) fn tile_origin(&self, class: usize) -> (i32, i32) {
        let side = IMAGE_SIDE as u32 * SCALE;
        let (row, col) = ((class / COLUMNS) as u32, (class % COLUMNS) as u32);
        let x = MARGIN + col * (side + HGAP);
        let y = MARGIN
            + title_height(&self.title, TITLE_FONT)
            + row * (CAPTION_HEIGHT + side + VGAP)
            + CAPTION_HEIGHT;
        (x as i32, y as i32)
    }
}

/// `v` in `[lo, hi]` as a viridis colour.
fn color(v: f32, lo: f32, hi: f32) -> RGBColor {
    let t = if hi > lo { (v - lo) / (hi - lo) } else { 0.5 };
    ViridisRGB::get_color(t.clamp(0.0, 1.0))
}

impl Chart for MeanImages {
    fn size(&self) -> (u32, u32) {
        let side = IMAGE_SIDE as u32 * SCALE;
        let cols = COLUMNS as u32;
        let rows = ROWS as u32;
        let w = 2 * MARGIN + cols * side + (cols - 1) * HGAP + BAR_GAP + BAR_WIDTH + BAR_LABELS;
        let h = 2 * MARGIN
            + title_height(&self.title, TITLE_FONT)
            + rows * (CAPTION_HEIGHT + side)
            + (rows - 1) * VGAP;
        (w, h)
    }

    fn draw<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> Result<()> {
        register_fonts()?;
        area.fill(&WHITE).map_err(plot_err)?;
        let (w, _) = self.size();
        if let Some(title) = &self.title {
            let pos = ((w / 2) as i32, MARGIN as i32);
            draw_text(area, title, pos, &bold(TITLE_FONT), HPos::Center, VPos::Top)?;
        }
        let (lo, hi) = self.range();
        let side = IMAGE_SIDE as u32 * SCALE;
        let scale = SCALE as usize;
        for (class, img) in self.means.outer_iter().enumerate() {
            let (x, y) = self.tile_origin(class);
            let caption = if self.counts[class] == 0 {
                format!("{} (no images)", CLASS_NAMES[class])
            } else {
                CLASS_NAMES[class].to_string()
            };
            let pos = (x + side as i32 / 2, y - 5);
            draw_text(
                area,
                &caption,
                pos,
                &font(CAPTION_FONT),
                HPos::Center,
                VPos::Bottom,
            )?;
            if self.counts[class] == 0 {
                let frame = [(x, y), (x + side as i32 - 1, y + side as i32 - 1)];
                area.draw(&Rectangle::new(frame, BLACK.mix(0.3)))
                    .map_err(plot_err)?;
                continue;
            }
            let mut rgb = vec![0u8; (side * side * 3) as usize];
            for (py, line) in rgb.chunks_exact_mut(side as usize * 3).enumerate() {
                for (px, out) in line.chunks_exact_mut(3).enumerate() {
                    let c = color(img[[py / scale, px / scale]], lo, hi);
                    out.copy_from_slice(&[c.0, c.1, c.2]);
                }
            }
            let bitmap = BitMapElement::with_owned_buffer((x, y), (side, side), rgb)
                .ok_or_else(|| Error::Plot("tile buffer has the wrong size".into()))?;
            area.draw(&bitmap).map_err(plot_err)?;
        }
        self.draw_colour_bar(area, lo, hi)
    }
}

impl MeanImages {
    /// A vertical viridis bar from the top of the first tile row to the bottom of the
    /// last, with five labelled ticks.
    fn draw_colour_bar<DB: DrawingBackend>(
        &self,
        area: &DrawingArea<DB, Shift>,
        lo: f32,
        hi: f32,
    ) -> Result<()> {
        let side = IMAGE_SIDE as i32 * SCALE as i32;
        let (last_x, top) = self.tile_origin(COLUMNS - 1);
        let (_, last_row_y) = self.tile_origin(NUM_CLASSES - 1);
        let bottom = last_row_y + side - 1;
        let x0 = last_x + side + BAR_GAP as i32;
        let x1 = x0 + BAR_WIDTH as i32 - 1;
        let span = (bottom - top).max(1) as f32;
        let mut rgb = Vec::with_capacity((BAR_WIDTH as i32 * (bottom - top + 1) * 3) as usize);
        for y in top..=bottom {
            let c = color(hi - (y - top) as f32 / span * (hi - lo), lo, hi);
            for _ in 0..BAR_WIDTH {
                rgb.extend_from_slice(&[c.0, c.1, c.2]);
            }
        }
        let size = (BAR_WIDTH, (bottom - top + 1) as u32);
        let bar = BitMapElement::with_owned_buffer((x0, top), size, rgb)
            .ok_or_else(|| Error::Plot("colour bar buffer has the wrong size".into()))?;
        area.draw(&bar).map_err(plot_err)?;
        let frame = [(x0 - 1, top - 1), (x1 + 1, bottom + 1)];
        area.draw(&Rectangle::new(frame, BLACK.mix(0.5)))
            .map_err(plot_err)?;
        let caption_pos = (x0 + BAR_WIDTH as i32 / 2 + 8, top - 10);
        draw_text(
            area,
            "mean",
            caption_pos,
            &font(CAPTION_FONT),
            HPos::Center,
            VPos::Bottom,
        )?;
        for k in 0..=4 {
            let y = bottom - ((bottom - top) as f32 * k as f32 / 4.0).round() as i32;
            let v = lo + (hi - lo) * k as f32 / 4.0;
            area.draw(&PathElement::new(vec![(x1 + 1, y), (x1 + 6, y)], BLACK))
                .map_err(plot_err)?;
            let label = format!("{v:.2}");
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
    use ndarray::Array1;

    use super::super::testdata::*;
    use super::super::{render_png, render_rgb, render_svg};
    use super::*;

    /// 20 images; every pixel of a class-`c` image is `20 c`, so class `c`'s mean is
    /// `20 c / 255` everywhere.
    fn flat_classes() -> Dataset {
        let labels = Array1::from_shape_fn(20, |i| (i % 10) as u8);
        let images = Array3::from_shape_fn((20, 28, 28), |(i, _, _)| (20 * (i % 10)) as u8);
        Dataset::new(images, labels).unwrap()
    }

    #[test]
    fn tiles_use_viridis_over_the_shared_range() {
        let chart = MeanImages::new(&flat_classes()).unwrap();
        let (lo, hi) = chart.range();
        assert_eq!(lo, 0.0);
        assert!((hi - 180.0 / 255.0).abs() < 1e-6, "{hi}");
        let (w, h) = chart.size();
        let rgb = render_rgb(&chart).unwrap();
        assert_eq!(rgb.len(), (w * h * 3) as usize);
        let at = |class: usize, dx: u32, dy: u32| {
            let (x, y) = chart.tile_origin(class);
            rgb_at(&rgb, w, x as u32 + dx, y as u32 + dy)
        };
        // Class 0 is the range's bottom, class 9 its top: viridis' ends.
        assert_eq!(at(0, 70, 70), [68, 1, 84]);
        assert_eq!(at(9, 0, 0), [254, 232, 37]);
        assert_eq!(at(9, 139, 139), [254, 232, 37]);
        // Class 4 (80/255 of 180/255, t = 4/9) lies between viridis' 4th and 5th stops.
        let c4 = ViridisRGB::get_color(4.0f32 / 9.0);
        let got = at(4, 10, 10);
        for (g, e) in got.iter().zip([c4.0, c4.1, c4.2]) {
            assert!(g.abs_diff(e) <= 1, "class 4: {got:?} vs {c4:?}");
        }
        assert_ne!(got, at(5, 10, 10));
        // Tiles are 140 px: the pixel just past a tile is background.
        assert_eq!(at(0, 140, 70), [255; 3]);
        // Class 5 starts the second row.
        assert!(chart.tile_origin(5).1 > chart.tile_origin(4).1 + 140);
    }

    #[test]
    fn svg_has_class_titles_and_range_labels() {
        let chart = MeanImages::new(&synthetic(30)).unwrap();
        let svg = render_svg(&chart).unwrap().0;
        assert!(svg.starts_with("<svg"));
        let texts = svg_texts(&svg);
        assert_eq!(texts[0], "Mean image of each class");
        assert_eq!(texts[1..11], CLASS_NAMES.map(String::from));
        let (lo, hi) = chart.range();
        assert!(lo < hi);
        assert_eq!(texts[11], "mean");
        assert_eq!(texts[12], format!("{lo:.2}"));
        assert_eq!(texts[16], format!("{hi:.2}"));
        assert_eq!(
            svg.matches("<image").count(),
            11,
            "10 tiles and the colour bar"
        );
        let png = render_png(&chart).unwrap();
        assert_eq!(png.dimensions(), Some(chart.size()));
    }

    #[test]
    fn absent_classes_and_bad_input() {
        // 5 images: classes 5..9 have none.
        let chart = MeanImages::new(&synthetic(5)).unwrap();
        let texts = svg_texts(&render_svg(&chart).unwrap().0);
        assert!(texts.contains(&"Bag (no images)".to_string()), "{texts:?}");
        assert!(texts.contains(&"Coat".to_string()), "{texts:?}");
        let err = MeanImages::new(&empty()).unwrap_err();
        assert!(
            matches!(err, Error::Params(crate::ParamError { name: "data", .. })),
            "{err}"
        );
        let err = MeanImages::from_means(Array3::zeros((10, 28, 27)), [1; 10]).unwrap_err();
        assert!(err.to_string().contains("[10, 28, 27]"), "{err}");
        let mut nan = Array3::zeros((10, 28, 28));
        nan[[3, 3, 3]] = f32::NAN;
        assert!(MeanImages::from_means(nan, [1; 10]).is_err());
    }
}
