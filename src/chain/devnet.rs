//! The embedded local devnet: a chain for demos and end-to-end tests on one machine.
//!
//! State is one SQLite file, so separate `sn27` processes (a miner and a validator on one box)
//! share one chain; every write is one immediate transaction. Nothing has to "run" the chain:
//! the block number follows the wall clock from genesis at the configured block time. The calls
//! sn27 uses apply the same checks, rate limits, burn and version-key rules as the subtensor
//! pallet (`bittensor-wire.md` §5.4–5.6), with one deliberate difference: loopback and private
//! axon addresses are accepted, so everything can run on one box. Signatures are not checked:
//! the devnet trusts the processes on its own machine.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};

use super::types::{
    AxonInfo, ChainStatus, Hyperparameters, Metagraph, NeuronInfo, ServeOutcome, TimelockPlan,
};
use super::{Chain, ChainError};
use crate::keys::{Keypair, PublicKey};

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

const SCHEMA: &str = "
CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE subnets (
    netuid INTEGER PRIMARY KEY, tempo INTEGER, weights_rate_limit INTEGER,
    serving_rate_limit INTEGER, weights_version_key INTEGER, commit_reveal INTEGER,
    commit_reveal_period INTEGER, min_allowed_weights INTEGER, max_weights_limit INTEGER,
    max_validators INTEGER, max_uids INTEGER, burn INTEGER, stake_threshold INTEGER,
    registration_allowed INTEGER);
CREATE TABLE balances (account BLOB PRIMARY KEY, rao INTEGER NOT NULL);
CREATE TABLE neurons (
    netuid INTEGER NOT NULL, uid INTEGER NOT NULL, hotkey BLOB NOT NULL, coldkey BLOB NOT NULL,
    stake INTEGER NOT NULL, registered_at INTEGER NOT NULL, last_update INTEGER NOT NULL,
    axon_block INTEGER NOT NULL DEFAULT 0, axon_version INTEGER NOT NULL DEFAULT 0,
    axon_ip TEXT NOT NULL DEFAULT '0', axon_port INTEGER NOT NULL DEFAULT 0,
    axon_ip_type INTEGER NOT NULL DEFAULT 0, axon_protocol INTEGER NOT NULL DEFAULT 0,
    axon_p1 INTEGER NOT NULL DEFAULT 0, axon_p2 INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (netuid, uid), UNIQUE (netuid, hotkey));
CREATE TABLE commits (
    netuid INTEGER NOT NULL, hotkey BLOB NOT NULL, hash BLOB NOT NULL, epoch INTEGER NOT NULL,
    block INTEGER NOT NULL);
CREATE TABLE weights (
    netuid INTEGER NOT NULL, uid INTEGER NOT NULL, dests TEXT NOT NULL, vals TEXT NOT NULL,
    version_key INTEGER NOT NULL, block INTEGER NOT NULL, PRIMARY KEY (netuid, uid));
";

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

fn storage(path: &Path, error: impl std::fmt::Display) -> ChainError {
    ChainError::Storage {
        path: path.to_owned(),
        reason: error.to_string(),
    }
}

