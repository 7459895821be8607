//! The autoencoder stack: forward passes, exact backprop over batches, and
//! the flat-parameter interface optimizers use.

use super::activation::{Activation, top_k_mask};
use super::affine::BiasGrad;
use super::bias::Biases;
use super::center::PreBiasInit;
use super::checks::{check_finite, check_input};
use super::dense::Dense;
use super::gradient::{Gradient, TiedParts, TiedSlots};
use super::jump_relu;
use super::kernels::first_non_finite;
use super::kernels::{add_slice, sum_slices};
use super::layer::Layer;
use super::loss::{
    self, AuxKLoss, L0Mode, L1Weighting, LossConfig, LossTerms, Matryoshka, Normalizer,
    ResidualSpread,
};
use super::params::{ParamLayout, ParameterCount};
use super::sparse_decode;
use super::spec::{AutoencoderSpec, Init};
use super::tied::TiedLinear;
use super::workspace::Workspace;
use crate::error::{Error, Result};
use crate::real::Real;
use crate::rng::{derive_seed, seeded};
use crate::validate;
use nalgebra::DMatrix;
use rand::RngExt;
use std::sync::Arc;

/// A stack of tied and/or untied layer pairs with per-layer activations.
///
/// Encoding runs pairs `0..L` (each `a_l = f_l(z_l)`), decoding runs them back
/// (`u_{l} = g_l(v_l)`, with `g_0` the output activation), as described in
/// [`AutoencoderSpec`]. Rows are samples throughout.
#[derive(Clone, Debug, PartialEq)]
pub struct Autoencoder<T: Real> {
    spec: AutoencoderSpec,
    layers: Vec<Layer<T>>,
    layout: Arc<ParamLayout>,
    /// Per pair: the learned inference threshold of a BatchTopK activation
    /// (see [`Autoencoder::batch_top_k_thresholds`]); `None` for the other
    /// kinds and before any training batch.
    thresholds: Vec<Option<f64>>,
    /// The latent pair's JumpReLU log thresholds `log θ` (one per latent;
    /// see [`Autoencoder::jump_relu_threshold`]), parameters in the flat
    /// vector; empty for every other latent activation.
    log_threshold: Vec<T>,
}

/// The rate of the running BatchTopK threshold estimate: SAELens's default
/// `topk_threshold_lr` (`sae_lens/saes/batchtopk_sae.py`).
pub const BATCH_TOP_K_THRESHOLD_RATE: f64 = 0.01;

/// How a forward pass applies the BatchTopK kinds: by selection over the
/// call's rows (training, and the objective's terms), or by the learned
/// threshold where there is one (evaluation).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Pass {
    Train,
    Eval,
}

/// `a = z` where `z > theta`, else 0: a BatchTopK code at evaluation
/// (SAELens saves a BatchTopK SAE as a JumpReLU one with this threshold on
/// every latent; with `theta >= 0`, as the ReLU variant's estimate always
/// is, this is its `relu(z) * (z > threshold)`).
fn threshold_into<T: Real>(z: &DMatrix<T>, theta: f64, a: &mut DMatrix<T>) {
    let (theta, zero) = (T::of(theta), T::zero());
    for (o, &v) in a.iter_mut().zip(z.iter()) {
        *o = if v > theta { v } else { zero };
    }
}

/// Draws an `rows x cols` matrix row by row from `seed`, so the values do not
/// depend on the storage order or the scalar type (they are drawn in f64).
fn init_matrix<T: Real>(init: Init, rows: usize, cols: usize, fan: usize, seed: u64) -> DMatrix<T> {
    let mut rng = seeded(seed);
    let mut m = DMatrix::zeros(rows, cols);
    match init {
        Init::GlorotUniform | Init::TiedGlorotUniform => {
            let a = (6.0 / fan as f64).sqrt();
            for i in 0..rows {
                for j in 0..cols {
                    m[(i, j)] = T::of(rng.random_range(-a..a));
                }
            }
        }
        Init::Normal { std } => {
            for i in 0..rows {
                for j in 0..cols {
                    let g: f64 = rng.sample(rand_distr::StandardNormal);
                    m[(i, j)] = T::of(std * g);
                }
            }
        }
    }
    m
}

impl<T: Real> Autoencoder<T> {
    /// A freshly initialised model. Pair `l`'s encoder weight is drawn from
    /// `derive_seed(seed, 2l)` and an untied decoder weight from
    /// `derive_seed(seed, 2l + 1)`, so the tied and untied versions of one
    /// architecture start from the same encoder weights, and f32 and f64
    /// models from the same values up to rounding.
    ///
    /// Conv kernels are drawn the same way as `C_out x C_in·k_h·k_w`
    /// matrices, Glorot with fan `(C_in + C_out)·k_h·k_w`.
    ///
    /// With [`Init::TiedGlorotUniform`] no decoder weight is drawn: an
    /// untied decoder is the encoder's transpose (a conv decoder kernel is
    /// the encoder kernel), so the model equals the tied one of the same
    /// seed.
    pub fn new(spec: &AutoencoderSpec, seed: u64) -> Result<Self> {
        spec.validate()?;
        let mut layers = Vec::with_capacity(spec.layer_count());
        for l in 0..spec.layer_count() {
            if let Some(g) = spec.conv_geometry(l)? {
                let ((rows, cols), fan) = (g.kernel_shape(), g.fan());
                let k = init_matrix(spec.init, rows, cols, fan, derive_seed(seed, 2 * l as u64));
                let (c_in, c_out) = (g.input().channels, g.output().channels);
                let biases = Biases::zeros(spec.bias, c_in, c_out);
                layers.push(if spec.tied[l] {
                    Layer::Tied(TiedLinear::conv_pair(g, k, biases)?)
                } else if spec.init.ties_decoder() {
                    Layer::Dense(Dense::conv_pair(g, k.clone(), k, biases)?)
                } else {
                    let kd = init_matrix(
                        spec.init,
                        rows,
                        cols,
                        fan,
                        derive_seed(seed, 2 * l as u64 + 1),
                    );
                    Layer::Dense(Dense::conv_pair(g, k, kd, biases)?)
                });
                continue;
            }
            let (d, r) = (spec.dims[l], spec.dims[l + 1]);
            let fan = d + r;
            let w = init_matrix(spec.init, r, d, fan, derive_seed(seed, 2 * l as u64));
            let biases = Biases::zeros(spec.bias, d, r);
            layers.push(if spec.tied[l] {
                Layer::Tied(TiedLinear::new(w, biases)?)
            } else if spec.init.ties_decoder() {
                Layer::Dense(Dense::new(w.clone(), w.transpose(), biases)?)
            } else {
                let wd = init_matrix(spec.init, d, r, fan, derive_seed(seed, 2 * l as u64 + 1));
                Layer::Dense(Dense::new(w, wd, biases)?)
            });
        }
        Self::from_layers(spec.clone(), layers)
    }

    /// A model from given layers, which must match `spec` (widths, tied
    /// flags, bias mode).
    pub fn from_layers(spec: AutoencoderSpec, layers: Vec<Layer<T>>) -> Result<Self> {
        spec.validate()?;
        if layers.len() != spec.layer_count() {
            return Err(Error::Shape(format!(
                "{} layers for a spec with {} layer pairs",
                layers.len(),
                spec.layer_count()
            )));
        }
        for (l, layer) in layers.iter().enumerate() {
            let want = (spec.dims[l], spec.dims[l + 1]);
            if (layer.input_dim(), layer.output_dim()) != want {
                return Err(Error::Shape(format!(
                    "layer {l} maps {} -> {}, the spec says {} -> {}",
                    layer.input_dim(),
                    layer.output_dim(),
                    want.0,
                    want.1
                )));
            }
            if layer.is_tied() != spec.tied[l] {
                return Err(Error::Shape(format!(
                    "layer {l} is {}, the spec says {}",
                    if layer.is_tied() { "tied" } else { "untied" },
                    if spec.tied[l] { "tied" } else { "untied" }
                )));
            }
            let want_conv = spec.conv_geometry(l)?;
            if layer.conv() != want_conv.as_ref() {
                return Err(Error::Shape(format!(
                    "layer {l} has conv geometry {:?}, the spec says {:?}",
                    layer.conv(),
                    want_conv
                )));
            }
            if layer.biases().mode() != spec.bias {
                return Err(Error::Shape(format!(
                    "layer {l} has {} biases, the spec says {}",
                    layer.biases().mode().name(),
                    spec.bias.name()
                )));
            }
        }
        let pairs: Vec<_> = layers
            .iter()
            .enumerate()
            .map(|(l, layer)| {
                (
                    spec.dims[l],
                    spec.dims[l + 1],
                    spec.tied[l],
                    layer.conv().copied(),
                )
            })
            .collect();
        let mut layout = ParamLayout::with_conv(&pairs, spec.bias);
        let mut log_threshold = Vec::new();
        if let Activation::JumpRelu { init_threshold, .. } = *spec.hidden.last().expect("pairs") {
            layout = layout.with_latent_threshold();
            // SAELens: `torch.ones(d_sae) * np.log(jumprelu_init_threshold)`.
            log_threshold = vec![T::of(init_threshold.ln()); spec.latent_dim()];
        }
        let layout = Arc::new(layout);
        let thresholds = vec![None; layers.len()];
        Ok(Autoencoder {
            spec,
            layers,
            layout,
            thresholds,
            log_threshold,
        })
    }

