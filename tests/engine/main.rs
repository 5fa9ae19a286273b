//! Tests against a real Docker engine (`tests/setup-docker.sh`): the miner renting containers,
//! the reference validator's sequence, the validator's Proof-of-GPU steps in containers, the
//! validator against SN27 v2.2.1's own miner code, and
//! the packaged sn27 under systemd and on an older glibc (`tests/setup-packaging.sh`).
//!
//! One test binary per group keeps the suite's link time down; each file is one module.

#[path = "../support/mod.rs"]
mod support;

mod bench_container;
mod check;
mod demo;
mod miner_docker;
mod packaging_old_glibc;
mod packaging_systemd;
mod upstream_miner;
mod validator_round;
