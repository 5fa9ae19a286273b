//! The tasks of a running service, watched together.
//!
//! [`Supervisor::run`] returns when either a stop signal arrives (SIGINT/SIGTERM: every task
//! is asked to stop and given `drain` to finish, then the rest are aborted; `Ok`), or a task
//! ends on its own — returning, failing or panicking — while the service should be running
//! (the others are stopped the same way; `Err` naming the task, so the process exits non-zero
//! and systemd restarts it). A service never runs on with a part of it silently gone.

use std::future::Future;
use std::time::Duration;

use tokio::task::JoinSet;

use super::shutdown::{stop_signal, Shutdown, ShutdownTrigger};

/// What a supervised task returns: `Ok` only when it stopped because shutdown was requested.
pub type TaskResult = Result<(), String>;

/// Why a service stopped other than by a stop signal.
#[derive(Debug, thiserror::Error)]
pub enum SupervisorError {
    #[error("the {task} task stopped unexpectedly: {reason}")]
    TaskEnded { task: &'static str, reason: String },
}

/// Owns the tasks of one service.
pub struct Supervisor {
    trigger: ShutdownTrigger,
    shutdown: Shutdown,
    tasks: JoinSet<(&'static str, TaskResult)>,
    drain: Duration,
}

impl Supervisor {
    /// Tasks get `drain` to finish after a stop is requested.
    pub fn new(drain: Duration) -> Self {
        let (trigger, shutdown) = Shutdown::new();
        Supervisor {
            trigger,
            shutdown,
            tasks: JoinSet::new(),
            drain,
        }
    }

    /// The signal to hand to tasks.
    pub fn shutdown(&self) -> Shutdown {
        self.shutdown.clone()
    }

    /// Starts a task; it must return once [`Shutdown::requested`] resolves.
    pub fn spawn(
        &mut self,
        name: &'static str,
        task: impl Future<Output = TaskResult> + Send + 'static,
    ) {
        self.tasks.spawn(async move { (name, task.await) });
    }

    /// Runs until SIGINT/SIGTERM (`Ok(signal name)`) or until a task ends (`Err`).
    pub async fn run(self) -> Result<&'static str, SupervisorError> {
        self.run_until(stop_signal()).await
    }

    /// [`Supervisor::run`] with another stop condition (tests).
    pub async fn run_until(
        mut self,
        stop: impl Future<Output = &'static str>,
    ) -> Result<&'static str, SupervisorError> {
        let outcome = tokio::select! {
            signal = stop => {
                tracing::info!(%signal, "stopping");
                Ok(signal)
            }
            Some(joined) = self.tasks.join_next() => Err(ended(joined)),
        };
        self.trigger.trigger();
        let deadline = tokio::time::Instant::now() + self.drain;
        loop {
            match tokio::time::timeout_at(deadline, self.tasks.join_next()).await {
                Ok(None) => break,
                Ok(Some(joined)) => {
                    let (task, result) = match joined {
                        Ok((task, result)) => (task, result),
                        Err(e) => ("unknown", Err(panic_reason(e))),
                    };
                    if let Err(reason) = result {
                        tracing::warn!(task, %reason, "task failed while stopping");
                    }
                }
                Err(_) => {
                    tracing::warn!(
                        tasks = self.tasks.len(),
                        drain = ?self.drain,
                        "tasks did not stop in time; aborting them"
                    );
                    self.tasks.abort_all();
                    while self.tasks.join_next().await.is_some() {}
                    break;
                }
            }
        }
        if let Err(error) = &outcome {
            tracing::error!(%error, "service stopped");
        }
        outcome
    }
}

fn ended(joined: Result<(&'static str, TaskResult), tokio::task::JoinError>) -> SupervisorError {
    match joined {
        Ok((task, Ok(()))) => SupervisorError::TaskEnded {
            task,
            reason: "it returned while the service was running".into(),
        },
        Ok((task, Err(reason))) => SupervisorError::TaskEnded { task, reason },
        Err(e) => SupervisorError::TaskEnded {
            task: "unknown",
            reason: panic_reason(e),
        },
    }
}

fn panic_reason(error: tokio::task::JoinError) -> String {
    if error.is_panic() {
        let payload = error.into_panic();
        let text = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a panic".into());
        format!("panicked: {text}")
    } else {
        "cancelled".into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A well-behaved task: works until asked to stop.
    async fn worker(shutdown: Shutdown) -> TaskResult {
        shutdown.requested().await;
        Ok(())
    }

    #[tokio::test]
    async fn a_stop_signal_drains_every_task() {
        let mut supervisor = Supervisor::new(Duration::from_secs(5));
        let (tx, rx) = tokio::sync::oneshot::channel();
        let shutdown = supervisor.shutdown();
        supervisor.spawn("a", worker(supervisor.shutdown()));
        supervisor.spawn("b", async move {
            shutdown.requested().await;
            let _ = tx.send("b finished its work");
            Ok(())
        });
        let result = supervisor.run_until(async { "TEST" }).await;
        assert_eq!(result.unwrap(), "TEST");
        assert_eq!(rx.await.unwrap(), "b finished its work");
    }

    #[tokio::test]
    async fn a_task_that_fails_stops_the_service_with_its_reason() {
        let mut supervisor = Supervisor::new(Duration::from_secs(5));
        let shutdown = supervisor.shutdown();
        supervisor.spawn("axon", async { Err("address in use".into()) });
        supervisor.spawn("expiry", worker(supervisor.shutdown()));
        let error = supervisor
            .run_until(std::future::pending())
            .await
            .unwrap_err();
        assert_eq!(
            error.to_string(),
            "the axon task stopped unexpectedly: address in use"
        );
        assert!(shutdown.is_requested(), "the other tasks were told to stop");
    }

    #[tokio::test]
    async fn a_panicking_or_returning_task_is_reported() {
        let mut supervisor = Supervisor::new(Duration::from_secs(5));
        supervisor.spawn("resync", async { panic!("boom") });
        let error = supervisor
            .run_until(std::future::pending())
            .await
            .unwrap_err();
        assert!(error.to_string().contains("panicked: boom"), "{error}");

        let mut supervisor = Supervisor::new(Duration::from_secs(5));
        supervisor.spawn("resync", async { Ok(()) });
        let error = supervisor
            .run_until(std::future::pending())
            .await
            .unwrap_err();
        assert!(error.to_string().contains("returned"), "{error}");
    }

    #[tokio::test]
    async fn a_task_that_ignores_shutdown_is_aborted_after_the_drain() {
        let mut supervisor = Supervisor::new(Duration::from_millis(100));
        supervisor.spawn("stuck", std::future::pending());
        let started = std::time::Instant::now();
        supervisor.run_until(async { "TEST" }).await.unwrap();
        assert!(started.elapsed() < Duration::from_secs(5));
    }
}
