//! Convolutional tied autoencoders: the conv maps against their definition
//! and their adjoint identity, finite-difference gradients of conv stacks,
//! batch/row equality, determinism, files, parameter counts and errors.
//!
//! Oracles: a direct loop over the cross-correlation formula; the adjoint
//! identity `⟨conv(x), y⟩ = ⟨x, conv_transpose(y)⟩`; central differences in
//! f64 (step 1e-6, pass when |analytic − numeric| <= 1e-5 + 1e-3 |numeric|);
//! the untied pair with `K_dec = K_enc` for the tied parts; parameter counts
//! from the closed-form formulas written out here.

mod fd;
mod threads;

use fd::{compare, near_kink, numeric_gradient, random_matrix};
use nalgebra::DMatrix;
use rand::RngExt;
use tiedae::Error;
use tiedae::model::{
    Activation, Autoencoder, AutoencoderSpec, BiasMode, Conv2d, ConvSpec, Dense, ImageShape, Layer,
    LossConfig, Normalizer, OutputActivation, TiedLinear,
};
use tiedae::rng::seeded;

// ---------------------------------------------------------------------------
// The conv maps
// ---------------------------------------------------------------------------

/// Geometries over channels, sizes, rectangular kernels, strides and
/// paddings; the impossible ones are returned separately.
fn geometry_grid() -> (Vec<Conv2d>, Vec<(ImageShape, ConvSpec)>) {
    let mut ok = vec![];
    let mut bad = vec![];
    for (c_in, c_out) in [(1, 1), (1, 3), (2, 1), (3, 2)] {
        for (h, w) in [(1, 1), (4, 4), (5, 7), (8, 3)] {
            for kernel in [[1, 1], [2, 2], [3, 3], [2, 3], [3, 1]] {
                for stride in [[1, 1], [2, 2], [3, 1], [1, 2]] {
                    for padding in [[0, 0], [1, 1], [0, 1], [2, 2]] {
                        let input = ImageShape::new(c_in, h, w);
                        let spec = ConvSpec {
                            out_channels: c_out,
                            kernel,
                            stride,
                            padding,
                        };
                        match Conv2d::new(input, &spec) {
                            Ok(g) => ok.push(g),
                            Err(_) => bad.push((input, spec)),
                        }
                    }
                }
            }
        }
    }
    (ok, bad)
}

/// The cross-correlation formula, one output value at a time.
fn direct_conv(g: &Conv2d, x: &DMatrix<f64>, k: &DMatrix<f64>) -> DMatrix<f64> {
    let (i, o) = (g.input(), g.output());
    let ([kh, kw], [sh, sw], [ph, pw]) = (g.kernel(), g.stride(), g.padding());
    DMatrix::from_fn(x.nrows(), o.len(), |n, f| {
        let (oc, oy, ox) = (f / o.pixels(), (f % o.pixels()) / o.width, f % o.width);
        let mut s = 0.0;
        for c in 0..i.channels {
            for a in 0..kh {
                for b in 0..kw {
                    let y = (oy * sh + a) as isize - ph as isize;
                    let xx = (ox * sw + b) as isize - pw as isize;
                    if y < 0 || xx < 0 || y >= i.height as isize || xx >= i.width as isize {
                        continue;
                    }
                    let pixel = x[(n, c * i.pixels() + y as usize * i.width + xx as usize)];
                    s += k[(oc, (c * kh + a) * kw + b)] * pixel;
                }
            }
        }
        s
    })
}

/// The transposed convolution as a scatter: each input value spreads over
/// the window it was computed from.
fn direct_conv_transpose(g: &Conv2d, y: &DMatrix<f64>, k: &DMatrix<f64>) -> DMatrix<f64> {
    let (i, o) = (g.input(), g.output());
    let ([kh, kw], [sh, sw], [ph, pw]) = (g.kernel(), g.stride(), g.padding());
    let mut out = DMatrix::zeros(y.nrows(), i.len());
    for n in 0..y.nrows() {
        for oc in 0..o.channels {
            for oy in 0..o.height {
                for ox in 0..o.width {
                    let v = y[(n, oc * o.pixels() + oy * o.width + ox)];
                    for c in 0..i.channels {
                        for a in 0..kh {
                            for b in 0..kw {
                                let yy = (oy * sh + a) as isize - ph as isize;
                                let xx = (ox * sw + b) as isize - pw as isize;
                                if yy < 0
                                    || xx < 0
                                    || yy >= i.height as isize
                                    || xx >= i.width as isize
                                {
                                    continue;
                                }
                                let f = c * i.pixels() + yy as usize * i.width + xx as usize;
                                out[(n, f)] += k[(oc, (c * kh + a) * kw + b)] * v;
                            }
                        }
                    }
                }
            }
        }
    }
    out
}

