//! Charts drawn with plotters' SVG backend into strings (no files, no fonts).
//!
//! Each chart is a plain spec struct plus one function returning [`Svg`]. The
//! functions validate their input first (no empty series, no NaN or infinity,
//! positive values on log axes) and answer bad input with an error rather
//! than a blank or broken picture. Text is emitted as SVG `<text>` elements
//! laid out with plotters' built-in size estimate, so no system font is read
//! at render time: the browser draws the text with its own sans-serif font.
//!
//! Line and Pareto charts can also draw a vertical error bar around each y:
//! the 95% seed interval the study frame gives for that finding. The chart
//! only draws the intervals it is handed, after checking that each one holds
//! its point, and widens the y axis so that no bar is clipped.

mod bars;
mod common;
mod forest;
mod image_grid;
mod line;
mod pareto;
mod png;
mod scatter;
mod scree;

pub use bars::{BarChart, BarGroup, bar_chart};
pub use forest::{ForestChart, ForestRow, forest_chart};
pub use image_grid::{ImageGrid, ImageRow, TileColors, image_grid};
pub use line::{Dash, LineChart, Series, line_chart};
pub use pareto::{ParetoChart, ParetoGroup, ParetoPoint, pareto_chart};
pub use scatter::{ScatterChart, ScatterPanel, scatter_chart};
pub use scree::{ScreeChart, scree_chart};

use std::fmt;

/// A canvas to draw on with plotters, as [`figure`] hands it out.
pub type Canvas<'a> =
    plotters::drawing::DrawingArea<plotters::backend::SVGBackend<'a>, plotters::coord::Shift>;

/// Draws a chart of your own with plotters onto a white SVG canvas of
/// `size` pixels and returns it as an [`Svg`], which a notebook shows
/// inline: the `evcxr_figure` convention of evcxr's plotters examples, so
/// their code runs as it is. Text stays SVG text, as in every chart here.
///
/// ```
/// use tiedae::display::prelude::*;
/// let svg = figure((320, 200), |root| {
///     let mut chart = ChartBuilder::on(&root).build_cartesian_2d(0.0..1.0, 0.0..1.0)?;
///     chart.draw_series(LineSeries::new([(0.0, 0.0), (1.0, 1.0)], &BLUE))?;
///     Ok(())
/// })?;
/// assert!(svg.as_str().contains("<polyline"));
/// # Ok::<(), tiedae::Error>(())
/// ```
///
/// # Errors
/// [`crate::Error::Render`] with the message of whatever `draw` returned.
pub fn figure<F>(size: (u32, u32), draw: F) -> crate::error::Result<Svg>
where
    F: FnOnce(Canvas<'_>) -> std::result::Result<(), Box<dyn std::error::Error>>,
{
    common::render(size, |root| {
        draw(root.clone()).map_err(|e| crate::error::Error::Render(format!("figure: {e}")))
    })
}

/// A finished chart: one complete `<svg>` element with its drawing inside.
///
/// Only the chart functions of this module make these. That is why report
/// pages may inline an `Svg` unescaped: its text came from plotters, which
/// escapes every label, and never from arbitrary caller strings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Svg(String);

impl Svg {
    /// The SVG document text, starting with `<svg`.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Lays `raster` over the whole canvas, as an embedded PNG `<image>`
    /// after everything plotters drew.
    fn with_image(self, raster: &png::Raster) -> crate::error::Result<Svg> {
        let (w, h) = raster.size();
        let close = self
            .0
            .rfind("</svg>")
            .ok_or_else(|| crate::error::Error::Render("chart has no closing </svg> tag".into()))?;
        let mut text = self.0;
        text.insert_str(
            close,
            &format!(
                "<image x=\"0\" y=\"0\" width=\"{w}\" height=\"{h}\" href=\"{}\"/>\n",
                raster.data_uri()?
            ),
        );
        Ok(Svg(text))
    }

    /// Wraps text a chart function made from plotters' output (for the
    /// post-processing steps of this module only).
    fn from_chart_text(text: String) -> Svg {
        Svg(text)
    }

    /// Consumes the chart, returning its SVG text.
    pub fn into_string(self) -> String {
        self.0
    }
}

impl fmt::Display for Svg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for Svg {
    fn as_ref(&self) -> &str {
        &self.0
    }
}
