//! Finite-difference checks of the analytic gradients.
//!
//! Oracle: central differences in f64 with step 1e-6; an entry passes when
//! |analytic − numeric| <= 1e-5 + 1e-3 |numeric|. Every parameter entry is
//! checked for every activation x bias mode x loss x depth 1..3 x tying
//! pattern, on tiny models (d = 5, n = 4) so the cross product runs in
//! seconds; the TopK kinds have a sweep of their own. Kinked activations
//! (ReLU, leaky ReLU, ELU with alpha != 1, the ReLU TopK kinds), TopK's
//! selection boundary and the L1 kink at h = 0 make differences across the
//! kink meaningless, so cases whose forward pass comes within 1e-4 of a
//! kink are reseeded.

mod fd;

use fd::{compare, near_kink, numeric_gradient, random_matrix};
use rand::RngExt;
use tiedae::model::{
    Activation, Autoencoder, AutoencoderSpec, BiasMode, LossConfig, OutputActivation,
};
use tiedae::rng::seeded;

const ROWS: usize = 4;

/// A model whose every parameter (biases included) is random, so no
/// gradient entry is trivially zero.
fn random_model(spec: &AutoencoderSpec, seed: u64) -> Autoencoder<f64> {
    let mut m = Autoencoder::<f64>::new(spec, seed).unwrap();
    let mut rng = seeded(seed ^ 0xABCD);
    let p: Vec<f64> = (0..m.n_params())
        .map(|_| rng.random_range(-0.7..0.7))
        .collect();
    m.set_params(&p).unwrap();
    m
}

#[derive(Clone, Copy, Debug)]
enum LossCase {
    Mse,
    Bce,
    MseL1,
    MseKl,
    MseL2,
    BceAll,
}

const LOSSES: [LossCase; 6] = [
    LossCase::Mse,
    LossCase::Bce,
    LossCase::MseL1,
    LossCase::MseKl,
    LossCase::MseL2,
    LossCase::BceAll,
];

impl LossCase {
    fn config(self) -> LossConfig {
        match self {
            LossCase::Mse => LossConfig::mse(),
            LossCase::Bce => LossConfig::bce(),
            LossCase::MseL1 => LossConfig::mse().with_l1(0.05),
            LossCase::MseKl => LossConfig::mse().with_kl(0.2, 0.3),
            LossCase::MseL2 => LossConfig::mse().with_l2(0.07),
            LossCase::BceAll => LossConfig::bce()
                .with_l1(0.03)
                .with_kl(0.3, 0.2)
                .with_l2(0.05),
        }
    }

    /// The spec adjustments the loss needs: a sigmoid output for BCE (and,
    /// to cover it with MSE too, for the L1 case), a sigmoid latent for KL.
    fn adapt(self, spec: AutoencoderSpec) -> AutoencoderSpec {
        let cfg = self.config();
        let mut spec = match self {
            LossCase::Bce | LossCase::BceAll | LossCase::MseL1 => {
                spec.output(OutputActivation::Sigmoid)
            }
            _ => spec,
        };
        if cfg.kl.is_some() {
            *spec.hidden.last_mut().unwrap() = Activation::Sigmoid;
        }
        spec
    }
}

fn dims(depth: usize) -> Vec<usize> {
    vec![5, 4, 3, 2][..=depth].to_vec()
}

fn tie_patterns(depth: usize) -> Vec<Vec<bool>> {
    let mut p = vec![vec![true; depth], vec![false; depth]];
    if depth > 1 {
        p.push((0..depth).map(|l| l % 2 == 0).collect());
    }
    p
}

struct Outcome {
    failures: Vec<String>,
    cases: usize,
    teeth_checked: usize,
    tied_pairs: usize,
}

