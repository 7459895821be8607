//! Rich display in evcxr Jupyter notebooks.
//!
//! evcxr shows a cell's final value by calling a method named
//! `evcxr_display(&self)` on it when one exists, and that method prints a
//! block to stdout:
//!
//! ```text
//! EVCXR_BEGIN_CONTENT text/html
//! <table>...</table>
//! EVCXR_END_CONTENT
//! ```
//!
//! This module gives the crate's presentable values that method: charts
//! ([`Svg`], as `image/svg+xml`), tables ([`Table`], and polars
//! [`DataFrame`]s through the [`FrameDisplay`] extension trait, since the type
//! is foreign), and summary cards for a [`Dataset`], a fitted [`FittedPca`],
//! an [`Autoencoder`] and a training run ([`TrainOutcome`]).
//! Every output carries a `text/plain` fallback beside its HTML or SVG, so
//! it survives nbconvert to text, GitHub's viewer and pagers. The outputs
//! are built by pure functions ([`table_html`] and [`table_text`],
//! [`frame_html`], [`chart_text`], and the cards [`dataset_card_html`],
//! [`pca_card`], [`autoencoder_card`], [`training_card`], which return both
//! forms as a [`Rich`]) so they can be tested without a notebook; only the
//! `evcxr_display` methods write to stdout.
//!
//! ```
//! use tiedae::display::{FrameDisplay, Rich};
//! use polars::prelude::*;
//! let frame = df!("model" => ["pca", "tied"], "mse" => [0.0123, 0.0125])?;
//! let rich: Rich = frame.to_rich();
//! assert_eq!(rich.mime(), "text/html");
//! assert!(rich.body().contains("<td class=\"num\">0.01230</td>"));
//! // In a notebook cell, ending with `frame.evcxr_display()` or just `frame`
//! // (with `FrameDisplay` in scope) shows the table.
//! # Ok::<(), tiedae::Error>(())
//! ```

use crate::data::Dataset;
use crate::linalg::FittedPca;
use crate::model::{Activation, Autoencoder};
use crate::real::Real;
use crate::report::Svg;
use crate::report::Table;
use crate::report::number::format_or_missing;
use crate::report::table::ShownRow;
use crate::train::{StopReason, TrainOutcome};
use polars::prelude::DataFrame;
use std::io::Write;

/// What a notebook needs in scope besides tiedae's own modules.
///
/// A notebook opens with a single `:dep tiedae = ...` line, and evcxr only
/// lets a cell name the crates it was given with `:dep`; so the crates whose
/// types appear in tiedae's API are re-exported here, at the versions tiedae
/// was built with, together with [`FrameDisplay`] (which makes a cell ending
/// in a DataFrame show an HTML table), and plotters' prelude with
/// [`figure`](crate::report::charts::figure), to draw a chart of your own in
/// a cell and show it inline:
///
/// ```
/// use tiedae::display::prelude::*;
/// let frame: DataFrame = df!("k" => [2i64, 4])?;
/// let x: DMatrix<f64> = DMatrix::zeros(2, 3);
/// # let _ = (frame, x);
/// # Ok::<(), tiedae::Error>(())
/// ```
pub mod prelude {
    pub use super::FrameDisplay;
    pub use crate::report::charts::{Canvas, figure};
    pub use nalgebra::{self, DMatrix, DVector};
    pub use plotters::{self, prelude::*};
    pub use polars::{self, df, prelude::DataFrame};
}

/// The line that opens a rich-output block; the MIME type follows it.
pub const BEGIN: &str = "EVCXR_BEGIN_CONTENT";
/// The line that closes a rich-output block.
pub const END: &str = "EVCXR_END_CONTENT";

/// Frames longer than [`MAX_ROWS`] are shown as their first [`HEAD_ROWS`]
/// and last [`TAIL_ROWS`] rows, as report tables are: a notebook output of
/// thousands of rows helps nobody and bloats the committed `.ipynb`.
pub use crate::report::table::{HEAD_ROWS, MAX_ROWS, TAIL_ROWS};

/// One piece of rich output: a MIME type and its body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rich {
    mime: &'static str,
    body: String,
    /// The `text/plain` fallback shown where HTML and SVG are not
    /// (nbconvert to text, pagers, some viewers).
    plain: String,
}

impl Rich {
    /// An HTML fragment (`text/html`) with its plain-text fallback.
    pub fn html(body: impl Into<String>, plain: impl Into<String>) -> Rich {
        Rich {
            mime: "text/html",
            body: body.into(),
            plain: plain.into(),
        }
    }

