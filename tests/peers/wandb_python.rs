//! The W&B side channel against the W&B client SN27 v2.2.1 nodes run (`wandb==0.19.0`), both
//! pointed at a local fake of the W&B API (`tests/python/fake_wandb.py`): the run our miner
//! keeps is what the reference validator's reader (`wandb.Api().runs` with its filters and
//! its signature check) accepts, our requests match the ones a Python miner sends, and our
//! reader takes the runs the Python client made, the penalty list included.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde_json::{json, Value};
use sn27::config::WandbConfig;
use sn27::keys::Keypair;
use sn27::miner::wandb_run::{host_specs, keep_specs_run, SpecsRun};
use sn27::service::Shutdown;

use crate::support::fake_wandb::{FakeWandb, API_KEY};
use crate::support::{sn27, stderr, stdout};

fn key_file(dir: &Path, key: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join("wandb-key");
    std::fs::write(&path, format!("{key}\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    path
}

fn mnemonic_key() -> (String, Keypair) {
    let key = Keypair::generate(12).unwrap();
    (key.mnemonic().unwrap().to_string(), key)
}

/// The config keys the UpsertBucket requests for run `run_id` carried, all writes together.
fn config_keys_sent(requests: &[Value], run_id: &str) -> BTreeSet<String> {
    requests
        .iter()
        .filter(|r| r["op"] == "UpsertBucket" && r["variables"]["name"] == run_id)
        .filter_map(|r| r["variables"]["config"].as_str())
        .filter_map(|config| serde_json::from_str::<Value>(config).ok())
        .filter_map(|config| config.as_object().cloned())
        .flat_map(|config| config.keys().cloned().collect::<Vec<_>>())
        .filter(|key| !key.starts_with('_'))
        .collect()
}

/// A Python miner's run on netuid 27, left running, as `wandb_peer.py` reports it.
fn publish_miner(fake: &FakeWandb, words: &str, specs: &Value) -> Value {
    fake.peer(&[
        "publish",
        "--role",
        "miner",
        "--mnemonic",
        words,
        "--netuid",
        "27",
        "--specs",
        &specs.to_string(),
        "--leave-running",
    ])
}

#[test]
fn our_specs_run_is_what_the_reference_validators_reader_accepts() {
    let fake = FakeWandb::start();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let keys = tempfile::tempdir().unwrap();
    let config = fake.config(&key_file(keys.path(), API_KEY));

    // A Python miner's run first, for the requests it sends.
    let (words, python_miner) = mnemonic_key();
    let specs = json!({"cpu": {"count": 8, "frequency": 3000.0}, "gpu": {"count": 0,
        "capacity": 0, "details": []}, "has_docker": true});
    let made = publish_miner(&fake, &words, &specs);
    assert_eq!(made["hotkey"], python_miner.ss58());

    // Ours.
    let miner = Keypair::generate(12).unwrap();
    let open = |config: &WandbConfig, state: &Path| {
        runtime.block_on(SpecsRun::open(config, state, miner.clone(), 27, 221))
    };
    let state = tempfile::tempdir().unwrap();
    let run = open(&config, state.path()).unwrap();
    let ours = run.config(&host_specs(&Value::Null), None);
    runtime.block_on(run.publish(&ours)).unwrap();
    let run_id = run.path().name.clone();

    // The reference validator's get_miner_specs: both runs, signatures verified.
    let hotkeys = format!("{},{}", miner.ss58(), python_miner.ss58());
    let read = fake.peer(&["miner-specs", "--netuid", "27", "--hotkeys", &hotkeys]);
    let runs = read["runs"].as_array().unwrap();
    let mine = runs
        .iter()
        .find(|r| r["run_id"] == run_id.as_str())
        .unwrap_or_else(|| panic!("our run {run_id} is not among {read}"));
    assert_eq!(mine["hotkey"], miner.ss58(), "{mine}");
    assert_eq!(mine["display_name"], format!("miner-{}", miner.ss58()));
    assert_eq!(mine["state"], "running", "{mine}");
    assert_eq!(mine["signature_ok"], true, "{mine}");
    assert_eq!(mine["accepted"], true, "{mine}");
    assert!(
        mine["specs"]["ram"]["total"].as_u64().unwrap() > 0,
        "{mine}"
    );
    assert_eq!(
        mine["specs"]["gpu"]["details"],
        json!([]),
        "no GPU here: {mine}"
    );
    let theirs = runs
        .iter()
        .find(|r| r["hotkey"] == python_miner.ss58())
        .unwrap();
    assert_eq!(theirs["accepted"], true, "{theirs}");
    // Another netuid's validators do not see it.
    let other = fake.peer(&["miner-specs", "--netuid", "15", "--hotkeys", &hotkeys]);
    assert_eq!(other["runs"], json!([]), "{other}");

    // The same mutation, and the config keys a Python miner's run has, all of them.
    let requests = fake.requests();
    let python_keys = config_keys_sent(&requests, made["run_id"].as_str().unwrap());
    let ours_sent: Vec<&Value> = requests
        .iter()
        .filter(|r| r["op"] == "UpsertBucket" && r["variables"]["name"] == run_id.as_str())
        .collect();
    assert_eq!(ours_sent.len(), 1, "one write: {ours_sent:?}");
    let variables = ours_sent[0]["variables"].as_object().unwrap();
    for name in ["name", "project", "entity", "displayName", "config"] {
        assert!(variables.contains_key(name), "{name} in {variables:?}");
    }
    assert_eq!(variables["entity"], "neuralinternet");
    assert_eq!(variables["project"], "opencompute");
    let stored: Value = serde_json::from_str(variables["config"].as_str().unwrap()).unwrap();
    let our_keys: BTreeSet<String> = stored.as_object().unwrap().keys().cloned().collect();
    for key in ["hotkey", "role", "config", "version", "specs", "signature"] {
        assert!(
            python_keys.contains(key),
            "the Python miner sends {key}: {python_keys:?}"
        );
        assert!(our_keys.contains(key), "we send {key}: {our_keys:?}");
        assert!(
            stored[key].get("value").is_some(),
            "{key} in the stored form: {stored}"
        );
    }
    assert_eq!(stored["config"]["value"], json!({"netuid": 27}));
    assert_eq!(stored["version"]["value"], 221);
    assert!(requests.iter().any(|r| r["method"] == "POST"
        && r["path"]
            .as_str()
            .is_some_and(|p| p.ends_with(&format!("/{run_id}/file_stream")))));

    // A restart continues the run: the kept id, or W&B's run of this name without it.
    let again = open(&config, state.path()).unwrap();
    assert_eq!(again.path().name, run_id);
    let elsewhere = tempfile::tempdir().unwrap();
    let found = open(&config, elsewhere.path()).unwrap();
    assert_eq!(found.path().name, run_id);

    // A wrong key is refused by name, without the key.
    let wrong = fake.config(&key_file(keys.path(), "f".repeat(40).as_str()));
    let fresh = tempfile::tempdir().unwrap();
    let error = open(&wrong, fresh.path()).err().unwrap();
    assert!(error.contains("refused the API key"), "{error}");
    assert!(!error.contains(&"f".repeat(40)), "{error}");
}

/// The service's task: one write while nothing changes, heartbeats between, a new write when
/// the renter changes, and a stop that is prompt.
#[test]
fn the_running_miner_writes_its_run_only_when_it_changes() {
    let fake = FakeWandb::start();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let keys = tempfile::tempdir().unwrap();
    let config = WandbConfig {
        heartbeat_secs: 1,
        ..fake.config(&key_file(keys.path(), API_KEY))
    };
    let state = tempfile::tempdir().unwrap();
    let miner = Keypair::generate(12).unwrap();
    let renter = std::sync::Arc::new(std::sync::Mutex::new(Some(None::<String>)));
    let (trigger, shutdown) = Shutdown::new();
    let task = runtime.spawn(keep_specs_run(
        config,
        state.path().to_path_buf(),
        miner.clone(),
        27,
        221,
        {
            let renter = renter.clone();
            move || renter.lock().unwrap().clone()
        },
        shutdown,
    ));
    let writes = |fake: &FakeWandb| {
        fake.requests()
            .into_iter()
            .filter(|r| r["op"] == "UpsertBucket")
            .count()
    };
    std::thread::sleep(std::time::Duration::from_millis(3500));
    assert_eq!(writes(&fake), 1, "one write while nothing changes");
    let beats = fake
        .requests()
        .iter()
        .filter(|r| {
            r["path"]
                .as_str()
                .is_some_and(|p| p.ends_with("/file_stream"))
        })
        .count();
    assert!(beats >= 3, "{beats} heartbeats in 3.5 s");

    let validator = Keypair::generate(12).unwrap().ss58();
    *renter.lock().unwrap() = Some(Some(validator.clone()));
    // Not known for a moment (an allocation being made): the last answer stands.
    std::thread::sleep(std::time::Duration::from_millis(1500));
    *renter.lock().unwrap() = None;
    std::thread::sleep(std::time::Duration::from_millis(1500));
    assert_eq!(writes(&fake), 2, "one more write for the renter");
    let read = fake.peer(&["miner-specs", "--netuid", "27", "--hotkeys", &miner.ss58()]);
    let run = &read["runs"][0];
    assert_eq!(run["accepted"], true, "{read}");
    assert_eq!(run["allocated"], validator, "{read}");

    let stopping = std::time::Instant::now();
    trigger.trigger();
    runtime.block_on(task).unwrap().unwrap();
    assert!(stopping.elapsed() < std::time::Duration::from_secs(2));
}

fn show_config(dir: &Path, fake: &FakeWandb, penalty_run: &str, penalty_hotkey: &str) -> PathBuf {
    let path = dir.join("sn27.toml");
    std::fs::write(
        &path,
        format!(
            "role = \"validator\"\nstate_dir = \"{}\"\n[wallet]\npath = \"{}\"\n\
             [wandb]\nenabled = true\nbase_url = \"{}\"\napi_key_env = \"TEST_WANDB_API_KEY\"\n\
             penalty_run = \"{penalty_run}\"\npenalty_hotkey = \"{penalty_hotkey}\"\n",
            dir.join("state").display(),
            dir.join("wallets").display(),
            fake.base_url,
        ),
    )
    .unwrap();
    path
}

/// `sn27 wandb show --json` with the penalty run and hotkey given.
fn show_json(dir: &Path, fake: &FakeWandb, penalty_run: &str, penalty_hotkey: &str) -> Value {
    let config = show_config(dir, fake, penalty_run, penalty_hotkey);
    let out = sn27(
        &[
            "wandb",
            "show",
            "--json",
            "--config",
            config.to_str().unwrap(),
        ],
        &[("TEST_WANDB_API_KEY", API_KEY)],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    serde_json::from_str(&stdout(&out)).unwrap()
}

#[test]
fn our_reader_takes_the_runs_and_the_penalty_list_the_python_client_made() {
    let fake = FakeWandb::start();
    let (words_a, a) = mnemonic_key();
    let (words_b, b) = mnemonic_key();
    let (words_v, v) = mnemonic_key();
    let specs = json!({"gpu": {"count": 1, "details": [{"name": "NVIDIA H100 PCIe"}]}});
    publish_miner(&fake, &words_a, &specs);
    publish_miner(&fake, &words_b, &json!({}));
    let penalized = json!([b.ss58(), "5HGjWAeFDfFCWPsjFQdVV2Msvz2XtMktvgocEZcCj68kUMaw"]);
    let validator = fake.peer(&[
        "publish",
        "--role",
        "validator",
        "--mnemonic",
        &words_v,
        "--netuid",
        "27",
        "--penalized",
        &penalized.to_string(),
    ]);
    let penalty_run = validator["run_id"].as_str().unwrap();
    // The reference's own reader sees the list.
    let theirs = fake.peer(&["penalties", "--run-id", penalty_run]);
    assert_eq!(theirs["penalized"], penalized);

    let dir = tempfile::tempdir().unwrap();
    let shown = show_json(dir.path(), &fake, penalty_run, &v.ss58());
    let config = dir.path().join("sn27.toml");
    let config = config.to_str().unwrap();
    let row = |hotkey: &str| {
        shown["miner_runs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["hotkey"] == hotkey)
            .unwrap_or_else(|| panic!("{hotkey} in {shown}"))
            .clone()
    };
    assert_eq!(row(&a.ss58())["accepted"], true, "{shown}");
    assert_eq!(row(&a.ss58())["signature_ok"], true, "{shown}");
    assert_eq!(row(&b.ss58())["signature_ok"], true, "{shown}");
    assert_eq!(row(&b.ss58())["accepted"], false, "empty specs: {shown}");
    assert_eq!(shown["penalized"], penalized, "{shown}");

    // The text form says the same.
    let out = sn27(
        &["wandb", "show", "--config", config],
        &[("TEST_WANDB_API_KEY", API_KEY)],
    );
    let text = stdout(&out);
    assert!(text.contains("refused: no specs"), "{text}");
    assert!(text.contains(&b.ss58()), "{text}");

    // A penalty run is taken only from the configured validator.
    let shown = show_json(dir.path(), &fake, penalty_run, &a.ss58());
    assert!(shown["penalized"].is_null(), "{shown}");
    let error = shown["penalty_error"].as_str().unwrap();
    assert!(error.contains("not the penalty validator"), "{error}");

    // A penalty run whose signature is not its hotkey's, or whose list is not one: not taken.
    let client = sn27::wandb::WandbClient::new(&fake.base_url, API_KEY).unwrap();
    let v_key = Keypair::from_mnemonic(&words_v).unwrap();
    for (name, signed_id, list, refusal) in [
        (
            "forged01",
            "another1",
            json!([a.ss58()]),
            "signature does not verify",
        ),
        (
            "notalist",
            "notalist",
            json!("everyone"),
            "is not a list of hotkeys",
        ),
    ] {
        let path = sn27::wandb::RunPath {
            entity: "neuralinternet".into(),
            project: "opencompute".into(),
            name: name.into(),
        };
        let mut config = serde_json::Map::new();
        config.insert("hotkey".into(), json!(v.ss58()));
        config.insert(
            "signature".into(),
            json!(sn27::protocol::run_signature::sign_run(&v_key, signed_id)),
        );
        config.insert("penalized_hotkeys_checklist".into(), list);
        tokio::runtime::Runtime::new()
            .unwrap()
            .block_on(client.upsert_run(&path, "validator-x", &config, "host"))
            .unwrap();
        let shown = show_json(dir.path(), &fake, name, &v.ss58());
        let error = shown["penalty_error"].as_str().unwrap_or_default();
        assert!(error.contains(refusal), "{name}: {shown}");
    }

    // No key, or a wrong one: refused by name.
    let out = sn27(&["wandb", "show", "--config", config], &[]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("TEST_WANDB_API_KEY"),
        "{}",
        stderr(&out)
    );
    let out = sn27(
        &["wandb", "show", "--config", config],
        &[("TEST_WANDB_API_KEY", "wrong")],
    );
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("refused the API key"),
        "{}",
        stderr(&out)
    );
}
