//! `sn27 run` for the validator role: Proof-of-GPU rounds and weights, as supervised tasks.
//!
//! Start: the hotkey must be registered (else the `sn27 register` command is printed); the
//! state of earlier runs is loaded. Then two tasks share it until SIGINT/SIGTERM:
//! - rounds: one every `[validator.pog] interval_blocks` (the first at start), after a random
//!   delay; each tests the queryable miners this validator does not rent, and ends before the
//!   next is due, so rounds never overlap;
//! - weights: whenever `weights_interval_blocks` have passed (and the chain's rate limit
//!   allows), the score table is recomputed and set — directly, as hash commit-reveal or
//!   timelocked, as the subnet requires — and due hash reveals are sent.
//!
//! A task that stops stops the service with an error (systemd restarts it).

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use rand::Rng;
use tokio::sync::Mutex;

use super::live_config::{self, LiveConfig};
use super::proof_of_gpu::PogSettings;
use super::renting::RentalStore;
use super::reveal::{reveal_due, submit_weights, RevealStore, WeightsOutcome};
use super::round::{run_round, RoundContext};
use super::scoring::{score_table, ScoreTable};
use super::selection::{select, SelectionRules};
use super::state::{StateFile, ValidatorState};
use crate::backoff::Backoff;
use crate::chain::{self, Chain, Metagraph};
use crate::config::{Config, ConfigSource, ValidatorConfig, WeightsRule};
use crate::dendrite::Dendrite;
use crate::instrument::MeteredChain;
use crate::keys::{Keypair, PublicKey};
use crate::report::Report;
use crate::service::metrics::Metrics;
use crate::service::{Heartbeat, ReloadResult, Shutdown, Supervisor, TaskResult};

/// Time the tasks get to finish after a stop signal (a round's releases among them).
const DRAIN: Duration = Duration::from_secs(20);

/// What both tasks share.
struct Validator {
    chain: Arc<dyn Chain>,
    metrics: Arc<Metrics>,
    /// The configuration file's; a reload (SIGHUP) replaces the parts that apply live.
    config: std::sync::RwLock<Config>,
    /// The live configuration followed over the file's (`[validator] live_config_url`), as
    /// last read and accepted, with the configuration it makes over the file (made again at
    /// every reload). Lock order: this, then `config`; never the other way.
    live: std::sync::Mutex<Option<(LiveConfig, Config)>>,
    /// Wakes the live configuration's follower when a reload changes its address or pace.
    live_changed: tokio::sync::Notify,
    hotkey: Keypair,
    state: Arc<Mutex<ValidatorState>>,
    file: StateFile,
    block_time: Duration,
}

/// The selection rules `[validator]` describes.
pub fn selection_rules(config: &ValidatorConfig) -> anyhow::Result<SelectionRules> {
    let keys = |list: &[String]| -> anyhow::Result<HashSet<PublicKey>> {
        list.iter()
            .map(|a| PublicKey::from_ss58(a).map_err(anyhow::Error::from))
            .collect()
    };
    Ok(SelectionRules {
        min_miner_version: config.min_miner_version,
        updated_threshold: config.whitelist_updated_threshold,
        one_uid_per_ip: config.one_uid_per_ip,
        hotkey_blacklist: keys(&config.hotkey_blacklist)?,
        coldkey_blacklist: keys(&config.coldkey_blacklist)?,
    })
}

/// Hotkeys of the miners this validator rents (and so does not test).
pub fn rented_hotkeys(state_dir: &std::path::Path) -> HashSet<String> {
    match RentalStore::new(state_dir).list() {
        Ok(rentals) => rentals
            .into_iter()
            .filter(|r| !r.pending)
            .map(|r| r.miner_hotkey)
            .collect(),
        Err(e) => {
            tracing::warn!(error = %e, "reading this validator's rentals; treating none as rented");
            HashSet::new()
        }
    }
}

/// Keys a reload applies while the validator runs (they are read afresh for every round and
/// every weights setting); any other change waits for a restart.
const RELOADABLE: &[&str] = &["log.filter", "validator.", "scoring.", "wandb."];

