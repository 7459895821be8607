//! Runs the eight built-in studies on built-in datasets and prints each
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
use tiedae::study::builtin::{
    Preset, RunOptions, bias_modes, convergence, equal_budget, l2_directions, linear_pca,
    overfitting, param_counts, sparse,
};
use tiedae::study::write_results;

type Runner = fn(&Dataset, &Preset, &RunOptions) -> tiedae::Result<polars::prelude::DataFrame>;
type Summary = fn(&polars::prelude::DataFrame) -> tiedae::Result<Vec<String>>;

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
    };
    let studies: [(&str, Runner, Summary); 7] = [
        ("1 linear tied vs PCA", linear_pca::run, linear_pca::summary),
        (
            "2 L2 directions",
            l2_directions::run,
            l2_directions::summary,
        ),
        ("4 overfitting", overfitting::run, overfitting::summary),
        ("5 equal budget", equal_budget::run, equal_budget::summary),
        ("6 epochs to target", convergence::run, convergence::summary),
        ("7 sparse tied", sparse::run, sparse::summary),
        ("8 bias modes", bias_modes::run, bias_modes::summary),
    ];
    for name in &names {
        let ds = Dataset::builtin(name)?;
        let dir = out.join(name);
        std::fs::create_dir_all(&dir).map_err(|e| tiedae::Error::io(&dir, e))?;
        println!("== {name} ({} x {})", ds.n_samples(), ds.n_features());
        let df = param_counts::run(&ds, &preset)?;
        write_results(&df, &dir.join("3-param-counts"))?;
        println!("-- 3 parameter counts");
        for line in param_counts::summary(&df)? {
            println!("   {line}");
        }
        for (title, run, summary) in studies {
            let start = Instant::now();
            let df = run(&ds, &preset, &opts)?;
            let stem = dir.join(title.replace(' ', "-"));
            write_results(&df, &stem)?;
            println!("-- {title} ({:.1} s)", start.elapsed().as_secs_f64());
            for line in summary(&df)? {
                println!("   {line}");
            }
        }
    }
    Ok(())
}
