//! Checks the learning-rate search's pruning on the default report: runs
//! the default comparison on the built-in digits data twice, once with the
//! probed search the report uses and once exhaustively (every added rate on
//! every seed), and prints, per configuration, the rate each chose, the
//! rates each tried, the cells each ran and their wall times.
//!
//! ```text
//! cargo run --release --example pruned_search
//! ```
//! Exits non-zero when the two searches choose differently anywhere.

use std::time::Instant;
use tiedae::app::JobProgress;
use tiedae::app::ReportJob;
use tiedae::app::studies::{COMPARISON, preset, run_study, tuning_of};
use tiedae::study::builtin::RunOptions;
use tiedae::study::{Row, Search, frame_to_rows, rate_brackets};

fn main() -> tiedae::Result<()> {
    let job = ReportJob::default();
    let ds = job.load_dataset()?;
    let n_train = ds.n_samples() - (ds.n_samples() as f64 * 0.2).round() as usize;
    let (latent, _) = job.checked_latent_sizes(ds.n_features(), n_train)?;
    let preset = preset(false, &latent, None, None, &ds);
    let mut runs = Vec::new();
    for search in [Search::Probed, Search::Exhaustive] {
        let mut tuning = tuning_of(false, &preset, &ds);
        tuning.search = search;
        let start = Instant::now();
        let out = run_study(
            COMPARISON,
            &ds,
            &preset,
            &JobProgress::silent(),
            &RunOptions::default(),
            tuning,
        )?;
        let seconds = start.elapsed().as_secs_f64();
        let rows = frame_to_rows(&out.results)?;
        println!("{search:?}: {} rows in {seconds:.1} s", rows.len());
        runs.push(rows);
    }
    let describe = |rows: &[Row]| {
        rate_brackets(rows)
            .into_iter()
            .map(|b| {
                let key = format!("{} k={} n={}", b.row.model, b.row.latent, b.row.n_train);
                let mut tried: Vec<f64> = rows
                    .iter()
                    .filter(|r| {
                        (&r.model, r.latent, r.n_train)
                            == (&b.row.model, b.row.latent, b.row.n_train)
                    })
                    .filter_map(|r| r.learning_rate)
                    .collect();
                tried.sort_by(f64::total_cmp);
                tried.dedup();
                (key, b.chosen, tried)
            })
            .collect::<Vec<_>>()
    };
    let (probed, exhaustive) = (describe(&runs[0]), describe(&runs[1]));
    let mut differ = 0;
    println!(
        "{:<28} {:>10} {:>10}  rates tried (probed | exhaustive)",
        "configuration", "probed", "exhaustive"
    );
    for ((key, a, ta), (key_b, b, tb)) in probed.iter().zip(&exhaustive) {
        assert_eq!(
            key, key_b,
            "the two searches enumerate configurations alike"
        );
        let mark = if a == b { "" } else { "  DIFFERENT" };
        differ += usize::from(a != b);
        println!("{key:<28} {a:>10} {b:>10}  {ta:?} | {tb:?}{mark}");
    }
    println!(
        "{differ} of {} configurations chose differently",
        probed.len()
    );
    if differ > 0 {
        std::process::exit(1);
    }
    Ok(())
}