/// Publishes the prometheus info at start; a failure is logged and the validator runs on.
async fn publish_prometheus(chain: &dyn Chain, config: &Config, hotkey: &Keypair) {
    let info = match crate::registration::prometheus_to_publish(config) {
        Ok(info) => info,
        Err(e) => {
            tracing::warn!(error = %format!("{e:#}"),
                "prometheus info not published (miners of SN27 v2.1+ may refuse this validator)");
            return;
        }
    };
    match chain::publish_prometheus(chain, hotkey, config.chain.netuid, info).await {
        Ok(outcome) => tracing::info!(prometheus = %info, ?outcome, "prometheus info published"),
        Err(e) => tracing::warn!(error = %Report(&e), prometheus = %info,
            "prometheus info not published (miners of SN27 v2.1+ may refuse this validator)"),
    }
}

/// The subnet owner's hotkey when the weights are capped (it receives the remainder), else
/// `None` without asking the chain.
pub async fn owner_if_capped(
    chain: &dyn Chain,
    config: &Config,
) -> Result<Option<PublicKey>, chain::ChainError> {
    match config.scoring.weights {
        WeightsRule::CappedByGpu => chain.subnet_owner_hotkey(config.chain.netuid).await,
        WeightsRule::Proportional => Ok(None),
    }
}

/// `state` scored over `metagraph` as weights would be set now: the selection by `rules`,
/// this validator's rentals, and the subnet owner when weights are capped. The service and
/// `sn27 scores` both call this.
pub async fn score_now(
    chain: &dyn Chain,
    config: &Config,
    rules: &SelectionRules,
    metagraph: &Metagraph,
    me: &PublicKey,
    state: &ValidatorState,
) -> anyhow::Result<ScoreTable> {
    let selection = select(metagraph, me, rules);
    let rented = rented_hotkeys(&config.state_dir);
    let owner = owner_if_capped(chain, config).await?;
    Ok(score_table(
        metagraph,
        &selection,
        state,
        &rented,
        &config.scoring,
        owner.as_ref(),
    )?)
}

