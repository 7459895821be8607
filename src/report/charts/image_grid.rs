//! Grids of small grey-scale images: dataset samples, learned filters beside
//! PCA components, reconstructions of the same test images by each model.
//!
//! Pixels are SVG rectangles, so the picture stays sharp at any zoom and
//! needs no image codec. Each tile is scaled to its own range (black = its
//! minimum, white = its maximum): filters and components have arbitrary
//! sign and scale, and only their pattern is meant to be compared.

use super::Svg;
use super::common::{Area, FONT, LABEL_SIZE, TITLE_SIZE, drawing, render, require_text};
use crate::error::{Error, Result};
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

/// One labelled row of tiles, e.g. one model's filters.
#[derive(Debug, Clone, PartialEq)]
pub struct ImageRow {
    /// Shown left of the row.
    pub label: String,
    /// Images, each `tile_height * tile_width` values in row-major order.
    pub tiles: Vec<Vec<f64>>,
}

/// Rows of equally sized grey-scale tiles.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ImageGrid {
    pub title: String,
    pub tile_height: usize,
    pub tile_width: usize,
    /// Optional names above the columns (e.g. "PC 1"); empty for none,
    /// otherwise one per column of the longest row.
    pub column_labels: Vec<String>,
    /// Keep rows to about 16 tiles: wider grids are scaled down to the page.
    pub rows: Vec<ImageRow>,
}

const CHART: &str = "image grid";
/// Displayed size a tile aims at, whatever its pixel count.
const TARGET_TILE: usize = 56;
const MAX_SCALE: usize = 8;
const GAP: usize = 8;
const LABEL_WIDTH: usize = 170;
const HEADER: usize = 64;
const COLUMN_LABELS: usize = 22;
/// Grey levels drawn. More than the eye separates in a pixel a few screen
/// points wide; fewer levels merge neighbours into longer runs and so into
/// fewer rectangles, which keeps large grids small.
const LEVELS: f64 = 63.0;

/// Draws `grid` as SVG.
///
/// # Errors
/// [`Error::Render`] for a blank title, row label or column label;
/// [`Error::InvalidData`] for a zero tile size, no rows, an empty row, a tile
/// of the wrong length, a non-finite pixel, or column labels that do not
/// match the number of columns.
pub fn image_grid(grid: &ImageGrid) -> Result<Svg> {
    validate(grid)?;
    let (h, w) = (grid.tile_height, grid.tile_width);
    let scale = TARGET_TILE.div_ceil(h.max(w)).clamp(1, MAX_SCALE);
    let (tile_h, tile_w) = (h * scale, w * scale);
    let columns = grid.rows.iter().map(|r| r.tiles.len()).max().unwrap_or(0);
    let header = HEADER
        + if grid.column_labels.is_empty() {
            0
        } else {
            COLUMN_LABELS
        };
    let width = LABEL_WIDTH + columns * (tile_w + GAP) + GAP;
    let height = header + grid.rows.len() * (tile_h + GAP) + GAP;
    let size = (to_u32(width)?, to_u32(height)?);
    render(size, |root| {
        let centre = (width / 2) as i32;
        let top =
            TextStyle::from((FONT, TITLE_SIZE).into_font()).pos(Pos::new(HPos::Center, VPos::Top));
        root.draw(&Text::new(grid.title.clone(), (centre, 8), top))
            .map_err(drawing)?;
        let small =
            TextStyle::from((FONT, LABEL_SIZE).into_font()).color(&RGBColor(0x55, 0x55, 0x55));
        root.draw(&Text::new(
            "each tile scaled to its own range: black = minimum, white = maximum",
            (centre, 38),
            small.pos(Pos::new(HPos::Center, VPos::Top)),
        ))
        .map_err(drawing)?;
        let label = TextStyle::from((FONT, LABEL_SIZE).into_font()).color(&BLACK);
        for (c, name) in grid.column_labels.iter().enumerate() {
            let x = LABEL_WIDTH + c * (tile_w + GAP) + tile_w / 2;
            root.draw(&Text::new(
                name.clone(),
                (x as i32, (header - 6) as i32),
                label.pos(Pos::new(HPos::Center, VPos::Bottom)),
            ))
            .map_err(drawing)?;
        }
        for (r, row) in grid.rows.iter().enumerate() {
            let y = header + r * (tile_h + GAP);
            root.draw(&Text::new(
                row.label.clone(),
                ((LABEL_WIDTH - GAP) as i32, (y + tile_h / 2) as i32),
                label.pos(Pos::new(HPos::Right, VPos::Center)),
            ))
            .map_err(drawing)?;
            for (c, tile) in row.tiles.iter().enumerate() {
                let x = LABEL_WIDTH + c * (tile_w + GAP);
                draw_tile(root, tile, (h, w), scale, (x, y))?;
            }
        }
        Ok(())
    })
}

