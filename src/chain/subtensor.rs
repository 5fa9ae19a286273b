//! The client for real subtensor nodes (finney, test, a local node, any `ws://`/`wss://` URL).
//!
//! Built on subxt's *dynamic* API: calls, storage entries and runtime APIs are looked up by name
//! in the metadata the node serves, and results are decoded by field name
//! ([`super::decode`]), so a runtime upgrade that keeps names and meanings needs no new sn27.
//!
//! - The first connection is made once, in steps ([`super::connection`]), and its failure
//!   named at once (refused, DNS, TLS, timeout); retrying it is the caller's choice
//!   ([`super::connect_retrying`] for services).
//! - Once connected, the websocket reconnects by itself with exponential backoff (250 ms
//!   doubling to 10 s); a read in flight during a drop waits for the new connection and is
//!   retried there, within its timeout.
//! - A background task follows the node's runtime-version subscription and swaps in the new
//!   metadata and spec version on an upgrade, so signatures stay valid after it.
//! - Every read has [`CALL_TIMEOUT`]; a submission waits at most [`INCLUSION_TIMEOUT`] for its
//!   block and then for its events, and a refusal comes back as the pallet's error name with
//!   [`super::errors::explain`]'s words; a transaction the node refuses before any block
//!   (its validity) comes back named by [`super::validity`].
//! - An axon at an address validators cannot reach (loopback, private, …) is refused before
//!   anything is sent.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use parity_scale_codec::{Decode, Encode};
use subxt::backend::rpc::reconnecting_rpc_client::{ExponentialBackoff, RpcClient as Reconnecting};
use subxt::backend::rpc::RpcClient;
use subxt::config::DefaultExtrinsicParamsBuilder;
use subxt::dynamic::Value;
use subxt::error::{DispatchError, Error as SubxtError, RpcError, TransactionError};
use subxt::ext::scale_decode::DecodeAsType;
use subxt::ext::subxt_rpcs::Error as RpcClientError;
use subxt::utils::H256;
use subxt::OnlineClient;
use tokio::task::JoinHandle;

use super::connection::{ConnectFailure, Endpoint};
use super::decode::{decode, HyperparamsFields, MetagraphStakeFields, NeuronInfoLiteFields};
use super::errors::explain;
use super::extrinsic::{KeypairSigner, SubtensorCall, SubtensorConfig};
use super::metadata::SUBTENSOR_PALLET;
use super::timelock::{reveal_block, reveal_block_fixed_epochs, EpochSchedule};
use super::types::{
    unreachable_reason, AxonInfo, ChainStatus, Hyperparameters, Metagraph, NeuronInfo,
    PrometheusInfo, ServeOutcome, TimelockPlan, WeightRows,
};
use super::validity;
use super::{Chain, ChainError};
use crate::keys::{Keypair, PublicKey};

/// The longest any single read or the submission itself may take.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(30);
/// The longest each step of the first connection may take (name lookup, TCP, handshake).
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// The longest a submitted extrinsic may take to land in a block and report its outcome
/// (a block is 12 s; a busy transaction pool can hold it back a few blocks).
pub const INCLUSION_TIMEOUT: Duration = Duration::from_secs(120);
/// Mortality of signed extrinsics, in blocks, as the Python SDK signs.
pub const ERA_PERIOD: u64 = 128;

/// A connection to a subtensor node.
pub struct Subtensor {
    endpoint: String,
    client: OnlineClient<SubtensorConfig>,
    updater: JoinHandle<()>,
}

impl Drop for Subtensor {
    fn drop(&mut self) {
        self.updater.abort();
    }
}

fn unreachable(endpoint: &str, error: impl std::fmt::Display) -> ChainError {
    ChainError::Unavailable(format!("subtensor node {endpoint}: {error}"))
}

