//! Our validator against SN27 v2.2.1's miner code: `tests/python/upstream_miner.py` serves a
//! bittensor Axon whose `Allocate` forward is a reimplementation of `neurons/miner.py::allocate`
//! calling the allocation engine of `neurons/Miner/` (upstream's own modules or their
//! reimplementation, below), which drives the real Docker engine with docker-py as upstream
//! does. `sn27 run` as a v2.2.1-profile validator (worker in its CPU test mode, availability
//! asked first as v1.x validators do) tests it end to end on the devnet: availability,
//! allocation, credentials, SSH, worker, verification, the health check of its four user
//! ports and the release; it is scored and gets weight, and no upstream container is left.
//!
//! Side effects on the engine, as a real SN27 miner has them: containers named
//! `ssh-container` and `ssh-test-container` are removed, `ssh-image-base:latest` is retagged
//! to a test image, dangling images are pruned, and `ssh-image` is left behind. Do not run
//! the suite on a host that is also a Python SN27 miner.
//!
//! Which code runs: with `SN27_TEST_UPSTREAM_SN27` set to a directory holding upstream's
//! files at commit f052081 (`compute/__init__.py`, `compute/protocol.py`,
//! `compute/utils/{__init__,exceptions}.py`, `neurons/__init__.py`, `neurons/RSAEncryption.py`,
//! `neurons/Miner/{allocate,container,schedule}.py`, e.g. `git archive f052081 <those paths> |
//! tar -x -C <dir>` in a clone of a fork carrying upstream history), upstream's own; otherwise
//! (CI reaches no GitHub) their reimplementation in `tests/python/upstream_sn27/`. The patches
//! for what cannot run here (no registry, no GPU, no `at` daemon, no subtensor node, no GitHub)
//! are listed in the peer's docs.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::{python, sn27_ok, stderr, stdout};
use crate::validator_round::{
    base_image, docker, own_uid, uid_row, Network, ONE_AT_A_TIME, SCORING_V2,
};

/// The two containers an SN27 miner runs (a rental, a test container).
const UPSTREAM_CONTAINERS: [&str; 2] = ["ssh-container", "ssh-test-container"];

/// Builds `ssh-image-base:latest` from the test base image, as upstream's
/// `build_sample_container` would from its registry image (patch 1 of the peer).
fn build_ssh_image_base() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/upstream_sn27");
    docker(&[
        "build",
        "-q",
        "-t",
        "ssh-image-base:latest",
        "--build-arg",
        &format!("BASE={}", base_image()),
        "-f",
        dir.join("ssh-image-base.Dockerfile").to_str().unwrap(),
        dir.to_str().unwrap(),
    ]);
}

/// The upstream containers that exist now.
fn upstream_containers() -> Vec<String> {
    let mut found = Vec::new();
    for name in UPSTREAM_CONTAINERS {
        let listed = docker(&[
            "ps",
            "-a",
            "--filter",
            &format!("name=^{name}$"),
            "--format",
            "{{.Names}} {{.Status}}",
        ]);
        found.extend(listed.lines().map(str::to_string));
    }
    found
}

