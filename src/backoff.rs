//! Retrying without hammering and without flooding the journal.
//!
//! Every loop in sn27 that retries a failing operation (releasing an expired lease, accepting
//! connections, re-reading the chain) holds a [`Backoff`]: the delay doubles from `initial` up
//! to `max` while the operation keeps failing, and [`Backoff::failed`] says whether this
//! failure is worth a log line — the first one, and the one that reaches the longest delay —
//! so a stuck operation is reported once rather than once a second. Pure arithmetic, no clock.

use std::time::Duration;

/// What a loop should do after a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retry {
    /// Wait this long before the next attempt.
    pub delay: Duration,
    /// Consecutive failures so far, this one included.
    pub failures: u32,
    /// Log this failure (the first, or the first at the longest delay); stay quiet otherwise.
    pub report: bool,
}

/// An exponential backoff between `initial` and `max`.
#[derive(Debug, Clone)]
pub struct Backoff {
    initial: Duration,
    max: Duration,
    failures: u32,
    delay: Duration,
}

impl Backoff {
    pub fn new(initial: Duration, max: Duration) -> Self {
        Backoff {
            initial,
            max: max.max(initial),
            failures: 0,
            delay: Duration::ZERO,
        }
    }

    /// Records a failure.
    pub fn failed(&mut self) -> Retry {
        self.failures = self.failures.saturating_add(1);
        let previous = self.delay;
        self.delay = if self.failures == 1 {
            self.initial
        } else {
            (self.delay * 2).min(self.max)
        };
        Retry {
            delay: self.delay,
            failures: self.failures,
            report: self.failures == 1 || (self.delay == self.max && previous != self.max),
        }
    }

    /// Records a success; returns how many failures preceded it (0: nothing to report).
    pub fn succeeded(&mut self) -> u32 {
        let failures = self.failures;
        self.failures = 0;
        self.delay = Duration::ZERO;
        failures
    }

    /// Consecutive failures so far.
    pub fn failures(&self) -> u32 {
        self.failures
    }

    /// The delay the last failure asked for (zero after a success).
    pub fn current_delay(&self) -> Duration {
        self.delay
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_to_the_cap_and_reports_are_rare() {
        let mut backoff = Backoff::new(Duration::from_secs(1), Duration::from_secs(10));
        let retries: Vec<Retry> = (0..8).map(|_| backoff.failed()).collect();
        let delays: Vec<u64> = retries.iter().map(|r| r.delay.as_secs()).collect();
        assert_eq!(delays, [1, 2, 4, 8, 10, 10, 10, 10]);
        let reports: Vec<u32> = retries
            .iter()
            .filter(|r| r.report)
            .map(|r| r.failures)
            .collect();
        assert_eq!(
            reports,
            [1, 5],
            "the first failure and the first at the cap"
        );
        assert_eq!(backoff.succeeded(), 8);
        assert_eq!(backoff.succeeded(), 0);
        assert_eq!(backoff.failed().delay, Duration::from_secs(1));
    }

    #[test]
    fn a_cap_below_the_start_is_the_start() {
        let mut backoff = Backoff::new(Duration::from_secs(5), Duration::from_secs(1));
        assert_eq!(backoff.failed().delay, Duration::from_secs(5));
        assert_eq!(backoff.failed().delay, Duration::from_secs(5));
    }
}
