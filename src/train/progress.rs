//! Progress output: an indicatif bar on a terminal, one plain line per epoch
//! elsewhere (CI logs, notebooks, where redrawn bars turn into noise), or
//! nothing. Output goes to stderr so it never mixes with a program's results.

use super::config::Progress;
use super::history::EpochRecord;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;

/// The resolved output of one run.
pub(crate) enum Reporter {
    Bar(ProgressBar),
    Lines { epochs: usize },
    Silent,
}

impl Reporter {
    /// A reporter for `epochs` epochs of `batches` batches each, starting
    /// after `done_batches` (non-zero on resume).
    pub(crate) fn new(mode: Progress, epochs: usize, batches: usize, done_batches: usize) -> Self {
        let bar = match mode {
            Progress::Silent => return Reporter::Silent,
            Progress::Lines => false,
            Progress::Bar => true,
            Progress::Auto => std::io::stderr().is_terminal(),
        };
        if !bar {
            return Reporter::Lines { epochs };
        }
        let total = (epochs * batches) as u64;
        let pb = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
        let style =
            ProgressStyle::with_template("{prefix} [{bar:30}] {percent:>3}% loss {msg} ETA {eta} ")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> ");
        pb.set_style(style);
        pb.set_position(done_batches as u64);
        pb.reset_eta();
        Reporter::Bar(pb)
    }

    /// After a batch of `epoch` with objective `loss`.
    pub(crate) fn batch(&self, epoch: usize, epochs: usize, loss: f64) {
        if let Reporter::Bar(pb) = self {
            pb.set_prefix(format!("epoch {epoch}/{epochs}"));
            pb.set_message(format!("{loss:.5e}"));
            pb.inc(1);
        }
    }

    /// After an epoch.
    pub(crate) fn epoch(&self, r: &EpochRecord) {
        match self {
            Reporter::Bar(pb) => pb.set_message(format!("{:.5e}", r.train.total)),
            Reporter::Lines { epochs } => eprintln!("{}", line(r, *epochs)),
            Reporter::Silent => {}
        }
    }
}

/// A bar is finished when its run ends, however it ends (completed, early
/// stopped, diverged, interrupted): the loops return from many places, and
/// one `Drop` cannot be forgotten on any of them.
impl Drop for Reporter {
    fn drop(&mut self) {
        if let Reporter::Bar(pb) = self {
            pb.finish();
        }
    }
}

/// The plain-text line of one epoch.
pub(crate) fn line(r: &EpochRecord, epochs: usize) -> String {
    let mut s = format!("epoch {}/{epochs}  loss {:.6e}", r.epoch, r.train.total);
    if let Some(v) = r.val_loss {
        s.push_str(&format!("  val {v:.6e}"));
    }
    if let Some(lr) = r.learning_rate {
        s.push_str(&format!("  lr {lr:.3e}"));
    }
    s.push_str(&format!("  |g| {:.3e}  {:.2}s", r.grad_norm, r.seconds));
    s
}
