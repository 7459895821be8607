//! The report layer end to end: a hand-built study result goes in, a report
//! directory comes out, and the page, its files and its failure modes are
//! checked from the outside (HTML parsed, numbers parsed back, files read).

use polars::prelude::*;
use scraper::{ElementRef, Html, Selector};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use tiedae::Error;
use tiedae::provenance::{Provenance, StudyTime};
use tiedae::report::charts::{
    BarChart, BarGroup, ForestChart, ForestRow, ImageGrid, ImageRow, LineChart, ParetoChart,
    ParetoGroup, ParetoPoint, ScreeChart, Series, TileColors, bar_chart, forest_chart, image_grid,
    line_chart, pareto_chart, scree_chart,
};
use tiedae::report::number::{MISSING, format_number};
use tiedae::report::{
    DatasetCard, PAGE_FILE, Panel, RESULTS_CSV, RESULTS_PARQUET, ReportInput, Section, Table,
    read_provenance, report_dir_name, write_report,
};

// ---------------------------------------------------------------- fixtures

/// A small study result: a few rows of every column type the studies use,
/// one null, and a string cell holding markup that must be escaped.
fn results_frame() -> DataFrame {
    df!(
        "model" => ["pca", "linear tied", "linear untied", "nonlinear tied"],
        "latent" => [8i64, 8, 8, 8],
        "params" => [512i64, 576, 1096, 576],
        "train_mse" => [0.0213456789, 0.0214001234, 0.0209876543, 0.0187654321],
        "test_mse" => [0.0231234567, 0.0232109876, 0.0240567891, 0.0199012345],
        "ratio_to_pca" => [None, Some(1.003785), Some(1.040366), Some(0.8606470)],
        "max_angle_deg" => [0.0, 1.23456, 17.891011, 45.6789],
        "note" => ["baseline", "<b>bold</b> & co", "", "sigmoid"],
        "converged" => [true, true, false, true],
    )
    .unwrap()
}

fn tile(h: usize, w: usize, seed: usize) -> Vec<f64> {
    (0..h * w)
        .map(|i| ((i * 7 + seed * 13) % 17) as f64 / 16.0 - 0.3)
        .collect()
}

fn image_row(label: &str, count: usize, seed: usize) -> ImageRow {
    ImageRow {
        label: label.into(),
        tiles: (0..count).map(|t| tile(8, 8, seed + t)).collect(),
    }
}

fn line(title: &str, series: Vec<Series>, log_x: bool, log_y: bool) -> LineChart {
    LineChart {
        title: title.into(),
        x_label: "latent size k".into(),
        y_label: "test MSE".into(),
        log_x,
        log_y,
        series,
    }
}

/// Every kind of section a study report has, for an 8x8-image dataset.
fn sections() -> Vec<Section> {
    let ks = [2.0, 4.0, 8.0, 16.0, 32.0];
    let curve = |scale: f64| {
        ks.iter()
            .map(|&k| (k, scale * 0.08 / k))
            .collect::<Vec<_>>()
    };
    let mse = line_chart(&line(
        "Reconstruction error vs latent size",
        vec![
            Series::new("PCA", curve(1.0)),
            Series::new("linear tied", curve(1.01)),
            Series::new("nonlinear untied", curve(0.9)),
        ],
        true,
        true,
    ))
    .unwrap();
    let pareto = pareto_chart(&ParetoChart {
        title: "Error vs parameter count".into(),
        x_label: "parameters".into(),
        y_label: "test MSE".into(),
        log_x: true,
        log_y: false,
        groups: vec![
            ParetoGroup {
                name: "tied".into(),
                points: vec![
                    ParetoPoint {
                        x: 576.0,
                        y: 0.0232,
                        on_front: true,
                        y_interval: None,
                    },
                    ParetoPoint {
                        x: 1152.0,
                        y: 0.0150,
                        on_front: true,
                        y_interval: None,
                    },
                ],
            },
            ParetoGroup {
                name: "untied".into(),
                points: vec![
                    ParetoPoint {
                        x: 1096.0,
                        y: 0.0240,
                        on_front: false,
                        y_interval: None,
                    },
                    ParetoPoint {
                        x: 2192.0,
                        y: 0.0149,
                        on_front: true,
                        y_interval: None,
                    },
                ],
            },
        ],
    })
    .unwrap();
    let explained = [0.30, 0.20, 0.12, 0.08, 0.05, 0.03];
    let mut total = 0.0;
    let cumulative = explained
        .iter()
        .map(|e| {
            total += e;
            total
        })
        .collect();
    let scree = scree_chart(&ScreeChart {
        title: "PCA spectrum".into(),
        explained_ratio: explained.to_vec(),
        cumulative_ratio: cumulative,
        log_y: false,
    })
    .unwrap();
    let n = [100.0, 300.0, 1000.0];
    let overfit = line_chart(&LineChart {
        title: "Overfitting: train and test error vs training-set size".into(),
        x_label: "n_train".into(),
        y_label: "MSE".into(),
        log_x: true,
        log_y: false,
        series: vec![
            Series::new(
                "tied train",
                n.iter().map(|&x| (x, 0.02 - 1.0 / x)).collect(),
            )
            .with_color(0)
            .dashed(),
            Series::new(
                "tied test",
                n.iter().map(|&x| (x, 0.02 + 2.0 / x)).collect(),
            )
            .with_color(0),
            Series::new(
                "untied train",
                n.iter().map(|&x| (x, 0.02 - 1.5 / x)).collect(),
            )
            .with_color(1)
            .dashed(),
            Series::new(
                "untied test",
                n.iter().map(|&x| (x, 0.02 + 5.0 / x)).collect(),
            )
            .with_color(1),
        ],
    })
    .unwrap();
    let steps: Vec<f64> = (1..=40).map(f64::from).collect();
    let grads = line_chart(&LineChart {
        title: "Gradient norm of the tied weight".into(),
        x_label: "step".into(),
        y_label: "‖∂L/∂W‖".into(),
        log_x: false,
        log_y: true,
        series: vec![
            Series::new(
                "encoder part",
                steps.iter().map(|&s| (s, 1.0 / s)).collect(),
            )
            .with_color(2)
            .dashed()
            .without_markers(),
            Series::new(
                "decoder part",
                steps.iter().map(|&s| (s, 2.0 / s)).collect(),
            )
            .with_color(2)
            .without_markers(),
        ],
    })
    .unwrap();
    let filters = image_grid(&ImageGrid {
        title: "Learned filters beside PCA components".into(),
        tile_height: 8,
        tile_width: 8,
        column_labels: vec!["1".into(), "2".into(), "3".into(), "4".into()],
        rows: vec![
            image_row("PCA", 4, 0),
            image_row("linear tied", 4, 5),
            image_row("nonlinear untied", 3, 9),
        ],
        colors: TileColors::Diverging,
    })
    .unwrap();
    let angles = bar_chart(&BarChart {
        title: "Principal angles to the PCA subspace".into(),
        x_label: "angle index".into(),
        y_label: "degrees".into(),
        categories: vec!["θ1".into(), "θ2".into(), "θ3".into()],
        groups: vec![
            BarGroup {
                name: "linear tied".into(),
                values: vec![0.1, 0.4, 1.2],
            },
            BarGroup {
                name: "nonlinear tied".into(),
                values: vec![3.0, 12.5, 40.2],
            },
        ],
    })
    .unwrap();
    let params = Table::from_dataframe(
        &df!(
            "architecture" => ["64-8", "64-32-8"],
            "tied" => [576i64, 2408],
            "untied" => [1096i64, 4776],
        )
        .unwrap(),
    )
    .unwrap();
    let mut angle_section = Section::with_chart(
        "angles",
        "Principal angles",
        "Near-zero angles: the linear tied model spans the principal subspace.",
        angles,
    );
    angle_section.table = Some(
        Table::new(
            vec!["model".into(), "largest angle".into()],
            vec![vec!["linear tied".into(), "1.200".into()]],
        )
        .unwrap(),
    );
    vec![
        Section::with_chart(
            "mse-vs-latent",
            "Error vs latent size",
            "Tied meets PCA.",
            mse,
        ),
        Section::with_chart(
            "pareto",
            "Error vs parameters",
            "Tied is on the front.",
            pareto,
        ),
        Section::with_chart(
            "spectrum",
            "PCA spectrum",
            "Six components hold 78%.",
            scree,
        ),
        Section::with_chart(
            "overfitting",
            "Overfitting",
            "Untied's gap is wider.",
            overfit,
        ),
        Section::with_chart(
            "gradients",
            "Gradient norms",
            "Decoder part dominates.",
            grads,
        ),
        Section::with_chart(
            "filters",
            "Filters",
            "Tied filters look like PCA's.",
            filters,
        ),
        angle_section,
        Section::with_table(
            "params",
            "Parameter counts",
            "Tied is half of untied.",
            params,
        ),
    ]
}

