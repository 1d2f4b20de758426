//! Rendered output that shows itself in an evcxr (Jupyter) notebook and saves to a file.

use std::fmt;
use std::io::{self, Write};
use std::path::Path;

use base64::Engine;

use crate::error::{Error, Result};
use crate::io::write_atomic;

/// Writes one evcxr rich-output block: begin marker with the MIME type, the content,
/// end marker.
fn write_block<W: Write + ?Sized>(out: &mut W, mime: &str, content: &str) -> io::Result<()> {
    writeln!(out, "EVCXR_BEGIN_CONTENT {mime}")?;
    out.write_all(content.as_bytes())?;
    if !content.ends_with('\n') {
        out.write_all(b"\n")?;
    }
    writeln!(out, "EVCXR_END_CONTENT")
}

/// Prints a block to standard output; a closed stdout is ignored (nothing to show on).
fn print_block(write: impl FnOnce(&mut io::StdoutLock<'static>) -> io::Result<()>) {
    let mut out = io::stdout().lock();
    let _ = write(&mut out).and_then(|()| out.flush());
}

/// PNG image bytes. In a notebook, `png.evcxr_display()` shows the image.
#[derive(Clone, PartialEq, Eq)]
pub struct Png(pub Vec<u8>);

impl Png {
    /// Encodes an RGB buffer (`width × height × 3` bytes, rows from the top) as PNG.
    pub fn from_rgb(rgb: &[u8], width: u32, height: u32) -> Result<Png> {
        use image::ImageEncoder;
        let expected = width as usize * height as usize * 3;
        if rgb.len() != expected {
            return Err(Error::invalid(
                "rgb",
                format!("{expected} bytes for {width}×{height} RGB"),
                format!("{} bytes", rgb.len()),
            ));
        }
        let mut bytes = Vec::new();
        image::codecs::png::PngEncoder::new(&mut bytes)
            .write_image(rgb, width, height, image::ColorType::Rgb8)
            .map_err(|e| Error::Plot(format!("PNG encoding failed: {e}")))?;
        Ok(Png(bytes))
    }

    /// Width and height read from the PNG header; `None` if the bytes are not a PNG.
    pub fn dimensions(&self) -> Option<(u32, u32)> {
        let b = &self.0;
        if b.len() < 24 || &b[..8] != b"\x89PNG\r\n\x1a\n" || &b[12..16] != b"IHDR" {
            return None;
        }
        let be = |i: usize| u32::from_be_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        Some((be(16), be(20)))
    }

    /// Width in pixels (0 if the bytes are not a PNG).
    pub fn width(&self) -> u32 {
        self.dimensions().map_or(0, |d| d.0)
    }

    /// Height in pixels (0 if the bytes are not a PNG).
    pub fn height(&self) -> u32 {
        self.dimensions().map_or(0, |d| d.1)
    }

    /// Writes the evcxr output block (`image/png`, base64) to `out`.
    pub fn write_evcxr<W: Write + ?Sized>(&self, out: &mut W) -> io::Result<()> {
        let b64 = base64::engine::general_purpose::STANDARD.encode(&self.0);
        write_block(out, "image/png", &b64)
    }

    /// Shows the image in an evcxr notebook (prints the output block to stdout).
    pub fn evcxr_display(&self) {
        print_block(|out| self.write_evcxr(out));
    }

    /// Writes the PNG bytes to `path` (through a temporary file and a rename).
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        Ok(write_atomic(path.as_ref(), &self.0)?)
    }
}

impl fmt::Debug for Png {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.dimensions() {
            Some((w, h)) => write!(f, "Png({w}×{h}, {} bytes)", self.0.len()),
            None => write!(f, "Png(not a PNG, {} bytes)", self.0.len()),
        }
    }
}

/// An SVG document. In a notebook, `svg.evcxr_display()` shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct Svg(pub String);

impl Svg {
    /// Writes the evcxr output block (`image/svg+xml`, the SVG text) to `out`.
    pub fn write_evcxr<W: Write + ?Sized>(&self, out: &mut W) -> io::Result<()> {
        write_block(out, "image/svg+xml", &self.0)
    }

    /// Shows the SVG in an evcxr notebook (prints the output block to stdout).
    pub fn evcxr_display(&self) {
        print_block(|out| self.write_evcxr(out));
    }

    /// Writes the SVG text to `path` (through a temporary file and a rename).
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        Ok(write_atomic(path.as_ref(), self.0.as_bytes())?)
    }
}

/// An SVG with hover behaviour (tooltips, thumbnails shown on hover; see
/// [`GraphChart::explorable_svg`](super::GraphChart::explorable_svg)). Jupyter Lab and
/// nbconvert's HTML draw `image/svg+xml` output as an `<img>`, where hover does nothing,
/// so in a notebook it shows as `text/html` with the SVG inline, the plain SVG beside it
/// for frontends without HTML.
#[derive(Clone, PartialEq, Eq)]
pub struct ExplorableSvg(pub Svg);

impl ExplorableSvg {
    /// The SVG document text.
    pub fn text(&self) -> &str {
        &self.0.0
    }

    /// The SVG inside a `<div>`, as it is shown in a notebook.
    pub fn html(&self) -> Html {
        Html(format!(
            "<div class=\"fashion-explorable\">{}</div>",
            self.0.0
        ))
    }

