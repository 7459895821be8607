//! Study tests on spiked-covariance data, whose principal directions and
//! spectrum are known: each built-in study's finding must point the way
//! theory says; plus caching, sharding, file round trips, thread-count
//! independence and config errors.

mod threads;
use nalgebra::DMatrix;
use polars::prelude::*;
use tiedae::Error;
use tiedae::data::{Dataset, SpikedCovariance};
use tiedae::model::BiasMode;
use tiedae::study::builtin::{self, Preset, RunOptions};
use tiedae::study::verdict::{Answer, verdict};
use tiedae::study::{
    COLUMNS, ModelKind, Precision, Protocol, Row, Study, frame_to_rows, merge, select_tuned,
};
use tiedae::train::TrainConfig;

/// 4 spikes of distinct strength in 16 dimensions, small noise.
fn spiked() -> Dataset {
    SpikedCovariance::new(500, 16, vec![9.0, 5.0, 2.5, 1.2], 0.2, 11)
        .generate()
        .unwrap()
        .dataset
}

/// The same data shifted by a constant mean vector (uncentred, like images).
fn shifted() -> Dataset {
    let parts = spiked().into_parts();
    let x = DMatrix::from_fn(parts.x.nrows(), parts.x.ncols(), |i, j| {
        parts.x[(i, j)] + 2.0 + 0.25 * j as f64
    });
    Dataset::new("spiked-shifted", x, None, None).unwrap()
}

fn preset() -> Preset {
    Preset {
        latents: vec![4],
        seeds: vec![0],
        epochs: 40,
        lbfgs_iters: 300,
        batch_size: 32,
        learning_rate: 1e-2,
        learning_rates: vec![],
        patience: None,
        n_trains: vec![20],
        max_rows: None,
        sparsity_weights: vec![3e-2, 3e-1],
        hidden: None,
    }
}

fn quiet() -> RunOptions {
    RunOptions::default()
}

fn rows(df: &DataFrame) -> Vec<Row> {
    frame_to_rows(df).unwrap()
}

fn small_study() -> Study {
    Study::new("small")
        .dataset(spiked())
        .models(&[
            ModelKind::Pca,
            ModelKind::LinearTied,
            ModelKind::LinearUntied,
            ModelKind::Tied,
        ])
        .latents(&[2, 4])
        .seeds(&[0, 1])
        .training(
            TrainConfig::new()
                .epochs(5)
                .batch_size(50)
                .learning_rate(1e-2),
        )
}

/// Frames equal in every column but the wall-clock `seconds`.
fn same_results(a: &DataFrame, b: &DataFrame) -> bool {
    let a = a.drop("seconds").unwrap();
    let b = b.drop("seconds").unwrap();
    a.equals_missing(&b)
}

#[test]
fn frame_has_exactly_the_contract_columns() {
    let df = small_study().run().unwrap();
    let names: Vec<&str> = df.get_column_names().iter().map(|s| s.as_str()).collect();
    assert_eq!(names, COLUMNS.map(|c| c.0));
    // PCA: one per latent and seed; three trained kinds x 2 latents x 2 seeds.
    assert_eq!(df.height(), 2 * 2 + 3 * 2 * 2);
    let r = rows(&df);
    assert!(
        r.iter()
            .filter(|r| r.model == "pca")
            .all(|r| r.ratio_to_pca == 1.0)
    );
    // wwt_minus_i is null exactly where there is no tied first layer.
    for row in &r {
        let tied = row.model == "linear_tied" || row.model == "tied";
        assert_eq!(row.wwt_minus_i.is_some(), tied, "{row:?}");
    }
}

#[test]
fn cells_enumerate_deterministically_and_collapse_unused_axes() {
    let s = small_study()
        .models(&[ModelKind::Pca, ModelKind::LinearTied, ModelKind::SparseTied])
        .sparsity_weights(&[0.0, 0.1, 0.2])
        .bias_modes(&[BiasMode::Separate, BiasMode::None]);
    let cells = s.cells().unwrap();
    // Per latent: 2 seeds PCA + 2 bias x 2 seeds linear + 2 bias x 3 weights x 2 seeds sparse.
    assert_eq!(cells.len(), 2 * (2 + 4 + 12));
    assert!(cells.iter().enumerate().all(|(i, c)| c.index == i));
    assert_eq!(cells, s.cells().unwrap());
    assert!(
        cells
            .iter()
            .filter(|c| c.model != ModelKind::SparseTied)
            .all(|c| c.sparsity_weight == 0.0)
    );
    let shard = s.clone().shard(1, 3).unwrap().selected_cells().unwrap();
    assert!(shard.iter().all(|c| c.index % 3 == 1));
}

