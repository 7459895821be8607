//! Seeds resample the data: each seed of a study draws its own train/test
//! split, training rows and validation carve (by class where there are
//! labels), every model of that seed (PCA included) sees those rows, and a
//! shard draws exactly what the full run draws for its cells.

use tiedae::data::{Dataset, SpikedCovariance, StratifiedDraw, train_test_split};
use tiedae::study::builtin::{self, Preset, RunOptions};
use tiedae::study::{ModelKind, Row, Study, frame_to_rows};

/// 4 spikes of distinct strength in 16 dimensions, small noise (no labels).
fn spiked() -> Dataset {
    SpikedCovariance::new(500, 16, vec![9.0, 5.0, 2.5, 1.2], 0.2, 11)
        .generate()
        .unwrap()
        .dataset
}

/// The first `n` rows of the 8x8 digits, with their labels.
fn digits(n: usize) -> Dataset {
    let p = Dataset::builtin("digits").unwrap().into_parts();
    let labels = p.labels.map(|l| l[..n].to_vec());
    Dataset::new(
        "digits-head",
        p.x.rows(0, n).into_owned(),
        labels,
        p.image_shape,
    )
    .unwrap()
}

/// Three seeds, one latent size, L-BFGS to its tolerance for the linear
/// kinds (as the `linear-pca` study trains them).
fn preset() -> Preset {
    Preset {
        latents: vec![4],
        seeds: vec![0, 1, 2],
        epochs: 40,
        lbfgs_iters: 300,
        batch_size: 32,
        learning_rate: 1e-2,
        learning_rates: vec![],
        patience: None,
        n_trains: vec![20],
        max_rows: None,
        sparsity_weights: vec![3e-2],
        hidden: None,
    }
}

fn linear_pca() -> Study {
    builtin::linear_pca::study(&spiked(), &preset(), &RunOptions::default()).unwrap()
}

fn pca_row(rows: &[Row], seed: i64) -> &Row {
    rows.iter()
        .find(|r| r.model == ModelKind::Pca && r.seed == seed)
        .unwrap_or_else(|| panic!("no PCA row of seed {seed}"))
}

/// Every model of a seed is measured on that seed's rows against that
/// seed's PCA (the linear tied model reaches it), and two seeds fit and
/// test on different rows: PCA's fits, test rows and errors differ.
#[test]
fn every_model_of_a_seed_shares_its_rows_and_seeds_differ() {
    let study = linear_pca();
    let res = study.run_detailed().unwrap();
    let rows = frame_to_rows(&res.results).unwrap();
    for seed in 0..3i64 {
        let pca = pca_row(&rows, seed);
        assert_eq!(pca.ratio_to_pca, 1.0);
        for r in rows.iter().filter(|r| r.seed == seed) {
            assert_eq!(r.n_train, pca.n_train, "{r:?}");
            // The same test rows and the same PCA: PCA's error, bit for bit.
            assert_eq!(r.pca_test_mse, pca.test_mse, "{r:?}");
        }
        let tied = rows
            .iter()
            .find(|r| r.model == ModelKind::LinearTied && r.seed == seed)
            .unwrap();
        assert!(
            (tied.test_mse / pca.test_mse - 1.0).abs() < 0.01,
            "linear tied {tied:?} against PCA {pca:?}"
        );
    }
    let errors: Vec<f64> = (0..3).map(|s| pca_row(&rows, s).test_mse).collect();
    assert!(
        errors[0] != errors[1] && errors[1] != errors[2] && errors[0] != errors[2],
        "{errors:?}"
    );

    let name = rows[0].dataset.clone();
    let n = rows[0].n_train as usize;
    let n_fit = n - study.protocol.validation_rows(n);
    let fits: Vec<_> = (0..3u64)
        .map(|s| res.pca(&name, n, s).expect("a PCA per seed"))
        .collect();
    for f in &fits {
        assert_eq!(f.pca.n_samples(), n_fit);
    }
    assert_ne!(fits[0].pca.mean(), fits[1].pca.mean());
    assert_ne!(fits[1].pca.mean(), fits[2].pca.mean());
    assert_ne!(fits[0].test_head, fits[1].test_head);
    // Each seed's test rows are those of the split `Study::data_seed` names.
    for (s, f) in fits.iter().enumerate() {
        let (_, test) = train_test_split(
            &study.datasets[0],
            study.test_fraction,
            study.data_seed(s as u64),
        )
        .unwrap();
        let head = test.x().rows(0, f.test_head.nrows()).into_owned();
        assert_eq!(f.test_head, head, "seed {s}");
    }
}

