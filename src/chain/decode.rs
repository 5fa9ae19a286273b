//! Decoding what the chain returns (runtime-API results, storage values) by field name.
//!
//! The runtime's structs grow between versions; these types name only the fields sn27 reads and
//! decode through the runtime's own type registry, so added fields are skipped and a removed or
//! retyped field is an error that names it.

use subxt::ext::scale_decode::DecodeAsType;
use subxt::ext::scale_value::scale::TypeResolver;

use super::types::{AxonInfo, Hyperparameters, NeuronInfo, PrometheusInfo};
use crate::keys::PublicKey;

/// The fields of `NeuronInfoLite` (`NeuronInfoRuntimeApi_get_neurons_lite`) that sn27 reads.
#[derive(Debug, Clone, PartialEq, DecodeAsType)]
#[decode_as_type(crate_path = "subxt::ext::scale_decode")]
pub struct NeuronInfoLiteFields {
    pub hotkey: [u8; 32],
    pub coldkey: [u8; 32],
    pub uid: u16,
    pub netuid: u16,
    pub active: bool,
    pub axon_info: AxonInfo,
    pub prometheus_info: PrometheusInfo,
    pub stake: Vec<([u8; 32], u64)>,
    pub emission: u64,
    pub incentive: u16,
    pub trust: u16,
    pub last_update: u64,
    pub validator_permit: bool,
}

/// A neuron as `NeuronInfoLite` describes it: its `stake` list is alpha per coldkey, so the
/// total is the alpha stake and the TAO stake is unknown until `get_metagraph` says.
impl From<NeuronInfoLiteFields> for NeuronInfo {
    fn from(n: NeuronInfoLiteFields) -> Self {
        let alpha = n
            .stake
            .iter()
            .map(|(_, amount)| *amount)
            .fold(0, u64::saturating_add);
        NeuronInfo {
            uid: n.uid,
            hotkey: PublicKey(n.hotkey),
            coldkey: PublicKey(n.coldkey),
            stake: alpha,
            alpha_stake: alpha,
            tao_stake: None,
            validator_permit: n.validator_permit,
            last_update: n.last_update,
            // Not in NeuronInfoLite: read from `BlockAtRegistration` by the client.
            registered_at: 0,
            axon: n.axon_info,
            prometheus: n.prometheus_info,
            incentive: Some(f64::from(n.incentive) / 65535.0),
            emission: Some(n.emission),
            trust: Some(f64::from(n.trust) / 65535.0),
        }
    }
}

/// The per-uid stake of `Metagraph` (`SubnetInfoRuntimeApi_get_metagraph`): `alpha_stake` on
/// the subnet, `tao_stake` on root, and `total_stake` = alpha + `TaoWeight` · TAO, the stake
/// the SDK's metagraph (and SN27's validator check) uses; `NeuronInfoLite.stake` holds alpha
/// stake only.
#[derive(Debug, Clone, PartialEq, DecodeAsType)]
#[decode_as_type(crate_path = "subxt::ext::scale_decode")]
pub struct MetagraphStakeFields {
    pub hotkeys: Vec<[u8; 32]>,
    pub alpha_stake: Vec<u64>,
    pub tao_stake: Vec<u64>,
    pub total_stake: Vec<u64>,
}

impl MetagraphStakeFields {
    /// Sets the three stakes of each neuron whose hotkey holds its uid in these vectors.
    pub fn apply(&self, neurons: &mut [NeuronInfo]) {
        for neuron in neurons {
            let uid = usize::from(neuron.uid);
            if self.hotkeys.get(uid) != Some(&neuron.hotkey.0) {
                continue;
            }
            if let (Some(alpha), Some(tao), Some(total)) = (
                self.alpha_stake.get(uid),
                self.tao_stake.get(uid),
                self.total_stake.get(uid),
            ) {
                neuron.alpha_stake = *alpha;
                neuron.tao_stake = Some(*tao);
                neuron.stake = *total;
            }
        }
    }
}

/// The fields of `SubnetHyperparamsV2` (`SubnetInfoRuntimeApi_get_subnet_hyperparams_v2`) that
/// sn27 reads.
#[derive(Debug, Clone, PartialEq, DecodeAsType)]
#[decode_as_type(crate_path = "subxt::ext::scale_decode")]
pub struct HyperparamsFields {
    pub tempo: u16,
    pub min_allowed_weights: u16,
    pub max_weights_limit: u16,
    pub weights_version: u64,
    pub weights_rate_limit: u64,
    pub registration_allowed: bool,
    pub serving_rate_limit: u64,
    pub max_validators: u16,
    pub commit_reveal_period: u64,
    pub commit_reveal_weights_enabled: bool,
}

impl HyperparamsFields {
    /// The subnet parameters; values this API does not carry (burn, uid limit, stake threshold)
    /// come from storage reads.
    pub fn into_hyperparameters(
        self,
        burn: u64,
        max_uids: u16,
        stake_threshold: u64,
    ) -> Hyperparameters {
        Hyperparameters {
            tempo: self.tempo,
            weights_rate_limit: self.weights_rate_limit,
            serving_rate_limit: self.serving_rate_limit,
            weights_version_key: self.weights_version,
            commit_reveal_enabled: self.commit_reveal_weights_enabled,
            commit_reveal_period: self.commit_reveal_period,
            min_allowed_weights: self.min_allowed_weights,
            max_weights_limit: self.max_weights_limit,
            max_validators: self.max_validators,
            max_uids,
            burn,
            stake_threshold,
            registration_allowed: self.registration_allowed,
        }
    }
}

/// Decodes `bytes` as type `type_id` of `types` into `T`, requiring every byte to be used.
pub fn decode<T: DecodeAsType, R: TypeResolver<TypeId = u32>>(
    bytes: &[u8],
    type_id: u32,
    types: &R,
) -> Result<T, String> {
    let mut input = bytes;
    let value = T::decode_as_type(&mut input, type_id, types).map_err(|e| e.to_string())?;
    if !input.is_empty() {
        return Err(format!("{} bytes left over after decoding", input.len()));
    }
    Ok(value)
}