/// Runs the validator until a stop signal.
pub async fn run(config: Config, hotkey: Keypair, source: ConfigSource) -> anyhow::Result<()> {
    let netuid = config.chain.netuid;
    let metrics = Metrics::new("validator", env!("CARGO_PKG_VERSION"));
    // A service waits for its node (with backoff, the cause logged) instead of failing fast.
    let chain = MeteredChain::wrap(
        chain::connect_retrying(&config.chain.network, &config.devnet_path()).await?,
        metrics.clone(),
    );
    crate::registration::ensure_registered(chain.as_ref(), &config, &hotkey).await?;
    if let Some(refusal) = crate::doctor::refuse_to_start(&config).await {
        anyhow::bail!("{refusal}");
    }
    selection_rules(&config.validator)?;
    publish_prometheus(chain.as_ref(), &config, &hotkey).await;
    let status = chain.status().await?;
    let file = StateFile::new(&config.state_dir);
    let mut loaded = {
        let file = file.clone();
        tokio::task::spawn_blocking(move || file.load()).await??
    };
    // A round cut short by a stop or a crash is over: what it found counts.
    loaded.round_in_progress = false;
    // W&B inputs count only while they are read.
    if !config.wandb.enabled {
        loaded.wandb = None;
    }
    tracing::info!(hotkey = %hotkey.public(), netuid, miners = loaded.miners.len(),
        last_round = ?loaded.last_round_block, "validator starting");
    let listen = config.metrics.listen;
    let validator = Arc::new(Validator {
        chain,
        metrics: metrics.clone(),
        block_time: Duration::from_millis(status.block_time_ms.max(1)),
        hotkey,
        state: Arc::new(Mutex::new(loaded)),
        file,
        config: std::sync::RwLock::new(config),
        live: std::sync::Mutex::new(None),
        live_changed: tokio::sync::Notify::new(),
    });
    let mut supervisor = Supervisor::new(DRAIN);
    let shutdown = supervisor.shutdown();
    let heartbeat = supervisor.heartbeat(
        "weights",
        validator.poll_interval() * 4 + Duration::from_secs(150),
    );
    let reloading = validator.clone();
    supervisor.on_reload(move || {
        let (validator, source) = (reloading.clone(), source.clone());
        Box::pin(async move { validator.reload(source).await })
    });
    supervisor.spawn(
        "proof-of-gpu rounds",
        validator.clone().rounds(shutdown.clone()),
    );
    supervisor.spawn(
        "live configuration",
        validator.clone().follow_live_config(shutdown.clone()),
    );
    supervisor.spawn(
        "w&b inputs",
        validator.clone().follow_wandb(shutdown.clone()),
    );
    if let Some(listen) = listen {
        let watched = validator.clone();
        let started = std::time::Instant::now();
        let status: crate::service::metrics::StatusFn = Arc::new(move || {
            let state = watched.state.try_lock().ok();
            serde_json::json!({
                "role": "validator",
                "hotkey": watched.hotkey.ss58(),
                "netuid": watched.config().chain.netuid,
                "uptime_secs": started.elapsed().as_secs(),
                "last_round_block": state.as_ref().and_then(|s| s.last_round_block),
                "round_running": state.as_ref().map(|s| s.round_in_progress),
                "last_weights_block": state.as_ref().and_then(|s| s.last_weights_block),
                "miners_with_results": state.as_ref().map(|s| s.miners.len()),
                "live_config": watched.live_source(),
            })
        });
        supervisor.spawn(
            "metrics",
            crate::service::metrics::serve(
                crate::service::metrics::bind(listen)
                    .await
                    .map_err(anyhow::Error::msg)?,
                metrics,
                status,
                Arc::new(|_: &Metrics| {}),
                shutdown.clone(),
            ),
        );
    }
    supervisor.spawn("weights", validator.clone().weights(shutdown, heartbeat));
    let status = format!("validator {} on netuid {netuid}", validator.hotkey.public());
    supervisor.run(&status).await?;
    tracing::info!("validator stopped");
    Ok(())
}

impl Validator {
    /// The configuration in force: the file's, with the live configuration over it when one
    /// is followed.
    fn config(&self) -> Config {
        match self.live.lock().unwrap_or_else(|e| e.into_inner()).as_ref() {
            Some((_, config)) => config.clone(),
            None => self.file_config(),
        }
    }

