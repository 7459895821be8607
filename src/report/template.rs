//! The HTML pages, rendered with tera from templates compiled into the
//! binary (so a report can be written from anywhere, with no template files
//! beside it).
//!
//! Autoescaping is on for every `.html` template: any text that reaches a
//! page (dataset names, captions, findings, table cells) is escaped. Only
//! [`Svg`](crate::report::charts::Svg) charts are inserted as they are; they
//! can only be made by the chart functions, which escape their labels.

use crate::error::{Error, Result};
use crate::provenance::Provenance;
use crate::report::input::{Panel, ReportInput, Section};
use crate::report::number::format_number;
use crate::report::sections::VERDICT_ID;
use crate::report::table::{ShownRow, Table};
use crate::study::frame_to_rows;
use polars::prelude::DataFrame;
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use tera::{Context, Tera};

const STYLE: &str = include_str!("templates/style.css");
const MACROS: &str = include_str!("templates/macros.html");
const REPORT: &str = include_str!("templates/report.html");
const INDEX: &str = include_str!("templates/index.html");

/// File name of the sample-image grid inside a report directory.
pub(crate) const SAMPLES_FILE: &str = "dataset.svg";

/// File name of a section's chart inside a report directory.
pub(crate) fn chart_file(section: &Section) -> String {
    format!("{}.svg", section.id)
}

/// File name of a section's `index`-th panel chart (from 1, as the page's
/// `chart-<section>-<index>` figure ids count).
pub(crate) fn panel_chart_file(section: &Section, index: usize) -> String {
    format!("{}-{index}.svg", section.id)
}

fn engine() -> Result<Tera> {
    let mut tera = Tera::default();
    tera.autoescape_on(vec![".html"]);
    tera.add_raw_templates(vec![
        ("style.css", STYLE),
        ("macros.html", MACROS),
        ("report.html", REPORT),
        ("index.html", INDEX),
    ])
    .map_err(template_error)?;
    Ok(tera)
}

/// Tera errors keep the useful part in their source chain.
fn template_error(e: tera::Error) -> Error {
    let mut message = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        message.push_str(": ");
        message.push_str(&s.to_string());
        source = s.source();
    }
    Error::Render(message)
}

#[derive(Serialize)]
struct HeaderView<'a> {
    name: &'a str,
    numeric: bool,
}

#[derive(Serialize)]
struct CellView<'a> {
    text: &'a str,
    numeric: bool,
    link: Option<&'a str>,
}

/// A table line: its cells, or (for the "…" line of a long table) none
/// and the count of rows left out.
#[derive(Serialize)]
struct RowView<'a> {
    cells: Vec<CellView<'a>>,
    hidden: usize,
}

#[derive(Serialize)]
struct TableView<'a> {
    header: Vec<HeaderView<'a>>,
    rows: Vec<RowView<'a>>,
    /// Rows the page leaves out (see [`Table::shown_rows`]).
    hidden: usize,
}

impl<'a> TableView<'a> {
    fn new(table: &'a Table) -> TableView<'a> {
        let cells = |r: usize| {
            table.rows()[r]
                .iter()
                .enumerate()
                .map(|(c, text)| CellView {
                    text,
                    numeric: table.is_numeric(c),
                    link: table.link(r, c),
                })
                .collect()
        };
        let rows: Vec<RowView<'a>> = table
            .shown_rows()
            .into_iter()
            .map(|shown| match shown {
                ShownRow::Row(r) => RowView {
                    cells: cells(r),
                    hidden: 0,
                },
                ShownRow::Gap(hidden) => RowView {
                    cells: Vec::new(),
                    hidden,
                },
            })
            .collect();
        TableView {
            header: table
                .header()
                .iter()
                .enumerate()
                .map(|(c, name)| HeaderView {
                    name,
                    numeric: table.is_numeric(c),
                })
                .collect(),
            hidden: rows.iter().map(|r| r.hidden).sum(),
            rows,
        }
    }
}

#[derive(Serialize)]
struct FactView<'a> {
    name: &'a str,
    value: &'a str,
}

#[derive(Serialize)]
struct CardView<'a> {
    name: &'a str,
    n_samples: usize,
    n_features: usize,
    source: &'a str,
    image_shape: Option<String>,
    facts: Vec<FactView<'a>>,
    samples_svg: Option<&'a str>,
    samples_file: &'static str,
}

#[derive(Serialize)]
struct SectionView<'a> {
    id: &'a str,
    title: &'a str,
    caption: &'a str,
    svg: Option<&'a str>,
    svg_file: String,
    table: Option<TableView<'a>>,
    panels: Vec<PanelView<'a>>,
}

/// One answer of a section of answers (see [`Panel`]).
#[derive(Serialize)]
struct PanelView<'a> {
    title: &'a str,
    answer: &'a str,
    svg: Option<&'a str>,
    sentence: &'a str,
    detail: &'a str,
    link: Option<&'a str>,
}

