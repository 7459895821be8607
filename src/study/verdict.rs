//! The "when to tie" verdict: the tied-autoencoder notes' questions,
//! answered from a study's results with seed intervals.
//!
//! Every answer follows one rule. The rows are the tuned ones
//! ([`select_tuned`]); tied and untied cells are paired by seed (same
//! split, same validation rows, same seed); each pair gives one difference;
//! the answer rests on the mean difference over seeds and its 95% Student-t
//! interval ([`crate::stats::mean_interval`]). A direction is stated only
//! when the interval excludes zero at every latent size compared; an
//! interval that contains zero is "no detectable difference with n seeds",
//! and cells that did not converge make the answer "unclear" rather than a
//! conclusion.

use super::frame::Row;
use super::protocol::{is_settled, select_tuned};
use super::spec::ModelKind;
use crate::number::format_number;
use crate::stats::{Direction, Interval, mean_interval};

/// Confidence level of every interval in a verdict.
pub const LEVEL: f64 = 0.95;

/// Relative tolerance to PCA's test MSE within which a linear model counts
/// as having reached the Eckart–Young bound.
pub const PCA_TOLERANCE: f64 = 0.01;

/// The answer to one question.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Answer {
    /// The data support "yes" at every size compared.
    Yes,
    /// The data support "no" at every size compared.
    No,
    /// No detectable difference, mixed directions, missing cells, or cells
    /// that did not converge.
    Unclear,
}

impl Answer {
    /// `yes`, `no` or `unclear`.
    pub fn word(self) -> &'static str {
        match self {
            Answer::Yes => "yes",
            Answer::No => "no",
            Answer::Unclear => "unclear",
        }
    }
}

/// One answered question.
#[derive(Clone, Debug, PartialEq)]
pub struct Verdict {
    /// The question, as the notes ask it.
    pub question: &'static str,
    /// The answer.
    pub answer: Answer,
    /// The effect and its interval, e.g. `+12% (95% CI +8% to +16%) at k =
    /// 32`; per latent size when several were compared.
    pub effect: String,
    /// What was compared, and why the answer is what it is.
    pub detail: String,
    /// Id of the report section whose chart shows the evidence.
    pub section: &'static str,
}

/// One paired comparison at one size: the interval of the differences.
struct Compared {
    /// The size (latent size or training rows) it was made at.
    at: i64,
    interval: Interval,
    /// Cells of this size that did not converge: the size then counts as
    /// "not converged", whatever its interval says.
    unsettled: usize,
}

impl Compared {
    /// The interval's direction, or `Unclear` when a cell did not converge.
    fn direction(&self) -> Direction {
        if self.unsettled > 0 {
            Direction::Unclear
        } else {
            self.interval.direction()
        }
    }
}

/// Formats `x` with 3 significant digits and a sign.
fn signed(x: f64) -> String {
    let s = format_number(x).unwrap_or_else(|_| crate::number::MISSING.into());
    if x > 0.0 { format!("+{s}") } else { s }
}

/// `x` as a signed percentage.
fn pct(x: f64) -> String {
    format!("{}%", signed(100.0 * x))
}

/// The interval as `+a% (95% CI +b% to +c%)`, or in plain units.
pub(crate) fn describe(i: &Interval, percent: bool) -> String {
    let f = |x: f64| if percent { pct(x) } else { signed(x) };
    format!(
        "{} (95% CI {} to {}, {} seeds)",
        f(i.estimate),
        f(i.lo),
        f(i.hi),
        i.n
    )
}

/// The tuned rows of `model` at training size `n`.
fn of<'a>(rows: &'a [Row], model: ModelKind, n: i64) -> impl Iterator<Item = &'a Row> + Clone + 'a {
    rows.iter()
        .filter(move |r| r.model == model.name() && r.n_train == n)
}

/// Per-seed differences `value(a) − value(b)` (or relative: `a / b − 1`)
/// between the rows `a` and `b` that share a seed, dataset and training
/// size; `None` with fewer than two pairs.
fn paired<'a>(
    a: impl Iterator<Item = &'a Row>,
    b: &[&'a Row],
    value: impl Fn(&Row) -> Option<f64>,
    relative: bool,
) -> Option<Vec<f64>> {
    let d: Vec<f64> = a
        .filter_map(|x| {
            let y = b
                .iter()
                .find(|y| y.seed == x.seed && y.dataset == x.dataset && y.n_train == x.n_train)?;
            let (vx, vy) = (value(x)?, value(y)?);
            Some(if relative { vx / vy - 1.0 } else { vx - vy })
        })
        .collect();
    (d.len() >= 2 && d.iter().all(|v| v.is_finite())).then_some(d)
}

