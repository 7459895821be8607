//! Writing a report directory so that no reader ever sees half of one.
//!
//! Every file of a report is rendered in memory first; only then is the disk
//! touched. The files go into a fresh hidden directory inside the output
//! directory (named as the crate's temporary files are, so a killed run's
//! is cleared later). A new report is that directory renamed into place in
//! one step; over a previous report of the same dataset each file is
//! renamed into place, the page last, so the previous page stays visible
//! until the new one replaces it. Any failure before the first rename
//! leaves the output directory as it was.

use crate::atomic::{TEMP_SUFFIX, write_bytes_atomic};
use crate::data::file::open_regular;
use crate::error::{Error, Result};
use crate::provenance::{PARQUET_KEY, Provenance};
use crate::report::input::{ReportInput, report_dir_name};
use crate::report::table::Table;
use crate::report::template::{
    ReportSummary, SAMPLES_FILE, chart_file, panel_chart_file, render_index, render_report,
};
use polars::prelude::{
    CsvWriter, DataFrame, KeyValueMetadata, ParquetReader, ParquetWriter, SerReader, SerWriter,
};
use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

/// The page of one report, and the listing page of the output directory.
pub const PAGE_FILE: &str = "index.html";
/// The results frame as Parquet (exact values, types kept).
pub const RESULTS_PARQUET: &str = "results.parquet";
/// The results frame as CSV (for spreadsheets and quick looks).
pub const RESULTS_CSV: &str = "results.csv";
/// What the index page shows about a report, kept beside it.
const SUMMARY_FILE: &str = "report.json";
/// The largest `report.json` the index reads: far more than any summary
/// this writer makes (a few kilobytes), far less than would strain memory.
const MAX_SUMMARY_BYTES: u64 = 1 << 20;
const STAGING_PREFIX: &str = ".tiedae-report-";

/// Writes the report of `input` to `out_dir/<dataset>/` and refreshes
/// `out_dir/index.html`; returns the path of the report's `index.html`.
///
/// The report directory holds `index.html` (self-contained: inline CSS and
/// SVG, no network), each chart as `<section id>.svg` (and `dataset.svg`
/// for sample images), `results.parquet`, `results.csv` and `report.json`.
/// `<dataset>` is [`report_dir_name`] of the dataset name. A previous report
/// of the same dataset is replaced as a whole. `out_dir` is created if
/// missing.
///
/// # Errors
/// Input errors from [`ReportInput::validate`], chart-free rendering errors
/// ([`Error::Render`]), a NaN in the results ([`Error::InvalidData`]) are
/// all found before anything is written. [`Error::Io`] naming the path if
/// `out_dir` cannot be created or written. An error before the report's
/// files move into place leaves the previous report (if any) untouched and
/// no partial report behind; one while they move (a rename inside one
/// directory failing) leaves the previous page, and the next run replaces
/// the rest.
pub fn write_report(input: &ReportInput, out_dir: &Path) -> Result<PathBuf> {
    let files = render_files(input)?;
    let target = out_dir.join(report_dir_name(&input.dataset.name)?);
    let created = fs::symlink_metadata(out_dir).is_err();
    fs::create_dir_all(out_dir).map_err(|e| Error::io(out_dir, e))?;
    if let Err(e) = install(out_dir, &target, &files) {
        if created {
            // Only succeeds if empty, so it can never remove anything else.
            let _ = fs::remove_dir(out_dir);
        }
        return Err(e);
    }
    write_index(out_dir)?;
    Ok(target.join(PAGE_FILE))
}

/// Rewrites `out_dir/index.html`, listing every report directory in
/// `out_dir` (every subdirectory holding an `index.html`), sorted by
/// directory name; returns its path. A report whose `report.json` is
/// missing, unreadable, not a regular file or too large is listed by its
/// directory name alone.
///
/// # Errors
/// [`Error::Io`] naming the path if `out_dir` cannot be read or the page
/// cannot be written.
pub fn write_index(out_dir: &Path) -> Result<PathBuf> {
    let mut reports = Vec::new();
    for entry in fs::read_dir(out_dir).map_err(|e| Error::io(out_dir, e))? {
        let entry = entry.map_err(|e| Error::io(out_dir, e))?;
        let Some(name) = entry.file_name().to_str().map(str::to_string) else {
            continue;
        };
        let dir = entry.path();
        if name.starts_with('.') || !dir.join(PAGE_FILE).is_file() {
            continue;
        }
        // A report from elsewhere without a summary is still listed.
        reports.push((name, read_summary(&dir.join(SUMMARY_FILE))));
    }
    reports.sort_by(|a, b| a.0.cmp(&b.0));
    let html = render_index(&reports)?;
    let index = out_dir.join(PAGE_FILE);
    write_bytes_atomic(&index, html.as_bytes())?;
    Ok(index)
}

