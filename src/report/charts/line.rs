//! Line charts with several named series: MSE vs latent size, training
//! curves, gradient-norm traces, train/test MSE vs training-set size,
//! principal angles by index.

use super::Svg;
use super::common::{
    Area, CHART_SIZE, LEGEND_WIDTH, LegendEntry, Marker, axis_range, color, draw_intervals,
    draw_legend, draw_mesh, drawing, linear_axis, log_axis, render, require_interval, require_text,
    require_value, titled,
};
use crate::error::{Error, Result};
use plotters::coord::ranged1d::ValueFormatter;
use plotters::prelude::*;
use std::ops::Range;

/// How a series' line is stroked.
///
/// Dashes tell apart two views of one thing drawn in the same colour: the
/// encoder part (dashed) and decoder part (solid) of a tied weight's
/// gradient, or train (dashed) and test (solid) error of one model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Dash {
    #[default]
    Solid,
    Dashed,
}

/// One named polyline.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// Legend text.
    pub name: String,
    /// (x, y) points, drawn in the given order.
    pub points: Vec<(f64, f64)>,
    /// Palette index; `None` takes the series' position in the chart. Give
    /// two series the same index to show they belong together.
    pub color: Option<usize>,
    /// Solid or dashed stroke.
    pub dash: Dash,
    /// Whether to mark each point with a dot (useful when points are few,
    /// e.g. one per latent size; noise when there is one per batch).
    pub markers: bool,
    /// An interval `(lo, hi)` around each point's y, in the order of
    /// `points`, drawn as a vertical error bar; `None` draws none.
    ///
    /// These are the 95% seed intervals of the study frame (a finding
    /// rests on several seeds, and the bar shows how far it could move).
    /// The chart only draws what it is given: it neither computes nor
    /// widens intervals, and refuses ones that do not fit their points.
    pub intervals: Option<Vec<(f64, f64)>>,
}

impl Series {
    /// A solid series with point markers and an automatic colour.
    pub fn new(name: impl Into<String>, points: Vec<(f64, f64)>) -> Series {
        Series {
            name: name.into(),
            points,
            color: None,
            dash: Dash::Solid,
            markers: true,
            intervals: None,
        }
    }

    /// The same series, dashed.
    pub fn dashed(mut self) -> Series {
        self.dash = Dash::Dashed;
        self
    }

    /// The same series in palette colour `index`.
    pub fn with_color(mut self, index: usize) -> Series {
        self.color = Some(index);
        self
    }

    /// The same series without point markers.
    pub fn without_markers(mut self) -> Series {
        self.markers = false;
        self
    }

    /// The same series with a 95% interval `(lo, hi)` around each point's
    /// y, one per point and in the same order (see [`Series::intervals`]).
    /// They are checked when the chart is drawn, not here.
    pub fn with_intervals(mut self, intervals: Vec<(f64, f64)>) -> Series {
        self.intervals = Some(intervals);
        self
    }
}

/// A line chart: title, axis labels, optional log axes, series.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LineChart {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    /// Logarithmic x axis (latent sizes 2..256, training-set sizes).
    pub log_x: bool,
    /// Logarithmic y axis (errors and gradient norms spanning decades).
    pub log_y: bool,
    pub series: Vec<Series>,
}

const CHART: &str = "line chart";

/// Draws `chart` as SVG.
///
/// # Errors
/// [`Error::Render`] for a blank title, axis label or series name;
/// [`Error::InvalidData`] for no series, an empty series, a NaN or infinite
/// coordinate, or a non-positive coordinate on a log axis; likewise for
/// intervals, and for intervals not one per point or not containing their
/// point's y.
pub fn line_chart(chart: &LineChart) -> Result<Svg> {
    validate(chart)?;
    let xs = chart
        .series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.0));
    let x = axis_range(xs, chart.log_x);
    let y = y_range(chart);
    render(CHART_SIZE, |root| {
        let body = titled(root, &chart.title)?;
        let (plot, legend) = body.split_horizontally(CHART_SIZE.0 - LEGEND_WIDTH);
        match (chart.log_x, chart.log_y) {
            (false, false) => plot_series(&plot, chart, linear_axis(x), linear_axis(y)),
            (true, false) => plot_series(&plot, chart, log_axis(x), linear_axis(y)),
            (false, true) => plot_series(&plot, chart, linear_axis(x), log_axis(y)),
            (true, true) => plot_series(&plot, chart, log_axis(x), log_axis(y)),
        }?;
        draw_legend(&legend, &legend_entries(chart))
    })
    .map(dash_marked_lines)
}

