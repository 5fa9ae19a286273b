//! The embedded local devnet: a chain for demos and end-to-end tests on one machine.
//!
//! State is one SQLite file, so separate `sn27` processes (a miner and a validator on one box)
//! share one chain; every write is one immediate transaction. Nothing has to "run" the chain:
//! the block number follows the wall clock from genesis at the configured block time. The calls
//! sn27 uses apply the same checks, rate limits, burn and version-key rules as the subtensor
//! pallet (`bittensor-wire.md` §5.4–5.6), with one deliberate difference: loopback and private
//! axon and prometheus addresses are accepted, so everything can run on one box. Signatures are
//! not checked: the devnet trusts the processes on its own machine. Stake is one number per
//! neuron, with no liquidity pool and no root network: it reads as alpha on the subnet (1 TAO
//! staked = 1 alpha), TAO stake 0, and that alpha is the total the checks count. A database
//! made by an older sn27 gains the columns added since when it is opened.
//!
//! - `rules`: the pallet's checks as pure functions (what is allowed, and each refusal's
//!   error name);
//! - `storage`: the SQLite schema, reads and writes;
//! - `admin`: funding accounts, changing subnet parameters, free registration.

mod admin;
mod rules;
mod storage;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use rusqlite::{params, Connection, TransactionBehavior};

use super::types::{
    AxonInfo, ChainStatus, Hyperparameters, Metagraph, PrometheusInfo, ServeOutcome, TimelockPlan,
    WeightRows,
};
use super::{Chain, ChainError};
use crate::keys::{Keypair, PublicKey};
use storage::{open_connection, read_hyperparameters, read_neurons, storage, SCHEMA};

/// Parameters of a new devnet.
#[derive(Debug, Clone)]
pub struct Genesis {
    pub block_time: Duration,
    /// Subnets created at genesis, each with [`Hyperparameters`] defaults.
    pub netuids: Vec<u16>,
}

impl Default for Genesis {
    fn default() -> Self {
        Genesis {
            block_time: Duration::from_secs(12),
            netuids: vec![27],
        }
    }
}

/// Subnet defaults of the devnet: the pallet's, except commit-reveal off (so weights are set
/// directly), a 1 TAO burn and no stake threshold.
pub fn default_hyperparameters() -> Hyperparameters {
    Hyperparameters {
        tempo: 360,
        weights_rate_limit: 100,
        serving_rate_limit: 50,
        weights_version_key: 0,
        commit_reveal_enabled: false,
        commit_reveal_period: 1,
        min_allowed_weights: 1,
        max_weights_limit: 65535,
        max_validators: 64,
        max_uids: 256,
        burn: super::types::RAO_PER_TAO,
        stake_threshold: 0,
        registration_allowed: true,
    }
}

