//! A gallery of misclassified test images, captioned with index, classes and confidence.

use plotters::coord::Shift;
use plotters::element::BitMapElement;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, VPos};

use super::{
    Chart, bold, check_not_empty, draw_text, font, plot_err, register_fonts, title_height,
};
use crate::data::{CLASS_NAMES, Dataset, IMAGE_SIDE};
use crate::error::{Error, Result};
use crate::eval::Misclassified;

const MARGIN: u32 = 12;
const SCALE: u32 = 4;
const TITLE_FONT: f64 = 20.0;
const CAPTION_FONT: f64 = 13.0;
/// Space between the caption lines and the tile below them.
const CAPTION_GAP: u32 = 4;
const HGAP: u32 = 22;
const VGAP: u32 = 12;
const DEFAULT_COLUMNS: usize = 6;
const MAX_IMAGES: usize = 200;

/// The most confident mistakes as grey tiles (4 × 4 screen pixels per image pixel),
/// each under two caption lines: `#index  p = 0.97` and `true → predicted`. Columns are
/// as wide as the widest caption, so no caption is cut or shrunk.
///
/// ```
/// use fashion::data::Dataset;
/// use fashion::eval::misclassified;
/// use fashion::ndarray::{Array1, Array2, Array3};
/// use fashion::plot::{render_svg, MisclassifiedGallery};
/// # fn main() -> fashion::Result<()> {
/// let test = Dataset::new(Array3::zeros((3, 28, 28)), Array1::from(vec![6u8, 0, 1]))?;
/// let mut probs = Array2::zeros((3, 10));
/// probs[[0, 0]] = 0.97;
/// probs[[1, 0]] = 0.9;
/// probs[[2, 3]] = 0.6;
/// let wrong = misclassified(test.labels.as_slice().unwrap(), &[0, 0, 3], &probs, None)?;
/// let gallery = MisclassifiedGallery::new(&test, &wrong, 10)?;
/// let svg = render_svg(&gallery)?;
/// assert!(svg.0.contains("Shirt → T-shirt/top"));
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct MisclassifiedGallery {
    tiles: Vec<Tile>,
    columns: usize,
    /// Width of a column: the tile or the widest caption, whichever is wider.
    column_width: u32,
    title: Option<String>,
}

#[derive(Debug, Clone)]
struct Tile {
    pixels: Vec<u8>,
    /// `#index  p = 0.97`.
    first: String,
    /// `true → predicted`.
    second: String,
}

impl MisclassifiedGallery {
    /// The first `max` examples of `wrong` (as ordered by
    /// [`misclassified`](crate::eval::misclassified): most confident first), whose images
    /// are taken from `data` at [`Misclassified::index`], 6 per row.
    ///
    /// Errors: `max` outside `1..=200`, an empty `wrong` or `data`, an index not in
    /// `data`, or a class outside 0–9.
    pub fn new(data: &Dataset, wrong: &[Misclassified], max: usize) -> Result<Self> {
        if max == 0 || max > MAX_IMAGES {
            return Err(Error::invalid(
                "max",
                format!("1..={MAX_IMAGES} images"),
                max,
            ));
        }
        if wrong.is_empty() {
            return Err(Error::invalid(
                "wrong",
                "at least one misclassified example",
                "none",
            ));
        }
        check_not_empty("data", data)?;
        let shown = &wrong[..max.min(wrong.len())];
        let mut tiles = Vec::with_capacity(shown.len());
        for m in shown {
            if m.index >= data.len() {
                return Err(Error::invalid(
                    "wrong",
                    format!("indices below {} (the data set's length)", data.len()),
                    m.index,
                ));
            }
            let name = |c: u8| {
                CLASS_NAMES
                    .get(c as usize)
                    .copied()
                    .ok_or(crate::data::Error::LabelOutOfRange {
                        file: "wrong".into(),
                        index: m.index,
                        label: c,
                    })
            };
            tiles.push(Tile {
                pixels: data.image(m.index).iter().copied().collect(),
                first: format!("#{}  p = {:.2}", m.index, m.p),
                second: format!("{} → {}", name(m.true_class)?, name(m.predicted)?),
            });
        }
        let style = font(CAPTION_FONT);
        let mut column_width = IMAGE_SIDE as u32 * SCALE;
        for tile in &tiles {
            column_width = column_width
                .max(style.width(&tile.first)?)
                .max(style.width(&tile.second)?);
        }
        Ok(MisclassifiedGallery {
            columns: DEFAULT_COLUMNS.min(tiles.len()),
            tiles,
            column_width,
            title: Some("Most confident mistakes".into()),
        })
    }