#[test]
fn adjoint_identity_holds_over_a_grid_of_geometries() {
    let (grid, _) = geometry_grid();
    assert!(grid.len() > 500, "only {} geometries", grid.len());
    let mut strided = 0;
    for (t, g) in grid.iter().enumerate() {
        let seed = 10 * t as u64;
        let (rows, cols) = g.kernel_shape();
        let k = random_matrix(rows, cols, -1.0, 1.0, seed);
        let x = random_matrix(3, g.input().len(), -1.0, 1.0, seed + 1);
        let y = random_matrix(3, g.output().len(), -1.0, 1.0, seed + 2);
        let cx = g.conv2d(&x, &k).unwrap();
        let ty = g.conv_transpose2d(&y, &k).unwrap();
        let lhs = cx.dot(&y);
        let rhs = x.dot(&ty);
        // Relative to the sum of the magnitudes of the products, which cannot
        // cancel, so a near-zero inner product does not loosen the test.
        let scale: f64 = cx.iter().zip(y.iter()).map(|(a, b)| (a * b).abs()).sum();
        assert!(
            (lhs - rhs).abs() <= 1e-10 * scale,
            "{g:?}: <conv x, y> = {lhs:e}, <x, conv_t y> = {rhs:e}"
        );
        if g.stride() != [1, 1] {
            strided += 1;
        }
    }
    assert!(strided > 200);
}

#[test]
fn conv_maps_match_their_definitions() {
    let (grid, _) = geometry_grid();
    for (t, g) in grid.iter().enumerate().step_by(3) {
        let seed = 7 + 10 * t as u64;
        let (rows, cols) = g.kernel_shape();
        let k = random_matrix(rows, cols, -1.0, 1.0, seed);
        let x = random_matrix(2, g.input().len(), -1.0, 1.0, seed + 1);
        let y = random_matrix(2, g.output().len(), -1.0, 1.0, seed + 2);
        let got = g.conv2d(&x, &k).unwrap();
        let want = direct_conv(g, &x, &k);
        assert!((&got - &want).amax() <= 1e-12, "{g:?} conv2d");
        let got = g.conv_transpose2d(&y, &k).unwrap();
        let want = direct_conv_transpose(g, &y, &k);
        assert!((&got - &want).amax() <= 1e-12, "{g:?} conv_transpose2d");
    }
}

#[test]
fn output_shapes_follow_the_formula_and_impossible_geometry_is_rejected() {
    let (grid, bad) = geometry_grid();
    for g in &grid {
        let (i, o) = (g.input(), g.output());
        for a in 0..2 {
            let n = [i.height, i.width][a];
            let (k, s, p) = (g.kernel()[a], g.stride()[a], g.padding()[a]);
            assert_eq!([o.height, o.width][a], (n + 2 * p - k) / s + 1);
        }
    }
    assert!(!bad.is_empty());
    for (input, spec) in bad {
        let fits = (0..2).all(|a| {
            let n = [input.height, input.width][a];
            spec.padding[a] < spec.kernel[a] && n + 2 * spec.padding[a] >= spec.kernel[a]
        });
        assert!(!fits, "{input:?} {spec:?} was rejected but fits");
        match Conv2d::new(input, &spec) {
            Err(Error::Config { field: "conv", .. }) => {}
            other => panic!("{input:?} {spec:?}: {other:?}"),
        }
    }
    let img = ImageShape::new(1, 5, 5);
    for spec in [
        ConvSpec::new(0, 3, 1, 1),
        ConvSpec::new(2, 0, 1, 0),
        ConvSpec::new(2, 3, 0, 1),
        ConvSpec::new(2, 7, 1, 0),
        ConvSpec::new(2, 3, 1, 3),
    ] {
        let err = Conv2d::new(img, &spec).unwrap_err();
        assert!(matches!(err, Error::Config { .. }), "{spec:?}: {err}");
        let err = AutoencoderSpec::conv(img, &[spec]).unwrap_err();
        assert!(err.to_string().contains("conv pair 0"), "{err}");
    }
    assert!(Conv2d::new(ImageShape::new(0, 5, 5), &ConvSpec::new(1, 3, 1, 1)).is_err());
    assert!(AutoencoderSpec::conv(img, &[]).is_err());
    let huge = ImageShape::new(usize::MAX / 2, 4, 4);
    assert!(matches!(
        Conv2d::new(huge, &ConvSpec::new(1, 1, 1, 0)),
        Err(Error::Config { .. })
    ));
}