#[test]
fn bad_configs_are_config_errors() {
    let bad: Vec<(&str, Study)> = vec![
        ("models", small_study().models(&[])),
        ("latents", small_study().latents(&[4, 4])),
        ("latents", small_study().latents(&[0])),
        ("latents", small_study().latents(&[17])),
        ("n_trains", small_study().n_trains(&[10_000])),
        ("l2s", small_study().l2s(&[-1.0])),
        (
            "sparsity_weights",
            small_study().sparsity_weights(&[f64::NAN]),
        ),
        ("seeds", small_study().seeds(&[u64::MAX])),
        ("test_fraction", small_study().test_fraction(1.5)),
        ("datasets", Study::new("empty").models(&[ModelKind::Pca])),
        (
            "epochs",
            small_study().training(TrainConfig::new().epochs(0)),
        ),
    ];
    for (field, s) in bad {
        match s.run() {
            Err(Error::Config { field: f, .. }) => assert_eq!(f, field),
            other => panic!("{field}: expected a config error, got {other:?}"),
        }
    }
    assert!(matches!(
        small_study().shard(2, 2),
        Err(Error::Config { field: "shard", .. })
    ));
}

#[test]
fn same_results_with_one_or_two_threads() {
    let run = |threads| threads::on_threads(threads, || small_study().run().unwrap());
    assert!(same_results(&run(1), &run(2)));
}

#[test]
fn cache_is_reused_and_corruption_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let s = small_study().cache_dir(dir.path());
    let first = s.run().unwrap();
    let files: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert_eq!(files.len(), first.height());
    // A rerun reads every cell back: even the wall-clock seconds are equal.
    let second = s.run().unwrap();
    assert!(first.equals_missing(&second));
    // Adding a seed reuses the old cells and runs only the new ones.
    let grown = s.clone().seeds(&[0, 1, 2]).run().unwrap();
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        grown.height()
    );
    // A damaged cache file is an error naming it. The victim is one of the
    // first run's cells (the directory also holds the third seed's, which
    // `s` never reads; listing order depends on the file names).
    let victim = files[0].as_ref().unwrap().path();
    std::fs::write(&victim, b"{\"format\": \"tiedae-study-cell\", \"key\"").unwrap();
    match s.run() {
        Err(Error::Format { path, .. }) => assert_eq!(path, victim),
        other => panic!("expected a format error, got {other:?}"),
    }
}

/// A raised interrupt flag stops the run before any cell starts and
/// caches nothing; once lowered, the same study runs to the frame an
/// uninterrupted run gives, and the cache then holds every cell.
#[test]
fn an_interrupted_study_caches_nothing_unfinished_and_reruns() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    let dir = tempfile::tempdir().unwrap();
    let study = small_study().cache_dir(dir.path());
    let total = study.selected_cells().unwrap().len();
    let flag = Arc::new(AtomicBool::new(true));
    let err = study.clone().interrupt(flag.clone()).run().unwrap_err();
    assert!(
        matches!(err, Error::StudyInterrupted { done: 0, total: t } if t == total),
        "{err}"
    );
    assert!(
        err.to_string()
            .contains(&format!("0 of {total} cells done"))
    );
    assert!(study.cached_cells().unwrap().iter().all(|(_, done)| !done));
    flag.store(false, Ordering::SeqCst);
    let df = study.clone().interrupt(flag).run().unwrap();
    assert!(study.cached_cells().unwrap().iter().all(|(_, done)| *done));
    assert!(same_results(&df, &small_study().run().unwrap()));
}

/// A built-in study takes its shard from the run options, so it spreads
/// over a job array like a study file.
#[test]
fn built_in_studies_take_their_shard_from_the_run_options() {
    let opts = RunOptions {
        shard: Some((1, 2)),
        ..RunOptions::default()
    };
    let study = builtin::linear_pca::study(&spiked(), &preset(), &opts).unwrap();
    assert_eq!(study.shard, Some((1, 2)));
    let all = study.cells().unwrap();
    let selected = study.selected_cells().unwrap();
    assert!(!selected.is_empty());
    assert!(selected.iter().all(|c| c.index % 2 == 1));
    assert_eq!(
        selected.len(),
        all.iter().filter(|c| c.index % 2 == 1).count()
    );
    let bad = RunOptions {
        shard: Some((2, 2)),
        ..RunOptions::default()
    };
    let err = builtin::linear_pca::study(&spiked(), &preset(), &bad)
        .unwrap()
        .cells()
        .unwrap_err();
    assert!(matches!(err, Error::Config { field: "shard", .. }), "{err}");
}

