//! The miner's allocation engine against a real Docker engine: `sn27 run` as a process on the
//! embedded devnet, rented by our own validator commands and by the reference validator's
//! sequence in Python (bittensor 10.5, cryptography, paramiko), with SSH logins checked from
//! inside the container, owner-only actions, crash recovery and bad input.
//!
//! Needs dockerd and the `sn27-test-base:bookworm-py` image (`tests/setup-docker.sh`, which
//! `tests/run.sh` runs). The tests share one engine and take turns.

use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::support::{
    free_port, free_ports, python_peer, sn27, sn27_command, sn27_ok as ok, stderr, stdout,
};
use serde_json::{json, Map, Value};
use sn27::dendrite::{Dendrite, Target};
use sn27::keys::Keypair;
use sn27::protocol::credentials::RentalKey;
use sn27::protocol::Allocate;
use sn27::wallet::{KeyRole, PasswordSource, Wallet};

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn base_image() -> String {
    std::env::var("SN27_TEST_BASE_IMAGE").unwrap_or_else(|_| "sn27-test-base:bookworm-py".into())
}

/// A devnet with a registered miner and a staked validator, and the miner's process.
struct Setup {
    dir: tempfile::TempDir,
    miner_config: String,
    validator_config: String,
    axon: SocketAddr,
    ssh_port: u16,
    user_ports: Vec<u16>,
    /// `[metrics] listen` of the miner, on loopback.
    metrics_port: u16,
    miner_hotkey: String,
    miner: Option<Child>,
}

impl Setup {
    fn new(test_lifetime_secs: u64) -> Setup {
        Setup::with_profile(test_lifetime_secs, None)
    }

