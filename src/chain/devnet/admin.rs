//! The devnet's administration (`sn27 devnet fund|set|register`): what a faucet, a subnet
//! owner or sudo would do on a real chain, for demos and tests on one machine.

use rusqlite::params;

use super::storage::{self, storage};
use super::Devnet;
use crate::chain::ChainError;
use crate::keys::PublicKey;

impl Devnet {
    /// Adds `rao` to an account's free balance (admin command).
    pub async fn fund(&self, account: PublicKey, rao: u64) -> Result<u64, ChainError> {
        let path = self.path.clone();
        self.write(move |tx, _| {
            let balance = storage::balance_of(tx, &account).map_err(|e| storage(&path, e))?;
            let new = balance
                .checked_add(rao)
                .ok_or_else(|| ChainError::Invalid("balance would overflow".into()))?;
            storage::set_balance(tx, &account, new).map_err(|e| storage(&path, e))?;
            Ok(new)
        })
        .await
    }

    /// Changes one subnet parameter (admin command), as a subnet owner or sudo would. Booleans
    /// take `true`/`false`, `burn` and `stake_threshold` TAO, `owner_hotkey` an ss58 address
    /// (the subnet owner's hotkey), the others integers.
    pub async fn set_hyperparameter(
        &self,
        netuid: u16,
        name: &str,
        value: &str,
    ) -> Result<(), ChainError> {
        let invalid = |why: &str| ChainError::Invalid(format!("{name} = {value:?}: {why}"));
        if name == "owner_hotkey" {
            let hotkey = PublicKey::from_ss58(value).map_err(|e| invalid(&e.to_string()))?;
            let path = self.path.clone();
            return self
                .write(move |tx, _| {
                    storage::read_hyperparameters(tx, &path, netuid)?;
                    tx.execute(
                        "INSERT OR REPLACE INTO subnet_owners VALUES (?1, ?2)",
                        params![netuid, hotkey.0.to_vec()],
                    )
                    .map_err(|e| storage(&path, e))?;
                    Ok(())
                })
                .await;
        }
        let (column, number): (&'static str, i64) = match name {
            "commit_reveal" | "registration_allowed" => {
                let flag: bool = value.parse().map_err(|_| invalid("expected true or false"))?;
                (if name == "commit_reveal" { "commit_reveal" } else { "registration_allowed" }, i64::from(flag))
            }
            "burn" | "stake_threshold" => {
                let tao: f64 = value.parse().map_err(|_| invalid("expected an amount of TAO"))?;
                let rao = crate::chain::types::rao(tao).ok_or_else(|| invalid("expected a non-negative amount of TAO"))?;
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
                     max_weights_limit, max_validators, max_uids, burn, stake_threshold, registration_allowed, \
                     owner_hotkey"
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
            let uid = storage::register(tx, &path, netuid, &hotkey, &coldkey, None, block)?;
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
