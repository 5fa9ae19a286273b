//! The subtensor chain as sn27 uses it, behind one [`Chain`] interface.
//!
//! - [`devnet`]: the embedded single-machine chain (`network = "devnet"`), for demos and
//!   end-to-end tests.
//! - [`subtensor`]: the client for real nodes (subxt, dynamic metadata), reconnecting and
//!   following runtime upgrades.
//! - [`commit`] and [`timelock`]: the two forms a weights commit takes on chain.

pub mod commit;
pub mod connection;
pub mod decode;
pub mod devnet;
pub mod errors;
pub mod extrinsic;
pub mod metadata;
mod network;
pub mod subtensor;
pub mod timelock;
pub mod types;
pub mod validity;

use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;

use crate::keys::{Keypair, PublicKey};

pub use connection::ConnectFailure;
pub use network::Network;
pub use types::{
    AxonInfo, ChainStatus, Hyperparameters, Metagraph, NeuronInfo, PrometheusInfo, ServeOutcome,
    TimelockPlan, WeightRows,
};

/// A chain operation that failed, in the operator's words.
#[derive(Debug, thiserror::Error)]
pub enum ChainError {
    /// The chain refused the call (the pallet error name, and what it means here).
    #[error("{call} refused by the chain ({error}): {explanation}")]
    Dispatch {
        call: &'static str,
        error: Cow<'static, str>,
        explanation: String,
    },
    /// The node refused the transaction before it reached a block (transaction validity):
    /// nothing was included, no fee paid, no nonce used.
    #[error(
        "{call} refused by the node before inclusion ({error}: {code}): {explanation}; nothing \
         reached the chain"
    )]
    Rejected {
        call: &'static str,
        error: Cow<'static, str>,
        /// How the node said it, e.g. `invalid transaction, custom error 11`.
        code: String,
        explanation: String,
    },
    #[error("subnet {0} does not exist")]
    NoSubnet(u16),
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Unavailable(String),
    /// No connection to the node; worth retrying (the node may come up).
    #[error("subtensor node {endpoint}: {cause}")]
    Unreachable {
        endpoint: String,
        cause: ConnectFailure,
    },
    #[error("devnet database {}: {reason}", path.display())]
    Storage { path: PathBuf, reason: String },
}

impl ChainError {
    /// The pallet error name, when the chain refused a call.
    pub fn dispatch_error(&self) -> Option<&str> {
        match self {
            ChainError::Dispatch { error, .. } => Some(error),
            _ => None,
        }
    }

    /// The reason's name, when the node refused a transaction before inclusion. Kept apart
    /// from [`ChainError::dispatch_error`]: nothing happened on chain, and one code can stand
    /// for several pallet errors (custom 17 is a reveal both too early and too late).
    pub fn rejection(&self) -> Option<&str> {
        match self {
            ChainError::Rejected { error, .. } => Some(error),
            _ => None,
        }
    }
}

/// The reads and writes the miner, the validator and the CLI need.
#[async_trait]
pub trait Chain: Send + Sync {
    async fn status(&self) -> Result<ChainStatus, ChainError>;
    async fn hyperparameters(&self, netuid: u16) -> Result<Hyperparameters, ChainError>;
    async fn metagraph(&self, netuid: u16) -> Result<Metagraph, ChainError>;
    /// Free balance, RAO.
    async fn balance(&self, account: &PublicKey) -> Result<u64, ChainError>;
    /// Registers `hotkey` on `netuid`, paying the burn from `coldkey`; returns the uid.
    async fn burned_register(
        &self,
        coldkey: &Keypair,
        netuid: u16,
        hotkey: &PublicKey,
    ) -> Result<u16, ChainError>;
    /// Publishes an axon unconditionally; see [`publish_axon`] for the skip-if-unchanged path.
    async fn serve_axon(
        &self,
        hotkey: &Keypair,
        netuid: u16,
        axon: AxonInfo,
    ) -> Result<ServeOutcome, ChainError>;
    /// Publishes the hotkey's prometheus info unconditionally (SN27 validators publish their
    /// version there, which miners check); see [`publish_prometheus`] for the
    /// skip-if-unchanged path. Same checks and serving rate limit as `serve_axon`.
    async fn serve_prometheus(
        &self,
        hotkey: &Keypair,
        netuid: u16,
        info: PrometheusInfo,
    ) -> Result<ServeOutcome, ChainError>;
    async fn set_weights(
        &self,
        hotkey: &Keypair,
        netuid: u16,
        dests: &[u16],
        weights: &[u16],
        version_key: u64,
    ) -> Result<(), ChainError>;
    /// Commits a hash of weights (`commit::commit_hash`) on a commit-reveal subnet.
    async fn commit_weights(
        &self,
        hotkey: &Keypair,
        netuid: u16,
        commit_hash: [u8; 32],
    ) -> Result<(), ChainError>;
    /// Reveals committed weights in their reveal epoch.
    async fn reveal_weights(
        &self,
        hotkey: &Keypair,
        netuid: u16,
        uids: &[u16],
        values: &[u16],
        salt: &[u16],
        version_key: u64,
    ) -> Result<(), ChainError>;
    /// How a commit made now would be timelocked on `netuid`, or `None` when this chain uses
    /// hash commits (`commit_weights`/`reveal_weights`) instead.
    async fn timelock_plan(&self, netuid: u16) -> Result<Option<TimelockPlan>, ChainError>;
    /// Commits timelock-encrypted weights (`timelock::weights_commit`); the chain reveals them
    /// itself once drand publishes `reveal_round`.
    async fn commit_timelocked_weights(
        &self,
        hotkey: &Keypair,
        netuid: u16,
        commit: &[u8],
        reveal_round: u64,
        commit_reveal_version: u16,
    ) -> Result<(), ChainError>;
    /// Weights currently set on `netuid`, per setter uid: `(uid, [(dest, weight)])`.
    async fn weights(&self, netuid: u16) -> Result<WeightRows, ChainError>;
    /// The subnet owner's hotkey (`SubnetOwnerHotkey`), `None` when the chain names none.
    async fn subnet_owner_hotkey(&self, netuid: u16) -> Result<Option<PublicKey>, ChainError>;
}

