//! The miner's W&B specs run (`sn27-protocol.md` §11, `sn27-v2.md` §5.2): SN27 v2.2.1
//! validators score only miners that keep a signed, running run `miner-<hotkey>` in the shared
//! project whose config says `role = "miner"`, the netuid under `config.netuid`, and non-empty
//! `specs`. Its config carries what a Python miner's does — `hotkey`, `role`, `config`,
//! `version`, `specs` (the host and its GPUs, in the reference's layout), `allocated` (the
//! renting validator's hotkey, or null) and `signature` — and is rewritten whenever one of
//! them changes; heartbeats keep the run `running`.
//!
//! The run id is kept in `<state_dir>/miner/wandb-run.json`, so a restart continues the same
//! run (whose signature then still verifies); without that file the first run W&B lists under
//! this miner's name and netuid is taken (the oldest, the reference's `runs[0]`), else a new id
//! is made.
//!
//! Like a Python miner's, the run is not finished when the miner stops: W&B marks it crashed
//! once the heartbeats stop, and the next start's heartbeats make it running again.
//!
//! W&B is optional: a failure here is logged (the first, then once the retries reach their
//! longest pause) and retried with backoff; it never stops the miner.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::backoff::Backoff;
use crate::config::WandbConfig;
use crate::gpu::inventory::{Gpu, Inventory};
use crate::gpu::GpuUnavailable;
use crate::keys::Keypair;
use crate::protocol::run_signature::sign_run;
use crate::service::{Shutdown, TaskResult};
use crate::wandb::{new_run_id, RunPath, WandbClient, WandbError};

/// How often the host's specs are read again.
const SPECS_REFRESH: Duration = Duration::from_secs(600);

/// The run id kept across restarts, with what it was made for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct KeptRun {
    run_id: String,
    hotkey: String,
    entity: String,
    project: String,
}

/// This miner's run and what it says.
pub struct SpecsRun {
    client: WandbClient,
    run: RunPath,
    hotkey: String,
    /// The hotkey's signature of the run id, made once: sr25519 signatures are randomised, and
    /// a new one each time would make every config look changed.
    signature: String,
    netuid: u16,
    version: u32,
    host: String,
}

fn kept_path(state_dir: &Path) -> PathBuf {
    state_dir.join("miner").join("wandb-run.json")
}

/// The run's display name, which validators' listings show.
pub fn display_name(hotkey: &str) -> String {
    format!("miner-{hotkey}")
}

impl SpecsRun {
    /// Finds this miner's run: the id kept in `state_dir`, else the oldest run of this
    /// miner's name and netuid on W&B, else a new id (kept before it is used).
    pub async fn open(
        config: &WandbConfig,
        state_dir: &Path,
        hotkey: Keypair,
        netuid: u16,
        version: u32,
    ) -> Result<SpecsRun, String> {
        let key = config.api_key()?;
        let client = WandbClient::new(&config.base_url, &key).map_err(|e| e.to_string())?;
        let me = hotkey.ss58();
        let path = kept_path(state_dir);
        let kept = match std::fs::read(&path) {
            Ok(bytes) => match serde_json::from_slice::<KeptRun>(&bytes) {
                Ok(kept)
                    if kept.hotkey == me
                        && kept.entity == config.entity
                        && kept.project == config.project =>
                {
                    Some(kept.run_id)
                }
                Ok(_) => None,
                Err(e) => {
                    tracing::warn!(path = %path.display(), error = %e,
                        "the kept W&B run id is unreadable; looking the run up on W&B");
                    None
                }
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(format!("reading {}: {e}", path.display())),
        };
        let run_id = match kept {
            Some(id) => id,
            None => {
                let filters = json!({"$and": [
                    {"config.config.netuid": netuid},
                    {"display_name": display_name(&me)},
                ]});
                let found = client
                    .runs(&config.entity, &config.project, &filters)
                    .await
                    .map_err(|e| e.to_string())?;
                let id = match found.first() {
                    Some(run) => run.name.clone(),
                    None => new_run_id(),
                };
                let kept = KeptRun {
                    run_id: id.clone(),
                    hotkey: me.clone(),
                    entity: config.entity.clone(),
                    project: config.project.clone(),
                };
                let bytes = serde_json::to_vec_pretty(&kept).map_err(|e| e.to_string())?;
                crate::fsutil::write_private(&path, &bytes)
                    .map_err(|e| format!("writing {}: {e}", path.display()))?;
                id
            }
        };
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_string())
            .unwrap_or_default();
        Ok(SpecsRun {
            client,
            signature: sign_run(&hotkey, &run_id),
            run: RunPath {
                entity: config.entity.clone(),
                project: config.project.clone(),
                name: run_id,
            },
            hotkey: me,
            netuid,
            version,
            host,
        })
    }

    pub fn path(&self) -> &RunPath {
        &self.run
    }

