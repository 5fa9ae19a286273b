//! Signed `SubtensorModule` extrinsics built with subxt's dynamic, metadata-driven API.
//!
//! Nothing here is generated from a fixed runtime: each call is looked up by name in the
//! metadata of the runtime it is for, so a runtime upgrade that keeps the call's name and
//! argument meaning needs no new sn27 build, and one that does not fails with a plain error.
//! Extrinsics are built offline from (metadata, genesis hash, spec and transaction version);
//! the online client supplies those from the node it talks to.

use subxt::config::{DefaultExtrinsicParamsBuilder, PolkadotConfig};
use subxt::dynamic::Value;
use subxt::utils::{AccountId32, MultiSignature, H256};
use subxt::{Metadata, OfflineClient};

use super::metadata::SUBTENSOR_PALLET;
use super::types::{AxonInfo, PrometheusInfo};
use crate::keys::{Keypair, PublicKey};

/// `MultiAddress<AccountId32, ()>` and `MultiSignature`, as subtensor uses.
pub type SubtensorConfig = PolkadotConfig;

/// A call of `SubtensorModule`, with its arguments in declaration order.
#[derive(Debug, Clone)]
pub struct SubtensorCall {
    pub name: &'static str,
    pub args: Vec<Value>,
}

fn account(key: &PublicKey) -> Value {
    Value::from_bytes(key.0)
}

fn u16s(values: &[u16]) -> Value {
    Value::unnamed_composite(values.iter().map(|&v| Value::u128(u128::from(v))))
}

impl SubtensorCall {
    pub fn burned_register(netuid: u16, hotkey: &PublicKey) -> Self {
        SubtensorCall {
            name: "burned_register",
            args: vec![Value::u128(netuid.into()), account(hotkey)],
        }
    }

    pub fn serve_axon(netuid: u16, axon: &AxonInfo) -> Self {
        SubtensorCall {
            name: "serve_axon",
            args: vec![
                Value::u128(netuid.into()),
                Value::u128(axon.version.into()),
                Value::u128(axon.ip),
                Value::u128(axon.port.into()),
                Value::u128(axon.ip_type.into()),
                Value::u128(axon.protocol.into()),
                Value::u128(axon.placeholder1.into()),
                Value::u128(axon.placeholder2.into()),
            ],
        }
    }

    pub fn serve_prometheus(netuid: u16, info: &PrometheusInfo) -> Self {
        SubtensorCall {
            name: "serve_prometheus",
            args: vec![
                Value::u128(netuid.into()),
                Value::u128(info.version.into()),
                Value::u128(info.ip),
                Value::u128(info.port.into()),
                Value::u128(info.ip_type.into()),
            ],
        }
    }

    pub fn set_weights(netuid: u16, dests: &[u16], weights: &[u16], version_key: u64) -> Self {
        SubtensorCall {
            name: "set_weights",
            args: vec![
                Value::u128(netuid.into()),
                u16s(dests),
                u16s(weights),
                Value::u128(version_key.into()),
            ],
        }
    }

    pub fn commit_weights(netuid: u16, commit_hash: [u8; 32]) -> Self {
        SubtensorCall {
            name: "commit_weights",
            args: vec![Value::u128(netuid.into()), Value::from_bytes(commit_hash)],
        }
    }

    pub fn reveal_weights(
        netuid: u16,
        uids: &[u16],
        values: &[u16],
        salt: &[u16],
        version_key: u64,
    ) -> Self {
        SubtensorCall {
            name: "reveal_weights",
            args: vec![
                Value::u128(netuid.into()),
                u16s(uids),
                u16s(values),
                u16s(salt),
                Value::u128(version_key.into()),
            ],
        }
    }

    pub fn commit_timelocked_weights(
        netuid: u16,
        commit: &[u8],
        reveal_round: u64,
        commit_reveal_version: u16,
    ) -> Self {
        SubtensorCall {
            name: "commit_timelocked_weights",
            args: vec![
                Value::u128(netuid.into()),
                Value::from_bytes(commit),
                Value::u128(reveal_round.into()),
                Value::u128(commit_reveal_version.into()),
            ],
        }
    }
}

