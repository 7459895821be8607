//! Cells: one fitted model per combination of a study's axes, enumerated in
//! a fixed order, and the key that identifies a cell's result on disk.

use super::extra::MetricSet;
use super::protocol::Protocol;
use super::spec::{ExtraRate, ModelKind, Precision, Study};
use super::variant::Variant;
use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::hex::hex;
use crate::model::{Activation, BiasMode};
use crate::train::TrainConfig;
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::sync::Arc;

/// Version of what a cell computes. Bump it when a metric's definition or
/// the training recipe changes, so old cache files stop matching.
pub const CELL_VERSION: u32 = 5;

/// One combination of a study's axes.
#[derive(Clone, Debug, PartialEq)]
pub struct Cell {
    /// Position in the study's full enumeration (before sharding).
    pub index: usize,
    /// Index into [`Study::datasets`].
    pub dataset: usize,
    /// The dataset's name.
    pub dataset_name: String,
    /// What is fitted.
    pub model: ModelKind,
    /// Hidden activation (identity for PCA and the linear kinds).
    pub activation: Activation,
    /// Bias mode (PCA: `PreCentering`, which is what PCA's mean does).
    pub bias_mode: BiasMode,
    /// Latent size.
    pub latent: usize,
    /// Number of training rows actually used.
    pub n_train: usize,
    /// Seed: it draws the cell's data (train/test split, training rows,
    /// validation carve; see [`Study::data_seed`]) and, for trained kinds,
    /// the initialisation and batch order. PCA fits its seed's rows.
    pub seed: u64,
    /// L2 coefficient (0 for PCA).
    pub l2: f64,
    /// L1 code penalty (0 except for sparse kinds).
    pub sparsity_weight: f64,
    /// Learning rate of a minibatch-trained cell (one cell per rate of the
    /// protocol's grid); `None` for PCA and L-BFGS.
    pub learning_rate: Option<f64>,
    /// The study's variant this cell fits, if any: then `model` is its base
    /// kind ([`ModelKind::Tied`] or [`ModelKind::Untied`]), `activation`
    /// the variant's at this latent size, and the `model` column its name.
    pub variant: Option<Arc<Variant>>,
}

impl Cell {
    /// The `model` column of the cell: its variant's name, or its kind's.
    pub fn model_name(&self) -> &str {
        match &self.variant {
            Some(v) => &v.name,
            None => self.model.name(),
        }
    }
}

/// Number of training rows the split leaves for `ds`.
pub(crate) fn train_part_size(ds: &Dataset, test_fraction: f64) -> usize {
    let n = ds.n_samples();
    n - (n as f64 * test_fraction).round() as usize
}

