//! The Architecture Invariants of `ARCHITECTURE.md`, checked against the source: which module
//! may name which. A change that needs a forbidden arrow fails here, and the fix is a change of
//! design (or of the invariant, said out loud), not an exception in this file.

use std::path::{Path, PathBuf};

/// Every `.rs` file under `src/<place>` (a file or a folder).
fn files(place: &str) -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("src")
        .join(place);
    let mut found = Vec::new();
    let mut stack = vec![root.clone()];
    while let Some(path) = stack.pop() {
        if path.is_dir() {
            for entry in std::fs::read_dir(&path).unwrap() {
                stack.push(entry.unwrap().path());
            }
        } else if path.extension().is_some_and(|e| e == "rs") {
            found.push(path);
        }
    }
    assert!(!found.is_empty(), "src/{place} holds no Rust file");
    found
}

/// The code of a file without its `#[cfg(test)]` module (tests may use anything).
fn code(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap();
    match text.find("#[cfg(test)]") {
        Some(at) => text[..at].to_string(),
        None => text,
    }
}

/// Places in `src/` whose code must not contain any of `forbidden`.
fn assert_absent(places: &[&str], forbidden: &[&str], why: &str) {
    let mut found = Vec::new();
    for place in places {
        for file in files(place) {
            let text = code(&file);
            for (number, line) in text.lines().enumerate() {
                let line = line.trim_start();
                if line.starts_with("//") {
                    continue;
                }
                for pattern in forbidden {
                    if line.contains(pattern) {
                        found.push(format!(
                            "{}:{}: {pattern}",
                            file.strip_prefix(env!("CARGO_MANIFEST_DIR"))
                                .unwrap()
                                .display(),
                            number + 1
                        ));
                    }
                }
            }
        }
    }
    assert!(found.is_empty(), "{why}:\n{}", found.join("\n"));
}

#[test]
fn the_axon_knows_nothing_of_roles_docker_or_configuration() {
    assert_absent(
        &["axon"],
        &[
            "crate::miner",
            "crate::validator",
            "crate::config",
            "crate::docker",
            "crate::chain",
            "crate::cli",
        ],
        "the axon serves any AccessPolicy and Forward; it must not name a role, Docker, the \
         chain or the configuration",
    );
}

#[test]
fn adapters_never_import_the_configuration() {
    assert_absent(
        &[
            "axon",
            "chain",
            "docker.rs",
            "dendrite.rs",
            "service",
            "logging.rs",
            "wallet",
            "ssh.rs",
            "gpu",
            "instrument.rs",
            "wandb.rs",
        ],
        &["crate::config", "crate::cli"],
        "adapters get their own values from the roles, never the configuration",
    );
}

#[test]
fn adapters_never_import_roles() {
    assert_absent(
        &[
            "axon",
            "chain",
            "docker.rs",
            "dendrite.rs",
            "service",
            "logging.rs",
            "wallet",
            "ssh.rs",
            "gpu",
            "instrument.rs",
            "wandb.rs",
        ],
        &["crate::miner", "crate::validator"],
        "an adapter must not depend on the miner or the validator",
    );
}

#[test]
fn the_domain_does_no_io_and_depends_on_nothing_above_it() {
    let domain = [
        "protocol",
        "pog",
        "keys.rs",
        "backoff.rs",
        "report.rs",
        "metagraph.rs",
    ];
    assert_absent(
        &domain,
        &[
            "crate::axon",
            "crate::chain",
            "crate::cli",
            "crate::config",
            "crate::dendrite",
            "crate::docker",
            "crate::miner",
            "crate::service",
            "crate::validator",
            "crate::wallet",
            "crate::logging",
            "crate::fsutil",
            "crate::wandb",
        ],
        "the domain modules name only each other",
    );
    assert_absent(
        &domain,
        &[
            "std::fs",
            "std::net::TcpStream",
            "std::net::UdpSocket",
            "tokio::",
            "std::process",
        ],
        "the domain modules do no I/O",
    );
}

#[test]
fn the_roles_do_not_know_each_other() {
    assert_absent(
        &["miner"],
        &["crate::validator"],
        "the miner must not depend on the validator",
    );
    assert_absent(
        &["validator"],
        &["crate::miner"],
        "the validator must not depend on the miner",
    );
}

#[test]
fn the_appliance_parts_serve_both_roles_and_know_neither() {
    assert_absent(
        &["doctor.rs", "registration.rs"],
        &["crate::miner", "crate::validator"],
        "the preflight checks and registration serve both roles; they must not name one",
    );
}

#[test]
fn only_the_command_line_uses_the_command_line() {
    for place in [
        "miner",
        "validator",
        "config",
        "axon",
        "chain",
        "protocol",
        "service",
        "wallet",
        "pog",
        "gpu",
        "ssh.rs",
        "doctor.rs",
        "registration.rs",
        "instrument.rs",
        "wandb.rs",
    ] {
        assert_absent(
            &[place],
            &["crate::cli", "clap::"],
            "the command line is the top layer; nothing below it parses arguments",
        );
    }
}
