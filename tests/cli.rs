//! The `report` binary from the outside: real runs on small cases (the page
//! parses, holds every section and chart, its tables agree with
//! results.csv, nothing reads NaN or inf, stdout ends with the page's path)
//! and bad input (non-zero exit, one error line, no report left behind).

use scraper::{ElementRef, Html, Selector};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use tiedae::report::number::format_number;

fn report(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_report"))
        .args(args)
        .output()
        .expect("the report binary runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Runs a report that must succeed; returns the page path from stdout.
fn report_ok(args: &[&str]) -> PathBuf {
    let out = report(args);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "{args:?} failed:\n{stderr}");
    let last = stdout.lines().last().expect("stdout has a line");
    let page = PathBuf::from(last);
    assert!(page.is_file(), "last stdout line {last:?} is not a file");
    assert_eq!(page.file_name().unwrap(), "index.html");
    page
}

fn select<'a>(html: &'a Html, css: &str) -> Vec<ElementRef<'a>> {
    let selector = Selector::parse(css).unwrap();
    html.select(&selector).collect()
}

fn inner_text(e: &ElementRef<'_>) -> String {
    e.text().collect::<String>().trim().to_string()
}

/// Words of `text` that spell a non-finite number.
fn non_finite_words(text: &str) -> Vec<String> {
    text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '.'))
        .filter(|w| {
            let w = w.trim_matches('.').to_ascii_lowercase();
            w == "nan" || w == "inf" || w == "infinity"
        })
        .map(str::to_string)
        .collect()
}

/// results.csv as a header and rows of cells (the frame has no commas in
/// its text cells).
fn read_csv(path: &Path) -> (Vec<String>, Vec<Vec<String>>) {
    let body = fs::read_to_string(path).unwrap();
    let mut lines = body.lines();
    let header = lines
        .next()
        .unwrap()
        .split(',')
        .map(str::to_string)
        .collect();
    let rows = lines
        .map(|l| l.split(',').map(str::to_string).collect())
        .collect();
    (header, rows)
}

/// What a results.csv cell must look like in the page's table.
fn shown(csv_cell: &str) -> String {
    if csv_cell.is_empty() {
        return "—".to_string();
    }
    if csv_cell.parse::<i64>().is_ok() {
        return csv_cell.to_string();
    }
    match csv_cell.parse::<f64>() {
        Ok(v) => format_number(v).unwrap(),
        Err(_) => csv_cell.to_string(),
    }
}

