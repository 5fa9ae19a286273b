//! Load benchmark: signed `Allocate(checking=true)` requests over loopback against our axon and
//! against the Python bittensor 10.5 axon, in one run, with one client, on one machine.
//!
//! Each server runs in its own process pinned to CPU 0 (`taskset -c 0`); the client pins itself
//! to CPU 1. The client pre-signs its requests (fresh, strictly increasing nonces per
//! connection) so that its own signing does not limit the rate it can offer. Reported: requests
//! per second, p50/p99 latency, the server's resident memory, and the raw sr25519
//! verifications per second of one core.
//!
//! Then the same load against the real thing: a release `sn27 run` miner process on a local
//! devnet (pinned to CPU 0, journal-free text logging to a file, metrics on), with the 16
//! client keys registered and staked as validators there, so the miner's own caller policy,
//! metagraph, engine and instruments answer every request.
//!
//! Run: `cargo bench --bench axon_load` (needs `tests/setup-python.sh` to have built the venv,
//! and a Docker engine with `SN27_TEST_BASE_IMAGE` for the miner process; without one that
//! part is skipped and says so).
//! Knobs: `SN27_BENCH_SECS` (default 5), `SN27_BENCH_CONNECTIONS` (default 16),
//! `SN27_BENCH_RUNS` (runs against our axon, median reported; default 3);
//! `SN27_BENCH_ROLE=server` or `client` runs one side alone, `process` only the `sn27 run`
//! miner (for profiling).

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1;
use hyper::Request;
use hyper_util::rt::TokioIo;
use sn27::axon::{Axon, Caller, Limits};
use sn27::config::MinerConfig;
use sn27::dendrite::{Dendrite, Target};
use sn27::keys::Keypair;
use sn27::metagraph::{MetagraphSnapshot, Neuron, SharedMetagraph};
use sn27::miner::policy::MinerAccessPolicy;
use sn27::protocol::{Allocate, Synapse};

mod support;
use support::{cpu_secs, env_or, pin_to_cpu, sn27_command, status_kib};

/// Resident and peak resident memory of a process, KiB.
fn rss_kib(pid: u32) -> (u64, u64) {
    let pid = pid.to_string();
    (status_kib(&pid, "VmRSS:"), status_kib(&pid, "VmHWM:"))
}

const ROLE: &str = "SN27_BENCH_ROLE";

fn client_key(i: usize) -> Keypair {
    let mut seed = [0u8; 32];
    seed[0] = 1;
    seed[1] = i as u8;
    Keypair::from_secret_bytes(&seed).expect("a 32-byte seed is a valid key")
}

