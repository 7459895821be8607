//! Cooperative interruption.
//!
//! The trainer polls an `Arc<AtomicBool>` between batches; whoever owns the
//! flag decides what raises it. The library never installs a signal handler
//! by itself (a notebook or an embedding program may have its own): call
//! [`install_ctrlc_handler`] to have Ctrl-C raise the flag.

use crate::error::{Error, Result};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};

/// Flags raised by the process-wide Ctrl-C handler.
static REGISTERED: OnceLock<Mutex<Vec<Weak<AtomicBool>>>> = OnceLock::new();

/// Makes Ctrl-C raise `flag` (any number of flags may be registered; the
/// handler is installed on the first call).
///
/// The first Ctrl-C raises the flags, so training stops after the current
/// batch and writes a checkpoint. A second Ctrl-C while a flag is still
/// raised exits the process with status 130; checkpoints are written to a
/// temporary file and renamed, so even that cannot leave a torn checkpoint.
pub fn install_ctrlc_handler(flag: &Arc<AtomicBool>) -> Result<()> {
    let mut installed_now = false;
    let registry = REGISTERED.get_or_init(|| {
        installed_now = true;
        Mutex::new(Vec::new())
    });
    if installed_now {
        ctrlc::set_handler(on_ctrlc).map_err(|e| {
            Error::io(
                "<Ctrl-C handler>",
                std::io::Error::other(format!("cannot install the Ctrl-C handler: {e}")),
            )
        })?;
    }
    let mut flags = registry.lock().unwrap_or_else(|p| p.into_inner());
    flags.retain(|w| w.strong_count() > 0);
    if !flags.iter().any(|w| w.as_ptr() == Arc::as_ptr(flag)) {
        flags.push(Arc::downgrade(flag));
    }
    Ok(())
}

fn on_ctrlc() {
    let Some(registry) = REGISTERED.get() else {
        return;
    };
    let flags = registry.lock().unwrap_or_else(|p| p.into_inner());
    let live: Vec<Arc<AtomicBool>> = flags.iter().filter_map(Weak::upgrade).collect();
    if live.iter().any(|f| f.load(Ordering::SeqCst)) {
        eprintln!("second interrupt: exiting");
        std::process::exit(130);
    }
    for f in &live {
        f.store(true, Ordering::SeqCst);
    }
    eprintln!("interrupt: stopping after the current batch and writing a checkpoint");
}
