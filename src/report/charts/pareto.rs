//! Scatter of cost against quality with the Pareto front highlighted:
//! reconstruction MSE against parameter count, one colour per model kind.

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

/// One measured configuration.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ParetoPoint {
    pub x: f64,
    pub y: f64,
    /// Whether no other point is at least as good on both axes and better on
    /// one. The caller decides (the study computes it alongside its
    /// results), so the chart only draws what the data says.
    pub on_front: bool,
}

/// The points of one model kind, drawn in one colour.
#[derive(Debug, Clone, PartialEq)]
pub struct ParetoGroup {
    pub name: String,
    pub points: Vec<ParetoPoint>,
}

/// A scatter with its Pareto front joined by a black line and ringed.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ParetoChart {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub log_x: bool,
    pub log_y: bool,
    pub groups: Vec<ParetoGroup>,
}

const CHART: &str = "Pareto chart";

/// Draws `chart` as SVG.
///
/// # Errors
/// [`Error::Render`] for a blank title, label or group name;
/// [`Error::InvalidData`] for no groups, an empty group, a non-finite
/// coordinate (or non-positive on a log axis), or no point on the front.
pub fn pareto_chart(chart: &ParetoChart) -> Result<Svg> {
    validate(chart)?;
    let all = || chart.groups.iter().flat_map(|g| g.points.iter());
    let x = axis_range(all().map(|p| p.x), chart.log_x);
    let y = axis_range(all().map(|p| p.y), chart.log_y);
    render(CHART_SIZE, |root| {
        let body = titled(root, &chart.title)?;
        let (plot, legend) = body.split_horizontally(CHART_SIZE.0 - LEGEND_WIDTH);
        match (chart.log_x, chart.log_y) {
            (false, false) => plot_points(&plot, chart, linear_axis(x), linear_axis(y)),
            (true, false) => plot_points(&plot, chart, log_axis(x), linear_axis(y)),
            (false, true) => plot_points(&plot, chart, linear_axis(x), log_axis(y)),
            (true, true) => plot_points(&plot, chart, log_axis(x), log_axis(y)),
        }?;
        let mut entries: Vec<LegendEntry> = chart
            .groups
            .iter()
            .enumerate()
            .map(|(i, g)| LegendEntry {
                label: g.name.clone(),
                color: color(i),
                dashed: false,
                line: false,
                marker: Marker::Dot,
            })
            .collect();
        entries.push(LegendEntry {
            label: "Pareto front".into(),
            color: BLACK,
            dashed: false,
            line: true,
            marker: Marker::Ring,
        });
        draw_legend(&legend, &entries)
    })
}

fn validate(chart: &ParetoChart) -> Result<()> {
    require_text(CHART, "title", &chart.title)?;
    require_text(CHART, "x label", &chart.x_label)?;
    require_text(CHART, "y label", &chart.y_label)?;
    if chart.groups.is_empty() {
        return Err(Error::InvalidData(format!(
            "{CHART} {:?}: no points to draw",
            chart.title
        )));
    }
    for group in &chart.groups {
        require_text(CHART, "group name", &group.name)?;
        if group.points.is_empty() {
            return Err(Error::InvalidData(format!(
                "{CHART} {:?}: group {:?} has no points",
                chart.title, group.name
            )));
        }
        for (i, p) in group.points.iter().enumerate() {
            let at = |axis| format!("group {:?}, point {i}, {axis}", group.name);
            require_value(CHART, &at("x"), p.x, chart.log_x)?;
            require_value(CHART, &at("y"), p.y, chart.log_y)?;
        }
    }
    if !chart
        .groups
        .iter()
        .flat_map(|g| &g.points)
        .any(|p| p.on_front)
    {
        return Err(Error::InvalidData(format!(
            "{CHART} {:?}: no point is marked as on the Pareto front",
            chart.title
        )));
    }
    Ok(())
}

fn plot_points<X, Y>(area: &Area<'_>, chart: &ParetoChart, x: X, y: Y) -> Result<()>
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
    // The front in order of cost, so the line reads left to right.
    let mut front: Vec<(f64, f64)> = chart
        .groups
        .iter()
        .flat_map(|g| g.points.iter())
        .filter(|p| p.on_front)
        .map(|p| (p.x, p.y))
        .collect();
    front.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.total_cmp(&b.1)));
    ctx.draw_series(LineSeries::new(
        front.iter().copied(),
        BLACK.stroke_width(1),
    ))
    .map_err(drawing)?;
    for (i, group) in chart.groups.iter().enumerate() {
        let c = color(i);
        ctx.draw_series(
            group
                .points
                .iter()
                .map(|p| Circle::new((p.x, p.y), 4, c.filled())),
        )
        .map_err(drawing)?;
    }
    ctx.draw_series(
        front
            .iter()
            .map(|&p| Circle::new(p, 7, BLACK.stroke_width(2))),
    )
    .map_err(drawing)?;
    Ok(())
}
