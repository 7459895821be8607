//! Sparse decoding of TopK codes (`src/model/sparse_decode.rs`, chosen
//! with [`DecodePath`]), and the latent pair's sparse encoder gradient,
//! through whole models: the sparse path's loss and every gradient entry
//! against the dense path's, tied and untied, f32 and f64, every bias mode,
//! with rows that keep fewer than `k` positive values, BatchTopK rows that
//! keep more, a TopK latent below a dense pair (whose gradient comes
//! through the sparse `dz E`) and the AuxK term on; finite-difference
//! checks of the loss through the sparse path; the `Auto` rule;
//! thread-count independence of training; the spec's serialized form.
//!
//! The kernels themselves are checked entry by entry against the dense
//! ones, with Higham's a priori rounding bound, in the module's unit tests.

mod fd;

use fd::{compare, near_kink, numeric_gradient, random_matrix};
use nalgebra::DMatrix;
use rand::RngExt;
use tiedae::Real;
use tiedae::model::{
    Activation, Autoencoder, AutoencoderSpec, AuxK, AuxKLoss, BiasMode, DecodePath, Init,
    LossConfig, Normalizer, Workspace,
};
use tiedae::rng::seeded;
use tiedae::train::{DeadLatents, Optimizer, Progress, TrainConfig, Trainer};

/// A model whose every parameter is random, with negative encoder biases
/// (where the mode has one), so many pre-activations lie below 0 and some
/// rows keep fewer than `k` positive values.
fn model<T: Real>(spec: &AutoencoderSpec, seed: u64) -> Autoencoder<T> {
    let mut m = Autoencoder::<T>::new(spec, seed).unwrap();
    let mut rng = seeded(seed ^ 0xABCD);
    let mut p: Vec<f64> = (0..m.n_params())
        .map(|_| rng.random_range(-0.7..0.7))
        .collect();
    for s in m.layout().layers() {
        if let Some(range) = s.encoder_bias() {
            for v in &mut p[range] {
                *v = -0.3 - v.abs();
            }
        }
    }
    let p: Vec<T> = p.iter().map(|&v| T::of(v)).collect();
    m.set_params(&p).unwrap();
    m
}

/// `n` rows of width `d`: every fourth row is the model's centre (`b_pre`,
/// or 0), whose code is all zero (the pre-activations are `b_enc < 0`, or
/// exactly 0, where TopK keeps `k` zeros); every fourth + 1 is a small step
/// from it; the rest are uniform in [-1, 1].
fn data(n: usize, d: usize, pre: Option<&[f64]>, seed: u64) -> DMatrix<f64> {
    let noise = random_matrix(n, d, -1.0, 1.0, seed);
    DMatrix::from_fn(n, d, |i, j| {
        let centre = pre.map_or(0.0, |p| p[j]);
        match i % 4 {
            0 => centre,
            1 => centre + 0.05 * noise[(i, j)],
            _ => noise[(i, j)],
        }
    })
}

/// The first pair's pre-centering bias, if it has one.
fn pre_bias<T: Real>(m: &Autoencoder<T>) -> Option<Vec<f64>> {
    let range = m.layout().layers()[0].pre_bias()?;
    Some(m.params_to_vec()[range].iter().map(|v| v.f64()).collect())
}

/// `m` with its first pair's encoder bias (if it has one) at −1 and its
/// pre-centering bias (if it has one) at 0, so the rows at the centre have
/// no positive pre-activation (an all-zero code, a short row) whatever the
/// initialisation drew: `W (x − b_pre)` is not exactly 0 in floating point
/// for `x = b_pre ≠ 0`, but it is for `x = b_pre = 0`.
fn with_short_rows<T: Real>(mut m: Autoencoder<T>) -> Autoencoder<T> {
    let pair = &m.layout().layers()[0];
    let (enc, pre) = (pair.encoder_bias(), pair.pre_bias());
    let mut p = m.params_to_vec();
    for (range, value) in [(enc, -1.0), (pre, 0.0)] {
        for v in &mut p[range.unwrap_or(0..0)] {
            *v = T::of(value);
        }
    }
    m.set_params(&p).unwrap();
    m
}

fn unit_roundoff<T: Real>() -> f64 {
    if size_of::<T>() == 4 {
        f64::from(f32::EPSILON) / 2.0
    } else {
        f64::EPSILON / 2.0
    }
}