fn main() {
    let role = std::env::var(ROLE);
    // `cargo test --all-targets` runs this binary without `--bench`: a load test has no place
    // in the test suite, so it only says how to run it.
    if role.is_err() && !std::env::args().any(|arg| arg == "--bench") {
        println!("axon_load is a benchmark: run it with `cargo bench --bench axon_load`");
        return;
    }
    let secs: u64 = env_or("SN27_BENCH_SECS", 5);
    let connections: usize = env_or("SN27_BENCH_CONNECTIONS", 16);
    match role.as_deref() {
        Ok("server") => return serve(),
        // Load against a server started separately (e.g. under a profiler):
        // SN27_BENCH_TARGET="<addr> <hotkey> <pid>".
        Ok("client") => {
            pin_to_cpu(1);
            let target = std::env::var("SN27_BENCH_TARGET").expect("SN27_BENCH_TARGET");
            let parts: Vec<&str> = target.split_whitespace().collect();
            let pid = parts.get(2).and_then(|p| p.parse().ok()).unwrap_or(0);
            let stats = load(
                parts[0].parse().expect("addr"),
                parts[1],
                connections,
                secs,
                pid,
            );
            println!("{stats}");
            return;
        }
        // Only the `sn27 run` miner process, `SN27_BENCH_RUNS` times (for profiling it).
        Ok("process") => {
            pin_to_cpu(1);
            let mut miner = MinerProcess::start(connections).unwrap_or_else(|why| panic!("{why}"));
            println!(
                "miner process {} serving on {}",
                miner.child.id(),
                miner.addr
            );
            for _ in 0..env_or("SN27_BENCH_RUNS", 3) {
                let verify = raw_verifications_per_second();
                let stats = load(
                    miner.addr,
                    &miner.hotkey,
                    connections,
                    secs,
                    miner.child.id(),
                );
                println!(
                    "{stats}; {:.0}% of {verify:.0} verifications/s",
                    100.0 * stats.rate / verify
                );
            }
            miner.stop();
            return;
        }
        _ => {}
    }
    pin_to_cpu(1);

    let runs: usize = env_or("SN27_BENCH_RUNS", 3);
    let verify_before = raw_verifications_per_second();

    // The machine's speed drifts between runs; the median of several runs is reported.
    let (mut ours, addr, hotkey) = start_ours();
    let mut rust_runs: Vec<Stats> = (0..runs.max(1))
        .map(|_| load(addr, &hotkey, connections, secs, ours.id()))
        .collect();
    for run in &rust_runs {
        println!("sn27 axon run: {run}");
    }
    rust_runs.sort_by(|a, b| a.rate.total_cmp(&b.rate));
    let rust = rust_runs.swap_remove(rust_runs.len() / 2);
    let rss = rss_kib(ours.id());
    let _ = ours.kill();
    let _ = ours.wait();
    println!(
        "sn27 axon (median of {runs} runs): {rust}  (server RSS {:.1} MB, peak {:.1} MB)",
        rss.0 as f64 / 1024.0,
        rss.1 as f64 / 1024.0,
    );

    let (mut python, addr, hotkey) = start_python();
    let py = load(addr, &hotkey, connections, secs, python.id());
    let py_rss = rss_kib(python.id());
    drop(python.stdin.take());
    let _ = python.kill();
    let _ = python.wait();
    println!(
        "python axon: {py}  (server RSS {:.1} MB)",
        py_rss.0 as f64 / 1024.0
    );
    let process = match MinerProcess::start(connections) {
        Ok(mut miner) => {
            let mut runs_: Vec<Stats> = (0..runs.max(1))
                .map(|_| {
                    load(
                        miner.addr,
                        &miner.hotkey,
                        connections,
                        secs,
                        miner.child.id(),
                    )
                })
                .collect();
            for run in &runs_ {
                println!("sn27 run miner process run: {run}");
            }
            runs_.sort_by(|a, b| a.rate.total_cmp(&b.rate));
            let median = runs_.swap_remove(runs_.len() / 2);
            let rss = rss_kib(miner.child.id());
            miner.stop();
            println!(
                "sn27 run miner process (median of {runs} runs): {median}  (RSS {:.1} MB, peak {:.1} MB)",
                rss.0 as f64 / 1024.0,
                rss.1 as f64 / 1024.0,
            );
            Some((median, rss))
        }
        Err(why) => {
            println!("sn27 run miner process: skipped: {why}");
            None
        }
    };
    let verify_after = raw_verifications_per_second();
    let verify_rate = (verify_before + verify_after) / 2.0;
    println!(
        "raw sr25519 verifications/s (1 core): {verify_before:.0} before, {verify_after:.0} after, mean {verify_rate:.0}"
    );

    println!();
    println!("| | requests/s | p50 ms | p99 ms | errors | server RSS MB |");
    println!("|---|---|---|---|---|---|");
    println!(
        "| sn27 axon (1 core) | {:.0} | {:.2} | {:.2} | {} | {:.1} |",
        rust.rate,
        rust.p50_ms,
        rust.p99_ms,
        rust.errors,
        rss.1 as f64 / 1024.0
    );
    println!(
        "| Python 10.5 axon (1 core) | {:.0} | {:.2} | {:.2} | {} | {:.1} |",
        py.rate,
        py.p50_ms,
        py.p99_ms,
        py.errors,
        py_rss.0 as f64 / 1024.0
    );
    if let Some((miner, rss)) = &process {
        println!(
            "| sn27 run miner process (1 core) | {:.0} | {:.2} | {:.2} | {} | {:.1} |",
            miner.rate,
            miner.p50_ms,
            miner.p99_ms,
            miner.errors,
            rss.1 as f64 / 1024.0
        );
    }
    println!();
    if let Some((miner, _)) = &process {
        println!(
            "sn27 run miner process: {:.1}x Python, {:.0}% of the raw verification rate",
            miner.rate / py.rate.max(f64::MIN_POSITIVE),
            100.0 * miner.rate / verify_rate
        );
    }
    println!(
        "ratio sn27 / Python: {:.1}x",
        rust.rate / py.rate.max(f64::MIN_POSITIVE)
    );
    println!(
        "sn27 rate / raw verification rate: {:.0}%",
        100.0 * rust.rate / verify_rate
    );
}

