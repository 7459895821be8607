//! The module graph follows the layers the README's "Layout" states:
//!
//! ```text
//! leaves (error, hex, real, rng, atomic, number, provenance, stats, validate)
//!   → data → linalg / model → train → study → report → app → display / bin
//! ```
//!
//! (a) no module imports one of a later layer (`crate::X` paths, `use
//! crate::{...}` groups and `super::` chains that climb to the crate root
//! all count), and (b) in every directory of `src`, the root and `data`
//! included, no two of its files or subdirectories import each other. Every
//! import counts, re-exports too: a `pub use` of a later layer's item is a
//! path through which the lower layer depends on it.
//!
//! The checker reads the sources as text: comments and string literals are
//! blanked first, so doc examples and messages never count.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Each top-level module of `src` and its layer: a module may import its
/// own layer and the ones below it.
const LAYERS: &[(&str, usize)] = &[
    ("error", 0),
    ("hex", 0),
    ("real", 0),
    ("rng", 0),
    ("atomic", 0),
    ("number", 0),
    ("provenance", 0),
    ("stats", 0),
    ("validate", 0),
    ("data", 1),
    ("linalg", 2),
    ("model", 2),
    ("train", 3),
    ("study", 4),
    ("report", 5),
    ("app", 6),
    ("display", 7),
    ("bin", 7),
];

/// One path a file names: its segments from the crate root (modules, then
/// possibly an item and what follows it) and the line it is named on.
#[derive(Debug)]
struct Reference {
    path: Vec<String>,
    line: usize,
}

/// One import of a sibling unit (`unit`: a file or subdirectory of the same
/// directory, by module name) at `file`:`line`.
#[derive(Debug)]
struct SiblingUse {
    unit: String,
    file: String,
    line: usize,
}

fn layer(module: &str) -> Option<usize> {
    LAYERS.iter().find(|(m, _)| *m == module).map(|&(_, l)| l)
}

/// `text` with comments and the contents of string and char literals
/// replaced by spaces (newlines kept), so positions and lines stay put.
fn blank(text: &str) -> String {
    let c: Vec<char> = text.chars().collect();
    let mut out = c.clone();
    let ident = |ch: char| ch.is_alphanumeric() || ch == '_';
    let wipe = |out: &mut Vec<char>, from: usize, to: usize| {
        for ch in &mut out[from..to.min(c.len())] {
            if *ch != '\n' {
                *ch = ' ';
            }
        }
    };
    let mut i = 0;
    while i < c.len() {
        let next = c.get(i + 1).copied();
        if c[i] == '/' && next == Some('/') {
            let end = c[i..]
                .iter()
                .position(|&ch| ch == '\n')
                .map_or(c.len(), |p| i + p);
            wipe(&mut out, i, end);
            i = end;
        } else if c[i] == '/' && next == Some('*') {
            let (mut depth, mut j) = (1, i + 2);
            while j < c.len() && depth > 0 {
                if c[j] == '/' && c.get(j + 1) == Some(&'*') {
                    depth += 1;
                    j += 2;
                } else if c[j] == '*' && c.get(j + 1) == Some(&'/') {
                    depth -= 1;
                    j += 2;
                } else {
                    j += 1;
                }
            }
            wipe(&mut out, i, j);
            i = j;
        } else if c[i] == 'r'
            && (i == 0 || !ident(c[i - 1]) || c[i - 1] == 'b')
            && matches!(next, Some('"' | '#'))
        {
            // A raw string r"..." or r#"..."#; `r#ident` is not one.
            let hashes = c[i + 1..].iter().take_while(|&&ch| ch == '#').count();
            let open = i + 1 + hashes;
            if c.get(open) != Some(&'"') {
                i += 1;
                continue;
            }
            let mut j = open + 1;
            while j < c.len() {
                if c[j] == '"'
                    && c[j + 1..]
                        .iter()
                        .take(hashes)
                        .filter(|&&h| h == '#')
                        .count()
                        == hashes
                {
                    break;
                }
                j += 1;
            }
            wipe(&mut out, open + 1, j);
            i = j + 1 + hashes;
        } else if c[i] == '"' {
            let mut j = i + 1;
            while j < c.len() && c[j] != '"' {
                j += if c[j] == '\\' { 2 } else { 1 };
            }
            wipe(&mut out, i + 1, j);
            i = j + 1;
        } else if c[i] == '\'' {
            // A char literal ('x', '\n', '\u{..}'); otherwise a lifetime.
            let end = if next == Some('\\') {
                // Past the escaped character, so that '\'' ends where it should.
                c.get(i + 3..)
                    .and_then(|rest| rest.iter().position(|&ch| ch == '\''))
                    .map(|p| i + 3 + p)
            } else if c.get(i + 2) == Some(&'\'') {
                Some(i + 2)
            } else {
                None
            };
            match end {
                Some(e) => {
                    wipe(&mut out, i + 1, e);
                    i = e + 1;
                }
                None => i += 1,
            }
        } else {
            i += 1;
        }
    }
    out.into_iter().collect()
}