    /// Sets the number of columns (default 6, at most the number of images).
    pub fn with_columns(mut self, columns: usize) -> Result<Self> {
        if columns == 0 {
            return Err(Error::invalid("columns", "at least 1", columns));
        }
        self.columns = columns.min(self.tiles.len());
        Ok(self)
    }

    /// Replaces the title (default "Most confident mistakes").
    pub fn with_title(mut self, title: impl Into<String>) -> Self {
        self.title = Some(title.into());
        self
    }

    /// Number of images shown.
    pub fn len(&self) -> usize {
        self.tiles.len()
    }

    /// Whether no image is shown (never, for a gallery that was built).
    pub fn is_empty(&self) -> bool {
        self.tiles.is_empty()
    }

    fn rows(&self) -> usize {
        self.tiles.len().div_ceil(self.columns)
    }

    fn caption_height(&self) -> u32 {
        2 * font(CAPTION_FONT).line_height() + CAPTION_GAP
    }

    /// Top-left pixel of the image of slot `i` (row-major).
    pub(crate) fn tile_origin(&self, i: usize) -> (i32, i32) {
        let side = IMAGE_SIDE as u32 * SCALE;
        let (row, col) = ((i / self.columns) as u32, (i % self.columns) as u32);
        let x = MARGIN + col * (self.column_width + HGAP) + (self.column_width - side) / 2;
        let y = MARGIN
            + title_height(&self.title, TITLE_FONT)
            + row * (self.caption_height() + side + VGAP)
            + self.caption_height();
        (x as i32, y as i32)
    }
}

