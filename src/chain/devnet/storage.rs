//! The devnet's storage: one SQLite file (schema, reads, writes). Each function runs inside a
//! transaction its caller opened; whether a call is allowed is decided by [`super::rules`].

use std::path::Path;
use std::time::Duration;

use rusqlite::{params, Connection, OptionalExtension, Transaction, TransactionBehavior};

use super::rules;
use crate::chain::types::{AxonInfo, Hyperparameters, NeuronInfo, PrometheusInfo, WeightRows};
use crate::chain::ChainError;
use crate::keys::PublicKey;

pub(super) const SCHEMA: &str = "
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
    prometheus_block INTEGER NOT NULL DEFAULT 0, prometheus_version INTEGER NOT NULL DEFAULT 0,
    prometheus_ip TEXT NOT NULL DEFAULT '0', prometheus_port INTEGER NOT NULL DEFAULT 0,
    prometheus_ip_type INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (netuid, uid), UNIQUE (netuid, hotkey));
CREATE TABLE commits (
    netuid INTEGER NOT NULL, hotkey BLOB NOT NULL, hash BLOB NOT NULL, epoch INTEGER NOT NULL,
    block INTEGER NOT NULL);
CREATE TABLE weights (
    netuid INTEGER NOT NULL, uid INTEGER NOT NULL, dests TEXT NOT NULL, vals TEXT NOT NULL,
    version_key INTEGER NOT NULL, block INTEGER NOT NULL, PRIMARY KEY (netuid, uid));
CREATE TABLE subnet_owners (netuid INTEGER PRIMARY KEY, hotkey BLOB NOT NULL);
";

/// Columns of `neurons` added after the first devnets were made, with their definitions:
/// [`upgrade`] adds those a database lacks.
const ADDED_NEURON_COLUMNS: &[(&str, &str)] = &[
    ("prometheus_block", "INTEGER NOT NULL DEFAULT 0"),
    ("prometheus_version", "INTEGER NOT NULL DEFAULT 0"),
    ("prometheus_ip", "TEXT NOT NULL DEFAULT '0'"),
    ("prometheus_port", "INTEGER NOT NULL DEFAULT 0"),
    ("prometheus_ip_type", "INTEGER NOT NULL DEFAULT 0"),
];

/// Brings a devnet made by an older sn27 up to [`SCHEMA`]: adds the columns it lacks, with
/// their defaults (nothing served), and the subnet owners' table. A current database is only read; otherwise the columns
/// are looked at again and added in one immediate transaction, so two processes opening the
/// same old file do not both add one.
pub(super) fn upgrade(connection: &mut Connection, path: &Path) -> Result<(), ChainError> {
    let missing = |present: &[String]| -> Vec<&(&str, &str)> {
        ADDED_NEURON_COLUMNS
            .iter()
            .filter(|(column, _)| !present.iter().any(|name| name == column))
            .collect()
    };
    if missing(&neuron_columns(connection, path)?).is_empty() && has_owners_table(connection, path)?
    {
        return Ok(());
    }
    let tx = connection
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(|e| storage(path, e))?;
    for (column, definition) in missing(&neuron_columns(&tx, path)?) {
        tx.execute_batch(&format!(
            "ALTER TABLE neurons ADD COLUMN {column} {definition}"
        ))
        .map_err(|e| storage(path, format!("adding column {column}: {e}")))?;
    }
    tx.execute_batch(
        "CREATE TABLE IF NOT EXISTS subnet_owners (netuid INTEGER PRIMARY KEY, hotkey BLOB NOT NULL)",
    )
    .map_err(|e| storage(path, format!("adding table subnet_owners: {e}")))?;
    tx.commit().map_err(|e| storage(path, e))
}

/// Whether the subnet owners' table (added after the first devnets) exists.
fn has_owners_table(conn: &Connection, path: &Path) -> Result<bool, ChainError> {
    conn.query_row(
        "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'subnet_owners'",
        [],
        |r| r.get::<_, i64>(0),
    )
    .map(|n| n > 0)
    .map_err(|e| storage(path, e))
}

