//! Log output formats and filtering, and that secrets stay out of logs.

use crate::support::{sn27, stderr};

const ABANDON: &str =
    "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about";
const ADDRESS: &str = "5EPCUjPxiHAcNooYipQFWr9NmmXJKpNG5RhcntXwbtUySrgH";

fn regen(dir: &std::path::Path, extra: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    let mut args = extra.to_vec();
    args.extend([
        "wallet",
        "regen",
        "hotkey",
        "--mnemonic",
        ABANDON,
        "--overwrite",
        "--path",
        dir.to_str().unwrap(),
    ]);
    let out = sn27(&args, env);
    assert!(out.status.success(), "{}", stderr(&out));
    out
}

#[test]
fn json_lines_carry_fields_and_no_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let out = regen(
        dir.path(),
        &["--log-format", "json"],
        &[("RUST_LOG", "info")],
    );
    let err = stderr(&out);
    let line = err
        .lines()
        .find(|l| l.contains("key stored"))
        .unwrap_or_else(|| panic!("no log line in {err:?}"));
    let event: serde_json::Value = serde_json::from_str(line).unwrap();
    assert_eq!(event["fields"]["address"], ADDRESS);
    assert_eq!(event["level"], "INFO");
    for secret in ["abandon", "4ed8d4b1", "2ec306fc"] {
        assert!(!err.contains(secret), "log leaks {secret}: {err}");
    }
}

#[test]
fn rust_log_filters_and_text_is_the_default_off_systemd() {
    let dir = tempfile::tempdir().unwrap();
    let out = regen(dir.path(), &[], &[("RUST_LOG", "warn")]);
    assert!(!stderr(&out).contains("key stored"), "{}", stderr(&out));
    let out = regen(
        dir.path(),
        &["--log-format", "text"],
        &[("RUST_LOG", "info")],
    );
    let err = stderr(&out);
    assert!(
        err.contains("key stored") && !err.trim_start().starts_with('{'),
        "{err}"
    );
}

/// Runs `sn27 wallet regen hotkey … --log-format journald` in a private mount namespace whose
/// `/run` is empty except for a fake journald socket (unless `with_socket` is false), so the
/// test sees the same on every host, with or without a journal of its own.
fn under_fake_journald(dir: &std::path::Path, with_socket: bool) -> serde_json::Value {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/fake_journald.py");
    let python = crate::support::python();
    let mut inner = vec![python.to_str().unwrap().to_string(), script.to_string()];
    if !with_socket {
        inner.push("--no-socket".into());
    }
    inner.extend(
        [
            "--",
            env!("CARGO_BIN_EXE_sn27"),
            "--log-format",
            "journald",
            "wallet",
            "regen",
            "hotkey",
            "--mnemonic",
            ABANDON,
            "--overwrite",
            "--path",
            dir.to_str().unwrap(),
        ]
        .map(String::from),
    );
    let out = std::process::Command::new("unshare")
        .args(["--mount", "--propagation", "private", "sh", "-c"])
        .arg("mount -t tmpfs tmpfs /run && exec \"$@\"")
        .arg("sh")
        .args(&inner)
        .env("RUST_LOG", "info")
        .env_remove("JOURNAL_STREAM")
        .output()
        .expect("unshare runs (util-linux)");
    assert!(
        out.status.success(),
        "a private mount namespace is needed for this test (run as root): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn journald_lines_carry_the_identifier_and_fields() {
    let dir = tempfile::tempdir().unwrap();
    let result = under_fake_journald(dir.path(), true);
    assert_eq!(result["status"], 0, "{result}");
    let entries = result["entries"].as_array().unwrap();
    let stored = entries
        .iter()
        .find(|e| {
            e["MESSAGE"]
                .as_str()
                .is_some_and(|m| m.contains("key stored"))
        })
        .unwrap_or_else(|| panic!("no journal entry for the stored key: {result}"));
    assert_eq!(stored["SYSLOG_IDENTIFIER"], "sn27");
    assert_eq!(stored["PRIORITY"], "6", "info is syslog priority 6");
    // Event fields travel as journal fields (prefixed F_, so they cannot clash with the
    // journal's own MESSAGE, PRIORITY, …).
    assert_eq!(stored["F_ADDRESS"], ADDRESS, "{stored}");
    let stderr = result["stderr"].as_str().unwrap();
    assert!(
        !stderr.contains("key stored"),
        "went to the journal: {stderr}"
    );
    let journal = serde_json::to_string(entries).unwrap();
    for secret in ["abandon", "4ed8d4b1", "2ec306fc"] {
        assert!(!journal.contains(secret), "journal leaks {secret}");
    }
}

#[test]
fn journald_without_a_journal_falls_back_to_stderr_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let result = under_fake_journald(dir.path(), false);
    assert_eq!(result["status"], 0, "{result}");
    let err = result["stderr"].as_str().unwrap();
    assert!(err.contains("journald is not reachable"), "{err}");
    assert!(err.contains("key stored"), "{err}");
}

#[test]
fn an_invalid_rust_log_is_reported_not_silently_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let out = regen(
        dir.path(),
        &["--log-format", "text"],
        &[("RUST_LOG", "info,=[")],
    );
    let err = stderr(&out);
    assert!(
        err.contains("RUST_LOG=\"info,=[\" is not a valid filter"),
        "{err}"
    );
    // The configured filter (info) applies instead.
    assert!(err.contains("key stored"), "{err}");
}
