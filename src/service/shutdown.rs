//! The one shutdown signal of a service.
//!
//! A [`ShutdownTrigger`] is held by whoever decides to stop (the supervisor, on SIGINT/SIGTERM
//! or a failed task); every task holds a cloned [`Shutdown`] and selects on
//! [`Shutdown::requested`] in its loop, then finishes its current piece of work and returns.

use tokio::sync::watch;

/// The receiving side: cheap to clone, one per task.
#[derive(Debug, Clone)]
pub struct Shutdown {
    rx: watch::Receiver<bool>,
}

/// The sending side.
#[derive(Debug)]
pub struct ShutdownTrigger {
    tx: watch::Sender<bool>,
}

impl Shutdown {
    /// A new signal and its trigger.
    pub fn new() -> (ShutdownTrigger, Shutdown) {
        let (tx, rx) = watch::channel(false);
        (ShutdownTrigger { tx }, Shutdown { rx })
    }

    /// Resolves once shutdown was requested (at once if it already was). Also resolves when
    /// the trigger is dropped, so a task never outlives the service that started it.
    pub async fn requested(&self) {
        let mut rx = self.rx.clone();
        let _ = rx.wait_for(|stop| *stop).await;
    }

    pub fn is_requested(&self) -> bool {
        *self.rx.borrow()
    }
}

impl ShutdownTrigger {
    /// Asks every task to stop; idempotent.
    pub fn trigger(&self) {
        self.tx.send_replace(true);
    }

    /// Another receiver of this signal.
    pub fn subscribe(&self) -> Shutdown {
        Shutdown {
            rx: self.tx.subscribe(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn every_receiver_sees_the_trigger() {
        let (trigger, shutdown) = Shutdown::new();
        let other = trigger.subscribe();
        assert!(!shutdown.is_requested());
        let waiting = tokio::spawn({
            let shutdown = shutdown.clone();
            async move { shutdown.requested().await }
        });
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert!(!waiting.is_finished());
        trigger.trigger();
        tokio::time::timeout(Duration::from_secs(1), waiting)
            .await
            .unwrap()
            .unwrap();
        assert!(shutdown.is_requested() && other.is_requested());
        // Already requested: resolves at once.
        tokio::time::timeout(Duration::from_secs(1), other.requested())
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn a_dropped_trigger_releases_waiters() {
        let (trigger, shutdown) = Shutdown::new();
        drop(trigger);
        tokio::time::timeout(Duration::from_secs(1), shutdown.requested())
            .await
            .unwrap();
    }
}