/// A timeout around one chain operation, named in the error.
async fn bounded<T>(
    endpoint: &str,
    what: &str,
    limit: Duration,
    work: impl std::future::Future<Output = Result<T, SubxtError>>,
) -> Result<T, ChainError> {
    match tokio::time::timeout(limit, work).await {
        Ok(result) => result.map_err(|e| unreachable(endpoint, format_args!("{what}: {e}"))),
        Err(_) => Err(unreachable(
            endpoint,
            format_args!("{what}: no answer within {} s", limit.as_secs()),
        )),
    }
}

impl Subtensor {
    /// Connects to `endpoint`, reads genesis hash, runtime version and metadata, and checks
    /// that every transaction extension can be filled. A node that cannot be reached is
    /// [`ChainError::Unreachable`] with the cause, at once (each step of the connection gives
    /// up after [`CONNECT_TIMEOUT`]).
    pub async fn connect(endpoint: &str) -> Result<Self, ChainError> {
        Self::connect_within(endpoint, CONNECT_TIMEOUT).await
    }

    /// [`Subtensor::connect`], each step of the first connection (name lookup, TCP, TLS and
    /// websocket handshake) giving up after `limit`. Once connected, a dropped connection is
    /// retried without end (backoff up to 10 s), since a miner or validator must outlive a
    /// node restart.
    pub async fn connect_within(endpoint: &str, limit: Duration) -> Result<Self, ChainError> {
        let failed = |cause| ChainError::Unreachable {
            endpoint: endpoint.to_string(),
            cause,
        };
        let target = Endpoint::parse(endpoint).map_err(failed)?;
        target.probe(limit).await.map_err(failed)?;
        let connected = Arc::new(AtomicBool::new(false));
        let rpc = tokio::time::timeout(
            limit,
            Reconnecting::builder()
                .retry_policy(ReconnectAfterFirst {
                    connected: connected.clone(),
                    backoff: ExponentialBackoff::from_millis(250)
                        .max_delay(Duration::from_secs(10)),
                })
                .request_timeout(CALL_TIMEOUT)
                .connection_timeout(limit)
                .build(endpoint),
        )
        .await
        .map_err(|_| {
            failed(ConnectFailure::Timeout {
                stage: "in the websocket handshake",
                limit,
            })
        })?
        .map_err(|e| failed(target.handshake_failure(&e.to_string(), limit)))?;
        connected.store(true, Ordering::Release);
        let client = bounded(
            endpoint,
            "reading genesis, runtime version and metadata",
            CALL_TIMEOUT,
            OnlineClient::<SubtensorConfig>::from_rpc_client(RpcClient::new(rpc)),
        )
        .await?;
        check_runtime(endpoint, &client)?;
        let updater = tokio::spawn(follow_runtime_upgrades(
            endpoint.to_string(),
            client.clone(),
        ));
        Ok(Subtensor {
            endpoint: endpoint.to_string(),
            client,
            updater,
        })
    }

    /// `Aura.SlotDuration`, 12 s where the runtime does not say.
    fn block_time_ms(&self) -> u64 {
        self.client
            .metadata()
            .pallet_by_name("Aura")
            .and_then(|aura| aura.constant_by_name("SlotDuration"))
            .and_then(|c| u64::decode(&mut c.value()).ok())
            .unwrap_or(12_000)
    }

    fn unavailable(&self, error: impl std::fmt::Display) -> ChainError {
        unreachable(&self.endpoint, error)
    }

    fn decode_error(&self, what: &str, error: impl std::fmt::Display) -> ChainError {
        self.unavailable(format_args!(
            "{what} does not decode with the node's metadata (spec {}): {error}",
            self.client.runtime_version().spec_version
        ))
    }

    async fn latest_block(&self) -> Result<(u64, H256), ChainError> {
        let block = bounded(
            &self.endpoint,
            "reading the latest block",
            CALL_TIMEOUT,
            self.client.blocks().at_latest(),
        )
        .await?;
        Ok((block.number().into(), block.hash()))
    }