#[test]
fn bad_inputs_get_clear_errors() {
    let g = Conv2d::new(ImageShape::new(2, 4, 4), &ConvSpec::new(3, 3, 1, 1)).unwrap();
    let k = DMatrix::<f64>::zeros(3, 18);
    let x = DMatrix::<f64>::zeros(2, 32);
    assert!(matches!(
        g.conv2d(&x, &DMatrix::zeros(3, 17)),
        Err(Error::Shape(_))
    ));
    assert!(matches!(
        g.conv2d(&DMatrix::zeros(2, 31), &k),
        Err(Error::Shape(_))
    ));
    assert!(matches!(g.conv_transpose2d(&x, &k), Err(Error::Shape(_))));
    let mut nan = x.clone();
    nan[(1, 3)] = f64::NAN;
    assert!(matches!(g.conv2d(&nan, &k), Err(Error::InvalidData(_))));
    let mut knan = k.clone();
    knan[(0, 0)] = f64::INFINITY;
    assert!(matches!(g.conv2d(&x, &knan), Err(Error::InvalidData(_))));

    // Conv pairs take per-channel none/separate biases only.
    let spec =
        AutoencoderSpec::conv(ImageShape::new(2, 4, 4), &[ConvSpec::new(3, 3, 1, 1)]).unwrap();
    for bias in [BiasMode::Mirrored, BiasMode::PreCentering] {
        match Autoencoder::<f64>::new(&spec.clone().bias(bias), 0) {
            Err(Error::Config {
                field: "bias",
                reason,
            }) => {
                assert!(reason.contains(bias.name()), "{reason}")
            }
            other => panic!("{bias:?}: {other:?}"),
        }
    }
    let biases = tiedae::model::Biases::zeros(BiasMode::Separate, 32, 48);
    assert!(matches!(
        TiedLinear::conv_pair(g, k.clone(), biases),
        Err(Error::Shape(_))
    ));
    // A spec whose widths contradict its conv pairs.
    let mut wrong = spec.clone();
    wrong.dims[1] += 1;
    assert!(matches!(
        Autoencoder::<f64>::new(&wrong, 0),
        Err(Error::Config { field: "dims", .. })
    ));
    // More conv pairs than pairs.
    let mut short = spec.clone();
    short
        .conv
        .as_mut()
        .unwrap()
        .layers
        .push(ConvSpec::new(1, 1, 1, 0));
    assert!(Autoencoder::<f64>::new(&short, 0).is_err());
    // A model rejects rows that are not images of its shape.
    let m = Autoencoder::<f64>::new(&spec, 0).unwrap();
    assert!(matches!(
        m.reconstruct(&DMatrix::zeros(2, 31)),
        Err(Error::Shape(_))
    ));
}

// ---------------------------------------------------------------------------
// Finite-difference gradients
// ---------------------------------------------------------------------------

/// A model whose every parameter is random, so no gradient entry is
/// trivially zero.
fn random_model(spec: &AutoencoderSpec, seed: u64) -> Autoencoder<f64> {
    let mut m = Autoencoder::<f64>::new(spec, seed).unwrap();
    let mut rng = seeded(seed ^ 0xC0DE);
    let p: Vec<f64> = (0..m.n_params())
        .map(|_| rng.random_range(-0.6..0.6))
        .collect();
    m.set_params(&p).unwrap();
    m
}

/// Loss cases, each with the spec changes it needs (sigmoid output for BCE,
/// sigmoid latent for KL).
fn loss_cases() -> Vec<(&'static str, LossConfig)> {
    vec![
        ("mse", LossConfig::mse()),
        ("bce", LossConfig::bce()),
        ("mse+l1", LossConfig::mse().with_l1(0.05)),
        ("mse+kl", LossConfig::mse().with_kl(0.2, 0.3)),
        ("mse+l2", LossConfig::mse().with_l2(0.07)),
        (
            "bce+all",
            LossConfig::bce()
                .with_l1(0.03)
                .with_kl(0.3, 0.2)
                .with_l2(0.05),
        ),
    ]
}

fn adapt(spec: AutoencoderSpec, loss: &LossConfig, name: &str) -> AutoencoderSpec {
    let mut spec = if name.starts_with("bce") || name == "mse+l1" {
        spec.output(OutputActivation::Sigmoid)
    } else {
        spec
    };
    if loss.kl.is_some() {
        *spec.hidden.last_mut().unwrap() = Activation::Sigmoid;
    }
    spec
}

/// Small conv architectures: one conv pair; two conv pairs with rectangular
/// kernels, unequal strides and uncovered pixels, then a dense pair.
fn architectures() -> Vec<(&'static str, AutoencoderSpec)> {
    vec![
        (
            "conv",
            AutoencoderSpec::conv(ImageShape::new(1, 5, 4), &[ConvSpec::new(2, 3, 2, 1)]).unwrap(),
        ),
        (
            "conv-conv-dense",
            AutoencoderSpec::conv(
                ImageShape::new(2, 5, 6),
                &[
                    ConvSpec {
                        out_channels: 3,
                        kernel: [2, 3],
                        stride: [2, 1],
                        padding: [1, 0],
                    },
                    ConvSpec::new(2, 2, 1, 0),
                ],
            )
            .unwrap()
            .then_dense(&[3]),
        ),
    ]
}

