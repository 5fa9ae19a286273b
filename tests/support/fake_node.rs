//! A subtensor node for the chain tests: speaks the real JSON-RPC methods over a websocket and
//! serves a real finney runtime's metadata (`../shared/metadata/`).
//!
//! No subtensor node can run here, so this node is small: it keeps storage and runtime-API
//! answers the test sets (encoded with the runtime's own type registry), and for every submitted
//! extrinsic decodes it with the metadata, records call, arguments, signer and nonce, puts it in
//! a new block and writes that block's `System.Events` as a real node would — success, or a
//! `SubtensorModule` error chosen by the test.
#![allow(dead_code)] // each test binary uses a different part

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use jsonrpsee::server::{RpcModule, Server, ServerHandle, SubscriptionMessage};
use jsonrpsee::types::ErrorObjectOwned;
use parity_scale_codec::{Decode, Encode};
use scale_info::{PortableRegistry, TypeDef, TypeDefPrimitive};
use serde_json::{json, Value as Json};
use sn27::chain::extrinsic::SubtensorConfig;
use sn27::chain::metadata::RuntimeCatalogue;
use sn27::chain::subtensor::Subtensor;
use sn27::chain::{AxonInfo, PrometheusInfo};
use sn27::keys::{Keypair, PublicKey};
use subxt::ext::scale_value::{self, Composite, Primitive, Value, ValueDef};
use subxt::Metadata;

/// Finney's genesis hash (`bittensor-wire.md` §5.1).
pub const FINNEY_GENESIS: &str = "2f0555cc76fc2840a25a6ea3b9637146806f1f44b090c175ffde2a7e5ab36c03";

pub fn hex0x(bytes: &[u8]) -> String {
    format!("0x{}", hex::encode(bytes))
}

pub fn unhex(text: &str) -> Vec<u8> {
    hex::decode(text.trim_start_matches("0x")).expect("hex from the client")
}

pub fn block_hash(number: u64) -> [u8; 32] {
    if number == 0 {
        return hex::decode(FINNEY_GENESIS).unwrap().try_into().unwrap();
    }
    use blake2::digest::consts::U32;
    use blake2::{Blake2b, Digest};
    Blake2b::<U32>::digest(number.to_le_bytes()).into()
}

/// The value of type `id` with every number zero, every option `None`, every sequence empty
/// and every enum at its first variant.
pub fn zero(types: &PortableRegistry, id: u32) -> Value<()> {
    let ty = types.resolve(id).unwrap();
    match &ty.type_def {
        TypeDef::Composite(c)
            if !c.fields.is_empty() && c.fields.iter().all(|f| f.name.is_some()) =>
        {
            Value::named_composite(
                c.fields
                    .iter()
                    .map(|f| (f.name.clone().unwrap(), zero(types, f.ty.id))),
            )
        }
        TypeDef::Composite(c) => {
            Value::unnamed_composite(c.fields.iter().map(|f| zero(types, f.ty.id)))
        }
        TypeDef::Variant(v) => {
            let variant = &v.variants[0];
            Value::unnamed_variant(
                variant.name.clone(),
                variant.fields.iter().map(|f| zero(types, f.ty.id)),
            )
        }
        TypeDef::Sequence(_) => Value::unnamed_composite(Vec::new()),
        TypeDef::Array(a) => {
            Value::unnamed_composite((0..a.len).map(|_| zero(types, a.type_param.id)))
        }
        TypeDef::Tuple(t) => Value::unnamed_composite(t.fields.iter().map(|f| zero(types, f.id))),
        TypeDef::Compact(c) => zero(types, c.type_param.id),
        TypeDef::BitSequence(_) => Value::bit_sequence(scale_value::BitSequence::new()),
        TypeDef::Primitive(TypeDefPrimitive::Bool) => Value::bool(false),
        TypeDef::Primitive(TypeDefPrimitive::Str) => Value::string(""),
        TypeDef::Primitive(_) => Value::u128(0),
    }
}

/// `value` with its top-level named field `name` replaced.
pub fn with(mut value: Value<()>, name: &str, new: Value<()>) -> Value<()> {
    let ValueDef::Composite(Composite::Named(fields)) = &mut value.value else {
        panic!("not a struct: {value:?}");
    };
    let slot = fields
        .iter_mut()
        .find(|(n, _)| n == name)
        .unwrap_or_else(|| panic!("no field {name}"));
    slot.1 = new;
    value
}

pub fn encode(types: &PortableRegistry, id: u32, value: &Value<()>) -> Vec<u8> {
    let mut out = Vec::new();
    scale_value::scale::encode_as_type(value, id, types, &mut out).unwrap();
    out
}

