#!/usr/bin/env bash
# The test command: checks formatting and lints, type-checks the fuzz target, prepares what the
# tests talk to (the pinned Python peers, a Docker engine with the test base image, the
# packaging tools, test images and a debug .deb), then runs
# the whole Rust test suite. CI runs exactly this (.ci/run).
set -euo pipefail
cd "$(dirname "$0")/.."
echo "== cargo fmt --check" >&2
cargo fmt --check
echo "== cargo clippy --all-targets -- -D warnings" >&2
cargo clippy --all-targets -- -D warnings
# The fuzz crate is built only by cargo-fuzz (nightly sanitizers); type-checking it here keeps
# it from rotting when the library's API changes.
echo "== cargo check (fuzz crate)" >&2
cargo check --quiet --manifest-path fuzz/Cargo.toml --target-dir target/fuzz-check
SN27_TEST_PYTHON=$(bash tests/setup-python.sh)
export SN27_TEST_PYTHON
SN27_TEST_BASE_IMAGE=$(bash tests/setup-docker.sh)
export SN27_TEST_BASE_IMAGE
deb=$(bash tests/setup-packaging.sh)
SN27_TEST_ARTIFACTS=$(dirname "$deb")
export SN27_TEST_ARTIFACTS
echo "== cargo test --all-targets" >&2
cargo test --all-targets "$@"
