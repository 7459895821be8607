//! The "when to tie" verdict: the tied-autoencoder notes' questions,
//! answered from a study's results with seed intervals.
//!
//! Every answer follows one rule, stated once in [`RULES`] for the page. The
//! rows are the tuned ones ([`select_tuned`]). Tied and untied cells are
//! paired by seed within one configuration: the same dataset, training
//! size, activation, bias mode, L2 and sparsity weight on both sides, and
//! the latent sizes the question names; a frame holding several
//! configurations per size gives one comparison per configuration, never
//! one comparison with extra "seeds". Each pair gives one difference
//! (relative effects: the log-ratio `ln(tied / untied)`), and the per-size
//! statements of a question form one family for
//! [`crate::stats::assess_family`]: Holm-corrected directions, equivalence
//! within ±[`MARGIN`] for relative effects, otherwise "unclear". The yes/no
//! answer is an intersection-union test over the sizes.

use std::collections::{BTreeSet, HashMap, HashSet};

use super::frame::Row;
use super::protocol::{Protocol, is_settled, select_tuned};
use super::spec::ModelKind;
use crate::number::{MISSING, format_or_missing, format_tick};
use crate::stats::{
    Interval, Margin, Outcome, assess_family, geometric_percent, log_ratios, mean, mean_interval,
};

/// Confidence level of every interval in a verdict.
pub const LEVEL: f64 = 0.95;

/// Relative tolerance to PCA's test MSE within which a linear model counts
/// as having reached the Eckart–Young bound.
pub const PCA_TOLERANCE: f64 = 0.01;

/// The equivalence margin of relative effects, as a fraction: a geometric
/// mean ratio between `1 / (1 + MARGIN)` and `1 + MARGIN` is "no difference
/// beyond ±2%" ([`Margin::relative`]). Small next to the effects the notes
/// argue about (tens of percent), and about the seed-to-seed spread of a
/// well-converged cell's test MSE.
pub const MARGIN: f64 = 0.02;

/// Seed of the sign-flip tests' random patterns. They are drawn only beyond
/// [`crate::stats::SIGN_FLIP_EXACT_MAX`] seeds (fewer are enumerated
/// exactly); fixed, so a verdict is reproducible.
const SIGN_FLIP_SEED: u64 = 0x5EED_F11B;

/// The rule behind every answer, in words, for the page to state once.
pub const RULES: &str = "Tied and untied cells are paired by seed within one configuration \
(dataset, training size, activation, bias mode, L2 and sparsity weight; the latent sizes each \
question names). Relative effects are paired log-ratios: per seed ln(tied / untied), their mean \
with a 95% Student-t interval, shown as a geometric-mean percentage 100·(e^mean − 1). Within \
each question the per-size statements are Holm-corrected (family-wise 5%): a direction where \
the Holm-adjusted two-sided t-test p-value is below 0.05; \"no difference beyond ±2%\" where \
the Holm-adjusted equivalence (two one-sided tests) p-value is below 0.025, which for a single \
size is the 95% interval lying inside ±2% on the ratio scale (1/1.02 to 1.02), and which \
takes precedence over a direction; otherwise unclear (the interval is too wide). A size whose \
seeds all gave the same difference has no spread and supports no direction; a size with a cell \
that did not converge supports nothing. \
The yes/no answers are intersection-union tests, which need no further correction: yes only \
when every size supports yes, no only when every size rules yes out (the opposite direction, \
or within ±2%). A sign-flip permutation p-value stands beside each t interval as a check that \
does not assume normally distributed differences.";

/// What a seed varies, for the page to state beside [`RULES`]: the
/// intervals cover exactly this randomness and nothing else.
pub const SEEDS_VARY: &str = "A seed draws its own train/test split (stratified by class), \
training rows and validation carve, and its own initial weights and minibatch order, shared by \
every model of that seed, so the intervals cover the data sample as well as training randomness.";

/// The answer to one question.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Answer {
    /// The data support "yes" at every size compared.
    Yes,
    /// The data rule "yes" out at every size compared: the opposite
    /// direction, or within the equivalence margin (not all within it).
    No,
    /// No difference beyond ±[`MARGIN`] at every size compared.
    Equivalent,
    /// Mixed outcomes, intervals too wide, missing cells, or cells that did
    /// not converge.
    Unclear,
}

