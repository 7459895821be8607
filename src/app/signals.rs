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
use std::sync::atomic::{AtomicBool, Ordering};

/// The exit status of a run stopped by a signal (128 + SIGINT, as shells
/// report it).
pub const INTERRUPTED_EXIT: u8 = 130;

/// A flag raised by the first SIGINT or SIGTERM; a second one exits at
/// once with status 130 (a user pressing Ctrl-C twice means it). Prints a
/// line on stderr when the flag goes up, so a user knows the stop was seen
/// while the running cells finish.
///
/// # Errors
/// [`Error::Io`] if the handlers cannot be installed.
pub fn stop_on_signals() -> Result<Arc<AtomicBool>> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let flag = Arc::new(AtomicBool::new(false));
    let io = |e| Error::io("<signal handler>", e);
    for sig in [SIGINT, SIGTERM] {
        // Registered first, so it sees the flag as the previous signal left
        // it: the first signal only raises the flag.
        signal_hook::flag::register_conditional_shutdown(sig, 130, flag.clone()).map_err(io)?;
        signal_hook::flag::register(sig, flag.clone()).map_err(io)?;
    }
    let watched = flag.clone();
    std::thread::spawn(move || {
        while !watched.load(Ordering::SeqCst) {
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        eprintln!("stopping: no new cell starts; cells in training stop at their next epoch");
    });
    Ok(flag)
}
