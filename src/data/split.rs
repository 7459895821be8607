//! Seeded train/test splits.
//!
//! With labels the split is stratified: each class contributes to the test
//! set in proportion to its size, so class frequencies match between the two
//! parts (up to one sample per class). The per-class test counts are the
//! largest-remainder rounding of `count * test_fraction`, whose total is
//! exactly `round(n * test_fraction)`. Ties go to the smaller label.
//!
//! The same `(dataset, fraction, seed)` always gives the same split: the
//! shuffle is the only source of randomness and comes from
//! [`crate::rng::seeded`]. Rows of each part come out in a seeded random order
//! (so a label-sorted source such as `mnist10k` is not sorted afterwards).

use super::Dataset;
use crate::error::{Error, Result};
use crate::rng::seeded;
use rand::seq::SliceRandom;

/// Splits `ds` into `(train, test)` with `round(n * test_fraction)` test rows,
/// stratified by label when `ds` has labels.
///
/// Errors: [`Error::Config`] (field `test_fraction`) if the fraction is not
/// strictly between 0 and 1 or leaves either part with fewer than two rows.
pub fn train_test_split(ds: &Dataset, test_fraction: f64, seed: u64) -> Result<(Dataset, Dataset)> {
    if !(test_fraction > 0.0 && test_fraction < 1.0) {
        return Err(Error::config(
            "test_fraction",
            format!("{test_fraction} is not strictly between 0 and 1"),
        ));
    }
    let n = ds.n_samples();
    let n_test = (n as f64 * test_fraction).round() as usize;
    if n_test < 2 || n - n_test < 2 {
        return Err(Error::config(
            "test_fraction",
            format!(
                "{test_fraction} of {n} rows gives {n_test} test and {} train rows; each part needs at least two",
                n - n_test
            ),
        ));
    }
    let mut rng = seeded(seed);
    let (mut train, mut test) = match ds.labels() {
        None => {
            let mut idx: Vec<usize> = (0..n).collect();
            idx.shuffle(&mut rng);
            let train = idx.split_off(n_test);
            (train, idx)
        }
        Some(labels) => stratified(labels, n_test, &mut rng),
    };
    train.shuffle(&mut rng);
    test.shuffle(&mut rng);
    Ok((ds.select_rows(&train)?, ds.select_rows(&test)?))
}

/// Seeded stratified draws of rows `0..n`: each class's rows (every row as
/// one class when there are no labels) in a seeded random order, and a draw
/// of `k` rows takes from the front of each class its largest-remainder
/// share of `k`, as [`train_test_split`] shares its test rows. So a draw
/// keeps every class's proportion to within one row, and a larger draw
/// contains a smaller one except where the rounding moves a share between
/// classes. A study draws each seed's training rows and validation carve
/// with it.
#[derive(Clone, Debug)]
pub struct StratifiedDraw {
    /// Row indices per class (ascending label), each in seeded order.
    classes: Vec<Vec<usize>>,
    n: usize,
}

impl StratifiedDraw {
    /// Draws over rows `0..labels.len()`, stratified by `labels`.
    pub fn of_labels(labels: &[u32], seed: u64) -> StratifiedDraw {
        let mut by_class: std::collections::BTreeMap<u32, Vec<usize>> = Default::default();
        for (i, &l) in labels.iter().enumerate() {
            by_class.entry(l).or_default().push(i);
        }
        let mut rng = seeded(seed);
        let classes: Vec<Vec<usize>> = by_class
            .into_values()
            .map(|mut rows| {
                rows.shuffle(&mut rng);
                rows
            })
            .collect();
        StratifiedDraw {
            classes,
            n: labels.len(),
        }
    }

    /// Draws over `n` unlabelled rows: a seeded shuffle.
    pub fn unlabelled(n: usize, seed: u64) -> StratifiedDraw {
        let mut rows: Vec<usize> = (0..n).collect();
        rows.shuffle(&mut seeded(seed));
        StratifiedDraw {
            classes: if n == 0 { Vec::new() } else { vec![rows] },
            n,
        }
    }

    /// Stratified by `labels` when there are any, else over `n` rows.
    pub fn new(n: usize, labels: Option<&[u32]>, seed: u64) -> Result<StratifiedDraw> {
        match labels {
            None => Ok(StratifiedDraw::unlabelled(n, seed)),
            Some(l) if l.len() == n => Ok(StratifiedDraw::of_labels(l, seed)),
            Some(l) => Err(Error::InvalidData(format!(
                "{} labels for {n} rows",
                l.len()
            ))),
        }
    }

