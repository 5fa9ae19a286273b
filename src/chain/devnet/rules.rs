//! The subtensor pallet's rules for the calls sn27 makes, as pure functions
//! (`bittensor-wire.md` §5.4–5.7): each takes what storage holds and the call's arguments, and
//! either allows the call or refuses it with the pallet's error name and plain words. The
//! devnet's storage layer reads, asks these, and writes; nothing here touches a database.
//!
//! One deliberate difference from the pallet: loopback and private axon and prometheus
//! addresses are allowed, so that a miner and a validator can run on one box.

use std::collections::HashSet;

use crate::chain::types::{tao, AxonInfo, Hyperparameters, NeuronInfo, PrometheusInfo};
use crate::chain::ChainError;
use crate::keys::PublicKey;

/// A refusal in the pallet's words.
pub(super) fn dispatch(
    call: &'static str,
    error: &'static str,
    explanation: impl Into<String>,
) -> ChainError {
    ChainError::Dispatch {
        call,
        error: error.into(),
        explanation: explanation.into(),
    }
}

/// The devnet's epoch of a block: epochs are `tempo` blocks long, counted from genesis.
pub(super) fn epoch(block: u64, tempo: u16) -> u64 {
    block / u64::from(tempo.max(1))
}

/// What storage knows about a hotkey that asks to register.
#[derive(Debug, Clone)]
pub(super) struct Registration {
    pub netuid: u16,
    pub hotkey: PublicKey,
    pub coldkey: PublicKey,
    /// Already registered on this subnet.
    pub registered_here: bool,
    /// The coldkey the hotkey belongs to on any subnet, if registered anywhere.
    pub owner: Option<PublicKey>,
    /// Neurons on the subnet now.
    pub neurons: u16,
    /// The coldkey's free balance when the burn is paid (`burned_register`); `None` for an
    /// admin registration, which pays nothing.
    pub balance: Option<u64>,
}

/// `burned_register` (or the admin's free registration): the uid the hotkey gets.
pub(super) fn register(h: &Hyperparameters, r: &Registration) -> Result<u16, ChainError> {
    let call = "burned_register";
    let netuid = r.netuid;
    if let Some(balance) = r.balance {
        if balance < h.burn {
            return Err(dispatch(
                call,
                "NotEnoughBalanceToStake",
                format!(
                    "coldkey {} holds {:.9} TAO, registration costs {:.9} TAO",
                    r.coldkey,
                    tao(balance),
                    tao(h.burn)
                ),
            ));
        }
    }
    if !h.registration_allowed {
        return Err(dispatch(
            call,
            "SubNetRegistrationDisabled",
            format!("registration on netuid {netuid} is disabled"),
        ));
    }
    if r.registered_here {
        return Err(dispatch(
            call,
            "HotKeyAlreadyRegisteredInSubNet",
            format!(
                "hotkey {} is already registered on netuid {netuid}",
                r.hotkey
            ),
        ));
    }
    // A hotkey belongs to one coldkey across all subnets.
    if r.owner.is_some_and(|owner| owner != r.coldkey) {
        return Err(dispatch(
            call,
            "NonAssociatedColdKey",
            format!("hotkey {} belongs to another coldkey", r.hotkey),
        ));
    }
    if r.neurons >= h.max_uids {
        return Err(dispatch(
            call,
            "NoNeuronIdAvailable",
            format!("netuid {netuid} is full ({} uids)", h.max_uids),
        ));
    }
    Ok(r.neurons)
}

/// `serve_axon` by the neuron `uid` (if registered) whose axon was last served at
/// `last_served` (0: never).
pub(super) fn serve_axon(
    h: &Hyperparameters,
    netuid: u16,
    hotkey: &PublicKey,
    uid: Option<u16>,
    axon: &AxonInfo,
    last_served: u64,
    block: u64,
) -> Result<u16, ChainError> {
    let call = "serve_axon";
    let uid = serving_uid(call, netuid, hotkey, uid)?;
    // The pallet lets an axon be served at address 0 ("for testing purposes").
    serving_address(call, axon.ip_type, axon.ip, true)?;
    serving_port(call, axon.port)?;
    serving_rate_limit(call, "axon", h, last_served, block)?;
    Ok(uid)
}