/// Checks a written report page; returns the ids of its sections.
fn check_page(page: &Path) -> Vec<String> {
    let body = fs::read_to_string(page).unwrap();
    let html = Html::parse_document(&body);
    assert!(html.errors.is_empty(), "HTML errors: {:?}", html.errors);
    let dir = page.parent().unwrap();

    // Self-contained: nothing fetched from the network.
    for attr in ["src", "href"] {
        for e in select(&html, &format!("[{attr}]")) {
            let v = e.value().attr(attr).unwrap();
            assert!(!v.contains("://"), "{attr}={v:?} leaves the page");
        }
    }
    let words = non_finite_words(&html.root_element().text().collect::<String>());
    assert!(words.is_empty(), "non-finite words on the page: {words:?}");
    for svg in fs::read_dir(dir).unwrap() {
        let path = svg.unwrap().path();
        if path.extension().is_some_and(|e| e == "svg") {
            let svg_text = fs::read_to_string(&path).unwrap();
            let words = non_finite_words(&svg_text);
            assert!(words.is_empty(), "{}: {words:?}", path.display());
        }
    }

    // Every figure holds a drawn chart, also saved as its own file.
    let figures = select(&html, "figure");
    assert!(!figures.is_empty());
    for figure in &figures {
        let id = figure.value().attr("id").unwrap();
        let svg = select(&html, &format!("#{id} svg"));
        assert_eq!(svg.len(), 1, "{id} has no inline SVG");
        let marks = svg[0]
            .descendants()
            .filter_map(ElementRef::wrap)
            .filter(|e| ["path", "polyline", "rect", "circle", "line"].contains(&e.value().name()))
            .count();
        // Image grids and scatter dots are one embedded PNG raster.
        let rasters = svg[0]
            .descendants()
            .filter_map(ElementRef::wrap)
            .filter(|e| e.value().name() == "image")
            .count();
        assert!(
            marks > 10 || rasters == 1,
            "{id}: only {marks} drawn elements"
        );
        let caption = select(&html, &format!("#{id} figcaption"));
        let least = if id == "chart-dataset" { 10 } else { 80 };
        assert!(
            inner_text(&caption[0]).len() > least,
            "{id}: caption too short"
        );
        let file = id.strip_prefix("chart-").unwrap();
        assert!(
            dir.join(format!("{file}.svg")).is_file(),
            "{file}.svg missing"
        );
    }

    // The results table is results.csv, formatted.
    let (header, rows) = read_csv(&dir.join("results.csv"));
    let table_header: Vec<String> = select(&html, "#table-results thead th")
        .iter()
        .map(inner_text)
        .collect();
    assert_eq!(table_header, header);
    // Long tables show their first 20 and last 5 rows around a gap row.
    let table_rows: Vec<ElementRef<'_>> = select(&html, "#table-results tbody tr")
        .into_iter()
        .filter(|tr| tr.value().attr("class") != Some("gap"))
        .collect();
    let visible: Vec<&Vec<String>> = if rows.len() > 30 {
        rows[..20].iter().chain(&rows[rows.len() - 5..]).collect()
    } else {
        rows.iter().collect()
    };
    assert_eq!(table_rows.len(), visible.len());
    let gaps = select(&html, "#table-results tbody tr.gap");
    assert_eq!(gaps.len(), usize::from(rows.len() > 30));
    if let Some(gap) = gaps.first() {
        assert!(inner_text(gap).contains(&format!("{} more rows", rows.len() - 25)));
    }
    for (tr, csv_row) in table_rows.iter().zip(visible) {
        let cells: Vec<String> = tr
            .children()
            .filter_map(ElementRef::wrap)
            .map(|c| inner_text(&c))
            .collect();
        let expected: Vec<String> = csv_row.iter().map(|c| shown(c)).collect();
        assert_eq!(cells, expected);
    }

    // Every parameter count in the table is a count of results.csv at that
    // latent size.
    if !select(&html, "#table-parameter-counts").is_empty() {
        let latent = header.iter().position(|h| h == "latent").unwrap();
        let params = header.iter().position(|h| h == "params").unwrap();
        let heads: Vec<String> = select(&html, "#table-parameter-counts thead th")
            .iter()
            .map(inner_text)
            .collect();
        let mut checked = 0;
        for tr in select(&html, "#table-parameter-counts tbody tr") {
            let cells: Vec<String> = tr
                .children()
                .filter_map(ElementRef::wrap)
                .map(|c| inner_text(&c))
                .collect();
            for (c, cell) in cells.iter().enumerate().skip(1) {
                if cell == "—" {
                    continue;
                }
                let k = heads[c].trim_start_matches("k = ");
                assert!(
                    rows.iter().any(|r| r[latent] == k && r[params] == *cell),
                    "parameter cell {cell} at k = {k} is not in results.csv"
                );
                checked += 1;
            }
        }
        assert!(checked > 0);
    }

    // The index page beside the report directories links this report.
    let index = Html::parse_document(
        &fs::read_to_string(dir.parent().unwrap().join("index.html")).unwrap(),
    );
    let name = dir.file_name().unwrap().to_str().unwrap();
    let links: Vec<String> = select(&index, "a[href]")
        .iter()
        .map(|a| a.value().attr("href").unwrap().to_string())
        .collect();
    assert!(links.contains(&format!("{name}/index.html")), "{links:?}");
    assert!(dir.join("results.parquet").is_file());

    select(&html, "main > section")
        .iter()
        .map(|s| s.value().attr("id").unwrap().to_string())
        .collect()
}

