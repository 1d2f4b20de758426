//! A grid of images: one row per class (like the Fashion-MNIST README), or chosen
//! images with captions.

use plotters::coord::Shift;
use plotters::element::BitMapElement;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, VPos};

use super::text::Style;
use super::{
    Chart, bold, check_not_empty, draw_text, font, plot_err, register_fonts, title_height,
};
use crate::data::{CLASS_NAMES, Dataset, IMAGE_SIDE, NUM_CLASSES};
use crate::error::{Error, Result};

const MARGIN: u32 = 12;
const TITLE_FONT: f64 = 20.0;
const LABEL_FONT: f64 = 16.0;
const CAPTION_FONT: f64 = 14.0;
const MIN_CAPTION_FONT: f64 = 11.0;
const CAPTION_HEIGHT: u32 = 22;
const MAX_SCALE: u32 = 16;
const MAX_PER_CLASS: usize = 100;

/// Images as grey tiles (white clothes on black, the raw pixel values), in a grid.
///
/// [`SampleGrid::new`] shows one row per class with the class name on the left;
/// [`SampleGrid::from_indices`] shows chosen images with a caption above each.
#[derive(Debug, Clone)]
pub struct SampleGrid {
    /// Row-major tile slots; `None` leaves a slot empty.
    tiles: Vec<Option<Tile>>,
    rows: usize,
    columns: usize,
    /// One label per row (class mode), or empty.
    row_labels: Vec<String>,
    /// Width reserved for the row labels, in pixels.
    label_width: u32,
    /// Whether tiles have captions above them.
    captioned: bool,
    scale: u32,
    title: Option<String>,
}

#[derive(Debug, Clone)]
struct Tile {
    pixels: Vec<u8>,
    caption: String,
}

impl SampleGrid {
    /// One row per class, showing the first `per_class` images of that class in data-set
    /// order, with the class name on the left. A class with fewer images leaves empty
    /// slots. Each image pixel becomes a 2 × 2 block (see [`with_scale`](Self::with_scale)).
    ///
    /// Errors: `per_class` outside `1..=100`, or an empty data set.
    pub fn new(data: &Dataset, per_class: usize) -> Result<SampleGrid> {
        if per_class == 0 || per_class > MAX_PER_CLASS {
            return Err(Error::invalid(
                "per_class",
                format!("1..={MAX_PER_CLASS} images per class"),
                per_class,
            ));
        }
        check_not_empty("data", data)?;
        let mut tiles = Vec::with_capacity(NUM_CLASSES * per_class);
        for class in 0..NUM_CLASSES {
            let indices = data.indices_of_class(class);
            for j in 0..per_class {
                tiles.push(indices.get(j).map(|&i| tile(data, i)));
            }
        }
        let row_labels: Vec<String> = CLASS_NAMES.iter().map(|s| s.to_string()).collect();
        let label_width = label_width(&row_labels)?;
        Ok(SampleGrid {
            tiles,
            rows: NUM_CLASSES,
            columns: per_class,
            row_labels,
            label_width,
            captioned: false,
            scale: 2,
            title: None,
        })
    }

    /// The images at `indices`, in that order, `columns` per row, each captioned with its
    /// class name (see [`with_captions`](Self::with_captions)). Each image pixel becomes
    /// a 3 × 3 block.
    ///
    /// Errors: no indices, an index out of range, or `columns == 0`.
    pub fn from_indices(data: &Dataset, indices: &[usize], columns: usize) -> Result<SampleGrid> {
        if indices.is_empty() {
            return Err(Error::invalid("indices", "at least one index", "none"));
        }
        if columns == 0 {
            return Err(Error::invalid("columns", "at least 1", columns));
        }
        if let Some(&bad) = indices.iter().find(|&&i| i >= data.len()) {
            return Err(Error::invalid(
                "indices",
                format!("indices below {} (the data set's length)", data.len()),
                bad,
            ));
        }
        let columns = columns.min(indices.len());
        Ok(SampleGrid {
            tiles: indices.iter().map(|&i| Some(tile(data, i))).collect(),
            rows: indices.len().div_ceil(columns),
            columns,
            row_labels: Vec::new(),
            label_width: 0,
            captioned: true,
            scale: 3,
            title: None,
        })
    }

