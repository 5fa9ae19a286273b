//! The miner's allocation engine: what answers `Allocate` (`sn27-protocol.md` §3.3).
//!
//! - [`request`]: the five branches and validation of every request field.
//! - [`journal`]: crash-safe per-allocation state on disk.
//! - [`Allocations`]: the state machine — one allocation at a time (a rental or a Proof-of-GPU
//!   test), containers through [`crate::docker`], credentials sealed to the caller's key,
//!   owner-only lifecycle actions, lease expiry, and start-up reconciliation with Docker.
//! - [`serve`]: `sn27 run` for the miner role.
//!
//! Invariants: a new allocation never displaces a live one (a paused rental is live); every
//! state change is journaled before it is acted on; nothing from a request reaches a shell.

pub mod journal;
pub mod limiter;
pub mod request;
pub mod serve;

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rand::distributions::Alphanumeric;
use rand::Rng;
use serde_json::{json, Map, Value};
use tokio::sync::Mutex;

use crate::config::ContainerConfig;
use crate::credentials::{normalize_pem, Credentials};
use crate::docker::{
    short, ContainerEngine, ContainerSpec, HostResources, LABEL_ALLOCATION, LABEL_KIND, LABEL_MINER,
};
use crate::protocol::Allocate;
use journal::{Entry, Journal, Kind, Stage};
use request::{Action, AllocationRequest, Intent};

/// The `version` field of issued credentials (SN27 v1.8.3's version int).
pub const CREDENTIALS_VERSION: u32 = 183;
/// How long a new or revived container's sshd may take to answer.
const SSH_READY: Duration = Duration::from_secs(15);
/// Length of generated root passwords (the reference uses 10).
const PASSWORD_LENGTH: usize = 24;

/// Environment variable naming a step at which the process aborts (`kill -9` semantics), for
/// crash-safety tests: `requested`, `container-created`, `credentials-issued`, `active`,
/// `releasing`.
pub const CRASH_AT_ENV: &str = "SN27_CRASH_AT";

fn crash_point(step: &str) {
    static CRASH_AT: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    let at = CRASH_AT.get_or_init(|| std::env::var(CRASH_AT_ENV).ok());
    if at.as_deref() == Some(step) {
        eprintln!("{CRASH_AT_ENV}={step}: aborting here as asked");
        std::process::abort();
    }
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

/// Why an engine could not start.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Docker(#[from] crate::docker::DockerError),
    #[error(transparent)]
    Journal(#[from] journal::JournalError),
}

/// What reconciliation found and did at start-up.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Reconciliation {
    pub kept: usize,
    pub restarted: usize,
    pub recreated: usize,
    pub rolled_back: usize,
    pub expired: usize,
    pub orphans_removed: usize,
}

/// The allocations of this miner.
pub struct Allocations {
    docker: ContainerEngine,
    journal: Journal,
    image: String,
    policy: ContainerConfig,
    host: HostResources,
    ssh_port: u16,
    /// This miner's hotkey (ss58), labelled on its containers.
    miner: String,
    limiter: limiter::HotkeyLimiter,
    entries: Mutex<Vec<Entry>>,
}

