//! The chain commands an operator runs, on the embedded devnet.

use crate::support::{sn27, sn27_ok, stderr};

struct Node {
    dir: tempfile::TempDir,
    config: String,
}

fn node() -> Node {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("sn27.toml");
    std::fs::write(
        &config,
        format!(
            "role = \"miner\"\nstate_dir = \"{state}\"\n[chain]\nnetwork = \"devnet\"\n\
             [wallet]\nname = \"miner\"\nhotkey = \"default\"\npath = \"{state}/wallets\"\n\
             [axon]\nexternal_ip = \"127.0.0.1\"\nport = 8091\n",
            state = dir.path().display()
        ),
    )
    .unwrap();
    let config = config.to_string_lossy().into_owned();
    Node { dir, config }
}

impl Node {
    fn run(&self, args: &[&str]) -> std::process::Output {
        let mut all = vec!["--config", &self.config];
        all.extend(args);
        sn27(&all, &[])
    }

    fn ok(&self, args: &[&str]) -> String {
        let mut all = vec!["--config", &self.config];
        all.extend(args);
        sn27_ok(&all)
    }
}

#[test]
fn register_serve_and_inspect_on_the_devnet() {
    let node = node();
    node.ok(&["devnet", "init", "--block-time", "0.05"]);
    node.ok(&["wallet", "create", "--no-password", "--no-print-mnemonic"]);
    let shown: serde_json::Value =
        serde_json::from_str(&node.ok(&["wallet", "show", "--json"])).unwrap();
    let (coldkey, hotkey) = (
        shown["coldkey"].as_str().unwrap(),
        shown["hotkey"].as_str().unwrap(),
    );

    // Registration needs funds (checked before anything is sent), confirmation, and
    // respects --max-burn.
    let out = node.run(&["register", "--yes"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains(&format!(
            "coldkey {coldkey} has 0.000000000 TAO free but the burn is 1.000000000 TAO: \
             1.000000000 TAO missing; nothing was sent"
        )),
        "{}",
        stderr(&out)
    );
    node.ok(&["devnet", "fund", coldkey, "3"]);
    let out = node.run(&["register", "--max-burn", "0.5", "--yes"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("above --max-burn"),
        "{}",
        stderr(&out)
    );
    let out = node.run(&["register"]);
    assert!(stderr(&out).contains("pass --yes"), "{}", stderr(&out));
    assert!(node
        .ok(&["register", "--yes"])
        .contains("registered: uid 0"));
    assert!(node
        .ok(&["register", "--yes"])
        .contains("already registered"));

    // The axon is published once; the second call sends nothing.
    std::thread::sleep(std::time::Duration::from_millis(100));
    assert!(node.ok(&["serve-axon"]).contains("published at block"));
    assert!(node.ok(&["serve-axon"]).contains("already published"));

    // A validator registered by the admin command shows with its stake and permit.
    let validator_key = sn27::keys::Keypair::generate(12).unwrap();
    let validator = validator_key.ss58();
    node.ok(&["devnet", "register", &validator, "--stake", "1500"]);
    // The validator publishes its prometheus version (through the library: no command does).
    let devnet = sn27::chain::devnet::Devnet::open(&node.dir.path().join("devnet.sqlite")).unwrap();
    let prometheus =
        sn27::chain::PrometheusInfo::for_address("127.0.0.1".parse().unwrap(), 7091, 221);
    tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(sn27::chain::Chain::serve_prometheus(
            &devnet,
            &validator_key,
            27,
            prometheus,
        ))
        .unwrap();
    let metagraph: serde_json::Value =
        serde_json::from_str(&node.ok(&["metagraph", "--json"])).unwrap();
    let neurons = metagraph["neurons"].as_array().unwrap();
    assert_eq!(neurons[0]["hotkey"], hotkey);
    assert_eq!(neurons[0]["coldkey"], coldkey);
    assert_eq!(neurons[0]["axon"]["port"], 8091);
    assert_eq!(neurons[0]["axon"]["version"], 221);
    // Nothing published a prometheus endpoint: every field 0, shown as "-".
    assert_eq!(
        neurons[0]["prometheus"],
        serde_json::json!({"block": 0, "version": 0, "ip": 0, "port": 0, "ip_type": 0})
    );
    assert_eq!(neurons[1]["hotkey"], validator.as_str());
    assert_eq!(neurons[1]["validator_permit"], true);
    assert_eq!(neurons[1]["prometheus"]["version"], 221);
    assert_eq!(neurons[1]["prometheus"]["port"], 7091);
    // The devnet's one stake number is alpha on the subnet and the total; it has no root stake.
    assert_eq!(neurons[1]["alpha_stake"], 1_500_000_000_000u64);
    assert_eq!(neurons[1]["tao_stake"], 0);
    assert_eq!(neurons[1]["total_stake"], 1_500_000_000_000u64);
    let table = node.ok(&["metagraph"]);
    assert!(
        table.contains("  prometheus  axon")
            && table.contains("  -  /ipv4/127.0.0.1:8091")
            && table.contains("  v221  not serving"),
        "{table}"
    );
    assert!(
        table.contains(
            "stake in alpha of netuid 27 (local devnet: one stake number per neuron, no TAO stake)"
        ) && table.contains("stake (alpha)")
            && table.contains("1500.000"),
        "{table}"
    );

    let info = node.ok(&["chain", "info"]);
    assert!(
        info.contains("local devnet") && info.contains("burn            1.000000000 TAO"),
        "{info}"
    );
    assert!(node
        .ok(&["weights", "show"])
        .contains("no weights set on netuid 27"));
    drop(node.dir);
}

#[test]
fn a_subnet_that_does_not_exist_is_an_error_for_every_command() {
    let node = node();
    node.ok(&["devnet", "init", "--block-time", "0.05"]);
    let other = node.config.replace(".toml", "-99.toml");
    std::fs::write(
        &other,
        std::fs::read_to_string(&node.config)
            .unwrap()
            .replace("[chain]\n", "[chain]\nnetuid = 99\n"),
    )
    .unwrap();
    for args in [
        &["weights", "show"][..],
        &["weights", "show", "--json"],
        &["metagraph"],
        &["chain", "info"],
    ] {
        let mut all = vec!["--config", other.as_str()];
        all.extend_from_slice(args);
        let out = sn27(&all, &[]);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        assert_eq!(
            stderr(&out).lines().next(),
            Some("error: subnet 99 does not exist"),
            "{args:?}"
        );
    }
}

#[test]
fn devnet_admin_commands_refuse_real_networks() {
    let node = node();
    let finney = node.config.replace(".toml", "-finney.toml");
    std::fs::write(
        &finney,
        std::fs::read_to_string(&node.config)
            .unwrap()
            .replace("\"devnet\"", "\"finney\""),
    )
    .unwrap();
    let out = sn27(&["--config", &finney, "devnet", "init"], &[]);
    assert!(
        stderr(&out).contains("embedded devnet only"),
        "{}",
        stderr(&out)
    );
    let out = node.run(&["metagraph"]);
    assert!(
        stderr(&out).contains("sn27 devnet init"),
        "{}",
        stderr(&out)
    );
}
