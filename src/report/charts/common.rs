//! What every chart shares: canvas sizes, fonts, colours, the side legend,
//! input checks and axis ranges.

use super::Svg;
use crate::error::{Error, Result};
use crate::report::number::format_tick;
use plotters::coord::Shift;
use plotters::coord::ranged1d::{KeyPointHint, NoDefaultFormatting, ValueFormatter};
use plotters::coord::types::RangedCoordf64;
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
    Ok(Svg(compact_polylines(&text)))
}

/// Drops the points of every `points="…"` list that draw nothing: repeats
/// of the point before (plotters rounds to whole pixels, so a long curve
/// repeats many), the inner points of straight horizontal or vertical
/// runs, and within one pixel column everything but the first, lowest,
/// highest and last point. The pixels covered stay the same; a 600-epoch
/// training curve shrinks to about a third.
fn compact_polylines(svg: &str) -> String {
    const KEY: &str = "points=\"";
    let mut out = String::with_capacity(svg.len());
    let mut rest = svg;
    while let Some(at) = rest.find(KEY) {
        let (before, after) = rest.split_at(at + KEY.len());
        out.push_str(before);
        let end = after.find('"').unwrap_or(after.len());
        out.push_str(&compact_points(&after[..end]));
        rest = &after[end..];
    }
    out.push_str(rest);
    out
}

