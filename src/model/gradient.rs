//! Gradients in flat-parameter order, with the two uses of each tied weight
//! kept apart for monitoring.
//!
//! A tied `W` is used by the encoder (`x Wᵀ`) and the decoder (`h W`), so
//! `∂L/∂W = G_enc + G_dec`. The flat vector holds the sum; [`TiedParts`]
//! keeps `G_enc` and `G_dec` of the data terms (reconstruction, L1, KL).
//! Weight decay is a term in `W` itself, not in one of its uses, so it is
//! added to the flat vector only.

use super::kernels::{add_slice, add_tied_parts, all_finite, sum_slices, sum_squares};
use super::params::ParamLayout;
use crate::error::{Error, Result};
use crate::real::Real;
use rayon::prelude::*;
use std::sync::Arc;

/// Encoder and decoder parts of one tied weight's gradient, each `r x d`
/// row-major like the weight's flat slot.
#[derive(Clone, Debug, PartialEq)]
pub struct TiedParts<T> {
    /// Gradient through the encoder use `x Wᵀ`.
    pub encoder: Vec<T>,
    /// Gradient through the decoder use `h W`.
    pub decoder: Vec<T>,
}

/// Gradient norms of one layer pair (Euclidean, computed in f64).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LayerGradNorms {
    /// Pair index, outermost 0.
    pub layer: usize,
    /// Norm over all the pair's parameters (weights and biases).
    pub total: f64,
    /// Tied pairs: norm of the encoder part of `∂L/∂W`.
    pub encoder_part: Option<f64>,
    /// Tied pairs: norm of the decoder part of `∂L/∂W`.
    pub decoder_part: Option<f64>,
}

/// A gradient in flat-parameter order (see [`super::params`]).
#[derive(Clone, Debug, PartialEq)]
pub struct Gradient<T: Real> {
    pub(crate) flat: Vec<T>,
    pub(crate) parts: Vec<Option<TiedParts<T>>>,
    layout: Arc<ParamLayout>,
}

fn norm<T: Real>(v: &[T]) -> f64 {
    squares(v).sqrt()
}

/// Entries per parallel task of [`squares`].
const SQUARES_TASK: usize = 16384;

/// `Σ v_i²`: per fixed chunk of [`SQUARES_TASK`] entries in parallel, the
/// chunk sums added in chunk order, so the bits do not depend on the
/// threads. (The trainer takes norms after every batch; serially they were
/// time one core idles.)
fn squares<T: Real>(v: &[T]) -> f64 {
    let chunk = square_chunk(v.len());
    if chunk >= v.len() {
        return sum_squares(v);
    }
    let parts: Vec<f64> = v.par_chunks(chunk).map(sum_squares).collect();
    parts.iter().sum()
}

/// The chunk length [`squares`] cuts a vector of `len` entries into: the
/// whole vector when short, else [`SQUARES_TASK`].
fn square_chunk(len: usize) -> usize {
    if len < 2 * SQUARES_TASK {
        len.max(1)
    } else {
        SQUARES_TASK
    }
}

/// The global and per-pair norms of one gradient, from one pass over it
/// ([`Gradient::norms`]).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct GradNorms {
    /// Euclidean norm of the whole gradient.
    pub total: f64,
    /// Per-pair norms, outermost pair first.
    pub layers: Vec<LayerGradNorms>,
}

impl GradNorms {
    /// Whether every norm is finite. Squares are summed in f64, so for an
    /// f32 gradient this holds exactly when every entry (tied parts
    /// included) is finite; for f64 a finite gradient can overflow its
    /// sum of squares, so a `false` there needs [`Gradient::is_finite`] to
    /// decide.
    pub fn is_finite(&self) -> bool {
        self.total.is_finite()
            && self.layers.iter().all(|l| {
                l.encoder_part.is_none_or(f64::is_finite)
                    && l.decoder_part.is_none_or(f64::is_finite)
            })
    }
}

impl<T: Real> Gradient<T> {
    /// An all-zero gradient for `layout`.
    pub fn zeros(layout: Arc<ParamLayout>) -> Self {
        let parts = layout
            .layers()
            .iter()
            .map(|s| {
                s.tied.then(|| TiedParts {
                    encoder: vec![T::zero(); s.weight.len()],
                    decoder: vec![T::zero(); s.weight.len()],
                })
            })
            .collect();
        Gradient {
            flat: vec![T::zero(); layout.len()],
            parts,
            layout,
        }
    }

