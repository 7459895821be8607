//! The sharded, deterministic loss-and-gradient engine.
//!
//! A batch (a list of row indices) is cut into shards of a fixed size. Shards
//! are grouped into at most [`MAX_BLOCKS`] blocks, a number that depends only
//! on the shard count; each block sums its shards in order, blocks run in
//! parallel, and block results are then added entry by entry in block order
//! (one parallel pass over entry chunks). Every
//! floating-point operation therefore happens in the same order whatever the
//! rayon thread count, so a seed fixes the weights bit for bit.
//!
//! The AuxK term's denominator, the spread of the whole batch's residual,
//! is computed before the shards' gradient passes (a forward pass of every
//! shard, merged in block order) and handed to each shard as a constant,
//! so the shards still add up to the batch (see [`crate::model::AuxK`]).

use super::corruption::Corruption;
use crate::error::{Error, Result};
use crate::model::{
    Autoencoder, AuxKLoss, GradNorms, Gradient, LossConfig, LossTerms, Normalizer, ResidualSpread,
    TiedSlots, Workspace, can_defer_tied, ensure_shape,
};
use crate::real::Real;
use nalgebra::DMatrix;
use rayon::prelude::*;

/// Upper bound on the blocks (parallel tasks) of one batch. It bounds the
/// memory of a full-batch pass to this many gradients, and gives enough
/// tasks to keep 16 threads busy.
pub const MAX_BLOCKS: usize = 16;

/// Per-block buffers, reused across batches so the steady state allocates
/// nothing.
struct Block<T: Real> {
    x: DMatrix<T>,
    /// The corrupted copy of `x` when denoising (empty otherwise).
    noisy: DMatrix<T>,
    ws: Workspace<T>,
    grad: Gradient<T>,
    scratch: Gradient<T>,
    /// Per latent: whether it fired (was nonzero) on a row of this block.
    fired: Vec<bool>,
    /// Per pair: the smallest value a BatchTopK code kept on this block.
    kept: Vec<Option<f64>>,
}

/// What a training batch may add to the plain reconstruction objective.
#[derive(Default)]
pub struct BatchExtras<'a> {
    /// Denoising: the corruption and the epoch's seed (see
    /// [`Corruption::apply`]); the model encodes the corrupted copy and is
    /// scored against the clean sample.
    pub noise: Option<(Corruption, u64)>,
    /// The AuxK term (see [`crate::model::AuxK`]). Its denominator, the
    /// spread of the whole batch's residual, is computed by the engine
    /// (a forward pass of every shard before the gradient passes) and
    /// handed to every shard, unless `residual_spread` is already given.
    pub aux: Option<AuxKLoss<'a>>,
    /// Set to whether each latent was nonzero on any row of the batch
    /// (resized to the latent width): what dead-latent tracking needs.
    /// Firing is an OR over rows, so it does not depend on shard grouping.
    pub fired: Option<&'a mut Vec<bool>>,
    /// Set to, per pair, the smallest value its BatchTopK code kept on the
    /// batch's rows ([`Activation::smallest_kept`](crate::model::Activation::smallest_kept)
    /// over every shard's selection; `None` for the other kinds or when
    /// nothing was kept): what the running inference threshold needs (see
    /// [`Autoencoder::batch_top_k_thresholds`]). A minimum over shards,
    /// so it does not depend on shard grouping either.
    pub smallest_kept: Option<&'a mut Vec<Option<f64>>>,
    /// Multiplies the objective's L1 coefficient, and the JumpReLU L0
    /// coefficient, for this batch (the sparsity warm-up, see
    /// [`crate::train::TrainConfig::l1_warmup_steps`]); `None` keeps them.
    pub l1_scale: Option<f64>,
}

/// Computes batch objectives and gradients shard by shard, in parallel,
/// with a thread-count independent summation order.
pub struct ShardEngine<T: Real> {
    shard_size: usize,
    blocks: Vec<Block<T>>,
    norms: GradNorms,
}