/// The stroke width that marks a dashed series' line in plotters' output
/// (no other line of a line chart is this wide).
const DASH_MARK: u32 = 3;

/// Turns every line drawn [`DASH_MARK`] wide into a 2 px line with an SVG
/// dash pattern: one `<polyline>` per series instead of one per dash, which
/// is what plotters' own dashed series writes (a 2000-epoch curve, a few
/// hundred elements).
fn dash_marked_lines(svg: Svg) -> Svg {
    let text = svg.into_string().replace(
        &format!(" stroke-width=\"{DASH_MARK}\" points="),
        " stroke-width=\"2\" stroke-dasharray=\"8 5\" points=",
    );
    Svg::from_chart_text(text)
}

fn validate(chart: &LineChart) -> Result<()> {
    require_text(CHART, "title", &chart.title)?;
    require_text(CHART, "x label", &chart.x_label)?;
    require_text(CHART, "y label", &chart.y_label)?;
    if chart.series.is_empty() {
        return Err(Error::InvalidData(format!(
            "{CHART} {:?}: no series to draw",
            chart.title
        )));
    }
    for series in &chart.series {
        require_text(CHART, "series name", &series.name)?;
        if series.points.is_empty() {
            return Err(Error::InvalidData(format!(
                "{CHART} {:?}: series {:?} has no points",
                chart.title, series.name
            )));
        }
        for (i, &(x, y)) in series.points.iter().enumerate() {
            let at = |axis| format!("series {:?}, point {i}, {axis}", series.name);
            require_value(CHART, &at("x"), x, chart.log_x)?;
            require_value(CHART, &at("y"), y, chart.log_y)?;
        }
        if let Some(intervals) = &series.intervals {
            validate_intervals(chart, series, intervals)?;
        }
    }
    Ok(())
}

/// One interval per point, each containing its point's y.
fn validate_intervals(chart: &LineChart, series: &Series, intervals: &[(f64, f64)]) -> Result<()> {
    let (points, given) = (series.points.len(), intervals.len());
    if points != given {
        let missing = if given < points {
            format!("point {given} has none")
        } else {
            format!("interval {points} has no point")
        };
        return Err(Error::InvalidData(format!(
            "{CHART} {:?}: series {:?} has {given} intervals for {points} points; {missing}",
            chart.title, series.name
        )));
    }
    for (i, (&(_, y), &interval)) in series.points.iter().zip(intervals).enumerate() {
        let at = format!("series {:?}, point {i}", series.name);
        require_interval(CHART, &at, y, interval, chart.log_y)?;
    }
    Ok(())
}

/// The y range, wide enough for every point and every interval end, so no
/// error bar is cut off by the frame.
fn y_range(chart: &LineChart) -> Range<f64> {
    let ys = chart.series.iter().flat_map(|s| {
        let ends = s.intervals.iter().flatten().flat_map(|&(lo, hi)| [lo, hi]);
        s.points.iter().map(|p| p.1).chain(ends)
    });
    axis_range(ys, chart.log_y)
}

fn series_color(chart: &LineChart, i: usize) -> RGBColor {
    color(chart.series[i].color.unwrap_or(i))
}

fn legend_entries(chart: &LineChart) -> Vec<LegendEntry> {
    chart
        .series
        .iter()
        .enumerate()
        .map(|(i, s)| LegendEntry {
            label: s.name.clone(),
            color: series_color(chart, i),
            dashed: s.dash == Dash::Dashed,
            line: true,
            marker: if s.markers { Marker::Dot } else { Marker::None },
        })
        .collect()
}