/// Runs every activation x bias mode x loss x tying pattern at one depth.
fn check_depth(depth: usize) -> Outcome {
    let mut out = Outcome {
        failures: vec![],
        cases: 0,
        teeth_checked: 0,
        tied_pairs: 0,
    };
    for act in Activation::all() {
        for bias in BiasMode::ALL {
            for case in LOSSES {
                for tied in tie_patterns(depth) {
                    let spec = case.adapt(
                        AutoencoderSpec::new(&dims(depth))
                            .activation(act)
                            .bias(bias)
                            .tied_per_layer(tied.clone()),
                    );
                    let loss = case.config();
                    let label = format!("{act:?} {bias:?} {case:?} tied={tied:?}");
                    match run_case(&spec, &loss) {
                        Ok((teeth, pairs)) => {
                            out.teeth_checked += teeth;
                            out.tied_pairs += pairs;
                        }
                        Err(e) => out.failures.push(format!("{label}: {e}")),
                    }
                    out.cases += 1;
                }
            }
        }
    }
    out
}

/// One case: finite differences for every entry; for tied pairs, the parts
/// sum to the weight's gradient and dropping the decoder part is caught.
/// Returns how many tied pairs had their oracle's teeth tested, and how many
/// tied pairs there were.
fn run_case(spec: &AutoencoderSpec, loss: &LossConfig) -> Result<(usize, usize), String> {
    let d = spec.input_dim();
    let mut found = None;
    for attempt in 0..100u64 {
        let seed = 1000 * attempt + 17;
        let m = random_model(spec, seed);
        let x = random_matrix(ROWS, d, 0.0, 1.0, seed + 1);
        let t = random_matrix(ROWS, d, 0.0, 1.0, seed + 2);
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
    let tied_pairs = spec.tied.iter().filter(|&&t| t).count();
    for (l, slots) in m.layout().layers().iter().enumerate() {
        let Some(parts) = grad.tied_parts(l) else {
            continue;
        };
        let w = &m.layers()[l].encoder_weight();
        let (r, dd) = (slots.output_dim, slots.input_dim);
        for k in 0..slots.weight.len() {
            let decay = loss.l2 * w[(k / dd, k % dd)];
            let sum = parts.encoder[k] + parts.decoder[k];
            let g = grad.as_slice()[slots.weight.start + k];
            let ok = if loss.l2 == 0.0 {
                g == sum
            } else {
                (g - (sum + decay)).abs() <= 1e-14 * (1.0 + g.abs())
            };
            if !ok {
                return Err(format!(
                    "layer {l} entry {k} of {r}x{dd}: gradient {g} != encoder + decoder parts {sum} (+ decay {decay})"
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
    Ok((teeth, tied_pairs))
}

fn assert_depth(depth: usize) {
    let out = check_depth(depth);
    let per_depth = 8 * 4 * 6 * tie_patterns(depth).len();
    assert_eq!(out.cases, per_depth);
    assert!(
        out.failures.is_empty(),
        "{} of {} cases failed:\n{}",
        out.failures.len(),
        out.cases,
        out.failures.join("\n")
    );
    // Nearly every tied pair has a decoder part large enough to test.
    assert!(
        out.teeth_checked * 10 >= out.tied_pairs * 9,
        "teeth tested on {} of {} tied pairs",
        out.teeth_checked,
        out.tied_pairs
    );
}

#[test]
fn finite_differences_depth_1() {
    assert_depth(1);
}

#[test]
fn finite_differences_depth_2() {
    assert_depth(2);
}

#[test]
fn finite_differences_depth_3() {
    assert_depth(3);
}

/// The TopK kinds compare entries, so they are not in
/// [`Activation::ALL`]; this sweep covers every kind of
/// [`Activation::TOP_K`] (the ReLU TopK and BatchTopK, the default, and
/// their signed variants) at the latent and, in all-TopK stacks, inside the
/// stack, where inner decoder outputs are TopK'ed too, over every bias
/// mode, tying pattern and the losses that fit a real-valued latent.
/// `near_kink` reseeds cases with a near tie at the selection boundary and,
/// for the ReLU kinds, with a pre-activation near 0.
#[test]
fn finite_differences_top_k() {
    let stacks: Vec<(Vec<usize>, Vec<Activation>)> = vec![
        (vec![5, 4], vec![Activation::TopK { k: 2 }]),
        (vec![5, 4], vec![Activation::TopKSigned { k: 2 }]),
        (vec![5, 6], vec![Activation::BatchTopK { k: 2 }]),
        (vec![5, 6], vec![Activation::BatchTopKSigned { k: 2 }]),
        (
            vec![5, 4, 3],
            vec![Activation::BatchTopK { k: 2 }, Activation::TopK { k: 2 }],
        ),
        (
            vec![5, 4, 3],
            vec![
                Activation::BatchTopKSigned { k: 2 },
                Activation::TopKSigned { k: 2 },
            ],
        ),
        (
            vec![5, 4, 3],
            vec![Activation::Tanh, Activation::TopK { k: 2 }],
        ),
        (
            vec![5, 4, 3],
            vec![Activation::TopK { k: 3 }, Activation::TopKSigned { k: 1 }],
        ),
        (
            vec![6, 5, 4, 3],
            vec![
                Activation::TopK { k: 4 },
                Activation::Gelu,
                Activation::TopK { k: 2 },
            ],
        ),
    ];
    for act in Activation::TOP_K {
        assert!(
            stacks.iter().any(|(_, hidden)| hidden.contains(&act)),
            "{act:?} is not swept"
        );
    }
    let mut failures = vec![];
    let mut cases = 0;
    for (dims, hidden) in &stacks {
        for bias in BiasMode::ALL {
            for case in [
                LossCase::Mse,
                LossCase::MseL1,
                LossCase::MseL2,
                LossCase::Bce,
            ] {
                for tied in tie_patterns(dims.len() - 1) {
                    let spec = case.adapt(
                        AutoencoderSpec::new(dims)
                            .activations(hidden.clone())
                            .bias(bias)
                            .tied_per_layer(tied.clone()),
                    );
                    if let Err(e) = run_case(&spec, &case.config()) {
                        failures.push(format!("{hidden:?} {bias:?} {case:?} tied={tied:?}: {e}"));
                    }
                    cases += 1;
                }
            }
        }
    }
    assert!(cases >= 300, "{cases}");
    assert!(
        failures.is_empty(),
        "{} of {cases} cases failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// The TopK gradient is exactly zero through the dropped units: the
/// encoder weight rows of a unit that no sample keeps get no gradient,
/// with and without the ReLU on the kept values.
#[test]
fn top_k_passes_no_gradient_through_dropped_units() {
    for act in [Activation::TopK { k: 1 }, Activation::TopKSigned { k: 1 }] {
        let spec = AutoencoderSpec::new(&[5, 4])
            .activation(act)
            .bias(BiasMode::None)
            .tied(false);
        let mut m = random_model(&spec, 5);
        // Unit 3's encoder row is strongly negative on positive data: never kept.
        let mut p = m.params_to_vec();
        let enc = m.layout().layers()[0].weight.clone();
        for j in 0..5 {
            p[enc.start + 3 * 5 + j] = -5.0;
        }
        m.set_params(&p).unwrap();
        let x = random_matrix(ROWS, 5, 0.1, 1.0, 8);
        let loss = LossConfig::mse();
        let (_, g) = m.objective_and_grad(&x, &x, &loss).unwrap();
        for j in 0..5 {
            assert_eq!(g.as_slice()[enc.start + 3 * 5 + j], 0.0, "{act:?}");
        }
        let code = m.encode(&x).unwrap();
        for i in 0..ROWS {
            let active = code.row(i).iter().filter(|&&v| v != 0.0).count();
            // The ReLU may clamp the one kept value.
            if act.relu_on_kept() {
                assert!(active <= 1, "{act:?}");
            } else {
                assert_eq!(active, 1);
            }
            assert_eq!(code[(i, 3)], 0.0);
        }
    }
}

/// The oracle has teeth: a tied gradient without its decoder part fails
/// the finite-difference check, and so does one without its encoder part.
#[test]
fn dropping_either_part_of_a_tied_gradient_fails_the_check() {
    let spec = AutoencoderSpec::new(&[5, 3])
        .activation(Activation::Tanh)
        .bias(BiasMode::Separate);
    let m = random_model(&spec, 3);
    let x = random_matrix(ROWS, 5, 0.0, 1.0, 4);
    let loss = LossConfig::mse();
    let (_, grad) = m.objective_and_grad(&x, &x, &loss).unwrap();
    let numeric = numeric_gradient(&m, &x, &x, &loss);
    compare(&m, grad.as_slice(), &numeric).unwrap();
    let parts = grad.tied_parts(0).unwrap();
    let w = m.layout().layers()[0].weight.clone();
    for (name, kept) in [("encoder", &parts.encoder), ("decoder", &parts.decoder)] {
        let mut only = grad.as_slice().to_vec();
        only[w.clone()].copy_from_slice(kept);
        let err = compare(&m, &only, &numeric).expect_err(name);
        assert!(err.contains("layer 0 weight"), "{err}");
    }
}

/// An independent oracle for the parts: a tied pair is the untied pair with
/// `W_enc = W` and `W_dec = Wᵀ`, whose two gradients are the encoder part
/// and the transposed decoder part.
#[test]
fn tied_parts_equal_the_gradients_of_the_equivalent_untied_model() {
    for bias in BiasMode::ALL {
        for act in [Activation::Sigmoid, Activation::Gelu, Activation::Identity] {
            let tied_spec = AutoencoderSpec::new(&[5, 4, 3]).activation(act).bias(bias);
            let tied = random_model(&tied_spec, 11);
            let untied_spec = tied_spec.clone().tied(false);
            let mut untied = Autoencoder::<f64>::new(&untied_spec, 0).unwrap();
            // Copy W into W_enc and Wᵀ into W_dec, biases unchanged.
            let tp = tied.params_to_vec();
            let mut up = vec![0.0; untied.n_params()];
            for (ts, us) in tied.layout().layers().iter().zip(untied.layout().layers()) {
                let (r, d) = (ts.output_dim, ts.input_dim);
                up[us.weight.clone()].copy_from_slice(&tp[ts.weight.clone()]);
                let dec = us.decoder_weight.clone().unwrap();
                for i in 0..r {
                    for j in 0..d {
                        up[dec.start + j * r + i] = tp[ts.weight.start + i * d + j];
                    }
                }
                up[us.biases.clone()].copy_from_slice(&tp[ts.biases.clone()]);
            }
            untied.set_params(&up).unwrap();
            let x = random_matrix(ROWS, 5, -1.0, 1.0, 12);
            let loss = LossConfig::mse().with_l1(0.01);
            let (lt, gt) = tied.objective_and_grad(&x, &x, &loss).unwrap();
            let (lu, gu) = untied.objective_and_grad(&x, &x, &loss).unwrap();
            assert!((lt.total - lu.total).abs() <= 1e-14 * lt.total.abs());
            for (l, (ts, us)) in tied
                .layout()
                .layers()
                .iter()
                .zip(untied.layout().layers())
                .enumerate()
            {
                let (r, d) = (ts.output_dim, ts.input_dim);
                let parts = gt.tied_parts(l).unwrap();
                let dec = us.decoder_weight.clone().unwrap();
                for i in 0..r {
                    for j in 0..d {
                        let k = i * d + j;
                        let close = |a: f64, b: f64| (a - b).abs() <= 1e-12 * (1.0 + b.abs());
                        assert!(close(parts.encoder[k], gu.as_slice()[us.weight.start + k]));
                        assert!(close(
                            parts.decoder[k],
                            gu.as_slice()[dec.start + j * r + i]
                        ));
                    }
                }
                let tb = &gt.as_slice()[ts.biases.clone()];
                let ub = &gu.as_slice()[us.biases.clone()];
                for (a, b) in tb.iter().zip(ub) {
                    assert!((a - b).abs() <= 1e-12 * (1.0 + b.abs()), "{bias:?} {act:?}");
                }
            }
        }
    }
}
