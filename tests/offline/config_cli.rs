//! `sn27 config check|example` as an operator runs them.

use crate::support::{sn27, stderr, stdout};

const EXAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/sn27.toml.example");

fn write_config(dir: &tempfile::TempDir, text: &str) -> String {
    let path = dir.path().join("sn27.toml");
    std::fs::write(&path, text).unwrap();
    path.to_string_lossy().into_owned()
}

#[test]
fn example_checks_clean() {
    let out = sn27(&["config", "check", "--config", EXAMPLE], &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("role = \"miner\""));
    assert!(
        stderr(&out).is_empty(),
        "no warnings expected: {}",
        stderr(&out)
    );
}

#[test]
fn example_command_prints_the_shipped_file() {
    let out = sn27(&["config", "example"], &[]);
    assert!(out.status.success());
    assert_eq!(stdout(&out), std::fs::read_to_string(EXAMPLE).unwrap());
}

#[test]
fn misspelled_key_is_named_with_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(EXAMPLE)
        .unwrap()
        .replace("ssh_port = 4444", "ssh_prot = 4444");
    let line = text
        .lines()
        .position(|l| l.starts_with("ssh_prot"))
        .unwrap()
        + 1;
    let config = write_config(&dir, &text);
    let out = sn27(&["config", "check", "--config", &config], &[]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains(&format!(
            "{config}:{line}: miner.ssh_prot: unknown key; did you mean `ssh_port`?"
        )),
        "{err}"
    );
}

#[test]
fn string_port_names_key_type_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(&dir, "role = \"miner\"\n\n[axon]\nport = \"eighty\"\n");
    let out = sn27(&["config", "check", "--config", &config], &[]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains(&format!(
            "{config}:4: axon.port: wrong type: expected an integer from 0 to 65535, found string \"eighty\""
        )),
        "{err}"
    );
}

#[test]
fn every_error_is_reported_not_just_the_first() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(
        &dir,
        "role = \"miner\"\nbogus = 1\n[axon]\nport = \"x\"\n[miner]\nwhitelist_updated_threshold = 101\nssh_port = 0\n",
    );
    let out = sn27(&["config", "check", "--config", &config], &[]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    for key in [
        "bogus",
        "axon.port",
        "miner.whitelist_updated_threshold",
        "miner.ssh_port",
    ] {
        assert!(
            err.contains(&format!(": {key}: ")),
            "{key} missing from:\n{err}"
        );
    }
    assert!(err.contains("4 errors"), "{err}");
}

