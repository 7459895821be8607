//! Learning rate per epoch. A pure function of the epoch number, so a resumed
//! run needs no schedule state.

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

#[cfg(test)]
mod tests {
    use super::*;

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