fn open_connection(path: &Path) -> Result<Connection, ChainError> {
    let connection = Connection::open(path).map_err(|e| storage(path, e))?;
    connection
        .busy_timeout(Duration::from_secs(10))
        .map_err(|e| storage(path, e))?;
    connection
        .pragma_update(None, "journal_mode", "WAL")
        .map_err(|e| storage(path, e))?;
    Ok(connection)
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
            tx.execute(
                "INSERT INTO subnets VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14)",
                params![
                    netuid,
                    h.tempo,
                    h.weights_rate_limit as i64,
                    h.serving_rate_limit as i64,
                    h.weights_version_key as i64,
                    h.commit_reveal_enabled,
                    h.commit_reveal_period as i64,
                    h.min_allowed_weights,
                    h.max_weights_limit,
                    h.max_validators,
                    h.max_uids,
                    h.burn as i64,
                    h.stake_threshold as i64,
                    h.registration_allowed
                ],
            )
            .map_err(|e| storage(path, e))?;
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
        let connection = open_connection(path)?;
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

    /// Adds `rao` to an account's free balance (admin command).
    pub async fn fund(&self, account: PublicKey, rao: u64) -> Result<u64, ChainError> {
        let path = self.path.clone();
        self.write(move |tx, _| {
            let balance = balance_of(tx, &account).map_err(|e| storage(&path, e))?;
            let new = balance
                .checked_add(rao)
                .ok_or_else(|| ChainError::Invalid("balance would overflow".into()))?;
            set_balance(tx, &account, new).map_err(|e| storage(&path, e))?;
            Ok(new)
        })
        .await
    }

    /// Changes one subnet parameter (admin command), as a subnet owner or sudo would. Booleans
    /// take `true`/`false`, `burn` and `stake_threshold` TAO, the others integers.
    pub async fn set_hyperparameter(
        &self,
        netuid: u16,
        name: &str,
        value: &str,
    ) -> Result<(), ChainError> {
        let invalid = |why: &str| ChainError::Invalid(format!("{name} = {value:?}: {why}"));
        let (column, number): (&'static str, i64) = match name {
            "commit_reveal" | "registration_allowed" => {
                let flag: bool = value.parse().map_err(|_| invalid("expected true or false"))?;
                (if name == "commit_reveal" { "commit_reveal" } else { "registration_allowed" }, i64::from(flag))
            }
            "burn" | "stake_threshold" => {
                let tao: f64 = value.parse().map_err(|_| invalid("expected an amount of TAO"))?;
                let rao = super::types::rao(tao).ok_or_else(|| invalid("expected a non-negative amount of TAO"))?;
                (if name == "burn" { "burn" } else { "stake_threshold" }, rao as i64)
            }
            "tempo" | "weights_rate_limit" | "serving_rate_limit" | "weights_version_key"
            | "commit_reveal_period" | "min_allowed_weights" | "max_weights_limit"
            | "max_validators" | "max_uids" => {
                let n: u64 = value.parse().map_err(|_| invalid("expected a non-negative integer"))?;
                let limit = match name {
                    "tempo" | "min_allowed_weights" | "max_weights_limit" | "max_validators" | "max_uids" => u64::from(u16::MAX),
                    _ => i64::MAX as u64,
                };
                if n > limit {
                    return Err(invalid(&format!("at most {limit}")));
                }
                let column = [
                    "tempo", "weights_rate_limit", "serving_rate_limit", "weights_version_key",
                    "commit_reveal_period", "min_allowed_weights", "max_weights_limit",
                    "max_validators", "max_uids",
                ]
                .into_iter()
                .find(|c| *c == name)
                .expect("matched above");
                (column, n as i64)
            }
            _ => {
                return Err(ChainError::Invalid(format!(
                    "unknown parameter {name:?}; one of: tempo, weights_rate_limit, serving_rate_limit, \
                     weights_version_key, commit_reveal, commit_reveal_period, min_allowed_weights, \
                     max_weights_limit, max_validators, max_uids, burn, stake_threshold, registration_allowed"
                )))
            }
        };
        let path = self.path.clone();
        self.write(move |tx, _| {
            let changed = tx
                .execute(
                    &format!("UPDATE subnets SET {column} = ?1 WHERE netuid = ?2"),
                    params![number, netuid],
                )
                .map_err(|e| storage(&path, e))?;
            if changed == 0 {
                return Err(ChainError::NoSubnet(netuid));
            }
            Ok(())
        })
        .await
    }

    /// Registers any hotkey without burn (admin command), optionally with stake in RAO.
    pub async fn register_free(
        &self,
        netuid: u16,
        hotkey: PublicKey,
        coldkey: PublicKey,
        stake: u64,
    ) -> Result<u16, ChainError> {
        let path = self.path.clone();
        self.write(move |tx, block| {
            let uid = insert_neuron(tx, &path, netuid, &hotkey, &coldkey, block)?;
            tx.execute(
                "UPDATE neurons SET stake = ?1 WHERE netuid = ?2 AND uid = ?3",
                params![stake as i64, netuid, uid],
            )
            .map_err(|e| storage(&path, e))?;
            Ok(uid)
        })
        .await
    }
}

