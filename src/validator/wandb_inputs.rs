//! The W&B inputs of SN27 v2.2.1 validators' scores (`sn27-v2.md` §5.2), read as they read
//! them: the miners' specs runs (a miner without a signed, running run with specs scores 0)
//! and the penalty list of one validator's run (a listed miner scores 0).
//!
//! Where the reference is weaker, this reader is stricter and still agrees on honest inputs:
//! the penalty run must carry the configured validator's hotkey and a signature that verifies
//! (the reference reads it unchecked), a run without a list is an empty list (the reference
//! then zeroes every miner), and a failed read keeps what the last good read said (the
//! reference drops every miner when W&B does not answer).

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::protocol::run_signature::verify_run;
use crate::wandb::{RunPath, RunRecord, WandbClient, WandbError};

/// How many reads a miner's run counts for: seen in either of the last two, it passes.
pub const READS_KEPT: usize = 2;

/// One miner run as a validator judges it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MinerRun {
    pub run_id: String,
    pub display_name: Option<String>,
    pub state: Option<String>,
    pub hotkey: Option<String>,
    /// The `signature` key verifies for `hotkey` and the run id.
    pub signature_ok: bool,
    /// `specs` is present and not empty.
    pub has_specs: bool,
}

impl MinerRun {
    /// What makes the hotkey pass the specs gate.
    pub fn accepted(&self) -> bool {
        self.signature_ok && self.has_specs && self.hotkey.is_some()
    }

    fn from_record(record: &RunRecord) -> MinerRun {
        let text = |key: &str| record.config.get(key).and_then(Value::as_str);
        let hotkey = text("hotkey").map(str::to_string);
        let signature_ok = match (&hotkey, text("signature")) {
            (Some(hotkey), Some(signature)) => verify_run(hotkey, &record.name, signature),
            _ => false,
        };
        MinerRun {
            run_id: record.name.clone(),
            display_name: record.display_name.clone(),
            state: record.state.clone(),
            hotkey,
            signature_ok,
            has_specs: record.config.get("specs").is_some_and(truthy),
        }
    }
}

/// Python's truth value of a JSON value (`if specs:`).
fn truthy(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}

/// The running miner runs of `netuid` in `entity/project`, with the reference's filters.
pub async fn miner_runs(
    client: &WandbClient,
    entity: &str,
    project: &str,
    netuid: u16,
) -> Result<Vec<MinerRun>, WandbError> {
    let filters = json!({"$and": [
        {"config.role": "miner"},
        {"config.config.netuid": netuid},
        {"state": "running"},
    ]});
    let runs = client.runs(entity, project, &filters).await?;
    Ok(runs.iter().map(MinerRun::from_record).collect())
}

/// Why the penalty list could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum PenaltyError {
    #[error(transparent)]
    Wandb(#[from] WandbError),
    #[error("W&B has no run {0}")]
    NoRun(RunPath),
    #[error("run {run} is {found}, not the penalty validator {expected}'s")]
    WrongHotkey {
        run: RunPath,
        found: String,
        expected: String,
    },
    #[error("run {run}: the signature does not verify for {hotkey}")]
    BadSignature { run: RunPath, hotkey: String },
    #[error("run {run}: penalized_hotkeys_checklist is not a list of hotkeys")]
    NotAList { run: RunPath },
}

/// The `penalized_hotkeys_checklist` of the run at `run`, which `hotkey` must have signed.
pub async fn penalty_list(
    client: &WandbClient,
    run: &RunPath,
    hotkey: &str,
) -> Result<Vec<String>, PenaltyError> {
    let record = client
        .run(run)
        .await?
        .ok_or_else(|| PenaltyError::NoRun(run.clone()))?;
    let text = |key: &str| record.config.get(key).and_then(Value::as_str);
    match text("hotkey") {
        Some(found) if found == hotkey => {}
        found => {
            return Err(PenaltyError::WrongHotkey {
                run: run.clone(),
                found: found.map_or("unsigned (no hotkey)".into(), |h| format!("signed by {h}")),
                expected: hotkey.to_string(),
            })
        }
    }
    if !text("signature").is_some_and(|s| verify_run(hotkey, &record.name, s)) {
        return Err(PenaltyError::BadSignature {
            run: run.clone(),
            hotkey: hotkey.to_string(),
        });
    }
    match record.config.get("penalized_hotkeys_checklist") {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| item.as_str().map(str::to_string))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| PenaltyError::NotAList { run: run.clone() }),
        Some(_) => Err(PenaltyError::NotAList { run: run.clone() }),
    }
}

