//! `sn27 run` for the miner role: from configuration to a serving axon, and a clean stop.
//!
//! Order: registration check (an unregistered miner refuses to start and prints the command
//! that registers it) → Docker and the runtime image (built once, with progress) → journal
//! reconciliation → axon published on chain (skipped when unchanged) → the supervised tasks:
//! the axon, lease expiry and the metagraph resync, until SIGINT or SIGTERM (exit 0) or until
//! one of them stops (exit non-zero, so systemd restarts the miner). Containers outlive the
//! process: a restart reconciles them instead of killing rentals.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;

use super::journal::{Journal, Stage};
use super::policy::{CurrentPolicy, MinerAccessPolicy};
use super::{AllocationError, Allocations, Answer, EngineSettings};
use crate::axon::{Axon, Caller, Limits};
use crate::backoff::Backoff;
use crate::chain::{self, publish_axon, Chain, ServeOutcome};
use crate::config::{Config, ConfigSource};
use crate::docker::ContainerEngine;
use crate::instrument::{refresh_gpus, Instruments, MeteredChain};
use crate::keys::Keypair;
use crate::metagraph::SharedMetagraph;
use crate::protocol::{Allocate, AllocateOutput, Challenge, Synapse};
use crate::report::Report;
use crate::service::metrics::Metrics;
use crate::service::{Shutdown, Supervisor, TaskResult};

/// How often the metagraph behind the access checks is read again.
pub const METAGRAPH_RESYNC: Duration = Duration::from_secs(120);
/// Time the tasks get to finish their work after a stop signal.
const DRAIN: Duration = Duration::from_secs(15);

/// Options of `sn27 run` that are not configuration.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// See [`EngineSettings::crash_at`].
    pub crash_at: Option<Stage>,
    /// Where the configuration came from, read again on SIGHUP.
    pub source: ConfigSource,
}

/// Keys a reload applies while the miner runs; any other change waits for a restart.
const RELOADABLE: &[&str] = &[
    "log.filter",
    "miner.whitelist_not_enough_stake",
    "miner.min_validator_stake",
    "miner.min_validator_version",
    "miner.whitelist_updated_threshold",
    "miner.whitelist_not_updated",
    "miner.hotkey_whitelist",
    "miner.hotkey_blacklist",
    "miner.coldkey_whitelist",
    "miner.coldkey_blacklist",
];