#[test]
fn shards_merge_into_the_unsharded_run() {
    let dir = tempfile::tempdir().unwrap();
    let full = small_study().run().unwrap();
    let mut paths = Vec::new();
    for i in 0..3 {
        let stem = dir.path().join(format!("shard{i}"));
        small_study()
            .shard(i, 3)
            .unwrap()
            .run_to_files(&stem)
            .unwrap();
        // Alternate formats: merge reads either.
        paths.push(stem.with_extension(if i == 1 { "csv" } else { "parquet" }));
    }
    let merged = merge(&paths).unwrap();
    assert!(same_results(&merged, &full));
    // A missing shard and a duplicated one are both refused.
    assert!(
        matches!(merge(&paths[..2]), Err(Error::InvalidData(m)) if m.contains("none of the files"))
    );
    let dup = [
        paths[0].clone(),
        paths[1].clone(),
        paths[2].clone(),
        paths[0].clone(),
    ];
    assert!(matches!(merge(&dup), Err(Error::InvalidData(m)) if m.contains("in both")));
    // A shard of another study is refused.
    let other = dir.path().join("other");
    small_study()
        .seeds(&[5])
        .shard(0, 3)
        .unwrap()
        .run_to_files(&other)
        .unwrap();
    let mixed = [paths[0].clone(), other.with_extension("parquet")];
    assert!(matches!(merge(&mixed), Err(Error::InvalidData(m)) if m.contains("belongs to study")));
}

#[test]
fn parquet_and_csv_read_back_to_the_same_frame() {
    let dir = tempfile::tempdir().unwrap();
    let df = small_study().run().unwrap();
    let (pq, csv) = tiedae::study::write_results(&df, &dir.path().join("results")).unwrap();
    assert!(
        tiedae::study::read_parquet(&pq)
            .unwrap()
            .equals_missing(&df)
    );
    assert!(tiedae::study::read_csv(&csv).unwrap().equals_missing(&df));
    // Nulls survive (untied and PCA rows have no W Wᵀ − I).
    assert!(df.column("wwt_minus_i").unwrap().null_count() > 0);
    let junk = dir.path().join("junk.parquet");
    std::fs::write(&junk, b"not parquet").unwrap();
    assert!(
        matches!(tiedae::study::read_parquet(&junk), Err(Error::Format { path, .. }) if path == junk)
    );
}

#[test]
fn study1_linear_tied_reaches_pca_and_its_subspace() {
    let df = builtin::linear_pca::run(&spiked(), &preset(), &quiet()).unwrap();
    for r in rows(&df)
        .iter()
        .filter(|r| r.model.is_linear() && !r.model.is_pca())
    {
        assert!((r.ratio_to_pca - 1.0).abs() < 0.01, "{r:?}");
        assert!(r.max_angle_deg.unwrap() < 1.0, "{r:?}");
    }
    let tied = rows(&df)
        .into_iter()
        .find(|r| r.model == "linear_tied")
        .unwrap();
    assert!(tied.wwt_minus_i.unwrap() < 0.05);
    let s = builtin::linear_pca::summary(&df).unwrap();
    assert!(
        s.iter().any(|l| l.starts_with("linear tied reached")),
        "{s:?}"
    );
}

#[test]
fn study2_l2_pins_the_individual_principal_directions() {
    let df = builtin::l2_directions::run(&spiked(), &preset(), &quiet()).unwrap();
    let r = rows(&df);
    let a: Vec<f64> = df
        .column("direction_angle_deg")
        .unwrap()
        .f64()
        .unwrap()
        .iter()
        .map(Option::unwrap)
        .collect();
    let max_with = (0..r.len())
        .filter(|&i| r[i].l2 > 0.0)
        .map(|i| a[i])
        .fold(0.0, f64::max);
    let max_without = (0..r.len())
        .filter(|&i| r[i].l2 == 0.0)
        .map(|i| a[i])
        .fold(0.0, f64::max);
    assert!(max_with < 2.0, "with L2: {max_with}");
    assert!(max_without > 5.0 * max_with, "without L2: {max_without}");
    // Either way the subspace itself is the principal one.
    assert!(r.iter().all(|r| r.max_angle_deg.unwrap() < 2.0));
    assert_eq!(builtin::l2_directions::summary(&df).unwrap().len(), 2);
    // Kunin's closed form beside the learned singular values: 1 without
    // L2, strictly between 0 and 1 with it, and the error is their gap.
    let col = |name: &str| -> Vec<f64> {
        df.column(name)
            .unwrap()
            .f64()
            .unwrap()
            .iter()
            .map(Option::unwrap)
            .collect()
    };
    let (s, p, e) = (
        col("singular_value"),
        col("predicted_singular_value"),
        col("singular_value_error"),
    );
    for i in 0..r.len() {
        if r[i].l2 == 0.0 {
            assert_eq!(p[i], 1.0);
        } else {
            assert!(p[i] > 0.0 && p[i] < 1.0, "{}", p[i]);
        }
        assert!((e[i] - (s[i] - p[i])).abs() < 1e-12);
    }
}