    /// Replaces the captions above the images (in the order of the images shown; e.g.
    /// "true → predicted"). Turns captions on for a per-class grid too.
    ///
    /// Errors: not exactly one caption per image shown.
    pub fn with_captions<S: Into<String>>(
        mut self,
        captions: impl IntoIterator<Item = S>,
    ) -> Result<SampleGrid> {
        let captions: Vec<String> = captions.into_iter().map(Into::into).collect();
        let shown = self.tiles.iter().flatten().count();
        if captions.len() != shown {
            return Err(Error::invalid(
                "captions",
                format!("one caption per image shown ({shown})"),
                captions.len(),
            ));
        }
        for (tile, caption) in self.tiles.iter_mut().flatten().zip(captions) {
            tile.caption = caption;
        }
        self.captioned = true;
        Ok(self)
    }

    /// Labels the rows on the left (e.g. what each row of chosen images shows).
    ///
    /// Errors: not exactly one label per row.
    pub fn with_row_labels<S: Into<String>>(
        mut self,
        labels: impl IntoIterator<Item = S>,
    ) -> Result<SampleGrid> {
        let labels: Vec<String> = labels.into_iter().map(Into::into).collect();
        if labels.len() != self.rows {
            return Err(Error::invalid(
                "row_labels",
                format!("one label per row ({})", self.rows),
                labels.len(),
            ));
        }
        self.label_width = label_width(&labels)?;
        self.row_labels = labels;
        Ok(self)
    }

    /// Sets the size of one image pixel on screen, in pixels (`1..=16`).
    pub fn with_scale(mut self, scale: u32) -> Result<SampleGrid> {
        if scale == 0 || scale > MAX_SCALE {
            return Err(Error::invalid("scale", format!("1..={MAX_SCALE}"), scale));
        }
        self.scale = scale;
        Ok(self)
    }

    /// Adds a title above the grid.
    pub fn with_title(mut self, title: impl Into<String>) -> SampleGrid {
        self.title = Some(title.into());
        self
    }

    /// Rows and columns of the grid.
    pub fn grid(&self) -> (usize, usize) {
        (self.rows, self.columns)
    }

    fn tile_side(&self) -> u32 {
        IMAGE_SIDE as u32 * self.scale
    }

    /// Horizontal and vertical space between tiles.
    fn gaps(&self) -> (u32, u32) {
        if self.captioned { (10, 6) } else { (2, 2) }
    }

    fn caption_height(&self) -> u32 {
        if self.captioned { CAPTION_HEIGHT } else { 0 }
    }

    fn label_column(&self) -> u32 {
        if self.row_labels.is_empty() {
            0
        } else {
            self.label_width
        }
    }

    /// Top-left pixel of the tile in grid row `row`, column `col`.
    pub(crate) fn tile_origin(&self, row: usize, col: usize) -> (i32, i32) {
        let (hgap, vgap) = self.gaps();
        let side = self.tile_side();
        let x = MARGIN + self.label_column() + col as u32 * (side + hgap);
        let y = MARGIN
            + title_height(&self.title, TITLE_FONT)
            + row as u32 * (self.caption_height() + side + vgap)
            + self.caption_height();
        (x as i32, y as i32)
    }
}

/// Copies image `i` as a tile captioned with its class name.
fn tile(data: &Dataset, i: usize) -> Tile {
    Tile {
        pixels: data.image(i).iter().copied().collect(),
        caption: CLASS_NAMES[data.labels[i] as usize].to_string(),
    }
}

/// Width of the row-label column: the widest label plus padding.
fn label_width(labels: &[String]) -> Result<u32> {
    let style = font(LABEL_FONT);
    let mut widest = 0;
    for label in labels {
        widest = widest.max(style.width(label)?);
    }
    Ok(widest + 16)
}