    /// The latent pair's JumpReLU thresholds `θ_i = exp(log θ_i)`, one per
    /// latent, in the model's precision (the exponential taken in f64);
    /// `None` unless the latent activation is [`Activation::JumpRelu`].
    ///
    /// The thresholds are parameters: the model stores `log θ` (SAELens's
    /// `log_threshold`, `sae_lens/saes/jumprelu_sae.py`) at the end of the
    /// flat vector ([`super::params`]), optimizers train them with the
    /// rest, and model files, checkpoints and exports keep them. A new
    /// model starts every latent at the activation's `init_threshold`.
    pub fn jump_relu_threshold(&self) -> Option<Vec<T>> {
        self.latent_activation()
            .is_jump_relu()
            .then(|| jump_relu::thresholds(&self.log_threshold))
    }

    /// The stored log thresholds `log θ` of a JumpReLU latent pair (see
    /// [`Autoencoder::jump_relu_threshold`]); `None` for other latents.
    pub fn jump_relu_log_threshold(&self) -> Option<&[T]> {
        self.latent_activation()
            .is_jump_relu()
            .then_some(self.log_threshold.as_slice())
    }

    /// Sets the JumpReLU thresholds `θ` (one per latent, each finite and
    /// `> 0`), stored as `log θ` (the logarithm taken in f64).
    ///
    /// # Errors
    /// [`Error::Config`] unless the latent activation is a JumpReLU, the
    /// count is the latent width and every `θ_i` is finite and positive
    /// with a finite logarithm in the model's precision; the model is then
    /// unchanged.
    pub fn set_jump_relu_threshold(&mut self, theta: &[f64]) -> Result<()> {
        let logs: Vec<T> = theta.iter().map(|&t| T::of(t.ln())).collect();
        if let Some(i) = theta.iter().position(|&t| !(t.is_finite() && t > 0.0)) {
            return Err(Error::config(
                "jump_relu_threshold",
                format!("threshold {i} must be finite and > 0, got {}", theta[i]),
            ));
        }
        self.set_jump_relu_log_threshold(&logs)
    }

    /// Sets the stored log thresholds `log θ` of a JumpReLU latent pair
    /// directly (what files hold, so a round trip keeps every bit).
    ///
    /// # Errors
    /// [`Error::Config`] unless the latent activation is a JumpReLU, the
    /// count is the latent width and every entry is finite; the model is
    /// then unchanged.
    pub fn set_jump_relu_log_threshold(&mut self, log_threshold: &[T]) -> Result<()> {
        let act = self.latent_activation();
        if !act.is_jump_relu() {
            return Err(Error::config(
                "jump_relu_threshold",
                format!("the latent activation is {}, not jump_relu", act.name()),
            ));
        }
        if log_threshold.len() != self.latent_dim() {
            return Err(Error::config(
                "jump_relu_threshold",
                format!(
                    "{} thresholds for {} latents",
                    log_threshold.len(),
                    self.latent_dim()
                ),
            ));
        }
        if let Some(i) = first_non_finite(log_threshold) {
            return Err(Error::config(
                "jump_relu_threshold",
                format!("log threshold {i} is not finite"),
            ));
        }
        self.log_threshold.copy_from_slice(log_threshold);
        Ok(())
    }

    /// Per pair, the inference threshold of a BatchTopK activation
    /// ([`Activation::BatchTopK`], [`Activation::BatchTopKSigned`]): `None`
    /// for the other kinds and for a model that has not trained a batch.
    ///
    /// BatchTopK selects over the rows of a call, so without a threshold a
    /// row's code depends on its neighbours. SAELens
    /// (`sae_lens/saes/batchtopk_sae.py`, `update_topk_threshold`) learns
    /// a running estimate of the smallest kept value while training and
    /// saves the model as a JumpReLU one with that threshold on every
    /// latent; dictionary_learning (`trainers/batch_top_k.py`,
    /// `update_threshold`) does the same with another schedule. This
    /// follows SAELens: the estimate starts at 0 and after each training
    /// batch whose code kept a positive value moves to
    /// `θ ← (1 − λ) θ + λ m`, with `m` the batch's smallest positive kept
    /// value and `λ` = [`BATCH_TOP_K_THRESHOLD_RATE`] (SAELens's default
    /// `topk_threshold_lr`); the signed variant takes `m` over every nonzero
    /// kept value instead. A batch's kept values are those of its shards
    /// (each shard selects its own `n·k`). Minibatch training updates it
    /// (checkpoints and model files keep it); L-BFGS does not, and early
    /// stopping that restores the best epoch's weights keeps the latest
    /// estimate, a running average over the last hundred or so batches.
    ///
    /// Where a pair has a threshold, evaluation
    /// ([`Autoencoder::encode`], [`Autoencoder::decode`],
    /// [`Autoencoder::reconstruct`], [`Autoencoder::output_logits`],
    /// [`Autoencoder::forward_with`], and what is computed from them)
    /// keeps `z` where `z > θ` and zeroes the rest, row by row, wherever
    /// the pair's activation applies (its encoder side, and the decoder side
    /// of the next pair). Training, and the objective's terms
    /// ([`Autoencoder::loss_terms`], so the validation loss compares the
    /// same function as the training loss), keep the batch selection.
    pub fn batch_top_k_thresholds(&self) -> &[Option<f64>] {
        &self.thresholds
    }

    /// Sets pair `l`'s BatchTopK inference threshold (`None` clears it, and
    /// evaluation selects over the call's rows again).
    ///
    /// # Errors
    /// [`Error::Config`] if pair `l` does not exist or its activation is not
    /// a BatchTopK kind, or the threshold is not finite, or negative for
    /// the ReLU variant (whose kept values are positive).
    pub fn set_batch_top_k_threshold(&mut self, l: usize, threshold: Option<f64>) -> Result<()> {
        let Some(&act) = self.spec.hidden.get(l) else {
            return Err(Error::config(
                "batch_top_k_threshold",
                format!("pair {l} does not exist ({} pairs)", self.layers.len()),
            ));
        };
        if threshold.is_some() && !act.is_batch_top_k() {
            return Err(Error::config(
                "batch_top_k_threshold",
                format!("pair {l} is {}, not batch_top_k", act.name()),
            ));
        }
        if let Some(t) = threshold
            && !(t.is_finite() && (t >= 0.0 || !act.relu_on_kept()))
        {
            return Err(Error::config(
                "batch_top_k_threshold",
                format!("must be finite (and >= 0 for {}), got {t}", act.name()),
            ));
        }
        self.thresholds[l] = threshold;
        Ok(())
    }

    /// One step of the running threshold estimate (see
    /// [`Autoencoder::batch_top_k_thresholds`]): `smallest[l]` is the
    /// smallest kept value of pair `l`'s code on one training batch
    /// ([`Activation::smallest_kept`]), `None` where none was kept (the
    /// estimate then stays, as SAELens skips such a batch) or the pair is
    /// not BatchTopK.
    ///
    /// # Errors
    /// [`Error::Shape`] unless there is one entry per pair; as
    /// [`Autoencoder::set_batch_top_k_threshold`] for a non-finite value.
    pub fn update_batch_top_k_thresholds(&mut self, smallest: &[Option<f64>]) -> Result<()> {
        if smallest.len() != self.layers.len() {
            return Err(Error::Shape(format!(
                "{} smallest kept values for {} pairs",
                smallest.len(),
                self.layers.len()
            )));
        }
        for (l, m) in smallest.iter().enumerate() {
            if let Some(m) = *m
                && self.spec.hidden[l].is_batch_top_k()
            {
                let rate = BATCH_TOP_K_THRESHOLD_RATE;
                let theta = self.thresholds[l].unwrap_or(0.0);
                self.set_batch_top_k_threshold(l, Some((1.0 - rate) * theta + rate * m))?;
            }
        }
        Ok(())
    }

    /// `a = f_l(z)`, the activation of pair `l`'s hidden representation,
    /// with the BatchTopK threshold at evaluation (see
    /// [`Autoencoder::batch_top_k_thresholds`]).
    fn map_hidden(&self, l: usize, z: &DMatrix<T>, a: &mut DMatrix<T>, pass: Pass) {
        match (pass, self.thresholds[l]) {
            (Pass::Eval, Some(theta)) if self.spec.hidden[l].is_batch_top_k() => {
                threshold_into(z, theta, a)
            }
            // Only the latent pair can be a JumpReLU (the spec checks it),
            // and its activation is never applied on a decoder side.
            _ if self.spec.hidden[l].is_jump_relu() => {
                jump_relu::forward(z, &jump_relu::thresholds(&self.log_threshold), a)
            }
            _ => self.spec.hidden[l].map_into(z, a),
        }
    }

    /// The architecture.
    pub fn spec(&self) -> &AutoencoderSpec {
        &self.spec
    }

    /// The layer pairs, outermost first.
    pub fn layers(&self) -> &[Layer<T>] {
        &self.layers
    }

    /// Where each parameter sits in the flat vector.
    pub fn layout(&self) -> &ParamLayout {
        &self.layout
    }

    /// Input width `d`.
    pub fn input_dim(&self) -> usize {
        self.spec.input_dim()
    }

    /// Latent width.
    pub fn latent_dim(&self) -> usize {
        self.spec.latent_dim()
    }

    /// Exact parameter count with a per-pair breakdown.
    pub fn parameter_count(&self) -> ParameterCount {
        self.layout.count()
    }

    /// Number of scalar parameters (the flat vector's length).
    pub fn n_params(&self) -> usize {
        self.layout.len()
    }

    /// All parameters in flat order (see [`super::params`]).
    pub fn params_to_vec(&self) -> Vec<T> {
        let mut out = vec![T::zero(); self.n_params()];
        self.write_params(&mut out)
            .expect("buffer sized from the layout");
        out
    }