fn tie_patterns(pairs: usize) -> Vec<Vec<bool>> {
    let mut p = vec![vec![true; pairs], vec![false; pairs]];
    if pairs > 1 {
        p.push((0..pairs).map(|l| l % 2 == 0).collect());
    }
    p
}

/// One case: finite differences for every entry; for tied pairs, the parts
/// sum to the kernel's gradient and dropping the decoder part is caught.
/// Returns (tied pairs whose teeth were tested, tied pairs).
fn run_case(spec: &AutoencoderSpec, loss: &LossConfig) -> Result<(usize, usize), String> {
    let d = spec.input_dim();
    let mut found = None;
    for attempt in 0..100u64 {
        let seed = 1000 * attempt + 29;
        let m = random_model(spec, seed);
        let x = random_matrix(3, d, 0.0, 1.0, seed + 1);
        let t = random_matrix(3, d, 0.0, 1.0, seed + 2);
        if !near_kink(&m, &x, loss) {
            found = Some((m, x, t));
            break;
        }
    }
    let (m, x, t) = found.ok_or("every seed lands near a kink")?;
    let (_, grad) = m
        .objective_and_grad(&x, &t, loss)
        .map_err(|e| e.to_string())?;
    let numeric = numeric_gradient(&m, &x, &t, loss);
    compare(&m, grad.as_slice(), &numeric)?;

    let mut teeth = 0;
    let mut tied = 0;
    for (l, slots) in m.layout().layers().iter().enumerate() {
        let Some(parts) = grad.tied_parts(l) else {
            continue;
        };
        tied += 1;
        let w = m.layers()[l].encoder_weight();
        let cols = w.ncols();
        for k in 0..slots.weight.len() {
            let decay = loss.l2 * w[(k / cols, k % cols)];
            let sum = parts.encoder[k] + parts.decoder[k];
            let g = grad.as_slice()[slots.weight.start + k];
            if (g - (sum + decay)).abs() > 1e-14 * (1.0 + g.abs()) {
                return Err(format!(
                    "layer {l} entry {k}: gradient {g} != parts {sum} + decay {decay}"
                ));
            }
        }
        let dec_norm = parts.decoder.iter().map(|v| v * v).sum::<f64>().sqrt();
        if dec_norm > 1e-3 {
            let mut without = grad.as_slice().to_vec();
            for (k, v) in parts.decoder.iter().enumerate() {
                without[slots.weight.start + k] -= v;
            }
            if compare(&m, &without, &numeric).is_ok() {
                return Err(format!(
                    "layer {l}: dropping the decoder part went unnoticed"
                ));
            }
            teeth += 1;
        }
    }
    Ok((teeth, tied))
}