/// The type of the one field of variant `variant` (e.g. `Some`) of enum `id`.
pub fn variant_field(types: &PortableRegistry, id: u32, variant: &str) -> u32 {
    let TypeDef::Variant(v) = &types.resolve(id).unwrap().type_def else {
        panic!("type {id} is not an enum");
    };
    v.variants
        .iter()
        .find(|x| x.name == variant)
        .unwrap()
        .fields[0]
        .ty
        .id
}

/// The type of field `field` of variant `variant` of the type at `path`.
pub fn event_field(types: &PortableRegistry, path: &[&str], variant: &str, field: &str) -> u32 {
    let ty = types
        .types
        .iter()
        .find(|t| {
            t.ty.path
                .segments
                .iter()
                .map(String::as_str)
                .eq(path.iter().copied())
        })
        .unwrap_or_else(|| panic!("no type {path:?}"));
    let TypeDef::Variant(v) = &ty.ty.type_def else {
        panic!("{path:?} is not an enum");
    };
    let variant = v.variants.iter().find(|x| x.name == variant).unwrap();
    variant
        .fields
        .iter()
        .find(|f| f.name.as_deref() == Some(field))
        .unwrap()
        .ty
        .id
}

/// One extrinsic the node accepted.
#[derive(Debug, Clone)]
pub struct Submitted {
    pub call: String,
    /// Argument values flattened to numbers.
    pub args: Vec<Vec<u128>>,
    pub signer: [u8; 32],
    pub nonce: u64,
    pub spec: u32,
}

pub struct Runtime {
    pub spec: u32,
    pub metadata_bytes: Vec<u8>,
    pub metadata: Metadata,
    pub catalogue: RuntimeCatalogue,
}

impl Runtime {
    pub fn load(spec: u32) -> Self {
        Self::from_bytes(spec, super::metadata_bytes(spec))
    }

    pub fn from_bytes(spec: u32, metadata_bytes: Vec<u8>) -> Self {
        let metadata = Metadata::decode(&mut &metadata_bytes[..]).unwrap();
        let catalogue = RuntimeCatalogue::decode(&metadata_bytes).unwrap();
        Runtime {
            spec,
            metadata_bytes,
            metadata,
            catalogue,
        }
    }

    pub fn version(&self) -> u32 {
        self.catalogue.metadata_version
    }

    pub fn storage_key(
        &self,
        pallet: &str,
        entry: &str,
        keys: Vec<subxt::dynamic::Value>,
    ) -> Vec<u8> {
        let address = subxt::dynamic::storage(pallet, entry, keys);
        subxt::ext::subxt_core::storage::get_address_bytes(&address, &self.metadata).unwrap()
    }

    pub fn runtime_version(&self) -> Json {
        json!({
            "specName": "node-subtensor", "implName": "node-subtensor", "authoringVersion": 1,
            "specVersion": self.spec, "implVersion": 1, "apis": [], "transactionVersion": 1,
            "systemVersion": 1, "stateVersion": 1
        })
    }

    /// `System.LastRuntimeUpgrade` naming this runtime, as key and value.
    pub fn last_runtime_upgrade(&self) -> (Vec<u8>, Vec<u8>) {
        let id = self
            .catalogue
            .storage_value_type("System", "LastRuntimeUpgrade")
            .unwrap();
        let value = Value::named_composite([
            ("spec_version", Value::u128(self.spec.into())),
            ("spec_name", Value::string("node-subtensor")),
        ]);
        (
            self.storage_key("System", "LastRuntimeUpgrade", vec![]),
            encode(self.catalogue.types(), id, &value),
        )
    }

