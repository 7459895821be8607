//! What a report is made of: a plain struct the study step fills in.
//!
//! Nothing here computes anything. Charts arrive already drawn ([`Svg`]),
//! tables already formatted ([`Table`]) and findings already written, so the
//! page shows exactly what the study measured.

use crate::error::{Error, Result};
use crate::provenance::Provenance;
use crate::report::charts::Svg;
use crate::report::table::Table;
use polars::prelude::DataFrame;
use std::collections::HashSet;

/// Everything one report page shows.
#[derive(Debug, Clone)]
pub struct ReportInput {
    /// The card at the top of the page: what data the study ran on.
    pub dataset: DatasetCard,
    /// The page body, in order. Data without images simply leaves out the
    /// image-grid sections.
    pub sections: Vec<Section>,
    /// Conclusions stated from the data, one sentence each, shown near the
    /// top of the page (the study's summary functions write these).
    pub findings: Vec<String>,
    /// The study's results, one row per cell. Shown as the last table and
    /// saved beside the page as `results.parquet` and `results.csv`.
    pub results: DataFrame,
    /// The run that made them: stated in the footer and `report.json`,
    /// and stored in `results.parquet`'s metadata.
    pub provenance: Option<Provenance>,
}

/// Describes the dataset a report is about.
#[derive(Debug, Clone, Default)]
pub struct DatasetCard {
    /// Display name (`digits`, `mnist10k`, a file stem). Also names the
    /// report's directory, via [`report_dir_name`].
    pub name: String,
    /// Number of samples (rows) used.
    pub n_samples: usize,
    /// Number of features (columns) per sample.
    pub n_features: usize,
    /// Where the data comes from and under which licence, in one line.
    pub source: String,
    /// Further name/value lines for the card, e.g. ("preprocessing",
    /// "scaled to [0, 1]") or ("train / test", "1437 / 360").
    pub facts: Vec<(String, String)>,
    /// Height and width when each sample is an image; their product must
    /// equal `n_features`.
    pub image_shape: Option<(usize, usize)>,
    /// A grid of sample images (see
    /// [`image_grid`](crate::report::charts::image_grid)); saved as
    /// `dataset.svg`.
    pub samples: Option<Svg>,
}

/// One titled part of the page: a chart, a table, or both, with a caption
/// that tells the reader what to look at.
#[derive(Debug, Clone)]
pub struct Section {
    /// Anchor and file name: lowercase ASCII letters, digits and `-`,
    /// starting with a letter, unique within the report. The page has
    /// `<section id="{id}">`, its chart is `<figure id="chart-{id}">` and
    /// `{id}.svg`, its table `<table id="table-{id}">`.
    pub id: String,
    /// Heading.
    pub title: String,
    /// What to look at, e.g. "Tied and PCA curves coincide: a linear tied
    /// autoencoder reaches the Eckart–Young bound."
    pub caption: String,
    /// The chart, if any.
    pub chart: Option<Svg>,
    /// A table shown under the chart, if any.
    pub table: Option<Table>,
    /// Answers shown one after another under the caption (the verdict's
    /// questions), each a chart beside a short sentence; empty for an
    /// ordinary section.
    pub panels: Vec<Panel>,
}

/// One answer of a section made of answers: a heading and its answer, a
/// chart beside one short sentence, and the longer account folded under
/// them, so the page reads at a glance and still holds every number.
#[derive(Debug, Clone)]
pub struct Panel {
    /// The question, e.g. "Does tying cost reconstruction at equal latent
    /// size?".
    pub title: String,
    /// Its answer in a word or a few, e.g. `yes` or `unclear`.
    pub answer: String,
    /// The evidence drawn (a forest plot), if any.
    pub chart: Option<Svg>,
    /// The answer at a glance, one short sentence.
    pub sentence: String,
    /// The full account: what was compared, every interval, every p-value.
    pub detail: String,
    /// The id of the section the answer rests on, which the title links
    /// to.
    pub link: Option<String>,
}

impl Section {
    /// A section showing `chart`.
    pub fn with_chart(
        id: impl Into<String>,
        title: impl Into<String>,
        caption: impl Into<String>,
        chart: Svg,
    ) -> Section {
        Section {
            id: id.into(),
            title: title.into(),
            caption: caption.into(),
            chart: Some(chart),
            table: None,
            panels: Vec::new(),
        }
    }

    /// A section showing `table`.
    pub fn with_table(
        id: impl Into<String>,
        title: impl Into<String>,
        caption: impl Into<String>,
        table: Table,
    ) -> Section {
        Section {
            id: id.into(),
            title: title.into(),
            caption: caption.into(),
            chart: None,
            table: Some(table),
            panels: Vec::new(),
        }
    }

    /// A section showing `panels` under its caption.
    pub fn with_panels(
        id: impl Into<String>,
        title: impl Into<String>,
        caption: impl Into<String>,
        panels: Vec<Panel>,
    ) -> Section {
        Section {
            id: id.into(),
            title: title.into(),
            caption: caption.into(),
            chart: None,
            table: None,
            panels,
        }
    }
}