    /// Calls runtime API `api_method` (e.g. `NeuronInfoRuntimeApi`, `get_neurons_lite`) with
    /// SCALE-encoded `args` and decodes its output type into `T` by field name.
    async fn runtime_api<T: DecodeAsType>(
        &self,
        api: &str,
        method: &str,
        args: &[u8],
    ) -> Result<T, ChainError> {
        let metadata = self.client.metadata();
        let output = metadata
            .runtime_api_trait_by_name(api)
            .and_then(|t| t.method_by_name(method).map(|m| m.output_ty()))
            .ok_or_else(|| {
                self.unavailable(format_args!(
                    "runtime API {api}.{method} does not exist in spec {}",
                    self.client.runtime_version().spec_version
                ))
            })?;
        let name = format!("{api}_{method}");
        let bytes = bounded(&self.endpoint, &name, CALL_TIMEOUT, async {
            self.client
                .runtime_api()
                .at_latest()
                .await?
                .call_raw(&name, Some(args))
                .await
        })
        .await?;
        decode(&bytes, output, metadata.types()).map_err(|e| self.decode_error(&name, e))
    }

    /// Reads `<pallet>.<entry>` at `keys` in block `at` (the latest when `None`), or, with
    /// `or_default`, the entry's declared default when the chain holds no value; `None` when
    /// there is neither.
    async fn read<T: DecodeAsType>(
        &self,
        at: Option<H256>,
        pallet: &str,
        entry: &str,
        keys: Vec<Value>,
        or_default: bool,
    ) -> Result<Option<T>, ChainError> {
        let address = subxt::dynamic::storage(pallet, entry, keys);
        let what = format!("{pallet}.{entry}");
        let value = bounded(&self.endpoint, &what, CALL_TIMEOUT, async {
            let storage = match at {
                Some(hash) => self.client.storage().at(hash),
                None => self.client.storage().at_latest().await?,
            };
            if or_default {
                storage.fetch_or_default(&address).await.map(Some)
            } else {
                storage.fetch(&address).await
            }
        })
        .await?;
        value
            .map(|v| v.as_type::<T>().map_err(|e| self.decode_error(&what, e)))
            .transpose()
    }

    /// A `SubtensorModule` value with a default (`ValueQuery`), e.g. `Burn`.
    async fn subnet_value<T: DecodeAsType>(
        &self,
        at: Option<H256>,
        entry: &str,
        keys: Vec<Value>,
    ) -> Result<T, ChainError> {
        self.read(at, SUBTENSOR_PALLET, entry, keys, true)
            .await?
            .ok_or_else(|| {
                self.decode_error(
                    &format!("{SUBTENSOR_PALLET}.{entry}"),
                    "no value and no default",
                )
            })
    }

    async fn uid_of(&self, netuid: u16, hotkey: &PublicKey) -> Result<Option<u16>, ChainError> {
        self.read(
            None,
            SUBTENSOR_PALLET,
            "Uids",
            vec![Value::u128(netuid.into()), Value::from_bytes(hotkey.0)],
            false,
        )
        .await
    }

    /// Every value of a `SubtensorModule` map keyed by netuid and uid, both with the Identity
    /// hasher (`Weights`, `BlockAtRegistration`), as `(uid, value)`: the uid is the key's last
    /// two bytes. Uids without a stored value are absent (their value is the default).
    async fn per_uid<T: DecodeAsType>(
        &self,
        entry: &str,
        netuid: u16,
    ) -> Result<Vec<(u16, T)>, ChainError> {
        let address =
            subxt::dynamic::storage(SUBTENSOR_PALLET, entry, vec![Value::u128(netuid.into())]);
        let what = format!("{SUBTENSOR_PALLET}.{entry}");
        let pairs = bounded(&self.endpoint, &what, CALL_TIMEOUT, async {
            let storage = self.client.storage().at_latest().await?;
            let mut stream = storage.iter(address).await?;
            let mut pairs = Vec::new();
            while let Some(pair) = stream.next().await {
                pairs.push(pair?);
            }
            Ok(pairs)
        })
        .await?;
        let mut values = Vec::with_capacity(pairs.len());
        for pair in pairs {
            let key = &pair.key_bytes;
            let uid = key
                .len()
                .checked_sub(2)
                .map(|at| u16::from_le_bytes([key[at], key[at + 1]]))
                .ok_or_else(|| self.decode_error(&format!("{what} key"), "too short"))?;
            let value = pair
                .value
                .as_type::<T>()
                .map_err(|e| self.decode_error(&what, e))?;
            values.push((uid, value));
        }
        Ok(values)
    }