fn max_abs<T: Real>(v: &[T]) -> f64 {
    v.iter().map(|x| x.f64().abs()).fold(0.0, f64::max)
}

fn max_diff<T: Real>(a: &[T], b: &[T]) -> f64 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x.f64() - y.f64()).abs())
        .fold(0.0, f64::max)
}

/// The architectures compared: one pair with TopK and with BatchTopK;
/// two pairs whose outer pair's codes (encoder side and decoder side) are
/// TopK, over a ReLU latent (the inner pair decodes densely on both paths,
/// so the outer code's selection sees the same bits on both); and a TopK
/// latent below a ReLU pair, whose sparse encoder gradient hands the outer
/// pair `∂L/∂a = dz E` (the encoder runs the same on both paths, so the
/// latent selection sees the same bits on both).
fn architectures() -> Vec<(Vec<usize>, Vec<Activation>, usize)> {
    vec![
        (vec![20, 64], vec![Activation::TopK { k: 4 }], 4),
        (vec![20, 64], vec![Activation::BatchTopK { k: 4 }], 4),
        (
            vec![20, 48, 24],
            vec![Activation::TopK { k: 3 }, Activation::Relu],
            3,
        ),
        (
            vec![20, 32, 64],
            vec![Activation::Relu, Activation::TopK { k: 4 }],
            4,
        ),
    ]
}

/// One comparison: the loss and gradient (with the AuxK term when `aux` is
/// given) of the forced sparse path against the forced dense path's. `Err`
/// says what differs beyond the tolerance.
///
/// Tolerance: the two paths add the same nonzero products in different
/// orders, so each decoder output, decoder-gradient and code-gradient
/// entry, and each entry of the latent pair's encoder gradient and of its
/// `∂L/∂x`, is within `2 γ_m` of its terms' magnitude sum of the other
/// path's (`γ_m ≈ m u`, `m <= max(r, n, d)` terms; the unit tests check
/// that bound entry by entry). Downstream (loss, outer gradients) these meet
/// data and weights of unit scale in sums whose magnitude is the
/// gradient's own at these random, uncancelled points, so the paths
/// differ by a few `u` relative to the gradient's largest entry (a NumPy
/// replay of the two orders gives 1-4 `u`), far inside the worst case of
/// `2 (r + d) u` used here, over the widest pair (about 1e-5 in f32,
/// 2e-14 in f64). A wrong
/// kernel (a missed term, a gradient at an inactive unit, a bias counted
/// twice) is off by the size of a term, orders of magnitude more.
fn compare_paths<T: Real>(
    spec: &AutoencoderSpec,
    seed: u64,
    k: usize,
    aux: Option<AuxKLoss<'_>>,
) -> Result<(), String> {
    let sparse: Autoencoder<T> =
        with_short_rows(model(&spec.clone().decode_path(DecodePath::Sparse), seed));
    let dense: Autoencoder<T> =
        with_short_rows(model(&spec.clone().decode_path(DecodePath::Dense), seed));
    assert_eq!(sparse.params_to_vec(), dense.params_to_vec());
    let n = 24;
    let x: DMatrix<T> = data(n, spec.dims[0], pre_bias(&dense).as_deref(), seed).map(T::of);
    let mut ws = Workspace::new();
    dense.forward_with(&x, &mut ws).unwrap();
    let count_positive = |code: &DMatrix<T>| -> Vec<usize> {
        (0..n)
            .map(|i| code.row(i).iter().filter(|&&v| v > T::zero()).count())
            .collect()
    };
    // Rows of the outer pair's TopK code keeping fewer than k positive
    // values (all-zero rows included) beside rows keeping k.
    if matches!(spec.hidden[0], Activation::TopK { .. }) {
        let positives = count_positive(&ws.encoder_activations()[0]);
        assert!(
            positives.iter().any(|&c| c < k),
            "no short row: {positives:?} {spec:?}"
        );
        assert!(positives.contains(&k), "no full row: {positives:?}");
    }
    // A BatchTopK code has rows keeping more than k, so the sparse encoder
    // gradient sees rows of dz with more than k nonzero entries.
    if matches!(spec.hidden.last(), Some(Activation::BatchTopK { .. })) {
        let positives = count_positive(ws.code().unwrap());
        assert!(
            positives.iter().any(|&c| c > k),
            "no row above k: {positives:?} {spec:?}"
        );
    }
    let loss = LossConfig::mse().with_l1(0.01);
    let norm = Normalizer::new(n).unwrap();
    let (ts, gs) = sparse.loss_and_grad_aux(&x, &x, &loss, aux, norm).unwrap();
    let (td, gd) = dense.loss_and_grad_aux(&x, &x, &loss, aux, norm).unwrap();
    if aux.is_some() && !(td.auxk > 0.0 && ts.auxk > 0.0) {
        return Err(format!(
            "no AuxK term: sparse {} dense {}",
            ts.auxk, td.auxk
        ));
    }
    let widest = spec.dims.windows(2).map(|w| w[0] + w[1]).max().unwrap();
    let tol = 2.0 * widest as f64 * unit_roundoff::<T>();
    if (ts.total - td.total).abs() > tol * td.total.abs() {
        return Err(format!("loss: sparse {} dense {}", ts.total, td.total));
    }
    let scale = max_abs(gd.as_slice());
    let diff = max_diff(gs.as_slice(), gd.as_slice());
    if diff > tol * scale {
        return Err(format!("gradient: max |Δ| {diff:e} of max |g| {scale:e}"));
    }
    for l in 0..spec.layer_count() {
        if let (Some(ps), Some(pd)) = (gs.tied_parts(l), gd.tied_parts(l)) {
            for (what, a, b) in [
                ("encoder", &ps.encoder, &pd.encoder),
                ("decoder", &ps.decoder, &pd.decoder),
            ] {
                let diff = max_diff(a, b);
                if diff > tol * max_abs(b) {
                    return Err(format!("layer {l} tied {what} part: max |Δ| {diff:e}"));
                }
            }
        }
    }
    Ok(())
}