/// What the validator last read from W&B, kept with its state so that scores (and
/// `sn27 scores`) use it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct WandbInputs {
    /// Hotkeys with an accepted specs run, per successful read, newest last (at most
    /// [`READS_KEPT`]).
    #[serde(default)]
    pub specs_reads: Vec<BTreeSet<String>>,
    /// The penalty list as last read; `None` until a read succeeds.
    #[serde(default)]
    pub penalized: Option<Vec<String>>,
    /// Block of the last read, successful or not.
    #[serde(default)]
    pub last_read_block: Option<u64>,
    /// What went wrong in the last read, if anything did.
    #[serde(default)]
    pub last_error: Option<String>,
}

impl WandbInputs {
    /// Takes a successful read of the specs runs.
    pub fn record_specs(&mut self, runs: &[MinerRun]) {
        let accepted = runs
            .iter()
            .filter(|r| r.accepted())
            .filter_map(|r| r.hotkey.clone())
            .collect();
        self.specs_reads.push(accepted);
        let excess = self.specs_reads.len().saturating_sub(READS_KEPT);
        self.specs_reads.drain(..excess);
    }

    /// Why `hotkey` scores 0 by these inputs, if it does.
    pub fn zeroes(&self, hotkey: &str) -> Option<String> {
        if self
            .penalized
            .as_ref()
            .is_some_and(|list| list.iter().any(|h| h == hotkey))
        {
            return Some("on the W&B penalty list".into());
        }
        if !self.specs_reads.is_empty() && !self.specs_reads.iter().any(|r| r.contains(hotkey)) {
            return Some(format!(
                "no signed, running W&B specs run in the last {} read(s)",
                self.specs_reads.len()
            ));
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use serde_json::Map;

    use super::*;
    use crate::keys::Keypair;
    use crate::protocol::run_signature::sign_run;

    fn record(name: &str, config: Value) -> RunRecord {
        let Value::Object(config) = config else {
            panic!("not an object")
        };
        RunRecord {
            name: name.into(),
            display_name: None,
            state: Some("running".into()),
            config,
        }
    }

    #[test]
    fn a_miner_run_is_accepted_only_signed_and_with_specs() {
        let key = Keypair::generate(12).unwrap();
        let signed = |name: &str| sign_run(&key, name);
        let good = record(
            "r1",
            json!({"hotkey": key.ss58(), "signature": signed("r1"), "specs": {"cpu": {"count": 4}}}),
        );
        assert!(MinerRun::from_record(&good).accepted());
        let copied = record(
            "r2",
            json!({"hotkey": key.ss58(), "signature": signed("r1"), "specs": {"cpu": {}}}),
        );
        assert!(!MinerRun::from_record(&copied).signature_ok);
        for specs in [json!({}), json!(null), json!(""), json!([])] {
            let empty = record(
                "r3",
                json!({"hotkey": key.ss58(), "signature": signed("r3"), "specs": specs}),
            );
            assert!(!MinerRun::from_record(&empty).accepted());
        }
        let unsigned = record("r4", json!({"hotkey": key.ss58(), "specs": {"a": 1}}));
        assert!(!MinerRun::from_record(&unsigned).accepted());
        let nobody = RunRecord {
            config: Map::new(),
            ..record("r5", json!({}))
        };
        assert!(!MinerRun::from_record(&nobody).accepted());
    }

    fn run(hotkey: &str, accepted: bool) -> MinerRun {
        MinerRun {
            run_id: "x".into(),
            display_name: None,
            state: None,
            hotkey: Some(hotkey.into()),
            signature_ok: accepted,
            has_specs: true,
        }
    }

    #[test]
    fn a_miner_passes_when_seen_in_either_of_the_last_two_reads() {
        let mut inputs = WandbInputs::default();
        assert_eq!(inputs.zeroes("a"), None, "nothing read: nobody is zeroed");
        inputs.record_specs(&[run("a", true), run("b", false)]);
        assert_eq!(inputs.zeroes("a"), None);
        assert!(inputs.zeroes("b").unwrap().contains("specs run"));
        inputs.record_specs(&[run("c", true)]);
        assert_eq!(inputs.zeroes("a"), None, "seen one read ago");
        inputs.record_specs(&[run("c", true)]);
        assert!(inputs.zeroes("a").unwrap().contains("last 2 read(s)"));
        assert_eq!(inputs.specs_reads.len(), READS_KEPT);
        inputs.penalized = Some(vec!["c".into()]);
        assert_eq!(inputs.zeroes("c").unwrap(), "on the W&B penalty list");
    }
}