#[test]
fn environment_overrides_the_file() {
    let out = sn27(
        &["config", "check", "--config", EXAMPLE],
        &[
            ("SN27_AXON__PORT", "9000"),
            ("SN27_CHAIN__NETWORK", "devnet"),
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("[axon]\nport = 9000\n"), "{text}");
    assert!(text.contains("network = \"devnet\""), "{text}");
}

#[test]
fn bad_environment_value_names_the_variable() {
    let out = sn27(
        &["config", "check", "--config", EXAMPLE],
        &[("SN27_MINER__SSH_PORT", "twenty-two")],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out)
            .contains("environment variable SN27_MINER__SSH_PORT: miner.ssh_port: wrong type"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn config_path_from_environment_and_missing_file() {
    let out = sn27(&["config", "check"], &[("SN27_CONFIG", EXAMPLE)]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = sn27(
        &["config", "check", "--config", "/nonexistent/sn27.toml"],
        &[],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("/nonexistent/sn27.toml: config file not found"));
}

#[test]
fn compatibility_profile_switches_the_scoring_defaults() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(
        &dir,
        "role = \"validator\"\n[scoring]\nprofile = \"sn27-v1.8.3\"\n",
    );
    let out = sn27(&["config", "check", "--config", &config], &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("full_score = 100.0"), "{text}");
    assert!(text.contains("allocation_multiplier = 1.0"), "{text}");
}

/// `config check` says what peers of the configured profile expect and which ports to open.
#[test]
fn check_says_what_the_profile_expects_and_which_ports_to_open() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(&dir, "role = \"miner\"\n");
    let text = stdout(&sn27(&["config", "check", "--config", &config], &[]));
    assert!(text.contains("# miner profile sn27-v2.2.1: "), "{text}");
    // What the miner lacks for those validators is said, not left to be found out.
    assert!(
        text.contains(
            "W&B specs run, which this miner keeps only with [wandb] enabled: off, they score it 0"
        ),
        "{text}"
    );
    assert!(
        text.contains("# open TCP 8091, 4444, 27015, 27016, 27017, 27018 (axon, SSH, user ports)"),
        "{text}"
    );
    let config = write_config(
        &dir,
        "role = \"miner\"\n[miner]\nprofile = \"sn27-v1.8.3\"\n",
    );
    let text = stdout(&sn27(&["config", "check", "--config", &config], &[]));
    assert!(text.contains("# open TCP 8091, 4444 (axon, SSH)"), "{text}");
    assert!(text.contains("axon version 183"), "{text}");
    assert!(!text.contains("W&B"), "{text}");
    let config = write_config(
        &dir,
        "role = \"validator\"\n[scoring]\nprofile = \"sn27-v2.2.1\"\n",
    );
    let text = stdout(&sn27(&["config", "check", "--config", &config], &[]));
    assert!(
        text.contains("# scoring profile sn27-v2.2.1: SN27 v2.2.1 validators' weights"),
        "{text}"
    );
    assert!(text.contains("this validator publishes 221"), "{text}");
    // The profile's [validator] defaults came with it.
    assert!(text.contains("one_uid_per_ip = false"), "{text}");
    assert!(text.contains("weights = \"capped-by-gpu\""), "{text}");
}

#[test]
fn password_in_the_file_is_refused_with_the_alternative() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(&dir, "role = \"miner\"\n[wallet]\npassword = \"hunter2\"\n");
    let out = sn27(&["config", "check", "--config", &config], &[]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("wallet.password: unknown key") && err.contains("password_env"),
        "{err}"
    );
    assert!(
        !err.contains("hunter2"),
        "the value must not be echoed: {err}"
    );
}

#[test]
fn a_w_and_b_key_in_the_file_is_refused_and_a_readable_key_file_warned_about() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(
        &dir,
        "role = \"miner\"\n[wandb]\nenabled = true\napi_key = \"abcd1234\"\n",
    );
    let out = sn27(&["config", "check", "--config", &config], &[]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("wandb.api_key: unknown key") && err.contains("api_key_file"),
        "{err}"
    );
    assert!(
        !err.contains("abcd1234"),
        "the value must not be echoed: {err}"
    );

    // A key file others can read is not used, and `config check` says why.
    let key = dir.path().join("key");
    std::fs::write(&key, "abcd1234").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let config = write_config(
        &dir,
        &format!(
            "role = \"miner\"\n[wandb]\nenabled = true\napi_key_file = \"{}\"\n\
             penalty_hotkey = \"nope\"\nbase_url = \"ftp://x\"\nheartbeat_secs = 300\n",
            key.display()
        ),
    );
    let out = sn27(&["config", "check", "--config", &config], &[]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("is readable by other users: chmod 600 it"),
        "{err}"
    );
    assert!(err.contains("wandb.penalty_hotkey"), "{err}");
    assert!(err.contains("wandb.base_url"), "{err}");
    assert!(err.contains("wandb.heartbeat_secs: 300 s"), "{err}");
    assert!(!err.contains("abcd1234"), "{err}");
}

/// An axon address validators cannot reach is fine on the one-machine devnet and a warning on
/// a real network (where publishing it is refused).
#[test]
fn a_private_external_ip_is_warned_about_on_a_real_network() {
    let dir = tempfile::tempdir().unwrap();
    for (network, ip, warned) in [
        (
            "finney",
            "192.168.1.20",
            Some("a private (RFC 1918) address"),
        ),
        ("test", "127.0.0.1", Some("a loopback address")),
        (
            "ws://10.1.1.1:9944",
            "fd00::7",
            Some("a unique local (private) address"),
        ),
        ("finney", "203.0.113.10", None),
        ("devnet", "127.0.0.1", None),
    ] {
        let config = write_config(
            &dir,
            &format!(
                "role = \"miner\"\n[chain]\nnetwork = \"{network}\"\nnetuid = {}\n\
                 [axon]\nexternal_ip = \"{ip}\"\n",
                if network == "test" { 15 } else { 27 }
            ),
        );
        let out = sn27(&["config", "check", "--config", &config], &[]);
        assert!(out.status.success(), "{}", stderr(&out));
        let err = stderr(&out);
        match warned {
            Some(reason) => assert!(
                err.starts_with(&format!(
                    "warning: {config}:6: axon.external_ip: {ip} is {reason}: validators on the \
                     internet cannot reach it"
                )),
                "{network} {ip}: {err}"
            ),
            None => assert!(err.is_empty(), "{network} {ip}: {err}"),
        }
    }
}