impl<'a> PanelView<'a> {
    fn new(p: &'a Panel) -> PanelView<'a> {
        PanelView {
            title: &p.title,
            answer: &p.answer,
            svg: p.chart.as_ref().map(|c| c.as_str()),
            sentence: &p.sentence,
            detail: &p.detail,
            link: p.link.as_deref(),
        }
    }
}

/// Renders the report page of `input` whose full results table is
/// `results` (built by the caller, so a NaN in the frame is reported before
/// any rendering work).
pub(crate) fn render_report<'a>(input: &'a ReportInput, results: &'a Table) -> Result<String> {
    let card = &input.dataset;
    let dataset = CardView {
        name: &card.name,
        n_samples: card.n_samples,
        n_features: card.n_features,
        source: &card.source,
        image_shape: card.image_shape.map(|(h, w)| format!("{h} × {w}")),
        facts: card
            .facts
            .iter()
            .map(|(name, value)| FactView { name, value })
            .collect(),
        samples_svg: card.samples.as_ref().map(|s| s.as_str()),
        samples_file: SAMPLES_FILE,
    };
    // The verdict answers the page's question, so it comes first, above
    // the dataset card; every other section keeps its order.
    let (top, body): (Vec<&Section>, Vec<&Section>) =
        input.sections.iter().partition(|s| s.id == VERDICT_ID);
    let view = |list: Vec<&'a Section>| -> Vec<SectionView<'a>> {
        list.into_iter()
            .map(|s| SectionView {
                id: &s.id,
                title: &s.title,
                caption: &s.caption,
                svg: s.chart.as_ref().map(|c| c.as_str()),
                svg_file: chart_file(s),
                table: s.table.as_ref().map(TableView::new),
                panels: s.panels.iter().map(PanelView::new).collect(),
            })
            .collect()
    };
    let (top, sections) = (view(top), view(body));
    let mut context = Context::new();
    context.insert("top_sections", &top);
    context.insert("dataset", &dataset);
    context.insert("sections", &sections);
    context.insert("findings", &input.findings);
    context.insert("results", &TableView::new(results));
    context.insert("results_rows", &results.rows().len());
    context.insert("results_cells", &distinct_cells(&input.results));
    context.insert("version", env!("CARGO_PKG_VERSION"));
    context.insert(
        "provenance",
        &input.provenance.as_ref().map(ProvenanceView::of),
    );
    engine()?
        .render("report.html", &context)
        .map_err(template_error)
}

/// How many distinct cells a results frame holds: rows that agree on every
/// key column ([`crate::study::KEY_COLUMNS`], the learning rate among them)
/// are one cell, measured once and listed once per part of a study that
/// ran it. `None` for a table without the results columns (a claims
/// table), whose rows are not cells. The page counts them itself, so its
/// row count says what it counts whatever frame it was handed.
fn distinct_cells(frame: &DataFrame) -> Option<usize> {
    let rows = frame_to_rows(frame).ok()?;
    let keys: HashSet<_> = rows
        .into_iter()
        .map(|r| {
            (
                r.dataset,
                r.model,
                r.activation,
                r.bias_mode,
                r.latent,
                r.n_train,
                r.seed,
                r.l2.to_bits(),
                r.sparsity_weight.to_bits(),
                r.learning_rate.map(f64::to_bits),
            )
        })
        .collect();
    Some(keys.len())
}

/// The footer's account of the run (see [`Provenance`]).
#[derive(Serialize)]
struct ProvenanceView<'a> {
    command: String,
    git_revision: &'a str,
    rustc: &'a str,
    threads: usize,
    seeds: String,
    dataset_sha256: &'a str,
    studies: String,
}

impl<'a> ProvenanceView<'a> {
    fn of(p: &'a Provenance) -> ProvenanceView<'a> {
        ProvenanceView {
            command: p.command_line(),
            git_revision: &p.git_revision,
            rustc: &p.rustc,
            threads: p.threads,
            seeds: p.seeds_text(),
            dataset_sha256: &p.dataset_sha256,
            studies: p
                .studies
                .iter()
                .map(|t| {
                    format!(
                        "{} {} s",
                        t.study,
                        format_number(t.seconds).unwrap_or_else(|_| "?".into())
                    )
                })
                .collect::<Vec<_>>()
                .join(", "),
        }
    }
}

/// What the index page lists about one report; saved as `report.json` in
/// the report's directory so the index can be rebuilt from the directories
/// alone.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct ReportSummary {
    pub name: String,
    pub n_samples: usize,
    pub n_features: usize,
    pub source: String,
    pub sections: Vec<String>,
    /// The run that made the report (absent in older summaries).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provenance: Option<Provenance>,
}

impl ReportSummary {
    pub(crate) fn of(input: &ReportInput) -> ReportSummary {
        ReportSummary {
            name: input.dataset.name.clone(),
            n_samples: input.dataset.n_samples,
            n_features: input.dataset.n_features,
            source: input.dataset.source.clone(),
            sections: input.sections.iter().map(|s| s.title.clone()).collect(),
            provenance: input.provenance.clone(),
        }
    }
}

#[derive(Serialize)]
struct IndexEntry<'a> {
    href: String,
    name: &'a str,
    n_samples: Option<usize>,
    n_features: Option<usize>,
    source: &'a str,
    sections: String,
}

/// Renders the index page listing `reports`, each as (directory name,
/// summary), in the order given. A report without a readable summary is
/// listed by its directory name alone.
pub(crate) fn render_index(reports: &[(String, Option<ReportSummary>)]) -> Result<String> {
    let entries: Vec<IndexEntry<'_>> = reports
        .iter()
        .map(|(dir, summary)| match summary {
            Some(r) => IndexEntry {
                href: format!("{dir}/index.html"),
                name: &r.name,
                n_samples: Some(r.n_samples),
                n_features: Some(r.n_features),
                source: &r.source,
                sections: r.sections.join(", "),
            },
            None => IndexEntry {
                href: format!("{dir}/index.html"),
                name: dir,
                n_samples: None,
                n_features: None,
                source: "",
                sections: String::new(),
            },
        })
        .collect();
    let mut context = Context::new();
    context.insert("reports", &entries);
    context.insert("version", env!("CARGO_PKG_VERSION"));
    engine()?
        .render("index.html", &context)
        .map_err(template_error)
}