    /// `profile`: `[miner] profile`, its default user ports kept; `None`: the default profile
    /// with four free host ports as user ports.
    fn with_profile(test_lifetime_secs: u64, profile: Option<&str>) -> Setup {
        let docker = Command::new("docker")
            .args(["image", "inspect", &base_image()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        assert!(
            matches!(docker, Ok(s) if s.success()),
            "no Docker engine with {}: run tests/setup-docker.sh (tests/run.sh does)",
            base_image()
        );
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let axon_port = free_port();
        let ssh_port = free_ports(1)[0];
        let metrics_port = free_port();
        let user_ports = if profile.is_some() {
            Vec::new()
        } else {
            free_ports(4)
        };
        let miner_keys = match profile {
            Some(profile) => format!("profile = \"{profile}\"\n"),
            None => format!("user_ports = {user_ports:?}\n"),
        };
        let devnet = root.join("devnet.sqlite");
        let common = |role: &str, name: &str| {
            format!(
                "role = \"{role}\"\nstate_dir = \"{state}\"\n[chain]\nnetwork = \"devnet\"\n\
                 devnet_path = \"{devnet}\"\n[wallet]\nname = \"{name}\"\npath = \"{wallets}\"\n",
                state = root.join(format!("{role}-state")).display(),
                devnet = devnet.display(),
                wallets = root.join("wallets").display(),
            )
        };
        let miner_config = root.join("miner.toml");
        std::fs::write(
            &miner_config,
            format!(
                "{}[axon]\nport = {axon_port}\nexternal_ip = \"127.0.0.1\"\n[miner]\n\
                 ssh_port = {ssh_port}\n{miner_keys}min_validator_stake = 1000.0\n\
                 [miner.container]\nbase_image = \"{}\"\nreserve_cpus = 1\n\
                 reserve_memory_gb = 0.25\ntest_lifetime_secs = {test_lifetime_secs}\n\
                 [metrics]\nlisten = \"127.0.0.1:{metrics_port}\"\n[log]\nfilter = \"info\"\n",
                common("miner", "miner"),
                base_image()
            ),
        )
        .unwrap();
        let validator_config = root.join("validator.toml");
        std::fs::write(&validator_config, common("validator", "validator")).unwrap();
        let mut setup = Setup {
            miner_config: miner_config.to_string_lossy().into_owned(),
            validator_config: validator_config.to_string_lossy().into_owned(),
            axon: SocketAddr::from(([127, 0, 0, 1], axon_port)),
            ssh_port,
            user_ports,
            metrics_port,
            miner_hotkey: String::new(),
            miner: None,
            dir,
        };
        setup.miner_cli(&["devnet", "init", "--block-time", "0.2"]);
        for config in [&setup.miner_config, &setup.validator_config] {
            ok(&[
                "--config",
                config,
                "wallet",
                "create",
                "--no-password",
                "--no-print-mnemonic",
            ]);
        }
        let miner: Value =
            serde_json::from_str(&setup.miner_cli(&["wallet", "show", "--json"])).unwrap();
        setup.miner_hotkey = miner["hotkey"].as_str().unwrap().to_string();
        setup.miner_cli(&["devnet", "fund", miner["coldkey"].as_str().unwrap(), "5"]);
        setup.miner_cli(&["register", "--yes"]);
        let validator = setup.validator_keypair().ss58();
        setup.miner_cli(&["devnet", "register", &validator, "--stake", "2000"]);
        setup
    }

    fn root(&self) -> &Path {
        self.dir.path()
    }

    /// The miner's `/metrics` page once it shows `line`: the gauges keep their last values
    /// while the engine is busy, so a scrape may need another try.
    fn metrics_showing(&self, line: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let page = self.metrics();
            if page.contains(line) || Instant::now() > deadline {
                return page;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// The miner's `/metrics` page.
    fn metrics(&self) -> String {
        use std::io::{Read, Write};
        let mut stream = TcpStream::connect(("127.0.0.1", self.metrics_port)).unwrap();
        stream
            .write_all(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            .unwrap();
        let mut page = String::new();
        stream.read_to_string(&mut page).unwrap();
        page
    }

    fn miner_cli(&self, args: &[&str]) -> String {
        let mut all = vec!["--config", self.miner_config.as_str()];
        all.extend_from_slice(args);
        ok(&all)
    }

    fn validator_cli(&self, args: &[&str]) -> std::process::Output {
        let mut all = vec!["--config", self.validator_config.as_str()];
        all.extend_from_slice(args);
        sn27(&all, &[])
    }

    fn validator_keypair(&self) -> Keypair {
        Wallet::new(self.root().join("wallets"), "validator", "default")
            .unwrap()
            .keypair(KeyRole::Hotkey, &PasswordSource::new(None, None))
            .unwrap()
    }

    fn log_path(&self) -> PathBuf {
        self.root().join("miner.log")
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    /// Runs a reference validator's sequence (`tests/python/<script>`) against this miner
    /// as the `validator` wallet; its report, which must say `ok`.
    fn reference_validator(&self, script: &str) -> Value {
        let result = python_peer(
            script,
            &[
                self.root().join("wallets").to_str().unwrap(),
                "validator",
                "127.0.0.1",
                &self.axon.port().to_string(),
                &self.miner_hotkey,
            ],
        );
        assert_eq!(result["ok"], true, "{result}\n{}", self.log());
        result
    }

    /// Starts `sn27 run` (aborting at `crash_at`, if given) and waits until the axon accepts
    /// connections, or until the process exits (returned as `false`).
    fn start_miner(&mut self, crash_at: Option<&str>) -> bool {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .unwrap();
        let mut command = sn27_command(env!("CARGO_BIN_EXE_sn27"));
        command
            .args([
                "--config",
                &self.miner_config,
                "--log-format",
                "text",
                "run",
            ])
            .stdout(log.try_clone().unwrap())
            .stderr(log);
        if let Some(stage) = crash_at {
            command.args(["--crash-at", stage]);
        }
        let mut child = command.spawn().unwrap();
        let deadline = Instant::now() + Duration::from_secs(600);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                child.wait().ok();
                return false;
            }
            if TcpStream::connect_timeout(&self.axon, Duration::from_millis(200)).is_ok() {
                self.miner = Some(child);
                return true;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        child.kill().ok();
        child.wait().ok();
        panic!("the miner did not start serving:\n{}", self.log());
    }

    /// Waits for a miner started with a crash point to abort; returns its exit status.
    fn wait_for_crash(&mut self) -> std::process::ExitStatus {
        let mut child = self.miner.take().expect("a running miner");
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if let Some(status) = child.try_wait().unwrap() {
                return status;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        child.kill().ok();
        child.wait().ok();
        panic!("the miner did not abort:\n{}", self.log());
    }

    fn kill_miner(&mut self) {
        if let Some(mut child) = self.miner.take() {
            child.kill().ok(); // SIGKILL
            child.wait().ok();
        }
    }

    /// Stops the miner with SIGTERM and returns whether it exited cleanly.
    fn stop_miner(&mut self) -> bool {
        let Some(mut child) = self.miner.take() else {
            return true;
        };
        let pid = nix::unistd::Pid::from_raw(child.id() as i32);
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Some(status) = child.try_wait().unwrap() {
                return status.success();
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        child.kill().ok();
        child.wait().ok();
        false
    }

    fn target(&self) -> Target {
        Target {
            addr: self.axon,
            hotkey: self.miner_hotkey.clone(),
        }
    }

    /// This miner's containers, as Docker lists them.
    fn containers(&self) -> Vec<String> {
        let out = Command::new("docker")
            .args([
                "ps",
                "-a",
                "--filter",
                &format!("label=sn27.miner={}", self.miner_hotkey),
                "--format",
                "{{.Names}} {{.State}}",
            ])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_string)
            .collect()
    }

    fn journal(&self) -> Vec<Value> {
        let dir = self.root().join("miner-state/miner/allocations");
        let Ok(listing) = std::fs::read_dir(dir) else {
            return Vec::new();
        };
        listing
            .flatten()
            .map(|e| serde_json::from_slice(&std::fs::read(e.path()).unwrap()).unwrap())
            .collect()
    }
}

impl Drop for Setup {
    /// Leaves nothing on the shared engine, also when the test failed: the miner is killed,
    /// then its containers are removed until none has appeared for a while (a container the
    /// engine was still creating when the miner died shows up after the first listing).
    fn drop(&mut self) {
        self.kill_miner();
        if self.miner_hotkey.is_empty() {
            return;
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut quiet = 0;
        while quiet < 3 && Instant::now() < deadline {
            let containers = self.containers();
            if containers.is_empty() {
                quiet += 1;
            } else {
                quiet = 0;
                for line in containers {
                    let name = line.split(' ').next().unwrap_or_default().to_string();
                    Command::new("docker")
                        .args(["rm", "-f", &name])
                        .output()
                        .ok();
                }
            }
            std::thread::sleep(Duration::from_millis(300));
        }
    }
}

fn object(value: Value) -> Map<String, Value> {
    value.as_object().unwrap().clone()
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// Sends one Allocate from `key` and returns `output`.
fn allocate(
    runtime: &tokio::runtime::Runtime,
    setup: &Setup,
    key: &Keypair,
    fields: Allocate,
) -> Map<String, Value> {
    let dendrite = Dendrite::new(key.clone());
    let reply = runtime.block_on(dendrite.call(&setup.target(), fields, Duration::from_secs(90)));
    assert!(
        reply.is_success(),
        "{} {}",
        reply.status_code,
        reply.status_message
    );
    reply.synapse.fields.output
}

fn rental_request(key: &RentalKey, ssh_key: &str) -> Allocate {
    Allocate {
        timeline: 1,
        checking: false,
        public_key: key.public_pem(),
        device_requirement: object(json!({"cpu": {"count": 1}, "gpu": {},
            "hard_disk": {"capacity": 1u64 << 30}, "ram": {"capacity": 512u64 << 20}})),
        docker_requirement: object(json!({"base_image": "ubuntu", "ssh_key": ssh_key,
            "ssh_port": 4444, "volume_path": "/tmp", "dockerfile": "rm -rf / --no-preserve-root"})),
        ..Allocate::default()
    }
}

/// Logs in with paramiko (password, or key file) and runs `command`.
fn ssh(port: u16, password: &str, key_file: Option<&Path>, command: &str) -> Value {
    let key = key_file.map(|p| p.to_string_lossy().into_owned());
    python_peer(
        "ssh_peer.py",
        &[
            "127.0.0.1",
            &port.to_string(),
            "root",
            password,
            key.as_deref().unwrap_or("-"),
            command,
        ],
    )
}

/// An ed25519 key pair for SSH: (private key file, public key line).
fn ssh_keypair(dir: &Path, name: &str) -> (PathBuf, String) {
    let path = dir.join(name);
    let status = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&path)
        .status()
        .expect("ssh-keygen runs");
    assert!(status.success());
    let public = std::fs::read_to_string(path.with_extension("pub")).unwrap();
    (path, public.trim().to_string())
}

fn output_of(cmd: &Value) -> String {
    assert_eq!(cmd["exit"], 0, "{cmd}");
    assert_eq!(cmd["stderr"], "", "nothing on stderr: {cmd}");
    cmd["stdout"].as_str().unwrap().trim().to_string()
}

#[test]
fn our_validator_rents_logs_in_with_password_and_key_and_releases() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let mut setup = Setup::new(900);
    assert!(setup.start_miner(None), "{}", setup.log());
    let (key_file, public) = ssh_keypair(setup.root(), "renter");
    std::fs::write(setup.root().join("renter.pub"), &public).unwrap();
    let key_path = setup.root().join("renter.pub");

    let out = setup.validator_cli(&[
        "rent",
        "--hotkey",
        &setup.miner_hotkey,
        "--cpus",
        "1",
        "--ram",
        "0.5",
        "--days",
        "2",
        "--ssh-key",
        key_path.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}{}\n{}",
        stdout(&out),
        stderr(&out),
        setup.log()
    );
    let printed = stdout(&out);
    let password = printed
        .lines()
        .find_map(|l| l.strip_prefix("password        "))
        .unwrap()
        .to_string();
    assert!(
        printed.contains(&format!("ssh -p {} root@127.0.0.1", setup.ssh_port)),
        "{printed}"
    );
    let fingerprint = printed
        .lines()
        .find_map(|l| l.strip_prefix("host key        "))
        .unwrap()
        .to_string();
    // The renter is told where its own services (container ports 27015-27018) are reachable.
    let ports = printed
        .lines()
        .find_map(|l| l.strip_prefix("your ports      "))
        .unwrap_or_else(|| panic!("{printed}"));
    assert!(
        ports.starts_with(&format!("27015 -> 127.0.0.1:{}", setup.user_ports[0])),
        "{ports}"
    );

    // The rental file keeps the key and credentials, private.
    let file = setup.root().join(format!(
        "validator-state/rentals/{}.json",
        setup.miner_hotkey
    ));
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let listed = stdout(&setup.validator_cli(&["rentals"]));
    assert!(listed.contains(&setup.miner_hotkey), "{listed}");
    // The metrics count the rental when scraped.
    let page = setup.metrics_showing("sn27_allocations{kind=\"rental\"} 1");
    assert!(
        page.contains("sn27_allocations{kind=\"rental\"} 1"),
        "{page}"
    );
    assert!(page.contains("sn27_allocations{kind=\"test\"} 0"), "{page}");

    // Password login; the limits inside are the requested ones; the host key is the one sent.
    let by_password = ssh(
        setup.ssh_port,
        &password,
        None,
        "nproc; cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max; \
         cat /sys/fs/cgroup/pids/pids.max 2>/dev/null || cat /sys/fs/cgroup/pids.max; \
         df -B1 --output=size /dev/shm | tail -1",
    );
    let limits = output_of(&by_password);
    let mut lines = limits.lines().map(str::trim);
    assert_eq!(lines.next(), Some("1"), "one CPU: {limits}");
    assert_eq!(
        lines.next(),
        Some((512u64 << 20).to_string().as_str()),
        "512 MiB: {limits}"
    );
    assert_eq!(lines.next(), Some("4096"), "pids limit: {limits}");
    assert_eq!(
        lines.next(),
        Some((256u64 << 20).to_string().as_str()),
        "/dev/shm is half the memory: {limits}"
    );
    assert_eq!(by_password["host_key"], fingerprint.as_str());
    // Key login.
    let by_key = ssh(setup.ssh_port, "-", Some(&key_file), "whoami");
    assert_eq!(output_of(&by_key), "root");

    // Pause and resume keep the rental; a new key replaces the first line.
    ok(&[
        "--config",
        &setup.validator_config,
        "rental",
        "pause",
        &setup.miner_hotkey,
    ]);
    assert!(
        setup.containers().iter().any(|c| c.ends_with("paused")),
        "{:?}",
        setup.containers()
    );
    ok(&[
        "--config",
        &setup.validator_config,
        "rental",
        "resume",
        &setup.miner_hotkey,
    ]);
    let (second_file, second_public) = ssh_keypair(setup.root(), "second");
    std::fs::write(setup.root().join("second.pub"), &second_public).unwrap();
    ok(&[
        "--config",
        &setup.validator_config,
        "rental",
        "set-key",
        &setup.miner_hotkey,
        "--key",
        setup.root().join("second.pub").to_str().unwrap(),
    ]);
    assert_eq!(
        output_of(&ssh(
            setup.ssh_port,
            "-",
            Some(&second_file),
            "echo swapped"
        )),
        "swapped"
    );
    ok(&[
        "--config",
        &setup.validator_config,
        "rental",
        "restart",
        &setup.miner_hotkey,
    ]);
    assert_eq!(
        output_of(&ssh(setup.ssh_port, &password, None, "echo back")),
        "back"
    );

    // Release: the container and the journal entry are gone, the miner is free again.
    ok(&[
        "--config",
        &setup.validator_config,
        "release",
        &setup.miner_hotkey,
    ]);
    assert!(setup.containers().is_empty(), "{:?}", setup.containers());
    assert!(setup.journal().is_empty());
    assert!(!file.exists());
    let page = setup.metrics_showing("sn27_allocations{kind=\"rental\"} 0");
    assert!(
        page.contains("sn27_allocations{kind=\"rental\"} 0"),
        "{page}"
    );
    let runtime = runtime();
    let free = allocate(
        &runtime,
        &setup,
        &setup.validator_keypair(),
        Allocate {
            timeline: 1,
            ..Allocate::default()
        },
    );
    assert_eq!(free.get("status"), Some(&json!(true)));
    assert!(
        setup.stop_miner(),
        "SIGTERM stops the miner cleanly:\n{}",
        setup.log()
    );
}

#[test]
fn the_reference_validators_sequence_passes_and_test_allocations_expire() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let mut setup = Setup::with_profile(15, Some("sn27-v1.8.3"));
    assert!(setup.start_miner(None), "{}", setup.log());
    let result = setup.reference_validator("reference_validator.py");
    let steps = result["steps"].as_array().unwrap();
    assert_eq!(steps[1]["port"], setup.ssh_port);
    assert_eq!(steps[2]["username"], "root");
    assert_eq!(steps[2]["version"], 183);
    assert!(setup.containers().is_empty(), "{:?}", setup.containers());

    // A test allocation the validator never releases is reclaimed after its lifetime (15 s).
    let runtime = runtime();
    let key = RentalKey::generate().unwrap();
    let mut request = rental_request(&key, "");
    request
        .device_requirement
        .insert("testing".into(), json!(true));
    let out = allocate(&runtime, &setup, &setup.validator_keypair(), request);
    assert_eq!(out.get("status"), Some(&json!(true)), "{}", setup.log());
    assert!(setup
        .containers()
        .iter()
        .any(|c| c.starts_with("sn27-test-")));
    let deadline = Instant::now() + Duration::from_secs(60);
    while !setup.containers().is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(250));
    }
    assert!(
        setup.containers().is_empty(),
        "expired: {:?}",
        setup.containers()
    );
    assert!(
        setup.log().contains("lease ended; released"),
        "{}",
        setup.log()
    );
}

/// The v2.2.1 validator's sequence (sn27-v2.md §2.2, §4.5): no checking probe, four user ports
/// in the credentials, each reachable from the host while a server runs on it inside, and a
/// release well inside the validator's 15 s.
#[test]
fn the_v2_validators_sequence_with_health_check_passes_and_releases_within_15_s() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let mut setup = Setup::new(3600);
    assert!(setup.start_miner(None), "{}", setup.log());
    let result = setup.reference_validator("reference_validator_v2.py");
    let steps = result["steps"].as_array().unwrap();
    assert_eq!(steps[1]["version"], 221);
    let announced: Vec<(String, u64)> = steps[1]["external_user_ports"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_u64().unwrap()))
        .collect();
    let expected: Vec<(String, u64)> = ["27015", "27016", "27017", "27018"]
        .iter()
        .zip(&setup.user_ports)
        .map(|(k, v)| (k.to_string(), u64::from(*v)))
        .collect();
    assert_eq!(announced, expected);
    assert_eq!(steps[3]["passed"], true, "{result}");
    let deallocate = result["deallocate_secs"].as_f64().unwrap();
    assert!(deallocate < 15.0, "released in {deallocate:.1} s");
    eprintln!(
        "v2 sequence: allocate {:.2} s, deallocate {deallocate:.2} s",
        result["allocate_secs"].as_f64().unwrap()
    );
    assert!(setup.containers().is_empty(), "{:?}", setup.containers());
}

#[test]
fn only_the_owner_acts_and_a_live_rental_is_never_displaced() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let mut setup = Setup::new(900);
    assert!(setup.start_miner(None), "{}", setup.log());
    let runtime = runtime();
    let caller = setup.validator_keypair();
    let owner = RentalKey::generate().unwrap();
    let out = allocate(&runtime, &setup, &caller, rental_request(&owner, ""));
    assert_eq!(out.get("status"), Some(&json!(true)), "{}", setup.log());
    let credentials = owner.open(out["info"].as_str().unwrap()).unwrap();

    let stranger = RentalKey::generate().unwrap();
    let with_key = |key: &RentalKey, fields: Allocate| Allocate {
        public_key: key.public_pem(),
        ..fields
    };
    let action = |name: &str| Allocate {
        timeline: 1,
        checking: false,
        docker_change: true,
        docker_action: object(json!({"action": name, "ssh_key": "", "key_type": ""})),
        ..Allocate::default()
    };
    let (_, stranger_line) = ssh_keypair(setup.root(), "stranger");
    let mut refusals = vec![
        (
            "release",
            with_key(
                &stranger,
                Allocate {
                    timeline: 0,
                    checking: false,
                    ..Allocate::default()
                },
            ),
        ),
        (
            "ownership",
            with_key(
                &stranger,
                Allocate {
                    timeline: 0,
                    checking: true,
                    ..Allocate::default()
                },
            ),
        ),
        ("pause", with_key(&stranger, action("pause"))),
        ("restart", with_key(&stranger, action("restart"))),
        ("second allocation", rental_request(&stranger, "")),
        ("second allocation by the owner", rental_request(&owner, "")),
    ];
    let mut exchange = with_key(&stranger, action("exchange_key"));
    exchange.docker_action =
        object(json!({"action": "exchange_key", "ssh_key": stranger_line, "key_type": "user"}));
    refusals.push(("exchange_key", exchange));
    for (what, fields) in refusals {
        let out = allocate(&runtime, &setup, &caller, fields);
        assert_eq!(out.get("status"), Some(&json!(false)), "{what}: {out:?}");
        assert_eq!(out.get("port"), Some(&json!(setup.ssh_port)), "{what}");
    }
    // Nothing changed: one running container, and the owner still logs in.
    let containers = setup.containers();
    assert_eq!(containers.len(), 1, "{containers:?}");
    assert!(containers[0].ends_with("running"), "{containers:?}");
    assert_eq!(
        output_of(&ssh(
            credentials.port,
            &credentials.password,
            None,
            "echo mine"
        )),
        "mine"
    );
    let owned = allocate(
        &runtime,
        &setup,
        &caller,
        with_key(
            &owner,
            Allocate {
                timeline: 0,
                checking: true,
                ..Allocate::default()
            },
        ),
    );
    assert_eq!(owned.get("status"), Some(&json!(true)));
    let busy = allocate(
        &runtime,
        &setup,
        &caller,
        Allocate {
            timeline: 1,
            ..Allocate::default()
        },
    );
    assert_eq!(
        busy.get("status"),
        Some(&json!(false)),
        "a live rental: not available"
    );
}

#[test]
fn a_killed_miner_reconciles_journal_and_docker() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let mut setup = Setup::new(900);
    let runtime = runtime();
    let caller = setup.validator_keypair();
    let check = |setup: &Setup| {
        allocate(
            &runtime,
            setup,
            &caller,
            Allocate {
                timeline: 1,
                ..Allocate::default()
            },
        )
        .get("status")
        .cloned()
    };