    /// The run's config for these specs and this renter.
    pub fn config(&self, specs: &Value, allocated: Option<&str>) -> Map<String, Value> {
        let mut config = Map::new();
        config.insert("hotkey".into(), json!(self.hotkey));
        config.insert("role".into(), json!("miner"));
        config.insert("config".into(), json!({"netuid": self.netuid}));
        config.insert("version".into(), json!(self.version));
        config.insert("specs".into(), specs.clone());
        config.insert("allocated".into(), json!(allocated));
        config.insert("signature".into(), json!(self.signature));
        config
    }

    /// Writes `config` to the run (its whole config), then a heartbeat.
    pub async fn publish(&self, config: &Map<String, Value>) -> Result<(), WandbError> {
        self.client
            .upsert_run(&self.run, &display_name(&self.hotkey), config, &self.host)
            .await?;
        self.client.heartbeat(&self.run).await
    }

    pub async fn heartbeat(&self) -> Result<(), WandbError> {
        self.client.heartbeat(&self.run).await
    }

    /// The run's state as W&B lists it (`running`, `crashed`…), `None` when it has no run.
    pub async fn state(&self) -> Result<Option<String>, WandbError> {
        Ok(self.client.run(&self.run).await?.and_then(|r| r.state))
    }
}

/// `work`, unless shutdown comes first (then `None`).
async fn unless_stopped<T>(shutdown: &Shutdown, work: impl Future<Output = T>) -> Option<T> {
    tokio::select! {
        _ = shutdown.requested() => None,
        out = work => Some(out),
    }
}

/// Keeps the run while the miner runs: opened (retried until W&B answers), its config
/// written whenever the specs or the renter change, and a heartbeat every `heartbeat_secs`.
/// `renter` says who rents this miner (`Some(None)`: nobody; `None`: not known right now, the
/// last answer stands).
pub async fn keep_specs_run(
    config: WandbConfig,
    state_dir: PathBuf,
    hotkey: Keypair,
    netuid: u16,
    version: u32,
    renter: impl Fn() -> Option<Option<String>> + Send + 'static,
    shutdown: Shutdown,
) -> TaskResult {
    let pause = Duration::from_secs(config.heartbeat_secs.max(1));
    let mut backoff = Backoff::new(Duration::from_secs(5), Duration::from_secs(600));
    let failed = |backoff: &mut Backoff, what: &str, error: &dyn std::fmt::Display| {
        let retry = backoff.failed();
        if retry.report {
            tracing::warn!(error = %error, next_try = ?retry.delay,
                "W&B specs run: {what} failed (validators of SN27 v2.x score this miner 0 \
                 without the run)");
        }
        retry.delay
    };
    let run = loop {
        let opened = SpecsRun::open(&config, &state_dir, hotkey.clone(), netuid, version);
        let delay = match unless_stopped(&shutdown, opened).await {
            None => return Ok(()),
            Some(Ok(run)) => break run,
            Some(Err(e)) => failed(&mut backoff, "opening the run", &e),
        };
        if unless_stopped(&shutdown, tokio::time::sleep(delay))
            .await
            .is_none()
        {
            return Ok(());
        }
    };
    backoff.succeeded();
    let mut specs = Value::Null;
    let mut specs_read: Option<Instant> = None;
    let mut allocated: Option<String> = None;
    let mut sent: Option<Map<String, Value>> = None;
    loop {
        if specs_read.is_none_or(|at| at.elapsed() >= SPECS_REFRESH) {
            let previous = specs.clone();
            match tokio::task::spawn_blocking(move || host_specs(&previous)).await {
                Ok(read) => specs = read,
                Err(e) => {
                    tracing::warn!(error = %e, "reading the host's specs failed; the last stay")
                }
            }
            specs_read = Some(Instant::now());
        }
        if let Some(owner) = renter() {
            allocated = owner;
        }
        let wanted = run.config(&specs, allocated.as_deref());
        let first = sent.is_none();
        let work = async {
            if sent.as_ref() == Some(&wanted) {
                return run.heartbeat().await.map(|()| None);
            }
            run.publish(&wanted).await?;
            // Validators count only running runs: say so if W&B lists this one otherwise.
            let state = if first { run.state().await? } else { None };
            Ok(Some(state))
        };
        let delay = match unless_stopped(&shutdown, work).await {
            None => return Ok(()),
            Some(Ok(written)) => {
                if backoff.succeeded() > 0 {
                    tracing::info!(run = %run.path(), "W&B reachable again");
                }
                if let Some(state) = written {
                    match state.as_deref() {
                        Some("running") | None => {}
                        Some(other) => tracing::warn!(run = %run.path(), state = other,
                            "W&B lists the specs run as not running; validators count only \
                             running runs"),
                    }
                    tracing::info!(run = %run.path(),
                        "W&B specs run {}", if first { "published" } else { "updated" });
                    sent = Some(wanted);
                }
                pause
            }
            Some(Err(e)) => failed(&mut backoff, "writing the run", &e).min(pause),
        };
        if unless_stopped(&shutdown, tokio::time::sleep(delay))
            .await
            .is_none()
        {
            return Ok(());
        }
    }
}