/// The module path of the file at `rel` (relative to `src`, `/`-separated):
/// `model/tied.rs` is `[model, tied]`, `model/conv/mod.rs` `[model, conv]`.
fn module_path(rel: &str) -> Vec<String> {
    let mut parts: Vec<String> = rel.split('/').map(str::to_string).collect();
    if parts.last().is_some_and(|p| p == "mod.rs") {
        parts.pop();
    } else if let Some(last) = parts.last_mut() {
        *last = last.trim_end_matches(".rs").to_string();
    }
    parts
}

/// For each line (0-based), how many inline `mod name {` blocks enclose it
/// (rustfmt closes each with a `}` at the indentation that opened it).
fn inline_depths(text: &str) -> Vec<usize> {
    let mut open: Vec<usize> = Vec::new();
    let mut depths = Vec::new();
    for line in text.lines() {
        let indent = line.len() - line.trim_start().len();
        let t = line.trim();
        depths.push(open.len());
        if t == "}" && open.last() == Some(&indent) {
            open.pop();
        } else if t.ends_with('{') {
            let head = t.trim_end_matches('{').trim();
            let head = head.strip_prefix("pub ").unwrap_or(head);
            let head = head.strip_prefix("pub(crate) ").unwrap_or(head);
            if let Some(name) = head.strip_prefix("mod ")
                && name.chars().all(|ch| ch.is_alphanumeric() || ch == '_')
            {
                open.push(indent);
            }
        }
    }
    depths
}

/// Every path the (blanked) file at `rel` names, resolved from the crate
/// root.
fn references(rel: &str, text: &str) -> Vec<Reference> {
    let here = module_path(rel);
    let depths = inline_depths(text);
    let c: Vec<char> = text.chars().collect();
    let newlines: Vec<usize> = (0..c.len()).filter(|&p| c[p] == '\n').collect();
    let line_of = |pos: usize| newlines.partition_point(|&nl| nl < pos);
    let ident = |ch: char| ch.is_alphanumeric() || ch == '_';
    let word_at = |pos: usize, word: &str| {
        let w: Vec<char> = word.chars().collect();
        c.len() >= pos + w.len() + 2
            && c[pos..pos + w.len()] == w[..]
            && c[pos + w.len()] == ':'
            && c[pos + w.len() + 1] == ':'
    };
    let mut out = Vec::new();
    let mut i = 0;
    while i < c.len() {
        let starts = i == 0 || !(ident(c[i - 1]) || c[i - 1] == '$' || c[i - 1] == ':');
        if !starts {
            i += 1;
            continue;
        }
        let (prefix, mut j) = if word_at(i, "crate") {
            (Vec::new(), i + "crate::".len())
        } else if word_at(i, "super") {
            let mut n = 0;
            let mut j = i;
            while word_at(j, "super") {
                n += 1;
                j += "super::".len();
            }
            // Inline modules (`mod tests { .. }`) sit below the file's
            // module: a chain that does not climb out of the file names
            // the file's own items.
            let scope = here.len() + depths.get(line_of(i)).copied().unwrap_or(0);
            if n > scope || scope - n >= here.len() {
                i = j;
                continue;
            }
            (here[..scope - n].to_vec(), j)
        } else {
            i += 1;
            continue;
        };
        tree(&c, &mut j, prefix, &mut |path, pos| {
            out.push(Reference {
                path,
                line: line_of(pos) + 1,
            })
        });
        i = j.max(i + 1);
    }
    out
}

/// Parses the use tree at `pos` (after a `crate::` or `super::` prefix) and
/// reports each path it names, with its position.
fn tree(
    c: &[char],
    pos: &mut usize,
    prefix: Vec<String>,
    emit: &mut dyn FnMut(Vec<String>, usize),
) {
    let ident = |ch: char| ch.is_alphanumeric() || ch == '_';
    let skip_ws = |pos: &mut usize| {
        while *pos < c.len() && c[*pos].is_whitespace() {
            *pos += 1;
        }
    };
    skip_ws(pos);
    if *pos >= c.len() {
        return;
    }
    if c[*pos] == '{' {
        *pos += 1;
        loop {
            skip_ws(pos);
            if *pos >= c.len() || c[*pos] == '}' {
                *pos += 1;
                return;
            }
            tree(c, pos, prefix.clone(), emit);
            // Skip to the next item of this group (past `as x`, generics).
            let mut depth = 0;
            while *pos < c.len() {
                match c[*pos] {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        *pos += 1;
                        break;
                    }
                    _ => {}
                }
                *pos += 1;
            }
        }
    }
    let start = *pos;
    while *pos < c.len() && ident(c[*pos]) {
        *pos += 1;
    }
    if *pos == start {
        return;
    }
    let seg: String = c[start..*pos].iter().collect();
    if seg == "self" {
        if !prefix.is_empty() {
            emit(prefix, start);
        }
        return;
    }
    let mut path = prefix;
    path.push(seg);
    let more = c.get(*pos) == Some(&':') && c.get(*pos + 1) == Some(&':');
    if more {
        *pos += 2;
        let before = *pos;
        let mut named = false;
        tree(c, pos, path.clone(), &mut |p, at| {
            named = true;
            emit(p, at)
        });
        if !named {
            // `crate::model::*` and the like.
            *pos = (*pos).max(before);
            emit(path, start);
        }
    } else {
        emit(path, start);
    }
}

