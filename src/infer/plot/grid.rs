//! Grids of draws: square `bool`/`unit` vectors (8x8 digits, 28x28 MNIST) laid out
//! as a grayscale image grid, written as PNG (`vic sample --png`).
//!
//! Each vector of `side * side` values in [0, 1] is one cell, row-major, drawn white on
//! black like the digits data sets, each value as a `scale x scale` block; cells are
//! separated by a one-pixel gray line. Nothing here decides which draws are shown.

use std::io::Write;

/// The gray of the lines between cells.
const GRID_GRAY: u8 = 96;
/// The least size of a cell in pixels: an 8x8 digit is magnified 4 times.
const MIN_CELL_PIXELS: usize = 32;

/// A grayscale picture, row-major, one byte per pixel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gray {
    pub width: usize,
    pub height: usize,
    pub pixels: Vec<u8>,
}

/// The side of a square image of `width` values, if it is one (at least 2x2).
pub fn square_side(width: usize) -> Option<usize> {
    let side = (width as f64).sqrt().round() as usize;
    (side >= 2 && side * side == width).then_some(side)
}

/// Lays `cells` (each `side * side` values in [0, 1]) out in `rows x columns` (row-major,
/// missing cells black).
pub fn grid(cells: &[&[f32]], side: usize, columns: usize) -> Gray {
    let columns = columns.max(1);
    let rows = cells.len().div_ceil(columns).max(1);
    let scale = MIN_CELL_PIXELS.div_ceil(side).max(1);
    let cell = side * scale;
    let width = columns * (cell + 1) + 1;
    let height = rows * (cell + 1) + 1;
    let mut pixels = vec![GRID_GRAY; width * height];
    for (k, values) in cells.iter().enumerate() {
        let (top, left) = (
            (k / columns) * (cell + 1) + 1,
            (k % columns) * (cell + 1) + 1,
        );
        for y in 0..cell {
            for x in 0..cell {
                let v = values[(y / scale) * side + x / scale].clamp(0.0, 1.0);
                pixels[(top + y) * width + left + x] = (v * 255.0).round() as u8;
            }
        }
    }
    Gray {
        width,
        height,
        pixels,
    }
}

impl Gray {
    /// Encodes the picture as an 8-bit grayscale PNG.
    pub fn write_png(&self, out: &mut dyn Write) -> std::io::Result<()> {
        super::encode_png(
            self.width,
            self.height,
            png::ColorType::Grayscale,
            &self.pixels,
            out,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_grid_has_its_cells_and_lines() {
        let a = [1.0f32; 4];
        let b = [0.0f32, 1.0, 0.0, 0.0];
        let g = grid(&[&a, &b, &a], 2, 2);
        let cell = 32;
        assert_eq!(
            (g.width, g.height),
            (2 * (cell + 1) + 1, 2 * (cell + 1) + 1)
        );
        assert_eq!(g.pixels[0], GRID_GRAY);
        assert_eq!(g.pixels[g.width + 1], 255);
        // b's top-left value is 0, its top-right 1.
        assert_eq!(g.pixels[g.width + cell + 2], 0);
        assert_eq!(g.pixels[g.width + 2 * cell + 1], 255);
        assert_eq!(square_side(64), Some(8));
        assert_eq!(square_side(30), None);
    }
}
