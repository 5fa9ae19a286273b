//! Which miners a validator tests (`sn27-protocol.md` §10.1, `sn27-v2.md` §1.3): those serving
//! an axon, not blacklisted, the lowest uid of each IP address when that rule is on, and —
//! once enough miners serve it — at least the configured minimum axon version. Every
//! excluded uid keeps the reason, which `sn27 scores` shows.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::net::{IpAddr, SocketAddr};

use crate::chain::Metagraph;
use crate::keys::PublicKey;

/// The rules, from `[validator]`.
#[derive(Debug, Clone, Default)]
pub struct SelectionRules {
    pub min_miner_version: u32,
    /// Percent of candidates that must serve `min_miner_version` for the gate to apply.
    pub updated_threshold: u8,
    pub one_uid_per_ip: bool,
    pub hotkey_blacklist: HashSet<PublicKey>,
    pub coldkey_blacklist: HashSet<PublicKey>,
}

/// A miner to test.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    pub uid: u16,
    pub hotkey: PublicKey,
    /// The axon: its IP is also where the container's SSH port is.
    pub axon: SocketAddr,
    pub version: u32,
}

/// Why a uid is not tested.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Excluded {
    /// This validator itself.
    Own,
    NotServing,
    HotkeyBlacklisted,
    ColdkeyBlacklisted,
    /// Another uid (the lowest) shares its axon IP.
    SharedIp {
        ip: IpAddr,
        tested_uid: u16,
    },
    /// Serves an axon version below the minimum that most miners serve.
    Outdated {
        version: u32,
        minimum: u32,
    },
}

impl fmt::Display for Excluded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Excluded::Own => f.write_str("this validator"),
            Excluded::NotServing => f.write_str("not queryable: no axon served"),
            Excluded::HotkeyBlacklisted => f.write_str("not queryable: hotkey blacklisted"),
            Excluded::ColdkeyBlacklisted => f.write_str("not queryable: coldkey blacklisted"),
            Excluded::SharedIp { ip, tested_uid } => {
                write!(f, "not queryable: shares {ip} with uid {tested_uid}")
            }
            Excluded::Outdated { version, minimum } => {
                write!(f, "not queryable: axon version {version} < {minimum}")
            }
        }
    }
}

/// The outcome of a selection.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    /// In uid order.
    pub queryable: Vec<Candidate>,
    pub excluded: BTreeMap<u16, Excluded>,
}

