//! SHA-256 of several equal-length rows at once, with the x86 SHA extensions.
//!
//! Hashing the leaves is almost all of a Merkle build (4n² bytes against 64·n bytes for
//! the inner nodes). One SHA-256 stream is limited by the latency of `sha256rnds2`, not by
//! its throughput, so a single core can hash several independent rows in the time of one
//! when their instructions are interleaved. All leaves of a tree have the same length,
//! which makes the lanes run in lockstep, padding included.
//!
//! This is the crate's only `unsafe` code: SIMD intrinsics behind a runtime CPU check.
//! Results are tested against the `sha2` crate; on CPUs without the extensions (or other
//! architectures) callers fall back to `sha2`.

use crate::pog::merkle::Node;

/// Rows hashed together by [`leaves_into`]: enough independent streams to cover the
/// round instruction's latency without spilling too many registers.
pub(crate) const LANES: usize = 4;

/// Writes `out[k] = leaf(row k)` for the rows of `rows` (row length `n`, `rows.len() ==
/// out.len() * n`), using the multi-lane kernel where the CPU supports it.
pub(crate) fn leaves_into(rows: &[f32], n: usize, out: &mut [Node]) {
    #[cfg(target_arch = "x86_64")]
    {
        if x86::available() {
            let mut groups = out.chunks_exact_mut(LANES);
            let mut next_row = 0;
            for group in &mut groups {
                let lanes: [&[f32]; LANES] =
                    std::array::from_fn(|l| &rows[(next_row + l) * n..(next_row + l + 1) * n]);
                // SAFETY: `available()` confirmed the CPU has every feature the kernel
                // is compiled for.
                let digests = unsafe { x86::hash_rows(lanes) };
                group.copy_from_slice(&digests);
                next_row += LANES;
            }
            portable(&rows[next_row * n..], n, groups.into_remainder());
            return;
        }
    }
    portable(rows, n, out);
}

