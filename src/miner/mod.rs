//! The miner's allocation engine: what answers `Allocate` (`sn27-protocol.md` §3.3).
//!
//! - [`request`]: the caller's intent, from the protocol's typed request.
//! - [`journal`]: crash-safe per-allocation state on disk.
//! - [`Allocations`]: the state machine — one allocation at a time (a rental or a Proof-of-GPU
//!   test), containers through [`crate::docker`], credentials sealed to the caller's key,
//!   owner-only lifecycle actions, lease expiry; `reconcile` brings journal and Docker into
//!   agreement at start-up.
//! - [`policy`]: who may call the miner; [`limiter`]: how often.
//! - [`serve`]: `sn27 run` for the miner role.
//!
//! The engine answers with a typed [`Answer`] or an [`AllocationError`]; turning either into
//! the `output` map of the wire happens at the edge ([`serve`]).
//!
//! Invariants: a new allocation never displaces a live one (a paused rental is live); every
//! state change is journaled before it is acted on; nothing from a request reaches a shell.

pub mod journal;
pub mod limiter;
pub mod policy;
mod reconcile;
pub mod request;
pub mod serve;
pub mod wandb_run;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rand::distributions::Alphanumeric;
use rand::Rng;
use tokio::sync::Mutex;

use crate::backoff::Backoff;
use crate::config::ContainerConfig;
use crate::docker::{
    ContainerEngine, ContainerSpec, DockerError, HostResources, LABEL_ALLOCATION, LABEL_KIND,
    LABEL_MINER,
};
use crate::protocol::credentials::{normalize_pem, CredentialError, Credentials};
use crate::protocol::{Allocate, DockerAction, PayloadError};
use crate::report::Report;
use crate::service::Shutdown;
use journal::{Entry, Journal, JournalError, Kind, Stage};
use request::{AllocationRequest, Intent};

pub use reconcile::Reconciliation;

/// What a new allocation hands its caller.
struct Issued {
    /// The sealed credentials.
    info: String,
    /// `SHA256:…` of the container's SSH host key.
    host_key: String,
}

/// How long a new or revived container's sshd may take to answer.
const SSH_READY: Duration = Duration::from_secs(15);
/// Length of generated root passwords (the reference uses 10).
const PASSWORD_LENGTH: usize = 24;
/// How often leases are checked.
const EXPIRY_TICK: Duration = Duration::from_secs(1);

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

