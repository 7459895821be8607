//! The PCA spectrum: each component's share of the variance (left axis) and
//! the running total (right axis), the usual way to read how many
//! components a dataset needs.

use super::Svg;
use super::common::{
    Area, CHART_SIZE, DESC_SIZE, FONT, LABEL_SIZE, LEGEND_WIDTH, LegendEntry, Marker, axis_range,
    color, draw_legend, draw_mesh, drawing, integer_axis, linear_axis, log_axis, render,
    require_text, require_value, titled,
};
use crate::error::{Error, Result};
use crate::report::number::format_tick;
use plotters::coord::ranged1d::ValueFormatter;
use plotters::prelude::*;

/// A scree plot with cumulative explained variance.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ScreeChart {
    pub title: String,
    /// Explained-variance ratio of components 1, 2, ... (each in [0, 1]).
    pub explained_ratio: Vec<f64>,
    /// Running sum of `explained_ratio`, as the PCA reports it
    /// (non-decreasing, in [0, 1]); passed in so the chart does no
    /// arithmetic on the spectrum.
    pub cumulative_ratio: Vec<f64>,
    /// Logarithmic left axis: spectra of images fall by decades.
    pub log_y: bool,
}

const CHART: &str = "scree chart";
/// Ratios may overshoot 1 by rounding in the PCA that produced them.
const SLACK: f64 = 1e-9;
/// Beyond this many components, point markers would merge into a smear.
const MAX_MARKED: usize = 64;

/// Draws `chart` as SVG.
///
/// # Errors
/// [`Error::Render`] for a blank title; [`Error::InvalidData`] for an empty
/// spectrum, lengths that differ, ratios outside [0, 1] or non-finite, a
/// decreasing cumulative curve, or a zero ratio on a log axis.
pub fn scree_chart(chart: &ScreeChart) -> Result<Svg> {
    validate(chart)?;
    let k = chart.explained_ratio.len();
    let x = axis_range([1.0, k as f64], false);
    let y = axis_range(chart.explained_ratio.iter().copied(), chart.log_y);
    render(CHART_SIZE, |root| {
        let body = titled(root, &chart.title)?;
        let (plot, legend) = body.split_horizontally(CHART_SIZE.0 - LEGEND_WIDTH);
        if chart.log_y {
            plot_spectrum(&plot, chart, x, log_axis(y))?;
        } else {
            let y = 0.0_f64.min(y.start)..y.end;
            plot_spectrum(&plot, chart, x, linear_axis(y))?;
        }
        let marker = if k <= MAX_MARKED {
            Marker::Dot
        } else {
            Marker::None
        };
        draw_legend(
            &legend,
            &[
                LegendEntry {
                    label: "per component (left)".into(),
                    color: color(0),
                    dashed: false,
                    line: true,
                    marker,
                },
                LegendEntry {
                    label: "cumulative (right)".into(),
                    color: color(1),
                    dashed: false,
                    line: true,
                    marker,
                },
            ],
        )
    })
}

fn validate(chart: &ScreeChart) -> Result<()> {
    require_text(CHART, "title", &chart.title)?;
    let k = chart.explained_ratio.len();
    if k == 0 {
        return Err(Error::InvalidData(format!(
            "{CHART} {:?}: empty spectrum",
            chart.title
        )));
    }
    if chart.cumulative_ratio.len() != k {
        return Err(Error::InvalidData(format!(
            "{CHART} {:?}: {k} explained ratios but {} cumulative ratios",
            chart.title,
            chart.cumulative_ratio.len()
        )));
    }
    let mut previous = 0.0;
    for i in 0..k {
        let (e, c) = (chart.explained_ratio[i], chart.cumulative_ratio[i]);
        require_value(CHART, &format!("explained ratio {}", i + 1), e, chart.log_y)?;
        require_value(CHART, &format!("cumulative ratio {}", i + 1), c, false)?;
        if !(0.0..=1.0 + SLACK).contains(&e) || !(0.0..=1.0 + SLACK).contains(&c) {
            return Err(Error::InvalidData(format!(
                "{CHART} {:?}: component {} has ratio {e} / cumulative {c}; ratios lie in [0, 1]",
                chart.title,
                i + 1
            )));
        }
        if c + SLACK < previous {
            return Err(Error::InvalidData(format!(
                "{CHART} {:?}: cumulative ratio decreases at component {}",
                chart.title,
                i + 1
            )));
        }
        previous = c;
    }
    Ok(())
}

fn plot_spectrum<Y>(
    area: &Area<'_>,
    chart: &ScreeChart,
    x: std::ops::Range<f64>,
    y: Y,
) -> Result<()>
where
    Y: Ranged<ValueType = f64> + ValueFormatter<f64>,
{
    let mut ctx = ChartBuilder::on(area)
        .margin(10)
        .x_label_area_size(45)
        .y_label_area_size(75)
        .right_y_label_area_size(60)
        .build_cartesian_2d(integer_axis(x.clone(), 12), y)
        .map_err(drawing)?
        .set_secondary_coord(integer_axis(x, 12), linear_axis(0.0..1.05));
    draw_mesh(&mut ctx, "principal component", "explained variance ratio")?;
    ctx.configure_secondary_axes()
        .y_desc("cumulative explained variance")
        .y_label_formatter(&|v| format_tick(*v))
        .label_style((FONT, LABEL_SIZE))
        .axis_desc_style((FONT, DESC_SIZE))
        .draw()
        .map_err(drawing)?;
    let index = |i: usize| (i + 1) as f64;
    let marked = chart.explained_ratio.len() <= MAX_MARKED;
    let (c0, c1) = (color(0), color(1));
    let explained: Vec<(f64, f64)> = chart
        .explained_ratio
        .iter()
        .enumerate()
        .map(|(i, &e)| (index(i), e))
        .collect();
    let cumulative: Vec<(f64, f64)> = chart
        .cumulative_ratio
        .iter()
        .enumerate()
        .map(|(i, &c)| (index(i), c))
        .collect();
    ctx.draw_series(LineSeries::new(
        explained.iter().copied(),
        c0.stroke_width(2),
    ))
    .map_err(drawing)?;
    ctx.draw_secondary_series(LineSeries::new(
        cumulative.iter().copied(),
        c1.stroke_width(2),
    ))
    .map_err(drawing)?;
    if marked {
        ctx.draw_series(explained.iter().map(|&p| Circle::new(p, 3, c0.filled())))
            .map_err(drawing)?;
        ctx.draw_secondary_series(cumulative.iter().map(|&p| Circle::new(p, 3, c1.filled())))
            .map_err(drawing)?;
    }
    Ok(())
}
