//! Chart text: laid out and rasterised with ab_glyph and the bundled DejaVu Sans.
//!
//! plotters 0.3.7's own ab_glyph text drops each glyph's side bearing, so letters overlap
//! ("Trouser" reads "Tŕouser"). [`Label`] goes through the backend's `draw_text` with
//! its own [`BackendTextStyle`]: bitmap backends rasterise it with correct glyph
//! positions, the SVG backend writes a `<text>` element as before.

use std::sync::OnceLock;

use ab_glyph::{Font, FontRef, Glyph, PxScale, ScaleFont, point};
use plotters::element::{Drawable, PointCollection};
use plotters::style::RGBColor;
use plotters_backend::text_anchor::{HPos, Pos, VPos};
use plotters_backend::{
    BackendColor, BackendCoord, BackendTextStyle, DrawingBackend, DrawingErrorKind, FontFamily,
    FontStyle, FontTransform,
};

use crate::error::{Error, Result};

/// Font families named in SVG output: DejaVu Sans where the viewer has it, else a
/// similarly wide sans-serif.
const SVG_FAMILY: &str = "DejaVu Sans, Verdana, sans-serif";
/// Distance from the top of the layout box to the baseline, and from the baseline to the
/// bottom, in em; chosen to match the SVG backend's anchors (`dy` 0.76em, ±0.5ex).
const ABOVE_BASELINE: f64 = 0.76;
/// plotters-svg 0.3.7 divides the text style's size by this to get `font-size`.
const SVG_SIZE_DIVISOR: f64 = 1.24;
const BELOW_BASELINE: f64 = 0.22;

/// The bundled font could not be parsed.
#[derive(Debug, Clone)]
pub(crate) struct FontLoadError(String);

impl std::fmt::Display for FontLoadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for FontLoadError {}

struct Faces {
    regular: FontRef<'static>,
    bold: FontRef<'static>,
}

fn faces() -> std::result::Result<&'static Faces, FontLoadError> {
    static FACES: OnceLock<std::result::Result<Faces, String>> = OnceLock::new();
    FACES
        .get_or_init(|| {
            let load = |bytes: &'static [u8], name: &str| {
                FontRef::try_from_slice(bytes)
                    .map_err(|e| format!("the bundled DejaVu Sans {name} is not a valid font: {e}"))
            };
            Ok(Faces {
                regular: load(dejavu::sans::regular(), "regular")?,
                bold: load(dejavu::sans::bold(), "bold")?,
            })
        })
        .as_ref()
        .map_err(|e| FontLoadError(e.clone()))
}

/// Size, weight, colour, anchor and rotation of a piece of chart text.
#[derive(Clone)]
pub(crate) struct Style {
    /// Font size in pixels per em (as SVG's `font-size`).
    size: f64,
    bold: bool,
    color: RGBColor,
    anchor: Pos,
    transform: FontTransform,
}

impl Style {
    /// Regular black text of `size` px, anchored at its top-left corner.
    pub(crate) fn new(size: f64) -> Style {
        Style {
            size,
            bold: false,
            color: RGBColor(0, 0, 0),
            anchor: Pos::new(HPos::Left, VPos::Top),
            transform: FontTransform::None,
        }
    }

    /// The same, bold.
    pub(crate) fn bold(mut self) -> Style {
        self.bold = true;
        self
    }

    /// The same, anchored differently.
    pub(crate) fn anchored(mut self, h: HPos, v: VPos) -> Style {
        self.anchor = Pos::new(h, v);
        self
    }

    /// The same, in another colour.
    pub(crate) fn colored(mut self, color: RGBColor) -> Style {
        self.color = color;
        self
    }

    /// The same, rotated a quarter turn counter-clockwise (reading upwards).
    pub(crate) fn upwards(mut self) -> Style {
        self.transform = FontTransform::Rotate270;
        self
    }

    fn face(&self) -> std::result::Result<&'static FontRef<'static>, FontLoadError> {
        let faces = faces()?;
        Ok(if self.bold {
            &faces.bold
        } else {
            &faces.regular
        })
    }

    /// Width of `text` in pixels (unrotated).
    pub(crate) fn width(&self, text: &str) -> Result<u32> {
        let face = self.face().map_err(|e| Error::Plot(e.to_string()))?;
        Ok(layout(face, self.size, text, |_| {}).ceil() as u32)
    }

    /// Height of a line of text in pixels.
    pub(crate) fn line_height(&self) -> u32 {
        (self.size * (ABOVE_BASELINE + BELOW_BASELINE)).round() as u32
    }