impl Chart for SampleGrid {
    fn size(&self) -> (u32, u32) {
        let (hgap, vgap) = self.gaps();
        let side = self.tile_side();
        let (rows, cols) = (self.rows as u32, self.columns as u32);
        let w = 2 * MARGIN + self.label_column() + cols * side + (cols - 1) * hgap;
        let h = 2 * MARGIN
            + title_height(&self.title, TITLE_FONT)
            + rows * (self.caption_height() + side)
            + (rows - 1) * vgap;
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
        let side = self.tile_side();
        let scale = self.scale as usize;
        let (hgap, _) = self.gaps();
        for (slot, tile) in self.tiles.iter().enumerate() {
            let Some(tile) = tile else { continue };
            let (row, col) = (slot / self.columns, slot % self.columns);
            let (x, y) = self.tile_origin(row, col);
            let mut rgb = vec![0u8; (side * side * 3) as usize];
            for (py, line) in rgb.chunks_exact_mut(side as usize * 3).enumerate() {
                let src = &tile.pixels[(py / scale) * IMAGE_SIDE..][..IMAGE_SIDE];
                for (px, out) in line.chunks_exact_mut(3).enumerate() {
                    out.fill(src[px / scale]);
                }
            }
            let bitmap = BitMapElement::with_owned_buffer((x, y), (side, side), rgb)
                .ok_or_else(|| Error::Plot("tile buffer has the wrong size".into()))?;
            area.draw(&bitmap).map_err(plot_err)?;
            if self.captioned && !tile.caption.is_empty() {
                let style = fitted_font(&tile.caption, side + hgap - 2)?;
                let pos = (x + side as i32 / 2, y - 4);
                draw_text(area, &tile.caption, pos, &style, HPos::Center, VPos::Bottom)?;
            }
        }
        for (row, label) in self.row_labels.iter().enumerate() {
            let (x, y) = self.tile_origin(row, 0);
            let pos = (x - 10, y + side as i32 / 2);
            draw_text(
                area,
                label,
                pos,
                &font(LABEL_FONT),
                HPos::Right,
                VPos::Center,
            )?;
        }
        Ok(())
    }
}

/// The caption font, shrunk (down to 11 px) until `text` fits in `width` pixels.
fn fitted_font(text: &str, width: u32) -> Result<Style> {
    let mut size = CAPTION_FONT;
    loop {
        let style = font(size);
        if style.width(text)? <= width || size <= MIN_CAPTION_FONT {
            return Ok(style);
        }
        size -= 1.0;
    }
}

#[cfg(test)]
mod tests {
    use super::super::testdata::*;
    use super::super::{render_png, render_rgb, render_svg};
    use super::*;

    #[test]
    fn rows_are_classes_and_pixels_land_where_expected() {
        let data = synthetic(30);
        let grid = SampleGrid::new(&data, 3).unwrap();
        assert_eq!(grid.grid(), (10, 3));
        let (w, h) = grid.size();
        let rgb = render_rgb(&grid).unwrap();
        assert_eq!(rgb.len(), (w * h * 3) as usize);
        let s = 2;
        // Row = class, column = j-th image of that class: image 13 is class 3's second.
        for (image, row, col) in [(13usize, 3usize, 1usize), (0, 0, 0), (29, 9, 2)] {
            let (x0, y0) = grid.tile_origin(row, col);
            let (x0, y0) = (x0 as u32, y0 as u32);
            let (r, c) = bright_pixel(image);
            let v = data.images[[image, r, c]];
            assert!(v >= 200);
            for (dy, dx) in [(0, 0), (0, 1), (1, 0), (1, 1)] {
                let (x, y) = (x0 + c as u32 * s + dx, y0 + r as u32 * s + dy);
                assert_eq!(rgb_at(&rgb, w, x, y), [v; 3], "image {image} at ({x}, {y})");
            }
            // The tile's first pixel is the image's (0, 0); just outside is background.
            let v00 = data.images[[image, 0, 0]];
            assert_eq!(rgb_at(&rgb, w, x0, y0), [v00; 3]);
            assert_eq!(rgb_at(&rgb, w, x0 + 27 * s + 1, y0 + 27 * s + 1), {
                [data.images[[image, 27, 27]]; 3]
            });
            assert_eq!(rgb_at(&rgb, w, x0 + 28 * s, y0 + 5), [255; 3]);
            assert_eq!(rgb_at(&rgb, w, x0 + 5, y0 + 28 * s), [255; 3]);
        }
        // Tiles sit right of the label column and in the expected pitch.
        let (x0, y0) = grid.tile_origin(0, 0);
        assert_eq!(grid.tile_origin(1, 1), (x0 + 58, y0 + 58));
        assert!(x0 > 100, "label column too narrow: {x0}");
        // Row labels left dark pixels left of the first tile in row 3.
        let (_, y3) = grid.tile_origin(3, 0);
        let dark = (MARGIN..x0 as u32)
            .flat_map(|x| (y3 as u32..y3 as u32 + 56).map(move |y| (x, y)))
            .filter(|&(x, y)| rgb_at(&rgb, w, x, y)[0] < 100)
            .count();
        assert!(dark > 30, "no row label drawn ({dark} dark pixels)");
    }