/// Why an `Allocate` could not be done. Every variant answers the caller with `status:
/// false`; the message is for the miner's log and never carries secrets.
#[derive(Debug, thiserror::Error)]
pub enum AllocationError {
    #[error("the caller exceeds its rate limit")]
    RateLimited,
    #[error("invalid request: {0}")]
    Invalid(#[from] PayloadError),
    #[error("an allocation is live ({kind} {id})")]
    Busy { kind: &'static str, id: String },
    #[error("the caller's key owns no allocation")]
    NotOwner,
    #[error("{0}")]
    Resources(String),
    #[error("the allocation has no container")]
    NoContainer,
    #[error("sealing the credentials: {0}")]
    Seal(#[from] CredentialError),
    #[error(transparent)]
    Docker(#[from] DockerError),
    #[error(transparent)]
    Journal(#[from] JournalError),
}

/// What the engine did for a caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// Branch A: whether a new allocation would be accepted now.
    Available(bool),
    /// Branch B: whether the caller's key owns a running (or paused) allocation.
    Owned(bool),
    /// Branch C: the lifecycle action was carried out.
    ActionDone,
    /// Branch D: allocated; `info` is the sealed credentials, `host_key` the fingerprint of
    /// the container's SSH host key (also sealed in `info` when it fits).
    Allocated { info: String, host_key: String },
    /// Branch E: released.
    Released,
}

/// What the engine works with, besides Docker and the journal.
#[derive(Debug, Clone)]
pub struct EngineSettings {
    /// The runtime image containers run (see [`ContainerEngine::ensure_runtime_image`]).
    pub image: String,
    pub policy: ContainerConfig,
    /// Host port published for each container's sshd.
    pub ssh_port: u16,
    /// `(container port, host port)` of the renter's own services, announced in the
    /// credentials as `external_user_ports`.
    pub user_ports: Vec<(u16, u16)>,
    /// The `version` field of issued credentials (the SN27 release's version int).
    pub version: u32,
    /// This miner's hotkey (ss58), labelled on its containers.
    pub miner: String,
    /// Abort the process right after journaling this stage (`kill -9` semantics), for the
    /// crash-safety tests (`sn27 run --crash-at`).
    pub crash_at: Option<Stage>,
}

/// The allocations of this miner.
pub struct Allocations {
    docker: ContainerEngine,
    journal: Journal,
    settings: EngineSettings,
    host: HostResources,
    limiter: limiter::HotkeyLimiter,
    entries: Mutex<Vec<Entry>>,
}

impl Allocations {
    /// An engine over `journal`; call [`Allocations::reconcile`] before serving.
    pub async fn new(
        docker: ContainerEngine,
        journal: Journal,
        settings: EngineSettings,
    ) -> Result<Arc<Self>, AllocationError> {
        let host = docker.host().await?;
        if !host.disk_quota_supported() {
            tracing::warn!(driver = %host.storage_driver,
                "disk limits are not enforced: the storage driver has no per-container quota");
        }
        if !host.gpu_runtime {
            tracing::warn!("no NVIDIA container runtime: containers get no GPUs");
        }
        Ok(Arc::new(Allocations {
            docker,
            journal,
            settings,
            host,
            limiter: limiter::HotkeyLimiter::default(),
            entries: Mutex::new(Vec::new()),
        }))
    }

    /// The SSH host port every answer carries.
    pub fn ssh_port(&self) -> u16 {
        self.settings.ssh_port
    }

    fn crash_point(&self, stage: Stage) {
        if self.settings.crash_at == Some(stage) {
            eprintln!("--crash-at {}: aborting here as asked", stage.label());
            std::process::abort();
        }
    }

    async fn save(&self, entry: &Entry) -> Result<(), JournalError> {
        let journal = self.journal.clone();
        let entry = entry.clone();
        tokio::task::spawn_blocking(move || journal.save(&entry))
            .await
            .expect("journal writes do not panic")
    }

    async fn forget(&self, id: &str) -> Result<(), JournalError> {
        let journal = self.journal.clone();
        let id = id.to_string();
        tokio::task::spawn_blocking(move || journal.remove(&id))
            .await
            .expect("journal writes do not panic")
    }

    /// Answers one `Allocate` from `caller` (ss58).
    pub async fn answer(&self, fields: &Allocate, caller: &str) -> Result<Answer, AllocationError> {
        if !self.limiter.allow(caller) {
            return Err(AllocationError::RateLimited);
        }
        self.act(request::parse(fields)?, caller).await
    }

    async fn act(&self, intent: Intent, caller: &str) -> Result<Answer, AllocationError> {
        match intent {
            Intent::CheckAvailable => {
                // An allocation in flight holds the lock: not available either.
                let free = match self.entries.try_lock() {
                    Ok(entries) => entries.is_empty(),
                    Err(_) => false,
                };
                Ok(Answer::Available(free))
            }
            Intent::CheckOwnership { key } => {
                let entries = self.entries.lock().await;
                let owned = match entries.iter().find(|e| owns(e, &key)) {
                    Some(entry) => matches!(
                        self.container_state(entry).await.as_deref(),
                        Some("running" | "paused")
                    ),
                    None => false,
                };
                Ok(Answer::Owned(owned))
            }
            Intent::Action { key, action } => {
                let mut entries = self.entries.lock().await;
                let entry = entries
                    .iter_mut()
                    .find(|e| owns(e, &key))
                    .ok_or(AllocationError::NotOwner)?;
                self.lifecycle(entry, &action).await?;
                tracing::info!(%caller, action = action.name(), id = %entry.id, "lifecycle action done");
                Ok(Answer::ActionDone)
            }
            Intent::Allocate(request) => {
                let mut entries = self.entries.lock().await;
                if let Some(live) = entries.first() {
                    return Err(AllocationError::Busy {
                        kind: live.kind.label(),
                        id: live.id.clone(),
                    });
                }
                let (entry, Issued { info, host_key }) = self.allocate(*request, caller).await?;
                tracing::info!(%caller, id = %entry.id, kind = entry.kind.label(),
                    container = %entry.container_name, lease_end = entry.lease_end, "allocated");
                entries.push(entry);
                Ok(Answer::Allocated { info, host_key })
            }
            Intent::Release { key } => {
                let mut entries = self.entries.lock().await;
                let index = entries
                    .iter()
                    .position(|e| owns(e, &key))
                    .ok_or(AllocationError::NotOwner)?;
                self.release(entries[index].clone()).await?;
                let entry = entries.remove(index);
                tracing::info!(%caller, id = %entry.id, "released");
                Ok(Answer::Released)
            }
        }
    }

    /// Live allocations by kind (`rental`, `test`), for the metrics; `None` while an
    /// allocation is being made (the gauges then keep their last values).
    pub fn live_by_kind(&self) -> Option<Vec<(&'static str, usize)>> {
        let entries = self.entries.try_lock().ok()?;
        Some(
            [Kind::Rental, Kind::Test]
                .into_iter()
                .map(|kind| {
                    (
                        kind.label(),
                        entries.iter().filter(|e| e.kind == kind).count(),
                    )
                })
                .collect(),
        )
    }

    /// The hotkey that rents this miner (`Some(None)`: not rented), as the W&B run's
    /// `allocated` key says it; `None` while an allocation is being made.
    pub fn rental_owner(&self) -> Option<Option<String>> {
        let entries = self.entries.try_lock().ok()?;
        Some(
            entries
                .iter()
                .find(|e| e.kind == Kind::Rental)
                .map(|e| e.caller_hotkey.clone()),
        )
    }

    /// The live allocations as `sn27 status` shows them (no secrets), or `busy` while an
    /// allocation is being made.
    pub fn live_summary(&self) -> serde_json::Value {
        match self.entries.try_lock() {
            Ok(entries) => serde_json::Value::Array(
                entries
                    .iter()
                    .map(|e| {
                        serde_json::json!({
                            "id": e.id,
                            "kind": e.kind.label(),
                            "caller": e.caller_hotkey,
                            "container": e.container_name,
                            "lease_end": e.lease_end,
                            "paused": e.paused,
                        })
                    })
                    .collect(),
            ),
            Err(_) => serde_json::Value::String("busy: an allocation is being made".into()),
        }
    }

    async fn container_state(&self, entry: &Entry) -> Option<String> {
        let id = entry.container_id.as_deref()?;
        self.docker.state(id).await.ok().flatten()
    }

    /// The CPUs (a cpuset) and memory a new allocation gets, or why the host cannot give it.
    fn plan(&self, request: &AllocationRequest) -> Result<(String, i64), AllocationError> {
        let policy = &self.settings.policy;
        let total = self.host.cpus;
        let reserve = policy.reserve_cpus.min(total.saturating_sub(1));
        let offered = total - reserve;
        let gib = (1u64 << 30) as f64;
        let reserve_bytes = (policy.reserve_memory_gb * gib) as u64;
        let offered_memory = self.host.memory_bytes.saturating_sub(reserve_bytes);
        let device = &request.device;
        if request.testing() {
            // The whole bound: Proof-of-GPU needs host memory for every GPU's matrices.
            return Ok((
                format!("{reserve}-{}", total - 1),
                offered_memory.max(256 << 20) as i64,
            ));
        }
        let cpus = u32::try_from(device.cpu_count).unwrap_or(u32::MAX);
        if cpus > offered {
            return Err(AllocationError::Resources(format!(
                "{cpus} CPUs requested, this miner offers {offered}"
            )));
        }
        if device.ram_bytes > offered_memory {
            return Err(AllocationError::Resources(format!(
                "{} bytes of memory requested, this miner offers {offered_memory}",
                device.ram_bytes
            )));
        }
        if device.gpu_count() > 0 && !self.host.gpu_runtime {
            return Err(AllocationError::Resources(format!(
                "{} GPUs requested, this host has none usable",
                device.gpu_count()
            )));
        }
        if device.disk_bytes > 0 && !self.host.disk_quota_supported() {
            tracing::info!(bytes = device.disk_bytes, driver = %self.host.storage_driver,
                "disk request accepted but not enforced on this storage driver");
        }
        let first = total - cpus;
        let cpuset = if cpus == 1 {
            first.to_string()
        } else {
            format!("{first}-{}", total - 1)
        };
        Ok((cpuset, device.ram_bytes.max(256 << 20) as i64))
    }

    async fn allocate(
        &self,
        request: AllocationRequest,
        caller: &str,
    ) -> Result<(Entry, Issued), AllocationError> {
        let (cpuset, memory_bytes) = self.plan(&request)?;
        let kind = if request.testing() {
            Kind::Test
        } else {
            Kind::Rental
        };
        let id = uuid::Uuid::new_v4().simple().to_string()[..12].to_string();
        let created_at = now();
        let lease = match kind {
            Kind::Test => self.settings.policy.test_lifetime_secs,
            Kind::Rental => (request.lease_days.max(1) as u64).saturating_mul(86_400),
        };
        let password: String = rand::thread_rng()
            .sample_iter(&Alphanumeric)
            .take(PASSWORD_LENGTH)
            .map(char::from)
            .collect();
        let mut entry = Entry {
            container_name: format!("sn27-{}-{id}", kind.label()),
            id,
            kind,
            stage: Stage::Requested,
            caller_pem: request.caller_pem.clone(),
            caller_hotkey: caller.to_string(),
            created_at,
            lease_end: created_at.saturating_add(lease),
            container_id: None,
            ssh_port: self.settings.ssh_port,
            cpuset,
            memory_bytes,
            password,
            authorized_keys: request
                .ssh_key
                .as_ref()
                .map(|k| format!("{}\n", k.as_str()))
                .unwrap_or_default(),
            paused: false,
        };
        self.save(&entry).await?;
        self.crash_point(Stage::Requested);
        match self.bring_up(&mut entry, &request).await {
            Ok(issued) => Ok((entry, issued)),
            Err(error) => {
                if let Some(id) = &entry.container_id {
                    if let Err(e) = self.docker.remove(id).await {
                        tracing::error!(error = %Report(&e), "cleaning up after a failed allocation");
                    }
                }
                if let Err(e) = self.forget(&entry.id).await {
                    tracing::error!(error = %Report(&e), "cleaning up after a failed allocation");
                }
                Err(error)
            }
        }
    }

    /// Creates the container and issues the credentials.
    async fn bring_up(
        &self,
        entry: &mut Entry,
        request: &AllocationRequest,
    ) -> Result<Issued, AllocationError> {
        let id = self
            .docker
            .create_and_start(&self.settings.image, &self.spec(entry))
            .await?;
        entry.container_id = Some(id.clone());
        entry.stage = Stage::ContainerCreated;
        self.save(entry).await?;
        self.crash_point(Stage::ContainerCreated);

        self.docker
            .set_credentials(&id, &entry.password, &entry.authorized_keys)
            .await?;
        let fingerprint = self.docker.host_key_fingerprint(&id).await?;
        // The validator logs in right after the answer: sshd must already be listening.
        crate::docker::wait_for_ssh(entry.ssh_port, SSH_READY).await?;
        let credentials = Credentials {
            username: "root".into(),
            password: entry.password.clone(),
            port: entry.ssh_port,
            external_user_ports: self.settings.user_ports.iter().copied().collect(),
            version: self.settings.version,
            host_key_fingerprint: Some(fingerprint.clone()),
        };
        let info = request.caller_key.seal(&credentials)?;
        entry.stage = Stage::CredentialsIssued;
        self.save(entry).await?;
        self.crash_point(Stage::CredentialsIssued);
        // The lease runs from the moment the caller can use the container.
        let lease = entry.lease_end.saturating_sub(entry.created_at);
        entry.lease_end = now().saturating_add(lease);
        entry.stage = Stage::Active;
        self.save(entry).await?;
        self.crash_point(Stage::Active);
        Ok(Issued {
            info,
            host_key: fingerprint,
        })
    }

    fn spec(&self, entry: &Entry) -> ContainerSpec {
        ContainerSpec {
            name: entry.container_name.clone(),
            labels: [
                (LABEL_ALLOCATION.to_string(), entry.id.clone()),
                (LABEL_KIND.to_string(), entry.kind.label().to_string()),
                (LABEL_MINER.to_string(), self.settings.miner.clone()),
            ]
            .into(),
            ssh_port: entry.ssh_port,
            user_ports: self.settings.user_ports.clone(),
            cpuset: entry.cpuset.clone(),
            memory_bytes: entry.memory_bytes,
            shm_bytes: entry.memory_bytes / 2,
            pids_limit: self.settings.policy.pids_limit,
            gpus: self.host.gpu_runtime,
        }
    }

    /// Releases one allocation: journal first, then the container, then the entry.
    async fn release(&self, mut entry: Entry) -> Result<(), AllocationError> {
        entry.stage = Stage::Releasing;
        self.save(&entry).await?;
        self.crash_point(Stage::Releasing);
        if let Some(id) = &entry.container_id {
            self.docker.remove(id).await?;
        }
        // A container created before its id reached the journal is found by name.
        self.docker.remove(&entry.container_name).await?;
        Ok(self.forget(&entry.id).await?)
    }

    async fn lifecycle(
        &self,
        entry: &mut Entry,
        action: &DockerAction,
    ) -> Result<(), AllocationError> {
        let id = entry
            .container_id
            .clone()
            .ok_or(AllocationError::NoContainer)?;
        match action {
            DockerAction::Restart => {
                self.docker.restart(&id).await?;
                entry.paused = false;
                crate::docker::wait_for_ssh(entry.ssh_port, SSH_READY).await?;
            }
            DockerAction::Pause => {
                self.docker.pause(&id).await?;
                entry.paused = true;
            }
            DockerAction::Unpause => {
                self.docker.unpause(&id).await?;
                entry.paused = false;
            }
            DockerAction::ExchangeKey { slot, key } => {
                let mut lines: Vec<String> =
                    entry.authorized_keys.lines().map(str::to_string).collect();
                if lines.len() <= slot.line() {
                    lines.resize(slot.line() + 1, String::new());
                }
                lines[slot.line()] = key.as_str().to_string();
                let keys = format!("{}\n", lines.join("\n"));
                self.docker.write_authorized_keys(&id, &keys).await?;
                entry.authorized_keys = keys;
            }
        }
        Ok(self.save(entry).await?)
    }

    /// Releases every allocation whose lease has ended and whose retry time has come;
    /// `retries` holds the backoff of releases that failed before. Returns how many were
    /// released.
    async fn expire(
        &self,
        retries: &mut HashMap<String, (Backoff, tokio::time::Instant)>,
    ) -> usize {
        let mut entries = self.entries.lock().await;
        let now = now();
        let mut released = 0;
        let mut index = 0;
        while index < entries.len() {
            let entry = entries[index].clone();
            let waiting = retries
                .get(&entry.id)
                .is_some_and(|(_, at)| *at > tokio::time::Instant::now());
            if entry.lease_end > now || waiting {
                index += 1;
                continue;
            }
            match self.release(entry.clone()).await {
                Ok(()) => {
                    let failures = retries.remove(&entry.id).map_or(0, |(b, _)| b.failures());
                    tracing::info!(id = %entry.id, kind = entry.kind.label(), failures,
                        "lease ended; released");
                    entries.remove(index);
                    released += 1;
                }
                Err(e) => {
                    let (backoff, at) = retries.entry(entry.id.clone()).or_insert_with(|| {
                        (
                            Backoff::new(Duration::from_secs(1), Duration::from_secs(300)),
                            tokio::time::Instant::now(),
                        )
                    });
                    let retry = backoff.failed();
                    *at = tokio::time::Instant::now() + retry.delay;
                    if retry.report {
                        tracing::warn!(id = %entry.id, error = %Report(&e), failures = retry.failures,
                            next_try = ?retry.delay, "lease ended but the release failed; retrying with backoff");
                    } else {
                        tracing::debug!(id = %entry.id, error = %Report(&e), failures = retry.failures,
                            "release retry failed");
                    }
                    index += 1;
                }
            }
        }
        retries.retain(|id, _| entries.iter().any(|e| &e.id == id));
        released
    }

    /// Releases expired allocations until shutdown (a supervised task); each pass beats
    /// `heartbeat`, which the systemd watchdog watches.
    pub async fn run_expiry(
        self: Arc<Self>,
        shutdown: Shutdown,
        heartbeat: crate::service::Heartbeat,
    ) -> crate::service::TaskResult {
        let mut retries = HashMap::new();
        loop {
            heartbeat.beat();
            tokio::select! {
                _ = shutdown.requested() => return Ok(()),
                _ = tokio::time::sleep(EXPIRY_TICK) => { self.expire(&mut retries).await; }
            }
        }
    }
}

fn owns(entry: &Entry, key: &str) -> bool {
    !key.trim().is_empty()
        && matches!(entry.stage, Stage::Active | Stage::CredentialsIssued)
        && normalize_pem(&entry.caller_pem) == normalize_pem(key)
}
