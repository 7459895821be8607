//! The claims table the theory and Refinetti–Goldt studies share (so
//! `--study theory` stacks theirs into one table), and its findings; the
//! theory, Refinetti–Goldt and denoising studies compute theirs in this
//! table from their frames (grids of cells).
//!
//! Frame, one row per claim: `paper`, `claim`, `formula` (str),
//! `measured`, `tolerance` (f64) and `pass` (bool, `measured <
//! tolerance`).

use crate::error::Result;
use crate::number::format_or_missing;
use polars::prelude::*;

/// One claim and its measurement: a row of the claims table.
pub(crate) struct Claim {
    pub(crate) paper: &'static str,
    pub(crate) claim: String,
    pub(crate) formula: String,
    pub(crate) measured: f64,
    pub(crate) tolerance: f64,
}

/// The claims table (columns in the module docs); a NaN measurement is a
/// missing value that fails.
pub(crate) fn claims_frame(claims: &[Claim]) -> Result<DataFrame> {
    let strs = |f: &dyn Fn(&Claim) -> String| -> Vec<String> { claims.iter().map(f).collect() };
    // A claim that could not be measured (NaN: e.g. no variant learned
    // every direction) is a missing value, never a number on the page.
    let measured: Vec<Option<f64>> = claims
        .iter()
        .map(|c| Some(c.measured).filter(|v| !v.is_nan()))
        .collect();
    let tolerance: Vec<f64> = claims.iter().map(|c| c.tolerance).collect();
    // A NaN measurement fails (the comparison is false), never passes.
    let pass: Vec<bool> = claims.iter().map(|c| c.measured < c.tolerance).collect();
    Ok(DataFrame::new(
        claims.len(),
        vec![
            Column::new("paper".into(), strs(&|c| c.paper.to_string())),
            Column::new("claim".into(), strs(&|c| c.claim.clone())),
            Column::new("formula".into(), strs(&|c| c.formula.clone())),
            Column::new("measured".into(), measured),
            Column::new("tolerance".into(), tolerance),
            Column::new("pass".into(), pass),
        ],
    )?)
}

/// One sentence per claim: the paper, the claim, the measured value
/// against its tolerance, and the verdict.
pub fn summary(df: &DataFrame) -> Result<Vec<String>> {
    let text = |name: &str| -> Result<Vec<String>> {
        Ok(df
            .column(name)
            .map_err(|_| super::missing(name))?
            .str()?
            .iter()
            .map(|v| v.unwrap_or("").to_string())
            .collect())
    };
    let num = |name: &str| -> Result<Vec<f64>> {
        Ok(df
            .column(name)
            .map_err(|_| super::missing(name))?
            .f64()?
            .iter()
            .map(|v| v.unwrap_or(f64::NAN))
            .collect())
    };
    let pass: Vec<bool> = df
        .column("pass")
        .map_err(|_| super::missing("pass"))?
        .bool()?
        .iter()
        .map(|v| v.unwrap_or(false))
        .collect();
    let (paper, claim, measured, tol) = (
        text("paper")?,
        text("claim")?,
        num("measured")?,
        num("tolerance")?,
    );
    if paper.is_empty() {
        return Err(super::missing("claims"));
    }
    Ok((0..paper.len())
        .map(|i| {
            format!(
                "{}: {}: {} against a tolerance of {}: {}.",
                paper[i],
                claim[i],
                if measured[i].is_nan() {
                    "not measured".to_string()
                } else {
                    format!("measured {}", format_or_missing(measured[i]))
                },
                format_or_missing(tol[i]),
                if pass[i] { "pass" } else { "fail" }
            )
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A claim that could not be measured is a missing value that fails,
    /// and its finding says so instead of printing a NaN.
    #[test]
    fn an_unmeasured_claim_is_missing_and_fails() {
        let claim = |measured| Claim {
            paper: "P",
            claim: "c".into(),
            formula: "f".into(),
            measured,
            tolerance: 0.5,
        };
        let df = claims_frame(&[claim(0.25), claim(f64::NAN)]).unwrap();
        let measured = df.column("measured").unwrap().f64().unwrap();
        assert_eq!(measured.get(0), Some(0.25));
        assert_eq!(measured.get(1), None);
        let pass: Vec<Option<bool>> = df.column("pass").unwrap().bool().unwrap().iter().collect();
        assert_eq!(pass, [Some(true), Some(false)]);
        let lines = summary(&df).unwrap();
        assert!(
            lines[0].contains("measured 0.25") && lines[0].ends_with("pass."),
            "{}",
            lines[0]
        );
        assert!(
            lines[1].contains("not measured") && lines[1].ends_with("fail."),
            "{}",
            lines[1]
        );
    }
}