    /// `System.Events` of a block holding one extrinsic that succeeded or failed with
    /// `SubtensorModule::<error>`.
    pub fn events(&self, error: Option<&str>) -> Vec<u8> {
        let types = self.catalogue.types();
        let events = self
            .catalogue
            .storage_value_type("System", "Events")
            .unwrap();
        let path = ["frame_system", "pallet", "Event"];
        let info = zero(
            types,
            event_field(types, &path, "ExtrinsicSuccess", "dispatch_info"),
        );
        let event = match error {
            None => Value::named_variant("ExtrinsicSuccess", [("dispatch_info", info)]),
            Some(name) => {
                let pallet = self.metadata.pallet_by_name("SubtensorModule").unwrap();
                let TypeDef::Variant(errors) = &types
                    .resolve(pallet.error_ty_id().unwrap())
                    .unwrap()
                    .type_def
                else {
                    panic!("pallet errors are an enum");
                };
                let index = errors
                    .variants
                    .iter()
                    .find(|v| v.name == name)
                    .unwrap()
                    .index;
                let module = Value::named_composite([
                    ("index", Value::u128(pallet.index().into())),
                    ("error", Value::from_bytes([index, 0, 0, 0])),
                ]);
                Value::named_variant(
                    "ExtrinsicFailed",
                    [
                        ("dispatch_error", Value::unnamed_variant("Module", [module])),
                        ("dispatch_info", info),
                    ],
                )
            }
        };
        let record = Value::named_composite([
            (
                "phase",
                Value::unnamed_variant("ApplyExtrinsic", [Value::u128(0)]),
            ),
            ("event", Value::unnamed_variant("System", [event])),
            ("topics", Value::unnamed_composite(Vec::new())),
        ]);
        encode(types, events, &Value::unnamed_composite([record]))
    }
}

/// What the node holds.
pub struct Node {
    pub runtime: Runtime,
    pub block: u64,
    /// Block number → extrinsics (hex) of the blocks the node made.
    pub bodies: HashMap<u64, Vec<String>>,
    pub storage: BTreeMap<Vec<u8>, Vec<u8>>,
    pub events: HashMap<[u8; 32], Vec<u8>>,
    /// `System.LastRuntimeUpgrade` from a block on, oldest first (read at the block asked for,
    /// as the updater checks which block brought the upgrade).
    pub last_upgrade: Vec<(u64, Vec<u8>)>,
    /// How often metadata was asked for.
    pub metadata_reads: usize,
    /// `method ‖ params` → SCALE answer.
    pub apis: HashMap<(String, Vec<u8>), Vec<u8>>,
    pub nonces: HashMap<[u8; 32], u64>,
    pub submitted: Vec<Submitted>,
    /// Pallet error for the next submissions (front first); empty means success.
    pub verdicts: VecDeque<Option<&'static str>>,
    /// JSON-RPC errors `(code, message, data)` refusing the next submissions before they
    /// reach a block (front first), as a node's transaction pool refuses invalid ones.
    pub rejections: VecDeque<(i32, String, Option<Json>)>,
    /// Storage writes to make when the next extrinsic lands.
    pub on_inclusion: Vec<(Vec<u8>, Vec<u8>)>,
    pub upgrades: tokio::sync::watch::Sender<u32>,
}

pub type Shared = Arc<Mutex<Node>>;

pub fn header(number: u64) -> Json {
    json!({
        "parentHash": hex0x(&block_hash(number.saturating_sub(1))),
        "number": format!("0x{number:x}"),
        "stateRoot": hex0x(&[0u8; 32]),
        "extrinsicsRoot": hex0x(&[0u8; 32]),
        "digest": {"logs": []}
    })
}

pub fn number_of(node: &Node, hash: &str) -> Option<u64> {
    let hash = unhex(hash);
    (0..=node.block)
        .rev()
        .find(|n| block_hash(*n).as_slice() == hash.as_slice())
}

pub fn rpc_error(message: impl Into<String>) -> ErrorObjectOwned {
    ErrorObjectOwned::owned(-32000, message.into(), None::<()>)
}

pub fn numbers(value: &Value<u32>) -> Vec<u128> {
    match &value.value {
        ValueDef::Primitive(Primitive::U128(n)) => vec![*n],
        ValueDef::Composite(c) => c.values().flat_map(numbers).collect(),
        ValueDef::Variant(v) => v.values.values().flat_map(numbers).collect(),
        other => panic!("unexpected argument {other:?}"),
    }
}

/// Accepts one extrinsic: decodes it, records it, makes a block with it and its events.
pub fn include(node: &mut Node, hex: &str) -> Result<u64, ErrorObjectOwned> {
    let bytes = unhex(hex);
    let decoded = subxt::ext::subxt_core::blocks::decode_from::<SubtensorConfig>(
        vec![bytes],
        node.runtime.metadata.clone(),
    )
    .map_err(|e| rpc_error(format!("extrinsic does not decode: {e}")))?;
    if let Some((code, message, data)) = node.rejections.pop_front() {
        return Err(ErrorObjectOwned::owned(code, message, data));
    }
    let extrinsic = decoded.iter().next().unwrap();
    let signer: [u8; 32] = extrinsic.address_bytes().unwrap()[1..].try_into().unwrap();
    let nonce = extrinsic.transaction_extensions().unwrap().nonce().unwrap();
    let expected = node.nonces.get(&signer).copied().unwrap_or(0);
    if nonce != expected {
        return Err(rpc_error(format!(
            "1010: Invalid Transaction: nonce {nonce}, expected {expected}"
        )));
    }
    node.nonces.insert(signer, expected + 1);
    let fields = extrinsic.field_values().unwrap();
    node.submitted.push(Submitted {
        call: extrinsic.variant_name().unwrap().to_string(),
        args: fields.values().map(numbers).collect(),
        signer,
        nonce,
        spec: node.runtime.spec,
    });
    node.block += 1;
    let number = node.block;
    node.bodies.insert(number, vec![hex.to_string()]);
    let verdict = node.verdicts.pop_front().flatten();
    if verdict.is_none() {
        for (key, value) in std::mem::take(&mut node.on_inclusion) {
            node.storage.insert(key, value);
        }
    }
    let events = node.runtime.events(verdict);
    node.events.insert(block_hash(number), events);
    Ok(number)
}

