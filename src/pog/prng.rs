//! The xorshift32 element generator of Proof-of-GPU (sn27-protocol §6.4).
//!
//! Both matrices of a PoG round are defined element by element from a seed, so a validator
//! can recompute any single entry without the miner's data. The element at `(row, col)`
//! depends only on `seed + row + col (mod 2^32)`: a matrix is therefore a Hankel matrix
//! with only `2n − 1` distinct values, which [`matrix`] exploits (generate one window of
//! values, then copy row `r` from offset `r`). The results are bit-identical to evaluating
//! [`value`] at every position; only the amount of work differs.
//!
//! Two float conversions exist because the reference miner and validator round
//! differently (see [`Conversion`]); both are reproduced exactly.

use crate::pog::parallel;

/// Number of xorshift rounds applied to the start state.
const ROUNDS: usize = 10;

/// `2^-32` exactly; multiplying an f32 by it is exact (no subnormals can arise from a
/// non-zero u32).
const MINER_SCALE: f32 = 1.0 / 4_294_967_296.0;

/// `0xFFFFFFFF` as the reference validator divides by it (in f64).
const VALIDATOR_DIVISOR: f64 = 4_294_967_295.0;

/// How the 32-bit PRNG output becomes an f32; the two reference programs disagree by one
/// ulp on about 0.8 % of elements, and the verification tolerance absorbs that.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Conversion {
    /// The reference validator: `float32(x / 4294967295.0)` with the division in f64.
    Validator,
    /// The reference miner script: `float32(x) · 2^-32`, all in f32 (its divisor
    /// `float(0xFFFFFFFF)` rounds to `2^32` in f32).
    Miner,
}

impl Conversion {
    /// Converts one PRNG output to its matrix element.
    #[inline(always)]
    pub fn to_f32(self, bits: u32) -> f32 {
        match self {
            Conversion::Validator => (bits as f64 / VALIDATOR_DIVISOR) as f32,
            Conversion::Miner => bits as f32 * MINER_SCALE,
        }
    }
}

#[inline(always)]
fn scramble(mut x: u32) -> u32 {
    for _ in 0..ROUNDS {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
    }
    x
}

/// The PRNG output for element `(row, col)` of the matrix with `seed`: the start state
/// `(seed + (row mod 2^32) + col) mod 2^32` after ten xorshift32 rounds.
///
/// Only the low 32 bits of `seed`, `row` and `col` matter. Zero is a fixed point.
#[inline]
pub fn xorshift_bits(seed: u64, row: u64, col: u64) -> u32 {
    // Truncating each term before the wrapping add equals reducing the full sum mod 2^32.
    scramble(
        (seed as u32)
            .wrapping_add(row as u32)
            .wrapping_add(col as u32),
    )
}

/// Element `(row, col)` of the matrix with `seed`, converted as `conv` says.
#[inline]
pub fn value(seed: u64, row: u64, col: u64, conv: Conversion) -> f32 {
    conv.to_f32(xorshift_bits(seed, row, col))
}

/// Fills `out[k]` with the element whose `row + col` equals `start + k` (mod 2^32), i.e.
/// `out[k] == value(seed, start, k, conv)` for every `k`.
///
/// Because an element depends only on `row + col`, this one routine yields a row
/// (`start` = row index) and a column (`start` = column index) alike. The loop is
/// written so that the compiler vectorises it.
pub fn fill_sequence(seed: u64, start: u64, conv: Conversion, out: &mut [f32]) {
    let base = (seed as u32).wrapping_add(start as u32);
    // One loop per conversion keeps the match out of the vectorised body.
    match conv {
        Conversion::Validator => {
            for (k, slot) in out.iter_mut().enumerate() {
                *slot = Conversion::Validator.to_f32(scramble(base.wrapping_add(k as u32)));
            }
        }
        Conversion::Miner => {
            for (k, slot) in out.iter_mut().enumerate() {
                *slot = Conversion::Miner.to_f32(scramble(base.wrapping_add(k as u32)));
            }
        }
    }
}

/// The whole `n × n` matrix with `seed`, row-major: `m[r * n + c] == value(seed, r, c, conv)`.
///
/// Rows are written by up to `available_parallelism()` scoped threads. Panics only if
/// `n²` overflows `usize` (such a matrix could not be allocated anyway).
pub fn matrix(seed: u64, n: usize, conv: Conversion) -> Vec<f32> {
    let len = n
        .checked_mul(n)
        .expect("matrix side n is so large that n*n overflows usize");
    if n == 0 {
        return Vec::new();
    }
    // Row r is window[r .. r + n]: the Hankel structure described in the module doc.
    let mut window = vec![0.0f32; 2 * n - 1];
    fill_sequence(seed, 0, conv, &mut window);
    let mut out = vec![0.0f32; len];
    parallel::for_each_row_run(&mut out, n, n, |first_row, rows| {
        for (k, row) in rows.chunks_exact_mut(n).enumerate() {
            let r = first_row + k;
            row.copy_from_slice(&window[r..r + n]);
        }
    });
    out
}