fn input(name: &str) -> ReportInput {
    ReportInput {
        dataset: DatasetCard {
            name: name.into(),
            n_samples: 1797,
            n_features: 64,
            source: "UCI optical digits (CC BY 4.0) via scikit-learn".into(),
            facts: vec![("train / test".into(), "1437 / 360".into())],
            image_shape: Some((8, 8)),
            samples: Some(
                image_grid(&ImageGrid {
                    title: "Samples".into(),
                    tile_height: 8,
                    tile_width: 8,
                    column_labels: vec![],
                    rows: vec![image_row("digits", 6, 2)],
                    colors: TileColors::Range,
                })
                .unwrap(),
            ),
        },
        sections: sections(),
        findings: vec![
            "linear tied reached 1.004x PCA MSE with 53% of untied's parameters.".into(),
            "untied overfits more at n_train = 100 (gap 0.09 vs 0.04) — <i>not</i> markup.".into(),
        ],
        results: results_frame(),
        provenance: Some(provenance()),
    }
}

/// Forest-plot rows at latent sizes 1, 2, 4, ...: effects falling with k,
/// each with an interval and PCA's own change beside it.
fn forest_rows(n: usize) -> Vec<ForestRow> {
    (0..n)
        .map(|i| {
            let e = -3.0 * i as f64;
            let (lo, hi) = (e - 4.0 - i as f64, e + 3.0);
            ForestRow {
                label: format!("k = {}", 1 << i),
                estimate: e,
                interval: (lo, hi),
                reference: (i > 0).then_some(-12.0 * i as f64),
                note: format!("{e}% ({lo} to {hi}) · Holm p 0.031 · dead 0 / 0–4"),
            }
        })
        .collect()
}

fn forest(title: &str, n: usize) -> ForestChart {
    ForestChart {
        title: title.into(),
        x_label: "test MSE, tied against untied, geometric-mean % (dot and 95% interval; shaded: the equivalence band; ring: PCA's own change)".into(),
        rows: forest_rows(n),
        band: Some((-1.96, 2.0)),
    }
}

/// A verdict section as the report builds it, with texts as long as the
/// real ones: each question a forest plot beside a sentence, the full
/// account folded under it, the rule stated once in the caption.
fn verdict_section() -> Section {
    let account = "k = 1: -0.54% (95% CI -1.2% to +0.13%, 5 seeds; Holm p 0.31) beside PCA's own -16%, within ±2%; "
        .repeat(10);
    let panel = |question: &str, n: usize| {
        Panel {
        title: question.into(),
        answer: "no difference beyond ±2%".into(),
        chart: Some(forest_chart(&forest(question, n)).unwrap()),
        sentence: "Tied's test MSE higher at k = 16, 32; within ±2% at k = 1, 2; unclear (interval too wide) at k = 4, 8. PCA alone changes by -79% to -16% from k/2 to k.".into(),
        detail: account.clone(),
        link: Some("mse-vs-latent".into()),
    }
    };
    Section::with_panels(
        "verdict",
        "Verdict: when does tying help on this data?",
        "Tied and untied cells are paired by seed within one configuration (dataset, training size, activation, bias mode, L2 and sparsity weight). "
            .repeat(6),
        vec![
            panel("Does tying cost reconstruction at equal latent size?", 6),
            panel("Once width is accounted for, does tying still win at equal weights?", 5),
            Panel {
                title: "Does linear tied recover PCA (Eckart–Young, Baldi–Hornik)?".into(),
                answer: "yes".into(),
                chart: None,
                sentence: "Every linear tied cell (30) ended within 1% of PCA's test MSE.".into(),
                detail: String::new(),
                link: None,
            },
        ],
    )
}

fn provenance() -> Provenance {
    Provenance {
        command: vec!["report".into(), "--dataset".into(), "my digits.csv".into()],
        tiedae_version: "0.1.0".into(),
        git_revision: "0123456789ab".into(),
        rustc: "rustc 1.99.0".into(),
        threads: 2,
        seeds: vec![0, 1, 2, 3, 4],
        dataset_sha256: "5eed".repeat(16),
        studies: vec![StudyTime {
            study: "linear_pca".into(),
            seconds: 1.25,
        }],
    }
}

#[test]
fn provenance_is_in_the_footer_report_json_and_the_parquet_metadata() {
    let (out, page, html, _) = written(&input("digits"));
    let footer = text_of(&select(&html, "footer")[0]);
    for part in [
        "git 0123456789ab",
        "rustc 1.99.0",
        "2 threads",
        "report --dataset 'my digits.csv'",
        "seeds 0–4",
        "linear_pca 1.250 s",
    ] {
        assert!(footer.contains(part), "{part:?} missing from {footer:?}");
    }
    assert_eq!(
        text_of(&select(&html, "footer #dataset-sha256")[0]),
        "5eed".repeat(16)
    );
    let dir = page.parent().unwrap();
    let summary: serde_json::Value =
        serde_json::from_slice(&fs::read(dir.join("report.json")).unwrap()).unwrap();
    let back: Provenance = serde_json::from_value(summary["provenance"].clone()).unwrap();
    assert_eq!(back, provenance());
    // The results file alone still names its run.
    assert_eq!(
        read_provenance(&dir.join("results.parquet")).unwrap(),
        Some(provenance())
    );
    drop(out);
}

fn select<'a>(html: &'a Html, css: &str) -> Vec<ElementRef<'a>> {
    let selector = Selector::parse(css).unwrap_or_else(|e| panic!("selector {css}: {e:?}"));
    html.select(&selector).collect()
}

fn text_of(element: &ElementRef<'_>) -> String {
    element.text().collect::<String>().trim().to_string()
}

