//! Grouped bar charts over named categories: principal angles of each model
//! to the PCA subspace, parameter counts, anything with a few named bins.

use super::Svg;
use super::common::{
    CHART_SIZE, DESC_SIZE, FONT, LABEL_SIZE, LEGEND_WIDTH, LegendEntry, Marker, axis_range, color,
    draw_legend, drawing, integer_axis, linear_axis, render, require_text, require_value, titled,
};
use crate::error::{Error, Result};
use crate::report::number::format_tick;
use plotters::prelude::*;

/// One bar per category, all in one colour.
#[derive(Debug, Clone, PartialEq)]
pub struct BarGroup {
    pub name: String,
    /// One value per category of the chart, in the same order.
    pub values: Vec<f64>,
}

/// Bars for each category, one per group, side by side.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct BarChart {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    /// Names along the x axis.
    pub categories: Vec<String>,
    pub groups: Vec<BarGroup>,
}

const CHART: &str = "bar chart";
/// Share of a category's slot the bars fill; the rest separates categories.
const FILL: f64 = 0.8;

/// Draws `chart` as SVG. Bars start at zero, so negative values point down.
///
/// # Errors
/// [`Error::Render`] for a blank title, label, category or group name;
/// [`Error::InvalidData`] for no categories or groups, a group whose length
/// differs from the categories', or a non-finite value.
pub fn bar_chart(chart: &BarChart) -> Result<Svg> {
    validate(chart)?;
    let n = chart.categories.len();
    let values = chart.groups.iter().flat_map(|g| g.values.iter().copied());
    let y = axis_range(values.chain([0.0]), false);
    let y = if y.start < 0.0
        && chart
            .groups
            .iter()
            .all(|g| g.values.iter().all(|&v| v >= 0.0))
    {
        0.0..y.end
    } else {
        y
    };
    render(CHART_SIZE, |root| {
        let body = titled(root, &chart.title)?;
        let (plot, legend) = body.split_horizontally(CHART_SIZE.0 - LEGEND_WIDTH);
        let mut ctx = ChartBuilder::on(&plot)
            .margin(10)
            .x_label_area_size(45)
            .y_label_area_size(75)
            .build_cartesian_2d(integer_axis(-0.5..n as f64 - 0.5, n), linear_axis(y))
            .map_err(drawing)?;
        // Ticks fall on the category slots 0..n.
        let category = |v: &f64| {
            let i = v.round();
            if (v - i).abs() < 1e-9 && i >= 0.0 && (i as usize) < n {
                chart.categories[i as usize].clone()
            } else {
                String::new()
            }
        };
        ctx.configure_mesh()
            .disable_x_mesh()
            .x_desc(chart.x_label.as_str())
            .y_desc(chart.y_label.as_str())
            .x_label_formatter(&category)
            .y_label_formatter(&|v| format_tick(*v))
            .label_style((FONT, LABEL_SIZE))
            .axis_desc_style((FONT, DESC_SIZE))
            .light_line_style(WHITE.mix(0.0))
            .bold_line_style(BLACK.mix(0.12))
            .draw()
            .map_err(drawing)?;
        let width = FILL / chart.groups.len() as f64;
        for (j, group) in chart.groups.iter().enumerate() {
            let c = color(j);
            ctx.draw_series(group.values.iter().enumerate().map(|(i, &v)| {
                let left = i as f64 - FILL / 2.0 + j as f64 * width;
                Rectangle::new([(left, 0.0), (left + width, v)], c.filled())
            }))
            .map_err(drawing)?;
        }
        let entries: Vec<LegendEntry> = chart
            .groups
            .iter()
            .enumerate()
            .map(|(j, g)| LegendEntry {
                label: g.name.clone(),
                color: color(j),
                dashed: false,
                line: false,
                marker: Marker::Square,
            })
            .collect();
        draw_legend(&legend, &entries)
    })
}

fn validate(chart: &BarChart) -> Result<()> {
    require_text(CHART, "title", &chart.title)?;
    require_text(CHART, "x label", &chart.x_label)?;
    require_text(CHART, "y label", &chart.y_label)?;
    if chart.categories.is_empty() || chart.groups.is_empty() {
        return Err(Error::InvalidData(format!(
            "{CHART} {:?}: needs at least one category and one group",
            chart.title
        )));
    }
    for category in &chart.categories {
        require_text(CHART, "category name", category)?;
    }
    for group in &chart.groups {
        require_text(CHART, "group name", &group.name)?;
        if group.values.len() != chart.categories.len() {
            return Err(Error::InvalidData(format!(
                "{CHART} {:?}: group {:?} has {} values for {} categories",
                chart.title,
                group.name,
                group.values.len(),
                chart.categories.len()
            )));
        }
        for (i, &v) in group.values.iter().enumerate() {
            let what = format!("group {:?}, category {:?}", group.name, chart.categories[i]);
            require_value(CHART, &what, v, false)?;
        }
    }
    Ok(())
}
