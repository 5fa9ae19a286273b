//! Tests against a real Docker engine (`tests/setup-docker.sh`): the miner renting containers,
//! the reference validator's sequence, and the validator's Proof-of-GPU steps in containers.
//!
//! One test binary per group keeps the suite's link time down; each file is one module.

#[path = "../support/mod.rs"]
mod support;

mod bench_container;
mod check;
mod demo;
mod miner_docker;
mod validator_round;
