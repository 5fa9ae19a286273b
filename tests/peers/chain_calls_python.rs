//! Call data sn27 builds with subxt's dynamic API equals what the Python stack (scalecodec, as
//! installed with bittensor 10.5) encodes for the same metadata and arguments.
//!
//! The Python decoder reads metadata V15 only (the Python SDK asks nodes for V15 through the
//! `Metadata_metadata_at_version` runtime API), so of the three finney files only spec 343's (V15)
//! can be cross-checked; specs 365 and 393 are V16 and are covered by the Rust-side round trip.

use serde_json::json;
use sn27::chain::commit::commit_hash;
use sn27::chain::extrinsic::{RuntimeContext, SubtensorCall};
use sn27::chain::{AxonInfo, PrometheusInfo};
use sn27::keys::PublicKey;

#[test]
fn call_data_matches_python_on_every_runtime() {
    let hotkey = PublicKey::from_ss58("5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY").unwrap();
    let axon = AxonInfo::for_address("203.0.113.7".parse().unwrap(), 8091, 183);
    let prometheus = PrometheusInfo::for_address("203.0.113.8".parse().unwrap(), 7091, 221);
    let hash = commit_hash(&hotkey, 27, &[1, 2], &[65535, 100], &[7, 8], 183);
    let ours = [
        SubtensorCall::burned_register(27, &hotkey),
        SubtensorCall::serve_axon(27, &axon),
        SubtensorCall::serve_prometheus(27, &prometheus),
        SubtensorCall::set_weights(27, &[1, 2, 3], &[65535, 45875, 31129], 183),
        SubtensorCall::commit_weights(27, hash),
        SubtensorCall::reveal_weights(27, &[1, 2], &[65535, 100], &[7, 8], 183),
        SubtensorCall::commit_timelocked_weights(27, &[0xde, 0xad, 0xbe, 0xef], 27_000_123, 4),
    ];
    let theirs = json!([
        {"function": "burned_register", "args": {"netuid": 27, "hotkey": hotkey.to_ss58()}},
        {"function": "serve_axon", "args": {"netuid": 27, "version": 183, "ip": axon.ip.to_string(),
            "port": 8091, "ip_type": 4, "protocol": 4, "placeholder1": 0, "placeholder2": 0}},
        {"function": "serve_prometheus", "args": {"netuid": 27, "version": 221,
            "ip": prometheus.ip.to_string(), "port": 7091, "ip_type": 4}},
        {"function": "set_weights", "args": {"netuid": 27, "dests": [1, 2, 3],
            "weights": [65535, 45875, 31129], "version_key": 183}},
        {"function": "commit_weights", "args": {"netuid": 27, "commit_hash": format!("0x{}", hex::encode(hash))}},
        {"function": "reveal_weights", "args": {"netuid": 27, "uids": [1, 2], "values": [65535, 100],
            "salt": [7, 8], "version_key": 183}},
        {"function": "commit_timelocked_weights", "args": {"netuid": 27, "commit": "0xdeadbeef",
            "reveal_round": 27_000_123, "commit_reveal_version": 4}},
    ]);
    let dir = tempfile::tempdir().unwrap();
    let calls = dir.path().join("calls.json");
    std::fs::write(&calls, theirs.to_string()).unwrap();

    let spec = 343;
    let file = crate::support::metadata_path(spec);
    let context =
        RuntimeContext::new(&crate::support::metadata_bytes(spec), [0; 32], spec, 1).unwrap();
    let python = crate::support::python_peer("calls_peer.py", &[&file, calls.to_str().unwrap()]);
    assert_eq!(python.as_array().unwrap().len(), ours.len());
    for (call, expected) in ours.iter().zip(python.as_array().unwrap()) {
        let data = format!("0x{}", hex::encode(context.call_data(call).unwrap()));
        assert_eq!(
            data,
            expected.as_str().unwrap(),
            "spec {spec}: {}",
            call.name
        );
    }
}
