//! Which shard a `study run` task runs: `--shard I/N`, or the batch
//! scheduler's job-array variables when the flag is absent.
//!
//! A SLURM array task knows its place from `SLURM_ARRAY_TASK_ID`,
//! `SLURM_ARRAY_TASK_MIN`, `SLURM_ARRAY_TASK_COUNT` (and
//! `SLURM_ARRAY_TASK_STEP` for `--array=0-30:2`). Arrays often start at 1,
//! while a shard index satisfies `0 <= i < n`, so the index is the task's
//! offset from the array's first task, in steps. Reading the variables
//! means one sbatch script serves every array size; a flag that disagrees
//! with them is refused, as two different answers to "which cells are
//! mine" would run some cells twice and others never.

use crate::error::{Error, Result};
use crate::study::limits::MAX_SHARDS;

/// Shard `i` of `n` (`0 <= i < n`).
pub type Shard = (usize, usize);

/// Where a task's shard came from (for the line `study run` prints).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ShardOrigin {
    /// `--shard I/N`.
    Flag,
    /// The job-array variables, as `NAME=value` pairs.
    JobArray(String),
    /// Neither: the whole study.
    Whole,
}

/// Parses `--shard` text `I/N`.
///
/// # Errors
/// [`Error::Config`] for `--shard` unless it is two integers with
/// `0 <= I < N <=` [`MAX_SHARDS`].
pub fn parse_shard(text: &str) -> Result<Shard> {
    let bad = || {
        Error::config(
            "--shard",
            format!("{text:?} is not I/N with integers 0 <= I < N, e.g. 0/16"),
        )
    };
    let (i, n) = text.trim().split_once('/').ok_or_else(bad)?;
    let i: usize = i.trim().parse().map_err(|_| bad())?;
    let n: usize = n.trim().parse().map_err(|_| bad())?;
    if n == 0 {
        return Err(Error::config(
            "--shard",
            format!("{text}: a study has at least one shard (N >= 1)"),
        ));
    }
    if n > MAX_SHARDS {
        return Err(Error::config(
            "--shard",
            format!("{text}: a study is split into at most {MAX_SHARDS} shards"),
        ));
    }
    if i >= n {
        return Err(Error::config(
            "--shard",
            format!("{text}: shard indices run from 0 to N-1 = {}", n - 1),
        ));
    }
    Ok((i, n))
}

const ID: &str = "SLURM_ARRAY_TASK_ID";
const MIN: &str = "SLURM_ARRAY_TASK_MIN";
const COUNT: &str = "SLURM_ARRAY_TASK_COUNT";
const STEP: &str = "SLURM_ARRAY_TASK_STEP";

/// The shard the job-array variables give, read with `env` (e.g.
/// `|k| std::env::var(k).ok()`), or `None` outside a job array.
///
/// # Errors
/// [`Error::Config`] for variables that are partly set, not numbers, or
/// describe a task outside a contiguous array (e.g. `--array=1,5,9`,
/// which cannot be sharded by offset: pass `--shard` instead).
pub fn job_array_shard(env: &dyn Fn(&str) -> Option<String>) -> Result<Option<(Shard, String)>> {
    let id = env(ID);
    let Some(id_text) = id else {
        return Ok(None);
    };
    let number = |name: &'static str| -> Result<usize> {
        let v = env(name).ok_or_else(|| {
            Error::config(
                "shard",
                format!("{ID} is set but {name} is not; pass --shard I/N"),
            )
        })?;
        v.trim().parse().map_err(|_| {
            Error::config(
                "shard",
                format!("{name}={v:?} is not a non-negative integer"),
            )
        })
    };
    let id: usize = id_text.trim().parse().map_err(|_| {
        Error::config(
            "shard",
            format!("{ID}={id_text:?} is not a non-negative integer"),
        )
    })?;
    let min = number(MIN)?;
    let count = number(COUNT)?;
    let step = match env(STEP) {
        None => 1,
        Some(_) => number(STEP)?.max(1),
    };
    let described = format!("{ID}={id}, {MIN}={min}, {COUNT}={count}");
    if count == 0 {
        return Err(Error::config(
            "shard",
            format!("{described}: an empty array"),
        ));
    }
    if count > MAX_SHARDS {
        return Err(Error::config(
            "shard",
            format!("{described}: a study is split into at most {MAX_SHARDS} shards"),
        ));
    }
    let offset = id.checked_sub(min).filter(|o| o % step == 0);
    match offset.map(|o| o / step) {
        Some(i) if i < count => Ok(Some(((i, count), described))),
        _ => Err(Error::config(
            "shard",
            format!("{described}: the task is not one of a contiguous array; pass --shard I/N"),
        )),
    }
}