impl Allocations {
    /// An engine over `journal` for the miner with hotkey `miner` (ss58), running containers
    /// of `image` (see [`ContainerEngine::ensure_runtime_image`]).
    pub async fn new(
        docker: ContainerEngine,
        journal: Journal,
        image: String,
        policy: ContainerConfig,
        ssh_port: u16,
        miner: String,
    ) -> Result<Arc<Self>, EngineError> {
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
            image,
            policy,
            host,
            ssh_port,
            miner,
            limiter: limiter::HotkeyLimiter::default(),
            entries: Mutex::new(Vec::new()),
        }))
    }

    async fn save(&self, entry: &Entry) -> Result<(), journal::JournalError> {
        let journal = self.journal.clone();
        let entry = entry.clone();
        tokio::task::spawn_blocking(move || journal.save(&entry))
            .await
            .expect("journal writes do not panic")
    }

    async fn forget(&self, id: &str) -> Result<(), journal::JournalError> {
        let journal = self.journal.clone();
        let id = id.to_string();
        tokio::task::spawn_blocking(move || journal.remove(&id))
            .await
            .expect("journal writes do not panic")
    }

    /// Answers one `Allocate` from `caller` (ss58): the `output` map, `port` always present.
    pub async fn answer(&self, synapse: &Allocate, caller: &str) -> Map<String, Value> {
        if !self.limiter.allow(caller) {
            tracing::warn!(%caller, "Allocate refused: the caller exceeds its rate limit");
            let mut output = refused();
            output.insert("port".into(), json!(self.ssh_port));
            return output;
        }
        let mut output = match request::parse(synapse) {
            Err(reason) => {
                tracing::warn!(%caller, %reason, "Allocate refused");
                refused()
            }
            Ok(intent) => self.act(intent, caller).await,
        };
        output.insert("port".into(), json!(self.ssh_port));
        output
    }

    async fn act(&self, intent: Intent, caller: &str) -> Map<String, Value> {
        match intent {
            Intent::CheckAvailable => {
                // An allocation in flight holds the lock: not available either.
                let free = match self.entries.try_lock() {
                    Ok(entries) => entries.is_empty(),
                    Err(_) => false,
                };
                status(free)
            }
            Intent::CheckOwnership { key } => {
                let entries = self.entries.lock().await;
                let owned = match owned_by(&entries, &key) {
                    Some(entry) => matches!(
                        self.container_state(entry).await.as_deref(),
                        Some("running" | "paused")
                    ),
                    None => false,
                };
                status(owned)
            }
            Intent::Action { key, action } => {
                let mut entries = self.entries.lock().await;
                let Some(index) = entries.iter().position(|e| owns(e, &key)) else {
                    tracing::warn!(%caller, ?action, "lifecycle action refused: the caller's key owns no allocation");
                    return refused();
                };
                match self.lifecycle(&mut entries[index], action.clone()).await {
                    Ok(()) => {
                        tracing::info!(%caller, ?action, id = %entries[index].id, "lifecycle action done");
                        status(true)
                    }
                    Err(e) => {
                        tracing::warn!(%caller, ?action, error = %e, "lifecycle action failed");
                        refused()
                    }
                }
            }
            Intent::Allocate(request) => {
                let mut entries = self.entries.lock().await;
                if let Some(live) = entries.first() {
                    tracing::info!(%caller, busy = %live.id, kind = live.kind.label(),
                        "allocation refused: an allocation is live");
                    return refused();
                }
                match self.allocate(*request, caller).await {
                    Ok((entry, info)) => {
                        tracing::info!(%caller, id = %entry.id, kind = entry.kind.label(),
                            container = %entry.container_name, lease_end = entry.lease_end, "allocated");
                        entries.push(entry);
                        let mut out = status(true);
                        out.insert("info".into(), json!(info));
                        out
                    }
                    Err(reason) => {
                        tracing::warn!(%caller, %reason, "allocation failed");
                        refused()
                    }
                }
            }
            Intent::Release { key } => {
                let mut entries = self.entries.lock().await;
                let Some(index) = entries.iter().position(|e| owns(e, &key)) else {
                    tracing::warn!(%caller, "release refused: the caller's key owns no allocation");
                    return refused();
                };
                let entry = entries[index].clone();
                match self.release(entry).await {
                    Ok(()) => {
                        entries.remove(index);
                        tracing::info!(%caller, "released");
                        status(true)
                    }
                    Err(e) => {
                        tracing::warn!(%caller, error = %e, "release failed");
                        refused()
                    }
                }
            }
        }
    }

    async fn container_state(&self, entry: &Entry) -> Option<String> {
        let id = entry.container_id.as_deref()?;
        self.docker.state(id).await.ok().flatten()
    }

    /// What a new allocation gets, or why the host cannot give it.
    fn plan(&self, request: &AllocationRequest) -> Result<(String, i64), String> {
        let total = self.host.cpus;
        let reserve = self.policy.reserve_cpus.min(total.saturating_sub(1));
        let offered = total - reserve;
        let gib = (1u64 << 30) as f64;
        let reserve_bytes = (self.policy.reserve_memory_gb * gib) as u64;
        let offered_memory = self.host.memory_bytes.saturating_sub(reserve_bytes);
        if request.testing {
            // The whole bound: Proof-of-GPU needs host memory for every GPU's matrices.
            return Ok((
                format!("{reserve}-{}", total - 1),
                offered_memory.max(256 << 20) as i64,
            ));
        }
        if request.cpus > offered {
            return Err(format!(
                "{} CPUs requested, this miner offers {offered}",
                request.cpus
            ));
        }
        if request.memory_bytes > offered_memory {
            return Err(format!(
                "{} bytes of memory requested, this miner offers {offered_memory}",
                request.memory_bytes
            ));
        }
        if request.gpus > 0 && !self.host.gpu_runtime {
            return Err(format!(
                "{} GPUs requested, this host has none usable",
                request.gpus
            ));
        }
        if request.disk_bytes > 0 && !self.host.disk_quota_supported() {
            tracing::info!(bytes = request.disk_bytes, driver = %self.host.storage_driver,
                "disk request accepted but not enforced on this storage driver");
        }
        let first = total - request.cpus;
        let cpuset = if request.cpus == 1 {
            first.to_string()
        } else {
            format!("{first}-{}", total - 1)
        };
        Ok((cpuset, request.memory_bytes.max(256 << 20) as i64))
    }

    async fn allocate(
        &self,
        request: AllocationRequest,
        caller: &str,
    ) -> Result<(Entry, String), String> {
        let (cpuset, memory_bytes) = self.plan(&request)?;
        let kind = if request.testing {
            Kind::Test
        } else {
            Kind::Rental
        };
        let id = uuid::Uuid::new_v4().simple().to_string()[..12].to_string();
        let created_at = now();
        let lease = match kind {
            Kind::Test => self.policy.test_lifetime_secs,
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
            ssh_port: self.ssh_port,
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
        self.save(&entry).await.map_err(|e| e.to_string())?;
        crash_point("requested");
        match self.bring_up(&mut entry, &request).await {
            Ok(info) => Ok((entry, info)),
            Err(reason) => {
                if let Some(id) = &entry.container_id {
                    if let Err(e) = self.docker.remove(id).await {
                        tracing::error!(error = %e, "cleaning up after a failed allocation");
                    }
                }
                if let Err(e) = self.forget(&entry.id).await {
                    tracing::error!(error = %e, "cleaning up after a failed allocation");
                }
                Err(reason)
            }
        }
    }

    /// Creates the container and issues the credentials; returns the sealed `info`.
    async fn bring_up(
        &self,
        entry: &mut Entry,
        request: &AllocationRequest,
    ) -> Result<String, String> {
        let id = self
            .docker
            .create_and_start(&self.image, &self.spec(entry))
            .await
            .map_err(|e| e.to_string())?;
        entry.container_id = Some(id.clone());
        entry.stage = Stage::ContainerCreated;
        self.save(entry).await.map_err(|e| e.to_string())?;
        crash_point("container-created");

        self.docker
            .set_credentials(&id, &entry.password, &entry.authorized_keys)
            .await
            .map_err(|e| e.to_string())?;
        let fingerprint = self
            .docker
            .host_key_fingerprint(&id)
            .await
            .map_err(|e| e.to_string())?;
        // The validator logs in right after the answer: sshd must already be listening.
        crate::docker::wait_for_ssh(entry.ssh_port, SSH_READY)
            .await
            .map_err(|e| e.to_string())?;
        let credentials = Credentials {
            username: "root".into(),
            password: entry.password.clone(),
            port: entry.ssh_port,
            version: CREDENTIALS_VERSION,
            host_key_fingerprint: Some(fingerprint),
        };
        let info = request
            .caller_key
            .seal(&credentials)
            .map_err(|e| e.to_string())?;
        entry.stage = Stage::CredentialsIssued;
        self.save(entry).await.map_err(|e| e.to_string())?;
        crash_point("credentials-issued");
        // The lease runs from the moment the caller can use the container.
        let lease = entry.lease_end.saturating_sub(entry.created_at);
        entry.lease_end = now().saturating_add(lease);
        entry.stage = Stage::Active;
        self.save(entry).await.map_err(|e| e.to_string())?;
        crash_point("active");
        Ok(info)
    }

    fn spec(&self, entry: &Entry) -> ContainerSpec {
        ContainerSpec {
            name: entry.container_name.clone(),
            labels: [
                (LABEL_ALLOCATION.to_string(), entry.id.clone()),
                (LABEL_KIND.to_string(), entry.kind.label().to_string()),
                (LABEL_MINER.to_string(), self.miner.clone()),
            ]
            .into(),
            ssh_port: entry.ssh_port,
            cpuset: entry.cpuset.clone(),
            memory_bytes: entry.memory_bytes,
            shm_bytes: entry.memory_bytes / 2,
            pids_limit: self.policy.pids_limit,
            gpus: self.host.gpu_runtime,
        }
    }

    /// Releases one allocation: journal first, then the container, then the entry.
    async fn release(&self, mut entry: Entry) -> Result<(), String> {
        entry.stage = Stage::Releasing;
        self.save(&entry).await.map_err(|e| e.to_string())?;
        crash_point("releasing");
        if let Some(id) = &entry.container_id {
            self.docker.remove(id).await.map_err(|e| e.to_string())?;
        }
        // A container created before its id reached the journal is found by name.
        self.docker
            .remove(&entry.container_name)
            .await
            .map_err(|e| e.to_string())?;
        self.forget(&entry.id).await.map_err(|e| e.to_string())
    }

    async fn lifecycle(&self, entry: &mut Entry, action: Action) -> Result<(), String> {
        let id = entry
            .container_id
            .clone()
            .ok_or("the allocation has no container")?;
        match action {
            Action::Restart => {
                self.docker.restart(&id).await.map_err(|e| e.to_string())?;
                entry.paused = false;
                crate::docker::wait_for_ssh(entry.ssh_port, SSH_READY)
                    .await
                    .map_err(|e| e.to_string())?;
            }
            Action::Pause => {
                self.docker.pause(&id).await.map_err(|e| e.to_string())?;
                entry.paused = true;
            }
            Action::Unpause => {
                self.docker.unpause(&id).await.map_err(|e| e.to_string())?;
                entry.paused = false;
            }
            Action::ExchangeKey { line, key } => {
                let mut lines: Vec<String> =
                    entry.authorized_keys.lines().map(str::to_string).collect();
                if lines.len() <= line {
                    lines.resize(line + 1, String::new());
                }
                lines[line] = key.as_str().to_string();
                let keys = format!("{}\n", lines.join("\n"));
                self.docker
                    .write_authorized_keys(&id, &keys)
                    .await
                    .map_err(|e| e.to_string())?;
                entry.authorized_keys = keys;
            }
        }
        self.save(entry).await.map_err(|e| e.to_string())
    }

    /// Releases every allocation whose lease has ended; returns how many.
    pub async fn expire(&self) -> usize {
        let mut entries = self.entries.lock().await;
        let now = now();
        let mut released = 0;
        let mut index = 0;
        while index < entries.len() {
            if entries[index].lease_end > now {
                index += 1;
                continue;
            }
            let entry = entries[index].clone();
            match self.release(entry.clone()).await {
                Ok(()) => {
                    tracing::info!(id = %entry.id, kind = entry.kind.label(), "lease ended; released");
                    entries.remove(index);
                    released += 1;
                }
                Err(e) => {
                    tracing::warn!(id = %entry.id, error = %e, "lease ended but release failed; retrying");
                    index += 1;
                }
            }
        }
        released
    }

    /// Releases expired allocations every second until `shutdown` resolves.
    pub async fn run_expiry(self: Arc<Self>, shutdown: impl std::future::Future<Output = ()>) {
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                _ = &mut shutdown => return,
                _ = tokio::time::sleep(Duration::from_secs(1)) => { self.expire().await; }
            }
        }
    }

    /// Brings journal and Docker into agreement (start-up): allocations interrupted before
    /// their credentials existed are rolled back; live ones get their container running again
    /// (recreated with the same credentials if it vanished); expired ones and interrupted
    /// releases are released; containers no entry owns are removed.
    pub async fn reconcile(&self) -> Result<Reconciliation, EngineError> {
        let mut entries = self.entries.lock().await;
        let journal = self.journal.clone();
        let loaded = tokio::task::spawn_blocking(move || journal.load())
            .await
            .expect("journal reads do not panic")?;
        let containers = self.docker.labeled(&self.miner).await?;
        let mut report = Reconciliation::default();
        let now = now();
        let mut live = Vec::new();
        for mut entry in loaded {
            let container = containers.iter().find(|c| c.allocation == entry.id);
            let rollback = matches!(entry.stage, Stage::Requested | Stage::ContainerCreated);
            if rollback || entry.stage == Stage::Releasing || entry.lease_end <= now {
                if let Some(c) = container {
                    self.docker.remove(&c.id).await?;
                }
                self.docker.remove(&entry.container_name).await?;
                self.forget(&entry.id).await?;
                if rollback {
                    tracing::info!(id = %entry.id, stage = ?entry.stage, "rolled back an allocation interrupted before its credentials were issued");
                    report.rolled_back += 1;
                } else {
                    tracing::info!(id = %entry.id, "released an expired or half-released allocation");
                    report.expired += 1;
                }
                continue;
            }
            // CredentialsIssued or Active: the caller may hold the credentials, keep it. A
            // container that cannot be brought back is logged, and the entry kept so that its
            // owner can still release it; it does not stop the miner from serving.
            match self.revive(&mut entry, container).await {
                Ok(Revived::Kept) => report.kept += 1,
                Ok(Revived::Restarted) => report.restarted += 1,
                Ok(Revived::Recreated) => report.recreated += 1,
                Err(e) => tracing::error!(id = %entry.id, error = %e,
                    "could not bring a rental's container back; its owner can still release it"),
            }
            entry.stage = Stage::Active;
            self.save(&entry).await?;
            live.push(entry);
        }
        for container in containers {
            if !live.iter().any(|e| e.id == container.allocation) {
                self.docker.remove(&container.id).await?;
                tracing::info!(container = %container.name, "removed a container no allocation owns");
                report.orphans_removed += 1;
            }
        }
        *entries = live;
        Ok(report)
    }
}