    /// Signs `call` with `signer`, submits it and waits until it is in a block and its events
    /// say whether it succeeded; returns the block number.
    async fn submit(&self, call: SubtensorCall, signer: &Keypair) -> Result<u64, ChainError> {
        let name = call.name;
        let payload = subxt::dynamic::tx(SUBTENSOR_PALLET, name, call.args);
        let params = DefaultExtrinsicParamsBuilder::<SubtensorConfig>::new()
            .mortal(ERA_PERIOD)
            .build();
        let progress = tokio::time::timeout(
            CALL_TIMEOUT,
            self.client
                .tx()
                .sign_and_submit_then_watch(&payload, &KeypairSigner(signer), params),
        )
        .await
        .map_err(|_| self.unavailable(format_args!("submitting {name}: no answer within 30 s")))?
        .map_err(|e| self.refusal(name, e))?;
        let outcome = tokio::time::timeout(INCLUSION_TIMEOUT, async {
            let in_block = progress.wait_for_finalized().await?;
            let hash = in_block.block_hash();
            in_block.wait_for_success().await?;
            Ok::<_, SubxtError>(hash)
        })
        .await
        .map_err(|_| {
            self.unavailable(format_args!(
                "{name} was submitted but not included within {} s; check the chain before \
                 sending it again",
                INCLUSION_TIMEOUT.as_secs()
            ))
        })?;
        let hash = outcome.map_err(|e| self.refusal(name, e))?;
        let header = bounded(
            &self.endpoint,
            "reading the inclusion block",
            CALL_TIMEOUT,
            async { self.client.blocks().at(hash).await },
        )
        .await?;
        Ok(header.number().into())
    }

    /// A failed submission in plain words: a pallet error by name, an invalid transaction, or
    /// the node being out of reach.
    fn refusal(&self, call: &'static str, error: SubxtError) -> ChainError {
        match error {
            SubxtError::Runtime(DispatchError::Module(module)) => match module.details() {
                Ok(details) => {
                    let name = details.variant.name.clone();
                    ChainError::Dispatch {
                        call,
                        explanation: explain(&name).to_string(),
                        error: name.into(),
                    }
                }
                Err(_) => ChainError::Dispatch {
                    call,
                    error: "UnknownModuleError".into(),
                    explanation: format!(
                        "pallet error bytes {:?} are not in the node's metadata",
                        module.bytes()
                    ),
                },
            },
            SubxtError::Runtime(other) => ChainError::Dispatch {
                call,
                error: "DispatchError".into(),
                explanation: other.to_string(),
            },
            SubxtError::Rpc(RpcError::ClientError(RpcClientError::User(user))) => {
                match validity::rejection(
                    user.code,
                    &user.message,
                    user.data.as_deref().map(|d| d.get()),
                ) {
                    Some(rejection) => rejected(call, rejection),
                    None => self.unavailable(format_args!(
                        "{call}: the node answered error {}: {}",
                        user.code, user.message
                    )),
                }
            }
            SubxtError::Transaction(TransactionError::Invalid(reason)) => rejected(
                call,
                validity::from_status(&reason).unwrap_or(validity::Rejection {
                    name: "Invalid".into(),
                    code: reason,
                    explanation: "the node dropped the transaction as invalid; a stale nonce, a \
                                  runtime upgrade in progress or a too-low balance for the fee \
                                  are the usual causes; run the command again"
                        .into(),
                }),
            ),
            SubxtError::Transaction(TransactionError::Dropped(reason)) => rejected(
                call,
                validity::Rejection {
                    name: "Dropped".into(),
                    code: reason,
                    explanation: "the node's transaction pool dropped it before inclusion; run \
                                  the command again"
                        .into(),
                },
            ),
            SubxtError::Extrinsic(e) => ChainError::Invalid(format!(
                "cannot build {call} for spec {}: {e}",
                self.client.runtime_version().spec_version
            )),
            other => self.unavailable(format_args!("{call}: {other}")),
        }
    }
}