/// How long a signed extrinsic stays valid.
#[derive(Debug, Clone, Copy)]
pub enum Mortality {
    Immortal,
    /// Valid for `period` blocks from `block` (whose hash is given), as the SDK signs (128).
    Mortal {
        period: u64,
        block: u64,
        block_hash: [u8; 32],
    },
}

/// A signed extrinsic and the payload its signature covers.
#[derive(Debug, Clone)]
pub struct SignedExtrinsic {
    pub bytes: Vec<u8>,
    /// The bytes the signer signed (blake2-256 of them when longer than 256 bytes).
    pub signer_payload: Vec<u8>,
    pub call_data: Vec<u8>,
}

/// Why an extrinsic could not be built.
#[derive(Debug, thiserror::Error)]
#[error("cannot build {call}: {reason}")]
pub struct BuildError {
    pub call: String,
    pub reason: String,
}

/// A wallet key as subxt's signer.
pub(crate) struct KeypairSigner<'a>(pub(crate) &'a Keypair);

impl subxt::tx::Signer<SubtensorConfig> for KeypairSigner<'_> {
    fn account_id(&self) -> AccountId32 {
        AccountId32(self.0.public().0)
    }

    fn sign(&self, signer_payload: &[u8]) -> MultiSignature {
        MultiSignature::Sr25519(self.0.sign(signer_payload))
    }
}

/// A runtime to build extrinsics for.
#[derive(Clone)]
pub struct RuntimeContext {
    client: OfflineClient<SubtensorConfig>,
}

impl RuntimeContext {
    /// From raw `state_getMetadata` bytes and the chain's identity.
    pub fn new(
        metadata: &[u8],
        genesis_hash: [u8; 32],
        spec_version: u32,
        transaction_version: u32,
    ) -> Result<Self, BuildError> {
        let metadata = <Metadata as subxt::ext::codec::Decode>::decode(&mut &metadata[..])
            .map_err(|e| BuildError {
                call: "-".into(),
                reason: format!("metadata does not decode: {e}"),
            })?;
        let version = subxt::client::RuntimeVersion {
            spec_version,
            transaction_version,
        };
        Ok(RuntimeContext {
            client: OfflineClient::new(H256(genesis_hash), version, metadata),
        })
    }

    pub fn metadata(&self) -> Metadata {
        self.client.metadata()
    }

    /// The SCALE call data (pallet index ‖ call index ‖ arguments).
    pub fn call_data(&self, call: &SubtensorCall) -> Result<Vec<u8>, BuildError> {
        let payload = subxt::dynamic::tx(SUBTENSOR_PALLET, call.name, call.args.clone());
        self.client
            .tx()
            .call_data(&payload)
            .map_err(|e| BuildError {
                call: call.name.into(),
                reason: e.to_string(),
            })
    }

    /// A signed extrinsic, `nonce` being the signer's next account index.
    pub fn sign(
        &self,
        call: &SubtensorCall,
        signer: &Keypair,
        nonce: u64,
        mortality: Mortality,
    ) -> Result<SignedExtrinsic, BuildError> {
        let fail = |e: &dyn std::fmt::Display| BuildError {
            call: call.name.into(),
            reason: e.to_string(),
        };
        let payload = subxt::dynamic::tx(SUBTENSOR_PALLET, call.name, call.args.clone());
        let builder = DefaultExtrinsicParamsBuilder::<SubtensorConfig>::new().nonce(nonce);
        let params = match mortality {
            Mortality::Immortal => builder.immortal(),
            Mortality::Mortal {
                period,
                block,
                block_hash,
            } => builder.mortal_from_unchecked(period, block, H256(block_hash)),
        }
        .build();
        let mut partial = self
            .client
            .tx()
            .create_v4_partial_offline(&payload, params)
            .map_err(|e| fail(&e))?;
        let signer_payload = partial.signer_payload();
        let signed = partial.sign(&KeypairSigner(signer));
        Ok(SignedExtrinsic {
            bytes: signed.into_encoded(),
            signer_payload,
            call_data: self.call_data(call)?,
        })
    }
}