    // Killed while allocating, before or after the container exists: on restart the half-made
    // allocation is rolled back (the caller never got credentials) and the miner is free.
    for step in ["requested", "container-created"] {
        assert!(setup.start_miner(Some(step)), "{}", setup.log());
        let dendrite = Dendrite::new(caller.clone());
        let key = RentalKey::generate().unwrap();
        let reply = runtime.block_on(dendrite.call(
            &setup.target(),
            rental_request(&key, ""),
            Duration::from_secs(60),
        ));
        assert!(!reply.is_success(), "the caller sees no answer at {step}");
        assert!(!setup.wait_for_crash().success());
        assert_eq!(setup.journal().len(), 1, "journaled before acting ({step})");
        assert!(setup.start_miner(None), "{}", setup.log());
        assert!(setup.journal().is_empty(), "{step}: rolled back");
        assert!(
            setup.containers().is_empty(),
            "{step}: {:?}",
            setup.containers()
        );
        assert_eq!(check(&setup), Some(json!(true)), "{step}: free again");
        setup.kill_miner();
    }

    // Killed after the allocation is journaled active but before the answer leaves: the
    // validator kept the key before sending, so it sees the allocation as unconfirmed and frees
    // it once the miner is back; nothing is left behind.
    assert!(setup.start_miner(Some("active")), "{}", setup.log());
    let out = setup.validator_cli(&[
        "rent",
        "--hotkey",
        &setup.miner_hotkey,
        "--days",
        "1",
        "--ram",
        "0.5",
    ]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("sn27 release"), "{}", stderr(&out));
    assert!(!setup.wait_for_crash().success());
    assert!(setup.start_miner(None), "{}", setup.log());
    assert_eq!(
        setup.containers().len(),
        1,
        "the miner kept the allocation it may have issued"
    );
    assert_eq!(check(&setup), Some(json!(false)));
    let listed = stdout(&setup.validator_cli(&["rentals"]));
    assert!(listed.contains("pending"), "{listed}");
    let out = setup.validator_cli(&["release", &setup.miner_hotkey]);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    assert!(
        stdout(&out).contains("released the unconfirmed allocation"),
        "{}",
        stdout(&out)
    );
    assert!(setup.containers().is_empty(), "{:?}", setup.containers());
    assert!(setup.journal().is_empty());
    assert!(stdout(&setup.validator_cli(&["rentals"])).contains("no rentals"));
    assert_eq!(check(&setup), Some(json!(true)));
    setup.kill_miner();

