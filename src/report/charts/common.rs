//! What every chart shares: canvas sizes, fonts, colours, the side legend,
//! input checks and axis ranges.

use super::Svg;
use crate::error::{Error, Result};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use std::ops::Range;

/// Canvas of an x-y chart, legend panel included.
pub const CHART_SIZE: (u32, u32) = (860, 480);
/// Width of the legend panel on the right of x-y charts. A separate panel,
/// rather than a box inside the plot, never hides data.
pub const LEGEND_WIDTH: u32 = 200;

pub const FONT: &str = "sans-serif";
pub const TITLE_SIZE: u32 = 22;
pub const LABEL_SIZE: u32 = 14;
pub const DESC_SIZE: u32 = 16;

/// Okabe–Ito colours (distinguishable with the common colour-vision
/// deficiencies), minus the yellow that vanishes on white, plus grey.
const PALETTE: [RGBColor; 8] = [
    RGBColor(0x00, 0x72, 0xB2),
    RGBColor(0xD5, 0x5E, 0x00),
    RGBColor(0x00, 0x9E, 0x73),
    RGBColor(0xCC, 0x79, 0xA7),
    RGBColor(0xE6, 0x9F, 0x00),
    RGBColor(0x56, 0xB4, 0xE9),
    RGBColor(0x00, 0x00, 0x00),
    RGBColor(0x77, 0x77, 0x77),
];

/// The `i`-th palette colour, cycling.
pub fn color(i: usize) -> RGBColor {
    PALETTE[i % PALETTE.len()]
}

pub type Area<'a> = DrawingArea<SVGBackend<'a>, Shift>;

/// Turns any plotters failure into [`Error::Render`].
pub fn drawing<E: std::fmt::Display>(e: E) -> Error {
    Error::Render(format!("drawing failed: {e}"))
}

/// Draws onto a fresh white SVG canvas of `size` and returns the finished
/// document.
pub fn render(size: (u32, u32), draw: impl FnOnce(&Area<'_>) -> Result<()>) -> Result<Svg> {
    let mut text = String::new();
    {
        let root = SVGBackend::with_string(&mut text, size).into_drawing_area();
        root.fill(&WHITE).map_err(drawing)?;
        draw(&root)?;
        root.present().map_err(drawing)?;
    }
    Ok(Svg(text))
}

/// Splits off the title strip, draws `title` centred in it and returns the
/// area below.
pub fn titled<'a>(root: &Area<'a>, title: &str) -> Result<Area<'a>> {
    root.titled(title, (FONT, TITLE_SIZE)).map_err(drawing)
}

/// How a legend entry marks its series.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Marker {
    None,
    Dot,
    Ring,
    Square,
}

/// One line of a side legend.
pub struct LegendEntry {
    pub label: String,
    pub color: RGBColor,
    pub dashed: bool,
    pub line: bool,
    pub marker: Marker,
}

/// Draws `entries` top-down in `area` (the legend panel).
pub fn draw_legend(area: &Area<'_>, entries: &[LegendEntry]) -> Result<()> {
    let text = TextStyle::from((FONT, LABEL_SIZE).into_font()).color(&BLACK);
    let row = 22;
    let top = 40;
    for (i, entry) in entries.iter().enumerate() {
        let y = top + row * i as i32;
        let style = ShapeStyle::from(entry.color).stroke_width(2);
        if entry.line {
            if entry.dashed {
                area.draw(&PathElement::new(vec![(10, y), (18, y)], style))
                    .map_err(drawing)?;
                area.draw(&PathElement::new(vec![(24, y), (32, y)], style))
                    .map_err(drawing)?;
            } else {
                area.draw(&PathElement::new(vec![(10, y), (32, y)], style))
                    .map_err(drawing)?;
            }
        }
        draw_marker(area, (21, y), entry.marker, entry.color)?;
        area.draw(&Text::new(
            entry.label.clone(),
            (40, y),
            text.pos(Pos::new(HPos::Left, VPos::Center)),
        ))
        .map_err(drawing)?;
    }
    Ok(())
}

fn draw_marker(area: &Area<'_>, at: (i32, i32), marker: Marker, color: RGBColor) -> Result<()> {
    match marker {
        Marker::None => Ok(()),
        Marker::Dot => area.draw(&Circle::new(at, 4, color.filled())),
        Marker::Ring => area.draw(&Circle::new(at, 7, BLACK.stroke_width(2))),
        Marker::Square => area.draw(&Rectangle::new(
            [(at.0 - 6, at.1 - 6), (at.0 + 6, at.1 + 6)],
            color.filled(),
        )),
    }
    .map_err(drawing)
}

/// Fails with [`Error::Render`] if a label the reader needs is blank.
pub fn require_text(chart: &str, field: &str, value: &str) -> Result<()> {
    if value.trim().is_empty() {
        return Err(Error::Render(format!("{chart}: {field} is empty")));
    }
    Ok(())
}

/// Fails with [`Error::InvalidData`] unless `value` is finite (and positive
/// when it is to be drawn on a log axis).
pub fn require_value(
    chart: &str,
    what: &dyn std::fmt::Display,
    value: f64,
    log: bool,
) -> Result<()> {
    if !value.is_finite() {
        return Err(Error::InvalidData(format!(
            "{chart}: {what} is {value}; charts need finite numbers"
        )));
    }
    if log && value <= 0.0 {
        return Err(Error::InvalidData(format!(
            "{chart}: {what} is {value}, which a log axis cannot show"
        )));
    }
    Ok(())
}

/// An axis range covering `values` with a small margin, so markers at the
/// extremes are not cut by the frame. A single value gets a range around
/// it. `values` must be non-empty, finite and (for log axes) positive.
pub fn axis_range(values: impl IntoIterator<Item = f64>, log: bool) -> Range<f64> {
    let (lo, hi) = values
        .into_iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
            (lo.min(v), hi.max(v))
        });
    if log {
        let factor = (hi / lo).powf(0.05).max(1.1);
        lo / factor..hi * factor
    } else {
        let pad = if hi > lo {
            0.05 * (hi - lo)
        } else {
            (0.1 * hi.abs()).max(1.0)
        };
        lo - pad..hi + pad
    }
}
