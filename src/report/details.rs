//! Report sections drawn from a study's detailed artifacts: training
//! curves, gradient-norm traces (with the encoder and decoder parts of tied
//! weights), learned filters beside PCA components, and reconstructions of
//! the same test images by every model.
//!
//! Each section shows one representative cell per configuration (the first
//! seed, the full training set, one latent size), so curves and images are
//! comparable across models. A section with nothing to draw is left out.

use crate::error::Result;
use crate::report::charts::{
    ImageGrid, ImageRow, LineChart, ScatterChart, ScatterPanel, Series, TileColors, image_grid,
    line_chart, scatter_chart,
};
use crate::report::grouping::labels;
use crate::report::input::Section;
use crate::report::number::format_or_missing;
use crate::study::aggregate::{ConfigKey, full_n_train};
use crate::study::{CellArtifacts, DetailedResults, Row, SCATTER_LATENT};
use nalgebra::DMatrix;
use polars::prelude::{DataFrame, DataType};

pub const TRAINING_ID: &str = "training-curves";
pub const GRADIENTS_ID: &str = "gradient-norms";
pub const FILTERS_ID: &str = "filters";
pub const RECONSTRUCTIONS_ID: &str = "reconstructions";
pub const SCATTER_ID: &str = "latent-scatter";

/// Tiles per row of an image grid: wider rows shrink below legibility.
const MAX_TILES: usize = 16;

/// The cells a detail section shows: per configuration, the one at
/// `latent` with the full training set and the smallest seed.
fn representatives(details: &DetailedResults, latent: i64) -> Vec<(ConfigKey, &CellArtifacts)> {
    let rows: Vec<Row> = details.cells.iter().map(|c| c.row.clone()).collect();
    let n = full_n_train(&rows);
    let mut chosen: Vec<(ConfigKey, &CellArtifacts)> = Vec::new();
    for cell in &details.cells {
        let row = &cell.row;
        if row.n_train != n || row.latent != latent {
            continue;
        }
        let key = ConfigKey::of(row);
        match chosen.iter_mut().find(|(k, _)| *k == key) {
            Some(slot) if row.seed < slot.1.row.seed => slot.1 = cell,
            Some(_) => {}
            None => chosen.push((key, cell)),
        }
    }
    chosen
}

/// The latent size detail sections show: the largest one with at most
/// [`MAX_TILES`] units (so one grid row holds every filter), else the
/// smallest.
pub fn shown_latent(details: &DetailedResults) -> Option<i64> {
    let mut ks: Vec<i64> = details.cells.iter().map(|c| c.row.latent).collect();
    ks.sort_unstable();
    ks.dedup();
    ks.iter()
        .copied()
        .filter(|&k| k as usize <= MAX_TILES)
        .max()
        .or_else(|| ks.first().copied())
}

/// A float column of `frame` as (epoch, value) points, skipping nulls and
/// (on a log axis) non-positive values; empty if the column is absent.
fn trace(frame: &DataFrame, column: &str, log: bool) -> Result<Vec<(f64, f64)>> {
    let (Ok(epoch), Ok(values)) = (frame.column("epoch"), frame.column(column)) else {
        return Ok(Vec::new());
    };
    let epoch = epoch.cast(&DataType::Float64)?;
    let values = values.cast(&DataType::Float64)?;
    Ok(epoch
        .f64()?
        .iter()
        .zip(values.f64()?.iter())
        .filter_map(|(e, v)| Some((e?, v?)))
        .filter(|&(_, v)| v.is_finite() && (!log || v > 0.0))
        .collect())
}