/// The shard a task runs: `--shard` if given, else the job array's, else
/// the whole study. Both given must agree.
///
/// # Errors
/// [`Error::Config`] for bad job-array variables or a `--shard` that
/// disagrees with them.
pub fn resolve_shard(
    flag: Option<Shard>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<(Shard, ShardOrigin)> {
    let array = job_array_shard(env)?;
    match (flag, array) {
        (Some(f), Some((a, described))) if f != a => Err(Error::config(
            "--shard",
            format!(
                "{}/{} disagrees with the job array ({described} make shard {}/{}); drop --shard or fix the array",
                f.0, f.1, a.0, a.1
            ),
        )),
        (Some(f), _) => Ok((f, ShardOrigin::Flag)),
        (None, Some((a, described))) => Ok((a, ShardOrigin::JobArray(described))),
        (None, None) => Ok(((0, 1), ShardOrigin::Whole)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone())
    }

    #[test]
    fn shard_flags_need_an_index_below_the_count() {
        assert_eq!(parse_shard("2/3").unwrap(), (2, 3));
        for bad in ["3/3", "0/0", "1", "a/3", "-1/3", "1/3/4", "0/100000000000"] {
            let err = parse_shard(bad).unwrap_err().to_string();
            assert!(err.contains("--shard"), "{bad}: {err}");
        }
        assert!(
            parse_shard("3/3")
                .unwrap_err()
                .to_string()
                .contains("0 to N-1 = 2")
        );
        assert!(
            parse_shard("0/0")
                .unwrap_err()
                .to_string()
                .contains("N >= 1")
        );
    }

    #[test]
    fn job_arrays_starting_at_one_or_stepping_map_to_offsets() {
        let e = env(&[(ID, "1"), (MIN, "1"), (COUNT, "16")]);
        assert_eq!(resolve_shard(None, &e).unwrap().0, (0, 16));
        let e = env(&[(ID, "15"), (MIN, "0"), (COUNT, "16")]);
        assert_eq!(resolve_shard(None, &e).unwrap().0, (15, 16));
        let e = env(&[(ID, "4"), (MIN, "0"), (COUNT, "3"), (STEP, "2")]);
        assert_eq!(resolve_shard(None, &e).unwrap().0, (2, 3));
        let e = env(&[(ID, "9"), (MIN, "1"), (COUNT, "3")]);
        assert!(resolve_shard(None, &e).is_err());
        let e = env(&[(ID, "1")]);
        let err = resolve_shard(None, &e).unwrap_err().to_string();
        assert!(err.contains(MIN), "{err}");
        assert_eq!(
            resolve_shard(None, &env(&[])).unwrap(),
            ((0, 1), ShardOrigin::Whole)
        );
    }

    #[test]
    fn a_flag_must_agree_with_the_job_array() {
        let e = env(&[(ID, "2"), (MIN, "1"), (COUNT, "3")]);
        assert_eq!(
            resolve_shard(Some((1, 3)), &e).unwrap(),
            ((1, 3), ShardOrigin::Flag)
        );
        let err = resolve_shard(Some((2, 3)), &e).unwrap_err().to_string();
        assert!(err.contains("disagrees"), "{err}");
        assert!(err.contains("make shard 1/3"), "{err}");
    }
}
