//! Sections drawn from a study's [`Figures`]: the charts of frame and table
//! studies, whose data the study computed from the runs it made (see
//! [`crate::study::figures`]). Nothing here knows which study it draws.

use crate::error::Result;
use crate::report::charts::{
    ImageGrid, ImageRow, LineChart, Series, TileColors, image_grid, line_chart,
};
use crate::report::input::Section;
use crate::study::{Curves, Figures, Tiles};

/// One section per chart of `figures`, curves first, in their order.
/// Charts without data (no points, no tiles) are left out, so a page never
/// shows an empty chart.
///
/// # Errors
/// A chart that cannot be drawn (non-finite points on a log axis, tiles of
/// the wrong size).
pub fn sections(figures: &Figures) -> Result<Vec<Section>> {
    let mut out = Vec::new();
    for c in &figures.curves {
        out.extend(curves(c)?);
    }
    for t in &figures.tiles {
        out.extend(tiles(t)?);
    }
    Ok(out)
}

fn curves(c: &Curves) -> Result<Option<Section>> {
    let series: Vec<Series> = c
        .series
        .iter()
        .filter(|l| !l.points.is_empty())
        .map(|l| {
            let mut s = Series::new(l.name.clone(), l.points.clone()).with_color(l.color);
            if l.dashed {
                s = s.dashed();
            }
            if !l.markers {
                s = s.without_markers();
            }
            s
        })
        .collect();
    if series.is_empty() {
        return Ok(None);
    }
    let chart = line_chart(&LineChart {
        title: c.title.clone(),
        x_label: c.x_label.clone(),
        y_label: c.y_label.clone(),
        log_x: c.log_x,
        log_y: c.log_y,
        series,
    })?;
    Ok(Some(Section::with_chart(
        c.id.clone(),
        c.title.clone(),
        c.caption.clone(),
        chart,
    )))
}

fn tiles(t: &Tiles) -> Result<Option<Section>> {
    let rows: Vec<ImageRow> = t
        .rows
        .iter()
        .filter(|(_, tiles)| !tiles.is_empty())
        .map(|(label, tiles)| ImageRow {
            label: label.clone(),
            tiles: tiles.clone(),
        })
        .collect();
    if rows.is_empty() {
        return Ok(None);
    }
    let chart = image_grid(&ImageGrid {
        title: t.title.clone(),
        tile_height: t.shape.0,
        tile_width: t.shape.1,
        column_labels: Vec::new(),
        rows,
        colors: TileColors::Diverging,
    })?;
    Ok(Some(Section::with_chart(
        t.id.clone(),
        t.title.clone(),
        t.caption.clone(),
        chart,
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::study::Line;

    #[test]
    fn empty_charts_are_left_out_and_the_rest_keep_their_order() {
        let line = |name: &str, points: Vec<(f64, f64)>| Line {
            name: name.into(),
            points,
            color: 1,
            dashed: false,
            markers: true,
        };
        let figures = Figures {
            curves: vec![
                Curves {
                    id: "empty".into(),
                    title: "Empty".into(),
                    series: vec![line("none", vec![])],
                    ..Curves::default()
                },
                Curves {
                    id: "alignment".into(),
                    title: "Alignment".into(),
                    x_label: "step".into(),
                    y_label: "alignment".into(),
                    series: vec![line("a", vec![(1.0, 0.5), (2.0, 0.25)])],
                    ..Curves::default()
                },
            ],
            tiles: vec![Tiles {
                id: "atoms".into(),
                title: "Atoms".into(),
                shape: (2, 2),
                rows: vec![("tied".into(), vec![vec![1.0, -1.0, 0.0, 0.5]])],
                ..Tiles::default()
            }],
        };
        let ids: Vec<String> = sections(&figures)
            .unwrap()
            .into_iter()
            .map(|s| s.id)
            .collect();
        assert_eq!(ids, ["alignment", "atoms"]);
    }

    #[test]
    fn tiles_of_the_wrong_size_are_an_error() {
        let figures = Figures {
            tiles: vec![Tiles {
                id: "atoms".into(),
                title: "Atoms".into(),
                shape: (2, 2),
                rows: vec![("tied".into(), vec![vec![1.0, 2.0, 3.0]])],
                ..Tiles::default()
            }],
            ..Figures::default()
        };
        assert!(sections(&figures).is_err());
    }
}