/// How `shards` shards are grouped: `(blocks, shards_per_block)`.
fn blocking(shards: usize) -> (usize, usize) {
    let per = shards.div_ceil(MAX_BLOCKS).max(1);
    (shards.div_ceil(per), per)
}

/// Samples per block of the transposing gather: 16 f32 values fill one
/// 64-byte cache line of an output column.
const GATHER_TILE: usize = 16;

/// Where a batch's samples are read from.
#[derive(Clone, Copy)]
enum Source<'a, T: Real> {
    /// `n x d`, one row per sample (column-major, so a sample is strided).
    Rows(&'a DMatrix<T>),
    /// `d x n`, one column per sample: each sample is contiguous, so
    /// gathering a shuffled batch reads whole cache lines.
    Columns(&'a DMatrix<T>),
}

impl<T: Real> Source<'_, T> {
    fn samples(&self) -> usize {
        match self {
            Source::Rows(x) => x.nrows(),
            Source::Columns(xt) => xt.ncols(),
        }
    }

    /// Copies samples `rows` into `out` (resized to `rows.len() x d`).
    fn gather(&self, rows: &[usize], out: &mut DMatrix<T>) {
        let (m, d) = match self {
            Source::Rows(x) => (rows.len(), x.ncols()),
            Source::Columns(xt) => (rows.len(), xt.nrows()),
        };
        ensure_shape(out, m, d);
        let dst = out.as_mut_slice();
        match self {
            Source::Rows(x) => {
                let n = x.nrows();
                let src = x.as_slice();
                for j in 0..d {
                    let col = &src[j * n..(j + 1) * n];
                    for (o, &i) in dst[j * m..(j + 1) * m].iter_mut().zip(rows) {
                        *o = col[i];
                    }
                }
            }
            Source::Columns(xt) => gather_columns(xt.as_slice(), d, rows, dst),
        }
    }
}

multiversion! {
    /// Copies samples `rows` of `src` (one contiguous sample of `d` values
    /// each) into the column-major `rows.len() x d` matrix `dst`: a blocked
    /// transpose, `GATHER_TILE` samples at a time, so every write fills
    /// whole cache lines of an output column while each sample is still
    /// read front to back.
    fn gather_columns<T: Real>(src: &[T], d: usize, rows: &[usize], dst: &mut [T]) {
        let m = rows.len();
        for (b, block) in rows.chunks(GATHER_TILE).enumerate() {
            let r0 = b * GATHER_TILE;
            let mut samples: [&[T]; GATHER_TILE] = [&[]; GATHER_TILE];
            for (s, &i) in samples.iter_mut().zip(block) {
                *s = &src[i * d..(i + 1) * d];
            }
            let samples = &samples[..block.len()];
            // The next tile's samples, fetched into cache while this tile is
            // copied: shuffled samples are scattered over a data set larger
            // than the caches, so without this every line is a miss the
            // copy waits for.
            let mut next: [&[T]; GATHER_TILE] = [&[]; GATHER_TILE];
            let ahead = rows.get(r0 + GATHER_TILE..).unwrap_or(&[]);
            for (s, &i) in next.iter_mut().zip(ahead) {
                *s = &src[i * d..(i + 1) * d];
            }
            let next = &next[..ahead.len().min(GATHER_TILE)];
            if samples.len() == GATHER_TILE {
                // Full tiles go through a 16 x 16 register block:
                // contiguous loads from each sample, contiguous stores into
                // each column.
                let full = d - d % GATHER_TILE;
                for j0 in (0..full).step_by(GATHER_TILE) {
                    for s in next {
                        prefetch(&s[j0..j0 + GATHER_TILE]);
                    }
                    let mut tile = [[T::zero(); GATHER_TILE]; GATHER_TILE];
                    for (row, s) in tile.iter_mut().zip(samples) {
                        row.copy_from_slice(&s[j0..j0 + GATHER_TILE]);
                    }
                    for jj in 0..GATHER_TILE {
                        let j = j0 + jj;
                        let out = &mut dst[j * m + r0..j * m + r0 + GATHER_TILE];
                        for (o, row) in out.iter_mut().zip(&tile) {
                            *o = row[jj];
                        }
                    }
                }
                for j in full..d {
                    let out = &mut dst[j * m + r0..j * m + r0 + GATHER_TILE];
                    for (o, s) in out.iter_mut().zip(samples) {
                        *o = s[j];
                    }
                }
                continue;
            }
            for j in 0..d {
                let out = &mut dst[j * m + r0..j * m + r0 + block.len()];
                for (o, s) in out.iter_mut().zip(samples) {
                    *o = s[j];
                }
            }
        }
    }
}