/// The column names of `neurons`; a database without that table is not a devnet.
fn neuron_columns(conn: &Connection, path: &Path) -> Result<Vec<String>, ChainError> {
    let mut statement = conn
        .prepare("SELECT name FROM pragma_table_info('neurons')")
        .map_err(|e| storage(path, e))?;
    let names: Vec<String> = statement
        .query_map([], |r| r.get(0))
        .map_err(|e| storage(path, e))?
        .collect::<Result<_, _>>()
        .map_err(|e| storage(path, e))?;
    if names.is_empty() {
        return Err(storage(path, "not a devnet database (no neurons table)"));
    }
    Ok(names)
}

/// A storage failure, naming the database file.
pub(super) fn storage(path: &Path, error: impl std::fmt::Display) -> ChainError {
    ChainError::Storage {
        path: path.to_owned(),
        reason: error.to_string(),
    }
}

pub(super) fn open_connection(path: &Path) -> Result<Connection, ChainError> {
    let connection = Connection::open(path).map_err(|e| storage(path, e))?;
    connection
        .busy_timeout(Duration::from_secs(10))
        .map_err(|e| storage(path, e))?;
    connection
        .pragma_update(None, "journal_mode", "WAL")
        .map_err(|e| storage(path, e))?;
    Ok(connection)
}

/// The subnet owner's hotkey, if one was set.
pub(super) fn subnet_owner(
    conn: &Connection,
    path: &Path,
    netuid: u16,
) -> Result<Option<PublicKey>, ChainError> {
    let bytes: Option<Vec<u8>> = conn
        .query_row(
            "SELECT hotkey FROM subnet_owners WHERE netuid = ?1",
            [netuid],
            |r| r.get(0),
        )
        .optional()
        .map_err(|e| storage(path, e))?;
    bytes
        .map(|b| {
            <[u8; 32]>::try_from(b.as_slice())
                .map(PublicKey)
                .map_err(|_| storage(path, "a subnet owner hotkey is not 32 bytes"))
        })
        .transpose()
}

/// Creates a subnet with hyperparameters `h`.
pub(super) fn create_subnet(
    tx: &Transaction,
    path: &Path,
    netuid: u16,
    h: &Hyperparameters,
) -> Result<(), ChainError> {
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
    Ok(())
}

/// Records an axon served at `block` by `uid`.
pub(super) fn record_axon(
    tx: &Transaction,
    path: &Path,
    netuid: u16,
    uid: u16,
    axon: &AxonInfo,
    block: u64,
) -> Result<(), ChainError> {
    tx.execute(
        "UPDATE neurons SET axon_block = ?1, axon_version = ?2, axon_ip = ?3, axon_port = ?4,
                axon_ip_type = ?5, axon_protocol = ?6, axon_p1 = ?7, axon_p2 = ?8
         WHERE netuid = ?9 AND uid = ?10",
        params![
            block as i64,
            axon.version,
            axon.ip.to_string(),
            axon.port,
            axon.ip_type,
            axon.protocol,
            axon.placeholder1,
            axon.placeholder2,
            netuid,
            uid
        ],
    )
    .map_err(|e| storage(path, e))?;
    Ok(())
}

/// What a neuron serves on chain.
#[derive(Debug, Clone, Copy)]
pub(super) enum Endpoint {
    Axon,
    Prometheus,
}

/// The block `uid` last served `endpoint` at; 0 when never, or when there is no uid.
pub(super) fn served_block(
    tx: &Transaction,
    path: &Path,
    netuid: u16,
    uid: Option<u16>,
    endpoint: Endpoint,
) -> Result<u64, ChainError> {
    let Some(uid) = uid else { return Ok(0) };
    let column = match endpoint {
        Endpoint::Axon => "axon_block",
        Endpoint::Prometheus => "prometheus_block",
    };
    let block: i64 = tx
        .query_row(
            &format!("SELECT {column} FROM neurons WHERE netuid = ?1 AND uid = ?2"),
            params![netuid, uid],
            |r| r.get(0),
        )
        .map_err(|e| storage(path, e))?;
    Ok(block as u64)
}

/// Records prometheus info served at `block` by `uid`.
pub(super) fn record_prometheus(
    tx: &Transaction,
    path: &Path,
    netuid: u16,
    uid: u16,
    info: &PrometheusInfo,
    block: u64,
) -> Result<(), ChainError> {
    tx.execute(
        "UPDATE neurons SET prometheus_block = ?1, prometheus_version = ?2, prometheus_ip = ?3,
                prometheus_port = ?4, prometheus_ip_type = ?5
         WHERE netuid = ?6 AND uid = ?7",
        params![
            block as i64,
            info.version,
            info.ip.to_string(),
            info.port,
            info.ip_type,
            netuid,
            uid
        ],
    )
    .map_err(|e| storage(path, e))?;
    Ok(())
}

