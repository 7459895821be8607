//! The learning-rate search that brackets every optimum, and the cap in
//! optimizer steps: the rule on rows with a known answer (no training),
//! then a small study trained for real (determinism, cache, the frame of
//! every rate tried), then the step cap against the epoch cap.

use tiedae::data::{Dataset, SpikedCovariance};
use tiedae::model::BiasMode;
use tiedae::study::{
    ExtraRate, MAX_CAP_GROWTH, MAX_LEARNING_RATE, MIN_LEARNING_RATE, ModelKind, Protocol, Row,
    Study, frame_to_rows, probe_passes, rate_brackets, select_tuned,
};
use tiedae::train::TrainConfig;

/// The grid every test starts from: too high for the optima planted below.
const GRID: [f64; 2] = [1e-2, 3e-2];

/// A row of configuration `model` (latent 2, 100 training rows) at `lr`
/// whose validation MSE is `val`.
fn row(model: &str, lr: f64, seed: i64, val: f64) -> Row {
    Row {
        dataset: "planted".into(),
        model: model.into(),
        activation: "identity".into(),
        bias_mode: BiasMode::Separate.name().into(),
        latent: 2,
        params: 10,
        n_train: 100,
        seed,
        l2: 0.0,
        sparsity_weight: 0.0,
        train_mse: val,
        test_mse: val,
        pca_test_mse: 1.0,
        ratio_to_pca: val,
        epochs: 10,
        seconds: 0.0,
        max_angle_deg: None,
        mean_angle_deg: None,
        wwt_minus_i: None,
        dead_fraction: 0.0,
        sparsity: 0.0,
        learning_rate: Some(lr),
        best_epoch: 5,
        val_mse: val,
        stop_reason: "patience".into(),
        val_mse_at_budget: None,
    }
}

/// A study with the starting grid and four seeds (its rows are made up by
/// the tests).
fn gridded() -> Study {
    Study::new("planted")
        .seeds(&[0, 1, 2, 3])
        .protocol(Protocol {
            learning_rates: GRID.to_vec(),
            ..Protocol::default()
        })
}

/// Runs the search on made-up rows as [`Study::run_bracketed`] does: each
/// model's validation MSE at a rate is `val(model, rate)`; a new rate runs
/// on seeds 0 and 1 (a probe) and on seeds 2 and 3 only when the probe
/// passes; returns every row tried.
fn search(models: &[&str], val: impl Fn(&str, f64) -> f64) -> Vec<Row> {
    let study = gridded();
    let mut rows = Vec::new();
    for m in models {
        for lr in GRID {
            for seed in 0..4 {
                rows.push(row(m, lr, seed, val(m, lr)));
            }
        }
    }
    for _ in 0..20 {
        let next = study.next_extra_rates(&rows).unwrap();
        if next.is_empty() {
            return rows;
        }
        for e in next {
            assert_eq!(e.seeds, [0, 1], "a new rate is probed on half the seeds");
            let m = e.model.name();
            let probe: Vec<Row> = (0..2)
                .map(|seed| row(m, e.learning_rate, seed, val(m, e.learning_rate)))
                .collect();
            rows.extend(probe.iter().cloned());
            if probe_passes(&rows, &probe) {
                for seed in 2..4 {
                    rows.push(row(m, e.learning_rate, seed, val(m, e.learning_rate)));
                }
            }
        }
    }
    panic!("the search did not end within 20 rounds");
}

/// A bowl in log-rate with its bottom at `best`.
fn bowl(best: f64) -> impl Fn(f64) -> f64 {
    move |lr: f64| 1.0 + (lr.log10() - best.log10()).powi(2)
}

/// An optimum below the grid is found, for each kind by the same rule,
/// and ends interior: a lower and a higher rate were tried and were worse.
#[test]
fn an_optimum_below_the_grid_is_bracketed() {
    let tied = bowl(1e-4);
    let untied = bowl(1e-3);
    let rows = search(&["linear_tied", "untied"], |m, lr| {
        if m == "untied" { untied(lr) } else { tied(lr) }
    });
    let brackets = rate_brackets(&rows);
    assert_eq!(brackets.len(), 2);
    for b in &brackets {
        let want = if b.row.model == "untied" { 1e-3 } else { 1e-4 };
        assert_eq!(b.chosen, want, "{b:?}");
        assert!(b.lowest < b.chosen && b.chosen < b.highest, "{b:?}");
        assert!(!b.at_hard_bound(), "{b:?}");
        assert_eq!(b.next_rate(), None, "{b:?}");
    }
    // Each kind tried only the rungs its own search needed: tied went two
    // rungs further down than untied.
    let tried = |m: &str| {
        let mut r: Vec<f64> = rows
            .iter()
            .filter(|r| r.model == m)
            .filter_map(|r| r.learning_rate)
            .collect();
        r.sort_by(f64::total_cmp);
        r.dedup();
        r
    };
    assert_eq!(
        tried("linear_tied"),
        [3e-5, 1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2]
    );
    assert_eq!(tried("untied"), [3e-4, 1e-3, 3e-3, 1e-2, 3e-2]);
}