/// Draws axes and series in coordinates `x` and `y` (linear or log).
fn plot_series<X, Y>(area: &Area<'_>, chart: &LineChart, x: X, y: Y) -> Result<()>
where
    X: Ranged<ValueType = f64> + ValueFormatter<f64>,
    Y: Ranged<ValueType = f64> + ValueFormatter<f64>,
{
    let mut ctx = ChartBuilder::on(area)
        .margin(10)
        .x_label_area_size(45)
        .y_label_area_size(75)
        .build_cartesian_2d(x, y)
        .map_err(drawing)?;
    draw_mesh(&mut ctx, &chart.x_label, &chart.y_label)?;
    // Every bar first, so no bar crosses another series' line or marker.
    for (i, series) in chart.series.iter().enumerate() {
        if let Some(intervals) = &series.intervals {
            let xs = series.points.iter().map(|p| p.0);
            draw_intervals(
                ctx.plotting_area(),
                xs.zip(intervals.iter().copied()),
                series_color(chart, i),
            )?;
        }
    }
    for (i, series) in chart.series.iter().enumerate() {
        let c = series_color(chart, i);
        let width = match series.dash {
            Dash::Solid => 2,
            Dash::Dashed => DASH_MARK,
        };
        ctx.draw_series(LineSeries::new(
            series.points.iter().copied(),
            c.stroke_width(width),
        ))
        .map_err(drawing)?;
        if series.markers {
            ctx.draw_series(series.points.iter().map(|&p| Circle::new(p, 3, c.filled())))
                .map_err(drawing)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::common::thin_polylines;
    use super::*;

    fn chart(series: Vec<Series>, log_y: bool) -> LineChart {
        LineChart {
            title: "MSE vs latent size".into(),
            x_label: "latent size".into(),
            y_label: "test MSE".into(),
            log_x: false,
            log_y,
            series,
        }
    }

    fn tied() -> Series {
        Series::new("tied", vec![(1.0, 0.5), (2.0, 0.25), (4.0, 0.125)])
    }

    fn error(chart: &LineChart) -> String {
        match line_chart(chart) {
            Err(Error::InvalidData(message)) => message,
            other => panic!("expected invalid data, got {other:?}"),
        }
    }

    #[test]
    fn series_with_intervals_get_one_bar_per_point() {
        let with = tied().with_intervals(vec![(0.4, 0.6), (0.2, 0.3), (0.1, 0.15)]);
        let plain = Series::new("untied", vec![(1.0, 0.45), (2.0, 0.2)]);
        let svg = line_chart(&chart(vec![with, plain], false)).unwrap();
        assert_eq!(
            thin_polylines(&svg, 0),
            3 * 3,
            "stem and two caps per point"
        );
        assert_eq!(thin_polylines(&svg, 1), 0, "no intervals, no bars");
    }

    #[test]
    fn degenerate_intervals_draw_nothing_extra() {
        let points = tied().points;
        let degenerate = tied().with_intervals(points.iter().map(|p| (p.1, p.1)).collect());
        for log_y in [false, true] {
            let with = line_chart(&chart(vec![degenerate.clone()], log_y)).unwrap();
            let without = line_chart(&chart(vec![tied()], log_y)).unwrap();
            assert_eq!(with, without);
        }
    }

    #[test]
    fn the_y_range_covers_every_interval_end() {
        for log_y in [false, true] {
            let wide = tied().with_intervals(vec![(0.01, 3.0), (0.2, 0.3), (0.1, 0.15)]);
            let range = y_range(&chart(vec![wide.clone()], log_y));
            assert!(range.start < 0.01 && range.end > 3.0, "{range:?}");
            assert!(line_chart(&chart(vec![wide], log_y)).is_ok());
        }
    }

    #[test]
    fn bad_intervals_are_errors_naming_the_series_and_point() {
        let bad = |intervals: Vec<(f64, f64)>, log_y: bool| {
            error(&chart(vec![tied().with_intervals(intervals)], log_y))
        };
        let cases = [
            (bad(vec![(0.4, 0.6), (0.2, 0.3)], false), "point 2"),
            (
                bad(vec![(0.4, 0.6), (0.2, 0.3), (0.1, 0.2), (0.0, 1.0)], false),
                "interval 3",
            ),
            (
                bad(vec![(0.4, 0.6), (f64::NAN, 0.3), (0.1, 0.2)], false),
                "point 1",
            ),
            (
                bad(vec![(0.4, 0.6), (0.2, 0.3), (0.1, f64::INFINITY)], false),
                "point 2",
            ),
            (
                bad(vec![(0.4, 0.6), (0.3, 0.4), (0.1, 0.2)], false),
                "point 1",
            ),
            (
                bad(vec![(0.6, 0.4), (0.2, 0.3), (0.1, 0.2)], false),
                "point 0",
            ),
            (
                bad(vec![(0.4, 0.6), (0.2, 0.3), (0.0, 0.2)], true),
                "point 2",
            ),
            (
                bad(vec![(-0.1, 0.6), (0.2, 0.3), (0.1, 0.2)], true),
                "point 0",
            ),
        ];
        for (message, index) in cases {
            assert!(message.contains("series \"tied\""), "{message}");
            assert!(message.contains(index), "{message} should name {index}");
        }
        // The same non-positive low end is fine on a linear axis.
        let linear = tied().with_intervals(vec![(-0.1, 0.6), (0.2, 0.3), (0.0, 0.2)]);
        assert!(line_chart(&chart(vec![linear], false)).is_ok());
    }
}