fn balance_of(tx: &rusqlite::Transaction, account: &PublicKey) -> rusqlite::Result<u64> {
    Ok(tx
        .query_row(
            "SELECT rao FROM balances WHERE account = ?1",
            [&account.0[..]],
            |r| r.get::<_, i64>(0),
        )
        .optional()?
        .unwrap_or(0) as u64)
}

fn set_balance(tx: &rusqlite::Transaction, account: &PublicKey, rao: u64) -> rusqlite::Result<()> {
    tx.execute(
        "INSERT INTO balances VALUES (?1, ?2) ON CONFLICT(account) DO UPDATE SET rao = ?2",
        params![&account.0[..], rao as i64],
    )?;
    Ok(())
}

fn dispatch(call: &'static str, error: &'static str, explanation: impl Into<String>) -> ChainError {
    ChainError::Dispatch {
        call,
        error: error.into(),
        explanation: explanation.into(),
    }
}

fn read_hyperparameters(
    conn: &Connection,
    path: &Path,
    netuid: u16,
) -> Result<Hyperparameters, ChainError> {
    conn.query_row(
        "SELECT tempo, weights_rate_limit, serving_rate_limit, weights_version_key, commit_reveal,
                commit_reveal_period, min_allowed_weights, max_weights_limit, max_validators,
                max_uids, burn, stake_threshold, registration_allowed
         FROM subnets WHERE netuid = ?1",
        [netuid],
        |r| {
            Ok(Hyperparameters {
                tempo: r.get(0)?,
                weights_rate_limit: r.get::<_, i64>(1)? as u64,
                serving_rate_limit: r.get::<_, i64>(2)? as u64,
                weights_version_key: r.get::<_, i64>(3)? as u64,
                commit_reveal_enabled: r.get(4)?,
                commit_reveal_period: r.get::<_, i64>(5)? as u64,
                min_allowed_weights: r.get(6)?,
                max_weights_limit: r.get(7)?,
                max_validators: r.get(8)?,
                max_uids: r.get(9)?,
                burn: r.get::<_, i64>(10)? as u64,
                stake_threshold: r.get::<_, i64>(11)? as u64,
                registration_allowed: r.get(12)?,
            })
        },
    )
    .optional()
    .map_err(|e| storage(path, e))?
    .ok_or(ChainError::NoSubnet(netuid))
}

fn insert_neuron(
    tx: &rusqlite::Transaction,
    path: &Path,
    netuid: u16,
    hotkey: &PublicKey,
    coldkey: &PublicKey,
    block: u64,
) -> Result<u16, ChainError> {
    let call = "burned_register";
    let h = read_hyperparameters(tx, path, netuid)?;
    if !h.registration_allowed {
        return Err(dispatch(
            call,
            "SubNetRegistrationDisabled",
            format!("registration on netuid {netuid} is disabled"),
        ));
    }
    if uid_of(tx, path, netuid, hotkey)?.is_some() {
        return Err(dispatch(
            call,
            "HotKeyAlreadyRegisteredInSubNet",
            format!("hotkey {hotkey} is already registered on netuid {netuid}"),
        ));
    }
    // A hotkey belongs to one coldkey across all subnets.
    let owner: Option<Vec<u8>> = tx
        .query_row(
            "SELECT coldkey FROM neurons WHERE hotkey = ?1 LIMIT 1",
            [&hotkey.0[..]],
            |r| r.get(0),
        )
        .optional()
        .map_err(|e| storage(path, e))?;
    if owner.is_some_and(|owner| owner != coldkey.0) {
        return Err(dispatch(
            call,
            "NonAssociatedColdKey",
            format!("hotkey {hotkey} belongs to another coldkey"),
        ));
    }
    let count: u16 = tx
        .query_row(
            "SELECT COUNT(*) FROM neurons WHERE netuid = ?1",
            [netuid],
            |r| r.get(0),
        )
        .map_err(|e| storage(path, e))?;
    if count >= h.max_uids {
        return Err(dispatch(
            call,
            "NoNeuronIdAvailable",
            format!("netuid {netuid} is full ({} uids)", h.max_uids),
        ));
    }
    tx.execute(
        "INSERT INTO neurons (netuid, uid, hotkey, coldkey, stake, registered_at, last_update)
         VALUES (?1, ?2, ?3, ?4, 0, ?5, 0)",
        params![netuid, count, &hotkey.0[..], &coldkey.0[..], block as i64],
    )
    .map_err(|e| storage(path, e))?;
    Ok(count)
}

