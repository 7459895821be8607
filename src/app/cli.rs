//! What both binaries do with their command line's outcome: parse it with
//! clap, and fail with one `error: ...` line and an exit status.

use clap::Parser;
use std::process::ExitCode;

/// The optimisation level tiedae was compiled at (cargo's `OPT_LEVEL`,
/// recorded by build.rs): `"0"` for an unoptimised build.
pub const OPT_LEVEL: &str = env!("TIEDAE_OPT_LEVEL");

/// The line a binary prints on stderr at start when its numeric code was
/// compiled at `opt_level` 0: unoptimised training is slower by more than an
/// order of magnitude, and nothing else would tell the user why a report
/// takes an hour. `None` for any optimised level.
pub fn unoptimised_note(opt_level: &str, binary: &str) -> Option<String> {
    (opt_level == "0").then(|| {
        format!(
            "note: {binary} was compiled without optimisation (opt-level 0) and trains \
             many times slower; for the optimised build run `cargo run --release --bin {binary}`"
        )
    })
}

/// Prints `message` on stderr as one line `error: ...` (a multi-line cause
/// is joined with "; ") and returns exit status `code`.
pub fn fail(message: &str, code: u8) -> ExitCode {
    let line = message
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("; ");
    eprintln!("error: {line}");
    ExitCode::from(code)
}

/// The parsed command line, or the exit status to end with: 2 and one
/// error line for unusable flags, success after `--help` / `--version`.
/// A binary compiled without optimisation says so first
/// ([`unoptimised_note`]), before any long work starts.
pub fn parse<C: Parser>() -> Result<C, ExitCode> {
    match C::try_parse() {
        Ok(cli) => {
            if let Some(note) = unoptimised_note(OPT_LEVEL, C::command().get_name()) {
                eprintln!("{note}");
            }
            Ok(cli)
        }
        Err(e) if e.use_stderr() => {
            // clap's own message spans several lines (usage, tips); keep
            // its first line, the one that names the problem.
            let text = e.to_string();
            let first = text.lines().next().unwrap_or("invalid arguments");
            Err(fail(first.trim_start_matches("error: "), 2))
        }
        Err(e) => {
            // --help / --version: print as clap intends.
            let _ = e.print();
            Err(ExitCode::SUCCESS)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::unoptimised_note;

    #[test]
    fn only_an_unoptimised_build_gets_the_note() {
        let note = unoptimised_note("0", "report").expect("opt-level 0 needs the note");
        assert!(note.contains("cargo run --release --bin report"), "{note}");
        assert_eq!(note.lines().count(), 1, "{note}");
        for level in ["1", "2", "3", "s", "z"] {
            assert_eq!(unoptimised_note(level, "report"), None, "opt-level {level}");
        }
    }
}