fn raw_verifications_per_second() -> f64 {
    let key = client_key(0);
    let message = b"1800000000000000000.5Gx.5Gy.uuid.a7ffc6f8bf1ed76651c14756a061d662f580ff4de43b49fa82d80a4b80f8434a";
    let signature = key.sign(message);
    let public = key.public();
    let started = Instant::now();
    let mut count = 0u64;
    while started.elapsed() < Duration::from_secs(2) {
        for _ in 0..100 {
            assert!(public.verify(message, &signature));
        }
        count += 100;
    }
    count as f64 / started.elapsed().as_secs_f64()
}

/// Server mode: our axon on a current-thread runtime (one core), printing its port and hotkey.
fn serve() {
    let server = Keypair::from_secret_bytes(&[42; 32]).expect("valid seed");
    let neurons = (0..256).map(|i| {
        let key = client_key(i).public();
        Neuron {
            uid: i as u16,
            hotkey: key,
            coldkey: key,
            stake: 5000.0,
            validator_permit: true,
            prometheus_version: 0,
        }
    });
    let metagraph = Arc::new(SharedMetagraph::new(MetagraphSnapshot::new(27, 1, neurons)));
    let policy =
        Arc::new(MinerAccessPolicy::new(&MinerConfig::default(), metagraph).expect("valid"));
    let axon = Axon::new(server.public(), policy, Limits::default()).attach(
        |mut synapse: Synapse<Allocate>, _caller: Caller| async move {
            let available = synapse.fields.checking && synapse.fields.timeline > 0;
            synapse
                .fields
                .output
                .insert("status".into(), available.into());
            synapse.fields.output.insert("port".into(), 4444.into());
            synapse
        },
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        println!(
            "{} {}",
            listener.local_addr().expect("addr").port(),
            server.ss58()
        );
        Arc::new(axon)
            .serve(listener, std::future::pending())
            .await
            .expect("serve");
    });
}

fn start_ours() -> (Child, SocketAddr, String) {
    let exe = std::env::current_exe().expect("own path");
    let mut child = Command::new("taskset")
        .args(["-c", "0"])
        .arg(exe)
        .env(ROLE, "server")
        .stdout(Stdio::piped())
        .spawn()
        .expect("taskset runs");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("piped"))
        .read_line(&mut line)
        .expect("ready line");
    let mut parts = line.split_whitespace();
    let port: u16 = parts.next().and_then(|p| p.parse().ok()).expect("port");
    let hotkey = parts.next().expect("hotkey").to_string();
    (child, SocketAddr::from(([127, 0, 0, 1], port)), hotkey)
}

fn start_python() -> (Child, SocketAddr, String) {
    let root = std::env::temp_dir().join(format!("sn27-bench-{}", std::process::id()));
    let python = std::env::var("SN27_TEST_PYTHON").unwrap_or_else(|_| {
        concat!(env!("CARGO_MANIFEST_DIR"), "/target/test-venv/bin/python").into()
    });
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = Command::new("taskset")
        .args([
            "-c",
            "0",
            &python,
            concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/wire_peer.py"),
            "axon",
        ])
        .arg(&root)
        .arg(port.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("python runs (run tests/setup-python.sh first)");
    let mut stdout = BufReader::new(child.stdout.take().expect("piped"));
    let hotkey = loop {
        let mut line = String::new();
        assert!(
            stdout.read_line(&mut line).expect("read") > 0,
            "python axon did not start"
        );
        if let Ok(value) = serde_json::from_str::<serde_json::Value>(line.trim()) {
            if let Some(hotkey) = value.get("hotkey").and_then(|h| h.as_str()) {
                break hotkey.to_string();
            }
        }
    };
    // Keep draining its stdout so it never blocks on a full pipe.
    std::thread::spawn(move || for _ in stdout.lines() {});
    (child, SocketAddr::from(([127, 0, 0, 1], port)), hotkey)
}

struct Stats {
    rate: f64,
    p50_ms: f64,
    p99_ms: f64,
    errors: u64,
    /// Share of one core the server used during the run.
    server_busy: f64,
}

impl std::fmt::Display for Stats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:.0} req/s, p50 {:.2} ms, p99 {:.2} ms, {} errors, server CPU {:.0}%",
            self.rate,
            self.p50_ms,
            self.p99_ms,
            self.errors,
            self.server_busy * 100.0
        )
    }
}

