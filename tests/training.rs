//! Training engine behaviour: config validation, bitwise determinism across
//! rayon thread counts, interrupt and resume equal to an uninterrupted run,
//! divergence handling, early stopping, and the history frame.

mod threads;
use nalgebra::DMatrix;
use std::path::Path;
use std::sync::atomic::Ordering;
use tiedae::Error;
use tiedae::data::Dataset;
use tiedae::model::{
    Activation, Autoencoder, AutoencoderSpec, BiasMode, LossConfig, OutputActivation,
};
use tiedae::train::{
    Checkpoint, EarlyStopping, LbfgsConfig, Optimizer, Progress, Schedule, StopReason, TrainConfig,
    TrainEvent, Trainer,
};

/// The first `n` digits rows (1797 x 64, values in [0, 1]).
fn digits(n: usize) -> DMatrix<f32> {
    let x = Dataset::builtin("digits").unwrap().x_as::<f32>();
    x.rows(0, n).into_owned()
}

/// A two-pair stack with every kind of layer: tied sigmoid, untied ReLU,
/// sigmoid output.
fn mixed_model(seed: u64) -> Autoencoder<f32> {
    let spec = AutoencoderSpec::new(&[64, 24, 8])
        .tied_per_layer(vec![true, false])
        .activations(vec![Activation::Sigmoid, Activation::Relu])
        .output(OutputActivation::Sigmoid)
        .bias(BiasMode::Separate);
    Autoencoder::new(&spec, seed).unwrap()
}

fn base_config() -> TrainConfig {
    TrainConfig::new()
        .epochs(3)
        .batch_size(100)
        .shard_size(16)
        .optimizer(Optimizer::adam())
        .learning_rate(5e-3)
        .seed(11)
        .progress(Progress::Silent)
}

fn bits(m: &Autoencoder<f32>) -> Vec<u32> {
    m.params_to_vec().iter().map(|v| v.to_bits()).collect()
}

fn config_error(cfg: TrainConfig) -> &'static str {
    match Trainer::new(cfg) {
        Err(Error::Config { field, .. }) => field,
        other => panic!("expected a config error, got {other:?}"),
    }
}

/// `opt` with at most `iters` L-BFGS iterations (other rules unchanged),
/// so every-variant loops stay short.
fn capped(opt: Optimizer, iters: u64) -> Optimizer {
    match opt {
        Optimizer::Lbfgs(c) => Optimizer::Lbfgs(LbfgsConfig {
            max_iters: c.max_iters.min(iters),
            ..c
        }),
        other => other,
    }
}

/// `Optimizer::ALL`, checked non-empty so a loop over it cannot pass vacuously.
fn every_optimizer() -> [Optimizer; Optimizer::ALL.len()] {
    assert!(!Optimizer::ALL.is_empty());
    assert!(!BiasMode::ALL.is_empty());
    Optimizer::ALL
}

#[test]
fn invalid_configs_name_the_field() {
    let c = base_config;
    assert_eq!(config_error(c().epochs(0)), "epochs");
    assert_eq!(config_error(c().batch_size(0)), "batch_size");
    assert_eq!(config_error(c().shard_size(0)), "shard_size");
    assert_eq!(config_error(c().learning_rate(0.0)), "learning_rate");
    assert_eq!(config_error(c().learning_rate(f64::NAN)), "learning_rate");
    assert_eq!(
        config_error(c().optimizer(Optimizer::momentum(1.0))),
        "optimizer.momentum"
    );
    assert_eq!(
        config_error(c().optimizer(Optimizer::Adam {
            beta1: 0.9,
            beta2: -0.1,
            eps: 1e-8
        })),
        "optimizer.beta2"
    );
    assert_eq!(
        config_error(c().schedule(Schedule::Step {
            every: 0,
            gamma: 0.5
        })),
        "schedule.every"
    );
    assert_eq!(
        config_error(c().schedule(Schedule::Cosine { min_factor: 2.0 })),
        "schedule.min_factor"
    );
    assert_eq!(config_error(c().weight_decay(-1.0)), "weight_decay");
    assert_eq!(config_error(c().clip_grad_norm(0.0)), "clip_grad_norm");
    assert_eq!(
        config_error(c().validation_fraction(1.0)),
        "validation_fraction"
    );
    assert_eq!(
        config_error(c().early_stopping(EarlyStopping::patience(3))),
        "early_stopping"
    );
    assert_eq!(
        config_error(
            c().validation_fraction(0.2)
                .early_stopping(EarlyStopping::patience(0))
        ),
        "early_stopping.patience"
    );
    assert_eq!(
        config_error(c().loss(LossConfig::mse().with_l1(-1.0))),
        "l1"
    );
    let lb = LbfgsConfig {
        memory: 0,
        ..Default::default()
    };
    assert_eq!(
        config_error(c().optimizer(Optimizer::Lbfgs(lb))),
        "lbfgs.memory"
    );
    assert!(Trainer::new(c()).is_ok());
}