fn child_elements(element: &ElementRef<'_>) -> usize {
    element
        .children()
        .filter(|c| c.value().is_element())
        .count()
}

/// Writes `input` into a fresh temporary output directory.
fn written(input: &ReportInput) -> (tempfile::TempDir, PathBuf, Html, String) {
    let out = tempfile::tempdir().unwrap();
    let page = write_report(input, out.path()).unwrap();
    let source = fs::read_to_string(&page).unwrap();
    let html = Html::parse_document(&source);
    (out, page, html, source)
}

/// Words a report must never show: a number that failed to be a number.
fn non_finite_words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| {
            let w = w.to_ascii_lowercase();
            w == "nan" || w == "inf" || w == "infinity"
        })
        .map(str::to_string)
        .collect()
}

// ------------------------------------------------------------------- pages

#[test]
fn page_parses_and_holds_every_section_and_chart() {
    let input = input("digits");
    let (out, page, html, _) = written(&input);
    assert_eq!(page, out.path().join("digits").join(PAGE_FILE));
    assert!(
        html.errors.is_empty(),
        "HTML parse errors: {:?}",
        html.errors
    );

    for id in ["dataset", "findings", "results"] {
        assert_eq!(
            select(&html, &format!("section#{id}")).len(),
            1,
            "section {id}"
        );
    }
    for section in &input.sections {
        let found = select(&html, &format!("section#{}", section.id));
        assert_eq!(found.len(), 1, "section {}", section.id);
        let heading = select(&html, &format!("section#{} h2", section.id));
        assert_eq!(text_of(&heading[0]), section.title);
        assert!(text_of(&found[0]).contains(&section.caption));
        let figure = format!("figure#chart-{} > svg", section.id);
        assert_eq!(
            select(&html, &figure).len(),
            usize::from(section.chart.is_some())
        );
        let table = format!("table#table-{}", section.id);
        assert_eq!(
            select(&html, &table).len(),
            usize::from(section.table.is_some())
        );
    }
    assert_eq!(select(&html, "figure#chart-dataset > svg").len(), 1);
    // The table of contents links every section.
    for section in &input.sections {
        assert_eq!(
            select(&html, &format!("nav a[href=\"#{}\"]", section.id)).len(),
            1
        );
    }
    let findings: Vec<String> = select(&html, "section#findings li")
        .iter()
        .map(text_of)
        .collect();
    assert_eq!(findings, input.findings);
}

#[test]
fn no_chart_is_empty_and_each_has_title_labels_and_legend() {
    let input = input("digits");
    let (_out, _page, html, _) = written(&input);
    let svgs = select(&html, "svg");
    assert_eq!(
        svgs.len(),
        input.sections.iter().filter(|s| s.chart.is_some()).count() + 1
    );
    for svg in &svgs {
        assert!(child_elements(svg) > 3, "an svg with almost nothing in it");
        assert!(svg.value().attr("viewBox").is_some());
    }
    let texts = |id: &str| -> Vec<String> {
        select(&html, &format!("figure#chart-{id} svg text"))
            .iter()
            .map(text_of)
            .collect()
    };
    let mse = texts("mse-vs-latent");
    for expected in [
        "Reconstruction error vs latent size",
        "latent size k",
        "test MSE",
        "PCA",
        "linear tied",
        "nonlinear untied",
    ] {
        assert!(
            mse.iter().any(|t| t == expected),
            "{expected:?} missing from {mse:?}"
        );
    }
    let pareto = texts("pareto");
    assert!(pareto.iter().any(|t| t == "Pareto front"), "{pareto:?}");
    let scree = texts("spectrum");
    assert!(
        scree.iter().any(|t| t == "cumulative explained variance"),
        "{scree:?}"
    );
    let angles = texts("angles");
    for expected in ["θ1", "θ2", "θ3", "degrees", "nonlinear tied"] {
        assert!(
            angles.iter().any(|t| t == expected),
            "{expected:?} missing from {angles:?}"
        );
    }
    let filters = texts("filters");
    for expected in ["PCA", "linear tied", "nonlinear untied", "1", "4"] {
        assert!(
            filters.iter().any(|t| t == expected),
            "{expected:?} missing from {filters:?}"
        );
    }
    // Dashed series are drawn as dashes: many more line pieces than series.
    let gradient_paths = select(&html, "figure#chart-gradients svg polyline").len();
    assert!(gradient_paths > 10, "{gradient_paths} polylines");
}

#[test]
fn no_nan_or_infinity_appears_anywhere() {
    let input = input("digits");
    let (out, _page, html, source) = written(&input);
    let visible: String = html.root_element().text().collect();
    assert_eq!(non_finite_words(&visible), Vec::<String>::new());
    assert_eq!(non_finite_words(&source), Vec::<String>::new());
    for entry in fs::read_dir(out.path().join("digits")).unwrap() {
        let path = entry.unwrap().path();
        if path
            .extension()
            .is_some_and(|e| e == "svg" || e == "csv" || e == "json")
        {
            let text = fs::read_to_string(&path).unwrap();
            assert_eq!(
                non_finite_words(&text),
                Vec::<String>::new(),
                "{}",
                path.display()
            );
        }
    }
}

#[test]
fn table_cells_match_the_dataframe() {
    let input = input("digits");
    let (_out, _page, html, _) = written(&input);
    let frame = &input.results;
    let header: Vec<String> = select(&html, "table#table-results thead th")
        .iter()
        .map(text_of)
        .collect();
    let names: Vec<String> = frame
        .get_column_names()
        .iter()
        .map(|n| n.to_string())
        .collect();
    assert_eq!(header, names);

    let rows = select(&html, "table#table-results tbody tr");
    assert_eq!(rows.len(), frame.height());
    let td = Selector::parse("td").unwrap();
    for (r, row) in rows.iter().enumerate() {
        let cells: Vec<String> = row.select(&td).map(|c| text_of(&c)).collect();
        assert_eq!(cells.len(), frame.width());
        for (c, column) in frame.columns().iter().enumerate() {
            let cell = &cells[c];
            match column.dtype() {
                DataType::Float64 => match column.f64().unwrap().get(r) {
                    None => assert_eq!(cell, MISSING, "row {r}, {}", column.name()),
                    Some(v) => {
                        assert_eq!(cell, &format_number(v).unwrap());
                        let back: f64 = cell.parse().unwrap();
                        let scale = v.abs().max(f64::MIN_POSITIVE);
                        assert!((back - v).abs() / scale <= 5e-4, "row {r}: {cell} vs {v}");
                    }
                },
                DataType::Int64 => {
                    let v = column.i64().unwrap().get(r).unwrap();
                    assert_eq!(
                        cell.parse::<i64>().unwrap(),
                        v,
                        "integers are shown in full"
                    );
                }
                DataType::Boolean => {
                    let v = column.bool().unwrap().get(r).unwrap();
                    assert_eq!(cell.parse::<bool>().unwrap(), v);
                }
                DataType::String => {
                    assert_eq!(cell, column.str().unwrap().get(r).unwrap().trim());
                }
                other => panic!("fixture has an unexpected column type {other}"),
            }
        }
    }
    // The parameter-count section's table came from its own frame.
    let params: Vec<String> = select(&html, "table#table-params tbody td")
        .iter()
        .map(text_of)
        .collect();
    assert_eq!(params, ["64-8", "576", "1096", "64-32-8", "2408", "4776"]);
    // Numeric columns are marked for right alignment, text columns are not.
    let classes: Vec<Option<&str>> = select(&html, "table#table-results thead th")
        .iter()
        .map(|th| th.value().attr("class"))
        .collect();
    assert_eq!(classes[0], None);
    assert_eq!(classes[3], Some("num"));
}