impl Study {
    /// Every cell of the study, in enumeration order: dataset, training-set
    /// size, latent size, model kind, bias mode, L2, sparsity weight, seed
    /// (the last varies fastest). Axes that do not change a kind's result
    /// are collapsed: PCA gets one cell per (dataset, n_train, latent, seed);
    /// only [`ModelKind::SparseTied`] crosses the sparsity weights; linear
    /// kinds ignore the activation. The shard setting is **not** applied
    /// here (see [`Study::selected_cells`]).
    ///
    /// Trained kinds with a minibatch optimizer are crossed with the
    /// protocol's learning rates (between sparsity weight and seed); which
    /// optimizer is the config each kind trains with
    /// ([`Study::training_for`]: the linear kinds may have their own).
    ///
    /// The study's variants follow its model kinds at each latent size,
    /// in order, crossed as a trained kind is (their own bias mode when
    /// they set one; the sparsity weights only with an L1 penalty).
    ///
    /// With [`Study::overcomplete`](Study#structfield.overcomplete) a
    /// latent size may exceed `d` (not the fitting rows).
    ///
    /// # Errors
    ///
    /// [`Error::Config`] from [`Study::validate`], and for a latent
    /// size, training size or hidden widths the data cannot support
    /// (naming the dataset).
    pub fn cells(&self) -> Result<Vec<Cell>> {
        self.validate()?;
        let mut cells = Vec::new();
        for (di, ds) in self.datasets.iter().enumerate() {
            let available = train_part_size(ds, self.test_fraction);
            if available < 2 || ds.n_samples() - available < 2 {
                return Err(Error::config(
                    "test_fraction",
                    format!(
                        "dataset {:?} ({} rows) leaves {available} training rows; each part needs at least two",
                        ds.name(),
                        ds.n_samples()
                    ),
                ));
            }
            self.check_weights(ds)?;
            for n_train in &self.n_trains {
                let n_train = match *n_train {
                    None => available,
                    Some(n) if n <= available => n,
                    Some(n) => {
                        return Err(Error::config(
                            "n_trains",
                            format!(
                                "{n} training rows requested but dataset {:?} has {available} after the test split",
                                ds.name()
                            ),
                        ));
                    }
                };
                let n_fit = n_train - self.protocol.validation_rows(n_train);
                for &latent in &self.latents {
                    let limit = if self.overcomplete {
                        n_fit
                    } else {
                        n_fit.min(ds.n_features())
                    };
                    if latent > limit && self.overcomplete {
                        return Err(Error::config(
                            "latents",
                            format!(
                                "latent size {latent} exceeds the {n_fit} fitting rows of dataset {:?} (of its {n_train} training rows, the rest validate)",
                                ds.name()
                            ),
                        ));
                    }
                    if latent > limit {
                        return Err(Error::config(
                            "latents",
                            format!(
                                "latent size {latent} exceeds min(fitting rows, d) = {limit} for dataset {:?} ({n_fit} of its {n_train} training rows fit, the rest validate)",
                                ds.name()
                            ),
                        ));
                    }
                    for &model in &self.models {
                        self.push_model_cells(&mut cells, di, ds, model, latent, n_train);
                    }
                    for v in &self.variants {
                        self.push_variant_cells(&mut cells, di, ds, v, latent, n_train);
                    }
                }
            }
        }
        for extra in &self.extra_rates {
            self.push_extra_cells(&mut cells, extra)?;
        }
        Ok(cells)
    }

    /// Appends the cells of one extra rate, one per seed it lists, after every cell
    /// enumerated so far. The rate's configuration must be one the grid
    /// has, so an extra rate widens a configuration's search and adds none.
    ///
    /// # Errors
    /// [`Error::Config`] (field `extra_rates`) for a configuration the
    /// study's grid does not have, or a rate the grid already tries.
    fn push_extra_cells(&self, cells: &mut Vec<Cell>, extra: &ExtraRate) -> Result<()> {
        let refuse = |why: &str| {
            Error::config(
                "extra_rates",
                format!(
                    "{} (k = {}, n = {}) at rate {} on {:?}: {why}",
                    extra.variant.as_deref().unwrap_or(extra.model.name()),
                    extra.latent,
                    extra.n_train,
                    extra.learning_rate,
                    extra.dataset
                ),
            )
        };
        let Some(di) = self.datasets.iter().position(|d| d.name() == extra.dataset) else {
            return Err(refuse("the study has no such dataset"));
        };
        if let Some(name) = &extra.variant {
            return self.push_extra_variant_cells(cells, extra, di, name, refuse);
        }
        if !extra.model.is_trained()
            || !self.models.contains(&extra.model)
            || self.training_for(extra.model).is_lbfgs()
        {
            return Err(refuse(
                "not a kind of the study trained with a minibatch optimizer",
            ));
        }
        let sparsity_ok = if extra.model == ModelKind::SparseTied {
            self.sparsity_weights
                .iter()
                .any(|w| w.to_bits() == extra.sparsity_weight.to_bits())
        } else {
            extra.sparsity_weight == 0.0
        };
        let in_grid = self.latents.contains(&extra.latent)
            && self.bias_modes.contains(&extra.bias_mode)
            && self.l2s.iter().any(|l| l.to_bits() == extra.l2.to_bits())
            && sparsity_ok
            && cells
                .iter()
                .any(|c| c.dataset == di && c.n_train == extra.n_train);
        if !in_grid {
            return Err(refuse("not a configuration of the study's grid"));
        }
        if self
            .learning_rates_for(extra.model)
            .contains(&Some(extra.learning_rate))
        {
            return Err(refuse("the grid already tries this rate"));
        }
        let activation = if extra.model.is_linear() {
            Activation::Identity
        } else {
            self.activation
        };
        for &seed in &extra.seeds {
            cells.push(Cell {
                index: cells.len(),
                dataset: di,
                dataset_name: self.datasets[di].name().to_string(),
                model: extra.model,
                activation,
                bias_mode: extra.bias_mode,
                latent: extra.latent,
                n_train: extra.n_train,
                seed,
                l2: extra.l2,
                sparsity_weight: extra.sparsity_weight,
                learning_rate: Some(extra.learning_rate),
                variant: None,
            });
        }
        Ok(())
    }

