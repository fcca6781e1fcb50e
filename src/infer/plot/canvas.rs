//! The two surfaces a chart is drawn on: SVG text and an RGB raster written as PNG.
//!
//! A [`Canvas`] draws only lines, polylines, dots and single-line text in pixel
//! coordinates (y down). The raster's text is the 8x8 bitmap font of the `font8x8`
//! crate, so a PNG looks the same on every machine without system fonts.

use std::fmt::Write as _;
use std::io::Write;

/// A colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rgb(pub u8, pub u8, pub u8);

pub const WHITE: Rgb = Rgb(255, 255, 255);

/// Where a text's anchor point is: the middle of its top edge, the middle of its right
/// edge, or its top-left corner.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Anchor {
    Top,
    Right,
    TopLeft,
}

pub trait Canvas {
    /// A one-pixel line, solid or dashed.
    fn line(&mut self, from: (f64, f64), to: (f64, f64), color: Rgb, dashed: bool);
    /// A two-pixel line through `points`.
    fn polyline(&mut self, points: &[(f64, f64)], color: Rgb);
    fn dot(&mut self, at: (f64, f64), color: Rgb);
    fn text(&mut self, at: (f64, f64), text: &str, anchor: Anchor, color: Rgb);
}

/// Dash and gap lengths of a dashed line, in pixels.
const DASH: f64 = 5.0;
/// Pixels per glyph: the font is 8x8 with its own spacing.
const GLYPH: f64 = 8.0;

/// An SVG document being written.
pub struct Svg {
    body: String,
    width: usize,
    height: usize,
}

fn hex(c: Rgb) -> String {
    format!("#{:02x}{:02x}{:02x}", c.0, c.1, c.2)
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

impl Svg {
    pub fn new(width: usize, height: usize) -> Svg {
        Svg {
            body: String::new(),
            width,
            height,
        }
    }

    pub fn finish(self) -> String {
        format!(
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\" font-family=\"monospace\" font-size=\"11\">\n<rect width=\"{w}\" height=\"{h}\" fill=\"#ffffff\"/>\n{body}</svg>\n",
            w = self.width,
            h = self.height,
            body = self.body
        )
    }
}

impl Canvas for Svg {
    fn line(&mut self, (x1, y1): (f64, f64), (x2, y2): (f64, f64), color: Rgb, dashed: bool) {
        let dash = if dashed {
            format!(" stroke-dasharray=\"{DASH} {DASH}\"")
        } else {
            String::new()
        };
        let _ = writeln!(
            self.body,
            "<line x1=\"{x1:.1}\" y1=\"{y1:.1}\" x2=\"{x2:.1}\" y2=\"{y2:.1}\" stroke=\"{}\"{dash}/>",
            hex(color)
        );
    }

    fn polyline(&mut self, points: &[(f64, f64)], color: Rgb) {
        let mut list = String::new();
        for (x, y) in points {
            let _ = write!(list, "{x:.1},{y:.1} ");
        }
        let _ = writeln!(
            self.body,
            "<polyline points=\"{}\" fill=\"none\" stroke=\"{}\" stroke-width=\"2\"/>",
            list.trim_end(),
            hex(color)
        );
    }

    fn dot(&mut self, (x, y): (f64, f64), color: Rgb) {
        let _ = writeln!(
            self.body,
            "<circle cx=\"{x:.1}\" cy=\"{y:.1}\" r=\"2.5\" fill=\"{}\"/>",
            hex(color)
        );
    }

    fn text(&mut self, (x, y): (f64, f64), text: &str, anchor: Anchor, color: Rgb) {
        let (align, baseline) = match anchor {
            Anchor::Top => ("middle", "hanging"),
            Anchor::Right => ("end", "middle"),
            Anchor::TopLeft => ("start", "hanging"),
        };
        let _ = writeln!(
            self.body,
            "<text x=\"{x:.1}\" y=\"{y:.1}\" text-anchor=\"{align}\" dominant-baseline=\"{baseline}\" fill=\"{}\">{}</text>",
            hex(color),
            escape(text)
        );
    }
}

/// An RGB picture, row-major, three bytes per pixel, white to begin with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Raster {
    pub width: usize,
    pub height: usize,
    pub pixels: Vec<u8>,
}

impl Raster {
    pub fn new(width: usize, height: usize) -> Raster {
        Raster {
            width,
            height,
            pixels: [WHITE.0, WHITE.1, WHITE.2].repeat(width * height),
        }
    }

    /// The colour at pixel `(x, y)`.
    pub fn at(&self, x: usize, y: usize) -> Rgb {
        let i = 3 * (y * self.width + x);
        Rgb(self.pixels[i], self.pixels[i + 1], self.pixels[i + 2])
    }

