//! Cells: one fitted model per combination of a study's axes, enumerated in
//! a fixed order, and the key that identifies a cell's result on disk.

use super::extra::MetricSet;
use super::protocol::Protocol;
use super::spec::{ExtraRate, ModelKind, Precision, Study, base_kind};
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
    /// The code penalty's weight (0 except for sparse kinds and penalised
    /// variants): the L1 weight, or a variant's relative L0 weight
    /// ([`Variant::l0`]).
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

/// What the cells of one model kind or variant at one dataset, training
/// size and latent size share, so each enumeration states only the
/// settings its cells cross and every cell is built the same way (its
/// fields are what a cell's [`CellConfig`] key hashes).
struct CellGroup<'a> {
    /// Index into [`Study::datasets`].
    dataset: usize,
    /// The dataset's name.
    dataset_name: &'a str,
    /// The kind fitted (a variant's base kind).
    model: ModelKind,
    /// The hidden activation at this latent size.
    activation: Activation,
    /// Latent size.
    latent: usize,
    /// Training rows.
    n_train: usize,
    /// The variant the cells fit, if any.
    variant: Option<&'a Arc<Variant>>,
}

impl CellGroup<'_> {
    /// Appends the group's cell at one setting, numbered by its position
    /// in `cells`.
    fn push(
        &self,
        cells: &mut Vec<Cell>,
        bias_mode: BiasMode,
        l2: f64,
        sparsity_weight: f64,
        learning_rate: Option<f64>,
        seed: u64,
    ) {
        cells.push(Cell {
            index: cells.len(),
            dataset: self.dataset,
            dataset_name: self.dataset_name.to_string(),
            model: self.model,
            activation: self.activation,
            bias_mode,
            latent: self.latent,
            n_train: self.n_train,
            seed,
            l2,
            sparsity_weight,
            learning_rate,
            variant: self.variant.cloned(),
        });
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
    /// they set one; the study's sparsity weights only with an L1 penalty,
    /// their own with an L0 penalty: [`Variant::sparsity_weights`]).
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
        self.check_extra_in_grid(
            cells,
            extra,
            di,
            &self.bias_modes,
            (extra.model == ModelKind::SparseTied).then_some(self.sparsity_weights.as_slice()),
            &refuse,
        )?;
        let activation = if extra.model.is_linear() {
            Activation::Identity
        } else {
            self.activation
        };
        self.push_extra_seeds(cells, extra, di, activation, None);
        Ok(())
    }

    /// Appends one cell per seed `extra` lists: its configuration on
    /// dataset `di`, with `activation` and, for a variant's, `variant`.
    fn push_extra_seeds(
        &self,
        cells: &mut Vec<Cell>,
        extra: &ExtraRate,
        di: usize,
        activation: Activation,
        variant: Option<&Arc<Variant>>,
    ) {
        let group = CellGroup {
            dataset: di,
            dataset_name: self.datasets[di].name(),
            model: extra.model,
            activation,
            latent: extra.latent,
            n_train: extra.n_train,
            variant,
        };
        for &seed in &extra.seeds {
            group.push(
                cells,
                extra.bias_mode,
                extra.l2,
                extra.sparsity_weight,
                Some(extra.learning_rate),
                seed,
            );
        }
    }

    /// Checks that `extra` is a configuration of the grid (dataset `di`,
    /// whose cells are already in `cells`), with `bias_modes` the modes its
    /// model or variant takes and `weights` the sparsity weights it
    /// crosses (`None`: weight 0 only), at a rate the grid does not try
    /// already.
    fn check_extra_in_grid(
        &self,
        cells: &[Cell],
        extra: &ExtraRate,
        di: usize,
        bias_modes: &[BiasMode],
        weights: Option<&[f64]>,
        refuse: &impl Fn(&str) -> Error,
    ) -> Result<()> {
        let sparsity_ok = match weights {
            Some(w) => w
                .iter()
                .any(|w| w.to_bits() == extra.sparsity_weight.to_bits()),
            None => extra.sparsity_weight == 0.0,
        };
        let in_grid = self.latents.contains(&extra.latent)
            && bias_modes.contains(&extra.bias_mode)
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
        if self.training.is_lbfgs() || v.training.is_some() || extra.model != base_kind(v) {
            return Err(refuse(
                "not the variant's base kind, a study trained with L-BFGS, or a variant with its own training",
            ));
        }
        self.check_extra_in_grid(
            cells,
            extra,
            di,
            &v.bias_modes(&self.bias_modes),
            v.sparsity_weights(&self.sparsity_weights),
            &refuse,
        )?;
        let variant = Arc::new(v.clone());
        let activation = v.activation_at(extra.latent, self.activation);
        self.push_extra_seeds(cells, extra, di, activation, Some(&variant));
        Ok(())
    }

    /// Appends the cells of variant `v` at one latent and training size:
    /// per bias mode, L2, sparsity weight (its penalty's, else 0),
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
        let group = CellGroup {
            dataset: di,
            dataset_name: ds.name(),
            model: base_kind(v),
            activation: v.activation_at(latent, self.activation),
            latent,
            n_train,
            variant: Some(&variant),
        };
        let sparsity: &[f64] = v.sparsity_weights(&self.sparsity_weights).unwrap_or(&[0.0]);
        let rates = self.variant_rates(v);
        for bias_mode in v.bias_modes(&self.bias_modes) {
            for &l2 in &self.l2s {
                for &sparsity_weight in sparsity {
                    for &learning_rate in &rates {
                        for &seed in &self.seeds {
                            group.push(cells, bias_mode, l2, sparsity_weight, learning_rate, seed);
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
        // PCA is one of the linear kinds: its activation is the identity.
        let activation = if model.is_linear() {
            Activation::Identity
        } else {
            self.activation
        };
        let group = CellGroup {
            dataset: di,
            dataset_name: ds.name(),
            model,
            activation,
            latent,
            n_train,
            variant: None,
        };
        if model == ModelKind::Pca {
            // Each seed has its own split, so PCA's baseline is per seed.
            for &seed in &self.seeds {
                group.push(cells, BiasMode::PreCentering, 0.0, 0.0, None, seed);
            }
            return;
        }
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
                            group.push(cells, bias, l2, sw, lr, seed);
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

    /// The learning rates variant `v`'s cells cross: its own recipe's
    /// ([`Variant::own_rates`]), else those of its base kind.
    pub(crate) fn variant_rates(&self, v: &Variant) -> Vec<Option<f64>> {
        v.own_rates()
            .unwrap_or_else(|| self.learning_rates_for(base_kind(v)))
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