    /// A complete SVG document (`image/svg+xml`) with its plain-text
    /// fallback.
    pub fn svg(body: impl Into<String>, plain: impl Into<String>) -> Rich {
        Rich {
            mime: "image/svg+xml",
            body: body.into(),
            plain: plain.into(),
        }
    }

    /// A chart, with its title as the text fallback.
    pub fn chart(svg: &Svg) -> Rich {
        Rich::svg(svg.as_str(), chart_text(svg))
    }

    /// The MIME type Jupyter renders the body as.
    pub fn mime(&self) -> &'static str {
        self.mime
    }

    /// The body text.
    pub fn body(&self) -> &str {
        &self.body
    }

    /// The `text/plain` fallback.
    pub fn plain(&self) -> &str {
        &self.plain
    }

    /// The blocks evcxr reads from the evaluation process's stdout: the
    /// rich body, then its `text/plain` fallback (evcxr puts both into the
    /// cell's one output, as Jupyter expects).
    ///
    /// evcxr ends a block at the first line that is exactly [`END`], so such
    /// a line inside the body (only possible through user text) has its
    /// first underscore written as the character reference `&#95;`, which
    /// HTML and SVG render as the same text.
    pub fn evcxr_block(&self) -> String {
        let mut out = block(self.mime, &self.body);
        out.push_str(&block("text/plain", &self.plain));
        out
    }

    /// Prints [`Rich::evcxr_block`] in one write, so output printed by other
    /// threads cannot land inside the block.
    pub fn evcxr_display(&self) {
        let block = self.evcxr_block();
        let stdout = std::io::stdout();
        let mut lock = stdout.lock();
        // Display is best effort: a closed stdout means nobody is watching.
        let _ = lock.write_all(block.as_bytes());
        let _ = lock.flush();
    }
}

/// One content block of `mime`.
fn block(mime: &str, body: &str) -> String {
    let mut out = String::with_capacity(body.len() + 64);
    out.push_str(BEGIN);
    out.push(' ');
    out.push_str(mime);
    out.push('\n');
    for (i, line) in body.lines().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        if line.trim_end_matches('\r') == END {
            out.push_str(&line.replacen('_', "&#95;", 1));
        } else {
            out.push_str(line);
        }
    }
    out.push('\n');
    out.push_str(END);
    out.push('\n');
    out
}

/// A chart's text fallback: its title (the first text it draws) and size.
pub fn chart_text(svg: &Svg) -> String {
    let text = svg.as_str();
    let title = text
        .find("<text")
        .and_then(|at| {
            let open = at + text[at..].find('>')? + 1;
            let close = open + text[open..].find("</text>")?;
            Some(unescape(text[open..close].trim()))
        })
        .filter(|t| !t.is_empty())
        .unwrap_or_else(|| "untitled".into());
    let size = |attr: &str| {
        let key = format!("{attr}=\"");
        let at = text.find(&key)? + key.len();
        Some(text[at..at + text[at..].find('"')?].to_string())
    };
    match (size("width"), size("height")) {
        (Some(w), Some(h)) => format!("[chart: {title}, {w} x {h} SVG]"),
        _ => format!("[chart: {title}]"),
    }
}

/// Undoes [`escape`] (and plotters' own escapes) for text fallbacks.
fn unescape(text: &str) -> String {
    text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}

/// A table as aligned plain text: numeric columns right-aligned, long
/// tables elided like their HTML (see [`Table::shown_rows`]).
pub fn table_text(table: &Table) -> String {
    let shown = table.shown_rows();
    let header = table.header();
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in &shown {
        if let ShownRow::Row(r) = row {
            for (w, cell) in widths.iter_mut().zip(&table.rows()[*r]) {
                *w = (*w).max(cell.chars().count());
            }
        }
    }
    let line = |cells: &[String]| {
        let parts: Vec<String> = cells
            .iter()
            .enumerate()
            .map(|(c, cell)| {
                let w = widths[c];
                if table.is_numeric(c) {
                    format!("{cell:>w$}")
                } else {
                    format!("{cell:<w$}")
                }
            })
            .collect();
        parts.join("  ").trim_end().to_string()
    };
    let mut out = vec![line(header)];
    out.push(
        widths
            .iter()
            .map(|&w| "-".repeat(w))
            .collect::<Vec<_>>()
            .join("  "),
    );
    for row in shown {
        match row {
            ShownRow::Row(r) => out.push(line(&table.rows()[r])),
            ShownRow::Gap(n) => out.push(format!("… {n} more rows …")),
        }
    }
    out.join("\n")
}