pub async fn start(node: Shared, addr: SocketAddr) -> (ServerHandle, SocketAddr) {
    let server = Server::builder().build(addr).await.unwrap();
    let addr = server.local_addr().unwrap();
    let mut module = RpcModule::new(node);

    module
        .register_method("chain_getBlockHash", |params, node: &Shared, _| {
            let n: Option<u64> = params.sequence().optional_next().unwrap_or(None);
            let node = node.lock().unwrap();
            Ok::<_, ErrorObjectOwned>(hex0x(&block_hash(n.unwrap_or(node.block))))
        })
        .unwrap();
    module
        .register_method("chain_getFinalizedHead", |_, node: &Shared, _| {
            Ok::<_, ErrorObjectOwned>(hex0x(&block_hash(node.lock().unwrap().block)))
        })
        .unwrap();
    module
        .register_method("chain_getHeader", |params, node: &Shared, _| {
            let hash: Option<String> = params.sequence().optional_next().unwrap_or(None);
            let node = node.lock().unwrap();
            let number = match hash {
                Some(h) => number_of(&node, &h),
                None => Some(node.block),
            };
            Ok::<_, ErrorObjectOwned>(number.map(header))
        })
        .unwrap();
    module
        .register_method("chain_getBlock", |params, node: &Shared, _| {
            let hash: String = params.one().map_err(|e| rpc_error(e.to_string()))?;
            let node = node.lock().unwrap();
            Ok::<_, ErrorObjectOwned>(number_of(&node, &hash).map(|n| {
                json!({
                    "block": {"header": header(n), "extrinsics": node.bodies.get(&n).cloned().unwrap_or_default()},
                    "justifications": null
                })
            }))
        })
        .unwrap();
    module
        .register_method("state_getRuntimeVersion", |_, node: &Shared, _| {
            Ok::<_, ErrorObjectOwned>(node.lock().unwrap().runtime.runtime_version())
        })
        .unwrap();
    module
        .register_method("system_accountNextIndex", |params, node: &Shared, _| {
            let ss58: String = params.one().map_err(|e| rpc_error(e.to_string()))?;
            let key = PublicKey::from_ss58(&ss58).map_err(|e| rpc_error(e.to_string()))?;
            Ok::<_, ErrorObjectOwned>(
                node.lock()
                    .unwrap()
                    .nonces
                    .get(&key.0)
                    .copied()
                    .unwrap_or(0),
            )
        })
        .unwrap();
    module
        .register_method("state_call", |params, node: &Shared, _| {
            let mut seq = params.sequence();
            let method: String = seq.next().map_err(|e| rpc_error(e.to_string()))?;
            let data: String = seq.next().map_err(|e| rpc_error(e.to_string()))?;
            let data = unhex(&data);
            let mut node = node.lock().unwrap();
            if method == "AccountNonceApi_account_nonce" {
                let account: [u8; 32] = data[..].try_into().map_err(|_| rpc_error("account"))?;
                let nonce = node.nonces.get(&account).copied().unwrap_or(0) as u32;
                return Ok(hex0x(&nonce.encode()));
            }
            if method == "Metadata_metadata_at_version" {
                let version = u32::decode(&mut &data[..]).unwrap();
                node.metadata_reads += 1;
                let answer = (version == node.runtime.version())
                    .then(|| node.runtime.metadata_bytes.clone());
                return Ok(hex0x(&answer.encode()));
            }
            node.apis
                .get(&(method.clone(), data))
                .map(|bytes| hex0x(bytes))
                .ok_or_else(|| rpc_error(format!("no answer set for {method}")))
        })
        .unwrap();
    module
        .register_method("state_getStorage", |params, node: &Shared, _| {
            let mut seq = params.sequence();
            let key: String = seq.next().map_err(|e| rpc_error(e.to_string()))?;
            let at: Option<String> = seq.optional_next().unwrap_or(None);
            let node = node.lock().unwrap();
            let key = unhex(&key);
            let events_key = node.runtime.storage_key("System", "Events", vec![]);
            let upgrade_key = node
                .runtime
                .storage_key("System", "LastRuntimeUpgrade", vec![]);
            let value = if key == events_key {
                at.and_then(|h| node.events.get(unhex(&h).as_slice()).cloned())
            } else if key == upgrade_key {
                let at = at.and_then(|h| number_of(&node, &h)).unwrap_or(node.block);
                node.last_upgrade
                    .iter()
                    .rev()
                    .find(|(from, _)| *from <= at)
                    .map(|(_, v)| v.clone())
            } else {
                node.storage.get(&key).cloned()
            };
            Ok::<_, ErrorObjectOwned>(value.map(|v| hex0x(&v)))
        })
        .unwrap();
    module
        .register_method("state_getKeysPaged", |params, node: &Shared, _| {
            let mut seq = params.sequence();
            let prefix: String = seq.next().map_err(|e| rpc_error(e.to_string()))?;
            let count: usize = seq.next().map_err(|e| rpc_error(e.to_string()))?;
            let start: Option<String> = seq.optional_next().unwrap_or(None);
            let prefix = unhex(&prefix);
            let start = start.map(|s| unhex(&s)).unwrap_or_default();
            let node = node.lock().unwrap();
            let keys: Vec<String> = node
                .storage
                .keys()
                .filter(|k| k.starts_with(&prefix) && **k > start)
                .take(count)
                .map(|k| hex0x(k))
                .collect();
            Ok::<_, ErrorObjectOwned>(keys)
        })
        .unwrap();
    module
        .register_method("state_queryStorageAt", |params, node: &Shared, _| {
            let keys: Vec<String> = params
                .sequence()
                .next()
                .map_err(|e| rpc_error(e.to_string()))?;
            let node = node.lock().unwrap();
            let changes: Vec<Json> = keys
                .iter()
                .map(|k| json!([k, node.storage.get(&unhex(k)).map(|v| hex0x(v))]))
                .collect();
            Ok::<_, ErrorObjectOwned>(
                json!([{"block": hex0x(&block_hash(node.block)), "changes": changes}]),
            )
        })
        .unwrap();
    module
        .register_subscription(
            "author_submitAndWatchExtrinsic",
            "author_extrinsicUpdate",
            "author_unwatchExtrinsic",
            |params, pending, node: Arc<Shared>, _| async move {
                let hex: String = match params.one() {
                    Ok(hex) => hex,
                    Err(e) => {
                        pending.reject(e).await;
                        return Ok(());
                    }
                };
                let included = include(&mut node.lock().unwrap(), &hex);
                let number = match included {
                    Ok(number) => number,
                    Err(e) => {
                        pending.reject(e).await;
                        return Ok(());
                    }
                };
                let sink = pending.accept().await?;
                let hash = hex0x(&block_hash(number));
                for status in [
                    json!("ready"),
                    json!({"inBlock": hash}),
                    json!({"finalized": hash}),
                ] {
                    sink.send(SubscriptionMessage::from_json(&status)?).await?;
                }
                Ok(())
            },
        )
        .unwrap();
    module
        .register_subscription(
            "state_subscribeRuntimeVersion",
            "state_runtimeVersion",
            "state_unsubscribeRuntimeVersion",
            |_, pending, node: Arc<Shared>, _| async move {
                let mut upgrades = node.lock().unwrap().upgrades.subscribe();
                let sink = pending.accept().await?;
                loop {
                    let version = node.lock().unwrap().runtime.runtime_version();
                    sink.send(SubscriptionMessage::from_json(&version)?).await?;
                    tokio::select! {
                        changed = upgrades.changed() => if changed.is_err() { return Ok(()) },
                        _ = sink.closed() => return Ok(()),
                    }
                }
            },
        )
        .unwrap();
    module
        .register_subscription(
            "chain_subscribeFinalizedHeads",
            "chain_finalizedHead",
            "chain_unsubscribeFinalizedHeads",
            |_, pending, node: Arc<Shared>, _| async move {
                let mut changes = node.lock().unwrap().upgrades.subscribe();
                let sink = pending.accept().await?;
                loop {
                    let head = header(node.lock().unwrap().block);
                    sink.send(SubscriptionMessage::from_json(&head)?).await?;
                    tokio::select! {
                        changed = changes.changed() => if changed.is_err() { return Ok(()) },
                        _ = sink.closed() => return Ok(()),
                    }
                }
            },
        )
        .unwrap();
    (server.start(module), addr)
}