/// Hints that `v` will be read soon: every cache line it touches is
/// requested into all cache levels. A hint only: it never faults and
/// changes no value.
#[inline(always)]
fn prefetch<T>(v: &[T]) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        const LINE: usize = 64;
        let bytes = std::mem::size_of_val(v);
        let p = v.as_ptr().cast::<i8>();
        for at in (0..bytes).step_by(LINE) {
            // SAFETY: `p + at` lies inside `v`; a prefetch reads nothing
            // the program sees and cannot fault.
            unsafe { _mm_prefetch::<_MM_HINT_T0>(p.add(at)) };
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = v;
}

impl<T: Real> ShardEngine<T> {
    /// An engine cutting batches into shards of `shard_size` rows (>= 1).
    pub fn new(shard_size: usize) -> Result<Self> {
        if shard_size == 0 {
            return Err(Error::config("shard_size", "must be at least 1"));
        }
        Ok(ShardEngine {
            shard_size,
            blocks: Vec::new(),
            norms: GradNorms::default(),
        })
    }

    /// Rows per shard.
    pub fn shard_size(&self) -> usize {
        self.shard_size
    }

    fn check_rows(x: Source<'_, T>, rows: &[usize]) -> Result<()> {
        if rows.is_empty() {
            return Err(Error::InvalidData("a batch needs at least one row".into()));
        }
        if let Some(&bad) = rows.iter().find(|&&i| i >= x.samples()) {
            return Err(Error::Shape(format!(
                "row index {bad} is out of range for {} rows",
                x.samples()
            )));
        }
        Ok(())
    }

    /// The objective (data terms averaged over `rows`, plus weight decay) of
    /// rows `rows` of `x`, its gradient, and the gradient's norms (computed
    /// anyway to check it is finite). The gradient is borrowed from the
    /// engine's buffers and valid until the next call.
    ///
    /// # Errors
    ///
    /// The model's: shapes, config, and [`Error::Numerical`] for a
    /// non-finite loss (the first failing shard in row order) or a
    /// non-finite batch gradient.
    pub fn loss_and_grad(
        &mut self,
        model: &Autoencoder<T>,
        x: &DMatrix<T>,
        rows: &[usize],
        loss: &LossConfig,
    ) -> Result<(LossTerms, &mut Gradient<T>, &GradNorms)> {
        self.grad_from(model, Source::Rows(x), rows, loss, BatchExtras::default())
    }

    /// [`ShardEngine::loss_and_grad`] on the transposed data `xt` (`d x n`,
    /// sample `i` is column `i`), which gathers each sample of a shuffled
    /// batch as one contiguous column instead of a strided row. The results
    /// are bit-identical.
    pub fn loss_and_grad_transposed(
        &mut self,
        model: &Autoencoder<T>,
        xt: &DMatrix<T>,
        samples: &[usize],
        loss: &LossConfig,
    ) -> Result<(LossTerms, &mut Gradient<T>, &GradNorms)> {
        self.grad_from(
            model,
            Source::Columns(xt),
            samples,
            loss,
            BatchExtras::default(),
        )
    }

