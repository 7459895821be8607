//! Forest plots: one row per statement (a latent size, say), each an effect
//! with its interval as a horizontal bar, against a zero line and an
//! equivalence band, with the numbers written beside each row. A reader
//! sees at a glance which intervals clear zero, which sit inside the band
//! and which are too wide to say, without parsing intervals in text.

use super::Svg;
use super::common::{
    DESC_SIZE, FONT, LABEL_SIZE, axis_range, color, drawing, integer_axis, linear_axis, render,
    require_interval, require_text, require_value, titled,
};
use crate::error::{Error, Result};
use crate::report::number::format_tick;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

/// One row of a forest plot.
#[derive(Debug, Clone, PartialEq)]
pub struct ForestRow {
    /// What the row is about, e.g. `k = 4`.
    pub label: String,
    /// The point estimate.
    pub estimate: f64,
    /// The interval `(lo, hi)` around it.
    pub interval: (f64, f64),
    /// A reference value drawn as a ring on the same row (for the
    /// equal-weights question: PCA's own change), if any.
    pub reference: Option<f64>,
    /// Text written to the right of the row (the numbers behind the bar);
    /// may be empty.
    pub note: String,
}

/// A forest plot: rows top to bottom in the order given.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ForestChart {
    pub title: String,
    /// What the x axis measures, e.g. `tied vs untied test MSE, %`.
    pub x_label: String,
    pub rows: Vec<ForestRow>,
    /// The equivalence band `(lower, upper)`, shaded behind the rows.
    pub band: Option<(f64, f64)>,
}

const CHART: &str = "forest plot";
/// Canvas width; the plot takes what the note column leaves.
const WIDTH: u32 = 860;
/// Width of the note column on the right.
const NOTE_WIDTH: u32 = 330;
/// Height of one row, and of everything that is not rows.
const ROW_HEIGHT: u32 = 30;
const FRAME_HEIGHT: u32 = 110;
/// Fill of the equivalence band: light enough for the bars to read over it.
const BAND: RGBColor = RGBColor(0xDD, 0xEB, 0xF5);

/// Draws `chart` as SVG: the band shaded, a zero line, per row the interval
/// as a 2 px bar in the first palette colour with a dot at the estimate, a
/// ring at the reference, the label on the left and the note on the right.
///
/// # Errors
/// [`Error::Render`] for a blank title, axis label or row label;
/// [`Error::InvalidData`] for no rows, a non-finite value, an interval that
/// does not hold its estimate, or a band that is not `lower < upper`.
pub fn forest_chart(chart: &ForestChart) -> Result<Svg> {
    validate(chart)?;
    let n = chart.rows.len();
    let values = chart.rows.iter().flat_map(|r| {
        [r.estimate, r.interval.0, r.interval.1]
            .into_iter()
            .chain(r.reference)
    });
    let band = chart.band.into_iter().flat_map(|(lo, hi)| [lo, hi]);
    let x = axis_range(values.chain(band).chain([0.0]), false);
    let y = -0.5..n as f64 - 0.5;
    // Row i (from the top) sits at y = n - 1 - i.
    let at = |i: usize| (n - 1 - i) as f64;
    let height = FRAME_HEIGHT + ROW_HEIGHT * n as u32;
    render((WIDTH, height), |root| {
        let body = titled(root, &chart.title)?;
        let (plot, notes) = body.split_horizontally(WIDTH - NOTE_WIDTH);
        let mut ctx = ChartBuilder::on(&plot)
            .margin(10)
            .x_label_area_size(45)
            .y_label_area_size(120)
            .build_cartesian_2d(linear_axis(x), integer_axis(y.clone(), n))
            .map_err(drawing)?;
        let label = |v: &f64| {
            let i = v.round();
            if (v - i).abs() < 1e-9 && i >= 0.0 && (i as usize) < n {
                chart.rows[n - 1 - i as usize].label.clone()
            } else {
                String::new()
            }
        };
        ctx.configure_mesh()
            .disable_y_mesh()
            .x_desc(chart.x_label.as_str())
            .x_label_formatter(&|v| format_tick(*v))
            .y_label_formatter(&label)
            .label_style((FONT, LABEL_SIZE))
            .axis_desc_style((FONT, DESC_SIZE))
            .light_line_style(WHITE.mix(0.0))
            .bold_line_style(BLACK.mix(0.08))
            .draw()
            .map_err(drawing)?;
        let area = ctx.plotting_area();
        if let Some((lo, hi)) = chart.band {
            area.draw(&Rectangle::new([(lo, y.start), (hi, y.end)], BAND.filled()))
                .map_err(drawing)?;
        }
        area.draw(&PathElement::new(
            vec![(0.0, y.start), (0.0, y.end)],
            BLACK.stroke_width(1),
        ))
        .map_err(drawing)?;
        let bar = color(0).stroke_width(2);
        for (i, row) in chart.rows.iter().enumerate() {
            let (lo, hi) = row.interval;
            if hi > lo {
                area.draw(&PathElement::new(vec![(lo, at(i)), (hi, at(i))], bar))
                    .map_err(drawing)?;
            }
            if let Some(r) = row.reference {
                area.draw(&Circle::new((r, at(i)), 6, color(1).stroke_width(2)))
                    .map_err(drawing)?;
            }
            area.draw(&Circle::new((row.estimate, at(i)), 5, color(0).filled()))
                .map_err(drawing)?;
        }
        // The note column shares the plot's vertical layout (same margin
        // and x-label strip), so its rows line up with the bars.
        let note_ctx = ChartBuilder::on(&notes)
            .margin(10)
            .x_label_area_size(45)
            .build_cartesian_2d(0.0..1.0, y.clone())
            .map_err(drawing)?;
        let text = TextStyle::from((FONT, LABEL_SIZE).into_font())
            .color(&BLACK)
            .pos(Pos::new(HPos::Left, VPos::Center));
        for (i, row) in chart.rows.iter().enumerate() {
            if row.note.trim().is_empty() {
                continue;
            }
            note_ctx
                .plotting_area()
                .draw(&Text::new(row.note.clone(), (0.0, at(i)), text.clone()))
                .map_err(drawing)?;
        }
        Ok(())
    })
}

