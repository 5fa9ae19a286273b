#!/usr/bin/env bash
# The test command: prepares what the tests talk to (the pinned Python peers, a Docker engine
# with the test base image), then runs the whole Rust test suite. CI runs exactly this (.ci/run).
set -euo pipefail
cd "$(dirname "$0")/.."
SN27_TEST_PYTHON=$(bash tests/setup-python.sh)
export SN27_TEST_PYTHON
SN27_TEST_BASE_IMAGE=$(bash tests/setup-docker.sh)
export SN27_TEST_BASE_IMAGE
cargo test --all-targets "$@"