    /// [`ShardEngine::loss_and_grad_transposed`] with what a training batch
    /// may add to the plain objective (see [`BatchExtras`]): input
    /// corruption for a denoising autoencoder, an AuxK term, and which
    /// latents fired. Each depends on sample indices and row order only, so
    /// results stay independent of the thread count.
    pub fn loss_and_grad_with(
        &mut self,
        model: &Autoencoder<T>,
        xt: &DMatrix<T>,
        samples: &[usize],
        loss: &LossConfig,
        extras: BatchExtras<'_>,
    ) -> Result<(LossTerms, &mut Gradient<T>, &GradNorms)> {
        if let Some((c, _)) = extras.noise {
            c.validate()?;
        }
        self.grad_from(model, Source::Columns(xt), samples, loss, extras)
    }

    fn grad_from(
        &mut self,
        model: &Autoencoder<T>,
        x: Source<'_, T>,
        rows: &[usize],
        loss: &LossConfig,
        extras: BatchExtras<'_>,
    ) -> Result<(LossTerms, &mut Gradient<T>, &GradNorms)> {
        let BatchExtras {
            noise,
            aux,
            fired,
            smallest_kept,
            l1_scale,
        } = extras;
        let scaled;
        let loss = match l1_scale {
            Some(f) => {
                scaled = LossConfig {
                    l1: loss.l1 * f,
                    l0: loss.l0 * f,
                    ..*loss
                };
                &scaled
            }
            None => loss,
        };
        Self::check_rows(x, rows)?;
        let norm = Normalizer::new(rows.len())?;
        let shards: Vec<&[usize]> = rows.chunks(self.shard_size).collect();
        let (nblocks, per) = blocking(shards.len());
        self.ensure_blocks(model, nblocks);
        // AuxK divides by the spread of the whole batch's residual: computed
        // here, once, and handed to every shard as a constant, so the
        // shards' terms and gradients still add up to the batch's.
        let aux = match aux {
            Some(a) if a.residual_spread.is_none() && a.dead.iter().any(|&dead| dead) => {
                let spread = self.residual_spread(model, x, &shards, per, noise)?;
                Some(AuxKLoss {
                    residual_spread: Some(spread),
                    ..a
                })
            }
            other => other,
        };
        // With one shard per block, the tied weight slots are built while
        // the blocks are added, from the parts that are added anyway.
        let tied = if per == 1 && aux.is_none() && can_defer_tied(model.layout()) {
            TiedSlots::Deferred
        } else {
            TiedSlots::Summed
        };
        let pass = BatchPass {
            model,
            x,
            loss,
            noise,
            aux,
            norm,
            tied,
            track: fired.is_some(),
            track_kept: smallest_kept.is_some(),
        };
        let results: Vec<Result<LossTerms>> = self.blocks[..nblocks]
            .par_iter_mut()
            .zip(shards.par_chunks(per))
            .map(|(b, group)| block_pass(b, group, &pass))
            .collect();
        let mut terms = LossTerms::default();
        for r in results {
            terms.add(&r?);
        }
        self.merge_tracking(nblocks, smallest_kept, fired, model);
        self.sum_blocks(model, loss, terms, nblocks, tied)
    }

    /// Makes the first `nblocks` blocks ready for `model`: every block is
    /// dropped when the gradient layout changed (another model), then the
    /// missing ones are added. Blocks are kept across batches so that the
    /// steady state allocates nothing.
    fn ensure_blocks(&mut self, model: &Autoencoder<T>, nblocks: usize) {
        let fresh = self
            .blocks
            .first()
            .is_none_or(|b| b.grad.layout() != model.layout());
        if fresh {
            self.blocks.clear();
        }
        while self.blocks.len() < nblocks {
            self.blocks.push(Block {
                x: DMatrix::zeros(0, 0),
                noisy: DMatrix::zeros(0, 0),
                ws: Workspace::new(),
                grad: model.zero_gradient(),
                scratch: model.zero_gradient(),
                fired: Vec::new(),
                kept: Vec::new(),
            });
        }
    }

