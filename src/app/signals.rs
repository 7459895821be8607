//! Stopping on SIGINT and SIGTERM without losing finished work.
//!
//! Both binaries run studies whose cells are cached as they finish. A
//! signal raises a flag the study checks between cells (and trainers at
//! each epoch end), so the run fails with
//! [`crate::Error::StudyInterrupted`] after the cells in flight, the cache
//! stays consistent, and the same command continues from it. SLURM sends
//! SIGTERM at a job's time limit; a user presses Ctrl-C.

use crate::error::{Error, Result};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

/// The exit status of a run stopped by a signal (128 + SIGINT, as shells
/// report it).
pub const INTERRUPTED_EXIT: u8 = 130;

/// A flag raised by the first SIGINT or SIGTERM. Prints a line on stderr
/// for each signal, so a user knows the stop was seen while the running
/// cells finish.
///
/// Only a third signal exits at once (status 130). A second one is not
/// taken as "now": SLURM's `srun` forwards SIGTERM to its tasks besides the
/// one the step gets itself, and a user may press Ctrl-C twice out of
/// habit. Exiting then would end cells mid-epoch that were about to be
/// cached and would stop the run before it says how far it got; a cell
/// already cached is safe either way, as every cache file is written
/// atomically.
///
/// # Errors
/// [`Error::Io`] if the handlers cannot be installed.
pub fn stop_on_signals() -> Result<Arc<AtomicBool>> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let flag = Arc::new(AtomicBool::new(false));
    let io = |e: std::io::Error| Error::io("<signal handler>", e);
    for sig in [SIGINT, SIGTERM] {
        // Raised in the handler itself, so a study sees the stop even
        // before the counting thread below has run.
        signal_hook::flag::register(sig, flag.clone()).map_err(io)?;
    }
    #[cfg(unix)]
    count_signals([SIGINT, SIGTERM]).map_err(io)?;
    Ok(flag)
}

/// Reports each of `sigs` as it comes and exits with status 130 at the
/// third (see [`stop_on_signals`]).
#[cfg(unix)]
fn count_signals(sigs: [std::ffi::c_int; 2]) -> std::io::Result<()> {
    let mut signals = signal_hook::iterator::Signals::new(sigs)?;
    std::thread::spawn(move || {
        let mut seen = 0usize;
        for _ in signals.forever() {
            seen += 1;
            match seen {
                1 => eprintln!(
                    "stopping: no new cell starts; cells in training stop at their next epoch"
                ),
                2 => eprintln!(
                    "still stopping: finished cells are cached as they end; a third signal exits at once"
                ),
                _ => std::process::exit(i32::from(INTERRUPTED_EXIT)),
            }
        }
    });
    Ok(())
}