    /// The layout the entries follow.
    pub fn layout(&self) -> &ParamLayout {
        &self.layout
    }

    /// Entries in flat-parameter order.
    pub fn as_slice(&self) -> &[T] {
        &self.flat
    }

    /// Mutable entries (e.g. for clipping). Changing them does not change
    /// [`Gradient::tied_parts`].
    pub fn as_mut_slice(&mut self) -> &mut [T] {
        &mut self.flat
    }

    /// The flat vector.
    pub fn into_vec(self) -> Vec<T> {
        self.flat
    }

    /// Number of entries (= the model's parameter count).
    pub fn len(&self) -> usize {
        self.flat.len()
    }

    /// Whether there are no entries.
    pub fn is_empty(&self) -> bool {
        self.flat.is_empty()
    }

    /// The entries of pair `layer` (weights then biases, as in
    /// [`ParamLayout`]), or `None` for an out-of-range index.
    pub fn layer(&self, layer: usize) -> Option<&[T]> {
        let s = self.layout.layers().get(layer)?;
        Some(&self.flat[s.range()])
    }

    /// Encoder and decoder parts of pair `layer`'s tied weight (`None` for
    /// untied pairs or an out-of-range index).
    pub fn tied_parts(&self, layer: usize) -> Option<&TiedParts<T>> {
        self.parts.get(layer).and_then(Option::as_ref)
    }

    /// Euclidean norm of the whole gradient.
    pub fn norm(&self) -> f64 {
        norm(&self.flat)
    }

    /// The global norm and [`Gradient::layer_norms`] together, reading
    /// every entry once (the global norm comes from the per-pair sums of
    /// squares).
    pub fn norms(&self) -> GradNorms {
        let mut total = 0.0;
        let layers = self
            .layout
            .layers()
            .iter()
            .enumerate()
            .map(|(layer, s)| {
                let p = self.tied_parts(layer);
                let sq = squares(&self.flat[s.range()]);
                total += sq;
                LayerGradNorms {
                    layer,
                    total: sq.sqrt(),
                    encoder_part: p.map(|p| norm(&p.encoder)),
                    decoder_part: p.map(|p| norm(&p.decoder)),
                }
            })
            .collect();
        GradNorms {
            total: total.sqrt(),
            layers,
        }
    }

    /// Per-pair norms, with the tied weights' encoder and decoder parts.
    pub fn layer_norms(&self) -> Vec<LayerGradNorms> {
        self.norms().layers
    }

    /// Whether every entry (and every tied part) is finite.
    pub fn is_finite(&self) -> bool {
        all_finite(&self.flat)
            && self
                .parts
                .iter()
                .flatten()
                .all(|p| all_finite(&p.encoder) && all_finite(&p.decoder))
    }

    /// `self += other`, entry by entry (tied parts too). Summing shard
    /// gradients in a fixed shard order with this gives a thread-count
    /// independent batch gradient.
    pub fn add_assign(&mut self, other: &Gradient<T>) -> Result<()> {
        if !Arc::ptr_eq(&self.layout, &other.layout) && *self.layout != *other.layout {
            return Err(Error::Shape(
                "cannot add gradients of models with different layouts".into(),
            ));
        }
        add_slice(&mut self.flat, &other.flat);
        for (a, b) in self.parts.iter_mut().zip(&other.parts) {
            if let (Some(a), Some(b)) = (a, b) {
                add_slice(&mut a.encoder, &b.encoder);
                add_slice(&mut a.decoder, &b.decoder);
            }
        }
        Ok(())
    }

