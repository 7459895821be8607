//! The floating-point types models and baselines are generic over.
//!
//! `f32` is for speed (training), `f64` for accuracy (PCA, gradient checks).
//! [`Real`] is nalgebra's `RealField` plus the two conversions every kernel
//! needs; it deliberately does not also pull in `num_traits::Float`, whose
//! method names (`sqrt`, `abs`, ...) would be ambiguous with `RealField`'s.

/// A real scalar: `f32` or `f64`.
pub trait Real:
    nalgebra::RealField + Copy + Default + Send + Sync + std::fmt::Debug + std::fmt::Display + 'static
{
    /// Short type name, stored in model files (`"f32"`/`"f64"`).
    const NAME: &'static str;
    /// Converts from `f64` (rounding for `f32`).
    fn of(x: f64) -> Self;
    /// Widens to `f64`.
    fn f64(self) -> f64;
}

impl Real for f32 {
    const NAME: &'static str = "f32";
    #[inline]
    fn of(x: f64) -> Self {
        x as f32
    }
    #[inline]
    fn f64(self) -> f64 {
        f64::from(self)
    }
}

impl Real for f64 {
    const NAME: &'static str = "f64";
    #[inline]
    fn of(x: f64) -> Self {
        x
    }
    #[inline]
    fn f64(self) -> f64 {
        self
    }
}
