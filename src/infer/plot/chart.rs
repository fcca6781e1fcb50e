//! Line charts (`vic plot`): panels of series on linear axes with ticks, a title, a
//! legend and dashed vertical marks, laid out in a grid and drawn on a [`Canvas`].
//!
//! The layout is computed once here in pixels; the two canvases (SVG text, an RGB
//! raster for PNG) only draw lines, dots and text, so both pictures agree.

use super::canvas::{Anchor, Canvas, Rgb};

/// The size of one panel in pixels, and its margins inside that size.
const PANEL_WIDTH: f64 = 440.0;
const PANEL_HEIGHT: f64 = 280.0;
const LEFT: f64 = 76.0;
const RIGHT: f64 = 16.0;
const TOP: f64 = 40.0;
const BOTTOM: f64 = 40.0;
/// About this many ticks per axis.
const TICKS: f64 = 5.0;

pub const BLACK: Rgb = Rgb(0, 0, 0);
const AXIS_GRAY: Rgb = Rgb(120, 120, 120);
const GRID_GRAY: Rgb = Rgb(228, 228, 228);

/// One line (or set of dots) of a panel.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub label: String,
    pub color: Rgb,
    pub points: Vec<(f64, f64)>,
    /// Draw a dot at every point as well as the line.
    pub dots: bool,
}

/// Dashed vertical lines at these x values, named once in the legend.
#[derive(Debug, Clone, PartialEq)]
pub struct Marks {
    pub label: String,
    pub color: Rgb,
    pub at: Vec<f64>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Panel {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub series: Vec<Series>,
    pub marks: Option<Marks>,
    /// The y range shown; points outside it are drawn at its edge. `None`: the
    /// series' own range.
    pub y_range: Option<(f64, f64)>,
}

/// Panels in rows of `columns`.
#[derive(Debug, Clone, PartialEq)]
pub struct Figure {
    pub panels: Vec<Panel>,
    pub columns: usize,
}

impl Figure {
    /// The picture's size in pixels.
    pub fn size(&self) -> (usize, usize) {
        let columns = self.columns.clamp(1, self.panels.len().max(1));
        let rows = self.panels.len().div_ceil(columns).max(1);
        (
            (columns as f64 * PANEL_WIDTH) as usize,
            (rows as f64 * PANEL_HEIGHT) as usize,
        )
    }

    pub fn draw(&self, canvas: &mut dyn Canvas) {
        let columns = self.columns.clamp(1, self.panels.len().max(1));
        for (k, panel) in self.panels.iter().enumerate() {
            let origin = (
                (k % columns) as f64 * PANEL_WIDTH,
                (k / columns) as f64 * PANEL_HEIGHT,
            );
            panel.draw(canvas, origin);
        }
    }
}

/// A linear map from data to pixels.
#[derive(Debug, Clone, Copy)]
struct Axis {
    lo: f64,
    hi: f64,
    from: f64,
    to: f64,
}

impl Axis {
    fn new((lo, hi): (f64, f64), from: f64, to: f64) -> Axis {
        let (lo, hi) = if hi > lo {
            (lo, hi)
        } else {
            // A flat series: a unit-wide range around it.
            let pad = lo.abs().max(1.0) * 0.5;
            (lo - pad, lo + pad)
        };
        Axis { lo, hi, from, to }
    }

