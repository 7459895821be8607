//! How a layer pair uses biases.
//!
//! The modes are the ones worth comparing against PCA: with `PreCentering` a
//! linear tied layer is exactly PCA's model family (learned centre, then a
//! rank-r projection), while `Mirrored` ties the decoder bias to the encoder
//! one the way tied weights tie the matrices.

use crate::error::{Error, Result};
use crate::real::Real;
use nalgebra::DVector;
use serde::{Deserialize, Serialize};

/// Bias mode of a layer pair mapping `d` inputs to `r` hidden units
/// (`M` is the decoder matrix: `W` when tied, `W_decᵀ` when untied).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BiasMode {
    /// `z = x Wᵀ`, `v = h M`: no bias parameters.
    None,
    /// `z = x Wᵀ + b_enc`, `v = h M + b_dec`: `r + d` parameters.
    #[default]
    Separate,
    /// `z = x Wᵀ + b_enc`, `v = (h − b_enc) M`: the decoder undoes the
    /// encoder's shift, `r` parameters.
    Mirrored,
    /// `z = (x − b_pre) Wᵀ`, `v = h M + b_pre`: centre, project, un-centre,
    /// `d` parameters (no encoder bias; this is the centring-only variant).
    PreCentering,
}

impl BiasMode {
    /// Every mode, for sweeps and tests.
    pub const ALL: [BiasMode; 4] = [
        BiasMode::None,
        BiasMode::Separate,
        BiasMode::Mirrored,
        BiasMode::PreCentering,
    ];

    /// Number of bias parameters of a layer pair with `d` inputs and `r` units.
    pub fn parameter_count(self, d: usize, r: usize) -> usize {
        match self {
            BiasMode::None => 0,
            BiasMode::Separate => r + d,
            BiasMode::Mirrored => r,
            BiasMode::PreCentering => d,
        }
    }

    /// A short name for tables, e.g. `"pre_centering"`.
    pub fn name(self) -> &'static str {
        match self {
            BiasMode::None => "none",
            BiasMode::Separate => "separate",
            BiasMode::Mirrored => "mirrored",
            BiasMode::PreCentering => "pre_centering",
        }
    }
}

/// The bias vectors of one layer pair, matching its [`BiasMode`].
#[derive(Clone, Debug, PartialEq)]
pub enum Biases<T: Real> {
    /// No biases.
    None,
    /// `enc` has `r` entries, `dec` has `d`.
    Separate { enc: DVector<T>, dec: DVector<T> },
    /// `enc` (`r` entries), used by the encoder and subtracted before decoding.
    Mirrored { enc: DVector<T> },
    /// `pre` (`d` entries), subtracted before encoding and added after decoding.
    PreCentering { pre: DVector<T> },
}

impl<T: Real> Biases<T> {
    /// Zero biases of `mode` for a layer with `d` inputs and `r` units.
    pub fn zeros(mode: BiasMode, d: usize, r: usize) -> Self {
        match mode {
            BiasMode::None => Biases::None,
            BiasMode::Separate => Biases::Separate {
                enc: DVector::zeros(r),
                dec: DVector::zeros(d),
            },
            BiasMode::Mirrored => Biases::Mirrored {
                enc: DVector::zeros(r),
            },
            BiasMode::PreCentering => Biases::PreCentering {
                pre: DVector::zeros(d),
            },
        }
    }

    /// The mode these biases belong to.
    pub fn mode(&self) -> BiasMode {
        match self {
            Biases::None => BiasMode::None,
            Biases::Separate { .. } => BiasMode::Separate,
            Biases::Mirrored { .. } => BiasMode::Mirrored,
            Biases::PreCentering { .. } => BiasMode::PreCentering,
        }
    }

    /// The encoder bias `b_enc` (separate and mirrored modes).
    pub fn encoder(&self) -> Option<&DVector<T>> {
        match self {
            Biases::Separate { enc, .. } | Biases::Mirrored { enc } => Some(enc),
            _ => None,
        }
    }

    /// The decoder bias `b_dec` (separate mode only).
    pub fn decoder(&self) -> Option<&DVector<T>> {
        match self {
            Biases::Separate { dec, .. } => Some(dec),
            _ => None,
        }
    }

    /// The centring bias `b_pre` (pre-centering mode only).
    pub fn pre(&self) -> Option<&DVector<T>> {
        match self {
            Biases::PreCentering { pre } => Some(pre),
            _ => None,
        }
    }

    /// Total number of bias entries.
    pub fn len(&self) -> usize {
        match self {
            Biases::None => 0,
            Biases::Separate { enc, dec } => enc.len() + dec.len(),
            Biases::Mirrored { enc } => enc.len(),
            Biases::PreCentering { pre } => pre.len(),
        }
    }

    /// Whether there are no bias entries.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Checks lengths against a layer with `d` inputs and `r` units, and
    /// that every entry is finite.
    pub fn check(&self, d: usize, r: usize) -> Result<()> {
        let check = |v: &DVector<T>, want: usize, name: &str| -> Result<()> {
            if v.len() != want {
                return Err(Error::Shape(format!(
                    "{name} has {} entries, the layer needs {want}",
                    v.len()
                )));
            }
            if let Some(i) = v.iter().position(|x| !x.is_finite()) {
                return Err(Error::InvalidData(format!("{name}[{i}] is not finite")));
            }
            Ok(())
        };
        match self {
            Biases::None => Ok(()),
            Biases::Separate { enc, dec } => {
                check(enc, r, "encoder bias")?;
                check(dec, d, "decoder bias")
            }
            Biases::Mirrored { enc } => check(enc, r, "encoder bias"),
            Biases::PreCentering { pre } => check(pre, d, "pre-centering bias"),
        }
    }

    /// Appends the entries in flat-parameter order (`b_enc`, then `b_dec`;
    /// or `b_pre`).
    pub(crate) fn write_flat(&self, out: &mut [T]) {
        let mut at = 0;
        for v in self.vectors() {
            out[at..at + v.len()].copy_from_slice(v.as_slice());
            at += v.len();
        }
    }

    /// Reads entries in flat-parameter order.
    pub(crate) fn read_flat(&mut self, src: &[T]) {
        let mut at = 0;
        for v in self.vectors_mut() {
            let n = v.len();
            v.as_mut_slice().copy_from_slice(&src[at..at + n]);
            at += n;
        }
    }

    fn vectors(&self) -> Vec<&DVector<T>> {
        match self {
            Biases::None => vec![],
            Biases::Separate { enc, dec } => vec![enc, dec],
            Biases::Mirrored { enc } => vec![enc],
            Biases::PreCentering { pre } => vec![pre],
        }
    }

    fn vectors_mut(&mut self) -> Vec<&mut DVector<T>> {
        match self {
            Biases::None => vec![],
            Biases::Separate { enc, dec } => vec![enc, dec],
            Biases::Mirrored { enc } => vec![enc],
            Biases::PreCentering { pre } => vec![pre],
        }
    }
}
