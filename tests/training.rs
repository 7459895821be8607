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
    Checkpoint, EarlyStopping, Optimizer, Progress, Schedule, StopReason, TrainConfig, TrainEvent,
    Trainer,
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
    let lb = tiedae::train::LbfgsConfig {
        memory: 0,
        ..Default::default()
    };
    assert_eq!(
        config_error(c().optimizer(Optimizer::Lbfgs(lb))),
        "lbfgs.memory"
    );
    assert!(Trainer::new(c()).is_ok());
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

/// The same seed gives the same bits with 1, 2 and 8 threads, through
/// validation, clipping, a schedule, AdamW and a ragged last batch; a
/// different seed does not.
#[test]
fn weights_are_bitwise_identical_for_any_thread_count() {
    let x = digits(430); // 430 = 4 x 100 + 30: a ragged last batch and shard
    let cfg = base_config()
        .optimizer(Optimizer::adamw())
        .weight_decay(1e-2)
        .clip_grad_norm(0.5)
        .schedule(Schedule::Cosine { min_factor: 0.1 })
        .validation_fraction(0.1)
        .loss(LossConfig::bce().with_l1(1e-4));
    let trainer = Trainer::new(cfg.clone()).unwrap();
    let runs: Vec<_> = [1, 2, 8]
        .iter()
        .map(|&k| threads::on_threads(k, || trainer.fit(mixed_model(3), &x).unwrap()))
        .collect();
    let want = bits(&runs[0].model);
    for r in &runs[1..] {
        assert_eq!(bits(&r.model), want);
        assert_eq!(r.history.train_loss(), runs[0].history.train_loss());
        assert_eq!(r.history.val_loss(), runs[0].history.val_loss());
    }
    // The run trained (loss fell) and the seed matters.
    let h = &runs[0].history;
    assert!(h.epochs[2].train.total < h.epochs[0].train.total);
    let other = Trainer::new(cfg.seed(12))
        .unwrap()
        .fit(mixed_model(3), &x)
        .unwrap();
    assert_ne!(bits(&other.model), want);
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

/// Interrupting at the end of epoch 2 of 4 (and in the middle of epoch 3),
/// then resuming, gives bit-identical weights and the same losses as an
/// uninterrupted run.
#[test]
fn resume_after_interrupt_matches_an_uninterrupted_run() {
    let x = digits(350);
    let dir = tempfile::tempdir().unwrap();
    let cfg = base_config()
        .epochs(4)
        .optimizer(Optimizer::nesterov(0.9))
        .learning_rate(0.05)
        .schedule(Schedule::Step {
            every: 1,
            gamma: 0.7,
        })
        .validation_fraction(0.15);
    let full = Trainer::new(cfg.clone())
        .unwrap()
        .fit(mixed_model(5), &x)
        .unwrap();
    for (i, at) in [(2, None), (3, Some(2))].into_iter().enumerate() {
        let ckdir = dir.path().join(format!("run{i}"));
        let trainer = Trainer::new(cfg.clone().checkpoint(&ckdir, 0)).unwrap();
        let path = run_to_interrupt(&trainer, &x, at);
        let ck = Checkpoint::load(&path).unwrap();
        assert_eq!(ck.epoch, 3, "{at:?}");
        assert_eq!(ck.batch, at.1.unwrap_or(0));
        assert_eq!(ck.history.len(), 2);
        let resumed = trainer.resume(&path, &x).unwrap();
        assert_eq!(bits(&resumed.model), bits(&full.model), "{at:?}");
        assert_eq!(resumed.history.train_loss(), full.history.train_loss());
        assert_eq!(resumed.history.val_loss(), full.history.val_loss());
        // A trainer rebuilt from the checkpoint alone resumes it too.
        let again = Trainer::from_checkpoint(&path)
            .unwrap()
            .resume(&path, &x)
            .unwrap();
        assert_eq!(bits(&again.model), bits(&full.model));
    }
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