/// Waits until the peer prints its JSON line on stdout (at `out`) and returns it.
fn ready_line(peer: &mut Child, out: &Path, log: &Path) -> Value {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let text = std::fs::read_to_string(out).unwrap_or_default();
        if let Some(ready) = text
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .find(|v| v.get("hotkey").is_some())
        {
            return ready;
        }
        let exited = peer.try_wait().unwrap();
        assert!(
            exited.is_none() && Instant::now() < deadline,
            "the upstream miner did not start ({exited:?}):\n{text}\n{}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The peer's whole log: bittensor logs to stdout (`out`), Python's tracebacks go to stderr.
fn peer_log(out: &Path, log: &Path) -> String {
    format!(
        "{}{}",
        std::fs::read_to_string(out).unwrap_or_default(),
        std::fs::read_to_string(log).unwrap_or_default()
    )
}

#[test]
fn the_validator_tests_scores_and_releases_an_upstream_v2_miner() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    // Upstream miners accept callers with at least 10 000 TAO of stake.
    let mut net = Network::with_validator_stake(SCORING_V2, "20000");
    let v = net.validator_config.to_str().unwrap().to_string();
    // One retry: upstream builds an image inside the 60 s allocation call, which a loaded
    // engine can stretch.
    let text = std::fs::read_to_string(&v).unwrap();
    std::fs::write(
        &v,
        text.replace(
            "retry_limit = 0\n",
            "retry_limit = 1\ncheck_availability = true\n",
        ),
    )
    .unwrap();
    let owner = sn27::keys::Keypair::generate(12).unwrap().ss58();
    sn27_ok(&["--config", &v, "devnet", "register", &owner]);
    sn27_ok(&["--config", &v, "devnet", "set", "owner_hotkey", &owner]);
    // Weights set during the round give the owner everything; the next ones, 10 blocks later,
    // count the miner.
    sn27_ok(&["--config", &v, "devnet", "set", "weights_rate_limit", "10"]);
    // Fixed names: whatever an earlier, interrupted run left goes first, and whatever this
    // one leaves goes when the network is dropped.
    for name in UPSTREAM_CONTAINERS {
        Command::new("docker")
            .args(["rm", "-f", name])
            .output()
            .ok();
        net.extra_containers.push(name.to_string());
    }
    build_ssh_image_base();

    // Registered and served on chain as any miner (version 221); the axon is upstream's.
    let (config, hotkey, axon_port) = net.register_miner("upstream", &base_image());
    sn27_ok(&["--config", &config, "serve-axon"]);
    let miner: toml::Table = std::fs::read_to_string(&config).unwrap().parse().unwrap();
    let ssh_port = miner["miner"]["ssh_port"].as_integer().unwrap().to_string();
    let user_ports: Vec<String> = miner["miner"]["user_ports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_integer().unwrap().to_string())
        .collect();
    let workdir = net.root().join("upstream-miner");
    let (out, log) = (net.root().join("upstream.out"), net.log("upstream"));
    let mut peer = Command::new(python())
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/upstream_miner.py"))
        .args([
            net.root().join("wallets").to_str().unwrap(),
            "upstream",
            &axon_port.to_string(),
            &ssh_port,
            &user_ports.join(","),
            workdir.to_str().unwrap(),
            env!("CARGO_BIN_EXE_sn27"),
            "--config",
            &v,
            "metagraph",
            "--json",
        ])
        .stdin(Stdio::piped())
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let ready = ready_line(&mut peer, &out, &log);
    net.children.push(peer);
    assert_eq!(ready["hotkey"], hotkey.as_str(), "{ready}");
    let expected = match std::env::var("SN27_TEST_UPSTREAM_SN27") {
        Ok(dir) if !dir.is_empty() => std::fs::canonicalize(dir).unwrap(),
        _ => Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/upstream_sn27"),
    };
    for module in ready["modules"].as_array().unwrap() {
        let module = std::fs::canonicalize(module.as_str().unwrap()).unwrap();
        assert!(
            module.starts_with(&expected),
            "{module:?} not under {expected:?}"
        );
        eprintln!("upstream miner code: {}", module.display());
    }

    net.spawn("validator", &v);
    let scores = net.scores_after_round(&[&hotkey]);
    let validator_log = std::fs::read_to_string(net.log("validator")).unwrap_or_default();
    let miner_log = peer_log(&out, &log);
    let row = uid_row(&scores, &hotkey);
    assert_eq!(
        row["spec"]["model"], "CPU (test)",
        "{row}\nvalidator:\n{validator_log}\nupstream miner:\n{miner_log}"
    );
    assert!(row["points"].as_f64().unwrap() > 0.0, "{row}");
    let results = row["results"].as_array().unwrap();
    assert!(
        !results.is_empty() && results[0]["failure"].is_null(),
        "{row}"
    );
    // The four user ports upstream maps were served from inside its container and reached.
    let passed = validator_log
        .lines()
        .find(|l| l.contains("health check passed") && l.contains(hotkey.as_str()))
        .unwrap_or_else(|| panic!("no health check of {hotkey}:\n{validator_log}"));
    let answered: Vec<&str> = passed
        .split("ports=")
        .nth(1)
        .unwrap_or_default()
        .split_whitespace()
        .take_while(|t| t.contains("->"))
        .collect();
    let mapped: Vec<String> = [27015, 27016, 27017, 27018]
        .iter()
        .zip(&user_ports)
        .map(|(inside, host)| format!("{inside}->{host}"))
        .collect();
    assert_eq!(answered, mapped, "{passed}");

    // Released the way upstream releases: its allocation key cleared, its container gone.
    let deadline = Instant::now() + Duration::from_secs(60);
    while !upstream_containers().is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(500));
    }
    assert!(
        upstream_containers().is_empty(),
        "{:?}\n{miner_log}",
        upstream_containers()
    );
    let miner_log = peer_log(&out, &log);
    assert!(
        miner_log.contains("Container 'ssh-test-container' was killed successfully"),
        "{miner_log}"
    );
    let key = std::fs::read_to_string(workdir.join("allocation_key")).unwrap();
    assert!(key.is_empty(), "allocation key kept: {key}");

    // Weights on chain: the owner's remainder and the upstream miner's share.
    let me = own_uid(&scores);
    let uid = row["uid"].clone();
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let out = net.validator(&["weights", "show", "--json"]);
        assert!(out.status.success(), "{}", stderr(&out));
        let chain: Value = serde_json::from_str(&stdout(&out)).unwrap();
        let weight = chain
            .as_array()
            .unwrap()
            .iter()
            .find(|entry| entry["uid"] == me)
            .and_then(|entry| {
                entry["weights"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|pair| pair[0] == uid)
                    .map(|pair| pair[1].as_u64().unwrap())
            });
        if weight.is_some_and(|w| w > 0) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no weight for uid {uid} on chain: {chain}\n{}",
            stdout(&net.validator(&["scores"]))
        );
        std::thread::sleep(Duration::from_secs(2));
    }
}