    /// Writes all parameters in flat order into `out` (length `n_params()`).
    pub fn write_params(&self, out: &mut [T]) -> Result<()> {
        self.check_len(out.len(), "parameter buffer")?;
        for (layer, slots) in self.layers.iter().zip(self.layout.layers()) {
            layer.write_flat(&mut out[slots.range()]);
            if let Some(t) = &slots.threshold {
                out[t.clone()].copy_from_slice(&self.log_threshold);
            }
        }
        Ok(())
    }

    /// Replaces all parameters from flat order. Rejects a wrong length or a
    /// non-finite entry (naming its slot) and then leaves the model unchanged.
    pub fn set_params(&mut self, params: &[T]) -> Result<()> {
        self.check_len(params.len(), "parameter vector")?;
        if let Some(k) = first_non_finite(params) {
            return Err(Error::InvalidData(format!(
                "parameter {k} ({}) is not finite",
                self.describe_param(k)
            )));
        }
        self.set_finite_params(params)
    }

    /// [`Autoencoder::set_params`] for a vector the caller has already
    /// checked to be finite (the optimizer checks each entry as it writes
    /// it), sparing a scan of every parameter after every batch. Rejects a
    /// wrong length.
    pub(crate) fn set_finite_params(&mut self, params: &[T]) -> Result<()> {
        self.check_len(params.len(), "parameter vector")?;
        debug_assert!(first_non_finite(params).is_none());
        for (layer, slots) in self.layers.iter_mut().zip(self.layout.layers()) {
            layer.read_flat(&params[slots.range()]);
            if let Some(t) = &slots.threshold {
                self.log_threshold.copy_from_slice(&params[t.clone()]);
            }
        }
        Ok(())
    }

    /// Names flat parameter `k`, e.g. `"layer 1 decoder weight"`.
    pub fn describe_param(&self, k: usize) -> String {
        for (l, s) in self.layout.layers().iter().enumerate() {
            let what = if s.weight.contains(&k) {
                if s.tied { "weight" } else { "encoder weight" }
            } else if s.decoder_weight.as_ref().is_some_and(|r| r.contains(&k)) {
                "decoder weight"
            } else if s.encoder_bias().is_some_and(|r| r.contains(&k)) {
                "encoder bias"
            } else if s.decoder_bias().is_some_and(|r| r.contains(&k)) {
                "decoder bias"
            } else if s.pre_bias().is_some_and(|r| r.contains(&k)) {
                "pre-centering bias"
            } else if s.threshold.as_ref().is_some_and(|r| r.contains(&k)) {
                "JumpReLU log threshold"
            } else {
                continue;
            };
            return format!("layer {l} {what}");
        }
        "out of range".into()
    }

    /// Sets the first pair's pre-centering bias `b_pre` to a centre of the
    /// rows of `x` (the mean or the geometric median, see [`PreBiasInit`]),
    /// as sparse-autoencoder practice does before training. Only the first
    /// pair sees data space, so only its bias is set. Errors unless the
    /// model uses [`BiasMode::PreCentering`](super::BiasMode::PreCentering),
    /// on a shape mismatch and on non-finite data.
    pub fn init_pre_bias(&mut self, x: &DMatrix<T>, how: PreBiasInit) -> Result<()> {
        check_input(x, self.input_dim(), "data")?;
        let Some(range) = self.layout.layers()[0].pre_bias() else {
            return Err(Error::config(
                "bias",
                format!(
                    "initialising b_pre needs the pre_centering bias mode, the model has {}",
                    self.spec.bias.name()
                ),
            ));
        };
        let centre = how.centre(x)?;
        let mut p = self.params_to_vec();
        for (slot, c) in p[range].iter_mut().zip(centre.iter()) {
            *slot = T::of(*c);
        }
        self.set_params(&p)
    }

    /// A zero gradient with this model's layout, to reuse across calls of
    /// [`Autoencoder::loss_and_grad_with`].
    pub fn zero_gradient(&self) -> Gradient<T> {
        Gradient::zeros(self.layout.clone())
    }

    /// Runs encoder and decoder on `x`, leaving every pre-activation and
    /// activation in `ws` (e.g. to count dead units or saturated sigmoids).
    pub fn forward_with(&self, x: &DMatrix<T>, ws: &mut Workspace<T>) -> Result<()> {
        check_input(x, self.input_dim(), "input")?;
        self.forward(x, ws, true, Pass::Eval);
        Ok(())
    }

    /// The latent code of a batch (n x d -> n x latent).
    pub fn encode(&self, x: &DMatrix<T>) -> Result<DMatrix<T>> {
        check_input(x, self.input_dim(), "input")?;
        let mut ws = Workspace::new();
        self.forward(x, &mut ws, false, Pass::Eval);
        Ok(ws.a.pop().expect("at least one layer"))
    }

    /// Decodes latent codes (n x latent -> n x d), output activation applied.
    pub fn decode(&self, h: &DMatrix<T>) -> Result<DMatrix<T>> {
        check_input(h, self.latent_dim(), "code")?;
        let mut ws = Workspace::new();
        self.decode_from(h, &mut ws, Pass::Eval);
        Ok(ws.u.swap_remove(0))
    }

    /// The reconstruction `x̂` of a batch.
    pub fn reconstruct(&self, x: &DMatrix<T>) -> Result<DMatrix<T>> {
        check_input(x, self.input_dim(), "input")?;
        let mut ws = Workspace::new();
        self.forward(x, &mut ws, true, Pass::Eval);
        Ok(ws.u.swap_remove(0))
    }

    /// The output pre-activations (logits when the output is a sigmoid).
    pub fn output_logits(&self, x: &DMatrix<T>) -> Result<DMatrix<T>> {
        check_input(x, self.input_dim(), "input")?;
        let mut ws = Workspace::new();
        self.forward(x, &mut ws, true, Pass::Eval);
        Ok(ws.v.swap_remove(0))
    }

    /// Mean over all entries of `(x̂ − x)²`, accumulated in f64.
    pub fn reconstruction_mse(&self, x: &DMatrix<T>) -> Result<f64> {
        if x.nrows() == 0 {
            return Err(Error::InvalidData(
                "reconstruction error of an empty batch".into(),
            ));
        }
        let xh = self.reconstruct(x)?;
        let sum: f64 = xh
            .iter()
            .zip(x.iter())
            .map(|(a, b)| (a.f64() - b.f64()).powi(2))
            .sum();
        finite(sum / x.len() as f64, "reconstruction error")
    }

    /// The data terms (reconstruction, L1, KL; no weight decay) of a batch
    /// or shard, without a gradient.
    pub fn loss_terms(
        &self,
        x: &DMatrix<T>,
        target: &DMatrix<T>,
        loss: &LossConfig,
        norm: Normalizer,
    ) -> Result<LossTerms> {
        self.check_call(x, target, loss, norm)?;
        let mut ws = Workspace::new();
        self.forward(x, &mut ws, true, Pass::Train);
        let recon = loss::reconstruction(
            loss.reconstruction,
            self.spec.output,
            &ws.v[0],
            &ws.u[0],
            target,
            norm,
            None,
        );
        let weights = self.l1_weights(loss);
        let h = ws.a.last().expect("layers");
        let (l1, kl) = loss::latent_penalties(loss, h, weights.as_deref(), norm, None)?;
        let matryoshka = match &loss.matryoshka {
            Some(mt) => {
                let kind = loss.reconstruction;
                self.matryoshka_term(mt, kind, h, target, norm, None, &mut ws.patches)?
            }
            None => 0.0,
        };
        let latent = self.layers.len() - 1;
        let l0 = self.l0_value(loss, &ws.z[latent], &ws.a[latent], norm);
        terms(recon, l1, kl, matryoshka, l0)
    }

    /// Data terms and their exact gradient on a batch or shard.
    ///
    /// `x` is the input, `target` what the output should reconstruct (equal
    /// to `x` unless denoising). Per-sample terms are divided by `norm`, the
    /// size of the whole batch, so results of disjoint shards add up to the
    /// batch's (see [`LossConfig::kl`] for the KL term). Weight decay is not
    /// included: add it once per batch with
    /// [`Autoencoder::l2_penalty_and_grad`].
    ///
    /// Errors on shape mismatches, non-finite inputs, an objective the model
    /// cannot use (BCE without sigmoid output, KL without sigmoid latent) and
    /// non-finite results, so an `Ok` never carries a NaN.
    pub fn loss_and_grad(
        &self,
        x: &DMatrix<T>,
        target: &DMatrix<T>,
        loss: &LossConfig,
        norm: Normalizer,
    ) -> Result<(LossTerms, Gradient<T>)> {
        let mut ws = Workspace::new();
        let mut grad = self.zero_gradient();
        let t = self.loss_and_grad_with(x, target, loss, norm, &mut ws, &mut grad)?;
        Ok((t, grad))
    }

    /// [`Autoencoder::loss_and_grad`] reusing a workspace and a gradient,
    /// which is overwritten (not accumulated into).
    pub fn loss_and_grad_with(
        &self,
        x: &DMatrix<T>,
        target: &DMatrix<T>,
        loss: &LossConfig,
        norm: Normalizer,
        ws: &mut Workspace<T>,
        grad: &mut Gradient<T>,
    ) -> Result<LossTerms> {
        let t = self.shard_loss_and_grad(x, target, loss, norm, ws, grad)?;
        finite_gradient(grad, &t)?;
        Ok(t)
    }