/// Drives `connections` keep-alive connections for `secs` seconds with pre-signed requests.
fn load(addr: SocketAddr, hotkey: &str, connections: usize, secs: u64, server: u32) -> Stats {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let target = Target {
            addr,
            hotkey: hotkey.to_string(),
        };
        // Enough for 14 000 requests/s, above what one core can verify; each connection has
        // its own key and uuid.
        let per_connection = 14_000 * secs as usize / connections;
        let request = Allocate {
            timeline: 1,
            checking: true,
            ..Allocate::default()
        };
        let mut prepared = Vec::new();
        for i in 0..connections {
            let dendrite = Dendrite::new(client_key(i));
            let mut requests = Vec::with_capacity(per_connection);
            for _ in 0..per_connection {
                let (synapse, hash) = dendrite.prepare(
                    &target,
                    request.clone(),
                    Duration::from_secs(120),
                    dendrite.next_nonce(),
                );
                let body = Bytes::from(serde_json::to_vec(&synapse).expect("serialises"));
                requests.push((synapse.to_headers(&hash), body));
            }
            prepared.push(requests);
        }
        let deadline = Instant::now() + Duration::from_secs(secs);
        let started = Instant::now();
        let server_cpu = cpu_secs(&server.to_string());
        let mut tasks = Vec::new();
        for requests in prepared {
            tasks.push(tokio::spawn(async move {
                let stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
                stream.set_nodelay(true).ok();
                let (mut sender, connection) = http1::handshake(TokioIo::new(stream))
                    .await
                    .expect("handshake");
                tokio::spawn(connection);
                let mut latencies = Vec::new();
                let mut errors = 0u64;
                for (headers, body) in requests {
                    if Instant::now() >= deadline {
                        break;
                    }
                    let mut builder = Request::post("/Allocate")
                        .header("host", "localhost")
                        .header("content-type", "application/json");
                    for (name, value) in headers {
                        builder = builder.header(name, value);
                    }
                    let sent = Instant::now();
                    match sender
                        .send_request(builder.body(Full::new(body)).expect("request"))
                        .await
                    {
                        Ok(response) => {
                            let ok = response.status() == 200;
                            let _ = response.into_body().collect().await;
                            if ok {
                                latencies.push(sent.elapsed())
                            } else {
                                errors += 1
                            }
                        }
                        Err(_) => {
                            errors += 1;
                            break;
                        }
                    }
                }
                (latencies, errors)
            }));
        }
        let mut latencies = Vec::new();
        let mut errors = 0;
        for task in tasks {
            let (mut l, e) = task.await.expect("worker");
            latencies.append(&mut l);
            errors += e;
        }
        let elapsed = started.elapsed().as_secs_f64();
        let server_busy = (cpu_secs(&server.to_string()) - server_cpu) / elapsed;
        latencies.sort_unstable();
        let pick = |q: f64| {
            latencies
                .get(((latencies.len() as f64 - 1.0) * q) as usize)
                .map_or(0.0, |d| d.as_secs_f64() * 1e3)
        };
        Stats {
            rate: latencies.len() as f64 / elapsed,
            p50_ms: pick(0.5),
            p99_ms: pick(0.99),
            errors,
            server_busy,
        }
    })
}

/// A release `sn27 run` miner on a local devnet in a scratch directory, pinned to CPU 0, with
/// the first `callers` client keys registered as staked validators.
struct MinerProcess {
    child: Child,
    addr: SocketAddr,
    hotkey: String,
    dir: tempfile::TempDir,
}