/// Stores `uid`'s weights and marks its last update.
#[allow(clippy::too_many_arguments)]
pub(super) fn record_weights(
    tx: &Transaction,
    path: &Path,
    netuid: u16,
    uid: u16,
    dests: &[u16],
    weights: &[u16],
    version_key: u64,
    block: u64,
) -> Result<(), ChainError> {
    let json = |v: &[u16]| serde_json::to_string(v).map_err(|e| storage(path, e));
    tx.execute(
        "INSERT INTO weights VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT(netuid, uid) DO UPDATE SET dests = ?3, vals = ?4, version_key = ?5, block = ?6",
        params![netuid, uid, json(dests)?, json(weights)?, version_key as i64, block as i64],
    )
    .map_err(|e| storage(path, e))?;
    touch(tx, path, netuid, uid, block)
}

/// Marks `uid`'s last weights update at `block` (block 0 reads as "never", so at least 1).
pub(super) fn touch(
    tx: &Transaction,
    path: &Path,
    netuid: u16,
    uid: u16,
    block: u64,
) -> Result<(), ChainError> {
    tx.execute(
        "UPDATE neurons SET last_update = ?1 WHERE netuid = ?2 AND uid = ?3",
        params![block.max(1) as i64, netuid, uid],
    )
    .map_err(|e| storage(path, e))?;
    Ok(())
}

/// Commits of `hotkey` on `netuid` not yet expired in `epoch`.
pub(super) fn unrevealed_commits(
    tx: &Transaction,
    path: &Path,
    netuid: u16,
    hotkey: &PublicKey,
    period: u64,
    epoch: u64,
) -> Result<u64, ChainError> {
    let count: i64 = tx
        .query_row(
            "SELECT COUNT(*) FROM commits WHERE netuid = ?1 AND hotkey = ?2 AND epoch + ?3 >= ?4",
            params![netuid, &hotkey.0[..], period as i64, epoch as i64],
            |r| r.get(0),
        )
        .map_err(|e| storage(path, e))?;
    Ok(count as u64)
}

pub(super) fn insert_commit(
    tx: &Transaction,
    path: &Path,
    netuid: u16,
    hotkey: &PublicKey,
    hash: &[u8; 32],
    epoch: u64,
    block: u64,
) -> Result<(), ChainError> {
    tx.execute(
        "INSERT INTO commits VALUES (?1, ?2, ?3, ?4, ?5)",
        params![netuid, &hotkey.0[..], &hash[..], epoch as i64, block as i64],
    )
    .map_err(|e| storage(path, e))?;
    Ok(())
}

/// The epoch of `hotkey`'s commit of `hash`, if there is one.
pub(super) fn commit_epoch(
    tx: &Transaction,
    path: &Path,
    netuid: u16,
    hotkey: &PublicKey,
    hash: &[u8; 32],
) -> Result<Option<u64>, ChainError> {
    let epoch: Option<i64> = tx
        .query_row(
            "SELECT epoch FROM commits WHERE netuid = ?1 AND hotkey = ?2 AND hash = ?3",
            params![netuid, &hotkey.0[..], &hash[..]],
            |r| r.get(0),
        )
        .optional()
        .map_err(|e| storage(path, e))?;
    Ok(epoch.map(|e| e as u64))
}

pub(super) fn delete_commit(
    tx: &Transaction,
    path: &Path,
    netuid: u16,
    hotkey: &PublicKey,
    hash: &[u8; 32],
) -> Result<(), ChainError> {
    tx.execute(
        "DELETE FROM commits WHERE netuid = ?1 AND hotkey = ?2 AND hash = ?3",
        params![netuid, &hotkey.0[..], &hash[..]],
    )
    .map_err(|e| storage(path, e))?;
    Ok(())
}