/// The results caption says what its row count counts: a frame of the
/// results columns holding one cell twice (two parts of a study ran it)
/// gives its rows and its distinct cells, one holding each cell once says
/// its rows are distinct cells, and a table of other columns is not
/// counted in cells.
#[test]
fn the_results_caption_counts_distinct_cells() {
    let cell = |model: &str, seed: i64, seconds: f64| tiedae::study::Row {
        dataset: "digits".into(),
        model: model.into(),
        activation: "relu".into(),
        bias_mode: "separate".into(),
        latent: 8,
        params: 584,
        n_train: 1438,
        seed,
        l2: 0.0,
        sparsity_weight: 0.0,
        train_mse: 0.010,
        test_mse: 0.012,
        pca_test_mse: 0.011,
        ratio_to_pca: 0.012 / 0.011,
        epochs: 100,
        seconds,
        max_angle_deg: Some(30.0),
        mean_angle_deg: Some(12.0),
        wwt_minus_i: None,
        dead_fraction: 0.0,
        sparsity: 0.0,
        learning_rate: Some(1e-3),
        best_epoch: 80,
        val_mse: 0.0115,
        stop_reason: "patience".into(),
        val_mse_at_budget: Some(0.02),
    };
    let caption = |results: DataFrame| -> String {
        let mut input = input("digits");
        input.results = results;
        let (_out, _page, html, _) = written(&input);
        text_of(&select(&html, "section#results p.caption")[0])
    };
    let once = vec![
        cell("tied", 0, 1.0),
        cell("tied", 1, 1.0),
        cell("untied", 0, 1.0),
    ];
    let mut twice = once.clone();
    // The same cell again, as a second part of the study timed it.
    twice.push(cell("tied", 1, 2.5));
    let c = caption(tiedae::study::rows_to_frame(&once).unwrap());
    assert!(c.contains("3 rows, one per distinct cell"), "{c}");
    let c = caption(tiedae::study::rows_to_frame(&twice).unwrap());
    assert!(c.contains("4 rows for 3 distinct cells"), "{c}");
    let c = caption(results_frame());
    assert!(c.contains("Every result, one row each: 4 rows"), "{c}");
}

#[test]
fn user_text_is_escaped() {
    let name = "<script>alert(\"x\")</script> digits";
    let mut input = input(name);
    input.sections[0].caption = "look at <img src=x onerror=alert(1)> this".into();
    let (out, page, html, source) = written(&input);
    assert_eq!(
        page,
        out.path()
            .join(report_dir_name(name).unwrap())
            .join(PAGE_FILE)
    );
    assert!(
        select(&html, "script").is_empty(),
        "a script element got through"
    );
    assert!(
        select(&html, "img").is_empty(),
        "an img element got through"
    );
    assert!(select(&html, "section#findings i").is_empty());
    assert!(select(&html, "td b").is_empty());
    assert!(source.contains("&lt;script&gt;"));
    // Escaped, the text reads back exactly as given.
    assert_eq!(text_of(&select(&html, "h1")[0]), name);
    let caption = text_of(&select(&html, "figure#chart-mse-vs-latent figcaption")[0]);
    assert!(
        caption.starts_with("look at <img src=x onerror=alert(1)> this"),
        "{caption}"
    );
    let cell_texts: Vec<String> = select(&html, "table#table-results td")
        .iter()
        .map(text_of)
        .collect();
    assert!(cell_texts.iter().any(|t| t == "<b>bold</b> & co"));

    let index = Html::parse_document(&fs::read_to_string(out.path().join("index.html")).unwrap());
    assert!(select(&index, "script").is_empty());
    let link = &select(&index, "#table-reports a")[0];
    assert_eq!(text_of(link), name);
}

#[test]
fn the_page_is_self_contained() {
    let (_out, _page, html, _) = written(&input("digits"));
    for tag in ["script", "img", "link", "iframe", "object"] {
        assert!(
            select(&html, tag).is_empty(),
            "<{tag}> would load something"
        );
    }
    for a in select(&html, "[href], [src]") {
        for attr in ["href", "src"] {
            if let Some(url) = a.value().attr(attr) {
                // Embedded rasters carry their bytes; base64 may hold "//".
                if url.starts_with("data:image/png;base64,") {
                    continue;
                }
                assert!(
                    !url.contains("//") && !url.contains(':'),
                    "{attr}={url:?} reaches outside the directory"
                );
            }
        }
    }
    assert_eq!(select(&html, "head style").len(), 1);
}

#[test]
fn chart_files_match_the_inline_charts() {
    let input = input("digits");
    let (out, _page, _html, source) = written(&input);
    let dir = out.path().join("digits");
    let mut charts: Vec<(String, &str)> = input
        .sections
        .iter()
        .filter_map(|s| {
            s.chart
                .as_ref()
                .map(|c| (format!("{}.svg", s.id), c.as_str()))
        })
        .collect();
    charts.push((
        "dataset.svg".into(),
        input.dataset.samples.as_ref().unwrap().as_str(),
    ));
    for (file, chart) in charts {
        let saved = fs::read_to_string(dir.join(&file)).unwrap();
        assert_eq!(saved, chart, "{file}");
        assert!(saved.starts_with("<svg"), "{file}");
        assert!(
            source.contains(saved.trim()),
            "{file} is not the inline chart"
        );
    }
}

#[test]
fn results_files_read_back_as_the_input_frame() {
    let input = input("digits");
    let (out, _page, _html, _) = written(&input);
    let dir = out.path().join("digits");
    let file = fs::File::open(dir.join(RESULTS_PARQUET)).unwrap();
    let parquet = ParquetReader::new(file).finish().unwrap();
    assert!(
        parquet.equals_missing(&input.results),
        "{parquet}\n{}",
        input.results
    );

    let csv = CsvReadOptions::default()
        .with_has_header(true)
        .try_into_reader_with_file_path(Some(dir.join(RESULTS_CSV)))
        .unwrap()
        .finish()
        .unwrap();
    assert_eq!(csv.shape(), input.results.shape());
    assert_eq!(csv.get_column_names(), input.results.get_column_names());
    let written = csv.column("test_mse").unwrap().f64().unwrap().clone();
    let expected = input
        .results
        .column("test_mse")
        .unwrap()
        .f64()
        .unwrap()
        .clone();
    assert!(
        written.equal_missing(&expected).all(),
        "CSV floats lost precision"
    );
}

