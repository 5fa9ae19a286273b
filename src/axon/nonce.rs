//! Replay protection: the nonce rules of the Python axon (`bittensor-wire.md` §4.3), in
//! bounded memory.
//!
//! Per endpoint `"{hotkey}:{uuid}"` the last accepted nonce is kept. The first request of an
//! endpoint must be fresh (`nonce > now − 4 s − timeout`) when the caller's version is 7.2.0 or
//! later; every later one must be strictly greater than the stored nonce. The table holds at
//! most `capacity` endpoints; when full, the least recently used tenth is dropped. A dropped
//! endpoint falls back to the freshness rule, so a replay older than the window still fails.

use std::collections::HashMap;

use crate::protocol::FRESHNESS_MIN_VERSION;

const FRESHNESS_SLACK_NS: u64 = 4_000_000_000;

#[derive(Debug)]
pub struct NonceTable {
    capacity: usize,
    clock: u64,
    entries: HashMap<String, Entry>,
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    nonce: u64,
    last_used: u64,
}

impl NonceTable {
    pub fn new(capacity: usize) -> Self {
        NonceTable {
            capacity: capacity.max(1),
            clock: 0,
            entries: HashMap::new(),
        }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Checks `nonce` without recording it; the error is the Python axon's message.
    pub fn check(
        &self,
        endpoint: &str,
        nonce: u64,
        version: Option<i64>,
        timeout_secs: f64,
        now_ns: u64,
    ) -> Result<(), String> {
        match self.entries.get(endpoint) {
            Some(entry) if nonce <= entry.nonce => {
                Err("Nonce is too old, a newer one was last processed".into())
            }
            Some(_) => Ok(()),
            None => {
                let modern = version.is_some_and(|v| v >= FRESHNESS_MIN_VERSION as i64);
                if !modern {
                    return Ok(());
                }
                let window_ns = FRESHNESS_SLACK_NS.saturating_add((timeout_secs * 1e9) as u64);
                if nonce <= now_ns.saturating_sub(window_ns) {
                    Err(format!(
                        "Nonce is too old: acceptable delta is {:.2} seconds but request was {:.2} seconds old",
                        window_ns as f64 / 1e9,
                        now_ns.saturating_sub(nonce) as f64 / 1e9
                    ))
                } else {
                    Ok(())
                }
            }
        }
    }

    /// Records `nonce` after the signature verified. Fails if a concurrent request of the same
    /// endpoint recorded an equal or newer nonce in the meantime.
    pub fn record(&mut self, endpoint: &str, nonce: u64) -> Result<(), String> {
        self.clock += 1;
        if let Some(entry) = self.entries.get_mut(endpoint) {
            if nonce <= entry.nonce {
                return Err("Nonce is too old, a newer one was last processed".into());
            }
            entry.nonce = nonce;
            entry.last_used = self.clock;
            return Ok(());
        }
        if self.entries.len() >= self.capacity {
            self.evict();
        }
        self.entries.insert(
            endpoint.to_owned(),
            Entry {
                nonce,
                last_used: self.clock,
            },
        );
        Ok(())
    }

    /// Drops the least recently used tenth of the table (at least one entry).
    fn evict(&mut self) {
        let drop_count = (self.capacity / 10).max(1);
        let mut ages: Vec<u64> = self.entries.values().map(|e| e.last_used).collect();
        let cut_index = drop_count.min(ages.len()) - 1;
        let (_, cut, _) = ages.select_nth_unstable(cut_index);
        let cut = *cut;
        self.entries.retain(|_, e| e.last_used > cut);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_800_000_000_000_000_000;
    const MODERN: Option<i64> = Some(9_000_000);

    #[test]
    fn first_nonce_must_be_fresh_for_modern_callers() {
        let table = NonceTable::new(10);
        assert!(table
            .check("a:u", NOW - 1_000_000_000, MODERN, 12.0, NOW)
            .is_ok());
        // 4 s + 12 s window.
        assert!(table
            .check("a:u", NOW - 15_900_000_000, MODERN, 12.0, NOW)
            .is_ok());
        let err = table
            .check("a:u", NOW - 16_000_000_000, MODERN, 12.0, NOW)
            .unwrap_err();
        assert!(
            err.starts_with("Nonce is too old: acceptable delta is 16.00 seconds"),
            "{err}"
        );
        // Future nonces are never rejected.
        assert!(table
            .check("a:u", NOW + 3_600_000_000_000, MODERN, 12.0, NOW)
            .is_ok());
        // Old SDKs (no version, or < 7.2) only get the monotonic rule.
        assert!(table.check("a:u", 5, None, 12.0, NOW).is_ok());
        assert!(table.check("a:u", 5, Some(7_001_000), 12.0, NOW).is_ok());
    }

    #[test]
    fn later_nonces_must_increase_strictly() {
        let mut table = NonceTable::new(10);
        table.record("a:u", NOW).unwrap();
        assert!(table.check("a:u", NOW, MODERN, 12.0, NOW).is_err());
        assert!(table.check("a:u", NOW - 1, MODERN, 12.0, NOW).is_err());
        assert!(table.check("a:u", NOW + 1, MODERN, 12.0, NOW).is_ok());
        // Another uuid of the same hotkey is another endpoint.
        assert!(table.check("a:v", NOW, MODERN, 12.0, NOW).is_ok());
        assert!(
            table.record("a:u", NOW).is_err(),
            "a concurrent duplicate loses"
        );
        table.record("a:u", NOW + 1).unwrap();
    }

    #[test]
    fn memory_is_bounded_and_recent_endpoints_survive() {
        let mut table = NonceTable::new(100);
        for i in 0..1000u64 {
            table.record(&format!("k{i}"), NOW + i).unwrap();
            table.record("busy", NOW + 10_000 + i).unwrap();
        }
        assert!(table.len() <= 100);
        assert!(
            table.check("busy", NOW, MODERN, 12.0, NOW).is_err(),
            "busy endpoint kept"
        );
    }
}
