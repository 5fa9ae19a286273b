//! Our dendrite against our axon over real sockets: the pipeline's answers and its hardening.

use std::time::Duration;

use crate::support::{http_post, neuron, raw_http, start_miner_axon};
use sn27::axon::Limits;
use sn27::config::MinerConfig;
use sn27::dendrite::{Dendrite, Target};
use sn27::keys::Keypair;
use sn27::protocol::{Allocate, Challenge, Specs};

const TIMEOUT: Duration = Duration::from_secs(10);

struct Setup {
    axon: crate::support::RunningAxon,
    validator: std::sync::Arc<Dendrite>,
    target: Target,
}

async fn setup(limits: Limits) -> Setup {
    let validator_key = Keypair::generate(12).unwrap();
    let neurons = vec![neuron(0, &validator_key.ss58(), 5000.0, true)];
    let axon = start_miner_axon(MinerConfig::default(), neurons, limits).await;
    let target = Target {
        addr: axon.addr,
        hotkey: axon.hotkey.to_ss58(),
    };
    Setup {
        axon,
        validator: Dendrite::new(validator_key),
        target,
    }
}

#[tokio::test]
async fn allocate_check_round_trips() {
    let s = setup(Limits::default()).await;
    let request = Allocate {
        timeline: 1,
        checking: true,
        ..Allocate::default()
    };
    let reply = s.validator.call(&s.target, request, TIMEOUT).await;
    assert_eq!(reply.status_code, 200, "{}", reply.status_message);
    assert_eq!(reply.synapse.fields.output["status"], true);
    assert_eq!(reply.synapse.fields.output["port"], 4444);
    assert_eq!(
        reply.synapse.axon.status_message.as_deref(),
        Some("Success")
    );

    // Challenge is attached and returned unchanged.
    let challenge = Challenge {
        challenge_hash: "h".into(),
        challenge_difficulty: 9,
        ..Challenge::default()
    };
    let reply = s
        .validator
        .call(&s.target, challenge.clone(), TIMEOUT)
        .await;
    assert_eq!(reply.status_code, 200);
    assert_eq!(reply.synapse.fields, challenge);

    // Specs is not served by miners.
    let reply = s.validator.call(&s.target, Specs::default(), TIMEOUT).await;
    assert_eq!(reply.status_code, 404);
    assert_eq!(
        reply.status_message,
        "Synapse name 'Specs' not found. Available synapses ['Synapse', 'Allocate', 'Challenge']"
    );
}

#[tokio::test]
async fn fan_out_keeps_order_and_nonces_stay_valid_under_concurrency() {
    let s = setup(Limits::default()).await;
    let targets = vec![s.target.clone(); 40];
    let replies = s
        .validator
        .call_many(
            &targets,
            Allocate {
                timeline: 1,
                ..Allocate::default()
            },
            TIMEOUT,
            8,
        )
        .await;
    assert_eq!(replies.len(), 40);
    for reply in replies {
        assert_eq!(reply.status_code, 200, "{}", reply.status_message);
    }
}

#[tokio::test]
async fn unregistered_caller_is_forbidden() {
    let s = setup(Limits::default()).await;
    let stranger = Dendrite::new(Keypair::generate(12).unwrap());
    let reply = stranger.call(&s.target, Allocate::default(), TIMEOUT).await;
    assert_eq!(reply.status_code, 403);
    assert!(
        reply
            .status_message
            .starts_with("Forbidden. Key is blacklisted: hotkey")
            && reply
                .status_message
                .contains("is not registered on netuid 27"),
        "{}",
        reply.status_message
    );
    assert!(reply.synapse.fields.output.is_empty());
}

#[tokio::test]
async fn replayed_and_tampered_requests_are_not_verified() {
    let s = setup(Limits::default()).await;
    let nonce = s.validator.next_nonce();
    let (synapse, hash) = s
        .validator
        .prepare(&s.target, Allocate::default(), TIMEOUT, nonce);
    let body = serde_json::to_vec(&synapse).unwrap();
    let request = http_post("Allocate", &synapse.to_headers(&hash), &body);
    let addr = s.axon.addr;
    let (first, _) = tokio::task::spawn_blocking(move || raw_http(addr, &request))
        .await
        .unwrap();
    assert_eq!(first, 200);
    let request = http_post("Allocate", &synapse.to_headers(&hash), &body);
    let (again, text) = tokio::task::spawn_blocking(move || raw_http(addr, &request))
        .await
        .unwrap();
    assert_eq!(again, 401, "{text}");
    assert!(
        text.contains("Nonce is too old, a newer one was last processed"),
        "{text}"
    );

    // A signature made for another axon does not verify here.
    let elsewhere = Target {
        hotkey: Keypair::generate(12).unwrap().ss58(),
        ..s.target.clone()
    };
    let (mut synapse, hash) = s.validator.prepare(
        &elsewhere,
        Allocate::default(),
        TIMEOUT,
        s.validator.next_nonce(),
    );
    synapse.axon.hotkey = Some(s.target.hotkey.clone());
    let request = http_post(
        "Allocate",
        &synapse.to_headers(&hash),
        &serde_json::to_vec(&synapse).unwrap(),
    );
    let (code, text) = tokio::task::spawn_blocking(move || raw_http(addr, &request))
        .await
        .unwrap();
    assert_eq!(code, 401, "{text}");
    assert!(text.contains("Signature mismatch"), "{text}");
}