/// `serve_prometheus` by the neuron `uid` (if registered) whose prometheus info was last
/// served at `last_served` (0: never); the rate limit is counted apart from the axon's. The
/// checks come in the pallet's order, which looks at the address before the registration,
/// and unlike an axon's the address may not be 0.
pub(super) fn serve_prometheus(
    h: &Hyperparameters,
    netuid: u16,
    hotkey: &PublicKey,
    uid: Option<u16>,
    info: &PrometheusInfo,
    last_served: u64,
    block: u64,
) -> Result<u16, ChainError> {
    let call = "serve_prometheus";
    serving_address(call, info.ip_type, info.ip, false)?;
    let uid = serving_uid(call, netuid, hotkey, uid)?;
    serving_rate_limit(call, "prometheus", h, last_served, block)?;
    serving_port(call, info.port)?;
    Ok(uid)
}

/// A serve call's signer must hold a uid on the subnet.
fn serving_uid(
    call: &'static str,
    netuid: u16,
    hotkey: &PublicKey,
    uid: Option<u16>,
) -> Result<u16, ChainError> {
    uid.ok_or_else(|| {
        dispatch(
            call,
            "HotKeyNotRegisteredInNetwork",
            format!("hotkey {hotkey} is not registered on netuid {netuid}"),
        )
    })
}

/// The pallet's address checks (`is_valid_ip_type`, `is_valid_ip_address`), loopback aside:
/// the devnet accepts it (module doc).
fn serving_address(
    call: &'static str,
    ip_type: u8,
    ip: u128,
    allow_zero: bool,
) -> Result<(), ChainError> {
    if ip_type != 4 && ip_type != 6 {
        return Err(dispatch(
            call,
            "InvalidIpType",
            format!("ip type {ip_type} is neither 4 nor 6"),
        ));
    }
    if (ip == 0 && !allow_zero)
        || (ip_type == 4 && ip >= u128::from(u32::MAX))
        || (ip_type == 6 && ip == u128::MAX)
    {
        return Err(dispatch(
            call,
            "InvalidIpAddress",
            "the address is not a valid IP",
        ));
    }
    Ok(())
}

fn serving_port(call: &'static str, port: u16) -> Result<(), ChainError> {
    if port == 0 {
        return Err(dispatch(call, "InvalidPort", "port 0 cannot be served"));
    }
    Ok(())
}

/// `ServingRateLimit` blocks between two serves of the same kind (`what`: axon or
/// prometheus); 0 turns it off, and a first serve (`last_served` 0) always passes.
fn serving_rate_limit(
    call: &'static str,
    what: &str,
    h: &Hyperparameters,
    last_served: u64,
    block: u64,
) -> Result<(), ChainError> {
    if h.serving_rate_limit > 0
        && last_served > 0
        && block.saturating_sub(last_served) < h.serving_rate_limit
    {
        let wait = h.serving_rate_limit - (block - last_served);
        return Err(dispatch(
            call,
            "ServingRateLimitExceeded",
            format!("{what} served too recently: wait {wait} blocks"),
        ));
    }
    Ok(())
}

/// A weights call: `set_weights` (`direct`) or a reveal (whose commit was rate-limited).
#[derive(Debug, Clone)]
pub(super) struct WeightsCall<'a> {
    pub call: &'static str,
    pub block: u64,
    pub netuid: u16,
    pub hotkey: PublicKey,
    pub dests: &'a [u16],
    pub weights: &'a [u16],
    pub version_key: u64,
    pub direct: bool,
}