/// Training reconstruction loss per epoch of each trained model.
pub fn training_curves(details: &DetailedResults, dataset: &str) -> Result<Option<Section>> {
    let Some(k) = shown_latent(details) else {
        return Ok(None);
    };
    let cells: Vec<_> = representatives(details, k)
        .into_iter()
        .filter(|(_, c)| c.history.as_ref().is_some_and(|h| h.height() > 0))
        .collect();
    let keys: Vec<ConfigKey> = cells.iter().map(|(k, _)| k.clone()).collect();
    let names = labels(&keys);
    let mut series = Vec::new();
    let mut finals = Vec::new();
    for (c, ((_, cell), name)) in cells.iter().zip(&names).enumerate() {
        let Some(history) = &cell.history else {
            continue;
        };
        let train = trace(history, "train_reconstruction", true)?;
        if train.is_empty() {
            continue;
        }
        if let Some(&(e, v)) = train.last() {
            finals.push(format!("{name} {} after {e}", format_or_missing(v)));
        }
        series.push(
            Series::new(name.clone(), train)
                .with_color(c + 1)
                .without_markers(),
        );
        let val = trace(history, "val_reconstruction", true)?;
        if !val.is_empty() {
            series.push(
                Series::new(format!("{name} validation"), val)
                    .with_color(c + 1)
                    .dashed()
                    .without_markers(),
            );
        }
    }
    if series.is_empty() {
        return Ok(None);
    }
    let chart = line_chart(&LineChart {
        title: format!("Training curves at k = {k} ({dataset})"),
        x_label: "epoch (L-BFGS: iteration)".into(),
        y_label: "training reconstruction loss".into(),
        log_x: true,
        log_y: true,
        series,
    })?;
    let caption = format!(
        "How fast each model learns, first seed, k = {k}. Look for curves that are still falling \
         at the right edge (more epochs would help) and for tied models that start slower than \
         their untied twins. Final training loss: {}.",
        finals.join("; ")
    );
    Ok(Some(Section::with_chart(
        TRAINING_ID,
        "Training curves",
        caption,
        chart,
    )))
}

/// The first layer's gradient-norm lines of `cells`, labelled `names`: the
/// total, and for a tied model its encoder and decoder parts; with each
/// tied model's encoder/decoder norm ratio in its last epoch.
fn norm_series(
    cells: &[(ConfigKey, &CellArtifacts)],
    names: &[String],
) -> Result<(Vec<Series>, Vec<String>)> {
    let mut series = Vec::new();
    let mut shares = Vec::new();
    for (c, ((key, cell), name)) in cells.iter().zip(names).enumerate() {
        let Some(history) = &cell.history else {
            continue;
        };
        let total = trace(history, "grad_norm_layer0", true)?;
        if total.is_empty() {
            continue;
        }
        series.push(
            Series::new(format!("{name} layer 1"), total)
                .with_color(c + 1)
                .without_markers(),
        );
        if key.model.is_tied() {
            let enc = trace(history, "grad_norm_layer0_encoder", true)?;
            let dec = trace(history, "grad_norm_layer0_decoder", true)?;
            if let (Some(&(_, e)), Some(&(_, d))) = (enc.last(), dec.last()) {
                shares.push(format!("{name} {}", format_or_missing(e / d)));
            }
            if !enc.is_empty() {
                series.push(
                    Series::new(format!("{name} encoder part"), enc)
                        .with_color(c + 1)
                        .dashed()
                        .without_markers(),
                );
            }
            if !dec.is_empty() {
                series.push(
                    Series::new(format!("{name} decoder part"), dec)
                        .with_color(c + 1)
                        .dashed(),
                );
            }
        }
    }
    Ok((series, shares))
}

/// Gradient norm of the first layer pair per epoch; for tied models also
/// the encoder and decoder parts of `∂L/∂W`, whose sum is the gradient.
pub fn gradient_norms(details: &DetailedResults, dataset: &str) -> Result<Option<Section>> {
    let Some(k) = shown_latent(details) else {
        return Ok(None);
    };
    let trained: Vec<_> = representatives(details, k)
        .into_iter()
        .filter(|(_, c)| c.history.is_some())
        .collect();
    // Minibatch-trained (nonlinear) models, whose epochs share one axis
    // and whose stability is in question; linear models (full-batch
    // L-BFGS iterations) only when there are no others.
    let minibatch: Vec<_> = trained
        .iter()
        .filter(|(key, _)| !key.model.is_linear())
        .cloned()
        .collect();
    let omitted_linear = !minibatch.is_empty() && minibatch.len() < trained.len();
    let cells = if minibatch.is_empty() {
        trained
    } else {
        minibatch
    };
    let keys: Vec<ConfigKey> = cells.iter().map(|(k, _)| k.clone()).collect();
    let names = labels(&keys);
    let (series, shares) = norm_series(&cells, &names)?;
    if series.is_empty() {
        return Ok(None);
    }
    let chart = line_chart(&LineChart {
        title: format!("Gradient norms of the first layer at k = {k} ({dataset})"),
        x_label: if omitted_linear {
            "epoch"
        } else {
            "epoch (L-BFGS: iteration)"
        }
        .into(),
        y_label: "gradient norm (mean over batches)".into(),
        log_x: true,
        log_y: true,
        series,
    })?;
    let caption = format!(
        "A tied weight is used twice, so its gradient is the sum of an encoder part and a \
         decoder part (dashed; the decoder part with markers). Look for one part dominating \
         or either growing: that is where tied training turns unstable. Encoder/decoder norm \
         ratio in the last epoch: {}.{}",
        if shares.is_empty() {
            "no tied model in this study".to_string()
        } else {
            shares.join("; ")
        },
        if omitted_linear {
            " Linear models (trained by full-batch L-BFGS, whose iterations are not epochs) are \
             left out."
        } else {
            ""
        }
    );
    Ok(Some(Section::with_chart(
        GRADIENTS_ID,
        "Gradient norms",
        caption,
        chart,
    )))
}

