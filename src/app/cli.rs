//! What both binaries do with their command line's outcome: parse it with
//! clap, and fail with one `error: ...` line and an exit status.

use clap::Parser;
use std::process::ExitCode;

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
pub fn parse<C: Parser>() -> Result<C, ExitCode> {
    match C::try_parse() {
        Ok(cli) => Ok(cli),
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