fn rejected(call: &'static str, rejection: validity::Rejection) -> ChainError {
    ChainError::Rejected {
        call,
        error: rejection.name,
        code: rejection.code,
        explanation: rejection.explanation,
    }
}

/// The websocket's retry policy: none on the first connection, whose failure is reported with
/// its cause at once; `backoff` on every reconnection after it, without end. The client clones
/// the policy for each (re)connection, so the flag is shared, and set once connected.
#[derive(Clone)]
struct ReconnectAfterFirst {
    connected: Arc<AtomicBool>,
    backoff: ExponentialBackoff,
}

impl Iterator for ReconnectAfterFirst {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        if self.connected.load(Ordering::Acquire) {
            self.backoff.next()
        } else {
            None
        }
    }
}

/// Refuses a runtime sn27 cannot talk to: a call it makes is missing or changed shape, or a
/// transaction extension needs data subxt's standard set does not provide.
fn check_runtime(endpoint: &str, client: &OnlineClient<SubtensorConfig>) -> Result<(), ChainError> {
    let offline = client.offline();
    let probe = SubtensorCall::set_weights(0, &[0], &[1], 0);
    let payload = subxt::dynamic::tx(SUBTENSOR_PALLET, probe.name, probe.args);
    let params = DefaultExtrinsicParamsBuilder::<SubtensorConfig>::new()
        .nonce(0)
        .immortal()
        .build();
    match offline.tx().create_v4_partial_offline(&payload, params) {
        Ok(_) => Ok(()),
        Err(e) => Err(ChainError::Invalid(format!(
            "subtensor node {endpoint} runs spec {} whose transactions sn27 cannot sign: {e} \
             (a transaction extension with data sn27 does not know needs a newer sn27)",
            client.runtime_version().spec_version
        ))),
    }
}

/// Swaps in new metadata and runtime version whenever the node upgrades its runtime; restarts
/// the subscription with a pause when it ends (e.g. across a reconnect).
async fn follow_runtime_upgrades(endpoint: String, client: OnlineClient<SubtensorConfig>) {
    let mut pause = Duration::from_secs(1);
    loop {
        let updater = client.updater();
        match updater.runtime_updates().await {
            Ok(mut updates) => {
                pause = Duration::from_secs(1);
                while let Some(update) = updates.next().await {
                    match update {
                        Ok(update) => {
                            let spec = update.runtime_version().spec_version;
                            if updater.apply_update(update).is_ok() {
                                tracing::info!(%endpoint, spec, "runtime upgraded; using its metadata");
                            }
                        }
                        Err(e) => {
                            tracing::warn!(%endpoint, error = %e, "runtime update stream failed");
                            break;
                        }
                    }
                }
            }
            Err(e) => tracing::warn!(%endpoint, error = %e, "cannot follow runtime upgrades"),
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_secs(60));
    }
}

/// `System.Account` as far as sn27 reads it.
#[derive(DecodeAsType)]
#[decode_as_type(crate_path = "subxt::ext::scale_decode")]
struct AccountInfo {
    data: AccountData,
}

#[derive(DecodeAsType)]
#[decode_as_type(crate_path = "subxt::ext::scale_decode")]
struct AccountData {
    free: u128,
}

#[async_trait]
impl Chain for Subtensor {
    async fn status(&self) -> Result<ChainStatus, ChainError> {
        let (block, _) = self.latest_block().await?;
        Ok(ChainStatus {
            endpoint: self.endpoint.clone(),
            spec_version: Some(self.client.runtime_version().spec_version),
            block,
            block_time_ms: self.block_time_ms(),
        })
    }

