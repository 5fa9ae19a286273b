//! Helpers shared by the integration tests: running the `sn27` binary and the Python peers.
#![allow(dead_code)] // each test crate uses a different subset

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// Runs the `sn27` binary with `args`, no inherited `SN27_*` variables, and `env` added.
pub fn sn27(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_sn27"));
    command.args(args).stdin(Stdio::null());
    for (name, _) in std::env::vars() {
        if name.starts_with("SN27_") || name.starts_with("BT_PW_") {
            command.env_remove(name);
        }
    }
    command.envs(env.iter().copied());
    command.output().expect("the sn27 binary runs")
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// The interpreter of the test virtual environment that `tests/setup-python.sh` builds.
/// Missing is a failure, not a skip: the interop tests are the point of the suite.
pub fn python() -> PathBuf {
    let path = std::env::var_os("SN27_TEST_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("target/test-venv/bin/python")
        });
    assert!(
        path.exists(),
        "no Python test environment at {}: run `tests/run.sh` (or `bash tests/setup-python.sh`) first",
        path.display()
    );
    path
}

/// Runs `tests/python/<script>` with `args` and parses the JSON object it prints last.
pub fn python_peer(script: &str, args: &[&str]) -> serde_json::Value {
    let script = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/python")
        .join(script);
    let output = Command::new(python())
        .arg(script)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("python runs");
    assert!(
        output.status.success(),
        "python peer {args:?} failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    // bittensor-wallet prints progress ("Encrypting...") on stdout; the JSON is the last line.
    let text = String::from_utf8_lossy(&output.stdout);
    let last = text.lines().last().unwrap_or_default();
    serde_json::from_str(last).unwrap_or_else(|e| panic!("python peer printed {text:?}: {e}"))
}