/// One invalid value of each field of `opt`, with the field the error must
/// name. The patterns bind every field (no `..`), so a field added to a
/// variant does not compile here until it gets a bad value (or, like the
/// `nesterov` flag, a note that it has none).
fn bad_fields(opt: Optimizer) -> Vec<(Optimizer, &'static str)> {
    match opt {
        Optimizer::Sgd { momentum, nesterov } => {
            let _ = momentum; // `nesterov` is a flag: no value is invalid.
            vec![
                (
                    Optimizer::Sgd {
                        momentum: 1.0,
                        nesterov,
                    },
                    "optimizer.momentum",
                ),
                (
                    Optimizer::Sgd {
                        momentum: -0.1,
                        nesterov,
                    },
                    "optimizer.momentum",
                ),
            ]
        }
        Optimizer::Adam { beta1, beta2, eps } => vec![
            (
                Optimizer::Adam {
                    beta1: 1.0,
                    beta2,
                    eps,
                },
                "optimizer.beta1",
            ),
            (
                Optimizer::Adam {
                    beta1,
                    beta2: -0.1,
                    eps,
                },
                "optimizer.beta2",
            ),
            (
                Optimizer::Adam {
                    beta1,
                    beta2,
                    eps: 0.0,
                },
                "optimizer.eps",
            ),
        ],
        Optimizer::AdamW { beta1, beta2, eps } => vec![
            (
                Optimizer::AdamW {
                    beta1: f64::NAN,
                    beta2,
                    eps,
                },
                "optimizer.beta1",
            ),
            (
                Optimizer::AdamW {
                    beta1,
                    beta2: 1.0,
                    eps,
                },
                "optimizer.beta2",
            ),
            (
                Optimizer::AdamW {
                    beta1,
                    beta2,
                    eps: -1e-8,
                },
                "optimizer.eps",
            ),
        ],
        Optimizer::Lbfgs(LbfgsConfig {
            max_iters,
            memory,
            tol_grad,
            tol_cost,
            tol_cost_rel,
        }) => {
            let c = LbfgsConfig {
                max_iters,
                memory,
                tol_grad,
                tol_cost,
                tol_cost_rel,
            };
            vec![
                (
                    Optimizer::Lbfgs(LbfgsConfig { max_iters: 0, ..c }),
                    "lbfgs.max_iters",
                ),
                (
                    Optimizer::Lbfgs(LbfgsConfig { memory: 0, ..c }),
                    "lbfgs.memory",
                ),
                (
                    Optimizer::Lbfgs(LbfgsConfig {
                        tol_grad: -1.0,
                        ..c
                    }),
                    "lbfgs.tol_grad",
                ),
                (
                    Optimizer::Lbfgs(LbfgsConfig {
                        tol_cost: f64::INFINITY,
                        ..c
                    }),
                    "lbfgs.tol_cost",
                ),
                (
                    Optimizer::Lbfgs(LbfgsConfig {
                        tol_cost_rel: -1e-9,
                        ..c
                    }),
                    "lbfgs.tol_cost_rel",
                ),
            ]
        }
    }
}

/// Every optimizer of `Optimizer::ALL` is accepted as listed, and one bad
/// value of each of its own fields is rejected, naming that field.
#[test]
fn every_optimizer_rejects_a_bad_value_of_each_field() {
    let mut checked = 0;
    for opt in every_optimizer() {
        let name = opt.name();
        assert!(
            Trainer::new(base_config().optimizer(opt)).is_ok(),
            "{name}: the listed value must be valid"
        );
        let bad = bad_fields(opt);
        assert!(!bad.is_empty(), "{name}: no field checked");
        for (wrong, field) in bad {
            match Trainer::new(base_config().optimizer(wrong)) {
                Err(Error::Config { field: got, .. }) => {
                    assert_eq!(got, field, "{name}: {wrong:?}")
                }
                other => panic!("{name}: {wrong:?} should fail naming {field}, got {other:?}"),
            }
            checked += 1;
        }
    }
    assert!(checked >= Optimizer::ALL.len());
}