/// Moves the node to `spec` as a runtime upgrade does: a new block whose
/// `System.LastRuntimeUpgrade` names the new spec, announced to subscribers.
pub fn upgrade(node: &Shared, spec: u32) {
    let mut node = node.lock().unwrap();
    node.runtime = Runtime::load(spec);
    node.block += 1;
    let (_, value) = node.runtime.last_runtime_upgrade();
    let block = node.block;
    node.last_upgrade.push((block, value));
    node.upgrades.send_replace(spec);
}

/// The prometheus info the fixture's validator (uid 0) published at block 990; other uids
/// have none.
pub fn validator_prometheus() -> PrometheusInfo {
    PrometheusInfo {
        block: 990,
        ..PrometheusInfo::for_address("203.0.113.1".parse().unwrap(), 8091, 221)
    }
}

/// A neuron as `NeuronInfoLite` of this runtime; uid 0 is a validator with a permit and
/// [`validator_prometheus`].
pub fn neuron(
    runtime: &Runtime,
    uid: u16,
    hotkey: &PublicKey,
    stake: u64,
    last_update: u64,
    axon: &AxonInfo,
) -> Value<()> {
    let types = runtime.catalogue.types();
    let list = runtime
        .catalogue
        .runtime_api_output("NeuronInfoRuntimeApi", "get_neurons_lite")
        .unwrap();
    let TypeDef::Sequence(seq) = &types.resolve(list).unwrap().type_def else {
        panic!("get_neurons_lite returns a list");
    };
    let mut value = zero(types, seq.type_param.id);
    let axon_value = Value::named_composite([
        ("block", Value::u128(axon.block.into())),
        ("version", Value::u128(axon.version.into())),
        ("ip", Value::u128(axon.ip)),
        ("port", Value::u128(axon.port.into())),
        ("ip_type", Value::u128(axon.ip_type.into())),
        ("protocol", Value::u128(axon.protocol.into())),
        ("placeholder1", Value::u128(0)),
        ("placeholder2", Value::u128(0)),
    ]);
    let prometheus = if uid == 0 {
        validator_prometheus()
    } else {
        PrometheusInfo::default()
    };
    let prometheus_value = Value::named_composite([
        ("block", Value::u128(prometheus.block.into())),
        ("version", Value::u128(prometheus.version.into())),
        ("ip", Value::u128(prometheus.ip)),
        ("port", Value::u128(prometheus.port.into())),
        ("ip_type", Value::u128(prometheus.ip_type.into())),
    ]);
    for (name, new) in [
        ("hotkey", Value::from_bytes(hotkey.0)),
        ("coldkey", Value::from_bytes([9u8; 32])),
        ("uid", Value::u128(uid.into())),
        ("netuid", Value::u128(27)),
        ("active", Value::bool(true)),
        ("axon_info", axon_value),
        ("prometheus_info", prometheus_value),
        (
            "stake",
            Value::unnamed_composite([Value::unnamed_composite([
                Value::from_bytes([9u8; 32]),
                Value::u128(stake.into()),
            ])]),
        ),
        ("last_update", Value::u128(last_update.into())),
        ("validator_permit", Value::bool(uid == 0)),
    ] {
        value = with(value, name, new);
    }
    value
}