    /// [`Autoencoder::loss_and_grad_with`] without the scan of the gradient
    /// for non-finite entries: for the batch engine, which checks the sum
    /// of its shards' gradients once instead (a non-finite entry in any
    /// shard makes that sum non-finite).
    pub(crate) fn shard_loss_and_grad(
        &self,
        x: &DMatrix<T>,
        target: &DMatrix<T>,
        loss: &LossConfig,
        norm: Normalizer,
        ws: &mut Workspace<T>,
        grad: &mut Gradient<T>,
    ) -> Result<LossTerms> {
        self.shard_loss_and_grad_aux(x, target, loss, None, norm, ws, grad, TiedSlots::Summed)
    }

    /// [`Autoencoder::shard_loss_and_grad`] plus an optional AuxK term
    /// (see [`super::AuxK`]), its gradient added to `grad`, and tied weight
    /// slots left as `tied` says (deferring needs `aux` to be `None`: the
    /// AuxK gradient is added onto the summed slots).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn shard_loss_and_grad_aux(
        &self,
        x: &DMatrix<T>,
        target: &DMatrix<T>,
        loss: &LossConfig,
        aux: Option<AuxKLoss<'_>>,
        norm: Normalizer,
        ws: &mut Workspace<T>,
        grad: &mut Gradient<T>,
        tied: TiedSlots,
    ) -> Result<LossTerms> {
        debug_assert!(aux.is_none() || tied == TiedSlots::Summed);
        self.check_call(x, target, loss, norm)?;
        if let Some(aux) = &aux {
            self.check_auxk(aux)?;
        }
        if **grad.layout_arc() != *self.layout {
            return Err(Error::Shape(
                "gradient buffer belongs to a model with another layout".into(),
            ));
        }
        self.forward(x, ws, true, Pass::Train);
        let mut t = self.backward(x, target, loss, norm, ws, grad, tied)?;
        if let Some(aux) = aux {
            let residual = target - &ws.u[0];
            let term = self.auxk_pass(x, &ws.z[0], &residual, &aux, Some(grad))?;
            t.auxk = term;
            t.total += term;
        }
        Ok(t)
    }

    /// The [`ResidualSpread`] of one shard's residual `target − x̂` (the
    /// forward pass of `x` in `ws`): what the shard engine merges over a
    /// batch into the AuxK denominator before the shards' gradient passes.
    /// The residual is the one [`Autoencoder::shard_loss_and_grad_aux`]
    /// forms, bit for bit.
    pub(crate) fn auxk_residual_spread(
        &self,
        x: &DMatrix<T>,
        target: &DMatrix<T>,
        ws: &mut Workspace<T>,
    ) -> Result<ResidualSpread> {
        check_input(x, self.input_dim(), "input")?;
        if target.shape() != x.shape() {
            return Err(Error::Shape(format!(
                "target is {}x{}, input is {}x{}",
                target.nrows(),
                target.ncols(),
                x.nrows(),
                x.ncols()
            )));
        }
        self.forward(x, ws, true, Pass::Train);
        Ok(ResidualSpread::of_difference(target, Some(&ws.u[0])))
    }

    /// Data terms with an optional AuxK term, and their exact gradient
    /// (the AuxK part with the residual `target − x̂` and its spread held
    /// constant, as [`super::AuxK`] defines it). The training loop's
    /// objective when [`AuxK`](super::AuxK) revival is on. With
    /// [`AuxKLoss::residual_spread`] `None` the call's rows are the batch
    /// and the AuxK denominator is their residual's spread; a call on one
    /// shard of a batch passes the batch's.
    pub fn loss_and_grad_aux(
        &self,
        x: &DMatrix<T>,
        target: &DMatrix<T>,
        loss: &LossConfig,
        aux: Option<AuxKLoss<'_>>,
        norm: Normalizer,
    ) -> Result<(LossTerms, Gradient<T>)> {
        let mut ws = Workspace::new();
        let mut grad = self.zero_gradient();
        let t = self.shard_loss_and_grad_aux(
            x,
            target,
            loss,
            aux,
            norm,
            &mut ws,
            &mut grad,
            TiedSlots::Summed,
        )?;
        finite_gradient(&grad, &t)?;
        Ok((t, grad))
    }

    /// The AuxK term alone for a given residual (held constant, as is its
    /// spread: [`AuxKLoss::residual_spread`], or the spread of `residual`
    /// when `None`), without a gradient: with
    /// [`Autoencoder::auxk_term_and_grad`], what a finite-difference check
    /// of the term differentiates.
    pub fn auxk_term(
        &self,
        x: &DMatrix<T>,
        residual: &DMatrix<T>,
        aux: AuxKLoss<'_>,
    ) -> Result<f64> {
        self.check_auxk_call(x, residual, &aux)?;
        let mut ws = Workspace::new();
        self.forward(x, &mut ws, false, Pass::Train);
        self.auxk_pass(x, &ws.z[0], residual, &aux, None)
    }

    /// The AuxK term for a given residual (held constant, as in
    /// [`Autoencoder::auxk_term`]) and its exact gradient with respect to
    /// every parameter.
    pub fn auxk_term_and_grad(
        &self,
        x: &DMatrix<T>,
        residual: &DMatrix<T>,
        aux: AuxKLoss<'_>,
    ) -> Result<(f64, Gradient<T>)> {
        self.check_auxk_call(x, residual, &aux)?;
        let mut ws = Workspace::new();
        self.forward(x, &mut ws, false, Pass::Train);
        let mut grad = self.zero_gradient();
        let t = self.auxk_pass(x, &ws.z[0], residual, &aux, Some(&mut grad))?;
        Ok((t, grad))
    }

    fn check_auxk_call(
        &self,
        x: &DMatrix<T>,
        residual: &DMatrix<T>,
        aux: &AuxKLoss<'_>,
    ) -> Result<()> {
        self.check_auxk(aux)?;
        check_input(x, self.input_dim(), "input")?;
        if residual.shape() != x.shape() {
            return Err(Error::Shape(format!(
                "residual is {}x{}, input is {}x{}",
                residual.nrows(),
                residual.ncols(),
                x.nrows(),
                x.ncols()
            )));
        }
        check_finite(residual, "residual")
    }

    /// Whether this model can use an AuxK term: one dense pair (its decoder
    /// maps the code straight to data space, where the residual lives), an
    /// identity output (the residual is a difference of reconstructions),
    /// one dead flag per latent, and a given residual spread that is finite
    /// and `>= 0`.
    pub fn check_auxk(&self, aux: &AuxKLoss<'_>) -> Result<()> {
        aux.config.validate()?;
        if let Some(s) = aux.residual_spread {
            validate::non_negative("auxk.residual_spread", s)?;
        }
        self.check_auxk_model()?;
        if aux.dead.len() != self.latent_dim() {
            return Err(Error::Shape(format!(
                "{} dead-latent flags for {} latents",
                aux.dead.len(),
                self.latent_dim()
            )));
        }
        Ok(())
    }

    /// The model half of [`Autoencoder::check_auxk`] (checked by the trainer
    /// before any work).
    pub fn check_auxk_model(&self) -> Result<()> {
        if self.layers.len() != 1 || self.spec.conv.is_some() {
            return Err(Error::config(
                "auxk",
                format!(
                    "AuxK needs a single dense layer pair (its decoder reconstructs the residual \
                     in data space); the model has {} pairs{}",
                    self.layers.len(),
                    if self.spec.conv.is_some() {
                        ", conv"
                    } else {
                        ""
                    }
                ),
            ));
        }
        if self.spec.output != super::activation::OutputActivation::Identity {
            return Err(Error::config(
                "auxk",
                "AuxK needs an identity output activation (the residual is x − x̂)",
            ));
        }
        Ok(())
    }

    /// The AuxK term (see [`super::AuxK`]) from the latent pre-activations
    /// `z` and the residual; with `grad`, its gradient is **added** to it.
    /// The denominator is `aux.residual_spread`, or the spread of
    /// `residual` itself when that is `None`. Checks are the callers'.
    fn auxk_pass(
        &self,
        x: &DMatrix<T>,
        z: &DMatrix<T>,
        residual: &DMatrix<T>,
        aux: &AuxKLoss<'_>,
        grad: Option<&mut Gradient<T>>,
    ) -> Result<f64> {
        let (n, r) = z.shape();
        let d = residual.ncols();
        if !aux.dead.iter().any(|&dead| dead) {
            return Ok(0.0);
        }
        let spread = match aux.residual_spread {
            Some(s) => s,
            None => ResidualSpread::of(residual).sum_sq(),
        };
        // No spread to divide by (every residual row alike): no term, as
        // OpenAI's `nan_to_num(0)` makes of 0/0.
        if spread <= 0.0 {
            return Ok(0.0);
        }
        // The k_aux largest pre-activations among the dead units of each
        // row: live units are pushed to −∞ so the TopK selection (same tie
        // rule) skips them, and filtered out should fewer than k_aux be dead.
        // With a ReLU TopK latent the selected values go through the same
        // ReLU (OpenAI: `auxk_vals = torch.relu(auxk_vals)`), and the
        // gradient passes only where the value is positive.
        let relu = self.spec.hidden[0].relu_on_kept();
        let zero = T::zero();
        let neg = T::of(f64::NEG_INFINITY);
        let zm = DMatrix::from_fn(n, r, |i, j| if aux.dead[j] { z[(i, j)] } else { neg });
        let mut h = DMatrix::<T>::zeros(n, r);
        let mut mask = vec![false; n * r];
        top_k_mask(&zm, aux.config.k_aux, |i, j, keep| {
            let v = z[(i, j)];
            if keep && aux.dead[j] && (!relu || v > zero) {
                h[(i, j)] = v;
                mask[i + j * n] = true;
            }
        });
        let layer = &self.layers[0];
        let mut patches = Vec::new();
        let mut ehat = DMatrix::<T>::zeros(n, d);
        layer.map().decode_into(
            layer.weights(),
            &Biases::None,
            &h,
            &mut ehat,
            &mut patches,
            None,
        );
        // α Σ ‖e_i − ê_i‖² / D over this call's rows; its gradient with
        // respect to ê is 2α/D (ê − e).
        let scale = aux.config.alpha / spread;
        let mut term = 0.0f64;
        let mut dehat = DMatrix::<T>::zeros(n, d);
        for j in 0..d {
            for i in 0..n {
                let diff = ehat[(i, j)].f64() - residual[(i, j)].f64();
                term += diff * diff;
                dehat[(i, j)] = T::of(2.0 * scale * diff);
            }
        }
        let term = finite(scale * term, "AuxK term")?;
        let Some(grad) = grad else {
            return Ok(term);
        };
        let g = self.auxk_gradient(x, &h, &dehat, &mask, &mut patches);
        grad.add_assign(&g)?;
        Ok(term)
    }

    /// The AuxK term's gradient from `dehat`, its gradient with respect to
    /// `ê = h M` (see [`Autoencoder::auxk_pass`]): back through the latent
    /// pair's decoder (no biases), then, only where `mask` kept a dead
    /// unit, through the pre-activations into the encoder.
    fn auxk_gradient(
        &self,
        x: &DMatrix<T>,
        h: &DMatrix<T>,
        dehat: &DMatrix<T>,
        mask: &[bool],
        patches: &mut Vec<T>,
    ) -> Gradient<T> {
        let (n, r) = h.shape();
        let layer = &self.layers[0];
        // Backward through ê = h M (no biases), then through the dead
        // units' pre-activations into the encoder, in a gradient of its own
        // that is added at the end (the pair's kernels overwrite slots).
        let mut g = self.zero_gradient();
        let s = &self.layout.layers()[0];
        let mut dh = DMatrix::<T>::zeros(n, r);
        {
            let Gradient { flat, parts, .. } = &mut g;
            let chunk = &mut flat[s.range()];
            let (weights, _) = chunk.split_at_mut(s.biases.start - s.weight.start);
            let (_, g_dec) = weight_slots(weights, s.weight.len(), parts[0].as_mut());
            let mut none: [T; 0] = [];
            layer.map().decode_backward(
                layer.weights(),
                &Biases::None,
                h,
                dehat,
                g_dec,
                BiasGrad::split(&Biases::None, &mut none),
                Some(&mut dh),
                patches,
                None,
            );
        }
        for (v, &keep) in dh.as_mut_slice().iter_mut().zip(mask) {
            if !keep {
                *v = T::zero();
            }
        }
        {
            let Gradient { flat, parts, .. } = &mut g;
            let chunk = &mut flat[s.range()];
            let (weights, biases) = chunk.split_at_mut(s.biases.start - s.weight.start);
            // A JumpReLU latent's log thresholds follow the biases; the
            // AuxK term does not reach them.
            let (biases, _) = biases.split_at_mut(s.biases.len());
            let gb = BiasGrad::split(layer.biases(), biases);
            let (g_enc, _) = weight_slots(weights, s.weight.len(), parts[0].as_mut());
            layer.map().encode_backward(
                layer.weights(),
                layer.biases(),
                x,
                &dh,
                g_enc,
                gb,
                None,
                patches,
                None,
            );
            if let Some(p) = parts[0].as_ref() {
                for ((w, &e), &dd) in weights.iter_mut().zip(&p.encoder).zip(&p.decoder) {
                    *w = e + dd;
                }
            }
        }
        g
    }

    /// Weight decay `λ₂/2 Σ W²` over the weight matrices (tied `W` once,
    /// biases excluded). With [`LossConfig::unit_l2`], latent unit `i`'s
    /// encoder row and decoder column (its row of a tied `W`) count `w_i`
    /// times.
    pub fn l2_penalty(&self, loss: &LossConfig) -> f64 {
        if loss.l2 == 0.0 {
            return 0.0;
        }
        let sq = |m: &DMatrix<T>| m.iter().map(|x| x.f64() * x.f64()).sum::<f64>();
        let s: f64 = self
            .layers
            .iter()
            .enumerate()
            .map(|(l, layer)| match (self.unit_weights(l, loss), layer) {
                (Some(w), Layer::Tied(t)) => weighted_rows(t.weight(), &w),
                (Some(w), Layer::Dense(d)) => {
                    weighted_rows(d.encoder_weight(), &w) + weighted_cols(d.decoder_weight(), &w)
                }
                (None, Layer::Tied(t)) => sq(t.weight()),
                (None, Layer::Dense(d)) => sq(d.encoder_weight()) + sq(d.decoder_weight()),
            })
            .sum();
        0.5 * loss.l2 * s
    }

    /// The per-unit weights of pair `l`'s decay under `loss`: Some for the
    /// latent pair when [`LossConfig::unit_l2`] is set (and the pair is
    /// dense; conv latent pairs are refused by the loss calls).
    fn unit_weights(&self, l: usize, loss: &LossConfig) -> Option<Vec<f64>> {
        let u = loss.unit_l2?;
        let layer = self.layers.get(l)?;
        (l + 1 == self.layers.len() && layer.conv().is_none()).then(|| u.weights(self.latent_dim()))
    }

    /// Refuses non-uniform L2 on a conv latent pair, whose weight rows are
    /// channels rather than latent units.
    fn check_unit_l2(&self, loss: &LossConfig) -> Result<()> {
        if loss.unit_l2.is_some() && self.layers.last().is_some_and(|l| l.conv().is_some()) {
            return Err(Error::config(
                "unit_l2",
                "non-uniform L2 weighs latent units; it needs a dense latent pair, not a conv one",
            ));
        }
        Ok(())
    }

    /// The per-unit weights of the L1 term under `loss`: the latent pair's
    /// decoder norms for [`L1Weighting::DecoderNorm`] (when `l1 > 0`),
    /// `None` for the plain term.
    fn l1_weights(&self, loss: &LossConfig) -> Option<Vec<f64>> {
        (loss.l1 > 0.0 && loss.l1_weighting == L1Weighting::DecoderNorm)
            .then(|| self.latent_decoder_norms())
    }

    /// The Euclidean norm (in f64) of each decoder direction of the latent
    /// pair: row `i` of a tied `W` (r x d), column `i` of an untied `W_dec`
    /// (d x r), the direction `v = h M` adds per unit of `h_i`.
    pub fn latent_decoder_norms(&self) -> Vec<f64> {
        match self.layers.last().expect("at least one layer") {
            Layer::Tied(t) => t
                .weight()
                .row_iter()
                .map(|r| r.iter().map(|x| x.f64() * x.f64()).sum::<f64>().sqrt())
                .collect(),
            Layer::Dense(d) => d
                .decoder_weight()
                .column_iter()
                .map(|c| c.iter().map(|x| x.f64() * x.f64()).sum::<f64>().sqrt())
                .collect(),
        }
    }

    /// Refuses the decoder-norm weighted L1 on a conv latent pair, whose
    /// kernel rows are channels rather than latent units.
    fn check_decoder_norm_l1(&self, loss: &LossConfig) -> Result<()> {
        if loss.l1_weighting == L1Weighting::DecoderNorm
            && self.layers.last().is_some_and(|l| l.conv().is_some())
        {
            return Err(Error::config(
                "l1_weighting",
                "the decoder-norm weighted L1 weighs latent units by their decoder directions; it needs a dense latent pair, not a conv one",
            ));
        }
        Ok(())
    }

    /// Adds weight decay to `terms` (its `l2` and `total`) and `λ₂ W` to the
    /// weight entries of `grad`. Call once per batch, after summing shards.
    /// Tied parts are left alone: decay acts on `W`, not on one of its uses.
    pub fn l2_penalty_and_grad(
        &self,
        loss: &LossConfig,
        terms: &mut LossTerms,
        grad: &mut Gradient<T>,
    ) -> Result<()> {
        loss.validate()?;
        if **grad.layout_arc() != *self.layout {
            return Err(Error::Shape(
                "gradient belongs to a model with another layout".into(),
            ));
        }
        if loss.l2 == 0.0 {
            return Ok(());
        }
        self.check_unit_l2(loss)?;
        let p = self.l2_penalty(loss);
        terms.l2 += p;
        terms.total += p;
        let g = grad.as_mut_slice();
        // Every stored matrix sits row-major in its slot (see `params`).
        // `unit(i, j)` is the per-unit factor of entry (i, j): 1 when
        // uniform, else the weight of the entry's latent unit.
        let decay = |g: &mut [T], m: &DMatrix<T>, unit: &dyn Fn(usize, usize) -> f64| {
            let (rows, cols) = m.shape();
            for i in 0..rows {
                for j in 0..cols {
                    g[i * cols + j] += T::of(loss.l2 * unit(i, j)) * m[(i, j)];
                }
            }
        };
        for (l, (layer, s)) in self.layers.iter().zip(self.layout.layers()).enumerate() {
            let w = self.unit_weights(l, loss);
            match &w {
                None => decay(&mut g[s.weight.clone()], layer.encoder_weight(), &|_, _| {
                    1.0
                }),
                // Encoder rows (and a tied W's rows) are the latent units.
                Some(w) => decay(&mut g[s.weight.clone()], layer.encoder_weight(), &|i, _| {
                    w[i]
                }),
            }
            if let (Layer::Dense(dense), Some(range)) = (layer, &s.decoder_weight) {
                match &w {
                    None => decay(&mut g[range.clone()], dense.decoder_weight(), &|_, _| 1.0),
                    // Decoder columns are the latent units.
                    Some(w) => decay(&mut g[range.clone()], dense.decoder_weight(), &|_, j| w[j]),
                }
            }
        }
        finite(terms.total, "loss with weight decay")?;
        Ok(())
    }

    /// The full objective of one batch (data terms over all its rows plus
    /// weight decay) and its gradient: what L-BFGS and gradient checks use.
    pub fn objective_and_grad(
        &self,
        x: &DMatrix<T>,
        target: &DMatrix<T>,
        loss: &LossConfig,
    ) -> Result<(LossTerms, Gradient<T>)> {
        let norm = Normalizer::new(x.nrows())?;
        let (mut t, mut g) = self.loss_and_grad(x, target, loss, norm)?;
        self.l2_penalty_and_grad(loss, &mut t, &mut g)?;
        Ok((t, g))
    }

    /// Runs the encoder (and the decoder when `decode`) filling `ws`, the
    /// BatchTopK kinds as `pass` says. Inputs are checked by the callers.
    pub(crate) fn forward(&self, x: &DMatrix<T>, ws: &mut Workspace<T>, decode: bool, pass: Pass) {
        let n = x.nrows();
        ws.size_encoder(n, &self.spec.dims);
        for (l, layer) in self.layers.iter().enumerate() {
            let (before, rest) = ws.a.split_at_mut(l);
            let input = if l == 0 { x } else { &before[l - 1] };
            layer.encode_into(input, &mut ws.z[l], &mut ws.patches);
            self.map_hidden(l, &ws.z[l], &mut rest[0], pass);
        }
        if decode {
            let code = ws.a.pop().expect("at least one layer");
            self.decode_from(&code, ws, pass);
            ws.a.push(code);
        }
    }

    /// Runs the decoder from code `h`, filling `ws.v` and `ws.u`; pair
    /// `l >= 1` decodes through the activation of pair `l - 1`'s hidden
    /// representation, with its threshold at evaluation.
    fn decode_from(&self, h: &DMatrix<T>, ws: &mut Workspace<T>, pass: Pass) {
        let pairs = self.layers.len();
        ws.size_decoder(h.nrows(), &self.spec.dims);
        for l in (0..pairs).rev() {
            let (head, tail) = ws.u.split_at_mut(l + 1);
            let input = if l + 1 == pairs { h } else { &tail[0] };
            let layer = &self.layers[l];
            layer.map().decode_into(
                layer.weights(),
                layer.biases(),
                input,
                &mut ws.v[l],
                &mut ws.patches,
                self.decodes_sparse(l).then_some(&mut ws.sparse),
            );
            if l == 0 {
                self.spec
                    .decoder_activation(0)
                    .map_into(&ws.v[0], &mut head[0]);
            } else {
                self.map_hidden(l - 1, &ws.v[l], &mut head[l], pass);
            }
        }
    }

    /// Whether pair `l`'s decoder product runs over the nonzero entries of
    /// its code only (see [`super::sparse_decode`]): a dense pair whose
    /// code, the activation `hidden[l]` (the latent code for the last pair,
    /// the decoder-side representation for the others), is a ReLU TopK or
    /// BatchTopK, as the spec's [`DecodePath`](super::DecodePath) chooses.
    fn decodes_sparse(&self, l: usize) -> bool {
        self.layers[l].conv().is_none()
            && sparse_decode::decodes_sparse(
                self.spec.decode_path,
                self.spec.hidden[l],
                self.spec.dims[l + 1],
            )
    }

    /// Whether pair `l`'s encoder weight gradient (and `∂L/∂x` below it)
    /// runs over the nonzero entries of `∂L/∂z` only (see
    /// [`super::sparse_decode`]): the latent pair, when it decodes
    /// sparsely, whose `∂L/∂z` then has the code's sparsity.
    fn encodes_sparse(&self, l: usize) -> bool {
        l + 1 == self.layers.len() && self.decodes_sparse(l)
    }

    /// Backward pass over the caches of [`Autoencoder::forward`], overwriting
    /// every entry of `grad` (but the tied weight slots when `tied` defers
    /// them): the reconstruction term's gradient, then the decoders, the
    /// latent code's own terms and the encoders, in that order (each step
    /// adds to slots the one before wrote).
    #[allow(clippy::too_many_arguments)]
    fn backward(
        &self,
        x: &DMatrix<T>,
        target: &DMatrix<T>,
        cfg: &LossConfig,
        norm: Normalizer,
        ws: &mut Workspace<T>,
        grad: &mut Gradient<T>,
        tied: TiedSlots,
    ) -> Result<LossTerms> {
        ws.size_backward(x.nrows(), &self.spec.dims);
        let recon = loss::reconstruction(
            cfg.reconstruction,
            self.spec.output,
            &ws.v[0],
            &ws.u[0],
            target,
            norm,
            Some(&mut ws.dv[0]),
        );
        let mut grads = PairGrads::new(&self.layout, grad);
        self.decoders_backward(ws, &mut grads);
        let p = self.latent_terms_backward(target, cfg, norm, ws, &mut grads)?;
        let step_l0 = self.encoders_backward(x, cfg, norm, ws, &mut grads, tied);
        terms(recon, p.l1, p.kl, p.matryoshka, step_l0.unwrap_or(p.l0))
    }

    /// The decoders' part of [`Autoencoder::backward`], outermost first (the
    /// reverse of their forward order), from `∂L/∂v_0` in `ws.dv[0]`: each
    /// pair's decoder weight and bias slots are overwritten, `∂L/∂v` of the
    /// pair inside it filled, and the code's `∂L/∂h` written to the latent
    /// slot of `ws.da`.
    fn decoders_backward(&self, ws: &mut Workspace<T>, grads: &mut PairGrads<'_, T>) {
        let pairs = self.layers.len();
        let Workspace {
            a,
            v,
            u,
            dv,
            da,
            patches,
            sparse,
            ..
        } = ws;
        for l in 0..pairs {
            let layer = &self.layers[l];
            let s = &self.layout.layers()[l];
            let chunk = &mut *grads.chunks[l];
            let (weights, biases) = chunk.split_at_mut(s.biases.start - s.weight.start);
            let (biases, _) = biases.split_at_mut(s.biases.len());
            let gb = BiasGrad::split(layer.biases(), biases);
            let (dv_head, dv_tail) = dv.split_at_mut(l + 1);
            let (input, dh) = if l + 1 == pairs {
                (&a[pairs - 1], &mut da[pairs - 1])
            } else {
                (&u[l + 1], &mut dv_tail[0])
            };
            let (_, g_dec) = weight_slots(weights, s.weight.len(), grads.parts[l].as_mut());
            // Sparse: ∂L/∂h only where h ≠ 0; the code's activation zeroes
            // the rest when the encoder pass (or the decoder-side
            // activation below) scales by its derivative.
            layer.map().decode_backward(
                layer.weights(),
                layer.biases(),
                input,
                &dv_head[l],
                g_dec,
                gb,
                Some(dh),
                patches,
                self.decodes_sparse(l).then_some(&mut *sparse),
            );
            if l + 1 < pairs {
                self.spec.decoder_activation(l + 1).scale_by_derivative(
                    &v[l + 1],
                    &u[l + 1],
                    &mut dv_tail[0],
                );
            }
        }
    }

    /// The latent code's own terms in [`Autoencoder::backward`], between the
    /// decoders and the encoders: the Matryoshka levels, the L1 (plain or
    /// weighted by the decoder norms) and KL penalties, and the JumpReLU
    /// tanh penalty. Their gradients with respect to the code join the
    /// reconstruction's in the latent slot of `ws.da`; the parts through
    /// the decoder (the Matryoshka levels, the decoder norms) go into the
    /// latent pair's decoder slot (a tied pair's decoder part) before the
    /// encoders run, so a tied weight's sum includes them. The JumpReLU
    /// step penalty is the encoders' (it acts on the pre-activations).
    fn latent_terms_backward(
        &self,
        target: &DMatrix<T>,
        cfg: &LossConfig,
        norm: Normalizer,
        ws: &mut Workspace<T>,
        grads: &mut PairGrads<'_, T>,
    ) -> Result<LatentTerms> {
        let Workspace { a, da, patches, .. } = ws;
        let latent = self.layers.len() - 1;
        let mut matryoshka = 0.0;
        if let Some(mt) = &cfg.matryoshka {
            let s = &self.layout.layers()[latent];
            let chunk = &mut *grads.chunks[latent];
            let (w, biases) = chunk.split_at_mut(s.biases.start - s.weight.start);
            let (biases, _) = biases.split_at_mut(s.biases.len());
            let (_, g_dec) = weight_slots(w, s.weight.len(), grads.parts[latent].as_mut());
            let grad = PrefixGrad {
                g_dec,
                biases,
                dh: &mut da[latent],
            };
            let kind = cfg.reconstruction;
            let h = &a[latent];
            matryoshka = self.matryoshka_term(mt, kind, h, target, norm, Some(grad), patches)?;
        }
        let weights = self.l1_weights(cfg);
        if let Some(norms) = &weights {
            let s = &self.layout.layers()[latent];
            let chunk = &mut *grads.chunks[latent];
            let (w, _) = chunk.split_at_mut(s.biases.start - s.weight.start);
            let (_, g_dec) = weight_slots(w, s.weight.len(), grads.parts[latent].as_mut());
            let c = cfg.l1 / norm.samples() as f64;
            add_decoder_norm_grad(&self.layers[latent], &a[latent], c, norms, g_dec);
        }
        let (l1, kl) = loss::latent_penalties(
            cfg,
            &a[latent],
            weights.as_deref(),
            norm,
            Some(&mut da[latent]),
        )?;
        // The JumpReLU tanh penalty: its gradient with respect to the code
        // joins the others (and goes through the JumpReLU in the encoder
        // pass), the part through the decoder norms goes into the decoder
        // slot.
        let mut l0 = 0.0;
        if cfg.l0 > 0.0
            && let L0Mode::Tanh { scale } = cfg.l0_mode
        {
            let norms = self.latent_decoder_norms();
            let (term, by_norm) = jump_relu::tanh_penalty(
                &a[latent],
                &norms,
                scale,
                cfg.l0,
                norm,
                Some(&mut da[latent]),
            );
            l0 = term;
            let s = &self.layout.layers()[latent];
            let chunk = &mut *grads.chunks[latent];
            let (w, _) = chunk.split_at_mut(s.biases.start - s.weight.start);
            let (_, g_dec) = weight_slots(w, s.weight.len(), grads.parts[latent].as_mut());
            add_norm_grad(&self.layers[latent], &by_norm, &norms, g_dec);
        }
        Ok(LatentTerms {
            matryoshka,
            l1,
            kl,
            l0,
        })
    }

    /// The encoders' part of [`Autoencoder::backward`], innermost first,
    /// from `∂L/∂a` of the code in `ws.da`: each pair's activation turns its
    /// slot of `ws.da` into `∂L/∂z` in place, then the encoder weight slot
    /// is overwritten, its bias slots added to, and `∂L/∂a` of the pair
    /// outside it filled; a tied weight's flat slot gets the sum of its two
    /// parts when `tied` says so. Returns the JumpReLU step penalty when it
    /// is the L0 term (`None` otherwise).
    fn encoders_backward(
        &self,
        x: &DMatrix<T>,
        cfg: &LossConfig,
        norm: Normalizer,
        ws: &mut Workspace<T>,
        grads: &mut PairGrads<'_, T>,
        tied: TiedSlots,
    ) -> Option<f64> {
        let Workspace {
            z,
            a,
            da,
            patches,
            sparse,
            ..
        } = ws;
        let mut step_l0 = None;
        for l in (0..self.layers.len()).rev() {
            let layer = &self.layers[l];
            let s = &self.layout.layers()[l];
            let (da_head, da_tail) = da.split_at_mut(l);
            let dz = &mut da_tail[0];
            let chunk = &mut *grads.chunks[l];
            let (weights, biases) = chunk.split_at_mut(s.biases.start - s.weight.start);
            // A JumpReLU latent's log thresholds follow its biases (empty
            // for every other pair).
            let (biases, g_log) = biases.split_at_mut(s.biases.len());
            if let Activation::JumpRelu { bandwidth, .. } = self.spec.hidden[l] {
                // SAELens's `JumpReLU.backward` (overwriting the slot), then
                // the `step` penalty's `Step.backward` (added).
                let theta = jump_relu::thresholds(&self.log_threshold);
                jump_relu::backward(&z[l], &theta, bandwidth, dz, g_log);
                if cfg.l0 > 0.0 && cfg.l0_mode.is_step() {
                    step_l0 = Some(jump_relu::step_penalty(
                        &z[l],
                        &theta,
                        bandwidth,
                        cfg.l0,
                        norm,
                        Some(g_log),
                    ));
                }
            } else {
                self.spec.hidden[l].scale_by_derivative(&z[l], &a[l], dz);
            }
            let gb = BiasGrad::split(layer.biases(), biases);
            let input = if l == 0 { x } else { &a[l - 1] };
            let dx = if l == 0 {
                None
            } else {
                Some(&mut da_head[l - 1])
            };
            let (g_enc, _) = weight_slots(weights, s.weight.len(), grads.parts[l].as_mut());
            layer.map().encode_backward(
                layer.weights(),
                layer.biases(),
                input,
                dz,
                g_enc,
                gb,
                dx,
                patches,
                self.encodes_sparse(l).then_some(&mut *sparse),
            );
            if let Some(p) = grads.parts[l].as_ref()
                && tied == TiedSlots::Summed
            {
                // The tied weight's gradient is the sum of its two uses.
                sum_slices(weights, &p.encoder, &p.decoder);
            }
        }
        step_l0
    }

    /// The JumpReLU sparsity term (see [`super::jump_relu`]) of a forward
    /// pass's latent pre-activations `z` and code `a`, without a gradient:
    /// 0 unless `l0 > 0` (which [`LossConfig::check_model`] allows only on
    /// a JumpReLU latent).
    fn l0_value(&self, cfg: &LossConfig, z: &DMatrix<T>, a: &DMatrix<T>, norm: Normalizer) -> f64 {
        let Activation::JumpRelu { bandwidth, .. } = self.latent_activation() else {
            return 0.0;
        };
        if cfg.l0 <= 0.0 {
            return 0.0;
        }
        let theta = jump_relu::thresholds(&self.log_threshold);
        match cfg.l0_mode {
            L0Mode::Step => jump_relu::step_penalty(z, &theta, bandwidth, cfg.l0, norm, None),
            L0Mode::Tanh { scale } => {
                let norms = self.latent_decoder_norms();
                jump_relu::tanh_penalty(a, &norms, scale, cfg.l0, norm, None).0
            }
        }
    }

    /// The [`Matryoshka`] term of the code `h` (the forward pass of the
    /// call's rows; the single pair's, as [`Autoencoder::check_loss`]
    /// ensures) against `target`: for each inner prefix `m`, the
    /// reconstruction term `kind` of the code with its units from `m` on
    /// set to 0. With `grad`, each level's gradient is **added** to the
    /// decoder weight slot, the bias slots (after the main decoder pass
    /// wrote them, before the encoder pass adds to them) and `∂/∂h`.
    #[allow(clippy::too_many_arguments)]
    fn matryoshka_term(
        &self,
        mt: &Matryoshka,
        kind: loss::Reconstruction,
        h: &DMatrix<T>,
        target: &DMatrix<T>,
        norm: Normalizer,
        mut grad: Option<PrefixGrad<'_, T>>,
        patches: &mut Vec<T>,
    ) -> Result<f64> {
        let layer = &self.layers[0];
        let (n, r) = h.shape();
        let d = target.ncols();
        let output = self.spec.decoder_activation(0);
        let mut code = DMatrix::<T>::zeros(n, r);
        let mut v = DMatrix::<T>::zeros(n, d);
        let mut u = DMatrix::<T>::zeros(n, d);
        let mut dv = DMatrix::<T>::zeros(n, d);
        let mut dcode = DMatrix::<T>::zeros(n, r);
        let (g_len, b_len) = grad
            .as_ref()
            .map_or((0, 0), |g| (g.g_dec.len(), g.biases.len()));
        let mut g_dec = vec![T::zero(); g_len];
        let mut g_b = vec![T::zero(); b_len];
        let mut total = 0.0f64;
        for &m in mt.prefixes() {
            // Column-major: the first m units are the first m n entries.
            let kept = m * n;
            code.as_mut_slice()[..kept].copy_from_slice(&h.as_slice()[..kept]);
            code.as_mut_slice()[kept..].fill(T::zero());
            let biases = prefix_biases(layer.biases(), m);
            layer
                .map()
                .decode_into(layer.weights(), &biases, &code, &mut v, patches, None);
            output.map_into(&v, &mut u);
            let dv_out = grad.is_some().then_some(&mut dv);
            total += loss::reconstruction(kind, self.spec.output, &v, &u, target, norm, dv_out);
            let Some(g) = grad.as_mut() else {
                continue;
            };
            // The pair's kernels overwrite their slots: each level goes
            // through scratch and is added.
            layer.map().decode_backward(
                layer.weights(),
                &biases,
                &code,
                &dv,
                &mut g_dec,
                BiasGrad::split(&biases, &mut g_b),
                Some(&mut dcode),
                patches,
                None,
            );
            add_slice(&mut *g.g_dec, &g_dec);
            if let Biases::Mirrored { .. } = biases {
                // Units from m on do not enter this level's decoder.
                g_b[m..].fill(T::zero());
            }
            add_slice(&mut *g.biases, &g_b);
            add_slice(&mut g.dh.as_mut_slice()[..kept], &dcode.as_slice()[..kept]);
        }
        finite(total, "Matryoshka term")
    }

    /// Refuses a [`Matryoshka`] term on a model it does not fit: it needs
    /// a single dense pair and prefixes smaller than the latent width.
    fn check_matryoshka(&self, loss: &LossConfig) -> Result<()> {
        let Some(mt) = &loss.matryoshka else {
            return Ok(());
        };
        if self.layers.len() != 1 || self.spec.conv.is_some() {
            return Err(Error::config(
                "matryoshka",
                format!(
                    "the Matryoshka term decodes prefixes of the code into data space; it needs a single dense layer pair, the model has {} pairs{}",
                    self.layers.len(),
                    if self.spec.conv.is_some() {
                        ", conv"
                    } else {
                        ""
                    }
                ),
            ));
        }
        let r = self.latent_dim();
        if let Some(&m) = mt.prefixes().last()
            && m >= r
        {
            return Err(Error::config(
                "matryoshka.prefixes",
                format!(
                    "every prefix must be smaller than the {r} latents (the full code is the main reconstruction term), got {m}"
                ),
            ));
        }
        Ok(())
    }

    fn check_call(
        &self,
        x: &DMatrix<T>,
        target: &DMatrix<T>,
        loss: &LossConfig,
        norm: Normalizer,
    ) -> Result<()> {
        self.check_loss(loss)?;
        check_input(x, self.input_dim(), "input")?;
        if target.shape() != x.shape() {
            return Err(Error::Shape(format!(
                "target is {}x{}, input is {}x{}",
                target.nrows(),
                target.ncols(),
                x.nrows(),
                x.ncols()
            )));
        }
        if !std::ptr::eq(target, x) {
            // An autoencoder's target is usually its input, checked above.
            check_finite(target, "target")?;
        }
        if loss.reconstruction == loss::Reconstruction::BinaryCrossEntropy
            && let Some(k) = target.iter().position(|&t| t < T::zero() || t > T::one())
        {
            return Err(Error::InvalidData(format!(
                "binary cross-entropy needs targets in [0, 1]; entry ({}, {}) is {}",
                k % target.nrows(),
                k / target.nrows(),
                target[k]
            )));
        }
        if norm.samples() < x.nrows() {
            return Err(Error::config(
                "normalizer",
                format!(
                    "{} samples cannot normalise a call on {} rows; pass the whole batch size",
                    norm.samples(),
                    x.nrows()
                ),
            ));
        }
        Ok(())
    }

    /// Checks that the objective `loss` fits this model: its output and
    /// latent activations ([`LossConfig::check_model`]), the terms that
    /// need a dense latent pair (non-uniform L2, the decoder-norm weighted
    /// L1) and the Matryoshka term's single pair and prefix sizes. Every
    /// loss call checks this; a trainer checks it before any work.
    pub fn check_loss(&self, loss: &LossConfig) -> Result<()> {
        loss.check_model(self.spec.output, self.latent_activation())?;
        self.check_unit_l2(loss)?;
        self.check_decoder_norm_l1(loss)?;
        self.check_matryoshka(loss)
    }

    /// The activation of the latent code.
    pub fn latent_activation(&self) -> Activation {
        *self.spec.hidden.last().expect("at least one layer")
    }

    fn check_len(&self, len: usize, what: &str) -> Result<()> {
        if len != self.n_params() {
            return Err(Error::Shape(format!(
                "{what} has {len} entries, the model has {} parameters",
                self.n_params()
            )));
        }
        Ok(())
    }
}

