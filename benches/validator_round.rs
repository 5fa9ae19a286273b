//! A validator's Proof-of-GPU round against 256 fake miners on loopback: the validator's
//! resident memory, its CPU time and the round's wall time, with the miners' own compute
//! taken out of the picture.
//!
//! The validator side is the production code path: [`sn27::validator::round::run_round`]
//! with a [`RoundContext`] built as `sn27 run` builds it (default `[validator.pog]` settings,
//! concurrency 64, the worker's CPU test mode, no retries). Per miner that is an availability
//! check, a fresh RSA-2048 key, the allocation through the dendrite, the sealed credentials
//! opened, an SSH login with the host key pinned, the worker's nine steps (upload, hash
//! check, `gpu_info`, `benchmark`, seeds, `compute`, challenges, `proof`, `cat` of the
//! responses), the verification, the release, and the state file saved.
//!
//! The miners are fakes, all in one process: each is a real [`Axon`] (signatures checked)
//! whose `Allocate` answers like an idle sn27 miner, with credentials sealed to the caller's
//! key and pointing at its own SSH server (russh, password login, an Ed25519 host key whose
//! fingerprint travels in the credentials). That server plays the container: it keeps the
//! uploaded files in memory and answers the worker's command lines the way the worker would,
//! computing the honest answer at the CPU test size (n = 32) with the `pog` module instead of
//! running Python, so the validator's checks genuinely pass.
//!
//! Three processes: this one (it measures), the fakes (`SN27_BENCH_ROLE=fakes`, pinned to
//! CPU 1) and the validator (`SN27_BENCH_ROLE=validator`, pinned to CPU 0), so the memory and
//! CPU figures are the validator's alone. Finally the same number of RSA-2048 keys is
//! generated one after another on CPU 0, since key generation is known to dominate the
//! validator's CPU.
//!
//! Run: `cargo bench --bench validator_round`. Knobs: `SN27_BENCH_MINERS` (default 256),
//! `SN27_BENCH_CONCURRENCY` (default: the configuration's, 64), `SN27_BENCH_KEYS` (keys timed
//! separately; default: one per miner).

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rand::Rng;
use russh::keys::ssh_key::private::Ed25519Keypair;
use russh::keys::{HashAlg, PrivateKey};
use russh::server::{Auth, Msg, Server as _, Session};
use russh::{Channel, ChannelId};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use sn27::axon::{Axon, Caller, Limits, OpenAccess};
use sn27::config::{GpuModel, PogConfig, ScoringConfig};
use sn27::dendrite::Dendrite;
use sn27::keys::{Keypair, PublicKey};
use sn27::pog::merkle::MerkleTree;
use sn27::pog::prng::{matrix, Conversion};
use sn27::protocol::credentials::{CallerKey, Credentials, RentalKey};
use sn27::protocol::{Allocate, AllocateOutput, AllocateRequest, Synapse};
use sn27::service::metrics::Metrics;
use sn27::service::Shutdown;
use sn27::validator::proof_of_gpu::{PogSettings, CONTAINER_PYTHON, WORKER_PATH};
use sn27::validator::round::{run_round, RoundContext};
use sn27::validator::selection::Candidate;
use sn27::validator::state::{StateFile, ValidatorState};

mod support;
use support::{cpu_model, cpu_secs, cpus, env_or, load_average, pin_to_cpu, status_kib};

const ROLE: &str = "SN27_BENCH_ROLE";

/// The benchmark figures every fake reports: about what the worker's pure-Python CPU test
/// measures for its 128² fp16 and 64² fp32 products. The `CPU (test)` row added to the table
/// is derived from them, so identification picks it; the timing rule then allows
/// `time_tolerance_secs + T32` for the compute step, and the fake's reported multiplication
/// time (a 32³ product, microseconds) stays below `T32`.
const T16: f64 = 0.25;
const T32: f64 = 0.03;
const SIZE16: u64 = 128;
const SIZE32: u64 = 64;
const CPU_TEST_NAME: &str = "CPU (test)";
const CPU_TEST_VRAM_GB: f64 = 0.0001;

/// The largest matrix a fake agrees to compute: the CPU test asks for 32; a bound keeps a
/// broken request from exhausting the fakes' memory.
const FAKE_MAX_N: usize = 1024;
/// Stdin a fake accepts per command (the worker is about 30 KB).
const FAKE_MAX_STDIN: usize = 4 << 20;