/// The test samples' two-unit codes, one panel per model (PCA, linear and
/// nonlinear, tied and untied), coloured by class: for labelled data whose
/// study ran at latent size [`SCATTER_LATENT`].
pub fn latent_scatter(details: &DetailedResults, dataset: &str) -> Result<Option<Section>> {
    let cells = representatives(details, SCATTER_LATENT as i64);
    // Each seed has its own test rows: the panels show the smallest seed's,
    // whose test labels colour them.
    let Some(seed) = cells.iter().map(|(_, c)| c.row.seed).min() else {
        return Ok(None);
    };
    let Some((_, first)) = cells.iter().find(|(_, c)| c.row.seed == seed) else {
        return Ok(None);
    };
    let Some(classes) = details
        .pca(&first.row.dataset, first.row.n_train as usize, seed as u64)
        .and_then(|p| p.test_labels.clone())
    else {
        return Ok(None);
    };
    let keys: Vec<ConfigKey> = cells.iter().map(|(k, _)| k.clone()).collect();
    let names = labels(&keys);
    let panels: Vec<ScatterPanel> = cells
        .iter()
        .zip(&names)
        .filter(|((_, cell), _)| cell.row.seed == seed)
        .filter_map(|((_, cell), name)| {
            let codes = cell.codes.as_ref()?;
            (codes.nrows() == classes.len() && codes.ncols() == 2).then(|| ScatterPanel {
                title: name.clone(),
                points: (0..codes.nrows())
                    .map(|i| (codes[(i, 0)], codes[(i, 1)]))
                    .collect(),
            })
        })
        .collect();
    if panels.len() < 2 {
        return Ok(None);
    }
    let shown: Vec<String> = panels.iter().map(|p| p.title.clone()).collect();
    let chart = scatter_chart(&ScatterChart {
        title: format!("Test samples in a two-unit code, by class ({dataset})"),
        labels: classes.clone(),
        panels,
    })?;
    let caption = format!(
        "The first {} test samples encoded at k = {SCATTER_LATENT}, one dot each, coloured by \
         class (the smallest seed, whose split every panel shares). A code is defined only up to a rotation \
         (tied models, PCA) or any invertible map (untied), so compare how the classes are \
         arranged and separated, not the axes. Panels: {}.",
        classes.len(),
        shown.join(", ")
    );
    Ok(Some(Section::with_chart(
        SCATTER_ID,
        "Two-unit codes",
        caption,
        chart,
    )))
}

/// The rows of `m` as image tiles (at most [`MAX_TILES`]), if they have
/// `h * w` pixels each.
fn tiles(m: &DMatrix<f64>, (h, w): (usize, usize)) -> Option<Vec<Vec<f64>>> {
    if m.ncols() != h * w || m.nrows() == 0 || m.iter().any(|v| !v.is_finite()) {
        return None;
    }
    Some(
        (0..m.nrows().min(MAX_TILES))
            .map(|r| m.row(r).iter().copied().collect())
            .collect(),
    )
}