impl Answer {
    /// `yes`, `no`, `no difference beyond ±2%` or `unclear`.
    pub fn word(self) -> &'static str {
        match self {
            Answer::Yes => "yes",
            Answer::No => "no",
            Answer::Equivalent => "no difference beyond ±2%",
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
    /// The effect and its interval per size, e.g. `k = 32: +12% (95% CI +8%
    /// to +16%, 5 seeds; Holm p 0.004), tied higher`.
    pub effect: String,
    /// What was compared, and why the answer is what it is.
    pub detail: String,
    /// The answer at a glance, in one short sentence: which sizes support
    /// what. The page shows it beside the forest plot of `effects`, with
    /// `effect` and `detail` as the longer account.
    pub summary: String,
    /// Id of the report section whose chart shows the evidence.
    pub section: &'static str,
    /// The per-size statements behind `effect` (and any view shown beside
    /// them), for a table or a forest plot; empty for a question answered
    /// without intervals.
    pub effects: Vec<SizeEffect>,
}

/// One per-size statement of a question: the paired effect, its interval,
/// its tests and what it supports.
#[derive(Clone, Debug, PartialEq)]
pub struct SizeEffect {
    /// What was measured, e.g. `test MSE`.
    pub measure: &'static str,
    /// Whether the answer rests on this statement (`false` for a view shown
    /// beside it, such as the equal-epochs view).
    pub primary: bool,
    /// The axis `at` lies on: `k`, `tied k` (untied at `k / 2`) or `n`.
    pub axis: &'static str,
    /// The size.
    pub at: i64,
    /// The configuration compared (e.g. `relu`) when the question compared
    /// several at one size; empty otherwise.
    pub setting: String,
    /// `true`: `effect`, `band` and `differences` are geometric-mean
    /// percentages of tied against untied; `false`: mean differences in
    /// the measure's own units.
    pub percent: bool,
    /// The effect and its interval at [`LEVEL`].
    pub effect: Interval,
    /// The equivalence band in the same units, for relative effects.
    pub band: Option<(f64, f64)>,
    /// The paired seeds, ascending.
    pub seeds: Vec<i64>,
    /// The per-seed differences (in the units of `effect`), seed by seed.
    pub differences: Vec<f64>,
    /// Dead latent units per seed, `(tied, untied)`: constant over the
    /// test rows, from each row's `dead_fraction`.
    pub dead_units: Vec<(i64, i64)>,
    /// Two-sided t-test p-value, before correction (1 for zero spread,
    /// which supports no test).
    pub p_value: f64,
    /// Holm-adjusted p-value within the question's family.
    pub holm_p: f64,
    /// Sign-flip permutation p-value of the same differences.
    pub sign_flip_p: f64,
    /// Every seed gave the same difference: no spread, so no direction.
    pub zero_spread: bool,
    /// Cells at this size that did not converge.
    pub unsettled: usize,
    /// A reference change in the units of `effect`, with its interval over
    /// the same seeds at [`LEVEL`], shown beside the effect: for the
    /// equal-weights question PCA's own change from the untied size to the
    /// tied size (`k / 2` to `k`), the part of the effect that bottleneck
    /// width alone gives. Its interval sets the precision it is shown at,
    /// as the effect's sets the effect's. `None` for the other questions.
    pub reference: Option<Interval>,
    /// What the statement supports; `Unclear` whenever `unsettled > 0`.
    pub outcome: Outcome,
}

// ---------------------------------------------------------------- formatting

/// `±2%`, from [`MARGIN`].
fn margin_text() -> String {
    format!("±{}%", format_tick(100.0 * MARGIN))
}

/// Formats `x` with [`crate::number::SIGNIFICANT_DIGITS`] significant
/// digits and a sign.
pub(crate) fn signed(x: f64) -> String {
    let s = format_or_missing(x);
    if x > 0.0 { format!("+{s}") } else { s }
}

/// A `+` on a positive number, and no `-` on one that rounded to zero.
fn with_sign(s: String) -> String {
    let unsigned = s.trim_start_matches('-');
    if unsigned.chars().all(|c| c == '0' || c == '.') {
        unsigned.to_string()
    } else if s.starts_with('-') {
        s
    } else {
        format!("+{s}")
    }
}

/// `x` written to the decimal place of the second significant digit of
/// `half`, with a `-` on a negative number and no sign on a positive one;
/// for a finite non-zero `x` and a finite positive `half`.
fn at_place(x: f64, half: f64) -> String {
    let place = half.log10().floor() as i32 - 1;
    if place >= 0 {
        let unit = 10_f64.powi(place);
        format!("{:.0}", (x / unit).round() * unit)
    } else if place >= -9 {
        let decimals = (-place) as usize;
        format!("{x:.decimals$}")
    } else {
        let digits = (x.abs().log10().floor() as i32 - place).max(0) as usize;
        format!("{x:.digits$e}")
    }
}

/// `x` rounded at the decimal place of the second significant digit of
/// `half`, an interval's half width: the precision the interval supports
/// (`−6.4` with a half width of 15 is shown as `−6`). A zero or non-finite
/// half width falls back to [`signed`].
fn rounded(x: f64, half: f64) -> String {
    if !x.is_finite() {
        return MISSING.to_string();
    }
    if x == 0.0 {
        return "0".to_string();
    }
    if !(half.is_finite() && half > 0.0) {
        return signed(x);
    }
    with_sign(at_place(x, half))
}

/// A level rather than a change (a ratio to PCA, a mean gap, an angle) at
/// the precision an interval of half width `half` supports: as
/// [`rounded`], without a `+` on a positive number (nor a `-` on one that
/// rounded to zero). A zero or non-finite half width (no spread to round
/// to) gives [`crate::number::SIGNIFICANT_DIGITS`] significant digits.
pub fn rounded_level(x: f64, half: f64) -> String {
    if !x.is_finite() {
        return MISSING.to_string();
    }
    if x == 0.0 {
        return "0".to_string();
    }
    if !(half.is_finite() && half > 0.0) {
        return format_or_missing(x);
    }
    let s = at_place(x, half);
    let unsigned = s.trim_start_matches('-');
    if unsigned.chars().all(|c| c == '0' || c == '.') {
        unsigned.to_string()
    } else {
        s
    }
}

/// The mean of `values` (a measure over seeds) at the precision its
/// Student-t interval at [`LEVEL`] supports ([`rounded_level`]), for a
/// mean stated without its interval; with a single value, that value's
/// [`crate::number::SIGNIFICANT_DIGITS`] significant digits.
pub fn mean_text(values: &[f64]) -> String {
    match mean_interval(values, LEVEL) {
        Ok(i) => rounded_level(i.estimate, i.half_width()),
        Err(_) => mean(values).map_or_else(|| MISSING.to_string(), format_or_missing),
    }
}

/// `est (95% CI lo to hi, n seeds)` with every number scaled by `scale`,
/// followed by `unit`, at the precision the interval supports.
fn interval_text(i: &Interval, scale: f64, unit: &str) -> String {
    let half = scale * i.half_width();
    let f = |x: f64| format!("{}{unit}", rounded(scale * x, half));
    format!(
        "{} ({}% CI {} to {}, {} seeds)",
        f(i.estimate),
        format_tick(100.0 * i.level),
        f(i.lo),
        f(i.hi),
        i.n
    )
}

/// A p-value with two significant digits, or `< 0.001`.
fn p_text(p: f64) -> String {
    if !p.is_finite() {
        return MISSING.to_string();
    }
    if p < 0.001 {
        return "< 0.001".to_string();
    }
    let decimals = (1 - p.log10().floor() as i32).max(0) as usize;
    format!("{p:.decimals$}")
}

/// A per-size statement's effect: its interval and Holm-adjusted p-value.
pub fn describe_effect(e: &SizeEffect) -> String {
    let unit = if e.percent { "%" } else { "" };
    let text = interval_text(&e.effect, 1.0, unit);
    // `text` ends in `seeds)`; the p-value goes inside the parentheses.
    let open = text.strip_suffix(')').unwrap_or(&text);
    format!("{open}; Holm p {})", p_text(e.holm_p))
}

/// `0` or `0–4`: the smallest and largest of `values`.
fn span(values: impl Iterator<Item = i64>) -> String {
    let v: Vec<i64> = values.collect();
    match (v.iter().min(), v.iter().max()) {
        (Some(lo), Some(hi)) if lo == hi => lo.to_string(),
        (Some(lo), Some(hi)) => format!("{lo}–{hi}"),
        _ => MISSING.to_string(),
    }
}

/// Dead latent units over the seeds of a statement as `tied / untied`,
/// each the smallest to largest over seeds (`0 / 0–4`): one seed with half
/// its units dead can move a mean of five on its own, so the counts stand
/// beside the effect.
pub fn dead_units_text(e: &SizeEffect) -> String {
    format!(
        "{} / {}",
        span(e.dead_units.iter().map(|d| d.0)),
        span(e.dead_units.iter().map(|d| d.1))
    )
}

/// A reference change ([`SizeEffect::reference`]) at the precision its own
/// interval supports, signed like an effect: `-15.68`. The Findings state
/// PCA's own change with it too, so both say the same number.
pub fn reference_text(r: &Interval) -> String {
    rounded(r.estimate, r.half_width())
}

/// The effect in a few characters, `-6% (-21 to +9)`, each number at the
/// precision its interval supports; with the reference change beside it
/// when there is one (`, PCA -15.68%`, at the precision of its own
/// interval).
pub fn effect_short(e: &SizeEffect) -> String {
    let unit = if e.percent { "%" } else { "" };
    let half = e.effect.half_width();
    let f = |x: f64| rounded(x, half);
    let mut s = format!(
        "{}{unit} ({} to {})",
        f(e.effect.estimate),
        f(e.effect.lo),
        f(e.effect.hi)
    );
    if let Some(r) = &e.reference {
        s.push_str(&format!(", PCA {}{unit}", reference_text(r)));
    }
    s
}

/// What a forest-plot row says beside its bar: the effect
/// ([`effect_short`]), its Holm-adjusted p-value and the dead units
/// ([`dead_units_text`]).
pub fn effect_note(e: &SizeEffect) -> String {
    format!(
        "{} · Holm p {} · dead {}",
        effect_short(e),
        p_text(e.holm_p),
        dead_units_text(e)
    )
}

/// The rule of a page of `verdicts`, to be stated once: [`RULES`],
/// [`SEEDS_VARY`], the number of seeds paired per size and the rounding
/// ([`ROUNDING`]).
pub fn rules_text(verdicts: &[Verdict]) -> String {
    let n: Vec<usize> = verdicts
        .iter()
        .flat_map(|v| v.effects.iter().map(|e| e.effect.n))
        .collect();
    let seeds = match (n.iter().min(), n.iter().max()) {
        (Some(lo), Some(hi)) if lo == hi => format!(" Seeds paired per size: {lo}."),
        (Some(lo), Some(hi)) => format!(" Seeds paired per size: {lo} to {hi}."),
        _ => String::new(),
    };
    format!("{RULES} {SEEDS_VARY}{seeds} {ROUNDING}")
}

/// How every number of the verdict and the Findings is rounded, for the
/// page to state once ([`rules_text`]).
pub const ROUNDING: &str = "Every number with an interval is rounded to the precision that \
interval supports (the second significant digit of its half-width): an effect and its \
interval's ends, PCA's own change beside an effect (by its own interval over the same seeds), \
and, here and in the Findings, a mean over seeds stated without its interval. p-values carry \
two significant digits; a number without an interval (a single cell, an extreme over cells, a \
ratio of parameter counts) carries four significant digits, and a count is exact.";

/// The primary statements of a question grouped by what they support:
/// `tied higher at k = 16, 32; within ±2% at k = 1, 2; unclear (interval
/// too wide) at k = 4, 8`, with `higher` and `lower` naming the two
/// directions in the question's words.
fn glance(effects: &[SizeEffect], higher: &str, lower: &str) -> String {
    let main: Vec<&SizeEffect> = effects.iter().filter(|e| e.primary).collect();
    let Some(first) = main.first() else {
        return "too few paired cells to compare".to_string();
    };
    let axis = first.axis;
    let parts: Vec<String> = grouped(&main)
        .into_iter()
        .map(|(group, list)| {
            let what = match group {
                Group::Higher => higher.to_string(),
                Group::Lower => lower.to_string(),
                Group::Within => format!("within {}", margin_text()),
                Group::Unclear => "unclear (interval too wide)".to_string(),
                Group::NoSpread => "no spread over seeds".to_string(),
                Group::NotConverged => "not converged".to_string(),
            };
            format!("{what} at {axis} = {}", list.join(", "))
        })
        .collect();
    parts.join("; ")
}

/// What a per-size statement says, in the order the verdict lists them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Group {
    Higher,
    Lower,
    Within,
    Unclear,
    NoSpread,
    NotConverged,
}