    async fn timelock_plan(&self, netuid: u16) -> Result<Option<TimelockPlan>, ChainError> {
        let metadata = self.client.metadata();
        let has = |entry: &str| {
            metadata
                .pallet_by_name(SUBTENSOR_PALLET)
                .and_then(|p| p.storage())
                .and_then(|s| s.entry_by_name(entry))
                .is_some()
        };
        let has_call = metadata
            .pallet_by_name(SUBTENSOR_PALLET)
            .and_then(|p| p.call_variant_by_name("commit_timelocked_weights"))
            .is_some();
        if !has_call {
            return Ok(None);
        }
        let (block, hash) = self.latest_block().await?;
        let at = Some(hash);
        let net = || vec![Value::u128(netuid.into())];
        let version: u16 = self
            .subnet_value(at, "CommitRevealWeightsVersion", vec![])
            .await?;
        let period: u64 = self.subnet_value(at, "RevealPeriodEpochs", net()).await?;
        let tempo: u16 = self.subnet_value(at, "Tempo", net()).await?;
        let reveal_block = if has("LastEpochBlock") && has("SubnetEpochIndex") {
            let schedule = EpochSchedule {
                last_epoch_block: self.subnet_value(at, "LastEpochBlock", net()).await?,
                pending_epoch_at: if has("PendingEpochAt") {
                    self.subnet_value(at, "PendingEpochAt", net()).await?
                } else {
                    0
                },
                epoch_index: self.subnet_value(at, "SubnetEpochIndex", net()).await?,
                tempo,
                blocks_since_last_step: self.subnet_value(at, "BlocksSinceLastStep", net()).await?,
                block,
            };
            reveal_block(schedule, period)
        } else {
            reveal_block_fixed_epochs(block, netuid, tempo, period)
        };
        let reveal_block = reveal_block.ok_or_else(|| {
            ChainError::Invalid(format!(
                "netuid {netuid} has tempo 0: no epoch runs, so a timelocked commit never reveals"
            ))
        })?;
        Ok(Some(TimelockPlan {
            block,
            reveal_block,
            block_time_secs: self.block_time_ms() as f64 / 1000.0,
            commit_reveal_version: version,
        }))
    }

    async fn commit_timelocked_weights(
        &self,
        hotkey: &Keypair,
        netuid: u16,
        commit: &[u8],
        reveal_round: u64,
        commit_reveal_version: u16,
    ) -> Result<(), ChainError> {
        self.submit(
            SubtensorCall::commit_timelocked_weights(
                netuid,
                commit,
                reveal_round,
                commit_reveal_version,
            ),
            hotkey,
        )
        .await
        .map(drop)
    }

    async fn hyperparameters(&self, netuid: u16) -> Result<Hyperparameters, ChainError> {
        let fields: Option<HyperparamsFields> = self
            .runtime_api(
                "SubnetInfoRuntimeApi",
                "get_subnet_hyperparams_v2",
                &netuid.encode(),
            )
            .await?;
        let fields = fields.ok_or(ChainError::NoSubnet(netuid))?;
        let key = || vec![Value::u128(netuid.into())];
        let burn: u64 = self.subnet_value(None, "Burn", key()).await?;
        let max_uids: u16 = self.subnet_value(None, "MaxAllowedUids", key()).await?;
        let threshold: u64 = self.subnet_value(None, "StakeThreshold", vec![]).await?;
        Ok(fields.into_hyperparameters(burn, max_uids, threshold))
    }