/// What [`Allocations::revive`] did.
enum Revived {
    Kept,
    Restarted,
    Recreated,
}

impl Allocations {
    /// Gets a live allocation's container running again after a restart of the miner.
    async fn revive(
        &self,
        entry: &mut Entry,
        container: Option<&crate::docker::LabeledContainer>,
    ) -> Result<Revived, crate::docker::DockerError> {
        match container {
            Some(c) if c.state == "running" || c.state == "paused" => Ok(Revived::Kept),
            Some(c) => {
                self.docker.start(&c.id).await?;
                if entry.paused {
                    self.docker.pause(&c.id).await?;
                }
                if !entry.paused {
                    crate::docker::wait_for_ssh(entry.ssh_port, SSH_READY).await?;
                }
                tracing::info!(id = %entry.id, container = short(&c.id), "restarted a rental's container");
                Ok(Revived::Restarted)
            }
            None => {
                let id = self
                    .docker
                    .create_and_start(&self.image, &self.spec(entry))
                    .await?;
                entry.container_id = Some(id.clone());
                self.docker
                    .set_credentials(&id, &entry.password, &entry.authorized_keys)
                    .await?;
                let fingerprint = self.docker.host_key_fingerprint(&id).await?;
                crate::docker::wait_for_ssh(entry.ssh_port, SSH_READY).await?;
                tracing::warn!(id = %entry.id, host_key = %fingerprint, "a rental's container was gone; recreated it with the same credentials (files inside and the host key are new)");
                Ok(Revived::Recreated)
            }
        }
    }
}

fn status(ok: bool) -> Map<String, Value> {
    let mut map = Map::new();
    map.insert("status".into(), json!(ok));
    map
}

fn refused() -> Map<String, Value> {
    status(false)
}

fn owns(entry: &Entry, key: &str) -> bool {
    !key.trim().is_empty()
        && matches!(entry.stage, Stage::Active | Stage::CredentialsIssued)
        && normalize_pem(&entry.caller_pem) == normalize_pem(key)
}

fn owned_by<'a>(entries: &'a [Entry], key: &str) -> Option<&'a Entry> {
    entries.iter().find(|e| owns(e, key))
}