/// Publishes `axon` for `hotkey` unless the chain already holds the same values, as the SDK
/// does, so that restarts do not run into the serving rate limit.
pub async fn publish_axon(
    chain: &dyn Chain,
    hotkey: &Keypair,
    netuid: u16,
    axon: AxonInfo,
) -> Result<ServeOutcome, ChainError> {
    let current = registered_neuron(chain, "serve_axon", hotkey, netuid).await?;
    if current.axon.same_service(&axon) {
        return Ok(ServeOutcome::Unchanged);
    }
    chain.serve_axon(hotkey, netuid, axon).await
}

/// The local address the kernel would send internet traffic from, for an axon or prometheus
/// address nobody configured (no packet is sent: a UDP socket is only connected, which picks
/// the route).
pub fn outgoing_ip() -> std::io::Result<std::net::IpAddr> {
    let socket = std::net::UdpSocket::bind(("0.0.0.0", 0))?;
    socket.connect(("1.1.1.1", 53))?;
    let ip = socket.local_addr()?.ip();
    if ip.is_unspecified() || ip.is_loopback() {
        return Err(std::io::Error::other(format!(
            "the route to the internet leaves from {ip}"
        )));
    }
    Ok(ip)
}

/// Publishes `info` as `hotkey`'s prometheus unless the chain already holds the same
/// (version, ip, port, ip type), like [`publish_axon`], so that restarts do not run into the
/// serving rate limit.
pub async fn publish_prometheus(
    chain: &dyn Chain,
    hotkey: &Keypair,
    netuid: u16,
    info: PrometheusInfo,
) -> Result<ServeOutcome, ChainError> {
    let current = registered_neuron(chain, "serve_prometheus", hotkey, netuid).await?;
    if current.prometheus.same_service(&info) {
        return Ok(ServeOutcome::Unchanged);
    }
    chain.serve_prometheus(hotkey, netuid, info).await
}

/// `hotkey`'s neuron on `netuid`, or the refusal `call` would meet on chain.
async fn registered_neuron(
    chain: &dyn Chain,
    call: &'static str,
    hotkey: &Keypair,
    netuid: u16,
) -> Result<NeuronInfo, ChainError> {
    let metagraph = chain.metagraph(netuid).await?;
    metagraph
        .neurons
        .into_iter()
        .find(|n| n.hotkey == hotkey.public())
        .ok_or_else(|| ChainError::Dispatch {
            call,
            error: "HotKeyNotRegisteredInNetwork".into(),
            explanation: format!(
                "hotkey {} is not registered on netuid {netuid}; run `sn27 register` first",
                hotkey.public()
            ),
        })
}

/// The chain `network` names: the embedded devnet (its database at `devnet_path`), or a
/// connection to a subtensor node. For one-shot commands: a node that cannot be reached is an
/// error at once, naming the cause (refused, DNS, TLS, timeout).
pub async fn connect(network: &Network, devnet_path: &Path) -> Result<Arc<dyn Chain>, ChainError> {
    match network.endpoint() {
        None => Ok(Arc::new(devnet::Devnet::open(devnet_path)?)),
        Some(endpoint) => Ok(Arc::new(subtensor::Subtensor::connect(endpoint).await?)),
    }
}

/// [`connect`] for a service: a node that cannot be reached (yet) is tried again with backoff
/// (1 s doubling to a minute) until it answers, the cause logged when it first appears and
/// whenever it changes rather than at every attempt. Errors that waiting does not cure (a
/// runtime sn27 cannot sign for, a missing devnet) end the wait.
pub async fn connect_retrying(
    network: &Network,
    devnet_path: &Path,
) -> Result<Arc<dyn Chain>, ChainError> {
    let Some(endpoint) = network.endpoint() else {
        return connect(network, devnet_path).await;
    };
    let mut backoff = crate::backoff::Backoff::new(
        std::time::Duration::from_secs(1),
        std::time::Duration::from_secs(60),
    );
    let mut last_cause: Option<String> = None;
    loop {
        let error = match subtensor::Subtensor::connect(endpoint).await {
            Ok(chain) => {
                let failures = backoff.succeeded();
                if failures > 0 {
                    tracing::info!(%endpoint, failures, "connected to the subtensor node");
                }
                return Ok(Arc::new(chain));
            }
            Err(error @ (ChainError::Unreachable { .. } | ChainError::Unavailable(_))) => error,
            Err(other) => return Err(other),
        };
        let retry = backoff.failed();
        let cause = match &error {
            ChainError::Unreachable { cause, .. } => cause.to_string(),
            other => other.to_string(),
        };
        if last_cause.as_deref() != Some(cause.as_str()) {
            tracing::warn!(%endpoint, %cause, retry_in_s = retry.delay.as_secs(),
                "cannot reach the subtensor node; retrying with backoff until it answers");
            last_cause = Some(cause);
        }
        tokio::time::sleep(retry.delay).await;
    }
}
