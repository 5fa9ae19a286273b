//! The validator's verdict rules (sn27-protocol §6.6, sn27-v2 §4.3).
//!
//! A challenged entry `C[i][j]` is recomputed from the seeds alone, in f64, and compared
//! with the miner's f32 value under numpy's `isclose` rule; then enough GPUs must pass and
//! the miner's timings must be plausible for the GPU it benchmarked as.

use crate::pog::prng::{fill_sequence, Conversion};

/// Absolute tolerance of the v1 value check (`np.isclose(..., atol=1e-5)`).
pub const ATOL_V1: f64 = 1e-5;
/// Relative tolerance of the v1 value check (numpy's default `rtol`).
pub const RTOL_V1: f64 = 1e-5;

/// Values generated per step of [`expected_value`]: small enough to stay on the stack and
/// in L1, large enough for the vectorised generator to run at full speed.
const CHUNK: usize = 512;

/// `Σ_c A[i][c] · B[c][j]` for `A` from `seed_a`, `B` from `seed_b`, both `n × n` with the
/// [`Conversion::Validator`] rounding: each product of two f32 values is exact in f64 and
/// the sum is accumulated in f64 strictly in order `c = 0, 1, …, n−1`.
///
/// The fixed order makes the result bit-reproducible across machines, so two validators
/// always agree on a verdict. Costs O(n) time and no heap memory.
pub fn expected_value(seed_a: u64, seed_b: u64, i: u64, j: u64, n: u64) -> f64 {
    let mut a = [0.0f32; CHUNK];
    let mut b = [0.0f32; CHUNK];
    let mut sum = 0.0f64;
    let mut c = 0u64;
    while c < n {
        let len = (n - c).min(CHUNK as u64) as usize;
        // A[i][c..] depends on i + c, and B[c..][j] on c + j (see `prng`).
        fill_sequence(
            seed_a,
            i.wrapping_add(c),
            Conversion::Validator,
            &mut a[..len],
        );
        fill_sequence(
            seed_b,
            j.wrapping_add(c),
            Conversion::Validator,
            &mut b[..len],
        );
        for (&x, &y) in a[..len].iter().zip(&b[..len]) {
            sum += x as f64 * y as f64;
        }
        c += len as u64;
    }
    sum
}

/// numpy's `isclose(actual, expected, atol, rtol)`: `|actual − expected| ≤ atol + rtol·|expected|`.
/// A NaN on either side is never close.
pub fn isclose(actual: f32, expected: f64, atol: f64, rtol: f64) -> bool {
    (actual as f64 - expected).abs() <= atol + rtol * expected.abs()
}

/// Which rule decides how many of a miner's GPUs must pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PassRule {
    /// v1.x: 4 GPUs → 3; more than 4 → ⌈0.75·N⌉; fewer than 4 → all.
    V1,
    /// v2.x: up to 4 GPUs → all; more → ⌈0.75·N⌉.
    V2,
}

/// How many of `gpus` GPUs must pass verification for the miner to be credited with all of
/// them. Returns 0 for 0 GPUs: rejecting a miner that reports none is the caller's job.
pub fn required_passes(gpus: usize, rule: PassRule) -> usize {
    if gpus > 4 {
        // ⌈3N/4⌉ without overflow.
        gpus - gpus / 4
    } else if gpus == 4 && rule == PassRule::V1 {
        3
    } else {
        gpus
    }
}

/// The timing rule: the whole compute run (`elapsed_secs`, measured by the validator) took
/// less than `tolerance_secs + gpus · t32`, and the miner's mean reported multiplication
/// time is below its own fp32 benchmark time `t32`. Any NaN makes it fail.
pub fn timing_ok(
    elapsed_secs: f64,
    gpus: usize,
    t32: f64,
    mean_multiplication_secs: f64,
    tolerance_secs: f64,
) -> bool {
    elapsed_secs < tolerance_secs + gpus as f64 * t32 && mean_multiplication_secs < t32
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pog::prng::value;

    fn naive(seed_a: u64, seed_b: u64, i: u64, j: u64, n: u64) -> f64 {
        let mut sum = 0.0f64;
        for c in 0..n {
            let a = value(seed_a, i, c, Conversion::Validator) as f64;
            let b = value(seed_b, c, j, Conversion::Validator) as f64;
            sum += a * b;
        }
        sum
    }

    #[test]
    fn expected_value_equals_naive_sum() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(0x5eed);
        for _ in 0..200 {
            let n = rng.gen_range(0..2000u64);
            let (sa, sb): (u64, u64) = (rng.gen(), rng.gen());
            let i = if n == 0 { 0 } else { rng.gen_range(0..n) };
            let j = if n == 0 { 0 } else { rng.gen_range(0..n) };
            let got = expected_value(sa, sb, i, j, n);
            assert_eq!(got.to_bits(), naive(sa, sb, i, j, n).to_bits(), "n={n}");
        }
        // Seeds near 2^32 wrap inside a row.
        let got = expected_value(0xFFFF_FFFF, 0xFFFF_FF00, 1, 7, 1500);
        assert_eq!(got, naive(0xFFFF_FFFF, 0xFFFF_FF00, 1, 7, 1500));
    }

    #[test]
    fn expected_value_is_about_n_over_four() {
        let n = 20704;
        let v = expected_value(12345, 67890, 100, 2000, n);
        assert!((v - n as f64 / 4.0).abs() < n as f64 * 0.02, "{v}");
    }

    #[test]
    fn isclose_follows_numpy() {
        assert!(isclose(1.0, 1.0, ATOL_V1, RTOL_V1));
        assert!(isclose(5200.05, 5200.0, ATOL_V1, RTOL_V1));
        assert!(!isclose(5200.1, 5200.0, ATOL_V1, RTOL_V1));
        assert!(isclose(0.0, 1e-5, ATOL_V1, RTOL_V1));
        assert!(!isclose(f32::NAN, 1.0, ATOL_V1, RTOL_V1));
        assert!(!isclose(1.0, f64::NAN, ATOL_V1, RTOL_V1));
        assert!(!isclose(f32::INFINITY, 1.0, ATOL_V1, RTOL_V1));
    }

    #[test]
    fn pass_thresholds() {
        let v1: Vec<usize> = (0..=9).map(|n| required_passes(n, PassRule::V1)).collect();
        assert_eq!(v1, vec![0, 1, 2, 3, 3, 4, 5, 6, 6, 7]);
        let v2: Vec<usize> = (0..=9).map(|n| required_passes(n, PassRule::V2)).collect();
        assert_eq!(v2, vec![0, 1, 2, 3, 4, 4, 5, 6, 6, 7]);
        assert_eq!(required_passes(64, PassRule::V2), 48);
    }

    #[test]
    fn timing_rule() {
        assert!(timing_ok(10.0, 2, 4.0, 3.9, 5.0));
        assert!(!timing_ok(13.0, 2, 4.0, 3.9, 5.0));
        assert!(!timing_ok(10.0, 2, 4.0, 4.0, 5.0));
        assert!(!timing_ok(f64::NAN, 2, 4.0, 1.0, 5.0));
        assert!(!timing_ok(1.0, 2, 4.0, f64::NAN, 5.0));
    }
}
