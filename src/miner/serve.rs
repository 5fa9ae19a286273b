//! `sn27 run` for the miner role: from configuration to a serving axon, and a clean stop.
//!
//! Order: registration check (an unregistered miner refuses to start and prints the command
//! that registers it) → Docker and the runtime image (built once, with progress) → journal
//! reconciliation → axon published on chain (skipped when unchanged) → axon served, metagraph
//! resynced for the access checks, leases expired — until SIGINT or SIGTERM. Containers outlive
//! the process: a restart reconciles them instead of killing rentals.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::sync::watch;

use super::journal::Journal;
use super::Allocations;
use crate::axon::{Axon, Caller, Limits, MinerAccessPolicy};
use crate::chain::{self, publish_axon, AxonInfo, Chain, ServeOutcome};
use crate::config::Config;
use crate::docker::ContainerEngine;
use crate::metagraph::SharedMetagraph;
use crate::protocol::{Allocate, Challenge, Synapse};
use crate::wallet::Keypair;

/// How often the metagraph behind the access checks is read again.
pub const METAGRAPH_RESYNC: Duration = Duration::from_secs(120);

/// Runs the miner until a stop signal.
pub async fn run(config: Config, hotkey: Keypair) -> anyhow::Result<()> {
    let netuid = config.chain.netuid;
    let chain = chain::connect(&config).await?;
    let metagraph = chain.metagraph(netuid).await?;
    if !metagraph
        .neurons
        .iter()
        .any(|n| n.hotkey == hotkey.public())
    {
        anyhow::bail!(
            "hotkey {} is not registered on netuid {netuid}; register it first with \
             `sn27 register` (it burns the registration cost from the wallet's coldkey)",
            hotkey.public()
        );
    }
    let external_ip = config
        .axon
        .external_ip
        .context("set [axon] external_ip to the address validators reach this miner at")?;

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
        image,
        config.miner.container.clone(),
        config.miner.ssh_port,
        hotkey.ss58(),
    )
    .await?;
    let report = allocations.reconcile().await?;
    tracing::info!(?report, "allocations reconciled with Docker");

    let axon_info = AxonInfo::for_address(
        external_ip,
        config.axon.external_port.unwrap_or(config.axon.port),
        config.axon.version,
    );
    match publish_axon(chain.as_ref(), &hotkey, netuid, axon_info).await? {
        ServeOutcome::Unchanged => tracing::info!(axon = %axon_info, "axon already on chain"),
        ServeOutcome::Served { block } => {
            tracing::info!(axon = %axon_info, block, "axon published on chain")
        }
    }

    let shared = Arc::new(SharedMetagraph::new(metagraph.snapshot()));
    let policy = Arc::new(MinerAccessPolicy::new(&config.miner, shared.clone())?);
    let engine = allocations.clone();
    let axon = Axon::new(hotkey.public(), policy, Limits::default())
        .attach(move |mut synapse: Synapse<Allocate>, caller: Caller| {
            let engine = engine.clone();
            async move {
                synapse.fields.output = engine
                    .answer(&synapse.fields, &caller.hotkey.to_ss58())
                    .await;
                synapse
            }
        })
        .attach(|synapse: Synapse<Challenge>, _caller: Caller| async move { synapse });

    let address = SocketAddr::from(([0, 0, 0, 0], config.axon.port));
    let listener = tokio::net::TcpListener::bind(address)
        .await
        .with_context(|| format!("binding the axon to {address}"))?;
    tracing::info!(%address, hotkey = %hotkey.public(), netuid, "miner serving");

    let (stop_tx, stop_rx) = watch::channel(false);
    let stopped = |mut rx: watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|stop| *stop).await;
    };
    let serving = tokio::spawn(Arc::new(axon).serve(listener, stopped(stop_rx.clone())));
    let expiry = tokio::spawn(allocations.clone().run_expiry(stopped(stop_rx.clone())));
    let resync = tokio::spawn(resync_metagraph(
        chain.clone(),
        netuid,
        shared,
        stopped(stop_rx.clone()),
    ));

    let signal = stop_signal().await;
    tracing::info!(%signal, "stopping; containers keep running and are reconciled at the next start");
    let _ = stop_tx.send(true);
    let _ = serving.await;
    let _ = expiry.await;
    let _ = resync.await;
    Ok(())
}

async fn resync_metagraph(
    chain: Arc<dyn Chain>,
    netuid: u16,
    shared: Arc<SharedMetagraph>,
    shutdown: impl std::future::Future<Output = ()>,
) {
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => return,
            _ = tokio::time::sleep(METAGRAPH_RESYNC) => {
                match chain.metagraph(netuid).await {
                    Ok(metagraph) => shared.replace(metagraph.snapshot()),
                    Err(e) => tracing::warn!(error = %e, "metagraph resync failed; keeping the last one"),
                }
            }
        }
    }
}

/// Waits for SIGINT or SIGTERM and names it.
async fn stop_signal() -> &'static str {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(term) => term,
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
            return "SIGINT";
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => "SIGINT",
        _ = term.recv() => "SIGTERM",
    }
}