/// The largest principal angle (degrees) of `rows`, by the rule the
/// principal-angle chart uses too: per latent size the mean over seeds of
/// each cell's largest angle, then the largest of those means.
pub(crate) fn largest_mean_angle(rows: &[&Row]) -> Option<f64> {
    let mut ks: Vec<i64> = rows.iter().map(|r| r.latent).collect();
    ks.sort_unstable();
    ks.dedup();
    ks.iter()
        .filter_map(|&k| {
            let a: Vec<f64> = rows
                .iter()
                .filter(|r| r.latent == k)
                .filter_map(|r| r.max_angle_deg)
                .collect();
            (!a.is_empty()).then(|| a.iter().sum::<f64>() / a.len() as f64)
        })
        .reduce(f64::max)
}

/// The paired comparison of rows `a` against rows `b` (by seed): the 95%
/// interval of the per-seed differences of `value` (relative: `a / b − 1`).
pub(crate) fn compare(
    a: &[&Row],
    b: &[&Row],
    value: impl Fn(&Row) -> Option<f64>,
    relative: bool,
) -> Option<Interval> {
    paired(a.iter().copied(), b, value, relative).and_then(|d| mean_interval(&d, LEVEL).ok())
}

/// The sentence ending of a comparison: `below` when the interval lies
/// below zero, `above` when above, else "no detectable difference with n
/// seeds"; and `not converged` overrides all of them.
pub(crate) fn wording(i: &Interval, below: &str, above: &str, not_converged: usize) -> String {
    if not_converged > 0 {
        return format!(
            "{not_converged} of the cells did not converge, so no direction is claimed"
        );
    }
    match i.direction() {
        Direction::Below => below.to_string(),
        Direction::Above => above.to_string(),
        Direction::Unclear => format!("no detectable difference with {} seeds", i.n),
    }
}

/// How many of `rows` did not converge.
pub(crate) fn count_unsettled(rows: &[&Row]) -> usize {
    unsettled(rows.iter().copied())
}

/// The answer from the directions of comparisons: `yes_when` at every size
/// is yes, the opposite direction at every size is no, anything else is
/// unclear.
fn answer(compared: &[Compared], yes_when: Direction) -> Answer {
    if compared.is_empty() {
        return Answer::Unclear;
    }
    let dirs: Vec<Direction> = compared.iter().map(Compared::direction).collect();
    if dirs.iter().all(|d| *d == yes_when) {
        Answer::Yes
    } else if dirs
        .iter()
        .all(|d| *d != yes_when && *d != Direction::Unclear)
    {
        Answer::No
    } else {
        Answer::Unclear
    }
}