#[test]
fn study3_tied_has_half_the_weights() {
    let p = Preset {
        latents: vec![2, 4],
        ..preset()
    };
    let df = builtin::param_counts::run(&spiked(), &p).unwrap();
    let ratio = df.column("weight_ratio").unwrap().f64().unwrap();
    assert!(ratio.iter().all(|v| v == Some(0.5)));
    let s = builtin::param_counts::summary(&df).unwrap();
    let n = df.height();
    assert!(
        s[0].contains(&format!("in {n} of {n} architecture")),
        "{s:?}"
    );
    assert!(
        s[0].contains(&format!("closed forms in {n} of {n}")),
        "{s:?}"
    );
}

#[test]
fn study4_untied_overfits_more_on_few_rows() {
    // Several seeds, trained long enough to fit: each seed draws its own
    // few rows, so the gap is a mean over data samples.
    let p = Preset {
        seeds: (0..5).collect(),
        epochs: 400,
        ..preset()
    };
    let df = builtin::overfitting::run(&spiked(), &p, &quiet()).unwrap();
    let r = rows(&df);
    // Mean over seeds: each seed draws its own rows, so one seed's gap is
    // one data sample's.
    let gap = |m: &str, n: i64| {
        let gaps: Vec<f64> = r
            .iter()
            .filter(|r| r.model == m && r.n_train == n)
            .map(|r| r.test_mse - r.train_mse)
            .collect();
        assert!(!gaps.is_empty(), "no {m} rows at n = {n}");
        gaps.iter().sum::<f64>() / gaps.len() as f64
    };
    let small = r.iter().map(|r| r.n_train).min().unwrap();
    let large = r.iter().map(|r| r.n_train).max().unwrap();
    assert!(
        gap("untied", small) > gap("tied", small),
        "untied {} tied {} at n = {small}",
        gap("untied", small),
        gap("tied", small)
    );
    assert!(gap("untied", large) < gap("untied", small));
    assert!(!builtin::overfitting::summary(&df).unwrap().is_empty());
}

#[test]
fn study5_tied_wins_at_equal_budget() {
    // A direction is stated only from a seed interval over converged
    // cells: three seeds, trained to a validation plateau.
    let p = Preset {
        seeds: (0..8).collect(),
        epochs: 2000,
        patience: Some(10),
        ..preset()
    };
    let df = builtin::equal_budget::run(&spiked(), &p, &quiet()).unwrap();
    let r = rows(&df);
    let get = |m: &str, k: i64| r.iter().find(|r| r.model == m && r.latent == k).unwrap();
    let mean_mse = |m: &str, k: i64| {
        let v: Vec<f64> = r
            .iter()
            .filter(|r| r.model == m && r.latent == k)
            .map(|r| r.test_mse)
            .collect();
        v.iter().sum::<f64>() / v.len() as f64
    };
    // 4 spikes: untied with 2 units cannot reach what tied with 4 reaches.
    assert!(mean_mse("tied", 4) < mean_mse("untied", 2));
    assert_eq!(get("tied", 4).params - 16 - 4, 16 * 4);
    let s = builtin::equal_budget::summary(&df).unwrap();
    assert!(
        s.iter()
            .any(|l| l.contains("At equal weights") && l.contains(": tied lower.")),
        "{s:?}"
    );
}

#[test]
fn study6_both_kinds_reach_the_shared_target() {
    let df = builtin::convergence::run(&spiked(), &preset(), &quiet()).unwrap();
    let ep = df.column("epochs_to_target").unwrap().i64().unwrap();
    let r = rows(&df);
    for (i, row) in r.iter().enumerate() {
        let e = ep.get(i);
        if row.model == "pca" {
            assert!(e.is_none());
        } else {
            assert!(e.is_some_and(|e| e >= 1 && e <= row.epochs), "{row:?}");
        }
    }
    let s = builtin::convergence::summary(&df).unwrap();
    assert_eq!(s.len(), 2);
    // Medians over cells are not a paired test: a direction stated from
    // them could contradict the verdict's epochs question.
    for line in &s {
        assert!(
            !line.contains("needed more") && !line.contains("needed fewer"),
            "{line}"
        );
        assert!(line.contains("no direction is claimed"), "{line}");
    }
}

