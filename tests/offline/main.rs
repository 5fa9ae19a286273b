//! Tests that need nothing beyond this machine: configuration, the devnet, the wire against
//! our own axon and dendrite, chain metadata and extrinsics, the subtensor client against the
//! fake node, logging.
//!
//! One test binary per group keeps the suite's link time down; each file is one module.

#[path = "../support/mod.rs"]
mod support;

mod architecture;
mod auto_register;
mod bench_cli;
mod chain_decode;
mod chain_extrinsics;
mod chain_metadata;
mod cli_errors;
mod closed_stdout;
mod config_cli;
mod devnet;
mod devnet_cli;
mod devnet_reveal;
mod identification;
mod live_config;
mod logging;
mod notify;
mod packaging;
mod pog_proofs;
mod subtensor_client;
mod wire;