/// A loss that keeps falling toward a hard bound stops there, flagged;
/// so does one that keeps falling toward the other bound.
#[test]
fn a_group_at_a_hard_bound_stops_and_is_flagged() {
    let rows = search(&["tied"], |_, lr| 1.0 - lr);
    let b = &rate_brackets(&rows)[0];
    assert_eq!(b.chosen, MAX_LEARNING_RATE);
    assert!(b.at_high_edge() && b.at_hard_bound());
    assert_eq!(b.next_rate(), None);

    let rows = search(&["tied"], |_, lr| 1.0 + lr);
    let b = &rate_brackets(&rows)[0];
    assert_eq!(b.chosen, MIN_LEARNING_RATE);
    assert!(b.at_low_edge() && b.at_hard_bound());
    assert_eq!(b.next_rate(), None);
    // Every rung from the bound to the grid was tried once.
    let mut tried: Vec<f64> = rows.iter().filter_map(|r| r.learning_rate).collect();
    tried.sort_by(f64::total_cmp);
    tried.dedup();
    assert_eq!(tried, [1e-5, 3e-5, 1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2]);
}

/// A diverged rate is never chosen: when the grid's top rate diverges the
/// search does not climb past it.
#[test]
fn a_diverged_edge_is_not_extended_past() {
    let study = gridded();
    let mut rows = vec![row("tied", 1e-2, 0, 0.5), row("tied", 3e-2, 0, 0.1)];
    rows[1].stop_reason = "diverged".into();
    let next = study.next_extra_rates(&rows).unwrap();
    assert_eq!(next.len(), 1);
    assert_eq!(next[0].learning_rate, 3e-3);
}

/// A probe that does worse than the choice on its seeds is kept as tried,
/// so the choice beside it counts as bracketed, runs no other seed, and is
/// never chosen, even where its mean is below the choice's mean over all
/// seeds (a mean over fewer seeds is not comparable). A probe that does
/// better runs every seed and can be chosen.
#[test]
fn a_losing_probe_brackets_without_being_chosen() {
    let study = gridded();
    // 1e-2: mean 0.5 (0.3 on the probe seeds 0 and 1); 3e-2 worse: 1e-2 is
    // at the low edge.
    let at = |lr: f64, vals: [f64; 4]| -> Vec<Row> {
        (0..4)
            .map(|s| row("tied", lr, s, vals[s as usize]))
            .collect()
    };
    let mut rows = at(1e-2, [0.3, 0.3, 0.7, 0.7]);
    rows.extend(at(3e-2, [0.9; 4]));
    let next = study.next_extra_rates(&rows).unwrap();
    assert_eq!((next.len(), next[0].learning_rate), (1, 3e-3));
    assert_eq!(next[0].seeds, [0, 1]);
    // The probe at 3e-3: 0.4 on seeds 0 and 1, worse than 0.3 there but
    // below the choice's mean over every seed.
    let probe: Vec<Row> = (0..2).map(|s| row("tied", 3e-3, s, 0.4)).collect();
    rows.extend(probe.iter().cloned());
    assert!(!probe_passes(&rows, &probe));
    let tuned = select_tuned(&rows);
    assert!(
        tuned.iter().all(|r| r.learning_rate == Some(1e-2)),
        "{tuned:?}"
    );
    assert_eq!(tuned.len(), 4);
    let b = &rate_brackets(&rows)[0];
    assert!(b.lowest < b.chosen && b.chosen < b.highest, "{b:?}");
    assert!(study.next_extra_rates(&rows).unwrap().is_empty());

    // The probe compares means over its seeds: 0.2 and 0.39 average below
    // 0.3 though one of them is above; with its other seeds it is the
    // choice, and the search goes on below it.
    rows.truncate(rows.len() - 2);
    let probe = vec![row("tied", 3e-3, 0, 0.2), row("tied", 3e-3, 1, 0.39)];
    rows.extend(probe.iter().cloned());
    assert!(probe_passes(&rows, &probe));
    rows.extend((2..4).map(|s| row("tied", 3e-3, s, 0.6)));
    assert!(
        select_tuned(&rows)
            .iter()
            .all(|r| r.learning_rate == Some(3e-3))
    );
    assert_eq!(
        study.next_extra_rates(&rows).unwrap()[0].learning_rate,
        1e-3
    );

    // A probe with a diverged run never passes, whatever its last MSE.
    let mut diverged = vec![row("tied", 1e-3, 0, 0.0), row("tied", 1e-3, 1, 0.0)];
    diverged[1].stop_reason = "diverged".into();
    rows.extend(diverged.iter().cloned());
    assert!(!probe_passes(&rows, &diverged));
}