fn compact_points(list: &str) -> String {
    let parsed: Option<Vec<(i64, i64)>> = list
        .split_whitespace()
        .map(|p| {
            let (x, y) = p.split_once(',')?;
            Some((x.parse().ok()?, y.parse().ok()?))
        })
        .collect();
    // Not plotters' integer pairs: leave the list as it is.
    let Some(points) = parsed else {
        return list.to_string();
    };
    // Within a run of points on one pixel column the line only covers the
    // span from its lowest to its highest point: keep the run's first and
    // last points and its extremes, in their order.
    let mut columns: Vec<(i64, i64)> = Vec::with_capacity(points.len());
    let mut start = 0;
    while start < points.len() {
        let x = points[start].0;
        let end = start + points[start..].iter().take_while(|p| p.0 == x).count();
        let run = &points[start..end];
        let lo = (0..run.len()).min_by_key(|&i| run[i].1).unwrap_or(0);
        let hi = (0..run.len()).max_by_key(|&i| run[i].1).unwrap_or(0);
        let mut keep = vec![0, lo, hi, run.len() - 1];
        keep.sort_unstable();
        keep.dedup();
        columns.extend(keep.into_iter().map(|i| run[i]));
        start = end;
    }
    let mut kept: Vec<(i64, i64)> = Vec::with_capacity(columns.len());
    for p in columns {
        if kept.last() == Some(&p) {
            continue;
        }
        if let [.., a, b] = kept[..]
            && ((a.0 == b.0 && b.0 == p.0 && (b.1 - a.1).signum() == (p.1 - b.1).signum())
                || (a.1 == b.1 && b.1 == p.1 && (b.0 - a.0).signum() == (p.0 - b.0).signum()))
        {
            kept.pop();
        }
        kept.push(p);
    }
    let mut text = String::with_capacity(list.len());
    for (x, y) in kept {
        text.push_str(&format!("{x},{y} "));
    }
    text
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
            // Dashes wide enough to stay visible on both sides of a marker.
            let pieces: &[(i32, i32)] = if entry.dashed {
                &[(4, 10), (15, 19), (25, 29), (34, 40)]
            } else {
                &[(4, 40)]
            };
            for &(from, to) in pieces {
                area.draw(&PathElement::new(vec![(from, y), (to, y)], style))
                    .map_err(drawing)?;
            }
        }
        draw_marker(area, (22, y), entry.marker, entry.color)?;
        area.draw(&Text::new(
            entry.label.clone(),
            (48, y),
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

/// Fails with [`Error::InvalidData`] unless `(lo, hi)` can be drawn as the
/// interval around `y`: both ends finite (and positive on a log axis) and
/// `lo <= y <= hi`, up to a relative rounding of 1e-12 (the study computes
/// the ends as mean ∓ half-width, which can land an ulp past the mean).
///
/// The intervals are the 95% seed intervals of the study frame. A chart has
/// no way to recompute them, so an interval that does not hold its own
/// point is a fault upstream and is reported, never drawn as if it were
/// right. `at` names the point, e.g. `series "tied", point 3`.
pub fn require_interval(
    chart: &str,
    at: &dyn std::fmt::Display,
    y: f64,
    (lo, hi): (f64, f64),
    log: bool,
) -> Result<()> {
    require_value(chart, &format!("{at}, interval low end"), lo, log)?;
    require_value(chart, &format!("{at}, interval high end"), hi, log)?;
    let tolerance = INTERVAL_ROUNDING * y.abs().max(lo.abs()).max(hi.abs());
    if lo > y + tolerance || y > hi + tolerance {
        return Err(Error::InvalidData(format!(
            "{chart}: {at}, interval [{lo}, {hi}] does not contain the value {y}"
        )));
    }
    Ok(())
}

/// Draws the axes and grid of an x-y chart: `x_desc` and `y_desc` as axis
/// titles, ticks labelled by [`format_tick`], no light grid lines and faint
/// bold ones. The line, Pareto and scree charts share it; the bar, forest
/// and scatter charts style their grids differently and configure their own.
pub fn draw_mesh<X, Y>(
    ctx: &mut ChartContext<'_, SVGBackend<'_>, Cartesian2d<X, Y>>,
    x_desc: &str,
    y_desc: &str,
) -> Result<()>
where
    X: Ranged<ValueType = f64> + ValueFormatter<f64>,
    Y: Ranged<ValueType = f64> + ValueFormatter<f64>,
{
    ctx.configure_mesh()
        .x_desc(x_desc)
        .y_desc(y_desc)
        .x_label_formatter(&|v| format_tick(*v))
        .y_label_formatter(&|v| format_tick(*v))
        .label_style((FONT, LABEL_SIZE))
        .axis_desc_style((FONT, DESC_SIZE))
        .light_line_style(WHITE.mix(0.0))
        .bold_line_style(BLACK.mix(0.12))
        .draw()
        .map_err(drawing)?;
    Ok(())
}

/// Relative slack [`require_interval`] allows between a value and the ends
/// of its interval.
const INTERVAL_ROUNDING: f64 = 1e-12;

/// Half the width, in pixels, of the caps that end an interval bar.
const CAP_HALF_WIDTH: i32 = 4;

/// Draws a vertical bar from `lo` to `hi` with short horizontal caps at each
/// `(x, (lo, hi))` of `bars`, thin and in `color`. Call it before drawing the
/// markers so that the bars stay behind them.
///
/// A bar is three `<polyline>`s (stem and two caps); a degenerate interval
/// (`lo == hi`, e.g. from a single seed) draws nothing, so a chart whose
/// intervals are all degenerate looks exactly like one without them. The
/// intervals must have passed [`require_interval`] and lie inside the y
/// range, which is why the chart functions widen that range to cover them.
pub fn draw_intervals<X, Y>(
    area: &DrawingArea<SVGBackend<'_>, Cartesian2d<X, Y>>,
    bars: impl IntoIterator<Item = (f64, (f64, f64))>,
    color: RGBColor,
) -> Result<()>
where
    X: Ranged<ValueType = f64>,
    Y: Ranged<ValueType = f64>,
{
    let style = color.stroke_width(1);
    for (x, (lo, hi)) in bars {
        if hi <= lo {
            continue;
        }
        area.draw(&PathElement::new(vec![(x, lo), (x, hi)], style))
            .map_err(drawing)?;
        for end in [lo, hi] {
            // The cap is offset in pixels from its end, so it keeps its
            // width on log x axes too.
            let cap = PathElement::new(vec![(-CAP_HALF_WIDTH, 0), (CAP_HALF_WIDTH, 0)], style);
            area.draw(&(EmptyElement::at((x, end)) + cap))
                .map_err(drawing)?;
        }
    }
    Ok(())
}

/// How many `<polyline>`s of `svg` are stroked 1 px wide in palette colour
/// `i`. Only interval bars are (series lines are 2 px, the Pareto front is
/// black), so this counts three per drawn bar: stem and two caps.
#[cfg(test)]
pub fn thin_polylines(svg: &Svg, i: usize) -> usize {
    let c = color(i);
    let stroke = format!(
        "stroke=\"#{:02X}{:02X}{:02X}\" stroke-width=\"1\"",
        c.0, c.1, c.2
    );
    svg.as_str()
        .lines()
        .filter(|l| l.starts_with("<polyline") && l.contains(&stroke))
        .count()
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

/// An axis with tick positions chosen here rather than by plotters, whose
/// log axes label too few values (nothing between 10 and 30, say) and whose
/// linear ticks can land a rounding error away from zero ("3.469e-18").
pub struct Ticked<R> {
    inner: R,
    ticks: Vec<f64>,
}

impl<R: Ranged<ValueType = f64>> Ranged for Ticked<R> {
    type FormatOption = NoDefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        self.inner.map(value, limit)
    }

    fn key_points<Hint: KeyPointHint>(&self, hint: Hint) -> Vec<f64> {
        // Light (unlabelled) grid lines would only add clutter.
        if hint.weight().allow_light_points() {
            Vec::new()
        } else {
            self.ticks.clone()
        }
    }

    fn range(&self) -> Range<f64> {
        self.inner.range()
    }

    fn axis_pixel_range(&self, limit: (i32, i32)) -> Range<i32> {
        self.inner.axis_pixel_range(limit)
    }
}

impl<R> ValueFormatter<f64> for Ticked<R> {
    fn format(value: &f64) -> String {
        format_tick(*value)
    }
}

/// A logarithmic axis over `range` (positive) with ticks at 1-2-5 steps
/// when it spans a couple of decades, at powers of ten when it spans more,
/// and plotters' linear ticks when it lies within one decade.
pub fn log_axis(range: Range<f64>) -> Ticked<LogCoord<f64>> {
    let decades = (range.end / range.start).log10();
    let mantissas: &[f64] = if decades <= 1.0 {
        &[1.0, 2.0, 3.0, 5.0]
    } else if decades <= 2.5 {
        &[1.0, 2.0, 5.0]
    } else {
        &[1.0]
    };
    let step = (decades / 10.0).ceil().max(1.0) as i32;
    let first = range.start.log10().floor() as i32;
    let last = range.end.log10().ceil() as i32;
    let mut ticks: Vec<f64> = (first..=last)
        .filter(|e| (e - first) % step == 0)
        .flat_map(|e| mantissas.iter().map(move |m| m * 10f64.powi(e)))
        .filter(|t| (range.start..=range.end).contains(t))
        .collect();
    if ticks.len() < 3 {
        ticks = RangedCoordf64::from(range.clone()).key_points(5);
    }
    Ticked {
        inner: LogCoord::from(range.log_scale()),
        ticks,
    }
}

/// A linear axis over `range` with about six ticks at multiples of a 1-2-5
/// step; each tick is an integer times the step, so zero is exactly zero.
pub fn linear_axis(range: Range<f64>) -> Ticked<RangedCoordf64> {
    let span = range.end - range.start;
    let rough = span / 6.0;
    let magnitude = 10f64.powf(rough.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * magnitude)
        .find(|s| *s >= rough)
        .unwrap_or(10.0 * magnitude);
    let first = (range.start / step).ceil() as i64;
    let last = (range.end / step).floor() as i64;
    let ticks = if step.is_finite() && step > 0.0 && last >= first {
        (first..=last).map(|k| k as f64 * step).collect()
    } else {
        vec![range.start, range.end]
    };
    Ticked {
        inner: RangedCoordf64::from(range),
        ticks,
    }
}

/// A linear axis over `range` with ticks only at whole numbers (component
/// indices, category slots), at most about `max_ticks` of them.
pub fn integer_axis(range: Range<f64>, max_ticks: usize) -> Ticked<RangedCoordf64> {
    let lo = range.start.ceil().max(0.0) as u64;
    let hi = range.end.floor().max(0.0) as u64;
    let span = hi.saturating_sub(lo) + 1;
    let step = [1u64, 2, 5]
        .iter()
        .flat_map(|m| (0..12).map(move |e| m * 10u64.pow(e)))
        .filter(|s| span.div_ceil(*s) as usize <= max_ticks.max(1))
        .min()
        .unwrap_or(1);
    let ticks = (lo..=hi)
        .filter(|v| v % step == 0)
        .map(|v| v as f64)
        .collect();
    Ticked {
        inner: RangedCoordf64::from(range),
        ticks,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use plotters::coord::ranged1d::BoldPoints;

    fn ticks<R: Ranged<ValueType = f64>>(axis: &Ticked<R>) -> Vec<String> {
        axis.key_points(BoldPoints(10))
            .iter()
            .map(|t| format_tick(*t))
            .collect()
    }

    fn interval(y: f64, lo: f64, hi: f64, log: bool) -> Result<()> {
        require_interval("chart", &"series \"s\", point 2", y, (lo, hi), log)
    }

    fn interval_error(y: f64, lo: f64, hi: f64, log: bool) -> String {
        match interval(y, lo, hi, log) {
            Err(Error::InvalidData(message)) => message,
            other => panic!("expected invalid data, got {other:?}"),
        }
    }

    #[test]
    fn intervals_around_their_value_pass_up_to_rounding() {
        assert!(interval(0.5, 0.4, 0.6, false).is_ok());
        assert!(interval(0.5, 0.5, 0.5, true).is_ok(), "degenerate");
        assert!(interval(-2.0, -3.0, 0.0, false).is_ok());
        let ulp_past = 0.5 * (1.0 + 1e-15);
        assert!(interval(0.5, ulp_past, 0.6, false).is_ok());
        assert!(interval(0.5, 0.4, 0.5 / (1.0 + 1e-15), false).is_ok());
    }

    #[test]
    fn bad_intervals_are_errors_naming_the_point() {
        for message in [
            interval_error(0.5, 0.6, 0.7, false),
            interval_error(0.5, 0.3, 0.4, false),
            interval_error(0.5, 0.6, 0.4, false),
            interval_error(0.5, 0.5 * (1.0 + 1e-9), 0.6, false),
            interval_error(0.5, f64::NAN, 0.6, false),
            interval_error(0.5, 0.4, f64::INFINITY, false),
            interval_error(0.5, 0.0, 0.6, true),
            interval_error(0.5, -0.1, 0.6, true),
        ] {
            assert!(message.contains("series \"s\", point 2"), "{message}");
        }
        assert!(interval_error(0.5, -0.1, 0.6, true).contains("log axis"));
        assert!(interval_error(0.5, 0.4, f64::NAN, false).contains("high end"));
    }

    #[test]
    fn log_axes_over_two_decades_tick_at_one_two_five() {
        assert_eq!(ticks(&log_axis(1.7..36.0)), ["2", "5", "10", "20"]);
    }

    #[test]
    fn log_axes_over_many_decades_tick_at_powers_of_ten() {
        assert_eq!(
            ticks(&log_axis(5e-7..200.0)),
            [
                "1e-6", "1e-5", "1e-4", "0.001", "0.01", "0.1", "1", "10", "100"
            ]
        );
        assert_eq!(
            ticks(&log_axis(1e-12..1e6)),
            [
                "1e-12", "1e-10", "1e-8", "1e-6", "1e-4", "0.01", "1", "100", "1e4", "1e6"
            ],
            "every other power"
        );
    }

    #[test]
    fn log_axes_within_a_decade_still_get_several_ticks() {
        let axis = log_axis(0.0145..0.0245);
        let points = axis.key_points(BoldPoints(10));
        assert!(points.len() >= 3, "{:?}", ticks(&axis));
        assert!(points.iter().all(|t| (0.0145..0.0245).contains(t)));
    }

    #[test]
    fn linear_axes_tick_at_round_values_and_exact_zero() {
        assert_eq!(
            ticks(&linear_axis(-0.0235..0.0735)),
            ["-0.02", "0", "0.02", "0.04", "0.06"]
        );
        assert_eq!(
            ticks(&linear_axis(0.0..1.05)),
            ["0", "0.2", "0.4", "0.6", "0.8", "1"]
        );
        assert_eq!(
            ticks(&linear_axis(450.0..2300.0)),
            ["500", "1000", "1500", "2000"]
        );
    }

    #[test]
    fn integer_axes_tick_at_whole_numbers_only() {
        assert_eq!(
            ticks(&integer_axis(0.5..6.5, 12)),
            ["1", "2", "3", "4", "5", "6"]
        );
        let long = ticks(&integer_axis(0.0..785.0, 12));
        assert_eq!(long[..3], ["0", "100", "200"]);
        assert!(long.len() <= 12);
    }

    #[test]
    fn polylines_lose_only_points_that_draw_nothing() {
        // Repeats and the inside of straight runs go; corners, turn-backs
        // and the ends stay.
        assert_eq!(
            compact_points("0,0 0,0 1,0 2,0 3,0 3,1 3,2 3,1 4,5 4,5"),
            "0,0 3,0 3,2 3,1 4,5 "
        );
        assert_eq!(compact_points("5,5 "), "5,5 ");
        // One pixel column: first, extremes and last, in order.
        assert_eq!(
            compact_points("1,5 1,9 1,2 1,7 1,6 2,6"),
            "1,5 1,9 1,2 1,6 2,6 "
        );
        // Not integer pairs: untouched.
        assert_eq!(compact_points("0.5,1 2,3"), "0.5,1 2,3");
        let svg = "<polyline points=\"1,1 1,1 2,2 \"/><path d=\"M 0 0\"/>";
        assert_eq!(
            compact_polylines(svg),
            "<polyline points=\"1,1 2,2 \"/><path d=\"M 0 0\"/>"
        );
    }
}