const EVERY_SECTION: [&str; 16] = [
    "verdict",
    "dataset",
    "findings",
    "pca-spectrum",
    "mse-vs-latent",
    "mse-vs-params",
    "overfitting",
    "training-curves",
    "gradient-norms",
    "filters",
    "reconstructions",
    "latent-scatter",
    "principal-angles",
    "learning-rates",
    "parameter-counts",
    "results",
];

#[test]
fn digits_report_has_every_section_and_chart() {
    let out = tempfile::tempdir().unwrap();
    let dir = out.path().join("reports");
    let page = report_ok(&[
        "--quick",
        "--latent",
        "2,4",
        "--epochs",
        "5",
        "--out",
        dir.to_str().unwrap(),
    ]);
    assert_eq!(page, dir.join("digits").join("index.html"));
    let ids = check_page(&page);
    assert_eq!(ids, EVERY_SECTION);
    let html = Html::parse_document(&fs::read_to_string(&page).unwrap());
    assert!(
        !select(&html, "#chart-dataset svg").is_empty(),
        "no sample images"
    );
    let findings = select(&html, "#findings li");
    assert!(findings.len() >= 3, "{} findings", findings.len());
    // Findings quote measured numbers, not fixed text.
    assert!(
        findings
            .iter()
            .all(|f| inner_text(f).chars().any(|c| c.is_ascii_digit()))
    );
    // Nothing but the report, the index and the cell cache is left in the
    // output directory.
    let mut entries: Vec<String> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    entries.sort();
    assert_eq!(entries, [".cache", "digits", "index.html"]);
}

/// A small labelled CSV: 3 latent directions in 6 features plus noise.
fn write_csv(path: &Path, rows: usize) {
    let mut body = String::from("a,b,c,d,e,f,label\n");
    for i in 0..rows {
        let t = i as f64;
        let (u, v, w) = (
            (t * 0.37).sin(),
            (t * 0.11).cos(),
            ((t * 0.05).sin() * 3.0).tanh(),
        );
        let noise = |j: usize| (((i * 31 + j * 17) % 23) as f64 / 23.0 - 0.5) * 0.05;
        let x = [
            u + noise(0),
            v + noise(1),
            u - v + noise(2),
            w + noise(3),
            0.5 * u + w + noise(4),
            v - w + noise(5),
        ];
        let cells: Vec<String> = x.iter().map(|v| format!("{v}")).collect();
        body.push_str(&format!("{},{}\n", cells.join(","), i % 3));
    }
    fs::write(path, body).unwrap();
}