#[tokio::test]
async fn malformed_requests_get_http_errors_and_the_server_survives() {
    let s = setup(Limits {
        max_body_bytes: 4096,
        header_read_timeout: Duration::from_millis(500),
        ..Limits::default()
    })
    .await;
    let addr = s.axon.addr;
    let valid = |dendrite: &Dendrite, body: Option<Vec<u8>>| {
        let (synapse, hash) = dendrite.prepare(
            &s.target,
            Allocate::default(),
            TIMEOUT,
            dendrite.next_nonce(),
        );
        let body = body.unwrap_or_else(|| serde_json::to_vec(&synapse).unwrap());
        http_post("Allocate", &synapse.to_headers(&hash), &body)
    };
    let cases: Vec<(&str, Vec<u8>, u16)> = vec![
        ("garbage", b"\x00\x01 not http at all\r\n\r\n".to_vec(), 400),
        ("no hotkey", http_post("Allocate", &[], b"{}"), 401),
        (
            "bad nonce header",
            http_post(
                "Allocate",
                &[("bt_header_dendrite_nonce".into(), "yesterday".into())],
                b"{}",
            ),
            500,
        ),
        (
            "wrong body type",
            valid(&s.validator, Some(br#"{"timeline": "x"}"#.to_vec())),
            500,
        ),
        ("not json", valid(&s.validator, Some(b"{{{{".to_vec())), 500),
        (
            "too large",
            valid(&s.validator, Some(vec![b' '; 10_000])),
            413,
        ),
        (
            "hash header changed after signing",
            {
                let (synapse, _) = s.validator.prepare(
                    &s.target,
                    Allocate::default(),
                    TIMEOUT,
                    s.validator.next_nonce(),
                );
                http_post("Allocate", &synapse.to_headers(&"00".repeat(32)), b"{}")
            },
            401,
        ),
    ];
    for (name, request, expected) in cases {
        let (code, text) = tokio::task::spawn_blocking(move || raw_http(addr, &request))
            .await
            .unwrap();
        assert_eq!(code, expected, "{name}: {text}");
    }

    // A client that never finishes its headers is dropped.
    let slow = tokio::task::spawn_blocking(move || {
        use std::io::{Read, Write};
        let mut stream = std::net::TcpStream::connect(addr).unwrap();
        stream
            .write_all(b"POST /Allocate HTTP/1.1\r\nHost: x\r\n")
            .unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let started = std::time::Instant::now();
        let mut buf = Vec::new();
        let _ = stream.read_to_end(&mut buf);
        started.elapsed()
    })
    .await
    .unwrap();
    assert!(
        slow < Duration::from_secs(4),
        "slow client held for {slow:?}"
    );

    // Still serving.
    let reply = s
        .validator
        .call(
            &s.target,
            Allocate {
                timeline: 1,
                ..Allocate::default()
            },
            TIMEOUT,
        )
        .await;
    assert_eq!(reply.status_code, 200, "{}", reply.status_message);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn query_command_prints_the_answer() {
    let dir = tempfile::tempdir().unwrap();
    let key = Keypair::generate(12).unwrap();
    sn27::wallet::Wallet::new(dir.path(), "w", "h")
        .unwrap()
        .store_keypair(sn27::wallet::KeyRole::Hotkey, &key, None, false)
        .unwrap();
    let axon = start_miner_axon(
        MinerConfig::default(),
        vec![neuron(0, &key.ss58(), 20_000.0, false)],
        Limits::default(),
    )
    .await;
    let (addr, hotkey) = (axon.addr.to_string(), axon.hotkey.to_ss58());
    let path = dir.path().to_str().unwrap().to_string();
    let query = move |synapse: &str, json: &str| {
        crate::support::sn27(
            &[
                "query", &addr, &hotkey, synapse, "--json", json, "--path", &path, "--name", "w",
                "--hotkey", "h",
            ],
            &[],
        )
    };
    let out = tokio::task::spawn_blocking({
        let query = query.clone();
        move || query("Allocate", r#"{"timeline": 1, "checking": true}"#)
    })
    .await
    .unwrap();
    assert!(out.status.success(), "{}", crate::support::stderr(&out));
    let printed: serde_json::Value = serde_json::from_str(&crate::support::stdout(&out)).unwrap();
    assert_eq!(printed["status_code"], 200);
    assert_eq!(
        printed["output"],
        serde_json::json!({"status": true, "port": 4444})
    );

    let out = tokio::task::spawn_blocking(move || query("Specs", "{}"))
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let printed: serde_json::Value = serde_json::from_str(&crate::support::stdout(&out)).unwrap();
    assert_eq!(printed["status_code"], 404);
}