    /// Folds the first `nblocks` blocks' tracking into the caller's
    /// buffers, when asked for: per pair the smallest value a BatchTopK
    /// code kept (a minimum), per latent whether it fired (an OR). Both
    /// are order-free, so they do not depend on the blocking.
    fn merge_tracking(
        &self,
        nblocks: usize,
        smallest_kept: Option<&mut Vec<Option<f64>>>,
        fired: Option<&mut Vec<bool>>,
        model: &Autoencoder<T>,
    ) {
        if let Some(out) = smallest_kept {
            out.clear();
            out.resize(model.spec().hidden.len(), None);
            for b in &self.blocks[..nblocks] {
                for (o, &k) in out.iter_mut().zip(&b.kept) {
                    *o = smaller(*o, k);
                }
            }
        }
        if let Some(out) = fired {
            out.clear();
            out.resize(model.latent_dim(), false);
            for b in &self.blocks[..nblocks] {
                for (o, &f) in out.iter_mut().zip(&b.fired) {
                    *o |= f;
                }
            }
        }
    }

    /// Adds the first `nblocks` blocks' gradients into the first block's,
    /// in block order, adds weight decay to it and to `terms`, and checks
    /// that both are finite: the batch's objective, gradient and norms.
    fn sum_blocks(
        &mut self,
        model: &Autoencoder<T>,
        loss: &LossConfig,
        mut terms: LossTerms,
        nblocks: usize,
        tied: TiedSlots,
    ) -> Result<(LossTerms, &mut Gradient<T>, &GradNorms)> {
        // Sum the blocks and take the norms in one pass; weight decay then
        // changes the sum, and its norms are taken again. The norms double
        // as the finiteness check of every entry (see
        // `GradNorms::is_finite`); only an overflowing f64 sum needs a scan.
        let (first, rest) = self.blocks[..nblocks].split_first_mut().expect("a block");
        let others: Vec<&Gradient<T>> = rest.iter().map(|b| &b.grad).collect();
        let grad = &mut first.grad;
        self.norms = grad.add_all_and_norms(&others, tied);
        model.l2_penalty_and_grad(loss, &mut terms, grad)?;
        if loss.l2 != 0.0 {
            self.norms = grad.norms();
        }
        if !terms.is_finite() || (!self.norms.is_finite() && !grad.is_finite()) {
            return Err(Error::Numerical(format!(
                "batch objective {:.6e} or its gradient is not finite",
                terms.total
            )));
        }
        Ok((terms, grad, &self.norms))
    }

    /// The AuxK denominator `Σ_i ‖e_i − ē‖²` over the rows of the batch
    /// `shards` cut (see [`crate::model::AuxK`]): each block runs the
    /// forward pass of its shards (on the corrupted copy when denoising, as
    /// the gradient pass will) and summarises their residuals, and the
    /// summaries merge in block order, so the value does not depend on the
    /// thread count. The term needs it before any shard's gradient, since
    /// it scales every shard's part.
    fn residual_spread(
        &mut self,
        model: &Autoencoder<T>,
        x: Source<'_, T>,
        shards: &[&[usize]],
        per: usize,
        noise: Option<(Corruption, u64)>,
    ) -> Result<f64> {
        let nblocks = shards.len().div_ceil(per);
        let parts: Vec<Result<ResidualSpread>> = self.blocks[..nblocks]
            .par_iter_mut()
            .zip(shards.par_chunks(per))
            .map(|(b, group)| {
                let mut acc = ResidualSpread::default();
                for rows in group {
                    x.gather(rows, &mut b.x);
                    if let Some((c, seed)) = noise {
                        b.noisy.clone_from(&b.x);
                        c.apply(&mut b.noisy, rows, seed)?;
                    }
                    let input = if noise.is_some() { &b.noisy } else { &b.x };
                    acc.merge(&model.auxk_residual_spread(input, &b.x, &mut b.ws)?);
                }
                Ok(acc)
            })
            .collect();
        let mut spread = ResidualSpread::default();
        for p in parts {
            spread.merge(&p?);
        }
        let s = spread.sum_sq();
        if !s.is_finite() {
            return Err(Error::Numerical(format!(
                "AuxK: the batch's residual spread is {s}"
            )));
        }
        Ok(s)
    }