    /// Writes the evcxr output blocks: `text/html` (the SVG inline), then
    /// `image/svg+xml`; evcxr sends both in one output, the frontend picks.
    pub fn write_evcxr<W: Write + ?Sized>(&self, out: &mut W) -> io::Result<()> {
        write_block(out, "text/html", &self.html().0)?;
        self.0.write_evcxr(out)
    }

    /// Shows the SVG inline in an evcxr notebook (prints the output blocks to stdout).
    pub fn evcxr_display(&self) {
        print_block(|out| self.write_evcxr(out));
    }

    /// Writes the SVG document to `path` (through a temporary file and a rename); a
    /// browser opening the file shows the tooltips and thumbnails.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        self.0.save(path)
    }
}

impl fmt::Debug for ExplorableSvg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ExplorableSvg({} bytes)", self.0.0.len())
    }
}

impl fmt::Debug for Svg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Svg({} bytes)", self.0.len())
    }
}

/// An HTML fragment (e.g. a table from [`html_table`](super::html_table)). In a notebook,
/// `html.evcxr_display()` shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct Html(pub String);

impl Html {
    /// Writes the evcxr output block (`text/html`, the HTML text) to `out`.
    pub fn write_evcxr<W: Write + ?Sized>(&self, out: &mut W) -> io::Result<()> {
        write_block(out, "text/html", &self.0)
    }

    /// Shows the HTML in an evcxr notebook (prints the output block to stdout).
    pub fn evcxr_display(&self) {
        print_block(|out| self.write_evcxr(out));
    }

    /// Writes the fragment to `path` as a small standalone UTF-8 HTML page (through a
    /// temporary file and a rename).
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        let page = format!(
            "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"></head><body>\n{}\n</body></html>\n",
            self.0
        );
        Ok(write_atomic(path.as_ref(), page.as_bytes())?)
    }
}

impl fmt::Debug for Html {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Html({} bytes)", self.0.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 3×2 PNG made by the encoder, for the display tests.
    fn tiny_png() -> Png {
        let rgb: Vec<u8> = (0..3 * 2 * 3).map(|i| (i * 10) as u8).collect();
        Png::from_rgb(&rgb, 3, 2).unwrap()
    }

    #[test]
    fn png_evcxr_block_is_exact() {
        let png = tiny_png();
        let mut out = Vec::new();
        png.write_evcxr(&mut out).unwrap();
        let b64 = base64::engine::general_purpose::STANDARD.encode(&png.0);
        let expected = format!("EVCXR_BEGIN_CONTENT image/png\n{b64}\nEVCXR_END_CONTENT\n");
        assert_eq!(String::from_utf8(out).unwrap(), expected);
        // The base64 decodes back to the same bytes, which start with the PNG signature.
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .unwrap();
        assert_eq!(decoded, png.0);
        assert_eq!(&decoded[1..4], b"PNG");
    }

    #[test]
    fn svg_and_html_blocks_carry_raw_text() {
        let mut out = Vec::new();
        Svg("<svg></svg>".into()).write_evcxr(&mut out).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "EVCXR_BEGIN_CONTENT image/svg+xml\n<svg></svg>\nEVCXR_END_CONTENT\n"
        );
        let mut out = Vec::new();
        ExplorableSvg(Svg("<svg></svg>".into()))
            .write_evcxr(&mut out)
            .unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "EVCXR_BEGIN_CONTENT text/html\n<div class=\"fashion-explorable\"><svg></svg></div>\n\
             EVCXR_END_CONTENT\nEVCXR_BEGIN_CONTENT image/svg+xml\n<svg></svg>\nEVCXR_END_CONTENT\n"
        );
        let mut out = Vec::new();
        Html("<b>x</b>\n".into()).write_evcxr(&mut out).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "EVCXR_BEGIN_CONTENT text/html\n<b>x</b>\nEVCXR_END_CONTENT\n"
        );
    }

    #[test]
    fn png_header_and_debug() {
        let png = tiny_png();
        assert_eq!(png.dimensions(), Some((3, 2)));
        assert_eq!((png.width(), png.height()), (3, 2));
        assert!(format!("{png:?}").starts_with("Png(3×2, "), "{png:?}");
        let not = Png(b"GIF89a".to_vec());
        assert_eq!(not.dimensions(), None);
        assert_eq!(format!("{not:?}"), "Png(not a PNG, 6 bytes)");
        assert!(Png::from_rgb(&[0; 5], 3, 2).is_err());
    }

    #[test]
    fn wrappers_save_their_content() {
        let dir = tempfile::tempdir().unwrap();
        let png = tiny_png();
        png.save(dir.path().join("a.png")).unwrap();
        assert_eq!(std::fs::read(dir.path().join("a.png")).unwrap(), png.0);
        Svg("<svg/>".into()).save(dir.path().join("a.svg")).unwrap();
        assert_eq!(
            std::fs::read_to_string(dir.path().join("a.svg")).unwrap(),
            "<svg/>"
        );
        Html("<p>é</p>".into())
            .save(dir.path().join("a.html"))
            .unwrap();
        let page = std::fs::read_to_string(dir.path().join("a.html")).unwrap();
        assert!(page.contains("<meta charset=\"utf-8\">") && page.contains("<p>é</p>"));
    }
}