    // A live rental survives kill -9 and its container dying; its owner still logs in.
    assert!(setup.start_miner(None), "{}", setup.log());
    let owner = RentalKey::generate().unwrap();
    let out = allocate(&runtime, &setup, &caller, rental_request(&owner, ""));
    let credentials = owner.open(out["info"].as_str().unwrap()).unwrap();
    setup.kill_miner();
    let name = setup.containers()[0].split(' ').next().unwrap().to_string();
    Command::new("docker")
        .args(["stop", "-t", "1", &name])
        .output()
        .unwrap();
    assert!(setup.start_miner(None), "{}", setup.log());
    assert!(
        setup.containers()[0].ends_with("running"),
        "{:?}",
        setup.containers()
    );
    assert_eq!(
        output_of(&ssh(
            credentials.port,
            &credentials.password,
            None,
            "echo alive"
        )),
        "alive"
    );
    assert_eq!(check(&setup), Some(json!(false)), "still rented");

    // Its container removed outright while the miner is down: recreated with the same
    // credentials, so the renter's password still works.
    setup.kill_miner();
    Command::new("docker")
        .args(["rm", "-f", &name])
        .output()
        .unwrap();
    assert!(setup.start_miner(None), "{}", setup.log());
    assert!(
        setup
            .log()
            .contains("recreated it with the same credentials"),
        "{}",
        setup.log()
    );
    assert_eq!(
        output_of(&ssh(
            credentials.port,
            &credentials.password,
            None,
            "echo again"
        )),
        "again"
    );