/// Runs the miner until a stop signal.
pub async fn run(config: Config, hotkey: Keypair, options: RunOptions) -> anyhow::Result<()> {
    let netuid = config.chain.netuid;
    let metrics = Metrics::new("miner", env!("CARGO_PKG_VERSION"));
    let instruments = Instruments::new(metrics.clone());
    let chain = MeteredChain::wrap(
        chain::connect_retrying(&config.chain.network, &config.devnet_path()).await?,
        metrics.clone(),
    );
    crate::registration::ensure_registered(chain.as_ref(), &config, &hotkey).await?;
    if let Some(refusal) = crate::doctor::refuse_to_start(&config).await {
        anyhow::bail!("{refusal}");
    }
    let metagraph = chain.metagraph(netuid).await?;
    let axon_info = crate::registration::axon_to_publish(&config.axon)?;

    let docker = ContainerEngine::connect().await?;
    let base = &config.miner.container.base_image;
    tracing::info!(%base, "preparing the container runtime image");
    let image = docker
        .ensure_runtime_image(base, |line| tracing::info!(target: "sn27::build", "{line}"))
        .await?;
    tracing::info!(%image, "container runtime image ready");
    let allocations = Allocations::new(
        docker,
        Journal::new(&config.state_dir),
        EngineSettings {
            image,
            policy: config.miner.container.clone(),
            ssh_port: config.miner.ssh_port,
            user_ports: crate::config::USER_PORTS_INSIDE
                .into_iter()
                .zip(config.miner.user_ports.iter().copied())
                .collect(),
            version: config.axon.version,
            miner: hotkey.ss58(),
            crash_at: options.crash_at,
        },
    )
    .await?;
    let report = allocations.reconcile().await?;
    tracing::info!(?report, "allocations reconciled with Docker");

    match publish_axon(chain.as_ref(), &hotkey, netuid, axon_info).await? {
        ServeOutcome::Unchanged => tracing::info!(axon = %axon_info, "axon already on chain"),
        ServeOutcome::Served { block } => {
            tracing::info!(axon = %axon_info, block, "axon published on chain")
        }
    }

    let shared = Arc::new(SharedMetagraph::new(metagraph.snapshot()));
    let policy = Arc::new(CurrentPolicy::new(MinerAccessPolicy::new(
        &config.miner,
        shared.clone(),
    )?));
    let engine = allocations.clone();
    let counted = instruments.clone();
    let axon = Axon::new(hotkey.public(), policy.clone(), Limits::default())
        .observe(instruments.clone())
        .attach(move |mut synapse: Synapse<Allocate>, caller: Caller| {
            let (engine, instruments) = (engine.clone(), counted.clone());
            async move {
                let caller = caller.hotkey.to_ss58();
                let result = engine.answer(&synapse.fields, &caller).await;
                let answer = output(result, engine.ssh_port(), &caller, &instruments);
                synapse.fields.output = answer.to_json();
                synapse
            }
        })
        .attach(|synapse: Synapse<Challenge>, _caller: Caller| async move { synapse });

    let address = SocketAddr::from(([0, 0, 0, 0], config.axon.port));
    let listener = tokio::net::TcpListener::bind(address)
        .await
        .with_context(|| format!("binding the axon to {address}"))?;
    tracing::info!(%address, hotkey = %hotkey.public(), netuid, "miner serving");

    let mut supervisor = Supervisor::new(DRAIN);
    let shutdown = supervisor.shutdown();
    let heartbeat = supervisor.heartbeat("lease expiry", Duration::from_secs(30));
    let running = Arc::new(std::sync::Mutex::new(config.clone()));
    let reload_metagraph = shared.clone();
    supervisor.on_reload(move || {
        let (source, running, policy, shared) = (
            options.source.clone(),
            running.clone(),
            policy.clone(),
            reload_metagraph.clone(),
        );
        Box::pin(async move {
            let loaded = tokio::task::spawn_blocking(move || crate::config::load(&source))
                .await
                .map_err(|e| e.to_string())?
                .map_err(|e| e.to_string())?;
            let new = loaded.config;
            let mut current = running.lock().unwrap_or_else(|e| e.into_inner());
            let changed = current.changed_keys(&new);
            let (live, later): (Vec<&String>, Vec<&String>) = changed
                .iter()
                .partition(|key| RELOADABLE.iter().any(|r| key.starts_with(r)));
            if changed.iter().any(|k| k.starts_with("miner.")) {
                policy.replace(
                    MinerAccessPolicy::new(&new.miner, shared.clone())
                        .map_err(|e| e.to_string())?,
                );
            }
            if current.log.filter != new.log.filter {
                crate::logging::set_filter(&new.log.filter)?;
            }
            for key in &later {
                tracing::warn!(key = %key, "changed in the file, but applies only after a restart");
            }
            let applied: Vec<&str> = live.iter().map(|k| k.as_str()).collect();
            let mut kept = current.clone();
            kept.miner.whitelist_not_enough_stake = new.miner.whitelist_not_enough_stake;
            kept.miner.min_validator_stake = new.miner.min_validator_stake;
            kept.miner.min_validator_version = new.miner.min_validator_version;
            kept.miner.whitelist_updated_threshold = new.miner.whitelist_updated_threshold;
            kept.miner.whitelist_not_updated = new.miner.whitelist_not_updated;
            kept.miner.hotkey_whitelist = new.miner.hotkey_whitelist.clone();
            kept.miner.hotkey_blacklist = new.miner.hotkey_blacklist.clone();
            kept.miner.coldkey_whitelist = new.miner.coldkey_whitelist.clone();
            kept.miner.coldkey_blacklist = new.miner.coldkey_blacklist.clone();
            kept.log.filter = new.log.filter.clone();
            *current = kept;
            Ok(if applied.is_empty() {
                "nothing that applies while running changed".to_string()
            } else {
                format!("applied {}", applied.join(", "))
            })
        })
    });
    supervisor.spawn("axon", {
        let shutdown = shutdown.clone();
        async move {
            Arc::new(axon)
                .serve(listener, async move { shutdown.requested().await })
                .await
                .map_err(|e| format!("serving: {e}"))
        }
    });
    supervisor.spawn(
        "lease expiry",
        allocations.clone().run_expiry(shutdown.clone(), heartbeat),
    );
    if let Some(listen) = config.metrics.listen {
        let (engine, gauges) = (allocations.clone(), allocations.clone());
        let started = std::time::Instant::now();
        let (me, axon_address) = (hotkey.ss58(), axon_info.to_string());
        let status: crate::service::metrics::StatusFn = Arc::new(move || {
            let live = engine.live_summary();
            serde_json::json!({
                "role": "miner",
                "hotkey": me,
                "netuid": netuid,
                "axon": axon_address,
                "uptime_secs": started.elapsed().as_secs(),
                "allocations": live,
            })
        });
        supervisor.spawn(
            "metrics",
            crate::service::metrics::serve(
                crate::service::metrics::bind(listen)
                    .await
                    .map_err(anyhow::Error::msg)?,
                metrics.clone(),
                status,
                // The gauges are read when scraped, not kept up to date on every request.
                Arc::new(move |metrics: &Metrics| {
                    refresh_gpus(metrics);
                    if let Some(live) = gauges.live_by_kind() {
                        for (kind, count) in live {
                            metrics.set_allocations(kind, count);
                        }
                    }
                }),
                shutdown.clone(),
            ),
        );
    }
    if config.wandb.enabled {
        supervisor.spawn(
            "w&b specs run",
            super::wandb_run::keep_specs_run(
                config.wandb.clone(),
                config.state_dir.clone(),
                hotkey.clone(),
                netuid,
                config.axon.version,
                {
                    let allocations = allocations.clone();
                    move || allocations.rental_owner()
                },
                shutdown.clone(),
            ),
        );
    }
    supervisor.spawn(
        "metagraph resync",
        resync_metagraph(chain.clone(), netuid, shared, shutdown),
    );
    let status = format!(
        "miner {} serving on {address} (netuid {netuid})",
        hotkey.public()
    );
    supervisor.run(&status).await?;
    tracing::info!("stopped; containers keep running and are reconciled at the next start");
    Ok(())
}