/// `k = 2: +5% (...); k = 4: ...`.
fn per_size(compared: &[Compared], name: &str, percent: bool) -> String {
    compared
        .iter()
        .map(|c| {
            let flag = if c.unsettled > 0 {
                format!(" [{} cells not converged]", c.unsettled)
            } else {
                String::new()
            };
            format!(
                "{name} = {}: {}{flag}",
                c.at,
                describe(&c.interval, percent)
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// Why an answer is unclear, in words (nothing for a yes or a no).
fn unclear_reason(answer: Answer, compared: &[Compared]) -> String {
    if answer != Answer::Unclear {
        return String::new();
    }
    if compared.is_empty() {
        return " Too few paired cells (at least two seeds are needed).".into();
    }
    let settled: Vec<&Compared> = compared.iter().filter(|c| c.unsettled == 0).collect();
    if settled.len() == compared.len()
        && settled
            .iter()
            .all(|c| c.interval.direction() == Direction::Unclear)
    {
        let n = compared.iter().map(|c| c.interval.n).min().unwrap_or(0);
        return format!(" No detectable difference with {n} seeds.");
    }
    let at = |keep: &dyn Fn(&Compared) -> bool| {
        compared
            .iter()
            .filter(|c| keep(c))
            .map(|c| c.at.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut parts = Vec::new();
    for (d, what) in [
        (Direction::Above, "tied above untied at"),
        (Direction::Below, "tied below untied at"),
        (Direction::Unclear, "no detectable difference at"),
    ] {
        let list = at(&|c| c.unsettled == 0 && c.interval.direction() == d);
        if !list.is_empty() {
            parts.push(format!("{what} {list}"));
        }
    }
    let list = at(&|c| c.unsettled > 0);
    if !list.is_empty() {
        parts.push(format!(
            "not converged at {list} (a cell stopped at the epoch cap or diverged: no conclusion there)"
        ));
    }
    format!(" No single direction: {}.", parts.join("; "))
}

/// Counts the rows among `rows` that did not converge.
fn unsettled<'a>(rows: impl Iterator<Item = &'a Row>) -> usize {
    rows.filter(|r| !is_settled(r)).count()
}

/// The largest training size in `rows`: the one the equal-size questions
/// are asked at.
fn full_n(rows: &[Row]) -> Option<i64> {
    rows.iter().map(|r| r.n_train).max()
}

/// The latent sizes at which both `a` and `b` have rows at `n`.
fn common_latents(rows: &[Row], a: ModelKind, b: ModelKind, n: i64) -> Vec<i64> {
    let mut ks: Vec<i64> = of(rows, a, n)
        .map(|r| r.latent)
        .filter(|k| of(rows, b, n).any(|r| r.latent == *k))
        .collect();
    ks.sort_unstable();
    ks.dedup();
    ks
}

/// Tied at latent `kt` against untied at `ku`, for each `(kt, ku)` of
/// `pairs`, at `n` training rows: the interval of the paired differences
/// of `value`, and how many of the compared cells did not converge. A pair
/// with too few seeds is left out.
fn tied_against_untied(
    rows: &[Row],
    n: i64,
    pairs: &[(i64, i64)],
    value: impl Fn(&Row) -> Option<f64> + Copy,
    relative: bool,
) -> Vec<Compared> {
    pairs
        .iter()
        .filter_map(|&(kt, ku)| {
            let t = of(rows, ModelKind::Tied, n).filter(move |r| r.latent == kt);
            let u: Vec<&Row> = of(rows, ModelKind::Untied, n)
                .filter(|r| r.latent == ku)
                .collect();
            let bad = unsettled(t.clone().chain(u.iter().copied()));
            let d = paired(t, &u, value, relative)?;
            Some(Compared {
                at: kt,
                interval: mean_interval(&d, LEVEL).ok()?,
                unsettled: bad,
            })
        })
        .collect()
}

/// Tied against untied at equal latent size: relative test-MSE difference.
fn cost_at_equal_latent(rows: &[Row]) -> Option<Verdict> {
    let n = full_n(rows)?;
    let ks = common_latents(rows, ModelKind::Tied, ModelKind::Untied, n);
    if ks.is_empty() {
        return None;
    }
    let pairs: Vec<(i64, i64)> = ks.iter().map(|&k| (k, k)).collect();
    let compared = tied_against_untied(rows, n, &pairs, |r| Some(r.test_mse), true);
    let a = answer(&compared, Direction::Above);
    let lead = match a {
        Answer::Yes => " Tied's test MSE is higher than untied's at every latent size.",
        Answer::No => " Tied's test MSE is lower than untied's at every latent size.",
        Answer::Unclear => "",
    };
    Some(Verdict {
        question: "Does tying cost reconstruction at equal latent size?",
        answer: a,
        effect: per_size(&compared, "k", true),
        detail: format!(
            "Tied minus untied test MSE, relative to untied, paired by seed, at {n} training rows.{lead}{}",
            unclear_reason(a, &compared)
        ),
        section: "mse-vs-latent",
    })
}

/// Tied at latent `k` against untied at `k / 2` (equal weights).
fn win_at_equal_budget(rows: &[Row]) -> Option<Verdict> {
    let n = full_n(rows)?;
    let mut ks: Vec<i64> = of(rows, ModelKind::Tied, n).map(|r| r.latent).collect();
    ks.sort_unstable();
    ks.dedup();
    let pairs: Vec<(i64, i64)> = ks
        .iter()
        .filter(|&&k| k >= 2)
        .map(|&k| (k, k / 2))
        .collect();
    let compared = tied_against_untied(rows, n, &pairs, |r| Some(r.test_mse), true);
    if compared.is_empty() {
        return None;
    }
    let a = answer(&compared, Direction::Below);
    Some(Verdict {
        question: "Does tying win at an equal parameter budget?",
        answer: a,
        effect: per_size(&compared, "tied k", true),
        detail: format!(
            "Tied at latent size k against untied at k/2 (the same number of weights): tied minus untied test MSE, relative to untied, paired by seed, at {n} training rows.{}",
            unclear_reason(a, &compared)
        ),
        section: "mse-vs-params",
    })
}

/// The train/test gap of tied against untied at the smallest training set.
fn overfits_less(rows: &[Row]) -> Option<Verdict> {
    let full = full_n(rows)?;
    let small = rows
        .iter()
        .filter(|r| r.model == ModelKind::Tied.name() && r.n_train < full)
        .map(|r| r.n_train)
        .min()?;
    let t = of(rows, ModelKind::Tied, small);
    let u: Vec<&Row> = of(rows, ModelKind::Untied, small).collect();
    let bad = unsettled(t.clone().chain(u.iter().copied()));
    let gap = |r: &Row| Some(r.test_mse - r.train_mse);
    let compared: Vec<Compared> = paired(t, &u, gap, false)
        .and_then(|d| mean_interval(&d, LEVEL).ok())
        .map(|interval| Compared {
            at: small,
            interval,
            unsettled: bad,
        })
        .into_iter()
        .collect();
    let a = answer(&compared, Direction::Below);
    Some(Verdict {
        question: "Does tying overfit less at small n?",
        answer: a,
        effect: per_size(&compared, "n", false),
        detail: format!(
            "Tied minus untied test-minus-train MSE gap (in the data's units), paired by seed, with {small} training rows.{}",
            unclear_reason(a, &compared)
        ),
        section: "overfitting",
    })
}

/// Epochs to the best validation loss, tied against untied, and the
/// equal-epochs view beside it.
fn needs_more_epochs(rows: &[Row]) -> Option<Verdict> {
    let n = full_n(rows)?;
    let ks = common_latents(rows, ModelKind::Tied, ModelKind::Untied, n);
    if ks.is_empty() {
        return None;
    }
    let pairs: Vec<(i64, i64)> = ks.iter().map(|&k| (k, k)).collect();
    let compared = tied_against_untied(rows, n, &pairs, |r| Some(r.best_epoch as f64), false);
    // The equal-epochs view reads the first epochs of every run, so it does
    // not depend on convergence.
    let budget: Vec<Compared> = tied_against_untied(rows, n, &pairs, |r| r.val_mse_at_budget, true)
        .into_iter()
        .map(|c| Compared { unsettled: 0, ..c })
        .collect();
    let a = answer(&compared, Direction::Above);
    let equal = if budget.is_empty() {
        String::new()
    } else {
        format!(
            " Equal-epochs view (best validation MSE within the protocol's short budget, tied relative to untied): {}.",
            per_size(&budget, "k", true)
        )
    };
    Some(Verdict {
        question: "Does tying need more epochs?",
        answer: a,
        effect: per_size(&compared, "k", false),
        detail: format!(
            "Tied minus untied epochs to the best validation loss (the epoch early stopping kept), paired by seed, at {n} training rows.{}{equal}",
            unclear_reason(a, &compared)
        ),
        section: "training-curves",
    })
}

/// Linear tied against PCA: Eckart–Young and Baldi–Hornik.
fn recovers_pca(rows: &[Row]) -> Option<Verdict> {
    let tied: Vec<&Row> = rows
        .iter()
        .filter(|r| r.model == ModelKind::LinearTied.name())
        .collect();
    if tied.is_empty() {
        return None;
    }
    let worst = tied.iter().map(|r| r.ratio_to_pca).fold(f64::MIN, f64::max);
    let off: Vec<&&Row> = tied
        .iter()
        .filter(|r| r.ratio_to_pca > 1.0 + PCA_TOLERANCE)
        .collect();
    let off_unsettled = off.iter().filter(|r| !is_settled(r)).count();
    let angle = largest_mean_angle(&tied);
    let a = if off.is_empty() {
        Answer::Yes
    } else if off_unsettled > 0 {
        Answer::Unclear
    } else {
        Answer::No
    };
    let why = match a {
        Answer::Yes => format!(
            "Every linear tied cell ({}) ended within {}% of PCA's test MSE.",
            tied.len(),
            100.0 * PCA_TOLERANCE
        ),
        Answer::Unclear => format!(
            "{} of {} linear tied cells ended more than {}% above PCA and {off_unsettled} of them stopped at the iteration cap: not converged, so the oracle is not tested there.",
            off.len(),
            tied.len(),
            100.0 * PCA_TOLERANCE
        ),
        Answer::No => format!(
            "{} of {} linear tied cells converged more than {}% above PCA's test MSE.",
            off.len(),
            tied.len(),
            100.0 * PCA_TOLERANCE
        ),
    };
    Some(Verdict {
        question: "Does linear tied recover PCA (Eckart–Young, Baldi–Hornik)?",
        answer: a,
        effect: format!(
            "worst cell {}x PCA's test MSE; largest principal angle to PCA's subspace {}° (mean over seeds, largest over k)",
            format_number(worst).unwrap_or_else(|_| crate::number::MISSING.into()),
            angle
                .and_then(|a| format_number(a).ok())
                .unwrap_or_else(|| crate::number::MISSING.into())
        ),
        detail: format!(
            "{why} Deterministic full-batch training: the worst cell is reported, not an interval."
        ),
        section: "principal-angles",
    })
}

/// The verdict on a study's results: the questions the rows can answer,
/// in the notes' order (a question whose models were not run is left out).
pub fn verdict(rows: &[Row]) -> Vec<Verdict> {
    let tuned = select_tuned(rows);
    [
        cost_at_equal_latent(&tuned),
        win_at_equal_budget(&tuned),
        overfits_less(&tuned),
        needs_more_epochs(&tuned),
        recovers_pca(&tuned),
    ]
    .into_iter()
    .flatten()
    .collect()
}
