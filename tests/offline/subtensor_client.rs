//! The online subtensor client (the production one: subxt's legacy RPC backend over the
//! reconnecting websocket client) against the fake node of `support::fake_node`.

use parity_scale_codec::{Decode, Encode};
use scale_info::{TypeDef, TypeDefPrimitive};
use serde_json::Value as Json;
use sn27::chain::subtensor::Subtensor;
use sn27::chain::timelock::{self, reveal_round};
use sn27::chain::{publish_prometheus, AxonInfo, Chain, ChainError, PrometheusInfo, ServeOutcome};
use sn27::keys::Keypair;
use sn27::validator::reveal::{submit_weights, RevealStore, WeightsOutcome};
use std::time::Duration;

use crate::support::fake_node::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_decode_from_a_node_serving_real_metadata() {
    for spec in [343, 365, 393] {
        let f = fixture(spec).await;
        let chain = connect(f.addr).await;

        let status = chain.status().await.unwrap();
        assert_eq!(status.spec_version, Some(spec));
        assert_eq!(status.block, 1000);
        assert_eq!(status.block_time_ms, 12_000, "Aura.SlotDuration");
        assert_eq!(status.endpoint, format!("ws://{}", f.addr));

        let metagraph = chain.metagraph(27).await.unwrap();
        assert_eq!(metagraph.block, 1000);
        assert_eq!(metagraph.neurons.len(), 2, "spec {spec}");
        let (v, m) = (&metagraph.neurons[0], &metagraph.neurons[1]);
        // Alpha from NeuronInfoLite and get_metagraph agree; TAO and the total (alpha +
        // TaoWeight · TAO, what validator checks count) come from get_metagraph.
        let (alpha, tao, total) = VALIDATOR_STAKE;
        assert_eq!((v.uid, v.hotkey), (0, f.validator.public()));
        assert_eq!(
            (v.alpha_stake, v.tao_stake, v.stake),
            (alpha, Some(tao), total),
            "spec {spec}"
        );
        assert_eq!((m.alpha_stake, m.tao_stake, m.stake), (0, Some(0), 0));
        assert!(v.validator_permit && !m.validator_permit);
        assert_eq!(
            (v.registered_at, m.registered_at),
            (REGISTERED_AT[0], REGISTERED_AT[1]),
            "BlockAtRegistration, spec {spec}"
        );
        assert_eq!(m.hotkey, f.miner.public());
        assert_eq!(m.axon.ip_addr(), Some("10.0.0.2".parse().unwrap()));
        assert_eq!((m.axon.port, m.axon.version), (8091, 183));
        // NeuronInfoLite.prometheus_info, every field, by name.
        assert_eq!(v.prometheus, validator_prometheus(), "spec {spec}");
        assert_eq!(m.prometheus, PrometheusInfo::default());
        // The access-check view carries the version miners gate validators on.
        let snapshot = metagraph.snapshot();
        let seen = |key| snapshot.neuron(key).unwrap().prometheus_version;
        assert_eq!(
            (seen(&f.validator.public()), seen(&f.miner.public())),
            (221, 0)
        );

        let h = chain.hyperparameters(27).await.unwrap();
        assert_eq!(
            (h.tempo, h.weights_version_key, h.weights_rate_limit),
            (360, 183, 100)
        );
        assert_eq!(h.burn, 1_500_000_000, "Burn from storage");
        assert!(h.registration_allowed);
        assert!(matches!(
            chain.hyperparameters(99).await,
            Err(ChainError::NoSubnet(99))
        ));
        assert!(matches!(
            chain.metagraph(99).await,
            Err(ChainError::NoSubnet(99))
        ));
        assert!(
            matches!(chain.weights(99).await, Err(ChainError::NoSubnet(99))),
            "no weights on a subnet that does not exist is not an empty list"
        );

        // A runtime without get_metagraph: alpha stands for the total, TAO is unknown.
        f.node
            .lock()
            .unwrap()
            .apis
            .retain(|(method, _), _| method != "SubnetInfoRuntimeApi_get_metagraph");
        let alpha_only = chain.metagraph(27).await.unwrap();
        let v = &alpha_only.neurons[0];
        assert_eq!((v.alpha_stake, v.tao_stake, v.stake), (alpha, None, alpha));

        assert_eq!(
            chain.weights(27).await.unwrap(),
            vec![(0, vec![(1, 65535)])]
        );
        assert_eq!(chain.balance(&f.miner.public()).await.unwrap(), 0);
        assert_eq!(
            chain.balance(&f.validator.public()).await.unwrap(),
            42_500_000_000,
            "spec {spec}"
        );
        f.handle.stop().unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_are_signed_submitted_and_refusals_named() {
    let f = fixture(393).await;
    let chain = connect(f.addr).await;

    // serve_axon: the call as decoded by the node, then a second one with the next nonce.
    let axon = AxonInfo::for_address("203.0.113.7".parse().unwrap(), 8091, 183);
    let outcome = chain.serve_axon(&f.miner, 27, axon).await.unwrap();
    assert_eq!(outcome, ServeOutcome::Served { block: 1001 });
    f.node
        .lock()
        .unwrap()
        .verdicts
        .push_back(Some("ServingRateLimitExceeded"));
    let refused = chain.serve_axon(&f.miner, 27, axon).await.unwrap_err();
    assert_eq!(refused.dispatch_error(), Some("ServingRateLimitExceeded"));
    assert!(
        refused.to_string().contains("serving rate limit"),
        "{refused}"
    );
    {
        let node = f.node.lock().unwrap();
        let served: Vec<&Submitted> = node.submitted.iter().collect();
        assert_eq!(served.len(), 2);
        assert_eq!(served[0].call, "serve_axon");
        assert_eq!(
            served[0].args,
            vec![
                vec![27],
                vec![183],
                vec![axon.ip],
                vec![8091],
                vec![4],
                vec![4],
                vec![0],
                vec![0]
            ]
        );
        assert_eq!(
            served[0].signer,
            f.miner.public().0,
            "the hotkey signs serve_axon"
        );
        assert_eq!(
            (served[0].nonce, served[1].nonce),
            (0, 1),
            "nonce from the node"
        );
    }

    // set_weights: the validator last set weights at 995 with a 100-block limit → refused
    // before anything is sent, with the wait in blocks.
    let early = chain
        .set_weights(&f.validator, 27, &[1], &[65535], 183)
        .await
        .unwrap_err();
    assert_eq!(early.dispatch_error(), Some("SettingWeightsTooFast"));
    assert!(early.to_string().contains("wait 93 blocks"), "{early}");
    assert_eq!(
        f.node.lock().unwrap().submitted.len(),
        2,
        "nothing was sent"
    );

    // The miner (never set weights) passes the pre-check; the chain's own refusal is named.
    f.node
        .lock()
        .unwrap()
        .verdicts
        .push_back(Some("NeuronNoValidatorPermit"));
    let refused = chain
        .set_weights(&f.miner, 27, &[0, 1], &[100, 65535], 183)
        .await
        .unwrap_err();
    assert_eq!(refused.dispatch_error(), Some("NeuronNoValidatorPermit"));
    assert!(
        refused.to_string().contains("validator permit"),
        "{refused}"
    );
    let last = f.node.lock().unwrap().submitted.last().cloned().unwrap();
    assert_eq!(last.call, "set_weights");
    assert_eq!(
        last.args,
        vec![vec![27], vec![0, 1], vec![100, 65535], vec![183]]
    );

    // commit and reveal go out as the calls of the runtime.
    chain.commit_weights(&f.miner, 27, [7; 32]).await.unwrap();
    chain
        .reveal_weights(&f.miner, 27, &[1], &[65535], &[5], 183)
        .await
        .unwrap();
    let calls: Vec<String> = f
        .node
        .lock()
        .unwrap()
        .submitted
        .iter()
        .map(|s| s.call.clone())
        .collect();
    assert_eq!(&calls[3..], ["commit_weights", "reveal_weights"]);

    // burned_register: signed by the coldkey, the uid read back from storage.
    let coldkey = Keypair::from_secret_bytes(&[3; 32]).unwrap();
    let newcomer = Keypair::from_secret_bytes(&[4; 32]).unwrap().public();
    {
        let mut node = f.node.lock().unwrap();
        let key = node.runtime.storage_key(
            "SubtensorModule",
            "Uids",
            vec![
                subxt::dynamic::Value::u128(27),
                subxt::dynamic::Value::from_bytes(newcomer.0),
            ],
        );
        node.on_inclusion.push((key, 2u16.encode()));
    }
    assert_eq!(
        chain
            .burned_register(&coldkey, 27, &newcomer)
            .await
            .unwrap(),
        2
    );
    let last = f.node.lock().unwrap().submitted.last().cloned().unwrap();
    assert_eq!(
        (last.call.as_str(), last.signer),
        ("burned_register", coldkey.public().0)
    );
    f.node
        .lock()
        .unwrap()
        .verdicts
        .push_back(Some("NotEnoughBalanceToStake"));
    let poor = chain
        .burned_register(&coldkey, 27, &newcomer)
        .await
        .unwrap_err();
    assert!(
        poor.to_string().contains("does not cover the burn"),
        "{poor}"
    );
    f.handle.stop().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_is_served_by_the_hotkey_and_skipped_when_unchanged() {
    for spec in [343, 365, 393] {
        let f = fixture(spec).await;
        let chain = connect(f.addr).await;

        // What the chain holds already (version, address, port, type): nothing is sent.
        let current = validator_prometheus();
        let same = PrometheusInfo::for_address("203.0.113.1".parse().unwrap(), 8091, 221);
        assert_eq!(
            publish_prometheus(&chain, &f.validator, 27, same)
                .await
                .unwrap(),
            ServeOutcome::Unchanged,
            "spec {spec}"
        );
        assert!(f.node.lock().unwrap().submitted.is_empty());

        // A new version goes out as serve_prometheus, signed by the hotkey, with the runtime's
        // argument order.
        let newer = PrometheusInfo {
            version: 240,
            ..current
        };
        let outcome = publish_prometheus(&chain, &f.validator, 27, newer)
            .await
            .unwrap();
        assert_eq!(outcome, ServeOutcome::Served { block: 1001 });
        let v6 = PrometheusInfo::for_address("2001:db8::7".parse().unwrap(), 9100, 240);
        chain.serve_prometheus(&f.validator, 27, v6).await.unwrap();
        {
            let node = f.node.lock().unwrap();
            let sent = &node.submitted;
            assert_eq!(sent.len(), 2, "spec {spec}");
            for (s, nonce) in sent.iter().zip(0..) {
                assert_eq!(s.call, "serve_prometheus", "spec {spec}");
                assert_eq!(s.signer, f.validator.public().0, "the hotkey signs");
                assert_eq!(s.nonce, nonce);
            }
            assert_eq!(
                sent[0].args,
                [vec![27], vec![240], vec![current.ip], vec![8091], vec![4]],
                "spec {spec}: netuid, version, ip, port, ip_type"
            );
            assert_eq!(
                sent[1].args,
                [vec![27], vec![240], vec![v6.ip], vec![9100], vec![6]],
                "spec {spec}"
            );
        }

        // The chain's refusals come back by name; an unregistered hotkey is refused before
        // anything is sent.
        f.node
            .lock()
            .unwrap()
            .verdicts
            .push_back(Some("ServingRateLimitExceeded"));
        let refused = chain
            .serve_prometheus(&f.validator, 27, newer)
            .await
            .unwrap_err();
        assert_eq!(refused.dispatch_error(), Some("ServingRateLimitExceeded"));
        assert!(
            refused.to_string().starts_with(
                "serve_prometheus refused by the chain (ServingRateLimitExceeded): served too \
                 recently"
            ),
            "{refused}"
        );
        let stranger = Keypair::from_secret_bytes(&[5; 32]).unwrap();
        let unknown = publish_prometheus(&chain, &stranger, 27, newer)
            .await
            .unwrap_err();
        assert_eq!(
            unknown.dispatch_error(),
            Some("HotKeyNotRegisteredInNetwork")
        );
        assert_eq!(f.node.lock().unwrap().submitted.len(), 3);
        f.handle.stop().unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_before_inclusion_are_named_with_the_fix() {
    let f = fixture(393).await;
    let chain = connect(f.addr).await;
    let axon = AxonInfo::for_address("203.0.113.7".parse().unwrap(), 8091, 183);
    let reject = |code: i32, message: &str, data: Option<Json>| {
        f.node
            .lock()
            .unwrap()
            .rejections
            .push_back((code, message.to_string(), data));
    };

    // The runtime's custom validity code as JSON (the shape of the report) and in Substrate's
    // words, then the standard reasons.
    reject(1010, r#"{"invalid":{"custom":11}}"#, None);
    reject(
        1010,
        "Invalid Transaction",
        Some(Json::from("Custom error: 12")),
    );
    reject(
        1010,
        "Invalid Transaction",
        Some(Json::from(
            "Inability to pay some fees (e.g. account balance too low)",
        )),
    );
    reject(1010, r#"{"invalid":"stale"}"#, None);
    reject(
        1011,
        "Unknown Transaction Validity",
        Some(Json::from("CannotLookup")),
    );
    for (name, code, fix) in [
        (
            "InvalidIpAddress",
            "custom error 11",
            "set [axon] external_ip",
        ),
        (
            "ServingRateLimitExceeded",
            "custom error 12",
            "serving rate limit",
        ),
        (
            "Payment",
            "Inability to pay some fees",
            "cannot pay the transaction fee",
        ),
        (
            "Stale",
            "invalid transaction, Transaction is outdated",
            "run the command again",
        ),
        ("CannotLookup", "unknown validity", "check the account"),
    ] {
        let error = chain.serve_axon(&f.miner, 27, axon).await.unwrap_err();
        assert_eq!(error.rejection(), Some(name), "{error}");
        assert_eq!(error.dispatch_error(), None, "nothing was dispatched");
        let text = error.to_string();
        assert!(
            text.starts_with(&format!(
                "serve_axon refused by the node before inclusion ({name}: "
            )) && text.contains(code)
                && text.contains(fix)
                && text.ends_with("nothing reached the chain")
                && !text.contains("RPC error"),
            "{text}"
        );
    }
    assert!(f.node.lock().unwrap().submitted.is_empty());

    // An address validators cannot reach is refused before anything is sent.
    for ip in ["10.0.0.9", "127.0.0.1", "192.168.1.5", "::1"] {
        let private = AxonInfo::for_address(ip.parse().unwrap(), 8091, 183);
        let error = chain.serve_axon(&f.miner, 27, private).await.unwrap_err();
        let text = error.to_string();
        assert!(
            text.contains(&format!("axon address {ip} is "))
                && text.contains("external_ip")
                && text.contains("nothing was sent"),
            "{text}"
        );
    }
    assert!(f.node.lock().unwrap().submitted.is_empty());

    // No nonce was used up by any of it.
    chain.serve_axon(&f.miner, 27, axon).await.unwrap();
    assert_eq!(f.node.lock().unwrap().submitted[0].nonce, 0);
    f.handle.stop().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_axon_command_refuses_private_addresses_and_names_rejections() {
    let f = fixture(393).await;
    let cli = Cli::new(&format!("ws://{}", f.addr));
    cli.ok(&["wallet", "create", "--no-password", "--no-print-mnemonic"])
        .await;
    let shown: Json = serde_json::from_str(&cli.ok(&["wallet", "show", "--json"]).await).unwrap();
    let hotkey = sn27::keys::PublicKey::from_ss58(shown["hotkey"].as_str().unwrap()).unwrap();
    add_neuron(
        &f.node,
        2,
        &hotkey,
        &f.validator.public(),
        &f.miner.public(),
    );
    let with_ip = |ip: &str| {
        let config = std::fs::read_to_string(&cli.config).unwrap();
        let config = match config.find("[axon]") {
            Some(at) => config[..at].to_string(),
            None => config,
        };
        std::fs::write(
            &cli.config,
            format!("{config}[axon]\nexternal_ip = \"{ip}\"\nport = 8091\n"),
        )
        .unwrap();
    };

    with_ip("10.0.0.9");
    let out = cli.run(&["serve-axon"]).await;
    assert_eq!(out.status.code(), Some(1));
    // The configuration's warning, then the refusal.
    let err = crate::support::stderr(&out);
    assert!(err.starts_with("warning: "), "{err}");
    assert_eq!(
        err.lines().find(|l| !l.starts_with("warning: ")),
        Some(
            "error: axon address 10.0.0.9 is a private (RFC 1918) address, which validators on \
             the internet cannot reach; set [axon] external_ip to the public address of this \
             machine (nothing was sent)"
        ),
        "{err}"
    );
    let check = cli.run(&["config", "check"]).await;
    let warnings = crate::support::stderr(&check);
    assert!(
        check.status.success()
            && warnings.contains("axon.external_ip")
            && warnings.contains("private"),
        "{warnings}"
    );

    with_ip("203.0.113.9");
    f.node.lock().unwrap().rejections.push_back((
        1010,
        r#"{"invalid":{"custom":11}}"#.to_string(),
        None,
    ));
    let out = cli.run(&["serve-axon"]).await;
    assert_eq!(out.status.code(), Some(1));
    let err = crate::support::stderr(&out);
    assert!(
        err.starts_with(
            "error: serve_axon refused by the node before inclusion (InvalidIpAddress: invalid \
             transaction, custom error 11): the chain refuses this axon address"
        ),
        "{err}"
    );
    assert!(f.node.lock().unwrap().submitted.is_empty());
    assert!(cli
        .ok(&["serve-axon"])
        .await
        .contains("axon /ipv4/203.0.113.9:8091 (v221) published at block 1001"));
    f.handle.stop().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_runtime_upgrade_switches_metadata_and_a_dropped_node_is_reconnected() {
    let f = fixture(365).await;
    let chain = connect(f.addr).await;
    assert_eq!(chain.status().await.unwrap().spec_version, Some(365));

    // The client has taken in the node's current version (it reads the metadata again for
    // it); then the node upgrades to 393, and the client follows and signs for the new runtime.
    for _ in 0..100 {
        if f.node.lock().unwrap().metadata_reads >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    upgrade(&f.node, 393);
    let mut spec = None;
    for _ in 0..100 {
        spec = chain.status().await.unwrap().spec_version;
        if spec == Some(393) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(spec, Some(393), "metadata refreshed after the upgrade");
    chain.commit_weights(&f.miner, 27, [1; 32]).await.unwrap();
    assert_eq!(f.node.lock().unwrap().submitted.last().unwrap().spec, 393);

    // The node goes away and comes back on the same address a second later; a read made
    // while it is away waits for the reconnection (within its timeout) and then succeeds.
    f.handle.stop().unwrap();
    f.handle.stopped().await;
    let node = f.node.clone();
    let restart = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(1)).await;
        start(node, f.addr).await.0
    });
    let started = std::time::Instant::now();
    let status = chain
        .status()
        .await
        .expect("the read survives the reconnection");
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "it really waited"
    );
    assert_eq!(status.spec_version, Some(393));
    let handle = restart.await.unwrap();
    chain.commit_weights(&f.miner, 27, [2; 32]).await.unwrap();
    handle.stop().unwrap();
}

/// A port on this machine that nothing listens on.
fn closed_port() -> std::net::SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap()
}

/// `connect_within(url, 2 s)`'s error, and how long it took.
async fn connection_failure(url: &str) -> (ChainError, Duration) {
    let started = std::time::Instant::now();
    let error = Subtensor::connect_within(url, Duration::from_secs(2))
        .await
        .err()
        .expect("no node there");
    (error, started.elapsed())
}

#[tokio::test]
async fn an_unreachable_node_is_an_error_at_once_naming_the_cause() {
    use sn27::chain::ConnectFailure;

    // Nothing listens: refused, at once (not after a timeout).
    let addr = closed_port();
    let (error, took) = connection_failure(&format!("ws://{addr}")).await;
    assert!(took < Duration::from_secs(1), "{took:?}");
    assert!(
        matches!(&error, ChainError::Unreachable { cause: ConnectFailure::Refused { addr: a }, .. } if *a == addr),
        "{error:?}"
    );
    assert_eq!(
        error.to_string(),
        format!(
            "subtensor node ws://{addr}: connection refused by {addr}: nothing listens there; is \
             the node running, and are host and port right?"
        )
    );

    // A name that cannot resolve (`.invalid` never does).
    let (error, _) = connection_failure("wss://sn27-no-such-node.invalid:443").await;
    assert!(
        matches!(&error, ChainError::Unreachable { cause: ConnectFailure::Dns { host, .. }, .. } if host == "sn27-no-such-node.invalid"),
        "{error:?}"
    );

    // TCP is accepted but nothing answers the websocket handshake: a timeout, named.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let silent_addr = silent.local_addr().unwrap();
    let hold = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = silent.accept().await {
            held.push(socket);
        }
    });
    let (error, took) = connection_failure(&format!("ws://{silent_addr}")).await;
    assert!(took < Duration::from_secs(5), "{took:?}");
    assert!(
        matches!(
            &error,
            ChainError::Unreachable {
                cause: ConnectFailure::Timeout { .. },
                ..
            }
        ),
        "{error:?}"
    );
    assert!(
        error.to_string().contains("no answer within 2 s"),
        "{error}"
    );
    hold.abort();

    // wss:// to a server that speaks plain HTTP: the TLS handshake fails, and says so.
    let plain = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let plain_addr = plain.local_addr().unwrap();
    let answer = tokio::spawn(async move {
        use tokio::io::AsyncWriteExt;
        while let Ok((mut socket, _)) = plain.accept().await {
            let _ = socket
                .write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
                .await;
        }
    });
    let (error, took) = connection_failure(&format!("wss://127.0.0.1:{}", plain_addr.port())).await;
    assert!(took < Duration::from_secs(2), "{took:?}");
    assert!(
        matches!(
            &error,
            ChainError::Unreachable {
                cause: ConnectFailure::Tls { .. },
                ..
            }
        ),
        "{error:?}"
    );
    assert!(
        error
            .to_string()
            .contains("TLS handshake with 127.0.0.1 failed"),
        "{error}"
    );

    // ws:// to the same HTTP server: the websocket upgrade is refused.
    let (error, _) = connection_failure(&format!("ws://{plain_addr}")).await;
    assert!(
        matches!(
            &error,
            ChainError::Unreachable {
                cause: ConnectFailure::Handshake { .. },
                ..
            }
        ),
        "{error:?}"
    );
    answer.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_report_a_refused_connection_at_once() {
    let addr = closed_port();
    let cli = Cli::new(&format!("ws://{addr}"));
    for args in [
        &["chain", "info"][..],
        &["metagraph", "--json"],
        &["weights", "show"],
    ] {
        let started = std::time::Instant::now();
        let out = cli.run(args).await;
        assert!(started.elapsed() < Duration::from_secs(5), "{args:?}");
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        assert_eq!(
            crate::support::stderr(&out).lines().next(),
            Some(
                format!(
                    "error: subtensor node ws://{addr}: connection refused by {addr}: nothing \
                     listens there; is the node running, and are host and port right?"
                )
                .as_str()
            ),
            "{args:?}"
        );
    }
}

/// `sn27 run` (the service) started before its node: it keeps trying with backoff, logs the
/// cause once rather than at every attempt, and goes on once the node answers (here to the
/// registration check, which stops it since its hotkey is not registered).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_service_waits_for_its_node_and_logs_the_cause_once() {
    use std::io::Read;
    let f = fixture(393).await;
    f.handle.stop().unwrap();
    f.handle.clone().stopped().await;
    let cli = Cli::new(&format!("ws://{}", f.addr));
    cli.ok(&["wallet", "create", "--no-password", "--no-print-mnemonic"])
        .await;

    let mut child = crate::support::sn27_command(env!("CARGO_BIN_EXE_sn27"))
        .args(["--config", &cli.config, "--log-format", "text", "run"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let log = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let mut stderr = child.stderr.take().unwrap();
    let reader = {
        let log = log.clone();
        std::thread::spawn(move || {
            let mut buffer = [0u8; 4096];
            while let Ok(n) = stderr.read(&mut buffer) {
                if n == 0 {
                    break;
                }
                log.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buffer[..n]));
            }
        })
    };

    // Attempts at about 0, 1 and 3 s: one log line, naming the cause.
    tokio::time::sleep(Duration::from_millis(3500)).await;
    assert!(
        child.try_wait().unwrap().is_none(),
        "{}",
        log.lock().unwrap()
    );
    {
        let log = log.lock().unwrap();
        let lines: Vec<&str> = log
            .lines()
            .filter(|l| l.contains("cannot reach the subtensor node"))
            .collect();
        assert_eq!(lines.len(), 1, "{log}");
        assert!(lines[0].contains("connection refused"), "{log}");
    }

    // A service must outlive a log reader that goes away: SIGPIPE stays ignored.
    let status = std::fs::read_to_string(format!("/proc/{}/status", child.id())).unwrap();
    let ignored = status
        .lines()
        .find_map(|l| l.strip_prefix("SigIgn:"))
        .map(|mask| u64::from_str_radix(mask.trim(), 16).unwrap())
        .unwrap();
    assert_ne!(
        ignored & (1 << (13 - 1)),
        0,
        "SIGPIPE (13) not ignored: {status}"
    );

    let handle = start(f.node.clone(), f.addr).await.0;
    let status = tokio::task::spawn_blocking(move || child.wait().unwrap())
        .await
        .unwrap();
    reader.join().unwrap();
    let log = log.lock().unwrap().clone();
    assert_eq!(status.code(), Some(1), "{log}");
    assert!(log.contains("connected to the subtensor node"), "{log}");
    assert!(log.contains("is not registered on netuid 27"), "{log}");
    handle.stop().unwrap();
}

/// The `sn27` binary configured for a node at `addr` (netuid 27, a wallet directory of its
/// own); commands run on a blocking thread so the node keeps answering.
struct Cli {
    dir: tempfile::TempDir,
    config: String,
}

impl Cli {
    fn new(network: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("sn27.toml");
        std::fs::write(
            &config,
            format!(
                "role = \"miner\"\nstate_dir = \"{state}\"\n[chain]\nnetwork = \"{network}\"\n\
                 netuid = 27\n[wallet]\npath = \"{state}/wallets\"\n",
                state = dir.path().display(),
            ),
        )
        .unwrap();
        let config = config.to_string_lossy().into_owned();
        Cli { dir, config }
    }

    async fn run(&self, args: &[&str]) -> std::process::Output {
        let mut all: Vec<String> = vec!["--config".into(), self.config.clone()];
        all.extend(args.iter().map(|a| a.to_string()));
        tokio::task::spawn_blocking(move || {
            let all: Vec<&str> = all.iter().map(String::as_str).collect();
            crate::support::sn27(&all, &[])
        })
        .await
        .unwrap()
    }

    async fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args).await;
        assert!(
            out.status.success(),
            "{args:?}: {}",
            crate::support::stderr(&out)
        );
        crate::support::stdout(&out)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chain_info_and_metagraph_commands_read_a_node() {
    let f = fixture(393).await;
    let cli = Cli::new(&format!("ws://{}", f.addr));
    let info = cli.run(&["chain", "info"]).await;
    let text = crate::support::stdout(&info);
    assert!(info.status.success(), "{}", crate::support::stderr(&info));
    assert!(text.contains(&format!("ws://{}", f.addr)), "{text}");
    assert!(text.contains("spec version    393"), "{text}");
    assert!(text.contains("block           1000"), "{text}");
    assert!(text.contains("tempo           360"), "{text}");
    assert!(text.contains("burn            1.500000000 TAO"), "{text}");
    // A count of uids, then a cap on one uid's share: two lines, each saying which.
    assert!(
        text.contains("min weights     at least 1 uid per weights vector (min_allowed_weights)"),
        "{text}"
    );
    assert!(
        text.contains(
            "max weight      at most 100.00% of a weights vector on one uid (max_weights_limit 65535 of 65535)"
        ),
        "{text}"
    );
    assert!(!text.contains("min/max"), "{text}");

    let metagraph = cli.run(&["metagraph", "--json"]).await;
    assert!(
        metagraph.status.success(),
        "{}",
        crate::support::stderr(&metagraph)
    );
    let json: Json = serde_json::from_slice(&metagraph.stdout).unwrap();
    assert_eq!(json["neurons"][1]["hotkey"], f.miner.public().to_ss58());
    assert_eq!(json["neurons"][1]["axon"]["port"], 8091);
    assert_eq!(json["neurons"][0]["registered_at"], REGISTERED_AT[0]);
    assert_eq!(json["neurons"][1]["registered_at"], REGISTERED_AT[1]);
    let (alpha, tao, total) = VALIDATOR_STAKE;
    assert_eq!(json["neurons"][0]["alpha_stake"], alpha);
    assert_eq!(json["neurons"][0]["tao_stake"], tao);
    assert_eq!(json["neurons"][0]["total_stake"], total);
    let prometheus = validator_prometheus();
    assert_eq!(
        json["neurons"][0]["prometheus"],
        serde_json::json!({"block": 990, "version": 221, "ip": prometheus.ip,
            "port": 8091, "ip_type": 4})
    );
    assert_eq!(json["neurons"][1]["prometheus"]["version"], 0);
    let table = cli.run(&["metagraph"]).await;
    let text = crate::support::stdout(&table);
    assert!(
        text.contains("stake (alpha)") && !text.contains("(TAO)"),
        "{text}"
    );
    let rows: Vec<&str> = text.lines().skip(2).collect();
    assert!(rows[0].contains("  prometheus  axon"), "{text}");
    assert!(rows[1].contains("  v221  not serving"), "{text}");
    assert!(rows[2].contains("  -  /ipv4/10.0.0.2:8091"), "{text}");
    assert!(text.contains("5180.000"), "the total: {text}");
    f.handle.stop().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn register_checks_the_coldkey_balance_before_sending() {
    let f = fixture(393).await;
    let cli = Cli::new(&format!("ws://{}", f.addr));
    cli.ok(&["wallet", "create", "--no-password", "--no-print-mnemonic"])
        .await;
    let shown: Json = serde_json::from_str(&cli.ok(&["wallet", "show", "--json"]).await).unwrap();
    let key = |role: &str| sn27::keys::PublicKey::from_ss58(shown[role].as_str().unwrap()).unwrap();
    let (coldkey, hotkey) = (key("coldkey"), key("hotkey"));
    let fund = |rao: u128| {
        let mut node = f.node.lock().unwrap();
        let (key, value) = account(&node.runtime, &coldkey, rao);
        node.storage.insert(key, value);
    };

    // The burn is 1.5 TAO: with nothing, then 1 TAO free, the command says what is missing
    // and sends nothing (no nonce used, no fee).
    for (free, missing) in [(0, "1.500000000"), (1_000_000_000, "0.500000000")] {
        fund(free);
        let out = cli.run(&["register", "--yes"]).await;
        assert_eq!(out.status.code(), Some(1));
        let err = crate::support::stderr(&out);
        assert_eq!(
            err.lines().next(),
            Some(
                format!(
                    "error: coldkey {coldkey} has {:.9} TAO free but the burn is 1.500000000 TAO: \
                     {missing} TAO missing; nothing was sent",
                    free as f64 / 1e9
                )
                .as_str()
            ),
            "{err}"
        );
        assert!(f.node.lock().unwrap().submitted.is_empty());
    }

    // Enough free balance; the burn can still rise before the extrinsic lands, and the
    // chain's refusal is reported by name.
    fund(2_000_000_000);
    f.node
        .lock()
        .unwrap()
        .verdicts
        .push_back(Some("NotEnoughBalanceToStake"));
    let out = cli.run(&["register", "--yes"]).await;
    assert_eq!(out.status.code(), Some(1));
    let err = crate::support::stderr(&out);
    assert!(
        err.starts_with("error: burned_register refused by the chain (NotEnoughBalanceToStake)"),
        "{err}"
    );
    {
        let mut node = f.node.lock().unwrap();
        assert_eq!(node.submitted.len(), 1);
        let key = node.runtime.storage_key(
            "SubtensorModule",
            "Uids",
            vec![
                subxt::dynamic::Value::u128(27),
                subxt::dynamic::Value::from_bytes(hotkey.0),
            ],
        );
        node.on_inclusion.push((key, 2u16.encode()));
    }
    let out = cli.ok(&["register", "--yes"]).await;
    assert!(out.contains("registered: uid 2 on netuid 27"), "{out}");
    let sent = f.node.lock().unwrap().submitted.last().cloned().unwrap();
    assert_eq!(
        (sent.call.as_str(), sent.signer),
        ("burned_register", coldkey.0)
    );
    drop(cli.dir);
    f.handle.stop().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commit_reveal_subnets_get_timelocked_commits() {
    let f = fixture(393).await;
    {
        let mut node = f.node.lock().unwrap();
        let answer = hyperparams(&node.runtime, 100, true);
        node.apis.insert(
            (
                "SubnetInfoRuntimeApi_get_subnet_hyperparams_v2".to_string(),
                27u16.encode(),
            ),
            answer,
        );
        let net = || vec![subxt::dynamic::Value::u128(27)];
        for (entry, keys, value) in [
            ("Tempo", net(), 360u16.encode()),
            ("RevealPeriodEpochs", net(), 1u64.encode()),
            ("CommitRevealWeightsVersion", vec![], 4u16.encode()),
        ] {
            let key = node.runtime.storage_key("SubtensorModule", entry, keys);
            node.storage.insert(key, value);
        }
    }
    let chain = connect(f.addr).await;
    let dir = tempfile::tempdir().unwrap();
    let store = RevealStore::new(dir.path().join("reveals.json"));
    let before = unix_now();
    let outcome = submit_weights(&chain, &store, &f.validator, 27, &[1], &[65535], 183)
        .await
        .unwrap();
    let after = unix_now();
    let WeightsOutcome::Timelocked {
        reveal_round: round,
    } = outcome
    else {
        panic!("expected a timelocked commit, got {outcome:?}");
    };
    // spec 393 has no stateful epoch storage: epochs of tempo + 1 blocks offset by netuid + 1.
    // A commit in block 1001 is in epoch (1001 + 28) / 361 = 2; epoch 3 starts at 1055.
    let expected = reveal_round(1055, 1000, before, 12.0)..=reveal_round(1055, 1000, after, 12.0);
    assert!(expected.contains(&round), "{round} not in {expected:?}");

    let sent = f.node.lock().unwrap().submitted.last().cloned().unwrap();
    assert_eq!(sent.call, "commit_timelocked_weights");
    assert_eq!(sent.signer, f.validator.public().0);
    assert_eq!(sent.args[0], vec![27]);
    assert_eq!(sent.args[2], vec![u128::from(round)]);
    assert_eq!(sent.args[3], vec![4], "CommitRevealWeightsVersion");
    let commit: Vec<u8> = sent.args[1].iter().map(|&b| b as u8).collect();
    // A real ciphertext for a future round: it parses, and round 1000's beacon cannot open it.
    let signature = hex::decode(
        "b44679b9a59af2ec876b1a6b1ad52ea9b1615fc3982b19576350f93447cb1125e342b73a8dd2bacbe47e4b6b63ed5e39",
    )
    .unwrap();
    assert!(matches!(
        timelock::decrypt(&commit, &signature),
        Err(timelock::TimelockError::WrongSignature)
    ));
    assert!(
        store.load().unwrap().is_empty(),
        "nothing to reveal by hand"
    );
    f.handle.stop().unwrap();
}

fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

/// Spec 343's metadata with one more signed extension that carries a `u32`, which subxt's
/// standard set cannot fill.
fn metadata_with_unknown_extension() -> Vec<u8> {
    use frame_metadata::{RuntimeMetadata, RuntimeMetadataPrefixed};
    let mut prefixed =
        RuntimeMetadataPrefixed::decode(&mut &crate::support::metadata_bytes(343)[..]).unwrap();
    let RuntimeMetadata::V15(v15) = &mut prefixed.1 else {
        panic!("spec 343 is V15");
    };
    let find = |wanted: &dyn Fn(&TypeDef<scale_info::form::PortableForm>) -> bool| {
        v15.types
            .types
            .iter()
            .find(|t| wanted(&t.ty.type_def))
            .map(|t| t.id)
            .unwrap()
    };
    let u32_id = find(&|d| matches!(d, TypeDef::Primitive(TypeDefPrimitive::U32)));
    let unit_id = find(&|d| matches!(d, TypeDef::Tuple(t) if t.fields.is_empty()));
    v15.extrinsic
        .signed_extensions
        .push(frame_metadata::v15::SignedExtensionMetadata {
            identifier: "SurpriseExtension".into(),
            ty: u32_id.into(),
            additional_signed: unit_id.into(),
        });
    prefixed.encode()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_extension_sn27_cannot_fill_refuses_the_connection_by_name() {
    let f = fixture(343).await;
    f.node.lock().unwrap().runtime = Runtime::from_bytes(343, metadata_with_unknown_extension());
    let error = Subtensor::connect_within(&format!("ws://{}", f.addr), Duration::from_secs(10))
        .await
        .err()
        .expect("refused");
    let text = error.to_string();
    assert!(
        text.contains("SurpriseExtension") && text.contains("cannot sign"),
        "{text}"
    );
    assert!(f.node.lock().unwrap().submitted.is_empty(), "nothing sent");
    f.handle.stop().unwrap();
}