    #[test]
    fn missing_images_leave_empty_slots() {
        // 12 images: classes 0 and 1 have two, the others one.
        let data = synthetic(12);
        let grid = SampleGrid::new(&data, 2).unwrap();
        let (w, _) = grid.size();
        let rgb = render_rgb(&grid).unwrap();
        let (x, y) = grid.tile_origin(1, 1); // class 1, image 11
        let (r, c) = bright_pixel(11);
        assert_eq!(
            rgb_at(&rgb, w, x as u32 + 2 * c as u32, y as u32 + 2 * r as u32),
            [211; 3]
        );
        let (x, y) = grid.tile_origin(5, 1); // class 5 has no second image
        assert_eq!(rgb_at(&rgb, w, x as u32 + 20, y as u32 + 20), [255; 3]);
    }

    #[test]
    fn svg_names_every_class_and_png_has_the_size() {
        let grid = SampleGrid::new(&synthetic(30), 2)
            .unwrap()
            .with_title("Samples");
        let svg = render_svg(&grid).unwrap().0;
        assert!(svg.starts_with("<svg"));
        let mut expected = vec!["Samples".to_string()];
        expected.extend(CLASS_NAMES.iter().map(|s| s.to_string()));
        assert_eq!(svg_texts(&svg), expected);
        // Tiles are embedded PNG bitmaps, not one element per pixel.
        assert_eq!(svg.matches("<image").count(), 20);
        let png_uri = "<image style=\"image-rendering:pixelated\" x=\"";
        assert_eq!(svg.matches(png_uri).count(), 20);
        assert_eq!(
            svg.matches("href=\"data:image/png;base64,iVBORw0KGgo")
                .count(),
            20
        );
        assert!(svg.len() < 200_000, "SVG is {} bytes", svg.len());
        let png = render_png(&grid).unwrap();
        assert_eq!(png.dimensions(), Some(grid.size()));
    }

    #[test]
    fn from_indices_keeps_order_and_captions() {
        let data = synthetic(30);
        let grid = SampleGrid::from_indices(&data, &[7, 2, 25], 2).unwrap();
        assert_eq!(grid.grid(), (2, 2));
        let (w, h) = grid.size();
        let rgb = render_rgb(&grid).unwrap();
        assert_eq!(rgb.len(), (w * h * 3) as usize);
        for (slot, image) in [(0usize, 7usize), (1, 2), (2, 25)] {
            let (x, y) = grid.tile_origin(slot / 2, slot % 2);
            let (r, c) = bright_pixel(image);
            let v = data.images[[image, r, c]];
            let (x, y) = (x as u32 + 3 * c as u32 + 1, y as u32 + 3 * r as u32 + 1);
            assert_eq!(rgb_at(&rgb, w, x, y), [v; 3], "slot {slot}");
        }
        let svg = render_svg(&grid).unwrap().0;
        assert_eq!(svg_texts(&svg), ["Sneaker", "Pullover", "Sandal"]);
        let grid = grid.with_captions(["a → b", "c", "d"]).unwrap();
        let svg = render_svg(&grid).unwrap().0;
        assert_eq!(svg_texts(&svg), ["a → b", "c", "d"]);
        // Columns beyond the number of images are dropped.
        let wide = SampleGrid::from_indices(&data, &[1, 2], 10).unwrap();
        assert_eq!(wide.grid(), (1, 2));
    }

    #[test]
    fn bad_parameters_are_errors() {
        let data = synthetic(30);
        let name = |r: Result<SampleGrid>| match r {
            Err(Error::Params(crate::ParamError { name, .. })) => name,
            other => panic!("expected a ParamError, got {other:?}"),
        };
        assert_eq!(name(SampleGrid::new(&data, 0)), "per_class");
        assert_eq!(name(SampleGrid::new(&data, 101)), "per_class");
        assert_eq!(name(SampleGrid::new(&empty(), 3)), "data");
        assert_eq!(name(SampleGrid::from_indices(&data, &[], 3)), "indices");
        assert_eq!(
            name(SampleGrid::from_indices(&data, &[3, 30], 3)),
            "indices"
        );
        assert_eq!(name(SampleGrid::from_indices(&data, &[3], 0)), "columns");
        let grid = SampleGrid::new(&data, 1).unwrap();
        assert_eq!(name(grid.clone().with_scale(0)), "scale");
        assert_eq!(name(grid.with_captions(["only one"])), "captions");
        let err = SampleGrid::from_indices(&data, &[30], 3).unwrap_err();
        assert!(err.to_string().contains("found 30"), "{err}");
    }
}