/// The weight checks of the pallet; returns the setter's uid.
pub(super) fn weights(
    h: &Hyperparameters,
    neurons: &[NeuronInfo],
    c: &WeightsCall<'_>,
) -> Result<u16, ChainError> {
    let (call, netuid) = (c.call, c.netuid);
    if c.direct && h.commit_reveal_enabled {
        return Err(dispatch(
            call,
            "CommitRevealEnabled",
            format!("netuid {netuid} uses commit-reveal: commit the weights instead"),
        ));
    }
    if c.dests.len() != c.weights.len() {
        return Err(dispatch(
            call,
            "WeightVecNotEqualSize",
            format!("{} uids but {} weights", c.dests.len(), c.weights.len()),
        ));
    }
    let n = neurons.len();
    if c.dests.len() > n {
        return Err(dispatch(
            call,
            "UidsLengthExceedUidsInSubNet",
            format!("{} weights for {n} uids", c.dests.len()),
        ));
    }
    let me = registered(call, neurons, &c.hotkey, netuid)?;
    if me.stake < h.stake_threshold {
        return Err(dispatch(
            call,
            "NotEnoughStakeToSetWeights",
            format!(
                "stake {:.9} TAO is below the threshold {:.9} TAO",
                tao(me.stake),
                tao(h.stake_threshold)
            ),
        ));
    }
    if h.weights_version_key != 0 && c.version_key < h.weights_version_key {
        return Err(dispatch(
            call,
            "IncorrectWeightVersionKey",
            format!(
                "version key {} is below the subnet's {}",
                c.version_key, h.weights_version_key
            ),
        ));
    }
    // With commit-reveal the rate limit applies to commits, not to reveals.
    if c.direct {
        rate_limit(
            call,
            "SettingWeightsTooFast",
            "weights set too fast",
            h,
            me,
            c.block,
        )?;
    }
    let self_weight = c.dests.len() == 1 && c.dests[0] == me.uid;
    if !me.validator_permit && !self_weight {
        return Err(dispatch(
            call,
            "NeuronNoValidatorPermit",
            format!("uid {} has no validator permit", me.uid),
        ));
    }
    let mut seen = HashSet::new();
    for uid in c.dests {
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
    if !self_weight && c.dests.len() < minimum {
        return Err(dispatch(
            call,
            "WeightVecLengthIsLow",
            format!("{} weights; at least {minimum} required", c.dests.len()),
        ));
    }
    if h.max_weights_limit != u16::MAX {
        let sum: u64 = c.weights.iter().map(|&w| u64::from(w)).sum();
        let max = c.weights.iter().copied().max().unwrap_or(0);
        if sum > 0 && u64::from(max) * 65535 > u64::from(h.max_weights_limit) * sum {
            return Err(dispatch(
                call,
                "MaxWeightExceeded",
                "one weight exceeds the subnet's maximum share",
            ));
        }
    }
    Ok(me.uid)
}

/// `commit_weights` by `hotkey`, which has `unrevealed` commits not yet expired; returns the
/// committer's uid.
pub(super) fn commit(
    h: &Hyperparameters,
    neurons: &[NeuronInfo],
    netuid: u16,
    hotkey: &PublicKey,
    unrevealed: u64,
    block: u64,
) -> Result<u16, ChainError> {
    let call = "commit_weights";
    if !h.commit_reveal_enabled {
        return Err(dispatch(
            call,
            "CommitRevealDisabled",
            format!("netuid {netuid} does not use commit-reveal: set the weights directly"),
        ));
    }
    let me = registered(call, neurons, hotkey, netuid)?;
    rate_limit(
        call,
        "CommittingWeightsTooFast",
        "weights committed too fast",
        h,
        me,
        block,
    )?;
    if unrevealed >= 10 {
        return Err(dispatch(
            call,
            "TooManyUnrevealedCommits",
            "10 commits are waiting for their reveal",
        ));
    }
    Ok(me.uid)
}

/// `reveal_weights` whose commit (matched by hash) was made in `committed_epoch`, if any. A
/// refused call changes nothing, as on chain (an expired commit stays until the chain's own
/// cleanup; the devnet no longer counts it).
pub(super) fn reveal(
    h: &Hyperparameters,
    netuid: u16,
    committed_epoch: Option<u64>,
    block: u64,
) -> Result<(), ChainError> {
    let call = "reveal_weights";
    if !h.commit_reveal_enabled {
        return Err(dispatch(
            call,
            "CommitRevealDisabled",
            format!("netuid {netuid} does not use commit-reveal"),
        ));
    }
    let Some(committed) = committed_epoch else {
        return Err(dispatch(
            call,
            "InvalidRevealCommitHashNotMatch",
            "no commit of this hotkey matches these weights and salt",
        ));
    };
    let due = committed + h.commit_reveal_period;
    let now = epoch(block, h.tempo);
    if now < due {
        return Err(dispatch(
            call,
            "RevealTooEarly",
            format!("reveal in epoch {due}; this is epoch {now}"),
        ));
    }
    if now > due {
        return Err(dispatch(
            call,
            "ExpiredWeightCommit",
            format!("the reveal was due in epoch {due}; this is epoch {now}"),
        ));
    }
    Ok(())
}

/// `commit_timelocked_weights`: the devnet has no drand beacon to decrypt with.
pub(super) fn timelocked_commit() -> ChainError {
    dispatch(
        "commit_timelocked_weights",
        "CallUnavailable",
        "the local devnet has no drand beacon; it uses hash commit-reveal \
         (commit_weights and reveal_weights)",
    )
}

fn registered<'a>(
    call: &'static str,
    neurons: &'a [NeuronInfo],
    hotkey: &PublicKey,
    netuid: u16,
) -> Result<&'a NeuronInfo, ChainError> {
    neurons.iter().find(|x| x.hotkey == *hotkey).ok_or_else(|| {
        dispatch(
            call,
            "HotKeyNotRegisteredInSubNet",
            format!("hotkey {hotkey} is not registered on netuid {netuid}"),
        )
    })
}