/// Escapes text for HTML element content and quoted attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// Styles shared by tables and cards; scoped by class so a notebook's own
/// styles are untouched.
const STYLE: &str = "<style>\
.tiedae-table{border-collapse:collapse;font-size:0.9em}\
.tiedae-table th,.tiedae-table td{padding:0.2em 0.6em;border-bottom:1px solid #ddd}\
.tiedae-table td.num{text-align:right;font-variant-numeric:tabular-nums}\
.tiedae-table caption{caption-side:bottom;color:#666;font-size:0.85em}\
.tiedae-card{border:1px solid #ccc;border-radius:6px;padding:0.6em 1em;display:inline-block}\
.tiedae-card h4{margin:0 0 0.4em 0}\
.tiedae-card th{text-align:left;padding-right:1em;color:#555;font-weight:normal}\
.tiedae-error{color:#a00}\
</style>";

/// An HTML `<table>` of `table`'s cells (escaped), numeric columns
/// right-aligned, with an optional caption; long tables show their head
/// and tail, as on report pages.
pub fn table_html(table: &Table, caption: Option<&str>) -> String {
    let rows: Vec<ShownRow> = table.shown_rows();
    let mut out = String::from(STYLE);
    out.push_str("<table class=\"tiedae-table\">");
    if let Some(caption) = caption {
        out.push_str(&format!("<caption>{}</caption>", escape(caption)));
    }
    out.push_str(&table_body_html(table, &rows, None, None));
    out
}

/// Frames wider than this show their first and last [`EDGE_COLUMNS`]
/// columns with a "…" column between, as polars elides wide frames.
pub const MAX_COLUMNS: usize = 30;
/// Columns shown at each side of a wide frame.
pub const EDGE_COLUMNS: usize = 15;

/// Header, optional dtype row and body of a table; `column_gap` puts a "…"
/// column before that column index.
fn table_body_html(
    table: &Table,
    rows: &[ShownRow],
    dtypes: Option<&[String]>,
    column_gap: Option<usize>,
) -> String {
    let width = table.header().len() + usize::from(column_gap.is_some());
    let gap_cell = |c: usize, tag: &str| {
        if column_gap == Some(c) {
            format!("<{tag}>…</{tag}>")
        } else {
            String::new()
        }
    };
    let mut out = String::from("<thead><tr>");
    for (c, name) in table.header().iter().enumerate() {
        out.push_str(&gap_cell(c, "th"));
        let class = if table.is_numeric(c) {
            " class=\"num\""
        } else {
            ""
        };
        out.push_str(&format!("<th{class}>{}</th>", escape(name)));
    }
    out.push_str("</tr>");
    if let Some(dtypes) = dtypes {
        out.push_str("<tr class=\"dtype\">");
        for (c, dtype) in dtypes.iter().enumerate() {
            out.push_str(&gap_cell(c, "td"));
            out.push_str(&format!("<td>{}</td>", escape(dtype)));
        }
        out.push_str("</tr>");
    }
    out.push_str("</thead><tbody>");
    for row in rows {
        let r = match *row {
            ShownRow::Gap(_) => {
                out.push_str(&format!("<tr><td colspan=\"{width}\">…</td></tr>"));
                continue;
            }
            ShownRow::Row(r) => r,
        };
        out.push_str("<tr>");
        for (c, cell) in table.rows()[r].iter().enumerate() {
            out.push_str(&gap_cell(c, "td"));
            if table.is_numeric(c) {
                out.push_str(&format!("<td class=\"num\">{}</td>", escape(cell)));
            } else {
                out.push_str(&format!("<td>{}</td>", escape(cell)));
            }
        }
        out.push_str("</tr>");
    }
    out.push_str("</tbody></table>");
    out
}

