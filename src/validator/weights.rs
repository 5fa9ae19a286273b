//! From per-uid scores to the `u16` weights `set_weights` carries, exactly as the Python SDK
//! computes them (`sn27-protocol.md` §9, `bittensor-wire.md` §5.6).
//!
//! 1. Negative scores become 0; the scores are L1-normalised in float32 (`s / max(Σ|s|, 1e-12)`),
//!    the sum taken in numpy's pairwise order so that the float32 result is bit-identical.
//! 2. `convert_weights_and_uids_for_emit`: the float32 values taken as f64, divided by their
//!    maximum, scaled by 65535 and rounded half to even; zeros are dropped with their uids; an
//!    all-zero vector gives empty vectors.

use std::fmt;

/// Why weights cannot be emitted.
#[derive(Debug, Clone, PartialEq)]
pub enum WeightsError {
    LengthMismatch { uids: usize, weights: usize },
    Negative { uid: u16, weight: f64 },
    NotFinite { uid: u16 },
}

impl fmt::Display for WeightsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WeightsError::LengthMismatch { uids, weights } => {
                write!(f, "{uids} uids but {weights} weights")
            }
            WeightsError::Negative { uid, weight } => {
                write!(f, "weight of uid {uid} is negative ({weight})")
            }
            WeightsError::NotFinite { uid } => write!(f, "weight of uid {uid} is not a number"),
        }
    }
}

impl std::error::Error for WeightsError {}

/// Scores (any scale, one per uid) to L1-normalised float32 weights; negatives and NaN count
/// as 0.
pub fn normalize(scores: &[f64]) -> Vec<f32> {
    let clean: Vec<f32> = scores
        .iter()
        .map(|&s| {
            if s.is_finite() && s > 0.0 {
                s as f32
            } else {
                0.0
            }
        })
        .collect();
    let sum = pairwise_sum(&clean).max(1e-12);
    clean.iter().map(|&w| w / sum).collect()
}

/// numpy's pairwise summation of float32 values (`pairwise_sum_FLOAT`), order and all.
fn pairwise_sum(values: &[f32]) -> f32 {
    const BLOCK: usize = 128;
    let n = values.len();
    if n < 8 {
        // numpy starts from -0.0 here; only the sign of an all-zero sum differs, and it is
        // clamped to 1e-12 anyway.
        values.iter().fold(0.0f32, |acc, &v| acc + v)
    } else if n <= BLOCK {
        let mut r = [0f32; 8];
        r.copy_from_slice(&values[..8]);
        let mut i = 8;
        while i < n - (n % 8) {
            for (j, acc) in r.iter_mut().enumerate() {
                *acc += values[i + j];
            }
            i += 8;
        }
        let mut res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
        for &v in &values[i..] {
            res += v;
        }
        res
    } else {
        let mut half = n / 2;
        half -= half % 8;
        pairwise_sum(&values[..half]) + pairwise_sum(&values[half..])
    }
}

/// The SDK's `convert_weights_and_uids_for_emit`: `(dests, weights)` for `set_weights`.
pub fn to_u16(uids: &[u16], weights: &[f32]) -> Result<(Vec<u16>, Vec<u16>), WeightsError> {
    if uids.len() != weights.len() {
        return Err(WeightsError::LengthMismatch {
            uids: uids.len(),
            weights: weights.len(),
        });
    }
    for (&uid, &w) in uids.iter().zip(weights) {
        if w.is_nan() || w.is_infinite() {
            return Err(WeightsError::NotFinite { uid });
        }
        if w < 0.0 {
            return Err(WeightsError::Negative {
                uid,
                weight: f64::from(w),
            });
        }
    }
    let total: f64 = weights.iter().map(|&w| f64::from(w)).sum();
    if total == 0.0 {
        return Ok((Vec::new(), Vec::new()));
    }
    let max = weights.iter().map(|&w| f64::from(w)).fold(0.0, f64::max);
    let mut dests = Vec::new();
    let mut values = Vec::new();
    for (&uid, &w) in uids.iter().zip(weights) {
        let scaled = (f64::from(w) / max * 65535.0).round_ties_even();
        if scaled != 0.0 {
            dests.push(uid);
            values.push(scaled as u16);
        }
    }
    Ok((dests, values))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `sn27-protocol.md` §9's worked example: normalising in float32 gives 45875 where the
    /// exact ratio would round to 45874.
    #[test]
    fn worked_example() {
        let scores = [0.0, 0.125, 0.0875, 0.059375, 0.0];
        let weights = normalize(&scores);
        let (dests, values) = to_u16(&[0, 1, 2, 3, 4], &weights).unwrap();
        assert_eq!(dests, [1, 2, 3]);
        assert_eq!(values, [65535, 45875, 31129]);
    }

    #[test]
    fn zeros_negatives_and_errors() {
        assert_eq!(to_u16(&[0, 1], &[0.0, 0.0]).unwrap(), (vec![], vec![]));
        let weights = normalize(&[-1.0, f64::NAN, 2.0]);
        assert_eq!(
            to_u16(&[0, 1, 2], &weights).unwrap(),
            (vec![2], vec![65535])
        );
        assert!(matches!(
            to_u16(&[0], &[-0.5]),
            Err(WeightsError::Negative { uid: 0, .. })
        ));
        assert!(matches!(
            to_u16(&[0, 1], &[0.5]),
            Err(WeightsError::LengthMismatch { .. })
        ));
        assert!(to_u16(&[0], &[f32::NAN]).is_err());
        // A weight far below the maximum rounds to 0 and is dropped with its uid.
        assert_eq!(
            to_u16(&[0, 1], &[1.0, 1e-6]).unwrap(),
            (vec![0], vec![65535])
        );
    }

    #[test]
    fn pairwise_sum_matches_plain_sum_on_exact_values() {
        let values: Vec<f32> = (0..1000).map(|i| (i % 7) as f32).collect();
        let plain: f32 = values.iter().sum();
        assert_eq!(pairwise_sum(&values), plain);
    }
}