    async fn metagraph(&self, netuid: u16) -> Result<Metagraph, ChainError> {
        let (block, _) = self.latest_block().await?;
        let neurons: Vec<NeuronInfoLiteFields> = self
            .runtime_api("NeuronInfoRuntimeApi", "get_neurons_lite", &netuid.encode())
            .await?;
        if neurons.is_empty() {
            self.ensure_subnet(netuid).await?;
        }
        let mut neurons: Vec<NeuronInfo> = neurons.into_iter().map(NeuronInfo::from).collect();
        neurons.sort_by_key(|n| n.uid);
        // NeuronInfoLite carries no registration block; the pallet keeps it per uid.
        for (uid, block) in self.per_uid::<u64>("BlockAtRegistration", netuid).await? {
            if let Some(neuron) = neurons.iter_mut().find(|n| n.uid == uid) {
                neuron.registered_at = block;
            }
        }
        // Alpha, TAO and total stake (alpha + weighted TAO) as the SDK reports them; without
        // them the alpha stake of NeuronInfoLite stands for the total, which undercounts
        // TAO-staked validators.
        let stake: Result<Option<MetagraphStakeFields>, _> = self
            .runtime_api("SubnetInfoRuntimeApi", "get_metagraph", &netuid.encode())
            .await;
        match stake {
            Ok(Some(stake)) => stake.apply(&mut neurons),
            Ok(None) => {}
            Err(e) => tracing::warn!(netuid, error = %e,
                "TAO and total stake unavailable; counting alpha stake from get_neurons_lite"),
        }
        Ok(Metagraph {
            netuid,
            block,
            neurons,
        })
    }

    async fn balance(&self, account: &PublicKey) -> Result<u64, ChainError> {
        let account: Option<AccountInfo> = self
            .read(
                None,
                "System",
                "Account",
                vec![Value::from_bytes(account.0)],
                false,
            )
            .await?;
        let free = account.map(|a| a.data.free).unwrap_or(0);
        Ok(u64::try_from(free).unwrap_or(u64::MAX))
    }

    async fn burned_register(
        &self,
        coldkey: &Keypair,
        netuid: u16,
        hotkey: &PublicKey,
    ) -> Result<u16, ChainError> {
        self.submit(SubtensorCall::burned_register(netuid, hotkey), coldkey)
            .await?;
        self.uid_of(netuid, hotkey).await?.ok_or_else(|| {
            self.unavailable(format_args!(
                "burned_register was included but {hotkey} has no uid on netuid {netuid}"
            ))
        })
    }

    async fn serve_axon(
        &self,
        hotkey: &Keypair,
        netuid: u16,
        axon: AxonInfo,
    ) -> Result<ServeOutcome, ChainError> {
        // The chain itself refuses only loopback and a few more (`InvalidIpAddress`), but an
        // axon at any non-public address is unreachable for validators: refuse before sending.
        let ip = match axon.ip {
            0 => Some(IpAddr::V4(Ipv4Addr::UNSPECIFIED)),
            _ => axon.ip_addr(),
        };
        if let Some(ip) = ip {
            if let Some(reason) = unreachable_reason(ip) {
                return Err(ChainError::Invalid(format!(
                    "axon address {ip} is {reason}, which validators on the internet cannot \
                     reach; set [axon] external_ip to the public address of this machine \
                     (nothing was sent)"
                )));
            }
        }
        let block = self
            .submit(SubtensorCall::serve_axon(netuid, &axon), hotkey)
            .await?;
        Ok(ServeOutcome::Served { block })
    }

    /// Unlike an axon, nobody connects to the address (SN27 reads only the version), so a
    /// private address is not refused here; what the chain refuses (address 0 or loopback,
    /// port 0, the rate limit) comes back named.
    async fn serve_prometheus(
        &self,
        hotkey: &Keypair,
        netuid: u16,
        info: PrometheusInfo,
    ) -> Result<ServeOutcome, ChainError> {
        let block = self
            .submit(SubtensorCall::serve_prometheus(netuid, &info), hotkey)
            .await?;
        Ok(ServeOutcome::Served { block })
    }

    async fn set_weights(
        &self,
        hotkey: &Keypair,
        netuid: u16,
        dests: &[u16],
        weights: &[u16],
        version_key: u64,
    ) -> Result<(), ChainError> {
        self.check_weights_rate(hotkey, netuid).await?;
        self.submit(
            SubtensorCall::set_weights(netuid, dests, weights, version_key),
            hotkey,
        )
        .await
        .map(drop)
    }

