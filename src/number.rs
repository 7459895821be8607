//! The one number formatter of every report.
//!
//! Tables, captions and chart ticks all format numbers here, so a reader sees
//! the same digits everywhere and a test can compare a table cell with the
//! DataFrame it came from by calling the same function.

use crate::error::{Error, Result};

/// Significant digits shown for floating-point values.
///
/// Four digits separate results that differ by 0.1% (well below seed noise
/// in reconstruction MSE) while keeping tables narrow.
pub const SIGNIFICANT_DIGITS: usize = 4;

/// What a table cell shows for a missing (null) value.
///
/// Deliberately not a number, so no reader or parser mistakes it for one.
pub const MISSING: &str = "—";

/// Formats a finite float with [`SIGNIFICANT_DIGITS`] significant digits.
///
/// Values whose decimal exponent lies in −3..=3 are written in fixed notation
/// (`0.009071`, `12.35`, `1235`); others in scientific notation (`9.071e-4`,
/// `1.235e4`), so no value is ever shown with invented trailing digits. Zero
/// is `0`. Trailing zeros are kept: `0.5000` says the value is known to four
/// digits.
///
/// # Errors
/// [`Error::InvalidData`] for NaN or ±∞: a report never prints those.
pub fn format_number(x: f64) -> Result<String> {
    if !x.is_finite() {
        return Err(Error::InvalidData(format!(
            "cannot show the non-finite number {x} in a report (use a null for a missing value)"
        )));
    }
    if x == 0.0 {
        return Ok("0".to_string());
    }
    // Round once in scientific notation: its exponent is the exponent *after*
    // rounding (9.9996 -> 1.000e1), which fixes the number of decimals below.
    let sci = format!("{:.*e}", SIGNIFICANT_DIGITS - 1, x);
    let (mantissa, exponent) = sci
        .split_once('e')
        .ok_or_else(|| Error::Render(format!("unexpected float format {sci:?}")))?;
    let exponent: i32 = exponent
        .parse()
        .map_err(|_| Error::Render(format!("unexpected float exponent in {sci:?}")))?;
    let top = SIGNIFICANT_DIGITS as i32 - 1;
    if (-3..=top).contains(&exponent) {
        let decimals = (top - exponent) as usize;
        Ok(format!("{x:.decimals$}"))
    } else {
        Ok(format!("{mantissa}e{exponent}"))
    }
}

/// [`format_number`] for text that must not fail (captions, sentences,
/// cards): a non-finite value shows as [`MISSING`], as a null does in a
/// table.
pub fn format_or_missing(x: f64) -> String {
    format_number(x).unwrap_or_else(|_| MISSING.to_string())
}

/// The range of `shares` (fractions) as percentages, `"51.15% to
/// 66.84%"`, or one percentage when they are all equal; `None` for no
/// shares. For statements such as a tied model's share of its untied
/// twin's parameters, which vary with the latent size.
pub fn percent_range(shares: &[f64]) -> Option<String> {
    let lo = shares.iter().copied().reduce(f64::min)?;
    let hi = shares.iter().copied().reduce(f64::max)?;
    Some(if lo == hi {
        format!("{}%", format_or_missing(100.0 * lo))
    } else {
        format!(
            "{}% to {}%",
            format_or_missing(100.0 * lo),
            format_or_missing(100.0 * hi)
        )
    })
}

/// Formats a chart tick label: [`format_number`] without trailing zeros
/// (`0.5`, not `0.5000`), because tick values are round by construction.
///
/// Non-finite ticks (which plotters never produces for validated input)
/// become an empty label rather than "NaN".
pub fn format_tick(x: f64) -> String {
    let Ok(s) = format_number(x) else {
        return String::new();
    };
    match s.split_once('e') {
        Some((mantissa, exponent)) => format!("{}e{exponent}", trim_zeros(mantissa)),
        None => trim_zeros(&s).to_string(),
    }
}

fn trim_zeros(s: &str) -> &str {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_notation_keeps_four_significant_digits() {
        assert_eq!(format_number(0.009071).unwrap(), "0.009071");
        assert_eq!(format_number(12.345678).unwrap(), "12.35");
        assert_eq!(format_number(1234.4).unwrap(), "1234");
        assert_eq!(format_number(0.5).unwrap(), "0.5000");
        assert_eq!(format_number(-2.0).unwrap(), "-2.000");
    }

    #[test]
    fn scientific_outside_the_fixed_range() {
        assert_eq!(format_number(0.00090712).unwrap(), "9.071e-4");
        assert_eq!(format_number(12346.0).unwrap(), "1.235e4");
        assert_eq!(format_number(-6.02e23).unwrap(), "-6.020e23");
    }

    #[test]
    fn rounding_that_carries_into_the_next_decade_keeps_four_digits() {
        assert_eq!(format_number(9.9996).unwrap(), "10.00");
        assert_eq!(format_number(999.96).unwrap(), "1000");
        assert_eq!(format_number(9999.6).unwrap(), "1.000e4");
        assert_eq!(format_number(0.00099996).unwrap(), "0.001000");
    }

    #[test]
    fn zero_is_plain_and_non_finite_is_an_error() {
        assert_eq!(format_number(0.0).unwrap(), "0");
        assert_eq!(format_number(-0.0).unwrap(), "0");
        for bad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
            assert!(matches!(format_number(bad), Err(Error::InvalidData(_))));
        }
    }

    #[test]
    fn formatted_values_parse_back_within_rounding() {
        for &x in &[
            1.0e-9, 3.3e-4, 0.012345, 0.5, 1.0, 7.77777, 123.456, 9876.5, 1.5e7,
        ] {
            let back: f64 = format_number(x).unwrap().parse().unwrap();
            assert!(((back - x) / x).abs() <= 5e-4, "{x} -> {back}");
        }
    }

    #[test]
    fn ticks_drop_trailing_zeros() {
        assert_eq!(format_tick(0.5), "0.5");
        assert_eq!(format_tick(100.0), "100");
        assert_eq!(format_tick(1.0e-5), "1e-5");
        assert_eq!(format_tick(2.5e6), "2.5e6");
        assert_eq!(format_tick(f64::NAN), "");
    }
}