#[test]
fn study7_l1_buys_sparsity_with_error() {
    let df = builtin::sparse::run(&spiked(), &preset(), &quiet()).unwrap();
    let t = builtin::sparse::trade_off(&df).unwrap();
    let (first, last) = (t[0], t[t.len() - 1]);
    assert_eq!(first.0, 0.0);
    assert!(last.1 > first.1, "sparsity {t:?}");
    assert!(last.2 > first.2, "test MSE {t:?}");
    assert!(!builtin::sparse::summary(&df).unwrap().is_empty());
}

#[test]
fn study8_uncentred_data_need_a_bias() {
    let df = builtin::bias_modes::run(&shifted(), &preset(), &quiet()).unwrap();
    let r = rows(&df);
    let ratio = |b: &str| {
        r.iter()
            .find(|r| r.model == "linear_tied" && r.bias_mode == b)
            .unwrap()
            .ratio_to_pca
    };
    // Pre-centering is PCA's own family; without a bias the mean costs a
    // lot; separate biases can represent PCA too (they beat none). A linear
    // mirrored bias cancels exactly: (x Wᵀ + b − b) W = x WᵀW, i.e. none.
    // In floating point it cancels to rounding, so the two L-BFGS runs
    // follow iterates a rounding apart and each stops at the relative cost
    // tolerance near the same optimum: equal to the solver's accuracy (they
    // differ by about 4e-6 here), far from the factor 2 a bias that did
    // not cancel would leave.
    assert!((ratio("pre_centering") - 1.0).abs() < 0.01);
    assert!(ratio("none") > 2.0 * ratio("pre_centering"));
    assert!(ratio("separate") < ratio("none"));
    assert!((ratio("mirrored") / ratio("none") - 1.0).abs() < 1e-4);
    let s = builtin::bias_modes::summary(&df).unwrap();
    assert!(s[0].starts_with("Linear tied"), "{s:?}");
}

/// Per-family training: in the bias-modes grid the linear kind trains as
/// its family says (full-batch L-BFGS in f64: no rate axis, no
/// equal-epochs measure, PCA's error reached with pre-centering) and the
/// ReLU kind as the study says (Adam over the rate grid). The grid is the
/// two single-family studies it replaces, stacked: the same rows bit for
/// bit (timing aside) and the same cache keys (a grid run after them reads
/// every cell back), while another L-BFGS config keys its linear cells
/// anew.
#[test]
fn linear_kinds_train_with_their_own_family_in_one_grid() {
    let mut p = preset();
    p.learning_rates = vec![3e-3, 1e-2];
    let grid = builtin::bias_modes::study(&shifted(), &p, &quiet()).unwrap();
    let family = grid.linear_training.clone().expect("a linear family");
    assert!(family.config.is_lbfgs() && !grid.training.is_lbfgs());
    assert_eq!(family.precision, Precision::F64);

    let df = grid.run().unwrap();
    let r = rows(&df);
    let of = |model: &str| r.iter().filter(|r| r.model == model).collect::<Vec<&Row>>();
    // One seed: PCA once; 4 bias modes; the ReLU kind also per rate.
    let (pca, linear, tied) = (of("pca"), of("linear_tied"), of("tied"));
    assert_eq!((pca.len(), linear.len(), tied.len()), (1, 4, 8));
    assert_eq!(df.height(), 13);
    for r in &linear {
        assert_eq!(r.learning_rate, None, "{r:?}");
        assert_eq!(r.val_mse_at_budget, None, "{r:?}");
    }
    let centred = linear
        .iter()
        .find(|r| r.bias_mode == "pre_centering")
        .unwrap();
    assert!((centred.ratio_to_pca - 1.0).abs() < 0.01, "{centred:?}");
    let mut rates: Vec<f64> = tied.iter().map(|r| r.learning_rate.unwrap()).collect();
    rates.sort_by(f64::total_cmp);
    rates.dedup();
    assert_eq!(rates, [3e-3, 1e-2]);
    assert!(tied.iter().all(|r| r.val_mse_at_budget.is_some()));

    // The two studies the grid replaces, each training every kind alike.
    let dir = tempfile::tempdir().unwrap();
    let mut linear_only = grid
        .clone()
        .models(&[ModelKind::Pca, ModelKind::LinearTied])
        .training(family.config.clone())
        .precision(family.precision)
        .cache_dir(dir.path());
    linear_only.linear_training = None;
    let mut relu_only = grid
        .clone()
        .models(&[ModelKind::Tied])
        .cache_dir(dir.path());
    relu_only.linear_training = None;
    let mut stacked = linear_only.run().unwrap();
    stacked.vstack_mut(&relu_only.run().unwrap()).unwrap();
    assert!(
        same_results(&df, &stacked),
        "grid:\n{df}\nstacked:\n{stacked}"
    );
    let count = || std::fs::read_dir(dir.path()).unwrap().count();
    assert_eq!(count(), 13);
    let cached = grid.clone().cache_dir(dir.path()).run().unwrap();
    assert!(cached.equals_missing(&stacked), "every cell read back");
    assert_eq!(count(), 13);
    let mut other = family.config.clone();
    if let tiedae::train::Optimizer::Lbfgs(c) = &mut other.optimizer {
        c.max_iters += 1;
    }
    let retrained = grid
        .clone()
        .linear_training(other, family.precision)
        .cache_dir(dir.path())
        .run()
        .unwrap();
    assert_eq!(retrained.height(), 13);
    assert_eq!(count(), 13 + 4, "the linear cells' keys hold their config");
}