#[test]
fn bad_model_or_data_fails_before_any_work() {
    let x = digits(50);
    let trainer = Trainer::new(base_config()).unwrap();
    // BCE needs a sigmoid output.
    let linear = Autoencoder::<f32>::new(&AutoencoderSpec::new(&[64, 4]), 1).unwrap();
    let t = Trainer::new(base_config().loss(LossConfig::bce())).unwrap();
    let mut events = 0;
    let r = t.fit_with(linear.clone(), &x, |_| events += 1);
    assert!(
        matches!(
            r,
            Err(Error::Config {
                field: "reconstruction",
                ..
            })
        ),
        "{r:?}"
    );
    assert_eq!(events, 0);
    // Wrong width.
    let narrow = Autoencoder::<f32>::new(&AutoencoderSpec::new(&[10, 4]), 1).unwrap();
    assert!(matches!(trainer.fit(narrow, &x), Err(Error::Shape(_))));
    // A NaN in the data is named, not trained on.
    let mut bad = x.clone();
    bad[(7, 3)] = f32::NAN;
    match trainer.fit(linear.clone(), &bad) {
        Err(Error::InvalidData(m)) => assert!(m.contains("row 7, column 3"), "{m}"),
        other => panic!("{other:?}"),
    }
    // A validation split that leaves nothing to train on.
    let t = Trainer::new(base_config().validation_fraction(0.9)).unwrap();
    assert!(matches!(
        t.fit(linear, &digits(1)),
        Err(Error::InvalidData(_))
    ));
}

/// A small two-pair stack (tied sigmoid, untied ReLU, sigmoid output) with
/// biases in `bias` mode.
fn small_model(bias: BiasMode, seed: u64) -> Autoencoder<f32> {
    let spec = AutoencoderSpec::new(&[64, 12, 6])
        .tied_per_layer(vec![true, false])
        .activations(vec![Activation::Sigmoid, Activation::Relu])
        .output(OutputActivation::Sigmoid)
        .bias(bias);
    Autoencoder::new(&spec, seed).unwrap()
}

/// Every optimizer of `Optimizer::ALL` under every `BiasMode::ALL` gives the
/// same bits and losses with 1, 2 and 8 threads (through validation,
/// clipping, a schedule, weight decay and a ragged last batch), trains away
/// from the initial weights, depends on the seed, and differs from every
/// other (optimizer, bias mode) pair, so a loop ignoring the variant fails.
#[test]
fn weights_are_bitwise_identical_for_any_thread_count() {
    let x = digits(150); // 135 training rows = 2 x 60 + 15: a ragged last batch and shard
    let mut seen: Vec<(String, Vec<u32>)> = Vec::new();
    for opt in every_optimizer() {
        for bias in BiasMode::ALL {
            let what = format!("{} / {}", opt.name(), bias.name());
            let cfg = base_config()
                .batch_size(60)
                .optimizer(capped(opt, 3))
                .weight_decay(1e-2)
                .clip_grad_norm(0.5)
                .schedule(Schedule::Cosine { min_factor: 0.1 })
                .validation_fraction(0.1)
                .loss(LossConfig::bce().with_l1(1e-4));
            let trainer = Trainer::new(cfg.clone()).unwrap();
            let runs: Vec<_> = [1, 2, 8]
                .iter()
                .map(|&k| {
                    threads::on_threads(k, || {
                        trainer
                            .fit(small_model(bias, 3), &x)
                            .unwrap_or_else(|e| panic!("{what}, {k} threads: {e}"))
                    })
                })
                .collect();
            let want = bits(&runs[0].model);
            assert!(!runs[0].history.is_empty(), "{what}: no epoch recorded");
            for (r, k) in runs[1..].iter().zip([2, 8]) {
                assert_eq!(bits(&r.model), want, "{what}: weights, {k} threads");
                let h = (&r.history, &runs[0].history);
                assert_eq!(h.0.train_loss(), h.1.train_loss(), "{what}: {k} threads");
                assert_eq!(h.0.val_loss(), h.1.val_loss(), "{what}: {k} threads");
            }
            assert_ne!(want, bits(&small_model(bias, 3)), "{what}: did not train");
            let other = Trainer::new(cfg.seed(12))
                .unwrap()
                .fit(small_model(bias, 3), &x)
                .unwrap_or_else(|e| panic!("{what}, seed 12: {e}"));
            assert_ne!(bits(&other.model), want, "{what}: the seed does not matter");
            if let Some((prev, _)) = seen.iter().find(|(_, b)| *b == want) {
                panic!("{what} trained exactly as {prev}: the variant is ignored");
            }
            seen.push((what, want));
        }
    }
    assert_eq!(seen.len(), Optimizer::ALL.len() * BiasMode::ALL.len());
}