/// The gradient slots of a pair's encoder and decoder weights: the two parts
/// of a tied weight, or the untied weights' own slots in `weights` (the
/// encoder's first `encoder_len` entries, then the decoder's).
fn weight_slots<'a, T>(
    weights: &'a mut [T],
    encoder_len: usize,
    parts: Option<&'a mut TiedParts<T>>,
) -> (&'a mut [T], &'a mut [T]) {
    match parts {
        Some(p) => (&mut p.encoder, &mut p.decoder),
        None => weights.split_at_mut(encoder_len),
    }
}

/// The flat gradient cut into one chunk per pair (its weights, biases and,
/// for a JumpReLU latent, log thresholds, in the order of
/// [`super::params`]) beside the tied parts: the slots the pieces of
/// [`Autoencoder::backward`] write, cut once per call.
struct PairGrads<'g, T: Real> {
    chunks: Vec<&'g mut [T]>,
    parts: &'g mut [Option<TiedParts<T>>],
}

impl<'g, T: Real> PairGrads<'g, T> {
    fn new(layout: &ParamLayout, grad: &'g mut Gradient<T>) -> Self {
        let Gradient { flat, parts, .. } = grad;
        let mut chunks: Vec<&'g mut [T]> = Vec::with_capacity(parts.len());
        let mut rest: &'g mut [T] = flat;
        for s in layout.layers() {
            let (head, tail) = std::mem::take(&mut rest).split_at_mut(s.range().len());
            chunks.push(head);
            rest = tail;
        }
        PairGrads {
            chunks,
            parts: parts.as_mut_slice(),
        }
    }
}