/// The summary at `path`, if it is a regular file of at most
/// [`MAX_SUMMARY_BYTES`] that parses. The output directory may be shared
/// with other jobs and users: a FIFO there would block the index, a device
/// or a huge file would exhaust memory.
fn read_summary(path: &Path) -> Option<ReportSummary> {
    let (file, len) = open_regular(path).ok()?;
    if len > MAX_SUMMARY_BYTES {
        return None;
    }
    let mut bytes = Vec::new();
    file.take(len).read_to_end(&mut bytes).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// Every file of the report as (name, bytes), rendered in memory.
fn render_files(input: &ReportInput) -> Result<Vec<(String, Vec<u8>)>> {
    input.validate()?;
    let results = Table::from_dataframe(&input.results)?;
    let page = render_report(input, &results)?;
    let mut files = vec![(PAGE_FILE.to_string(), page.into_bytes())];
    if let Some(samples) = &input.dataset.samples {
        files.push((
            SAMPLES_FILE.to_string(),
            samples.as_str().as_bytes().to_vec(),
        ));
    }
    for section in &input.sections {
        if let Some(chart) = &section.chart {
            files.push((chart_file(section), chart.as_str().as_bytes().to_vec()));
        }
        // Each panel's chart is a file too, as every chart on the page is.
        for (i, panel) in section.panels.iter().enumerate() {
            if let Some(chart) = &panel.chart {
                files.push((
                    panel_chart_file(section, i + 1),
                    chart.as_str().as_bytes().to_vec(),
                ));
            }
        }
    }
    files.push((
        RESULTS_PARQUET.to_string(),
        parquet_bytes(&input.results, input.provenance.as_ref())?,
    ));
    files.push((RESULTS_CSV.to_string(), csv_bytes(&input.results)?));
    let summary = serde_json::to_vec_pretty(&ReportSummary::of(input))
        .map_err(|e| Error::Render(format!("report summary: {e}")))?;
    files.push((SUMMARY_FILE.to_string(), summary));
    Ok(files)
}

/// The frame as Parquet, with `provenance` as file-level metadata under
/// [`PARQUET_KEY`].
fn parquet_bytes(frame: &DataFrame, provenance: Option<&Provenance>) -> Result<Vec<u8>> {
    let mut bytes = Vec::new();
    let metadata = provenance
        .map(|p| {
            serde_json::to_string(p)
                .map(|json| KeyValueMetadata::from_static(vec![(PARQUET_KEY.to_string(), json)]))
                .map_err(|e| Error::Render(format!("provenance: {e}")))
        })
        .transpose()?;
    ParquetWriter::new(&mut bytes)
        .with_key_value_metadata(metadata)
        .finish(&mut frame.clone())?;
    Ok(bytes)
}

/// The run that wrote a results Parquet file (see [`crate::provenance`]),
/// or `None` for a file without that record.
///
/// # Errors
/// [`Error::Io`] naming the path, also for a directory, FIFO or device,
/// which are refused, not read (see [`crate::data::file`]);
/// [`Error::InvalidData`] for a file that is not Parquet or whose record
/// does not parse.
pub fn read_provenance(path: &Path) -> Result<Option<Provenance>> {
    let (file, _) = open_regular(path)?;
    let mut reader = ParquetReader::new(file);
    let metadata = reader.get_metadata().map_err(|e| {
        Error::InvalidData(format!(
            "{}: not a readable Parquet file: {e}",
            path.display()
        ))
    })?;
    let Some(pairs) = metadata.key_value_metadata() else {
        return Ok(None);
    };
    let Some(json) = pairs
        .iter()
        .find(|kv| kv.key == PARQUET_KEY)
        .and_then(|kv| kv.value.as_deref())
    else {
        return Ok(None);
    };
    serde_json::from_str(json).map(Some).map_err(|e| {
        Error::InvalidData(format!(
            "{}: metadata {PARQUET_KEY:?} does not parse: {e}",
            path.display()
        ))
    })
}

fn csv_bytes(frame: &DataFrame) -> Result<Vec<u8>> {
    let mut bytes = Vec::new();
    CsvWriter::new(&mut bytes).finish(&mut frame.clone())?;
    Ok(bytes)
}

/// Writes `files` into a hidden staging directory in `out_dir`, then puts
/// them in place at `target`.
///
/// With no report at `target` yet, the staging directory is renamed to it.
/// A directory holding files cannot be replaced by a rename, so replacing a
/// previous report whole would take two (move it aside, move the new one
/// in) with no report between them; instead each file is renamed over its
/// old version, the page last, and what the new report no longer has is
/// removed after. A run killed at any moment leaves a readable page: the
/// previous one until the new one is in place (beside some of the new data
/// files, if it is killed while they move), and the next run replaces the
/// rest.
///
/// On an error before the first file moves, the staging directory is
/// deleted (it is a `TempDir`) and `target` is as before.
fn install(out_dir: &Path, target: &Path, files: &[(String, Vec<u8>)]) -> Result<()> {
    let staging = tempfile::Builder::new()
        .prefix(STAGING_PREFIX)
        .suffix(TEMP_SUFFIX)
        .tempdir_in(out_dir)
        .map_err(|e| Error::io(out_dir, e))?;
    for (name, bytes) in files {
        write_synced(&staging.path().join(name), bytes)?;
    }
    sync_dir(staging.path());

    // Park anything at `target` that is not a report directory (a file, a
    // link) in its own temporary directory, so it is restored if the move
    // fails and deleted (when `parked` drops) if not.
    let parked = match fs::symlink_metadata(target) {
        Ok(meta) if meta.is_dir() => return move_files_in(staging.path(), target, files),
        Ok(_) => {
            let holder = tempfile::Builder::new()
                .prefix(STAGING_PREFIX)
                .suffix(TEMP_SUFFIX)
                .tempdir_in(out_dir)
                .map_err(|e| Error::io(out_dir, e))?;
            let old = holder.path().join("previous");
            fs::rename(target, &old).map_err(|e| Error::io(target, e))?;
            Some((holder, old))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(Error::io(target, e)),
    };
    if let Err(e) = fs::rename(staging.path(), target) {
        if let Some((_, old)) = &parked {
            let _ = fs::rename(old, target);
        }
        return Err(Error::io(target, e));
    }
    // The staging directory now is the report: stop it from being deleted.
    let _ = staging.keep();
    sync_dir(out_dir);
    drop(parked);
    Ok(())
}

/// Renames each of `files` from `staging` into the existing report
/// directory `target`, the summary the index reads second to last and the
/// page last, then removes every other entry of `target`: the report is
/// replaced as a whole, and its page is never missing.
fn move_files_in(staging: &Path, target: &Path, files: &[(String, Vec<u8>)]) -> Result<()> {
    let mut order: Vec<&str> = files.iter().map(|(name, _)| name.as_str()).collect();
    order.sort_by_key(|name| install_rank(name));
    for name in &order {
        let to = target.join(name);
        fs::rename(staging.join(name), &to).map_err(|e| Error::io(&to, e))?;
    }
    sync_dir(target);
    let keep: std::collections::HashSet<&str> = order.iter().copied().collect();
    for entry in fs::read_dir(target).map_err(|e| Error::io(target, e))? {
        let entry = entry.map_err(|e| Error::io(target, e))?;
        let name = entry.file_name();
        if name.to_str().is_some_and(|n| keep.contains(n)) {
            continue;
        }
        let path = entry.path();
        let gone = match entry.file_type() {
            Ok(t) if t.is_dir() => fs::remove_dir_all(&path),
            _ => fs::remove_file(&path),
        };
        gone.map_err(|e| Error::io(&path, e))?;
    }
    sync_dir(target);
    Ok(())
}

/// Where a report file comes in [`move_files_in`]'s order: data files
/// first (in the order given), then the summary, then the page.
fn install_rank(name: &str) -> u8 {
    match name {
        PAGE_FILE => 2,
        SUMMARY_FILE => 1,
        _ => 0,
    }
}

fn write_synced(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut file = fs::File::create(path).map_err(|e| Error::io(path, e))?;
    file.write_all(bytes).map_err(|e| Error::io(path, e))?;
    file.sync_all().map_err(|e| Error::io(path, e))
}

/// Makes renames inside `dir` durable where the platform allows it; a
/// failure here loses nothing already written, so it is not an error.
fn sync_dir(dir: &Path) {
    if let Ok(d) = fs::File::open(dir) {
        let _ = d.sync_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leftovers(dir: &Path) -> Vec<String> {
        fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect()
    }

    #[test]
    fn a_failed_staging_write_leaves_nothing_behind() {
        let out = tempfile::tempdir().unwrap();
        let target = out.path().join("digits");
        // A file name inside a missing subdirectory cannot be created.
        let files = vec![
            ("index.html".to_string(), b"<p>ok</p>".to_vec()),
            ("missing/chart.svg".to_string(), b"<svg/>".to_vec()),
        ];
        let err = install(out.path(), &target, &files).unwrap_err();
        assert!(matches!(err, Error::Io { .. }), "{err}");
        assert!(err.to_string().contains("chart.svg"), "{err}");
        assert!(
            leftovers(out.path()).is_empty(),
            "{:?}",
            leftovers(out.path())
        );
    }

    #[test]
    fn a_failed_write_keeps_the_previous_report() {
        let out = tempfile::tempdir().unwrap();
        let target = out.path().join("digits");
        install(
            out.path(),
            &target,
            &[("index.html".into(), b"old".to_vec())],
        )
        .unwrap();
        let files = vec![
            ("index.html".to_string(), b"new".to_vec()),
            ("missing/chart.svg".to_string(), b"<svg/>".to_vec()),
        ];
        assert!(install(out.path(), &target, &files).is_err());
        assert_eq!(fs::read(target.join("index.html")).unwrap(), b"old");
        assert_eq!(leftovers(out.path()), vec!["digits".to_string()]);
    }

    /// Over an existing report the files move in one at a time (the
    /// directory itself stays), so its page is there throughout; files
    /// the new report lacks are gone after, and no staging directory stays.
    #[cfg(unix)]
    #[test]
    fn an_existing_report_directory_is_updated_in_place() {
        use std::os::unix::fs::MetadataExt;
        let out = tempfile::tempdir().unwrap();
        let target = out.path().join("digits");
        let old = [
            ("index.html".to_string(), b"old".to_vec()),
            ("results.csv".to_string(), b"a\n1\n".to_vec()),
            ("stale.svg".to_string(), b"<svg/>".to_vec()),
        ];
        install(out.path(), &target, &old).unwrap();
        let inode = fs::metadata(&target).unwrap().ino();
        let new = [
            ("index.html".to_string(), b"new".to_vec()),
            ("results.csv".to_string(), b"a\n2\n".to_vec()),
        ];
        install(out.path(), &target, &new).unwrap();
        assert_eq!(fs::metadata(&target).unwrap().ino(), inode);
        assert_eq!(fs::read(target.join("index.html")).unwrap(), b"new");
        assert_eq!(fs::read(target.join("results.csv")).unwrap(), b"a\n2\n");
        let mut inside = leftovers(&target);
        inside.sort();
        assert_eq!(inside, ["index.html", "results.csv"]);
        assert_eq!(leftovers(out.path()), vec!["digits".to_string()]);
    }

    #[test]
    fn the_page_moves_in_last() {
        let mut names = vec!["index.html", "report.json", "a.svg", "results.csv"];
        names.sort_by_key(|n| install_rank(n));
        assert_eq!(names, ["a.svg", "results.csv", "report.json", "index.html"]);
    }

    #[test]
    fn a_new_report_replaces_the_old_one_whole() {
        let out = tempfile::tempdir().unwrap();
        let target = out.path().join("digits");
        let old = [
            ("index.html".to_string(), b"old".to_vec()),
            ("stale.svg".to_string(), b"<svg/>".to_vec()),
        ];
        install(out.path(), &target, &old).unwrap();
        install(
            out.path(),
            &target,
            &[("index.html".into(), b"new".to_vec())],
        )
        .unwrap();
        assert_eq!(fs::read(target.join("index.html")).unwrap(), b"new");
        assert!(!target.join("stale.svg").exists());
        assert_eq!(leftovers(out.path()), vec!["digits".to_string()]);
    }
}