/// A pair wide enough (64 x 640 weights) that the gradient norms (which
/// clipping scales by) and the parameter loads after each step run in
/// parallel chunks, with shards taller than one gemm row tile: the same
/// bits for any thread count all the same.
#[test]
fn wide_models_are_bitwise_identical_for_any_thread_count() {
    let x = digits(430);
    let spec = AutoencoderSpec::new(&[64, 640])
        .activation(Activation::Relu)
        .output(OutputActivation::Sigmoid);
    // Clipping at a norm far below the gradient's makes every step depend
    // on the computed norm.
    let cfg = base_config().shard_size(128).clip_grad_norm(1e-3);
    let trainer = Trainer::new(cfg).unwrap();
    let fit = |k: usize| {
        threads::on_threads(k, || {
            trainer
                .fit(Autoencoder::<f32>::new(&spec, 5).unwrap(), &x)
                .unwrap()
        })
    };
    let one = fit(1);
    assert!(one.history.epochs[0].grad_norm > 1e-2, "clipping is active");
    for k in [2, 8] {
        let r = fit(k);
        assert_eq!(bits(&r.model), bits(&one.model), "{k} threads");
        assert_eq!(
            r.history.epochs,
            one.history
                .epochs
                .iter()
                .map(|e| {
                    let mut e = e.clone();
                    e.seconds = r.history.epochs[e.epoch - 1].seconds;
                    e
                })
                .collect::<Vec<_>>()
        );
    }
}

/// The history frame has one row per epoch, the tied pair's encoder and
/// decoder gradient parts, and losses that match the model's own
/// evaluation.
#[test]
fn history_frame_records_every_epoch() {
    let x = digits(300);
    let trainer = Trainer::new(base_config().epochs(4).validation_fraction(0.2)).unwrap();
    let out = trainer.fit(mixed_model(1), &x).unwrap();
    assert_eq!(out.stop, StopReason::Completed);
    let df = out.history.to_dataframe().unwrap();
    assert_eq!(df.height(), 4);
    for col in [
        "grad_norm_layer0_encoder",
        "grad_norm_layer0_decoder",
        "grad_norm_layer1",
        "val_loss",
        "learning_rate",
        "seconds",
    ] {
        let c = df.column(col).unwrap();
        assert_eq!(c.null_count(), 0, "{col}");
    }
    // Layer 1 is untied: no part columns.
    assert!(df.column("grad_norm_layer1_encoder").is_err());
    let epochs: Vec<u64> = df
        .column("epoch")
        .unwrap()
        .u64()
        .unwrap()
        .into_no_null_iter()
        .collect();
    assert_eq!(epochs, vec![1, 2, 3, 4]);
    for r in &out.history.epochs {
        let l = &r.layers[0];
        // ‖G_enc + G_dec‖ <= ‖G_enc‖ + ‖G_dec‖ (the pair total also holds biases).
        assert!(l.encoder_part.unwrap() > 0.0 && l.decoder_part.unwrap() > 0.0);
        assert!(r.grad_norm > 0.0 && r.train.total.is_finite());
    }
}