/// The latent code's own terms of one backward pass (see
/// [`Autoencoder::backward`]); `l0` is the JumpReLU tanh penalty, 0 when
/// that is not the L0 term.
struct LatentTerms {
    matryoshka: f64,
    l1: f64,
    kl: f64,
    l0: f64,
}

/// Where a [`Matryoshka`] term's gradient is added: the latent pair's
/// decoder weight slot (a tied pair's decoder part), its bias slots, and
/// `∂/∂h` of the code.
struct PrefixGrad<'a, T: Real> {
    g_dec: &'a mut [T],
    biases: &'a mut [T],
    dh: &'a mut DMatrix<T>,
}

/// The biases a prefix of the first `m` units decodes with: the pair's,
/// but for the mirrored mode only the prefix's own `b_enc` entries (the
/// others are 0), so `(h − b_enc) M` runs over the prefix alone.
fn prefix_biases<T: Real>(biases: &Biases<T>, m: usize) -> Biases<T> {
    match biases {
        Biases::Mirrored { enc } => {
            let mut enc = enc.clone();
            for v in enc.iter_mut().skip(m) {
                *v = T::zero();
            }
            Biases::Mirrored { enc }
        }
        other => other.clone(),
    }
}

/// Adds the decoder-norm weighted L1's gradient through the norms to the
/// latent pair's decoder weight slot `g_dec`: `c (Σ_n |h_ni|) d_i / ‖d_i‖`
/// for each decoder direction `d_i` (`c = λ₁ / N`; see
/// [`L1Weighting::DecoderNorm`]), nothing where `‖d_i‖ = 0`. `g_dec` is the
/// slot of the weight as stored: a tied `W` (r x d) or an untied `W_dec`
/// (d x r), row-major.
fn add_decoder_norm_grad<T: Real>(
    layer: &Layer<T>,
    h: &DMatrix<T>,
    c: f64,
    norms: &[f64],
    g_dec: &mut [T],
) {
    let n = h.nrows();
    let by_norm: Vec<f64> = (0..norms.len())
        .map(|i| c * loss::abs_sum(&h.as_slice()[i * n..(i + 1) * n]))
        .collect();
    add_norm_grad(layer, &by_norm, norms, g_dec);
}

