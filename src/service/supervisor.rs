//! The tasks of a running service, watched together.
//!
//! [`Supervisor::run`] returns when either a stop signal arrives (SIGINT/SIGTERM: every task
//! is asked to stop and given `drain` to finish, then the rest are aborted; `Ok`), or a task
//! ends on its own — returning, failing or panicking — while the service should be running
//! (the others are stopped the same way; `Err` naming the task, so the process exits non-zero
//! and systemd restarts it). A service never runs on with a part of it silently gone.
//!
//! Under systemd it also speaks for the service: `READY=1` when [`Supervisor::run`] starts,
//! `WATCHDOG=1` only while every [`Heartbeat`] its tasks hold is fresh (a hung loop stops the
//! pings, and systemd restarts the process), `RELOADING=1` around the reload callback that
//! SIGHUP runs, and `STOPPING=1` on the way out.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use tokio::task::JoinSet;

use super::notify::{watchdog_interval, Notifier};
use super::shutdown::{Shutdown, ShutdownTrigger};

/// What a reload (SIGHUP) did: a summary for the log and the status line, or why it failed
/// (the running configuration then stays).
pub type ReloadResult = Result<String, String>;

type Reload = Box<dyn Fn() -> BoxFuture<'static, ReloadResult> + Send + Sync>;

/// A task's proof of life: it calls [`Heartbeat::beat`] at least once a `period`.
#[derive(Clone)]
pub struct Heartbeat {
    name: &'static str,
    period: Duration,
    started: Instant,
    last_ms: Arc<AtomicU64>,
}

impl Heartbeat {
    pub fn beat(&self) {
        self.last_ms
            .store(self.started.elapsed().as_millis() as u64, Ordering::Relaxed);
    }

    /// How long since the last beat, beyond its period (zero when fresh).
    fn overdue(&self) -> Duration {
        let last = Duration::from_millis(self.last_ms.load(Ordering::Relaxed));
        self.started
            .elapsed()
            .saturating_sub(last)
            .saturating_sub(self.period)
    }
}

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
    notifier: Arc<Notifier>,
    heartbeats: Vec<Heartbeat>,
    reload: Option<Reload>,
    started: Instant,
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
            notifier: Arc::new(Notifier::from_env()),
            heartbeats: Vec::new(),
            reload: None,
            started: Instant::now(),
        }
    }

    /// The systemd notifier, for status lines.
    pub fn notifier(&self) -> Arc<Notifier> {
        self.notifier.clone()
    }

    /// A heartbeat the task `name` must beat at least every `period`; the watchdog pings
    /// systemd only while every heartbeat is fresh.
    pub fn heartbeat(&mut self, name: &'static str, period: Duration) -> Heartbeat {
        let heartbeat = Heartbeat {
            name,
            period,
            started: self.started,
            last_ms: Arc::new(AtomicU64::new(self.started.elapsed().as_millis() as u64)),
        };
        self.heartbeats.push(heartbeat.clone());
        heartbeat
    }

    /// What SIGHUP runs.
    pub fn on_reload(
        &mut self,
        reload: impl Fn() -> BoxFuture<'static, ReloadResult> + Send + Sync + 'static,
    ) {
        self.reload = Some(Box::new(reload));
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

    /// Tells systemd the service is ready (`status` is its status line), then runs until
    /// SIGINT/SIGTERM (`Ok(signal name)`) or until a task ends (`Err`); SIGHUP runs the
    /// reload callback.
    pub async fn run(self, status: &str) -> Result<&'static str, SupervisorError> {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = signal(SignalKind::terminate()).ok();
        let mut hangup = signal(SignalKind::hangup()).ok();
        let stop = async move {
            match term.as_mut() {
                Some(term) => tokio::select! {
                    _ = tokio::signal::ctrl_c() => "SIGINT",
                    _ = term.recv() => "SIGTERM",
                },
                None => {
                    let _ = tokio::signal::ctrl_c().await;
                    "SIGINT"
                }
            }
        };
        self.run_with(status, stop, hangup.take()).await
    }

    /// [`Supervisor::run`] with another stop condition and no signals (tests).
    pub async fn run_until(
        self,
        stop: impl Future<Output = &'static str>,
    ) -> Result<&'static str, SupervisorError> {
        self.run_with("running", stop, None).await
    }

    async fn run_with(
        mut self,
        status: &str,
        stop: impl Future<Output = &'static str>,
        mut hangup: Option<tokio::signal::unix::Signal>,
    ) -> Result<&'static str, SupervisorError> {
        self.notifier.ready(status);
        tracing::info!(status, "service ready");
        let watchdog = watchdog_interval().filter(|_| self.notifier.active());
        let mut watchdog_tick =
            tokio::time::interval(watchdog.map_or(Duration::from_secs(3600), |w| {
                (w / 2).max(Duration::from_millis(100))
            }));
        let mut stale_reported = false;
        tokio::pin!(stop);
        let outcome = loop {
            tokio::select! {
                signal = &mut stop => {
                    tracing::info!(%signal, "stopping");
                    break Ok(signal);
                }
                Some(joined) = self.tasks.join_next() => break Err(ended(joined)),
                _ = watchdog_tick.tick(), if watchdog.is_some() => {
                    match self.heartbeats.iter().find(|h| !h.overdue().is_zero()) {
                        None => {
                            self.notifier.watchdog();
                            stale_reported = false;
                        }
                        Some(stale) if !stale_reported => {
                            stale_reported = true;
                            tracing::error!(task = stale.name, overdue = ?stale.overdue(),
                                "a task stopped making progress; the systemd watchdog will restart the service");
                        }
                        Some(_) => {}
                    }
                }
                Some(()) = recv(&mut hangup) => {
                    match &self.reload {
                        Some(reload) => {
                            self.notifier.reloading();
                            match reload().await {
                                Ok(summary) => tracing::info!(%summary, "configuration reloaded"),
                                Err(reason) => tracing::error!(%reason,
                                    "configuration not reloaded; the running one stays"),
                            }
                            self.notifier.ready(status);
                        }
                        None => tracing::info!("SIGHUP: nothing to reload"),
                    }
                }
            }
        };
        self.notifier.stopping();
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

/// The next SIGHUP, or never without a handler.
async fn recv(signal: &mut Option<tokio::signal::unix::Signal>) -> Option<()> {
    match signal {
        Some(signal) => signal.recv().await,
        None => std::future::pending().await,
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

    #[test]
    fn a_heartbeat_goes_stale_after_its_period() {
        let mut supervisor = Supervisor::new(Duration::from_secs(1));
        let heartbeat = supervisor.heartbeat("loop", Duration::from_millis(50));
        heartbeat.beat();
        assert!(heartbeat.overdue().is_zero());
        std::thread::sleep(Duration::from_millis(150));
        assert!(heartbeat.overdue() >= Duration::from_millis(50));
        heartbeat.beat();
        assert!(heartbeat.overdue().is_zero());
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
