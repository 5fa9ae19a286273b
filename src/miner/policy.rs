//! Who may call the miner, and in what order (`sn27-protocol.md` §10.3, defect #1 fixed).
//!
//! Every caller is checked, in this order: hotkey blacklist; registration on the subnet;
//! coldkey blacklist; the hotkey and coldkey whitelists (a non-empty list admits only its
//! members); then stake: a caller needs a validator permit or at least `min_validator_stake`,
//! unless `whitelist_not_enough_stake` is set or its hotkey is explicitly whitelisted.
//! Priority is the caller's stake plus a per-synapse offset (Allocate 3, Challenge 2, Specs 1).

use std::collections::HashSet;
use std::sync::{Arc, RwLock};

use crate::axon::{AccessPolicy, Admission};
use crate::config::MinerConfig;
use crate::keys::{KeyError, PublicKey};
use crate::metagraph::SharedMetagraph;

/// The miner's policy, built from `[miner]` and a live metagraph.
pub struct MinerAccessPolicy {
    metagraph: Arc<SharedMetagraph>,
    min_stake: f64,
    allow_low_stake: bool,
    hotkey_whitelist: HashSet<PublicKey>,
    hotkey_blacklist: HashSet<PublicKey>,
    coldkey_whitelist: HashSet<PublicKey>,
    coldkey_blacklist: HashSet<PublicKey>,
}

impl MinerAccessPolicy {
    pub fn new(config: &MinerConfig, metagraph: Arc<SharedMetagraph>) -> Result<Self, KeyError> {
        let parse = |list: &[String]| -> Result<HashSet<PublicKey>, KeyError> {
            list.iter().map(|a| PublicKey::from_ss58(a)).collect()
        };
        Ok(MinerAccessPolicy {
            metagraph,
            min_stake: config.min_validator_stake,
            allow_low_stake: config.whitelist_not_enough_stake,
            hotkey_whitelist: parse(&config.hotkey_whitelist)?,
            hotkey_blacklist: parse(&config.hotkey_blacklist)?,
            coldkey_whitelist: parse(&config.coldkey_whitelist)?,
            coldkey_blacklist: parse(&config.coldkey_blacklist)?,
        })
    }
}

/// Added to the caller's stake so that, at equal stake, allocations go first.
pub fn priority_offset(synapse: &str) -> f64 {
    match synapse {
        "Allocate" => 3.0,
        "Challenge" => 2.0,
        "Specs" => 1.0,
        _ => 0.0,
    }
}

impl AccessPolicy for MinerAccessPolicy {
    fn admit(&self, caller: &PublicKey, synapse: &str) -> Result<Admission, String> {
        if self.hotkey_blacklist.contains(caller) {
            return Err(format!("hotkey {caller} is blacklisted"));
        }
        let snapshot = self.metagraph.current();
        let Some(neuron) = snapshot.neuron(caller) else {
            return Err(format!(
                "hotkey {caller} is not registered on netuid {}",
                snapshot.netuid
            ));
        };
        if self.coldkey_blacklist.contains(&neuron.coldkey) {
            return Err(format!("coldkey {} is blacklisted", neuron.coldkey));
        }
        let whitelisted = self.hotkey_whitelist.contains(caller);
        if !self.hotkey_whitelist.is_empty() && !whitelisted {
            return Err(format!("hotkey {caller} is not in the hotkey whitelist"));
        }
        if !self.coldkey_whitelist.is_empty() && !self.coldkey_whitelist.contains(&neuron.coldkey) {
            return Err(format!(
                "coldkey {} is not in the coldkey whitelist",
                neuron.coldkey
            ));
        }
        let enough_stake = neuron.validator_permit || neuron.stake >= self.min_stake;
        if !enough_stake && !self.allow_low_stake && !whitelisted {
            return Err(format!(
                "stake {:.3} TAO is below the minimum {:.3} TAO and there is no validator permit",
                neuron.stake, self.min_stake
            ));
        }
        Ok(Admission {
            priority: neuron.stake + priority_offset(synapse),
            neuron: Some(neuron.clone()),
        })
    }
}

/// The caller policy in force, replaceable while the axon serves (a reload with SIGHUP).
pub struct CurrentPolicy(RwLock<Arc<MinerAccessPolicy>>);

impl CurrentPolicy {
    pub fn new(policy: MinerAccessPolicy) -> Self {
        CurrentPolicy(RwLock::new(Arc::new(policy)))
    }

