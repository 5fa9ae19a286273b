//! Log output formats and filtering, and that secrets stay out of logs.

mod common;

use common::{sn27, stderr};

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

#[test]
fn journald_without_a_journal_falls_back_to_stderr_and_says_so() {
    if std::path::Path::new("/run/systemd/journal/socket").exists() {
        // On a host with a journal the lines go there; nothing to observe on stderr.
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let out = regen(
        dir.path(),
        &["--log-format", "journald"],
        &[("RUST_LOG", "info")],
    );
    let err = stderr(&out);
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