fn uid_of(
    conn: &Connection,
    path: &Path,
    netuid: u16,
    hotkey: &PublicKey,
) -> Result<Option<u16>, ChainError> {
    conn.query_row(
        "SELECT uid FROM neurons WHERE netuid = ?1 AND hotkey = ?2",
        params![netuid, &hotkey.0[..]],
        |r| r.get(0),
    )
    .optional()
    .map_err(|e| storage(path, e))
}

fn key(bytes: Vec<u8>) -> rusqlite::Result<PublicKey> {
    <[u8; 32]>::try_from(bytes).map(PublicKey).map_err(|_| {
        rusqlite::Error::InvalidColumnType(0, "key".into(), rusqlite::types::Type::Blob)
    })
}

fn read_neurons(
    conn: &Connection,
    path: &Path,
    netuid: u16,
    max_validators: u16,
) -> Result<Vec<NeuronInfo>, ChainError> {
    let mut statement = conn
        .prepare(
            "SELECT uid, hotkey, coldkey, stake, registered_at, last_update, axon_block,
                    axon_version, axon_ip, axon_port, axon_ip_type, axon_protocol, axon_p1, axon_p2
             FROM neurons WHERE netuid = ?1 ORDER BY uid",
        )
        .map_err(|e| storage(path, e))?;
    let mut neurons: Vec<NeuronInfo> = statement
        .query_map([netuid], |r| {
            Ok(NeuronInfo {
                uid: r.get(0)?,
                hotkey: key(r.get(1)?)?,
                coldkey: key(r.get(2)?)?,
                stake: r.get::<_, i64>(3)? as u64,
                registered_at: r.get::<_, i64>(4)? as u64,
                last_update: r.get::<_, i64>(5)? as u64,
                validator_permit: false,
                axon: AxonInfo {
                    block: r.get::<_, i64>(6)? as u64,
                    version: r.get(7)?,
                    ip: r.get::<_, String>(8)?.parse().unwrap_or(0),
                    port: r.get(9)?,
                    ip_type: r.get(10)?,
                    protocol: r.get(11)?,
                    placeholder1: r.get(12)?,
                    placeholder2: r.get(13)?,
                },
                incentive: None,
                emission: None,
                trust: None,
            })
        })
        .map_err(|e| storage(path, e))?
        .collect::<Result<_, _>>()
        .map_err(|e| storage(path, e))?;
    // Permits go to the `max_validators` largest stakes, as the pallet assigns them each epoch.
    let mut by_stake: Vec<(u64, u16)> = neurons
        .iter()
        .filter(|n| n.stake > 0)
        .map(|n| (n.stake, n.uid))
        .collect();
    by_stake.sort_by(|a, b| b.cmp(a));
    let permitted: Vec<u16> = by_stake
        .iter()
        .take(usize::from(max_validators))
        .map(|(_, uid)| *uid)
        .collect();
    for neuron in &mut neurons {
        neuron.validator_permit = permitted.contains(&neuron.uid);
    }
    Ok(neurons)
}

