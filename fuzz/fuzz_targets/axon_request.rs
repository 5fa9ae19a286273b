//! Fuzzes everything an axon does with bytes from a peer: header parsing, body decoding, the
//! body hash, re-encoding, and the whole request pipeline up to the forward function.
//!
//! Input layout: header lines `name: value` separated by `\n`, a blank line, then the body.

#![no_main]

use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use http_body_util::Full;
use libfuzzer_sys::fuzz_target;
use sn27::axon::{Axon, Caller, Limits};
use sn27::miner::policy::MinerAccessPolicy;
use sn27::config::MinerConfig;
use sn27::metagraph::{MetagraphSnapshot, Neuron, SharedMetagraph};
use sn27::protocol::{body_hash, python_str, Allocate, Challenge, RequestHeaders, Synapse};
use sn27::keys::Keypair;

/// A caller registered on the fuzzed axon, so inputs can reach verification.
const CALLER_SEED: [u8; 32] = [7; 32];

fn axon() -> &'static (tokio::runtime::Runtime, Arc<Axon>) {
    static AXON: OnceLock<(tokio::runtime::Runtime, Arc<Axon>)> = OnceLock::new();
    AXON.get_or_init(|| {
        let caller = Keypair::from_secret_bytes(&CALLER_SEED).unwrap().public();
        let metagraph = SharedMetagraph::new(MetagraphSnapshot::new(
            27,
            1,
            [Neuron { uid: 0, hotkey: caller, coldkey: caller, stake: 5000.0, validator_permit: true, prometheus_version: 0 }],
        ));
        let policy = MinerAccessPolicy::new(&MinerConfig::default(), Arc::new(metagraph)).unwrap();
        let server = Keypair::from_secret_bytes(&[9; 32]).unwrap().public();
        let axon = Axon::new(server, Arc::new(policy), Limits::default())
            .attach(|synapse: Synapse<Allocate>, _caller: Caller| async move { synapse })
            .attach(|synapse: Synapse<Challenge>, _caller: Caller| async move { synapse });
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        (runtime, Arc::new(axon))
    })
}

fn round_trip<T>(body: &[u8])
where
    T: sn27::protocol::SynapseFields,
{
    if let Ok(synapse) = serde_json::from_slice::<Synapse<T>>(body) {
        let hash = body_hash(&synapse.fields_json(), T::HASH_FIELDS);
        let headers = synapse.to_headers(&hash);
        let reparsed = RequestHeaders::parse(headers.iter().map(|(n, v)| (n.as_str(), v.as_bytes())))
            .expect("headers we write parse back");
        assert_eq!(reparsed.dendrite.nonce, synapse.dendrite.nonce);
        let text = serde_json::to_string(&synapse).unwrap();
        let again: Synapse<T> = serde_json::from_str(&text).expect("bodies we write parse back");
        assert_eq!(serde_json::to_string(&again).unwrap(), text);
        for value in synapse.fields_json().values() {
            let _ = python_str(value);
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let split = data.windows(2).position(|w| w == b"\n\n");
    let (head, body) = match split {
        Some(at) => (&data[..at], &data[at + 2..]),
        None => (data, &[][..]),
    };
    let mut pairs = Vec::new();
    let mut path = "Allocate".to_string();
    for line in head.split(|b| *b == b'\n') {
        let Some(colon) = line.iter().position(|b| *b == b':') else { continue };
        let (name, value) = (&line[..colon], &line[colon + 1..]);
        let value = value.strip_prefix(b" ").unwrap_or(value);
        if name == b"path" {
            path = String::from_utf8_lossy(value).into_owned();
            continue;
        }
        if let Ok(name) = std::str::from_utf8(name) {
            pairs.push((name.to_ascii_lowercase(), value.to_vec()));
        }
    }
    let _ = RequestHeaders::parse(pairs.iter().map(|(n, v)| (n.as_str(), v.as_slice())));
    round_trip::<Allocate>(body);
    round_trip::<Challenge>(body);

    // The whole pipeline, with whatever headers hyper would accept.
    let mut request = hyper::Request::builder().method("POST");
    let uri = format!("/{}", path.replace(|c: char| !c.is_ascii_alphanumeric(), ""));
    request = request.uri(uri);
    for (name, value) in &pairs {
        if let (Ok(name), Ok(value)) = (
            hyper::header::HeaderName::from_bytes(name.as_bytes()),
            hyper::header::HeaderValue::from_bytes(value),
        ) {
            request = request.header(name, value);
        }
    }
    if let Ok(request) = request.body(Full::new(Bytes::copy_from_slice(body))) {
        let (runtime, axon) = axon();
        let response = runtime.block_on(axon.handle(request, None));
        assert!(
            [200, 400, 401, 403, 404, 408, 413, 500, 503].contains(&response.status().as_u16()),
            "unexpected status {}",
            response.status()
        );
    }
});
