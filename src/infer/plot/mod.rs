//! Pictures: grids of drawn images (`vic sample --png`) and charts of a fit (`vic
//! plot`: the ELBO trace and the globals' posterior densities), as PNG or SVG.
//!
//! Drawing is our own, on two small canvases, instead of `plotters`: its bitmap text
//! needs system fonts (`font-kit`) or a bundled TrueType file, so the same command
//! would draw different (or no) labels on different machines. Here the raster's text
//! is the `font8x8` bitmap font and every picture is the same everywhere.

mod canvas;
mod chart;
mod fit;
mod grid;

use std::io::Write;

pub use canvas::{Raster, Rgb, Svg};
pub use chart::Figure;
pub use fit::{Draws, figure, halvings};
pub use grid::{Gray, grid, square_side};

/// A picture file's format, chosen by its extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Png,
    Svg,
}

impl Format {
    /// The format `.png` or `.svg` (any case) names.
    pub fn from_path(path: &std::path::Path) -> Option<Format> {
        match path.extension()?.to_str()?.to_ascii_lowercase().as_str() {
            "png" => Some(Format::Png),
            "svg" => Some(Format::Svg),
            _ => None,
        }
    }
}

/// Writes `figure` in `format`.
pub fn write_figure(figure: &Figure, format: Format, out: &mut dyn Write) -> std::io::Result<()> {
    let (width, height) = figure.size();
    match format {
        Format::Png => {
            let mut raster = Raster::new(width, height);
            figure.draw(&mut raster);
            raster.write_png(out)
        }
        Format::Svg => {
            let mut svg = Svg::new(width, height);
            figure.draw(&mut svg);
            out.write_all(svg.finish().as_bytes())
        }
    }
}

/// Encodes 8-bit pixels of `color` as a PNG.
fn encode_png(
    width: usize,
    height: usize,
    color: png::ColorType,
    pixels: &[u8],
    out: &mut dyn Write,
) -> std::io::Result<()> {
    let too_large = |_| std::io::Error::other("the picture is too large for a PNG");
    let w = u32::try_from(width).map_err(too_large)?;
    let h = u32::try_from(height).map_err(too_large)?;
    let mut encoder = png::Encoder::new(out, w, h);
    encoder.set_color(color);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header().map_err(std::io::Error::other)?;
    writer
        .write_image_data(pixels)
        .map_err(std::io::Error::other)?;
    writer.finish().map_err(std::io::Error::other)
}
