//! Tests against a real Docker engine (`tests/setup-docker.sh`): the miner renting containers
//! and the reference validator's sequence.
//!
//! One test binary per group keeps the suite's link time down; each file is one module.

#[path = "../support/mod.rs"]
mod support;

mod miner_docker;
