//! The values of [`MetricSet::Dynamics`](super::MetricSet::Dynamics) of a
//! trained cell ([`super::DYNAMICS_COLUMNS`] defines each), reduced from
//! the alignments its training recorded after every epoch.
//!
//! Why in the cell: the claims about training dynamics (directions found
//! one after another, models that never find them) need the whole run,
//! which only the cell that trains sees; reduced to plain columns (the
//! final alignments, the first epoch each direction crossed the
//! threshold, the share of PCA's explained variance), they travel with the
//! cell's row through the cache, the shard files and the merge like every
//! other column, and the per-epoch curve stays in the cell's detail for the
//! charts.

use super::extra::{DYNAMICS_THRESHOLD, DynamicsMetrics};

/// Per direction (column of `alignment`, whose rows are epochs from 1),
/// the first epoch whose alignment reached `threshold`, or `None`.
pub fn crossing_epochs(alignment: &[Vec<f64>], threshold: f64) -> Vec<Option<usize>> {
    let m = alignment.first().map_or(0, Vec::len);
    (0..m)
        .map(|i| {
            alignment
                .iter()
                .position(|a| a.get(i).is_some_and(|&v| v >= threshold))
                .map(|e| e + 1)
        })
        .collect()
}

/// What a trained cell's dynamics values are computed from, in the data's
/// units.
pub(crate) struct DynamicsView<'a> {
    /// Per epoch, each followed direction's alignment; `None` for a cell
    /// that was not followed epoch by epoch.
    pub alignment: Option<&'a [Vec<f64>]>,
    /// Its test MSE.
    pub test_mse: f64,
    /// `E₀`: the test MSE of predicting every test row by the fitting
    /// rows' mean.
    pub mean_test_mse: f64,
    /// PCA's test MSE at the cell's latent size.
    pub pca_test_mse: f64,
}

/// The dynamics values of the cell `v` describes: the last epoch's
/// alignments, each direction's first epoch at [`DYNAMICS_THRESHOLD`], `E₀`
/// and the fraction of PCA's explained variance (null when PCA explains
/// nothing, `E_PCA >= E₀`, where the fraction has no meaning).
pub(crate) fn dynamics_metrics(v: &DynamicsView<'_>) -> DynamicsMetrics {
    let explained = v.mean_test_mse - v.pca_test_mse;
    let mut out = DynamicsMetrics {
        mean_test_mse: Some(v.mean_test_mse),
        fev: if explained > 0.0 {
            Some((v.mean_test_mse - v.test_mse) / explained)
        } else {
            None
        },
        ..DynamicsMetrics::default()
    };
    let Some(alignment) = v.alignment else {
        return out;
    };
    if let Some(last) = alignment.last() {
        for (slot, &a) in out.alignment.iter_mut().zip(last) {
            *slot = Some(a);
        }
    }
    let crossed = crossing_epochs(alignment, DYNAMICS_THRESHOLD);
    for (slot, e) in out.crossing_epoch.iter_mut().zip(crossed) {
        *slot = e.map(|e| e as i64);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Crossings are the first epoch at or above the threshold, counted
    /// from 1, `None` for a direction that never gets there; the values
    /// keep the last epoch's alignments and compute the FEV from its
    /// definition, null where PCA explains nothing.
    #[test]
    fn dynamics_reduce_the_per_epoch_alignments() {
        let alignment = vec![
            vec![0.1, 0.0, 0.2],
            vec![0.95, 0.1, 0.2],
            vec![0.92, 0.9, 0.3],
        ];
        assert_eq!(
            crossing_epochs(&alignment, 0.9),
            vec![Some(2), Some(3), None]
        );
        assert!(crossing_epochs(&[], 0.9).is_empty());
        let m = dynamics_metrics(&DynamicsView {
            alignment: Some(&alignment),
            test_mse: 0.5,
            mean_test_mse: 2.0,
            pca_test_mse: 0.25,
        });
        assert_eq!(m.alignment, [Some(0.92), Some(0.9), Some(0.3), None]);
        assert_eq!(m.crossing_epoch, [Some(2), Some(3), None, None]);
        assert_eq!(m.mean_test_mse, Some(2.0));
        // (2 − 0.5) / (2 − 0.25) = 1.5 / 1.75.
        assert_eq!(m.fev, Some(1.5 / 1.75));
        let flat = dynamics_metrics(&DynamicsView {
            alignment: None,
            test_mse: 1.0,
            mean_test_mse: 1.0,
            pca_test_mse: 1.0,
        });
        assert_eq!(flat.fev, None);
        assert!(flat.alignment.iter().all(Option::is_none));
    }
}