    /// `self += others[0] + others[1] + ...` (tied parts too), each entry
    /// summed in the order given, and the norms of the sum, bit for bit
    /// those of [`Gradient::norms`]. One parallel pass over fixed chunks
    /// both sums and squares them, where a sum and then `norms` would read
    /// every entry twice and synchronise the threads twice: the trainer
    /// does this after every batch. The chunks are fixed, so the bits do
    /// not depend on the threads.
    ///
    /// With [`TiedSlots::Deferred`] the tied weight slots of `self` and
    /// `others` hold nothing yet: each is built here as
    /// `(e₀ + d₀) + (e₁ + d₁) + ...` from the parts, the bits of summing
    /// each gradient's parts first and then the gradients, in the same
    /// pass that adds the parts (see [`can_defer_tied`]).
    pub(crate) fn add_all_and_norms(
        &mut self,
        others: &[&Gradient<T>],
        tied: TiedSlots,
    ) -> GradNorms {
        debug_assert!(others.iter().all(|o| *o.layout == *self.layout));
        let Gradient {
            flat,
            parts,
            layout,
        } = self;
        let deferred = tied == TiedSlots::Deferred;
        debug_assert!(!deferred || can_defer_tied(layout));
        // Jobs, per pair: its flat range, then its tied parts, each cut as
        // `squares` cuts it, with the same chunk of every other gradient
        // beside it. Each job reports its sums of squares tagged with the
        // vector they belong to (`3 l`: pair l's flat range, `3 l + 1`, `3 l
        // + 2`: its encoder and decoder parts).
        let mut jobs: Vec<Job<'_, T>> = Vec::new();
        let mut rest: &mut [T] = flat;
        for ((l, slot), part) in layout.layers().iter().enumerate().zip(parts.iter_mut()) {
            let (head, tail) = rest.split_at_mut(slot.range().len());
            rest = tail;
            let range = slot.range();
            let others_flat: Vec<&[T]> = others.iter().map(|o| &o.flat[range.clone()]).collect();
            let Some(p) = part else {
                add_jobs(&mut jobs, 3 * l, head, &others_flat);
                continue;
            };
            let enc: Vec<&[T]> = others
                .iter()
                .filter_map(|o| o.parts[l].as_ref().map(|q| q.encoder.as_slice()))
                .collect();
            let dec: Vec<&[T]> = others
                .iter()
                .filter_map(|o| o.parts[l].as_ref().map(|q| q.decoder.as_slice()))
                .collect();
            if !deferred {
                add_jobs(&mut jobs, 3 * l, head, &others_flat);
                add_jobs(&mut jobs, 3 * l + 1, &mut p.encoder, &enc);
                add_jobs(&mut jobs, 3 * l + 2, &mut p.decoder, &dec);
                continue;
            }
            // Flat chunk c and part chunk c start at the same weight (the
            // weights lead the flat range); the flat range's last chunk may
            // run on into the biases, or be biases alone.
            let w = p.encoder.len();
            let chunk = square_chunk(head.len());
            let part_chunk = square_chunk(w);
            let mut enc_chunks = p.encoder.chunks_mut(part_chunk);
            let mut dec_chunks = p.decoder.chunks_mut(part_chunk);
            for (c, out) in head.chunks_mut(chunk).enumerate() {
                let at = c * chunk;
                let len = out.len();
                let weights = w.saturating_sub(at).min(len);
                let srcs = others_flat.iter().map(|s| &s[at..at + len]).collect();
                if weights == 0 {
                    jobs.push(Job::Add(3 * l, out, srcs));
                    continue;
                }
                let (e, d) = (enc_chunks.next(), dec_chunks.next());
                let (e, d) = (e.expect("aligned chunks"), d.expect("aligned chunks"));
                debug_assert_eq!(e.len(), weights);
                let span = at..at + weights;
                let parts = enc
                    .iter()
                    .zip(&dec)
                    .map(|(e, d)| (&e[span.clone()], &d[span.clone()]))
                    .collect();
                jobs.push(Job::Tied {
                    tag: 3 * l,
                    out,
                    weights,
                    enc: e,
                    dec: d,
                    srcs,
                    parts,
                });
            }
        }
        let sq: Vec<Vec<(usize, f64)>> = jobs.into_par_iter().map(Job::run).collect();
        gathered_norms(sq, layout)
    }

    /// Multiplies every entry (and tied part) by `s`.
    pub fn scale(&mut self, s: T) {
        for x in self.flat.iter_mut() {
            *x *= s;
        }
        for p in self.parts.iter_mut().flatten() {
            for x in p.encoder.iter_mut().chain(p.decoder.iter_mut()) {
                *x *= s;
            }
        }
    }

    /// Sets every entry to zero, keeping the buffers.
    pub fn fill_zero(&mut self) {
        self.flat.fill(T::zero());
        for p in self.parts.iter_mut().flatten() {
            p.encoder.fill(T::zero());
            p.decoder.fill(T::zero());
        }
    }

    pub(crate) fn layout_arc(&self) -> &Arc<ParamLayout> {
        &self.layout
    }
}

/// What a backward pass leaves in a tied weight's flat slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TiedSlots {
    /// The sum of its two parts, as every caller outside the batch engine
    /// needs.
    Summed,
    /// Nothing: [`Gradient::add_all_and_norms`] builds it from the parts
    /// as it adds the blocks, saving a pass over every tied weight per
    /// shard.
    Deferred,
}