/// The weight checks of the pallet, then the write. `direct` is a `set_weights` call (refused
/// under commit-reveal, rate-limited); otherwise a reveal, whose commit was rate-limited.
#[allow(clippy::too_many_arguments)]
fn apply_weights(
    tx: &rusqlite::Transaction,
    path: &Path,
    call: &'static str,
    block: u64,
    netuid: u16,
    hotkey: &PublicKey,
    dests: &[u16],
    weights: &[u16],
    version_key: u64,
    direct: bool,
) -> Result<(), ChainError> {
    let hotkey = *hotkey;
    let h = read_hyperparameters(tx, path, netuid)?;
    if direct && h.commit_reveal_enabled {
        return Err(dispatch(
            call,
            "CommitRevealEnabled",
            format!("netuid {netuid} uses commit-reveal: commit the weights instead"),
        ));
    }
    if dests.len() != weights.len() {
        return Err(dispatch(
            call,
            "WeightVecNotEqualSize",
            format!("{} uids but {} weights", dests.len(), weights.len()),
        ));
    }
    let neurons = read_neurons(tx, path, netuid, h.max_validators)?;
    let n = neurons.len();
    if dests.len() > n {
        return Err(dispatch(
            call,
            "UidsLengthExceedUidsInSubNet",
            format!("{} weights for {n} uids", dests.len()),
        ));
    }
    let me = neurons.iter().find(|x| x.hotkey == hotkey).ok_or_else(|| {
        dispatch(
            call,
            "HotKeyNotRegisteredInSubNet",
            format!("hotkey {hotkey} is not registered on netuid {netuid}"),
        )
    })?;
    if me.stake < h.stake_threshold {
        return Err(dispatch(
            call,
            "NotEnoughStakeToSetWeights",
            format!(
                "stake {:.9} TAO is below the threshold {:.9} TAO",
                super::types::tao(me.stake),
                super::types::tao(h.stake_threshold)
            ),
        ));
    }
    if h.weights_version_key != 0 && version_key < h.weights_version_key {
        return Err(dispatch(
            call,
            "IncorrectWeightVersionKey",
            format!(
                "version key {version_key} is below the subnet's {}",
                h.weights_version_key
            ),
        ));
    }
    // With commit-reveal the rate limit applies to commits, not to reveals.
    if direct && me.last_update != 0 && block.saturating_sub(me.last_update) < h.weights_rate_limit
    {
        let wait = h.weights_rate_limit - (block - me.last_update);
        return Err(dispatch(
            call,
            "SettingWeightsTooFast",
            format!("weights set too fast: wait {wait} blocks"),
        ));
    }
    let self_weight = dests.len() == 1 && dests[0] == me.uid;
    if !me.validator_permit && !self_weight {
        return Err(dispatch(
            call,
            "NeuronNoValidatorPermit",
            format!("uid {} has no validator permit", me.uid),
        ));
    }
    let mut seen = std::collections::HashSet::new();
    for uid in dests {
        if !seen.insert(uid) {
            return Err(dispatch(
                call,
                "DuplicateUids",
                format!("uid {uid} appears twice"),
            ));
        }
        if usize::from(*uid) >= n {
            return Err(dispatch(
                call,
                "UidVecContainInvalidOne",
                format!("uid {uid} does not exist on netuid {netuid}"),
            ));
        }
    }
    let minimum = usize::from(h.min_allowed_weights).min(n);
    if !self_weight && dests.len() < minimum {
        return Err(dispatch(
            call,
            "WeightVecLengthIsLow",
            format!("{} weights; at least {minimum} required", dests.len()),
        ));
    }
    if h.max_weights_limit != u16::MAX {
        let sum: u64 = weights.iter().map(|&w| u64::from(w)).sum();
        let max = weights.iter().copied().max().unwrap_or(0);
        if sum > 0 && u64::from(max) * 65535 > u64::from(h.max_weights_limit) * sum {
            return Err(dispatch(
                call,
                "MaxWeightExceeded",
                "one weight exceeds the subnet's maximum share",
            ));
        }
    }
    tx.execute(
            "INSERT INTO weights VALUES (?1, ?2, ?3, ?4, ?5, ?6)
             ON CONFLICT(netuid, uid) DO UPDATE SET dests = ?3, vals = ?4, version_key = ?5, block = ?6",
            params![netuid, me.uid, serde_json::to_string(&dests).unwrap_or_default(),
                    serde_json::to_string(&weights).unwrap_or_default(), version_key as i64, block as i64],
        )
        .map_err(|e| storage(path, e))?;
    // Block 0 reads as "never set", so record at least block 1.
    tx.execute(
        "UPDATE neurons SET last_update = ?1 WHERE netuid = ?2 AND uid = ?3",
        params![block.max(1) as i64, netuid, me.uid],
    )
    .map_err(|e| storage(path, e))?;
    Ok(())
}