#[test]
fn finite_differences_over_conv_stacks() {
    let mut failures = vec![];
    let (mut cases, mut teeth, mut tied, mut conv_pairs) = (0, 0, 0, 0);
    for (arch, base) in architectures() {
        for act in Activation::all() {
            for bias in [BiasMode::None, BiasMode::Separate] {
                for (name, loss) in loss_cases() {
                    for ties in tie_patterns(base.layer_count()) {
                        let spec = adapt(
                            base.clone()
                                .activation(act)
                                .bias(bias)
                                .tied_per_layer(ties.clone()),
                            &loss,
                            name,
                        );
                        conv_pairs += spec.conv_count();
                        match run_case(&spec, &loss) {
                            Ok((t, p)) => {
                                teeth += t;
                                tied += p;
                            }
                            Err(e) => failures
                                .push(format!("{arch} {act:?} {bias:?} {name} tied={ties:?}: {e}")),
                        }
                        cases += 1;
                    }
                }
            }
        }
    }
    assert_eq!(cases, Activation::all().len() * 2 * 6 * (2 + 3));
    assert!(conv_pairs > cases);
    assert!(
        failures.is_empty(),
        "{} of {cases} cases failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(teeth * 10 >= tied * 9, "teeth tested on {teeth} of {tied}");
}

/// The oracle has teeth on a conv pair: keeping only one part of the tied
/// kernel gradient fails the finite-difference check.
#[test]
fn dropping_either_part_of_a_tied_conv_gradient_fails_the_check() {
    let spec = AutoencoderSpec::conv(ImageShape::new(2, 4, 5), &[ConvSpec::new(3, 3, 1, 1)])
        .unwrap()
        .activation(Activation::Tanh);
    let m = random_model(&spec, 5);
    let x = random_matrix(3, 40, 0.0, 1.0, 6);
    let loss = LossConfig::mse();
    let (_, grad) = m.objective_and_grad(&x, &x, &loss).unwrap();
    let numeric = numeric_gradient(&m, &x, &x, &loss);
    compare(&m, grad.as_slice(), &numeric).unwrap();
    let parts = grad.tied_parts(0).unwrap();
    let w = m.layout().layers()[0].weight.clone();
    assert_eq!(w.len(), 3 * 2 * 9);
    for (name, kept) in [("encoder", &parts.encoder), ("decoder", &parts.decoder)] {
        let mut only = grad.as_slice().to_vec();
        only[w.clone()].copy_from_slice(kept);
        let err = compare(&m, &only, &numeric).expect_err(name);
        assert!(err.contains("layer 0 weight"), "{err}");
    }
    let norms = grad.layer_norms();
    assert!(norms[0].encoder_part.unwrap() > 0.0 && norms[0].decoder_part.unwrap() > 0.0);
}

/// A tied conv pair is the untied pair with `K_dec = K_enc`; the untied
/// gradient's two kernels are the tied parts.
#[test]
fn tied_conv_parts_equal_the_gradients_of_the_equivalent_untied_model() {
    for (_, base) in architectures() {
        let tied_spec = base.activation(Activation::Softplus);
        let tied = random_model(&tied_spec, 11);
        let untied_spec = tied_spec.clone().tied(false);
        let mut untied = Autoencoder::<f64>::new(&untied_spec, 0).unwrap();
        let pt = tied.params_to_vec();
        let mut pu = vec![0.0; untied.n_params()];
        for (ts, us) in tied.layout().layers().iter().zip(untied.layout().layers()) {
            pu[us.weight.clone()].copy_from_slice(&pt[ts.weight.clone()]);
            let (dec, tw) = (us.decoder_weight.clone().unwrap(), ts.weight.clone());
            if us.conv.is_some() {
                pu[dec].copy_from_slice(&pt[tw]);
            } else {
                // Dense W_dec = Wᵀ: row-major d x r from row-major r x d.
                let (r, d) = (ts.output_dim, ts.input_dim);
                for i in 0..r {
                    for j in 0..d {
                        pu[dec.start + j * r + i] = pt[tw.start + i * d + j];
                    }
                }
            }
            pu[us.biases.clone()].copy_from_slice(&pt[ts.biases.clone()]);
        }
        untied.set_params(&pu).unwrap();
        let x = random_matrix(4, tied.input_dim(), 0.0, 1.0, 12);
        let loss = LossConfig::mse();
        assert_eq!(
            tied.reconstruct(&x).unwrap(),
            untied.reconstruct(&x).unwrap()
        );
        let (_, gt) = tied.objective_and_grad(&x, &x, &loss).unwrap();
        let (_, gu) = untied.objective_and_grad(&x, &x, &loss).unwrap();
        for (l, (ts, us)) in tied
            .layout()
            .layers()
            .iter()
            .zip(untied.layout().layers())
            .enumerate()
        {
            if ts.conv.is_none() {
                continue;
            }
            let parts = gt.tied_parts(l).unwrap();
            let ge = &gu.as_slice()[us.weight.clone()];
            let gd = &gu.as_slice()[us.decoder_weight.clone().unwrap()];
            for k in 0..ts.weight.len() {
                assert!((parts.encoder[k] - ge[k]).abs() <= 1e-12 * (1.0 + ge[k].abs()));
                assert!((parts.decoder[k] - gd[k]).abs() <= 1e-12 * (1.0 + gd[k].abs()));
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Batches, determinism, files, counts
// ---------------------------------------------------------------------------

fn mnist_like_spec() -> AutoencoderSpec {
    AutoencoderSpec::conv(
        ImageShape::new(1, 12, 10),
        &[ConvSpec::new(4, 4, 2, 1), ConvSpec::new(6, 3, 2, 1)],
    )
    .unwrap()
    .then_dense(&[5])
    .activation(Activation::Relu)
    .output(OutputActivation::Sigmoid)
}

#[test]
fn a_batch_equals_its_rows_one_by_one() {
    check_rows_one_by_one(&mnist_like_spec(), 9);
    // Big enough that the batch's patch matrices are processed in several
    // blocks of output positions while single rows fit in one.
    let big = AutoencoderSpec::conv(ImageShape::new(3, 20, 20), &[ConvSpec::new(4, 3, 1, 1)])
        .unwrap()
        .then_dense(&[6])
        .activation(Activation::Tanh)
        .output(OutputActivation::Sigmoid);
    check_rows_one_by_one(&big, 40);

    // f32: the forward pass is row-independent bit for bit too.
    let spec = mnist_like_spec();
    let x = random_matrix(9, spec.input_dim(), 0.0, 1.0, 4);
    let m32 = Autoencoder::<f32>::new(&spec, 3).unwrap();
    let x32 = x.map(|v| v as f32);
    let batch = m32.encode(&x32).unwrap();
    for i in 0..9 {
        let code = m32.encode(&x32.rows(i, 1).into_owned()).unwrap();
        assert_eq!(code.row(0), batch.row(i));
    }
}

/// Reconstructions bit for bit, loss and gradient (tied parts included) to
/// rounding: a batch against the sum of its rows.
fn check_rows_one_by_one(spec: &AutoencoderSpec, rows: usize) {
    let m64 = random_model(spec, 3);
    let x = random_matrix(rows, spec.input_dim(), 0.0, 1.0, 4);
    let loss = LossConfig::bce().with_l1(0.01);
    let norm = Normalizer::new(rows).unwrap();
    let batch = m64.reconstruct(&x).unwrap();
    let (bt, bg) = m64.loss_and_grad(&x, &x, &loss, norm).unwrap();
    let mut sum_g = m64.zero_gradient();
    let mut sum_t = 0.0;
    for i in 0..rows {
        let row = x.rows(i, 1).into_owned();
        let r = m64.reconstruct(&row).unwrap();
        assert_eq!(r.row(0), batch.row(i), "row {i} reconstruction differs");
        let (t, g) = m64.loss_and_grad(&row, &row, &loss, norm).unwrap();
        sum_t += t.total;
        sum_g.add_assign(&g).unwrap();
    }
    assert!((sum_t - bt.total).abs() <= 1e-12 * bt.total.abs());
    for (a, b) in sum_g.as_slice().iter().zip(bg.as_slice()) {
        assert!((a - b).abs() <= 1e-12 * (1.0 + b.abs()), "{a} vs {b}");
    }
    for l in 0..spec.layer_count() {
        let (p, q) = (sum_g.tied_parts(l).unwrap(), bg.tied_parts(l).unwrap());
        for (a, b) in p.decoder.iter().zip(&q.decoder) {
            assert!((a - b).abs() <= 1e-12 * (1.0 + b.abs()));
        }
    }
}

#[test]
fn same_seed_same_bits_whatever_the_thread_count() {
    let spec = mnist_like_spec().tied_per_layer(vec![true, false, true]);
    let run = |threads: usize| {
        threads::on_threads(threads, || {
            let m = Autoencoder::<f32>::new(&spec, 42).unwrap();
            let x = random_matrix(16, spec.input_dim(), 0.0, 1.0, 43).map(|v| v as f32);
            let (t, g) = m
                .objective_and_grad(&x, &x, &LossConfig::bce().with_l2(1e-3))
                .unwrap();
            (m.params_to_vec(), t.total.to_bits(), g)
        })
    };
    let (p1, t1, g1) = run(1);
    let (p2, t2, g2) = run(2);
    assert_eq!(p1, p2);
    assert_eq!(t1, t2);
    assert_eq!(g1, g2);
    let other = Autoencoder::<f32>::new(&spec, 41).unwrap().params_to_vec();
    assert_ne!(p1, other);
    // Tied and untied versions start from the same encoder kernels.
    let untied = Autoencoder::<f32>::new(&spec.clone().tied(false), 42).unwrap();
    let tied = Autoencoder::<f32>::new(&spec.clone().tied(true), 42).unwrap();
    for l in 0..2 {
        assert_eq!(
            tied.layers()[l].encoder_weight(),
            untied.layers()[l].encoder_weight()
        );
        assert_eq!(
            tied.layers()[l].decoder_weight(),
            tied.layers()[l].encoder_weight().transpose()
        );
        assert_ne!(
            untied.layers()[l].decoder_weight(),
            untied.layers()[l].encoder_weight().transpose()
        );
    }
}

fn round_trip<T: tiedae::Real>(spec: &AutoencoderSpec, dir: &std::path::Path) {
    let m = Autoencoder::<T>::new(spec, 9).unwrap();
    let mut p = m.params_to_vec();
    let mut rng = seeded(10);
    for v in p.iter_mut() {
        *v = T::of(rng.random_range(-1.0..1.0));
    }
    let mut m = m;
    m.set_params(&p).unwrap();
    let path = dir.join(format!("conv-{}.json", T::NAME));
    m.save(&path).unwrap();
    let back = Autoencoder::<T>::load(&path).unwrap();
    assert_eq!(back, m);
    assert_eq!(back.params_to_vec(), p);
    for (a, b) in back.layers().iter().zip(m.layers()) {
        assert_eq!(a.conv(), b.conv());
    }
}

#[test]
fn save_load_round_trips_conv_models() {
    let dir = tempfile::tempdir().unwrap();
    for ties in [vec![true; 3], vec![false; 3], vec![false, true, false]] {
        for bias in [BiasMode::None, BiasMode::Separate] {
            let spec = mnist_like_spec().tied_per_layer(ties.clone()).bias(bias);
            round_trip::<f32>(&spec, dir.path());
            round_trip::<f64>(&spec, dir.path());
        }
    }
    // A file whose kernel contradicts its spec's geometry is refused.
    let spec = mnist_like_spec();
    let m = Autoencoder::<f64>::new(&spec, 1).unwrap();
    let text = String::from_utf8(m.to_json_bytes().unwrap()).unwrap();
    assert!(text.contains("\"conv\""));
    let bad = text.replacen("\"out_channels\":4", "\"out_channels\":3", 1);
    assert_ne!(bad, text);
    let err = Autoencoder::<f64>::from_json_bytes(bad.as_bytes(), "bad.json".as_ref())
        .expect_err("geometry contradicts dims");
    assert!(matches!(err, Error::Format { .. }), "{err}");
    // A conv file with a bias mode conv pairs do not support is refused.
    let bad = text.replace("\"bias\":\"separate\"", "\"bias\":\"mirrored\"");
    assert_ne!(bad, text);
    let err = Autoencoder::<f64>::from_json_bytes(bad.as_bytes(), "bad.json".as_ref())
        .expect_err("mirrored conv");
    assert!(err.to_string().contains("mirrored"), "{err}");
    // Dense model files carry no conv entry.
    let dense = Autoencoder::<f64>::new(&AutoencoderSpec::new(&[6, 3]), 0).unwrap();
    let text = String::from_utf8(dense.to_json_bytes().unwrap()).unwrap();
    assert!(!text.contains("conv"));
}

#[test]
fn parameter_counts_follow_the_formulas() {
    // 28x28 images, conv 1->8 (4x4, stride 2, pad 1) -> 8x14x14,
    // conv 8->16 (4x4, stride 2, pad 1) -> 16x7x7, then dense 784 -> 64.
    let image = ImageShape::new(1, 28, 28);
    let convs = [ConvSpec::new(8, 4, 2, 1), ConvSpec::new(16, 4, 2, 1)];
    let spec = AutoencoderSpec::conv(image, &convs)
        .unwrap()
        .then_dense(&[64]);
    assert_eq!(spec.dims, vec![784, 8 * 14 * 14, 16 * 7 * 7, 64]);
    let tied = Autoencoder::<f32>::new(&spec, 0).unwrap().parameter_count();
    let untied = Autoencoder::<f32>::new(&spec.clone().tied(false), 0)
        .unwrap()
        .parameter_count();
    let dense = Autoencoder::<f32>::new(&AutoencoderSpec::new(&[784, 64]), 0)
        .unwrap()
        .parameter_count();
    // Tied conv pair: C_out C_in k_h k_w weights, C_out + C_in biases.
    let conv1 = 8 * 16;
    let conv2 = 16 * 8 * 16;
    let dense_w = 784 * 64;
    assert_eq!(
        tied.layers.iter().map(|c| c.weights).collect::<Vec<_>>(),
        vec![conv1, conv2, dense_w]
    );
    assert_eq!(
        tied.layers.iter().map(|c| c.biases).collect::<Vec<_>>(),
        vec![8 + 1, 16 + 8, 64 + 784]
    );
    assert_eq!(tied.total, conv1 + conv2 + dense_w + 9 + 24 + 848);
    // Untied: every weight twice, biases unchanged.
    assert_eq!(untied.total, 2 * (conv1 + conv2 + dense_w) + 9 + 24 + 848);
    // The dense tied AE with the same latent: d r + d + r.
    assert_eq!(dense.total, 784 * 64 + 784 + 64);
    // Without biases the conv front costs only its kernels.
    let nb = Autoencoder::<f32>::new(&spec.clone().bias(BiasMode::None), 0).unwrap();
    assert_eq!(nb.n_params(), conv1 + conv2 + dense_w);
    // A pure conv tied AE: far fewer parameters than a dense tied AE of
    // the same widths.
    let pure = AutoencoderSpec::conv(image, &convs).unwrap();
    let conv_only = Autoencoder::<f32>::new(&pure, 0).unwrap().n_params();
    assert_eq!(conv_only, conv1 + conv2 + 9 + 24);
    let same_widths = AutoencoderSpec::new(&pure.dims);
    let dense_same = Autoencoder::<f32>::new(&same_widths, 0).unwrap().n_params();
    assert_eq!(
        dense_same,
        784 * 1568 + 1568 * 784 + (784 + 1568) + (1568 + 784)
    );
    // The layout names conv slots like dense ones.
    let m = Autoencoder::<f32>::new(&spec, 0).unwrap();
    let s = &m.layout().layers()[1];
    assert_eq!(s.encoder_bias().unwrap().len(), 16);
    assert_eq!(s.decoder_bias().unwrap().len(), 8);
    assert_eq!(m.describe_param(s.weight.start), "layer 1 weight");
    assert_eq!(
        m.describe_param(s.decoder_bias().unwrap().start),
        "layer 1 decoder bias"
    );
}

/// Layer-level maps agree with the stack and with the public conv maps.
#[test]
fn layer_maps_are_the_conv_maps_plus_channel_biases() {
    let g = Conv2d::new(ImageShape::new(2, 5, 5), &ConvSpec::new(3, 3, 2, 1)).unwrap();
    let k = random_matrix(3, 18, -1.0, 1.0, 1);
    let kd = random_matrix(3, 18, -1.0, 1.0, 2);
    let enc = nalgebra::DVector::from_vec(vec![0.5, -1.0, 2.0]);
    let dec = nalgebra::DVector::from_vec(vec![0.25, -0.75]);
    let biases = tiedae::model::Biases::Separate {
        enc: enc.clone(),
        dec: dec.clone(),
    };
    let tied = TiedLinear::conv_pair(g, k.clone(), biases.clone()).unwrap();
    let untied = Dense::conv_pair(g, k.clone(), kd.clone(), biases).unwrap();
    let x = random_matrix(2, 50, -1.0, 1.0, 3);
    let h = random_matrix(2, g.output().len(), -1.0, 1.0, 4);
    let z = tied.encode(&x).unwrap();
    let cz = g.conv2d(&x, &k).unwrap();
    let p = g.output().pixels();
    for n in 0..2 {
        for f in 0..z.ncols() {
            assert_eq!(z[(n, f)], cz[(n, f)] + enc[f / p]);
        }
    }
    let v = untied.decode(&h).unwrap();
    let tv = g.conv_transpose2d(&h, &kd).unwrap();
    for n in 0..2 {
        for f in 0..v.ncols() {
            assert_eq!(v[(n, f)], tv[(n, f)] + dec[f / 25]);
        }
    }
    assert_eq!(tied.input_dim(), 50);
    assert_eq!(tied.output_dim(), 3 * 9);
    let layer = Layer::Tied(tied);
    assert_eq!(layer.conv(), Some(&g));
}

// ---------------------------------------------------------------------------
// Conv vs dense on mnist10k
// ---------------------------------------------------------------------------

/// A 2-layer conv tied AE (two conv pairs, then a dense pair to the code)
/// reconstructs held-out mnist10k digits better than a dense tied AE with
/// the same 64-wide latent, with about half its parameters, under the same
/// training budget. A small version of `benches/conv.rs` (which prints the
/// full-size numbers).
#[test]
fn conv_tied_ae_beats_a_dense_tied_ae_with_the_same_latent_on_mnist10k() {
    use tiedae::data::{Dataset, train_test_split};
    use tiedae::train::{Optimizer, Progress, TrainConfig, Trainer};

    let epochs: usize = std::env::var("TIEDAE_CONV_TEST_EPOCHS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10);
    let ds = Dataset::builtin("mnist10k").unwrap();
    // Stratified splits: mnist10k rows are sorted by label.
    let (rest, test) = train_test_split(&ds, 0.1, 0).unwrap();
    let (_, train) = train_test_split(&rest, 0.4, 1).unwrap();
    let (xtr, xte) = (train.x_as::<f32>(), test.x_as::<f32>());
    let latent = 64;
    let dense = AutoencoderSpec::new(&[784, latent]).output(OutputActivation::Sigmoid);
    let conv = AutoencoderSpec::conv(
        ImageShape::new(1, 28, 28),
        &[ConvSpec::new(8, 4, 2, 1), ConvSpec::new(8, 4, 2, 1)],
    )
    .unwrap()
    .then_dense(&[latent])
    .activations(vec![
        Activation::Relu,
        Activation::Relu,
        Activation::Identity,
    ])
    .output(OutputActivation::Sigmoid);
    let trainer = Trainer::new(
        TrainConfig::new()
            .epochs(epochs)
            .batch_size(128)
            .optimizer(Optimizer::adam())
            .learning_rate(2e-3)
            .seed(3)
            .progress(Progress::Silent),
    )
    .unwrap();
    let mut results = vec![];
    for (name, spec) in [("dense", dense), ("conv", conv)] {
        let model = Autoencoder::<f32>::new(&spec, 1).unwrap();
        let params = model.n_params();
        let out = trainer.fit(model, &xtr).unwrap();
        let mse = out.model.reconstruction_mse(&xte).unwrap();
        println!("{name}: {params} parameters, test MSE {mse:.6} after {epochs} epochs");
        results.push((params, mse));
    }
    let ((dense_params, dense_mse), (conv_params, conv_mse)) = (results[0], results[1]);
    assert_eq!(latent, 64);
    assert!(
        conv_params * 3 < dense_params * 2,
        "{conv_params} vs {dense_params}"
    );
    assert!(
        conv_mse < dense_mse,
        "conv tied AE test MSE {conv_mse} is not below the dense tied AE's {dense_mse}"
    );
}
