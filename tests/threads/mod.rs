//! A fresh rayon pool per call, shared by the integration tests that check
//! results do not depend on the thread count.

/// Runs `f` on a new pool of `threads` threads.
pub fn on_threads<R: Send>(threads: usize, f: impl FnOnce() -> R + Send) -> R {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .expect("a thread pool")
        .install(f)
}