/// The devnet's epoch of a block: epochs are `tempo` blocks long, counted from genesis.
fn epoch(block: u64, tempo: u16) -> u64 {
    block / u64::from(tempo.max(1))
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
        self.read(move |tx, _| balance_of(tx, &account).map_err(|e| storage(&path, e)))
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
            let burn = read_hyperparameters(tx, &path, netuid)?.burn;
            let balance = balance_of(tx, &coldkey).map_err(|e| storage(&path, e))?;
            if balance < burn {
                return Err(dispatch(
                    "burned_register",
                    "NotEnoughBalanceToStake",
                    format!(
                        "coldkey {coldkey} holds {:.9} TAO, registration costs {:.9} TAO",
                        super::types::tao(balance),
                        super::types::tao(burn)
                    ),
                ));
            }
            let uid = insert_neuron(tx, &path, netuid, &hotkey, &coldkey, block)?;
            set_balance(tx, &coldkey, balance - burn).map_err(|e| storage(&path, e))?;
            Ok(uid)
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
            let call = "serve_axon";
            let h = read_hyperparameters(tx, &path, netuid)?;
            let uid = uid_of(tx, &path, netuid, &hotkey)?.ok_or_else(|| {
                dispatch(call, "HotKeyNotRegisteredInNetwork", format!("hotkey {hotkey} is not registered on netuid {netuid}"))
            })?;
            if axon.ip_type != 4 && axon.ip_type != 6 {
                return Err(dispatch(call, "InvalidIpType", format!("ip type {} is neither 4 nor 6", axon.ip_type)));
            }
            if (axon.ip_type == 4 && axon.ip >= u128::from(u32::MAX)) || (axon.ip_type == 6 && axon.ip == u128::MAX) {
                return Err(dispatch(call, "InvalidIpAddress", "the address is not a valid IP"));
            }
            if axon.port == 0 {
                return Err(dispatch(call, "InvalidPort", "port 0 cannot be served"));
            }
            let previous: i64 = tx
                .query_row("SELECT axon_block FROM neurons WHERE netuid = ?1 AND uid = ?2", params![netuid, uid], |r| r.get(0))
                .map_err(|e| storage(&path, e))?;
            let previous = previous as u64;
            if h.serving_rate_limit > 0 && previous > 0 && block.saturating_sub(previous) < h.serving_rate_limit {
                let wait = h.serving_rate_limit - (block - previous);
                return Err(dispatch(call, "ServingRateLimitExceeded", format!("axon served too recently: wait {wait} blocks")));
            }
            // Block 0 reads as "never served", so the first serve is recorded at block 1 at least.
            let served_at = block.max(1);
            tx.execute(
                "UPDATE neurons SET axon_block = ?1, axon_version = ?2, axon_ip = ?3, axon_port = ?4,
                        axon_ip_type = ?5, axon_protocol = ?6, axon_p1 = ?7, axon_p2 = ?8
                 WHERE netuid = ?9 AND uid = ?10",
                params![served_at as i64, axon.version, axon.ip.to_string(), axon.port, axon.ip_type,
                        axon.protocol, axon.placeholder1, axon.placeholder2, netuid, uid],
            )
            .map_err(|e| storage(&path, e))?;
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
            apply_weights(
                tx,
                &path,
                "set_weights",
                block,
                netuid,
                &hotkey,
                &dests,
                &weights,
                version_key,
                true,
            )
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
            let call = "commit_weights";
            let h = read_hyperparameters(tx, &path, netuid)?;
            if !h.commit_reveal_enabled {
                return Err(dispatch(call, "CommitRevealDisabled", format!("netuid {netuid} does not use commit-reveal: set the weights directly")));
            }
            let neurons = read_neurons(tx, &path, netuid, h.max_validators)?;
            let me = neurons.iter().find(|x| x.hotkey == hotkey).ok_or_else(|| {
                dispatch(call, "HotKeyNotRegisteredInSubNet", format!("hotkey {hotkey} is not registered on netuid {netuid}"))
            })?;
            if me.last_update != 0 && block.saturating_sub(me.last_update) < h.weights_rate_limit {
                let wait = h.weights_rate_limit - (block - me.last_update);
                return Err(dispatch(call, "CommittingWeightsTooFast", format!("weights committed too fast: wait {wait} blocks")));
            }
            let epoch = epoch(block, h.tempo);
            let unexpired: i64 = tx
                .query_row(
                    "SELECT COUNT(*) FROM commits WHERE netuid = ?1 AND hotkey = ?2 AND epoch + ?3 >= ?4",
                    params![netuid, &hotkey.0[..], h.commit_reveal_period as i64, epoch as i64],
                    |r| r.get(0),
                )
                .map_err(|e| storage(&path, e))?;
            if unexpired >= 10 {
                return Err(dispatch(call, "TooManyUnrevealedCommits", "10 commits are waiting for their reveal"));
            }
            tx.execute(
                "INSERT INTO commits VALUES (?1, ?2, ?3, ?4, ?5)",
                params![netuid, &hotkey.0[..], &commit_hash[..], epoch as i64, block as i64],
            )
            .map_err(|e| storage(&path, e))?;
            tx.execute("UPDATE neurons SET last_update = ?1 WHERE netuid = ?2 AND uid = ?3",
                params![block.max(1) as i64, netuid, me.uid])
                .map_err(|e| storage(&path, e))?;
            Ok(())
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
            let call = "reveal_weights";
            let h = read_hyperparameters(tx, &path, netuid)?;
            if !h.commit_reveal_enabled {
                return Err(dispatch(
                    call,
                    "CommitRevealDisabled",
                    format!("netuid {netuid} does not use commit-reveal"),
                ));
            }
            let hash =
                super::commit::commit_hash(&hotkey, netuid, &uids, &values, &salt, version_key);
            let commit: Option<i64> = tx
                .query_row(
                    "SELECT epoch FROM commits WHERE netuid = ?1 AND hotkey = ?2 AND hash = ?3",
                    params![netuid, &hotkey.0[..], &hash[..]],
                    |r| r.get(0),
                )
                .optional()
                .map_err(|e| storage(&path, e))?;
            let Some(committed) = commit else {
                return Err(dispatch(
                    call,
                    "InvalidRevealCommitHashNotMatch",
                    "no commit of this hotkey matches these weights and salt",
                ));
            };
            let due = committed as u64 + h.commit_reveal_period;
            let now = epoch(block, h.tempo);
            if now < due {
                return Err(dispatch(
                    call,
                    "RevealTooEarly",
                    format!("reveal in epoch {due}; this is epoch {now}"),
                ));
            }
            if now > due {
                tx.execute(
                    "DELETE FROM commits WHERE netuid = ?1 AND hotkey = ?2 AND hash = ?3",
                    params![netuid, &hotkey.0[..], &hash[..]],
                )
                .map_err(|e| storage(&path, e))?;
                return Err(dispatch(
                    call,
                    "ExpiredWeightCommit",
                    format!("the reveal was due in epoch {due}; this is epoch {now}"),
                ));
            }
            apply_weights(
                tx,
                &path,
                call,
                block,
                netuid,
                &hotkey,
                &uids,
                &values,
                version_key,
                false,
            )?;
            tx.execute(
                "DELETE FROM commits WHERE netuid = ?1 AND hotkey = ?2 AND hash = ?3",
                params![netuid, &hotkey.0[..], &hash[..]],
            )
            .map_err(|e| storage(&path, e))?;
            Ok(())
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
        Err(dispatch(
            "commit_timelocked_weights",
            "CallUnavailable",
            "the local devnet has no drand beacon; it uses hash commit-reveal \
             (commit_weights and reveal_weights)",
        ))
    }

    async fn weights(&self, netuid: u16) -> Result<Vec<(u16, Vec<(u16, u16)>)>, ChainError> {
        let path = self.path.clone();
        self.read(move |tx, _| {
            let mut statement = tx
                .prepare("SELECT uid, dests, vals FROM weights WHERE netuid = ?1 ORDER BY uid")
                .map_err(|e| storage(&path, e))?;
            let rows = statement
                .query_map([netuid], |r| {
                    Ok((
                        r.get::<_, u16>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                    ))
                })
                .map_err(|e| storage(&path, e))?;
            let mut out = Vec::new();
            for row in rows {
                let (uid, dests, vals) = row.map_err(|e| storage(&path, e))?;
                let dests: Vec<u16> =
                    serde_json::from_str(&dests).map_err(|e| storage(&path, e))?;
                let vals: Vec<u16> = serde_json::from_str(&vals).map_err(|e| storage(&path, e))?;
                out.push((uid, dests.into_iter().zip(vals).collect()));
            }
            Ok(out)
        })
        .await
    }
}