#[test]
fn detailed_run_carries_artifacts() {
    let res = small_study().run_detailed().unwrap();
    assert_eq!(res.cells.len(), res.results.height());
    for a in &res.cells {
        assert_eq!(a.filters.ncols(), 16);
        assert_eq!(a.reconstructions.shape(), (10, 16));
        assert_eq!(a.history.is_some(), a.cell.model != ModelKind::Pca);
        if let Some(h) = &a.history {
            assert_eq!(h.height() as i64, a.row.epochs);
        }
    }
    let first = &res.cells[0].cell;
    let p = res.pca("spiked", first.n_train, first.seed).unwrap();
    assert_eq!(p.test_head.shape(), (10, 16));
    let _ = Precision::F64;
}

/// The first 300 rows of the 8x8 digits: enough for a conv cell to train a
/// little in a fraction of a second.
fn small_digits() -> Dataset {
    let p = Dataset::builtin("digits").unwrap().into_parts();
    assert_eq!(p.image_shape, Some((8, 8)));
    let n = 300;
    let labels = p.labels.map(|l| l[..n].to_vec());
    Dataset::new(
        "digits300",
        p.x.rows(0, n).into_owned(),
        labels,
        p.image_shape,
    )
    .unwrap()
}

#[test]
fn conv_kinds_run_on_images_and_are_refused_elsewhere() {
    let study = Study::new("conv")
        .dataset(small_digits())
        .models(&[ModelKind::ConvTied, ModelKind::ConvUntied])
        .latents(&[6])
        .bias_modes(&[BiasMode::Separate, BiasMode::None])
        .training(
            TrainConfig::new()
                .epochs(2)
                .batch_size(32)
                .learning_rate(1e-3),
        );
    let r = rows(&study.run().unwrap());
    assert_eq!(r.len(), 4);
    for bias in ["separate", "none"] {
        let get = |m: &str| {
            r.iter()
                .find(|r| r.model == m && r.bias_mode == bias)
                .unwrap_or_else(|| panic!("no {m} row with bias {bias}: {r:?}"))
        };
        let (tied, untied) = (get("conv_tied"), get("conv_untied"));
        assert!(tied.params < untied.params, "{tied:?} vs {untied:?}");
        for row in [tied, untied] {
            assert!(row.test_mse.is_finite() && row.test_mse > 0.0, "{row:?}");
            assert!(row.pca_test_mse.is_finite(), "{row:?}");
            assert_eq!(row.epochs, 2);
            assert_eq!(row.latent, 6);
            assert!(row.max_angle_deg.is_none(), "{row:?}");
            assert!(row.mean_angle_deg.is_none(), "{row:?}");
            assert!(row.wwt_minus_i.is_none(), "{row:?}");
        }
    }

    // The same kinds on data without an image shape: a config error that
    // names the dataset, before anything trains.
    for kind in [ModelKind::ConvTied, ModelKind::ConvUntied] {
        let err = Study::new("conv-flat")
            .dataset(spiked())
            .models(&[ModelKind::Pca, kind])
            .run()
            .unwrap_err();
        match err {
            Error::Config { field, reason } => {
                assert_eq!(field, "models");
                assert!(reason.contains("spiked"), "{reason}");
            }
            other => panic!("expected a config error, got {other:?}"),
        }
    }
    // Conv pairs have no pre-centering or mirrored biases.
    let err = study
        .clone()
        .bias_modes(&[BiasMode::PreCentering])
        .run()
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Config {
                field: "bias_modes",
                ..
            }
        ),
        "{err:?}"
    );
}