    /// [`Study::push_extra_cells`] for the configuration of the variant
    /// named `name`.
    fn push_extra_variant_cells(
        &self,
        cells: &mut Vec<Cell>,
        extra: &ExtraRate,
        di: usize,
        name: &str,
        refuse: impl Fn(&str) -> Error,
    ) -> Result<()> {
        let Some(v) = self.variants.iter().find(|v| v.name == name) else {
            return Err(refuse("the study has no such variant"));
        };
        if self.training.is_lbfgs() || extra.model != base_kind(v) {
            return Err(refuse(
                "not the variant's base kind, or a study trained with L-BFGS",
            ));
        }
        let sparsity_ok = if v.l1 {
            self.sparsity_weights
                .iter()
                .any(|w| w.to_bits() == extra.sparsity_weight.to_bits())
        } else {
            extra.sparsity_weight == 0.0
        };
        let in_grid = self.latents.contains(&extra.latent)
            && v.bias_modes(&self.bias_modes).contains(&extra.bias_mode)
            && self.l2s.iter().any(|l| l.to_bits() == extra.l2.to_bits())
            && sparsity_ok
            && cells
                .iter()
                .any(|c| c.dataset == di && c.n_train == extra.n_train);
        if !in_grid {
            return Err(refuse("not a configuration of the study's grid"));
        }
        if self.learning_rates_for(extra.model).contains(&Some(extra.learning_rate)) {
            return Err(refuse("the grid already tries this rate"));
        }
        let variant = Arc::new(v.clone());
        for &seed in &extra.seeds {
            cells.push(Cell {
                index: cells.len(),
                dataset: di,
                dataset_name: self.datasets[di].name().to_string(),
                model: extra.model,
                activation: v.activation_at(extra.latent, self.activation),
                bias_mode: extra.bias_mode,
                latent: extra.latent,
                n_train: extra.n_train,
                seed,
                l2: extra.l2,
                sparsity_weight: extra.sparsity_weight,
                learning_rate: Some(extra.learning_rate),
                variant: Some(Arc::clone(&variant)),
            });
        }
        Ok(())
    }

    /// Appends the cells of variant `v` at one latent and training size:
    /// per bias mode, L2, sparsity weight (its L1 penalty's, else 0),
    /// learning rate and seed, as a trained kind's.
    fn push_variant_cells(
        &self,
        cells: &mut Vec<Cell>,
        di: usize,
        ds: &Dataset,
        v: &Variant,
        latent: usize,
        n_train: usize,
    ) {
        let variant = Arc::new(v.clone());
        let activation = v.activation_at(latent, self.activation);
        let sparsity: &[f64] = if v.l1 { &self.sparsity_weights } else { &[0.0] };
        let rates = self.learning_rates_for(base_kind(v));
        for bias_mode in v.bias_modes(&self.bias_modes) {
            for &l2 in &self.l2s {
                for &sparsity_weight in sparsity {
                    for &learning_rate in &rates {
                        for &seed in &self.seeds {
                            cells.push(Cell {
                                index: cells.len(),
                                dataset: di,
                                dataset_name: ds.name().to_string(),
                                model: base_kind(v),
                                activation,
                                bias_mode,
                                latent,
                                n_train,
                                seed,
                                l2,
                                sparsity_weight,
                                learning_rate,
                                variant: Some(Arc::clone(&variant)),
                            });
                        }
                    }
                }
            }
        }
    }

    /// The extra metrics `cell` records: its variant's, or for PCA and
    /// the model kinds the study's ([`Study::extra_metrics`]).
    pub(crate) fn cell_metrics(&self, cell: &Cell) -> Option<MetricSet> {
        match &cell.variant {
            Some(v) => v.metrics,
            None => self.extra_metrics(),
        }
    }