#[test]
fn index_links_every_report() {
    let out = tempfile::tempdir().unwrap();
    write_report(&input("digits"), out.path()).unwrap();
    write_report(&input("mnist10k"), out.path()).unwrap();
    // Rewriting one report keeps the other listed.
    write_report(&input("digits"), out.path()).unwrap();
    let index = Html::parse_document(&fs::read_to_string(out.path().join("index.html")).unwrap());
    assert!(index.errors.is_empty(), "{:?}", index.errors);
    let links: Vec<String> = select(&index, "#table-reports a")
        .iter()
        .map(|a| a.value().attr("href").unwrap().to_string())
        .collect();
    assert_eq!(links, ["digits/index.html", "mnist10k/index.html"]);
    for link in &links {
        assert!(out.path().join(link).is_file(), "{link} is broken");
    }
    let first_row: Vec<String> = select(&index, "#table-reports tbody tr:first-child td")
        .iter()
        .map(text_of)
        .collect();
    assert_eq!(first_row[1], "1797");
    assert_eq!(first_row[2], "64");
    // Each report page links back to the index.
    let page =
        Html::parse_document(&fs::read_to_string(out.path().join("digits/index.html")).unwrap());
    assert_eq!(select(&page, "a[href=\"../index.html\"]").len(), 1);
    // Nothing but the two reports and the index is left in the directory.
    let mut names: Vec<String> = fs::read_dir(out.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["digits", "index.html", "mnist10k"]);
}

#[test]
fn data_without_images_gets_no_image_sections() {
    let mut input = input("sensors.csv");
    input.dataset.image_shape = None;
    input.dataset.samples = None;
    input.sections.retain(|s| s.id != "filters");
    let (out, page, html, _) = written(&input);
    assert_eq!(page, out.path().join("sensors-csv").join(PAGE_FILE));
    assert!(select(&html, "figure#chart-dataset").is_empty());
    assert!(select(&html, "section#filters").is_empty());
    assert!(!out.path().join("sensors-csv/dataset.svg").exists());
    assert_eq!(select(&html, "section#mse-vs-latent").len(), 1);
}

// ------------------------------------------------------------------ errors

fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn an_output_path_under_a_file_is_an_io_error_and_writes_nothing() {
    let root = tempfile::tempdir().unwrap();
    let file = root.path().join("not-a-dir");
    fs::write(&file, b"keep me").unwrap();
    for out in [file.clone(), file.join("reports")] {
        let err = write_report(&input("digits"), &out).unwrap_err();
        match &err {
            Error::Io { path, .. } => assert!(path.starts_with(&file), "{}", path.display()),
            other => panic!("expected an Io error, got {other:?}"),
        }
        assert!(err.to_string().contains("not-a-dir"), "{err}");
    }
    assert_eq!(fs::read(&file).unwrap(), b"keep me");
    assert_eq!(entries(root.path()), ["not-a-dir"]);
}

#[test]
fn a_read_only_output_dir_is_an_io_error_naming_it() {
    use std::os::unix::fs::PermissionsExt;
    let root = tempfile::tempdir().unwrap();
    let out = root.path().join("locked");
    fs::create_dir(&out).unwrap();
    fs::set_permissions(&out, fs::Permissions::from_mode(0o555)).unwrap();
    // Privileged users write anyway; then there is nothing to test.
    if fs::write(out.join("probe"), b"").is_ok() {
        eprintln!("skipped: this user can write into a read-only directory");
        fs::set_permissions(&out, fs::Permissions::from_mode(0o755)).unwrap();
        return;
    }
    let err = write_report(&input("digits"), &out).unwrap_err();
    fs::set_permissions(&out, fs::Permissions::from_mode(0o755)).unwrap();
    match &err {
        Error::Io { path, .. } => assert_eq!(path, &out),
        other => panic!("expected an Io error, got {other:?}"),
    }
    assert!(entries(&out).is_empty());
}

#[test]
fn a_rejected_report_leaves_the_previous_one_intact() {
    let out = tempfile::tempdir().unwrap();
    let page = write_report(&input("digits"), out.path()).unwrap();
    let before = fs::read(&page).unwrap();
    let index_before = fs::read(out.path().join("index.html")).unwrap();

    let mut bad = input("digits");
    bad.results = df!("model" => ["tied", "untied"], "test_mse" => [0.02, f64::NAN]).unwrap();
    let err = write_report(&bad, out.path()).unwrap_err();
    assert!(matches!(err, Error::InvalidData(_)), "{err:?}");
    assert!(
        err.to_string().contains("test_mse") && err.to_string().contains("row 1"),
        "{err}"
    );

    assert_eq!(fs::read(&page).unwrap(), before);
    assert_eq!(
        fs::read(out.path().join("index.html")).unwrap(),
        index_before
    );
    assert_eq!(entries(out.path()), ["digits", "index.html"]);
}

#[test]
fn a_rejected_first_report_creates_no_output_dir() {
    let root = tempfile::tempdir().unwrap();
    let out = root.path().join("reports");
    let mut bad = input("digits");
    bad.findings.push("   ".into());
    assert!(matches!(
        write_report(&bad, &out),
        Err(Error::InvalidData(_))
    ));
    assert!(!out.exists());
}

#[test]
fn inconsistent_report_input_is_rejected() {
    let out = tempfile::tempdir().unwrap();
    let check = |edit: &dyn Fn(&mut ReportInput), expect: &str| {
        let mut bad = input("digits");
        edit(&mut bad);
        let err = write_report(&bad, out.path()).unwrap_err();
        assert!(err.to_string().contains(expect), "{expect:?} not in {err}");
    };
    check(
        &|i| i.sections[1].id = i.sections[0].id.clone(),
        "share the id",
    );
    check(&|i| i.sections[0].id = "results".into(), "used by the page");
    check(&|i| i.sections[0].id = "Error vs k".into(), "lowercase");
    check(
        &|i| i.sections[0].chart = None,
        "neither a chart nor a table",
    );
    check(
        &|i| i.sections[0].caption = String::new(),
        "caption is empty",
    );
    check(&|i| i.dataset.name = "***".into(), "no ASCII letter");
    check(&|i| i.dataset.n_samples = 0, "shape 0 x 64");
    check(
        &|i| i.results = DataFrame::empty(),
        "results frame is empty",
    );
    let mut bad = input("digits");
    bad.dataset.image_shape = Some((7, 8));
    assert!(matches!(
        write_report(&bad, out.path()),
        Err(Error::Shape(_))
    ));
    assert!(entries(out.path()).is_empty(), "{:?}", entries(out.path()));
}