/// A budget too short to converge is recorded as `max_epochs`, and the
/// verdict refuses to conclude from such cells instead of declaring a
/// direction.
#[test]
fn short_budget_is_flagged_and_the_verdict_does_not_conclude() {
    let df = Study::new("short")
        .dataset(spiked())
        .models(&[ModelKind::Tied, ModelKind::Untied])
        .latents(&[2, 4])
        .seeds(&[0, 1, 2])
        .training(
            TrainConfig::new()
                .epochs(2)
                .batch_size(50)
                .learning_rate(1e-2),
        )
        .run()
        .unwrap();
    let r = rows(&df);
    assert!(
        r.iter()
            .all(|r| r.stop_reason == "max_epochs" && r.best_epoch <= 2),
        "{r:?}"
    );
    let v = verdict(&r);
    assert!(!v.is_empty());
    for answer in &v {
        assert_eq!(answer.answer, Answer::Unclear, "{answer:?}");
        assert!(answer.detail.contains("not converged at"), "{answer:?}");
    }
}

/// Two identical kinds, compared by the paired machinery, show no
/// difference beyond the ±2% margin: the same cells under two names differ
/// by exactly zero for every seed, which is equivalence, not merely "no
/// detectable difference".
#[test]
fn identical_kinds_show_no_difference_beyond_the_margin() {
    let df = Study::new("twins")
        .dataset(spiked())
        .models(&[ModelKind::Tied])
        .latents(&[2, 4])
        .seeds(&[0, 1, 2])
        .training(
            TrainConfig::new()
                .epochs(2000)
                .batch_size(50)
                .learning_rate(1e-2),
        )
        .run()
        .unwrap();
    let tied = rows(&df);
    assert!(tied.iter().all(|r| r.stop_reason == "patience"), "{tied:?}");
    let mut both = tied.clone();
    both.extend(tied.iter().map(|r| Row {
        model: ModelKind::Untied.into(),
        ..r.clone()
    }));
    let v = verdict(&both);
    let cost = v
        .iter()
        .find(|a| a.question.contains("equal latent size"))
        .expect("the equal-size question");
    assert_eq!(cost.answer, Answer::Equivalent, "{cost:?}");
    assert!(cost.effect.contains("within ±2%"), "{cost:?}");
    assert!(
        cost.summary.to_lowercase().contains("within ±2%"),
        "{cost:?}"
    );
}

/// The learning rate is tuned by the one stated rule: per configuration,
/// the rate whose mean validation MSE over seeds is lowest; the tuned rows
/// are exactly that rate's rows, replayed here from the frame.
#[test]
fn the_learning_rate_grid_is_tuned_on_validation_only() {
    let grid = [1e-3, 1e-2, 1e-1];
    let df = Study::new("grid")
        .dataset(spiked())
        .models(&[ModelKind::Pca, ModelKind::Tied])
        .latents(&[2])
        .seeds(&[0, 1, 2])
        .training(TrainConfig::new().epochs(60).batch_size(50))
        .protocol(Protocol {
            learning_rates: grid.to_vec(),
            ..Protocol::default()
        })
        .run()
        .unwrap();
    let all = rows(&df);
    assert_eq!(all.len(), 3 + 3 * 3);
    let mean_val = |lr: f64| {
        let v: Vec<f64> = all
            .iter()
            .filter(|r| r.learning_rate == Some(lr))
            .map(|r| r.val_mse)
            .collect();
        assert_eq!(v.len(), 3);
        v.iter().sum::<f64>() / 3.0
    };
    let want = grid
        .into_iter()
        .min_by(|a, b| mean_val(*a).total_cmp(&mean_val(*b)))
        .unwrap();
    let tuned = select_tuned(&all);
    assert_eq!(tuned.len(), 3 + 3);
    assert!(
        tuned
            .iter()
            .any(|r| r.model == "pca" && r.learning_rate.is_none())
    );
    assert!(
        tuned
            .iter()
            .filter(|r| r.model == "tied")
            .all(|r| r.learning_rate == Some(want)),
        "{tuned:?}"
    );
    // PCA fits the rows the autoencoders fit: the validation rows are
    // carved from the training part, so its train and validation MSE differ.
    let pca = &tuned[0];
    assert!(pca.val_mse != pca.train_mse && pca.val_mse.is_finite());
}