    /// The first `k` rows of the draw (all rows if `k` exceeds them), in
    /// ascending order.
    pub fn take(&self, k: usize) -> Vec<usize> {
        let k = k.min(self.n);
        let sizes: Vec<usize> = self.classes.iter().map(Vec::len).collect();
        let quota = largest_remainder(&sizes, k, self.n);
        let mut rows: Vec<usize> = self
            .classes
            .iter()
            .zip(quota)
            .flat_map(|(rows, q)| rows[..q].iter().copied())
            .collect();
        rows.sort_unstable();
        rows
    }
}

/// Row indices of `(train, test)`, `n_test` test rows spread over classes.
fn stratified(
    labels: &[u32],
    n_test: usize,
    rng: &mut crate::rng::Rng,
) -> (Vec<usize>, Vec<usize>) {
    let mut classes: std::collections::BTreeMap<u32, Vec<usize>> = Default::default();
    for (i, &l) in labels.iter().enumerate() {
        classes.entry(l).or_default().push(i);
    }
    let quota = largest_remainder(
        &classes.values().map(Vec::len).collect::<Vec<_>>(),
        n_test,
        labels.len(),
    );
    let (mut train, mut test) = (Vec::new(), Vec::new());
    for (rows, k) in classes.into_values().zip(quota) {
        let mut rows = rows;
        rows.shuffle(rng);
        test.extend_from_slice(&rows[..k]);
        train.extend_from_slice(&rows[k..]);
    }
    (train, test)
}

/// Integer shares of `total` proportional to `sizes` (which sum to `n`):
/// floors first, then one more for the largest remainders (earlier first on
/// ties). Each share is at most its size because `total <= n`.
fn largest_remainder(sizes: &[usize], total: usize, n: usize) -> Vec<usize> {
    // Exact integer arithmetic (u128: no overflow): share_c = floor(size_c *
    // total / n), ranked by the remainder size_c * total mod n.
    let prod = |c: usize| sizes[c] as u128 * total as u128;
    let mut shares: Vec<usize> = (0..sizes.len())
        .map(|c| (prod(c) / n as u128) as usize)
        .collect();
    let mut left = total - shares.iter().sum::<usize>();
    let mut order: Vec<usize> = (0..sizes.len()).collect();
    order.sort_by_key(|&c| std::cmp::Reverse(prod(c) % n as u128));
    for c in order {
        if left == 0 {
            break;
        }
        shares[c] += 1;
        left -= 1;
    }
    shares
}

#[cfg(test)]
mod tests {
    use super::{StratifiedDraw, largest_remainder};

    /// Every draw of `k` rows holds each class within one row of its share
    /// of `k`, in ascending order, and is the same for the same seed.
    #[test]
    fn stratified_draws_keep_each_class_within_one_row_of_its_share() {
        let labels: Vec<u32> = (0..97u32)
            .map(|i| match i % 10 {
                0..=5 => 0,
                6..=8 => 1,
                _ => 2,
            })
            .collect();
        let n = labels.len();
        let draw = StratifiedDraw::of_labels(&labels, 5);
        for k in 0..=n {
            let rows = draw.take(k);
            assert_eq!(rows.len(), k);
            assert!(rows.windows(2).all(|w| w[0] < w[1]));
            for c in 0..3u32 {
                let size = labels.iter().filter(|&&l| l == c).count() as f64;
                let got = rows.iter().filter(|&&i| labels[i] == c).count() as f64;
                let share = size * k as f64 / n as f64;
                assert!(
                    (got - share).abs() < 1.0,
                    "k {k} class {c}: {got} vs {share}"
                );
            }
        }
        assert_eq!(
            draw.take(40),
            StratifiedDraw::of_labels(&labels, 5).take(40)
        );
        assert_ne!(
            draw.take(40),
            StratifiedDraw::of_labels(&labels, 6).take(40)
        );
        let plain = StratifiedDraw::unlabelled(10, 3);
        assert_eq!(plain.take(20).len(), 10);
        assert_eq!(
            StratifiedDraw::unlabelled(0, 3).take(5),
            Vec::<usize>::new()
        );
        assert!(StratifiedDraw::new(3, Some(&[0, 1]), 0).is_err());
    }

    #[test]
    fn largest_remainder_sums_to_total_and_is_proportional() {
        assert_eq!(largest_remainder(&[50, 30, 20], 10, 100), [5, 3, 2]);
        // 7 * 3/10 = 2.1, 3 * 3/10 = 0.9 -> floors 2, 0; remainder goes to the 0.9.
        assert_eq!(largest_remainder(&[7, 3], 3, 10), [2, 1]);
        // Ties (0.5 each) go to the earlier class.
        assert_eq!(largest_remainder(&[1, 1], 1, 2), [1, 0]);
        for total in 0..=17 {
            let s = largest_remainder(&[5, 1, 11], total, 17);
            assert_eq!(s.iter().sum::<usize>(), total);
            assert!(s.iter().zip([5, 1, 11]).all(|(a, b)| *a <= b));
        }
    }
}