    // An orphan container (no journal entry) is removed at start-up.
    setup.kill_miner();
    let journal_dir = setup.root().join("miner-state/miner/allocations");
    let moved = setup.root().join("moved-journal");
    std::fs::rename(&journal_dir, &moved).unwrap();
    assert!(setup.start_miner(None), "{}", setup.log());
    assert!(
        setup.containers().is_empty(),
        "orphan removed: {:?}",
        setup.containers()
    );
    assert!(setup
        .log()
        .contains("removed a container no allocation owns"));
    setup.kill_miner();
    std::fs::remove_dir_all(&journal_dir).ok();

    // Killed while releasing: the release completes at the next start.
    assert!(setup.start_miner(Some("releasing")), "{}", setup.log());
    let owner = RentalKey::generate().unwrap();
    let out = allocate(&runtime, &setup, &caller, rental_request(&owner, ""));
    assert_eq!(out.get("status"), Some(&json!(true)), "{}", setup.log());
    let dendrite = Dendrite::new(caller.clone());
    let release = Allocate {
        timeline: 0,
        checking: false,
        public_key: owner.public_pem(),
        ..Allocate::default()
    };
    let _ = runtime.block_on(dendrite.call(&setup.target(), release, Duration::from_secs(30)));
    assert!(!setup.wait_for_crash().success());
    assert!(setup.start_miner(None), "{}", setup.log());
    assert!(setup.containers().is_empty(), "{:?}", setup.containers());
    assert!(setup.journal().is_empty());
    assert_eq!(check(&setup), Some(json!(true)));
}