    /// The objective of rows `rows` of `x` without a gradient (validation),
    /// with the same shard boundaries and summation order as
    /// [`ShardEngine::loss_and_grad`].
    pub fn loss(
        &self,
        model: &Autoencoder<T>,
        x: &DMatrix<T>,
        rows: &[usize],
        loss: &LossConfig,
    ) -> Result<LossTerms> {
        self.loss_from(model, Source::Rows(x), rows, loss)
    }

    /// [`ShardEngine::loss`] on the transposed data (see
    /// [`ShardEngine::loss_and_grad_transposed`]).
    pub fn loss_transposed(
        &self,
        model: &Autoencoder<T>,
        xt: &DMatrix<T>,
        samples: &[usize],
        loss: &LossConfig,
    ) -> Result<LossTerms> {
        self.loss_from(model, Source::Columns(xt), samples, loss)
    }

    fn loss_from(
        &self,
        model: &Autoencoder<T>,
        x: Source<'_, T>,
        rows: &[usize],
        loss: &LossConfig,
    ) -> Result<LossTerms> {
        Self::check_rows(x, rows)?;
        let norm = Normalizer::new(rows.len())?;
        let shards: Vec<&[usize]> = rows.chunks(self.shard_size).collect();
        let results: Vec<Result<LossTerms>> = shards
            .par_iter()
            .map_init(
                || DMatrix::zeros(0, 0),
                |buf, rows| {
                    x.gather(rows, buf);
                    model.loss_terms(buf, buf, loss, norm)
                },
            )
            .collect();
        let mut terms = LossTerms::default();
        for r in results {
            terms.add(&r?);
        }
        let p = model.l2_penalty(loss);
        terms.l2 += p;
        terms.total += p;
        if !terms.is_finite() {
            return Err(Error::Numerical(format!(
                "objective {:.6e} is not finite",
                terms.total
            )));
        }
        Ok(terms)
    }
}

/// What every shard of one batch is computed with, shared read-only by
/// the parallel blocks (see [`block_pass`]).
struct BatchPass<'a, T: Real> {
    model: &'a Autoencoder<T>,
    x: Source<'a, T>,
    loss: &'a LossConfig,
    noise: Option<(Corruption, u64)>,
    aux: Option<AuxKLoss<'a>>,
    norm: Normalizer,
    tied: TiedSlots,
    /// Whether the caller asked which latents fired.
    track: bool,
    /// Whether the caller asked for BatchTopK's smallest kept values.
    track_kept: bool,
}

