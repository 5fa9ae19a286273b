//! What turns a role into a long-running service: one shutdown signal every task selects on
//! ([`Shutdown`]), and a [`Supervisor`] that owns the tasks, so that a task that ends or panics
//! stops the process with an error (systemd restarts it) instead of leaving it running without
//! serving.

mod shutdown;
mod supervisor;

pub use shutdown::{stop_signal, Shutdown, ShutdownTrigger};
pub use supervisor::{Supervisor, SupervisorError, TaskResult};
