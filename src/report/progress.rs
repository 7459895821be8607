//! The report job's progress printer moved to [`crate::app::progress`]
//! (as [`JobProgress`](crate::app::JobProgress)); this path and name are
//! kept for code that names `tiedae::report::progress::Progress`.

#[doc(hidden)]
pub use crate::app::progress::JobProgress as Progress;
