//! sn27: the miner and validator of Bittensor Subnet 27 (NI Compute) as one binary configured
//! by one TOML file.
//!
//! Module map, top layer first (see `ARCHITECTURE.md` for the layers and their invariants):
//!
//! - [`cli`]: the `sn27` command line, a thin layer over the modules below.
//! - Roles: [`miner`] (the allocation engine and `sn27 run` for miners) and [`validator`]
//!   (renting, scoring, weights); [`config`], the one TOML file they are built from.
//! - Adapters: [`axon`] and [`dendrite`] (the synapse wire's server and client), [`chain`]
//!   (subtensor client and embedded devnet), [`docker`], [`wallet`] (btcli files),
//!   [`service`] (shutdown and supervision), [`logging`], [`fsutil`] (crash-safe writes).
//! - Domain, no I/O: [`protocol`] (synapses, the `Allocate` model, credentials, signing),
//!   [`keys`] (sr25519, ss58), [`metagraph`], [`backoff`], [`report`].

pub mod axon;
pub mod backoff;
pub mod chain;
pub mod cli;
pub mod config;
pub mod dendrite;
pub mod docker;
pub mod doctor;
pub mod fsutil;
pub mod gpu;
pub mod instrument;
pub mod keys;
pub mod logging;
pub mod metagraph;
pub mod miner;
pub mod pog;
pub mod protocol;
pub mod registration;
pub mod report;
pub mod service;
pub mod ssh;
pub mod validator;
pub mod wallet;
pub mod wandb;