/// The probed search and the exhaustive one choose the same rates on a
/// small study trained for real, and the exhaustive one runs every rate
/// it adds on every seed.
#[test]
fn the_probed_search_chooses_as_the_exhaustive_one() {
    let probed = frame_to_rows(&small_study().run_bracketed().unwrap()).unwrap();
    let exhaustive = frame_to_rows(&small_study().run_bracketed_exhaustive().unwrap()).unwrap();
    let chosen = |rows: &[Row]| -> Vec<(String, f64)> {
        rate_brackets(rows)
            .into_iter()
            .map(|b| (b.row.model.to_string(), b.chosen))
            .collect()
    };
    assert_eq!(chosen(&probed), chosen(&exhaustive));
    for lr in exhaustive.iter().filter_map(|r| r.learning_rate) {
        let seeds = exhaustive
            .iter()
            .filter(|r| r.learning_rate == Some(lr) && r.model == "linear_tied")
            .count();
        assert!(seeds == 0 || seeds == 2, "{lr}: {seeds} seeds");
    }
    assert!(exhaustive.len() >= probed.len());
}

/// Spiked data small enough to train in a blink.
fn spiked() -> Dataset {
    SpikedCovariance::new(150, 8, vec![6.0, 3.0], 0.2, 5)
        .generate()
        .unwrap()
        .dataset
}

/// A linear tied and untied study on the starting grid, trained for real.
fn small_study() -> Study {
    Study::new("bracketed")
        .dataset(spiked())
        .models(&[
            ModelKind::Pca,
            ModelKind::LinearTied,
            ModelKind::LinearUntied,
        ])
        .latents(&[2])
        .seeds(&[0, 1])
        .training(TrainConfig::new().epochs(15).batch_size(32))
        .protocol(Protocol {
            learning_rates: GRID.to_vec(),
            patience: Some(5),
            ..Protocol::default()
        })
}

/// Trained for real: the search ends with every choice interior or at a
/// hard bound, the frame holds every rate tried (the grid's and the
/// added ones, each cell once), a rerun reads every cell from the cache
/// and adds the same rates, and a run without the cache gives the same
/// frame.
#[test]
fn a_trained_search_is_bracketed_deterministic_and_cached() {
    let dir = tempfile::tempdir().unwrap();
    let study = small_study().cache_dir(dir.path());
    let first = study.run_bracketed().unwrap();
    let rows = frame_to_rows(&first).unwrap();
    for b in rate_brackets(&rows) {
        assert_eq!(b.next_rate(), None, "{b:?}");
        assert!(
            (b.lowest < b.chosen && b.chosen < b.highest) || b.at_hard_bound(),
            "{b:?}"
        );
    }
    for m in ["linear_tied", "linear_untied"] {
        for lr in GRID {
            assert_eq!(
                rows.iter()
                    .filter(|r| r.model == m && r.learning_rate == Some(lr))
                    .count(),
                2,
                "{m} at {lr}"
            );
        }
    }
    // One cache file per cell: nothing ran twice.
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        first.height()
    );
    // A rerun reads every cell back (even the seconds are equal).
    let again = study.run_bracketed().unwrap();
    assert!(first.equals_missing(&again));
    // Without the cache the same rates are tried with the same results.
    let fresh = small_study().run_bracketed().unwrap();
    let a = first.drop("seconds").unwrap();
    let b = fresh.drop("seconds").unwrap();
    assert!(a.equals_missing(&b));
    // The plain grid is the first part of the bracketed frame.
    let plain = small_study().run().unwrap();
    assert!(
        plain
            .drop("seconds")
            .unwrap()
            .equals_missing(&a.slice(0, plain.height()))
    );
}

