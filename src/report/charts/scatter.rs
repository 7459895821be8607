//! Small multiples of 2-D codes, one panel per model, each point a test
//! sample coloured by its class: how PCA and each autoencoder lay the
//! classes out in a two-unit code.
//!
//! Axes and labels are SVG; the dots are one embedded PNG raster (see
//! [`super::png`]), since hundreds of SVG circles would weigh more than
//! the rest of a report page. Every panel has its own axes: a code is only defined up to an
//! invertible map of the latent space (a rotation for tied and PCA models,
//! any linear map for untied ones), so only the arrangement of the classes
//! is comparable across panels, never the coordinates.

use super::Svg;
use super::common::{
    Area, DESC_SIZE, FONT, LABEL_SIZE, LegendEntry, Marker, axis_range, draw_legend, drawing,
    linear_axis, render, require_text, require_value, titled,
};
use super::png::Raster;
use crate::error::{Error, Result};
use crate::report::number::format_tick;
use plotters::prelude::*;

/// One model's codes.
#[derive(Debug, Clone, PartialEq)]
pub struct ScatterPanel {
    /// The model, shown above its panel.
    pub title: String,
    /// One (code 1, code 2) per sample.
    pub points: Vec<(f64, f64)>,
}

/// Panels of 2-D codes of the same samples, coloured by `labels`.
#[derive(Debug, Clone, PartialEq)]
pub struct ScatterChart {
    pub title: String,
    /// The class of each sample (the same samples in every panel).
    pub labels: Vec<u32>,
    pub panels: Vec<ScatterPanel>,
}

const CHART: &str = "scatter chart";
const WIDTH: u32 = 860;
const PANEL_HEIGHT: u32 = 320;
const COLUMNS: usize = 2;
const LEGEND_WIDTH: u32 = 120;
const HEADER: u32 = 40;

/// Ten classes' colours (matplotlib's tab10, which keeps ten classes
/// apart), cycling beyond ten.
const CLASSES: [RGBColor; 10] = [
    RGBColor(0x1f, 0x77, 0xb4),
    RGBColor(0xff, 0x7f, 0x0e),
    RGBColor(0x2c, 0xa0, 0x2c),
    RGBColor(0xd6, 0x27, 0x28),
    RGBColor(0x94, 0x67, 0xbd),
    RGBColor(0x8c, 0x56, 0x4b),
    RGBColor(0xe3, 0x77, 0xc2),
    RGBColor(0x7f, 0x7f, 0x7f),
    RGBColor(0xbc, 0xbd, 0x22),
    RGBColor(0x17, 0xbe, 0xcf),
];

fn class_color(label: u32) -> RGBColor {
    CLASSES[label as usize % CLASSES.len()]
}

/// Draws `chart` as SVG: panels two to a row, a class legend on the right.
///
/// # Errors
/// [`Error::Render`] for a blank title; [`Error::InvalidData`] for no
/// panels, a panel without points or with a different number of points
/// than there are labels, or a non-finite coordinate.
pub fn scatter_chart(chart: &ScatterChart) -> Result<Svg> {
    validate(chart)?;
    let rows = chart.panels.len().div_ceil(COLUMNS) as u32;
    let size = (WIDTH, HEADER + rows * PANEL_HEIGHT);
    let mut classes: Vec<u32> = chart.labels.clone();
    classes.sort_unstable();
    classes.dedup();
    let mut dots: Vec<((i32, i32), RGBColor)> = Vec::new();
    let svg = render(size, |root| {
        let body = titled(root, &chart.title)?;
        let (grid, legend) = body.split_horizontally(WIDTH - LEGEND_WIDTH);
        let cells = grid.split_evenly((rows as usize, COLUMNS));
        for (panel, area) in chart.panels.iter().zip(&cells) {
            draw_panel(area, panel, &chart.labels, &mut dots)?;
        }
        let entries: Vec<LegendEntry> = classes
            .iter()
            .map(|&c| LegendEntry {
                label: format!("class {c}"),
                color: class_color(c),
                dashed: false,
                line: false,
                marker: Marker::Dot,
            })
            .collect();
        draw_legend(&legend, &entries)
    })?;
    let mut raster = Raster::new(size.0 as usize, size.1 as usize)?;
    for ((x, y), c) in dots {
        // A disc of radius 2: the 5 x 5 square without its corners.
        for (dx, dy, w, h) in [(-2, -1, 5, 3), (-1, -2, 3, 5)] {
            if let (Ok(x), Ok(y)) = (usize::try_from(x + dx), usize::try_from(y + dy)) {
                raster.fill((x, y), (w, h), [c.0, c.1, c.2]);
            }
        }
    }
    svg.with_image(&raster)
}