/// The norms of [`Gradient::add_all_and_norms`] from its jobs' sums of
/// squares, each tagged with its vector (`3 l`: pair l's flat range,
/// `3 l + 1`, `3 l + 2`: its encoder and decoder parts). Each vector's are
/// reassembled in chunk order, as `squares` adds them, so the bits match
/// [`Gradient::norms`].
fn gathered_norms(sq: Vec<Vec<(usize, f64)>>, layout: &ParamLayout) -> GradNorms {
    let mut per: Vec<Vec<f64>> = vec![Vec::new(); 3 * layout.layers().len()];
    for (tag, v) in sq.into_iter().flatten() {
        per[tag].push(v);
    }
    let take = |tag: usize| -> f64 { per[tag].iter().sum() };
    let mut total = 0.0;
    let layers = layout
        .layers()
        .iter()
        .enumerate()
        .map(|(layer, slot)| {
            let s = take(3 * layer);
            total += s;
            let tied = slot
                .tied
                .then(|| (take(3 * layer + 1).sqrt(), take(3 * layer + 2).sqrt()));
            LayerGradNorms {
                layer,
                total: s.sqrt(),
                encoder_part: tied.map(|t| t.0),
                decoder_part: tied.map(|t| t.1),
            }
        })
        .collect();
    GradNorms {
        total: total.sqrt(),
        layers,
    }
}

/// Whether [`TiedSlots::Deferred`] works for `layout`: each tied pair's
/// flat range and parts must be cut into chunks at the same places, which
/// holds unless the biases alone push the flat range over the length
/// where [`square_chunk`] starts cutting.
pub(crate) fn can_defer_tied(layout: &ParamLayout) -> bool {
    layout.layers().iter().filter(|s| s.tied).all(|s| {
        let cut = |len: usize| square_chunk(len) < len;
        cut(s.range().len()) == cut(s.weight.len())
    })
}

/// One task of [`Gradient::add_all_and_norms`].
enum Job<'a, T> {
    /// `out += srcs[0] + srcs[1] + ...`; reports the squares under its tag.
    Add(usize, &'a mut [T], Vec<&'a [T]>),
    /// A chunk of a tied pair whose weight slot is deferred: `out` is the
    /// flat chunk, its first `weights` entries the weights (built from the
    /// parts) and the rest biases (added from `srcs`); `enc` and `dec` are
    /// the same weights' parts, with the other gradients' `parts` beside
    /// them. Reports the squares of the flat chunk under `tag`, of the
    /// parts under `tag + 1` and `tag + 2`.
    Tied {
        tag: usize,
        out: &'a mut [T],
        weights: usize,
        enc: &'a mut [T],
        dec: &'a mut [T],
        srcs: Vec<&'a [T]>,
        parts: Vec<(&'a [T], &'a [T])>,
    },
}

impl<T: Real> Job<'_, T> {
    fn run(self) -> Vec<(usize, f64)> {
        match self {
            Job::Add(tag, out, srcs) => {
                for s in srcs {
                    add_slice(out, s);
                }
                vec![(tag, sum_squares(out))]
            }
            Job::Tied {
                tag,
                out,
                weights,
                enc,
                dec,
                srcs,
                parts,
            } => {
                let (w, biases) = out.split_at_mut(weights);
                sum_slices(w, enc, dec);
                for (e, d) in parts {
                    add_tied_parts(w, enc, dec, e, d);
                }
                for s in srcs {
                    add_slice(biases, &s[weights..]);
                }
                vec![
                    (tag, sum_squares(out)),
                    (tag + 1, sum_squares(enc)),
                    (tag + 2, sum_squares(dec)),
                ]
            }
        }
    }
}

/// Cuts `out` and its `srcs` into the chunks [`squares`] uses, one
/// [`Job::Add`] per chunk tagged `tag`.
fn add_jobs<'a, T: Real>(
    jobs: &mut Vec<Job<'a, T>>,
    tag: usize,
    out: &'a mut [T],
    srcs: &[&'a [T]],
) {
    let chunk = square_chunk(out.len());
    if out.is_empty() {
        // An empty vector still has one (empty) chunk, as `squares` sums it.
        jobs.push(Job::Add(tag, out, Vec::new()));
        return;
    }
    for (c, o) in out.chunks_mut(chunk).enumerate() {
        let at = c * chunk;
        let len = o.len();
        jobs.push(Job::Add(
            tag,
            o,
            srcs.iter().map(|s| &s[at..at + len]).collect(),
        ));
    }
}