/// The `n × n` matrix computed element by element (every entry runs the ten rounds), in
/// parallel like [`matrix`].
///
/// Exists to measure and test what direct generation costs, as a GPU worker does it; the
/// result equals [`matrix`]. Panics only if `n²` overflows `usize`.
pub fn matrix_direct(seed: u64, n: usize, conv: Conversion) -> Vec<f32> {
    let len = n
        .checked_mul(n)
        .expect("matrix side n is so large that n*n overflows usize");
    let mut out = vec![0.0f32; len];
    parallel::for_each_row_run(&mut out, n, n, |first_row, rows| {
        for (k, row) in rows.chunks_exact_mut(n).enumerate() {
            fill_sequence(seed, (first_row + k) as u64, conv, row);
        }
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (seed, row, col, x after 10 rounds, f32 bits for both conversions) from spec §6.4.
    const VECTORS: [(u64, u64, u64, u32, u32); 3] = [
        (0x0123_4567_89AB_CDEF, 3, 5, 0x17A1_5DB6, 0x3DBD_0AEE),
        (1, 0, 0, 0xADD0_2374, 0x3F2D_D023),
        (
            0xFFFF_FFFF_FFFF_FFFF,
            20703,
            20703,
            0x49D4_8B63,
            0x3E93_A917,
        ),
    ];

    #[test]
    fn spec_vectors_bits_and_both_conversions() {
        for (seed, row, col, x, f) in VECTORS {
            assert_eq!(xorshift_bits(seed, row, col), x, "bits for seed {seed:#x}");
            let v = value(seed, row, col, Conversion::Validator);
            let m = value(seed, row, col, Conversion::Miner);
            assert_eq!(v.to_bits(), f, "validator conversion for seed {seed:#x}");
            assert_eq!(m.to_bits(), f, "miner conversion for seed {seed:#x}");
        }
        assert!((value(1, 0, 0, Conversion::Validator) - 0.678_957_16).abs() < 1e-7);
    }

    #[test]
    fn zero_is_a_fixed_point_and_high_seed_bits_are_ignored() {
        assert_eq!(xorshift_bits(0, 0, 0), 0);
        assert_eq!(xorshift_bits(0xFFFF_FFFF, 1, 0), 0);
        assert_eq!(
            xorshift_bits(0xDEAD_BEEF_0000_0007, 2, 3),
            xorshift_bits(7, 2, 3)
        );
        assert_eq!(xorshift_bits(5, 1 << 32, 0), xorshift_bits(5, 0, 0));
    }

    #[test]
    fn miner_scale_is_two_to_minus_32() {
        assert_eq!(MINER_SCALE.to_bits(), 0x2F80_0000);
        assert_eq!(Conversion::Miner.to_f32(u32::MAX), 1.0);
        // The conversions do differ on some inputs (the reason both exist).
        let differing = (1u32..200_000)
            .map(|k| k.wrapping_mul(2_654_435_761))
            .filter(|&x| Conversion::Miner.to_f32(x) != Conversion::Validator.to_f32(x))
            .count();
        assert!(differing > 0);
    }

    #[test]
    fn matrix_equals_value_elementwise() {
        for (n, seed) in [
            (0usize, 3u64),
            (1, 9),
            (2, 0xFFFF_FFFF),
            (7, 1),
            (33, 0x1234_5678_9ABC),
        ] {
            for conv in [Conversion::Validator, Conversion::Miner] {
                let m = matrix(seed, n, conv);
                let d = matrix_direct(seed, n, conv);
                assert_eq!(m.len(), n * n);
                for r in 0..n {
                    for c in 0..n {
                        let want = value(seed, r as u64, c as u64, conv).to_bits();
                        assert_eq!(m[r * n + c].to_bits(), want, "({r},{c}) n={n}");
                        assert_eq!(d[r * n + c].to_bits(), want, "direct ({r},{c}) n={n}");
                    }
                }
            }
        }
    }

    #[test]
    fn threaded_matrix_matches_values_at_sampled_positions() {
        // Large enough that several threads split the rows.
        let n = 700;
        let seed = 0xFFFF_FFF0;
        let m = matrix(seed, n, Conversion::Validator);
        for (r, c) in [
            (0, 0),
            (0, 699),
            (350, 1),
            (699, 699),
            (512, 37),
            (123, 456),
        ] {
            let want = value(seed, r as u64, c as u64, Conversion::Validator);
            assert_eq!(m[r * n + c].to_bits(), want.to_bits());
        }
        assert_eq!(m, matrix_direct(seed, n, Conversion::Validator));
    }

    #[test]
    fn fill_sequence_matches_value() {
        let mut out = [0.0f32; 50];
        fill_sequence(0xFFFF_FFF8, 10, Conversion::Miner, &mut out);
        for (k, v) in out.iter().enumerate() {
            assert_eq!(
                v.to_bits(),
                value(0xFFFF_FFF8, 10, k as u64, Conversion::Miner).to_bits()
            );
        }
    }
}