#[test]
fn table_data_gets_no_image_sections() {
    let root = tempfile::tempdir().unwrap();
    let csv = root.path().join("Small table.csv");
    write_csv(&csv, 150);
    let out = root.path().join("out");
    let page = report_ok(&[
        "--dataset",
        csv.to_str().unwrap(),
        "--label-column",
        "label",
        "--quick",
        "--latent",
        "2,3",
        "--epochs",
        "5",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(page, out.join("small-table").join("index.html"));
    let ids = check_page(&page);
    let expected: Vec<&str> = EVERY_SECTION
        .into_iter()
        .filter(|id| !["filters", "reconstructions"].contains(id))
        .collect();
    assert_eq!(ids, expected);
    let html = Html::parse_document(&fs::read_to_string(&page).unwrap());
    assert!(select(&html, "#chart-dataset").is_empty());
    assert!(!page.parent().unwrap().join("dataset.svg").exists());
}

/// Runs a report that must fail; checks the one-line error and that no
/// report directory appeared in `out`. Returns the error line.
fn report_err(args: &[&str], out: &Path) -> String {
    let before = listing(out);
    let result = report(args);
    let stderr = text(&result.stderr);
    assert!(!result.status.success(), "{args:?} succeeded");
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    let last = *lines.last().unwrap_or(&"");
    assert!(last.starts_with("error: "), "{args:?}: {stderr}");
    // Only the error: no usage text or backtrace after it, and progress
    // lines (if any) are not errors.
    assert_eq!(
        lines.iter().filter(|l| l.starts_with("error")).count(),
        1,
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(text(&result.stdout).trim().is_empty());
    assert_eq!(listing(out), before, "{args:?} changed {}", out.display());
    last.to_string()
}

fn listing(dir: &Path) -> Vec<String> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut names: Vec<String> = entries
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn bad_input_fails_with_one_line_and_writes_nothing() {
    let root = tempfile::tempdir().unwrap();
    let out = root.path().join("reports");
    let o = out.to_str().unwrap();
    let csv = root.path().join("small.csv");
    write_csv(&csv, 60);
    let c = csv.to_str().unwrap();
    let words = root.path().join("words.csv");
    fs::write(&words, "a,b\n1,2\n3,x\n4,5\n").unwrap();
    let file = root.path().join("a-file");
    fs::write(&file, "not a directory").unwrap();
    let under_file = file.join("reports");

    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["--dataset", "digitz"], "unknown dataset"),
        (vec!["--dataset", "/no/such/data.csv"], "no such data file"),
        (vec!["--dataset", words.to_str().unwrap()], "\"x\""),
        (
            vec!["--latent", "2,65"],
            "larger than the data's dimension 64",
        ),
        (vec!["--latent", "0"], "--latent"),
        (vec!["--latent", "two"], "--latent"),
        (vec!["--dataset", c, "--image-shape", "3"], "--image-shape"),
        (vec!["--dataset", c, "--image-shape", "4x4"], "4 x 4"),
        (vec!["--dataset", c, "--label-column", "nope"], "nope"),
        (vec!["--epochs", "0"], "--epochs"),
        (vec!["--study", "nonsense"], "unknown study"),
        (vec!["--no-such-flag"], "--no-such-flag"),
    ];
    for (args, expect) in cases {
        let mut all = args.clone();
        all.extend(["--out", o]);
        let line = report_err(&all, &out);
        assert!(line.contains(expect), "{args:?}: {line:?} lacks {expect:?}");
        assert!(!out.exists(), "{args:?} created {}", out.display());
    }

    // Unwritable output directories: a path under a file, and the file.
    for bad in [&under_file, &file] {
        let line = report_err(&["--quick", "--out", bad.to_str().unwrap()], root.path());
        assert!(line.contains("a-file"), "{line}");
    }
    assert_eq!(fs::read_to_string(&file).unwrap(), "not a directory");

    // A failing run beside an existing report leaves that report alone.
    fs::create_dir_all(out.join("digits")).unwrap();
    fs::write(out.join("digits").join("index.html"), "old").unwrap();
    report_err(&["--latent", "100", "--out", o], &out);
    assert_eq!(
        fs::read_to_string(out.join("digits").join("index.html")).unwrap(),
        "old"
    );
}

/// The example report committed under reports/ is what the code makes
/// today: the default job is rerun and its results must equal the committed
/// results.csv in every column but the wall-clock `seconds` (training is
/// deterministic for any thread count). Regenerate it with
/// `cargo run --release --bin report` when this fails.
#[test]
fn committed_example_report_is_current() {
    let out = tempfile::tempdir().unwrap();
    let page = report_ok(&["--out", out.path().to_str().unwrap()]);
    let fresh = tiedae::study::read_csv(&page.parent().unwrap().join("results.csv")).unwrap();
    let committed = tiedae::study::read_csv(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("reports/digits/results.csv"),
    )
    .unwrap();
    let (fresh, committed) = (
        fresh.drop("seconds").unwrap(),
        committed.drop("seconds").unwrap(),
    );
    assert_eq!(fresh.shape(), committed.shape(), "rerun the default report");
    assert!(
        fresh.equals_missing(&committed),
        "reports/digits/results.csv is stale: rerun `cargo run --release --bin report`"
    );
}

/// A labelled table of `d` features over `rows` rows: a few smooth latent
/// signals mixed into every column, plus deterministic noise.
fn write_wide_csv(path: &Path, rows: usize, d: usize) {
    let mut body: String = (0..d).map(|j| format!("x{j},")).collect();
    body.push_str("label\n");
    for i in 0..rows {
        let t = i as f64;
        let signals = [(t * 0.37).sin(), (t * 0.11).cos(), (t * 0.053).sin()];
        let cells: Vec<String> = (0..d)
            .map(|j| {
                let mix: f64 = signals
                    .iter()
                    .enumerate()
                    .map(|(s, v)| v * (((j + 1) * (s + 2)) as f64).sin())
                    .sum();
                let noise = (((i * 31 + j * 17) % 23) as f64 / 23.0 - 0.5) * 0.1;
                format!("{}", mix + noise)
            })
            .collect();
        body.push_str(&format!("{},{}\n", cells.join(","), i % 2));
    }
    fs::write(path, body).unwrap();
}

/// Default flags fit the table they meet: on 30 features the default latent
/// sizes above 30 are dropped (and the page says so); on 3 features only
/// the sizes below 3 remain. Neither run names a latent size.
#[test]
fn default_flags_work_on_tables_of_any_width() {
    for (d, kept, dropped) in [(30, "2, 4, 8, 16", "32"), (3, "2", "4, 8, 16, 32")] {
        let root = tempfile::tempdir().unwrap();
        let csv = root.path().join(format!("table{d}.csv"));
        write_wide_csv(&csv, 569, d);
        let out = root.path().join("out");
        let page = report_ok(&[
            "--dataset",
            csv.to_str().unwrap(),
            "--label-column",
            "label",
            "--out",
            out.to_str().unwrap(),
        ]);
        let html = fs::read_to_string(&page).unwrap();
        // The swept sizes, alone or beside the sizes a study adds.
        assert!(
            html.contains(&format!("<dd>{kept}</dd>"))
                || html.contains(&format!("(the sweep {kept}, and")),
            "d = {d}: latent sizes"
        );
        assert!(
            html.contains(&format!(
                "the default sizes {dropped} do not fit {d} features"
            )),
            "d = {d}: the page must say which defaults were dropped"
        );
        let results = tiedae::study::read_csv(&page.parent().unwrap().join("results.csv")).unwrap();
        let latents = results.column("latent").unwrap().i64().unwrap();
        assert!(latents.iter().all(|k| k.is_some_and(|k| (k as usize) < d)));
    }
}

/// `--version` names the git revision the binary was built from, so a
/// report can be traced to its code.
#[test]
fn version_names_the_git_revision() {
    let out = report(&["--version"]);
    assert!(out.status.success());
    let line = text(&out.stdout);
    let want = format!("report {} (git ", env!("CARGO_PKG_VERSION"));
    assert!(line.starts_with(&want), "{line:?}");
    let head = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output();
    if let Ok(head) = head
        && head.status.success()
    {
        let rev = text(&head.stdout).trim().to_string();
        assert_eq!(line.trim(), format!("{want}{rev})"));
    }
}

/// SIGTERM (what a batch scheduler sends at its time limit) stops the run
/// between cells: the report exits with 130 and one line counting the cells
/// done, writes no report, and the same command continues from the cache to
/// the results a run without interruption gives.
#[test]
fn sigterm_keeps_finished_cells_and_the_same_command_continues() {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;
    let out = tempfile::tempdir().unwrap();
    let dir = out.path().to_str().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_report"))
        .args(["--out", dir])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = Vec::new();
    let mut sent = false;
    for line in BufReader::new(child.stderr.take().unwrap()).lines() {
        let line = line.unwrap();
        // Progress lines read "[  1.2s] 7/270 (eta 20 s) ...".
        let done = line
            .split_once("] ")
            .and_then(|(_, rest)| rest.split_once('/'))
            .and_then(|(n, _)| n.parse::<usize>().ok());
        if !sent && done.is_some_and(|d| d >= 12) {
            let status = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status()
                .unwrap();
            assert!(status.success());
            sent = true;
        }
        lines.push(line);
    }
    let status = child.wait().unwrap();
    assert!(sent, "the run ended before 12 cells:\n{}", lines.join("\n"));
    assert_eq!(status.code(), Some(130), "{}", lines.join("\n"));
    let last = lines.last().unwrap();
    assert!(
        last.starts_with("error: interrupted: ") && last.contains("cells done and cached"),
        "{last}"
    );
    assert!(
        !out.path().join("digits").exists(),
        "no report after a stop"
    );
    let cached = fs::read_dir(out.path().join(".cache")).unwrap().count();
    assert!(cached > 0, "finished cells are cached");

    let page = report_ok(&["--out", dir]);
    let resumed = tiedae::study::read_csv(&page.parent().unwrap().join("results.csv")).unwrap();
    let committed = tiedae::study::read_csv(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("reports/digits/results.csv"),
    )
    .unwrap();
    let (resumed, committed) = (
        resumed.drop("seconds").unwrap(),
        committed.drop("seconds").unwrap(),
    );
    assert!(
        resumed.equals_missing(&committed),
        "a resumed run differs from an uninterrupted one"
    );
}

/// `--results` draws a report from a finished results file without
/// training: the same verdict as the run that made the file, the
/// frame-drawn sections only, and that run's provenance.
#[test]
fn a_report_from_results_alone_repeats_the_trained_runs_verdict() {
    let committed = Path::new(env!("CARGO_MANIFEST_DIR")).join("reports/digits");
    let results = committed.join("results.parquet");
    let out = tempfile::tempdir().unwrap();
    let dir = out.path().to_str().unwrap();
    let page = report_ok(&["--results", results.to_str().unwrap(), "--out", dir]);
    let html = Html::parse_document(&fs::read_to_string(&page).unwrap());
    let trained = Html::parse_document(&fs::read_to_string(committed.join("index.html")).unwrap());
    // Each question's heading and answer, its sentence and its full
    // account.
    let cells = |h: &Html| -> Vec<String> {
        select(
            h,
            "#verdict .panel h3, #verdict .panel .sentence, #verdict .panel details",
        )
        .iter()
        .map(inner_text)
        .collect()
    };
    assert!(!cells(&html).is_empty(), "no verdict");
    assert_eq!(cells(&html), cells(&trained));
    let ids: Vec<String> = select(&html, "main > section")
        .iter()
        .filter_map(|s| s.value().attr("id").map(str::to_string))
        .collect();
    for id in [
        "verdict",
        "mse-vs-latent",
        "mse-vs-params",
        "principal-angles",
        "results",
    ] {
        assert!(ids.iter().any(|i| i == id), "{id} missing from {ids:?}");
    }
    for id in [
        "training-curves",
        "filters",
        "reconstructions",
        "latent-scatter",
    ] {
        assert!(!ids.iter().any(|i| i == id), "{id} needs artifacts");
    }
    let footer = |h: &Html| inner_text(&select(h, "footer #dataset-sha256")[0]);
    assert_eq!(
        footer(&html),
        footer(&trained),
        "the trained run's provenance"
    );

    // Flags that only a training run uses, or data the results are not for.
    for (args, needle) in [
        (vec!["--quick"], "--quick"),
        (vec!["--dataset", "mnist10k"], "\"digits\""),
    ] {
        let mut all = vec!["--results", results.to_str().unwrap(), "--out", dir];
        all.extend(args);
        let run = report(&all);
        assert_eq!(run.status.code(), Some(1), "{all:?}");
        // Progress lines may come first; the error is one line, the last.
        let err = text(&run.stderr);
        let errors: Vec<&str> = err.lines().filter(|l| l.starts_with("error:")).collect();
        assert_eq!(errors.len(), 1, "{err}");
        assert_eq!(err.lines().last(), Some(errors[0]));
        assert!(errors[0].contains(needle), "{err}");
    }
}