/// The relative cost tolerance ends an untied linear run, whose loss is
/// flat along every invertible map between encoder and decoder, at the
/// first iteration whose decrease `(f_k − f_{k+1}) / max(|f_k|, |f_{k+1}|, 1)`
/// is at most the tolerance (recomputed here from the history), and not
/// before; with the tolerance off the same run goes on past that point.
#[test]
fn relative_cost_tolerance_ends_a_flat_lbfgs_run_where_scipy_would() {
    let x = digits(200);
    let spec = AutoencoderSpec::new(&[64, 8])
        .tied(false)
        .activations(vec![Activation::Identity])
        .bias(BiasMode::Separate);
    let run = |tol_cost_rel: f64| {
        let cfg = TrainConfig::new()
            .shard_size(64)
            .optimizer(Optimizer::Lbfgs(LbfgsConfig {
                max_iters: 3000,
                tol_cost: 0.0,
                tol_cost_rel,
                ..LbfgsConfig::default()
            }))
            .seed(3)
            .progress(Progress::Silent);
        let model = Autoencoder::<f32>::new(&spec, 3).unwrap();
        Trainer::new(cfg).unwrap().fit(model, &x).unwrap()
    };
    let tol = tiedae::train::SCIPY_FTOL;
    let out = run(tol);
    let losses: Vec<f64> = out.history.epochs.iter().map(|r| r.train.total).collect();
    let decrease = |a: f64, b: f64| (a - b) / a.abs().max(b.abs()).max(1.0);
    let n = losses.len();
    assert!((3..3000).contains(&n), "ran {n} iterations");
    assert!(
        matches!(out.stop, StopReason::Converged(_)),
        "{:?}",
        out.stop
    );
    assert!(decrease(losses[n - 2], losses[n - 1]) <= tol);
    for w in losses[..n - 1].windows(2) {
        assert!(decrease(w[0], w[1]) > tol, "an earlier iteration met it");
    }
    let off = run(0.0);
    assert!(
        off.history.epochs.len() > n,
        "without it the run stops as early"
    );
}

/// A flag given with `with_interrupt_flag` belongs to its giver: a run
/// started while it is raised stops at once and leaves it raised (a study's
/// SIGTERM that lands between two cells must not be lowered by the next
/// cell). A trainer's own flag is lowered when a run starts, so a notebook
/// can fit again after a Ctrl-C.
#[test]
fn a_shared_interrupt_flag_is_never_lowered_by_a_new_run() {
    let x = digits(120);
    let cfg = base_config().epochs(3);
    let shared = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let trainer = Trainer::new(cfg.clone())
        .unwrap()
        .with_interrupt_flag(shared.clone());
    match trainer.fit(mixed_model(5), &x) {
        Err(Error::Interrupted { .. }) => {}
        other => panic!("expected an interrupt, got {other:?}"),
    }
    assert!(shared.load(Ordering::SeqCst), "the shared flag was lowered");

    let own = Trainer::new(cfg).unwrap();
    own.interrupt_flag().store(true, Ordering::SeqCst);
    let out = own.fit(mixed_model(5), &x).unwrap();
    assert_eq!(out.history.epochs.len(), 3);
}

fn run_to_interrupt(
    trainer: &Trainer,
    x: &DMatrix<f32>,
    at: (usize, Option<usize>),
) -> std::path::PathBuf {
    let flag = trainer.interrupt_flag();
    let r = trainer.try_fit(mixed_model(5), x, |ev| match (ev, at) {
        (TrainEvent::Epoch(rec), (e, None)) if rec.epoch == e => flag.store(true, Ordering::SeqCst),
        (TrainEvent::Batch { epoch, batch, .. }, (e, Some(b))) if epoch == e && batch == b => {
            flag.store(true, Ordering::SeqCst)
        }
        _ => {}
    });
    match r {
        Err(f) => match f.error {
            Error::Interrupted {
                checkpoint: Some(p),
            } => p,
            other => panic!("expected an interrupt, got {other:?}"),
        },
        Ok(_) => panic!("the run was not interrupted"),
    }
}

