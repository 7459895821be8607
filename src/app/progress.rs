//! Progress of a report job, on stderr: its stages and study cells.
//!
//! [`JobProgress`] is the job's printer; training's own output mode is
//! [`crate::train::Progress`], which the job's studies keep silent.
//!
//! On a terminal an indicatif bar shows finished cells, elapsed time and
//! ETA; elsewhere (CI logs, pipes, tests) each step is one plain line, so a
//! log reads top to bottom and nothing is redrawn. stdout is left alone:
//! the binary prints only the report's path there.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::Instant;

/// Reports stages and per-cell progress; cheap to share between threads.
#[derive(Debug)]
pub struct JobProgress {
    mode: Mode,
    start: Instant,
    state: Mutex<State>,
}

#[derive(Debug)]
enum Mode {
    Bar,
    Lines,
    Silent,
}

#[derive(Debug, Default)]
struct State {
    bar: Option<ProgressBar>,
    done: u64,
    total: u64,
    /// When the current count began (for the plain lines' ETA).
    began: Option<Instant>,
}

impl JobProgress {
    /// A bar when stderr is a terminal, plain lines otherwise.
    pub fn stderr() -> JobProgress {
        let mode = if std::io::stderr().is_terminal() {
            Mode::Bar
        } else {
            Mode::Lines
        };
        JobProgress::with_mode(mode)
    }

    /// Reports nothing (library use, tests).
    pub fn silent() -> JobProgress {
        JobProgress::with_mode(Mode::Silent)
    }

    fn with_mode(mode: Mode) -> JobProgress {
        JobProgress {
            mode,
            start: Instant::now(),
            state: Mutex::new(State::default()),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic elsewhere while holding the lock leaves plain counters
        // behind, still fine to print.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Announces a stage ("loading digits", "writing the report").
    pub fn stage(&self, message: &str) {
        let line = format!("[{:>6.1}s] {message}", self.start.elapsed().as_secs_f64());
        match self.mode {
            Mode::Silent => {}
            Mode::Lines => eprintln!("{line}"),
            Mode::Bar => match &self.state().bar {
                Some(bar) => bar.println(line),
                None => eprintln!("{line}"),
            },
        }
    }

    /// Starts counting `total` units of work (study cells).
    pub fn begin(&self, total: u64, what: &str) {
        self.stage(&format!("{what}: {total} to run"));
        let mut state = self.state();
        state.done = 0;
        state.total = total;
        state.began = Some(Instant::now());
        if matches!(self.mode, Mode::Bar) {
            let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
            if let Ok(style) = ProgressStyle::with_template(
                "{prefix} [{elapsed_precise}] {bar:30} {pos}/{len} eta {eta} {wide_msg}",
            ) {
                bar.set_style(style);
            }
            bar.set_prefix(what.to_string());
            state.bar = Some(bar);
        }
    }

    /// Adds `more` units to the count [`JobProgress::begin`] began: work
    /// found along the way, such as the rates a learning-rate search adds.
    pub fn extend(&self, more: u64) {
        let mut state = self.state();
        state.total += more;
        if let Some(bar) = &state.bar {
            bar.inc_length(more);
        }
    }

    /// One unit finished; `message` says which and how it went.
    pub fn advance(&self, message: &str) {
        let mut state = self.state();
        state.done += 1;
        match self.mode {
            Mode::Silent => {}
            Mode::Lines => {
                // Remaining cells at the mean pace so far: cells are alike
                // within a study, and a log reader wants the order of magnitude.
                let eta = state.began.map_or(0.0, |b| {
                    let per = b.elapsed().as_secs_f64() / state.done as f64;
                    per * state.total.saturating_sub(state.done) as f64
                });
                eprintln!(
                    "[{:>6.1}s] {}/{} (eta {eta:.0} s) {message}",
                    self.start.elapsed().as_secs_f64(),
                    state.done,
                    state.total
                )
            }
            Mode::Bar => {
                if let Some(bar) = &state.bar {
                    bar.set_message(message.to_string());
                    bar.inc(1);
                }
            }
        }
    }

    /// Ends the counted work (clears the bar).
    pub fn end(&self) {
        if let Some(bar) = self.state().bar.take() {
            bar.finish_and_clear();
        }
    }

    /// Seconds since this reporter was made.
    pub fn elapsed_seconds(&self) -> f64 {
        self.start.elapsed().as_secs_f64()
    }
}