/// Section ids the page uses for its own parts.
pub(crate) const RESERVED_IDS: [&str; 4] = ["dataset", "findings", "results", "index"];

/// The directory name of a dataset's report: the name in lowercase ASCII
/// letters and digits, every other run of characters replaced by one `-`
/// (`"My data.csv"` → `my-data-csv`). Names that differ only in punctuation
/// or case share a directory.
///
/// # Errors
/// [`Error::InvalidData`] if no letter or digit remains.
pub fn report_dir_name(name: &str) -> Result<String> {
    let mut slug = String::with_capacity(name.len());
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            slug.push(c.to_ascii_lowercase());
        } else if !slug.ends_with('-') {
            slug.push('-');
        }
    }
    let slug = slug.trim_matches('-').to_string();
    if slug.is_empty() {
        return Err(Error::InvalidData(format!(
            "dataset name {name:?} has no ASCII letter or digit to name its report directory"
        )));
    }
    Ok(slug)
}

impl ReportInput {
    /// Checks everything a page needs before anything is rendered or
    /// written, so a bad input costs no disk writes.
    ///
    /// # Errors
    /// [`Error::InvalidData`] for blank texts, a zero-sized dataset, a bad,
    /// duplicate or reserved section id, a section with no chart, table or
    /// panel, a panel with a blank title, answer or sentence, or
    /// an empty results frame; [`Error::Shape`] for an image shape
    /// that does not match the feature count.
    pub fn validate(&self) -> Result<()> {
        let card = &self.dataset;
        require("dataset name", &card.name)?;
        report_dir_name(&card.name)?;
        require("dataset source", &card.source)?;
        if card.n_samples == 0 || card.n_features == 0 {
            return Err(Error::InvalidData(format!(
                "dataset {:?} has shape {} x {}; a report needs samples and features",
                card.name, card.n_samples, card.n_features
            )));
        }
        if let Some((h, w)) = card.image_shape
            && h.checked_mul(w) != Some(card.n_features)
        {
            return Err(Error::Shape(format!(
                "image shape {h}x{w} does not hold the {} features of dataset {:?}",
                card.n_features, card.name
            )));
        }
        for (name, value) in &card.facts {
            require("dataset fact name", name)?;
            require("dataset fact value", value)?;
        }
        let mut seen = HashSet::new();
        for section in &self.sections {
            check_id(&section.id)?;
            if !seen.insert(section.id.as_str()) {
                return Err(Error::InvalidData(format!(
                    "two sections share the id {:?}",
                    section.id
                )));
            }
            require("section title", &section.title)?;
            require("section caption", &section.caption)?;
            if section.chart.is_none() && section.table.is_none() && section.panels.is_empty() {
                return Err(Error::InvalidData(format!(
                    "section {:?} has neither a chart nor a table nor panels",
                    section.id
                )));
            }
            for panel in &section.panels {
                require("panel title", &panel.title)?;
                require("panel answer", &panel.answer)?;
                require("panel sentence", &panel.sentence)?;
            }
        }
        for finding in &self.findings {
            require("finding", finding)?;
        }
        if self.results.height() == 0 || self.results.width() == 0 {
            return Err(Error::InvalidData(format!(
                "the results frame is empty ({} rows x {} columns)",
                self.results.height(),
                self.results.width()
            )));
        }
        Ok(())
    }
}

fn require(what: &str, value: &str) -> Result<()> {
    if value.trim().is_empty() {
        return Err(Error::InvalidData(format!("{what} is empty")));
    }
    Ok(())
}

fn check_id(id: &str) -> Result<()> {
    let well_formed = id.starts_with(|c: char| c.is_ascii_lowercase())
        && id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if !well_formed {
        return Err(Error::InvalidData(format!(
            "section id {id:?} must be lowercase ASCII letters, digits and '-', starting with a letter"
        )));
    }
    if RESERVED_IDS.contains(&id) {
        return Err(Error::InvalidData(format!(
            "section id {id:?} is used by the page itself; choose another"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directory_names_are_slugs() {
        assert_eq!(report_dir_name("digits").unwrap(), "digits");
        assert_eq!(report_dir_name("My data.csv").unwrap(), "my-data-csv");
        assert_eq!(
            report_dir_name("<script>alert(1)</script>").unwrap(),
            "script-alert-1-script"
        );
        assert!(report_dir_name("//..//").is_err());
        assert!(report_dir_name("").is_err());
    }

    #[test]
    fn section_ids_are_checked() {
        assert!(check_id("mse-vs-latent").is_ok());
        for bad in ["", "MSE", "1st", "a b", "../x", "a/b", "results", "dataset"] {
            assert!(check_id(bad).is_err(), "{bad:?} accepted");
        }
    }
}
