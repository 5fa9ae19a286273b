//! Matrix sizes derived from the miner's VRAM estimate (sn27-protocol §6.3, sn27-v2 §4.2).
//!
//! The benchmark and the Merkle round both size their matrices from one number `V`, the
//! worker's VRAM estimate in GB as printed with two decimals. The formula runs in f64
//! exactly as the reference does, so that a validator and any reference peer derive the
//! same `n` from the same `V`.

/// Merkle-round buffer of v1.x validators: `n` uses 10 % of `V`.
pub const MERKLE_BUFFER_V1: f64 = 0.10;

/// Merkle-round buffer of v2.x validators: `n` uses 5 % of `V`.
pub const MERKLE_BUFFER_V2: f64 = 0.05;

/// Rounds down to a multiple of 32.
pub fn align32(x: u64) -> u64 {
    x / 32 * 32
}

/// `align32(⌊√(V·buffer·1e9 / (2·elem_bytes))⌋)`: the side of the largest square matrix of
/// which two copies of `elem_bytes`-sized elements fit in `buffer` of `V` GB.
///
/// The evaluation order (`V·buffer` first, then `·1e9`) is the reference's; a negative,
/// zero or non-finite argument yields 0.
pub fn adjust(vram_gb: f64, elem_bytes: f64, buffer: f64) -> u64 {
    let usable_bytes = vram_gb * buffer * 1e9;
    let side = (usable_bytes / (2.0 * elem_bytes)).sqrt().floor();
    if side.is_finite() && side > 0.0 {
        // `as` saturates, so an absurd V cannot wrap around.
        align32(side as u64)
    } else {
        0
    }
}

/// Rounds a VRAM estimate to two decimals the way the worker prints it
/// (Python `f"{v:.2f}"`), since validators size matrices from the printed value.
///
/// Both Rust's and Python's fixed-precision formatting round the exact binary value
/// half-to-even, so formatting and parsing back reproduces the printed number.
pub fn round_vram(v: f64) -> f64 {
    if !v.is_finite() {
        return v;
    }
    format!("{v:.2}").parse().unwrap_or(v)
}

/// The three matrix sides a PoG round uses for one VRAM estimate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sizes {
    /// Side of the fp16 benchmark matmul: `adjust(V, 2, 1.0)`.
    pub size16: u64,
    /// Side of the fp32 benchmark matmul: `adjust(V, 4, 0.5)`.
    pub size32: u64,
    /// Side of the Merkle-round matrices: `adjust(V, 4, merkle_buffer)`.
    pub n: u64,
}

impl Sizes {
    /// Sizes for the (already rounded, see [`round_vram`]) VRAM estimate `vram_gb` with the
    /// Merkle buffer of the rule set in force ([`MERKLE_BUFFER_V1`] or [`MERKLE_BUFFER_V2`]).
    pub fn for_vram(vram_gb: f64, merkle_buffer: f64) -> Sizes {
        Sizes {
            size16: adjust(vram_gb, 2.0, 1.0),
            size32: adjust(vram_gb, 4.0, 0.5),
            n: adjust(vram_gb, 4.0, merkle_buffer),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_table_rows() {
        let rows = [
            (8.59, 46336, 23168, 10336, 7296),
            (17.18, 65536, 32768, 14624, 10336),
            (34.36, 92672, 46336, 20704, 14624),
            (68.72, 131072, 65536, 29280, 20704),
        ];
        for (v, s16, s32, n1, n2) in rows {
            let v1 = Sizes::for_vram(v, MERKLE_BUFFER_V1);
            assert_eq!(
                v1,
                Sizes {
                    size16: s16,
                    size32: s32,
                    n: n1
                },
                "V = {v}"
            );
            assert_eq!(
                Sizes::for_vram(v, MERKLE_BUFFER_V2).n,
                n2,
                "v2 n for V = {v}"
            );
        }
    }

    #[test]
    fn cpu_test_vram_gives_small_sizes() {
        let s = Sizes::for_vram(0.0001, MERKLE_BUFFER_V1);
        assert_eq!((s.size16, s.size32, s.n), (128, 64, 32));
    }

    #[test]
    fn degenerate_inputs_give_zero() {
        assert_eq!(adjust(0.0, 4.0, 0.1), 0);
        assert_eq!(adjust(-5.0, 4.0, 0.1), 0);
        assert_eq!(adjust(f64::NAN, 4.0, 0.1), 0);
        assert_eq!(adjust(f64::INFINITY, 4.0, 0.1), 0);
        assert_eq!(align32(31), 0);
        assert_eq!(align32(64), 64);
    }

    #[test]
    fn round_vram_matches_python_formatting() {
        // Values checked against CPython's f"{v:.2f}".
        assert_eq!(round_vram(2.0 * 17_179_869_184.0 / 1e9), 34.36);
        assert_eq!(round_vram(68.719476736), 68.72);
        assert_eq!(round_vram(8.589934592), 8.59);
        assert_eq!(round_vram(0.125), 0.12);
        assert_eq!(round_vram(0.375), 0.38);
        assert_eq!(round_vram(2.675), 2.67);
        assert_eq!(round_vram(1.005), 1.0);
        assert_eq!(round_vram(0.0001), 0.0);
        assert_eq!(round_vram(0.005), 0.01);
        assert_eq!(round_vram(0.015), 0.01);
        assert_eq!(round_vram(0.025), 0.03);
        assert!(round_vram(f64::NAN).is_nan());
    }
}
