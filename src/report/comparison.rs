//! Choosing and running a report's study moved to
//! [`crate::app::studies`]; this path is kept so that code naming
//! `tiedae::report::comparison` still compiles.

#[doc(hidden)]
pub use crate::app::studies::*;
