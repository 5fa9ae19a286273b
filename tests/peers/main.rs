//! Interoperability with the Python tools SN27 peers run (the pinned virtual environment of
//! `tests/setup-python.sh`): wallets, the synapse wire, weights, call data, RSA credentials,
//! drand timelock.
//!
//! One test binary per group keeps the suite's link time down; each file is one module.

#[path = "../support/mod.rs"]
mod support;

mod chain_calls_python;
mod credentials_python;
mod gpu_host;
mod pog_driver;
mod pog_oracle;
mod pog_worker;
mod ssh_bounds;
mod timelock_python;
mod wallet_interop;
mod wandb_python;
mod weights_python;
mod wire_python;
