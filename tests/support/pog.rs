//! Running the Proof-of-GPU programs (the worker, the numpy oracle) with JSON in and out.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// Path of a file in this crate.
pub fn crate_path(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

/// Runs `program args…` with `stdin` fed in, returning its output.
pub fn run(program: &Path, args: &[&str], stdin: &str) -> Output {
    run_with_env(program, args, stdin, &[])
}

/// Like [`run`], with extra environment variables.
pub fn run_with_env(program: &Path, args: &[&str], stdin: &str, env: &[(&str, &Path)]) -> Output {
    let mut command = Command::new(program);
    for (key, value) in env {
        command.env(key, value);
    }
    let mut child = command
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", program.display()));
    child
        .stdin
        .take()
        .expect("stdin is piped")
        .write_all(stdin.as_bytes())
        .expect("write request to child");
    child.wait_with_output().expect("child output")
}

/// Decodes lower-case hex of little-endian f32 values.
pub fn f32s_from_hex(s: &str) -> Vec<f32> {
    let bytes = hex::decode(s).expect("valid hex");
    bytes
        .chunks_exact(4)
        .map(|w| f32::from_le_bytes([w[0], w[1], w[2], w[3]]))
        .collect()
}