/// For every minibatch optimizer of `Optimizer::ALL`: interrupting at the
/// end of epoch 2 of 4 (and in the middle of epoch 3), then resuming, gives
/// bit-identical weights and the same losses as an uninterrupted run, and
/// the optimizers' results differ from one another.
///
/// L-BFGS keeps no solver memory across a resume (see `Trainer::resume`), so
/// for it only this is checked: interrupted after iteration 2, the resumed
/// run completes with finite weights and a history that continues the
/// checkpointed one (the same first two rows, numbered on from 3).
#[test]
fn resume_after_interrupt_matches_an_uninterrupted_run() {
    let x = digits(350);
    let dir = tempfile::tempdir().unwrap();
    let mut finals: Vec<(&str, Vec<u32>)> = Vec::new();
    for opt in every_optimizer() {
        let name = opt.name();
        let cfg = base_config()
            .epochs(4)
            .optimizer(capped(opt, 6))
            .learning_rate(0.05)
            .weight_decay(1e-3)
            .schedule(Schedule::Step {
                every: 1,
                gamma: 0.7,
            })
            .validation_fraction(0.15);
        let full = Trainer::new(cfg.clone())
            .unwrap()
            .fit(mixed_model(5), &x)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        if cfg.is_lbfgs() {
            resume_restarts_lbfgs(&cfg, &x, &full, &dir.path().join(name));
            continue;
        }
        for (i, at) in [(2, None), (3, Some(2))].into_iter().enumerate() {
            let ckdir = dir.path().join(format!("{name}{i}"));
            let trainer = Trainer::new(cfg.clone().checkpoint(&ckdir, 0)).unwrap();
            let path = run_to_interrupt(&trainer, &x, at);
            let ck = Checkpoint::load(&path).unwrap();
            assert_eq!(ck.epoch, 3, "{name}, {at:?}");
            assert_eq!(ck.batch, at.1.unwrap_or(0), "{name}");
            assert_eq!(ck.history.len(), 2, "{name}");
            let resumed = trainer
                .resume(&path, &x)
                .unwrap_or_else(|e| panic!("{name}, {at:?}: {e}"));
            assert_eq!(bits(&resumed.model), bits(&full.model), "{name}, {at:?}");
            let (r, f) = (&resumed.history, &full.history);
            assert_eq!(r.train_loss(), f.train_loss(), "{name}, {at:?}");
            assert_eq!(r.val_loss(), f.val_loss(), "{name}, {at:?}");
            // A trainer rebuilt from the checkpoint alone resumes it too.
            let again = Trainer::from_checkpoint(&path)
                .unwrap()
                .resume(&path, &x)
                .unwrap_or_else(|e| panic!("{name}, from checkpoint: {e}"));
            assert_eq!(bits(&again.model), bits(&full.model), "{name}, {at:?}");
        }
        finals.push((name, bits(&full.model)));
    }
    assert_eq!(
        finals.len(),
        Optimizer::ALL.len() - 1,
        "one L-BFGS in the list"
    );
    for (i, (a, wa)) in finals.iter().enumerate() {
        for (b, wb) in &finals[i + 1..] {
            assert_ne!(
                wa, wb,
                "{a} and {b} trained alike: the optimizer is ignored"
            );
        }
    }
}

/// The L-BFGS half of the resume test: interrupt after iteration 2 of
/// `cfg`, resume, and check the documented contract against `full`.
fn resume_restarts_lbfgs(
    cfg: &TrainConfig,
    x: &DMatrix<f32>,
    full: &tiedae::train::TrainOutcome<f32>,
    ckdir: &Path,
) {
    let name = cfg.optimizer.name();
    assert!(
        full.history.len() > 2,
        "{name}: the uninterrupted run must outlast the interrupt ({} rows)",
        full.history.len()
    );
    let trainer = Trainer::new(cfg.clone().checkpoint(ckdir, 0)).unwrap();
    let path = run_to_interrupt(&trainer, x, (2, None));
    let ck = Checkpoint::load(&path).unwrap();
    assert_eq!((ck.epoch, ck.history.len()), (3, 2), "{name}");
    let resumed = trainer
        .resume(&path, x)
        .unwrap_or_else(|e| panic!("{name}: resume failed: {e}"));
    assert!(
        matches!(
            resumed.stop,
            StopReason::Completed | StopReason::Converged(_)
        ),
        "{name}: {:?}",
        resumed.stop
    );
    assert!(
        resumed.model.params_to_vec().iter().all(|v| v.is_finite()),
        "{name}: non-finite weights after resume"
    );
    let h = &resumed.history;
    let Optimizer::Lbfgs(c) = cfg.optimizer else {
        unreachable!()
    };
    assert!(
        h.len() > 2 && h.len() <= c.max_iters as usize,
        "{name}: {} rows after resume",
        h.len()
    );
    let epochs: Vec<usize> = h.epochs.iter().map(|e| e.epoch).collect();
    assert_eq!(epochs, (1..=h.len()).collect::<Vec<_>>(), "{name}");
    assert_eq!(
        h.train_loss()[..2],
        full.history.train_loss()[..2],
        "{name}: the checkpointed rows"
    );
    assert!(h.train_loss().iter().all(|l| l.is_finite()), "{name}");
}