    /// Width of `text` in pixels, or an estimate (0.6 em per character) if the font
    /// cannot be loaded: for sizing a chart, where errors cannot be reported (drawing
    /// reports them).
    pub(crate) fn width_or_estimate(&self, text: &str) -> u32 {
        self.width(text)
            .unwrap_or_else(|_| (text.chars().count() as f64 * self.size * 0.6).ceil() as u32)
    }

    /// `text` if it fits in `width` pixels, else its longest prefix that fits with "…"
    /// appended (just "…" if nothing does).
    pub(crate) fn ellipsize(&self, text: &str, width: u32) -> Result<String> {
        if self.width(text)? <= width {
            return Ok(text.to_string());
        }
        let ends: Vec<usize> = text.char_indices().map(|(i, _)| i).skip(1).collect();
        // The widths of the prefixes grow with their length: bisect for the longest fit.
        let (mut lo, mut hi) = (0, ends.len());
        while lo < hi {
            let mid = (lo + hi).div_ceil(2);
            let candidate = format!("{}…", text[..ends[mid - 1]].trim_end());
            if self.width(&candidate)? <= width {
                lo = mid;
            } else {
                hi = mid - 1;
            }
        }
        Ok(match lo {
            0 => "…".to_string(),
            n => format!("{}…", text[..ends[n - 1]].trim_end()),
        })
    }
}

/// The pixel scale that makes one em `size` pixels.
fn px_scale(face: &FontRef<'_>, size: f64) -> PxScale {
    let units_per_em = face.units_per_em().unwrap_or(2048.0);
    PxScale::from(size as f32 * face.height_unscaled() / units_per_em)
}

/// Positions the glyphs of `text` on a baseline at y = 0 from x = 0, with kerning;
/// returns the advance width.
fn layout(face: &FontRef<'_>, size: f64, text: &str, mut each: impl FnMut(Glyph)) -> f32 {
    let scale = px_scale(face, size);
    let scaled = face.as_scaled(scale);
    let mut x = 0.0;
    let mut prev = None;
    for c in text.chars() {
        let id = scaled.glyph_id(c);
        if let Some(p) = prev {
            x += scaled.kern(p, id);
        }
        each(id.with_scale_and_position(scale, point(x, 0.0)));
        x += scaled.h_advance(id);
        prev = Some(id);
    }
    x
}

impl BackendTextStyle for Style {
    type FontError = FontLoadError;

    fn color(&self) -> BackendColor {
        BackendColor {
            alpha: 1.0,
            rgb: (self.color.0, self.color.1, self.color.2),
        }
    }

    fn size(&self) -> f64 {
        // The SVG backend writes `font-size` as this ÷ 1.24 (plotters' px-to-em guess);
        // undo it so SVG text has the em size the bitmap text is rasterised at.
        self.size * SVG_SIZE_DIVISOR
    }

    fn transform(&self) -> FontTransform {
        self.transform.clone()
    }

    fn style(&self) -> FontStyle {
        if self.bold {
            FontStyle::Bold
        } else {
            FontStyle::Normal
        }
    }

    fn anchor(&self) -> Pos {
        self.anchor
    }

    fn family(&self) -> FontFamily<'_> {
        FontFamily::Name(SVG_FAMILY)
    }

    fn layout_box(
        &self,
        text: &str,
    ) -> std::result::Result<((i32, i32), (i32, i32)), FontLoadError> {
        let width = layout(self.face()?, self.size, text, |_| {}).ceil() as i32;
        let top = -(self.size * ABOVE_BASELINE).round() as i32;
        let bottom = (self.size * BELOW_BASELINE).round() as i32;
        Ok(((0, top), (width, bottom)))
    }

    fn draw<E, DrawFunc: FnMut(i32, i32, BackendColor) -> std::result::Result<(), E>>(
        &self,
        text: &str,
        (x0, y0): BackendCoord,
        mut draw: DrawFunc,
    ) -> std::result::Result<std::result::Result<(), E>, FontLoadError> {
        let face = self.face()?;
        let rgb = (self.color.0, self.color.1, self.color.2);
        let mut result = Ok(());
        layout(face, self.size, text, |glyph| {
            let Some(outline) = face.outline_glyph(glyph) else {
                return;
            };
            let bounds = outline.px_bounds();
            let (bx, by) = (bounds.min.x as i32, bounds.min.y as i32);
            outline.draw(|x, y, coverage| {
                if result.is_ok() && coverage > 0.0 {
                    let color = BackendColor {
                        alpha: coverage.min(1.0) as f64,
                        rgb,
                    };
                    result = draw(x0 + bx + x as i32, y0 + by + y as i32, color);
                }
            });
        });
        Ok(result)
    }
}