/// An HTML table of `frame` as polars shows its own: a `shape: (rows,
/// columns)` line, the column names over their dtypes, and for long or wide
/// frames the head and tail rows ([`MAX_ROWS`]) and the first and last
/// columns ([`MAX_COLUMNS`]) with "…" between. Cells are formatted like
/// report tables ([`Table::from_dataframe`]).
///
/// Never fails: a frame a report would refuse (e.g. one holding NaN) is
/// shown as an error message naming the problem, so a notebook cannot
/// silently display a NaN.
pub fn frame_html(frame: &DataFrame) -> String {
    let (n, width) = frame.shape();
    let narrow = if width > MAX_COLUMNS {
        let names: Vec<_> = frame.get_column_names_owned();
        let keep: Vec<_> = names[..EDGE_COLUMNS]
            .iter()
            .chain(&names[width - EDGE_COLUMNS..])
            .cloned()
            .collect();
        match frame.select(keep) {
            Ok(f) => f,
            Err(e) => return error_html("DataFrame", &e.to_string()),
        }
    } else {
        frame.clone()
    };
    let column_gap = (width > MAX_COLUMNS).then_some(EDGE_COLUMNS);
    let (shown, rows): (DataFrame, Vec<ShownRow>) = if n > MAX_ROWS {
        let head = narrow.head(Some(HEAD_ROWS));
        let tail = narrow.tail(Some(TAIL_ROWS));
        match head.vstack(&tail) {
            Ok(both) => {
                let rows = (0..HEAD_ROWS)
                    .map(ShownRow::Row)
                    .chain(std::iter::once(ShownRow::Gap(n - HEAD_ROWS - TAIL_ROWS)))
                    .chain((HEAD_ROWS..HEAD_ROWS + TAIL_ROWS).map(ShownRow::Row))
                    .collect();
                (both, rows)
            }
            Err(e) => return error_html("DataFrame", &e.to_string()),
        }
    } else {
        (narrow, (0..n).map(ShownRow::Row).collect())
    };
    let dtypes: Vec<String> = shown.dtypes().iter().map(|t| t.to_string()).collect();
    match Table::from_dataframe(&shown) {
        Ok(table) => format!(
            "{STYLE}<small>shape: ({n}, {width})</small><table class=\"tiedae-table\">{}",
            table_body_html(&table, &rows, Some(&dtypes), column_gap)
        ),
        Err(e) => error_html("DataFrame", &e.to_string()),
    }
}

/// A visible error in place of a value that cannot be shown.
fn error_html(what: &str, message: &str) -> String {
    format!(
        "{STYLE}<div class=\"tiedae-error\">cannot display this {}: {}</div>",
        escape(what),
        escape(message)
    )
}

/// A titled card: a heading and a two-column table of (label, value) rows.
/// Labels and values are escaped here.
fn card(title: &str, rows: &[(&str, String)]) -> Rich {
    let mut out = String::from(STYLE);
    out.push_str(&format!(
        "<div class=\"tiedae-card\"><h4>{}</h4><table>",
        escape(title)
    ));
    for (label, value) in rows {
        out.push_str(&format!(
            "<tr><th>{}</th><td>{}</td></tr>",
            escape(label),
            escape(value)
        ));
    }
    out.push_str("</table></div>");
    let label_width = rows
        .iter()
        .map(|(l, _)| l.chars().count())
        .max()
        .unwrap_or(0);
    let mut text = title.to_string();
    for (label, value) in rows {
        text.push_str(&format!("\n  {label:<label_width$}  {value}"));
    }
    Rich::html(out, text)
}

