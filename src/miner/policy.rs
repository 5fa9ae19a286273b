//! Who may call the miner, and in what order (`sn27-protocol.md` §10.3, defect #1 fixed).
//!
//! Every caller is checked, in this order: hotkey blacklist; registration on the subnet;
//! coldkey blacklist; the hotkey and coldkey whitelists (a non-empty list admits only its
//! members); then stake: a caller needs a validator permit or at least `min_validator_stake`,
//! unless `whitelist_not_enough_stake` is set or its hotkey is explicitly whitelisted; then
//! the version gate of `sn27-v2.md` §1.4: once more than `whitelist_updated_threshold`
//! percent of the validators holding `min_validator_stake` have published a prometheus
//! version of at least `min_validator_version`, only those validators are admitted (unless
//! `whitelist_not_updated` is set or the hotkey is explicitly whitelisted).
//! Priority is the caller's stake plus a per-synapse offset (Allocate 3, Challenge 2, Specs 1).

use std::collections::HashSet;
use std::sync::{Arc, RwLock};

use crate::axon::{AccessPolicy, Admission};
use crate::config::MinerConfig;
use crate::keys::{KeyError, PublicKey};
use crate::metagraph::{Neuron, SharedMetagraph};

/// The miner's policy, built from `[miner]` and a live metagraph.
pub struct MinerAccessPolicy {
    metagraph: Arc<SharedMetagraph>,
    min_stake: f64,
    allow_low_stake: bool,
    /// Minimum prometheus version of callers once the gate applies (0: no gate).
    min_version: u32,
    /// Percent of staked validators that must be updated for the gate to apply.
    updated_threshold: u8,
    allow_outdated: bool,
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
            min_version: config.min_validator_version,
            updated_threshold: config.whitelist_updated_threshold,
            allow_outdated: config.whitelist_not_updated,
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
        if self.min_version > 0 && !self.allow_outdated && !whitelisted {
            let updated =
                |n: &Neuron| n.stake >= self.min_stake && n.prometheus_version >= self.min_version;
            let staked = snapshot
                .neurons()
                .filter(|n| n.stake >= self.min_stake)
                .count();
            let current = snapshot.neurons().filter(|n| updated(n)).count();
            // The reference's rule: the gate applies when more than the threshold are updated.
            let gate = staked > 0 && current * 100 > staked * usize::from(self.updated_threshold);
            if gate && !updated(neuron) {
                return Err(format!(
                    "hotkey {caller} is not an updated validator: prometheus version {} (minimum \
                     {}, which {current} of {staked} staked validators serve)",
                    neuron.prometheus_version, self.min_version
                ));
            }
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
    /// `sn27-v2.md` §1.4: with more than 20 % of the staked validators on version 221, the
    /// others are refused; at 20 % or less, nobody is; the bypasses admit them.
    #[test]
    fn outdated_validators_are_refused_once_enough_are_updated() {
        let validator = |uid, version| Neuron {
            prometheus_version: version,
            ..neuron(uid, 20_000.0, true)
        };
        let current = validator(1, 221);
        let newer = validator(2, 240);
        let old = validator(3, 183);
        let never = validator(4, 0);
        let poor_updated = Neuron {
            prometheus_version: 221,
            ..neuron(5, 10.0, false)
        };
        let crowd: Vec<Neuron> = (6..14).map(|uid| validator(uid, 0)).collect();

        // 2 of 4 staked validators updated (50 % > 20 %): the gate applies.
        let all = [
            current.clone(),
            newer.clone(),
            old.clone(),
            never.clone(),
            poor_updated.clone(),
        ];
        let p = policy(MinerConfig::default(), &all);
        assert!(p.admit(&current.hotkey, "Allocate").is_ok());
        assert!(p.admit(&newer.hotkey, "Allocate").is_ok());
        let refused = p.admit(&old.hotkey, "Allocate").unwrap_err();
        assert!(
            refused.contains("not an updated validator")
                && refused.contains("version 183")
                && refused.contains("2 of 4"),
            "{refused}"
        );
        assert!(p.admit(&never.hotkey, "Allocate").is_err());
        // Below the stake threshold: refused for stake first.
        assert!(p
            .admit(&poor_updated.hotkey, "Allocate")
            .unwrap_err()
            .contains("below the minimum"));

        // 2 of 12 (16.7 % ≤ 20 %): no gate yet.
        let mut many = all.to_vec();
        many.extend(crowd);
        let p = policy(MinerConfig::default(), &many);
        assert!(p.admit(&old.hotkey, "Allocate").is_ok());

        // The bypasses.
        for config in [
            MinerConfig {
                whitelist_not_updated: true,
                ..MinerConfig::default()
            },
            MinerConfig {
                min_validator_version: 0,
                ..MinerConfig::default()
            },
            MinerConfig {
                hotkey_whitelist: vec![old.hotkey.to_ss58(), current.hotkey.to_ss58()],
                ..MinerConfig::default()
            },
        ] {
            assert!(policy(config, &all).admit(&old.hotkey, "Allocate").is_ok());
        }
    }
}