    fn file_config(&self) -> Config {
        self.config
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Where the configuration in force comes from, for `sn27 status`.
    fn live_source(&self) -> Option<String> {
        let followed = self
            .live
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_some();
        let url = self.file_config().validator.live_config_url;
        url.map(|url| {
            if followed {
                format!("{url} (followed)")
            } else {
                format!("{url} (not followed: not read yet, or refused; the file's values apply)")
            }
        })
    }

    /// Reads `[validator] live_config_url` every `live_config_interval_secs` and follows
    /// what it says; a failure keeps the previous values and is logged when it changes.
    async fn follow_live_config(self: Arc<Self>, shutdown: Shutdown) -> TaskResult {
        let mut last_failure: Option<String> = None;
        loop {
            let file = self.file_config();
            let pause = Duration::from_secs(file.validator.live_config_interval_secs.max(1));
            if let Some(url) = &file.validator.live_config_url {
                match self.take_live_config(url).await {
                    Ok(()) => last_failure = None,
                    Err(reason) => {
                        if last_failure.as_ref() != Some(&reason) {
                            tracing::warn!(%url, %reason,
                                "live configuration not taken; the previous values stay");
                        } else {
                            tracing::debug!(%url, %reason, "live configuration not taken");
                        }
                        last_failure = Some(reason);
                    }
                }
            }
            tokio::select! {
                _ = shutdown.requested() => return Ok(()),
                _ = tokio::time::sleep(pause) => {}
                _ = self.live_changed.notified() => last_failure = None,
            }
        }
    }

    /// Reads the W&B inputs every `[wandb] read_interval_blocks` while `[wandb] enabled`; a
    /// failed read keeps what the last good one said and is logged when its cause changes.
    async fn follow_wandb(self: Arc<Self>, shutdown: Shutdown) -> TaskResult {
        let mut last_failure: Option<String> = None;
        let mut was_enabled = false;
        loop {
            let config = self.file_config();
            if config.wandb.enabled {
                let read = tokio::select! {
                    _ = shutdown.requested() => return Ok(()),
                    read = self.read_wandb(&config) => read,
                };
                match read {
                    Ok(summary) => {
                        if last_failure.take().is_some() || !was_enabled {
                            tracing::info!(%summary, "W&B inputs read");
                        } else {
                            tracing::debug!(%summary, "W&B inputs read");
                        }
                    }
                    Err(reason) => {
                        if last_failure.as_ref() != Some(&reason) {
                            tracing::warn!(%reason,
                                "W&B inputs not (all) read; the last values read stay");
                        }
                        last_failure = Some(reason);
                    }
                }
            } else if was_enabled {
                // Turned off by a reload: its inputs no longer count.
                self.state.lock().await.wandb = None;
                self.save().await;
            }
            was_enabled = config.wandb.enabled;
            // While off, a reload that turns it on is noticed within half a minute.
            let pause = if config.wandb.enabled {
                self.block_time * config.wandb.read_interval_blocks.max(1)
            } else {
                Duration::from_secs(30)
            };
            if !self.pause(pause, &shutdown).await {
                return Ok(());
            }
        }
    }

    /// One read of the miners' specs runs and the penalty list, kept in the state; what was
    /// found, or what failed.
    async fn read_wandb(&self, config: &Config) -> Result<String, String> {
        use super::wandb_inputs::{miner_runs, penalty_list};
        use crate::wandb::{RunPath, WandbClient};
        let w = &config.wandb;
        let key = w.api_key()?;
        let client = WandbClient::new(&w.base_url, &key).map_err(|e| e.to_string())?;
        let runs = miner_runs(&client, &w.entity, &w.project, config.chain.netuid).await;
        let penalty_run = RunPath {
            entity: w.entity.clone(),
            project: w.project.clone(),
            name: w.penalty_run.clone(),
        };
        let penalties = penalty_list(&client, &penalty_run, &w.penalty_hotkey).await;
        let block = self.chain.status().await.ok().map(|s| s.block);
        let mut errors = Vec::new();
        let mut found = Vec::new();
        {
            let mut state = self.state.lock().await;
            let inputs = state.wandb.get_or_insert_with(Default::default);
            inputs.last_read_block = block.or(inputs.last_read_block);
            match runs {
                Ok(runs) => {
                    found.push(format!(
                        "{} of {} running miner runs signed and with specs",
                        runs.iter().filter(|r| r.accepted()).count(),
                        runs.len()
                    ));
                    inputs.record_specs(&runs);
                }
                Err(e) => errors.push(format!("miner runs: {e}")),
            }
            match penalties {
                Ok(list) => {
                    found.push(format!("{} hotkeys on the penalty list", list.len()));
                    inputs.penalized = Some(list);
                }
                Err(e) => errors.push(format!("penalty list: {e}")),
            }
            inputs.last_error = (!errors.is_empty()).then(|| errors.join("; "));
        }
        self.save().await;
        if errors.is_empty() {
            Ok(found.join(", "))
        } else {
            Err(errors.join("; "))
        }
    }

    /// One read of the live configuration: accepted when it makes a valid configuration over
    /// the file, with what it changed logged.
    async fn take_live_config(&self, url: &str) -> Result<(), String> {
        let live = live_config::fetch(url).await.map_err(|e| e.to_string())?;
        let before = self.config();
        let (new, first) = {
            // The file as it is now, under the lock a reload takes to re-apply this.
            let mut slot = self.live.lock().unwrap_or_else(|e| e.into_inner());
            let new = live.apply(&self.file_config()).map_err(|e| e.to_string())?;
            let first = slot.is_none();
            *slot = Some((live.clone(), new.clone()));
            (new, first)
        };
        let changed = before.changed_keys(&new);
        if first {
            tracing::info!(%url, changed = ?changed, unused = ?live.unused,
                "live configuration followed");
        } else if !changed.is_empty() {
            tracing::info!(%url, changed = ?changed, "live configuration changed");
        }
        Ok(())
    }

    /// Reads the file again and applies what can change while running.
    async fn reload(&self, source: ConfigSource) -> ReloadResult {
        let loaded = tokio::task::spawn_blocking(move || crate::config::load(&source))
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| e.to_string())?;
        let new = loaded.config;
        selection_rules(&new.validator).map_err(|e| e.to_string())?;
        let mut current = self.config.write().unwrap_or_else(|e| e.into_inner());
        let changed = current.changed_keys(&new);
        let (live, later): (Vec<&String>, Vec<&String>) = changed
            .iter()
            .partition(|key| RELOADABLE.iter().any(|r| key.starts_with(r)));
        for key in &later {
            tracing::warn!(key = %key, "changed in the file, but applies only after a restart");
        }
        if current.log.filter != new.log.filter {
            crate::logging::set_filter(&new.log.filter)?;
        }
        let source_changed = current.validator.live_config_url != new.validator.live_config_url
            || current.validator.live_config_interval_secs
                != new.validator.live_config_interval_secs;
        current.log = new.log.clone();
        current.validator = new.validator.clone();
        current.scoring = new.scoring.clone();
        current.wandb = new.wandb.clone();
        let file = current.clone();
        drop(current);
        let mut followed = self.live.lock().unwrap_or_else(|e| e.into_inner());
        if source_changed {
            // Another address (or none) or pace: the file's values until it is read.
            if followed.take().is_some() {
                tracing::info!("live configuration no longer followed; the file's values apply");
            }
            self.live_changed.notify_one();
        } else if let Some((live, _)) = followed.take() {
            match live.apply(&file) {
                Ok(config) => *followed = Some((live, config)),
                Err(e) => tracing::warn!(reason = %e,
                    "the live configuration does not fit the reloaded file; the file's values apply until the next read"),
            }
        }
        drop(followed);
        Ok(if live.is_empty() {
            "nothing that applies while running changed".to_string()
        } else {
            format!(
                "applied {}",
                live.iter()
                    .map(|k| k.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        })
    }

    async fn save(&self) {
        let snapshot = self.state.lock().await.clone();
        let file = self.file.clone();
        match tokio::task::spawn_blocking(move || file.save(&snapshot)).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::error!(error = %e, "saving the validator state"),
            Err(e) => tracing::error!(error = %e, "saving the validator state"),
        }
    }

    /// Waits `duration` unless shutdown comes first (then `false`).
    async fn pause(&self, duration: Duration, shutdown: &Shutdown) -> bool {
        tokio::select! {
            _ = shutdown.requested() => false,
            _ = tokio::time::sleep(duration) => true,
        }
    }

    fn poll_interval(&self) -> Duration {
        self.block_time
            .clamp(Duration::from_millis(200), Duration::from_secs(12))
    }

    /// The metagraph, with the state made to follow it (replaced and departed hotkeys lose
    /// their history).
    async fn metagraph(&self) -> Result<Metagraph, chain::ChainError> {
        let netuid = self.config().chain.netuid;
        let metagraph = self.chain.metagraph(netuid).await?;
        let registered: Vec<(u16, String)> = metagraph
            .neurons
            .iter()
            .map(|n| (n.uid, n.hotkey.to_ss58()))
            .collect();
        let dropped = self.state.lock().await.follow_metagraph(&registered);
        if !dropped.is_empty() {
            tracing::info!(
                ?dropped,
                "forgot the history of hotkeys that left or were replaced"
            );
            self.save().await;
        }
        Ok(metagraph)
    }

    /// The round loop.
    async fn rounds(self: Arc<Self>, shutdown: Shutdown) -> TaskResult {
        let dendrite = Dendrite::new(self.hotkey.clone());
        let mut backoff = Backoff::new(Duration::from_secs(5), Duration::from_secs(120));
        loop {
            let block = match self.chain.status().await {
                Ok(status) => status.block,
                Err(e) => {
                    let retry = backoff.failed();
                    if retry.report {
                        tracing::warn!(error = %Report(&e), "reading the chain's block; retrying");
                    }
                    if !self.pause(retry.delay, &shutdown).await {
                        return Ok(());
                    }
                    continue;
                }
            };
            let config = self.config();
            let pog = &config.validator.pog;
            let interval = u64::from(pog.interval_blocks.max(1));
            let last = self.state.lock().await.last_round_block;
            let due = last.map_or(block, |b| b.saturating_add(interval));
            if block < due {
                let wait = self.block_time * (due - block).min(u32::MAX as u64) as u32;
                if !self
                    .pause(wait.min(Duration::from_secs(60)), &shutdown)
                    .await
                {
                    return Ok(());
                }
                continue;
            }
            let delay = rand::thread_rng().gen_range(0..=pog.max_random_delay_secs);
            if delay > 0 {
                tracing::info!(
                    delay_secs = delay,
                    "a Proof-of-GPU round starts after a random delay"
                );
                if !self.pause(Duration::from_secs(delay), &shutdown).await {
                    return Ok(());
                }
            }
            let metagraph = match self.metagraph().await {
                Ok(m) => m,
                Err(e) => {
                    let retry = backoff.failed();
                    if retry.report {
                        tracing::warn!(error = %Report(&e), "reading the metagraph; retrying");
                    }
                    if !self.pause(retry.delay, &shutdown).await {
                        return Ok(());
                    }
                    continue;
                }
            };
            backoff.succeeded();
            let rules = selection_rules(&config.validator).map_err(|e| e.to_string())?;
            let context = Arc::new(RoundContext {
                dendrite: dendrite.clone(),
                settings: PogSettings::from_config(pog, &config.scoring),
                base_image: pog.base_image.clone(),
                check_availability: pog.check_availability,
                attempt_timeout: Duration::from_secs(pog.attempt_timeout_secs.max(1)),
                retry_limit: pog.retry_limit,
                retry_interval: Duration::from_secs(pog.retry_interval_secs),
                concurrency: pog.concurrency.max(1) as usize,
                keep: config.scoring.history.max(1) as usize,
                health_check: config.scoring.health_check,
                metrics: self.metrics.clone(),
            });
            let selection = select(&metagraph, &self.hotkey.public(), &rules);
            let rented = rented_hotkeys(&config.state_dir);
            let miners: Vec<_> = selection
                .queryable
                .iter()
                .filter(|c| !rented.contains(&c.hotkey.to_ss58()))
                .cloned()
                .collect();
            {
                let mut state = self.state.lock().await;
                state.last_round_block = Some(metagraph.block);
                state.round_in_progress = true;
            }
            self.save().await;
            // The round ends before the next one is due.
            let length = self.block_time * interval.min(u32::MAX as u64) as u32;
            let deadline = tokio::time::Instant::now() + length.saturating_sub(self.block_time);
            tracing::info!(
                block = metagraph.block,
                miners = miners.len(),
                rented = rented.len(),
                excluded = selection.excluded.len(),
                "Proof-of-GPU round started"
            );
            let (passed, tested) = run_round(
                context.clone(),
                miners,
                self.state.clone(),
                self.file.clone(),
                metagraph.block,
                deadline,
                shutdown.clone(),
            )
            .await;
            if shutdown.is_requested() {
                return Ok(());
            }
            self.state.lock().await.round_in_progress = false;
            self.save().await;
            self.metrics.pog_round();
            tracing::info!(passed, tested, "Proof-of-GPU round finished");
        }
    }

    /// The weights loop; each pass beats `heartbeat`, which the systemd watchdog watches.
    async fn weights(self: Arc<Self>, shutdown: Shutdown, heartbeat: Heartbeat) -> TaskResult {
        let config = self.config();
        let store = RevealStore::new(
            config
                .state_dir
                .join("validator")
                .join("pending-reveals.json"),
        );
        // The longest pause stays well inside the heartbeat's period.
        let mut backoff = Backoff::new(self.poll_interval(), Duration::from_secs(120));
        let mut wait = Duration::ZERO;
        loop {
            heartbeat.beat();
            if !self.pause(wait, &shutdown).await {
                return Ok(());
            }
            wait = self.poll_interval();
            let config = self.config();
            let interval = u64::from(config.validator.weights_interval_blocks.max(1));
            let rules = match selection_rules(&config.validator) {
                Ok(rules) => rules,
                Err(e) => return Err(e.to_string()),
            };
            match reveal_due(self.chain.as_ref(), &store, &self.hotkey).await {
                Ok(0) => {}
                Ok(revealed) => tracing::info!(revealed, "committed weights revealed"),
                Err(e) => tracing::warn!(error = %Report(&e), "revealing committed weights"),
            }
            let block = match self.chain.status().await {
                Ok(status) => status.block,
                Err(_) => continue,
            };
            let last = self.state.lock().await.last_weights_block;
            if last.is_some_and(|last| block < last.saturating_add(interval)) {
                continue;
            }
            match self.set_weights(&config, &rules, &store).await {
                Ok(Some(outcome)) => {
                    backoff.succeeded();
                    self.metrics.weights(match &outcome {
                        WeightsOutcome::Set => "set",
                        WeightsOutcome::Committed { .. } => "committed",
                        _ => "timelocked",
                    });
                    tracing::info!(block, ?outcome, "weights sent");
                    self.state.lock().await.last_weights_block = Some(block);
                    self.save().await;
                }
                Ok(None) => {}
                Err(reason) => {
                    self.metrics.weights("error");
                    let retry = backoff.failed();
                    if retry.report {
                        tracing::warn!(%reason, next_try = ?retry.delay, "setting weights failed");
                    }
                    wait = retry.delay;
                }
            }
        }
    }

    /// Computes the score table and sends its weights; `None` when there is nothing to send.
    async fn set_weights(
        &self,
        config: &Config,
        rules: &SelectionRules,
        store: &RevealStore,
    ) -> Result<Option<WeightsOutcome>, String> {
        let netuid = config.chain.netuid;
        let metagraph = self.metagraph().await.map_err(|e| e.to_string())?;
        // As the SDK does: only try once the chain's rate limit has passed since this
        // validator's last update.
        let hyperparameters = self
            .chain
            .hyperparameters(netuid)
            .await
            .map_err(|e| e.to_string())?;
        let me = self.hotkey.public();
        if let Some(own) = metagraph.neurons.iter().find(|n| n.hotkey == me) {
            let since = metagraph.block.saturating_sub(own.last_update);
            if own.last_update != 0 && since <= hyperparameters.weights_rate_limit {
                tracing::debug!(
                    since,
                    limit = hyperparameters.weights_rate_limit,
                    "the chain's weights rate limit has not passed yet"
                );
                return Ok(None);
            }
        }
        // A copy, so that the state stays unlocked while the chain is asked for the owner.
        let state = self.state.lock().await.clone();
        let table = score_now(self.chain.as_ref(), config, rules, &metagraph, &me, &state)
            .await
            .map_err(|e| format!("{e:#}"))?;
        let Some((dests, values)) = table.weights() else {
            return Err(table.blocked.unwrap_or_default());
        };
        if dests.is_empty() {
            tracing::debug!("no miner has a score yet; no weights to set");
            return Ok(None);
        }
        submit_weights(
            self.chain.as_ref(),
            store,
            &self.hotkey,
            netuid,
            &dests,
            &values,
            u64::from(config.validator.version),
        )
        .await
        .map(Some)
        .map_err(|e| Report(&e).to_string())
    }
}