/// Adds `by_norm[i] · d_i / ‖d_i‖` to the latent pair's decoder weight slot
/// `g_dec` for each decoder direction `d_i` (`norms[i] = ‖d_i‖`), nothing
/// where the norm or `by_norm[i]` is 0: the gradient of a term through the
/// decoder norms, `by_norm[i]` its derivative with respect to `‖d_i‖`.
/// `g_dec` is the slot of the weight as stored: a tied `W` (r x d) or an
/// untied `W_dec` (d x r), row-major.
fn add_norm_grad<T: Real>(layer: &Layer<T>, by_norm: &[f64], norms: &[f64], g_dec: &mut [T]) {
    for (i, (&norm, &dn)) in norms.iter().zip(by_norm).enumerate() {
        if norm == 0.0 || dn == 0.0 {
            continue;
        }
        let scale = dn / norm;
        match layer {
            // Direction i is row i of W; the slot is W's, r x d.
            Layer::Tied(t) => {
                let w = t.weight();
                let d = w.ncols();
                for j in 0..d {
                    g_dec[i * d + j] += T::of(scale * w[(i, j)].f64());
                }
            }
            // Direction i is column i of W_dec; the slot is W_dec's, d x r.
            Layer::Dense(dense) => {
                let w = dense.decoder_weight();
                let (d, r) = w.shape();
                for j in 0..d {
                    g_dec[j * r + i] += T::of(scale * w[(j, i)].f64());
                }
            }
        }
    }
}