    /// The pixel of `v`, clamped to the axis.
    fn pixel(&self, v: f64) -> f64 {
        let t = ((v - self.lo) / (self.hi - self.lo)).clamp(0.0, 1.0);
        self.from + t * (self.to - self.from)
    }
}

impl Panel {
    fn draw(&self, canvas: &mut dyn Canvas, (x0, y0): (f64, f64)) {
        let all = || self.series.iter().flat_map(|s| s.points.iter());
        let finite = |v: &f64| v.is_finite();
        let range = |vals: Vec<f64>| {
            let lo = vals.iter().copied().fold(f64::INFINITY, f64::min);
            let hi = vals.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            if lo.is_finite() { (lo, hi) } else { (0.0, 1.0) }
        };
        let xr = range(all().map(|p| p.0).filter(finite).collect());
        let yr = self
            .y_range
            .unwrap_or_else(|| range(all().map(|p| p.1).filter(finite).collect()));
        let (left, right) = (x0 + LEFT, x0 + PANEL_WIDTH - RIGHT);
        let (top, bottom) = (y0 + TOP, y0 + PANEL_HEIGHT - BOTTOM);
        let x = Axis::new(xr, left, right);
        let y = Axis::new(yr, bottom, top);

        for t in ticks(x.lo, x.hi) {
            let px = x.pixel(t);
            canvas.line((px, top), (px, bottom), GRID_GRAY, false);
            canvas.line((px, bottom), (px, bottom + 4.0), AXIS_GRAY, false);
            canvas.text(
                (px, bottom + 7.0),
                &tick_label(t, x.lo, x.hi),
                Anchor::Top,
                BLACK,
            );
        }
        for t in ticks(y.lo, y.hi) {
            let py = y.pixel(t);
            canvas.line((left, py), (right, py), GRID_GRAY, false);
            canvas.line((left - 4.0, py), (left, py), AXIS_GRAY, false);
            canvas.text(
                (left - 7.0, py),
                &tick_label(t, y.lo, y.hi),
                Anchor::Right,
                BLACK,
            );
        }
        for (a, b) in [
            ((left, top), (right, top)),
            ((right, top), (right, bottom)),
            ((right, bottom), (left, bottom)),
            ((left, bottom), (left, top)),
        ] {
            canvas.line(a, b, AXIS_GRAY, false);
        }
        canvas.text(
            ((left + right) / 2.0, y0 + 8.0),
            &self.title,
            Anchor::Top,
            BLACK,
        );
        canvas.text(
            ((left + right) / 2.0, bottom + 22.0),
            &self.x_label,
            Anchor::Top,
            BLACK,
        );
        canvas.text((x0 + 6.0, y0 + 8.0), &self.y_label, Anchor::TopLeft, BLACK);

        if let Some(marks) = &self.marks {
            for &m in &marks.at {
                let px = x.pixel(m);
                canvas.line((px, top), (px, bottom), marks.color, true);
            }
        }
        for s in &self.series {
            let points: Vec<(f64, f64)> = s
                .points
                .iter()
                .filter(|p| p.0.is_finite() && p.1.is_finite())
                .map(|&(a, b)| (x.pixel(a), y.pixel(b)))
                .collect();
            canvas.polyline(&points, s.color);
            if s.dots {
                for &p in &points {
                    canvas.dot(p, s.color);
                }
            }
        }
        // The legend, in a row under the title, when there is more than one thing.
        let mut entries: Vec<(&str, Rgb, bool)> = self
            .series
            .iter()
            .map(|s| (s.label.as_str(), s.color, false))
            .collect();
        if let Some(m) = self.marks.as_ref().filter(|m| !m.at.is_empty()) {
            entries.push((m.label.as_str(), m.color, true));
        }
        if entries.len() > 1 {
            let mut lx = x0 + 8.0;
            for (label, color, dashed) in &entries {
                let ly = y0 + 24.0;
                canvas.line((lx, ly), (lx + 20.0, ly), *color, *dashed);
                canvas.text((lx + 25.0, ly - 4.0), label, Anchor::TopLeft, BLACK);
                lx += 25.0 + 8.0 * label.chars().count() as f64 + 14.0;
            }
        }
    }
}

/// Round tick values in `[lo, hi]`: multiples of 1, 2 or 5 times a power of ten.
pub fn ticks(lo: f64, hi: f64) -> Vec<f64> {
    let step = tick_step(lo, hi);
    if !(step.is_finite() && step > 0.0) {
        return Vec::new();
    }
    let first = (lo / step).ceil() as i64;
    let last = (hi / step).floor() as i64;
    (first..=last).map(|k| k as f64 * step).collect()
}

fn tick_step(lo: f64, hi: f64) -> f64 {
    let raw = (hi - lo) / TICKS;
    let power = 10f64.powf(raw.log10().floor());
    let fraction = raw / power;
    let nice = if fraction < 1.5 {
        1.0
    } else if fraction < 3.5 {
        2.0
    } else if fraction < 7.5 {
        5.0
    } else {
        10.0
    };
    nice * power
}

/// A tick's label with as many decimals as the step needs; large or tiny magnitudes in
/// exponent form.
pub fn tick_label(v: f64, lo: f64, hi: f64) -> String {
    let step = tick_step(lo, hi);
    let magnitude = lo.abs().max(hi.abs());
    if magnitude >= 1e6 || (magnitude < 1e-3 && magnitude > 0.0) {
        return format!("{v:.1e}");
    }
    let decimals = (-step.log10().floor()).max(0.0) as usize;
    // No "-0".
    let v = if v.abs() < step * 1e-9 { 0.0 } else { v };
    format!("{v:.decimals$}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_round_and_inside_the_range() {
        assert_eq!(ticks(0.0, 10.0), [0.0, 2.0, 4.0, 6.0, 8.0, 10.0]);
        let t = ticks(-18.7, -17.9);
        assert!(t.iter().all(|&v| (-18.7..=-17.9).contains(&v)));
        assert_eq!(tick_label(t[0], -18.7, -17.9), "-18.6");
        assert_eq!(tick_label(-0.0, -1.0, 1.0), "0.0");
        assert_eq!(tick_label(2e7, 0.0, 5e7), "2.0e7");
    }

    #[test]
    fn an_axis_clamps_and_widens_a_flat_range() {
        let a = Axis::new((3.0, 3.0), 0.0, 100.0);
        assert_eq!(a.pixel(3.0), 50.0);
        assert_eq!(a.pixel(1e9), 100.0);
    }
}
