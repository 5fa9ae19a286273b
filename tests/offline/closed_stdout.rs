//! A command whose reader goes away (`sn27 metagraph --json | head`) ends quietly, as Unix
//! tools do: killed by SIGPIPE, no panic and no backtrace.

use std::os::unix::net::UnixStream;
use std::os::unix::process::ExitStatusExt;
use std::process::Stdio;

use crate::support::{sn27_command, sn27_ok};

/// Runs `sn27 args` with stdout connected to a socket whose other end is already closed, so
/// the first write fails with EPIPE (deterministically, unlike a pipe closed in a race).
fn with_closed_stdout(args: &[&str]) -> std::process::Output {
    let (ours, theirs) = UnixStream::pair().unwrap();
    drop(ours);
    sn27_command(env!("CARGO_BIN_EXE_sn27"))
        .args(args)
        .stdout(Stdio::from(std::os::fd::OwnedFd::from(theirs)))
        .stderr(Stdio::piped())
        .output()
        .unwrap()
}

#[test]
fn one_shot_commands_end_quietly_when_stdout_is_closed() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("sn27.toml");
    std::fs::write(
        &config,
        format!(
            "role = \"miner\"\nstate_dir = \"{}\"\n[chain]\nnetwork = \"devnet\"\n",
            dir.path().display()
        ),
    )
    .unwrap();
    let config = config.to_string_lossy().into_owned();
    sn27_ok(&["--config", &config, "devnet", "init"]);
    for args in [
        &["--config", &config, "metagraph", "--json"][..],
        &["--config", &config, "chain", "info"],
        &["config", "example"],
        &["--help"],
    ] {
        let out = with_closed_stdout(args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.is_empty(), "{args:?}: {err}");
        assert_eq!(
            out.status.signal(),
            Some(nix::sys::signal::Signal::SIGPIPE as i32),
            "{args:?}: {:?}",
            out.status
        );
    }
}