/// Every directory of `src` (its module path; the root is the empty path)
/// and its units: the files and subdirectories directly in it, by module
/// name. `lib.rs` is the root itself, and a `mod.rs` is its directory.
fn units_of(files: &[(String, String)]) -> BTreeMap<Vec<String>, Vec<String>> {
    let mut units: BTreeMap<Vec<String>, Vec<String>> = BTreeMap::new();
    for (file, _) in files {
        let rel = file.strip_prefix("src/").unwrap_or(file);
        if rel == "lib.rs" {
            continue;
        }
        let parts: Vec<&str> = rel.split('/').collect();
        for (depth, part) in parts.iter().enumerate() {
            if *part == "mod.rs" {
                continue;
            }
            let dir: Vec<String> = parts[..depth].iter().map(|p| p.to_string()).collect();
            let unit = part.trim_end_matches(".rs").to_string();
            let list = units.entry(dir).or_default();
            if !list.contains(&unit) {
                list.push(unit);
            }
        }
    }
    units
}

/// `dir::unit` written as a module path (`unit` alone at the root).
fn unit_path(dir: &[String], unit: &str) -> String {
    dir.iter()
        .map(String::as_str)
        .chain([unit])
        .collect::<Vec<_>>()
        .join("::")
}

/// The violations in `files` (paths relative to the crate, `src/...`, and
/// their text), one message per offending import naming file and line.
fn check(files: &[(String, String)]) -> Vec<String> {
    let mut problems = Vec::new();
    // (dir, unit) -> the siblings it imports.
    let mut siblings: BTreeMap<(Vec<String>, String), Vec<SiblingUse>> = BTreeMap::new();
    let units = units_of(files);
    for (file, text) in files {
        let Some(rel) = file.strip_prefix("src/") else {
            continue;
        };
        if rel == "lib.rs" {
            continue;
        }
        let here = module_path(rel);
        let top = here[0].clone();
        let Some(own) = layer(&top) else {
            problems.push(format!(
                "{file}: module `{top}` has no layer; add it to LAYERS in tests/layers.rs"
            ));
            continue;
        };
        for r in references(rel, &blank(text)) {
            let target = &r.path[0];
            match layer(target) {
                Some(l) if l > own => problems.push(format!(
                    "{file}:{}: `{top}` (layer {own}) imports `{target}` (layer {l}), a later layer",
                    r.line
                )),
                _ => {}
            }
            // At each directory enclosing this file: the unit the path
            // enters there, when it is not the one this file is in.
            for depth in 0..here.len() {
                let dir = &here[..depth];
                if r.path.len() > depth
                    && r.path[..depth] == *dir
                    && r.path[depth] != here[depth]
                    && units.get(dir).is_some_and(|u| u.contains(&r.path[depth]))
                {
                    siblings
                        .entry((dir.to_vec(), here[depth].clone()))
                        .or_default()
                        .push(SiblingUse {
                            unit: r.path[depth].clone(),
                            file: file.clone(),
                            line: r.line,
                        });
                }
            }
        }
    }
    for ((dir, unit), uses) in &siblings {
        for u in uses {
            if *unit >= u.unit {
                continue;
            }
            if let Some(back) = siblings
                .get(&(dir.clone(), u.unit.clone()))
                .and_then(|back| back.iter().find(|b| b.unit == *unit))
            {
                problems.push(format!(
                    "{}:{}: `{}` imports `{}`, and {}:{} imports it back",
                    u.file,
                    u.line,
                    unit_path(dir, unit),
                    unit_path(dir, &u.unit),
                    back.file,
                    back.line
                ));
            }
        }
    }
    problems
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("a directory entry").path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn sources_respect_the_layers() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut paths = Vec::new();
    rust_files(&root.join("src"), &mut paths);
    let files: Vec<(String, String)> = paths
        .iter()
        .map(|p| {
            let rel = p.strip_prefix(root).expect("under the crate");
            let rel = rel
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join("/");
            let text = std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{rel}: {e}"));
            (rel, text)
        })
        .collect();
    assert!(files.len() > 50, "found only {} source files", files.len());
    let problems = check(&files);
    assert!(
        problems.is_empty(),
        "layer violations:\n{}",
        problems.join("\n")
    );
}