#[test]
fn bad_requests_are_refused_with_a_reason_and_create_nothing() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let mut setup = Setup::new(900);
    assert!(setup.start_miner(None), "{}", setup.log());
    let runtime = runtime();
    let caller = setup.validator_keypair();
    let key = RentalKey::generate().unwrap();
    let mut cases: Vec<(&str, Allocate)> = Vec::new();
    let mut malformed = rental_request(&key, "");
    malformed.device_requirement =
        object(json!({"cpu": "many", "gpu": {}, "hard_disk": {}, "ram": {}}));
    cases.push(("device_requirement.cpu: not an object", malformed));
    let mut huge = rental_request(&key, "");
    huge.device_requirement = object(json!({"cpu": {"count": 1}, "gpu": {}, "hard_disk": {},
        "ram": {"capacity": 1u64 << 62}}));
    cases.push(("larger than", huge));
    let mut too_many = rental_request(&key, "");
    too_many.device_requirement =
        object(json!({"cpu": {"count": 512}, "gpu": {}, "hard_disk": {}, "ram": {}}));
    cases.push(("CPUs requested", too_many));
    let mut bad_pem = rental_request(&key, "");
    bad_pem.public_key = "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n".into();
    cases.push(("public_key", bad_pem));
    cases.push((
        "not an OpenSSH public key",
        rental_request(&key, "ssh-ed25519 AAAA'; touch /tmp/pwned; echo '"),
    ));
    cases.push((
        "is not one of",
        Allocate {
            timeline: 1,
            checking: false,
            docker_change: true,
            public_key: key.public_pem(),
            docker_action: object(json!({"action": "rm -rf /"})),
            ..Allocate::default()
        },
    ));
    for (reason, fields) in cases {
        let out = allocate(&runtime, &setup, &caller, fields);
        assert_eq!(out.get("status"), Some(&json!(false)), "{reason}: {out:?}");
        assert_eq!(out.get("port"), Some(&json!(setup.ssh_port)));
        assert!(
            setup.log().contains(reason),
            "a log line says {reason:?}:\n{}",
            setup.log()
        );
    }
    assert!(setup.containers().is_empty(), "{:?}", setup.containers());
    assert!(setup.journal().is_empty());
    assert!(!Path::new("/tmp/pwned").exists());
}

