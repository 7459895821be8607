//! Which run made a report or a results file: the command, the code and
//! toolchain it was built from, the machine's thread count, the seeds, the
//! dataset's hash and the wall time of each study.
//!
//! A number on a page is only evidence if it can be traced to the run that
//! produced it and rerun. The report job fills this in ([`Provenance::of_build`]
//! for what the binary knows about itself), the page footer and
//! `report.json` state it, and `results.parquet` carries it as file-level
//! metadata under [`PARQUET_KEY`], so a results file read back on its own
//! still says where it came from.

use serde::{Deserialize, Serialize};

/// The Parquet key-value metadata key holding a [`Provenance`] as JSON.
pub const PARQUET_KEY: &str = "tiedae.provenance";

/// How long one study of a report took.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StudyTime {
    /// The study's name (`linear_pca`, ...).
    pub study: String,
    /// Wall-clock seconds, cached cells included.
    pub seconds: f64,
}

/// The run that made a report.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Provenance {
    /// The command line, program name first.
    pub command: Vec<String>,
    /// The crate version (`CARGO_PKG_VERSION`).
    pub tiedae_version: String,
    /// The git revision built from, or `unknown` outside a checkout.
    pub git_revision: String,
    /// `rustc --version` of the compiler that built the binary.
    pub rustc: String,
    /// Rayon's thread count (results do not depend on it; timings do).
    pub threads: usize,
    /// The seeds every configuration ran with.
    pub seeds: Vec<u64>,
    /// SHA-256 of the dataset's name, shape, values and labels (the study
    /// cache's fingerprint, so it also names the cache entries).
    pub dataset_sha256: String,
    /// Wall time per study, in run order.
    pub studies: Vec<StudyTime>,
}

impl Provenance {
    /// What the build knows about itself: version, git revision and rustc,
    /// plus the current command line and thread count. The caller adds
    /// seeds, the dataset hash and study times.
    pub fn of_build() -> Provenance {
        Provenance {
            command: std::env::args().collect(),
            tiedae_version: env!("CARGO_PKG_VERSION").to_string(),
            git_revision: env!("TIEDAE_GIT_REVISION").to_string(),
            rustc: env!("TIEDAE_RUSTC_VERSION").to_string(),
            threads: rayon::current_num_threads(),
            ..Provenance::default()
        }
    }

    /// The command line as one shell-like line (arguments with spaces or
    /// quotes are single-quoted).
    pub fn command_line(&self) -> String {
        self.command
            .iter()
            .map(|a| {
                if !a.is_empty()
                    && a.chars()
                        .all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c))
                {
                    a.clone()
                } else {
                    format!("'{}'", a.replace('\'', r"'\''"))
                }
            })
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// The seeds as a short range text: `0–4`, or a list when not
    /// consecutive.
    pub fn seeds_text(&self) -> String {
        let s = &self.seeds;
        match s.as_slice() {
            [] => "none".into(),
            [one] => one.to_string(),
            [first, .., last] if s.windows(2).all(|w| w[1] == w[0] + 1) => {
                format!("{first}–{last}")
            }
            _ => s.iter().map(u64::to_string).collect::<Vec<_>>().join(", "),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_lines_quote_what_a_shell_would_split() {
        let p = Provenance {
            command: vec![
                "report".into(),
                "--dataset".into(),
                "my data.csv".into(),
                "it's".into(),
            ],
            ..Provenance::default()
        };
        assert_eq!(
            p.command_line(),
            r"report --dataset 'my data.csv' 'it'\''s'"
        );
    }

    #[test]
    fn seeds_read_as_ranges_or_lists() {
        let with = |seeds: Vec<u64>| {
            Provenance {
                seeds,
                ..Provenance::default()
            }
            .seeds_text()
        };
        assert_eq!(with(vec![0, 1, 2, 3, 4]), "0–4");
        assert_eq!(with(vec![7]), "7");
        assert_eq!(with(vec![0, 2, 5]), "0, 2, 5");
        assert_eq!(with(vec![]), "none");
    }

    #[test]
    fn the_build_names_itself() {
        let p = Provenance::of_build();
        assert_eq!(p.tiedae_version, env!("CARGO_PKG_VERSION"));
        assert!(p.rustc.starts_with("rustc "), "{}", p.rustc);
        assert!(p.threads >= 1);
        assert!(!p.git_revision.is_empty());
    }
}