/// `Σ_i w_i ‖row i‖²` in f64.
fn weighted_rows<T: Real>(m: &DMatrix<T>, w: &[f64]) -> f64 {
    m.row_iter()
        .zip(w)
        .map(|(r, &wi)| wi * r.iter().map(|x| x.f64() * x.f64()).sum::<f64>())
        .sum()
}

/// `Σ_j w_j ‖column j‖²` in f64.
fn weighted_cols<T: Real>(m: &DMatrix<T>, w: &[f64]) -> f64 {
    m.column_iter()
        .zip(w)
        .map(|(c, &wj)| wj * c.iter().map(|x| x.f64() * x.f64()).sum::<f64>())
        .sum()
}

/// Errors when `grad` has a non-finite entry, naming the objective `t` it
/// came with: the last step of every public loss-and-gradient call, so an
/// `Ok` never carries a NaN. (The batch engine skips it per shard and checks
/// the summed gradient once, through its norms.)
fn finite_gradient<T: Real>(grad: &Gradient<T>, t: &LossTerms) -> Result<()> {
    if grad.is_finite() {
        return Ok(());
    }
    Err(Error::Numerical(format!(
        "gradient has non-finite entries (loss {:.6e})",
        t.total
    )))
}

fn finite(v: f64, what: &str) -> Result<f64> {
    if v.is_finite() {
        Ok(v)
    } else {
        Err(Error::Numerical(format!("{what} is {v}")))
    }
}

fn terms(reconstruction: f64, l1: f64, kl: f64, matryoshka: f64, l0: f64) -> Result<LossTerms> {
    finite(reconstruction, "reconstruction loss")?;
    finite(l1, "L1 sparsity term")?;
    finite(kl, "KL sparsity term")?;
    finite(matryoshka, "Matryoshka term")?;
    finite(l0, "JumpReLU L0 term")?;
    Ok(LossTerms {
        reconstruction,
        l1,
        kl,
        l2: 0.0,
        auxk: 0.0,
        matryoshka,
        l0,
        total: reconstruction + l1 + kl + matryoshka + l0,
    })
}