/// A denoising cell's corrupted test MSE is its own model's MSE on its
/// seed's test rows, each corrupted once with its own noise from the
/// stream of its seed, against the clean rows. Recomputed here from
/// outside the engine: the public [`Corruption`] on the seed's test part,
/// the cell's tied weight (no biases, so `x̂ = σ(x Wᵀ) W` in f64) and, for
/// Gaussian noise, σ resolved against the training part's entry scale
/// (no validation carve, so the cell fits exactly those rows). PCA's
/// masked column is checked against its split's own PCA fit.
#[test]
fn denoising_metrics_equal_an_independent_recomputation() {
    use tiedae::data::train_test_split;
    use tiedae::model::Activation;
    use tiedae::rng::derive_seed;
    use tiedae::study::MetricSet;
    use tiedae::study::{TEST_NOISE_STREAM, Variant, entry_scale, read_extra_columns};
    use tiedae::train::Corruption;
    let ds = small_digits();
    let seed = 3;
    let tied = |name: &str, c: Corruption| {
        Variant::new(name, true)
            .activation(Activation::Sigmoid)
            .bias_mode(BiasMode::None)
            .corruption(c)
            .metrics(MetricSet::Denoising)
    };
    let study = Study::new("denoising-check")
        .dataset(ds.clone())
        .models(&[ModelKind::Pca])
        .variants(&[
            tied("tied_mask_25", Corruption::Masking { fraction: 0.25 }),
            tied("tied_gauss_25", Corruption::Gaussian { sigma: 0.25 }),
        ])
        .latents(&[4])
        .seeds(&[seed])
        .bias_modes(&[BiasMode::None])
        .protocol(Protocol::fixed_budget())
        .precision(Precision::F64)
        .training(
            TrainConfig::new()
                .epochs(3)
                .batch_size(32)
                .learning_rate(1e-2),
        );
    let res = study.run_detailed().unwrap();
    let (set, values) = read_extra_columns(&res.results).unwrap().unwrap();
    assert_eq!(set, MetricSet::Denoising);
    assert_eq!(values.len(), 3);
    let (train, test) = train_test_split(&ds, study.test_fraction, study.data_seed(seed)).unwrap();
    let x = test.x();
    let scale = entry_scale(train.x());
    assert!(scale > 0.0);
    let rows: Vec<usize> = (0..x.nrows()).collect();
    let corrupted = |noise: Corruption| {
        let mut noisy = x.clone();
        noise
            .apply(&mut noisy, &rows, derive_seed(seed, TEST_NOISE_STREAM))
            .unwrap();
        noisy
    };
    let mse = |recon: DMatrix<f64>| (recon - x).norm_squared() / x.len() as f64;
    let close = |got: Option<f64>, want: f64, what: &str| {
        let got = got.unwrap_or_else(|| panic!("{what}: null"));
        assert!(
            (got - want).abs() <= 1e-9 * want,
            "{what}: {got} vs recomputed {want}"
        );
    };
    let mut checked = 0;
    for (cell, v) in res.cells.iter().zip(&values) {
        let m = v.denoising.clone().expect("every cell records the set");
        if cell.row.model == "pca" {
            let pca = &res.pcas[0].pca;
            let masked = corrupted(Corruption::Masking { fraction: 0.25 });
            close(
                m.masked_test_mse[1],
                mse(pca.reconstruct(&masked).unwrap()),
                "pca masked_test_mse_25",
            );
            // No noise of its own: its corrupted MSE is the clean one.
            close(
                m.corrupted_test_mse,
                cell.row.test_mse,
                "pca corrupted_test_mse",
            );
            checked += 1;
            continue;
        }
        let (noise, column) = if cell.row.model == "tied_mask_25" {
            (Corruption::Masking { fraction: 0.25 }, m.masked_test_mse[1])
        } else {
            (
                Corruption::Gaussian {
                    sigma: 0.25 * scale,
                },
                m.noisy_test_mse[1],
            )
        };
        let w = &cell.filters;
        assert_eq!(w.shape(), (4, 64));
        let h = (corrupted(noise) * w.transpose()).map(|z| 1.0 / (1.0 + (-z).exp()));
        let want = mse(h * w);
        close(m.corrupted_test_mse, want, cell.row.model.as_str());
        // The level's column holds the same corrupted rows.
        close(column, want, "the level's column");
        assert!(
            (want - cell.row.test_mse).abs() > 1e-12,
            "the noise changed nothing"
        );
        checked += 1;
    }
    assert_eq!(checked, 3);
}
