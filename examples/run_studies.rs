//! Runs the built-in studies (the registry's) on built-in datasets and prints each
//! study's findings; results go to `{out}/{dataset}/{study}.parquet|csv`.
//!
//! ```text
//! cargo run --release --example run_studies -- [quick|full] [out_dir] [dataset...]
//! ```
//! Defaults: `full`, `target/studies`, `digits mnist10k`. Finished cells are
//! cached under `{out}/cache`, so a rerun only prints.

use std::path::PathBuf;
use std::time::Instant;
use tiedae::data::Dataset;
use tiedae::study::builtin::{Preset, REGISTRY, RunOptions, Source};
use tiedae::study::write_results;

fn main() -> tiedae::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let preset = match args.first().map(String::as_str) {
        Some("quick") => Preset::quick(),
        Some("full") | None => Preset::full(),
        Some(other) => {
            return Err(tiedae::Error::config(
                "preset",
                format!("{other:?}: use quick or full"),
            ));
        }
    };
    let out = PathBuf::from(args.get(1).map_or("target/studies", String::as_str));
    let names: Vec<String> = if args.len() > 2 {
        args[2..].to_vec()
    } else {
        vec!["digits".into(), "mnist10k".into()]
    };
    let opts = RunOptions {
        cache_dir: Some(out.join("cache")),
        progress: true,
        ..RunOptions::default()
    };
    // Numbered in registry order; tables train nothing, so they print
    // first, without a time.
    let (tables, trained): (Vec<_>, Vec<_>) = REGISTRY
        .iter()
        .enumerate()
        .partition(|(_, b)| matches!(b.source, Source::Table(_)));
    for name in &names {
        let ds = Dataset::builtin(name)?;
        let dir = out.join(name);
        std::fs::create_dir_all(&dir).map_err(|e| tiedae::Error::io(&dir, e))?;
        println!("== {name} ({} x {})", ds.n_samples(), ds.n_features());
        for (i, study) in tables.iter().chain(&trained) {
            let title = format!("{} {}", i + 1, study.title);
            let start = Instant::now();
            let df = study.source.frame(&ds, &preset, &opts)?;
            write_results(&df, &dir.join(title.replace(' ', "-")))?;
            if matches!(study.source, Source::Table(_)) {
                println!("-- {title}");
            } else {
                println!("-- {title} ({:.1} s)", start.elapsed().as_secs_f64());
            }
            for line in (study.summary)(&df)? {
                println!("   {line}");
            }
        }
    }
    Ok(())
}
