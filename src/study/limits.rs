//! The stated limits of a study, and the check that a study's name is a
//! name.
//!
//! Study files, run records and shard manifests are written by hand, copied
//! between machines and shared by the tasks of a job array, so every count
//! read from one is checked against a limit here before anything is
//! allocated or looped over by it. The limits are far above any study that
//! could finish, and low enough that a wrong number costs an error line
//! instead of all the memory of a cluster node.

use crate::error::{Error, Result};

/// Longest study name, in bytes. The name is a directory name
/// (`studies/NAME`) and the prefix of every shard file's name, which file
/// systems cap at 255 bytes.
pub const MAX_NAME_LEN: usize = 100;

/// Most values one axis of a study may list (seeds, latent sizes,
/// training-set sizes, L2 and sparsity weights, learning rates), and so the
/// most seeds a report may ask for. Every value adds cells that each train
/// a model, so no study that finishes comes near it; and checking a list
/// this long for repeats, pair by pair, stays cheap.
pub const MAX_AXIS_VALUES: usize = 10_000;

/// Widest hidden layer (`hidden`) a study may ask for.
pub const MAX_HIDDEN_WIDTH: usize = 1 << 20;

/// Most hidden layers (`hidden`) a study may ask for.
pub const MAX_HIDDEN_LAYERS: usize = 64;

/// Most weights of the widest dense autoencoder a study builds, counting
/// both directions of every pair as an untied model has them: 512 MiB of
/// f32 weights, before their gradient and optimizer state (up to four
/// times as much again in f64).
pub const MAX_WEIGHTS: usize = 1 << 27;

/// Most shards a study may be split into. `study status` keeps a line per
/// shard and `study merge` names every missing one.
pub const MAX_SHARDS: usize = 100_000;

/// Most cells a study may have: its cells are enumerated in memory, and
/// each one fits a model.
pub const MAX_CELLS: usize = 1_000_000;

/// Checks that `name` can be used as a name on its own: the default output
/// directory is `studies/NAME`, and shard files start with it. So a name is
/// 1 to [`MAX_NAME_LEN`] ASCII letters, digits, `.`, `_` and `-`, starts
/// with a letter, digit or `_` (no hidden directory, no flag-like `-`),
/// and holds no `..`: it cannot be absolute, climb out of `studies/` or
/// name a directory below it.
///
/// # Errors
/// [`Error::Config`] for field `name`, saying what is wrong.
pub(crate) fn check_name(name: &str) -> Result<()> {
    // The name may be long or hold control characters: show a bounded,
    // escaped part of it, so the error stays one short line.
    let head: String = name.chars().take(40).collect();
    let shown = if head.len() < name.len() {
        format!("{head:?}...")
    } else {
        format!("{head:?}")
    };
    let reason = if name.is_empty() {
        "must not be empty".to_string()
    } else if name.len() > MAX_NAME_LEN {
        format!(
            "{shown} is {} bytes long; a study name has at most {MAX_NAME_LEN}",
            name.len()
        )
    } else if let Some(c) = name
        .chars()
        .find(|&c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
    {
        format!(
            "{shown} holds {c:?}; a study name names a directory, so it holds only ASCII letters, digits, '.', '_' and '-'"
        )
    } else if !name.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_') {
        format!("{shown} must start with a letter, a digit or '_'")
    } else if name.contains("..") {
        format!("{shown} holds \"..\"; a study name names a directory, not a path")
    } else {
        return Ok(());
    };
    Err(Error::config("name", reason))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_names_not_paths() {
        for good in ["tiny", "tied-vs-pca", "bias_modes", "run.v2", "_x", "9"] {
            assert!(check_name(good).is_ok(), "{good}");
        }
        let long = "x".repeat(MAX_NAME_LEN + 1);
        for bad in [
            "",
            "../../x",
            "..",
            "a..b",
            "/tmp/x",
            "a/b",
            "a\\b",
            ".hidden",
            "-flag",
            "with space",
            "nul\0",
            "é",
            long.as_str(),
        ] {
            match check_name(bad) {
                Err(Error::Config {
                    field: "name",
                    reason,
                }) => {
                    assert!(!reason.contains('\n') && reason.len() < 300, "{reason}")
                }
                other => panic!("{bad:?}: {other:?}"),
            }
        }
        assert!(check_name(&"x".repeat(MAX_NAME_LEN)).is_ok());
    }
}
