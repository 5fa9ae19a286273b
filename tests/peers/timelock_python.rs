//! Timelocked weight commits against the Python SDK's timelock library (bittensor-drand 2.0.0,
//! pinned in `tests/python/requirements.txt`), with drand quicknet's real, published beacon
//! signature for round 1000: what sn27 encrypts, Python opens; what Python encrypts, sn27
//! opens; and the reveal round sn27 predicts from a subnet's epoch state is the SDK's.

use parity_scale_codec::{Decode, Encode};
use rand::Rng;
use sn27::chain::timelock::{
    decrypt, encrypt, reveal_block, reveal_round, weights_commit, EpochSchedule, TimelockError,
    WeightsTlockPayload,
};
use sn27::keys::PublicKey;

/// quicknet's published beacon for round 1000 (public data).
const ROUND_1000_SIGNATURE: &str = "b44679b9a59af2ec876b1a6b1ad52ea9b1615fc3982b19576350f93447cb1125e342b73a8dd2bacbe47e4b6b63ed5e39";

#[test]
fn sn27_commits_open_in_python_and_python_ciphertexts_open_in_sn27() {
    let signature = hex::decode(ROUND_1000_SIGNATURE).unwrap();
    let hotkey = PublicKey([7; 32]);
    let commit = weights_commit(&hotkey, &[0, 3, 9], &[65535, 120, 7], 183, 1000).unwrap();
    let opened = crate::support::python_peer(
        "drand_peer.py",
        &[
            "decrypt",
            &hex::encode(&commit),
            "1000",
            ROUND_1000_SIGNATURE,
        ],
    );
    let plain = hex::decode(opened["plain"].as_str().unwrap()).unwrap();
    let payload = WeightsTlockPayload::decode(&mut &plain[..]).unwrap();
    assert_eq!(
        payload,
        WeightsTlockPayload {
            hotkey: vec![7; 32],
            uids: vec![0, 3, 9],
            values: vec![65535, 120, 7],
            version_key: 183,
        }
    );
    // The layout the chain decodes: hotkey as Vec<u8> (compact 32 = 0x80).
    assert_eq!(plain[0], 0x80);

    let message = b"opened by the beacon of round 1000".to_vec();
    let sealed = crate::support::python_peer(
        "drand_peer.py",
        &["encrypt", &hex::encode(&message), "1000"],
    );
    let raw = hex::decode(sealed["raw"].as_str().unwrap()).unwrap();
    assert_eq!(decrypt(&raw, &signature).unwrap(), message);
    // Flip a bit of the AES-GCM tag (before nonce length, nonce, suite length and suite).
    let mut tampered = raw.clone();
    let at = tampered.len() - (8 + 12 + 8 + 8) - 1;
    tampered[at] ^= 1;
    assert!(decrypt(&tampered, &signature).is_err());
    // And sn27's own encryption of the same message opens with the same signature.
    assert_eq!(
        decrypt(&encrypt(&message, 1000).unwrap(), &signature).unwrap(),
        message
    );
}

#[test]
fn reveal_rounds_match_the_sdk_on_random_epoch_states() {
    let mut rng = rand::thread_rng();
    let hotkey = PublicKey([3; 32]);
    let mut states = Vec::new();
    for _ in 0..40 {
        let tempo: u16 = *[10u16, 99, 360].get(rng.gen_range(0..3)).unwrap();
        let block: u64 = rng.gen_range(100_000..6_000_000);
        let since_epoch = rng.gen_range(0..u64::from(tempo) + 5);
        let pending = if rng.gen_bool(0.3) {
            block + rng.gen_range(1..u64::from(tempo) + 3)
        } else {
            0
        };
        states.push((
            EpochSchedule {
                last_epoch_block: block - since_epoch.min(block),
                pending_epoch_at: pending,
                epoch_index: rng.gen_range(0..50_000),
                tempo,
                blocks_since_last_step: if rng.gen_bool(0.1) {
                    50_401
                } else {
                    since_epoch
                },
                block,
            },
            rng.gen_range(1..4u64),
            if rng.gen_bool(0.5) { 12.0 } else { 0.25 },
        ));
    }
    let request: Vec<serde_json::Value> = states
        .iter()
        .map(|(s, period, block_time)| {
            serde_json::json!({
                "uids": [1, 2], "values": [65535, 10], "version_key": 183,
                "last_epoch_block": s.last_epoch_block, "pending_epoch_at": s.pending_epoch_at,
                "epoch_index": s.epoch_index, "tempo": s.tempo,
                "blocks_since_last_step": s.blocks_since_last_step, "block": s.block,
                "reveal_period": period, "block_time": block_time,
                "hotkey": hex::encode(hotkey.0),
            })
        })
        .collect();
    let answer = crate::support::python_peer(
        "drand_peer.py",
        &["commit", &serde_json::Value::Array(request).to_string()],
    );
    let before = answer["before"].as_f64().unwrap();
    let after = answer["after"].as_f64().unwrap();
    let signature = hex::decode(ROUND_1000_SIGNATURE).unwrap();
    for ((state, period, block_time), commit) in
        states.iter().zip(answer["commits"].as_array().unwrap())
    {
        let target = reveal_block(*state, *period).expect("tempo is not 0");
        let earliest = reveal_round(target, state.block, before, *block_time);
        let latest = reveal_round(target, state.block, after, *block_time);
        let theirs = commit["round"].as_u64().unwrap();
        assert!(
            (earliest..=latest).contains(&theirs),
            "{state:?} period {period}: SDK round {theirs}, sn27 {earliest}..={latest} \
             (reveal block {target})"
        );
        // Their commit has the layout sn27 writes: it parses, and only the wrong round's
        // signature stops it from opening.
        let bytes = hex::decode(commit["commit"].as_str().unwrap()).unwrap();
        assert!(matches!(
            decrypt(&bytes, &signature),
            Err(TimelockError::WrongSignature)
        ));
    }
    // The payload encoding is the chain's struct.
    let payload = WeightsTlockPayload {
        hotkey: hotkey.0.to_vec(),
        uids: vec![1],
        values: vec![2],
        version_key: 3,
    };
    assert_eq!(payload.encode().len(), 1 + 32 + 1 + 2 + 1 + 2 + 8);
}