/// One row at a time through the `sha2` crate: the fallback, and the reference the
/// kernel is tested against.
fn portable(rows: &[f32], n: usize, out: &mut [Node]) {
    for (r, slot) in out.iter_mut().enumerate() {
        *slot = crate::pog::merkle::leaf(&rows[r * n..(r + 1) * n]);
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    use super::LANES;
    use crate::pog::merkle::Node;

    const K: [u32; 64] = [
        0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4,
        0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe,
        0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f,
        0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
        0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc,
        0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
        0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116,
        0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
        0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
        0xc67178f2,
    ];

    const H0: [u32; 8] = [
        0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab,
        0x5be0cd19,
    ];

    pub(super) fn available() -> bool {
        is_x86_feature_detected!("sha")
            && is_x86_feature_detected!("sse2")
            && is_x86_feature_detected!("ssse3")
            && is_x86_feature_detected!("sse4.1")
    }

    /// The state of one lane as the SHA instructions hold it: `[F, E, B, A]` and
    /// `[H, G, D, C]` (lane 0 first).
    struct State {
        abef: [__m128i; LANES],
        cdgh: [__m128i; LANES],
    }

    /// One 64-byte block per lane. Each step below loops over the lanes, so the
    /// independent chains sit next to each other in the instruction stream.
    // The lane index addresses several parallel arrays at once, so it stays an index.
    #[allow(clippy::needless_range_loop)]
    #[inline(always)]
    unsafe fn compress(state: &mut State, blocks: [*const u8; LANES]) {
        let bswap = _mm_set_epi64x(0x0c0d_0e0f_0809_0a0b, 0x0405_0607_0001_0203);
        let saved_abef = state.abef;
        let saved_cdgh = state.cdgh;
        // w[q] holds schedule words 4g..4g+4 for the latest g with g % 4 == q.
        let mut w = [[_mm_setzero_si128(); LANES]; 4];
        for (q, words) in w.iter_mut().enumerate() {
            for (l, slot) in words.iter_mut().enumerate() {
                let raw = _mm_loadu_si128(blocks[l].add(16 * q) as *const __m128i);
                *slot = _mm_shuffle_epi8(raw, bswap);
            }
        }
        for g in 0..16 {
            if g >= 4 {
                for l in 0..LANES {
                    // W[t..t+4] = σ1-part(W[t-16] + σ0(W[t-15]) + W[t-7], W[t-4..t]).
                    let part = _mm_sha256msg1_epu32(w[g % 4][l], w[(g + 1) % 4][l]);
                    let part = _mm_add_epi32(
                        part,
                        _mm_alignr_epi8(w[(g + 3) % 4][l], w[(g + 2) % 4][l], 4),
                    );
                    w[g % 4][l] = _mm_sha256msg2_epu32(part, w[(g + 3) % 4][l]);
                }
            }
            let k = _mm_loadu_si128(K.as_ptr().add(4 * g) as *const __m128i);
            for l in 0..LANES {
                let wk = _mm_add_epi32(w[g % 4][l], k);
                // Two rounds turn (ABEF, CDGH) into (ABEF', old ABEF); two more restore
                // the roles, so the pair is swapped and swapped back.
                state.cdgh[l] = _mm_sha256rnds2_epu32(state.cdgh[l], state.abef[l], wk);
                let wk_hi = _mm_shuffle_epi32(wk, 0x0E);
                state.abef[l] = _mm_sha256rnds2_epu32(state.abef[l], state.cdgh[l], wk_hi);
            }
        }
        for l in 0..LANES {
            state.abef[l] = _mm_add_epi32(state.abef[l], saved_abef[l]);
            state.cdgh[l] = _mm_add_epi32(state.cdgh[l], saved_cdgh[l]);
        }
    }

    /// SHA-256 of each of `LANES` rows of equal length as little-endian f32 bytes.
    ///
    /// # Safety
    /// The CPU must support SHA, SSE2, SSSE3 and SSE4.1 ([`available`]).
    #[target_feature(enable = "sha,sse2,ssse3,sse4.1")]
    pub(super) unsafe fn hash_rows(rows: [&[f32]; LANES]) -> [Node; LANES] {
        let len = rows[0].len() * 4;
        debug_assert!(rows.iter().all(|r| r.len() * 4 == len));
        let init_abef = _mm_set_epi32(H0[0] as i32, H0[1] as i32, H0[4] as i32, H0[5] as i32);
        let init_cdgh = _mm_set_epi32(H0[2] as i32, H0[3] as i32, H0[6] as i32, H0[7] as i32);
        let mut state = State {
            abef: [init_abef; LANES],
            cdgh: [init_cdgh; LANES],
        };
        let bases: [*const u8; LANES] = std::array::from_fn(|l| rows[l].as_ptr() as *const u8);
        let full = len / 64;
        for b in 0..full {
            // In bounds: block b ends at 64(b+1) ≤ 64·full ≤ len bytes of each row. The
            // bytes of an f32 slice on x86-64 are its little-endian encoding.
            compress(&mut state, std::array::from_fn(|l| bases[l].add(64 * b)));
        }
        // Padding: the tail, 0x80, zeros, the bit length big-endian; one or two blocks.
        let tail = len % 64;
        let blocks = if tail + 9 <= 64 { 1 } else { 2 };
        let mut pads = [[0u8; 128]; LANES];
        for (l, pad) in pads.iter_mut().enumerate() {
            std::ptr::copy_nonoverlapping(bases[l].add(64 * full), pad.as_mut_ptr(), tail);
            pad[tail] = 0x80;
            pad[64 * blocks - 8..64 * blocks].copy_from_slice(&((len as u64) * 8).to_be_bytes());
        }
        for b in 0..blocks {
            compress(
                &mut state,
                std::array::from_fn(|l| pads[l].as_ptr().add(64 * b)),
            );
        }
        let mut out = [[0u8; 32]; LANES];
        for (l, digest) in out.iter_mut().enumerate() {
            let mut abef = [0u32; 4];
            let mut cdgh = [0u32; 4];
            _mm_storeu_si128(abef.as_mut_ptr() as *mut __m128i, state.abef[l]);
            _mm_storeu_si128(cdgh.as_mut_ptr() as *mut __m128i, state.cdgh[l]);
            let words = [
                abef[3], abef[2], cdgh[3], cdgh[2], abef[1], abef[0], cdgh[1], cdgh[0],
            ];
            for (chunk, word) in digest.chunks_exact_mut(4).zip(words) {
                chunk.copy_from_slice(&word.to_be_bytes());
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lanes_match_sha2_for_every_padding_case() {
        #[cfg(target_arch = "x86_64")]
        eprintln!("SHA extensions available: {}", x86::available());
        // Lengths around the one/two padding block boundary and many full blocks.
        for n in (0..40).chain([47, 48, 100, 1024, 1025, 20704 / 8]) {
            let rows = 2 * LANES + 1;
            let m: Vec<f32> = (0..rows * n).map(|k| (k as f32).sin() * 1e3).collect();
            let mut fast = vec![[0u8; 32]; rows];
            let mut slow = vec![[0u8; 32]; rows];
            leaves_into(&m, n, &mut fast);
            portable(&m, n, &mut slow);
            assert_eq!(fast, slow, "n = {n}");
        }
    }
}