/// The `output` of an `Allocate` answer: `status` (and `info`) from the engine, `port` always
/// (`sn27-protocol.md` §3.1). A refusal is counted and reported here with its reason (at most
/// once a minute per caller and reason); the caller only learns `status: false`.
pub fn output(
    result: Result<Answer, AllocationError>,
    port: u16,
    caller: &str,
    instruments: &Instruments,
) -> AllocateOutput {
    let mut output = match result {
        Ok(Answer::Available(free)) => AllocateOutput::status(free),
        Ok(Answer::Owned(owned)) => AllocateOutput::status(owned),
        Ok(Answer::ActionDone | Answer::Released) => AllocateOutput::status(true),
        Ok(Answer::Allocated { info, host_key }) => AllocateOutput {
            info: Some(info),
            host_key_fingerprint: Some(host_key),
            ..AllocateOutput::status(true)
        },
        Err(error) => {
            let reason = match &error {
                AllocationError::RateLimited => Some("allocate: rate limit"),
                AllocationError::Invalid(_) => Some("allocate: invalid request"),
                AllocationError::Busy { .. } => Some("allocate: busy"),
                AllocationError::NotOwner => Some("allocate: not the owner"),
                AllocationError::Resources(_) => Some("allocate: resources"),
                _ => None,
            };
            match reason {
                Some(reason) => instruments.refused(caller, reason, &error.to_string()),
                None => {
                    instruments.metrics.refusal("allocate: failed");
                    tracing::warn!(%caller, error = %Report(&error), "Allocate failed")
                }
            }
            AllocateOutput::status(false)
        }
    };
    output.port = Some(port);
    output
}

/// Reads the metagraph again every [`METAGRAPH_RESYNC`]; a failed read keeps the last one and
/// retries with backoff (logged once, not at every attempt).
async fn resync_metagraph(
    chain: Arc<dyn Chain>,
    netuid: u16,
    shared: Arc<SharedMetagraph>,
    shutdown: Shutdown,
) -> TaskResult {
    let mut backoff = Backoff::new(Duration::from_secs(5), METAGRAPH_RESYNC);
    let mut wait = METAGRAPH_RESYNC;
    loop {
        tokio::select! {
            _ = shutdown.requested() => return Ok(()),
            _ = tokio::time::sleep(wait) => {}
        }
        match chain.metagraph(netuid).await {
            Ok(metagraph) => {
                shared.replace(metagraph.snapshot());
                let failures = backoff.succeeded();
                if failures > 0 {
                    tracing::info!(failures, "metagraph resync works again");
                }
                wait = METAGRAPH_RESYNC;
            }
            Err(e) => {
                let retry = backoff.failed();
                if retry.report {
                    tracing::warn!(error = %Report(&e), failures = retry.failures, next_try = ?retry.delay,
                        "metagraph resync failed; keeping the last one");
                }
                wait = retry.delay;
            }
        }
    }
}
