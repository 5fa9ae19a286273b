//! sn27: the miner and validator of Bittensor Subnet 27 (NI Compute) as one binary configured
//! by one TOML file.
//!
//! Module map (see `ARCHITECTURE.md` for the invariants):
//!
//! - [`config`]: the TOML model, layering (defaults ← file ← `SN27_*` environment) and
//!   validation that reports every problem with its key and location.
//! - [`wallet`]: btcli-compatible wallets: layout, keyfile JSON, `$NACL` encryption, sr25519
//!   keys derived exactly as the Python tools derive them.
//! - [`axon`], [`dendrite`], [`protocol`]: the bittensor synapse wire, server and client.
//! - [`chain`]: the `Chain` interface, the embedded devnet, metadata-driven extrinsics and the
//!   weight arithmetic; [`metagraph`]: the snapshot access checks read.
//! - [`credentials`]: the RSA-OAEP credential blob of an allocation.
//! - [`fsutil`]: crash-safe file writes.
//! - [`logging`]: text, JSON or journald output chosen for how the process was started.
//! - [`cli`]: the `sn27` command line, a thin layer over the modules above.

pub mod axon;
pub mod backoff;
pub mod chain;
pub mod cli;
pub mod config;
pub mod dendrite;
pub mod docker;
pub mod fsutil;
pub mod keys;
pub mod logging;
pub mod metagraph;
pub mod miner;
pub mod protocol;
pub mod report;
pub mod service;
pub mod validator;
pub mod wallet;