/// Weights set on `netuid`, per setter uid.
pub(super) fn all_weights(
    tx: &Transaction,
    path: &Path,
    netuid: u16,
) -> Result<WeightRows, ChainError> {
    let mut statement = tx
        .prepare("SELECT uid, dests, vals FROM weights WHERE netuid = ?1 ORDER BY uid")
        .map_err(|e| storage(path, e))?;
    let rows = statement
        .query_map([netuid], |r| {
            Ok((
                r.get::<_, u16>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
            ))
        })
        .map_err(|e| storage(path, e))?;
    let mut out = Vec::new();
    for row in rows {
        let (uid, dests, vals) = row.map_err(|e| storage(path, e))?;
        let dests: Vec<u16> = serde_json::from_str(&dests).map_err(|e| storage(path, e))?;
        let vals: Vec<u16> = serde_json::from_str(&vals).map_err(|e| storage(path, e))?;
        out.push((uid, dests.into_iter().zip(vals).collect()));
    }
    Ok(out)
}

pub(super) fn balance_of(tx: &Transaction, account: &PublicKey) -> rusqlite::Result<u64> {
    Ok(tx
        .query_row(
            "SELECT rao FROM balances WHERE account = ?1",
            [&account.0[..]],
            |r| r.get::<_, i64>(0),
        )
        .optional()?
        .unwrap_or(0) as u64)
}

pub(super) fn set_balance(tx: &Transaction, account: &PublicKey, rao: u64) -> rusqlite::Result<()> {
    tx.execute(
        "INSERT INTO balances VALUES (?1, ?2) ON CONFLICT(account) DO UPDATE SET rao = ?2",
        params![&account.0[..], rao as i64],
    )?;
    Ok(())
}

pub(super) fn read_hyperparameters(
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

/// Registers `hotkey` if the pallet's rules allow it (`balance`: the coldkey's, when it pays
/// the burn); returns the uid.
pub(super) fn register(
    tx: &Transaction,
    path: &Path,
    netuid: u16,
    hotkey: &PublicKey,
    coldkey: &PublicKey,
    balance: Option<u64>,
    block: u64,
) -> Result<u16, ChainError> {
    let h = read_hyperparameters(tx, path, netuid)?;
    let owner: Option<Vec<u8>> = tx
        .query_row(
            "SELECT coldkey FROM neurons WHERE hotkey = ?1 LIMIT 1",
            [&hotkey.0[..]],
            |r| r.get(0),
        )
        .optional()
        .map_err(|e| storage(path, e))?;
    let neurons: u16 = tx
        .query_row(
            "SELECT COUNT(*) FROM neurons WHERE netuid = ?1",
            [netuid],
            |r| r.get(0),
        )
        .map_err(|e| storage(path, e))?;
    let uid = rules::register(
        &h,
        &rules::Registration {
            netuid,
            hotkey: *hotkey,
            coldkey: *coldkey,
            registered_here: uid_of(tx, path, netuid, hotkey)?.is_some(),
            owner: owner.map(key).transpose().map_err(|e| storage(path, e))?,
            neurons,
            balance,
        },
    )?;
    tx.execute(
        "INSERT INTO neurons (netuid, uid, hotkey, coldkey, stake, registered_at, last_update)
         VALUES (?1, ?2, ?3, ?4, 0, ?5, 0)",
        params![netuid, uid, &hotkey.0[..], &coldkey.0[..], block as i64],
    )
    .map_err(|e| storage(path, e))?;
    if let Some(balance) = balance {
        set_balance(tx, coldkey, balance - h.burn).map_err(|e| storage(path, e))?;
    }
    Ok(uid)
}

pub(super) fn uid_of(
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

pub(super) fn read_neurons(
    conn: &Connection,
    path: &Path,
    netuid: u16,
    max_validators: u16,
) -> Result<Vec<NeuronInfo>, ChainError> {
    let mut statement = conn
        .prepare(
            "SELECT uid, hotkey, coldkey, stake, registered_at, last_update, axon_block,
                    axon_version, axon_ip, axon_port, axon_ip_type, axon_protocol, axon_p1, axon_p2,
                    prometheus_block, prometheus_version, prometheus_ip, prometheus_port,
                    prometheus_ip_type
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
                // The devnet keeps one stake number per neuron, with no pool and no root
                // network: it is alpha on the subnet (1 TAO staked = 1 alpha), and the total.
                alpha_stake: r.get::<_, i64>(3)? as u64,
                tao_stake: Some(0),
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
                prometheus: PrometheusInfo {
                    block: r.get::<_, i64>(14)? as u64,
                    version: r.get(15)?,
                    ip: r.get::<_, String>(16)?.parse().unwrap_or(0),
                    port: r.get(17)?,
                    ip_type: r.get(18)?,
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