/// Learned first-layer decoder filters of each model beside PCA's
/// components, for image data.
pub fn filters(details: &DetailedResults, dataset: &str) -> Result<Option<Section>> {
    let (Some(k), Some(shape)) = (shown_latent(details), image_shape(details)) else {
        return Ok(None);
    };
    let cells = representatives(details, k);
    let keys: Vec<ConfigKey> = cells.iter().map(|(k, _)| k.clone()).collect();
    let names = labels(&keys);
    let rows: Vec<ImageRow> = cells
        .iter()
        .zip(&names)
        .filter_map(|((_, cell), name)| {
            tiles(&cell.filters, shape).map(|tiles| ImageRow {
                label: name.clone(),
                tiles,
            })
        })
        .collect();
    if rows.is_empty() {
        return Ok(None);
    }
    let shown: Vec<String> = rows.iter().map(|r| r.label.clone()).collect();
    let columns = rows.iter().map(|r| r.tiles.len()).max().unwrap_or(0);
    let chart = image_grid(&ImageGrid {
        title: format!("First-layer decoder filters at k = {k} ({dataset})"),
        tile_height: shape.0,
        tile_width: shape.1,
        column_labels: (1..=columns).map(|i| format!("{i}")).collect(),
        rows,
        colors: TileColors::Diverging,
    })?;
    let caption = format!(
        "Each tile is one latent unit's decoder row: the image it adds to the reconstruction. \
         PCA's components are ordered by variance; an autoencoder's units have no order and, \
         without L2, may be any rotation of them. White is zero, blue negative and red positive, so \
         a unit and its sign-flipped twin show as swapped colours. Look for smooth, digit-like strokes (useful \
         features) versus noise (untrained or dead units). Rows: {}.",
        shown.join(", ")
    );
    Ok(Some(Section::with_chart(
        FILTERS_ID,
        "Learned filters",
        caption,
        chart,
    )))
}

fn image_shape(details: &DetailedResults) -> Option<(usize, usize)> {
    details.pcas.iter().find_map(|p| p.image_shape)
}

/// The same test images reconstructed by each model, under the originals.
pub fn reconstructions(details: &DetailedResults, dataset: &str) -> Result<Option<Section>> {
    let (Some(k), Some(shape)) = (shown_latent(details), image_shape(details)) else {
        return Ok(None);
    };
    let rows_all: Vec<Row> = details.cells.iter().map(|c| c.row.clone()).collect();
    let n = full_n_train(&rows_all);
    let cells = representatives(details, k);
    // Each seed has its own test rows: show the smallest seed's, under
    // its originals.
    let Some(seed) = cells.iter().map(|(_, c)| c.row.seed).min() else {
        return Ok(None);
    };
    let Some(split) = details
        .pcas
        .iter()
        .find(|p| p.n_train as i64 == n && p.seed as i64 == seed)
    else {
        return Ok(None);
    };
    let Some(originals) = tiles(&split.test_head, shape) else {
        return Ok(None);
    };
    let keys: Vec<ConfigKey> = cells.iter().map(|(k, _)| k.clone()).collect();
    let names = labels(&keys);
    let mut rows = vec![ImageRow {
        label: "original".into(),
        tiles: originals,
    }];
    let mut errors = Vec::new();
    for ((_, cell), name) in cells.iter().zip(&names) {
        let Some(t) = tiles(&cell.reconstructions, shape) else {
            continue;
        };
        if cell.row.seed != seed || cell.reconstructions.shape() != split.test_head.shape() {
            continue;
        }
        let diff = &cell.reconstructions - &split.test_head;
        let mse = diff.iter().map(|v| v * v).sum::<f64>() / diff.len() as f64;
        errors.push(format!("{name} {}", format_or_missing(mse)));
        rows.push(ImageRow {
            label: name.clone(),
            tiles: t,
        });
    }
    if rows.len() < 2 {
        return Ok(None);
    }
    let chart = image_grid(&ImageGrid {
        title: format!("Test images reconstructed at k = {k} ({dataset})"),
        tile_height: shape.0,
        tile_width: shape.1,
        column_labels: Vec::new(),
        rows,
        colors: TileColors::Range,
    })?;
    let caption = format!(
        "The first test images (top row) of the smallest seed's split, as each model of that \
         seed rebuilds them through a {k}-unit code. Each tile is scaled to its own range, so compare shapes, not brightness. MSE over \
         these images: {}.",
        errors.join("; ")
    );
    Ok(Some(Section::with_chart(
        RECONSTRUCTIONS_ID,
        "Reconstructions",
        caption,
        chart,
    )))
}
