//! # tiedae
//!
//! Tied-weight autoencoders studied against PCA/SVD.
//!
//! A tied layer has one weight `W` (r x d): it encodes `h = f(x Wᵀ + b_enc)`
//! and decodes `x̂ = g(h W + b_dec)`, so the decoder is the encoder's
//! transpose and the layer has half the weights of an untied pair. tiedae
//! gives you the models (exact backprop, rayon-parallel deterministic
//! training), the PCA/SVD baselines they must be judged against
//! (Eckart–Young: no rank-r linear map beats PCA), and studies and reports
//! that turn the comparison into evidence.
//!
//! Data flows one way: [`data`] → [`linalg`] / [`model`] → [`train`] →
//! [`study`] → [`report`] → [`app`]. Rows are samples (n x d) everywhere.
//! `tests/layers.rs` checks that no module imports one of a later layer.

pub mod app;
pub mod atomic;
pub mod data;
pub mod display;
pub mod error;
pub(crate) mod hex;
pub mod linalg;
#[macro_use]
pub mod model;
pub mod number;
pub mod provenance;
pub mod real;
pub mod report;
pub mod rng;
pub mod stats;
pub mod study;
pub mod train;
pub mod validate;

pub use error::{Error, Result};

/// Compiles and runs the README's code blocks as doctests, so the example a
/// reader copies first cannot drift from the API.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
pub use real::Real;