/// With labels, each seed's test part holds every class within one row of
/// its share, the seeds' test parts differ, and a draw of training rows
/// from a training part keeps its classes within one row too.
#[test]
fn each_seed_splits_by_class() {
    let ds = digits(600);
    let labels = ds.labels().unwrap().to_vec();
    let study = Study::new("strata")
        .dataset(ds.clone())
        .models(&[ModelKind::Pca])
        .latents(&[2])
        .n_trains(&[100])
        .seeds(&[0, 1, 2]);
    let res = study.run_detailed().unwrap();
    assert_eq!(res.pcas.len(), 3);
    let n = labels.len() as f64;
    let n_test = (n * study.test_fraction).round();
    let share_ok = |got: &[u32], of: &[u32], k: f64| {
        (0..10u32).all(|c| {
            let size = of.iter().filter(|&&l| l == c).count() as f64;
            let count = got.iter().filter(|&&l| l == c).count() as f64;
            (count - size * k / of.len() as f64).abs() < 1.0
        })
    };
    for seed in 0..3u64 {
        let p = res.pca("digits-head", 100, seed).unwrap();
        // 120 test rows: fewer than the labels a detailed run keeps.
        let test = p.test_labels.as_ref().unwrap();
        assert_eq!(test.len() as f64, n_test);
        assert!(
            share_ok(test.as_slice(), &labels[..], n_test),
            "seed {seed}: {test:?}"
        );
        assert_eq!(p.pca.n_samples(), 100 - study.protocol.validation_rows(100));
    }
    let heads: Vec<_> = res.pcas.iter().map(|p| p.test_head.clone()).collect();
    assert!(heads[0] != heads[1] && heads[1] != heads[2] && heads[0] != heads[2]);

    let (train, _) = train_test_split(&ds, study.test_fraction, study.data_seed(0)).unwrap();
    let train_labels = train.labels().unwrap();
    let draw = StratifiedDraw::new(train.n_samples(), Some(train_labels), 7).unwrap();
    for k in [20, 80, 100, 333] {
        let rows = draw.take(k);
        let got: Vec<u32> = rows.iter().map(|&i| train_labels[i]).collect();
        assert!(
            share_ok(&got[..], train_labels, k as f64),
            "{k} rows: {got:?}"
        );
    }
}

/// A shard prepares only the splits of its own cells' seeds and gives
/// each of its cells the row the full run gives it.
#[test]
fn a_shard_draws_the_rows_the_full_run_draws() {
    let study = linear_pca();
    let full = frame_to_rows(&study.run().unwrap()).unwrap();
    let shard = study.clone().shard(1, 3).unwrap();
    let cells = shard.selected_cells().unwrap();
    let res = shard.run_detailed().unwrap();
    let part = frame_to_rows(&res.results).unwrap();
    assert_eq!(part.len(), cells.len());
    let timeless = |r: &Row| Row {
        seconds: 0.0,
        ..r.clone()
    };
    for (cell, row) in cells.iter().zip(&part) {
        assert_eq!(
            timeless(row),
            timeless(&full[cell.index]),
            "cell {}",
            cell.index
        );
    }
    let mut seeds: Vec<u64> = cells.iter().map(|c| c.seed).collect();
    seeds.sort_unstable();
    seeds.dedup();
    assert!(res.pcas.iter().all(|p| seeds.contains(&p.seed)));
    assert_eq!(res.pcas.len(), seeds.len());
}