/// A summary card of a dataset: size, image shape, classes and value range,
/// as HTML (the report's [`DatasetCard`](crate::report::DatasetCard) is
/// built by [`crate::report::card::dataset_card`]).
pub fn dataset_card_html(ds: &Dataset) -> Rich {
    let x = ds.x();
    let mut rows = vec![
        ("samples n", ds.n_samples().to_string()),
        ("features d", ds.n_features().to_string()),
    ];
    if let Some((h, w)) = ds.image_shape() {
        rows.push(("images", format!("{h} x {w}")));
    }
    match ds.class_counts() {
        Some(counts) => rows.push((
            "classes",
            format!(
                "{} ({})",
                counts.len(),
                counts
                    .iter()
                    .map(|(label, n)| format!("{label}: {n}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )),
        None => rows.push(("classes", "unlabelled".to_string())),
    }
    // A Dataset holds at least one finite value (its constructor checks).
    rows.push((
        "values",
        format!(
            "{} to {}",
            format_or_missing(x.min()),
            format_or_missing(x.max())
        ),
    ));
    rows.push(("mean value", format_or_missing(x.mean())));
    card(&format!("Dataset {:?}", ds.name()), &rows)
}

/// A summary card of a fitted PCA: sizes, solver, variance kept, parameter
/// count and the leading explained-variance ratios.
pub fn pca_card<T: Real>(pca: &FittedPca<T>) -> Rich {
    let ratios = pca.explained_variance_ratio();
    let kept: f64 = ratios.iter().sum();
    let shown = ratios.len().min(5);
    let mut leading: Vec<String> = ratios[..shown]
        .iter()
        .map(|&r| format_or_missing(r))
        .collect();
    if ratios.len() > shown {
        leading.push("…".into());
    }
    card(
        &format!("FittedPca<{}>", T::NAME),
        &[
            ("components k", pca.n_components().to_string()),
            ("features d", pca.n_features().to_string()),
            ("samples n", pca.n_samples().to_string()),
            ("solver", format!("{:?}", pca.solver())),
            ("whitened", pca.is_whitened().to_string()),
            ("variance explained", format_or_missing(kept)),
            ("explained ratio (leading)", leading.join(", ")),
            (
                "training MSE",
                format_or_missing(pca.mse_curve()[pca.n_components()]),
            ),
            ("parameters (k·d + d)", pca.parameter_count().to_string()),
        ],
    )
}

/// A summary card of an autoencoder: architecture (widths, tying per pair,
/// activations, biases, init), latent size and exact parameter count with
/// the per-pair breakdown.
pub fn autoencoder_card<T: Real>(model: &Autoencoder<T>) -> Rich {
    let spec = model.spec();
    let count = model.parameter_count();
    let dims: Vec<String> = spec.dims.iter().map(|d| d.to_string()).collect();
    let tying: Vec<&str> = spec
        .tied
        .iter()
        .map(|&t| if t { "tied" } else { "untied" })
        .collect();
    let hidden: Vec<String> = spec.hidden.iter().map(Activation::name).collect();
    let per_layer: Vec<String> = count
        .layers
        .iter()
        .map(|l| format!("{} + {}", l.weights, l.biases))
        .collect();
    let all_tied = spec.tied.iter().all(|&t| t);
    let title = format!(
        "Autoencoder<{}>: {} {}",
        T::NAME,
        if all_tied {
            "tied"
        } else if spec.tied.iter().any(|&t| t) {
            "partly tied"
        } else {
            "untied"
        },
        dims.join(" → ")
    );
    let conv: Vec<String> = spec
        .conv
        .iter()
        .flat_map(|stack| stack.layers.iter())
        .map(|c| {
            format!(
                "{} × {}x{}, stride {}x{}, padding {}x{}",
                c.out_channels,
                c.kernel[0],
                c.kernel[1],
                c.stride[0],
                c.stride[1],
                c.padding[0],
                c.padding[1]
            )
        })
        .collect();
    let mut rows = vec![("widths", dims.join(" → "))];
    if let Some(stack) = &spec.conv {
        let i = stack.image;
        rows.push((
            "input image",
            format!("{} × {}x{}", i.channels, i.height, i.width),
        ));
        rows.push(("conv pairs (channels × kernel)", conv.join("; ")));
    }
    rows.extend([
        ("pairs", tying.join(", ")),
        ("hidden activations", hidden.join(", ")),
        ("output activation", spec.output.as_activation().name()),
        ("bias mode", spec.bias.name().to_string()),
        ("init", format!("{:?}", spec.init)),
        ("latent size", model.latent_dim().to_string()),
        (
            "parameters (weights + biases per pair)",
            per_layer.join(", "),
        ),
        ("parameters total", count.total.to_string()),
    ]);
    card(&title, &rows)
}

/// A summary card of a training run: the model's architecture line, how
/// the run ended, and the first and last training losses.
pub fn training_card<T: Real>(outcome: &TrainOutcome<T>) -> Rich {
    let history = &outcome.history;
    let losses = history.train_loss();
    let stop = match &outcome.stop {
        StopReason::Completed => "completed".to_string(),
        StopReason::EarlyStopped { epoch } => format!("early stopped at epoch {epoch}"),
        StopReason::Converged(why) => format!("converged: {why}"),
    };
    let spec = outcome.model.spec();
    let dims: Vec<String> = spec.dims.iter().map(|d| d.to_string()).collect();
    let mut rows = vec![
        ("model", dims.join(" → ")),
        ("parameters total", outcome.model.n_params().to_string()),
        ("epochs run", history.len().to_string()),
        ("stopped", stop),
    ];
    if let (Some(first), Some(last)) = (losses.first(), losses.last()) {
        rows.push(("train loss, first epoch", format_or_missing(*first)));
        rows.push(("train loss, last epoch", format_or_missing(*last)));
    }
    if let Some(val) = history.last().and_then(|r| r.val_loss) {
        rows.push(("validation loss, last epoch", format_or_missing(val)));
    }
    if let Some(best) = outcome.best_epoch {
        rows.push(("weights from epoch", best.to_string()));
    }
    card(&format!("TrainOutcome<{}>", T::NAME), &rows)
}

impl Svg {
    /// Shows the chart inline in an evcxr notebook (`image/svg+xml`).
    pub fn evcxr_display(&self) {
        Rich::chart(self).evcxr_display();
    }
}

impl Table {
    /// Shows the table inline in an evcxr notebook (`text/html`).
    pub fn evcxr_display(&self) {
        Rich::html(table_html(self, None), table_text(self)).evcxr_display();
    }
}

impl Dataset {
    /// Shows a summary card inline in an evcxr notebook (`text/html`).
    pub fn evcxr_display(&self) {
        dataset_card_html(self).evcxr_display();
    }
}

impl<T: Real> FittedPca<T> {
    /// Shows a summary card inline in an evcxr notebook (`text/html`).
    pub fn evcxr_display(&self) {
        pca_card(self).evcxr_display();
    }
}

impl<T: Real> Autoencoder<T> {
    /// Shows a summary card inline in an evcxr notebook (`text/html`).
    pub fn evcxr_display(&self) {
        autoencoder_card(self).evcxr_display();
    }
}

impl<T: Real> TrainOutcome<T> {
    /// Shows a summary card inline in an evcxr notebook (`text/html`).
    pub fn evcxr_display(&self) {
        training_card(self).evcxr_display();
    }
}

/// Rich display for polars [`DataFrame`]s, which this crate cannot give an
/// inherent method: bring the trait into scope
/// (`use tiedae::display::FrameDisplay;`) and a cell ending in a frame shows
/// it as an HTML table.
pub trait FrameDisplay {
    /// The frame as [`frame_html`].
    fn to_rich(&self) -> Rich;
    /// Shows the frame inline in an evcxr notebook (`text/html`).
    fn evcxr_display(&self) {
        self.to_rich().evcxr_display();
    }
}

impl FrameDisplay for DataFrame {
    fn to_rich(&self) -> Rich {
        // polars' own text form: shape, dtypes, elided rows and columns.
        Rich::html(frame_html(self), format!("{self}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::linalg::Pca;
    use crate::model::{AutoencoderSpec, BiasMode};
    use crate::report::charts::{LineChart, Series, line_chart};
    use crate::report::number::format_number;
    use nalgebra::DMatrix;
    use polars::prelude::*;

    #[test]
    fn escape_covers_the_html_specials() {
        assert_eq!(
            escape(r#"<a href="x">&'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;&lt;/a&gt;"
        );
        assert_eq!(escape("plain → text"), "plain → text");
    }

    #[test]
    fn evcxr_block_wraps_the_body_between_markers() {
        let block = Rich::html("<b>hi</b>\n<i>there</i>", "hi there").evcxr_block();
        assert_eq!(
            block,
            "EVCXR_BEGIN_CONTENT text/html\n<b>hi</b>\n<i>there</i>\nEVCXR_END_CONTENT\n\
             EVCXR_BEGIN_CONTENT text/plain\nhi there\nEVCXR_END_CONTENT\n"
        );
        let svg = Rich::svg("<svg/>", "a chart").evcxr_block();
        assert!(svg.starts_with("EVCXR_BEGIN_CONTENT image/svg+xml\n<svg/>\n"));
    }

    #[test]
    fn a_body_line_equal_to_the_end_marker_cannot_end_the_block_early() {
        let block = Rich::html(format!("a\n{END}\nb"), END).evcxr_block();
        let lines: Vec<&str> = block.lines().collect();
        // One end line per block: the rich body's and the fallback's.
        assert_eq!(lines.iter().filter(|l| **l == END).count(), 2);
        assert_eq!(lines.last(), Some(&END));
        assert!(lines.contains(&"EVCXR&#95;END_CONTENT"));
        // Text that merely contains the marker is left alone.
        let inline = Rich::html(format!("x {END} y"), "").evcxr_block();
        assert!(inline.contains(&format!("x {END} y")));
    }

    #[test]
    fn frame_html_escapes_names_and_cells_and_formats_numbers() {
        let frame = df!(
            "<model>" => ["pca & co", "<script>"],
            "params" => [1088i64, 2112],
            "mse" => [0.0123456, 0.5],
        )
        .unwrap();
        let html = frame_html(&frame);
        assert!(html.contains("<th>&lt;model&gt;</th>"), "{html}");
        // polars' layout: a shape line and a dtype row under the names.
        assert!(html.contains("<small>shape: (2, 3)</small>"));
        assert!(html.contains("<tr class=\"dtype\"><td>str</td><td>i64</td><td>f64</td></tr>"));
        assert!(html.contains("<td>pca &amp; co</td>"));
        assert!(html.contains("<td>&lt;script&gt;</td>"));
        assert!(!html.contains("<script>"));
        // Cells come from the report formatter: the table can be compared
        // with the frame through the same function.
        assert!(html.contains(&format!(
            "<td class=\"num\">{}</td>",
            format_number(0.0123456).unwrap()
        )));
        assert!(html.contains("<td class=\"num\">2112</td>"));
        assert_eq!(html.matches("<tr>").count(), 3);
    }

    #[test]
    fn long_frames_show_head_and_tail_with_a_gap_row() {
        let n = 100i64;
        let frame = df!("i" => (0..n).collect::<Vec<_>>()).unwrap();
        let html = frame_html(&frame);
        assert_eq!(html.matches("<tr>").count(), 1 + HEAD_ROWS + TAIL_ROWS + 1);
        assert!(html.contains("<td class=\"num\">19</td><"));
        assert!(!html.contains("<td class=\"num\">20</td>"));
        assert!(html.contains("<td class=\"num\">95</td>"));
        assert!(html.contains("<td class=\"num\">99</td>"));
        assert!(html.contains("<td colspan=\"1\">…</td>"));
        assert!(html.contains("shape: (100, 1)"));
    }

    #[test]
    fn wide_frames_show_first_and_last_columns() {
        let columns: Vec<Column> = (0..40)
            .map(|c| Column::new(format!("c{c}").into(), [c as i64]))
            .collect();
        let frame = DataFrame::new(1, columns).unwrap();
        let html = frame_html(&frame);
        assert!(html.contains("shape: (1, 40)"));
        for c in (0..EDGE_COLUMNS).chain(40 - EDGE_COLUMNS..40) {
            assert!(
                html.contains(&format!("<th class=\"num\">c{c}</th>")),
                "c{c}"
            );
        }
        for c in EDGE_COLUMNS..40 - EDGE_COLUMNS {
            assert!(!html.contains(&format!(">c{c}<")), "c{c} should be elided");
        }
        assert_eq!(html.matches("<th>…</th>").count(), 1);
        assert_eq!(
            html.matches("<td>…</td>").count(),
            2,
            "dtype row and data row"
        );
    }

    #[test]
    fn a_frame_with_nan_is_shown_as_an_error_not_as_nan() {
        let frame = df!("mse" => [0.1, f64::NAN]).unwrap();
        let html = frame_html(&frame);
        assert!(html.contains("tiedae-error"), "{html}");
        assert!(html.contains("&quot;mse&quot;") && html.contains("row 1"));
        assert!(!html.contains("<td"));
    }

    #[test]
    fn frame_display_trait_gives_html() {
        let frame = df!("a" => [1i64]).unwrap();
        let rich = frame.to_rich();
        assert_eq!(rich.mime(), "text/html");
        assert_eq!(rich.body(), frame_html(&frame));
        assert_eq!(rich.plain(), format!("{frame}"));
    }

    #[test]
    fn pca_card_reports_the_fitted_numbers() {
        let x = DMatrix::from_fn(40, 5, |i, j| ((i * 7 + j * 3) % 11) as f64 + j as f64);
        let pca = Pca::count(2).fit(&x).unwrap();
        let rich = pca_card(&pca);
        assert!(
            rich.plain().starts_with("FittedPca<f64>\n  components k "),
            "{}",
            rich.plain()
        );
        let html = rich.body().to_string();
        assert!(html.contains("FittedPca&lt;f64&gt;"), "{html}");
        assert!(html.contains("<th>components k</th><td>2</td>"));
        assert!(html.contains("<th>features d</th><td>5</td>"));
        assert!(html.contains("<th>samples n</th><td>40</td>"));
        let kept: f64 = pca.explained_variance_ratio().iter().sum();
        assert!(html.contains(&format!(
            "<th>variance explained</th><td>{}</td>",
            format_number(kept).unwrap()
        )));
        assert!(html.contains(&format!(
            "<th>training MSE</th><td>{}</td>",
            format_number(pca.reconstruction_mse(&x).unwrap()).unwrap()
        )));
        assert!(html.contains(&format!("<td>{}</td>", 2 * 5 + 5)));
    }

    #[test]
    fn autoencoder_card_shows_architecture_and_exact_counts() {
        let spec = AutoencoderSpec::new(&[64, 16, 4])
            .tied_per_layer(vec![true, false])
            .activation(Activation::Relu)
            .bias(BiasMode::Mirrored);
        let model = Autoencoder::<f32>::new(&spec, 1).unwrap();
        let html = autoencoder_card(&model).body().to_string();
        assert!(html.contains("Autoencoder&lt;f32&gt;: partly tied 64 → 16 → 4"));
        assert!(html.contains("<td>tied, untied</td>"), "{html}");
        assert!(html.contains("<th>bias mode</th><td>mirrored</td>"));
        // Tied 64x16 with mirrored bias: 1024 + 16; untied 16x4: 128 + 4.
        assert!(html.contains("<td>1024 + 16, 128 + 4</td>"));
        assert!(html.contains(&format!(
            "<th>parameters total</th><td>{}</td>",
            model.n_params()
        )));
        assert_eq!(model.n_params(), 1024 + 16 + 128 + 4);
    }

    #[test]
    fn training_card_reports_the_run() {
        use crate::train::{Progress, TrainConfig, Trainer};
        let x = DMatrix::from_fn(32, 6, |i, j| ((i * 5 + j * 3) % 7) as f64 / 7.0);
        let model = Autoencoder::<f64>::new(&AutoencoderSpec::new(&[6, 2]), 3).unwrap();
        let trainer = Trainer::new(
            TrainConfig::new()
                .epochs(3)
                .batch_size(8)
                .seed(1)
                .progress(Progress::Silent),
        )
        .unwrap();
        let outcome = trainer.fit(model, &x).unwrap();
        let html = training_card(&outcome).body().to_string();
        let losses = outcome.history.train_loss();
        assert!(html.contains("<th>epochs run</th><td>3</td>"), "{html}");
        assert!(html.contains("<th>stopped</th><td>completed</td>"));
        assert!(html.contains(&format!(
            "<th>train loss, last epoch</th><td>{}</td>",
            format_number(losses[2]).unwrap()
        )));
        assert!(html.contains(&format!(
            "<th>train loss, first epoch</th><td>{}</td>",
            format_number(losses[0]).unwrap()
        )));
    }

    #[test]
    fn autoencoder_card_lists_conv_pairs() {
        use crate::model::{ConvSpec, ImageShape};
        let spec = AutoencoderSpec::conv(ImageShape::new(1, 8, 8), &[ConvSpec::new(8, 3, 1, 1)])
            .unwrap()
            .then_dense(&[16]);
        let model = Autoencoder::<f64>::new(&spec, 2).unwrap();
        let html = autoencoder_card(&model).body().to_string();
        assert!(
            html.contains("<th>input image</th><td>1 × 8x8</td>"),
            "{html}"
        );
        assert!(html.contains("<td>8 × 3x3, stride 1x1, padding 1x1</td>"));
        // 8 kernels of 3x3 = 72 weights, 8 + 1 per-channel biases; then a
        // tied dense pair 512 → 16 with 16 + 512 biases.
        assert!(html.contains("<td>72 + 9, 8192 + 528</td>"));
    }

    #[test]
    fn dataset_card_reports_size_classes_and_range() {
        let x = DMatrix::from_row_slice(3, 2, &[0.0, 0.5, 1.0, 0.25, 0.75, 2.0]);
        let ds = Dataset::new("tiny <set>", x, Some(vec![1, 0, 1]), Some((1, 2))).unwrap();
        let html = dataset_card_html(&ds).body().to_string();
        assert!(
            html.contains("Dataset &quot;tiny &lt;set&gt;&quot;"),
            "{html}"
        );
        assert!(html.contains("<th>samples n</th><td>3</td>"));
        assert!(html.contains("<th>features d</th><td>2</td>"));
        assert!(html.contains("<th>images</th><td>1 x 2</td>"));
        assert!(html.contains("<th>classes</th><td>2 (0: 1, 1: 2)</td>"));
        assert!(html.contains("<th>values</th><td>0 to 2.000</td>"));
        let mean = (0.0 + 0.5 + 1.0 + 0.25 + 0.75 + 2.0) / 6.0;
        assert!(html.contains(&format!(
            "<th>mean value</th><td>{}</td>",
            format_number(mean).unwrap()
        )));
        let unlabelled = Dataset::new("u", DMatrix::zeros(2, 1), None, None).unwrap();
        assert!(
            dataset_card_html(&unlabelled)
                .body()
                .contains("<th>classes</th><td>unlabelled</td>")
        );
    }

    #[test]
    fn charts_display_as_svg() {
        let svg = line_chart(&LineChart {
            title: "a < b".into(),
            x_label: "k".into(),
            y_label: "mse".into(),
            log_x: false,
            log_y: false,
            series: vec![Series::new("s", vec![(1.0, 2.0), (2.0, 1.0)])],
        })
        .unwrap();
        let rich = Rich::chart(&svg);
        let block = rich.evcxr_block();
        assert!(block.starts_with("EVCXR_BEGIN_CONTENT image/svg+xml\n<svg"));
        assert!(block.contains("</svg>\nEVCXR_END_CONTENT\nEVCXR_BEGIN_CONTENT text/plain\n"));
        assert!(block.contains("a &lt; b"));
        // The fallback names the chart, unescaped.
        assert_eq!(rich.plain(), "[chart: a < b, 860 x 480 SVG]");
    }

    #[test]
    fn table_html_right_aligns_numeric_columns_only() {
        let t = Table::new(
            vec!["name".into(), "x".into()],
            vec![vec!["a".into(), "1.5".into()]],
        )
        .unwrap();
        let html = table_html(&t, None);
        assert_eq!(table_text(&t), "name    x\n----  ---\na     1.5");
        assert!(html.contains("<th>name</th><th class=\"num\">x</th>"));
        assert!(html.contains("<td>a</td><td class=\"num\">1.5</td>"));
        assert!(!html.contains("<caption>"));
    }
}
