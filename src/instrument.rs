//! What the services count and how they report refusals, wired between the adapters and
//! [`crate::service::metrics`]: an axon observer, a chain that counts its calls, and the
//! reporting of refused callers (every one counted, logged at most once a minute per caller
//! and reason with how many there were).

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use crate::axon::RequestObserver;
use crate::chain::{
    AxonInfo, Chain, ChainError, ChainStatus, Hyperparameters, Metagraph, PrometheusInfo,
    ServeOutcome, TimelockPlan, WeightRows,
};
use crate::keys::{Keypair, PublicKey};
use crate::service::metrics::{Metrics, RefusalLog};

/// How often a refusal of the same caller for the same reason is logged.
const REFUSAL_LOG_INTERVAL: Duration = Duration::from_secs(60);

/// The counters and the refusal log of one service.
pub struct Instruments {
    pub metrics: Arc<Metrics>,
    refusals: RefusalLog,
}

impl Instruments {
    pub fn new(metrics: Arc<Metrics>) -> Arc<Instruments> {
        Arc::new(Instruments {
            metrics,
            refusals: RefusalLog::new(REFUSAL_LOG_INTERVAL),
        })
    }

    /// Counts a refusal of `caller` for `reason` (a short, stable kind) and logs it unless the
    /// same refusal (caller, reason and detail) was logged less than a minute ago: a caller
    /// repeating itself is one line a minute, a new problem is always told.
    pub fn refused(&self, caller: &str, reason: &str, detail: &str) {
        self.metrics.refusal(reason);
        if let Some(count) = self
            .refusals
            .record(&format!("{caller}\u{0}{reason}\u{0}{detail}"))
        {
            if count == 1 {
                tracing::info!(%caller, %reason, %detail, "refused");
            } else {
                tracing::info!(%caller, %reason, %detail, count,
                    "refused (count since the last line about this refusal)");
            }
        }
    }
}

impl RequestObserver for Instruments {
    fn answered(&self, synapse: &str, status: u16, caller: Option<&str>, message: Option<&str>) {
        self.metrics.request(synapse, status);
        if status != 200 {
            let reason = match status {
                401 => "signature or nonce",
                403 => "caller policy",
                404 => "unknown synapse",
                408 | 413 => "request body",
                503 => "busy",
                _ => "bad request",
            };
            self.refused(caller.unwrap_or("-"), reason, message.unwrap_or(""));
        }
    }
}

/// A chain whose every call is counted by name and outcome.
pub struct MeteredChain {
    inner: Arc<dyn Chain>,
    metrics: Arc<Metrics>,
}

impl MeteredChain {
    pub fn wrap(inner: Arc<dyn Chain>, metrics: Arc<Metrics>) -> Arc<dyn Chain> {
        Arc::new(MeteredChain { inner, metrics })
    }

    fn count<T>(&self, call: &str, result: Result<T, ChainError>) -> Result<T, ChainError> {
        self.metrics.chain_call(call, result.is_ok());
        result
    }
}

#[async_trait]
impl Chain for MeteredChain {
    async fn status(&self) -> Result<ChainStatus, ChainError> {
        self.count("status", self.inner.status().await)
    }

    async fn hyperparameters(&self, netuid: u16) -> Result<Hyperparameters, ChainError> {
        self.count("hyperparameters", self.inner.hyperparameters(netuid).await)
    }

    async fn metagraph(&self, netuid: u16) -> Result<Metagraph, ChainError> {
        self.count("metagraph", self.inner.metagraph(netuid).await)
    }

    async fn balance(&self, account: &PublicKey) -> Result<u64, ChainError> {
        self.count("balance", self.inner.balance(account).await)
    }

    async fn burned_register(
        &self,
        coldkey: &Keypair,
        netuid: u16,
        hotkey: &PublicKey,
    ) -> Result<u16, ChainError> {
        let result = self.inner.burned_register(coldkey, netuid, hotkey).await;
        self.count("burned_register", result)
    }

    async fn serve_axon(
        &self,
        hotkey: &Keypair,
        netuid: u16,
        axon: AxonInfo,
    ) -> Result<ServeOutcome, ChainError> {
        self.count(
            "serve_axon",
            self.inner.serve_axon(hotkey, netuid, axon).await,
        )
    }

    async fn serve_prometheus(
        &self,
        hotkey: &Keypair,
        netuid: u16,
        info: PrometheusInfo,
    ) -> Result<ServeOutcome, ChainError> {
        let result = self.inner.serve_prometheus(hotkey, netuid, info).await;
        self.count("serve_prometheus", result)
    }

    async fn set_weights(
        &self,
        hotkey: &Keypair,
        netuid: u16,
        dests: &[u16],
        weights: &[u16],
        version_key: u64,
    ) -> Result<(), ChainError> {
        let result = self
            .inner
            .set_weights(hotkey, netuid, dests, weights, version_key)
            .await;
        self.count("set_weights", result)
    }

    async fn commit_weights(
        &self,
        hotkey: &Keypair,
        netuid: u16,
        commit_hash: [u8; 32],
    ) -> Result<(), ChainError> {
        let result = self.inner.commit_weights(hotkey, netuid, commit_hash).await;
        self.count("commit_weights", result)
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
        let result = self
            .inner
            .reveal_weights(hotkey, netuid, uids, values, salt, version_key)
            .await;
        self.count("reveal_weights", result)
    }

    async fn timelock_plan(&self, netuid: u16) -> Result<Option<TimelockPlan>, ChainError> {
        self.count("timelock_plan", self.inner.timelock_plan(netuid).await)
    }

    async fn commit_timelocked_weights(
        &self,
        hotkey: &Keypair,
        netuid: u16,
        commit: &[u8],
        reveal_round: u64,
        commit_reveal_version: u16,
    ) -> Result<(), ChainError> {
        let result = self
            .inner
            .commit_timelocked_weights(hotkey, netuid, commit, reveal_round, commit_reveal_version)
            .await;
        self.count("commit_timelocked_weights", result)
    }

    async fn weights(&self, netuid: u16) -> Result<WeightRows, ChainError> {
        self.count("weights", self.inner.weights(netuid).await)
    }

    async fn subnet_owner_hotkey(&self, netuid: u16) -> Result<Option<PublicKey>, ChainError> {
        self.count(
            "subnet_owner_hotkey",
            self.inner.subnet_owner_hotkey(netuid).await,
        )
    }
}

/// Reads the GPUs again for a scrape (blocking: NVML loads the driver library and asks each GPU;
/// a machine without it has none).
pub fn refresh_gpus(metrics: &Metrics) {
    if let Ok(inventory) = crate::gpu::inventory::Inventory::read() {
        for gpu in &inventory.gpus {
            metrics.set_gpu(
                gpu.index,
                &gpu.name,
                gpu.uuid.as_deref().unwrap_or(""),
                gpu.memory_total_bytes,
                gpu.temperature_c,
                gpu.utilization_percent,
            );
        }
    }
}
