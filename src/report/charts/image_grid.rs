//! Grids of small images: dataset samples, learned filters beside PCA
//! components, reconstructions of the same test images by each model.
//!
//! Labels are SVG text; the tiles are one embedded PNG raster (see
//! [`super::png`]), as the scikit-learn gallery draws its image grids, which
//! keeps a page of filters small. Two colour scales, see [`TileColors`].
//! Every tile gets its own scale: filters and components have arbitrary
//! sign and magnitude, and only their pattern is meant to be compared.

use super::Svg;
use super::common::{FONT, LABEL_SIZE, TITLE_SIZE, drawing, render, require_text};
use super::png::Raster;
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

/// How tile values become colours.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TileColors {
    /// Grey, each tile min–max scaled: black its minimum, white its
    /// maximum. For images (samples, reconstructions), whose zero means
    /// nothing special.
    #[default]
    Range,
    /// Zero-centred diverging scale: white is zero, blue negative, red
    /// positive, full colour at the tile's largest magnitude. For filters
    /// and components, so sign and zero read the same in every tile.
    Diverging,
}

/// Rows of equally sized tiles.
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
    /// The colour scale of every tile.
    pub colors: TileColors,
}

const CHART: &str = "image grid";
/// Displayed size a tile aims at, whatever its pixel count.
const TARGET_TILE: usize = 56;
const MAX_SCALE: usize = 8;
const GAP: usize = 8;
const LABEL_WIDTH: usize = 170;
const HEADER: usize = 64;
const COLUMN_LABELS: usize = 22;
/// The frame drawn one pixel outside each tile (black at 35% on white).
const FRAME: [u8; 3] = [166, 166, 166];
/// ColorBrewer RdBu anchors at −1, −½, 0, ½, 1 (blue negative, red
/// positive), interpolated linearly between them.
const DIVERGING: [[f64; 3]; 5] = [
    [33.0, 102.0, 172.0],
    [103.0, 169.0, 207.0],
    [247.0, 247.0, 247.0],
    [239.0, 138.0, 98.0],
    [178.0, 24.0, 43.0],
];

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
    let svg = render(size, |root| {
        let centre = (width / 2) as i32;
        let top =
            TextStyle::from((FONT, TITLE_SIZE).into_font()).pos(Pos::new(HPos::Center, VPos::Top));
        root.draw(&Text::new(grid.title.clone(), (centre, 8), top))
            .map_err(drawing)?;
        let small =
            TextStyle::from((FONT, LABEL_SIZE).into_font()).color(&RGBColor(0x55, 0x55, 0x55));
        let legend = match grid.colors {
            TileColors::Range => {
                "each tile scaled to its own range: black = minimum, white = maximum"
            }
            TileColors::Diverging => {
                "white = 0, blue < 0 < red; each tile scaled to its largest magnitude"
            }
        };
        root.draw(&Text::new(
            legend,
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
        }
        Ok(())
    })?;
    let mut raster = Raster::new(width, height)?;
    for (r, row) in grid.rows.iter().enumerate() {
        let y = header + r * (tile_h + GAP);
        for (c, tile) in row.tiles.iter().enumerate() {
            let x = LABEL_WIDTH + c * (tile_w + GAP);
            raster.fill((x - 1, y - 1), (tile_w + 2, tile_h + 2), FRAME);
            let colors = tile_colors(tile, grid.colors);
            for (i, rgb) in colors.into_iter().enumerate() {
                let (py, px) = (i / w, i % w);
                raster.fill((x + px * scale, y + py * scale), (scale, scale), rgb);
            }
        }
    }
    svg.with_image(&raster)
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

/// The colour of every pixel of a tile, on its own scale. A constant tile
/// is mid-grey on the range scale (it has no pattern; black would suggest
/// "all minimum"), and white (zero) on the diverging one when it is zero.
fn tile_colors(tile: &[f64], colors: TileColors) -> Vec<[u8; 3]> {
    match colors {
        TileColors::Range => {
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
                    let g = (t * 255.0).round() as u8;
                    [g, g, g]
                })
                .collect()
        }
        TileColors::Diverging => {
            let top = tile.iter().fold(0.0_f64, |m, v| m.max(v.abs()));
            tile.iter()
                .map(|&v| diverging(if top > 0.0 { v / top } else { 0.0 }))
                .collect()
        }
    }
}

/// The diverging colour of `t` in [−1, 1].
fn diverging(t: f64) -> [u8; 3] {
    let at = (t.clamp(-1.0, 1.0) + 1.0) * 2.0; // 0..=4 over the anchors
    let lo = (at.floor() as usize).min(DIVERGING.len() - 2);
    let f = at - lo as f64;
    let (a, b) = (DIVERGING[lo], DIVERGING[lo + 1]);
    [0, 1, 2].map(|c| (a[c] + f * (b[c] - a[c])).round() as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_range_tile_spans_black_to_white() {
        let c = tile_colors(&[-3.0, 0.0, 5.0], TileColors::Range);
        assert_eq!(c[0], [0; 3]);
        assert_eq!(c[2], [255; 3]);
        // 3/8 of the way: round(95.625) = 96.
        assert_eq!(c[1], [96; 3]);
    }

    #[test]
    fn constant_tiles_are_neutral() {
        assert_eq!(tile_colors(&[2.0; 4], TileColors::Range), vec![[128; 3]; 4]);
        assert_eq!(
            tile_colors(&[0.0; 4], TileColors::Diverging),
            vec![[247; 3]; 4]
        );
    }

    #[test]
    fn diverging_scale_is_zero_centred_and_signed() {
        let c = tile_colors(&[-2.0, -1.0, 0.0, 1.0, 0.5], TileColors::Diverging);
        assert_eq!(
            c[0],
            [33, 102, 172],
            "largest magnitude, negative: full blue"
        );
        assert_eq!(c[1], [103, 169, 207], "half way to blue");
        assert_eq!(c[2], [247, 247, 247], "zero is white whatever the range");
        assert_eq!(c[3], [239, 138, 98], "half way to red");
        // A quarter of the way to red: midway between white and the ½ anchor.
        assert_eq!(c[4], [243, 193, 173]);
    }
}