#[test]
fn resume_refuses_other_data_or_config() {
    let x = digits(120);
    let dir = tempfile::tempdir().unwrap();
    let cfg = base_config().epochs(2).checkpoint(dir.path(), 1);
    let trainer = Trainer::new(cfg.clone()).unwrap();
    let path = run_to_interrupt(&trainer, &x, (1, None));
    let other = digits(121);
    assert!(matches!(
        trainer.resume(&path, &other),
        Err(Error::InvalidData(_))
    ));
    let t2 = Trainer::new(cfg.learning_rate(0.1)).unwrap();
    assert!(matches!(
        t2.resume(&path, &x),
        Err(Error::Config {
            field: "config",
            ..
        })
    ));
    // A checkpoint cut short is a format error naming the file.
    let bytes = std::fs::read(&path).unwrap();
    let cut = dir.path().join("cut.json");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    match trainer.resume(&cut, &x) {
        Err(Error::Format { path, .. }) => assert_eq!(path, cut),
        other => panic!("{other:?}"),
    }
    // Progress output and checkpoint placement do not change the hash.
    let t3 = Trainer::new(
        cfg_with_dir(&base_config().epochs(2), &dir.path().join("elsewhere"))
            .progress(Progress::Lines),
    )
    .unwrap();
    assert!(t3.resume(&path, &x).is_ok());
}

fn cfg_with_dir(c: &TrainConfig, dir: &Path) -> TrainConfig {
    c.clone().checkpoint(dir, 1)
}

/// A learning rate that grows a millionfold per epoch blows up: the error
/// names the epoch and batch, carries the last finite loss, and the weights
/// handed back and checkpointed are finite.
#[test]
fn divergence_stops_with_finite_weights() {
    let x = digits(200);
    let dir = tempfile::tempdir().unwrap();
    let cfg = base_config()
        .epochs(6)
        .optimizer(Optimizer::sgd())
        .learning_rate(0.05)
        .schedule(Schedule::Step {
            every: 1,
            gamma: 1e6,
        })
        .checkpoint(dir.path(), 1);
    let trainer = Trainer::new(cfg).unwrap();
    let spec = AutoencoderSpec::new(&[64, 8]);
    let model = Autoencoder::<f32>::new(&spec, 2).unwrap();
    let failed = match trainer.try_fit(model, &x, |_| {}) {
        Err(f) => f,
        Ok(_) => panic!("training should have diverged"),
    };
    let Error::Diverged {
        epoch,
        batch,
        ref what,
        last_finite_loss,
    } = failed.error
    else {
        panic!("expected Diverged, got {:?}", failed.error)
    };
    assert!(
        epoch >= 2,
        "epoch 1 runs at a sane rate (got epoch {epoch})"
    );
    assert!((1..=2).contains(&batch), "batch {batch}");
    assert!(!what.is_empty());
    assert!(last_finite_loss.is_some_and(f64::is_finite));
    let msg = failed.error.to_string();
    assert!(
        msg.contains(&format!("epoch {epoch}, batch {batch}")),
        "{msg}"
    );
    assert!(failed.model.params_to_vec().iter().all(|v| v.is_finite()));
    assert_eq!(failed.history.len(), epoch - 1);
    let df = failed.history.to_dataframe().unwrap();
    assert_eq!(df.height(), epoch - 1);
    let ck = Checkpoint::load(Checkpoint::path_in(dir.path())).unwrap();
    assert!(ck.epoch <= epoch);
    assert!(
        ck.model::<f32>()
            .unwrap()
            .params_to_vec()
            .iter()
            .all(|v| v.is_finite())
    );
}

