//! The wire against the Python SDK (bittensor 10.5.0 from PyPI, pinned): a Python dendrite
//! calls our axon, and our dendrite calls a Python axon.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::support::{http_post, neuron, python, python_peer, raw_http, start_miner_axon};
use serde_json::Value;
use sn27::axon::Limits;
use sn27::config::MinerConfig;
use sn27::dendrite::{Dendrite, Target};
use sn27::keys::Keypair;
use sn27::protocol::Allocate;

fn peer_script() -> String {
    concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/wire_peer.py").to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_dendrite_against_our_axon() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_str().unwrap().to_string();
    let wallets = {
        let root = root.clone();
        tokio::task::spawn_blocking(move || {
            python_peer(
                "wire_peer.py",
                &["wallets", &root, "caller", "blocked", "stranger"],
            )
        })
        .await
        .unwrap()
    };
    let hotkey = |name: &str| wallets[name].as_str().unwrap().to_string();
    let miner = MinerConfig {
        hotkey_blacklist: vec![hotkey("blocked")],
        ..MinerConfig::default()
    };
    let neurons = vec![
        neuron(0, &hotkey("caller"), 5000.0, true),
        neuron(1, &hotkey("blocked"), 5000.0, true),
    ];
    let axon = start_miner_axon(miner, neurons, Limits::default()).await;
    let (port, axon_hotkey) = (axon.addr.port().to_string(), axon.hotkey.to_ss58());
    let results = tokio::task::spawn_blocking(move || {
        python_peer("wire_peer.py", &["dendrite", &root, &port, &axon_hotkey])
    })
    .await
    .unwrap();

    let allocate = &results["allocate"];
    assert_eq!(allocate["status"], 200, "{results:#}");
    assert_eq!(allocate["axon_status"], 200, "{results:#}");
    assert_eq!(
        allocate["output"],
        serde_json::json!({"status": true, "port": 4444})
    );
    assert_eq!(allocate["deserialized"], allocate["output"]);

    let corrupted = &results["corrupted_signature"];
    assert_eq!(corrupted["status"], 401, "{results:#}");
    assert!(corrupted["message"]
        .as_str()
        .unwrap()
        .contains("Signature mismatch"));

    assert_eq!(results["first_send"]["status"], 200, "{results:#}");
    assert_eq!(results["replay"]["status"], 401, "{results:#}");

    let blacklisted = &results["blacklisted"];
    assert_eq!(blacklisted["status"], 403, "{results:#}");
    assert!(blacklisted["message"]
        .as_str()
        .unwrap()
        .contains("is blacklisted"));

    let unregistered = &results["unregistered"];
    assert_eq!(unregistered["status"], 403, "{results:#}");
    assert!(unregistered["message"]
        .as_str()
        .unwrap()
        .contains("not registered"));

    let unknown = &results["unknown_synapse"];
    assert_eq!(unknown["status"], 404, "{results:#}");
    assert!(unknown["message"]
        .as_str()
        .unwrap()
        .contains("Synapse name 'Specs' not found"));

    assert_eq!(results["ping"]["status"], 200, "{results:#}");
}

/// A Python axon process, stopped (stdin closed, then killed) when dropped.
struct PythonAxon {
    child: std::process::Child,
    /// Kept open so that the peer's last words do not hit a closed pipe.
    _stdout: BufReader<std::process::ChildStdout>,
    hotkey: String,
    port: u16,
}

impl PythonAxon {
    fn start(root: &str) -> PythonAxon {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut child = Command::new(python())
            .args([peer_script(), "axon".into(), root.into(), port.to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        // Wallet creation prints to stdout too; the readiness line is the first JSON object.
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let ready: Value = loop {
            let mut line = String::new();
            if stdout.read_line(&mut line).unwrap() == 0 {
                panic!("python axon exited before it was ready");
            }
            if let Ok(value @ Value::Object(_)) = serde_json::from_str(line.trim()) {
                break value;
            }
        };
        PythonAxon {
            child,
            _stdout: stdout,
            hotkey: ready["hotkey"].as_str().unwrap().to_string(),
            port,
        }
    }
}

impl Drop for PythonAxon {
    fn drop(&mut self) {
        if let Some(mut stdin) = self.child.stdin.take() {
            let _ = stdin.write_all(b"");
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn our_dendrite_against_python_axon() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_str().unwrap().to_string();
    let axon = tokio::task::spawn_blocking(move || PythonAxon::start(&root))
        .await
        .unwrap();
    let target = Target {
        addr: format!("127.0.0.1:{}", axon.port).parse().unwrap(),
        hotkey: axon.hotkey.clone(),
    };
    let key = Keypair::generate(12).unwrap();
    let dendrite = Dendrite::new(key.clone());
    let mut device = serde_json::Map::new();
    device.insert("cpu".into(), serde_json::json!({"count": 2}));
    let request = Allocate {
        timeline: 3,
        checking: false,
        public_key: "-----BEGIN PUBLIC KEY-----\nMIIB\n-----END PUBLIC KEY-----\n".into(),
        device_requirement: device.clone(),
        ..Allocate::default()
    };
    let reply = dendrite
        .call(&target, request.clone(), Duration::from_secs(15))
        .await;
    assert_eq!(reply.status_code, 200, "{}", reply.status_message);
    let output = &reply.synapse.fields.output;
    assert_eq!(output["timeline"], 3);
    assert_eq!(output["checking"], false);
    assert_eq!(output["public_key"], request.public_key.as_str());
    assert_eq!(output["device_requirement"], Value::Object(device));
    assert_eq!(output["caller"], key.ss58().as_str());
    // The other fields come back as sent.
    assert_eq!(reply.synapse.fields.public_key, request.public_key);
    assert_eq!(
        reply.synapse.fields.docker_requirement,
        request.docker_requirement
    );

    // A lower nonce than the last accepted one is refused by the Python axon.
    let used = reply.synapse.dendrite.nonce.expect("nonce echoed");
    let (synapse, hash) = dendrite.prepare(
        &target,
        Allocate::default(),
        Duration::from_secs(15),
        used - 1,
    );
    let raw = http_post(
        "Allocate",
        &synapse.to_headers(&hash),
        &serde_json::to_vec(&synapse).unwrap(),
    );
    let addr = target.addr;
    let (code, text) = tokio::task::spawn_blocking(move || raw_http(addr, &raw))
        .await
        .unwrap();
    assert_eq!(code, 401, "{text}");
    assert!(text.contains("Nonce is too old"), "{text}");

    // And the dendrite carries on with fresh nonces.
    let reply = dendrite
        .call(&target, Allocate::default(), Duration::from_secs(15))
        .await;
    assert_eq!(reply.status_code, 200, "{}", reply.status_message);
}
