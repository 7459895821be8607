//! Seeded randomness.
//!
//! All randomness in tiedae comes from [`seeded`], a ChaCha8 generator whose
//! stream is fixed by its algorithm (unlike `StdRng`, which may change between
//! rand releases), so a seed reproduces a result on any machine. Work that
//! runs in parallel derives one generator per task with [`derive_seed`], never
//! shares one, so results do not depend on the thread count.

use rand::SeedableRng;
pub use rand_chacha::ChaCha8Rng as Rng;

/// A generator for `seed`.
pub fn seeded(seed: u64) -> Rng {
    Rng::seed_from_u64(seed)
}

/// A seed for sub-task `index` of a run seeded with `seed` (SplitMix64 mix),
/// so that parallel tasks get independent, reproducible streams.
pub fn derive_seed(seed: u64, index: u64) -> u64 {
    let mut z = seed ^ index.wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}