fn rate_limit(
    call: &'static str,
    error: &'static str,
    what: &str,
    h: &Hyperparameters,
    me: &NeuronInfo,
    block: u64,
) -> Result<(), ChainError> {
    if me.last_update != 0 && block.saturating_sub(me.last_update) < h.weights_rate_limit {
        let wait = h.weights_rate_limit - (block - me.last_update);
        return Err(dispatch(call, error, format!("{what}: wait {wait} blocks")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chain::devnet::default_hyperparameters;
    use crate::keys::Keypair;

    fn key() -> PublicKey {
        Keypair::generate(12).unwrap().public()
    }

    fn neuron(uid: u16, stake: u64, permit: bool, last_update: u64) -> NeuronInfo {
        NeuronInfo {
            uid,
            hotkey: key(),
            coldkey: key(),
            stake,
            alpha_stake: stake,
            tao_stake: Some(0),
            validator_permit: permit,
            last_update,
            registered_at: 0,
            axon: AxonInfo::default(),
            prometheus: Default::default(),
            incentive: None,
            emission: None,
            trust: None,
        }
    }

    /// The refusal's pallet error name (and that it is one).
    fn refused<T: std::fmt::Debug>(result: Result<T, ChainError>) -> String {
        let error = result.expect_err("the call must be refused");
        error
            .dispatch_error()
            .unwrap_or_else(|| panic!("not a dispatch error: {error}"))
            .to_string()
    }

    /// Every name asserted below; checked against the source so that a new refusal without a
    /// test fails the suite.
    const TESTED: &[&str] = &[
        "NotEnoughBalanceToStake",
        "SubNetRegistrationDisabled",
        "HotKeyAlreadyRegisteredInSubNet",
        "NonAssociatedColdKey",
        "NoNeuronIdAvailable",
        "HotKeyNotRegisteredInNetwork",
        "InvalidIpType",
        "InvalidIpAddress",
        "InvalidPort",
        "ServingRateLimitExceeded",
        "CommitRevealEnabled",
        "WeightVecNotEqualSize",
        "UidsLengthExceedUidsInSubNet",
        "HotKeyNotRegisteredInSubNet",
        "NotEnoughStakeToSetWeights",
        "IncorrectWeightVersionKey",
        "SettingWeightsTooFast",
        "NeuronNoValidatorPermit",
        "DuplicateUids",
        "UidVecContainInvalidOne",
        "WeightVecLengthIsLow",
        "MaxWeightExceeded",
        "CommitRevealDisabled",
        "CommittingWeightsTooFast",
        "TooManyUnrevealedCommits",
        "InvalidRevealCommitHashNotMatch",
        "RevealTooEarly",
        "ExpiredWeightCommit",
        "CallUnavailable",
    ];

    #[test]
    fn every_dispatch_error_of_the_devnet_has_a_case() {
        let source = include_str!("rules.rs");
        let code = &source[..source.find("#[cfg(test)]").unwrap()];
        let mut named: Vec<&str> = code
            .split('"')
            .skip(1)
            .step_by(2)
            .filter(|s| {
                s.len() > 3
                    && s.chars().next().is_some_and(|c| c.is_ascii_uppercase())
                    && s.chars().all(|c| c.is_ascii_alphanumeric())
            })
            .collect();
        named.sort();
        named.dedup();
        let mut tested: Vec<&str> = TESTED.to_vec();
        tested.sort();
        assert_eq!(named, tested);
    }

    #[test]
    fn registration_refusals() {
        let h = default_hyperparameters();
        let (hotkey, coldkey) = (key(), key());
        let ok = Registration {
            netuid: 27,
            hotkey,
            coldkey,
            registered_here: false,
            owner: None,
            neurons: 3,
            balance: Some(h.burn),
        };
        assert_eq!(register(&h, &ok).unwrap(), 3);
        let cases = [
            (
                Registration {
                    balance: Some(h.burn - 1),
                    ..ok.clone()
                },
                h.clone(),
                "NotEnoughBalanceToStake",
            ),
            (
                ok.clone(),
                Hyperparameters {
                    registration_allowed: false,
                    ..h.clone()
                },
                "SubNetRegistrationDisabled",
            ),
            (
                Registration {
                    registered_here: true,
                    ..ok.clone()
                },
                h.clone(),
                "HotKeyAlreadyRegisteredInSubNet",
            ),
            (
                Registration {
                    owner: Some(key()),
                    ..ok.clone()
                },
                h.clone(),
                "NonAssociatedColdKey",
            ),
            (
                Registration {
                    neurons: h.max_uids,
                    ..ok.clone()
                },
                h.clone(),
                "NoNeuronIdAvailable",
            ),
        ];
        for (registration, h, name) in cases {
            assert_eq!(refused(register(&h, &registration)), name);
        }
        // The admin's registration pays nothing; the same coldkey may register elsewhere.
        let free = Registration {
            balance: None,
            owner: Some(coldkey),
            ..ok
        };
        assert!(register(&h, &free).is_ok());
    }

    #[test]
    fn serve_axon_refusals() {
        let h = default_hyperparameters();
        let hotkey = key();
        let good = AxonInfo::for_address("203.0.113.5".parse().unwrap(), 8091, 221);
        assert_eq!(
            serve_axon(&h, 27, &hotkey, Some(4), &good, 0, 10).unwrap(),
            4
        );
        let block = 1000;
        let cases = [
            (None, good, 0, "HotKeyNotRegisteredInNetwork"),
            (Some(4), AxonInfo { ip_type: 5, ..good }, 0, "InvalidIpType"),
            (
                Some(4),
                AxonInfo {
                    ip: u128::from(u32::MAX),
                    ..good
                },
                0,
                "InvalidIpAddress",
            ),
            (Some(4), AxonInfo { port: 0, ..good }, 0, "InvalidPort"),
            (
                Some(4),
                good,
                block - h.serving_rate_limit + 1,
                "ServingRateLimitExceeded",
            ),
        ];
        for (uid, axon, last, name) in cases {
            assert_eq!(
                refused(serve_axon(&h, 27, &hotkey, uid, &axon, last, block)),
                name
            );
        }
        // An axon may be served at address 0 (the pallet allows it for testing).
        let zero = AxonInfo { ip: 0, ..good };
        assert!(serve_axon(&h, 27, &hotkey, Some(4), &zero, 0, block).is_ok());
        // Exactly at the rate limit it is allowed again.
        assert!(serve_axon(
            &h,
            27,
            &hotkey,
            Some(4),
            &good,
            block - h.serving_rate_limit,
            block
        )
        .is_ok());
    }

    #[test]
    fn serve_prometheus_refusals() {
        let h = default_hyperparameters();
        let hotkey = key();
        let good = PrometheusInfo::for_address("203.0.113.5".parse().unwrap(), 8091, 221);
        assert_eq!(
            serve_prometheus(&h, 27, &hotkey, Some(4), &good, 0, 10).unwrap(),
            4
        );
        let block = 1000;
        let cases = [
            (None, good, 0, "HotKeyNotRegisteredInNetwork"),
            (
                Some(4),
                PrometheusInfo { ip_type: 5, ..good },
                0,
                "InvalidIpType",
            ),
            (
                Some(4),
                PrometheusInfo {
                    ip: u128::from(u32::MAX),
                    ..good
                },
                0,
                "InvalidIpAddress",
            ),
            // Unlike an axon, a prometheus endpoint may not be at address 0.
            (
                Some(4),
                PrometheusInfo { ip: 0, ..good },
                0,
                "InvalidIpAddress",
            ),
            (
                Some(4),
                PrometheusInfo {
                    ip_type: 6,
                    ip: u128::MAX,
                    ..good
                },
                0,
                "InvalidIpAddress",
            ),
            (
                Some(4),
                PrometheusInfo { port: 0, ..good },
                0,
                "InvalidPort",
            ),
            (
                Some(4),
                good,
                block - h.serving_rate_limit + 1,
                "ServingRateLimitExceeded",
            ),
            // The pallet checks the address before the registration.
            (
                None,
                PrometheusInfo { ip_type: 5, ..good },
                0,
                "InvalidIpType",
            ),
        ];
        for (uid, info, last, name) in cases {
            assert_eq!(
                refused(serve_prometheus(&h, 27, &hotkey, uid, &info, last, block)),
                name,
                "{info:?}, last served {last}"
            );
        }
        let wait = serve_prometheus(&h, 27, &hotkey, Some(4), &good, block - 10, block)
            .unwrap_err()
            .to_string();
        assert!(
            wait.contains("prometheus served too recently: wait 40 blocks"),
            "{wait}"
        );
        // Exactly at the rate limit it is allowed again; a limit of 0 is no limit.
        let last = block - h.serving_rate_limit;
        assert!(serve_prometheus(&h, 27, &hotkey, Some(4), &good, last, block).is_ok());
        let unlimited = Hyperparameters {
            serving_rate_limit: 0,
            ..h.clone()
        };
        assert!(serve_prometheus(&unlimited, 27, &hotkey, Some(4), &good, block, block).is_ok());
        // Loopback and private addresses are accepted on the devnet, as for axons.
        for ip in ["127.0.0.1", "10.0.0.2", "::1"] {
            let local = PrometheusInfo::for_address(ip.parse().unwrap(), 8091, 221);
            assert!(
                serve_prometheus(&h, 27, &hotkey, Some(4), &local, 0, block).is_ok(),
                "{ip}"
            );
        }
    }

    #[test]
    fn weight_refusals() {
        let h = Hyperparameters {
            min_allowed_weights: 2,
            ..default_hyperparameters()
        };
        let neurons = vec![
            neuron(0, 5_000, true, 0),
            neuron(1, 10, false, 0),
            neuron(2, 10, false, 0),
        ];
        let me = neurons[0].hotkey;
        let call = |dests: &'static [u16], weights: &'static [u16]| WeightsCall {
            call: "set_weights",
            block: 1000,
            netuid: 27,
            hotkey: me,
            dests,
            weights,
            version_key: 0,
            direct: true,
        };
        assert_eq!(weights(&h, &neurons, &call(&[1, 2], &[1, 2])).unwrap(), 0);

        let mut recent = neurons.clone();
        recent[0].last_update = 1000 - h.weights_rate_limit + 1;
        let cases: Vec<(Hyperparameters, Vec<NeuronInfo>, WeightsCall<'_>, &str)> = vec![
            (
                Hyperparameters {
                    commit_reveal_enabled: true,
                    ..h.clone()
                },
                neurons.clone(),
                call(&[1, 2], &[1, 2]),
                "CommitRevealEnabled",
            ),
            (
                h.clone(),
                neurons.clone(),
                call(&[1, 2], &[1]),
                "WeightVecNotEqualSize",
            ),
            (
                h.clone(),
                neurons.clone(),
                call(&[0, 1, 2, 3], &[1, 1, 1, 1]),
                "UidsLengthExceedUidsInSubNet",
            ),
            (
                h.clone(),
                neurons.clone(),
                WeightsCall {
                    hotkey: key(),
                    ..call(&[1, 2], &[1, 2])
                },
                "HotKeyNotRegisteredInSubNet",
            ),
            (
                Hyperparameters {
                    stake_threshold: 6_000,
                    ..h.clone()
                },
                neurons.clone(),
                call(&[1, 2], &[1, 2]),
                "NotEnoughStakeToSetWeights",
            ),
            (
                Hyperparameters {
                    weights_version_key: 221,
                    ..h.clone()
                },
                neurons.clone(),
                WeightsCall {
                    version_key: 183,
                    ..call(&[1, 2], &[1, 2])
                },
                "IncorrectWeightVersionKey",
            ),
            (
                h.clone(),
                recent,
                call(&[1, 2], &[1, 2]),
                "SettingWeightsTooFast",
            ),
            (
                h.clone(),
                neurons.clone(),
                WeightsCall {
                    hotkey: neurons[1].hotkey,
                    ..call(&[0, 2], &[1, 2])
                },
                "NeuronNoValidatorPermit",
            ),
            (
                h.clone(),
                neurons.clone(),
                call(&[1, 1], &[1, 2]),
                "DuplicateUids",
            ),
            (
                h.clone(),
                neurons.clone(),
                call(&[1, 7], &[1, 2]),
                "UidVecContainInvalidOne",
            ),
            (
                h.clone(),
                neurons.clone(),
                call(&[1], &[1]),
                "WeightVecLengthIsLow",
            ),
            (
                Hyperparameters {
                    max_weights_limit: 32768,
                    ..h.clone()
                },
                neurons.clone(),
                call(&[1, 2], &[65535, 1]),
                "MaxWeightExceeded",
            ),
        ];
        for (h, neurons, call, name) in cases {
            assert_eq!(refused(weights(&h, &neurons, &call)), name);
        }
        // A neuron without a permit may still weigh only itself.
        let own = WeightsCall {
            hotkey: neurons[1].hotkey,
            ..call(&[1], &[65535])
        };
        assert_eq!(weights(&h, &neurons, &own).unwrap(), 1);
    }

    #[test]
    fn commit_and_reveal_refusals() {
        let on = Hyperparameters {
            commit_reveal_enabled: true,
            commit_reveal_period: 1,
            tempo: 10,
            ..default_hyperparameters()
        };
        let off = default_hyperparameters();
        let neurons = vec![neuron(0, 5_000, true, 0)];
        let me = neurons[0].hotkey;
        assert_eq!(commit(&on, &neurons, 27, &me, 0, 100).unwrap(), 0);
        assert_eq!(
            refused(commit(&off, &neurons, 27, &me, 0, 100)),
            "CommitRevealDisabled"
        );
        assert_eq!(
            refused(commit(&on, &neurons, 27, &key(), 0, 100)),
            "HotKeyNotRegisteredInSubNet"
        );
        let mut recent = neurons.clone();
        recent[0].last_update = 99;
        assert_eq!(
            refused(commit(&on, &recent, 27, &me, 0, 100)),
            "CommittingWeightsTooFast"
        );
        assert_eq!(
            refused(commit(&on, &neurons, 27, &me, 10, 100)),
            "TooManyUnrevealedCommits"
        );

        // Committed in epoch 3 with period 1: due in epoch 4 (blocks 40..49).
        assert_eq!(
            refused(reveal(&off, 27, Some(3), 45)),
            "CommitRevealDisabled"
        );
        assert_eq!(
            refused(reveal(&on, 27, None, 45)),
            "InvalidRevealCommitHashNotMatch"
        );
        assert_eq!(refused(reveal(&on, 27, Some(3), 39)), "RevealTooEarly");
        assert!(reveal(&on, 27, Some(3), 40).is_ok());
        assert!(reveal(&on, 27, Some(3), 49).is_ok());
        assert_eq!(refused(reveal(&on, 27, Some(3), 50)), "ExpiredWeightCommit");
        assert_eq!(
            timelocked_commit().dispatch_error(),
            Some("CallUnavailable")
        );
    }
}