impl Chart for MisclassifiedGallery {
    fn size(&self) -> (u32, u32) {
        let side = IMAGE_SIDE as u32 * SCALE;
        let (rows, cols) = (self.rows() as u32, self.columns as u32);
        let w = 2 * MARGIN + cols * self.column_width + (cols - 1) * HGAP;
        let h = 2 * MARGIN
            + title_height(&self.title, TITLE_FONT)
            + rows * (self.caption_height() + side)
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
        let side = IMAGE_SIDE as u32 * SCALE;
        let scale = SCALE as usize;
        let style = font(CAPTION_FONT);
        let line = style.line_height() as i32;
        for (i, tile) in self.tiles.iter().enumerate() {
            let (x, y) = self.tile_origin(i);
            let mut rgb = vec![0u8; (side * side * 3) as usize];
            for (py, row) in rgb.chunks_exact_mut(side as usize * 3).enumerate() {
                let src = &tile.pixels[(py / scale) * IMAGE_SIDE..][..IMAGE_SIDE];
                for (px, out) in row.chunks_exact_mut(3).enumerate() {
                    out.fill(src[px / scale]);
                }
            }
            let bitmap = BitMapElement::with_owned_buffer((x, y), (side, side), rgb)
                .ok_or_else(|| Error::Plot("tile buffer has the wrong size".into()))?;
            area.draw(&bitmap).map_err(plot_err)?;
            let cx = x + side as i32 / 2;
            let bottom = y - CAPTION_GAP as i32;
            draw_text(
                area,
                &tile.first,
                (cx, bottom - line),
                &style,
                HPos::Center,
                VPos::Bottom,
            )?;
            draw_text(
                area,
                &tile.second,
                (cx, bottom),
                &style,
                HPos::Center,
                VPos::Bottom,
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

    fn mistake(index: usize, true_class: u8, predicted: u8, p: f32) -> Misclassified {
        Misclassified {
            index,
            true_class,
            predicted,
            p,
        }
    }

    #[test]
    fn tiles_show_the_right_images_with_captions() {
        let data = synthetic(30);
        let wrong = [
            mistake(16, 6, 0, 0.97),
            mistake(2, 2, 4, 0.91),
            mistake(29, 9, 7, 0.5),
        ];
        let gallery = MisclassifiedGallery::new(&data, &wrong, 10)
            .unwrap()
            .with_columns(2)
            .unwrap();
        assert_eq!(gallery.len(), 3);
        let svg = render_svg(&gallery).unwrap().0;
        assert_eq!(
            svg_texts(&svg),
            [
                "Most confident mistakes",
                "#16  p = 0.97",
                "Shirt → T-shirt/top",
                "#2  p = 0.91",
                "Pullover → Coat",
                "#29  p = 0.50",
                "Ankle boot → Sneaker",
            ]
        );
        let (w, h) = gallery.size();
        let rgb = render_rgb(&gallery).unwrap();
        assert_eq!(rgb.len(), (w * h * 3) as usize);
        for (slot, image) in [(0usize, 16usize), (1, 2), (2, 29)] {
            let (x, y) = gallery.tile_origin(slot);
            let (r, c) = bright_pixel(image);
            let v = data.images[[image, r, c]];
            let (px, py) = (x as u32 + 4 * c as u32 + 2, y as u32 + 4 * r as u32 + 2);
            assert_eq!(rgb_at(&rgb, w, px, py), [v; 3], "slot {slot}");
            // The caption's ink lies in the band just above the tile.
            let dark = (y as u32 - 36..y as u32)
                .flat_map(|yy| (x as u32..x as u32 + 112).map(move |xx| (xx, yy)))
                .filter(|&(xx, yy)| rgb_at(&rgb, w, xx, yy)[0] < 100)
                .count();
            assert!(
                dark > 40,
                "slot {slot}: caption missing ({dark} dark pixels)"
            );
        }
        // Slot 2 starts the second row.
        assert!(gallery.tile_origin(2).1 > gallery.tile_origin(0).1 + 112);
        assert_eq!(render_png(&gallery).unwrap().dimensions(), Some((w, h)));
    }

    #[test]
    fn captions_fit_their_columns() {
        // The widest names: every caption must fit its column, so columns do not
        // overlap.
        let data = synthetic(30);
        let wrong: Vec<Misclassified> = (0..12)
            .map(|i| mistake(i, 2, 9, 0.123))
            .chain([mistake(20, 0, 2, 1.0)])
            .collect();
        let gallery = MisclassifiedGallery::new(&data, &wrong, 100).unwrap();
        let style = font(CAPTION_FONT);
        let widest = style.width("Pullover → Ankle boot").unwrap();
        assert!(gallery.column_width >= widest);
        let (x0, _) = gallery.tile_origin(0);
        let (x1, _) = gallery.tile_origin(1);
        assert!((x1 - x0) as u32 >= widest + HGAP);
        // At most `max` images.
        assert_eq!(
            MisclassifiedGallery::new(&data, &wrong, 5).unwrap().len(),
            5
        );
    }

    #[test]
    fn bad_parameters_are_errors() {
        let data = synthetic(10);
        let ok = [mistake(3, 3, 1, 0.9)];
        let name = |r: Result<MisclassifiedGallery>| match r {
            Err(Error::Params(crate::ParamError { name, .. })) => name,
            other => panic!("expected a ParamError, got {other:?}"),
        };
        assert_eq!(name(MisclassifiedGallery::new(&data, &ok, 0)), "max");
        assert_eq!(name(MisclassifiedGallery::new(&data, &ok, 201)), "max");
        assert_eq!(name(MisclassifiedGallery::new(&data, &[], 5)), "wrong");
        assert_eq!(name(MisclassifiedGallery::new(&empty(), &ok, 5)), "data");
        let out = [mistake(10, 3, 1, 0.9)];
        assert_eq!(name(MisclassifiedGallery::new(&data, &out, 5)), "wrong");
        let g = MisclassifiedGallery::new(&data, &ok, 5).unwrap();
        assert_eq!(name(g.with_columns(0)), "columns");
        let bad_class = [mistake(3, 12, 1, 0.9)];
        assert!(matches!(
            MisclassifiedGallery::new(&data, &bad_class, 5),
            Err(Error::Data(crate::data::Error::LabelOutOfRange {
                label: 12,
                ..
            }))
        ));
    }
}