fn synthetic(files: &[(&str, &str)]) -> Vec<String> {
    let files: Vec<(String, String)> = files
        .iter()
        .map(|(p, t)| (p.to_string(), t.to_string()))
        .collect();
    check(&files)
}

#[test]
fn checker_finds_an_import_of_a_later_layer() {
    let problems = synthetic(&[
        (
            "src/linalg/pca.rs",
            "use crate::error::Result;\n\nuse crate::train::Trainer;\n",
        ),
        (
            "src/report/run.rs",
            "use crate::{data::Dataset, app::ReportJob};\n",
        ),
        (
            "src/model/tied.rs",
            "fn f() {\n    let _ = super::super::study::Study::new(\"x\");\n}\n",
        ),
    ]);
    assert_eq!(problems.len(), 3, "{problems:#?}");
    assert!(
        problems[0].starts_with("src/linalg/pca.rs:3:"),
        "{}",
        problems[0]
    );
    assert!(problems[0].contains("`train`"), "{}", problems[0]);
    assert!(
        problems[1].starts_with("src/report/run.rs:1:"),
        "{}",
        problems[1]
    );
    assert!(problems[1].contains("`app`"), "{}", problems[1]);
    assert!(
        problems[2].starts_with("src/model/tied.rs:2:"),
        "{}",
        problems[2]
    );
}

#[test]
fn checker_finds_siblings_that_import_each_other() {
    let problems = synthetic(&[
        ("src/model/mod.rs", "mod a;\nmod b;\nmod c;\n"),
        (
            "src/model/a.rs",
            "use super::b::Thing;\nuse super::c::Other;\n",
        ),
        (
            "src/model/b.rs",
            "use crate::model::{\n    c::Other,\n    a::Helper,\n};\n",
        ),
        ("src/model/c.rs", "use crate::error::Result;\n"),
    ]);
    assert_eq!(problems.len(), 1, "{problems:#?}");
    assert!(
        problems[0].starts_with("src/model/a.rs:1:"),
        "{}",
        problems[0]
    );
    assert!(problems[0].contains("src/model/b.rs:3"), "{}", problems[0]);
}

#[test]
fn checker_finds_siblings_in_every_directory_and_at_the_root() {
    let problems = synthetic(&[
        ("src/data/csv.rs", "use super::parquet::read;\n"),
        ("src/data/parquet.rs", "use crate::data::csv::LABEL;\n"),
        (
            "src/app/study_cmd/merge.rs",
            "use crate::app::study_cmd::run::Run;\n",
        ),
        ("src/app/study_cmd/run.rs", "use super::merge::merge;\n"),
        ("src/linalg/pca.rs", "use crate::model::Tied;\n"),
        ("src/model/tied.rs", "use crate::linalg::Pca;\n"),
    ]);
    assert_eq!(problems.len(), 3, "{problems:#?}");
    for start in [
        "src/data/csv.rs:1:",
        "src/app/study_cmd/merge.rs:1:",
        "src/linalg/pca.rs:1:",
    ] {
        assert!(
            problems.iter().any(|p| p.starts_with(start)),
            "{start}: {problems:#?}"
        );
    }
}

#[test]
fn checker_counts_a_hidden_re_export_as_an_import() {
    let problems = synthetic(&[(
        "src/report/job.rs",
        "//! See [`crate::app::job`].\n#[doc(hidden)]\npub use crate::app::job::*;\n",
    )]);
    assert_eq!(problems.len(), 1, "{problems:#?}");
    assert!(
        problems[0].starts_with("src/report/job.rs:3:"),
        "{}",
        problems[0]
    );
}

#[test]
fn checker_skips_comments_strings_and_test_modules() {
    let problems = synthetic(&[
        (
            "src/model/a.rs",
            "/* crate::app */\nfn f() -> &'static str {\n    \"crate::train::x // \"\n}\n\
             #[cfg(test)]\nmod tests {\n    use super::b;\n}\n",
        ),
        (
            "src/model/b.rs",
            "use super::a::f;\nconst C: char = '\"';\n// crate::app\n",
        ),
    ]);
    assert!(problems.is_empty(), "{problems:#?}");
    let problems = synthetic(&[("src/newthing.rs", "")]);
    assert_eq!(problems.len(), 1, "{problems:#?}");
    assert!(problems[0].contains("add it to LAYERS"), "{}", problems[0]);
}
