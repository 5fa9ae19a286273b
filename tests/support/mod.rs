//! Helpers shared by the integration tests: running the `sn27` binary and the Python peers,
//! and a fake subtensor node ([`fake_node`]).
#![allow(dead_code)] // each test binary uses a different subset

pub mod fake_node;
pub mod fake_wandb;
pub mod packaging;
pub mod pog;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// A port free now, from the kernel's ephemeral range.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `n` distinct ports free now on every interface, taken below the ephemeral range
/// (32768–60999) so that no outgoing connection of the test can take one before a container
/// publishes it.
pub fn free_ports(n: usize) -> Vec<u16> {
    use std::sync::atomic::{AtomicU16, Ordering};
    static NEXT: AtomicU16 = AtomicU16::new(0);
    let _ = NEXT.compare_exchange(
        0,
        20_000 + (std::process::id() % 1000) as u16 * 10,
        Ordering::SeqCst,
        Ordering::SeqCst,
    );
    let mut ports = Vec::new();
    while ports.len() < n {
        let port = NEXT.fetch_add(1, Ordering::SeqCst);
        assert!(
            port < 32_000,
            "no free ports left below the ephemeral range"
        );
        if std::net::TcpListener::bind(("0.0.0.0", port)).is_ok() {
            ports.push(port);
        }
    }
    ports
}

/// Runs the `sn27` binary with `args`, none of the inherited variables it would read (see
/// [`sn27_command`]), and `env` added.
pub fn sn27(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = sn27_command(env!("CARGO_BIN_EXE_sn27"));
    command.args(args).envs(env.iter().copied());
    command.output().expect("the sn27 binary runs")
}

/// `program` (the `sn27` binary, or a wrapper such as `taskset` or `sh install.sh` that runs
/// it) as a command with stdin closed and without the inherited variables sn27 would read:
/// `SN27_*` (as configuration: the test runner's own `SN27_TEST_*` would be unknown keys),
/// `BT_PW_*` (wallet passwords) and `RUST_LOG` (over the configured log filter).
pub fn sn27_command(program: &str) -> Command {
    let mut command = Command::new(program);
    command.stdin(Stdio::null()).env_remove("RUST_LOG");
    for (name, _) in std::env::vars_os() {
        let text = name.to_string_lossy();
        if text.starts_with("SN27_") || text.starts_with("BT_PW_") {
            command.env_remove(&name);
        }
    }
    command
}

/// A fresh devnet (a block every `block_time` seconds) and a wallet without a password for
/// the configuration at `config`; returns the wallet as `sn27 wallet show --json` tells it.
pub fn devnet_with_wallet(config: &str, block_time: &str) -> serde_json::Value {
    sn27_ok(&[
        "--config",
        config,
        "devnet",
        "init",
        "--block-time",
        block_time,
    ]);
    sn27_ok(&[
        "--config",
        config,
        "wallet",
        "create",
        "--no-password",
        "--no-print-mnemonic",
    ]);
    serde_json::from_str(&sn27_ok(&["--config", config, "wallet", "show", "--json"])).unwrap()
}

/// [`devnet_with_wallet`], its hotkey then registered directly with `stake` (a validator's);
/// returns the wallet.
pub fn devnet_with_staked_hotkey(config: &str, block_time: &str, stake: &str) -> serde_json::Value {
    let show = devnet_with_wallet(config, block_time);
    sn27_ok(&[
        "--config",
        config,
        "devnet",
        "register",
        show["hotkey"].as_str().unwrap(),
        "--stake",
        stake,
    ]);
    show
}

/// [`sn27`] that must succeed; returns its stdout.
pub fn sn27_ok(args: &[&str]) -> String {
    let out = sn27(args, &[]);
    assert!(
        out.status.success(),
        "{args:?}: {}{}",
        stdout(&out),
        stderr(&out)
    );
    stdout(&out)
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

/// A miner axon on an ephemeral loopback port, stopped when dropped.
pub struct RunningAxon {
    pub addr: std::net::SocketAddr,
    pub hotkey: sn27::keys::PublicKey,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Drop for RunningAxon {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// A neuron for a test metagraph.
pub fn neuron(uid: u16, hotkey: &str, stake: f64, permit: bool) -> sn27::metagraph::Neuron {
    let hotkey = sn27::keys::PublicKey::from_ss58(hotkey).unwrap();
    sn27::metagraph::Neuron {
        uid,
        hotkey,
        coldkey: hotkey,
        stake,
        validator_permit: permit,
        prometheus_version: 0,
    }
}

/// Starts an axon with the miner policy of `miner` over `neurons`, answering `Allocate` the
/// way an idle miner answers an availability check (branch A: `status` true, `port` 4444) and
/// echoing `Challenge`.
pub async fn start_miner_axon(
    miner: sn27::config::MinerConfig,
    neurons: Vec<sn27::metagraph::Neuron>,
    limits: sn27::axon::Limits,
) -> RunningAxon {
    use sn27::axon::{Axon, Caller};
    use sn27::metagraph::{MetagraphSnapshot, SharedMetagraph};
    use sn27::miner::policy::MinerAccessPolicy;
    use sn27::protocol::{Allocate, Challenge, Synapse};
    use std::sync::Arc;

    let key = sn27::keys::Keypair::generate(12).unwrap();
    let metagraph = Arc::new(SharedMetagraph::new(MetagraphSnapshot::new(27, 1, neurons)));
    let policy = Arc::new(MinerAccessPolicy::new(&miner, metagraph).unwrap());
    let axon = Axon::new(key.public(), policy, limits)
        .attach(
            |mut synapse: Synapse<Allocate>, _caller: Caller| async move {
                let available = synapse.fields.checking && synapse.fields.timeline > 0;
                synapse.fields.output = serde_json::json!({"status": available, "port": 4444})
                    .as_object()
                    .unwrap()
                    .clone();
                synapse
            },
        )
        .attach(|synapse: Synapse<Challenge>, _caller: Caller| async move { synapse });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(Arc::new(axon).serve(listener, async move {
        let _ = stopped.await;
    }));
    RunningAxon {
        addr,
        hotkey: key.public(),
        stop: Some(stop),
    }
}

/// Sends raw bytes to `addr` and returns the status line's code and the whole response.
pub fn raw_http(addr: std::net::SocketAddr, request: &[u8]) -> (u16, String) {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(15)))
        .unwrap();
    stream.write_all(request).unwrap();
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response);
    let text = String::from_utf8_lossy(&response).into_owned();
    let code = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (code, text)
}

/// An HTTP/1.1 POST with `Connection: close`.
pub fn http_post(path: &str, headers: &[(String, String)], body: &[u8]) -> Vec<u8> {
    let mut request = format!("POST /{path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n");
    request.push_str("Content-Type: application/json\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    let mut bytes = request.into_bytes();
    bytes.extend_from_slice(body);
    bytes
}

/// Path of a real finney metadata file in `../shared/metadata/` (laid beside the checkout, in
/// CI too).
pub fn metadata_path(spec: u32) -> String {
    format!(
        "{}/../shared/metadata/finney-{spec}.scale",
        env!("CARGO_MANIFEST_DIR")
    )
}

/// The bytes of a finney metadata file; missing is a failure that says where it was looked for.
pub fn metadata_bytes(spec: u32) -> Vec<u8> {
    let path = metadata_path(spec);
    std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "{path}: {e} (the runtime metadata files live in shared/metadata beside the checkout)"
        )
    })
}
