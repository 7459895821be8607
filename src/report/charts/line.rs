//! Line charts with several named series: MSE vs latent size, training
//! curves, gradient-norm traces, train/test MSE vs training-set size,
//! principal angles by index.

use super::Svg;
use super::common::{
    Area, CHART_SIZE, DESC_SIZE, FONT, LABEL_SIZE, LEGEND_WIDTH, LegendEntry, Marker, axis_range,
    color, draw_legend, drawing, linear_axis, log_axis, render, require_text, require_value,
    titled,
};
use crate::error::{Error, Result};
use crate::report::number::format_tick;
use plotters::coord::ranged1d::ValueFormatter;
use plotters::prelude::*;

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
/// coordinate, or a non-positive coordinate on a log axis.
pub fn line_chart(chart: &LineChart) -> Result<Svg> {
    validate(chart)?;
    let xs = chart
        .series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.0));
    let ys = chart
        .series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.1));
    let x = axis_range(xs, chart.log_x);
    let y = axis_range(ys, chart.log_y);
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
    }
    Ok(())
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
    ctx.configure_mesh()
        .x_desc(chart.x_label.as_str())
        .y_desc(chart.y_label.as_str())
        .x_label_formatter(&|v| format_tick(*v))
        .y_label_formatter(&|v| format_tick(*v))
        .label_style((FONT, LABEL_SIZE))
        .axis_desc_style((FONT, DESC_SIZE))
        .light_line_style(WHITE.mix(0.0))
        .bold_line_style(BLACK.mix(0.12))
        .draw()
        .map_err(drawing)?;
    for (i, series) in chart.series.iter().enumerate() {
        let c = series_color(chart, i);
        let style = c.stroke_width(2);
        let points = series.points.iter().copied();
        match series.dash {
            Dash::Solid => ctx.draw_series(LineSeries::new(points, style)),
            Dash::Dashed => ctx.draw_series(DashedLineSeries::new(points, 8, 5, style)),
        }
        .map_err(drawing)?;
        if series.markers {
            ctx.draw_series(series.points.iter().map(|&p| Circle::new(p, 3, c.filled())))
                .map_err(drawing)?;
        }
    }
    Ok(())
}