fn validate(chart: &ForestChart) -> Result<()> {
    require_text(CHART, "title", &chart.title)?;
    require_text(CHART, "x label", &chart.x_label)?;
    if chart.rows.is_empty() {
        return Err(Error::InvalidData(format!(
            "{CHART} {:?}: needs at least one row",
            chart.title
        )));
    }
    for (i, row) in chart.rows.iter().enumerate() {
        require_text(CHART, "row label", &row.label)?;
        let what = format!("row {i} ({:?})", row.label);
        require_value(CHART, &what, row.estimate, false)?;
        require_interval(CHART, &what, row.estimate, row.interval, false)?;
        if let Some(r) = row.reference {
            require_value(CHART, &format!("{what}, reference"), r, false)?;
        }
    }
    if let Some((lo, hi)) = chart.band {
        require_value(CHART, &"band, lower end", lo, false)?;
        require_value(CHART, &"band, upper end", hi, false)?;
        if lo >= hi {
            return Err(Error::InvalidData(format!(
                "{CHART} {:?}: band ({lo}, {hi}) needs lower < upper",
                chart.title
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(k: i64, estimate: f64, lo: f64, hi: f64) -> ForestRow {
        ForestRow {
            label: format!("k = {k}"),
            estimate,
            interval: (lo, hi),
            reference: None,
            note: format!("{estimate}% ({lo} to {hi})"),
        }
    }

    fn chart(rows: Vec<ForestRow>) -> ForestChart {
        ForestChart {
            title: "Does tying cost reconstruction?".into(),
            x_label: "tied vs untied test MSE, %".into(),
            rows,
            band: Some((-1.96, 2.0)),
        }
    }

    #[test]
    fn bad_input_is_refused() {
        assert!(forest_chart(&chart(vec![])).is_err());
        assert!(forest_chart(&chart(vec![row(2, 5.0, 6.0, 7.0)])).is_err());
        assert!(forest_chart(&chart(vec![row(2, f64::NAN, 1.0, 7.0)])).is_err());
        let mut blank = chart(vec![row(2, 5.0, 1.0, 7.0)]);
        blank.rows[0].label = " ".into();
        assert!(matches!(forest_chart(&blank), Err(Error::Render(_))));
        let mut band = chart(vec![row(2, 5.0, 1.0, 7.0)]);
        band.band = Some((2.0, -2.0));
        assert!(forest_chart(&band).is_err());
    }

    #[test]
    fn notes_and_labels_are_text() {
        let svg =
            forest_chart(&chart(vec![row(2, 5.0, 1.0, 7.0), row(4, -3.0, -9.0, 2.5)])).unwrap();
        for text in ["k = 2", "k = 4", "5% (1 to 7)", "-3% (-9 to 2.5)"] {
            assert!(svg.as_str().contains(text), "{text} missing");
        }
    }
}