fn to_u32(pixels: usize) -> Result<u32> {
    u32::try_from(pixels)
        .map_err(|_| Error::InvalidData(format!("{CHART}: {pixels} pixels is too large to draw")))
}

fn validate(grid: &ImageGrid) -> Result<()> {
    require_text(CHART, "title", &grid.title)?;
    let (h, w) = (grid.tile_height, grid.tile_width);
    if h == 0 || w == 0 {
        return Err(Error::InvalidData(format!(
            "{CHART} {:?}: tile shape {h}x{w} has no pixels",
            grid.title
        )));
    }
    if grid.rows.is_empty() {
        return Err(Error::InvalidData(format!(
            "{CHART} {:?}: no rows to draw",
            grid.title
        )));
    }
    for row in &grid.rows {
        require_text(CHART, "row label", &row.label)?;
        if row.tiles.is_empty() {
            return Err(Error::InvalidData(format!(
                "{CHART} {:?}: row {:?} has no tiles",
                grid.title, row.label
            )));
        }
        for (t, tile) in row.tiles.iter().enumerate() {
            if tile.len() != h * w {
                return Err(Error::InvalidData(format!(
                    "{CHART} {:?}: row {:?}, tile {t} has {} values, expected {h}x{w} = {}",
                    grid.title,
                    row.label,
                    tile.len(),
                    h * w
                )));
            }
            if let Some(p) = tile.iter().position(|v| !v.is_finite()) {
                return Err(Error::InvalidData(format!(
                    "{CHART} {:?}: row {:?}, tile {t}, pixel {p} is {}",
                    grid.title, row.label, tile[p]
                )));
            }
        }
    }
    let columns = grid.rows.iter().map(|r| r.tiles.len()).max().unwrap_or(0);
    if !grid.column_labels.is_empty() {
        if grid.column_labels.len() != columns {
            return Err(Error::InvalidData(format!(
                "{CHART} {:?}: {} column labels for {columns} columns",
                grid.title,
                grid.column_labels.len()
            )));
        }
        for name in &grid.column_labels {
            require_text(CHART, "column label", name)?;
        }
    }
    Ok(())
}

/// Grey level (0..=255, quantised to [`LEVELS`] steps) of every pixel of a
/// tile, min-max scaled within the tile. A constant tile is mid-grey: it has
/// no pattern to show, and black would suggest "all minimum".
fn grey_levels(tile: &[f64]) -> Vec<u8> {
    let (lo, hi) = tile
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &v| {
            (lo.min(v), hi.max(v))
        });
    let span = hi - lo;
    tile.iter()
        .map(|&v| {
            let t = if span > 0.0 && span.is_finite() {
                (v - lo) / span
            } else {
                0.5
            };
            ((t * LEVELS).round() * 255.0 / LEVELS).round() as u8
        })
        .collect()
}

/// Draws one tile with its top-left corner at `at`: the most common grey as
/// one background square, then each horizontal run of another grey as one
/// rectangle.
fn draw_tile(
    root: &Area<'_>,
    tile: &[f64],
    (h, w): (usize, usize),
    scale: usize,
    at: (usize, usize),
) -> Result<()> {
    let levels = grey_levels(tile);
    let mut counts = [0usize; 256];
    for &g in &levels {
        counts[g as usize] += 1;
    }
    let background = (0..=255u8)
        .max_by_key(|&g| counts[g as usize])
        .unwrap_or(128);
    let grey = |g: u8| RGBColor(g, g, g).filled();
    let corner =
        |col: usize, row: usize| ((at.0 + col * scale) as i32, (at.1 + row * scale) as i32);
    root.draw(&Rectangle::new(
        [corner(0, 0), corner(w, h)],
        grey(background),
    ))
    .map_err(drawing)?;
    for row in 0..h {
        let line = &levels[row * w..(row + 1) * w];
        let mut start = 0;
        while start < w {
            let g = line[start];
            let end = start + line[start..].iter().take_while(|&&v| v == g).count();
            if g != background {
                root.draw(&Rectangle::new(
                    [corner(start, row), corner(end, row + 1)],
                    grey(g),
                ))
                .map_err(drawing)?;
            }
            start = end;
        }
    }
    root.draw(&Rectangle::new(
        [corner(0, 0), corner(w, h)],
        BLACK.mix(0.35).stroke_width(1),
    ))
    .map_err(drawing)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_tile_spans_black_to_white() {
        let levels = grey_levels(&[-3.0, 0.0, 5.0]);
        assert_eq!(levels[0], 0);
        assert_eq!(levels[2], 255);
        // 3/8 of the way, quantised to 63 steps: round(23.625) = 24 -> 97.
        assert_eq!(levels[1], (24.0_f64 * 255.0 / 63.0).round() as u8);
    }

    #[test]
    fn constant_tile_is_mid_grey() {
        assert_eq!(grey_levels(&[2.0; 4]), vec![130; 4]);
    }
}