/// A piece of text at a pixel position, drawn with a [`Style`].
pub(crate) struct Label {
    text: String,
    pos: BackendCoord,
    style: Style,
}

impl Label {
    pub(crate) fn new(text: impl Into<String>, pos: BackendCoord, style: Style) -> Label {
        Label {
            text: text.into(),
            pos,
            style,
        }
    }
}

impl<'a> PointCollection<'a, BackendCoord> for &'a Label {
    type Point = &'a BackendCoord;
    type IntoIter = std::iter::Once<&'a BackendCoord>;
    fn point_iter(self) -> Self::IntoIter {
        std::iter::once(&self.pos)
    }
}

impl<DB: DrawingBackend> Drawable<DB> for Label {
    fn draw<I: Iterator<Item = BackendCoord>>(
        &self,
        mut points: I,
        backend: &mut DB,
        _: (u32, u32),
    ) -> std::result::Result<(), DrawingErrorKind<DB::ErrorType>> {
        match points.next() {
            Some(pos) => backend.draw_text(&self.text, &self.style, pos),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use plotters::prelude::*;

    use super::*;

    /// Renders `text` at (10, 10), top-left anchored, and returns the dark columns' range.
    fn ink_columns(text: &str, style: &Style) -> Vec<u32> {
        let (w, h) = (200u32, 40u32);
        let mut buf = vec![255u8; (w * h * 3) as usize];
        {
            let root = BitMapBackend::with_buffer(&mut buf, (w, h)).into_drawing_area();
            root.draw(&Label::new(text, (10, 10), style.clone()))
                .unwrap();
            root.present().unwrap();
        }
        (0..w)
            .filter(|&x| (0..h).any(|y| buf[((y * w + x) * 3) as usize] < 128))
            .collect()
    }

    #[test]
    fn glyphs_do_not_overlap_and_width_matches_ink() {
        let style = Style::new(16.0);
        // "Tr": the T's bar and the r must be separated by the r's side bearing, so the
        // ink of "T" alone ends before the ink of "Tr" does, with a gap column between.
        let t = ink_columns("T", &style);
        let tr = ink_columns("Tr", &style);
        assert!(tr.last() > t.last(), "{t:?} vs {tr:?}");
        // "ll" shows two separate strokes: a blank column between them.
        let ll = ink_columns("ll", &style);
        let gaps = ll.windows(2).filter(|w| w[1] > w[0] + 1).count();
        assert_eq!(gaps, 1, "{ll:?}");
        // The measured width covers the ink (within a pixel of anti-aliasing).
        let text = "Ankle boot";
        let ink = ink_columns(text, &style);
        let width = style.width(text).unwrap();
        assert!(
            ink[0] >= 10 && *ink.last().unwrap() <= 10 + width + 1,
            "{ink:?} {width}"
        );
        assert!(width > 60 && width < 110, "{width}");
        assert!(Style::new(16.0).bold().width(text).unwrap() > width);
    }

    #[test]
    fn ellipsize_keeps_what_fits() {
        let style = Style::new(14.0);
        let text = "dense 128-d · betweenness";
        let full = style.width(text).unwrap();
        assert_eq!(style.ellipsize(text, full).unwrap(), text);
        let short = style.ellipsize(text, full / 2).unwrap();
        assert!(short.ends_with('…') && short.len() < text.len(), "{short}");
        assert!(text.starts_with(short.trim_end_matches('…')), "{short}");
        assert!(style.width(&short).unwrap() <= full / 2);
        // Nearly half of the text is kept.
        assert!(style.width(&short).unwrap() + 30 > full / 2, "{short}");
        assert_eq!(style.ellipsize(text, 3).unwrap(), "…");
        assert_eq!(style.width_or_estimate(text), full);
    }

    #[test]
    fn anchors_place_the_box() {
        let style = Style::new(20.0).anchored(HPos::Right, VPos::Top);
        let ink = ink_columns("Coat", &style);
        // Right-anchored at x = 10: the text lies left of it (clipped at 0).
        assert!(*ink.last().unwrap() <= 11, "{ink:?}");
        let (top, bottom) = Style::new(20.0).layout_box("x").unwrap();
        assert_eq!((top.1, bottom.1), (-15, 4));
        assert_eq!(Style::new(20.0).line_height(), 20);
    }
}