/// A sharded study cannot search: which rates to add depends on every
/// cell's row.
#[test]
fn a_sharded_study_refuses_to_search() {
    let study = small_study().shard(0, 2).unwrap();
    assert!(study.run_bracketed().is_err());
}

/// With a cap in steps, a small training set trains more epochs than a
/// large one, and both the same number of updates.
#[test]
fn the_step_cap_gives_small_training_sets_more_epochs() {
    let p = Protocol {
        max_steps: Some(60),
        ..Protocol::default()
    };
    // 16 rows in batches of 32: one step an epoch; 160 rows: five.
    assert_eq!(p.epoch_cap(5, 16, 32, 1e-3), 60);
    assert_eq!(p.epoch_cap(5, 160, 32, 1e-3), 12);
    assert_eq!(Protocol::default().epoch_cap(5, 16, 32, 1e-3), 5);

    let df = Study::new("steps")
        .dataset(spiked())
        .models(&[ModelKind::LinearTied])
        .latents(&[2])
        .n_trains(&[20, 100])
        .training(
            TrainConfig::new()
                .epochs(5)
                .batch_size(32)
                .learning_rate(1e-3),
        )
        .protocol(Protocol {
            patience: None,
            max_steps: Some(40),
            ..Protocol::default()
        })
        .run()
        .unwrap();
    let rows = frame_to_rows(&df).unwrap();
    let epochs = |n: i64| rows.iter().find(|r| r.n_train == n).unwrap().epochs;
    // 20 rows: 16 fit, one batch an epoch, 40 epochs; 100 rows: 80 fit,
    // three batches an epoch, 14 epochs (42 steps, the first epoch count
    // to reach 40).
    assert_eq!(epochs(20), 40);
    assert_eq!(epochs(100), 14);
}

/// Below the grid's lowest rate the step budget grows as the rate falls
/// (the same rate × steps), up to its bound; at and above it, it holds.
#[test]
fn the_step_cap_grows_in_rate_times_steps_below_the_grid() {
    let p = Protocol {
        max_steps: Some(60),
        learning_rates: vec![3e-3, 1e-3],
        ..Protocol::default()
    };
    assert_eq!(p.step_cap(1e-2), Some(60));
    assert_eq!(p.step_cap(1e-3), Some(60));
    assert_eq!(p.step_cap(1e-4), Some(600));
    assert_eq!(p.step_cap(3e-5), Some(2000));
    // Five decades below: the growth stops at its bound.
    assert_eq!(p.step_cap(1e-8), Some((60.0 * MAX_CAP_GROWTH) as usize));
    // No grid, no step budget: nothing grows.
    let no_grid = Protocol {
        learning_rates: Vec::new(),
        ..p.clone()
    };
    assert_eq!(no_grid.step_cap(1e-5), Some(60));
    assert_eq!(Protocol::default().step_cap(1e-5), None);

    // A cell at a rate the search adds below the grid trains that budget.
    let mut study = Study::new("steps-by-rate")
        .dataset(spiked())
        .models(&[ModelKind::LinearTied])
        .latents(&[2])
        .n_trains(&[20])
        .seeds(&[0])
        .training(TrainConfig::new().epochs(5).batch_size(32))
        .protocol(Protocol {
            patience: None,
            max_steps: Some(40),
            learning_rates: vec![1e-3],
            ..Protocol::default()
        });
    study.extra_rates.push(ExtraRate {
        dataset: "spiked".into(),
        model: ModelKind::LinearTied,
        bias_mode: BiasMode::Separate,
        latent: 2,
        n_train: 20,
        l2: 0.0,
        sparsity_weight: 0.0,
        learning_rate: 1e-4,
        variant: None,
        seeds: vec![0],
    });
    let rows = frame_to_rows(&study.run().unwrap()).unwrap();
    let epochs = |lr: f64| {
        rows.iter()
            .find(|r| r.learning_rate == Some(lr))
            .unwrap()
            .epochs
    };
    // 16 rows fit, one batch an epoch: 40 steps at the grid's rate, ten
    // times as many at a tenth of it.
    assert_eq!(epochs(1e-3), 40);
    assert_eq!(epochs(1e-4), 400);
}