#[test]
fn invalid_chart_input_is_an_error() {
    let good = || Series::new("tied", vec![(1.0, 0.5), (2.0, 0.25)]);
    let invalid = |chart: LineChart| match line_chart(&chart) {
        Err(Error::InvalidData(m)) => m,
        other => panic!("expected InvalidData, got {other:?}"),
    };
    assert!(line_chart(&line("t", vec![good()], true, true)).is_ok());
    let m = invalid(line(
        "t",
        vec![Series::new("tied", vec![(1.0, f64::NAN)])],
        false,
        false,
    ));
    assert!(m.contains("\"tied\"") && m.contains("NaN"), "{m}");
    invalid(line(
        "t",
        vec![Series::new("tied", vec![(f64::INFINITY, 1.0)])],
        false,
        false,
    ));
    invalid(line("t", vec![Series::new("tied", vec![])], false, false));
    invalid(line("t", vec![], false, false));
    let m = invalid(line(
        "t",
        vec![Series::new("tied", vec![(1.0, 0.0)])],
        false,
        true,
    ));
    assert!(m.contains("log"), "{m}");
    assert!(matches!(
        line_chart(&line(" ", vec![good()], false, false)),
        Err(Error::Render(_))
    ));
    assert!(matches!(
        line_chart(&line(
            "t",
            vec![Series::new("", vec![(1.0, 1.0)])],
            false,
            false
        )),
        Err(Error::Render(_))
    ));

    let grid = |tiles: Vec<Vec<f64>>| ImageGrid {
        title: "g".into(),
        tile_height: 2,
        tile_width: 2,
        column_labels: vec![],
        rows: vec![ImageRow {
            label: "r".into(),
            tiles,
        }],
        colors: TileColors::default(),
    };
    assert!(image_grid(&grid(vec![vec![0.0, 1.0, 2.0, 3.0]])).is_ok());
    for bad in [
        vec![vec![0.0; 3]],
        vec![vec![0.0, 1.0, f64::NAN, 0.0]],
        vec![],
    ] {
        assert!(matches!(image_grid(&grid(bad)), Err(Error::InvalidData(_))));
    }
    let mut wrong_labels = grid(vec![vec![0.0; 4]]);
    wrong_labels.column_labels = vec!["a".into(), "b".into()];
    assert!(matches!(
        image_grid(&wrong_labels),
        Err(Error::InvalidData(_))
    ));

    let scree = |explained: Vec<f64>, cumulative: Vec<f64>| ScreeChart {
        title: "s".into(),
        explained_ratio: explained,
        cumulative_ratio: cumulative,
        log_y: false,
    };
    assert!(scree_chart(&scree(vec![0.6, 0.3], vec![0.6, 0.9])).is_ok());
    for (e, c) in [
        (vec![], vec![]),
        (vec![0.6, 0.3], vec![0.6]),
        (vec![0.6, 0.3], vec![0.9, 0.6]),
        (vec![1.6, 0.3], vec![1.6, 1.9]),
        (vec![0.6, f64::NAN], vec![0.6, 0.9]),
    ] {
        assert!(matches!(
            scree_chart(&scree(e, c)),
            Err(Error::InvalidData(_))
        ));
    }

    let pareto = |on_front: bool, y: f64| ParetoChart {
        title: "p".into(),
        x_label: "x".into(),
        y_label: "y".into(),
        log_x: false,
        log_y: false,
        groups: vec![ParetoGroup {
            name: "tied".into(),
            points: vec![ParetoPoint {
                x: 1.0,
                y,
                on_front,
                y_interval: None,
            }],
        }],
    };
    assert!(pareto_chart(&pareto(true, 1.0)).is_ok());
    assert!(matches!(
        pareto_chart(&pareto(false, 1.0)),
        Err(Error::InvalidData(_))
    ));
    assert!(matches!(
        pareto_chart(&pareto(true, f64::NAN)),
        Err(Error::InvalidData(_))
    ));

    let bars = |values: Vec<f64>| BarChart {
        title: "b".into(),
        x_label: "x".into(),
        y_label: "y".into(),
        categories: vec!["a".into(), "b".into()],
        groups: vec![BarGroup {
            name: "tied".into(),
            values,
        }],
    };
    assert!(bar_chart(&bars(vec![1.0, -2.0])).is_ok());
    assert!(matches!(
        bar_chart(&bars(vec![1.0])),
        Err(Error::InvalidData(_))
    ));
    assert!(matches!(
        bar_chart(&bars(vec![1.0, f64::NEG_INFINITY])),
        Err(Error::InvalidData(_))
    ));
}

/// The pixels of the one PNG a chart embeds as a data URI, inflated with
/// flate2 and unfiltered here (filter types 0–4, ISO/IEC 15948 9.2).
fn embedded_png(svg: &str) -> (usize, usize, Vec<[u8; 4]>) {
    use base64::Engine;
    use std::io::Read;
    let html = Html::parse_fragment(svg);
    let images = select(&html, "image");
    assert_eq!(images.len(), 1, "one raster per chart");
    let href = images[0].value().attr("href").unwrap();
    let b64 = href.strip_prefix("data:image/png;base64,").unwrap();
    let png = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .unwrap();
    let (w, h) = png_size(&png);
    let (w, h) = (w as usize, h as usize);
    assert_eq!(&png[24..29], &[8, 6, 0, 0, 0], "8-bit RGBA, not interlaced");
    let (mut at, mut idat) = (8, Vec::new());
    while at < png.len() {
        let len = u32::from_be_bytes(png[at..at + 4].try_into().unwrap()) as usize;
        if &png[at + 4..at + 8] == b"IDAT" {
            idat.extend_from_slice(&png[at + 8..at + 8 + len]);
        }
        at += 12 + len;
    }
    let mut raw = Vec::new();
    flate2::read::ZlibDecoder::new(&idat[..])
        .read_to_end(&mut raw)
        .unwrap();
    let stride = 4 * w;
    assert_eq!(raw.len(), h * (stride + 1));
    let mut out = vec![0u8; h * stride];
    for y in 0..h {
        let filter = raw[y * (stride + 1)];
        for i in 0..stride {
            let v = raw[y * (stride + 1) + 1 + i];
            let a = if i >= 4 { out[y * stride + i - 4] } else { 0 };
            let b = if y > 0 { out[(y - 1) * stride + i] } else { 0 };
            let c = if i >= 4 && y > 0 {
                out[(y - 1) * stride + i - 4]
            } else {
                0
            };
            out[y * stride + i] = match filter {
                0 => v,
                1 => v.wrapping_add(a),
                2 => v.wrapping_add(b),
                3 => v.wrapping_add(((a as u16 + b as u16) / 2) as u8),
                4 => {
                    let p = a as i16 + b as i16 - c as i16;
                    let (pa, pb, pc) = (
                        (p - a as i16).abs(),
                        (p - b as i16).abs(),
                        (p - c as i16).abs(),
                    );
                    let pred = if pa <= pb && pa <= pc {
                        a
                    } else if pb <= pc {
                        b
                    } else {
                        c
                    };
                    v.wrapping_add(pred)
                }
                f => panic!("PNG filter type {f}"),
            };
        }
    }
    (
        w,
        h,
        out.chunks(4).map(|p| [p[0], p[1], p[2], p[3]]).collect(),
    )
}

#[test]
fn image_tiles_are_scaled_each_to_its_own_range() {
    // Two 1x3 tiles a thousand units apart: each has its own black and white.
    let svg = image_grid(&ImageGrid {
        title: "scaling".into(),
        tile_height: 1,
        tile_width: 3,
        column_labels: vec![],
        rows: vec![ImageRow {
            label: "r".into(),
            tiles: vec![vec![0.0, 0.0, 10.0], vec![1000.0, 1000.0, 1010.0]],
        }],
        colors: TileColors::Range,
    })
    .unwrap();
    let (w, h, pixels) = embedded_png(svg.as_str());
    let canvas = Html::parse_fragment(svg.as_str());
    let root = select(&canvas, "svg");
    assert_eq!(root[0].value().attr("width"), Some(w.to_string().as_str()));
    assert_eq!(root[0].value().attr("height"), Some(h.to_string().as_str()));
    // Each data pixel is a block of 8 x 8 (tiles aim at 56 px, at most 8x).
    let count = |rgba: [u8; 4]| pixels.iter().filter(|&&p| p == rgba).count();
    assert_eq!(
        count([0, 0, 0, 255]),
        2 * 2 * 64,
        "two black pixels per tile"
    );
    assert_eq!(
        count([255, 255, 255, 255]),
        2 * 64,
        "one white pixel per tile"
    );
    assert!(
        select(&canvas, "rect").len() <= 2,
        "pixels are raster, not rectangles"
    );
    assert!(
        svg.as_str().contains("<text"),
        "text must be SVG text, not paths"
    );
}