/// With early stopping, the returned weights are those of the best epoch
/// (the last one that beat all earlier ones by more than `min_delta`):
/// exactly the weights of a fresh run stopped at that epoch, since training
/// is deterministic and validation does not steer it.
#[test]
fn early_stopping_restores_the_best_weights() {
    let x = digits(240);
    let cfg = base_config()
        .epochs(40)
        .batch_size(20)
        .optimizer(Optimizer::sgd())
        .learning_rate(3.0)
        .validation_fraction(0.25);
    let (patience, min_delta) = (3, 3e-4);
    let es = EarlyStopping {
        patience,
        min_delta,
        restore_best: true,
    };
    let trainer = Trainer::new(cfg.clone().early_stopping(es)).unwrap();
    let out = trainer.fit(mixed_model(8), &x).unwrap();
    let val: Vec<f64> = out.history.val_loss();
    let best = out.best_epoch.expect("a best epoch");
    let StopReason::EarlyStopped { epoch } = out.stop else {
        panic!("expected an early stop, history {val:?}");
    };
    assert_eq!(
        epoch,
        best + patience,
        "stops `patience` epochs after the best"
    );
    assert_eq!(val.len(), epoch);
    // The documented rule, replayed on the recorded losses: an epoch counts
    // as better only if it beats the best so far by more than min_delta.
    let (mut best_v, mut want_best, mut wait, mut want_stop) = (f64::INFINITY, 0, 0, 0);
    for (i, &v) in val.iter().enumerate() {
        if v < best_v - min_delta {
            (best_v, want_best, wait) = (v, i + 1, 0);
        } else {
            wait += 1;
            if wait == patience {
                want_stop = i + 1;
                break;
            }
        }
    }
    assert_eq!((best, epoch), (want_best, want_stop), "{val:?}");
    assert!(best < epoch, "restoring must matter in this test");
    let reference = Trainer::new(cfg.clone().epochs(best))
        .unwrap()
        .fit(mixed_model(8), &x)
        .unwrap();
    assert_eq!(bits(&out.model), bits(&reference.model));
    // Without restoring, the last epoch's weights come back.
    let last = Trainer::new(cfg.clone().early_stopping(EarlyStopping {
        restore_best: false,
        ..es
    }))
    .unwrap()
    .fit(mixed_model(8), &x)
    .unwrap();
    assert_eq!(last.best_epoch, None);
    let through = Trainer::new(cfg.epochs(epoch))
        .unwrap()
        .fit(mixed_model(8), &x)
        .unwrap();
    assert_eq!(bits(&last.model), bits(&through.model));
}

/// A run with its own validation rows (what study cells use) hands back the
/// best-validation epoch's weights, bit for bit: the same weights as a run
/// of exactly that many epochs on the same rows.
#[test]
fn validated_fit_returns_the_best_validation_weights() {
    let x = digits(240);
    let (fit, val) = (x.rows(0, 180).into_owned(), x.rows(180, 60).into_owned());
    let cfg = base_config()
        .epochs(40)
        .batch_size(20)
        .optimizer(Optimizer::sgd())
        .learning_rate(3.0)
        .validation_fraction(0.25);
    let es = EarlyStopping {
        patience: 3,
        min_delta: 3e-4,
        restore_best: true,
    };
    let out = Trainer::new(cfg.clone().early_stopping(es))
        .unwrap()
        .try_fit_validated(mixed_model(8), &fit, &val)
        .unwrap();
    let best = out.best_epoch.expect("a best epoch");
    assert!(matches!(out.stop, StopReason::EarlyStopped { epoch } if epoch > best));
    // The recorded validation losses are those of the given rows: no later
    // epoch beat the kept one by more than min_delta.
    let val_loss = out.history.val_loss();
    assert!(
        val_loss[best..]
            .iter()
            .all(|&v| v >= val_loss[best - 1] - 3e-4)
    );
    let reference = Trainer::new(cfg.epochs(best))
        .unwrap()
        .try_fit_validated(mixed_model(8), &fit, &val)
        .unwrap();
    assert_eq!(bits(&out.model), bits(&reference.model));
    // Validation rows must fit the model like training rows.
    let narrow = DMatrix::<f32>::zeros(5, 10);
    let err = Trainer::new(base_config())
        .unwrap()
        .try_fit_validated(mixed_model(8), &fit, &narrow)
        .unwrap_err();
    assert!(matches!(err.error, Error::Shape(_)), "{}", err.error);
}