/// [`compare_paths`] on each of `archs`, tied and untied, in every bias
/// mode, with `seed` and `aux`: fails naming every case whose paths
/// differ. Returns the number of cases compared.
fn compare_every_mode<T: Real>(
    archs: Vec<(Vec<usize>, Vec<Activation>, usize)>,
    seed: u64,
    aux: Option<AuxKLoss<'_>>,
) -> usize {
    let mut failures = Vec::new();
    let mut cases = 0;
    for (dims, hidden, k) in archs {
        for tied in [true, false] {
            for bias in BiasMode::ALL {
                let spec = AutoencoderSpec::new(&dims)
                    .activations(hidden.clone())
                    .bias(bias)
                    .tied(tied);
                if let Err(e) = compare_paths::<T>(&spec, seed, k, aux) {
                    failures.push(format!("{} {hidden:?} tied={tied} {bias:?}: {e}", T::NAME));
                }
                cases += 1;
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    cases
}

fn paths_agree<T: Real>() {
    assert_eq!(compare_every_mode::<T>(architectures(), 11, None), 32);
}

/// [`paths_agree`] with the AuxK term on (a third of the latents dead), on
/// the single pairs AuxK needs.
fn paths_agree_with_auxk<T: Real>() {
    let dead: Vec<bool> = (0..64).map(|j| j % 3 == 1).collect();
    let aux = AuxKLoss::new(
        AuxK {
            k_aux: 6,
            alpha: 0.25,
        },
        &dead,
    );
    let single_pairs = architectures()
        .into_iter()
        .filter(|(dims, _, _)| dims.len() == 2)
        .collect();
    assert_eq!(compare_every_mode::<T>(single_pairs, 12, Some(aux)), 16);
}

/// The sparse path's loss and every gradient entry (tied parts included)
/// equal the dense path's to rounding, in f32.
#[test]
fn sparse_path_matches_dense_path_f32() {
    paths_agree::<f32>();
}

/// As [`sparse_path_matches_dense_path_f32`], in f64.
#[test]
fn sparse_path_matches_dense_path_f64() {
    paths_agree::<f64>();
}

/// With the AuxK term on, the sparse path's loss and every gradient entry
/// equal the dense path's to rounding, in f32.
#[test]
fn sparse_path_matches_dense_path_with_auxk_f32() {
    paths_agree_with_auxk::<f32>();
}

/// As [`sparse_path_matches_dense_path_with_auxk_f32`], in f64.
#[test]
fn sparse_path_matches_dense_path_with_auxk_f64() {
    paths_agree_with_auxk::<f64>();
}

/// For `base` tied and untied, in every bias mode, on the sparse path: the
/// first of seeds 0..500 whose model ([`model`]) and input (`input(seed)`)
/// `accept` takes (told the bias mode) and whose forward pass is away from
/// every kink and selection tie ([`near_kink`]), and there the analytic
/// gradient of `loss` against central differences. Panics with `want`
/// where no seed fits, naming the case where the two differ. Returns the
/// number of cases checked.
fn finite_differences_in_every_mode(
    base: &AutoencoderSpec,
    loss: &LossConfig,
    input: impl Fn(u64) -> DMatrix<f64>,
    accept: impl Fn(&Autoencoder<f64>, &DMatrix<f64>, BiasMode) -> bool,
    want: &str,
) -> usize {
    let mut checked = 0;
    for tied in [true, false] {
        for bias in BiasMode::ALL {
            let spec = base
                .clone()
                .bias(bias)
                .tied(tied)
                .decode_path(DecodePath::Sparse);
            let found = (0..500u64).find_map(|seed| {
                let m: Autoencoder<f64> = model(&spec, seed);
                let x = input(seed);
                (accept(&m, &x, bias) && !near_kink(&m, &x, loss)).then_some((m, x))
            });
            let (m, x) = found.expect(want);
            let (_, grad) = m.objective_and_grad(&x, &x, loss).unwrap();
            let numeric = numeric_gradient(&m, &x, &x, loss);
            if let Err(e) = compare(&m, grad.as_slice(), &numeric) {
                panic!("tied={tied} {bias:?}: {e}");
            }
            checked += 1;
        }
    }
    checked
}

/// Central differences of the loss (MSE + L1), evaluated through the
/// sparse path's forward pass, against its analytic gradient (the sparse
/// decoder kernels and the sparse encoder weight gradient), for every
/// parameter: tied and untied, every bias mode. Seeds are drawn until the
/// forward pass is away from every kink and selection tie (`near_kink`)
/// and, where the pair has an encoder bias (which `model` makes negative),
/// the code has a row keeping fewer than `k` positive values.
#[test]
fn finite_differences_through_the_sparse_path() {
    let k = 3;
    let checked = finite_differences_in_every_mode(
        &AutoencoderSpec::new(&[6, 24]).activation(Activation::TopK { k }),
        &LossConfig::mse().with_l1(0.02),
        |seed| random_matrix(5, 6, -1.0, 1.0, seed + 1000),
        |m, x, bias| {
            let want_short = matches!(bias, BiasMode::Separate | BiasMode::Mirrored);
            let code = m.encode(x).unwrap();
            let short = (0..5).any(|i| code.row(i).iter().filter(|&&v| v > 0.0).count() < k);
            short || !want_short
        },
        "a seed away from kinks with a short row",
    );
    assert_eq!(checked, 8);
}

/// As [`finite_differences_through_the_sparse_path`] for a TopK latent
/// below a ReLU pair, so the outer pair's gradient comes through the
/// latent's sparse `∂L/∂x = dz E` (with the sparse encoder weight gradient
/// beside it). Inputs are uniform in [-2, 2], so the outer ReLU passes
/// enough for the latent code to fire past `model`'s negative encoder
/// biases; seeds are drawn until the forward pass is away from every kink
/// and tie and the code keeps a positive value in at least three of the
/// five rows (so `dz` reaches their `∂L/∂x`).
#[test]
fn finite_differences_through_a_sparse_latent_below_a_pair() {
    let checked = finite_differences_in_every_mode(
        &AutoencoderSpec::new(&[6, 10, 16])
            .activations(vec![Activation::Relu, Activation::TopK { k: 3 }]),
        &LossConfig::mse().with_l1(0.02),
        |seed| random_matrix(5, 6, -2.0, 2.0, seed + 2000),
        |m, x, _| {
            let code = m.encode(x).unwrap();
            let firing = (0..5)
                .filter(|&i| code.row(i).iter().any(|&v| v > 0.0))
                .count();
            firing >= 3
        },
        "a seed away from kinks whose code fires in three rows",
    );
    assert_eq!(checked, 8);
}

/// `Auto` gives the forced sparse path's bits at density `k / r = 1/8`
/// and the forced dense path's just above it, and both paths differ in
/// their bits somewhere there (so the comparison can tell them apart).
#[test]
fn auto_follows_the_density_rule() {
    let loss = LossConfig::mse();
    let run = |r: usize, path: DecodePath| {
        let spec = AutoencoderSpec::new(&[10, r])
            .activation(Activation::TopK { k: 8 })
            .tied(false)
            .decode_path(path);
        let m: Autoencoder<f32> = model(&spec, 5);
        let x = random_matrix(16, 10, -1.0, 1.0, 6).map(|v| v as f32);
        let norm = Normalizer::new(16).unwrap();
        m.loss_and_grad(&x, &x, &loss, norm).unwrap().1.into_vec()
    };
    assert_eq!(run(64, DecodePath::Auto), run(64, DecodePath::Sparse));
    assert_eq!(run(63, DecodePath::Auto), run(63, DecodePath::Dense));
    assert_ne!(run(64, DecodePath::Sparse), run(64, DecodePath::Dense));
}

/// Training through the sparse path (decoder and latent encoder gradient)
/// gives the same bits on 1, 2 and 3 threads (batches of several shards),
/// tied and untied, TopK and BatchTopK (whose rows keep more than `k`),
/// with AuxK revival on (dead latents within the window of 50 samples).
#[test]
fn sparse_training_is_thread_count_independent() {
    let x = random_matrix(200, 16, 0.0, 1.0, 40).map(|v| v as f32);
    let cases = [true, false].into_iter().flat_map(|tied| {
        [
            (tied, Activation::TopK { k: 4 }),
            (tied, Activation::BatchTopK { k: 4 }),
        ]
    });
    for (tied, act) in cases {
        let spec = AutoencoderSpec::new(&[16, 128])
            .activation(act)
            .bias(BiasMode::PreCentering)
            .init(Init::TiedGlorotUniform)
            .tied(tied)
            .decode_path(DecodePath::Sparse);
        let cfg = TrainConfig::new()
            .epochs(2)
            .batch_size(64)
            .shard_size(16)
            .optimizer(Optimizer::adam())
            .learning_rate(5e-3)
            .unit_norm_decoder(true)
            .dead_latents(DeadLatents::window(50).with_auxk(8, 1.0 / 32.0))
            .seed(3)
            .progress(Progress::Silent);
        let run = |threads: usize| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap()
                .install(|| {
                    Trainer::new(cfg.clone())
                        .unwrap()
                        .fit(Autoencoder::<f32>::new(&spec, 8).unwrap(), &x)
                        .unwrap()
                })
        };
        let a = run(1);
        assert!(
            a.history.epochs.iter().any(|e| e.train.auxk > 0.0),
            "tied={tied} {act:?}: the AuxK term never acted"
        );
        for threads in [2, 3] {
            let b = run(threads);
            assert_eq!(
                a.model.params_to_vec(),
                b.model.params_to_vec(),
                "tied={tied} {act:?} threads={threads}"
            );
            assert_eq!(a.history.train_loss(), b.history.train_loss());
        }
    }
}

/// The spec's serialized form leaves `decode_path` out when `auto` (files
/// written before it existed read back unchanged) and keeps a forced path.
#[test]
fn decode_path_serializes_only_when_forced() {
    let spec = AutoencoderSpec::new(&[10, 64]).activation(Activation::TopK { k: 4 });
    let auto = serde_json::to_string(&spec).unwrap();
    assert!(!auto.contains("decode_path"), "{auto}");
    let back: AutoencoderSpec = serde_json::from_str(&auto).unwrap();
    assert_eq!(back.decode_path, DecodePath::Auto);
    for path in [DecodePath::Dense, DecodePath::Sparse] {
        let forced = spec.clone().decode_path(path);
        let text = serde_json::to_string(&forced).unwrap();
        assert!(
            text.contains(&format!("\"decode_path\":\"{}\"", path.name())),
            "{text}"
        );
        let back: AutoencoderSpec = serde_json::from_str(&text).unwrap();
        assert_eq!(back, forced);
    }
}