/// A devnet database.
pub struct Devnet {
    path: PathBuf,
    connection: Arc<Mutex<Connection>>,
    genesis_ms: u64,
    block_time_ms: u64,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

impl Devnet {
    /// Creates (or resets) a devnet at `path`.
    pub fn init(path: &Path, genesis: &Genesis) -> Result<Self, ChainError> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| storage(path, e))?;
        }
        for suffix in ["", "-wal", "-shm"] {
            let file = PathBuf::from(format!("{}{suffix}", path.display()));
            if file.exists() {
                std::fs::remove_file(&file).map_err(|e| storage(&file, e))?;
            }
        }
        let block_time_ms = genesis.block_time.as_millis() as u64;
        if block_time_ms == 0 {
            return Err(ChainError::Invalid(
                "the block time must be at least 1 ms".into(),
            ));
        }
        let mut connection = open_connection(path)?;
        let tx = connection.transaction().map_err(|e| storage(path, e))?;
        tx.execute_batch(SCHEMA).map_err(|e| storage(path, e))?;
        let genesis_ms = now_ms();
        tx.execute(
            "INSERT INTO meta VALUES ('genesis_ms', ?1), ('block_time_ms', ?2)",
            params![genesis_ms as i64, block_time_ms as i64],
        )
        .map_err(|e| storage(path, e))?;
        let h = default_hyperparameters();
        for netuid in &genesis.netuids {
            storage::create_subnet(&tx, path, *netuid, &h)?;
        }
        tx.commit().map_err(|e| storage(path, e))?;
        Ok(Devnet {
            path: path.to_owned(),
            connection: Arc::new(Mutex::new(connection)),
            genesis_ms,
            block_time_ms,
        })
    }

    /// Opens an existing devnet.
    pub fn open(path: &Path) -> Result<Self, ChainError> {
        if !path.exists() {
            return Err(ChainError::Unavailable(format!(
                "no devnet at {}; create one with `sn27 devnet init`",
                path.display()
            )));
        }
        let mut connection = open_connection(path)?;
        let meta = |key: &str| -> Result<u64, ChainError> {
            connection
                .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| {
                    r.get::<_, i64>(0)
                })
                .map(|v| v as u64)
                .map_err(|e| storage(path, format!("not a devnet database ({key}: {e})")))
        };
        let genesis_ms = meta("genesis_ms")?;
        let block_time_ms = meta("block_time_ms")?.max(1);
        storage::upgrade(&mut connection, path)?;
        Ok(Devnet {
            path: path.to_owned(),
            connection: Arc::new(Mutex::new(connection)),
            genesis_ms,
            block_time_ms,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn block(&self) -> u64 {
        now_ms().saturating_sub(self.genesis_ms) / self.block_time_ms
    }

    /// Runs `work` on a blocking thread inside one immediate transaction: it holds the
    /// database's write lock from the start, so its checks and writes see one state.
    async fn write<T, F>(&self, work: F) -> Result<T, ChainError>
    where
        T: Send + 'static,
        F: FnOnce(&rusqlite::Transaction, u64) -> Result<T, ChainError> + Send + 'static,
    {
        self.transaction(TransactionBehavior::Immediate, work).await
    }

    /// Runs read-only `work` in a deferred transaction: a consistent snapshot that does not
    /// hold other processes' writes back.
    async fn read<T, F>(&self, work: F) -> Result<T, ChainError>
    where
        T: Send + 'static,
        F: FnOnce(&rusqlite::Transaction, u64) -> Result<T, ChainError> + Send + 'static,
    {
        self.transaction(TransactionBehavior::Deferred, work).await
    }

    async fn transaction<T, F>(
        &self,
        behavior: TransactionBehavior,
        work: F,
    ) -> Result<T, ChainError>
    where
        T: Send + 'static,
        F: FnOnce(&rusqlite::Transaction, u64) -> Result<T, ChainError> + Send + 'static,
    {
        let connection = self.connection.clone();
        let path = self.path.clone();
        let block = self.block();
        tokio::task::spawn_blocking(move || {
            let mut connection = connection.lock().unwrap_or_else(|e| e.into_inner());
            let tx = connection
                .transaction_with_behavior(behavior)
                .map_err(|e| storage(&path, e))?;
            let result = work(&tx, block)?;
            tx.commit().map_err(|e| storage(&path, e))?;
            Ok(result)
        })
        .await
        .map_err(|e| ChainError::Unavailable(format!("devnet task failed: {e}")))?
    }
}

/// The weight checks of the pallet, then the write.
fn apply_weights(
    tx: &rusqlite::Transaction,
    path: &Path,
    call: &rules::WeightsCall<'_>,
) -> Result<(), ChainError> {
    let h = read_hyperparameters(tx, path, call.netuid)?;
    let neurons = read_neurons(tx, path, call.netuid, h.max_validators)?;
    let uid = rules::weights(&h, &neurons, call)?;
    storage::record_weights(
        tx,
        path,
        call.netuid,
        uid,
        call.dests,
        call.weights,
        call.version_key,
        call.block,
    )
}

#[async_trait]
impl Chain for Devnet {
    async fn status(&self) -> Result<ChainStatus, ChainError> {
        Ok(ChainStatus {
            endpoint: format!(
                "embedded local devnet ({}; not a real chain)",
                self.path.display()
            ),
            spec_version: None,
            block: self.block(),
            block_time_ms: self.block_time_ms,
        })
    }

    async fn hyperparameters(&self, netuid: u16) -> Result<Hyperparameters, ChainError> {
        let path = self.path.clone();
        self.read(move |tx, _| read_hyperparameters(tx, &path, netuid))
            .await
    }

    async fn metagraph(&self, netuid: u16) -> Result<Metagraph, ChainError> {
        let path = self.path.clone();
        self.read(move |tx, block| {
            let h = read_hyperparameters(tx, &path, netuid)?;
            Ok(Metagraph {
                netuid,
                block,
                neurons: read_neurons(tx, &path, netuid, h.max_validators)?,
            })
        })
        .await
    }

    async fn balance(&self, account: &PublicKey) -> Result<u64, ChainError> {
        let (path, account) = (self.path.clone(), *account);
        self.read(move |tx, _| storage::balance_of(tx, &account).map_err(|e| storage(&path, e)))
            .await
    }

    async fn burned_register(
        &self,
        coldkey: &Keypair,
        netuid: u16,
        hotkey: &PublicKey,
    ) -> Result<u16, ChainError> {
        let (path, coldkey, hotkey) = (self.path.clone(), coldkey.public(), *hotkey);
        self.write(move |tx, block| {
            let balance = storage::balance_of(tx, &coldkey).map_err(|e| storage(&path, e))?;
            storage::register(tx, &path, netuid, &hotkey, &coldkey, Some(balance), block)
        })
        .await
    }

    async fn serve_axon(
        &self,
        hotkey: &Keypair,
        netuid: u16,
        axon: AxonInfo,
    ) -> Result<ServeOutcome, ChainError> {
        let (path, hotkey) = (self.path.clone(), hotkey.public());
        self.write(move |tx, block| {
            let h = read_hyperparameters(tx, &path, netuid)?;
            let uid = storage::uid_of(tx, &path, netuid, &hotkey)?;
            let last = storage::served_block(tx, &path, netuid, uid, storage::Endpoint::Axon)?;
            let uid = rules::serve_axon(&h, netuid, &hotkey, uid, &axon, last, block)?;
            // Block 0 reads as "never served", so the first serve is recorded at block 1 at least.
            let served_at = block.max(1);
            storage::record_axon(tx, &path, netuid, uid, &axon, served_at)?;
            Ok(ServeOutcome::Served { block: served_at })
        })
        .await
    }

    async fn serve_prometheus(
        &self,
        hotkey: &Keypair,
        netuid: u16,
        info: PrometheusInfo,
    ) -> Result<ServeOutcome, ChainError> {
        let (path, hotkey) = (self.path.clone(), hotkey.public());
        self.write(move |tx, block| {
            let h = read_hyperparameters(tx, &path, netuid)?;
            let uid = storage::uid_of(tx, &path, netuid, &hotkey)?;
            let last =
                storage::served_block(tx, &path, netuid, uid, storage::Endpoint::Prometheus)?;
            let uid = rules::serve_prometheus(&h, netuid, &hotkey, uid, &info, last, block)?;
            // As for axons, block 0 reads as "never served".
            let served_at = block.max(1);
            storage::record_prometheus(tx, &path, netuid, uid, &info, served_at)?;
            Ok(ServeOutcome::Served { block: served_at })
        })
        .await
    }

    async fn set_weights(
        &self,
        hotkey: &Keypair,
        netuid: u16,
        dests: &[u16],
        weights: &[u16],
        version_key: u64,
    ) -> Result<(), ChainError> {
        let (path, hotkey, dests, weights) = (
            self.path.clone(),
            hotkey.public(),
            dests.to_vec(),
            weights.to_vec(),
        );
        self.write(move |tx, block| {
            let call = rules::WeightsCall {
                call: "set_weights",
                block,
                netuid,
                hotkey,
                dests: &dests,
                weights: &weights,
                version_key,
                direct: true,
            };
            apply_weights(tx, &path, &call)
        })
        .await
    }

    async fn commit_weights(
        &self,
        hotkey: &Keypair,
        netuid: u16,
        commit_hash: [u8; 32],
    ) -> Result<(), ChainError> {
        let (path, hotkey) = (self.path.clone(), hotkey.public());
        self.write(move |tx, block| {
            let h = read_hyperparameters(tx, &path, netuid)?;
            let neurons = read_neurons(tx, &path, netuid, h.max_validators)?;
            let epoch = rules::epoch(block, h.tempo);
            let unrevealed = storage::unrevealed_commits(
                tx,
                &path,
                netuid,
                &hotkey,
                h.commit_reveal_period,
                epoch,
            )?;
            let uid = rules::commit(&h, &neurons, netuid, &hotkey, unrevealed, block)?;
            storage::insert_commit(tx, &path, netuid, &hotkey, &commit_hash, epoch, block)?;
            storage::touch(tx, &path, netuid, uid, block)
        })
        .await
    }

    async fn reveal_weights(
        &self,
        hotkey: &Keypair,
        netuid: u16,
        uids: &[u16],
        values: &[u16],
        salt: &[u16],
        version_key: u64,
    ) -> Result<(), ChainError> {
        let (path, hotkey) = (self.path.clone(), hotkey.public());
        let (uids, values, salt) = (uids.to_vec(), values.to_vec(), salt.to_vec());
        self.write(move |tx, block| {
            let h = read_hyperparameters(tx, &path, netuid)?;
            let hash =
                super::commit::commit_hash(&hotkey, netuid, &uids, &values, &salt, version_key);
            let committed = if h.commit_reveal_enabled {
                storage::commit_epoch(tx, &path, netuid, &hotkey, &hash)?
            } else {
                None
            };
            rules::reveal(&h, netuid, committed, block)?;
            let call = rules::WeightsCall {
                call: "reveal_weights",
                block,
                netuid,
                hotkey,
                dests: &uids,
                weights: &values,
                version_key,
                direct: false,
            };
            apply_weights(tx, &path, &call)?;
            storage::delete_commit(tx, &path, netuid, &hotkey, &hash)
        })
        .await
    }

    /// The devnet has no drand beacon to decrypt with, so it keeps hash commit-reveal.
    async fn timelock_plan(&self, _netuid: u16) -> Result<Option<TimelockPlan>, ChainError> {
        Ok(None)
    }

    async fn commit_timelocked_weights(
        &self,
        _hotkey: &Keypair,
        _netuid: u16,
        _commit: &[u8],
        _reveal_round: u64,
        _commit_reveal_version: u16,
    ) -> Result<(), ChainError> {
        Err(rules::timelocked_commit())
    }

    async fn weights(&self, netuid: u16) -> Result<WeightRows, ChainError> {
        let path = self.path.clone();
        self.read(move |tx, _| {
            // A subnet that does not exist is an error, not an empty list.
            read_hyperparameters(tx, &path, netuid)?;
            storage::all_weights(tx, &path, netuid)
        })
        .await
    }

    async fn subnet_owner_hotkey(&self, netuid: u16) -> Result<Option<PublicKey>, ChainError> {
        let path = self.path.clone();
        self.read(move |tx, _| {
            read_hyperparameters(tx, &path, netuid)?;
            storage::subnet_owner(tx, &path, netuid)
        })
        .await
    }
}