/// Makes `hotkey` uid `uid` of subnet 27 beside the fixture's validator and miner (in
/// `get_neurons_lite` and `Uids`), with no stake and no axon.
pub fn add_neuron(
    node: &Shared,
    uid: u16,
    hotkey: &PublicKey,
    validator: &PublicKey,
    miner: &PublicKey,
) {
    let mut node = node.lock().unwrap();
    let runtime = &node.runtime;
    let list = runtime
        .catalogue
        .runtime_api_output("NeuronInfoRuntimeApi", "get_neurons_lite")
        .unwrap();
    let axon = AxonInfo::for_address("10.0.0.2".parse().unwrap(), 8091, 183);
    let neurons = Value::unnamed_composite([
        neuron(
            runtime,
            0,
            validator,
            VALIDATOR_STAKE.0,
            995,
            &AxonInfo::default(),
        ),
        neuron(runtime, 1, miner, 0, 0, &axon),
        neuron(runtime, uid, hotkey, 0, 0, &AxonInfo::default()),
    ]);
    let answer = encode(runtime.catalogue.types(), list, &neurons);
    let key = runtime.storage_key(
        "SubtensorModule",
        "Uids",
        vec![
            subxt::dynamic::Value::u128(27),
            subxt::dynamic::Value::from_bytes(hotkey.0),
        ],
    );
    node.apis.insert(
        (
            "NeuronInfoRuntimeApi_get_neurons_lite".to_string(),
            27u16.encode(),
        ),
        answer,
    );
    node.storage.insert(key, uid.encode());
}

