//! Per-hotkey rate limit for `Allocate` (`sn27-protocol.md` §10.3): a token bucket per caller,
//! so one validator — even an admitted, staked one — cannot keep the allocation lock busy or
//! flood the engine. Callers reach this only after the access policy admitted them, so the
//! table is bounded by the subnet's size.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Requests a caller may make at once.
pub const BURST: f64 = 20.0;
/// One more request is allowed every this long.
pub const REFILL: Duration = Duration::from_secs(3);
/// Forget callers idle this long (their bucket is full again anyway).
const IDLE: Duration = Duration::from_secs(600);

#[derive(Default)]
pub struct HotkeyLimiter {
    buckets: Mutex<HashMap<String, (f64, Instant)>>,
}

impl HotkeyLimiter {
    /// Takes one request from `hotkey`'s bucket; `false` when it is empty.
    pub fn allow(&self, hotkey: &str) -> bool {
        self.allow_at(hotkey, Instant::now())
    }

    fn allow_at(&self, hotkey: &str, now: Instant) -> bool {
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        if buckets.len() > 8192 {
            buckets.retain(|_, (_, last)| now.saturating_duration_since(*last) < IDLE);
        }
        let (tokens, last) = buckets.entry(hotkey.to_string()).or_insert((BURST, now));
        let refilled = now.saturating_duration_since(*last).as_secs_f64() / REFILL.as_secs_f64();
        *tokens = (*tokens + refilled).min(BURST);
        *last = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_then_one_request_per_refill_period_per_hotkey() {
        let limiter = HotkeyLimiter::default();
        let start = Instant::now();
        for _ in 0..BURST as usize {
            assert!(limiter.allow_at("a", start));
        }
        assert!(!limiter.allow_at("a", start), "bucket empty");
        assert!(
            limiter.allow_at("b", start),
            "other callers are not affected"
        );
        assert!(!limiter.allow_at("a", start + REFILL / 2));
        assert!(limiter.allow_at("a", start + REFILL));
        assert!(!limiter.allow_at("a", start + REFILL));
    }
}