    pub fn replace(&self, policy: MinerAccessPolicy) {
        *self.0.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(policy);
    }
}

impl AccessPolicy for CurrentPolicy {
    fn admit(&self, caller: &PublicKey, synapse: &str) -> Result<Admission, String> {
        let policy = self.0.read().unwrap_or_else(|e| e.into_inner()).clone();
        policy.admit(caller, synapse)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::Keypair;
    use crate::metagraph::{MetagraphSnapshot, Neuron};

    fn key() -> PublicKey {
        Keypair::generate(12).unwrap().public()
    }

    fn neuron(uid: u16, stake: f64, permit: bool) -> Neuron {
        Neuron {
            uid,
            hotkey: key(),
            coldkey: key(),
            stake,
            validator_permit: permit,
            prometheus_version: 0,
        }
    }

    fn policy(config: MinerConfig, neurons: &[Neuron]) -> MinerAccessPolicy {
        let metagraph = SharedMetagraph::new(MetagraphSnapshot::new(27, 1, neurons.to_vec()));
        MinerAccessPolicy::new(&config, Arc::new(metagraph)).unwrap()
    }

    #[test]
    fn registered_staked_callers_are_admitted_with_priority() {
        let rich = neuron(1, 20_000.0, false);
        let p = policy(MinerConfig::default(), std::slice::from_ref(&rich));
        let admission = p.admit(&rich.hotkey, "Allocate").unwrap();
        assert_eq!(admission.priority, 20_003.0);
        assert_eq!(
            p.admit(&rich.hotkey, "Challenge").unwrap().priority,
            20_002.0
        );
        assert_eq!(p.admit(&rich.hotkey, "Synapse").unwrap().priority, 20_000.0);
    }

    #[test]
    fn unregistered_and_low_stake_callers_are_refused() {
        let poor = neuron(2, 10.0, false);
        let permitted = neuron(3, 10.0, true);
        let p = policy(MinerConfig::default(), &[poor.clone(), permitted.clone()]);
        assert!(p
            .admit(&key(), "Allocate")
            .unwrap_err()
            .contains("not registered on netuid 27"));
        assert!(p
            .admit(&poor.hotkey, "Allocate")
            .unwrap_err()
            .contains("below the minimum"));
        assert!(p.admit(&permitted.hotkey, "Allocate").is_ok());
        let lenient = policy(
            MinerConfig {
                whitelist_not_enough_stake: true,
                ..MinerConfig::default()
            },
            std::slice::from_ref(&poor),
        );
        assert!(lenient.admit(&poor.hotkey, "Allocate").is_ok());
    }

    #[test]
    fn lists_are_enforced_not_inverted() {
        let listed = neuron(1, 5000.0, true);
        let other = neuron(2, 5000.0, true);
        let poor_listed = neuron(3, 1.0, false);
        let config = MinerConfig {
            hotkey_whitelist: vec![listed.hotkey.to_ss58(), poor_listed.hotkey.to_ss58()],
            ..MinerConfig::default()
        };
        let p = policy(
            config,
            &[listed.clone(), other.clone(), poor_listed.clone()],
        );
        assert!(p.admit(&listed.hotkey, "Allocate").is_ok());
        assert!(p
            .admit(&other.hotkey, "Allocate")
            .unwrap_err()
            .contains("whitelist"));
        assert!(
            p.admit(&poor_listed.hotkey, "Allocate").is_ok(),
            "listed: stake not required"
        );

        let config = MinerConfig {
            hotkey_blacklist: vec![listed.hotkey.to_ss58()],
            coldkey_blacklist: vec![other.coldkey.to_ss58()],
            ..MinerConfig::default()
        };
        let p = policy(config, &[listed.clone(), other.clone()]);
        assert!(p
            .admit(&listed.hotkey, "Allocate")
            .unwrap_err()
            .contains("blacklisted"));
        assert!(p
            .admit(&other.hotkey, "Allocate")
            .unwrap_err()
            .contains("coldkey"));

        let config = MinerConfig {
            coldkey_whitelist: vec![listed.coldkey.to_ss58()],
            ..MinerConfig::default()
        };
        let p = policy(config, &[listed.clone(), other.clone()]);
        assert!(p.admit(&listed.hotkey, "Allocate").is_ok());
        assert!(p.admit(&other.hotkey, "Allocate").is_err());
    }
}