/// `SubnetInfoRuntimeApi_get_metagraph`'s answer with the per-uid `hotkeys` and the three
/// stake vectors set (every other field zero).
pub fn metagraph_stakes(
    runtime: &Runtime,
    hotkeys: &[PublicKey],
    alpha: &[u64],
    tao: &[u64],
    total: &[u64],
) -> Vec<u8> {
    let types = runtime.catalogue.types();
    let id = runtime
        .catalogue
        .runtime_api_output("SubnetInfoRuntimeApi", "get_metagraph")
        .unwrap();
    let amounts =
        |list: &[u64]| Value::unnamed_composite(list.iter().map(|a| Value::u128((*a).into())));
    let mut value = zero(types, variant_field(types, id, "Some"));
    value = with(
        value,
        "hotkeys",
        Value::unnamed_composite(hotkeys.iter().map(|k| Value::from_bytes(k.0))),
    );
    value = with(value, "alpha_stake", amounts(alpha));
    value = with(value, "tao_stake", amounts(tao));
    value = with(value, "total_stake", amounts(total));
    encode(types, id, &Value::unnamed_variant("Some", [value]))
}

/// The fixture validator's stake: 5000 alpha on the subnet, 1000 TAO on root, counted at a
/// TaoWeight of 0.18 (`alpha, tao, total`, 10⁻⁹ units).
pub const VALIDATOR_STAKE: (u64, u64, u64) =
    (5_000_000_000_000, 1_000_000_000_000, 5_180_000_000_000);

pub fn hyperparams(runtime: &Runtime, weights_rate_limit: u64, commit_reveal: bool) -> Vec<u8> {
    let types = runtime.catalogue.types();
    let id = runtime
        .catalogue
        .runtime_api_output("SubnetInfoRuntimeApi", "get_subnet_hyperparams_v2")
        .unwrap();
    let inner = variant_field(types, id, "Some");
    let mut value = zero(types, inner);
    for (name, v) in [
        ("tempo", 360u128),
        ("weights_version", 183),
        ("weights_rate_limit", weights_rate_limit.into()),
        ("serving_rate_limit", 50),
        ("max_validators", 64),
        ("min_allowed_weights", 1),
        ("max_weights_limit", 65535),
    ] {
        value = with(value, name, Value::u128(v));
    }
    value = with(value, "registration_allowed", Value::bool(true));
    value = with(
        value,
        "commit_reveal_weights_enabled",
        Value::bool(commit_reveal),
    );
    encode(types, id, &Value::unnamed_variant("Some", [value]))
}

/// `BlockAtRegistration` of the fixture's uids 0 and 1.
pub const REGISTERED_AT: [u64; 2] = [5, 11];

/// `System.Account` of `who` holding `free` RAO, as storage key and value.
pub fn account(runtime: &Runtime, who: &PublicKey, free: u128) -> (Vec<u8>, Vec<u8>) {
    let types = runtime.catalogue.types();
    let id = runtime
        .catalogue
        .storage_value_type("System", "Account")
        .unwrap();
    let info = zero(types, id);
    let ValueDef::Composite(Composite::Named(fields)) = &info.value else {
        panic!("AccountInfo is a struct")
    };
    let data = fields.iter().find(|(n, _)| n == "data").unwrap().1.clone();
    let info = with(info, "data", with(data, "free", Value::u128(free)));
    (
        runtime.storage_key(
            "System",
            "Account",
            vec![subxt::dynamic::Value::from_bytes(who.0)],
        ),
        encode(types, id, &info),
    )
}

pub struct Fixture {
    pub node: Shared,
    pub handle: ServerHandle,
    pub addr: SocketAddr,
    pub validator: Keypair,
    pub miner: Keypair,
}

