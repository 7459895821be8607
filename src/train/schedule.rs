//! Learning rate per epoch and per step, and the L1 coefficient's warm-up.
//! Pure functions of the epoch or step number, so a resumed run needs no
//! schedule state.

use super::config::Schedule;

/// The learning rate of `epoch` (counted from 1) out of `epochs`.
pub fn learning_rate(schedule: Schedule, base: f64, epoch: usize, epochs: usize) -> f64 {
    let done = epoch.saturating_sub(1);
    match schedule {
        Schedule::Constant => base,
        Schedule::Step { every, gamma } => base * gamma.powi((done / every.max(1)) as i32),
        Schedule::Cosine { min_factor } => {
            // The first epoch runs at the base rate, the last at the floor.
            let t = if epochs <= 1 {
                0.0
            } else {
                done as f64 / (epochs - 1) as f64
            };
            let factor =
                min_factor + (1.0 - min_factor) * 0.5 * (1.0 + (std::f64::consts::PI * t).cos());
            base * factor
        }
    }
}

/// The factor step `step` (counted from 0 over the whole run of `total`
/// steps) multiplies the epoch's learning rate by: a linear warm-up over
/// the first `warmup` steps and a linear decay over the last `decay`,
///
/// `min(1, (s + 1) / W) · min(1, (T − s) / D)`
///
/// (each factor 1 when its length is 0). This is SAELens's schedule
/// (`get_lr_scheduler` in `sae_lens/training/optim.py`): a `LinearLR` from
/// `1/W` to 1 over the first `W` steps, so the first step already moves,
/// and, with the constant main scheduler, a `LinearLR` from 1 to 0 over the
/// last `D` steps, reaching `1/D` at the last step taken.
/// dictionary_learning's `get_lr_schedule`
/// (`dictionary_learning/trainers/trainer.py`) decays the same way from
/// `decay_start = T − D`, `(T − s) / (T − decay_start)`, but warms up one
/// step later, `s / W` (its first step runs at rate 0). Where warm-up and
/// decay overlap (`W + D > T`) the factors multiply. With no warm-up and
/// no decay the factor is exactly 1, so the rate is the epoch's, bit for
/// bit.
pub fn step_factor(step: usize, total: usize, warmup: usize, decay: usize) -> f64 {
    let mut factor = 1.0;
    if warmup > 0 && step < warmup {
        factor *= (step + 1) as f64 / warmup as f64;
    }
    let left = total.saturating_sub(step);
    if decay > 0 && left < decay {
        factor *= left as f64 / decay as f64;
    }
    factor
}

/// The factor the L1 coefficient is multiplied by at step `step` (counted
/// from 0 over the whole run) of a warm-up over `warmup` steps:
/// `min(s / N, 1)`, and 1 when `warmup` is 0.
///
/// Both peers agree here: dictionary_learning's `get_sparsity_warmup_fn`
/// (`dictionary_learning/trainers/trainer.py`) returns
/// `min(step / sparsity_warmup_steps, 1.0)`, and SAELens's
/// `CoefficientScheduler` (`sae_lens/training/optim.py`) starts at 0 and,
/// stepped after each optimizer step, holds `final · (s / N)` during step
/// `s < N` and `final` from step `N` on.
pub fn l1_warmup_factor(step: usize, warmup: usize) -> f64 {
    if warmup == 0 {
        1.0
    } else {
        (step as f64 / warmup as f64).min(1.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Warm-up from `1/W`, decay to `1/D` at the last step, both at once
    /// where they overlap, and exactly 1 when off.
    #[test]
    fn step_factor_warms_up_and_decays_linearly() {
        let f: Vec<f64> = (0..6).map(|s| step_factor(s, 6, 2, 2)).collect();
        assert_eq!(f, vec![0.5, 1.0, 1.0, 1.0, 1.0, 0.5]);
        let f: Vec<f64> = (0..4).map(|s| step_factor(s, 4, 4, 0)).collect();
        assert_eq!(f, vec![0.25, 0.5, 0.75, 1.0]);
        let f: Vec<f64> = (0..4).map(|s| step_factor(s, 4, 0, 4)).collect();
        assert_eq!(f, vec![1.0, 0.75, 0.5, 0.25]);
        assert_eq!(step_factor(0, 2, 2, 2), 0.5 * 1.0);
        assert_eq!(step_factor(1, 2, 2, 2), 1.0 * 0.5);
        assert!((0..10).all(|s| step_factor(s, 10, 0, 0) == 1.0));
    }

    /// `min(s / N, 1)`: 0 at the start, a half at `N/2`, 1 from `N` on.
    #[test]
    fn l1_warmup_is_linear_then_flat() {
        assert_eq!(l1_warmup_factor(0, 10), 0.0);
        assert_eq!(l1_warmup_factor(5, 10), 0.5);
        assert_eq!(l1_warmup_factor(10, 10), 1.0);
        assert_eq!(l1_warmup_factor(20, 10), 1.0);
        assert_eq!(l1_warmup_factor(3, 7), 3.0 / 7.0);
        assert_eq!(l1_warmup_factor(0, 0), 1.0);
    }

    #[test]
    fn step_multiplies_every_period() {
        let s = Schedule::Step {
            every: 2,
            gamma: 0.5,
        };
        let lrs: Vec<f64> = (1..=5).map(|e| learning_rate(s, 0.8, e, 5)).collect();
        assert_eq!(lrs, vec![0.8, 0.8, 0.4, 0.4, 0.2]);
    }

    #[test]
    fn cosine_runs_from_base_to_floor_monotonically() {
        let s = Schedule::Cosine { min_factor: 0.1 };
        let lrs: Vec<f64> = (1..=11).map(|e| learning_rate(s, 1.0, e, 11)).collect();
        assert!((lrs[0] - 1.0).abs() < 1e-15);
        assert!((lrs[10] - 0.1).abs() < 1e-15);
        // Halfway the cosine is at the midpoint of base and floor.
        assert!((lrs[5] - 0.55).abs() < 1e-12);
        assert!(lrs.windows(2).all(|w| w[1] < w[0]));
    }

    #[test]
    fn constant_ignores_the_epoch() {
        assert_eq!(learning_rate(Schedule::Constant, 0.3, 7, 9), 0.3);
    }
}
