//! Range checks on hyperparameters, each returning `Ok(())` or an
//! [`Error::Config`] that names the field.
//!
//! A config's `validate()` is a list of these calls (linfa's `ParamGuard`
//! idea): one function per rule, so each rule is written once and reads
//! the same in every message, whichever layer checks it. It is a leaf:
//! only [`crate::error`]. A NaN passes none of the checks.

use crate::error::{Error, Result};

const POSITIVE: &str = "must be finite and > 0";
const NON_NEGATIVE: &str = "must be finite and >= 0";
const FRACTION: &str = "must lie in [0, 1]";
const FRACTION_BELOW_ONE: &str = "must lie in [0, 1)";

/// `Ok` when `ok`; otherwise the [`Error::Config`] for `field` saying
/// `rule` of `v`, prefixed by `param` when the value is one part of the
/// field.
fn require(field: &'static str, param: Option<&str>, ok: bool, rule: &str, v: f64) -> Result<()> {
    if ok {
        return Ok(());
    }
    let reason = match param {
        Some(p) => format!("{p} {rule}, got {v}"),
        None => format!("{rule}, got {v}"),
    };
    Err(Error::config(field, reason))
}

fn is_positive(v: f64) -> bool {
    v.is_finite() && v > 0.0
}

fn is_fraction(v: f64) -> bool {
    v.is_finite() && (0.0..=1.0).contains(&v)
}

/// `v` finite and `> 0` (rates, scales, epsilons).
///
/// # Errors
/// [`Error::Config`] for `field`: "must be finite and > 0, got `v`".
pub fn positive(field: &'static str, v: f64) -> Result<()> {
    require(field, None, is_positive(v), POSITIVE, v)
}

/// [`positive`] for a value that is one part of `field` (the `alpha` of
/// an activation): the reason starts with `param`.
///
/// # Errors
/// [`Error::Config`] for `field`: "`param` must be finite and > 0, got `v`".
pub fn positive_param(field: &'static str, param: &str, v: f64) -> Result<()> {
    require(field, Some(param), is_positive(v), POSITIVE, v)
}

/// `v` finite and `>= 0` (penalty weights, tolerances, noise levels).
///
/// # Errors
/// [`Error::Config`] for `field`: "must be finite and >= 0, got `v`".
pub fn non_negative(field: &'static str, v: f64) -> Result<()> {
    require(field, None, v.is_finite() && v >= 0.0, NON_NEGATIVE, v)
}

/// `v` in `[0, 1]` (a fraction that may be all or nothing).
///
/// # Errors
/// [`Error::Config`] for `field`: "must lie in [0, 1], got `v`".
pub fn fraction(field: &'static str, v: f64) -> Result<()> {
    require(field, None, is_fraction(v), FRACTION, v)
}

/// [`fraction`] for a value that is one part of `field`: the reason
/// starts with `param`.
///
/// # Errors
/// [`Error::Config`] for `field`: "`param` must lie in [0, 1], got `v`".
pub fn fraction_param(field: &'static str, param: &str, v: f64) -> Result<()> {
    require(field, Some(param), is_fraction(v), FRACTION, v)
}

/// `v` in `[0, 1)` (a share held out, a momentum: 1 would leave nothing
/// or never forget).
///
/// # Errors
/// [`Error::Config`] for `field`: "must lie in [0, 1), got `v`".
pub fn fraction_below_one(field: &'static str, v: f64) -> Result<()> {
    let ok = v.is_finite() && (0.0..1.0).contains(&v);
    require(field, None, ok, FRACTION_BELOW_ONE, v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reason(r: Result<()>) -> String {
        match r {
            Err(Error::Config { field, reason }) => format!("{field}: {reason}"),
            other => panic!("expected a config error, got {other:?}"),
        }
    }

    #[test]
    fn each_rule_accepts_its_range_and_names_the_field() {
        assert!(positive("lr", 1e-300).is_ok());
        for bad in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            assert!(positive("lr", bad).is_err(), "{bad}");
        }
        assert_eq!(
            reason(positive("lr", 0.0)),
            "lr: must be finite and > 0, got 0"
        );
        assert_eq!(
            reason(positive_param("activation", "elu alpha", -1.0)),
            "activation: elu alpha must be finite and > 0, got -1"
        );
        assert!(non_negative("l2", 0.0).is_ok());
        assert_eq!(
            reason(non_negative("l2", f64::NAN)),
            "l2: must be finite and >= 0, got NaN"
        );
        assert!(fraction("p", 0.0).is_ok() && fraction("p", 1.0).is_ok());
        assert_eq!(
            reason(fraction_param("activation", "leaky_relu alpha", 1.5)),
            "activation: leaky_relu alpha must lie in [0, 1], got 1.5"
        );
        assert!(fraction_below_one("v", 0.0).is_ok());
        assert_eq!(
            reason(fraction_below_one("v", 1.0)),
            "v: must lie in [0, 1), got 1"
        );
        assert!(fraction_below_one("v", -0.0).is_ok());
        assert!(fraction("p", f64::NAN).is_err() && fraction_below_one("v", f64::NAN).is_err());
    }
}