impl Group {
    const ALL: [Group; 6] = [
        Group::Higher,
        Group::Lower,
        Group::Within,
        Group::Unclear,
        Group::NoSpread,
        Group::NotConverged,
    ];

    /// The group `e` belongs to: a size with an unsettled cell is not
    /// converged whatever its interval says.
    fn of(e: &SizeEffect) -> Group {
        match e.outcome {
            _ if e.unsettled > 0 => Group::NotConverged,
            Outcome::Higher => Group::Higher,
            Outcome::Lower => Group::Lower,
            Outcome::Equivalent => Group::Within,
            Outcome::Unclear if e.zero_spread => Group::NoSpread,
            Outcome::Unclear => Group::Unclear,
        }
    }
}

/// The non-empty groups of `effects`, in [`Group::ALL`]'s order, each with
/// its sizes' short labels in the effects' order.
fn grouped(effects: &[&SizeEffect]) -> Vec<(Group, Vec<String>)> {
    Group::ALL
        .into_iter()
        .map(|g| {
            let list: Vec<String> = effects
                .iter()
                .filter(|e| Group::of(e) == g)
                .map(|e| short_label(e))
                .collect();
            (g, list)
        })
        .filter(|(_, list)| !list.is_empty())
        .collect()
}

/// `text` as a sentence: its first letter capitalised and a full stop.
fn sentence(text: &str) -> String {
    let mut chars = text.chars();
    let capital: String = match chars.next() {
        Some(c) => c.to_uppercase().chain(chars).collect(),
        None => String::new(),
    };
    format!("{capital}.")
}

/// `k = 4` or `k = 4 (relu)`: what a statement is about, e.g. as the row
/// label of a forest plot.
pub fn size_label(e: &SizeEffect) -> String {
    if e.setting.is_empty() {
        format!("{} = {}", e.axis, e.at)
    } else {
        format!("{} = {} ({})", e.axis, e.at, e.setting)
    }
}

/// `4` or `4 (relu)`.
fn short_label(e: &SizeEffect) -> String {
    if e.setting.is_empty() {
        e.at.to_string()
    } else {
        format!("{} ({})", e.at, e.setting)
    }
}

/// A statement's outcome in words: `tied higher`, `tied lower`, `within
/// ±2%`, `no spread over seeds` or `unclear`.
fn outcome_word(e: &SizeEffect) -> String {
    match e.outcome {
        _ if e.unsettled > 0 => "not converged".to_string(),
        Outcome::Higher => "tied higher".to_string(),
        Outcome::Lower => "tied lower".to_string(),
        Outcome::Equivalent => format!("within {}", margin_text()),
        Outcome::Unclear if e.zero_spread => "no spread over seeds".to_string(),
        Outcome::Unclear => "unclear".to_string(),
    }
}