/// The host and its GPUs in the layout of the reference's `get_perf_info`: `cpu`, `gpu`,
/// `hard_disk`, `ram`, `has_docker` (a miner runs only with Docker). Without a GPU, `gpu`
/// lists none. When the driver fails to answer, the `gpu` of `previous` stays: v2.2.1
/// validators release a rented miner whose published GPUs change. The reference's disk and
/// memory speed tests are not run.
pub fn host_specs(previous: &Value) -> Value {
    let gpu = match Inventory::read() {
        Ok(inventory) => gpu_specs(&inventory.gpus),
        Err(GpuUnavailable::NoDriver { .. } | GpuUnavailable::NoDevices) => gpu_specs(&[]),
        Err(e) => match previous.get("gpu") {
            Some(kept) => {
                tracing::warn!(error = %e, "reading the GPUs failed; the W&B run keeps the last read");
                kept.clone()
            }
            None => gpu_specs(&[]),
        },
    };
    json!({
        "cpu": cpu(),
        "gpu": gpu,
        "hard_disk": disk(Path::new("/")),
        "ram": ram(),
        "has_docker": true,
    })
}

/// `gpu` of the specs: count, memory in MiB (as GPUtil reports it) and each GPU's name.
fn gpu_specs(gpus: &[Gpu]) -> Value {
    let mib = |bytes: Option<u64>| bytes.map_or(0.0, |b| b as f64 / 1_048_576.0);
    let details: Vec<Value> = gpus
        .iter()
        .map(|g| json!({"name": g.name, "capacity": mib(g.memory_total_bytes)}))
        .collect();
    let capacity: f64 = gpus.iter().map(|g| mib(g.memory_total_bytes)).sum();
    json!({"count": gpus.len(), "capacity": capacity, "details": details})
}

/// Physical cores (distinct core ids per package) and the mean current frequency in MHz.
fn cpu() -> Value {
    let text = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let mut cores = std::collections::BTreeSet::new();
    let mut mhz = Vec::new();
    let (mut package, mut core) = (None, None);
    for line in text.lines().chain(std::iter::once("")) {
        let Some((key, value)) = line.split_once(':') else {
            // A blank line ends one logical CPU.
            if let (Some(p), Some(c)) = (package.take(), core.take()) {
                cores.insert((p, c));
            }
            continue;
        };
        let value = value.trim();
        match key.trim() {
            "physical id" => package = Some(value.to_string()),
            "core id" => core = Some(value.to_string()),
            "cpu MHz" => mhz.extend(value.parse::<f64>().ok()),
            _ => {}
        }
    }
    let count = if cores.is_empty() {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    } else {
        cores.len()
    };
    let frequency = if mhz.is_empty() {
        Value::Null
    } else {
        json!(mhz.iter().sum::<f64>() / mhz.len() as f64)
    };
    json!({"count": count, "frequency": frequency})
}

fn disk(path: &Path) -> Value {
    match nix::sys::statvfs::statvfs(path) {
        Ok(s) => {
            let unit = s.fragment_size();
            let total = s.blocks() * unit;
            let free = s.blocks_available() * unit;
            let used = total.saturating_sub(s.blocks_free() * unit);
            json!({"total": total, "free": free, "used": used})
        }
        Err(_) => json!({}),
    }
}

/// `/proc/meminfo` as psutil's `virtual_memory()` and `swap_memory()` read it, in bytes.
fn ram() -> Value {
    let text = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let field = |name: &str| -> u64 {
        text.lines()
            .find_map(|line| {
                let rest = line.strip_prefix(name)?.strip_prefix(':')?;
                rest.trim()
                    .trim_end_matches("kB")
                    .trim()
                    .parse::<u64>()
                    .ok()
            })
            .unwrap_or(0)
            * 1024
    };
    let total = field("MemTotal");
    let free = field("MemFree");
    let cached = field("Cached") + field("SReclaimable");
    let used = total.saturating_sub(free + field("Buffers") + cached);
    let swap_total = field("SwapTotal");
    let swap_free = field("SwapFree");
    json!({
        "total": total,
        "available": field("MemAvailable"),
        "used": used,
        "free": free,
        "swap_total": swap_total,
        "swap_used": swap_total.saturating_sub(swap_free),
        "swap_free": swap_free,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_host_specs_have_the_reference_layout() {
        let specs = host_specs(&Value::Null);
        for key in ["cpu", "gpu", "hard_disk", "ram", "has_docker"] {
            assert!(specs.get(key).is_some(), "{key} in {specs}");
        }
        assert!(specs["cpu"]["count"].as_u64().unwrap() >= 1);
        assert!(specs["ram"]["total"].as_u64().unwrap() > 0);
        assert!(specs["hard_disk"]["total"].as_u64().unwrap() > 0);
        // Without a GPU the list is empty, not missing.
        assert_eq!(specs["gpu"]["count"], json!(gpus_here()));
    }

    fn gpus_here() -> usize {
        Inventory::read().map_or(0, |i| i.gpus.len())
    }
}