impl MinerProcess {
    fn start(callers: usize) -> Result<MinerProcess, String> {
        let image = std::env::var("SN27_TEST_BASE_IMAGE")
            .map_err(|_| "SN27_TEST_BASE_IMAGE is not set (tests/setup-docker.sh)".to_string())?;
        let docker_ok = Command::new("docker")
            .args(["image", "inspect", &image])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !docker_ok {
            return Err(format!(
                "no Docker engine with {image} (tests/setup-docker.sh)"
            ));
        }
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let free_port = || {
            std::net::TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .map(|a| a.port())
                .expect("a free port")
        };
        let (port, ssh_port) = (free_port(), free_port());
        let root = dir.path().display().to_string();
        let config = dir.path().join("miner.toml");
        let metrics_port = free_port();
        std::fs::write(
            &config,
            format!(
                "role = \"miner\"\nstate_dir = \"{root}/state\"\n\
                 [chain]\nnetwork = \"devnet\"\ndevnet_path = \"{root}/devnet.sqlite\"\n\
                 [wallet]\nname = \"miner\"\npath = \"{root}/wallets\"\n\
                 [axon]\nport = {port}\nexternal_ip = \"127.0.0.1\"\n\
                 [miner]\nssh_port = {ssh_port}\nuser_ports = []\nmin_validator_stake = 1000.0\n\
                 [miner.container]\nbase_image = \"{image}\"\nreserve_cpus = 1\n\
                 reserve_memory_gb = 0.25\n\
                 [metrics]\nlisten = \"127.0.0.1:{metrics_port}\"\n\
                 [log]\nfilter = \"info\"\nformat = \"text\"\n"
            ),
        )
        .map_err(|e| e.to_string())?;
        let sn27 = |args: &[&str]| -> Result<String, String> {
            let out = sn27_command(env!("CARGO_BIN_EXE_sn27"))
                .arg("--config")
                .arg(&config)
                .args(args)
                .output()
                .map_err(|e| e.to_string())?;
            if !out.status.success() {
                return Err(format!(
                    "sn27 {}: {}",
                    args.join(" "),
                    String::from_utf8_lossy(&out.stderr)
                ));
            }
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        };
        sn27(&["devnet", "init"])?;
        sn27(&["wallet", "create", "--no-password", "--no-print-mnemonic"])?;
        let wallet: serde_json::Value = serde_json::from_str(&sn27(&["wallet", "show", "--json"])?)
            .map_err(|e| e.to_string())?;
        let field = |name: &str| wallet[name].as_str().unwrap_or_default().to_string();
        let (hotkey, coldkey) = (field("hotkey"), field("coldkey"));
        sn27(&["devnet", "fund", &coldkey, "5"])?;
        sn27(&["register", "--yes"])?;
        for i in 0..callers {
            let caller = client_key(i).public().to_ss58();
            sn27(&["devnet", "register", &caller, "--stake", "2000"])?;
        }
        let log = std::fs::File::create(dir.path().join("miner.log")).map_err(|e| e.to_string())?;
        let child = sn27_command("taskset")
            .args(["-c", "0", env!("CARGO_BIN_EXE_sn27"), "--config"])
            .arg(&config)
            .arg("run")
            .stdout(log.try_clone().map_err(|e| e.to_string())?)
            .stderr(log)
            .spawn()
            .map_err(|e| format!("taskset: {e}"))?;
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let mut miner = MinerProcess {
            child,
            addr,
            hotkey,
            dir,
        };
        let started = Instant::now();
        while std::net::TcpStream::connect(addr).is_err() {
            if let Ok(Some(status)) = miner.child.try_wait() {
                let log = std::fs::read_to_string(miner.dir.path().join("miner.log"));
                return Err(format!(
                    "the miner exited ({status}): {}",
                    log.unwrap_or_default()
                ));
            }
            if started.elapsed() > Duration::from_secs(120) {
                miner.stop();
                return Err("the miner did not serve within 120 s".into());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok(miner)
    }

    /// SIGTERM, as systemd stops it, then the log checked for what went wrong under load.
    fn stop(&mut self) {
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        let _ = self.child.wait();
        let log = std::fs::read_to_string(self.dir.path().join("miner.log")).unwrap_or_default();
        let lines = log.lines().count();
        let problems: Vec<&str> = log
            .lines()
            .filter(|l| l.contains(" WARN ") || l.contains(" ERROR "))
            .take(5)
            .collect();
        println!(
            "sn27 run miner process: {lines} log lines in all{}",
            if problems.is_empty() {
                String::new()
            } else {
                format!(", among them:\n  {}", problems.join("\n  "))
            }
        );
    }
}