/// `k = 2: −6% (95% CI −21% to +9%, 5 seeds; Holm p 0.31), unclear; ...`
/// for the statements `keep` selects.
fn per_size(effects: &[SizeEffect], keep: impl Fn(&SizeEffect) -> bool) -> String {
    effects
        .iter()
        .filter(|e| keep(e))
        .map(|e| {
            let flag = if e.unsettled > 0 {
                format!(" [{} cells not converged]", e.unsettled)
            } else {
                String::new()
            };
            let reference = e
                .reference
                .as_ref()
                .map(|r| {
                    let unit = if e.percent { "%" } else { "" };
                    format!(" beside PCA's own {}{unit}", reference_text(r))
                })
                .unwrap_or_default();
            format!(
                "{}: {}{reference}, {}{flag}",
                size_label(e),
                describe_effect(e),
                outcome_word(e)
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// ` Sign-flip permutation p beside the t test: k = 1: 0.062; ...`, for the
/// primary statements.
fn sign_flip_text(effects: &[SizeEffect]) -> String {
    let list: Vec<String> = effects
        .iter()
        .filter(|e| e.primary)
        .map(|e| format!("{}: {}", size_label(e), p_text(e.sign_flip_p)))
        .collect();
    if list.is_empty() {
        String::new()
    } else {
        format!(
            " Sign-flip permutation p (no normality assumed), beside the t test: {}.",
            list.join("; ")
        )
    }
}

// ---------------------------------------------------------------- pairing

/// The axes of a configuration besides model kind, latent size, training
/// size and seed: the two sides of a comparison must agree on all of them.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct Setting {
    dataset: String,
    activation: String,
    bias_mode: String,
    /// `f64::to_bits` (non-negative values order as their bits do).
    l2: u64,
    sparsity_weight: u64,
}

impl Setting {
    fn of(r: &Row) -> Setting {
        Setting {
            dataset: r.dataset.clone(),
            activation: r.activation.clone(),
            bias_mode: r.bias_mode.clone(),
            l2: r.l2.to_bits(),
            sparsity_weight: r.sparsity_weight.to_bits(),
        }
    }
}

/// Labels that tell `settings` apart: the axes on which they differ, empty
/// when they are all the same.
fn setting_labels(settings: &[Setting]) -> Vec<String> {
    type Axis = fn(&Setting) -> String;
    let Some(first) = settings.first() else {
        return Vec::new();
    };
    let axes: [Axis; 5] = [
        |s| s.dataset.clone(),
        |s| s.activation.clone(),
        |s| format!("bias {}", s.bias_mode),
        |s| format!("l2 {}", format_tick(f64::from_bits(s.l2))),
        |s| {
            format!(
                "sparsity {}",
                format_tick(f64::from_bits(s.sparsity_weight))
            )
        },
    ];
    let varying: Vec<Axis> = axes
        .into_iter()
        .filter(|f| settings.iter().any(|s| f(s) != f(first)))
        .collect();
    settings
        .iter()
        .map(|s| varying.iter().map(|f| f(s)).collect::<Vec<_>>().join(", "))
        .collect()
}

/// Dead latent units of a row: its dead fraction of its latent size.
fn dead_units(r: &Row) -> i64 {
    (r.dead_fraction * r.latent as f64).round() as i64
}

/// The setting, latent size and training size `rows` share, when they are
/// one configuration with each seed at most once; `None` otherwise (no
/// rows, a mix of configurations, or a duplicated cell).
fn single_configuration(rows: &[&Row]) -> Option<(Setting, i64, i64)> {
    let first = rows.first()?;
    let key = (Setting::of(first), first.latent, first.n_train);
    let mut seeds = HashSet::new();
    for r in rows {
        let same = Setting::of(r) == key.0 && r.latent == key.1 && r.n_train == key.2;
        if !same || !seeds.insert(r.seed) {
            return None;
        }
    }
    Some(key)
}

/// One pair: the same seed of one configuration under two model kinds.
struct Pair {
    seed: i64,
    a: f64,
    b: f64,
    dead: (i64, i64),
}

/// The seed pairs of `a` against `b` with the values `value` gives them,
/// ascending by seed.
///
/// Each side must be a single configuration ([`single_configuration`]),
/// and both must share the setting and the training size; their latent
/// sizes are the ones the caller chose (equal, or `k` against `k / 2`).
/// Anything else is `None` rather than a guess: rows of two activations
/// matched by seed alone would count one configuration's seeds twice.
/// `None` also with fewer than two pairs.
fn pairs(a: &[&Row], b: &[&Row], value: impl Fn(&Row) -> Option<f64>) -> Option<Vec<Pair>> {
    let (sa, _, na) = single_configuration(a)?;
    let (sb, _, nb) = single_configuration(b)?;
    if sa != sb || na != nb {
        return None;
    }
    let by_seed: HashMap<i64, &Row> = b.iter().map(|&r| (r.seed, r)).collect();
    let mut out: Vec<Pair> = a
        .iter()
        .filter_map(|&x| {
            let y: &Row = by_seed.get(&x.seed)?;
            Some(Pair {
                seed: x.seed,
                a: value(x)?,
                b: value(y)?,
                dead: (dead_units(x), dead_units(y)),
            })
        })
        .collect();
    out.sort_by_key(|p| p.seed);
    (out.len() >= 2).then_some(out)
}

/// The per-pair differences: `a − b`, or for relative effects the
/// log-ratio `ln(a / b)`; `None` when one cannot be formed (a
/// non-positive value in a ratio) or is not finite.
fn differences(pairs: &[Pair], relative: bool) -> Option<Vec<f64>> {
    let (a, b): (Vec<f64>, Vec<f64>) = pairs.iter().map(|p| (p.a, p.b)).unzip();
    let d = if relative {
        log_ratios(&a, &b).ok()?
    } else {
        a.iter().zip(&b).map(|(x, y)| x - y).collect()
    };
    d.iter().all(|v| v.is_finite()).then_some(d)
}

/// One paired comparison, before its family is assessed.
struct Comparison {
    at: i64,
    setting: Setting,
    pairs: Vec<Pair>,
    d: Vec<f64>,
    unsettled: usize,
}

/// The comparison of rows `a` against rows `b` at size `at`, if they pair
/// ([`pairs`]); cells of either side that did not converge are counted.
fn comparison(
    at: i64,
    a: &[&Row],
    b: &[&Row],
    value: impl Fn(&Row) -> Option<f64>,
    relative: bool,
) -> Option<Comparison> {
    let setting = Setting::of(a.first()?);
    let pairs = pairs(a, b, value)?;
    let d = differences(&pairs, relative)?;
    Some(Comparison {
        at,
        setting,
        unsettled: count_unsettled(a) + count_unsettled(b),
        pairs,
        d,
    })
}

/// How a family of comparisons is measured and labelled.
#[derive(Clone, Copy)]
struct Measure {
    name: &'static str,
    axis: &'static str,
    relative: bool,
    primary: bool,
}

/// The comparisons of one question and measure as one family
/// ([`assess_family`]: Holm within it, the ±[`MARGIN`] equivalence margin
/// for relative effects), in the units the page shows.
fn assess(comparisons: Vec<Comparison>, m: Measure) -> Vec<SizeEffect> {
    if comparisons.is_empty() {
        return Vec::new();
    }
    let margin = if m.relative {
        Margin::relative(MARGIN).ok()
    } else {
        None
    };
    let family: Vec<&[f64]> = comparisons.iter().map(|c| c.d.as_slice()).collect();
    let Ok(assessed) = assess_family(&family, LEVEL, margin, SIGN_FLIP_SEED) else {
        return Vec::new();
    };
    let settings: Vec<Setting> = comparisons.iter().map(|c| c.setting.clone()).collect();
    let labels = setting_labels(&settings);
    comparisons
        .into_iter()
        .zip(assessed)
        .zip(labels)
        .map(|((c, a), setting)| {
            let (effect, band, differences) = if m.relative {
                (
                    a.test.diff.geometric_percent(),
                    margin.map(|g| (geometric_percent(g.lower), geometric_percent(g.upper))),
                    c.d.iter()
                        .map(|&x| geometric_percent(x))
                        .collect::<Vec<f64>>(),
                )
            } else {
                (a.test.diff, None, c.d.clone())
            };
            SizeEffect {
                measure: m.name,
                primary: m.primary,
                axis: m.axis,
                at: c.at,
                setting,
                percent: m.relative,
                effect,
                band,
                seeds: c.pairs.iter().map(|p| p.seed).collect(),
                differences,
                dead_units: c.pairs.iter().map(|p| p.dead).collect(),
                p_value: if a.zero_spread { 1.0 } else { a.test.p_value },
                holm_p: a.holm_p,
                sign_flip_p: a.sign_flip_p,
                zero_spread: a.zero_spread,
                unsettled: c.unsettled,
                reference: None,
                outcome: if c.unsettled > 0 {
                    Outcome::Unclear
                } else {
                    a.outcome
                },
            }
        })
        .collect()
}

// ---------------------------------------------------------------- helpers for the Findings

/// The largest principal angles (degrees) behind the largest angle of
/// `rows`, by the rule the principal-angle chart uses too: per latent size
/// the mean over seeds of each cell's largest angle, then the largest of
/// those means. Returned are that size's per-cell angles, so that their
/// mean can be stated at the precision its interval supports
/// ([`mean_text`]).
pub(crate) fn largest_mean_angles(rows: &[&Row]) -> Option<Vec<f64>> {
    let mut ks: Vec<i64> = rows.iter().map(|r| r.latent).collect();
    ks.sort_unstable();
    ks.dedup();
    let average = |a: &[f64]| a.iter().sum::<f64>() / a.len() as f64;
    ks.iter()
        .filter_map(|&k| {
            let a: Vec<f64> = rows
                .iter()
                .filter(|r| r.latent == k)
                .filter_map(|r| r.max_angle_deg)
                .collect();
            (!a.is_empty()).then_some(a)
        })
        .reduce(|best, a| {
            if average(&a[..]) > average(&best[..]) {
                a
            } else {
                best
            }
        })
}

/// Several paired comparisons stated together (one per training or latent
/// size, say), as one Holm family with the ±[`MARGIN`] margin for relative
/// effects: per group `(a, b)` its statement, `None` where the group does
/// not pair (each side one configuration, both sharing everything but model
/// kind and latent size, at least two seeds). A statement's `at` is its
/// group's index and its `axis` and `measure` are empty: the caller names
/// them. This is how a summary states several sizes with the verdict's
/// rule.
pub fn compare_family(
    groups: &[(&[&Row], &[&Row])],
    value: impl Fn(&Row) -> Option<f64> + Copy,
    relative: bool,
) -> Vec<Option<SizeEffect>> {
    let comparisons: Vec<Comparison> = groups
        .iter()
        .enumerate()
        .filter_map(|(i, (a, b))| comparison(i as i64, a, b, value, relative))
        .collect();
    let measure = Measure {
        name: "",
        axis: "",
        relative,
        primary: true,
    };
    let mut out: Vec<Option<SizeEffect>> = vec![None; groups.len()];
    for e in assess(comparisons, measure) {
        let i = e.at as usize;
        out[i] = Some(e);
    }
    out
}

/// The sentence ending of a statement from [`compare_family`]: `below` or
/// `above` for a direction, "no difference beyond ±2%", or why nothing is
/// claimed.
pub fn effect_wording(e: &SizeEffect, below: &str, above: &str) -> String {
    if e.unsettled > 0 {
        return format!(
            "{} of the cells did not converge, so no direction is claimed",
            e.unsettled
        );
    }
    match e.outcome {
        Outcome::Lower => below.to_string(),
        Outcome::Higher => above.to_string(),
        Outcome::Equivalent => format!("no difference beyond {}", margin_text()),
        Outcome::Unclear if e.zero_spread => {
            "every seed gave the same difference, so no direction is claimed".to_string()
        }
        Outcome::Unclear if e.band.is_some() => "unclear: the interval is too wide".to_string(),
        Outcome::Unclear => format!("no detectable difference with {} seeds", e.effect.n),
    }
}

/// How many of `rows` did not converge.
pub(crate) fn count_unsettled(rows: &[&Row]) -> usize {
    rows.iter().filter(|r| !is_settled(r)).count()
}

// ---------------------------------------------------------------- the questions

/// The answer from a question's primary statements: `yes_when` at every
/// size is yes; within the margin at every size is "no difference beyond
/// ±2%"; the opposite direction or within the margin at every size is no;
/// anything else (an unclear size, or yes at some sizes and not others) is
/// unclear.
fn answer(effects: &[SizeEffect], yes_when: Outcome) -> Answer {
    let main: Vec<Outcome> = effects
        .iter()
        .filter(|e| e.primary)
        .map(|e| e.outcome)
        .collect();
    if main.is_empty() {
        return Answer::Unclear;
    }
    let no_when = match yes_when {
        Outcome::Higher => Outcome::Lower,
        Outcome::Lower => Outcome::Higher,
        other => other,
    };
    if main.iter().all(|&o| o == yes_when) {
        Answer::Yes
    } else if main.iter().all(|&o| o == Outcome::Equivalent) {
        Answer::Equivalent
    } else if main
        .iter()
        .all(|&o| o == no_when || o == Outcome::Equivalent)
    {
        Answer::No
    } else {
        Answer::Unclear
    }
}

/// Why an answer is unclear, in words (nothing for any other answer).
fn unclear_reason(answer: Answer, effects: &[SizeEffect]) -> String {
    if answer != Answer::Unclear {
        return String::new();
    }
    let main: Vec<&SizeEffect> = effects.iter().filter(|e| e.primary).collect();
    if main.is_empty() {
        return " Too few paired cells (at least two seeds of one configuration on each side are needed).".into();
    }
    let n = main.iter().map(|e| e.effect.n).min().unwrap_or(0);
    let all_wide = main
        .iter()
        .all(|e| e.unsettled == 0 && !e.zero_spread && e.outcome == Outcome::Unclear);
    if all_wide {
        return if main[0].band.is_some() {
            format!(
                " Unclear at every size: no direction, and the intervals are too wide to rule out a difference beyond {} ({n} seeds).",
                margin_text()
            )
        } else {
            format!(
                " No detectable difference with {n} seeds (this measure has no equivalence margin)."
            )
        };
    }
    let parts: Vec<String> = grouped(&main)
        .into_iter()
        .map(|(group, list)| {
            let what = match group {
                Group::Higher => "tied above untied at".to_string(),
                Group::Lower => "tied below untied at".to_string(),
                Group::Within => format!("within {} at", margin_text()),
                Group::Unclear => "unclear (the interval is too wide) at".to_string(),
                Group::NoSpread => "no spread over seeds (every seed gave the same difference, so no direction is claimed) at".to_string(),
                Group::NotConverged => "not converged at".to_string(),
            };
            let tail = if group == Group::NotConverged {
                " (a cell stopped at the epoch cap or diverged: no conclusion there)"
            } else {
                ""
            };
            format!("{what} {}{tail}", list.join(", "))
        })
        .collect();
    format!(" No single answer: {}.", parts.join("; "))
}

/// The largest training size in `rows`: the one the equal-size questions
/// are asked at.
fn full_n(rows: &[Row]) -> Option<i64> {
    rows.iter().map(|r| r.n_train).max()
}

/// The settings of `model`'s rows at training size `n`, in order.
fn settings_of(rows: &[Row], model: ModelKind, n: i64) -> Vec<Setting> {
    rows.iter()
        .filter(|r| r.model == model && r.n_train == n)
        .map(Setting::of)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect()
}

/// The rows of one configuration: `model` with `setting` at latent `k` and
/// training size `n`.
fn cells<'a>(rows: &'a [Row], model: ModelKind, n: i64, setting: &Setting, k: i64) -> Vec<&'a Row> {
    rows.iter()
        .filter(|r| {
            r.model == model && r.n_train == n && r.latent == k && Setting::of(r) == *setting
        })
        .collect()
}

/// The latent sizes at which both `a` and `b` have rows at `n`.
fn common_latents(rows: &[Row], a: ModelKind, b: ModelKind, n: i64) -> Vec<i64> {
    let at = |m: ModelKind| -> BTreeSet<i64> {
        rows.iter()
            .filter(|r| r.model == m && r.n_train == n)
            .map(|r| r.latent)
            .collect()
    };
    at(a).intersection(&at(b)).copied().collect()
}

/// Tied at latent `kt` against untied at `ku`, for each `(kt, ku)` of
/// `sizes` and each setting, at `n` training rows; ordered by size, then
/// setting. A configuration with fewer than two paired seeds is left out.
fn tied_against_untied(
    rows: &[Row],
    n: i64,
    sizes: &[(i64, i64)],
    value: impl Fn(&Row) -> Option<f64> + Copy,
    relative: bool,
) -> Vec<Comparison> {
    let mut out = Vec::new();
    for s in settings_of(rows, ModelKind::Tied, n) {
        for &(kt, ku) in sizes {
            let t = cells(rows, ModelKind::Tied, n, &s, kt);
            let u = cells(rows, ModelKind::Untied, n, &s, ku);
            if let Some(c) = comparison(kt, &t, &u, value, relative) {
                out.push(c);
            }
        }
    }
    out.sort_by(|x, y| (x.at, &x.setting).cmp(&(y.at, &y.setting)));
    out
}

/// Tied against untied at equal latent size: relative test MSE.
fn cost_at_equal_latent(rows: &[Row]) -> Option<Verdict> {
    let n = full_n(rows)?;
    let ks = common_latents(rows, ModelKind::Tied, ModelKind::Untied, n);
    if ks.is_empty() {
        return None;
    }
    let sizes: Vec<(i64, i64)> = ks.iter().map(|&k| (k, k)).collect();
    let measure = Measure {
        name: "test MSE",
        axis: "k",
        relative: true,
        primary: true,
    };
    let effects = assess(
        tied_against_untied(rows, n, &sizes, |r| Some(r.test_mse), true),
        measure,
    );
    let a = answer(&effects, Outcome::Higher);
    let m = margin_text();
    let lead = match a {
        Answer::Yes => " Tied's test MSE is higher than untied's at every latent size.".to_string(),
        Answer::No => format!(
            " At every latent size tied's test MSE is lower than untied's or within {m} of it: no cost beyond {m}."
        ),
        Answer::Equivalent => {
            format!(" Tied's test MSE is within {m} of untied's at every latent size.")
        }
        Answer::Unclear => String::new(),
    };
    Some(Verdict {
        question: "Does tying cost reconstruction at equal latent size?",
        answer: a,
        effect: per_size(&effects, |e| e.primary),
        detail: format!(
            "Tied against untied test MSE as a paired log-ratio (geometric mean over seeds of tied / untied, as a percentage), at {n} training rows; Holm across the latent sizes.{lead}{}{}",
            unclear_reason(a, &effects),
            sign_flip_text(&effects)
        ),
        summary: sentence(&glance(
            &effects,
            "tied's test MSE higher",
            "tied's test MSE lower",
        )),
        section: "mse-vs-latent",
        effects,
    })
}

/// The `(k, k / 2)` pairs of the equal-weights questions: every tied
/// latent size `k >= 2` at `n` training rows against untied at `k / 2`.
fn half_sizes(rows: &[Row], n: i64) -> Vec<(i64, i64)> {
    rows.iter()
        .filter(|r| r.model == ModelKind::Tied && r.n_train == n && r.latent >= 2)
        .map(|r| r.latent)
        .collect::<BTreeSet<i64>>()
        .into_iter()
        .map(|k| (k, k / 2))
        .collect()
}

/// `2: 194 against 193, 4: 324 against 322`: the parameter counts the
/// frame holds (biases included) of tied at `k` and untied at `k / 2`.
fn parameter_counts(rows: &[Row], n: i64, sizes: &[(i64, i64)]) -> String {
    let count = |m: ModelKind, k: i64| -> Option<i64> {
        rows.iter()
            .find(|r| r.model == m && r.n_train == n && r.latent == k)
            .map(|r| r.params)
    };
    sizes
        .iter()
        .filter_map(|&(kt, ku)| {
            Some(format!(
                "{kt}: {} against {}",
                count(ModelKind::Tied, kt)?,
                count(ModelKind::Untied, ku)?
            ))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// ` PCA alone changes by -76.57% to -15.68% from k/2 to k.`: the range
/// of the statements' reference changes, each at the precision of its own
/// interval.
fn reference_range(effects: &[SizeEffect]) -> String {
    let refs: Vec<&Interval> = effects
        .iter()
        .filter(|e| e.primary)
        .filter_map(|e| e.reference.as_ref())
        .collect();
    let lo = refs
        .iter()
        .copied()
        .min_by(|a, b| a.estimate.total_cmp(&b.estimate));
    let hi = refs
        .iter()
        .copied()
        .max_by(|a, b| a.estimate.total_cmp(&b.estimate));
    match (lo, hi) {
        (Some(lo), Some(hi)) if lo.estimate == hi.estimate => format!(
            " PCA alone changes by {}% from k/2 to k.",
            reference_text(lo)
        ),
        (Some(lo), Some(hi)) => format!(
            " PCA alone changes by {}% to {}% from k/2 to k.",
            reference_text(lo),
            reference_text(hi)
        ),
        _ => String::new(),
    }
}

/// Tied at latent `k` against untied at `k / 2`: the same `d·k` weights
/// in a one-layer pair, with tied carrying `k / 2` more biases (the counts
/// are stated as the frame holds them). Each effect has PCA's own change
/// from `k / 2` to `k` beside it, which is what width alone gives; what is
/// left beyond it is [`beyond_width`].
fn win_at_equal_weights(rows: &[Row]) -> Option<Verdict> {
    let n = full_n(rows)?;
    let sizes = half_sizes(rows, n);
    let measure = Measure {
        name: "test MSE",
        axis: "tied k",
        relative: true,
        primary: true,
    };
    let main = tied_against_untied(rows, n, &sizes, |r| Some(r.test_mse), true);
    // Each row holds PCA's test MSE at its own latent size and split, so
    // pairing those gives PCA(k) / PCA(k / 2) on exactly the pairs' splits.
    let pca = tied_against_untied(rows, n, &sizes, |r| Some(r.pca_test_mse), true);
    let references: Vec<Option<Interval>> = main
        .iter()
        .map(|c| {
            pca.iter()
                .find(|p| p.at == c.at && p.setting == c.setting)
                .and_then(|p| mean_interval(&p.d, LEVEL).ok())
                .map(|i| i.geometric_percent())
        })
        .collect();
    let mut effects = assess(main, measure);
    if effects.is_empty() {
        return None;
    }
    for (e, r) in effects.iter_mut().zip(references) {
        e.reference = r;
    }
    let a = answer(&effects, Outcome::Lower);
    let m = margin_text();
    let lead = match a {
        Answer::Yes => " Tied's test MSE is lower at every size.".to_string(),
        Answer::No => format!(
            " At every size tied's test MSE is higher than untied's or within {m} of it: no win beyond {m}."
        ),
        Answer::Equivalent => format!(" Tied's test MSE is within {m} of untied's at every size."),
        Answer::Unclear => String::new(),
    };
    let counts = parameter_counts(rows, n, &sizes);
    let reference = reference_range(&effects);
    Some(Verdict {
        question: "Does tying win at equal weights?",
        answer: a,
        effect: per_size(&effects, |e| e.primary),
        detail: format!(
            "Tied at latent size k against untied at k/2: a one-layer pair has d·k weights on both sides, and tied carries k/2 more biases (parameters as counted, biases included, tied k: tied against untied: {counts}). Test MSE as a paired log-ratio (geometric mean over seeds of tied / untied, as a percentage), at {n} training rows; Holm across the sizes. Beside each effect, PCA's own change from k/2 to k: the part a wider bottleneck gives by itself.{reference}{lead}{}{}",
            unclear_reason(a, &effects),
            sign_flip_text(&effects)
        ),
        summary: format!(
            "{}{reference}",
            sentence(&glance(
                &effects,
                "tied's test MSE higher",
                "tied's test MSE lower",
            ))
        ),
        section: "mse-vs-params",
        effects,
    })
}

/// What is left of the equal-weights effect once bottleneck width is
/// accounted for: per seed `ln(tied(k) / untied(k/2)) − ln(PCA(k) /
/// PCA(k/2))`. Each row holds PCA's test MSE at its own size and split, so
/// this is the log-ratio of the two sides' ratios to PCA, per seed, and
/// stays right when seeds resample the data.
fn beyond_width(rows: &[Row]) -> Option<Verdict> {
    let n = full_n(rows)?;
    let sizes = half_sizes(rows, n);
    let measure = Measure {
        name: "test MSE relative to PCA at the same latent size",
        axis: "tied k",
        relative: true,
        primary: true,
    };
    let to_pca = |r: &Row| (r.pca_test_mse > 0.0).then_some(r.test_mse / r.pca_test_mse);
    let effects = assess(tied_against_untied(rows, n, &sizes, to_pca, true), measure);
    if effects.is_empty() {
        return None;
    }
    let a = answer(&effects, Outcome::Lower);
    let m = margin_text();
    let lead = match a {
        Answer::Yes => {
            " Tied's test MSE is lower than width alone explains at every size.".to_string()
        }
        Answer::No => format!(
            " At every size tied does no better than width alone explains (higher, or within {m})."
        ),
        Answer::Equivalent => {
            format!(" Width alone explains the effect to within {m} at every size.")
        }
        Answer::Unclear => String::new(),
    };
    Some(Verdict {
        question: "Once width is accounted for, does tying still win at equal weights?",
        answer: a,
        effect: per_size(&effects, |e| e.primary),
        detail: format!(
            "Per seed, ln(tied(k) / untied(k/2)) minus ln(PCA(k) / PCA(k/2)), PCA fitted on the same split: the equal-weights log-ratio less what the wider bottleneck gives PCA, as a geometric-mean percentage, at {n} training rows; Holm across the sizes.{lead}{}{}",
            unclear_reason(a, &effects),
            sign_flip_text(&effects)
        ),
        summary: sentence(&glance(
            &effects,
            "tied higher than width explains",
            "tied lower than width explains",
        )),
        section: "mse-vs-params",
        effects,
    })
}

/// The train/test gap of tied against untied at the smallest training set,
/// per latent size.
///
/// With the `protocol` the rows were trained under, the training rows are
/// stated as the rows that fit and the rows that validate.
fn overfits_less(rows: &[Row], protocol: Option<&Protocol>) -> Option<Verdict> {
    let full = full_n(rows)?;
    let small = rows
        .iter()
        .filter(|r| r.model == ModelKind::Tied && r.n_train < full)
        .map(|r| r.n_train)
        .min()?;
    let ks = common_latents(rows, ModelKind::Tied, ModelKind::Untied, small);
    let sizes: Vec<(i64, i64)> = ks.iter().map(|&k| (k, k)).collect();
    let gap = |r: &Row| Some(r.test_mse - r.train_mse);
    let measure = Measure {
        name: "test-minus-train MSE gap",
        axis: "k",
        relative: false,
        primary: true,
    };
    let effects = assess(
        tied_against_untied(rows, small, &sizes, gap, false),
        measure,
    );
    let a = answer(&effects, Outcome::Lower);
    let lead = match a {
        Answer::Yes => " Tied's gap is smaller at every latent size.",
        Answer::No => " Tied's gap is larger at every latent size.",
        Answer::Equivalent | Answer::Unclear => "",
    };
    let at_k = ks
        .iter()
        .map(|k| k.to_string())
        .collect::<Vec<_>>()
        .join(", ");
    let training = match protocol {
        Some(p) => {
            let validate = p.validation_rows(small as usize);
            format!(
                "{small} training rows ({} fit, {validate} validate)",
                small as usize - validate
            )
        }
        None => format!("{small} training rows (the validation rows are carved from these)"),
    };
    Some(Verdict {
        question: "Does tying overfit less at small n?",
        answer: a,
        effect: per_size(&effects, |e| e.primary),
        detail: format!(
            "Tied minus untied test-minus-train MSE gap (in the data's units), paired by seed, with {training}, at latent size k = {at_k}; Holm across the latent sizes.{lead}{}{}",
            unclear_reason(a, &effects),
            sign_flip_text(&effects)
        ),
        summary: sentence(&format!(
            "with {training}: {}",
            glance(&effects, "tied's gap larger", "tied's gap smaller")
        )),
        section: "overfitting",
        effects,
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
    let sizes: Vec<(i64, i64)> = ks.iter().map(|&k| (k, k)).collect();
    let epochs = Measure {
        name: "epochs to the best validation loss",
        axis: "k",
        relative: false,
        primary: true,
    };
    let mut effects = assess(
        tied_against_untied(rows, n, &sizes, |r| Some(r.best_epoch as f64), false),
        epochs,
    );
    // The equal-epochs view reads the first epochs of every run, so it does
    // not depend on convergence.
    let budget_view = Measure {
        name: "best validation MSE within the equal-epochs budget",
        axis: "k",
        relative: true,
        primary: false,
    };
    let budget: Vec<Comparison> =
        tied_against_untied(rows, n, &sizes, |r| r.val_mse_at_budget, true)
            .into_iter()
            .map(|c| Comparison { unsettled: 0, ..c })
            .collect();
    effects.extend(assess(budget, budget_view));
    let a = answer(&effects, Outcome::Higher);
    let lead = match a {
        Answer::Yes => " Tied needs more epochs at every latent size.",
        Answer::No => " Tied needs fewer epochs at every latent size.",
        Answer::Equivalent | Answer::Unclear => "",
    };
    let equal = if effects.iter().any(|e| !e.primary) {
        format!(
            " Equal-epochs view (best validation MSE within the protocol's short budget, tied against untied as a paired log-ratio; Holm across sizes): {}.",
            per_size(&effects, |e| !e.primary)
        )
    } else {
        String::new()
    };
    Some(Verdict {
        question: "Does tying need more epochs?",
        answer: a,
        effect: per_size(&effects, |e| e.primary),
        detail: format!(
            "Tied minus untied epochs to the best validation loss (the epoch early stopping kept), paired by seed, at {n} training rows; Holm across the latent sizes.{lead}{}{equal}{}",
            unclear_reason(a, &effects),
            sign_flip_text(&effects)
        ),
        summary: sentence(&glance(
            &effects,
            "tied needs more epochs",
            "tied needs fewer epochs",
        )),
        section: "training-curves",
        effects,
    })
}

/// Linear tied against PCA: Eckart–Young and Baldi–Hornik.
fn recovers_pca(rows: &[Row]) -> Option<Verdict> {
    let tied: Vec<&Row> = rows
        .iter()
        .filter(|r| r.model == ModelKind::LinearTied)
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
    let angle = largest_mean_angles(&tied);
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
        Answer::No | Answer::Equivalent => format!(
            "{} of {} linear tied cells converged more than {}% above PCA's test MSE.",
            off.len(),
            tied.len(),
            100.0 * PCA_TOLERANCE
        ),
    };
    let worst = format_or_missing(worst);
    Some(Verdict {
        question: "Does linear tied recover PCA (Eckart–Young, Baldi–Hornik)?",
        answer: a,
        effect: format!(
            "worst cell {worst}x PCA's test MSE; largest principal angle to PCA's subspace {}° (mean over seeds, largest over k)",
            angle
                .map(|a| mean_text(&a))
                .unwrap_or_else(|| MISSING.into())
        ),
        detail: format!(
            "{why} The worst cell reached {worst}x PCA's test MSE: each cell is a deterministic full-batch fit and the claim is about every one of them, so the worst cell is reported, not an interval."
        ),
        summary: why,
        section: "principal-angles",
        effects: Vec::new(),
    })
}

/// The verdict on a study's results: the questions the rows can answer,
/// in the notes' order (a question whose models were not run is left out).
pub fn verdict(rows: &[Row]) -> Vec<Verdict> {
    verdict_with(rows, None)
}

/// [`verdict`], told the `protocol` the rows were trained under, so that
/// the overfitting question can say how many of its training rows fit and
/// how many validate (a results frame does not record it).
pub fn verdict_with(rows: &[Row], protocol: Option<&Protocol>) -> Vec<Verdict> {
    let tuned = select_tuned(rows);
    [
        cost_at_equal_latent(&tuned),
        win_at_equal_weights(&tuned),
        beyond_width(&tuned),
        overfits_less(&tuned, protocol),
        needs_more_epochs(&tuned),
        recovers_pca(&tuned),
    ]
    .into_iter()
    .flatten()
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_keep_the_precision_their_interval_supports() {
        assert_eq!(rounded(-6.4, 15.2), "-6");
        assert_eq!(rounded(-21.0, 15.2), "-21");
        assert_eq!(rounded(9.4, 15.2), "+9");
        assert_eq!(rounded(-0.54, 0.67), "-0.54");
        assert_eq!(rounded(0.13, 0.67), "+0.13");
        assert_eq!(rounded(1534.0, 153.0), "+1530");
        assert_eq!(rounded(-0.001, 0.5), "0.00");
        assert_eq!(rounded(0.0, 0.5), "0");
        assert_eq!(rounded(3.0e-11, 1.5e-11), "+3.0e-11");
        // No spread: the number's own digits.
        assert_eq!(rounded(0.05, 0.0), signed(0.05));
        assert_eq!(p_text(0.0625), "0.062");
        assert_eq!(p_text(0.31), "0.31");
        assert_eq!(p_text(1.0), "1.0");
        assert_eq!(p_text(1e-5), "< 0.001");
    }

    #[test]
    fn intervals_round_to_the_half_width() {
        let i = Interval {
            n: 5,
            estimate: -0.064,
            lo: -0.21,
            hi: 0.094,
            level: 0.95,
        };
        assert_eq!(
            interval_text(&i, 100.0, "%"),
            "-6% (95% CI -21% to +9%, 5 seeds)"
        );
    }

    /// Levels (ratios to PCA, gaps, angles) round as effects do, without a
    /// `+`; a mean over seeds stated without its interval rounds by it.
    #[test]
    fn levels_and_means_round_to_their_interval() {
        assert_eq!(rounded_level(1.0661, 0.0677), "1.066");
        assert_eq!(rounded_level(0.99866, 0.0677), "0.999");
        assert_eq!(rounded_level(0.0011901, 0.000715), "0.00119");
        assert_eq!(rounded_level(-0.00191, 0.00053), "-0.00191");
        assert_eq!(rounded_level(-0.0004, 0.05), "0.000");
        // No spread: four significant digits.
        assert_eq!(rounded_level(0.05, 0.0), "0.05000");
        // Mean 0.00678, 95% half width 0.00061: five decimals.
        assert_eq!(
            mean_text(&[0.0060, 0.0072, 0.0066, 0.0071, 0.0070]),
            "0.00678"
        );
        assert_eq!(mean_text(&[0.006772]), "0.006772");
    }

    /// PCA's own change beside an effect is rounded by its own interval,
    /// not by the effect's: the page's rows at tied k = 32 and k = 2.
    #[test]
    fn a_reference_keeps_the_precision_of_its_own_interval() {
        let interval = |estimate: f64, lo: f64, hi: f64| Interval {
            n: 5,
            estimate,
            lo,
            hi,
            level: LEVEL,
        };
        let with = |effect: Interval, reference: Interval| SizeEffect {
            measure: "test MSE",
            primary: true,
            axis: "tied k",
            at: 32,
            setting: String::new(),
            percent: true,
            effect,
            band: Some((-1.96, 2.0)),
            seeds: vec![0, 1, 2, 3, 4],
            differences: vec![0.0; 5],
            dead_units: vec![(0, 0); 5],
            p_value: 1e-4,
            holm_p: 1e-4,
            sign_flip_p: 0.0625,
            zero_spread: false,
            unsettled: 0,
            reference: Some(reference),
            outcome: Outcome::Lower,
        };
        let wide = with(
            interval(-77.4, -80.2, -74.2),
            interval(-76.574, -77.113, -76.024),
        );
        let narrow = with(
            interval(-16.39, -16.87, -15.91),
            interval(-15.682, -16.361, -14.999),
        );
        assert_eq!(effect_short(&wide), "-77.4% (-80.2 to -74.2), PCA -76.57%");
        assert_eq!(
            effect_short(&narrow),
            "-16.39% (-16.87 to -15.91), PCA -15.68%"
        );
        let text = per_size(std::slice::from_ref(&wide), |_| true);
        assert!(text.contains("beside PCA's own -76.57%"), "{text}");
        assert_eq!(
            reference_range(&[wide, narrow]),
            " PCA alone changes by -76.57% to -15.68% from k/2 to k."
        );
    }

    /// The margin in the words is the margin in the rule.
    #[test]
    fn stated_margin_matches_the_constant() {
        let m = margin_text();
        assert_eq!(m, "±2%");
        assert!(Answer::Equivalent.word().contains(&m));
        assert!(RULES.contains(&m));
    }

    #[test]
    fn setting_labels_name_only_the_axes_that_vary() {
        let s = |activation: &str, l2: f64| Setting {
            dataset: "d".into(),
            activation: activation.into(),
            bias_mode: "separate".into(),
            l2: l2.to_bits(),
            sparsity_weight: 0.0_f64.to_bits(),
        };
        assert_eq!(
            setting_labels(&[s("relu", 0.0), s("sigmoid", 0.0)]),
            ["relu", "sigmoid"]
        );
        assert_eq!(
            setting_labels(&[s("relu", 0.0), s("relu", 1e-4)]),
            ["l2 0", "l2 1e-4"]
        );
        assert_eq!(setting_labels(&[s("relu", 0.0), s("relu", 0.0)]), ["", ""]);
    }
}
