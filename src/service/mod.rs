//! What turns a role into a long-running service: one shutdown signal every task selects on
//! ([`Shutdown`]), and a [`Supervisor`] that owns the tasks, so that a task that ends or panics
//! stops the process with an error (systemd restarts it) instead of leaving it running without
//! serving; [`notify`] speaks systemd's `sd_notify` protocol (readiness, status, watchdog).

pub mod metrics;
pub mod notify;
mod shutdown;
mod supervisor;

pub use shutdown::{Shutdown, ShutdownTrigger};
pub use supervisor::{Heartbeat, ReloadResult, Supervisor, SupervisorError, TaskResult};
