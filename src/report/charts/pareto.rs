//! Scatter of cost against quality with the Pareto front highlighted:
//! reconstruction MSE against parameter count, one colour per model kind.

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

/// One measured configuration.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ParetoPoint {
    pub x: f64,
    pub y: f64,
    /// Whether no other point is at least as good on both axes and better on
    /// one. The caller decides (the study computes it alongside its
    /// results), so the chart only draws what the data says.
    pub on_front: bool,
    /// The 95% seed interval `(lo, hi)` around `y` from the study frame,
    /// drawn as a vertical error bar; `None` draws none. The chart only
    /// draws what it is given: the front stays whatever `on_front` says,
    /// and an interval not containing `y` is refused, not drawn.
    pub y_interval: Option<(f64, f64)>,
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
/// coordinate (or non-positive on a log axis), a likewise bad interval end
/// or an interval not containing its `y`, or no point on the front.
pub fn pareto_chart(chart: &ParetoChart) -> Result<Svg> {
    validate(chart)?;
    let all = || chart.groups.iter().flat_map(|g| g.points.iter());
    let x = axis_range(all().map(|p| p.x), chart.log_x);
    let y = y_range(chart);
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
            if let Some(interval) = p.y_interval {
                let at = format!("group {:?}, point {i}", group.name);
                require_interval(CHART, &at, p.y, interval, chart.log_y)?;
            }
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

/// The y range, wide enough for every point and every interval end, so no
/// error bar is cut off by the frame.
fn y_range(chart: &ParetoChart) -> Range<f64> {
    let ys = chart.groups.iter().flat_map(|g| &g.points).flat_map(|p| {
        let ends = p.y_interval.into_iter().flat_map(|(lo, hi)| [lo, hi]);
        std::iter::once(p.y).chain(ends)
    });
    axis_range(ys, chart.log_y)
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
    draw_mesh(&mut ctx, &chart.x_label, &chart.y_label)?;
    // Bars first, behind the front line and every marker.
    for (i, group) in chart.groups.iter().enumerate() {
        let bars = group
            .points
            .iter()
            .filter_map(|p| p.y_interval.map(|interval| (p.x, interval)));
        draw_intervals(ctx.plotting_area(), bars, color(i))?;
    }
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

#[cfg(test)]
mod tests {
    use super::super::common::thin_polylines;
    use super::*;

    fn point(x: f64, y: f64, on_front: bool, y_interval: Option<(f64, f64)>) -> ParetoPoint {
        ParetoPoint {
            x,
            y,
            on_front,
            y_interval,
        }
    }

    fn chart(points: Vec<ParetoPoint>, log_y: bool) -> ParetoChart {
        ParetoChart {
            title: "Error vs parameter count".into(),
            x_label: "parameters".into(),
            y_label: "test MSE".into(),
            log_x: true,
            log_y,
            groups: vec![
                ParetoGroup {
                    name: "tied".into(),
                    points,
                },
                ParetoGroup {
                    name: "untied".into(),
                    points: vec![point(2192.0, 0.0149, true, None)],
                },
            ],
        }
    }

    fn error(chart: &ParetoChart) -> String {
        match pareto_chart(chart) {
            Err(Error::InvalidData(message)) => message,
            other => panic!("expected invalid data, got {other:?}"),
        }
    }

    #[test]
    fn points_with_intervals_get_one_bar_each() {
        let points = vec![
            point(576.0, 0.0232, true, Some((0.021, 0.025))),
            point(1152.0, 0.0150, true, Some((0.014, 0.016))),
            point(1700.0, 0.0180, false, None),
            point(2304.0, 0.0160, false, Some((0.0160, 0.0160))),
        ];
        let svg = pareto_chart(&chart(points, false)).unwrap();
        assert_eq!(thin_polylines(&svg, 0), 2 * 3, "stem and two caps per bar");
        assert_eq!(thin_polylines(&svg, 1), 0);
    }

    #[test]
    fn degenerate_intervals_draw_nothing_extra() {
        let points = |degenerate: bool| {
            [(576.0, 0.0232), (1152.0, 0.0150)]
                .map(|(x, y)| point(x, y, true, degenerate.then_some((y, y))))
                .to_vec()
        };
        assert_eq!(
            pareto_chart(&chart(points(true), true)).unwrap(),
            pareto_chart(&chart(points(false), true)).unwrap()
        );
    }

    #[test]
    fn the_y_range_covers_every_interval_end() {
        for log_y in [false, true] {
            let points = vec![point(576.0, 0.0232, true, Some((0.001, 0.5)))];
            let range = y_range(&chart(points.clone(), log_y));
            assert!(range.start < 0.001 && range.end > 0.5, "{range:?}");
            assert!(pareto_chart(&chart(points, log_y)).is_ok());
        }
    }

    #[test]
    fn bad_intervals_are_errors_naming_the_group_and_point() {
        let bad = |interval: (f64, f64), log_y: bool| {
            let points = vec![
                point(576.0, 0.0232, true, None),
                point(1152.0, 0.0150, true, Some(interval)),
            ];
            error(&chart(points, log_y))
        };
        for message in [
            bad((f64::NAN, 0.02), false),
            bad((0.01, f64::INFINITY), false),
            bad((0.016, 0.02), false),
            bad((0.01, 0.014), false),
            bad((0.02, 0.01), false),
            bad((0.0, 0.02), true),
            bad((-0.01, 0.02), true),
        ] {
            assert!(message.contains("group \"tied\", point 1"), "{message}");
        }
        assert!(
            pareto_chart(&chart(
                vec![point(576.0, 0.0232, true, Some((-0.01, 0.03)))],
                false
            ))
            .is_ok()
        );
    }
}