fn main() {
    let role = std::env::var(ROLE);
    // `cargo test --all-targets` runs this binary without `--bench`: a load test has no place
    // in the test suite, so it only says how to run it.
    if role.is_err() && !std::env::args().any(|arg| arg == "--bench") {
        println!(
            "validator_round is a benchmark: run it with `cargo bench --bench validator_round`"
        );
        return;
    }
    match role.as_deref() {
        Ok("fakes") => fakes(),
        Ok("validator") => validator(),
        _ => measure(),
    }
}

/// The validator runs on CPU 0; the fakes (and this process) on CPU 1 when there is one.
fn fakes_cpu(machine_cpus: usize) -> usize {
    usize::from(machine_cpus > 1)
}

fn mb(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

// ---------------------------------------------------------------------------------------
// The measuring process
// ---------------------------------------------------------------------------------------

/// A child process started in one of the roles, talking JSON lines over its stdout.
struct RoleProcess {
    role: &'static str,
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
}

impl RoleProcess {
    fn start(role: &'static str) -> RoleProcess {
        let exe = std::env::current_exe().expect("the benchmark's own path");
        let mut child = Command::new(exe)
            .env(ROLE, role)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("starting a role process");
        let stdin = child.stdin.take();
        let stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
        RoleProcess {
            role,
            child,
            stdin,
            stdout,
        }
    }

    fn pid(&self) -> String {
        self.child.id().to_string()
    }

    fn send(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("stdin still open");
        writeln!(stdin, "{line}").expect("writing to a role process");
        stdin.flush().expect("writing to a role process");
    }

    fn read_line(&mut self) -> String {
        let mut line = String::new();
        let read = self
            .stdout
            .read_line(&mut line)
            .expect("reading a role process");
        assert!(read > 0, "the {} process ended early", self.role);
        line
    }

    /// Closes its stdin, which tells it to exit, and waits.
    fn finish(mut self) {
        drop(self.stdin.take());
        let status = self.child.wait().expect("waiting for a role process");
        assert!(
            status.success(),
            "the {} process failed: {status}",
            self.role
        );
    }
}

fn measure() {
    let miners: usize = env_or("SN27_BENCH_MINERS", 256);
    let keys: usize = env_or("SN27_BENCH_KEYS", miners);
    let machine_cpus = cpus();
    pin_to_cpu(fakes_cpu(machine_cpus));
    let load_before = load_average();

    let mut fakes = RoleProcess::start("fakes");
    let roster = fakes.read_line();
    let fakes_cpu_before = cpu_secs(&fakes.pid());

    let mut validator = RoleProcess::start("validator");
    validator.send(roster.trim());
    let ready: Value = serde_json::from_str(&validator.read_line()).expect("ready line");
    assert_eq!(ready["ready"], true, "{ready}");
    let baseline_rss = status_kib(&validator.pid(), "VmRSS:");
    let report: Value = serde_json::from_str(&validator.read_line()).expect("report line");
    let (pid, fakes_pid) = (validator.pid(), fakes.pid());
    let peak_rss = status_kib(&pid, "VmHWM:");
    let end_rss = status_kib(&pid, "VmRSS:");
    let process_cpu = cpu_secs(&pid);
    let fakes_cpu_secs = cpu_secs(&fakes_pid) - fakes_cpu_before;
    validator.finish();
    fakes.finish();

    // Key generation alone, on the validator's core, one key after another.
    pin_to_cpu(0);
    // CPU time, not wall time: the round's figure is CPU time, and the machine is shared.
    // Each key is timed on its own because the time varies widely from key to key (the prime
    // search): the spread says how far the round's own keys may stray from this sample.
    let started = Instant::now();
    let samples: Vec<f64> = (0..keys.max(2))
        .map(|_| {
            let before = cpu_secs("thread-self");
            std::hint::black_box(RentalKey::generate().expect("an RSA key"));
            cpu_secs("thread-self") - before
        })
        .collect();
    let keygen_wall = started.elapsed().as_secs_f64();
    let keygen_secs: f64 = samples.iter().sum();
    let per_key = keygen_secs / samples.len() as f64;
    let spread = (samples.iter().map(|s| (s - per_key).powi(2)).sum::<f64>()
        / (samples.len() - 1) as f64)
        .sqrt();

    let num = |key: &str| report[key].as_f64().unwrap_or(f64::NAN);
    let count = |key: &str| report[key].as_u64().unwrap_or(0);
    let (passed, tested) = (count("passed"), count("tested"));
    let (wall, round_cpu) = (num("wall_secs"), num("cpu_secs"));
    let async_cpu = num("async_cpu_secs");
    let keygen_share = per_key * miners as f64 / round_cpu;

    println!(
        "Machine: {} ({machine_cpus} cores available); validator pinned to CPU 0, fakes to CPU {}",
        cpu_model(),
        fakes_cpu(machine_cpus)
    );
    println!(
        "Load average before {load_before}, after {}.",
        load_average()
    );
    println!(
        "Round: {miners} miners, concurrency {}, {} passed of {} tested; state file holds {} passes.",
        count("concurrency"),
        passed,
        tested,
        count("saved_passes")
    );
    if let Some(failures) = report["failures"].as_object() {
        for (reason, n) in failures {
            println!("  failed: {n} × {reason}");
        }
    }
    if let Some(problems) = report["log_problems"].as_object() {
        for (line, n) in problems {
            println!("  logged: {n} × {line}");
        }
    }
    println!(
        "Validator process: {:.2} s CPU in all (start-up included); RSS {:.1} MB before the \
         round, {:.1} MB after. Fakes: {:.2} s CPU during the round.",
        process_cpu,
        mb(baseline_rss),
        mb(end_rss),
        fakes_cpu_secs
    );
    // The round's own keys are another sample of the same distribution: comparing its mean
    // with this one carries the uncertainty of both.
    let rest_uncertainty =
        2.0 * spread * (1.0 / miners.max(1) as f64 + 1.0 / samples.len() as f64).sqrt();
    println!(
        "RSA-2048 key generation: {} keys in {keygen_secs:.2} s CPU ({keygen_wall:.2} s wall), \
         {:.1} ms per key (standard deviation {:.1} ms): {:.0} % of the round's CPU at one key \
         per miner.",
        samples.len(),
        1e3 * per_key,
        1e3 * spread,
        100.0 * keygen_share
    );
    println!(
        "Async work on the runtime's {} worker thread(s): {async_cpu:.2} s; the blocking pool \
         (key generation, verification, state saves) and the rest: {:.2} s.",
        count("workers"),
        round_cpu - async_cpu
    );
    println!();
    println!(
        "| miners | passed | round wall time | validator CPU (÷ wall) | CPU per miner | RSA keygen \
         per key | async work per miner | peak RSS |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    let per_miner = |secs: f64| 1e3 * secs / miners.max(1) as f64;
    println!(
        "| {miners} | {passed} | {wall:.1} s | {round_cpu:.1} s ({:.0} %) | {:.1} ms | {:.1} ms | \
         {:.1} ms | {:.1} MB (target ≤ 100 MB) |",
        100.0 * round_cpu / wall,
        per_miner(round_cpu),
        1e3 * per_key,
        per_miner(async_cpu),
        mb(peak_rss),
    );
    println!();
    println!(
        "÷ wall: the share of the round the validator was on its CPU. Key generation is timed \
         key by key in this process on the validator's core; one key per miner would be \
         {:.1} ± {:.1} ms of the CPU per miner (two standard errors from the spread of key \
         times).",
        1e3 * per_key,
        1e3 * rest_uncertainty
    );
    assert_eq!(
        (passed, tested),
        (miners as u64, miners as u64),
        "every fake miner must pass, or the bookkeeping figures mean nothing"
    );
}

// ---------------------------------------------------------------------------------------
// The validator
// ---------------------------------------------------------------------------------------

/// One fake miner as the validator needs to know it (what a metagraph would say).
#[derive(serde::Serialize, serde::Deserialize)]
struct RosterEntry {
    uid: u16,
    hotkey: String,
    axon_port: u16,
}

/// The validator's settings as `sn27 run` derives them from a configuration with the
/// defaults, `cpu_test_mode = true`, `retry_limit = 0` and a `CPU (test)` row in the table.
fn round_context(keypair: Keypair, concurrency: Option<usize>) -> RoundContext {
    let pog = PogConfig {
        cpu_test_mode: true,
        retry_limit: 0,
        ..PogConfig::default()
    };
    let mut scoring = ScoringConfig::default();
    let flops = |side: u64, secs: f64| 2.0 * (side as f64).powi(3) / secs / 1e12;
    scoring.gpu.push(GpuModel {
        name: CPU_TEST_NAME.into(),
        fp16_tflops: flops(SIZE16, T16),
        fp32_tflops: flops(SIZE32, T32),
        vram_gb: CPU_TEST_VRAM_GB,
        score: 1.0,
        weight: 0.0,
    });
    let settings: PogSettings = PogSettings::from_config(&pog, &scoring);
    RoundContext {
        dendrite: Dendrite::new(keypair),
        settings,
        base_image: pog.base_image.clone(),
        check_availability: pog.check_availability,
        attempt_timeout: Duration::from_secs(pog.attempt_timeout_secs.max(1)),
        retry_limit: pog.retry_limit,
        retry_interval: Duration::from_secs(pog.retry_interval_secs),
        concurrency: concurrency.unwrap_or(pog.concurrency.max(1) as usize),
        keep: scoring.history.max(1) as usize,
        health_check: scoring.health_check,
        metrics: Metrics::new("validator", env!("CARGO_PKG_VERSION")),
    }
}

fn validator() {
    pin_to_cpu(0);
    let mut line = String::new();
    std::io::stdin()
        .read_line(&mut line)
        .expect("the roster on stdin");
    let roster: Vec<RosterEntry> = serde_json::from_str(&line).expect("the roster as JSON");
    let miners: Vec<Candidate> = roster
        .iter()
        .map(|m| Candidate {
            uid: m.uid,
            hotkey: PublicKey::from_ss58(&m.hotkey).expect("an ss58 hotkey"),
            axon: SocketAddr::from(([127, 0, 0, 1], m.axon_port)),
            version: 0,
        })
        .collect();
    let concurrency = std::env::var("SN27_BENCH_CONCURRENCY")
        .ok()
        .and_then(|v| v.parse().ok());
    let keypair = Keypair::from_secret_bytes(&[7u8; 32]).expect("a 32-byte seed is a key");
    let ctx = Arc::new(round_context(keypair, concurrency));
    let state_dir = tempfile::tempdir().expect("a temporary state directory");
    let file = StateFile::new(state_dir.path());
    // Logs as a service writes them (info level, one line per result), into a file that is
    // searched afterwards for warnings and errors.
    let log_path = state_dir.path().join("validator.log");
    let log = std::fs::File::create(&log_path).expect("a log file");
    tracing_subscriber::fmt()
        .with_writer(Mutex::new(log))
        .with_ansi(false)
        .with_max_level(tracing::Level::INFO)
        .init();
    let state = Arc::new(tokio::sync::Mutex::new(ValidatorState::default()));
    // The trigger must live as long as the round: a dropped trigger means shutdown.
    let (_trigger, shutdown) = Shutdown::new();
    // The scheduler `sn27 run` picks: current-thread when it may use one CPU, as here.
    let runtime = if cpus() == 1 {
        tokio::runtime::Builder::new_current_thread()
    } else {
        tokio::runtime::Builder::new_multi_thread()
    }
    .enable_all()
    .build()
    .expect("a runtime");
    let workers = worker_threads(&runtime);
    let workers_cpu = || workers.iter().map(|w| cpu_secs(w)).sum::<f64>();

    println!("{}", json!({"ready": true}));
    let workers_before = workers_cpu();
    let cpu_before = cpu_secs("self");
    let started = Instant::now();
    let (passed, tested) = runtime.block_on(run_round(
        ctx.clone(),
        miners,
        state.clone(),
        file.clone(),
        1,
        tokio::time::Instant::now() + Duration::from_secs(3600),
        shutdown,
    ));
    let wall = started.elapsed().as_secs_f64();
    let cpu = cpu_secs("self") - cpu_before;
    let async_cpu = workers_cpu() - workers_before;

    // What the round left on disk is the bookkeeping that matters after a restart.
    let saved = file.load().expect("the state file reads back");
    let saved_passes = saved
        .miners
        .values()
        .filter(|r| r.results.last().is_some_and(|t| t.spec.is_some()))
        .count();
    let mut failures: HashMap<String, u64> = HashMap::new();
    for record in runtime.block_on(state.lock()).miners.values() {
        if let Some(reason) = record.results.last().and_then(|t| t.failure.clone()) {
            *failures.entry(reason).or_default() += 1;
        }
    }
    let mut log_problems: HashMap<String, u64> = HashMap::new();
    for line in std::fs::read_to_string(&log_path)
        .unwrap_or_default()
        .lines()
    {
        if let Some(at) = line.find(" WARN ").or_else(|| line.find(" ERROR ")) {
            *log_problems
                .entry(line[at..].trim().to_string())
                .or_default() += 1;
        }
    }
    println!(
        "{}",
        json!({
            "log_problems": log_problems,
            "passed": passed,
            "tested": tested,
            "wall_secs": wall,
            "cpu_secs": cpu,
            "async_cpu_secs": async_cpu,
            "workers": workers.len(),
            "concurrency": ctx.concurrency,
            "saved_passes": saved_passes,
            "failures": failures,
        })
    );
    // Stay alive (and measurable) until the measuring process has read what it needs.
    let _ = std::io::stdin().read_to_end(&mut Vec::new());
    drop(runtime);
}

/// The `/proc` names (`self/task/<tid>`) of the runtime's worker threads. They run every
/// async task (dendrite calls, SSH, credentials, parsing), while key generation, verification
/// and state saves go to the blocking pool; their CPU time separates the two.
fn worker_threads(runtime: &tokio::runtime::Runtime) -> Vec<String> {
    let wanted = runtime.metrics().num_workers();
    let mut found = std::collections::BTreeSet::new();
    for _ in 0..1000 {
        if found.len() == wanted {
            break;
        }
        let task = runtime.spawn(async {
            // Busy a moment, so that another idle worker takes the next task.
            std::thread::sleep(Duration::from_millis(1));
            std::fs::read_link("/proc/thread-self").ok()
        });
        if let Ok(Some(link)) = runtime.block_on(task) {
            // The link reads `<pid>/task/<tid>`.
            if let Some(tid) = link.file_name().and_then(|t| t.to_str()) {
                found.insert(format!("self/task/{tid}"));
            }
        }
    }
    found.into_iter().collect()
}

// ---------------------------------------------------------------------------------------
// The fake miners
// ---------------------------------------------------------------------------------------

/// One computed GPU of a fake `compute` run: C and its tree, for the `proof` step.
struct Commitment {
    id: u32,
    n: usize,
    c: Vec<f32>,
    tree: MerkleTree,
}

/// What a fake miner's test container holds: the files written into it and the results of
/// its compute runs by directory. Emptied on release, as a removed container would be.
#[derive(Default)]
struct Container {
    files: HashMap<String, Vec<u8>>,
    computed: HashMap<String, Vec<Commitment>>,
    runs: u64,
}

struct FakeMiner {
    uid: u16,
    password: String,
    container: Mutex<Container>,
}

fn fakes() {
    let machine_cpus = cpus();
    pin_to_cpu(fakes_cpu(machine_cpus));
    let miners: usize = env_or("SN27_BENCH_MINERS", 256);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let roster: Vec<RosterEntry> = runtime.block_on(async {
        let mut roster = Vec::with_capacity(miners);
        for uid in 0..miners as u16 {
            roster.push(start_fake(uid).await);
        }
        roster
    });
    println!(
        "{}",
        serde_json::to_string(&roster).expect("the roster as JSON")
    );
    // Serve until the measuring process closes stdin.
    let _ = std::io::stdin().read_to_end(&mut Vec::new());
    drop(runtime);
}

/// Starts one fake miner's axon and SSH server on loopback.
async fn start_fake(uid: u16) -> RosterEntry {
    let mut seed = [0u8; 32];
    seed[0] = 2;
    seed[1..3].copy_from_slice(&uid.to_le_bytes());
    let hotkey = Keypair::from_secret_bytes(&seed).expect("a 32-byte seed is a key");
    let host_key = PrivateKey::from(Ed25519Keypair::from_seed(&rand::random::<[u8; 32]>()));
    let fingerprint = host_key
        .public_key()
        .fingerprint(HashAlg::Sha256)
        .to_string();
    let password: String = rand::thread_rng()
        .sample_iter(rand::distributions::Alphanumeric)
        .take(24)
        .map(char::from)
        .collect();
    let miner = Arc::new(FakeMiner {
        uid,
        password: password.clone(),
        container: Mutex::new(Container::default()),
    });

    let ssh_listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("an SSH port");
    let ssh_port = ssh_listener.local_addr().expect("bound").port();
    let config = Arc::new(russh::server::Config {
        keys: vec![host_key],
        nodelay: true,
        ..russh::server::Config::default()
    });
    let mut server = FakeSshServer {
        miner: miner.clone(),
    };
    tokio::spawn(async move {
        let _ = server.run_on_socket(config, &ssh_listener).await;
    });

    let credentials = Credentials {
        username: "root".into(),
        password,
        port: ssh_port,
        external_user_ports: Default::default(),
        version: 183,
        host_key_fingerprint: Some(fingerprint),
    };
    let axon_listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("an axon port");
    let axon_port = axon_listener.local_addr().expect("bound").port();
    let axon = Axon::new(hotkey.public(), Arc::new(OpenAccess), Limits::default()).attach(
        move |mut synapse: Synapse<Allocate>, _caller: Caller| {
            let (miner, credentials) = (miner.clone(), credentials.clone());
            async move {
                synapse.fields.output =
                    answer_allocation(&miner, &synapse.fields, &credentials).to_json();
                synapse
            }
        },
    );
    tokio::spawn(async move {
        let _ = Arc::new(axon)
            .serve(axon_listener, std::future::pending::<()>())
            .await;
    });
    RosterEntry {
        uid,
        hotkey: hotkey.ss58(),
        axon_port,
    }
}

/// An idle miner's answers: free, an allocation sealed to the caller's key, releases done.
fn answer_allocation(
    miner: &FakeMiner,
    fields: &Allocate,
    credentials: &Credentials,
) -> AllocateOutput {
    let mut output = match AllocateRequest::parse(fields) {
        Ok(AllocateRequest::CheckAvailability { .. }) => AllocateOutput::status(true),
        Ok(AllocateRequest::Allocate { public_key, .. }) => {
            let sealed = CallerKey::from_pem(&public_key).and_then(|key| key.seal(credentials));
            match sealed {
                Ok(info) => AllocateOutput {
                    info: Some(info),
                    ..AllocateOutput::status(true)
                },
                Err(_) => AllocateOutput::status(false),
            }
        }
        Ok(AllocateRequest::Release { .. }) => {
            *miner.container.lock().expect("container lock") = Container::default();
            AllocateOutput::status(true)
        }
        _ => AllocateOutput::status(false),
    };
    output.port = Some(credentials.port);
    output
}

#[derive(Clone)]
struct FakeSshServer {
    miner: Arc<FakeMiner>,
}

impl russh::server::Server for FakeSshServer {
    type Handler = FakeSshConnection;

    fn new_client(&mut self, _peer: Option<SocketAddr>) -> FakeSshConnection {
        FakeSshConnection {
            miner: self.miner.clone(),
            commands: HashMap::new(),
        }
    }
}

/// A command line and the stdin received for it so far.
#[derive(Default)]
struct PendingCommand {
    command: Option<String>,
    stdin: Vec<u8>,
}

struct FakeSshConnection {
    miner: Arc<FakeMiner>,
    commands: HashMap<ChannelId, PendingCommand>,
}

impl russh::server::Handler for FakeSshConnection {
    type Error = russh::Error;

    async fn auth_password(&mut self, user: &str, password: &str) -> Result<Auth, Self::Error> {
        if user == "root" && password == self.miner.password {
            Ok(Auth::Accept)
        } else {
            Ok(Auth::reject())
        }
    }

    async fn channel_open_session(
        &mut self,
        channel: Channel<Msg>,
        reply: russh::server::ChannelOpenHandle,
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        // Everything arrives through the handler's callbacks; the channel object itself is
        // dropped, so russh does not queue the same messages for a reader that never comes.
        self.commands
            .insert(channel.id(), PendingCommand::default());
        reply.accept().await;
        Ok(())
    }

    async fn exec_request(
        &mut self,
        channel: ChannelId,
        data: &[u8],
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        let pending = self.commands.entry(channel).or_default();
        pending.command = Some(String::from_utf8_lossy(data).into_owned());
        session.channel_success(channel)?;
        Ok(())
    }

    async fn data(
        &mut self,
        channel: ChannelId,
        data: &[u8],
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        let pending = self.commands.entry(channel).or_default();
        if pending.stdin.len() + data.len() > FAKE_MAX_STDIN {
            return Err(russh::Error::Disconnect);
        }
        pending.stdin.extend_from_slice(data);
        Ok(())
    }

    /// The validator sends EOF right after a command's stdin (or at once): the command runs
    /// then, and the channel ends as sshd ends it, with an exit status, EOF and close.
    async fn channel_eof(
        &mut self,
        channel: ChannelId,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        let Some(pending) = self.commands.remove(&channel) else {
            return Ok(());
        };
        let command = pending.command.unwrap_or_default();
        let out = run_command(&self.miner, &command, pending.stdin);
        if !out.stdout.is_empty() {
            session.data(channel, out.stdout)?;
        }
        if !out.stderr.is_empty() {
            session.extended_data(channel, 1, out.stderr)?;
        }
        session.exit_status_request(channel, out.status)?;
        session.eof(channel)?;
        session.close(channel)?;
        Ok(())
    }
}

struct CommandResult {
    status: u32,
    stdout: Vec<u8>,
    stderr: Vec<u8>,
}

impl CommandResult {
    fn ok(stdout: impl Into<Vec<u8>>) -> CommandResult {
        CommandResult {
            status: 0,
            stdout: stdout.into(),
            stderr: Vec::new(),
        }
    }

    fn shell_error(status: u32, message: String) -> CommandResult {
        CommandResult {
            status,
            stdout: Vec::new(),
            stderr: format!("sh: {message}\n").into_bytes(),
        }
    }

    /// The worker's failure: exit status 1 and one JSON line on stdout.
    fn worker_error(message: &str) -> CommandResult {
        CommandResult {
            status: 1,
            stdout: format!("{}\n", json!({"protocol": 1, "error": message})).into_bytes(),
            stderr: Vec::new(),
        }
    }
}

/// The container's shell, for exactly the command lines `validator::proof_of_gpu` sends.
fn run_command(miner: &FakeMiner, command: &str, stdin: Vec<u8>) -> CommandResult {
    let mut container = miner.container.lock().expect("container lock");
    if let Some(path) = command.strip_prefix("umask 077; cat > ") {
        container.files.insert(path.to_string(), stdin);
        return CommandResult::ok(Vec::new());
    }
    if let Some(path) = command.strip_prefix("cat ") {
        return match container.files.get(path) {
            Some(contents) => CommandResult::ok(contents.clone()),
            None => {
                CommandResult::shell_error(1, format!("cat: {path}: No such file or directory"))
            }
        };
    }
    let argv: Vec<&str> = command.split_whitespace().collect();
    if argv.first() != Some(&CONTAINER_PYTHON) {
        return CommandResult::shell_error(127, format!("{command}: not found"));
    }
    if argv.get(1) == Some(&"-c") {
        // The upload check: print the sha256 of the file the one-liner opens.
        let path = command
            .split_once("open('")
            .and_then(|(_, rest)| rest.split_once('\''))
            .map(|(path, _)| path);
        return match path.and_then(|p| container.files.get(p)) {
            Some(contents) => {
                CommandResult::ok(format!("{}\n", hex::encode(Sha256::digest(contents))))
            }
            None => CommandResult::shell_error(1, "python: no such file".into()),
        };
    }
    if argv.get(1) != Some(&WORKER_PATH) {
        return CommandResult::shell_error(2, format!("python: can't open {:?}", argv.get(1)));
    }
    // The fake plays our worker, so the worker must be the one uploaded.
    let uploaded = container
        .files
        .get(WORKER_PATH)
        .map(|w| hex::encode(Sha256::digest(w)));
    if uploaded != Some(sn27::pog::worker_sha256()) {
        return CommandResult::shell_error(2, "python: the worker is not ours".into());
    }
    let arg = |name: &str| {
        argv.iter()
            .position(|a| *a == name)
            .and_then(|k| argv.get(k + 1))
            .map(|s| s.to_string())
    };
    let result = match arg("--mode").as_deref() {
        Some("gpu_info") => Ok(json!({
            "protocol": 1, "mode": "gpu_info", "num_gpus": 1, "gpu_names": [CPU_TEST_NAME],
        })),
        Some("benchmark") => Ok(json!({
            "protocol": 1, "mode": "benchmark", "num_gpus": 1, "vram_gb": CPU_TEST_VRAM_GB,
            "size16": SIZE16, "t16": T16, "size32": SIZE32, "t32": T32,
        })),
        Some("compute") => fake_compute(miner.uid, &mut container, arg("--seeds")),
        Some("proof") => fake_proof(&mut container, arg("--dir"), arg("--challenges")),
        _ => Err("bad arguments: --mode".to_string()),
    };
    match result {
        Ok(line) => CommandResult::ok(format!("{line}\n")),
        Err(message) => CommandResult::worker_error(&message),
    }
}

fn json_file(container: &Container, path: Option<String>, what: &str) -> Result<Value, String> {
    let path = path.ok_or(format!("no {what} file given"))?;
    let bytes = container
        .files
        .get(&path)
        .ok_or(format!("{path}: no such file"))?;
    serde_json::from_slice(bytes).map_err(|e| format!("{what}: {e}"))
}

/// `--mode compute`: C = A·B for the seeds sent (f32 elements, f64 sums rounded to f32, as
/// the worker's pure-Python path computes), and its Merkle tree.
fn fake_compute(
    uid: u16,
    container: &mut Container,
    seeds: Option<String>,
) -> Result<Value, String> {
    let doc = json_file(container, seeds, "seeds")?;
    let n = doc["n"]
        .as_u64()
        .filter(|n| (1..=FAKE_MAX_N as u64).contains(n))
        .ok_or("n out of range")? as usize;
    let entries = doc["seeds"].as_array().ok_or("seeds is not a list")?;
    let mut commitments = Vec::new();
    let mut gpus = Vec::new();
    for entry in entries {
        let field = |k: usize| entry.get(k).and_then(Value::as_u64);
        let (Some(id), Some(seed_a), Some(seed_b)) = (field(0), field(1), field(2)) else {
            return Err("a seed entry is not [id, seed_a, seed_b]".into());
        };
        if id != 0 {
            return Err(format!("GPU {id} does not exist"));
        }
        let started = Instant::now();
        let a = matrix(seed_a, n, Conversion::Miner);
        let b = matrix(seed_b, n, Conversion::Miner);
        let generated = Instant::now();
        let mut c = vec![0.0f32; n * n];
        for i in 0..n {
            for j in 0..n {
                let sum: f64 = (0..n)
                    .map(|k| f64::from(a[i * n + k]) * f64::from(b[k * n + j]))
                    .sum();
                c[i * n + j] = sum as f32;
            }
        }
        let multiplied = Instant::now();
        let tree = MerkleTree::build(&c, n).map_err(|e| e.to_string())?;
        let hashed = Instant::now();
        gpus.push(json!({
            "id": id, "n": n, "root": hex::encode(tree.root()),
            "timings": {
                "generation": (generated - started).as_secs_f64(),
                "multiplication": (multiplied - generated).as_secs_f64(),
                "transfer": 0.0,
                "merkle": (hashed - multiplied).as_secs_f64(),
            },
        }));
        commitments.push(Commitment {
            id: id as u32,
            n,
            c,
            tree,
        });
    }
    container.runs += 1;
    let dir = format!("/dev/shm/sn27-pog-fake{uid}-{}", container.runs);
    container.computed.insert(dir.clone(), commitments);
    Ok(json!({"protocol": 1, "mode": "compute", "dir": dir, "gpus": gpus}))
}

/// `--mode proof`: the challenged rows (little-endian f32 hex) with their proofs, written to
/// `DIR/responses.json`.
fn fake_proof(
    container: &mut Container,
    dir: Option<String>,
    challenges: Option<String>,
) -> Result<Value, String> {
    let doc = json_file(container, challenges, "challenges")?;
    let dir = dir.ok_or("proof mode needs --dir")?;
    let commitments = container
        .computed
        .get(&dir)
        .ok_or(format!("{dir} holds no results"))?;
    let mut responses = Vec::new();
    let mut n_all = 0;
    for challenge in doc["challenges"]
        .as_array()
        .ok_or("challenges is not a list")?
    {
        let field = |k: usize| challenge.get(k).and_then(Value::as_u64);
        let (Some(id), Some(i), Some(j)) = (field(0), field(1), field(2)) else {
            return Err("a challenge is not [id, i, j]".into());
        };
        let gpu = commitments
            .iter()
            .find(|g| u64::from(g.id) == id)
            .ok_or(format!("GPU {id} was not computed"))?;
        let (n, i) = (gpu.n, i as usize);
        if i >= n || j as usize >= n {
            return Err(format!("challenge ({id}, {i}, {j}) is outside n = {n}"));
        }
        n_all = n;
        let row: Vec<u8> = gpu.c[i * n..(i + 1) * n]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        let proof: Vec<String> = gpu
            .tree
            .proof(i)
            .map_err(|e| e.to_string())?
            .iter()
            .map(hex::encode)
            .collect();
        responses.push(json!({"id": id, "i": i, "j": j, "row": hex::encode(row), "proof": proof}));
    }
    let body = json!({"protocol": 1, "mode": "proof", "n": n_all, "responses": responses})
        .to_string()
        .into_bytes();
    let file = format!("{dir}/responses.json");
    let bytes = body.len();
    container.files.insert(file.clone(), body);
    Ok(json!({"protocol": 1, "mode": "proof", "file": file, "bytes": bytes}))
}
