//! Weight normalisation, u16 conversion and commit hashes against the Python SDK
//! (bittensor 10.5.0 `weight_utils`, numpy float32) on random score vectors.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};
use sn27::chain::commit::commit_hash;
use sn27::keys::Keypair;
use sn27::validator::weights;

#[test]
fn rust_and_python_agree_on_random_vectors() {
    let mut rng = StdRng::seed_from_u64(27);
    let hotkey = Keypair::generate(12).unwrap().public();
    let mut cases = Vec::new();
    for case in 0..200 {
        let len = match case % 4 {
            0 => rng.gen_range(1..8),
            1 => rng.gen_range(8..129),
            _ => rng.gen_range(129..300),
        };
        let scores: Vec<f64> = (0..len)
            .map(|_| match rng.gen_range(0..10) {
                0..=3 => 0.0,
                4 => -rng.gen::<f64>(),
                // Repeated values produce exact ties at the maximum and elsewhere.
                5 => 0.125,
                6 => 0.0875,
                _ => rng.gen::<f64>() * 4.0,
            })
            .collect();
        let salt: Vec<u16> = (0..8).map(|_| rng.gen()).collect();
        cases.push(json!({
            "scores": scores,
            "hotkey": hotkey.to_ss58(),
            "netuid": 27,
            "salt": salt,
            "version_key": 183,
        }));
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("cases.json");
    std::fs::write(&file, serde_json::to_vec(&cases).unwrap()).unwrap();
    let python = crate::support::python_peer("weights_peer.py", &[file.to_str().unwrap()]);

    for (i, (case, expected)) in cases.iter().zip(python.as_array().unwrap()).enumerate() {
        let scores: Vec<f64> = serde_json::from_value(case["scores"].clone()).unwrap();
        let normalized = weights::normalize(&scores);
        let bits: Vec<u32> = normalized.iter().map(|w| w.to_bits()).collect();
        let expected_bits: Vec<u32> =
            serde_json::from_value(expected["normalized_bits"].clone()).unwrap();
        assert_eq!(
            bits, expected_bits,
            "case {i}: float32 normalisation differs"
        );

        let uids: Vec<u16> = (0..scores.len() as u16).collect();
        let (dests, values) = weights::to_u16(&uids, &normalized).unwrap();
        assert_eq!(json!(dests), expected["dests"], "case {i}");
        assert_eq!(json!(values), expected["values"], "case {i}");

        let salt: Vec<u16> = serde_json::from_value(case["salt"].clone()).unwrap();
        let hash = commit_hash(&hotkey, 27, &dests, &values, &salt, 183);
        assert_eq!(
            Value::String(format!("0x{}", hex::encode(hash))),
            expected["commit"],
            "case {i}: commit hash differs"
        );
    }
}