/// `sn27-v2.md` §1.4 on the devnet: once more than 20 % of the staked validators publish
/// prometheus version 221, a staked validator that never published one is refused, and one
/// that has is served.
#[test]
fn outdated_validators_are_refused_once_most_are_updated() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let mut setup = Setup::new(900);
    let updated_config = setup.root().join("updated.toml");
    let text = std::fs::read_to_string(&setup.validator_config)
        .unwrap()
        .replace("name = \"validator\"", "name = \"updated\"");
    std::fs::write(
        &updated_config,
        format!("{text}[axon]\nexternal_ip = \"127.0.0.1\"\n"),
    )
    .unwrap();
    let updated_config = updated_config.to_str().unwrap();
    ok(&[
        "--config",
        updated_config,
        "wallet",
        "create",
        "--no-password",
        "--no-print-mnemonic",
    ]);
    let updated = Wallet::new(setup.root().join("wallets"), "updated", "default")
        .unwrap()
        .keypair(KeyRole::Hotkey, &PasswordSource::new(None, None))
        .unwrap();
    setup.miner_cli(&["devnet", "register", &updated.ss58(), "--stake", "2000"]);
    let published = ok(&["--config", updated_config, "serve-prometheus"]);
    assert!(
        published.contains("/ipv4/127.0.0.1:7091 (v221) published"),
        "{published}"
    );
    assert!(setup.start_miner(None), "{}", setup.log());

    let runtime = runtime();
    let check = Allocate {
        timeline: 1,
        checking: true,
        ..Allocate::default()
    };
    let dendrite = Dendrite::new(setup.validator_keypair());
    let refused =
        runtime.block_on(dendrite.call(&setup.target(), check.clone(), Duration::from_secs(30)));
    assert!(!refused.is_success(), "{}", refused.status_code);
    assert!(
        setup.log().contains("not an updated validator"),
        "{}",
        setup.log()
    );
    let out = allocate(&runtime, &setup, &updated, check.clone());
    assert_eq!(out.get("status"), Some(&json!(true)), "{}", setup.log());

    // A reload that admits outdated validators applies at once, and says so.
    let text = std::fs::read_to_string(&setup.miner_config).unwrap();
    std::fs::write(
        &setup.miner_config,
        text.replace("[miner]\n", "[miner]\nwhitelist_not_updated = true\n"),
    )
    .unwrap();
    let pid = setup.miner.as_ref().unwrap().id() as i32;
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGHUP,
    )
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !setup.log().contains("configuration reloaded") && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    let log = setup.log();
    let reloaded = log
        .lines()
        .find(|l| l.contains("configuration reloaded"))
        .unwrap_or_else(|| panic!("{log}"));
    assert!(
        reloaded.contains("miner.whitelist_not_updated"),
        "{reloaded}"
    );
    assert!(!log.contains("applies only after a restart"), "{log}");
    let admitted = runtime.block_on(dendrite.call(&setup.target(), check, Duration::from_secs(30)));
    assert!(
        admitted.is_success(),
        "{}\n{}",
        admitted.status_code,
        setup.log()
    );
}

#[test]
fn an_unregistered_miner_refuses_to_start_and_says_how_to_register() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let mut setup = Setup::new(900);
    setup.miner_cli(&["devnet", "init", "--block-time", "0.2"]);
    assert!(
        !setup.start_miner(None),
        "an unregistered miner must not serve"
    );
    assert!(setup.log().contains("sn27 register"), "{}", setup.log());
}