    async fn commit_weights(
        &self,
        hotkey: &Keypair,
        netuid: u16,
        commit_hash: [u8; 32],
    ) -> Result<(), ChainError> {
        self.submit(SubtensorCall::commit_weights(netuid, commit_hash), hotkey)
            .await
            .map(drop)
    }

    async fn reveal_weights(
        &self,
        hotkey: &Keypair,
        netuid: u16,
        uids: &[u16],
        values: &[u16],
        salt: &[u16],
        version_key: u64,
    ) -> Result<(), ChainError> {
        self.submit(
            SubtensorCall::reveal_weights(netuid, uids, values, salt, version_key),
            hotkey,
        )
        .await
        .map(drop)
    }

    async fn weights(&self, netuid: u16) -> Result<WeightRows, ChainError> {
        let mut rows: WeightRows = self
            .per_uid::<Vec<(u16, u16)>>("Weights", netuid)
            .await?
            .into_iter()
            .filter(|(_, row)| !row.is_empty())
            .collect();
        if rows.is_empty() {
            self.ensure_subnet(netuid).await?;
        }
        rows.sort_by_key(|(uid, _)| *uid);
        Ok(rows)
    }

    async fn subnet_owner_hotkey(&self, netuid: u16) -> Result<Option<PublicKey>, ChainError> {
        self.ensure_subnet(netuid).await?;
        // A value query: an unset owner reads as the all-zero account.
        let owner: [u8; 32] = self
            .subnet_value(None, "SubnetOwnerHotkey", vec![Value::u128(netuid.into())])
            .await?;
        Ok((owner != [0; 32]).then_some(PublicKey(owner)))
    }
}

impl Subtensor {
    /// [`ChainError::NoSubnet`] unless `netuid` exists. An empty neuron list or weights map is
    /// also what a subnet that does not exist reads as; its hyperparameters tell the two apart.
    async fn ensure_subnet(&self, netuid: u16) -> Result<(), ChainError> {
        let fields: Option<HyperparamsFields> = self
            .runtime_api(
                "SubnetInfoRuntimeApi",
                "get_subnet_hyperparams_v2",
                &netuid.encode(),
            )
            .await?;
        fields.map(drop).ok_or(ChainError::NoSubnet(netuid))
    }

    /// Refuses before sending (and paying nothing for a doomed extrinsic) when the hotkey set
    /// weights less than the subnet's rate limit ago, as the SDK checks.
    async fn check_weights_rate(&self, hotkey: &Keypair, netuid: u16) -> Result<(), ChainError> {
        let hotkey_public = hotkey.public();
        let Some(uid) = self.uid_of(netuid, &hotkey_public).await? else {
            return Err(ChainError::Dispatch {
                call: "set_weights",
                error: "HotKeyNotRegisteredInSubNet".into(),
                explanation: format!(
                    "{hotkey_public} is not registered on netuid {netuid}; run `sn27 register` first"
                ),
            });
        };
        let hyper = self.hyperparameters(netuid).await?;
        if hyper.commit_reveal_enabled || hyper.weights_rate_limit == 0 {
            return Ok(());
        }
        let neuron: Option<NeuronInfoLiteFields> = self
            .runtime_api(
                "NeuronInfoRuntimeApi",
                "get_neuron_lite",
                &(netuid, uid).encode(),
            )
            .await?;
        let (now, _) = self.latest_block().await?;
        let last = neuron.map(|n| n.last_update).unwrap_or(0);
        let next = last.saturating_add(hyper.weights_rate_limit);
        if last > 0 && now < next {
            return Err(ChainError::Dispatch {
                call: "set_weights",
                error: "SettingWeightsTooFast".into(),
                explanation: format!(
                    "weights set too fast: wait {} blocks (last set at block {last}, rate limit \
                     {} blocks)",
                    next - now,
                    hyper.weights_rate_limit
                ),
            });
        }
        Ok(())
    }
}