#[cfg(test)]
mod tests {
    use crate::model::{Autoencoder, AutoencoderSpec, Gradient};

    /// A gradient of `model`'s layout with every entry and tied part drawn
    /// from a fixed linear congruential sequence in `[-0.5, 0.5)`.
    fn random_gradient(model: &Autoencoder<f32>, seed: u32) -> Gradient<f32> {
        let mut g = model.zero_gradient();
        let mut k = seed;
        let mut next = move || {
            k = k.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (k >> 8) as f32 / (1u32 << 24) as f32 - 0.5
        };
        g.flat.iter_mut().for_each(|x| *x = next());
        for p in g.parts.iter_mut().flatten() {
            p.encoder.iter_mut().for_each(|x| *x = next());
            p.decoder.iter_mut().for_each(|x| *x = next());
        }
        g
    }

    /// Summing with the norms in one pass gives the bits of adding one by
    /// one and then taking [`super::Gradient::norms`]: for a tied pair large
    /// enough to be cut into several chunks (with its parts), an untied one,
    /// a small one in a single chunk, and no other gradient at all.
    #[test]
    fn add_all_and_norms_equals_adding_then_norms() {
        let spec = AutoencoderSpec::new(&[300, 120, 7, 3]).tied_per_layer(vec![true, false, true]);
        let model = Autoencoder::<f32>::new(&spec, 1).unwrap();
        let fill = |seed: u32| random_gradient(&model, seed);
        assert!(model.layout().layers()[0].range().len() > 2 * super::SQUARES_TASK);
        for others in 0..3 {
            let rest: Vec<_> = (0..others).map(|o| fill(10 + o)).collect();
            let refs: Vec<_> = rest.iter().collect();
            let mut fused = fill(1);
            let norms = fused.add_all_and_norms(&refs, super::TiedSlots::Summed);
            let mut plain = fill(1);
            for r in &rest {
                plain.add_assign(r).unwrap();
            }
            assert_eq!(fused, plain);
            assert_eq!(norms, plain.norms());
            assert!(norms.layers[0].encoder_part.is_some());
            assert!(norms.layers[1].encoder_part.is_none());
        }
    }

    /// Deferred tied slots, built while the gradients are added, give the
    /// bits of summing each gradient's parts into its slot first and then
    /// adding the gradients; whatever the slots held before is ignored.
    /// Covers a flat range whose last chunk runs from the weights into the
    /// biases (300 x 120), one whose last chunk is biases alone (256 x 128 =
    /// two whole chunks of weights), and a pair in one chunk.
    #[test]
    fn deferred_tied_slots_equal_summing_parts_first() {
        use super::{SQUARES_TASK, TiedSlots, can_defer_tied};
        for dims in [vec![300, 120, 7, 3], vec![256, 128]] {
            let spec = AutoencoderSpec::new(&dims);
            let model = Autoencoder::<f32>::new(&spec, 1).unwrap();
            assert!(can_defer_tied(model.layout()));
            let fill = |seed: u32, slots: f32| {
                let mut g = random_gradient(&model, seed);
                for (s, p) in model.layout().layers().iter().zip(&g.parts) {
                    let p = p.as_ref().unwrap();
                    for (k, w) in g.flat[s.weight.clone()].iter_mut().enumerate() {
                        // NaN marks a slot not yet written.
                        *w = if slots.is_nan() {
                            slots
                        } else {
                            p.encoder[k] + p.decoder[k]
                        };
                    }
                }
                g
            };
            assert!(model.layout().layers()[0].weight.len() >= 2 * SQUARES_TASK);
            for others in 0..3 {
                let pending: Vec<_> = (0..others).map(|o| fill(10 + o, f32::NAN)).collect();
                let refs: Vec<_> = pending.iter().collect();
                let mut fused = fill(1, f32::NAN);
                let norms = fused.add_all_and_norms(&refs, TiedSlots::Deferred);
                let mut plain = fill(1, 0.0);
                for o in 0..others {
                    plain.add_assign(&fill(10 + o, 0.0)).unwrap();
                }
                assert_eq!(fused, plain);
                assert_eq!(norms, plain.norms());
            }
        }
        // 4095 x 8 weights stay in one chunk, but with their 4103 biases
        // the flat range is cut: the chunks no longer line up.
        let model = Autoencoder::<f32>::new(&AutoencoderSpec::new(&[4095, 8]), 1).unwrap();
        assert!(!can_defer_tied(model.layout()));
    }
}
