//! A priority gate: at most `slots` requests run their handler at once; waiting requests are
//! admitted highest priority first (ties in arrival order).
//!
//! The Python axon orders work the same way on a thread pool; here a waiter that gives up
//! (its client disconnected) leaves the queue without losing the slot it may just have been
//! handed.

use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::sync::{Arc, Mutex};

use tokio::sync::oneshot;

#[derive(Debug)]
pub struct PriorityGate {
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    free: usize,
    sequence: u64,
    waiting: BinaryHeap<Waiter>,
}

#[derive(Debug)]
struct Waiter {
    priority: f64,
    sequence: u64,
    wake: oneshot::Sender<()>,
}

impl PartialEq for Waiter {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Waiter {}

impl PartialOrd for Waiter {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Waiter {
    fn cmp(&self, other: &Self) -> Ordering {
        self.priority
            .total_cmp(&other.priority)
            .then_with(|| other.sequence.cmp(&self.sequence))
    }
}

/// A running slot; dropping it admits the next waiter.
#[derive(Debug)]
pub struct Slot {
    gate: Arc<PriorityGate>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.gate.release();
    }
}

/// Cleans up after a waiter that was cancelled, returning a slot it was handed meanwhile.
struct Pending {
    gate: Arc<PriorityGate>,
    wake: Option<oneshot::Receiver<()>>,
}

impl Drop for Pending {
    fn drop(&mut self) {
        if let Some(mut wake) = self.wake.take() {
            wake.close();
            if wake.try_recv().is_ok() {
                self.gate.release();
            }
        }
    }
}

impl PriorityGate {
    pub fn new(slots: usize) -> Arc<Self> {
        Arc::new(PriorityGate {
            state: Mutex::new(State {
                free: slots.max(1),
                sequence: 0,
                waiting: BinaryHeap::new(),
            }),
        })
    }

    /// Waits for a slot.
    pub async fn enter(self: &Arc<Self>, priority: f64) -> Slot {
        let wake = {
            let mut state = self.lock();
            if state.free > 0 {
                state.free -= 1;
                return Slot { gate: self.clone() };
            }
            let (tx, rx) = oneshot::channel();
            state.sequence += 1;
            let sequence = state.sequence;
            state.waiting.push(Waiter {
                priority,
                sequence,
                wake: tx,
            });
            rx
        };
        let mut pending = Pending {
            gate: self.clone(),
            wake: Some(wake),
        };
        let received = pending.wake.as_mut().expect("set just above").await.is_ok();
        pending.wake = None;
        debug_assert!(received, "the gate never drops a waiter's sender unsent");
        Slot { gate: self.clone() }
    }

    /// Requests waiting for a slot.
    pub fn queued(&self) -> usize {
        self.lock().waiting.len()
    }

    fn release(&self) {
        let mut state = self.lock();
        while let Some(waiter) = state.waiting.pop() {
            if waiter.wake.send(()).is_ok() {
                return;
            }
        }
        state.free += 1;
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn waiters_are_admitted_by_priority() {
        let gate = PriorityGate::new(1);
        let first = gate.enter(0.0).await;
        let order = Arc::new(Mutex::new(Vec::new()));
        let mut tasks = Vec::new();
        for (name, priority) in [
            ("low", 1.0),
            ("high", 1000.0),
            ("mid", 50.0),
            ("mid2", 50.0),
        ] {
            let waiting_gate = gate.clone();
            let order = order.clone();
            tasks.push(tokio::spawn(async move {
                let _slot = waiting_gate.enter(priority).await;
                order.lock().unwrap().push(name);
            }));
            // Let it queue before the next one arrives.
            while gate.queued() < tasks.len() {
                tokio::task::yield_now().await;
            }
        }
        drop(first);
        for task in tasks {
            task.await.unwrap();
        }
        assert_eq!(*order.lock().unwrap(), ["high", "mid", "mid2", "low"]);
    }

    #[tokio::test]
    async fn cancelled_waiters_do_not_leak_slots() {
        let gate = PriorityGate::new(1);
        let first = gate.enter(0.0).await;
        let cancelled = tokio::time::timeout(Duration::from_millis(10), gate.enter(5.0)).await;
        assert!(cancelled.is_err());
        drop(first);
        // The slot is free again: two sequential entries succeed at once.
        let again = tokio::time::timeout(Duration::from_secs(1), gate.enter(0.0)).await;
        drop(again.expect("slot was not leaked"));
        tokio::time::timeout(Duration::from_secs(1), gate.enter(0.0))
            .await
            .expect("slot returned");
    }
}
