//! What the validator remembers across restarts, in one file
//! (`<state_dir>/validator/state.json`, mode 0600, rewritten atomically after every change):
//! each miner's newest Proof-of-GPU results, the uid it was seen at, the SSH host key it
//! showed, and when rounds and weights last happened.
//!
//! Results are kept per hotkey; a uid whose hotkey changed (the old miner was replaced) and a
//! hotkey no longer registered lose their history, so a new miner never inherits a score.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::fsutil::write_private;

/// A passed test: the model the validator identified and the GPUs it credits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Spec {
    pub model: String,
    pub gpus: u32,
}

/// One round's result for one miner.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TestResult {
    /// Block the test finished at.
    pub block: u64,
    /// `None` for a failed test (an empty result, as the reference records it).
    pub spec: Option<Spec>,
    /// Why it failed: the step, then the reason.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<String>,
}

/// What is known of one miner.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MinerRecord {
    /// The uid the hotkey was last seen at.
    pub uid: u16,
    /// Newest last; at most `[scoring] history` entries.
    pub results: Vec<TestResult>,
    /// `SHA256:…` of the container host key the miner showed when it sent none in its
    /// credentials (trust on first use; a change is reported).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_key: Option<String>,
}

impl MinerRecord {
    /// The newest passing result among those kept.
    pub fn spec(&self) -> Option<&Spec> {
        self.results.iter().rev().find_map(|r| r.spec.as_ref())
    }

    /// The results that count: all of them, or those before block `running` when a round
    /// that started there is still running.
    pub fn counted(&self, running: Option<u64>) -> Vec<TestResult> {
        self.results
            .iter()
            .filter(|r| running.is_none_or(|block| r.block < block))
            .cloned()
            .collect()
    }
}

impl ValidatorState {
    /// The block of the round still running, if one is.
    pub fn running_round(&self) -> Option<u64> {
        if self.round_in_progress {
            self.last_round_block
        } else {
            None
        }
    }
}

/// The whole state.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ValidatorState {
    /// By hotkey (ss58).
    pub miners: BTreeMap<String, MinerRecord>,
    /// Block the last round started at.
    #[serde(default)]
    pub last_round_block: Option<u64>,
    /// Set while that round runs: its results count once it ends (as the reference scores
    /// when its queue drains), so weights never mix a half-finished round with the last one.
    #[serde(default)]
    pub round_in_progress: bool,
    /// Block the last weights went out at.
    #[serde(default)]
    pub last_weights_block: Option<u64>,
    /// What the W&B reader last found (`[wandb] enabled`); `None` while it is off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wandb: Option<super::wandb_inputs::WandbInputs>,
}

impl ValidatorState {
    /// Appends a result, keeping the newest `keep`.
    pub fn record(&mut self, hotkey: &str, uid: u16, result: TestResult, keep: usize) {
        let record = self.miners.entry(hotkey.to_string()).or_default();
        record.uid = uid;
        record.results.push(result);
        let excess = record.results.len().saturating_sub(keep.max(1));
        record.results.drain(..excess);
    }

    /// Brings the records in line with the metagraph's `(uid, hotkey)` pairs: a hotkey that
    /// left, or whose uid now belongs to another hotkey, is forgotten. Returns the hotkeys
    /// dropped.
    pub fn follow_metagraph(&mut self, registered: &[(u16, String)]) -> Vec<String> {
        let by_hotkey: BTreeMap<&str, u16> = registered
            .iter()
            .map(|(uid, hotkey)| (hotkey.as_str(), *uid))
            .collect();
        let mut dropped = Vec::new();
        self.miners.retain(|hotkey, record| {
            let keep = by_hotkey.get(hotkey.as_str()) == Some(&record.uid);
            if !keep {
                dropped.push(hotkey.clone());
            }
            keep
        });
        dropped
    }
}

/// Where the state lives, and reading and writing it.
#[derive(Debug, Clone)]
pub struct StateFile {
    path: PathBuf,
}

/// The state file could not be read or written.
#[derive(Debug, thiserror::Error)]
#[error("validator state {}: {reason}", path.display())]
pub struct StateError {
    pub path: PathBuf,
    pub reason: String,
}

impl StateFile {
    pub fn new(state_dir: &Path) -> Self {
        StateFile {
            path: state_dir.join("validator").join("state.json"),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn error(&self, reason: impl std::fmt::Display) -> StateError {
        StateError {
            path: self.path.clone(),
            reason: reason.to_string(),
        }
    }

    /// The stored state; none yet is an empty one. A file that does not parse is an error
    /// naming it, never a silent reset of every miner's history.
    pub fn load(&self) -> Result<ValidatorState, StateError> {
        match std::fs::read(&self.path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
                self.error(format!("{e}; move the file away to start with no history"))
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(ValidatorState::default()),
            Err(e) => Err(self.error(e)),
        }
    }

    /// Writes `state` durably (blocking: call from a blocking thread in async code).
    pub fn save(&self, state: &ValidatorState) -> Result<(), StateError> {
        let bytes = serde_json::to_vec_pretty(state).map_err(|e| self.error(e))?;
        write_private(&self.path, &bytes).map_err(|e| self.error(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn passed(block: u64) -> TestResult {
        TestResult {
            block,
            spec: Some(Spec {
                model: "NVIDIA H200".into(),
                gpus: 8,
            }),
            failure: None,
        }
    }

    fn failed(block: u64) -> TestResult {
        TestResult {
            block,
            spec: None,
            failure: Some("ssh: refused".into()),
        }
    }

    #[test]
    fn one_pass_survives_three_failures_not_four() {
        let mut state = ValidatorState::default();
        state.record("5A", 3, passed(1), 4);
        for block in 2..5 {
            state.record("5A", 3, failed(block), 4);
            assert!(state.miners["5A"].spec().is_some(), "after block {block}");
        }
        state.record("5A", 3, failed(5), 4);
        assert!(state.miners["5A"].spec().is_none());
        assert_eq!(state.miners["5A"].results.len(), 4);
    }

    #[test]
    fn a_replaced_or_departed_hotkey_loses_its_history() {
        let mut state = ValidatorState::default();
        state.record("5A", 1, passed(1), 4);
        state.record("5B", 2, passed(1), 4);
        state.record("5C", 3, passed(1), 4);
        // uid 1 now belongs to 5X; 5C left; 5B stays.
        let dropped =
            state.follow_metagraph(&[(1, "5X".into()), (2, "5B".into()), (4, "5D".into())]);
        assert_eq!(dropped, ["5A", "5C"]);
        assert_eq!(state.miners.keys().collect::<Vec<_>>(), ["5B"]);
    }

    #[test]
    fn the_file_round_trips_and_a_broken_one_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let file = StateFile::new(dir.path());
        assert_eq!(file.load().unwrap(), ValidatorState::default());
        let mut state = ValidatorState::default();
        state.record("5A", 1, passed(10), 4);
        state.last_weights_block = Some(12);
        file.save(&state).unwrap();
        assert_eq!(file.load().unwrap(), state);
        std::fs::write(file.path(), b"{").unwrap();
        let error = file.load().unwrap_err().to_string();
        assert!(
            error.contains("state.json") && error.contains("move the file away"),
            "{error}"
        );
    }
}