#[test]
fn diverging_tiles_put_zero_at_white_in_every_tile() {
    let svg = image_grid(&ImageGrid {
        title: "signs".into(),
        tile_height: 1,
        tile_width: 2,
        column_labels: vec![],
        rows: vec![ImageRow {
            label: "r".into(),
            tiles: vec![vec![0.0, 3.0], vec![-0.001, 0.0]],
        }],
        colors: TileColors::Diverging,
    })
    .unwrap();
    let (_, _, pixels) = embedded_png(svg.as_str());
    let count = |rgba: [u8; 4]| pixels.iter().filter(|&&p| p == rgba).count();
    // 1x2 tiles are drawn 8x: zero is white in both tiles, the largest
    // magnitude is full red in one and full blue in the other.
    assert_eq!(count([247, 247, 247, 255]), 2 * 64);
    assert_eq!(count([178, 24, 43, 255]), 64);
    assert_eq!(count([33, 102, 172, 255]), 64);
}

/// A forest plot draws one interval bar and one dot per size, in row
/// order from the top, the equivalence band once, and a zero line across
/// every row inside the band.
#[test]
fn a_forest_plot_has_one_interval_per_size_the_band_and_a_zero_line() {
    let chart = forest("Does tying cost reconstruction at equal latent size?", 6);
    let svg = forest_chart(&chart).unwrap();
    let doc = Html::parse_document(svg.as_str());
    let attr = |e: &ElementRef<'_>, name: &str| e.value().attr(name).unwrap_or("").to_string();
    let points = |e: &ElementRef<'_>| -> Vec<(f64, f64)> {
        attr(e, "points")
            .split_whitespace()
            .map(|p| {
                let (x, y) = p.split_once(',').unwrap();
                (x.parse().unwrap(), y.parse().unwrap())
            })
            .collect()
    };
    let bars: Vec<Vec<(f64, f64)>> = select(&doc, "polyline")
        .iter()
        .filter(|e| attr(e, "stroke") == "#0072B2" && attr(e, "stroke-width") == "2")
        .map(points)
        .collect();
    assert_eq!(bars.len(), chart.rows.len(), "one interval per size");
    for (bar, row) in bars.iter().zip(&chart.rows) {
        assert_eq!(bar.len(), 2, "{bar:?}");
        assert_eq!(bar[0].1, bar[1].1, "a horizontal bar");
        assert!(bar[0].0 < bar[1].0, "{row:?}");
    }
    // Rows run top to bottom in the order given; wider intervals are
    // longer bars.
    assert!(bars.windows(2).all(|w| w[0][0].1 < w[1][0].1));
    let length = |b: &Vec<(f64, f64)>| b[1].0 - b[0].0;
    assert!(bars.windows(2).all(|w| length(&w[0]) < length(&w[1])));
    let dots = select(&doc, "circle")
        .iter()
        .filter(|e| attr(e, "fill") == "#0072B2")
        .count();
    assert_eq!(dots, chart.rows.len());
    let rings = select(&doc, "circle")
        .iter()
        .filter(|e| attr(e, "stroke") == "#D55E00")
        .count();
    assert_eq!(
        rings,
        chart.rows.len() - 1,
        "a ring where there is a reference"
    );
    let band: Vec<(f64, f64)> = select(&doc, "rect")
        .iter()
        .filter(|e| attr(e, "fill") == "#DDEBF5")
        .map(|e| {
            let x: f64 = attr(e, "x").parse().unwrap();
            let w: f64 = attr(e, "width").parse().unwrap();
            (x, x + w)
        })
        .collect();
    assert_eq!(band.len(), 1, "the band is shaded once");
    let (top, bottom) = (bars[0][0].1, bars[bars.len() - 1][0].1);
    let zero = select(&doc, "polyline").iter().any(|e| {
        let p = points(e);
        attr(e, "stroke") == "#000000"
            && attr(e, "opacity") == "1"
            && p.len() == 2
            && p[0].0 == p[1].0
            && band[0].0 < p[0].0
            && p[0].0 < band[0].1
            && p[0].1.min(p[1].1) < top
            && p[0].1.max(p[1].1) > bottom
    });
    assert!(zero, "no zero line across the rows inside the band");
    let texts: Vec<String> = select(&doc, "text").iter().map(text_of).collect();
    for row in &chart.rows {
        assert!(texts.contains(&row.label), "{} missing", row.label);
        assert!(texts.contains(&row.note), "{} missing", row.note);
    }
}

/// The verdict section shows each question as a heading with its answer,
/// its forest plot beside one sentence and the account folded under it,
/// above the dataset card, with the rule stated once.
#[test]
fn the_verdict_shows_a_forest_plot_beside_a_sentence_per_question() {
    let mut input = input("digits");
    input.sections.push(verdict_section());
    let (_out, _page, html, _) = written(&input);
    let panels = select(&html, "section#verdict article.panel");
    assert_eq!(panels.len(), 3);
    assert_eq!(
        select(&html, "section#verdict article.panel figure > svg").len(),
        2
    );
    assert_eq!(
        select(&html, "section#verdict article.panel .sentence").len(),
        3
    );
    assert_eq!(
        select(&html, "section#verdict article.panel details").len(),
        2
    );
    let heading = text_of(&select(&html, "section#verdict article.panel h3")[0]);
    assert!(
        heading.contains("equal latent size") && heading.ends_with("no difference beyond ±2%"),
        "{heading}"
    );
    assert_eq!(
        select(
            &html,
            "section#verdict article.panel h3 a[href=\"#mse-vs-latent\"]"
        )
        .len(),
        2
    );
    assert_eq!(select(&html, "section#verdict > p.caption").len(), 1);
    // The verdict comes first.
    let ids: Vec<&str> = select(&html, "main > section")
        .iter()
        .filter_map(|s| s.value().attr("id"))
        .collect();
    assert_eq!(ids[..2], ["verdict", "dataset"]);
}

// ---------------------------------------------------------------- browser

const CHROMIUM: &str = "/usr/bin/chromium";
/// Generous: a cold Chromium start on a loaded 2-core machine takes seconds.
/// Only stops a hung browser; the test never judges how long it took.
const BROWSER_DEADLINE: Duration = Duration::from_secs(240);

/// Width and height from a PNG's IHDR chunk.
fn png_size(bytes: &[u8]) -> (u32, u32) {
    assert!(
        bytes.len() > 24 && bytes.starts_with(b"\x89PNG\r\n\x1a\n"),
        "not a PNG"
    );
    assert_eq!(&bytes[12..16], b"IHDR");
    let be = |i: usize| u32::from_be_bytes([bytes[i], bytes[i + 1], bytes[i + 2], bytes[i + 3]]);
    (be(16), be(20))
}

