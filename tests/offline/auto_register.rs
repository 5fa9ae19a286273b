//! `sn27 run` with `[chain] auto_register`: an unregistered validator registers itself when
//! the burn is within `max_burn`, and refuses to start, naming the limit, when it is not.

use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::support::{sn27, sn27_command, sn27_ok, stderr};

fn config(dir: &std::path::Path, max_burn: &str) -> String {
    let path = dir.join(format!("validator-{max_burn}.toml"));
    std::fs::write(
        &path,
        format!(
            "role = \"validator\"\nstate_dir = \"{}\"\n[chain]\nnetwork = \"devnet\"\n\
             devnet_path = \"{}\"\nauto_register = true\nmax_burn = {max_burn}\n\
             [wallet]\npath = \"{}\"\n",
            dir.join("state").display(),
            dir.join("devnet.sqlite").display(),
            dir.join("wallets").display(),
        ),
    )
    .unwrap();
    path.to_string_lossy().into_owned()
}

#[test]
fn an_unregistered_service_registers_itself_within_its_burn_limit() {
    let dir = tempfile::tempdir().unwrap();
    let low = config(dir.path(), "0.5");
    sn27_ok(&["--config", &low, "devnet", "init", "--block-time", "1"]);
    sn27_ok(&[
        "--config",
        &low,
        "wallet",
        "create",
        "--no-password",
        "--no-print-mnemonic",
    ]);
    let show: serde_json::Value =
        serde_json::from_str(&sn27_ok(&["--config", &low, "wallet", "show", "--json"])).unwrap();
    sn27_ok(&[
        "--config",
        &low,
        "devnet",
        "fund",
        show["coldkey"].as_str().unwrap(),
        "5",
    ]);

    // The devnet's burn is 1 TAO: a limit of 0.5 refuses to start and says so.
    let out = sn27(&["--config", &low, "run"], &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("above [chain] max_burn 0.500000000 TAO"),
        "{}",
        stderr(&out)
    );

    let high = config(dir.path(), "2.0");
    let mut child = sn27_command(env!("CARGO_BIN_EXE_sn27"))
        .args(["--config", &high, "--log-format", "text", "run"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let registered = loop {
        let metagraph = sn27_ok(&["--config", &high, "metagraph", "--json"]);
        if metagraph.contains(show["hotkey"].as_str().unwrap()) {
            break true;
        }
        if Instant::now() > deadline {
            break false;
        }
        std::thread::sleep(Duration::from_millis(500));
    };
    child.kill().ok();
    child.wait().ok();
    assert!(registered, "the service registered its hotkey");
    let balance = sn27_ok(&["--config", &high, "chain", "info"]);
    assert!(!balance.is_empty());
}
