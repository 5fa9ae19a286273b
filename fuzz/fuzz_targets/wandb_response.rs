//! Fuzzes what the validator reads from W&B: the client's answer handling (status, JSON,
//! GraphQL `errors` and `data`), the `Runs` pages and the `Run` answer (`wandb::RunRecord`,
//! the stored config unwrapped), then the judging of `validator::wandb_inputs`: miners'
//! specs runs (hotkey, signature, specs) and the penalty list of one signed run. Everything
//! goes through the public entry points (`miner_runs`, `penalty_list`, `upsert_run`) against
//! a local peer that answers with the fuzzed bodies.
//!
//! Input layout: the first byte selects the read (`b % 3`: `0` the miners' runs, `1` the
//! penalty list, `2` the `UpsertBucket` answer a miner reads; the seeds use those digits);
//! the rest is one answer per request, separated by a blank line (`\n\n`). An answer that
//! starts with `HTTP/` is sent as it is; any other is sent as the body of a `200` JSON
//! response. Requests after the last answer find the connection closed.
//!
//! The penalty validator is the sr25519 key of the 32-byte seed `[9; 32]`
//! (`5ETmuXSyBiDHwabzdAxmbyj1A25asAmNXm5gtzf7edxxQYaq`); the seeds' runs are signed with it
//! and with the miner key of seed `[7; 32]`.

#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use serde_json::{json, Map};
use sn27::keys::Keypair;
use sn27::validator::wandb_inputs::{miner_runs, penalty_list, WandbInputs, READS_KEPT};
use sn27::wandb::{RunPath, WandbClient};
use sn27_fuzz::{json_response, ScriptedPeer};

struct Harness {
    runtime: tokio::runtime::Runtime,
    peer: ScriptedPeer,
    client: WandbClient,
    validator: String,
}

fn harness() -> &'static Harness {
    static HARNESS: OnceLock<Harness> = OnceLock::new();
    HARNESS.get_or_init(|| {
        let (runtime, peer) = ScriptedPeer::with_runtime();
        let client = WandbClient::new(&format!("http://{}", peer.addr()), "fuzz-api-key")
            .expect("a plain http address is accepted");
        let validator = Keypair::from_secret_bytes(&[9; 32])
            .expect("a 32-byte seed")
            .ss58();
        Harness {
            runtime,
            peer,
            client,
            validator,
        }
    })
}

/// Splits the input into the answers, in request order.
fn answers(data: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut rest = data;
    loop {
        let (part, next) = match rest.windows(2).position(|w| w == b"\n\n") {
            Some(at) => (&rest[..at], Some(&rest[at + 2..])),
            None => (rest, None),
        };
        out.push(if part.starts_with(b"HTTP/") {
            part.to_vec()
        } else {
            json_response(part)
        });
        match next {
            Some(next) => rest = next,
            None => return out,
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&read, rest)) = data.split_first() else {
        return;
    };
    let harness = harness();
    harness.peer.script(answers(rest));
    let client = &harness.client;
    match read % 3 {
        0 => {
            let runs =
                harness
                    .runtime
                    .block_on(miner_runs(client, "neuralinternet", "opencompute", 27));
            if let Ok(runs) = runs {
                let mut inputs = WandbInputs::default();
                for _ in 0..=READS_KEPT {
                    inputs.record_specs(&runs);
                }
                assert_eq!(inputs.specs_reads.len(), READS_KEPT);
                for run in &runs {
                    assert!(!run.run_id.is_empty(), "a run without a name is refused");
                    if let Some(hotkey) = &run.hotkey {
                        assert_eq!(inputs.zeroes(hotkey).is_none(), {
                            runs.iter()
                                .any(|r| r.accepted() && r.hotkey.as_ref() == Some(hotkey))
                        });
                    }
                }
                let _ = serde_json::to_string(&runs).expect("runs serialise");
            }
        }
        1 => {
            let run = RunPath {
                entity: "neuralinternet".into(),
                project: "opencompute".into(),
                name: "pq90rs12".into(),
            };
            let list = harness
                .runtime
                .block_on(penalty_list(client, &run, &harness.validator));
            match list {
                Ok(list) => {
                    let inputs = WandbInputs {
                        penalized: Some(list.clone()),
                        ..WandbInputs::default()
                    };
                    for hotkey in &list {
                        assert!(inputs.zeroes(hotkey).is_some());
                    }
                    // The state keeps the inputs: they must survive a save and a load.
                    let saved = serde_json::to_string(&inputs).expect("inputs serialise");
                    let loaded: WandbInputs =
                        serde_json::from_str(&saved).expect("inputs we save load");
                    assert_eq!(loaded, inputs);
                }
                Err(error) => {
                    let _ = error.to_string();
                }
            }
        }
        _ => {
            let run = RunPath {
                entity: "neuralinternet".into(),
                project: "opencompute".into(),
                name: "ab12cd34".into(),
            };
            let mut config = Map::new();
            config.insert("role".into(), json!("miner"));
            let result = harness.runtime.block_on(client.upsert_run(
                &run,
                "miner-5EsNLFaGe9XK5LzWH3i6eC2Wqv6YqZS1442N1C4yeSdP6uxy",
                &config,
                "fuzz-host",
            ));
            if let Err(error) = result {
                let _ = error.to_string();
            }
        }
    }
});