/// One block's part of a batch: its shards `group`, in order, on the
/// block's own buffers. The first shard's gradient is written into the
/// block's sum directly and the others are added to it, so the block's
/// result depends only on its shards, never on the thread that ran it.
fn block_pass<T: Real>(
    b: &mut Block<T>,
    group: &[&[usize]],
    pass: &BatchPass<'_, T>,
) -> Result<LossTerms> {
    let BatchPass {
        model,
        x,
        loss,
        noise,
        aux,
        norm,
        tied,
        track,
        track_kept,
    } = *pass;
    let latent = model.latent_dim();
    let hidden = &model.spec().hidden;
    let mut sum = LossTerms::default();
    if track {
        b.fired.clear();
        b.fired.resize(latent, false);
    }
    if track_kept {
        b.kept.clear();
        b.kept.resize(hidden.len(), None);
    }
    for (s, rows) in group.iter().enumerate() {
        x.gather(rows, &mut b.x);
        if let Some((c, seed)) = noise {
            b.noisy.clone_from(&b.x);
            c.apply(&mut b.noisy, rows, seed)?;
        }
        // Denoising encodes the corrupted copy; the target is
        // always the clean sample.
        let input = if noise.is_some() { &b.noisy } else { &b.x };
        let t = if s == 0 {
            model.shard_loss_and_grad_aux(
                input,
                &b.x,
                loss,
                aux,
                norm,
                &mut b.ws,
                &mut b.grad,
                tied,
            )?
        } else {
            let t = model.shard_loss_and_grad_aux(
                input,
                &b.x,
                loss,
                aux,
                norm,
                &mut b.ws,
                &mut b.scratch,
                TiedSlots::Summed,
            )?;
            b.grad.add_assign(&b.scratch)?;
            t
        };
        if track && let Some(code) = b.ws.code() {
            mark_fired(code, &mut b.fired);
        }
        if track_kept {
            let codes = b.ws.encoder_activations();
            for ((k, act), code) in b.kept.iter_mut().zip(hidden).zip(codes) {
                *k = smaller(*k, act.smallest_kept(code));
            }
        }
        sum.add(&t);
    }
    Ok(sum)
}

/// The smaller of two optional values (`None` is no value).
fn smaller(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, None) => a,
        (None, b) => b,
    }
}

