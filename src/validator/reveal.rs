//! Setting weights on a subnet with or without commit-reveal, surviving restarts.
//!
//! With commit-reveal on, a validator first commits a hash of its weights and a random salt,
//! then reveals them one reveal period later. The salt and the weights are written to disk
//! *before* the commit is sent, so a validator that restarts in between still reveals; an entry
//! leaves the store only once its reveal succeeded or the chain says it can no longer succeed.

use std::path::{Path, PathBuf};

use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::chain::commit::commit_hash;
use crate::chain::timelock::{reveal_round, weights_commit};
use crate::chain::{Chain, ChainError};
use crate::keys::Keypair;

/// A commit whose reveal is still to be sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingReveal {
    pub netuid: u16,
    pub hotkey: String,
    pub uids: Vec<u16>,
    pub values: Vec<u16>,
    pub salt: Vec<u16>,
    pub version_key: u64,
    /// `0x`-hex of the committed hash.
    pub commit_hash: String,
    pub committed_at_block: u64,
}

/// The pending reveals of this machine, in one JSON file.
#[derive(Debug, Clone)]
pub struct RevealStore {
    path: PathBuf,
}

impl RevealStore {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        RevealStore { path: path.into() }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The stored entries; a missing file is an empty store, an unreadable one an error (a
    /// silently dropped reveal would cost the validator a tempo of weights).
    pub fn load(&self) -> Result<Vec<PendingReveal>, ChainError> {
        match std::fs::read(&self.path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| self.error(e)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
            Err(e) => Err(self.error(e)),
        }
    }

    fn save(&self, entries: &[PendingReveal]) -> Result<(), ChainError> {
        let bytes = serde_json::to_vec_pretty(entries).map_err(|e| self.error(e))?;
        crate::fsutil::write_private(&self.path, &bytes).map_err(|e| self.error(e))
    }

    /// Applies `change` to the stored entries on a blocking thread (the write fsyncs) and
    /// returns what it returned.
    async fn update<T: Send + 'static>(
        &self,
        change: impl FnOnce(&mut Vec<PendingReveal>) -> T + Send + 'static,
    ) -> Result<T, ChainError> {
        let store = self.clone();
        tokio::task::spawn_blocking(move || {
            let mut entries = store.load()?;
            let result = change(&mut entries);
            store.save(&entries)?;
            Ok(result)
        })
        .await
        .map_err(|e| self.error(e))?
    }

    async fn load_async(&self) -> Result<Vec<PendingReveal>, ChainError> {
        let store = self.clone();
        tokio::task::spawn_blocking(move || store.load())
            .await
            .map_err(|e| self.error(e))?
    }

    fn error(&self, e: impl std::fmt::Display) -> ChainError {
        ChainError::Invalid(format!("pending reveals {}: {e}", self.path.display()))
    }
}

/// What [`submit_weights`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WeightsOutcome {
    Set,
    /// Committed; the reveal is stored and will be sent by [`reveal_due`].
    Committed {
        commit_hash: String,
    },
    /// Committed timelock-encrypted; the chain reveals it when drand publishes `reveal_round`.
    Timelocked {
        reveal_round: u64,
    },
}

/// Sets `values` for `uids` directly, or commits them when the subnet uses commit-reveal:
/// timelocked where the chain supports it (it then reveals by itself), else as a hash whose
/// reveal is stored for [`reveal_due`].
pub async fn submit_weights(
    chain: &dyn Chain,
    store: &RevealStore,
    hotkey: &Keypair,
    netuid: u16,
    uids: &[u16],
    values: &[u16],
    version_key: u64,
) -> Result<WeightsOutcome, ChainError> {
    if !chain.hyperparameters(netuid).await?.commit_reveal_enabled {
        chain
            .set_weights(hotkey, netuid, uids, values, version_key)
            .await?;
        return Ok(WeightsOutcome::Set);
    }
    if let Some(plan) = chain.timelock_plan(netuid).await? {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or_default();
        let round = reveal_round(plan.reveal_block, plan.block, now, plan.block_time_secs);
        let (public, uids_owned, values_owned) = (hotkey.public(), uids.to_vec(), values.to_vec());
        // Pairing-based encryption takes milliseconds of CPU: off the async runtime.
        let commit = tokio::task::spawn_blocking(move || {
            weights_commit(&public, &uids_owned, &values_owned, version_key, round)
        })
        .await
        .map_err(|e| ChainError::Invalid(format!("timelock encryption: {e}")))?
        .map_err(|e| ChainError::Invalid(e.to_string()))?;
        chain
            .commit_timelocked_weights(hotkey, netuid, &commit, round, plan.commit_reveal_version)
            .await?;
        return Ok(WeightsOutcome::Timelocked {
            reveal_round: round,
        });
    }
    let salt: Vec<u16> = {
        let mut rng = rand::thread_rng();
        (0..8).map(|_| rng.gen()).collect()
    };
    let hash = commit_hash(&hotkey.public(), netuid, uids, values, &salt, version_key);
    let entry = PendingReveal {
        netuid,
        hotkey: hotkey.ss58(),
        uids: uids.to_vec(),
        values: values.to_vec(),
        salt,
        version_key,
        commit_hash: format!("0x{}", hex::encode(hash)),
        committed_at_block: chain.status().await?.block,
    };
    // Persist first: a crash after the commit must still be able to reveal.
    let stored = entry.clone();
    store.update(move |entries| entries.push(stored)).await?;
    if let Err(error) = chain.commit_weights(hotkey, netuid, hash).await {
        let failed = entry.clone();
        store
            .update(move |entries| entries.retain(|e| e != &failed))
            .await?;
        return Err(error);
    }
    Ok(WeightsOutcome::Committed {
        commit_hash: entry.commit_hash,
    })
}

/// Reveals every stored commit of `hotkey` whose reveal epoch has come. Returns how many were
/// revealed; commits the chain calls expired or unknown are dropped with a warning, those still
/// too early stay.
pub async fn reveal_due(
    chain: &dyn Chain,
    store: &RevealStore,
    hotkey: &Keypair,
) -> Result<usize, ChainError> {
    let me = hotkey.ss58();
    let mut revealed = 0;
    for entry in store
        .load_async()
        .await?
        .into_iter()
        .filter(|e| e.hotkey == me)
    {
        let outcome = chain
            .reveal_weights(
                hotkey,
                entry.netuid,
                &entry.uids,
                &entry.values,
                &entry.salt,
                entry.version_key,
            )
            .await;
        let keep = match &outcome {
            Ok(()) => {
                revealed += 1;
                false
            }
            Err(e) if e.dispatch_error() == Some("RevealTooEarly") => true,
            // Refused before inclusion because the chain holds no such commit: it never will.
            Err(e) if e.dispatch_error().is_some() || e.rejection() == Some("CommitNotFound") => {
                tracing::warn!(netuid = entry.netuid, commit = %entry.commit_hash, error = %e,
                    "dropping a commit that can no longer be revealed");
                false
            }
            // Transport or storage trouble: try again next time.
            Err(_) => true,
        };
        if !keep {
            store
                .update(move |entries| entries.retain(|e| e != &entry))
                .await?;
        }
    }
    Ok(revealed)
}