#[test]
fn a_headless_browser_renders_the_page_without_console_errors() {
    if !Path::new(CHROMIUM).exists() {
        // CI installs Chromium and sets TIEDAE_REQUIRE_BROWSER, so there the
        // browser check can never be skipped silently.
        assert!(
            std::env::var_os("TIEDAE_REQUIRE_BROWSER").is_none(),
            "TIEDAE_REQUIRE_BROWSER is set but {CHROMIUM} is absent"
        );
        eprintln!("skipped: {CHROMIUM} is absent (Debian: apt-get install -y chromium)");
        return;
    }
    let (out, page, _html, _) = written(&input("digits"));
    let profile = tempfile::tempdir().unwrap();
    let screenshot = out.path().join("screenshot.png");
    let log_path = out.path().join("chromium.log");
    let log = fs::File::create(&log_path).unwrap();
    let mut child = Command::new(CHROMIUM)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--enable-logging=stderr",
            "--v=0",
            "--window-size=1200,3000",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(format!("--screenshot={}", screenshot.display()))
        .arg(format!("file://{}", page.display()))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::from(log))
        .spawn()
        .unwrap();
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > BROWSER_DEADLINE {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "chromium did not exit; log:\n{}",
                fs::read_to_string(&log_path).unwrap()
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let stderr = fs::read_to_string(&log_path).unwrap();
    assert!(status.success(), "chromium failed ({status}):\n{stderr}");
    for marker in ["Uncaught", "ERROR:CONSOLE"] {
        assert!(
            !stderr.contains(marker),
            "console error in the page:\n{stderr}"
        );
    }
    let png = fs::read(&screenshot).expect("no screenshot written");
    assert_eq!(png_size(&png), (1200, 3000));
    if let Some(keep) = std::env::var_os("TIEDAE_KEEP_SCREENSHOT") {
        fs::copy(&screenshot, keep).unwrap();
    }
}

#[test]
fn scatter_dots_are_raster_discs_in_their_class_colour() {
    use tiedae::report::charts::{ScatterChart, ScatterPanel, scatter_chart};
    // Far-apart points: no two discs overlap.
    let points = vec![(0.0, 0.0), (10.0, 0.0), (0.0, 10.0), (10.0, 10.0)];
    let svg = scatter_chart(&ScatterChart {
        title: "codes".into(),
        labels: vec![0, 1, 1, 3],
        panels: vec![
            ScatterPanel {
                title: "PCA".into(),
                points: points.clone(),
            },
            ScatterPanel {
                title: "tied".into(),
                points,
            },
        ],
    })
    .unwrap();
    let (_, _, pixels) = embedded_png(svg.as_str());
    let count = |rgba: [u8; 4]| pixels.iter().filter(|&&p| p == rgba).count();
    // A disc is 5 x 3 plus 3 x 5 less their 3 x 3 overlap: 21 pixels.
    assert_eq!(
        count([0x1f, 0x77, 0xb4, 255]),
        2 * 21,
        "class 0: once per panel"
    );
    assert_eq!(
        count([0xff, 0x7f, 0x0e, 255]),
        2 * 2 * 21,
        "class 1: twice per panel"
    );
    assert_eq!(count([0xd6, 0x27, 0x28, 255]), 2 * 21, "class 3");
    assert_eq!(
        pixels.iter().filter(|p| p[3] != 0).count(),
        8 * 21,
        "nothing but the dots"
    );
}

/// Runs Chromium headless with `args` and `page`, its stdout into
/// `stdout`, its log into `log`; panics if it hangs or fails.
fn chromium(args: &[String], page: &Path, stdout: &Path, log: &Path) {
    let profile = tempfile::tempdir().unwrap();
    let mut child = Command::new(CHROMIUM)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--enable-logging=stderr",
            "--v=0",
        ])
        .args(args)
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(format!("file://{}", page.display()))
        .stdin(Stdio::null())
        .stdout(Stdio::from(fs::File::create(stdout).unwrap()))
        .stderr(Stdio::from(fs::File::create(log).unwrap()))
        .spawn()
        .unwrap();
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > BROWSER_DEADLINE {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "chromium did not exit; log:\n{}",
                fs::read_to_string(log).unwrap()
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(
        status.success(),
        "chromium failed ({status}):\n{}",
        fs::read_to_string(log).unwrap()
    );
}

/// What the probe reports when nothing is wider than the page.
const NO_OVERFLOW: &str = "none";

/// Measures the laid-out page: every element of the verdict whose box
/// reaches past the page's width or whose content is wider than its box
/// (a cell that does not wrap), and whether the page scrolls sideways.
/// Written into the page as `#overflow-probe`, which `--dump-dom` prints.
const OVERFLOW_PROBE: &str = r##"<script>
(function () {
  var page = document.documentElement.clientWidth;
  var wide = [];
  var all = document.querySelectorAll("#verdict, #verdict *");
  for (var i = 0; i < all.length; i++) {
    var e = all[i];
    var box = e.getBoundingClientRect();
    var name = e.tagName.toLowerCase() + (e.id ? "#" + e.id : "") +
      (typeof e.className === "string" && e.className ? "." + e.className : "");
    if (box.right > page + 1 || box.left < -1) {
      wide.push(name + " spans " + Math.round(box.left) + ".." + Math.round(box.right));
    } else if (e.clientWidth > 0 && e.scrollWidth > e.clientWidth + 1) {
      wide.push(name + " holds " + e.scrollWidth + " px in " + e.clientWidth);
    }
  }
  if (document.documentElement.scrollWidth > page + 1) {
    wide.push("the page scrolls sideways: " + document.documentElement.scrollWidth + " px in " + page);
  }
  var out = document.createElement("pre");
  out.id = "overflow-probe";
  out.setAttribute("data-width", String(page));
  out.textContent = wide.length ? wide.join("\n") : "none";
  document.body.appendChild(out);
})();
</script>"##;

/// At a 1000 px wide window no element of the verdict is wider than the
/// page: its forest plots scale down and its long texts wrap.
#[test]
fn at_1000_px_nothing_in_the_verdict_is_wider_than_the_page() {
    if !Path::new(CHROMIUM).exists() {
        assert!(
            std::env::var_os("TIEDAE_REQUIRE_BROWSER").is_none(),
            "TIEDAE_REQUIRE_BROWSER is set but {CHROMIUM} is absent"
        );
        eprintln!("skipped: {CHROMIUM} is absent (Debian: apt-get install -y chromium)");
        return;
    }
    let mut input = input("digits");
    input.sections.push(verdict_section());
    let (out, page, _html, source) = written(&input);
    assert_eq!(source.matches("</body>").count(), 1);
    // A test-only copy with the probe; the page itself runs no script.
    let probe = page.with_file_name("probe.html");
    fs::write(
        &probe,
        source.replace("</body>", &format!("{OVERFLOW_PROBE}</body>")),
    )
    .unwrap();
    let dom = out.path().join("dom.html");
    let args: Vec<String> = [
        "--window-size=1000,3000",
        "--virtual-time-budget=5000",
        "--dump-dom",
    ]
    .iter()
    .map(|a| a.to_string())
    .collect();
    chromium(&args, &probe, &dom, &out.path().join("chromium.log"));
    let dumped = Html::parse_document(&fs::read_to_string(&dom).unwrap());
    let found = select(&dumped, "#overflow-probe");
    assert_eq!(found.len(), 1, "the probe did not run");
    let width: f64 = found[0]
        .value()
        .attr("data-width")
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        width > 900.0 && width <= 1000.0,
        "laid out {width} px wide, not at 1000 px"
    );
    assert_eq!(
        text_of(&found[0]),
        NO_OVERFLOW,
        "wider than the page at 1000 px"
    );
}