/// Applies `rules` to `metagraph`, as seen by the validator `me`.
pub fn select(metagraph: &Metagraph, me: &PublicKey, rules: &SelectionRules) -> Selection {
    let mut selection = Selection::default();
    let mut neurons: Vec<_> = metagraph.neurons.iter().collect();
    neurons.sort_by_key(|n| n.uid);
    let mut candidates = Vec::new();
    let mut first_at_ip: HashMap<IpAddr, u16> = HashMap::new();
    for neuron in neurons {
        let reason = if neuron.hotkey == *me {
            Some(Excluded::Own)
        } else if rules.hotkey_blacklist.contains(&neuron.hotkey) {
            Some(Excluded::HotkeyBlacklisted)
        } else if rules.coldkey_blacklist.contains(&neuron.coldkey) {
            Some(Excluded::ColdkeyBlacklisted)
        } else {
            None
        };
        if let Some(reason) = reason {
            selection.excluded.insert(neuron.uid, reason);
            continue;
        }
        let Some(ip) = neuron.axon.ip_addr().filter(|_| neuron.axon.port != 0) else {
            selection.excluded.insert(neuron.uid, Excluded::NotServing);
            continue;
        };
        if rules.one_uid_per_ip {
            if let Some(&tested_uid) = first_at_ip.get(&ip) {
                selection
                    .excluded
                    .insert(neuron.uid, Excluded::SharedIp { ip, tested_uid });
                continue;
            }
            first_at_ip.insert(ip, neuron.uid);
        }
        candidates.push(Candidate {
            uid: neuron.uid,
            hotkey: neuron.hotkey,
            axon: SocketAddr::new(ip, neuron.axon.port),
            version: neuron.axon.version,
        });
    }
    // The version gate applies only once more than the threshold of miners serve the minimum
    // (the reference's rule; it never drops everyone when nobody updated yet).
    let minimum = rules.min_miner_version;
    if minimum > 0 && !candidates.is_empty() {
        let updated = candidates.iter().filter(|c| c.version >= minimum).count();
        let percent = 100.0 * updated as f64 / candidates.len() as f64;
        if percent > f64::from(rules.updated_threshold) {
            candidates.retain(|c| {
                let keep = c.version >= minimum;
                if !keep {
                    selection.excluded.insert(
                        c.uid,
                        Excluded::Outdated {
                            version: c.version,
                            minimum,
                        },
                    );
                }
                keep
            });
        }
    }
    selection.queryable = candidates;
    selection
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chain::{AxonInfo, NeuronInfo};
    use crate::keys::Keypair;

    fn neuron(uid: u16, ip: Option<&str>, version: u32) -> NeuronInfo {
        NeuronInfo {
            uid,
            hotkey: Keypair::generate(12).unwrap().public(),
            coldkey: Keypair::generate(12).unwrap().public(),
            stake: 0,
            alpha_stake: 0,
            tao_stake: Some(0),
            validator_permit: false,
            last_update: 0,
            registered_at: 0,
            axon: ip
                .map(|ip| AxonInfo::for_address(ip.parse().unwrap(), 8091, version))
                .unwrap_or_default(),
            prometheus: Default::default(),
            incentive: None,
            emission: None,
            trust: None,
        }
    }

    fn metagraph(neurons: Vec<NeuronInfo>) -> Metagraph {
        Metagraph {
            netuid: 27,
            block: 1,
            neurons,
        }
    }

    #[test]
    fn serving_unlisted_miners_are_tested_once_per_ip() {
        let m = metagraph(vec![
            neuron(0, None, 0),
            neuron(1, Some("203.0.113.1"), 183),
            neuron(2, Some("203.0.113.1"), 183),
            neuron(3, Some("203.0.113.2"), 183),
            neuron(4, Some("203.0.113.3"), 183),
            neuron(5, Some("203.0.113.4"), 183),
        ]);
        let me = m.neurons[0].hotkey;
        let rules = SelectionRules {
            one_uid_per_ip: true,
            hotkey_blacklist: [m.neurons[4].hotkey].into(),
            coldkey_blacklist: [m.neurons[5].coldkey].into(),
            ..SelectionRules::default()
        };
        let s = select(&m, &me, &rules);
        let uids: Vec<u16> = s.queryable.iter().map(|c| c.uid).collect();
        assert_eq!(uids, [1, 3]);
        assert_eq!(s.excluded[&0], Excluded::Own);
        assert!(matches!(
            s.excluded[&2],
            Excluded::SharedIp { tested_uid: 1, .. }
        ));
        assert_eq!(s.excluded[&4], Excluded::HotkeyBlacklisted);
        assert_eq!(s.excluded[&5], Excluded::ColdkeyBlacklisted);
        // Without the rule, both uids behind one address are tested.
        let rules = SelectionRules {
            one_uid_per_ip: false,
            ..rules
        };
        let uids: Vec<u16> = select(&m, &me, &rules)
            .queryable
            .iter()
            .map(|c| c.uid)
            .collect();
        assert_eq!(uids, [1, 2, 3]);
        assert!(format!("{}", Excluded::NotServing).starts_with("not queryable"));
    }

    #[test]
    fn the_version_gate_applies_only_above_the_threshold() {
        let m = metagraph(vec![
            neuron(0, Some("203.0.113.1"), 221),
            neuron(1, Some("203.0.113.2"), 221),
            neuron(2, Some("203.0.113.3"), 183),
        ]);
        let me = Keypair::generate(12).unwrap().public();
        let rules = |threshold| SelectionRules {
            min_miner_version: 221,
            updated_threshold: threshold,
            ..SelectionRules::default()
        };
        // 2 of 3 (66.7 %) serve 221: above 60 %, the old one is dropped.
        let s = select(&m, &me, &rules(60));
        assert_eq!(s.queryable.len(), 2);
        assert_eq!(
            s.excluded[&2],
            Excluded::Outdated {
                version: 183,
                minimum: 221
            }
        );
        // Not above 70 %: everyone is kept.
        assert_eq!(select(&m, &me, &rules(70)).queryable.len(), 3);
    }
}