    fn set(&mut self, x: i64, y: i64, c: Rgb) {
        if x >= 0 && y >= 0 && (x as usize) < self.width && (y as usize) < self.height {
            let i = 3 * (y as usize * self.width + x as usize);
            self.pixels[i..i + 3].copy_from_slice(&[c.0, c.1, c.2]);
        }
    }

    /// Sets the pixels along a segment, `thick` pixels wide, skipping the gaps of a dash.
    fn segment(
        &mut self,
        (x1, y1): (f64, f64),
        (x2, y2): (f64, f64),
        c: Rgb,
        thick: i64,
        dashed: bool,
    ) {
        let length = (x2 - x1).hypot(y2 - y1);
        let steps = (length * 2.0).ceil().max(1.0) as usize;
        for k in 0..=steps {
            let t = k as f64 / steps as f64;
            if dashed && ((t * length / DASH) as i64) % 2 == 1 {
                continue;
            }
            let (x, y) = (x1 + t * (x2 - x1), y1 + t * (y2 - y1));
            let (px, py) = (x.floor() as i64, y.floor() as i64);
            for dy in 0..thick {
                for dx in 0..thick {
                    self.set(px + dx, py + dy, c);
                }
            }
        }
    }

    /// Encodes the picture as an 8-bit RGB PNG.
    pub fn write_png(&self, out: &mut dyn Write) -> std::io::Result<()> {
        super::encode_png(
            self.width,
            self.height,
            png::ColorType::Rgb,
            &self.pixels,
            out,
        )
    }
}

impl Canvas for Raster {
    fn line(&mut self, from: (f64, f64), to: (f64, f64), color: Rgb, dashed: bool) {
        self.segment(from, to, color, 1, dashed);
    }

    fn polyline(&mut self, points: &[(f64, f64)], color: Rgb) {
        for pair in points.windows(2) {
            self.segment(pair[0], pair[1], color, 2, false);
        }
    }

    fn dot(&mut self, (x, y): (f64, f64), color: Rgb) {
        let (cx, cy) = (x.round() as i64, y.round() as i64);
        for dy in -2..=2i64 {
            for dx in -2..=2i64 {
                if dx * dx + dy * dy <= 5 {
                    self.set(cx + dx, cy + dy, color);
                }
            }
        }
    }

    fn text(&mut self, (x, y): (f64, f64), text: &str, anchor: Anchor, color: Rgb) {
        use font8x8::UnicodeFonts;
        let width = GLYPH * text.chars().count() as f64;
        let (left, top) = match anchor {
            Anchor::Top => (x - width / 2.0, y),
            Anchor::Right => (x - width, y - GLYPH / 2.0),
            Anchor::TopLeft => (x, y),
        };
        let (left, top) = (left.round() as i64, top.round() as i64);
        for (k, ch) in text.chars().enumerate() {
            let glyph = font8x8::BASIC_FONTS
                .get(ch)
                .or_else(|| font8x8::LATIN_FONTS.get(ch))
                .or_else(|| font8x8::BASIC_FONTS.get('?'))
                .unwrap_or([0; 8]);
            for (row, bits) in glyph.iter().enumerate() {
                for col in 0..8 {
                    // Bit 0 is the leftmost pixel.
                    if bits >> col & 1 == 1 {
                        self.set(left + 8 * k as i64 + col, top + row as i64, color);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_raster_draws_lines_dashes_and_text() {
        let mut r = Raster::new(40, 20);
        r.line((0.0, 2.0), (39.0, 2.0), Rgb(255, 0, 0), false);
        assert!((0..40).all(|x| r.at(x, 2) == Rgb(255, 0, 0)));
        r.line((0.0, 5.0), (39.0, 5.0), Rgb(0, 0, 255), true);
        let dashed = (0..40).filter(|&x| r.at(x, 5) == Rgb(0, 0, 255)).count();
        assert!(dashed > 12 && dashed < 28, "{dashed} of 40 pixels dashed");
        r.text((0.0, 10.0), "1", Anchor::TopLeft, Rgb(0, 0, 0));
        let inked = (0..8)
            .flat_map(|x| (10..18).map(move |y| (x, y)))
            .filter(|&(x, y)| r.at(x, y) == Rgb(0, 0, 0))
            .count();
        assert!(inked > 5, "the glyph has ink");
    }

    #[test]
    fn svg_text_is_escaped() {
        let mut s = Svg::new(10, 10);
        s.text((1.0, 1.0), "a<b & c", Anchor::Top, Rgb(0, 0, 0));
        let doc = s.finish();
        assert!(doc.contains("a&lt;b &amp; c"), "{doc}");
        assert!(doc.starts_with("<svg"));
    }
}