/// A node at block 1000 on `spec`, subnet 27 with a validator (uid 0) and a miner (uid 1).
pub async fn fixture(spec: u32) -> Fixture {
    let runtime = Runtime::load(spec);
    let validator = Keypair::from_secret_bytes(&[1; 32]).unwrap();
    let miner = Keypair::from_secret_bytes(&[2; 32]).unwrap();
    let axon = AxonInfo::for_address("10.0.0.2".parse().unwrap(), 8091, 183);
    let neurons = Value::unnamed_composite([
        neuron(
            &runtime,
            0,
            &validator.public(),
            VALIDATOR_STAKE.0,
            995,
            &AxonInfo::default(),
        ),
        neuron(&runtime, 1, &miner.public(), 0, 0, &axon),
    ]);
    let list = runtime
        .catalogue
        .runtime_api_output("NeuronInfoRuntimeApi", "get_neurons_lite")
        .unwrap();
    let types = runtime.catalogue.types();
    let mut apis = HashMap::new();
    apis.insert(
        (
            "NeuronInfoRuntimeApi_get_neurons_lite".to_string(),
            27u16.encode(),
        ),
        encode(types, list, &neurons),
    );
    let one = runtime
        .catalogue
        .runtime_api_output("NeuronInfoRuntimeApi", "get_neuron_lite")
        .unwrap();
    let ValueDef::Composite(all) = &neurons.value else {
        unreachable!()
    };
    for (uid, n) in all.values().enumerate() {
        apis.insert(
            (
                "NeuronInfoRuntimeApi_get_neuron_lite".to_string(),
                (27u16, uid as u16).encode(),
            ),
            encode(types, one, &Value::unnamed_variant("Some", [n.clone()])),
        );
    }
    apis.insert(
        (
            "SubnetInfoRuntimeApi_get_subnet_hyperparams_v2".to_string(),
            27u16.encode(),
        ),
        hyperparams(&runtime, 100, false),
    );
    let (alpha, tao, total) = VALIDATOR_STAKE;
    apis.insert(
        (
            "SubnetInfoRuntimeApi_get_metagraph".to_string(),
            27u16.encode(),
        ),
        metagraph_stakes(
            &runtime,
            &[validator.public(), miner.public()],
            &[alpha, 0],
            &[tao, 0],
            &[total, 0],
        ),
    );
    apis.insert(
        (
            "SubnetInfoRuntimeApi_get_subnet_hyperparams_v2".to_string(),
            99u16.encode(),
        ),
        vec![0],
    );
    apis.insert(
        (
            "NeuronInfoRuntimeApi_get_neurons_lite".to_string(),
            99u16.encode(),
        ),
        vec![0],
    );
    let mut storage = BTreeMap::new();
    let net = || subxt::dynamic::Value::u128(27);
    storage.insert(
        runtime.storage_key("SubtensorModule", "Burn", vec![net()]),
        1_500_000_000u64.encode(),
    );
    for (uid, key) in [(0u16, validator.public()), (1, miner.public())] {
        storage.insert(
            runtime.storage_key(
                "SubtensorModule",
                "Uids",
                vec![net(), subxt::dynamic::Value::from_bytes(key.0)],
            ),
            uid.encode(),
        );
        // Registered at blocks 5 and 11 (`BlockAtRegistration`, keyed by netuid and uid).
        storage.insert(
            runtime.storage_key(
                "SubtensorModule",
                "BlockAtRegistration",
                vec![net(), subxt::dynamic::Value::u128(uid.into())],
            ),
            REGISTERED_AT[usize::from(uid)].encode(),
        );
    }
    // The validator's account holds 42.5 TAO free; the miner's has no entry.
    let (key, value) = account(&runtime, &validator.public(), 42_500_000_000);
    storage.insert(key, value);
    // uid 0 weights uid 1 fully, uid 1 has set none.
    storage.insert(
        runtime.storage_key(
            "SubtensorModule",
            "Weights",
            vec![net(), subxt::dynamic::Value::u128(0)],
        ),
        vec![(1u16, 65535u16)].encode(),
    );
    let (_, last_upgrade) = runtime.last_runtime_upgrade();
    let (upgrades, _) = tokio::sync::watch::channel(spec);
    let node = Arc::new(Mutex::new(Node {
        runtime,
        block: 1000,
        bodies: HashMap::new(),
        storage,
        events: HashMap::new(),
        last_upgrade: vec![(0, last_upgrade)],
        metadata_reads: 0,
        apis,
        nonces: HashMap::new(),
        submitted: Vec::new(),
        verdicts: VecDeque::new(),
        rejections: VecDeque::new(),
        on_inclusion: Vec::new(),
        upgrades,
    }));
    let (handle, addr) = start(node.clone(), "127.0.0.1:0".parse().unwrap()).await;
    Fixture {
        node,
        handle,
        addr,
        validator,
        miner,
    }
}

pub async fn connect(addr: SocketAddr) -> Subtensor {
    Subtensor::connect_within(&format!("ws://{addr}"), Duration::from_secs(10))
        .await
        .unwrap()
}
