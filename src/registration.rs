//! Registering a hotkey on the subnet by burn, the checks before anything is sent shared by
//! `sn27 register` and `sn27 run` (which registers by itself when `[chain] auto_register` is
//! on and the burn is within `[chain] max_burn`).

use crate::chain::types::{rao, tao};
use crate::chain::{Chain, ChainError};
use crate::config::Config;
use crate::keys::{Keypair, PublicKey};
use crate::wallet::{KeyRole, PasswordSource, Wallet};

/// What registering would cost and whether it is needed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Plan {
    /// The burn now, RAO.
    pub burn: u64,
    /// The coldkey's free balance, RAO.
    pub free: u64,
    /// The uid, when the hotkey is already registered.
    pub registered: Option<u16>,
}

/// Reads what [`Plan`] needs.
pub async fn plan(
    chain: &dyn Chain,
    netuid: u16,
    hotkey: &PublicKey,
    coldkey: &PublicKey,
) -> Result<Plan, ChainError> {
    let burn = chain.hyperparameters(netuid).await?.burn;
    let metagraph = chain.metagraph(netuid).await?;
    let registered = metagraph
        .neurons
        .iter()
        .find(|n| n.hotkey == *hotkey)
        .map(|n| n.uid);
    let free = chain.balance(coldkey).await?;
    Ok(Plan {
        burn,
        free,
        registered,
    })
}

impl Plan {
    /// Refuses, in words that say what is missing, a registration that costs more than
    /// `max_burn` (RAO, and what the operator calls that limit, when given) or more than the
    /// coldkey holds. Nothing is sent either way: the chain's own refusal would use up a nonce.
    pub fn check(&self, coldkey: &PublicKey, max_burn: Option<(u64, &str)>) -> Result<(), String> {
        if let Some((limit, name)) = max_burn {
            if self.burn > limit {
                return Err(format!(
                    "the burn cost {:.9} TAO is above {name} {:.9} TAO; nothing was sent",
                    tao(self.burn),
                    tao(limit)
                ));
            }
        }
        if self.free < self.burn {
            return Err(format!(
                "coldkey {coldkey} has {:.9} TAO free but the burn is {:.9} TAO: {:.9} TAO \
                 missing; nothing was sent",
                tao(self.free),
                tao(self.burn),
                tao(self.burn - self.free)
            ));
        }
        Ok(())
    }
}

/// Before a service starts: `hotkey` must be registered on the configured subnet. With
/// `[chain] auto_register` on and the burn within `max_burn`, it is registered here (the
/// coldkey decrypted on a blocking thread, its password from the configured source only);
/// otherwise the error says what to run. Returns the uid.
pub async fn ensure_registered(
    chain: &dyn Chain,
    config: &Config,
    hotkey: &Keypair,
) -> anyhow::Result<u16> {
    let netuid = config.chain.netuid;
    let me = hotkey.public();
    let metagraph = chain.metagraph(netuid).await?;
    if let Some(neuron) = metagraph.neurons.iter().find(|n| n.hotkey == me) {
        return Ok(neuron.uid);
    }
    if !config.chain.auto_register {
        anyhow::bail!(
            "hotkey {me} is not registered on netuid {netuid}; register it first with \
             `sn27 register` (it burns the registration cost from the wallet's coldkey), or set \
             [chain] auto_register and max_burn"
        );
    }
    let w = &config.wallet;
    let wallet = Wallet::new(w.root(), &w.name, &w.hotkey)?;
    let coldkey_address = wallet.address(KeyRole::Coldkey)?;
    let plan = plan(chain, netuid, &me, &coldkey_address).await?;
    let limit = rao(config.chain.max_burn).unwrap_or(0);
    plan.check(&coldkey_address, Some((limit, "[chain] max_burn")))
        .map_err(|e| anyhow::anyhow!("auto-registration of {me} on netuid {netuid}: {e}"))?;
    tracing::info!(hotkey = %me, netuid, burn_tao = tao(plan.burn),
        "registering the hotkey ([chain] auto_register)");
    // A service never prompts: the password comes from the configured variable or file.
    let passwords = PasswordSource::new(w.password_env.clone(), w.password_file.clone());
    let coldkey =
        tokio::task::spawn_blocking(move || wallet.keypair(KeyRole::Coldkey, &passwords)).await??;
    let uid = chain.burned_register(&coldkey, netuid, &me).await?;
    tracing::info!(hotkey = %me, netuid, uid, "registered");
    Ok(uid)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::Keypair;

    #[test]
    fn a_burn_above_the_limit_or_the_balance_is_refused_by_name() {
        let coldkey = Keypair::generate(12).unwrap().public();
        let plan = Plan {
            burn: 1_500_000_000,
            free: 1_000_000_000,
            registered: None,
        };
        let error = plan
            .check(&coldkey, Some((1_000_000_000, "[chain] max_burn")))
            .unwrap_err();
        assert!(
            error.contains("above [chain] max_burn 1.000000000 TAO"),
            "{error}"
        );
        let error = plan.check(&coldkey, None).unwrap_err();
        assert!(error.contains("0.500000000 TAO missing"), "{error}");
        let rich = Plan {
            free: 2_000_000_000,
            ..plan
        };
        assert!(rich.check(&coldkey, Some((2_000_000_000, "x"))).is_ok());
    }
}
