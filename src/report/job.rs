//! The report job moved to [`crate::app::job`]; this path is kept so that
//! code naming `tiedae::report::job` still compiles.

#[doc(hidden)]
pub use crate::app::job::*;