/// Draws a panel's frame, axes and title, and appends its dots (canvas
/// pixel, colour) to `dots` for the raster.
fn draw_panel(
    area: &Area<'_>,
    panel: &ScatterPanel,
    labels: &[u32],
    dots: &mut Vec<((i32, i32), RGBColor)>,
) -> Result<()> {
    let x = axis_range(panel.points.iter().map(|p| p.0), false);
    let y = axis_range(panel.points.iter().map(|p| p.1), false);
    let mut ctx = ChartBuilder::on(area)
        .caption(panel.title.as_str(), (FONT, DESC_SIZE))
        .margin(8)
        .x_label_area_size(30)
        .y_label_area_size(55)
        .build_cartesian_2d(linear_axis(x), linear_axis(y))
        .map_err(drawing)?;
    ctx.configure_mesh()
        .x_desc("code 1")
        .y_desc("code 2")
        .x_label_formatter(&|v| format_tick(*v))
        .y_label_formatter(&|v| format_tick(*v))
        .x_labels(5)
        .y_labels(5)
        .label_style((FONT, LABEL_SIZE))
        .axis_desc_style((FONT, LABEL_SIZE))
        .light_line_style(WHITE.mix(0.0))
        .bold_line_style(BLACK.mix(0.08))
        .draw()
        .map_err(drawing)?;
    dots.extend(
        panel
            .points
            .iter()
            .zip(labels)
            .map(|(p, &l)| (ctx.backend_coord(p), class_color(l))),
    );
    Ok(())
}

fn validate(chart: &ScatterChart) -> Result<()> {
    require_text(CHART, "title", &chart.title)?;
    if chart.panels.is_empty() {
        return Err(Error::InvalidData(format!(
            "{CHART} {:?}: no panels to draw",
            chart.title
        )));
    }
    for panel in &chart.panels {
        require_text(CHART, "panel title", &panel.title)?;
        if panel.points.is_empty() || panel.points.len() != chart.labels.len() {
            return Err(Error::InvalidData(format!(
                "{CHART} {:?}: panel {:?} has {} points for {} labels",
                chart.title,
                panel.title,
                panel.points.len(),
                chart.labels.len()
            )));
        }
        for (i, &(a, b)) in panel.points.iter().enumerate() {
            let at = |axis| format!("panel {:?}, point {i}, {axis}", panel.title);
            require_value(CHART, &at("code 1"), a, false)?;
            require_value(CHART, &at("code 2"), b, false)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chart() -> ScatterChart {
        ScatterChart {
            title: "codes".into(),
            labels: vec![0, 1, 1, 9],
            panels: vec![
                ScatterPanel {
                    title: "PCA".into(),
                    points: vec![(0.0, 1.0), (1.0, 0.0), (2.0, 2.0), (-1.0, 0.5)],
                },
                ScatterPanel {
                    title: "tied".into(),
                    points: vec![(0.0, 0.0), (1.0, 1.0), (3.0, 2.0), (4.0, 0.5)],
                },
                ScatterPanel {
                    title: "untied".into(),
                    points: vec![(5.0, 1.0), (1.0, 0.0), (2.0, 2.0), (-1.0, 0.5)],
                },
            ],
        }
    }

    #[test]
    fn one_raster_of_dots_coloured_by_class_and_a_legend() {
        let svg = scatter_chart(&chart()).unwrap();
        let text = svg.as_str();
        assert_eq!(text.matches("<image ").count(), 1, "dots are one raster");
        assert_eq!(
            text.matches("<circle").count(),
            3,
            "legend dots: classes 0, 1 and 9"
        );
        for title in ["PCA", "tied", "untied", "class 9", "code 1"] {
            assert!(text.contains(title), "{title}");
        }
    }

    #[test]
    fn bad_input_is_refused() {
        let mut c = chart();
        c.panels[1].points.pop();
        assert!(matches!(scatter_chart(&c), Err(Error::InvalidData(_))));
        let mut c = chart();
        c.panels[0].points[2].1 = f64::NAN;
        assert!(matches!(scatter_chart(&c), Err(Error::InvalidData(_))));
        let mut c = chart();
        c.panels.clear();
        assert!(matches!(scatter_chart(&c), Err(Error::InvalidData(_))));
        let mut c = chart();
        c.title = " ".into();
        assert!(matches!(scatter_chart(&c), Err(Error::Render(_))));
    }
}