/// `fired[k] |= (some row of code has a nonzero entry k)`.
fn mark_fired<T: Real>(code: &DMatrix<T>, fired: &mut [bool]) {
    for (k, f) in fired.iter_mut().enumerate().take(code.ncols()) {
        if !*f {
            *f = code.column(k).iter().any(|&v| v != T::zero());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Activation, AutoencoderSpec};

    fn data(n: usize, d: usize) -> DMatrix<f64> {
        DMatrix::from_fn(n, d, |i, j| ((i * 7 + j * 3) % 11) as f64 / 11.0 - 0.4)
    }

    #[test]
    fn blocking_covers_every_shard_within_the_block_limit() {
        for shards in 1..200 {
            let (b, per) = blocking(shards);
            assert!(b <= MAX_BLOCKS);
            assert!(b * per >= shards && (b - 1) * per < shards);
        }
    }

    /// The sharded objective equals the model's one-call batch objective up
    /// to rounding (different summation order), for ragged shard sizes.
    #[test]
    fn sharded_objective_matches_one_call() {
        let spec = AutoencoderSpec::new(&[5, 3]).activation(Activation::Tanh);
        let model = Autoencoder::<f64>::new(&spec, 3).unwrap();
        let x = data(37, 5);
        let loss = LossConfig::mse().with_l1(0.01).with_l2(0.1);
        let (want_t, want_g) = model.objective_and_grad(&x, &x, &loss).unwrap();
        let rows: Vec<usize> = (0..37).collect();
        for shard in [1, 4, 10, 37, 64] {
            let mut eng = ShardEngine::new(shard).unwrap();
            let (t, g, n) = eng.loss_and_grad(&model, &x, &rows, &loss).unwrap();
            assert_eq!(*n, g.norms());
            assert!((t.total - want_t.total).abs() < 1e-12 * want_t.total.abs().max(1.0));
            for (a, b) in g.as_slice().iter().zip(want_g.as_slice()) {
                assert!((a - b).abs() < 1e-12, "shard {shard}: {a} vs {b}");
            }
            let (t, g) = (t, g.clone());
            let v = eng.loss(&model, &x, &rows, &loss).unwrap();
            assert!((v.total - t.total).abs() < 1e-12);
            // The transposed source gives the same bits.
            let xt = x.transpose();
            let (t2, g2, _) = eng
                .loss_and_grad_transposed(&model, &xt, &rows, &loss)
                .unwrap();
            assert_eq!(t2, t);
            assert_eq!(g2.as_slice(), g.as_slice());
            let v2 = eng.loss_transposed(&model, &xt, &rows, &loss).unwrap();
            assert_eq!(v2, v);
        }
    }

    /// With AuxK the engine hands every shard the batch's residual spread,
    /// so the sharded term and gradient equal one call on the whole batch
    /// (which takes the spread of its own residual), for ragged shard
    /// sizes and every grouping of shards into blocks.
    #[test]
    fn sharded_auxk_matches_one_call() {
        use crate::model::{AuxK, AuxKLoss};
        let spec = AutoencoderSpec::new(&[5, 8]).activation(Activation::TopK { k: 2 });
        let model = Autoencoder::<f64>::new(&spec, 4).unwrap();
        let x = data(37, 5);
        let loss = LossConfig::mse();
        let dead = [true, false, true, true, false, true, false, true];
        let aux = AuxKLoss::new(
            AuxK {
                k_aux: 3,
                alpha: 0.25,
            },
            &dead,
        );
        let norm = Normalizer::new(37).unwrap();
        let (want_t, want_g) = model
            .loss_and_grad_aux(&x, &x, &loss, Some(aux), norm)
            .unwrap();
        let (_, plain) = model.loss_and_grad(&x, &x, &loss, norm).unwrap();
        assert!(want_t.auxk > 0.0);
        assert!(
            want_g
                .as_slice()
                .iter()
                .zip(plain.as_slice())
                .any(|(a, b)| (a - b).abs() > 1e-9),
            "the AuxK gradient is not trivially zero"
        );
        let rows: Vec<usize> = (0..37).collect();
        let xt = x.transpose();
        for shard in [1, 2, 4, 10, 37, 64] {
            let mut eng = ShardEngine::new(shard).unwrap();
            let extras = BatchExtras {
                aux: Some(aux),
                ..BatchExtras::default()
            };
            let (t, g, _) = eng
                .loss_and_grad_with(&model, &xt, &rows, &loss, extras)
                .unwrap();
            assert!(
                (t.auxk - want_t.auxk).abs() <= 1e-12 * want_t.auxk,
                "shard {shard}: {} vs {}",
                t.auxk,
                want_t.auxk
            );
            assert!((t.total - want_t.total).abs() <= 1e-12 * want_t.total.abs().max(1.0));
            for (a, b) in g.as_slice().iter().zip(want_g.as_slice()) {
                assert!((a - b).abs() < 1e-12, "shard {shard}: {a} vs {b}");
            }
        }
    }

    /// Both sources gather the same shard, whole 16 x 16 tiles and ragged
    /// edges alike.
    #[test]
    fn transposed_gather_equals_row_gather() {
        let x = data(70, 37);
        let xt = x.transpose();
        let rows: Vec<usize> = (0..53).map(|i| (i * 29 + 5) % 70).collect();
        for take in [53, 48, 16, 7] {
            let (mut a, mut b) = (DMatrix::zeros(0, 0), DMatrix::zeros(0, 0));
            Source::Rows(&x).gather(&rows[..take], &mut a);
            Source::Columns(&xt).gather(&rows[..take], &mut b);
            assert_eq!(a, b);
            assert_eq!(a, x.select_rows(&rows[..take]));
        }
    }

    #[test]
    fn rejects_out_of_range_and_empty_batches() {
        let model = Autoencoder::<f64>::new(&AutoencoderSpec::new(&[5, 3]), 3).unwrap();
        let x = data(4, 5);
        let mut eng = ShardEngine::new(2).unwrap();
        assert!(matches!(
            eng.loss_and_grad(&model, &x, &[0, 4], &LossConfig::mse()),
            Err(Error::Shape(_))
        ));
        assert!(matches!(
            eng.loss_and_grad(&model, &x, &[], &LossConfig::mse()),
            Err(Error::InvalidData(_))
        ));
        assert!(ShardEngine::<f64>::new(0).is_err());
    }
}