    fn push_model_cells(
        &self,
        cells: &mut Vec<Cell>,
        di: usize,
        ds: &Dataset,
        model: ModelKind,
        latent: usize,
        n_train: usize,
    ) {
        let mut push = |activation, bias_mode, l2, sparsity_weight, learning_rate, seed| {
            cells.push(Cell {
                index: cells.len(),
                dataset: di,
                dataset_name: ds.name().to_string(),
                model,
                activation,
                bias_mode,
                latent,
                n_train,
                seed,
                l2,
                sparsity_weight,
                learning_rate,
                variant: None,
            });
        };
        if model == ModelKind::Pca {
            // Each seed has its own split, so PCA's baseline is per seed.
            for &seed in &self.seeds {
                push(
                    Activation::Identity,
                    BiasMode::PreCentering,
                    0.0,
                    0.0,
                    None,
                    seed,
                );
            }
            return;
        }
        let activation = if model.is_linear() {
            Activation::Identity
        } else {
            self.activation
        };
        let sparsity: &[f64] = if model == ModelKind::SparseTied {
            &self.sparsity_weights
        } else {
            &[0.0]
        };
        let rates = self.learning_rates_for(model);
        for &bias in &self.bias_modes {
            for &l2 in &self.l2s {
                for &sw in sparsity {
                    for &lr in &rates {
                        for &seed in &self.seeds {
                            push(activation, bias, l2, sw, lr, seed);
                        }
                    }
                }
            }
        }
    }

    /// The learning rates cells of `model` are crossed with, from the
    /// config they train with ([`Study::training_for`]): `[None]` for
    /// L-BFGS (its steps come from a line search), else the protocol's
    /// grid, or the config's one rate.
    pub(crate) fn learning_rates_for(&self, model: ModelKind) -> Vec<Option<f64>> {
        let training = self.training_for(model);
        if training.is_lbfgs() {
            vec![None]
        } else if self.protocol.learning_rates.is_empty() {
            vec![Some(training.learning_rate)]
        } else {
            self.protocol
                .learning_rates
                .iter()
                .map(|&r| Some(r))
                .collect()
        }
    }

    /// The cells this study runs: all of [`Study::cells`], or the shard's
    /// `index % n == i` slice.
    pub fn selected_cells(&self) -> Result<Vec<Cell>> {
        let cells = self.cells()?;
        Ok(match self.shard {
            None => cells,
            Some((i, n)) => cells.into_iter().filter(|c| c.index % n == i).collect(),
        })
    }
}

/// The model kind a variant's cells are built on: its first layer pair
/// tied or untied, with the study's widths.
pub(crate) fn base_kind(v: &Variant) -> ModelKind {
    if v.tied {
        ModelKind::Tied
    } else {
        ModelKind::Untied
    }
}

/// Everything that determines a cell's result, serialized to derive its
/// cache key. Excludes the cell's index (adding a seed to a study should
/// not invalidate the cells it already had). The fields after `training`
/// are left out when absent, so the keys of cells without a variant or
/// extra metrics are the ones they always had.
#[derive(Serialize)]
pub(crate) struct CellConfig<'a> {
    pub version: u32,
    pub dataset: &'a str,
    pub fingerprint: &'a str,
    pub model: ModelKind,
    pub activation: Activation,
    pub bias_mode: BiasMode,
    pub latent: usize,
    pub n_train: usize,
    pub seed: u64,
    pub l2: f64,
    pub sparsity_weight: f64,
    pub learning_rate: Option<f64>,
    pub test_fraction: f64,
    pub split_seed: u64,
    /// Components of the PCA fitted on the cell's training set (the
    /// study's largest latent size, within the data): its size picks the
    /// solver's route, so a cell's PCA numbers (and the ratio and angles
    /// measured against them) can differ between two studies that share
    /// every other setting, and with them a cache.
    pub pca_components: usize,
    pub protocol: &'a Protocol,
    /// Training settings (absent for PCA, which does not train).
    pub training: Option<TrainingKey<'a>>,
    /// The cell's variant, its whole spec.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub variant: Option<&'a Variant>,
    /// The extra metrics the cell records.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metrics: Option<MetricSet>,
}

/// The training part of a [`CellConfig`]: the precision and config the
/// cell's kind trains with ([`Study::precision_for`],
/// [`Study::training_for`]), so a study without per-family training keys
/// its cells as before.
#[derive(Serialize)]
pub(crate) struct TrainingKey<'a> {
    pub hidden: &'a [usize],
    pub precision: Precision,
    pub config: &'a TrainConfig,
}

