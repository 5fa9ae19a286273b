//! `[validator] live_config_url`: a validator service on the devnet following a live
//! configuration in the reference's `/config` format, served here by a small HTTP server
//! whose answer the test changes. Followed with what changed logged, shown by `sn27 status`;
//! a bad answer keeps the previous values and is logged once, not every minute; `sn27 scores`
//! reads it too and says whether it did.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use serde_json::{json, Value};

use crate::support::{devnet_with_staked_hotkey, free_port, sn27_command, sn27_ok};

/// A `/config` server answering every request with the current body.
fn config_server(body: Arc<Mutex<String>>) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut request = [0u8; 2048];
            let _ = stream.read(&mut request);
            let body = body.lock().unwrap().clone();
            let _ = stream.write_all(
                format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\
                     content-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                )
                .as_bytes(),
            );
        }
    });
    port
}

fn live_document() -> String {
    json!({"config": {
        "gpu_performance": {
            "GPU_TFLOPS_FP16": {"NVIDIA B200": 1205, "NVIDIA H200": 610},
            "GPU_TFLOPS_FP32": {"NVIDIA B200": 67.2, "NVIDIA H200": 49.6},
            "GPU_AVRAM": {"NVIDIA B200": 68.72, "NVIDIA H200": 68.72},
            "gpu_scores": {"NVIDIA B200": 4.8, "NVIDIA H200": 3.99}
        },
        "gpu_time_models": {"NVIDIA H200": {"a0": 32.55, "a1": 5.28, "a2": -0.23, "tol": 1.3}},
        "merkle_proof": {"time_tolerance": 7},
        "subnet_config": {"total_miner_emission": 0.1,
                          "gpu_weights": {"NVIDIA B200": 30, "NVIDIA H200": 20}}
    }})
    .to_string()
}

fn wait_for(limit: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if done() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

#[test]
fn a_validator_follows_the_live_configuration_and_keeps_it_through_bad_answers() {
    let body = Arc::new(Mutex::new(live_document()));
    let server = config_server(body.clone());
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("validator.toml");
    let metrics_port = free_port();
    let write = |validator: &str| {
        std::fs::write(
            &config,
            format!(
                "role = \"validator\"\nstate_dir = \"{}\"\n[chain]\nnetwork = \"devnet\"\n\
                 devnet_path = \"{}\"\n[wallet]\npath = \"{}\"\n[validator]\n{validator}\
                 [scoring]\nprofile = \"sn27-v2.2.1\"\n\
                 [metrics]\nlisten = \"127.0.0.1:{metrics_port}\"\n[log]\nfilter = \"info\"\n",
                dir.path().join("state").display(),
                dir.path().join("devnet.sqlite").display(),
                dir.path().join("wallets").display(),
            ),
        )
        .unwrap()
    };
    write(&format!(
        "live_config_url = \"http://127.0.0.1:{server}/config\"\nlive_config_interval_secs = 1\n"
    ));
    let c = config.to_str().unwrap();
    devnet_with_staked_hotkey(c, "1", "10");

    let log = dir.path().join("validator.log");
    let log_file = std::fs::File::create(&log).unwrap();
    let mut child = sn27_command(env!("CARGO_BIN_EXE_sn27"))
        .args(["--config", c, "--log-format", "text", "run"])
        .stdout(log_file.try_clone().unwrap())
        .stderr(log_file)
        .spawn()
        .unwrap();
    let log_text = || std::fs::read_to_string(&log).unwrap_or_default();

    // Followed, with what it changed over the file and what it holds that is not used.
    assert!(
        wait_for(Duration::from_secs(60), || log_text()
            .contains("live configuration followed")),
        "{}",
        log_text()
    );
    let text = log_text();
    let line = text
        .lines()
        .find(|l| l.contains("live configuration followed"))
        .unwrap();
    for changed in [
        "scoring.total_miner_emission",
        "scoring.gpu",
        "validator.pog.time_tolerance_secs",
    ] {
        assert!(line.contains(changed), "{changed} not in: {line}");
    }
    assert!(line.contains("gpu_time_models"), "{line}");
    let status = sn27_ok(&["--config", c, "status"]);
    assert!(status.contains("(followed)"), "{status}");

    // A bad answer keeps the previous values; it is logged once, not at every read.
    *body.lock().unwrap() =
        json!({"config": {"subnet_config": {"total_miner_emission": "0.1"}}}).to_string();
    assert!(
        wait_for(Duration::from_secs(30), || log_text()
            .contains("live configuration not taken")),
        "{}",
        log_text()
    );
    std::thread::sleep(Duration::from_secs(3));
    let text = log_text();
    let refused: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("live configuration not taken"))
        .collect();
    assert_eq!(refused.len(), 1, "{text}");
    assert!(
        refused[0].contains("subnet_config.total_miner_emission: not a number"),
        "{}",
        refused[0]
    );
    let status = sn27_ok(&["--config", c, "status"]);
    assert!(status.contains("(followed)"), "{status}");

    // sn27 scores reads it as well, and says so either way.
    let scores: Value =
        serde_json::from_str(&sn27_ok(&["--config", c, "scores", "--json"])).unwrap();
    let note = scores["live_config"].as_str().unwrap();
    assert!(note.starts_with("live configuration not taken"), "{note}");
    assert!(
        scores["missing_inputs"][0]
            .as_str()
            .unwrap()
            .contains("live /config"),
        "{scores}"
    );
    *body.lock().unwrap() = live_document();
    let scores: Value =
        serde_json::from_str(&sn27_ok(&["--config", c, "scores", "--json"])).unwrap();
    let note = scores["live_config"].as_str().unwrap();
    assert!(note.starts_with("live configuration read from"), "{note}");
    assert!(
        !scores["missing_inputs"]
            .to_string()
            .contains("live /config"),
        "{scores}"
    );
    // The caps follow the live weights and emission share: 30/50 and 20/50 of 0.1.
    let caps: Vec<(String, f64)> = scores["caps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["model"].as_str().unwrap().to_string(),
                c["cap"].as_f64().unwrap(),
            )
        })
        .collect();
    assert_eq!(caps.len(), 2, "{scores}");
    assert_eq!(caps[0].0, "NVIDIA B200");
    assert!((caps[0].1 - 0.06).abs() < 1e-9, "{caps:?}");
    assert!((caps[1].1 - 0.04).abs() < 1e-9, "{caps:?}");

    // Dropped from the file, it is no longer followed as soon as the reload is read.
    write("");
    let pid = Pid::from_raw(child.id() as i32);
    kill(pid, Signal::SIGHUP).unwrap();
    assert!(
        wait_for(Duration::from_secs(20), || log_text()
            .contains("live configuration no longer followed")),
        "{}",
        log_text()
    );
    let status = sn27_ok(&["--config", c, "status"]);
    assert!(!status.contains("(followed)"), "{status}");

    kill(pid, Signal::SIGTERM).unwrap();
    let exit = child.wait().unwrap();
    assert!(exit.success(), "{exit}\n{}", log_text());
}