impl CellConfig<'_> {
    /// The hex SHA-256 of the config's JSON: the cell's cache key.
    pub fn key(&self) -> Result<String> {
        let json = serde_json::to_vec(self)
            .map_err(|e| Error::InvalidData(format!("cannot serialize a cell config: {e}")))?;
        Ok(hex(&Sha256::digest(&json)))
    }
}

/// SHA-256 of a dataset's name, shape, image shape, values (f64 bits) and
/// labels: cache files of a changed dataset stop matching.
pub fn fingerprint(ds: &Dataset) -> String {
    let mut h = Sha256::new();
    h.update(ds.name().as_bytes());
    h.update([0u8]);
    h.update((ds.n_samples() as u64).to_le_bytes());
    h.update((ds.n_features() as u64).to_le_bytes());
    match ds.image_shape() {
        Some((a, b)) => {
            h.update([1u8]);
            h.update((a as u64).to_le_bytes());
            h.update((b as u64).to_le_bytes());
        }
        None => h.update([0u8]),
    }
    // Column-major storage order; fixed for a given matrix.
    let mut buf = Vec::with_capacity(8 * 4096);
    for chunk in ds.x().as_slice().chunks(4096) {
        buf.clear();
        for v in chunk {
            buf.extend_from_slice(&v.to_bits().to_le_bytes());
        }
        h.update(&buf);
    }
    match ds.labels() {
        Some(l) => {
            h.update([1u8]);
            for v in l {
                h.update(v.to_le_bytes());
            }
        }
        None => h.update([0u8]),
    }
    hex(&h.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::study::run::{cell_config, fingerprints};
    use crate::study::variant::Variant;

    /// The cache configuration as it was before variants and extra metrics
    /// existed, field for field: the oracle that keys of studies without
    /// them did not change.
    #[derive(Serialize)]
    struct OldConfig<'a> {
        version: u32,
        dataset: &'a str,
        fingerprint: &'a str,
        model: ModelKind,
        activation: Activation,
        bias_mode: BiasMode,
        latent: usize,
        n_train: usize,
        seed: u64,
        l2: f64,
        sparsity_weight: f64,
        learning_rate: Option<f64>,
        test_fraction: f64,
        split_seed: u64,
        pca_components: usize,
        protocol: &'a Protocol,
        training: Option<OldTraining<'a>>,
    }

    #[derive(Serialize)]
    struct OldTraining<'a> {
        hidden: &'a [usize],
        precision: Precision,
        config: &'a TrainConfig,
    }

    fn digits_study() -> Study {
        Study::new("old")
            .dataset(Dataset::builtin("digits").unwrap())
            .models(&[
                ModelKind::Pca,
                ModelKind::Tied,
                ModelKind::SparseTied,
                ModelKind::LinearUntied,
            ])
            .latents(&[2, 4])
            .seeds(&[0, 1])
            .n_trains(&[100, 300])
            .l2s(&[0.0, 1e-4])
            .sparsity_weights(&[0.0, 0.1])
            .hidden(&[16])
            .protocol(Protocol {
                learning_rates: vec![1e-3, 1e-2],
                ..Protocol::default()
            })
    }

    /// A study without variants enumerates the cells it always did, in the
    /// documented order (written out here loop by loop), and each cell's
    /// cache key is the SHA-256 of the configuration as it was serialized
    /// before variants existed (version 5, no variant or metrics fields).
    #[test]
    fn a_study_without_variants_keeps_its_cells_and_keys() {
        let s = digits_study();
        let cells = s.cells().unwrap();
        let mut want = Vec::new();
        for n_train in [100usize, 300] {
            for latent in [2usize, 4] {
                for model in &s.models {
                    if *model == ModelKind::Pca {
                        for seed in [0u64, 1] {
                            want.push((
                                *model,
                                Activation::Identity,
                                latent,
                                n_train,
                                seed,
                                0.0,
                                0.0,
                                None,
                            ));
                        }
                        continue;
                    }
                    let act = if model.is_linear() {
                        Activation::Identity
                    } else {
                        Activation::Relu
                    };
                    let sparsity: &[f64] = if *model == ModelKind::SparseTied {
                        &[0.0, 0.1]
                    } else {
                        &[0.0]
                    };
                    for l2 in [0.0, 1e-4] {
                        for &sw in sparsity {
                            for lr in [1e-3, 1e-2] {
                                for seed in [0u64, 1] {
                                    want.push((
                                        *model,
                                        act,
                                        latent,
                                        n_train,
                                        seed,
                                        l2,
                                        sw,
                                        Some(lr),
                                    ));
                                }
                            }
                        }
                    }
                }
            }
        }
        let got: Vec<_> = cells
            .iter()
            .map(|c| {
                (
                    c.model,
                    c.activation,
                    c.latent,
                    c.n_train,
                    c.seed,
                    c.l2,
                    c.sparsity_weight,
                    c.learning_rate,
                )
            })
            .collect();
        assert_eq!(got, want);
        for (i, c) in cells.iter().enumerate() {
            assert_eq!(c.index, i);
            assert!(c.variant.is_none());
            assert_eq!(c.model_name(), c.model.name());
        }
        let fps = fingerprints(&s);
        for c in &cells {
            let n_fit = c.n_train - s.protocol.validation_rows(c.n_train);
            let old = OldConfig {
                version: 5,
                dataset: &c.dataset_name,
                fingerprint: &fps[c.dataset],
                model: c.model,
                activation: c.activation,
                bias_mode: c.bias_mode,
                latent: c.latent,
                n_train: c.n_train,
                seed: c.seed,
                l2: c.l2,
                sparsity_weight: c.sparsity_weight,
                learning_rate: c.learning_rate,
                test_fraction: s.test_fraction,
                split_seed: s.split_seed,
                pca_components: 4usize.min(n_fit).min(64),
                protocol: &s.protocol,
                training: c.model.is_trained().then_some(OldTraining {
                    hidden: if c.model.is_linear() { &[] } else { &s.hidden },
                    precision: s.precision,
                    config: &s.training,
                }),
            };
            let old_key = hex(&Sha256::digest(serde_json::to_vec(&old).unwrap()));
            assert_eq!(cell_config(&s, c, &fps[c.dataset]).key().unwrap(), old_key);
        }
    }

    /// Variants follow the model kinds at each latent size, crossed as a
    /// trained kind is; their cells carry the variant (its name is their
    /// model column) and its spec enters their keys.
    #[test]
    fn variants_are_cells_after_the_kinds() {
        let topk = Variant::new("topk", false).top_k_divisor(2);
        let l1 = Variant::new("l1", true)
            .l1(true)
            .activation(Activation::Relu);
        let s = digits_study().variants(&[topk.clone(), l1]);
        let plain = digits_study().cells().unwrap();
        let cells = s.cells().unwrap();
        // 2 latents x 2 sizes x (2 L2 x 2 rates x 2 seeds) x (1 + 2 weights).
        assert_eq!(cells.len(), plain.len() + 2 * 2 * 8 * 3);
        let names: Vec<&str> = cells
            .iter()
            .filter(|c| c.latent == 2 && c.n_train == 100)
            .map(Cell::model_name)
            .collect();
        assert_eq!(&names[names.len() - 24..names.len() - 16], ["topk"; 8]);
        assert_eq!(&names[names.len() - 16..], ["l1"; 16]);
        let t = cells
            .iter()
            .find(|c| c.model_name() == "topk" && c.latent == 4)
            .unwrap();
        assert_eq!(t.model, ModelKind::Untied);
        assert_eq!(t.activation, Activation::TopK { k: 2 });
        assert_eq!(t.sparsity_weight, 0.0);
        let fps = fingerprints(&s);
        let key = cell_config(&s, t, &fps[0]).key().unwrap();
        // The same cell with another spec has another key.
        let other = Variant::new("topk", false)
            .top_k_divisor(2)
            .unit_norm_decoder(true);
        let mut t2 = t.clone();
        t2.variant = Some(Arc::new(other));
        assert_ne!(cell_config(&s, &t2, &fps[0]).key().unwrap(), key);
        // A variant named as a kind is refused.
        let clash = digits_study().variants(&[Variant::new("tied", true)]);
        match clash.cells() {
            Err(Error::Config { field, .. }) => assert_eq!(field, "variants.name"),
            other => panic!("{other:?}"),
        }
        // Over-complete sizes need the switch.
        let wide = Study::new("wide")
            .dataset(Dataset::builtin("digits").unwrap())
            .models(&[ModelKind::Pca])
            .variants(&[topk])
            .latents(&[128]);
        assert!(wide.cells().is_err());
        assert_eq!(wide.overcomplete(true).cells().unwrap().len(), 2);
    }
}
